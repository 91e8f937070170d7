"""Pure ASGI middleware: resolve the account, check declared routes, filter JSON.

Standard library only (no Starlette import). It forwards ``lifespan`` and any scope it
does not handle straight to the app, passes websockets through untouched unless a route
declares them, never reads a request body unless a declared route takes its target
from the JSON body, and only holds back a response when it must filter JSON: every
other ``http.response.body`` message is forwarded as it comes, so streaming keeps
flowing. The :class:`~childsafe.RequestContext` is stored in
``scope["childsafe.context"]``.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from childsafe._decision import Decision
from childsafe.exceptions import ConfigProblem, ConfigurationError
from childsafe.typing import Request
from childsafe.web import (
    CONTEXT_KEY,
    DenialResponse,
    RequestContext,
    ResponseFilter,
    declared_rule,
    filter_response_async,
    is_json,
    is_json_response,
    parse_json_body,
    render_denial,
    withheld_response,
)
from childsafe.web.context import BuiltContext
from childsafe.web.media import (
    CHUNK,
    BodyProblem,
    MediaOptions,
    Spool,
    body_problem_response,
    decide_media,
    declared_length,
    media_target_async,
    too_large,
)
from childsafe.web.middleware import MiddlewareBase
from childsafe.web.request import NO_PARAMS, ParsingRequest, ScopeRequest
from childsafe.web.routes import ActionRule

if TYPE_CHECKING:
    from childsafe.complaints import ComplaintsDesk

log = logging.getLogger("childsafe")

__all__ = [
    "ASGIApp",
    "ASGIRequest",
    "ChildsafeMiddleware",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "report_app",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


MEDIA_KEY: Final = "childsafe.media"
"""Where the middleware leaves its media options in the scope for the endpoints
``childsafe.contrib.starlette`` checks (only when a media inspector is configured)."""

DECLARED_ROUTES_ATTRIBUTE: Final = "childsafe_declared_routes"
"""Where ``childsafe.contrib.starlette`` keeps a router's layer checking its declared
endpoints once the layer is out of the router's ``middleware_stack`` (the app's
middleware then checks for changed routes in its place)."""

WS_POLICY_VIOLATION = 1008
"""The websocket close code sent when a declared websocket route is denied."""

_SEQUENCES: Final = frozenset({list, tuple})
# Header names childsafe reads, as servers send them (what ASGIRequest.header compares).
_HEADER_NAMES: Final = {
    name: name.lower().encode("latin-1")
    for name in (
        "authorization",
        "Authorization",
        "cookie",
        "content-type",
        "Content-Type",
        "content-length",
        "accept-language",
        "x-request-id",
        "childsafe-confirm",
        "Childsafe-Confirm",
    )
}


class ASGIRequest(ScopeRequest, ParsingRequest):
    """A :class:`~childsafe.Request` over an ASGI scope; parses only what is asked."""

    __slots__ = ("_headers", "_json", "body", "scope")
    _headers: Sequence[tuple[bytes, bytes]]
    _json: object

    def __init__(self, scope: Scope, params: Mapping[str, str] | None = None) -> None:
        self.scope = scope
        self._params = params or NO_PARAMS
        self.body: bytes | None = None
        # _headers, _cookies, _query and _json are set when first read.

    def header(self, name: str) -> str | None:
        """A header's value; repeated headers are joined with commas (cookies with ";").

        Only the value asked for is decoded. Names are compared as servers send them, in
        lower case (what the ASGI spec asks for); only when none matches are the names
        compared again case-insensitively, so a header is found whatever its case (but
        when a lower-case name matches, other spellings of it are not read).
        """
        try:  # a subscript: cheaper than .get() for the names childsafe reads
            wanted = _HEADER_NAMES[name]
        except KeyError:
            try:
                wanted = name.lower().encode("latin-1")
            except UnicodeEncodeError:
                return None  # no header can have that name
        try:  # a subscript: cheaper than .get() when present, as servers make it
            headers = self.scope["headers"]
        except KeyError:
            headers = ()
        if headers.__class__ is not list and type(headers) not in _SEQUENCES:
            try:
                headers = self._headers
            except AttributeError:  # kept, so a one-shot iterable can be read again
                headers = self._headers = list(headers)
        value = None
        found: list[bytes] | None = None
        for raw_key, raw_value in headers:  # a loop: cheaper than a comprehension here
            if raw_key == wanted:
                if value is None:
                    value = raw_value
                elif found is None:
                    found = [value, raw_value]
                else:
                    found.append(raw_value)
        if found is None:
            if value is not None:
                return (value if value.__class__ is bytes else bytes(value)).decode("latin-1")
            size = len(wanted)
            found = [
                raw_value
                for raw_key, raw_value in headers
                if len(raw_key) == size and bytes(raw_key).lower() == wanted
            ]
            if not found:
                return None
            if len(found) == 1:
                return bytes(found[0]).decode("latin-1")
        separator = "; " if wanted == b"cookie" else ", "
        return separator.join(bytes(v).decode("latin-1") for v in found)

    def _cookie_header(self) -> str:
        return self.header("cookie") or ""

    def _query_string(self) -> str:
        return bytes(self.scope.get("query_string", b"")).decode("latin-1")

    def path_param(self, name: str) -> str | None:
        try:  # a mapping or a match: both are read by name
            return self._params[name]
        except LookupError:
            pass
        framework_params = self.scope.get("path_params")
        if isinstance(framework_params, dict) and name in framework_params:
            return str(framework_params[name])
        return None

    def json(self) -> object:
        """The JSON body if the middleware read it for a declared route, else ``None``."""
        try:
            return self._json
        except AttributeError:  # parsed once the body was read
            pass
        parsed: object = None
        if self.body is not None and is_json(self.header("content-type")):
            parsed = parse_json_body(self.body)
        if self.body is not None:
            self._json = parsed
        return parsed


class _ASGIRequestOfScope(ASGIRequest):
    """The :class:`ASGIRequest` the middleware builds per request, its attributes set by
    the caller: called without ``__init__``, which is cheaper than both the class call
    and ``object.__new__`` (a call that packs its arguments)."""

    __slots__ = ()
    __init__ = object.__init__


class ChildsafeMiddleware(MiddlewareBase["ASGIApp"]):
    """ASGI middleware enforcing a :class:`~childsafe.Guard` on every request.

    The same options as :class:`childsafe.wsgi.ChildsafeMiddleware`; ``repository`` may
    be sync or async (:class:`~childsafe.AsyncAccountRepository`), and resolvers may be
    coroutine functions. A denied websocket route is closed with code 1008.
    """

    adapter = "asgi"
    sync_only = False

    # Learnt from the app behind on the first request (scope["app"]): whether its
    # declarations are checked, and whether it checks its own routes in strict mode (a
    # Starlette or FastAPI app given to childsafe.contrib.starlette.install).
    _declarations_checked = False
    _app_checks_routes = False
    # The app checks its own routes and this middleware has no route table to match.
    _routes_elsewhere = False
    # The app's own check for routes changed since they were checked, when it is handed
    # to this middleware to run on each request (see _into_app): the layer
    # childsafe.contrib.starlette.install gave the app's router (its `router`, the
    # number of routes it has `seen`, and `sync()`).
    _routes_layer: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: PLR0915 - the hot path stays inline
        try:  # a subscript: cheaper than .get() when present, as the ASGI spec asks
            kind = scope["type"]
        except KeyError:
            kind = None
        if kind == "http":
            websocket = False
            if not self._declarations_checked:
                self._first_request(scope.get("app"))
        elif kind == "websocket":
            websocket = True
            if not self._declarations_checked:
                self._first_request(scope.get("app"))
        else:
            await self.app(scope, receive, send)
            return
        if self._routes_elsewhere:
            await self._into_app(scope, receive, send)
            return
        request = _ASGIRequestOfScope()  # ASGIRequest(scope), without its __init__
        request.scope = scope
        request._params = NO_PARAMS  # noqa: SLF001
        request.body = None
        rule = match = None
        undeclared = False
        if self._has_routes or not self._app_checks_routes:
            try:  # subscripts: cheaper than .get() when present, as servers make them
                method = "WEBSOCKET" if websocket else scope["method"]
                path = scope["path"]
            except KeyError:
                method = path = None
            if method.__class__ is not str or not method:
                method = request.method
            if path.__class__ is not str or not path or scope.get("root_path"):
                path = request.path
            found = self._find(method, path)
            if found is not None:
                rule, match = found
                request._params = match  # noqa: SLF001 - the match, read by name
            else:
                undeclared = self._refused(method, path, checked_elsewhere=self._app_checks_routes)
        if websocket and rule is None and not undeclared:
            await self.app(scope, receive, send)
            return
        context = self._chain.context_eager(self.guard, request, self.repository)
        if type(context) is not BuiltContext and not isinstance(context, RequestContext):
            context = await context  # an async resolver
        scope[CONTEXT_KEY] = context
        if self.media.inspector is not None:
            # For endpoints checked by childsafe.contrib.starlette (media routes).
            scope[MEDIA_KEY] = self.media
        if rule is not None:
            if rule.reads_media and not websocket:
                await self._media(rule, request, context, scope, receive, send)
                return
            if rule.needs_body and not websocket:
                receive = await self._buffer_body(request, receive)
            decision = context.check_rule_eager(rule, request, match)
            if decision.__class__ is not Decision and not isinstance(decision, Decision):
                decision = await decision  # an async repository
            if not decision.allowed:
                if websocket:
                    await _refuse_websocket(receive, send, decision.reason.value)
                else:
                    await _send_response(send, render_denial(self.renderer, decision, request))
                return
        elif undeclared:
            method = "WEBSOCKET" if websocket else request.method
            decision = context.refuse_undeclared(method, request.path)
            if websocket:
                await _refuse_websocket(receive, send, decision.reason.value)
            else:
                await _send_response(send, render_denial(self.renderer, decision, request))
            return
        if self.response_filter is None or websocket:
            await self.app(scope, receive, send)
            return
        await self.app(
            _without_pathsend(scope), receive, _FilteringSend(send, context, self.response_filter)
        )

    def _into_app(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """A request to an app that checks its own routes (a Starlette or FastAPI app
        given to ``childsafe.contrib.starlette.install``) when this middleware has no
        route table: the context put in the scope, then the app. Not a coroutine: while
        the resolvers answer at once, what it returns is the app's own awaitable, so a
        caller that awaits what it returns (Starlette's middleware stack, to which
        ``install`` hands this method as the middleware's ``__call__``) runs no
        coroutine of this middleware's. Websockets pass through untouched (no route
        table declares them), as do scopes that are not HTTP. Before the first request
        (or for any other app) it is :meth:`__call__` itself."""
        layer = self._routes_layer  # only ever set once _routes_elsewhere is
        if layer is not None:
            if len(layer.router.routes) != layer.seen:
                layer.sync()  # routes added since the last request: checked before any is served
        elif not self._routes_elsewhere:
            return ChildsafeMiddleware.__call__(self, scope, receive, send)
        try:  # a subscript: cheaper than .get() when present, as the ASGI spec asks
            kind = scope["type"]
        except KeyError:
            kind = None
        if kind != "http":
            return self.app(scope, receive, send)
        request = _ASGIRequestOfScope()  # ASGIRequest(scope), without its __init__
        request.scope = scope
        request._params = NO_PARAMS  # noqa: SLF001
        request.body = None
        context = self._chain.context_eager(self.guard, request, self.repository)
        if type(context) is not BuiltContext and not isinstance(context, RequestContext):
            return self._into_app_awaiting(context, scope, receive, send)  # an async resolver
        scope[CONTEXT_KEY] = context
        if self.media.inspector is not None:
            scope[MEDIA_KEY] = self.media  # for the media routes the app checks
        if self.response_filter is None:
            return self.app(scope, receive, send)
        return self.app(
            _without_pathsend(scope), receive, _FilteringSend(send, context, self.response_filter)
        )

    async def _into_app_awaiting(
        self,
        pending: Awaitable[RequestContext],
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """The rest of :meth:`_into_app` once an async resolver answered."""
        context = await pending
        scope[CONTEXT_KEY] = context
        if self.media.inspector is not None:
            scope[MEDIA_KEY] = self.media
        if self.response_filter is None:
            await self.app(scope, receive, send)
        else:
            await self.app(
                _without_pathsend(scope),
                receive,
                _FilteringSend(send, context, self.response_filter),
            )

    async def _media(
        self,
        rule: ActionRule,
        request: ASGIRequest,
        context: RequestContext,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """A media route: spool, inspect (in a thread), decide; then the app with the
        body replayed."""
        renderer = self.renderer

        def deny(decision: Decision) -> Awaitable[None]:
            return _send_response(send, render_denial(renderer, decision, request))

        passed = await media_passed_async(self.media, rule, request, context, receive, send, deny)
        if passed is None:
            return  # refused, or the client went away
        replay, spool = passed
        try:
            if self.response_filter is None:
                await self.app(scope, replay, send)
            else:
                await self.app(
                    _without_pathsend(scope),
                    replay,
                    _FilteringSend(send, context, self.response_filter),
                )
        finally:
            spool.close()

    def _first_request(self, app: object) -> None:
        """What is learnt once, from the app behind (``scope["app"]``): the adapter's
        name for events, whether it checks its own routes, and that its declarations
        are checked at all."""
        self._chain.adapter = _adapter_name(app)
        self._app_checks_routes = _checks_own_routes(app)
        self._routes_elsewhere = self._app_checks_routes and not self._has_routes
        self._declarations_checked = _check_declarations(app)

    async def _buffer_body(self, request: ASGIRequest, receive: Receive) -> Receive:
        """Read the body (at most ``max_body`` bytes) so the target can be taken from
        it, then hand the app a ``receive`` that replays what was read."""
        request.body, replay = await _read_body(receive, self.max_body)
        return replay


def _adapter_name(app: object) -> str:
    """The name events give the adapter: ``fastapi`` or ``starlette`` for an app of
    theirs behind this middleware (``scope["app"]``), else ``asgi``. Duck-typed: no
    framework is imported."""
    for cls in type(app).__mro__:
        package = cls.__module__.partition(".")[0]
        if package in {"fastapi", "starlette"}:
            return package
    return "asgi"


def _checks_own_routes(app: object) -> bool:
    """Whether ``app`` is a Starlette or FastAPI app whose routes
    ``childsafe.contrib.starlette.install(app)`` checks (strict mode included)."""
    return _routes_checked(getattr(app, "router", None))


def _routes_checked(router: object) -> bool:
    """Whether ``childsafe.contrib.starlette.install`` put its layer in ``router``'s
    ``middleware_stack`` (the layer's bound ``__call__``, or the layer itself), or kept
    it on the router (``DECLARED_ROUTES_ATTRIBUTE``)."""
    stack = getattr(router, "middleware_stack", None)
    layer = getattr(stack, "__self__", stack)
    if getattr(layer, "checks_declared_endpoints", False):
        return True
    kept = getattr(router, DECLARED_ROUTES_ATTRIBUTE, None)
    return bool(getattr(kept, "checks_declared_endpoints", False))


def _check_declarations(app: object) -> bool:
    """Refuse to serve a Starlette or FastAPI app (``scope["app"]``) whose endpoints
    carry :func:`childsafe.action` while nothing checks them: without
    ``childsafe.contrib.starlette.install(app)`` the declarations would be ignored.
    Only the app's own routes are looked at; ``install`` looks at the rest.
    Duck-typed, so this module imports no framework. ``True`` once found sound."""
    router = getattr(app, "router", None)
    routes = getattr(router, "routes", None)
    if not isinstance(routes, list):
        return True  # not a Starlette app: nothing to look at
    if _routes_checked(router):
        return True
    declared = [
        getattr(route, "path", repr(route))
        for route in routes
        if declared_rule(getattr(route, "endpoint", None)) is not None
    ]
    if declared:
        raise ConfigurationError(
            [
                ConfigProblem(
                    "childsafe.asgi.ChildsafeMiddleware",
                    "install",
                    f"endpoints declared with @childsafe.action ({', '.join(map(str, declared))}) "
                    "are not checked: call childsafe.contrib.starlette.install(app) (in FastAPI, "
                    "declare them with Depends(require(...)) instead). The request was not "
                    "allowed.",
                )
            ]
        )
    return True


async def _read_body(receive: Receive, max_body: int) -> tuple[bytes | None, Receive]:
    """Read a request body of at most ``max_body`` bytes: ``(body, replay)``, where
    ``replay`` is a ``receive`` giving the app every message read, then the rest.

    ``body`` is ``None`` when the body is larger than ``max_body`` or the client went
    away before sending all of it; the app still gets what was read.
    """
    messages: list[Message] = []
    size = 0
    complete = False
    while True:
        message = await receive()
        messages.append(message)
        if message.get("type") != "http.request":
            break  # http.disconnect: the client went away
        size += len(message.get("body", b""))
        if size > max_body:
            break
        if not message.get("more_body", False):
            complete = True
            break
    body = b"".join(bytes(m.get("body", b"")) for m in messages) if complete else None
    pending = deque(messages)

    async def replay() -> Message:
        if pending:
            return pending.popleft()
        return await receive()

    return body, replay


async def media_passed_async(
    options: MediaOptions,
    rule: ActionRule,
    request: Request,
    context: RequestContext,
    receive: Receive,
    send: Send,
    deny: Callable[[Decision], Awaitable[None]],
) -> tuple[Receive, Spool] | None:
    """:func:`media_request_async` for a middleware that answers refusals itself: a
    refusal of the body is sent as its problem document, a denial is answered by
    ``deny(decision)`` (the adapter's renderer), and then, as when the client went
    away, this is ``None``; else the ``receive`` replaying the body and the spool to
    close after the app ran."""
    outcome = await media_request_async(options, rule, request, context, receive)
    if outcome is None:
        return None
    if isinstance(outcome, DenialResponse):
        await _send_response(send, outcome)
        return None
    if isinstance(outcome, Decision):
        await deny(outcome)
        return None
    return outcome


async def media_request_async(
    options: MediaOptions,
    rule: ActionRule,
    request: Request,
    context: RequestContext,
    receive: Receive,
) -> DenialResponse | Decision | tuple[Receive, Spool] | None:
    """An ASGI media route's request: its body spooled from ``receive`` (under the
    cap), each image inspected and decided in a worker thread. A refusal of the body
    (413, 400...), a denial to render, ``None`` when the client went away, or a
    ``receive`` replaying the body and the spool to close after the app ran. What the
    ASGI, Starlette and FastAPI adapters share."""
    import anyio.to_thread  # noqa: PLC0415 - only media routes need it

    spool: Spool | None = None
    try:
        declared = declared_length(request.header("content-length"))
        if declared is not None and declared > options.max_body:
            return body_problem_response(too_large(options.max_body))
        target = await media_target_async(context, rule, request)
        if isinstance(target, Decision):
            return target
        spool = Spool(options.max_body, declared, options.temp_dir)
        while True:
            message = await receive()
            if message.get("type") != "http.request":
                return None  # http.disconnect: nothing to answer
            spool.write(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                break
        spool.finish()
        try:
            outcome = await anyio.to_thread.run_sync(
                decide_media, context, rule, request, spool, options, target
            )
        except BodyProblem:
            raise
        except Exception as e:  # noqa: BLE001 - a media check never becomes a 500
            return context._unverifiable(rule.action, e)  # noqa: SLF001
        if not outcome.decision.allowed:
            return outcome.decision
        replay = _replay(spool.replay_file(), spool.size, receive)
        done, spool = spool, None
    except BodyProblem as problem:
        return body_problem_response(problem)
    finally:
        if spool is not None:
            spool.close()
    return replay, done


def _replay(body: Any, size: int, receive: Receive) -> Receive:  # noqa: ANN401 - a binary file
    """A ``receive`` giving the app the spooled body as ``http.request`` messages, then
    whatever the client sends next (``http.disconnect``)."""
    sent = 0
    finished = False

    async def replay() -> Message:
        nonlocal sent, finished
        if finished:
            return await receive()
        chunk = body.read(CHUNK)
        sent += len(chunk)
        more = sent < size and bool(chunk)
        if not more:
            finished = True
            body.close()
        return {"type": "http.request", "body": chunk, "more_body": more}

    return replay


async def _refuse_websocket(receive: Receive, send: Send, reason: str) -> None:
    """Close a websocket handshake with 1008 (the server answers the upgrade with 403)."""
    message = await receive()
    if message.get("type") == "websocket.connect":
        await send({"type": "websocket.close", "code": WS_POLICY_VIOLATION, "reason": reason})


async def _send_response(send: Send, response: DenialResponse) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": response.status,
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers],
        }
    )
    await send({"type": "http.response.body", "body": response.body})


def _without_pathsend(scope: Scope) -> Scope:
    """``scope`` without the ``http.response.pathsend`` extension, so file responses
    arrive as body messages: a JSON file can then be filtered, and nothing blocks."""
    extensions = scope.get("extensions")
    if not isinstance(extensions, dict) or "http.response.pathsend" not in extensions:
        return scope
    scope = dict(scope)
    scope["extensions"] = {k: v for k, v in extensions.items() if k != "http.response.pathsend"}
    return scope


def _content_type(message: Message) -> str | None:
    for key, value in message.get("headers", ()):
        if bytes(key).lower() == b"content-type":
            return bytes(value).decode("latin-1")
    return None


class _FilteringSend:
    """Wraps ``send``: JSON responses are held and filtered; every other message is
    forwarded as it comes (streams, ``more_body``, trailers)."""

    __slots__ = ("chunks", "context", "filter", "send", "start", "withheld")

    def __init__(
        self, send: Send, context: RequestContext, response_filter: ResponseFilter
    ) -> None:
        self.send = send
        self.context = context
        self.filter = response_filter
        self.start: Message | None = None
        self.chunks: list[bytes] = []
        self.withheld = False

    async def __call__(self, message: Message) -> None:
        start = self.start
        if start is None:
            if self.withheld:
                return  # the rest of a response that was replaced by a 500
            if message.get("type") == "http.response.start" and is_json_response(
                _content_type(message)
            ):
                self.start, self.chunks = message, []
                return
            await self.send(message)
            return
        kind = message.get("type")
        if kind == "http.response.body":
            self.chunks.append(bytes(message.get("body", b"")))
            if message.get("more_body", False):
                return
            raw = b"".join(self.chunks)
        else:
            # http.response.pathsend (hidden from the app, which should not use it) or an
            # extension this middleware cannot read: the JSON cannot be checked.
            log.error("childsafe: cannot filter a JSON response sent as %r; withholding it", kind)
            await self._withhold()
            return
        self.start, self.chunks = None, []
        await self._finish(start, raw)

    async def _withhold(self) -> None:
        self.start, self.chunks, self.withheld = None, [], True
        await _send_response(self.send, withheld_response())

    async def _finish(self, start: Message, raw: bytes) -> None:
        headers = [
            (bytes(k).decode("latin-1"), bytes(v).decode("latin-1"))
            for k, v in start.get("headers", ())
        ]
        outcome = await filter_response_async(self.context, self.filter, raw, headers)
        if isinstance(outcome, DenialResponse):
            await self._withhold()
            return
        body, new_headers = outcome
        if new_headers != headers:
            start = dict(start)
            start["headers"] = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in new_headers]
        await self.send(start)
        await self.send({"type": "http.response.body", "body": body})


def report_app(desk: ComplaintsDesk) -> ASGIApp:
    """An ASGI app filing reports on ``desk`` (``POST`` a JSON report; see
    :func:`childsafe.complaints.report_response`); the desk's store is called in a
    worker thread. Behind :class:`ChildsafeMiddleware` the signed-in reporter comes
    from the request context, and the path needs the route table's exemption
    (:data:`childsafe.complaints.REPORT_EXEMPTION`).

    .. versionadded:: 0.2.0
    """
    import anyio.to_thread  # noqa: PLC0415

    from childsafe.complaints import MAX_REPORT_BODY, report_response  # noqa: PLC0415

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        read = b""
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            read += message.get("body", b"")
            if len(read) > MAX_REPORT_BODY:
                break  # refused at once (413): the rest is never read
            more = message.get("more_body", False)
        body: bytes | None = read if len(read) <= MAX_REPORT_BODY else None
        headers = dict(scope.get("headers", ()))
        raw_type = headers.get(b"content-type")
        context = scope.get(CONTEXT_KEY)
        response = await anyio.to_thread.run_sync(
            lambda: report_response(
                desk,
                method=str(scope.get("method", "GET")),
                content_type=None if raw_type is None else bytes(raw_type).decode("latin-1"),
                body=body,
                context=context if isinstance(context, RequestContext) else None,
            )
        )
        await _send_response(send, response)

    return app
