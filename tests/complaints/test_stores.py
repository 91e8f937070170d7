"""One suite for every complaint store: memory, SQLite and a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import secrets
import sqlite3
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from childsafe.complaints import (
    SCHEMA_VERSION,
    ComplaintError,
    ComplaintsDesk,
    ComplaintStore,
    ComplaintStoreError,
    MemoryComplaintStore,
    Outcome,
    SQLiteComplaintStore,
    Status,
    open_store,
)
from childsafe.complaints._stores import figures_of
from childsafe.exceptions import MissingExtraError
from childsafe.reports import BandCensus, Census
from tests.complaints.stores import KINDS, POSTGRES_URL, make_store
from tests.reports.dataset import PERIOD, generate, to_complaint

T0 = dt.datetime(2025, 5, 1, tzinfo=dt.UTC)
REPORT = {"category": "privacy", "subject": {"kind": "content", "id": "p-1"}}


@pytest.fixture(name="store", params=KINDS)
def _store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ComplaintStore]:
    yield from make_store(request.param, tmp_path)


class TestCases:
    def test_round_trip(self, store: ComplaintStore) -> None:
        """A case with every field set comes back equal."""
        desk = ComplaintsDesk(store)
        case = desk.file_report(
            {**REPORT, "description": "ünïcode ✓", "reporter": {"age_band": "16_17"}}, at=T0
        )
        desk.resolve(case.id, Outcome.REFERRED_HOTLINE, at=T0 + dt.timedelta(minutes=3))
        desk.appeal(case.id, at=T0 + dt.timedelta(hours=1))
        final = desk.decide_appeal(case.id, outcome="no_violation", at=T0 + dt.timedelta(hours=2))
        assert store.get(case.id) == final
        assert store.get("missing") is None

    def test_ids_are_unique(self, store: ComplaintStore) -> None:
        case = ComplaintsDesk(store).file_report(REPORT, at=T0)
        with pytest.raises(ComplaintStoreError):
            store.add(case)

    def test_a_stale_update_writes_nothing(self, store: ComplaintStore) -> None:
        """Two moderators resolving the same case: the second is refused."""
        desk = ComplaintsDesk(store)
        case = desk.file_report(REPORT, at=T0)
        first = case.resolve(Outcome.CONTENT_REMOVED, T0 + dt.timedelta(hours=1))
        second = case.resolve(Outcome.NO_VIOLATION, T0 + dt.timedelta(hours=2))
        store.update(first)
        with pytest.raises(ComplaintStoreError, match="changed since it was read"):
            store.update(second)
        assert desk.get(case.id).outcome is Outcome.CONTENT_REMOVED

    def test_newest_first_and_by_status(self, store: ComplaintStore) -> None:
        desk = ComplaintsDesk(store)
        cases = [desk.file_report(REPORT, at=T0 + dt.timedelta(hours=h)) for h in range(5)]
        desk.start_review(cases[1].id, at=T0 + dt.timedelta(hours=9))
        assert [c.id for c in store.cases()] == [c.id for c in reversed(cases)]
        assert [c.id for c in store.cases(limit=2)] == [cases[4].id, cases[3].id]
        assert [c.id for c in store.cases(status=Status.IN_REVIEW)] == [cases[1].id]
        with pytest.raises(ComplaintError, match="limit"):
            store.cases(limit=0)

    def test_status_by_name_and_bad_filters(self, store: ComplaintStore) -> None:
        """The desk takes a status by its value as by its member, on every store; a
        status that is none is the library's error naming the statuses (the memory
        store matched nothing in silence, the SQL ones raised AttributeError), and so
        is a case id that is not a string (PostgreSQL raised its own SQL error)."""
        desk = ComplaintsDesk(store)
        case = desk.file_report(REPORT, at=T0)
        assert [c.id for c in desk.cases(status="received")] == [case.id]
        assert desk.cases(status="resolved") == []
        for bad in ("open", 1, Outcome.NO_VIOLATION):
            with pytest.raises(ComplaintError, match=r"status must be one of received, "):
                desk.cases(status=bad)  # type: ignore[arg-type]
            with pytest.raises(ComplaintError, match="status must be one of"):
                store.cases(status=bad)  # type: ignore[arg-type]
        with pytest.raises(ComplaintError, match="a case id is a string, got 5"):
            desk.start_review(5, at=T0)  # type: ignore[arg-type]
        assert desk.get(case.id) == case

    def test_naive_and_backwards_times_are_refused(self, store: ComplaintStore) -> None:
        case = ComplaintsDesk(store).file_report(REPORT, at=T0)
        backwards = case.start_review(T0 - dt.timedelta(seconds=1))
        with pytest.raises(ComplaintError, match="before the report was received"):
            store.update(backwards)
        with pytest.raises(ComplaintError, match="period must end after"):
            store.figures(T0, T0)

    def test_concurrent_desks_lose_nothing(self, store: ComplaintStore) -> None:
        """Eight threads filing at once: every case is stored."""
        desk = ComplaintsDesk(store)
        filed: list[str] = []

        def work() -> None:
            filed.extend(desk.file_report(REPORT).id for _ in range(10))

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(c.id for c in store.cases(limit=1000)) == sorted(filed)
        assert len(filed) == 80


class TestTimesAtTheEdge:
    def test_a_time_the_store_cannot_read_back_is_refused(self, store: ComplaintStore) -> None:
        """A step dated in the last microseconds of 9999 (stored as seconds, read back as
        year 10000) is refused before anything is written, so the case, and the
        moderators' queue listing it first, stay readable; the last whole second works."""
        desk = ComplaintsDesk(store)
        report = {"category": "bullying", "subject": {"kind": "account", "id": "u-1"}}
        end = dt.datetime.max.replace(tzinfo=dt.UTC)
        with pytest.raises(ComplaintError, match=r"time out of range: 9999-12-31T23:59:59\.999999"):
            desk.file_report(report, at=end)
        assert desk.cases() == []
        last = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
        case = desk.file_report(report, at=last)
        with pytest.raises(ComplaintError, match="time out of range"):
            desk.resolve(case.id, Outcome.NO_VIOLATION, at=end)
        assert [c.id for c in desk.cases()] == [case.id]
        assert desk.get(case.id).received_at == last
        assert desk.get(case.id).status is Status.RECEIVED


