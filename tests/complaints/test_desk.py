"""The complaints desk: the lifecycle, its invalid steps, categories and events."""

from __future__ import annotations

import datetime as dt

import pytest

from childsafe import Account
from childsafe.complaints import (
    DEFAULT_CATEGORIES,
    TRANSITIONS,
    Categories,
    Complaint,
    ComplaintError,
    ComplaintEvent,
    ComplaintEventError,
    ComplaintsDesk,
    DSACategory,
    Intake,
    InvalidTransitionError,
    Outcome,
    Status,
    UnknownCaseError,
)
from childsafe.exceptions import ChildsafeError, ConfigurationError

T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)
REPORT = {"category": "bullying", "subject": {"kind": "account", "id": "u-7"}}


def hours(n: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=n)


def take(desk: ComplaintsDesk, step: str, case_id: str, at: dt.datetime) -> Complaint:
    """Take the lifecycle ``step`` (by name) on the case at ``at``."""
    if step == "resolve":
        return desk.resolve(case_id, Outcome.CONTENT_REMOVED, at=at)
    if step == "decide_appeal":
        return desk.decide_appeal(case_id, outcome=Outcome.NO_VIOLATION, at=at)
    method = getattr(desk, step)
    result: Complaint = method(case_id, at=at)
    return result


@pytest.fixture(name="events")
def _events() -> list[ComplaintEvent]:
    return []


@pytest.fixture(name="desk")
def _desk(events: list[ComplaintEvent]) -> ComplaintsDesk:
    return ComplaintsDesk(sinks=[events.append], clock=lambda: hours(100))


class TestLifecycle:
    def test_the_whole_path(self, desk: ComplaintsDesk, events: list[ComplaintEvent]) -> None:
        """Received, reviewed, resolved, appealed and reversed: every time and count kept."""
        case = desk.file_report(REPORT, at=T0)
        assert case.status is Status.RECEIVED
        case = desk.start_review(case.id, at=hours(1))
        assert (case.status, case.first_action_at) == (Status.IN_REVIEW, hours(1))
        case = desk.resolve(case.id, "account_restricted", at=hours(5))
        assert case.time_to_first_action == dt.timedelta(hours=1)
        assert case.time_to_resolution == dt.timedelta(hours=5)
        case = desk.appeal(case.id, at=hours(6))
        assert case.status is Status.APPEALED
        case = desk.decide_appeal(case.id, outcome=Outcome.NO_VIOLATION, at=hours(8))
        assert case.status is Status.RESOLVED
        assert case.outcome is Outcome.NO_VIOLATION
        assert case.reversals == 1
        appeal = case.appeals[0]
        assert (appeal.outcome_before, appeal.outcome_after) == (
            Outcome.ACCOUNT_RESTRICTED,
            Outcome.NO_VIOLATION,
        )
        assert case.revision == 4
        assert desk.get(case.id) == case
        assert [e.kind for e in events] == [
            "complaint.filed",
            "complaint.review_started",
            "complaint.resolved",
            "complaint.appealed",
            "complaint.appeal_decided",
        ]
        assert events[-1].reversed is True
        assert events[-1].to_dict()["time"] == hours(100).isoformat()
        assert "description" not in events[0].to_dict()

    def test_resolving_at_once_is_the_first_action(self, desk: ComplaintsDesk) -> None:
        """A case resolved without a review step had its first action then."""
        case = desk.file_report(REPORT, at=T0)
        case = desk.resolve(case.id, Outcome.CONTENT_REMOVED, at=hours(2))
        assert case.first_action_at == case.resolved_at == hours(2)

    def test_an_upheld_appeal_is_no_reversal(self, desk: ComplaintsDesk) -> None:
        """Deciding an appeal without a new outcome upholds it."""
        case = desk.file_report(REPORT, at=T0)
        desk.resolve(case.id, Outcome.CONTENT_REMOVED, at=hours(1))
        desk.appeal(case.id, at=hours(2))
        case = desk.decide_appeal(case.id, at=hours(3))
        assert (case.outcome, case.reversals, case.appeals[0].reversed) == (
            Outcome.CONTENT_REMOVED,
            0,
            False,
        )

    def test_default_times_come_from_the_clock(self, desk: ComplaintsDesk) -> None:
        case = desk.file_report(REPORT)
        assert case.received_at == hours(100)

    @pytest.mark.parametrize(
        ("steps", "step", "state"),
        [
            ((), "appeal", "received"),
            ((), "decide_appeal", "received"),
            (("start_review",), "start_review", "in_review"),
            (("resolve",), "resolve", "resolved"),
            (("resolve",), "start_review", "resolved"),
            (("resolve", "appeal"), "appeal", "appealed"),
            (("resolve", "appeal"), "resolve", "appealed"),
        ],
    )
    def test_invalid_steps_name_the_case_and_state(
        self, desk: ComplaintsDesk, steps: tuple[str, ...], step: str, state: str
    ) -> None:
        """A step the state does not allow raises, naming the case, its state and the step."""
        case = desk.file_report(REPORT, at=T0)
        do = {
            "start_review": lambda: desk.start_review(case.id, at=hours(1)),
            "resolve": lambda: desk.resolve(case.id, "no_violation", at=hours(1)),
            "appeal": lambda: desk.appeal(case.id, at=hours(2)),
            "decide_appeal": lambda: desk.decide_appeal(case.id, at=hours(3)),
        }
        for earlier in steps:
            do[earlier]()
        with pytest.raises(InvalidTransitionError) as caught:
            do[step]()
        error = caught.value
        assert (error.case_id, error.state, error.step) == (case.id, state, step)
        assert case.id in str(error)
        assert repr(state) in str(error)
        assert isinstance(error, ChildsafeError)
        assert desk.get(case.id).revision == len(steps)

    def test_the_transition_table_matches(self) -> None:
        assert TRANSITIONS["resolve"] == {Status.RECEIVED, Status.IN_REVIEW}


