"""Grooming-risk signals for human review: explainable rules over the metadata the
platform passes, scores per (actor, child) pair and per actor, flags for moderators.
See :doc:`/signals`.

The library never bans, blocks or restricts anyone by itself, and never reads more than
the platform passes it.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

from childsafe.signals._engine import KINDS, Flag, FlagListener, Friction, SignalEvent, Signals
from childsafe.signals._errors import (
    SignalConfigError,
    SignalEventError,
    SignalListenerError,
    SignalStoreError,
)
from childsafe.signals._redis import RedisSignalStore
from childsafe.signals._responses import (
    SIGNATURE_HEADER,
    AuditFlags,
    CaseOpener,
    DeadLetter,
    DeadLetters,
    MemoryDeadLetters,
    SQLiteDeadLetters,
    Webhook,
    flag_payload,
    sign,
    verify_signature,
)
from childsafe.signals._rules import (
    DEFAULT_MESSAGING_APPS,
    RULES,
    Evidence,
    Rule,
    RuleInfo,
    Score,
    SignalsConfig,
)
from childsafe.signals._stores import (
    EventSignalStore,
    FlagState,
    MemorySignalStore,
    SignalStore,
    SQLiteSignalStore,
    StoreEvent,
)

__all__ = [
    "DEFAULT_MESSAGING_APPS",
    "KINDS",
    "RULES",
    "SIGNATURE_HEADER",
    "AuditFlags",
    "CaseOpener",
    "DeadLetter",
    "DeadLetters",
    "EventSignalStore",
    "Evidence",
    "Flag",
    "FlagListener",
    "FlagState",
    "Friction",
    "MemoryDeadLetters",
    "MemorySignalStore",
    "RedisSignalStore",
    "Rule",
    "RuleInfo",
    "SQLiteDeadLetters",
    "SQLiteSignalStore",
    "Score",
    "SignalConfigError",
    "SignalEvent",
    "SignalEventError",
    "SignalListenerError",
    "SignalStore",
    "SignalStoreError",
    "Signals",
    "SignalsConfig",
    "StoreEvent",
    "Webhook",
    "flag_payload",
    "sign",
    "verify_signature",
]
