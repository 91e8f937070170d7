"""The Playground's parental controls and age tokens, shared by both example apps.

:class:`Playground` holds what the apps need beyond the social store:

* **consent grants**: a parent's consent is a JWT signed with the app's own secret
  (:class:`~childsafe.parental.ConsentIssuer`, a random 32-byte key kept in the data
  directory), stored with the child's account and applied with
  :class:`~childsafe.parental.ConsentVerifier` every time the account is loaded; a
  revocation goes on a :class:`~childsafe.parental.SQLiteRevocationStore` in the data
  directory, which every worker process sees at once;
* **age tokens**: the local test issuer (:mod:`examples.common.age_issuer`) and a
  :class:`~childsafe.assurance.TokenVerifier` trusting it, so an API client can present
  ``Authorization: Bearer <age token>``.

The data directory holds only generated keys and state, with a ``.gitignore`` of ``*``.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import attrs

from childsafe import SETTINGS, Account, AgeBand, Assurance, Guard, Request
from childsafe.assurance import (
    AgeSignal,
    IssuerConfig,
    TokenError,
    TokenVerifier,
    VerifiedAge,
    combine_signals,
)
from childsafe.exceptions import InvalidScopeError
from childsafe.parental import (
    CONSENT_BASED,
    ConsentIssuer,
    ConsentScope,
    ConsentVerifier,
    GrantError,
    RevocationStoreError,
    SQLiteRevocationStore,
)
from examples.common.age_issuer import AUDIENCE, ISSUER, AgeIssuer, create_file_once
from examples.common.age_issuer import prepare_data_dir as _prepare
from examples.common.socialdb import SocialDB, SocialRepository

__all__ = [
    "AGE_TOKEN",
    "SESSION_AGE_TOKEN",
    "AgeTokenResolver",
    "Playground",
    "PlaygroundRepository",
    "SessionAgeResolver",
    "bearer",
    "default_data_dir",
    "scope_label",
]

AGE_TOKEN: Final = "age_token"  # noqa: S105 - a resolver name, not a secret
"""The name of the age-token resolver: the request's ``resolution.source`` when the
account came from a bearer token."""
SESSION_AGE_TOKEN: Final = "age_token"  # noqa: S105 - a session key, not a secret
"""Where the "Verify my age" page keeps the token in the session."""
CONSENT_ISSUER: Final = "childsafe-playground"
SECRET_FILE: Final = "consent-grants.key"  # noqa: S105 - a file name
REVOCATIONS_FILE: Final = "revocations.sqlite3"
GRANT_TTL: Final = dt.timedelta(days=90)
DECLARED: Final = "declared birth date"


CONSENT_LABELS: Final = {
    "feed_personalisation:profiled": "a feed ranked by profiling (personalised content)",
    "data_sharing:on": "sharing personal data with third parties",
}


def scope_label(db: SocialDB, scope: str) -> str:
    """What a consent scope means, in words a parent and a child can read."""
    parsed = ConsentScope.parse(scope)
    if parsed.account is not None:
        person = db.person(parsed.account)
        return f"direct messages with {person.name if person else parsed.account}"
    return CONSENT_LABELS.get(str(parsed), str(parsed))


def default_data_dir(db_path: str | os.PathLike[str]) -> Path:
    """Where an app keeps its keys and revocations: ``<db name>-data`` next to the DB."""
    path = Path(db_path)
    return path.with_name(f"{path.stem}-data")


def bearer(value: str | None) -> str | None:
    """The token in an ``Authorization: Bearer <token>`` header value, if any."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


