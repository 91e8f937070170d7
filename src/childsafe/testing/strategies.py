"""Hypothesis strategies for property-testing code against the policy.

Needs ``pip install 'childsafe[testing]'`` (hypothesis); nothing else in childsafe
imports this module.

>>> from hypothesis import given
>>> from childsafe import Guard
>>> from childsafe.testing import strategies as cst
>>> guard = Guard()
>>> @given(cst.accounts(minor=True), cst.accounts(band="adult"), cst.relationships())
... def test_strangers_never_message_children(child, adult, relationship):
...     if not relationship.connected:
...         assert not guard.check("dm.send", adult, child, relationship)
>>> test_strangers_never_message_children()

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import string
from typing import Any

from hypothesis import strategies as st

from childsafe._bands import AgeBand
from childsafe._model import Account, Relationship
from childsafe._policy import POLICY_BANDS, Policy, load_policy
from childsafe._settings import SETTINGS, EnumDomain, Setting, SettingValue, TimeWindow
from childsafe.testing._overrides import override_policy

__all__ = [
    "accounts",
    "bands",
    "config_fragments",
    "invalid_config_fragments",
    "jurisdictions",
    "policies",
    "relationships",
    "setting_values",
    "time_windows",
]

_MINORS = (AgeBand.UNDER_13, AgeBand.AGE_13_15, AgeBand.AGE_16_17, AgeBand.UNKNOWN)


def bands(*, minor: bool | None = None, unknown: bool = True) -> st.SearchStrategy[AgeBand]:
    """Age bands: all of them, only minors (``minor=True``, ``unknown`` counts as one)
    or only adults (``minor=False``)."""
    if minor is False:
        return st.just(AgeBand.ADULT)
    choices = _MINORS if minor else (*POLICY_BANDS, AgeBand.UNKNOWN)
    return st.sampled_from([b for b in choices if unknown or b is not AgeBand.UNKNOWN])


def jurisdictions(policy: Policy | None = None) -> st.SearchStrategy[str | None]:
    """``None``, a jurisdiction with an overlay in ``policy`` (default: the baseline)
    or one without (``JP``, ``CA-QC``)."""
    keys = sorted((policy or load_policy()).overlay_keys())
    return st.one_of(st.none(), st.sampled_from(keys), st.sampled_from(("JP", "CA-QC", "NZ")))


time_windows: st.SearchStrategy[TimeWindow] = st.builds(
    TimeWindow, st.integers(0, 1439), st.integers(0, 1439)
)
"""Daily windows (possibly wrapping past midnight, or the whole day)."""


def setting_values(setting: Setting | str) -> st.SearchStrategy[SettingValue]:
    """Every value of the setting's domain (``None`` included where it has one)."""
    chosen = SETTINGS[setting] if isinstance(setting, str) else setting
    domain = chosen.domain
    if isinstance(domain, EnumDomain):
        return st.sampled_from(domain.values)
    if chosen.name == "quiet_hours":
        return st.one_of(st.none(), time_windows)
    return st.one_of(st.none(), st.integers(1, 1440))


def relationships(*, blocked: bool | None = False) -> st.SearchStrategy[Relationship]:
    """Relationships between two accounts (``blocked=None``: blocked or not)."""
    return st.builds(
        Relationship,
        connected=st.booleans(),
        follows=st.booleans(),
        mutual_connections=st.integers(0, 50),
        blocked=st.booleans() if blocked is None else st.just(blocked),
        invited=st.booleans(),
    )


@st.composite
def accounts(
    draw: st.DrawFn,
    band: AgeBand | str | None = None,
    *,
    minor: bool | None = None,
    jurisdiction: str | st.SearchStrategy[str | None] | None = None,
    own_settings: bool = True,
) -> Account:
    """Accounts in ``band`` (or any band, or minors only with ``minor=True``), in
    ``jurisdiction`` (a value or a strategy; default: :func:`jurisdictions`), with
    settings their holder or a parent changed when ``own_settings`` (any value of the
    domain: the policy clamps them). Ids start with the band (``13_15-x7``)."""
    chosen = AgeBand.parse(band) if isinstance(band, str) else band
    if chosen is None:
        chosen = draw(bands(minor=minor))
    if isinstance(jurisdiction, st.SearchStrategy):
        where = draw(jurisdiction)
    else:
        where = jurisdiction if jurisdiction is not None else draw(jurisdictions())
    changed: dict[str, Any] = {}
    if own_settings:
        for name in draw(st.lists(st.sampled_from(tuple(SETTINGS)), unique=True, max_size=4)):
            changed[name] = _raw(SETTINGS[name], draw(setting_values(name)))
    ident = draw(st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=12))
    # The band in the id: accounts of different bands never share one.
    return Account(id=f"{chosen.value}-{ident}", band=chosen, jurisdiction=where, settings=changed)


def _raw(setting: Setting, value: SettingValue) -> str | int:
    return value if isinstance(value, int) else setting.format(value)


