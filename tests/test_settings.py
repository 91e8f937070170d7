from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from childsafe import SETTINGS, Settings, TimeWindow
from childsafe._settings import DAY_MINUTES, EnumDomain, Setting, SettingValue, get_setting
from childsafe.exceptions import InvalidSettingError
from tests.strategies import setting_and_values, time_windows


def _minutes(w: TimeWindow) -> set[int]:
    return {m for m in range(DAY_MINUTES) if w.contains_minute(m)}


class TestCatalogue:
    def test_every_setting_of_the_product_decision(self) -> None:
        """The catalogue holds the 25 settings of POLICY-BASELINE.md, in its order."""
        assert list(SETTINGS)[:3] == ["profile_visibility", "discoverable", "friend_suggestions"]
        assert list(SETTINGS)[-2:] == ["quiet_hours", "daily_time_reminder"]
        assert len(SETTINGS) == 25

    def test_settings_class_matches_catalogue(self) -> None:
        """`Settings` has exactly one attribute per catalogue entry, in order."""
        assert [f.name for f in attrs.fields(Settings)] == list(SETTINGS)

    def test_enumerated_order_is_most_protective_first(self) -> None:
        """Each enumerated domain lists its most protective value first."""
        location = SETTINGS["location_sharing"].domain
        assert isinstance(location, EnumDomain)
        assert location.values == ("off", "connections_coarse", "connections_precise", "public")
        assert SETTINGS["direct_messages"].le("nobody", "everyone")
        assert not SETTINGS["direct_messages"].le("everyone", "connections")

    def test_unknown_setting_suggests(self) -> None:
        """A misspelt setting name gets a did-you-mean."""
        with pytest.raises(InvalidSettingError, match="did you mean 'direct_messages'"):
            get_setting("direct_message")

    @pytest.mark.parametrize(
        ("name", "raw", "message"),
        [
            ("direct_messages", "evryone", "did you mean 'everyone'"),
            ("direct_messages", 3, "is not one of 'nobody', 'connections', 'everyone'"),
            ("daily_time_reminder", 0, "1 to 1440"),
            ("daily_time_reminder", True, "1 to 1440"),
            ("quiet_hours", "9pm-7am", "HH:MM-HH:MM"),
            ("quiet_hours", "24:30-07:00", "HH:MM-HH:MM"),
            ("quiet_hours", "21:00-24:15", "not a time of day"),
            ("quiet_hours", 5, "daily window"),
        ],
    )
    def test_bad_values_name_the_setting_and_what_is_allowed(
        self, name: str, raw: object, message: str
    ) -> None:
        """Values outside a domain raise InvalidSettingError naming the setting."""
        with pytest.raises(InvalidSettingError, match=message) as info:
            SETTINGS[name].parse(raw)
        assert str(info.value).startswith(f"{name}: ")

    def test_none_values(self) -> None:
        """'none' turns off quiet hours and reminders, the least protective value."""
        assert SETTINGS["quiet_hours"].parse("none") is None
        assert SETTINGS["daily_time_reminder"].parse("none") is None
        assert SETTINGS["daily_time_reminder"].le(60, None)
        assert not SETTINGS["daily_time_reminder"].le(None, 60)
        assert SETTINGS["daily_time_reminder"].format(None) == "none"


