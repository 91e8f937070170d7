"""Consent-grant revocations in PostgreSQL, shared by every app server
(``childsafe[postgres]``).

:class:`PostgresRevocationStore` (``psycopg.Connection``) and
:class:`AsyncPostgresRevocationStore` (``psycopg.AsyncConnection``) share one table layout,
the SQL, the connection options and the translation of driver errors, so either sees at
once what the other wrote. They differ only in awaiting the driver.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import threading
from collections.abc import Collection
from typing import TYPE_CHECKING, Any, Final

from childsafe._durations import seconds_problem
from childsafe.exceptions import MissingExtraError
from childsafe.parental._errors import GrantConfigError, RevocationStoreError
from childsafe.parental._stores import _timestamp, _unique, grant_id_checked

if TYPE_CHECKING:
    import anyio
    import psycopg

__all__ = ["AsyncPostgresRevocationStore", "PostgresRevocationStore"]

_IDENTIFIER: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_WRITE: Final = "write the revocation to"
_READ: Final = "read revocations from"

Statements = list[tuple[Any, tuple[Any, ...]]]


def _psycopg_module(who: str) -> Any:  # noqa: ANN401 - the optional driver module
    try:
        import psycopg  # noqa: PLC0415 - the extra is imported only when used
    except ImportError as e:
        raise MissingExtraError(f"{who} needs psycopg: pip install 'childsafe[postgres]'") from e
    return psycopg


class _PostgresLayout:
    """What both PostgreSQL stores share: the table, its SQL, how to connect, the errors."""

    def __init__(self, who: str, conninfo: str, table: str, timeout: float) -> None:
        self._psycopg = _psycopg_module(who)
        if not _IDENTIFIER.match(table):
            raise GrantConfigError(f"table must be a plain SQL identifier, got {table!r}")
        problem = seconds_problem(timeout, positive=True, maximum=300.0)
        if problem is not None:
            raise GrantConfigError(f"timeout: {problem}")
        self.conninfo = conninfo
        self.table = table
        self.timeout = timeout
        sql = self._psycopg.sql
        name = sql.Identifier(table)
        self._create = sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (jti text PRIMARY KEY, "
            "expires_at timestamptz NOT NULL, revoked_at timestamptz NOT NULL DEFAULT now())"
        ).format(name)
        self._insert = sql.SQL(
            "INSERT INTO {} (jti, expires_at) VALUES (%s, %s) ON CONFLICT (jti) DO NOTHING"
        ).format(name)
        self._prune = sql.SQL("DELETE FROM {} WHERE expires_at < now()").format(name)
        self._select = sql.SQL("SELECT jti FROM {} WHERE jti = ANY(%s)").format(name)

    def _connect_options(self) -> dict[str, Any]:
        """Autocommit, and ``timeout`` bounding the connection and every statement."""
        return {
            "autocommit": True,
            "connect_timeout": max(1, round(self.timeout)),
            "options": f"-c statement_timeout={int(self.timeout * 1000)}",
        }

    def _revoking(self, grant_id: str, expires_at: dt.datetime) -> Statements:
        grant_id = grant_id_checked(grant_id)
        _timestamp(expires_at)
        return [(self._insert, (grant_id, expires_at)), (self._prune, ())]

    def _asking(self, ids: list[str]) -> Statements:
        return [(self._select, (ids,))]

    @staticmethod
    def _failure(what: str, error: Exception) -> RevocationStoreError:
        return RevocationStoreError(f"cannot {what} PostgreSQL: {error}")


class PostgresRevocationStore(_PostgresLayout):
    """Revocations in a PostgreSQL table (``childsafe_revocations`` unless told
    otherwise), created on first use.

    ``conninfo`` is a libpq connection string or URL. One connection is opened lazily,
    in autocommit mode, and shared under a lock; after an error it is dropped and the
    next call reconnects. ``timeout`` bounds connecting and each statement, so a server
    that is down fails fast (and the verifier then counts no grant).
    """

    def __init__(
        self, conninfo: str, *, table: str = "childsafe_revocations", timeout: float = 2.0
    ) -> None:
        super().__init__("PostgresRevocationStore", conninfo, table, timeout)
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            conn = self._psycopg.connect(self.conninfo, **self._connect_options())
            self._conn = conn  # before CREATE: if that fails, _drop closes it
            conn.execute(self._create)
        return self._conn

    def _run(self, what: str, statements: Statements) -> list[Any]:
        with self._lock:
            try:
                conn = self._connection()
                rows: list[Any] = []
                for statement, params in statements:
                    cur = conn.execute(statement, params)
                    if cur.description is not None:
                        rows.extend(cur.fetchall())
            except self._psycopg.Error as e:
                self._drop()
                raise self._failure(what, e) from e
            return rows

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(self._psycopg.Error):
                conn.close()

    def revoke(self, grant_id: str, expires_at: dt.datetime) -> None:
        self._run(_WRITE, self._revoking(grant_id, expires_at))

    def revoked(self, grant_ids: Collection[str]) -> frozenset[str]:
        ids = _unique(grant_ids)
        if not ids:
            return frozenset()
        rows = self._run(_READ, self._asking(ids))
        return frozenset(row[0] for row in rows)

    def close(self) -> None:
        """Close the connection (the next call opens a new one)."""
        with self._lock:
            self._drop()


class AsyncPostgresRevocationStore(_PostgresLayout):
    """:class:`PostgresRevocationStore` for event loops, over ``psycopg.AsyncConnection``.

    The same table, SQL and timeouts: a revocation written by either store is seen by
    the other at once. One connection is opened lazily and shared under an async lock;
    after an error, or a call cancelled half-way (the verifier's ``store_timeout``, say),
    it is dropped and the next call reconnects. Create it where the app starts and
    :meth:`aclose` it at shutdown; its connection belongs to the event loop that opened it.
    """

    def __init__(
        self, conninfo: str, *, table: str = "childsafe_revocations", timeout: float = 2.0
    ) -> None:
        super().__init__("AsyncPostgresRevocationStore", conninfo, table, timeout)
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lock: anyio.Lock | None = None

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            conn = await self._psycopg.AsyncConnection.connect(
                self.conninfo, **self._connect_options()
            )
            self._conn = conn  # before CREATE: if that fails, _drop closes it
            await conn.execute(self._create)
        return self._conn

    def _locked(self) -> anyio.Lock:
        if self._lock is None:
            import anyio  # noqa: PLC0415 - sync apps never load the async machinery

            self._lock = anyio.Lock()
        return self._lock

    async def _run(self, what: str, statements: Statements) -> list[Any]:
        import anyio  # noqa: PLC0415 - sync apps never load the async machinery

        async with self._locked():
            try:
                conn = await self._connection()
                rows: list[Any] = []
                for statement, params in statements:
                    cur = await conn.execute(statement, params)
                    if cur.description is not None:
                        rows.extend(await cur.fetchall())
            except BaseException as e:
                # A driver error, or a cancellation mid-statement: either way the
                # connection's state is unknown, so the next call starts afresh.
                with anyio.CancelScope(shield=True):
                    await self._drop()
                if isinstance(e, self._psycopg.Error):
                    raise self._failure(what, e) from e
                raise
            return rows

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(self._psycopg.Error):
                await conn.close()

    async def revoke(self, grant_id: str, expires_at: dt.datetime) -> None:
        await self._run(_WRITE, self._revoking(grant_id, expires_at))

    async def revoked(self, grant_ids: Collection[str]) -> frozenset[str]:
        ids = _unique(grant_ids)
        if not ids:
            return frozenset()
        rows = await self._run(_READ, self._asking(ids))
        return frozenset(row[0] for row in rows)

    async def aclose(self) -> None:
        """Close the connection (the next call opens a new one)."""
        async with self._locked():
            await self._drop()
