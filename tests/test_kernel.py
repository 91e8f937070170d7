"""The request kernel's shared rules (childsafe.web): denial statuses, ambiguity,
declared-rule lookup, confirmations, strict mode's building blocks."""

from __future__ import annotations

import functools
import json
from typing import Any

import flask
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from childsafe import (
    Account,
    DenialResponse,
    Guard,
    Relationship,
    RouteTable,
    action,
    action_rule,
    bearer_token,
    exempt,
    path_param,
    query_param,
)
from childsafe.contrib.flask import ChildSafe
from childsafe.contrib.flask import routes as flask_routes
from childsafe.exceptions import ConfigurationError
from childsafe.web import (
    RequestContext,
    ResolverChain,
    declared_rules,
    denial_status,
    is_declared,
    single_value,
)
from childsafe.web.request import parse_json_body
from childsafe.web.strict import RouteInfo, check_strict, describe_rule, exemption, sample_path
from childsafe.wsgi import ChildsafeMiddleware

ACCOUNTS = {
    "teen": Account(id="teen", band="13_15"),
    "kid": Account(id="kid", band="under_13"),
    "adult": Account(id="adult", band="adult"),
}


class Strangers:
    """Everyone is a stranger to everyone."""

    def get_account(self, account_id: str) -> Account | None:
        return ACCOUNTS.get(account_id)

    def relationship(self, actor: Account, target: Account) -> Relationship:
        del actor, target
        return Relationship()


class TestDenialStatus:
    @pytest.mark.parametrize("status", [100, 200, 201, 204, 206, 299, 300, 304, 305, 600, 999])
    def test_success_like_statuses_become_403(self, status: int) -> None:
        """No 1xx, 2xx, 304 or unknown status ever carries a denial."""
        assert denial_status(status) == 403

    @pytest.mark.parametrize("status", [301, 302, 303, 307, 308, 400, 401, 403, 404, 451, 500])
    def test_errors_and_redirects_are_kept(self, status: int) -> None:
        """Error statuses and redirects (to a sign-in or explanation page) are kept."""
        assert denial_status(status) == status

    @given(st.integers(min_value=100, max_value=999))
    def test_never_success(self, status: int) -> None:
        """Whatever a renderer chooses, the status sent is not a success."""
        assert not 100 <= denial_status(status) < 300
        assert denial_status(status) != 304


class TestAmbiguity:
    @given(st.lists(st.text(max_size=5), min_size=1, max_size=4))
    def test_single_value(self, values: list[str]) -> None:
        """A field is read only when every value given is the same."""
        expected = values[0] if len(set(values)) == 1 else None
        assert single_value(values) == expected

    def test_absent(self) -> None:
        """No value is no value."""
        assert single_value([]) is None
        assert single_value(None) is None

    @pytest.mark.parametrize(
        "raw",
        [b'{"to": "a", "to": "b"}', b'{"to": NaN}', b"[" * 100 + b"]" * 100, b"{oops", b""],
    )
    def test_unreadable_json_bodies(self, raw: bytes) -> None:
        """Duplicated keys, NaN, deep nesting and malformed bodies are not read."""
        assert parse_json_body(raw) is None
        assert parse_json_body(raw.decode()) is None

    @given(st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4))
    def test_json_bodies_round_trip_as_bytes_and_text(self, body: dict[str, str]) -> None:
        """A JSON body is read the same from its bytes and from its text, whatever
        characters it holds (a text with non-ASCII characters was refused as too large)."""
        text = json.dumps(body, ensure_ascii=False)
        assert parse_json_body(text.encode()) == body
        assert parse_json_body(text) == body


