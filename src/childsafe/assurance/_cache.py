"""The verified-token cache: the same token is not verified again on every request."""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

__all__ = ["TokenCache"]

T = TypeVar("T")


class TokenCache(Generic[T]):
    """At most ``maxsize`` results, keyed by the exact token string, each kept until the
    expiry it was stored with (never later than its token's ``exp``); the least recently
    used goes first when full. ``maxsize=0`` turns caching off.

    Lookups take no lock: each dictionary operation is atomic, and a race between a hit
    and an eviction only costs a re-verification.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_entries", "maxsize")

    def __init__(self, maxsize: int) -> None:
        size: object = maxsize
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"maxsize must be a whole number >= 0, got {maxsize!r}")
        self.maxsize = maxsize
        self._entries: OrderedDict[str, tuple[float, T]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str, now: float) -> T | None:
        """The result stored for ``token``, unless it has expired by ``now``."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        if now >= entry[0]:
            self._entries.pop(token, None)
            return None
        try:  # contextlib.suppress would cost more than the lookup itself
            self._entries.move_to_end(token)
        except KeyError:  # pragma: no cover - evicted by another thread meanwhile
            return entry[1]  # still unexpired: only its place in the LRU order is lost
        return entry[1]

    def put(self, token: str, value: T, expires_at: float) -> None:
        """Keep ``value`` for ``token`` until ``expires_at`` (seconds since the epoch)."""
        if self.maxsize == 0:
            return
        self._entries[token] = (expires_at, value)
        while len(self._entries) > self.maxsize:
            try:
                self._entries.popitem(last=False)
            except KeyError:  # pragma: no cover - emptied by another thread
                break

    def clear(self) -> None:
        """Forget every result (after a key is revoked, for instance)."""
        self._entries.clear()
