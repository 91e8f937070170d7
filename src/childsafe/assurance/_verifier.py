"""Verifying age-assurance tokens: :class:`TokenVerifier` and its result, :class:`VerifiedAge`."""

from __future__ import annotations

import binascii
import datetime as dt
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, NamedTuple, Self, cast

import attrs
import httpx
import jwt

from childsafe._bands import AgeBand, Assurance
from childsafe._config import ProblemCollector, structure
from childsafe._durations import seconds_problem
from childsafe._model import Account
from childsafe._parsing import (
    ParseError,
    check_depth,
    load_json,
    load_toml,
    read_config,
    shown,
)
from childsafe.assurance._cache import TokenCache
from childsafe.assurance._claims import ANYWHERE_ON_EARTH
from childsafe.assurance._errors import (
    AlgorithmNotAllowedError,
    ExpiredTokenError,
    InvalidAudienceError,
    InvalidClaimError,
    InvalidSignatureError,
    KeysUnavailableError,
    MalformedTokenError,
    MissingClaimError,
    NotYetValidTokenError,
    OversizedTokenError,
    TokenError,
    UnknownKeyError,
    UntrustedIssuerError,
)
from childsafe.assurance._issuers import IssuerConfig, issuer_from
from childsafe.assurance._jwks import SYMMETRIC_ALGORITHMS, JwksCache, KeySet
from childsafe.assurance._signals import (
    AgeSignal,
    AssurancePolicy,
    assurance_policy_from,
    combine_signals,
    rebase,
)
from childsafe.exceptions import ConfigProblem, ConfigurationError, InvalidAgeError
from childsafe.typing import Resolver
from childsafe.web import bearer_token

__all__ = ["TokenVerifier", "VerifiedAge"]

_SOURCE: Final = "TokenVerifier"
_URLSAFE: Final = bytes.maketrans(b"-_", b"+/")

# pyjwt checks the JWS: the header, the algorithm against the allow-list, critical
# extensions and the signature. The verifier checks the claims itself, on the payload
# pyjwt verified, so the times use the same `now` as the token cache.
_JWS: Final = jwt.PyJWS(options={"enforce_minimum_key_length": True})
# Tokens signed with the same key share their header segment: its alg and kid are
# remembered (valid headers only) instead of parsed for every token.
_HEADER_CACHE_SIZE: Final = 256


@attrs.frozen(slots=True)
class VerifiedAge:
    """What a valid token says about its subject's age.

    ``band`` is the band to treat them as: the youngest band among the token's age
    claims (``claimed_band``, set by the claim named in ``source``), after the
    :class:`AssurancePolicy` (a self-declared ``adult`` becomes the policy's fallback).
    ``signals`` lists every age claim found.

    .. versionadded:: 0.1.0
    """

    band: AgeBand
    assurance: Assurance
    issuer: str
    subject: str
    expires_at: dt.datetime
    source: str
    claimed_band: AgeBand
    signals: tuple[AgeSignal, ...] = ()

    @property
    def signal(self) -> AgeSignal:
        """The token as one signal, to weigh against others with :func:`combine_signals`."""
        return AgeSignal(self.claimed_band, self.assurance, self.source)

    def to_account(
        self,
        *,
        account_id: str | None = None,
        jurisdiction: str | None = None,
        timezone: str | None = None,
    ) -> Account:
        """An :class:`~childsafe.Account` with this band and assurance; its id is the
        token's ``sub`` unless ``account_id`` is given."""
        return Account(
            id=self.subject if account_id is None else account_id,
            band=self.band,
            assurance=self.assurance,
            jurisdiction=jurisdiction,
            timezone=timezone,
        )


class _Trusted:
    """An issuer as the verifier uses it: config plus its key source."""

    __slots__ = ("audience", "config", "daily", "jwks", "static")

    def __init__(self, config: IssuerConfig, jwks: JwksCache | None) -> None:
        self.config = config
        self.audience = frozenset(config.audience)
        self.static: KeySet | None = config.static_keys
        self.jwks = jwks
        self.daily = config.claims.needs_daily_refresh()


# Claims nest a little (verified_claims.claims.birthdate); nothing needs more than this.
_TOKEN_DEPTH: Final = 16


