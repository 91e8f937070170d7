"""JWK sets fetched over HTTP (childsafe.assurance._jwks) against a real server on
127.0.0.1 that rotates keys, goes slow and goes down. The server counts the requests
it receives, which proves when the verifier does (and does not) go to the network."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed448, rsa, x25519

from childsafe import AgeBand
from childsafe.assurance import KeysUnavailableError, TokenVerifier, UnknownKeyError
from childsafe.assurance._jwks import JwksCache, KeySet, load_pem, parse_jwk, parse_jwks
from tests.assurance_support import (
    NOW,
    JwksServer,
    Keys,
    claims,
    issuer,
    jwks_server,
    pem,
    public_jwk,
    session_keys,
    sign,
)

TTL = 60
COOLDOWN = 30


@pytest.fixture(name="keys")
def _keys() -> Keys:
    return session_keys()


@pytest.fixture(name="anyio_backend")
def _anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(name="server")
def _server(keys: Keys) -> Iterator[JwksServer]:
    with jwks_server({"keys": [public_jwk(keys.rsa, "k1")]}) as server:
        yield server


def make_verifier(server: JwksServer, **changes: Any) -> TokenVerifier:
    options: dict[str, Any] = {
        "jwks_url": server.url,
        "jwks_ttl": TTL,
        "jwks_cooldown": COOLDOWN,
        "jwks_timeout": 0.5,
        "jwks_max_stale": 3600,
    }
    options.update(changes)
    return TokenVerifier([issuer(**options)], clock=lambda: NOW)


@pytest.fixture(name="verifier")
def _verifier(server: JwksServer) -> Iterator[TokenVerifier]:
    verifier = make_verifier(server)
    try:
        yield verifier
    finally:
        verifier.close()


def token(keys: Keys, kid: str = "k1", sub: str = "user-1", key: Any = None) -> str:
    return sign(claims(sub=sub, exp=NOW + 10 * 86400), key or keys.rsa, "RS256", kid)


def cache_of(verifier: TokenVerifier) -> JwksCache:
    cache = verifier.jwks(verifier.issuers[0].issuer)
    assert cache is not None
    return cache


def wait_for_refresh(verifier: TokenVerifier) -> None:
    thread = cache_of(verifier).refresher
    assert thread is not None
    thread.join(5)


class TestCaching:
    def test_no_network_once_cached(
        self, verifier: TokenVerifier, server: JwksServer, keys: Keys
    ) -> None:
        """The key set is fetched once; later tokens are verified without a request."""
        assert cache_of(verifier).keys is None
        assert verifier.verify(token(keys), now=NOW).band is AgeBand.AGE_13_15
        cached = cache_of(verifier).keys
        assert cached is not None
        assert len(cached) == 1
        for i in range(20):
            verifier.verify(token(keys, sub=f"u{i}"), now=NOW + TTL - 1)
        assert server.requests == 1
        assert cache_of(verifier).attempts == 1

    def test_stale_set_is_refreshed_in_the_background(
        self, verifier: TokenVerifier, server: JwksServer, keys: Keys
    ) -> None:
        """Past the TTL the request is served from the cached set at once, and the set
        is fetched again in the background."""
        verifier.verify(token(keys), now=NOW)
        server.hold = threading.Event()  # the refresh's answer waits until we say so
        try:
            assert verifier.verify(token(keys, sub="later"), now=NOW + TTL).band
            # Answered while the refresh still waits on the server: a verify that waited
            # for the fetch would have run into its 0.5 s timeout and left an error.
            assert cache_of(verifier).last_error is None
        finally:
            server.hold.set()
        wait_for_refresh(verifier)
        assert server.requests == 2
        assert cache_of(verifier).last_error is None
        # Within the cool-down a second stale hit starts no other refresh.
        verifier.verify(token(keys, sub="again"), now=NOW + TTL + 1)
        assert server.requests == 2

    def test_concurrent_first_use_fetches_once(self, server: JwksServer, keys: Keys) -> None:
        """Threads that all need the key set at once cause a single fetch."""
        server.delay = 0.2
        verifier = make_verifier(server)
        tokens = [token(keys, sub=f"u{i}") for i in range(8)]
        barrier = threading.Barrier(len(tokens))
        bands: list[AgeBand] = []

        def work(t: str) -> None:
            barrier.wait()
            bands.append(verifier.verify(t, now=NOW).band)

        threads = [threading.Thread(target=work, args=(t,)) for t in tokens]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(5)
        finally:
            verifier.close()
        assert bands == [AgeBand.AGE_13_15] * len(tokens)
        assert server.requests == 1


class TestRotation:
    def test_unknown_kid_refetches(
        self, verifier: TokenVerifier, server: JwksServer, keys: Keys
    ) -> None:
        """A token naming a new kid makes the verifier fetch the rotated set."""
        verifier.verify(token(keys), now=NOW)
        server.jwks = {"keys": [public_jwk(keys.rsa, "k1"), public_jwk(keys.rsa2, "k2")]}
        verified = verifier.verify(token(keys, "k2", key=keys.rsa2), now=NOW + COOLDOWN)
        assert verified.subject == "user-1"
        assert server.requests == 2

    def test_refetch_at_most_once_per_cooldown(
        self, verifier: TokenVerifier, server: JwksServer, keys: Keys
    ) -> None:
        """Tokens with unknown kids cause at most one fetch per cool-down."""
        verifier.verify(token(keys), now=NOW)
        for i in range(10):
            with pytest.raises(UnknownKeyError):
                verifier.verify(token(keys, f"bogus-{i}"), now=NOW + COOLDOWN + i)
        assert server.requests == 2
        with pytest.raises(UnknownKeyError):
            verifier.verify(token(keys, "bogus"), now=NOW + 2 * COOLDOWN + 10)
        assert server.requests == 3

    def test_new_kid_waits_for_the_cooldown(
        self, verifier: TokenVerifier, server: JwksServer, keys: Keys
    ) -> None:
        """A key published just after a fetch is picked up once the cool-down is over."""
        verifier.verify(token(keys), now=NOW)
        server.jwks = {"keys": [public_jwk(keys.rsa2, "k2")]}
        rotated = token(keys, "k2", key=keys.rsa2)
        with pytest.raises(UnknownKeyError, match="has kid 'k2'"):
            verifier.verify(rotated, now=NOW + 1)
        assert server.requests == 1
        assert verifier.verify(rotated, now=NOW + COOLDOWN).band
        # The old key is gone from the new set.
        with pytest.raises(UnknownKeyError):
            verifier.verify(token(keys, sub="old"), now=NOW + COOLDOWN + 1)


class TestProviderDown:
    def test_503_keeps_the_last_good_set(
        self, verifier: TokenVerifier, server: JwksServer, keys: Keys
    ) -> None:
        """When the provider answers 503 the last good set keeps verifying tokens."""
        verifier.verify(token(keys), now=NOW)
        server.status = 503
        assert verifier.verify(token(keys, sub="b"), now=NOW + TTL).band
        wait_for_refresh(verifier)
        assert server.requests == 2
        assert cache_of(verifier).last_error == "_FetchError: HTTP 503"
        # Still stale, but within the cool-down: no other attempt.
        assert verifier.verify(token(keys, sub="c"), now=NOW + TTL + 1).band
        assert server.requests == 2
        assert verifier.verify(token(keys, sub="d"), now=NOW + 2 * TTL).band

    def test_connection_refused_keeps_the_last_good_set(
        self, verifier: TokenVerifier, server: JwksServer, keys: Keys
    ) -> None:
        """With the provider gone, verification goes on from the last good set, and an
        explicit refresh says the set could not be fetched."""
        verifier.verify(token(keys), now=NOW)
        server.stop()
        with pytest.raises(KeysUnavailableError, match="ConnectError"):
            verifier.refresh(now=NOW + 10)
        assert verifier.verify(token(keys, sub="b"), now=NOW + TTL).band

    def test_slow_provider_times_out(
        self, verifier: TokenVerifier, server: JwksServer, keys: Keys
    ) -> None:
        """A provider slower than the timeout is abandoned; known keys keep working."""
        verifier.verify(token(keys), now=NOW)
        server.delay = 2.0
        with pytest.raises(UnknownKeyError):
            verifier.verify(token(keys, "k9"), now=NOW + COOLDOWN)
        assert "Timeout" in str(cache_of(verifier).last_error)
        assert verifier.verify(token(keys, sub="b"), now=NOW + COOLDOWN).band

    def test_down_from_the_start(
        self, verifier: TokenVerifier, server: JwksServer, keys: Keys
    ) -> None:
        """With no set ever fetched the token is refused (keys_unavailable), without
        asking again within the cool-down; once the provider is back it works."""
        server.status = 500
        with pytest.raises(KeysUnavailableError, match="HTTP 500"):
            verifier.verify(token(keys), now=NOW)
        with pytest.raises(KeysUnavailableError, match="HTTP 500"):
            verifier.verify(token(keys), now=NOW + 1)
        assert server.requests == 1
        server.status = 200
        assert verifier.verify(token(keys), now=NOW + COOLDOWN).band
        assert server.requests == 2

    def test_too_stale_set_is_not_used(self, server: JwksServer, keys: Keys) -> None:
        """A set older than jwks_max_stale is no longer trusted when the provider is down."""
        verifier = make_verifier(server, jwks_max_stale=2 * TTL)
        try:
            verifier.verify(token(keys), now=NOW)
            server.stop()
            with pytest.raises(KeysUnavailableError, match="could not be fetched"):
                verifier.verify(token(keys, sub="b"), now=NOW + 2 * TTL)
        finally:
            verifier.close()

    @pytest.mark.parametrize(
        ("status", "body", "error"),
        [
            (200, b"not json", "not JSON"),
            (200, b'{"no": "keys"}', "no usable keys"),
            (200, b'{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}', "no usable keys"),
            (200, b'{"keys": []}', "no usable keys"),
            (200, b" " * (1 << 20) + b"{}", "larger than"),
            (302, b"", "HTTP 302"),
        ],
    )
    def test_bad_responses(
        self,
        verifier: TokenVerifier,
        server: JwksServer,
        keys: Keys,
        status: int,
        body: bytes,
        error: str,
    ) -> None:
        """A response that is not a usable key set counts as a failed fetch."""
        server.status, server.body = status, body
        with pytest.raises(KeysUnavailableError, match=error):
            verifier.verify(token(keys), now=NOW)

    def test_unusable_keys_are_left_out(
        self,
        verifier: TokenVerifier,
        server: JwksServer,
        keys: Keys,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """Keys the verifier cannot use are logged and skipped; the others are used."""
        server.jwks = {
            "keys": [
                {"kty": "oct", "k": "c2VjcmV0", "kid": "k1"},
                public_jwk(keys.rsa, "k1", use="enc"),
                public_jwk(keys.rsa, "k1"),
            ]
        }
        with caplog.at_level(logging.WARNING, logger="childsafe"):
            assert verifier.verify(token(keys), now=NOW).band
        assert "symmetric ('oct') keys are never taken" in caplog.text
        assert "not a signing key" in caplog.text


class TestClients:
    def test_explicit_refresh_ignores_the_cooldown(
        self, verifier: TokenVerifier, server: JwksServer, keys: Keys
    ) -> None:
        """refresh() fetches every set at once, whatever the cool-down."""
        verifier.refresh()
        verifier.refresh(now=NOW)
        assert server.requests == 2
        assert verifier.verify(token(keys), now=NOW + 1).band
        assert server.requests == 2

    def test_given_client_is_used_and_left_open(self, server: JwksServer, keys: Keys) -> None:
        """A client passed in fetches the keys and is not closed by the verifier."""
        with httpx.Client() as client:
            verifier = TokenVerifier(
                [issuer(jwks_url=server.url)], http_client=client, clock=lambda: NOW
            )
            with verifier:
                assert verifier.verify(token(keys)).band
            assert not client.is_closed
        assert server.requests == 1

    def test_static_issuers_have_no_jwks_cache(self, keys: Keys) -> None:
        """Issuers with static keys never fetch anything."""
        verifier = TokenVerifier([issuer(jwks={"keys": [public_jwk(keys.rsa, "k1")]})])
        assert verifier.jwks(verifier.issuers[0].issuer) is None
        verifier.refresh()  # nothing to fetch, nothing fails
        verifier.close()


class TestAsync:
    @pytest.mark.anyio
    async def test_async_fetch_rotation_and_outage(self, server: JwksServer, keys: Keys) -> None:
        """verify_async fetches with the async client, refetches on a new kid and keeps
        the last good set through an outage."""
        async with make_verifier(server) as verifier:
            assert (await verifier.verify_async(token(keys), now=NOW)).band
            for i in range(5):
                await verifier.verify_async(token(keys, sub=f"u{i}"), now=NOW + 1)
            assert server.requests == 1
            server.jwks = {"keys": [public_jwk(keys.rsa, "k1"), public_jwk(keys.rsa2, "k2")]}
            rotated = token(keys, "k2", key=keys.rsa2)
            assert (await verifier.verify_async(rotated, now=NOW + COOLDOWN)).band
            assert server.requests == 2
            server.status = 503
            with pytest.raises(UnknownKeyError):
                await verifier.verify_async(token(keys, "k9"), now=NOW + 2 * COOLDOWN)
            assert server.requests == 3
            assert (await verifier.verify_async(rotated, now=NOW + 2 * COOLDOWN)).band

    @pytest.mark.anyio
    async def test_concurrent_tasks_fetch_once(self, server: JwksServer, keys: Keys) -> None:
        """Tasks that all need the key set at once cause a single fetch."""
        server.delay = 0.2
        bands: list[AgeBand] = []
        async with make_verifier(server) as verifier:

            async def work(i: int) -> None:
                verified = await verifier.verify_async(token(keys, sub=f"u{i}"), now=NOW)
                bands.append(verified.band)

            async with anyio.create_task_group() as tasks:
                for i in range(5):
                    tasks.start_soon(work, i)
        assert bands == [AgeBand.AGE_13_15] * 5
        assert server.requests == 1

    @pytest.mark.anyio
    async def test_async_refresh(self, server: JwksServer, keys: Keys) -> None:
        """refresh_async fetches every set; a failure raises KeysUnavailableError."""
        verifier = make_verifier(server)
        try:
            await verifier.refresh_async()
            assert server.requests == 1
            server.status = 503
            with pytest.raises(KeysUnavailableError, match="HTTP 503"):
                await verifier.refresh_async(now=NOW)
            assert (await verifier.verify_async(token(keys), now=NOW)).band
        finally:
            await verifier.aclose()

    @pytest.mark.anyio
    async def test_async_down_from_the_start(self, server: JwksServer, keys: Keys) -> None:
        """With no set and the provider down, verify_async refuses with keys_unavailable."""
        server.stop()
        async with make_verifier(server) as verifier:
            with pytest.raises(KeysUnavailableError):
                await verifier.verify_async(token(keys), now=NOW)


class TestKeyParsing:
    def test_parse_jwk_refusals(self, keys: Keys) -> None:
        """Each JWK the verifier cannot use is refused with the reason."""
        good = public_jwk(keys.rsa, "k1")
        cases: list[tuple[object, str]] = [
            ("nope", "expected a JWK object"),
            ({"kty": "oct", "k": "abc"}, "symmetric"),
            ({**good, "use": "enc"}, "not a signing key"),
            ({**good, "key_ops": ["encrypt"]}, "not a verification key"),
            ({**good, "kid": 5}, "kid must be a string"),
            ({**good, "alg": "HS256"}, "not an asymmetric"),
            ({**public_jwk(keys.ec, "e"), "alg": "ES384"}, "cannot verify ES384"),
            ({"kty": "RSA", "n": "AQAB"}, "not a valid JWK"),
            ({"kty": "XYZ"}, "not a valid JWK"),
        ]
        for data, reason in cases:
            key, problem = parse_jwk(data)
            assert key is None
            assert reason in str(problem), data

    def test_private_jwk_gives_its_public_half(self, keys: Keys) -> None:
        """A JWK carrying a private key is used only for its public half."""
        from jwt.algorithms import RSAAlgorithm  # noqa: PLC0415

        private = json.loads(RSAAlgorithm.to_jwk(keys.rsa))
        private.pop("key_ops")
        key, _ = parse_jwk(private)
        assert key is not None
        assert key.key.public_numbers() == keys.rsa.public_key().public_numbers()

    def test_parse_jwks_shape(self) -> None:
        """A set must be an object with a keys list."""
        assert parse_jwks([])[1] == [("", "expected a JWK set: an object with a 'keys' list")]
        assert parse_jwks({"keys": []})[1] == [("keys", "the key set is empty")]

    def test_key_set_lookup(self, keys: Keys) -> None:
        """Keys are found by kid and algorithm, and lookups are remembered."""
        good, _ = parse_jwk(public_jwk(keys.rsa, "k1"))
        assert good is not None
        keyset = KeySet((good,))
        assert len(keyset) == 1
        assert keyset.find("RS256", "k1") is keyset.find("RS256", "k1") is good.key
        assert keyset.find("ES256", "k1") is None
        assert keyset.find("RS256", "k2") is None

    def test_ed448_keys(self) -> None:
        """EdDSA verifies with Ed448 keys as well as Ed25519."""
        private = ed448.Ed448PrivateKey.generate()
        verifier = TokenVerifier([issuer(algorithms=["EdDSA"], public_key=pem(private))])
        assert verifier.verify(sign(claims(), private, "EdDSA"), now=NOW).band

    def test_unusable_key_types(self) -> None:
        """Keys that cannot sign tokens, and short RSA keys in a JWK, are refused."""
        exchange = x25519.X25519PrivateKey.generate().public_key()
        text = exchange.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert load_pem(text) == (None, "unsupported key type X25519PublicKey")
        weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
        key, problem = parse_jwk(public_jwk(weak, "w"))
        assert key is None
        assert "too short" in str(problem)
