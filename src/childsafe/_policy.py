"""Policies: rules per age band and setting, built from a baseline, jurisdiction
overlays and a product team's overrides.

The combination follows the protection lattice (see ``_settings``):

* an **overlay** only tightens: each value it names is *met* with the current one;
* an **override** (the product team's config) may tighten anything, and may loosen a
  default down to the floor, never below it; floors, ``changeable_by`` and
  ``prompt_on_loosen`` can only be tightened. Anything else is a
  :class:`~childsafe.exceptions.ConfigurationError` at load time.

For an account, the effective rules are
``overlays(account jurisdiction) ∧ overrides(baseline ∧ overlays(platform jurisdictions))``:
jurisdiction overlays are applied last, so no override can undo them.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Final

import attrs

from childsafe._bands import AgeBand
from childsafe._config import (
    ConfigDoc,
    OverlayDoc,
    OverlayRuleDoc,
    ProblemCollector,
    RuleSpecDoc,
    SourceDoc,
    rule_specs,
    structure,
)
from childsafe._iso3166 import check_jurisdiction
from childsafe._parsing import (
    ParseError,
    check_depth,
    load_json,
    load_toml,
    read_config,
    shown,
)
from childsafe._settings import SETTINGS, Setting, SettingValue, suggest
from childsafe.exceptions import ConfigProblem, ConfigurationError, InvalidSettingError

__all__ = [
    "POLICY_BANDS",
    "ChangeableBy",
    "Citation",
    "JurisdictionInfo",
    "Overlay",
    "Policy",
    "Rule",
    "load_policy",
    "normalise_jurisdiction",
]

POLICY_BANDS: Final = (AgeBand.UNDER_13, AgeBand.AGE_13_15, AgeBand.AGE_16_17, AgeBand.ADULT)
"""The bands a policy gives rules for (``unknown`` resolves to one of the minor bands)."""

_MINOR_BANDS: Final = POLICY_BANDS[:3]
_BAND_NAMES: Final = tuple(b.value for b in POLICY_BANDS)


class ChangeableBy(enum.StrEnum):
    """Who may loosen a setting, most restrictive first."""

    NOBODY = "nobody"
    PARENT = "parent"
    SELF = "self"

    @property
    def rank(self) -> int:
        return _CHANGEABLE_RANK[self]

    def meet(self, other: ChangeableBy) -> ChangeableBy:
        return self if self.rank <= other.rank else other


_CHANGEABLE_RANK: Final = {ChangeableBy.NOBODY: 0, ChangeableBy.PARENT: 1, ChangeableBy.SELF: 2}


@attrs.frozen
class Citation:
    """A standard, law or practice a rule implements."""

    id: str
    label: str
    title: str
    publisher: str
    kind: str
    url: str


@attrs.frozen
class Rule:
    """What the policy says about one setting for one age band.

    ``default`` is what a new account gets; ``floor`` the least protective value anyone
    may ever choose; ``changeable_by`` who may loosen it (anyone may tighten);
    ``prompt_on_loosen`` whether the child must see a safety explanation and confirm
    first. ``sources`` are citation ids; ``origin`` names the layers that shaped it.
    """

    default: SettingValue
    floor: SettingValue
    changeable_by: ChangeableBy
    prompt_on_loosen: bool
    sources: tuple[str, ...] = ()
    origin: tuple[str, ...] = ()


@attrs.frozen
class _OverlayRule:
    bands: tuple[AgeBand, ...]
    settings: tuple[str, ...]
    default: Mapping[str, SettingValue]
    floor: Mapping[str, SettingValue]
    floor_to_default: bool
    changeable_by: ChangeableBy | None
    prompt_on_loosen: bool | None
    when: str | None
    sources: tuple[str, ...]


@attrs.frozen
class Overlay:
    """A jurisdiction's requirements: rules that only tighten, and facts."""

    key: str
    title: str
    member_of: tuple[str, ...]
    age_of_digital_consent: int | None
    minimum_account_age: int | None
    minimum_account_age_when: str | None
    sources: tuple[str, ...]
    notes: tuple[str, ...]
    rules: tuple[_OverlayRule, ...] = attrs.field(repr=False)


