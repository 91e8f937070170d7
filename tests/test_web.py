"""The framework-agnostic request kernel (childsafe.web).

The in-memory repositories and the cast of accounts defined here are shared with
``test_wsgi`` and ``test_asgi``.
"""

from __future__ import annotations

import datetime as dt
import doctest
import gzip
import json
import re
import zlib
from collections.abc import Generator, Iterable, Mapping
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

import childsafe.web
from childsafe import (
    Account,
    ActionRule,
    Decision,
    DenialResponse,
    Guard,
    NotificationGate,
    Reason,
    Relationship,
    Request,
    RequestContext,
    Resolution,
    ResponseFilter,
    RouteTable,
    action,
    action_rule,
    bearer_token,
    json_field,
    path_param,
    problem_details,
    problem_response,
    query_param,
)
from childsafe.exceptions import ConfigurationError
from childsafe.web import (
    ANONYMOUS_ID,
    declared_rule,
    decode_json_body,
    encode_filtered,
    filter_json,
    filter_json_async,
    is_json,
    parse_cookie_header,
    render_denial,
    resolve,
    resolve_async,
    unverifiable,
    withheld_response,
)

# ------------------------------------------------------------------ shared cast

KID = Account(id="kid", band="13_15", timezone="Europe/London")
YOUNG = Account(id="young", band="under_13")
OLDER = Account(id="older", band="16_17")
STRANGER = Account(id="stranger", band="adult")
RELATIVE = Account(id="relative", band="adult")
PARENT = Account(id="parent", band="adult")
FRIENDLY = Account(id="friendly", band="adult")


class Accounts:
    """A real in-memory AccountRepository: accounts, connections and blocks in sets."""

    def __init__(self, *accounts: Account) -> None:
        self.accounts = {a.id: a for a in accounts}
        self.connections: set[frozenset[str]] = set()
        self.blocks: set[frozenset[str]] = set()
        self.loads: list[str] = []

    def connect(self, a: str, b: str) -> None:
        self.connections.add(frozenset((a, b)))

    def block(self, a: str, b: str) -> None:
        self.blocks.add(frozenset((a, b)))

    def friends_of(self, account_id: str) -> set[str]:
        return {other for pair in self.connections if account_id in pair for other in pair} - {
            account_id
        }

    def get_account(self, account_id: str) -> Account | None:
        self.loads.append(account_id)
        return self.accounts.get(account_id)

    def relationship(self, actor: Account, target: Account) -> Relationship:
        pair = frozenset((actor.id, target.id))
        return Relationship(
            connected=pair in self.connections,
            blocked=pair in self.blocks,
            mutual_connections=len(self.friends_of(actor.id) & self.friends_of(target.id)),
        )


class AsyncAccounts:
    """The same accounts behind an async AccountRepository (as an ASGI app has)."""

    def __init__(self, accounts: Accounts) -> None:
        self.inner = accounts

    async def get_account(self, account_id: str) -> Account | None:
        return self.inner.get_account(account_id)

    async def relationship(self, actor: Account, target: Account) -> Relationship:
        return self.inner.relationship(actor, target)


class DownAccounts:
    """A repository whose database is down: every call raises."""

    def get_account(self, account_id: str) -> Account | None:
        raise OSError(f"database unavailable while loading {account_id}")

    def relationship(self, actor: Account, target: Account) -> Relationship:
        raise OSError(f"database unavailable while relating {actor.id} to {target.id}")


def social() -> Accounts:
    """The cast: a 15-year-old connected to a relative and a parent, and strangers."""
    accounts = Accounts(KID, YOUNG, OLDER, STRANGER, RELATIVE, PARENT, FRIENDLY)
    accounts.connect("kid", "relative")
    accounts.connect("kid", "parent")
    accounts.connect("parent", "relative")
    return accounts


def token_resolver(accounts: Accounts) -> Any:
    """A bearer-token resolver whose tokens are simply account ids."""
    return bearer_token(accounts.get_account, cookie="session")


class Later:
    """An awaitable that is not a coroutine (as a Future is)."""

    def __init__(self, value: Account) -> None:
        self.value = value

    def __await__(self) -> Generator[None, None, Account]:
        yield None
        return self.value


class DictRequest:
    """A minimal Request over plain dicts, for the framework-free unit tests."""

    def __init__(
        self,
        *,
        method: str = "GET",
        path: str = "/",
        headers: Mapping[str, str] | None = None,
        cookies: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        body: object = None,
    ) -> None:
        self.method = method
        self.path = path
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}
        self.cookies = dict(cookies or {})
        self.queries = dict(query or {})
        self.params = dict(params or {})
        self.body = body
        self.json_reads = 0

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def cookie(self, name: str) -> str | None:
        return self.cookies.get(name)

    def query(self, name: str) -> str | None:
        return self.queries.get(name)

    def path_param(self, name: str) -> str | None:
        return self.params.get(name)

    def json(self) -> object:
        self.json_reads += 1
        return self.body


@pytest.fixture(name="accounts")
def _accounts() -> Accounts:
    return social()


def context_for(guard: Guard, viewer: Account, repository: object) -> RequestContext:
    return RequestContext(guard, Resolution(viewer, "test"), repository)  # type: ignore[arg-type]


# ------------------------------------------------------------------ extractors


class TestExtractors:
    def test_path_param(self) -> None:
        """path_param reads the named path parameter."""
        assert path_param("user_id")(DictRequest(params={"user_id": "kid"})) == "kid"
        assert path_param("user_id")(DictRequest()) is None

    def test_query_param(self) -> None:
        """query_param reads the named query parameter."""
        assert query_param("to")(DictRequest(query={"to": "kid"})) == "kid"
        assert query_param("to")(DictRequest()) is None

    @pytest.mark.parametrize(
        ("body", "expected"),
        [
            ({"to": "kid"}, "kid"),
            ({"to": 42}, "42"),
            ({"to": True}, None),
            ({"to": 1.5}, None),
            ({"to": {"id": "kid"}}, None),
            ({}, None),
            (["kid"], None),
            (None, None),
        ],
    )
    def test_json_field(self, body: object, expected: str | None) -> None:
        """json_field takes a top-level string or integer, and nothing else."""
        assert json_field("to")(DictRequest(body=body)) == expected

    def test_only_json_field_needs_the_body(self) -> None:
        """Only rules whose target is in the JSON body make adapters read the body."""
        assert action_rule("dm.send", target=json_field("to")).needs_body
        assert not action_rule("dm.send", target=path_param("to")).needs_body
        assert not action_rule("live.start").needs_body


# ----------------------------------------------------------------- declarations


class TestActionRule:
    def test_unknown_action_suggests(self) -> None:
        """An unknown action fails at declaration, suggesting the near miss."""
        with pytest.raises(ConfigurationError, match=r"did you mean 'dm\.send'"):
            action_rule("dm.sned", target=path_param("id"))

    def test_relational_action_needs_a_target(self) -> None:
        """An action about another account without a target extractor is refused."""
        with pytest.raises(ConfigurationError, match="declare where its id is"):
            action_rule("dm.send")

    @pytest.mark.parametrize(
        "name", ["live.start", "purchase", "feed.personalise", "data.share", "content.show"]
    )
    def test_own_actions_need_no_target(self, name: str) -> None:
        """Actions decided on the actor alone are declared without a target."""
        assert (
            action_rule(name, sensitivity="mild" if name == "content.show" else None).target is None
        )

    def test_target_must_be_callable(self) -> None:
        """A target that is not an extractor is refused."""
        with pytest.raises(ConfigurationError, match="must be an extractor"):
            ActionRule("dm.send", "user_id")  # type: ignore[arg-type]

    def test_content_show_needs_a_known_sensitivity(self) -> None:
        """content.show without a valid sensitivity is refused."""
        with pytest.raises(ConfigurationError, match="sensitivity= one of"):
            action_rule("content.show")
        with pytest.raises(ConfigurationError, match="got 'spicy'"):
            action_rule("content.show", sensitivity="spicy")
        assert action_rule("content.show", sensitivity="mild").sensitivity == "mild"

    def test_sensitivity_only_for_content_show(self) -> None:
        """A sensitivity on any other action is a mistake and is refused."""
        with pytest.raises(ConfigurationError, match=r"only applies to content\.show"):
            action_rule("live.start", sensitivity="mild")

    def test_every_problem_reported(self) -> None:
        """All the rule's problems are listed in one error."""
        with pytest.raises(ConfigurationError) as info:
            ActionRule("content.show", "x", "spicy")  # type: ignore[arg-type]
        assert len(info.value.problems) == 2

    def test_action_decorator_is_read_back(self) -> None:
        """@action stores the rule on the view and declared_rule returns it."""

        @action("dm.send", target=path_param("user_id"))
        def send(user_id: str) -> str:
            return user_id

        rule = declared_rule(send)
        assert rule is not None
        assert (rule.action, send("x")) == ("dm.send", "x")

    def test_undeclared_view(self) -> None:
        """A view without a declaration, or with a foreign attribute, has no rule."""

        def view() -> None: ...

        assert declared_rule(view) is None
        view.__childsafe_action__ = "dm.send"  # type: ignore[attr-defined]
        assert declared_rule(view) is None


