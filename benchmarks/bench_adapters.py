"""Per-request cost of each web adapter, against the same app without childsafe.

One endpoint everywhere: ``POST /users/{user_id}/messages`` (send a direct message),
answering ``201`` with ``{"sent": true}``. The request is the connected aunt messaging a
15-year-old, so the check allows it and the endpoint runs; the account comes from an
``Authorization: Bearer`` token already verified and cached (a dict lookup), and the
repository is in memory (a dict of accounts, one of prebuilt relationships). Each app
exists bare and with childsafe:

* plain WSGI callable vs ``childsafe.wsgi.ChildsafeMiddleware`` (route table);
* Flask vs Flask + ``childsafe.contrib.flask.ChildSafe`` (``@action`` on the view);
* Django vs Django + ``childsafe.contrib.django`` middleware (``@action`` on the view);
* plain ASGI callable vs ``childsafe.asgi.ChildsafeMiddleware`` (route table);
* Starlette vs Starlette + the ASGI middleware + ``install(app)``, ``@action`` on the
  endpoint (and, for comparison, ``require(...)`` awaited in the endpoint);
* FastAPI vs FastAPI + the ASGI middleware + a ``Depends(require(...))`` dependency
  (and, for comparison, a route table).

Each of the six adapters also has a hand-written floor: a guard doing the same work
(the bearer token, the same repository, ``Guard.check``, 403 problem+json) in the
framework's own hook (a WSGI or ASGI middleware, Flask's ``before_request``, Django's
``process_view``, a Starlette route middleware, a FastAPI dependency).

0. **Instructions** (the target): under Valgrind, the instructions each app executes
   per request, in two independent runs; childsafe may add at most 1.5x what the floor
   adds to the bare app. ``--only-instructions`` prints just this.

1. **In process**: each app is called directly (WSGI with a prebuilt environ, ASGI with
   a prebuilt scope in one event loop), interleaved sample by sample, a framework's
   variants back to back; the overhead is the median of the per-round differences. The
   same apps with a response filter are timed too.
2. **Real servers** on 127.0.0.1: gunicorn (2 sync workers) for Flask and Django,
   uvicorn for Starlette and FastAPI, driven by ``wrk`` (or, without it, a small
   keep-alive client in subprocesses) for a bounded time; requests per second and the
   ratio with childsafe / bare. The bare and childsafe servers of a framework are driven
   at the same time, sharing one CPU, so a change in the machine's speed hits both alike
   (``--one-at-a-time`` drives them in turn). Every server is stopped at the end, error
   or not.

Run it with ``python3 benchmarks/bench_adapters.py`` (about twenty minutes on two CPUs,
most of it under Valgrind);
``--write`` also updates the ``adapters`` section of ``benchmarks/RESULTS.md``
(between its markers) and leaves the rest of the file alone. ``--no-servers`` runs only
the in-process part. The servers import this module by name (``bench_adapters:...``).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import functools
import gc
import http.client
import io
import json
import logging
import math
import multiprocessing
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import types
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

from fastapi import Depends, FastAPI
from flask import Flask
from flask import Response as FlaskResponse
from flask import request as flask_request
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection
from starlette.requests import Request as StarletteHTTPRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import _harness
from childsafe import (
    Account,
    Guard,
    Relationship,
    RequestContext,
    ResponseFilter,
    RouteTable,
    action,
    action_rule,
    bearer_token,
    exempt,
    path_param,
)
from childsafe.asgi import ASGIRequest
from childsafe.asgi import ChildsafeMiddleware as ASGIChildsafe
from childsafe.contrib.flask import ChildSafe
from childsafe.contrib.starlette import install, require
from childsafe.web import ResolverChain, resolve
from childsafe.wsgi import ChildsafeMiddleware as WSGIChildsafe
from childsafe.wsgi import WSGIRequest

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

HERE: Final = _harness.HERE
RESULTS: Final = _harness.RESULTS
COMMAND: Final = "python3 benchmarks/bench_adapters.py --write"

# Targets from the issue.
MAX_OVERHEAD_US: Final = 10.0
MIN_RATIO_UVICORN: Final = 0.90
MIN_RATIO_GUNICORN: Final = 0.95
SEED: Final = 20261201  # the in-process order is shuffled each round, the same way each run

# -- the shared cast: a 15-year-old, her connected aunt, a stranger ----------------

SAM: Final = Account(id="sam", band="13_15", jurisdiction="GB")
AUNT: Final = Account(id="aunt_jo", band="adult", jurisdiction="GB")
STRANGER: Final = Account(id="stranger", band="adult", jurisdiction="GB")
TOKENS: Final = {"t-aunt": AUNT, "t-stranger": STRANGER, "t-sam": SAM}
ALLOWED_TOKEN: Final = "t-aunt"
DENIED_TOKEN: Final = "t-stranger"
PATH: Final = "/users/sam/messages"
STRANGERS: Final = Relationship()
SENT: Final = b'{"sent":true}'
_DM_PATH: Final = re.compile(r"/users/([^/]+)/messages/?")


def verify(token: str) -> Account | None:
    """The token was verified at sign-in and cached: one dict lookup."""
    return TOKENS.get(token)


class Accounts:
    """The app's accounts, in memory: by id, and how each pair relates, as prebuilt
    (immutable, so shareable) `Relationship` objects, the way an app caching its social
    graph would hold them. The tables then measure childsafe rather than the app's own
    lookup; building a `Relationship` is timed on its own in the pieces table."""

    def __init__(self) -> None:
        self.accounts = {a.id: a for a in (SAM, AUNT, STRANGER)}
        connected = Relationship(connected=True)
        self.relationships = {("aunt_jo", "sam"): connected, ("sam", "aunt_jo"): connected}

    def get_account(self, account_id: str) -> Account | None:
        return self.accounts.get(account_id)

    def relationship(self, actor: Account, target: Account) -> Relationship:
        return self.relationships.get((actor.id, target.id), STRANGERS)


GUARD: Final = Guard()
REPOSITORY: Final = Accounts()
RESOLVERS: Final = (bearer_token(verify),)
SEND_DM_RULE: Final = action_rule("dm.send", target=path_param("user_id"))
ROUTES: Final = RouteTable({"POST /users/{user_id}/messages": SEND_DM_RULE})
SEND_DM: Final = require("dm.send", target=path_param("user_id"))
DECLARE_DM: Final = action("dm.send", target=path_param("user_id"))


# -- the apps --------------------------------------------------------------------

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# How each app is built: without childsafe; with only the framework's integration point
# (an empty middleware, hook or dependency: what the framework charges for any such
# extension); with childsafe; with childsafe and a response filter.
BARE: Final = "bare"
HOOK: Final = "empty hook"
WRAPPED: Final = "childsafe"
FILTERED: Final = "childsafe + response filter"
# A hand-written guard doing the same work as childsafe in the framework's own hook:
# the floor an adapter is measured against (built for the six adapters, not the
# alternatives).
FLOOR: Final = "hand-written"
VARIANTS: Final = (BARE, HOOK, WRAPPED, FILTERED)


# -- the hand-written floors ---------------------------------------------------------

# What every floor does, as an app author would write it without childsafe: read the
# bearer token, resolve the account with the same `verify`, load the target and the
# relationship through the same repository, decide with the same `Guard.check`, and
# answer a denial with 403 problem+json (a missing account is denied too).
PROBLEM_TYPE: Final = "https://childsafe.readthedocs.io/en/latest/decisions.html#"
PROBLEM_HEADERS: Final = (
    ("content-type", "application/problem+json"),
    ("cache-control", "no-store"),
)


def hand_check(authorization: str | None, user_id: str | None) -> bytes | None:
    """The floor's check of ``dm.send`` to ``user_id``: ``None`` when allowed, else the
    problem+json body to answer ``403`` with."""
    actor = None
    if authorization is not None and authorization[:7].lower() == "bearer ":
        actor = verify(authorization[7:].strip())
    target = REPOSITORY.get_account(user_id) if user_id else None
    if actor is None or target is None:
        reason = "unverifiable"
    else:
        decision = GUARD.check("dm.send", actor, target, REPOSITORY.relationship(actor, target))
        if decision.allowed:
            return None
        reason = decision.reason.value
    problem = {
        "type": PROBLEM_TYPE + reason,
        "title": "Not allowed by child-safety settings",
        "status": 403,
        "reason": reason,
        "action": "dm.send",
    }
    return json.dumps(problem, separators=(",", ":")).encode()


def scope_header(scope: Scope, name: bytes) -> str | None:
    """A header of an ASGI scope, read by hand (``name`` in lower case)."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def send_problem(send: Send, body: bytes) -> None:
    """A 403 problem+json answer on an ASGI connection."""
    headers = [(k.encode(), v.encode()) for k, v in PROBLEM_HEADERS]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class WSGIHandWritten:
    """The floor for the WSGI middleware: a hand-written WSGI middleware matching the
    route with a regular expression."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] == "POST":
            found = _DM_PATH.fullmatch(environ["PATH_INFO"])
            if found is not None:
                denied = hand_check(environ.get("HTTP_AUTHORIZATION"), found.group(1))
                if denied is not None:
                    headers = [*PROBLEM_HEADERS, ("content-length", str(len(denied)))]
                    start_response("403 Forbidden", headers)
                    return [denied]
        return self.app(environ, start_response)


class ASGIHandWritten:
    """The floor for the ASGI middleware: a hand-written ASGI middleware matching the
    route with a regular expression."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            found = _DM_PATH.fullmatch(scope["path"])
            if found is not None:
                denied = hand_check(scope_header(scope, b"authorization"), found.group(1))
                if denied is not None:
                    await send_problem(send, denied)
                    return
        await self.app(scope, receive, send)


