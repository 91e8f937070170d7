"""Starlette and FastAPI: the pure ASGI middleware, plus a dependency that checks what
an endpoint does before it runs.

The middleware (:class:`childsafe.asgi.ChildsafeMiddleware`) resolves the account on
every request, checks the routes of its :class:`~childsafe.RouteTable` and filters JSON
responses. :func:`require` declares an endpoint's action where the endpoint is
defined, as a FastAPI dependency (or a call at the top of a Starlette endpoint):

>>> from childsafe import path_param
>>> from childsafe.contrib.starlette import require
>>> send_dm = require("dm.send", target=path_param("user_id"))
>>> send_dm
require('dm.send', target=path_param('user_id'))

A denial raises :class:`ChildsafeDenied`, which :func:`install` turns into ``403``
``application/problem+json`` (or what your renderer returns). In Starlette apps,
:func:`install` also checks endpoints declared with :func:`childsafe.action`.

Install it with ``pip install 'childsafe[starlette]'`` (or ``'childsafe[fastapi]'``).

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

import attrs

from childsafe._decision import Decision
from childsafe._parsing import ParseError, content_length
from childsafe.asgi import (
    DECLARED_ROUTES_ATTRIBUTE,
    MEDIA_KEY,
    WS_POLICY_VIOLATION,
    ASGIApp,
    ChildsafeMiddleware,
    Receive,
    Scope,
    Send,
    _read_body,
    _refuse_websocket,
    media_passed_async,
    media_request_async,
)
from childsafe.exceptions import ConfigProblem, ConfigurationError, MissingExtraError
from childsafe.typing import Extractor, Request
from childsafe.web import (
    CONTEXT_KEY,
    ActionRule,
    DenialResponse,
    RequestContext,
    RouteTable,
    declared_rule,
    declared_rules,
    denial_status,
    is_json,
    max_body_problems,
    parse_json_body,
    problem_details,
    problem_response,
    single_value,
)
from childsafe.web.context import BuiltContext
from childsafe.web.denials import check_headers, rendered
from childsafe.web.media import MediaOptions
from childsafe.web.middleware import DEFAULT_MAX_BODY
from childsafe.web.request import ScopeRequest, unambiguous_cookie
from childsafe.web.strict import (
    RouteInfo,
    check_strict,
    describe_rule,
    exempt,
    exemption,
    extractor_name,
    param_problems,
    route_protection,
    under_prefix,
)

if TYPE_CHECKING:
    from childsafe.complaints import ComplaintsDesk

try:
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException, WebSocketException
    from starlette.middleware import Middleware
    from starlette.requests import HTTPConnection
    from starlette.requests import Request as HTTPRequest
    from starlette.responses import Response
    from starlette.routing import (
        BaseRoute,
        Host,
        Mount,
        Route,
        Router,
        WebSocketRoute,
        compile_path,
    )
    from starlette.websockets import WebSocket
except ImportError:
    raise MissingExtraError(
        "childsafe.contrib.starlette needs Starlette; install it with: "
        "pip install 'childsafe[starlette]' (or 'childsafe[fastapi]' for FastAPI)"
    ) from None

__all__ = [
    "CheckedEndpoint",
    "ChildsafeDenied",
    "DeclaredRoutes",
    "MediaBodyRefused",
    "Requirement",
    "StarletteRenderer",
    "StarletteRequest",
    "as_response",
    "context",
    "denial_handler",
    "denial_response",
    "get_context",
    "install",
    "report_endpoint",
    "require",
    "routes",
]

log = logging.getLogger(__name__)

StarletteRenderer = Callable[[Decision, Request], "DenialResponse | Response"]
"""A denial renderer: ``(decision, request)`` to a :class:`~childsafe.DenialResponse`
or any Starlette ``Response`` (an HTML page from
``Jinja2Templates``, a redirect ...). ``request`` is a :class:`StarletteRequest`; its
``connection`` is the Starlette request."""

DeniedHandler = Callable[[HTTPRequest, Exception], Awaitable[Response]]
"""An exception handler for :class:`ChildsafeDenied`, as Starlette takes them."""

_WHERE: Final = "childsafe.contrib.starlette"
_NO_PARAMS: Final[Mapping[str, Any]] = MappingProxyType({})

_NO_MIDDLEWARE: Final = (
    "no childsafe context in scope['childsafe.context']: add the middleware, e.g. "
    "app.add_middleware(childsafe.asgi.ChildsafeMiddleware, guard=..., resolvers=[...], "
    "repository=...). The request was not allowed."
)
_NO_WEBSOCKET_CONTEXT: Final = (
    "no childsafe context for this websocket: the ASGI middleware passes websockets "
    "through untouched unless its RouteTable declares them. Declare the route "
    "('WEBSOCKET /path': action_rule(...)) in the middleware's routes, or check it "
    "there instead. The connection was not allowed."
)


class StarletteRequest(ScopeRequest):
    """A :class:`~childsafe.Request` over a Starlette request or websocket.

    It reads what the endpoint will read: Starlette's own headers, cookies, query and
    path parameters, so the target checked is the target the endpoint acts on. A query
    parameter repeated with different values (``?to=a&to=b``) is ambiguous and gives
    ``None``, so a declaration on it fails closed. The JSON body is available once
    :meth:`load_json` has read it (:func:`require` does, for ``json_field`` targets).
    """

    __slots__ = ("_connection", "_json", "_receive", "scope")
    _connection: HTTPConnection
    _receive: Receive

    scope: Scope
    _json: object  # set once load_json has read the body

    def __init__(self, connection: HTTPConnection) -> None:
        self._connection = connection
        self.scope = connection.scope

    @classmethod
    def of_scope(cls, scope: Scope, receive: Receive) -> StarletteRequest:
        """The request of an HTTP ``scope``, its Starlette ``Request`` built only when
        something reads more than its path parameters (what :class:`CheckedEndpoint`
        builds per request)."""
        self = _StarletteRequestOfScope() if cls is StarletteRequest else object.__new__(cls)
        self.scope = scope
        self._receive = receive
        return self

    @property
    def connection(self) -> HTTPConnection:
        """The Starlette request (or websocket) read from."""
        try:
            return self._connection
        except AttributeError:  # built when first read
            connection = self._connection = HTTPRequest(self.scope, self._receive)
            return connection

    def header(self, name: str) -> str | None:
        """A header's value; repeated headers are joined with commas."""
        values = self.connection.headers.getlist(name)
        return ", ".join(values) if values else None

    def cookie(self, name: str) -> str | None:
        """The cookie as Starlette reads it; ``None`` when given twice with different
        values (see :func:`~childsafe.web.parse_cookie_header`)."""
        connection = self.connection
        return unambiguous_cookie(
            connection.cookies.get(name), connection.headers.get("cookie"), name
        )

    def query(self, name: str) -> str | None:
        """A query parameter; ``None`` when absent or given twice with different values."""
        return single_value(self.connection.query_params.getlist(name))

    def path_param(self, name: str) -> str | None:
        # What `connection.path_params` reads, without building the connection.
        value = self.scope.get("path_params", _NO_PARAMS).get(name)
        return value if value.__class__ is str or value is None else str(value)

    def json(self) -> object:
        """The parsed JSON body once :meth:`load_json` has read it, else ``None``."""
        try:
            return self._json
        except AttributeError:  # no body read
            return None

    async def load_json(self, max_body: int = DEFAULT_MAX_BODY) -> None:
        """Read and parse the request body, as FastAPI does for a JSON body: when the
        content type is JSON or absent, and its ``Content-Length`` is at most
        ``max_body`` bytes (a larger body, or one of unknown length, is not read). A body
        that cannot be read or parsed leaves :meth:`json` ``None``. Websockets have no
        body."""
        connection = self.connection
        if not isinstance(connection, HTTPRequest):
            return
        if not self._json_expected():
            return
        try:
            length = content_length(self.header("content-length"))
        except ParseError:
            length = None
        if length is None or not 0 < length <= max_body:
            log.warning("childsafe: the body of %s is too large or of unknown length", self.path)
            return
        try:
            raw = await connection.body()
        except Exception as e:  # noqa: BLE001 - an unreadable body has no target
            log.warning("childsafe: could not read the JSON body of %s: %r", self.path, e)
            return
        self._take_body(raw)

    def _json_expected(self) -> bool:
        content_type = self.header("content-type")
        return content_type is None or is_json(content_type)

    def _take_body(self, raw: bytes | None) -> None:
        """Parse a body already read (``None``: too large or cut off); one that is not
        JSON leaves :meth:`json` ``None``."""
        if raw is None or not self._json_expected():
            return
        self._json = parse_json_body(raw)


