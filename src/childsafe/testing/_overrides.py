"""Policy overrides for one test, and a frozen clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import attrs

from childsafe._bands import AgeBand
from childsafe._config import ConfigDoc, ProblemCollector, rule_specs, structure
from childsafe._engine import Guard
from childsafe._policy import Policy, _apply_overrides, _Builder
from childsafe._time import zone

__all__ = ["FrozenClock", "overridden", "override_policy"]

_OVERRIDE_KEYS = ("bands", "unknown_age")


def override_policy(
    policy: Policy, fragment: Mapping[str, Any], *, source: str = "<override>"
) -> Policy:
    """``policy`` with a config fragment applied on top of it.

    The fragment is written like a config file's ``bands`` tables (and optionally
    ``unknown_age``) and follows the same rules: it may tighten anything and loosen a
    default down to the floor of ``policy``, never below it. Every problem is reported
    at once in a :class:`~childsafe.exceptions.ConfigurationError` naming ``source``.

    >>> from childsafe import load_policy
    >>> from childsafe.testing import override_policy
    >>> strict = override_policy(
    ...     load_policy(), {"bands": {"16_17": {"comments": {"default": "nobody"}}}}
    ... )
    >>> strict.rule("16_17", "comments").default
    'nobody'

    .. versionadded:: 0.1.0
    """
    problems = ProblemCollector(source)
    raw: object = fragment
    if not isinstance(raw, Mapping):
        problems.add("", f"expected a config fragment (a mapping), got {type(raw).__name__}")
        problems.raise_if_any()
    for key in fragment:
        if key not in _OVERRIDE_KEYS:
            problems.add(
                str(key),
                f"an override applies on top of the active policy and takes only "
                f"{', '.join(map(repr, _OVERRIDE_KEYS))}; set {key!r} in the policy's own "
                "config (e.g. the childsafe_policy marker)",
            )
    allowed = {k: v for k, v in fragment.items() if k in _OVERRIDE_KEYS}
    doc = structure(dict(allowed), ConfigDoc, problems, "") or ConfigDoc()
    builder = _Builder(problems, policy.citations)
    specs = rule_specs(doc.bands, problems)
    rules = _apply_overrides(policy.rules, specs, builder, f"config:{source}")
    unknown_age = policy.unknown_age
    if doc.unknown_age is not None:
        band = builder.band(doc.unknown_age, "unknown_age", allow_adult=False)
        unknown_age = band or unknown_age
    problems.raise_if_any()
    notes = dict(policy.notes)
    for band_name, settings in specs.items():
        for name, spec in settings.items():
            if spec.note:
                notes[AgeBand(band_name), name] = spec.note
    return attrs.evolve(policy, rules=rules, unknown_age=unknown_age, notes=notes)


@contextmanager
def overridden(
    guard: Guard, fragment: Mapping[str, Any], *, source: str = "<override>"
) -> Iterator[Policy]:
    """Reload ``guard`` with ``fragment`` applied (see :func:`override_policy`) for the
    ``with`` block, then restore the policy it had, even if the block raises.

    >>> from childsafe import Account, Guard
    >>> from childsafe.testing import overridden
    >>> guard = Guard()
    >>> teen = Account(id="t", band="16_17")
    >>> with overridden(guard, {"bands": {"16_17": {"comments": {"default": "nobody"}}}}):
    ...     guard.settings_for(teen).comments
    'nobody'
    >>> guard.settings_for(teen).comments
    'connections'

    .. versionadded:: 0.1.0
    """
    before = guard.policy
    policy = override_policy(before, fragment, source=source)
    guard.reload(policy)
    try:
        yield policy
    finally:
        guard.reload(before)


def _aware(value: dt.datetime | str) -> dt.datetime:
    when = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(
            f"a frozen clock needs a time-zone aware time, got naive {when.isoformat()}; "
            "add an offset such as '+00:00'"
        )
    return when


class FrozenClock:
    """A clock that stands still until moved: pass ``clock.now()`` (or the clock itself,
    as a ``Callable[[], datetime]``) wherever code takes the time, such as
    ``Guard.check("notify", ..., at=...)`` or ``NotificationGate.check(..., at=...)``.

    >>> from childsafe.testing import FrozenClock
    >>> clock = FrozenClock("2025-01-10T12:00:00+00:00")
    >>> clock.local("22:30", "Europe/London").isoformat()
    '2025-01-10T22:30:00+00:00'
    >>> clock.advance(minutes=45).isoformat()
    '2025-01-10T23:15:00+00:00'

    .. versionadded:: 0.1.0
    """

    DEFAULT = "2025-01-10T12:00:00+00:00"
    """Where a clock starts unless told: noon UTC on a winter weekday."""

    def __init__(self, at: dt.datetime | str = DEFAULT) -> None:
        self._now = _aware(at)

    def now(self) -> dt.datetime:
        """The frozen time (time-zone aware)."""
        return self._now

    def __call__(self) -> dt.datetime:
        return self._now

    def set(self, at: dt.datetime | str) -> dt.datetime:
        """Move the clock to ``at`` (an aware datetime or ISO 8601 text)."""
        self._now = _aware(at)
        return self._now

    def advance(self, **delta: float) -> dt.datetime:
        """Move the clock on by ``datetime.timedelta(**delta)``."""
        self._now += dt.timedelta(**delta)
        return self._now

    def local(self, time: str, tz: str = "UTC") -> dt.datetime:
        """Move the clock to ``time`` (``"HH:MM"``) on the current day in the time zone
        ``tz`` (an IANA name), as quiet hours are read."""
        try:
            hour, minute = (int(p) for p in time.split(":"))
            clock_time = dt.time(hour, minute)
        except ValueError:
            raise ValueError(f"expected a time of day 'HH:MM', got {time!r}") from None
        zone_info = zone(tz) if tz != "UTC" else dt.UTC
        day = self._now.astimezone(zone_info).date()
        self._now = dt.datetime.combine(day, clock_time, tzinfo=zone_info)
        return self._now

    def __repr__(self) -> str:
        return f"FrozenClock({self._now.isoformat()!r})"
