"""Task signatures reach the type checker: a wrong enqueue argument is a mypy error
(for ``bind=True`` tasks the Context parameter is not the caller's to pass)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SNIPPET = '''
import pgqueue

app = pgqueue.App()

@app.task(queue="emails")
def send_welcome(user_id: int, greeting: str = "hi") -> dict[str, bool]:
    return {"sent": True}

job: pgqueue.Job = send_welcome.enqueue(42, greeting="hello")
ok: dict[str, bool] = send_welcome(1)
send_welcome.enqueue("forty-two")                                    # line 12
send_welcome.configure(priority=pgqueue.HIGH).enqueue(1, greeting=2)  # line 13
send_welcome.enqueue(1, nope=True)                                   # line 14

async def main() -> None:
    await send_welcome.enqueue_async(user_id="x")                    # line 17

@app.task(bind=True)
def process(ctx: pgqueue.Context, document_id: int) -> None:
    ctx.progress(1, 2)

process.enqueue(7)                                                    # ctx is not the caller's
process.enqueue("seven")                                              # line 24
'''


def test_wrong_enqueue_arguments_are_type_errors(tmp_path: Path) -> None:
    path = tmp_path / "snippet.py"
    path.write_text(SNIPPET)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental",
         "--cache-dir", str(tmp_path / "cache"), str(path)],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[2],
    )
    lines = {int(line.split(":")[1]) for line in result.stdout.splitlines() if ": error:" in line}
    assert lines == {12, 13, 14, 17, 24}, result.stdout
