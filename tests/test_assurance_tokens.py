"""Verifying age-assurance tokens (childsafe.assurance): real tokens signed with keys
generated for the session, every attack and malformed token in one catalogue, the
verified-token cache and the resolver at the edge."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from childsafe import Account, AgeBand, Assurance, Guard
from childsafe.assurance import (
    AlgorithmNotAllowedError,
    AssurancePolicy,
    ClaimMapping,
    ExpiredTokenError,
    InvalidAudienceError,
    InvalidClaimError,
    InvalidSignatureError,
    IssuerConfig,
    MalformedTokenError,
    MissingAgeClaimError,
    MissingClaimError,
    NotYetValidTokenError,
    OversizedTokenError,
    TokenCache,
    TokenError,
    TokenVerifier,
    UnknownKeyError,
    UntrustedIssuerError,
    VerifiedAge,
)
from childsafe.assurance._claims import ANYWHERE_ON_EARTH
from childsafe.exceptions import ChildsafeError
from childsafe.web import ANONYMOUS_ID, resolve, resolve_async
from tests.assurance_support import (
    AUDIENCE,
    ISSUER,
    NOW,
    SECRET,
    Keys,
    claims,
    issuer,
    pem,
    public_jwk,
    session_keys,
    sign,
)


@pytest.fixture(name="keys")
def _keys() -> Keys:
    return session_keys()


@pytest.fixture(name="anyio_backend")
def _anyio_backend() -> str:
    return "asyncio"


def jwks_of(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"keys": list(entries)}


@pytest.fixture(name="verifier")
def _verifier(keys: Keys) -> TokenVerifier:
    """RS256 with keys.rsa as kid 'k1' and HS256 with the shared secret, one issuer."""
    config = issuer(
        algorithms=["RS256", "HS256"],
        jwks=jwks_of(public_jwk(keys.rsa, "k1"), public_jwk(keys.ec, "ec1")),
        shared_secret=SECRET,
    )
    return TokenVerifier([config], clock=lambda: NOW)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def forge(header: Mapping[str, Any], payload: Mapping[str, Any], signature: bytes = b"") -> str:
    """A token assembled by hand (for shapes pyjwt refuses to produce)."""
    return ".".join(
        [b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()), b64(signature)]
    )


def hs256_with(secret: bytes, payload: Mapping[str, Any], kid: str | None = None) -> str:
    """An HS256 token signed with any bytes, even a public key's PEM (pyjwt refuses)."""
    header: dict[str, Any] = {"alg": "HS256", "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def rs(keys: Keys, **changes: Any) -> str:
    """A valid RS256 token by keys.rsa (kid 'k1') with ``changes`` to the claims."""
    return sign(claims(**changes), keys.rsa, "RS256", "k1")


def tampered(keys: Keys) -> str:
    header, _, signature = rs(keys).split(".")
    payload = b64(json.dumps(claims(age_band="adult")).encode())
    return f"{header}.{payload}.{signature}"


def embedded_key(keys: Keys) -> str:
    """The attacker signs and ships its own key in the header (jwk): it is ignored."""
    return jwt.encode(
        claims(age_band="adult"),
        keys.attacker,
        algorithm="RS256",
        headers={"kid": "k1", "jwk": public_jwk(keys.attacker, "k1")},
    )


Case = Callable[[Keys], object]

# Every way a token can be wrong, with the error (and so the code) it must give.
CATALOGUE: list[Any] = [
    # time
    pytest.param(lambda k: rs(k, exp=NOW - 3600), ExpiredTokenError, id="expired"),
    pytest.param(lambda k: rs(k, exp=NOW - 31), ExpiredTokenError, id="expired-past-leeway"),
    pytest.param(lambda k: rs(k, nbf=NOW + 3600), NotYetValidTokenError, id="not-before"),
    pytest.param(lambda k: rs(k, iat=NOW + 3600), NotYetValidTokenError, id="issued-in-future"),
    # issuer and audience
    pytest.param(lambda k: rs(k, iss="https://evil.example"), UntrustedIssuerError, id="issuer"),
    pytest.param(lambda k: rs(k, iss=None), UntrustedIssuerError, id="no-issuer"),
    pytest.param(lambda k: rs(k, iss=["x"]), UntrustedIssuerError, id="issuer-not-string"),
    pytest.param(lambda k: rs(k, aud="another-app"), InvalidAudienceError, id="audience"),
    pytest.param(lambda k: rs(k, aud=["a", "b"]), InvalidAudienceError, id="audience-list"),
    pytest.param(lambda k: rs(k, aud=None), InvalidAudienceError, id="no-audience"),
    pytest.param(lambda k: rs(k, aud=7), InvalidAudienceError, id="audience-not-string"),
    pytest.param(lambda k: rs(k, aud=[AUDIENCE, 7]), InvalidAudienceError, id="audience-mixed"),
    # keys and algorithms
    pytest.param(
        lambda k: sign(claims(), k.rsa, "RS256", "nope"), UnknownKeyError, id="unknown-kid"
    ),
    pytest.param(
        lambda k: sign(claims(), k.rsa, "RS256", "ec1"), UnknownKeyError, id="kid-of-other-type"
    ),
    pytest.param(
        lambda k: sign(claims(), k.attacker, "RS256", "k1"), InvalidSignatureError, id="forged"
    ),
    pytest.param(tampered, InvalidSignatureError, id="tampered-payload"),
    pytest.param(embedded_key, InvalidSignatureError, id="embedded-jwk-ignored"),
    pytest.param(
        lambda k: rs(k).rsplit(".", 1)[0] + ".", InvalidSignatureError, id="signature-stripped"
    ),
    pytest.param(
        lambda k: sign(claims(), k.ec, "ES256", "ec1"),
        AlgorithmNotAllowedError,
        id="algorithm-not-allowed",
    ),
    pytest.param(
        lambda k: sign(claims(), k.rsa, "PS256", "k1"),
        AlgorithmNotAllowedError,
        id="ps256-not-listed",
    ),
    pytest.param(
        lambda _: jwt.encode(claims(), "", algorithm="none"),
        AlgorithmNotAllowedError,
        id="alg-none",
    ),
    pytest.param(
        lambda _: forge({"alg": "none"}, claims()) + "c2ln",
        AlgorithmNotAllowedError,
        id="alg-none-with-signature",
    ),
    pytest.param(
        lambda _: forge({"alg": "NoNe"}, claims()), AlgorithmNotAllowedError, id="alg-None-case"
    ),
    pytest.param(
        lambda k: hs256_with(pem(k.rsa).encode(), claims(), "k1"),
        InvalidSignatureError,
        id="hs-rs-key-confusion",
    ),
    pytest.param(
        lambda _: hs256_with(b"guessed-secret-guessed-secret-123", claims()),
        InvalidSignatureError,
        id="hs-wrong-secret",
    ),
    # malformed
    pytest.param(lambda _: "", MalformedTokenError, id="empty"),
    pytest.param(lambda _: "not-a-token", MalformedTokenError, id="one-part"),
    pytest.param(lambda _: "a.b", MalformedTokenError, id="two-parts"),
    pytest.param(lambda _: "a.b.c.d.e", MalformedTokenError, id="jwe"),
    pytest.param(lambda k: "@@@." + rs(k).split(".", 1)[1], MalformedTokenError, id="bad-base64"),
    pytest.param(lambda k: "é" + rs(k), MalformedTokenError, id="non-ascii"),
    pytest.param(
        lambda k: b64(b"{not json") + "." + rs(k).split(".", 1)[1],
        MalformedTokenError,
        id="header-not-json",
    ),
    pytest.param(
        lambda k: b64(b"[1]") + "." + rs(k).split(".", 1)[1],
        MalformedTokenError,
        id="header-not-object",
    ),
    pytest.param(lambda _: forge({"typ": "JWT"}, claims()), MalformedTokenError, id="no-alg"),
    pytest.param(
        lambda _: forge({"alg": "RS256", "kid": 7}, claims()), MalformedTokenError, id="kid-type"
    ),
    pytest.param(
        lambda k: rs(k).split(".")[0] + "." + b64(b"\xff\xfe") + "." + rs(k).split(".")[2],
        MalformedTokenError,
        id="payload-not-json",
    ),
    pytest.param(
        lambda k: rs(k).split(".")[0] + "." + b64(b"[1, 2]") + "." + rs(k).split(".")[2],
        MalformedTokenError,
        id="payload-not-object",
    ),
    pytest.param(
        lambda k: jwt.encode(claims(), k.rsa, "RS256", headers={"kid": "k1", "crit": ["exp"]}),
        MalformedTokenError,
        id="unknown-critical-header",
    ),
    pytest.param(lambda _: "x" * 9000, OversizedTokenError, id="oversized"),
    pytest.param(lambda k: rs(k, pad="x" * 8200), OversizedTokenError, id="oversized-signed"),
    pytest.param(lambda _: b"a.b.c", MalformedTokenError, id="bytes"),
    pytest.param(lambda _: None, MalformedTokenError, id="none"),
    # claims of the wrong type
    pytest.param(lambda k: rs(k, exp="tomorrow"), InvalidClaimError, id="exp-string"),
    pytest.param(lambda k: rs(k, exp=True), InvalidClaimError, id="exp-bool"),
    # Infinity is not JSON: the payload itself is refused.
    pytest.param(lambda k: rs(k, exp=float("inf")), MalformedTokenError, id="exp-infinite"),
    pytest.param(lambda k: rs(k, exp=1e300), InvalidClaimError, id="exp-unrepresentable"),
    pytest.param(lambda k: rs(k, exp=10**400), InvalidClaimError, id="exp-huge-integer"),
    pytest.param(lambda k: rs(k, nbf="soon"), InvalidClaimError, id="nbf-string"),
    pytest.param(lambda k: rs(k, iat=[1]), InvalidClaimError, id="iat-list"),
    pytest.param(lambda k: rs(k, sub=42), InvalidClaimError, id="sub-number"),
    pytest.param(lambda k: rs(k, sub=""), InvalidClaimError, id="sub-empty"),
    pytest.param(lambda k: rs(k, age_band=13), InvalidClaimError, id="band-number"),
    pytest.param(lambda k: rs(k, age_band="teen"), InvalidClaimError, id="band-unknown"),
    pytest.param(lambda k: rs(k, age_band="unknown"), InvalidClaimError, id="band-is-unknown"),
    pytest.param(lambda k: rs(k, age_band=None, age="14"), InvalidClaimError, id="age-string"),
    pytest.param(lambda k: rs(k, age_band=None, age=True), InvalidClaimError, id="age-bool"),
    pytest.param(lambda k: rs(k, age_band=None, age=14.5), InvalidClaimError, id="age-fraction"),
    pytest.param(lambda k: rs(k, age_band=None, age=-1), InvalidClaimError, id="age-negative"),
    pytest.param(lambda k: rs(k, age_band=None, age=400), InvalidClaimError, id="age-huge"),
    pytest.param(
        lambda k: rs(k, age_band=None, birthdate="15/06/2010"), InvalidClaimError, id="date-format"
    ),
    pytest.param(
        lambda k: rs(k, age_band=None, birthdate="2010-02-30"), InvalidClaimError, id="date-30-feb"
    ),
    pytest.param(
        lambda k: rs(k, age_band=None, birthdate="2030-01-01"), InvalidClaimError, id="date-future"
    ),
    pytest.param(
        lambda k: rs(k, age_band=None, birthdate=20100615), InvalidClaimError, id="date-number"
    ),
    pytest.param(
        lambda k: rs(k, age_band=None, age_over_13="yes"), InvalidClaimError, id="over-string"
    ),
    pytest.param(
        lambda k: rs(k, age_band=None, age_over_13=False, age_over_18=True),
        InvalidClaimError,
        id="over-contradiction",
    ),
    # missing claims
    pytest.param(lambda k: rs(k, exp=None), MissingClaimError, id="no-exp"),
    pytest.param(lambda k: rs(k, sub=None), MissingClaimError, id="no-sub"),
    pytest.param(lambda k: rs(k, age_band=None), MissingAgeClaimError, id="no-age-claim"),
]

# A request carries a non-empty string: the rest of the catalogue reaches the resolver.
EDGE = [p for p in CATALOGUE if p.id not in {"empty", "bytes", "none"}]


class TestCatalogue:
    @pytest.mark.parametrize(("make", "error"), CATALOGUE)
    def test_refused_with_its_code(
        self, verifier: TokenVerifier, keys: Keys, make: Case, error: type[TokenError]
    ) -> None:
        """Each bad token raises its own TokenError subclass, whose code leads its text."""
        token = make(keys)
        with pytest.raises(TokenError) as info:
            verifier.verify(token, now=NOW)  # type: ignore[arg-type]
        assert type(info.value) is error
        assert isinstance(info.value, ChildsafeError)
        assert isinstance(info.value, ValueError)
        assert str(info.value).startswith(f"[{error.code}] ")
        assert info.value.message

    @pytest.mark.parametrize(("make", "error"), EDGE)
    def test_refused_at_the_edge(
        self, verifier: TokenVerifier, keys: Keys, make: Case, error: type[TokenError]
    ) -> None:
        """At the edge every bad token becomes the protective unknown-age account, with
        the error code in the recorded reason."""
        token = make(keys)
        resolution = resolve(
            [verifier.resolver()], Req(headers={"authorization": f"Bearer {token}"})
        )
        assert resolution.source == "error"
        assert resolution.account.id == ANONYMOUS_ID
        assert resolution.account.band is AgeBand.UNKNOWN
        assert resolution.error is not None
        assert f"[{error.code}]" in resolution.error

    def test_codes_are_distinct(self) -> None:
        """Every error class has its own stable code."""
        classes = {e for p in CATALOGUE for e in p.values[1:]} | {TokenError}
        codes = [c.code for c in classes]
        assert len(set(codes)) == len(codes)

    def test_code_survives_repr(self) -> None:
        """The code is in the error's repr too, which is what log lines show."""
        error = ExpiredTokenError("the token expired")
        assert repr(error) == "ExpiredTokenError('[expired] the token expired')"
        assert error.message == "the token expired"

    def test_pyjwt_errors_are_chained(self, verifier: TokenVerifier, keys: Keys) -> None:
        """A signature failure keeps pyjwt's error as its cause."""
        with pytest.raises(InvalidSignatureError) as info:
            verifier.verify(sign(claims(), keys.attacker, "RS256", "k1"), now=NOW)
        assert isinstance(info.value.__cause__, jwt.InvalidSignatureError)

    def test_rs_only_issuer_refuses_hs256(self, keys: Keys) -> None:
        """An issuer without a shared secret refuses HS256 outright (no key confusion)."""
        verifier = TokenVerifier([issuer(jwks=jwks_of(public_jwk(keys.rsa, "k1")))])
        token = hs256_with(pem(keys.rsa).encode(), claims(), "k1")
        with pytest.raises(AlgorithmNotAllowedError):
            verifier.verify(token, now=NOW)

    def test_per_issuer_size_limit(self, keys: Keys) -> None:
        """An issuer's own max_token_bytes applies even when another issuer allows more."""
        small = issuer(jwks=jwks_of(public_jwk(keys.rsa, "k1")), max_token_bytes=600)
        large = issuer(issuer="https://big.example", jwks=jwks_of(public_jwk(keys.rsa, "k1")))
        verifier = TokenVerifier([small, large])
        padded = claims(pad="x" * 400)
        with pytest.raises(OversizedTokenError, match=r"age\.example's limit"):
            verifier.verify(sign(padded, keys.rsa, "RS256", "k1"), now=NOW)
        big = claims(iss="https://big.example", pad="x" * 400)
        assert verifier.verify(sign(big, keys.rsa, "RS256", "k1"), now=NOW).band == "13_15"

    def test_pyjwt_key_errors_are_translated(self) -> None:
        """pyjwt's own refusals map to the matching codes."""
        from childsafe.assurance._verifier import _translate  # noqa: PLC0415

        assert isinstance(_translate(jwt.InvalidAlgorithmError("x")), AlgorithmNotAllowedError)
        assert isinstance(_translate(jwt.InvalidKeyError("x")), UnknownKeyError)
        assert isinstance(_translate(jwt.DecodeError("x")), MalformedTokenError)


class Req:
    """A minimal request for the resolver tests."""

    method = "GET"
    path = "/"

    def __init__(
        self, headers: Mapping[str, str] | None = None, cookies: Mapping[str, str] | None = None
    ) -> None:
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}
        self.cookies = dict(cookies or {})

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def cookie(self, name: str) -> str | None:
        return self.cookies.get(name)

    def query(self, name: str) -> str | None:
        del name
        return None

    def path_param(self, name: str) -> str | None:
        del name
        return None

    def json(self) -> object:
        return None


