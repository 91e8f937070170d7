"""The observation suite: find what an app leaks about children by watching it.

It does not ask the app what it shows. Through a small :class:`ObserveAdapter` (how
to sign up and sign in, optionally how to connect two accounts, link a parent and set
the app's clock) it

1. creates child accounts of every band in every chosen jurisdiction through the app's
   own sign-up, with unique *canary* values: display name and handle, birth date and
   email address, a location with coordinates and a place name, membership of a
   connection list, a message's text;
   filler accounts are made first so that children sort onto later pages;
2. discovers every route from the framework (Flask's URL map, Django's resolver,
   Starlette/FastAPI routes), fills path parameters from the test accounts and reads
   every readable route as every kind of viewer (logged out, adult stranger, teen
   strangers 13-15 and 16-17, friend of a friend, connected adult, parent, another
   child, the child itself), with ``GET`` and ``HEAD``, following pagination (``Link``
   headers, ``next`` fields, ``page``, ``offset`` and ``cursor`` parameters), and
   routes that take no account also as a search for each child;
3. searches each raw response and its headers, decompressed and in every escaped
   form, for the canaries
   the active policy (through :class:`~childsafe.Guard`, per jurisdiction) says that
   viewer must not see;
4. probes every state-changing route with each write action it could perform (a DM, a
   request, an invite, a group, a settings change, a purchase), with bodies that name
   the child where the path names someone else, and judges the outcome by the app's
   state read back through the app: did the message or the request arrive, did the
   setting change;
5. checks the defaults an account reads back with after sign-up, the minimum account
   age, purchases and quiet hours per jurisdiction.

Every finding names the route, the viewer, the child, the canary kind and the rule,
with a ``curl`` line to reproduce it; routes it could not probe are listed, never
passed silently. Reports: :meth:`ObservationReport.table`, :meth:`~ObservationReport.junit_xml`,
:meth:`~ObservationReport.to_json`.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import random
import re
import shlex
import string
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
import httpx

from childsafe._bands import AgeBand
from childsafe._decision import Decision
from childsafe._engine import Guard
from childsafe._model import Account, Relationship
from childsafe._policy import Policy, load_policy
from childsafe._settings import SETTINGS
from childsafe.testing._accounts import BAND_AGES
from childsafe.testing._leaks import Canary, body_text, forms_of
from childsafe.web.strict import RouteInfo

__all__ = [
    "VIEWER_ROLES",
    "Finding",
    "Member",
    "ObservationReport",
    "ObservationSuite",
    "ObserveAdapter",
    "Persona",
    "SyncASGITransport",
    "Unprobed",
    "discover_routes",
    "observe",
]

VIEWER_ROLES: Final = (
    "logged_out",
    "adult_stranger",
    "teen_13_15",
    "teen_16_17",
    "friend_of_friend",
    "connected_adult",
    "parent",
    "other_child",
    "self",
)
"""The kinds of viewer every readable route is read as."""

_TIMEZONES: Final = {
    "GB": "Europe/London",
    "US": "America/New_York",
    "US-NY": "America/New_York",
    "US-CA": "America/Los_Angeles",
    "US-TX": "America/Chicago",
    "US-FL": "America/New_York",
    "US-UT": "America/Denver",
    "AU": "Australia/Sydney",
    "BR": "America/Sao_Paulo",
    "IN": "Asia/Kolkata",
    "CN": "Asia/Shanghai",
}


def _timezone(jurisdiction: str) -> str:
    if jurisdiction in _TIMEZONES:
        return _TIMEZONES[jurisdiction]
    return "Europe/Berlin" if len(jurisdiction) == 2 else "UTC"


def _birth_date(age: int, today: dt.date, n: int = 0) -> dt.date:
    """A birth date making someone ``age`` on ``today``, their birthday between 30 and
    349 days away: the ``n``-th persona's, so that no two of the first 320 share one
    (a birth date shown is a canary)."""
    upcoming = today + dt.timedelta(days=30 + (n * 11) % 320)
    try:
        return upcoming.replace(year=upcoming.year - age - 1)
    except ValueError:  # 29 February
        return (upcoming - dt.timedelta(days=1)).replace(year=upcoming.year - age - 1)


@attrs.frozen
class Persona:
    """Someone the suite signs up: ``role`` (a :data:`VIEWER_ROLES` entry, ``child``
    or ``filler``), age and home, and the canary values the app is given at sign-up.

    ``code`` is unique to the persona and part of its ``name`` and ``handle``, so a
    page naming them is found in any encoding. ``password`` and ``email`` are there
    for apps that ask for them.
    """

    key: str
    role: str
    age: int
    jurisdiction: str
    timezone: str
    code: str
    name: str
    handle: str
    birth_date: dt.date

    @property
    def band(self) -> AgeBand:
        if self.age >= 18:
            return AgeBand.ADULT
        if self.age >= 16:
            return AgeBand.AGE_16_17
        return AgeBand.AGE_13_15 if self.age >= 13 else AgeBand.UNDER_13

    @property
    def password(self) -> str:
        return f"pw-{self.code}-Secret1!"

    @property
    def email(self) -> str:
        return f"{self.handle}@example.test"

    def form(self) -> dict[str, str]:
        """The usual sign-up fields, for adapters that post them as they are."""
        return {
            "name": self.name,
            "display_name": self.name,
            "handle": self.handle,
            "username": self.handle,
            "email": self.email,
            "password": self.password,
            "birth_date": self.birth_date.isoformat(),
            "jurisdiction": self.jurisdiction,
            "timezone": self.timezone,
        }


@attrs.frozen
class Member:
    """A persona once the app made its account: ``id`` is the app's account id."""

    persona: Persona
    id: str

    @property
    def role(self) -> str:
        return self.persona.role


class ObserveAdapter:
    """How the suite reaches your app. Implement :meth:`sign_up` and :meth:`sign_in`;
    the rest is optional.

    ``app`` is the WSGI/ASGI application the suite discovers routes from (Flask,
    Django's handler, Starlette or FastAPI), ``base_url`` where requests go and
    ``transport`` how (``None``: over the network, to ``base_url``). ``extra_routes``
    adds routes by hand (``"GET /feed"``); ``excluded`` maps a route key
    (``"GET /login"``) to why the suite must not read or probe it (listed in the
    report).

    .. versionadded:: 0.2.0
    """

    app: object = None
    base_url: str = "http://testserver"
    transport: httpx.BaseTransport | None = None
    extra_routes: Sequence[str] = ()
    excluded: Mapping[str, str] = {}

    def client(self) -> httpx.Client:
        """A new signed-out client for the app (cookies kept, redirects not followed)."""
        return httpx.Client(transport=self.transport, base_url=self.base_url, timeout=10.0)

    def sign_up(self, persona: Persona) -> str | None:
        """Create ``persona``'s account through the app's sign-up and return its id,
        or ``None`` when the app refused it."""
        raise NotImplementedError

    def sign_in(self, member: Member) -> httpx.Client:
        """A client signed in as ``member``."""
        raise NotImplementedError

    def connect(self, a: Member, b: Member) -> None:
        """Make ``a`` and ``b`` connections (friends), as the app's users would."""
        raise NotImplementedError

    def link_parent(self, parent: Member, child: Member) -> None:
        """Link ``parent`` as ``child``'s parent or guardian."""
        raise NotImplementedError

    def set_clock(self, when: dt.datetime) -> None:
        """Set the app's clock to ``when`` (aware), for quiet hours."""
        raise NotImplementedError


