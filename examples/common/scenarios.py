"""The scenario list both example apps must pass, driven over real HTTP with httpx.

Each scenario gets the :class:`Site`: the app's base URL and its data directory (where
the local test age issuer keeps its key pair, so a scenario can sign age tokens).

>>> from examples.common.scenarios import SCENARIOS
>>> [name for name, _ in SCENARIOS][:2]
['stranger_dm_refused', 'relative_dm_delivered']
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs
import httpx

from examples.common.age_issuer import AgeIssuer

CHILDREN = ("maya", "sam", "alex")
CHILD_PLACES = ("Riverside Park", "Central Library", "Harbour Running Track")


@attrs.frozen
class Site:
    """A running Playground: its ``base_url`` and its ``data_dir``."""

    base_url: str
    data_dir: Path

    def issuer(self) -> AgeIssuer:
        """The app's local test age issuer (its key pair in the data directory)."""
        return AgeIssuer(self.data_dir)


@attrs.frozen
class Result:
    name: str
    passed: bool
    detail: str


class ScenarioError(AssertionError):
    """A scenario's expectation did not hold."""


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise ScenarioError(message)


@contextmanager
def sign_in(base_url: str, account: str) -> Iterator[httpx.Client]:
    """A client with a session for ``account`` (POST /login), closed on exit."""
    with httpx.Client(base_url=base_url, timeout=10.0, follow_redirects=False) as client:
        response = client.post("/login", data={"account": account})
        _expect(
            response.status_code in (302, 303),
            f"sign-in as {account}: HTTP {response.status_code}",
        )
        yield client


def stranger_dm_refused(site: Site) -> str:
    """A stranger adult's DM to the 15-year-old is refused with a problem+json body."""
    with sign_in(site.base_url, "stranger") as client:
        r = client.post("/api/messages/sam", json={"text": "hi, want to chat?"})
    _expect(r.status_code == 403, f"expected 403, got {r.status_code}")
    media = r.headers.get("content-type", "").split(";")[0]
    _expect(media == "application/problem+json", f"content-type {media!r}")
    body = r.json()
    _expect(body.get("status") == 403 and body.get("reason") == "not_connected", f"body {body}")
    _expect(body.get("setting") == "direct_messages", f"setting {body.get('setting')!r}")
    leaked = [k for k in ("band", "value", "target", "age_band") if k in body] + (
        ["13_15"] if "13_15" in r.text else []
    )
    _expect(not leaked, f"problem body leaks {leaked}")
    with sign_in(site.base_url, "sam") as client:
        inbox = client.get("/api/messages").json()["messages"]
    _expect(all("want to chat" not in m["text"] for m in inbox), "the refused DM was stored")
    return f"403 {body['reason']} ({body['setting']})"


def relative_dm_delivered(site: Site) -> str:
    """The connected relative's DM to the 15-year-old is delivered."""
    with sign_in(site.base_url, "aunt_jo") as client:
        r = client.post("/api/messages/sam", json={"text": "See you at the match!"})
    _expect(r.status_code == 201, f"expected 201, got {r.status_code}: {r.text[:200]}")
    with sign_in(site.base_url, "sam") as client:
        inbox = client.get("/api/messages").json()["messages"]
    _expect(any(m["text"] == "See you at the match!" for m in inbox), "not in sam's inbox")
    return "201, in the inbox"


def children_never_suggested(site: Site) -> str:
    """No child appears in the stranger's friend suggestions (JSON or page)."""
    with sign_in(site.base_url, "stranger") as client:
        data = client.get("/api/suggestions").json()
        page = client.get("/suggestions").text
    ids = [s["id"] for s in data["suggestions"]]
    _expect(ids != [], "the stranger gets no suggestions at all (the list should hold adults)")
    _expect(not set(ids) & set(CHILDREN), f"children suggested: {set(ids) & set(CHILDREN)}")
    _expect(all(f'/users/{c}"' not in page for c in CHILDREN), "a child is linked from the page")
    return f"suggested: {', '.join(ids)}"


def child_location_hidden(site: Site) -> str:
    """A child's location never appears in a stranger's view (JSON or page)."""
    with sign_in(site.base_url, "stranger") as client:
        bodies = [client.get(f"/api/users/{c}") for c in CHILDREN]
        pages = [client.get(f"/users/{c}").text for c in CHILDREN]
    for child, r in zip(CHILDREN, bodies, strict=True):
        _expect(r.status_code in (200, 403), f"/api/users/{child}: HTTP {r.status_code}")
        if r.status_code == 200:
            _expect("location" not in r.json(), f"location of {child} in the JSON")
    for place in CHILD_PLACES:
        _expect(
            all(place not in p for p in pages) and all(place not in r.text for r in bodies),
            f"{place!r} shown",
        )
    with sign_in(site.base_url, "stranger") as client:
        adult = client.get("/api/users/aunt_jo").json()
    _expect("location" in adult, "an adult's public location should still be shown")
    return "no child location in JSON or pages"


def child_cannot_be_friend_requested(site: Site) -> str:
    """The stranger cannot send the 12-year-old a friend request."""
    with sign_in(site.base_url, "stranger") as client:
        r = client.post("/users/maya/friend-request", headers={"accept": "application/json"})
    _expect(r.status_code == 403, f"expected 403, got {r.status_code}")
    return "403"


def _csrf(client: httpx.Client, page: str) -> dict[str, str]:
    """Headers for a form post: Django's CSRF token from the cookie that rendering
    ``page`` sets (the Flask app has none, and needs none)."""
    client.get(page).raise_for_status()
    token = client.cookies.get("csrftoken")
    return {"x-csrftoken": token} if token else {}