class Playground:
    """The store plus consent grants and age tokens, over ``data_dir``."""

    def __init__(self, db: SocialDB, data_dir: str | os.PathLike[str]) -> None:
        self.db = db
        self.data_dir = _prepare(data_dir)
        secret = create_file_once(self.data_dir / SECRET_FILE, secrets.token_bytes(32))
        self.revocations = SQLiteRevocationStore(self.data_dir / REVOCATIONS_FILE)
        self.consent_issuer = ConsentIssuer(secret, issuer=CONSENT_ISSUER)
        self.consent_verifier = ConsentVerifier(
            secret, issuer=CONSENT_ISSUER, revocations=self.revocations
        )
        self.age_issuer = AgeIssuer(self.data_dir)
        self.age_verifier = TokenVerifier(
            [
                IssuerConfig(
                    issuer=ISSUER,
                    audience=AUDIENCE,
                    algorithms=["ES256"],
                    # The issuer's published key set, read from the data directory: the
                    # apps never fetch from themselves. A real provider: jwks_url=...
                    jwks=self.age_issuer.jwks(),
                    assurance="verified",
                )
            ]
        )

    # -- accounts -----------------------------------------------------------------

    def account(self, ident: str) -> Account | None:
        """The account as a request sees it: stored settings, guardians and parent
        locks, and the consents of the grants that still count."""
        found = self.db.account_and_grants(ident)
        if found is None:
            return None
        stored, tokens = found
        return self.consent_verifier.apply(stored, tokens).account if tokens else stored

    def repository(self) -> PlaygroundRepository:
        """childsafe's :class:`~childsafe.AccountRepository` over the Playground."""
        return PlaygroundRepository(self)

    # -- age tokens ---------------------------------------------------------------

    @staticmethod
    def _combined(stored: Account, verified: VerifiedAge) -> tuple[Account, AgeSignal]:
        signals = [AgeSignal(verified.band, verified.assurance, verified.source)]
        if stored.band is not AgeBand.UNKNOWN:
            signals.append(AgeSignal(stored.band, stored.assurance, DECLARED))
        winner = combine_signals(*signals)
        return attrs.evolve(stored, band=winner.band, assurance=winner.assurance), winner

    def age_of(self, verified: VerifiedAge) -> tuple[Account, AgeSignal]:
        """The account a verified age token speaks for, with the band that wins
        between the token and the birth date the account declared (the youngest), and
        that winning signal. ``LookupError`` if the token's ``sub`` is no account."""
        stored = self.account(verified.subject)
        if stored is None:
            msg = f"the age token's subject {verified.subject!r} is no Playground account"
            raise LookupError(msg)
        return self._combined(stored, verified)

    def token_account(self, token: str) -> Account:
        """The account for a bearer token (raises :class:`TokenError` if refused)."""
        return self.age_of(self.age_verifier.verify(token))[0]

    def with_age_token(self, account: Account, token: str) -> Account:
        """The signed-in ``account`` with the band of the age token kept in its session
        (the "Verify my age" page). A refused token, or one about someone else, gives
        the protective path: the same account with an unknown age."""
        try:
            verified = self.age_verifier.verify(token)
        except TokenError:
            verified = None
        if verified is None or verified.subject != account.id:
            return attrs.evolve(account, band=AgeBand.UNKNOWN, assurance=Assurance.SELF_DECLARED)
        return self._combined(account, verified)[0]

    def token_status(self, token: str | None, subject: str | None = None) -> dict[str, Any] | None:
        """What an age token says (``None`` without one), and why it is refused: for
        ``/api/me`` and the "Verify my age" page (``subject``: the signed-in account)."""
        if token is None:
            return None
        try:
            verified = self.age_verifier.verify(token)
            if subject is not None and verified.subject != subject:
                return {
                    "accepted": False,
                    "code": "wrong_subject",
                    "detail": f"the token is about {verified.subject!r}, not {subject!r}",
                }
            _, winner = self.age_of(verified)
        except TokenError as e:
            return {"accepted": False, "code": e.code, "detail": str(e)}
        except LookupError as e:
            return {"accepted": False, "code": "unknown_subject", "detail": str(e)}
        return {
            "accepted": True,
            "issuer": verified.issuer,
            "token_band": verified.band.value,
            "band_set_by": winner.source,
            "expires_at": verified.expires_at.isoformat(),
        }

    def age_status(self, authorization: str | None) -> dict[str, Any] | None:
        """What the bearer token in an ``Authorization`` header says, for ``/api/me``."""
        return self.token_status(bearer(authorization))

    # -- consent grants -----------------------------------------------------------

    def grant(self, guard: Guard, parent: str, child_id: str, scope: str) -> dict[str, Any]:
        """Sign and store ``parent``'s consent grant for ``scope``, if it is one the
        Parent page offers for the child (see :meth:`offers`)."""
        child = self.account(child_id)
        if child is None or parent not in child.guardians:
            return {"applied": False, "message": "You are not linked to that account."}
        try:
            parsed = str(ConsentScope.parse(scope))
        except InvalidScopeError as e:
            return {"applied": False, "message": str(e)}
        offered = {o["scope"] for o in self.offers(guard, child)}
        child_name = _name(self.db, child.id)
        if parsed not in offered:
            return {
                "applied": False,
                "message": f"{child_name} doesn't need consent for {scope_label(self.db, parsed)}.",
            }
        token = self.consent_issuer.issue(child, parent, parsed, ttl=GRANT_TTL)
        grant = self.consent_verifier.decode(token)
        self.db.add_grant(
            grant.id, child.id, parent, parsed, token, grant.issued_at, grant.expires_at
        )
        return {
            "applied": True,
            "message": f"You gave consent for {child_name}: {scope_label(self.db, parsed)}, "
            f"until {grant.expires_at:%d %B %Y} unless you revoke it.",
        }

    def revoke(self, parent: str, child_id: str, grant_id: str) -> dict[str, Any]:
        """Put one of the child's grants on the revocation list (``parent`` must be a
        linked guardian of the child)."""
        child = self.account(child_id)
        row = next((g for g in self.db.grants(child_id) if g["id"] == grant_id), None)
        if child is None or row is None or parent not in child.guardians:
            return {"applied": False, "message": "No such consent grant."}
        try:
            self.consent_verifier.revoke(row["token"])
        except (GrantError, RevocationStoreError) as e:
            return {"applied": False, "message": f"Could not revoke it: {e}"}
        return {
            "applied": True,
            "message": f"You revoked your consent for {_name(self.db, child_id)}: "
            f"{scope_label(self.db, row['scope'])}.",
        }

    def grant_rows(self, child: Account) -> list[dict[str, Any]]:
        """The child's grants with whether each still counts (and why not)."""
        rows = []
        for row in self.db.grants(child.id):
            try:
                self.consent_verifier.verify(row["token"], child)
            except (GrantError, RevocationStoreError) as e:
                status = getattr(e, "code", "store_unavailable")
            else:
                status = "counts"
            day = dt.date.fromisoformat(row["expires"][:10])
            rows.append({**row, "status": status, "expires_day": f"{day.day} {day:%B %Y}"})
        return rows

    def offers(self, guard: Guard, child: Account) -> list[dict[str, Any]]:
        """The consents a parent may give for ``child``: consent-based processing the
        child is below the age of digital consent for (and the policy lets a parent
        choose at all), and direct messages from each of the child's connections."""
        rules = guard.rules_for(child)
        out: list[dict[str, Any]] = []
        for setting, value in CONSENT_BASED.items():
            scope = f"{setting}:{value}"
            rule = rules[setting]
            reachable = rule.changeable_by.value != "nobody" and _at_or_above_floor(
                guard, child, setting, value
            )
            if reachable and guard.consent_needed(child, scope):
                out.append(
                    {"scope": scope, "label": scope_label(self.db, scope), "kind": "processing"}
                )
        for other in self.db.connections(child.id):
            person = self.db.person(other)
            if person is None or other in child.guardians:
                continue
            scope = str(ConsentScope.dm_from(other))
            out.append({"scope": scope, "label": scope_label(self.db, scope), "kind": "dm"})
        for offer in out:
            offer["granted"] = offer["scope"] in child.consents
        return out


