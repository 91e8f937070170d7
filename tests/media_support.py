"""Test support for media routes: images the tests make themselves (small PNGs with a
marker in a text chunk), a MediaInspector double that reads them, and a recording
EvidencePreserver.

The inspector is inspector-shaped, not a mock: it reads the spooled file from disk,
refuses what is not a PNG (as a decoder would), and answers with a real MediaVerdict.
A real ``MediaScreen`` (PDQ and a classifier) comes from ``childsafe.media``.
"""

from __future__ import annotations

import hashlib
import struct
import threading
import zlib

from childsafe.media import (
    Classification,
    HashMatch,
    MediaFile,
    MediaIncident,
    MediaVerdict,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SENSITIVE = "sensitive"
MATCH = "match"
CLEAN = "clean"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(marker: str = CLEAN, *, size: int = 8, shade: int = 0) -> bytes:
    """A valid ``size`` x ``size`` greyscale PNG (a gradient, shifted by ``shade``) with
    ``childsafe-test`` = ``marker`` in a tEXt chunk."""
    rows = b"".join(
        b"\x00" + bytes((x * 16 + y * 8 + shade) % 256 for x in range(size)) for y in range(size)
    )
    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"tEXt", b"childsafe-test\x00" + marker.encode())
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )


class MarkerInspector:
    """Reads each spooled image: not a PNG is an error (unreadable); the marker
    ``match`` matches the ``test-list`` hash list; ``sensitive`` is flagged by the
    classifier. Records what it saw (path existence, size, bytes)."""

    def __init__(self, *, raises: bool = False) -> None:
        self.raises = raises
        self.seen: list[tuple[MediaFile, bool, bytes]] = []
        self._lock = threading.Lock()

    def inspect(self, media: MediaFile) -> MediaVerdict:
        data = media.path.read_bytes()
        with self._lock:
            self.seen.append((media, media.path.exists(), data))
        if self.raises:
            raise RuntimeError("the classifier crashed")
        if not data.startswith(PNG_SIGNATURE):
            return MediaVerdict(error="not an image: no PNG signature")
        pdq = hashlib.sha256(data).hexdigest()
        match = None
        if b"childsafe-test\x00" + MATCH.encode() in data:
            match = HashMatch(list_name="test-list", listed=pdq, distance=0, entry_id="e1")
        sensitive = b"childsafe-test\x00" + SENSITIVE.encode() in data
        labels = (("exposed_body", 0.97),) if sensitive else ()
        return MediaVerdict(
            pdq=pdq,
            quality=100,
            match=match,
            classification=Classification(sensitive=sensitive, labels=labels),
        )


class RecordingPreserver:
    """Keeps each incident and the image bytes read while the file still existed."""

    def __init__(self) -> None:
        self.incidents: list[tuple[MediaIncident, bytes]] = []
        self._lock = threading.Lock()

    def preserve(self, incident: MediaIncident) -> None:
        data = incident.media.path.read_bytes()
        with self._lock:
            self.incidents.append((incident, data))