# ------------------------------------------------------------------ route table

DM = action_rule("dm.send", target=path_param("user_id"))
VIEW = action_rule("profile.view", target=path_param("user_id"))


class TestRouteTable:
    def test_match_and_params(self) -> None:
        """A route matches its method and path and returns the parameters."""
        routes = RouteTable({"POST /users/{user_id}/messages": DM})
        assert routes.match("POST", "/users/42/messages") == (DM, {"user_id": "42"})
        assert routes.match("post", "/users/42/messages") == (DM, {"user_id": "42"})
        assert routes.match("GET", "/users/42/messages") == (None, None)
        assert routes.match("POST", "/users/42/messages/x") == (None, None)
        assert routes.match("POST", "/users//messages") == (None, None)

    def test_search_gives_the_match(self) -> None:
        """search answers the rule and the path's match (parameters read by name);
        find the same with the parameters as a dict."""
        routes = RouteTable({"POST /users/{user_id}/messages": DM})
        found = routes.search("POST", "/users/42/messages")
        assert found is not None
        rule, match = found
        assert rule is DM
        assert match["user_id"] == "42"
        assert routes.find("POST", "/users/42/messages") == (DM, {"user_id": "42"})
        assert routes.search("GET", "/users/42/messages") is None

    def test_several_methods_and_any(self) -> None:
        """Method lists, '*' (websockets included) and GET covering HEAD."""
        routes = RouteTable({"PUT, PATCH /a/{user_id}": DM, "* /b/{user_id}": VIEW})
        assert routes.match("PATCH", "/a/1")[0] is DM
        assert routes.match("GET", "/a/1")[0] is None
        assert routes.match("DELETE", "/b/1")[0] is VIEW
        assert routes.match("WEBSOCKET", "/b/1")[0] is VIEW
        head = RouteTable({"GET /c/{user_id}": VIEW})
        assert head.match("HEAD", "/c/1")[0] is VIEW
        assert head.match("POST", "/c/1")[0] is None

    def test_websocket_routes(self) -> None:
        """A WEBSOCKET route matches websockets only."""
        routes = RouteTable({"WEBSOCKET /chat/{user_id}": DM})
        assert routes.match("WEBSOCKET", "/chat/kid") == (DM, {"user_id": "kid"})
        assert routes.match("GET", "/chat/kid") == (None, None)

    def test_literal_parts_are_escaped(self) -> None:
        """Regex characters in a path are literal."""
        routes = RouteTable({"GET /v1.0/(x)+/{user_id}$": VIEW})
        assert routes.match("GET", "/v1.0/(x)+/7$") == (VIEW, {"user_id": "7"})
        assert routes.match("GET", "/v1x0/(x)+/7$") == (None, None)
        assert routes.match("GET", "/v1.0/xx/7$") == (None, None)

    def test_trailing_slash_is_optional(self) -> None:
        """'/users/42/' is checked like '/users/42', and a template's slash is optional."""
        routes = RouteTable({"GET /users/{user_id}": VIEW, "POST /dm/{user_id}/": DM})
        assert routes.match("GET", "/users/42/") == (VIEW, {"user_id": "42"})
        assert routes.match("POST", "/dm/42") == (DM, {"user_id": "42"})
        root = RouteTable({"GET /": action_rule("live.start")})
        assert root.match("GET", "/")[0] is not None
        assert root.match("GET", "/x")[0] is None

    def test_converters(self) -> None:
        """{name:int} matches digits only; {name:path} spans slashes."""
        routes = RouteTable({"GET /n/{user_id:int}": VIEW, "GET /p/{user_id:path}": DM})
        assert routes.match("GET", "/n/12") == (VIEW, {"user_id": "12"})
        assert routes.match("GET", "/n/x") == (None, None)
        assert routes.match("GET", "/p/a/b") == (DM, {"user_id": "a/b"})

    def test_first_match_wins(self) -> None:
        """Entries are tried in order."""
        routes = RouteTable(
            {"GET /users/me": action_rule("live.start"), "GET /users/{user_id}": VIEW}
        )
        assert routes.match("GET", "/users/me")[0] == action_rule("live.start")
        assert routes.match("GET", "/users/42")[0] is VIEW
        assert len(routes) == 2
        assert list(routes) == [action_rule("live.start"), VIEW]

    def test_newline_does_not_sneak_past_the_end(self) -> None:
        """A path with a trailing newline is not the literal path (full match only)."""
        routes = RouteTable({"GET /admin": action_rule("live.start")})
        assert routes.match("GET", "/admin\n") == (None, None)

    @pytest.mark.parametrize(
        ("key", "message"),
        [
            ("/users/{id}", "no method given"),
            ("POST users/{id}", "a method, a space, a path"),
            ("PSOT /users/{id}", "did you mean 'POST'"),
            ("GET /users/{1id}", "must be an identifier"),
            ("GET /users/{id}/{id}", "appears twice"),
            ("GET /users/{id:uuid}", "unknown converter 'uuid'"),
            ("GET /users/{id", "unbalanced"),
            ("GET /users/id}", "unbalanced"),
        ],
    )
    def test_bad_keys(self, key: str, message: str) -> None:
        """Each kind of mistake in a key is reported with what is wrong."""
        with pytest.raises(ConfigurationError, match=re.escape(message)):
            RouteTable({key: DM})

    def test_bad_values_and_every_problem_at_once(self) -> None:
        """Non-rules and non-string keys are reported, all problems in one error."""
        routes: Any = {1: DM, "GET /a": "dm.send", "GET /b/{x": DM}
        with pytest.raises(ConfigurationError) as info:
            RouteTable(routes)
        text = str(info.value)
        assert "3 problems" in text
        assert "a key must be 'METHOD /path'" in text
        assert "expected action_rule(...)" in text

    def test_path_param_target_must_be_in_the_path(self) -> None:
        """A ``path_param`` target naming no parameter of its entry's path (a typo:
        every request would be unverifiable) is reported with the path's parameters."""
        with pytest.raises(ConfigurationError) as info:
            RouteTable({"POST /users/{id}/messages": DM, "GET /feed": VIEW})
        names = "target path_param('user_id') names no parameter of the path"
        why = "so no request would have a target"
        assert str(info.value).splitlines()[1:] == [
            f"  - <routes>: POST /users/{{id}}/messages: {names} (its parameters: id), {why}",
            f"  - <routes>: GET /feed: {names} (its parameters: none), {why}",
        ]

    @pytest.mark.parametrize("routes", [[("POST /users/{user_id}", DM)], "POST /x", DM])
    def test_routes_that_are_no_mapping(self, routes: object) -> None:
        """Entries given as a list, a string or a rule are a ConfigurationError saying a
        mapping is expected (not an AttributeError)."""
        with pytest.raises(ConfigurationError, match="expected a mapping of 'METHOD /path'"):
            RouteTable(routes)  # type: ignore[arg-type]

    def test_exempt_none_is_no_exemption(self) -> None:
        """``exempt=None`` is as if no exemption were given."""
        none: Any = None
        assert RouteTable({"POST /users/{user_id}": DM}, exempt=none).exemption("GET", "/") is None

    def test_empty(self) -> None:
        """An empty table matches nothing."""
        assert RouteTable().match("GET", "/") == (None, None)
        assert len(RouteTable(None)) == 0


