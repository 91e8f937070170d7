"""The Starlette/FastAPI adapter (childsafe.contrib.starlette), through real apps and
Starlette's TestClient."""

from __future__ import annotations

import asyncio
import doctest
import importlib.util
import json
import sys
import warnings
from collections.abc import AsyncIterator, Coroutine, Iterable, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, WebSocket
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning
from starlette.requests import HTTPConnection
from starlette.requests import Request as HTTPRequest
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Message
from starlette.websockets import WebSocketDisconnect

import childsafe.contrib.starlette as childsafe_starlette
from childsafe import (
    Account,
    AccountRepository,
    AsyncAccountRepository,
    Decision,
    DenialResponse,
    Guard,
    Relationship,
    Request,
    RequestContext,
    Resolution,
    ResponseFilter,
    RouteTable,
    action_rule,
    bearer_token,
    exempt,
    json_field,
    path_param,
    query_param,
)
from childsafe.asgi import ChildsafeMiddleware
from childsafe.contrib.starlette import (
    ChildsafeDenied,
    StarletteRenderer,
    StarletteRequest,
    as_response,
    context,
    denial_handler,
    denial_response,
    get_context,
    install,
    require,
)
from childsafe.exceptions import ConfigurationError, MissingExtraError

with warnings.catch_warnings():
    # Starlette 1.10 prefers the `httpx2` fork for its TestClient; `httpx` still works.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

SAM = Account(
    id="sam",
    band="13_15",
    jurisdiction="GB",
    timezone="Europe/London",
    # A parent turned location sharing on for connections (the 13-15 floor allows it).
    settings={"location_sharing": "connections_coarse"},
)
AUNT = Account(id="aunt_jo", band="adult", jurisdiction="GB")
STRANGER = Account(id="stranger", band="adult", jurisdiction="GB")
PROFILES: dict[str, dict[str, Any]] = {
    "sam": {"id": "sam", "name": "Sam", "location": "Leeds", "lat": 53.8, "lng": -1.5},
    "aunt_jo": {"id": "aunt_jo", "name": "Jo", "location": "York"},
}


class MemoryRepository:
    """A real, in-memory account store: accounts by id and undirected connections."""

    def __init__(self, accounts: Iterable[Account], connections: Iterable[tuple[str, str]]) -> None:
        self.accounts = {a.id: a for a in accounts}
        self.connections = {frozenset(pair) for pair in connections}
        self.loaded: list[str] = []

    def get_account(self, account_id: str) -> Account | None:
        self.loaded.append(account_id)
        return self.accounts.get(account_id)

    def relationship(self, actor: Account, target: Account) -> Relationship:
        return Relationship(connected=frozenset((actor.id, target.id)) in self.connections)


class AsyncMemoryRepository:
    """The same store behind an async API, as an async database driver gives it."""

    def __init__(self, inner: MemoryRepository) -> None:
        self.inner = inner

    async def get_account(self, account_id: str) -> Account | None:
        return self.inner.get_account(account_id)

    async def relationship(self, actor: Account, target: Account) -> Relationship:
        return self.inner.relationship(actor, target)


class BrokenRepository:
    """A repository whose database is down."""

    def get_account(self, account_id: str) -> Account | None:
        raise OSError(f"database is down (loading {account_id})")

    def relationship(self, actor: Account, target: Account) -> Relationship:
        raise OSError(f"database is down (relating {actor.id} to {target.id})")


TOKENS = {"t-sam": SAM, "t-aunt": AUNT, "t-stranger": STRANGER}


def verify(token: str) -> Account | None:
    """A verified-token cache: the token was checked at sign-in."""
    return TOKENS.get(token)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def memory() -> MemoryRepository:
    return MemoryRepository([SAM, AUNT, STRANGER], [("sam", "aunt_jo")])


@pytest.fixture(name="repository")
def _repository() -> MemoryRepository:
    return memory()


class DMBody(BaseModel):
    to: str
    text: str


SEND_DM = require("dm.send", target=path_param("user_id"))
DM_BODY = require("dm.send", target=json_field("to"))
INVITE = require("group.invite", target=query_param("to"))
STRONG = require("content.show", sensitivity="strong")


