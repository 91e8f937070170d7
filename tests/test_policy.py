from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from childsafe import SETTINGS, AgeBand, ChangeableBy, Policy, Rule, TimeWindow, load_policy
from childsafe._policy import POLICY_BANDS
from childsafe._settings import EnumDomain
from childsafe.exceptions import ConfigurationError, InvalidAgeError, InvalidSettingError
from tests.strategies import rule_overrides, values_of

MINORS = (AgeBand.UNDER_13, AgeBand.AGE_13_15, AgeBand.AGE_16_17)


def _problems(data: dict[str, Any], source: str = "<mapping>") -> list[str]:
    with pytest.raises(ConfigurationError) as info:
        Policy.from_mapping(data, source=source)
    return [str(p) for p in info.value.problems]


def _at_least_as_protective(setting: str, a: Rule, b: Rule) -> bool:
    s = SETTINGS[setting]
    return (
        s.le(a.default, b.default)
        and s.le(a.floor, b.floor)
        and a.changeable_by.rank <= b.changeable_by.rank
        and (a.prompt_on_loosen or not b.prompt_on_loosen)
    )


class TestBaseline:
    def test_every_band_and_setting_has_a_rule(self, policy: Policy) -> None:
        """The minimum baseline gives a full rule for every band and setting."""
        for band in POLICY_BANDS:
            assert set(policy.rules[band]) == set(SETTINGS)

    def test_product_decision_cells(self, policy: Policy) -> None:
        """Spot-check cells of POLICY-BASELINE.md, including prompts and windows."""
        r = policy.rule(AgeBand.AGE_13_15, "profile_visibility")
        assert (r.default, r.floor, r.changeable_by, r.prompt_on_loosen) == (
            "connections",
            "public",
            ChangeableBy.PARENT,
            True,
        )
        r = policy.rule(AgeBand.AGE_16_17, "quiet_hours")
        assert (r.default, r.floor) == (
            TimeWindow.parse("22:00-07:00"),
            TimeWindow.parse("00:00-06:00"),
        )
        r = policy.rule(AgeBand.AGE_16_17, "daily_time_reminder")
        assert (r.default, r.floor) == (60, None)
        assert policy.rule(AgeBand.ADULT, "direct_messages").default == "everyone"

    def test_every_rule_cites_its_sources(self, policy: Policy) -> None:
        """Every minor rule has at least one source, and every source is defined."""
        for band in MINORS:
            for name, rule in policy.rules[band].items():
                assert rule.sources, (band, name)
                assert len(policy.cite(rule.sources)) == len(rule.sources)

    def test_defaults_within_floors(self, policy: Policy) -> None:
        """No default in the baseline is below its own floor."""
        for jurisdiction in (None, *policy.overlay_keys()):
            for band, rules in policy.rules_for(jurisdiction).items():
                for name, rule in rules.items():
                    assert SETTINGS[name].le(rule.default, rule.floor), (jurisdiction, band, name)

    def test_unknown_age_is_under_13(self, policy: Policy) -> None:
        """Unknown ages resolve to the most protective band (fail closed)."""
        assert policy.unknown_age is AgeBand.UNDER_13
        assert policy.rule(AgeBand.UNKNOWN, "direct_messages") == policy.rule(
            AgeBand.UNDER_13, "direct_messages"
        )

    def test_unknown_setting(self, policy: Policy) -> None:
        """Asking for an unknown setting suggests the right name."""
        with pytest.raises(InvalidSettingError, match="did you mean 'tagging'"):
            policy.rule(AgeBand.ADULT, "taging")

    def test_load_policy_none_is_the_baseline(self) -> None:
        """load_policy() with no argument is the built-in minimum baseline."""
        assert load_policy() == Policy.baseline("minimum")

    def test_unknown_baseline(self) -> None:
        """Only built-in baselines can be named, with a suggestion."""
        expected = (
            "<mapping>: baseline: unknown baseline 'minimal'; did you mean 'minimum'?; "
            "available: 'minimum'"
        )
        assert _problems({"baseline": "minimal"}) == [expected]
        with pytest.raises(ConfigurationError, match="unknown baseline"):
            Policy.baseline("strict")