class TestAlgorithms:
    @pytest.mark.parametrize(
        ("alg", "key_name", "band"),
        [
            ("RS256", "rsa", "under_13"),
            ("PS256", "rsa", "13_15"),
            ("ES256", "ec", "16_17"),
            ("ES384", "ec384", "adult"),
            ("EdDSA", "ed", "13_15"),
        ],
    )
    def test_asymmetric(self, keys: Keys, alg: str, key_name: str, band: str) -> None:
        """Each asymmetric algorithm verifies with the issuer's matching key."""
        key = getattr(keys, key_name)
        config = issuer(algorithms=[alg], jwks=jwks_of(public_jwk(key, "k")))
        verified = TokenVerifier([config]).verify(
            sign(claims(age_band=band), key, alg, "k"), now=NOW
        )
        assert verified.band == band
        assert verified.assurance is Assurance.VERIFIED

    def test_hs256_with_shared_secret(self) -> None:
        """HS256 verifies with the configured shared secret."""
        config = issuer(algorithms=["HS256"], shared_secret=SECRET.decode())
        token = sign(claims(), SECRET, "HS256")
        assert TokenVerifier([config]).verify(token, now=NOW).band is AgeBand.AGE_13_15

    def test_pem_public_key_matches_any_kid(self, keys: Keys) -> None:
        """A PEM key is the issuer's only key: it verifies whatever kid a token names."""
        verifier = TokenVerifier([issuer(algorithms=["ES256"], public_key=pem(keys.ec))])
        for kid in (None, "whatever"):
            token = sign(claims(), keys.ec, "ES256", kid)
            assert verifier.verify(token, now=NOW).subject == "user-1"

    def test_no_kid_needs_exactly_one_fitting_key(self, keys: Keys) -> None:
        """A token without kid verifies against the one key of its type, and is refused
        when two keys could verify it."""
        one = TokenVerifier(
            [issuer(jwks=jwks_of(public_jwk(keys.rsa, "k1"), public_jwk(keys.ec, "e")))]
        )
        assert one.verify(sign(claims(), keys.rsa, "RS256"), now=NOW).band == "13_15"
        two = TokenVerifier(
            [issuer(jwks=jwks_of(public_jwk(keys.rsa, "k1"), public_jwk(keys.rsa2, "k2")))]
        )
        with pytest.raises(UnknownKeyError, match="no kid and 2"):
            two.verify(sign(claims(), keys.rsa, "RS256"), now=NOW)

    def test_jwk_alg_restricts_the_key(self, keys: Keys) -> None:
        """A JWK restricted to PS256 does not verify RS256 tokens."""
        config = issuer(
            algorithms=["RS256", "PS256"], jwks=jwks_of(public_jwk(keys.rsa, "k1", alg="PS256"))
        )
        verifier = TokenVerifier([config])
        assert verifier.verify(sign(claims(), keys.rsa, "PS256", "k1"), now=NOW).band
        with pytest.raises(UnknownKeyError):
            verifier.verify(sign(claims(), keys.rsa, "RS256", "k1"), now=NOW)

    def test_several_issuers(self, keys: Keys) -> None:
        """Each token is checked against the issuer it names, with that issuer's keys."""
        first = issuer(jwks=jwks_of(public_jwk(keys.rsa, "k1")))
        second = issuer(
            issuer="https://store.example",
            audience=["app-a", AUDIENCE],
            algorithms=["EdDSA"],
            jwks=jwks_of(public_jwk(keys.ed, "k1")),
            assurance="estimated",
        )
        verifier = TokenVerifier([first, second])
        assert verifier.issuers == (first, second)
        store = claims(iss="https://store.example", aud="app-a", age_band="16_17")
        verified = verifier.verify(sign(store, keys.ed, "EdDSA", "k1"), now=NOW)
        assert (verified.issuer, verified.band, verified.assurance) == (
            "https://store.example",
            AgeBand.AGE_16_17,
            Assurance.ESTIMATED,
        )
        # The first issuer's key cannot vouch for the second issuer.
        with pytest.raises(AlgorithmNotAllowedError):
            verifier.verify(sign(store, keys.rsa, "RS256", "k1"), now=NOW)
        with pytest.raises(InvalidSignatureError):
            verifier.verify(sign(store, Ed25519PrivateKey.generate(), "EdDSA", "k1"), now=NOW)


