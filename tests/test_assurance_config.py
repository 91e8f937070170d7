"""Issuer, claim-mapping and assurance-policy configuration (childsafe.assurance): every
problem is reported at once, each with the path to the key that is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from childsafe import AgeBand, Assurance
from childsafe.assurance import (
    AgeSignal,
    AssurancePolicy,
    ClaimMapping,
    IssuerConfig,
    TokenVerifier,
    combine_signals,
)
from childsafe.exceptions import ConfigurationError, InvalidAgeError
from tests.assurance_support import (
    AUDIENCE,
    ISSUER,
    NOW,
    SECRET,
    Keys,
    claims,
    pem,
    public_jwk,
    session_keys,
    sign,
)


@pytest.fixture(name="keys")
def _keys() -> Keys:
    return session_keys()


def problems_of(error: pytest.ExceptionInfo[ConfigurationError]) -> dict[str, str]:
    return {p.path: p.message for p in error.value.problems}


def make(**changes: Any) -> IssuerConfig:
    options: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, "algorithms": ["HS256"]}
    options["shared_secret"] = SECRET
    options.update(changes)
    return IssuerConfig(**options)


class TestIssuerConfig:
    def test_every_problem_at_once(self) -> None:
        """A config with many mistakes reports each of them, by field."""
        with pytest.raises(ConfigurationError) as info:
            make(
                issuer="",
                audience=[],
                algorithms=["none", "RS999", 7],
                shared_secret=None,
                leeway=-1,
                jwks_ttl=0,
                jwks_timeout="2",
                max_token_bytes=10,
                assurance="certain",
                claims={"age": "age"},
            )
        found = problems_of(info)
        assert set(found) == {
            "issuer",
            "audience",
            "algorithms[0]",
            "algorithms[1]",
            "algorithms[2]",
            "leeway",
            "jwks_ttl",
            "jwks_timeout",
            "max_token_bytes",
            "assurance",
            "claims",
        }
        assert found["algorithms[0]"] == "unsigned tokens ('none') can never be trusted"
        assert "RS256" in found["algorithms[1]"]  # the suggestion
        assert "'self_declared'" in found["assurance"]
        assert str(info.value).startswith("11 problems in the childsafe configuration")

    def test_algorithms_must_be_a_list(self) -> None:
        """An empty allow-list is refused."""
        with pytest.raises(ConfigurationError, match="expected a list of algorithms"):
            make(algorithms=[])

    @pytest.mark.parametrize(
        ("changes", "path", "message"),
        [
            ({"shared_secret": None}, "shared_secret", "HS256 needs the secret"),
            (
                {"algorithms": ["RS256"], "public_key": "x"},
                "shared_secret",
                "only used for HS256",
            ),
            ({"shared_secret": "short"}, "shared_secret", "too short"),
            ({"shared_secret": 12345}, "shared_secret", "expected a string or bytes"),
            (
                {"shared_secret": "-----BEGIN PUBLIC KEY-----" + "A" * 40},
                "shared_secret",
                "looks like a public key",
            ),
            ({"jwks_url": "https://x.example/jwks"}, "jwks_url", "only used by asymmetric"),
            ({"algorithms": ["ES256"], "shared_secret": None}, "jwks_url", "exactly one of"),
            ({"jwks_max_stale": 10}, "jwks_max_stale", "at least jwks_ttl"),
        ],
    )
    def test_key_material(self, changes: dict[str, Any], path: str, message: str) -> None:
        """Each algorithm family needs its own key material, and only that."""
        with pytest.raises(ConfigurationError) as info:
            make(**changes)
        assert message in problems_of(info)[path]

    def test_two_key_sources(self, keys: Keys) -> None:
        """An issuer with both a PEM key and a JWKS URL is ambiguous."""
        with pytest.raises(ConfigurationError) as info:
            make(
                algorithms=["RS256"],
                shared_secret=None,
                public_key=pem(keys.rsa),
                jwks_url="https://x.example/jwks",
            )
        assert "got public_key, jwks_url" in problems_of(info)["jwks_url"]

    @pytest.mark.parametrize(
        ("url", "ok"),
        [
            ("https://age.example/jwks.json", True),
            ("http://127.0.0.1:8080/jwks.json", True),
            ("http://localhost/jwks.json", True),
            ("http://[::1]:9000/jwks.json", True),
            ("http://127.0.0.2/jwks.json", True),
            ("http://age.example/jwks.json", False),
            ("http://10.0.0.1/jwks.json", False),
            ("ftp://age.example/jwks.json", False),
            ("age.example/jwks.json", False),
            ("https:///jwks.json", False),
        ],
    )
    def test_jwks_url(self, url: str, ok: bool) -> None:
        """Keys are fetched over HTTPS; plain HTTP only to the loopback interface."""
        options = {"algorithms": ["ES256"], "shared_secret": None, "jwks_url": url}
        if ok:
            assert make(**options).jwks_url == url
        else:
            with pytest.raises(ConfigurationError, match="jwks_url"):
                make(**options)

    @pytest.mark.parametrize(
        "url",
        [
            " https://age.example/jwks.json",
            "https://age.example/jwks.json\n",
            "https://age.example/jwks.json\r\nHost: evil.example",
            "http://evil.example\n@localhost/jwks.json",  # urlsplit reads localhost
            "http://local\thost/jwks.json",
            "https://age.example/\x00jwks.json",
        ],
    )
    def test_jwks_url_with_spaces_or_controls_is_refused(self, url: str) -> None:
        """urlsplit drops tabs and line breaks, so the URL checked is not the URL fetched;
        such a URL is a configuration error naming it, not cleaned up."""
        options = {"algorithms": ["ES256"], "shared_secret": None, "jwks_url": url}
        with pytest.raises(ConfigurationError, match="no spaces or control characters") as info:
            make(**options)
        assert list(problems_of(info)) == ["jwks_url"]

    @pytest.mark.parametrize(
        ("key", "value", "where"),
        [
            ("leeway", 10**5000, "issuers[0].leeway"),
            ("max_token_bytes", -(10**5000), "issuers[0].max_token_bytes"),
            ("claims", {"age_over": {"age_over_18": 10**5000}}, "issuers[0].claims.age_over"),
        ],
        ids=["leeway", "max_token_bytes", "age_over"],  # repr() of the values raises
    )
    def test_huge_integers_are_configuration_errors(
        self, key: str, value: object, where: str
    ) -> None:
        """int's 4,300-digit limit is not what the integrator sees: a ConfigurationError
        naming the key and the integer's size."""
        table = {
            "issuer": ISSUER,
            "audience": AUDIENCE,
            "algorithms": ["HS256"],
            "shared_secret": "a test secret, at least 32 bytes long",
            key: value,
        }
        with pytest.raises(ConfigurationError, match="an integer of 5001 digits") as info:
            TokenVerifier.from_mapping({"issuers": [table]})
        assert where in str(info.value)

    def test_jwks_url_type(self) -> None:
        """A JWKS URL must be a string."""
        with pytest.raises(ConfigurationError, match="expected an https:// URL"):
            make(algorithms=["ES256"], shared_secret=None, jwks_url=42)

    def test_public_key(self, keys: Keys) -> None:
        """A PEM public key is accepted; private keys, short RSA keys and junk are not."""
        config = make(algorithms=["RS256"], shared_secret=None, public_key=pem(keys.rsa))
        assert config.static_keys is not None
        weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
        private = keys.ec.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        for value, message in [
            (pem(weak), "1024 bits is too short"),
            (private, "expected a PEM public key"),
            ("not a key", "expected a PEM public key"),
            (1234, "expected a PEM string"),
        ]:
            with pytest.raises(ConfigurationError) as info:
                make(algorithms=["RS256"], shared_secret=None, public_key=value)
            assert message in problems_of(info)["public_key"]

    def test_static_jwks(self, keys: Keys) -> None:
        """A static key set's unusable keys are problems, with their index."""
        with pytest.raises(ConfigurationError) as info:
            make(
                algorithms=["RS256"],
                shared_secret=None,
                jwks={"keys": [public_jwk(keys.rsa, "a"), {"kty": "oct", "k": "abc"}]},
            )
        assert "symmetric" in problems_of(info)["jwks.keys[1]"]
        with pytest.raises(ConfigurationError) as info:
            make(algorithms=["RS256"], shared_secret=None, jwks=[1])
        assert "expected a JWK set" in problems_of(info)["jwks"]

    def test_audience_forms(self) -> None:
        """audience takes one value or several; anything else is refused."""
        assert make(audience="a").audience == ("a",)
        assert make(audience=["a", "b"]).audience == ("a", "b")
        for bad in (5, {"a": 1}, [""], ["a", 3]):
            with pytest.raises(ConfigurationError, match="audience"):
                make(audience=bad)

    def test_string_assurance(self) -> None:
        """assurance may be given by name."""
        assert make(assurance="estimated").assurance is Assurance.ESTIMATED


