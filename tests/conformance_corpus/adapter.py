"""The corpus apps' adapter for the observation suite: all it knows is how to sign up,
sign in, connect two accounts, link a parent and set the clock, through the app's own
routes (the same 30 lines for every variant and both frameworks)."""

from __future__ import annotations

import datetime as dt

import httpx

from childsafe.testing.observe import Member, ObserveAdapter, Persona
from tests.conformance_corpus.core import Social


class CorpusAdapter(ObserveAdapter):
    def __init__(self, app: object, transport: httpx.BaseTransport | None, base_url: str) -> None:
        self.app, self.transport, self.base_url = app, transport, base_url
        self.personas: dict[str, Persona] = {}

    def sign_up(self, persona: Persona) -> str | None:
        with self.client() as client:
            r = client.post("/signup", json=persona.form())
        self.personas[persona.handle] = persona
        return str(r.json()["id"]) if r.status_code == 201 else None

    def sign_in(self, member: Member) -> httpx.Client:
        client = self.client()
        p = member.persona
        client.post("/login", json={"handle": p.handle, "password": p.password}).raise_for_status()
        return client

    def connect(self, a: Member, b: Member) -> None:
        ca = self.sign_in(a)  # a shares a personal invite, b uses it, a accepts
        invite = ca.post("/api/invites").json()["invite"]
        body = {"invite": invite, "confirmed": True}
        self.sign_in(b).post(f"/api/friend-requests/{a.id}", json=body).raise_for_status()
        ca.post(f"/api/requests/{b.id}/accept").raise_for_status()

    def link_parent(self, parent: Member, child: Member) -> None:
        self.sign_in(child).post(f"/api/guardians/{parent.id}").raise_for_status()

    def set_clock(self, when: dt.datetime) -> None:
        with self.client() as client:
            client.post("/api/test/clock", json={"now": when.isoformat()}).raise_for_status()


class StoreAdapter(CorpusAdapter):
    """Another style: sign-up and sign-in as above, but connections, parent links and
    the clock set in the app's store directly, as a QA team with database access
    would."""

    def __init__(self, app: object, social: Social) -> None:
        transport = httpx.WSGITransport(app=app)  # type: ignore[arg-type]
        super().__init__(app, transport, "http://testserver")
        self.social = social

    def connect(self, a: Member, b: Member) -> None:
        self.social.connections.add(frozenset((a.id, b.id)))

    def link_parent(self, parent: Member, child: Member) -> None:
        self.social.accounts[child.id].guardians.add(parent.id)

    def set_clock(self, when: dt.datetime) -> None:
        self.social.clock = when
