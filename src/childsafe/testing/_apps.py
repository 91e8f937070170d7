"""One small social app, described once and built on every web adapter.

:class:`SocialApp` describes the app: its accounts, its routes (:class:`AppRoute`) and
what each route answers (:meth:`SocialApp.respond`), without naming a framework.
:func:`build_app` (or one ``build_*`` function per adapter) turns the description into a
real app of that framework behind childsafe, as a :class:`BuiltApp` that tests drive with
``httpx`` (:meth:`BuiltApp.client`) or, to watch streaming and websockets, through the
raw WSGI or ASGI interface (:meth:`BuiltApp.stream`, :meth:`BuiltApp.websocket`).

Framework imports stay inside the builders, so importing :mod:`childsafe.testing` needs
no framework installed.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import inspect
import io
import json
import re
import sys
import zlib
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    MutableMapping,
    Sequence,
)
from types import SimpleNamespace, TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal, Self
from urllib.parse import parse_qsl

import attrs
import httpx

from childsafe._engine import Guard
from childsafe._model import Account
from childsafe.exceptions import MissingExtraError
from childsafe.testing._accounts import AccountFactory
from childsafe.typing import AccountRepository, Resolver
from childsafe.web import (
    ActionRule,
    DenialResponse,
    RequestContext,
    ResponseFilter,
    RouteTable,
    action,
    action_rule,
    bearer_token,
    json_field,
    path_param,
    query_param,
)
from childsafe.web.strict import exempt as exempt_view

if TYPE_CHECKING:
    from childsafe._decision import Decision
    from childsafe.complaints import ComplaintsDesk

REPORTS_PATH: Final = "/reports"
"""Where :func:`build_app` mounts the adapter's report endpoint when given ``reports=``."""


def _reports_exempt(reports: ComplaintsDesk | None) -> dict[str, str] | None:
    if reports is None:
        return None
    from childsafe.complaints import REPORT_EXEMPTION  # noqa: PLC0415

    return {f"* {REPORTS_PATH}": REPORT_EXEMPTION}  # every method: 405 for all but POST


__all__ = [
    "ADAPTERS",
    "AppRoute",
    "BuiltApp",
    "Call",
    "DenialPage",
    "RawResponse",
    "Reply",
    "SocialApp",
    "WebsocketOutcome",
    "build_app",
    "social_accounts",
]

Adapter = Literal["wsgi", "asgi", "flask", "django", "starlette", "fastapi"]

ADAPTERS: Final[tuple[Adapter, ...]] = ("wsgi", "asgi", "flask", "django", "starlette", "fastapi")
"""The adapters :func:`build_app` builds on, in the order contract tests list them."""

_WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_Scope = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[_Scope]]
_Send = Callable[[_Scope], Awaitable[None]]
_ASGIApp = Callable[[_Scope, _Receive, _Send], Awaitable[None]]

DENIAL_PAGE: Final = b"<p>Not allowed here.</p>"
LOCATION: Final = "Leeds"


def social_accounts() -> AccountFactory:
    """The app's accounts, all in ``GB``, as an :class:`~childsafe.testing.AccountFactory`
    (which is also the app's repository):

    ``teen``
        14 years old.
    ``kid``
        12 years old.
    ``stranger``
        An adult connected to nobody.
    ``aunt``
        An adult connected to ``teen`` and ``kid``.
    ``parent``
        ``teen``'s parent (an adult connected to ``teen``).

    .. versionadded:: 0.1.0
    """
    accounts = AccountFactory(jurisdiction="GB")
    teen = accounts.teen(age=14, id="teen")
    kid = accounts.child(age=12, id="kid")
    accounts.adult(id="stranger")
    aunt = accounts.adult(id="aunt")
    accounts.connect(aunt, teen)
    accounts.connect(aunt, kid)
    accounts.parent_of(teen, id="parent")
    return accounts


@attrs.frozen
class AppRoute:
    """A route of the app, in the syntax of :class:`~childsafe.RouteTable`.

    ``rules`` maps a method to the :class:`~childsafe.ActionRule` declared for it
    (``"WEBSOCKET"`` for a websocket route); ``HEAD`` follows ``GET``. A route that is
    not a ``view_class`` declares one rule for all its methods or none, as a function
    view does. A ``view_class`` route is served by a class-based view where the
    framework has them (a Flask ``MethodView``, a Django ``View``, a Starlette
    ``HTTPEndpoint``), each declared method checked on its own.

    ``exempt`` says why the methods that declare no rule need no check (strict mode):
    builders mark them with ``childsafe.exempt(reason)`` or the route table's ``exempt``.
    A route with a method that has neither is what strict mode refuses.

    .. versionadded:: 0.1.0
    """

    name: str
    path: str
    methods: tuple[str, ...] = ("GET",)
    rules: Mapping[str, ActionRule] = attrs.field(factory=dict)
    view_class: bool = False
    websocket: bool = False
    exempt: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.websocket:
            if set(self.rules) - {"WEBSOCKET"}:
                raise ValueError(f"{self.name}: a websocket route declares only 'WEBSOCKET'")
            return
        if set(self.rules) - set(self.methods):
            raise ValueError(f"{self.name}: rules for methods the route does not serve")
        if (
            not self.view_class
            and self.rules
            and (set(self.rules) != set(self.methods) or len(set(self.rules.values())) != 1)
        ):
            raise ValueError(
                f"{self.name}: a function view declares one rule for every method; "
                "use view_class=True for per-method rules"
            )

    @property
    def rule(self) -> ActionRule | None:
        """The one rule of a function view (``None``: undeclared)."""
        return next(iter(self.rules.values()), None)

    @property
    def undeclared(self) -> tuple[str, ...]:
        """The methods that declare no rule."""
        return tuple(m for m in self.methods if m not in self.rules)

    def rule_for(self, method: str) -> ActionRule | None:
        """The rule declared for ``method`` (``HEAD`` follows ``GET``)."""
        return self.rules.get("GET" if method == "HEAD" else method)

    def serves(self, method: str) -> bool:
        """Whether the route answers ``method`` (``HEAD`` wherever ``GET``)."""
        return method in self.methods or (method == "HEAD" and "GET" in self.methods)

    def match(self, path: str) -> dict[str, str] | None:
        """The route's parameters in ``path``, or ``None`` if the route has no such
        path (a trailing slash is optional)."""
        # Leading slashes ignored, as Werkzeug's router does (``//users/...``).
        hit = _pattern(self.path).match("/" + path.lstrip("/"))
        return None if hit is None else hit.groupdict()

    def formatted(self, style: Literal["flask", "django"]) -> str:
        """The path in Flask (``<user_id>``) or Django (``<str:user_id>``, no leading
        slash) syntax."""
        if style == "flask":
            return re.sub(r"\{(\w+)\}", r"<\1>", self.path)
        return re.sub(r"\{(\w+)\}", r"<str:\1>", self.path).lstrip("/")


@functools.cache
def _pattern(path: str) -> re.Pattern[str]:
    """A regular expression matching ``path`` (RouteTable syntax), one group per
    parameter, the trailing slash optional."""
    parts = re.split(r"\{(\w+)\}", path)
    regex = "".join(
        f"(?P<{part}>[^/]+)" if i % 2 else re.escape(part) for i, part in enumerate(parts)
    )
    return re.compile(f"^{regex}/?$")


