"""Media safety: known-abuse hash matching and nudity interventions for child accounts.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

from childsafe.media._types import (
    Classification,
    EvidencePreserver,
    HashMatch,
    MediaFile,
    MediaIncident,
    MediaInspector,
    MediaVerdict,
)

__all__ = [
    "Classification",
    "EvidencePreserver",
    "HashMatch",
    "MediaFile",
    "MediaIncident",
    "MediaInspector",
    "MediaVerdict",
]
