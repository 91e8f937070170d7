"""Issuers' public keys: static key sets, PEM keys and JWKS fetched over HTTPS.

A :class:`KeySet` is immutable; a :class:`JwksCache` swaps in a new one atomically, so
looking a key up takes no lock. Network I/O happens only

* on first use (or after the set has been stale for longer than ``max_stale``),
* when a token names a ``kid`` the cached set lacks, at most once per ``cooldown``,
* in a background thread, when a request finds the set older than ``ttl``: that
  request is served from the cached set and never waits.

A failed or slow fetch keeps the last good set.
"""

from __future__ import annotations

import logging
import math
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import anyio
import attrs
import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from childsafe._parsing import ParseError, content_length, load_json
from childsafe.assurance._errors import KeysUnavailableError, UnknownKeyError

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "SYMMETRIC_ALGORITHMS",
    "JwksCache",
    "KeySet",
    "load_pem",
    "parse_jwks",
]

log = logging.getLogger("childsafe")

# Which key types each algorithm verifies with. A key is only ever used with an
# algorithm of its own family, so an RSA key can never be fed to HMAC (key confusion).
_FAMILIES: Final[Mapping[str, frozenset[str]]] = {
    "RS256": frozenset({"RSA"}),
    "RS384": frozenset({"RSA"}),
    "RS512": frozenset({"RSA"}),
    "PS256": frozenset({"RSA"}),
    "PS384": frozenset({"RSA"}),
    "PS512": frozenset({"RSA"}),
    "ES256": frozenset({"EC:secp256r1"}),
    "ES384": frozenset({"EC:secp384r1"}),
    "ES512": frozenset({"EC:secp521r1"}),
    "EdDSA": frozenset({"OKP:Ed25519", "OKP:Ed448"}),
}
ASYMMETRIC_ALGORITHMS: Final = tuple(_FAMILIES)
SYMMETRIC_ALGORITHMS: Final = ("HS256", "HS384", "HS512")
MIN_RSA_BITS: Final = 2048
MAX_JWKS_BYTES: Final = 1 << 20
# {"keys": [{"x5c": [...]}]}: a JWK set nests four levels; allow some room.
_JWKS_DEPTH: Final = 8


def _status(response: httpx.Response) -> None:
    if response.status_code != httpx.codes.OK:
        raise _FetchError(f"HTTP {response.status_code}")
    try:
        declared = content_length(response.headers.get("content-length"))
    except ParseError:
        declared = None  # the body's own size is checked as it is read
    if declared is not None and declared > MAX_JWKS_BYTES:
        raise _FetchError(f"the response is larger than {MAX_JWKS_BYTES} bytes")


def _downloaded(outcome: list[bytes | Exception], timeout: float) -> bytes:
    """The body a download worker produced, or what it raised (nothing yet: too late)."""
    if not outcome:
        raise _FetchTimeoutError(f"no complete answer within {timeout:g} s")
    body = outcome[0]
    if isinstance(body, Exception):
        raise body
    return body


def _grow(body: bytearray, chunk: bytes, deadline: float, timeout: float) -> None:
    body += chunk
    if len(body) > MAX_JWKS_BYTES:
        raise _FetchError(f"the response is larger than {MAX_JWKS_BYTES} bytes")
    if time.monotonic() > deadline:
        raise _FetchTimeoutError(f"no complete answer within {timeout:g} s")


