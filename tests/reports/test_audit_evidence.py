"""The audit trail as a report's evidence: denials by reason and proactive detections
read back from a real store (SQLite, and PostgreSQL when configured), through the API
and through ``childsafe report --audit``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from childsafe import Account, Guard, Relationship
from childsafe.audit import AuditStore, MemoryAuditStore, SQLiteAuditStore
from childsafe.cli import main
from childsafe.complaints import SQLiteComplaintStore
from childsafe.exceptions import InvalidCheckError
from childsafe.reports import AuditEvidence, Detections, Period, build_report
from tests.audit.support import dispose, make_store, make_trail

KID = Account(id="kid-1", band="13_15", jurisdiction="GB")
ADULT = Account(id="adult-1", band="adult", jurisdiction="GB")
TODAY = dt.datetime.now(dt.UTC).date()
AROUND_NOW = Period(TODAY - dt.timedelta(days=1), TODAY + dt.timedelta(days=1))
LAST_YEAR = Period.year(TODAY.year - 1)


def _fill(store: AuditStore) -> None:
    """Three refusals (two kinds), one allow, three flags, two reviewer outcomes that
    confirm a detection and two that do not."""
    trail = make_trail(store)
    guard = Guard()
    trail.attach(guard)
    for _ in range(2):
        guard.check("dm.send", actor=ADULT, target=KID)
    guard.check("location.view", actor=ADULT, target=KID)
    guard.check("dm.send", actor=ADULT, target=KID, relationship=Relationship(connected=True))
    assert guard.flush_events()
    for n in range(3):
        trail.record_signal_flag("adult-1", "many_new_child_contacts", score=80 + n, other="kid-1")
    trail.record_case_outcome("case-1", "account_restricted", data={"proactive": True})
    trail.record_case_outcome("case-2", "referred_law_enforcement", data={"proactive": True})
    trail.record_case_outcome("case-3", "no_violation", data={"proactive": True})
    trail.record_case_outcome("case-4", "content_removed")  # a user's report, not proactive
    trail.close()


@pytest.fixture(name="filled", params=["sqlite", "postgres"])
def _filled(request: pytest.FixtureRequest, tmp_path: Path) -> object:
    if request.param == "postgres":
        from tests.audit.support import POSTGRES_URL  # noqa: PLC0415

        if POSTGRES_URL is None:
            pytest.skip("set CHILDSAFE_TEST_POSTGRES_URL to test against a real PostgreSQL")
    store = make_store(request.param, tmp_path)
    _fill(store)
    yield store
    dispose(store)


def test_denials_and_detections_from_the_trail(filled: AuditStore) -> None:
    evidence = AuditEvidence(filled)
    since, until = AROUND_NOW.since, AROUND_NOW.until

    denials = dict(evidence.denials_by_reason(since, until))
    assert sum(denials.values()) == 3
    assert denials["not_connected"] == 2
    assert evidence.proactive_detections(since, until) == Detections(raised=3, confirmed=2)


def test_a_period_without_records_counts_nothing(filled: AuditStore) -> None:
    evidence = AuditEvidence(filled)

    assert evidence.denials_by_reason(LAST_YEAR.since, LAST_YEAR.until) == {}
    assert evidence.proactive_detections(LAST_YEAR.since, LAST_YEAR.until) == Detections(0, 0)


def test_the_report_shows_the_trails_figures(tmp_path: Path) -> None:
    audit = SQLiteAuditStore(tmp_path / "audit.db")
    _fill(audit)
    complaints = SQLiteComplaintStore(tmp_path / "complaints.db")

    report = build_report(complaints, AROUND_NOW, evidence=AuditEvidence(audit)).to_dict()

    assert report["proactive_detections"] == {"raised": 3, "confirmed": 2}
    by_reason = {row["reason"]: row["count"] for row in report["denials"]}
    assert by_reason["not_connected"] == 2
    assert sum(by_reason.values()) == 3


def test_the_command_reads_the_trail_by_url(tmp_path: Path) -> None:
    db = tmp_path / "playground.sqlite3"
    _fill(SQLiteAuditStore(db))
    SQLiteComplaintStore(db).close()  # both in one file, as the demo keeps them
    out = tmp_path / "report.json"
    url = f"sqlite:///{db}"
    start, end = AROUND_NOW.start.isoformat(), AROUND_NOW.end.isoformat()

    assert main(["report", "--from", start, "--to", end, "--store", url, "--audit", url,
                 "-o", str(out)]) == 0  # fmt: skip

    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["proactive_detections"] == {"raised": 3, "confirmed": 2}
    assert sum(row["count"] for row in report["denials"]) == 3


def test_without_audit_the_command_reports_no_evidence(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    SQLiteComplaintStore(db).close()
    out = tmp_path / "report.json"

    assert main(["report", "--store", f"sqlite:///{db}", "-o", str(out)]) == 0

    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["proactive_detections"] is None
    assert report["denials"] is None


def test_a_trail_object_is_accepted_and_anything_else_refused() -> None:
    store = MemoryAuditStore()
    trail = make_trail(store)
    assert AuditEvidence(trail).store is store
    trail.close()

    with pytest.raises(InvalidCheckError, match="expected an AuditTrail, an AuditStore"):
        AuditEvidence(42)


def test_a_detection_is_counted_once_however_often_its_score_rises(tmp_path: Path) -> None:
    """Signals flag an actor again each time its score rises: the report counts one
    detection per actor crossing the threshold, not one per rise."""
    from childsafe.signals import AuditFlags, Signals  # noqa: PLC0415

    store = make_store("sqlite", tmp_path)
    trail = make_trail(store)
    signals = Signals()
    signals.add_listener(AuditFlags(trail))
    t0 = dt.datetime.now(dt.UTC).timestamp()
    for i in range(6):  # one adult reaching six children: flagged, then three rises
        signals.observe("message", "adult-1", f"kid-{i}", at=t0 + i, actor_band="adult",
                        target_band="13_15")  # fmt: skip
    for i in range(3):  # another adult, flagged once
        signals.observe("message", "adult-2", f"kid-{i}", at=t0 + i, actor_band="adult",
                        target_band="13_15")  # fmt: skip
    trail.close()
    assert store.count("signal_flag", None, None) == 5  # every rise is on the trail
    found = AuditEvidence(store).proactive_detections(
        AROUND_NOW.since, AROUND_NOW.until
    )  # fmt: skip
    assert found.raised == 2
    dispose(store)