class FastAPIHarness:
    """A FastAPI social app declaring its actions with dependencies; records what ran."""

    def __init__(
        self,
        repository: AccountRepository | AsyncAccountRepository,
        *,
        middleware: bool = True,
        handler: bool = True,
        response_filter: ResponseFilter | None = None,
        routes: RouteTable | None = None,
        strict: bool = True,
        **install_options: Any,
    ) -> None:
        self.ran: list[str] = []
        self.lifespan: list[str] = []
        ran = self.ran

        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            self.lifespan.append("startup")
            yield
            self.lifespan.append("shutdown")

        app = FastAPI(lifespan=lifespan)

        @app.post("/users/{user_id}/messages")
        async def send_message(
            user_id: str, ctx: Annotated[RequestContext, Depends(SEND_DM)]
        ) -> dict[str, str]:
            ran.append(f"dm {ctx.account.id}->{user_id}")
            return {"sent_to": user_id}

        @app.post("/messages")
        async def send_body_message(
            body: DMBody, ctx: Annotated[RequestContext, Depends(DM_BODY)]
        ) -> dict[str, str]:
            ran.append(f"dm {ctx.account.id}->{body.to}: {body.text}")
            return {"sent_to": body.to}

        @app.post("/invites", dependencies=[Depends(INVITE)])
        async def invite(to: str) -> dict[str, str]:
            ran.append(f"invite {to}")
            return {"invited": to}

        @app.get("/videos/strong", dependencies=[Depends(STRONG)])
        async def strong_video() -> dict[str, str]:
            ran.append("video")
            return {"video": "ok"}

        @app.get("/me")
        @exempt("the requester's own account")
        async def me(ctx: Annotated[RequestContext, Depends(get_context)]) -> dict[str, str]:
            return {"id": ctx.account.id, "direct_messages": str(ctx.settings.direct_messages)}

        @app.get("/users/{user_id}")
        @exempt("a read; the response filter removes what the viewer may not see")
        async def profile(user_id: str) -> dict[str, Any]:
            return PROFILES[user_id]

        @app.get("/suggestions")
        @exempt("a read; the response filter drops children from suggestions")
        async def suggestions() -> dict[str, Any]:
            return {"suggestions": [{"id": "sam"}, {"id": "aunt_jo"}]}

        @app.websocket("/ws/echo")
        @exempt("an echo: no account data")
        async def echo(websocket: WebSocket) -> None:
            await websocket.accept()
            text = await websocket.receive_text()
            touched = "childsafe.context" in websocket.scope
            await websocket.send_text(f"{text} (context: {touched})")
            await websocket.close()

        @app.websocket("/ws/chat/{user_id}")
        async def chat(
            websocket: WebSocket, user_id: str, ctx: Annotated[RequestContext, Depends(SEND_DM)]
        ) -> None:
            await websocket.accept()
            await websocket.send_text(f"chatting with {user_id} as {ctx.account.id}")
            await websocket.close()

        if middleware:
            app.add_middleware(
                ChildsafeMiddleware,
                guard=Guard(),
                resolvers=[bearer_token(verify)],
                repository=repository,
                response_filter=response_filter,
                routes=routes,
                strict=strict,
            )
        if handler:
            install(app, **install_options)
        self.app = app

    def client(self, **options: Any) -> TestClient:
        return TestClient(self.app, base_url="http://testserver", **options)


@pytest.fixture(name="harness")
def _harness(repository: MemoryRepository) -> FastAPIHarness:
    return FastAPIHarness(repository)


@pytest.fixture(name="client")
def _client(harness: FastAPIHarness) -> Iterator[TestClient]:
    with harness.client() as client:
        yield client


def assert_problem(response: Any, reason: str) -> dict[str, Any]:
    """The response is a 403 RFC 9457 problem document with ``reason``."""
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == 403
    assert body["reason"] == reason
    return body