class TestDeclaredRules:
    def test_function_and_partial(self) -> None:
        """A rule on a function is found, through functools.partial too."""

        @action("dm.send", target=path_param("user_id"))
        def send(user_id: str, extra: int) -> str:
            return user_id * extra

        assert [r.action for r in declared_rules(functools.partial(send, extra=1), "POST")] == [
            "dm.send"
        ]
        assert is_declared(functools.partial(send, extra=1))

    def test_class_and_method_rules_all_apply(self) -> None:
        """A class-wide rule and a handler's own rule are both checked, in that order."""

        @action("profile.view", target=path_param("user_id"))
        class Thread:
            @action("dm.send", target=path_param("user_id"))
            def post(self) -> None: ...

            def get(self) -> None: ...

        assert [r.action for r in declared_rules(Thread, "POST")] == ["profile.view", "dm.send"]
        assert [r.action for r in declared_rules(Thread, "HEAD")] == ["profile.view"]

    def test_view_class_of_as_view(self) -> None:
        """``as_view()`` functions are looked through to their ``view_class``."""

        class Messages:
            @action("dm.send", target=path_param("user_id"))
            def post(self) -> None: ...

        def view() -> None: ...

        view.view_class = Messages  # type: ignore[attr-defined]
        assert [r.action for r in declared_rules(view, "post")] == ["dm.send"]
        assert declared_rules(view, "GET") == ()
        assert is_declared(view)

    def test_nothing_declared(self) -> None:
        """A plain function declares nothing."""

        def plain() -> None: ...

        assert declared_rules(plain, "GET") == ()
        assert not is_declared(plain)


def _app(environ: Any, start_response: Any) -> list[bytes]:
    start_response("201 Created", [("content-type", "text/plain")])
    return [b"requested"]


@pytest.fixture(name="client")
def _client() -> httpx.Client:
    routes = RouteTable(
        {"POST /friends/{user_id}": action_rule("friend.request", target=path_param("user_id"))}
    )
    app = ChildsafeMiddleware(
        _app,
        guard=Guard(),
        resolvers=[bearer_token(ACCOUNTS.get)],
        repository=Strangers(),
        routes=routes,
    )
    return httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://t")


class TestConfirmation:
    def test_prompt_then_confirmed(self, client: httpx.Client) -> None:
        """A teen's request to an adult stranger needs confirmation, then goes ahead."""
        asked = client.post("/friends/adult", headers={"Authorization": "Bearer teen"})
        assert asked.status_code == 403
        problem = asked.json()
        assert problem["reason"] == "confirmation_required"
        assert problem["needs_confirmation"] is True
        assert problem["confirm"] == {"header": "Childsafe-Confirm", "value": "friend.request"}
        confirmed = client.post(
            "/friends/adult",
            headers={"Authorization": "Bearer teen", "Childsafe-Confirm": "friend.request"},
        )
        assert (confirmed.status_code, confirmed.text) == (201, "requested")

    def test_confirming_another_action_does_not_count(self, client: httpx.Client) -> None:
        """A confirmation names its action: confirming something else changes nothing."""
        response = client.post(
            "/friends/adult",
            headers={"Authorization": "Bearer teen", "Childsafe-Confirm": "dm.send"},
        )
        assert response.json()["reason"] == "confirmation_required"

    def test_confirmation_cannot_replace_a_parent(self, client: httpx.Client) -> None:
        """An under-13 cannot confirm past the parent's approval."""
        response = client.post(
            "/friends/adult",
            headers={"Authorization": "Bearer kid", "Childsafe-Confirm": "friend.request"},
        )
        assert response.status_code == 403
        assert response.json()["reason"] == "parent_approval_to_contact"
        assert "needs_confirmation" not in response.json()


