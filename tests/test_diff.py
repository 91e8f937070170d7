from __future__ import annotations

import doctest
from typing import Any

import pytest

import childsafe._diff
import childsafe._render
from childsafe import AgeBand, ChangeableBy, Policy, TimeWindow
from childsafe._diff import PolicyDiff, RuleChange, diff_policies


def _config(band: str, setting: str, **fields: Any) -> Policy:
    """A policy built from a one-rule config over the built-in baseline."""
    return Policy.from_mapping({"bands": {band: {setting: fields}}}, source=f"{setting}.toml")


@pytest.fixture(name="baseline")
def _baseline() -> Policy:
    return Policy.baseline()


class TestDiffPolicies:
    def test_identical_policies_have_no_changes(self, baseline: Policy) -> None:
        """A policy compared with itself changes nothing."""
        diff = diff_policies(baseline, baseline)

        assert diff.changes == ()
        assert diff.loosened == ()
        assert diff.tightened == ()
        assert diff.unknown_age is None
        assert (diff.old_source, diff.new_source) == ("baseline:minimum", "baseline:minimum")

    def test_tightened_default(self, baseline: Policy) -> None:
        """A more protective default is reported as tightening, with both values."""
        new = _config("16_17", "direct_messages", default="nobody")

        diff = diff_policies(baseline, new)

        assert diff.changes == (
            RuleChange(
                field="default",
                band=AgeBand.AGE_16_17,
                setting="direct_messages",
                old="connections",
                new="nobody",
                direction="tightens",
            ),
        )
        assert diff.tightened == diff.changes
        assert diff.loosened == ()
        assert diff.new_source == "direct_messages.toml"

    def test_default_loosened_within_the_floor(self, baseline: Policy) -> None:
        """A default moved towards its floor is loosening even though the config is valid."""
        new = _config("13_15", "profile_visibility", default="public")

        (change,) = diff_policies(baseline, new).changes

        assert change.direction == "loosens"
        assert change.loosens
        assert (change.old, change.new) == ("connections", "public")

    def test_floor_in_both_directions(self, baseline: Policy) -> None:
        """Raising a floor tightens; going back to the baseline floor loosens."""
        stricter = _config("13_15", "live_streaming", floor="off")

        forward = diff_policies(baseline, stricter)
        backward = diff_policies(stricter, baseline)

        assert [(c.field, c.direction) for c in forward.changes] == [("floor", "tightens")]
        assert [(c.field, c.direction, c.old, c.new) for c in backward.changes] == [
            ("floor", "loosens", "off", "connections")
        ]

    def test_changeable_by_in_both_directions(self, baseline: Policy) -> None:
        """Fewer people who may loosen a setting tightens; more loosens."""
        parent_only = _config("16_17", "contact_sync", changeable_by="parent")

        (forward,) = diff_policies(baseline, parent_only).changes
        (backward,) = diff_policies(parent_only, baseline).changes

        assert (forward.field, forward.direction) == ("changeable_by", "tightens")
        assert (forward.old, forward.new) == (ChangeableBy.SELF, ChangeableBy.PARENT)
        assert (backward.direction, backward.new) == ("loosens", ChangeableBy.SELF)

    def test_prompt_on_loosen_in_both_directions(self, baseline: Policy) -> None:
        """Adding the safety prompt tightens; dropping it loosens."""
        prompted = _config("16_17", "contact_sync", prompt_on_loosen=True)

        (forward,) = diff_policies(baseline, prompted).changes
        (backward,) = diff_policies(prompted, baseline).changes

        assert (forward.field, forward.direction) == ("prompt_on_loosen", "tightens")
        assert (backward.direction, backward.old, backward.new) == ("loosens", True, False)

    def test_changes_are_ordered_by_band_setting_and_field(self, baseline: Policy) -> None:
        """Changes come youngest band first, then in catalogue order, then by field."""
        new = Policy.from_mapping(
            {
                "bands": {
                    "16_17": {"contact_sync": {"prompt_on_loosen": True, "floor": "off"}},
                    "13_15": {"purchases": {"floor": "parent_approval"}},
                    "under_13": {"tagging": {"floor": "nobody"}},
                }
            }
        )

        diff = diff_policies(baseline, new)

        assert [(c.band.value, c.setting, c.field) for c in diff.changes] == [
            ("under_13", "tagging", "floor"),
            ("13_15", "purchases", "floor"),
            ("16_17", "contact_sync", "floor"),
            ("16_17", "contact_sync", "prompt_on_loosen"),
        ]


class TestQuietHoursWindows:
    @pytest.mark.parametrize(
        ("window", "direction", "comparable"),
        [
            ("21:00-08:00", "tightens", True),  # contains 22:00-07:00
            ("23:00-06:00", "loosens", True),  # inside 22:00-07:00
            ("21:00-06:00", "loosens", False),  # earlier start, earlier end: neither contains
            ("23:00-08:00", "loosens", False),
        ],
    )
    def test_window_changes(
        self, baseline: Policy, window: str, direction: str, comparable: bool
    ) -> None:
        """A window that contains the old one tightens; anything else loosens."""
        new = _config("16_17", "quiet_hours", default=window)

        (change,) = diff_policies(baseline, new).changes

        assert change.old == TimeWindow.parse("22:00-07:00")
        assert change.new == TimeWindow.parse(window)
        assert (change.direction, change.comparable) == (direction, comparable)

    def test_adding_quiet_hours_tightens(self, baseline: Policy) -> None:
        """Quiet hours where there were none is tightening."""
        new = _config("adult", "quiet_hours", default="23:00-06:00")

        (change,) = diff_policies(baseline, new).changes

        assert (change.old, change.direction) == (None, "tightens")
        assert change.to_dict()["old"] == "none"
        assert change.to_dict()["new"] == "23:00-06:00"

    def test_incomparable_change_says_so(self, baseline: Policy) -> None:
        """The text of an incomparable change says why it counts as loosening."""
        new = _config("16_17", "quiet_hours", default="21:00-06:00")

        (change,) = diff_policies(baseline, new).changes

        assert str(change) == (
            "16_17 quiet_hours default: 22:00-07:00 -> 21:00-06:00 loosens (windows not comparable)"
        )


