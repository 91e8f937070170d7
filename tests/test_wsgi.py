"""The pure WSGI middleware (childsafe.wsgi), driven through real WSGI apps."""

from __future__ import annotations

import gzip
import io
import json
import socketserver
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.util import setup_testing_defaults

import httpx
import pytest

from childsafe import (
    Account,
    Decision,
    DenialResponse,
    Guard,
    Request,
    RequestContext,
    ResponseFilter,
    RouteTable,
    action_rule,
    json_field,
    path_param,
)
from childsafe.exceptions import ConfigurationError
from childsafe.web import CONTEXT_KEY
from childsafe.wsgi import ChildsafeMiddleware, WSGIRequest, request_of
from tests.test_web import (
    FRIENDLY,
    KID,
    Accounts,
    AsyncAccounts,
    html_denial,
    social,
    token_resolver,
)

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

PROFILES: dict[str, dict[str, Any]] = {
    "kid": {"id": "kid", "name": "Kid", "location": "Leeds", "lat": 53.8, "lng": -1.5},
    "friendly": {"id": "friendly", "name": "Friendly", "location": "York"},
}

ROUTES = RouteTable(
    {
        "POST /users/{user_id}/messages": action_rule("dm.send", target=path_param("user_id")),
        "POST /messages": action_rule("dm.send", target=json_field("to")),
        "GET /users/{user_id}/location": action_rule("location.view", target=path_param("user_id")),
    },
    # Reads are not actions: the response filter removes what the viewer may not see.
    exempt={
        "GET /": "reads; the response filter removes what a viewer may not see",
        "GET /{rest:path}": "reads; the response filter removes what a viewer may not see",
    },
)


def send_json(start_response: StartResponse, body: object, status: str = "200 OK") -> list[bytes]:
    raw = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(raw)))]
    )
    return [raw]


def send_text(start_response: StartResponse, text: str, status: str = "200 OK") -> list[bytes]:
    raw = text.encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(raw)))])
    return [raw]


