"""The contract between the request kernel and media inspection.

The kernel spools a media route's body to a temporary file (:class:`MediaFile`) and
asks a :class:`MediaInspector` about it; the inspector answers with a
:class:`MediaVerdict`, plain data that :meth:`childsafe.Guard.check` decides on like any
other fact. This module imports nothing beyond attrs, so the kernel can name these types
without pulling in an image library.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

if TYPE_CHECKING:
    from childsafe._model import Account

__all__ = [
    "Classification",
    "EvidencePreserver",
    "HashMatch",
    "MediaFile",
    "MediaIncident",
    "MediaInspector",
    "MediaVerdict",
]


@attrs.frozen(slots=True)
class MediaFile:
    """One image from a request body, spooled to a temporary file.

    ``path`` lives only as long as the request; ``size`` is its length in bytes;
    ``content_type`` and ``filename`` are what the client declared (untrusted);
    ``field`` the multipart field it came from (``None`` for a raw body).
    """

    path: Path
    size: int
    content_type: str | None = None
    filename: str | None = None
    field: str | None = None


@attrs.frozen(slots=True)
class HashMatch:
    """A perceptual hash within the threshold of a listed hash.

    ``list_name`` names the platform's hash list, ``listed`` the listed hash (hex),
    ``entry_id`` that list's own id for the entry when it has one, ``distance`` the
    Hamming distance between the two hashes.
    """

    list_name: str
    listed: str
    distance: int
    entry_id: str | None = None


@attrs.frozen(slots=True)
class Classification:
    """A classifier's answer about one image.

    ``sensitive`` is true when a label that counts as sensitive scored at or above its
    threshold; ``labels`` the labels that counted, with their scores; ``failed`` says why
    the classifier gave no answer (error, timeout), in which case ``sensitive`` is true:
    the protective path.
    """

    sensitive: bool
    labels: tuple[tuple[str, float], ...] = ()
    failed: str | None = None


@attrs.frozen(slots=True)
class MediaVerdict:
    """What inspection found about one image.

    ``pdq`` is the image's PDQ hash (64 hex digits) and ``quality`` PDQ's quality score
    (0-100), both ``None`` when the image could not be decoded (``error`` says why);
    ``match`` the listed hash it matched, if any; ``classification`` the classifier's
    answer, ``None`` when no classifier ran.
    """

    pdq: str | None = None
    quality: int | None = None
    match: HashMatch | None = None
    classification: Classification | None = None
    error: str | None = None

    @property
    def matched(self) -> bool:
        """Whether the image matched a known-abuse hash list."""
        return self.match is not None

    @property
    def sensitive(self) -> bool:
        """Whether the image counts as sensitive: flagged by the classifier, or the
        classifier failed (fail closed). ``False`` when no classifier ran."""
        return self.classification is not None and self.classification.sensitive


@runtime_checkable
class MediaInspector(Protocol):
    """Inspects one spooled image: hash matching, classification, or both.

    Called by the kernel on routes that declare a media action, off the event loop on
    ASGI. An implementation must not raise for a bad image: it answers with a verdict
    whose ``error`` says what is wrong. It must never send the image anywhere.
    """

    def inspect(self, media: MediaFile) -> MediaVerdict: ...


@attrs.frozen(slots=True)
class MediaIncident:
    """An image that matched a known-abuse hash list, handed to the platform's
    :class:`EvidencePreserver` while its spooled file still exists.

    ``action`` is the media action (``media.upload`` or ``media.send``); ``actor`` the
    account that sent it (``None`` when not signed in); ``target`` the recipient, if any;
    ``request_id`` the request's id; ``at`` when it happened (aware, UTC);
    ``client_addr`` the address the request came from, as the adapter's framework saw it
    (``None`` when it gave none; behind a proxy, configure the framework's proxy
    handling so this is the client's, not the proxy's).

    .. versionchanged:: 0.2.0 ``client_addr``.
    """

    media: MediaFile
    verdict: MediaVerdict
    action: str
    actor: Account | None
    target: Account | None
    request_id: str | None
    at: dt.datetime
    client_addr: str | None = None


@runtime_checkable
class EvidencePreserver(Protocol):
    """Keeps what the platform is legally asked to keep about a matched image.

    The kernel calls :meth:`preserve` synchronously, before the request's temporary file
    is removed and before the refusal is sent. If it raises, the upload is refused all
    the same and the failure is logged.
    """

    def preserve(self, incident: MediaIncident) -> None: ...
