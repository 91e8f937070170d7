"""Where audit records live: one small protocol, in memory and in SQLite.

An :class:`AuditStore` appends drafts and chains them *inside its write transaction*:
it reads the chain's head, gives each draft the next ``seq`` and its link, inserts them
and moves the head, all in one transaction, so writers in several threads or processes
still build one chain. It hands back the records only once they are committed.
Everything else is reading: by position (``scan``), by time, kind and account
(``select``), and two aggregates the reports need.

:class:`MemoryAuditStore` serves one process (tests); :class:`SQLiteAuditStore` (the
default, standard library) the processes sharing one file, in WAL mode with
``synchronous=FULL``, so a committed batch is on disk;
:class:`~childsafe.audit.PostgresAuditStore` many app servers (``childsafe[postgres]``).
The SQL stores create their tables and migrate them, recording the schema version in a
table of their own.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sqlite3
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Final, Protocol, runtime_checkable
from urllib.parse import parse_qs, unquote, urlencode, urlsplit, urlunsplit

from childsafe.audit._errors import AuditStoreError

if sys.platform != "win32":
    import fcntl
from childsafe.audit._records import _DOMAIN, KINDS, Draft, StoredRecord, genesis_hash

__all__ = [
    "SCHEMA_VERSION",
    "TAIL",
    "AuditStore",
    "MemoryAuditStore",
    "SQLiteAuditStore",
    "account_key",
    "open_store",
    "seal",
]

SCHEMA_VERSION: Final = 3
"""The newest schema version the SQL stores know (2: the account indexes cover the
pseudonyms' last :data:`TAIL` characters rather than the whole pseudonym, and SQLite
answers a query by time alone from the (kind, time) index, without one of its own;
3: those indexes hold an integer column, :func:`account_key`, instead of a text
expression)."""

TAIL: Final = 8
"""How many trailing characters of a pseudonym its account key is read from. A
pseudonym ends in hex digits, so 8 of them tell accounts apart about one time in four
billion; a lookup filters on the whole pseudonym too, so a shared key only costs a row
read. The short key keeps the two indexes whose keys arrive in random order small,
which is most of what an append costs."""

_KEYS: Final[dict[str, int]] = {}
_KEYS_MAX: Final = 65_536
_HEX_TAIL: Final = re.compile(f"[0-9a-f]{{{TAIL}}}")
_SIGN: Final = 1 << 31


def account_key(account: str) -> int:
    """The integer the account indexes hold for a pseudonym: its last :data:`TAIL`
    characters read as a 32-bit hex number, signed (``-2**31`` to ``2**31 - 1``, so
    SQLite stores it in 4 bytes and PostgreSQL in an ``integer``); ``0`` for a string
    that does not end in 8 lowercase hex digits (not a childsafe pseudonym). Both
    stores' migrations compute the same value for the rows they already hold."""
    found = _KEYS.get(account)
    if found is None:
        tail = account[-TAIL:]
        found = (int(tail, 16) ^ _SIGN) - _SIGN if _HEX_TAIL.fullmatch(tail) else 0
        if len(_KEYS) >= _KEYS_MAX:
            _KEYS.clear()
        _KEYS[account] = found
    return found


def _key_or_none(account: object) -> int | None:
    """:func:`account_key` of a stored column (SQLite's migration calls it)."""
    return account_key(account) if isinstance(account, str) else None


_IDENTIFIER: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,40}$")


def check_prefix(prefix: object) -> str:
    """``prefix`` if it is a plain SQL identifier (tables are ``<prefix>_records``...)."""
    if not isinstance(prefix, str) or not _IDENTIFIER.match(prefix):
        raise AuditStoreError(f"table prefix must be a plain SQL identifier, got {prefix!r}")
    return prefix


def seal(drafts: Sequence[Draft], head_seq: int, head_hash: str) -> list[StoredRecord]:
    """Chain ``drafts`` after the head (``head_seq``, ``head_hash``): what every store
    runs inside its write transaction (:func:`~childsafe.audit._records.link_hash`,
    inlined: this loop runs once per record)."""
    out: list[StoredRecord] = []
    append = out.append
    new = tuple.__new__
    cls = StoredRecord
    link = hashlib.sha256(_DOMAIN).copy
    prev = head_hash
    seq = head_seq
    for _, time_us, kind, actor, target, reason, allowed, body, digest, _ in drafts:
        seq += 1
        h = link()
        h.update(f"{prev}\x00{seq}\x00".encode() + digest)
        prev_, prev = prev, h.hexdigest()
        append(new(cls, (seq, prev_, prev, body, time_us, kind, actor, target, reason, allowed)))
    return out


