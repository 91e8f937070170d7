"""Trusted issuers of age-assurance tokens, and the config documents that describe them."""

from __future__ import annotations

import ipaddress
import os
import types
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import attrs

from childsafe._bands import Assurance
from childsafe._config import ProblemCollector, structure
from childsafe._durations import seconds_problem
from childsafe._parsing import ParseError, check_depth, shown
from childsafe._settings import suggest
from childsafe.assurance._claims import ClaimMapping, claim_mapping_from
from childsafe.assurance._jwks import (
    ASYMMETRIC_ALGORITHMS,
    SYMMETRIC_ALGORITHMS,
    KeySet,
    load_pem,
    parse_jwks,
)
from childsafe.assurance._signals import as_assurance, rebase
from childsafe.exceptions import ConfigProblem, ConfigurationError

__all__ = ["IssuerConfig", "issuer_from"]

_SOURCE: Final = "IssuerConfig"
MIN_SECRET_BYTES: Final = 32
_LOCAL_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})

_Bad = Callable[[str, str], None]


def _strings(value: object) -> object:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Iterable) and not isinstance(value, bytes | Mapping):
        return tuple(value)
    return value  # checked in __attrs_post_init__


def _frozen(value: object) -> object:
    if isinstance(value, Mapping):
        return types.MappingProxyType(dict(value))
    return value


