"""Media safety: known-abuse hash matching and nudity interventions for child accounts.

Everything runs on the platform's own servers; no image and no hash leaves them.

* PDQ hashing (:func:`pdq_hash`, :func:`load_image`: safe decoding) and the platform's
  hash lists (:class:`HashList`, from CSV or ThreatExchange exports), matched exactly
  within a Hamming distance by :class:`HashMatcher`.
* Classifiers (:class:`Classifier`; :class:`NudeNetClassifier` runs ``nudenet``
  locally) decide which images count as sensitive.
* :class:`MediaScreen` is the :class:`MediaInspector` the request kernel calls;
  :class:`EvidenceVault` the :class:`EvidencePreserver` that keeps the evidence of a
  match, records it on the audit trail, opens a case and builds the report bundle.

Importing this package needs no extra; hashing and matching need
``pip install 'childsafe[media]'`` (Pillow, NumPy, pdqhash) and the nudenet classifier
``pip install 'childsafe[nudenet]'``; without them those calls raise
:class:`~childsafe.exceptions.MissingExtraError` naming the extra.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

from childsafe.media._classify import (
    NUDENET_SENSITIVE,
    Classifier,
    ClassifierRunner,
    NudeNetClassifier,
)
from childsafe.media._errors import (
    EvidenceStoreError,
    HashListError,
    ImageError,
    MediaConfigError,
    MediaError,
)
from childsafe.media._evidence import (
    REPORT_FORMAT,
    Evidence,
    EvidenceStore,
    EvidenceVault,
    MemoryEvidenceStore,
    SQLiteEvidenceStore,
)
from childsafe.media._lists import HASH_COLUMNS, ID_COLUMNS, TYPE_COLUMNS, HashEntry, HashList
from childsafe.media._matcher import DEFAULT_THRESHOLD, HashMatcher
from childsafe.media._pdq import (
    DEFAULT_MAX_FRAMES,
    DEFAULT_MAX_PIXELS,
    DEFAULT_REDUCE_TO,
    IMAGE_FORMATS,
    PDQHash,
    hamming,
    load_image,
    pdq_frames,
    pdq_hash,
)
from childsafe.media._screen import MediaScreen
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
    "DEFAULT_MAX_FRAMES",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_REDUCE_TO",
    "DEFAULT_THRESHOLD",
    "HASH_COLUMNS",
    "ID_COLUMNS",
    "IMAGE_FORMATS",
    "NUDENET_SENSITIVE",
    "REPORT_FORMAT",
    "TYPE_COLUMNS",
    "Classification",
    "Classifier",
    "ClassifierRunner",
    "Evidence",
    "EvidencePreserver",
    "EvidenceStore",
    "EvidenceStoreError",
    "EvidenceVault",
    "HashEntry",
    "HashList",
    "HashListError",
    "HashMatch",
    "HashMatcher",
    "ImageError",
    "MediaConfigError",
    "MediaError",
    "MediaFile",
    "MediaIncident",
    "MediaInspector",
    "MediaScreen",
    "MediaVerdict",
    "MemoryEvidenceStore",
    "NudeNetClassifier",
    "PDQHash",
    "SQLiteEvidenceStore",
    "hamming",
    "load_image",
    "pdq_frames",
    "pdq_hash",
]

for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = "childsafe.media"
del _name, _obj