@attrs.frozen
class JurisdictionInfo:
    """What childsafe knows about a jurisdiction under a given policy."""

    key: str | None
    overlays: tuple[str, ...]
    age_of_digital_consent: int | None
    minimum_account_age: int | None
    notes: tuple[str, ...]


BandRules = Mapping[AgeBand, Mapping[str, Rule]]


def normalise_jurisdiction(value: str) -> str:
    """``"gb"`` -> ``"GB"``, ``"us-ny"`` -> ``"US-NY"``; ``ValueError`` if malformed or
    not an ISO 3166 code (with a did-you-mean): ``"US-"``, ``"US-ZZ"``, ``"US-CAL"``.

    .. versionchanged:: 0.2.0 Codes are checked against ISO 3166-1 and, for the
       countries in :data:`childsafe._iso3166.SUBDIVISIONS`, ISO 3166-2.
    """
    raw: object = value  # callers may pass anything; say what is wrong
    # ASCII is checked before upper-casing: 'ß'.upper() is 'SS' (South Sudan) and
    # the dotless i upper-cases to 'I', so a non-ASCII code never becomes another's.
    stripped = raw.strip() if isinstance(raw, str) else ""
    text = stripped.upper() if stripped.isascii() else ""
    country, sep, sub = text.partition("-")
    if len(country) != 2 or not country.isalpha():
        raise ValueError(
            f"jurisdiction {shown(value)} is not an ISO 3166-1 alpha-2 code ('GB') "
            "or ISO 3166-2 subdivision ('US-NY')"
        )
    if sep and not (1 <= len(sub) <= 3 and sub.isalnum()):
        raise ValueError(f"jurisdiction {shown(value)} has a malformed subdivision after '-'")
    return check_jurisdiction(value, text)


# --------------------------------------------------------------------------- data


def _data_text(name: str) -> str:
    return resources.files("childsafe").joinpath("data", name).read_text(encoding="utf-8")


def _toml(text: str, problems: ProblemCollector) -> dict[str, Any]:
    try:
        return load_toml(text)
    except ParseError as e:
        problems.add("", f"invalid TOML: {e}")
        return {}


def _citations(text: str, problems: ProblemCollector) -> dict[str, Citation]:
    raw = _toml(text, problems)
    out: dict[str, Citation] = {}
    for cid, body in raw.items():
        doc = structure(body, SourceDoc, problems, cid)
        if doc is not None:
            out[cid] = Citation(cid, doc.label, doc.title, doc.publisher, doc.kind, doc.url)
    return out


# ----------------------------------------------------------------------- building


class _Builder:
    """Validates raw rule specs into rules, collecting every problem."""

    def __init__(self, problems: ProblemCollector, citations: Mapping[str, Citation]) -> None:
        self.problems = problems
        self.citations = citations

    def value(self, setting: Setting, raw: object, path: str) -> tuple[bool, SettingValue]:
        try:
            return True, setting.parse(raw)
        except InvalidSettingError as e:
            msg = str(e).removeprefix(f"{setting.name}: ")
            self.problems.add(path, msg)
            return False, None

    def band(self, name: str, path: str, *, allow_adult: bool = True) -> AgeBand | None:
        allowed = _BAND_NAMES if allow_adult else _BAND_NAMES[:3]
        if name in allowed:
            return AgeBand(name)
        hint = suggest(name, allowed)
        extra = (
            " (the band for unknown ages is set with the top-level key `unknown_age`)"
            if name == AgeBand.UNKNOWN
            else ""
        )
        self.problems.add(
            path,
            f"unknown age band {shown(name)}; expected one of "
            f"{', '.join(repr(b) for b in allowed)}{hint}{extra}",
        )
        return None

    def setting(self, name: str, path: str) -> Setting | None:
        if name in SETTINGS:
            return SETTINGS[name]
        self.problems.add(path, f"unknown setting {shown(name)}{suggest(name, tuple(SETTINGS))}")
        return None

    def changeable(self, raw: str | None, path: str) -> tuple[bool, ChangeableBy | None]:
        if raw is None:
            return True, None
        try:
            return True, ChangeableBy(raw)
        except ValueError:
            names = tuple(c.value for c in ChangeableBy)
            self.problems.add(
                path,
                f"{shown(raw)} is not one of {', '.join(map(repr, names))}{suggest(raw, names)}",
            )
            return False, None

    def sources(self, ids: Sequence[str], path: str) -> tuple[str, ...]:
        for i, cid in enumerate(ids):
            if cid not in self.citations:
                self.problems.add(
                    f"{path}[{i}]",
                    f"unknown source {cid!r}{suggest(cid, tuple(self.citations))}",
                )
        return tuple(ids)