_LITERAL = st.text(alphabet=st.sampled_from("abcXYZ019.-_~+*?()[]$^|\\%é"), min_size=1, max_size=6)
_VALUE = st.text(
    alphabet=st.characters(exclude_characters="/", exclude_categories=["Cs"]),
    min_size=1,
    max_size=6,
)


@st.composite
def templates(draw: st.DrawFn) -> tuple[str, str, dict[str, str], list[int]]:
    """A route template, a path it must match, the parameters, and its literal segments."""
    segments: list[str] = []
    path: list[str] = []
    params: dict[str, str] = {}
    literals: list[int] = []
    for i in range(draw(st.integers(1, 5))):
        if draw(st.booleans()):
            name = f"p{i}"
            kind = draw(st.sampled_from(["", ":int", ":str"]))
            value = draw(st.from_regex(r"[0-9]{1,4}", fullmatch=True) if kind == ":int" else _VALUE)
            segments.append(f"{{{name}{kind}}}")
            path.append(value)
            params[name] = value
        else:
            literal = draw(_LITERAL)
            segments.append(literal)
            path.append(literal)
            literals.append(i)
    return "/" + "/".join(segments), "/" + "/".join(path), params, literals


# A rule whose target is not in the path, for tables of generated paths.
SHOW = action_rule("profile.view", target=query_param("user_id"))


class TestRouteTableProperties:
    @given(templates(), st.booleans())
    def test_generated_paths_round_trip(
        self, template: tuple[str, str, dict[str, str], list[int]], slash: bool
    ) -> None:
        """A path built from a template matches it with exactly the values put in."""
        pattern, path, params, _ = template
        routes = RouteTable({f"GET {pattern}": SHOW})
        assert routes.match("GET", path + ("/" if slash else "")) == (SHOW, params)

    @given(templates(), st.data())
    def test_changed_literals_do_not_match(
        self, template: tuple[str, str, dict[str, str], list[int]], data: st.DataObject
    ) -> None:
        """Changing a literal segment of the path makes it not match."""
        pattern, path, _, literals = template
        if not literals:
            return
        index = data.draw(st.sampled_from(literals))
        parts = path.split("/")[1:]
        parts[index] = data.draw(_LITERAL.filter(lambda s: s != parts[index]))
        routes = RouteTable({f"GET {pattern}": SHOW})
        assert routes.match("GET", "/" + "/".join(parts)) == (None, None)


# ------------------------------------------------------------------- resolving


class TestResolve:
    def test_first_account_wins(self) -> None:
        """Resolvers run in order; None passes to the next; the first account wins."""
        request = DictRequest()
        found = resolve([lambda _: None, lambda _: KID, lambda _: STRANGER], request)
        assert (found.account, found.source, found.error) == (KID, "<lambda>", None)

    def test_no_account_is_the_protective_anonymous_account(self, guard: Guard) -> None:
        """With no resolver applying, the account is the unknown-age protective one."""
        found = resolve([lambda _: None], DictRequest())
        assert found.account.id == ANONYMOUS_ID
        assert found.source == "anonymous"
        assert guard.settings_for(found.account).direct_messages == "connections"

    def test_raising_resolver_fails_closed(self, caplog: pytest.LogCaptureFixture) -> None:
        """A resolver that raises gives the protective account, logged, never the next."""

        def broken(request: Request) -> Account | None:
            raise RuntimeError("session store down")

        found = resolve([broken, lambda _: STRANGER], DictRequest())
        assert (found.account.id, found.source) == (ANONYMOUS_ID, "error")
        assert found.error == "resolver broken raised RuntimeError: session store down"
        assert "failing closed" in caplog.text

    def test_non_account_fails_closed(self) -> None:
        """A resolver returning something else (a user id) fails closed."""
        found = resolve([lambda _: "kid"], DictRequest())  # type: ignore[list-item, return-value]
        assert (found.account.id, found.source) == (ANONYMOUS_ID, "error")
        assert found.error == "resolver <lambda> returned str"

    def test_async_resolver_on_the_sync_path_fails_closed(self) -> None:
        """An async resolver under WSGI fails closed, and its coroutine is closed."""

        async def session(request: Request) -> Account | None:
            return STRANGER

        found = resolve([session], DictRequest())
        assert (found.account.id, found.source) == (ANONYMOUS_ID, "error")
        assert "needs the ASGI adapter" in str(found.error)

    @pytest.mark.anyio
    async def test_awaitables_other_than_coroutines(self) -> None:
        """An awaitable that is not a coroutine fails closed on the sync path only."""
        assert resolve([lambda _: Later(KID)], DictRequest()).source == "error"
        assert (await resolve_async([lambda _: Later(KID)], DictRequest())).account == KID

    @pytest.mark.anyio
    async def test_resolve_async(self) -> None:
        """The async path awaits async resolvers and runs sync ones."""

        async def session(request: Request) -> Account | None:
            return None

        async def token(request: Request) -> Account | None:
            return KID

        found = await resolve_async([session, lambda _: None, token], DictRequest())
        assert (found.account, found.source) == (KID, "token")
        assert (await resolve_async([], DictRequest())).source == "anonymous"
        assert (await resolve_async([session, session], DictRequest())).source == "anonymous"

    @pytest.mark.anyio
    async def test_resolve_async_fails_closed(self) -> None:
        """On the async path too, raising or returning junk fails closed."""

        async def broken(request: Request) -> Account | None:
            raise LookupError("nope")

        assert (await resolve_async([broken], DictRequest())).source == "error"
        junk = await resolve_async([lambda _: 42], DictRequest())  # type: ignore[list-item, return-value]
        assert junk.source == "error"

        async def confused(request: Request) -> object:
            return "kid"

        found = await resolve_async([confused], DictRequest())  # type: ignore[list-item]
        assert (found.source, found.error) == ("error", "resolver confused returned str")


@pytest.fixture(name="anyio_backend")
def _anyio_backend() -> str:
    return "asyncio"


class TestBearerToken:
    def test_header(self, accounts: Accounts) -> None:
        """'Authorization: Bearer <token>' is verified; the scheme is case-insensitive."""
        resolver = bearer_token(accounts.get_account)
        assert resolver(DictRequest(headers={"Authorization": "Bearer kid"})) == KID
        assert resolver(DictRequest(headers={"Authorization": "bearer   kid  "})) == KID

    def test_other_schemes_and_empty_tokens_are_ignored(self, accounts: Accounts) -> None:
        """Basic credentials and an empty bearer token find no account."""
        resolver = bearer_token(accounts.get_account)
        assert resolver(DictRequest(headers={"Authorization": "Basic a2lkOnB3"})) is None
        assert resolver(DictRequest(headers={"Authorization": "Bearer "})) is None
        assert resolver(DictRequest()) is None

    def test_cookie_fallback(self, accounts: Accounts) -> None:
        """The cookie is read when the header has no bearer token."""
        resolver = bearer_token(accounts.get_account, cookie="session")
        assert resolver(DictRequest(cookies={"session": "parent"})) == PARENT
        both = DictRequest(headers={"Authorization": "Bearer kid"}, cookies={"session": "parent"})
        assert resolver(both) == KID
        blank = DictRequest(headers={"Authorization": "Bearer   "}, cookies={"session": "parent"})
        assert resolver(blank) == PARENT
        assert resolver(DictRequest(cookies={"session": ""})) is None

    def test_cookie_only(self, accounts: Accounts) -> None:
        """With header=None only the cookie counts."""
        resolver = bearer_token(accounts.get_account, header=None, cookie="session")
        assert resolver(DictRequest(headers={"Authorization": "Bearer kid"})) is None

    def test_unknown_or_failing_token_fails_closed(self) -> None:
        """A verify that rejects gives no account; one that raises fails closed."""

        def verify(token: str) -> Account | None:
            if "forged" in token:
                raise ValueError("bad signature")
            return None

        resolver = bearer_token(verify)
        assert resolve([resolver], DictRequest(headers={"authorization": "Bearer x"})).source == (
            "anonymous"
        )
        found = resolve([resolver], DictRequest(headers={"authorization": "Bearer forged"}))
        assert (found.source, found.error) == (
            "error",
            "resolver bearer_token raised ValueError: bad signature",
        )


