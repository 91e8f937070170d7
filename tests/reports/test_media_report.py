"""The transparency report's media section: known-abuse matches by list, the
interventions children met before sending (sent anyway or not), sends refused outright,
and images shown blurred (and opened after choosing), counted from a real audit trail
(SQLite, and PostgreSQL when configured) and from in-memory evidence; rendered in every
format; optional in the schema, so reports made before it stay valid."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from childsafe import Account, Guard, Relationship
from childsafe.audit import AuditConfig, AuditStore, AuditTrail
from childsafe.complaints import MemoryComplaintStore
from childsafe.media import (
    Classification,
    EvidenceVault,
    HashList,
    MediaFile,
    MediaIncident,
    MediaScreen,
    MediaVerdict,
    pdq_hash,
)
from childsafe.reports import (
    FORMATS,
    AuditEvidence,
    Detections,
    MediaFigures,
    MemoryEvidence,
    Period,
    build_report,
    render,
    report_schema,
)
from childsafe.testing.media import jpeg_bytes, scene
from tests.audit.support import dispose, make_store, make_trail

TEEN = Account(id="teen-1", band="13_15", jurisdiction="GB")
KID = Account(id="kid-1", band="under_13", jurisdiction="GB")
ADULT = Account(id="adult-1", band="adult", jurisdiction="GB")
CONNECTED = Relationship(connected=True)
SENSITIVE = MediaVerdict(
    pdq="0" * 64, quality=100, classification=Classification(True, (("EXPOSED", 0.9),))
)
TODAY = dt.datetime.now(dt.UTC).date()
AROUND_NOW = Period(TODAY - dt.timedelta(days=1), TODAY + dt.timedelta(days=1))
EXPECTED = MediaFigures(
    {"hotline-a": 2, "hotline-b": 1},
    interventions=2,
    sent_anyway=1,
    blocked_sends=1,
    blurred_views=1,
    viewed_after_blur=1,
)


def _decide(guard: Guard) -> None:
    """A 14-year-old meets the intervention twice and sends once anyway; a
    12-year-old's send is refused; the 14-year-old gets an adult's image blurred and
    opens it; an unrelated refusal and an ordinary photo are not media figures."""
    guard.check("media.send", TEEN, ADULT, CONNECTED, media=SENSITIVE)
    guard.check("media.send", TEEN, ADULT, CONNECTED, media=SENSITIVE, confirmed=True)
    guard.check("media.upload", TEEN, media=SENSITIVE)
    guard.check("media.send", KID, ADULT, CONNECTED, media=SENSITIVE, confirmed=True)
    guard.check("media.view", TEEN, ADULT, CONNECTED, media=SENSITIVE)
    guard.check("media.view", TEEN, ADULT, CONNECTED, media=SENSITIVE, confirmed=True)
    guard.check("dm.send", ADULT, TEEN)
    guard.check("media.send", ADULT, TEEN, CONNECTED, media=MediaVerdict(pdq="1" * 64))


def _matches(trail: AuditTrail, tmp_path: Path) -> None:
    """Three matched uploads kept by the evidence vault: two on one list, one on
    another (a real screen hashes a recompressed copy of each listed picture)."""
    lists = [
        HashList.from_entries("hotline-a", [pdq_hash(scene(1)).hex, pdq_hash(scene(2)).hex]),
        HashList.from_entries("hotline-b", [pdq_hash(scene(3)).hex]),
    ]
    screen = MediaScreen(lists)
    vault = EvidenceVault(trail=trail)
    for seed in (1, 2, 3):
        path = tmp_path / f"upload-{seed}"
        path.write_bytes(jpeg_bytes(scene(seed), quality=60))
        media = MediaFile(path, path.stat().st_size, "image/jpeg")
        verdict = screen.inspect(media)
        assert verdict.matched
        at = dt.datetime.now(dt.UTC)
        vault.preserve(MediaIncident(media, verdict, "media.upload", ADULT, None, None, at))


@pytest.fixture(name="filled", params=["sqlite", "postgres"])
def _filled(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AuditStore]:
    if request.param == "postgres":
        from tests.audit.support import POSTGRES_URL  # noqa: PLC0415

        if POSTGRES_URL is None:
            pytest.skip("set CHILDSAFE_TEST_POSTGRES_URL to test against a real PostgreSQL")
    store = make_store(request.param, tmp_path)
    trail = make_trail(store)  # the default sampling: 1 % of allows
    guard = Guard()
    trail.attach(guard)
    _decide(guard)
    assert guard.flush_events()
    _matches(trail, tmp_path)
    trail.close()
    yield store
    dispose(store)


def test_media_figures_from_the_trail(filled: AuditStore) -> None:
    """Matches by list, interventions, sends anyway (recorded whatever the allow
    sampling), refusals and blurs, read back from the store."""
    evidence = AuditEvidence(filled)
    assert evidence.media(AROUND_NOW.since, AROUND_NOW.until) == EXPECTED
    assert EXPECTED.not_sent == 1
    year = Period.year(TODAY.year - 1)
    assert evidence.media(year.since, year.until) == MediaFigures()


def test_memory_evidence_counts_the_same(tmp_path: Path) -> None:
    """As a guard's event sink, MemoryEvidence counts the same decisions; a match is
    counted from the refused decision's list."""
    evidence = MemoryEvidence()
    guard = Guard()
    guard.add_sink(evidence)
    _decide(guard)
    for name, seed in (("hotline-a", 1), ("hotline-a", 2), ("hotline-b", 3)):
        screen = MediaScreen([HashList.from_entries(name, [pdq_hash(scene(seed)).hex])])
        path = tmp_path / f"u{seed}"
        path.write_bytes(jpeg_bytes(scene(seed), quality=60))
        verdict = screen.inspect(MediaFile(path, path.stat().st_size))
        assert not guard.check("media.upload", ADULT, media=verdict).allowed
    assert guard.flush_events()
    assert evidence.media(AROUND_NOW.since, AROUND_NOW.until) == EXPECTED