class SocialApp:
    """A tiny real WSGI social app; it records the requests that reached it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        self.calls.append(f"{method} {path}")
        parts = path.strip("/").split("/")
        if method == "POST" and len(parts) == 3 and parts[0] == "users":
            return send_text(start_response, f"sent to {parts[1]}")
        if method == "POST" and path == "/messages":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            return send_text(start_response, "got " + environ["wsgi.input"].read(length).decode())
        if path == "/suggestions":
            return send_json(start_response, {"suggestions": [{"id": "kid"}, {"id": "friendly"}]})
        if len(parts) == 2 and parts[0] == "users" and parts[1] in PROFILES:
            return send_json(start_response, PROFILES[parts[1]])
        if path == "/whoami":
            context: RequestContext = environ[CONTEXT_KEY]
            return send_text(start_response, f"{context.account.id} {context.resolution.source}")
        if len(parts) == 3 and parts[2] == "location":
            return send_json(start_response, {"location": PROFILES[parts[1]]["location"]})
        return send_text(start_response, "not found", "404 Not Found")


@pytest.fixture(name="accounts")
def _accounts() -> Accounts:
    return social()


@pytest.fixture(name="social_app")
def _social_app() -> SocialApp:
    return SocialApp()


def wrap(app: Any, accounts: Accounts, guard: Guard, **options: Any) -> ChildsafeMiddleware:
    options.setdefault("resolvers", [token_resolver(accounts)])
    options.setdefault("routes", ROUTES)
    return ChildsafeMiddleware(app, guard=guard, repository=accounts, **options)


def client(app: WSGIApplication) -> httpx.Client:
    return httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://testserver")


def as_(account_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {account_id}"}


class Server:
    """A minimal PEP 3333 server loop, to see exactly what the middleware hands over."""

    def __init__(self) -> None:
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.sent = False
        self.written: list[bytes] = []

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
    ) -> Callable[[bytes], object]:
        if exc_info:
            if self.sent:
                raise exc_info[1] or RuntimeError("exc_info without an exception")
        elif self.status is not None:
            raise RuntimeError("headers already set")
        self.status, self.headers = status, list(headers)
        return self.written.append

    def body(self, result: Iterable[bytes]) -> bytes:
        chunks = []
        try:
            for chunk in result:
                self.sent = True
                chunks.append(chunk)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return b"".join(self.written + chunks)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def fail(error: Exception) -> NoReturn:
    raise error


def environ_for(
    path: str = "/", method: str = "GET", headers: dict[str, str] | None = None, body: bytes = b""
) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "wsgi.input": io.BytesIO(body),
    }
    if body:
        environ["CONTENT_LENGTH"] = str(len(body))
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        environ[key if key in {"CONTENT_TYPE", "CONTENT_LENGTH"} else f"HTTP_{key}"] = value
    setup_testing_defaults(environ)
    return environ


# ---------------------------------------------------------------- declared routes


class TestDeclaredRoutes:
    def test_stranger_dm_to_child_is_refused(
        self, guard: Guard, accounts: Accounts, social_app: SocialApp
    ) -> None:
        """A stranger's DM to a child gets 403 problem+json and never reaches the app."""
        with client(wrap(social_app, accounts, guard)) as http:
            response = http.post("/users/kid/messages", headers=as_("stranger"), content=b"hi")
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["reason"] == "not_connected"
        assert "kid" not in response.text
        assert social_app.calls == []

    def test_connected_relative_dm_is_delivered(
        self, guard: Guard, accounts: Accounts, social_app: SocialApp
    ) -> None:
        """The connected relative's DM reaches the app."""
        with client(wrap(social_app, accounts, guard)) as http:
            response = http.post("/users/kid/messages", headers=as_("relative"), content=b"hi")
        assert (response.status_code, response.text) == (200, "sent to kid")
        assert social_app.calls == ["POST /users/kid/messages"]

    def test_anonymous_and_broken_resolvers_fail_closed(
        self, guard: Guard, accounts: Accounts, social_app: SocialApp
    ) -> None:
        """No account, or a resolver that raises, is treated protectively: 403, not 500."""

        def broken(request: Request) -> Account | None:
            raise RuntimeError("session store down")

        with client(wrap(social_app, accounts, guard)) as http:
            assert http.post("/users/kid/messages").status_code == 403
            # Unknown ages are held to a child's own settings: no DMs to strangers at all.
            assert http.post("/users/friendly/messages").status_code == 403
            assert http.post("/users/friendly/messages", headers=as_("kid")).status_code == 403
            assert http.post("/users/friendly/messages", headers=as_("parent")).status_code == 200
        with client(wrap(social_app, accounts, guard, resolvers=[broken])) as http:
            assert http.post("/users/kid/messages").status_code == 403
            assert http.get("/whoami").text == "childsafe:anonymous error"

    def test_context_is_in_the_environ(
        self, guard: Guard, accounts: Accounts, social_app: SocialApp
    ) -> None:
        """Undeclared routes run, with the request context stored for the app."""
        with client(wrap(social_app, accounts, guard)) as http:
            assert http.get("/whoami", headers=as_("kid")).text == "kid bearer_token"
            assert (
                http.get("/whoami", headers={"Cookie": "session=parent"}).text
                == "parent bearer_token"
            )

    def test_head_is_checked_like_get(
        self, guard: Guard, accounts: Accounts, social_app: SocialApp
    ) -> None:
        """A HEAD request to a declared GET route is checked too."""
        with client(wrap(social_app, accounts, guard)) as http:
            assert http.head("/users/kid/location", headers=as_("stranger")).status_code == 403
            assert http.head("/users/friendly/location", headers=as_("kid")).status_code == 200
        assert social_app.calls == ["HEAD /users/friendly/location"]

    def test_no_resolvers_is_anonymous(
        self, guard: Guard, accounts: Accounts, social_app: SocialApp
    ) -> None:
        """Without resolvers every request is the protective anonymous account."""
        with client(wrap(social_app, accounts, guard, resolvers=[])) as http:
            assert http.post("/users/kid/messages", headers=as_("relative")).status_code == 403
            assert http.get("/whoami", headers=as_("kid")).text == "childsafe:anonymous anonymous"

    def test_methods_as_request_method_reads_them(
        self, guard: Guard, accounts: Accounts, social_app: SocialApp
    ) -> None:
        """A lower-case method is checked as its upper case, a missing one as GET, and
        one that is not a string (which no server should send) as its text: it matches
        no rule and strict mode refuses it."""
        middleware = wrap(social_app, accounts, guard)

        def status(environ: dict[str, Any]) -> str | None:
            server = Server()
            server.body(middleware(environ, server.start_response))
            return server.status

        lower = environ_for("/users/kid/messages", "post", headers=as_("stranger"))
        assert status(lower) == "403 Forbidden"
        # Allowed: the app gets it as sent (this one only answers "POST" itself).
        assert status(environ_for("/users/kid/messages", "post", headers=as_("relative"))) == (
            "404 Not Found"
        )
        missing = environ_for("/users/kid/location", headers=as_("stranger"))
        del missing["REQUEST_METHOD"]
        assert status(missing) == "403 Forbidden"
        not_text = environ_for("/users/kid/messages", headers=as_("relative"))
        not_text["REQUEST_METHOD"] = b"POST"
        refused = status(not_text)
        assert refused is not None
        assert refused.startswith("4")
        assert social_app.calls == ["post /users/kid/messages"]

    def test_trailing_slash_is_checked(
        self, guard: Guard, accounts: Accounts, social_app: SocialApp
    ) -> None:
        """A trailing slash does not get a request past its declaration."""
        with client(wrap(social_app, accounts, guard)) as http:
            response = http.post("/users/kid/messages/", headers=as_("stranger"))
        assert response.status_code == 403

    def test_custom_renderer(self, guard: Guard, accounts: Accounts, social_app: SocialApp) -> None:
        """The app's renderer answers denials (an HTML page)."""
        with client(wrap(social_app, accounts, guard, renderer=html_denial)) as http:
            response = http.post("/users/kid/messages", headers=as_("stranger"))
        assert (response.status_code, response.headers["content-type"]) == (403, "text/html")
        assert response.text == "<h1>Not allowed</h1><p>not_connected</p>"

    def test_broken_renderer_still_denies(
        self, guard: Guard, accounts: Accounts, social_app: SocialApp
    ) -> None:
        """A renderer that raises gives problem+json; the request stays denied."""

        def broken(decision: Decision, request: Request) -> DenialResponse:
            raise RuntimeError(decision.action + request.path)

        with client(wrap(social_app, accounts, guard, renderer=broken)) as http:
            response = http.post("/users/kid/messages", headers=as_("stranger"))
        assert response.status_code == 403
        assert response.json()["reason"] == "not_connected"

    def test_renderer_reads_the_route_params(
        self, guard: Guard, accounts: Accounts, social_app: SocialApp
    ) -> None:
        """The request a renderer gets carries the matched route's path parameters,
        by name and as a mapping."""

        def renderer(decision: Decision, request: Request) -> DenialResponse:
            assert isinstance(request, WSGIRequest)
            seen = f"{request.path_param('user_id')} {dict(request.params)} {decision.action}"
            return DenialResponse(403, (("content-type", "text/plain"),), seen.encode())

        with client(wrap(social_app, accounts, guard, renderer=renderer)) as http:
            response = http.post("/users/kid/messages", headers=as_("stranger"))
        assert (response.status_code, response.text) == (403, "kid {'user_id': 'kid'} dm.send")

    def test_resolvers_see_no_path_params(
        self, guard: Guard, accounts: Accounts, social_app: SocialApp
    ) -> None:
        """Resolvers run before the route is matched: the request they get has no path
        parameters (empty, not an error), on declared and undeclared routes alike."""
        seen: list[str] = []
        resolver = token_resolver(accounts)

        def reading(request: Request) -> Account | None:
            assert isinstance(request, WSGIRequest)
            seen.append(f"{request.path_param('user_id')} {dict(request.params)}")
            found = resolver(request)
            assert found is None or isinstance(found, Account)
            return found

        with client(wrap(social_app, accounts, guard, resolvers=[reading])) as http:
            assert http.post("/users/kid/messages", headers=as_("relative")).status_code == 200
            assert http.get("/whoami", headers=as_("kid")).text == "kid reading"
        assert seen == ["None {}", "None {}"]

    @pytest.mark.parametrize(
        ("status", "line"),
        [(451, "451 Unavailable For Legal Reasons"), (303, "303 See Other"), (599, "599 Denied")],
    )
    def test_status_lines(
        self, guard: Guard, accounts: Accounts, social_app: SocialApp, status: int, line: str
    ) -> None:
        """The renderer's status gets its reason phrase ('Denied' when there is none)."""

        def renderer(decision: Decision, request: Request) -> DenialResponse:
            del decision, request
            return DenialResponse(status, (("location", "/denied"),), b"")

        server = Server()
        middleware = wrap(social_app, accounts, guard, renderer=renderer)
        environ = environ_for("/users/kid/messages", "POST", as_("stranger"))
        assert server.body(middleware(environ, server.start_response)) == b""
        assert server.status == line


