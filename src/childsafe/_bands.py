from __future__ import annotations

import datetime as dt
import enum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from childsafe._parsing import shown
from childsafe.exceptions import InvalidAgeError

__all__ = ["AgeBand", "Assurance", "age_on"]

# Oldest age we accept; anything above is a data-entry error, not a person.
MAX_AGE = 130


class AgeBand(enum.StrEnum):
    """The age bands policies are written for.

    ``UNKNOWN`` is never looked up directly: the policy resolves it to a protective
    minor band (``under_13`` in the built-in baseline). That is how childsafe fails
    closed when an age is missing or cannot be trusted.
    """

    UNDER_13 = "under_13"
    AGE_13_15 = "13_15"
    AGE_16_17 = "16_17"
    ADULT = "adult"
    UNKNOWN = "unknown"

    @property
    def is_minor(self) -> bool:
        """True for every band but ``ADULT``; ``UNKNOWN`` counts as a minor."""
        return self is not AgeBand.ADULT

    @classmethod
    def parse(cls, value: str) -> AgeBand:
        """The band named ``value`` (``"13_15"``), with a clear error otherwise."""
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(repr(b.value) for b in cls)
            raise InvalidAgeError(f"unknown age band {value!r}; expected one of {names}") from None

    @classmethod
    def from_age(cls, age: int | None) -> AgeBand:
        """The band of someone ``age`` whole years old; ``None`` gives ``UNKNOWN``.

        >>> AgeBand.from_age(12), AgeBand.from_age(13), AgeBand.from_age(18)
        (<AgeBand.UNDER_13: 'under_13'>, <AgeBand.AGE_13_15: '13_15'>, <AgeBand.ADULT: 'adult'>)
        """
        if age is None:
            return cls.UNKNOWN
        if isinstance(age, bool) or not isinstance(age, int):
            raise InvalidAgeError(f"age must be a whole number of years, got {age!r}")
        if age < 0 or age > MAX_AGE:
            raise InvalidAgeError(f"age must be between 0 and {MAX_AGE}, got {shown(age)}")
        if age < 13:
            return cls.UNDER_13
        if age < 16:
            return cls.AGE_13_15
        if age < 18:
            return cls.AGE_16_17
        return cls.ADULT

    @classmethod
    def from_birth_date(
        cls,
        birth_date: dt.date | None,
        *,
        on: dt.date | dt.datetime,
        tz: str | dt.tzinfo | None = None,
    ) -> AgeBand:
        """The band on the reference date ``on`` of someone born on ``birth_date``.

        ``on`` is explicit so results never depend on the server clock. Pass a
        time-zone-aware datetime and the account's time zone ``tz`` to take the
        local calendar date there (a child turns 13 at midnight *where they live*).
        A birthday on 29 February is reached on 1 March in other years, the later
        (so more protective) of the two conventions in use.
        ``None`` gives ``UNKNOWN``.
        """
        if birth_date is None:
            return cls.UNKNOWN
        return cls.from_age(age_on(birth_date, on=on, tz=tz))


def _resolve_tz(tz: str | dt.tzinfo) -> dt.tzinfo:
    if isinstance(tz, dt.tzinfo):
        return tz
    given: object = tz  # callers may pass anything; say what is wrong
    if not isinstance(given, str):
        raise InvalidAgeError(
            f"tz must be an IANA name such as 'Europe/London' or a tzinfo, got {shown(given)}"
        )
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidAgeError(
            f"unknown time zone {shown(tz)}; use an IANA name such as 'Europe/London'"
        ) from None


def age_on(
    birth_date: dt.date,
    *,
    on: dt.date | dt.datetime,
    tz: str | dt.tzinfo | None = None,
) -> int:
    """Whole years between ``birth_date`` and the local date of ``on``.

    >>> import datetime as dt
    >>> age_on(dt.date(2012, 2, 29), on=dt.date(2025, 2, 28))
    12
    >>> age_on(dt.date(2012, 2, 29), on=dt.date(2025, 3, 1))
    13
    """
    if isinstance(birth_date, dt.datetime) or not isinstance(birth_date, dt.date):
        raise InvalidAgeError(f"birth date must be a datetime.date, got {birth_date!r}")
    if isinstance(on, dt.datetime):
        if on.tzinfo is None or on.utcoffset() is None:
            raise InvalidAgeError(
                "reference datetime must be time-zone aware (e.g. datetime.now(UTC)); "
                f"got naive {on.isoformat()}"
            )
        try:
            local = on.astimezone(_resolve_tz(tz)) if tz is not None else on
        except OverflowError:
            raise InvalidAgeError(
                f"reference datetime {on.isoformat()} has no local date in {tz}: it is "
                "outside the dates Python can represent"
            ) from None
        today = local.date()
    elif isinstance(on, dt.date):
        if tz is not None:
            raise InvalidAgeError("tz only applies when the reference is a datetime, not a date")
        today = on
    else:
        raise InvalidAgeError(f"reference must be a date or an aware datetime, got {on!r}")
    if birth_date > today:
        raise InvalidAgeError(f"birth date {birth_date.isoformat()} is after {today.isoformat()}")
    # A 29 February birthday counts as reached on 1 March in common years.
    birthday_passed = (today.month, today.day) >= (birth_date.month, birth_date.day)
    return today.year - birth_date.year - (0 if birthday_passed else 1)


class Assurance(enum.StrEnum):
    """How sure the platform is of an account's age, weakest first."""

    SELF_DECLARED = "self_declared"
    ESTIMATED = "estimated"
    VERIFIED = "verified"

    @property
    def rank(self) -> int:
        return _ASSURANCE_RANK[self]


_ASSURANCE_RANK = {Assurance.SELF_DECLARED: 0, Assurance.ESTIMATED: 1, Assurance.VERIFIED: 2}
