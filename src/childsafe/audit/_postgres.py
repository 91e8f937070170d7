"""Audit records in PostgreSQL, shared by many app servers (``childsafe[postgres]``).

Writers in any number of processes build one chain: :meth:`PostgresAuditStore.append`
locks the chain's head row (``SELECT ... FOR UPDATE``) inside its transaction, chains
the batch after it, copies the rows in (``COPY``), moves the head and commits. A second
writer waits on the row lock and then chains after the first.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

from childsafe.audit._errors import AuditStoreError
from childsafe.audit._records import Draft, StoredRecord, genesis_hash
from childsafe.audit._stores import (
    SCHEMA_VERSION,
    TAIL,
    _where,
    account_key,
    check_prefix,
    seal,
)
from childsafe.exceptions import MissingExtraError

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresAuditStore"]


def _key_sql(column: str) -> str:
    """:func:`~childsafe.audit._stores.account_key` of ``column`` in SQL (for the rows
    a migration finds; new rows get it from Python)."""
    tail = f"right({column}, {TAIL})"
    return (
        f"CASE WHEN {column} IS NULL THEN NULL WHEN {tail} ~ '^[0-9a-f]{{{{{TAIL}}}}}$' "
        f"THEN ('x' || {tail})::bit(32)::integer ELSE 0 END"
    )


_MIGRATIONS: Final[dict[int, tuple[str, ...]]] = {
    1: (
        (
            "CREATE TABLE {p}_meta (id integer PRIMARY KEY CHECK (id = 1), chain text NOT NULL, "
            "head_seq bigint NOT NULL, head_hash text NOT NULL)"
        ),
        (
            "CREATE TABLE {p}_records (seq bigint PRIMARY KEY, prev text NOT NULL, "
            "hash text NOT NULL, body bytea NOT NULL, time_us bigint NOT NULL, kind text NOT NULL, "
            "actor text, target text, reason text, allowed boolean)"
        ),
        "CREATE INDEX {p}_records_kind_time ON {p}_records (kind, time_us)",
        "CREATE INDEX {p}_records_time ON {p}_records (time_us)",
        "CREATE INDEX {p}_records_actor ON {p}_records (actor)",
        "CREATE INDEX {p}_records_target ON {p}_records (target)",
    ),
    2: (
        "DROP INDEX {p}_records_actor",
        "DROP INDEX {p}_records_target",
        f"CREATE INDEX {{p}}_records_actor_tail ON {{p}}_records (right(actor, {TAIL}))",
        f"CREATE INDEX {{p}}_records_target_tail ON {{p}}_records (right(target, {TAIL}))",
    ),
    3: (
        "ALTER TABLE {p}_records ADD COLUMN actor_key integer, ADD COLUMN target_key integer",
        "UPDATE {p}_records SET actor_key = "
        + _key_sql("actor")
        + ", target_key = "
        + _key_sql("target"),
        "DROP INDEX {p}_records_actor_tail",
        "DROP INDEX {p}_records_target_tail",
        "CREATE INDEX {p}_records_actor_key ON {p}_records (actor_key)",
        "CREATE INDEX {p}_records_target_key ON {p}_records (target_key)",
    ),
}
_COLUMNS: Final = "seq, prev, hash, body, time_us, kind, actor, target, reason, allowed"


def _psycopg() -> Any:  # noqa: ANN401 - the optional driver module
    try:
        import psycopg  # noqa: PLC0415 - the extra is imported only when used
    except ImportError as e:  # pragma: no cover - the dev environment installs it
        raise MissingExtraError(
            "PostgresAuditStore needs psycopg: pip install 'childsafe[postgres]'"
        ) from e
    return psycopg


def _row(values: Sequence[Any]) -> StoredRecord:
    seq, prev, h, body, time_us, kind, actor, target, reason, allowed = values
    return StoredRecord(seq, prev, h, bytes(body), time_us, kind, actor, target, reason, allowed)


class PostgresAuditStore:
    """Records in PostgreSQL tables ``<prefix>_records``, ``<prefix>_meta`` and
    ``<prefix>_schema``, created or migrated on open (under an advisory lock, so app
    servers starting together migrate once).

    ``conninfo`` is a libpq connection string or URL. Appends use one connection and
    reads another, each opened lazily and reopened after an error; ``timeout`` bounds
    connecting and each statement.
    """

    def __init__(
        self,
        conninfo: str,
        *,
        prefix: str = "childsafe_audit",
        timeout: float = 30.0,
        create: bool = True,
    ) -> None:
        self._pg = _psycopg()
        self.conninfo = conninfo
        self.prefix = check_prefix(prefix)
        self.timeout = timeout
        host = conninfo.rsplit("@", 1)[-1] if "://" in conninfo else "PostgreSQL"
        self.description = f"PostgreSQL {host.split('?', 1)[0]} ({prefix})"
        self._write: psycopg.Connection[Any] | None = None
        self._read: psycopg.Connection[Any] | None = None
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._create = create
        self._chain = self._migrate()

    def _failure(self, what: str, error: Exception) -> AuditStoreError:
        return AuditStoreError(f"cannot {what} the audit store {self.description}: {error}")

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            conn: psycopg.Connection[Any] = self._pg.connect(
                self.conninfo,
                autocommit=True,
                connect_timeout=max(1, round(self.timeout)),
                options=f"-c statement_timeout={int(self.timeout * 1000)}",
            )
        except self._pg.Error as e:
            raise self._failure("connect to", e) from e
        return conn

    def _migrate(self) -> str:
        p = self.prefix
        sql = self._pg.sql
        conn = self._connect()
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"childsafe:{p}",))
                if not self._create:
                    exists = conn.execute("SELECT to_regclass(%s)", (f"{p}_meta",)).fetchone()
                    if exists is None or exists[0] is None:
                        raise AuditStoreError(
                            f"there is no audit store {self.description}: no table {p}_meta"
                        )
                conn.execute(
                    sql.SQL("CREATE TABLE IF NOT EXISTS {} (version integer NOT NULL)").format(
                        sql.Identifier(f"{p}_schema")
                    )
                )
                row = conn.execute(
                    sql.SQL("SELECT MAX(version) FROM {}").format(sql.Identifier(f"{p}_schema"))
                ).fetchone()
                current = (row[0] if row else None) or 0
                if current > SCHEMA_VERSION:
                    raise AuditStoreError(
                        f"the audit store {self.description} has schema version {current}, "
                        f"newer than this childsafe knows ({SCHEMA_VERSION}): upgrade childsafe"
                    )
                for version in range(current + 1, SCHEMA_VERSION + 1):
                    for statement in _MIGRATIONS[version]:
                        conn.execute(statement.format(p=p))
                    if version == 1:
                        chain = uuid.uuid4().hex
                        conn.execute(
                            f"INSERT INTO {p}_meta VALUES (1, %s, 0, %s)",
                            (chain, genesis_hash(chain)),
                        )
                    conn.execute(f"INSERT INTO {p}_schema VALUES (%s)", (version,))
                found = conn.execute(f"SELECT chain FROM {p}_meta WHERE id = 1").fetchone()
        except self._pg.Error as e:
            raise self._failure("create the tables of", e) from e
        finally:
            conn.close()
        if found is None:
            raise AuditStoreError(f"the audit store {self.description} has no chain id row")
        chain_id: str = found[0]
        return chain_id

    def chain_id(self) -> str:
        return self._chain

    def _writer(self) -> psycopg.Connection[Any]:
        if self._write is None or self._write.closed:
            self._write = self._connect()
        return self._write

    def _reader(self) -> psycopg.Connection[Any]:
        if self._read is None or self._read.closed:
            self._read = self._connect()
        return self._read

    @staticmethod
    def _drop(conn: psycopg.Connection[Any] | None) -> None:
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def append(self, drafts: Sequence[Draft]) -> list[StoredRecord]:
        return self._append(drafts, None)

    def append_growing(self, drafts: list[Draft], grow: Callable[[], None]) -> list[StoredRecord]:
        """:meth:`append`, calling ``grow`` once the head row is locked: it may add to
        ``drafts`` (the trail's writer adds what was queued while it waited)."""
        return self._append(drafts, grow)

    def _append(
        self, drafts: Sequence[Draft], grow: Callable[[], None] | None
    ) -> list[StoredRecord]:
        if not drafts:
            return []
        p = self.prefix
        with self._write_lock:
            try:
                conn = self._writer()
                with conn.transaction():
                    head = conn.execute(
                        f"SELECT head_seq, head_hash FROM {p}_meta WHERE id = 1 FOR UPDATE"
                    ).fetchone()
                    if head is None:
                        raise AuditStoreError(
                            f"the audit store {self.description} lost its head row"
                        )
                    if grow is not None:
                        grow()
                    sealed = seal(drafts, head[0], head[1])
                    columns = f"{_COLUMNS}, actor_key, target_key"
                    with conn.cursor().copy(f"COPY {p}_records ({columns}) FROM STDIN") as copy:
                        write = copy.write_row
                        for record in sealed:
                            actor, target = record[6], record[7]
                            write(
                                (
                                    *record,
                                    None if actor is None else account_key(actor),
                                    None if target is None else account_key(target),
                                )
                            )
                    last = sealed[-1]
                    conn.execute(
                        f"UPDATE {p}_meta SET head_seq = %s, head_hash = %s WHERE id = 1",
                        (last.seq, last.hash),
                    )
            except self._pg.Error as e:
                self._drop(self._write)
                self._write = None
                raise self._failure("write to", e) from e
        return sealed

    def _fetch(self, sql: str, params: Sequence[object]) -> list[Any]:
        with self._read_lock:
            try:
                return self._reader().execute(sql, params).fetchall()
            except self._pg.Error as e:
                self._drop(self._read)
                self._read = None
                raise self._failure("read", e) from e

    def head(self) -> tuple[int, str]:
        rows = self._fetch(f"SELECT head_seq, head_hash FROM {self.prefix}_meta WHERE id = 1", ())
        return int(rows[0][0]), str(rows[0][1])

    def _pages(self, where: str, params: list[object]) -> Iterator[StoredRecord]:
        # Keyset pagination by seq: no cursor is held between pages.
        after = 0
        table = f"{self.prefix}_records"
        joiner = " AND " if where else " WHERE "
        while True:
            rows = self._fetch(
                f"SELECT {_COLUMNS} FROM {table}{where}{joiner}seq > %s ORDER BY seq LIMIT 5000",
                [*params, after],
            )
            if not rows:
                return
            for values in rows:
                yield _row(values)
            after = rows[-1][0]

    def scan(self, first: int = 1, last: int | None = None) -> Iterator[StoredRecord]:
        if last is None:
            return self._pages(" WHERE seq >= %s", [first])
        return self._pages(" WHERE seq BETWEEN %s AND %s", [first, last])

    def select(
        self,
        *,
        since_us: int | None = None,
        until_us: int | None = None,
        kinds: Sequence[str] | None = None,
        accounts: Sequence[str] | None = None,
    ) -> Iterator[StoredRecord]:
        where, params = _where(since_us, until_us, kinds, accounts, "%s")
        return self._pages(where, params)

    def count(self, kind: str, since_us: int | None, until_us: int | None) -> int:
        where, params = _where(since_us, until_us, [kind], None, "%s")
        rows = self._fetch(f"SELECT COUNT(*) FROM {self.prefix}_records{where}", params)
        return int(rows[0][0])

    def count_denials(self, since_us: int | None, until_us: int | None) -> dict[str, int]:
        where, params = _where(since_us, until_us, ["decision"], None, "%s")
        rows = self._fetch(
            f"SELECT reason, COUNT(*) FROM {self.prefix}_records{where} "
            "AND allowed = false AND reason IS NOT NULL GROUP BY reason",
            params,
        )
        return dict(Counter({str(r): int(n) for r, n in rows}))

    def drop_through(self, seq: int) -> int:
        with self._write_lock:
            try:
                cur = self._writer().execute(
                    f"DELETE FROM {self.prefix}_records WHERE seq <= %s",
                    (seq,),
                )
            except self._pg.Error as e:
                self._drop(self._write)
                self._write = None
                raise self._failure("delete from", e) from e
            return int(cur.rowcount)

    def close(self) -> None:
        """Close both connections (the next call opens new ones)."""
        with self._write_lock:
            self._drop(self._write)
            self._write = None
        with self._read_lock:
            self._drop(self._read)
            self._read = None

    def destroy(self) -> None:
        """Drop this store's tables (tests and benchmarks)."""
        self.close()
        conn = self._connect()
        try:
            for table in ("records", "meta", "schema"):
                conn.execute(f"DROP TABLE IF EXISTS {self.prefix}_{table}")
        finally:
            conn.close()
