"""The images sequence on every store: an adult asks a minor for images, then the minor
tries to send that adult an image the classifier flagged. The request may arrive one
event at a time or in a batch (``observe_many``, pipelined on Redis)."""

from __future__ import annotations

import datetime as dt

import pytest

from childsafe import Account, Guard, Relationship
from childsafe.media import Classification, MediaVerdict
from childsafe.signals import SignalEvent
from childsafe.signals._rules import Rule
from tests.signals.support import T0, Make

TEEN = Account(id="teen", band="13_15", jurisdiction="GB")
ADULT = Account(id="adult", band="adult", jurisdiction="GB")
FLAGGED = MediaVerdict(
    pdq="0" * 64, quality=100, classification=Classification(True, (("exposed", 0.9),))
)
AT = dt.datetime.fromtimestamp(T0 + 60, dt.UTC)


@pytest.mark.parametrize("batched", [False, True], ids=["observe", "observe_many"])
def test_image_after_request_counts_once_on_every_store(make: Make, batched: bool) -> None:
    """The adult's pair score gains the images rule once, however often the child tries."""
    signals = make()
    signals.account("teen", band="13_15")
    signals.account("adult", band="adult")
    if batched:
        signals.observe_many([SignalEvent("media_request", "adult", "teen", at=T0, mutual=5)])
    else:
        signals.media_request("adult", "teen", at=T0, connected=True, mutual=5)
    before = signals.pair_score("adult", "teen").score
    guard = Guard()
    guard.add_sink(signals)
    for _ in range(2):
        guard.check("media.send", TEEN, ADULT, Relationship(connected=True), media=FLAGGED, at=AT)
    assert guard.flush_events()
    score = signals.pair_score("adult", "teen")
    assert score.score == before + signals.config.image_after_request_points
    assert [e.rule for e in score.evidence].count(Rule.SECRECY) == 1


def test_no_request_no_images_rule(make: Make) -> None:
    """Without the adult's request, the child's flagged image adds nothing to the adult."""
    signals = make()
    signals.account("teen", band="13_15")
    signals.account("adult", band="adult")
    guard = Guard()
    guard.add_sink(signals)
    guard.check("media.send", TEEN, ADULT, Relationship(connected=True), media=FLAGGED, at=AT)
    assert guard.flush_events()
    assert signals.pair_score("adult", "teen").score == 0
