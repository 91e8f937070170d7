from __future__ import annotations

import doctest
import importlib.util
import json
import logging
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
import flask
import pytest
from flask import Blueprint, Flask, abort, render_template_string
from flask.testing import FlaskClient
from flask.views import MethodView

import childsafe.contrib.flask as childsafe_flask
from childsafe import (
    Account,
    AccountRepository,
    Decision,
    DenialResponse,
    Guard,
    Relationship,
    Request,
    RequestContext,
    ResponseFilter,
    RouteTable,
    action,
    action_rule,
    exempt,
    json_field,
    load_policy,
    path_param,
    query_param,
)
from childsafe.contrib.flask import (
    ChildSafe,
    FlaskRequest,
    current_context,
    current_guard,
    routes,
    session_account,
)
from childsafe.exceptions import ConfigurationError, MissingExtraError

SAM = Account(
    id="sam",
    band="13_15",
    jurisdiction="GB",
    timezone="Europe/London",
    # A parent turned location sharing on for connections (the 13-15 floor allows it).
    settings={"location_sharing": "connections_coarse"},
)
ALEX = Account(id="alex", band="16_17", jurisdiction="GB")
MAYA = Account(id="maya", band="under_13", jurisdiction="GB")
AUNT = Account(id="aunt_jo", band="adult", jurisdiction="GB")
STRANGER = Account(id="stranger", band="adult", jurisdiction="GB")
GRANDPA = Account(id="grandpa", band="adult", jurisdiction="GB")


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


class BrokenRepository:
    """A repository whose database is down."""

    def get_account(self, account_id: str) -> Account | None:
        raise OSError(f"database is down (loading {account_id})")

    def relationship(self, actor: Account, target: Account) -> Relationship:
        raise OSError(f"database is down (relating {actor.id} to {target.id})")


@attrs.define
class Harness:
    """A small social app with the extension, and what its views did."""

    app: Flask
    extension: ChildSafe
    ran: list[str]

    def client(self, account_id: str | None = None) -> FlaskClient:
        client = self.app.test_client()
        if account_id is not None:
            with client.session_transaction() as session:
                session["account_id"] = account_id
        return client


def _repository() -> MemoryRepository:
    return MemoryRepository(
        [SAM, ALEX, MAYA, AUNT, STRANGER, GRANDPA],
        [("aunt_jo", "sam"), ("aunt_jo", "alex"), ("aunt_jo", "maya"), ("grandpa", "aunt_jo")],
    )


ROUTES = RouteTable(
    {"POST /friends/{user_id}": action_rule("friend.request", target=path_param("user_id"))}
)


