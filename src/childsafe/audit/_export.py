"""Regulator exports: a bundle of records with the proof of their place in the chain.

A bundle holds the selected records (a period, an account, or both) in full, the
policy records in force up to the period's end, and around them the *segments* of the
chain that prove them: every link from the signed checkpoint before a record to the
signed checkpoint after it. Links that are not selected are redacted to their body's
SHA-256 (the record's hash covers that digest, not the body), so an account's export
reveals nothing about other accounts. With the signing public key, which the bundle
carries and the platform should also publish, anyone can verify it offline:
``childsafe audit verify bundle.json``.
"""

from __future__ import annotations

import bisect
import datetime as dt
import gzip
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from childsafe.audit._checkpoints import Checkpoint, load_public_key, public_pem
from childsafe.audit._errors import AuditRecordError
from childsafe.audit._records import (
    StoredRecord,
    decode_record,
    format_time,
    genesis_hash,
    link_hash,
    to_micros,
)
from childsafe.audit._stores import AuditStore
from childsafe.audit._verify import VerifyReport, _Broken, _trusted

__all__ = ["BUNDLE_FORMAT", "export_bundle", "read_bundle", "verify_bundle", "write_bundle"]

BUNDLE_FORMAT: Final = "childsafe-audit-bundle"
BUNDLE_VERSION: Final = 1
_POLICY_KINDS: Final = ("policy_load", "policy_change")