class TestRequireWithFastAPI:
    def test_stranger_dm_to_teen_is_denied_with_problem_json(
        self, client: TestClient, harness: FastAPIHarness
    ) -> None:
        """An adult stranger's DM to a 15-year-old answers 403 problem+json; the endpoint
        never runs and nothing about the child leaks."""
        response = client.post("/users/sam/messages", headers=auth("t-stranger"))

        body = assert_problem(response, "not_connected")
        assert body["action"] == "dm.send"
        assert body["setting"] == "direct_messages"
        assert response.headers["cache-control"] == "no-store"
        assert "sam" not in response.text
        assert "13_15" not in response.text
        assert harness.ran == []

    def test_connected_relative_dm_is_delivered(
        self, client: TestClient, harness: FastAPIHarness
    ) -> None:
        """The child's connected aunt may message her: the endpoint runs with the context."""
        response = client.post("/users/sam/messages", headers=auth("t-aunt"))

        assert response.status_code == 200
        assert response.json() == {"sent_to": "sam"}
        assert harness.ran == ["dm aunt_jo->sam"]

    def test_anonymous_request_is_treated_as_a_child(
        self, client: TestClient, harness: FastAPIHarness
    ) -> None:
        """With no token the protective unknown-age account may not message a child."""
        response = client.post("/users/sam/messages")

        assert_problem(response, "not_connected")
        assert harness.ran == []

    def test_target_from_the_json_body(self, client: TestClient, harness: FastAPIHarness) -> None:
        """A target in the JSON body is checked, and the endpoint still gets the body."""
        denied = client.post(
            "/messages", json={"to": "sam", "text": "hi"}, headers=auth("t-stranger")
        )
        allowed = client.post("/messages", json={"to": "sam", "text": "hi"}, headers=auth("t-aunt"))

        assert_problem(denied, "not_connected")
        assert allowed.status_code == 200
        assert harness.ran == ["dm aunt_jo->sam: hi"]

    def test_json_body_with_json_suffix_type_is_read(
        self, client: TestClient, harness: FastAPIHarness
    ) -> None:
        """An ``application/*+json`` body is read for the target like plain JSON."""
        response = client.post(
            "/messages",
            content=json.dumps({"to": "sam", "text": "x"}),
            headers={**auth("t-stranger"), "content-type": "application/vnd.api+json"},
        )

        assert_problem(response, "not_connected")
        assert harness.ran == []

    def test_json_body_without_the_field_fails_closed(self, client: TestClient) -> None:
        """A JSON body without the target field is denied as unverifiable."""
        response = client.post("/messages", json={"text": "hi"}, headers=auth("t-aunt"))

        assert_problem(response, "unverifiable")

    def test_target_from_the_query(self, client: TestClient, harness: FastAPIHarness) -> None:
        """A target in the query is checked: a stranger may not invite a child to a group."""
        denied = client.post("/invites", params={"to": "sam"}, headers=auth("t-stranger"))
        allowed = client.post("/invites", params={"to": "aunt_jo"}, headers=auth("t-stranger"))

        assert_problem(denied, "approval_required")
        assert allowed.status_code == 200
        assert harness.ran == ["invite aunt_jo"]

    def test_repeated_query_target_fails_closed(
        self, client: TestClient, harness: FastAPIHarness
    ) -> None:
        """``?to=adult&to=child`` cannot smuggle the child past the check: an ambiguous
        target is denied."""
        response = client.post(
            "/invites", params=[("to", "aunt_jo"), ("to", "sam")], headers=auth("t-stranger")
        )

        assert_problem(response, "unverifiable")
        assert harness.ran == []

    def test_unknown_target_fails_closed(self, client: TestClient, harness: FastAPIHarness) -> None:
        """A target the repository does not know is denied, never waved through."""
        response = client.post("/users/nobody/messages", headers=auth("t-aunt"))

        assert_problem(response, "unverifiable")
        assert harness.ran == []

    def test_failing_repository_fails_closed(self) -> None:
        """A repository that raises denies the action instead of answering 500."""
        harness = FastAPIHarness(BrokenRepository())
        with harness.client() as client:
            response = client.post("/users/sam/messages", headers=auth("t-aunt"))

        assert_problem(response, "unverifiable")
        assert harness.ran == []

    def test_async_repository(self, repository: MemoryRepository) -> None:
        """An async repository is awaited: denials and allowances as with a sync one."""
        harness = FastAPIHarness(AsyncMemoryRepository(repository))
        with harness.client() as client:
            denied = client.post("/users/sam/messages", headers=auth("t-stranger"))
            allowed = client.post("/users/sam/messages", headers=auth("t-aunt"))

        assert_problem(denied, "not_connected")
        assert allowed.status_code == 200
        assert harness.ran == ["dm aunt_jo->sam"]

    def test_actor_only_rule_with_sensitivity(
        self, client: TestClient, harness: FastAPIHarness
    ) -> None:
        """A ``content.show`` declaration decides on the requester alone and says what
        would help, since it is about their own account."""
        teen = client.get("/videos/strong", headers=auth("t-sam"))
        adult = client.get("/videos/strong", headers=auth("t-aunt"))

        body = assert_problem(teen, "content_too_sensitive")
        assert body["action"] == "content.show"
        assert adult.json() == {"video": "ok"}
        assert harness.ran == ["video"]

    def test_context_dependency_gives_account_and_settings(self, client: TestClient) -> None:
        """``get_context`` hands the endpoint the resolved account and its settings."""
        teen = client.get("/me", headers=auth("t-sam")).json()
        anonymous = client.get("/me").json()

        assert teen == {"id": "sam", "direct_messages": "connections"}
        assert anonymous["id"] == "childsafe:anonymous"

    def test_missing_middleware_is_a_clear_error(self, repository: MemoryRepository) -> None:
        """Without the middleware the dependency refuses to run the endpoint and says
        how to fix it."""
        harness = FastAPIHarness(repository, middleware=False)

        with (
            harness.client() as client,
            pytest.raises(ConfigurationError, match=r"app\.add_middleware\(childsafe\.asgi"),
        ):
            client.post("/users/sam/messages", headers=auth("t-aunt"))
        assert harness.ran == []

    def test_missing_middleware_answers_500_not_success(self, repository: MemoryRepository) -> None:
        """To the client, a missing middleware is a server error, never an allowed action."""
        harness = FastAPIHarness(repository, middleware=False)

        with harness.client(raise_server_exceptions=False) as client:
            response = client.post("/users/sam/messages", headers=auth("t-aunt"))
            me = client.get("/me", headers=auth("t-aunt"))

        assert response.status_code == 500
        assert me.status_code == 500
        assert harness.ran == []

    def test_without_install_strict_mode_refuses(self, repository: MemoryRepository) -> None:
        """A forgotten ``install`` leaves strict mode nothing that checks the app's
        routes, so the middleware refuses every request as undeclared."""
        harness = FastAPIHarness(repository, handler=False)

        with harness.client() as client:
            response = client.post("/users/sam/messages", headers=auth("t-connected"))

        assert response.status_code == 403
        assert response.json()["reason"] == "undeclared_route"
        assert harness.ran == []

    def test_without_install_denial_is_still_403(self, repository: MemoryRepository) -> None:
        """With strict mode off, a forgotten ``install`` still refuses the action, in
        FastAPI's error format."""
        harness = FastAPIHarness(repository, handler=False, strict=False)

        with harness.client() as client:
            response = client.post("/users/sam/messages", headers=auth("t-stranger"))

        assert response.status_code == 403
        assert response.json() == {"detail": "Only the account's connections can do this."}
        assert harness.ran == []

    def test_declaration_mistakes_fail_at_import(self) -> None:
        """An unknown action or a missing target is refused when declared."""
        with pytest.raises(ConfigurationError, match=r"did you mean 'dm\.send'"):
            require("dm.sned", target=path_param("user_id"))
        with pytest.raises(ConfigurationError, match="declare where its id is"):
            require("dm.send")

    def test_repr_names_the_declaration(self) -> None:
        """A requirement shows what it declares, for debugging dependency trees."""

        def custom(request: Request) -> str | None:
            return request.header("x-target")

        assert repr(DM_BODY) == "require('dm.send', target=json_field('to'))"
        assert repr(INVITE) == "require('group.invite', target=query_param('to'))"
        assert repr(STRONG) == "require('content.show', sensitivity='strong')"
        assert repr(require("dm.send", target=custom)).startswith(
            "require('dm.send', target=<function"
        )