class TestParseCookieHeader:
    def test_lenient(self) -> None:
        """A malformed cookie does not hide the others; quotes are removed."""
        header = 'bad"cookie; session=kid; junk; =x; theme="dark"; lang=en; lang=en'
        assert parse_cookie_header(header) == {"session": "kid", "theme": "dark", "lang": "en"}
        assert parse_cookie_header("") == {}

    @pytest.mark.parametrize(
        "header", ["session=kid; session=adult", "session=kid; session=adult; session=kid"]
    )
    def test_cookie_given_twice_with_different_values_is_ambiguous(self, header: str) -> None:
        """Frameworks disagree on which of two values wins, so neither is read."""
        assert parse_cookie_header(header + "; theme=dark") == {"session": None, "theme": "dark"}


# --------------------------------------------------------------------- denials


class TestProblemDetails:
    def test_stranger_dm_to_a_child(self, guard: Guard) -> None:
        """The document names reason, action and setting, and nothing about the child."""
        decision = guard.check("dm.send", actor=STRANGER, target=KID)
        body = problem_details(decision)
        assert body == {
            "type": "https://childsafe.readthedocs.io/en/latest/decisions.html#not_connected",
            "title": "Not allowed by child-safety settings",
            "status": 403,
            "detail": "Only the account's connections can do this.",
            "reason": "not_connected",
            "action": "dm.send",
            "setting": "direct_messages",
        }
        text = json.dumps(body)
        assert "kid" not in text
        assert "13_15" not in text
        assert decision.remedy is not None
        assert decision.remedy not in text

    def test_what_would_help_in_the_requesters_words(self, guard: Guard) -> None:
        """A denial about the requester's own settings says what would help in their
        words and language, never with the engine's remedy: English for developers,
        naming the setting, its value and the band by their codes."""
        decision = guard.check("purchase", actor=KID)
        body = problem_details(decision)
        assert body["next_step"]
        assert "remedy" not in body
        teen = Account(id="teen", band="13_15", jurisdiction="FR")
        decision = guard.check("feed.personalise", actor=teen)
        assert decision.subject == "actor"
        assert decision.remedy is not None
        assert "13_15" in decision.remedy  # what the document used to carry
        body = problem_details(decision, locale="fr")
        text = json.dumps({k: v for k, v in body.items() if k not in ("reason", "setting")})
        assert "remedy" not in body
        assert "13_15" not in text
        assert "feed_personalisation" not in text
        assert "parent" in body["next_step"]

    @pytest.mark.parametrize(
        ("decision", "title"),
        [
            (unverifiable("dm.send"), "Could not be checked"),
            (
                Decision(allowed=False, action="dm.send", reason=Reason.BLOCKED, message="x"),
                "Blocked",
            ),
        ],
    )
    def test_titles(self, decision: Decision, title: str) -> None:
        """Blocks and unverifiable checks have their own titles and no setting."""
        body = problem_details(decision)
        assert body["title"] == title
        assert "setting" not in body

    def test_problem_response(self, guard: Guard) -> None:
        """The default denial is 403 problem+json, uncacheable, with a correct length."""
        response = problem_response(guard.check("dm.send", actor=STRANGER, target=KID))
        headers = dict(response.headers)
        assert response.status == 403
        assert headers["content-type"] == "application/problem+json"
        assert headers["cache-control"] == "no-store"
        assert int(headers["content-length"]) == len(response.body)
        assert json.loads(response.body)["reason"] == "not_connected"

    def test_withheld_response(self) -> None:
        """The withheld response is a 500 problem+json that says nothing about anyone."""
        response = withheld_response()
        assert response.status == 500
        assert json.loads(response.body)["title"] == "Response withheld"
        assert dict(response.headers)["content-length"] == str(len(response.body))


def html_denial(decision: Decision, request: Request) -> DenialResponse:
    """An app's own denial page, for browsers."""
    page = f"<h1>Not allowed</h1><p>{decision.reason.value}</p>".encode()
    return DenialResponse(403, (("content-type", "text/html"),), page)


