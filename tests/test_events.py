"""Decision events (childsafe.events): the contract, delivery off the decision path,
and the events of web requests."""

from __future__ import annotations

import doctest
import json
import threading
from typing import Any

import httpx
import pytest

import childsafe.events
from childsafe import (
    Account,
    Guard,
    Policy,
    Relationship,
    RouteTable,
    action_rule,
    path_param,
)
from childsafe.events import EVENT_VERSION, DecisionEvent, EventStats, policy_version
from childsafe.exceptions import InvalidCheckError
from childsafe.wsgi import ChildsafeMiddleware
from tests.test_web import KID, STRANGER, social, token_resolver

ADULT = Account(id="adult", band="adult", jurisdiction="GB")
TEEN = Account(id="teen", band="13_15", jurisdiction="GB")


@pytest.fixture(name="guard")
def _guard() -> Guard:
    """A guard of its own: sinks are per guard, and tests must not share them."""
    return Guard()


@pytest.fixture(name="seen")
def _seen(guard: Guard) -> list[DecisionEvent]:
    events: list[DecisionEvent] = []
    guard.add_sink(events.append)
    return events


class TestDecisionEvents:
    def test_no_sink_no_events(self, guard: Guard) -> None:
        """A guard without sinks keeps its plain class and counts no events."""
        guard.check("dm.send", actor=ADULT, target=TEEN)
        assert type(guard) is Guard
        assert guard.event_stats == EventStats(delivered=0, failed=0, dropped=0, pending=0)
        assert guard.flush_events() is True

    def test_decision_event_fields(self, guard: Guard, seen: list[DecisionEvent]) -> None:
        """A decision's event carries both accounts, the relationship and the policy."""
        rel = Relationship(mutual_connections=2)
        decision = guard.check("dm.send", actor=ADULT, target=TEEN, relationship=rel)
        assert guard.flush_events()
        [event] = seen
        assert (event.kind, event.action, event.allowed) == ("decision", "dm.send", False)
        assert event.reason == decision.reason.value == "not_connected"
        assert (event.setting, event.value) == (decision.setting, decision.value)
        assert (event.actor_id, event.actor_band, event.actor_jurisdiction) == (
            "adult",
            "adult",
            "GB",
        )
        assert (event.target_id, event.target_band, event.target_jurisdiction) == (
            "teen",
            "13_15",
            "GB",
        )
        assert event.relationship == {
            "connected": False,
            "follows": False,
            "mutual_connections": 2,
            "blocked": False,
            "invited": False,
        }
        assert event.policy_version == policy_version(guard.policy)
        assert (event.request_id, event.adapter, event.version) == (None, None, EVENT_VERSION)

    def test_one_event_per_decision(self, guard: Guard, seen: list[DecisionEvent]) -> None:
        """Every decision gives exactly one event, each with its own id, in order."""
        for target in (TEEN, ADULT, TEEN):
            guard.check("profile.view", actor=STRANGER, target=target)
        assert guard.flush_events()
        assert [e.target_id for e in seen] == ["teen", "adult", "teen"]
        assert len({e.id for e in seen}) == 3
        assert guard.event_stats.delivered == 3

    def test_actor_only_decision(self, guard: Guard, seen: list[DecisionEvent]) -> None:
        """A decision about the actor alone has no target and no relationship."""
        guard.check("live.start", actor=TEEN)
        assert guard.flush_events()
        [event] = seen
        assert (event.target_id, event.relationship, event.actor_band) == (None, None, "13_15")

    def test_setting_change_event(self, guard: Guard, seen: list[DecisionEvent]) -> None:
        """Setting changes, applied or refused, give events naming who made them."""
        guard.change_setting(TEEN, "direct_messages", "nobody")
        guard.change_setting(TEEN, "direct_messages", "everyone")
        assert guard.flush_events()
        tighten, loosen = seen
        assert (tighten.kind, tighten.action, tighten.allowed) == (
            "setting_change",
            "setting.change",
            True,
        )
        assert (tighten.setting, tighten.value, tighten.actor_id) == (
            "direct_messages",
            "nobody",
            "teen",
        )
        assert (loosen.allowed, loosen.value) == (False, "everyone")
        assert loosen.reason != "changed"

    def test_parent_change_names_the_guardian(
        self, guard: Guard, seen: list[DecisionEvent]
    ) -> None:
        """A parent's change is the guardian's action on the child's account."""
        kid = Account(id="kid", band="13_15", guardians=frozenset({"mum"}))
        guard.change_setting(kid, "tagging", "nobody", by="parent", guardian="mum")
        assert guard.flush_events()
        [event] = seen
        assert (event.actor_id, event.actor_band, event.target_id) == ("mum", None, "kid")

    def test_group_decision_event(self, guard: Guard, seen: list[DecisionEvent]) -> None:
        """A group check gives one event for the group, with the actor."""
        decision = guard.check_group("group.form", TEEN, [ADULT], lambda _a, _b: Relationship())
        assert guard.flush_events()
        [event] = seen
        assert (event.action, event.allowed, event.actor_id) == ("group.form", False, "teen")
        assert event.reason == decision.reason.value

    def test_to_dict_is_json(self, guard: Guard, seen: list[DecisionEvent]) -> None:
        """An event turns into plain JSON with an ISO 8601 time."""
        guard.check("dm.send", actor=ADULT, target=TEEN)
        assert guard.flush_events()
        data = json.loads(json.dumps(seen[0].to_dict()))
        assert data["action"] == "dm.send"
        assert data["time"].endswith("+00:00")
        assert data["version"] == EVENT_VERSION