class _StarletteRequestOfScope(StarletteRequest):
    """The :class:`StarletteRequest` of an HTTP scope (:meth:`StarletteRequest.of_scope`),
    its attributes set by the caller: called without ``__init__``, which is cheaper than
    both the class call and ``object.__new__`` (a call that packs its arguments)."""

    __slots__ = ()
    __init__ = object.__init__


class ChildsafeDenied(HTTPException):
    """Raised by a :func:`require` dependency when the action is denied.

    A ``403`` Starlette ``HTTPException``, so even without
    :func:`install` the request is refused (in the framework's default error format).
    With :func:`install`, the response is the renderer's: ``application/problem+json``
    by default. ``decision`` is the :class:`~childsafe.Decision`.
    """

    def __init__(self, decision: Decision, request: Request) -> None:
        super().__init__(
            403,
            detail=str(problem_details(decision)["detail"]),
            headers={"cache-control": "no-store"},
        )
        self.decision = decision
        self.request = request


def context(connection: HTTPConnection) -> RequestContext:
    """The request's :class:`~childsafe.RequestContext`, stored by the middleware.

    Call it in an endpoint (``context(request).account``, ``.settings``, ``.check``).
    Raises :class:`~childsafe.exceptions.ConfigurationError` when the middleware is not
    installed: the endpoint must not run unchecked.
    """
    found = connection.scope.get(CONTEXT_KEY)
    if isinstance(found, RequestContext):
        return found
    websocket = connection.scope.get("type") == "websocket"
    message = _NO_WEBSOCKET_CONTEXT if websocket else _NO_MIDDLEWARE
    raise ConfigurationError([ConfigProblem(_WHERE, "ChildsafeMiddleware", message)])


async def get_context(connection: HTTPConnection) -> RequestContext:
    """:func:`context` as a FastAPI dependency (async, so it runs without a thread):
    ``ctx: Annotated[RequestContext, Depends(get_context)]``."""
    return context(connection)


class Requirement:
    """An endpoint's declared action, checked when called with the request: a FastAPI
    dependency, or ``await requirement(request)`` in a Starlette endpoint.

    Returns the :class:`~childsafe.RequestContext` when the action is allowed; raises
    :class:`ChildsafeDenied` (``403``) when it is not, and a Starlette
    ``WebSocketException`` (close code ``1008``) on a websocket. A target that cannot
    be found or loaded is denied (``unverifiable``). Build it with :func:`require`.
    """

    __slots__ = ("_needs_body", "max_body", "rule")

    def __init__(self, rule: ActionRule, *, max_body: int = DEFAULT_MAX_BODY) -> None:
        self.rule = rule
        self.max_body = max_body
        self._needs_body = rule.needs_body

    def __repr__(self) -> str:
        parts = [repr(self.rule.action)]
        if self.rule.target is not None:
            parts.append(f"target={_describe(self.rule.target)}")
        if self.rule.sensitivity is not None:
            parts.append(f"sensitivity={self.rule.sensitivity!r}")
        return f"require({', '.join(parts)})"

    async def __call__(self, connection: HTTPConnection) -> RequestContext:
        found = context(connection)
        request = StarletteRequest(connection)
        if self.rule.reads_media:
            return await self._media(connection, found, request)
        if self._needs_body:
            await request.load_json(self.max_body)
        decision = found.check_rule_eager(self.rule, request, connection.scope.get("path_params"))
        if not isinstance(decision, Decision):
            decision = await decision  # an async repository
        if decision.allowed:
            return found
        if request.method == "WEBSOCKET":
            raise WebSocketException(WS_POLICY_VIOLATION, decision.reason.value)
        raise ChildsafeDenied(decision, request)

    async def _media(
        self, connection: HTTPConnection, found: RequestContext, request: StarletteRequest
    ) -> RequestContext:
        """A media route: the body spooled, inspected and decided, then replayed to the
        endpoint's ``request.body()``/``request.form()``. The endpoint must read the
        body itself (``request: Request``), not through ``File``/``Form`` parameters,
        which FastAPI reads before any dependency runs."""
        options = _media_options(connection.scope, self.rule)
        if not isinstance(connection, HTTPRequest) or connection._stream_consumed:  # noqa: SLF001
            raise ConfigurationError(
                [
                    ConfigProblem(
                        _WHERE,
                        self.rule.action,
                        "the body of a media route was read before its check: read it in "
                        "the endpoint (request: Request), not with File/Form parameters",
                    )
                ]
            )
        receive = connection._receive  # noqa: SLF001 - the request's own channel
        outcome = await media_request_async(options, self.rule, request, found, receive)
        if outcome is None:
            raise ChildsafeDenied(found._unverifiable(self.rule.action, "disconnected"), request)  # noqa: SLF001
        if isinstance(outcome, DenialResponse):
            raise MediaBodyRefused(outcome)
        if isinstance(outcome, Decision):
            raise ChildsafeDenied(outcome, request)
        replay, spool = outcome
        connection._receive = replay  # noqa: SLF001 - the endpoint reads the replayed body
        # The spool's files are gone already; its replayed body closes when fully read.
        del spool
        return found