class TestJsonTarget:
    def test_target_from_the_body(
        self, guard: Guard, accounts: Accounts, social_app: SocialApp
    ) -> None:
        """The target is read from the JSON body, which the app then reads whole."""
        with client(wrap(social_app, accounts, guard)) as http:
            refused = http.post("/messages", headers=as_("stranger"), json={"to": "kid"})
            delivered = http.post(
                "/messages", headers=as_("parent"), json={"to": "kid", "text": "hi"}
            )
        assert refused.status_code == 403
        assert delivered.status_code == 200
        assert json.loads(delivered.text.removeprefix("got ")) == {"to": "kid", "text": "hi"}

    @pytest.mark.parametrize(
        ("content", "content_type"),
        [
            (json.dumps({"to": "kid", "pad": "x" * 100}).encode(), "application/json"),
            (b'{"to": "kid"}', "text/plain"),
            (b'{"to": "kid"', "application/json"),
            (b"", "application/json"),
        ],
        ids=["too-large", "not-json", "malformed", "empty"],
    )
    def test_unreadable_bodies_are_unverifiable(
        self,
        guard: Guard,
        accounts: Accounts,
        social_app: SocialApp,
        content: bytes,
        content_type: str,
    ) -> None:
        """A body too large, not JSON or malformed has no target: 403 unverifiable."""
        middleware = wrap(social_app, accounts, guard, max_body=64)
        with client(middleware) as http:
            response = http.post(
                "/messages",
                headers={**as_("parent"), "Content-Type": content_type},
                content=content,
            )
        assert response.status_code == 403
        assert response.json()["reason"] == "unverifiable"
        assert social_app.calls == []