def _is_seconds(value: object, *, positive: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return value > 0 if positive else value >= 0


_DAY: Final = 86400.0
# (option, must be > 0, the most it may be): finite, and bounded so that no arithmetic
# on it overflows and no mistake (an hour typed as days) turns a check off.
_DURATIONS: Final = (
    ("leeway", False, 600.0),
    ("jwks_ttl", True, 7 * _DAY),
    ("jwks_cooldown", False, _DAY),
    ("jwks_timeout", True, 60.0),
    ("jwks_max_stale", True, 30 * _DAY),
)


def _local(host: str) -> bool:
    if host in _LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@attrs.frozen(slots=True)
class IssuerConfig:
    """One trusted issuer of age-assurance tokens.

    ``issuer``
        The exact ``iss`` of its tokens.
    ``audience``
        The ``aud`` value (or values) meaning "for this platform"; a token must name one.
    ``algorithms``
        The allow-list: any of ``RS256``, ``RS384``, ``RS512``, ``PS256``, ``PS384``,
        ``PS512``, ``ES256``, ``ES384``, ``ES512``, ``EdDSA``; and ``HS256``, ``HS384``,
        ``HS512`` only with a ``shared_secret``. ``none`` never.
    ``jwks`` / ``public_key`` / ``jwks_url``
        Exactly one source of public keys for the asymmetric algorithms: a static JWK
        set, a PEM public key, or the URL of a JWK set (HTTPS; plain HTTP only to the
        loopback interface, for tests).
    ``shared_secret``
        The HMAC secret for ``HS*``, at least 32 bytes. Never shown in ``repr``.
    ``claims``
        The :class:`ClaimMapping`: which claims carry the age and the assurance level.
    ``assurance``
        The level of this issuer's tokens when they carry no assurance claim.
    ``leeway``
        Seconds of clock skew tolerated on ``exp``, ``nbf`` and ``iat``.
    ``max_token_bytes``
        Longer tokens are refused unparsed.
    ``jwks_ttl``, ``jwks_cooldown``, ``jwks_timeout``, ``jwks_max_stale``
        Seconds: how long a fetched key set is fresh; the least time between two fetches
        (an unknown ``kid`` never triggers more); the HTTP timeout; how long a stale set
        is still used while the issuer cannot be reached.

    Every problem is reported at once as a
    :class:`~childsafe.exceptions.ConfigurationError`.

    .. versionadded:: 0.1.0
    """

    issuer: str
    audience: tuple[str, ...] = attrs.field(converter=_strings)
    algorithms: tuple[str, ...] = attrs.field(converter=_strings)
    jwks: Mapping[str, Any] | None = attrs.field(default=None, converter=_frozen)
    public_key: str | bytes | None = None
    jwks_url: str | None = None
    shared_secret: str | bytes | None = attrs.field(default=None, repr=False)
    claims: ClaimMapping = attrs.field(factory=ClaimMapping)
    assurance: Assurance = attrs.field(default=Assurance.SELF_DECLARED, converter=as_assurance)
    leeway: float = 30.0
    max_token_bytes: int = 8192
    jwks_ttl: float = 3600.0
    jwks_cooldown: float = 30.0
    jwks_timeout: float = 2.0
    jwks_max_stale: float = 86400.0
    static_keys: KeySet | None = attrs.field(init=False, repr=False, eq=False)
    secret: bytes | None = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        problems: list[ConfigProblem] = []

        def bad(path: str, message: str) -> None:
            problems.append(ConfigProblem(_SOURCE, path, message))

        issuer: object = self.issuer
        if not isinstance(issuer, str) or not issuer:
            bad("issuer", f"expected the issuer's 'iss' value, got {issuer!r}")
        audience: object = self.audience
        if (
            not isinstance(audience, tuple)
            or not audience
            or not all(isinstance(a, str) and a for a in audience)
        ):
            bad("audience", f"expected an audience or a list of them, got {self.audience!r}")
        self._check_assurance(bad)
        self._check_algorithms(bad)
        self._check_numbers(bad)
        claims: object = self.claims
        if not isinstance(claims, ClaimMapping):
            bad("claims", f"expected a ClaimMapping, got {claims!r}")
        object.__setattr__(self, "secret", self._check_secret(bad))
        object.__setattr__(self, "static_keys", self._check_keys(bad))
        if problems:
            raise ConfigurationError(problems)

    def _check_assurance(self, bad: _Bad) -> None:
        level: object = self.assurance
        if not isinstance(level, Assurance):
            names = ", ".join(repr(a.value) for a in Assurance)
            bad("assurance", f"expected one of {names}, got {level!r}")

    def _check_algorithms(self, bad: _Bad) -> None:
        known = (*ASYMMETRIC_ALGORITHMS, *SYMMETRIC_ALGORITHMS)
        algorithms: object = self.algorithms
        if not isinstance(algorithms, tuple) or not algorithms:
            bad(
                "algorithms", f"expected a list of algorithms such as ['ES256'], got {algorithms!r}"
            )
            return
        for i, alg in enumerate(algorithms):
            if isinstance(alg, str) and alg.lower() == "none":
                bad(f"algorithms[{i}]", "unsigned tokens ('none') can never be trusted")
            elif alg not in known:
                hint = suggest(alg, known) if isinstance(alg, str) else ""
                bad(
                    f"algorithms[{i}]",
                    f"unknown algorithm {alg!r}{hint}; known: {', '.join(known)}",
                )

    def _check_numbers(self, bad: _Bad) -> None:
        for name, positive, maximum in _DURATIONS:
            problem = seconds_problem(getattr(self, name), positive=positive, maximum=maximum)
            if problem is not None:
                bad(name, problem)
        size: object = self.max_token_bytes
        if isinstance(size, bool) or not isinstance(size, int) or size < 64:
            bad("max_token_bytes", f"expected a size in bytes >= 64, got {shown(size)}")
        if (
            _is_seconds(self.jwks_ttl, positive=True)
            and _is_seconds(self.jwks_max_stale, positive=True)
            and self.jwks_max_stale < self.jwks_ttl
        ):
            bad("jwks_max_stale", "must be at least jwks_ttl")

    def _uses(self, family: tuple[str, ...]) -> bool:
        algorithms: object = self.algorithms
        return isinstance(algorithms, tuple) and any(a in family for a in algorithms)

    def _check_secret(self, bad: _Bad) -> bytes | None:
        secret: object = self.shared_secret
        symmetric = self._uses(SYMMETRIC_ALGORITHMS)
        if secret is None:
            if symmetric:
                bad("shared_secret", "HS256 needs the secret shared with the issuer")
            return None
        if not symmetric:
            bad("shared_secret", "a shared secret is only used for HS256; list it in algorithms")
            return None
        if not isinstance(secret, str | bytes):
            bad("shared_secret", "expected a string or bytes")
            return None
        raw = secret.encode() if isinstance(secret, str) else secret
        if len(raw) < MIN_SECRET_BYTES:
            bad("shared_secret", f"too short: use at least {MIN_SECRET_BYTES} random bytes")
            return None
        if raw.lstrip().startswith((b"-----BEGIN", b"ssh-", b"{")):
            bad("shared_secret", "looks like a public key: keys go in public_key or jwks")
            return None
        return raw

    def _check_keys(self, bad: _Bad) -> KeySet | None:
        sources = [n for n in ("jwks", "public_key", "jwks_url") if getattr(self, n) is not None]
        asymmetric = self._uses(ASYMMETRIC_ALGORITHMS)
        if asymmetric and len(sources) != 1:
            bad(
                "jwks_url" if not sources else sources[1],
                "the asymmetric algorithms need exactly one of jwks, public_key and jwks_url"
                + (f" (got {', '.join(sources)})" if sources else ""),
            )
            return None
        if not asymmetric:
            if sources:
                bad(sources[0], "public keys are only used by asymmetric algorithms (ES256 ...)")
            return None
        if self.jwks_url is not None:
            self._check_url(bad)
            return None
        pem: object = self.public_key
        if pem is not None:
            key, problem = (
                load_pem(pem) if isinstance(pem, str | bytes) else (None, "expected a PEM string")
            )
            if key is None:
                bad("public_key", str(problem))
                return None
            return KeySet((key,), any_kid=True)
        keys, problems = parse_jwks(dict(self.jwks) if isinstance(self.jwks, Mapping) else None)
        for path, problem in problems:
            bad(f"jwks.{path}" if path else "jwks", problem)
        return keys if not problems else None

    def _check_url(self, bad: _Bad) -> None:
        url: object = self.jwks_url
        parts = urllib.parse.urlsplit(url) if isinstance(url, str) else None
        if isinstance(url, str) and any(c.isspace() or not c.isprintable() for c in url):
            # urlsplit drops tabs and line breaks and strips spaces, so the URL checked
            # would not be the one fetched: such a URL is refused, not cleaned up.
            bad("jwks_url", f"a URL has no spaces or control characters, got {shown(url)}")
        elif parts is None or parts.scheme not in {"https", "http"} or not parts.hostname:
            bad("jwks_url", f"expected an https:// URL, got {shown(url)}")
        elif parts.scheme == "http" and not _local(parts.hostname):
            bad("jwks_url", "keys must be fetched over https:// (plain http only to localhost)")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "<mapping>") -> IssuerConfig:
        """The issuer a config table describes (every problem reported at once)."""
        problems = ProblemCollector(source)
        try:
            check_depth(data)
        except ParseError as e:
            problems.add("", str(e))
            problems.raise_if_any()
        config = issuer_from(data, problems, "")
        problems.raise_if_any()
        assert config is not None
        return config