class TestErrors:
    def test_unknown_case(self, desk: ComplaintsDesk) -> None:
        with pytest.raises(UnknownCaseError, match="'nope'"):
            desk.start_review("nope")

    def test_unknown_outcome(self, desk: ComplaintsDesk) -> None:
        case = desk.file_report(REPORT, at=T0)
        with pytest.raises(ComplaintError, match="unknown outcome 'deleted'"):
            desk.resolve(case.id, "deleted")

    def test_naive_times_are_refused(self, desk: ComplaintsDesk) -> None:
        with pytest.raises(ComplaintError, match="timezone-aware"):
            desk.file_report(REPORT, at=dt.datetime(2025, 1, 1))  # noqa: DTZ001

    def test_times_of_the_wrong_kind_are_refused(self, desk: ComplaintsDesk) -> None:
        """A time that is a string or a date (AttributeError), a clock giving one, and
        an aware time past year 9999 in UTC (OverflowError) are ComplaintErrors, and
        nothing is filed."""
        for at in ("2025-01-01T00:00:00Z", dt.date(2025, 1, 1), 1735689600):
            with pytest.raises(ComplaintError, match="must be a datetime, got"):
                desk.file_report(REPORT, at=at)  # type: ignore[arg-type]
        late = dt.datetime.max.replace(tzinfo=dt.timezone(dt.timedelta(hours=-5)))
        with pytest.raises(ComplaintError, match="out of range"):
            desk.file_report(REPORT, at=late)
        broken = ComplaintsDesk(clock=lambda: "now")  # type: ignore[arg-type, return-value]
        with pytest.raises(ComplaintError, match="the desk's clock gave 'now'"):
            broken.file_report(REPORT)
        assert desk.cases() == [] and broken.cases() == []

    def test_arguments_of_the_wrong_kind_are_refused(self) -> None:
        """A store, categories, sinks or clock of the wrong kind were accepted (then an
        AttributeError at the first report, or a failed event after every stored
        step) or a TypeError; file(dict) and file_report(account="id") were
        AttributeErrors."""
        for options, message in (
            ({"store": 5}, "store: expected a complaint store"),
            ({"categories": {"spam": "scams_and_fraud"}}, "categories: expected Categories"),
            ({"sinks": None}, "sinks: expected a list of callables"),
            ({"sinks": [5]}, "sinks: 5 is not callable"),
            ({"clock": "now"}, "clock: 'now' is not callable"),
        ):
            with pytest.raises(ComplaintError, match=message):
                ComplaintsDesk(**options)
        desk = ComplaintsDesk()
        with pytest.raises(ComplaintError, match="add_sink: 5 is not callable"):
            desk.add_sink(5)  # type: ignore[arg-type]
        with pytest.raises(ComplaintError, match="file: expected an Intake"):
            desk.file(REPORT)  # type: ignore[arg-type]
        with pytest.raises(ComplaintError, match="account: expected the signed-in Account"):
            desk.file_report(REPORT, account="k-12")  # type: ignore[arg-type]
        assert desk.cases() == []

    def test_a_step_before_the_report_is_refused(self, desk: ComplaintsDesk) -> None:
        case = desk.file_report(REPORT, at=T0)
        with pytest.raises(ComplaintError, match="cannot be dated earlier"):
            desk.start_review(case.id, at=hours(-1))

    @pytest.mark.parametrize(
        ("steps", "late", "was"),
        [
            (["start_review"], "resolve", "first acted on"),
            (["resolve"], "appeal", "resolved"),
            (["resolve", "appeal"], "decide_appeal", "appealed"),
            (["resolve", "appeal", "decide_appeal"], "appeal", "had an appeal decided"),
        ],
    )
    def test_a_step_before_the_last_one_is_refused(
        self, desk: ComplaintsDesk, steps: list[str], late: str, was: str
    ) -> None:
        """A step dated before the case's previous step (a resolution before the
        review began) is refused and nothing changes: the durations a report reads
        stay consistent (first action never after the resolution)."""
        case = desk.file_report(REPORT, at=T0)
        for n, step in enumerate(steps, start=1):
            case = take(desk, step, case.id, hours(2 * n))
        with pytest.raises(ComplaintError, match=f"was {was} at .*cannot be dated earlier"):
            take(desk, late, case.id, hours(1))
        assert desk.get(case.id) == case
        later = take(desk, late, case.id, hours(2 * len(steps)))  # the same time is fine
        assert later.revision == case.revision + 1

    def test_an_intake_with_a_foreign_category(self) -> None:
        """An intake validated against other categories is refused by this desk."""
        other = ComplaintsDesk(categories=Categories.from_mapping({"spam": "scams_and_fraud"}))
        intake = other.file_report({"category": "spam", "subject": {"kind": "account", "id": "x"}})
        with pytest.raises(ComplaintError, match="'spam' is not one of"):
            ComplaintsDesk().file(Intake(intake.category, intake.subject, intake.reporter))

    def test_a_failing_sink_raises_after_storing(self) -> None:
        """The step is stored; the app is told its sink failed."""

        def broken(event: ComplaintEvent) -> None:
            raise RuntimeError(event.kind)

        desk = ComplaintsDesk()
        desk.add_sink(broken)
        with pytest.raises(ComplaintEventError, match="was stored") as caught:
            desk.file_report(REPORT)
        assert desk.get(caught.value.complaint.id).status is Status.RECEIVED