def build(
    repository: AccountRepository | None = None,
    *,
    config: Mapping[str, object] | None = None,
    extension: ChildSafe | None = None,
    **options: Any,
) -> Harness:
    """The app under test: DMs declared three ways, a route-table entry, JSON views."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY="test", TESTING=True)  # noqa: S106 - a test-only key
    app.config.update(config or {})
    ran: list[str] = []

    @app.post("/messages/<user_id>")
    @action("dm.send", target=path_param("user_id"))
    def send_message(user_id: str) -> tuple[dict[str, str], int]:
        ran.append(f"dm to {user_id}")
        return {"id": "m1"}, 201

    @app.post("/api/messages")
    @action("dm.send", target=json_field("to"))
    def send_message_json() -> tuple[dict[str, str], int]:
        payload = flask.request.get_json()
        ran.append(f"dm to {payload['to']}: {payload['text']}")
        return {"id": "m2"}, 201

    @app.post("/dm")
    @action("dm.send", target=query_param("to"))
    def send_message_query() -> tuple[str, int]:
        ran.append(f"dm to {flask.request.args['to']}")
        return "sent", 201

    @app.post("/friends/<user_id>")
    def friend_request(user_id: str) -> tuple[str, int]:
        ran.append(f"friend request to {user_id}")
        return "requested", 201

    @app.get("/api/users/<user_id>")
    @exempt("a read; the response filter removes what the viewer may not see")
    def profile(user_id: str) -> dict[str, object]:
        ran.append(f"profile of {user_id}")
        return {"id": user_id, "name": user_id.title(), "location": "Leeds"}

    @app.get("/api/suggestions")
    @exempt("a read; the response filter drops children from suggestions")
    def suggestions() -> dict[str, object]:
        return {"suggestions": [{"id": "sam"}, {"id": "grandpa"}, {"id": "maya"}]}

    @app.get("/api/me")
    @exempt("the requester's own account")
    def me() -> dict[str, object]:
        return {"id": "sam", "location": "Leeds"}

    @app.get("/api/raw")
    @exempt("returns no account data")
    def raw() -> flask.Response:
        return app.response_class("{not json", mimetype="application/json")

    @app.get("/page")
    @exempt("a page about the requester")
    def page() -> str:
        return render_template_string(
            "{% if childsafe.is_minor %}supervised{% else %}adult{% endif %}"
        )

    @app.get("/whoami")
    @exempt("the requester's own account")
    def whoami() -> dict[str, object]:
        context = current_context()
        return {"id": context.account.id, "source": context.resolution.source}

    @action("dm.send", target=path_param("user_id"))
    class Poke(MethodView):
        def post(self, user_id: str) -> tuple[str, int]:
            ran.append(f"poke {user_id}")
            return "poked", 201

    app.add_url_rule("/poke/<user_id>", view_func=Poke.as_view("poke"))

    options.setdefault("resolvers", [session_account()])
    options.setdefault("routes", ROUTES)
    ext = extension if extension is not None else ChildSafe(repository=repository, **options)
    ext.init_app(app)
    return Harness(app, ext, ran)


@pytest.fixture(name="repository")
def _repository_fixture() -> MemoryRepository:
    return _repository()


@pytest.fixture(name="harness")
def _harness(repository: MemoryRepository) -> Harness:
    return build(repository, response_filter=ResponseFilter())


def _problem(response: Any) -> dict[str, Any]:
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = json.loads(response.get_data())
    return body


class TestDeclaredActions:
    def test_stranger_dm_to_a_15_year_old_is_refused_with_problem_json(
        self, harness: Harness
    ) -> None:
        """A stranger's DM to a 15-year-old answers 403 problem+json and is never sent."""
        response = harness.client("stranger").post("/messages/sam")

        body = _problem(response)
        assert body == {
            "type": "https://childsafe.readthedocs.io/en/latest/decisions.html#not_connected",
            "title": "Not allowed by child-safety settings",
            "status": 403,
            "detail": "Only the account's connections can do this.",
            "reason": "not_connected",
            "action": "dm.send",
            "setting": "direct_messages",
        }
        assert response.headers["Cache-Control"] == "no-store"
        assert harness.ran == []

    def test_connected_relative_dm_is_delivered(self, harness: Harness) -> None:
        """A connected adult relative's DM to the 15-year-old reaches the view."""
        response = harness.client("aunt_jo").post("/messages/sam")

        assert response.status_code == 201
        assert harness.ran == ["dm to sam"]

    def test_json_field_target(self, harness: Harness) -> None:
        """The target can come from a JSON body field, which the view can still read."""
        stranger = harness.client("stranger").post(
            "/api/messages", json={"to": "sam", "text": "hi"}
        )
        aunt = harness.client("aunt_jo").post("/api/messages", json={"to": "sam", "text": "hi"})

        assert _problem(stranger)["reason"] == "not_connected"
        assert aunt.status_code == 201
        assert harness.ran == ["dm to sam: hi"]

    def test_query_param_target(self, harness: Harness) -> None:
        """The target can come from a query parameter."""
        stranger = harness.client("stranger").post("/dm?to=sam")
        aunt = harness.client("aunt_jo").post("/dm?to=sam")

        assert _problem(stranger)["reason"] == "not_connected"
        assert aunt.status_code == 201
        assert harness.ran == ["dm to sam"]

    def test_declared_class_based_view(self, harness: Harness) -> None:
        """A declaration on a MethodView class is honoured."""
        stranger = harness.client("stranger").post("/poke/sam")
        aunt = harness.client("aunt_jo").post("/poke/sam")

        assert _problem(stranger)["reason"] == "not_connected"
        assert aunt.status_code == 201
        assert harness.ran == ["poke sam"]

    def test_adult_to_adult_is_allowed(self, harness: Harness) -> None:
        """Declarations do not get in the way of adults messaging adults."""
        response = harness.client("stranger").post("/messages/grandpa")

        assert response.status_code == 201

    def test_automatic_options_is_not_checked(self, harness: Harness) -> None:
        """CORS preflights (Flask's automatic OPTIONS answer) are not denied."""
        response = harness.client().options("/messages/sam")

        assert response.status_code == 200
        assert "POST" in response.headers["Allow"]

    def test_undeclared_views_are_not_checked(self, harness: Harness) -> None:
        """A view without a declaration runs for anyone."""
        response = harness.client().get("/api/users/grandpa")

        assert response.status_code == 200
        assert harness.ran == ["profile of grandpa"]

    def test_unknown_route_is_a_404(self, harness: Harness) -> None:
        """A URL that matches no view still answers 404."""
        assert harness.client("stranger").post("/nowhere").status_code == 404