class TestUnknownAge:
    def test_resolving_unknown_ages_to_an_older_band_loosens(self, baseline: Policy) -> None:
        """Changing `unknown_age` compares the rules unknown ages get, as band `unknown`."""
        new = Policy.from_mapping({"unknown_age": "13_15"})

        diff = diff_policies(baseline, new)

        assert diff.unknown_age == (AgeBand.UNDER_13, AgeBand.AGE_13_15)
        assert {c.band for c in diff.changes} == {AgeBand.UNKNOWN}
        dm = [c for c in diff.changes if c.setting == "direct_messages"]
        assert [(c.field, c.direction) for c in dm] == [("changeable_by", "tightens")]
        floors = {c.setting for c in diff.loosened if c.field == "floor"}
        assert {"profile_visibility", "location_sharing", "purchases"} <= floors
        assert diff.to_dict()["unknown_age"] == {"old": "under_13", "new": "13_15"}

    def test_same_unknown_band_adds_no_unknown_rows(self, baseline: Policy) -> None:
        """While unknown ages resolve to the same band, its changes are listed once."""
        new = _config("under_13", "tagging", floor="nobody")

        diff = diff_policies(baseline, new)

        assert [c.band for c in diff.changes] == [AgeBand.UNDER_13]


class TestJurisdiction:
    def test_overlay_applied_to_both_sides(self, baseline: Policy) -> None:
        """A loosened default that a jurisdiction's overlay tightens again is no change there."""
        new = _config("13_15", "location_sharing", default="connections_coarse")

        everywhere = diff_policies(baseline, new)
        in_gb = diff_policies(baseline, new, jurisdiction="gb")

        assert [c.direction for c in everywhere.changes] == ["loosens"]
        assert in_gb.changes == ()
        assert in_gb.jurisdiction == "GB"
        assert everywhere.jurisdiction is None

    def test_malformed_jurisdiction(self, baseline: Policy) -> None:
        """A jurisdiction that is not an ISO code is a ValueError."""
        with pytest.raises(ValueError, match="ISO 3166-1"):
            diff_policies(baseline, baseline, jurisdiction="Britain")


class TestRendering:
    def test_values_as_written_in_a_config(self) -> None:
        """Values are shown as a config file writes them."""
        change = RuleChange(
            field="default",
            band=AgeBand.AGE_16_17,
            setting="daily_time_reminder",
            old=60,
            new=None,
            direction="loosens",
        )

        assert str(change) == "16_17 daily_time_reminder default: 60 -> none loosens"
        assert change.to_dict() == {
            "band": "16_17",
            "setting": "daily_time_reminder",
            "field": "default",
            "old": 60,
            "new": "none",
            "direction": "loosens",
            "comparable": True,
        }

    def test_changeable_by_and_prompt_values(self) -> None:
        """Who may change a setting and the prompt flag render as config words."""
        who = RuleChange(
            "changeable_by",
            AgeBand.ADULT,
            "purchases",
            ChangeableBy.SELF,
            ChangeableBy.PARENT,
            "tightens",
        )
        prompt = RuleChange("prompt_on_loosen", AgeBand.ADULT, "purchases", False, True, "tightens")

        assert str(who) == "adult purchases changeable_by: self -> parent tightens"
        assert who.to_dict()["old"] == "self"
        assert str(prompt) == "adult purchases prompt_on_loosen: false -> true tightens"
        assert prompt.to_dict()["new"] is True

    def test_policy_diff_to_dict(self, baseline: Policy) -> None:
        """The JSON form counts loosening and tightening changes and lists them all."""
        new = Policy.from_mapping(
            {
                "bands": {
                    "16_17": {
                        "quiet_hours": {"default": "21:00-06:00"},
                        "purchases": {"default": "parent_approval"},
                    }
                }
            }
        )

        data = diff_policies(baseline, new, jurisdiction="US-NY").to_dict()

        assert data["old"] == "baseline:minimum"
        assert data["new"] == "<mapping>"
        assert data["jurisdiction"] == "US-NY"
        assert data["unknown_age"] is None
        assert (data["loosens"], data["tightens"]) == (1, 1)
        assert [c["setting"] for c in data["changes"]] == ["purchases", "quiet_hours"]

    def test_policy_diff_is_frozen(self) -> None:
        """A diff cannot be changed after it is made."""
        diff = PolicyDiff("a", "b", None, ())

        with pytest.raises(AttributeError):
            diff.changes = ()  # type: ignore[misc]


class TestDocstrings:
    @pytest.mark.parametrize("module", [childsafe._diff, childsafe._render])
    def test_examples_run(self, module: object) -> None:
        """The examples in the module docstrings are correct."""
        result = doctest.testmod(module)  # type: ignore[arg-type]

        assert result.attempted > 0
        assert result.failed == 0