def _complete_baseline(
    specs: Mapping[str, Mapping[str, RuleSpecDoc]], builder: _Builder, origin: str
) -> dict[AgeBand, dict[str, Rule]]:
    """A baseline must give every field for every band and setting."""
    rules: dict[AgeBand, dict[str, Rule]] = {}
    for band_name, settings in specs.items():
        band = builder.band(band_name, f"bands.{band_name}")
        if band is None:
            continue
        rules[band] = {}
        for name, spec in settings.items():
            path = f"bands.{band_name}.{name}"
            setting = builder.setting(name, path)
            if setting is None:
                continue
            missing = [
                f
                for f in ("default", "floor", "changeable_by", "prompt_on_loosen")
                if getattr(spec, f) is None
            ]
            if missing:
                builder.problems.add(path, f"a baseline rule needs {', '.join(missing)}")
                continue
            ok_d, default = builder.value(setting, spec.default, f"{path}.default")
            ok_f, floor = builder.value(setting, spec.floor, f"{path}.floor")
            ok_c, changeable = builder.changeable(spec.changeable_by, f"{path}.changeable_by")
            sources = builder.sources(spec.sources or [], f"{path}.sources")
            if not (ok_d and ok_f and ok_c) or changeable is None:
                continue
            if not setting.le(default, floor):
                builder.problems.add(
                    f"{path}.default",
                    f"default {setting.format(default)!r} is less protective than "
                    f"its floor {setting.format(floor)!r}",
                )
                continue
            rules[band][name] = Rule(
                default, floor, changeable, bool(spec.prompt_on_loosen), sources, (origin,)
            )
    for band in POLICY_BANDS:
        missing_settings = [s for s in SETTINGS if s not in rules.get(band, {})]
        if missing_settings and band.value in specs:
            builder.problems.add(
                f"bands.{band.value}", f"missing rules for {', '.join(missing_settings)}"
            )
        elif band.value not in specs:
            builder.problems.add("bands", f"missing rules for band {band.value!r}")
    return rules


def _parse_overlays(
    text: str, citations: Mapping[str, Citation], problems: ProblemCollector
) -> dict[str, Overlay]:
    builder = _Builder(problems, citations)
    raw = _toml(text, problems)
    overlays: dict[str, Overlay] = {}
    for key, body in raw.items():
        doc = structure(body, OverlayDoc, problems, key)
        if doc is None:
            continue
        rules = tuple(
            r
            for i, rd in enumerate(doc.rules)
            if (r := _overlay_rule(rd, builder, f"{key}.rules[{i}]")) is not None
        )
        overlays[key] = Overlay(
            key=key,
            title=doc.title,
            member_of=tuple(doc.member_of),
            age_of_digital_consent=doc.age_of_digital_consent,
            minimum_account_age=doc.minimum_account_age,
            minimum_account_age_when=doc.minimum_account_age_when,
            sources=builder.sources(doc.sources, f"{key}.sources"),
            notes=tuple(doc.notes),
            rules=rules,
        )
    for key, ov in overlays.items():
        for parent in ov.member_of:
            if parent not in overlays:
                problems.add(f"{key}.member_of", f"unknown overlay {parent!r}")
    return overlays


