"""Parsing the human units the CLI accepts: durations (``7d``) and rates (``10/s``)."""

from __future__ import annotations

import re
from datetime import timedelta

from .errors import InvalidOption

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*(?:\.\d+)?)\s*([smh])\s*$")


def parse_duration(text: str) -> timedelta:
    """``"30s"``, ``"5m"``, ``"2h"``, ``"7d"``, ``"1w"`` (a bare number is seconds).

    Raises InvalidOption for anything else.
    """
    match = _DURATION.match(text)
    if not match:
        raise InvalidOption(
            f"duration {text!r} is not understood; write a number and a unit, e.g. 30s, 5m, 7d"
        )
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2) or "s"])


def parse_rate(text: str) -> tuple[int, float]:
    """``"10/s"``, ``"600/m"``, ``"5/2s"`` -> (starts, period in seconds).

    Raises InvalidOption unless the count is an integer >= 1 and the period is > 0.
    """
    match = _RATE.match(text)
    if not match:
        raise InvalidOption(f"rate {text!r} is not understood; write N/s, N/m or N/h, e.g. 10/s")
    count = int(match.group(1))
    period = float(match.group(2) or 1) * _UNITS[match.group(3)]
    if count < 1 or period <= 0:
        raise InvalidOption(f"rate {text!r} must allow at least 1 start per period > 0")
    return count, period


def format_rate(count: int | None, period_s: float | None) -> str:
    """The inverse of :func:`parse_rate`, for display (``None`` when there is no limit)."""
    if count is None or period_s is None:
        return "-"
    for unit in ("h", "m", "s"):
        if period_s == _UNITS[unit]:
            return f"{count}/{unit}"
    return f"{count}/{period_s:g}s"
