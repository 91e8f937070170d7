"""Where cases are kept: in memory, or in SQLite (the embedded default).

Every store offers the same small protocol (:class:`ComplaintStore`); the shared
test suite runs on each, PostgreSQL included (:mod:`childsafe.complaints._postgres`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, ClassVar, Final, Protocol

from childsafe._bands import AgeBand
from childsafe.complaints._errors import ComplaintError, ComplaintStoreError
from childsafe.complaints._figures import ComplaintFigures, Durations, Group, rank_of
from childsafe.complaints._model import (
    Appeal,
    Complaint,
    Outcome,
    Reporter,
    ReporterRole,
    Status,
    Subject,
    SubjectKind,
)

__all__ = [
    "SCHEMA_VERSION",
    "ComplaintStore",
    "MemoryComplaintStore",
    "SQLiteComplaintStore",
    "open_store",
]

SCHEMA_VERSION: Final = 1
"""The version of the complaints tables; stores create and migrate them to it."""


class ComplaintStore(Protocol):
    """Where the complaints desk keeps its cases.

    ``update`` writes a case only if the stored one is the revision before it
    (``complaint.revision - 1``), so two moderators cannot both take the same step;
    otherwise it raises :class:`ComplaintStoreError` and writes nothing.
    """

    def add(self, complaint: Complaint) -> None:
        """Store a new case (its id must be new)."""

    def add_many(self, complaints: Iterable[Complaint]) -> int:
        """Store many new cases at once (imports, benchmarks); how many."""

    def get(self, case_id: str) -> Complaint | None:
        """The case ``case_id``, or ``None``."""

    def update(self, complaint: Complaint) -> None:
        """Replace the stored case with ``complaint``, its next revision."""

    def cases(self, *, status: Status | None = None, limit: int = 50) -> list[Complaint]:
        """The newest cases (received last first), in ``status`` if given."""

    def figures(self, since: dt.datetime, until: dt.datetime) -> ComplaintFigures:
        """The figures of the cases received in ``[since, until)``."""

    def save_census(self, taken_at: dt.datetime, data: Mapping[str, Any]) -> None:
        """Keep a census of child accounts' settings (JSON-able ``data``)."""

    def latest_census(self, until: dt.datetime) -> tuple[dt.datetime, dict[str, Any]] | None:
        """The last census taken before ``until``, with when it was taken."""

    def close(self) -> None:
        """Release connections (the store cannot be used afterwards)."""


_CENSUS_BANDS: Final = frozenset(
    b.value for b in (AgeBand.UNDER_13, AgeBand.AGE_13_15, AgeBand.AGE_16_17, AgeBand.UNKNOWN)
)


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def census_problem(data: object) -> str | None:
    """What is wrong with ``data`` as a census (``Census.to_dict()``: ``taken_at``, an
    aware ISO 8601 time, and ``bands``, each a child band with whole, non-negative
    ``accounts``, ``on_defaults`` and per known setting ``changed`` counts), or
    ``None``. A census is printed in every later report: a band or setting the report
    does not know, or a missing field, would break them all or be published as given."""
    from childsafe._settings import SETTINGS  # noqa: PLC0415 - the catalogue is large

    if not isinstance(data, Mapping):
        return f"expected the census as a mapping (Census.to_dict()), got {type(data).__name__}"
    taken = data.get("taken_at")
    try:
        aware = isinstance(taken, str) and dt.datetime.fromisoformat(taken).tzinfo is not None
    except ValueError:
        aware = False
    if not aware:
        return f"taken_at: expected an ISO 8601 time with its offset, got {taken!r:.60}"
    bands = data.get("bands")
    if not isinstance(bands, list):
        return f"bands: expected a list, got {type(bands).__name__}"
    seen: set[str] = set()
    for i, band in enumerate(bands):
        where = f"bands[{i}]"
        if not isinstance(band, Mapping):
            return f"{where}: expected a mapping, got {type(band).__name__}"
        name = band.get("band")
        if name not in _CENSUS_BANDS or name in seen:
            known = ", ".join(sorted(_CENSUS_BANDS))
            return f"{where}.band: expected one of {known}, each once, got {name!r:.60}"
        seen.add(name)
        accounts, plain = band.get("accounts"), band.get("on_defaults")
        if not (isinstance(accounts, int) and isinstance(plain, int)) or not (
            _count(accounts) and _count(plain) and plain <= accounts
        ):
            return (
                f"{where}: accounts and on_defaults must be whole counts, on_defaults at "
                f"most accounts, got {accounts!r:.30} and {plain!r:.30}"
            )
        settings = band.get("settings")
        if not isinstance(settings, list):
            return f"{where}.settings: expected a list, got {type(settings).__name__}"
        for j, item in enumerate(settings):
            if (
                not isinstance(item, Mapping)
                or item.get("setting") not in SETTINGS
                or not _count(item.get("changed"))
            ):
                return (
                    f"{where}.settings[{j}]: expected a known setting and a whole count "
                    f"changed, got {item!r:.80}"
                )
    return None


