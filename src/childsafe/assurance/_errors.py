"""Why an age-assurance token was refused.

Every refusal is a :class:`TokenError` with a stable ``code``; at the edge the request
is treated as the protective unknown-age account and the code appears in the reason
recorded for it::

    TokenError (ChildsafeError, ValueError)     code
    ├── MalformedTokenError                     malformed
    ├── OversizedTokenError                     oversized
    ├── ExpiredTokenError                       expired
    ├── NotYetValidTokenError                   not_yet_valid
    ├── UntrustedIssuerError                    untrusted_issuer
    ├── InvalidAudienceError                    wrong_audience
    ├── AlgorithmNotAllowedError                algorithm_not_allowed
    ├── UnknownKeyError                         unknown_key
    │   └── KeysUnavailableError                keys_unavailable
    ├── InvalidSignatureError                   bad_signature
    ├── InvalidClaimError                       invalid_claim
    └── MissingClaimError                       missing_claim
        └── MissingAgeClaimError                missing_age_claim

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from typing import ClassVar

from childsafe.exceptions import ChildsafeError

__all__ = [
    "AlgorithmNotAllowedError",
    "ExpiredTokenError",
    "InvalidAudienceError",
    "InvalidClaimError",
    "InvalidSignatureError",
    "KeysUnavailableError",
    "MalformedTokenError",
    "MissingAgeClaimError",
    "MissingClaimError",
    "NotYetValidTokenError",
    "OversizedTokenError",
    "TokenError",
    "UnknownKeyError",
    "UntrustedIssuerError",
]


class TokenError(ChildsafeError, ValueError):
    """An age-assurance token was refused. ``code`` says why, in a stable word that is
    safe to log and to count; the message says what was wrong in words.

    ``str()`` starts with the code in brackets (``"[expired] the token expired at
    ..."``), so the reason a resolver that raised records, and logs, carries it;
    ``message`` is the text alone.
    """

    code: ClassVar[str] = "invalid_token"

    def __init__(self, message: str) -> None:
        self.message = message
        # The code is part of the text, so it survives str(), repr() and log lines.
        super().__init__(f"[{self.code}] {message}")


class MalformedTokenError(TokenError):
    """Not a compact JWS: wrong number of segments, bad base64url or JSON, not a string."""

    code = "malformed"


class OversizedTokenError(TokenError):
    """Longer than the configured ``max_token_bytes``; refused before it is parsed."""

    code = "oversized"


class ExpiredTokenError(TokenError):
    """Its ``exp`` (plus the leeway) has passed."""

    code = "expired"


class NotYetValidTokenError(TokenError):
    """Its ``nbf`` or ``iat`` lies in the future (beyond the leeway)."""

    code = "not_yet_valid"


class UntrustedIssuerError(TokenError):
    """No ``iss`` claim, or one that names no configured issuer."""

    code = "untrusted_issuer"


class InvalidAudienceError(TokenError):
    """No ``aud`` claim, or none of its values is an audience the issuer is trusted for."""

    code = "wrong_audience"


class AlgorithmNotAllowedError(TokenError):
    """Its ``alg`` is not on the issuer's allow-list (``none`` never is)."""

    code = "algorithm_not_allowed"


class UnknownKeyError(TokenError):
    """No key of the issuer fits the token's ``kid`` and ``alg``."""

    code = "unknown_key"


class KeysUnavailableError(UnknownKeyError):
    """The issuer's JWKS could not be fetched and no earlier key set can stand in."""

    code = "keys_unavailable"


class InvalidSignatureError(TokenError):
    """The signature does not verify with the issuer's key."""

    code = "bad_signature"


class InvalidClaimError(TokenError):
    """A claim has the wrong type or an impossible value (a birth date in the future, an
    ``age`` that is not a whole number, contradictory ``age_over`` booleans)."""

    code = "invalid_claim"


class MissingClaimError(TokenError):
    """A required claim (``exp``, ``sub``, ``aud``) is absent."""

    code = "missing_claim"


class MissingAgeClaimError(MissingClaimError):
    """None of the claims the issuer's mapping names is in the token."""

    code = "missing_age_claim"