class StarletteHandWritten:
    """The floor for ``@action`` with ``install(app)`` on Starlette: a hand-written
    pure ASGI middleware on the route (``Route(..., middleware=[...])``, Starlette's own
    per-route hook), reading the path parameter Starlette's routing found."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user_id = scope["path_params"].get("user_id")
        denied = hand_check(scope_header(scope, b"authorization"), user_id)
        if denied is not None:
            await send_problem(send, denied)
            return
        await self.app(scope, receive, send)


def wsgi_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The endpoint as a bare WSGI callable."""
    if environ["REQUEST_METHOD"] == "POST" and _DM_PATH.fullmatch(environ["PATH_INFO"]):
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(SENT)))]
        start_response("201 Created", headers)
        return [SENT]
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "0")])
    return [b""]


class WSGIPassThrough:
    """An empty WSGI middleware."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self.app(environ, start_response)


def wrap_wsgi(app: WSGIApplication, mode: str) -> WSGIApplication:
    """``app`` itself, in an empty middleware, in the hand-written floor, or in the
    childsafe WSGI middleware."""
    if mode == BARE:
        return app
    if mode == HOOK:
        return WSGIPassThrough(app)
    if mode == FLOOR:
        return WSGIHandWritten(app)
    return WSGIChildsafe(
        app,
        guard=GUARD,
        resolvers=RESOLVERS,
        repository=REPOSITORY,
        routes=ROUTES,
        response_filter=ResponseFilter() if mode == FILTERED else None,
    )


def wsgi_variant(mode: str) -> WSGIApplication:
    return wrap_wsgi(wsgi_app, mode)


def flask_wsgi_middleware(mode: str) -> Flask:
    """Flask with the pure WSGI middleware (and a route table) instead of the extension."""
    app = flask_app(BARE)
    app.wsgi_app = wrap_wsgi(app.wsgi_app, mode)  # type: ignore[method-assign,assignment]
    return app


def django_wsgi_middleware(mode: str) -> WSGIApplication:
    """Django inside the pure WSGI middleware (and a route table)."""
    return wrap_wsgi(django_app(BARE), mode)


def flask_app(mode: str) -> Flask:
    app = Flask("bench")

    @app.post("/users/<user_id>/messages")
    @action("dm.send", target=path_param("user_id"))
    def send_message(user_id: str) -> tuple[dict[str, bool], int]:
        del user_id
        return {"sent": True}, 201

    if mode == HOOK:
        # What the extension registers when it does not filter responses.
        @app.before_request
        def before() -> None:
            return None

    elif mode == FLOOR:
        add_flask_floor(app)
    elif mode != BARE:
        ChildSafe(
            app,
            guard=GUARD,
            resolvers=RESOLVERS,
            repository=REPOSITORY,
            response_filter=ResponseFilter() if mode == FILTERED else None,
        )
    return app


def add_flask_floor(app: Flask) -> None:
    """The floor for the Flask extension: a hand-written ``before_request`` function
    checking the one endpoint that sends messages."""
    # The request object itself, as the extension reads it.
    current = flask_request._get_current_object  # type: ignore[attr-defined]  # noqa: SLF001

    @app.before_request
    def check() -> FlaskResponse | None:
        request = current()
        if request.endpoint != "send_message":
            return None
        user_id = (request.view_args or {}).get("user_id")
        denied = hand_check(request.environ.get("HTTP_AUTHORIZATION"), user_id)
        if denied is None:
            return None
        return app.response_class(denied, status=403, headers=list(PROBLEM_HEADERS))


class DjangoHandWritten:
    """The floor for the Django middleware: a hand-written middleware checking the one
    view that sends messages in ``process_view``."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        from django.http import HttpResponse  # type: ignore[import-untyped]  # noqa: PLC0415

        self.get_response = get_response
        self.response_class = HttpResponse

    def __call__(self, request: Any) -> Any:
        return self.get_response(request)

    def process_view(self, request: Any, view: Any, args: Any, kwargs: Any) -> Any:
        del view, args
        if request.resolver_match.url_name != "send_message":
            return None
        denied = hand_check(request.META.get("HTTP_AUTHORIZATION"), kwargs.get("user_id"))
        if denied is None:
            return None
        response = self.response_class(denied, status=403, content_type=PROBLEM_HEADERS[0][1])
        response["cache-control"] = "no-store"
        return response


class DjangoPassThrough:
    """An empty Django middleware, with the same hooks as childsafe's."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        return self.get_response(request)

    def process_view(self, request: Any, view: Any, args: Any, kwargs: Any) -> None:
        del request, view, args, kwargs


_DJANGO_MIDDLEWARE: Final = {
    BARE: [],
    HOOK: ["bench_adapters.DjangoPassThrough"],
    FLOOR: ["bench_adapters.DjangoHandWritten"],
    WRAPPED: ["childsafe.contrib.django.middleware.ChildsafeMiddleware"],
    FILTERED: ["childsafe.contrib.django.middleware.ChildsafeMiddleware"],
}


def _django_urls() -> types.ModuleType:
    from django.http import JsonResponse  # noqa: PLC0415
    from django.urls import path  # type: ignore[import-untyped]  # noqa: PLC0415

    @action("dm.send", target=path_param("user_id"))
    def send_message(request: Any, user_id: str) -> Any:
        del request, user_id
        return JsonResponse({"sent": True}, status=201)

    urls = types.ModuleType("bench_urls")
    urls.urlpatterns = [  # type: ignore[attr-defined]
        path("users/<str:user_id>/messages", send_message, name="send_message")
    ]
    return urls


def django_app(mode: str) -> WSGIApplication:
    """A Django WSGI handler. Settings are configured on first use; each handler loads
    ``MIDDLEWARE`` (and childsafe its ``CHILDSAFE`` settings) when it is built, so one
    process can hold every variant."""
    import django  # type: ignore[import-untyped]  # noqa: PLC0415
    from django.conf import settings  # type: ignore[import-untyped]  # noqa: PLC0415
    from django.core.handlers.wsgi import WSGIHandler  # type: ignore[import-untyped]  # noqa: PLC0415

    if not settings.configured:
        # A denial is the point of the check, not a warning to print for every request.
        logging.getLogger("django.request").setLevel(logging.ERROR)
        settings.configure(
            DEBUG=False,
            SECRET_KEY="bench-only",
            ALLOWED_HOSTS=["*"],
            ROOT_URLCONF=_django_urls(),
            INSTALLED_APPS=[],
            DATABASES={},
            USE_TZ=True,
            MIDDLEWARE=[],
            LOGGING_CONFIG=None,
        )
        django.setup()
    settings.MIDDLEWARE = _DJANGO_MIDDLEWARE[mode]
    settings.CHILDSAFE = {
        "REPOSITORY": REPOSITORY,
        "RESOLVERS": list(RESOLVERS),
        "RESPONSE_FILTER": mode == FILTERED,
    }
    handler: WSGIApplication = WSGIHandler()
    return handler


async def asgi_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The endpoint as a bare ASGI callable."""
    del receive
    found = scope["type"] == "http" and scope["method"] == "POST"
    if found and _DM_PATH.fullmatch(scope["path"]):
        headers = [(b"content-type", b"application/json"), (b"content-length", b"13")]
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": SENT})
        return
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b""})


class ASGIPassThrough:
    """An empty pure ASGI middleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def asgi_variant(mode: str) -> ASGIApp:
    if mode == BARE:
        return asgi_app
    if mode == HOOK:
        return ASGIPassThrough(asgi_app)
    if mode == FLOOR:
        return ASGIHandWritten(asgi_app)
    return ASGIChildsafe(
        asgi_app,
        guard=GUARD,
        resolvers=RESOLVERS,
        repository=REPOSITORY,
        routes=ROUTES,
        response_filter=ResponseFilter() if mode == FILTERED else None,
    )


async def nothing(request: HTTPConnection) -> None:
    """An empty async dependency (or call at the top of an endpoint)."""
    del request


def _wrap_routes(app: Starlette) -> None:
    """The empty hook of ``@action``: each route's app behind a pass-through, as
    ``install(app)`` puts a declared endpoint's behind its check."""
    for route in app.router.routes:
        if isinstance(route, Route):
            route.app = ASGIPassThrough(route.app)