class TestStrictBuildingBlocks:
    @pytest.mark.parametrize(
        ("template", "sample"),
        [
            ("/users/<int:user_id>", "/users/1"),
            ("/users/<user_id>/messages", "/users/childsafe-sample/messages"),
            ("/users/{user_id}", "/users/childsafe-sample"),
            ("/files/{rest:path}", "/files/childsafe-sample/childsafe-sample"),
            ("/files/<path:rest>", "/files/childsafe-sample/childsafe-sample"),
            ("/", "/"),
        ],
    )
    def test_sample_path(self, template: str, sample: str) -> None:
        """A path template is filled so that route tables can be asked about it."""
        assert sample_path(template) == sample

    @pytest.mark.parametrize(
        ("entry", "protection"),
        [
            ("GET /files/{name}", "UNPROTECTED"),
            ("GET /files/{name:path}", "profile.view (target query_param('to'))"),
        ],
    )
    def test_path_route_needs_a_path_entry(self, entry: str, protection: str) -> None:
        """A route whose parameter takes slashes (Flask's ``<path:name>``) is covered only
        by a table entry whose parameter takes them too: ``{name}`` would leave
        ``/files/a/b`` unchecked while strict mode counted the route as protected."""
        app = flask.Flask("files")
        app.config["CHILDSAFE_STRICT"] = False
        app.add_url_rule("/files/<path:name>", "files", lambda name: name)
        table = RouteTable({entry: action_rule("profile.view", target=query_param("to"))})
        ChildSafe(app, routes=table, guard=Guard(), repository=Strangers())
        [route] = [r for r in flask_routes(app) if r.endpoint == "files"]
        assert route.protection == protection

    @pytest.mark.parametrize("reason", ["", "   ", None, 3])
    def test_exempt_needs_a_reason(self, reason: Any) -> None:
        """An exemption without a reason is refused when declared."""
        with pytest.raises(ConfigurationError, match="say why"):
            exempt(reason)

    def test_exemption_on_class_and_handler(self) -> None:
        """Exemptions are found on the class, or on the handler of the method."""

        class Page:
            @exempt("a public page")
            def get(self) -> None: ...

            def post(self) -> None: ...

        assert exemption(Page, "GET") == "a public page"
        assert exemption(Page, "HEAD") == "a public page"
        assert exemption(Page, "POST") is None

    def test_route_table_exemptions_are_validated(self) -> None:
        """Exempt keys use the route syntax and need reasons; every mistake is named."""
        with pytest.raises(ConfigurationError) as info:
            RouteTable(exempt={"GETT /x": "why", "GET /y": "", "nope": "why"})
        paths = {p.path for p in info.value.problems}
        assert paths == {"exempt GETT /x", "exempt GET /y", "exempt nope"}
        table = RouteTable(exempt=["GET /health"])
        assert table.exemption("GET", "/health") == "listed as exempt in the route table"
        assert table.exemption("POST", "/health") is None

    def test_check_strict(self, caplog: pytest.LogCaptureFixture) -> None:
        """Unprotected routes are refused, named, or logged when strict mode is off."""
        routes = [
            RouteInfo(("GET",), "/a", "a", ("dm.send",)),
            RouteInfo(("GET",), "/b", "b", (), "public"),
            RouteInfo(("POST",), "/c", "c"),
        ]
        with pytest.raises(ConfigurationError) as info:
            check_strict(routes, strict=True, where="test")
        assert [p.path for p in info.value.problems] == ["POST /c"]
        check_strict(routes, strict=False, where="test")
        assert "POST /c" in caplog.text
        assert [r.protection for r in routes] == ["dm.send", "exempt: public", "UNPROTECTED"]


class TestRendererStatus:
    def test_renderer_2xx_becomes_403(self) -> None:
        """The WSGI middleware sends a renderer's 200 as 403 (a denial never succeeds)."""

        def cheerful(decision: Any, request: Any) -> DenialResponse:
            return DenialResponse(200, (("content-type", "text/plain"),), b"all good!")

        app = ChildsafeMiddleware(
            _app,
            guard=Guard(),
            resolvers=[bearer_token(ACCOUNTS.get)],
            repository=Strangers(),
            routes=RouteTable(
                {"POST /dm/{user_id}": action_rule("dm.send", target=path_param("user_id"))}
            ),
            renderer=cheerful,
        )
        with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://t") as http:
            response = http.post("/dm/teen", headers={"Authorization": "Bearer adult"})
        assert (response.status_code, response.text) == (403, "all good!")