class TestSinks:
    def test_failing_sink_changes_nothing(self, guard: Guard) -> None:
        """A sink that raises is counted; the decision and other sinks are unaffected."""
        seen: list[DecisionEvent] = []

        def broken(event: DecisionEvent) -> None:
            raise RuntimeError("sink down")

        guard.add_sink(broken)
        guard.add_sink(seen.append)
        decision = guard.check("dm.send", actor=ADULT, target=TEEN)
        assert guard.flush_events()
        assert decision.allowed is False
        assert len(seen) == 1
        assert guard.event_stats.failed == 1

    def test_slow_sink_never_delays_a_decision(self, guard: Guard) -> None:
        """Decisions return while a sink is still busy; events wait in the queue."""
        release = threading.Event()
        seen: list[DecisionEvent] = []

        def slow(event: DecisionEvent) -> None:
            release.wait(10)
            seen.append(event)

        guard.add_sink(slow)
        for _ in range(3):
            guard.check("dm.send", actor=ADULT, target=TEEN)
        assert seen == []  # the sink has not finished one yet, and the checks returned
        release.set()
        assert guard.flush_events()
        assert len(seen) == 3

    def test_full_queue_drops_and_counts(self, guard: Guard) -> None:
        """When sinks fall far behind, new events are dropped and counted, not queued."""
        release = threading.Event()
        guard.add_sink(lambda _event: release.wait(10))
        for _ in range(10_010):
            guard.check("dm.send", actor=ADULT, target=TEEN)
        stats = guard.event_stats
        assert stats.dropped >= 9
        release.set()
        assert guard.flush_events()
        assert guard.event_stats.delivered + guard.event_stats.dropped == 10_010

    def test_remove_sink(self, guard: Guard) -> None:
        """Removing the last sink stops events and restores the plain guard."""
        seen: list[DecisionEvent] = []
        guard.add_sink(seen.append)
        assert guard.remove_sink(seen.append) is True
        assert guard.remove_sink(seen.append) is False
        guard.check("dm.send", actor=ADULT, target=TEEN)
        assert guard.flush_events()
        assert seen == []
        assert type(guard) is Guard

    def test_subclass_is_kept(self) -> None:
        """An app's own Guard subclass keeps its behaviour when it gets sinks."""

        class Mine(Guard):
            __slots__ = ()

            def label(self) -> str:
                return "mine"

        guard = Mine()
        seen: list[DecisionEvent] = []
        guard.add_sink(seen.append)
        assert isinstance(guard, Mine)
        assert guard.label() == "mine"
        guard.check("dm.send", actor=ADULT, target=TEEN)
        assert guard.flush_events()
        assert len(seen) == 1
        guard.remove_sink(seen.append)
        assert type(guard) is Mine

    @pytest.mark.parametrize("bad", [None, "sink", 3])
    def test_sink_must_be_callable(self, guard: Guard, bad: Any) -> None:
        """A sink that cannot be called is refused when it is added."""
        with pytest.raises(InvalidCheckError, match="callable"):
            guard.add_sink(bad)

    @pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), True, "5"])
    def test_flush_timeout_validated(self, guard: Guard, timeout: Any) -> None:
        """flush_events takes a finite, positive number of seconds."""
        with pytest.raises(InvalidCheckError, match="timeout"):
            guard.flush_events(timeout)


