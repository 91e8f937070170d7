"""What the audit trail raises.

::

    ChildsafeError
    └── AuditError
        ├── AuditRecordError (ValueError)        a record or bundle that cannot be decoded,
        │                                         or data that is not JSON-safe
        ├── AuditKeyError (ValueError)           a pseudonymisation or signing key that is
        │                                         malformed, too short or unknown
        ├── AuditStoreError (ConnectionError)    the store cannot be opened, read or written
        │   └── AuditUnavailableError            a record could not be accepted or was not
        │                                         committed in time (buffer full, store down)
        └── CheckpointError (ValueError)         a checkpoint that cannot be read or written

Bad configuration raises :class:`~childsafe.exceptions.ConfigurationError`, listing every
problem with its path. A chain that fails verification is no exception:
:func:`~childsafe.audit.verify_chain` returns a :class:`~childsafe.audit.VerifyReport`
naming the first broken link.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

from childsafe.exceptions import ChildsafeError

__all__ = [
    "AuditError",
    "AuditKeyError",
    "AuditRecordError",
    "AuditStoreError",
    "AuditUnavailableError",
    "CheckpointError",
]


class AuditError(ChildsafeError):
    """Base class of the audit trail's errors."""


class AuditRecordError(AuditError, ValueError):
    """A stored record, a bundle or the data of a new record is malformed; the message
    names the record (its ``seq``) or the bundle entry and the field."""


class AuditKeyError(AuditError, ValueError):
    """A pseudonymisation key or a checkpoint-signing key is malformed, too short or
    unknown (the message names the key id)."""


class AuditStoreError(AuditError, ConnectionError):
    """The audit store could not be opened, read or written (the message names it)."""


class AuditUnavailableError(AuditStoreError):
    """A record was not accepted (the buffer stayed full for ``block_timeout`` seconds
    while the store was failing) or was not committed in time. Catch it where the app
    records denials, setting changes, consent events and complaints: they are never
    dropped silently."""


class CheckpointError(AuditError, ValueError):
    """A checkpoint file that cannot be read, parsed or written."""