class TestRenderDenial:
    def test_custom_renderer(self) -> None:
        """The app's renderer is used when it returns a proper response."""
        response = render_denial(html_denial, unverifiable("dm.send"), DictRequest())
        assert response.body == b"<h1>Not allowed</h1><p>unverifiable</p>"

    @pytest.mark.parametrize(
        "renderer",
        [
            lambda _d, _r: 1 / 0,
            lambda _d, _r: "denied",
            lambda _d, _r: DenialResponse(403, (("x-name", "é—"),), b""),
            lambda _d, _r: DenialResponse(42, (), b""),
            lambda _d, _r: DenialResponse(403, (), "text"),  # type: ignore[arg-type]
        ],
    )
    def test_broken_renderer_falls_back(
        self, renderer: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A renderer that raises or returns something unsendable gives problem+json."""
        decision = unverifiable("dm.send")
        assert render_denial(renderer, decision, DictRequest()) == problem_response(decision)
        assert "denial renderer" in caplog.text


# --------------------------------------------------------------------- context


class FailingGuard(Guard):
    """A guard whose decisions crash (an engine bug), to prove requests fail closed."""

    __slots__ = ()

    def check(self, *args: Any, **kwargs: Any) -> Decision:
        raise RuntimeError(f"engine bug deciding {args} {kwargs}")


class TestRequestContext:
    def test_settings_and_minor(self, guard: Guard) -> None:
        """settings are the account's effective settings; is_minor follows the band."""
        context = context_for(guard, KID, None)
        assert context.settings is context.settings
        assert context.settings.direct_messages == "connections"
        assert context.is_minor
        assert not context_for(guard, STRANGER, None).is_minor

    def test_check_by_id(self, guard: Guard, accounts: Accounts) -> None:
        """check loads the target and the relationship and records the decision."""
        stranger = context_for(guard, STRANGER, accounts)
        relative = context_for(guard, RELATIVE, accounts)
        assert stranger.check("dm.send", "kid").reason is Reason.NOT_CONNECTED
        assert relative.check("dm.send", "kid").allowed
        assert [d.action for d in stranger.decisions] == ["dm.send"]

    def test_check_blocked(self, guard: Guard, accounts: Accounts) -> None:
        """A block loaded from the repository denies."""
        accounts.block("relative", "kid")
        assert context_for(guard, RELATIVE, accounts).check("dm.send", "kid").reason is (
            Reason.BLOCKED
        )

    def test_check_with_an_account_and_no_repository(self, guard: Guard) -> None:
        """An account target without a repository is decided as strangers."""
        context = context_for(guard, STRANGER, None)
        assert context.check("dm.send", KID).reason is Reason.NOT_CONNECTED
        assert context.check("dm.send", STRANGER).reason is Reason.OWN_ACCOUNT

    def test_check_without_target(self, guard: Guard) -> None:
        """Actions about the actor need no target."""
        assert context_for(guard, KID, None).check("live.start").reason is Reason.SETTING_OFF

    @pytest.mark.parametrize(
        "repository",
        [None, DownAccounts(), AsyncAccounts(social()), Accounts()],
        ids=["none", "down", "async", "empty"],
    )
    def test_unloadable_target_is_unverifiable(
        self, guard: Guard, repository: object, caplog: pytest.LogCaptureFixture
    ) -> None:
        """No repository, a failing or async one, or an unknown id: denied, logged,
        whether checked directly or as a declared rule."""
        context = context_for(guard, RELATIVE, repository)
        decision = context.check("dm.send", "kid")
        declared = context.check_rule(DM, DictRequest(params={"user_id": "kid"}))
        assert (decision.allowed, decision.reason) == (False, Reason.UNVERIFIABLE)
        assert declared == decision
        assert context.decisions == [decision, declared]
        assert "failing closed" in caplog.text

    def test_decisions_in_order_and_kept(self, guard: Guard, accounts: Accounts) -> None:
        """decisions lists every decision in order, however the first was made; what
        the app appends to the list is kept, and a list it sets replaces it."""
        context = context_for(guard, RELATIVE, accounts)
        assert context.decisions == []
        first = context.check_rule(DM, DictRequest(params={"user_id": "kid"}))
        assert context.decisions == [first]
        assert context.decisions is context.decisions
        second = context.check("dm.send", "stranger")
        assert context.decisions == [first, second]
        context.decisions.append(first)
        assert context.decisions == [first, second, first]
        context.decisions = []
        third = context.check_rule(DM, DictRequest(params={"user_id": "kid"}))
        assert context.decisions == [third]

    @pytest.mark.parametrize(
        ("params", "request_params"),
        [
            ({"user_id": "kid"}, {"user_id": "stranger"}),
            (re.fullmatch(r"/users/(?P<user_id>[^/]+)", "/users/kid"), {}),
            ({}, {"user_id": "kid"}),
            (re.fullmatch(r"/users/(?P<other>[^/]+)", "/users/x"), {"user_id": "kid"}),
        ],
        ids=["mapping", "match", "missing-falls-back", "match-without-it-falls-back"],
    )
    def test_check_rule_reads_the_routing_params_first(
        self,
        guard: Guard,
        accounts: Accounts,
        params: Mapping[str, str] | re.Match[str],
        request_params: dict[str, str],
    ) -> None:
        """The path parameters the adapter's routing found are where a path_param
        target is read; a name they lack is read from the request."""
        context = context_for(guard, RELATIVE, accounts)
        decision = context.check_rule(DM, DictRequest(params=request_params), params)
        assert decision.allowed  # the relative may message the kid, not the stranger
        assert accounts.loads == ["kid"]

    def test_check_rule_routing_params_that_are_not_text(
        self, guard: Guard, accounts: Accounts
    ) -> None:
        """A routing value that is not text (a converter's int or UUID) is read as its
        text, as path_param reads it; an empty or absent one finds no target."""
        accounts.accounts["42"] = Account(id="42", band="13_15")

        class Id:
            def __str__(self) -> str:
                return "kid"

        context = context_for(guard, RELATIVE, accounts)
        assert context.check_rule(DM, DictRequest(), {"user_id": Id()}).allowed  # type: ignore[dict-item]
        assert context.check_rule(DM, DictRequest(), {"user_id": 42}).reason is (  # type: ignore[dict-item]
            Reason.NOT_CONNECTED
        )
        assert accounts.loads == ["kid", "42"]
        for empty in ({"user_id": ""}, {"user_id": None}):
            decision = context.check_rule(DM, DictRequest(), empty)  # type: ignore[arg-type]
            assert decision.reason is Reason.UNVERIFIABLE

    def test_async_relationship_on_sync_path(self, guard: Guard) -> None:
        """A repository whose relationship is async cannot be used by check."""

        class HalfAsync(Accounts):
            async def relationship(  # type: ignore[override]
                self, actor: Account, target: Account
            ) -> Relationship:
                return Relationship(connected=actor != target)

        repo = HalfAsync(KID, RELATIVE)
        assert context_for(guard, RELATIVE, repo).check("dm.send", "kid").reason is (
            Reason.UNVERIFIABLE
        )

    def test_wrong_types_from_the_repository(self, guard: Guard) -> None:
        """A repository returning the wrong types fails closed."""

        class Wrong(Accounts):
            def get_account(self, account_id: str) -> Any:
                return {"id": account_id}

        class WrongRelationship(Accounts):
            def relationship(self, actor: Account, target: Account) -> Any:
                return f"{actor.id} is connected to {target.id}"

        request = DictRequest(params={"user_id": "kid"})
        for repo in (Wrong(KID), WrongRelationship(KID, RELATIVE)):
            context = context_for(guard, RELATIVE, repo)
            assert context.check("dm.send", "kid").reason is Reason.UNVERIFIABLE
            assert context.check_rule(DM, request).reason is Reason.UNVERIFIABLE

    @pytest.mark.anyio
    async def test_wrong_types_on_the_async_paths(self, guard: Guard) -> None:
        """On the async paths too, a repository returning the wrong types fails closed."""

        class Wrong(Accounts):
            def get_account(self, account_id: str) -> Any:
                return {"id": account_id}

        class WrongRelationship(Accounts):
            def relationship(self, actor: Account, target: Account) -> Any:
                return f"{actor.id} is connected to {target.id}"

        class WrongAsyncRelationship(Accounts):
            async def relationship(self, actor: Account, target: Account) -> Any:  # type: ignore[override]
                return f"{actor.id} is connected to {target.id}"

        request = DictRequest(params={"user_id": "kid"})
        for repo in (Wrong(KID), WrongRelationship(KID, RELATIVE), WrongAsyncRelationship(KID)):
            context = context_for(guard, RELATIVE, repo)
            assert (await context.check_async("dm.send", "kid")).reason is Reason.UNVERIFIABLE
            assert (await context.check_rule_async(DM, request)).reason is Reason.UNVERIFIABLE
        context = context_for(guard, RELATIVE, Accounts(KID))
        assert (await context.check_async("dm.send", "ghost")).reason is Reason.UNVERIFIABLE
        assert context.resolution == Resolution(RELATIVE, "test")

    def test_relationship_none_means_strangers(self, guard: Guard) -> None:
        """A repository that knows no relationship (None) is read as strangers."""

        class NoRelationship(Accounts):
            def relationship(self, actor: Account, target: Account) -> Any:
                del actor, target
                return None

        decision = context_for(guard, RELATIVE, NoRelationship(KID)).check("dm.send", "kid")
        assert decision.reason is Reason.NOT_CONNECTED

    def test_check_rule(self, guard: Guard, accounts: Accounts) -> None:
        """A declared rule takes its target from the request."""
        request = DictRequest(params={"user_id": "kid"})
        assert not context_for(guard, STRANGER, accounts).check_rule(DM, request)
        assert context_for(guard, PARENT, accounts).check_rule(DM, request)

    @pytest.mark.parametrize(
        "request_",
        [DictRequest(), DictRequest(params={"user_id": ""})],
        ids=["missing", "empty"],
    )
    def test_check_rule_without_target_is_unverifiable(
        self, guard: Guard, accounts: Accounts, request_: DictRequest
    ) -> None:
        """No target id in the request: denied as unverifiable."""
        decision = context_for(guard, PARENT, accounts).check_rule(DM, request_)
        assert decision.reason is Reason.UNVERIFIABLE

    def test_extractor_raising_or_returning_an_int(self, guard: Guard, accounts: Accounts) -> None:
        """An extractor that raises finds nothing; an integer id is used as a string."""

        def broken(request: Request) -> str | None:
            raise KeyError("user_id")

        def numeric(request: Request) -> Any:
            return 7

        accounts.accounts["7"] = Account(id="7", band="adult")
        context = context_for(guard, STRANGER, accounts)
        assert context.check_rule(action_rule("dm.send", target=broken), DictRequest()).reason is (
            Reason.UNVERIFIABLE
        )
        assert context.check_rule(action_rule("dm.send", target=numeric), DictRequest())

    def test_notify_and_content_rules(self, guard: Guard, accounts: Accounts) -> None:
        """notify rules are checked now; content.show rules with their sensitivity."""
        context = context_for(guard, STRANGER, accounts)
        notify = context.check_rule(
            action_rule("notify", target=path_param("user_id")),
            DictRequest(params={"user_id": "stranger"}),
        )
        assert notify.allowed
        kid = context_for(guard, KID, accounts)
        shown = kid.check_rule(action_rule("content.show", sensitivity="strong"), DictRequest())
        assert shown.reason is Reason.CONTENT_TOO_SENSITIVE

    def test_engine_failure_is_unverifiable(self, accounts: Accounts) -> None:
        """If deciding itself fails, a declared check is denied, not a crash."""
        context = context_for(FailingGuard(), STRANGER, accounts)
        request = DictRequest(params={"user_id": "kid"})
        assert context.check_rule(DM, request).reason is Reason.UNVERIFIABLE
        assert context.decide_many({("location.view", "kid")}) == {("location.view", "kid"): False}

    @pytest.mark.anyio
    async def test_async_paths(self, guard: Guard, accounts: Accounts) -> None:
        """check_async and check_rule_async work with async and sync repositories."""
        for repo in (AsyncAccounts(accounts), accounts):
            stranger = context_for(guard, STRANGER, repo)
            parent = context_for(guard, PARENT, repo)
            assert (await stranger.check_async("dm.send", "kid")).reason is Reason.NOT_CONNECTED
            assert await parent.check_async("dm.send", KID)
            assert not await stranger.check_rule_async(DM, DictRequest(params={"user_id": "kid"}))
            assert await parent.check_rule_async(DM, DictRequest(params={"user_id": "kid"}))
        context = context_for(guard, STRANGER, None)
        assert (await context.check_async("live.start")).allowed
        assert (await context.check_async("dm.send", KID)).reason is Reason.NOT_CONNECTED

    @pytest.mark.anyio
    async def test_half_async_repositories(self, guard: Guard, accounts: Accounts) -> None:
        """A repository async for accounts only, or for relationships only, decides
        declared rules on the async path like a sync one; the sync path refuses both."""
        inner = AsyncAccounts(accounts)

        class AsyncAccountsOnly:
            get_account = inner.get_account
            relationship = accounts.relationship

        class AsyncRelationshipsOnly:
            get_account = accounts.get_account
            relationship = inner.relationship

        request = DictRequest(params={"user_id": "kid"})
        for repo in (AsyncAccountsOnly(), AsyncRelationshipsOnly()):
            stranger = context_for(guard, STRANGER, repo)
            parent = context_for(guard, PARENT, repo)
            assert (await stranger.check_rule_async(DM, request)).reason is Reason.NOT_CONNECTED
            assert (await parent.check_rule_async(DM, request)).allowed
            assert parent.check_rule(DM, request).reason is Reason.UNVERIFIABLE
            assert [d.allowed for d in parent.decisions] == [True, False]

    @pytest.mark.anyio
    async def test_check_rule_eager(self, guard: Guard, accounts: Accounts) -> None:
        """check_rule_eager answers at once for a sync repository and gives an awaitable
        of the same decision for an async one."""
        request = DictRequest(params={"user_id": "kid"})
        at_once = context_for(guard, PARENT, accounts).check_rule_eager(DM, request)
        later = context_for(guard, PARENT, AsyncAccounts(accounts)).check_rule_eager(DM, request)
        assert isinstance(at_once, Decision)
        assert not isinstance(later, Decision)
        assert await later == at_once

    @pytest.mark.anyio
    async def test_async_fail_closed(self, guard: Guard, accounts: Accounts) -> None:
        """The async paths fail closed the same way."""
        for repo in (None, DownAccounts(), AsyncAccounts(Accounts())):
            context = context_for(guard, PARENT, repo)
            assert (await context.check_async("dm.send", "kid")).reason is Reason.UNVERIFIABLE
        context = context_for(guard, PARENT, accounts)
        assert (await context.check_rule_async(DM, DictRequest())).reason is Reason.UNVERIFIABLE
        notify = await context.check_rule_async(
            action_rule("notify", target=path_param("user_id")),
            DictRequest(params={"user_id": "parent"}),
        )
        assert notify.allowed
        failing = context_for(FailingGuard(), PARENT, accounts)
        request = DictRequest(params={"user_id": "kid"})
        assert (await failing.check_rule_async(DM, request)).reason is Reason.UNVERIFIABLE

    def test_decide_many_loads_each_account_once(self, guard: Guard, accounts: Accounts) -> None:
        """Many decisions about one account load it once; unknown ids are denied."""
        context = context_for(guard, STRANGER, accounts)
        pairs = {
            ("location.view", "kid"),
            ("friend.suggest", "kid"),
            ("location.view", "friendly"),
            ("friend.suggest", "ghost"),
        }
        assert context.decide_many(pairs) == {
            ("location.view", "kid"): False,
            ("friend.suggest", "kid"): False,
            ("location.view", "friendly"): True,
            ("friend.suggest", "ghost"): False,
        }
        assert sorted(accounts.loads) == ["friendly", "ghost", "kid"]

    @pytest.mark.anyio
    async def test_decide_many_async(self, guard: Guard, accounts: Accounts) -> None:
        """The async variant gives the same answers."""
        context = context_for(guard, STRANGER, AsyncAccounts(accounts))
        assert await context.decide_many_async({("friend.suggest", "kid"), ("x", "ghost")}) == {
            ("friend.suggest", "kid"): False,
            ("x", "ghost"): False,
        }
        failing = context_for(FailingGuard(), STRANGER, AsyncAccounts(accounts))
        assert await failing.decide_many_async({("location.view", "kid")}) == {
            ("location.view", "kid"): False
        }


# ------------------------------------------------------------ response filters


def deny(*pairs: tuple[str, str]) -> Any:
    denied = set(pairs)
    return lambda action_name, who: (action_name, who) not in denied


class TestResponseFilter:
    def test_location_removed_from_denied_accounts(self) -> None:
        """Location fields go from accounts the viewer may not locate; others stay."""
        body = {
            "id": "kid",
            "name": "Kid",
            "location": "Leeds",
            "lat": 53.8,
            "lng": -1.5,
            "friend": {"id": "adult", "location": "York"},
        }
        out = ResponseFilter().apply(body, deny(("location.view", "kid")))
        assert out == {"id": "kid", "name": "Kid", "friend": {"id": "adult", "location": "York"}}
        assert body["location"] == "Leeds"  # the input is not changed

    def test_nested_objects_belong_to_their_account(self) -> None:
        """Id-less objects inside an account (a check-in) lose its location too."""
        body = {"id": 7, "checkins": [{"geo": {"x": 1}, "at": "noon"}], "profile": {"lat": 1}}
        out = ResponseFilter().apply(body, deny(("location.view", "7")))
        assert out == {"id": 7, "checkins": [{"at": "noon"}], "profile": {}}

    def test_location_without_any_account_is_left(self) -> None:
        """A location in JSON that is about no account (an event) is not touched."""
        body = {"event": {"title": "Fair", "location": "Park"}}
        assert ResponseFilter().needed(body) == set()
        assert ResponseFilter().apply(body, deny()) == body

    def test_suggestions(self) -> None:
        """Suggestion lists drop denied accounts, whether objects or bare ids."""
        body = {
            "suggestions": [{"id": "kid"}, {"id": "adult"}, "kid2", "adult2", 3, 4],
            "suggested": [{"name": "no id"}, None, [1], True],
        }
        out = ResponseFilter().apply(
            body,
            deny(("friend.suggest", "kid"), ("friend.suggest", "kid2"), ("friend.suggest", "3")),
        )
        assert out == {"suggestions": [{"id": "adult"}, "adult2", 4], "suggested": []}

    def test_connections(self) -> None:
        """Connection lists drop accounts that hide from lists others see."""
        body = {"id": "adult", "friends": [{"id": "kid"}, {"id": "adult2"}], "followers": ["kid"]}
        out = ResponseFilter().apply(body, deny(("connections.listed", "kid")))
        assert out == {"id": "adult", "friends": [{"id": "adult2"}], "followers": []}

    def test_hidden_connection_list_is_emptied(self) -> None:
        """A child's own list is emptied for viewers who may not see it, whoever is on it."""
        body = {"id": "kid", "friends": [{"id": "adult"}, {"id": "adult2"}]}
        out = ResponseFilter().apply(body, deny(("connections.view", "kid")), viewer="stranger")
        assert out == {"id": "kid", "friends": []}

    def test_viewers_own_connections_are_whole(self) -> None:
        """The viewer's own connection list is not filtered; someone else's is."""
        body = {"id": "parent", "friends": ["kid"]}
        hide = deny(("connections.listed", "kid"))
        rf = ResponseFilter()
        assert rf.apply(body, hide, viewer="parent") == body
        assert rf.apply(body, hide, viewer="stranger") == {"id": "parent", "friends": []}
        assert rf.apply({"friends": ["kid"]}, hide, viewer="parent") == {"friends": []}
        assert rf.needed(body, viewer="parent") == set()

    def test_needed(self) -> None:
        """needed lists exactly the decisions apply will ask for."""
        body = {
            "id": "a",
            "location": None,
            "suggestions": ["b", {"id": "c", "lat": 1}],
            "friends": [{"id": "d"}],
        }
        assert ResponseFilter().needed(body) == {
            ("location.view", "a"),
            ("friend.suggest", "b"),
            ("friend.suggest", "c"),
            ("location.view", "c"),
            ("connections.view", "a"),
            ("connections.listed", "d"),
        }

    def test_field_names_configurable(self) -> None:
        """Field and list names are configurable; a single name is accepted."""
        rf = ResponseFilter(
            id_field="uid",
            location_fields="where",
            suggestion_lists=["people"],
            connection_lists=(),
        )
        assert rf.location_fields == ("where",)
        body = {"uid": "kid", "where": "x", "location": "y", "people": ["kid"], "friends": ["kid"]}
        out = rf.apply(body, lambda _a, _w: False)
        assert out == {"uid": "kid", "location": "y", "people": [], "friends": ["kid"]}

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"id_field": ""},
            {"id_field": 3},
            {"location_fields": ["ok", ""]},
            {"connection_lists": [1]},
        ],
    )
    def test_bad_field_names(self, kwargs: dict[str, Any]) -> None:
        """Empty or non-string field names are refused when the filter is made."""
        with pytest.raises(ConfigurationError):
            ResponseFilter(**kwargs)


