"""Checks for duration options: finite, positive (or not negative) and bounded.

An infinite leeway makes a token that expired in 1970 verify; an infinite timeout
overflows the HTTP client; a NaN TTL compares false with everything and silently turns
the TTL off. Every duration option goes through one of these checks, which return the
problem as text (for a :class:`~childsafe.exceptions.ConfigProblem`) or ``None``.
"""

from __future__ import annotations

import datetime as dt
import math

from childsafe._parsing import shown

__all__ = ["describe_timedelta", "seconds_problem", "timedelta_problem"]


def describe_timedelta(value: dt.timedelta) -> str:
    """``400 days`` or ``10 minutes`` rather than ``str()``'s ``400 days, 0:00:00``."""
    seconds = value.total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:g} seconds"


def _describe(maximum: float) -> str:
    if maximum >= 86400 and maximum % 86400 == 0:
        days = int(maximum // 86400)
        return f"{maximum:g} seconds ({days} day{'s' if days != 1 else ''})"
    return f"{maximum:g} seconds"


def seconds_problem(value: object, *, positive: bool, maximum: float) -> str | None:
    """Why ``value`` is not a number of seconds, finite, ``> 0`` (``positive``) or
    ``>= 0``, and at most ``maximum``; ``None`` when it is."""
    bound = "> 0" if positive else ">= 0"
    expected = f"expected a finite number of seconds {bound} and at most {_describe(maximum)}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{expected}, got {shown(value)}"
    try:
        number = float(value)
    except OverflowError:
        return f"{expected}, got {shown(value)}"
    if not math.isfinite(number) or not (number > 0 if positive else number >= 0):
        return f"{expected}, got {shown(value)}"
    if number > maximum:
        return f"{expected}, got {shown(value)}"
    return None


def timedelta_problem(value: object, *, positive: bool, maximum: dt.timedelta) -> str | None:
    """:func:`seconds_problem` for a :class:`datetime.timedelta`."""
    bound = "> 0" if positive else ">= 0"
    expected = f"expected a datetime.timedelta {bound} and at most {describe_timedelta(maximum)}"
    if not isinstance(value, dt.timedelta):
        return f"{expected}, got {shown(value)}"
    zero = dt.timedelta(0)
    if not (value > zero if positive else value >= zero) or value > maximum:
        return f"{expected}, got {value}"
    return None