_DM_PATH = action_rule("dm.send", target=path_param("user_id"))

DEFAULT_ROUTES: Final[tuple[AppRoute, ...]] = (
    AppRoute("dm_path", "/users/{user_id}/messages", ("POST",), {"POST": _DM_PATH}),
    AppRoute(
        "dm_query",
        "/messages",
        ("POST",),
        {"POST": action_rule("dm.send", target=query_param("to"))},
    ),
    AppRoute(
        "dm_json",
        "/messages/json",
        ("POST",),
        {"POST": action_rule("dm.send", target=json_field("to"))},
    ),
    AppRoute(
        "profile",
        "/users/{user_id}/profile",
        ("GET",),
        {"GET": action_rule("profile.view", target=path_param("user_id"))},
    ),
    AppRoute("suggestions", "/suggestions", exempt="a list: the response filter checks it"),
    AppRoute(
        "poke",
        "/users/{user_id}/poke",
        ("GET", "POST"),
        {"POST": _DM_PATH},
        view_class=True,
        exempt="the poke page shows nothing about the account",
    ),
    AppRoute("stream", "/stream", exempt="a public feed about no account"),
    AppRoute("me", "/me", exempt="the requester's own account"),
    AppRoute("chat", "/chat/{user_id}", (), {"WEBSOCKET": _DM_PATH}, websocket=True),
)
# The routes of SocialApp, described in its docstring.

STREAM_CHUNKS: Final = (b'{"n": 1}\n', b'{"n": 2}\n', b'{"n": 3}\n')


@attrs.frozen
class Call:
    """A request as a route handler of :class:`SocialApp` sees it, whatever the
    framework.

    .. versionadded:: 0.1.0
    """

    route: AppRoute
    method: str
    params: Mapping[str, str] = attrs.field(factory=dict)
    query: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    context: RequestContext | None = None

    def query_values(self, name: str) -> list[str]:
        """Every value of the query parameter ``name``, in order."""
        return [value for key, value in self.query if key == name]


@attrs.frozen
class Reply:
    """What a route handler answers: a status, headers and a body (``bytes``, or an
    iterable of chunks to stream), or for a websocket the one ``text`` message it sends.

    .. versionadded:: 0.1.0
    """

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | Iterable[bytes] = b""
    text: str | None = None

    @property
    def streamed(self) -> bool:
        """Whether the body is an iterable of chunks."""
        return not isinstance(self.body, bytes)

    @property
    def content_type(self) -> str:
        """The ``Content-Type`` header (``text/plain`` when there is none)."""
        return next(
            (value for name, value in self.headers if name.lower() == "content-type"),
            "text/plain; charset=utf-8",
        )

    def other_headers(self) -> list[tuple[str, str]]:
        """Every header but ``Content-Type``."""
        return [(n, v) for n, v in self.headers if n.lower() != "content-type"]


def _json(status: int, body: object, *extra: tuple[str, str]) -> Reply:
    return Reply(status, (("Content-Type", "application/json"), *extra), json.dumps(body).encode())