@attrs.define
class _IssuerDoc:
    issuer: str
    audience: Any
    algorithms: list[str]
    jwks: Any = None
    public_key: str | None = None
    jwks_url: str | None = None
    shared_secret: str | None = None
    shared_secret_env: str | None = None
    claims: Any = None
    assurance: str | None = None
    leeway: Any = None
    max_token_bytes: int | None = None
    jwks_ttl: Any = None
    jwks_cooldown: Any = None
    jwks_timeout: Any = None
    jwks_max_stale: Any = None


def issuer_from(data: object, problems: ProblemCollector, path: str) -> IssuerConfig | None:
    """The issuer in a config table, or ``None`` with its problems added.

    Besides :class:`IssuerConfig`'s fields the table may hold ``shared_secret_env``,
    the name of an environment variable holding the secret (keep secrets out of files).
    """
    doc = structure(data, _IssuerDoc, problems, path)
    if doc is None:
        return None
    before = len(problems)
    fields = {k: v for k, v in attrs.asdict(doc, recurse=False).items() if v is not None}
    env = fields.pop("shared_secret_env", None)
    if env is not None:
        where = f"{path}.shared_secret_env" if path else "shared_secret_env"
        if "shared_secret" in fields:
            problems.add(where, "give shared_secret or shared_secret_env, not both")
        elif not os.environ.get(env):
            problems.add(where, f"the environment variable {env!r} is not set")
        else:
            fields["shared_secret"] = os.environ[env]
    if "claims" in fields:
        claims = claim_mapping_from(
            fields["claims"], problems, f"{path}.claims" if path else "claims"
        )
        if claims is None:
            return None
        fields["claims"] = claims
    if len(problems) > before:
        return None
    try:
        return IssuerConfig(**fields)
    except ConfigurationError as e:
        rebase(problems, path, e)
        return None