def export_bundle(
    store: AuditStore,
    checkpoints: Sequence[Checkpoint],
    keys: Mapping[str, Ed25519PublicKey],
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    accounts: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The bundle (a JSON-ready dict) of the records in ``[since, until)`` involving
    one of ``accounts`` (pseudonyms; ``None``: every account)."""
    chain = store.chain_id()
    since_us = None if since is None else to_micros(since)
    until_us = None if until is None else to_micros(until)
    selected = {
        row.seq for row in store.select(since_us=since_us, until_us=until_us, accounts=accounts)
    }
    policies = {row.seq for row in store.select(until_us=until_us, kinds=list(_POLICY_KINDS))}
    wanted = selected | policies
    first = next(iter(store.scan()), None)
    head_seq, _ = store.head()
    signed = sorted(
        {c.seq: c for c in checkpoints if c.chain == chain}.values(), key=lambda c: c.seq
    )
    marks = [c.seq for c in signed]
    segments: set[tuple[int, int | None]] = set()
    floor = 0 if first is None else first.seq - 1
    for seq in sorted(wanted):
        i = bisect.bisect_left(marks, seq)
        start = marks[i - 1] if i > 0 and marks[i - 1] >= floor else floor
        end = marks[i] if i < len(marks) else None
        segments.add((start, end))
    out_segments: list[dict[str, Any]] = []
    versions: set[str] = set()
    used: set[int] = set()
    for start, end in sorted(segments, key=lambda segment: segment[0]):
        entries: list[dict[str, Any]] = []
        for row in store.scan(start + 1, end if end is not None else head_seq):
            entries.append(_entry(row, full=row.seq in wanted))
            if row.seq in wanted:
                data = decode_record(row).data
                version = data.get("policy_version") or data.get("version")
                if isinstance(version, str):
                    versions.add(version)
        out_segments.append({"start": start, "end": end, "entries": entries})
        used.update(s for s in (start, end) if s)
    return {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "created": format_time(dt.datetime.now(dt.UTC)),
        "chain": chain,
        "selection": {
            "since": None if since is None else format_time(since),
            "until": None if until is None else format_time(until),
            "accounts": None if accounts is None else list(accounts),
        },
        "public_keys": {key_id: public_pem(key) for key_id, key in sorted(keys.items())},
        "checkpoints": [c.to_dict() for c in signed if c.seq in used],
        "segments": out_segments,
        "policy_versions": sorted(versions),
        "summary": {
            "records": len(selected),
            "policy_records": len(policies - selected),
            "segments": len(out_segments),
        },
    }


def _entry(row: StoredRecord, *, full: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"seq": row.seq, "prev": row.prev, "hash": row.hash}
    if full:
        entry["body"] = row.body.decode("utf-8")
    else:
        entry["digest"] = hashlib.sha256(row.body).hexdigest()
    return entry


def write_bundle(bundle: Mapping[str, Any], path: Path) -> None:
    """Write ``bundle`` as JSON (gzipped when ``path`` ends in ``.gz``)."""
    data = json.dumps(bundle, ensure_ascii=False, indent=None, separators=(",", ":")).encode()
    try:
        if path.suffix == ".gz":
            data = gzip.compress(data)
        path.write_bytes(data)
    except OSError as e:
        raise AuditRecordError(f"cannot write the bundle {path}: {e}") from None


def read_bundle(path: Path) -> dict[str, Any]:
    """Read a bundle written by :func:`write_bundle`."""
    try:
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        value = json.loads(data)
    except (OSError, ValueError, EOFError) as e:
        raise AuditRecordError(f"{path}: not a readable bundle: {e}") from None
    if not isinstance(value, dict) or value.get("format") != BUNDLE_FORMAT:
        raise AuditRecordError(
            f"{path}: not a childsafe audit bundle (no format {BUNDLE_FORMAT!r})"
        )
    if value.get("version") != BUNDLE_VERSION:
        raise AuditRecordError(f"{path}: unknown bundle version {value.get('version')!r}")
    return value


def _field(value: Mapping[str, Any], name: str, kind: type, where: str) -> Any:  # noqa: ANN401
    item = value.get(name)
    if not isinstance(item, kind) or (isinstance(item, bool) and kind is int):
        raise AuditRecordError(f"{where}.{name}: expected {kind.__name__}, got {item!r}")
    return item


def verify_bundle(
    bundle: Mapping[str, Any], keys: Mapping[str, Ed25519PublicKey] | None = None
) -> VerifyReport:
    """Verify a bundle offline. ``keys`` pins the public keys to trust (recommended:
    the key the platform published); by default the bundle's own keys are used."""
    chain = _field(bundle, "chain", str, "bundle")
    if keys is None:
        pems = _field(bundle, "public_keys", dict, "bundle")
        keys = {k: load_public_key(v, f"bundle.public_keys.{k}") for k, v in pems.items()}
    raw = _field(bundle, "checkpoints", list, "bundle")
    checkpoints = [Checkpoint.from_dict(c, f"bundle.checkpoints[{i}]") for i, c in enumerate(raw)]
    records = anchored_records = unanchored = 0
    first: int | None = None
    last: int | None = None
    anchored: int | None = None
    covered: list[tuple[int, int, int]] = []  # (first seq, last seq, segment) of each
    ids: dict[str, int] = {}
    try:
        signed = _trusted(checkpoints, keys, chain)
        for n, segment in enumerate(_field(bundle, "segments", list, "bundle")):
            where = f"bundle.segments[{n}]"
            if not isinstance(segment, dict):
                raise AuditRecordError(f"{where}: expected an object")
            start = _field(segment, "start", int, where)
            end = segment.get("end")
            if start == 0:
                prev = genesis_hash(chain)
            elif start in signed:
                prev = signed[start].hash
            else:
                raise _Broken(
                    f"segment {n} starts at record {start + 1} with no signed checkpoint at {start}"
                )
            entries = _field(segment, "entries", list, where)
            high = start + len(entries)
            for low, other_high, other in covered:
                if start < other_high and low <= high:
                    raise _Broken(
                        f"segment {n} repeats records {max(low, start + 1)}.."
                        f"{min(other_high, high)} of segment {other} (replayed)",
                        max(low, start + 1),
                    )
            if entries:
                covered.append((start + 1, high, n))
            seq = start
            full = 0
            for i, entry in enumerate(entries):
                here = f"{where}.entries[{i}]"
                if not isinstance(entry, dict):
                    raise AuditRecordError(f"{here}: expected an object")
                seq += 1
                got_seq = _field(entry, "seq", int, here)
                if got_seq != seq:
                    raise _Broken(
                        f"record {seq} is missing from segment {n} (found {got_seq})", seq
                    )
                if _field(entry, "prev", str, here) != prev:
                    raise _Broken(f"record {seq} does not link to record {seq - 1}", seq)
                if "body" in entry:
                    body = _field(entry, "body", str, here).encode()
                    digest = hashlib.sha256(body).digest()
                    stored = StoredRecord(
                        seq,
                        prev,
                        _field(entry, "hash", str, here),
                        body,
                        0,
                        "",
                        None,
                        None,
                        None,
                        None,
                    )
                    record_id = decode_record(stored).id
                    if record_id in ids:
                        raise _Broken(
                            f"record {seq} repeats the id of record {ids[record_id]} (replayed)",
                            seq,
                        )
                    ids[record_id] = seq
                    full += 1
                    first = seq if first is None else min(first, seq)
                    last = seq if last is None else max(last, seq)
                else:
                    try:
                        digest = bytes.fromhex(_field(entry, "digest", str, here))
                    except ValueError:
                        raise AuditRecordError(f"{here}.digest: not hex") from None
                if link_hash(prev, seq, digest) != _field(entry, "hash", str, here):
                    raise _Broken(f"record {seq}: its hash does not match its content", seq)
                prev = entry["hash"]
            records += full
            if end is None:
                unanchored += full
            else:
                if not isinstance(end, int) or end not in signed:
                    raise _Broken(f"segment {n} ends at {end!r}, which no signed checkpoint names")
                if seq != end or signed[end].hash != prev:
                    raise _Broken(
                        f"segment {n} does not lead to the signed checkpoint at record {end}", seq
                    )
                anchored_records += full
                anchored = end if anchored is None else max(anchored, end)
    except _Broken as e:
        return VerifyReport(
            "broken", records, first, last, anchored, 0, len(checkpoints), e.problem, e.seq
        )
    status = "empty" if records == 0 else ("valid" if unanchored == 0 else "unanchored")
    return VerifyReport(status, records, first, last, anchored, unanchored, len(checkpoints))  # type: ignore[arg-type]
