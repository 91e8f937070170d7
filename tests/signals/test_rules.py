from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from childsafe import Account, AgeBand, Assurance, Guard, Relationship
from childsafe.signals import (
    RULES,
    CaseOpener,
    Evidence,
    Flag,
    Rule,
    Score,
    SignalConfigError,
    SignalEvent,
    SignalEventError,
    Signals,
    SignalsConfig,
    SignalStoreError,
    SQLiteSignalStore,
)
from tests.signals.support import Make

H = 3600.0
T0 = 1_800_000_000.0


@pytest.fixture(name="signals")
def _signals(make: Make) -> Signals:
    s = make()
    s.account("adult", band="adult", identifiers=("device:1",))
    s.account("adult2", band="adult", identifiers=("device:1",))
    s.account("parent", band="adult")
    for i in range(10):
        s.account(f"kid{i}", band="13_15")
    s.account("teen", band="16_17")
    return s


@pytest.fixture(name="flags")
def _flags(signals: Signals) -> list[Flag]:
    out: list[Flag] = []
    signals.add_listener(out.append)
    return out


class TestStrangerContact:
    def test_adult_stranger_message(self, signals: Signals) -> None:
        """An adult messaging an unconnected minor scores the pair, once."""
        signals.message("adult", "kid0", at=T0)
        signals.message("adult", "kid0", at=T0 + 60)
        score = signals.pair_score("adult", "kid0")
        assert score.score == 10
        assert score.rules == {Rule.STRANGER_CONTACT}
        assert "0 mutual" in score.evidence[0].explanation

    def test_denied_attempt_counts(self, signals: Signals) -> None:
        """A denied attempt is still a signal, and adds its own points."""
        signals.message("adult", "kid0", at=T0, allowed=False)
        assert signals.pair_score("adult", "kid0").score == 15

    def test_connected_or_mutuals_are_not_strangers(self, signals: Signals) -> None:
        """Connected accounts and enough mutual connections score nothing."""
        signals.message("parent", "kid0", at=T0, connected=True)
        signals.message("parent", "kid1", at=T0, mutual=3)
        assert signals.pair_score("parent", "kid0").score == 0
        assert signals.pair_score("parent", "kid1").score == 0
        assert signals.actor_score("parent").score == 0

    def test_minor_to_minor_and_adult_to_adult(self, signals: Signals) -> None:
        """Teen-to-teen and adult-to-adult contact is not this rule's business."""
        signals.message("teen", "kid0", at=T0)
        signals.message("adult", "parent", at=T0)
        assert signals.actor_score("teen").score == 0
        assert signals.actor_score("adult").score == 0

    def test_unknown_target_counts_as_minor(self, signals: Signals) -> None:
        """An account of unknown band is protected as a minor; an unknown actor is no adult."""
        signals.message("adult", "nobody", at=T0)
        signals.message("nobody", "kid0", at=T0)
        assert signals.pair_score("adult", "nobody").score == 10
        assert signals.actor_score("nobody").score == 0

    def test_from_decision_events(self, make: Make) -> None:
        """The engine is a decision-event sink: denied DMs reach it with both bands."""
        signals = make()
        guard = Guard()
        guard.add_sink(signals)
        adult = Account(id="a", band="adult", jurisdiction="GB")
        for i in range(4):
            kid = Account(id=f"k{i}", band="13_15", jurisdiction="GB")
            guard.check("dm.send", actor=adult, target=kid, relationship=Relationship())
        guard.check("profile.view", actor=adult, target=adult)
        guard.check("friend.suggest", actor=adult, target=kid)  # no contact attempt
        guard.change_setting(adult, "direct_messages", "everyone")
        assert guard.flush_events()
        score = signals.actor_score("a")
        assert score.rules == {Rule.STRANGER_CONTACT, Rule.FAN_OUT}
        assert score.score == 40 + 5 + 15  # four children: one beyond the three
        assert signals.events == 5


