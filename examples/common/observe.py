"""The observation suite's adapter for both Playground apps; everything else is discovered."""

from __future__ import annotations

import httpx

from childsafe.testing.observe import Member, ObserveAdapter, Persona
from examples.common.socialdb import SocialDB


class PlaygroundObserver(ObserveAdapter):
    def __init__(self, app: object, db: SocialDB) -> None:
        self.app, self.db = app, db
        self.excluded = {"GET /login": "the demo's sign-in page lists every account to pick"}
        self.transport = httpx.WSGITransport(app=app)  # type: ignore[arg-type]

    def sign_up(self, persona: Persona) -> str | None:
        r = self.client().post("/api/signup", json=persona.form())
        return str(r.json()["id"]) if r.status_code == 201 else None

    def sign_in(self, member: Member) -> httpx.Client:
        client = self.client()
        client.post("/login", data={"account": member.id})
        return client

    def connect(self, a: Member, b: Member) -> None:
        self.db.connect(a.id, b.id)

    def link_parent(self, parent: Member, child: Member) -> None:
        self.db.link_parent(parent.id, child.id)