def _segment(segment: str, what: str) -> bytes:
    try:
        return binascii.a2b_base64(
            segment.encode("ascii").translate(_URLSAFE) + b"=" * (-len(segment) % 4),
            strict_mode=True,
        )
    except ValueError as e:  # binascii.Error and UnicodeEncodeError
        raise MalformedTokenError(f"the {what} is not base64url") from e


def _header(segment: str) -> tuple[str, str | None]:
    """The ``alg`` and ``kid`` of a token's header segment."""
    header = _json_object(_segment(segment, "header"), "header")
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise MalformedTokenError(f"the header's alg must be a string, got {_short(alg)}")
    if alg.lower() == "none":
        raise AlgorithmNotAllowedError("unsigned tokens (alg 'none') are never accepted")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise MalformedTokenError(f"the header's kid must be a string, got {_short(kid)}")
    return alg, kid


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        # The token's size is already bounded; a repeated claim ("age" twice) is refused.
        value = load_json(raw, max_bytes=len(raw), max_depth=_TOKEN_DEPTH)
    except ParseError as e:
        raise MalformedTokenError(f"the {what} is not valid JSON: {e}") from e
    if not isinstance(value, dict):
        raise MalformedTokenError(f"the {what} is not a JSON object")
    return value


class _Inspected(NamedTuple):
    """A token's parts as read before its signature is checked (only to choose the
    issuer and key; pyjwt then verifies the very same bytes)."""

    trusted: _Trusted
    alg: str
    kid: str | None
    payload: bytes
    claims: dict[str, Any]


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _translate(error: jwt.PyJWTError) -> TokenError:
    """The childsafe error for a pyjwt error (the caller chains it with ``from``)."""
    if isinstance(error, jwt.InvalidSignatureError):
        return InvalidSignatureError("the signature does not verify with the issuer's key")
    if isinstance(error, jwt.InvalidAlgorithmError):
        return AlgorithmNotAllowedError(f"pyjwt refused the algorithm ({error})")
    if isinstance(error, jwt.InvalidKeyError):
        return UnknownKeyError(f"the issuer's key cannot verify this token ({error})")
    return MalformedTokenError(f"pyjwt could not read the token ({error})")


def _check_audience(claims: Mapping[str, Any], audience: frozenset[str]) -> None:
    aud = claims.get("aud")
    if type(aud) is str and aud in audience:
        return
    if aud is None:
        raise InvalidAudienceError("the token has no aud claim")
    values = [aud] if isinstance(aud, str) else aud
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise InvalidAudienceError(
            f"claim 'aud' must be a string or a list of strings, got {_short(aud)}"
        )
    if audience.isdisjoint(values):
        raise InvalidAudienceError(f"the token is for {_short(aud)}, not for this platform")


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    try:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(name)  # noqa: TRY301 - one message for every wrong shape
        number = float(value)  # an integer too large for a float raises OverflowError
        if not math.isfinite(number):
            raise OverflowError(name)  # noqa: TRY301
    except (TypeError, OverflowError) as e:
        raise InvalidClaimError(
            f"claim {name!r} must be a time in seconds, got {_short(value)}"
        ) from e
    return number


# Seconds since the epoch of 0001-01-02 and 9999-12-30: any time a calendar can hold.
_EARLIEST: Final = -62135510400
_LATEST: Final = 253402041600


def _check_now(now: object) -> None:
    # A plain range check: this runs on every verify, cached tokens included.
    if (
        isinstance(now, bool)
        or not isinstance(now, int | float)
        or not (_EARLIEST <= now <= _LATEST)
    ):
        raise InvalidAgeError(
            f"now must be a number of seconds since the epoch within the years 1-9999, got {now!r}"
        )


def _utc(timestamp: float) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(timestamp, dt.UTC)
    except (OverflowError, OSError, ValueError) as e:
        raise InvalidClaimError(f"{timestamp!r} is not a representable time") from e


def _next_aoe_midnight(now: float) -> float:
    local = dt.datetime.fromtimestamp(now, ANYWHERE_ON_EARTH)
    tomorrow = dt.datetime.combine(
        local.date() + dt.timedelta(days=1), dt.time(), tzinfo=ANYWHERE_ON_EARTH
    )
    return tomorrow.timestamp()