class TestFigures:
    def test_the_store_agrees_with_python(self, store: ComplaintStore) -> None:
        """On a generated data set, the store's grouping and percentiles equal the
        plain Python computation over the same cases."""
        records = generate(600)
        cases = [to_complaint(r) for r in records]
        assert store.add_many(cases) == len(cases)
        since, until = PERIOD
        chosen = [c for c in cases if since <= c.received_at < until]
        assert store.figures(since, until) == figures_of(chosen)

    def test_an_empty_period(self, store: ComplaintStore) -> None:
        figures = store.figures(T0, T0 + dt.timedelta(days=1))
        assert figures.groups == ()
        assert (figures.first_action.count, figures.first_action.median) == (0, None)


class TestCensusKept:
    def test_a_naive_time_is_refused(self, store: ComplaintStore) -> None:
        with pytest.raises(ComplaintError, match="timezone-aware"):
            store.save_census(dt.datetime(2025, 1, 1), {})  # noqa: DTZ001

    def test_the_latest_before_the_end(self, store: ComplaintStore) -> None:
        first, second = _census(T0, 1), _census(T0 + dt.timedelta(days=30), 2)
        store.save_census(T0, first)
        store.save_census(T0 + dt.timedelta(days=30), second)
        assert store.latest_census(T0) is None
        found = store.latest_census(T0 + dt.timedelta(days=1))
        assert found is not None
        assert found == (T0, first)
        assert store.latest_census(T0 + dt.timedelta(days=31)) == (
            T0 + dt.timedelta(days=30),
            second,
        )

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"band": "<script>alert(1)</script>"}, r"bands\[0\]\.band: expected one of"),
            ({"band": "adult"}, r"bands\[0\]\.band: expected one of"),
            ({"accounts": -1}, "whole counts"),
            ({"on_defaults": 9}, "on_defaults at most accounts"),
            ({"accounts": True}, "whole counts"),
            ({"settings": [{"setting": "<b>x</b>", "changed": 1}]}, r"settings\[0\]"),
            ({"settings": [{"setting": "quiet_hours", "changed": "1"}]}, r"settings\[0\]"),
        ],
    )
    def test_what_is_not_a_census_is_refused(
        self, store: ComplaintStore, change: dict[str, object], message: str
    ) -> None:
        """A census is printed in every later report: one with a band or setting the
        report does not know (published as given in Markdown), or counts that are not
        whole, is refused when saved, and nothing is kept."""
        census = _census(T0, 1)
        census["bands"][0] |= change
        with pytest.raises(ComplaintError, match=message):
            store.save_census(T0, census)
        junks: list[object] = [{"n": 1}, {"taken_at": "2025-05-01", "bands": []}, []]
        for junk in junks:
            with pytest.raises(ComplaintError, match="save_census: "):
                store.save_census(T0, junk)  # type: ignore[arg-type]
        assert store.latest_census(T0 + dt.timedelta(days=1)) is None