ACCOUNT_IDS = ("kid", "adult", "parent", "7")
_ids = st.sampled_from(ACCOUNT_IDS) | st.sampled_from((7, 8))
_leaves = st.none() | st.booleans() | st.integers(-3, 9) | st.text(max_size=3) | _ids
_keys = st.sampled_from(
    ("id", "location", "lat", "geo", "name", "suggestions", "friends", "followers", "items", "me")
)
json_bodies = st.recursive(
    _leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_keys, children, max_size=6),
    max_leaves=40,
)
decision_pairs = st.sets(
    st.tuples(
        st.sampled_from(
            ("location.view", "friend.suggest", "connections.view", "connections.listed")
        ),
        st.sampled_from((*ACCOUNT_IDS, "8")),
    )
)


def _violations(
    node: object, key: str | None, owner: str | None, rf: ResponseFilter, allowed: Any, viewer: str
) -> list[str]:
    """Independent check of what a filtered body must never contain."""
    found: list[str] = []
    if isinstance(node, dict):
        ident = node.get(rf.id_field)
        if isinstance(ident, str | int) and not isinstance(ident, bool):
            owner = str(ident)
        if (
            owner is not None
            and any(f in node for f in rf.location_fields)
            and not allowed("location.view", owner)
        ):
            found.append(f"location of {owner}")
        for k, v in node.items():
            found += _violations(v, k, owner, rf, allowed, viewer)
    elif isinstance(node, list):
        checks = []
        if key in rf.suggestion_lists:
            checks.append("friend.suggest")
        if key in rf.connection_lists and owner != viewer:
            checks.append("connections.listed")
            if owner is not None and not allowed("connections.view", owner) and node:
                found.append(f"the hidden list {key} of {owner}")
        for item in node:
            ident = item.get(rf.id_field) if isinstance(item, dict) else item
            for check in checks:
                if not (isinstance(ident, str | int) and not isinstance(ident, bool)):
                    found.append(f"unidentified entry in {key}")
                elif not allowed(check, str(ident)):
                    found.append(f"{ident} in {key}")
            found += _violations(item, key, owner, rf, allowed, viewer)
    return found