class TestPolicyVersion:
    def test_stable_and_distinct(self) -> None:
        """Equal policies share a version; a changed policy gets another."""
        base = Policy.baseline()
        tighter = Policy.from_mapping(
            {"bands": {"16_17": {"direct_messages": {"default": "nobody"}}}}
        )
        assert policy_version(base) == policy_version(Policy.baseline())
        assert policy_version(base) != policy_version(tighter)
        assert len(policy_version(base)) == 16


ROUTES = RouteTable(
    {"POST /users/{user_id}/messages": action_rule("dm.send", target=path_param("user_id"))}
)


def _app(environ: Any, start_response: Any) -> list[bytes]:
    start_response("200 OK", [("content-type", "text/plain")])
    return [b"sent"]


class TestRequestEvents:
    @pytest.fixture(name="client")
    def _client(self, guard: Guard) -> httpx.Client:
        accounts = social()
        app = ChildsafeMiddleware(
            _app,
            guard=guard,
            resolvers=[token_resolver(accounts)],
            repository=accounts,
            routes=ROUTES,
        )
        return httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://t")

    def test_request_id_and_adapter(
        self, client: httpx.Client, guard: Guard, seen: list[DecisionEvent]
    ) -> None:
        """A request's decision event carries the client's request id and the adapter."""
        response = client.post(
            "/users/kid/messages",
            headers={"Authorization": "Bearer stranger", "X-Request-ID": "req-42"},
        )
        assert response.status_code == 403
        assert guard.flush_events()
        [event] = seen
        assert (event.request_id, event.adapter, event.action) == ("req-42", "wsgi", "dm.send")
        assert (event.actor_id, event.target_id) == (STRANGER.id, KID.id)

    def test_unusable_request_id_replaced(
        self, client: httpx.Client, guard: Guard, seen: list[DecisionEvent]
    ) -> None:
        """A request id that is not a plain token is replaced by a fresh one."""
        client.post(
            "/users/kid/messages",
            headers={"Authorization": "Bearer stranger", "X-Request-ID": "a b<script>"},
        )
        assert guard.flush_events()
        [event] = seen
        assert event.request_id is not None
        assert len(event.request_id) == 32
        assert "<" not in event.request_id

    def test_kernel_denials_are_events(
        self, client: httpx.Client, guard: Guard, seen: list[DecisionEvent]
    ) -> None:
        """A denial the kernel makes itself (an unknown target) is an event too."""
        response = client.post("/users/nobody/messages", headers={"Authorization": "Bearer kid"})
        assert response.status_code == 403
        assert guard.flush_events()
        [event] = seen
        assert (event.reason, event.allowed, event.adapter) == ("unverifiable", False, "wsgi")


class TestDocstrings:
    def test_examples_run(self) -> None:
        """The examples in the events module's docstrings are correct."""
        result = doctest.testmod(childsafe.events)
        assert result.attempted >= 5
        assert result.failed == 0