# ---------------------------------------------------------------- response filter


class TestResponseFilter:
    def test_child_location_stripped_for_a_stranger(
        self, guard: Guard, accounts: Accounts, social_app: SocialApp
    ) -> None:
        """A stranger's view of a child's profile has no location; lengths are right."""
        middleware = wrap(social_app, accounts, guard, response_filter=ResponseFilter())
        with client(middleware) as http:
            kid = http.get("/users/kid", headers=as_("stranger"))
            adult = http.get("/users/friendly", headers=as_("stranger"))
            own = http.get("/users/kid", headers=as_("kid"))
        assert kid.json() == {"id": "kid", "name": "Kid"}
        assert kid.headers["content-length"] == str(len(kid.content))
        assert kid.headers["cache-control"] == "private"
        assert adult.json() == PROFILES["friendly"]
        assert own.json() == PROFILES["kid"]

    def test_children_not_suggested_to_strangers(
        self, guard: Guard, accounts: Accounts, social_app: SocialApp
    ) -> None:
        """The child never appears in a stranger's suggestions."""
        middleware = wrap(social_app, accounts, guard, response_filter=ResponseFilter())
        with client(middleware) as http:
            response = http.get("/suggestions", headers=as_("stranger"))
        assert response.json() == {"suggestions": [{"id": "friendly"}]}

    def test_non_json_iterable_is_returned_untouched(
        self, guard: Guard, accounts: Accounts
    ) -> None:
        """A non-JSON response's iterable is handed to the server as is."""
        body = FileLike([b"a", b"b"])

        def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            start_response("200 OK", [("Content-Type", "text/csv")])
            return body

        server = Server()
        middleware = wrap(app, accounts, guard, response_filter=ResponseFilter())
        result = middleware(environ_for("/export"), server.start_response)
        assert result is body
        assert server.body(result) == b"ab"
        assert body.closed

    def test_late_start_response_keeps_streaming(self, guard: Guard, accounts: Accounts) -> None:
        """A generator app calling start_response late still streams, and is closed."""
        produced: list[int] = []
        closed: list[bool] = []

        def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
            try:
                yield b""
                start_response("200 OK", [("Content-Type", "text/event-stream")])
                for i in range(100):
                    produced.append(i)
                    yield f"data: {i}\n\n".encode()
            finally:
                closed.append(True)

        server = Server()
        middleware = wrap(app, accounts, guard, response_filter=ResponseFilter())
        result = middleware(environ_for("/events"), server.start_response)
        stream = iter(result)
        assert [next(stream), next(stream)] == [b"data: 0\n\n", b"data: 1\n\n"]
        assert produced == [0, 1]
        assert server.status == "200 OK"
        close = getattr(result, "close", None)
        assert close is not None
        close()
        assert closed == [True]

    def test_late_start_response_json_is_filtered(self, guard: Guard, accounts: Accounts) -> None:
        """A generator app that starts a JSON response late is filtered all the same."""

        def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
            start_response("200 OK", [("Content-Type", "application/json")])
            yield b'{"id": "kid", '
            yield b'"location": "Leeds"}'

        middleware = wrap(app, accounts, guard, response_filter=ResponseFilter())
        with client(middleware) as http:
            response = http.get("/users/kid", headers=as_("stranger"))
        assert response.json() == {"id": "kid"}

    def test_write_callable_is_filtered(self, guard: Guard, accounts: Accounts) -> None:
        """Bytes an app writes through write() are held and filtered too."""

        def app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
            write = start_response("200 OK", [("Content-Type", "application/json")])
            write(b'{"id": "kid", "lat": 1')
            return [b"}"]

        server = Server()
        middleware = wrap(app, accounts, guard, response_filter=ResponseFilter())
        environ = environ_for("/", headers=as_("stranger"))
        assert json.loads(server.body(middleware(environ, server.start_response))) == {"id": "kid"}

    def test_error_page_replaces_held_json(self, guard: Guard, accounts: Accounts) -> None:
        """An app that fails mid-JSON and restarts with exc_info sends only the error page."""

        def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
            start_response("200 OK", [("Content-Type", "application/json")])
            yield b'{"id": "kid", "location": '
            try:
                fail(ValueError("database went away"))
            except ValueError:
                start_response(
                    "500 Internal Server Error", [("Content-Type", "text/html")], sys.exc_info()
                )
            yield b"<h1>Sorry</h1>"

        server = Server()
        middleware = wrap(app, accounts, guard, response_filter=ResponseFilter())
        body = server.body(
            middleware(environ_for("/", headers=as_("stranger")), server.start_response)
        )
        assert (server.status, body) == ("500 Internal Server Error", b"<h1>Sorry</h1>")

    def test_error_json_replaces_held_json(self, guard: Guard, accounts: Accounts) -> None:
        """A JSON error page after exc_info replaces the partial JSON and is filtered."""

        def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
            start_response("200 OK", [("Content-Type", "application/json")])
            yield b'{"partial": '
            try:
                fail(RuntimeError("boom"))
            except RuntimeError:
                start_response(
                    "500 Internal Server Error",
                    [("Content-Type", "application/problem+json")],
                    sys.exc_info(),
                )
            yield b'{"title": "boom", "id": "kid", "geo": 1}'

        server = Server()
        middleware = wrap(app, accounts, guard, response_filter=ResponseFilter())
        body = server.body(
            middleware(environ_for("/", headers=as_("stranger")), server.start_response)
        )
        assert server.status == "500 Internal Server Error"
        assert json.loads(body) == {"title": "boom", "id": "kid"}

    def test_exc_info_after_streaming_reaches_the_server(
        self, guard: Guard, accounts: Accounts
    ) -> None:
        """Once a non-JSON response went out, exc_info goes to the server, which re-raises."""

        def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
            start_response("200 OK", [("Content-Type", "text/plain")])
            yield b"partial"
            try:
                fail(OSError("disk"))
            except OSError:
                start_response("500 Error", [("Content-Type", "text/plain")], sys.exc_info())
            yield b"never"

        server = Server()
        middleware = wrap(app, accounts, guard, response_filter=ResponseFilter())
        result = middleware(environ_for("/"), server.start_response)
        with pytest.raises(OSError, match="disk"):
            server.body(result)

    def test_second_start_response_without_exc_info(self, guard: Guard, accounts: Accounts) -> None:
        """Calling start_response twice without exc_info is an error, as in any server."""

        def app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
            start_response("200 OK", [("Content-Type", "application/json")])
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b"{}"]

        middleware = wrap(app, accounts, guard, response_filter=ResponseFilter())
        with pytest.raises(RuntimeError, match="second time"):
            middleware(environ_for("/"), Server().start_response)

    def test_app_that_never_starts(self, guard: Guard, accounts: Accounts) -> None:
        """An app that never calls start_response is left for the server to report."""

        def app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
            return []

        server = Server()
        middleware = wrap(app, accounts, guard, response_filter=ResponseFilter())
        assert list(middleware(environ_for("/"), server.start_response)) == []
        assert server.status is None

    def test_failing_iterable_is_closed(self, guard: Guard, accounts: Accounts) -> None:
        """If the app's JSON iterable raises, it is closed and the error propagates."""
        closed: list[bool] = []

        def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
            try:
                start_response("200 OK", [("Content-Type", "application/json")])
                yield b"{"
                raise LookupError("row gone")
            finally:
                closed.append(True)

        middleware = wrap(app, accounts, guard, response_filter=ResponseFilter())
        with pytest.raises(LookupError):
            middleware(environ_for("/"), Server().start_response)
        assert closed == [True]

    def test_empty_json_body_is_untouched(self, guard: Guard, accounts: Accounts) -> None:
        """A JSON response without a body (HEAD, 204) keeps its headers."""

        def app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
            start_response(
                "200 OK", [("Content-Type", "application/json"), ("Content-Length", "99")]
            )
            return []

        server = Server()
        middleware = wrap(app, accounts, guard, response_filter=ResponseFilter())
        assert server.body(middleware(environ_for("/", "HEAD"), server.start_response)) == b""
        assert server.header("content-length") == "99"

    @pytest.mark.parametrize(
        ("content", "encoding"),
        [(b'{"id": "kid", "location": "Le', None), (b"{}", "br")],
        ids=["malformed", "brotli"],
    )
    def test_unreadable_json_is_withheld(
        self, guard: Guard, accounts: Accounts, content: bytes, encoding: str | None
    ) -> None:
        """JSON that cannot be read is not sent: 500 problem+json instead."""

        def app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
            headers = [("Content-Type", "application/json")]
            if encoding:
                headers.append(("Content-Encoding", encoding))
            start_response("200 OK", headers)
            return [content]

        middleware = wrap(app, accounts, guard, response_filter=ResponseFilter())
        with client(middleware) as http:
            response = http.get("/", headers=as_("stranger"))
        assert response.status_code == 500
        assert response.json()["title"] == "Response withheld"
        assert "Leeds" not in response.text

    def test_gzipped_json_is_filtered(self, guard: Guard, accounts: Accounts) -> None:
        """An app that gzips its JSON is still filtered (and sent uncompressed)."""

        def app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
            raw = gzip.compress(json.dumps(PROFILES["kid"]).encode())
            start_response(
                "200 OK",
                [
                    ("Content-Type", "application/json"),
                    ("Content-Encoding", "gzip"),
                    ("Content-Length", str(len(raw))),
                ],
            )
            return [raw]

        middleware = wrap(app, accounts, guard, response_filter=ResponseFilter())
        with client(middleware) as http:
            response = http.get("/", headers=as_("stranger"))
        assert "content-encoding" not in response.headers
        assert response.json() == {"id": "kid", "name": "Kid"}

    def test_filter_failure_withholds(
        self, guard: Guard, accounts: Accounts, social_app: SocialApp
    ) -> None:
        """If filtering itself fails, the response is withheld, never sent unfiltered."""

        class Broken(ResponseFilter):
            def needed(self, body: object, *, viewer: str | None = None) -> set[tuple[str, str]]:
                raise RecursionError(f"too deep for {viewer}: {type(body).__name__}")

        middleware = wrap(social_app, accounts, guard, response_filter=Broken())
        with client(middleware) as http:
            response = http.get("/users/kid", headers=as_("stranger"))
        assert response.status_code == 500
        assert "Leeds" not in response.text


