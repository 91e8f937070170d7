"""The complaints desk: filing reports and taking each case through its lifecycle,
with an event for every step (for the audit trail, or the platform's own queue)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Literal

import attrs

from childsafe._model import Account
from childsafe.complaints._errors import ComplaintError, ComplaintStoreError, UnknownCaseError
from childsafe.complaints._intake import Intake, parse_report
from childsafe.complaints._model import (
    DEFAULT_CATEGORIES,
    Categories,
    Complaint,
    Outcome,
    Status,
)
from childsafe.complaints._stores import ComplaintStore, MemoryComplaintStore, _check_status

__all__ = ["ComplaintEvent", "ComplaintEventError", "ComplaintSink", "ComplaintsDesk"]

log = logging.getLogger("childsafe.complaints")

EventKind = Literal[
    "complaint.filed",
    "complaint.review_started",
    "complaint.resolved",
    "complaint.appealed",
    "complaint.appeal_decided",
]


@attrs.frozen
class ComplaintEvent:
    """One step of a case, for the audit trail: ``kind`` says which. Ids are the
    platform's own (a sink that stores events pseudonymises them); the description
    is never included."""

    id: str
    time: dt.datetime
    kind: EventKind
    case_id: str
    category: str
    dsa_category: str
    reporter_role: str
    reporter_band: str
    reporter_id: str | None
    subject_kind: str
    subject_id: str
    subject_account_id: str | None
    status: str
    outcome: str | None = None
    reversed: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the time in ISO 8601, UTC)."""
        out = attrs.asdict(self)
        out["time"] = self.time.isoformat()
        return out


ComplaintSink = Callable[[ComplaintEvent], object]
"""Receives each event, synchronously, once the step is stored."""


class ComplaintEventError(ComplaintStoreError):
    """A sink raised after the step was stored: the case (``complaint``) is safe, its
    event may be missing from wherever the sink writes."""

    def __init__(self, complaint: Complaint, sink: object, error: BaseException) -> None:
        self.complaint = complaint
        super().__init__(
            f"case {complaint.id!r} was stored, but the event sink {sink!r} failed: {error!r}"
        )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _new_id() -> str:
    return "c-" + uuid.uuid4().hex[:20]


