"""Which claims of a token say how old someone is: the claim mapping (config, not code).

Each configured claim found in a token becomes an :class:`AgeSignal`; the youngest
band among them wins. A claim name may be a dotted path into nested objects
(``verified_claims.claims.birthdate`` for OpenID Connect identity assurance).
"""

from __future__ import annotations

import datetime as dt
import re
import types
from collections.abc import Mapping
from typing import Any, Final

import attrs

from childsafe._bands import MAX_AGE, AgeBand, Assurance, age_on
from childsafe._config import ProblemCollector, structure
from childsafe._parsing import ParseError, check_depth, shown
from childsafe.assurance._errors import InvalidClaimError, MissingAgeClaimError
from childsafe.assurance._signals import AgeSignal, rebase
from childsafe.exceptions import ConfigProblem, ConfigurationError, InvalidAgeError

__all__ = ["ANYWHERE_ON_EARTH", "ClaimMapping", "claim_mapping_from"]

ANYWHERE_ON_EARTH: Final = dt.timezone(dt.timedelta(hours=-12), "AoE")
"""Birth dates in tokens are turned into ages on the calendar date at UTC-12, the last
place on Earth to reach a birthday: wherever the person lives, they are at least that
young (the protective reading of a date without a time zone)."""

_DATE: Final = re.compile(r"(\d{4})(?:-(\d{2})-(\d{2}))?", re.ASCII)
_EMPTY_MAP: Final[Mapping[str, Any]] = types.MappingProxyType({})
_DEFAULT_AGE_OVER: Final = types.MappingProxyType(
    {"age_over_13": 13, "age_over_16": 16, "age_over_18": 18}
)
_PROBLEM_SOURCE: Final = "ClaimMapping"
_SINGLE_CLAIMS: Final = ("age_band", "birthdate", "age", "age_lower", "age_upper", "assurance")

# A claim name, or the parts of a dotted one.
Path = str | tuple[str, ...]


def _path(name: str) -> Path:
    parts = tuple(name.split("."))
    return parts if len(parts) > 1 else name


def _lookup(claims: Mapping[str, Any], path: tuple[str, ...]) -> Any:  # noqa: ANN401 - JSON
    """The value at a dotted claim's ``path``, or ``None`` (plain names are looked up
    directly by the callers, on the hot path)."""
    value: Any = claims
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _frozen_map(value: object) -> object:
    if isinstance(value, Mapping):
        return types.MappingProxyType(dict(value))
    return value  # checked in __attrs_post_init__


