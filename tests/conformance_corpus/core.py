"""The corpus's base app: a small social network that asks childsafe's ``Guard``
before it shows or does anything about another account, with one switch per
realistic bug (:data:`BUGS`). The framework fronts (:mod:`.flask_front`,
:mod:`.starlette_front`) only translate requests; every view is here.

With no bug switched on the app is correct: the observation suite finds nothing and
every exploit in :mod:`.exploits` fails against it.
"""

from __future__ import annotations

import datetime as dt
import gzip
import html
import json
import secrets
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import quote_plus

import attrs

from childsafe import Account, AgeBand, Guard, Relationship, load_policy

BUGS: Final = {
    "extra_key_location": "the profile JSON also carries last_seen_at, the place unchecked",
    "renamed_key": "API v2 renamed location to geo; the check still looks for location",
    "nested_location": "the profile's stats object nests the last check-in, unchecked",
    "logged_out_full": "logged-out visitors get the full profile (a crawler cache)",
    "teen_viewers": "location is shown to any viewer under 18 ('kids are safe with kids')",
    "fof_connections": "a friend of a friend counts as a connection for connection lists",
    "connections_unlisted": "a connection list shows children to strangers (no listed check)",
    "rounded_coords": "the profile shows an 'approximate area' (rounded coordinates)",
    "html_location": "the HTML profile page renders the stored location, unchecked",
    "url_encoded": "the HTML profile links directions to the place, URL-encoded, unchecked",
    "text_card": "the text contact card includes the location, unchecked",
    "gzip_activity": "the gzipped activity export includes check-ins, unchecked",
    "later_pages": "search filters children out of page 1 only",
    "suggestions_page2": "suggestions after the first cursor come unfiltered",
    "fof_suggestions": "friends of friends are always suggested, whatever discoverable says",
    "conversation_idor": "a conversation route shows another account's whole inbox",
    "body_target": "the DM route checks the path's account but delivers to the body's 'to'",
    "teen_dm": "DMs between two minors skip the check",
    "quiet_hours_utc": "quiet hours are judged in server time (UTC), not the account's zone",
    "reply_unchecked": "replies are delivered without the DM check",
    "bulk_unchecked": "bulk friend requests skip the per-target check",
    "follow_as_connection": "a one-way follow counts as a connection",
    "group_unchecked": "group chats are formed without checking their members",
    "declared_age": "the DM route believes the sender's 'age' field in the request body",
    "child_parent_setting": "a supervised child's own change is applied with parent rights",
    "parent_route_unchecked": "the parent settings route does not check the caller is a parent",
    "purchase_no_jurisdiction": "purchases are checked without the account's jurisdiction",
    "declared_age_purchase": "the purchase route believes an 'age' field in the request body",
    "ignore_min_age": "sign-up ignores the jurisdiction's minimum account age",
    "signup_defaults": "sign-up pre-ticks location sharing with friends for 16-17s",
    "signup_jurisdiction": "sign-up drops the country: every account is stored as GB",
}
"""Every bug the base app can have, with what it does."""

PAGE: Final = 5


@attrs.define
class Rec:
    id: str
    name: str
    handle: str
    password: str
    birth_date: dt.date
    jurisdiction: str
    timezone: str
    settings: dict[str, Any] = attrs.Factory(dict)
    guardians: set[str] = attrs.Factory(set)


@attrs.frozen
class Reply:
    """What a view answers: a status, a body (JSON-able, text or bytes), its type."""

    status: int
    body: Any
    content_type: str = "application/json"
    headers: Mapping[str, str] = attrs.Factory(dict)
    cookie: str | None = None

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


