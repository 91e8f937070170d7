"""Cases in PostgreSQL, shared by many app servers (``childsafe[postgres]``).

The same columns as the SQLite store; the percentiles are ``percentile_disc`` (the
nearest-rank method, as everywhere in the report).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

from childsafe.complaints._errors import ComplaintError, ComplaintStoreError
from childsafe.complaints._figures import ComplaintFigures, Durations, Group
from childsafe.complaints._model import Complaint
from childsafe.complaints._stores import (
    CENSUS,
    COLUMNS,
    META,
    SCHEMA_VERSION,
    TABLE,
    SQLCases,
    _check_census,
    _check_period,
    _seconds,
    row_of,
)
from childsafe.exceptions import MissingExtraError

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresComplaintStore"]

_SCHEMA: Final = (
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        id text PRIMARY KEY, revision integer NOT NULL, received_at double precision NOT NULL,
        category text NOT NULL, reporter_role text NOT NULL, reporter_band text NOT NULL,
        reporter_id text, subject_kind text NOT NULL, subject_id text NOT NULL,
        subject_account text, description text NOT NULL, status text NOT NULL,
        first_action_at double precision, resolved_at double precision, outcome text,
        appeals integer NOT NULL, reversals integer NOT NULL, appeal_log text NOT NULL,
        first_action_secs double precision, resolution_secs double precision)""",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_received ON {TABLE} (received_at)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_status ON {TABLE} (status, received_at)",
    f"""CREATE TABLE IF NOT EXISTS {CENSUS} (
        taken_at double precision PRIMARY KEY, data text NOT NULL)""",
)
_FIGURES: Final = f"""
    SELECT category, reporter_role, reporter_band, outcome, count(*),
           count(first_action_at), count(resolved_at), count(*) FILTER (WHERE appeals > 0),
           coalesce(sum(appeals), 0), coalesce(sum(reversals), 0),
           count(*) FILTER (WHERE status = 'appealed')
    FROM {TABLE} WHERE received_at >= %s AND received_at < %s
    GROUP BY category, reporter_role, reporter_band, outcome
"""  # noqa: S608 - constant identifiers
_PERCENTILES: Final = f"""
    SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY first_action_secs),
           percentile_disc(0.9) WITHIN GROUP (ORDER BY first_action_secs),
           percentile_disc(0.5) WITHIN GROUP (ORDER BY resolution_secs),
           percentile_disc(0.9) WITHIN GROUP (ORDER BY resolution_secs)
    FROM {TABLE} WHERE received_at >= %s AND received_at < %s AND reporter_role <> 'platform'
"""  # noqa: S608 - constant identifiers
_IDENTIFIER: Final = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_LOCK_ID: Final = 0x6368696C64  # an advisory lock held while the schema is migrated


def _psycopg() -> Any:  # noqa: ANN401 - the optional driver module
    try:
        import psycopg  # noqa: PLC0415 - the extra is imported only when used
    except ImportError as e:
        raise MissingExtraError(
            "PostgresComplaintStore needs psycopg: pip install 'childsafe[postgres]'"
        ) from e
    return psycopg


