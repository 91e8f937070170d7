"""Signed checkpoints, kept outside the store.

A checkpoint says "in chain ``chain``, the record at ``seq`` has hash ``hash``", signed
with Ed25519. Because each hash covers every record before it, one checkpoint vouches
for the whole chain up to ``seq``: a record edited, removed, reordered or replayed
before it no longer leads to the signed hash, and a chain cut short of it is missing a
record the signature names. Records after the newest checkpoint are reported as
*unanchored*: their links hold, but nothing signed vouches for them yet.

Checkpoints go to a :class:`CheckpointSink` the store's writers cannot rewrite in the
same breath: a directory on another volume, a write-once bucket, another host.
:class:`DirectoryCheckpoints` writes one JSON file per checkpoint (and the public key
beside them); :class:`MemoryCheckpoints` keeps them in this process (tests).

A key's id is its fingerprint: the first 16 hex digits of SHA-256 of the raw public key,
so a verifier that pins a public key also pins the id.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from childsafe._parsing import load_json
from childsafe.audit._errors import AuditKeyError, CheckpointError
from childsafe.audit._records import format_time, parse_time

__all__ = [
    "Checkpoint",
    "CheckpointSigner",
    "CheckpointSink",
    "DirectoryCheckpoints",
    "MemoryCheckpoints",
    "key_id_of",
    "load_public_key",
    "public_pem",
]

CHECKPOINT_VERSION: Final = 1
_HEX64: Final = re.compile(r"^[0-9a-f]{64}$")
_KEY_ID: Final = re.compile(r"^[0-9a-f]{16}$")
_FIELDS: Final = frozenset(("v", "chain", "seq", "hash", "time", "key_id", "signature"))
_NAME: Final = re.compile(r"^checkpoint-(\d{16})-([0-9a-f]{16})\.json$")


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """The key's id: the first 16 hex digits of SHA-256 of its raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public_key: Ed25519PublicKey) -> str:
    """The key in PEM (SubjectPublicKeyInfo) form."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_key(pem: str | bytes, where: str = "public key") -> Ed25519PublicKey:
    """An Ed25519 public key from PEM; anything else raises
    :class:`~childsafe.audit.AuditKeyError`."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as e:
        raise AuditKeyError(f"{where}: not a PEM public key: {e}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise AuditKeyError(f"{where}: expected an Ed25519 key, got {type(key).__name__}")
    return key


MAX_KEY_FILE_BYTES: Final = 64 * 1024
"""The largest public-key file read (an Ed25519 PEM is 113 bytes)."""


def read_public_key(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    """The Ed25519 public key in the PEM file at ``path``: a regular file of at most
    :data:`MAX_KEY_FILE_BYTES` (a device or a pipe put where a key belongs would be
    read until memory ran out). Anything else raises
    :class:`~childsafe.audit.AuditKeyError` naming the file."""
    where = os.fsdecode(os.fspath(path))
    try:
        special = Path(where).exists() and not Path(where).is_file()
        if not special:
            with open(where, "rb") as f:  # noqa: PTH123 - plain file read
                data = f.read(MAX_KEY_FILE_BYTES + 1)
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in the path
        raise AuditKeyError(f"cannot read the public key {where!r}: {e}") from None
    if special:
        raise AuditKeyError(
            f"cannot read the public key {where}: not a regular file (a device, a pipe or a folder)"
        )
    if len(data) > MAX_KEY_FILE_BYTES:
        raise AuditKeyError(
            f"cannot read the public key {where}: larger than {MAX_KEY_FILE_BYTES} bytes"
        )
    return load_public_key(data, where)


@attrs.frozen
class Checkpoint:
    """A signed statement that record ``seq`` of chain ``chain`` has hash ``hash``."""

    chain: str
    seq: int
    hash: str
    time: dt.datetime
    key_id: str
    signature: str  # base64 of the 64-byte Ed25519 signature

    def payload(self) -> bytes:
        """The exact bytes signed: canonical JSON of every field but the signature."""
        return json.dumps(
            {
                "v": CHECKPOINT_VERSION,
                "chain": self.chain,
                "seq": self.seq,
                "hash": self.hash,
                "time": format_time(self.time),
                "key_id": self.key_id,
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()

    def problem(self, keys: Mapping[str, Ed25519PublicKey]) -> str | None:
        """Why this checkpoint cannot be trusted with ``keys``; ``None`` when it can."""
        key = keys.get(self.key_id)
        if key is None:
            return f"checkpoint at seq {self.seq} is signed by unknown key {self.key_id}"
        try:
            key.verify(base64.b64decode(self.signature, validate=True), self.payload())
        except (InvalidSignature, ValueError):
            return f"checkpoint at seq {self.seq} has a bad signature (key {self.key_id})"
        return None

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint's JSON form."""
        return {**json.loads(self.payload()), "signature": self.signature}

    @classmethod
    def from_dict(cls, value: object, where: str) -> Checkpoint:
        """Parse the JSON form; anything malformed raises
        :class:`~childsafe.audit.CheckpointError` naming ``where`` and the field."""
        if not isinstance(value, dict):
            raise CheckpointError(f"{where}: expected a JSON object")
        if set(value) != _FIELDS:
            raise CheckpointError(
                f"{where}: fields missing {sorted(_FIELDS - set(value))}, "
                f"unexpected {sorted(set(value) - _FIELDS)}"
            )
        if value["v"] != CHECKPOINT_VERSION:
            raise CheckpointError(f"{where}: v: unknown checkpoint version {value['v']!r}")
        seq = value["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise CheckpointError(f"{where}: seq: expected a positive integer, got {seq!r}")
        checks = (
            ("chain", value["chain"], re.compile(r"^[0-9a-f]{32}$")),
            ("hash", value["hash"], _HEX64),
            ("key_id", value["key_id"], _KEY_ID),
            ("signature", value["signature"], re.compile(r"^[A-Za-z0-9+/]{86}==$")),
        )
        for name, item, pattern in checks:
            if not isinstance(item, str) or not pattern.match(item):
                raise CheckpointError(f"{where}: {name}: malformed value {item!r}")
        try:
            time = parse_time(value["time"], f"{where}: time")
        except ValueError as e:
            raise CheckpointError(str(e)) from None
        return cls(
            chain=value["chain"],
            seq=seq,
            hash=value["hash"],
            time=time,
            key_id=value["key_id"],
            signature=value["signature"],
        )


class CheckpointSigner:
    """Signs checkpoints with an Ed25519 private key.

    Keep the private key with the app servers' other secrets; publish
    :attr:`public_pem` (the verifier needs it, and a regulator should get it from you,
    not from the checkpoint directory).
    """

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise AuditKeyError(
                f"a checkpoint signer needs an Ed25519 private key, got {private_key!r}"
            )
        self._key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id_of(self.public_key)

    @classmethod
    def generate(cls) -> CheckpointSigner:
        """A signer with a new random key."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: str | bytes, password: bytes | None = None) -> CheckpointSigner:
        """A signer from a PEM (PKCS#8) private key."""
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            key = serialization.load_pem_private_key(data, password=password)
        except (ValueError, TypeError) as e:
            raise AuditKeyError(f"checkpoint key: not a PEM private key: {e}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise AuditKeyError(f"checkpoint key: expected Ed25519, got {type(key).__name__}")
        return cls(key)

    def private_pem(self) -> str:
        """The private key as unencrypted PKCS#8 PEM (to store it as a secret)."""
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    @property
    def public_pem(self) -> str:
        """The public key, PEM."""
        return public_pem(self.public_key)

    def sign(self, chain: str, seq: int, hash: str, time: dt.datetime | None = None) -> Checkpoint:  # noqa: A002
        """A checkpoint for record ``seq`` (with ``hash``) of ``chain``."""
        unsigned = Checkpoint(
            chain=chain,
            seq=seq,
            hash=hash,
            time=time or dt.datetime.now(dt.UTC),
            key_id=self.key_id,
            signature="",
        )
        signature = base64.b64encode(self._key.sign(unsigned.payload())).decode()
        return attrs.evolve(unsigned, signature=signature)


@runtime_checkable
class CheckpointSink(Protocol):
    """Where checkpoints are kept, outside the store."""

    def write(self, checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> None:
        """Keep ``checkpoint`` (and the key that signed it, for convenience)."""
        ...

    def read(self) -> list[Checkpoint]:
        """Every checkpoint kept, ordered by ``seq``."""
        ...

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """The public keys kept beside the checkpoints (untrusted: pin your own)."""
        ...


class MemoryCheckpoints:
    """Checkpoints kept in this process (tests, and trails that need none persisted)."""

    def __init__(self) -> None:
        self.checkpoints: list[Checkpoint] = []
        self.keys: dict[str, Ed25519PublicKey] = {}
        self._lock = threading.Lock()

    def write(self, checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> None:
        with self._lock:
            self.checkpoints.append(checkpoint)
            self.keys[checkpoint.key_id] = public_key

    def read(self) -> list[Checkpoint]:
        with self._lock:
            return sorted(self.checkpoints, key=lambda c: c.seq)

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        with self._lock:
            return dict(self.keys)


_MAX_CHECKPOINT_BYTES: Final = 64 * 1024  # a checkpoint is a few hundred bytes


def _read_checkpoint(path: Path) -> object:
    """A checkpoint file's JSON: a regular file (a pipe or a device put in the folder
    would be read forever), small, not nested past the parser's limit (a traceback
    otherwise), with no key given twice."""
    if not path.is_file():
        raise ValueError("not a regular file (a device or a pipe)")
    with path.open("rb") as f:
        data = f.read(_MAX_CHECKPOINT_BYTES + 1)
    return load_json(data, max_bytes=_MAX_CHECKPOINT_BYTES)


class DirectoryCheckpoints:
    """One JSON file per checkpoint in ``path`` (``checkpoint-<seq>-<key id>.json``),
    each written to a temporary name, synced and renamed into place, and the public
    keys under ``path/keys/<key id>.pem``. Several processes may share the directory."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def write(self, checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> None:
        try:
            keys = self.path / "keys"
            keys.mkdir(parents=True, exist_ok=True)
            key_file = keys / f"{checkpoint.key_id}.pem"
            if not key_file.exists():
                self._atomic(key_file, public_pem(public_key).encode())
            name = f"checkpoint-{checkpoint.seq:016d}-{checkpoint.key_id}.json"
            text = json.dumps(checkpoint.to_dict(), indent=1, sort_keys=True) + "\n"
            self._atomic(self.path / name, text.encode())
        except OSError as e:
            raise CheckpointError(f"cannot write a checkpoint to {self.path}: {e}") from e

    @staticmethod
    def _atomic(target: Path, data: bytes) -> None:
        temporary = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}")
        with temporary.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        temporary.replace(target)

    def read(self) -> list[Checkpoint]:
        if not self.path.is_dir():
            return []
        found: list[Checkpoint] = []
        for entry in sorted(self.path.iterdir()):
            match = _NAME.match(entry.name)
            if match is None:
                continue
            try:
                value = _read_checkpoint(entry)
            except (OSError, ValueError) as e:
                raise CheckpointError(f"{entry}: cannot read the checkpoint: {e}") from None
            checkpoint = Checkpoint.from_dict(value, str(entry))
            if checkpoint.seq != int(match[1]) or checkpoint.key_id != match[2]:
                raise CheckpointError(
                    f"{entry}: holds the checkpoint of seq {checkpoint.seq} "
                    f"(key {checkpoint.key_id}): the file was replaced or renamed"
                )
            found.append(checkpoint)
        return sorted(found, key=lambda c: c.seq)

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        keys: dict[str, Ed25519PublicKey] = {}
        folder = self.path / "keys"
        if folder.is_dir():
            for entry in sorted(folder.glob("*.pem")):
                key = read_public_key(entry)
                keys[key_id_of(key)] = key
        return keys
