"""The complaint stores the shared suites run on: memory, SQLite and a real
PostgreSQL (``CHILDSAFE_TEST_POSTGRES_URL``; skipped when unset), each run in its own
schema, dropped afterwards."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from childsafe.complaints import ComplaintStore, MemoryComplaintStore, SQLiteComplaintStore

POSTGRES_URL = os.environ.get("CHILDSAFE_TEST_POSTGRES_URL")
KINDS = ("memory", "sqlite", "postgres")


def postgres_store() -> Iterator[ComplaintStore]:
    if not POSTGRES_URL:
        pytest.skip("set CHILDSAFE_TEST_POSTGRES_URL to test against a real PostgreSQL")
    import psycopg  # noqa: PLC0415

    from childsafe.complaints import PostgresComplaintStore  # noqa: PLC0415

    schema = f"childsafe_test_{secrets.token_hex(4)}"
    try:
        yield PostgresComplaintStore(POSTGRES_URL, schema=schema)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as db:
            db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def make_store(kind: str, tmp_path: Path) -> Iterator[ComplaintStore]:
    if kind == "memory":
        yield MemoryComplaintStore()
    elif kind == "sqlite":
        yield SQLiteComplaintStore(tmp_path / "complaints.db")
    else:
        yield from postgres_store()