class _Cutoff:
    """The sockets a sync download opened, to shut down when its deadline passes.

    httpx reads with a timeout per read, so a server that trickles its answer keeps a
    blocked read going; shutting the socket down wakes that read with an error and
    hangs up on the server. The sockets come from httpcore's ``trace`` extension (the
    ``connection.connect_tcp.complete`` event); one opened after the cut is shut down
    as soon as it is seen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._cut = False

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        if event != "connection.connect_tcp.complete":
            return
        stream = info.get("return_value")
        sock = getattr(stream, "get_extra_info", lambda _: None)("socket")
        if not isinstance(sock, socket.socket):
            return
        with self._lock:
            self._sockets.append(sock)
            cut = self._cut
        if cut:
            _shut(sock)

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed by the worker, or never connected
        return


def _family(key: object) -> str | None:
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC:{key.curve.name}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "OKP:Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "OKP:Ed448"
    return None


@attrs.frozen(slots=True)
class PublicKey:
    """One verification key: the cryptography key object, its ``kid`` and the
    algorithm its JWK was restricted to (``alg``), if any."""

    key: Any
    family: str
    kid: str | None = None
    alg: str | None = None

    def fits(self, alg: str) -> bool:
        return self.family in _FAMILIES[alg] and (self.alg is None or self.alg == alg)


def _public(key: object) -> tuple[PublicKey | None, str | None]:
    """``key`` (or the public half of a private key) if it can verify tokens."""
    public_key = getattr(key, "public_key", None)
    if callable(public_key):
        key = public_key()
    family = _family(key)
    if family is None:
        return None, f"unsupported key type {type(key).__name__}"
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return None, f"an RSA key of {key.key_size} bits is too short (at least {MIN_RSA_BITS})"
    return PublicKey(key, family), None


def parse_jwk(data: object) -> tuple[PublicKey | None, str | None]:
    """A key from one JWK, or ``None`` and why it cannot be used."""
    if not isinstance(data, dict):
        return None, "expected a JWK object"
    kty = data.get("kty")
    if kty == "oct":
        return None, (
            "symmetric ('oct') keys are never taken from a key set; configure the "
            "issuer's shared_secret for HS256 instead"
        )
    use = data.get("use")
    if use is not None and use != "sig":
        return None, f"not a signing key (use {use!r})"
    ops = data.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        return None, f"not a verification key (key_ops {ops!r})"
    kid = data.get("kid")
    if kid is not None and not isinstance(kid, str):
        return None, f"kid must be a string, got {kid!r}"
    alg = data.get("alg")
    if alg is not None and alg not in _FAMILIES:
        return None, f"alg {alg!r} is not an asymmetric signing algorithm"
    try:
        parsed = jwt.PyJWK(data)
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as e:
        return None, f"not a valid JWK ({e})"
    key, problem = _public(parsed.key)
    if key is None:
        return None, problem
    key = attrs.evolve(key, kid=kid, alg=alg)
    if alg is not None and not key.fits(alg):
        return None, f"a {key.family} key cannot verify {alg}"
    return key, None


def parse_jwks(data: object) -> tuple[KeySet, list[tuple[str, str]]]:
    """The usable keys of a JWK set, and ``(path, problem)`` for each key left out."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        return KeySet(()), [("", "expected a JWK set: an object with a 'keys' list")]
    keys: list[PublicKey] = []
    problems: list[tuple[str, str]] = []
    for i, item in enumerate(data["keys"]):
        key, problem = parse_jwk(item)
        if key is None:
            problems.append((f"keys[{i}]", str(problem)))
        else:
            keys.append(key)
    if not keys and not problems:
        problems.append(("keys", "the key set is empty"))
    return KeySet(tuple(keys)), problems