class TestViewRules:
    def test_unhashable_view_is_still_checked(self, harness: Harness) -> None:
        """A view Flask holds as an unhashable object cannot be remembered: it is looked
        up on every request, and still checked."""

        class Unhashable:
            __hash__ = None  # type: ignore[assignment]

            def __call__(self, user_id: str) -> tuple[str, int]:
                harness.ran.append(f"unhashable {user_id}")
                return "sent", 201

        view = action("dm.send", target=path_param("user_id"))(Unhashable())
        harness.app.add_url_rule("/unhashable/<user_id>", "unhashable", view, methods=["POST"])

        for _ in range(2):
            assert _problem(harness.client("stranger").post("/unhashable/sam"))
        assert harness.client("aunt_jo").post("/unhashable/sam").status_code == 201
        assert harness.ran == ["unhashable sam"]

    def test_views_are_remembered_up_to_a_bound(
        self, harness: Harness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Past the bound, views are looked up every time, and still checked."""
        monkeypatch.setattr(childsafe_flask, "_VIEW_RULES_CACHE_SIZE", 0)

        for _ in range(2):
            assert _problem(harness.client("stranger").post("/messages/sam"))
        assert harness.client("aunt_jo").post("/messages/sam").status_code == 201
        assert harness.ran == ["dm to sam"]


class TestRouteTable:
    def test_route_table_entry_is_checked(self, harness: Harness) -> None:
        """An undecorated view is checked through its route-table entry."""
        stranger = harness.client("stranger").post("/friends/sam")
        aunt = harness.client("aunt_jo").post("/friends/sam")

        assert _problem(stranger)["reason"] == "not_invited"
        assert aunt.status_code == 201
        assert harness.ran == ["friend request to sam"]

    def test_route_table_applies_to_matching_method_only(self, harness: Harness) -> None:
        """A POST entry does not check other methods on the same path."""
        response = harness.client("stranger").get("/friends/sam")

        assert response.status_code == 405

    def test_decorator_and_table_both_apply(self, repository: MemoryRepository) -> None:
        """A view with a declaration and a table entry must pass both checks."""
        routes = RouteTable(
            {
                "POST /messages/{user_id}": action_rule(
                    "location.view", target=path_param("user_id")
                ),
                "POST /friends/{user_id}": action_rule(
                    "friend.request", target=path_param("user_id")
                ),
            }
        )
        harness = build(repository, routes=routes)

        declaration_denies = harness.client("grandpa").post("/messages/alex")
        table_denies = harness.client("aunt_jo").post("/messages/alex")
        both_allow = harness.client("aunt_jo").post("/messages/sam")

        # Grandpa may not message Alex (not connected): the declaration answers first.
        assert _problem(declaration_denies)["action"] == "dm.send"
        # The aunt may message Alex, but Alex does not share a location with anyone.
        body = _problem(table_denies)
        assert (body["action"], body["reason"]) == ("location.view", "setting_off")
        # Sam shares a coarse location with connections, and the aunt is one.
        assert both_allow.status_code == 201
        assert harness.ran == ["dm to sam"]


class TestFailClosed:
    def test_resolver_that_raises_gives_the_protective_account(
        self, repository: MemoryRepository, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A resolver that raises makes the request the protective unknown-age account."""

        def broken(request: Request) -> Account | None:
            raise ValueError("token service unreachable")

        harness = build(repository, resolvers=[broken])

        who = harness.client().get("/whoami").get_json()
        response = harness.client().post("/messages/grandpa")

        assert who == {"id": "childsafe:anonymous", "source": "error"}
        assert _problem(response)["reason"] == "not_connected"
        assert "token service unreachable" in caplog.text
        assert harness.ran == []

    def test_signed_out_request_is_the_protective_account(self, harness: Harness) -> None:
        """Without a session the request is anonymous and treated as a young child."""
        who = harness.client().get("/whoami").get_json()
        response = harness.client().post("/messages/grandpa")

        assert who == {"id": "childsafe:anonymous", "source": "anonymous"}
        assert _problem(response)["reason"] == "not_connected"

    def test_repository_that_raises_denies(self) -> None:
        """A repository that fails makes declared actions unverifiable, never allowed."""

        def header(request: Request) -> Account | None:
            return AUNT if request.header("X-Account") == "aunt_jo" else None

        harness = build(BrokenRepository(), resolvers=[header])

        response = harness.client().post("/messages/sam", headers={"X-Account": "aunt_jo"})

        body = _problem(response)
        assert body["reason"] == "unverifiable"
        assert body["title"] == "Could not be checked"
        assert harness.ran == []

    def test_session_resolver_with_broken_repository_fails_closed(self) -> None:
        """A session resolver whose repository fails resolves to the protective account."""
        harness = build(BrokenRepository())

        who = harness.client("aunt_jo").get("/whoami").get_json()

        assert who == {"id": "childsafe:anonymous", "source": "error"}

    def test_unknown_target_is_unverifiable(self, harness: Harness) -> None:
        """A target id that does not exist is denied, never waved through."""
        response = harness.client("aunt_jo").post("/messages/nobody")

        assert _problem(response)["reason"] == "unverifiable"
        assert harness.ran == []

    def test_missing_target_is_unverifiable(self, harness: Harness) -> None:
        """A declared target that is absent from the request is denied."""
        no_field = harness.client("aunt_jo").post("/api/messages", json={"text": "hi"})
        not_json = harness.client("aunt_jo").post("/api/messages", data="to=sam")
        no_query = harness.client("aunt_jo").post("/dm")

        for response in (no_field, not_json, no_query):
            assert _problem(response)["reason"] == "unverifiable"
        assert harness.ran == []

    def test_session_id_of_the_wrong_type_fails_closed(self, harness: Harness) -> None:
        """A session holding something other than an id resolves to the protective account."""
        client = harness.app.test_client()
        with client.session_transaction() as session:
            session["account_id"] = ["aunt_jo"]

        assert client.get("/whoami").get_json() == {"id": "childsafe:anonymous", "source": "error"}

    def test_stale_session_id_is_anonymous(self, harness: Harness) -> None:
        """A session id whose account no longer exists is the anonymous account."""
        who = harness.client("deleted").get("/whoami").get_json()

        assert who == {"id": "childsafe:anonymous", "source": "anonymous"}

    def test_session_resolver_without_any_repository_fails_closed(self) -> None:
        """A session resolver with no repository anywhere resolves to the protective account."""
        resolver = session_account()

        def wrapped(request: Request) -> Account | None:
            # Hidden from init_app's check: the repository is missing at request time.
            result = resolver(request)
            assert isinstance(result, Account | None)
            return result

        # No routes (they would need a repository), so strict mode is off for /friends.
        harness = build(None, resolvers=[wrapped], routes=None, config={"CHILDSAFE_STRICT": False})

        who = harness.client("aunt_jo").get("/whoami").get_json()

        assert who == {"id": "childsafe:anonymous", "source": "error"}

    def test_integer_session_id_is_loaded(self, repository: MemoryRepository) -> None:
        """Numeric ids stored in the session are looked up as strings."""
        repository.accounts["7"] = Account(id="7", band="adult")
        harness = build(repository)

        who = harness.client().get("/whoami")
        client = harness.app.test_client()
        with client.session_transaction() as session:
            session["account_id"] = 7

        assert who.get_json()["id"] == "childsafe:anonymous"
        assert client.get("/whoami").get_json() == {
            "id": "7",
            "source": "session_account('account_id')",
        }


def _html_renderer(decision: Decision, request: Request) -> tuple[str, int]:
    html = render_template_string(
        "<h1>Not allowed</h1><p>{{ message }}</p><p>{{ path }}</p>",
        message=decision.message,
        path=request.path,
    )
    return html, 403


class TestRenderer:
    def test_custom_html_renderer(self, repository: MemoryRepository) -> None:
        """A registered renderer answers denials with an HTML page; the view never runs."""
        harness = build(repository, renderer=_html_renderer)

        response = harness.client("stranger").post("/messages/sam")

        assert response.status_code == 403
        assert response.mimetype == "text/html"
        page = response.get_data(as_text=True)
        assert "<h1>Not allowed</h1>" in page
        assert "/messages/sam" in page
        assert harness.ran == []

    def test_renderer_returning_a_denial_response(self, repository: MemoryRepository) -> None:
        """A renderer may return a framework-neutral DenialResponse."""

        def plain(decision: Decision, request: Request) -> DenialResponse:
            return DenialResponse(
                451, (("content-type", "text/plain"), ("x-reason", decision.reason.value)), b"no"
            )

        harness = build(repository, renderer=plain)

        response = harness.client("stranger").post("/messages/sam")

        assert response.status_code == 451
        assert response.headers["X-Reason"] == "not_connected"
        assert response.get_data() == b"no"

    def test_success_status_from_a_renderer_becomes_403(self, repository: MemoryRepository) -> None:
        """A renderer that forgets the status cannot make a denial look like success."""
        harness = build(repository, renderer=lambda decision, _: decision.message)

        response = harness.client("stranger").post("/messages/sam")

        assert response.status_code == 403
        assert "dm.send" in response.get_data(as_text=True)

    def test_redirect_from_a_renderer_is_kept(self, repository: MemoryRepository) -> None:
        """A renderer may redirect a signed-out browser to the sign-in page."""
        harness = build(repository, renderer=lambda *_: flask.redirect("/login"))

        response = harness.client().post("/messages/sam")

        assert response.status_code == 302
        assert response.headers["Location"] == "/login"
        assert harness.ran == []

    def test_renderer_that_raises_falls_back_to_problem_json(
        self, repository: MemoryRepository, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A broken renderer still denies, with the default problem+json answer."""

        def broken(decision: Decision, request: Request) -> str:
            raise KeyError("template missing")

        harness = build(repository, renderer=broken)

        response = harness.client("stranger").post("/messages/sam")

        assert _problem(response)["reason"] == "not_connected"
        assert "the denial renderer raised" in caplog.text
        assert harness.ran == []

    def test_renderer_may_abort(self, repository: MemoryRepository) -> None:
        """A renderer calling abort() answers with that HTTP error; the view never runs."""

        def unauthorised(decision: Decision, request: Request) -> str:
            abort(401)

        harness = build(repository, renderer=unauthorised)

        response = harness.client().post("/messages/sam")

        assert response.status_code == 401
        assert harness.ran == []


class TestResponseFilter:
    def test_location_removed_for_a_stranger(self, harness: Harness) -> None:
        """A stranger's view of a child's profile has no location."""
        body = harness.client("stranger").get("/api/users/sam").get_json()

        assert body == {"id": "sam", "name": "Sam"}

    def test_location_kept_for_an_allowed_viewer(self, harness: Harness) -> None:
        """A connection the child shares their location with sees it."""
        response = harness.client("aunt_jo").get("/api/users/sam")

        assert response.get_json() == {"id": "sam", "name": "Sam", "location": "Leeds"}
        assert response.headers["Content-Length"] == str(len(response.get_data()))

    def test_adult_location_kept_for_anyone(self, harness: Harness) -> None:
        """An adult's public location is not touched."""
        body = harness.client().get("/api/users/grandpa").get_json()

        assert body["location"] == "Leeds"

    def test_children_dropped_from_a_strangers_suggestions(self, harness: Harness) -> None:
        """Children are never suggested to a stranger; adults still are."""
        body = harness.client("stranger").get("/api/suggestions").get_json()

        assert body == {"suggestions": [{"id": "grandpa"}]}

    def test_filtered_body_has_the_right_length(self, harness: Harness) -> None:
        """A filtered body is re-encoded with a matching Content-Length."""
        response = harness.client("stranger").get("/api/users/sam")

        assert response.headers["Content-Length"] == str(len(response.get_data()))
        assert json.loads(response.get_data()) == {"id": "sam", "name": "Sam"}

    def test_exempt_view_is_not_filtered(self, repository: MemoryRepository) -> None:
        """A view marked exempt keeps its JSON as written."""
        harness = build(repository, response_filter=ResponseFilter())
        me = harness.app.view_functions["me"]

        assert harness.extension.filter_exempt(me) is me
        assert harness.client("stranger").get("/api/me").get_json()["location"] == "Leeds"

    def test_exempt_endpoint_name(self, repository: MemoryRepository) -> None:
        """A view can be exempted by its endpoint name."""
        harness = build(repository, response_filter=ResponseFilter())

        assert harness.extension.filter_exempt("profile") == "profile"
        assert harness.client("stranger").get("/api/users/sam").get_json()["location"] == "Leeds"
        assert "location" not in harness.client("stranger").get("/api/me").get_json()

    def test_exempt_views_still_checked(self, repository: MemoryRepository) -> None:
        """Exempting a view from filtering does not exempt it from its declaration."""
        harness = build(repository, response_filter=ResponseFilter())
        harness.extension.filter_exempt(harness.app.view_functions["send_message"])

        assert _problem(harness.client("stranger").post("/messages/sam"))["action"] == "dm.send"

    def test_non_json_responses_untouched(self, harness: Harness) -> None:
        """HTML responses are passed through as they are."""
        response = harness.client("stranger").get("/page")

        assert response.get_data(as_text=True) == "adult"

    def test_invalid_json_withheld(self, harness: Harness) -> None:
        """A JSON response that does not parse cannot be checked, so it is withheld."""
        response = harness.client("stranger").get("/api/raw")
        assert response.status_code == 500
        assert b"{not json" not in response.get_data()

    def test_unchanged_body_is_not_reencoded(self, harness: Harness) -> None:
        """A body with nothing to filter keeps its exact bytes."""
        harness.app.view_functions["raw"] = exempt("returns no account data")(
            lambda: harness.app.response_class('{"a": [1, 2]}', mimetype="application/json")
        )

        assert harness.client("stranger").get("/api/raw").get_data() == b'{"a": [1, 2]}'

    def test_send_file_json_is_filtered(self, harness: Harness, tmp_path: Path) -> None:
        """JSON sent from a file (direct passthrough) is filtered too."""
        path = tmp_path / "sam.json"
        path.write_text(json.dumps({"id": "sam", "location": "Leeds"}))
        harness.app.view_functions["me"] = exempt("a read; filtered")(
            lambda: flask.send_file(path, mimetype="application/json")
        )

        with harness.client("stranger").get("/api/me") as response:
            assert response.get_json() == {"id": "sam"}

    def test_filter_off_by_config(self, repository: MemoryRepository) -> None:
        """CHILDSAFE_FILTER_JSON=False leaves JSON responses alone."""
        harness = build(
            repository, response_filter=ResponseFilter(), config={"CHILDSAFE_FILTER_JSON": False}
        )

        assert harness.client("stranger").get("/api/users/sam").get_json()["location"] == "Leeds"

    def test_filter_json_without_a_filter_uses_the_default(
        self, repository: MemoryRepository
    ) -> None:
        """CHILDSAFE_FILTER_JSON=True with no response_filter filters with the defaults."""
        harness = build(repository, config={"CHILDSAFE_FILTER_JSON": True})

        assert "location" not in harness.client("stranger").get("/api/users/sam").get_json()

    def test_after_request_hook_only_when_filtering(self, repository: MemoryRepository) -> None:
        """Flask charges every request for each hook: without filtering the extension adds
        none after the view, and CHILDSAFE_FILTER_JSON set after init_app changes nothing."""
        plain = build(repository)
        assert plain.app.after_request_funcs.get(None, []) == []
        plain.app.config["CHILDSAFE_FILTER_JSON"] = True
        assert plain.client("stranger").get("/api/users/sam").get_json()["location"] == "Leeds"
        filtered = build(repository, response_filter=ResponseFilter())
        assert len(filtered.app.after_request_funcs[None]) == 1

    def test_no_filter_by_default(self, repository: MemoryRepository) -> None:
        """Without a response_filter, filtering is off and visible as such in app.config."""
        harness = build(repository)

        assert harness.app.config["CHILDSAFE_FILTER_JSON"] is False
        assert harness.client("stranger").get("/api/users/sam").get_json()["location"] == "Leeds"

    def test_custom_field_names(self, repository: MemoryRepository) -> None:
        """Field names come from the ResponseFilter."""
        harness = build(repository, response_filter=ResponseFilter(location_fields=("name",)))

        assert harness.client("stranger").get("/api/users/sam").get_json() == {
            "id": "sam",
            "location": "Leeds",
        }

    def test_filtered_when_an_earlier_hook_answers(self, repository: MemoryRepository) -> None:
        """A response from a hook that ran before the extension's is filtered all the same."""
        app = Flask(__name__)
        app.secret_key = "test"  # noqa: S105 - a test-only key

        @app.before_request
        def cached() -> dict[str, str]:
            return {"id": "sam", "location": "Leeds"}

        ChildSafe(
            app,
            repository=repository,
            resolvers=[session_account()],
            response_filter=ResponseFilter(),
        )
        client = app.test_client()
        with client.session_transaction() as session:
            session["account_id"] = "stranger"

        assert client.get("/anything").get_json() == {"id": "sam"}


class TestConfig:
    def test_defaults_are_visible_in_app_config(self, harness: Harness) -> None:
        """The keys read are set in app.config with their defaults."""
        config = harness.app.config

        assert config["CHILDSAFE_POLICY"] is None
        assert config["CHILDSAFE_ENABLED"] is True
        assert config["CHILDSAFE_FILTER_JSON"] is True
        assert harness.app.extensions["childsafe"].guard.policy.name == "minimum"

    def test_double_init_app_raises(self, harness: Harness) -> None:
        """Registering the extension twice on one app is an error."""
        with pytest.raises(RuntimeError, match="already been registered"):
            harness.extension.init_app(harness.app)
        with pytest.raises(RuntimeError, match="already been registered"):
            ChildSafe(harness.app)

    def test_bad_policy_fails_at_init_app(self) -> None:
        """A policy below a floor fails when the app starts, not on a request."""
        app = Flask(__name__)
        app.config["CHILDSAFE_POLICY"] = {
            "bands": {"13_15": {"direct_messages": {"default": "everyone"}}}
        }

        with pytest.raises(ConfigurationError, match="direct_messages") as info:
            ChildSafe(app)

        assert "childsafe" not in app.extensions
        assert info.value.problems

    def test_missing_policy_file_fails_at_init_app(self, tmp_path: Path) -> None:
        """A CHILDSAFE_POLICY path that does not exist fails at start-up."""
        app = Flask(__name__)
        app.config["CHILDSAFE_POLICY"] = str(tmp_path / "nope.toml")

        with pytest.raises(ConfigurationError, match="no such file"):
            ChildSafe(app)

    def test_policy_file_is_loaded(self, tmp_path: Path) -> None:
        """CHILDSAFE_POLICY may be the path of a TOML config."""
        path = tmp_path / "childsafe.toml"
        path.write_text('[bands.16_17.direct_messages]\ndefault = "nobody"\n')
        app = Flask(__name__)
        app.config["CHILDSAFE_POLICY"] = path
        ChildSafe(app)

        with app.app_context():
            guard = current_guard()

        assert guard.policy.source == str(path)
        assert guard.settings_for(ALEX).direct_messages == "nobody"

    def test_policy_object_is_used(self) -> None:
        """CHILDSAFE_POLICY may be an already-loaded Policy."""
        policy = load_policy({"bands": {"16_17": {"direct_messages": {"default": "nobody"}}}})
        app = Flask(__name__)
        app.config["CHILDSAFE_POLICY"] = policy
        ChildSafe(app)

        assert app.extensions["childsafe"].guard.policy is policy

    def test_wrong_policy_type_fails_at_init_app(self) -> None:
        """A CHILDSAFE_POLICY that is neither a path, a mapping nor a Policy is refused."""
        app = Flask(__name__)
        app.config["CHILDSAFE_POLICY"] = 42

        with pytest.raises(ConfigurationError, match="CHILDSAFE_POLICY: expected a path"):
            ChildSafe(app)

    def test_guard_and_policy_are_exclusive(self) -> None:
        """Passing a guard and setting CHILDSAFE_POLICY is ambiguous and refused."""
        app = Flask(__name__)
        app.config["CHILDSAFE_POLICY"] = {"name": "x"}

        with pytest.raises(ConfigurationError, match="not both"):
            ChildSafe(app, guard=Guard())

    def test_guard_is_used(self) -> None:
        """A guard passed to the extension is the app's guard."""
        guard = Guard()
        app = Flask(__name__)
        ChildSafe(app, guard=guard)

        assert app.extensions["childsafe"].guard is guard

    def test_non_boolean_flags_are_refused(self) -> None:
        """Only True and False switch the extension; every other value is reported."""
        app = Flask(__name__)
        app.config.update(CHILDSAFE_ENABLED="no", CHILDSAFE_FILTER_JSON=0)

        with pytest.raises(ConfigurationError) as info:
            ChildSafe(app)

        assert [p.path for p in info.value.problems] == [
            "CHILDSAFE_ENABLED",
            "CHILDSAFE_FILTER_JSON",
        ]

    def test_repository_required(self) -> None:
        """Routes, the response filter and session resolvers need a repository."""
        app = Flask(__name__)

        with pytest.raises(
            ConfigurationError, match="routes, CHILDSAFE_FILTER_JSON, session_account need"
        ):
            ChildSafe(
                app, routes=ROUTES, response_filter=ResponseFilter(), resolvers=[session_account()]
            )

    def test_session_resolver_with_its_own_repository(self, repository: MemoryRepository) -> None:
        """A session resolver can carry its own repository."""
        # No routes (they would need a repository), so strict mode is off for /friends.
        harness = build(
            None,
            resolvers=[session_account("uid", repository=repository)],
            routes=None,
            config={"CHILDSAFE_STRICT": False},
        )
        client = harness.app.test_client()
        with client.session_transaction() as session:
            session["uid"] = "sam"

        assert client.get("/whoami").get_json()["id"] == "sam"

    def test_bad_arguments_are_all_reported(self) -> None:
        """Every wrong constructor argument is listed in one error."""
        with pytest.raises(ConfigurationError) as info:
            ChildSafe(
                guard="minimum",  # type: ignore[arg-type]
                resolvers="session",  # type: ignore[arg-type]
                renderer="denied.html",  # type: ignore[arg-type]
                response_filter={"location_fields": ["loc"]},  # type: ignore[arg-type]
                routes={"POST /x": None},  # type: ignore[arg-type]
            )

        assert [p.path for p in info.value.problems] == [
            "guard",
            "resolvers",
            "renderer",
            "response_filter",
            "routes",
        ]

    def test_resolvers_must_be_callables(self) -> None:
        """A resolver list holding something not callable is refused."""
        with pytest.raises(ConfigurationError, match="resolvers"):
            ChildSafe(resolvers=[None])  # type: ignore[list-item]
        with pytest.raises(ConfigurationError, match="resolvers"):
            ChildSafe(resolvers=iter([session_account()]))  # type: ignore[arg-type]

    def test_disabled_warns_and_passes_through(
        self, repository: MemoryRepository, caplog: pytest.LogCaptureFixture
    ) -> None:
        """CHILDSAFE_ENABLED=False logs a warning at start and stops the automatic checks."""
        with caplog.at_level(logging.WARNING, logger="childsafe"):
            harness = build(
                repository, response_filter=ResponseFilter(), config={"CHILDSAFE_ENABLED": False}
            )

        assert "childsafe is DISABLED" in caplog.text
        assert caplog.records[0].levelno == logging.WARNING
        assert harness.client("stranger").post("/messages/sam").status_code == 201
        assert harness.client("stranger").get("/api/users/sam").get_json()["location"] == "Leeds"
        # The context is still there for explicit checks in views.
        assert harness.client("stranger").get("/whoami").get_json()["id"] == "stranger"

    def test_enabled_flag_is_read_live(self, harness: Harness) -> None:
        """Switching CHILDSAFE_ENABLED at run time takes effect on the next request."""
        harness.app.config["CHILDSAFE_ENABLED"] = False
        assert harness.client("stranger").post("/messages/sam").status_code == 201

        harness.app.config["CHILDSAFE_ENABLED"] = True
        assert harness.client("stranger").post("/messages/sam").status_code == 403

    def test_app_factory_with_different_policies(self, repository: MemoryRepository) -> None:
        """One extension registered on two apps enforces each app's own policy."""
        extension = ChildSafe(repository=repository, resolvers=[session_account()], routes=ROUTES)
        relaxed = build(extension=extension)
        strict = build(
            extension=extension,
            config={
                "CHILDSAFE_POLICY": {"bands": {"16_17": {"direct_messages": {"default": "nobody"}}}}
            },
        )

        assert relaxed.client("aunt_jo").post("/messages/alex").status_code == 201
        assert _problem(strict.client("aunt_jo").post("/messages/alex"))["reason"] == "setting_off"
        assert (
            relaxed.app.extensions["childsafe"].guard
            is not strict.app.extensions["childsafe"].guard
        )
        assert not hasattr(extension, "app")


class TestHelpers:
    def test_current_context_is_g_childsafe(self, harness: Harness) -> None:
        """current_context(), ChildSafe.context() and g.childsafe are one object."""
        with harness.app.test_request_context("/"):
            harness.app.preprocess_request()
            context = current_context()

            assert isinstance(context, RequestContext)
            assert context is flask.g.childsafe
            assert ChildSafe.context() is context

    def test_current_context_without_the_hook(self, harness: Harness) -> None:
        """current_context() resolves the account when the hook has not run yet."""
        with harness.app.test_request_context("/"):
            assert current_context().account.id == "childsafe:anonymous"

    def test_current_context_needs_the_extension(self) -> None:
        """Asking an app without the extension for a context says what is missing."""
        app = Flask(__name__)

        with app.test_request_context("/"), pytest.raises(RuntimeError, match="init_app"):
            current_context()

    def test_current_guard(self, harness: Harness) -> None:
        """current_guard() is the current app's guard."""
        with harness.app.app_context():
            assert current_guard() is harness.app.extensions["childsafe"].guard

    def test_template_context(self, harness: Harness) -> None:
        """Templates see the request context as `childsafe`."""
        assert harness.client("sam").get("/page").get_data(as_text=True) == "supervised"
        assert harness.client("aunt_jo").get("/page").get_data(as_text=True) == "adult"

    def test_template_context_outside_a_request(self, harness: Harness) -> None:
        """Templates rendered outside a request get `childsafe` as None."""
        with harness.app.app_context():
            assert render_template_string("{{ childsafe is none }}") == "True"

    def test_flask_request_adapter(self) -> None:
        """FlaskRequest reads headers, cookies, query, path and JSON from flask.request."""
        app = Flask(__name__)

        @app.post("/u/<int:user_id>")
        def view(user_id: int) -> str:
            return str(user_id)

        with app.test_request_context(
            "/u/42?to=sam",
            method="POST",
            json={"to": "alex"},
            headers={"X-Trace": "t1", "Cookie": "token=abc"},
        ):
            request = FlaskRequest(flask.request, {"extra": "x"})

            assert isinstance(request, Request)
            assert (request.method, request.path) == ("POST", "/u/42")
            assert (request.header("x-trace"), request.header("missing")) == ("t1", None)
            assert (request.cookie("token"), request.cookie("other")) == ("abc", None)
            assert request.query("to") == "sam"
            assert request.path_param("user_id") == "42"
            assert request.path_param("extra") == "x"
            assert request.path_param("missing") is None
            assert request.json() == {"to": "alex"}

    def test_header_names_in_any_case(self) -> None:
        """Headers are found whatever the case of the name, Content-Type included,
        as ``request.headers`` finds them."""
        app = Flask(__name__)
        with app.test_request_context(
            "/", method="POST", json={}, headers={"Authorization": "Bearer t"}
        ):
            request = FlaskRequest(flask.request)

            for name in ("authorization", "Authorization", "AUTHORIZATION"):
                assert request.header(name) == flask.request.headers[name] == "Bearer t"
            assert request.header("Content-Type") == "application/json"
            assert request.header("content-length") == "2"


class TestPackaging:
    def test_missing_flask_names_the_extra(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Importing the extension without Flask says which extra to install."""
        monkeypatch.setitem(sys.modules, "flask", None)
        spec = importlib.util.spec_from_file_location(
            "childsafe_flask_without_flask", childsafe_flask.__file__
        )
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)

        with pytest.raises(MissingExtraError, match=r"pip install 'childsafe\[flask\]'"):
            spec.loader.exec_module(module)

    def test_docstring_examples_run(self) -> None:
        """The examples in the module's docstrings are correct."""
        result = doctest.testmod(childsafe_flask)

        assert result.attempted > 0
        assert result.failed == 0


class TestStrictMode:
    def test_unprotected_route_refused_at_init(self, repository: MemoryRepository) -> None:
        """A route that declares no action and is not exempt stops init_app, named."""
        app = Flask(__name__)

        @app.get("/forgotten/<user_id>")
        def forgotten(user_id: str) -> str:
            return user_id

        with pytest.raises(ConfigurationError) as info:
            ChildSafe(app, repository=repository)
        assert [p.path for p in info.value.problems] == ["GET /forgotten/<user_id>"]
        assert "forgotten declares no action" in str(info.value)

    def test_late_route_refused_before_serving(self, repository: MemoryRepository) -> None:
        """A blueprint registered after init_app is checked before the first request,
        and the app serves nothing while it is unprotected."""
        app = Flask(__name__)
        ChildSafe(app, repository=repository)
        late = flask.Blueprint("late", __name__)

        @late.get("/late")
        def late_view() -> str:
            return "served"

        app.register_blueprint(late)
        client = app.test_client()
        response = client.get("/late")
        assert response.status_code == 500
        assert b"served" not in response.get_data()
        assert client.get("/late").status_code == 500  # still refused, not just once

    def test_undeclared_method_of_a_method_view(self, repository: MemoryRepository) -> None:
        """A MethodView whose POST is declared and GET is not has an unprotected GET."""
        app = Flask(__name__)

        class Messages(MethodView):
            @action("dm.send", target=path_param("user_id"))
            def post(self, user_id: str) -> str:
                return f"sent to {user_id}"

            def get(self, user_id: str) -> str:
                return f"messages with {user_id}"

        app.add_url_rule("/m/<user_id>", view_func=Messages.as_view("messages"))
        with pytest.raises(ConfigurationError) as info:
            ChildSafe(app, repository=repository)
        assert [p.path for p in info.value.problems] == ["GET /m/<user_id>"]

    def test_inventory(self, harness: Harness) -> None:
        """routes() lists every route with what protects it."""
        listed = {r.key: r.protection for r in routes(harness.app)}
        assert listed["POST /messages/<user_id>"] == "dm.send (target path_param('user_id'))"
        assert listed["POST /friends/<user_id>"] == "friend.request (target path_param('user_id'))"
        assert listed["GET /whoami"] == "exempt: the requester's own account"
        assert listed["GET /static/<path:filename>"] == "exempt: Flask's static files"
        assert listed["POST /poke/<user_id>"] == "dm.send (target path_param('user_id'))"
        assert all(r.protected for r in routes(harness.app))

    def test_a_view_named_static_is_not_exempt(
        self, repository: MemoryRepository, tmp_path: Path
    ) -> None:
        """Only the views Flask registers for static folders (the app's, a blueprint's)
        are exempt as static files: an app's own view named ``static`` (endpoint
        ``static`` or ``bp.static``) is held to strict mode like any other."""
        app = Flask(__name__, static_folder=None)

        @app.get("/users/<user_id>/static")
        def static(user_id: str) -> str:
            return f"{user_id}'s page"

        admin = Blueprint("admin", __name__)

        @admin.post("/users/<user_id>/delete")
        def static_delete(user_id: str) -> str:
            return f"deleted {user_id}"

        admin.add_url_rule("/purge/<user_id>", "static", static_delete, methods=["POST"])
        app.register_blueprint(admin, url_prefix="/admin")
        assets = Blueprint("assets", __name__, static_folder=str(tmp_path))
        app.register_blueprint(assets, url_prefix="/assets")
        with pytest.raises(ConfigurationError) as info:
            ChildSafe(app, repository=repository)
        assert sorted(p.path for p in info.value.problems) == [
            "GET /users/<user_id>/static",
            "POST /admin/purge/<user_id>",
            "POST /admin/users/<user_id>/delete",
        ]
        listed = {r.key: r.protection for r in routes(app)}
        assert listed["GET /assets/" + tmp_path.name + "/<path:filename>"] == (
            "exempt: Flask's static files"
        )

    def test_strict_off_warns_and_serves(
        self, repository: MemoryRepository, caplog: pytest.LogCaptureFixture
    ) -> None:
        """CHILDSAFE_STRICT=False serves unprotected routes and logs them at start-up."""
        app = Flask(__name__)
        app.config["CHILDSAFE_STRICT"] = False

        @app.get("/open")
        def open_view() -> str:
            return "open"

        ChildSafe(app, repository=repository)
        assert "GET /open" in caplog.text
        assert app.test_client().get("/open").get_data() == b"open"

    def test_path_param_the_rule_lacks_is_refused(self, repository: MemoryRepository) -> None:
        """A path_param naming no variable of the URL rule stops init_app, with strict
        mode off too, naming the route, the action and the variables the rule has."""
        app = Flask(__name__)
        app.config["CHILDSAFE_STRICT"] = False

        class Messages(MethodView):
            @action("dm.send", target=path_param("user_id"))
            def post(self, uid: str) -> str:
                return f"sent to {uid}"

            @action("profile.view", target=path_param("uid"))
            def get(self, uid: str) -> str:
                return uid

        app.add_url_rule("/m/<int:uid>", view_func=Messages.as_view("messages"))
        with pytest.raises(ConfigurationError) as info:
            ChildSafe(app, repository=repository)
        assert [p.path for p in info.value.problems] == ["POST /m/<int:uid>"]
        assert "messages: dm.send takes its target from path_param('user_id')" in str(info.value)
        assert "(its parameters: uid)" in str(info.value)

    def test_path_param_of_a_blueprint_registered_late(self, repository: MemoryRepository) -> None:
        """A mismatched declaration in a blueprint registered after init_app is found
        before the first request, which is refused."""
        app = Flask(__name__)
        ChildSafe(app, repository=repository)
        late = flask.Blueprint("late", __name__)

        @late.post("/poke/<uid>")
        @action("dm.send", target=path_param("user_id"))
        def poke(uid: str) -> str:
            return "served"

        app.register_blueprint(late)
        response = app.test_client().post("/poke/alex")
        assert response.status_code == 500
        assert b"served" not in response.get_data()

    def test_converters_and_defaults_are_parameters(self, repository: MemoryRepository) -> None:
        """A variable with a converter (``<int:user_id>``, ``<path:user_id>``) or given
        by the rule's ``defaults`` is a parameter the declaration may name."""
        app = Flask(__name__)

        @app.post("/by-number/<int:user_id>")
        @app.post("/by-path/<path:user_id>")
        @app.post("/me/poke", defaults={"user_id": "alex"})
        @action("dm.send", target=path_param("user_id"))
        def poke(user_id: object) -> str:
            return f"poked {user_id}"

        ChildSafe(app, repository=repository)
        assert all(not r.problems for r in routes(app))

    def test_strict_must_be_a_bool(self, repository: MemoryRepository) -> None:
        """CHILDSAFE_STRICT takes True or False only."""
        app = Flask(__name__)
        app.config["CHILDSAFE_STRICT"] = "off"
        with pytest.raises(ConfigurationError, match="CHILDSAFE_STRICT"):
            ChildSafe(app, repository=repository)


class TestDeprecatedExempt:
    def test_old_name_warns_and_still_works(self, harness: Harness) -> None:
        """ChildSafe.exempt still leaves a view unfiltered, with a DeprecationWarning."""
        view = harness.app.view_functions["me"]
        with pytest.warns(DeprecationWarning, match="filter_exempt"):
            assert harness.extension.exempt(view) is view
        with harness.client("stranger").get("/api/me") as response:
            assert response.get_json() == {"id": "sam", "location": "Leeds"}