class TestOverlays:
    def test_gb_fourteen_year_old(self, policy: Policy) -> None:
        """In GB a 13-15 account has F1 defaults, a safety prompt and GB's consent age."""
        gb = policy.rules_for("GB")[AgeBand.AGE_13_15]
        assert gb["direct_messages"].prompt_on_loosen
        assert "overlay:GB" in gb["direct_messages"].origin
        assert "ofcom-icu-f2" in gb["direct_messages"].sources
        info = policy.jurisdiction_info("gb")
        assert (info.key, info.age_of_digital_consent, info.overlays) == ("GB", 13, ("GB",))

    def test_f1_floors_need_the_declaration(self, policy: Policy) -> None:
        """ICU F1 turns defaults into floors only for platforms that declare scope."""
        plain = policy.rules_for("GB")[AgeBand.AGE_16_17]["discoverable"]
        assert plain.floor == "mutual_connections"
        declared = Policy.from_mapping({"declarations": ["ofcom_icu_f1_in_scope"]})
        assert declared.rules_for("GB")[AgeBand.AGE_16_17]["discoverable"].floor == "off"

    def test_eu_member_gets_group_and_own_facts(self, policy: Policy) -> None:
        """A German account gets the EU overlay and Germany's age of digital consent."""
        info = policy.jurisdiction_info("DE")
        assert info.overlays == ("EU", "DE")
        assert info.age_of_digital_consent == 16
        rules = policy.rules_for("DE")[AgeBand.AGE_16_17]
        assert rules["personalised_ads"].floor == "off"

    def test_subdivision_falls_back_to_country(self, policy: Policy) -> None:
        """US-NY gets US and US-NY; an unlisted state gets the US overlay only."""
        assert policy.jurisdiction_info("US-NY").overlays == ("US", "US-NY")
        assert policy.rules_for("US-WA") == policy.rules_for("US")
        ny = policy.rules_for("US-NY")[AgeBand.AGE_16_17]["quiet_hours"]
        assert SETTINGS["quiet_hours"].le(ny.floor, TimeWindow.parse("00:00-06:00"))

    def test_minimum_account_age_needs_declaration(self, policy: Policy) -> None:
        """Australia's under-16 ban applies only to declared age-restricted platforms."""
        assert policy.jurisdiction_info("AU").minimum_account_age is None
        declared = Policy.from_mapping({"declarations": ["au_age_restricted_platform"]})
        assert declared.jurisdiction_info("AU").minimum_account_age == 16
        assert policy.jurisdiction_info("US-FL").minimum_account_age == 14

    def test_unknown_jurisdiction_is_the_platform_policy(self, policy: Policy) -> None:
        """A country without an overlay gets the platform-wide rules."""
        assert policy.rules_for("JP") is policy.rules
        assert policy.jurisdiction_info(None).overlays == ()
        platform = Policy.from_mapping({"jurisdiction": "US-NY"})
        assert platform.jurisdiction_info(None).overlays == ("US", "US-NY")

    def test_every_overlay_only_tightens(self, policy: Policy) -> None:
        """For every jurisdiction, every rule is at least as protective as the baseline's."""
        for key in policy.overlay_keys():
            for band in POLICY_BANDS:
                for name in SETTINGS:
                    effective = policy.rules_for(key)[band][name]
                    assert _at_least_as_protective(name, effective, policy.rules[band][name]), (
                        key,
                        band,
                        name,
                    )

    @given(rule_overrides(), st.sampled_from(["GB", "DE", "US-NY", "US-TX", "BR", "AU"]))
    def test_overlays_never_loosen_any_policy(self, data: dict[str, Any], key: str) -> None:
        """Property: over random valid policies, an overlay never loosens any rule."""
        try:
            policy = Policy.from_mapping(data)
        except ConfigurationError:
            return
        effective = policy.rules_for(key)
        for band in POLICY_BANDS:
            for name in SETTINGS:
                assert _at_least_as_protective(
                    name, effective[band][name], policy.rules[band][name]
                )