_Row = tuple[
    int, str, str, bytearray, int, str, str | None, str | None, str | None, int | None,
    int | None, int | None,
]  # fmt: skip
"""A row SQLite inserts: a record's columns, then its actor's and target's keys."""


def _seal_rows(drafts: Sequence[Draft], head_seq: int, head_hash: str) -> list[_Row]:
    """:func:`seal`, as the rows SQLite inserts: each record's columns and its actor's
    and target's :func:`account_key`. The body goes as a ``bytearray`` and ``allowed``
    as ``0`` or ``1``: the driver binds those types directly, where ``bytes`` and
    ``bool`` would each go through its adapter lookup first."""
    rows: list[_Row] = []
    add = rows.append
    link = hashlib.sha256(_DOMAIN).copy
    keys = _KEYS.get
    prev = head_hash
    seq = head_seq
    for _, time_us, kind, actor, target, reason, allowed, body, digest, _ in drafts:
        seq += 1
        h = link()
        h.update(f"{prev}\x00{seq}\x00".encode() + digest)
        prev_, prev = prev, h.hexdigest()
        add(
            (
                seq,
                prev_,
                prev,
                bytearray(body),
                time_us,
                kind,
                actor,
                target,
                reason,
                None if allowed is None else 1 if allowed else 0,
                None if actor is None else keys(actor) or account_key(actor),
                None if target is None else keys(target) or account_key(target),
            )
        )
    return rows


def _stored(row: _Row) -> StoredRecord:
    """The :class:`StoredRecord` an inserted row holds."""
    seq, prev, h, body, time_us, kind, actor, target, reason, allowed = row[:10]
    return StoredRecord(
        seq, prev, h, bytes(body), time_us, kind, actor, target, reason,
        None if allowed is None else bool(allowed),
    )  # fmt: skip


class _Committed:
    """The records of a batch SQLite committed, each built from its row only when
    asked for (the trail's writer asks only for those with a receipt)."""

    __slots__ = ("_rows",)

    def __init__(self, rows: list[_Row]) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index: int) -> StoredRecord:
        return _stored(self._rows[index])


