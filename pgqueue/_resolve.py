"""How a task's options are settled (its own, then a route by name, then the app-wide
defaults in Settings) and the built-in map task's body."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from ._compat import unknown_names
from ._options import EnqueueOptions, EnqueueOptionsDict, TaskOptions, checked_options
from ._routes import Routes
from ._settings import Settings, check_name
from ._validate import validate_task_options
from .errors import InvalidOption

if TYPE_CHECKING:
    from .task import Task

TASK_OPTION_NAMES = frozenset(f.name for f in fields(TaskOptions))
SETTING_NAMES = frozenset(f.name for f in fields(Settings))


def app_settings(settings: Settings | None, overrides: dict[str, Any]) -> Settings:
    """An App's settings from ``settings=`` or its keyword overrides (not both); raises
    InvalidOption naming an unknown setting (and the pgqueue name of a Celery one)."""
    if settings is not None and overrides:
        raise InvalidOption("pass either settings= or individual setting overrides, not both")
    unknown = set(overrides) - SETTING_NAMES
    if unknown:
        valid = SETTING_NAMES | {"dsn", "strict", "settings", "routes"}
        raise InvalidOption(unknown_names("App setting", unknown, valid))
    return settings or Settings(**overrides)


def enqueue_options(options: EnqueueOptionsDict) -> EnqueueOptions:
    """The per-call options of an enqueue by task name."""
    # Untyped callers (and **kwargs splats) can still pass any name: checked at run time.
    opts = EnqueueOptions(**checked_options(dict(options)))
    if opts.depends_on is not None:
        raise InvalidOption("depends_on needs the task object: task.configure(depends_on=...)")
    return opts


def task_defaults(settings: Settings) -> dict[str, Any]:
    """The app-wide defaults of the task options that have one (Settings.default_*)."""
    return {
        "max_attempts": settings.default_max_attempts,
        "timeout": settings.default_timeout,
        "store_result": settings.default_store_result,
        "backoff_base": settings.default_backoff_base,
        "backoff_max": settings.default_backoff_max,
        "backoff_jitter": settings.default_backoff_jitter,
    }


def for_function(
    fn: Callable[..., Any], options: dict[str, Any], routes: Routes, settings: Settings
) -> TaskOptions:
    """The options of ``@app.task(**options)`` on ``fn``; raises InvalidOption naming an
    unknown option (and its pgqueue equivalent for a Celery name)."""
    unknown = set(options) - TASK_OPTION_NAMES
    if unknown:
        raise InvalidOption(unknown_names("task option", unknown, TASK_OPTION_NAMES))
    # Functions defined inside functions have "<locals>" in their qualname, which is
    # not a valid task name; drop it (pass name= when two would collide).
    qualname = fn.__qualname__.replace("<locals>.", "")
    name = options.pop("name", None) or f"{fn.__module__}.{qualname}"
    # Precedence: the task's own option, then a route, then the app-wide default.
    route = routes.lookup(name)
    queue = options.pop("queue", None) or route.get("queue") or settings.default_queue
    if options.get("priority") is None:
        options["priority"] = route.get("priority", settings.default_priority)
    for key, default in task_defaults(settings).items():
        if options.get(key) is None:
            options[key] = default
    for key in ("retry_on", "discard_on", "tags"):
        if key in options:
            options[key] = tuple(options[key])
    opts = TaskOptions(name=check_name(name, "task"), queue=check_name(queue, "queue"), **options)
    validate_task_options(opts)
    return opts


def for_name(task_name: str, routes: Routes, settings: Settings) -> TaskOptions:
    """The options a job of a task this app does not register gets (enqueue by name)."""
    route = routes.lookup(task_name)
    return TaskOptions(
        name=check_name(task_name, "task"),
        queue=route.get("queue", settings.default_queue),
        priority=route.get("priority", settings.default_priority),
        **task_defaults(settings),
    )


def run_map(get_task: Callable[[str], Task[Any, Any]], task_name: str, calls: list[list[Any]]) -> list[Any]:
    """Call ``task_name`` once per argument list, in order, in this worker; the results.

    An exception ends the whole job (and its retry runs every call again), as in Celery.
    ``bind=True`` tasks are not supported here; ``async def`` tasks run on their own loop.
    """
    task = get_task(task_name)
    if task.options.bind:
        raise InvalidOption(
            f"task {task_name} takes a Context (bind=True): map/starmap/chunks cannot call it"
        )
    out: list[Any] = []
    for call in calls:
        value = task.fn(*call)
        if asyncio.iscoroutine(value):
            value = asyncio.run(value)
        out.append(value)
    return out
