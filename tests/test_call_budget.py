"""A committed budget of Python calls into childsafe per checked request, per adapter.

Wall-clock time on a shared machine moves by a third within minutes, so speed is
guarded here by something that does not move: the number of Python function calls a
checked request makes into childsafe's own code. Each of the six adapters serves one
declared route (``POST /users/{user_id}/messages``, ``dm.send`` on the path's
``user_id``); after a warm-up, one allowed request (the connected aunt) and one denied
request (an adult stranger) are served under :func:`sys.setprofile`, counting the
``call`` events of frames whose code lives in the ``childsafe`` package (the
framework's own calls are not counted, so upgrading a framework does not move the
count). Each count must be at most its budget in ``tests/call_budget.json`` and at least
80 % of it, so a budget left high after a speed-up cannot hide the next slow-down.

After a change that moves a count on purpose, re-record the budgets and commit the
JSON with the change::

    CHILDSAFE_RECORD_CALL_BUDGET=1 python -m pytest tests/test_call_budget.py

Without that variable the test never writes. The accounts, repository and token
resolution are those of ``benchmarks/bench_adapters.py`` (a dict of accounts, one of
prebuilt relationships, a bearer token looked up in a dict), copied here so the tests
do not import the benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

import pytest
from django.core.handlers.wsgi import WSGIHandler  # type: ignore[import-untyped]
from django.http import JsonResponse  # type: ignore[import-untyped]
from django.test import override_settings  # type: ignore[import-untyped]
from django.urls import path  # type: ignore[import-untyped]
from fastapi import Depends, FastAPI
from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request as HTTPRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import childsafe
from childsafe import (
    Account,
    Guard,
    Relationship,
    RequestContext,
    RouteTable,
    action,
    action_rule,
    bearer_token,
    path_param,
)
from childsafe.asgi import ChildsafeMiddleware as ASGIMiddleware
from childsafe.asgi import Receive, Scope, Send
from childsafe.contrib.flask import ChildSafe
from childsafe.contrib.starlette import install, require
from childsafe.wsgi import ChildsafeMiddleware as WSGIMiddleware
from tests import django_settings

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

BUDGET_FILE: Final = Path(__file__).with_name("call_budget.json")
RECORD_VARIABLE: Final = "CHILDSAFE_RECORD_CALL_BUDGET"
RECORD_COMMAND: Final = f"{RECORD_VARIABLE}=1 python -m pytest tests/test_call_budget.py"
LOWEST_SHARE: Final = 0.8  # a count below this share of its budget asks for a lower one
PACKAGE: Final = str(Path(childsafe.__file__).resolve().parent) + os.sep

# -- the benchmark's cast: a 15-year-old, her connected aunt, a stranger -------------

SAM: Final = Account(id="sam", band="13_15", jurisdiction="GB")
AUNT: Final = Account(id="aunt_jo", band="adult", jurisdiction="GB")
STRANGER: Final = Account(id="stranger", band="adult", jurisdiction="GB")
TOKENS: Final = {"t-aunt": AUNT, "t-stranger": STRANGER, "t-sam": SAM}
STRANGERS: Final = Relationship()
TARGET_PATH: Final = "/users/sam/messages"
STATUSES: Final = {"allowed": ("t-aunt", 201), "denied": ("t-stranger", 403)}


def verify(token: str) -> Account | None:
    """The token was verified at sign-in and cached: one dict lookup."""
    return TOKENS.get(token)


class Accounts:
    """Accounts by id and prebuilt relationships, in memory (as in the benchmark)."""

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
ROUTES: Final = RouteTable(
    {"POST /users/{user_id}/messages": action_rule("dm.send", target=path_param("user_id"))}
)
# Module level: FastAPI evaluates the (string) annotations in the module's namespace.
SEND_DM: Final = require("dm.send", target=path_param("user_id"))

Serve = Callable[[str], int]
"""Serves one request with the bearer token given; the response's status."""

# -- the six apps ------------------------------------------------------------------


def wsgi_endpoint(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    del environ
    start_response("201 Created", [("Content-Type", "application/json")])
    return [b'{"sent":true}']


async def asgi_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    del scope, receive
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 201, "headers": headers})
    await send({"type": "http.response.body", "body": b'{"sent":true}'})