class SocialApp:
    """The description of a small social app, and its state while a test runs.

    ``accounts`` (default :func:`social_accounts`) is its database; a bearer token is an
    account id (:meth:`verify`). The adapters load accounts and relationships through
    ``repository`` (default: ``accounts``), which a test can replace with one whose
    database is down. ``routes`` are
    the routes below plus ``extra_routes``: an extra route that the app does not
    know answers ``200 text/plain`` with its name, so a test can add undeclared or late
    routes. ``ran`` records every handler that ran (``"dm_path teen"``), so a test can
    prove that a denied request never reached the view; ``log`` records the ``stream``
    route's progress (``"made ..."``) beside what a raw driver received
    (``"sent ..."``).

    The routes:

    ``dm_path``
        ``POST /users/{user_id}/messages``: a DM to the path parameter (``dm.send``).
    ``dm_query``
        ``POST /messages?to=...``: a DM to the query parameter (``dm.send``).
    ``dm_json``
        ``POST /messages/json`` with ``{"to": ...}``: a DM to the JSON field (``dm.send``).
    ``profile``
        ``GET /users/{user_id}/profile`` (``profile.view``): the account as JSON with its
        ``location``, an ``ETag`` and ``Cache-Control: public``. ``?variant=`` changes how:
        ``gzip``, ``deflate`` (compressed), ``br`` (labelled with a coding childsafe cannot
        read), ``malformed`` (cut short), ``streamed`` (in two chunks), ``charset``
        (``application/json; charset=utf-8``), ``vnd`` (``application/vnd.social+json``).
    ``suggestions``
        ``GET /suggestions``: friend suggestions (``teen``, ``kid``, ``aunt``, ``parent``).
    ``poke``
        ``/users/{user_id}/poke``, a class-based view: ``GET`` (the poke page) undeclared,
        ``POST`` (the poke) declared ``dm.send``.
    ``stream``
        ``GET /stream``: three ``application/x-ndjson`` chunks, streamed.
    ``me``
        ``GET /me``: the request's account (``id``, ``band``, ``source``) as JSON.
    ``chat``
        ``WEBSOCKET /chat/{user_id}`` (``dm.send``): accepts, says ``chatting with ...``,
        closes.

    .. versionadded:: 0.1.0
    """

    LOCATION: Final = LOCATION
    """Where every account is, according to its profile (``"Leeds"``)."""
    STREAM_CHUNKS: Final = STREAM_CHUNKS
    """The chunks the ``stream`` route sends, one at a time."""

    def __init__(
        self,
        *,
        accounts: AccountFactory | None = None,
        repository: AccountRepository | None = None,
        extra_routes: Iterable[AppRoute] = (),
    ) -> None:
        self.accounts = accounts if accounts is not None else social_accounts()
        self.repository: AccountRepository = repository if repository is not None else self.accounts
        self.routes: tuple[AppRoute, ...] = (*DEFAULT_ROUTES, *extra_routes)
        names = [route.name for route in self.routes]
        if len(set(names)) != len(names):
            raise ValueError(f"route names must be unique: {names}")
        self.ran: list[str] = []
        self.log: list[str] = []
        # Photos stored by the media routes: id -> (sender id, verdict, bytes).
        self.photos: dict[str, tuple[str, Any, bytes]] = {}

    def add_route(self, route: AppRoute) -> None:
        """Add ``route`` to the description (apps already built do not see it: use
        :meth:`BuiltApp.add_route`)."""
        if any(known.name == route.name for known in self.routes):
            raise ValueError(f"route names must be unique: {route.name!r} is taken")
        self.routes = (*self.routes, route)

    def route(self, name: str) -> AppRoute:
        """The route called ``name``."""
        for route in self.routes:
            if route.name == name:
                return route
        raise KeyError(name)

    def verify(self, token: str) -> Account | None:
        """The token check of the app's resolver: a token is an account id."""
        return self.accounts.get_account(token)

    def resolvers(self) -> list[Resolver]:
        """The app's resolvers: ``Authorization: Bearer <account id>``."""
        return [bearer_token(self.verify)]

    def route_table(
        self, *, websockets_only: bool = False, exempt: Mapping[str, str] | None = None
    ) -> RouteTable:
        """Every declared rule and exemption of the routes as a
        :class:`~childsafe.RouteTable` (only the websocket routes' with
        ``websockets_only``), plus the ``exempt`` entries given."""
        entries: dict[str, ActionRule] = {}
        exempt = dict(exempt or {})
        for route in self.routes:
            if websockets_only and not route.websocket:
                continue
            for method, rule in route.rules.items():
                entries[f"{method} {route.path}"] = rule
            if route.exempt is not None and route.undeclared:
                exempt[f"{', '.join(route.undeclared)} {route.path}"] = route.exempt
        return RouteTable(entries, exempt=exempt)

    def match(self, method: str, path: str) -> tuple[AppRoute | None, dict[str, str], bool]:
        """The HTTP route serving ``path`` (with its parameters), and whether some route
        has the path at all (``False``: 404; ``True`` with no route: 405)."""
        found = False
        for route in self.routes:
            if route.websocket:
                continue
            params = route.match(path)
            if params is None:
                continue
            found = True
            if route.serves(method):
                return route, params, True
        return None, {}, found

    def websocket_route(self, path: str) -> tuple[AppRoute | None, dict[str, str]]:
        """The websocket route serving ``path``, with its parameters."""
        for route in self.routes:
            params = route.match(path) if route.websocket else None
            if params is not None:
                return route, params
        return None, {}

    # -- the handlers ---------------------------------------------------------------

    def respond(self, call: Call) -> Reply:
        """Run the route's handler: what the app does, the same on every framework."""
        route = call.route
        target = call.params.get("user_id", "")
        name = route.name
        if name == "dm_path":
            self.ran.append(f"dm_path {target}")
            return _json(201, {"sent": target})
        if name == "dm_query":
            values = call.query_values("to")
            self.ran.append(f"dm_query {','.join(values)}")
            return _json(201, {"sent": values[-1] if values else None})
        if name == "dm_json":
            body = json.loads(call.body or b"{}")
            self.ran.append(f"dm_json {body.get('to')}")
            return _json(201, {"sent": body.get("to")})
        if name == "profile":
            self.ran.append(f"profile {target}")
            return self._profile(target, (call.query_values("variant") or ["plain"])[-1])
        if name == "suggestions":
            self.ran.append("suggestions")
            ids = ("teen", "kid", "aunt", "parent")
            return _json(200, {"suggestions": [{"id": i, "name": i.title()} for i in ids]})
        if name == "poke":
            self.ran.append(f"poke {call.method} {target}")
            if call.method == "POST":
                return Reply(201, body=b"poked")
            return Reply(200, body=f"poke {target}?".encode())
        if name == "stream":
            self.ran.append("stream")
            return Reply(200, (("Content-Type", "application/x-ndjson"),), self._chunks())
        if name == "me":
            self.ran.append("me")
            context = call.context
            if context is None:
                return _json(200, {"id": None})
            return _json(
                200,
                {
                    "id": context.account.id,
                    "band": context.account.band.value,
                    "source": context.resolution.source,
                },
            )
        if name == "chat":
            self.ran.append(f"chat {target}")
            return Reply(text=f"chatting with {target}")
        if name in ("media_upload", "media_send"):
            return self._store_media(call)
        if name == "media_view":
            photo = call.params.get("photo_id", "")
            self.ran.append(f"media_view {photo}")
            stored = self.photos.get(photo)
            if stored is None:
                return _json(404, {"photo": None})
            return Reply(200, (("Content-Type", "application/octet-stream"),), stored[2])
        self.ran.append(name)
        return Reply(200, body=name.encode())

    def _store_media(self, call: Call) -> Reply:
        """``media_upload`` and ``media_send``: what the view received (the body's
        SHA-256 and size, the images in ``ctx.media``) and the photo stored with its
        verdict, as a platform keeps it for ``media.view``."""
        import hashlib  # noqa: PLC0415

        context = call.context
        results = context.media if context is not None else ()
        self.ran.append(f"{call.route.name} {len(call.body)}")
        photo = str(len(self.photos) + 1)
        if results:
            sender = context.account.id if context is not None else ""
            self.photos[photo] = (sender, results[0].verdict, call.body)
        return _json(
            201,
            {
                "photo": photo,
                "sha256": hashlib.sha256(call.body).hexdigest(),
                "size": len(call.body),
                "images": [
                    {
                        "field": r.file.field,
                        "filename": r.file.filename,
                        "size": r.file.size,
                        "sensitive": r.verdict.sensitive,
                        "outcome": r.decision.outcome,
                        "path_exists": r.file.path.exists(),
                    }
                    for r in results
                ],
            },
        )

    def _profile(self, user_id: str, variant: str) -> Reply:
        raw = json.dumps({"id": user_id, "name": user_id.title(), "location": LOCATION}).encode()
        media_type = {
            "charset": "application/json; charset=utf-8",
            "vnd": "application/vnd.social+json",
            "text-json": "text/json",
            "x-json": "application/x-json",
        }.get(variant, "application/json")
        headers = [
            ("Content-Type", media_type),
            ("ETag", f'"{user_id}-v1"'),
            ("Cache-Control", "public, max-age=60"),
        ]
        if variant == "gzip":
            raw = gzip.compress(raw)
            headers.append(("Content-Encoding", "gzip"))
        elif variant == "deflate":
            raw = zlib.compress(raw)
            headers.append(("Content-Encoding", "deflate"))
        elif variant == "br":  # a coding childsafe cannot read (the body is not brotli)
            headers.append(("Content-Encoding", "br"))
        elif variant == "malformed":
            raw = raw[:-1]
        elif variant == "streamed":
            half = len(raw) // 2
            return Reply(200, tuple(headers), iter((raw[:half], raw[half:])))
        return Reply(200, tuple(headers), raw)

    def _chunks(self) -> Iterator[bytes]:
        for chunk in STREAM_CHUNKS:
            self.log.append(f"made {chunk!r}")
            yield chunk


# -- driving built apps --------------------------------------------------------------


@attrs.frozen
class RawResponse:
    """A response read through the raw WSGI or ASGI interface, chunk by chunk.

    .. versionadded:: 0.1.0
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    chunks: tuple[bytes, ...]

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (any case), or ``None``."""
        return next((v for n, v in self.headers if n.lower() == name.lower()), None)


@attrs.frozen
class WebsocketOutcome:
    """What happened to a websocket handshake: whether the app accepted it, the texts
    it sent, and the close code and reason (``None``: not closed by the app).

    .. versionadded:: 0.1.0
    """

    accepted: bool
    texts: tuple[str, ...]
    close_code: int | None
    close_reason: str | None


def _auth(account: str | None) -> list[tuple[str, str]]:
    return [] if account is None else [("Authorization", f"Bearer {account}")]


class _SyncASGITransport(httpx.BaseTransport):
    """``httpx.ASGITransport`` behind a synchronous client: each request runs in a new
    event loop, and the raw (still encoded) body is handed back."""

    def __init__(self, app: _ASGIApp) -> None:
        self._transport = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def go() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            response = await self._transport.handle_async_request(request)
            body = b"".join([chunk async for chunk in response.aiter_raw()])
            return response.status_code, response.headers.raw, body

        status, headers, body = asyncio.run(go())
        return httpx.Response(status, headers=headers, content=body)