class TestVerifiedAge:
    def test_fields(self, verifier: TokenVerifier, keys: Keys) -> None:
        """The result names the issuer, subject, expiry and the claim that set the band."""
        verified = verifier.verify(rs(keys, age=12), now=NOW)
        assert verified.band is AgeBand.UNDER_13
        assert verified.claimed_band is AgeBand.UNDER_13
        assert verified.source == "token:age"
        assert verified.issuer == ISSUER
        assert verified.subject == "user-1"
        assert verified.expires_at == dt.datetime.fromtimestamp(NOW + 3600, dt.UTC)
        assert [s.source for s in verified.signals] == ["token:age_band", "token:age"]
        assert verified.signal.band is AgeBand.UNDER_13

    def test_audience_list(self, verifier: TokenVerifier, keys: Keys) -> None:
        """A token for several audiences is accepted when one of them is this platform."""
        assert verifier.verify(rs(keys, aud=["other", AUDIENCE]), now=NOW).band

    def test_header_cache_is_bounded(self, verifier: TokenVerifier, keys: Keys) -> None:
        """Remembered headers never grow past their bound, whatever tokens arrive."""
        for i in range(300):
            with pytest.raises(UnknownKeyError):
                verifier.verify(sign(claims(), keys.rsa, "RS256", f"kid-{i}"), now=NOW)
        assert 0 < len(verifier._headers) <= 256

    def test_leeway(self, keys: Keys) -> None:
        """A token expired less than the leeway ago is accepted; with no leeway it is not."""
        token = sign(claims(exp=NOW - 10), keys.rsa, "RS256", "k1")
        jwks = jwks_of(public_jwk(keys.rsa, "k1"))
        assert TokenVerifier([issuer(jwks=jwks)]).verify(token, now=NOW).band
        with pytest.raises(ExpiredTokenError):
            TokenVerifier([issuer(jwks=jwks, leeway=0)]).verify(token, now=NOW)

    def test_to_account(self, verifier: TokenVerifier, keys: Keys) -> None:
        """to_account gives an Account with the band and assurance, id from sub."""
        verified = verifier.verify(rs(keys), now=NOW)
        account = verified.to_account(jurisdiction="gb", timezone="Europe/London")
        assert account == Account(
            id="user-1",
            band="13_15",
            assurance="verified",
            jurisdiction="GB",
            timezone="Europe/London",
        )
        assert verified.to_account(account_id="local-9").id == "local-9"

    def test_default_clock(self, keys: Keys) -> None:
        """Without now, the system clock is used (a token valid now verifies)."""
        import time  # noqa: PLC0415

        now = int(time.time())
        token = sign(claims(iat=now, exp=now + 600), keys.rsa, "RS256", "k1")
        verifier = TokenVerifier([issuer(jwks=jwks_of(public_jwk(keys.rsa, "k1")))])
        assert verifier.verify(token).band is AgeBand.AGE_13_15


