"""Where consent-grant revocations live.

A :class:`RevocationStore` is two calls: ``revoke`` a grant id until the grant would
have expired anyway, and ask which of some grant ids are ``revoked``, in one round trip.
:class:`MemoryRevocationStore` serves one process and :class:`SQLiteRevocationStore` the
processes sharing one file (standard library only);
:class:`~childsafe.parental.RedisRevocationStore` and
:class:`~childsafe.parental.PostgresRevocationStore` share revocations across app servers.
Every failure to reach a store raises
:class:`~childsafe.parental.RevocationStoreError`; the verifier then counts no grant.

An :class:`AsyncRevocationStore` is the same two calls as coroutines, for event loops:
:class:`~childsafe.parental.AsyncRedisRevocationStore` and
:class:`~childsafe.parental.AsyncPostgresRevocationStore` talk to their servers without
blocking the loop, and :class:`AsyncStoreAdapter` runs any sync store in a worker thread.
"""

from __future__ import annotations

import datetime as dt
import inspect
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection
from contextlib import closing
from typing import Protocol, TypeGuard, TypeVar, runtime_checkable

from childsafe._durations import seconds_problem
from childsafe.parental._errors import GrantConfigError, RevocationStoreError

__all__ = [
    "AsyncRevocationStore",
    "AsyncStoreAdapter",
    "MemoryRevocationStore",
    "RevocationStore",
    "SQLiteRevocationStore",
]

T = TypeVar("T")


@runtime_checkable
class RevocationStore(Protocol):
    """The revocation list of consent grants, shared by every verifier that uses it."""

    def revoke(self, grant_id: str, expires_at: dt.datetime) -> None:
        """Put ``grant_id`` on the list; it may be forgotten after ``expires_at``."""
        ...

    def revoked(self, grant_ids: Collection[str]) -> frozenset[str]:
        """Which of ``grant_ids`` are revoked."""
        ...


@runtime_checkable
class AsyncRevocationStore(Protocol):
    """:class:`RevocationStore` for event loops: the same calls, awaited, and ``aclose``.

    An async store and a sync store over the same server, key prefix or table share
    one revocation list. The verifier tells the two kinds apart by ``revoked`` being a
    coroutine function (``async def``).
    """

    async def revoke(self, grant_id: str, expires_at: dt.datetime) -> None:
        """Put ``grant_id`` on the list; it may be forgotten after ``expires_at``."""
        ...

    async def revoked(self, grant_ids: Collection[str]) -> frozenset[str]:
        """Which of ``grant_ids`` are revoked."""
        ...

    async def aclose(self) -> None:
        """Release the store's connections."""
        ...


def _is_async(store: object) -> TypeGuard[AsyncRevocationStore]:
    """Whether ``store`` is an async store: its ``revoked`` is a coroutine function."""
    return inspect.iscoroutinefunction(getattr(store, "revoked", None))


def grant_id_checked(grant_id: str) -> str:
    """``grant_id`` if it is a grant's id (a grant's ``jti``: a non-empty string)."""
    value: object = grant_id
    if not isinstance(value, str) or not value:
        raise GrantConfigError(f"grant_id: expected a non-empty string, got {grant_id!r}")
    return grant_id


def _unique(grant_ids: Collection[str]) -> list[str]:
    """The ids once each, in order: what every store asks its backend about. One
    string (read letter by letter), ``None`` or an id that is not a non-empty string
    raises :class:`~childsafe.parental.GrantConfigError`."""
    given: object = grant_ids
    if isinstance(given, str | bytes) or not isinstance(given, Collection):
        raise GrantConfigError(f"grant_ids: expected a collection of grant ids, got {given!r}")
    for i, grant_id in enumerate(given):
        if not isinstance(grant_id, str) or not grant_id:
            raise GrantConfigError(f"grant_ids[{i}]: expected a non-empty string, got {grant_id!r}")
    return list(dict.fromkeys(given))


def _timestamp(expires_at: dt.datetime) -> float:
    value: object = expires_at
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise GrantConfigError(f"expires_at must be an aware datetime, got {expires_at!r}")
    return expires_at.timestamp()


