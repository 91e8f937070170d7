"""Validation at the public boundaries: jurisdictions, durations, parsers, dates."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import math
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from childsafe import Account, AgeBand, Guard, Policy
from childsafe._iso3166 import COUNTRIES, SUBDIVISIONS
from childsafe._parsing import ParseError, check_depth, content_length, load_json, load_toml
from childsafe._policy import normalise_jurisdiction
from childsafe.assurance import IssuerConfig, TokenVerifier
from childsafe.assurance._errors import InvalidClaimError, MalformedTokenError, TokenError
from childsafe.cli import main
from childsafe.exceptions import (
    ConfigurationError,
    InvalidAccountError,
    InvalidAgeError,
    InvalidCheckError,
)
from childsafe.parental import (
    ConsentIssuer,
    ConsentVerifier,
    MemoryRevocationStore,
    SQLiteRevocationStore,
)
from childsafe.parental._errors import GrantConfigError, GrantError, MalformedGrantError
from tests.assurance_support import (
    AUDIENCE,
    ISSUER,
    NOW,
    SECRET,
    claims,
    public_jwk,
    session_keys,
    sign,
)


class TestJurisdictionCodes:
    @pytest.mark.parametrize(
        ("code", "hint"),
        [
            ("US-ZZ", "'ZZ' is not an ISO 3166-2 subdivision of US"),
            ("US-CAL", "did you mean 'US-CA'"),
            ("US-", "malformed subdivision"),
            ("UK", "did you mean 'GB'"),
            ("ZZ", "not an ISO 3166-1 alpha-2 country code"),
            ("EU-DE", "is a group"),
        ],
    )
    def test_account_refuses_unknown_codes(self, code: str, hint: str) -> None:
        """An Account with a code ISO 3166 does not know is refused, with a did-you-mean."""
        with pytest.raises(InvalidAccountError, match=hint):
            Account(id="a", jurisdiction=code)

    @pytest.mark.parametrize("code", ["US-ZZ", "US-CAL"])
    def test_config_refuses_unknown_codes(self, code: str) -> None:
        """A config jurisdiction that would silently drop a state's rules is a load error."""
        with pytest.raises(ConfigurationError, match=f"jurisdiction {code!r}"):
            Policy.from_mapping({"jurisdiction": code})

    @pytest.mark.parametrize("code", ["gb", "US-NY", "us-ca", "GB-SCT", "FR-75", "DE-BY", "EU"])
    def test_known_codes_pass(self, code: str) -> None:
        """Countries, their checked subdivisions and unchecked well-formed ones are accepted."""
        assert Account(id="a", jurisdiction=code).jurisdiction == code.upper()

    @given(st.sampled_from(sorted(COUNTRIES)))
    def test_every_country_is_accepted(self, code: str) -> None:
        """Every ISO 3166-1 alpha-2 code is accepted, in either case."""
        assert normalise_jurisdiction(code.lower()) == code

    @given(st.sampled_from(sorted(SUBDIVISIONS)), st.data())
    def test_every_listed_subdivision_is_accepted(self, country: str, data: st.DataObject) -> None:
        """Every subdivision of a checked country is accepted."""
        sub = data.draw(st.sampled_from(sorted(SUBDIVISIONS[country])))
        assert normalise_jurisdiction(f"{country}-{sub}") == f"{country}-{sub}"

    @given(st.text(max_size=12))
    def test_any_text_is_a_code_or_a_value_error(self, text: str) -> None:
        """Whatever the text, the result is a known code or a ValueError, nothing else."""
        try:
            code = normalise_jurisdiction(text)
        except ValueError:
            return
        assert code.split("-")[0] in COUNTRIES | {"EU"}
        assert text.isascii(), "only an ASCII spelling may name a jurisdiction"
        assert code == text.strip().upper()

    @pytest.mark.parametrize(
        "code",
        [
            "\u00df",  # 'ß'.upper() is 'SS', South Sudan
            "us-\u0131l",  # the dotless i upper-cases to 'I', so 'US-IL'
            "\ufb00",  # the ligature 'ﬀ' upper-cases to 'FF'
            "\uff27\uff22",  # fullwidth G and B
            "G\u0392",  # Greek capital beta looks like B
        ],
    )
    def test_non_ascii_spellings_are_refused(self, code: str) -> None:
        """A code with a letter that upper-cases (or looks) like an ASCII one is refused,
        not read as some other country's, in an Account, a config and the CLI."""
        with pytest.raises(InvalidAccountError, match="is not an ISO 3166-1 alpha-2 code"):
            Account(id="a", jurisdiction=code)
        with pytest.raises(ConfigurationError, match="is not an ISO 3166-1 alpha-2 code"):
            Policy.from_mapping({"jurisdiction": [code]})
        assert main(["explain", "--age", "14", "--jurisdiction", code]) == 2