class MediaBodyRefused(HTTPException):
    """A media route's body refused before any decision (413, 400, 411, 415): answered
    with its problem document.

    .. versionadded:: 0.2.0
    """

    def __init__(self, response: DenialResponse) -> None:
        super().__init__(status_code=response.status)
        self.response = response


def _media_options(scope: Scope, rule: ActionRule) -> MediaOptions:
    """The middleware's media options; a configuration error naming the action when
    none were configured (a media route needs an inspector)."""
    options = scope.get(MEDIA_KEY)
    if not isinstance(options, MediaOptions):
        raise ConfigurationError(
            [
                ConfigProblem(
                    _WHERE,
                    rule.action,
                    "a route declaring a media action needs the middleware's "
                    "media_inspector (ChildsafeMiddleware(..., media_inspector=...))",
                )
            ]
        )
    return options


def _describe(extractor: Extractor) -> str:
    """``path_param('user_id')`` for the built-in extractors, else the callable's repr."""
    kind = type(extractor).__name__
    name = getattr(extractor, "name", None)
    calls = {"_PathParam": "path_param", "_QueryParam": "query_param", "_JsonField": "json_field"}
    if kind in calls and isinstance(name, str):
        return f"{calls[kind]}({name!r})"
    return repr(extractor)


def require(
    action: str,
    *,
    target: Extractor | None = None,
    sensitivity: str | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    media: Callable[[Request], Any] | None = None,
) -> Requirement:
    """Declare an endpoint's action: a dependency that checks it before the endpoint runs.

    FastAPI::

        send_dm = require("dm.send", target=path_param("user_id"))

        @app.post("/users/{user_id}/messages")
        async def send_message(
            user_id: str, ctx: Annotated[RequestContext, Depends(send_dm)]
        ) -> dict[str, bool]: ...

    Starlette: ``ctx = await send_dm(request)`` at the top of the endpoint. The target
    comes from the path (:func:`~childsafe.path_param`), the query
    (:func:`~childsafe.query_param`) or the JSON body (:func:`~childsafe.json_field`,
    read only for such declarations, and only when its ``Content-Length`` is at most
    ``max_body`` bytes: 1 MiB by default, as the middlewares). Mistakes (an unknown
    action, a missing target) raise :class:`~childsafe.exceptions.ConfigurationError`
    when declared.
    """
    problems = max_body_problems(_WHERE, max_body)
    if problems:
        raise ConfigurationError(problems)
    return Requirement(ActionRule(action, target, sensitivity, media), max_body=max_body)


# -------------------------------------------------- endpoints declared with @action

_HTTP_METHODS: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _endpoint_rules(endpoint: object) -> dict[str, tuple[ActionRule, ...]]:
    """What an endpoint was declared with, per method (the kernel's
    :func:`~childsafe.web.declared_rules`): ``{"*": rules}`` when every method has the
    same rules (a function, or a class declared as a whole), else one entry per method
    that has any. Websockets only ever have the ``"*"`` entry."""
    whole = declared_rules(endpoint, "WEBSOCKET")
    per_method = {method: declared_rules(endpoint, method) for method in _HTTP_METHODS}
    if all(rules == whole for rules in per_method.values()):
        return {"*": whole} if whole else {}
    rules = {method: found for method, found in per_method.items() if found}
    if whole:
        rules["*"] = whole
    return rules


