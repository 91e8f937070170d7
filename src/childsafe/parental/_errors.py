"""Why a consent grant did not count, and other parental-controls errors.

A grant that fails any check counts as no grant (fail closed). Each failure is a
:class:`GrantError` with a stable ``code`` that is safe to log and to count::

    ChildsafeError
    ├── GrantError (ValueError)                 code
    │   ├── MalformedGrantError                 malformed
    │   ├── UntrustedGrantError                 untrusted
    │   ├── InvalidGrantSignatureError          bad_signature
    │   ├── ExpiredGrantError                   expired
    │   ├── NotYetValidGrantError               not_yet_valid
    │   ├── WrongChildError                     wrong_child
    │   ├── NotAGuardianError                   not_guardian
    │   └── RevokedGrantError                   revoked
    ├── RevocationStoreError (ConnectionError)  store_unavailable
    ├── GrantConfigError (ValueError)           a short secret, a bad algorithm or table ...
    └── GuardianLinkError (ValueError)          a guardian link that cannot be made

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from typing import ClassVar

from childsafe.exceptions import ChildsafeError

__all__ = [
    "ExpiredGrantError",
    "GrantConfigError",
    "GrantError",
    "GuardianLinkError",
    "InvalidGrantSignatureError",
    "MalformedGrantError",
    "NotAGuardianError",
    "NotYetValidGrantError",
    "RevocationStoreError",
    "RevokedGrantError",
    "UntrustedGrantError",
    "WrongChildError",
]


class GrantError(ChildsafeError, ValueError):
    """A consent grant does not count. ``code`` says why in a stable word; ``str()``
    starts with it in brackets (``"[expired] ..."``) and ``message`` is the text alone."""

    code: ClassVar[str] = "invalid_grant"

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(f"[{self.code}] {message}")


class MalformedGrantError(GrantError):
    """Not a consent grant: not a compact JWT, the wrong ``typ``, too long, or a claim
    missing or of the wrong type (including a scope that does not parse)."""

    code = "malformed"


class UntrustedGrantError(GrantError):
    """Issued by someone else: the wrong ``iss`` or ``aud``, or an algorithm other than
    the one the verifier is configured with (``none`` never is)."""

    code = "untrusted"


class InvalidGrantSignatureError(GrantError):
    """The signature does not verify with the platform's key."""

    code = "bad_signature"


class ExpiredGrantError(GrantError):
    """Its ``exp`` (plus the leeway) has passed."""

    code = "expired"


class NotYetValidGrantError(GrantError):
    """Its ``nbf`` or ``iat`` lies in the future (beyond the leeway)."""

    code = "not_yet_valid"


class WrongChildError(GrantError):
    """The grant names another child (``sub``)."""

    code = "wrong_child"


class NotAGuardianError(GrantError):
    """The guardian who granted it is not (or no longer) linked to the child."""

    code = "not_guardian"


class RevokedGrantError(GrantError):
    """The grant's ``jti`` is on the revocation list."""

    code = "revoked"


class RevocationStoreError(ChildsafeError, ConnectionError):
    """The revocation store could not be read or written; grants then count as none."""

    code: ClassVar[str] = "store_unavailable"


class GrantConfigError(ChildsafeError, ValueError):
    """A consent issuer, verifier or revocation store is misconfigured or misused: a
    secret shorter than 32 bytes, an algorithm that is not allowed, a key that does not
    fit it, a bad lifetime, a table name that is not a plain identifier, or an expiry
    that is not an aware datetime."""


class GuardianLinkError(ChildsafeError, ValueError):
    """A guardian link cannot be made or removed (a minor as guardian, an adult as the
    supervised account, an account linked to itself, a guardian that is not linked)."""
