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
``application/problem+json`` (or what your renderer returns).

Install it with ``pip install 'childsafe[starlette]'`` (or ``'childsafe[fastapi]'``).

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from childsafe._decision import Decision
from childsafe._web import (
    CONTEXT_KEY,
    ActionRule,
    DenialResponse,
    Extractor,
    Request,
    RequestContext,
    is_json,
    problem_details,
    problem_response,
    render_denial,
)
from childsafe.asgi import WS_POLICY_VIOLATION
from childsafe.exceptions import ConfigProblem, ConfigurationError, MissingExtraError

try:
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException, WebSocketException
    from starlette.requests import HTTPConnection
    from starlette.requests import Request as HTTPRequest
    from starlette.responses import Response
except ImportError:
    raise MissingExtraError(
        "childsafe.contrib.starlette needs Starlette; install it with: "
        "pip install 'childsafe[starlette]' (or 'childsafe[fastapi]' for FastAPI)"
    ) from None

__all__ = [
    "ChildsafeDenied",
    "Requirement",
    "StarletteRenderer",
    "StarletteRequest",
    "as_response",
    "context",
    "denial_handler",
    "denial_response",
    "get_context",
    "install",
    "require",
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


class StarletteRequest:
    """A :class:`~childsafe.Request` over a Starlette request or websocket.

    It reads what the endpoint will read: Starlette's own headers, cookies, query and
    path parameters, so the target checked is the target the endpoint acts on. A query
    parameter repeated with different values (``?to=a&to=b``) is ambiguous and gives
    ``None``, so a declaration on it fails closed. The JSON body is available once
    :meth:`load_json` has read it (:func:`require` does, for ``json_field`` targets).
    """

    __slots__ = ("_json", "connection")

    def __init__(self, connection: HTTPConnection) -> None:
        self.connection = connection
        self._json: object = None

    @property
    def method(self) -> str:
        """The HTTP method, or ``WEBSOCKET`` for a websocket (as in a route table)."""
        scope = self.connection.scope
        if scope.get("type") == "websocket":
            return "WEBSOCKET"
        return str(scope.get("method", "GET")).upper()

    @property
    def path(self) -> str:
        """The path below the app's mount point (``root_path`` removed)."""
        scope = self.connection.scope
        path = str(scope.get("path", "/"))
        root = str(scope.get("root_path", ""))
        if root and path.startswith(root) and path[len(root) : len(root) + 1] in {"", "/"}:
            path = path[len(root) :]
        return path or "/"

    def header(self, name: str) -> str | None:
        """A header's value; repeated headers are joined with commas."""
        values = self.connection.headers.getlist(name)
        return ", ".join(values) if values else None

    def cookie(self, name: str) -> str | None:
        return self.connection.cookies.get(name)

    def query(self, name: str) -> str | None:
        """A query parameter; ``None`` when absent or given twice with different values."""
        values = self.connection.query_params.getlist(name)
        if not values or any(v != values[0] for v in values):
            return None
        return values[0]

    def path_param(self, name: str) -> str | None:
        value = self.connection.path_params.get(name)
        return None if value is None else str(value)

    def json(self) -> object:
        """The parsed JSON body once :meth:`load_json` has read it, else ``None``."""
        return self._json

    async def load_json(self) -> None:
        """Read and parse the request body, as FastAPI does for a JSON body: when the
        content type is JSON or absent. A body that cannot be read or parsed leaves
        :meth:`json` ``None``. Websockets have no body."""
        connection = self.connection
        if not isinstance(connection, HTTPRequest):
            return
        content_type = self.header("content-type")
        if content_type is not None and not is_json(content_type):
            return
        try:
            raw = await connection.body()
            self._json = json.loads(raw) if raw else None
        except Exception as e:  # noqa: BLE001 - an unreadable body has no target
            log.warning("childsafe: could not read the JSON body of %s: %r", self.path, e)


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

    __slots__ = ("_needs_body", "rule")

    def __init__(self, rule: ActionRule) -> None:
        self.rule = rule
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
        if self._needs_body:
            await request.load_json()
        decision = found.check_rule_eager(self.rule, request)
        if not isinstance(decision, Decision):
            decision = await decision  # an async repository
        if decision.allowed:
            return found
        if request.method == "WEBSOCKET":
            raise WebSocketException(WS_POLICY_VIOLATION, decision.reason.value)
        raise ChildsafeDenied(decision, request)


def _describe(extractor: Extractor) -> str:
    """``path_param('user_id')`` for the built-in extractors, else the callable's repr."""
    kind = type(extractor).__name__
    name = getattr(extractor, "name", None)
    calls = {"_PathParam": "path_param", "_QueryParam": "query_param", "_JsonField": "json_field"}
    if kind in calls and isinstance(name, str):
        return f"{calls[kind]}({name!r})"
    return repr(extractor)


def require(
    action: str, *, target: Extractor | None = None, sensitivity: str | None = None
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
    read only for such declarations). Mistakes (an unknown action, a missing target)
    raise :class:`~childsafe.exceptions.ConfigurationError` when declared.
    """
    return Requirement(ActionRule(action, target, sensitivity))


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
    try:
        rendered = renderer(decision, request)
    except Exception:
        log.exception("childsafe: the denial renderer raised; answering problem+json")
        rendered = problem_response(decision, request)
    if isinstance(rendered, Response):
        response = rendered
    else:
        # Checks a DenialResponse (bytes body, status, latin-1 headers), else the default.
        response = as_response(render_denial(lambda _d, _r: rendered, decision, request))
    if response.status_code < 300:
        response.status_code = 403
    return response


def denial_handler(renderer: StarletteRenderer = problem_response) -> DeniedHandler:
    """An exception handler answering :class:`ChildsafeDenied` with ``renderer``, for
    ``Starlette(exception_handlers={ChildsafeDenied: denial_handler()})``."""

    async def handle_denial(request: HTTPRequest, exc: Exception) -> Response:
        del request  # the one the check saw travels with the exception
        if not isinstance(exc, ChildsafeDenied):
            raise exc
        return _render(renderer, exc.decision, exc.request)

    return handle_denial


def install(app: Starlette, *, renderer: StarletteRenderer = problem_response) -> None:
    """Answer :class:`ChildsafeDenied` from :func:`require` with ``renderer`` (default:
    ``403`` ``application/problem+json``). Call it before the app starts, next to
    ``app.add_middleware(ChildsafeMiddleware, ...)``. Works for FastAPI apps too."""
    app.add_exception_handler(ChildsafeDenied, denial_handler(renderer))
