"""The audit trail: hash-chained, checkpointed, pseudonymous evidence of what the SDK
decided and what people changed, in memory, SQLite or PostgreSQL. See :doc:`/audit`.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

from childsafe.audit._checkpoints import (
    Checkpoint,
    CheckpointSigner,
    CheckpointSink,
    DirectoryCheckpoints,
    MemoryCheckpoints,
    load_public_key,
)
from childsafe.audit._complaints import ComplaintRecorder
from childsafe.audit._config import AuditConfig
from childsafe.audit._errors import (
    AuditError,
    AuditKeyError,
    AuditRecordError,
    AuditStoreError,
    AuditUnavailableError,
    CheckpointError,
)
from childsafe.audit._export import export_bundle, read_bundle, verify_bundle, write_bundle
from childsafe.audit._postgres import PostgresAuditStore
from childsafe.audit._pseudonyms import Pseudonymiser
from childsafe.audit._records import KINDS, RECORD_VERSION, AuditRecord, Draft, StoredRecord
from childsafe.audit._stores import (
    SCHEMA_VERSION,
    AuditStore,
    MemoryAuditStore,
    SQLiteAuditStore,
    open_store,
)
from childsafe.audit._trail import AuditTrail
from childsafe.audit._verify import VerifyReport, verify_chain
from childsafe.audit._writer import AuditStats, AuditTicket, MetricHook

__all__ = [
    "KINDS",
    "RECORD_VERSION",
    "SCHEMA_VERSION",
    "AuditConfig",
    "AuditError",
    "AuditKeyError",
    "AuditRecord",
    "AuditRecordError",
    "AuditStats",
    "AuditStore",
    "AuditStoreError",
    "AuditTicket",
    "AuditTrail",
    "AuditUnavailableError",
    "Checkpoint",
    "CheckpointError",
    "CheckpointSigner",
    "CheckpointSink",
    "ComplaintRecorder",
    "DirectoryCheckpoints",
    "Draft",
    "MemoryAuditStore",
    "MemoryCheckpoints",
    "MetricHook",
    "PostgresAuditStore",
    "Pseudonymiser",
    "SQLiteAuditStore",
    "StoredRecord",
    "VerifyReport",
    "export_bundle",
    "load_public_key",
    "open_store",
    "read_bundle",
    "verify_bundle",
    "verify_chain",
    "write_bundle",
]

for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = "childsafe.audit"
del _name, _obj
