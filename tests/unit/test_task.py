"""Tasks and enqueue-time checks that need no database.

Every check here runs before pgqueue opens a connection: the app points at a
port nothing listens on, so a check that let bad input through would fail the
test with a connection error instead of the documented one.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import pytest

import pgqueue
from pgqueue import _validate
from pgqueue.errors import InvalidName, InvalidOption, InvalidPayload, UnknownTask

NOWHERE = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1"


def make_app(**kwargs: Any) -> pgqueue.App:
    return pgqueue.App(dsn=NOWHERE, **kwargs)


def greet(name: str, punctuation: str = "!") -> str:
    return f"hello {name}{punctuation}"


def test_decorator_defaults() -> None:
    app = make_app()
    task = app.task(greet)
    assert task.name == f"{__name__}.greet"
    assert task.options.queue == "default"
    assert task.options.priority == pgqueue.NORMAL == 0
    assert (pgqueue.HIGH, pgqueue.LOW) == (10, -10)
    assert task.options.max_attempts == app.settings.default_max_attempts
    assert app.tasks[task.name] is task
    assert task("ada") == "hello ada!"  # a direct call runs in-process
    assert task.__doc__ == greet.__doc__ and task.__name__ == "greet"


def test_decorator_options_and_errors() -> None:
    app = make_app()

    @app.task(name="mail.send", queue="emails", priority=pgqueue.HIGH, max_attempts=2, timeout=30,
              unique_key=lambda to: f"mail:{to}", tags=["mail"])
    def send(to: str) -> None: ...

    assert (send.name, send.options.queue, send.options.priority) == ("mail.send", "emails", 10)
    assert send.options.tags == ("mail",)
    with pytest.raises(InvalidName):
        app.task(queue="bad queue")(greet)
    with pytest.raises(InvalidOption):
        app.task(name="p", priority=40_000)(greet)
    with pytest.raises(InvalidOption):
        app.task(name="u", unique_key="")(greet)
    with pytest.raises(InvalidOption, match="already registered"):
        app.task(name="mail.send")(greet)


def test_configure_checks_names_and_values_at_once() -> None:
    task = make_app().task(greet)
    with pytest.raises(InvalidOption, match="unknown enqueue option"):
        task.configure(prio=1)
    with pytest.raises(InvalidOption, match="priority"):
        task.configure(priority=2**15)
    with pytest.raises(InvalidOption, match="delay"):
        task.configure(delay=-0.5)
    with pytest.raises(InvalidOption, match="timezone-aware"):
        task.configure(run_at=datetime(2030, 1, 1))
    with pytest.raises(InvalidName):
        task.configure(queue="")
    configured = task.configure(queue="q1").configure(priority=3, delay=timedelta(seconds=5))
    assert (configured.options.queue, configured.options.priority) == ("q1", 3)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (({1},), {}, "JSON"),
        ((b"bytes",), {}, "JSON"),
        ((object(),), {}, "JSON"),
        ((math.nan,), {}, "JSON"),
        ((-math.inf,), {}, "JSON"),
        (("a\x00",), {}, "NUL"),
        (("\udc00",), {}, "surrogate"),
        (("x", "y", "z"), {}, "too many positional"),
        ((), {}, "missing a required argument"),
        (("x",), {"colour": 1}, "unexpected keyword"),
    ],
)
def test_bad_arguments_are_refused_before_connecting(
    args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    task = make_app().task(greet)
    with pytest.raises(InvalidPayload, match=message) as info:
        task.enqueue(*args, **kwargs)
    assert isinstance(info.value, TypeError) and isinstance(info.value, pgqueue.PgQueueError)


def test_circular_arguments_are_refused() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(InvalidPayload, match="circular"):
        make_app().task(greet).enqueue(loop)  # type: ignore[arg-type]


def test_payload_cap() -> None:
    task = make_app(max_payload_bytes=100).task(greet)
    with pytest.raises(pgqueue.PayloadTooLarge, match="100-byte cap") as info:
        task.enqueue("x" * 200)
    assert isinstance(info.value, ValueError)


def test_strict_app_refuses_unknown_names() -> None:
    app = make_app(strict=True)
    app.task(greet)
    with pytest.raises(UnknownTask, match="greet") as info:
        app.enqueue("nobody.knows")
    assert isinstance(info.value, LookupError)


def test_bad_enqueue_many_items() -> None:
    task = make_app().task(greet)
    for items, message in [
        (["just a string"], "tuple of positional arguments"),
        ([42], "tuple of positional arguments"),
        ("abc", "iterable of items"),
        ([("a", "b", "c")], "too many positional"),
        ([{"name": "x", "colour": 1}], "unexpected keyword"),
    ]:
        with pytest.raises(InvalidPayload, match=message):
            task.enqueue_many(items)  # type: ignore[arg-type]


def test_bind_tasks_are_checked_without_their_context_argument() -> None:
    def with_context(ctx: object, n: int) -> None: ...

    check = _validate.ArgsCheck(with_context, "t", skip_first=True)
    check((1,), {})
    with pytest.raises(InvalidPayload):
        check((object(), 1), {})


def test_encode_matches_what_jsonb_stores() -> None:
    assert _validate.encode((1, "é", {"a": None}, [True]), "x") == '[1,"\\u00e9",{"a":null},[true]]'
    assert _validate.encode({"emoji": "\U0001f600"}, "x") == '{"emoji":"\\ud83d\\ude00"}'  # a pair


def test_error_tree() -> None:
    for error, builtin in [
        (InvalidPayload, TypeError),
        (pgqueue.PayloadTooLarge, ValueError),
        (InvalidName, ValueError),
        (InvalidOption, ValueError),
        (UnknownTask, LookupError),
        (pgqueue.errors.UnsupportedConnection, TypeError),
    ]:
        assert issubclass(error, pgqueue.PgQueueError) and issubclass(error, builtin)
