"""Decision events of media actions carry the media facts, and the grooming-risk
signals see "an adult asked a child for images, then the child tried to send one"."""

from __future__ import annotations

import json

import pytest

from childsafe import Account, Guard, Reason, Relationship
from childsafe.events import EVENT_VERSION, DecisionEvent
from childsafe.media import Classification, HashMatch, MediaVerdict
from childsafe.signals import Signals
from childsafe.signals._rules import Rule

TEEN = Account(id="teen", band="13_15", jurisdiction="GB")
ADULT = Account(id="adult", band="adult", jurisdiction="GB")
PDQ = "a" * 64
FLAGGED = MediaVerdict(
    pdq=PDQ,
    quality=90,
    classification=Classification(sensitive=True, labels=(("exposed_body", 0.93),)),
)
MATCHED = MediaVerdict(
    pdq=PDQ,
    quality=90,
    match=HashMatch(list_name="hotline", listed="b" * 64, distance=7, entry_id="x-42"),
)


@pytest.fixture(name="seen")
def _seen() -> list[DecisionEvent]:
    return []


@pytest.fixture(name="guard")
def _guard(seen: list[DecisionEvent]) -> Guard:
    guard = Guard()
    guard.add_sink(seen.append)
    return guard


class TestMediaFacts:
    def test_match_is_recorded(self, guard: Guard, seen: list[DecisionEvent]) -> None:
        """A refused match records the hash, the list, its entry and the distance."""
        decision = guard.check("media.upload", ADULT, media=MATCHED)
        assert decision.reason is Reason.KNOWN_ABUSE_MATCH
        assert guard.flush_events()
        [event] = seen
        assert (event.action, event.allowed, event.reason) == (
            "media.upload",
            False,
            "known_abuse_match",
        )
        assert (event.media_pdq, event.media_matched, event.media_list) == (PDQ, True, "hotline")
        assert (event.media_entry, event.media_distance) == ("x-42", 7)
        assert event.version == EVENT_VERSION

    def test_intervention_is_recorded(self, guard: Guard, seen: list[DecisionEvent]) -> None:
        """An intervention records the labels that counted; the JSON form lists them."""
        guard.check("media.send", TEEN, ADULT, Relationship(connected=True), media=FLAGGED)
        assert guard.flush_events()
        [event] = seen
        assert event.reason == "confirmation_required"
        assert (event.media_sensitive, event.media_matched) == (True, False)
        data = json.loads(json.dumps(event.to_dict()))
        assert data["media_labels"] == [["exposed_body", 0.93]]
        assert data["setting"] == "sensitive_media_send"

    def test_classifier_failure_is_recorded(self, guard: Guard, seen: list[DecisionEvent]) -> None:
        """A classifier that failed is named, so the protective path can be counted."""
        failed = MediaVerdict(classification=Classification(sensitive=True, failed="timeout"))
        guard.check("media.upload", TEEN, media=failed)
        assert guard.flush_events()
        assert seen[0].media_classifier_failed == "timeout"

    def test_other_actions_carry_no_media(self, guard: Guard, seen: list[DecisionEvent]) -> None:
        """A dm.send event has no media facts, and its JSON form says so."""
        guard.check("dm.send", ADULT, TEEN)
        assert guard.flush_events()
        [event] = seen
        assert (event.media_pdq, event.media_matched, event.media_labels) == (None, None, ())
        assert event.to_dict()["media_matched"] is None


class TestSignals:
    def _signals(self, guard: Guard) -> Signals:
        signals = Signals()
        signals.account("teen", band="13_15")
        signals.account("adult", band="adult")
        guard.add_sink(signals)
        return signals

    def test_asked_then_child_tried_to_send(self, guard: Guard) -> None:
        """An adult asks a 14-year-old for images; the child then tries to send a flagged
        image to that adult: the adult's score gains the images rule."""
        signals = self._signals(guard)
        signals.media_request("adult", "teen", connected=True, mutual=5)
        before = signals.pair_score("adult", "teen").score
        guard.check("media.send", TEEN, ADULT, Relationship(connected=True), media=FLAGGED)
        assert guard.flush_events()
        score = signals.pair_score("adult", "teen")
        assert score.score == before + signals.config.image_after_request_points
        assert Rule.SECRECY in {e.rule for e in score.evidence}
        assert any("asked them for images" in e.explanation for e in score.evidence)

    def test_flagged_image_without_a_request_is_not_held_against_the_adult(
        self, guard: Guard
    ) -> None:
        """A child's flagged image to an adult who asked for nothing adds no images rule."""
        signals = self._signals(guard)
        guard.check("media.send", TEEN, ADULT, Relationship(connected=True), media=FLAGGED)
        assert guard.flush_events()
        evidence = signals.pair_score("adult", "teen").evidence
        assert Rule.SECRECY not in {e.rule for e in evidence}

    def test_adult_sending_an_image_is_contact(self, guard: Guard) -> None:
        """An adult stranger's image to a child counts as stranger contact, like a
        message, even when denied."""
        signals = self._signals(guard)
        guard.check("media.send", ADULT, TEEN, None, media=FLAGGED)
        assert guard.flush_events()
        rules = {e.rule for e in signals.pair_score("adult", "teen").evidence}
        assert Rule.STRANGER_CONTACT in rules
