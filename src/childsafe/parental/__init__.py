"""Parental controls: guardian links, parent locks and consent grants.

Link a guardian with :func:`link_guardian`; the account then says it is supervised (and
by whom), so the child's UI can show it. A parent changes settings through
:meth:`childsafe.Guard.change_setting` with ``by="parent"`` and ``guardian=``; the child
cannot loosen what a parent locked. A :class:`ConsentIssuer` signs consent grants, a
:class:`ConsentVerifier` checks them at resolution time against a shared
:class:`RevocationStore` (or, in async apps, an :class:`AsyncRevocationStore`) and puts
the scopes that count on the account, where the pure engine reads them. See
:doc:`/parental-controls`.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from childsafe._supervision import (
    CONSENT_BASED,
    DEFAULT_AGE_OF_DIGITAL_CONSENT,
    ConsentScope,
    Supervision,
)
from childsafe.parental._errors import (
    ExpiredGrantError,
    GrantConfigError,
    GrantError,
    GuardianLinkError,
    InvalidGrantSignatureError,
    MalformedGrantError,
    NotAGuardianError,
    NotYetValidGrantError,
    RevocationStoreError,
    RevokedGrantError,
    UntrustedGrantError,
    WrongChildError,
)
from childsafe.parental._grants import (
    GRANT_TYPE,
    ConsentGrant,
    ConsentIssuer,
    ConsentResult,
    ConsentVerifier,
)
from childsafe.parental._links import link_guardian, unlink_guardian
from childsafe.parental._postgres import AsyncPostgresRevocationStore, PostgresRevocationStore
from childsafe.parental._redis import AsyncRedisRevocationStore, RedisRevocationStore
from childsafe.parental._stores import (
    AsyncRevocationStore,
    AsyncStoreAdapter,
    MemoryRevocationStore,
    RevocationStore,
    SQLiteRevocationStore,
)

__all__ = [
    "CONSENT_BASED",
    "DEFAULT_AGE_OF_DIGITAL_CONSENT",
    "GRANT_TYPE",
    "AsyncPostgresRevocationStore",
    "AsyncRedisRevocationStore",
    "AsyncRevocationStore",
    "AsyncStoreAdapter",
    "ConsentGrant",
    "ConsentIssuer",
    "ConsentResult",
    "ConsentScope",
    "ConsentVerifier",
    "ExpiredGrantError",
    "GrantConfigError",
    "GrantError",
    "GuardianLinkError",
    "InvalidGrantSignatureError",
    "MalformedGrantError",
    "MemoryRevocationStore",
    "NotAGuardianError",
    "NotYetValidGrantError",
    "PostgresRevocationStore",
    "RedisRevocationStore",
    "RevocationStore",
    "RevocationStoreError",
    "RevokedGrantError",
    "SQLiteRevocationStore",
    "Supervision",
    "UntrustedGrantError",
    "WrongChildError",
    "link_guardian",
    "unlink_guardian",
]

for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = "childsafe.parental"
del _name, _obj
