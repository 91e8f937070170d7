"""The scenario list both example apps must pass, driven over real HTTP with httpx.

>>> from examples.common.scenarios import SCENARIOS
>>> [name for name, _ in SCENARIOS][:2]
['stranger_dm_refused', 'relative_dm_delivered']
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import attrs
import httpx

CHILDREN = ("maya", "sam", "alex")
CHILD_PLACES = ("Riverside Park", "Central Library", "Harbour Running Track")


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


def stranger_dm_refused(base_url: str) -> str:
    """A stranger adult's DM to the 15-year-old is refused with a problem+json body."""
    with sign_in(base_url, "stranger") as client:
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
    with sign_in(base_url, "sam") as client:
        inbox = client.get("/api/messages").json()["messages"]
    _expect(all("want to chat" not in m["text"] for m in inbox), "the refused DM was stored")
    return f"403 {body['reason']} ({body['setting']})"


def relative_dm_delivered(base_url: str) -> str:
    """The connected relative's DM to the 15-year-old is delivered."""
    with sign_in(base_url, "aunt_jo") as client:
        r = client.post("/api/messages/sam", json={"text": "See you at the match!"})
    _expect(r.status_code == 201, f"expected 201, got {r.status_code}: {r.text[:200]}")
    with sign_in(base_url, "sam") as client:
        inbox = client.get("/api/messages").json()["messages"]
    _expect(any(m["text"] == "See you at the match!" for m in inbox), "not in sam's inbox")
    return "201, in the inbox"


def children_never_suggested(base_url: str) -> str:
    """No child appears in the stranger's friend suggestions (JSON or page)."""
    with sign_in(base_url, "stranger") as client:
        data = client.get("/api/suggestions").json()
        page = client.get("/suggestions").text
    ids = [s["id"] for s in data["suggestions"]]
    _expect(ids != [], "the stranger gets no suggestions at all (the list should hold adults)")
    _expect(not set(ids) & set(CHILDREN), f"children suggested: {set(ids) & set(CHILDREN)}")
    _expect(all(f'/users/{c}"' not in page for c in CHILDREN), "a child is linked from the page")
    return f"suggested: {', '.join(ids)}"


def child_location_hidden(base_url: str) -> str:
    """A child's location never appears in a stranger's view (JSON or page)."""
    with sign_in(base_url, "stranger") as client:
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
    with sign_in(base_url, "stranger") as client:
        adult = client.get("/api/users/aunt_jo").json()
    _expect("location" in adult, "an adult's public location should still be shown")
    return "no child location in JSON or pages"


def child_cannot_be_friend_requested(base_url: str) -> str:
    """The stranger cannot send the 12-year-old a friend request."""
    with sign_in(base_url, "stranger") as client:
        r = client.post("/users/maya/friend-request", headers={"accept": "application/json"})
    _expect(r.status_code == 403, f"expected 403, got {r.status_code}")
    return "403"


SCENARIOS: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("stranger_dm_refused", stranger_dm_refused),
    ("relative_dm_delivered", relative_dm_delivered),
    ("children_never_suggested", children_never_suggested),
    ("child_location_hidden", child_location_hidden),
    ("child_cannot_be_friend_requested", child_cannot_be_friend_requested),
)


def run_scenarios(base_url: str) -> list[Result]:
    """Run every scenario against the app at ``base_url``; never raises."""
    results = []
    for name, scenario in SCENARIOS:
        try:
            detail = scenario(base_url)
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
