"""The conformance corpus's base app with a few more routes, each correct unless one
of :data:`LEAKS` is switched on: leaks the observation suite once missed (a location in
a header, a redirect, whole-number coordinates or a geohash, a birth date or an email
address shown to strangers, a search that finds a child by handle, a list paged by
offset, a detail route whose parameter is a ``pk``, a search asked by ``POST``;
coordinates as ``DECIMAL(10, 8)`` text or inside base64, a stranger changing a child's
settings, a message read by its sequential id, a JSON variant of an HTML page, a page
a shared cache keeps, a list paged by ``nextPageToken`` or a HAL ``next.href``, a
birth date in epoch milliseconds, an email address as a Gravatar digest, a data export
as a ZIP archive, "people nearby" that needs a point, an error page that serializes the
record it refuses, a message by an untyped ``<message_id>``, a poke by a ``GET``
link, coordinates with a decimal comma). The
correct searches echo their query, as real ones do."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import io
import json
import zipfile
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
    "decimal_coordinates": ("GET /api/users/<user_id>/card.json", "location"),
    "stranger_settings": ("PATCH /api/users/<user_id>/privacy", "(by a stranger)"),
    "message_by_id": ("GET /api/messages/<int:message_id>", "message"),
    "base64_props": ("GET /api/users/<user_id>/card.json", "location"),
    "json_variant": ("GET /u/<user_id>", "location"),
    "page_token": ("GET /api/roster", "name"),
    "epoch_birth_date": ("GET /api/users/<user_id>/card.json", "birth date"),
    "gravatar": ("GET /api/users/<user_id>/card.json", "contact"),
    "zip_export": ("GET /api/users/<user_id>/export.zip", "location"),
    "nearby": ("GET /api/nearby", "name"),
    "error_page": ("GET /api/users/<user_id>/private", "location"),
    "message_by_named_id": ("GET /api/dm/<message_id>", "message"),
    "get_poke": ("GET /api/users/<user_id>/poke", "request stored"),
    "comma_decimal": ("GET /u/<user_id>", "location"),
    "hal_next": ("GET /api/roster", "name"),
    "shared_cache": ("GET /api/users/<user_id>/summary", "location", "logged_out (shared cache"),
}
"""Each leak, and the route and kind of the findings it must cause (a part of the kind
and of the viewer: by default the adult stranger)."""

EXTRA: Final = (
    ("GET", "/api/users/<user_id>/card.json", "card_json"),
    ("GET", "/api/users/<user_id>/map", "map"),
    ("GET", "/api/people", "people_search"),
    ("GET", "/api/directory", "directory"),
    ("GET", "/people/<pk>", "by_pk"),
    ("POST", "/api/people/search", "post_search"),
    ("PATCH", "/api/users/<user_id>/privacy", "privacy"),
    ("GET", "/api/messages/<int:message_id>", "message_by_id"),
    ("GET", "/u/<user_id>", "page_or_json"),
    ("GET", "/api/users/<user_id>/summary", "summary"),
    ("GET", "/api/roster", "roster"),
    ("GET", "/api/users/<user_id>/export.zip", "export"),
    ("GET", "/api/nearby", "nearby"),
    ("GET", "/api/users/<user_id>/private", "private"),
    ("GET", "/api/dm/<message_id>", "dm_by_id"),
    ("GET", "/api/users/<user_id>/poke", "poke"),
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
        self.accept_header = ""

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
            if self.sees_location(viewer, rec) or self.leak == "decimal_coordinates":
                # a DECIMAL(10, 8) column, serialized as a string
                out["lat"], out["lng"] = f"{where['lat']:.8f}", f"{where['lng']:.8f}"
        # The preview image's properties travel in its URL, base64-encoded.
        props: dict[str, Any] = {"title": rec.name}
        if where is not None and (self.sees_location(viewer, rec) or self.leak == "base64_props"):
            props["where"] = [where["lat"], where["lng"]]
        encoded = base64.urlsafe_b64encode(json.dumps(props).encode()).decode().rstrip("=")
        out["og_image"] = f"https://og.example/render?props={encoded}"
        if self.allowed("profile.view", viewer, rec) or self.leak == "birth_date":
            out["birthday"] = rec.birth_date.strftime("%d/%m/%Y")
        if self.allowed("dm.send", viewer, rec) or self.leak == "email":
            out["contact"] = {"email": self.emails.get(rec.id, "")}
        if self.allowed("profile.view", viewer, rec) or self.leak == "epoch_birth_date":
            midnight = dt.datetime.combine(rec.birth_date, dt.time(), tzinfo=dt.UTC)
            out["born_ms"] = int(midnight.timestamp()) * 1000  # a JavaScript Date
        digest = "0" * 32  # the default picture
        if self.allowed("dm.send", viewer, rec) or self.leak == "gravatar":
            email = self.emails.get(rec.id, "").strip().lower().encode()
            digest = hashlib.md5(email, usedforsecurity=False).hexdigest()
        out["avatar"] = f"https://www.gravatar.com/avatar/{digest}?d=identicon"
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
        return Reply(200, {"query": q, "results": [self.brief(r) for r in found]})

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
        # The query is echoed, as search pages do ("3 results for ..."), and in the
        # link to the next page.
        headers = {"Link": f'</api/people?q={q}&page=2>; rel="alternate"'} if q else {}
        return Reply(
            200,
            {"query": q, "results": [self.brief(r) for r in found]},
            headers=headers,
        )

    def privacy(self, viewer: Rec | None, params: Params, body: Body) -> Reply:
        """An account's privacy settings, changed by the account holder only."""
        me, rec = self._mine(viewer), self._target(params["user_id"])
        if rec.id != me.id and self.leak != "stranger_settings":
            return Reply(403, {"error": "not your account"})
        confirmed = body.get("confirmed") in {True, "1", "true"}
        return self._change(self.account(rec), body, confirmed=confirmed)

    def message_by_id(self, viewer: Rec | None, params: Params, _: Body) -> Reply:
        """One message by its sequential id: for its sender and recipient only."""
        me = self._mine(viewer)
        n = int(params["message_id"])
        if not 1 <= n <= len(self.messages):
            return Reply(404, {"error": "no such message"})
        sender, to, text = self.messages[n - 1]
        if me.id not in {sender, to} and self.leak != "message_by_id":
            return Reply(404, {"error": "no such message"})
        return Reply(200, {"id": n, "from": sender, "to": to, "text": text})

    def page_or_json(self, viewer: Rec | None, params: Params, _: Body) -> Reply:
        """A profile page in HTML, or JSON when the client asks for it."""
        rec = self._target(params["user_id"])
        if "application/json" in self.accept_header:
            data = self.profile_data(viewer, rec)
            if self.leak == "json_variant":  # the model rendered whole, as to_json does
                data = {**self.brief(rec), "location": self.location_of(rec)}
            return Reply(200, data)
        # The map widget's point, written as a German locale writes numbers.
        where, point = self.location_of(rec), ""
        if where is not None and (self.sees_location(viewer, rec) or self.leak == "comma_decimal"):
            lat, lng = (f"{where[k]:.6f}".replace(".", ",") for k in ("lat", "lng"))
            point = f'<div class="map" data-lat="{lat}" data-lng="{lng}"></div>'
        page = f"<html><body><h1>{html.escape(rec.name)}</h1>{point}</body></html>"
        return Reply(200, page, "text/html")

    def roster(self, viewer: Rec | None, _: Params, body: Body) -> Reply:
        """Everyone who may be suggested, paged by a token (``nextPageToken`` and
        ``?pageToken=``, or a HAL ``_links.next.href`` with the leak ``hal_next``)."""
        if viewer is None:
            return Reply(401, {"error": "sign in first"})
        token = str(body.get("pageToken") or body.get("page_token") or "")
        start = int(base64.urlsafe_b64decode(token).decode()) if token else 0
        people = [r for r in self.people() if r.id != viewer.id]
        leaky = self.leak in {"page_token", "hal_next"}
        if not (start and leaky):  # filtered on the first page only
            people = [r for r in people if self.suggestible(viewer, r)]
        out: dict[str, Any] = {"items": [self.brief(r) for r in people[start : start + PAGE]]}
        if start + PAGE < len(people):
            after = base64.urlsafe_b64encode(str(start + PAGE).encode()).decode()
            if self.leak == "hal_next":
                out["_links"] = {"next": {"href": f"/api/roster?page_token={after}"}}
            else:
                out["nextPageToken"] = after
        return Reply(200, out)

    def nearby(self, viewer: Rec | None, _: Params, body: Body) -> Reply:
        """People near a point, which is required: "people nearby"."""
        if viewer is None:
            return Reply(401, {"error": "sign in first"})
        try:
            lat, lng = float(body["lat"]), float(body["lng"])
        except (KeyError, ValueError):
            return Reply(400, {"error": "lat and lng are required"})
        found = []
        for rec in self.people():
            where = self.location_of(rec)
            if rec.id == viewer.id or where is None:
                continue
            near = abs(where["lat"] - lat) < 0.05 and abs(where["lng"] - lng) < 0.05
            if near and (self.suggestible(viewer, rec) or self.leak == "nearby"):
                found.append(self.brief(rec))
        return Reply(200, {"nearby": found})

    def private(self, viewer: Rec | None, params: Params, _: Body) -> Reply:
        """The full profile for its holder; a refusal for anyone else (which, with the
        leak, serializes the record it refuses, as an error handler may)."""
        rec = self._target(params["user_id"])
        if viewer is not None and viewer.id == rec.id:
            return Reply(200, self.profile_data(viewer, rec))
        body: dict[str, Any] = {"error": "this profile is private"}
        if self.leak == "error_page":
            body["record"] = {**self.brief(rec), "location": self.location_of(rec)}
        return Reply(403, body)

    def dm_by_id(self, viewer: Rec | None, params: Params, body: Body) -> Reply:
        """A message by its number, the parameter untyped (``<message_id>``)."""
        if not params["message_id"].isdigit():
            return Reply(404, {"error": "no such message"})
        if self.leak == "message_by_named_id":
            self.leak = "message_by_id"  # the same view, another parameter
            try:
                return self.message_by_id(viewer, params, body)
            finally:
                self.leak = "message_by_named_id"
        return self.message_by_id(viewer, params, body)

    def poke(self, viewer: Rec | None, params: Params, _: Body) -> Reply:
        """A poke by a link (``GET``), as from an email or a notification's button: the
        target is told who poked it."""
        me, to = self._mine(viewer), self._target(params["user_id"])
        if self.leak != "get_poke" and not self.allowed("dm.send", me, to):
            return Reply(403, {"error": "not allowed"})
        self.deliver(me, to, f"{me.name} poked you")
        return Reply(200, {"poked": True})

    def export(self, viewer: Rec | None, params: Params, _: Body) -> Reply:
        """The account holder's data as a ZIP archive (a "download your data" route)."""
        me, rec = self._mine(viewer), self._target(params["user_id"])
        if rec.id != me.id and self.leak != "zip_export":
            return Reply(403, {"error": "only your own data"})
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("profile.json", json.dumps(self.brief(rec)))
            archive.writestr("location.json", json.dumps(self.location_of(rec)))
        return Reply(200, buffer.getvalue(), "application/zip")

    def summary(self, viewer: Rec | None, params: Params, _: Body) -> Reply:
        """The profile as its viewer may see it, cached for five minutes."""
        rec = self._target(params["user_id"])
        scope = "public" if self.leak == "shared_cache" else "private"
        headers = {"Cache-Control": f"{scope}, max-age=300"}
        return Reply(200, self.profile_data(viewer, rec), headers=headers)


def adapter(leak: str | None) -> CorpusAdapter:
    """The app with ``leak`` (``None``: none) on Flask, and its corpus adapter."""
    social = More(leak)
    app = flask.Flask("more")

    def view_for(name: str) -> Any:
        def view(**params: str) -> flask.Response:
            request = flask.request
            social.method = request.method
            social.accept_header = request.headers.get("Accept", "")
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