def flask_app() -> WSGIApplication:
    app = Flask("call_budget")

    @app.post("/users/<user_id>/messages")
    @action("dm.send", target=path_param("user_id"))
    def send_message(user_id: str) -> tuple[dict[str, bool], int]:
        del user_id
        return {"sent": True}, 201

    ChildSafe(app, guard=GUARD, resolvers=RESOLVERS, repository=REPOSITORY)
    return app


@action("dm.send", target=path_param("user_id"))
def django_send_message(request: Any, user_id: str) -> Any:
    del request, user_id
    return JsonResponse({"sent": True}, status=201)


DJANGO_URLS: Final = types.ModuleType("call_budget_urls")
DJANGO_URLS.urlpatterns = [path("users/<str:user_id>/messages", django_send_message)]  # type: ignore[attr-defined]


def starlette_app() -> Any:
    @action("dm.send", target=path_param("user_id"))
    async def send_message(request: HTTPRequest) -> Response:
        del request
        return JSONResponse({"sent": True}, status_code=201)

    app = Starlette(routes=[Route("/users/{user_id}/messages", send_message, methods=["POST"])])
    app.add_middleware(ASGIMiddleware, guard=GUARD, resolvers=RESOLVERS, repository=REPOSITORY)
    install(app)
    return app


def fastapi_app() -> Any:
    app = FastAPI()

    @app.post("/users/{user_id}/messages", status_code=201)
    async def send_message(
        user_id: str, ctx: Annotated[RequestContext, Depends(SEND_DM)]
    ) -> dict[str, bool]:
        del user_id, ctx
        return {"sent": True}

    app.add_middleware(ASGIMiddleware, guard=GUARD, resolvers=RESOLVERS, repository=REPOSITORY)
    install(app)
    return app


# -- serving one request -------------------------------------------------------------


