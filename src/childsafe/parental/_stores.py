"""Where consent-grant revocations live.

A :class:`RevocationStore` is two calls: ``revoke`` a grant id until the grant would
have expired anyway, and ask which of some grant ids are ``revoked``, in one round trip.
:class:`MemoryRevocationStore` serves one process and :class:`SQLiteRevocationStore` the
processes sharing one file (standard library only);
:class:`~childsafe.parental.RedisRevocationStore` and
:class:`~childsafe.parental.PostgresRevocationStore` share revocations across app servers.
Every failure to reach a store raises
:class:`~childsafe.parental.RevocationStoreError`; the verifier then counts no grant.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
import time
from collections.abc import Collection
from contextlib import closing
from typing import Protocol, runtime_checkable

from childsafe.parental._errors import GrantConfigError, RevocationStoreError

__all__ = ["MemoryRevocationStore", "RevocationStore", "SQLiteRevocationStore"]


@runtime_checkable
class RevocationStore(Protocol):
    """The revocation list of consent grants, shared by every verifier that uses it."""

    def revoke(self, grant_id: str, expires_at: dt.datetime) -> None:
        """Put ``grant_id`` on the list; it may be forgotten after ``expires_at``."""
        ...

    def revoked(self, grant_ids: Collection[str]) -> frozenset[str]:
        """Which of ``grant_ids`` are revoked."""
        ...


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
        until = _timestamp(expires_at)
        now = time.time()
        with self._lock:
            for old in [k for k, v in self._revoked.items() if v < now]:
                del self._revoked[old]
            self._revoked[grant_id] = until

    def revoked(self, grant_ids: Collection[str]) -> frozenset[str]:
        found = self._revoked
        return frozenset(g for g in grant_ids if g in found)


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
        ids = list(dict.fromkeys(grant_ids))
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