def _split_target(target: str) -> tuple[str, str]:
    path, _, query = target.partition("?")
    return path, query


def _wsgi_call(
    app: _WSGIApp, path: str, headers: list[tuple[str, str]], on_chunk: Callable[[bytes], None]
) -> RawResponse:
    path, query = _split_target(path)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in headers:
        environ[f"HTTP_{name.upper().replace('-', '_')}"] = value
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, response_headers: list[tuple[str, str]], *_: object) -> None:
        started.append((status, response_headers))

    body = app(environ, start_response)
    chunks: list[bytes] = []
    try:
        for chunk in body:
            if chunk:
                on_chunk(chunk)
                chunks.append(chunk)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    status, response_headers = started[-1]
    return RawResponse(int(status.split()[0]), tuple(response_headers), tuple(chunks))


def _asgi_scope(kind: str, path: str, headers: list[tuple[str, str]]) -> dict[str, Any]:
    path, query = _split_target(path)
    return {
        "type": kind,
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http" if kind == "http" else "ws",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            *((n.lower().encode(), v.encode()) for n, v in headers),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "subprotocols": [],
        "state": {},
    }


async def _asgi_call(
    app: _ASGIApp, path: str, headers: list[tuple[str, str]], on_chunk: Callable[[bytes], None]
) -> RawResponse:
    scope = _asgi_scope("http", path, headers)
    requested = False
    status = 0
    response_headers: list[tuple[str, str]] = []
    chunks: list[bytes] = []

    async def receive() -> _Scope:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client stays connected until cancelled
        raise AssertionError("unreachable")  # pragma: no cover

    async def send(message: _Scope) -> None:
        nonlocal status, response_headers
        if message["type"] == "http.response.start":
            if chunks:
                raise AssertionError("http.response.start after the body")
            status = message["status"]
            response_headers = [(n.decode(), v.decode()) for n, v in message.get("headers", [])]
        elif message["type"] == "http.response.body":
            if not status:
                raise AssertionError("http.response.body before http.response.start")
            chunk = message.get("body", b"")
            if chunk:
                on_chunk(chunk)
                chunks.append(chunk)

    await app(scope, receive, send)
    return RawResponse(status, tuple(response_headers), tuple(chunks))


async def _asgi_websocket(
    app: _ASGIApp, path: str, headers: list[tuple[str, str]]
) -> WebsocketOutcome:
    scope = _asgi_scope("websocket", path, headers)
    incoming: list[_Scope] = [{"type": "websocket.connect"}]
    sent: list[_Scope] = []

    async def receive() -> _Scope:
        if incoming:
            return incoming.pop(0)
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(message: _Scope) -> None:
        sent.append(message)

    await app(scope, receive, send)
    closes = [m for m in sent if m["type"] == "websocket.close"]
    return WebsocketOutcome(
        accepted=any(m["type"] == "websocket.accept" for m in sent),
        texts=tuple(m["text"] for m in sent if m["type"] == "websocket.send" and "text" in m),
        close_code=closes[0].get("code", 1000) if closes else None,
        close_reason=closes[0].get("reason") if closes else None,
    )


@attrs.define
class BuiltApp:
    """A :class:`SocialApp` built on one adapter.

    ``app`` is the framework's own app (a ``Flask``, ``Starlette`` or ``FastAPI`` app,
    Django's ``WSGIHandler``, or the childsafe middleware around a plain WSGI or ASGI
    app); ``wsgi`` or ``asgi`` is the callable servers would run. Use it as a context
    manager, or call :meth:`close`, to undo what building did (Django's settings).

    .. versionadded:: 0.1.0
    """

    adapter: Adapter
    social: SocialApp
    app: Any
    wsgi: _WSGIApp | None = None
    asgi: _ASGIApp | None = None
    on_close: Callable[[], None] | None = None
    guard: Guard | None = None
    """The :class:`~childsafe.Guard` the adapter decides with (for sinks, overrides)."""
    register: Callable[[AppRoute], None] | None = None

    @property
    def supports_websockets(self) -> bool:
        """Whether the adapter serves websockets (ASGI, Starlette, FastAPI)."""
        return self.adapter in {"asgi", "starlette", "fastapi"}

    @property
    def supports_view_classes(self) -> bool:
        """Whether the framework has class-based views (Flask, Django, Starlette)."""
        return self.adapter in {"flask", "django", "starlette"}

    def client(self, account: str | None = None) -> httpx.Client:
        """A synchronous ``httpx`` client for the app, signed in as ``account`` (a bearer
        token), or signed out."""
        transport: httpx.BaseTransport
        if self.wsgi is not None:
            transport = httpx.WSGITransport(app=self.wsgi)
        else:
            assert self.asgi is not None
            transport = _SyncASGITransport(self.asgi)
        return httpx.Client(
            transport=transport, base_url="http://testserver", headers=dict(_auth(account))
        )

    def stream(self, path: str, *, account: str | None = None) -> RawResponse:
        """``GET path`` through the raw interface, recording each chunk received in
        the app's ``log`` (``"sent ..."``) as it arrives."""

        def on_chunk(chunk: bytes) -> None:
            self.social.log.append(f"sent {chunk!r}")

        if self.wsgi is not None:
            return _wsgi_call(self.wsgi, path, _auth(account), on_chunk)
        assert self.asgi is not None
        return asyncio.run(_asgi_call(self.asgi, path, _auth(account), on_chunk))

    def websocket(self, path: str, *, account: str | None = None) -> WebsocketOutcome:
        """Open a websocket to ``path`` and report what the app did with it."""
        if self.asgi is None:
            raise TypeError(f"the {self.adapter} adapter serves no websockets")
        return asyncio.run(_asgi_websocket(self.asgi, path, _auth(account)))

    def add_route(self, route: AppRoute) -> None:
        """Add ``route`` to the app after it was built, as an app factory or a router
        included late would (the framework may refuse: Flask does once it served a
        request). The plain WSGI and ASGI apps serve it at once; their route tables are
        left as they were built."""
        self.social.add_route(route)
        if self.register is not None:
            self.register(route)

    def close(self) -> None:
        """Undo what building the app did (Django's settings); safe to call twice."""
        if self.on_close is not None:
            on_close, self.on_close = self.on_close, None
            on_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# -- the builders ----------------------------------------------------------------------


def _parse_query(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)


def _headers(reply: Reply) -> list[tuple[str, str]]:
    return [("Content-Type", reply.content_type), *reply.other_headers()]


def _declare(view: Any, rule: ActionRule | None, exempt: str | None) -> Any:  # noqa: ANN401
    """``view`` declared with ``rule``, or else marked exempt for the reason ``exempt``."""
    if rule is not None:
        return action(
            rule.action, target=rule.target, sensitivity=rule.sensitivity, media=rule.media
        )(view)
    if exempt is not None:
        return exempt_view(exempt)(view)
    return view


