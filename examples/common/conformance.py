"""The Playground's adapter for childsafe's conformance suite.

Both example apps serve the same HTTP contract, so one adapter drives either of them:
it signs in through ``POST /login`` and uses the JSON API and pages over httpx, in
process, through the app's WSGI callable. Accounts of each age band are added to the
store with :meth:`~examples.common.socialdb.SocialDB.add_account`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable
from typing import Any

import httpx

from childsafe import AgeBand
from childsafe.testing import BAND_AGES, problem_of
from childsafe.testing.conformance import ConformanceAdapter
from examples.common.socialdb import SocialDB

WSGIApp = Callable[..., Iterable[bytes]]

_CONNECTIONS = re.compile(r"<h2>Connections</h2>(.*?)</div>", re.DOTALL)
_LINK = re.compile(r'href="/users/([^"]+)"')


class PlaygroundAdapter(ConformanceAdapter):
    """Drives a Playground app (Flask or Django) as the conformance suite asks."""

    def __init__(self, app: WSGIApp, db: SocialDB) -> None:
        self.transport = httpx.WSGITransport(app=app)
        self.db = db
        self.clients: dict[str, httpx.Client] = {}
        self.ids = itertools.count(1)

    def close(self) -> None:
        for client in self.clients.values():
            client.close()

    def _as(self, account: str) -> httpx.Client:
        client = self.clients.get(account)
        if client is None:
            client = httpx.Client(transport=self.transport, base_url="http://testserver")
            response = client.post("/login", data={"account": account})
            if response.status_code != 303:
                raise AssertionError(f"sign-in as {account}: HTTP {response.status_code}")
            self.clients[account] = client
        return client

    @staticmethod
    def _done(response: httpx.Response, *ok: int) -> bool:
        """True for the success statuses, False for a childsafe denial, else raise."""
        if response.status_code in ok:
            return True
        if response.status_code == 403 and problem_of(response) is not None:
            return False
        raise AssertionError(f"unexpected HTTP {response.status_code}: {response.text[:200]}")

    def create_account(self, band: AgeBand, *, jurisdiction: str | None) -> str:
        ident = f"conf{next(self.ids)}"
        self.db.add_account(
            ident, ident.title(), BAND_AGES[band], jurisdiction=jurisdiction or "GB"
        )
        return ident

    def connect(self, a: str, b: str) -> None:
        self.db.connect(a, b)

    def send_dm(self, sender: str, recipient: str) -> bool:
        r = self._as(sender).post(f"/api/messages/{recipient}", json={"text": "hello"})
        return self._done(r, 201)

    def friend_request(self, sender: str, target: str) -> bool:
        headers = {"accept": "application/json"}
        client = self._as(sender)
        client.get(f"/users/{target}")  # the page with the form sets Django's CSRF cookie
        if "csrftoken" in client.cookies:
            headers["x-csrftoken"] = client.cookies["csrftoken"]
        return self._done(
            self._as(sender).post(f"/users/{target}/friend-request", headers=headers), 201
        )

    def suggestions(self, viewer: str) -> list[str]:
        body: dict[str, Any] = self._as(viewer).get("/api/suggestions").json()
        return [s["id"] for s in body["suggestions"]]

    def view_profile(self, viewer: str, target: str) -> bool:
        return self._done(self._as(viewer).get(f"/api/users/{target}"), 200)

    def set_location(self, account: str, place: str) -> None:
        self._as(account).post("/api/location", json={"place": place}).raise_for_status()

    def view_location(self, viewer: str, target: str) -> str | None:
        r = self._as(viewer).get(f"/api/users/{target}")
        if not self._done(r, 200):
            return None
        location = r.json().get("location")
        return None if location is None else str(location["place"])

    def view_connections(self, viewer: str, target: str) -> list[str] | None:
        page = self._as(viewer).get(f"/users/{target}")
        page.raise_for_status()
        found = _CONNECTIONS.search(page.text)
        return None if found is None else _LINK.findall(found.group(1))