class TestFanOut:
    def test_many_children_in_window(self, signals: Signals, flags: list[Flag]) -> None:
        """Reaching three unconnected minors within 48 hours raises a flag."""
        for i in range(2):
            signals.friend_request("adult", f"kid{i}", at=T0 + i * H)
        assert flags == []
        signals.message("adult", "kid2", at=T0 + 2 * H)
        assert len(flags) == 1
        flag = flags[0]
        assert flag.first and flag.actor == "adult"
        assert flag.score.score == 40 + 10
        assert Rule.FAN_OUT in flag.score.rules
        assert flag.pair is not None and flag.pair.child == "kid0"
        assert "3 distinct unconnected minors within 48 hours" in flag.score.explain()

    def test_more_children_raise_the_score(self, signals: Signals, flags: list[Flag]) -> None:
        """Each child beyond the threshold adds points and a new flag; repeats add none."""
        for i in range(6):
            signals.message("adult", f"kid{i}", at=T0 + i)
        signals.message("adult", "kid5", at=T0 + 10)
        assert [f.score.score for f in flags] == [50, 55, 60, 65]
        assert [f.first for f in flags] == [True, False, False, False]

    def test_window_slides(self, signals: Signals, flags: list[Flag]) -> None:
        """Contacts spread wider than the window never add up."""
        for i in range(8):
            signals.message("adult", f"kid{i}", at=T0 + i * 30 * H)
        assert flags == []
        assert signals.actor_score("adult").score == 10

    def test_connected_children_do_not_count(self, signals: Signals) -> None:
        """A coach messaging the team they are connected to is no fan-out."""
        for i in range(8):
            signals.message("parent", f"kid{i}", at=T0 + i, connected=True)
        assert signals.actor_score("parent").score == 0

    def test_group_creation(self, signals: Signals) -> None:
        """A group of unconnected minors counts each of them."""
        signals.group_created("adult", [f"kid{i}" for i in range(5)], at=T0, connected=["kid4"])
        assert signals.actor_score("adult").score == 40 + 5 + 10


class TestEscalation:
    def test_child_adds_adult_then_escalation(self, signals: Signals) -> None:
        """A child adding an adult stranger, then DM and a media request, escalates."""
        signals.friend_request("kid0", "adult", at=T0)
        signals.message("adult", "kid0", at=T0 + H, connected=True)
        signals.media_request("adult", "kid0", at=T0 + 5 * H, connected=True)
        score = signals.pair_score("adult", "kid0")
        assert score.rules == {Rule.STRANGER_CONTACT, Rule.ESCALATION}
        assert score.score == 40
        assert "message and media_request within 72 hours" in score.explain()
        assert "the child sent an adult stranger a friend request" in score.explain()

    def test_adult_request_then_link_and_message(self, signals: Signals) -> None:
        """The adult's request, then a message and a link, escalates too."""
        signals.follow("adult", "kid0", at=T0)
        signals.message("adult", "kid0", at=T0 + H)
        signals.link_shared("adult", "kid0", "https://example.com/game", at=T0 + 2 * H)
        assert signals.pair_score("adult", "kid0").rules == {
            Rule.STRANGER_CONTACT,
            Rule.ESCALATION,
        }

    def test_slow_steps_do_not_escalate(self, signals: Signals) -> None:
        """Steps spread beyond the window are no rapid escalation."""
        signals.friend_request("kid0", "adult", at=T0)
        signals.message("adult", "kid0", at=T0 + 100 * H, connected=True)
        signals.media_request("adult", "kid0", at=T0 + 101 * H, connected=True)
        assert Rule.ESCALATION not in signals.pair_score("adult", "kid0").rules

    def test_a_new_request_restarts_the_window(self, signals: Signals) -> None:
        """A request after the window opens a new one."""
        signals.friend_request("adult", "kid0", at=T0)
        signals.message("adult", "kid0", at=T0 + H)
        signals.friend_request("adult", "kid0", at=T0 + 100 * H)
        signals.media_request("adult", "kid0", at=T0 + 101 * H)
        assert Rule.ESCALATION not in signals.pair_score("adult", "kid0").rules
        signals.message("adult", "kid0", at=T0 + 102 * H)
        assert Rule.ESCALATION in signals.pair_score("adult", "kid0").rules

    def test_child_adding_a_known_adult(self, signals: Signals) -> None:
        """A child adding a parent's friend with mutual connections is no signal."""
        signals.friend_request("kid0", "parent", at=T0, mutual=4)
        signals.friend_request("kid0", "teen", at=T0)
        assert signals.actor_score("parent").score == 0