class PostgresComplaintStore(SQLCases):
    """Cases in PostgreSQL (psycopg 3): one store for every app server. Each call
    opens a connection to ``conninfo`` (use a pooler such as PgBouncer at scale);
    ``timeout`` bounds connecting and each statement; ``schema`` is the PostgreSQL
    schema holding the tables (created if missing; default: the ``search_path``'s).
    ``create=False`` (readers) refuses a database without the tables
    (:class:`~childsafe.complaints.ComplaintStoreError`) instead of creating them."""

    _P = "%s"

    def __init__(
        self,
        conninfo: str,
        *,
        timeout: float = 30.0,
        schema: str | None = None,
        create: bool = True,
    ) -> None:
        self._psycopg = _psycopg()
        if schema is not None and not _IDENTIFIER.match(schema):
            raise ComplaintError(f"schema must be a plain SQL identifier, got {schema!r}")
        self.conninfo = conninfo
        self.timeout = timeout
        self.schema = schema
        with self._connect() as db, db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
            if not create:
                found = db.execute("SELECT to_regclass(%s)", (META,)).fetchone()
                if found is None or found[0] is None:
                    where = "its search_path" if schema is None else f"schema {schema}"
                    raise ComplaintStoreError(
                        f"there is no complaint store in this database ({where} has no "
                        f"table {META})"
                    )
            if schema is not None:
                db.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            db.execute(f"CREATE TABLE IF NOT EXISTS {META} (key text PRIMARY KEY, value text)")
            found = db.execute(
                f"SELECT value FROM {META} WHERE key = 'schema_version'"  # noqa: S608
            ).fetchone()
            version = int(found[0]) if found is not None else 0
            if version > SCHEMA_VERSION:
                raise ComplaintStoreError(
                    f"the complaint store has schema version {version}; this childsafe knows "
                    f"up to {SCHEMA_VERSION}: upgrade childsafe"
                )
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute(
                f"INSERT INTO {META} VALUES ('schema_version', %s) "  # noqa: S608
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(SCHEMA_VERSION),),
            )

    @contextlib.contextmanager
    def _connect(self) -> Iterator[psycopg.Connection[Any]]:
        psycopg = self._psycopg
        try:
            db = psycopg.connect(
                self.conninfo,
                autocommit=True,
                connect_timeout=max(1, round(self.timeout)),
                options=f"-c statement_timeout={int(self.timeout * 1000)}"
                + ("" if self.schema is None else f" -c search_path={self.schema}"),
            )
        except psycopg.Error as e:
            raise ComplaintStoreError(f"cannot connect to the complaint store: {e}") from e
        try:
            yield db
        except psycopg.errors.UniqueViolation as e:
            raise ComplaintStoreError(f"a case with that id exists already: {e}") from e
        except psycopg.Error as e:
            raise ComplaintStoreError(f"complaint store: {e}") from e
        finally:
            db.close()

    def schema_version(self) -> int:
        with self._connect() as db:
            found = db.execute(
                f"SELECT value FROM {META} WHERE key = 'schema_version'"  # noqa: S608
            ).fetchone()
        return 0 if found is None else int(found[0])

    def add(self, complaint: Complaint) -> None:
        row = row_of(complaint)
        with self._connect() as db:
            db.execute(
                f"INSERT INTO {TABLE} VALUES ({', '.join(['%s'] * len(COLUMNS))})",  # noqa: S608
                row,
            )

    def add_many(self, complaints: Iterable[Complaint]) -> int:
        n = 0
        with self._connect() as db, db.transaction():
            cursor = db.cursor()
            with cursor.copy(f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for complaint in complaints:
                    copy.write_row(row_of(complaint))
                    n += 1
        return n

    def figures(self, since: dt.datetime, until: dt.datetime) -> ComplaintFigures:
        start, end = _check_period(since, until)
        with (
            self._connect() as db,
            db.transaction(),
        ):
            db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            groups = [
                Group(*row[:4], *(int(v) for v in row[4:]))
                for row in db.execute(_FIGURES, (start, end))
            ]
            found = db.execute(_PERCENTILES, (start, end)).fetchone()
        percentiles = found if found is not None else (None, None, None, None)
        ordered = tuple(sorted(groups, key=lambda g: (g.category, g.role, g.band, g.outcome or "")))
        notices = [g for g in groups if g.role != "platform"]  # own detection is not timed
        first_count = sum(g.first_actioned for g in notices)
        resolved_count = sum(g.resolved for g in notices)
        return ComplaintFigures(
            ordered,
            Durations(first_count, percentiles[0], percentiles[1]),
            Durations(resolved_count, percentiles[2], percentiles[3]),
        )

    def save_census(self, taken_at: dt.datetime, data: Mapping[str, Any]) -> None:
        _check_census(taken_at, data)
        with self._connect() as db:
            db.execute(
                f"INSERT INTO {CENSUS} VALUES (%s, %s) "  # noqa: S608
                "ON CONFLICT (taken_at) DO UPDATE SET data = excluded.data",
                (_seconds(taken_at), json.dumps(data, separators=(",", ":"))),
            )
