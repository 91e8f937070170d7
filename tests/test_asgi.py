"""The pure ASGI middleware (childsafe.asgi), driven through real ASGI apps."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from childsafe import (
    Account,
    Decision,
    DenialResponse,
    Guard,
    Relationship,
    Request,
    RequestContext,
    ResponseFilter,
    RouteTable,
    action_rule,
    bearer_token,
    json_field,
    path_param,
)
from childsafe.asgi import (
    ASGIRequest,
    ChildsafeMiddleware,
    Message,
    Receive,
    Scope,
    Send,
)
from childsafe.exceptions import ConfigurationError
from childsafe.web import CONTEXT_KEY
from tests.test_web import KID, Accounts, AsyncAccounts, html_denial, social

PROFILES: dict[str, dict[str, Any]] = {
    "kid": {"id": "kid", "name": "Kid", "location": "Leeds", "lat": 53.8, "lng": -1.5},
    "friendly": {"id": "friendly", "name": "Friendly", "location": "York"},
}

ROUTES = RouteTable(
    {
        "POST /users/{user_id}/messages": action_rule("dm.send", target=path_param("user_id")),
        "POST /messages": action_rule("dm.send", target=json_field("to")),
        "WEBSOCKET /chat/{user_id}": action_rule("dm.send", target=path_param("user_id")),
    },
    # Reads are not actions: the response filter removes what the viewer may not see.
    exempt={
        "GET /": "reads; the response filter removes what a viewer may not see",
        "GET /{rest:path}": "reads; the response filter removes what a viewer may not see",
    },
)


@pytest.fixture(name="anyio_backend")
def _anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(name="accounts")
def _accounts() -> Accounts:
    return social()


async def send_body(send: Send, status: int, content_type: str, raw: bytes, **extra: Any) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(raw)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers, **extra})
    await send({"type": "http.response.body", "body": raw})


class SocialASGI:
    """A tiny real ASGI social app; it records what reached it."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.lifespan: list[str] = []
        self.scopes: list[Scope] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scopes.append(scope)
        if scope["type"] == "lifespan":
            await self.run_lifespan(receive, send)
            return
        path: str = scope["path"]
        self.calls.append(f"{scope.get('method', 'WEBSOCKET')} {path}")
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.send", "text": "hello"})
            await send({"type": "websocket.close", "code": 1000})
            return
        parts = path.strip("/").split("/")
        if scope["method"] == "POST" and len(parts) == 3:
            await send_body(send, 200, "text/plain", f"sent to {parts[1]}".encode())
        elif path == "/messages":
            body = b""
            more = True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
            await send_body(send, 200, "text/plain", b"got " + body)
        elif path == "/suggestions":
            raw = json.dumps({"suggestions": [{"id": "kid"}, {"id": "friendly"}]}).encode()
            await send_body(send, 200, "application/json", raw)
        elif path == "/whoami":
            context: RequestContext = scope[CONTEXT_KEY]
            text = f"{context.account.id} {context.resolution.source}"
            await send_body(send, 200, "text/plain", text.encode())
        elif len(parts) == 2 and parts[1] in PROFILES:
            await send_body(send, 200, "application/json", json.dumps(PROFILES[parts[1]]).encode())
        else:
            await send_body(send, 404, "text/plain", b"not found")

    async def run_lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            self.lifespan.append(message["type"])
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return


@pytest.fixture(name="social_app")
def _social_app() -> SocialASGI:
    return SocialASGI()


async def verify_token(token: str) -> Account | None:
    """An async token check (as one calling an identity service would be)."""
    return social().accounts.get(token)


