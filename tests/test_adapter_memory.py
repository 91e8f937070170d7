"""No adapter leaves cyclic garbage behind a request.

A request whose objects form a reference cycle is freed only when the garbage
collector runs; on a busy server that means requests (headers, bodies, sessions) pile
up between collections, and the collections cost time the in-process benchmarks, run
with the collector off, never see. Each adapter is compared with the same app without
childsafe: with the collector off, serving a batch of requests (allowed and denied)
must leave no more unreachable objects for a collection to find than the bare app
does. (Django's middleware is checked in ``test_django.py``.)
"""

from __future__ import annotations

import asyncio
import gc
import io
import logging
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request as HTTPRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from childsafe import (
    Account,
    Guard,
    Relationship,
    RequestContext,
    RouteTable,
    action,
    action_rule,
    bearer_token,
    exempt,
    path_param,
)
from childsafe.asgi import ChildsafeMiddleware as ASGIMiddleware
from childsafe.asgi import Receive, Scope, Send
from childsafe.contrib.flask import ChildSafe
from childsafe.contrib.starlette import install, require
from childsafe.wsgi import ChildsafeMiddleware as WSGIMiddleware

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

SAM = Account(id="sam", band="13_15", jurisdiction="GB")
AUNT = Account(id="aunt_jo", band="adult", jurisdiction="GB")
STRANGER = Account(id="stranger", band="adult", jurisdiction="GB")
TOKENS = {"t-aunt": AUNT, "t-stranger": STRANGER}
PATH = "/users/sam/messages"
DM = action_rule("dm.send", target=path_param("user_id"))


class Accounts:
    def __init__(self) -> None:
        self.accounts = {a.id: a for a in (SAM, AUNT, STRANGER)}

    def get_account(self, account_id: str) -> Account | None:
        return self.accounts.get(account_id)

    def relationship(self, actor: Account, target: Account) -> Relationship:
        return Relationship(connected={actor.id, target.id} == {"aunt_jo", "sam"})


OPTIONS: dict[str, Any] = {
    "guard": Guard(),
    "resolvers": [bearer_token(TOKENS.get)],
    "repository": Accounts(),
}

# -- the apps, bare and with childsafe ------------------------------------------------


def wsgi_endpoint(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    del environ
    start_response("201 Created", [("Content-Type", "application/json")])
    return [b'{"sent":true}']


def wsgi_app(childsafe: bool) -> WSGIApplication:
    if not childsafe:
        return wsgi_endpoint
    return WSGIMiddleware(
        wsgi_endpoint, routes=RouteTable({"POST /users/{user_id}/messages": DM}), **OPTIONS
    )


def flask_app(childsafe: bool) -> WSGIApplication:
    app = Flask("memory")

    @app.post("/users/<user_id>/messages")
    @action("dm.send", target=path_param("user_id"))
    def send(user_id: str) -> tuple[dict[str, str], int]:
        return {"sent": user_id}, 201

    if childsafe:
        ChildSafe(app, **OPTIONS)
    return app


async def asgi_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    del scope, receive
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": b'{"sent":true}'})


def asgi_app(childsafe: bool) -> Any:
    if not childsafe:
        return asgi_endpoint
    return ASGIMiddleware(
        asgi_endpoint, routes=RouteTable({"POST /users/{user_id}/messages": DM}), **OPTIONS
    )


def starlette_app(childsafe: bool, *, declared: bool) -> Any:
    send_dm = require("dm.send", target=path_param("user_id"))

    async def plain(request: HTTPRequest) -> Response:
        return JSONResponse({"sent": request.path_params["user_id"]}, status_code=201)

    @action("dm.send", target=path_param("user_id"))
    async def with_action(request: HTTPRequest) -> Response:
        return JSONResponse({"sent": request.path_params["user_id"]}, status_code=201)

    @exempt("checks dm.send itself: await send_dm(request)")
    async def with_require(request: HTTPRequest) -> Response:
        await send_dm(request)
        return JSONResponse({"sent": request.path_params["user_id"]}, status_code=201)

    endpoint = (with_action if declared else with_require) if childsafe else plain
    app = Starlette(routes=[Route("/users/{user_id}/messages", endpoint, methods=["POST"])])
    if childsafe:
        app.add_middleware(ASGIMiddleware, **OPTIONS)
        install(app)
    return app


# Module level: FastAPI evaluates the (string) annotations in the module's namespace.
SEND_DM = require("dm.send", target=path_param("user_id"))


def fastapi_app(childsafe: bool) -> Any:
    app = FastAPI()
    if childsafe:

        @app.post("/users/{user_id}/messages", status_code=201)
        async def checked(
            user_id: str, ctx: Annotated[RequestContext, Depends(SEND_DM)]
        ) -> dict[str, str]:
            return {"sent": user_id, "by": ctx.account.id}

        app.add_middleware(ASGIMiddleware, **OPTIONS)
        install(app)
    else:

        @app.post("/users/{user_id}/messages", status_code=201)
        async def bare(user_id: str) -> dict[str, str]:
            return {"sent": user_id}

    return app


# -- serving a batch of requests --------------------------------------------------------


def wsgi_batch(app: WSGIApplication) -> Callable[[str], int]:
    def serve(token: str) -> int:
        statuses: list[str] = []

        def start_response(status: str, headers: object, exc_info: object = None) -> None:
            del headers, exc_info
            statuses.append(status)

        environ: dict[str, Any] = {
            "REQUEST_METHOD": "POST",
            "SCRIPT_NAME": "",
            "PATH_INFO": PATH,
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_AUTHORIZATION": f"Bearer {token}",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        body = app(environ, start_response)  # type: ignore[arg-type]
        for _ in body:
            pass
        close = getattr(body, "close", None)
        if close is not None:
            close()
        return int(statuses[0].split()[0])

    return serve


def asgi_batch(app: Any, loop: asyncio.AbstractEventLoop) -> Callable[[str], int]:
    def serve(token: str) -> int:
        statuses: list[int] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": PATH,
            "raw_path": PATH.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"authorization", f"Bearer {token}".encode()), (b"host", b"app")],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        loop.run_until_complete(app(scope, receive, send))
        return statuses[0]

    return serve