class TestResponseFilterProperties:
    @given(json_bodies, decision_pairs, st.sampled_from(("kid", "parent", "nobody")))
    def test_filtered_bodies_hold_nothing_denied(
        self, body: object, denied: set[tuple[str, str]], viewer: str
    ) -> None:
        """No location of an unlocatable account, no denied or unknown list entry."""
        rf = ResponseFilter(suggestion_lists="suggestions", connection_lists=("friends",))
        allowed = deny(*denied)
        out = rf.apply(body, allowed, viewer=viewer)
        assert _violations(out, None, None, rf, allowed, viewer) == []
        assert rf.apply(out, allowed, viewer=viewer) == out

    @given(json_bodies, decision_pairs)
    def test_apply_only_asks_what_needed_lists(
        self, body: object, denied: set[tuple[str, str]]
    ) -> None:
        """Every decision apply asks for was announced by needed (so none is missing)."""
        rf = ResponseFilter()
        asked: set[tuple[str, str]] = set()
        allowed = deny(*denied)

        def recording(action_name: str, who: str) -> bool:
            asked.add((action_name, who))
            return bool(allowed(action_name, who))

        rf.apply(body, recording, viewer="kid")
        assert asked <= rf.needed(body, viewer="kid")


class TestFilterJson:
    def test_stranger_sees_no_child_location(self, guard: Guard, accounts: Accounts) -> None:
        """For a stranger the child's location goes and an adult's public one stays."""
        body = {"users": [{"id": "kid", "location": "Leeds"}, {"id": "friendly", "lat": 1}]}
        out = filter_json(context_for(guard, STRANGER, accounts), ResponseFilter(), body)
        assert out == {"users": [{"id": "kid"}, {"id": "friendly", "lat": 1}]}

    def test_child_sees_own_location(self, guard: Guard, accounts: Accounts) -> None:
        """The child's own location is theirs to see."""
        body = {"id": "kid", "location": "Leeds"}
        assert filter_json(context_for(guard, KID, accounts), ResponseFilter(), body) == body

    def test_children_never_suggested_to_strangers(self, guard: Guard, accounts: Accounts) -> None:
        """Children are dropped from a stranger's suggestions; adults stay."""
        body = {"suggestions": [{"id": "kid"}, {"id": "young"}, {"id": "friendly"}, "older"]}
        out = filter_json(context_for(guard, STRANGER, accounts), ResponseFilter(), body)
        assert out == {"suggestions": [{"id": "friendly"}]}

    def test_nothing_to_decide_returns_the_body(self, guard: Guard, accounts: Accounts) -> None:
        """A body with nothing to decide is returned as is, without loading anyone."""
        body = {"posts": [{"title": "hi"}]}
        assert filter_json(context_for(guard, STRANGER, accounts), ResponseFilter(), body) is body
        assert accounts.loads == []

    def test_unloadable_accounts_are_filtered(self, guard: Guard) -> None:
        """When accounts cannot be loaded, everything that needed them goes."""
        body = {"id": "friendly", "location": "x", "suggestions": ["friendly"]}
        out = filter_json(context_for(guard, STRANGER, DownAccounts()), ResponseFilter(), body)
        assert out == {"id": "friendly", "suggestions": []}

    @pytest.mark.anyio
    async def test_async(self, guard: Guard, accounts: Accounts) -> None:
        """filter_json_async gives the same result with an async repository."""
        body = {"suggestions": ["kid", "friendly"], "id": "kid", "geo": [1, 2]}
        context = context_for(guard, STRANGER, AsyncAccounts(accounts))
        assert await filter_json_async(context, ResponseFilter(), body) == {
            "suggestions": ["friendly"],
            "id": "kid",
        }
        empty: dict[str, object] = {}
        assert await filter_json_async(context, ResponseFilter(), empty) is empty