def _age(born: dt.date, today: dt.date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _band(age: int) -> AgeBand:
    if age >= 18:
        return AgeBand.ADULT
    if age >= 16:
        return AgeBand.AGE_16_17
    return AgeBand.AGE_13_15 if age >= 13 else AgeBand.UNDER_13


def _text(body: Mapping[str, Any], *names: str) -> str:
    for n in names:
        value = body.get(n)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _ids(body: Mapping[str, Any], name: str) -> list[str]:
    value = body.get(name)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = [value]
    return [str(v) for v in value] if isinstance(value, list) else []


View = Callable[["Social", "Rec | None", Mapping[str, str], Mapping[str, Any]], Reply]

# (method, path with <params>, view name): the fronts register exactly these.
ROUTES: Final = (
    ("POST", "/signup", "signup"),
    ("POST", "/login", "login"),
    ("GET", "/api/me", "me"),
    ("GET", "/api/users/<user_id>", "profile"),
    ("GET", "/users/<user_id>", "profile_page"),
    ("GET", "/api/users/<user_id>/card.txt", "card"),
    ("GET", "/api/users/<user_id>/activity", "activity"),
    ("GET", "/api/search", "search"),
    ("GET", "/api/suggestions", "suggestions"),
    ("GET", "/api/messages", "inbox"),
    ("GET", "/api/conversations/<user_id>", "conversation"),
    ("GET", "/api/requests", "requests"),
    ("GET", "/api/groups", "groups"),
    ("GET", "/api/notifications", "notifications"),
    ("GET", "/api/purchases", "purchases"),
    ("POST", "/api/messages/<user_id>", "send_message"),
    ("POST", "/api/replies", "reply"),
    ("POST", "/api/friend-requests/bulk", "bulk_requests"),
    ("POST", "/api/friend-requests/<user_id>", "friend_request"),
    ("POST", "/api/follow/<user_id>", "follow"),
    ("POST", "/api/invites", "create_invite"),
    ("POST", "/api/requests/<user_id>/accept", "accept"),
    ("POST", "/api/groups", "create_group"),
    ("POST", "/api/location", "check_in"),
    ("POST", "/api/settings", "change_setting"),
    ("POST", "/api/children/<child_id>/settings", "parent_setting"),
    ("POST", "/api/guardians/<parent_id>", "add_guardian"),
    ("POST", "/api/purchases", "purchase"),
    ("POST", "/api/test/clock", "set_clock"),
)


class Social:
    """The app's state and views. ``bugs``: the switched-on entries of :data:`BUGS`."""

    def __init__(self, bugs: frozenset[str] = frozenset(), guard: Guard | None = None) -> None:
        unknown = bugs - set(BUGS)
        if unknown:
            raise ValueError(f"unknown bugs {sorted(unknown)}")
        self.bugs = bugs
        self.guard = guard or Guard(load_policy())
        self.accounts: dict[str, Rec] = {}
        self.sessions: dict[str, str] = {}
        self.connections: set[frozenset[str]] = set()
        self.follows: set[tuple[str, str]] = set()
        self.requests: list[tuple[str, str]] = []
        self.messages: list[tuple[str, str, str]] = []
        self.groups: list[tuple[str, list[str]]] = []
        self.locations: dict[str, tuple[str, float, float]] = {}
        self.notifications: dict[str, list[str]] = {}
        self.bought: dict[str, list[str]] = {}
        self.clock: dt.datetime | None = None
        self.invites: dict[str, str] = {}  # code -> the account that shared it

    # -- helpers ---------------------------------------------------------------------

    def today(self) -> dt.date:
        return (self.clock or dt.datetime.now(dt.UTC)).date()

    def account(self, rec: Rec, *, jurisdiction: bool = True) -> Account:
        return Account(
            id=rec.id,
            band=_band(_age(rec.birth_date, self.today())),
            jurisdiction=rec.jurisdiction if jurisdiction else None,
            timezone=rec.timezone,
            settings=rec.settings,
            guardians=frozenset(rec.guardians),
        )

    def viewer_account(self, viewer: Rec | None) -> Account:
        return self.account(viewer) if viewer else Account(id="anonymous", band=AgeBand.ADULT)

    def relationship(self, a: Rec | None, b: Rec) -> Relationship:
        if a is None:
            return Relationship()
        connected = frozenset((a.id, b.id)) in self.connections
        if "follow_as_connection" in self.bugs:
            connected = connected or (a.id, b.id) in self.follows or (b.id, a.id) in self.follows
        return Relationship(
            connected=connected,
            follows=(a.id, b.id) in self.follows,
            mutual_connections=len(self.friends(a.id) & self.friends(b.id)),
        )

    def friends(self, ident: str) -> set[str]:
        return {k for pair in self.connections if ident in pair for k in pair if k != ident}

    def allowed(
        self, action: str, actor: Rec | None, target: Rec, *, confirmed: bool = True
    ) -> bool:
        return self.guard.check(
            action,
            self.viewer_account(actor),
            self.account(target),
            self.relationship(actor, target),
            confirmed=confirmed,
        ).allowed

    def minor(self, rec: Rec | None) -> bool:
        return rec is not None and self.account(rec).band is not AgeBand.ADULT

    def sees_location(self, viewer: Rec | None, rec: Rec) -> bool:
        if viewer is not None and viewer.id == rec.id:
            return True
        if "teen_viewers" in self.bugs and self.minor(viewer):
            return True
        return self.allowed("location.view", viewer, rec)

    def sees_connections(self, viewer: Rec | None, rec: Rec) -> bool:
        if viewer is not None and viewer.id == rec.id:
            return True
        fof = viewer is not None and self.friends(viewer.id) & self.friends(rec.id)
        if "fof_connections" in self.bugs and fof:
            return True
        return self.allowed("connections.view", viewer, rec)

    def listed(self, viewer: Rec | None, rec: Rec) -> bool:
        if viewer is not None and viewer.id == rec.id:
            return True
        if "connections_unlisted" in self.bugs:
            return True
        return self.allowed("connections.listed", viewer, rec)

    def brief(self, rec: Rec) -> dict[str, str]:
        return {"id": rec.id, "name": rec.name, "handle": rec.handle}

    def location_of(self, rec: Rec) -> dict[str, Any] | None:
        found = self.locations.get(rec.id)
        return None if found is None else {"place": found[0], "lat": found[1], "lng": found[2]}

    def notify(self, rec: Rec, text: str) -> None:
        now = self.clock or dt.datetime.now(dt.UTC)
        account = self.account(rec)
        if "quiet_hours_utc" in self.bugs:
            account = attrs.evolve(account, timezone="UTC")
        if self.guard.check("notify", target=account, at=now).allowed:
            self.notifications.setdefault(rec.id, []).append(text)

    def deliver(self, sender: Rec, to: Rec, text: str) -> None:
        self.messages.append((sender.id, to.id, text))
        self.notify(to, f"{sender.name}: {text}")

    def suggestible(self, viewer: Rec | None, rec: Rec) -> bool:
        if viewer is None or viewer.id == rec.id:
            return False
        if frozenset((viewer.id, rec.id)) in self.connections:
            return False
        if "fof_suggestions" in self.bugs and self.friends(viewer.id) & self.friends(rec.id):
            return True
        return self.allowed("friend.suggest", viewer, rec)

    # -- views -------------------------------------------------------------------------

    def signup(self, _: Rec | None, __: Mapping[str, str], body: Mapping[str, Any]) -> Reply:
        handle = _text(body, "handle", "username")
        name = _text(body, "name", "display_name")
        try:
            born = dt.date.fromisoformat(_text(body, "birth_date"))
        except ValueError:
            return Reply(400, {"error": "birth_date: expected YYYY-MM-DD"})
        if not handle or not name or handle in self.accounts:
            return Reply(400, {"error": "name and a new handle are needed"})
        jurisdiction = _text(body, "jurisdiction") or "GB"
        if "signup_jurisdiction" in self.bugs:
            jurisdiction = "GB"
        age = _age(born, self.today())
        minimum = self.guard.policy.jurisdiction_info(jurisdiction).minimum_account_age
        if minimum is not None and age < minimum and "ignore_min_age" not in self.bugs:
            return Reply(403, {"error": f"accounts start at {minimum} in {jurisdiction}"})
        rec = Rec(
            handle,
            name,
            handle,
            _text(body, "password"),
            born,
            jurisdiction,
            _text(body, "timezone") or "Europe/London",
        )
        if "signup_defaults" in self.bugs and 16 <= age < 18:
            rec.settings = {"location_sharing": "connections_precise"}
        self.accounts[handle] = rec
        return Reply(201, {"id": handle})

    def login(self, _: Rec | None, __: Mapping[str, str], body: Mapping[str, Any]) -> Reply:
        rec = self.accounts.get(_text(body, "handle", "username"))
        if rec is None or rec.password != _text(body, "password"):
            return Reply(401, {"error": "unknown handle or wrong password"})
        sid = secrets.token_urlsafe(16)
        self.sessions[sid] = rec.id
        return Reply(200, {"id": rec.id}, cookie=sid)

    def me(self, viewer: Rec | None, _: Mapping[str, str], __: Mapping[str, Any]) -> Reply:
        if viewer is None:
            return Reply(401, {"error": "sign in first"})
        settings = self.guard.settings_for(self.account(viewer)).formatted()
        return Reply(200, {**self.brief(viewer), "settings": settings})

    def profile_data(self, viewer: Rec | None, rec: Rec) -> dict[str, Any]:
        everything = viewer is None and "logged_out_full" in self.bugs
        out: dict[str, Any] = self.brief(rec)
        if (
            everything
            or (viewer is not None and viewer.id == rec.id)
            or self.allowed("profile.view", viewer, rec)
        ):
            out["bio"] = f"Hello from {rec.name}"
        location = self.location_of(rec)
        if location is not None:
            if everything or self.sees_location(viewer, rec):
                out["location"] = location
            if "extra_key_location" in self.bugs:
                out["last_seen_at"] = location["place"]
            if "renamed_key" in self.bugs:
                out["geo"] = {"lat": location["lat"], "lng": location["lng"]}
            if "nested_location" in self.bugs:
                out["stats"] = {"posts": 0, "checkin": {"where": location}}
            if "rounded_coords" in self.bugs:
                out["area"] = f"{location['lat']:.2f},{location['lng']:.2f}"
        if everything or self.sees_connections(viewer, rec):
            out["connections"] = [
                self.brief(self.accounts[i])
                for i in sorted(self.friends(rec.id))
                if everything or self.listed(viewer, self.accounts[i])
            ]
        return out

    def profile(self, viewer: Rec | None, params: Mapping[str, str], _: Mapping[str, Any]) -> Reply:
        rec = self.accounts.get(params["user_id"])
        if rec is None:
            return Reply(404, {"error": "no such account"})
        return Reply(200, self.profile_data(viewer, rec))

    def profile_page(
        self, viewer: Rec | None, params: Mapping[str, str], _: Mapping[str, Any]
    ) -> Reply:
        rec = self.accounts.get(params["user_id"])
        if rec is None:
            return Reply(404, "<h1>Not found</h1>", "text/html")
        data = self.profile_data(viewer, rec)
        e = html.escape
        parts = [f"<h1>{e(rec.name)}</h1><p>@{e(rec.handle)}</p>"]
        location = data.get("location")
        if "html_location" in self.bugs:
            location = self.location_of(rec)
        if location:
            parts.append(f"<p>At {e(location['place'])}</p>")
        stored = self.location_of(rec)
        if "url_encoded" in self.bugs and stored is not None:
            q = quote_plus(stored["place"])
            parts.append(f'<a href="https://maps.example/?q={q}">Directions</a>')
        if "connections" in data:
            items = "".join(f"<li>{e(c['name'])}</li>" for c in data["connections"])
            parts.append(f"<h2>Connections</h2><ul>{items}</ul>")
        return Reply(200, "<html><body>" + "".join(parts) + "</body></html>", "text/html")

    def card(self, viewer: Rec | None, params: Mapping[str, str], _: Mapping[str, Any]) -> Reply:
        rec = self.accounts.get(params["user_id"])
        if rec is None:
            return Reply(404, "not found", "text/plain")
        lines = ["BEGIN:VCARD", f"FN:{rec.name}", f"NICKNAME:{rec.handle}"]
        location = self.location_of(rec)
        if location and ("text_card" in self.bugs or self.sees_location(viewer, rec)):
            lines.append(f"GEO:{location['lat']};{location['lng']}")
            lines.append(f"ADR:{location['place']}")
        return Reply(200, "\n".join([*lines, "END:VCARD"]), "text/plain")

    def activity(
        self, viewer: Rec | None, params: Mapping[str, str], _: Mapping[str, Any]
    ) -> Reply:
        rec = self.accounts.get(params["user_id"])
        if rec is None:
            return Reply(404, {"error": "no such account"})
        events: list[dict[str, Any]] = []
        location = self.location_of(rec)
        if location and ("gzip_activity" in self.bugs or self.sees_location(viewer, rec)):
            events.append({"type": "check_in", **location})
        data = gzip.compress(json.dumps({"events": events}).encode())
        return Reply(200, data, "application/gzip")

    def _page(self, people: list[Rec], start: int) -> list[dict[str, str]]:
        return [self.brief(r) for r in people[start : start + PAGE]]

    def people(self) -> list[Rec]:
        return sorted(self.accounts.values(), key=lambda r: (r.name, r.id))

    def search(self, viewer: Rec | None, _: Mapping[str, str], body: Mapping[str, Any]) -> Reply:
        if viewer is None:
            return Reply(401, {"error": "sign in first"})
        page = int(body.get("page") or 1)
        q = str(body.get("q") or "").lower()
        matching = [r for r in self.people() if q in r.name.lower() and r.id != viewer.id]
        shown = [r for r in matching if self.suggestible(viewer, r)]
        pool = matching if page > 1 and "later_pages" in self.bugs else shown
        start = (page - 1) * PAGE
        more = start + PAGE < len(pool)
        return Reply(
            200,
            {
                "results": self._page(pool, start),
                "next": f"/api/search?page={page + 1}" if more else None,
            },
        )

    def suggestions(
        self, viewer: Rec | None, _: Mapping[str, str], body: Mapping[str, Any]
    ) -> Reply:
        if viewer is None:
            return Reply(401, {"error": "sign in first"})
        cursor = int(body.get("cursor") or 0)
        others = [r for r in self.people() if r.id != viewer.id]
        shown = [r for r in others if self.suggestible(viewer, r)]
        if cursor and "suggestions_page2" in self.bugs:
            shown = [r for r in others if frozenset((viewer.id, r.id)) not in self.connections]
        headers = {}
        if cursor + PAGE < len(shown):
            headers["Link"] = f'</api/suggestions?cursor={cursor + PAGE}>; rel="next"'
        return Reply(200, {"suggestions": self._page(shown, cursor)}, headers=headers)

    def _mine(self, viewer: Rec | None) -> Rec:
        if viewer is None:
            raise PermissionError
        return viewer

    def inbox(self, viewer: Rec | None, _: Mapping[str, str], __: Mapping[str, Any]) -> Reply:
        me = self._mine(viewer)
        got = [
            {"from": self.brief(self.accounts[f]), "text": t}
            for f, to, t in self.messages
            if to == me.id
        ]
        return Reply(200, {"messages": got})

    def conversation(
        self, viewer: Rec | None, params: Mapping[str, str], _: Mapping[str, Any]
    ) -> Reply:
        me = self._mine(viewer)
        other = params["user_id"]
        if "conversation_idor" in self.bugs:
            got = [(f, t) for f, to, t in self.messages if other in {f, to}]
        else:
            got = [(f, t) for f, to, t in self.messages if {f, to} == {me.id, other}]
        return Reply(200, {"messages": [{"from": f, "text": t} for f, t in got]})

    def requests_view(
        self, viewer: Rec | None, _: Mapping[str, str], __: Mapping[str, Any]
    ) -> Reply:
        me = self._mine(viewer)
        return Reply(
            200,
            {
                "requests": [self.brief(self.accounts[f]) for f, t in self.requests if t == me.id],
                "followers": [self.brief(self.accounts[f]) for f, t in self.follows if t == me.id],
            },
        )

    def groups_view(self, viewer: Rec | None, _: Mapping[str, str], __: Mapping[str, Any]) -> Reply:
        me = self._mine(viewer)
        mine = [{"name": n, "members": m} for n, m in self.groups if me.id in m]
        return Reply(200, {"groups": mine})

    def notifications_view(
        self, viewer: Rec | None, _: Mapping[str, str], __: Mapping[str, Any]
    ) -> Reply:
        me = self._mine(viewer)
        return Reply(200, {"notifications": self.notifications.get(me.id, [])})

    def purchases_view(
        self, viewer: Rec | None, _: Mapping[str, str], __: Mapping[str, Any]
    ) -> Reply:
        me = self._mine(viewer)
        return Reply(200, {"purchases": self.bought.get(me.id, [])})

    def _target(self, ident: str) -> Rec:
        rec = self.accounts.get(ident)
        if rec is None:
            raise LookupError(ident)
        return rec

    def send_message(
        self, viewer: Rec | None, params: Mapping[str, str], body: Mapping[str, Any]
    ) -> Reply:
        me, to = self._mine(viewer), self._target(params["user_id"])
        text = _text(body, "text")
        if not text:
            return Reply(400, {"error": "text is required"})
        teens = "teen_dm" in self.bugs and self.minor(me) and self.minor(to)
        sender = self.account(me)
        if "declared_age" in self.bugs and str(body.get("age", "")).isdigit():
            sender = attrs.evolve(sender, band=_band(int(body["age"])))
        decision = self.guard.check("dm.send", sender, self.account(to), self.relationship(me, to))
        if not teens and not decision.allowed:
            return Reply(403, {"error": "not allowed"})
        if "body_target" in self.bugs and _text(body, "to") in self.accounts:
            to = self.accounts[_text(body, "to")]
        self.deliver(me, to, text)
        return Reply(201, {"sent": True})

    def reply(self, viewer: Rec | None, _: Mapping[str, str], body: Mapping[str, Any]) -> Reply:
        me, to = self._mine(viewer), self._target(_text(body, "to"))
        text = _text(body, "text")
        if not text:
            return Reply(400, {"error": "text is required"})
        if "reply_unchecked" not in self.bugs and not self.allowed("dm.send", me, to):
            return Reply(403, {"error": "not allowed"})
        self.deliver(me, to, text)
        return Reply(201, {"sent": True})

    def _request(self, me: Rec, to: Rec, body: Mapping[str, Any], *, check: bool = True) -> bool:
        confirmed = body.get("confirmed") in {True, "1", "true"}
        invited = self.invites.get(str(body.get("invite", ""))) == to.id
        relationship = attrs.evolve(self.relationship(me, to), invited=invited)
        allowed = self.guard.check(
            "friend.request", self.account(me), self.account(to), relationship, confirmed=confirmed
        ).allowed
        if check and not allowed:
            return False
        if (me.id, to.id) not in self.requests:
            self.requests.append((me.id, to.id))
        return True

    def friend_request(
        self, viewer: Rec | None, params: Mapping[str, str], body: Mapping[str, Any]
    ) -> Reply:
        me, to = self._mine(viewer), self._target(params["user_id"])
        ok = self._request(me, to, body)
        return Reply(201 if ok else 403, {"requested": ok})

    def bulk_requests(
        self, viewer: Rec | None, _: Mapping[str, str], body: Mapping[str, Any]
    ) -> Reply:
        me = self._mine(viewer)
        done = [
            i
            for i in _ids(body, "user_ids")
            if i in self.accounts
            and self._request(me, self.accounts[i], body, check="bulk_unchecked" not in self.bugs)
        ]
        return Reply(200, {"requested": done})

    def follow(
        self, viewer: Rec | None, params: Mapping[str, str], body: Mapping[str, Any]
    ) -> Reply:
        me, to = self._mine(viewer), self._target(params["user_id"])
        confirmed = body.get("confirmed") in {True, "1", "true"}
        if not self.allowed("follow", me, to, confirmed=confirmed):
            return Reply(403, {"error": "not allowed"})
        self.follows.add((me.id, to.id))
        return Reply(201, {"following": to.id})

    def create_invite(
        self, viewer: Rec | None, _: Mapping[str, str], __: Mapping[str, Any]
    ) -> Reply:
        me = self._mine(viewer)
        code = secrets.token_urlsafe(8)
        self.invites[code] = me.id
        return Reply(201, {"invite": code})

    def accept(self, viewer: Rec | None, params: Mapping[str, str], _: Mapping[str, Any]) -> Reply:
        me = self._mine(viewer)
        other = params["user_id"]
        if (other, me.id) not in self.requests:
            return Reply(404, {"error": "no such request"})
        self.requests.remove((other, me.id))
        self.connections.add(frozenset((other, me.id)))
        return Reply(200, {"connected": other})

    def create_group(
        self, viewer: Rec | None, _: Mapping[str, str], body: Mapping[str, Any]
    ) -> Reply:
        me = self._mine(viewer)
        members = [self.accounts[i] for i in _ids(body, "members") if i in self.accounts]
        name = _text(body, "name") or "group"
        if "group_unchecked" not in self.bugs:
            decision = self.guard.check_group(
                "group.form",
                self.account(me),
                [self.account(m) for m in members],
                lambda a, b: self.relationship(self.accounts[a.id], self.accounts[b.id]),
            )
            if not decision.allowed:
                return Reply(403, {"error": "not allowed"})
        self.groups.append((name, [me.id, *(m.id for m in members)]))
        return Reply(201, {"group": name})

    def check_in(self, viewer: Rec | None, _: Mapping[str, str], body: Mapping[str, Any]) -> Reply:
        me = self._mine(viewer)
        place = _text(body, "place")
        try:
            lat, lng = float(body.get("lat", 0)), float(body.get("lng", 0))
        except (TypeError, ValueError):
            return Reply(400, {"error": "lat and lng are numbers"})
        if not place:
            return Reply(400, {"error": "place is required"})
        self.locations[me.id] = (place, lat, lng)
        return Reply(200, {"place": place})

    def _change(self, account: Account, body: Mapping[str, Any], **how: Any) -> Reply:
        name, value = _text(body, "setting"), body.get("value")
        try:
            change = self.guard.change_setting(account, name, value, **how)
        except ValueError as e:
            return Reply(400, {"error": str(e)})
        if not change.applied:
            return Reply(403, {"error": change.reason})
        self.accounts[account.id].settings = dict(change.account.settings)
        return Reply(200, {"setting": name, "value": change.settings.formatted()[name]})

    def change_setting(
        self, viewer: Rec | None, _: Mapping[str, str], body: Mapping[str, Any]
    ) -> Reply:
        me = self._mine(viewer)
        account = self.account(me)
        confirmed = body.get("confirmed") in {True, "1", "true"}
        if "child_parent_setting" in self.bugs and me.guardians:
            guardian = min(me.guardians)
            return self._change(account, body, by="parent", guardian=guardian, confirmed=True)
        return self._change(account, body, confirmed=confirmed)

    def parent_setting(
        self, viewer: Rec | None, params: Mapping[str, str], body: Mapping[str, Any]
    ) -> Reply:
        me, child = self._mine(viewer), self._target(params["child_id"])
        trusted = "parent_route_unchecked" in self.bugs and child.guardians
        if me.id not in child.guardians and not trusted:
            return Reply(403, {"error": "not your child"})
        guardian = me.id if me.id in child.guardians else min(child.guardians)
        return self._change(
            self.account(child), body, by="parent", guardian=guardian, lock=False, confirmed=True
        )

    def add_guardian(
        self, viewer: Rec | None, params: Mapping[str, str], _: Mapping[str, Any]
    ) -> Reply:
        me, parent = self._mine(viewer), self._target(params["parent_id"])
        if not self.minor(me) or self.minor(parent):
            return Reply(403, {"error": "a child links an adult"})
        me.guardians.add(parent.id)
        return Reply(201, {"guardian": parent.id})

    def purchase(self, viewer: Rec | None, _: Mapping[str, str], body: Mapping[str, Any]) -> Reply:
        me = self._mine(viewer)
        account = self.account(me, jurisdiction="purchase_no_jurisdiction" not in self.bugs)
        if "declared_age_purchase" in self.bugs and str(body.get("age", "")).isdigit():
            account = attrs.evolve(account, band=_band(int(body["age"])))
        if not self.guard.check("purchase", account).allowed:
            return Reply(403, {"error": "purchases are off for this account"})
        self.bought.setdefault(me.id, []).append(_text(body, "item") or "coins")
        return Reply(201, {"bought": True})

    def set_clock(self, _: Rec | None, __: Mapping[str, str], body: Mapping[str, Any]) -> Reply:
        self.clock = dt.datetime.fromisoformat(_text(body, "now"))
        return Reply(200, {"now": self.clock.isoformat()})

    # -- dispatch ----------------------------------------------------------------------

    def dispatch(
        self,
        name: str,
        sid: str | None,
        params: Mapping[str, str],
        body: Mapping[str, Any],
    ) -> Reply:
        viewer = self.accounts.get(self.sessions.get(sid or "", ""))
        view = getattr(self, _VIEWS.get(name, name))
        try:
            reply: Reply = view(viewer, params, body)
        except PermissionError:
            return Reply(401, {"error": "sign in first"})
        except LookupError as e:
            return Reply(404, {"error": f"no such account {e}"})
        return reply


_VIEWS: Final = {
    "requests": "requests_view",
    "groups": "groups_view",
    "notifications": "notifications_view",
    "purchases": "purchases_view",
}