class TestOverrides:
    def test_tighten_anything(self) -> None:
        """A config may tighten a default and a floor, and restrict who may change it."""
        p = Policy.from_mapping(
            {
                "bands": {
                    "16_17": {
                        "comments": {"default": "nobody", "changeable_by": "parent"},
                        "quiet_hours": {"floor": "21:00-07:00", "note": "our sleep policy"},
                    }
                }
            }
        )
        dm = p.rules[AgeBand.AGE_16_17]["comments"]
        assert (dm.default, dm.changeable_by) == ("nobody", ChangeableBy.PARENT)
        assert dm.origin == ("baseline:minimum", "config:<mapping>")
        qh = p.rules[AgeBand.AGE_16_17]["quiet_hours"]
        assert qh.floor == TimeWindow.parse("21:00-07:00")
        assert qh.default == TimeWindow.parse("21:00-07:00"), "raising the floor drags the default"
        assert p.notes[(AgeBand.AGE_16_17, "quiet_hours")] == "our sleep policy"

    def test_loosen_default_down_to_floor(self) -> None:
        """A default may loosen as far as the floor, and no further."""
        p = Policy.from_mapping({"bands": {"13_15": {"profile_visibility": {"default": "public"}}}})
        assert p.rules[AgeBand.AGE_13_15]["profile_visibility"].default == "public"

    def test_loosening_below_floor_names_path_floor_and_standard(self) -> None:
        """The error names the file, path, floor, allowed values and protected standards."""
        [message] = _problems(
            {"bands": {"13_15": {"direct_messages": {"default": "everyone"}}}}, "childsafe.toml"
        )
        assert message.startswith("childsafe.toml: bands.13_15.direct_messages.default: ")
        assert "'everyone' is below the floor 'connections' for 13_15" in message
        assert "allowed: 'nobody', 'connections'" in message
        assert "Ofcom ICU F1" in message

    def test_every_kind_of_loosening_is_refused_at_once(self) -> None:
        """Floors, who-may-change and safety prompts can only be tightened; all errors at once."""
        problems = _problems(
            {
                "bands": {
                    "13_15": {
                        "location_sharing": {"floor": "public"},
                        "profile_visibility": {"prompt_on_loosen": False},
                        "tagging": {"changeable_by": "self"},
                    },
                    "16_17": {"quiet_hours": {"default": "23:00-05:00"}},
                    "under_13": {"daily_time_reminder": {"default": 90}},
                }
            }
        )
        assert len(problems) == 5
        joined = "\n".join(problems)
        assert "bands.13_15.location_sharing.floor: 'public' would loosen the floor" in joined
        assert "bands.13_15.profile_visibility.prompt_on_loosen: the safety prompt" in joined
        assert "bands.13_15.tagging.changeable_by: 'self' would widen" in joined
        assert "allowed: a window containing 22:00-07:00" not in joined
        assert "bands.16_17.quiet_hours.default: '23:00-05:00' is below the floor" in joined
        assert "allowed: a window containing 00:00-06:00" in joined
        assert "allowed: at most 60 minutes" in joined

    def test_default_below_a_new_floor(self) -> None:
        """A default looser than the floor set in the same table is refused."""
        [message] = _problems(
            {
                "bands": {
                    "adult": {"direct_messages": {"floor": "connections", "default": "everyone"}}
                }
            }
        )
        assert "below the floor you set 'connections'" in message

    def test_misspellings_get_did_you_mean(self) -> None:
        """Unknown keys, bands, settings and values suggest the closest valid name."""
        problems = _problems(
            {
                "jurisdicton": "GB",
                "bands": {
                    "13-15": {"direct_messages": {"default": "nobody"}},
                    "16_17": {
                        "direct_message": {"default": "nobody"},
                        "tagging": {"defualt": "nobody"},
                        "comments": {"default": "connection"},
                        "purchases": {"changeable_by": "parents"},
                    },
                },
            }
        )
        joined = "\n".join(problems)
        assert "jurisdicton: unknown key 'jurisdicton'; did you mean 'jurisdiction'?" in joined
        assert (
            "bands.13-15: unknown age band '13-15'" in joined and "did you mean '13_15'" in joined
        )
        assert (
            "bands.16_17.direct_message: unknown setting 'direct_message'; did you mean" in joined
        )
        assert (
            "bands.16_17.tagging.defualt: unknown key 'defualt'; did you mean 'default'?" in joined
        )
        assert "bands.16_17.comments.default: 'connection' is not one of" in joined
        assert "did you mean 'connections'" in joined
        assert "bands.16_17.purchases.changeable_by: 'parents' is not one of" in joined

    def test_types_are_not_coerced(self) -> None:
        """'yes' is not a boolean and a table is not a value: both are reported with paths."""
        problems = _problems(
            {
                "declarations": "ofcom_icu_f1_in_scope",
                "bands": {
                    "13_15": {
                        "comments": {"prompt_on_loosen": "yes", "default": {"x": 1}},
                        "tagging": "nobody",
                    }
                },
            }
        )
        joined = "\n".join(problems)
        assert "bands.13_15.comments.prompt_on_loosen: expected true or false, got 'yes'" in joined
        assert "bands.13_15.comments.default: expected a setting value" in joined
        assert "bands.13_15.tagging: expected a table, got 'nobody' (a string)" in joined
        assert "declarations: expected a list of strings, got 'ofcom_icu_f1_in_scope'" in joined

    def test_structure_errors_at_every_level(self) -> None:
        """Wrong shapes for jurisdictions, declarations, bands and band tables are reported."""
        problems = _problems({"jurisdiction": 5, "declarations": ["ok", 3], "bands": 5})
        joined = "\n".join(problems)
        assert "jurisdiction: expected a jurisdiction code or a list of them, got 5" in joined
        assert "declarations: expected a list of strings, but item 1 is 3 (a number)" in joined
        assert "bands: expected a table of age bands, got 5 (a number)" in joined
        [message] = _problems({"bands": {"13_15": "strict"}})
        assert message.endswith(
            "bands.13_15: expected a table of settings such as "
            "[bands.13_15.direct_messages], got 'strict' (a string)"
        )

    def test_json_null_means_absent(self) -> None:
        """A JSON null leaves a field as the baseline has it."""
        p = Policy.from_json('{"bands": {"16_17": {"comments": {"default": null}}}}')
        assert p.rules[AgeBand.AGE_16_17]["comments"].default == "connections"

    def test_unknown_age_must_be_a_minor_band(self) -> None:
        """An unknown age can resolve to another minor band, never to adult."""
        assert Policy.from_mapping({"unknown_age": "13_15"}).unknown_age is AgeBand.AGE_13_15
        [message] = _problems({"unknown_age": "adult"})
        assert "never 'adult'" in message
        [message] = _problems({"unknown_age": "unknown"})
        assert "unknown_age" in message

    def test_sources_are_not_overridable(self) -> None:
        """Citations come from the baseline and overlays; a config explains itself with note."""
        [message] = _problems({"bands": {"adult": {"tagging": {"sources": ["mine"]}}}})
        assert "use `note`" in message

    def test_jurisdictions_and_declarations_are_checked(self) -> None:
        """Malformed codes, codes without an overlay and unknown declarations are reported."""
        problems = _problems(
            {
                "jurisdiction": ["GB", "Britain", "ZZ", "JP"],
                "declarations": ["ofcom_icu_f1_inscope"],
            }
        )
        joined = "\n".join(problems)
        assert "jurisdiction[1]: jurisdiction 'Britain' is not an ISO 3166-1 alpha-2" in joined
        assert "jurisdiction[2]: jurisdiction 'ZZ': 'ZZ' is not an ISO 3166-1" in joined
        assert "no overlay is known for 'JP'" in joined
        assert "did you mean 'ofcom_icu_f1_in_scope'" in joined

    def test_platform_jurisdiction_applies_to_everyone(self) -> None:
        """`jurisdiction` applies its overlay to every account, and overrides meet its floors."""
        p = Policy.from_mapping({"jurisdiction": "gb", "declarations": ["ofcom_icu_f1_in_scope"]})
        assert p.jurisdictions == ("GB",)
        assert p.rules[AgeBand.AGE_16_17]["discoverable"].floor == "off"
        [message] = _problems(
            {
                "jurisdiction": "GB",
                "declarations": ["ofcom_icu_f1_in_scope"],
                "bands": {"16_17": {"discoverable": {"default": "mutual_connections"}}},
            }
        )
        assert "below the floor 'off'" in message

    def test_override_cannot_undo_an_account_overlay(self) -> None:
        """An override's looser default is met with the account's jurisdiction overlay."""
        p = Policy.from_mapping({"bands": {"16_17": {"engagement_features": {"default": "on"}}}})
        assert p.rules[AgeBand.AGE_16_17]["engagement_features"].default == "on"
        assert p.rules_for("FR")[AgeBand.AGE_16_17]["engagement_features"].default == "off"

    @given(rule_overrides())
    def test_random_overrides_never_loosen_a_floor(self, data: dict[str, Any]) -> None:
        """Property: any override either fails with paths inside it, or keeps every floor."""
        base = load_policy()
        try:
            policy = Policy.from_mapping(data)
        except ConfigurationError as e:
            given_paths = {
                f"bands.{band}.{name}" for band, table in data["bands"].items() for name in table
            }
            for problem in e.problems:
                assert any(problem.path.startswith(p) for p in given_paths), problem
            return
        for band in POLICY_BANDS:
            for name, rule in policy.rules[band].items():
                old = base.rules[band][name]
                s = SETTINGS[name]
                assert s.le(rule.floor, old.floor)
                assert s.le(rule.default, rule.floor)
                assert rule.changeable_by.rank <= old.changeable_by.rank
                assert rule.prompt_on_loosen or not old.prompt_on_loosen

    @given(st.data())
    def test_tightening_overrides_always_load(self, data: st.DataObject) -> None:
        """Property: an override choosing values at least as protective as the floor loads."""
        base = load_policy()
        band = data.draw(st.sampled_from(POLICY_BANDS))
        name = data.draw(st.sampled_from(tuple(SETTINGS)))
        setting = SETTINGS[name]
        floor = base.rules[band][name].floor
        value = data.draw(values_of(setting).filter(lambda v: setting.le(v, floor)))
        raw = value if isinstance(value, int) else setting.format(value)
        policy = Policy.from_mapping({"bands": {band.value: {name: {"default": raw}}}})
        assert policy.rules[band][name].default == value