class TestWebsocketsWithFastAPI:
    def test_undeclared_websocket_is_untouched(self, client: TestClient) -> None:
        """A websocket no route declares passes through the middleware as it is."""
        with client.websocket_connect("/ws/echo") as ws:
            ws.send_text("hello")
            assert ws.receive_text() == "hello (context: False)"

    def test_dependency_on_websocket_without_context_is_a_clear_error(
        self, client: TestClient
    ) -> None:
        """A websocket dependency with no context explains that websockets must be
        declared in the middleware's route table."""
        with (
            pytest.raises(ConfigurationError, match="WEBSOCKET /path"),
            client.websocket_connect("/ws/chat/sam"),
        ):
            pass

    def test_declared_websocket_dependency_closes_with_1008(
        self, repository: MemoryRepository
    ) -> None:
        """On a websocket the middleware declares (here as starting a live stream, which
        adults may), the dependency checks the DM too: it closes a stranger's chat with
        code 1008 and lets the connected relative in."""
        routes = RouteTable({"WEBSOCKET /ws/chat/{user_id}": action_rule("live.start")})
        harness = FastAPIHarness(repository, routes=routes)
        with harness.client() as client:
            with (
                pytest.raises(WebSocketDisconnect) as refused,
                client.websocket_connect("/ws/chat/sam", headers=auth("t-stranger")) as ws,
            ):
                ws.receive_text()
            with client.websocket_connect("/ws/chat/sam", headers=auth("t-aunt")) as ws:
                greeting = ws.receive_text()

        assert refused.value.code == 1008
        assert refused.value.reason == "not_connected"
        assert greeting == "chatting with sam as aunt_jo"


