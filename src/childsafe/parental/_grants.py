"""Parental consent grants: signed, expiring, revocable receipts issued by the platform.

A grant is a JWT signed with the platform's own key (HS256 with a secret of at least
32 bytes, or RS256/PS256/ES256/EdDSA), with the header ``typ`` ``childsafe-consent+jwt``
so that no other token of the platform's can pass for one. Its claims: ``iss`` and
``aud`` (the platform and the consent audience), ``sub`` (the child's account id),
``guardian`` (the linked guardian who consented), ``scope`` (what was consented to, a
:class:`~childsafe.parental.ConsentScope`), ``iat``, ``nbf``, ``exp`` and a unique ``jti``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Iterable
from typing import Any, Final, TypeVar, cast

import attrs
import jwt

from childsafe._durations import describe_timedelta, seconds_problem, timedelta_problem
from childsafe._model import Account
from childsafe._parsing import load_json, shown
from childsafe._supervision import ConsentScope
from childsafe.exceptions import InvalidScopeError
from childsafe.parental._errors import (
    ExpiredGrantError,
    GrantConfigError,
    GrantError,
    InvalidGrantSignatureError,
    MalformedGrantError,
    NotAGuardianError,
    NotYetValidGrantError,
    RevocationStoreError,
    RevokedGrantError,
    UntrustedGrantError,
    WrongChildError,
)
from childsafe.parental._stores import (
    AsyncRevocationStore,
    AsyncStoreAdapter,
    RevocationStore,
    _is_async,
)

__all__ = ["GRANT_TYPE", "ConsentGrant", "ConsentIssuer", "ConsentResult", "ConsentVerifier"]

log = logging.getLogger("childsafe.parental")

GRANT_TYPE: Final = "childsafe-consent+jwt"
"""The JWT header ``typ`` of every consent grant."""
ALGORITHMS: Final = ("HS256", "RS256", "PS256", "ES256", "EdDSA")
DEFAULT_AUDIENCE: Final = "childsafe:consent"
MIN_SECRET_BYTES: Final = 32
MAX_GRANT_BYTES: Final = 4096
DEFAULT_STORE_TIMEOUT: Final = 2.0

T = TypeVar("T")
Refusal = GrantError | RevocationStoreError


def _prepare(algorithm: str, key: object, *, signing: bool) -> Any:  # noqa: ANN401
    if algorithm not in ALGORITHMS:
        raise GrantConfigError(
            f"algorithm {algorithm!r} is not allowed for consent grants; use one of "
            f"{', '.join(ALGORITHMS)}"
        )
    if algorithm == "HS256":
        if not isinstance(key, str | bytes):
            raise GrantConfigError(
                f"HS256 needs the platform's shared secret as str or bytes, got {type(key)!r}"
            )
        secret = key.encode() if isinstance(key, str) else key
        if len(secret) < MIN_SECRET_BYTES:
            raise GrantConfigError(
                f"an HS256 secret must be at least {MIN_SECRET_BYTES} bytes, got {len(secret)}"
            )
    try:
        prepared = jwt.get_algorithm_by_name(algorithm).prepare_key(key)
    except (jwt.InvalidKeyError, ValueError, TypeError) as e:
        raise GrantConfigError(f"the key does not fit {algorithm}: {e}") from e
    if algorithm == "HS256":
        return prepared
    private = hasattr(prepared, "sign")
    if signing and not private:
        raise GrantConfigError(f"issuing {algorithm} grants needs the private key")
    if not signing and private:
        return prepared.public_key()
    return prepared


def _aware(value: dt.datetime | None) -> dt.datetime:
    if value is None:
        return dt.datetime.now(dt.UTC)
    given: object = value
    if not isinstance(given, dt.datetime):
        raise GrantConfigError(f"now must be an aware datetime, got {shown(given)}")
    if value.tzinfo is None:
        raise GrantConfigError(f"now must be an aware datetime, got {value!r}")
    return value


@attrs.frozen
class ConsentGrant:
    """A verified consent grant: ``id`` (its ``jti``), the ``child`` and the
    ``guardian`` who consented (account ids), the ``scope``, and when it was issued and
    expires (aware UTC datetimes)."""

    id: str
    child: str
    guardian: str
    scope: ConsentScope
    issued_at: dt.datetime
    expires_at: dt.datetime


@attrs.frozen
class ConsentResult:
    """What :meth:`ConsentVerifier.apply` (or :meth:`~ConsentVerifier.apply_async`) found:
    the ``account`` with ``consents`` set to the scopes of the valid ``grants``, and why the
    others were ``refused``."""

    account: Account
    grants: tuple[ConsentGrant, ...]
    refused: tuple[GrantError | RevocationStoreError, ...]

    @property
    def scopes(self) -> frozenset[str]:
        """The consent scopes that count."""
        return self.account.consents


def _check_names(issuer: object, audience: object, key_id: object = None) -> None:
    """``issuer`` and ``audience`` are non-empty strings (pyjwt skips the ``iss`` check
    for ``issuer=None``, so a verifier given it accepted any platform's grants), and
    ``key_id`` one or ``None``."""
    for name, value in (("issuer", issuer), ("audience", audience), ("key_id", key_id)):
        if name == "key_id" and value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise GrantConfigError(f"{name} must be a non-empty string, got {shown(value)}")


def _check_child(call: str, child: object) -> None:
    if not isinstance(child, Account):
        raise GrantConfigError(
            f"{call}: child must be a childsafe.Account, got {type(child).__name__} {shown(child)}"
        )


# The longest a grant may be valid (max_ttl): a bound keeps exp representable.
_LONGEST_GRANT: Final = dt.timedelta(days=3660)


class ConsentIssuer:
    """Issues consent grants signed with the platform's key.

    >>> import secrets
    >>> from childsafe import Account
    >>> issuer = ConsentIssuer(secrets.token_bytes(32))
    >>> child = Account(id="c1", band="13_15", guardians={"p1"})
    >>> token = issuer.issue(child, "p1", "feed_personalisation:profiled")
    >>> token.count(".")
    2
    """

    def __init__(
        self,
        key: object,
        *,
        algorithm: str = "HS256",
        issuer: str = "childsafe",
        audience: str = DEFAULT_AUDIENCE,
        key_id: str | None = None,
        max_ttl: dt.timedelta = dt.timedelta(days=400),
    ) -> None:
        problem = timedelta_problem(max_ttl, positive=True, maximum=_LONGEST_GRANT)
        if problem is not None:
            raise GrantConfigError(f"max_ttl: {problem}")
        _check_names(issuer, audience, key_id)
        self._key = _prepare(algorithm, key, signing=True)
        self.algorithm = algorithm
        self.issuer = issuer
        self.audience = audience
        self.key_id = key_id
        self.max_ttl = max_ttl

    def issue(
        self,
        child: Account,
        guardian: str,
        scope: str | ConsentScope,
        *,
        ttl: dt.timedelta = dt.timedelta(days=365),
        now: dt.datetime | None = None,
    ) -> str:
        """A grant from ``guardian`` (a linked guardian of ``child``) for ``scope``,
        valid for ``ttl`` from ``now``. Store it with the child's account and pass it to
        :meth:`ConsentVerifier.apply` at each resolution."""
        _check_child("issue", child)
        named: object = guardian
        if not isinstance(named, str) or not named:
            raise GrantConfigError(
                f"issue: guardian must be the guardian's account id, got {shown(named)}"
            )
        if guardian not in child.guardians:
            raise NotAGuardianError(
                f"{guardian!r} is not a linked guardian of {child.id!r}; link them first"
            )
        parsed = ConsentScope.parse(scope)
        given: object = ttl
        if not isinstance(given, dt.timedelta) or not dt.timedelta(0) < given <= self.max_ttl:
            raise GrantConfigError(
                f"ttl must be positive and at most {describe_timedelta(self.max_ttl)} "
                f"(a datetime.timedelta), got {shown(given)}"
            )
        issued = _aware(now)
        try:
            expires = issued + ttl
        except OverflowError:
            raise GrantConfigError(
                f"now ({issued.isoformat()}) plus ttl ({ttl}) is past the dates Python can "
                "represent"
            ) from None
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": child.id,
            "guardian": guardian,
            "scope": str(parsed),
            "iat": int(issued.timestamp()),
            "nbf": int(issued.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": uuid.uuid4().hex,
        }
        headers: dict[str, str] = {"typ": GRANT_TYPE}
        if self.key_id is not None:
            headers["kid"] = self.key_id
        return jwt.encode(claims, self._key, algorithm=self.algorithm, headers=headers)


def _claim(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedGrantError(f"claim {name!r} must be a non-empty string, got {value!r}")
    return value


def _time(claims: dict[str, Any], name: str) -> dt.datetime:
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedGrantError(f"claim {name!r} must be a number, got {value!r}")
    try:
        return dt.datetime.fromtimestamp(value, dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise MalformedGrantError(
            f"claim {name!r} must be a representable time in seconds, got {value!r}"
        ) from None


def _strict_json(token: str) -> None:
    """Refuse a grant whose header or payload is not strict JSON: a repeated claim
    (two ``scope`` or ``sub`` keys), NaN or Infinity, or too deep a nesting. pyjwt
    would read the last of two keys; nothing should depend on which one it reads."""
    parts = token.split(".")
    if len(parts) != 3:
        return  # pyjwt says what is wrong with it
    for what, segment in (("header", parts[0]), ("payload", parts[1])):
        try:
            raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
            value = load_json(raw, max_bytes=MAX_GRANT_BYTES, max_depth=8)
        except (ValueError, binascii.Error) as e:
            raise MalformedGrantError(f"the grant's {what} is not valid JSON: {e}") from None
        if what == "payload" and isinstance(value, dict):
            for name in ("iat", "nbf", "exp"):
                claim = value.get(name)
                # pyjwt takes true as the time 1 (a grant "expired" in 1970, or issued
                # then): a boolean is a claim of the wrong type, so the grant is malformed.
                if isinstance(claim, bool):
                    raise MalformedGrantError(f"claim {name!r} must be a number, got {claim}")


@attrs.frozen
class _Screened:
    """The pure half of :meth:`ConsentVerifier.apply`: every grant decoded and checked
    against the child; only the revocation list is left to ask about ``ids``."""

    child: Account
    candidates: tuple[ConsentGrant, ...]
    refused: tuple[Refusal, ...]

    @property
    def ids(self) -> list[str]:
        return [g.id for g in self.candidates]

    def settle(self, revoked: frozenset[str] | RevocationStoreError) -> ConsentResult:
        """The result, given what the store said (or why it could not say)."""
        refused = list(self.refused)
        grants: list[ConsentGrant] = []
        if isinstance(revoked, RevocationStoreError):
            log.warning(
                "childsafe: revocation store unavailable, %d consent grant(s) of %r do "
                "not count: %s",
                len(self.candidates),
                self.child.id,
                revoked,
            )
            refused.extend(revoked for _ in self.candidates)
        else:
            for grant in self.candidates:
                if grant.id in revoked:
                    refused.append(RevokedGrantError(f"grant {grant.id} was revoked"))
                else:
                    grants.append(grant)
        child = self.child
        consents = frozenset(str(g.scope) for g in grants)
        account = child if consents == child.consents else attrs.evolve(child, consents=consents)
        return ConsentResult(account, tuple(grants), tuple(refused))


class ConsentVerifier:
    """Verifies consent grants and keeps their revocation list.

    ``key`` is the shared HS256 secret, or the public (or private) key for the
    asymmetric algorithms; only ``algorithm`` is accepted. ``revocations`` is the store
    every app server shares. A grant counts only when it is correctly signed, a consent
    grant of this platform, within its validity (``leeway`` for clock skew), for this
    child, from a guardian still linked to it, and not revoked.

    ``revocations`` may be a sync :class:`~childsafe.parental.RevocationStore`, for
    :meth:`apply`, :meth:`verify` and :meth:`revoke`, or an
    :class:`~childsafe.parental.AsyncRevocationStore`, for their ``_async`` twins. The
    async methods also take a sync store, which they call through an
    :class:`~childsafe.parental.AsyncStoreAdapter` (in a worker thread), and give up on
    the store after ``store_timeout`` seconds.
    """

    def __init__(
        self,
        key: object,
        *,
        revocations: RevocationStore | AsyncRevocationStore,
        algorithm: str = "HS256",
        issuer: str = "childsafe",
        audience: str = DEFAULT_AUDIENCE,
        leeway: dt.timedelta = dt.timedelta(seconds=30),
        store_timeout: float = DEFAULT_STORE_TIMEOUT,
    ) -> None:
        self._key = _prepare(algorithm, key, signing=False)
        problem = seconds_problem(store_timeout, positive=True, maximum=60.0)
        if problem is not None:
            raise GrantConfigError(f"store_timeout: {problem}")
        problem = timedelta_problem(leeway, positive=False, maximum=dt.timedelta(minutes=10))
        if problem is not None:
            raise GrantConfigError(f"leeway: {problem}")
        _check_names(issuer, audience)
        if not all(callable(getattr(revocations, m, None)) for m in ("revoked", "revoke")):
            raise GrantConfigError(
                "revocations must be a revocation store (revoked, revoke), such as "
                f"MemoryRevocationStore or RedisRevocationStore, got {type(revocations).__name__}"
            )
        self.revocations = revocations
        self.algorithm = algorithm
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.store_timeout = store_timeout

    def _sync_store(self) -> RevocationStore:
        store = self.revocations
        if _is_async(store):
            raise GrantConfigError(
                f"the revocation store {type(store).__name__} is async: use apply_async, "
                "verify_async and revoke_async, or give the verifier a sync store"
            )
        return cast("RevocationStore", store)

    def _async_store(self) -> AsyncRevocationStore:
        store = self.revocations
        return store if _is_async(store) else AsyncStoreAdapter(cast("RevocationStore", store))

    async def _within(self, call: Awaitable[T]) -> T:
        """``call``, abandoned after ``store_timeout`` seconds as a store that is down."""
        import anyio  # noqa: PLC0415 - sync apps never load the async machinery

        try:
            with anyio.fail_after(self.store_timeout):
                return await call
        except TimeoutError:
            raise RevocationStoreError(
                f"the revocation store did not answer within {self.store_timeout:g} s"
            ) from None

    def decode(self, token: str, *, verify_expiry: bool = True) -> ConsentGrant:
        """The grant in ``token`` after checking its signature and claims (not the child,
        the guardian link nor the revocation list: :meth:`verify` does all)."""
        flag: object = verify_expiry
        if not isinstance(flag, bool):
            # "no" or 0 would read as a choice, either way: say which is meant.
            raise GrantConfigError(f"verify_expiry: expected True or False, got {flag!r}")
        raw: object = token
        if not isinstance(raw, str) or not raw:
            raise MalformedGrantError(f"a grant must be a non-empty string, got {type(raw)!r}")
        if len(raw) > MAX_GRANT_BYTES:
            raise MalformedGrantError(f"a grant is at most {MAX_GRANT_BYTES} bytes, got {len(raw)}")
        _strict_json(raw)
        try:
            # One parse: pyjwt refuses any algorithm but ours before it checks a signature.
            decoded = jwt.decode_complete(
                raw,
                self._key,
                algorithms=[self.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={
                    "require": ["iss", "aud", "sub", "iat", "exp", "jti"],
                    "verify_exp": verify_expiry,
                },
            )
        except jwt.InvalidAlgorithmError:
            alg = jwt.get_unverified_header(raw).get("alg")
            raise UntrustedGrantError(
                f"algorithm {alg!r} is not accepted; grants use {self.algorithm}"
            ) from None
        except jwt.ExpiredSignatureError:
            raise ExpiredGrantError("the grant has expired") from None
        except jwt.ImmatureSignatureError:
            raise NotYetValidGrantError(
                "the grant is not valid yet (nbf or iat in the future)"
            ) from None
        except (jwt.InvalidAudienceError, jwt.InvalidIssuerError) as e:
            raise UntrustedGrantError(f"not issued by this platform for consent: {e}") from None
        except jwt.InvalidSignatureError:
            raise InvalidGrantSignatureError("the signature does not verify") from None
        except jwt.PyJWTError as e:
            raise MalformedGrantError(f"not a valid JWT: {e}") from None
        typ = decoded["header"].get("typ")
        if typ != GRANT_TYPE:
            raise MalformedGrantError(
                f"not a consent grant: header typ {typ!r}, expected {GRANT_TYPE!r}"
            )
        claims: dict[str, Any] = decoded["payload"]
        try:
            scope = ConsentScope.parse(_claim(claims, "scope"))
        except InvalidScopeError as e:
            raise MalformedGrantError(str(e)) from None
        return ConsentGrant(
            id=_claim(claims, "jti"),
            child=_claim(claims, "sub"),
            guardian=_claim(claims, "guardian"),
            scope=scope,
            issued_at=_time(claims, "iat"),
            expires_at=_time(claims, "exp"),
        )

    def _check_child(self, grant: ConsentGrant, child: Account) -> None:
        if grant.child != child.id:
            raise WrongChildError(f"the grant is for {grant.child!r}, not {child.id!r}")
        if grant.guardian not in child.guardians:
            raise NotAGuardianError(
                f"{grant.guardian!r}, who granted it, is not a linked guardian of {child.id!r}"
            )

    def _checked(self, token: str, child: Account) -> ConsentGrant:
        _check_child("verify", child)
        grant = self.decode(token)
        self._check_child(grant, child)
        return grant

    def _screen(self, child: Account, tokens: Iterable[str] | str | None) -> _Screened:
        _check_child("apply", child)
        candidates: list[ConsentGrant] = []
        refused: list[Refusal] = []
        given: object = tokens
        if given is None:  # no stored grants (a header or a column that is absent)
            given = ()
        elif isinstance(given, str | bytes):  # one grant, not its characters
            given = (given,)
        try:
            items = list(given)  # type: ignore[call-overload]
        except TypeError:
            items = []
            refused.append(
                MalformedGrantError(f"grants must be a list of tokens, got {type(given).__name__}")
            )
        for token in items:
            try:
                candidates.append(self._checked(token, child))
            except GrantError as e:
                log.info("childsafe: consent grant for %r does not count: %s", child.id, e)
                refused.append(e)
        return _Screened(child, tuple(candidates), tuple(refused))

    @staticmethod
    def _unrevoked(grant: ConsentGrant, revoked: frozenset[str]) -> ConsentGrant:
        if grant.id in revoked:
            raise RevokedGrantError(f"grant {grant.id} was revoked")
        return grant

    def _revocable(self, grant: ConsentGrant | str) -> ConsentGrant:
        return grant if isinstance(grant, ConsentGrant) else self.decode(grant, verify_expiry=False)

    def verify(self, token: str, child: Account) -> ConsentGrant:
        """The grant in ``token`` if it counts for ``child``; a :class:`GrantError` (or
        :class:`RevocationStoreError` when the store cannot be read) otherwise."""
        store = self._sync_store()
        grant = self._checked(token, child)
        return self._unrevoked(grant, store.revoked([grant.id]))

    async def verify_async(self, token: str, child: Account) -> ConsentGrant:
        """:meth:`verify`, awaiting the store (for at most ``store_timeout`` seconds)."""
        store = self._async_store()
        grant = self._checked(token, child)
        return self._unrevoked(grant, await self._within(store.revoked([grant.id])))

    def apply(self, child: Account, tokens: Iterable[str] | str | None) -> ConsentResult:
        """``child`` with ``consents`` set to the scopes of the ``tokens`` that count
        (``None``: no grants; one token on its own is taken as a list of one).

        Call it when resolving the account for a request; it never raises for a bad
        grant or a store that is down: such grants count as none (logged), and the
        reasons are in ``refused``. One store round trip checks every grant.
        """
        store = self._sync_store()
        screened = self._screen(child, tokens)
        if not screened.candidates:
            return screened.settle(frozenset())
        try:
            revoked = store.revoked(screened.ids)
        except RevocationStoreError as e:
            return screened.settle(e)
        return screened.settle(revoked)

    async def apply_async(
        self, child: Account, tokens: Iterable[str] | str | None
    ) -> ConsentResult:
        """:meth:`apply` for async apps: the one store round trip is awaited, so the event
        loop serves other requests meanwhile.

        The same results and the same promise: it never raises for a bad grant or a store
        that is down, and a store that has not answered after ``store_timeout`` seconds
        counts as down (no grant counts, logged, ``store_unavailable`` in ``refused``).
        """
        store = self._async_store()
        screened = self._screen(child, tokens)
        if not screened.candidates:
            return screened.settle(frozenset())
        try:
            revoked = await self._within(store.revoked(screened.ids))
        except RevocationStoreError as e:
            return screened.settle(e)
        return screened.settle(revoked)

    def revoke(self, grant: ConsentGrant | str) -> ConsentGrant:
        """Put ``grant`` (a verified grant or its token) on the revocation list; every
        verifier sharing the store stops counting it at once."""
        store = self._sync_store()
        found = self._revocable(grant)
        store.revoke(found.id, found.expires_at + self.leeway)
        return found

    async def revoke_async(self, grant: ConsentGrant | str) -> ConsentGrant:
        """:meth:`revoke`, awaiting the store; a store that has not answered after
        ``store_timeout`` seconds raises :class:`RevocationStoreError` (the grant may not
        be revoked: try again)."""
        store = self._async_store()
        found = self._revocable(grant)
        await self._within(store.revoke(found.id, found.expires_at + self.leeway))
        return found
