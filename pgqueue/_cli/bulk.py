"""``pgqueue jobs retry|cancel|delete`` by id or by filter, and ``queues purge``.

By ids the action is immediate. By filter (``--queue --state --task --tag
--older-than``) the command counts the matching jobs, asks for confirmation unless
``--yes`` (and refuses without ``--yes`` when stdin is not a terminal), then works in
batches of short transactions with a progress bar on a terminal.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from .. import _admin
from .._admin.bulk import ACTIONS, delete_batch, run_bulk, states_for
from . import output
from .common import emit_json, open_app

HELP = {
    "retry": "Requeue dead or cancelled jobs to run now with their attempts reset (errors kept).",
    "cancel": "Cancel jobs: queued and waiting ones at once, running ones through their worker.",
    "delete": "Delete queued or finished jobs (never running or waiting ones).",
}
PAST = {"retry": "requeued", "cancel": "cancelled", "delete": "deleted"}


def job_filter(
    queue: str | None, state: str | None, task: str | None, tag: str | None, older_than: str | None
) -> _admin.JobFilter:
    """The filter options as a JobFilter (raises InvalidOption / InvalidName)."""
    age = _admin.parse_duration(older_than) if older_than is not None else None
    return _admin.JobFilter(queue=queue, state=state, task=task, tag=tag, older_than=age)


def confirm(prompt: str, yes: bool) -> None:
    """Go on when ``yes``; else ask on the terminal. Exit 2 without a terminal to ask on,
    exit 1 when the answer is no."""
    if yes:
        return
    if not sys.stdin.isatty():
        output.fail(f"{prompt} Add --yes to confirm (stdin is not a terminal).", 2)
    if not typer.confirm(prompt, default=False, err=True):
        output.fail("nothing changed", 1)


def register_action(jobs: typer.Typer, action: str) -> None:
    @jobs.command(action, help=HELP[action] + " By id, or every job matching the filters.")
    def command(
        ctx: typer.Context,
        ids: Annotated[list[int] | None, typer.Argument(help="Job ids.")] = None,
        queue: str | None = typer.Option(None, "--queue", help="Only jobs of this queue."),
        state: str | None = typer.Option(
            None, "--state", help=f"Only jobs in this state ({', '.join(ACTIONS[action])}; or scheduled)."
        ),
        task: str | None = typer.Option(None, "--task", help="Only jobs of this task."),
        tag: str | None = typer.Option(None, "--tag", help="Only jobs with this tag."),
        older_than: str | None = typer.Option(
            None, "--older-than", help="Only jobs finished (else created) longer ago, e.g. 7d."
        ),
        yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
        as_json: bool = typer.Option(False, "--json", help="JSON for scripts."),
    ) -> None:
        filters = (queue, state, task, tag, older_than)
        if not ids and all(f is None for f in filters):
            output.fail(f"give job ids, or filters (--queue --state --task --tag --older-than) to {action}",
                        2)
        if ids and any(f is not None for f in filters):
            output.fail("give either job ids or filters, not both", 2)
        if ids:
            by_ids(ctx, action, ids, as_json)
            return
        where = job_filter(*filters)
        states = states_for(action, where)
        by_filter(ctx, action, where, states, yes=yes, as_json=as_json, what=describe(where))


def describe(where: _admin.JobFilter) -> str:
    parts = [f"{k} {v}" for k, v in (("queue", where.queue), ("state", where.state),
             ("task", where.task), ("tag", where.tag)) if v is not None]  # fmt: skip
    if where.older_than is not None:
        parts.append(f"older than {where.older_than}")
    return ", ".join(parts)


def by_filter(
    ctx: typer.Context,
    action: str,
    where: _admin.JobFilter,
    states: list[str],
    *,
    yes: bool,
    as_json: bool,
    what: str,
) -> None:
    """Count, confirm, then run the bulk action with a progress bar; print the outcome."""
    with open_app(ctx) as pq:
        total = _admin.count_jobs(pq, where, states=states)
        if total == 0:
            result: dict[str, Any] = {"action": action, "matched": 0, "done": 0, "requested": 0, "skipped": 0}
        else:
            more = "+" if total >= _admin.jobs.COUNT_CAP else ""
            confirm(f"{action} {total:,}{more} jobs ({what})?", yes)
            with output.progress(f"{action} jobs", total) as advance:
                outcome = run_bulk(pq, action, where, progress=advance, only=states)
            result = {"matched": total, **outcome.as_dict()}
    if as_json:
        emit_json(result)
        return
    output.line(f"{PAST[action]} {result['done']:,} jobs ({what})")
    if result["requested"]:
        output.line(f"asked {result['requested']:,} running jobs to stop")
    if result["skipped"]:
        output.line(f"left {result['skipped']:,} jobs alone "
                    f"(their state changed, or they cannot be {PAST[action]})")


def by_ids(ctx: typer.Context, action: str, ids: list[int], as_json: bool) -> None:
    """The action on explicit ids; exit 1 when one of them was not acted on."""
    with open_app(ctx) as pq:
        if action == "cancel":
            outcome = _admin.cancel_jobs(pq, ids)
            if as_json:
                emit_json({"cancelled": outcome.cancelled, "requested": outcome.requested,
                           "unchanged": {str(k): v for k, v in outcome.unchanged.items()},
                           "missing": outcome.missing})  # fmt: skip
            else:
                output.line(f"cancelled: {_ids(outcome.cancelled)}")
                if outcome.requested:
                    output.line(f"asked to stop (running): {_ids(outcome.requested)}")
                for job_id, st in outcome.unchanged.items():
                    output.line(f"job {job_id} already {st}; left alone")
                if outcome.missing:
                    output.line(f"no such job: {_ids(outcome.missing)}", err=True)
            if outcome.missing:
                raise typer.Exit(1)
            return
        if action == "retry":
            done = _admin.retry_jobs(pq, ids)
            key = "requeued"
        else:
            with pq.pool.connection() as conn:
                done = delete_batch(conn, sorted(set(ids)))
            key = "deleted"
    skipped = sorted(set(ids) - set(done))
    if as_json:
        emit_json({key: done, "skipped": skipped})
    else:
        output.line(f"{key} {len(done)} jobs: {_ids(done)}")
        if skipped:
            why = ("missing or not finished" if action == "retry"
                   else "missing, running, waiting, or depended on")
            output.line(f"not {key} ({why}): {_ids(skipped)}", err=True)
    if skipped:
        raise typer.Exit(1)


def _ids(ids: list[int]) -> str:
    return ", ".join(map(str, ids)) or "none"