def _overlay_rule(doc: OverlayRuleDoc, builder: _Builder, path: str) -> _OverlayRule | None:
    bands = [builder.band(b, f"{path}.bands") for b in doc.bands]
    settings = [builder.setting(s, f"{path}.settings") for s in doc.settings]
    ok, changeable = builder.changeable(doc.changeable_by, f"{path}.changeable_by")
    defaults: dict[str, SettingValue] = {}
    floors: dict[str, SettingValue] = {}
    for setting in settings:
        if setting is None:
            continue
        if doc.default is not None:
            good, value = builder.value(setting, doc.default, f"{path}.default")
            ok &= good
            defaults[setting.name] = value
        if doc.floor is not None:
            good, value = builder.value(setting, doc.floor, f"{path}.floor")
            ok &= good
            floors[setting.name] = value
    sources = builder.sources(doc.sources, f"{path}.sources")
    if not ok or None in bands or None in settings:
        return None
    return _OverlayRule(
        bands=tuple(b for b in bands if b is not None),
        settings=tuple(s.name for s in settings if s is not None),
        default=defaults,
        floor=floors,
        floor_to_default=bool(doc.floor_to_default),
        changeable_by=changeable,
        prompt_on_loosen=doc.prompt_on_loosen,
        when=doc.when,
        sources=sources,
    )


def _tighten(rule: Rule, setting: Setting, ov: _OverlayRule, reference: Rule, origin: str) -> Rule:
    name = setting.name
    floor = rule.floor
    if name in ov.floor:
        floor = setting.meet(floor, ov.floor[name])
    if ov.floor_to_default:
        floor = setting.meet(floor, reference.default)
    default = rule.default
    if name in ov.default:
        default = setting.meet(default, ov.default[name])
    default = setting.meet(default, floor)
    changeable = rule.changeable_by.meet(ov.changeable_by or ChangeableBy.SELF)
    prompt = rule.prompt_on_loosen or bool(ov.prompt_on_loosen)
    # The overlay is recorded even when the baseline already met it: it still applies.
    sources = rule.sources + tuple(s for s in ov.sources if s not in rule.sources)
    origins = rule.origin if origin in rule.origin else (*rule.origin, origin)
    return Rule(default, floor, changeable, prompt, sources, origins)


def _apply_overlays(
    rules: BandRules,
    chain: Iterable[Overlay],
    declarations: frozenset[str],
    reference: BandRules,
) -> dict[AgeBand, dict[str, Rule]]:
    out = {band: dict(by_setting) for band, by_setting in rules.items()}
    for overlay in chain:
        for ov in overlay.rules:
            if ov.when is not None and ov.when not in declarations:
                continue
            for band in ov.bands:
                for name in ov.settings:
                    out[band][name] = _tighten(
                        out[band][name],
                        SETTINGS[name],
                        ov,
                        reference[band][name],
                        f"overlay:{overlay.key}",
                    )
    return out


def _describe_allowed(setting: Setting, floor: SettingValue) -> str:
    domain = setting.domain
    values = getattr(domain, "values", None)
    if values is not None:
        return ", ".join(repr(v) for v in values if setting.le(v, floor))
    if setting.name == "quiet_hours":
        return f"a window containing {setting.format(floor)}"
    return f"at most {setting.format(floor)} minutes"


def _apply_overrides(
    rules: BandRules,
    specs: Mapping[str, Mapping[str, RuleSpecDoc]],
    builder: _Builder,
    origin: str,
) -> dict[AgeBand, dict[str, Rule]]:
    out = {band: dict(by_setting) for band, by_setting in rules.items()}
    for band_name, settings in specs.items():
        band = builder.band(band_name, f"bands.{band_name}")
        for name, spec in settings.items():
            path = f"bands.{band_name}.{name}"
            setting = builder.setting(name, path)
            if band is None or setting is None:
                continue
            if spec.sources is not None:
                builder.problems.add(
                    f"{path}.sources",
                    "sources are set by the baseline and overlays; use `note` to say why "
                    "your platform changes this rule",
                )
            new = _override_rule(out[band][name], setting, spec, builder, path, band)
            if new is not None:
                out[band][name] = attrs.evolve(new, origin=(*new.origin, origin))
    return out


