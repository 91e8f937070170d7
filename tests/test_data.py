"""The package data (baseline, sources, overlays) and the checks that guard it."""

from __future__ import annotations

from importlib import resources

import pytest

from childsafe import SETTINGS, AgeBand
from childsafe._policy import build_baseline
from childsafe.exceptions import ConfigurationError

DATA = resources.files("childsafe").joinpath("data")
BASELINE = DATA.joinpath("minimum.toml").read_text(encoding="utf-8")
SOURCES = DATA.joinpath("sources.toml").read_text(encoding="utf-8")
OVERLAYS = DATA.joinpath("overlays.toml").read_text(encoding="utf-8")


def _errors(*, baseline: str = BASELINE, sources: str = SOURCES, overlays: str = OVERLAYS) -> str:
    with pytest.raises(ConfigurationError) as info:
        build_baseline("minimum", baseline=baseline, sources=sources, overlays=overlays)
    return "\n".join(str(p) for p in info.value.problems)


class TestShippedData:
    def test_builds(self) -> None:
        """The shipped files build into a policy with every citation defined."""
        policy = build_baseline("minimum", baseline=BASELINE, sources=SOURCES, overlays=OVERLAYS)
        assert policy.unknown_age is AgeBand.UNDER_13
        assert all(c.url.startswith("https://") for c in policy.citations.values())
        assert {"GB", "EU", "DE", "US", "US-NY", "AU", "BR"} <= set(policy.overlay_keys())

    def test_least_protective_values(self) -> None:
        """Adults default to each setting's least protective value."""
        policy = build_baseline("minimum", baseline=BASELINE, sources=SOURCES, overlays=OVERLAYS)
        for name, setting in SETTINGS.items():
            assert policy.rules[AgeBand.ADULT][name].default == setting.least_protective


class TestBrokenData:
    def test_toml_syntax(self) -> None:
        """A syntax error names the data file."""
        assert "childsafe/data/overlays.toml: invalid TOML" in _errors(overlays="[GB\n")

    def test_incomplete_rule_and_band(self) -> None:
        """A baseline must give every field for every setting and every band."""
        text = BASELINE.replace(
            '[bands.adult.tagging]\ndefault = "everyone"\n', "[bands.adult.tagging]\n"
        )
        errors = _errors(baseline=text)
        assert "minimum.toml: bands.adult.tagging: a baseline rule needs default" in errors
        errors = _errors(baseline=BASELINE.split("[bands.adult.")[0])
        assert "bands: missing rules for band 'adult'" in errors

    def test_missing_settings_listed(self) -> None:
        """A band without some settings lists them."""
        start = BASELINE.index("[bands.adult.quiet_hours]")
        end = BASELINE.index("[bands.adult.daily_time_reminder]")
        errors = _errors(baseline=BASELINE[:start] + BASELINE[end:])
        assert "bands.adult: missing rules for quiet_hours" in errors

    def test_default_looser_than_floor(self) -> None:
        """A baseline rule whose default is below its own floor is refused."""
        text = BASELINE.replace(
            '[bands.under_13.tagging]\ndefault = "nobody"',
            '[bands.under_13.tagging]\ndefault = "everyone"',
        )
        assert "bands.under_13.tagging.default: default 'everyone' is less protective" in _errors(
            baseline=text
        )

    def test_bad_values_bands_settings_and_sources(self) -> None:
        """Unknown bands, settings, values, who-may-change and sources are all reported."""
        text = BASELINE.replace("[bands.adult.tagging]", "[bands.grownup.tagging]", 1)
        text = text.replace('changeable_by = "nobody"', 'changeable_by = "nobdy"', 1)
        text = text.replace(
            '[bands.under_13.comments]\ndefault = "connections"',
            '[bands.under_13.comments]\ndefault = "friends"',
        )
        text = text.replace('"ico-std-7"', '"ico-std-77"', 1)
        text = text.replace("[bands.adult.comments]", "[bands.adult.commments]", 1)
        errors = _errors(baseline=text)
        assert "unknown age band 'grownup'" in errors
        assert "'nobdy' is not one of 'nobody', 'parent', 'self'; did you mean 'nobody'?" in errors
        assert "bands.under_13.comments.default: 'friends' is not one of" in errors
        assert "unknown source 'ico-std-77'" in errors
        assert "unknown setting 'commments'" in errors

    def test_unknown_age_must_be_minor(self) -> None:
        """The baseline's unknown age must name a minor band."""
        text = BASELINE.replace('unknown_age = "under_13"', 'unknown_age = "adult"')
        assert "unknown_age: unknown age band 'adult'" in _errors(baseline=text)

    def test_sources_schema(self) -> None:
        """A source table with a missing field or a table that is not one is reported."""
        errors = _errors(sources='[s1]\nlabel = "x"\n[s2]\nlabel = 3\n' + SOURCES + "s3 = 5\n")
        assert "childsafe/data/sources.toml: s1.title: required key 'title' is missing" in errors
        assert "s2.label: expected a string, got 3 (a number)" in errors

    def test_overlay_problems(self) -> None:
        """Overlay rules with bad bands, settings, values, parents or sources are reported."""
        overlays = """
[XX]
title = "Test"
member_of = ["ZZ"]
sources = ["nope"]

[[XX.rules]]
bands = ["teens"]
settings = ["direct_messages", "quiet_hours"]
default = "nobody"
floor = 5
changeable_by = "everyone"
sources = []

[YY]
sources = []

[WW]
title = "W"
sources = []
rules = [{ bands = ["adult"], settings = ["dm"], sources = [] }]

[VV]
title = "V"
sources = []
rules = [
    { bands = [], settings = [], sources = [] },
    { bands = [], settings = [], sources = [], wen = "x" },
    5,
]
"""
        errors = _errors(overlays=overlays)
        assert "XX.member_of: unknown overlay 'ZZ'" in errors
        assert "XX.sources[0]: unknown source 'nope'" in errors
        assert "XX.rules[0].bands: unknown age band 'teens'" in errors
        assert "XX.rules[0].default: expected a daily window" in errors
        assert "XX.rules[0].floor: 5 is not one of 'nobody'" in errors
        assert "XX.rules[0].changeable_by: 'everyone' is not one of" in errors
        assert "YY.title: required key 'title' is missing" in errors
        assert "WW.rules[0].settings: unknown setting 'dm'" in errors
        assert "VV.rules[1].wen: unknown key 'wen'; did you mean 'when'?" in errors
        assert "VV.rules[2]: expected a table here" in errors