class TestMiddlewareWithFastAPI:
    def test_response_filter_strips_child_location_for_stranger(
        self, repository: MemoryRepository
    ) -> None:
        """Through the middleware, a stranger sees the child's profile without her
        location; her connected aunt sees it; an adult's location is left alone."""
        harness = FastAPIHarness(repository, response_filter=ResponseFilter())
        with harness.client() as client:
            stranger = client.get("/users/sam", headers=auth("t-stranger"))
            aunt = client.get("/users/sam", headers=auth("t-aunt"))
            adult = client.get("/users/aunt_jo", headers=auth("t-stranger"))

        assert stranger.json() == {"id": "sam", "name": "Sam"}
        assert stranger.headers["content-length"] == str(len(stranger.content))
        assert "private" in stranger.headers["cache-control"]
        assert aunt.json() == PROFILES["sam"]
        assert adult.json() == PROFILES["aunt_jo"]

    def test_response_filter_drops_child_from_suggestions(
        self, repository: MemoryRepository
    ) -> None:
        """The child never appears in a stranger's friend suggestions."""
        harness = FastAPIHarness(repository, response_filter=ResponseFilter())
        with harness.client() as client:
            response = client.get("/suggestions", headers=auth("t-stranger"))

        assert response.json() == {"suggestions": [{"id": "aunt_jo"}]}

    def test_lifespan_still_runs(self, repository: MemoryRepository) -> None:
        """Startup and shutdown handlers fire with the middleware installed."""
        harness = FastAPIHarness(repository, response_filter=ResponseFilter())

        with harness.client() as client:
            assert harness.lifespan == ["startup"]
            client.get("/me")
        assert harness.lifespan == ["startup", "shutdown"]


def html_page(decision: Decision, request: Request) -> Response:
    """A browser-facing denial page, as an app would render from a template."""
    assert isinstance(request, StarletteRequest)
    return HTMLResponse(
        f"<h1>Not allowed</h1><p>{decision.reason.value} on {request.path}</p>", status_code=403
    )