def _protects(rule: Rule, builder: _Builder) -> str:
    labels = [builder.citations[s].label for s in rule.sources if s in builder.citations]
    return f" This rule implements: {'; '.join(labels)}." if labels else ""


def _override_rule(
    rule: Rule,
    setting: Setting,
    spec: RuleSpecDoc,
    builder: _Builder,
    path: str,
    band: AgeBand,
) -> Rule | None:
    problems_before = len(builder.problems)
    fmt = setting.format
    floor = rule.floor
    if spec.floor is not None:
        ok, value = builder.value(setting, spec.floor, f"{path}.floor")
        if ok and not setting.le(value, rule.floor):
            builder.problems.add(
                f"{path}.floor",
                f"{fmt(value)!r} would loosen the floor {fmt(rule.floor)!r} for {band.value}; "
                "a config may only tighten floors (allowed: "
                f"{_describe_allowed(setting, rule.floor)}).{_protects(rule, builder)}",
            )
        elif ok:
            floor = value
    default = setting.meet(rule.default, floor)
    if spec.default is not None:
        ok, value = builder.value(setting, spec.default, f"{path}.default")
        if ok and not setting.le(value, floor):
            which = "the floor" if floor == rule.floor else "the floor you set"
            builder.problems.add(
                f"{path}.default",
                f"{fmt(value)!r} is below {which} {fmt(floor)!r} for {band.value} "
                f"(allowed: {_describe_allowed(setting, floor)}).{_protects(rule, builder)}",
            )
        elif ok:
            default = value
    changeable = rule.changeable_by
    ok, value_c = builder.changeable(spec.changeable_by, f"{path}.changeable_by")
    if value_c is not None:
        if value_c.rank > rule.changeable_by.rank:
            allowed = [c.value for c in ChangeableBy if c.rank <= rule.changeable_by.rank]
            builder.problems.add(
                f"{path}.changeable_by",
                f"{value_c.value!r} would widen who may loosen this setting beyond "
                f"{rule.changeable_by.value!r} for {band.value} "
                f"(allowed: {', '.join(map(repr, allowed))}).{_protects(rule, builder)}",
            )
        else:
            changeable = value_c
    prompt = rule.prompt_on_loosen
    if spec.prompt_on_loosen is not None:
        if rule.prompt_on_loosen and not spec.prompt_on_loosen:
            builder.problems.add(
                f"{path}.prompt_on_loosen",
                f"the safety prompt before loosening {setting.name} for {band.value} cannot be "
                f"turned off (Ofcom ICU F2).{_protects(rule, builder)}",
            )
        else:
            prompt = spec.prompt_on_loosen
    if len(builder.problems) != problems_before:
        return None
    return Rule(default, floor, changeable, prompt, rule.sources, rule.origin)


# ------------------------------------------------------------------------- policy