@attrs.frozen
class DenialPage:
    """A custom denial renderer for :func:`build_app`: it answers an HTML page
    (``DenialPage.BODY``) with ``status``, as the adapter's own response type (``kind="native"``: a
    Flask return value, a Django ``HttpResponse``, a Starlette ``HTMLResponse``; for the
    plain middlewares a :class:`~childsafe.DenialResponse`), as a
    :class:`~childsafe.DenialResponse` (``"denial_response"``), or it raises
    (``"raising"``).

    .. versionadded:: 0.1.0
    """

    BODY: ClassVar[bytes] = DENIAL_PAGE
    """The page's body (``<p>Not allowed here.</p>``)."""

    status: int = 403
    kind: Literal["native", "denial_response", "raising"] = "native"

    def renderer(self, native: Callable[[int], object]) -> Callable[[Decision, Any], object]:
        """The renderer, given how the adapter makes its native page of a status."""

        def render(decision: Decision, request: Any) -> object:  # noqa: ANN401 - any request
            del request
            if self.kind == "raising":
                raise RuntimeError(f"the denial page for {decision.action} is broken")
            if self.kind == "denial_response":
                return _page(self.status)
            return native(self.status)

        return render


def _page(status: int) -> DenialResponse:
    return DenialResponse(status, (("content-type", "text/html; charset=utf-8"),), DENIAL_PAGE)


def _require(extra: str, module: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise MissingExtraError(
            f"building the {extra} app needs {module}: pip install 'childsafe[{extra}]'"
        ) from None


def build_wsgi(
    social: SocialApp,
    *,
    guard: Guard | None = None,
    resolvers: Sequence[Resolver] | None = None,
    denial_page: DenialPage | None = None,
    reports: ComplaintsDesk | None = None,
    **options: Any,  # noqa: ANN401 - passed to the middleware
) -> BuiltApp:
    """A plain WSGI app routing by itself, behind :class:`childsafe.wsgi.ChildsafeMiddleware`
    with the app's :meth:`~SocialApp.route_table`, a :class:`~childsafe.ResponseFilter`
    and ``options``. ``denial_page``: a custom renderer instead of problem+json.
    ``reports``: a complaints desk, filed on at ``POST /reports`` by
    :func:`childsafe.wsgi.report_app`."""
    from childsafe.wsgi import ChildsafeMiddleware, report_app  # noqa: PLC0415

    report = None if reports is None else report_app(reports)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if report is not None and environ.get("PATH_INFO") == REPORTS_PATH:
            return report(environ, start_response)
        method = environ["REQUEST_METHOD"]
        route, params, found = social.match(method, environ.get("PATH_INFO", ""))
        if route is None:
            start_response("405 Method Not Allowed" if found else "404 Not Found", [])
            return [b""]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        reply = social.respond(
            Call(
                route,
                method,
                params,
                tuple(_parse_query(environ.get("QUERY_STRING", ""))),
                body,
                environ.get("childsafe.context"),
            )
        )
        start_response(f"{reply.status} -", _headers(reply))
        return [reply.body] if isinstance(reply.body, bytes) else reply.body

    guard = guard if guard is not None else Guard()
    if denial_page is not None:
        options.setdefault("renderer", denial_page.renderer(_page))
    wrapped = ChildsafeMiddleware(
        app,
        guard=guard,
        resolvers=social.resolvers() if resolvers is None else resolvers,
        repository=social.repository,
        routes=social.route_table(exempt=_reports_exempt(reports)),
        response_filter=ResponseFilter(),
        **options,
    )
    return BuiltApp("wsgi", social, wrapped, wsgi=wrapped, guard=guard)


def build_asgi(
    social: SocialApp,
    *,
    guard: Guard | None = None,
    resolvers: Sequence[Resolver] | None = None,
    denial_page: DenialPage | None = None,
    reports: ComplaintsDesk | None = None,
    **options: Any,  # noqa: ANN401 - passed to the middleware
) -> BuiltApp:
    """A plain ASGI app routing by itself (websockets included), behind
    :class:`childsafe.asgi.ChildsafeMiddleware` with the app's
    :meth:`~SocialApp.route_table`, a :class:`~childsafe.ResponseFilter` and
    ``options``; ``denial_page`` and ``reports`` (by
    :func:`childsafe.asgi.report_app`) as for ``build_wsgi``."""
    from childsafe.asgi import ChildsafeMiddleware, report_app  # noqa: PLC0415

    report = None if reports is None else report_app(reports)

    async def websocket(scope: _Scope, receive: _Receive, send: _Send) -> None:
        await receive()  # websocket.connect
        route, params = social.websocket_route(scope["path"])
        if route is None:
            await send({"type": "websocket.close", "code": 1000})
            return
        reply = social.respond(
            Call(route, "WEBSOCKET", params, context=scope.get("childsafe.context"))
        )
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": reply.text})
        await send({"type": "websocket.close", "code": 1000})

    async def app(scope: _Scope, receive: _Receive, send: _Send) -> None:
        if scope["type"] == "websocket":
            await websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        if report is not None and scope["path"] == REPORTS_PATH:
            await report(scope, receive, send)
            return
        route, params, found = social.match(scope["method"], scope["path"])
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if route is None:
            await send({"type": "http.response.start", "status": 405 if found else 404})
            await send({"type": "http.response.body", "body": b""})
            return
        reply = social.respond(
            Call(
                route,
                scope["method"],
                params,
                tuple(_parse_query(scope.get("query_string", b"").decode("latin-1"))),
                body,
                scope.get("childsafe.context"),
            )
        )
        await send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": [(n.lower().encode(), v.encode()) for n, v in _headers(reply)],
            }
        )
        if isinstance(reply.body, bytes):
            await send({"type": "http.response.body", "body": reply.body})
            return
        for chunk in reply.body:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    guard = guard if guard is not None else Guard()
    if denial_page is not None:
        options.setdefault("renderer", denial_page.renderer(_page))
    wrapped = ChildsafeMiddleware(
        app,
        guard=guard,
        resolvers=social.resolvers() if resolvers is None else resolvers,
        repository=social.repository,
        routes=social.route_table(exempt=_reports_exempt(reports)),
        response_filter=ResponseFilter(),
        **options,
    )
    return BuiltApp("asgi", social, wrapped, asgi=wrapped, guard=guard)


