"""Keys, tokens and a real JWKS server on 127.0.0.1 for the age-assurance tests.

Keys are generated once per test session; nothing here is a mock: tokens are signed
with pyjwt and the JWKS server is ``http.server`` in a thread on an ephemeral port.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from childsafe.assurance import IssuerConfig

ISSUER = "https://age.example"
AUDIENCE = "childsafe-tests"
NOW = 1_750_000_000  # 2025-06-15 15:06:40 UTC: every test passes `now` explicitly
SECRET = b"0123456789abcdef0123456789abcdef-test"


@dataclass(frozen=True)
class Keys:
    """Signing keys generated for the test session."""

    rsa: RSAPrivateKey
    rsa2: RSAPrivateKey  # the key an issuer rotates to
    ec: EllipticCurvePrivateKey
    ec384: EllipticCurvePrivateKey
    ed: Ed25519PrivateKey
    attacker: RSAPrivateKey  # a key nobody trusts

    @classmethod
    def generate(cls) -> Keys:
        def rsa_key() -> RSAPrivateKey:
            return rsa.generate_private_key(public_exponent=65537, key_size=2048)

        return cls(
            rsa=rsa_key(),
            rsa2=rsa_key(),
            ec=ec.generate_private_key(ec.SECP256R1()),
            ec384=ec.generate_private_key(ec.SECP384R1()),
            ed=ed25519.Ed25519PrivateKey.generate(),
            attacker=rsa_key(),
        )


def public_jwk(private: Any, kid: str | None, **extra: str) -> dict[str, Any]:
    """The public JWK of ``private`` with ``kid`` and any extra members."""
    public = private.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        data = RSAAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        data = ECAlgorithm.to_jwk(public, as_dict=True)
    else:
        data = OKPAlgorithm.to_jwk(public, as_dict=True)
    data.pop("key_ops", None)
    if kid is not None:
        data["kid"] = kid
    data.update(extra)
    return data


def pem(private: Any) -> str:
    """The PEM (SubjectPublicKeyInfo) of ``private``'s public key."""
    data: bytes = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return data.decode()


def claims(**changes: Any) -> dict[str, Any]:
    """Valid claims for :data:`ISSUER` at :data:`NOW`; ``None`` removes a claim."""
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "iat": NOW - 60,
        "exp": NOW + 3600,
        "age_band": "13_15",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: Mapping[str, Any], key: Any, alg: str, kid: str | None = None) -> str:
    """A compact JWS of ``payload`` (any JSON, even claims pyjwt's ``jwt.encode``
    refuses, such as a numeric ``iss``) signed with ``key``."""
    headers = {"kid": kid} if kid is not None else None
    return jwt.PyJWS().encode(json.dumps(dict(payload)).encode(), key, alg, headers=headers)


def issuer(**changes: Any) -> IssuerConfig:
    """An issuer for :data:`ISSUER` trusting RS256 with ``keys.rsa`` unless changed."""
    options: dict[str, Any] = {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "algorithms": ["RS256"],
        "assurance": "verified",
    }
    options.update(changes)
    return IssuerConfig(**options)


class JwksServer:
    """A JWKS endpoint on 127.0.0.1 that can rotate keys, go slow and go down.

    ``requests`` counts the requests it received. ``status`` (200 by default) and
    ``delay`` (seconds before answering) change how it answers; ``body`` replaces the
    key set with raw bytes; ``hold``, an event, keeps every answer back until it is set.
    """

    def __init__(self, jwks: Mapping[str, Any]) -> None:
        self.jwks: Mapping[str, Any] = jwks
        self.status = 200
        self.delay = 0.0
        self.body: bytes | None = None
        self.requests = 0
        self.hold: threading.Event | None = None
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._lock:
                    server.requests += 1
                    status, delay, hold = server.status, server.delay, server.hold
                    body = server.body or json.dumps(server.jwks).encode()
                if hold is not None:
                    hold.wait(10)
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                del format, args

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

            def handle_error(self, request: Any, client_address: Any) -> None:
                """A client that gave up (a timeout) is expected here: stay quiet."""

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/.well-known/jwks.json"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._running = False

    def start(self) -> None:
        self._thread.start()
        self._running = True

    def stop(self) -> None:
        """Stop answering: connections to the port are refused from now on."""
        if self._running:
            self._server.shutdown()
            self._running = False
        self._server.server_close()


@contextmanager
def jwks_server(jwks: Mapping[str, Any]) -> Iterator[JwksServer]:
    """A running :class:`JwksServer`, stopped on the way out whatever happens."""
    server = JwksServer(jwks)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@functools.cache
def session_keys() -> Keys:
    """The keys of this test session (generated on first use)."""
    return Keys.generate()