@attrs.frozen
class Policy:
    """A complete policy: a rule for every age band and setting, plus the jurisdiction
    overlays it applies per account.

    Build one with :func:`load_policy` (or the ``from_*`` class methods); compile it
    with :class:`childsafe.Guard` to decide.
    """

    name: str
    rules: Mapping[AgeBand, Mapping[str, Rule]] = attrs.field(repr=False)
    unknown_age: AgeBand
    jurisdictions: tuple[str, ...]
    declarations: frozenset[str]
    overlays: Mapping[str, Overlay] = attrs.field(repr=False)
    citations: Mapping[str, Citation] = attrs.field(repr=False)
    source: str
    notes: Mapping[tuple[AgeBand, str], str] = attrs.field(repr=False, factory=dict)
    baseline_rules: Mapping[AgeBand, Mapping[str, Rule]] = attrs.field(
        repr=False, factory=dict, eq=False
    )

    # -- construction ---------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Policy:
        """Load a config file (``.toml`` or ``.json``) over the baseline it names."""
        source, data = read_config(path)
        p = Path(source)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ConfigurationError([ConfigProblem(source, "", f"cannot read: {e}")]) from None
        if p.suffix.lower() == ".json":
            return cls.from_json(text, source=source)
        if p.suffix.lower() != ".toml":
            raise ConfigurationError(
                [ConfigProblem(source, "", "config files must end in .toml or .json")]
            )
        return cls.from_toml(text, source=source)

    @classmethod
    def from_toml(cls, text: str | bytes, *, source: str = "<toml>") -> Policy:
        """Load config from TOML text (or its UTF-8 bytes, as from a file opened in
        binary); ``source`` names it in error messages."""
        text = _config_text(text, source, "TOML")
        try:
            data = load_toml(text)
        except ParseError as e:
            raise ConfigurationError([ConfigProblem(source, "", f"invalid TOML: {e}")]) from None
        return cls.from_mapping(data, source=source)

    @classmethod
    def from_json(cls, text: str | bytes, *, source: str = "<json>") -> Policy:
        """Load config from JSON text or bytes (an object); ``source`` names it in errors."""
        given: object = text
        if not isinstance(given, str | bytes | bytearray):
            raise ConfigurationError(
                [ConfigProblem(source, "", f"expected JSON text, got {type(given).__name__}")]
            )
        try:
            data = load_json(text)
        except ParseError as e:
            raise ConfigurationError([ConfigProblem(source, "", f"invalid JSON: {e}")]) from None
        if not isinstance(data, dict):
            raise ConfigurationError([ConfigProblem(source, "", "the top level must be an object")])
        return cls.from_mapping(data, source=source)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "<mapping>") -> Policy:
        """Build a policy from parsed config: ``baseline``, ``jurisdiction``,
        ``unknown_age``, ``declarations`` and ``bands.<band>.<setting>`` rule tables."""
        problems = ProblemCollector(source)
        raw: object = data
        if not isinstance(raw, Mapping):
            problems.add("", f"expected a table of settings, got {type(raw).__name__}")
            problems.raise_if_any()
        try:
            check_depth(dict(data))
        except ParseError as e:
            problems.add("", str(e))
            problems.raise_if_any()
        doc = structure(dict(data), ConfigDoc, problems, "") or ConfigDoc()
        base = _baseline(doc.baseline, problems)
        if base is _EMPTY:
            problems.raise_if_any()
        return base._with_config(doc, problems)  # noqa: SLF001 - same class

    @classmethod
    def baseline(cls, name: str = "minimum") -> Policy:
        """The built-in baseline ``name`` with no overrides."""
        problems = ProblemCollector("<baseline>")
        policy = _baseline(name, problems)
        problems.raise_if_any()
        return policy

    def _with_config(self, doc: ConfigDoc, problems: ProblemCollector) -> Policy:
        builder = _Builder(problems, self.citations)
        jurisdictions = _jurisdiction_list(doc.jurisdiction, problems)
        declarations = frozenset(doc.declarations)
        known = self.known_declarations()
        for i, d in enumerate(doc.declarations):
            if d not in known:
                problems.add(
                    f"declarations[{i}]",
                    f"unknown declaration {shown(d)}{suggest(d, sorted(known))}; known: "
                    f"{', '.join(map(repr, sorted(known)))}",
                )
        unknown_age = self.unknown_age
        if doc.unknown_age is not None:
            if doc.unknown_age == AgeBand.ADULT:
                problems.add(
                    "unknown_age",
                    "an unknown age must resolve to a minor band (fail closed), never 'adult'; "
                    "expected 'under_13', '13_15' or '16_17'",
                )
            else:
                band = builder.band(doc.unknown_age, "unknown_age", allow_adult=False)
                unknown_age = band or unknown_age
        for j in jurisdictions:
            if j[:2] not in self.overlays and j not in self.overlays:
                problems.add(
                    "jurisdiction",
                    f"no overlay is known for {j!r}; it adds nothing to the baseline "
                    f"(known: {', '.join(sorted(self.overlays))})",
                )
        specs = rule_specs(doc.bands, problems)
        chain = [o for j in jurisdictions for o in self._chain(j)]
        platform = _apply_overlays(self.baseline_rules, chain, declarations, self.baseline_rules)
        origin = f"config:{problems.source}"
        overridden = _apply_overrides(platform, specs, builder, origin)
        problems.raise_if_any()
        notes = {
            (AgeBand(b), s): spec.note
            for b, settings in specs.items()
            for s, spec in settings.items()
            if spec.note
        }
        return attrs.evolve(
            self,
            rules=overridden,
            unknown_age=unknown_age,
            jurisdictions=tuple(jurisdictions),
            declarations=declarations,
            source=problems.source,
            notes=notes,
        )

    # -- queries ----------------------------------------------------------------

    def known_declarations(self) -> frozenset[str]:
        """The platform declarations the overlays react to."""
        names = {r.when for o in self.overlays.values() for r in o.rules}
        names |= {o.minimum_account_age_when for o in self.overlays.values()}
        return frozenset(n for n in names if n is not None)

    def _chain(self, jurisdiction: str) -> list[Overlay]:
        out: list[Overlay] = []

        def add(key: str) -> None:
            overlay = self.overlays.get(key)
            if overlay is None or overlay in out:
                return
            for parent in overlay.member_of:
                add(parent)
            out.append(overlay)

        add(jurisdiction[:2])
        if len(jurisdiction) > 2:
            add(jurisdiction)
        return out

    def overlay_keys(self) -> tuple[str, ...]:
        """Every jurisdiction key with its own overlay (``GB``, ``DE``, ``US-NY`` ...)."""
        return tuple(self.overlays)

    def rules_for(self, jurisdiction: str | None = None) -> Mapping[AgeBand, Mapping[str, Rule]]:
        """The effective rules for accounts in ``jurisdiction`` (``None``: platform-wide)."""
        if jurisdiction is None:
            return self.rules
        chain = self._chain(normalise_jurisdiction(jurisdiction))
        if not chain:
            return self.rules
        return _apply_overlays(self.rules, chain, self.declarations, self.baseline_rules)

    def rule(self, band: AgeBand | str, setting: str, jurisdiction: str | None = None) -> Rule:
        """The effective rule for ``band`` (an :class:`AgeBand` or its name) and
        ``setting`` (``unknown`` resolved); another band is an
        :class:`~childsafe.exceptions.InvalidAgeError`."""
        # A name is parsed: 'unknown' (and any misspelt band) was a KeyError.
        parsed = band if isinstance(band, AgeBand) else AgeBand.parse(band)
        if parsed is AgeBand.UNKNOWN:
            parsed = self.unknown_age
        if setting not in SETTINGS:
            raise InvalidSettingError(
                f"unknown setting {setting!r}{suggest(setting, tuple(SETTINGS))}"
            )
        return self.rules_for(jurisdiction)[parsed][setting]

    def jurisdiction_info(self, jurisdiction: str | None) -> JurisdictionInfo:
        """The overlays, age of digital consent and minimum account age that apply."""
        platform = [o for j in self.jurisdictions for o in self._chain(j)]
        if jurisdiction is None:
            key = None
            own = platform
        else:
            key = normalise_jurisdiction(jurisdiction)
            own = self._chain(key)
        chain = [*platform, *own]
        consent = next(
            (o.age_of_digital_consent for o in reversed(own) if o.age_of_digital_consent),
            None,
        )
        minimum = next(
            (
                o.minimum_account_age
                for o in reversed(own)
                if o.minimum_account_age
                and (
                    o.minimum_account_age_when is None
                    or o.minimum_account_age_when in self.declarations
                )
            ),
            None,
        )
        keys = tuple(dict.fromkeys(o.key for o in chain))
        notes = tuple(n for o in own for n in o.notes)
        return JurisdictionInfo(key, keys, consent, minimum, notes)

    def cite(self, sources: Iterable[str]) -> tuple[Citation, ...]:
        return tuple(self.citations[s] for s in sources if s in self.citations)