def build_flask(
    social: SocialApp,
    *,
    guard: Guard | None = None,
    resolvers: Sequence[Resolver] | None = None,
    denial_page: DenialPage | None = None,
    reports: ComplaintsDesk | None = None,
    **options: Any,  # noqa: ANN401 - passed to ChildSafe
) -> BuiltApp:
    """A Flask app with :class:`childsafe.contrib.flask.ChildSafe` (a
    :class:`~childsafe.ResponseFilter` and ``options``): function views declared with
    :func:`childsafe.action`, a ``MethodView`` for ``view_class`` routes (each declared
    method decorated), no websockets. ``denial_page``: a custom renderer (see
    :class:`DenialPage`)."""
    _require("flask", "flask")
    import flask  # noqa: PLC0415
    from flask.views import MethodView  # noqa: PLC0415

    from childsafe.contrib.flask import ChildSafe  # noqa: PLC0415

    app = flask.Flask("childsafe_contract")

    def call(route: AppRoute, params: Mapping[str, str]) -> Call:
        request = flask.request
        return Call(
            route,
            request.method,
            {k: str(v) for k, v in params.items()},
            tuple(request.args.items(multi=True)),
            request.get_data(),
            flask.g.get("childsafe"),
        )

    def native(reply: Reply) -> flask.Response:
        return flask.Response(
            reply.body,
            status=reply.status,
            headers=reply.other_headers(),
            content_type=reply.content_type,
        )

    def function_view(route: AppRoute) -> Callable[..., flask.Response]:
        def view(**params: str) -> flask.Response:
            return native(social.respond(call(route, params)))

        view.__name__ = route.name
        return _declare(view, route.rule, route.exempt)  # type: ignore[no-any-return]

    def method_view(route: AppRoute) -> Callable[..., flask.Response]:
        def handler(method: str) -> Callable[..., flask.Response]:
            def handle(self: object, **params: str) -> flask.Response:
                del self
                return native(social.respond(call(route, params)))

            return _declare(handle, route.rules.get(method), route.exempt)  # type: ignore[no-any-return]

        namespace = {method.lower(): handler(method) for method in route.methods}
        view_class: Any = type(f"{route.name.title()}View", (MethodView,), namespace)
        return view_class.as_view(route.name)  # type: ignore[no-any-return]

    def register(route: AppRoute) -> None:
        if route.websocket:
            return
        view = method_view(route) if route.view_class else function_view(route)
        app.add_url_rule(
            route.formatted("flask"), endpoint=route.name, view_func=view, methods=route.methods
        )

    for route in social.routes:
        register(route)
    if reports is not None:
        from childsafe.contrib.flask import report_view  # noqa: PLC0415

        app.add_url_rule(REPORTS_PATH, view_func=report_view(reports), methods=["POST"])
    if denial_page is not None:
        options.setdefault(
            "renderer",
            denial_page.renderer(
                lambda status: (DENIAL_PAGE, status, {"Content-Type": "text/html"})
            ),
        )
    accepted = inspect.signature(ChildSafe).parameters
    for key in [key for key in options if key not in accepted]:
        app.config[f"CHILDSAFE_{key.upper()}"] = options.pop(key)
    guard = guard if guard is not None else Guard()
    ChildSafe(
        app,
        guard=guard,
        resolvers=social.resolvers() if resolvers is None else resolvers,
        repository=social.repository,
        response_filter=ResponseFilter(),
        **options,
    )
    return BuiltApp("flask", social, app, wsgi=app.wsgi_app, guard=guard, register=register)


_DJANGO_DEFAULTS: Final[Mapping[str, Any]] = {
    "DEBUG": False,
    "SECRET_KEY": "childsafe-testing-only",
    "ALLOWED_HOSTS": ["testserver"],
    "INSTALLED_APPS": ["childsafe.contrib.django"],
    "DATABASES": {},
    "MIDDLEWARE": [],
    "ROOT_URLCONF": "childsafe.testing._apps",
    "USE_TZ": True,
    "LOGGING_CONFIG": None,
}

urlpatterns: list[Any] = []  # the ROOT_URLCONF of _DJANGO_DEFAULTS: no URLs


def _configure_django() -> None:
    """Configure Django with minimal settings, unless something already did."""
    import django  # type: ignore[import-untyped]  # noqa: PLC0415
    from django.apps import apps  # type: ignore[import-untyped]  # noqa: PLC0415
    from django.conf import settings  # type: ignore[import-untyped]  # noqa: PLC0415

    if not settings.configured:
        settings.configure(**_DJANGO_DEFAULTS)
    if not apps.ready:
        django.setup()


def _django_guard(handler: Any) -> Guard:  # noqa: ANN401 - a WSGIHandler
    """The guard the childsafe middleware of ``handler`` built from ``POLICY``."""
    from childsafe.contrib.django import ChildsafeMiddleware  # noqa: PLC0415

    middleware = next(
        hook.__self__
        for hook in handler._view_middleware  # noqa: SLF001 - Django keeps no public list
        if isinstance(getattr(hook, "__self__", None), ChildsafeMiddleware)
    )
    guard: Guard = middleware.config.guard
    return guard


