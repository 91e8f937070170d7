"""Report figures against a generated data set whose answers are known, on every
store; the JSON against its published schema; the CSV, Markdown and the CLI."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from childsafe import Account, Guard
from childsafe.cli import main
from childsafe.complaints import (
    DEFAULT_CATEGORIES,
    Categories,
    ComplaintsDesk,
    ComplaintStore,
    SQLiteComplaintStore,
)
from childsafe.events import DecisionEvent
from childsafe.exceptions import InvalidCheckError
from childsafe.reports import (
    FORMATS,
    REPORT_SCHEMA,
    Census,
    Detections,
    MemoryEvidence,
    Period,
    build_report,
    render,
    report_schema,
    take_census,
)
from childsafe.reports._render import duration
from tests.complaints.stores import KINDS, make_store
from tests.reports.dataset import expected as expected_figures
from tests.reports.dataset import generate, to_complaint

YEAR = Period.year(2025)
NOW = dt.datetime(2026, 1, 15, tzinfo=dt.UTC)
RECORDS = generate(2000)


def evidence() -> MemoryEvidence:
    found = MemoryEvidence()
    at = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
    for reason, n in (("not_connected", 7), ("quiet_hours", 3), ("below_floor", 1)):
        for _ in range(n):
            found.record_denial(reason, at)
    found.record_denial("not_connected", dt.datetime(2026, 2, 1, tzinfo=dt.UTC))  # outside
    for confirmed in (True, True, False, False, False):
        found.record_detection(at, confirmed=confirmed)
    return found


def census() -> Census:
    guard = Guard()
    accounts = [
        Account(id="a", band="under_13", jurisdiction="GB"),
        Account(id="b", band="13_15", jurisdiction="GB"),
        Account(id="c", band="13_15", settings={"daily_time_reminder": 30}),
        Account(id="d", band="16_17", settings={"profile_visibility": "public"}),
        Account(id="e", band="16_17", settings={"profile_visibility": "connections"}),
        Account(id="f", band="adult"),
    ]
    return take_census(guard, accounts, at=dt.datetime(2025, 12, 1, tzinfo=dt.UTC))


@pytest.fixture(name="store", params=KINDS, scope="module")
def _store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ComplaintStore]:
    for store in make_store(request.param, tmp_path_factory.mktemp("report")):
        store.add_many(to_complaint(r) for r in RECORDS)
        yield store


@pytest.fixture(name="document", scope="module")
def _document(store: ComplaintStore) -> dict[str, Any]:
    report = build_report(
        store, YEAR, platform="Playground", evidence=evidence(), census=census(), now=NOW
    )
    return report.to_dict()


class TestFigures:
    def test_complaint_figures_are_the_known_answers(self, document: dict[str, Any]) -> None:
        """Every complaint figure equals the answer worked out from the plain records."""
        want = expected_figures(RECORDS)
        c = document["complaints"]
        assert c["total"] == want["total"]
        assert c["resolved"] == want["resolved"]
        assert c["first_actioned"] == want["first_actioned"]
        assert c["open"] == want["total"] - want["resolved"]
        assert {r["category"]: r["complaints"] for r in c["by_category"]} == {
            name: want["by_category"][name] for name in DEFAULT_CATEGORIES
        }
        assert {r["category"]: r["actioned"] for r in c["by_category"]} == {
            name: want["actioned"][name] for name in DEFAULT_CATEGORIES
        }
        assert {(r["role"], r["band"]): r["complaints"] for r in c["by_reporter"]} == dict(
            want["by_reporter"]
        )
        assert {o["outcome"]: o["complaints"] for o in c["by_outcome"]} == dict(want["by_outcome"])
        first, done = c["time_to_first_action"], c["time_to_resolution"]
        assert (first["count"], first["median_seconds"], first["p90_seconds"]) == want["first"]
        assert (done["count"], done["median_seconds"], done["p90_seconds"]) == want["resolution"]
        assert c["appeals"] == {
            "appealed_complaints": want["appealed"],
            "appeals": want["appeals"],
            "reversals": want["reversals"],
            "open": want["open_appeals"],
            "upheld": want["upheld"],
        }
        assert want["total"] > 1000  # the data set covers the year well
        assert want["reversals"] > 0

    def test_evidence_and_census(self, document: dict[str, Any]) -> None:
        assert document["proactive_detections"] == {"raised": 5, "confirmed": 2}
        assert document["denials"] == [
            {"reason": "not_connected", "count": 7},
            {"reason": "quiet_hours", "count": 3},
            {"reason": "below_floor", "count": 1},
        ]
        bands = {b["band"]: b for b in document["child_accounts"]["bands"]}
        assert set(bands) == {"under_13", "13_15", "16_17", "unknown"}
        assert (bands["13_15"]["accounts"], bands["13_15"]["on_defaults"]) == (2, 1)
        changed = {s["setting"]: s["changed"] for s in bands["16_17"]["settings"]}
        # Choosing the default value explicitly is still on the default.
        assert (bands["16_17"]["on_defaults"], changed["profile_visibility"]) == (1, 1)
        assert bands["under_13"]["changed_any"] == 0

    def test_the_json_matches_its_published_schema(self, document: dict[str, Any]) -> None:
        schema = report_schema()
        jsonschema.Draft202012Validator.check_schema(schema)
        jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        ).validate(document)
        assert document["schema"] == REPORT_SCHEMA
        assert document["percentile_method"] == "nearest-rank"
        assert document["period"] == {"from": "2025-01-01", "to": "2025-12-31"}

    def test_without_evidence_or_census(self, store: ComplaintStore) -> None:
        """Sections without a source are null, and the schema allows it."""
        document = build_report(store, Period(dt.date(2030, 1, 1), dt.date(2030, 1, 2))).to_dict()
        assert document["proactive_detections"] is None
        assert document["denials"] is None
        assert document["child_accounts"] is None
        assert document["complaints"]["total"] == 0
        jsonschema.validate(document, report_schema())
        for fmt in FORMATS:
            assert render(document, fmt)


class TestFormats:
    def test_csv_follows_the_dsa_sections(self, document: dict[str, Any]) -> None:
        rows = list(csv.DictReader(io.StringIO(render(document, "csv"))))
        assert list(rows[0]) == ["section", "item", "category", "breakdown", "value", "unit"]
        sections = {r["section"] for r in rows}
        assert {"notices", "own_initiative", "complaints"} <= sections
        total = next(r for r in rows if r["item"] == "notices_received" and not r["category"])
        assert int(total["value"]) == document["complaints"]["total"]
        minors = next(
            r
            for r in rows
            if r["item"] == "notices_received"
            and r["category"] == "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"
            and not r["breakdown"]
        )
        by = {r["category"]: r["complaints"] for r in document["complaints"]["by_category"]}
        assert int(minors["value"]) == by["grooming"] + by["sexual_content"]
        reversed_ = next(r for r in rows if r["breakdown"] == "decision_reversed")
        assert int(reversed_["value"]) == document["complaints"]["appeals"]["reversals"]
        median = next(
            r
            for r in rows
            if r["item"] == "median_time_to_action" and r["breakdown"] == "first_action"
        )
        assert (
            int(median["value"]) == document["complaints"]["time_to_first_action"]["median_seconds"]
        )
        assert render(document, "csv").endswith("\r\n")

    def test_markdown(self, document: dict[str, Any]) -> None:
        text = render(document, "md")
        assert text.startswith("# Playground: transparency report")
        assert f"**{document['complaints']['total']:,}**" in text
        assert "nearest-rank" in text

    def test_markdown_census_in_words(self, document: dict[str, Any]) -> None:
        """The census tables name bands and settings in words, as the HTML does, not by
        the codes the JSON carries (``13_15``, ``daily_time_reminder``)."""
        text = render(document, "md")
        census = text[text.index("## Child accounts on protective defaults") :]
        assert "| 13 to 15 | 2 | 1 | 1 |" in census
        assert "| 13 to 15 | daily time reminder | 1 |" in census
        assert "13_15" not in census
        assert "daily_time_reminder" not in census

    def test_html_is_self_contained(self, document: dict[str, Any]) -> None:
        page = render(document, "html")
        assert page.startswith("<!doctype html>")
        assert "<script" not in page
        assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert "https://" not in page
        assert page.count("<svg") == 7

    def test_unknown_format(self, document: dict[str, Any]) -> None:
        with pytest.raises(InvalidCheckError, match="unknown report format"):
            render(document, "pdf")  # type: ignore[arg-type]

    @pytest.mark.parametrize("fmt", FORMATS)
    def test_a_document_that_is_not_a_report(self, document: dict[str, Any], fmt: str) -> None:
        """render(None, "json") wrote "null"; {} or a list were a KeyError or a TypeError
        from the writers, and a report missing a section a KeyError. Each is an
        InvalidCheckError now."""
        partial = {k: v for k, v in document.items() if k != "period"}
        bad: object
        for bad in (None, {}, [], "report", partial):
            if bad is partial and fmt == "json":
                continue  # JSON writes whatever it is given that has the complaints
            with pytest.raises(InvalidCheckError, match="transparency report document"):
                render(bad, fmt)  # type: ignore[arg-type]

    def test_durations_read_like_people_write_them(self) -> None:
        assert [duration(s) for s in (0, 59, 60, 3599, 3600, 172799, 172800)] == [
            "0 s", "59 s", "1 min", "60 min", "1.0 h", "48.0 h", "2.0 days",
        ]  # fmt: skip


class TestPeriodAndEvidence:
    def test_periods(self) -> None:
        assert Period.last_year(dt.date(2026, 3, 1)) == Period.year(2025)
        assert Period.year(2025).until == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        with pytest.raises(InvalidCheckError, match="must not end"):
            Period(dt.date(2025, 2, 1), dt.date(2025, 1, 1))

    def test_periods_of_the_wrong_kind(self, store: ComplaintStore) -> None:
        """Period.year(0) or (10000) was a ValueError, (9999) an OverflowError when the
        report was built, ("2025") a TypeError, (True) the year 1; Period("2025-01-01",
        ...) and Period(datetime, datetime) were accepted and failed later;
        build_report(None) and evidence=5 were AttributeErrors, platform=None was
        written into the report; record_detection("2025") an AttributeError and
        confirmed="no" counted as confirmed."""
        for bad_year in (0, 9999, 10000, "2025", True, 2025.0):
            with pytest.raises(InvalidCheckError, match="a report year must be"):
                Period.year(bad_year)  # type: ignore[arg-type]
        with pytest.raises(InvalidCheckError, match=r"today must be a datetime\.date"):
            Period.last_year("2026-03-01")  # type: ignore[arg-type]
        for start, end in (
            ("2025-01-01", "2025-12-31"),
            (dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2025, 12, 31, tzinfo=dt.UTC)),
            (dt.date(9999, 1, 1), dt.date(9999, 12, 31)),
        ):
            with pytest.raises(InvalidCheckError, match="report period"):
                Period(start, end)  # type: ignore[arg-type]
        year = Period.year(2025)
        for args, options, match in (
            ((None, year), {}, "store must be a complaint store"),
            ((store, "2025"), {}, "period must be a Period"),
            ((store, year), {"platform": None}, "platform must be"),
            ((store, year), {"evidence": 5}, "evidence must have"),
            # generated_at would be no RFC 3339 time (or an AttributeError)
            ((store, year), {"now": dt.datetime(2026, 1, 1)}, "now must be a timezone-aware"),  # noqa: DTZ001
            ((store, year), {"now": dt.date(2026, 1, 1)}, "now must be a timezone-aware"),
            ((store, year), {"now": "2026-01-01"}, "now must be a timezone-aware"),
        ):
            with pytest.raises(InvalidCheckError, match=match):
                build_report(*args, **options)
        evidence = MemoryEvidence()
        with pytest.raises(InvalidCheckError, match="an evidence time must be a datetime"):
            evidence.record_detection("2025-01-01")  # type: ignore[arg-type]
        with pytest.raises(InvalidCheckError, match="confirmed must be True or False"):
            evidence.record_detection(dt.datetime(2025, 1, 1, tzinfo=dt.UTC), confirmed="no")  # type: ignore[arg-type]
        assert evidence.proactive_detections(year.since, year.until) == Detections(0, 0)

    def test_memory_evidence_is_a_guard_sink(self) -> None:
        """Registered on a guard, it counts the denials the guard makes."""
        guard = Guard()
        found = MemoryEvidence()
        guard.add_sink(found)
        kid = Account(id="k", band="13_15", jurisdiction="GB")
        adult = Account(id="a", band="adult", jurisdiction="GB")
        guard.check("dm.send", actor=adult, target=kid)
        guard.check("profile.view", actor=kid, target=kid)
        assert guard.flush_events()
        since, until = (
            dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
            dt.datetime(2100, 1, 1, tzinfo=dt.UTC),
        )
        assert found.denials_by_reason(since, until) == {"not_connected": 1}
        assert found.proactive_detections(since, until) == Detections(0, 0)
        with pytest.raises(InvalidCheckError, match="timezone-aware"):
            found.record_detection(dt.datetime(2025, 1, 1))  # noqa: DTZ001
        assert isinstance(DecisionEvent, type)

    def test_census_round_trips_through_a_store(self, tmp_path: Path) -> None:
        """A census kept in the store is the one the report uses by default."""
        store = SQLiteComplaintStore(tmp_path / "c.db")
        taken = census()
        store.save_census(taken.taken_at, taken.to_dict())
        report = build_report(store, YEAR)
        assert report.census == taken
        before = build_report(store, Period.year(2024))
        assert before.census is None

    def test_a_stored_census_that_is_not_one(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A census row that is not a census (written by an older childsafe, or by hand)
        makes the report an InvalidCheckError naming the field, and the command exit 2,
        rather than a KeyError traceback or a band published as given."""
        store = SQLiteComplaintStore(tmp_path / "c.db")
        taken = census()
        bad = taken.to_dict()
        bad["bands"][0]["band"] = "<script>alert(1)</script>"
        with sqlite3.connect(store.path) as db:
            db.execute(
                "INSERT INTO childsafe_census VALUES (?, ?)",
                (taken.taken_at.timestamp(), json.dumps(bad)),
            )
        with pytest.raises(InvalidCheckError, match=r"census is not one: bands\[0\]\.band"):
            build_report(store, YEAR)
        with sqlite3.connect(store.path) as db:
            db.execute("UPDATE childsafe_census SET data = '{\"n\": 1}'")
        with pytest.raises(InvalidCheckError, match="census is not one: taken_at"):
            build_report(store, YEAR)
        args = ["report", "--from", "2025-01-01", "--to", "2025-12-31"]
        assert main([*args, "--store", f"sqlite:///{store.path}"]) == 2
        assert "census is not one" in capsys.readouterr().err