def _name(db: SocialDB, ident: str) -> str:
    person = db.person(ident)
    return person.name if person is not None else ident


def _at_or_above_floor(guard: Guard, child: Account, setting: str, value: str) -> bool:
    spec = SETTINGS[setting]
    return spec.le(spec.parse(value), guard.rules_for(child)[setting].floor)


class PlaygroundRepository(SocialRepository):
    """Accounts loaded with their guardians, parent locks and verified consents."""

    def __init__(self, playground: Playground) -> None:
        super().__init__(playground.db)
        self.playground = playground

    def get_account(self, account_id: str) -> Account | None:
        return self.playground.account(account_id)


class SessionAgeResolver:
    """The session resolver, with the age token the "Verify my age" page kept in the
    session applied to the signed-in account (see :meth:`Playground.with_age_token`).
    ``token`` reads that token from the framework's session."""

    __slots__ = ("_inner", "_playground", "_token")
    __name__ = "session"

    def __init__(
        self,
        inner: Callable[[Request], object],
        playground: Playground | Callable[[], Playground],
        token: Callable[[Request], object],
    ) -> None:
        self._inner = inner
        self._playground = playground
        self._token = token

    def __call__(self, request: Request) -> Account | None:
        account = self._inner(request)
        if account is None:
            return None
        if not isinstance(account, Account):
            msg = f"the session resolver returned {type(account).__name__}"
            raise TypeError(msg)
        token = self._token(request)
        if not isinstance(token, str) or not token:
            return account
        found = self._playground
        playground = found if isinstance(found, Playground) else found()
        return playground.with_age_token(account, token)


class AgeTokenResolver:
    """The resolver for ``Authorization: Bearer <age token>``: the token's ``sub`` is
    the account, its band the youngest of the token's and the declared birth date's. A
    refused token raises, so the request fails closed (the protective unknown-age
    account) with the reason in ``resolution.error``. No header: the next resolver."""

    __slots__ = ("_playground",)
    __name__ = AGE_TOKEN

    def __init__(self, playground: Playground | Callable[[], Playground]) -> None:
        # A Playground, or a callable returning one (Django builds it lazily).
        self._playground = playground

    def _get(self) -> Playground:
        found = self._playground
        return found if isinstance(found, Playground) else found()

    def __call__(self, request: Request) -> Account | None:
        token = bearer(request.header("authorization"))
        if token is None:
            return None
        return self._get().token_account(token)
