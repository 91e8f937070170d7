# ruff: noqa: S608 - test tables named by the store's checked prefix
"""Shared helpers for the audit tests: stores of every kind, and a way to tamper with
what each one holds (as an attacker with write access to the database would)."""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from childsafe.audit import (
    AuditStore,
    AuditTrail,
    CheckpointSigner,
    MemoryAuditStore,
    MemoryCheckpoints,
    PostgresAuditStore,
    Pseudonymiser,
    SQLiteAuditStore,
    StoredRecord,
)

POSTGRES_URL = os.environ.get("CHILDSAFE_TEST_POSTGRES_URL")
needs_postgres = pytest.mark.skipif(
    not POSTGRES_URL, reason="set CHILDSAFE_TEST_POSTGRES_URL to test against a real PostgreSQL"
)
STORE_KINDS = ("memory", "sqlite", pytest.param("postgres", marks=needs_postgres))
KEY = b"k" * 32
COLUMNS = "seq, prev, hash, body, time_us, kind, actor, target, reason, allowed"
"""A record's columns (the SQL stores' account keys are left out: an attacker need
not keep them)."""


def make_store(kind: str, tmp_path: Path) -> AuditStore:
    if kind == "memory":
        return MemoryAuditStore()
    if kind == "sqlite":
        return SQLiteAuditStore(tmp_path / "audit.db")
    assert POSTGRES_URL is not None
    return PostgresAuditStore(POSTGRES_URL, prefix=f"t_{secrets.token_hex(6)}")


def dispose(store: AuditStore) -> None:
    if isinstance(store, PostgresAuditStore):
        store.destroy()
    else:
        store.close()


def make_trail(store: AuditStore, **options: Any) -> AuditTrail:
    options.setdefault("pseudonymiser", Pseudonymiser({"k1": KEY}))
    options.setdefault("signer", CheckpointSigner.generate())
    options.setdefault("checkpoints", MemoryCheckpoints())
    return AuditTrail(store, **options)


class Tamper:
    """Rewrite a store's rows behind its back, whatever the store."""

    def __init__(self, store: AuditStore) -> None:
        self.store = store

    def rows(self) -> list[StoredRecord]:
        return list(self.store.scan())

    def replace(self, rows: list[StoredRecord], head: tuple[int, str] | None = None) -> None:
        """Make ``rows`` the store's whole content (and ``head`` its head, if given)."""
        store = self.store
        if isinstance(store, MemoryAuditStore):
            store.rows = list(rows)
            if head is not None:
                store.head_seq, store.head_hash = head
            return
        if isinstance(store, SQLiteAuditStore):
            with sqlite3.connect(store.path) as db:
                db.execute(f"DELETE FROM {store.prefix}_records")
                db.executemany(
                    f"INSERT INTO {store.prefix}_records ({COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                if head is not None:
                    db.execute(f"UPDATE {store.prefix}_meta SET head_seq = ?, head_hash = ?", head)
            return
        assert isinstance(store, PostgresAuditStore)
        import psycopg  # noqa: PLC0415

        with psycopg.connect(store.conninfo) as db:
            db.execute(f"DELETE FROM {store.prefix}_records")
            with db.cursor().copy(f"COPY {store.prefix}_records ({COLUMNS}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            if head is not None:
                db.execute(f"UPDATE {store.prefix}_meta SET head_seq = %s, head_hash = %s", head)


def store_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AuditStore]:
    store = make_store(request.param, tmp_path)
    try:
        yield store
    finally:
        dispose(store)
