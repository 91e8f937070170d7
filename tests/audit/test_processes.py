"""Several processes writing one chain at once, and a writer killed mid-batch, on SQLite
and on a real PostgreSQL."""

from __future__ import annotations

import multiprocessing
import os
import secrets
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from childsafe.audit import (
    AuditStore,
    AuditTrail,
    CheckpointSigner,
    DirectoryCheckpoints,
    PostgresAuditStore,
    Pseudonymiser,
    open_store,
    verify_chain,
)
from tests.audit.support import POSTGRES_URL, needs_postgres
from tests.audit.workers import KEY, write_many

KINDS = ("sqlite", pytest.param("postgres", marks=needs_postgres))


def _url(kind: str, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/audit.db"
    return f"{POSTGRES_URL}?prefix=t_{secrets.token_hex(6)}"


def _drop(store: AuditStore) -> None:
    if isinstance(store, PostgresAuditStore):
        store.destroy()
    else:
        store.close()


@pytest.mark.parametrize("kind", KINDS)
def test_processes_write_one_chain(kind: str, tmp_path: Path) -> None:
    """Four spawned processes writing at once lose nothing and build one valid chain."""
    url = _url(kind, tmp_path)
    open_store(url).close()  # create the tables once, as a deployment's migrate step would
    signer = CheckpointSigner.generate()
    folder = tmp_path / "checkpoints"
    context = multiprocessing.get_context("spawn")
    per_writer = 600
    processes = [
        context.Process(
            target=write_many, args=(url, str(folder), signer.private_pem(), w, per_writer)
        )
        for w in range(4)
    ]
    for p in processes:
        p.start()
    for p in processes:
        p.join(120)
        assert p.exitcode == 0
    store = open_store(url)
    try:
        sink = DirectoryCheckpoints(folder)
        report = verify_chain(store, sink.read(), {signer.key_id: signer.public_key})
        assert report.status == "valid", report
        trail = AuditTrail(store, pseudonymiser=Pseudonymiser({"k1": KEY}))
        seen = Counter(r.data["complaint"] for r in trail.records(kinds=["complaint"]))
        assert len(seen) == 4 * per_writer
        assert set(seen.values()) == {1}
        for w in range(4):
            assert sum(1 for _ in trail.records(account=f"user-{w}")) == per_writer
        assert len(sink.read()) >= 4  # each writer checkpoints on close
    finally:
        _drop(store)


@pytest.mark.parametrize("kind", KINDS)
def test_killed_writer_loses_nothing_acknowledged(kind: str, tmp_path: Path) -> None:
    """A writer killed with SIGKILL in the middle of its batches: every record it had
    acknowledged is in the store, and the chain is intact."""
    url = _url(kind, tmp_path)
    open_store(url).close()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    acknowledged: list[str] = []
    with subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "tests.audit.workers", url],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    ) as child:
        try:
            assert child.stdout is not None
            while len(acknowledged) < 3000:
                line = child.stdout.readline()
                assert line, "the writer stopped early"
                acknowledged += line.split()
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(30)
    assert child.returncode == -signal.SIGKILL
    store = open_store(url)
    try:
        report = verify_chain(store, [], {})
        assert report.status == "unanchored", report  # intact; no signer in this test
        trail = AuditTrail(store, pseudonymiser=Pseudonymiser({"k1": KEY}))
        stored = {r.data["complaint"] for r in trail.records(kinds=["complaint"])}
        missing = set(acknowledged) - stored
        assert not missing, f"{len(missing)} acknowledged records lost"
        assert len(stored) >= len(acknowledged)
    finally:
        _drop(store)
