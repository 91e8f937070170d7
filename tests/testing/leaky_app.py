"""A small Flask app that can be built with deliberate child-safety leaks.

:func:`create_app` with no leaks declares an action on every route that reaches
another account and lets the response filter clean its JSON: it passes the conformance
suite. Each name in :data:`LEAKS` swaps one route for a version with a classic mistake
(a forgotten decorator, a serializer that puts the location under a key the filter does
not know, a suggestion list under an unknown key), which the suite must catch.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any, Final

from flask import Flask, request
from flask.testing import FlaskClient

from childsafe import AgeBand, Request, ResponseFilter, action, path_param
from childsafe.contrib.flask import ChildSafe
from childsafe.testing import AccountFactory, problem_of
from childsafe.testing.conformance import ConformanceAdapter

LEAKS: Final = {
    "dm_without_decorator": ("stranger_dm", "dm_to_stranger"),
    "friend_request_without_decorator": ("friend_request",),
    "suggestions_unfiltered": ("suggested_to_stranger", "stranger_suggested"),
    "profile_without_decorator": ("profile",),
    "location_in_serializer": ("location",),
    "connections_without_decorator": ("connection_list",),
    "connections_unfiltered": ("listed_in_connections",),
    "tag_without_decorator": ("tag",),
    "comment_without_decorator": ("comment",),
}
"""Each leak, and the conformance probes that must fail for a minor because of it."""

View = Callable[..., Any]


def _header_account(accounts: AccountFactory) -> Any:
    def header_account(req: Request) -> object:
        ident = req.header("x-account")
        return accounts.get_account(ident) if ident else None

    return header_account


def create_app(accounts: AccountFactory, leaks: Iterable[str] = ()) -> Flask:
    """The app over ``accounts`` (its store), with the named ``leaks``."""
    chosen = frozenset(leaks)
    unknown = chosen - set(LEAKS)
    if unknown:
        raise ValueError(f"unknown leaks {sorted(unknown)}; known: {sorted(LEAKS)}")
    app = Flask(__name__)
    # Leaky on purpose: its views make their own checks (or forget to), which strict
    # mode would refuse to serve; the conformance suite must find what leaks anyway.
    app.config["CHILDSAFE_STRICT"] = False
    ChildSafe(
        app,
        resolvers=[_header_account(accounts)],
        repository=accounts,
        response_filter=ResponseFilter(),
    )
    messages: list[tuple[str, str]] = []
    locations: dict[str, str] = {}
    made: list[tuple[str, str, str]] = []

    def me() -> str:
        return request.headers["x-account"]

    def guarded(leak: str, name: str) -> Callable[[View], View]:
        """The route's action declaration, unless ``leak`` forgets it."""
        if leak in chosen:
            return lambda view: view
        return action(name, target=path_param("user_id"))

    @app.post("/dm/<user_id>")
    @guarded("dm_without_decorator", "dm.send")
    def dm(user_id: str) -> Any:
        messages.append((me(), user_id))
        return {"sent": True}, 201

    @app.post("/users/<user_id>/friend-request")
    @guarded("friend_request_without_decorator", "friend.request")
    def friend_request(user_id: str) -> Any:
        made.append(("request", me(), user_id))
        return {"requested": user_id}, 201

    @app.get("/suggestions")
    def suggestions() -> Any:
        people = [{"id": a.id} for a in accounts if a.id != me()]
        key = "people" if "suggestions_unfiltered" in chosen else "suggestions"
        return {key: people}

    @app.get("/users/<user_id>")
    @guarded("profile_without_decorator", "profile.view")
    def profile(user_id: str) -> Any:
        place = locations.get(user_id)
        if "location_in_serializer" in chosen:
            return {"id": user_id, "bio": "hi", "checkin": {"place": place}}
        return {"id": user_id, "bio": "hi", "location": place}

    @app.get("/users/<user_id>/location")
    def location(user_id: str) -> Any:
        if "location_in_serializer" in chosen:
            return {"id": user_id, "checkin": {"place": locations.get(user_id)}}
        return {"id": user_id, "location": locations.get(user_id)}

    @app.put("/location")
    def check_in() -> Any:
        locations[me()] = str(request.get_json()["place"])
        return {"ok": True}

    @app.get("/users/<user_id>/connections")
    @guarded("connections_without_decorator", "connections.view")
    def connections(user_id: str) -> Any:
        ids = [a.id for a in accounts if accounts.relationship(user_id, a.id).connected]
        key = "members" if "connections_unfiltered" in chosen else "connections"
        return {"id": user_id, key: ids}

    @app.post("/users/<user_id>/tags")
    @guarded("tag_without_decorator", "tag")
    def tag(user_id: str) -> Any:
        made.append(("tag", me(), user_id))
        return {"tagged": user_id}, 201

    @app.post("/users/<user_id>/comments")
    @guarded("comment_without_decorator", "comment")
    def comment(user_id: str) -> Any:
        made.append(("comment", me(), user_id))
        return {"commented": user_id}, 201

    return app


class LeakyAdapter(ConformanceAdapter):
    """The conformance adapter for :func:`create_app`, over Flask's test client."""

    def __init__(self, app: Flask, accounts: AccountFactory) -> None:
        self.client: FlaskClient = app.test_client()
        self.accounts = accounts

    def _call(self, method: str, path: str, who: str, **kwargs: Any) -> Any:
        response = self.client.open(path, method=method, headers={"x-account": who}, **kwargs)
        if response.status_code == 403 and problem_of(response) is not None:
            return None
        assert response.status_code in (200, 201), response.get_data(as_text=True)
        return response.get_json()

    def create_account(self, band: AgeBand, *, jurisdiction: str | None) -> str:
        return self.accounts.of_band(band, jurisdiction=jurisdiction).id

    def connect(self, a: str, b: str) -> None:
        self.accounts.connect(a, b)

    def send_dm(self, sender: str, recipient: str) -> bool:
        return self._call("POST", f"/dm/{recipient}", sender) is not None

    def friend_request(self, sender: str, target: str) -> bool:
        return self._call("POST", f"/users/{target}/friend-request", sender) is not None

    def suggestions(self, viewer: str) -> Collection[str]:
        body = self._call("GET", "/suggestions", viewer)
        return [p["id"] for p in body.get("suggestions", body.get("people", []))]

    def view_profile(self, viewer: str, target: str) -> bool:
        return self._call("GET", f"/users/{target}", viewer) is not None

    def set_location(self, account: str, place: str) -> None:
        self._call("PUT", "/location", account, json={"place": place})

    def view_location(self, viewer: str, target: str) -> str | None:
        body = self._call("GET", f"/users/{target}/location", viewer) or {}
        place = body.get("location") or body.get("checkin", {}).get("place")
        return None if place is None else str(place)

    def view_connections(self, viewer: str, target: str) -> Collection[str] | None:
        body = self._call("GET", f"/users/{target}/connections", viewer)
        if body is None:
            return None
        return list(body.get("connections", body.get("members", [])))

    def tag(self, actor: str, target: str) -> bool:
        return self._call("POST", f"/users/{target}/tags", actor) is not None

    def comment(self, actor: str, target: str) -> bool:
        return self._call("POST", f"/users/{target}/comments", actor) is not None