class TestAssurance:
    @pytest.mark.parametrize(
        ("level", "band"),
        [
            ("self_declared", AgeBand.UNKNOWN),
            ("estimated", AgeBand.ADULT),
            ("verified", AgeBand.ADULT),
        ],
    )
    def test_default_policy_needs_an_estimate_for_adults(
        self, keys: Keys, level: str, band: AgeBand
    ) -> None:
        """By default a self-declared adult is treated as an unknown age (fail closed)."""
        config = issuer(jwks=jwks_of(public_jwk(keys.rsa, "k1")), assurance=level)
        verified = TokenVerifier([config]).verify(rs(keys, age_band="adult"), now=NOW)
        assert verified.band is band
        assert verified.claimed_band is AgeBand.ADULT

    def test_strict_policy(self, keys: Keys) -> None:
        """A policy requiring verification for adults and estimates for 16-17s demotes
        weaker tokens to its fallback bands."""
        policy = AssurancePolicy(
            min_assurance_adult="verified",
            fallback_adult="16_17",
            min_assurance_16_17="estimated",
            fallback_16_17="13_15",
        )
        mapping = ClaimMapping(assurance="acr", assurance_values={"urn:ial:2": "verified"})
        config = issuer(jwks=jwks_of(public_jwk(keys.rsa, "k1")), claims=mapping)
        verifier = TokenVerifier([config], assurance_policy=policy)

        def band(**changes: Any) -> AgeBand:
            return verifier.verify(rs(keys, **changes), now=NOW).band

        assert band(age_band="adult", acr="urn:ial:2") is AgeBand.ADULT
        assert band(age_band="adult", acr="estimated") is AgeBand.AGE_16_17
        assert band(age_band="adult", acr="self_declared") is AgeBand.AGE_13_15
        assert band(age_band="16_17", acr="estimated") is AgeBand.AGE_16_17
        assert band(age_band="16_17", acr="self_declared") is AgeBand.AGE_13_15
        signal = verifier.verify(rs(keys, age_band="adult", acr="estimated"), now=NOW).signal
        assert policy.band_for(signal) is AgeBand.AGE_16_17
        assert band(age_band="under_13", acr="self_declared") is AgeBand.UNDER_13
        # Without the claim the issuer's fixed level (verified) applies.
        assert band(age_band="adult") is AgeBand.ADULT
        with pytest.raises(InvalidClaimError, match="assurance level"):
            band(acr="very sure")