class CheckedEndpoint:
    """A declared endpoint's ASGI app behind its check: what :func:`install` puts in
    place of ``route.app`` for each route whose endpoint carries
    :func:`childsafe.action` (its bound ``__call__``, called faster than the object:
    ``route.app.__self__`` is the ``CheckedEndpoint``). Routing has already happened,
    so the path parameters are the route's own.

    The check runs before the endpoint (and before the route's own middleware): an
    allowed request goes on unchanged (a body read for a ``json_field`` target is
    replayed to the endpoint), a denied one is answered with the renderer's response
    (``403`` ``application/problem+json`` by default), a denied websocket is closed
    with code ``1008``. Without the middleware's request context the endpoint never
    runs: HTTP requests raise :class:`~childsafe.exceptions.ConfigurationError`,
    websockets are closed.
    """

    __slots__ = ("_bodies", "_media", "_only", "_rule", "app", "max_body", "renderer", "rules")

    def __init__(
        self,
        app: ASGIApp,
        rules: dict[str, tuple[ActionRule, ...]],
        *,
        renderer: StarletteRenderer = problem_response,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        self.app = app
        self.configure(rules, renderer=renderer, max_body=max_body)

    def configure(
        self,
        rules: dict[str, tuple[ActionRule, ...]],
        *,
        renderer: StarletteRenderer,
        max_body: int,
    ) -> None:
        """Check ``rules`` from now on (what :class:`DeclaredRoutes` calls again)."""
        self.rules = rules
        self.renderer = renderer
        self.max_body = max_body
        # One rule for every method: the usual case, looked up without the method.
        self._only = rules.get("*") if list(rules) == ["*"] else None
        # The rule sets that read the body (a json_field target), worked out once.
        self._bodies = frozenset(id(r) for r in rules.values() if any(x.needs_body for x in r))
        # The rule sets of media routes (their bodies are spooled and inspected).
        self._media = frozenset(id(r) for r in rules.values() if any(x.reads_media for x in r))
        # The one rule for every method when it reads neither the body nor media:
        # checked without a coroutine of this endpoint's own (see __call__).
        only = self._only
        plain = only is not None and len(only) == 1 and not self._bodies and not self._media
        self._rule = only[0] if plain and only is not None else None

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{method}: {' + '.join(rule.action for rule in rules)}"
            for method, rules in self.rules.items()
        )
        return f"<CheckedEndpoint {{{shown}}} of {self.app!r}>"

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine of its own (the route awaits what this returns): an HTTP
        # request to an endpoint with one rule reading neither body nor media, the usual
        # case, is checked here while the repository answers at once, and the endpoint's
        # coroutine (or the denial's) is returned. Saves a coroutine per request.
        # Anything else is the coroutine of _checked.
        try:  # a subscript: cheaper than .get() when present, as the middleware puts it
            found = scope[CONTEXT_KEY]
        except KeyError:
            found = None
        rule = self._rule
        if rule is None or found.__class__ is not BuiltContext or scope["type"] != "http":
            return self._checked(scope, receive, send)
        request = _StarletteRequestOfScope()  # StarletteRequest.of_scope(scope, receive), inline
        request.scope = scope
        request._receive = receive  # noqa: SLF001 - this module's own class
        try:  # where StarletteRequest.path_param reads them (a subscript: Starlette's
            params = scope["path_params"]  # routing sets them)
        except KeyError:
            params = None
        decision = found.check_rule_eager(rule, request, params)
        if decision.__class__ is not Decision:  # an async repository
            return self._awaiting(decision, request, scope, receive, send)  # type: ignore[arg-type]
        if decision.allowed:
            return self.app(scope, receive, send)
        return _render(self.renderer, decision, request)(scope, receive, send)

    async def _awaiting(
        self,
        pending: Awaitable[Decision],
        request: StarletteRequest,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """The rest of :meth:`__call__` once the check returned ``pending`` (an async
        repository)."""
        decision = await pending
        if decision.allowed:
            await self.app(scope, receive, send)
        else:
            await _render(self.renderer, decision, request)(scope, receive, send)

    async def _checked(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Every other request: per-method rules, websockets, bodies, media, no
        request context."""
        found = scope.get(CONTEXT_KEY)
        websocket = scope.get("type") == "websocket"
        rules = self._only
        if rules is None:  # rules per method: websockets only ever have the "*" one
            method = "WEBSOCKET" if websocket else str(scope.get("method", "GET")).upper()
            rules = self.rules.get(method) or self.rules.get("*")
        if not rules:  # a method declared on its own is not this one
            await self.app(scope, receive, send)
            return
        if found.__class__ is not BuiltContext and not isinstance(found, RequestContext):
            if websocket:
                log.error("childsafe: %s", _NO_WEBSOCKET_CONTEXT)
                await _refuse_websocket(receive, send, "unverifiable")
                return
            raise ConfigurationError([ConfigProblem(_WHERE, "ChildsafeMiddleware", _NO_MIDDLEWARE)])
        if self._media and not websocket and id(rules) in self._media:
            await self._media_route(rules, found, scope, receive, send)
            return
        if websocket:
            request = StarletteRequest(WebSocket(scope, receive, send))
        elif self._bodies and id(rules) in self._bodies:
            body, receive = await _read_body(receive, self.max_body)
            request = StarletteRequest(HTTPRequest(scope, receive))
            request._take_body(body)  # noqa: SLF001 - this module's own class
        else:
            request = StarletteRequest.of_scope(scope, receive)
        params = scope.get("path_params")  # where StarletteRequest.path_param reads them
        for rule in rules:
            decision = found.check_rule_eager(rule, request, params)
            if decision.__class__ is not Decision:
                decision = await decision  # type: ignore[misc]  # an async repository
            if decision.allowed:
                continue
            if websocket:
                await _refuse_websocket(receive, send, decision.reason.value)
            else:
                await _render(self.renderer, decision, request)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _media_route(
        self,
        rules: tuple[ActionRule, ...],
        found: RequestContext,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """A media route: the other rules, then the body spooled, inspected, decided and
        replayed to the endpoint."""
        request = StarletteRequest.of_scope(scope, receive)
        media_rule = next(rule for rule in rules if rule.reads_media)
        options = _media_options(scope, media_rule)
        for rule in rules:
            if rule is media_rule:
                continue
            decision = found.check_rule_eager(rule, request)
            if decision.__class__ is not Decision:
                decision = await decision  # type: ignore[misc]  # an async repository
            if not decision.allowed:
                await _render(self.renderer, decision, request)(scope, receive, send)
                return
        renderer = self.renderer

        def deny(decision: Decision) -> Awaitable[None]:
            return _render(renderer, decision, request)(scope, receive, send)

        passed = await media_passed_async(options, media_rule, request, found, receive, send, deny)
        if passed is None:
            return  # refused, or the client went away
        replay, spool = passed
        try:
            await self.app(scope, replay, send)
        finally:
            spool.close()


class DeclaredRoutes:
    """Puts every route of a router whose endpoint carries :func:`childsafe.action`
    behind a :class:`CheckedEndpoint`, and again whenever the router's routes change.

    :func:`install` sets it (its bound ``__call__``) in front of ``app.router``'s
    routing (its ``middleware_stack``), so endpoints declared after ``install(app)`` are found on
    the next request; routers of ``Mount`` and ``Host`` routes get one of their own.
    Per request it costs a length check, so a route *replaced* in place (the count
    unchanged) is found only when the count next changes: call ``install(app)`` again
    after replacing routes. When the app's
    :class:`~childsafe.asgi.ChildsafeMiddleware` was added before ``install(app)``, the
    middleware makes that check itself from its first request on, and the layer leaves
    the router's ``middleware_stack`` (one call fewer per request; it stays on the
    router, where ``install`` and :func:`routes` find it).

    .. versionchanged:: 0.2.0
       The app's middleware checks for changed routes in its place.
    """

    __slots__ = ("app", "max_body", "renderer", "router", "seen", "strict")

    checks_declared_endpoints: Final = True
    """What the ASGI middleware looks for before serving an app with declarations."""

    def __init__(
        self,
        app: ASGIApp,
        router: Router,
        *,
        renderer: StarletteRenderer = problem_response,
        max_body: int = DEFAULT_MAX_BODY,
        strict: _Strict | None = None,
    ) -> None:
        self.app = app
        self.router = router
        self.renderer = renderer
        self.max_body = max_body
        self.strict = strict
        self.seen = -1
        self.sync()

    def sync(self) -> None:
        """Check every route now (called whenever the number of routes changes), and,
        for the app's own router, that strict mode finds every route protected."""
        routes = self.router.routes
        for route in routes:
            self._guard(route)
        strict = self.strict
        if strict is not None:
            inventory = _inventory(self.router, strict.app, strict.exempt)
            check_strict(inventory, strict=strict.on, where=_WHERE)
            if strict.on and not _middleware_inspects(strict.app):
                MediaOptions().check_inventory(inventory, where=_WHERE)
        self.seen = len(routes)

    def _guard(self, route: BaseRoute) -> None:
        declared_in_fastapi = _fastapi_declared(route)
        if declared_in_fastapi:
            raise ConfigurationError(
                ConfigProblem(
                    _WHERE,
                    path,
                    "FastAPI endpoints declare their action with a dependency, "
                    f"Depends(require({action!r}, ...)), not with @childsafe.action: FastAPI "
                    "builds its own handlers, which install(app) cannot put a check in front of",
                )
                for path, action in declared_in_fastapi
            )
        if isinstance(route, Route | WebSocketRoute):
            inner = route.app
            rules = _endpoint_rules(route.endpoint)
            checked = _layer(inner, CheckedEndpoint)
            if checked is not None:
                checked.configure(rules, renderer=self.renderer, max_body=self.max_body)
            elif rules:
                checked = CheckedEndpoint(
                    inner, rules, renderer=self.renderer, max_body=self.max_body
                )
                route.app = checked.__call__  # a bound method: called faster than an object
            return
        router = _inner_router(route)
        if router is not None:
            _declare_routes(router, self.renderer, self.max_body)
            _answer_denials(_mounted_app(route), self.renderer)

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Coroutine[Any, Any, None]:
        # Not a coroutine of its own: the router's (its routing is one), once the routes
        # are known. Saves a coroutine per request.
        if len(self.router.routes) != self.seen:
            self.sync()
        return self.app(scope, receive, send)  # type: ignore[return-value]  # no cast(): a call


class _InstalledMiddleware(ChildsafeMiddleware):
    """:class:`childsafe.asgi.ChildsafeMiddleware` as :func:`install` has Starlette build
    it (in place of the class given to ``app.add_middleware``). Only Starlette's own
    middleware stack calls it, and awaits what it returns, so its ``__call__`` is not a
    coroutine function: once the first request has shown that the app checks its own
    routes, a request goes on to the app without a coroutine of this middleware's own
    (``ChildsafeMiddleware._into_app``), and the check for routes changed since they
    were checked runs inline there rather than as a layer of the router's own."""

    __call__ = ChildsafeMiddleware._into_app  # type: ignore[assignment]  # noqa: SLF001 - see its docstring

    def _first_request(self, app: object) -> None:
        """As the middleware's, then, in front of an app whose routes ``install``
        checks, the app's :class:`DeclaredRoutes` taken out of its router's middleware
        stack (it stays findable on the router): this middleware checks for changed
        routes in its place, without a call of its own per request."""
        super()._first_request(app)
        router = getattr(app, "router", None)
        if not self._routes_elsewhere or not isinstance(router, Router):
            return
        declared = _declared_of(router)
        if declared is None:
            return
        if _layer(router.middleware_stack, DeclaredRoutes) is declared:
            setattr(router, DECLARED_ROUTES_ATTRIBUTE, declared)
            router.middleware_stack = declared.app  # type: ignore[assignment]  # what it wrapped
        self._routes_layer = declared
        if len(router.routes) != declared.seen:
            declared.sync()


def _install_middleware(app: Starlette) -> None:
    """Have Starlette build the app's :class:`~childsafe.asgi.ChildsafeMiddleware` as
    :class:`_InstalledMiddleware`: when the app's middleware stack is not built yet and
    lists exactly one childsafe middleware, of that very class (a subclass of the
    user's own is left as it is)."""
    if app.middleware_stack is not None:
        return
    entries: list[Any] = app.user_middleware
    ours = [i for i, entry in enumerate(entries) if _is_childsafe(getattr(entry, "cls", None))]
    if len(ours) == 1 and entries[ours[0]].cls is ChildsafeMiddleware:
        entry = entries[ours[0]]
        entries[ours[0]] = Middleware(_InstalledMiddleware, *entry.args, **entry.kwargs)


def _is_childsafe(cls: object) -> bool:
    """Whether a middleware entry's ``cls`` is the childsafe ASGI middleware (or a
    subclass)."""
    return isinstance(cls, type) and issubclass(cls, ChildsafeMiddleware)


def _fastapi_declared(route: object) -> list[tuple[str, str]]:
    """``(path, action)`` of each FastAPI endpoint declared with ``@action`` in
    ``route``: a FastAPI route (it has a ``dependant``) or an included router (its
    ``original_router``), looked at without importing FastAPI."""
    if hasattr(route, "dependant"):
        rule = declared_rule(getattr(route, "endpoint", None))
        return [] if rule is None else [(str(getattr(route, "path", route)), rule.action)]
    original = getattr(route, "original_router", None)
    found: list[tuple[str, str]] = []
    for inner in getattr(original, "routes", None) or ():
        found.extend(_fastapi_declared(inner))
    return found


def _mounted_app(route: BaseRoute) -> object:
    """The app behind a ``Mount`` or ``Host`` route whose router is its own (a
    mounted Starlette or FastAPI app), else ``None``."""
    for attribute in ("_base_app", "app"):
        candidate: object = getattr(route, attribute, None)
        if isinstance(getattr(candidate, "router", None), Router):
            return candidate
    return None


def _inner_router(route: BaseRoute) -> Router | None:
    """The router behind a ``Mount`` or ``Host`` route (a sub-app's own router too)."""
    for attribute in ("_base_app", "app"):
        candidate: object = getattr(route, attribute, None)
        if isinstance(candidate, Router):
            return candidate
        router: object = getattr(candidate, "router", None)
        if isinstance(router, Router):
            return router
    return None


@attrs.frozen
class _Strict:
    """Strict mode's options for one app (what :func:`install` was given)."""

    on: bool
    app: object
    exempt: Mapping[str, str]


def _declare_routes(
    router: Router, renderer: StarletteRenderer, max_body: int, strict: _Strict | None = None
) -> None:
    stack: object = getattr(router, "middleware_stack", None)
    declared = _declared_of(router)
    if declared is not None:
        declared.renderer, declared.max_body = renderer, max_body
        if strict is not None:
            declared.strict = strict
        declared.sync()
        return
    if not callable(stack):
        raise ConfigurationError(
            [
                ConfigProblem(
                    _WHERE,
                    "install",
                    f"{type(router).__name__} has no middleware_stack to check declared "
                    "endpoints in; this needs Starlette 0.37 or newer",
                )
            ]
        )
    declared = DeclaredRoutes(
        cast("ASGIApp", stack), router, renderer=renderer, max_body=max_body, strict=strict
    )
    router.middleware_stack = declared.__call__  # a bound method: called faster than an object


_INSTALLED_HANDLER: Final = "_childsafe_installed"


def _answer_denials(app: object, renderer: StarletteRenderer) -> None:
    """Have a mounted Starlette or FastAPI ``app`` answer :class:`ChildsafeDenied` (and
    refused media bodies) with ``renderer``, as :func:`install` has the top app do: the
    mounted app's own exception middleware catches its endpoints' denials first, and
    answered them in the framework's default format, ignoring the renderer. A handler
    the mounted app registered itself is kept."""
    handlers: object = getattr(app, "exception_handlers", None)
    add: object = getattr(app, "add_exception_handler", None)
    if not isinstance(handlers, dict) or not callable(add):
        return
    current: object = handlers.get(ChildsafeDenied)
    if current is not None and not getattr(current, _INSTALLED_HANDLER, False):
        return
    handler = denial_handler(renderer)
    setattr(handler, _INSTALLED_HANDLER, True)
    add(ChildsafeDenied, handler)
    if MediaBodyRefused not in handlers:
        add(MediaBodyRefused, _media_body_handler)


def _declared_of(router: object) -> DeclaredRoutes | None:
    """The :class:`DeclaredRoutes` that :func:`install` gave ``router``: in its middleware
    stack, or kept on the router once the app's middleware checks for changed routes in
    its place (see :class:`_InstalledMiddleware`)."""
    declared = _layer(getattr(router, "middleware_stack", None), DeclaredRoutes)
    if declared is None:
        kept = getattr(router, DECLARED_ROUTES_ATTRIBUTE, None)
        declared = kept if isinstance(kept, DeclaredRoutes) else None
    return declared


_T = TypeVar("_T")


def _layer(app: object, cls: type[_T]) -> _T | None:
    """The :class:`CheckedEndpoint` or :class:`DeclaredRoutes` that :func:`install` put
    in place of ``app``: its bound ``__call__`` (or, set by hand, the object itself)."""
    if isinstance(app, cls):
        return app
    owner = getattr(app, "__self__", None)
    return owner if isinstance(owner, cls) else None


def as_response(denial: DenialResponse) -> Response:
    """A Starlette ``Response`` sending ``denial`` as it is
    (status, headers in order, body), with a ``Content-Length`` if it had none."""
    response = Response(denial.body, status_code=denial.status)
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in denial.headers]
    if not any(k == b"content-length" for k, _ in headers):
        headers.append((b"content-length", str(len(denial.body)).encode("latin-1")))
    response.raw_headers = headers
    return response


