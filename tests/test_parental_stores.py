"""Revocation stores: memory, SQLite files, and real Redis and PostgreSQL servers.

The Redis and PostgreSQL tests read ``CHILDSAFE_TEST_REDIS_URL`` and
``CHILDSAFE_TEST_POSTGRES_URL`` and are skipped when they are unset. Each run uses its own
key prefix and table name and removes them afterwards.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from childsafe import Account, Guard, Reason
from childsafe.exceptions import MissingExtraError
from childsafe.parental import (
    ConsentIssuer,
    ConsentVerifier,
    GrantConfigError,
    MemoryRevocationStore,
    PostgresRevocationStore,
    RedisRevocationStore,
    RevocationStore,
    RevocationStoreError,
    SQLiteRevocationStore,
)

REDIS_URL = os.environ.get("CHILDSAFE_TEST_REDIS_URL")
POSTGRES_URL = os.environ.get("CHILDSAFE_TEST_POSTGRES_URL")
needs_redis = pytest.mark.skipif(
    not REDIS_URL, reason="set CHILDSAFE_TEST_REDIS_URL to test against a real Redis"
)
needs_postgres = pytest.mark.skipif(
    not POSTGRES_URL, reason="set CHILDSAFE_TEST_POSTGRES_URL to test against a real PostgreSQL"
)
SECRET = secrets.token_bytes(32)
PROFILED = "feed_personalisation:profiled"
# Far enough ahead that no grant revoked with it expires during the test session.
LATER = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture(name="run_id")
def _run_id() -> str:
    return secrets.token_hex(6)


@pytest.fixture(name="redis_pair")
def _redis_pair(run_id: str) -> Iterator[tuple[RedisRevocationStore, RedisRevocationStore]]:
    assert REDIS_URL is not None
    prefix = f"childsafe-test-{run_id}:"
    first = RedisRevocationStore(REDIS_URL, prefix=prefix)
    second = RedisRevocationStore(REDIS_URL, prefix=prefix)  # its own connection pool
    yield first, second
    keys = list(first.client.scan_iter(match=f"{prefix}*"))
    if keys:
        first.client.delete(*keys)
    first.close()
    second.close()


@pytest.fixture(name="postgres_pair")
def _postgres_pair(
    run_id: str,
) -> Iterator[tuple[PostgresRevocationStore, PostgresRevocationStore]]:
    import psycopg  # noqa: PLC0415 - only where the server is configured

    assert POSTGRES_URL is not None
    table = f"childsafe_revocations_{run_id}"
    first = PostgresRevocationStore(POSTGRES_URL, table=table)
    second = PostgresRevocationStore(POSTGRES_URL, table=table)
    yield first, second
    first.close()
    second.close()
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("DROP TABLE IF EXISTS {}").format(psycopg.sql.Identifier(table))
        )


def _second_instance_sees_revocation(first: RevocationStore, second: RevocationStore) -> None:
    """Revoke through one Guard's verifier; a second app server's verifier sees it at once."""
    child = Account(id="c1", band="13_15", jurisdiction="DE", guardians={"p1"})
    token = ConsentIssuer(SECRET).issue(child, "p1", PROFILED)
    server_a = (Guard(), ConsentVerifier(SECRET, revocations=first))
    server_b = (Guard(), ConsentVerifier(SECRET, revocations=second))
    stored = Account(
        id="c1",
        band="13_15",
        jurisdiction="DE",
        guardians={"p1"},
        settings={"feed_personalisation": "profiled"},
    )
    for guard, verifier in (server_a, server_b):
        account = verifier.apply(stored, [token]).account
        assert guard.check("feed.personalise", actor=account).allowed
    server_a[1].revoke(token)
    guard, verifier = server_b
    result = verifier.apply(stored, [token])
    assert [e.code for e in result.refused] == ["revoked"]
    assert guard.check("feed.personalise", actor=result.account).reason is (
        Reason.PARENTAL_CONSENT_REQUIRED
    )


def _contract(store: RevocationStore) -> None:
    """The protocol: revoked ids are reported, others not, in one call."""
    assert store.revoked([]) == frozenset()
    assert store.revoked(["a", "b"]) == frozenset()
    store.revoke("a", LATER)
    store.revoke("a", LATER)  # twice is fine
    assert store.revoked(["a", "b", "a"]) == {"a"}


class TestMemoryStore:
    def test_contract(self) -> None:
        """The in-memory store follows the protocol."""
        store = MemoryRevocationStore()
        assert isinstance(store, RevocationStore)
        _contract(store)

    def test_forgets_after_expiry(self) -> None:
        """Revocations of grants that have expired anyway are dropped on the next revoke."""
        store = MemoryRevocationStore()
        store.revoke("old", dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        store.revoke("new", LATER)
        assert store.revoked(["old", "new"]) == {"new"}

    def test_naive_expiry_refused(self) -> None:
        """An expiry without a time zone is a programming error, not a silent UTC guess."""
        with pytest.raises(GrantConfigError, match="aware datetime"):
            MemoryRevocationStore().revoke("a", dt.datetime(2030, 1, 1))  # noqa: DTZ001


class TestSQLiteStore:
    def test_contract(self, tmp_path: Path) -> None:
        """The SQLite store follows the protocol."""
        _contract(SQLiteRevocationStore(tmp_path / "revocations.db"))

    def test_second_instance(self, tmp_path: Path) -> None:
        """Two stores on one file (two processes, say) share revocations at once."""
        path = tmp_path / "revocations.db"
        _second_instance_sees_revocation(SQLiteRevocationStore(path), SQLiteRevocationStore(path))

    def test_threads(self, tmp_path: Path) -> None:
        """One store serves many threads (each call has its own connection)."""
        store = SQLiteRevocationStore(tmp_path / "revocations.db", table="grants_revoked")
        errors: list[BaseException] = []

        def work(i: int) -> None:
            try:
                store.revoke(f"g{i}", LATER)
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert store.revoked([f"g{i}" for i in range(8)]) == {f"g{i}" for i in range(8)}

    def test_prunes_expired(self, tmp_path: Path) -> None:
        """Rows for grants past their expiry are deleted as new revocations come in."""
        path = tmp_path / "revocations.db"
        store = SQLiteRevocationStore(path)
        store.revoke("old", dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        store.revoke("new", LATER)
        with sqlite3.connect(path) as db:
            rows = db.execute("SELECT jti FROM childsafe_revocations").fetchall()
        assert rows == [("new",)]

    def test_bad_table_name(self, tmp_path: Path) -> None:
        """Table names are plain identifiers, never SQL."""
        with pytest.raises(GrantConfigError, match="plain SQL identifier"):
            SQLiteRevocationStore(tmp_path / "x.db", table="x; DROP TABLE y")

    def test_unreadable_file(self, tmp_path: Path) -> None:
        """A path that cannot be opened raises RevocationStoreError naming it."""
        with pytest.raises(RevocationStoreError, match="cannot open the SQLite store"):
            SQLiteRevocationStore(tmp_path / "missing-dir" / "x.db")

    def test_broken_file_fails_closed(self, tmp_path: Path) -> None:
        """A store whose file was replaced by garbage raises on read and write."""
        path = tmp_path / "x.db"
        store = SQLiteRevocationStore(path)
        path.write_bytes(b"this is not a database" * 100)
        with pytest.raises(RevocationStoreError, match="cannot read"):
            store.revoked(["a"])
        with pytest.raises(RevocationStoreError, match="cannot write"):
            store.revoke("a", LATER)


@needs_redis
class TestRedisStore:
    def test_contract(self, redis_pair: tuple[RedisRevocationStore, RedisRevocationStore]) -> None:
        """The Redis store follows the protocol."""
        _contract(redis_pair[0])

    def test_second_instance(
        self, redis_pair: tuple[RedisRevocationStore, RedisRevocationStore]
    ) -> None:
        """A revocation through one app server's store is seen by another's at once."""
        _second_instance_sees_revocation(*redis_pair)

    def test_keys_expire_with_the_grant(
        self, redis_pair: tuple[RedisRevocationStore, RedisRevocationStore]
    ) -> None:
        """Each revocation key expires when its grant would have (at least one second)."""
        first, _ = redis_pair
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        first.revoke("g", expires)
        first.revoke("past", dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
        ttl = first.client.ttl(first.prefix + "g")
        # The key lives as long as the grant would have: an hour from the revocation,
        # less the few seconds a loaded machine takes between these lines.
        assert 3540 < ttl <= 3600
        assert 0 < first.client.ttl(first.prefix + "past") <= 1

    def test_client_argument(self, run_id: str) -> None:
        """A ready client can be passed instead of a URL; giving both or neither is an error."""
        import redis  # noqa: PLC0415

        assert REDIS_URL is not None
        client = redis.Redis.from_url(REDIS_URL)
        store = RedisRevocationStore(client=client, prefix=f"childsafe-test-{run_id}:")
        assert store.revoked(["nothing"]) == frozenset()
        store.close()
        with pytest.raises(GrantConfigError, match="exactly one of"):
            RedisRevocationStore()
        with pytest.raises(GrantConfigError, match="exactly one of"):
            RedisRevocationStore(REDIS_URL, client=client)


class TestRedisDown:
    def test_down_raises_store_error(self) -> None:
        """A Redis that does not answer raises RevocationStoreError quickly, both ways."""
        store = RedisRevocationStore(f"redis://127.0.0.1:{_closed_port()}/0", timeout=0.2)
        with pytest.raises(RevocationStoreError, match="cannot read revocations from Redis"):
            store.revoked(["a"])
        with pytest.raises(RevocationStoreError, match="cannot write the revocation to Redis"):
            store.revoke("a", LATER)
        assert store.revoked([]) == frozenset()

    def test_down_means_no_grant(self) -> None:
        """Through a verifier, a Redis that is down means no consent counts."""
        child = Account(id="c1", band="13_15", guardians={"p1"})
        token = ConsentIssuer(SECRET).issue(child, "p1", PROFILED)
        store = RedisRevocationStore(f"redis://127.0.0.1:{_closed_port()}/0", timeout=0.2)
        result = ConsentVerifier(SECRET, revocations=store).apply(child, [token])
        assert result.account.consents == frozenset()
        assert [e.code for e in result.refused] == ["store_unavailable"]


@needs_postgres
class TestPostgresStore:
    def test_contract(
        self, postgres_pair: tuple[PostgresRevocationStore, PostgresRevocationStore]
    ) -> None:
        """The PostgreSQL store follows the protocol."""
        _contract(postgres_pair[0])

    def test_second_instance(
        self, postgres_pair: tuple[PostgresRevocationStore, PostgresRevocationStore]
    ) -> None:
        """A revocation through one app server's store is seen by another's at once."""
        _second_instance_sees_revocation(*postgres_pair)

    def test_reconnects_after_close(
        self, postgres_pair: tuple[PostgresRevocationStore, PostgresRevocationStore]
    ) -> None:
        """After its connection goes away the store reconnects on the next call."""
        first, second = postgres_pair
        first.revoke("g", LATER)
        second.close()
        assert second.revoked(["g"]) == {"g"}

    def test_prunes_expired(
        self, postgres_pair: tuple[PostgresRevocationStore, PostgresRevocationStore]
    ) -> None:
        """Rows for grants past their expiry are deleted as new revocations come in."""
        first, _ = postgres_pair
        first.revoke("old", dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        first.revoke("new", LATER)
        assert first.revoked(["old", "new"]) == {"new"}

    def test_bad_table_name(self) -> None:
        """Table names are plain identifiers, never SQL."""
        assert POSTGRES_URL is not None
        with pytest.raises(GrantConfigError, match="plain SQL identifier"):
            PostgresRevocationStore(POSTGRES_URL, table="x; DROP TABLE y")


class TestPostgresDown:
    def test_down_raises_store_error(self) -> None:
        """A PostgreSQL that does not answer raises RevocationStoreError, both ways."""
        store = PostgresRevocationStore(
            f"postgresql://postgres@127.0.0.1:{_closed_port()}/test", timeout=1
        )
        with pytest.raises(RevocationStoreError, match="cannot read revocations from PostgreSQL"):
            store.revoked(["a"])
        with pytest.raises(RevocationStoreError, match="cannot write the revocation to"):
            store.revoke("a", LATER)
        assert store.revoked([]) == frozenset()
        store.close()


class TestMissingExtras:
    @pytest.mark.parametrize(
        ("module", "make", "extra"),
        [
            ("redis", lambda: RedisRevocationStore("redis://127.0.0.1:1/0"), "childsafe[redis]"),
            (
                "psycopg",
                lambda: PostgresRevocationStore("postgresql://127.0.0.1:1/x"),
                "childsafe[postgres]",
            ),
        ],
    )
    def test_missing_driver(
        self,
        monkeypatch: pytest.MonkeyPatch,
        module: str,
        make: Callable[[], object],
        extra: str,
    ) -> None:
        """Without its driver a backend raises MissingExtraError naming the extra."""
        monkeypatch.setitem(sys.modules, module, None)
        with pytest.raises(MissingExtraError, match=extra.replace("[", r"\[").replace("]", r"\]")):
            make()

    def test_core_does_not_import_drivers(self) -> None:
        """Importing childsafe and childsafe.parental loads neither redis nor psycopg."""
        import subprocess  # noqa: PLC0415

        code = (
            "import sys, childsafe, childsafe.parental; "
            "print(sorted(m for m in ('redis', 'psycopg') if m in sys.modules))"
        )
        out = subprocess.run(  # noqa: S603 - our own interpreter, fixed code
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == "[]"