def hs256(payload: bytes, secret: bytes = SECRET, header: bytes = b'{"alg":"HS256"}') -> str:
    """A compact HS256 JWS over the exact ``payload`` bytes (duplicate keys and all)."""

    def seg(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{seg(header)}.{seg(payload)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{seg(mac)}"


def hs_issuer(**changes: Any) -> IssuerConfig:
    options: dict[str, Any] = {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "algorithms": ["HS256"],
        "shared_secret": SECRET,
    }
    options.update(changes)
    return IssuerConfig(**options)


@pytest.fixture(name="verifier")
def _verifier() -> TokenVerifier:
    return TokenVerifier([hs_issuer()], clock=lambda: NOW)


class TestAgeTokens:
    def test_birth_date_over_130_years_ago(self, verifier: TokenVerifier) -> None:
        """A birth date more than 130 years ago is a TokenError, not InvalidAgeError."""
        token = hs256(json.dumps(claims(age_band=None, birthdate="1850-01-01")).encode())
        with pytest.raises(InvalidClaimError, match="more than 130 years ago"):
            verifier.verify(token, now=NOW)

    @pytest.mark.parametrize("birthdate", ["0001-01-01", "9999-12-31", "1894-06-15"])
    def test_extreme_birth_dates_are_token_errors(
        self, verifier: TokenVerifier, birthdate: str
    ) -> None:
        """Any impossible birth date is refused as a TokenError, never another error."""
        token = hs256(json.dumps(claims(age_band=None, birthdate=birthdate)).encode())
        with pytest.raises(TokenError):
            verifier.verify(token, now=NOW)

    @pytest.mark.parametrize(
        "birthdate",
        [
            "\uff12\uff10\uff11\uff10-01-01",  # fullwidth digits
            "2010-0\u0661-01",  # an Arabic-Indic one
            "\u0968\u0966\u0967\u0966",  # a Devanagari year
        ],
    )
    def test_birth_date_in_other_digits_is_refused(
        self, verifier: TokenVerifier, birthdate: str
    ) -> None:
        """'YYYY-MM-DD' means ASCII digits, as the CLI's --birth-date does: other scripts'
        digits are an invalid claim, not read as a date."""
        token = hs256(json.dumps(claims(age_band=None, birthdate=birthdate)).encode())
        with pytest.raises(InvalidClaimError, match="must be a 'YYYY-MM-DD' date"):
            verifier.verify(token, now=NOW)

    def test_duplicate_age_claim_is_refused(self, verifier: TokenVerifier) -> None:
        """A payload with the age claim twice is malformed, not read as the last one."""
        base = claims(age_band=None)
        body = json.dumps(base)[:-1] + ', "age": 15, "age": 40}'
        with pytest.raises(MalformedTokenError, match="duplicate key 'age'"):
            verifier.verify(hs256(body.encode()), now=NOW)

    def test_duplicate_header_key_is_refused(self, verifier: TokenVerifier) -> None:
        """A header naming alg twice is malformed."""
        token = hs256(json.dumps(claims()).encode(), header=b'{"alg":"HS256","alg":"none"}')
        with pytest.raises(MalformedTokenError, match="duplicate key 'alg'"):
            verifier.verify(token, now=NOW)

    def test_deep_payload_is_malformed(self, verifier: TokenVerifier) -> None:
        """A payload nested thousands deep is a MalformedTokenError, not RecursionError."""
        payload = b'{"a":' + b"[" * 2000 + b"]" * 2000 + b"}"
        with pytest.raises(MalformedTokenError, match="nested more than"):
            verifier.verify(hs256(payload), now=NOW)


class TestDurations:
    @pytest.mark.parametrize(
        "option",
        ["leeway", "jwks_ttl", "jwks_cooldown", "jwks_timeout", "jwks_max_stale"],
    )
    @pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 10**400, 10**9, -1, "5"])
    def test_issuer_durations_are_finite_and_bounded(self, option: str, value: object) -> None:
        """Infinite, NaN, huge, negative or non-number durations are config errors."""
        with pytest.raises(ConfigurationError) as info:
            hs_issuer(
                jwks_url="https://keys.example/jwks.json",
                shared_secret=None,
                algorithms=["RS256"],
                **{option: value},
            )
        assert any(p.path.endswith(option) for p in info.value.problems)

    def test_infinite_leeway_no_longer_revives_a_1970_token(self) -> None:
        """The hole: leeway = inf made a token that expired in 1970 verify."""
        with pytest.raises(ConfigurationError, match="leeway"):
            hs_issuer(leeway=math.inf)

    @pytest.mark.parametrize("value", [math.nan, math.inf, 0, -5, 10**6, True])
    def test_cache_ttl(self, value: object) -> None:
        """A NaN cache_ttl silently disabled the TTL; now any bad value is refused."""
        with pytest.raises(ConfigurationError, match="cache_ttl"):
            TokenVerifier([hs_issuer()], cache_ttl=value)  # type: ignore[arg-type]

    @given(st.floats(allow_nan=True, allow_infinity=True) | st.integers())
    def test_any_number_is_checked_or_accepted_within_bounds(self, value: float) -> None:
        """Every number either loads within its bounds or is a ConfigurationError."""
        try:
            config = hs_issuer(leeway=value)
        except ConfigurationError:
            return
        assert 0 <= config.leeway <= 600

    @pytest.mark.parametrize("value", [math.inf, math.nan, 0, 10**400])
    def test_store_timeouts(self, tmp_path: Path, value: object) -> None:
        """Revocation store timeouts are finite, positive and bounded."""
        with pytest.raises(GrantConfigError, match="timeout"):
            SQLiteRevocationStore(tmp_path / "r.sqlite3", timeout=value)  # type: ignore[arg-type]

    def test_grant_lifetimes(self) -> None:
        """A grant issuer's max_ttl and a verifier's leeway are bounded timedeltas."""
        with pytest.raises(GrantConfigError, match="max_ttl"):
            ConsentIssuer(b"k" * 32, max_ttl=dt.timedelta.max)
        with pytest.raises(GrantConfigError, match="leeway"):
            ConsentVerifier(
                b"k" * 32, revocations=MemoryRevocationStore(), leeway=dt.timedelta(days=9999)
            )