def denial_response(
    decision: Decision,
    connection: HTTPConnection,
    *,
    renderer: StarletteRenderer = problem_response,
) -> Response:
    """The response for a denial: ``renderer(decision, request)`` as a Starlette
    response. Use it for checks made in an endpoint::

        decision = await context(request).check_async("location.view", user_id)
        if not decision.allowed:
            return denial_response(decision, request)

    A renderer that raises or returns something that cannot be sent gives the default
    problem+json answer (logged); a rendered status below 300 becomes ``403``, so a
    denial never looks like success.
    """
    return _render(renderer, decision, StarletteRequest(connection))


def _render(renderer: StarletteRenderer, decision: Decision, request: Request) -> Response:
    made = rendered(renderer, decision, request, native=_made_response)
    response = as_response(made) if isinstance(made, DenialResponse) else cast("Response", made)
    response.status_code = denial_status(response.status_code)
    return response


def _made_response(made: object) -> Response:
    """A renderer's own answer, if it is a Starlette response whose headers can be sent
    (none carries a CR or LF from the request); raises otherwise (the denial is then
    the default problem response)."""
    if not isinstance(made, Response):
        raise TypeError(f"returned a {type(made).__name__}, not a Response or a DenialResponse")
    check_headers(made.raw_headers)
    return made