class TestResolverChainContext:
    """``ResolverChain.context``: the one place every adapter builds its request's
    context, its usual answer taken at once and everything else failing closed."""

    @staticmethod
    def _request(who: str = "teen", request_id: str | None = None) -> Any:
        class Plain:
            def header(self, name: str) -> str | None:
                if name == "authorization":
                    return f"Bearer {who}"
                return request_id if name == "x-request-id" else None

        return Plain()

    @staticmethod
    def _by_token(request: Any) -> Account | None:
        value = request.header("authorization") or ""
        return ACCOUNTS.get(value.removeprefix("Bearer "))

    def test_the_first_resolvers_account_is_the_requests(self) -> None:
        """The usual answer: the account, named after its resolver, the adapter's name,
        no decisions yet, and no request id while the guard records no events."""
        guard = Guard()
        repository = Strangers()
        chain = ResolverChain([self._by_token], adapter="test")
        context = chain.context(guard, self._request("kid"), repository)
        assert context.account is ACCOUNTS["kid"]
        assert (context.resolution.source, context.resolution.error) == ("_by_token", None)
        assert (context.guard, context.repository, context.adapter) == (guard, repository, "test")
        assert (context.decisions, context.request_id) == ([], None)
        assert context.settings == guard.settings_for(ACCOUNTS["kid"])

    def test_an_observed_guard_gets_the_requests_id_on_its_events(self) -> None:
        """With event sinks, the context carries the request's id, and its decisions'
        events carry it and the adapter's name."""
        guard = Guard()
        events: list[Any] = []
        guard.add_sink(events.append)
        request = self._request("adult", request_id="req-42")
        context = ResolverChain([self._by_token], adapter="test").context(
            guard, request, Strangers()
        )
        assert context.request_id == "req-42"
        assert not context.check("dm.send", "teen").allowed
        guard.flush_events()
        assert [(e.request_id, e.adapter) for e in events] == [("req-42", "test")]

    def test_failures_fail_closed(self) -> None:
        """A resolver that raises, answers something else, or (on a sync chain) answers
        with an awaitable gives the protective unknown-age account, recorded as an
        error; no resolvers, or none finding an account, gives it as anonymous."""

        def raises(request: Any) -> Account | None:
            raise RuntimeError("down")

        async def later(request: Any) -> Account | None:
            return ACCOUNTS["adult"]

        for resolvers, source in (
            ([raises, self._by_token], "error"),
            ([lambda _r: "adult"], "error"),
            ([later], "error"),
            ([], "anonymous"),
            ([lambda _r: None], "anonymous"),
        ):
            chain = ResolverChain(resolvers)  # type: ignore[arg-type]
            context = chain.context(Guard(), self._request("adult"), None)
            assert context.account.band.value == "unknown", resolvers
            assert context.resolution.source == source, resolvers

    def test_the_rest_of_the_chain_runs_after_none(self) -> None:
        chain = ResolverChain([lambda _r: None, self._by_token])
        context = chain.context(Guard(), self._request("teen"), None)
        assert context.account is ACCOUNTS["teen"]
        assert context.resolution.source == "_by_token"

    def test_an_asynchronous_chain_awaits_a_later_resolver(self) -> None:
        """``asynchronous=True`` (the ASGI middleware's chain): the context at once while
        every resolver answers at once, else a coroutine giving it."""
        import asyncio  # noqa: PLC0415

        async def later(request: Any) -> Account | None:
            return ACCOUNTS["adult"]

        chain = ResolverChain([lambda _r: None, later], asynchronous=True)
        pending = chain.context_eager(Guard(), self._request(), None)
        assert asyncio.iscoroutine(pending)
        context = asyncio.run(pending)
        assert (context.account, context.resolution.source) == (ACCOUNTS["adult"], "later")
        at_once = ResolverChain([self._by_token], asynchronous=True).context_eager(
            Guard(), self._request("teen"), None
        )
        assert not asyncio.iscoroutine(at_once)
        assert isinstance(at_once, RequestContext)
        assert at_once.account is ACCOUNTS["teen"]


