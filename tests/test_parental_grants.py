"""Consent grants: real signed tokens, every way a grant can fail, and fail-closed apply."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import math
import secrets
from collections.abc import Collection
from typing import Any

import anyio
import jwt
import pytest

from childsafe import Account, Guard, Reason
from childsafe.exceptions import ChildsafeError, InvalidScopeError
from childsafe.parental import (
    GRANT_TYPE,
    AsyncStoreAdapter,
    ConsentGrant,
    ConsentIssuer,
    ConsentVerifier,
    ExpiredGrantError,
    GrantConfigError,
    GrantError,
    InvalidGrantSignatureError,
    MalformedGrantError,
    MemoryRevocationStore,
    NotAGuardianError,
    NotYetValidGrantError,
    RevocationStoreError,
    RevokedGrantError,
    UntrustedGrantError,
    WrongChildError,
)
from tests.assurance_support import pem, session_keys

PROFILED = "feed_personalisation:profiled"
SECRET = secrets.token_bytes(32)


class BrokenStore:
    """A revocation store whose server is down: every call fails as a real one would."""

    def revoke(self, grant_id: str, expires_at: dt.datetime) -> None:  # noqa: ARG002
        raise RevocationStoreError(f"cannot reach the store to revoke {grant_id}")

    def revoked(self, grant_ids: Collection[str]) -> frozenset[str]:  # noqa: ARG002
        raise RevocationStoreError("cannot reach the store")


class BrokenAsyncStore:
    """An async revocation store whose server is down."""

    async def revoke(self, grant_id: str, expires_at: dt.datetime) -> None:  # noqa: ARG002
        raise RevocationStoreError(f"cannot reach the store to revoke {grant_id}")

    async def revoked(self, grant_ids: Collection[str]) -> frozenset[str]:  # noqa: ARG002
        raise RevocationStoreError("cannot reach the store")

    async def aclose(self) -> None:
        pass


class SilentStore:
    """An async revocation store that never answers (a server that accepts and hangs);
    it counts the calls it was asked."""

    def __init__(self) -> None:
        self.calls = 0

    async def revoke(self, grant_id: str, expires_at: dt.datetime) -> None:  # noqa: ARG002
        self.calls += 1
        await anyio.sleep_forever()

    async def revoked(self, grant_ids: Collection[str]) -> frozenset[str]:  # noqa: ARG002
        self.calls += 1
        await anyio.sleep_forever()
        raise AssertionError  # sleep_forever never returns

    async def aclose(self) -> None:
        pass


@pytest.fixture(name="anyio_backend")
def _anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(name="child")
def _child() -> Account:
    return Account(id="c1", band="13_15", jurisdiction="DE", guardians={"p1"})


@pytest.fixture(name="store")
def _store() -> MemoryRevocationStore:
    return MemoryRevocationStore()


@pytest.fixture(name="issuer")
def _issuer() -> ConsentIssuer:
    return ConsentIssuer(SECRET)


@pytest.fixture(name="verifier")
def _verifier(store: MemoryRevocationStore) -> ConsentVerifier:
    return ConsentVerifier(SECRET, revocations=store)


def _forge(
    claims: dict[str, Any], *, key: Any = SECRET, alg: str = "HS256", typ: str = GRANT_TYPE
) -> str:
    return jwt.encode(claims, key, algorithm=alg, headers={"typ": typ})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    base: dict[str, Any] = {
        "iss": "childsafe",
        "aud": "childsafe:consent",
        "sub": "c1",
        "guardian": "p1",
        "scope": PROFILED,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "jti": secrets.token_hex(8),
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


class TestIssueAndVerify:
    @pytest.mark.parametrize("alg", ["HS256", "RS256", "PS256", "ES256", "EdDSA"])
    def test_every_algorithm(self, alg: str, child: Account, store: MemoryRevocationStore) -> None:
        """Grants signed with each allowed algorithm verify with the matching key."""
        keys = session_keys()
        private: Any = {
            "HS256": SECRET,
            "RS256": keys.rsa,
            "PS256": keys.rsa,
            "ES256": keys.ec,
            "EdDSA": keys.ed,
        }[alg]
        public: Any = SECRET if alg == "HS256" else pem(private)
        token = ConsentIssuer(private, algorithm=alg, key_id="k1").issue(child, "p1", PROFILED)
        assert jwt.get_unverified_header(token)["typ"] == GRANT_TYPE
        grant = ConsentVerifier(public, algorithm=alg, revocations=store).verify(token, child)
        assert (grant.child, grant.guardian, str(grant.scope)) == ("c1", "p1", PROFILED)
        assert grant.expires_at - grant.issued_at == dt.timedelta(days=365)

    def test_private_key_verifies_too(self, child: Account, store: MemoryRevocationStore) -> None:
        """A verifier given the private key uses its public half."""
        key = session_keys().ec
        token = ConsentIssuer(key, algorithm="ES256").issue(child, "p1", "data_sharing:on")
        grant = ConsentVerifier(key, algorithm="ES256", revocations=store).verify(token, child)
        assert str(grant.scope) == "data_sharing:on"

    def test_unique_ids(
        self, issuer: ConsentIssuer, verifier: ConsentVerifier, child: Account
    ) -> None:
        """Every grant gets its own jti, even for the same consent."""
        ids = {verifier.verify(issuer.issue(child, "p1", PROFILED), child).id for _ in range(5)}
        assert len(ids) == 5

    def test_issue_needs_a_linked_guardian(self, issuer: ConsentIssuer, child: Account) -> None:
        """Only a linked guardian can consent."""
        with pytest.raises(NotAGuardianError, match="'p9' is not a linked guardian of 'c1'"):
            issuer.issue(child, "p9", PROFILED)

    def test_issue_checks_scope_and_ttl(self, issuer: ConsentIssuer, child: Account) -> None:
        """A bad scope or lifetime is refused at issue time."""
        with pytest.raises(InvalidScopeError):
            issuer.issue(child, "p1", "everything")
        with pytest.raises(GrantConfigError, match="ttl must be positive"):
            issuer.issue(child, "p1", PROFILED, ttl=dt.timedelta(0))
        with pytest.raises(GrantConfigError, match=r"at most 400 days \(a datetime"):
            # str(timedelta) wrote "400 days, 0:00:00" here
            issuer.issue(child, "p1", PROFILED, ttl=dt.timedelta(days=401))
        with pytest.raises(GrantConfigError, match="aware datetime"):
            issuer.issue(child, "p1", PROFILED, now=dt.datetime(2025, 1, 1))  # noqa: DTZ001


class TestKeys:
    @pytest.mark.parametrize(
        ("key", "alg", "message"),
        [
            (b"short", "HS256", "at least 32 bytes, got 5"),
            ("x" * 31, "HS256", "at least 32 bytes, got 31"),
            (12345, "HS256", "shared secret as str or bytes"),
            (SECRET, "none", "not allowed"),
            (SECRET, "HS512", "not allowed"),
            (b"not a pem key", "RS256", "does not fit RS256"),
        ],
    )
    def test_bad_keys(self, key: Any, alg: str, message: str) -> None:
        """Weak secrets, unknown algorithms and keys that do not fit are refused up front."""
        with pytest.raises(GrantConfigError, match=message):
            ConsentIssuer(key, algorithm=alg)

    def test_pem_as_hmac_secret_refused(self) -> None:
        """A public key PEM cannot be used as an HS256 secret (HS/RS confusion)."""
        with pytest.raises(GrantConfigError, match="does not fit HS256"):
            ConsentVerifier(pem(session_keys().rsa), revocations=MemoryRevocationStore())

    def test_issuer_needs_private_key(self) -> None:
        """Issuing asymmetric grants needs the private key."""
        with pytest.raises(GrantConfigError, match="needs the private key"):
            ConsentIssuer(pem(session_keys().rsa), algorithm="RS256")


class TestRefusals:
    """The catalogue: every way a grant fails, each with its own error and code."""

    def test_expired(
        self, verifier: ConsentVerifier, issuer: ConsentIssuer, child: Account
    ) -> None:
        """An expired grant does not count."""
        token = issuer.issue(
            child,
            "p1",
            PROFILED,
            ttl=dt.timedelta(hours=1),
            now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2),
        )
        with pytest.raises(ExpiredGrantError) as info:
            verifier.verify(token, child)
        assert info.value.code == "expired" and str(info.value).startswith("[expired] ")

    def test_not_yet_valid(
        self, verifier: ConsentVerifier, issuer: ConsentIssuer, child: Account
    ) -> None:
        """A grant issued in the future does not count yet."""
        token = issuer.issue(
            child, "p1", PROFILED, now=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        )
        with pytest.raises(NotYetValidGrantError):
            verifier.verify(token, child)

    def test_wrong_secret(self, verifier: ConsentVerifier, child: Account) -> None:
        """A grant signed with another secret is refused."""
        token = ConsentIssuer(secrets.token_bytes(32)).issue(child, "p1", PROFILED)
        with pytest.raises(InvalidGrantSignatureError):
            verifier.verify(token, child)

    def test_wrong_asymmetric_key(self, store: MemoryRevocationStore, child: Account) -> None:
        """A grant signed by an attacker's key fails against the platform's public key."""
        keys = session_keys()
        token = ConsentIssuer(keys.attacker, algorithm="RS256").issue(child, "p1", PROFILED)
        verifier = ConsentVerifier(pem(keys.rsa), algorithm="RS256", revocations=store)
        with pytest.raises(InvalidGrantSignatureError):
            verifier.verify(token, child)

    def test_algorithm_confusion(self, store: MemoryRevocationStore, child: Account) -> None:
        """An HS256 grant signed with the public key PEM is refused by an RS256 verifier."""
        public = pem(session_keys().rsa)
        # pyjwt refuses to HMAC with a PEM; build the confused token by hand.
        head = b64(json.dumps({"alg": "HS256", "typ": GRANT_TYPE}).encode())
        body = b64(json.dumps(_claims()).encode())
        sig = b64(hmac.new(public.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
        token = f"{head}.{body}.{sig}"
        verifier = ConsentVerifier(public, algorithm="RS256", revocations=store)
        with pytest.raises(UntrustedGrantError, match="'HS256' is not accepted"):
            verifier.verify(token, child)

    def test_alg_none(self, verifier: ConsentVerifier, child: Account) -> None:
        """An unsigned grant (alg none) is refused."""
        token = jwt.encode(_claims(), None, algorithm="none", headers={"typ": GRANT_TYPE})  # type: ignore[arg-type]
        with pytest.raises(UntrustedGrantError):
            verifier.verify(token, child)

    @pytest.mark.parametrize(("claim", "value"), [("iss", "someone-else"), ("aud", "age-tokens")])
    def test_wrong_issuer_or_audience(
        self, verifier: ConsentVerifier, child: Account, claim: str, value: str
    ) -> None:
        """A grant from another issuer or for another audience is refused."""
        with pytest.raises(UntrustedGrantError):
            verifier.verify(_forge(_claims(**{claim: value})), child)

    def test_other_token_type(self, verifier: ConsentVerifier, child: Account) -> None:
        """A platform token of another type, even correctly signed, is not a grant."""
        with pytest.raises(MalformedGrantError, match="not a consent grant: header typ 'JWT'"):
            verifier.verify(_forge(_claims(), typ="JWT"), child)

    @pytest.mark.parametrize(
        ("token", "message"),
        [
            ("", "non-empty string"),
            ("a.b", "not a valid JWT"),
            ("x" * 5000, "at most 4096 bytes"),
        ],
    )
    def test_malformed(
        self, verifier: ConsentVerifier, child: Account, token: str, message: str
    ) -> None:
        """Garbage, truncated and oversized tokens are malformed."""
        with pytest.raises(MalformedGrantError, match=message):
            verifier.verify(token, child)

    def test_not_a_string(self, verifier: ConsentVerifier, child: Account) -> None:
        """A token that is not a string is malformed."""
        with pytest.raises(MalformedGrantError):
            verifier.verify(b"abc", child)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"jti": None}, "jti"),
            ({"exp": None}, "exp"),
            ({"iat": True}, "'iat' must be a number"),
            # pyjwt read true as the time 1: 'expired' rather than malformed.
            ({"exp": True}, "'exp' must be a number, got True"),
            ({"nbf": False}, "'nbf' must be a number, got False"),
            ({"guardian": None}, "'guardian' must be a non-empty string"),
            ({"guardian": 7}, "'guardian' must be a non-empty string"),
            ({"scope": "everything"}, "unknown consent scope"),
            ({"scope": ["data_sharing:on"]}, "'scope' must be a non-empty string"),
        ],
    )
    def test_bad_claims(
        self, verifier: ConsentVerifier, child: Account, changes: dict[str, Any], message: str
    ) -> None:
        """Missing or mistyped claims make a correctly signed grant malformed."""
        with pytest.raises(MalformedGrantError, match=message):
            verifier.verify(_forge(_claims(**changes)), child)

    def test_fractional_times(self, verifier: ConsentVerifier, child: Account) -> None:
        """Fractional iat/exp still verify and decode to datetimes."""
        now = dt.datetime.now(dt.UTC).timestamp()
        grant = verifier.verify(_forge(_claims(iat=now - 0.5, nbf=None, exp=now + 60.5)), child)
        assert grant.expires_at.tzinfo is dt.UTC

    def test_wrong_child(self, verifier: ConsentVerifier, issuer: ConsentIssuer) -> None:
        """A grant for one child does not count for another."""
        sibling = Account(id="c2", band="13_15", guardians={"p1"})
        token = issuer.issue(Account(id="c1", band="13_15", guardians={"p1"}), "p1", PROFILED)
        with pytest.raises(WrongChildError, match="for 'c1', not 'c2'"):
            verifier.verify(token, sibling)

    def test_guardian_no_longer_linked(
        self, verifier: ConsentVerifier, issuer: ConsentIssuer, child: Account
    ) -> None:
        """A grant stops counting once the guardian who gave it is unlinked."""
        token = issuer.issue(child, "p1", PROFILED)
        with pytest.raises(NotAGuardianError):
            verifier.verify(token, Account(id="c1", band="13_15", guardians={"p2"}))

    def test_revoked(
        self, verifier: ConsentVerifier, issuer: ConsentIssuer, child: Account
    ) -> None:
        """A revoked grant does not count; revoking by token or by grant both work."""
        token = issuer.issue(child, "p1", PROFILED)
        grant = verifier.revoke(token)
        with pytest.raises(RevokedGrantError):
            verifier.verify(token, child)
        assert verifier.revoke(grant) == grant

    def test_store_down(self, issuer: ConsentIssuer, child: Account) -> None:
        """When the revocation store is down, verify raises instead of trusting the grant."""
        verifier = ConsentVerifier(SECRET, revocations=BrokenStore())
        with pytest.raises(RevocationStoreError):
            verifier.verify(issuer.issue(child, "p1", PROFILED), child)

    def test_every_refusal_is_a_childsafe_value_error(self) -> None:
        """Grant errors are ChildsafeErrors and ValueErrors; store errors ConnectionErrors."""
        for cls in (MalformedGrantError, ExpiredGrantError, RevokedGrantError, WrongChildError):
            assert issubclass(cls, GrantError) and issubclass(cls, ChildsafeError)
            assert issubclass(cls, ValueError)
        assert issubclass(RevocationStoreError, ConnectionError)


class TestApply:
    def test_valid_grants_become_consents(
        self, verifier: ConsentVerifier, issuer: ConsentIssuer, child: Account
    ) -> None:
        """apply puts the scopes of the grants that count on the account, and lists the rest."""
        good = issuer.issue(child, "p1", "personalised_content")
        dm = issuer.issue(child, "p1", "dm.from:friend")
        result = verifier.apply(child, [good, "junk", dm])
        assert result.scopes == {PROFILED, "dm.from:friend"}
        assert [type(e) for e in result.refused] == [MalformedGrantError]
        assert all(isinstance(g, ConsentGrant) for g in result.grants)

    def test_apply_takes_what_callers_pass_without_raising(
        self, verifier: ConsentVerifier, issuer: ConsentIssuer, child: Account
    ) -> None:
        """apply keeps its promise never to raise for what an app hands it: no grants
        (``None``, an absent header), one token on its own (not read character by
        character), something that is not a list, or a list holding a non-token."""
        good = issuer.issue(child, "p1", "personalised_content")
        assert verifier.apply(child, None).scopes == frozenset()
        assert verifier.apply(child, None).refused == ()
        one = verifier.apply(child, good)
        assert one.scopes == {PROFILED}
        assert one.refused == ()
        odd = verifier.apply(child, 5)  # type: ignore[arg-type]
        assert odd.scopes == frozenset()
        assert [type(e) for e in odd.refused] == [MalformedGrantError]
        assert "must be a list of tokens, got int" in str(odd.refused[0])
        mixed = verifier.apply(child, [None, good])  # type: ignore[list-item]
        assert mixed.scopes == {PROFILED}
        assert [type(e) for e in mixed.refused] == [MalformedGrantError]

    def test_apply_replaces_stale_consents(self, verifier: ConsentVerifier) -> None:
        """Consents carried from an earlier request are dropped unless a grant backs them."""
        stale = Account(id="c1", band="13_15", guardians={"p1"}, consents=[PROFILED])
        assert verifier.apply(stale, []).account.consents == frozenset()

    def test_revocation_seen_at_once(
        self, verifier: ConsentVerifier, issuer: ConsentIssuer, child: Account, guard: Guard
    ) -> None:
        """After a revocation the next resolution counts no consent and the decision says so."""
        token = issuer.issue(child, "p1", PROFILED)
        account = verifier.apply(child, [token]).account
        change = guard.change_setting(
            account, "feed_personalisation", "profiled", by="parent", guardian="p1"
        )
        assert guard.check("feed.personalise", actor=change.account).allowed
        verifier.revoke(token)
        again = verifier.apply(change.account, [token])
        assert [e.code for e in again.refused] == ["revoked"]
        decision = guard.check("feed.personalise", actor=again.account)
        assert decision.reason is Reason.PARENTAL_CONSENT_REQUIRED

    def test_store_down_fails_closed(
        self, issuer: ConsentIssuer, child: Account, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A store that is down means no grant counts, logged as a warning, never an error page."""
        verifier = ConsentVerifier(SECRET, revocations=BrokenStore())
        with caplog.at_level(logging.WARNING, logger="childsafe.parental"):
            result = verifier.apply(child, [issuer.issue(child, "p1", PROFILED)])
        assert result.account.consents == frozenset()
        assert [type(e) for e in result.refused] == [RevocationStoreError]
        assert "revocation store unavailable" in caplog.text

    def test_refusals_are_logged(
        self, verifier: ConsentVerifier, child: Account, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Each refused grant is logged with its code."""
        with caplog.at_level(logging.INFO, logger="childsafe.parental"):
            verifier.apply(child, ["junk"])
        assert "[malformed]" in caplog.text


class TestApplyAsync:
    """The async twins: the same checks and results, with the store call awaited."""

    @pytest.mark.anyio
    async def test_same_results_as_apply(
        self, verifier: ConsentVerifier, issuer: ConsentIssuer, child: Account
    ) -> None:
        """apply_async counts and refuses exactly what apply does, for the same reasons."""
        other = Account(id="c2", band="13_15", guardians={"p1"})
        revoked = issuer.issue(child, "p1", "data_sharing:on")
        verifier.revoke(revoked)
        tokens = [
            issuer.issue(child, "p1", PROFILED),
            "junk",
            revoked,
            issuer.issue(other, "p1", "dm.from:friend"),
        ]
        sync, async_ = verifier.apply(child, tokens), await verifier.apply_async(child, tokens)
        assert async_.scopes == sync.scopes == {PROFILED}
        assert [e.code for e in async_.refused] == [e.code for e in sync.refused]
        assert [e.code for e in async_.refused] == ["malformed", "wrong_child", "revoked"]
        assert [g.id for g in async_.grants] == [g.id for g in sync.grants]

    @pytest.mark.anyio
    async def test_revoke_async_then_apply_async(
        self, verifier: ConsentVerifier, issuer: ConsentIssuer, child: Account, guard: Guard
    ) -> None:
        """A grant revoked with revoke_async (by token or grant) stops counting at once."""
        stored = Account(
            id="c1",
            band="13_15",
            jurisdiction="DE",
            guardians={"p1"},
            settings={"feed_personalisation": "profiled"},
        )
        token = issuer.issue(child, "p1", PROFILED)
        before = await verifier.apply_async(stored, [token])
        assert guard.check("feed.personalise", actor=before.account).allowed
        grant = await verifier.revoke_async(token)
        assert await verifier.revoke_async(grant) == grant
        after = await verifier.apply_async(before.account, [token])
        assert [e.code for e in after.refused] == ["revoked"]
        assert guard.check("feed.personalise", actor=after.account).reason is (
            Reason.PARENTAL_CONSENT_REQUIRED
        )

    @pytest.mark.anyio
    async def test_verify_async(
        self, verifier: ConsentVerifier, issuer: ConsentIssuer, child: Account
    ) -> None:
        """verify_async returns a grant that counts and raises why one does not."""
        token = issuer.issue(child, "p1", PROFILED)
        assert (await verifier.verify_async(token, child)).child == "c1"
        with pytest.raises(MalformedGrantError):
            await verifier.verify_async("junk", child)
        await verifier.revoke_async(token)
        with pytest.raises(RevokedGrantError):
            await verifier.verify_async(token, child)

    @pytest.mark.anyio
    async def test_async_store_down_fails_closed(
        self, issuer: ConsentIssuer, child: Account, caplog: pytest.LogCaptureFixture
    ) -> None:
        """An async store that is down means no grant counts, logged, never raised."""
        verifier = ConsentVerifier(SECRET, revocations=BrokenAsyncStore())
        token = issuer.issue(child, "p1", PROFILED)
        with caplog.at_level(logging.WARNING, logger="childsafe.parental"):
            result = await verifier.apply_async(child, [token, "junk"])
        assert result.account.consents == frozenset()
        assert [e.code for e in result.refused] == ["malformed", "store_unavailable"]
        assert "revocation store unavailable" in caplog.text
        with pytest.raises(RevocationStoreError):
            await verifier.revoke_async(token)

    @pytest.mark.anyio
    async def test_sync_store_down_fails_closed(
        self, issuer: ConsentIssuer, child: Account
    ) -> None:
        """A sync store that is down fails closed through apply_async as well."""
        verifier = ConsentVerifier(SECRET, revocations=BrokenStore())
        result = await verifier.apply_async(child, [issuer.issue(child, "p1", PROFILED)])
        assert [e.code for e in result.refused] == ["store_unavailable"]

    @pytest.mark.anyio
    async def test_store_that_never_answers(
        self, issuer: ConsentIssuer, child: Account, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A store that hangs is given up on after store_timeout: apply_async counts no
        grant and says so, verify_async and revoke_async raise; none of them hangs."""
        verifier = ConsentVerifier(SECRET, revocations=SilentStore(), store_timeout=0.05)
        token = issuer.issue(child, "p1", PROFILED)
        with caplog.at_level(logging.WARNING, logger="childsafe.parental"), anyio.fail_after(20):
            result = await verifier.apply_async(child, [token])
            with pytest.raises(RevocationStoreError, match=r"did not answer within 0\.05 s"):
                await verifier.verify_async(token, child)
            with pytest.raises(RevocationStoreError, match=r"did not answer within 0\.05 s"):
                await verifier.revoke_async(token)
        assert result.account.consents == frozenset()
        assert [str(e) for e in result.refused] == [
            "the revocation store did not answer within 0.05 s"
        ]
        assert "revocation store unavailable" in caplog.text

    @pytest.mark.anyio
    async def test_no_round_trip_without_candidates(self, child: Account) -> None:
        """When no grant passes the pure checks, the store is not asked at all."""
        store = SilentStore()
        verifier = ConsentVerifier(SECRET, revocations=store, store_timeout=60)
        with anyio.fail_after(20):
            result = await verifier.apply_async(child, ["junk"])
        assert [e.code for e in result.refused] == ["malformed"]
        assert store.calls == 0

    @pytest.mark.anyio
    async def test_apply_async_replaces_stale_consents(self, verifier: ConsentVerifier) -> None:
        """Consents carried from an earlier request are dropped unless a grant backs them."""
        stale = Account(id="c1", band="13_15", guardians={"p1"}, consents=[PROFILED])
        assert (await verifier.apply_async(stale, [])).account.consents == frozenset()

    def test_sync_methods_refuse_an_async_store(
        self, issuer: ConsentIssuer, child: Account
    ) -> None:
        """apply, verify and revoke cannot await an async store: a clear error names the
        async methods, instead of a coroutine that is never awaited."""
        verifier = ConsentVerifier(SECRET, revocations=AsyncStoreAdapter(MemoryRevocationStore()))
        token = issuer.issue(child, "p1", PROFILED)
        for call in (
            lambda: verifier.apply(child, [token]),
            lambda: verifier.verify(token, child),
            lambda: verifier.revoke(token),
        ):
            with pytest.raises(
                GrantConfigError, match="AsyncStoreAdapter is async: use apply_async"
            ):
                call()

    @pytest.mark.parametrize("timeout", [0, -1.0, math.inf, math.nan, 10**400, 61, "1"])
    def test_bad_store_timeout(self, store: MemoryRevocationStore, timeout: float) -> None:
        """A store timeout must be a finite, positive, bounded number of seconds."""
        with pytest.raises(GrantConfigError, match="store_timeout: expected a finite number"):
            ConsentVerifier(SECRET, revocations=store, store_timeout=timeout)


class TestArguments:
    def test_a_verifier_without_an_issuer_is_refused(self, store: MemoryRevocationStore) -> None:
        """issuer=None was accepted and pyjwt then skipped the iss check: another
        platform's grant signed with the same key counted. Issuer and audience must be
        non-empty strings, for the issuer too (None was a TypeError at issue, an
        audience of 5 was signed into every grant, a key_id of 5 a pyjwt error)."""
        foreign = _forge(_claims(iss="another-platform"))
        assert (
            ConsentVerifier(SECRET, revocations=store)
            .apply(Account(id="c1", band="13_15", guardians={"p1"}), [foreign])
            .refused
        )
        for options in ({"issuer": None}, {"issuer": ""}, {"audience": None}, {"audience": 5}):
            with pytest.raises(GrantConfigError, match="must be a non-empty string"):
                ConsentVerifier(SECRET, revocations=store, **options)
            with pytest.raises(GrantConfigError, match="must be a non-empty string"):
                ConsentIssuer(SECRET, **options)
        with pytest.raises(GrantConfigError, match="key_id must be a non-empty string"):
            ConsentIssuer(SECRET, key_id=5)  # type: ignore[arg-type]

    def test_verify_expiry_must_be_a_bool(
        self, issuer: ConsentIssuer, verifier: ConsentVerifier, child: Account
    ) -> None:
        """``verify_expiry="no"`` was read as true and ``0`` as false: a string or a
        number is refused, naming the argument, before the grant is read."""
        grant = issuer.issue(child, "p1", PROFILED)
        for flag in ("no", 0, None):
            with pytest.raises(GrantConfigError, match="verify_expiry: expected True or False"):
                verifier.decode(grant, verify_expiry=flag)  # type: ignore[arg-type]
        assert verifier.decode(grant, verify_expiry=False).child == child.id

    @pytest.mark.parametrize("revocations", [None, 5, "redis://localhost", object()])
    def test_a_verifier_needs_a_store(self, revocations: object) -> None:
        """A store of the wrong kind was accepted, then apply (which promises never to
        raise) raised AttributeError at the first grant."""
        with pytest.raises(GrantConfigError, match="revocations must be a revocation store"):
            ConsentVerifier(SECRET, revocations=revocations)  # type: ignore[arg-type]

    def test_accounts_ids_and_times_of_the_wrong_kind(
        self, issuer: ConsentIssuer, verifier: ConsentVerifier, child: Account
    ) -> None:
        """issue(None, ...), verify(token, None) and apply(None, ...) were
        AttributeErrors, a guardian given as a list a TypeError, now="2026" an
        AttributeError."""
        token = issuer.issue(child, "p1", PROFILED)
        with pytest.raises(GrantConfigError, match=r"issue: child must be a childsafe\.Account"):
            issuer.issue(None, "p1", PROFILED)  # type: ignore[arg-type]
        with pytest.raises(GrantConfigError, match="issue: guardian must be"):
            issuer.issue(child, ["p1"], PROFILED)  # type: ignore[arg-type]
        with pytest.raises(GrantConfigError, match="now must be an aware datetime"):
            issuer.issue(child, "p1", PROFILED, now="2026-01-01")  # type: ignore[arg-type]
        with pytest.raises(GrantConfigError, match="verify: child must be"):
            verifier.verify(token, "c1")  # type: ignore[arg-type]
        for tokens in ([token], [], None):
            with pytest.raises(GrantConfigError, match="apply: child must be"):
                verifier.apply(None, tokens)  # type: ignore[arg-type]
        assert verifier.apply(child, [token]).scopes == {PROFILED}