def denial_handler(renderer: StarletteRenderer = problem_response) -> DeniedHandler:
    """An exception handler answering :class:`ChildsafeDenied` with ``renderer``, for
    ``Starlette(exception_handlers={ChildsafeDenied: denial_handler()})``."""

    async def handle_denial(request: HTTPRequest, exc: Exception) -> Response:
        del request  # the one the check saw travels with the exception
        if not isinstance(exc, ChildsafeDenied):
            raise exc
        return _render(renderer, exc.decision, exc.request)

    return handle_denial


def install(
    app: Starlette,
    *,
    renderer: StarletteRenderer = problem_response,
    max_body: int = DEFAULT_MAX_BODY,
    strict: bool = True,
    exempt: Mapping[str, str] | Iterable[str] = (),
) -> None:
    """Check endpoints declared with :func:`childsafe.action`, answer denials (theirs
    and :class:`ChildsafeDenied` from :func:`require`) with ``renderer`` (default:
    ``403`` ``application/problem+json``), and hold the app to strict mode. Works for
    FastAPI apps too, and is how their routes get strict mode: call it for every app.

    Call it once, after ``app.add_middleware(ChildsafeMiddleware, ...)``; endpoints
    defined later are found on the next request (see :class:`DeclaredRoutes`). Called
    after it, ``install`` has Starlette build that middleware as a subclass whose
    ``__call__`` returns the app's awaitable instead of being a coroutine of its own
    (Starlette's middleware stack awaits it), which makes each request cheaper; called
    before it, everything works the same.
    ``max_body`` bounds the body read for a ``json_field`` target, as the middleware's
    option does.

    Strict mode (``strict=True``, the default): every route must declare its action
    (:func:`childsafe.action` on a Starlette endpoint or its methods,
    ``Depends(require(...))`` in FastAPI, on the route or its router) or be exempt
    (:func:`childsafe.exempt` on the endpoint, or listed in ``exempt`` by path prefix
    or route name, with the reason). FastAPI's own documentation routes are exempt.
    An unprotected route raises :class:`~childsafe.exceptions.ConfigurationError`
    naming each one, here and on the first request after routes are added, so the app
    serves nothing until it is fixed; ``strict=False`` logs a warning instead.
    """
    problems = max_body_problems(_WHERE, max_body)
    given: object = renderer
    if not callable(given):
        problems.append(ConfigProblem(_WHERE, "renderer", f"expected a callable, got {given!r}"))
    flag: object = strict
    if not isinstance(flag, bool):
        problems.append(ConfigProblem(_WHERE, "strict", f"expected True or False, got {flag!r}"))
    exemptions = _exemptions(exempt, problems)
    if problems:
        raise ConfigurationError(problems)
    if not strict:
        log.warning("childsafe: install(app, strict=False): undeclared routes are served unchecked")
    app.add_exception_handler(ChildsafeDenied, denial_handler(renderer))
    app.add_exception_handler(MediaBodyRefused, _media_body_handler)
    _declare_routes(app.router, renderer, max_body, _Strict(strict, app, exemptions))
    _install_middleware(app)


