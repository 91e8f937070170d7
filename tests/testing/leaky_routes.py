"""The conformance corpus's base app with a few more routes, each correct unless one
of :data:`LEAKS` is switched on: leaks the observation suite once missed (a location in
a header, a redirect, whole-number coordinates or a geohash, a birth date or an email
address shown to strangers, a search that finds a child by handle, a list paged by
offset, a detail route whose parameter is a ``pk``, a search asked by ``POST``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import flask
import httpx

from childsafe.testing._leaks import geohash
from tests.conformance_corpus.adapter import CorpusAdapter
from tests.conformance_corpus.core import PAGE, ROUTES, Rec, Reply, Social
from tests.conformance_corpus.fronts import COOKIE, _flask_reply, _form

LEAKS: Final = {
    "header_location": ("GET /api/users/<user_id>/card.json", "location"),
    "redirect_location": ("GET /api/users/<user_id>/map", "location"),
    "head_location": ("GET /api/users/<user_id>/card.json", "location"),
    "scaled_coordinates": ("GET /api/users/<user_id>/card.json", "location"),
    "birth_date": ("GET /api/users/<user_id>/card.json", "birth date"),
    "email": ("GET /api/users/<user_id>/card.json", "contact"),
    "search_by_handle": ("GET /api/people", "name"),
    "geohash": ("GET /api/users/<user_id>/card.json", "location"),
    "offset_pages": ("GET /api/directory", "name"),
    "pk_route": ("GET /people/<pk>", "location"),
    "post_search": ("POST /api/people/search", "name"),
}
"""Each leak, and the route and kind of the findings it must cause."""

EXTRA: Final = (
    ("GET", "/api/users/<user_id>/card.json", "card_json"),
    ("GET", "/api/users/<user_id>/map", "map"),
    ("GET", "/api/people", "people_search"),
    ("GET", "/api/directory", "directory"),
    ("GET", "/people/<pk>", "by_pk"),
    ("POST", "/api/people/search", "post_search"),
)

Params = Mapping[str, str]
Body = Mapping[str, Any]


class More(Social):
    """:class:`~tests.conformance_corpus.core.Social` with :data:`EXTRA` routes."""

    def __init__(self, leak: str | None = None) -> None:
        super().__init__()
        self.leak = leak
        self.emails: dict[str, str] = {}
        self.method = "GET"

    def signup(self, viewer: Rec | None, params: Params, body: Body) -> Reply:
        reply = super().signup(viewer, params, body)
        if reply.status == 201:
            self.emails[reply.body["id"]] = str(body.get("email", ""))
        return reply

    def card_json(self, viewer: Rec | None, params: Params, _: Body) -> Reply:
        rec = self._target(params["user_id"])
        out: dict[str, Any] = self.brief(rec)
        headers: dict[str, str] = {}
        where = self.location_of(rec)
        if where is not None:
            if self.sees_location(viewer, rec) or self.leak == "scaled_coordinates":
                out["position"] = {
                    "latE7": round(where["lat"] * 1e7),
                    "lngE7": round(where["lng"] * 1e7),
                }
            if self.sees_location(viewer, rec) or self.leak == "header_location":
                headers["X-Last-Position"] = f"{where['lat']},{where['lng']}"
            if self.method == "HEAD" and self.leak == "head_location":
                headers["X-Geo"] = f"{where['lat']};{where['lng']}"
            if self.sees_location(viewer, rec) or self.leak == "geohash":
                out["cell"] = geohash(where["lat"], where["lng"], 7)
        if self.allowed("profile.view", viewer, rec) or self.leak == "birth_date":
            out["birthday"] = rec.birth_date.strftime("%d/%m/%Y")
        if self.allowed("dm.send", viewer, rec) or self.leak == "email":
            out["contact"] = {"email": self.emails.get(rec.id, "")}
        return Reply(200, out, headers=headers)

    def post_search(self, viewer: Rec | None, _: Params, body: Body) -> Reply:
        """A search asked in the request body; nothing without a query."""
        if viewer is None:
            return Reply(401, {"error": "sign in first"})
        q = str(body.get("q") or "").lower()
        if not q:
            return Reply(400, {"error": "q is required"})
        found = [r for r in self.people() if r.id != viewer.id and q in r.handle]
        if self.leak != "post_search":
            found = [r for r in found if self.suggestible(viewer, r)]
        return Reply(200, {"results": [self.brief(r) for r in found]})

    def by_pk(self, viewer: Rec | None, params: Params, _: Body) -> Reply:
        rec = self._target(params["pk"])
        out: dict[str, Any] = self.brief(rec)
        where = self.location_of(rec)
        if where is not None and (self.sees_location(viewer, rec) or self.leak == "pk_route"):
            out["where"] = where
        return Reply(200, out)

    def directory(self, viewer: Rec | None, _: Params, body: Body) -> Reply:
        """Everyone who may be suggested, paged by ``?offset=``."""
        if viewer is None:
            return Reply(401, {"error": "sign in first"})
        offset = int(body.get("offset") or 0)
        people = [r for r in self.people() if r.id != viewer.id]
        if not (offset and self.leak == "offset_pages"):  # filtered on the first page only
            people = [r for r in people if self.suggestible(viewer, r)]
        page = [self.brief(r) for r in people[offset : offset + PAGE]]
        return Reply(
            200, {"items": page, "offset": offset, "has_more": offset + PAGE < len(people)}
        )

    def map(self, viewer: Rec | None, params: Params, _: Body) -> Reply:
        rec = self._target(params["user_id"])
        where = self.location_of(rec)
        if where is None or not (
            self.sees_location(viewer, rec) or self.leak == "redirect_location"
        ):
            return Reply(404, {"error": "no location to show"})
        to = f"https://maps.example/?ll={where['lat']},{where['lng']}"
        return Reply(302, b"", "text/plain", headers={"Location": to})

    def people_search(self, viewer: Rec | None, _: Params, body: Body) -> Reply:
        """A search that lists nobody until asked: only a query shows anyone."""
        if viewer is None:
            return Reply(401, {"error": "sign in first"})
        q = str(body.get("q") or "").lower()
        found = [r for r in self.people() if q and r.id != viewer.id and q in r.handle]
        if self.leak != "search_by_handle":
            found = [r for r in found if self.suggestible(viewer, r)]
        return Reply(200, {"results": [self.brief(r) for r in found]})


def adapter(leak: str | None) -> CorpusAdapter:
    """The app with ``leak`` (``None``: none) on Flask, and its corpus adapter."""
    social = More(leak)
    app = flask.Flask("more")

    def view_for(name: str) -> Any:
        def view(**params: str) -> flask.Response:
            request = flask.request
            social.method = request.method
            if request.method in {"GET", "HEAD"}:
                body: dict[str, Any] = _form(request.args)
            else:
                data = request.get_json(silent=True)
                body = data if isinstance(data, dict) else _form(request.form)
            return _flask_reply(social.dispatch(name, request.cookies.get(COOKIE), params, body))

        view.__name__ = name
        return view

    for method, path, name in (*ROUTES, *EXTRA):
        app.add_url_rule(
            path, endpoint=f"{name}_{method}", view_func=view_for(name), methods=[method]
        )
    return CorpusAdapter(app, httpx.WSGITransport(app=app), "http://testserver")
