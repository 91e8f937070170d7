"""Every kind of tampering is detected, on every store.

Each test builds a trail of 17 records anchored by two signed checkpoints (records 11
and 17 are the checkpoint records), rewrites the store's rows as an attacker with write
access to the database would, and expects ``verify`` to name the first broken link.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import attrs
import pytest

from childsafe import Account
from childsafe.audit import (
    AuditStore,
    AuditTrail,
    Checkpoint,
    CheckpointSigner,
    DirectoryCheckpoints,
    MemoryCheckpoints,
    StoredRecord,
)
from childsafe.audit._records import genesis_hash, link_hash
from tests.audit.support import Tamper, dispose, make_store, make_trail

ADULT = Account(id="adult-1", band="adult", jurisdiction="GB")


def fill(trail: AuditTrail, first: int, n: int) -> None:
    for i in range(first, first + n):
        trail.record_complaint(f"c{i}", category="bullying", reporter=ADULT).wait()


@pytest.fixture(name="trail")
def _trail(store: AuditStore) -> AuditTrail:
    trail = make_trail(store)
    fill(trail, 1, 10)
    trail.checkpoint()  # record 11
    fill(trail, 12, 5)
    trail.checkpoint()  # record 17
    assert trail.verify().status == "valid"
    return trail


def rechain(rows: list[StoredRecord], start: int, prev: str) -> list[StoredRecord]:
    """``rows`` with every link from index ``start`` on recomputed (a forger's work)."""
    out = rows[:start]
    for row in rows[start:]:
        seq = out[-1].seq + 1 if out else row.seq
        h = link_hash(prev, seq, hashlib.sha256(row.body).digest())
        out.append(row._replace(seq=seq, prev=prev, hash=h))
        prev = h
    return out


def edited(row: StoredRecord, **data: object) -> StoredRecord:
    body = json.loads(row.body)
    body["data"].update(data)
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return row._replace(body=text.encode())


def broken(trail: AuditTrail, match: str, **options: object) -> None:
    report = trail.verify(**options)  # type: ignore[arg-type]
    assert report.status == "broken", report
    assert report.exit_status == 1
    assert match in (report.problem or ""), report.problem
    assert report.summary().startswith("BROKEN")


class TestTamper:
    def test_edit(self, trail: AuditTrail) -> None:
        """An edited body no longer matches its stored hash."""
        t = Tamper(trail.store)
        rows = t.rows()
        rows[4] = edited(rows[4], category="other")
        t.replace(rows)
        broken(trail, "record 5: its stored hash does not match its content")

    def test_edit_index_column(self, trail: AuditTrail) -> None:
        """A column edited to skew the reports disagrees with the signed body."""
        t = Tamper(trail.store)
        rows = t.rows()
        rows[2] = rows[2]._replace(kind="decision", reason="blocked", allowed=False)
        t.replace(rows)
        broken(trail, "record 3: the store's index columns disagree")

    def test_delete(self, trail: AuditTrail) -> None:
        """A deleted record leaves a gap."""
        t = Tamper(trail.store)
        rows = t.rows()
        del rows[4]
        t.replace(rows)
        broken(trail, "record 5 is missing")

    def test_delete_and_renumber(self, trail: AuditTrail) -> None:
        """Renumbering after a deletion breaks the next link."""
        t = Tamper(trail.store)
        rows = t.rows()
        del rows[4]
        rows = [r._replace(seq=i + 1) for i, r in enumerate(rows)]
        t.replace(rows, head=(rows[-1].seq, rows[-1].hash))
        broken(trail, "record 5")

    def test_reorder(self, trail: AuditTrail) -> None:
        """Two records swapped (their places kept) no longer link."""
        t = Tamper(trail.store)
        rows = t.rows()
        a, b = rows[3], rows[4]
        rows[3] = b._replace(seq=a.seq)
        rows[4] = a._replace(seq=b.seq)
        t.replace(rows)
        broken(trail, "record 4 does not link to record 3")

    def test_truncate(self, trail: AuditTrail) -> None:
        """A cut tail is caught by the store's head."""
        t = Tamper(trail.store)
        t.replace(t.rows()[:14])
        broken(trail, "records 15..17 were removed (truncated)")

    def test_truncate_and_move_head(self, trail: AuditTrail) -> None:
        """A cut tail with the head moved back is caught by the signed checkpoint."""
        t = Tamper(trail.store)
        rows = t.rows()[:14]
        t.replace(rows, head=(14, rows[-1].hash))
        broken(trail, "a signed checkpoint vouches for record 17 but the chain ends at record 14")

    def test_splice_two_chains(self, trail: AuditTrail, tmp_path: Path) -> None:
        """The tail of another chain spliced on does not link."""
        other_store = make_store("memory", tmp_path)
        other = make_trail(other_store)
        fill(other, 1, 17)
        t = Tamper(trail.store)
        rows = t.rows()[:8] + list(other_store.scan(9, 17))
        t.replace(rows, head=(17, rows[-1].hash))
        broken(trail, "record 9 does not link to record 8")
        dispose(other_store)

    def test_replay_a_segment(self, trail: AuditTrail) -> None:
        """Records replayed at the end, relinked by a forger, repeat earlier ids."""
        t = Tamper(trail.store)
        rows = t.rows()
        replay = [r._replace(seq=18 + i) for i, r in enumerate(rows[1:4])]
        rows = rechain([*rows, *replay], 17, rows[16].hash)
        t.replace(rows, head=(rows[-1].seq, rows[-1].hash))
        broken(trail, "record 18 repeats the id of record 2 (replayed)")

    def test_change_the_first_record(self, trail: AuditTrail) -> None:
        """A forged first record, with the whole chain relinked, misses the checkpoint."""
        t = Tamper(trail.store)
        rows = t.rows()
        rows[0] = edited(rows[0], category="other")
        rows = rechain(rows, 0, genesis_hash(trail.chain_id))
        t.replace(rows, head=(rows[-1].seq, rows[-1].hash))
        broken(trail, "record 11 differs from the signed checkpoint")

    def test_replace_the_genesis(self, trail: AuditTrail) -> None:
        """A first record that does not start from this chain's genesis is caught."""
        t = Tamper(trail.store)
        rows = t.rows()
        rows = rechain(rows, 0, "0" * 64)
        t.replace(rows, head=(rows[-1].seq, rows[-1].hash))
        broken(trail, "record 1 does not link to record 0")

    def test_flip_a_stored_hash(self, trail: AuditTrail) -> None:
        """One hex digit of a stored hash flipped is caught."""
        t = Tamper(trail.store)
        rows = t.rows()
        h = rows[6].hash
        rows[6] = rows[6]._replace(hash=("1" if h[0] == "0" else "0") + h[1:])
        t.replace(rows)
        broken(trail, "record 7: its stored hash does not match")

    def test_forge_after_a_checkpoint(self, trail: AuditTrail) -> None:
        """A record after one checkpoint rewritten, and the rest relinked, misses the
        next checkpoint."""
        t = Tamper(trail.store)
        rows = t.rows()
        rows[12] = edited(rows[12], status="withdrawn")
        rows = rechain(rows, 12, rows[11].hash)
        t.replace(rows, head=(rows[-1].seq, rows[-1].hash))
        broken(trail, "record 17 differs from the signed checkpoint at seq 17")

    def test_roll_a_checkpoint_back(self, trail: AuditTrail) -> None:
        """The newest checkpoint removed from the sink is missed by the record that
        announced it."""
        sink = trail.checkpoints
        assert isinstance(sink, MemoryCheckpoints)
        sink.checkpoints.pop()
        broken(
            trail, "record 17 announces a signed checkpoint that the checkpoint sink does not have"
        )

    def test_roll_chain_and_checkpoints_back(self, trail: AuditTrail) -> None:
        """Chain and checkpoints rolled back together are caught by a witness: a
        checkpoint kept elsewhere (a regulator's copy, the last export)."""
        sink = trail.checkpoints
        assert isinstance(sink, MemoryCheckpoints)
        witness = sink.checkpoints.pop()
        t = Tamper(trail.store)
        rows = t.rows()[:11]
        t.replace(rows, head=(11, rows[-1].hash))
        assert trail.verify().status == "valid"  # consistent without the witness
        broken(trail, "the witness checkpoint vouches for record 17", witness=witness)

    def test_delete_from_the_start(self, trail: AuditTrail) -> None:
        """The oldest records deleted at a checkpoint, without a retention record."""
        t = Tamper(trail.store)
        t.replace(t.rows()[11:])
        broken(trail, "records 1..11 were removed without a retention record")

    def test_delete_from_the_start_unanchored(self, trail: AuditTrail) -> None:
        """The oldest records deleted where no checkpoint anchors the rest."""
        t = Tamper(trail.store)
        t.replace(t.rows()[4:])
        broken(trail, "records 1..4 are missing and no signed checkpoint anchors record 5")


class TestCheckpointTamper:
    def test_forged_checkpoint_signature(self, trail: AuditTrail) -> None:
        """A checkpoint signed by another key is not trusted."""
        sink = trail.checkpoints
        assert isinstance(sink, MemoryCheckpoints)
        good = sink.checkpoints[-1]
        forger = CheckpointSigner.generate()
        forged = forger.sign(good.chain, good.seq, good.hash)
        sink.checkpoints[-1] = attrs.evolve(forged, key_id=good.key_id)
        broken(trail, "checkpoint at seq 17 has a bad signature")
        sink.checkpoints[-1] = forged
        broken(trail, "signed by unknown key")

    def test_checkpoint_of_another_chain(self, trail: AuditTrail) -> None:
        """A checkpoint of another chain in the sink is refused."""
        sink = trail.checkpoints
        assert isinstance(sink, MemoryCheckpoints)
        assert trail.signer is not None
        sink.checkpoints.append(trail.signer.sign("f" * 32, 3, "0" * 64))
        broken(trail, "belongs to chain ffff")

    def test_disagreeing_checkpoints(self, trail: AuditTrail) -> None:
        """Two signed checkpoints of one record with different hashes."""
        sink = trail.checkpoints
        assert isinstance(sink, MemoryCheckpoints)
        assert trail.signer is not None
        sink.checkpoints.append(trail.signer.sign(trail.chain_id, 11, "0" * 64))
        broken(trail, "two signed checkpoints at seq 11 disagree")


class TestDirectoryCheckpoints:
    def test_files_replaced_are_caught(self, tmp_path: Path) -> None:
        """A checkpoint file overwritten with an older one's content names the file."""
        store = make_store("sqlite", tmp_path)
        folder = tmp_path / "cps"
        trail = make_trail(store, checkpoints=DirectoryCheckpoints(folder))
        fill(trail, 1, 3)
        trail.checkpoint()
        fill(trail, 5, 3)
        trail.checkpoint()
        trail.close()
        assert trail.verify().status == "valid"
        files = sorted(folder.glob("checkpoint-*.json"))
        assert len(files) == 2
        assert list((folder / "keys").glob("*.pem"))
        files[1].write_bytes(files[0].read_bytes())
        from childsafe.audit import CheckpointError  # noqa: PLC0415

        with pytest.raises(CheckpointError, match="holds the checkpoint of seq 4"):
            trail.verify()
        files[1].write_text("{not json")
        with pytest.raises(CheckpointError, match="cannot read the checkpoint"):
            trail.verify()
        # A file nested to crash the parser, one repeating a key, or a pipe under a
        # checkpoint's name: each the same error naming the file, never a traceback or
        # a read without end.
        files[1].write_text("[" * 5000 + "]" * 5000)
        with pytest.raises(CheckpointError, match="nested more than 32 levels deep"):
            trail.verify()
        files[1].write_text('{"seq": 1, "seq": 8}')
        with pytest.raises(CheckpointError, match="duplicate key 'seq'"):
            trail.verify()
        files[1].unlink()
        os.mkfifo(files[1])
        with pytest.raises(CheckpointError, match="not a regular file"):
            trail.verify()
        store.close()

    def test_missing_directory_is_empty(self, tmp_path: Path) -> None:
        """A directory not yet written holds no checkpoints and no keys."""
        sink = DirectoryCheckpoints(tmp_path / "none")
        assert sink.read() == []
        assert sink.public_keys() == {}

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"v": 2}, "unknown checkpoint version"),
            ({"seq": 0}, "seq: expected a positive integer"),
            ({"hash": "xyz"}, "hash: malformed"),
            ({"time": "yesterday"}, "time must look like"),
            ({"extra": 1}, "unexpected ['extra']"),
        ],
    )
    def test_malformed_checkpoint(self, change: dict[str, object], message: str) -> None:
        """Malformed checkpoints raise CheckpointError naming the field."""
        from childsafe.audit import CheckpointError  # noqa: PLC0415

        good = CheckpointSigner.generate().sign("a" * 32, 1, "b" * 64).to_dict()
        with pytest.raises(CheckpointError, match=message.replace("[", r"\[").replace("]", r"\]")):
            Checkpoint.from_dict({**good, **change}, "cp.json")
        with pytest.raises(CheckpointError, match="expected a JSON object"):
            Checkpoint.from_dict([], "cp.json")
