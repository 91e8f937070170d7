# ruff: noqa: S608 - test tables named by a fixed prefix
"""The store suite: the same behaviour from memory, SQLite and a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path

import pytest

from childsafe.audit import (
    SCHEMA_VERSION,
    AuditStore,
    AuditStoreError,
    MemoryAuditStore,
    PostgresAuditStore,
    SQLiteAuditStore,
    open_store,
    verify_chain,
)
from childsafe.audit._records import KINDS, StoredRecord, genesis_hash, make_draft
from childsafe.audit._stores import _SQLITE_MIGRATIONS, _where, account_key, seal
from tests.audit.support import POSTGRES_URL, needs_postgres

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def draft(i: int, kind: str = "decision", *, allowed: bool = False, actor: str = "k1:a") -> object:
    return make_draft(
        kind,
        time=T0 + dt.timedelta(minutes=i),
        actor=actor,
        target=f"k1:t{i % 3}",
        data={"allowed": allowed, "reason": "not_connected" if i % 2 else "blocked"},
    )


class TestStoreSuite:
    def test_empty(self, store: AuditStore) -> None:
        """A new store is empty; its head is the genesis hash of its chain id."""
        assert len(store.chain_id()) == 32
        assert store.head() == (0, genesis_hash(store.chain_id()))
        assert list(store.scan()) == []
        assert store.append([]) == []

    def test_append_chains_and_commits(self, store: AuditStore) -> None:
        """Batches get consecutive seqs, each linked to the one before, across batches."""
        first = store.append([draft(i) for i in range(3)])  # type: ignore[misc]
        second = store.append([draft(i) for i in range(3, 5)])  # type: ignore[misc]
        assert [r.seq for r in first + second] == [1, 2, 3, 4, 5]
        assert first[0].prev == genesis_hash(store.chain_id())
        assert second[0].prev == first[-1].hash
        assert store.head() == (5, second[-1].hash)
        assert list(store.scan()) == first + second
        assert list(store.scan(2, 3)) == first[1:3]
        assert verify_chain(store, [], {}).status == "unanchored"

    def test_select_by_time_kind_and_account(self, store: AuditStore) -> None:
        """select filters by [since, until), kind and actor-or-target, in seq order."""
        store.append([draft(i) for i in range(6)])  # type: ignore[misc]
        store.append([draft(6, "complaint", actor="k1:other")])  # type: ignore[list-item]
        us = int(T0.timestamp() * 1e6)
        minute = 60_000_000
        assert [
            r.seq for r in store.select(since_us=us + 2 * minute, until_us=us + 4 * minute)
        ] == [3, 4]
        assert [r.seq for r in store.select(kinds=["complaint"])] == [7]
        assert [r.seq for r in store.select(kinds=[])] == []
        assert [r.seq for r in store.select(accounts=["k1:t0"])] == [1, 4, 7]
        assert [r.seq for r in store.select(accounts=["k1:other"])] == [7]
        assert [r.seq for r in store.select(accounts=[])] == []

    def test_accounts_sharing_a_key(self, store: AuditStore) -> None:
        """Pseudonyms whose last 8 hex digits agree share an index key, and strings
        that are not pseudonyms all share key 0: a lookup still returns only the
        account asked for."""
        one, two = "k1:" + "1" * 24 + "0a0b0c0d", "k2:" + "2" * 24 + "0a0b0c0d"
        assert account_key(one) == account_key(two) == 0x0A0B0C0D
        assert account_key("k1:a") == account_key("k1:t0") == 0
        store.append(
            [
                draft(0, actor=one),  # type: ignore[list-item]
                draft(1, actor=two),  # type: ignore[list-item]
                draft(2, actor="k1:plain"),  # type: ignore[list-item]
                make_draft("complaint", time=T0, target=one),
            ]
        )
        assert [r.seq for r in store.select(accounts=[one])] == [1, 4]
        assert [r.seq for r in store.select(accounts=[two])] == [2]
        assert [r.seq for r in store.select(accounts=["k1:plain"])] == [3]
        assert [r.seq for r in store.select(accounts=[one, "k1:plain"])] == [1, 3, 4]

    def test_counts(self, store: AuditStore) -> None:
        """count by kind and period; denials by reason leave allows out."""
        store.append([draft(i) for i in range(5)])  # type: ignore[misc]
        store.append([draft(9, allowed=True)])  # type: ignore[list-item]
        us = int(T0.timestamp() * 1e6)
        assert store.count("decision", None, None) == 6
        assert store.count("decision", us + 60_000_000, None) == 5
        assert store.count("complaint", None, None) == 0
        assert store.count_denials(None, None) == {"blocked": 3, "not_connected": 2}
        assert store.count_denials(None, us + 60_000_000) == {"blocked": 1}

    def test_drop_through(self, store: AuditStore) -> None:
        """drop_through deletes the oldest records; the head stays."""
        store.append([draft(i) for i in range(5)])  # type: ignore[misc]
        head = store.head()
        assert store.drop_through(2) == 2
        assert [r.seq for r in store.scan()] == [3, 4, 5]
        assert store.head() == head
        assert store.append([draft(7)])[0].seq == 6  # type: ignore[list-item]

    def test_threads_share_one_chain(self, store: AuditStore) -> None:
        """Appends from several threads at once still make one unbroken chain."""

        def write() -> None:
            for i in range(10):
                store.append([draft(i), draft(i + 1)])  # type: ignore[list-item]

        threads = [threading.Thread(target=write) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert store.head()[0] == 80
        report = verify_chain(store, [], {})
        assert report.status == "unanchored"
        assert report.records == 80


# Version-2 rows: pseudonyms (hex tails, one of them above 0x7fffffff), a string that is
# not a pseudonym, and records without a target.
V2_ACCOUNTS = ("k1:" + "0" * 24 + "89abcdef", "k1:" + "f" * 32, "legacy account")


def v2_records(chain: str) -> list[StoredRecord]:
    a, b, c = V2_ACCOUNTS
    pairs = [(a, b), (b, None), (c, a), (None, c), (b, a)]
    drafts = [
        make_draft("decision", time=T0, actor=actor, target=target, data={"allowed": False})
        for actor, target in pairs
    ]
    return seal(drafts, 0, genesis_hash(chain))


def check_migrated_v2(store: AuditStore) -> None:
    """After the migration: every account's records are found, the chain verifies and
    appends go on."""
    a, b, c = V2_ACCOUNTS
    assert [r.seq for r in store.select(accounts=[a])] == [1, 3, 5]
    assert [r.seq for r in store.select(accounts=[b])] == [1, 2, 5]
    assert [r.seq for r in store.select(accounts=[c])] == [3, 4]
    (new,) = store.append([make_draft("complaint", time=T0, actor=c)])
    assert new.seq == 6
    assert [r.seq for r in store.select(accounts=[c])] == [3, 4, 6]
    report = verify_chain(store, [], {})
    assert (report.status, report.records) == ("unanchored", 6)


class TestSchema:
    def test_account_key(self) -> None:
        """The account key is the pseudonym's last 8 hex digits as a signed 32-bit
        integer, and 0 for anything else."""
        assert account_key("k1:" + "0" * 31 + "1") == 1
        assert account_key("k1:" + "0" * 24 + "7fffffff") == 2**31 - 1
        assert account_key("k1:" + "0" * 24 + "80000000") == -(2**31)
        assert account_key("k1:" + "f" * 32) == -1
        for other in ("", "abc", "k1:" + "0" * 24 + "0000000G", "k1:0000_000", "+fffffff"):
            assert account_key(other) == 0, other
        assert account_key("X" + "ABCDEF12") == 0  # upper case is not a pseudonym's

    def test_sqlite_page_size(self, tmp_path: Path) -> None:
        """A file the store creates gets 16 KiB pages and a log folded back at about
        40 MB; a file that already holds tables keeps its page size, and works."""
        store = SQLiteAuditStore(tmp_path / "new.db")
        conn = store._conn()
        assert conn.execute("PRAGMA page_size").fetchone()[0] == 16_384
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 40_000_000 // 16_384
        store.close()
        with sqlite3.connect(tmp_path / "old.db") as db:
            db.execute("CREATE TABLE app_data (x INTEGER)")
        db.close()
        store = SQLiteAuditStore(tmp_path / "old.db")
        try:
            conn = store._conn()
            assert conn.execute("PRAGMA page_size").fetchone()[0] == 4096
            assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 40_000_000 // 4096
            store.append([draft(1)])  # type: ignore[list-item]
            assert verify_chain(store, [], {}).records == 1
        finally:
            store.close()

    def test_sqlite_migrates_version_2(self, tmp_path: Path) -> None:
        """A version-2 store (text expression indexes on the pseudonyms' tails) is
        migrated on open: the key columns are filled for the rows it holds."""
        path = tmp_path / "a.db"
        chain = "c" * 32
        records = v2_records(chain)
        with sqlite3.connect(path) as db:
            for version in (1, 2):
                for statement in _SQLITE_MIGRATIONS[version]:
                    db.execute(statement.format(p="childsafe_audit"))
            db.execute("CREATE TABLE childsafe_audit_schema (version INTEGER NOT NULL)")
            db.execute("INSERT INTO childsafe_audit_schema VALUES (1), (2)")
            db.execute(
                "INSERT INTO childsafe_audit_meta VALUES (1, ?, ?, ?)",
                (chain, records[-1].seq, records[-1].hash),
            )
            db.executemany(
                "INSERT INTO childsafe_audit_records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                records,
            )
        db.close()
        store = SQLiteAuditStore(path)
        try:
            check_migrated_v2(store)
        finally:
            store.close()
        with sqlite3.connect(path) as db:
            keys = db.execute(
                "SELECT actor_key, target_key FROM childsafe_audit_records ORDER BY seq"
            ).fetchall()
            names = {
                row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
            }
        db.close()
        a, b, c = (account_key(x) for x in V2_ACCOUNTS)
        assert (a, b, c) == (0x89ABCDEF - 2**32, -1, 0)
        assert keys == [(a, b), (b, None), (c, a), (None, c), (b, a), (c, None)]
        assert (
            not {"childsafe_audit_records_actor_tail", "childsafe_audit_records_target_tail"}
            & names
        )

    @needs_postgres
    def test_postgres_migrates_version_2(self) -> None:
        """The same on PostgreSQL, whose migration computes the keys in SQL."""
        import psycopg  # noqa: PLC0415

        from childsafe.audit._postgres import _MIGRATIONS  # noqa: PLC0415

        assert POSTGRES_URL is not None
        prefix = "t_migrate_v2"
        chain = "d" * 32
        records = v2_records(chain)
        with psycopg.connect(POSTGRES_URL, autocommit=True) as db:
            for table in ("records", "meta", "schema"):
                db.execute(f"DROP TABLE IF EXISTS {prefix}_{table}")
            for version in (1, 2):
                for statement in _MIGRATIONS[version]:
                    db.execute(statement.format(p=prefix))
            db.execute(f"CREATE TABLE {prefix}_schema (version integer NOT NULL)")
            db.execute(f"INSERT INTO {prefix}_schema VALUES (1), (2)")
            db.execute(
                f"INSERT INTO {prefix}_meta VALUES (1, %s, %s, %s)",
                (chain, records[-1].seq, records[-1].hash),
            )
            with db.cursor().copy(f"COPY {prefix}_records FROM STDIN") as copy:
                for record in records:
                    copy.write_row(record)
        store = PostgresAuditStore(POSTGRES_URL, prefix=prefix)
        try:
            check_migrated_v2(store)
            with psycopg.connect(POSTGRES_URL, autocommit=True) as db:
                keys = db.execute(
                    f"SELECT actor_key, target_key FROM {prefix}_records ORDER BY seq"
                ).fetchall()
            a, b, c = (account_key(x) for x in V2_ACCOUNTS)
            assert keys == [(a, b), (b, None), (c, a), (None, c), (b, a), (c, None)]
        finally:
            store.destroy()

    def test_sqlite_version_table(self, tmp_path: Path) -> None:
        """SQLite records its schema version, reopens without migrating twice, keeps the
        chain id and runs in WAL mode."""
        path = tmp_path / "a.db"
        store = SQLiteAuditStore(path)
        chain = store.chain_id()
        store.close()
        again = SQLiteAuditStore(path)
        assert again.chain_id() == chain
        with sqlite3.connect(path) as db:
            versions = db.execute("SELECT version FROM childsafe_audit_schema").fetchall()
            assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        again.close()

    def test_sqlite_migrates_version_1(self, tmp_path: Path) -> None:
        """A version-1 store (whole-pseudonym account indexes) is migrated on open:
        its records keep their chain and are found by account through the new
        indexes."""
        path = tmp_path / "a.db"
        with sqlite3.connect(path) as db:
            for statement in _SQLITE_MIGRATIONS[1]:
                db.execute(statement.format(p="childsafe_audit"))
            db.execute("CREATE TABLE childsafe_audit_schema (version INTEGER NOT NULL)")
            db.execute("INSERT INTO childsafe_audit_schema VALUES (1)")
            db.execute(
                "INSERT INTO childsafe_audit_meta VALUES (1, ?, 0, ?)",
                ("c" * 32, genesis_hash("c" * 32)),
            )
        db.close()
        store = SQLiteAuditStore(path)
        try:
            assert store.chain_id() == "c" * 32
            drafts = [
                make_draft("decision", time=T0, actor=f"k:{i:032x}", data={"allowed": False})
                for i in range(5)
            ]
            store.append(drafts)
            found = list(store.select(accounts=["k:" + "0" * 31 + "3"]))
            assert [row.seq for row in found] == [4]
            assert verify_chain(store, [], {}).status == "unanchored"
        finally:
            store.close()
        with sqlite3.connect(path) as db:
            versions = db.execute("SELECT version FROM childsafe_audit_schema").fetchall()
            assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
            names = {
                row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
            }
        db.close()
        gone = ("actor", "target", "time", "actor_tail", "target_tail")
        assert not {f"childsafe_audit_records_{i}" for i in gone} & names
        assert {f"childsafe_audit_records_{r}_key" for r in ("actor", "target")} <= names

    def test_sqlite_queries_use_indexes(self, tmp_path: Path) -> None:
        """The queries the trail and the reports make are answered from an index, not
        by reading the whole table (EXPLAIN QUERY PLAN)."""
        store = SQLiteAuditStore(tmp_path / "a.db")
        conn = store._conn()
        try:
            cases = [
                ("COUNT(*)", _where(1, 2, ["decision"], None, "?"), ["kind_time"]),
                ("reason", _where(None, 2, ["decision"], None, "?"), ["kind_time"]),
                (
                    "seq",
                    _where(None, None, None, ["k:a", "j:c"], "?"),
                    ["actor_key", "target_key"],
                ),
                ("seq", _where(1, 2, KINDS, None, "?"), ["kind_time"]),
            ]
            for what, (where, params), indexes in cases:
                sql = f"EXPLAIN QUERY PLAN SELECT {what} FROM childsafe_audit_records{where}"
                plan = " ".join(str(row[-1]) for row in conn.execute(sql, params))
                assert "SCAN" not in plan, plan
                for index in indexes:
                    assert f"USING INDEX childsafe_audit_records_{index} " in plan or (
                        f"USING COVERING INDEX childsafe_audit_records_{index} " in plan
                    ), plan
        finally:
            store.close()

    def test_sqlite_newer_schema_refused(self, tmp_path: Path) -> None:
        """A schema newer than this childsafe knows is refused with a clear error."""
        path = tmp_path / "a.db"
        SQLiteAuditStore(path).close()
        with sqlite3.connect(path) as db:
            db.execute("INSERT INTO childsafe_audit_schema VALUES (?)", (SCHEMA_VERSION + 1,))
        with pytest.raises(AuditStoreError, match=f"schema version {SCHEMA_VERSION + 1}, newer"):
            SQLiteAuditStore(path)

    def test_sqlite_unopenable(self, tmp_path: Path) -> None:
        """A path that cannot be a database raises AuditStoreError naming it."""
        with pytest.raises(AuditStoreError, match="cannot open the audit store SQLite"):
            SQLiteAuditStore(tmp_path / "missing" / "a.db")

    def test_sqlite_locked_store_fails_clearly(self, tmp_path: Path) -> None:
        """A store locked by another process fails the append with AuditStoreError."""
        path = tmp_path / "a.db"
        store = SQLiteAuditStore(path, timeout=0.05)
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(AuditStoreError, match="cannot write to the audit store"):
                store.append([draft(1)])  # type: ignore[list-item]
        finally:
            holder.execute("ROLLBACK")
        assert store.append([draft(1)])[0].seq == 1  # type: ignore[list-item]
        holder.execute("DROP TABLE childsafe_audit_records")
        holder.execute("DROP TABLE childsafe_audit_meta")
        holder.close()
        with pytest.raises(AuditStoreError, match="cannot read"):
            list(store.scan())
        with pytest.raises(AuditStoreError, match="cannot read"):
            store.count("decision", None, None)
        with pytest.raises(AuditStoreError, match="cannot read"):
            store.count_denials(None, None)
        with pytest.raises(AuditStoreError, match="cannot read"):
            store.head()
        with pytest.raises(AuditStoreError, match="cannot delete"):
            store.drop_through(1)
        store.close()

    def test_bad_prefix(self, tmp_path: Path) -> None:
        """A table prefix that is not a plain identifier is refused."""
        with pytest.raises(AuditStoreError, match="plain SQL identifier"):
            SQLiteAuditStore(tmp_path / "a.db", prefix="x; DROP TABLE y")

    @needs_postgres
    def test_postgres_version_table_and_newer_schema(self) -> None:
        """PostgreSQL records its schema version once and refuses a newer one."""
        import psycopg  # noqa: PLC0415

        assert POSTGRES_URL is not None
        store = PostgresAuditStore(POSTGRES_URL, prefix="t_schema_check")
        try:
            again = PostgresAuditStore(POSTGRES_URL, prefix="t_schema_check")
            assert again.chain_id() == store.chain_id()
            again.close()
            with psycopg.connect(POSTGRES_URL, autocommit=True) as db:
                rows = db.execute("SELECT version FROM t_schema_check_schema").fetchall()
                assert rows == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
                db.execute("INSERT INTO t_schema_check_schema VALUES (%s)", (SCHEMA_VERSION + 1,))
            with pytest.raises(AuditStoreError, match="newer than this childsafe knows"):
                PostgresAuditStore(POSTGRES_URL, prefix="t_schema_check")
        finally:
            store.destroy()

    def test_postgres_unreachable(self) -> None:
        """A PostgreSQL server that is down raises AuditStoreError."""
        with pytest.raises(AuditStoreError, match="cannot connect to"):
            PostgresAuditStore("postgresql://postgres@127.0.0.1:1/test", timeout=1)


class TestOpenStore:
    def test_urls(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """sqlite:/// is relative, sqlite://// absolute, memory: in memory, ?prefix= sets
        the tables."""
        monkeypatch.chdir(tmp_path)
        relative = open_store("sqlite:///rel.db?prefix=other")
        assert isinstance(relative, SQLiteAuditStore)
        assert relative.path == "rel.db"
        assert relative.prefix == "other"
        relative.close()
        absolute = open_store(f"sqlite:///{tmp_path}/abs.db")
        assert isinstance(absolute, SQLiteAuditStore)
        assert absolute.path == f"{tmp_path}/abs.db"
        absolute.close()
        assert isinstance(open_store("memory:"), MemoryAuditStore)

    @pytest.mark.parametrize(
        ("url", "message"),
        [
            ("mysql://x", "unknown audit store URL"),
            ("sqlite://host/x.db", "sqlite:///relative"),
            ("sqlite:///", "sqlite:///relative"),
            ("sqlite:///a.db?mode=ro", "unknown options"),
        ],
    )
    def test_bad_urls(self, url: str, message: str) -> None:
        """Malformed URLs raise AuditStoreError saying what would be accepted."""
        with pytest.raises(AuditStoreError, match=message):
            open_store(url)

    def test_not_a_string(self) -> None:
        """A URL must be a string."""
        with pytest.raises(AuditStoreError, match="is a string"):
            open_store(3)  # type: ignore[arg-type]

    @needs_postgres
    def test_postgres_url(self) -> None:
        """postgresql:// opens a PostgresAuditStore, keeping other query options."""
        assert POSTGRES_URL is not None
        store = open_store(f"{POSTGRES_URL}?prefix=t_url_check&application_name=audit")
        try:
            assert isinstance(store, PostgresAuditStore)
            assert store.prefix == "t_url_check"
            assert "application_name=audit" in store.conninfo
        finally:
            assert isinstance(store, PostgresAuditStore)
            store.destroy()


@needs_postgres
def test_postgres_reconnects_after_losing_its_connections() -> None:
    """When the server drops its connections, the next call fails with AuditStoreError
    and the one after reconnects; nothing committed is lost."""
    import psycopg  # noqa: PLC0415

    assert POSTGRES_URL is not None
    store = PostgresAuditStore(f"{POSTGRES_URL}?application_name=t_reconnect", prefix="t_reconnect")
    try:
        store.append([draft(1)])  # type: ignore[list-item]
        assert store.count("decision", None, None) == 1
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 't_reconnect'"
            )
        with pytest.raises(AuditStoreError, match="cannot write to"):
            store.append([draft(2)])  # type: ignore[list-item]
        with pytest.raises(AuditStoreError, match="cannot read"):
            store.head()
        assert store.append([draft(2)])[0].seq == 2  # type: ignore[list-item]
        assert store.head()[0] == 2
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 't_reconnect'"
            )
        with pytest.raises(AuditStoreError, match="cannot delete from"):
            store.drop_through(1)
        assert store.drop_through(1) == 1
        with pytest.raises(AuditStoreError, match="cannot read"):
            store.count("decision", None, None)
        assert verify_chain(store, [], {}).status == "broken"  # record 1 dropped, no anchor
    finally:
        store.destroy()