async def _aiterate(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    """``chunks`` as an async iterator, each made when asked for (Django under ASGI
    reads a sync iterator to its end before sending anything)."""
    for chunk in chunks:
        yield chunk


def build_django(
    social: SocialApp,
    *,
    guard: Guard | None = None,
    resolvers: Sequence[Resolver] | None = None,
    denial_page: DenialPage | None = None,
    reports: ComplaintsDesk | None = None,
    server: Literal["wsgi", "asgi"] = "wsgi",
    **options: Any,  # noqa: ANN401 - CHILDSAFE keys, upper-cased
) -> BuiltApp:
    """A Django project served by Django's ``WSGIHandler`` (``server="asgi"``: its
    ``ASGIHandler``, streamed bodies then async iterators), with only the childsafe
    middleware, ``CHILDSAFE = {"RESPONSE_FILTER": True, ...}`` (``options`` become its
    keys, upper-cased), function views declared with :func:`childsafe.action` and a
    ``View`` for ``view_class`` routes (each declared method through
    ``method_decorator``). No websockets.

    Django is configured once per process: if nothing configured it yet, this does, with
    minimal settings; the app's URLconf, middleware and ``CHILDSAFE`` are applied with
    ``override_settings`` until :meth:`BuiltApp.close`. ``guard`` gives only its policy
    (``CHILDSAFE["POLICY"]``): the middleware builds its own guard from it, which is
    :attr:`BuiltApp.guard`. ``denial_page``: a custom
    ``RENDERER`` (see :class:`DenialPage`)."""
    _require("django", "django")
    from django.core.handlers.asgi import ASGIHandler  # type: ignore[import-untyped]  # noqa: PLC0415
    from django.core.handlers.wsgi import WSGIHandler  # type: ignore[import-untyped]  # noqa: PLC0415
    from django.http import (  # type: ignore[import-untyped]  # noqa: PLC0415
        HttpResponse,
        HttpResponseNotAllowed,
        StreamingHttpResponse,
    )
    from django.test import override_settings  # type: ignore[import-untyped]  # noqa: PLC0415
    from django.urls import clear_url_caches, path  # type: ignore[import-untyped]  # noqa: PLC0415
    from django.utils.decorators import method_decorator  # type: ignore[import-untyped]  # noqa: PLC0415
    from django.views import View  # type: ignore[import-untyped]  # noqa: PLC0415

    _configure_django()

    def call(request: Any, route: AppRoute, params: Mapping[str, Any]) -> Call:  # noqa: ANN401
        return Call(
            route,
            request.method,
            {k: str(v) for k, v in params.items()},
            tuple((k, v) for k, values in request.GET.lists() for v in values),
            request.body,
            getattr(request, "childsafe", None),
        )

    def native(reply: Reply) -> Any:  # noqa: ANN401 - an HttpResponse
        if isinstance(reply.body, bytes):
            response = HttpResponse(
                reply.body, status=reply.status, content_type=reply.content_type
            )
        else:
            response = StreamingHttpResponse(
                reply.body if server == "wsgi" else _aiterate(reply.body),
                status=reply.status,
                content_type=reply.content_type,
            )
        for name, value in reply.other_headers():
            response[name] = value
        return response

    def function_view(route: AppRoute) -> Callable[..., Any]:
        def view(request: Any, **params: Any) -> Any:  # noqa: ANN401
            if not route.serves(request.method):
                return HttpResponseNotAllowed(route.methods)
            return native(social.respond(call(request, route, params)))

        view.__name__ = route.name
        return _declare(view, route.rule, route.exempt)  # type: ignore[no-any-return]

    def class_view(route: AppRoute) -> Callable[..., Any]:
        def handler(self: Any, request: Any, **params: Any) -> Any:  # noqa: ANN401
            del self
            return native(social.respond(call(request, route, params)))

        namespace = {method.lower(): handler for method in route.methods}
        view_class: Any = type(f"{route.name.title()}View", (View,), namespace)
        for method in route.methods:
            declare = functools.partial(_declare, rule=route.rules.get(method), exempt=route.exempt)
            view_class = method_decorator(declare, name=method.lower())(view_class)
        return view_class.as_view()  # type: ignore[no-any-return]

    patterns: list[Any] = []

    def register(route: AppRoute) -> None:
        if route.websocket:
            return
        view = class_view(route) if route.view_class else function_view(route)
        patterns.append(path(route.formatted("django"), view))
        clear_url_caches()

    for route in social.routes:
        register(route)
    if reports is not None:
        from childsafe.contrib.django.views import report_view  # noqa: PLC0415

        patterns.append(path(REPORTS_PATH.lstrip("/"), report_view(reports)))
    urlconf = type("URLConf", (), {"urlpatterns": patterns})
    config: dict[str, Any] = {
        "POLICY": guard.policy if guard is not None else None,
        "REPOSITORY": social.repository,
        "RESOLVERS": social.resolvers() if resolvers is None else list(resolvers),
        "RESPONSE_FILTER": True,
    }
    if denial_page is not None:
        config["RENDERER"] = denial_page.renderer(
            lambda status: HttpResponse(DENIAL_PAGE, status=status, content_type="text/html")
        )
    config.update({key.upper(): value for key, value in options.items()})
    overridden = override_settings(
        ROOT_URLCONF=urlconf,
        MIDDLEWARE=["childsafe.contrib.django.middleware.ChildsafeMiddleware"],
        ALLOWED_HOSTS=["testserver"],
        CHILDSAFE=config,
    )
    overridden.enable()
    try:
        handler = WSGIHandler() if server == "wsgi" else ASGIHandler()
    except BaseException:
        overridden.disable()
        raise
    return BuiltApp(
        "django",
        social,
        handler,
        wsgi=handler if server == "wsgi" else None,
        asgi=handler if server == "asgi" else None,
        on_close=overridden.disable,
        guard=_django_guard(handler),
        register=register,
    )


def _starlette_parts(
    social: SocialApp,
) -> SimpleNamespace:
    """What the Starlette and FastAPI builders share: turning a connection into a
    :class:`Call` and a :class:`Reply` into a Starlette response."""
    from starlette.requests import HTTPConnection  # noqa: PLC0415
    from starlette.requests import Request as StarletteRequest  # noqa: PLC0415
    from starlette.responses import Response, StreamingResponse  # noqa: PLC0415
    from starlette.websockets import WebSocket  # noqa: PLC0415

    async def call(request: StarletteRequest, route: AppRoute) -> Call:
        return Call(
            route,
            request.method,
            {k: str(v) for k, v in request.path_params.items()},
            tuple(request.query_params.multi_items()),
            await request.body(),
            request.scope.get("childsafe.context"),
        )

    def native(reply: Reply) -> Response:
        if isinstance(reply.body, bytes):
            return Response(
                reply.body,
                status_code=reply.status,
                headers=dict(reply.other_headers()),
                media_type=reply.content_type,
            )
        chunks = reply.body

        async def stream() -> Any:  # noqa: ANN401 - an async iterator of bytes
            for chunk in chunks:
                yield chunk

        return StreamingResponse(
            stream(),
            status_code=reply.status,
            headers=dict(reply.other_headers()),
            media_type=reply.content_type,
        )

    async def chat(websocket: WebSocket, route: AppRoute) -> None:
        connection: HTTPConnection = websocket
        reply = social.respond(
            Call(
                route,
                "WEBSOCKET",
                {k: str(v) for k, v in connection.path_params.items()},
                context=connection.scope.get("childsafe.context"),
            )
        )
        await websocket.accept()
        await websocket.send_text(reply.text or "")
        await websocket.close()

    return SimpleNamespace(call=call, native=native, chat=chat)


def _add_middleware(
    app: Any,  # noqa: ANN401 - a Starlette or FastAPI app
    social: SocialApp,
    guard: Guard,
    resolvers: Sequence[Resolver] | None,
    options: Mapping[str, Any],
) -> None:
    from childsafe.asgi import ChildsafeMiddleware  # noqa: PLC0415

    # Websockets get a request context only from a route-table entry (docs/starlette.md).
    app.add_middleware(
        ChildsafeMiddleware,
        guard=guard,
        resolvers=social.resolvers() if resolvers is None else resolvers,
        repository=social.repository,
        routes=social.route_table(websockets_only=True),
        response_filter=ResponseFilter(),
        **options,
    )


def _starlette_renderer(denial_page: DenialPage | None) -> dict[str, Any]:
    if denial_page is None:
        return {}
    from starlette.responses import HTMLResponse  # noqa: PLC0415

    return {
        "renderer": denial_page.renderer(
            lambda status: HTMLResponse(DENIAL_PAGE, status_code=status)
        )
    }


def _install_options(
    denial_page: DenialPage | None,
    options: Mapping[str, Any],
    install_options: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """What ``install(app, ...)`` gets: the renderer, ``strict`` as the middleware got
    it, and ``install_options``."""
    chosen = _starlette_renderer(denial_page)
    if "strict" in options:
        chosen["strict"] = options["strict"]
    return {**chosen, **(install_options or {})}


def build_starlette(
    social: SocialApp,
    *,
    guard: Guard | None = None,
    resolvers: Sequence[Resolver] | None = None,
    denial_page: DenialPage | None = None,
    install_options: Mapping[str, Any] | None = None,
    reports: ComplaintsDesk | None = None,
    **options: Any,  # noqa: ANN401 - passed to the middleware
) -> BuiltApp:
    """A Starlette app behind :class:`childsafe.asgi.ChildsafeMiddleware` (a
    :class:`~childsafe.ResponseFilter`, the websocket routes' rules as its route table,
    and ``options``; ``strict`` goes to ``install`` too) with
    ``install(app, **install_options)``: endpoints declared with
    :func:`childsafe.action`, an ``HTTPEndpoint`` for ``view_class`` routes (each
    declared method decorated). ``denial_page``: the renderer given to ``install``
    (see :class:`DenialPage`)."""
    _require("starlette", "starlette")
    from starlette.applications import Starlette  # noqa: PLC0415
    from starlette.endpoints import HTTPEndpoint  # noqa: PLC0415
    from starlette.requests import Request as StarletteRequest  # noqa: PLC0415
    from starlette.responses import Response  # noqa: PLC0415
    from starlette.routing import BaseRoute, Route, WebSocketRoute  # noqa: PLC0415
    from starlette.websockets import WebSocket  # noqa: PLC0415

    from childsafe.contrib.starlette import install, report_endpoint  # noqa: PLC0415

    parts = _starlette_parts(social)

    def endpoint(route: AppRoute) -> Callable[..., Any]:
        async def handle(request: StarletteRequest) -> Response:
            return parts.native(social.respond(await parts.call(request, route)))  # type: ignore[no-any-return]

        handle.__name__ = route.name
        return _declare(handle, route.rule, route.exempt)  # type: ignore[no-any-return]

    def endpoint_class(route: AppRoute) -> type[HTTPEndpoint]:
        def handler(method: str) -> Callable[..., Any]:
            async def handle(self: HTTPEndpoint, request: StarletteRequest) -> Response:
                del self
                return parts.native(social.respond(await parts.call(request, route)))  # type: ignore[no-any-return]

            return _declare(handle, route.rules.get(method), route.exempt)  # type: ignore[no-any-return]

        namespace = {method.lower(): handler(method) for method in route.methods}
        return type(f"{route.name.title()}Endpoint", (HTTPEndpoint,), namespace)

    def websocket_endpoint(route: AppRoute) -> Callable[..., Any]:
        async def handle(websocket: WebSocket) -> None:
            await parts.chat(websocket, route)

        handle.__name__ = route.name
        return _declare(handle, route.rule, route.exempt)  # type: ignore[no-any-return]

    def starlette_route(route: AppRoute) -> BaseRoute:
        if route.websocket:
            return WebSocketRoute(route.path, websocket_endpoint(route), name=route.name)
        if route.view_class:
            return Route(route.path, endpoint_class(route), name=route.name)
        return Route(route.path, endpoint(route), methods=list(route.methods), name=route.name)

    app = Starlette(routes=[starlette_route(route) for route in social.routes])
    if reports is not None:
        app.router.routes.append(Route(REPORTS_PATH, report_endpoint(reports), methods=["POST"]))

    def register(route: AppRoute) -> None:
        app.router.routes.append(starlette_route(route))

    guard = guard if guard is not None else Guard()
    _add_middleware(app, social, guard, resolvers, options)
    install(app, **_install_options(denial_page, options, install_options))
    return BuiltApp("starlette", social, app, asgi=app, guard=guard, register=register)


def build_fastapi(
    social: SocialApp,
    *,
    guard: Guard | None = None,
    resolvers: Sequence[Resolver] | None = None,
    denial_page: DenialPage | None = None,
    install_options: Mapping[str, Any] | None = None,
    reports: ComplaintsDesk | None = None,
    **options: Any,  # noqa: ANN401 - passed to the middleware
) -> BuiltApp:
    """A FastAPI app behind :class:`childsafe.asgi.ChildsafeMiddleware` (as
    ``build_starlette``) with ``install(app, **install_options)``: every declared
    route (websockets included) is a ``Depends(require(...))`` dependency; FastAPI has
    no class-based views, so a ``view_class`` route is one path operation per method.
    ``GET`` routes answer ``HEAD`` too. ``denial_page`` as for
    ``build_starlette``."""
    _require("fastapi", "fastapi")
    from fastapi import Depends, FastAPI  # noqa: PLC0415
    from starlette.requests import Request as StarletteRequest  # noqa: PLC0415
    from starlette.responses import Response  # noqa: PLC0415
    from starlette.websockets import WebSocket  # noqa: PLC0415

    from childsafe.contrib.starlette import install, report_endpoint, require  # noqa: PLC0415

    parts = _starlette_parts(social)
    app = FastAPI()

    def dependencies(rule: ActionRule | None) -> list[Any]:
        if rule is None:
            return []
        return [
            Depends(
                require(
                    rule.action,
                    target=rule.target,
                    sensitivity=rule.sensitivity,
                    media=rule.media,
                )
            )
        ]

    def endpoint(route: AppRoute) -> Callable[..., Any]:
        async def handle(request: StarletteRequest) -> Response:
            return parts.native(social.respond(await parts.call(request, route)))  # type: ignore[no-any-return]

        # FastAPI reads the annotations; this module's are strings it cannot resolve.
        handle.__annotations__ = {"request": StarletteRequest}
        return handle

    def websocket_endpoint(route: AppRoute) -> Callable[..., Any]:
        async def handle(websocket: WebSocket) -> None:
            await parts.chat(websocket, route)

        handle.__annotations__ = {"websocket": WebSocket}
        return handle

    def register(route: AppRoute) -> None:
        if route.websocket:
            app.add_api_websocket_route(
                route.path,
                websocket_endpoint(route),
                name=route.name,
                dependencies=dependencies(route.rule),
            )
            return
        groups = (
            [((m, *(("HEAD",) if m == "GET" else ())), route.rules.get(m)) for m in route.methods]
            if route.view_class
            else [((*route.methods, *(("HEAD",) if "GET" in route.methods else ())), route.rule)]
        )
        for methods, rule in groups:
            app.add_api_route(
                route.path,
                _declare(endpoint(route), None, None if rule else route.exempt),
                methods=list(methods),
                name=route.name,
                dependencies=dependencies(rule),
            )

    for route in social.routes:
        register(route)
    if reports is not None:
        app.add_api_route(
            REPORTS_PATH, report_endpoint(reports), methods=["POST"], include_in_schema=False
        )
    guard = guard if guard is not None else Guard()
    _add_middleware(app, social, guard, resolvers, options)
    install(app, **_install_options(denial_page, options, install_options))
    return BuiltApp("fastapi", social, app, asgi=app, guard=guard, register=register)


_BUILDERS: Final[Mapping[str, Callable[..., BuiltApp]]] = {
    "wsgi": build_wsgi,
    "asgi": build_asgi,
    "flask": build_flask,
    "django": build_django,
    "starlette": build_starlette,
    "fastapi": build_fastapi,
}


def build_app(
    adapter: Adapter,
    social: SocialApp | None = None,
    **options: Any,  # noqa: ANN401 - the builder's keyword arguments
) -> BuiltApp:
    """Build ``social`` (default: a new :class:`SocialApp`) on ``adapter`` (one of
    ``ADAPTERS``) with that adapter's builder: ``build_wsgi``,
    ``build_asgi``, ``build_flask``, ``build_django``,
    ``build_starlette`` or ``build_fastapi``. Every builder takes ``guard``,
    ``resolvers`` (default: the app's bearer tokens), ``denial_page`` (a
    :class:`DenialPage`) and ``reports`` (a :class:`~childsafe.complaints.ComplaintsDesk`:
    the adapter's own report endpoint is mounted at ``POST /reports``), and passes
    the other keyword arguments to the adapter's configuration: the middleware's
    arguments, the Flask extension's (or else ``app.config["CHILDSAFE_<OPTION>"]``),
    Django's ``CHILDSAFE`` keys (upper-cased). Every builder takes ``strict=False``.

    >>> from childsafe.testing import build_app
    >>> with build_app("wsgi") as built, built.client("stranger") as http:
    ...     http.post("/users/teen/messages").json()["reason"]
    'not_connected'

    .. versionadded:: 0.1.0
    """
    try:
        builder = _BUILDERS[adapter]
    except KeyError:
        raise ValueError(f"unknown adapter {adapter!r}; use one of {', '.join(ADAPTERS)}") from None
    return builder(social if social is not None else SocialApp(), **options)
