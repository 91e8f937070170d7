"""Hypothesis strategies shared by the test suite."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import strategies as st

from childsafe import SETTINGS, Account, AgeBand, Relationship, TimeWindow
from childsafe._settings import EnumDomain, Setting, SettingValue

POLICY_BANDS = ("under_13", "13_15", "16_17", "adult")

time_windows = st.builds(TimeWindow, st.integers(0, 1439), st.integers(0, 1439))
minutes = st.one_of(st.none(), st.integers(1, 1440))


def values_of(setting: Setting) -> st.SearchStrategy[SettingValue]:
    """Every value of ``setting``'s domain."""
    domain = setting.domain
    if isinstance(domain, EnumDomain):
        return st.sampled_from(domain.values)
    if setting.name == "quiet_hours":
        return st.one_of(st.none(), time_windows)
    return minutes


settings_names = st.sampled_from(tuple(SETTINGS))


@st.composite
def setting_and_values(draw: st.DrawFn, n: int = 2) -> tuple[Setting, list[SettingValue]]:
    setting = SETTINGS[draw(settings_names)]
    return setting, [draw(values_of(setting)) for _ in range(n)]


def raw(setting: Setting, value: SettingValue) -> str | int:
    """``value`` as it is written in a config file."""
    formatted = setting.format(value)
    return value if isinstance(value, int) else formatted


@st.composite
def rule_overrides(draw: st.DrawFn) -> dict[str, Any]:
    """A random override config fragment: some bands, some settings, random fields."""
    bands: dict[str, dict[str, dict[str, Any]]] = {}
    for band in draw(st.lists(st.sampled_from(POLICY_BANDS), unique=True, max_size=4)):
        chosen = draw(st.lists(settings_names, unique=True, min_size=1, max_size=6))
        table: dict[str, dict[str, Any]] = {}
        for name in chosen:
            setting = SETTINGS[name]
            spec: dict[str, Any] = {}
            if draw(st.booleans()):
                spec["default"] = raw(setting, draw(values_of(setting)))
            if draw(st.booleans()):
                spec["floor"] = raw(setting, draw(values_of(setting)))
            if draw(st.booleans()):
                spec["changeable_by"] = draw(st.sampled_from(("nobody", "parent", "self")))
            if draw(st.booleans()):
                spec["prompt_on_loosen"] = draw(st.booleans())
            table[name] = spec
        bands[band] = table
    return {"bands": bands}


relationships = st.builds(
    Relationship,
    connected=st.booleans(),
    follows=st.booleans(),
    mutual_connections=st.integers(0, 50),
    blocked=st.booleans(),
    invited=st.booleans(),
)

jurisdictions = st.sampled_from((None, "GB", "DE", "FR", "US", "US-NY", "US-CA", "AU", "BR", "JP"))


@st.composite
def accounts(draw: st.DrawFn, band: AgeBand | None = None) -> Account:
    return Account(
        id=draw(st.text("abcdefghij", min_size=1, max_size=8)),
        band=band if band is not None else draw(st.sampled_from(tuple(AgeBand))),
        jurisdiction=draw(jurisdictions),
    )


birth_dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2030, 12, 31))


# Parental controls: consent scopes as written in grants.
account_ids = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=40,
)
consent_scopes = st.one_of(
    st.sampled_from(("feed_personalisation:profiled", "data_sharing:on", "personalised_content")),
    account_ids.map(lambda account: f"dm.from:{account}"),
)
scope_texts = st.one_of(
    consent_scopes,
    st.text(max_size=60),
    st.builds(lambda a, b: f"{a}:{b}", settings_names, st.text(max_size=20)),
)
