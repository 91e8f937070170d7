from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from childsafe._parsing import shown

__all__ = ["local_minute", "zone"]


@functools.lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The ``ZoneInfo`` for an IANA name, or ``ValueError`` naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {shown(name)}; use an IANA name such as 'Europe/London'"
        ) from None


def local_minute(at: dt.datetime, timezone: str | None) -> int:
    """Minutes after local midnight of the aware datetime ``at`` in ``timezone``."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"'at' must be time-zone aware, got naive {at.isoformat()}")
    try:
        local = at.astimezone(zone(timezone) if timezone else dt.UTC)
    except OverflowError:
        raise ValueError(
            f"'at' {at.isoformat()} has no local time in {timezone or 'UTC'}: it is outside "
            "the dates Python can represent"
        ) from None
    return local.hour * 60 + local.minute