class FileLike:
    """A response iterable with close(), as wsgi.file_wrapper returns."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        self.closed = True


# ------------------------------------------------------------------ configuration


class TestConfiguration:
    def test_every_problem_at_once(self, social_app: SocialApp) -> None:
        """Bad options are all reported in one ConfigurationError."""
        with pytest.raises(ConfigurationError) as info:
            ChildsafeMiddleware(
                social_app,
                guard="guard",  # type: ignore[arg-type]
                resolvers="token",  # type: ignore[arg-type]
                routes={"GET /": None},  # type: ignore[arg-type]
                response_filter={"id": "id"},  # type: ignore[arg-type]
                renderer="html",  # type: ignore[arg-type]
                max_body=-1,
            )
        paths = [p.path for p in info.value.problems]
        assert paths == [
            "guard",
            "resolvers",
            "routes",
            "response_filter",
            "repository",
            "renderer",
            "max_body",
        ]

    def test_routes_need_a_repository(self, guard: Guard, social_app: SocialApp) -> None:
        """Declared routes without a repository to load targets are refused."""
        with pytest.raises(ConfigurationError, match="need an AccountRepository"):
            ChildsafeMiddleware(social_app, guard=guard, routes=ROUTES)
        assert ChildsafeMiddleware(social_app, guard=guard, routes=RouteTable()).routes is not None

    def test_async_pieces_are_refused(
        self, guard: Guard, accounts: Accounts, social_app: SocialApp
    ) -> None:
        """Async resolvers and repositories need the ASGI middleware."""

        async def session(request: Request) -> Account | None:
            return None

        with pytest.raises(ConfigurationError) as info:
            ChildsafeMiddleware(
                social_app,
                guard=guard,
                resolvers=[session],
                repository=AsyncAccounts(accounts),
                max_body=True,
            )
        assert [p.path for p in info.value.problems] == ["max_body", "resolvers", "repository"]

    def test_defaults(self, guard: Guard, social_app: SocialApp) -> None:
        """With only a guard, strict mode refuses every request: no route is declared."""
        with client(ChildsafeMiddleware(social_app, guard=guard)) as http:
            response = http.get("/whoami")
        assert response.status_code == 403
        assert response.json()["reason"] == "undeclared_route"
        assert social_app.calls == []

    def test_strict_off(
        self, guard: Guard, social_app: SocialApp, caplog: pytest.LogCaptureFixture
    ) -> None:
        """strict=False serves undeclared routes with a context, and says so at start-up."""
        middleware = ChildsafeMiddleware(social_app, guard=guard, strict=False)
        assert "strict=False" in caplog.text
        with client(middleware) as http:
            assert http.get("/whoami").text == "childsafe:anonymous anonymous"

    def test_strict_must_be_a_bool(self, guard: Guard, social_app: SocialApp) -> None:
        """A strict option that is not a bool is a configuration error."""
        with pytest.raises(ConfigurationError, match="strict"):
            ChildsafeMiddleware(social_app, guard=guard, strict="no")  # type: ignore[arg-type]

    def test_exempt_routes_pass_and_others_are_refused(
        self, guard: Guard, accounts: Accounts, social_app: SocialApp
    ) -> None:
        """Strict mode serves declared and exempt routes and refuses the rest."""
        routes = RouteTable(
            {
                "POST /users/{user_id}/messages": action_rule(
                    "dm.send", target=path_param("user_id")
                )
            },
            exempt={"GET /whoami": "the requester's own account"},
        )
        with client(wrap(social_app, accounts, guard, routes=routes)) as http:
            assert http.get("/whoami", headers=as_("kid")).status_code == 200
            assert http.post("/whoami", headers=as_("kid")).status_code == 403
            assert http.get("/suggestions", headers=as_("kid")).status_code == 403
            assert http.post("/users/relative/messages", headers=as_("kid")).status_code == 200
        assert social_app.calls == ["GET /whoami", "POST /users/relative/messages"]


# ------------------------------------------------------------------- WSGIRequest


class TestWSGIRequest:
    def test_fields(self) -> None:
        """Method, headers, cookies, query and path parameters are read on demand."""
        environ = environ_for(
            "/users/kid",
            "post",
            {"Content-Type": "text/plain", "X-Token": "abc", "Cookie": 'a=1; b="two"; bad'},
        )
        environ["QUERY_STRING"] = "to=kid&to=kid&same=a&same=a&to=other&empty="
        request = WSGIRequest(environ, {"user_id": "kid"})
        assert request.method == "POST"
        assert (request.header("content-type"), request.header("x-token")) == ("text/plain", "abc")
        assert request.header("missing") is None
        assert request.header("Content-Type") == request.header("CONTENT-TYPE") == "text/plain"
        assert request.header("X-TOKEN") == "abc"
        assert (request.cookie("a"), request.cookie("b"), request.cookie("bad")) == (
            "1",
            "two",
            None,
        )
        # A field given twice with different values is ambiguous: refused, not guessed.
        assert (request.query("to"), request.query("empty"), request.query("x")) == (
            None,
            "",
            None,
        )
        assert request.query("same") == "a"
        assert (request.path_param("user_id"), request.path_param("x")) == ("kid", None)
        assert isinstance(request_of(environ), WSGIRequest)

    def test_path_is_utf8(self) -> None:
        """PATH_INFO's latin-1-carried bytes are decoded as UTF-8; other text is kept."""
        assert WSGIRequest(environ_for("/users/zoÃ«")).path == "/users/zoë"
        assert WSGIRequest(environ_for("/users/\xff")).path == "/users/\xff"
        assert WSGIRequest(environ_for("/users/ō")).path == "/users/ō"
        assert WSGIRequest({"PATH_INFO": ""}).path == "/"

    def test_json_is_read_once_and_put_back(self) -> None:
        """The body is parsed once, and the app can still read it all."""
        raw = b'{"to": "kid"}'
        environ = environ_for("/", "POST", {"Content-Type": "application/json"}, raw)
        request = WSGIRequest(environ)
        assert request.json() == {"to": "kid"}
        assert request.json() == {"to": "kid"}
        assert environ["wsgi.input"].read() == raw

    @pytest.mark.parametrize(
        "environ",
        [
            {"CONTENT_TYPE": "application/json", "CONTENT_LENGTH": "x", "wsgi.input": io.BytesIO()},
            {
                "CONTENT_TYPE": "application/json",
                "CONTENT_LENGTH": "-1",
                "wsgi.input": io.BytesIO(),
            },
            {"CONTENT_TYPE": "application/json", "CONTENT_LENGTH": "2"},
            {"CONTENT_TYPE": "application/json", "wsgi.input": io.BytesIO(b"{}")},
        ],
        ids=["bad-length", "negative-length", "no-input", "no-length-unterminated"],
    )
    def test_bodies_not_read(self, environ: dict[str, Any]) -> None:
        """Without a usable length (or an input that ends) nothing is read."""
        assert WSGIRequest(environ).json() is None

    def test_terminated_input_without_length(self) -> None:
        """A chunked body (wsgi.input_terminated) is read up to max_body."""
        environ: dict[str, Any] = {
            "CONTENT_TYPE": "application/json",
            "wsgi.input": io.BytesIO(b'{"to": "kid"}'),
            "wsgi.input_terminated": True,
        }
        assert WSGIRequest(environ).json() == {"to": "kid"}
        assert environ["wsgi.input"].read() == b'{"to": "kid"}'

    def test_terminated_input_too_large_is_replayed(self) -> None:
        """A chunked body over max_body finds no target, and the app still reads it all."""
        raw = b'{"to": "kid", "text": "' + b"x" * 40 + b'"}\nsecond line\nthird'
        environ: dict[str, Any] = {
            "CONTENT_TYPE": "application/json",
            "wsgi.input": io.BytesIO(raw),
            "wsgi.input_terminated": True,
        }
        assert WSGIRequest(environ, max_body=10).json() is None
        replay = environ["wsgi.input"]
        assert replay.read(5) + replay.read(20) + replay.read() == raw
        environ["wsgi.input"] = io.BytesIO(raw)
        WSGIRequest(environ, max_body=10).json()
        replay = environ["wsgi.input"]
        assert replay.readline(4) == raw[:4]
        assert replay.readline() == raw[4:].split(b"\n")[0] + b"\n"
        assert replay.readlines() == [b"second line\n", b"third"]
        environ["wsgi.input"] = io.BytesIO(raw)
        WSGIRequest(environ, max_body=10).json()
        assert b"".join(environ["wsgi.input"]) == raw
        environ["wsgi.input"] = io.BytesIO(b"ab\ncd" * 5)
        WSGIRequest(environ, max_body=1).json()
        assert environ["wsgi.input"].readline(3) == b"ab\n"
        assert environ["wsgi.input"].read(None) == b"cd" + b"ab\ncd" * 4


# ------------------------------------------------------------------ a real server


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        del format, args


@pytest.fixture(name="live_url")
def _live_url(guard: Guard, accounts: Accounts) -> Iterator[str]:
    app = wrap(SocialApp(), accounts, guard, response_filter=ResponseFilter())
    server = make_server(
        "127.0.0.1", 0, app, server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class TestRealServer:
    def test_scenarios_over_http(self, live_url: str) -> None:
        """Over real HTTP: stranger refused, relative delivered, child's location hidden."""
        with httpx.Client(base_url=live_url, timeout=10) as http:
            refused = http.post("/users/kid/messages", headers=as_("stranger"), content=b"hi")
            delivered = http.post("/users/kid/messages", headers=as_("relative"), content=b"hi")
            profile = http.get("/users/kid", headers=as_("stranger"))
            suggestions = http.get("/suggestions", headers=as_("stranger"))
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["reason"] == "not_connected"
        assert (delivered.status_code, delivered.text) == (200, "sent to kid")
        assert profile.json() == {"id": "kid", "name": "Kid"}
        assert "Leeds" not in profile.text
        assert suggestions.json() == {"suggestions": [{"id": FRIENDLY.id}]}
        assert KID.id not in suggestions.text