class TestConsentGrantTimes:
    @pytest.mark.parametrize("exp", [10**20, 10**400, 1e300])
    def test_huge_exp_is_a_grant_error(self, exp: float) -> None:
        """A grant whose exp is far beyond datetime.max is a GrantError, not OverflowError."""
        import jwt  # noqa: PLC0415

        now = int(time.time())
        token = jwt.encode(
            {
                "iss": "childsafe",
                "aud": "childsafe:consent",
                "sub": "c1",
                "guardian": "p1",
                "scope": "data_sharing:on",
                "iat": now,
                "nbf": now,
                "exp": exp,
                "jti": "j1",
            },
            b"k" * 32,
            algorithm="HS256",
            headers={"typ": "childsafe-consent+jwt"},
        )
        verifier = ConsentVerifier(b"k" * 32, revocations=MemoryRevocationStore())
        with pytest.raises(GrantError):
            verifier.decode(token)

    def test_duplicate_scope_is_refused(self) -> None:
        """A grant that repeats its scope claim is malformed."""
        now = int(time.time())
        body = (
            f'{{"iss":"childsafe","aud":"childsafe:consent","sub":"c1","guardian":"p1",'
            f'"scope":"dm.from:x","scope":"data_sharing:on","iat":{now},"exp":{now + 60},'
            f'"jti":"j1"}}'
        ).encode()
        token = hs256(body, b"k" * 32, b'{"alg":"HS256","typ":"childsafe-consent+jwt"}')
        verifier = ConsentVerifier(b"k" * 32, revocations=MemoryRevocationStore())
        with pytest.raises(MalformedGrantError, match="duplicate key 'scope'"):
            verifier.decode(token)