class TestClaimMapping:
    @pytest.mark.parametrize(
        ("options", "path", "message"),
        [
            ({"age_band": ""}, "age_band", "expected a claim name"),
            ({"birthdate": "a..b"}, "birthdate", "expected a claim name"),
            ({"age": 5}, "age", "expected a claim name"),
            ({"age_over": ["age_over_18"]}, "age_over", "expected a table"),
            ({"age_over": {"over_18": 0}}, "age_over.over_18", "expected an age"),
            ({"age_over": {"over_18": True}}, "age_over.over_18", "expected an age"),
            ({"age_over": {"": 18}}, "age_over.", "expected a claim name"),
            ({"band_values": {"kid": "unknown"}}, "band_values.kid", "expected one of"),
            ({"band_values": {"kid": "child"}}, "band_values.kid", "expected one of"),
            ({"band_values": ["kid"]}, "band_values", "expected a table"),
            ({"assurance_values": {"2": "sure"}}, "assurance_values.2", "expected one of"),
            (
                {"age_band": None, "birthdate": None, "age": None, "age_over": {}},
                "",
                "no age claim is mapped",
            ),
        ],
    )
    def test_problems(self, options: dict[str, Any], path: str, message: str) -> None:
        """Each mistake in a claim mapping is reported at its path."""
        with pytest.raises(ConfigurationError) as info:
            ClaimMapping(**options)
        assert message in problems_of(info)[path]

    def test_values_are_converted(self) -> None:
        """Band and assurance values given by name become enum members."""
        mapping = ClaimMapping(band_values={"teen": "13_15"}, assurance_values={"ial2": "verified"})
        assert mapping.band_values["teen"] is AgeBand.AGE_13_15
        assert mapping.assurance_values["ial2"] is Assurance.VERIFIED

    def test_from_mapping(self) -> None:
        """A claims table is structured strictly; an empty name turns a claim off."""
        mapping = ClaimMapping.from_mapping(
            {"age_band": "", "age": "years", "age_over": {"over18": 18}}
        )
        assert (mapping.age_band, mapping.age, dict(mapping.age_over)) == (
            None,
            "years",
            {"over18": 18},
        )
        with pytest.raises(ConfigurationError) as info:
            ClaimMapping.from_mapping({"age_bnd": "x", "age": 3}, source="c.toml")
        found = problems_of(info)
        assert "did you mean 'age_band'" in found["age_bnd"]
        assert found["age"].startswith("expected a string")