def _at_least_as_protective(setting: Setting, bound: SettingValue) -> st.SearchStrategy[Any]:
    """Values ``v`` with ``setting.le(v, bound)``, as written in a config file."""
    domain = setting.domain
    if isinstance(domain, EnumDomain):
        return st.sampled_from([v for v in domain.values if setting.le(v, bound)])
    if setting.name == "quiet_hours":
        if bound is None:
            return st.one_of(st.just("none"), time_windows.map(str))
        return time_windows.map(lambda w: str(setting.meet(w, bound)))
    if bound is None:
        return st.one_of(st.just("none"), st.integers(1, 1440))
    assert isinstance(bound, int)
    return st.integers(1, bound)


@st.composite
def config_fragments(draw: st.DrawFn, policy: Policy | None = None) -> dict[str, Any]:
    """Config fragments that ``override_policy(policy, fragment)`` accepts: for some
    bands and settings, a floor no looser than the current one, a default no looser
    than that floor, a narrower ``changeable_by`` and a prompt never switched off.
    Over the baseline (the default), they are valid configs for :func:`~childsafe.load_policy`."""
    base = policy or load_policy()
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for band in draw(st.lists(st.sampled_from(POLICY_BANDS), unique=True, max_size=3)):
        names = draw(
            st.lists(st.sampled_from(tuple(SETTINGS)), unique=True, min_size=1, max_size=4)
        )
        table: dict[str, dict[str, Any]] = {}
        for name in names:
            setting, rule = SETTINGS[name], base.rules[band][name]
            spec: dict[str, Any] = {}
            floor = rule.floor
            if draw(st.booleans()):
                spec["floor"] = draw(_at_least_as_protective(setting, rule.floor))
                floor = setting.parse(spec["floor"])
            if draw(st.booleans()):
                spec["default"] = draw(_at_least_as_protective(setting, floor))
            if draw(st.booleans()):
                order = ["nobody", "parent", "self"]
                allowed = order[: order.index(rule.changeable_by.value) + 1]
                spec["changeable_by"] = draw(st.sampled_from(allowed))
            if draw(st.booleans()):
                spec["prompt_on_loosen"] = True if rule.prompt_on_loosen else draw(st.booleans())
            table[name] = spec
        out[band.value] = table
    return {"bands": out}


def _loosening(setting: Setting, floor: SettingValue) -> list[Any]:
    domain = setting.domain
    if isinstance(domain, EnumDomain):
        return [v for v in domain.values if not setting.le(v, floor)]
    if floor is None:
        return []
    return ["none"]


@st.composite
def invalid_config_fragments(draw: st.DrawFn, policy: Policy | None = None) -> dict[str, Any]:
    """Config fragments that ``override_policy(policy, fragment)`` (and, over the
    baseline, :func:`~childsafe.load_policy`) refuse with a
    :class:`~childsafe.exceptions.ConfigurationError`: a valid fragment with one
    defect added (a default or floor below the floor, a misspelt key, band or
    setting, a value of the wrong type, or a prompt switched off)."""
    base = policy or load_policy()
    fragment = draw(config_fragments(base))
    bands_table: dict[str, Any] = fragment["bands"]
    loosenable = [
        (band, name)
        for band in POLICY_BANDS
        for name in SETTINGS
        if _loosening(SETTINGS[name], base.rules[band][name].floor)
    ]
    prompted = [
        (band, name)
        for band in POLICY_BANDS
        for name in SETTINGS
        if base.rules[band][name].prompt_on_loosen
    ]
    kinds = ["below_floor", "unknown_key", "unknown_band", "unknown_setting", "wrong_type"]
    if prompted:
        kinds.append("prompt_off")
    kind = draw(st.sampled_from(kinds if loosenable else kinds[1:]))
    if kind in ("below_floor", "prompt_off"):
        band, name = draw(st.sampled_from(loosenable if kind == "below_floor" else prompted))
        if kind == "below_floor":
            field = draw(st.sampled_from(("default", "floor")))
            value = draw(st.sampled_from(_loosening(SETTINGS[name], base.rules[band][name].floor)))
            spec = {field: value}
        else:
            spec = {"prompt_on_loosen": False}
        bands_table.setdefault(band.value, {})[name] = spec
    elif kind == "unknown_key":
        fragment[draw(st.sampled_from(("band", "bandz", "polcy", "overrides")))] = {}
    elif kind == "unknown_band":
        bands_table[draw(st.sampled_from(("13-15", "teen", "under13", "child")))] = {}
    elif kind == "unknown_setting":
        table = bands_table.setdefault(draw(st.sampled_from(POLICY_BANDS)).value, {})
        table[draw(st.sampled_from(("direct_message", "dms", "location")))] = {"default": "off"}
    else:
        name = draw(st.sampled_from(tuple(SETTINGS)))
        value = draw(st.sampled_from((True, 1.5, ["off"], {"x": 1})))
        bands_table.setdefault(draw(st.sampled_from(POLICY_BANDS)).value, {})[name] = {
            "default": value
        }
    return fragment


def policies(base: Policy | None = None) -> st.SearchStrategy[Policy]:
    """Policies that a platform could load: ``base`` (default: the baseline) with a
    random valid fragment from :func:`config_fragments` applied."""
    start = base or load_policy()
    return config_fragments(start).map(lambda f: override_policy(start, f, source="<strategy>"))
