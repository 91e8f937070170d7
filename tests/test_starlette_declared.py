"""``@childsafe.action`` on Starlette endpoints, checked by ``install(app)`` (and refused
on FastAPI endpoints): real apps through Starlette's TestClient."""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import APIRouter, Depends, FastAPI
from starlette.applications import Starlette
from starlette.endpoints import HTTPEndpoint
from starlette.exceptions import StarletteDeprecationWarning
from starlette.requests import Request as HTTPRequest
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Host, Mount, Route, Router, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from childsafe import (
    AccountRepository,
    AsyncAccountRepository,
    Guard,
    RouteTable,
    action,
    action_rule,
    bearer_token,
    exempt,
    json_field,
    path_param,
    query_param,
)
from childsafe.asgi import ChildsafeMiddleware
from childsafe.contrib.starlette import (
    CheckedEndpoint,
    ChildsafeDenied,
    DeclaredRoutes,
    context,
    install,
    require,
    routes,
)
from childsafe.exceptions import ConfigurationError
from tests.test_starlette import (
    AsyncMemoryRepository,
    BrokenRepository,
    assert_problem,
    auth,
    html_page,
    memory,
    verify,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

DM = action("dm.send", target=path_param("user_id"))


def add_childsafe(
    app: Starlette,
    repository: AccountRepository | AsyncAccountRepository,
    routes: RouteTable | None = None,
) -> None:
    app.add_middleware(
        ChildsafeMiddleware,
        guard=Guard(),
        resolvers=[bearer_token(verify)],
        repository=repository,
        routes=routes,
    )


class SocialApp:
    """A Starlette social app whose endpoints are declared with ``@action``."""

    def __init__(
        self,
        repository: AccountRepository | AsyncAccountRepository,
        *,
        installed: bool = True,
        **install_options: Any,
    ) -> None:
        self.ran: list[str] = []
        ran = self.ran

        @DM
        async def send_message(request: HTTPRequest) -> Response:
            ran.append(f"dm {request.path_params['user_id']}")
            return JSONResponse({"sent_to": request.path_params["user_id"]})

        @DM
        def poke(request: HTTPRequest) -> Response:  # a sync endpoint, run in a thread
            ran.append(f"poke {request.path_params['user_id']}")
            return JSONResponse({"poked": request.path_params["user_id"]})

        @action("dm.send", target=json_field("to"))
        async def send_body_message(request: HTTPRequest) -> Response:
            body = await request.json()  # replayed after the check read it
            ran.append(f"dm {body['to']}: {body['text']}")
            return JSONResponse({"sent_to": body["to"]})

        @action("group.invite", target=query_param("to"))
        async def invite(request: HTTPRequest) -> Response:
            ran.append(f"invite {request.query_params['to']}")
            return JSONResponse({"invited": request.query_params["to"]})

        @exempt("a read; the response filter removes what the viewer may not see")
        async def profile(request: HTTPRequest) -> Response:
            ran.append(f"profile {request.path_params['user_id']}")
            return JSONResponse({"id": request.path_params["user_id"]})

        @DM
        async def chat(websocket: WebSocket) -> None:
            await websocket.accept()
            await websocket.send_text(f"chatting with {websocket.path_params['user_id']}")
            ran.append(f"chat {websocket.path_params['user_id']}")
            await websocket.close()

        app = Starlette(
            routes=[
                Route("/users/{user_id}/messages", send_message, methods=["POST"]),
                Route("/users/{user_id}/pokes", poke, methods=["POST"]),
                Route("/messages", send_body_message, methods=["POST"]),
                Route("/invites", invite, methods=["POST"]),
                Route("/users/{user_id}", profile),
                WebSocketRoute("/ws/chat/{user_id}", chat),
            ]
        )
        add_childsafe(app, repository)
        if installed:
            install(app, **install_options)
        self.app = app

    def client(self) -> TestClient:
        return TestClient(self.app)


@pytest.fixture(name="social")
def _social() -> SocialApp:
    return SocialApp(memory())


@pytest.fixture(name="client")
def _client(social: SocialApp) -> Iterator[TestClient]:
    with social.client() as client:
        yield client


class TestDeclaredEndpoints:
    def test_stranger_dm_to_teen_is_refused_before_the_endpoint(
        self, client: TestClient, social: SocialApp
    ) -> None:
        """An adult stranger's DM to a 15-year-old answers 403 problem+json; the endpoint
        never runs and nothing about the child leaks."""
        response = client.post("/users/sam/messages", headers=auth("t-stranger"))

        body = assert_problem(response, "not_connected")
        assert body["action"] == "dm.send"
        assert body["setting"] == "direct_messages"
        assert "13_15" not in response.text
        assert social.ran == []

    def test_connected_relative_dm_is_delivered(
        self, client: TestClient, social: SocialApp
    ) -> None:
        """The child's connected aunt may message her: the endpoint runs as usual."""
        response = client.post("/users/sam/messages", headers=auth("t-aunt"))

        assert response.status_code == 200
        assert response.json() == {"sent_to": "sam"}
        assert social.ran == ["dm sam"]

    def test_anonymous_request_is_treated_as_a_child(
        self, client: TestClient, social: SocialApp
    ) -> None:
        """No token: the protective unknown-age account may not message a child."""
        assert_problem(client.post("/users/sam/messages"), "not_connected")
        assert social.ran == []

    def test_sync_endpoint(self, client: TestClient, social: SocialApp) -> None:
        assert_problem(client.post("/users/sam/pokes", headers=auth("t-stranger")), "not_connected")
        allowed = client.post("/users/sam/pokes", headers=auth("t-aunt"))

        assert allowed.json() == {"poked": "sam"}
        assert social.ran == ["poke sam"]

    def test_target_from_the_json_body_which_the_endpoint_still_gets(
        self, client: TestClient, social: SocialApp
    ) -> None:
        """The body is read for the target, then replayed to the endpoint."""
        message = {"to": "sam", "text": "hi"}
        denied = client.post("/messages", json=message, headers=auth("t-stranger"))
        allowed = client.post("/messages", json=message, headers=auth("t-aunt"))

        assert_problem(denied, "not_connected")
        assert allowed.json() == {"sent_to": "sam"}
        assert social.ran == ["dm sam: hi"]

    @pytest.mark.parametrize(
        ("content", "content_type"),
        [(b'{"to": "sam"', "application/json"), (b'{"to": "sam"}', "text/plain"), (b"", None)],
    )
    def test_body_without_a_readable_target_fails_closed(
        self, client: TestClient, social: SocialApp, content: bytes, content_type: str | None
    ) -> None:
        """Broken JSON, a body that is not JSON, or no body: no target, so denied."""
        headers = auth("t-aunt") | ({"content-type": content_type} if content_type else {})
        response = client.post("/messages", content=content, headers=headers)

        assert_problem(response, "unverifiable")
        assert social.ran == []

    def test_body_over_max_body_fails_closed(self) -> None:
        """A body larger than ``max_body`` is not parsed: the check fails closed."""
        small = SocialApp(memory(), max_body=16)
        with small.client() as client:
            response = client.post(
                "/messages", json={"to": "sam", "text": "x" * 100}, headers=auth("t-aunt")
            )

        assert_problem(response, "unverifiable")
        assert small.ran == []

    def test_ambiguous_query_target_fails_closed(
        self, client: TestClient, social: SocialApp
    ) -> None:
        """``?to=a&to=b`` names two targets: the check refuses rather than pick one."""
        response = client.post("/invites?to=aunt_jo&to=sam", headers=auth("t-aunt"))

        assert_problem(response, "unverifiable")
        assert social.ran == []

    def test_exempt_endpoint_runs_unchecked(self, client: TestClient, social: SocialApp) -> None:
        """An endpoint marked exempt runs without a check."""
        response = client.get("/users/sam", headers=auth("t-stranger"))

        assert response.status_code == 200
        assert social.ran == ["profile sam"]

    def test_endpoint_added_after_a_request_is_checked(
        self, client: TestClient, social: SocialApp
    ) -> None:
        """Routes added once the app is serving are found on the next request."""
        assert client.get("/users/sam").status_code == 200

        @DM
        async def late(request: HTTPRequest) -> Response:
            social.ran.append(f"late {request.path_params['user_id']}")
            return PlainTextResponse("late")

        social.app.add_route("/late/{user_id}", late, methods=["POST"])

        assert_problem(client.post("/late/sam", headers=auth("t-stranger")), "not_connected")
        assert client.post("/late/sam", headers=auth("t-aunt")).status_code == 200
        assert social.ran == ["profile sam", "late sam"]

    def test_each_check_is_made_once_and_remembered(self, social: SocialApp) -> None:
        """Installing twice does not check twice; the decision is on the request context."""
        install(social.app)
        seen: list[int] = []

        @action("profile.view", target=path_param("user_id"))
        async def count(request: HTTPRequest) -> Response:
            seen.append(len(context(request).decisions))
            return PlainTextResponse("counted")

        social.app.add_route("/count/{user_id}", count)
        install(social.app)
        with social.client() as client:
            assert client.get("/count/sam", headers=auth("t-aunt")).status_code == 200
        assert seen == [1]

    def test_async_repository(self) -> None:
        social = SocialApp(AsyncMemoryRepository(memory()))
        with social.client() as client:
            denied = client.post("/users/sam/messages", headers=auth("t-stranger"))
            assert_problem(denied, "not_connected")
            assert client.post("/users/sam/messages", headers=auth("t-aunt")).status_code == 200
        assert social.ran == ["dm sam"]

    def test_broken_repository_fails_closed_not_500(self, caplog: pytest.LogCaptureFixture) -> None:
        social = SocialApp(BrokenRepository())
        with caplog.at_level(logging.WARNING), social.client() as client:
            response = client.post("/users/sam/messages", headers=auth("t-aunt"))

        assert_problem(response, "unverifiable")
        assert "database is down" in caplog.text
        assert social.ran == []

    def test_custom_renderer(self) -> None:
        social = SocialApp(memory(), renderer=html_page)
        with social.client() as client:
            response = client.post("/users/sam/messages", headers=auth("t-stranger"))

        assert response.status_code == 403
        assert response.headers["content-type"].startswith("text/html")
        assert social.ran == []

    def test_without_install_the_app_refuses_to_serve(self) -> None:
        """Declarations that nothing would check stop every request, naming the fix."""
        social = SocialApp(memory(), installed=False)
        with social.client() as client, pytest.raises(ConfigurationError) as raised:
            client.get("/users/sam")

        message = str(raised.value)
        assert "install(app)" in message
        assert "/users/{user_id}/messages" in message
        assert social.ran == []

    def test_without_the_middleware_the_endpoint_never_runs(self) -> None:
        ran: list[str] = []

        @DM
        async def send(request: HTTPRequest) -> Response:
            ran.append(request.path_params["user_id"])
            return PlainTextResponse("sent")

        app = Starlette(routes=[Route("/users/{user_id}/messages", send, methods=["POST"])])
        install(app)
        with (
            TestClient(app) as client,
            pytest.raises(ConfigurationError, match="add the middleware"),
        ):
            client.post("/users/sam/messages", headers=auth("t-aunt"))
        assert ran == []

    @pytest.mark.parametrize("max_body", [-1, 1.5, True, "1MB"])
    def test_install_checks_max_body(self, max_body: Any) -> None:
        with pytest.raises(ConfigurationError, match="max_body: expected a size in bytes"):
            install(Starlette(), max_body=max_body)

    def test_install_checks_renderer(self) -> None:
        """A renderer that cannot be called is refused when installed, not at the first
        denial."""
        with pytest.raises(ConfigurationError, match="renderer: expected a callable"):
            install(Starlette(), renderer="denied.html")  # type: ignore[arg-type]


class TestWebsockets:
    def test_declared_websocket_without_a_context_is_closed(
        self, client: TestClient, social: SocialApp, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The middleware passes undeclared websockets through without a context, so a
        websocket endpoint declared with ``@action`` alone is refused (and says why)."""
        with (
            caplog.at_level(logging.ERROR),
            pytest.raises(WebSocketDisconnect) as closed,
            client.websocket_connect("/ws/chat/sam", headers=auth("t-aunt")),
        ):
            pass  # pragma: no cover - the handshake is refused

        assert closed.value.code == 1008
        assert "Declare the route" in caplog.text
        assert social.ran == []

    def test_declared_websocket_with_a_route_table_context(self) -> None:
        """With the route in the middleware's table the context exists, and the
        endpoint's own declaration is checked too."""
        ran: list[str] = []

        @DM
        async def chat(websocket: WebSocket) -> None:
            await websocket.accept()
            await websocket.send_text(f"chatting with {websocket.path_params['user_id']}")
            ran.append(websocket.path_params["user_id"])
            await websocket.close()

        app = Starlette(routes=[WebSocketRoute("/ws/chat/{user_id}", chat)])
        # A rule every adult passes: the route table gives the websocket its context.
        rule = action_rule("live.start")
        add_childsafe(app, memory(), RouteTable({"WEBSOCKET /ws/chat/{user_id}": rule}))
        install(app)
        with TestClient(app) as client:
            with (
                pytest.raises(WebSocketDisconnect) as closed,
                client.websocket_connect("/ws/chat/sam", headers=auth("t-stranger")),
            ):
                pass  # pragma: no cover - the handshake is refused
            with client.websocket_connect("/ws/chat/sam", headers=auth("t-aunt")) as ws:
                assert ws.receive_text() == "chatting with sam"

        assert closed.value.code == 1008
        assert ran == ["sam"]


class TestFastAPI:
    """FastAPI builds its own handlers: ``@action`` there is refused, never ignored."""

    def test_declared_endpoint_is_refused_at_install(self) -> None:
        app = FastAPI()

        @app.post("/users/{user_id}/messages")
        @DM
        async def send(user_id: str) -> dict[str, str]:  # pragma: no cover - never served
            return {"sent_to": user_id}

        with pytest.raises(ConfigurationError, match=r"Depends\(require\('dm.send'"):
            install(app)

    def test_declared_endpoint_in_an_included_router_is_refused(self) -> None:
        """Included after ``install(app)``, it is found when the app starts."""
        app = FastAPI()
        add_childsafe(app, memory())
        install(app)
        router = APIRouter(prefix="/v2")
        ran: list[str] = []

        @router.post("/users/{user_id}/messages")
        @DM
        async def send(user_id: str) -> dict[str, str]:  # pragma: no cover - never served
            ran.append(user_id)
            return {"sent_to": user_id}

        app.include_router(router)
        # The app's startup (lifespan) already refuses; so would a request.
        with (
            pytest.raises(ConfigurationError, match=r"/v2/users/\{user_id\}/messages: FastAPI"),
            TestClient(app) as client,
        ):
            client.post("/v2/users/sam/messages", headers=auth("t-aunt"))  # pragma: no cover
        assert ran == []

    def test_without_install_the_middleware_names_the_dependency(self) -> None:
        app = FastAPI()
        add_childsafe(app, memory())

        @app.post("/users/{user_id}/messages")
        @DM
        async def send(user_id: str) -> dict[str, str]:  # pragma: no cover - never served
            return {"sent_to": user_id}

        with TestClient(app) as client, pytest.raises(ConfigurationError, match="Depends"):
            client.post("/users/sam/messages", headers=auth("t-aunt"))

    def test_undeclared_fastapi_app_installs(self) -> None:
        """Dependencies and plain Starlette routes in a FastAPI app are fine."""
        app = FastAPI()
        add_childsafe(app, memory())
        install(app)

        @DM
        async def plain(request: HTTPRequest) -> Response:
            return PlainTextResponse(f"sent to {request.path_params['user_id']}")

        app.add_route("/plain/{user_id}", plain, methods=["POST"])
        undeclared = APIRouter(prefix="/v2")

        @undeclared.get("/ping")
        @exempt("a health check")
        async def ping() -> dict[str, str]:
            return {"ping": "pong"}

        app.include_router(undeclared)
        with TestClient(app) as client:
            assert client.get("/v2/ping").json() == {"ping": "pong"}
            assert_problem(client.post("/plain/sam", headers=auth("t-stranger")), "not_connected")
            assert client.post("/plain/sam", headers=auth("t-aunt")).text == "sent to sam"


class TestRoutes:
    def make(self, routes: list[Any]) -> TestClient:
        app = Starlette(routes=routes)
        add_childsafe(app, memory())
        install(app)
        return TestClient(app)

    def test_function_endpoint(self) -> None:
        ran: list[str] = []

        @DM
        async def send(request: HTTPRequest) -> Response:
            ran.append(request.path_params["user_id"])
            return PlainTextResponse("sent", status_code=201)

        with self.make([Route("/users/{user_id}/messages", send, methods=["POST"])]) as client:
            assert_problem(
                client.post("/users/sam/messages", headers=auth("t-stranger")), "not_connected"
            )
            assert client.post("/users/sam/messages", headers=auth("t-aunt")).status_code == 201
        assert ran == ["sam"]

    def test_endpoint_class_declared_method_by_method(self) -> None:
        """An ``HTTPEndpoint`` declares its methods one by one: only those are checked."""
        ran: list[str] = []

        class Messages(HTTPEndpoint):
            @exempt("the requester's own thread")
            async def get(self, request: HTTPRequest) -> Response:
                ran.append(f"read {request.path_params['user_id']}")
                return PlainTextResponse("thread")

            @DM
            async def post(self, request: HTTPRequest) -> Response:
                ran.append(f"sent {request.path_params['user_id']}")
                return PlainTextResponse("sent", status_code=201)

        with self.make([Route("/users/{user_id}/messages", Messages)]) as client:
            assert client.get("/users/sam/messages", headers=auth("t-stranger")).status_code == 200
            assert_problem(
                client.post("/users/sam/messages", headers=auth("t-stranger")), "not_connected"
            )
            assert client.post("/users/sam/messages", headers=auth("t-aunt")).status_code == 201
        assert ran == ["read sam", "sent sam"]

    def test_endpoint_class_declared_whole_and_head_follows_get(self) -> None:
        @action("profile.view", target=path_param("user_id"))
        class Profile(HTTPEndpoint):
            async def get(self, request: HTTPRequest) -> Response:
                return PlainTextResponse(request.path_params["user_id"])

        class Location(HTTPEndpoint):
            @action("location.view", target=path_param("user_id"))
            async def get(self, request: HTTPRequest) -> Response:
                return PlainTextResponse(f"{request.path_params['user_id']}: Leeds")

        routes = [Route("/users/{user_id}", Profile), Route("/users/{user_id}/location", Location)]
        with self.make(routes) as client:
            assert client.get("/users/sam", headers=auth("t-aunt")).status_code == 200
            assert client.get("/users/nobody", headers=auth("t-aunt")).status_code == 403
            assert client.head("/users/sam/location", headers=auth("t-stranger")).status_code == 403
            assert client.get("/users/sam/location", headers=auth("t-aunt")).status_code == 200

    def test_mounted_routes_and_sub_apps(self) -> None:
        """Routes under a ``Mount``, and a mounted app's own routes, are found too."""

        @DM
        async def send(request: HTTPRequest) -> Response:
            return PlainTextResponse("sent", status_code=201)

        sub = Starlette(routes=[Route("/users/{user_id}/messages", send, methods=["POST"])])
        routes = [
            Mount("/v1", routes=[Route("/users/{user_id}/messages", send, methods=["POST"])]),
            Mount("/v2", app=sub),
        ]
        with self.make(routes) as client:
            for prefix in ("/v1", "/v2"):
                denied = client.post(f"{prefix}/users/sam/messages", headers=auth("t-stranger"))
                assert_problem(denied, "not_connected")
                allowed = client.post(f"{prefix}/users/sam/messages", headers=auth("t-aunt"))
                assert allowed.status_code == 201

    def test_what_install_put_in_place(self) -> None:
        @DM
        async def send(request: HTTPRequest) -> Response:
            return PlainTextResponse("sent")

        @exempt("shows no account data")
        async def other(request: HTTPRequest) -> Response:
            return PlainTextResponse("other")

        app = Starlette(routes=[Route("/a/{user_id}", send), Route("/b", other)])
        install(app)
        checked, plain = app.router.routes
        # Their bound __call__ (a bound method is called faster than an object).
        assert isinstance(getattr(app.router.middleware_stack, "__self__", None), DeclaredRoutes)
        layer = getattr(getattr(checked, "app", None), "__self__", None)
        assert isinstance(layer, CheckedEndpoint)
        plain_app = getattr(plain, "app", None)
        assert not isinstance(getattr(plain_app, "__self__", plain_app), CheckedEndpoint)
        assert "*: dm.send" in repr(layer)

    def test_websocket_route_declared(self) -> None:
        @DM
        async def chat(websocket: Any) -> None:  # pragma: no cover - never accepted
            await websocket.accept()

        with (
            self.make([WebSocketRoute("/ws/{user_id}", chat)]) as client,
            pytest.raises(WebSocketDisconnect) as closed,
            client.websocket_connect("/ws/sam"),
        ):
            pass  # pragma: no cover - the handshake is refused
        assert closed.value.code == 1008

    def test_router_without_a_middleware_stack_is_refused(self) -> None:
        """A Starlette too old to route through ``middleware_stack`` cannot be checked:
        ``install`` says so rather than leave declarations unchecked."""
        app = Starlette()
        app.router.middleware_stack = None  # type: ignore[assignment]

        with pytest.raises(ConfigurationError, match=r"Starlette 0\.37 or newer"):
            install(app)

    def test_partial_endpoint_is_checked(self) -> None:
        """An endpoint registered through ``functools.partial`` keeps its declaration."""

        @DM
        async def send(request: HTTPRequest, *, note: str) -> Response:
            return PlainTextResponse(f"{note} {request.path_params['user_id']}")

        endpoint = functools.partial(send, note="sent to")
        with self.make([Route("/users/{user_id}/messages", endpoint, methods=["POST"])]) as client:
            denied = client.post("/users/sam/messages", headers=auth("t-stranger"))
            assert_problem(denied, "not_connected")
            allowed = client.post("/users/sam/messages", headers=auth("t-aunt"))
            assert allowed.text == "sent to sam"

    def test_install_again_after_replacing_a_route(self) -> None:
        """A route replaced in place is checked once ``install(app)`` runs again."""

        async def plain(request: HTTPRequest) -> Response:
            return PlainTextResponse(f"sent to {request.path_params['user_id']}")

        app = Starlette(routes=[Route("/users/{user_id}/messages", plain, methods=["POST"])])
        add_childsafe(app, memory())
        install(app, strict=False)
        app.router.routes[0] = Route("/users/{user_id}/messages", DM(plain), methods=["POST"])
        install(app)
        with TestClient(app) as client:
            denied = client.post("/users/sam/messages", headers=auth("t-stranger"))
            assert_problem(denied, "not_connected")


async def _assets(scope: Any, receive: Any, send: Any) -> None:
    """A mounted ASGI app that is not a router (like StaticFiles)."""
    await PlainTextResponse("asset")(scope, receive, send)


class TestStrictMode:
    def test_undeclared_endpoint_refused_at_install(self) -> None:
        """install() names every route that declares no action and is not exempt."""

        async def forgotten(request: HTTPRequest) -> Response:
            return PlainTextResponse("open")

        app = Starlette(routes=[Route("/users/{user_id}/messages", forgotten, methods=["POST"])])
        with pytest.raises(ConfigurationError) as info:
            install(app)
        assert [p.path for p in info.value.problems] == ["POST /users/{user_id}/messages"]

    def test_fastapi_routes_need_a_requirement(self) -> None:
        """A FastAPI route is protected by Depends(require(...)) on the route or on the
        router it is included with; FastAPI's documentation routes are exempt."""
        app = FastAPI()
        add_childsafe(app, memory())
        send_dm = require("dm.send", target=path_param("user_id"))

        @app.post("/users/{user_id}/messages", dependencies=[Depends(send_dm)])
        async def send(user_id: str) -> dict[str, str]:
            return {"sent_to": user_id}

        guarded = APIRouter(prefix="/v2")

        @guarded.post("/users/{user_id}/messages")
        async def send_v2(user_id: str) -> dict[str, str]:
            return {"sent_to": user_id}

        app.include_router(guarded, dependencies=[Depends(send_dm)])
        install(app)
        listed = {r.key: r.protection for r in routes(app)}
        assert listed["POST /users/{user_id}/messages"] == "dm.send (target path_param('user_id'))"
        assert listed["POST /v2/users/{user_id}/messages"] == (
            "dm.send (target path_param('user_id'))"
        )
        assert listed["GET /docs"] == "exempt: FastAPI's API documentation"
        assert all(r.protected for r in routes(app))

        @app.get("/open")
        async def open_route() -> dict[str, str]:
            return {"open": "yes"}

        with pytest.raises(ConfigurationError, match="GET /open"):
            install(app)

    def test_route_added_after_install_refused_before_serving(self) -> None:
        """A route added once the app is built is caught on the next request."""

        @DM
        async def send(request: HTTPRequest) -> Response:
            return PlainTextResponse("sent")

        async def late(request: HTTPRequest) -> Response:
            return PlainTextResponse("late")

        app = Starlette(routes=[Route("/users/{user_id}/messages", send, methods=["POST"])])
        add_childsafe(app, memory())
        install(app)
        app.add_route("/late", late)
        # Caught when the server starts the app (lifespan), or else at the request.
        with pytest.raises(ConfigurationError, match="GET /late"), TestClient(app) as client:
            client.get("/late")

    def test_exempt_by_path_prefix(self) -> None:
        """install(exempt=...) exempts routes (a mounted app too) by path prefix or name."""
        app = Starlette(routes=[Mount("/static", app=_assets, name="static")])
        with pytest.raises(ConfigurationError, match="/static"):
            install(app)
        install(app, exempt={"/static": "public assets"})
        [route] = routes(app)
        assert (route.path, route.protection) == ("/static/{path}", "exempt: public assets")
        with pytest.raises(ConfigurationError, match="exempt"):
            install(app, exempt={"/static": ""})

    @pytest.mark.parametrize("prefix", ["/static", "/static/"])
    def test_exempt_prefix_covers_whole_segments(self, prefix: str) -> None:
        """An exempt path prefix covers the paths under it, not every path that starts
        with the same letters: ``/static`` leaves ``/statistics`` to strict mode."""

        async def page(request: HTTPRequest) -> Response:
            return PlainTextResponse("page")

        app = Starlette(
            routes=[
                Route("/static", page),
                Mount("/static", app=_assets),
                Route("/statistics/{user_id}", page),
            ]
        )
        with pytest.raises(ConfigurationError) as info:
            install(app, exempt={prefix: "public assets"})
        assert [p.path for p in info.value.problems] == ["GET /statistics/{user_id}"]

    @pytest.mark.parametrize("strict", [True, False])
    def test_path_param_the_route_lacks_is_refused(self, strict: bool) -> None:
        """A declared path_param naming no parameter of the route's path is refused by
        install(), strict or not, naming the route, the action and its parameters."""

        @DM
        async def send(request: HTTPRequest) -> Response:  # pragma: no cover - never served
            return PlainTextResponse("sent")

        app = Starlette(routes=[Route("/users/{uid:int}/messages", send, methods=["POST"])])
        with pytest.raises(ConfigurationError) as info:
            install(app, strict=strict)
        assert [p.path for p in info.value.problems] == ["POST /users/{uid:int}/messages"]
        assert "dm.send takes its target from path_param('user_id')" in str(info.value)
        assert "(its parameters: uid)" in str(info.value)

    def test_path_params_of_mounts_and_hosts_count(self) -> None:
        """A parameter in a Mount's path or a Host's pattern reaches the route's
        path_params, so a declaration may name it; a converter is fine too."""

        @DM
        async def send(request: HTTPRequest) -> Response:
            return PlainTextResponse(f"sent to {request.path_params['user_id']}")

        app = Starlette(
            routes=[
                Route("/by-number/{user_id:int}", send, methods=["POST"]),
                Mount("/users/{user_id}", routes=[Route("/messages", send, methods=["POST"])]),
                Host(
                    "{user_id}.example.org",
                    Router(routes=[Route("/messages", send, methods=["POST"])]),
                ),
            ]
        )
        add_childsafe(app, memory())
        install(app)
        assert all(not r.problems for r in routes(app))
        with TestClient(app) as client:
            response = client.post("/users/sam/messages", headers=auth("t-aunt"))
        assert response.text == "sent to sam"

    def test_fastapi_requirement_of_a_path_param_the_route_lacks(self) -> None:
        """Depends(require(...)) on a route, or on the router it is included with,
        naming no parameter of the route's path is refused by install()."""
        send_dm = require("dm.send", target=path_param("user_id"))
        app = FastAPI()

        @app.post("/users/{user_id}/messages", dependencies=[Depends(send_dm)])
        async def send(user_id: str) -> dict[str, str]:  # pragma: no cover - never served
            return {"sent_to": user_id}

        install(app)
        guarded = APIRouter(prefix="/v2")

        @guarded.post("/people/{uid}/messages")
        async def send_v2(uid: str) -> dict[str, str]:  # pragma: no cover - never served
            return {"sent_to": uid}

        app.include_router(guarded, dependencies=[Depends(send_dm)])
        with pytest.raises(ConfigurationError) as info:
            install(app)
        assert [p.path for p in info.value.problems] == ["POST /v2/people/{uid}/messages"]
        assert "path_param('user_id')" in str(info.value)

    def test_strict_off_warns(self, caplog: pytest.LogCaptureFixture) -> None:
        """strict=False serves undeclared routes and says so."""

        async def open_route(request: HTTPRequest) -> Response:
            return PlainTextResponse("open")

        app = Starlette(routes=[Route("/open", open_route)])
        install(app, strict=False)
        assert "GET /open" in caplog.text
        with pytest.raises(ConfigurationError, match="strict"):
            install(app, strict="no")  # type: ignore[arg-type]


ORDERS = ("middleware, then install", "install, then middleware")


def ordered_app(order: str) -> Starlette:
    """A declared endpoint and one exempt by ``install(app, exempt=...)``, with the
    middleware added before ``install(app)`` (Starlette then builds it without a
    coroutine of its own) or after."""

    @DM
    async def send(request: HTTPRequest) -> Response:
        return PlainTextResponse(f"sent to {request.path_params['user_id']}")

    async def about(request: HTTPRequest) -> Response:
        return PlainTextResponse("about")

    app = Starlette(
        routes=[
            Route("/users/{user_id}/messages", send, methods=["POST"]),
            Route("/about", about),
        ]
    )
    if order == ORDERS[0]:
        add_childsafe(app, memory())
        install(app, exempt={"/about": "a public page"})
    else:
        install(app, exempt={"/about": "a public page"})
        add_childsafe(app, memory())
    return app


@pytest.mark.parametrize("order", ORDERS)
class TestMiddlewareAndInstallInEitherOrder:
    """Whether the middleware is added before ``install(app)`` or after, the app serves
    and refuses the same requests, before and after routes change while it serves."""

    def test_checks_declared_endpoints(self, order: str) -> None:
        """A declared endpoint is checked, an exempt one served."""
        with TestClient(ordered_app(order)) as client:
            assert_problem(
                client.post("/users/sam/messages", headers=auth("t-stranger")), "not_connected"
            )
            allowed = client.post("/users/sam/messages", headers=auth("t-aunt"))
            assert allowed.text == "sent to sam"
            assert client.get("/about").text == "about"

    def test_undeclared_route_added_while_serving_is_refused(self, order: str) -> None:
        """Strict mode: a route added after requests were served, declaring nothing, is
        refused on the next request, and the app serves nothing until it is fixed."""

        async def late(request: HTTPRequest) -> Response:  # pragma: no cover - never served
            return PlainTextResponse("late")

        app = ordered_app(order)
        with TestClient(app) as client:
            assert client.post("/users/sam/messages", headers=auth("t-aunt")).status_code == 200
            app.add_route("/late", late)
            for path in ("/late", "/about"):
                with pytest.raises(ConfigurationError, match="GET /late"):
                    client.get(path)

    def test_declared_route_added_while_serving_is_checked(self, order: str) -> None:
        """A declared route added after requests were served is checked from the next."""

        @DM
        async def late(request: HTTPRequest) -> Response:
            return PlainTextResponse(f"late {request.path_params['user_id']}")

        app = ordered_app(order)
        with TestClient(app) as client:
            assert client.get("/about").status_code == 200
            app.add_route("/late/{user_id}", late, methods=["POST"])
            assert_problem(client.post("/late/sam", headers=auth("t-stranger")), "not_connected")
            assert client.post("/late/sam", headers=auth("t-aunt")).text == "late sam"

    def test_install_again_while_serving(self, order: str) -> None:
        """While the app serves, ``routes(app)`` keeps install's exemptions, and a route
        replaced in place is checked once ``install(app)`` runs again."""

        async def plain(request: HTTPRequest) -> Response:
            return PlainTextResponse(f"sent to {request.path_params['user_id']}")

        app = ordered_app(order)
        with TestClient(app) as client:
            assert client.get("/about").status_code == 200
            listed = {r.key: r.protection for r in routes(app)}
            assert listed["GET /about"] == "exempt: a public page"
            app.router.routes[0] = Route("/users/{user_id}/messages", plain, methods=["POST"])
            with pytest.raises(ConfigurationError, match="POST /users"):
                install(app, exempt={"/about": "a public page"})
            app.router.routes[0] = Route("/users/{user_id}/messages", DM(plain), methods=["POST"])
            install(app, exempt={"/about": "a public page"})
            assert_problem(
                client.post("/users/sam/messages", headers=auth("t-stranger")), "not_connected"
            )
            allowed = client.post("/users/sam/messages", headers=auth("t-aunt"))
            assert allowed.text == "sent to sam"


async def _raw_asgi_app(scope: Any, receive: Any, send: Any) -> None:
    """A plain ASGI app, mounted without a router of its own."""
    await PlainTextResponse("raw")(scope, receive, send)


@contextlib.contextmanager
def _uvicorn(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn on 127.0.0.1 (a free port); yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, log_level="warning")
    )
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                pytest.fail("uvicorn did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


class TestMountedApps:
    @staticmethod
    def mounted_api() -> FastAPI:
        sub = FastAPI()
        send_dm = require("dm.send", target=path_param("user_id"))

        @sub.post("/users/{user_id}/messages", dependencies=[Depends(send_dm)])
        async def send(user_id: str) -> dict[str, str]:
            return {"sent_to": user_id}

        return sub

    def test_a_mounted_fastapi_apps_documentation_is_exempt(self) -> None:
        """A FastAPI app mounted in another has its documentation routes exempt, as the
        top app's are (they were refused as unprotected, stopping the app), and its
        requirements' denials answer problem+json (they answered FastAPI's own
        ``{"detail": ...}``); its other routes are still held to strict mode. On uvicorn."""
        sub = self.mounted_api()
        app = FastAPI()
        add_childsafe(app, memory())
        app.mount("/v2", sub)
        install(app)
        listed = {r.key: r.protection for r in routes(app)}
        assert listed["GET /v2/docs"] == "exempt: FastAPI's API documentation"
        assert listed["GET /v2/openapi.json"] == "exempt: FastAPI's API documentation"
        with _uvicorn(app) as url, httpx.Client(base_url=url, timeout=10) as http:
            assert http.get("/v2/openapi.json").json()["paths"]
            refused = http.post("/v2/users/sam/messages", headers=auth("t-stranger"))
            assert_problem(refused, "not_connected")
            allowed = http.post("/v2/users/sam/messages", headers=auth("t-aunt"))
            assert allowed.json() == {"sent_to": "sam"}

        @sub.get("/forgotten")
        async def forgotten() -> dict[str, str]:
            return {}

        with pytest.raises(ConfigurationError, match="GET /v2/forgotten"):
            install(app)

    def test_a_mounted_apps_denials_use_the_renderer(self) -> None:
        """``install(app, renderer=...)`` renders the denials of a mounted FastAPI app's
        requirements too (the renderer was ignored for them), and a ``ChildsafeDenied``
        handler the mounted app registered itself is kept. On uvicorn."""
        app = FastAPI()
        add_childsafe(app, memory())
        app.mount("/v2", self.mounted_api())
        own = self.mounted_api()
        own.add_exception_handler(ChildsafeDenied, lambda _r, _e: PlainTextResponse("own", 403))
        app.mount("/v3", own)
        install(app, renderer=html_page)
        with _uvicorn(app) as url, httpx.Client(base_url=url, timeout=10) as http:
            refused = http.post("/v2/users/sam/messages", headers=auth("t-stranger"))
            kept = http.post("/v3/users/sam/messages", headers=auth("t-stranger"))
        assert refused.status_code == 403
        # The path the mounted app routes, below the mount.
        assert refused.text == "<h1>Not allowed</h1><p>not_connected on /users/sam/messages</p>"
        assert (kept.status_code, kept.text) == (403, "own")

    def test_a_mounted_plain_asgi_app_is_named_without_a_memory_address(self) -> None:
        """An unprotected mounted ASGI app is named by its qualified name, the same on
        every run (it was a repr with a memory address, so a CI diff of ``childsafe
        routes`` changed on every run)."""
        app = Starlette()
        add_childsafe(app, memory())
        app.mount("/raw", _raw_asgi_app)
        with pytest.raises(ConfigurationError) as info:
            install(app)
        assert str(info.value) == (
            "childsafe.contrib.starlette: * /raw/{path}: "
            "tests.test_starlette_declared._raw_asgi_app declares no action and is not "
            "exempt: declare what it does (@childsafe.action(...), Depends(require(...)) "
            "or a RouteTable rule) or mark it @childsafe.exempt('why'); strict=False "
            "serves it unchecked"
        )
        assert [r.endpoint for r in routes(app)] == ["tests.test_starlette_declared._raw_asgi_app"]