class TestCategories:
    def test_the_defaults_map_to_dsa_categories(self) -> None:
        assert list(DEFAULT_CATEGORIES) == [
            "grooming",
            "sexual_content",
            "bullying",
            "self_harm",
            "impersonation",
            "privacy",
            "other",
        ]
        assert DEFAULT_CATEGORIES.dsa("grooming") is DSACategory.PROTECTION_OF_MINORS
        assert DEFAULT_CATEGORIES.dsa("other").code == "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"
        assert DEFAULT_CATEGORIES.label("self_harm") == "Self-harm"
        assert DEFAULT_CATEGORIES.label("unknown") == "unknown"
        assert len(DEFAULT_CATEGORIES) == 7

    def test_custom_categories(self) -> None:
        cats = Categories.from_mapping(
            {"grooming": "protection_of_minors", "scam_dm": DSACategory.SCAMS_AND_FRAUD},
            labels={"scam_dm": "Scam messages"},
        )
        assert cats.label("grooming") == "Grooming"
        assert cats.label("scam_dm") == "Scam messages"
        desk = ComplaintsDesk(categories=cats)
        case = desk.file_report({"category": "scam_dm", "subject": {"kind": "message", "id": "m"}})
        assert case.category == "scam_dm"

    def test_every_problem_is_reported(self) -> None:
        with pytest.raises(ConfigurationError) as caught:
            Categories.from_mapping(
                {"Bad Name": "violence", "spam": "spamming", 3: "violence"},  # type: ignore[dict-item]
                labels={"ghost": "Ghost"},
            )
        text = str(caught.value)
        assert len(caught.value.problems) == 4
        assert "Bad Name" in text
        assert "unknown DSA category 'spamming'" in text
        assert "labels.ghost" in text

    def test_no_categories(self) -> None:
        with pytest.raises(ConfigurationError, match="at least one"):
            Categories.from_mapping({})


class TestComplaint:
    def test_received_at_is_kept_in_utc(self) -> None:
        from zoneinfo import ZoneInfo  # noqa: PLC0415

        local = dt.datetime(2025, 6, 1, 10, 0, tzinfo=ZoneInfo("Europe/Paris"))
        case = ComplaintsDesk().file_report(REPORT, at=local)
        assert case.received_at.tzinfo is dt.UTC
        assert case.received_at.hour == 8
        assert isinstance(case, Complaint)

    def test_the_signed_in_reporter(self) -> None:
        desk = ComplaintsDesk()
        case = desk.file_report(REPORT, account=Account(id="k", band="16_17"))
        assert (case.reporter.role.value, case.reporter.band.value) == ("child", "16_17")