class TestTokenCache:
    def test_repeat_is_not_reverified(self, verifier: TokenVerifier, keys: Keys) -> None:
        """The same token verified twice gives the very same result object."""
        token = rs(keys)
        first = verifier.verify(token, now=NOW)
        assert verifier.verify(token, now=NOW + 1) is first
        assert len(verifier.cache) == 1

    def test_never_outlives_exp(self, keys: Keys) -> None:
        """A cached token is refused once its exp has passed (no leeway)."""
        config = issuer(jwks=jwks_of(public_jwk(keys.rsa, "k1")), leeway=0)
        verifier = TokenVerifier([config])
        token = rs(keys, exp=NOW + 100)
        verifier.verify(token, now=NOW)
        assert verifier.verify(token, now=NOW + 99).band
        with pytest.raises(ExpiredTokenError):
            verifier.verify(token, now=NOW + 100)

    def test_cache_ttl(self, keys: Keys) -> None:
        """A cached result is verified again after cache_ttl seconds."""
        verifier = TokenVerifier([issuer(jwks=jwks_of(public_jwk(keys.rsa, "k1")))], cache_ttl=60)
        token = rs(keys)
        first = verifier.verify(token, now=NOW)
        assert verifier.verify(token, now=NOW + 59) is first
        assert verifier.verify(token, now=NOW + 60) is not first

    def test_birthday_at_midnight_anywhere_on_earth(self, keys: Keys) -> None:
        """A birth-date token is re-read at midnight UTC-12, so a birthday is never
        served from a stale cache entry."""
        verifier = TokenVerifier([issuer(jwks=jwks_of(public_jwk(keys.rsa, "k1")))])
        today = dt.datetime.fromtimestamp(NOW, ANYWHERE_ON_EARTH).date()
        tomorrow = today + dt.timedelta(days=1)
        born = tomorrow.replace(year=tomorrow.year - 13).isoformat()
        token = rs(keys, age_band=None, birthdate=born, exp=NOW + 3 * 86400)
        assert verifier.verify(token, now=NOW).band is AgeBand.UNDER_13
        midnight = dt.datetime.combine(tomorrow, dt.time(), ANYWHERE_ON_EARTH).timestamp()
        assert verifier.verify(token, now=midnight - 1).band is AgeBand.UNDER_13
        assert verifier.verify(token, now=midnight).band is AgeBand.AGE_13_15

    def test_bounded_and_least_recently_used_first(self, keys: Keys) -> None:
        """The cache holds at most cache_size tokens and evicts the least recently used."""
        verifier = TokenVerifier([issuer(jwks=jwks_of(public_jwk(keys.rsa, "k1")))], cache_size=2)
        a, b, c = (rs(keys, sub=s) for s in "abc")
        first_a = verifier.verify(a, now=NOW)
        first_b = verifier.verify(b, now=NOW)
        assert verifier.verify(a, now=NOW) is first_a  # a is now the most recent
        verifier.verify(c, now=NOW)
        assert len(verifier.cache) == 2
        assert verifier.verify(a, now=NOW) is first_a
        assert verifier.verify(b, now=NOW) is not first_b

    def test_kept_until_exp_without_birthdates(self, keys: Keys) -> None:
        """Without a birth-date claim mapped, a result is kept until exp or cache_ttl."""
        config = issuer(
            jwks=jwks_of(public_jwk(keys.rsa, "k1")), claims=ClaimMapping(birthdate=None)
        )
        verifier = TokenVerifier([config], cache_ttl=86400)
        token = rs(keys, exp=NOW + 2 * 86400)
        first = verifier.verify(token, now=NOW)
        assert verifier.verify(token, now=NOW + 86399) is first

    def test_disabled(self, keys: Keys) -> None:
        """cache_size=0 verifies every time."""
        verifier = TokenVerifier([issuer(jwks=jwks_of(public_jwk(keys.rsa, "k1")))], cache_size=0)
        token = rs(keys)
        assert verifier.verify(token, now=NOW) is not verifier.verify(token, now=NOW)
        assert len(verifier.cache) == 0

    def test_failures_are_not_cached(self, verifier: TokenVerifier, keys: Keys) -> None:
        """A refused token is refused again (and never enters the cache)."""
        token = rs(keys, exp=NOW - 3600)
        for _ in range(2):
            with pytest.raises(ExpiredTokenError):
                verifier.verify(token, now=NOW)
        assert len(verifier.cache) == 0

    def test_cache_unit(self) -> None:
        """TokenCache drops expired entries, can be cleared and checks its size."""
        cache: TokenCache[str] = TokenCache(4)
        cache.put("t", "value", 10.0)
        assert cache.get("t", 9.9) == "value"
        assert cache.get("t", 10.0) is None
        assert len(cache) == 0
        cache.put("t", "value", 10.0)
        cache.clear()
        assert cache.get("t", 0.0) is None
        with pytest.raises(ValueError, match="maxsize"):
            TokenCache(-1)