class TokenVerifier:
    """Turns age-assurance tokens (signed JWTs) from trusted issuers into
    :class:`VerifiedAge` results, or raises a :class:`TokenError` saying why not.

    >>> import jwt
    >>> from childsafe.assurance import IssuerConfig, TokenVerifier
    >>> secret = "a test secret that is long enough!!"
    >>> verifier = TokenVerifier([
    ...     IssuerConfig(issuer="https://age.example", audience="my-app",
    ...                  algorithms=["HS256"], shared_secret=secret, assurance="estimated")
    ... ])
    >>> token = jwt.encode({"iss": "https://age.example", "aud": "my-app", "sub": "u1",
    ...                     "exp": 2_000_000_000, "age_band": "13_15"}, secret)
    >>> verifier.verify(token, now=1_750_000_000).band
    <AgeBand.AGE_13_15: '13_15'>

    ``issuers``: the trusted :class:`IssuerConfig` items (each ``iss`` once).
    ``assurance_policy``: the assurance each band needs (:class:`AssurancePolicy`).
    ``cache_size``: how many verified tokens to remember (0: none); each is kept at
    most ``cache_ttl`` seconds and never past its ``exp``.
    ``http_client`` / ``async_http_client``: the httpx clients to fetch JWK sets with
    (created, and closed by :meth:`close` / :meth:`aclose`, when not given).
    ``clock``: the time in seconds since the epoch, when a call gives no ``now``.

    The verifier is safe to share between threads and tasks.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        issuers: Iterable[IssuerConfig],
        *,
        assurance_policy: AssurancePolicy | None = None,
        cache_size: int = 4096,
        cache_ttl: float = 300.0,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        problems: list[ConfigProblem] = []
        given: object = issuers
        entries: list[object] = list(given) if isinstance(given, Iterable) else []
        if not entries:
            problems.append(ConfigProblem(_SOURCE, "issuers", "expected at least one issuer"))
        seen: set[str] = set()
        configs: list[IssuerConfig] = []
        for i, config in enumerate(entries):
            if not isinstance(config, IssuerConfig):
                problems.append(
                    ConfigProblem(
                        _SOURCE, f"issuers[{i}]", f"expected an IssuerConfig, got {config!r}"
                    )
                )
            elif config.issuer in seen:
                problems.append(
                    ConfigProblem(
                        _SOURCE, f"issuers[{i}].issuer", f"{config.issuer!r} appears twice"
                    )
                )
            else:
                seen.add(config.issuer)
                configs.append(config)
        policy: object = AssurancePolicy() if assurance_policy is None else assurance_policy
        if not isinstance(policy, AssurancePolicy):
            problems.append(
                ConfigProblem(_SOURCE, "assurance", f"expected an AssurancePolicy, got {policy!r}")
            )
        size: object = cache_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            problems.append(
                ConfigProblem(
                    _SOURCE, "cache_size", f"expected a count >= 0, got {shown(cache_size)}"
                )
            )
        problem = seconds_problem(cache_ttl, positive=True, maximum=86400.0)
        if problem is not None:
            problems.append(ConfigProblem(_SOURCE, "cache_ttl", problem))
        if problems:
            raise ConfigurationError(problems)

        assert isinstance(policy, AssurancePolicy)
        self.assurance_policy = policy
        self.clock = clock
        self.cache_ttl = float(cache_ttl)
        self.cache: TokenCache[VerifiedAge] = TokenCache(cache_size)
        self._http_client = http_client
        self._async_http_client = async_http_client
        self._owns_client = False
        self._owns_async_client = False
        self._client_lock = threading.Lock()
        self._trusted = {
            c.issuer: _Trusted(c, self._jwks_cache(c) if c.jwks_url is not None else None)
            for c in configs
        }
        self._max_bytes = max(c.max_token_bytes for c in configs)
        self._headers: dict[str, tuple[str, str | None]] = {}
        self._midnight = (-math.inf, 0.0)  # (valid from, next midnight at UTC-12)

    def _jwks_cache(self, config: IssuerConfig) -> JwksCache:
        assert config.jwks_url is not None
        return JwksCache(
            config.jwks_url,
            client=self._client,
            async_client=self._async_client,
            ttl=config.jwks_ttl,
            cooldown=config.jwks_cooldown,
            timeout=config.jwks_timeout,
            max_stale=config.jwks_max_stale,
        )

    # ------------------------------------------------------------ construction

    @classmethod
    def from_mapping(
        cls,
        data: Mapping[str, Any],
        *,
        source: str = "<mapping>",
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
    ) -> TokenVerifier:
        """A verifier from a config table: ``issuers`` (a list of issuer tables),
        optionally ``assurance`` (an :class:`AssurancePolicy` table), ``cache_size`` and
        ``cache_ttl``. Unknown keys and every other problem are reported at once, each
        with its path."""
        problems = ProblemCollector(source)
        try:
            check_depth(data)
        except ParseError as e:
            problems.add("", str(e))
            problems.raise_if_any()
        doc = structure(data, _VerifierDoc, problems, "")
        if doc is None:
            problems.raise_if_any()
            raise AssertionError  # structure() reported why
        issuers: list[IssuerConfig] = []
        if not isinstance(doc.issuers, list):
            problems.add("issuers", "expected a list of issuer tables ([[issuers]] in TOML)")
        else:
            for i, item in enumerate(doc.issuers):
                config = issuer_from(item, problems, f"issuers[{i}]")
                if config is not None:
                    issuers.append(config)
        policy = None
        if doc.assurance is not None:
            policy = assurance_policy_from(doc.assurance, problems, "assurance")
        problems.raise_if_any()
        options: dict[str, Any] = {"cache_size": doc.cache_size, "cache_ttl": doc.cache_ttl}
        try:
            return cls(
                issuers,
                assurance_policy=policy,
                http_client=http_client,
                async_http_client=async_http_client,
                **{k: v for k, v in options.items() if v is not None},
            )
        except ConfigurationError as e:
            rebase(problems, "", e)
            problems.raise_if_any()
            raise  # pragma: no cover - rebase always adds the problems

    @classmethod
    def from_toml(
        cls,
        text: str | bytes,
        *,
        source: str = "<toml>",
        **clients: Any,  # noqa: ANN401
    ) -> TokenVerifier:
        """A verifier from TOML text, or its UTF-8 bytes (see :meth:`from_mapping` for
        the keys)."""
        given: object = text
        if isinstance(given, bytes | bytearray):
            try:
                text = bytes(given).decode("utf-8")
            except UnicodeDecodeError as e:
                raise ConfigurationError([ConfigProblem(source, "", f"not UTF-8: {e}")]) from None
        elif not isinstance(given, str):
            raise ConfigurationError(
                [ConfigProblem(source, "", f"expected TOML text, got {type(given).__name__}")]
            )
        try:
            data = load_toml(cast("str", text))
        except ParseError as e:
            raise ConfigurationError([ConfigProblem(source, "", f"not valid TOML: {e}")]) from e
        return cls.from_mapping(data, source=source, **clients)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **clients: Any) -> TokenVerifier:  # noqa: ANN401
        """A verifier from a TOML file."""
        source, data = read_config(path)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ConfigurationError([ConfigProblem(source, "", f"cannot read: {e}")]) from None
        return cls.from_toml(text, source=source, **clients)

    @property
    def issuers(self) -> tuple[IssuerConfig, ...]:
        """The trusted issuers."""
        return tuple(t.config for t in self._trusted.values())

    def jwks(self, issuer: str) -> JwksCache | None:
        """The JWKS cache of ``issuer`` (``None`` for issuers with static keys)."""
        return self._trusted[issuer].jwks

    # ------------------------------------------------------------ verification

    def verify(self, token: str, *, now: float | None = None) -> VerifiedAge:
        """The age ``token`` asserts, or a :class:`TokenError` saying why it is refused.

        ``now`` (seconds since the epoch) defaults to the verifier's clock. Fetches keys over the
        network only when the issuer's key set is not cached yet or lacks the token's
        ``kid`` (at most once per cool-down).
        """
        if now is None:
            now = self.clock()
        _check_now(now)
        if type(token) is str:
            hit = self.cache.get(token, now)
            if hit is not None:
                return hit
        seen = self._inspect(token)
        return self._finish(token, seen, self._key(seen, now), now)

    async def verify_async(self, token: str, *, now: float | None = None) -> VerifiedAge:
        """:meth:`verify` for async code: key sets are fetched with the async client."""
        if now is None:
            now = self.clock()
        _check_now(now)
        if type(token) is str:
            hit = self.cache.get(token, now)
            if hit is not None:
                return hit
        seen = self._inspect(token)
        jwks = seen.trusted.jwks
        if seen.alg in SYMMETRIC_ALGORITHMS or jwks is None:
            key = self._key(seen, now)
        else:
            key = await jwks.key_for_async(seen.alg, seen.kid, now)
        return self._finish(token, seen, key, now)

    def _inspect(self, token: object) -> _Inspected:
        if not isinstance(token, str):
            raise MalformedTokenError(f"a token must be a string, got {type(token).__name__}")
        if len(token) > self._max_bytes:
            raise OversizedTokenError(
                f"the token is {len(token)} bytes; the limit is {self._max_bytes}"
            )
        parts = token.split(".")
        if len(parts) != 3:
            what = "an encrypted token (JWE)" if len(parts) == 5 else "not a signed JWT"
            raise MalformedTokenError(f"{what}: expected three dot-separated parts")
        header = self._headers.get(parts[0])
        if header is None:
            header = _header(parts[0])
            if len(self._headers) >= _HEADER_CACHE_SIZE:
                self._headers.clear()
            self._headers[parts[0]] = header
        alg, kid = header
        payload = _segment(parts[1], "payload")
        claims = _json_object(payload, "payload")
        iss = claims.get("iss")
        if iss is None:
            raise UntrustedIssuerError("the token has no iss claim")
        trusted = self._trusted.get(iss) if isinstance(iss, str) else None
        if trusted is None:
            raise UntrustedIssuerError(f"issuer {_short(iss)} is not trusted")
        config = trusted.config
        if len(token) > config.max_token_bytes:
            raise OversizedTokenError(
                f"the token is {len(token)} bytes; {config.issuer}'s limit is "
                f"{config.max_token_bytes}"
            )
        if alg not in config.algorithms:
            raise AlgorithmNotAllowedError(
                f"{config.issuer} is trusted for {', '.join(config.algorithms)}, not {_short(alg)}"
            )
        return _Inspected(trusted, alg, kid, payload, claims)

    def _key(self, seen: _Inspected, now: float) -> Any:  # noqa: ANN401
        trusted, alg, kid = seen.trusted, seen.alg, seen.kid
        if alg in SYMMETRIC_ALGORITHMS:
            return trusted.config.secret
        if trusted.jwks is not None:
            return trusted.jwks.key_for(alg, kid, now)
        assert trusted.static is not None
        key = trusted.static.find(alg, kid)
        if key is None:
            raise UnknownKeyError(
                f"no key of {trusted.config.issuer} has kid {kid!r} and fits {alg}"
            )
        return key

    def _finish(self, token: str, seen: _Inspected, key: Any, now: float) -> VerifiedAge:  # noqa: ANN401
        trusted = seen.trusted
        config = trusted.config
        try:
            verified = _JWS.decode_complete(token, key, algorithms=(seen.alg,))
        except jwt.PyJWTError as e:
            raise _translate(e) from e
        if verified["payload"] != seen.payload:  # pragma: no cover - both decode one segment
            raise MalformedTokenError("the payload pyjwt verified is not the one inspected")
        claims = seen.claims
        _check_audience(claims, trusted.audience)
        leeway = config.leeway
        exp = _number(claims, "exp")
        if exp is None:
            raise MissingClaimError("the token has no exp claim: age tokens must expire")
        if now >= exp + leeway:
            raise ExpiredTokenError(f"the token expired at {_utc(exp).isoformat()}")
        nbf = _number(claims, "nbf")
        if nbf is not None and nbf > now + leeway:
            raise NotYetValidTokenError(f"the token is not valid before {_utc(nbf).isoformat()}")
        iat = _number(claims, "iat")
        if iat is not None and iat > now + leeway:
            raise NotYetValidTokenError(
                f"the token was issued in the future ({_utc(iat).isoformat()})"
            )
        subject = claims.get("sub")
        if subject is None:
            raise MissingClaimError("the token has no sub claim")
        if not isinstance(subject, str) or not subject:
            raise InvalidClaimError(
                f"claim 'sub' must be a non-empty string, got {_short(subject)}"
            )
        signals, assurance = config.claims.signals(claims, now=now, assurance=config.assurance)
        winner = signals[0] if len(signals) == 1 else combine_signals(*signals)
        result = VerifiedAge(
            band=self.assurance_policy.apply(winner.band, assurance),
            assurance=assurance,
            issuer=config.issuer,
            subject=subject,
            expires_at=_utc(exp),
            source=winner.source,
            claimed_band=winner.band,
            signals=signals,
        )
        until = min(exp, now + self.cache_ttl)
        if trusted.daily:
            until = min(until, self._next_midnight(now))
        self.cache.put(token, result, until)
        return result

    def _next_midnight(self, now: float) -> float:
        start, midnight = self._midnight
        if not start <= now < midnight:
            midnight = _next_aoe_midnight(now)
            self._midnight = (midnight - 86400.0, midnight)
        return midnight

    # ---------------------------------------------------------------- the edge

    def resolver(
        self,
        *,
        header: str | None = "authorization",
        cookie: str | None = None,
        account: Callable[[VerifiedAge], Account | None] | None = None,
    ) -> Resolver:
        """A resolver for the request layer: the token from ``Authorization: Bearer``
        (or the ``cookie`` named) becomes an account. ``account`` builds it from the
        :class:`VerifiedAge` (default: :meth:`VerifiedAge.to_account`, id = ``sub``).

        A refused token raises its :class:`TokenError`; the request layer then fails
        closed to the protective unknown-age account and records the error, code
        first, in the ``error`` of its :class:`~childsafe.Resolution`.
        """
        build = VerifiedAge.to_account if account is None else account

        def verify_token(token: str) -> Account | None:
            return build(self.verify(token))

        return bearer_token(verify_token, header=header, cookie=cookie)

    def resolver_async(
        self,
        *,
        header: str | None = "authorization",
        cookie: str | None = None,
        account: Callable[[VerifiedAge], Account | None] | None = None,
    ) -> Resolver:
        """:meth:`resolver` for ASGI apps: key sets are fetched with the async client."""
        build = VerifiedAge.to_account if account is None else account

        async def verify_token(token: str) -> Account | None:
            return build(await self.verify_async(token))

        # bearer_token accepts a coroutine function under ASGI (see its docstring).
        verify = cast("Callable[[str], Account | None]", verify_token)
        return bearer_token(verify, header=header, cookie=cookie)

    # -------------------------------------------------------------- key sets

    def refresh(self, *, now: float | None = None) -> None:
        """Fetch every issuer's JWK set now (at start-up, say), whatever the cool-down.

        Raises :class:`KeysUnavailableError` naming the sets that could not be fetched;
        those issuers keep their last good set.
        """
        when = self.clock() if now is None else now
        failed = [
            f"{t.config.issuer} ({t.jwks.last_error})"
            for t in self._trusted.values()
            if t.jwks is not None and not t.jwks.refresh(when)
        ]
        if failed:
            raise KeysUnavailableError(f"could not fetch the key sets of {', '.join(failed)}")

    async def refresh_async(self, *, now: float | None = None) -> None:
        """:meth:`refresh` with the async client."""
        when = self.clock() if now is None else now
        failed = [
            f"{t.config.issuer} ({t.jwks.last_error})"
            for t in self._trusted.values()
            if t.jwks is not None and not await t.jwks.refresh_async(when)
        ]
        if failed:
            raise KeysUnavailableError(f"could not fetch the key sets of {', '.join(failed)}")

    def _client(self) -> httpx.Client:
        with self._client_lock:  # only ever on the way to a fetch, never on the hot path
            if self._http_client is None:
                self._http_client = httpx.Client(follow_redirects=False)
                self._owns_client = True
            return self._http_client

    def _async_client(self) -> httpx.AsyncClient:
        with self._client_lock:
            if self._async_http_client is None:
                self._async_http_client = httpx.AsyncClient(follow_redirects=False)
                self._owns_async_client = True
            return self._async_http_client

    def close(self) -> None:
        """Wait for any background key refresh, then close the sync HTTP client if the
        verifier created it (a client it was given is left to its owner)."""
        for trusted in self._trusted.values():
            thread = trusted.jwks.refresher if trusted.jwks is not None else None
            if thread is not None:
                thread.join()
        if self._owns_client and self._http_client is not None:
            self._http_client.close()
            self._http_client = None
            self._owns_client = False

    async def aclose(self) -> None:
        """:meth:`close`, and close the async HTTP client if the verifier created it."""
        self.close()
        if self._owns_async_client and self._async_http_client is not None:
            await self._async_http_client.aclose()
            self._async_http_client = None
            self._owns_async_client = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


@attrs.define
class _VerifierDoc:
    issuers: Any
    assurance: Any = None
    cache_size: int | None = None
    cache_ttl: Any = None