class SyncASGITransport(httpx.BaseTransport):
    """A synchronous httpx transport into an ASGI app (Starlette, FastAPI), on an event
    loop of its own: what :class:`ObserveAdapter` needs to drive an ASGI app in process
    with an ordinary ``httpx.Client``."""

    def __init__(self, app: Any) -> None:  # noqa: ANN401 - any ASGI callable
        import asyncio  # noqa: PLC0415 - only for ASGI apps

        self._inner = httpx.ASGITransport(app=app)
        self._loop = asyncio.new_event_loop()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` to the app and return its whole response."""
        copy = httpx.Request(
            request.method, request.url, headers=request.headers, content=request.read()
        )

        async def send() -> httpx.Response:
            response = await self._inner.handle_async_request(copy)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return self._loop.run_until_complete(send())

    def close(self) -> None:
        """Nothing: the transport is shared by every client an adapter makes, so closing
        one of them leaves it open: :meth:`shutdown` ends it."""

    def shutdown(self) -> None:
        """Close the transport's event loop, when no client uses it any more."""
        if not self._loop.is_closed():
            self._loop.close()


def _offers(adapter: ObserveAdapter, name: str) -> bool:
    return getattr(type(adapter), name) is not getattr(ObserveAdapter, name)


# -- routes ------------------------------------------------------------------------

_PARAM: Final = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>|\{([^{}:]+)(?::[^{}]*)?\}")
_ACCOUNT_PARAM: Final = re.compile(
    r"user|account|member|friend|child|parent|guardian|profile|handle|username|person|target|recipient|^id$"
)
_GENERIC_PARAM: Final = re.compile(r"^(id|pk|uid|uuid|slug|key|ident|identifier)$")
_ACCOUNT_SEGMENT: Final = re.compile(
    r"user|account|member|friend|child|kid|parent|guardian|profile|people|person|player"
    r"|student|^u$"
)
"""A generic parameter (``pk``, ``slug``) names an account after one of these path
segments: ``/users/<int:pk>``, ``/profiles/<slug>``, ``/u/<id>``."""
_INT_PARAM: Final = re.compile(r"<int:[^<>]+>|\{[^{}:]+:int\}")
"""A path parameter typed as an integer (Flask/Django ``<int:pk>``, Starlette
``{pk:int}``)."""
_ACTING: Final = re.compile(
    r"(follow|poke|wave|nudge|befriend|add-?friend|friend-?request|connect|invite|tag"
    r"|mention|message|dm|like|subscribe)$"
)
"""The last fixed segment of a ``GET`` path that acts rather than shows."""
_ID_NAME: Final = re.compile(r"(^|_)(id|pk)$|[a-z]Id$")
"""A parameter named as an object's id: ``message_id``, ``pk``, ``postId``."""
_GUESSED_IDS: Final = 12
"""How many sequential ids a numbered route is read with (1 to this)."""
_AUTH: Final = re.compile(
    r"log-?in|log-?out|sign-?in|sign-?out|sign-?up|register|session|password|token|jwks"
    r"|(^|/)age(/|$)|static|well-known"
)
_KINDS: Final = (
    ("clock", re.compile(r"clock|time-?travel")),
    ("settings", re.compile(r"setting|preference|privacy")),
    ("purchase", re.compile(r"purchase|buy|checkout|shop|coin|order|payment")),
    ("location", re.compile(r"location|check-?_?in")),
    ("notifications", re.compile(r"notif")),
)
_ACTION_WORDS: Final = (
    ("follow", "follow"),
    ("group", "group.invite"),
    ("invite", "group.invite"),
    ("comment", "comment"),
    ("tag", "tag"),
    ("mention", "tag"),
    ("friend", "friend.request"),
    ("request", "friend.request"),
    ("connect", "friend.request"),
)
_CONTACT_ACTIONS: Final = frozenset(
    {"dm.send", "friend.request", "follow", "group.invite", "comment", "tag"}
)


@attrs.frozen
class _Route:
    method: str
    path: str
    actions: tuple[str, ...]
    wildcard: bool = False  # the framework did not say which methods it answers

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def params(self) -> list[str]:
        return [a or b for a, b in _PARAM.findall(self.path)]

    @property
    def fills_accounts(self) -> bool:
        """Whether every path parameter names an account: by its name (``user_id``),
        or a generic name (``pk``, ``slug``) after an account segment (``/users/``)."""
        segments = self.path.lower().strip("/").split("/")
        for n, segment in enumerate(segments):
            names = [a or b for a, b in _PARAM.findall(segment)]
            if not names:
                continue
            before = segments[n - 1] if n and not _PARAM.search(segments[n - 1]) else ""
            for name in names:
                if _ACCOUNT_PARAM.search(name):
                    continue
                if not (_GENERIC_PARAM.match(name) and _ACCOUNT_SEGMENT.search(before)):
                    return False
        return True

    @property
    def acts(self) -> bool:
        """Whether a ``GET`` route's path ends in an action (``/users/<id>/follow``,
        ``/poke/<id>``): a link that acts, probed as a write too."""
        static = [p for p in self.path.lower().strip("/").split("/") if not _PARAM.search(p)]
        return self.method == "GET" and bool(static) and bool(_ACTING.match(static[-1]))

    @property
    def numbered(self) -> bool:
        """Whether the path's one parameter is an object's number, not an account:
        typed as an integer (``<int:message_id>``, ``{id:int}``) or named as an id
        (``<message_id>``, ``{pk}``)."""
        if len(self.params) != 1 or self.fills_accounts:
            return False
        return bool(_INT_PARAM.search(self.path) or _ID_NAME.search(self.params[0].lower()))

    @property
    def kind(self) -> str:
        low = self.path.lower()
        if _AUTH.search(low):
            return "auth"
        for kind, pattern in _KINDS:
            if pattern.search(low):
                return kind
        return "contact"

    @property
    def action(self) -> str:
        for declared in self.actions:
            name = declared.split(" ", 1)[0]
            if name in _CONTACT_ACTIONS:
                return name
        low = re.sub(_PARAM, "", self.path.lower())
        for word, action in _ACTION_WORDS:
            if word in low:
                return action
        return "dm.send"

    def fill(self, value: str) -> str:
        return _PARAM.sub(lambda _: value, self.path)


def discover_routes(app: object) -> list[RouteInfo]:
    """The routes of ``app`` from its framework's inventory: a Flask app, Django's
    handler (the settings' ``ROOT_URLCONF``) or a Starlette/FastAPI app."""
    try:
        import flask  # noqa: PLC0415 - optional framework

        if isinstance(app, flask.Flask):
            from childsafe.contrib.flask import routes as flask_routes  # noqa: PLC0415

            return flask_routes(app)
    except ImportError:  # pragma: no cover - flask is a test dependency
        pass
    try:
        from starlette.applications import Starlette  # noqa: PLC0415 - optional framework

        if isinstance(app, Starlette):
            from childsafe.contrib.starlette import routes as starlette_routes  # noqa: PLC0415

            return starlette_routes(app)
    except ImportError:  # pragma: no cover - starlette is a test dependency
        pass
    if type(app).__module__.startswith("django."):
        from childsafe.contrib.django.inventory import routes as django_routes  # noqa: PLC0415

        return django_routes()
    raise TypeError(
        f"cannot discover the routes of {type(app).__name__}: give a Flask, Django or "
        "Starlette/FastAPI app, or list the routes in ObserveAdapter.extra_routes"
    )


def _routes(adapter: ObserveAdapter) -> list[_Route]:
    infos = discover_routes(adapter.app) if adapter.app is not None else []
    out: dict[str, _Route] = {}
    for info in infos:
        methods = {m.upper() for m in info.methods}
        wildcard = "*" in methods
        if wildcard:
            methods = {"GET", "POST"}
        for method in sorted(methods - {"HEAD", "OPTIONS", "WEBSOCKET"}):
            route = _Route(method, _normal_path(info.path), info.actions, wildcard)
            out.setdefault(route.key, route)
    for line in adapter.extra_routes:
        method, _, path = line.strip().partition(" ")
        route = _Route(method.upper(), path.strip(), ())
        out.setdefault(route.key, route)
    return list(out.values())


def _normal_path(path: str) -> str:
    path = path.replace("^", "").replace("$", "")
    return path if path.startswith("/") else "/" + path


# -- findings and the report ---------------------------------------------------------


@attrs.frozen
class Finding:
    """One thing the app did that the policy forbids."""

    check: str  # "read", "contact", "settings", "signup_defaults", ...
    route: str
    viewer: str  # the viewer's (or actor's) role
    child: str  # the persona key of the child exposed
    kind: str  # the canary kind or what happened
    rule: str
    evidence: str
    reproduce: str

    def as_dict(self) -> dict[str, str]:
        return attrs.asdict(self)


@attrs.frozen
class Unprobed:
    """A route or check the suite could not probe, and why."""

    what: str
    why: str


@attrs.frozen
class ObservationReport:
    """What a run found. ``passed``: no finding."""

    policy: str
    findings: tuple[Finding, ...]
    unprobed: tuple[Unprobed, ...]
    stats: Mapping[str, int]

    @property
    def passed(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        s = self.stats
        return (
            f"childsafe observation (policy {self.policy}): {len(self.findings)} findings; "
            f"{s.get('routes', 0)} routes, {s.get('requests', 0)} requests, "
            f"{s.get('reads', 0)} reads, {s.get('probes', 0)} write probes, "
            f"{len(self.unprobed)} not probed"
        )

    def table(self) -> str:
        """The findings and what was not probed as fixed-width tables."""
        rows = [("check", "route", "viewer", "child", "kind", "rule")]
        rows += [(f.check, f.route, f.viewer, f.child, f.kind, f.rule) for f in self.findings]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
        lines = [self.summary()]
        if self.findings:
            lines += [
                "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1]
                for r in rows
            ]
            lines += ["", "To reproduce:"]
            lines += [f"  {f.route} as {f.viewer}: {f.reproduce}" for f in self.findings]
        if self.unprobed:
            lines += ["", "Not probed:"]
            lines += [f"  {u.what}: {u.why}" for u in self.unprobed]
        return "\n".join(line.rstrip() for line in lines)

    def __str__(self) -> str:
        return self.table()

    def to_json(self) -> str:
        """The report as JSON (``policy``, ``passed``, ``findings``, ``unprobed``,
        ``stats``)."""
        return json.dumps(
            {
                "policy": self.policy,
                "passed": self.passed,
                "findings": [f.as_dict() for f in self.findings],
                "unprobed": [attrs.asdict(u) for u in self.unprobed],
                "stats": dict(self.stats),
            },
            indent=2,
            sort_keys=True,
        )

    def junit_xml(self, name: str = "childsafe.observation") -> str:
        """The report as JUnit XML: one failing test case per finding, one skipped case
        per thing not probed, one passing case when nothing was found."""
        cases = []
        for f in self.findings:
            title = f"{f.check} {f.route} as {f.viewer}: {f.kind} of {f.child}"
            text = f"{f.rule}\nevidence: {f.evidence}\nreproduce: {f.reproduce}"
            cases.append(
                f"<testcase classname={quoteattr(name)} name={quoteattr(title)}>"
                f"<failure message={quoteattr(f.rule)}>{xml_escape(text)}</failure></testcase>"
            )
        for u in self.unprobed:
            cases.append(  # noqa: PERF401 - one case each, in order
                f"<testcase classname={quoteattr(name)} name={quoteattr('not probed: ' + u.what)}>"
                f"<skipped message={quoteattr(u.why)}/></testcase>"
            )
        if not self.findings:
            cases.append(
                f"<testcase classname={quoteattr(name)} name={quoteattr(self.summary())}/>"
            )
        skipped = len(self.unprobed)
        return (
            '<?xml version="1.0" encoding="utf-8"?>\n'
            f'<testsuite name={quoteattr(name)} tests="{len(cases)}" '
            f'failures="{len(self.findings)}" skipped="{skipped}">'
            + "".join(cases)
            + "</testsuite>\n"
        )

    def assert_passed(self) -> None:
        """Raise ``AssertionError`` with the table when anything was found."""
        __tracebackhide__ = True
        if self.findings:
            raise AssertionError(f"{len(self.findings)} findings:\n{self.table()}")


# -- the run -------------------------------------------------------------------------


@attrs.frozen
class _Read:
    url: str
    status: int
    content: bytes
    headers: str = ""  # every response header but Set-Cookie, one "name: value" a line
    method: str = "GET"
    body: object = None  # what a POST search sent
    searched: str | None = None  # the code of the child this page searched for

    def text(self) -> str:
        """The body, decompressed, and the headers: where a page can show a canary."""
        return body_text(self.content) + "\n" + self.headers


def _headers_of(response: httpx.Response) -> str:
    return "\n".join(
        f"{k}: {v}" for k, v in response.headers.multi_items() if k.lower() != "set-cookie"
    )


def _rule(decision: Decision) -> str:
    where = f"{decision.setting}={decision.value}" if decision.setting else decision.reason.value
    labels = [c.label for c in decision.citations[:2]]
    return f"{decision.action} denied: {where}" + (f" ({'; '.join(labels)})" if labels else "")


def _accepted_encodings() -> str:
    """``gzip, deflate``, and ``br`` when httpx can decode it (brotli installed)."""
    try:
        import brotli  # type: ignore[import-not-found, unused-ignore]  # noqa: F401, PLC0415
    except ImportError:
        return "gzip, deflate"
    return "gzip, deflate, br"  # pragma: no cover - brotli is not a dependency


_ENCODINGS: Final = _accepted_encodings()
_LIST_KEYS: Final = ("next", "next_url", "nextPage", "next_page", "next_link")
_CURSOR_KEYS: Final = ("next_cursor", "cursor", "nextCursor")
_TOKEN_KEYS: Final = ("nextPageToken", "next_page_token", "nextToken", "next_token")
"""A page token (Google's ``nextPageToken``, AWS's ``NextToken``), sent back as each of
:data:`_TOKEN_PARAMS` at once: apps read one and ignore the others."""
_TOKEN_PARAMS: Final = ("pageToken", "page_token", "token", "next_token", "cursor")
_OFFSET_KEYS: Final = ("offset", "start", "skip")
_MORE_KEYS: Final = ("has_more", "hasMore", "more")
_HTML_NEXT: Final = re.compile(
    r"<a\b[^>]*\brel=[\"']?next[\"']?[^>]*\bhref=[\"']([^\"']+)[\"']"
    r"|<a\b[^>]*\bhref=[\"']([^\"']+)[\"'][^>]*\brel=[\"']?next",
    re.IGNORECASE,
)


class ObservationSuite:
    """One observation of an app under ``policy`` (default: the built-in one), with
    child accounts of ``bands`` in each of ``jurisdictions`` (the first is home for
    the viewers).

    ``fillers`` accounts are signed up before the children so that lists put children
    on later pages; ``max_pages`` and ``max_items`` bound how far pagination is
    followed per route. ``seed`` makes the canary codes reproducible.

    .. versionadded:: 0.2.0
    """

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        jurisdictions: Sequence[str] = ("GB",),
        bands: Iterable[AgeBand | str] = ("under_13", "13_15", "16_17"),
        fillers: int = 8,
        max_pages: int = 25,
        max_items: int = 1000,
        seed: int | None = None,
        today: dt.date | None = None,
    ) -> None:
        if not jurisdictions:
            raise ValueError("ObservationSuite needs at least one jurisdiction")
        self.policy = policy if policy is not None else load_policy()
        self.guard = Guard(self.policy)
        self.jurisdictions = tuple(jurisdictions)
        self.bands = tuple(AgeBand(b) for b in bands)
        self.fillers = fillers
        self.max_pages = max_pages
        self.max_items = max_items
        self.today = today or dt.datetime.now(dt.UTC).date()
        self._random = random.Random(seed)  # noqa: S311 - canary codes, not secrets
        self._used: set[str] = set()
        self._personas = 0

    # -- personas ----------------------------------------------------------------

    def code(self) -> str:
        """A fresh canary code, unique in this suite."""
        while True:
            code = "q" + "".join(
                self._random.choice(string.ascii_lowercase + string.digits) for _ in range(7)
            )
            if code not in self._used:
                self._used.add(code)
                return code

    def persona(self, key: str, role: str, age: int, jurisdiction: str) -> Persona:
        """A new persona with fresh canary values."""
        code = self.code()
        first = "Aaron" if role == "filler" else "Zoë"
        self._personas += 1
        return Persona(
            key=key,
            role=role,
            age=age,
            jurisdiction=jurisdiction,
            timezone=_timezone(jurisdiction),
            code=code,
            name=f"{first} {code.upper()} O'Hara",
            handle=f"{code}_x",
            birth_date=_birth_date(age, self.today, self._personas),
        )

    def run(self, adapter: ObserveAdapter) -> ObservationReport:
        """Observe the app behind ``adapter``; never raises for a leaking app. An
        adapter that is not an :class:`ObserveAdapter`, or does not implement
        :meth:`~ObserveAdapter.sign_up` and :meth:`~ObserveAdapter.sign_in`, raises
        ``TypeError`` naming what is missing, before any request."""
        given: object = adapter
        if not isinstance(given, ObserveAdapter):
            msg = f"run() needs an ObserveAdapter subclass, got {type(given).__name__}"
            raise TypeError(msg)
        missing = [name for name in ("sign_up", "sign_in") if not _offers(adapter, name)]
        if missing:
            msg = (
                f"{type(adapter).__name__} must implement {' and '.join(missing)}: the suite "
                "signs its accounts up and in through the app (see ObserveAdapter)"
            )
            raise TypeError(msg)
        return _Run(self, adapter).go()


class _Run:
    def __init__(self, suite: ObservationSuite, adapter: ObserveAdapter) -> None:
        self.s = suite
        self.a = adapter
        self.guard = suite.guard
        self.findings: dict[tuple[str, ...], Finding] = {}
        self.unprobed: list[Unprobed] = []
        self.stats: dict[str, int] = {"requests": 0, "reads": 0, "probes": 0}
        self.members: dict[str, Member] = {}
        self.clients: dict[str, httpx.Client] = {}
        self.connected: set[frozenset[str]] = set()
        self.guardians: dict[str, set[str]] = {}
        self.canaries: dict[str, list[Canary]] = {}  # by persona key
        self.views: dict[str, str] = {}  # a member's own pages, decoded, by key
        self.effects: set[str] = set()  # route keys a probe changed state through
        self.home = suite.jurisdictions[0]
        self.reads: list[_Route] = []
        self.message_route: _Route | None = None
        self.settings_route: str | None = None
        self._echoes: dict[tuple[int, str, str, str], int] = {}

    # -- plumbing --------------------------------------------------------------------

    def note(self, what: str, why: str) -> None:
        if all(u.what != what for u in self.unprobed):
            self.unprobed.append(Unprobed(what, why))

    def find(self, f: Finding) -> None:
        self.findings.setdefault((f.check, f.route, f.viewer, f.child, f.kind), f)

    def client_for(self, key: str | None) -> httpx.Client:
        name = key or "logged_out"
        if name not in self.clients:
            self.clients[name] = (
                self.a.client() if key is None else self.a.sign_in(self.members[key])
            )
        return self.clients[name]

    def account(self, key: str) -> Account:
        m = self.members[key]
        p = m.persona
        return Account(
            id=m.id,
            band=p.band,
            jurisdiction=p.jurisdiction,
            timezone=p.timezone,
            guardians=frozenset(self.members[g].id for g in self.guardians.get(key, ())),
        )

    def viewer_account(self, key: str | None) -> Account:
        if key is None:  # a logged-out visitor is at most a stranger
            return Account(id="childsafe-logged-out", band=AgeBand.ADULT, jurisdiction=self.home)
        return self.account(key)

    def relationship(self, a: str | None, b: str) -> Relationship:
        if a is None:
            return Relationship()
        mine = {k for pair in self.connected if a in pair for k in pair if k != a}
        theirs = {k for pair in self.connected if b in pair for k in pair if k != b}
        return Relationship(
            connected=frozenset((a, b)) in self.connected,
            mutual_connections=len(mine & theirs),
        )

    def check(self, action: str, actor: str | None, target: str) -> Decision:
        return self.guard.check(
            action,
            self.viewer_account(actor),
            self.account(target),
            self.relationship(actor, target),
            confirmed=True,
        )

    def curl(self, client: httpx.Client, method: str, url: str, body: object = None) -> str:
        full = urljoin(str(client.base_url), url)
        parts = ["curl", "-s", "-X", method, full]
        cookies = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        if cookies:
            parts += ["-H", f"Cookie: {cookies}"]
        if body is not None:
            parts += ["-H", "Content-Type: application/json", "--data", json.dumps(body)]
        return " ".join(shlex.quote(p) for p in parts)

    def request(
        self,
        client: httpx.Client,
        method: str,
        url: str,
        **kwargs: Any,  # noqa: ANN401 - httpx's request options
    ) -> httpx.Response | None:
        self.stats["requests"] += 1
        headers = dict(kwargs.pop("headers", None) or {})
        token = client.cookies.get("csrftoken")
        if token and method != "GET":
            headers["X-CSRFToken"] = token
            headers.setdefault("Referer", str(client.base_url))
        try:
            return client.request(method, url, headers=headers, **kwargs)
        except Exception as e:  # noqa: BLE001 - an app that raises in process, a dead server
            self.stats["errors"] = self.stats.get("errors", 0) + 1
            self.note(f"{method} {url}", f"the request failed: {type(e).__name__}: {e}")
            return None

    def read_all(self, client: httpx.Client, url: str, limit: int | None = None) -> list[_Read]:
        """``url`` and the pages after it (at most ``limit`` pages, default the suite's
        ``max_pages``): by ``Link: rel=next``, a ``next`` field or cursor, an HTML
        ``rel=next`` link, or, for a JSON list with none of those, ``?page=2, 3, ...``
        while each page brings new data."""
        out: list[_Read] = []
        seen: set[str] = set()
        items = 0
        next_url: str | None = url
        guessing = False
        previous: object = None
        pages = limit or self.s.max_pages
        while next_url is not None and next_url not in seen and len(out) < pages:
            seen.add(next_url)
            response = self.request(
                client, "GET", next_url, headers={"Accept-Encoding": _ENCODINGS}
            )
            if response is None:
                break
            self.stats["reads"] += 1
            out.append(
                _Read(next_url, response.status_code, response.content, _headers_of(response))
            )
            if response.status_code != 200:
                break
            found, count, data = _next_page(response, next_url)
            items += count
            if items >= self.s.max_items or (guessing and (not count or data == previous)):
                break
            if found is None and data is not None and count and "page=" not in next_url:
                guessing = True  # a JSON list with no link: try ?page=2, 3, ...
            if found is None and guessing:
                number = int(dict(parse_qsl(urlsplit(next_url).query)).get("page", "1"))
                found = _with_query(next_url, page=str(number + 1))
            previous = data
            next_url = urljoin(next_url, found) if found else None
        return out

    # -- setting up -----------------------------------------------------------------

    def sign_up(self, persona: Persona) -> Member | None:
        try:
            ident = self.a.sign_up(persona)
        except Exception as e:  # noqa: BLE001 - reported, never a crash
            self.note(f"sign-up of {persona.key}", f"the adapter raised {type(e).__name__}: {e}")
            return None
        if ident is None:
            return None
        member = Member(persona, str(ident))
        self.members[persona.key] = member
        code = persona.code
        needles = (code, persona.handle) + ((member.id,) if _distinctive(member.id) else ())
        self.canaries[persona.key] = [
            Canary("name", persona.key, needles),
            Canary("birth date", persona.key, _date_forms(persona.birth_date, persona.timezone)),
            Canary("contact", persona.key, _email_forms(persona.email)),
        ]
        return member

    def setup(self) -> list[str]:
        s = self.s
        for i in range(s.fillers):
            self.sign_up(s.persona(f"filler{i}", "filler", 30 + i % 20, self.home))
        viewers = [
            ("adult_stranger", 34),
            ("teen_13_15", 14),
            ("teen_16_17", 16),
            ("friend_of_friend", 40),
            ("connected_adult", 38),
            ("parent", 42),
            ("other_child", 14),
        ]
        for role, age in viewers:
            if self.sign_up(s.persona(role, role, age, self.home)) is None:
                self.note(f"viewer {role}", "its sign-up was refused")
        children: list[str] = []
        for jurisdiction in s.jurisdictions:
            info = self.s.policy.jurisdiction_info(jurisdiction)
            for band in s.bands:
                child_age = BAND_AGES[band]
                if child_age is None or (
                    jurisdiction != self.home and not self.differs(band, jurisdiction)
                ):
                    continue
                if info.minimum_account_age is not None and child_age < info.minimum_account_age:
                    continue
                key = f"child-{band.value}-{jurisdiction}"
                if self.sign_up(s.persona(key, "child", child_age, jurisdiction)) is None:
                    self.find(
                        Finding(
                            "signup",
                            "sign-up",
                            "self",
                            key,
                            "account",
                            "the app refused "
                            f"a {child_age}-year-old in {jurisdiction}; the policy allows it",
                            "sign_up returned None",
                            "",
                        )
                    )
                else:
                    children.append(key)
        self.relate(children)
        return children

    def differs(self, band: AgeBand, jurisdiction: str) -> bool:
        """Whether a child of ``band`` has other rules in ``jurisdiction`` than at home:
        only then is a child of it there worth the requests."""
        policy = self.s.policy
        return policy.rules_for(jurisdiction)[band] != policy.rules_for(self.home)[band]

    def relate(self, children: list[str]) -> None:
        pairs = [("friend_of_friend", "connected_adult")]
        pairs += [(c, "connected_adult") for c in children] + [(c, "parent") for c in children]
        have = [(a, b) for a, b in pairs if a in self.members and b in self.members]
        if not _offers(self.a, "connect"):
            self.note(
                "connected viewers",
                "the adapter has no connect(): the connected "
                "adult, friend of a friend and parent are strangers to the children",
            )
        else:
            for a, b in have:
                try:
                    self.a.connect(self.members[a], self.members[b])
                    self.connected.add(frozenset((a, b)))
                except Exception as e:  # noqa: BLE001
                    self.note(f"connect {a} and {b}", f"{type(e).__name__}: {e}")
        if "parent" in self.members and _offers(self.a, "link_parent"):
            for c in children:
                try:
                    self.a.link_parent(self.members["parent"], self.members[c])
                    self.guardians.setdefault(c, set()).add("parent")
                except Exception as e:  # noqa: BLE001
                    self.note(f"link parent of {c}", f"{type(e).__name__}: {e}")
        elif "parent" in self.members:
            self.note("parent viewer", "the adapter has no link_parent(): the parent is not linked")

    # -- own pages ------------------------------------------------------------------

    def own_pages(self, key: str, reads: Sequence[_Route], *, addressed: bool = True) -> str:
        """What ``key`` sees of itself: every readable route that takes no account or
        takes its own, decoded in every form, joined."""
        client = self.client_for(key)
        texts = []
        for route in reads:
            if route.params and not (addressed and route.fills_accounts):
                continue
            url = route.fill(self.members[key].id) if route.params else route.path
            texts += [
                "\n".join(forms_of(page.text()))
                for page in self.read_all(client, url, limit=3)
                if page.status == 200
            ]
        return "\n".join(texts)

    # -- planting --------------------------------------------------------------------

    def plant(self, children: list[str], writes: list[_Route], reads: list[_Route]) -> None:
        locations = [r for r in writes if r.kind == "location"]
        for n, key in enumerate(children):
            p = self.members[key].persona
            place_code = self.s.code()
            place = f"Quay {place_code.upper()} St Ann's & Co"
            lat, lon = round(40.0 + 0.37 * n + 0.012345, 6), round(-70.0 - 0.41 * n - 0.054321, 6)
            canary = Canary("location", key, (place_code,), (lat, lon))
            planted = False
            for route in locations:
                body = {
                    "place": place,
                    "place_name": place,
                    "location": place,
                    "name": place,
                    "lat": lat,
                    "latitude": lat,
                    "lng": lon,
                    "lon": lon,
                    "longitude": lon,
                }
                url = route.fill(self.members[key].id)
                if self.send(self.client_for(key), route.method, url, body) is None:
                    continue
                own = self.own_pages(key, reads)
                if canary.find([own]) is not None:
                    planted = True
                    break
            if planted:
                self.canaries[key].append(canary)
            else:
                self.note(
                    f"location of {p.key}",
                    "no location route kept the place "
                    f"({', '.join(r.key for r in locations) or 'none found'})",
                )
            friend = "connected_adult"
            if friend in self.members and frozenset((key, friend)) in self.connected:
                self.canaries[key].append(
                    Canary("connection", key, self.canaries[friend][0].needles[:2])
                )
                self.plant_message(key, friend, writes, reads)

    def plant_message(self, key: str, to: str, writes: list[_Route], reads: list[_Route]) -> None:
        code = self.s.code()
        text = f"Meet at {code.upper()} <b>&amp; \u2713"
        for route in writes:
            if route.kind != "contact" or route.action != "dm.send":
                continue
            url = route.fill(self.members[to].id) if route.params else route.path
            body = _contact_body(text, self.members[to].id)
            if self.send(self.client_for(key), route.method, url, body) is None:
                continue
            if code in self.own_pages(to, reads):
                self.canaries[key].append(Canary("message", key, (code,)))
                self.message_route = route
                self.effects.add(route.key)
                return
        self.note(f"message of {key}", "no write route delivered its message to a connection")

    def send(
        self, client: httpx.Client, method: str, url: str, body: dict[str, Any]
    ) -> httpx.Response | None:
        """``body`` as JSON, and as a form when the JSON is refused as malformed; for a
        ``GET`` that acts, as its query."""
        self.stats["probes"] += 1
        if method == "GET":
            query = {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in body.items()}
            query = {k: ("1" if v is True else str(v)) for k, v in query.items()}
            return self.request(client, method, url, params=query)
        response = self.request(client, method, url, json=body)
        if response is not None and response.status_code in {400, 415, 422}:
            form = {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in body.items()}
            form = {k: ("1" if v is True else v) for k, v in form.items()}
            response = self.request(client, method, url, data=form)
        return response

    # -- reading ----------------------------------------------------------------------

    def read_routes(self, children: list[str], reads: list[_Route]) -> None:
        viewers: list[str | None] = [None]
        viewers += [r for r in VIEWER_ROLES if r in self.members]
        targets = [*children, "connected_adult"] if "connected_adult" in self.members else children
        for route in reads:
            if route.params and not route.fills_accounts:
                self.note(
                    route.key,
                    f"path parameters {route.params} are not accounts the "
                    "suite made: it cannot fill them",
                )
                continue
            addressed = targets if route.params else [None]
            for target in addressed:
                url = route.fill(self.members[target].id) if target else route.path
                who: list[str | None] = list(viewers)
                who += children if target is None else ([target] if target in children else [])
                for viewer in who:
                    client = self.client_for(viewer)
                    pages = self.read_all(client, url)
                    if viewer in _HEAD_VIEWERS:  # an app may answer HEAD with other headers
                        head = self.request(client, "HEAD", url)
                        if head is not None:
                            pages.append(_Read(url, head.status_code, b"", _headers_of(head)))
                        pages += self.read_as_json(client, url, pages)
                    strange = viewer not in _CONNECTED_VIEWERS
                    answered = pages and pages[0].status in _SEARCHABLE
                    if target is None and strange and answered:
                        for child in children:  # a search: each child asked for
                            persona = self.members[child].persona
                            query = _with_query(url, **self.search_query(child))
                            pages += [
                                attrs.evolve(page, searched=persona.code)
                                for page in self.read_all(client, query, limit=2)
                            ]
                    for page in pages:  # a redirect shows its Location, an error page
                        self.judge_read(route, viewer, target, page, client, children)

    def search_query(self, child: str) -> dict[str, str]:
        """What a search for ``child`` asks: its code and handle (:func:`_search_query`)
        and, once its location is planted, a point a few hundred metres from it under
        the usual names (a "people nearby" route that answers nothing without one; not
        the child's own coordinates, which a page echoing its query would show)."""
        query = _search_query(self.members[child].persona)
        for canary in self.canaries.get(child, ()):
            if canary.coordinates is not None:
                lat, lon = (f"{c + _NEARBY:.6f}" for c in canary.coordinates)
                query |= dict.fromkeys(_LAT_KEYS, lat) | dict.fromkeys(_LON_KEYS, lon)
        return query

    def read_as_json(self, client: httpx.Client, url: str, pages: list[_Read]) -> list[_Read]:
        """``url`` again asking for JSON, when it answered something else: an app may
        render a page from a filtered view and JSON from the whole record (Rails'
        ``respond_to``, a ``to_json`` of the model)."""
        first = pages[0] if pages else None
        if first is None or first.status != 200 or "application/json" in first.headers.lower():
            return []
        response = self.request(
            client,
            "GET",
            url,
            headers={"Accept": "application/json", "Accept-Encoding": _ENCODINGS},
        )
        if response is None:
            return []
        self.stats["reads"] += 1
        return [_Read(url, response.status_code, response.content, _headers_of(response))]

    def read_by_number(self, children: list[str], reads: list[_Route]) -> None:
        """Routes whose one path parameter is an object's number (``<int:message_id>``,
        ``{post_id:int}``), read with the numbers 1 to :data:`_GUESSED_IDS` by the
        strangers and the logged-out visitor: sequential ids are guessed, and a message,
        check-in or post of a child read this way is a leak like any other."""
        viewers = [v for v in _HEAD_VIEWERS if v is None or v in self.members]
        for route in reads:
            if not route.numbered:
                continue
            for number in range(1, _GUESSED_IDS + 1):
                url = route.fill(str(number))
                for viewer in viewers:
                    client = self.client_for(viewer)
                    for page in self.read_all(client, url, limit=1):
                        self.judge_read(route, viewer, None, page, client, children)

    def read_searches(self, children: list[str], writes: list[_Route]) -> None:
        """``POST`` routes named as searches (``/search``, ``/lookup``, ``/find``),
        asked for each child by every viewer not connected to the children, their
        answers judged as pages about nobody."""
        searches = [
            r
            for r in writes
            if r.method == "POST" and not r.params and _SEARCH_PATH.search(r.path.lower())
        ]
        viewers: list[str | None] = [None]
        viewers += [r for r in VIEWER_ROLES if r in self.members and r not in _CONNECTED_VIEWERS]
        viewers += children
        for route in searches:
            for viewer in viewers:
                client = self.client_for(viewer)
                for child in children:
                    persona = self.members[child].persona
                    body = self.search_query(child)
                    response = self.send(client, "POST", route.path, body)
                    if response is None or not 200 <= response.status_code < 300:
                        continue
                    page = _Read(
                        route.path,
                        response.status_code,
                        response.content,
                        _headers_of(response),
                        "POST",
                        body,
                        persona.code,
                    )
                    self.judge_read(route, viewer, None, page, client, children)

    def judge_read(
        self,
        route: _Route,
        viewer: str | None,
        target: str | None,
        page: _Read,
        client: httpx.Client,
        children: list[str],
    ) -> None:
        forms = forms_of(page.text())
        # A child reading another child's canary is "another child", named.
        role = "logged_out" if viewer is None else viewer
        if viewer in children:
            role = f"other_child ({viewer})"
        if viewer is not None and _shared_cacheable(page.headers, client):
            self.judge_cached(route, role, target, page, client, children, forms)
        for child in children:
            if child == viewer:
                continue
            for canary in self.canaries.get(child, ()):
                shown = canary.find(forms)
                if shown is not None and page.searched is not None and canary.kind == "name":
                    shown = self.beyond_echo(canary, page, client, forms)
                if shown is None:
                    continue
                verdict = self.read_decision(canary.kind, viewer, child, target)
                if verdict is None or verdict[0]:
                    continue
                self.find(
                    Finding(
                        "read",
                        route.key,
                        role,
                        child,
                        canary.kind,
                        verdict[1],
                        f"{page.url} shows {shown!r}",
                        self.curl(client, page.method, page.url, page.body),
                    )
                )
        if viewer in children and target is None:  # strangers suggested to the child
            for key, member in self.members.items():
                if member.role in {"child", "connected_adult", "parent"} or key == viewer:
                    continue
                if Canary("name", key, (member.persona.code,)).find(forms) is None:
                    continue
                decision = self.check("friend.suggest", viewer, key)
                if not decision.allowed and not self.relationship(viewer, key).connected:
                    self.find(
                        Finding(
                            "read",
                            route.key,
                            "self",
                            viewer,
                            f"stranger {member.role} shown",
                            _rule(decision),
                            f"{page.url} shows {member.persona.code!r}",
                            self.curl(client, page.method, page.url, page.body),
                        )
                    )

    def beyond_echo(
        self, canary: Canary, page: _Read, client: httpx.Client, forms: Sequence[str]
    ) -> str | None:
        """What of a child's name a search page shows beyond the query it echoes: a
        needle the query did not carry, or the searched code more often than the same
        search for a code nobody has brings back (a page saying "results for ...", or
        linking to its next page with the query in it, echoes the code it was asked)."""
        code = page.searched or ""
        if canary.owner != self._searched_owner(code):
            return canary.find(forms)
        unsent = tuple(n for n in canary.needles if code not in n.lower())
        shown = Canary(canary.kind, canary.owner, unsent).find(forms) if unsent else None
        if shown is not None:
            return shown
        count = max((form.count(code) for form in forms), default=0)
        if count > self.echo_count(page, client):
            return code
        return None

    def _searched_owner(self, code: str) -> str | None:
        return next((k for k, m in self.members.items() if m.persona.code == code), None)

    def echo_count(self, page: _Read, client: httpx.Client) -> int:
        """How often the search of ``page``, asked for a code nobody has, shows that
        code: what the page echoes of its query (asked once per page and client)."""
        key = (id(client), page.method, page.url, json.dumps(page.body, sort_keys=True))
        if key in self._echoes:
            return self._echoes[key]
        code = page.searched or ""
        blank = self.s.code()
        url = page.url.replace(code, blank)
        if page.method == "POST":
            body = json.loads(json.dumps(page.body).replace(code, blank))
            response = self.send(client, "POST", url, body)
        else:
            response = self.request(client, "GET", url, headers={"Accept-Encoding": _ENCODINGS})
        count = 0
        if response is not None:
            text = body_text(response.content) + "\n" + _headers_of(response)
            count = max((form.count(blank) for form in forms_of(text)), default=0)
        self._echoes[key] = count
        return count

    def judge_cached(
        self,
        route: _Route,
        role: str,
        target: str | None,
        page: _Read,
        client: httpx.Client,
        children: list[str],
        forms: Sequence[str],
    ) -> None:
        """A page a shared cache may keep and serve to anyone (``Cache-Control:
        public``, ``s-maxage``, or a ``max-age`` without ``private``, and no ``Vary`` on
        the cookie or credentials), judged as the logged-out visitor a CDN serves it to:
        what it shows of any child, the viewer's own page too."""
        for child in children:
            for canary in self.canaries.get(child, ()):
                shown = canary.find(forms)
                if shown is None:
                    continue
                verdict = self.read_decision(canary.kind, None, child, target)
                if verdict is None or verdict[0]:
                    continue
                self.find(
                    Finding(
                        "read",
                        route.key,
                        f"logged_out (shared cache of {role}'s page)",
                        child,
                        canary.kind,
                        verdict[1],
                        f"{page.url} shows {shown!r} with a shared-cacheable response "
                        "(Cache-Control, no Vary: Cookie)",
                        self.curl(client, page.method, page.url, page.body),
                    )
                )

    def read_decision(
        self, kind: str, viewer: str | None, child: str, target: str | None
    ) -> tuple[bool, str] | None:
        """Whether ``viewer`` may see ``child``'s canary of ``kind`` on a page about
        ``target``, and the rule (``None``: not judged there)."""
        if kind == "name":
            if target == child:
                return None  # the child's own page names it: its contents are judged
            if viewer is not None and self.relationship(viewer, child).connected:
                return None
            suggest = self.check("friend.suggest", viewer, child)
            if suggest.allowed or target is None:
                return suggest.allowed, _rule(suggest)
            listed = self.check("connections.listed", viewer, child)
            return listed.allowed, _rule(listed)
        if kind == "location":
            decision = self.check("location.view", viewer, child)
            return decision.allowed, _rule(decision)
        if kind == "birth date":  # a profile detail: for those who may see the profile
            decision = self.check("profile.view", viewer, child)
            return decision.allowed, _rule(decision)
        if kind == "contact":  # an address to write to: for those who may message
            decision = self.check("dm.send", viewer, child)
            return decision.allowed, _rule(decision)
        if kind == "connection":
            if target != child or viewer == "connected_adult":
                return None
            decision = self.check("connections.view", viewer, child)
            return decision.allowed, _rule(decision)
        # A direct message: for its sender and recipient only (a linked parent's
        # oversight of messages is the platform's choice, not judged).
        if viewer == "connected_adult" or (
            viewer is not None and viewer in self.guardians.get(child, set())
        ):
            return None
        return False, "a direct message is shown only to its sender and recipient"

    # -- writes ----------------------------------------------------------------------

    def probe_contacts(
        self, children: list[str], writes: list[_Route], reads: list[_Route]
    ) -> None:
        contact = [r for r in writes if r.kind == "contact"]
        strangers = [
            r
            for r in (
                "adult_stranger",
                "teen_13_15",
                "teen_16_17",
                "friend_of_friend",
                "other_child",
            )
            if r in self.members
        ]
        decoy = "filler0" if "filler0" in self.members else None
        pairs: list[tuple[str, str]] = [
            (a, c)
            for c in children
            for a in strangers
            if self.members[c].persona.jurisdiction == self.home or a == "adult_stranger"
        ]
        back = [(c, "adult_stranger") for c in children if "adult_stranger" in self.members]
        for actor, target in pairs:
            self.probe_pair(actor, target, contact, reads, decoy)
        for actor, target in back:
            self.probe_pair(actor, target, contact, reads, decoy)
        # Again, now that the children's own requests and follows went out: an app that
        # takes a one-way follow for a connection lets the stranger in now.
        dms = [r for r in contact if r.action == "dm.send"]
        for actor, target in pairs:
            if actor == "adult_stranger":
                self.probe_pair(actor, target, dms, reads, decoy, second=True)
        for route in contact:
            if route.key not in self.effects:
                self.note(
                    route.key,
                    "no probe changed anything a reader could see through it "
                    "(no message, request or invite arrived), so it was not judged",
                )

    def probe_pair(
        self,
        actor: str,
        target: str,
        routes: list[_Route],
        reads: list[_Route],
        decoy: str | None,
        *,
        second: bool = False,
    ) -> None:
        client = self.client_for(actor)
        tid = self.members[target].id
        planned: list[tuple[_Route, str, bool]] = []
        for route in routes:
            if route.params and not route.fills_accounts:
                self.note(route.key, f"path parameters {route.params} are not accounts")
                continue
            paths = [route.fill(tid)] if route.params else [route.path]
            if route.params and decoy is not None:
                paths.append(route.fill(self.members[decoy].id))
            planned += [(route, url, url != paths[0]) for url in paths]
        if target not in self.views:
            self.views[target] = self.own_pages(target, reads, addressed=False)
        # What the policy allows goes first, then what it refuses, each batch judged by
        # one read of the target's own pages: a message by its own token, a request or
        # follow by the actor newly appearing there.
        allowed = [p for p in planned if self.check(p[0].action, actor, target).allowed]
        refused = [p for p in planned if p not in allowed]
        for batch in (allowed, refused):
            if batch:
                self.probe_batch(actor, target, client, batch, reads, second=second)

    def probe_batch(
        self,
        actor: str,
        target: str,
        client: httpx.Client,
        batch: list[tuple[_Route, str, bool]],
        reads: list[_Route],
        *,
        second: bool,
    ) -> None:
        tid = self.members[target].id
        before = self.views[target]
        sent: list[tuple[_Route, str, dict[str, Any], str, httpx.Response, bool]] = []
        for route, url, decoyed in batch:
            code = self.s.code()
            body = _contact_body(f"hello {code.upper()} \u2713", tid)
            response = self.send(client, route.method, url, body)
            if response is not None:
                sent.append((route, url, body, code, response, decoyed))
        after = self.views[target] = self.own_pages(target, reads, addressed=False)
        actor_code = self.members[actor].persona.code
        arrived = [item for item in sent if item[3] in after]
        for route, url, body, _, response, decoyed in arrived:
            self.effects.add(route.key)
            self.judge_contact(actor, target, client, route, url, body, response,
                               "message arrived", decoyed=decoyed, second=second)  # fmt: skip
        if arrived or after.count(actor_code) <= before.count(actor_code):
            return
        # The actor newly shows on the target's pages but no message arrived: a
        # request, follow or invite was stored, by a request the app accepted.
        accepted = [item for item in sent if item[4].status_code < 400] or sent
        refused = any(not self.check(item[0].action, actor, target).allowed for item in accepted)
        if len(accepted) > 1 and refused:  # a finding: name its route, if it can be told
            accepted = self.isolate(actor, target, client, accepted, reads) or accepted
        route, url, body, _, response, decoyed = accepted[0]
        for item in accepted:
            self.effects.add(item[0].key)
        what = "request stored"
        if len(accepted) > 1:
            what += " by one of " + ", ".join(sorted({item[0].key for item in accepted}))
        self.judge_contact(actor, target, client, route, url, body, response, what,
                           decoyed=decoyed, second=second)  # fmt: skip

    def isolate(
        self,
        actor: str,
        target: str,
        client: httpx.Client,
        accepted: list[tuple[_Route, str, dict[str, Any], str, httpx.Response, bool]],
        reads: list[_Route],
    ) -> list[tuple[_Route, str, dict[str, Any], str, httpx.Response, bool]]:
        """Which of several accepted requests made the actor newly show on the
        target's pages: each sent again alone, the pages read after it (only an effect
        that adds up, such as a poke or a notification, shows again; a stored follow
        does not, and then the batch is named)."""
        tid = self.members[target].id
        actor_code = self.members[actor].persona.code
        found = []
        for route, url, _, _, _, decoyed in accepted:
            before = self.views[target]
            code = self.s.code()
            body = _contact_body(f"hello {code.upper()} \u2713", tid)
            response = self.send(client, route.method, url, body)
            after = self.views[target] = self.own_pages(target, reads, addressed=False)
            if response is not None and after.count(actor_code) > before.count(actor_code):
                found.append((route, url, body, code, response, decoyed))
        return found

    def judge_contact(
        self,
        actor: str,
        target: str,
        client: httpx.Client,
        route: _Route,
        url: str,
        body: dict[str, Any],
        response: httpx.Response,
        what: str,
        *,
        decoyed: bool,
        second: bool,
    ) -> None:
        decision = self.check(route.action, actor, target)
        if decision.allowed:
            return
        if decoyed:
            what += " (the body named the child, the path someone else)"
        if second:
            what += " (after the child's own follow or request)"
        child = target if self.members[target].role == "child" else actor
        self.find(
            Finding(
                "contact",
                route.key,
                self.members[actor].role,
                child,
                what,
                _rule(decision),
                f"HTTP {response.status_code}; {what}",
                self.curl(client, route.method, url, body),
            )
        )

    def probe_settings(
        self, children: list[str], writes: list[_Route], reads: list[_Route]
    ) -> None:
        routes = [r for r in writes if r.kind == "settings"]
        if not routes:
            self.note("settings changes", "no settings route found")
            return
        for key in children:
            current = self.settings_of(key, reads)
            if current is None:
                self.note(
                    f"settings of {key}",
                    "no route reads its settings back (a JSON object naming the settings)",
                )
                return
            account = self.account(key)
            client = self.client_for(key)
            for name, setting in SETTINGS.items():
                if name not in current:
                    continue
                value = setting.least_protective
                if self.guard.change_setting(account, name, value, confirmed=True).applied:
                    continue
                shown = setting.format(value)
                if current[name] == shown:
                    continue
                for route in routes:
                    url = route.fill(self.members[key].id) if route.params else route.path
                    body = {
                        "setting": name,
                        "value": shown,
                        name: shown,
                        "confirmed": True,
                        "lock": "0",
                        **_DECLARED_AGE,
                    }
                    if self.send(client, route.method, url, body) is None:
                        continue
                    after = self.settings_of(key, reads)
                    if after is not None and after.get(name) == shown:
                        self.find(
                            Finding(
                                "settings",
                                route.key,
                                "self",
                                key,
                                f"{name} -> {shown}",
                                self.rule_for(account, name),
                                f"{name} read back {shown!r}",
                                self.curl(client, route.method, url, body),
                            )
                        )
                        break

    def probe_stranger_settings(
        self, children: list[str], writes: list[_Route], reads: list[_Route]
    ) -> None:
        """Every settings route asked by the adult stranger to change each child's
        settings (the path and the body naming the child), with a change the child
        itself could make: only the account holder (or its parent) changes them, and a
        route that checks who is signed in but not whose settings they are lets anyone
        do it."""
        routes = [r for r in writes if r.kind == "settings"]
        actor = "adult_stranger"
        if not routes or actor not in self.members:
            return
        client = self.client_for(actor)
        # A correct route applies the change to the stranger's own account: put it back
        # afterwards, or the stranger's tighter settings would hide what the contact
        # probes look for (a child's message to it, an app believing a declared age).
        own = self.settings_of(actor, reads)
        try:
            self._stranger_changes(children, routes, reads, actor, client)
        finally:
            if own is not None:
                self.restore_settings(actor, own, routes, reads)

    def restore_settings(
        self, key: str, before: Mapping[str, str], routes: list[_Route], reads: list[_Route]
    ) -> None:
        """Set back, through the app's own settings routes, what ``key``'s settings read
        before a probe (as ``key`` itself, naming no other account)."""
        client = self.client_for(key)
        for _ in range(len(before)):
            now = self.settings_of(key, reads)
            changed = [] if now is None else [n for n, v in before.items() if now.get(n, v) != v]
            if not changed:
                return
            name = changed[0]
            body = {"setting": name, "value": before[name], name: before[name], "confirmed": True}
            for route in routes:
                url = route.fill(self.members[key].id) if route.params else route.path
                if self.send(client, route.method, url, body) is None:
                    continue
                if (self.settings_of(key, reads) or {}).get(name) == before[name]:
                    break
            else:
                self.note(f"settings of {key}", f"could not set {name} back to {before[name]}")
                return

    def _stranger_changes(
        self,
        children: list[str],
        routes: list[_Route],
        reads: list[_Route],
        actor: str,
        client: httpx.Client,
    ) -> None:
        for key in children:
            current = self.settings_of(key, reads)
            if current is None:
                return
            change = self.own_change(key, current)
            if change is None:
                continue
            name, shown = change
            tid = self.members[key].id
            for route in routes:
                if route.params and not route.fills_accounts:
                    continue
                url = route.fill(tid) if route.params else route.path
                body = {
                    "setting": name,
                    "value": shown,
                    name: shown,
                    "confirmed": True,
                    **dict.fromkeys(_TARGET_KEYS, tid),
                }
                if self.send(client, route.method, url, body) is None:
                    continue
                after = self.settings_of(key, reads)
                if after is not None and after.get(name) == shown:
                    self.find(
                        Finding(
                            "settings",
                            route.key,
                            actor,
                            key,
                            f"{name} -> {shown} (by a stranger)",
                            "only the account holder or its parent changes its settings",
                            f"{name} read back {shown!r} after the stranger's request",
                            self.curl(client, route.method, url, body),
                        )
                    )
                    return

    def own_change(self, key: str, current: Mapping[str, str]) -> tuple[str, str] | None:
        """A setting of ``key`` and another value for it that the child could choose
        itself (the policy applies it), as it reads: what a stranger is tried with."""
        account = self.account(key)
        for name, setting in SETTINGS.items():
            values = getattr(setting.domain, "values", None)
            if name not in current or not isinstance(values, tuple):
                continue
            for value in values:
                shown = setting.format(value)
                if shown == current[name]:
                    continue
                if self.guard.change_setting(account, name, value, confirmed=True).applied:
                    return name, shown
        return None

    def rule_for(self, account: Account, name: str) -> str:
        rule = self.guard.rules_for(account)[name]
        return (
            f"{name}: floor {SETTINGS[name].format(rule.floor)}, changeable by "
            f"{rule.changeable_by.value} ({account.band.value}, {account.jurisdiction})"
        )

    def settings_of(self, key: str, reads: list[_Route]) -> dict[str, str] | None:
        client = self.client_for(key)
        known = [r for r in reads if r.path == self.settings_route]
        for route in known + [r for r in reads if r not in known]:
            if route.params:
                continue
            response = self.request(client, "GET", route.path)
            if response is None or response.status_code != 200:
                continue
            try:
                data = json.loads(body_text(response.content))
            except ValueError:
                continue
            found = _settings_in(data)
            if found is not None:
                self.settings_route = route.path
                return found
        return None

    def check_defaults(self, children: list[str], reads: list[_Route]) -> None:
        for key in children:
            shown = self.settings_of(key, reads)
            if shown is None:
                self.note(f"sign-up defaults of {key}", "no route reads its settings back")
                continue
            account = self.account(key)
            expected = self.guard.settings_for(account)
            for name, text in shown.items():
                setting = SETTINGS[name]
                try:
                    value = setting.parse(text)
                except Exception:  # noqa: BLE001, S112 - an unreadable value is not compared
                    continue
                want = getattr(expected, name)
                if not setting.le(value, want):
                    self.find(
                        Finding(
                            "signup_defaults",
                            "sign-up",
                            "self",
                            key,
                            name,
                            f"default {setting.format(want)} for {account.band.value} in "
                            f"{account.jurisdiction}",
                            f"read back {text!r}",
                            "",
                        )
                    )

    def probe_purchases(
        self, children: list[str], writes: list[_Route], reads: list[_Route]
    ) -> None:
        routes = [r for r in writes if r.kind == "purchase"]
        if not routes:
            self.note("purchases", "no purchase route found")
            return
        for key in children:
            client = self.client_for(key)
            decision = self.guard.check("purchase", self.account(key))
            for route in routes:
                code = self.s.code()
                body = {
                    "item": code,
                    "sku": code,
                    "product": code,
                    "name": code,
                    "quantity": 1,
                    "confirmed": True,
                    **_DECLARED_AGE,
                }
                url = route.fill(self.members[key].id) if route.params else route.path
                response = self.send(client, route.method, url, body)
                if response is None:
                    continue
                if code in self.own_pages(key, reads):
                    self.effects.add(route.key)
                    if not decision.allowed:
                        self.find(
                            Finding(
                                "purchase",
                                route.key,
                                "self",
                                key,
                                "purchase made",
                                _rule(decision),
                                f"HTTP {response.status_code}",
                                self.curl(client, route.method, url, body),
                            )
                        )

    def probe_quiet_hours(self, children: list[str], reads: list[_Route]) -> None:
        feeds = [r for r in reads if r.kind == "notifications" and not r.params]
        sender = "connected_adult"
        route = self.message_route
        if not feeds:
            self.note("quiet hours", "no notifications route found")
            return
        if not _offers(self.a, "set_clock"):
            self.note("quiet hours", "the adapter cannot set the app's clock (set_clock)")
            return
        if route is None or sender not in self.members:
            self.note("quiet hours", "no message route to trigger a notification")
            return
        day = dt.datetime.combine(self.s.today, dt.time(), tzinfo=dt.UTC)
        moments = [day + dt.timedelta(hours=h, minutes=30) for h in range(24)]
        targets = [c for c in children if frozenset((c, sender)) in self.connected]

        def decide(at: dt.datetime) -> dict[str, bool]:
            return {
                c: self.guard.check("notify", target=self.account(c), at=at).allowed
                for c in targets
            }

        # For each child, a moment in its quiet hours when another child's are not (an
        # app that ignores the account's own time zone notifies one of them).
        chosen: list[dt.datetime] = []
        for child in targets:
            quiet = [m for m in moments if not decide(m)[child]]
            split = [m for m in quiet if any(decide(m).values())]
            pick = (split or quiet)[:1]
            chosen += [m for m in pick if m not in chosen]
        for when in chosen:
            self.a.set_clock(when)
            for child in targets:
                code = self.s.code()
                url = route.fill(self.members[child].id) if route.params else route.path
                body = _contact_body(f"ping {code.upper()}", self.members[child].id)
                self.send(self.client_for(sender), route.method, url, body)
                client = self.client_for(child)
                seen = any(
                    code in body_text(p.content).lower()
                    for feed in feeds
                    for p in self.read_all(client, feed.path, limit=3)
                )
                decision = self.guard.check("notify", target=self.account(child), at=when)
                if seen and not decision.allowed:
                    self.find(
                        Finding(
                            "quiet_hours",
                            feeds[0].key,
                            "self",
                            child,
                            "notification",
                            _rule(decision) + f" at {when.isoformat()}",
                            f"notified at {when.isoformat()}",
                            self.curl(client, "GET", feeds[0].path),
                        )
                    )
        self.a.set_clock(dt.datetime.now(dt.UTC))

    def probe_minimum_age(self) -> None:
        for jurisdiction in self.s.jurisdictions:
            minimum = self.s.policy.jurisdiction_info(jurisdiction).minimum_account_age
            if minimum is None:
                continue
            key = f"under-minimum-{jurisdiction}"
            persona = self.s.persona(key, "child", minimum - 1, jurisdiction)
            member = self.sign_up(persona)
            if member is None:
                continue
            try:
                client = self.a.sign_in(member)
                response = self.request(client, "GET", "/")
                exists = response is not None and persona.code in body_text(response.content)
                exists = exists or self.settings_of(key, self.reads) is not None
            except Exception:  # noqa: BLE001 - could not sign in: the account is not there
                exists = False
            if exists:
                self.find(
                    Finding(
                        "minimum_age",
                        "sign-up",
                        "self",
                        key,
                        "account created",
                        f"minimum account age {minimum} in {jurisdiction}",
                        f"a {minimum - 1}-year-old signed up and signed in as {member.id!r}",
                        "",
                    )
                )

    def answers(self, route: _Route) -> bool:
        """Whether ``route`` answers its method: asked once, signed out, of routes whose
        framework does not say (a Django function view answers any method)."""
        if not route.wildcard:
            return True
        with self.a.client() as client:
            response = self.request(client, route.method, route.fill("childsafe-probe"))
        return response is None or response.status_code != 405

    # -- all of it ---------------------------------------------------------------------

    def go(self) -> ObservationReport:
        routes = _routes(self.a)
        excluded = dict(self.a.excluded)
        for key, why in excluded.items():
            self.note(key, f"excluded by the adapter: {why}")
        routes = [r for r in routes if r.key not in excluded and self.answers(r)]
        reads = [r for r in routes if r.method == "GET" and r.kind != "auth"]
        writes = [
            r for r in routes if r.method in {"POST", "PUT", "PATCH", "DELETE"} and r.kind != "auth"
        ]
        writes += [r for r in reads if r.acts]  # GET /users/<id>/follow: read and probed
        self.reads = reads
        for r in reads:
            if r.numbered:
                self.note(
                    r.key,
                    f"read with the numbers 1 to {_GUESSED_IDS} as its {r.params[0]}, by the "
                    "logged-out visitor and the adult and 13-15 strangers only",
                )
        for r in reads + writes:
            if r.params and not r.fills_accounts:
                why = f"path parameters {r.params} are not accounts the suite made: it "
                self.note(r.key, why + "cannot fill them (list a filled path in extra_routes)")
        for r in routes:
            if r.kind == "auth" and r.method != "GET":
                self.note(r.key, "signs in, out or up: used through the adapter, not probed")
        try:
            children = self.setup()
            self.plant(children, writes, reads)
            self.read_routes(children, reads)
            self.read_by_number(children, reads)
            self.read_searches(children, writes)
            self.check_defaults(children, reads)
            # Before the write probes, which may link the stranger to a child (a
            # child's own request or guardian link to it).
            self.probe_stranger_settings(children, writes, reads)
            self.probe_contacts(children, writes, reads)
            self.probe_purchases(children, writes, reads)
            self.probe_minimum_age()
            self.probe_settings(children, writes, reads)
            self.probe_quiet_hours(children, reads)
        finally:
            shutdown = getattr(self.a.transport, "shutdown", None)
            for client in self.clients.values():
                with contextlib.suppress(Exception):  # closing is best effort
                    client.close()
            if callable(shutdown):
                shutdown()
        self.stats["routes"] = len(routes)
        return ObservationReport(
            self.s.policy.name, tuple(self.findings.values()), tuple(self.unprobed), self.stats
        )


_HEAD_VIEWERS: Final = (None, "adult_stranger", "teen_13_15")
"""Who reads every route with ``HEAD`` too: the strangers a leak usually reaches."""
_CONNECTED_VIEWERS: Final = ("connected_adult", "parent")
"""Viewers connected to every child: nothing they find by searching is a leak."""
_SEARCH_PATH: Final = re.compile(r"search|lookup|find|discover")
"""A ``POST`` route whose path says it searches: asked like a search, not written to."""
_SEARCH_KEYS: Final = ("q", "query", "search", "term", "name")
_LAT_KEYS: Final = ("lat", "latitude")
_LON_KEYS: Final = ("lng", "lon", "longitude")
_NEARBY: Final = 0.004
"""Degrees between a child's planted location and the point a search asks near it."""
_SEARCHABLE: Final = (200, 400, 422)
"""What a route without an account answers a plain read when it is asked as a search
too: a page, or a refusal for a missing parameter (``q``, ``lat``)."""
_HANDLE_KEYS: Final = ("handle", "username")


def _shared_cacheable(headers: str, client: httpx.Client) -> bool:
    """Whether a response with ``headers`` (``name: value`` lines) may be stored by
    a shared cache and served to others (RFC 9111 3, 3.5): explicitly fresh
    (``public``, ``s-maxage``, a positive ``max-age``), not ``private`` or
    ``no-store``, without ``Vary`` on the cookie, the credentials or ``*``; when the
    request carried ``Authorization``, only with ``public``, ``s-maxage`` or
    ``must-revalidate``."""
    fields: dict[str, list[str]] = {}
    for line in headers.lower().splitlines():
        name, _, value = line.partition(":")
        fields.setdefault(name.strip(), []).append(value.strip())
    directives = {
        d.strip().partition("=")[0]: d.strip().partition("=")[2].strip('"')
        for v in fields.get("cache-control", [])
        for d in v.split(",")
        if d.strip()
    }
    if "private" in directives or "no-store" in directives or "no-cache" in directives:
        return False
    vary = {v.strip() for value in fields.get("vary", []) for v in value.split(",")}
    if vary & {"*", "cookie", "authorization"}:
        return False
    fresh = "public" in directives or _positive(directives.get("s-maxage"))
    fresh = fresh or _positive(directives.get("max-age"))
    if "authorization" in {k.lower() for k in client.headers}:
        return (
            "public" in directives
            or "s-maxage" in directives
            or ("must-revalidate" in directives and fresh)
        )
    return fresh


def _positive(value: str | None) -> bool:
    return value is not None and value.isdigit() and int(value) > 0


def _search_query(persona: Persona) -> dict[str, str]:
    """The query parameters a search route usually reads: its text (the persona's
    code, part of its name and handle) and a handle to look up."""
    return dict.fromkeys(_SEARCH_KEYS, persona.code) | dict.fromkeys(_HANDLE_KEYS, persona.handle)


_TARGET_KEYS: Final = ("user_id", "account_id", "target", "target_id", "child_id")
"""Where a settings request may name whose settings it changes."""

_DECLARED_AGE: Final = {
    "age": 30,
    "birth_date": "1990-01-01",
    "birthdate": "1990-01-01",
    "date_of_birth": "1990-01-01",
    "dob": "1990-01-01",
    "band": "adult",
    "age_band": "adult",
    "is_adult": True,
}
"""What a request may claim about its sender's age: an app must never believe it."""


def _date_forms(day: dt.date, timezone: str = "UTC") -> tuple[str, ...]:
    """How a page writes a birth date: ISO, day-first and month-first with ``/``, ``.``
    and ``-``, with the month's English name in full or short, and as the epoch
    seconds or milliseconds of its midnight in UTC or in ``timezone`` (a JavaScript
    ``Date``, Jackson's default)."""
    d, m, y = day.day, day.month, day.year
    month = _MONTHS[m - 1]
    epochs = []
    for zone in {"UTC", timezone}:
        try:
            tz: dt.tzinfo = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            continue
        seconds = int(dt.datetime.combine(day, dt.time(), tzinfo=tz).timestamp())
        epochs += [str(seconds), str(seconds * 1000)]
    return (
        *epochs,
        f"{month[:3]} {d}, {y}",
        f"{d} {month[:3]} {y}",
        f"{d:02d} {month[:3]} {y}",
        day.isoformat(),
        f"{d:02d}/{m:02d}/{y}",
        f"{m:02d}/{d:02d}/{y}",
        f"{d:02d}.{m:02d}.{y}",
        f"{d:02d}-{m:02d}-{y}",
        f"{d}/{m}/{y}",
        f"{m}/{d}/{y}",
        f"{month} {d}, {y}",
        f"{d} {month} {y}",
    )


_MONTHS: Final = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _email_forms(email: str) -> tuple[str, ...]:
    """An email address, and its MD5 and SHA-256 digests as a Gravatar URL carries
    them: anyone who guesses the address confirms it (and the digest is the same on
    every site), so a page showing it gives the address away."""
    normal = email.strip().lower().encode()
    return (
        email,
        hashlib.md5(normal, usedforsecurity=False).hexdigest(),
        hashlib.sha256(normal).hexdigest(),
    )


def _contact_body(text: str, target: str) -> dict[str, Any]:
    return {
        "text": text,
        "body": text,
        "message": text,
        "content": text,
        "comment": text,
        "name": text,
        "title": text,
        "to": target,
        "recipient": target,
        "recipient_id": target,
        "user_id": target,
        "target": target,
        "target_id": target,
        "account": target,
        "account_id": target,
        "friend_id": target,
        "member_id": target,
        "recipients": [target],
        "user_ids": [target],
        "members": [target],
        "member_ids": [target],
        "targets": [target],
        "confirmed": True,
        **_DECLARED_AGE,
    }


def _distinctive(ident: str) -> bool:
    return len(ident) >= 8 and not ident.isdigit()


def _settings_in(data: object) -> dict[str, str] | None:
    """The first JSON object in ``data`` with three or more setting names as keys."""
    if isinstance(data, dict):
        named = {k: v for k, v in data.items() if k in SETTINGS}
        if len(named) >= 3:
            return {k: "none" if v is None else str(v) for k, v in named.items()}
        values: Iterable[object] = data.values()
    elif isinstance(data, list):
        values = data
    else:
        return None
    for value in values:
        found = _settings_in(value)
        if found is not None:
            return found
    return None


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(params)
    return urlunsplit(parts._replace(query=urlencode(query)))


def _count_items(data: object) -> int:
    if isinstance(data, list):
        return len(data)
    if isinstance(data, dict):
        return max((_count_items(v) for v in data.values()), default=0)
    return 0


def _walk(data: object) -> Iterator[tuple[str, object]]:
    if isinstance(data, dict):
        for k, v in data.items():
            yield str(k), v
            yield from _walk(v)
    elif isinstance(data, list):
        for v in data:
            yield from _walk(v)


def _next_offset(data: object, url: str, count: int) -> str | None:
    """The next page of a list paged by offset: the same parameter the page echoes
    (``offset``, ``start``, ``skip``) moved on by the items it held, or ``?offset=``
    when it only says there is more (``has_more``)."""
    if not isinstance(data, dict) or not count:
        return None
    for key in _OFFSET_KEYS:
        value = data.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return _with_query(url, **{key: str(value + count)})
    if any(data.get(k) is True for k in _MORE_KEYS):
        current = dict(parse_qsl(urlsplit(url).query)).get("offset", "0")
        start = int(current) if current.isdigit() else 0
        return _with_query(url, offset=str(start + count))
    return None


def _next_page(response: httpx.Response, url: str) -> tuple[str | None, int, object]:
    """The next page's URL (``Link: rel=next``, a ``next`` field or HAL ``next.href``,
    a cursor or page token, an HTML ``rel=next`` link) and how many items this page
    held."""
    link = response.links.get("next", {}).get("url")
    text = body_text(response.content)
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    count = _count_items(data) if data is not None else text.count("<li")
    if link:
        return str(link), count, data
    if data is not None:
        for key, value in _walk(data):
            if key in _LIST_KEYS and isinstance(value, str) and value:
                return value, count, data
            href = value.get("href") if isinstance(value, dict) else None
            if key in _LIST_KEYS and isinstance(href, str) and href:  # HAL: next.href
                return href, count, data
            token = key in _TOKEN_KEYS or key == "NextToken"
            if token and isinstance(value, str) and value:
                return _with_query(url, **dict.fromkeys(_TOKEN_PARAMS, value)), count, data
            if key in _CURSOR_KEYS and isinstance(value, str | int) and value not in {"", 0}:
                return _with_query(url, cursor=str(value)), count, data
            if key in {"next_page", "nextPage"} and isinstance(value, int):
                return _with_query(url, page=str(value)), count, data
        return _next_offset(data, url, count), count, data
    m = _HTML_NEXT.search(text)
    if m:
        return (m.group(1) or m.group(2)).replace("&amp;", "&"), count, None
    return None, count, None


def observe(
    adapter: ObserveAdapter,
    policy: Policy | None = None,
    *,
    jurisdictions: Sequence[str] = ("GB",),
    **options: Any,  # noqa: ANN401 - ObservationSuite's options
) -> ObservationReport:
    """Run an :class:`ObservationSuite` over ``adapter`` and return the report.

    .. versionadded:: 0.2.0
    """
    return ObservationSuite(policy, jurisdictions=jurisdictions, **options).run(adapter)