def _starlette(mode: str, endpoint: Callable[..., Awaitable[Response]], *, hook: str) -> Starlette:
    """The Starlette app around ``endpoint`` (used as it is in every mode but bare and
    the empty hook, which awaits an empty coroutine in the endpoint, ``hook="call"``, or
    puts the route's app behind a pass-through, ``hook="route"``)."""

    async def bare(request: StarletteHTTPRequest) -> Response:
        del request
        return JSONResponse({"sent": True}, status_code=201)

    async def hooked(request: StarletteHTTPRequest) -> Response:
        await nothing(request)
        return JSONResponse({"sent": True}, status_code=201)

    chosen = {BARE: bare, HOOK: hooked if hook == "call" else bare, FLOOR: bare}.get(mode, endpoint)
    # The floor: a hand-written middleware on the route.
    middleware = [Middleware(StarletteHandWritten)] if mode == FLOOR else None
    route = Route("/users/{user_id}/messages", chosen, methods=["POST"], middleware=middleware)
    app = Starlette(routes=[route])
    if mode == HOOK:
        if hook == "route":
            _wrap_routes(app)
        app.add_middleware(ASGIPassThrough)
    elif mode not in {BARE, FLOOR}:
        app.add_middleware(
            ASGIChildsafe,
            guard=GUARD,
            resolvers=RESOLVERS,
            repository=REPOSITORY,
            response_filter=ResponseFilter() if mode == FILTERED else None,
        )
        install(app)
    return app


def starlette_app(mode: str) -> Starlette:
    """Starlette with the endpoint declared by ``@action``."""

    @DECLARE_DM
    async def declared(request: StarletteHTTPRequest) -> Response:
        del request
        return JSONResponse({"sent": True}, status_code=201)

    return _starlette(mode, declared, hook="route")


def starlette_require(mode: str) -> Starlette:
    """Starlette with ``await require(...)(request)`` at the top of the endpoint."""

    # Strict mode cannot see a check inside the endpoint: say so.
    @exempt("checked in the endpoint: await require(...)(request)")
    async def checked(request: StarletteHTTPRequest) -> Response:
        await SEND_DM(request)
        return JSONResponse({"sent": True}, status_code=201)

    return _starlette(mode, checked, hook="call")


class HandDenied(Exception):  # noqa: N818 - named like the adapter's ChildsafeDenied
    """What the FastAPI floor's dependency raises: the problem+json body to answer."""

    def __init__(self, body: bytes) -> None:
        super().__init__("denied")
        self.body = body


async def hand_dependency(request: StarletteHTTPRequest) -> None:
    """The floor for ``Depends(require(...))``: a hand-written async dependency."""
    denied = hand_check(request.headers.get("authorization"), request.path_params.get("user_id"))
    if denied is not None:
        raise HandDenied(denied)


async def hand_denied(request: StarletteHTTPRequest, exc: Exception) -> Response:
    """The FastAPI floor's exception handler: ``403`` problem+json."""
    del request
    body = exc.body if isinstance(exc, HandDenied) else b"{}"
    headers = {"cache-control": "no-store"}
    return Response(body, status_code=403, headers=headers, media_type=PROBLEM_HEADERS[0][1])


def _fastapi(mode: str, add_checked: Callable[[FastAPI], None]) -> FastAPI:
    """The FastAPI app; ``add_checked`` adds the endpoint in every mode but bare and the
    empty hook (an empty dependency)."""
    app = FastAPI()
    if mode == BARE:

        @app.post("/users/{user_id}/messages", status_code=201)
        async def bare(user_id: str) -> dict[str, bool]:
            del user_id
            return {"sent": True}

    elif mode == HOOK:

        @app.post("/users/{user_id}/messages", status_code=201, dependencies=[Depends(nothing)])
        async def hooked(user_id: str) -> dict[str, bool]:
            del user_id
            return {"sent": True}

        app.add_middleware(ASGIPassThrough)
    elif mode == FLOOR:

        @app.post(
            "/users/{user_id}/messages", status_code=201, dependencies=[Depends(hand_dependency)]
        )
        async def guarded(user_id: str) -> dict[str, bool]:
            del user_id
            return {"sent": True}

        app.add_exception_handler(HandDenied, hand_denied)
    else:
        add_checked(app)
        app.add_middleware(
            ASGIChildsafe,
            guard=GUARD,
            resolvers=RESOLVERS,
            repository=REPOSITORY,
            response_filter=ResponseFilter() if mode == FILTERED else None,
        )
        install(app)
    return app


def fastapi_app(mode: str) -> FastAPI:
    """FastAPI with a ``Depends(require(...))`` dependency."""

    def add(app: FastAPI) -> None:
        @app.post("/users/{user_id}/messages", status_code=201)
        async def checked(
            user_id: str, ctx: Annotated[RequestContext, Depends(SEND_DM)]
        ) -> dict[str, bool]:
            del user_id, ctx
            return {"sent": True}

    return _fastapi(mode, add)


def fastapi_route_table(mode: str) -> FastAPI:
    """FastAPI with the ASGI middleware and a route table, and no dependency."""
    app = fastapi_app(BARE)
    if mode == HOOK:
        app.add_middleware(ASGIPassThrough)
    elif mode != BARE:
        app.add_middleware(
            ASGIChildsafe,
            guard=GUARD,
            resolvers=RESOLVERS,
            repository=REPOSITORY,
            routes=ROUTES,
            response_filter=ResponseFilter() if mode == FILTERED else None,
        )
    return app


# What the servers import: ``bench_adapters:flask_bare`` and so on.
_BUILDERS: Final[tuple[tuple[str, Callable[[str], object]], ...]] = (
    ("flask", flask_app),
    ("django", django_app),
    ("starlette", starlette_app),
    ("fastapi", fastapi_app),
)
_SERVER_SUFFIXES: Final = {BARE: "bare", WRAPPED: "childsafe", FLOOR: "hand_written"}
SERVER_APPS: Final[dict[str, Callable[[], object]]] = {
    f"{name}_{suffix}": functools.partial(build, mode)
    for name, build in _BUILDERS
    for mode, suffix in _SERVER_SUFFIXES.items()
}