class TestResolverChainAfter:
    """``ResolverChain.context_after``: the context once an adapter called the first
    resolver itself, the same as :meth:`ResolverChain.context` would have built."""

    @staticmethod
    def _request() -> Any:
        return object()

    def test_first_is_the_first_resolver(self) -> None:
        """``first`` is the first resolver as the chain calls it; ``None`` without any."""

        def mine(request: Any) -> Account | None:
            del request
            return ACCOUNTS["teen"]

        assert ResolverChain([mine]).first is mine
        assert ResolverChain([]).first is None

    def test_an_account_is_taken_at_once(self) -> None:
        """An account from the first resolver is the request's, named after it."""

        def mine(request: Any) -> Account | None:
            del request
            return ACCOUNTS["adult"]

        chain = ResolverChain([mine], adapter="test")
        context = chain.context_after(Guard(), self._request(), None, ACCOUNTS["teen"])
        assert context.account is ACCOUNTS["teen"]
        assert (context.resolution.source, context.resolution.error) == ("mine", None)
        assert context.adapter == "test"

    def test_none_runs_the_rest_of_the_chain(self) -> None:
        """``None`` from the first resolver moves on to the next one, as ``context`` does."""
        calls: list[str] = []

        def second(request: Any) -> Account | None:
            del request
            calls.append("second")
            return ACCOUNTS["kid"]

        chain = ResolverChain([lambda _: None, second])
        context = chain.context_after(Guard(), self._request(), None, None)
        assert context.account is ACCOUNTS["kid"]
        assert context.resolution.source == "second"
        assert calls == ["second"]

    def test_an_error_fails_closed(self) -> None:
        """An error the first resolver raised gives the protective anonymous account,
        recorded as an error, and the rest of the chain never runs."""

        def second(request: Any) -> Account | None:
            raise AssertionError("never called")  # pragma: no cover

        def first(request: Any) -> Account | None:
            raise RuntimeError("down")  # pragma: no cover

        chain = ResolverChain([first, second])
        context = chain.context_after(Guard(), self._request(), None, None, RuntimeError("down"))
        assert context.account.band.value == "unknown"
        assert context.resolution.source == "error"
        assert context.resolution.error == "resolver first raised RuntimeError: down"

    def test_something_else_fails_closed(self) -> None:
        """A first resolver's answer that is not an account fails closed too."""
        chain = ResolverChain([lambda _: "teen"])  # type: ignore[list-item,return-value]
        context = chain.context_after(Guard(), self._request(), None, "teen")
        assert context.account.band.value == "unknown"
        assert context.resolution.source == "error"

    def test_no_resolvers_is_anonymous(self) -> None:
        """Without resolvers the request is anonymous, whatever ``result`` says."""
        context = ResolverChain([]).context_after(Guard(), self._request(), None, None)
        assert context.account.band.value == "unknown"
        assert context.resolution.source == "anonymous"


class TestRequestsOverAScope:
    """Every ASGI adapter's request reads the scope itself the same way (one
    ``ScopeRequest``): method (``WEBSOCKET`` for a websocket, as in route tables), the
    path below the mount point, and the client's address."""

    SCOPES = (
        (
            {"type": "http", "method": "post", "path": "/dm/teen", "client": ("10.0.0.7", 5)},
            ("POST", "/dm/teen", "10.0.0.7"),
        ),
        (
            {"type": "http", "method": "GET", "path": "/api/dm/teen", "root_path": "/api"},
            ("GET", "/dm/teen", None),
        ),
        (
            {"type": "http", "method": "GET", "path": "/apiary/x", "root_path": "/api"},
            ("GET", "/apiary/x", None),
        ),
        (
            {"type": "http", "method": "GET", "path": "/api", "root_path": "/api"},
            ("GET", "/", None),
        ),
        (
            {"type": "websocket", "path": "/chat", "client": ["::1", 9]},
            ("WEBSOCKET", "/chat", "::1"),
        ),
        ({"type": "http"}, ("GET", "/", None)),
    )

    @pytest.mark.parametrize(("scope", "expected"), SCOPES)
    def test_asgi_and_starlette_read_the_same(
        self, scope: dict[str, Any], expected: tuple[str, str, str | None]
    ) -> None:
        from childsafe.asgi import ASGIRequest  # noqa: PLC0415
        from childsafe.contrib.starlette import StarletteRequest  # noqa: PLC0415

        async def receive() -> dict[str, Any]:
            return {"type": "http.disconnect"}  # pragma: no cover

        for request in (ASGIRequest(scope), StarletteRequest.of_scope(scope, receive)):
            assert (request.method, request.path, request.client_addr) == expected, request