class TestResolver:
    def test_valid_token(self, verifier: TokenVerifier, keys: Keys, guard: Guard) -> None:
        """A valid bearer token resolves to the account it describes."""
        request = Req(headers={"Authorization": f"Bearer {rs(keys)}"})
        resolution = resolve([verifier.resolver()], request)
        assert resolution.source == "bearer_token"
        assert resolution.error is None
        assert resolution.account.id == "user-1"
        assert resolution.account.band is AgeBand.AGE_13_15
        assert guard.settings_for(resolution.account).location_sharing == "off"

    def test_cookie_and_custom_account(self, verifier: TokenVerifier, keys: Keys) -> None:
        """The token may come from a cookie, and the app builds its own account."""
        resolver = verifier.resolver(
            header=None,
            cookie="age",
            account=lambda v: v.to_account(account_id=f"acct-{v.subject}", jurisdiction="DE"),
        )
        resolution = resolve([resolver], Req(cookies={"age": rs(keys)}))
        assert (resolution.account.id, resolution.account.jurisdiction) == ("acct-user-1", "DE")

    def test_no_token_falls_through(self, verifier: TokenVerifier) -> None:
        """Without a token the resolver does not apply: the next resolver (or anonymous)."""
        resolution = resolve([verifier.resolver()], Req())
        assert resolution.source == "anonymous"
        assert resolution.account.band is AgeBand.UNKNOWN

    def test_protective_band_for_a_bad_token(
        self, verifier: TokenVerifier, keys: Keys, guard: Guard
    ) -> None:
        """An expired token gets the policy's protective unknown-age settings."""
        request = Req(headers={"Authorization": f"Bearer {rs(keys, exp=NOW - 3600)}"})
        resolution = resolve([verifier.resolver()], request)
        assert resolution.error is not None
        assert "ExpiredTokenError: [expired]" in resolution.error
        assert guard.settings_for(resolution.account) == guard.settings_for(
            Account(id="x", band=AgeBand.UNDER_13)
        )