async def _media_body_handler(request: HTTPRequest, exc: Exception) -> Response:
    del request
    assert isinstance(exc, MediaBodyRefused)
    return as_response(exc.response)


def _exemptions(
    exempt: Mapping[str, str] | Iterable[str], problems: list[ConfigProblem]
) -> dict[str, str]:
    given: object = exempt
    if isinstance(exempt, Mapping):
        entries: list[tuple[object, object]] = list(exempt.items())
    elif isinstance(given, Iterable) and not isinstance(given, str | bytes):
        entries = [(entry, "listed in install(exempt=...)") for entry in exempt]
    else:
        problems.append(
            ConfigProblem(_WHERE, "exempt", f"expected path prefixes or route names, got {given!r}")
        )
        return {}
    out: dict[str, str] = {}
    for entry, reason in entries:
        if not isinstance(entry, str) or not entry or not isinstance(reason, str) or not reason:
            problems.append(
                ConfigProblem(_WHERE, "exempt", f"expected a name and a reason, got {entry!r}")
            )
        else:
            out[entry] = reason
    return out


def _requirements(dependant: object) -> list[ActionRule]:
    """The rules of every :func:`require` in a FastAPI dependency tree."""
    found: list[ActionRule] = []
    call = getattr(dependant, "call", None)
    if isinstance(call, Requirement):
        found.append(call.rule)
    for inner in getattr(dependant, "dependencies", None) or ():
        found.extend(_requirements(inner))
    return found


def _configured(path: str, name: str, exempt: Mapping[str, str]) -> str | None:
    for entry, reason in exempt.items():
        if (entry.startswith("/") and under_prefix(path, entry)) or entry == name:
            return reason
    return None


def _docs_paths(app: object) -> set[str]:
    """FastAPI's own documentation routes (exempt: they show no account's data)."""
    names = ("openapi_url", "docs_url", "redoc_url", "swagger_ui_oauth2_redirect_url")
    return {url for url in (getattr(app, n, None) for n in names) if isinstance(url, str)}


_HANDLER_METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _route_methods(route: Route | WebSocketRoute) -> list[str]:
    """The methods a route answers: an ``HTTPEndpoint`` class's handlers, a function's
    declared methods (``HEAD`` follows ``GET``), or any (``*``)."""
    if isinstance(route, WebSocketRoute):
        return ["WEBSOCKET"]
    endpoint = route.endpoint
    if isinstance(endpoint, type):
        handlers = [m for m in _HANDLER_METHODS if hasattr(endpoint, m.lower())]
        return handlers or ["*"]
    return sorted(set(route.methods or ()) - {"HEAD"}) or ["*"]


def _depends_requirements(dependencies: object) -> list[ActionRule]:
    """The rules of the ``Depends(require(...))`` in a list of FastAPI ``Depends``."""
    found: list[ActionRule] = []
    for dependency in dependencies if isinstance(dependencies, list | tuple) else ():
        call = getattr(dependency, "dependency", None)
        if isinstance(call, Requirement):
            found.append(call.rule)
    return found


def _middleware_table(app: object) -> RouteTable | None:
    """The :class:`~childsafe.RouteTable` given to the app's childsafe ASGI middleware
    (``app.add_middleware(ChildsafeMiddleware, routes=...)``), if any."""
    for entry in getattr(app, "user_middleware", None) or ():
        cls = getattr(entry, "cls", None)
        if isinstance(cls, type) and issubclass(cls, ChildsafeMiddleware):
            table = (getattr(entry, "kwargs", None) or {}).get("routes")
            if isinstance(table, RouteTable):
                return table
    return None


