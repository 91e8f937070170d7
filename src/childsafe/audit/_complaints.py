"""The complaints desk's steps on the audit trail: :class:`ComplaintRecorder` is a
desk sink (``desk.add_sink(ComplaintRecorder(trail))``)."""

from __future__ import annotations

from typing import Any

from childsafe.audit._trail import AuditTrail
from childsafe.audit._writer import check_timeout
from childsafe.complaints import ComplaintEvent

__all__ = ["ComplaintRecorder"]


class ComplaintRecorder:
    """Records every step of every case on ``trail``: a ``complaint`` record per step
    (filed, review started, resolved, appealed, appeal decided), pseudonymising the
    reporter and the account concerned, and a ``case_outcome`` record when a case is
    resolved or an appeal decided. The report's free text never reaches the trail.

    Complaint records are never dropped. With ``wait`` (the default; cases are few)
    each step returns only once its records are committed, so a process that stops
    right after a step loses nothing; a trail that cannot commit within ``timeout``
    seconds raises :class:`~childsafe.audit.AuditUnavailableError`, which the desk
    reports as a :class:`~childsafe.complaints.ComplaintEventError` (the case itself
    is stored). Without ``wait`` the records are queued like decisions."""

    __slots__ = ("timeout", "trail", "wait")

    def __init__(self, trail: AuditTrail, *, wait: bool = True, timeout: float = 10.0) -> None:
        self.trail = trail
        self.wait = wait
        self.timeout = check_timeout("ComplaintRecorder", timeout)

    def __call__(self, event: ComplaintEvent) -> None:
        data: dict[str, Any] = {
            "step": event.kind.removeprefix("complaint."),
            "event": event.id,
            "dsa_category": event.dsa_category,
            "reporter_role": event.reporter_role,
            "reporter_band": event.reporter_band,
            "subject_kind": event.subject_kind,
        }
        if event.outcome is not None:
            data["outcome"] = event.outcome
        if event.reversed is not None:
            data["reversed"] = event.reversed
        tickets = [
            self.trail.record(
                "complaint",
                actor=event.reporter_id,
                target=event.subject_account_id,
                data={
                    "complaint": event.case_id,
                    "category": event.category,
                    "status": event.status,
                    **data,
                },
                time=event.time,
            )
        ]
        if event.kind in ("complaint.resolved", "complaint.appeal_decided") and event.outcome:
            outcome = {"case": event.case_id, "outcome": event.outcome, "step": data["step"]}
            if event.reversed is not None:
                outcome["reversed"] = event.reversed
            if event.reporter_role == "platform":
                outcome["proactive"] = True  # the platform's own detection, confirmed or not
            tickets.append(
                self.trail.record(
                    "case_outcome",
                    target=event.subject_account_id,
                    data={**outcome, "category": event.category},
                    time=event.time,
                )
            )
        if self.wait:
            for ticket in tickets:
                ticket.wait(self.timeout)