def _check_census(taken_at: dt.datetime, data: object) -> None:
    _seconds(taken_at)
    problem = census_problem(data)
    if problem is not None:
        raise ComplaintError(f"save_census: {problem}")


def _seconds(value: dt.datetime) -> float:
    """``value`` as the UNIX seconds every store keeps; a time those seconds cannot be
    read back as (the last microseconds of 9999-12-31 round to year 10000) is refused
    before anything is written: stored, it made ``get`` and ``cases`` (the moderators'
    queue, newest first) raise for every later reader."""
    if value.tzinfo is None:
        raise ComplaintError(f"a complaint time must be timezone-aware, got {value!r}")
    seconds = value.timestamp()
    try:
        dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (OverflowError, ValueError, OSError):
        raise ComplaintError(
            f"a complaint time out of range: {value.isoformat()} (the stores keep times "
            "up to 9999-12-31T23:59:59Z)"
        ) from None
    return seconds


def _time(value: float | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromtimestamp(value, dt.UTC)


def _appeals_json(appeals: tuple[Appeal, ...]) -> str:
    return json.dumps(
        [
            [
                _seconds(a.filed_at),
                None if a.decided_at is None else _seconds(a.decided_at),
                a.reversed,
                a.outcome_before,
                a.outcome_after,
            ]
            for a in appeals
        ],
        separators=(",", ":"),
    )


def _appeals(raw: str) -> tuple[Appeal, ...]:
    out = []
    for filed, decided, reversed_, before, after in json.loads(raw):
        out.append(
            Appeal(
                filed_at=dt.datetime.fromtimestamp(filed, dt.UTC),
                decided_at=_time(decided),
                reversed=reversed_,
                outcome_before=None if before is None else Outcome(before),
                outcome_after=None if after is None else Outcome(after),
            )
        )
    return tuple(out)


COLUMNS: Final = (
    "id",
    "revision",
    "received_at",
    "category",
    "reporter_role",
    "reporter_band",
    "reporter_id",
    "subject_kind",
    "subject_id",
    "subject_account",
    "description",
    "status",
    "first_action_at",
    "resolved_at",
    "outcome",
    "appeals",
    "reversals",
    "appeal_log",
    "first_action_secs",
    "resolution_secs",
)


def row_of(c: Complaint) -> tuple[Any, ...]:
    """``c`` as a row of :data:`COLUMNS` (times as UNIX seconds)."""
    received = _seconds(c.received_at)
    first = None if c.first_action_at is None else _seconds(c.first_action_at)
    resolved = None if c.resolved_at is None else _seconds(c.resolved_at)
    if (first is not None and first < received) or (resolved is not None and resolved < received):
        raise ComplaintError(f"case {c.id!r}: an action cannot come before the report was received")
    return (
        c.id,
        c.revision,
        received,
        c.category,
        c.reporter.role.value,
        c.reporter.band.value,
        c.reporter.account_id,
        c.subject.kind.value,
        c.subject.id,
        c.subject.account_id,
        c.description,
        c.status.value,
        first,
        resolved,
        None if c.outcome is None else c.outcome.value,
        len(c.appeals),
        c.reversals,
        _appeals_json(c.appeals),
        None if first is None else first - received,
        None if resolved is None else resolved - received,
    )


def complaint_of(row: tuple[Any, ...]) -> Complaint:
    """The case stored as ``row`` (:data:`COLUMNS` order)."""
    return Complaint(
        id=row[0],
        revision=row[1],
        received_at=dt.datetime.fromtimestamp(row[2], dt.UTC),
        category=row[3],
        reporter=Reporter(ReporterRole(row[4]), AgeBand(row[5]), row[6]),
        subject=Subject(SubjectKind(row[7]), row[8], row[9]),
        description=row[10],
        status=Status(row[11]),
        first_action_at=_time(row[12]),
        resolved_at=_time(row[13]),
        outcome=None if row[14] is None else Outcome(row[14]),
        appeals=_appeals(row[17]),
    )


def _check_limit(limit: int) -> int:
    value: object = limit
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
        raise ComplaintError(f"limit must be a whole number from 1 to 10000, got {limit!r}")
    return limit


def _check_status(status: Status | str | None) -> Status | None:
    """``status`` as a :class:`Status` (its value is taken too); anything else raises
    :class:`ComplaintError` naming the statuses, never matching nothing in silence."""
    given: object = status
    if given is None or isinstance(given, Status):
        return given
    if isinstance(given, str) and given in {s.value for s in Status}:
        return Status(given)
    known = ", ".join(s.value for s in Status)
    raise ComplaintError(f"status must be one of {known}, got {status!r}")


def _check_period(since: dt.datetime, until: dt.datetime) -> tuple[float, float]:
    start, end = _seconds(since), _seconds(until)
    if end <= start:
        raise ComplaintError(f"the period must end after it starts: {since} .. {until}")
    return start, end


# ------------------------------------------------------------------------ memory


class MemoryComplaintStore:
    """Cases in a dict: for tests and single-process demos."""

    def __init__(self) -> None:
        self._cases: dict[str, Complaint] = {}
        self._census: list[tuple[dt.datetime, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def add(self, complaint: Complaint) -> None:
        row_of(complaint)  # the same checks as the database stores
        with self._lock:
            if complaint.id in self._cases:
                raise ComplaintStoreError(f"a case with the id {complaint.id!r} exists already")
            self._cases[complaint.id] = complaint

    def add_many(self, complaints: Iterable[Complaint]) -> int:
        n = 0
        for complaint in complaints:
            self.add(complaint)
            n += 1
        return n

    def get(self, case_id: str) -> Complaint | None:
        return self._cases.get(case_id)

    def update(self, complaint: Complaint) -> None:
        row_of(complaint)
        with self._lock:
            stored = self._cases.get(complaint.id)
            if stored is None or stored.revision != complaint.revision - 1:
                raise ComplaintStoreError(
                    f"case {complaint.id!r} changed since it was read; nothing was written"
                )
            self._cases[complaint.id] = complaint

    def cases(self, *, status: Status | None = None, limit: int = 50) -> list[Complaint]:
        _check_limit(limit)
        status = _check_status(status)
        with self._lock:
            found = [c for c in self._cases.values() if status is None or c.status is status]
        found.sort(key=lambda c: (c.received_at, c.id), reverse=True)
        return found[:limit]

    def figures(self, since: dt.datetime, until: dt.datetime) -> ComplaintFigures:
        start, end = _check_period(since, until)
        with self._lock:
            chosen = [c for c in self._cases.values() if start <= c.received_at.timestamp() < end]
        return figures_of(chosen)

    def save_census(self, taken_at: dt.datetime, data: Mapping[str, Any]) -> None:
        _check_census(taken_at, data)
        with self._lock:
            self._census.append((taken_at, json.loads(json.dumps(data))))

    def latest_census(self, until: dt.datetime) -> tuple[dt.datetime, dict[str, Any]] | None:
        with self._lock:
            before = [c for c in self._census if c[0] < until]
        return max(before, key=lambda c: c[0]) if before else None

    def close(self) -> None:
        with self._lock:
            self._cases.clear()


def figures_of(complaints: Iterable[Complaint]) -> ComplaintFigures:
    """The figures of ``complaints``, computed in Python (the memory store's way)."""
    counts: dict[tuple[str, str, str, str | None], list[int]] = defaultdict(lambda: [0] * 7)
    first: list[float] = []
    resolution: list[float] = []
    for c in complaints:
        key = (
            c.category,
            c.reporter.role.value,
            c.reporter.band.value,
            None if c.outcome is None else c.outcome.value,
        )
        row = counts[key]
        row[0] += 1
        # Time to action is measured on notices: cases the platform opened itself
        # (its own detection) are counted, not timed.
        notice = c.reporter.role is not ReporterRole.PLATFORM
        if c.first_action_at is not None:
            row[1] += 1
            if notice:
                first.append(c.first_action_at.timestamp() - c.received_at.timestamp())
        if c.resolved_at is not None:
            row[2] += 1
            if notice:
                resolution.append(c.resolved_at.timestamp() - c.received_at.timestamp())
        row[3] += 1 if c.appeals else 0
        row[4] += len(c.appeals)
        row[5] += c.reversals
        row[6] += 1 if c.status is Status.APPEALED else 0
    groups = tuple(Group(*key, *row) for key, row in sorted(counts.items(), key=_group_key))
    return ComplaintFigures(groups, Durations.of(first), Durations.of(resolution))


def _group_key(item: tuple[tuple[str, str, str, str | None], list[int]]) -> tuple[str, ...]:
    category, role, band, outcome = item[0]
    return (category, role, band, outcome or "")


# ------------------------------------------------------------------------ SQLite

TABLE: Final = "childsafe_complaints"
META: Final = "childsafe_complaints_meta"
CENSUS: Final = "childsafe_census"

_SQLITE_SCHEMA: Final = (
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        id TEXT PRIMARY KEY, revision INTEGER NOT NULL, received_at REAL NOT NULL,
        category TEXT NOT NULL, reporter_role TEXT NOT NULL, reporter_band TEXT NOT NULL,
        reporter_id TEXT, subject_kind TEXT NOT NULL, subject_id TEXT NOT NULL,
        subject_account TEXT, description TEXT NOT NULL, status TEXT NOT NULL,
        first_action_at REAL, resolved_at REAL, outcome TEXT,
        appeals INTEGER NOT NULL, reversals INTEGER NOT NULL, appeal_log TEXT NOT NULL,
        first_action_secs REAL, resolution_secs REAL)""",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_received ON {TABLE} (received_at)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_status ON {TABLE} (status, received_at)",
    # Covers the report's GROUP BY, in its order: one index scan, no sort, no table reads.
    f"""CREATE INDEX IF NOT EXISTS {TABLE}_groups ON {TABLE} (category, reporter_role,
        reporter_band, outcome, received_at, first_action_secs, resolution_secs, appeals,
        reversals, status)""",
    f"""CREATE INDEX IF NOT EXISTS {TABLE}_first ON {TABLE} (first_action_secs, received_at)
        WHERE first_action_secs IS NOT NULL""",
    f"""CREATE INDEX IF NOT EXISTS {TABLE}_resolution ON {TABLE} (resolution_secs, received_at)
        WHERE resolution_secs IS NOT NULL""",
    f"CREATE TABLE IF NOT EXISTS {CENSUS} (taken_at REAL PRIMARY KEY, data TEXT NOT NULL)",
)

GROUP_SQL: Final = f"""
    SELECT category, reporter_role, reporter_band, outcome, count(*),
           count(first_action_secs), count(resolution_secs), sum(appeals > 0), sum(appeals),
           sum(reversals), sum(status = 'appealed')
    FROM {TABLE} INDEXED BY {TABLE}_groups WHERE received_at >= ? AND received_at < ?
    GROUP BY category, reporter_role, reporter_band, outcome
"""  # noqa: S608 - constant identifiers
_PLACEHOLDERS: Final = ", ".join("?" * len(COLUMNS))


class SQLCases:
    """What the SQLite and PostgreSQL stores ask their database in the same SQL: reading
    a case, the optimistic update, the queue and the latest census. A subclass gives
    its driver's parameter placeholder (``?`` or ``%s``) and ``_connect``, a context
    manager yielding a connection whose errors it turns into
    :class:`~childsafe.complaints.ComplaintStoreError`."""

    _P: ClassVar[str]

    def _connect(self) -> AbstractContextManager[Any]:
        raise TypeError("SQLCases is a base class: use a store")

    def get(self, case_id: str) -> Complaint | None:
        with self._connect() as db:
            row = db.execute(
                f"SELECT {', '.join(COLUMNS)} FROM {TABLE} WHERE id = {self._P}",  # noqa: S608
                (case_id,),
            ).fetchone()
        return None if row is None else complaint_of(row)

    def update(self, complaint: Complaint) -> None:
        row = row_of(complaint)
        p = self._P
        sets = ", ".join(f"{c} = {p}" for c in COLUMNS[1:])
        with self._connect() as db:
            cursor = db.execute(
                f"UPDATE {TABLE} SET {sets} WHERE id = {p} AND revision = {p}",  # noqa: S608
                (*row[1:], complaint.id, complaint.revision - 1),
            )
        if cursor.rowcount != 1:
            raise ComplaintStoreError(
                f"case {complaint.id!r} changed since it was read; nothing was written"
            )

    def cases(self, *, status: Status | None = None, limit: int = 50) -> list[Complaint]:
        _check_limit(limit)
        status = _check_status(status)
        p = self._P
        where, params = (f"WHERE status = {p}", (status.value,)) if status else ("", ())
        with self._connect() as db:
            rows = db.execute(
                f"SELECT {', '.join(COLUMNS)} FROM {TABLE} {where} "  # noqa: S608
                f"ORDER BY received_at DESC, id DESC LIMIT {p}",
                (*params, limit),
            ).fetchall()
        return [complaint_of(r) for r in rows]

    def latest_census(self, until: dt.datetime) -> tuple[dt.datetime, dict[str, Any]] | None:
        with self._connect() as db:
            row = db.execute(
                f"SELECT taken_at, data FROM {CENSUS} WHERE taken_at < {self._P} "  # noqa: S608
                "ORDER BY taken_at DESC LIMIT 1",
                (_seconds(until),),
            ).fetchone()
        if row is None:
            return None
        return dt.datetime.fromtimestamp(row[0], dt.UTC), json.loads(row[1])

    def close(self) -> None:
        """Nothing to release: every call opens and closes its own connection."""


class SQLiteComplaintStore(SQLCases):
    """Cases in a SQLite file (standard library; WAL, so readers never wait for the
    writer; safe from several threads and processes). The tables are created, and
    migrated to :data:`SCHEMA_VERSION`, on first use; ``timeout`` is how long a
    write waits for another writer's lock."""

    _P = "?"

    def __init__(self, path: str | Path, *, timeout: float = 10.0) -> None:
        self.path = str(path)
        if "\x00" in self.path:
            raise ComplaintStoreError(
                f"cannot open the complaint store {self.path!r}: a NUL byte in the path"
            )
        self.timeout = timeout
        with self._connect() as db:
            self._migrate(db)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        except sqlite3.Error as e:
            raise ComplaintStoreError(f"cannot open the complaint store {self.path!r}: {e}") from e
        try:
            yield db
        except sqlite3.Error as e:
            raise ComplaintStoreError(f"complaint store {self.path!r}: {e}") from e
        finally:
            db.close()

    def _migrate(self, db: sqlite3.Connection) -> None:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(f"CREATE TABLE IF NOT EXISTS {META} (key TEXT PRIMARY KEY, value TEXT)")
            found = db.execute(
                f"SELECT value FROM {META} WHERE key = 'schema_version'"  # noqa: S608
            ).fetchone()
            version = int(found[0]) if found else 0
            if version > SCHEMA_VERSION:
                raise ComplaintStoreError(  # noqa: TRY301 - rolled back below
                    f"the complaint store {self.path!r} has schema version {version}; this "
                    f"childsafe knows up to {SCHEMA_VERSION}: upgrade childsafe"
                )
            for statement in _SQLITE_SCHEMA:
                db.execute(statement)
            db.execute(
                f"INSERT OR REPLACE INTO {META} (key, value) VALUES ('schema_version', ?)",  # noqa: S608
                (str(SCHEMA_VERSION),),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def schema_version(self) -> int:
        with self._connect() as db:
            found = db.execute(
                f"SELECT value FROM {META} WHERE key = 'schema_version'"  # noqa: S608
            ).fetchone()
        return int(found[0])

    def add(self, complaint: Complaint) -> None:
        row = row_of(complaint)
        with self._connect() as db:
            try:
                db.execute(f"INSERT INTO {TABLE} VALUES ({_PLACEHOLDERS})", row)  # noqa: S608
            except sqlite3.IntegrityError:
                raise ComplaintStoreError(
                    f"a case with the id {complaint.id!r} exists already"
                ) from None

    def add_many(self, complaints: Iterable[Complaint]) -> int:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                cursor = db.executemany(
                    f"INSERT INTO {TABLE} VALUES ({_PLACEHOLDERS})",  # noqa: S608
                    (row_of(c) for c in complaints),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return cursor.rowcount

    def figures(self, since: dt.datetime, until: dt.datetime) -> ComplaintFigures:
        start, end = _check_period(since, until)
        with self._connect() as db:
            db.execute("BEGIN")  # one snapshot for every query
            try:
                groups = tuple(
                    Group(*row[:4], *(int(v or 0) for v in row[4:]))
                    for row in db.execute(GROUP_SQL, (start, end))
                )
                notices = [g for g in groups if g.role != ReporterRole.PLATFORM.value]
                first = self._durations(
                    db, "first_action_secs", sum(g.first_actioned for g in notices), start, end
                )
                resolution = self._durations(
                    db, "resolution_secs", sum(g.resolved for g in notices), start, end
                )
            finally:
                db.execute("COMMIT")
        ordered = tuple(sorted(groups, key=lambda g: (g.category, g.role, g.band, g.outcome or "")))
        return ComplaintFigures(ordered, first, resolution)

    @staticmethod
    def _durations(
        db: sqlite3.Connection, column: str, count: int, start: float, end: float
    ) -> Durations:
        if count == 0:
            return Durations(0, None, None)
        query = (
            f"SELECT {column} FROM {TABLE} INDEXED BY {TABLE}_{column.split('_', maxsplit=1)[0]} "  # noqa: S608
            f"WHERE {column} IS NOT NULL AND received_at >= ? AND received_at < ? "
            f"AND reporter_role <> '{ReporterRole.PLATFORM.value}' "
            f"ORDER BY {column} LIMIT 1 OFFSET ?"
        )
        median, p90 = (
            db.execute(query, (start, end, rank_of(count, percent) - 1)).fetchone()[0]
            for percent in (50, 90)
        )
        return Durations(count, median, p90)

    def save_census(self, taken_at: dt.datetime, data: Mapping[str, Any]) -> None:
        _check_census(taken_at, data)
        with self._connect() as db:
            db.execute(
                f"INSERT OR REPLACE INTO {CENSUS} VALUES (?, ?)",  # noqa: S608
                (_seconds(taken_at), json.dumps(data, separators=(",", ":"))),
            )


def open_store(url: str, *, create: bool = True) -> ComplaintStore:
    """The store a URL names: ``sqlite:///relative/path.db``, ``sqlite:////abs/path.db``,
    ``memory:`` or ``postgresql://...`` (``childsafe[postgres]``). With ``create=False``
    (readers, such as ``childsafe report``) a SQLite file that does not exist, or a
    PostgreSQL database without the tables, raises
    :class:`~childsafe.complaints.ComplaintStoreError` instead of being created empty,
    so a mistyped path or database does not give a report of zeros."""
    if url == "memory:":
        return MemoryComplaintStore()
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if not path:
            raise ComplaintError(f"{url!r} names no file: use sqlite:///path/to/file.db")
        if not create and not Path(path).exists():
            raise ComplaintStoreError(f"{url}: there is no complaint store at {path!r}")
        return SQLiteComplaintStore(path)
    if url.startswith(("postgresql://", "postgres://")):
        from childsafe.complaints._postgres import PostgresComplaintStore  # noqa: PLC0415

        return PostgresComplaintStore(url, create=create)
    raise ComplaintError(
        f"unknown store {url!r}: use sqlite:///path.db, postgresql://... or memory:"
    )