class MemoryRevocationStore:
    """Revocations held in this process (tests, single-process apps)."""

    def __init__(self) -> None:
        self._revoked: dict[str, float] = {}
        self._lock = threading.Lock()

    def revoke(self, grant_id: str, expires_at: dt.datetime) -> None:
        grant_id = grant_id_checked(grant_id)
        until = _timestamp(expires_at)
        now = time.time()
        with self._lock:
            for old in [k for k, v in self._revoked.items() if v < now]:
                del self._revoked[old]
            self._revoked[grant_id] = until

    def revoked(self, grant_ids: Collection[str]) -> frozenset[str]:
        found = self._revoked
        return frozenset(g for g in _unique(grant_ids) if g in found)


class SQLiteRevocationStore:
    """Revocations in a SQLite file, seen at once by every process that opens it.

    The table (``childsafe_revocations`` unless told otherwise) is created on first use.
    Each call opens its own short connection, so one store is safe across threads.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        table: str = "childsafe_revocations",
        timeout: float = 5.0,
    ) -> None:
        if not table.isidentifier() or not table.isascii():
            raise GrantConfigError(f"table must be a plain SQL identifier, got {table!r}")
        problem = seconds_problem(timeout, positive=True, maximum=300.0)
        if problem is not None:
            raise GrantConfigError(f"timeout: {problem}")
        self.path = os.fspath(path)
        self.table = table
        self.timeout = timeout
        with self._connect() as db:
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {table} "
                "(jti TEXT PRIMARY KEY, expires_at REAL NOT NULL, revoked_at REAL NOT NULL)"
            )

    def _connect(self) -> closing[sqlite3.Connection]:
        try:
            db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        except sqlite3.Error as e:
            raise RevocationStoreError(f"cannot open the SQLite store {self.path!r}: {e}") from e
        return closing(db)

    def revoke(self, grant_id: str, expires_at: dt.datetime) -> None:
        grant_id = grant_id_checked(grant_id)
        until = _timestamp(expires_at)
        now = time.time()
        try:
            with self._connect() as db:
                db.execute(
                    f"INSERT OR IGNORE INTO {self.table} VALUES (?, ?, ?)",  # noqa: S608
                    (grant_id, until, now),
                )
                db.execute(f"DELETE FROM {self.table} WHERE expires_at < ?", (now,))  # noqa: S608
        except sqlite3.Error as e:
            raise RevocationStoreError(
                f"cannot write to the SQLite store {self.path!r}: {e}"
            ) from e

    def revoked(self, grant_ids: Collection[str]) -> frozenset[str]:
        ids = _unique(grant_ids)
        if not ids:
            return frozenset()
        marks = ", ".join("?" for _ in ids)
        try:
            with self._connect() as db:
                rows = db.execute(
                    f"SELECT jti FROM {self.table} WHERE jti IN ({marks})",  # noqa: S608
                    ids,
                ).fetchall()
        except sqlite3.Error as e:
            raise RevocationStoreError(f"cannot read the SQLite store {self.path!r}: {e}") from e
        return frozenset(row[0] for row in rows)


async def _in_thread(call: Callable[[], T]) -> T:
    import anyio.to_thread  # noqa: PLC0415 - sync apps never load the async machinery

    return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)


class AsyncStoreAdapter:
    """An :class:`AsyncRevocationStore` over a sync :class:`RevocationStore`.

    Each call runs the sync store in a worker thread (``anyio.to_thread``), so a SQLite
    file, or a store of your own that does blocking I/O, never blocks the event loop. A
    :class:`MemoryRevocationStore` is called directly: it only looks in a dict. When the
    awaiting task is cancelled (the verifier's ``store_timeout``, say), the adapter stops
    waiting at once and the thread finishes its call in the background.
    :meth:`~childsafe.parental.ConsentVerifier.apply_async` wraps a sync store in one for
    you.
    """

    def __init__(self, store: RevocationStore) -> None:
        if _is_async(store):
            raise GrantConfigError(
                f"{type(store).__name__} is already an async store; use it as it is"
            )
        self.store = store
        self._direct = type(store) is MemoryRevocationStore

    async def revoke(self, grant_id: str, expires_at: dt.datetime) -> None:
        if self._direct:
            self.store.revoke(grant_id, expires_at)
        else:
            await _in_thread(lambda: self.store.revoke(grant_id, expires_at))

    async def revoked(self, grant_ids: Collection[str]) -> frozenset[str]:
        if self._direct:
            return self.store.revoked(grant_ids)
        return await _in_thread(lambda: self.store.revoked(grant_ids))

    async def aclose(self) -> None:
        """Close the wrapped store, if it has a ``close()``."""
        close = getattr(self.store, "close", None)
        if callable(close):
            await _in_thread(close)