class TestFiles:
    def test_toml_file(self, tmp_path: Path) -> None:
        """A TOML file loads, and the error source is the file name."""
        path = tmp_path / "childsafe.toml"
        path.write_text('jurisdiction = "GB"\n[bands.13_15.direct_messages]\ndefault = "nobody"\n')
        policy = load_policy(path)
        assert policy.rules[AgeBand.AGE_13_15]["direct_messages"].default == "nobody"
        assert policy.source == str(path)
        path.write_text('[bands.13_15.direct_messages]\ndefault = "everyone"\n')
        with pytest.raises(ConfigurationError) as info:
            load_policy(str(path))
        assert info.value.problems[0].source == str(path)
        assert str(info.value).startswith(f"{path}: bands.13_15.direct_messages.default:")

    def test_json_file_and_mapping(self, tmp_path: Path) -> None:
        """JSON files and plain mappings give the same policy as TOML."""
        data = {"bands": {"16_17": {"comments": {"default": "nobody"}}}}
        path = tmp_path / "policy.json"
        path.write_text(json.dumps(data))
        from_file, from_mapping = load_policy(path), load_policy(data)
        assert from_file.rules[AgeBand.AGE_16_17]["comments"].default == "nobody"
        for band in POLICY_BANDS:
            for name in SETTINGS:
                a, b = from_file.rules[band][name], from_mapping.rules[band][name]
                assert (a.default, a.floor, a.changeable_by) == (
                    b.default,
                    b.floor,
                    b.changeable_by,
                )

    @pytest.mark.parametrize(
        ("name", "content", "message"),
        [
            ("bad.toml", "[bands\n", "invalid TOML"),
            ("bad.json", "{", "invalid JSON"),
            ("list.json", "[1, 2]", "top level must be an object"),
            ("policy.yaml", "a: 1", "must end in .toml or .json"),
            ("latin1.toml", b"name = '\xe9'", "cannot read"),
        ],
    )
    def test_unreadable_files(
        self, tmp_path: Path, name: str, content: str | bytes, message: str
    ) -> None:
        """Syntax errors, wrong formats and undecodable files are ConfigurationErrors."""
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        with pytest.raises(ConfigurationError, match=message):
            load_policy(path)

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file says so, naming it."""
        with pytest.raises(ConfigurationError, match="no such file"):
            load_policy(tmp_path / "nope.toml")

    def test_mapping_must_be_a_table(self) -> None:
        """A non-mapping config is refused with its type."""
        with pytest.raises(ConfigurationError, match="expected a table of settings, got list"):
            Policy.from_mapping([1, 2])  # type: ignore[arg-type]

    def test_multiple_problems_message_lists_each(self) -> None:
        """With several problems the message counts them and lists one per line."""
        with pytest.raises(ConfigurationError) as info:
            Policy.from_mapping({"bands": {"x": {}, "y": {}}})
        text = str(info.value)
        assert text.startswith(
            "2 problems in the childsafe configuration:\n  - <mapping>: bands.x:"
        )
        assert isinstance(info.value, ValueError)


def test_enum_domains_list_values() -> None:
    """Every enumerated setting has at least two values."""
    for setting in SETTINGS.values():
        if isinstance(setting.domain, EnumDomain):
            assert len(setting.domain.values) >= 2


class TestApiInputs:
    @pytest.mark.parametrize("band", ["unknown", AgeBand.UNKNOWN])
    def test_rule_for_unknown_by_name_or_band(self, band: AgeBand | str) -> None:
        """'unknown' by name resolves as AgeBand.UNKNOWN does (it was a KeyError)."""
        policy = Policy.from_mapping({"unknown_age": "13_15"})
        assert policy.rule(band, "direct_messages") == policy.rule(
            AgeBand.AGE_13_15, "direct_messages"
        )

    @pytest.mark.parametrize("band", ["teen", "ADULT", ["13_15"]])
    def test_rule_for_a_band_that_is_not_one(self, band: object) -> None:
        with pytest.raises(InvalidAgeError, match="unknown age band"):
            Policy.baseline().rule(band, "direct_messages")  # type: ignore[arg-type]

    def test_toml_bytes_as_read_from_a_binary_file(self, tmp_path: Path) -> None:
        """tomllib reads files opened in binary, so TOML bytes are taken (as JSON bytes
        were); bytes that are not UTF-8 are a ConfigurationError naming the source."""
        path = tmp_path / "childsafe.toml"
        path.write_text('jurisdiction = "GB"\n', encoding="utf-8")
        assert Policy.from_toml(path.read_bytes()).jurisdictions == ("GB",)
        with pytest.raises(ConfigurationError, match=r"^c\.toml: not UTF-8"):
            Policy.from_toml(b'name = "\xe9"\n', source="c.toml")

    @pytest.mark.parametrize(
        ("load", "kind"), [(Policy.from_toml, "TOML"), (Policy.from_json, "JSON")]
    )
    @pytest.mark.parametrize("text", [None, 5, {"jurisdiction": "GB"}])
    def test_text_that_is_not_text(self, load: Any, kind: str, text: object) -> None:
        """A mapping or None where the text belongs is a ConfigurationError pointing at
        what is expected (it was a TypeError from len())."""
        with pytest.raises(ConfigurationError, match=f"^c: expected {kind} text, got "):
            load(text, source="c")
