"""Age signals, how they combine, and how much assurance each band needs.

A *signal* is one statement about someone's age (a token's ``age_band`` claim, a
self-declared birth date, an app store's age range), reduced to the youngest band it
leaves plausible, with the assurance level of whoever made it. When several signals
disagree, the youngest band wins: :func:`combine_signals`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Final

import attrs

from childsafe._bands import MAX_AGE, AgeBand, Assurance, age_on
from childsafe._config import ProblemCollector, structure
from childsafe._parsing import ParseError, check_depth, shown
from childsafe.exceptions import ConfigProblem, ConfigurationError, InvalidAgeError

__all__ = ["AgeSignal", "AssurancePolicy", "band_rank", "combine_signals"]

_RANK: Final = {AgeBand.UNDER_13: 0, AgeBand.AGE_13_15: 1, AgeBand.AGE_16_17: 2, AgeBand.ADULT: 3}


def band_rank(band: AgeBand) -> int:
    """Known bands ordered youngest first (``under_13`` is 0, ``adult`` 3)."""
    return _RANK[band]


def as_band(value: object) -> object:
    try:
        return AgeBand(value)  # type: ignore[arg-type]
    except ValueError:
        return value  # the validator says what is wrong


def as_assurance(value: object) -> object:
    try:
        return Assurance(value)  # type: ignore[arg-type]
    except ValueError:
        return value


def _known_band(_: object, __: attrs.Attribute[AgeBand], value: object) -> None:
    if not isinstance(value, AgeBand) or value not in _RANK:
        names = ", ".join(repr(b.value) for b in _RANK)
        raise InvalidAgeError(f"a signal's band must be one of {names}, got {shown(value)}")


def _known_assurance(_: object, __: attrs.Attribute[Assurance], value: object) -> None:
    if not isinstance(value, Assurance):
        names = ", ".join(repr(a.value) for a in Assurance)
        raise InvalidAgeError(f"a signal's assurance must be one of {names}, got {shown(value)}")


def _check_age(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_AGE:
        raise InvalidAgeError(
            f"{what} must be a whole number of years 0-{MAX_AGE}, got {shown(value)}"
        )
    return value


@attrs.frozen(slots=True)
class AgeSignal:
    """One statement about an age: the youngest ``band`` it leaves plausible, how sure
    its maker is (``assurance``) and where it came from (``source``, e.g.
    ``"token:age_band"``, ``"self_declared"``, ``"app_store"``).

    >>> from childsafe.assurance import AgeSignal
    >>> AgeSignal.from_age_range(13, 17, source="app_store").band
    <AgeBand.AGE_13_15: '13_15'>

    .. versionadded:: 0.1.0
    """

    band: AgeBand = attrs.field(converter=as_band, validator=_known_band)
    assurance: Assurance = attrs.field(converter=as_assurance, validator=_known_assurance)
    source: str = attrs.field(validator=attrs.validators.instance_of(str))

    @classmethod
    def from_age(
        cls, age: int, *, assurance: Assurance = Assurance.SELF_DECLARED, source: str = "age"
    ) -> AgeSignal:
        """Someone ``age`` whole years old."""
        return cls(AgeBand.from_age(_check_age(age, "age")), assurance, source)

    @classmethod
    def from_birth_date(
        cls,
        birth_date: dt.date,
        *,
        on: dt.date | dt.datetime,
        tz: str | dt.tzinfo | None = None,
        assurance: Assurance = Assurance.SELF_DECLARED,
        source: str = "self_declared",
    ) -> AgeSignal:
        """Someone born on ``birth_date``, on the date ``on`` (see
        :meth:`childsafe.AgeBand.from_birth_date`); self-declared unless told otherwise."""
        return cls(AgeBand.from_age(age_on(birth_date, on=on, tz=tz)), assurance, source)

    @classmethod
    def from_age_range(
        cls,
        lower: int,
        upper: int | None = None,
        *,
        assurance: Assurance = Assurance.ESTIMATED,
        source: str = "app_store",
    ) -> AgeSignal:
        """Someone aged between ``lower`` and ``upper`` (inclusive; ``None``: no upper
        bound), the shape of app-store age-range signals. The youngest plausible age,
        ``lower``, sets the band. An estimate unless told otherwise."""
        _check_age(lower, "lower")
        if upper is not None and _check_age(upper, "upper") < lower:
            raise InvalidAgeError(f"an age range needs lower <= upper, got {lower}-{upper}")
        return cls(AgeBand.from_age(lower), assurance, source)


def combine_signals(*signals: AgeSignal) -> AgeSignal:
    """The signal that decides: the youngest band wins. Among signals giving that same
    band, the one with the highest assurance wins (two sources agreeing on a band make
    it as sure as the surer of them), then the first given.

    >>> import datetime as dt
    >>> from childsafe import Assurance
    >>> from childsafe.assurance import AgeSignal, combine_signals
    >>> token = AgeSignal(band="adult", assurance=Assurance.ESTIMATED, source="token:age_band")
    >>> declared = AgeSignal.from_birth_date(dt.date(2011, 5, 1), on=dt.date(2026, 1, 1))
    >>> winner = combine_signals(token, declared)
    >>> winner.band.value, winner.source
    ('13_15', 'self_declared')
    """
    if not signals:
        raise InvalidAgeError("combine_signals needs at least one signal")
    for i, signal in enumerate(signals):
        given: object = signal
        if not isinstance(given, AgeSignal):  # reading .band off it was an AttributeError
            raise InvalidAgeError(
                f"combine_signals takes AgeSignals; argument {i} is "
                f"{type(given).__name__} {shown(given)}"
            )
    return min(signals, key=lambda s: (_RANK[s.band], -s.assurance.rank))


# ----------------------------------------------------------------- assurance policy

_ADULT_FALLBACKS: Final = (AgeBand.UNKNOWN, AgeBand.UNDER_13, AgeBand.AGE_13_15, AgeBand.AGE_16_17)
_OLDER_TEEN_FALLBACKS: Final = (AgeBand.UNKNOWN, AgeBand.UNDER_13, AgeBand.AGE_13_15)


@attrs.frozen(slots=True)
class AssurancePolicy:
    """How sure the platform must be of an age before it treats someone as an adult or
    as 16-17.

    A signal for ``adult`` whose assurance is below ``min_assurance_adult`` is treated
    as ``fallback_adult``; one for ``16_17`` below ``min_assurance_16_17`` as
    ``fallback_16_17``. The fallbacks are minor bands, or ``unknown`` (the default),
    which the policy turns into its protective band for unknown ages: the verifier
    fails closed. Younger bands never need more assurance: believing someone is younger
    than they are only adds protection.

    >>> from childsafe import Assurance
    >>> from childsafe.assurance import AgeSignal, AssurancePolicy
    >>> policy = AssurancePolicy(min_assurance_adult="verified", fallback_adult="16_17")
    >>> policy.band_for(AgeSignal(band="adult", assurance=Assurance.ESTIMATED, source="t"))
    <AgeBand.AGE_16_17: '16_17'>

    .. versionadded:: 0.1.0
    """

    min_assurance_adult: Assurance = attrs.field(
        default=Assurance.ESTIMATED, converter=as_assurance
    )
    fallback_adult: AgeBand = attrs.field(default=AgeBand.UNKNOWN, converter=as_band)
    min_assurance_16_17: Assurance = attrs.field(
        default=Assurance.SELF_DECLARED, converter=as_assurance
    )
    fallback_16_17: AgeBand = attrs.field(default=AgeBand.UNKNOWN, converter=as_band)

    def __attrs_post_init__(self) -> None:
        problems: list[ConfigProblem] = []
        levels = ", ".join(repr(a.value) for a in Assurance)
        for name in ("min_assurance_adult", "min_assurance_16_17"):
            value = getattr(self, name)
            if not isinstance(value, Assurance):
                problems.append(
                    ConfigProblem(
                        "AssurancePolicy", name, f"expected one of {levels}, got {value!r}"
                    )
                )
        for name, allowed in (
            ("fallback_adult", _ADULT_FALLBACKS),
            ("fallback_16_17", _OLDER_TEEN_FALLBACKS),
        ):
            value = getattr(self, name)
            if value not in allowed:
                names = ", ".join(repr(b.value) for b in allowed)
                problems.append(
                    ConfigProblem(
                        "AssurancePolicy",
                        name,
                        f"expected a band younger than the one it stands in for ({names}), "
                        f"got {value!r}",
                    )
                )
        if problems:
            raise ConfigurationError(problems)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "<mapping>") -> AssurancePolicy:
        """The policy a config table describes (every problem reported at once)."""
        problems = ProblemCollector(source)
        try:
            check_depth(data)
        except ParseError as e:
            problems.add("", str(e))
            problems.raise_if_any()
        policy = assurance_policy_from(data, problems, "")
        problems.raise_if_any()
        assert policy is not None
        return policy

    def band_for(self, signal: AgeSignal) -> AgeBand:
        """The band to treat ``signal``'s person as, given its assurance."""
        return self.apply(signal.band, signal.assurance)

    def apply(self, band: AgeBand, assurance: Assurance) -> AgeBand:
        """The band to treat someone as who is said to be ``band`` with ``assurance``."""
        if band is AgeBand.ADULT and assurance.rank < self.min_assurance_adult.rank:
            band = self.fallback_adult
        if band is AgeBand.AGE_16_17 and assurance.rank < self.min_assurance_16_17.rank:
            band = self.fallback_16_17
        return band


@attrs.define
class _AssuranceDoc:
    min_assurance_adult: str | None = None
    fallback_adult: str | None = None
    min_assurance_16_17: str | None = None
    fallback_16_17: str | None = None


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def rebase(problems: ProblemCollector, path: str, error: ConfigurationError) -> None:
    """Add ``error``'s problems to ``problems`` under ``path``."""
    for p in error.problems:
        problems.add(_join(path, p.path) if p.path else path, p.message)


def assurance_policy_from(
    data: object, problems: ProblemCollector, path: str
) -> AssurancePolicy | None:
    """The assurance policy in a config table, or ``None`` with its problems added."""
    doc = structure(data, _AssuranceDoc, problems, path)
    if doc is None:
        return None
    given = {k: v for k, v in attrs.asdict(doc).items() if v is not None}
    try:
        return AssurancePolicy(**given)
    except ConfigurationError as e:
        rebase(problems, path, e)
        return None