class TestAssurancePolicy:
    def test_problems(self) -> None:
        """Levels must be known and fallbacks younger than the band they replace."""
        with pytest.raises(ConfigurationError) as info:
            AssurancePolicy(
                min_assurance_adult="sure",
                min_assurance_16_17="verified",
                fallback_adult="adult",
                fallback_16_17="16_17",
            )
        assert set(problems_of(info)) == {
            "min_assurance_adult",
            "fallback_adult",
            "fallback_16_17",
        }

    def test_from_mapping(self) -> None:
        """A policy table is read with its defaults for keys left out."""
        policy = AssurancePolicy.from_mapping({"min_assurance_adult": "verified"})
        assert policy == AssurancePolicy(min_assurance_adult=Assurance.VERIFIED)
        with pytest.raises(ConfigurationError) as info:
            AssurancePolicy.from_mapping({"fallback_adult": "adult", "extra": 1})
        assert set(problems_of(info)) == {"fallback_adult", "extra"}


class TestVerifierConfig:
    def test_problems(self) -> None:
        """The verifier checks its issuers, policy and cache options together."""
        with pytest.raises(ConfigurationError) as info:
            TokenVerifier(
                [make(), make(), "issuer"],  # type: ignore[list-item]
                assurance_policy="strict",  # type: ignore[arg-type]
                cache_size=-1,
                cache_ttl=0,
            )
        assert set(problems_of(info)) == {
            "issuers[1].issuer",
            "issuers[2]",
            "assurance",
            "cache_size",
            "cache_ttl",
        }
        with pytest.raises(ConfigurationError, match="at least one issuer"):
            TokenVerifier([])
        with pytest.raises(ConfigurationError, match="at least one issuer"):
            TokenVerifier(None)  # type: ignore[arg-type]

    def test_from_toml(self, keys: Keys, monkeypatch: pytest.MonkeyPatch) -> None:
        """A full TOML config gives a working verifier."""
        monkeypatch.setenv("AGE_SECRET", SECRET.decode())
        modulus = public_jwk(keys.rsa, None)["n"]
        verifier = TokenVerifier.from_toml(
            f"""
cache_size = 100
cache_ttl = 60

[assurance]
min_assurance_adult = "verified"
fallback_adult = "16_17"

[[issuers]]
issuer = "{ISSUER}"
audience = ["{AUDIENCE}", "other"]
algorithms = ["HS256"]
shared_secret_env = "AGE_SECRET"
assurance = "estimated"
leeway = 5
jwks_ttl = 600.5

[issuers.claims]
age_band = ""
birthdate = "verified_claims.claims.birthdate"
age_over = {{ age_over_18 = 18 }}

[[issuers]]
issuer = "https://store.example"
audience = "{AUDIENCE}"
algorithms = ["RS256"]
jwks = {{ keys = [{{ kty = "RSA", kid = "k1", n = "{modulus}", e = "AQAB" }}] }}
""",
            source="age.toml",
        )
        first, second = verifier.issuers
        assert first.audience == (AUDIENCE, "other")
        assert first.claims.age_band is None
        assert (first.leeway, first.jwks_ttl) == (5, 600.5)
        assert verifier.cache.maxsize == 100
        assert verifier.assurance_policy.fallback_adult is AgeBand.AGE_16_17
        token = sign(
            claims(
                age_band=None,
                age_over_18=True,
                verified_claims={"claims": {"birthdate": "1990-01-01"}},
            ),
            SECRET,
            "HS256",
        )
        verified = verifier.verify(token, now=NOW)
        assert (verified.claimed_band, verified.band) == (AgeBand.ADULT, AgeBand.AGE_16_17)
        store = sign(claims(iss="https://store.example"), keys.rsa, "RS256", "k1")
        assert verifier.verify(store, now=NOW).issuer == "https://store.example"
        assert second.static_keys is not None

    def test_every_problem_with_its_path(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Problems anywhere in the file are reported together, each with its path."""
        monkeypatch.delenv("NO_SUCH_SECRET", raising=False)
        with pytest.raises(ConfigurationError) as info:
            TokenVerifier.from_mapping(
                {
                    "cache_size": "big",
                    "extra": True,
                    "assurance": {"min_assurance_adult": "sure"},
                    "issuers": [
                        {
                            "issuer": ISSUER,
                            "audience": AUDIENCE,
                            "algorithms": ["HS256"],
                            "shared_secret_env": "NO_SUCH_SECRET",
                        },
                        {
                            "issuer": "b",
                            "audience": AUDIENCE,
                            "algorithms": ["HS256"],
                            "shared_secret": "x" * 40,
                            "shared_secret_env": "X",
                        },
                        {"issuer": "c", "audience": "a", "algorithms": "HS256"},
                        {
                            "issuer": "d",
                            "audience": "a",
                            "algorithms": ["HS256"],
                            "shared_secret": "x" * 40,
                            "claims": {"agee": "x"},
                        },
                        {"issuer": "e", "audience": "a", "algorithms": ["none"]},
                        "not a table",
                    ],
                },
                source="age.toml",
            )
        found = problems_of(info)
        assert set(found) == {
            "cache_size",
            "extra",
            "assurance.min_assurance_adult",
            "issuers[0].shared_secret_env",
            "issuers[1].shared_secret_env",
            "issuers[2].algorithms",
            "issuers[3].claims.agee",
            "issuers[4].algorithms[0]",
            "issuers[5]",
        }
        assert all(p.source == "age.toml" for p in info.value.problems)

    def test_verifier_level_problems_after_loading(self) -> None:
        """Problems only the verifier sees (a duplicate issuer) keep their path."""
        issuer = {
            "issuer": "a",
            "audience": "a",
            "algorithms": ["HS256"],
            "shared_secret": "x" * 40,
        }
        with pytest.raises(ConfigurationError) as info:
            TokenVerifier.from_mapping({"issuers": [issuer, issuer], "cache_ttl": -5})
        assert set(problems_of(info)) == {"issuers[1].issuer", "cache_ttl"}

    def test_shapes(self) -> None:
        """A config that is not a table, or whose issuers are not a list, is refused."""
        with pytest.raises(ConfigurationError, match="expected a table"):
            TokenVerifier.from_mapping([])  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match="list of issuer tables"):
            TokenVerifier.from_mapping({"issuers": {"issuer": "a"}})
        with pytest.raises(ConfigurationError, match="required key 'issuers'"):
            TokenVerifier.from_mapping({})
        with pytest.raises(ConfigurationError, match="not valid TOML"):
            TokenVerifier.from_toml("issuers = [", source="bad.toml")

    def test_from_file(self, tmp_path: Path) -> None:
        """from_file reads TOML and names the file in problems."""
        path = tmp_path / "age.toml"
        path.write_text(
            '[[issuers]]\nissuer = "a"\naudience = "b"\nalgorithms = ["HS256"]\n'
            f'shared_secret = "{"s" * 40}"\n'
        )
        assert TokenVerifier.from_file(path).issuers[0].issuer == "a"
        path.write_text('[[issuers]]\nissuer = "a"\n')
        with pytest.raises(ConfigurationError) as info:
            TokenVerifier.from_file(path)
        assert info.value.problems[0].source == str(path)

    def test_nested_tables_must_be_tables(self) -> None:
        """claims and assurance must be tables; their own problems keep their paths."""
        issuer = {
            "issuer": "a",
            "audience": "a",
            "algorithms": ["HS256"],
            "shared_secret": "x" * 40,
        }
        with pytest.raises(ConfigurationError) as info:
            TokenVerifier.from_mapping(
                {
                    "assurance": "strict",
                    "issuers": [
                        {**issuer, "claims": "age"},
                        {**issuer, "issuer": "b", "claims": {"age_over": {"over": 0}}},
                    ],
                }
            )
        assert set(problems_of(info)) == {
            "assurance",
            "issuers[0].claims",
            "issuers[1].claims.age_over.over",
        }

    def test_issuer_from_mapping(self) -> None:
        """A single issuer table can be loaded on its own."""
        config = IssuerConfig.from_mapping(
            {"issuer": "a", "audience": "b", "algorithms": ["HS256"], "shared_secret": "s" * 40}
        )
        assert config.secret == b"s" * 40
        with pytest.raises(ConfigurationError, match="leeway"):
            IssuerConfig.from_mapping(
                {
                    "issuer": "a",
                    "audience": "b",
                    "algorithms": ["HS256"],
                    "shared_secret": "s" * 40,
                    "leeway": "soon",
                }
            )


class TestAgeSignal:
    def test_validation(self) -> None:
        """A signal needs a known band and an assurance level."""
        with pytest.raises(InvalidAgeError, match="band"):
            AgeSignal(band="unknown", assurance="verified", source="x")
        with pytest.raises(InvalidAgeError, match="band"):
            AgeSignal(band="teen", assurance="verified", source="x")
        with pytest.raises(InvalidAgeError, match="assurance"):
            AgeSignal(band="adult", assurance="sure", source="x")
        signal = AgeSignal(band="adult", assurance="verified", source="x")
        assert (signal.band, signal.assurance) == (AgeBand.ADULT, Assurance.VERIFIED)

    def test_huge_integers_are_invalid_ages(self) -> None:
        """int's 4,300-digit limit was a bare ValueError out of the message."""
        huge = 10**5000
        with pytest.raises(InvalidAgeError, match="got an integer of 5001 digits"):
            AgeSignal.from_age(huge)
        with pytest.raises(InvalidAgeError, match=r"lower must be .* an integer of 5001"):
            AgeSignal.from_age_range(huge, None, source="app_store")
        with pytest.raises(InvalidAgeError, match=r"band must be one of .* an integer"):
            AgeSignal(band=huge, assurance="verified", source="x")

    def test_combine_signals_takes_signals_only(self) -> None:
        """A value that is not an AgeSignal says which argument (was an AttributeError)."""
        with pytest.raises(InvalidAgeError, match="argument 1 is str 'self_declared'"):
            combine_signals(AgeSignal.from_age(14), "self_declared")  # type: ignore[arg-type]


class TestExports:
    def test_all_is_sorted_and_complete(self) -> None:
        """`childsafe.assurance.__all__` is sorted and lists every public name."""
        from childsafe import assurance  # noqa: PLC0415

        assert assurance.__all__ == sorted(
            assurance.__all__, key=lambda n: (not n.isupper(), not n[0].isupper(), n)
        )
        public = {n for n in dir(assurance) if not n.startswith("_")} - {"annotations"}
        modules = {n for n in public if type(getattr(assurance, n)).__name__ == "module"}
        assert public - modules == set(assurance.__all__)
        for name in assurance.__all__:
            obj = getattr(assurance, name)
            if isinstance(obj, type):
                assert obj.__module__ == "childsafe.assurance", name