class TestParsingRequests:
    """The WSGI and ASGI middlewares' requests parse cookies and query strings the
    same way (one ``ParsingRequest``): a parameter or cookie repeated with different
    values is ambiguous (``None``), blank values are kept, a malformed cookie is skipped."""

    @pytest.mark.parametrize(
        ("query", "cookie", "expected"),
        [
            ("to=a&to=b", "", (None, None)),
            ("to=a&to=a", "", ("a", None)),
            ("to=&x=1", "sid=abc", ("", "abc")),
            ("", "bad; sid=abc; =x", (None, "abc")),
            ("to=%C3%A9", "sid=a; sid=b", ("\u00e9", None)),
            ("", "sid=a; sid=a", (None, "a")),
        ],
    )
    def test_wsgi_and_asgi_parse_the_same(
        self, query: str, cookie: str, expected: tuple[str | None, str | None]
    ) -> None:
        from childsafe.asgi import ASGIRequest  # noqa: PLC0415
        from childsafe.wsgi import WSGIRequest  # noqa: PLC0415

        environ = {"QUERY_STRING": query, "HTTP_COOKIE": cookie}
        scope = {
            "type": "http",
            "query_string": query.encode("latin-1"),
            "headers": [(b"cookie", cookie.encode("latin-1"))] if cookie else [],
        }
        for request in (WSGIRequest(environ), ASGIRequest(scope)):
            assert (request.query("to"), request.cookie("sid")) == expected, request
            assert request.params == {}

    def test_a_subclass_missing_a_hook_fails_when_defined(self) -> None:
        from childsafe.web.request import ParsingRequest  # noqa: PLC0415
        from childsafe.wsgi import WSGIRequest  # noqa: PLC0415

        with pytest.raises(TypeError, match="must define _query_string"):

            class CookiesOnly(ParsingRequest):
                def _cookie_header(self) -> str:  # pragma: no cover - never built
                    return ""

        with pytest.raises(TypeError, match="_cookie_header and _query_string"):

            class Neither(ParsingRequest):
                pass

        class Traced(WSGIRequest):  # inherits both hooks
            pass

        assert Traced({"QUERY_STRING": "to=a"}).query("to") == "a"
        with pytest.raises(TypeError, match="base class"):
            ParsingRequest().cookie("sid")


class _Facts:
    """An app's own lookup, whose bound method is a route's extractor."""

    def sender(self, request: object) -> str | None:  # pragma: no cover - never called
        del request
        return None

    def __call__(self, request: object) -> str | None:  # pragma: no cover - never called
        del request
        return None


def _owner_of(request: object) -> str | None:  # pragma: no cover - never called
    del request
    return None


class TestDescribedRules:
    """``childsafe routes`` is for CI review: the same app described twice reads the
    same, so a diff of the listing shows only real changes. A custom extractor was
    shown by its ``repr``, with a memory address that changed on every run."""

    @pytest.mark.parametrize(
        ("target", "shown"),
        [
            (path_param("user_id"), "path_param('user_id')"),
            (query_param("to"), "query_param('to')"),
            (_owner_of, "tests.test_kernel._owner_of"),
            (functools.partial(_owner_of), "partial(tests.test_kernel._owner_of)"),
        ],
    )
    def test_a_target_is_named(self, target: Any, shown: str) -> None:
        assert describe_rule(action_rule("dm.send", target=target)) == f"dm.send (target {shown})"

    def test_objects_are_named_without_addresses(self) -> None:
        described = [
            describe_rule(action_rule("media.view", target=extract))
            for extract in (_Facts().sender, _Facts().sender, _Facts(), _Facts())
        ]
        assert described == [
            "media.view (target _Facts.sender)",
            "media.view (target _Facts.sender)",
            "media.view (target an instance of tests.test_kernel._Facts)",
            "media.view (target an instance of tests.test_kernel._Facts)",
        ]
        assert not any("0x" in text for text in described)