@runtime_checkable
class AuditStore(Protocol):
    """Audit records, chained inside the store's write transaction."""

    description: str
    """Where the records are, for messages (never a password)."""

    def chain_id(self) -> str:
        """The chain's random id (32 hex digits), fixed when the store was created."""
        ...

    def append(self, drafts: Sequence[Draft]) -> list[StoredRecord]:
        """Chain and commit ``drafts`` in one transaction; the committed records."""
        ...

    def head(self) -> tuple[int, str]:
        """The last ``seq`` given and its hash (``0`` and the genesis hash when empty)."""
        ...

    def scan(self, first: int = 1, last: int | None = None) -> Iterator[StoredRecord]:
        """The records with ``first <= seq <= last``, by ``seq``."""
        ...

    def select(
        self,
        *,
        since_us: int | None = None,
        until_us: int | None = None,
        kinds: Sequence[str] | None = None,
        accounts: Sequence[str] | None = None,
    ) -> Iterator[StoredRecord]:
        """Records in ``[since_us, until_us)`` of ``kinds`` whose actor or target is one
        of ``accounts`` (``None``: any), by ``seq``."""
        ...

    def count(self, kind: str, since_us: int | None, until_us: int | None) -> int:
        """How many records of ``kind`` fall in ``[since_us, until_us)``."""
        ...

    def count_denials(self, since_us: int | None, until_us: int | None) -> dict[str, int]:
        """Refused decisions in ``[since_us, until_us)``, by reason."""
        ...

    def drop_through(self, seq: int) -> int:
        """Delete the records with ``seq`` up to ``seq`` (retention); how many."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def _in_range(time_us: int, since_us: int | None, until_us: int | None) -> bool:
    return (since_us is None or time_us >= since_us) and (until_us is None or time_us < until_us)


class MemoryAuditStore:
    """Records in a list in this process: tests and short-lived tools."""

    def __init__(self) -> None:
        self.description = "memory"
        self._chain = uuid.uuid4().hex
        self.rows: list[StoredRecord] = []
        self.head_seq = 0
        self.head_hash = genesis_hash(self._chain)
        self._lock = threading.Lock()

    def chain_id(self) -> str:
        return self._chain

    def append(self, drafts: Sequence[Draft]) -> list[StoredRecord]:
        with self._lock:
            sealed = seal(drafts, self.head_seq, self.head_hash)
            if sealed:
                self.rows.extend(sealed)
                self.head_seq, self.head_hash = sealed[-1].seq, sealed[-1].hash
            return sealed

    def head(self) -> tuple[int, str]:
        with self._lock:
            return self.head_seq, self.head_hash

    def scan(self, first: int = 1, last: int | None = None) -> Iterator[StoredRecord]:
        with self._lock:
            rows = list(self.rows)
        for row in rows:
            if row.seq >= first and (last is None or row.seq <= last):
                yield row

    def select(
        self,
        *,
        since_us: int | None = None,
        until_us: int | None = None,
        kinds: Sequence[str] | None = None,
        accounts: Sequence[str] | None = None,
    ) -> Iterator[StoredRecord]:
        with self._lock:
            rows = sorted(self.rows, key=lambda r: r.seq)
        for row in rows:
            if not _in_range(row.time_us, since_us, until_us):
                continue
            if kinds is not None and row.kind not in kinds:
                continue
            if accounts is not None and row.actor not in accounts and row.target not in accounts:
                continue
            yield row

    def count(self, kind: str, since_us: int | None, until_us: int | None) -> int:
        return sum(1 for _ in self.select(since_us=since_us, until_us=until_us, kinds=[kind]))

    def count_denials(self, since_us: int | None, until_us: int | None) -> dict[str, int]:
        found = Counter(
            row.reason
            for row in self.select(since_us=since_us, until_us=until_us, kinds=["decision"])
            if row.allowed is False and row.reason is not None
        )
        return dict(found)

    def drop_through(self, seq: int) -> int:
        with self._lock:
            kept = [r for r in self.rows if r.seq > seq]
            dropped = len(self.rows) - len(kept)
            self.rows = kept
            return dropped

    def close(self) -> None:
        """Nothing to release."""


_SQLITE_MIGRATIONS: Final[dict[int, tuple[str, ...]]] = {
    1: (
        (
            "CREATE TABLE {p}_meta (id INTEGER PRIMARY KEY CHECK (id = 1), chain TEXT NOT NULL, "
            "head_seq INTEGER NOT NULL, head_hash TEXT NOT NULL)"
        ),
        (
            "CREATE TABLE {p}_records (seq INTEGER PRIMARY KEY, prev TEXT NOT NULL, "
            "hash TEXT NOT NULL, body BLOB NOT NULL, time_us INTEGER NOT NULL, kind TEXT NOT NULL, "
            "actor TEXT, target TEXT, reason TEXT, allowed INTEGER)"
        ),
        "CREATE INDEX {p}_records_kind_time ON {p}_records (kind, time_us)",
        "CREATE INDEX {p}_records_time ON {p}_records (time_us)",
        "CREATE INDEX {p}_records_actor ON {p}_records (actor)",
        "CREATE INDEX {p}_records_target ON {p}_records (target)",
    ),
    2: (
        "DROP INDEX {p}_records_time",
        "DROP INDEX {p}_records_actor",
        "DROP INDEX {p}_records_target",
        f"CREATE INDEX {{p}}_records_actor_tail ON {{p}}_records (substr(actor, -{TAIL}))",
        f"CREATE INDEX {{p}}_records_target_tail ON {{p}}_records (substr(target, -{TAIL}))",
    ),
    3: (
        "ALTER TABLE {p}_records ADD COLUMN actor_key INTEGER",
        "ALTER TABLE {p}_records ADD COLUMN target_key INTEGER",
        (
            "UPDATE {p}_records SET actor_key = childsafe_account_key(actor), "
            "target_key = childsafe_account_key(target)"
        ),
        "DROP INDEX {p}_records_actor_tail",
        "DROP INDEX {p}_records_target_tail",
        "CREATE INDEX {p}_records_actor_key ON {p}_records (actor_key)",
        "CREATE INDEX {p}_records_target_key ON {p}_records (target_key)",
    ),
}
_CACHE_KIB: Final = 16_384
"""Each connection's page cache, in KiB (SQLite's default is 2 MiB): room for the
account indexes' pages, which every batch touches, so they are not read back from the
file for each one. The cache fills only as pages are used."""
_WAL_BYTES: Final = 40_000_000
"""SQLite folds the write-ahead log back into the database once it holds about this
many bytes of pages (SQLite's default is 1,000 pages, 4 MB at its default page size): a
page that many batches touch (an index page) is copied once instead of once per few
batches."""
_PAGE_SIZE: Final = 16_384
"""The page size of a database file the store creates (SQLite's default is 4,096): a
batch's rows fill four times fewer pages, each written to the log with one frame
header and copied back once, which takes the kernel's share of an append from about
2.3 to about 1.2 µs. A file that already holds tables keeps its page size."""
_COLUMNS: Final = "seq, prev, hash, body, time_us, kind, actor, target, reason, allowed"
_INSERT: Final = (
    "INSERT INTO {p}_records (" + _COLUMNS + ", actor_key, target_key) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _row(values: tuple[object, ...]) -> StoredRecord:
    seq, prev, h, body, time_us, kind, actor, target, reason, allowed = values
    return StoredRecord(
        seq,  # type: ignore[arg-type]
        prev,  # type: ignore[arg-type]
        h,  # type: ignore[arg-type]
        bytes(body),  # type: ignore[call-overload]
        time_us,  # type: ignore[arg-type]
        kind,  # type: ignore[arg-type]
        actor,  # type: ignore[arg-type]
        target,  # type: ignore[arg-type]
        reason,  # type: ignore[arg-type]
        None if allowed is None else bool(allowed),
    )


def _where(
    since_us: int | None,
    until_us: int | None,
    kinds: Sequence[str] | None,
    accounts: Sequence[str] | None,
    mark: str,
) -> tuple[str, list[object]]:
    """The WHERE clause and its parameters (``mark``: the driver's placeholder). An
    account is looked up by its :func:`account_key` (the indexed columns), then
    compared whole."""
    clauses: list[str] = []
    params: list[object] = []
    if since_us is not None:
        clauses.append(f"time_us >= {mark}")
        params.append(since_us)
    if until_us is not None:
        clauses.append(f"time_us < {mark}")
        params.append(until_us)
    if kinds is not None:
        clauses.append(f"kind IN ({', '.join(mark for _ in kinds)})" if kinds else "0 = 1")
        params.extend(kinds)
    if accounts is not None:
        if accounts:
            marks = ", ".join(mark for _ in accounts)
            keys = [account_key(account) for account in accounts]
            clauses.append(
                f"(actor_key IN ({marks}) OR target_key IN ({marks})) "
                f"AND (actor IN ({marks}) OR target IN ({marks}))"
            )
            params.extend([*keys, *keys, *accounts, *accounts])
        else:
            clauses.append("0 = 1")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


class SQLiteAuditStore:
    """Records in a SQLite file (WAL, ``synchronous=FULL``), shared by every thread and
    process that opens it. Tables are ``<prefix>_records``, ``<prefix>_meta`` and
    ``<prefix>_schema`` (the schema version), created or migrated on open.

    Each thread gets its own connection. ``append`` takes the write lock first
    (``BEGIN IMMEDIATE``) and reads the head inside the transaction, so concurrent
    writers queue up instead of forking the chain; ``timeout`` is how long one waits
    for the lock.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        prefix: str = "childsafe_audit",
        timeout: float = 30.0,
    ) -> None:
        self.path = os.fspath(path)
        self.prefix = check_prefix(prefix)
        self.timeout = timeout
        self.description = f"SQLite {self.path}"
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._lock_file: int | None = None
        self._chain = self._migrate()

    def _failure(self, what: str, error: Exception) -> AuditStoreError:
        return AuditStoreError(f"cannot {what} the audit store {self.description}: {error}")

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
                )
                conn.execute("PRAGMA synchronous = FULL")
                conn.execute(f"PRAGMA page_size = {_PAGE_SIZE}")  # a new file only
                page = conn.execute("PRAGMA page_size").fetchone()[0]
                conn.execute(f"PRAGMA wal_autocheckpoint = {max(1, _WAL_BYTES // page)}")
                conn.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
            except sqlite3.Error as e:
                raise self._failure("open", e) from e
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _migrate(self) -> str:
        p = self.prefix
        conn = self._conn()
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.create_function("childsafe_account_key", 1, _key_or_none, deterministic=True)
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(f"CREATE TABLE IF NOT EXISTS {p}_schema (version INTEGER NOT NULL)")
                row = conn.execute(f"SELECT MAX(version) FROM {p}_schema").fetchone()
                current = row[0] or 0
                if current > SCHEMA_VERSION:
                    raise AuditStoreError(
                        f"the audit store {self.description} has schema version {current}, "
                        f"newer than this childsafe knows ({SCHEMA_VERSION}): upgrade childsafe"
                    )
                for version in range(current + 1, SCHEMA_VERSION + 1):
                    for statement in _SQLITE_MIGRATIONS[version]:
                        conn.execute(statement.format(p=p))
                    if version == 1:
                        fresh = uuid.uuid4().hex
                        conn.execute(
                            f"INSERT INTO {p}_meta VALUES (1, ?, 0, ?)",
                            (fresh, genesis_hash(fresh)),
                        )
                    conn.execute(f"INSERT INTO {p}_schema VALUES (?)", (version,))
                found = conn.execute(f"SELECT chain FROM {p}_meta WHERE id = 1").fetchone()
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            raise self._failure("create the tables of", e) from e
        if found is None:
            raise AuditStoreError(f"the audit store {self.description} has no chain id row")
        chain: str = found[0]
        return chain

    def chain_id(self) -> str:
        return self._chain

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold this process's write lock and, where ``fcntl`` exists, an exclusive
        ``flock`` on ``<path>.lock``: writers in other processes then wake the moment
        the lock is free, instead of polling SQLite's busy handler (which sleeps up to
        100 ms at a time)."""
        with self._write_lock:
            if sys.platform == "win32":  # pragma: no cover - SQLite's busy handler alone
                yield
                return
            if self._lock_file is None:
                try:
                    self._lock_file = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
                except OSError as e:
                    raise self._failure("lock", e) from e
            fcntl.flock(self._lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def append(self, drafts: Sequence[Draft]) -> list[StoredRecord]:
        if not drafts:
            return []
        p = self.prefix
        conn = self._conn()
        with self._writing():
            rows = self._append(conn, p, drafts, None)
        return [_stored(row) for row in rows]

    def append_growing(self, drafts: list[Draft], grow: Callable[[], None]) -> _Committed:
        """:meth:`append`, calling ``grow`` once the write lock is held: it may add to
        ``drafts`` (the trail's writer adds what was queued while it waited). The
        committed records, built one by one when asked for."""
        conn = self._conn()
        with self._writing():
            return _Committed(self._append(conn, self.prefix, drafts, grow))

    def _append(
        self,
        conn: sqlite3.Connection,
        p: str,
        drafts: Sequence[Draft],
        grow: Callable[[], None] | None,
    ) -> list[_Row]:
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if grow is not None:
                    grow()
                head = conn.execute(
                    f"SELECT head_seq, head_hash FROM {p}_meta WHERE id = 1"
                ).fetchone()
                rows = _seal_rows(drafts, head[0], head[1])
                conn.executemany(_INSERT.format(p=p), rows)
                conn.execute(
                    f"UPDATE {p}_meta SET head_seq = ?, head_hash = ? WHERE id = 1",
                    (rows[-1][0], rows[-1][2]),
                )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            raise self._failure("write to", e) from e
        return rows

    def head(self) -> tuple[int, str]:
        try:
            row = (
                self._conn()
                .execute(f"SELECT head_seq, head_hash FROM {self.prefix}_meta WHERE id = 1")
                .fetchone()
            )
        except sqlite3.Error as e:
            raise self._failure("read", e) from e
        return int(row[0]), str(row[1])

    def _query(self, sql: str, params: Sequence[object]) -> Iterator[StoredRecord]:
        try:
            cursor = self._conn().execute(sql, params)
            while True:
                rows = cursor.fetchmany(2000)
                if not rows:
                    return
                for values in rows:
                    yield _row(values)
        except sqlite3.Error as e:
            raise self._failure("read", e) from e

    def scan(self, first: int = 1, last: int | None = None) -> Iterator[StoredRecord]:
        table = f"{self.prefix}_records"
        if last is None:
            sql = f"SELECT {_COLUMNS} FROM {table} WHERE seq >= ? ORDER BY seq"
            return self._query(sql, (first,))
        sql = f"SELECT {_COLUMNS} FROM {table} WHERE seq BETWEEN ? AND ? ORDER BY seq"
        return self._query(sql, (first, last))

    def select(
        self,
        *,
        since_us: int | None = None,
        until_us: int | None = None,
        kinds: Sequence[str] | None = None,
        accounts: Sequence[str] | None = None,
    ) -> Iterator[StoredRecord]:
        if kinds is None and accounts is None and (since_us, until_us) != (None, None):
            kinds = KINDS  # by time alone: through the (kind, time) index, one range a kind
        where, params = _where(since_us, until_us, kinds, accounts, "?")
        sql = f"SELECT {_COLUMNS} FROM {self.prefix}_records{where} ORDER BY seq"
        return self._query(sql, params)

    def count(self, kind: str, since_us: int | None, until_us: int | None) -> int:
        where, params = _where(since_us, until_us, [kind], None, "?")
        try:
            row = (
                self._conn()
                .execute(
                    f"SELECT COUNT(*) FROM {self.prefix}_records{where}",
                    params,
                )
                .fetchone()
            )
        except sqlite3.Error as e:
            raise self._failure("read", e) from e
        return int(row[0])

    def count_denials(self, since_us: int | None, until_us: int | None) -> dict[str, int]:
        where, params = _where(since_us, until_us, ["decision"], None, "?")
        sql = (
            f"SELECT reason, COUNT(*) FROM {self.prefix}_records{where} "
            "AND allowed = 0 AND reason IS NOT NULL GROUP BY reason"
        )
        try:
            rows = self._conn().execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise self._failure("read", e) from e
        return {str(reason): int(n) for reason, n in rows}

    def drop_through(self, seq: int) -> int:
        conn = self._conn()
        try:
            cursor = conn.execute(
                f"DELETE FROM {self.prefix}_records WHERE seq <= ?",
                (seq,),
            )
        except sqlite3.Error as e:
            raise self._failure("delete from", e) from e
        return cursor.rowcount

    def close(self) -> None:
        """Close every connection this store opened (the next call opens new ones)."""
        with self._lock:
            conns, self._all = self._all, []
            self._local = threading.local()
        for conn in conns:
            conn.close()
        with self._write_lock:
            if self._lock_file is not None:
                os.close(self._lock_file)
                self._lock_file = None


def open_store(url: str, *, create: bool = True) -> AuditStore:
    """The store a URL names: ``sqlite:///relative.db`` or ``sqlite:////absolute.db``
    (as SQLAlchemy writes them), ``postgresql://...`` (``childsafe[postgres]``) or
    ``memory:``. ``?prefix=name`` sets the table prefix of a SQL store. With
    ``create=False`` (readers: verifying, exporting, reporting) a SQLite file that does
    not exist, or a PostgreSQL database without the prefix's tables, raises
    :class:`~childsafe.audit.AuditStoreError` instead of being created empty, so a
    mistyped path, database or prefix is not read as an empty trail."""
    if not isinstance(url, str):
        raise AuditStoreError(f"a store URL is a string, got {url!r}")
    if url == "memory:":
        return MemoryAuditStore()
    parts = urlsplit(url)
    options = parse_qs(parts.query)
    prefix = options.pop("prefix", ["childsafe_audit"])[-1]
    if parts.scheme == "sqlite":
        if options:
            raise AuditStoreError(f"{url}: unknown options {sorted(options)}; expected prefix")
        if parts.netloc or not parts.path.startswith("/") or len(parts.path) < 2:
            raise AuditStoreError(
                f"{url!r}: write sqlite:///relative/path.db or sqlite:////absolute/path.db"
            )
        path = unquote(parts.path[1:])
        if not create and not Path(path).exists():
            raise AuditStoreError(f"{url}: there is no audit store at {path!r}")
        return SQLiteAuditStore(path, prefix=prefix)
    if parts.scheme in ("postgresql", "postgres"):
        from childsafe.audit._postgres import PostgresAuditStore  # noqa: PLC0415 - an extra

        rest = [(k, v) for k, values in options.items() for v in values]
        conninfo = urlunsplit(parts._replace(query=urlencode(rest)))
        return PostgresAuditStore(conninfo, prefix=prefix, create=create)
    raise AuditStoreError(
        f"unknown audit store URL {url!r}: expected sqlite:///PATH, postgresql://... or memory:"
    )