def _census(at: dt.datetime, accounts: int) -> dict[str, Any]:
    """A census as take_census writes it, ``accounts`` children aged 13 to 15."""
    return Census(at, (BandCensus("13_15", accounts, 1, {"quiet_hours": accounts - 1}),)).to_dict()


class TestSQLite:
    def test_schema_version_and_wal(self, tmp_path: Path) -> None:
        store = SQLiteComplaintStore(tmp_path / "c.db")
        assert store.schema_version() == SCHEMA_VERSION
        with sqlite3.connect(store.path) as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        SQLiteComplaintStore(store.path)  # opening again migrates nothing
        store.close()

    def test_a_newer_schema_is_refused(self, tmp_path: Path) -> None:
        store = SQLiteComplaintStore(tmp_path / "c.db")
        with sqlite3.connect(store.path) as db:
            db.execute("UPDATE childsafe_complaints_meta SET value = '99'")
        with pytest.raises(ComplaintStoreError, match="schema version 99"):
            SQLiteComplaintStore(store.path)

    def test_an_unopenable_file(self, tmp_path: Path) -> None:
        with pytest.raises(ComplaintStoreError, match="cannot open"):
            SQLiteComplaintStore(tmp_path / "missing" / "dir" / "c.db")
        with pytest.raises(ComplaintStoreError, match="a NUL byte in the path"):
            SQLiteComplaintStore(str(tmp_path / "c\x00.db"))  # was a ValueError

    def test_a_failed_bulk_insert_rolls_back(self, tmp_path: Path) -> None:
        store = SQLiteComplaintStore(tmp_path / "c.db")
        case = to_complaint(generate(1)[0])
        with pytest.raises(ComplaintStoreError):
            store.add_many([case, case])
        assert store.get(case.id) is None