class TestTimeWindow:
    def test_parse_and_format_round_trip(self) -> None:
        """Windows print the way they are written, including midnight wrap and 24:00."""
        for text in ("21:00-07:00", "00:00-06:00", "22:30-23:45", "00:00-24:00"):
            assert str(TimeWindow.parse(text)) == text
        assert TimeWindow.parse("00:00-24:00").length == DAY_MINUTES

    def test_contains_minute_wraps_midnight(self) -> None:
        """21:00-07:00 covers 23:00 and 06:59 but not 07:00 or 20:59."""
        w = TimeWindow.parse("21:00-07:00")
        assert w.contains_minute(23 * 60)
        assert w.contains_minute(6 * 60 + 59)
        assert not w.contains_minute(7 * 60)
        assert not w.contains_minute(20 * 60 + 59)

    def test_invalid_minutes(self) -> None:
        """Windows are built from minutes inside one day."""
        with pytest.raises(InvalidSettingError, match="start must be minutes"):
            TimeWindow(1440, 0)

    def test_containment_is_protection(self) -> None:
        """A window containing another is more protective; disjoint ones are incomparable."""
        qh = SETTINGS["quiet_hours"]
        wide, narrow = TimeWindow.parse("21:00-07:00"), TimeWindow.parse("22:00-06:00")
        other = TimeWindow.parse("08:00-15:00")
        assert qh.le(wide, narrow)
        assert not qh.le(narrow, wide)
        assert not qh.le(other, wide)
        assert not qh.le(wide, other)
        assert qh.le(wide, None)
        assert not qh.le(None, wide)

    @given(time_windows, time_windows)
    def test_contains_matches_minute_sets(self, a: TimeWindow, b: TimeWindow) -> None:
        """`contains` agrees with the sets of minutes the windows cover."""
        assert a.contains(b) == (_minutes(b) <= _minutes(a))

    @given(time_windows, time_windows)
    def test_hull_is_the_shortest_covering_window(self, a: TimeWindow, b: TimeWindow) -> None:
        """The hull covers both, and no shorter window starting at either start does."""
        h = a.hull(b)
        assert _minutes(a) | _minutes(b) <= _minutes(h)
        for start in (a.start, b.start):
            for length in range(1, h.length):
                candidate = TimeWindow(start, (start + length) % DAY_MINUTES)
                assert not (candidate.contains(a) and candidate.contains(b))

    @given(time_windows, time_windows)
    def test_overlap_lies_inside_both(self, a: TimeWindow, b: TimeWindow) -> None:
        """The overlap is covered by both windows, and is None only when they are disjoint."""
        o = a.overlap(b)
        if o is None:
            assert not (_minutes(a) & _minutes(b))
        else:
            assert _minutes(o) <= _minutes(a) & _minutes(b)


class TestLattice:
    @given(setting_and_values(2))
    def test_meet_is_a_lower_bound(self, case: tuple[Setting, list[SettingValue]]) -> None:
        """meet(a, b) is at least as protective as both a and b."""
        setting, (a, b) = case
        m = setting.meet(a, b)
        assert setting.le(m, a)
        assert setting.le(m, b)

    @given(setting_and_values(2))
    def test_join_is_an_upper_bound(self, case: tuple[Setting, list[SettingValue]]) -> None:
        """Both a and b are at least as protective as join(a, b)."""
        setting, (a, b) = case
        j = setting.join(a, b)
        assert setting.le(a, j)
        assert setting.le(b, j)

    @given(setting_and_values(2))
    def test_commutative_and_idempotent(self, case: tuple[Setting, list[SettingValue]]) -> None:
        """meet and join do not depend on argument order, and x meet x is x."""
        setting, (a, b) = case
        assert setting.meet(a, b) == setting.meet(b, a)
        assert setting.join(a, b) == setting.join(b, a)
        assert setting.meet(a, a) == a
        assert setting.join(a, a) == a

    @given(setting_and_values(2))
    def test_meet_picks_the_order_when_comparable(
        self, case: tuple[Setting, list[SettingValue]]
    ) -> None:
        """When a is at least as protective as b, meet is a and join is b."""
        setting, (a, b) = case
        if setting.le(a, b):
            assert setting.meet(a, b) == a
            assert setting.join(a, b) == b

    @given(setting_and_values(3))
    def test_le_is_transitive(self, case: tuple[Setting, list[SettingValue]]) -> None:
        """Protection order is transitive."""
        setting, (a, b, c) = case
        if setting.le(a, b) and setting.le(b, c):
            assert setting.le(a, c)

    @given(st.sampled_from([s for s in SETTINGS.values() if isinstance(s.domain, EnumDomain)]))
    def test_enumerated_domains_are_total_and_associative(self, setting: Setting) -> None:
        """On named values meet is associative: combining three layers in any order agrees."""
        assert isinstance(setting.domain, EnumDomain)
        values = setting.domain.values
        for a in values:
            for b in values:
                for c in values:
                    left = setting.meet(setting.meet(a, b), c)
                    right = setting.meet(a, setting.meet(b, c))
                    assert left == right


def test_setting_describe() -> None:
    """A setting describes the values it accepts."""
    assert SETTINGS["tagging"].describe() == "'nobody', 'connections', 'everyone'"
    assert "HH:MM-HH:MM" in SETTINGS["quiet_hours"].describe()
