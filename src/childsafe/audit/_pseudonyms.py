"""Pseudonymous account ids: a keyed hash (HMAC-SHA256) under the platform's key.

A pseudonym is ``key_id:`` and the first 32 hex digits (128 bits) of
``HMAC-SHA256(key, account_id)``. Without the key nobody can link a pseudonym to an
account, or one account's pseudonyms across keys. To rotate, add a new key and make it
``current``: new records use it, and :meth:`Pseudonymiser.candidates` still finds an
account's older records under every key you keep. Dropping an old key makes the records
written under it anonymous for good.

>>> p = Pseudonymiser({"2026": bytes(range(32))})
>>> name = p.pseudonym("child-1")
>>> name.startswith("2026:"), len(name)
(True, 37)
>>> name in p.candidates("child-1")
True
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final

from childsafe.audit._errors import AuditKeyError

__all__ = ["Pseudonymiser"]

_KEY_ID: Final = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_MIN_KEY: Final = 32
_CACHE: Final = 65_536
ENV_KEYS: Final = "CHILDSAFE_AUDIT_PSEUDONYM_KEYS"


_BLOCK: Final = 64  # SHA-256's block size, in bytes


def _hmac_states(key: bytes) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """HMAC-SHA256 under ``key`` (RFC 2104) as two SHA-256 states, the key's inner and
    outer pads already hashed: each returns a fresh copy. A pseudonym is then two
    copies, two updates and two digests, about half what copying an ``hmac`` object
    costs (that copies three states, and its digest a fourth); a test holds the
    result to :func:`hmac.new`."""
    block = (hashlib.sha256(key).digest() if len(key) > _BLOCK else key).ljust(_BLOCK, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
    return inner.copy, outer.copy


class Pseudonymiser:
    """Turns account ids into pseudonyms under ``keys[current]``.

    ``keys`` maps key ids (letters, digits, ``_`` and ``-``, at most 32) to secrets of at
    least 32 bytes; ``current`` (default: the last key given) signs new pseudonyms.

    """

    def __init__(self, keys: Mapping[str, bytes], *, current: str | None = None) -> None:
        given: object = keys
        if not isinstance(given, Mapping) or not given:
            raise AuditKeyError("keys: give at least one pseudonymisation key")
        checked: dict[str, bytes] = {}
        items: list[tuple[object, object]] = list(given.items())
        for key_id, secret in items:
            if not isinstance(key_id, str) or not _KEY_ID.match(key_id):
                raise AuditKeyError(f"key id {key_id!r}: use 1 to 32 letters, digits, '_' or '-'")
            if not isinstance(secret, bytes) or len(secret) < _MIN_KEY:
                raise AuditKeyError(
                    f"key {key_id!r}: expected at least {_MIN_KEY} random bytes "
                    "(secrets.token_bytes(32))"
                )
            checked[key_id] = secret
        self._keys = checked
        self.current = current if current is not None else next(reversed(checked))
        if self.current not in checked:
            raise AuditKeyError(f"current: no key with id {self.current!r}")
        self._key = checked[self.current]
        self._inner, self._outer = _hmac_states(self._key)
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, variable: str = ENV_KEYS) -> Pseudonymiser:
        """Keys from an environment variable: ``id:hex,id:hex`` (the last is current)."""
        text = os.environ.get(variable)
        if not text:
            raise AuditKeyError(f"{variable} is not set (expected key_id:hex,key_id:hex)")
        keys: dict[str, bytes] = {}
        for item in text.split(","):
            key_id, _, secret = item.strip().partition(":")
            if key_id in keys:
                raise AuditKeyError(f"{variable}: key id {key_id!r} is given twice")
            try:
                keys[key_id] = bytes.fromhex(secret)
            except ValueError:
                raise AuditKeyError(f"{variable}: key {key_id!r} is not hex") from None
        return cls(keys)

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The ids of every key known, current last."""
        return (*(k for k in self._keys if k != self.current), self.current)

    def pseudonym(self, account_id: str) -> str:
        """``account_id``'s pseudonym under the current key."""
        found = self._cache.get(account_id)
        if found is not None:
            return found
        if not isinstance(account_id, str):
            raise AuditKeyError(f"account ids are strings, got {account_id!r}")
        inner = self._inner()
        inner.update(account_id.encode("utf-8", "surrogatepass"))  # any str has a pseudonym
        outer = self._outer()
        outer.update(inner.digest())
        found = f"{self.current}:{outer.hexdigest()[:32]}"
        with self._lock:
            if len(self._cache) >= _CACHE:
                self._cache.clear()
            self._cache[account_id] = found
        return found

    def candidates(self, account_id: str) -> tuple[str, ...]:
        """``account_id``'s pseudonym under every key known: what to look up to find
        all of an account's records."""
        raw = account_id.encode("utf-8", "surrogatepass")
        return tuple(
            f"{key_id}:{hmac.new(key, raw, hashlib.sha256).hexdigest()[:32]}"
            for key_id, key in self._keys.items()
        )