def _parent_post(client: httpx.Client, path: str, data: dict[str, str]) -> str:
    """Post a Parent-page form and return the notice the page then shows."""
    r = client.post(path, data=data, headers=_csrf(client, "/parent"))
    _expect(r.status_code == 303, f"POST {path}: HTTP {r.status_code}")
    page = client.get("/parent").text
    notice = re.search(r'<div class="notice[^"]*">(.*?)</div>', page, re.DOTALL)
    return notice[1].strip() if notice else ""


def _dm(base_url: str, sender: str, recipient: str, text: str) -> int:
    with sign_in(base_url, sender) as client:
        return client.post(f"/api/messages/{recipient}", json={"text": text}).status_code


def parent_dm_consent_and_revocation(site: Site) -> str:
    """A parent switches the 12-year-old's DMs off, lets one relative through with a
    ``dm.from`` consent grant, and a revocation takes it away at once."""
    url = site.base_url
    with sign_in(url, "parent_pat") as parent:
        notice = _parent_post(
            parent, "/parent/maya/settings", {"setting": "direct_messages", "value": "nobody"}
        )
        _expect("Saved." in notice, f"parent change: {notice!r}")
        before = _dm(url, "aunt_jo", "maya", "before the consent")
        notice = _parent_post(parent, "/parent/maya/consents", {"scope": "dm.from:aunt_jo"})
        _expect("You gave consent" in notice, f"grant: {notice!r}")
        allowed = _dm(url, "aunt_jo", "maya", "with the consent")
        other = _dm(url, "sam", "maya", "not in the consent")
        grant = re.search(
            r'action="/parent/maya/consents/([0-9a-f]+)/revoke"', parent.get("/parent").text
        )
        _expect(grant is not None, "no revoke button for the grant")
        assert grant is not None
        notice = _parent_post(parent, f"/parent/maya/consents/{grant[1]}/revoke", {})
        _expect("revoked" in notice, f"revoke: {notice!r}")
        after = [_dm(url, "aunt_jo", "maya", "after the revocation") for _ in range(3)]
    statuses = (before, allowed, other, *after)
    _expect(statuses == (403, 201, 403, 403, 403, 403), f"DM statuses {statuses}")
    return "off: 403; dm.from grant: 201 (others 403); revoked: 403"


def _claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def _tampered(token: str, **changes: object) -> str:
    """``token`` with its claims changed and the original signature kept."""
    header, _, signature = token.split(".")
    payload = json.dumps({**_claims(token), **changes}).encode()
    return ".".join((header, base64.urlsafe_b64encode(payload).rstrip(b"=").decode(), signature))


def age_token_verified(site: Site) -> str:
    """A valid token from the local test issuer gives a verified band over the API."""
    token = site.issuer().issue("alex", age_band="16_17")
    with httpx.Client(base_url=site.base_url, timeout=10.0) as client:
        client.headers["authorization"] = f"Bearer {token}"
        me = client.get("/api/me").json()
        inbox = client.get("/api/messages")
    _expect(me["id"] == "alex" and me["resolved_by"] == "age_token", f"/api/me {me}")
    _expect((me["band"], me["assurance"]) == ("16_17", "verified"), f"/api/me {me}")
    _expect(inbox.status_code == 200, f"/api/messages with the token: {inbox.status_code}")
    return f"{me['band']}, {me['assurance']}"


def bad_age_tokens_protective(site: Site) -> str:
    """A tampered or expired token gets the protective unknown-age path, with the
    reason in the answer."""
    issuer = site.issuer()
    tokens = {
        "bad_signature": _tampered(issuer.issue("sam", age_band="13_15"), age_band="adult"),
        "expired": issuer.issue("sam", age_band="13_15", ttl=-dt.timedelta(hours=1)),
    }
    for code, token in tokens.items():
        with httpx.Client(base_url=site.base_url, timeout=10.0) as client:
            client.headers["authorization"] = f"Bearer {token}"
            me = client.get("/api/me").json()
            denied = client.get("/api/messages")
        _expect(
            (me["id"], me["band"], me["treated_as"]) == (None, "unknown", "under_13"),
            f"{code}: /api/me {me}",
        )
        _expect(f"[{code}]" in str(me["error"]), f"{code}: error {me['error']!r}")
        _expect(denied.status_code == 401, f"{code}: /api/messages HTTP {denied.status_code}")
        _expect(f"[{code}]" in denied.json().get("reason", ""), f"{code}: {denied.text}")
    return "bad_signature, expired: unknown age, treated as under_13, 401 with the reason"


SCENARIOS: tuple[tuple[str, Callable[[Site], str]], ...] = (
    ("stranger_dm_refused", stranger_dm_refused),
    ("relative_dm_delivered", relative_dm_delivered),
    ("children_never_suggested", children_never_suggested),
    ("child_location_hidden", child_location_hidden),
    ("child_cannot_be_friend_requested", child_cannot_be_friend_requested),
    ("parent_dm_consent_and_revocation", parent_dm_consent_and_revocation),
    ("age_token_verified", age_token_verified),
    ("bad_age_tokens_protective", bad_age_tokens_protective),
)


def run_scenarios(site: Site) -> list[Result]:
    """Run every scenario against the app at ``site``; never raises."""
    results = []
    for name, scenario in SCENARIOS:
        try:
            detail = scenario(site)
        except (ScenarioError, httpx.HTTPError, ValueError, KeyError) as e:
            results.append(Result(name, passed=False, detail=f"{type(e).__name__}: {e}"))
        else:
            results.append(Result(name, passed=True, detail=detail))
    return results


def report(results: list[Result]) -> str:
    """A table of results for test failure messages."""
    width = max(len(r.name) for r in results)
    return "\n".join(
        f"{'PASS' if r.passed else 'FAIL'}  {r.name:<{width}}  {r.detail}" for r in results
    )
