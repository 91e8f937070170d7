from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from childsafe import SETTINGS, Account, AgeBand, Guard, Policy, Relationship, load_policy
from childsafe.exceptions import ConfigurationError
from childsafe.testing import override_policy
from childsafe.testing import strategies as cst

BASELINE = load_policy()
GUARD = Guard(BASELINE)


class TestStrategies:
    @given(cst.bands(minor=True))
    def test_minor_bands(self, band: AgeBand) -> None:
        """minor=True gives only bands the policy treats as minors."""
        assert band.is_minor

    @given(cst.bands(minor=False), cst.bands(unknown=False))
    def test_adult_and_known_bands(self, adult: AgeBand, known: AgeBand) -> None:
        """minor=False gives adults; unknown=False never gives the unknown band."""
        assert adult is AgeBand.ADULT
        assert known is not AgeBand.UNKNOWN

    @given(cst.accounts(minor=True, jurisdiction=cst.jurisdictions(BASELINE)))
    def test_accounts_are_valid_minors(self, account: Account) -> None:
        """Minor accounts load, and their effective settings never go below a floor."""
        assert account.band.is_minor
        assert account.id.startswith(account.band.value)
        rules = GUARD.rules_for(account)
        effective = GUARD.settings_for(account)
        for name, setting in SETTINGS.items():
            assert setting.le(effective[name], rules[name].floor)

    @given(cst.accounts("13_15", jurisdiction="GB", own_settings=False))
    def test_fixed_band_and_jurisdiction(self, account: Account) -> None:
        """A band and jurisdiction given are used; own_settings=False changes nothing."""
        assert (account.band, account.jurisdiction, dict(account.settings)) == (
            AgeBand.AGE_13_15,
            "GB",
            {},
        )

    @given(cst.relationships(blocked=None))
    def test_relationships(self, relationship: Relationship) -> None:
        """Relationships are valid (mutual counts are never negative)."""
        assert relationship.mutual_connections >= 0

    @given(
        st.sampled_from(tuple(SETTINGS)).flatmap(
            lambda n: st.tuples(st.just(n), cst.setting_values(n))
        )
    )
    def test_setting_values_parse(self, pair: tuple[str, Any]) -> None:
        """Every generated value is in its setting's domain."""
        name, value = pair
        setting = SETTINGS[name]
        assert setting.parse(value if value is not None else "none") == value

    @settings(max_examples=60)
    @given(cst.config_fragments())
    def test_valid_fragments_load(self, fragment: dict[str, Any]) -> None:
        """Valid fragments load as configs and as overrides, and never loosen a floor."""
        loaded = load_policy(fragment)
        for band, rules in loaded.rules.items():
            for name, rule in rules.items():
                setting = SETTINGS[name]
                assert setting.le(rule.floor, BASELINE.rules[band][name].floor)
                assert setting.le(rule.default, rule.floor)
        override_policy(BASELINE, fragment)

    @settings(max_examples=60)
    @given(cst.invalid_config_fragments())
    def test_invalid_fragments_are_refused(self, fragment: dict[str, Any]) -> None:
        """Invalid fragments are refused as configs and as overrides."""
        with pytest.raises(ConfigurationError):
            load_policy(fragment)
        with pytest.raises(ConfigurationError):
            override_policy(BASELINE, fragment)

    @settings(max_examples=20)
    @given(cst.policies(), cst.accounts(minor=True), cst.accounts(band="adult"))
    def test_no_policy_lets_strangers_message_children(
        self, policy: Policy, child: Account, adult: Account
    ) -> None:
        """Whatever a platform configures, a stranger cannot message a child."""
        assert not Guard(policy).check("dm.send", adult, child, Relationship())