class TestRenderers:
    def test_custom_renderer_returns_a_starlette_response(
        self, repository: MemoryRepository
    ) -> None:
        """A renderer can answer with an HTML page; the endpoint still never runs."""
        harness = FastAPIHarness(repository, renderer=html_page)
        with harness.client() as client:
            response = client.post("/users/sam/messages", headers=auth("t-stranger"))

        assert response.status_code == 403
        assert response.headers["content-type"].startswith("text/html")
        assert response.text == "<h1>Not allowed</h1><p>not_connected on /users/sam/messages</p>"
        assert harness.ran == []

    def test_custom_renderer_returns_a_denial_response(self, repository: MemoryRepository) -> None:
        """A framework-neutral ``DenialResponse`` is sent as it is."""

        def teapot(decision: Decision, request: Request) -> DenialResponse:
            return DenialResponse(
                418, (("content-type", "text/plain"), ("x-reason", decision.reason.value)), b"no"
            )

        harness = FastAPIHarness(repository, renderer=teapot)
        with harness.client() as client:
            response = client.post("/users/sam/messages", headers=auth("t-stranger"))

        assert response.status_code == 418
        assert response.headers["x-reason"] == "not_connected"
        assert response.headers["content-length"] == "2"
        assert response.text == "no"

    def test_renderer_success_status_becomes_403(self, repository: MemoryRepository) -> None:
        """A renderer answering 200 cannot make a denial look like success."""

        def cheerful(decision: Decision, request: Request) -> Response:
            return PlainTextResponse("sure")

        harness = FastAPIHarness(repository, renderer=cheerful)
        with harness.client() as client:
            response = client.post("/users/sam/messages", headers=auth("t-stranger"))

        assert (response.status_code, response.text) == (403, "sure")
        assert harness.ran == []

    def test_failing_renderer_falls_back_to_problem_json(
        self, repository: MemoryRepository, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A renderer that raises gives the default problem document, and is logged."""

        def broken(decision: Decision, request: Request) -> Response:
            raise RuntimeError("template missing")

        harness = FastAPIHarness(repository, renderer=broken)
        with harness.client() as client:
            response = client.post("/users/sam/messages", headers=auth("t-stranger"))

        assert_problem(response, "not_connected")
        assert "the denial renderer raised" in caplog.text

    def test_renderer_returning_garbage_falls_back_to_problem_json(
        self, repository: MemoryRepository
    ) -> None:
        """A renderer returning something that is not a response gives problem+json."""

        def wrong(decision: Decision, request: Request) -> Any:
            return "denied"

        harness = FastAPIHarness(repository, renderer=wrong)
        with harness.client() as client:
            response = client.post("/users/sam/messages", headers=auth("t-stranger"))

        assert_problem(response, "not_connected")

    def test_as_response_keeps_headers_in_order(self) -> None:
        """``as_response`` sends a DenialResponse's status, headers and body unchanged."""
        denial = DenialResponse(
            403,
            (("Content-Type", "text/plain"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")),
            b"x",
        )

        response = as_response(denial)

        assert response.status_code == 403
        assert response.body == b"x"
        assert response.raw_headers == [
            (b"content-type", b"text/plain"),
            (b"set-cookie", b"a=1"),
            (b"set-cookie", b"b=2"),
            (b"content-length", b"1"),
        ]


# --------------------------------------------------------------------- Starlette


class StarletteHarness:
    """A plain Starlette app: a route table in the middleware, an explicit requirement
    call, an explicit check answered with ``denial_response``, websockets, lifespan."""

    def __init__(
        self,
        repository: AccountRepository | AsyncAccountRepository,
        *,
        renderer: StarletteRenderer | None = None,
    ) -> None:
        self.ran: list[str] = []
        self.lifespan: list[str] = []
        ran = self.ran

        async def routed_dm(request: HTTPRequest) -> Response:
            ran.append(f"routed {request.path_params['user_id']}")
            return PlainTextResponse("sent")

        @exempt("checks dm.send itself (await DM_BODY(request))")
        async def explicit_dm(request: HTTPRequest) -> Response:
            ctx = await DM_BODY(request)
            body = await request.json()
            ran.append(f"explicit {ctx.account.id}->{body['to']}")
            return PlainTextResponse("sent")

        @exempt("checks location.view itself")
        async def location(request: HTTPRequest) -> Response:
            user_id = request.path_params["user_id"]
            decision = await context(request).check_async("location.view", user_id)
            if not decision.allowed:
                return denial_response(decision, request)
            return JSONResponse({"location": PROFILES[user_id]["location"]})

        @exempt("an echo: no account data")
        async def echo(websocket: Any) -> None:
            await websocket.accept()
            text = await websocket.receive_text()
            await websocket.send_text(f"{text} (context: {'childsafe.context' in websocket.scope})")
            await websocket.close()

        @asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            self.lifespan.append("startup")
            yield
            self.lifespan.append("shutdown")

        app = Starlette(
            routes=[
                Route("/routed/{user_id}", routed_dm, methods=["POST"]),
                Route("/explicit", explicit_dm, methods=["POST"]),
                Route("/users/{user_id}/location", location),
                WebSocketRoute("/ws", echo),
            ],
            lifespan=lifespan,
        )
        app.add_middleware(
            ChildsafeMiddleware,
            guard=Guard(),
            resolvers=[bearer_token(verify)],
            repository=repository,
            routes=RouteTable(
                {"POST /routed/{user_id}": action_rule("dm.send", target=path_param("user_id"))}
            ),
        )
        if renderer is None:
            install(app)
        else:
            install(app, renderer=renderer)
        self.app = app


@pytest.fixture(name="starlette_harness")
def _starlette_harness(repository: MemoryRepository) -> StarletteHarness:
    return StarletteHarness(repository)


@pytest.fixture(name="starlette_client")
def _starlette_client(starlette_harness: StarletteHarness) -> Iterator[TestClient]:
    with TestClient(starlette_harness.app) as client:
        yield client


class TestWithStarlette:
    def test_route_table_denies_stranger(
        self, starlette_client: TestClient, starlette_harness: StarletteHarness
    ) -> None:
        """A route-table declaration denies a stranger's DM before the endpoint runs and
        lets the connected relative through."""
        denied = starlette_client.post("/routed/sam", headers=auth("t-stranger"))
        allowed = starlette_client.post("/routed/sam", headers=auth("t-aunt"))

        assert_problem(denied, "not_connected")
        assert allowed.text == "sent"
        assert starlette_harness.ran == ["routed sam"]

    def test_explicit_requirement_reads_json_body(
        self, starlette_client: TestClient, starlette_harness: StarletteHarness
    ) -> None:
        """Awaiting a requirement in an endpoint checks the JSON body's target, and the
        endpoint can read the body afterwards."""
        denied = starlette_client.post("/explicit", json={"to": "sam"}, headers=auth("t-stranger"))
        allowed = starlette_client.post("/explicit", json={"to": "sam"}, headers=auth("t-aunt"))

        assert_problem(denied, "not_connected")
        assert allowed.text == "sent"
        assert starlette_harness.ran == ["explicit aunt_jo->sam"]

    @pytest.mark.parametrize(
        ("content", "content_type"),
        [
            (b'{"to": "sam"', "application/json"),  # malformed
            (b"", "application/json"),  # empty
            (b"to=sam", "application/x-www-form-urlencoded"),  # not JSON
            (b'["sam"]', "application/json"),  # not an object
        ],
    )
    def test_unreadable_json_target_fails_closed(
        self,
        starlette_client: TestClient,
        starlette_harness: StarletteHarness,
        content: bytes,
        content_type: str,
    ) -> None:
        """A body the target cannot be read from is denied as unverifiable."""
        response = starlette_client.post(
            "/explicit", content=content, headers={**auth("t-aunt"), "content-type": content_type}
        )

        assert_problem(response, "unverifiable")
        assert starlette_harness.ran == []

    def test_body_without_content_type_is_read_as_json(self, starlette_client: TestClient) -> None:
        """A body sent without a content type is read as JSON, as FastAPI reads it."""
        response = starlette_client.post(
            "/explicit", content=b'{"to": "sam"}', headers=auth("t-stranger")
        )

        assert_problem(response, "not_connected")

    def test_denial_response_for_an_explicit_check(self, starlette_client: TestClient) -> None:
        """``denial_response`` answers a check made in the endpoint with problem+json;
        the connected aunt sees the child's location."""
        stranger = starlette_client.get("/users/sam/location", headers=auth("t-stranger"))
        aunt = starlette_client.get("/users/sam/location", headers=auth("t-aunt"))

        assert_problem(stranger, "not_connected")
        assert aunt.json() == {"location": "Leeds"}

    def test_custom_renderer_for_explicit_requirement(self, repository: MemoryRepository) -> None:
        """``install(app, renderer=...)`` renders denials raised by requirements."""
        harness = StarletteHarness(repository, renderer=html_page)
        with TestClient(harness.app) as client:
            response = client.post("/explicit", json={"to": "sam"}, headers=auth("t-stranger"))

        assert response.status_code == 403
        assert response.text == "<h1>Not allowed</h1><p>not_connected on /explicit</p>"

    def test_websocket_untouched_and_lifespan_runs(self, repository: MemoryRepository) -> None:
        """Websockets pass through untouched and the lifespan handlers fire."""
        harness = StarletteHarness(repository)

        with TestClient(harness.app) as client:
            assert harness.lifespan == ["startup"]
            with client.websocket_connect("/ws") as ws:
                ws.send_text("hi")
                assert ws.receive_text() == "hi (context: False)"
        assert harness.lifespan == ["startup", "shutdown"]

    def test_handler_registered_for_another_exception_reraises(self) -> None:
        """A denial handler registered for some other exception does not swallow it."""

        async def boom(request: HTTPRequest) -> Response:
            raise KeyError("boom")

        app = Starlette(
            routes=[Route("/boom", boom)], exception_handlers={KeyError: denial_handler()}
        )

        with TestClient(app) as client, pytest.raises(KeyError, match="boom"):
            client.get("/boom")


def connection(
    *,
    kind: str = "http",
    path: str = "/app/users/42",
    root_path: str = "",
    headers: list[tuple[bytes, bytes]] | None = None,
    query: bytes = b"",
    path_params: dict[str, Any] | None = None,
    messages: list[Message] | None = None,
) -> HTTPConnection:
    """A real Starlette request (or websocket connection) over a hand-built scope."""
    scope: dict[str, Any] = {
        "type": kind,
        "path": path,
        "root_path": root_path,
        "headers": headers or [],
        "query_string": query,
        "path_params": path_params or {},
    }
    if kind == "websocket":
        return HTTPConnection(scope)
    scope["method"] = "post"
    pending = list(messages or [{"type": "http.request", "body": b""}])

    async def receive() -> Message:
        return pending.pop(0)

    return HTTPRequest(scope, receive)


class TestStarletteRequest:
    def test_reads_what_the_endpoint_reads(self) -> None:
        """The wrapper reads Starlette's method, path, headers, cookies, query and path
        parameters (converted to strings)."""
        request = StarletteRequest(
            connection(
                headers=[
                    (b"x-trace", b"a"),
                    (b"x-trace", b"b"),
                    (b"cookie", b"session=abc; theme=dark"),
                ],
                query=b"to=sam&to=sam&page=2",
                path_params={"user_id": 42},
            )
        )

        assert isinstance(request, Request)
        assert (request.method, request.path) == ("POST", "/app/users/42")
        assert request.header("x-trace") == "a, b"
        assert request.header("missing") is None
        assert (request.cookie("session"), request.cookie("missing")) == ("abc", None)
        assert (request.query("to"), request.query("page"), request.query("x")) == (
            "sam",
            "2",
            None,
        )
        assert (request.path_param("user_id"), request.path_param("x")) == ("42", None)
        assert request.json() is None

    @pytest.mark.parametrize(
        ("path", "root_path", "expected"),
        [
            ("/app/users/42", "/app", "/users/42"),
            ("/app", "/app", "/"),
            ("/application/x", "/app", "/application/x"),
            ("/users/42", "", "/users/42"),
        ],
    )
    def test_path_is_below_the_mount_point(self, path: str, root_path: str, expected: str) -> None:
        """The path is the one routers match: ``root_path`` removed only at a boundary."""
        request = StarletteRequest(connection(path=path, root_path=root_path))

        assert request.path == expected

    def test_websocket(self) -> None:
        """A websocket's method is ``WEBSOCKET`` (as in route tables) and it has no body."""

        async def read() -> object:
            request = StarletteRequest(connection(kind="websocket"))
            await request.load_json()
            assert request.method == "WEBSOCKET"
            return request.json()

        assert _run(read()) is None

    def test_client_gone_before_body_leaves_no_target(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A client that disconnects before sending its body gives no JSON (so a
        declaration on it fails closed), logged."""

        async def read() -> object:
            request = StarletteRequest(
                connection(
                    headers=[(b"content-length", b"13")], messages=[{"type": "http.disconnect"}]
                )
            )
            await request.load_json()
            return request.json()

        assert _run(read()) is None
        assert "could not read the JSON body" in caplog.text

    @pytest.mark.parametrize("length", [None, b"chunked", b"0", b"2000000"])
    def test_body_of_unknown_or_excessive_length_is_not_read(
        self, length: bytes | None, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A body without a usable Content-Length, or over max_body, is never read."""
        headers = [(b"content-type", b"application/json")]
        if length is not None:
            headers.append((b"content-length", length))

        async def read() -> object:
            request = StarletteRequest(
                connection(headers=headers, messages=[{"type": "http.request", "body": b"{}"}])
            )
            await request.load_json()
            return request.json()

        assert _run(read()) is None
        assert "too large or of unknown length" in caplog.text

    def test_reads_json_body(self) -> None:
        """A JSON body arriving in several messages is read whole."""

        async def read() -> object:
            request = StarletteRequest(
                connection(
                    headers=[
                        (b"content-type", b"application/json; charset=utf-8"),
                        (b"content-length", b"13"),
                    ],
                    messages=[
                        {"type": "http.request", "body": b'{"to": ', "more_body": True},
                        {"type": "http.request", "body": b'"sam"}'},
                    ],
                )
            )
            await request.load_json()
            return request.json()

        assert _run(read()) == {"to": "sam"}


def _run(coroutine: Coroutine[Any, Any, object]) -> object:
    return asyncio.run(coroutine)


class TestContextHelper:
    def test_context_reads_the_scope(self) -> None:
        """``context`` returns what the middleware stored in the scope."""
        stored = RequestContext(Guard(), Resolution(AUNT, "test"))
        conn = connection()
        conn.scope["childsafe.context"] = stored

        assert context(conn) is stored

    def test_context_refuses_something_else(self) -> None:
        """Anything but a RequestContext under the key counts as no middleware."""
        conn = connection()
        conn.scope["childsafe.context"] = {"account": "admin"}

        with pytest.raises(ConfigurationError, match="add the middleware"):
            context(conn)


class TestChildsafeDenied:
    def test_is_a_403_http_exception_with_the_decision(self) -> None:
        """The exception carries the decision and answers 403 even unhandled."""
        decision = Guard().check("dm.send", actor=STRANGER, target=SAM)
        request = StarletteRequest(connection())

        denied = ChildsafeDenied(decision, request)

        assert denied.status_code == 403
        assert denied.decision is decision
        assert denied.request is request
        assert denied.detail == "Only the account's connections can do this."
        assert denied.headers == {"cache-control": "no-store"}


class TestPackaging:
    def test_missing_starlette_names_the_extra(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Importing the adapter without Starlette says which extra to install."""
        for name in [m for m in sys.modules if m == "starlette" or m.startswith("starlette.")]:
            monkeypatch.setitem(sys.modules, name, None)
        monkeypatch.setitem(sys.modules, "starlette", None)
        spec = importlib.util.spec_from_file_location(
            "childsafe_starlette_without_starlette", childsafe_starlette.__file__
        )
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)

        with pytest.raises(MissingExtraError, match=r"pip install 'childsafe\[starlette\]'"):
            spec.loader.exec_module(module)

    def test_docstring_examples_run(self) -> None:
        """The examples in the module's docstrings are correct."""
        result = doctest.testmod(childsafe_starlette)

        assert result.attempted > 0
        assert result.failed == 0