class TestOffPlatform:
    def test_link_to_messaging_app(self, signals: Signals) -> None:
        """A link to another messaging app sent to a minor scores, naming the app."""
        signals.link_shared("adult", "kid0", "https://t.me/someone", at=T0, connected=True)
        score = signals.pair_score("adult", "kid0")
        assert score.rules == {Rule.OFF_PLATFORM}
        assert score.score == 35
        assert "'t.me'" in score.evidence[0].explanation

    def test_handle_in_opted_in_text(self, signals: Signals) -> None:
        """A handle in message text the platform passes scores; ordinary links do not."""
        signals.message("adult", "kid0", at=T0, text="add me on SnapChat: cool_guy")
        signals.link_shared("adult", "kid1", "https://example.org/homework", at=T0)
        assert Rule.OFF_PLATFORM in signals.pair_score("adult", "kid0").rules
        assert signals.pair_score("adult", "kid1").rules == {Rule.STRANGER_CONTACT}

    def test_empty_app_list_switches_it_off(self, make: Make) -> None:
        """With no app names, nothing matches."""
        signals = make(SignalsConfig(messaging_apps=()))
        signals.account("a", band="adult")
        signals.link_shared("a", "k", "https://wa.me/1", at=T0, connected=True)
        assert signals.pair_score("a", "k").score == 0


class TestSecrecy:
    def test_off_by_default(self, signals: Signals) -> None:
        """Without an opted-in phrase list the text is not read for phrases."""
        signals.message("adult", "kid0", at=T0, connected=True, text="send me a pic")
        assert signals.pair_score("adult", "kid0").score == 0

    def test_opted_in_phrases(self, make: Make) -> None:
        """An opted-in phrase in a message to a minor scores once, naming the phrase."""
        signals = make(SignalsConfig(phrases=("send me a pic", "our secret")))
        signals.account("a", band="adult")
        signals.account("k", band="under_13")
        signals.message("a", "k", at=T0, connected=True, text="This is OUR SECRET ok")
        signals.message("a", "k", at=T0 + 1, connected=True, text="send me a pic")
        score = signals.pair_score("a", "k")
        assert score.rules == {Rule.SECRECY}
        assert score.score == 40
        assert "'our secret'" in score.explain()


class TestAfterBlock:
    def test_contact_after_block(self, signals: Signals) -> None:
        """Contact after the child blocked the adult scores."""
        signals.blocked("kid0", "adult", at=T0)
        signals.message("adult", "kid0", at=T0 + H, allowed=False)
        assert Rule.AFTER_BLOCK in signals.pair_score("adult", "kid0").rules

    def test_new_account_on_the_same_device(self, signals: Signals) -> None:
        """A new account sharing a device identifier with the reported one scores."""
        signals.reported("kid0", "adult", at=T0)
        signals.friend_request("adult2", "kid0", at=T0 + H)
        score = signals.pair_score("adult2", "kid0")
        assert Rule.AFTER_BLOCK in score.rules
        assert "sharing an identifier" in score.explain()
        signals.friend_request("adult2", "kid1", at=T0 + H)
        assert Rule.AFTER_BLOCK not in signals.pair_score("adult2", "kid1").rules

    def test_block_memory_expires(self, signals: Signals) -> None:
        """Long after the block, the rule no longer fires."""
        signals.blocked("kid0", "adult", at=T0)
        signals.friend_request("adult2", "kid0", at=T0 + 200 * 86400)
        signals.message("adult", "kid0", at=T0 + 200 * 86400, connected=True)
        assert signals.actor_score("adult").score == 0
        assert Rule.AFTER_BLOCK not in signals.pair_score("adult2", "kid0").rules