def load_pem(pem: str | bytes) -> tuple[PublicKey | None, str | None]:
    """A key from a PEM public key, or ``None`` and why it cannot be used."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        loaded = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as e:
        return None, f"expected a PEM public key ('-----BEGIN PUBLIC KEY-----'): {e}"
    return _public(loaded)


class KeySet:
    """An immutable set of verification keys, indexed by ``kid``.

    ``any_kid``: the set holds one key configured without a ``kid`` (a PEM key), which
    verifies tokens whatever ``kid`` they carry.
    """

    __slots__ = ("_by_kid", "_memo", "any_kid", "keys")

    def __init__(self, keys: tuple[PublicKey, ...], *, any_kid: bool = False) -> None:
        self.keys = keys
        self.any_kid = any_kid
        self._by_kid: dict[str, list[PublicKey]] = {}
        for key in keys:
            if key.kid is not None:
                self._by_kid.setdefault(key.kid, []).append(key)
        self._memo: dict[tuple[str, str | None], Any] = {}

    def __len__(self) -> int:
        return len(self.keys)

    def find(self, alg: str, kid: str | None) -> Any | None:  # noqa: ANN401 - a key object
        """The key to verify an ``alg`` token carrying ``kid`` with, or ``None``.

        A token without a ``kid`` is verified only when exactly one key fits its ``alg``
        (trying every key in turn would let one token cost many verifications).
        """
        found = self._memo.get((alg, kid))
        if found is not None:
            return found
        if kid is not None and not self.any_kid:
            candidates = [k for k in self._by_kid.get(kid, ()) if k.fits(alg)]
        else:
            candidates = [k for k in self.keys if k.fits(alg)]
        if not candidates:
            return None
        if kid is None and len(candidates) > 1:
            raise UnknownKeyError(
                f"the token has no kid and {len(candidates)} of the issuer's keys fit {alg}; "
                "the issuer must name the key"
            )
        self._memo[alg, kid] = candidates[0].key
        return candidates[0].key


class _FetchError(Exception):
    """A JWKS fetch failed (network, HTTP status or body); its message says how."""


class _FetchTimeoutError(_FetchError):
    """A JWKS fetch passed its overall deadline (``jwks_timeout``)."""


ClientFactory = Callable[[], httpx.Client]
AsyncClientFactory = Callable[[], httpx.AsyncClient]


class JwksCache:
    """An issuer's JWK set, fetched from ``url`` and cached.

    Lookups take no lock and make no network call while the set is younger than
    ``ttl``. An older set is still used while a background thread fetches it again; a
    token naming an unknown ``kid`` fetches it again at most once per ``cooldown``; a
    failed or slow fetch keeps the last good set, for up to ``max_stale`` seconds.
    ``attempts`` counts fetch attempts and ``last_error`` says why the last one failed
    (``None`` after a success): both are worth a metric.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        url: str,
        *,
        client: ClientFactory,
        async_client: AsyncClientFactory,
        ttl: float,
        cooldown: float,
        timeout: float,
        max_stale: float,
    ) -> None:
        self.url = url
        self.ttl = ttl
        self.cooldown = cooldown
        self.timeout = timeout
        self.max_stale = max_stale
        self._client = client
        self._async_client = async_client
        # (key set, fetched at): replaced as a whole, read without a lock.
        self._state: tuple[KeySet, float] | None = None
        self._last_attempt = -math.inf
        self._lock = threading.Lock()
        self._async_lock: anyio.Lock | None = None
        self.refresher: threading.Thread | None = None
        self.attempts = 0
        self.last_error: str | None = None

    @property
    def keys(self) -> KeySet | None:
        """The cached key set, if any."""
        return None if self._state is None else self._state[0]

    # ------------------------------------------------------------ the hot path

    def _cached(self, alg: str, kid: str | None, now: float) -> Any | None:  # noqa: ANN401
        state = self._state
        if state is None:
            return None
        keys, fetched_at = state
        age = now - fetched_at
        if age >= self.max_stale:
            return None
        key = keys.find(alg, kid)
        if key is not None and age >= self.ttl:
            self._refresh_in_background(now)
        return key

    def key_for(self, alg: str, kid: str | None, now: float) -> Any:  # noqa: ANN401
        """The key for an ``alg`` token carrying ``kid``; fetches only as the module says."""
        key = self._cached(alg, kid, now)
        if key is not None:
            return key
        seen = self._state
        with self._lock:
            if self._state is seen and now - self._last_attempt >= self.cooldown:
                self._fetch(now)
        return self._after_refresh(alg, kid, now)

    async def key_for_async(self, alg: str, kid: str | None, now: float) -> Any:  # noqa: ANN401
        """:meth:`key_for`, fetching with the async client."""
        key = self._cached(alg, kid, now)
        if key is not None:
            return key
        seen = self._state
        if self._async_lock is None:
            self._async_lock = anyio.Lock()
        async with self._async_lock:
            if self._state is seen and now - self._last_attempt >= self.cooldown:
                await self._fetch_async(now)
        return self._after_refresh(alg, kid, now)

    def _after_refresh(self, alg: str, kid: str | None, now: float) -> Any:  # noqa: ANN401
        state = self._state
        if state is None or now - state[1] >= self.max_stale:
            why = self.last_error or f"tried less than {self.cooldown:g} s ago"
            raise KeysUnavailableError(f"the key set at {self.url} could not be fetched ({why})")
        key = state[0].find(alg, kid)
        if key is None:
            raise UnknownKeyError(
                f"no key in the key set at {self.url} has kid {kid!r} and fits {alg}"
            )
        return key

    # --------------------------------------------------------------- fetching

    def refresh(self, now: float) -> bool:
        """Fetch the key set now, whatever the cool-down; ``False`` if that failed."""
        with self._lock:
            return self._fetch(now)

    async def refresh_async(self, now: float) -> bool:
        """:meth:`refresh` with the async client."""
        return await self._fetch_async(now)

    def _refresh_in_background(self, now: float) -> None:
        if now - self._last_attempt < self.cooldown or not self._lock.acquire(blocking=False):
            return
        self._last_attempt = now
        thread = threading.Thread(
            target=self._background, args=(now,), name="childsafe-jwks-refresh", daemon=True
        )
        self.refresher = thread
        try:
            thread.start()
        except RuntimeError:  # pragma: no cover - interpreter shutting down
            self._lock.release()

    def _background(self, now: float) -> None:
        try:
            self._fetch(now)
        finally:
            self._lock.release()

    def _begin(self, now: float) -> None:
        self._last_attempt = now
        self.attempts += 1

    # ``timeout`` is the deadline of the whole fetch, not of each read: a server that
    # trickles its answer a byte at a time is cut off when it passes, and the body is
    # read in chunks and refused as soon as it outgrows MAX_JWKS_BYTES.

    def _fetch(self, now: float) -> bool:
        self._begin(now)
        # httpx's timeouts are per read, and a server can trickle even its headers: the
        # download runs in a worker thread, and the caller waits for it no longer than
        # the deadline. Then the worker's connection is shut down, so a worker left
        # behind fails at once instead of reading on (see ``_Cutoff``).
        outcome: list[bytes | Exception] = []
        cutoff = _Cutoff()

        def download() -> None:
            try:
                outcome.append(self._download(cutoff))
            except Exception as e:  # noqa: BLE001 - handed to the waiting thread
                outcome.append(e)

        worker = threading.Thread(target=download, name="childsafe-jwks-fetch", daemon=True)
        worker.start()
        worker.join(self.timeout)
        if worker.is_alive():
            cutoff.cut()
        try:
            return self._accept(_downloaded(outcome, self.timeout), now)
        except (httpx.HTTPError, _FetchError) as e:
            return self._failed(e)

    def _download(self, cutoff: _Cutoff) -> bytes:
        deadline = time.monotonic() + self.timeout
        # ``connection: close``: the fetch's connection is never pooled, so every fetch
        # opens its own, which the cut-off can see and shut down.
        with self._client().stream(
            "GET",
            self.url,
            timeout=self.timeout,
            headers={"connection": "close"},
            extensions={"trace": cutoff.trace},
        ) as response:
            _status(response)
            body = bytearray()
            for chunk in response.iter_bytes():
                _grow(body, chunk, deadline, self.timeout)
        return bytes(body)

    async def _fetch_async(self, now: float) -> bool:
        self._begin(now)
        try:
            with anyio.fail_after(self.timeout):
                client = self._async_client()
                async with client.stream("GET", self.url, timeout=self.timeout) as response:
                    _status(response)
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        _grow(body, chunk, math.inf, self.timeout)
            return self._accept(bytes(body), now)
        except TimeoutError:
            return self._failed(_FetchTimeoutError(f"no complete answer within {self.timeout:g} s"))
        except (httpx.HTTPError, _FetchError) as e:
            return self._failed(e)

    def _accept(self, content: bytes, now: float) -> bool:
        try:
            data = load_json(content, max_bytes=MAX_JWKS_BYTES, max_depth=_JWKS_DEPTH)
        except ParseError as e:
            raise _FetchError(f"the response is not JSON ({e})") from e
        keys, problems = parse_jwks(data)
        for path, problem in problems:
            log.warning("childsafe: JWKS %s: %s left out: %s", self.url, path or "set", problem)
        if not keys.keys:
            raise _FetchError("no usable keys in the response")
        self._state = (keys, now)
        self.last_error = None
        return True

    def _failed(self, error: Exception) -> bool:
        self.last_error = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        log.warning(
            "childsafe: fetching the JWKS at %s failed (%s); keeping the last good key set",
            self.url,
            self.last_error,
        )
        return False
