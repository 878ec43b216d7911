"""App-wide task defaults, routing by task name, and errors that translate Celery's names
(issue 18 item 4). No database: all of it is decided before anything is written."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

import pgqueue
from pgqueue._compat import APP_SETTINGS, CALL_OPTIONS, TASK_OPTIONS
from pgqueue.errors import ConfigurationError, InvalidName, InvalidOption
from pgqueue.workflow import Signature, chain, chord, group


def test_app_wide_defaults_apply_to_tasks_that_do_not_set_them() -> None:
    app = pgqueue.App(
        default_timeout=30, default_store_result=False, default_max_attempts=3,
        default_backoff_base=60, default_backoff_max=600, default_backoff_jitter=0,
        default_priority=pgqueue.LOW,
    )

    @app.task
    def plain() -> None: ...

    @app.task(timeout=5, store_result=True, max_attempts=1, backoff_base=2, priority=pgqueue.HIGH)
    def own() -> None: ...

    o = plain.options
    assert (o.timeout, o.store_result, o.max_attempts, o.priority) == (30, False, 3, pgqueue.LOW)
    assert (o.backoff_base, o.backoff_max, o.backoff_jitter) == (60, 600, 0)
    o = own.options
    assert (o.timeout, o.store_result, o.max_attempts, o.priority, o.backoff_base) == (5, True, 1, 10, 2)
    # by name, without the task registered: the same defaults
    by_name = app._options_for_name("elsewhere.task")
    assert (by_name.timeout, by_name.store_result, by_name.priority) == (30, False, pgqueue.LOW)


def test_retention_settings_become_the_apps_retention() -> None:
    app = pgqueue.App(retention_succeeded_s=3600, retention_dead_s=None)
    r = app.retention
    assert (r.succeeded, r.dead, r.cancelled) == (timedelta(hours=1), None, timedelta(days=7))
    assert pgqueue.App().retention == type(r)()  # the defaults are the prune defaults


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("default_timeout", 0, "default_timeout must be > 0"),
        ("default_backoff_base", -1, "default_backoff_base must be a finite number"),
        ("default_backoff_jitter", 2, "default_backoff_jitter must be between 0 and 1"),
        ("default_store_result", "no", "default_store_result must be a bool"),
        ("default_priority", 40000, "default_priority must be between"),
        ("retention_dead_s", float("inf"), "retention_dead_s must be a finite number"),
    ],
)
def test_bad_defaults_name_the_setting(name: str, value: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        pgqueue.App(**{name: value})


def test_unknown_app_setting_lists_valid_names_and_the_celery_equivalent() -> None:
    with pytest.raises(InvalidOption) as err:
        pgqueue.App(task_default_retry_delay=60)
    text = str(err.value)
    assert "task_default_retry_delay is Celery's; use default_backoff_base" in text
    assert "valid: " in text and "default_timeout" in text and "routes" in text
    with pytest.raises(InvalidOption, match="result_expires is Celery's; use retention_succeeded_s"):
        pgqueue.App(result_expires=3600)
    with pytest.raises(InvalidOption, match="task_routes is Celery's; use App\\(routes="):
        pgqueue.App(task_routes={})
    with pytest.raises(InvalidOption, match=r"unknown App setting colour; valid: "):
        pgqueue.App(colour="blue")


def test_unknown_task_option_names_the_pgqueue_one() -> None:
    app = pgqueue.App()
    with pytest.raises(InvalidOption, match=r"max_retries is Celery's; use max_attempts \(= max_retries"):
        app.task(max_retries=3)(lambda: None)  # type: ignore[call-overload]
    with pytest.raises(InvalidOption, match="rate '10 per minute' is not understood"):
        app.task(name="limited", rate_limit="10 per minute")(lambda: None)
    assert app.task(name="limited", rate_limit="10/m")(lambda: None).options.rate_limit == "10/m"
    with pytest.raises(InvalidOption, match="valid: backoff, backoff_base"):
        app.task(colour="blue")(lambda: None)  # type: ignore[call-overload]


def test_routes_by_glob_and_regex_first_match_wins_task_and_call_override() -> None:
    app = pgqueue.App(
        routes={
            "reports.*": {"queue": "low", "priority": pgqueue.LOW},
            re.compile(r"emails\.(send|bounce)"): "emails",
            "*": {"priority": 1},
        }
    )

    @app.task(name="reports.daily")
    def daily() -> None: ...

    @app.task(name="reports.pinned", queue="pinned")
    def pinned() -> None: ...

    @app.task(name="emails.send")
    def send() -> None: ...

    @app.task(name="other")
    def other() -> None: ...

    assert (daily.options.queue, daily.options.priority) == ("low", pgqueue.LOW)
    assert (pinned.options.queue, pinned.options.priority) == ("pinned", pgqueue.LOW)
    assert (send.options.queue, send.options.priority) == ("emails", 0)
    assert (other.options.queue, other.options.priority) == ("default", 1)
    assert app._options_for_name("reports.weekly").queue == "low"
    assert app._options_for_name("emails.sendmore").queue == "default"  # regex matches in full
    from pgqueue._validate import resolve
    from pgqueue.task import EnqueueOptions

    assert resolve(daily.options, EnqueueOptions(queue="now", priority=5)).queue == "now"


@pytest.mark.parametrize(
    ("routes", "error", "message"),
    [
        ({"a.*": {"exchange": "x"}}, InvalidOption, "unknown key\\(s\\) exchange; valid: queue, priority"),
        ({"a.*": "bad queue!"}, InvalidName, "queue name"),
        ({"a.*": {"priority": 99999}}, InvalidOption, "priority must be between"),
        ([lambda *a: None], InvalidOption, "router functions are not supported"),
    ],
)
def test_bad_routes_are_refused(routes: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        pgqueue.App(routes=routes)  # type: ignore[arg-type]


def test_pipe_builds_chains_and_group_pipe_signature_a_chord() -> None:
    app = pgqueue.App()

    @app.task
    def a(x: int = 0) -> int:
        return x

    ab = a.s(1) | a.s()
    assert isinstance(ab, chain) and len(ab.steps) == 2
    abc = ab | a.s() | (a.s() | a.s())
    assert isinstance(abc, chain) and len(abc.steps) == 5
    assert all(isinstance(s, Signature) for s in abc.steps)
    fan = group(a.s(i) for i in range(3)) | a.s()
    assert isinstance(fan, chord) and len(fan.header.members) == 3
    # an element with callbacks stays one step, so its callbacks keep their meaning
    linked = a.s(1).link(a.s())
    assert (linked | a.s()).steps[0] is linked
    assert pgqueue.chord([a.s(1)], a.s(), on_dependency_failure="run").callback.options == {  # type: ignore[union-attr]
        "on_dependency_failure": "run"
    }


def test_map_and_chunks_build_runner_signatures() -> None:
    app = pgqueue.App()

    @app.task(queue="math", priority=3)
    def add(x: int, y: int = 0) -> int:
        return x + y

    m = add.map([1, 2])
    assert (m.task.name, m.args, m.immutable) == ("pgqueue.map", (add.name, [[1], [2]]), True)
    assert m.options == {"queue": "math", "priority": 3}
    assert add.starmap([(1, 2)]).args == (add.name, [[1, 2]])
    g = add.chunks([(i, i) for i in range(7)], 3)
    assert [len(member.args[1]) for member in g.members] == [3, 3, 1]


def test_every_celery_name_is_in_the_migration_guide() -> None:
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[2] / "docs" / "coming-from-celery.md").read_text()
    missing = [n for n in (*APP_SETTINGS, *TASK_OPTIONS, *CALL_OPTIONS) if f"`{n}`" not in guide]
    assert missing == []