def wsgi_serve(app: WSGIApplication) -> Serve:
    def serve(token: str) -> int:
        statuses: list[str] = []

        def start_response(status: str, headers: object, exc_info: object = None) -> None:
            del headers, exc_info
            statuses.append(status)

        environ: dict[str, Any] = {
            "REQUEST_METHOD": "POST",
            "SCRIPT_NAME": "",
            "PATH_INFO": TARGET_PATH,
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_ACCEPT": "application/json",
            "HTTP_AUTHORIZATION": f"Bearer {token}",
            "CONTENT_LENGTH": "0",
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
        return int(statuses[-1].split()[0])

    return serve


def asgi_serve(app: Any, loop: asyncio.AbstractEventLoop) -> Serve:
    def serve(token: str) -> int:
        statuses: list[int] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": TARGET_PATH,
            "raw_path": TARGET_PATH.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [
                (b"host", b"127.0.0.1"),
                (b"accept", b"application/json"),
                (b"authorization", f"Bearer {token}".encode()),
                (b"content-length", b"0"),
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        # A loop left running in this thread (Playwright's sync API, when the browser
        # tests ran first) would refuse run_until_complete: set it aside meanwhile.
        running = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(None)
        try:
            loop.run_until_complete(app(scope, receive, send))
        finally:
            asyncio.events._set_running_loop(running)
        return statuses[-1]

    return serve


@contextlib.contextmanager
def served(adapter: str) -> Iterator[Serve]:
    """The app of ``adapter``, ready to serve requests."""
    if adapter == "Django middleware + @action":
        django_settings.setup()
        with override_settings(
            ROOT_URLCONF=DJANGO_URLS,
            MIDDLEWARE=["childsafe.contrib.django.middleware.ChildsafeMiddleware"],
            CHILDSAFE={
                "REPOSITORY": REPOSITORY,
                "RESOLVERS": list(RESOLVERS),
                "RESPONSE_FILTER": False,
            },
        ):
            yield wsgi_serve(WSGIHandler())
        return
    if adapter in WSGI_APPS:
        yield wsgi_serve(WSGI_APPS[adapter]())
        return
    loop = asyncio.new_event_loop()
    try:
        yield asgi_serve(ASGI_APPS[adapter](), loop)
    finally:
        loop.close()


WSGI_APPS: Final[dict[str, Callable[[], WSGIApplication]]] = {
    "WSGI middleware + RouteTable": lambda: WSGIMiddleware(
        wsgi_endpoint, guard=GUARD, resolvers=RESOLVERS, repository=REPOSITORY, routes=ROUTES
    ),
    "Flask ChildSafe + @action": flask_app,
}
ASGI_APPS: Final[dict[str, Callable[[], Any]]] = {
    "ASGI middleware + RouteTable": lambda: ASGIMiddleware(
        asgi_endpoint, guard=GUARD, resolvers=RESOLVERS, repository=REPOSITORY, routes=ROUTES
    ),
    "Starlette install(app) + @action": starlette_app,
    "FastAPI Depends(require(...))": fastapi_app,
}
ADAPTERS: Final = (
    "WSGI middleware + RouteTable",
    "ASGI middleware + RouteTable",
    "Flask ChildSafe + @action",
    "Django middleware + @action",
    "Starlette install(app) + @action",
    "FastAPI Depends(require(...))",
)

# -- counting ------------------------------------------------------------------------


def childsafe_calls(serve: Serve, token: str) -> tuple[int, int]:
    """``(status, calls)``: the response's status and the Python calls into childsafe's
    code (``call`` events of frames whose code is in the package, coroutine and
    generator resumptions included) while serving one request."""
    calls = 0

    def profile(frame: types.FrameType, event: str, arg: object) -> None:
        nonlocal calls
        del arg
        if event == "call" and frame.f_code.co_filename.startswith(PACKAGE):
            calls += 1

    sys.setprofile(profile)
    try:
        status = serve(token)
    finally:
        sys.setprofile(None)
    return status, calls


def load_budgets() -> dict[str, dict[str, int]]:
    if not BUDGET_FILE.exists():
        return {}
    budgets: dict[str, dict[str, int]] = json.loads(BUDGET_FILE.read_text())
    return budgets


def record(adapter: str, outcome: str, count: int) -> None:
    """Write ``count`` as the budget of ``adapter`` / ``outcome`` (record mode only)."""
    budgets = load_budgets()
    budgets.setdefault(adapter, {})[outcome] = count
    ordered = {a: dict(sorted(budgets[a].items())) for a in ADAPTERS if a in budgets}
    BUDGET_FILE.write_text(json.dumps(ordered, indent=2) + "\n")


class TestCallBudget:
    """Python calls into childsafe per checked request, per adapter."""

    @pytest.mark.parametrize("outcome", list(STATUSES))
    @pytest.mark.parametrize("adapter", ADAPTERS)
    def test_calls_within_budget(self, adapter: str, outcome: str) -> None:
        """A checked request makes at most its budgeted calls into childsafe (and at
        least 80 % of them), the same number every time."""
        token, expected = STATUSES[outcome]
        with served(adapter) as serve:
            # Warm-up: first-request set-up (caches, lazy imports) is not counted.
            assert [serve("t-aunt"), serve("t-stranger")] == [201, 403]
            status, count = childsafe_calls(serve, token)
            _, again = childsafe_calls(serve, token)
        assert status == expected, f"{adapter}: answered {status}, expected {expected}"
        assert count == again, f"{adapter} ({outcome}): {count} calls, then {again}"
        if os.environ.get(RECORD_VARIABLE) == "1":
            record(adapter, outcome, count)
            return
        budget = load_budgets().get(adapter, {}).get(outcome)
        where = f"{adapter}, {outcome} request"
        assert budget is not None, (
            f"{where}: no budget in {BUDGET_FILE.name} ({count} calls measured); "
            f"record one with `{RECORD_COMMAND}`"
        )
        assert count <= budget, (
            f"{where}: {count} calls into childsafe, over the budget of {budget} in "
            f"{BUDGET_FILE.name}. Make the request path cheaper or, if the calls buy "
            f"something worth their cost, re-record with `{RECORD_COMMAND}` and commit "
            "the JSON with the reason."
        )
        assert count >= LOWEST_SHARE * budget, (
            f"{where}: {count} calls into childsafe, less than {LOWEST_SHARE:.0%} of the "
            f"budget of {budget} in {BUDGET_FILE.name}. Lower the budget so it keeps "
            f"guarding: re-record with `{RECORD_COMMAND}` and commit the JSON."
        )