class TestIsJson:
    @pytest.mark.parametrize(
        ("content_type", "expected"),
        [
            ("application/json", True),
            ("Application/JSON; charset=utf-8", True),
            ("application/problem+json", True),
            ("application/vnd.api+json", True),
            ("text/json", False),
            ("application/x-ndjson", False),
            ("text/html", False),
            ("", False),
            (None, False),
        ],
    )
    def test_is_json(self, content_type: str | None, expected: bool) -> None:
        """JSON media types are recognised, with parameters and in any case."""
        assert is_json(content_type) is expected


class TestResponseBodies:
    BODY: ClassVar[dict[str, str]] = {"id": "kid", "location": "Leeds"}

    def test_decode_identity_and_compressed(self) -> None:
        """Plain, gzip, zlib and raw deflate bodies are read."""
        raw = json.dumps(self.BODY).encode()
        deflater = zlib.compressobj(wbits=-15)
        raw_deflate = deflater.compress(raw) + deflater.flush()
        cases: list[tuple[bytes, list[tuple[str, str]]]] = [
            (raw, []),
            (raw, [("Content-Encoding", "identity")]),
            (gzip.compress(raw), [("content-encoding", "gzip")]),
            (zlib.compress(raw), [("Content-Encoding", "deflate")]),
            (raw_deflate, [("Content-Encoding", "deflate")]),
        ]
        for body, headers in cases:
            assert decode_json_body(body, headers) == (True, self.BODY)

    @pytest.mark.parametrize(
        ("body", "headers"),
        [
            (b'{"id": "kid"', []),
            (b"\xff\xfe{", []),
            (b"[" * 100_000, []),
            (b"{}", [("content-encoding", "br")]),
            (b"{}", [("content-encoding", "gzip"), ("content-encoding", "br")]),
            (b"not gzip", [("content-encoding", "gzip")]),
        ],
    )
    def test_unreadable(
        self, body: bytes, headers: list[tuple[str, str]], caplog: pytest.LogCaptureFixture
    ) -> None:
        """Malformed JSON or an unknown coding cannot be read: it must be withheld."""
        assert decode_json_body(body, headers) == (False, None)
        assert "withholding it" in caplog.text

    def test_encode_nothing_decided(self) -> None:
        """When nothing needed a decision the bytes and headers are left alone."""
        raw = b'{"a": 1}'
        parsed = json.loads(raw)
        headers = [("Content-Length", "8"), ("ETag", '"x"')]
        assert encode_filtered(parsed, parsed, raw, headers) == (raw, headers)

    def test_encode_nothing_removed(self) -> None:
        """Decided but unchanged: same bytes, and no shared cache may keep them."""
        raw = b'{"id": "a"}'
        headers = [("Cache-Control", "public, max-age=60, s-maxage=600")]
        body, out = encode_filtered(json.loads(raw), json.loads(raw), raw, headers)
        assert body is raw
        assert out == [("Cache-Control", "max-age=60, private")]

    @pytest.mark.parametrize(
        ("cache_control", "expected"),
        [
            (None, "private"),
            ("no-store", "no-store"),
            ("private, max-age=5", "private, max-age=5"),
            ('private="set-cookie"', "private"),
        ],
    )
    def test_cache_control(self, cache_control: str | None, expected: str) -> None:
        """A per-viewer body is never left to shared caches."""
        headers = [] if cache_control is None else [("cache-control", cache_control)]
        _, out = encode_filtered({"a": 1}, {"a": 1}, b"{}", headers)
        assert dict(out)["cache-control"] == expected

    def test_encode_rewritten(self) -> None:
        """A changed body is re-encoded with a correct length and no stale validators."""
        raw = gzip.compress(json.dumps(self.BODY).encode())
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(raw))),
            ("Content-Encoding", "gzip"),
            ("ETag", '"v1"'),
            ("X-Other", "kept"),
        ]
        body, out = encode_filtered(self.BODY, {"id": "kid"}, raw, headers)
        assert json.loads(body) == {"id": "kid"}
        assert out == [
            ("Content-Type", "application/json"),
            ("X-Other", "kept"),
            ("cache-control", "private"),
            ("content-length", str(len(body))),
        ]


# ------------------------------------------------------------ notification gate

NIGHT = dt.datetime(2025, 1, 10, 22, 30, tzinfo=dt.UTC)
NOON = dt.datetime(2025, 1, 10, 12, 0, tzinfo=dt.UTC)


class TestNotificationGate:
    def test_quiet_hours(self, guard: Guard) -> None:
        """A child is not notified in quiet hours, in their time zone; adults are."""
        gate = NotificationGate(guard)
        assert gate.check(KID, at=NIGHT).reason is Reason.QUIET_HOURS
        assert gate.check(KID, at=NOON).allowed
        assert gate.check(STRANGER, at=NIGHT).allowed
        assert gate.check(STRANGER).allowed

    def test_engagement(self, guard: Guard) -> None:
        """Engagement prompts honour the child's engagement setting."""
        decision = NotificationGate(guard).check(KID, at=NOON, engagement=True)
        assert (decision.reason, decision.setting) == (Reason.SETTING_OFF, "engagement_features")
        assert NotificationGate(guard).check(KID, at=NOON, engagement=False).allowed

    def test_by_id(self, guard: Guard, accounts: Accounts) -> None:
        """Ids are loaded through the repository; unknown ones are refused."""
        gate = NotificationGate(guard, accounts)
        assert gate.check("kid", at=NIGHT).reason is Reason.QUIET_HOURS
        assert gate.check("ghost", at=NOON).reason is Reason.UNVERIFIABLE

    @pytest.mark.parametrize(
        "repository", [None, DownAccounts(), AsyncAccounts(social())], ids=["none", "down", "async"]
    )
    def test_unloadable_ids_fail_closed(self, guard: Guard, repository: Any) -> None:
        """No repository, a failing one or an async one on the sync path: refused."""
        assert NotificationGate(guard, repository).check("stranger", at=NOON).reason is (
            Reason.UNVERIFIABLE
        )

    @pytest.mark.anyio
    async def test_check_async(self, guard: Guard, accounts: Accounts) -> None:
        """check_async loads through async or sync repositories and fails closed."""
        for repo in (AsyncAccounts(accounts), accounts):
            gate = NotificationGate(guard, repo)
            assert (await gate.check_async("kid", at=NIGHT)).reason is Reason.QUIET_HOURS
            assert (await gate.check_async("stranger", at=NIGHT)).allowed
            assert (await gate.check_async(KID, at=NOON)).allowed
        for broken in (None, DownAccounts(), Accounts()):
            gate = NotificationGate(guard, broken)
            assert (await gate.check_async("kid")).reason is Reason.UNVERIFIABLE

    def test_filter(self, guard: Guard) -> None:
        """filter keeps, in order, the accounts that may be notified."""
        gate = NotificationGate(guard)
        everyone: Iterable[Account] = [STRANGER, KID, YOUNG, PARENT]
        assert gate.filter(everyone, at=NIGHT) == [STRANGER, PARENT]
        assert gate.filter(everyone, at=NOON) == [STRANGER, KID, YOUNG, PARENT]
        assert STRANGER in gate.filter(everyone)


class TestDocstrings:
    def test_examples_run(self) -> None:
        """The examples in the kernel's docstrings are correct."""
        finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner()
        for name in childsafe.web.__all__:
            for test in finder.find(getattr(childsafe.web, name), name):
                runner.run(test)
        result = runner.summarize(verbose=False)
        assert result.attempted >= 4
        assert result.failed == 0