class TestOpenStore:
    def test_urls(self, tmp_path: Path) -> None:
        assert isinstance(open_store("memory:"), MemoryComplaintStore)
        found = open_store(f"sqlite:///{tmp_path}/x.db")
        assert isinstance(found, SQLiteComplaintStore)
        assert found.path == f"{tmp_path}/x.db"
        for bad in ("sqlite:///", "mysql://x", "x.db"):
            with pytest.raises(ComplaintError):
                open_store(bad)

    @pytest.mark.skipif(not POSTGRES_URL, reason="set CHILDSAFE_TEST_POSTGRES_URL")
    def test_postgres_url(self) -> None:
        assert POSTGRES_URL is not None
        store = open_store(POSTGRES_URL)
        assert type(store).__name__ == "PostgresComplaintStore"

    @pytest.mark.skipif(not POSTGRES_URL, reason="set CHILDSAFE_TEST_POSTGRES_URL")
    def test_postgres_reader_refuses_a_database_without_the_tables(self) -> None:
        """``create=False`` (what ``childsafe report`` opens) names a schema with no
        complaint tables instead of creating them and reporting zeros; with the tables
        it opens the store."""
        import psycopg  # noqa: PLC0415

        from childsafe.complaints import PostgresComplaintStore  # noqa: PLC0415

        assert POSTGRES_URL is not None
        schema = f"childsafe_test_{secrets.token_hex(4)}"
        try:
            with pytest.raises(ComplaintStoreError, match=f"schema {schema} has no table"):
                PostgresComplaintStore(POSTGRES_URL, schema=schema, create=False)
            with psycopg.connect(POSTGRES_URL, autocommit=True) as db:
                found = db.execute(
                    "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (schema,)
                ).fetchone()
            assert found is None  # nothing was created
            PostgresComplaintStore(POSTGRES_URL, schema=schema).close()
            PostgresComplaintStore(POSTGRES_URL, schema=schema, create=False).close()
        finally:
            with psycopg.connect(POSTGRES_URL, autocommit=True) as db:
                db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")

    def test_memory_close_forgets(self) -> None:
        store = MemoryComplaintStore()
        case = ComplaintsDesk(store).file_report(REPORT, at=T0)
        store.close()
        assert store.get(case.id) is None

    def test_postgres_needs_its_extra(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without psycopg, the store names the extra to install."""
        from childsafe.complaints import PostgresComplaintStore  # noqa: PLC0415

        monkeypatch.setitem(sys.modules, "psycopg", None)
        with pytest.raises(MissingExtraError, match=r"childsafe\[postgres\]"):
            PostgresComplaintStore("postgresql://127.0.0.1/x")

    @pytest.mark.skipif(not POSTGRES_URL, reason="set CHILDSAFE_TEST_POSTGRES_URL")
    def test_postgres_schema_version_and_errors(self) -> None:
        """The version table, a newer schema refused, and a failing statement."""
        import psycopg  # noqa: PLC0415

        from childsafe.complaints import PostgresComplaintStore  # noqa: PLC0415

        assert POSTGRES_URL is not None
        for store in make_store("postgres", Path()):
            assert isinstance(store, PostgresComplaintStore)
            assert store.schema_version() == SCHEMA_VERSION
            schema = store.schema
            with psycopg.connect(POSTGRES_URL, autocommit=True) as db:
                db.execute(f"UPDATE {schema}.childsafe_complaints_meta SET value = '99'")  # noqa: S608
            with pytest.raises(ComplaintStoreError, match="schema version 99"):
                PostgresComplaintStore(POSTGRES_URL, schema=schema)
            with psycopg.connect(POSTGRES_URL, autocommit=True) as db:
                db.execute(f"DROP TABLE {schema}.childsafe_complaints")
            with pytest.raises(ComplaintStoreError, match="complaint store: "):
                store.get("x")

    def test_postgres_errors(self) -> None:
        from childsafe.complaints import PostgresComplaintStore  # noqa: PLC0415

        with pytest.raises(ComplaintError, match="schema must be"):
            PostgresComplaintStore("postgresql://127.0.0.1:1/x", schema="bad name")
        with pytest.raises(ComplaintStoreError, match="cannot connect"):
            PostgresComplaintStore("postgresql://postgres@127.0.0.1:1/test", timeout=1)

    def test_missing_attribute(self) -> None:
        import childsafe.complaints as module  # noqa: PLC0415

        with pytest.raises(AttributeError):
            _ = module.NoSuchThing
        assert issubclass(MissingExtraError, ImportError)
