"""Routing by task name (Celery's ``task_routes``): ``App(routes={...})``.

A route maps a task-name pattern to a queue, or to ``{"queue": ..., "priority": ...}``.
Patterns are globs (``"reports.*"``, matched with :func:`fnmatch.fnmatchcase`) or compiled
regular expressions (``re.compile(...)``, matched in full); the first matching route, in
the mapping's order, wins. A route applies to tasks that do not set the option
themselves (``@app.task(queue=...)`` wins over a route) and a per-call ``queue=`` /
``priority=`` wins over both. Routes are resolved when a task is registered and, for names
enqueued without a registered task (``app.enqueue("name", ...)``), at enqueue.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from ._settings import check_name
from .errors import InvalidOption

ROUTE_KEYS = ("queue", "priority")

RouteTarget = str | Mapping[str, Any]
RouteTable = Mapping[str | re.Pattern[str], RouteTarget]
RoutesArg = RouteTable | Sequence[RouteTable]


@dataclass(frozen=True, slots=True)
class Route:
    pattern: str | re.Pattern[str]
    queue: str | None
    priority: int | None

    def matches(self, name: str) -> bool:
        if isinstance(self.pattern, re.Pattern):
            return self.pattern.fullmatch(name) is not None
        return fnmatchcase(name, self.pattern)


class Routes:
    """The compiled routes of an App; :meth:`lookup` gives the first match's options."""

    def __init__(self, routes: RoutesArg | None = None) -> None:
        self.routes: tuple[Route, ...] = tuple(self._compile(routes))

    def __bool__(self) -> bool:
        return bool(self.routes)

    def lookup(self, name: str) -> dict[str, Any]:
        """``{"queue": ..., "priority": ...}`` (only the keys the route sets), or ``{}``."""
        for route in self.routes:
            if route.matches(name):
                found: dict[str, Any] = {}
                if route.queue is not None:
                    found["queue"] = route.queue
                if route.priority is not None:
                    found["priority"] = route.priority
                return found
        return {}

    @staticmethod
    def _compile(routes: RoutesArg | None) -> list[Route]:
        from ._validate import check_priority

        if routes is None:
            return []
        tables = [routes] if isinstance(routes, Mapping) else list(routes)
        out: list[Route] = []
        for table in tables:
            if not isinstance(table, Mapping):
                raise InvalidOption(
                    "routes must be a mapping of task-name pattern to queue (or a list of "
                    f"such mappings); router functions are not supported, got {table!r}"
                )
            for pattern, target in table.items():
                if not isinstance(pattern, str | re.Pattern):
                    raise InvalidOption(f"route pattern must be a glob string or re.Pattern, got {pattern!r}")
                if isinstance(target, str):
                    out.append(Route(pattern, check_name(target, "queue"), None))
                    continue
                if not isinstance(target, Mapping):
                    raise InvalidOption(
                        f"route {pattern!r} must map to a queue name or to a dict with "
                        f"{' and/or '.join(ROUTE_KEYS)}, got {target!r}"
                    )
                unknown = sorted(set(target) - set(ROUTE_KEYS))
                if unknown:
                    raise InvalidOption(
                        f"route {pattern!r} has unknown key(s) {', '.join(unknown)}; valid: "
                        f"{', '.join(ROUTE_KEYS)} (exchanges and routing keys are Celery's: "
                        "a pgqueue queue is just a name)"
                    )
                queue = target.get("queue")
                priority = target.get("priority")
                out.append(Route(
                    pattern,
                    None if queue is None else check_name(queue, "queue"),
                    None if priority is None else check_priority(priority),
                ))
        return out