class TestExtremeDates:
    @pytest.mark.parametrize(
        ("at", "tz"),
        [
            (dt.datetime.max.replace(tzinfo=dt.UTC), "Pacific/Kiritimati"),
            (dt.datetime.min.replace(tzinfo=dt.UTC), "America/New_York"),
        ],
    )
    def test_notify_at_the_edges_of_time(self, guard: Guard, at: dt.datetime, tz: str) -> None:
        """notify near datetime.max/min is an InvalidCheckError, not OverflowError."""
        target = Account(id="t", band="13_15", timezone=tz)
        with pytest.raises(InvalidCheckError, match="outside the dates"):
            guard.check("notify", target=target, at=at)

    @pytest.mark.parametrize(
        ("on", "tz"),
        [
            (dt.datetime.max.replace(tzinfo=dt.UTC), "Pacific/Kiritimati"),
            (dt.datetime.min.replace(tzinfo=dt.UTC), "America/New_York"),
        ],
    )
    def test_from_birth_date_at_the_edges(self, on: dt.datetime, tz: str) -> None:
        """from_birth_date near datetime.max/min is an InvalidAgeError, not OverflowError."""
        with pytest.raises(InvalidAgeError, match="outside the dates"):
            AgeBand.from_birth_date(dt.date(2010, 1, 1), on=on, tz=tz)

    @given(
        st.datetimes(timezones=st.just(dt.UTC)),
        st.sampled_from(["Pacific/Kiritimati", "America/New_York", "Etc/GMT+12", None]),
    )
    def test_notify_never_overflows(self, at: dt.datetime, tz: str | None) -> None:
        """Any aware instant gives a decision or an InvalidCheckError."""
        target = Account(id="t", band="13_15", timezone=tz)
        with contextlib.suppress(InvalidCheckError):
            _GUARD.check("notify", target=target, at=at)


_GUARD = Guard()


