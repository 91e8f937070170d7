"""The errors :mod:`childsafe.media` raises.

::

    ChildsafeError
    └── MediaError
        ├── ImageError (ValueError)        an image cannot be decoded safely
        ├── HashListError (ValueError)     a hash list is malformed: file, line, problem
        ├── MediaConfigError (ValueError)  a media option is out of range
        └── EvidenceStoreError (OSError)   the evidence store cannot be read or written

A function that needs an optional extra (``childsafe[media]``, ``childsafe[nudenet]``)
raises :class:`~childsafe.exceptions.MissingExtraError` naming it.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

from childsafe.exceptions import ChildsafeError

__all__ = [
    "EvidenceStoreError",
    "HashListError",
    "ImageError",
    "MediaConfigError",
    "MediaError",
]


class MediaError(ChildsafeError):
    """Base class of the media errors."""


class ImageError(MediaError, ValueError):
    """An image could not be decoded safely: not an image, truncated, a format that is
    not accepted, or more pixels than the configured limit."""


class HashListError(MediaError, ValueError):
    """A hash list is malformed. ``source`` names the file (or ``"<text>"``), ``line``
    the line (1-based; ``None`` when the problem is the list as a whole) and
    ``problem`` what is wrong."""

    def __init__(self, source: str, line: int | None, problem: str) -> None:
        self.source = source
        self.line = line
        self.problem = problem
        where = source if line is None else f"{source}, line {line}"
        super().__init__(f"{where}: {problem}")


class MediaConfigError(MediaError, ValueError):
    """A media option is out of range (a threshold, a timeout, a pixel limit)."""


class EvidenceStoreError(MediaError, OSError):
    """The evidence store could not be opened, read or written."""