def _jurisdiction_list(raw: str | list[str] | None, problems: ProblemCollector) -> list[str]:
    items = [] if raw is None else [raw] if isinstance(raw, str) else list(raw)
    out: list[str] = []
    for i, item in enumerate(items):
        path = "jurisdiction" if isinstance(raw, str) else f"jurisdiction[{i}]"
        try:
            out.append(normalise_jurisdiction(item))
        except ValueError as e:
            problems.add(path, str(e))
    return list(dict.fromkeys(out))


_BASELINES: dict[str, Policy] = {}


def _baseline(name: str, problems: ProblemCollector) -> Policy:
    cached = _BASELINES.get(name)
    if cached is not None:
        return cached
    available = ("minimum",)
    if name not in available:
        problems.add(
            "baseline",
            f"unknown baseline {shown(name)}{suggest(name, available)}; available: "
            f"{', '.join(map(repr, available))}",
        )
        return _EMPTY
    policy = build_baseline(
        name,
        baseline=_data_text(f"{name}.toml"),
        sources=_data_text("sources.toml"),
        overlays=_data_text("overlays.toml"),
    )
    _BASELINES[name] = policy
    return policy


def build_baseline(name: str, *, baseline: str, sources: str, overlays: str) -> Policy:
    """A baseline policy from the TOML texts of its package data files.

    The baseline must give every field of every rule for every band; sources and
    overlays are checked against each other. Every problem in the three files is
    reported in one :class:`~childsafe.exceptions.ConfigurationError`, each naming its
    file (``childsafe/data/...``).
    """
    base_problems = ProblemCollector(f"childsafe/data/{name}.toml")
    source_problems = ProblemCollector("childsafe/data/sources.toml")
    overlay_problems = ProblemCollector("childsafe/data/overlays.toml")
    citations = _citations(sources, source_problems)
    doc = structure(_toml(baseline, base_problems), ConfigDoc, base_problems, "") or ConfigDoc()
    builder = _Builder(base_problems, citations)
    specs = rule_specs(doc.bands, base_problems)
    rules = _complete_baseline(specs, builder, f"baseline:{name}")
    unknown_age = builder.band(doc.unknown_age or "under_13", "unknown_age", allow_adult=False)
    parsed_overlays = _parse_overlays(overlays, citations, overlay_problems)
    problems = [*source_problems.problems, *base_problems.problems, *overlay_problems.problems]
    if problems:
        raise ConfigurationError(problems)
    return Policy(
        name=name,
        rules=rules,
        unknown_age=unknown_age or AgeBand.UNDER_13,
        jurisdictions=(),
        declarations=frozenset(),
        overlays=parsed_overlays,
        citations=citations,
        source=f"baseline:{name}",
        baseline_rules=rules,
    )


_EMPTY: Final = Policy(
    name="",
    rules={},
    unknown_age=AgeBand.UNDER_13,
    jurisdictions=(),
    declarations=frozenset(),
    overlays={},
    citations={},
    source="",
)


def _config_text(text: object, source: str, kind: str) -> str:
    """``text`` as a str: UTF-8 bytes decoded (tomllib wants a str), anything else a
    ConfigurationError."""
    if isinstance(text, str):
        return text
    if isinstance(text, bytes | bytearray):
        try:
            return bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            raise ConfigurationError([ConfigProblem(source, "", f"not UTF-8: {e}")]) from None
    raise ConfigurationError(
        [ConfigProblem(source, "", f"expected {kind} text, got {type(text).__name__}")]
    )


def load_policy(
    config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
) -> Policy:
    """The built-in ``minimum`` baseline, or that baseline with a config applied.

    ``config`` is a path to a ``.toml``/``.json`` file or an already-parsed mapping.
    Every problem is reported at once in one
    :class:`~childsafe.exceptions.ConfigurationError`.
    """
    if config is None:
        return Policy.baseline()
    if isinstance(config, Mapping):
        return Policy.from_mapping(config)
    return Policy.from_file(config)
