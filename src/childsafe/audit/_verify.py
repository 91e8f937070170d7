"""Verifying a chain against its signed checkpoints.

:func:`verify_chain` walks a store from its first record to its last and names the
first broken link: a record missing or out of place, a ``prev`` that does not match the
record before, a hash that does not match the record's content, a stored column that
disagrees with the body, a record that differs from a signed checkpoint, a checkpoint
announced in the chain but missing from the sink (rolled back), a signed checkpoint or
witness beyond the chain's end (truncated), a record repeating another's id (replayed),
records gone from the start without a retention record. Records after the newest
checkpoint are *unanchored*: reported as such, never as valid.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Literal

import attrs
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from childsafe.audit._checkpoints import Checkpoint
from childsafe.audit._errors import AuditRecordError
from childsafe.audit._records import StoredRecord, decode_record, genesis_hash, index_of, link_hash
from childsafe.audit._stores import AuditStore

__all__ = ["Status", "VerifyReport", "verify_chain", "verify_records"]

Status = Literal["valid", "unanchored", "broken", "empty"]

_EXIT: Final = {"valid": 0, "empty": 0, "broken": 1, "unanchored": 3}


@attrs.frozen
class VerifyReport:
    """The outcome of a verification.

    ``status`` is ``valid`` (every record anchored by a signed checkpoint), ``empty``,
    ``unanchored`` (intact, but the last ``unanchored`` records come after the newest
    checkpoint) or ``broken`` (``problem`` names the first broken link, at record
    ``broken_at`` when there is one). ``records`` counts what was read, from
    ``first_seq`` to ``last_seq``; ``anchored_through`` is the last record a signed
    checkpoint vouches for.
    """

    status: Status
    records: int
    first_seq: int | None
    last_seq: int | None
    anchored_through: int | None
    unanchored: int
    checkpoints: int
    problem: str | None = None
    broken_at: int | None = None

    @property
    def ok(self) -> bool:
        """Whether nothing is broken (unanchored records are not broken, nor vouched for)."""
        return self.status != "broken"

    @property
    def exit_status(self) -> int:
        """``childsafe audit verify``'s exit status: 0 valid, 1 broken, 3 unanchored."""
        return _EXIT[self.status]

    def summary(self) -> str:
        """One paragraph for people."""
        if self.status == "broken":
            return f"BROKEN: {self.problem}"
        if self.status == "empty":
            return "The chain is empty."
        span = f"records {self.first_seq}..{self.last_seq} ({self.records})"
        if self.status == "valid":
            return (
                f"VALID: {span} are intact and anchored by {self.checkpoints} signed "
                f"checkpoint{'s' if self.checkpoints != 1 else ''}."
            )
        anchored = (
            f"anchored through record {self.anchored_through}"
            if self.anchored_through is not None
            else "no signed checkpoint anchors any of them"
        )
        return (
            f"UNANCHORED: {span} are intact, {anchored}; the last {self.unanchored} "
            "come after the newest signed checkpoint, so nothing vouches for them yet "
            "(a checkpoint is written every checkpoint_interval seconds and on close)."
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return attrs.asdict(self)


class _Broken(Exception):  # noqa: N818 - control flow inside this module only
    def __init__(self, problem: str, seq: int | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.seq = seq


def _trusted(
    checkpoints: Iterable[Checkpoint], keys: Mapping[str, Ed25519PublicKey], chain: str
) -> dict[int, Checkpoint]:
    by_seq: dict[int, Checkpoint] = {}
    for cp in checkpoints:
        if cp.chain != chain:
            raise _Broken(
                f"the checkpoint at seq {cp.seq} belongs to chain {cp.chain}, not {chain}"
            )
        problem = cp.problem(keys)
        if problem is not None:
            raise _Broken(problem)
        known = by_seq.get(cp.seq)
        if known is not None and known.hash != cp.hash:
            raise _Broken(f"two signed checkpoints at seq {cp.seq} disagree on its hash")
        by_seq[cp.seq] = cp
    return by_seq


def verify_records(
    rows: Iterable[StoredRecord],
    *,
    chain: str,
    checkpoints: Iterable[Checkpoint],
    keys: Mapping[str, Ed25519PublicKey],
    head: tuple[int, str] | None = None,
    witness: Checkpoint | None = None,
) -> VerifyReport:
    """Verify ``rows`` (a whole chain, or what retention kept of it, by ``seq``)."""
    state = _Walk(chain)
    try:
        signed = _trusted(checkpoints, keys, chain)
        state.signed = signed
        if witness is not None:
            found = _trusted([witness], keys, chain)
            state.witness = found[witness.seq]
        for row in rows:
            state.step(row)
        state.finish(head)
    except _Broken as e:
        return state.report("broken", e.problem, e.seq)
    if state.last is None:
        return state.report("empty")
    if state.anchored == state.last.seq:
        return state.report("valid")
    return state.report("unanchored")


class _Walk:
    def __init__(self, chain: str) -> None:
        self.chain = chain
        self.signed: dict[int, Checkpoint] = {}
        self.witness: Checkpoint | None = None
        self.first: int | None = None
        self.last: StoredRecord | None = None
        self.count = 0
        self.anchored: int | None = None
        self.ids: dict[int, int] = {}
        self.retention_through: set[int] = set()
        self.need_retention: int | None = None

    def report(
        self, status: Status, problem: str | None = None, seq: int | None = None
    ) -> VerifyReport:
        last = self.last.seq if self.last is not None else None
        unanchored = 0
        if last is not None and status != "broken":
            unanchored = last - (
                self.anchored if self.anchored is not None else (self.first or 1) - 1
            )
        return VerifyReport(
            status=status,
            records=self.count,
            first_seq=self.first,
            last_seq=last,
            anchored_through=self.anchored,
            unanchored=unanchored,
            checkpoints=len(self.signed),
            problem=problem,
            broken_at=seq,
        )

    def _start(self, row: StoredRecord) -> str:
        self.first = row.seq
        if row.seq == 1:
            return genesis_hash(self.chain)
        anchor = self.signed.get(row.seq - 1)
        if anchor is None:
            raise _Broken(
                f"records 1..{row.seq - 1} are missing and no signed checkpoint anchors "
                f"record {row.seq} (deleted from the start?)",
                row.seq,
            )
        self.need_retention = row.seq - 1
        self.anchored = row.seq - 1
        return anchor.hash

    def step(self, row: StoredRecord) -> None:
        seq = row.seq
        if self.last is None:
            prev = self._start(row)
        else:
            expected = self.last.seq + 1
            if seq > expected:
                raise _Broken(
                    f"record {expected} is missing: record {self.last.seq} is followed by "
                    f"record {seq} (deleted)",
                    expected,
                )
            if seq < expected:
                raise _Broken(
                    f"record {seq} comes after record {self.last.seq} (reordered or repeated)", seq
                )
            prev = self.last.hash
        if row.prev != prev:
            raise _Broken(
                f"record {seq} does not link to record {seq - 1}: its prev is "
                f"{row.prev[:16]}..., the hash before it is {prev[:16]}... "
                "(edited, reordered, inserted or spliced from another chain)",
                seq,
            )
        digest = hashlib.sha256(row.body).digest()
        if link_hash(row.prev, seq, digest) != row.hash:
            raise _Broken(
                f"record {seq}: its stored hash does not match its content "
                "(the record or its hash was altered)",
                seq,
            )
        try:
            record = decode_record(row)
        except AuditRecordError as e:
            raise _Broken(f"record {seq} is malformed: {e}", seq) from None
        columns = (row.time_us, row.kind, row.actor, row.target, row.reason, row.allowed)
        if index_of(record) != columns:
            raise _Broken(
                f"record {seq}: the store's index columns disagree with the signed body "
                "(a column was edited)",
                seq,
            )
        key = int(record.id[:15], 16) if _is_hex(record.id[:15]) else hash(record.id)
        earlier = self.ids.get(key)
        if earlier is not None:
            raise _Broken(f"record {seq} repeats the id of record {earlier} (replayed)", seq)
        self.ids[key] = seq
        checkpoint = self.signed.get(seq)
        if checkpoint is not None:
            if checkpoint.hash != row.hash:
                raise _Broken(
                    f"record {seq} differs from the signed checkpoint at seq {seq} "
                    "(the chain was rewritten up to here)",
                    seq,
                )
            self.anchored = seq
        if self.witness is not None and self.witness.seq == seq and self.witness.hash != row.hash:
            raise _Broken(f"record {seq} differs from the witness checkpoint (rolled back)", seq)
        if record.kind == "checkpoint" and checkpoint is None:
            raise _Broken(
                f"record {seq} announces a signed checkpoint that the checkpoint sink does "
                "not have (checkpoints rolled back or deleted, or the writer died before "
                "writing it)",
                seq,
            )
        if record.kind == "retention":
            through = record.data.get("dropped_through")
            if isinstance(through, int):
                self.retention_through.add(through)
        self.count += 1
        self.last = row

    def finish(self, head: tuple[int, str] | None) -> None:
        last_seq = self.last.seq if self.last is not None else 0
        if head is not None:
            head_seq, head_hash = head
            if head_seq > last_seq:
                raise _Broken(
                    f"the chain ends at record {last_seq} but the store's head is record "
                    f"{head_seq}: records {last_seq + 1}..{head_seq} were removed (truncated)",
                    last_seq + 1,
                )
            if head_seq < last_seq or (self.last is not None and head_hash != self.last.hash):
                raise _Broken(
                    f"the store's head (record {head_seq}) does not match its last record "
                    f"{last_seq}",
                    last_seq,
                )
        beyond = [s for s in self.signed if s > last_seq]
        if beyond:
            raise _Broken(
                f"a signed checkpoint vouches for record {max(beyond)} but the chain ends at "
                f"record {last_seq} (truncated)",
                last_seq + 1,
            )
        if self.witness is not None and self.witness.seq > last_seq:
            raise _Broken(
                f"the witness checkpoint vouches for record {self.witness.seq} but the chain "
                f"ends at record {last_seq} (truncated or rolled back)",
                last_seq + 1,
            )
        if self.need_retention is not None and self.need_retention not in self.retention_through:
            raise _Broken(
                f"records 1..{self.need_retention} were removed without a retention record "
                "(deleted from the start)",
                self.first,
            )


def _is_hex(text: str) -> bool:
    return bool(text) and all(c in "0123456789abcdef" for c in text)


def verify_chain(
    store: AuditStore,
    checkpoints: Sequence[Checkpoint],
    keys: Mapping[str, Ed25519PublicKey],
    *,
    witness: Checkpoint | None = None,
) -> VerifyReport:
    """Verify every record ``store`` holds against the signed ``checkpoints`` (trusted
    through ``keys``, key id to public key). ``witness`` is a checkpoint kept elsewhere
    (a regulator's copy, a previous export): a chain rolled back to before it is caught
    even when its checkpoints were rolled back too."""
    return verify_records(
        store.scan(),
        chain=store.chain_id(),
        checkpoints=checkpoints,
        keys=keys,
        head=store.head(),
        witness=witness,
    )