class TestParsers:
    @pytest.mark.parametrize("depth", [33, 1000, 100_000])
    def test_deep_json(self, depth: int) -> None:
        """Deep JSON is a ParseError, whatever the depth."""
        with pytest.raises(ParseError, match="nested more than 32"):
            load_json("[" * depth + "]" * depth)

    @pytest.mark.parametrize("depth", [33, 1000, 100_000])
    def test_deep_toml(self, depth: int) -> None:
        """Deep TOML is a ParseError, whatever the depth."""
        with pytest.raises(ParseError, match="nested more than 32"):
            load_toml("a = " + "[" * depth + "]" * depth)

    def test_size_limit(self) -> None:
        """Text over the size limit is refused before parsing."""
        with pytest.raises(ParseError, match="larger than 10 bytes"):
            load_json("[" + "1," * 10 + "1]", max_bytes=10)

    def test_duplicates_and_constants(self) -> None:
        """Repeated keys and NaN/Infinity are not JSON here."""
        with pytest.raises(ParseError, match="duplicate key"):
            load_json('{"a": 1, "a": 2}')
        with pytest.raises(ParseError, match="NaN"):
            load_json("[NaN]")

    def test_deep_mapping_policy(self) -> None:
        """A deeply nested mapping given to Policy.from_mapping is a ConfigurationError."""
        deep: Any = "x"
        for _ in range(5000):
            deep = {"a": deep}
        with pytest.raises(ConfigurationError, match="nested more than"):
            Policy.from_mapping({"bands": deep})

    @pytest.mark.parametrize(
        ("name", "text"),
        [
            ("deep.toml", "a = " + "[" * 100_000 + "]" * 100_000),
            ("deep.json", '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"),
            ("dup.json", '{"unknown_age": "under_13", "unknown_age": "16_17"}'),
        ],
    )
    def test_policy_files(self, tmp_path: Path, name: str, text: str) -> None:
        """Deep or duplicated policy files are ConfigurationErrors."""
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(ConfigurationError):
            Policy.from_file(path)

    def test_verifier_toml(self) -> None:
        """A deeply nested verifier config is a ConfigurationError."""
        with pytest.raises(ConfigurationError, match="nested more than"):
            TokenVerifier.from_toml("a = " + "[" * 100_000 + "]" * 100_000)

    @given(
        st.recursive(
            st.none() | st.integers(),
            lambda c: st.lists(c) | st.dictionaries(st.text(max_size=3), c),
            max_leaves=30,
        )
    )
    def test_check_depth_matches_nesting(self, value: object) -> None:
        """check_depth refuses exactly the values nested deeper than the limit."""

        def depth(v: object) -> int:
            if isinstance(v, dict):
                return 1 + max(map(depth, v.values()), default=0)
            if isinstance(v, list):
                return 1 + max(map(depth, v), default=0)
            return 0

        try:
            check_depth(value, 3)
        except ParseError:
            assert depth(value) > 3
        else:
            assert depth(value) <= 3


class TestCliMalformedInput:
    @pytest.fixture(name="files")
    def _files(self, tmp_path: Path) -> dict[str, Path]:
        files = {
            "deep.toml": "a = " + "[" * 100_000 + "]" * 100_000,
            "deep.json": '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}",
            "dup.json": '{"unknown_age": "under_13", "unknown_age": "16_17"}',
            "binary.toml": "\udcff",
            "ok.toml": "",
        }
        out = {}
        for name, text in files.items():
            path = tmp_path / name
            path.write_bytes(text.encode("utf-8", "surrogateescape"))
            out[name] = path
        return out

    @pytest.mark.parametrize("bad", ["deep.toml", "deep.json", "dup.json", "binary.toml"])
    def test_diff_exits_2(
        self, files: dict[str, Path], bad: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """diff on a malformed file exits 2 (never 1, "loosens") with one line, no traceback."""
        assert main(["diff", str(files["ok.toml"]), str(files[bad])]) == 2
        assert main(["diff", str(files[bad]), str(files["ok.toml"])]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert all(line.startswith(str(files[bad])) for line in err.splitlines())

    @pytest.mark.parametrize("bad", ["deep.toml", "deep.json", "dup.json", "binary.toml"])
    def test_check_reports_one_line(
        self, files: dict[str, Path], bad: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """check reports a malformed file as one problem line (exit 1, as for any problem)."""
        assert main(["check", str(files[bad])]) == 1
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 2
        assert err[0].startswith(str(files[bad]))

    @pytest.mark.parametrize("command", ["explain", "matrix"])
    @pytest.mark.parametrize("bad", ["deep.toml", "deep.json", "dup.json"])
    def test_other_commands_exit_2(
        self, files: dict[str, Path], bad: str, command: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """explain and matrix exit 2 on a malformed config."""
        extra = ["--age", "12"] if command == "explain" else []
        assert main([command, "--config", str(files[bad]), *extra]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert len(err.splitlines()) == 1


class _SlowServer:
    """An HTTP server on 127.0.0.1 that answers 200 and then trickles its body a byte
    at a time (``trickle``), streams bytes without end (``endless``), or trickles its
    very headers (``headers``). ``abandoned`` is set when the client closes the
    connection; ``finished`` if the server got to the end of what it sends (the whole
    trickle takes tens of seconds, so a client without a deadline would read it all)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.abandoned = threading.Event()
        self.finished = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/jwks.json"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        body = json.dumps({"keys": [public_jwk(session_keys().rsa, "k1")]}).encode()
        try:
            conn.recv(65536)
            if self.mode == "headers":
                for byte in b"HTTP/1.1 200 OK\r\nx-padding: " + b"a" * 200:
                    if self.stop.wait(0.2):
                        return
                    conn.sendall(bytes([byte]))
                self.finished.set()
            elif self.mode == "trickle":
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body))
                for byte in body:
                    if self.stop.wait(0.2):
                        return
                    conn.sendall(bytes([byte]))
                self.finished.set()
            else:
                conn.sendall(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n")
                chunk = b" " * 65536
                while not self.stop.is_set():
                    conn.sendall(chunk)
        except OSError:
            self.abandoned.set()
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture(name="slow", params=["trickle", "endless", "headers"])
def _slow(request: pytest.FixtureRequest) -> Iterator[_SlowServer]:
    server = _SlowServer(request.param)
    try:
        yield server
    finally:
        server.close()


def _rs_token() -> str:
    return sign(claims(exp=NOW + 3600), session_keys().rsa, "RS256", "k1")


class TestJwksDeadline:
    def _verifier(self, slow: _SlowServer) -> TokenVerifier:
        config = IssuerConfig(
            issuer=ISSUER,
            audience=AUDIENCE,
            algorithms=["RS256"],
            jwks_url=slow.url,
            jwks_timeout=0.5,
        )
        return TokenVerifier([config], clock=lambda: NOW)

    def test_sync_fetch_has_an_overall_deadline(self, slow: _SlowServer) -> None:
        """A server trickling its key set, or streaming without end, cannot hold verify()."""
        verifier = self._verifier(slow)
        with pytest.raises(TokenError, match="keys_unavailable"):
            verifier.verify(_rs_token(), now=NOW)
        # The client hung up mid-answer: the server's next write fails. Without the
        # deadline it would have read the whole trickle (or forever, endless).
        assert slow.abandoned.wait(30)
        assert not slow.finished.is_set()
        cache = verifier.jwks(ISSUER)
        assert cache is not None
        assert cache.last_error is not None
        verifier.close()

    @pytest.mark.anyio
    async def test_async_fetch_has_an_overall_deadline(self, slow: _SlowServer) -> None:
        """verify_async gives up at the deadline too."""
        verifier = self._verifier(slow)
        with pytest.raises(TokenError, match="keys_unavailable"):
            await verifier.verify_async(_rs_token(), now=NOW)
        assert slow.abandoned.wait(30)
        assert not slow.finished.is_set()
        await verifier.aclose()

    def test_deep_jwks_body(self) -> None:
        """A JWKS body of nested arrays is a failed fetch, not a RecursionError."""
        from tests.assurance_support import jwks_server  # noqa: PLC0415

        with jwks_server({}) as server:
            server.body = b"[" * 100_000 + b"]" * 100_000
            config = IssuerConfig(
                issuer=ISSUER, audience=AUDIENCE, algorithms=["RS256"], jwks_url=server.url
            )
            verifier = TokenVerifier([config], clock=lambda: NOW)
            with pytest.raises(TokenError, match="keys_unavailable"):
                verifier.verify(_rs_token(), now=NOW)
            cache = verifier.jwks(ISSUER)
            assert cache is not None
            assert "nested more than" in str(cache.last_error)
            verifier.close()


class TestReferenceTimes:
    @pytest.mark.parametrize("now", [math.nan, math.inf, -math.inf, 1e20, -1e20, True, "now"])
    def test_verify_now_must_be_a_time(self, verifier: TokenVerifier, now: object) -> None:
        """verify(now=...) outside any calendar is an InvalidAgeError, never a bare ValueError."""
        token = hs256(json.dumps(claims(age_band=None, birthdate="2010-01-01")).encode())
        with pytest.raises(InvalidAgeError, match="now must be"):
            verifier.verify(token, now=now)  # type: ignore[arg-type]

    def test_grant_issued_at_the_end_of_time(self) -> None:
        """Issuing a grant whose expiry no calendar holds is a GrantConfigError."""
        child = Account(id="c", band="under_13", guardians=["p"])
        with pytest.raises(GrantConfigError, match="past the dates"):
            ConsentIssuer(b"k" * 32).issue(
                child, "p", "data_sharing:on", now=dt.datetime.max.replace(tzinfo=dt.UTC)
            )

    @pytest.mark.parametrize("kind", ["issuer", "claims", "assurance"])
    def test_deep_mappings_in_assurance_config(self, kind: str) -> None:
        """Every assurance from_mapping refuses a mapping nested too deep."""
        from childsafe.assurance import AssurancePolicy, ClaimMapping  # noqa: PLC0415

        deep: Any = 1
        for _ in range(5000):
            deep = [deep]
        load = {
            "issuer": IssuerConfig.from_mapping,
            "claims": ClaimMapping.from_mapping,
            "assurance": AssurancePolicy.from_mapping,
        }[kind]
        with pytest.raises(ConfigurationError, match="nested more than"):
            load({"x": deep})


class TestContentLength:
    @given(st.text(max_size=30))
    def test_any_header_is_a_length_or_a_parse_error(self, value: str) -> None:
        """Whatever a Content-Length holds, the answer is a length, ``None`` or the
        library's ParseError naming it; ASCII digits are their number."""
        text = value.strip(" \t")
        if text and not (text.isascii() and text.isdigit()):
            with pytest.raises(ParseError, match=r"^Content-Length "):
                content_length(value)
            return
        found = content_length(value)
        if len(text.lstrip("0")) > 18:  # more than any cap: the documented 10**18
            assert found == 10**18
        else:
            assert found == (int(text) if text else None)

    @pytest.mark.parametrize("value", ["\u00b2", "1\u00b3", "\u0665", "+5", "-5", "5_0", "0x1"])
    def test_not_ascii_digits(self, value: str) -> None:
        with pytest.raises(ParseError, match="is not a number"):
            content_length(value)

    def test_thousands_of_digits(self) -> None:
        """Past int()'s 4,300-digit limit: larger than any cap, or its value when the
        digits are leading zeros."""
        assert content_length("9" * 5000) == 10**18
        assert content_length("0" * 5000 + "12") == 12


class TestConfigHostileValues:
    """A config value or key of any shape is a ConfigurationError naming where, never
    another exception (int's 4,300-digit limit was a bare ValueError)."""

    HUGE = 10**5000

    @pytest.mark.parametrize(
        ("config", "where"),
        [
            ({"bands": {"13_15": {"daily_time_reminder": {"default": HUGE}}}}, "default"),
            ({"name": HUGE}, "name"),
            ({HUGE: 1}, "unknown key an integer of 5001 digits"),
            ({"bands": {HUGE: {}}}, "bands: an age band is named by a string"),
            ({"bands": {"13_15": {HUGE: {}}}}, "bands.13_15: a setting is named by a string"),
            ({"bands": {"13_15": {"direct_messages": {"default": HUGE}}}}, "default"),
            ({"bands": {"16_17": {"quiet_hours": {"floor": HUGE}}}}, "floor"),
        ],
    )
    def test_huge_integers_are_configuration_errors(self, config: Any, where: str) -> None:
        with pytest.raises(ConfigurationError, match=where) as caught:
            Policy.from_mapping(config)
        assert "an integer of 5001 digits" in str(caught.value)

    def test_huge_integer_in_toml_is_a_configuration_error(self) -> None:
        with pytest.raises(ConfigurationError, match=r"c\.toml: invalid TOML: .*4300 digits"):
            Policy.from_toml(f"name = {'9' * 5000}\n", source="c.toml")

    def test_long_values_are_cut_in_messages(self) -> None:
        with pytest.raises(ConfigurationError) as caught:
            Policy.from_mapping({"jurisdiction": "x" * 100_000})
        assert "(100002 characters)" in str(caught.value)
        assert len(str(caught.value)) < 1000

    def test_cli_diff_with_a_huge_integer_exits_2(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """diff's documented exit status for an invalid config, not a traceback."""
        path = tmp_path / "big.toml"
        path.write_text(
            f"[bands.13_15.daily_time_reminder]\ndefault = {'9' * 5000}\n", encoding="utf-8"
        )
        assert main(["diff", "baseline", str(path)]) == 2
        assert main(["check", str(path)]) == 1
        assert "big.toml: invalid TOML" in capsys.readouterr().err

    @given(
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers()
            | st.floats()
            | st.text(max_size=8)
            | st.sampled_from(["nobody", "none", "22:00-07:00", "13_15", "GB", "parent"]),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(
                    st.sampled_from(["default", "floor", "changeable_by", "bands", "13_15"])
                    | st.text(max_size=4)
                    | st.integers(),
                    inner,
                    max_size=3,
                )
            ),
            max_leaves=12,
        ),
        st.sampled_from(
            [
                "name",
                "jurisdiction",
                "unknown_age",
                "declarations",
                "bands",
                "bands.13_15",
                "bands.13_15.direct_messages",
                "bands.16_17.quiet_hours.default",
                "bands.adult.daily_time_reminder.floor",
                "bands.under_13.purchases.changeable_by",
            ]
        ),
    )
    def test_any_value_anywhere_is_a_policy_or_a_configuration_error(
        self, value: object, where: str
    ) -> None:
        config: dict[object, object] = {}
        node = config
        *parents, last = where.split(".")
        for part in parents:
            node = node.setdefault(part, {})  # type: ignore[assignment]
        node[last] = value
        problems: tuple[object, ...] = ()
        try:
            Policy.from_mapping(config)  # type: ignore[arg-type]
        except ConfigurationError as error:
            problems = tuple(p.source for p in error.problems)
            assert problems, "an error lists its problems"
        assert set(problems) <= {"<mapping>"}


def test_config_file_that_never_ends_is_refused(tmp_path: Path) -> None:
    """A path to an endless stream (size 0 to stat) is cut at 1 MiB, not read forever."""
    path = tmp_path / "zero.toml"
    path.symlink_to("/dev/zero")
    with pytest.raises(ConfigurationError, match=r"zero\.toml: larger than 1048576 bytes"):
        Policy.from_file(path)
    assert main(["diff", "baseline", str(path)]) == 2


def _config_readers() -> list[tuple[str, Any]]:
    from childsafe import Messages  # noqa: PLC0415
    from childsafe.audit import AuditConfig  # noqa: PLC0415

    return [
        ("Policy.from_file", Policy.from_file),
        ("TokenVerifier.from_file", TokenVerifier.from_file),
        ("AuditConfig.from_file", AuditConfig.from_file),
        ("Messages.from_file", Messages.from_file),
    ]


@pytest.mark.parametrize(("name", "read"), _config_readers())
def test_every_config_reader_stops_at_the_limit(tmp_path: Path, name: str, read: Any) -> None:
    """AuditConfig.from_file and Messages.from_file read /dev/zero (size 0 to stat)
    until memory ran out; every config reader cuts it at 1 MiB now."""
    path = tmp_path / "zero.toml"
    path.symlink_to("/dev/zero")
    with pytest.raises(ConfigurationError, match=r"zero\.toml: larger than 1048576 bytes"):
        read(path)


@pytest.mark.parametrize(("name", "read"), _config_readers())
def test_every_config_reader_names_a_bad_path(tmp_path: Path, name: str, read: Any) -> None:
    """None or a number where the path belongs was a TypeError from os.fspath or
    Path(), a path with a NUL byte a ValueError from open(); each is a
    ConfigurationError now, and a missing file is named as such."""
    for bad in (None, 5, ["a.toml"]):
        with pytest.raises(ConfigurationError, match=r"<path>: expected a file path"):
            read(bad)
    with pytest.raises(ConfigurationError, match="a NUL byte in the path"):
        read(str(tmp_path / "a\x00.toml"))
    with pytest.raises(ConfigurationError, match=r"missing\.toml: no such file"):
        read(tmp_path / "missing.toml")
    with pytest.raises(ConfigurationError, match="Is a directory"):
        read(tmp_path)


def test_issuer_toml_of_the_wrong_kind() -> None:
    """TokenVerifier.from_toml(None) was a TypeError from len(); bytes (a file read in
    binary) were a TypeError from tomllib: UTF-8 bytes load now, as Policy.from_toml's."""
    with pytest.raises(ConfigurationError, match="expected TOML text, got NoneType"):
        TokenVerifier.from_toml(None)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="not UTF-8"):
        TokenVerifier.from_toml(b"\xff")
    with pytest.raises(ConfigurationError, match="issuer"):
        TokenVerifier.from_toml(b"[[issuer]]\n")


@pytest.mark.parametrize(
    "window", ["1\u0662:00-07:00", "21:00-0\u0667:00", "\uff12\uff11:00-07:00", "21:00-07:0\u0966"]
)
def test_quiet_hours_in_other_digits_are_refused(window: str) -> None:
    """A quiet-hours window is written in ASCII digits: values are never coerced, so
    '1٢:00' is not read as noon."""
    config = {"bands": {"16_17": {"quiet_hours": {"default": window}}}}
    with pytest.raises(ConfigurationError, match="expected a daily window 'HH:MM-HH:MM'"):
        Policy.from_mapping(config)


class TestByteOrderMarks:
    """Windows editors save UTF-8 with a byte-order mark; tomllib called it an "Invalid
    statement (at line 1, column 1)", which names no cause."""

    @pytest.mark.parametrize("name", ["childsafe.toml", "childsafe.json"])
    def test_a_config_file_with_a_bom_loads(self, tmp_path: Path, name: str) -> None:
        path = tmp_path / name
        body = '{"jurisdiction": "GB"}' if name.endswith(".json") else 'jurisdiction = "GB"\n'
        path.write_bytes(b"\xef\xbb\xbf" + body.encode())
        assert Policy.from_file(path).jurisdictions == ("GB",)
        assert main(["check", str(path)]) == 0

    def test_parsers_ignore_one_leading_bom(self) -> None:
        assert load_toml("\ufeffa = 1\n") == {"a": 1}
        assert load_json("\ufeff[1]") == [1]
        assert load_json(b"\xef\xbb\xbf[1]") == [1]
        with pytest.raises(ParseError):  # only one, and only at the start
            load_toml("\ufeff\ufeffa = 1\n")
        with pytest.raises(ParseError):
            load_json("[\ufeff1]")

    def test_an_issuer_file_with_a_bom_loads(self, tmp_path: Path) -> None:
        path = tmp_path / "age-assurance.toml"
        text = (
            f'[[issuers]]\nissuer = "{ISSUER}"\naudience = "{AUDIENCE}"\n'
            f'algorithms = ["HS256"]\nshared_secret = "{SECRET.decode()}"\n'
        )
        path.write_bytes(b"\xef\xbb\xbf" + text.encode())
        assert TokenVerifier.from_file(path).issuers[0].issuer == ISSUER
