"""Every Python code block in README.md and docs/ runs, so the docs cannot rot.

Per Markdown file, blocks fenced ```python run in order in one namespace (like a
doctest session) with PGQUEUE_DSN pointing at a fresh migrated database and the
working directory a temporary folder. A block fenced ```python skip is only
compiled (use it for snippets that need things a test cannot have, such as a web
framework's request object); keep those rare.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```python([^\n]*)\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _doc_files() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [f for f in files if f.exists() and FENCE.search(f.read_text())]


def blocks(path: Path) -> list[tuple[int, str, str]]:
    """(line number, fence info, code) for each python block in the file."""
    text = path.read_text()
    out = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        out.append((line, match.group(1).strip(), match.group(2)))
    return out


@pytest.mark.parametrize("path", _doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_doc_blocks_run(
    path: Path, dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGQUEUE_DSN", dsn)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    module_name = "docs_" + re.sub(r"\W", "_", path.stem)
    namespace: dict[str, object] = {"__name__": module_name}
    for line, info, code in blocks(path):
        compiled = compile(code, f"{path.name}:{line}", "exec")
        if info == "skip":
            continue
        exec(compiled, namespace)
    closer = namespace.get("app")
    if closer is not None and hasattr(closer, "close"):
        closer.close()