class ComplaintsDesk:
    """Intake and lifecycle of reports.

    ``store`` keeps the cases (default: in memory; use
    :class:`~childsafe.complaints.SQLiteComplaintStore` or
    :class:`~childsafe.complaints.PostgresComplaintStore` for real ones).
    ``categories`` are the categories reports may be filed under (default:
    ``DEFAULT_CATEGORIES``). ``sinks`` receive a
    :class:`ComplaintEvent` for every step, synchronously and after the step is
    stored; a sink that raises makes the step raise :class:`ComplaintEventError`
    (the step itself stays stored). ``clock`` gives the time of steps taken without
    an explicit ``at``.

    >>> from childsafe.complaints import ComplaintsDesk, Outcome
    >>> desk = ComplaintsDesk()
    >>> report = {"category": "bullying", "subject": {"kind": "account", "id": "u-7"}}
    >>> case = desk.file_report(report)
    >>> desk.resolve(case.id, Outcome.ACCOUNT_RESTRICTED).status.value
    'resolved'
    """

    def __init__(
        self,
        store: ComplaintStore | None = None,
        *,
        categories: Categories | None = None,
        sinks: Iterable[ComplaintSink] = (),
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        if store is not None and not all(
            callable(getattr(store, m, None)) for m in ("add", "get", "update", "cases")
        ):
            raise ComplaintError(
                "ComplaintsDesk: store: expected a complaint store (such as "
                f"SQLiteComplaintStore) or None, got {type(store).__name__}"
            )
        self.store: ComplaintStore = store if store is not None else MemoryComplaintStore()
        given: object = categories
        if given is not None and not isinstance(given, Categories):
            raise ComplaintError(
                "ComplaintsDesk: categories: expected Categories (Categories.from_mapping) "
                f"or None, got {type(given).__name__}"
            )
        self.categories = DEFAULT_CATEGORIES if categories is None else categories
        listed: object = sinks
        if isinstance(listed, str | bytes) or not isinstance(listed, Iterable):
            raise ComplaintError(
                f"ComplaintsDesk: sinks: expected a list of callables, got {type(listed).__name__}"
            )
        self._sinks: tuple[ComplaintSink, ...] = tuple(sinks)
        for sink in (*self._sinks, clock):
            if not callable(sink):
                what = "clock" if sink is clock else "sinks"
                raise ComplaintError(f"ComplaintsDesk: {what}: {sink!r:.60} is not callable")
        self._clock = clock
        self._lock = threading.Lock()

    def add_sink(self, sink: ComplaintSink) -> None:
        """Send every later step's event to ``sink`` too."""
        if not callable(sink):
            raise ComplaintError(f"ComplaintsDesk.add_sink: {sink!r:.60} is not callable")
        with self._lock:
            self._sinks = (*self._sinks, sink)

    # -- intake ------------------------------------------------------------------

    def file_report(
        self, data: object, *, account: Account | None = None, at: dt.datetime | None = None
    ) -> Complaint:
        """Validate ``data`` (see :func:`~childsafe.complaints.parse_report`) and file
        it. ``account`` is the signed-in reporter, if any."""
        return self.file(parse_report(data, categories=self.categories, account=account), at=at)

    def file(self, intake: Intake, *, at: dt.datetime | None = None) -> Complaint:
        """File a validated report as a new case, received at ``at`` (default: now)."""
        given: object = intake
        if not isinstance(given, Intake):
            raise ComplaintError(
                f"file: expected an Intake (from parse_report), got {type(given).__name__}; "
                "file_report takes the report as sent"
            )
        if intake.category not in self.categories:
            raise ComplaintError(
                f"category {intake.category!r} is not one of this desk's categories"
            )
        complaint = Complaint(
            id=_new_id(),
            received_at=self._at(at),
            category=intake.category,
            reporter=intake.reporter,
            subject=intake.subject,
            description=intake.description,
        )
        self.store.add(complaint)
        self._emit(complaint, "complaint.filed")
        return complaint

    # -- lifecycle ---------------------------------------------------------------

    def get(self, case_id: str) -> Complaint:
        """The case ``case_id``; :class:`UnknownCaseError` if there is none."""
        given: object = case_id
        if not isinstance(given, str):
            raise ComplaintError(f"a case id is a string, got {given!r:.60}")
        found = self.store.get(case_id)
        if found is None:
            raise UnknownCaseError(case_id)
        return found

    def cases(self, *, status: Status | str | None = None, limit: int = 50) -> list[Complaint]:
        """The newest cases, in ``status`` if given (a :class:`Status` or its value;
        :class:`ComplaintError` for another)."""
        return self.store.cases(status=_check_status(status), limit=limit)

    def start_review(self, case_id: str, *, at: dt.datetime | None = None) -> Complaint:
        """Take the case up for review (its first action)."""
        case = self.get(case_id)
        return self._save(
            case.start_review(self._after(case, at, "start_review")), "complaint.review_started"
        )

    def resolve(
        self, case_id: str, outcome: Outcome | str, *, at: dt.datetime | None = None
    ) -> Complaint:
        """Resolve the case with ``outcome``."""
        chosen = self._outcome(case_id, outcome)
        case = self.get(case_id)
        return self._save(
            case.resolve(chosen, self._after(case, at, "resolve")), "complaint.resolved"
        )

    def appeal(self, case_id: str, *, at: dt.datetime | None = None) -> Complaint:
        """Record an appeal against the case's outcome."""
        case = self.get(case_id)
        return self._save(case.appeal(self._after(case, at, "appeal")), "complaint.appealed")

    def decide_appeal(
        self,
        case_id: str,
        *,
        outcome: Outcome | str | None = None,
        at: dt.datetime | None = None,
    ) -> Complaint:
        """Decide the open appeal: uphold the outcome (``outcome`` omitted or the same)
        or reverse it to ``outcome``."""
        chosen = None if outcome is None else self._outcome(case_id, outcome)
        case = self.get(case_id)
        return self._save(
            case.decide_appeal(self._after(case, at, "decide_appeal"), chosen),
            "complaint.appeal_decided",
        )

    # -- helpers -----------------------------------------------------------------

    def _at(self, at: dt.datetime | None) -> dt.datetime:
        when = self._clock() if at is None else at
        given: object = when
        if not isinstance(given, dt.datetime):
            source = "the desk's clock gave" if at is None else "got"
            raise ComplaintError(f"a complaint time must be a datetime, {source} {given!r:.60}")
        if when.tzinfo is None:
            raise ComplaintError(f"a complaint time must be timezone-aware, got {when!r}")
        try:
            return when.astimezone(dt.UTC)
        except OverflowError:  # 9999-12-31 23:00-05:00 is past year 9999 in UTC
            raise ComplaintError(f"a complaint time out of range: {when!r}") from None

    def _after(self, case: Complaint, at: dt.datetime | None, step: str) -> dt.datetime:
        """The time of ``step`` (which the case's state must allow, checked first),
        never before the case's last step: a resolution dated before the review began,
        or an appeal before the resolution, would make the report's durations disagree
        with each other."""
        case._step(step)  # noqa: SLF001 - the state's refusal comes before the time's
        when = self._at(at)
        steps = [("received", case.received_at)]
        if case.first_action_at is not None:
            steps.append(("first acted on", case.first_action_at))
        if case.resolved_at is not None:
            steps.append(("resolved", case.resolved_at))
        for appeal in case.appeals:
            steps.append(("appealed", appeal.filed_at))
            if appeal.decided_at is not None:
                steps.append(("had an appeal decided", appeal.decided_at))
        what, last = max(reversed(steps), key=lambda step: step[1])  # the latest named
        if when < last:
            raise ComplaintError(
                f"case {case.id!r} was {what} at {last.isoformat()}; a step cannot be "
                f"dated earlier ({when.isoformat()})"
            )
        return when

    @staticmethod
    def _outcome(case_id: str, outcome: Outcome | str) -> Outcome:
        if isinstance(outcome, Outcome):
            return outcome
        try:
            return Outcome(outcome)
        except ValueError:
            known = ", ".join(o.value for o in Outcome)
            raise ComplaintError(
                f"case {case_id!r}: unknown outcome {outcome!r}; use one of {known}"
            ) from None

    def _save(self, case: Complaint, kind: EventKind) -> Complaint:
        self.store.update(case)
        self._emit(case, kind)
        return case

    def _emit(self, case: Complaint, kind: EventKind) -> None:
        sinks = self._sinks
        if not sinks:
            return
        last = case.appeals[-1] if case.appeals else None
        event = ComplaintEvent(
            id=uuid.uuid4().hex,
            time=self._clock(),
            kind=kind,
            case_id=case.id,
            category=case.category,
            dsa_category=self.categories.dsa(case.category).value,
            reporter_role=case.reporter.role.value,
            reporter_band=case.reporter.band.value,
            reporter_id=case.reporter.account_id,
            subject_kind=case.subject.kind.value,
            subject_id=case.subject.id,
            subject_account_id=case.subject.account_id,
            status=case.status.value,
            outcome=None if case.outcome is None else case.outcome.value,
            reversed=last.reversed if kind == "complaint.appeal_decided" and last else None,
        )
        for sink in sinks:
            try:
                sink(event)
            except Exception as e:
                log.exception("childsafe: complaint event sink %r raised", sink)
                raise ComplaintEventError(case, sink, e) from e