@attrs.frozen(slots=True)
class ClaimMapping:
    """Which claims of an issuer's tokens carry the age, and in what shape.

    ``age_band``
        A band name (``"13_15"``), or a key of ``band_values`` (an issuer's own names
        for bands, e.g. ``{"teen": "13_15"}``).
    ``birthdate``
        ``"YYYY-MM-DD"`` (OpenID Connect's ``birthdate``; a bare ``"YYYY"`` is read as
        31 December, the youngest that year allows), taken on today's date at UTC-12.
    ``age``
        Whole years.
    ``age_over``
        Boolean claims and the age each tests: ``{"age_over_18": 18}``. ``true`` means
        at least that age, ``false`` younger; together they bound the age (a token
        saying only ``age_over_18: false`` leaves ``under_13`` plausible).
    ``age_lower`` / ``age_upper``
        An age range (app-store age signals): the lower bound sets the band.
    ``assurance``
        The claim holding the assurance level (``"verified"``, or a key of
        ``assurance_values``). When absent the issuer's fixed ``assurance`` is used.

    Set a claim to ``None`` (or leave ``age_over`` empty) to ignore it. The defaults
    read ``age_band``, ``birthdate``, ``age`` and ``age_over_13/16/18``.

    .. versionadded:: 0.1.0
    """

    age_band: str | None = "age_band"
    band_values: Mapping[str, AgeBand] = attrs.field(default=_EMPTY_MAP, converter=_frozen_map)
    birthdate: str | None = "birthdate"
    age: str | None = "age"
    age_over: Mapping[str, int] = attrs.field(default=_DEFAULT_AGE_OVER, converter=_frozen_map)
    age_lower: str | None = None
    age_upper: str | None = None
    assurance: str | None = None
    assurance_values: Mapping[str, Assurance] = attrs.field(
        default=_EMPTY_MAP, converter=_frozen_map
    )
    _paths: tuple[tuple[str, Path], ...] = attrs.field(init=False, repr=False, eq=False)
    _age_over_paths: tuple[tuple[str, Path, int], ...] = attrs.field(
        init=False, repr=False, eq=False
    )
    _memo: dict[tuple[AgeBand, Assurance, str], AgeSignal] = attrs.field(
        init=False, repr=False, eq=False, factory=dict
    )
    # Claim value -> band / level: childsafe's names, then the issuer's own.
    _bands: dict[str, AgeBand] = attrs.field(init=False, repr=False, eq=False, factory=dict)
    _levels: dict[str, Assurance] = attrs.field(init=False, repr=False, eq=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        problems: list[ConfigProblem] = []

        def bad(path: str, message: str) -> None:
            problems.append(ConfigProblem(_PROBLEM_SOURCE, path, message))

        def claim_name(name: str, value: object) -> bool:
            if value is None:
                return False
            if not isinstance(value, str) or not all(value.split(".")):
                bad(name, f"expected a claim name such as 'age' or 'a.b', got {value!r}")
                return False
            return True

        paths = tuple((n, _path(v)) for n in _SINGLE_CLAIMS if claim_name(n, v := getattr(self, n)))
        object.__setattr__(self, "_paths", paths)

        over: list[tuple[str, Path, int]] = []
        age_over: object = self.age_over
        if not isinstance(age_over, Mapping):
            bad("age_over", f"expected a table of claim name = age, got {age_over!r}")
        else:
            for claim, age in age_over.items():
                if not claim_name(f"age_over.{claim}", claim):
                    continue
                if isinstance(age, bool) or not isinstance(age, int) or not 1 <= age <= MAX_AGE:
                    bad(f"age_over.{claim}", f"expected an age 1-{MAX_AGE}, got {shown(age)}")
                    continue
                over.append((claim, _path(claim), age))
        object.__setattr__(self, "_age_over_paths", tuple(over))
        if not over and all(n == "assurance" for n, _ in paths) and not problems:
            bad("", "no age claim is mapped: set age_band, birthdate, age, age_over or age_lower")

        for name, kind in (("band_values", AgeBand), ("assurance_values", Assurance)):
            table: object = getattr(self, name)
            if not isinstance(table, Mapping):
                bad(name, f"expected a table of value = level, got {table!r}")
                continue
            fixed: dict[str, Any] = {}
            for key, value in table.items():
                try:
                    member = kind(value)
                except ValueError:
                    member = None
                if member is None or member is AgeBand.UNKNOWN or not isinstance(key, str):
                    allowed = [m.value for m in kind if m is not AgeBand.UNKNOWN]
                    bad(f"{name}.{key}", f"expected one of {', '.join(map(repr, allowed))}")
                    continue
                fixed[key] = member
            object.__setattr__(self, name, types.MappingProxyType(fixed))
        if problems:
            raise ConfigurationError(problems)
        self._bands.update({b.value: b for b in AgeBand if b is not AgeBand.UNKNOWN})
        self._bands.update(self.band_values)
        self._levels.update({a.value: a for a in Assurance})
        self._levels.update(self.assurance_values)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "<mapping>") -> ClaimMapping:
        """The mapping a config table describes (every problem reported at once)."""
        problems = ProblemCollector(source)
        try:
            check_depth(data)
        except ParseError as e:
            problems.add("", str(e))
            problems.raise_if_any()
        mapping = claim_mapping_from(data, problems, "")
        problems.raise_if_any()
        assert mapping is not None
        return mapping

    def signals(
        self, claims: Mapping[str, Any], *, now: float, assurance: Assurance
    ) -> tuple[tuple[AgeSignal, ...], Assurance]:
        """The age signals in ``claims`` (sources named ``"token:<claim>"``) and the
        token's assurance level (``assurance`` when it has no assurance claim). ``now``
        is the time (seconds since the epoch) a birth date is read at.

        Raises :class:`InvalidClaimError` for a claim of the wrong type or an impossible
        value, :class:`MissingAgeClaimError` when no age claim is present.
        """
        found = {}
        for name, path in self._paths:
            value = claims.get(path) if isinstance(path, str) else _lookup(claims, path)
            if value is not None:
                found[name] = value
        if "assurance" in found:
            assurance = self._assurance(found.pop("assurance"))
        signals: list[AgeSignal] = []
        if "age_band" in found:
            signals.append(self._signal(self._band(found["age_band"]), assurance, "age_band"))
        if "birthdate" in found:
            age = self._birthdate_age(found["birthdate"], now)
            signals.append(self._signal(AgeBand.from_age(age), assurance, "birthdate"))
        if "age" in found:
            age = self._whole_years(found["age"], "age")
            signals.append(self._signal(AgeBand.from_age(age), assurance, "age"))
        if self._age_over_paths:
            over = self._age_over(claims, assurance)
            if over is not None:
                signals.append(over)
        if "age_lower" in found or "age_upper" in found:
            signals.append(self._range(found, assurance))
        if not signals:
            names = [self._claim(n) for n, _ in self._paths if n != "assurance"]
            names.extend(c for c, _, _ in self._age_over_paths)
            raise MissingAgeClaimError(
                f"the token has none of the age claims its issuer is configured for "
                f"({', '.join(names)})"
            )
        return tuple(signals), assurance

    def _signal(self, band: AgeBand, assurance: Assurance, claim: str) -> AgeSignal:
        """The signal for ``band`` from the mapping field ``claim`` (or, for ``age_over``,
        the claim itself): signals are values, so each is built once."""
        key = (band, assurance, claim)
        signal = self._memo.get(key)
        if signal is None:
            name = getattr(self, claim) if claim in _SINGLE_CLAIMS else claim
            signal = self._memo[key] = AgeSignal(band, assurance, f"token:{name}")
        return signal

    def needs_daily_refresh(self) -> bool:
        """Whether a token's band can change with the date (a birth date is mapped)."""
        return self.birthdate is not None

    def _claim(self, name: str) -> str:
        return str(getattr(self, name))

    def _assurance(self, value: object) -> Assurance:
        if isinstance(value, str):
            level = self._levels.get(value)
            if level is not None:
                return level
        raise InvalidClaimError(
            f"claim {self._claim('assurance')!r} must be an assurance level "
            f"({', '.join(repr(a.value) for a in Assurance)}"
            f"{_or_one_of(self.assurance_values)}), got {_show(value)}"
        )

    def _band(self, value: object) -> AgeBand:
        if isinstance(value, str):
            band = self._bands.get(value)
            if band is not None:
                return band
        raise InvalidClaimError(
            f"claim {self._claim('age_band')!r} must be an age band (under_13, 13_15, 16_17, "
            f"adult{_or_one_of(self.band_values)}), got {_show(value)}"
        )

    def _birthdate_age(self, value: object, now: float) -> int:
        name = self._claim("birthdate")
        m = _DATE.fullmatch(value) if isinstance(value, str) else None
        if m is None:
            raise InvalidClaimError(
                f"claim {name!r} must be a 'YYYY-MM-DD' date, got {_show(value)}"
            )
        year, month, day = m.groups()
        try:
            born = dt.date(int(year), int(month or 12), int(day or 31))
            age = age_on(born, on=dt.datetime.fromtimestamp(now, dt.UTC), tz=ANYWHERE_ON_EARTH)
        except (ValueError, OverflowError, OSError, InvalidAgeError) as e:
            raise InvalidClaimError(f"claim {name!r} is not a possible birth date: {e}") from e
        if age > MAX_AGE:
            raise InvalidClaimError(
                f"claim {name!r} is not a possible birth date: {value} is more than "
                f"{MAX_AGE} years ago"
            )
        return age

    def _whole_years(self, value: object, name: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_AGE:
            raise InvalidClaimError(
                f"claim {self._claim(name)!r} must be a whole number of years 0-{MAX_AGE}, "
                f"got {_show(value)}"
            )
        return value

    def _age_over(self, claims: Mapping[str, Any], assurance: Assurance) -> AgeSignal | None:
        lower, lower_claim = 0, ""
        upper, upper_claim = MAX_AGE, ""
        seen = False
        for claim, path, age in self._age_over_paths:
            value = claims.get(path) if isinstance(path, str) else _lookup(claims, path)
            if value is None:
                continue
            if not isinstance(value, bool):
                raise InvalidClaimError(
                    f"claim {claim!r} must be true or false, got {_show(value)}"
                )
            seen = True
            if value and age > lower:
                lower, lower_claim = age, claim
            elif not value and age - 1 < upper:
                upper, upper_claim = age - 1, claim
        if not seen:
            return None
        if lower > upper:
            raise InvalidClaimError(
                f"claims {lower_claim!r} (true) and {upper_claim!r} (false) contradict each other"
            )
        return self._signal(AgeBand.from_age(lower), assurance, lower_claim or upper_claim)

    def _range(self, found: Mapping[str, Any], assurance: Assurance) -> AgeSignal:
        lower = self._whole_years(found["age_lower"], "age_lower") if "age_lower" in found else 0
        if "age_upper" in found:
            upper = self._whole_years(found["age_upper"], "age_upper")
            if upper < lower:
                raise InvalidClaimError(
                    f"claims {self._claim('age_lower')!r} and {self._claim('age_upper')!r} "
                    f"give an empty range ({lower}-{upper})"
                )
        claim = "age_lower" if "age_lower" in found else "age_upper"
        return self._signal(AgeBand.from_age(lower), assurance, claim)


def _or_one_of(names: Mapping[str, object]) -> str:
    return f", or one of {', '.join(map(repr, names))}" if names else ""


def _show(value: object) -> str:
    """A claim value for an error message: short, with its JSON type."""
    kind = {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)
    if isinstance(value, dict | list):
        return kind
    text = repr(value)
    return f"{text[:40]}... ({kind})" if len(text) > 40 else f"{text} ({kind})"


@attrs.define
class _ClaimsDoc:
    age_band: str | None = None
    band_values: Any = None
    birthdate: str | None = None
    age: str | None = None
    age_over: Any = None
    age_lower: str | None = None
    age_upper: str | None = None
    assurance: str | None = None
    assurance_values: Any = None


def claim_mapping_from(data: object, problems: ProblemCollector, path: str) -> ClaimMapping | None:
    """The claim mapping in a config table, or ``None`` with its problems added.

    Keys left out keep their defaults; ``age_band = ""`` (or ``age_over = {}``) turns a
    claim off.
    """
    doc = structure(data, _ClaimsDoc, problems, path)
    if doc is None:
        return None
    given: dict[str, Any] = {}
    for name, value in attrs.asdict(doc).items():
        if value is None:
            continue
        given[name] = None if value == "" else value
    try:
        return ClaimMapping(**given)
    except ConfigurationError as e:
        rebase(problems, path, e)
        return None
