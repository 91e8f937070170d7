"""The exact matcher: every listed hash is compared with the image's, no approximate
index that could miss one.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, Final

from childsafe.exceptions import MissingExtraError
from childsafe.media._errors import MediaConfigError
from childsafe.media._lists import HashList, _check_hash
from childsafe.media._types import HashMatch

__all__ = ["DEFAULT_THRESHOLD", "HashMatcher"]

DEFAULT_THRESHOLD: Final = 31
"""The default Hamming distance at or below which two PDQ hashes match: the threshold
Meta recommends for PDQ (about 12 % of the 256 bits)."""


def _numpy() -> Any:  # noqa: ANN401 - numpy is imported lazily
    try:
        import numpy as np  # noqa: PLC0415 - the extra is imported only when used
    except ImportError as e:
        raise MissingExtraError("hash matching needs numpy: pip install 'childsafe[media]'") from e
    if not hasattr(np, "bitwise_count"):  # pragma: no cover - numpy < 2.0
        raise MissingExtraError("hash matching needs numpy >= 2.0: pip install 'childsafe[media]'")
    return np


def check_threshold(threshold: int) -> int:
    given: object = threshold
    if isinstance(given, bool) or not isinstance(given, int) or not 0 <= given <= 256:
        raise MediaConfigError(
            f"threshold: expected a Hamming distance from 0 to 256, got {threshold!r}"
        )
    return given


def check_lists(lists: Iterable[HashList]) -> tuple[HashList, ...]:
    """``lists`` as a tuple: an iterable of :class:`HashList` (one list on its own
    counts as a list of one)."""
    given: object = lists
    if isinstance(given, HashList):
        return (given,)
    if isinstance(given, str | bytes) or not isinstance(given, Iterable):
        raise MediaConfigError(
            f"hash lists: expected an iterable of HashList, got {type(given).__name__}"
        )
    found = tuple(given)
    for n, item in enumerate(found, 1):
        if not isinstance(item, HashList):
            raise MediaConfigError(
                f"hash lists: item {n} is a {type(item).__name__}, not a HashList "
                "(load one with HashList.from_csv or HashList.from_threatexchange)"
            )
    return found


class HashMatcher:
    """Finds the listed hash closest to an image's hash across several
    :class:`~childsafe.media.HashList`, and reports it when its Hamming distance is at
    most ``threshold`` (default :data:`DEFAULT_THRESHOLD`).

    Exact by construction: each lookup XORs the query with every listed hash (four
    64-bit words each, stored word by word so NumPy streams through them) and counts
    the differing bits with ``numpy.bitwise_count``; the bits of the first two words
    are counted for every entry and only the entries within the threshold on those
    (a lower bound of the whole distance) are counted whole, so nothing within the
    threshold can be skipped. Immutable once built (each thread keeps its own scratch
    arrays), so lookups from many threads need no lock; build a new matcher to change
    the lists.

    >>> m = HashMatcher([HashList.from_entries("demo", [("f" * 64, "e1")])])
    >>> found = m.match("f" * 63 + "0")
    >>> found.list_name, found.entry_id, found.distance
    ('demo', 'e1', 4)
    >>> m.match("0" * 64) is None
    True
    """

    __slots__ = ("_lists", "_owner", "_scratch", "_starts", "_words", "threshold")

    def __init__(self, lists: Iterable[HashList], *, threshold: int = DEFAULT_THRESHOLD) -> None:
        np = _numpy()
        self.threshold = check_threshold(threshold)
        self._lists: tuple[HashList, ...] = check_lists(lists)
        names = [hl.name for hl in self._lists]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise MediaConfigError(f"hash lists: two lists are named {dupes[0]!r}")
        blob = b"".join(hl.digests for hl in self._lists)
        n = len(blob) // 32
        # (n, 4) big-endian words -> (4, n) native words, each row contiguous
        words = np.frombuffer(blob, dtype=">u8").reshape(n, 4).T
        self._words = np.ascontiguousarray(words, dtype=np.uint64)
        starts = [0]
        for hl in self._lists:
            starts.append(starts[-1] + len(hl))
        self._starts = np.asarray(starts, dtype=np.int64)
        self._owner = np
        self._scratch = threading.local()

    @property
    def lists(self) -> tuple[HashList, ...]:
        """The lists matched against."""
        return self._lists

    def __len__(self) -> int:
        return int(self._words.shape[1])

    def _query(self, pdq: str) -> Any:  # noqa: ANN401 - a numpy array
        np = self._owner
        return np.frombuffer(_check_hash(pdq, "<query>", None), dtype=">u8").astype(np.uint64)

    def distances(self, pdq: str) -> Any:  # noqa: ANN401 - a numpy array
        """The Hamming distance from ``pdq`` to every listed hash, in list order (a
        NumPy ``uint16`` array)."""
        np = self._owner
        query = self._query(pdq)
        acc = np.zeros(len(self), dtype=np.uint16)
        for k in range(4):
            acc += np.bitwise_count(self._words[k] ^ query[k])
        return acc

    def _buffers(self) -> tuple[Any, Any, Any, Any]:
        """This thread's scratch arrays (allocated once: a fresh 8 MB array a lookup
        would cost page faults every time)."""
        found = getattr(self._scratch, "arrays", None)
        if found is None:
            np, n = self._owner, len(self)
            found = (
                np.empty(n, dtype=np.uint64),
                np.empty(n, dtype=np.uint8),
                np.empty(n, dtype=np.uint8),
                np.empty(n, dtype=np.bool_),
            )
            self._scratch.arrays = found
        return found

    def match(self, pdq: str) -> HashMatch | None:
        """The closest listed hash to ``pdq`` (64 hex digits) when within the threshold
        (the first in list order among equally close ones), else ``None``. A malformed
        ``pdq`` raises :class:`~childsafe.media.HashListError`."""
        if not len(self):
            _check_hash(pdq, "<query>", None)
            return None
        np = self._owner
        query = self._query(pdq)
        w = self._words
        if self.threshold >= 128:
            acc = self.distances(pdq)
            i = int(acc.argmin())
            distance = int(acc[i])
        else:
            # Exact pruning: the distance over all four words is at least the distance
            # over the first two, so only entries within the threshold on those two
            # (almost none, for unrelated hashes) can match; they are then counted whole.
            x, a, b, near = self._buffers()
            np.bitwise_xor(w[0], query[0], out=x)
            np.bitwise_count(x, out=a)
            np.bitwise_xor(w[1], query[1], out=x)
            np.bitwise_count(x, out=b)
            np.add(a, b, out=a)  # at most 128: fits in uint8
            np.less_equal(a, self.threshold, out=near)
            candidates = np.flatnonzero(near)
            if not candidates.size:
                return None
            whole = np.bitwise_count(w[:, candidates] ^ query[:, None]).sum(axis=0, dtype=np.int64)
            best = int(whole.argmin())
            i = int(candidates[best])
            distance = int(whole[best])
        if distance > self.threshold:
            return None
        which = int(self._owner.searchsorted(self._starts, i, side="right")) - 1
        hl = self._lists[which]
        entry = hl[i - int(self._starts[which])]
        return HashMatch(hl.name, entry.pdq, distance, entry.id)
