"""Code run in other processes by the multi-process audit tests (spawned, so it must be
importable by name)."""

from __future__ import annotations

import sys

from childsafe.audit import (
    AuditConfig,
    AuditTrail,
    CheckpointSigner,
    DirectoryCheckpoints,
    Pseudonymiser,
)

KEY = b"k" * 32


def write_many(url: str, checkpoints: str, signer_pem: str, writer: int, n: int) -> None:
    """Record ``n`` complaints as writer ``writer`` and close (commit and checkpoint)."""
    trail = AuditTrail(
        url,
        pseudonymiser=Pseudonymiser({"k1": KEY}),
        signer=CheckpointSigner.from_pem(signer_pem),
        checkpoints=DirectoryCheckpoints(checkpoints),
        config=AuditConfig(batch_size=50, checkpoint_every=400),
    )
    for i in range(n):
        trail.record_complaint(f"{writer}-{i}", category="other", reporter=f"user-{writer}")
    trail.close()


def write_until_killed(url: str) -> None:
    """Record complaints in batches forever; after each batch is acknowledged (its last
    ticket committed, so all before it too), print the batch's ids."""
    trail = AuditTrail(
        url,
        pseudonymiser=Pseudonymiser({"k1": KEY}),
        config=AuditConfig(batch_size=100),
    )
    n = 0
    while True:
        ids = [f"c{n + i}" for i in range(300)]
        tickets = [trail.record_complaint(i, category="other") for i in ids]
        tickets[-1].wait(30)
        sys.stdout.write(" ".join(ids) + "\n")
        sys.stdout.flush()
        n += len(ids)


if __name__ == "__main__":
    write_until_killed(sys.argv[1])
