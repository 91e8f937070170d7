"""The complaints desk on the audit trail: every step of a case recorded, chained and
pseudonymised, outcomes as ``case_outcome`` records, no free text."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from childsafe import Account
from childsafe.audit import ComplaintRecorder, SQLiteAuditStore
from childsafe.complaints import ComplaintsDesk, SQLiteComplaintStore
from tests.audit.support import make_trail

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
REPORT = {
    "category": "grooming",
    "subject": {"kind": "account", "id": "u-7"},
    "description": "he keeps asking where I live",
}


def test_every_step_of_a_case_is_on_the_trail(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    trail = make_trail(SQLiteAuditStore(db))
    desk = ComplaintsDesk(SQLiteComplaintStore(db), sinks=[ComplaintRecorder(trail)])
    child = Account(id="kid-1", band="13_15", jurisdiction="GB")

    case = desk.file_report(REPORT, account=child, at=T0)
    assert trail.count("complaint") == 1  # committed before the step returned
    desk.start_review(case.id, at=T0 + dt.timedelta(hours=1))
    desk.resolve(case.id, "account_restricted", at=T0 + dt.timedelta(hours=5))
    desk.appeal(case.id, at=T0 + dt.timedelta(days=1))
    desk.decide_appeal(case.id, outcome="no_violation", at=T0 + dt.timedelta(days=2))
    trail.close()

    steps = list(trail.records(kinds=["complaint"]))
    assert [r.data["step"] for r in steps] == [
        "filed", "review_started", "resolved", "appealed", "appeal_decided",
    ]  # fmt: skip
    assert {r.data["complaint"] for r in steps} == {case.id}
    assert [r.time for r in steps] == sorted(r.time for r in steps)
    assert steps[0].actor == trail.pseudonymiser.pseudonym("kid-1")
    assert steps[0].target == trail.pseudonymiser.pseudonym("u-7")
    outcomes = list(trail.records(kinds=["case_outcome"]))
    assert [(r.data["outcome"], r.data.get("reversed")) for r in outcomes] == [
        ("account_restricted", None),
        ("no_violation", True),
    ]
    assert all("keeps asking" not in repr(r) and "kid-1" not in repr(r) for r in steps)
    report = trail.verify()
    assert report.ok and report.unanchored == 0, report
    assert [r.seq for r in trail.records(account="u-7", kinds=["complaint"])] == [
        r.seq for r in steps
    ]


def test_queued_without_waiting(tmp_path: Path) -> None:
    trail = make_trail(SQLiteAuditStore(tmp_path / "a.db"))
    desk = ComplaintsDesk(sinks=[ComplaintRecorder(trail, wait=False)])

    desk.file_report(REPORT, at=T0)
    trail.close()

    (record,) = trail.records(kinds=["complaint"])
    assert record.actor is None  # a signed-out reporter
    assert record.data["reporter_role"] == "other"
