"""Consent-grant revocations in PostgreSQL, shared by every app server
(``childsafe[postgres]``)."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import threading
from collections.abc import Collection
from typing import TYPE_CHECKING, Any, Final

from childsafe.exceptions import MissingExtraError
from childsafe.parental._errors import GrantConfigError, RevocationStoreError
from childsafe.parental._stores import _timestamp

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresRevocationStore"]

_IDENTIFIER: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _psycopg_module() -> Any:  # noqa: ANN401 - the optional driver module
    try:
        import psycopg  # noqa: PLC0415 - the extra is imported only when used
    except ImportError as e:
        raise MissingExtraError(
            "PostgresRevocationStore needs psycopg: pip install 'childsafe[postgres]'"
        ) from e
    return psycopg


class PostgresRevocationStore:
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
        self._psycopg = _psycopg_module()
        if not _IDENTIFIER.match(table):
            raise GrantConfigError(f"table must be a plain SQL identifier, got {table!r}")
        self.conninfo = conninfo
        self.table = table
        self.timeout = timeout
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()
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

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            ms = int(self.timeout * 1000)
            conn = self._psycopg.connect(
                self.conninfo,
                autocommit=True,
                connect_timeout=max(1, round(self.timeout)),
                options=f"-c statement_timeout={ms}",
            )
            conn.execute(self._create)
            self._conn = conn
        return self._conn

    def _run(self, what: str, statements: list[tuple[Any, tuple[Any, ...]]]) -> list[Any]:
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
                raise RevocationStoreError(f"cannot {what} PostgreSQL: {e}") from e
            return rows

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(self._psycopg.Error):
                conn.close()

    def revoke(self, grant_id: str, expires_at: dt.datetime) -> None:
        _timestamp(expires_at)
        self._run(
            "write the revocation to",
            [(self._insert, (grant_id, expires_at)), (self._prune, ())],
        )

    def revoked(self, grant_ids: Collection[str]) -> frozenset[str]:
        ids = list(dict.fromkeys(grant_ids))
        if not ids:
            return frozenset()
        rows = self._run("read revocations from", [(self._select, (ids,))])
        return frozenset(row[0] for row in rows)

    def close(self) -> None:
        """Close the connection (the next call opens a new one)."""
        with self._lock:
            self._drop()
