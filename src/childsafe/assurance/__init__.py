"""Age-assurance tokens: signed JWTs from trusted issuers turned into age bands.

An age-assurance provider, an app store's age signal or the platform's own identity
service asserts an age in a signed token. :class:`TokenVerifier` checks it against the
issuers it trusts and gives a :class:`VerifiedAge`; anything wrong with the token raises
a :class:`TokenError` whose ``code`` says what, and at the edge the request falls back
to the protective unknown-age account. See :doc:`/age-assurance`.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from childsafe.assurance._cache import TokenCache
from childsafe.assurance._claims import ClaimMapping
from childsafe.assurance._errors import (
    AlgorithmNotAllowedError,
    ExpiredTokenError,
    InvalidAudienceError,
    InvalidClaimError,
    InvalidSignatureError,
    KeysUnavailableError,
    MalformedTokenError,
    MissingAgeClaimError,
    MissingClaimError,
    NotYetValidTokenError,
    OversizedTokenError,
    TokenError,
    UnknownKeyError,
    UntrustedIssuerError,
)
from childsafe.assurance._issuers import IssuerConfig
from childsafe.assurance._jwks import JwksCache
from childsafe.assurance._signals import AgeSignal, AssurancePolicy, combine_signals
from childsafe.assurance._verifier import TokenVerifier, VerifiedAge

__all__ = [
    "AgeSignal",
    "AlgorithmNotAllowedError",
    "AssurancePolicy",
    "ClaimMapping",
    "ExpiredTokenError",
    "InvalidAudienceError",
    "InvalidClaimError",
    "InvalidSignatureError",
    "IssuerConfig",
    "JwksCache",
    "KeysUnavailableError",
    "MalformedTokenError",
    "MissingAgeClaimError",
    "MissingClaimError",
    "NotYetValidTokenError",
    "OversizedTokenError",
    "TokenCache",
    "TokenError",
    "TokenVerifier",
    "UnknownKeyError",
    "UntrustedIssuerError",
    "VerifiedAge",
    "combine_signals",
]

for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = "childsafe.assurance"
del _name, _obj
