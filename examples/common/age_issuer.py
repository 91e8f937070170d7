"""A local test issuer of age tokens, shipped with the example apps.

An age-assurance provider (or an app store, or the platform's identity service) says
how old someone is in a signed JWT. This module plays that provider for the demos and
tests: it keeps an ES256 key pair in the app's data directory (created on first use,
readable by its owner only, never committed), publishes the public half as a JWK set
(the apps serve it at ``/.well-known/jwks.json``) and signs tokens carrying an
``age_band``, a ``birthdate`` or ``age_over_N`` claims. The apps trust it through
:class:`childsafe.assurance.TokenVerifier`, like any other issuer.

Mint a token for the demo account ``sam`` from the command line (the app prints its
data directory when it starts)::

    python -m examples.common.age_issuer --data-dir DIR sam --age-band 13_15

It is a *test* issuer: whoever can read its data directory can sign any age.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import secrets
import uuid
from pathlib import Path
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["AUDIENCE", "ISSUER", "AgeIssuer", "create_file_once", "prepare_data_dir"]

ISSUER: Final = "urn:childsafe:playground:test-age-issuer"
"""The ``iss`` of the test issuer's tokens."""
AUDIENCE: Final = "childsafe-playground"
"""The ``aud`` the Playground apps accept."""
KEY_FILE: Final = "age-issuer-es256.pem"
ALGORITHM: Final = "ES256"


def prepare_data_dir(path: str | os.PathLike[str]) -> Path:
    """Create the data directory (owner-only) with a ``.gitignore`` that ignores
    everything in it, so its keys and secrets are never committed by mistake."""
    folder = Path(path)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    create_file_once(folder / ".gitignore", b"# Keys and secrets of the Playground demo.\n*\n")
    return folder


def create_file_once(path: Path, content: bytes) -> bytes:
    """Write ``content`` to ``path`` (owner-only) unless it exists; return what the file
    holds. Safe when several worker processes start at once: the file appears whole
    (a private temporary file, then a hard link that fails if another process won)."""
    if path.exists():
        return path.read_bytes()
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        with contextlib.suppress(FileExistsError):  # another process won: use its file
            os.link(temporary, path)
    finally:
        temporary.unlink()
    return path.read_bytes()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class AgeIssuer:
    """The test issuer, with its key pair in ``data_dir`` (created on first use).

    >>> import tempfile
    >>> issuer = AgeIssuer(tempfile.mkdtemp())
    >>> [key["alg"] for key in issuer.jwks()["keys"]]
    ['ES256']
    >>> issuer.issue("sam", age_band="13_15").count(".")
    2
    """

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        folder = prepare_data_dir(data_dir)
        fresh = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        pem = create_file_once(folder / KEY_FILE, fresh)
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            msg = f"{folder / KEY_FILE} does not hold an EC private key"
            raise TypeError(msg)
        self._key = key
        public: dict[str, Any] = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
        # RFC 7638 thumbprint: the key's id.
        members = {k: public[k] for k in ("crv", "kty", "x", "y")}
        canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
        self.key_id = _b64(hashlib.sha256(canonical).digest())
        self._jwk = {**members, "kid": self.key_id, "alg": ALGORITHM, "use": "sig"}

    def jwks(self) -> dict[str, Any]:
        """The public JWK set (what ``/.well-known/jwks.json`` serves)."""
        return {"keys": [dict(self._jwk)]}

    def issue(
        self,
        subject: str,
        *,
        age_band: str | None = None,
        birthdate: dt.date | None = None,
        age_over: dict[int, bool] | None = None,
        ttl: dt.timedelta = dt.timedelta(hours=1),
        now: dt.datetime | None = None,
        audience: str = AUDIENCE,
    ) -> str:
        """A token saying how old ``subject`` (a Playground account id) is, valid for
        ``ttl`` from ``now`` (a negative ``ttl`` makes an expired one, for tests)."""
        issued = now or dt.datetime.now(dt.UTC)
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": audience,
            "sub": subject,
            "iat": int(issued.timestamp()),
            "exp": int((issued + ttl).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        if age_band is not None:
            claims["age_band"] = age_band
        if birthdate is not None:
            claims["birthdate"] = birthdate.isoformat()
        for age, over in (age_over or {}).items():
            claims[f"age_over_{age}"] = over
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.key_id})


def main(argv: list[str] | None = None) -> None:
    """``python -m examples.common.age_issuer``: print a token for a demo account."""
    parser = argparse.ArgumentParser(
        prog="python -m examples.common.age_issuer",
        description="Sign a test age token with the Playground's local issuer.",
    )
    parser.add_argument("subject", help="the Playground account id, e.g. sam")
    parser.add_argument("--data-dir", required=True, help="the app's data directory")
    parser.add_argument("--age-band", choices=["under_13", "13_15", "16_17", "adult"])
    parser.add_argument("--birthdate", type=dt.date.fromisoformat, help="YYYY-MM-DD")
    parser.add_argument(
        "--over", type=int, action="append", default=[], help="an age_over_N claim (true)"
    )
    parser.add_argument("--minutes", type=int, default=60, help="validity (default: 60)")
    args = parser.parse_args(argv)
    if args.age_band is None and args.birthdate is None and not args.over:
        parser.error("give at least one of --age-band, --birthdate and --over")
    token = AgeIssuer(args.data_dir).issue(
        args.subject,
        age_band=args.age_band,
        birthdate=args.birthdate,
        age_over=dict.fromkeys(args.over, True),
        ttl=dt.timedelta(minutes=args.minutes),
    )
    print(token)


if __name__ == "__main__":
    main()
