from __future__ import annotations

import datetime as dt

import pytest

from childsafe import Account, AgeBand, Guard, load_policy
from childsafe.exceptions import ConfigurationError
from childsafe.testing import FrozenClock, overridden, override_policy

TEEN = Account(id="t", band="16_17")
QUIET_COMMENTS = {"bands": {"16_17": {"comments": {"default": "nobody", "note": "launch"}}}}


class TestOverridePolicy:
    def test_tightens_on_top_of_the_policy(self) -> None:
        """A fragment changes the rule it names and keeps a note of why."""
        policy = override_policy(load_policy(), QUIET_COMMENTS)

        assert policy.rule(AgeBand.AGE_16_17, "comments").default == "nobody"
        assert policy.notes[AgeBand.AGE_16_17, "comments"] == "launch"
        assert policy.rule(AgeBand.AGE_13_15, "comments") == load_policy().rule(
            AgeBand.AGE_13_15, "comments"
        )

    def test_unknown_age(self) -> None:
        """unknown_age may be moved to another minor band, never to adult."""
        assert override_policy(load_policy(), {"unknown_age": "13_15"}).unknown_age.value == "13_15"

        with pytest.raises(ConfigurationError, match="unknown_age"):
            override_policy(load_policy(), {"unknown_age": "adult"})

    def test_every_problem_is_reported(self) -> None:
        """Loosening below a floor, unknown keys and platform keys are all reported."""
        fragment = {
            "bands": {"13_15": {"direct_messages": {"default": "everyone"}}},
            "jurisdiction": "GB",
            "overides": {},
        }

        with pytest.raises(ConfigurationError) as info:
            override_policy(load_policy(), fragment, source="my-test")

        paths = [p.path for p in info.value.problems]
        assert paths == ["jurisdiction", "overides", "bands.13_15.direct_messages.default"]
        assert all(p.source == "my-test" for p in info.value.problems)
        assert "set 'jurisdiction' in the policy's own config" in str(info.value)

    def test_not_a_mapping(self) -> None:
        """A fragment must be a mapping."""
        with pytest.raises(ConfigurationError, match="expected a config fragment"):
            override_policy(load_policy(), ["bands"])  # type: ignore[arg-type]

    def test_floor_of_the_override_is_the_active_one(self) -> None:
        """An override applies over the active policy's floors, not the baseline's."""
        strict = override_policy(
            load_policy(), {"bands": {"16_17": {"comments": {"floor": "nobody"}}}}
        )

        with pytest.raises(ConfigurationError, match="would loosen the floor 'nobody'"):
            override_policy(strict, {"bands": {"16_17": {"comments": {"floor": "connections"}}}})


class TestOverridden:
    def test_restores_after_the_block(self) -> None:
        """The guard enforces the fragment inside the block and its old policy after."""
        guard = Guard()
        before = guard.policy

        with overridden(guard, QUIET_COMMENTS) as policy:
            assert guard.policy is policy
            assert guard.settings_for(TEEN).comments == "nobody"

        assert guard.policy is before
        assert guard.settings_for(TEEN).comments == "connections"

    def test_restores_when_the_block_raises(self) -> None:
        """An exception in the block still restores the policy."""
        guard = Guard()
        before = guard.policy

        with pytest.raises(RuntimeError), overridden(guard, QUIET_COMMENTS):
            raise RuntimeError

        assert guard.policy is before

    def test_bad_fragment_leaves_the_guard_alone(self) -> None:
        """A fragment that does not load changes nothing."""
        guard = Guard()
        before = guard.policy

        with (
            pytest.raises(ConfigurationError),
            overridden(guard, {"bands": {"13_15": {"tagging": {"default": "everyone"}}}}),
        ):
            pass  # pragma: no cover - never entered

        assert guard.policy is before


class TestFrozenClock:
    def test_stands_still_until_moved(self) -> None:
        """now() and the clock itself give the same frozen, aware time."""
        clock = FrozenClock()

        assert clock.now() == clock() == dt.datetime(2025, 1, 10, 12, tzinfo=dt.UTC)
        assert repr(clock) == "FrozenClock('2025-01-10T12:00:00+00:00')"

    def test_set_advance_and_local(self) -> None:
        """The clock moves to a time, on by a delta, or to a local time of day."""
        clock = FrozenClock(dt.datetime(2025, 6, 1, 9, tzinfo=dt.UTC))

        assert clock.set("2025-06-01T20:00:00+00:00").hour == 20
        assert clock.advance(hours=1).hour == 21
        local = clock.local("22:30", "Europe/London")
        assert local.utcoffset() == dt.timedelta(hours=1)
        assert local.astimezone(dt.UTC).hour == 21
        assert clock.local("06:00").isoformat() == "2025-06-01T06:00:00+00:00"

    def test_quiet_hours_with_the_clock(self, guard: Guard) -> None:
        """A notification in a child's quiet hours is refused at the clock's time."""
        kid = Account(id="k", band="13_15", timezone="Europe/London")
        clock = FrozenClock()

        assert (
            guard.check("notify", target=kid, at=clock.local("23:00", "Europe/London")).reason
            == "quiet_hours"
        )
        assert guard.check("notify", target=kid, at=clock.local("12:00", "Europe/London"))

    def test_naive_and_malformed_times_are_refused(self) -> None:
        """Naive datetimes and malformed times of day are errors that say what to give."""
        with pytest.raises(ValueError, match="add an offset"):
            FrozenClock("2025-01-10T12:00:00")
        with pytest.raises(ValueError, match="'HH:MM'"):
            FrozenClock().local("late")