class TestCommand:
    @pytest.fixture(name="db")
    def _db(self, tmp_path: Path) -> str:
        store = SQLiteComplaintStore(tmp_path / "demo.db")
        store.add_many(to_complaint(r) for r in RECORDS[:300])
        return f"sqlite:///{store.path}"

    @pytest.mark.parametrize("fmt", FORMATS)
    def test_each_format(self, db: str, tmp_path: Path, fmt: str) -> None:
        out = tmp_path / f"report.{fmt}"
        code = main(["report", "--from", "2025-01-01", "--to", "2025-12-31", "--format", fmt,
                     "-o", str(out), "--store", db, "--platform", "Demo"])  # fmt: skip
        assert code == 0
        text = out.read_text(encoding="utf-8")
        assert "Demo" in text
        if fmt == "json":
            jsonschema.validate(json.loads(text), report_schema())

    def test_format_from_the_suffix_and_progress(
        self, db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        out = tmp_path / "r.html"
        assert main(["report", "--from", "2025-01-01", "--to", "2025-06-30", "-o", str(out),
                     "--store", db, "--progress"]) == 0  # fmt: skip
        assert out.read_text().startswith("<!doctype html>")
        other = tmp_path / "r.txt"  # an unknown suffix: JSON
        assert main(["report", "--store", db, "-o", str(other)]) == 0
        assert json.loads(other.read_text())["schema"] == REPORT_SCHEMA
        err = capsys.readouterr().err
        assert "5/5 done" in err
        assert err.count("\r") >= 5

    def test_stdout_and_no_progress_off_a_terminal(
        self, db: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        args = ["report", "--from", "2025-01-01", "--to", "2025-12-31", "--store", db, "-o", "-"]
        assert main(args) == 0
        captured = capsys.readouterr()
        assert json.loads(captured.out)["schema"] == REPORT_SCHEMA
        assert captured.err == ""

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--from", "2025-01-01"], "give both --from and --to"),
            (["--from", "2025-02-01", "--to", "2025-01-01"], "is before --from"),
            (["--store", "mysql://x"], "unknown store"),
            (["-o", "/nonexistent/dir/r.json"], "cannot write"),
            (["-o", "r\x00.json"], "a NUL byte in the path"),  # was a ValueError traceback
        ],
    )
    def test_errors_exit_2(
        self, db: str, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        full = ["report", "--store", db, *args]
        assert main(full) == 2
        assert message in capsys.readouterr().err

    def test_default_period_is_last_year(self, db: str, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["report", "--store", db, "-f", "json"]) == 0
        period = json.loads(capsys.readouterr().out)["period"]
        assert period["from"].endswith("-01-01")
        assert period["to"].endswith("-12-31")

    @pytest.mark.parametrize("option", ["--store", "--audit"])
    def test_a_store_that_does_not_exist(
        self, db: str, tmp_path: Path, option: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A mistyped store path is exit 2 naming it, never a report of zeros (nor a
        new empty database left behind)."""
        missing = tmp_path / "typo.db"
        args = ["report", "--store", db, "-f", "csv", option, f"sqlite:///{missing}"]
        assert main(args) == 2
        assert f"there is no {'complaint' if option == '--store' else 'audit'} store at" in (
            capsys.readouterr().err
        )
        assert not missing.exists()

    def test_a_bad_date(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["report", "--from", "2025-13-01", "--to", "2025-12-31"]) == 2
        assert "expected a date" in capsys.readouterr().err

    def test_desk_made_data(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Cases filed through the desk show up in the command's report."""
        store = SQLiteComplaintStore(tmp_path / "d.db")
        desk = ComplaintsDesk(store)
        at = dt.datetime(2025, 4, 1, tzinfo=dt.UTC)
        case = desk.file_report(
            {"category": "self_harm", "subject": {"kind": "content", "id": "p"}}, at=at
        )
        desk.resolve(case.id, "referred_hotline", at=at + dt.timedelta(minutes=30))
        assert main(["report", "--from", "2025-01-01", "--to", "2025-12-31", "--store",
                     f"sqlite:///{store.path}", "-f", "md"]) == 0  # fmt: skip
        text = capsys.readouterr().out
        assert "| Self-harm | STATEMENT_CATEGORY_SELF_HARM | 1 | 1 | 1 |" in text
        assert "| Time to first action | 1 | 1,800 s (30 min) | 1,800 s (30 min) |" in text


class TestPublished:
    def test_the_docs_publish_the_shipped_schema(self) -> None:
        """docs/_extra/schema/ serves the schema at its $id; it is the package's file."""
        from tests.reports.sample import SCHEMA, SCHEMA_COPY  # noqa: PLC0415

        assert SCHEMA_COPY.read_bytes() == SCHEMA.read_bytes()
        assert report_schema()["$id"].endswith("/schema/transparency-report-1.json")

    def test_the_sample_report_is_current(self) -> None:
        """The sample files in the docs are what this childsafe writes
        (python -m tests.reports.sample rewrites them)."""
        from tests.reports.sample import sample_files  # noqa: PLC0415

        for path, text in sample_files().items():
            assert path.read_bytes() == text.encode(), path


def test_platform_cases_are_own_initiative() -> None:
    """Cases the platform's own detection opened count in the own-initiative section of
    the CSV, and the JSON still matches its schema."""
    from childsafe import AgeBand  # noqa: PLC0415
    from childsafe.complaints import (  # noqa: PLC0415
        ComplaintsDesk,
        Intake,
        Reporter,
        ReporterRole,
        Subject,
        SubjectKind,
    )

    desk = ComplaintsDesk()
    at = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    own = Reporter(ReporterRole.PLATFORM, AgeBand.UNKNOWN)
    desk.file(Intake("grooming", Subject(SubjectKind.ACCOUNT, "a-1", "a-1"), own), at=at)
    document = build_report(desk.store, YEAR).to_dict()
    jsonschema.validate(document, report_schema())
    rows = list(csv.DictReader(io.StringIO(render(document, "csv"))))
    opened = [r for r in rows if r["item"] == "cases_opened"]
    assert opened == [
        {
            "section": "own_initiative",
            "item": "cases_opened",
            "category": "",
            "breakdown": "",
            "value": "1",
            "unit": "count",
        },
        {
            "section": "own_initiative",
            "item": "cases_opened",
            "category": "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
            "breakdown": "platform_category:grooming",
            "value": "1",
            "unit": "count",
        },
    ]
    assert not [r for r in rows if r["item"] == "notices_submitted_by"]
    assert "Our own detection" in render(document, "md")


@pytest.mark.parametrize("kind", KINDS)
def test_platform_cases_are_not_notices(kind: str, tmp_path: Path) -> None:
    """A case the platform's signals opened counts as an own-initiative measure: not in
    the notices' totals, categories, outcomes or times to action, on every store."""
    from childsafe import AgeBand  # noqa: PLC0415
    from childsafe.complaints import (  # noqa: PLC0415
        Intake,
        Reporter,
        ReporterRole,
        Subject,
        SubjectKind,
    )

    at = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    subject = Subject(SubjectKind.ACCOUNT, "a-1", "a-1")
    for store in make_store(kind, tmp_path):
        desk = ComplaintsDesk(store=store)
        young = Reporter(ReporterRole.CHILD, AgeBand.AGE_13_15)
        child = desk.file(Intake("grooming", subject, young), at=at)
        desk.resolve(child.id, "account_restricted", at=at + dt.timedelta(hours=2))
        own = Reporter(ReporterRole.PLATFORM, AgeBand.UNKNOWN)
        for minutes in (1, 3):
            case = desk.file(Intake("grooming", subject, own), at=at)
            desk.resolve(case.id, "account_restricted", at=at + dt.timedelta(minutes=minutes))
        desk.file(Intake("bullying", subject, own), at=at)  # still open
        document = build_report(store, YEAR).to_dict()
        jsonschema.validate(document, report_schema())
        c = document["complaints"]
        assert (c["total"], c["resolved"], c["open"], c["first_actioned"]) == (1, 1, 0, 1)
        assert {r["category"]: r["complaints"] for r in c["by_category"]}["grooming"] == 1
        assert {r["category"]: r["complaints"] for r in c["by_category"]}["bullying"] == 0
        assert {o["outcome"]: o["complaints"] for o in c["by_outcome"]}["account_restricted"] == 1
        assert [r["role"] for r in c["by_reporter"]] == ["child"]
        # only the child's notice is timed: two hours, not the platform's minutes
        assert c["time_to_first_action"] == {
            "count": 1,
            "median_seconds": 7200,
            "p90_seconds": 7200,
        }
        assert c["time_to_resolution"]["count"] == 1
        assert document["own_initiative"] == {
            "cases_opened": 3,
            "resolved": 2,
            "actioned": 2,
            "by_category": [
                {
                    "category": "bullying",
                    "dsa_category": "STATEMENT_CATEGORY_CYBER_VIOLENCE",
                    "cases": 1,
                },
                {
                    "category": "grooming",
                    "dsa_category": "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
                    "cases": 2,
                },
            ],
            "by_outcome": [{"outcome": "account_restricted", "cases": 2}],
        }
        rows = list(csv.DictReader(io.StringIO(render(document, "csv"))))
        totals = {
            (r["section"], r["item"]): r["value"]
            for r in rows
            if not r["category"] and not r["breakdown"]
        }
        assert totals["notices", "notices_received"] == "1"
        assert totals["own_initiative", "cases_opened"] == "3"
        assert "Our own detection opened **3** cases" in render(document, "md")
        assert "opened <strong>3</strong> cases" in render(document, "html")


class TestHostileNames:
    @given(st.text(min_size=1, max_size=40))
    def test_a_platform_name_cannot_inject(self, name: str) -> None:
        """Whatever the platform is called, the CSV has no cell a spreadsheet would run
        as a formula and still says the name (behind a ``'`` when it starts like one),
        and the Markdown title stays one heading line."""
        document = build_report(ComplaintsDesk().store, YEAR, platform=name, now=NOW).to_dict()
        rows = list(csv.reader(io.StringIO(render(document, "csv"), newline="")))
        assert not [
            cell
            for row in rows
            for cell in row
            if cell.startswith(("=", "+", "-", "@", "\t", "\r"))
        ]
        [platform] = [row[4] for row in rows if row[:2] == ["report", "platform"]]
        assert platform in (name, "'" + name)
        markdown = render(document, "md").splitlines()
        assert markdown[0].startswith("# ")
        assert markdown[0].endswith(": transparency report")
        assert markdown[1] == ""

    def test_a_formula_name_is_text(self) -> None:
        document = build_report(
            ComplaintsDesk().store, YEAR, platform='=HYPERLINK("http://x","y")', now=NOW
        ).to_dict()
        assert '"\'=HYPERLINK(""http://x"",""y"")"' in render(document, "csv")
        assert document["platform"] == '=HYPERLINK("http://x","y")'  # JSON keeps it as is

    @pytest.mark.parametrize(
        "name", [" =1+1", "\u00a0\t@SUM(A1)", '\uff1dHYPERLINK("http://x")', "\nx", " \uff0b1"]
    )
    def test_a_formula_behind_spaces_or_in_full_width_is_text(self, name: str) -> None:
        """Some spreadsheets trim leading spaces before reading a cell, and some read a
        full-width sign as the ASCII one: such a name starts its cell with ``'`` too."""
        document = build_report(ComplaintsDesk().store, YEAR, platform=name, now=NOW).to_dict()
        rows = list(csv.reader(io.StringIO(render(document, "csv"))))
        assert any(cell == "'" + name for row in rows for cell in row)
        assert not any(cell == name for row in rows for cell in row)

    def test_markdown_shows_hostile_names_as_text(self) -> None:
        """A platform name, category label, hash list name or reason code written as
        HTML, a link, an image or a code span is shown as written in the Markdown: a
        CommonMark renderer (the Markdown is pasted into blog posts) makes no element of
        it."""
        hostile = "<img src=x onerror=alert(1)> [click](javascript:alert(2)) ![i](x) `x` &lt;"
        categories = Categories.from_mapping(
            {"grooming": "protection_of_minors"}, labels={"grooming": hostile}
        )
        found = MemoryEvidence()
        at = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
        found.record_denial(hostile, at)
        found.record_denial("a`<b>x</b>`", at)
        found.record_media("media.upload", at, allowed=False, reason="known_abuse_match",
                           matched_list=hostile)  # fmt: skip
        document = build_report(
            ComplaintsDesk(categories=categories).store,
            YEAR,
            platform=hostile,
            categories=categories,
            evidence=found,
            now=NOW,
        ).to_dict()
        page = MarkdownIt("commonmark").enable("table").render(render(document, "md"))
        assert "<img" not in page
        assert "<a " not in page
        assert "<b>" not in page
        assert "&amp;lt;" in page  # the reference is shown, not read
        tags = set(re.findall(r"<([a-z0-9]+)", page))
        assert tags <= {"h1", "h2", "h3", "p", "table", "thead", "tbody", "tr", "th", "td",
                        "strong", "code"}  # fmt: skip
        text = html.unescape(re.sub(r"<[^>]+>", "", page))
        assert text.count(hostile) >= 3  # the title, the category and the hash list
        assert "a`<b>x</b>`" in text

    @given(st.text(st.sampled_from("<>[]()!`&;#/\\ax= ") | st.characters(), max_size=40))
    @example("<img src=x onerror=alert(1)>")
    @example("[x](javascript:alert(1))")
    @example("<https://example.com>")
    def test_a_platform_name_makes_no_markdown_element(self, name: str) -> None:
        """Whatever the platform is called, its Markdown title renders as one heading
        holding no link, image or HTML of the name's making."""
        document = build_report(ComplaintsDesk().store, YEAR, platform=name, now=NOW).to_dict()
        title = render(document, "md").splitlines()[0]
        page = MarkdownIt("commonmark").render(title)
        assert page.startswith("<h1>")
        assert not set(re.findall(r"<([a-z0-9]+)", page)) - {"h1", "em", "strong"}