class TestAsync:
    @pytest.mark.anyio
    async def test_verify_async(self, verifier: TokenVerifier, keys: Keys) -> None:
        """verify_async verifies static-key and shared-secret tokens like verify."""
        verified = await verifier.verify_async(rs(keys), now=NOW)
        assert verified.band is AgeBand.AGE_13_15
        assert await verifier.verify_async(rs(keys), now=NOW) is verified
        hs = await verifier.verify_async(sign(claims(sub="h"), SECRET, "HS256"), now=NOW)
        assert hs.subject == "h"
        with pytest.raises(ExpiredTokenError):
            await verifier.verify_async(rs(keys, exp=NOW - 3600), now=NOW)

    @pytest.mark.anyio
    async def test_not_a_string(self, verifier: TokenVerifier) -> None:
        """verify_async refuses what is not a string, like verify."""
        with pytest.raises(MalformedTokenError):
            await verifier.verify_async(None, now=NOW)  # type: ignore[arg-type]
        await verifier.aclose()  # nothing was opened: nothing to close

    @pytest.mark.anyio
    async def test_clock(self, verifier: TokenVerifier, keys: Keys) -> None:
        """Without now, verify_async reads the verifier's clock."""
        verifier.clock = lambda: NOW + 7200
        with pytest.raises(ExpiredTokenError):
            await verifier.verify_async(rs(keys))

    @pytest.mark.anyio
    async def test_resolver_async(self, verifier: TokenVerifier, keys: Keys) -> None:
        """The async resolver resolves good tokens and fails closed on bad ones."""
        good = Req(headers={"authorization": f"Bearer {rs(keys)}"})
        resolution = await resolve_async([verifier.resolver_async()], good)
        assert resolution.account.band is AgeBand.AGE_13_15
        bad = Req(headers={"authorization": f"Bearer {rs(keys, aud='other')}"})
        resolution = await resolve_async([verifier.resolver_async()], bad)
        assert resolution.account.band is AgeBand.UNKNOWN
        assert resolution.error is not None
        assert "[wrong_audience]" in resolution.error


def test_verified_age_is_frozen(verifier: TokenVerifier, keys: Keys) -> None:
    """A VerifiedAge cannot be changed after the fact."""
    verified = verifier.verify(rs(keys), now=NOW)
    with pytest.raises(AttributeError):
        verified.band = AgeBand.ADULT  # type: ignore[misc]
    assert isinstance(verified, VerifiedAge)


def test_issuer_config_repr_hides_the_secret() -> None:
    """The shared secret never appears in an IssuerConfig's repr."""
    config = IssuerConfig(
        issuer=ISSUER, audience=AUDIENCE, algorithms=["HS256"], shared_secret=SECRET
    )
    assert SECRET.decode() not in repr(config)