def _report(evidence: object) -> dict[str, Any]:
    return build_report(
        MemoryComplaintStore(),
        AROUND_NOW,
        platform="Playground",
        evidence=evidence,  # type: ignore[arg-type]
    ).to_dict()


def test_every_format_shows_the_media_section(filled: AuditStore) -> None:
    """JSON (valid against the published schema), CSV, Markdown and HTML all carry the
    figures."""
    document = _report(AuditEvidence(filled))
    jsonschema.Draft202012Validator(report_schema()).validate(document)
    assert document["media"] == {
        "matches": {
            "total": 3,
            "by_list": [{"list": "hotline-a", "matches": 2}, {"list": "hotline-b", "matches": 1}],
        },
        "interventions": {"shown": 2, "sent_anyway": 1, "not_sent": 1},
        "blocked_sends": 1,
        "blurred": {"shown": 1, "viewed": 1},
    }
    csv = render(document, "csv")
    assert "childsafe_media,known_abuse_matches,,list:hotline-a,2,count" in csv
    assert "childsafe_media,send_interventions,,sent_anyway,1,count" in csv
    assert "childsafe_media,sends_blocked,,,1,count" in csv
    assert "childsafe_media,blurred_images,,viewed,1,count" in csv
    md = render(document, "md")
    assert "## Images" in md
    assert "| Images sent anyway after the safety message | 1 |" in md
    assert "| hotline-b | 1 |" in md
    html = render(document, "html")
    assert '<section id="media"><h2>Images</h2>' in html
    assert "Blurred images the child chose to see" in html


def test_evidence_without_media_figures_says_not_reported() -> None:
    """Evidence with no ``media`` method (an older implementation) leaves the section
    null: valid, and every format says it is not reported."""

    class Plain:
        """Evidence as it was before media figures: the two protocol methods only."""

        def __init__(self) -> None:
            self.inner = MemoryEvidence()

        def denials_by_reason(self, since: dt.datetime, until: dt.datetime) -> dict[str, int]:
            return dict(self.inner.denials_by_reason(since, until))

        def proactive_detections(self, since: dt.datetime, until: dt.datetime) -> Detections:
            return self.inner.proactive_detections(since, until)

    document = _report(Plain())
    assert document["media"] is None
    jsonschema.validate(document, report_schema())
    assert "## Images\n\nNot reported for this period." in render(document, "md")
    assert '<section id="media"><h2>Images</h2>\n<p class="note">Not reported' in render(
        document, "html"
    )
    assert "childsafe_media" not in render(document, "csv")


def test_reports_made_before_the_section_stay_valid() -> None:
    """A version-1 document without the ``media`` key still validates and renders,
    with no Images section."""
    document = _report(MemoryEvidence())
    del document["media"]
    jsonschema.validate(document, report_schema())
    for fmt in FORMATS:
        assert "Images" not in render(document, fmt) or fmt == "json"


def test_media_figures_must_be_media_figures() -> None:
    """Evidence whose ``media`` answers something else is refused, naming it."""

    class Wrong(MemoryEvidence):
        def media(self, since: dt.datetime, until: dt.datetime) -> Any:
            return {"matches": 3, "from": since, "to": until}

    with pytest.raises(Exception, match="MediaFigures"):
        _report(Wrong())


def test_confirmed_allows_are_recorded_whatever_the_sampling(tmp_path: Path) -> None:
    """With no allow sampled at all, a child's "send anyway" and "view" are still on the
    trail (the report counts them); an ordinary allow is not."""
    store = make_store("sqlite", tmp_path)
    trail = make_trail(store, config=AuditConfig(allow_sample_rate=0.0))
    guard = Guard()
    trail.attach(guard)
    _decide(guard)
    assert guard.flush_events()
    trail.close()
    figures = AuditEvidence(store).media(AROUND_NOW.since, AROUND_NOW.until)
    assert (figures.sent_anyway, figures.viewed_after_blur) == (1, 1)
    allowed = [r for r in store.select(kinds=["decision"]) if r.allowed]
    assert {r.reason for r in allowed} == {"confirmed"}
    dispose(store)


def test_a_confirmed_request_counts_its_prompt_once() -> None:
    """The request kernel decides a confirmed request twice (the prompt, then the
    confirmed answer, both with the request's id): the prompt the child saw was in the
    earlier response, so it is counted once."""
    evidence = MemoryEvidence()
    at = dt.datetime.now(dt.UTC)
    send, view = "sensitive_media_send", "sensitive_media_blur"
    for request_id, action, allowed, reason, setting in (
        ("r1", "media.send", False, "confirmation_required", send),  # the prompt shown
        ("r2", "media.send", False, "confirmation_required", send),  # "send anyway": pre-check
        ("r2", "media.send", True, "confirmed", send),
        ("r3", "media.view", False, "sensitive_media_blurred", view),  # the blur shown
        ("r4", "media.view", False, "sensitive_media_blurred", view),  # "view": pre-check
        ("r4", "media.view", True, "confirmed", view),
        ("r5", "media.send", False, "confirmation_required", send),  # shown, not sent
    ):
        evidence.record_media(
            action, at, allowed=allowed, reason=reason, setting=setting, request_id=request_id
        )
    figures = evidence.media(AROUND_NOW.since, AROUND_NOW.until)
    assert (figures.interventions, figures.sent_anyway, figures.not_sent) == (2, 1, 1)
    assert (figures.blurred_views, figures.viewed_after_blur) == (1, 1)