class TestScoresAndConfig:
    def test_flagged_lists_actors(self, signals: Signals) -> None:
        """flagged() lists flagged actors highest first, with JSON-ready evidence."""
        for i in range(5):
            signals.message("adult", f"kid{i}", at=T0 + i)
        signals.blocked("kid0", "adult2", at=T0)
        signals.message("adult2", "kid0", at=T0 + 1, connected=True)
        scores = signals.flagged()
        assert [s.actor for s in scores] == ["adult", "adult2"]
        data = scores[0].to_dict()
        assert data["score"] == 40 + 10 + 10
        assert isinstance(data["evidence"], list)
        assert data["evidence"][0]["rule"] == "stranger_contact"

    def test_rules_cite_why(self) -> None:
        """Every rule says what it looks for and why, with a source."""
        assert {r.rule for r in RULES} == set(Rule)
        assert all(r.why and r.looks_for for r in RULES)

    def test_account_objects_and_times(self, make: Make) -> None:
        """Accounts may be passed as childsafe Accounts; times as aware datetimes."""
        signals = make()
        signals.account(Account(id="a", band="adult"))
        signals.account(Account(id="k", band="13_15"))
        at = dt.datetime.fromtimestamp(T0, dt.UTC)
        signals.message("a", "k", at=at)
        assert signals.band("a") == "adult"
        assert signals.pair_score("a", "k").evidence[0].at == at
        signals.profile_view("a", "k", at=T0)
        signals.message("a", "k")  # now, from the clock
        assert signals.events == 3

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"fan_out_children": 0}, "fan_out_children must be a positive number"),
            ({"fan_out_window": True}, "fan_out_window must be a positive number"),
            ({"min_mutual": -1}, "min_mutual must be >= 0"),
            ({"min_mutual": 1.5}, "min_mutual must be an integer"),
            ({"phrases": ("ok", " ")}, "phrases must hold non-empty strings"),
            # NaN compared false with 0, so it passed: a NaN flag_score never flagged.
            ({"flag_score": float("nan")}, "flag_score must be a positive number, got nan"),
            ({"fan_out_window": float("nan")}, "fan_out_window must be a positive number"),
            ({"fan_out_window": float("inf")}, "fan_out_window must be a positive number"),
            ({"stranger_points": float("-inf")}, "stranger_points must be a positive number"),
        ],
    )
    def test_bad_config(self, kwargs: dict[str, object], match: str) -> None:
        """Bad parameters raise SignalConfigError naming the parameter."""
        with pytest.raises(SignalConfigError, match=match):
            SignalsConfig(**kwargs)  # type: ignore[arg-type]

    def test_bad_events(self, signals: Signals) -> None:
        """Bad events raise SignalEventError naming the call and field."""
        with pytest.raises(SignalEventError, match="unknown kind 'poke'"):
            signals.observe("poke", "a", "b")
        with pytest.raises(SignalEventError, match="timezone-aware"):
            signals.message("a", "b", at=dt.datetime(2026, 1, 1))  # noqa: DTZ001
        with pytest.raises(SignalEventError, match="epoch seconds"):
            signals.message("a", "b", at="noon")  # type: ignore[arg-type]
        with pytest.raises(SignalEventError, match="non-empty"):
            signals.account("")
        with pytest.raises(SignalEventError, match="identifiers must be non-empty"):
            signals.account("a", identifiers=[""])
        with pytest.raises(SignalEventError, match="must be callable"):
            signals.add_listener(42)  # type: ignore[arg-type]
        with pytest.raises(SignalEventError, match=r"at must be a finite time.*, got an integer"):
            signals.message("a", "b", at=10**400)  # float() of it overflowed

    def test_bad_construction(self, tmp_path: Path) -> None:
        """A store, config or clock of the wrong kind was accepted (then an
        AttributeError or a TypeError at the first event), CaseOpener(None) an
        AttributeError, SQLiteSignalStore(None) a TypeError and a path with a NUL byte a
        ValueError; each names the argument now."""
        for options, match in (
            ({"store": 5}, "store must be a signal store"),
            ({"config": {"flag_score": 40}}, "config must be a SignalsConfig"),
            ({"clock": "now"}, "clock must be callable"),
        ):
            with pytest.raises(SignalConfigError, match=match):
                Signals(**options)
        with pytest.raises(SignalConfigError, match="desk must be a ComplaintsDesk"):
            CaseOpener(None)  # type: ignore[arg-type]
        for path in (None, str(tmp_path / "s\x00.db")):
            with pytest.raises(SignalStoreError, match="cannot open the signals store"):
                SQLiteSignalStore(path)  # type: ignore[arg-type]

    @pytest.mark.parametrize("at", [1e15, -1e15, 253402300800.0, -62135596801.0])
    def test_a_time_no_datetime_can_hold_is_refused(self, signals: Signals, at: float) -> None:
        """Such an event was stored, then every score of its actor raised ValueError
        (year out of range) when the evidence was read."""
        signals.account("dan", band="adult")
        signals.account("kid", band="13_15")
        with pytest.raises(SignalEventError, match="from year 1 to 9999"):
            signals.message("dan", "kid", at=at)
        with pytest.raises(SignalEventError, match="at must be a finite time from year 1"):
            signals.observe_many([SignalEvent("message", "dan", "kid", at=at)] * 40)
        assert signals.actor_score("dan").score == 0

    @pytest.mark.parametrize("at", [253402300799.0 - 600, -62135596800.0])
    def test_the_first_and_last_times_score_and_explain(self, signals: Signals, at: float) -> None:
        signals.account("dan", band="adult")
        signals.account("kid", band="13_15")
        signals.message("dan", "kid", at=at, allowed=False)
        score = signals.actor_score("dan")
        assert score.score > 0
        assert "stranger_contact" in score.explain()

    @pytest.mark.parametrize(
        ("call", "match"),
        [
            (lambda s: s.account("dan", band="adlt"), r"account 'dan': unknown band 'adlt'"),
            (lambda s: s.account("dan", band="Adult"), "unknown band 'Adult'"),
            (lambda s: s.account("dan", assurance="sure"), "unknown assurance 'sure'"),
            (lambda s: s.account(42), "expected an Account or an account id, got 42"),
            (
                lambda s: s.observe("message", "dan", "kid", at=1.0, actor_band="grown_up"),
                r"observe\('message'\): unknown actor_band 'grown_up'",
            ),
            (
                lambda s: s.observe("message", "dan", "kid", at=1.0, target_band=["13_15"]),
                "unknown target_band \\['13_15'\\]",
            ),
        ],
    )
    def test_a_band_the_engine_does_not_know_is_refused(
        self, signals: Signals, call: Callable[[Signals], object], match: str
    ) -> None:
        """A misspelt band was stored as given: an adult recorded as 'adlt' was neither
        adult nor minor to the rules, so their contact with children scored nothing."""
        with pytest.raises(SignalEventError, match=match):
            call(signals)
        assert signals.events == 0

    def test_bands_given_as_enums_are_taken(self, signals: Signals) -> None:
        signals.account("dan", band=AgeBand.ADULT, assurance=Assurance.VERIFIED)
        signals.observe("message", "dan", "kid", at=1.0, target_band=AgeBand.AGE_13_15)
        assert signals.pair_score("dan", "kid").score > 0

    @pytest.mark.parametrize(
        ("env", "name"),
        [
            ({"SERVER_SOFTWARE": "gunicorn/22.0"}, "gunicorn"),
            ({"UWSGI_RELOADS": "0"}, "uwsgi"),
            ({"WEB_CONCURRENCY": "4"}, "WEB_CONCURRENCY"),
        ],
    )
    def test_warns_under_a_multi_process_server(
        self,
        env: dict[str, str],
        name: str,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """The memory engine warns at start-up in a worker of a multi-process server."""
        for var in ("SERVER_SOFTWARE", "UWSGI_RELOADS", "UWSGI_ORIGINAL_PROC_NAME"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        with caplog.at_level(logging.WARNING, logger="childsafe.signals"):
            Signals()
        assert name in caplog.text
        assert "shared store" in caplog.text


class TestLookAlikes:
    def test_replies_to_children_who_wrote_first(self, signals: Signals) -> None:
        """A creator answering young fans who wrote first is not reaching out."""
        for i in range(5):
            signals.message(f"kid{i}", "adult", at=T0 + i)
            signals.message("adult", f"kid{i}", at=T0 + 10 + i)
        assert signals.actor_score("adult").score == 0

    def test_counting_replies_is_a_choice(self, make: Make) -> None:
        """With count_replies, the replies count as reaching out."""
        signals = make(SignalsConfig(count_replies=True))
        signals.account("a", band="adult")
        for i in range(3):
            signals.account(f"k{i}", band="13_15")
            signals.message(f"k{i}", "a", at=T0 + i)
            signals.message("a", f"k{i}", at=T0 + 10 + i)
        assert Rule.FAN_OUT in signals.actor_score("a").rules

    def test_well_known_pairs_score_little_for_text(self) -> None:
        """A family member sharing a WhatsApp group link, or asking for a photo of the
        timetable, adds only the trusted points."""
        signals = Signals(SignalsConfig(phrases=("send me a pic",)))
        signals.account("aunt", band="adult")
        signals.account("k", band="13_15")
        signals.link_shared("aunt", "k", "https://chat.whatsapp.com/fam", at=T0,
                            connected=True, mutual=12)  # fmt: skip
        signals.message("aunt", "k", at=T0 + 1, connected=True, mutual=12,
                        text="send me a pic of the timetable")  # fmt: skip
        score = signals.pair_score("aunt", "k")
        assert score.rules == {Rule.OFF_PLATFORM, Rule.SECRECY}
        assert score.score == 20

    def test_the_child_blocking_a_stranger_is_evidence(self, signals: Signals) -> None:
        """A child blocking or reporting an adult stranger who contacted them adds points
        at once; blocking someone who never reached them as a stranger adds none."""
        signals.message("adult", "kid0", at=T0)
        signals.reported("kid0", "adult", at=T0 + H)
        score = signals.pair_score("adult", "kid0")
        assert score.score == 10 + 30
        assert "the child reported this adult stranger" in score.explain()
        signals.message("parent", "kid1", at=T0, connected=True)
        signals.blocked("kid1", "parent", at=T0 + H)
        signals.blocked("kid2", "teen", at=T0 + H)
        assert signals.actor_score("parent").score == 0


class TestExplain:
    def test_times_read_to_the_second_in_utc(self) -> None:
        """A moderator reads each piece of evidence's time in UTC to the second, not
        ISO 8601 with microseconds and an offset; the JSON keeps the exact time."""
        at = dt.datetime(2026, 12, 5, 12, 30, 27, 5394, tzinfo=dt.timezone(dt.timedelta(hours=1)))
        evidence = Evidence(Rule.FAN_OUT, at, "message", None, 40, "reached 3 minors")
        score = Score("dan", None, 40, (evidence,))

        lines = score.explain().splitlines()

        assert lines[1] == "  +40 fan_out at 2026-12-05 11:30:27 UTC: reached 3 minors"
        assert evidence.to_dict()["at"] == "2026-12-05T12:30:27.005394+01:00"


class TestListenerFailures:
    """A listener that raises must not keep a flag from the listeners after it: the
    store has recorded the rise, so that flag would never come again (a case opener
    behind a failing audit trail never opened the case)."""

    @staticmethod
    def _broken(flag: Flag) -> None:
        raise RuntimeError(f"audit trail down ({flag.actor})")

    def test_later_listeners_still_get_the_flag(self, signals: Signals) -> None:
        """Each listener is called; then the event raises SignalListenerError naming the
        failing listener and the actor."""
        from childsafe.complaints import ComplaintsDesk  # noqa: PLC0415
        from childsafe.signals import SignalListenerError  # noqa: PLC0415

        desk = ComplaintsDesk()
        seen: list[Flag] = []
        opener = CaseOpener(desk, threshold=40)
        signals.add_listener(self._broken)
        signals.add_listener(opener)
        signals.add_listener(seen.append)
        for i in range(2):
            signals.message("adult", f"kid{i}", at=T0 + i)
        with pytest.raises(SignalListenerError, match=r"'adult'.*1 of 3.*audit trail down"):
            signals.message("adult", "kid2", at=T0 + 2)
        assert [f.score.score for f in seen] == [50]
        assert len(desk.cases()) == 1
        assert opener.opened.keys() == {"adult"}
        # The event was applied: the next one goes on from it.
        with pytest.raises(SignalListenerError):
            signals.message("adult", "kid3", at=T0 + 3)
        assert [f.score.score for f in seen] == [50, 55]

    def test_a_batch_calls_every_flag(self, signals: Signals) -> None:
        """In observe_many, a failing listener costs none of the batch's later flags
        (nor, on a store taking events one by one, any later event)."""
        from childsafe.signals import SignalListenerError  # noqa: PLC0415

        seen: list[Flag] = []
        signals.add_listener(self._broken)
        signals.add_listener(seen.append)
        events = [
            SignalEvent("message", "adult", f"kid{i}", T0 + i, allowed=False) for i in range(5)
        ]
        with pytest.raises(SignalListenerError, match="failed on 3 flags"):
            signals.observe_many(events)
        assert [(f.before, f.score.score) for f in seen] == [(0, 55), (55, 60), (60, 65)]
        assert signals.actor_score("adult").score == 65


class TestTextDisguises:
    """The text rules compared lower-cased text only: an app name or phrase written with
    full-width letters, a zero-width space or soft hyphen inside, a combining accent, a
    Cyrillic look-alike letter or a curly apostrophe read the same to a child but slipped
    past both rules."""

    DISGUISED_APPS = (
        "add me on \uff37\uff48\uff41\uff54\uff53\uff21\uff50\uff50",  # full-width
        "whats\u200bapp me",  # zero-width space
        "my snap\u00adchat is cool_guy",  # soft hyphen
        "wh\u0430tsapp",  # Cyrillic a
        "WH\u0301ATSAPP",  # combining acute accent
        "t\u200d.me/someone",  # zero-width joiner
        "\U0001d5f1\U0001d5f6\U0001d600\U0001d5f0\U0001d5fc\U0001d5ff\U0001d5f1",  # styled
    )

    @pytest.mark.parametrize("text", DISGUISED_APPS)
    def test_disguised_app_names(self, signals: Signals, text: str) -> None:
        """Each disguise of a messaging app's name still scores off_platform."""
        signals.message("adult", "kid0", at=T0, connected=True, text=text)
        assert signals.pair_score("adult", "kid0").rules == {Rule.OFF_PLATFORM}

    def test_disguised_phrases(self, make: Make) -> None:
        """Phrases match through curly apostrophes, runs of spaces and look-alikes; a
        phrase list in another script still matches its own language."""
        nobody = "\u043d\u0438\u043a\u043e\u043c\u0443"  # Russian: "nobody"
        signals = make(SignalsConfig(phrases=("don't tell", nobody)))
        signals.account("a", band="adult")
        for kid, text in (
            ("k1", "DON\u2019T   tell your mum"),
            ("k2", "d\u043en't tell"),
            (
                "k3",
                nobody.upper() + " \u043d\u0435 \u0433\u043e\u0432\u043e\u0440\u0438",
            ),
        ):
            signals.account(kid, band="13_15")
            signals.message("a", kid, at=T0, connected=True, text=text)
            assert signals.pair_score("a", kid).rules == {Rule.SECRECY}, text

    def test_text_must_be_a_string(self, signals: Signals) -> None:
        """A text that is not a string is refused, naming the rule's check."""
        with pytest.raises(SignalEventError, match="text must be a string"):
            signals.message("adult", "kid0", at=T0, text=b"whatsapp")  # type: ignore[arg-type]


class TestBandsChangedElsewhere:
    """The engine remembered every band it read from the store for good: when another
    process (or engine) changed an account's band, say a self-declared 14-year-old the
    platform's age check found to be an adult, this engine kept treating the adult as a
    minor and none of its contact with children scored."""

    def test_a_band_changed_by_another_engine_is_seen(self, tmp_path: Path) -> None:
        """Within band_cache seconds, the other engine's band counts here."""
        path = str(tmp_path / "shared.db")
        here = Signals(store=SQLiteSignalStore(path), band_cache=0.05)
        there = Signals(store=SQLiteSignalStore(path))
        there.account("liar", band="13_15")
        for i in range(4):
            there.account(f"kid{i}", band="13_15")
        here.message("liar", "kid0", at=T0)
        assert here.band("liar") == "13_15"
        there.account("liar", band="adult")  # the age check found an adult
        import time  # noqa: PLC0415

        time.sleep(0.1)
        for i in range(1, 4):
            here.message("liar", f"kid{i}", at=T0 + i)
        score = here.actor_score("liar")
        # Three unconnected minors reached as an adult: fan-out, as the adult it is.
        assert score.rules == {Rule.STRANGER_CONTACT, Rule.FAN_OUT}
        assert score.score == 50
        assert here.band("liar") == "adult"

    def test_band_cache_checked(self) -> None:
        """A band_cache that is not a finite number of seconds >= 0 is refused."""
        for bad in (-1, float("nan"), float("inf"), "60", True):
            with pytest.raises(SignalConfigError, match="band_cache"):
                Signals(band_cache=bad)  # type: ignore[arg-type]


class TestIdLimits:
    """Account ids and identifiers had no length limit and an account no limit on its
    identifiers: a careless integration passing a client's device id stored megabytes in
    every key and field naming it (and again with every block)."""

    def test_long_ids_refused(self, signals: Signals) -> None:
        """An account id or identifier over 1,024 characters is refused, naming it."""
        huge = "x" * (1 << 20)
        with pytest.raises(SignalEventError, match=r"actor 'xxx.*1048576 characters"):
            signals.message(huge, "kid0", at=T0)
        with pytest.raises(SignalEventError, match=r"target .*more than the 1024"):
            signals.observe("message", "adult", huge, at=T0)
        with pytest.raises(SignalEventError, match=r"observe.*target .xxx"):
            signals.observe_many([SignalEvent("message", "adult", huge, T0)])
        with pytest.raises(SignalEventError, match="the id is 1048576 characters"):
            signals.account(huge, band="adult")
        with pytest.raises(SignalEventError, match=r"identifier 'xxx.*more than 1024"):
            signals.account("adult", identifiers=[huge])
        signals.account("a" * 1024, band="adult", identifiers=["d" * 1024])
        signals.message("a" * 1024, "kid0", at=T0)
        assert signals.pair_score("a" * 1024, "kid0").score == 10

    def test_identifier_count_and_kind(self, signals: Signals) -> None:
        """More than 64 identifiers, a string for the list (read letter by letter) and
        an identifier with a lone surrogate are refused."""
        with pytest.raises(SignalEventError, match="more than 64 identifiers"):
            signals.account("adult", identifiers=(f"device:{i}" for i in range(10**9)))
        with pytest.raises(SignalEventError, match="must be a list of strings"):
            signals.account("adult", identifiers="device:1")
        with pytest.raises(SignalEventError, match="lone surrogate"):
            signals.account("adult", identifiers=["\ud800"])
        signals.account("adult", identifiers=[f"device:{i}" for i in range(64)])
