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
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from childsafe._parsing import ParseError, load_json
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
    except ValueError:  # open() refuses a path holding a NUL byte
        raise AuditRecordError(
            f"cannot write the bundle {path!r}: a NUL byte in the path"
        ) from None


MAX_BUNDLE_BYTES: Final = 1 << 30
"""The largest bundle :func:`read_bundle` reads, in bytes of JSON (after gunzip): 1 GiB."""
MAX_GZIP_RATIO: Final = 100
"""How many times its compressed size a gzipped bundle may grow to. A bundle's JSON
compresses a few times over; a file that inflates further was made to exhaust the
verifier's memory (a "gzip bomb")."""
_CHUNK: Final = 1 << 20


def _read_capped(path: Path, max_bytes: int) -> bytes:
    """The bytes of the regular file ``path`` (gunzipped when it starts with gzip's
    magic), read in chunks and refused as soon as they pass ``max_bytes`` or, for a gzip
    file, ``MAX_GZIP_RATIO`` times its size."""
    try:
        special = path.exists() and not path.is_dir() and not path.is_file()
    except (OSError, ValueError):
        special = False  # named below, when it is opened
    if special:  # a device or a pipe (/dev/zero) would be read until memory ran out
        raise AuditRecordError(f"{path}: not a regular file (a device or a pipe)")
    try:
        with path.open("rb") as raw:
            size = os.fstat(raw.fileno()).st_size
            if raw.read(2) != b"\x1f\x8b":
                raw.seek(0)
                data = raw.read(max_bytes + 1)
                if len(data) > max_bytes:
                    raise AuditRecordError(f"{path}: larger than {max_bytes} bytes")
                return data
            raw.seek(0)
            limit = min(max_bytes, MAX_GZIP_RATIO * max(size, 1))
            parts: list[bytes] = []
            total = 0
            with gzip.GzipFile(fileobj=raw) as unzipped:
                while chunk := unzipped.read(_CHUNK):
                    total += len(chunk)
                    if total > limit:
                        why = (
                            f"larger than {max_bytes} bytes"
                            if limit == max_bytes
                            else f"inflates to more than {MAX_GZIP_RATIO} times its "
                            f"{size} bytes (a gzip bomb?)"
                        )
                        raise AuditRecordError(f"{path}: {why}")
                    parts.append(chunk)
            return b"".join(parts)
    except AuditRecordError:
        raise
    except (OSError, EOFError, ValueError) as e:  # ValueError: a NUL byte in the path
        raise AuditRecordError(f"{path}: not a readable bundle: {e}") from None


def read_bundle(path: Path, *, max_bytes: int = MAX_BUNDLE_BYTES) -> dict[str, Any]:
    """Read a bundle written by :func:`write_bundle`, as received from anyone. A file
    that is not a regular one, larger than ``max_bytes`` (default 1 GiB) once
    gunzipped, gzipped to inflate more than 100 times its size, nested more than 32
    levels deep, with a key given twice (two readers could see two different bundles)
    or NaN is an :class:`~childsafe.audit.AuditRecordError`, read no further.

    .. versionchanged:: 0.2.0 ``max_bytes``; sizes, gzip bombs, nesting and repeated
       keys refused.
    """
    data = _read_capped(path, max_bytes)
    try:
        value = load_json(data, max_bytes=max_bytes)
    except ParseError as e:
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
    lows: list[int] = []  # the first seq of each in covered
    ids: dict[str, int] = {}
    versions: set[str] = set()
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
            # The segments seen are disjoint, kept sorted by their first record: the
            # only one this can overlap is the last starting at or before its end (a
            # scan of them all made a bundle of many segments take hours).
            i = bisect.bisect_right(lows, high) - 1
            if i >= 0 and start < covered[i][1]:
                low, other_high, other = covered[i]
                raise _Broken(
                    f"segment {n} repeats records {max(low, start + 1)}.."
                    f"{min(other_high, high)} of segment {other} (replayed)",
                    max(low, start + 1),
                )
            if entries:
                i = bisect.bisect_left(lows, start + 1)
                lows.insert(i, start + 1)
                covered.insert(i, (start + 1, high, n))
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
                    try:
                        body = _field(entry, "body", str, here).encode()
                    except UnicodeEncodeError:  # a lone surrogate ("\\ud800") in the JSON
                        raise AuditRecordError(f"{here}.body: not UTF-8 text") from None
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
                    record = decode_record(stored)
                    record_id = record.id
                    version = record.data.get("policy_version") or record.data.get("version")
                    if isinstance(version, str):
                        versions.add(version)
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
        # Not signed, so checked: the policy versions a reader is told were in force are
        # those the records themselves carry.
        listed = bundle.get("policy_versions", sorted(versions))
        if listed != sorted(versions):
            raise _Broken(
                f"policy_versions lists {listed!r:.200}, but the bundle's records carry "
                f"{sorted(versions)!r:.200}"
            )
    except _Broken as e:
        return VerifyReport(
            "broken", records, first, last, anchored, 0, len(checkpoints), e.problem, e.seq
        )
    status = "empty" if records == 0 else ("valid" if unanchored == 0 else "unanchored")
    return VerifyReport(status, records, first, last, anchored, unanchored, len(checkpoints))  # type: ignore[arg-type]
