"""Revocation stores: memory, SQLite files, and real Redis and PostgreSQL servers, sync
and async.

The Redis and PostgreSQL tests read ``CHILDSAFE_TEST_REDIS_URL`` and
``CHILDSAFE_TEST_POSTGRES_URL`` and are skipped when they are unset. Each run uses its own
key prefix and table name and removes them afterwards. The async stores share their
layout with the sync ones, so most async tests pair one of each on the same prefix or
table. That an async call leaves the event loop free is shown by ordering: the call is
held in flight (a proxy that holds its bytes, a lock on the SQLite file) until another
task has run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
import secrets
import socket
import sqlite3
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import anyio
import pytest

from childsafe import Account, Guard, Reason
from childsafe.exceptions import MissingExtraError
from childsafe.parental import (
    AsyncPostgresRevocationStore,
    AsyncRedisRevocationStore,
    AsyncRevocationStore,
    AsyncStoreAdapter,
    ConsentIssuer,
    ConsentResult,
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
T = TypeVar("T")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


class GatedProxy:
    """A TCP proxy to a real server that holds what the client sends while its gate is
    shut, and says when it is holding something: a store call kept in flight at will."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.gate = threading.Event()
        self.gate.set()
        self.holding = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self._sockets += [client, server]
            for source, sink, gated in ((client, server, True), (server, client, False)):
                thread = threading.Thread(
                    target=self._pump, args=(source, sink, gated), daemon=True
                )
                self._threads.append(thread)
                thread.start()

    def _pump(self, source: socket.socket, sink: socket.socket, gated: bool) -> None:
        try:
            while data := source.recv(65536):
                if gated and not self.gate.is_set():
                    self.holding.set()
                    self.gate.wait()
                sink.sendall(data)
        except OSError:
            return

    def close(self) -> None:
        self.gate.set()
        for sock in [self.listener, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(timeout=5)


@pytest.fixture(name="anyio_backend")
def _anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(name="run_id")
def _run_id() -> str:
    return secrets.token_hex(6)


def _proxy_to(url: str, default_port: int) -> Iterator[tuple[GatedProxy, str]]:
    """A gated proxy in front of the server at ``url``, and the URL that goes through it."""
    parts = urlsplit(url)
    proxy = GatedProxy(parts.hostname or "127.0.0.1", parts.port or default_port)
    user, _, _ = parts.netloc.rpartition("@")
    netloc = f"{user}@127.0.0.1:{proxy.port}" if user else f"127.0.0.1:{proxy.port}"
    yield proxy, parts._replace(netloc=netloc).geturl()
    proxy.close()


@pytest.fixture(name="redis_proxy")
def _redis_proxy() -> Iterator[tuple[GatedProxy, str]]:
    assert REDIS_URL is not None
    yield from _proxy_to(REDIS_URL, 6379)


@pytest.fixture(name="postgres_proxy")
def _postgres_proxy() -> Iterator[tuple[GatedProxy, str]]:
    assert POSTGRES_URL is not None
    yield from _proxy_to(POSTGRES_URL, 5432)


@pytest.fixture(name="black_hole")
def _black_hole() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port: int = listener.getsockname()[1]
        yield port


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


@pytest.fixture(name="async_redis")
async def _async_redis(
    redis_pair: tuple[RedisRevocationStore, RedisRevocationStore],
) -> AsyncIterator[AsyncRedisRevocationStore]:
    assert REDIS_URL is not None
    store = AsyncRedisRevocationStore(REDIS_URL, prefix=redis_pair[0].prefix)
    yield store
    await store.aclose()


@pytest.fixture(name="async_postgres")
async def _async_postgres(
    postgres_pair: tuple[PostgresRevocationStore, PostgresRevocationStore],
) -> AsyncIterator[AsyncPostgresRevocationStore]:
    assert POSTGRES_URL is not None
    store = AsyncPostgresRevocationStore(POSTGRES_URL, table=postgres_pair[0].table)
    yield store
    await store.aclose()


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
    # Ids that are not grant ids are refused, naming the argument; nothing is written.
    for ids, where in BAD_GRANT_IDS:
        with pytest.raises(GrantConfigError, match=where):
            store.revoked(ids)  # type: ignore[arg-type]
    for grant_id in (None, "", 7):
        with pytest.raises(GrantConfigError, match="grant_id: expected a non-empty string"):
            store.revoke(grant_id, LATER)  # type: ignore[arg-type]
    assert store.revoked(["a", "b"]) == {"a"}


BAD_GRANT_IDS: list[tuple[object, str]] = [
    (None, "grant_ids: expected a collection"),
    ("ab", "grant_ids: expected a collection"),  # a string is not a list of ids
    (["a", None], r"grant_ids\[1\]: expected a non-empty string"),
    ([""], r"grant_ids\[0\]: expected a non-empty string"),
]


async def _async_contract(store: AsyncRevocationStore) -> None:
    """The async protocol: revoked ids are reported, others not, in one call."""
    assert isinstance(store, AsyncRevocationStore)
    assert await store.revoked([]) == frozenset()
    assert await store.revoked(["a", "b"]) == frozenset()
    await store.revoke("a", LATER)
    await store.revoke("a", LATER)  # twice is fine
    assert await store.revoked(["a", "b", "a"]) == {"a"}
    for ids, where in BAD_GRANT_IDS:
        with pytest.raises(GrantConfigError, match=where):
            await store.revoked(ids)  # type: ignore[arg-type]
    with pytest.raises(GrantConfigError, match="grant_id: expected a non-empty string"):
        await store.revoke(None, LATER)  # type: ignore[arg-type]
    assert await store.revoked(["a", "b"]) == {"a"}


async def _shared_with_sync(sync: RevocationStore, async_store: AsyncRevocationStore) -> None:
    """What either kind of store writes, the other reads at once: one revocation list."""
    await async_store.revoke("from-async", LATER)
    assert sync.revoked(["from-async", "from-sync"]) == {"from-async"}
    sync.revoke("from-sync", LATER)
    assert await async_store.revoked(["from-async", "from-sync", "other"]) == {
        "from-async",
        "from-sync",
    }


async def _async_server_sees_sync_revocation(
    sync: RevocationStore, async_store: AsyncRevocationStore
) -> None:
    """A sync app server revokes, an async one's apply_async refuses it (and the reverse);
    valid grants count, bad ones are refused, each with its code."""
    child = Account(
        id="c1",
        band="13_15",
        jurisdiction="DE",
        guardians={"p1"},
        settings={"feed_personalisation": "profiled"},
    )
    issuer = ConsentIssuer(SECRET)
    kept = issuer.issue(child, "p1", PROFILED)
    dropped = issuer.issue(child, "p1", "data_sharing:on")
    sync_server = ConsentVerifier(SECRET, revocations=sync)
    async_server = ConsentVerifier(SECRET, revocations=async_store)
    sync_server.revoke(dropped)
    result = await async_server.apply_async(child, [kept, dropped, "junk"])
    assert result.scopes == {PROFILED}
    assert [e.code for e in result.refused] == ["malformed", "revoked"]
    guard = Guard()
    assert guard.check("feed.personalise", actor=result.account).allowed
    await async_server.revoke_async(kept)
    again = sync_server.apply(child, [kept])
    assert [e.code for e in again.refused] == ["revoked"]
    assert guard.check("feed.personalise", actor=again.account).reason is (
        Reason.PARENTAL_CONSENT_REQUIRED
    )


async def _holding(proxy: GatedProxy) -> None:
    """Wait (in a worker thread, so the loop stays free) until the proxy holds a request."""
    assert await anyio.to_thread.run_sync(proxy.holding.wait, 30, abandon_on_cancel=True)


async def _leaves_the_loop_free(proxy: GatedProxy, call: Callable[[], Awaitable[T]]) -> T:
    """Run ``call`` while the proxy holds its request: another task must run before the
    call can finish, which a call that blocked the event loop would not let happen."""
    order: list[str] = []
    results: list[T] = []

    async def in_flight() -> None:
        results.append(await call())
        order.append("store call done")

    proxy.holding.clear()
    proxy.gate.clear()
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(in_flight)
            await _holding(proxy)
            order.append("other task ran")
            proxy.gate.set()
    assert order == ["other task ran", "store call done"]
    return results[0]


async def _cancelled_in_flight(
    proxy: GatedProxy, call: Callable[[], Coroutine[Any, Any, object]]
) -> None:
    """Cancel ``call`` while the proxy holds its request (as a timeout would)."""
    proxy.holding.clear()
    proxy.gate.clear()
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            await _holding(proxy)
            tg.cancel_scope.cancel()
    proxy.gate.set()


def _verifier_giving_up(store: AsyncRevocationStore) -> ConsentVerifier:
    return ConsentVerifier(SECRET, revocations=store, store_timeout=0.2)


async def _gives_up_in_time(store: AsyncRevocationStore, caplog: pytest.LogCaptureFixture) -> None:
    """Through apply_async, a store that never answers counts as down once the verifier's
    store_timeout has passed: no grant, logged, the call returns instead of hanging."""
    child = Account(id="c1", band="13_15", guardians={"p1"})
    token = ConsentIssuer(SECRET).issue(child, "p1", PROFILED)
    verifier = _verifier_giving_up(store)
    result: ConsentResult | None = None
    with caplog.at_level(logging.WARNING, logger="childsafe.parental"), anyio.fail_after(20):
        result = await verifier.apply_async(child, [token])
        with pytest.raises(RevocationStoreError, match=r"did not answer within 0\.2 s"):
            await verifier.revoke_async(token)
    assert result.account.consents == frozenset()
    assert [e.code for e in result.refused] == ["store_unavailable"]
    assert "did not answer within 0.2 s" in str(result.refused[0])
    assert "revocation store unavailable" in caplog.text
    await store.aclose()


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


class ClosableStore(MemoryRevocationStore):
    """A sync store with a ``close()``, as the Redis and PostgreSQL ones have."""

    def __init__(self) -> None:
        super().__init__()
        self.closed_in: int | None = None

    def close(self) -> None:
        self.closed_in = threading.get_ident()


class TestAsyncStoreAdapter:
    @pytest.mark.anyio
    async def test_contract_memory(self) -> None:
        """A memory store behind the adapter follows the async protocol."""
        await _async_contract(AsyncStoreAdapter(MemoryRevocationStore()))

    @pytest.mark.anyio
    async def test_contract_sqlite(self, tmp_path: Path) -> None:
        """A SQLite store behind the adapter follows the async protocol, sharing its file."""
        path = tmp_path / "revocations.db"
        await _async_contract(AsyncStoreAdapter(SQLiteRevocationStore(path)))
        await _shared_with_sync(
            SQLiteRevocationStore(path), AsyncStoreAdapter(SQLiteRevocationStore(path))
        )

    @pytest.mark.anyio
    async def test_sqlite_leaves_the_loop_free(self, tmp_path: Path) -> None:
        """A SQLite call waiting on a locked file waits in a worker thread: other tasks run."""
        path = tmp_path / "revocations.db"
        store = AsyncStoreAdapter(SQLiteRevocationStore(path, timeout=10))
        order: list[str] = []

        async def revoke() -> None:
            await store.revoke("g", LATER)
            order.append("store call done")

        blocker = sqlite3.connect(path, isolation_level=None)
        try:
            blocker.execute("BEGIN EXCLUSIVE")
            with anyio.fail_after(30):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(revoke)
                    await anyio.wait_all_tasks_blocked()
                    order.append("other task ran")
                    blocker.execute("COMMIT")
        finally:
            blocker.close()
        assert order == ["other task ran", "store call done"]
        assert await store.revoked(["g"]) == {"g"}

    @pytest.mark.anyio
    async def test_errors_pass_through(self, tmp_path: Path) -> None:
        """A broken SQLite file raises RevocationStoreError through the adapter, both ways."""
        path = tmp_path / "x.db"
        store = AsyncStoreAdapter(SQLiteRevocationStore(path))
        path.write_bytes(b"this is not a database" * 100)
        with pytest.raises(RevocationStoreError, match="cannot read"):
            await store.revoked(["a"])
        with pytest.raises(RevocationStoreError, match="cannot write"):
            await store.revoke("a", LATER)

    def test_refuses_an_async_store(self) -> None:
        """Wrapping a store that is already async is a mistake, caught at once."""
        with pytest.raises(GrantConfigError, match="AsyncStoreAdapter is already an async store"):
            AsyncStoreAdapter(AsyncStoreAdapter(MemoryRevocationStore()))  # type: ignore[arg-type]

    @pytest.mark.anyio
    async def test_aclose(self) -> None:
        """aclose closes the wrapped store in a worker thread, and is a no-op without close()."""
        closable = ClosableStore()
        await AsyncStoreAdapter(closable).aclose()
        assert closable.closed_in not in (None, threading.get_ident())
        await AsyncStoreAdapter(MemoryRevocationStore()).aclose()


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


@needs_redis
class TestAsyncRedisStore:
    @pytest.mark.anyio
    async def test_contract(self, async_redis: AsyncRedisRevocationStore) -> None:
        """The async Redis store follows the async protocol."""
        await _async_contract(async_redis)

    @pytest.mark.anyio
    async def test_shared_with_sync(
        self,
        redis_pair: tuple[RedisRevocationStore, RedisRevocationStore],
        async_redis: AsyncRedisRevocationStore,
    ) -> None:
        """Async and sync Redis stores on one prefix see each other's revocations at once."""
        await _shared_with_sync(redis_pair[0], async_redis)

    @pytest.mark.anyio
    async def test_apply_async_across_servers(
        self,
        redis_pair: tuple[RedisRevocationStore, RedisRevocationStore],
        async_redis: AsyncRedisRevocationStore,
    ) -> None:
        """apply_async over Redis counts valid grants and refuses revoked and bad ones."""
        await _async_server_sees_sync_revocation(redis_pair[0], async_redis)

    @pytest.mark.anyio
    async def test_keys_expire_with_the_grant(
        self,
        redis_pair: tuple[RedisRevocationStore, RedisRevocationStore],
        async_redis: AsyncRedisRevocationStore,
    ) -> None:
        """An async revocation key expires when its grant would have, as a sync one does."""
        await async_redis.revoke("g", dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
        await async_redis.revoke("past", dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
        client = redis_pair[0].client
        assert 3540 < client.ttl(async_redis.prefix + "g") <= 3600
        assert 0 < client.ttl(async_redis.prefix + "past") <= 1

    @pytest.mark.anyio
    async def test_leaves_the_loop_free(
        self,
        redis_pair: tuple[RedisRevocationStore, RedisRevocationStore],
        redis_proxy: tuple[GatedProxy, str],
    ) -> None:
        """While Redis has not answered, other tasks run; then the answer arrives intact."""
        proxy, url = redis_proxy
        store = AsyncRedisRevocationStore(url, prefix=redis_pair[0].prefix, timeout=20)
        redis_pair[0].revoke("g", LATER)
        assert await store.revoked(["g"]) == {"g"}  # connected before the gate shuts
        assert await _leaves_the_loop_free(proxy, lambda: store.revoked(["g", "h"])) == {"g"}
        await store.aclose()

    @pytest.mark.anyio
    async def test_recovers_after_cancellation(
        self,
        redis_pair: tuple[RedisRevocationStore, RedisRevocationStore],
        redis_proxy: tuple[GatedProxy, str],
    ) -> None:
        """A call cancelled half-way (a timeout) leaves no stale reply for the next call."""
        proxy, url = redis_proxy
        store = AsyncRedisRevocationStore(url, prefix=redis_pair[0].prefix, timeout=20)
        await store.revoke("g", LATER)
        await _cancelled_in_flight(proxy, lambda: store.revoked(["other"]))
        assert await store.revoked(["g"]) == {"g"}
        await store.aclose()

    @pytest.mark.anyio
    async def test_client_argument(self, run_id: str) -> None:
        """A ready async client can be passed instead of a URL; both or neither is an error."""
        import redis.asyncio  # noqa: PLC0415

        assert REDIS_URL is not None
        client = redis.asyncio.Redis.from_url(REDIS_URL)
        store = AsyncRedisRevocationStore(client=client, prefix=f"childsafe-test-{run_id}:")
        assert await store.revoked(["nothing"]) == frozenset()
        await store.aclose()
        with pytest.raises(GrantConfigError, match="exactly one of"):
            AsyncRedisRevocationStore()
        with pytest.raises(GrantConfigError, match="exactly one of"):
            AsyncRedisRevocationStore(REDIS_URL, client=client)


class TestAsyncRedisDown:
    @pytest.mark.anyio
    async def test_down_raises_store_error(self) -> None:
        """An async Redis store whose server refuses connections raises RevocationStoreError."""
        store = AsyncRedisRevocationStore(f"redis://127.0.0.1:{_closed_port()}/0", timeout=0.2)
        with pytest.raises(RevocationStoreError, match="cannot read revocations from Redis"):
            await store.revoked(["a"])
        with pytest.raises(RevocationStoreError, match="cannot write the revocation to Redis"):
            await store.revoke("a", LATER)
        assert await store.revoked([]) == frozenset()
        await store.aclose()

    @pytest.mark.anyio
    async def test_down_means_no_grant(self) -> None:
        """Through apply_async, a Redis that is down means no consent counts."""
        child = Account(id="c1", band="13_15", guardians={"p1"})
        token = ConsentIssuer(SECRET).issue(child, "p1", PROFILED)
        store = AsyncRedisRevocationStore(f"redis://127.0.0.1:{_closed_port()}/0", timeout=0.2)
        result = await ConsentVerifier(SECRET, revocations=store).apply_async(child, [token])
        assert result.account.consents == frozenset()
        assert [e.code for e in result.refused] == ["store_unavailable"]
        await store.aclose()

    @pytest.mark.anyio
    async def test_silent_server_times_out(
        self, black_hole: int, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A Redis that accepts but never answers is given up on after store_timeout."""
        store = AsyncRedisRevocationStore(f"redis://127.0.0.1:{black_hole}/0", timeout=60)
        await _gives_up_in_time(store, caplog)


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


@needs_postgres
class TestAsyncPostgresStore:
    @pytest.mark.anyio
    async def test_contract(self, async_postgres: AsyncPostgresRevocationStore) -> None:
        """The async PostgreSQL store follows the async protocol."""
        await _async_contract(async_postgres)

    @pytest.mark.anyio
    async def test_shared_with_sync(
        self,
        postgres_pair: tuple[PostgresRevocationStore, PostgresRevocationStore],
        async_postgres: AsyncPostgresRevocationStore,
    ) -> None:
        """Async and sync PostgreSQL stores on one table see each other's revocations."""
        await _shared_with_sync(postgres_pair[0], async_postgres)

    @pytest.mark.anyio
    async def test_apply_async_across_servers(
        self,
        postgres_pair: tuple[PostgresRevocationStore, PostgresRevocationStore],
        async_postgres: AsyncPostgresRevocationStore,
    ) -> None:
        """apply_async over PostgreSQL counts valid grants and refuses revoked and bad ones."""
        await _async_server_sees_sync_revocation(postgres_pair[0], async_postgres)

    @pytest.mark.anyio
    async def test_prunes_expired(
        self,
        postgres_pair: tuple[PostgresRevocationStore, PostgresRevocationStore],
        async_postgres: AsyncPostgresRevocationStore,
    ) -> None:
        """Async revocations prune rows of expired grants from the shared table."""
        postgres_pair[0].revoke("old", dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        await async_postgres.revoke("new", LATER)
        assert postgres_pair[0].revoked(["old", "new"]) == {"new"}

    @pytest.mark.anyio
    async def test_reconnects_after_aclose(
        self, async_postgres: AsyncPostgresRevocationStore
    ) -> None:
        """After aclose the store reconnects on the next call."""
        await async_postgres.revoke("g", LATER)
        await async_postgres.aclose()
        assert await async_postgres.revoked(["g"]) == {"g"}

    @pytest.mark.anyio
    async def test_leaves_the_loop_free(
        self,
        postgres_pair: tuple[PostgresRevocationStore, PostgresRevocationStore],
        postgres_proxy: tuple[GatedProxy, str],
    ) -> None:
        """While PostgreSQL has not answered, other tasks run; then the answer arrives."""
        proxy, url = postgres_proxy
        store = AsyncPostgresRevocationStore(url, table=postgres_pair[0].table, timeout=20)
        postgres_pair[0].revoke("g", LATER)
        assert await store.revoked(["g"]) == {"g"}  # connected before the gate shuts
        assert await _leaves_the_loop_free(proxy, lambda: store.revoked(["g", "h"])) == {"g"}
        await store.aclose()

    @pytest.mark.anyio
    async def test_recovers_after_cancellation(
        self,
        postgres_pair: tuple[PostgresRevocationStore, PostgresRevocationStore],
        postgres_proxy: tuple[GatedProxy, str],
    ) -> None:
        """A call cancelled mid-statement (a timeout) drops the connection; the next call
        reconnects and answers correctly."""
        proxy, url = postgres_proxy
        store = AsyncPostgresRevocationStore(url, table=postgres_pair[0].table, timeout=20)
        await store.revoke("g", LATER)
        await _cancelled_in_flight(proxy, lambda: store.revoked(["other"]))
        assert await store.revoked(["g"]) == {"g"}
        await store.aclose()

    def test_bad_table_name(self) -> None:
        """Table names are plain identifiers, never SQL."""
        assert POSTGRES_URL is not None
        with pytest.raises(GrantConfigError, match="plain SQL identifier"):
            AsyncPostgresRevocationStore(POSTGRES_URL, table="x; DROP TABLE y")


class TestAsyncPostgresDown:
    @pytest.mark.anyio
    async def test_down_raises_store_error(self) -> None:
        """An async PostgreSQL store whose server refuses connections raises, both ways."""
        store = AsyncPostgresRevocationStore(
            f"postgresql://postgres@127.0.0.1:{_closed_port()}/test", timeout=1
        )
        with pytest.raises(RevocationStoreError, match="cannot read revocations from PostgreSQL"):
            await store.revoked(["a"])
        with pytest.raises(RevocationStoreError, match="cannot write the revocation to"):
            await store.revoke("a", LATER)
        assert await store.revoked([]) == frozenset()
        await store.aclose()

    @pytest.mark.anyio
    async def test_silent_server_times_out(
        self, black_hole: int, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A PostgreSQL that accepts but never answers is given up on after store_timeout."""
        store = AsyncPostgresRevocationStore(
            f"postgresql://postgres@127.0.0.1:{black_hole}/test", timeout=60
        )
        await _gives_up_in_time(store, caplog)


class TestMissingExtras:
    @pytest.mark.parametrize(
        ("module", "store", "where", "extra"),
        [
            ("redis", RedisRevocationStore, "redis://127.0.0.1:1/0", "childsafe[redis]"),
            ("redis", AsyncRedisRevocationStore, "redis://127.0.0.1:1/0", "childsafe[redis]"),
            (
                "redis.asyncio",
                AsyncRedisRevocationStore,
                "redis://127.0.0.1:1/0",
                "childsafe[redis]",
            ),
            (
                "psycopg",
                PostgresRevocationStore,
                "postgresql://127.0.0.1:1/x",
                "childsafe[postgres]",
            ),
            (
                "psycopg",
                AsyncPostgresRevocationStore,
                "postgresql://127.0.0.1:1/x",
                "childsafe[postgres]",
            ),
        ],
    )
    def test_missing_driver(
        self,
        monkeypatch: pytest.MonkeyPatch,
        module: str,
        store: Callable[[str], object],
        where: str,
        extra: str,
    ) -> None:
        """Without its driver a backend raises MissingExtraError naming itself and the extra."""
        monkeypatch.setitem(sys.modules, module, None)
        name = getattr(store, "__name__", "")
        with pytest.raises(MissingExtraError, match=rf"^{name} needs .*{re.escape(extra)}"):
            store(where)

    def test_core_does_not_import_drivers(self) -> None:
        """Importing childsafe and childsafe.parental loads neither redis nor psycopg, nor
        the async machinery (anyio) that only async apps use."""
        import subprocess  # noqa: PLC0415

        code = (
            "import sys, childsafe, childsafe.parental; "
            "print(sorted(m for m in ('redis', 'psycopg', 'anyio') if m in sys.modules))"
        )
        out = subprocess.run(  # noqa: S603 - our own interpreter, fixed code
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == "[]"