def __getattr__(name: str) -> object:
    if name in SERVER_APPS:
        return SERVER_APPS[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- in-process timing -----------------------------------------------------------

# What a browser's fetch() sends besides the token: the in-process requests carry these
# too, since adapters that parse every header pay for each one.
BROWSER_HEADERS: Final = (
    ("host", "127.0.0.1:8000"),
    ("user-agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
    ("accept", "application/json"),
    ("accept-language", "en-GB,en;q=0.5"),
    ("accept-encoding", "gzip, deflate, br, zstd"),
    ("content-type", "application/json"),
    ("content-length", "0"),
    ("origin", "http://127.0.0.1:8000"),
    ("referer", "http://127.0.0.1:8000/users/sam"),
    ("cookie", "theme=dark; consent=1; _ga=GA1.1.1234567890.1700000000"),
    ("connection", "keep-alive"),
)


def wsgi_environ(token: str) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": PATH,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in (*BROWSER_HEADERS, ("authorization", f"Bearer {token}")):
        key = name.upper().replace("-", "_")
        environ[key if key in {"CONTENT_TYPE", "CONTENT_LENGTH"} else f"HTTP_{key}"] = value
    return environ


def asgi_scope(token: str) -> dict[str, Any]:
    headers = [(k.encode(), v.encode()) for k, v in BROWSER_HEADERS]
    headers.append((b"authorization", f"Bearer {token}".encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


class Timed:
    """One app under timing: a callable running ``number`` requests, returning ns."""

    def __init__(
        self,
        framework: str,
        variant: str,
        run: Callable[[int], int],
        status: Callable[[str], int],
    ) -> None:
        self.framework = framework
        self.variant = variant
        self.run = run
        self.status = status
        self.samples: list[float] = []  # ns per request
        self.number = 0

    @property
    def median_us(self) -> float:
        return statistics.median(self.samples) / 1000

    @property
    def min_us(self) -> float:
        return min(self.samples) / 1000

    @property
    def p95_us(self) -> float:
        return statistics.quantiles(self.samples, n=20, method="inclusive")[18] / 1000


def wsgi_timed(framework: str, variant: str, app: WSGIApplication) -> Timed:
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        del headers, exc_info
        statuses.append(status)
        return statuses.append

    def call(environ: dict[str, Any]) -> None:
        body = app(environ.copy(), start_response)
        for _ in body:
            pass
        close = getattr(body, "close", None)
        if close is not None:
            close()

    def run(number: int) -> int:
        environ = wsgi_environ(ALLOWED_TOKEN)
        statuses.clear()
        start = time.thread_time_ns()
        for _ in range(number):
            call(environ)
        elapsed = time.thread_time_ns() - start
        statuses.clear()
        return elapsed

    def status(token: str) -> int:
        statuses.clear()
        call(wsgi_environ(token))
        return int(statuses[-1].split()[0])

    return Timed(framework, variant, run, status)


def asgi_timed(
    framework: str, variant: str, app: ASGIApp, loop: asyncio.AbstractEventLoop
) -> Timed:
    request_message: Message = {"type": "http.request", "body": b"", "more_body": False}
    statuses: list[int] = []

    async def receive() -> Message:
        return request_message

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def batch(scope: Scope, number: int) -> int:
        start = time.thread_time_ns()
        for _ in range(number):
            await app(dict(scope), receive, send)
        return time.thread_time_ns() - start

    def run(number: int) -> int:
        elapsed = loop.run_until_complete(batch(asgi_scope(ALLOWED_TOKEN), number))
        statuses.clear()
        return elapsed

    def status(token: str) -> int:
        statuses.clear()
        loop.run_until_complete(batch(asgi_scope(token), 1))
        return statuses[-1]

    return Timed(framework, variant, run, status)


WSGI: Final = "WSGI callable"
FLASK: Final = "Flask"
DJANGO: Final = "Django"
ASGI: Final = "ASGI callable"
STARLETTE: Final = "Starlette"
FASTAPI: Final = "FastAPI"
FLASK_WSGI: Final = "Flask (alternative)"
DJANGO_WSGI: Final = "Django (alternative)"
STARLETTE_REQUIRE: Final = "Starlette (alternative)"
FASTAPI_TABLE: Final = "FastAPI (alternative)"


@dataclass(frozen=True)
class Framework:
    """An app to time in every variant, and how childsafe is added to it."""

    name: str
    how: str
    build: Callable[[str], Any]
    kind: str  # "wsgi" or "asgi"


# The floors: each does the work of `hand_check` in the framework's own hook.
FLOORS: Final = {
    WSGI: "a WSGI middleware (the route matched by a regular expression)",
    FLASK: "a `before_request` function (the endpoint compared by name)",
    DJANGO: "a middleware's `process_view` (the URL pattern compared by name)",
    ASGI: "an ASGI middleware (the route matched by a regular expression)",
    STARLETTE: "an ASGI middleware on the route (`Route(..., middleware=[...])`)",
    FASTAPI: "an async dependency, `dependencies=[Depends(...)]`, and an exception handler",
}

FRAMEWORKS: Final = (
    Framework(WSGI, "`childsafe.wsgi.ChildsafeMiddleware`, route table", wsgi_variant, "wsgi"),
    Framework(FLASK, "`ChildSafe(app)`, `@action` on the view", flask_app, "wsgi"),
    Framework(
        DJANGO, "`childsafe.contrib.django` middleware, `@action` on the view", django_app, "wsgi"
    ),
    Framework(ASGI, "`childsafe.asgi.ChildsafeMiddleware`, route table", asgi_variant, "asgi"),
    Framework(
        STARLETTE,
        "ASGI middleware + `install(app)`, `@action` on the endpoint",
        starlette_app,
        "asgi",
    ),
    Framework(FASTAPI, "ASGI middleware + `Depends(require(...))`", fastapi_app, "asgi"),
    Framework(
        FLASK_WSGI,
        "`app.wsgi_app = ChildsafeMiddleware(app.wsgi_app, ...)`, route table",
        flask_wsgi_middleware,
        "wsgi",
    ),
    Framework(
        DJANGO_WSGI,
        "Django's WSGI handler in `childsafe.wsgi.ChildsafeMiddleware`, route table",
        django_wsgi_middleware,
        "wsgi",
    ),
    Framework(
        STARLETTE_REQUIRE,
        "ASGI middleware + `await require(...)(request)` in the endpoint",
        starlette_require,
        "asgi",
    ),
    Framework(
        FASTAPI_TABLE,
        "ASGI middleware with a route table, no dependency",
        fastapi_route_table,
        "asgi",
    ),
)
# The adapters the targets are about; the alternatives are shown for comparison.
MAIN: Final = (WSGI, FLASK, DJANGO, ASGI, STARLETTE, FASTAPI)


def variants_of(framework: str) -> tuple[str, ...]:
    """The variants built of ``framework``: the floor only for the six adapters."""
    return (*VARIANTS, FLOOR) if framework in MAIN else VARIANTS


def build_app(framework: Framework, mode: str, loop: asyncio.AbstractEventLoop) -> Timed:
    app = framework.build(mode)
    if framework.kind == "asgi":
        return asgi_timed(framework.name, mode, app, loop)
    return wsgi_timed(framework.name, mode, app)


def build_timed(loop: asyncio.AbstractEventLoop) -> list[Timed]:
    """Every app in every variant, each checked to answer the aunt ``201`` and the
    stranger ``403`` (``201`` without childsafe or a floor)."""
    timed = [
        build_app(framework, mode, loop)
        for framework in FRAMEWORKS
        for mode in variants_of(framework.name)
    ]
    for t in timed:
        allowed = t.status(ALLOWED_TOKEN)
        denied = t.status(DENIED_TOKEN)
        want_denied = 201 if t.variant in {BARE, HOOK} else 403
        if (allowed, denied) != (201, want_denied):
            msg = f"{t.framework} / {t.variant}: answered {allowed} and {denied}"
            raise AssertionError(f"{msg}, expected 201 and {want_denied}")
    return timed


def time_in_process(timed: list[Timed], samples: int, sample_ms: float) -> None:
    """Calibrate, warm up, then time every app, interleaved sample by sample."""
    target_ns = sample_ms * 1e6
    for t in timed:
        number = 10
        while (elapsed := t.run(number)) < target_ns / 10:
            number *= 4
        t.number = max(1, math.ceil(number * target_ns / elapsed))
        t.run(t.number)  # warm-up, not recorded
    gc.collect()
    gc.disable()
    # A framework's variants run back to back (about 0.2 s in all), so one round's
    # samples of them see the machine at the same speed; frameworks, and the variants
    # within each, in an order shuffled every round.
    groups: dict[str, list[Timed]] = {}
    for t in timed:
        groups.setdefault(t.framework, []).append(t)
    order = list(groups.values())
    shuffle = random.Random(SEED).shuffle
    try:
        for _ in range(samples):
            shuffle(order)
            for group in order:
                shuffle(group)
                for t in group:
                    t.samples.append(t.run(t.number) / t.number)
    finally:
        gc.enable()


def overhead_us(wrapped: Timed, bare: Timed) -> float:
    """The median over rounds of the difference between the two apps' samples in that
    round (taken moments apart): the overhead, less sensitive to changes in the
    machine's speed over the run than the difference of the medians."""
    pairs = zip(wrapped.samples, bare.samples, strict=True)
    return statistics.median(w - b for w, b in pairs) / 1000


def find(timed: list[Timed], framework: str, variant: str) -> Timed:
    return next(t for t in timed if t.framework == framework and t.variant == variant)


# -- instructions per request (Valgrind) -------------------------------------------

# Requests served in the two counted processes of each app; their difference, divided
# by the difference in requests, leaves out start-up and the imports.
COUNT_FEW: Final = 100
COUNT_MANY: Final = 600
COUNT_RUNS: Final = 3  # counting runs, each in its own memory layout (see _LAYOUT_PADS)
# The length of an otherwise unused environment variable, per run. Valgrind starts a
# process at the same addresses every time, so two runs with one environment count
# within a few instructions of each other; but a different environment size (another
# PYTHONPATH, another user name) moves every object the interpreter allocates, which
# changes how dictionaries keyed by objects probe and moves a per-request count by up
# to a few thousand instructions (Mytkowicz et al., "Producing wrong data without doing
# anything obviously wrong!", ASPLOS 2009). Each run is one layout; the target is read
# on the median ratio over the layouts, and every layout's ratio is shown.
_LAYOUT_PADS: Final = (0, 1021, 2503, 3989, 5417, 7001, 8599)
MAX_INSTRUCTION_RATIO: Final = 1.5  # childsafe adds at most this times the floor's
_IREFS: Final = re.compile(r"I\s+refs:\s+([\d,]+)")


@dataclass(frozen=True)
class Counted:
    """Instructions one app's request takes, counted under Valgrind in each run."""

    framework: str
    variant: str
    runs: tuple[int, ...]

    @property
    def per_request(self) -> int:
        """The median over the runs (the layouts)."""
        return round(statistics.median(self.runs))

    @property
    def moved(self) -> int:
        """How far apart the runs were."""
        return max(self.runs) - min(self.runs)


def serve_for_count(framework: str, variant: str, number: int) -> None:
    """What a counting subprocess runs: build one app, warm it up, serve ``number``
    requests (the same calls as in-process timing, garbage collector off)."""
    spec = next(f for f in FRAMEWORKS if f.name == framework)
    t = build_app(spec, variant, asyncio.new_event_loop())
    t.run(50)
    gc.collect()
    gc.disable()
    t.run(number)


def _instructions(*args: str, layout: int = 0) -> int:
    """The instructions a whole process running this script with ``args`` executes
    (``--count-one framework variant number`` serves ``number`` requests), in memory
    layout number ``layout``."""
    command = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        str(Path(__file__).resolve()),
        *args,
    ]
    # A fixed hash seed: dict and set probing is then the same in every run.
    pad = _LAYOUT_PADS[layout % len(_LAYOUT_PADS)] + 97 * (layout // len(_LAYOUT_PADS))
    env = {**os.environ, "PYTHONHASHSEED": "0", "CHILDSAFE_BENCH_LAYOUT": "." * pad}
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, check=False, timeout=900
    )
    found = _IREFS.search(done.stderr)
    if done.returncode != 0 or found is None:
        tail = done.stderr.strip().splitlines()[-5:]
        raise RuntimeError(f"counting {' '.join(args)} failed: {' | '.join(tail)}")
    return int(found.group(1).replace(",", ""))


def count_instructions(
    frameworks: Iterable[str], variants: Iterable[str], runs: int = COUNT_RUNS
) -> list[Counted]:
    """Instructions per request of each app, in ``runs`` runs of two counted processes
    each, run ``r`` in memory layout ``r`` for every app, as many processes at once as
    the machine has CPUs (the counts do not depend on what else runs)."""
    apps = [(f, v) for f in frameworks for v in variants]
    jobs = [(f, v, n, r) for r in range(runs) for f, v in apps for n in (COUNT_FEW, COUNT_MANY)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        counts = pool.map(
            lambda job: _instructions("--count-one", *map(str, job[:3]), layout=job[3]), jobs
        )
        totals = dict(zip(jobs, counts, strict=True))
    return [
        Counted(
            f,
            v,
            tuple(
                (totals[f, v, COUNT_MANY, r] - totals[f, v, COUNT_FEW, r])
                // (COUNT_MANY - COUNT_FEW)
                for r in range(runs)
            ),
        )
        for f, v in apps
    ]


@dataclass(frozen=True)
class Added:
    """What childsafe and the hand-written floor each add to one framework's bare app."""

    framework: str
    bare: Counted
    wrapped: Counted
    floor: Counted

    def ratios(self) -> list[float]:
        """childsafe's addition over the floor's, per run."""
        return [
            (w - b) / (f - b)
            for b, w, f in zip(self.bare.runs, self.wrapped.runs, self.floor.runs, strict=True)
        ]

    @property
    def ratio(self) -> float:
        """The median over the layouts."""
        return statistics.median(self.ratios())

    @property
    def passed(self) -> bool:
        return self.ratio <= MAX_INSTRUCTION_RATIO


def added(counted: list[Counted]) -> list[Added]:
    by_app = {(c.framework, c.variant): c for c in counted}
    frameworks = dict.fromkeys(c.framework for c in counted)
    return [Added(f, by_app[f, BARE], by_app[f, WRAPPED], by_app[f, FLOOR]) for f in frameworks]


def instructions_table(counted: list[Counted]) -> str:
    lines = [
        (
            "| Framework | Floor: a hand-written check in | Bare | With childsafe "
            "| Hand-written floor | Added by childsafe | Added by the floor "
            f"| Ratio | At most {MAX_INSTRUCTION_RATIO:g}x |"
        ),
        "|---|---|--:|--:|--:|--:|--:|--:|---|",
    ]
    for row in added(counted):
        bare, wrapped, floor = row.bare.per_request, row.wrapped.per_request, row.floor.per_request
        lines.append(
            f"| {row.framework} | {FLOORS[row.framework]} | {bare:,} | {wrapped:,} | {floor:,} "
            f"| **+{wrapped - bare:,}** | +{floor - bare:,} | **{row.ratio:.2f}x** "
            f"| {'pass' if row.passed else '**FAIL**'} |"
        )
    return "\n".join(lines)


def spread(counted: list[Counted]) -> str:
    """How much the counts, and the ratios, moved between the runs."""
    worst = max(counted, key=lambda c: c.moved / c.per_request)
    most = max(counted, key=lambda c: c.moved)
    ratios = [row.ratios() for row in added(counted)]
    ratio_moved = max(max(r) - min(r) for r in ratios)
    return (
        f"Between the {len(worst.runs)} layouts a per-request count moved by at most "
        f"{most.moved:,} instructions ({most.framework}, {most.variant}) and at most "
        f"{worst.moved / worst.per_request:.2%} of itself ({worst.framework}, "
        f"{worst.variant}); a ratio by at most {ratio_moved:.3f}."
    )


def instructions_part(run: Run) -> str:
    if run.counted is None:
        return (
            "### Instructions per request\n\nNot counted (`--no-instructions`, or no `valgrind`)."
        )
    return f"""### Instructions per request: the target

{instructions_table(run.counted)}

Instructions a request executes, counted by Valgrind (`cachegrind --cache-sim=no`): a
process serving {COUNT_MANY} requests less one serving {COUNT_FEW}, each app built and
called as in the in-process timing (the aunt's allowed request), with a fixed hash
seed; the median of {len(run.counted[0].runs)} runs, each in its own memory layout (the
processes of one run get an unused environment variable of one length, so every object
lands at other addresses than in the other runs). *Added* is the instructions of the app
with childsafe, or with the hand-written floor, less those of the bare app; the *ratio*
is childsafe's addition over the floor's, the median of its ratios in the layouts, each
of which *Targets* lists. {spread(run.counted)} Valgrind starts a process at the same
addresses every time, so one layout counted twice moves by a few instructions; another
layout moves a count by up to a few thousand, in the bare app as much as in the others,
because dictionaries keyed by objects probe differently (environment size is a known
cause of such measurement bias: Mytkowicz et al., ASPLOS 2009). The median over layouts
is what a deployment can expect; the times above move by far more, with the machine's
load.

Every floor does the same work as childsafe, written by hand as an app would without
it, in the framework's own hook: read the `Authorization: Bearer` token and resolve the
account with the same cached `verify`, load the target through the same repository
(`get_account` and `relationship`), decide with the same `Guard.check`, and answer a
denial with `403` `application/problem+json` (a missing account is denied too). It
does nothing else: no failing closed on a resolver or repository that raises, no
request context for the view, no declarations found for it, no denial-status rule.
What childsafe adds beyond the floor is the price of those."""


# -- real servers ----------------------------------------------------------------


@dataclass
class Server:
    """One server process serving one app on 127.0.0.1."""

    framework: str
    variant: str
    kind: str  # "gunicorn" or "uvicorn"
    app: str  # the attribute of this module the server imports
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    log: Any = None
    rates: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)  # server CPU per request, per run
    errors: list[str] = field(default_factory=list)

    def argv(self) -> list[str]:
        target = f"bench_adapters:{self.app}"
        if self.kind == "gunicorn":
            return [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--chdir",
                str(HERE),
                "--log-level",
                "warning",
                target,
            ]
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(HERE),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            "--no-access-log",
            target,
        ]

    @property
    def rate(self) -> float:
        return statistics.median(self.rates) if self.rates else math.nan

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpu_us) if self.cpu_us else math.nan


# Each pair: the bare app and the app with childsafe, then the bare app and the app
# with the hand-written floor.
SERVED: Final = tuple(
    (framework, kind, name, variant)
    for framework, kind, name in (
        (FLASK, "gunicorn", "flask"),
        (DJANGO, "gunicorn", "django"),
        (STARLETTE, "uvicorn", "starlette"),
        (FASTAPI, "uvicorn", "fastapi"),
    )
    for variant in (WRAPPED, FLOOR)
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def post(port: int, token: str, timeout: float = 2.0) -> int:
    """POST the DM once; the status code."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", PATH, body=b"", headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


# With two CPUs or more and `taskset`, the servers run on the first CPU and the load
# generator on the second, so neither takes the other's CPU time mid-run.
SERVER_CPU: Final = "0"
LOAD_CPU: Final = "1"


def can_pin() -> bool:
    return (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None


def pinned(argv: list[str], cpu: str, pin: bool) -> list[str]:
    """``argv`` run on CPU ``cpu`` when pinning (``taskset`` execs it: same process)."""
    return ["taskset", "-c", cpu, *argv] if pin else argv


def start(server: Server, logs: Path, pin: bool) -> None:
    server.port = free_port()
    server.log = (logs / f"{server.app}.log").open("wb")
    server.process = subprocess.Popen(
        pinned(server.argv(), SERVER_CPU, pin),
        stdout=server.log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so its workers stop with it
        cwd=HERE,
    )


def wait_ready(server: Server, logs: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    assert server.process is not None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            log = (logs / f"{server.app}.log").read_text(errors="replace")
            raise RuntimeError(f"{server.app} exited with {server.process.returncode}:\n{log}")
        with contextlib.suppress(OSError):
            post(server.port, ALLOWED_TOKEN, timeout=1.0)
            return
        time.sleep(0.1)
    raise RuntimeError(f"{server.app} did not answer on port {server.port} within {timeout:g} s")


def stop(server: Server) -> None:
    """Stop the server's process group (the arbiter and its workers): SIGTERM, then
    SIGKILL after 10 seconds."""
    process = server.process
    if process is not None and process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
    if server.log is not None:
        server.log.close()
        server.log = None


WRK_SCRIPT: Final = f"""wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer {ALLOWED_TOKEN}"
"""


@dataclass(frozen=True)
class Load:
    """How the servers are driven."""

    tool: str
    connections: int
    threads: int
    seconds: float
    script: Path | None = None
    pin: bool = False
    together: bool = True  # the bare and childsafe servers of a pair driven at once

    def describe(self) -> str:
        if self.tool == "wrk":
            text = (
                f"`wrk -t{self.threads} -c{self.connections} -d{self.seconds:g}s` "
                "(keep-alive, POST with the bearer token)"
            )
        else:
            text = (
                f"{self.connections} Python keep-alive clients (`http.client`) in "
                f"{self.connections} processes, {self.seconds:g} s (wrk was not installed)"
            )
        if self.together:
            text += ", one load generator per server of the pair"
        if self.pin:
            text += (
                f"; the servers pinned to CPU {SERVER_CPU} and the load generators to CPU "
                f"{LOAD_CPU} (`taskset`)"
            )
        return text


_TICKS: Final = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU time of every process in the process group ``pgid`` (the server
    and its workers), from ``/proc``; ``nan`` where ``/proc`` is not available."""
    total = 0
    try:
        entries = list(Path("/proc").iterdir())
    except OSError:
        return math.nan
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()
        # After the command: state, ppid, pgrp, ... utime is field 14, stime 15 (1-based).
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / _TICKS


def run_wrk(load: Load, port: int, seconds: float) -> tuple[float, int, str | None]:
    assert load.script is not None
    argv = [
        "wrk",
        f"-t{load.threads}",
        f"-c{load.connections}",
        f"-d{seconds:g}s",
        "-s",
        str(load.script),
        f"http://127.0.0.1:{port}{PATH}",
    ]
    out = subprocess.run(
        pinned(argv, LOAD_CPU, load.pin),
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    if rate is None or total is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    error = None
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if bad is not None:
        error = f"{bad.group(1)} non-2xx responses"
    sockets = re.search(r"Socket errors: (.*)", out)
    if sockets is not None and any(int(n) for n in re.findall(r"\d+", sockets.group(1))):
        error = f"socket errors: {sockets.group(1)}"
    return float(rate.group(1)), int(total.group(1)), error


def _client(port: int, seconds: float, results: Any) -> None:
    """One keep-alive client: POST as fast as the server answers, for ``seconds``."""
    done = bad = 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Authorization": f"Bearer {ALLOWED_TOKEN}", "Content-Length": "0"}
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        try:
            conn.request("POST", PATH, body=b"", headers=headers)
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            bad += 1
            continue
        done += 1
        bad += response.status != 201
    conn.close()
    results.put((done, bad))


def run_python_clients(load: Load, port: int, seconds: float) -> tuple[float, int, str | None]:
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    clients = [
        ctx.Process(target=_client, args=(port, seconds, results)) for _ in range(load.connections)
    ]
    started = time.perf_counter()
    for c in clients:
        c.start()
        if load.pin and c.pid is not None and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(c.pid, {int(LOAD_CPU)})
    totals = [results.get(timeout=seconds + 60) for _ in clients]
    elapsed = time.perf_counter() - started
    for c in clients:
        c.join(timeout=10)
    done = sum(t[0] for t in totals)
    bad = sum(t[1] for t in totals)
    error = f"{bad} failed or non-201 responses" if bad else None
    return done / max(elapsed, seconds), done, error


def drive(load: Load, port: int, seconds: float) -> tuple[float, int, str | None]:
    """Load the server for ``seconds``: requests per second, requests, and what went
    wrong (non-2xx answers, socket errors), if anything."""
    if load.tool == "wrk":
        return run_wrk(load, port, seconds)
    return run_python_clients(load, port, seconds)


def _sharing(load: Load) -> str:
    if load.together and load.pin:
        return (
            f"The two servers of a pair share CPU {SERVER_CPU}, which the kernel's scheduler "
            "splits evenly between them while both are busy, and their load generators share "
            f"CPU {LOAD_CPU}: the absolute numbers are half a core's, and each ratio compares "
            "two servers measured at the same moment on the same core, so a change in the "
            "machine's speed during the run (this machine is shared) hits both alike."
        )
    if load.together:
        return (
            f"Both servers of a pair and their load generators share the machine's "
            f"{os.cpu_count()} CPUs, so the absolute numbers are lower than on a dedicated "
            "host; each ratio compares two servers measured at the same moment."
        )
    if load.pin:
        return (
            "The server being driven has one CPU to itself and the load generator the other, "
            "so the absolute numbers are one core's; the ratios compare like with like."
        )
    return (
        f"The load generator shares the machine's {os.cpu_count()} CPUs with the server, so "
        "the absolute numbers are lower than on a dedicated host; the ratios compare like "
        "with like."
    )


def measure(load: Load, servers: list[Server]) -> None:
    """Drive ``servers`` at the same time for ``load.seconds`` (one load generator
    each) and record each one's rate and CPU time per request."""
    before = [group_cpu_seconds(_pid(server)) for server in servers]
    with concurrent.futures.ThreadPoolExecutor(len(servers)) as pool:
        results = list(pool.map(lambda server: drive(load, server.port, load.seconds), servers))
    for server, start_cpu, (rate, requests, error) in zip(servers, before, results, strict=True):
        cpu = group_cpu_seconds(_pid(server)) - start_cpu
        server.rates.append(rate)
        server.cpu_us.append(cpu / max(requests, 1) * 1e6)
        if error:
            server.errors.append(error)


def _pid(server: Server) -> int:
    assert server.process is not None
    return server.process.pid


def _pairing(load: Load) -> str:
    if load.together:
        return "In each round the bare and childsafe servers are driven at the same time."
    return (
        "In each round the bare and childsafe servers run back to back (the order "
        "flipping each round)."
    )


def run_servers(load: Load, rounds: int) -> list[Server]:
    """Start every server, check each answers as it should, then drive each pair (bare
    and childsafe) round after round: both at once (``load.together``), or one after
    the other with the order flipping each round; stop them all at the end."""
    servers = [
        Server(framework, variant, kind, f"{name}_{_SERVER_SUFFIXES[variant]}")
        for framework, kind, name, checked in SERVED
        for variant in (BARE, checked)
    ]
    with tempfile.TemporaryDirectory(prefix="childsafe-bench-") as tmp:
        logs = Path(tmp)
        try:
            for server in servers:
                start(server, logs, load.pin)
            for server in servers:
                wait_ready(server, logs)
                allowed, denied = post(server.port, ALLOWED_TOKEN), post(server.port, DENIED_TOKEN)
                want = (201, 201 if server.variant == BARE else 403)
                if (allowed, denied) != want:
                    msg = f"{server.app} answered {allowed} and {denied}, expected {want}"
                    raise RuntimeError(msg)
                drive(load, server.port, 1.0)  # warm-up, not recorded
            for n in range(rounds):
                for pair in range(0, len(servers), 2):
                    order = servers[pair : pair + 2]
                    if load.together:
                        print(
                            f"  round {n + 1}/{rounds}: {order[0].app} and {order[1].app} "
                            f"on {order[0].kind} ...",
                            file=sys.stderr,
                            flush=True,
                        )
                        measure(load, order)
                        continue
                    for server in order if n % 2 == 0 else reversed(order):
                        print(
                            f"  round {n + 1}/{rounds}: {server.app} on {server.kind} ...",
                            file=sys.stderr,
                            flush=True,
                        )
                        measure(load, [server])
        finally:
            for server in servers:
                stop(server)
    return servers


# -- reporting -------------------------------------------------------------------


def us(value: float) -> str:
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def in_process_table(timed: list[Timed]) -> str:
    lines = [
        (
            "| Framework | How childsafe is added | Bare (µs) | Empty hook (µs) "
            "| With childsafe (µs) | Overhead (µs) | Overhead, fastest samples (µs) "
            "| With response filter: overhead (µs) | Hand-written floor: overhead (µs) |"
        ),
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for framework in FRAMEWORKS:
        bare, hook, wrapped, filtered = (find(timed, framework.name, v) for v in VARIANTS)
        floor = "—"
        if framework.name in MAIN:
            floor = f"{overhead_us(find(timed, framework.name, FLOOR), bare):+.2f}"
        lines.append(
            f"| {framework.name} | {framework.how} | {us(bare.median_us)} "
            f"| {us(hook.median_us)} "
            f"| {us(wrapped.median_us)} | **{overhead_us(wrapped, bare):+.2f}** "
            f"| {wrapped.min_us - bare.min_us:+.2f} "
            f"| {overhead_us(filtered, bare):+.2f} | {floor} |"
        )
    return "\n".join(lines)


# -- where the time goes -----------------------------------------------------------


def pieces_namespace() -> dict[str, Any]:
    """What the pieces' statements run with."""
    from django.core.handlers import wsgi as django_wsgi  # type: ignore[import-untyped]  # noqa: PLC0415

    from childsafe.contrib.django.request import DjangoRequest  # noqa: PLC0415

    django_app(BARE)  # configures Django
    environ = wsgi_environ(ALLOWED_TOKEN)
    scope = asgi_scope(ALLOWED_TOKEN)
    short = dict(scope, headers=[(b"host", b"127.0.0.1"), scope["headers"][-1]])
    request = WSGIRequest(environ, {"user_id": "sam"})
    chain = ResolverChain(RESOLVERS)
    context = chain.context(GUARD, request, REPOSITORY)
    relationship = REPOSITORY.relationship(AUNT, SAM)
    return {
        **globals(),
        "environ": environ,
        "scope": scope,
        "short": short,
        "request": request,
        "chain": chain,
        "context": context,
        "relationship": relationship,
        "authorization": environ["HTTP_AUTHORIZATION"],
        "DjangoWSGIRequest": django_wsgi.WSGIRequest,
        "DjangoRequest": DjangoRequest,
        "ASGIRequest": ASGIRequest,
        "resolve": resolve,
    }


# The pieces one checked request runs through: (label, statement).
PIECES: Final = (
    ("`wsgi.WSGIRequest(environ)`", "WSGIRequest(environ)"),
    ("`RouteTable.match` (one route)", "ROUTES.match('POST', PATH)"),
    ("— the floors' regular expression instead", "_DM_PATH.fullmatch(PATH)"),
    (
        "`ResolverChain.run` (what adapters run): `bearer_token` + cached `verify`",
        "chain.run(request)",
    ),
    ("— `bearer_token(verify)(request)` alone", "RESOLVERS[0](request)"),
    ("— `WSGIRequest.header` alone", "request.header('authorization')"),
    (
        "`ResolverChain.context`: the same + the `RequestContext`",
        "chain.context(GUARD, request, REPOSITORY)",
    ),
    (
        "`resolve(...)`, the public function (builds the chain and a `Resolution`)",
        "resolve(RESOLVERS, request)",
    ),
    (
        "`RequestContext.check_rule` (sync; includes the next three)",
        "context.check_rule(SEND_DM_RULE, request); context.decisions.clear()",
    ),
    (
        "— `Guard.check` itself",
        "GUARD.check('dm.send', actor=AUNT, target=SAM, relationship=relationship)",
    ),
    (
        "— the app's `repository.relationship` (a dict lookup)",
        "REPOSITORY.relationship(AUNT, SAM)",
    ),
    (
        "— what a repository building a `Relationship` per call adds",
        "Relationship(connected=True)",
    ),
    ("— the extractor (`path_param`)", "SEND_DM_RULE.target(request)"),
    (
        "The floors' whole check (`hand_check`: token, `verify`, both loads, `Guard.check`)",
        "hand_check(authorization, 'sam')",
    ),
    (
        "`asgi.ASGIRequest.header`, first call, 12 headers",
        "ASGIRequest(scope).header('authorization')",
    ),
    (
        "`asgi.ASGIRequest.header`, first call, 2 headers",
        "ASGIRequest(short).header('authorization')",
    ),
    (
        "`DjangoRequest.header` (reads `request.META`), with building the Django request",
        "DjangoRequest(DjangoWSGIRequest(environ.copy())).header('authorization')",
    ),
    (
        "— Django's own `request.headers` first read instead, 12 headers",
        "DjangoWSGIRequest(environ.copy()).headers.get('authorization')",
    ),
    ("— building the Django request alone", "DjangoWSGIRequest(environ.copy())"),
)
PIECE_CALLS: Final = 2000  # calls of a piece per counted process (another makes none)


@dataclass(frozen=True)
class Piece:
    label: str
    us: float  # best of 9 timeit runs, per call
    instructions: int | None = None  # per call, under Valgrind


def breakdown() -> list[Piece]:
    """Warm per-call costs of the pieces a checked request runs through (best of 9
    ``timeit`` runs), to show where an adapter's time goes."""
    namespace = pieces_namespace()
    out = []
    for label, stmt in PIECES:
        timer = timeit.Timer(stmt, globals=namespace, timer=time.thread_time_ns)
        best = min(timer.repeat(9, PIECE_CALLS)) / PIECE_CALLS / 1000
        out.append(Piece(label, best))
    return out


def run_piece(index: int, number: int) -> None:
    """What a counting subprocess runs for a piece: warm it up, then ``number`` calls."""
    stmt = PIECES[index][1]
    timer = timeit.Timer(stmt, globals=pieces_namespace())
    timer.timeit(50)
    gc.collect()
    gc.disable()
    timer.timeit(number)


def count_pieces(pieces: list[Piece]) -> list[Piece]:
    """``pieces`` with the instructions of each call, counted under Valgrind: a process
    making ``PIECE_CALLS`` calls less one making none."""
    jobs = [(i, n) for i in range(len(PIECES)) for n in (0, PIECE_CALLS)]

    def count(job: tuple[int, int]) -> int:
        return _instructions("--count-piece", str(job[0]), str(job[1]))

    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        totals = dict(zip(jobs, pool.map(count, jobs), strict=True))
    return [
        Piece(p.label, p.us, (totals[i, PIECE_CALLS] - totals[i, 0]) // PIECE_CALLS)
        for i, p in enumerate(pieces)
    ]


def breakdown_table(rows: list[Piece]) -> str:
    lines = ["| Piece | µs per call | Instructions per call |", "|---|--:|--:|"]
    lines += [
        f"| {p.label} | {us(p.us)} | {'—' if p.instructions is None else f'{p.instructions:,}'} |"
        for p in rows
    ]
    return "\n".join(lines)


def server_table(servers: list[Server]) -> str:
    lines = [
        (
            "| Framework | Checked by | Server | Bare (req/s) | Checked (req/s) | Ratio "
            "| Ratio range over rounds | Server CPU per request, bare → checked (µs) "
            "| Responses |"
        ),
        "|---|---|---|--:|--:|--:|--:|--:|---|",
    ]
    for pair in range(0, len(servers), 2):
        bare, wrapped = servers[pair], servers[pair + 1]
        server = "gunicorn, 2 sync workers" if bare.kind == "gunicorn" else "uvicorn, 1 worker"
        by = "childsafe" if wrapped.variant == WRAPPED else "hand-written floor"
        ratios = paired_ratios(bare, wrapped)
        notes = "; ".join(sorted(set(bare.errors + wrapped.errors))) or "all 201"
        lines.append(
            f"| {bare.framework} | {by} | {server} | {bare.rate:,.0f} | {wrapped.rate:,.0f} "
            f"| **{statistics.median(ratios):.3f}x** | {min(ratios):.2f}x-{max(ratios):.2f}x "
            f"| {bare.cpu:.0f} → {wrapped.cpu:.0f} ({wrapped.cpu - bare.cpu:+.0f}) | {notes} |"
        )
    return "\n".join(lines)


def paired_ratios(bare: Server, wrapped: Server) -> list[float]:
    """With childsafe / bare, per round: the two ran at the same time or back to back,
    so drift in the machine's load hits both runs of a round alike."""
    return [w / b for b, w in zip(bare.rates, wrapped.rates, strict=True)]


@dataclass(frozen=True)
class Target:
    text: str
    measured: str
    passed: bool


def targets(counted: list[Counted] | None) -> list[Target]:
    """The targets: per adapter, at most ``MAX_INSTRUCTION_RATIO`` times the
    instructions the hand-written floor adds (the median over the memory layouts)."""
    return [
        Target(
            f"{row.framework}: childsafe adds at most {MAX_INSTRUCTION_RATIO:g}x the "
            "instructions of the hand-written floor",
            f"{row.ratio:.2f}x ({', '.join(f'{r:.2f}x' for r in row.ratios())} in the layouts)",
            row.passed,
        )
        for row in added(counted or [])
    ]


def wall_clock_marks(timed: list[Timed], servers: list[Server] | None) -> list[Target]:
    """The former wall-clock targets, recorded for information: they move with the
    shared machine's load from one run to the next."""
    out = []
    for framework in MAIN:
        overhead = overhead_us(find(timed, framework, WRAPPED), find(timed, framework, BARE))
        out.append(
            Target(
                f"{framework}: at most {MAX_OVERHEAD_US:g} µs added per request in process",
                f"{overhead:+.2f} µs",
                overhead <= MAX_OVERHEAD_US,
            )
        )
    for pair in range(0, len(servers or []), 2):
        assert servers is not None
        bare, wrapped = servers[pair], servers[pair + 1]
        if wrapped.variant != WRAPPED:
            continue  # the floor: shown for comparison
        floor = MIN_RATIO_GUNICORN if bare.kind == "gunicorn" else MIN_RATIO_UVICORN
        ratio = statistics.median(paired_ratios(bare, wrapped))
        out.append(
            Target(
                f"{bare.framework} on {bare.kind}: at least {floor:.2f}x bare throughput",
                f"{ratio:.3f}x",
                ratio >= floor and not (bare.errors or wrapped.errors),
            )
        )
    return out


def targets_table(rows: list[Target], *, met: tuple[str, str] = ("pass", "**FAIL**")) -> str:
    lines = ["| Target | Measured | Result |", "|---|---|---|"]
    lines += [f"| {t.text} | {t.measured} | {met[0] if t.passed else met[1]} |" for t in rows]
    return "\n".join(lines)


def wrk_version() -> str:
    if shutil.which("wrk") is None:
        return "not installed"
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    found = re.search(r"wrk ([^\s\[]+)", out.stdout + out.stderr)
    return found.group(1) if found else "unknown"


def uvicorn_stack() -> str:
    """Which HTTP parser and event loop uvicorn picks with its defaults ("auto")."""
    parser = "httptools" if _harness.package_version("httptools") != "not installed" else "h11"
    loop = "uvloop" if _harness.package_version("uvloop") != "not installed" else "asyncio"
    return f"{parser} + {loop}"


@dataclass
class Run:
    """Everything one run measured, and how busy the machine was."""

    timed: list[Timed]
    pieces: list[Piece]
    servers: list[Server] | None
    load: Load | None
    samples: int
    sample_ms: float
    load_average: list[tuple[float, float, float]] = field(default_factory=list)
    counted: list[Counted] | None = None


def load_average() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:
        return (math.nan, math.nan, math.nan)


def section(run: Run) -> str:
    timed, servers, load = run.timed, run.servers, run.load
    packages = ", ".join(
        f"{name} {_harness.package_version(name)}"
        for name in (
            "childsafe",
            "flask",
            "django",
            "starlette",
            "fastapi",
            "gunicorn",
            "uvicorn",
        )
    )
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if servers is not None and load is not None:
        server_part = f"""### On real servers

{server_table(servers)}

Requests per second are the median of {len(servers[0].rates)} rounds of {load.seconds:g} s
runs, after a 1 s warm-up. {_pairing(load)} The ratio is the median of the per-round
ratios. Each framework is served twice against its bare app: checked by childsafe, and
by the hand-written floor (see the instructions below), which shows how much of the
drop any check costs on that server. None of this is a target.
The server CPU per request is the CPU time (user + system, from `/proc`) the server's
processes used during a run, divided by the requests answered: the adapter's cost on a
real server, less sensitive to the load generator and other work on the machine than
the request rate. Load: {load.describe()}. uvicorn runs with its defaults
({uvicorn_stack()}, 1 worker); gunicorn with 2 sync workers, which close the
connection after each response. {_sharing(load)}"""
    else:
        server_part = "### On real servers\n\nNot run (`--no-servers`)."
    return f"""<!-- adapters:start -->
## Web adapters

The cost of each web adapter per request, against the same app without childsafe and
against a hand-written guard doing the same work in the framework's own hook. One
endpoint everywhere, `POST /users/{{user_id}}/messages` answering `201 {{"sent": true}}`:
the connected aunt messaging a 15-year-old, so the check allows it and the endpoint
runs. The account comes from a bearer token already verified and cached (a dict
lookup); the repository is in memory: a dict of accounts and one of prebuilt
relationships, as an app caching its social graph would hold them, so the tables measure
childsafe rather than the app's own lookup (what building a `Relationship` per call
would add is in the pieces table). Every app is first checked to answer `201` to the
aunt and, with childsafe or the hand-written guard, `403` to an adult stranger.

The target is counted, not timed: the instructions childsafe adds to a checked request,
at most {MAX_INSTRUCTION_RATIO:g}x those a hand-written guard adds (see *Instructions per
request*). This machine has 2 CPUs shared with other work, and its wall-clock speed
changes by a third within minutes, so a timed target passes or fails with the load of
the moment; the number of instructions a request executes does not depend on it. The
times, in process and on real servers, are recorded beside the counts for information.
A test guards the same thing in CI without Valgrind: `tests/test_call_budget.py` counts
the Python calls into childsafe one checked request makes (allowed and denied) on each
adapter, against a committed budget (`tests/call_budget.json`).

- Date: {now}
- Machine: {_harness.machine()}
- Python: {_harness.python()}
- Packages: {packages}, wrk {wrk_version()}
- Reproduce: `{COMMAND}`

### In process

{in_process_table(timed)}

Median CPU time per request (`time.thread_time_ns`, so time spent waiting for a CPU
while other work runs is not counted), calling the app directly: WSGI apps with a
prebuilt environ (copied per request), ASGI apps with a prebuilt scope in one asyncio
event loop. Requests carry a browser's 11 headers besides the token. The iterations per
sample are chosen so one sample takes about {run.sample_ms:g} ms; {run.samples} rounds,
each taking one sample of every app: a framework's variants (bare, empty hook, with
childsafe, with the filter) back to back, so they see the machine at the same speed,
and the frameworks, and the variants within each, in an order shuffled every round;
garbage collector off. What the collector
would cost is kept out by a test rather than timed: `tests/test_adapter_memory.py`
checks that no adapter leaves more objects in reference cycles than its bare app
(the Django middleware once left each request in one: the collector then ran every
46 requests on a real server, a cost this table never showed).

- *Overhead* is the median over the rounds of the difference between
  the app with childsafe and the bare app in that round, taken moments apart: this
  machine is shared and its speed changes by a third within minutes, which a
  difference of medians would pick up. The filter column is measured the same way;
  *fastest samples* is the difference of the minimums.
- *Empty hook* is the app with only the framework's integration point and nothing in
  it: a pass-through middleware (WSGI, ASGI, Django), an empty `before_request`
  function (Flask; the extension adds an `after_request` one only to filter), a
  pass-through middleware plus a pass-through around the route's app (`@action` on
  Starlette endpoints, where `install(app)` puts its check), an empty async dependency
  (FastAPI) or an awaited empty coroutine (Starlette's `require` call). Part of every
  adapter's overhead is this cost, which the framework charges for any extension.
- *Hand-written floor* is the same difference for the hand-written guard of the
  instruction target (the six adapters only).
- The response filter finds nothing to remove in `{{"sent": true}}`, so its column is
  the cost of holding and parsing a small JSON response.
- Load average (1, 5, 15 min) at the start and at the end of the run:
  {", ".join("/".join(f"{x:.2f}" for x in la) for la in run.load_average)}.

### Where the time goes

{breakdown_table(run.pieces)}

Warm per-call costs of the pieces one checked request runs through: CPU time (best of
9 `timeit` runs of {PIECE_CALLS:,} calls), and instructions, counted by Valgrind as
below (a process making {PIECE_CALLS:,} calls less one making none, divided by
{PIECE_CALLS:,}; the `timeit` loop's own cost included). In a whole
request these pieces run with colder caches and cost more time than in a tight loop,
but the same instructions: the instructions of the pieces an adapter runs add up to
about what it adds per request.

{server_part}

{instructions_part(run)}

### Targets

{targets_table(targets(run.counted)) if run.counted else "Not counted."}

For information only, the wall-clock targets these adapters were once held to (met or
not with this run's load):

{targets_table(wall_clock_marks(timed, servers), met=("met", "not met"))}
<!-- adapters:end -->"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--write", action="store_true", help=f"update {RESULTS.name}")
    parser.add_argument("--samples", type=int, default=15, help="samples per app (in process)")
    parser.add_argument("--sample-ms", type=float, default=40.0, help="duration of one sample")
    parser.add_argument("--no-servers", action="store_true", help="skip the real-server part")
    parser.add_argument("--seconds", type=float, default=3.0, help="load duration per run")
    parser.add_argument("--rounds", type=int, default=5, help="runs per server")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections")
    parser.add_argument(
        "--one-at-a-time",
        action="store_true",
        help="drive the bare and childsafe servers one after the other (default: at once)",
    )
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="let servers and the load generator share every CPU (default: one each)",
    )
    parser.add_argument(
        "--no-instructions",
        action="store_true",
        help="skip counting instructions per request (needs valgrind)",
    )
    parser.add_argument(
        "--count-runs",
        type=int,
        default=COUNT_RUNS,
        help="Valgrind counting runs, each in its own memory layout (the median is the figure)",
    )
    parser.add_argument(
        "--only-instructions",
        action="store_true",
        help="count instructions and print their table; time nothing",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=[name.split()[0].lower() for name in MAIN],
        help="with --only-instructions: count this adapter only (repeat for several)",
    )
    parser.add_argument("--count-one", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--count-piece", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.count_one:  # a counting subprocess (see count_instructions)
        framework, variant, number = args.count_one
        serve_for_count(framework, variant, int(number))
        return 0
    if args.count_piece:  # a counting subprocess (see count_pieces)
        run_piece(*args.count_piece)
        return 0
    if args.only_instructions:  # the target alone, printed (nothing is written)
        chosen = [name for name in MAIN if not args.only or name.split()[0].lower() in args.only]
        counted = count_instructions(chosen, (BARE, WRAPPED, FLOOR), args.count_runs)
        print(instructions_table(counted))
        print(spread(counted))
        print()
        print(targets_table(targets(counted)))
        return 0

    def interrupted(signum: int, frame: types.FrameType | None) -> None:
        del frame
        raise SystemExit(128 + signum)  # unwinds through `finally`, stopping the servers

    signal.signal(signal.SIGTERM, interrupted)
    started = load_average()
    loop = asyncio.new_event_loop()
    try:
        timed = build_timed(loop)
        print(
            f"In process: {len(timed)} apps, {args.samples} samples of ~{args.sample_ms:g} ms ...",
            file=sys.stderr,
            flush=True,
        )
        time_in_process(timed, args.samples, args.sample_ms)
    finally:
        loop.close()
    print(in_process_table(timed))
    pieces = breakdown()
    print()
    print(breakdown_table(pieces))
    run = Run(timed, pieces, None, None, args.samples, args.sample_ms, [started])
    if not args.no_servers:
        pin = can_pin() and not args.no_pin
        with tempfile.TemporaryDirectory(prefix="childsafe-wrk-") as tmp:
            if shutil.which("wrk"):
                script = Path(tmp) / "post.lua"
                script.write_text(WRK_SCRIPT)
                run.load = Load(
                    "wrk", args.connections, 1, args.seconds, script, pin, not args.one_at_a_time
                )
            else:
                run.load = Load(
                    "python", 4, 1, args.seconds, pin=pin, together=not args.one_at_a_time
                )
            print(f"Real servers: {run.load.describe()} ...", file=sys.stderr, flush=True)
            run.servers = run_servers(run.load, args.rounds)
        print()
        print(server_table(run.servers))
    run.load_average.append(load_average())
    if not args.no_instructions and shutil.which("valgrind"):
        print("Counting instructions under Valgrind ...", file=sys.stderr, flush=True)
        run.counted = count_instructions(MAIN, (BARE, WRAPPED, FLOOR), args.count_runs)
        run.pieces = count_pieces(run.pieces)
        print()
        print(breakdown_table(run.pieces))
        print()
        print(instructions_table(run.counted))
        print(spread(run.counted))
        print()
        print(targets_table(targets(run.counted)))
    print()
    print(targets_table(wall_clock_marks(timed, run.servers), met=("met", "not met")))
    if args.write:
        _harness.write_section("adapters", section(run))
        print(
            f"\nUpdated the adapters section of {RESULTS.relative_to(HERE.parent)}",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