def wrap(app: Any, accounts: Any, guard: Guard, **options: Any) -> ChildsafeMiddleware:
    options.setdefault("resolvers", [bearer_token(verify_token, cookie="session")])
    options.setdefault("routes", ROUTES)
    return ChildsafeMiddleware(app, guard=guard, repository=accounts, **options)


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def as_(account_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {account_id}"}


class Wire:
    """A scripted ``receive`` and a recording ``send``, to drive the middleware directly."""

    def __init__(self, *incoming: Message) -> None:
        self.incoming = deque(incoming)
        self.sent: list[Message] = []
        self.receives = 0

    async def receive(self) -> Message:
        self.receives += 1
        if self.incoming:
            return self.incoming.popleft()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    def types(self) -> list[str]:
        return [m["type"] for m in self.sent]

    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")

    def header(self, name: str) -> str | None:
        start = next(m for m in self.sent if m["type"] == "http.response.start")
        for key, value in start["headers"]:
            if key.decode().lower() == name:
                return str(value.decode())
        return None


def scope_for(
    path: str,
    method: str = "GET",
    *,
    kind: str = "http",
    viewer: str | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
    **extra: Any,
) -> Scope:
    all_headers = list(headers or [])
    if viewer is not None:
        all_headers.append((b"authorization", f"Bearer {viewer}".encode()))
    scope: Scope = {
        "type": kind,
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": all_headers,
        **extra,
    }
    if kind == "http":
        scope["method"] = method
    return scope


# ---------------------------------------------------------------- declared routes


class TestDeclaredRoutes:
    @pytest.mark.anyio
    async def test_stranger_refused_relative_delivered(
        self, guard: Guard, accounts: Accounts, social_app: SocialASGI
    ) -> None:
        """A stranger's DM to a child is refused; the connected relative's goes through."""
        async with client(wrap(social_app, accounts, guard)) as http:
            refused = await http.post("/users/kid/messages", headers=as_("stranger"))
            delivered = await http.post("/users/kid/messages", headers=as_("relative"))
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["reason"] == "not_connected"
        assert (delivered.status_code, delivered.text) == (200, "sent to kid")
        assert social_app.calls == ["POST /users/kid/messages"]

    @pytest.mark.anyio
    async def test_async_repository(self, guard: Guard, accounts: Accounts) -> None:
        """An async repository loads targets, and the cookie carries the token too."""
        app = wrap(SocialASGI(), AsyncAccounts(accounts), guard)
        async with client(app) as http:
            http.cookies.set("session", "parent")
            assert (await http.post("/users/kid/messages")).status_code == 200
            http.cookies.clear()
            assert (await http.post("/users/kid/messages")).status_code == 403
            assert (await http.get("/whoami")).text == "childsafe:anonymous anonymous"

    @pytest.mark.anyio
    async def test_mixed_sync_and_async_repository(
        self, guard: Guard, accounts: Accounts, social_app: SocialASGI
    ) -> None:
        """Accounts from a sync cache with relationships from an async store are checked
        the same as either alone: the relative's DM goes through, the stranger's not."""
        inner = AsyncAccounts(accounts)

        class Mixed:
            def get_account(self, account_id: str) -> Account | None:
                return accounts.get_account(account_id)

            async def relationship(self, actor: Account, target: Account) -> Relationship:
                return await inner.relationship(actor, target)

        async with client(wrap(social_app, Mixed(), guard)) as http:
            refused = await http.post("/users/kid/messages", headers=as_("stranger"))
            delivered = await http.post("/users/kid/messages", headers=as_("relative"))
        assert (refused.status_code, refused.json()["reason"]) == (403, "not_connected")
        assert delivered.status_code == 200

    @pytest.mark.anyio
    async def test_async_repository_that_raises_fails_closed(
        self, guard: Guard, social_app: SocialASGI
    ) -> None:
        """An async repository that raises denies the declared route, never a 500."""

        class Down:
            async def get_account(self, account_id: str) -> Account | None:
                raise ConnectionError(f"database down loading {account_id}")

            async def relationship(self, actor: Account, target: Account) -> Relationship:
                raise AssertionError(f"not reached for {actor.id} and {target.id}")

        async with client(wrap(social_app, Down(), guard)) as http:
            refused = await http.post("/users/kid/messages", headers=as_("relative"))
        assert (refused.status_code, refused.json()["reason"]) == (403, "unverifiable")
        assert social_app.calls == []

    @pytest.mark.anyio
    async def test_async_resolver_after_sync_ones(
        self, guard: Guard, accounts: Accounts, social_app: SocialASGI
    ) -> None:
        """Resolvers run in order whether sync or async: a sync one that finds nothing,
        an async one that finds nothing, then the bearer token."""
        seen: list[str] = []

        def cookie_session(request: Request) -> Account | None:
            seen.append("sync")
            return None

        async def remote_session(request: Request) -> Account | None:
            seen.append("async")
            return None

        resolvers = [cookie_session, remote_session, bearer_token(verify_token)]
        async with client(wrap(social_app, accounts, guard, resolvers=resolvers)) as http:
            assert (await http.get("/whoami", headers=as_("kid"))).text == "kid bearer_token"
        assert seen == ["sync", "async"]

    @pytest.mark.anyio
    async def test_broken_resolver_fails_closed(
        self, guard: Guard, accounts: Accounts, social_app: SocialASGI
    ) -> None:
        """A resolver that raises gives the protective account: 403, never 500."""

        async def broken(request: Request) -> Account | None:
            raise ConnectionError("identity service down")

        def broken_sync(request: Request) -> Account | None:
            raise ConnectionError("session store down")

        for resolver in (broken, broken_sync):
            async with client(wrap(social_app, accounts, guard, resolvers=[resolver])) as http:
                assert (await http.post("/users/kid/messages")).status_code == 403
                assert (await http.get("/whoami")).text == "childsafe:anonymous error"

    @pytest.mark.anyio
    async def test_renderers(
        self, guard: Guard, accounts: Accounts, social_app: SocialASGI
    ) -> None:
        """The app's renderer answers denials; a broken one falls back to problem+json."""

        def unsendable(decision: Decision, request: Request) -> DenialResponse:
            return DenialResponse(403, (("x-reason", f"{decision.reason}—{request.path}"),), b"")

        async with client(wrap(social_app, accounts, guard, renderer=html_denial)) as http:
            page = await http.post("/users/kid/messages", headers=as_("stranger"))
        async with client(wrap(social_app, accounts, guard, renderer=unsendable)) as http:
            fallback = await http.post("/users/kid/messages", headers=as_("stranger"))
        assert page.text == "<h1>Not allowed</h1><p>not_connected</p>"
        assert fallback.json()["reason"] == "not_connected"

    @pytest.mark.anyio
    async def test_renderer_reads_the_route_params(
        self, guard: Guard, accounts: Accounts, social_app: SocialASGI
    ) -> None:
        """The request a renderer gets carries the matched route's path parameters,
        by name and as a mapping."""

        def renderer(decision: Decision, request: Request) -> DenialResponse:
            assert isinstance(request, ASGIRequest)
            seen = f"{request.path_param('user_id')} {dict(request.params)} {decision.action}"
            return DenialResponse(403, (("content-type", "text/plain"),), seen.encode())

        async with client(wrap(social_app, accounts, guard, renderer=renderer)) as http:
            response = await http.post("/users/kid/messages", headers=as_("stranger"))
        assert (response.status_code, response.text) == (403, "kid {'user_id': 'kid'} dm.send")

    @pytest.mark.anyio
    async def test_route_below_root_path(self, guard: Guard, accounts: Accounts) -> None:
        """Routes are matched below the app's root_path, as its router sees them."""
        app = SocialASGI()
        wire = Wire({"type": "http.request", "body": b""})
        scope = scope_for("/api/users/kid/messages", "POST", viewer="stranger", root_path="/api")
        await wrap(app, accounts, guard)(scope, wire.receive, wire.send)
        assert wire.sent[0]["status"] == 403
        assert app.calls == []


class TestJsonBody:
    @pytest.mark.anyio
    async def test_target_from_body_and_body_replayed(
        self, guard: Guard, accounts: Accounts
    ) -> None:
        """The body is read to find the target, then replayed to the app unchanged."""
        first = {"type": "http.request", "body": b'{"to": "kid", ', "more_body": True}
        second = {"type": "http.request", "body": b'"text": "hi"}', "more_body": False}
        headers = [(b"content-type", b"application/json")]
        app = SocialASGI()
        wire = Wire(first, second)
        scope = scope_for("/messages", "POST", viewer="parent", headers=headers)
        await wrap(app, accounts, guard)(scope, wire.receive, wire.send)
        assert wire.body() == b'got {"to": "kid", "text": "hi"}'
        refused = Wire(dict(first), dict(second))
        scope = scope_for("/messages", "POST", viewer="stranger", headers=headers)
        await wrap(SocialASGI(), accounts, guard)(scope, refused.receive, refused.send)
        assert refused.sent[0]["status"] == 403

    @pytest.mark.anyio
    async def test_receive_continues_after_the_replay(
        self, guard: Guard, accounts: Accounts
    ) -> None:
        """After the replayed body, the app's receive reaches the server (disconnect)."""
        received: list[Message] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            received.extend([await receive(), await receive()])
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        wire = Wire({"type": "http.request", "body": b'{"to": "kid"}'})
        scope = scope_for(
            "/messages",
            "POST",
            viewer="parent",
            headers=[(b"content-type", b"application/json")],
        )
        await wrap(app, accounts, guard, response_filter=ResponseFilter())(
            scope, wire.receive, wire.send
        )
        assert [m["type"] for m in received] == ["http.request", "http.disconnect"]
        assert wire.sent[0]["status"] == 204

    @pytest.mark.anyio
    async def test_body_not_read_unless_needed(self, guard: Guard, accounts: Accounts) -> None:
        """Routes whose target is not in the body never make the middleware read it."""

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await send_body(send, 200, "text/plain", b"ok")

        wire = Wire({"type": "http.request", "body": b"secret"})
        scope = scope_for("/users/kid/messages", "POST", viewer="parent")
        await wrap(app, accounts, guard)(scope, wire.receive, wire.send)
        assert wire.receives == 0
        assert wire.body() == b"ok"

    @pytest.mark.anyio
    @pytest.mark.parametrize(
        ("messages", "content_type", "max_reads"),
        [
            (
                [{"type": "http.request", "body": b"x" * 40, "more_body": True}] * 50,
                b"application/json",
                2,
            ),
            (
                [{"type": "http.request", "body": b'{"to": "kid"', "more_body": True}],
                b"application/json",
                2,
            ),
            ([{"type": "http.request", "body": b'{"to": "kid"}'}], b"text/plain", 1),
            ([{"type": "http.request", "body": b'{"to": '}], b"application/json", 1),
        ],
        ids=["too-large", "disconnect", "not-json", "malformed"],
    )
    async def test_unreadable_bodies_are_unverifiable(
        self,
        guard: Guard,
        accounts: Accounts,
        messages: list[Message],
        content_type: bytes,
        max_reads: int,
    ) -> None:
        """Too large, cut off, not JSON or malformed: 403 unverifiable, read boundedly."""
        app = SocialASGI()
        wire = Wire(*messages)
        scope = scope_for(
            "/messages", "POST", viewer="parent", headers=[(b"content-type", content_type)]
        )
        await wrap(app, accounts, guard, max_body=64)(scope, wire.receive, wire.send)
        assert wire.sent[0]["status"] == 403
        assert json.loads(wire.body())["reason"] == "unverifiable"
        assert wire.receives <= max_reads
        assert app.calls == []


# ---------------------------------------------------------------- response filter


def json_app(*chunks: bytes, content_type: str = "application/json", **start: Any) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", content_type.encode()), (b"etag", b'"v1"')]
        await send({"type": "http.response.start", "status": 200, "headers": headers, **start})
        for i, chunk in enumerate(chunks):
            more = i < len(chunks) - 1
            await send({"type": "http.response.body", "body": chunk, "more_body": more})

    return app


class TestResponseFilter:
    @pytest.mark.anyio
    async def test_child_location_and_suggestions(
        self, guard: Guard, accounts: Accounts, social_app: SocialASGI
    ) -> None:
        """For a stranger: no child location, no child suggestion; lengths are right."""
        app = wrap(social_app, accounts, guard, response_filter=ResponseFilter())
        async with client(app) as http:
            kid = await http.get("/users/kid", headers=as_("stranger"))
            own = await http.get("/users/kid", headers=as_("kid"))
            suggestions = await http.get("/suggestions", headers=as_("stranger"))
        assert kid.json() == {"id": "kid", "name": "Kid"}
        assert kid.headers["content-length"] == str(len(kid.content))
        assert own.json() == PROFILES["kid"]
        assert suggestions.json() == {"suggestions": [{"id": "friendly"}]}

    @pytest.mark.anyio
    async def test_streams_pass_unchanged(self, guard: Guard, accounts: Accounts) -> None:
        """A non-JSON stream is forwarded message by message, start first, untouched."""
        start: Message = {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"cache-control", b"no-cache"), (b"content-type", b"text/event-stream")],
        }
        chunks: list[Message] = [
            {"type": "http.response.body", "body": f"data: {i}\n\n".encode(), "more_body": True}
            for i in range(3)
        ]
        end: Message = {"type": "http.response.body", "body": b"", "more_body": False}
        seen_before: list[int] = []
        wire = Wire()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            for message in (start, *chunks, end):
                seen_before.append(len(wire.sent))
                await send(message)

        middleware = wrap(app, accounts, guard, response_filter=ResponseFilter())
        await middleware(scope_for("/events", viewer="stranger"), wire.receive, wire.send)
        assert all(a is b for a, b in zip(wire.sent, [start, *chunks, end], strict=True))
        assert seen_before == [0, 1, 2, 3, 4]

    @pytest.mark.anyio
    async def test_chunked_json_is_filtered_whole(self, guard: Guard, accounts: Accounts) -> None:
        """JSON sent in several chunks is held, filtered and sent once, without its ETag."""
        app = json_app(b'{"id": "kid", ', b'"location": "Leeds", ', b'"name": "Kid"}')
        wire = Wire()
        middleware = wrap(app, accounts, guard, response_filter=ResponseFilter())
        await middleware(scope_for("/", viewer="stranger"), wire.receive, wire.send)
        assert wire.types() == ["http.response.start", "http.response.body"]
        assert json.loads(wire.body()) == {"id": "kid", "name": "Kid"}
        assert wire.header("content-length") == str(len(wire.body()))
        assert wire.header("etag") is None
        assert wire.header("cache-control") == "private"

    @pytest.mark.anyio
    async def test_json_without_decisions_is_untouched(
        self, guard: Guard, accounts: Accounts
    ) -> None:
        """JSON with nothing to decide keeps its start message and bytes."""
        raw = b'{"posts": [{"title": "hi"}]}'
        starts: list[Message] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            start = {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
            starts.append(start)
            await send(start)
            await send({"type": "http.response.body", "body": raw})

        wire = Wire()
        middleware = wrap(app, accounts, guard, response_filter=ResponseFilter())
        await middleware(scope_for("/", viewer="stranger"), wire.receive, wire.send)
        assert wire.sent[0] is starts[0]
        assert wire.body() == raw

    @pytest.mark.anyio
    async def test_empty_json_and_trailers(self, guard: Guard, accounts: Accounts) -> None:
        """An empty JSON body is forwarded; trailers after a filtered body pass through."""

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await json_app(b"")(scope, receive, send)
            await send({"type": "http.response.trailers", "headers": [], "more_trailers": False})

        wire = Wire()
        middleware = wrap(app, accounts, guard, response_filter=ResponseFilter())
        await middleware(scope_for("/", viewer="stranger"), wire.receive, wire.send)
        assert wire.types() == [
            "http.response.start",
            "http.response.body",
            "http.response.trailers",
        ]
        assert wire.header("etag") == '"v1"'

    @pytest.mark.anyio
    async def test_pathsend(self, guard: Guard, accounts: Accounts) -> None:
        """pathsend is hidden from the filtered app; a stray one is forwarded, or withheld
        when it carries JSON that cannot be checked."""
        extensions: dict[str, Any] = {"http.response.pathsend": {}, "http.response.trailers": {}}
        seen: list[dict[str, Any]] = []

        def app_sending(content_type: str) -> Any:
            async def app(scope: Scope, receive: Receive, send: Send) -> None:
                seen.append(scope["extensions"])
                headers = [(b"content-type", content_type.encode())]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.pathsend", "path": "/srv/file"})
                await send({"type": "http.response.body", "body": b"late"})

            return app

        csv = Wire()
        scope = scope_for("/file.csv", extensions=extensions)
        middleware = wrap(
            app_sending("text/csv"), accounts, guard, response_filter=ResponseFilter()
        )
        await middleware(scope, csv.receive, csv.send)
        assert csv.types() == [
            "http.response.start",
            "http.response.pathsend",
            "http.response.body",
        ]
        assert seen[0] == {"http.response.trailers": {}}
        assert scope["extensions"] is extensions
        data = Wire()
        middleware = wrap(
            app_sending("application/json"), accounts, guard, response_filter=ResponseFilter()
        )
        await middleware(scope_for("/file.json", extensions=extensions), data.receive, data.send)
        assert data.sent[0]["status"] == 500
        assert data.types() == ["http.response.start", "http.response.body"]
        unfiltered = Wire()
        await wrap(app_sending("text/csv"), accounts, guard)(
            scope_for("/", extensions=extensions), unfiltered.receive, unfiltered.send
        )
        assert seen[-1] is extensions

    @pytest.mark.anyio
    @pytest.mark.parametrize(
        "app",
        [
            json_app(b'{"id": "kid", "location": "Le'),
            json_app(b"{}", content_type="application/json"),
        ],
        ids=["malformed", "filter-fails"],
    )
    async def test_unreadable_or_unfilterable_json_is_withheld(
        self, guard: Guard, accounts: Accounts, app: Any
    ) -> None:
        """JSON that cannot be read or filtered is replaced by a 500 problem."""

        class Broken(ResponseFilter):
            def needed(self, body: object, *, viewer: str | None = None) -> set[tuple[str, str]]:
                raise RuntimeError(f"cannot walk {type(body).__name__} for {viewer}")

        wire = Wire()
        middleware = wrap(app, accounts, guard, response_filter=Broken())
        await middleware(scope_for("/", viewer="stranger"), wire.receive, wire.send)
        assert wire.sent[0]["status"] == 500
        assert json.loads(wire.body())["title"] == "Response withheld"


# -------------------------------------------------------------- scopes, websockets


class TestScopes:
    @pytest.mark.anyio
    @pytest.mark.parametrize("kind", ["lifespan", "webtransport"])
    async def test_other_scopes_are_forwarded(
        self, guard: Guard, accounts: Accounts, kind: str
    ) -> None:
        """lifespan and unknown scope types reach the app untouched."""
        seen: list[tuple[Scope, Receive, Send]] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            seen.append((scope, receive, send))

        wire = Wire()
        scope: Scope = {"type": kind, "asgi": {"version": "3.0"}}
        await wrap(app, accounts, guard, response_filter=ResponseFilter())(
            scope, wire.receive, wire.send
        )
        assert seen == [(scope, wire.receive, wire.send)]
        assert CONTEXT_KEY not in scope

    @pytest.mark.anyio
    async def test_lifespan_runs_through(self, guard: Guard, accounts: Accounts) -> None:
        """The app's startup and shutdown work through the middleware."""
        app = SocialASGI()
        wire = Wire({"type": "lifespan.startup"}, {"type": "lifespan.shutdown"})
        await wrap(app, accounts, guard)({"type": "lifespan"}, wire.receive, wire.send)
        assert app.lifespan == ["lifespan.startup", "lifespan.shutdown"]
        assert wire.types() == ["lifespan.startup.complete", "lifespan.shutdown.complete"]

    @pytest.mark.anyio
    async def test_undeclared_websocket_is_untouched(
        self, guard: Guard, accounts: Accounts
    ) -> None:
        """With strict mode off, a websocket no route declares reaches the app with the
        same receive and send."""
        seen: list[tuple[Scope, Receive, Send]] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            seen.append((scope, receive, send))

        wire = Wire({"type": "websocket.connect"})
        scope = scope_for("/live", kind="websocket", viewer="stranger")
        await wrap(app, accounts, guard, response_filter=ResponseFilter(), strict=False)(
            scope, wire.receive, wire.send
        )
        assert seen == [(scope, wire.receive, wire.send)]
        assert CONTEXT_KEY not in scope
        assert wire.receives == 0

    @pytest.mark.anyio
    async def test_undeclared_websocket_is_refused(self, guard: Guard, accounts: Accounts) -> None:
        """In strict mode a websocket no route declares is closed with 1008."""
        seen: list[Scope] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            seen.append(scope)

        wire = Wire({"type": "websocket.connect"})
        scope = scope_for("/live", kind="websocket", viewer="stranger")
        await wrap(app, accounts, guard)(scope, wire.receive, wire.send)
        assert seen == []
        assert wire.sent == [
            {"type": "websocket.close", "code": 1008, "reason": "undeclared_route"}
        ]

    @pytest.mark.anyio
    async def test_declared_websocket_allowed(self, guard: Guard, accounts: Accounts) -> None:
        """An allowed declared websocket runs, with the request context, unfiltered."""
        app = SocialASGI()
        wire = Wire({"type": "websocket.connect"})
        scope = scope_for("/chat/kid", kind="websocket", viewer="relative")
        await wrap(app, accounts, guard, response_filter=ResponseFilter())(
            scope, wire.receive, wire.send
        )
        assert wire.types() == ["websocket.accept", "websocket.send", "websocket.close"]
        assert scope[CONTEXT_KEY].account.id == "relative"

    @pytest.mark.anyio
    async def test_declared_websocket_denied(self, guard: Guard, accounts: Accounts) -> None:
        """A denied declared websocket is closed with 1008 and the app never runs."""
        app = SocialASGI()
        wire = Wire({"type": "websocket.connect"})
        scope = scope_for("/chat/kid", kind="websocket", viewer="stranger")
        await wrap(app, accounts, guard)(scope, wire.receive, wire.send)
        assert wire.sent == [{"type": "websocket.close", "code": 1008, "reason": "not_connected"}]
        assert app.calls == []

    @pytest.mark.anyio
    async def test_denied_websocket_already_gone(self, guard: Guard, accounts: Accounts) -> None:
        """If the client left before the handshake, nothing is sent."""
        wire = Wire({"type": "websocket.disconnect", "code": 1001})
        scope = scope_for("/chat/kid", kind="websocket", viewer="stranger")
        await wrap(SocialASGI(), accounts, guard)(scope, wire.receive, wire.send)
        assert wire.sent == []


# ------------------------------------------------------------------- ASGIRequest


class TestASGIRequest:
    def test_fields(self) -> None:
        """Method, joined headers and cookies, query and parameters are read on demand."""
        scope = scope_for(
            "/users/kid",
            "post",
            headers=[
                (b"X-Tag", b"a"),
                (b"x-tag", b"b"),
                (b"cookie", b"session=kid"),
                (b"cookie", b'theme="dark"'),
            ],
            query_string=b"to=kid&to=kid&same=a&same=a&to=x&empty=",
            path_params={"user_id": 42},
        )
        request = ASGIRequest(scope, {"post_id": "p1"})
        assert request.method == "POST"
        # The lower-case spelling (what ASGI servers send) wins over others.
        assert request.header("x-tag") == "b"
        assert (request.cookie("session"), request.cookie("theme")) == ("kid", "dark")
        assert request.cookie("missing") is None
        # A field given twice with different values is ambiguous: refused, not guessed.
        assert (request.query("to"), request.query("empty"), request.query("x")) == (
            None,
            "",
            None,
        )
        assert request.query("same") == "a"
        assert (request.path_param("post_id"), request.path_param("user_id")) == ("p1", "42")
        assert request.path_param("other") is None
        assert ASGIRequest({"type": "http"}).path_param("x") is None

    @pytest.mark.parametrize(
        ("path", "root_path", "expected"),
        [
            ("/api/users/1", "/api", "/users/1"),
            ("/api", "/api", "/"),
            ("/apiary/x", "/api", "/apiary/x"),
            ("/users/1", "/api", "/users/1"),
            ("/users/1", "", "/users/1"),
        ],
    )
    def test_path_below_root_path(self, path: str, root_path: str, expected: str) -> None:
        """The path is taken below root_path when the server included it."""
        assert ASGIRequest(scope_for(path, root_path=root_path)).path == expected

    def test_header_names_from_a_non_conforming_server(self) -> None:
        """Header names sent in any case (ASGI says lower case) are still found."""
        request = ASGIRequest(
            scope_for("/", headers=[(b"Authorization", b"Bearer kid"), (b"X-Trace", b"t1")])
        )
        assert request.header("authorization") == "Bearer kid"
        assert request.header("X-TRACE") == "t1"
        loose = ASGIRequest(scope_for("/", headers=[(bytearray(b"x-trace"), b"t2")]))  # type: ignore[list-item]
        assert loose.header("x-trace") == "t2"
        repeated = ASGIRequest(scope_for("/", headers=[(b"X-Tag", b"a"), (b"X-TAG", b"b")]))
        assert repeated.header("x-tag") == "a, b"

    def test_headers_from_any_iterable(self) -> None:
        """Headers given as a one-shot iterable (the spec allows any) can be read again."""
        pairs = [(b"authorization", b"Bearer kid"), (b"x-trace", b"t1")]
        request = ASGIRequest({"type": "http", "headers": iter(pairs)})
        assert (request.header("x-trace"), request.header("authorization")) == (
            "t1",
            "Bearer kid",
        )
        assert request.header("missing") is None
        assert request.header("naïve-ünicode-€") is None

    def test_header_lookup_is_case_insensitive(self) -> None:
        """A header is found whatever the case of the name asked for."""
        request = ASGIRequest(scope_for("/", headers=[(b"content-type", b"application/json")]))
        assert request.header("Content-Type") == request.header("content-type")
        assert request.header("Content-Type") == "application/json"

    def test_json(self) -> None:
        """The body read by the middleware is parsed once; other bodies give None."""
        request = ASGIRequest(scope_for("/", headers=[(b"content-type", b"application/json")]))
        assert request.json() is None
        request.body = b'{"to": "kid"}'
        assert request.json() == {"to": "kid"}
        request.body = b"changed"
        assert request.json() == {"to": "kid"}
        plain = ASGIRequest(scope_for("/", headers=[(b"content-type", b"text/plain")]))
        plain.body = b"{}"
        assert plain.json() is None


class TestConfiguration:
    def test_problems_reported(self, social_app: SocialASGI) -> None:
        """Bad options are all reported in one ConfigurationError."""
        with pytest.raises(ConfigurationError) as info:
            ChildsafeMiddleware(social_app, guard=None, routes=ROUTES, max_body=-5)  # type: ignore[arg-type]
        assert [p.path for p in info.value.problems] == ["guard", "repository", "max_body"]

    @pytest.mark.anyio
    async def test_defaults(self, guard: Guard, social_app: SocialASGI) -> None:
        """With only a guard, strict mode refuses every request: no route is declared."""
        async with client(ChildsafeMiddleware(social_app, guard=guard)) as http:
            response = await http.get("/whoami")
        assert response.status_code == 403
        assert response.json()["reason"] == "undeclared_route"
        assert social_app.calls == []

    @pytest.mark.anyio
    async def test_strict_off(
        self, guard: Guard, social_app: SocialASGI, caplog: pytest.LogCaptureFixture
    ) -> None:
        """strict=False serves undeclared routes with a context, and says so at start-up."""
        middleware = ChildsafeMiddleware(social_app, guard=guard, strict=False)
        assert "strict=False" in caplog.text
        async with client(middleware) as http:
            assert (await http.get("/whoami")).text == "childsafe:anonymous anonymous"

    @pytest.mark.anyio
    async def test_strict_must_be_a_bool(self, guard: Guard, social_app: SocialASGI) -> None:
        """A strict option that is not a bool is a configuration error."""
        with pytest.raises(ConfigurationError, match="strict"):
            ChildsafeMiddleware(social_app, guard=guard, strict="no")  # type: ignore[arg-type]


# ------------------------------------------------------------------ a real server


@pytest.fixture(name="live")
def _live(guard: Guard, accounts: Accounts) -> Iterator[tuple[str, SocialASGI]]:
    app = SocialASGI()
    config = uvicorn.Config(
        wrap(app, AsyncAccounts(accounts), guard, response_filter=ResponseFilter()),
        host="127.0.0.1",
        port=0,
        lifespan="on",
        log_config=None,
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                pytest.fail("uvicorn did not start")
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=20)


class TestRealServer:
    def test_scenarios_over_http(self, live: tuple[str, SocialASGI]) -> None:
        """On uvicorn: lifespan ran, stranger refused, relative delivered, location hidden."""
        url, app = live
        with httpx.Client(base_url=url, timeout=10) as http:
            refused = http.post("/users/kid/messages", headers=as_("stranger"))
            delivered = http.post("/users/kid/messages", headers=as_("relative"))
            profile = http.get("/users/kid", headers=as_("stranger"))
            sent = http.post("/messages", headers=as_("parent"), json={"to": "kid", "text": "x"})
        assert app.lifespan == ["lifespan.startup"]
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["reason"] == "not_connected"
        assert (delivered.status_code, delivered.text) == (200, "sent to kid")
        assert profile.json() == {"id": KID.id, "name": "Kid"}
        assert "Leeds" not in profile.text
        assert json.loads(sent.text.removeprefix("got ")) == {"to": "kid", "text": "x"}