def garbage_left(serve: Callable[[str], int], tokens: list[str]) -> int:
    """Objects that serving ``tokens`` 25 times each leaves in reference cycles: with
    the collector off, what a collection then finds unreachable. Measured after a
    warm-up, so first-request set-up is not counted. The collector is off for the whole
    process, so a background thread left by an earlier test (an idle audit writer, say)
    can only add to the count: the least of three rounds is what serving leaves."""
    for token in tokens:
        serve(token)
    rounds = []
    for _ in range(3):
        gc.collect()
        gc.disable()
        try:
            for _ in range(25):
                for token in tokens:
                    serve(token)
            rounds.append(gc.collect())
        finally:
            gc.enable()
    return min(rounds)


@pytest.fixture(name="loop")
def _loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


APPS: dict[str, tuple[str, Callable[[bool], Any]]] = {
    "WSGI middleware": ("wsgi", wsgi_app),
    "Flask extension": ("wsgi", flask_app),
    "ASGI middleware": ("asgi", asgi_app),
    "Starlette @action": ("asgi", lambda c: starlette_app(c, declared=True)),
    "Starlette require": ("asgi", lambda c: starlette_app(c, declared=False)),
    "FastAPI dependency": ("asgi", fastapi_app),
}


@pytest.mark.parametrize("name", list(APPS))
@pytest.mark.parametrize(
    "tokens",
    [["t-aunt"], ["t-stranger"], ["t-aunt", "t-stranger"]],
    ids=["allowed", "denied", "both"],
)
def test_no_cyclic_garbage_beyond_the_bare_apps(
    name: str, tokens: list[str], loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    """Serving requests through the adapter leaves no more objects for the garbage
    collector than the bare app does (and the checks ran: the stranger is refused)."""
    caplog.set_level(logging.ERROR)  # log records hold what they were logged with
    kind, build = APPS[name]
    left = {}
    for childsafe in (False, True):
        app = build(childsafe)
        serve = wsgi_batch(app) if kind == "wsgi" else asgi_batch(app, loop)
        if childsafe:
            assert [serve(t) for t in ("t-aunt", "t-stranger")] == [201, 403]
        left[childsafe] = garbage_left(serve, tokens)

    assert left[True] <= left[False], f"{name}: {left[True]} objects in cycles, bare {left[False]}"
