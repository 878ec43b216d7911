"""Type-checked, never run: what mypy must accept and refuse in pgqueue's public API.

``tests/typing/test_mypy.py`` runs ``mypy --strict`` on this file. A line ending in
``# expect: CODE`` must get exactly that error; a line ending in ``# reveal: TYPE``
must reveal exactly that type; any other error fails the test.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import reveal_type

import pgqueue

app = pgqueue.App()


@app.task(queue="emails")
def send_welcome(user_id: int) -> dict[str, bool]:
    return {"sent": True}


@app.task
async def fetch(url: str) -> bytes:
    return b""


@app.task(bind=True)
def process(ctx: pgqueue.Context, document_id: int) -> int:
    return document_id


# --- configure(): options are a TypedDict ----------------------------------------------------
send_welcome.configure(priorty=5)  # expect: call-arg
send_welcome.configure(priority="high")  # expect: arg-type
send_welcome.configure(delay="soon")  # expect: arg-type
send_welcome.configure(tags=[1])  # expect: list-item
send_welcome.configure(on_dependency_failure="ignore")  # expect: arg-type
send_welcome.configure(queue="emails").configure(prio=1)  # expect: call-arg
configured = send_welcome.configure(
    conn=None,
    queue="emails",
    priority=pgqueue.HIGH,
    delay=timedelta(seconds=5),
    unique_key="welcome-1",
    max_attempts=3,
    tags=["signup"],
    serial_key="user-1",
    on_dependency_failure="run",
)
send_welcome.configure(delay=2.5, run_at=None, priority=None)
app.enqueue("emails.send", [1], priorty=5)  # expect: call-arg
app.enqueue("emails.send", [1], priority="high")  # expect: arg-type
app.enqueue_many("emails.send", [(1,)], queue=7)  # expect: arg-type
app.enqueue("emails.send", [1], queue="emails", priority=pgqueue.LOW, delay=3)

# --- Job[R]: the result is typed by the task's return ---------------------------------------
job = send_welcome.enqueue(1)
reveal_type(job)  # reveal: pgqueue.job.Job[dict[str, bool]]
reveal_type(job.result(timeout=1))  # reveal: dict[str, bool]
reveal_type(configured.enqueue(2).result())  # reveal: dict[str, bool]
wrong: int = job.result()  # expect: assignment
reveal_type(fetch.enqueue("https://example.com").result())  # reveal: bytes
reveal_type(process.enqueue(7).result())  # reveal: int
reveal_type(app.job(1).result())  # reveal: Any
send_welcome.configure(depends_on=[job, 42])
send_welcome.configure(depends_on=["job-1"])  # expect: list-item

# --- expiry and the Celery-style calls -------------------------------------------------------
send_welcome.configure(expires=60)
send_welcome.configure(expires=datetime.now(UTC)).configure(expires=timedelta(minutes=1))
send_welcome.configure(expires="soon")  # expect: arg-type
app.enqueue("emails.send", [1], expires=30.5)
reveal_type(send_welcome.delay(1))  # reveal: pgqueue.job.Job[dict[str, bool]]
send_welcome.delay("1")  # expect: arg-type
reveal_type(fetch.delay("https://example.com").get())  # reveal: bytes
reveal_type(send_welcome.apply_async((1,), countdown=5, expires=60))  # reveal: pgqueue.job.Job[Any]
send_welcome.apply_async((1,), countdown="soon")  # expect: arg-type
send_welcome.apply_async((1,), unique_key="k", tags=["a"], queue="emails", priority=pgqueue.HIGH)
send_welcome.apply_async((1,), priorty=1)  # expect: call-arg
reveal_type(job.ready())  # reveal: bool
reveal_type(job.get(timeout=1))  # reveal: dict[str, bool]
pgqueue.chain(send_welcome.s(1), send_welcome.si(2)).link_error(send_welcome.s())


async def main() -> None:
    fetched = await fetch.configure(priority=1).enqueue_async("https://example.com")
    reveal_type(fetched)  # reveal: pgqueue.job.Job[bytes]
    reveal_type(await fetched.result_async())  # reveal: bytes
    mail = await send_welcome.enqueue_async(3)
    reveal_type(await mail.result_async(timeout=5))  # reveal: dict[str, bool]