def _middleware_inspects(app: object) -> bool:
    """Whether the app's childsafe ASGI middleware was given a ``media_inspector``
    (what media endpoints need); ``True`` when the app has no such middleware listed
    (the endpoints then refuse per request)."""
    listed = False
    for entry in getattr(app, "user_middleware", None) or ():
        cls = getattr(entry, "cls", None)
        if isinstance(cls, type) and issubclass(cls, ChildsafeMiddleware):
            listed = True
            if (getattr(entry, "kwargs", None) or {}).get("media_inspector") is not None:
                return True
    return not listed


def _inventory(
    router: Router,
    app: object,
    exempt: Mapping[str, str],
    prefix: str = "",
    inherited: tuple[ActionRule, ...] = (),
    host: frozenset[str] = frozenset(),
    docs: frozenset[str] | None = None,
) -> list[RouteInfo]:
    """The routes of ``router`` below ``prefix``; ``inherited`` are the rules that
    dependencies of an including router add to each (FastAPI), ``host`` the parameters
    of the ``Host`` patterns above it (in each request's path parameters too), ``docs``
    the paths of the documentation routes of the (mounted) FastAPI app ``router``
    belongs to."""
    if docs is None:
        docs = frozenset(_docs_paths(app)) if not prefix else frozenset()
    table = _middleware_table(app)
    found: list[RouteInfo] = []
    for route in router.routes:
        path = prefix + str(getattr(route, "path", ""))
        name = str(getattr(route, "name", "") or "")
        configured = _configured(path, name, exempt)
        original = getattr(route, "original_router", None)
        if original is not None and isinstance(getattr(original, "routes", None), list):
            # FastAPI's included router, resolved lazily: its routes, under its prefix
            # and with the dependencies the include added.
            context = getattr(route, "include_context", None)
            added = tuple(_depends_requirements(getattr(context, "dependencies", None)))
            below = prefix + str(getattr(context, "prefix", "") or "")
            found.extend(_inventory(original, app, exempt, below, inherited + added, host))
            continue
        if isinstance(route, Mount | Host):
            inner = _inner_router(route)
            below = path if isinstance(route, Mount) else prefix
            within = host | frozenset(route.param_convertors) if isinstance(route, Host) else host
            if inner is not None:
                # A mounted FastAPI app's own documentation routes, under the mount.
                mounted = frozenset(below + url for url in _docs_paths(_mounted_app(route)))
                inner_docs = mounted if isinstance(route, Mount) else docs
                found.extend(_inventory(inner, app, exempt, below, inherited, within, inner_docs))
            else:
                reason = configured or exemption(route.app)
                shown = name or extractor_name(route.app)  # never a memory address
                described = tuple(describe_rule(r) for r in inherited)
                found.append(RouteInfo(("*",), path + "/{path}", shown, described, reason))
            continue
        if not isinstance(route, Route | WebSocketRoute):
            shown = path or type(route).__name__
            described = tuple(describe_rule(r) for r in inherited)
            found.append(RouteInfo(("*",), shown, name or shown, described, configured))
            continue
        own = inherited + tuple(_requirements(getattr(route, "dependant", None)))
        required = tuple(describe_rule(r) for r in own)
        # The parameters Starlette puts in the request's path_params: those of the
        # whole path (mounts' prefixes included) and of the hosts above it.
        params = host | frozenset(compile_path(path)[2]) if "{" in path else host
        groups: dict[tuple[tuple[str, ...], str | None, tuple[str, ...]], list[str]] = {}
        for method in _route_methods(route):
            actions, reason = route_protection(route.endpoint, method, path=path, routes=table)
            if path in docs and not actions and reason is None:
                reason = "FastAPI's API documentation"
            problems = param_problems(own + declared_rules(route.endpoint, method), params)
            key = (actions + required, reason or configured, problems)
            groups.setdefault(key, []).append(method)
        found.extend(
            RouteInfo(tuple(group), path, name, actions, reason, problems)
            for (actions, reason, problems), group in groups.items()
        )
    return found


def routes(app: Starlette) -> list[RouteInfo]:
    """Every route of a Starlette or FastAPI ``app`` (mounted apps' too) with what
    protects it: what strict mode checks and ``childsafe routes`` prints. Exemptions
    given to :func:`install` count.

    .. versionadded:: 0.1.0
    """
    declared = _declared_of(app.router)
    strict = declared.strict if declared is not None else None
    return _inventory(app.router, app, strict.exempt if strict is not None else {})


def report_endpoint(desk: ComplaintsDesk) -> Callable[[HTTPRequest], Awaitable[Response]]:
    """An endpoint filing reports on ``desk`` (``POST`` a JSON report; see
    :func:`childsafe.complaints.report_response`), exempt from strict mode; the desk's
    store is called in a worker thread, and the signed-in reporter comes from the
    middleware's request context. Starlette: ``Route("/reports", report_endpoint(desk),
    methods=["POST"])``; FastAPI: ``app.add_api_route("/reports", report_endpoint(desk),
    methods=["POST"], include_in_schema=False)``.

    .. versionadded:: 0.2.0
    """
    import anyio.to_thread  # noqa: PLC0415

    from childsafe.complaints import (  # noqa: PLC0415
        MAX_REPORT_BODY,
        REPORT_EXEMPTION,
        report_response,
    )

    @exempt(REPORT_EXEMPTION)
    async def childsafe_report(request: HTTPRequest) -> Response:
        read = b""
        async for chunk in request.stream():
            read += chunk
            if len(read) > MAX_REPORT_BODY:
                break  # refused at once (413): the rest is never read
        body: bytes | None = read if len(read) <= MAX_REPORT_BODY else None
        found = request.scope.get(CONTEXT_KEY)
        response = await anyio.to_thread.run_sync(
            lambda: report_response(
                desk,
                method=request.method,
                content_type=request.headers.get("content-type"),
                body=body,
                context=found if isinstance(found, RequestContext) else None,
            )
        )
        return as_response(response)

    # FastAPI reads the annotations; this module's are strings it cannot resolve.
    childsafe_report.__annotations__ = {"request": HTTPRequest, "return": Response}
    return childsafe_report
