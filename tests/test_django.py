"""The Django integration (``childsafe.contrib.django``) through Django's own test clients.

Django is configured once for the whole test process by ``tests/django_settings.py``;
every test here runs inside ``override_settings`` for its URLconf, middleware and
``CHILDSAFE``, so nothing leaks between tests. The behaviours that differ between WSGI
and ASGI run through both ``django.test.Client`` and ``django.test.AsyncClient``.
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import importlib.util
import inspect
import io
import json
import logging
import re
import sys
import weakref
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest
from asgiref.sync import iscoroutinefunction
from django.core.exceptions import ImproperlyConfigured, PermissionDenied  # type: ignore[import-untyped]
from django.core.management import call_command  # type: ignore[import-untyped]
from django.core.management.base import SystemCheckError  # type: ignore[import-untyped]
from django.http import (  # type: ignore[import-untyped]
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.test import AsyncClient, Client, RequestFactory, override_settings  # type: ignore[import-untyped]
from django.urls import include, path, re_path  # type: ignore[import-untyped]
from django.utils.decorators import method_decorator  # type: ignore[import-untyped]
from django.views import View  # type: ignore[import-untyped]

import childsafe.contrib.django as childsafe_django
from childsafe import (
    Account,
    Decision,
    DenialResponse,
    Relationship,
    Request,
    ResponseFilter,
    RouteTable,
    action,
    action_rule,
    bearer_token,
    exempt,
    json_field,
    load_policy,
    path_param,
    query_param,
)
from childsafe.contrib.django import (
    ChildsafeMiddleware,
    DjangoRequest,
    django_user,
    filter_exempt,
    request_context,
    routes,
    session_account,
)
from childsafe.contrib.django import checks as checks_module
from childsafe.contrib.django import conf as conf_module
from childsafe.contrib.django.checks import check_deploy, check_routes, check_settings
from childsafe.exceptions import ConfigurationError, MissingExtraError
from childsafe.web import ANONYMOUS_ID, resolve
from childsafe.wsgi import WSGIRequest
from tests import django_settings

SAM = Account(
    id="sam",
    band="13_15",
    jurisdiction="GB",
    # A parent turned location sharing on for connections (the 13-15 floor allows it).
    settings={"location_sharing": "connections_coarse"},
)
MAYA = Account(id="maya", band="under_13", jurisdiction="GB")
AUNT = Account(id="aunt_jo", band="adult", jurisdiction="GB")
STRANGER = Account(id="stranger", band="adult", jurisdiction="GB")
RILEY = Account(id="riley", band="adult", jurisdiction="GB")

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "childsafe.contrib.django.middleware.ChildsafeMiddleware",
]
OURS = "childsafe.contrib.django.middleware.ChildsafeMiddleware"
AUTH = "django.contrib.auth.middleware.AuthenticationMiddleware"
SESSION = "django.contrib.sessions.middleware.SessionMiddleware"

# What the views did, in order: a denied request must leave no trace here.
RAN: list[str] = []


class MemoryRepository:
    """A real, in-memory account store: accounts by id and undirected connections."""

    def __init__(
        self,
        accounts: Iterable[Account] = (SAM, MAYA, AUNT, STRANGER, RILEY),
        connections: Iterable[tuple[str, str]] = (("aunt_jo", "sam"), ("aunt_jo", "maya")),
    ) -> None:
        self.accounts = {a.id: a for a in accounts}
        self.connections = {frozenset(pair) for pair in connections}

    def get_account(self, account_id: str) -> Account | None:
        return self.accounts.get(account_id)

    def relationship(self, actor: Account, target: Account) -> Relationship:
        return Relationship(connected=frozenset((actor.id, target.id)) in self.connections)


class BrokenRepository:
    """A repository whose database is down."""

    def get_account(self, account_id: str) -> Account | None:
        raise OSError(f"database is down (loading {account_id})")

    def relationship(self, actor: Account, target: Account) -> Relationship:
        raise OSError(f"database is down (relating {actor.id} to {target.id})")


class AsyncRepository:
    """An async repository, which the Django middleware does not take."""

    async def get_account(self, account_id: str) -> Account | None:
        del account_id
        return None

    async def relationship(self, actor: Account, target: Account) -> Relationship:
        del actor, target
        return Relationship()


class NotARepository:
    """A class without the repository methods."""


def memory_repository() -> MemoryRepository:
    """A repository factory, as ``CHILDSAFE["REPOSITORY"]`` may name one."""
    return MemoryRepository()


def raising_resolver(request: Request) -> Account | None:
    """A resolver whose token service is down."""
    raise OSError("token service is down")


async def async_resolver(request: Request) -> Account | None:
    """An async resolver, which the Django middleware does not take."""
    return None


GEO_FILTER = ResponseFilter(location_fields="geo")


class SubclassedMiddleware(ChildsafeMiddleware):
    """A project's own subclass of the middleware."""


# -- the test site's views ---------------------------------------------------------


@exempt("signs the test client in")
def signin(request: Any) -> Any:
    request.session["account_id"] = request.POST["account"]
    return HttpResponse(status=204)


@exempt("the requester's own account")
def whoami(request: Any) -> Any:
    context = request_context(request)
    return JsonResponse({"account": context.account.id, "source": context.resolution.source})


@action("dm.send", target=path_param("user_id"))
def send_dm(request: Any, user_id: str) -> Any:
    RAN.append(f"dm {user_id}")
    return JsonResponse({"sent": user_id}, status=201)


@action("dm.send", target=path_param("user_id"))
async def send_dm_async(request: Any, user_id: str) -> Any:
    RAN.append(f"async dm {user_id}")
    return JsonResponse({"sent": user_id}, status=201)


@action("dm.send", target=json_field("to"))
def send_dm_json(request: Any) -> Any:
    to = json.loads(request.body)["to"]
    RAN.append(f"json dm {to}")
    return JsonResponse({"sent": to}, status=201)


@action("dm.send", target=query_param("to"))
def send_dm_query(request: Any) -> Any:
    RAN.append(f"query dm {request.GET['to']}")
    return JsonResponse({"sent": request.GET["to"]}, status=201)


def routed(request: Any, user_id: str) -> Any:
    RAN.append(f"routed {user_id}")
    return HttpResponse("routed")


@action("friend.request", target=path_param("user_id"))
class FriendRequest(View):  # type: ignore[misc]  # Django ships no type information
    """A class-based view declared on the class: every method is checked."""

    def post(self, _request: Any, user_id: str) -> Any:
        RAN.append(f"friend {user_id}")
        return HttpResponse("requested", status=201)


@method_decorator(action("dm.send", target=path_param("user_id")), name="post")
class Poke(View):  # type: ignore[misc]
    """Only POST is declared: GET (reading the poke page) is exempt."""

    @exempt("the poke page shows no account data")
    def get(self, _request: Any, user_id: str) -> Any:
        RAN.append(f"poke page {user_id}")
        return HttpResponse("poke page")

    def post(self, _request: Any, user_id: str) -> Any:
        RAN.append(f"poke {user_id}")
        return HttpResponse("poked")


@method_decorator(action("profile.view", target=path_param("user_id")), name="get")
class Album(View):  # type: ignore[misc]
    """GET is declared, so HEAD (served by ``get``) is checked too."""

    def get(self, _request: Any, user_id: str) -> Any:
        RAN.append(f"album {user_id}")
        return HttpResponse("album")


@method_decorator(action("dm.send", target=path_param("user_id")), name="dispatch")
class Nudge(View):  # type: ignore[misc]
    """Declared on ``dispatch``: every method is checked."""

    def post(self, _request: Any, user_id: str) -> Any:
        RAN.append(f"nudge {user_id}")
        return HttpResponse("nudged")


def _profile(user_id: str) -> dict[str, Any]:
    return {"id": user_id, "name": user_id.title(), "location": "Leeds"}


@exempt("a read; the response filter removes what the viewer may not see")
def profile_json(request: Any, user_id: str) -> Any:
    response = JsonResponse(_profile(user_id))
    response["ETag"] = '"v1"'
    return response


@exempt("a read; the response filter drops children from suggestions")
def suggestions_json(request: Any) -> Any:
    return JsonResponse({"suggestions": [{"id": "sam"}, {"id": "aunt_jo"}, {"id": "maya"}]})


@exempt("the requester's own profile")
@filter_exempt
def own_profile_json(request: Any, user_id: str) -> Any:
    return JsonResponse(_profile(user_id))


@filter_exempt
@exempt("the requester's own profile")
class OwnProfile(View):  # type: ignore[misc]
    def get(self, _request: Any, user_id: str) -> Any:
        return JsonResponse(_profile(user_id))


@exempt("a read; filtered")
def streamed_profile(request: Any, user_id: str) -> Any:
    body = json.dumps(_profile(user_id)).encode()
    return StreamingHttpResponse(iter([body]), content_type="application/json")


@exempt("a read; filtered")
def gzipped_profile(request: Any, user_id: str) -> Any:
    body = gzip.compress(json.dumps(_profile(user_id)).encode())
    response = HttpResponse(body, content_type="application/json")
    response["Content-Encoding"] = "gzip"
    return response


@exempt("a read; filtered")
def brotli_profile(request: Any, user_id: str) -> Any:
    response = HttpResponse(b"\x0b\x02\x80", content_type="application/json")
    response["Content-Encoding"] = "br"
    return response


@exempt("no account data")
def empty_json(request: Any) -> Any:
    return HttpResponse(status=204, content_type="application/json")


@exempt("a read; filtered")
def profile_page(request: Any, user_id: str) -> Any:
    return HttpResponse(f"<p>{user_id} is at Leeds</p>")


class URLs:
    """The test site's URLconf."""

    urlpatterns: ClassVar[list[Any]] = [
        path("signin", signin),
        path("whoami", whoami),
        path("dm/<str:user_id>", send_dm),
        path("async-dm/<str:user_id>", send_dm_async),
        path("dm", send_dm_json),
        path("dm-query", send_dm_query),
        path("routed/<str:user_id>", routed),
        path("friend/<str:user_id>", FriendRequest.as_view()),
        path("poke/<str:user_id>", Poke.as_view()),
        path("album/<str:user_id>", Album.as_view()),
        path("nudge/<str:user_id>", Nudge.as_view()),
        path("profile/<str:user_id>", profile_json),
        path("suggestions", suggestions_json),
        path("own/<str:user_id>", own_profile_json),
        path("own-cbv/<str:user_id>", OwnProfile.as_view()),
        path("streamed/<str:user_id>", streamed_profile),
        path("gzipped/<str:user_id>", gzipped_profile),
        path("brotli/<str:user_id>", brotli_profile),
        path("empty", empty_json),
        path("page/<str:user_id>", profile_page),
    ]


def childsafe_settings(**overrides: object) -> dict[str, object]:
    """The test site's ``CHILDSAFE`` setting, with ``overrides``."""
    return {
        "REPOSITORY": MemoryRepository(),
        "RESOLVERS": [session_account("account_id")],
        "RESPONSE_FILTER": True,
        # A function view answers any method: a "*" entry covers them all.
        "ROUTES": {"* /routed/{user_id}": action_rule("dm.send", target=path_param("user_id"))},
        **overrides,
    }


# -- clients ---------------------------------------------------------------------


def _run(result: Any) -> Any:
    return asyncio.run(result) if inspect.iscoroutine(result) else result


@attrs.define
class Browser:
    """Django's ``Client`` or ``AsyncClient`` behind one synchronous interface."""

    client: Any

    def get(self, url: str, **kwargs: Any) -> Any:
        return _run(self.client.get(url, **kwargs))

    def head(self, url: str, **kwargs: Any) -> Any:
        return _run(self.client.head(url, **kwargs))

    def post(self, url: str, data: object = None, **kwargs: Any) -> Any:
        return _run(self.client.post(url, data, **kwargs))

    def post_json(self, url: str, body: object) -> Any:
        return self.post(url, json.dumps(body), content_type="application/json")


@attrs.define
class Site:
    """The test site, served through one kind of client."""

    kind: str

    def browser(self, account: str | None = None) -> Browser:
        """A new client (so the middleware is built with the current settings), signed
        in as ``account`` through the sign-in view."""
        browser = Browser(AsyncClient() if self.kind == "async" else Client())
        if account is not None:
            assert browser.post("/signin", {"account": account}).status_code == 204
        return browser


@pytest.fixture(name="django_env", scope="module")
def _django_env() -> None:
    django_settings.setup()


pytestmark = pytest.mark.usefixtures("django_env")


@pytest.fixture(name="kind", params=["sync", "async"])
def _kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(name="site")
def _site(django_env: None, kind: str) -> Iterator[Site]:
    RAN.clear()
    with override_settings(
        ROOT_URLCONF=URLs, MIDDLEWARE=MIDDLEWARE, CHILDSAFE=childsafe_settings()
    ):
        yield Site(kind)


@pytest.fixture(name="sync_site")
def _sync_site(django_env: None) -> Iterator[Site]:
    RAN.clear()
    with override_settings(
        ROOT_URLCONF=URLs, MIDDLEWARE=MIDDLEWARE, CHILDSAFE=childsafe_settings()
    ):
        yield Site("sync")


def problem(response: Any) -> dict[str, Any]:
    """The problem document of a denial, after checking it is one."""
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    body = json.loads(response.content)
    assert isinstance(body, dict)
    return body


# -- declared actions ----------------------------------------------------------------


class TestDeclaredActions:
    def test_stranger_dm_to_a_15_year_old_is_refused(self, site: Site) -> None:
        """A stranger's DM to a 15-year-old is a 403 problem+json and the view never runs."""
        response = site.browser("stranger").post("/dm/sam")

        body = problem(response)
        assert body == {
            "type": "https://childsafe.readthedocs.io/en/latest/decisions.html#not_connected",
            "title": "Not allowed by child-safety settings",
            "status": 403,
            "detail": "Only the account's connections can do this.",
            "reason": "not_connected",
            "action": "dm.send",
            "setting": "direct_messages",
        }
        assert response["Cache-Control"] == "no-store"
        assert RAN == []

    def test_connected_relative_is_allowed(self, site: Site) -> None:
        """The aunt, a connection of Sam's, reaches the view."""
        response = site.browser("aunt_jo").post("/dm/sam")

        assert response.status_code == 201
        assert RAN == ["dm sam"]

    def test_async_view(self, site: Site) -> None:
        """Declarations on async views are checked too, under WSGI and ASGI."""
        assert problem(site.browser("stranger").post("/async-dm/sam"))["reason"] == "not_connected"
        assert site.browser("aunt_jo").post("/async-dm/sam").status_code == 201
        assert RAN == ["async dm sam"]

    def test_json_target(self, site: Site) -> None:
        """A target in the JSON body is checked, and the view still reads the body."""
        assert problem(site.browser("stranger").post_json("/dm", {"to": "sam"}))
        assert site.browser("aunt_jo").post_json("/dm", {"to": "sam"}).status_code == 201
        assert RAN == ["json dm sam"]

    def test_query_target(self, site: Site) -> None:
        """A target in the query string is checked (the last value, as the view reads it)."""
        assert problem(site.browser("stranger").post("/dm-query?to=aunt_jo&to=sam"))
        assert site.browser("aunt_jo").post("/dm-query?to=sam").status_code == 201
        assert RAN == ["query dm sam"]

    def test_class_based_view_declared_on_the_class(self, site: Site) -> None:
        """A declaration on a class-based view covers every method."""
        body = problem(site.browser("stranger").post("/friend/maya"))

        assert body["action"] == "friend.request"
        assert site.browser("aunt_jo").post("/friend/riley").status_code == 201
        assert RAN == ["friend riley"]

    def test_class_based_view_method_decorator(self, site: Site) -> None:
        """``method_decorator(action(...), name="post")`` checks POST only."""
        stranger = site.browser("stranger")

        assert stranger.get("/poke/sam").status_code == 200
        assert problem(stranger.post("/poke/sam"))["action"] == "dm.send"
        assert RAN == ["poke page sam"]

    def test_head_is_checked_like_get(self, site: Site) -> None:
        """HEAD is served by ``get``, so a declaration on ``get`` covers it."""
        stranger = site.browser("stranger")

        assert stranger.head("/album/sam").status_code == 403
        assert stranger.get("/album/sam").status_code == 403
        assert site.browser("aunt_jo").head("/album/sam").status_code == 200
        assert RAN == ["album sam"]

    def test_class_based_view_declared_on_dispatch(self, site: Site) -> None:
        """A declaration on ``dispatch`` covers every method."""
        assert problem(site.browser("stranger").post("/nudge/sam"))
        assert site.browser("aunt_jo").post("/nudge/sam").status_code == 200
        assert RAN == ["nudge sam"]

    def test_route_table(self, site: Site) -> None:
        """``CHILDSAFE["ROUTES"]`` declares views that are not decorated."""
        assert problem(site.browser("stranger").post("/routed/sam"))
        assert site.browser("aunt_jo").post("/routed/sam").status_code == 200
        assert RAN == ["routed sam"]

    def test_undeclared_views_run(self, site: Site) -> None:
        """A view without a declaration is not checked."""
        response = site.browser().get("/whoami")

        assert json.loads(response.content) == {"account": ANONYMOUS_ID, "source": "anonymous"}


class TestFailClosed:
    def test_unknown_target(self, site: Site) -> None:
        """A target the repository does not know is denied as unverifiable, not a 500."""
        body = problem(site.browser("aunt_jo").post("/dm/nobody"))

        assert body["reason"] == "unverifiable"
        assert RAN == []

    def test_missing_json_target(self, site: Site) -> None:
        """A JSON body without the declared field is denied."""
        assert problem(site.browser("aunt_jo").post_json("/dm", {"text": "hi"}))["reason"] == (
            "unverifiable"
        )
        assert RAN == []

    def test_json_body_over_max_body(self, site: Site) -> None:
        """A JSON body larger than ``MAX_BODY`` is not read, so the check fails closed."""
        with override_settings(CHILDSAFE=childsafe_settings(MAX_BODY=10)):
            response = site.browser("aunt_jo").post_json("/dm", {"to": "sam"})

        assert problem(response)["reason"] == "unverifiable"
        assert RAN == []

    def test_raising_resolver(self, site: Site, caplog: pytest.LogCaptureFixture) -> None:
        """A resolver that raises gives the protective anonymous account, never a 500."""
        resolvers = [raising_resolver, session_account()]
        with override_settings(CHILDSAFE=childsafe_settings(RESOLVERS=resolvers)):
            browser = site.browser("aunt_jo")
            who = json.loads(browser.get("/whoami").content)
            denied = browser.post("/dm/sam")

        assert who == {"account": ANONYMOUS_ID, "source": "error"}
        assert problem(denied)["reason"] == "not_connected"
        assert RAN == []
        assert "resolver raising_resolver raised" in caplog.text

    def test_raising_repository(self, site: Site) -> None:
        """A repository that raises denies declared actions as unverifiable, never a 500."""
        with override_settings(CHILDSAFE=childsafe_settings(REPOSITORY=BrokenRepository())):
            browser = site.browser("aunt_jo")
            who = json.loads(browser.get("/whoami").content)
            denied = browser.post("/dm/sam")

        assert who["source"] == "error"
        assert problem(denied)["reason"] == "unverifiable"
        assert RAN == []

    def test_raising_repository_while_filtering(self, site: Site) -> None:
        """A repository that fails while filtering hides what it could not check."""
        with override_settings(CHILDSAFE=childsafe_settings(REPOSITORY=BrokenRepository())):
            response = site.browser("aunt_jo").get("/profile/riley")

        assert response.status_code == 200
        assert "location" not in json.loads(response.content)

    def test_bad_session_value(self, site: Site) -> None:
        """A session id that is not a string or an integer fails closed."""

        @exempt("signs a broken session in")
        def corrupt(request: Any) -> Any:
            request.session["account_id"] = ["sam"]
            return HttpResponse(status=204)

        class CorruptURLs:
            urlpatterns: ClassVar[list[Any]] = [*URLs.urlpatterns, path("corrupt", corrupt)]

        with override_settings(ROOT_URLCONF=CorruptURLs):
            browser = site.browser()
            browser.post("/corrupt")
            who = json.loads(browser.get("/whoami").content)

        assert who == {"account": ANONYMOUS_ID, "source": "error"}


class TestRenderer:
    def test_custom_renderer(self, site: Site) -> None:
        """A ``RENDERER`` answers denials with the app's own page."""
        seen: list[str] = []

        def html_denial(decision: Decision, request: Any) -> Any:
            seen.append(request.path)
            return HttpResponse(f"<h1>{decision.reason.value}</h1>", status=403)

        with override_settings(CHILDSAFE=childsafe_settings(RENDERER=html_denial)):
            response = site.browser("stranger").post("/dm/sam")

        assert (response.status_code, response.content) == (403, b"<h1>not_connected</h1>")
        assert response["Content-Type"].startswith("text/html")
        assert seen == ["/dm/sam"]
        assert RAN == []

    def test_renderer_by_dotted_path(self, site: Site) -> None:
        """A ``RENDERER`` may be given as a dotted path."""
        with override_settings(CHILDSAFE=childsafe_settings(RENDERER="childsafe.problem_response")):
            assert problem(site.browser("stranger").post("/dm/sam"))["reason"] == "not_connected"

    def test_denial_response_from_renderer(self, site: Site) -> None:
        """A renderer may return a framework-neutral ``DenialResponse``."""

        def teapot(decision: Decision, request: Any) -> DenialResponse:
            return DenialResponse(418, (("content-type", "text/plain"),), b"no")

        with override_settings(CHILDSAFE=childsafe_settings(RENDERER=teapot)):
            response = site.browser("stranger").post("/dm/sam")

        assert (response.status_code, response.content) == (418, b"no")

    def test_successful_status_becomes_403(self, site: Site) -> None:
        """A rendered 2xx status is replaced by 403: a denial never looks like success."""

        def cheerful(decision: Decision, request: Any) -> Any:
            return HttpResponse("ok")

        with override_settings(CHILDSAFE=childsafe_settings(RENDERER=cheerful)):
            assert site.browser("stranger").post("/dm/sam").status_code == 403

    @pytest.mark.parametrize("outcome", ["raises", "junk"])
    def test_broken_renderer_falls_back(
        self, site: Site, outcome: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A renderer that raises or returns junk falls back to problem+json."""

        def broken(decision: Decision, request: Any) -> Any:
            if outcome == "raises":
                raise ValueError("template missing")
            return "<p>not a response</p>"

        with override_settings(CHILDSAFE=childsafe_settings(RENDERER=broken)):
            response = site.browser("stranger").post("/dm/sam")

        assert problem(response)["reason"] == "not_connected"
        assert RAN == []
        assert "renderer" in caplog.text

    def test_renderer_may_raise_permission_denied(self, site: Site) -> None:
        """``PermissionDenied`` from a renderer gives the site's own 403 page."""

        def forbidden(decision: Decision, request: Any) -> Any:
            raise PermissionDenied

        with override_settings(CHILDSAFE=childsafe_settings(RENDERER=forbidden)):
            response = site.browser("stranger").post("/dm/sam")

        assert response.status_code == 403
        assert response["Content-Type"].startswith("text/html")
        assert RAN == []


class TestResponseFilter:
    def test_child_location_hidden_from_stranger(self, site: Site) -> None:
        """A child's location is removed from JSON for a stranger, and ETag dropped."""
        response = site.browser("stranger").get("/profile/sam")

        body = json.loads(response.content)
        assert body == {"id": "sam", "name": "Sam"}
        assert int(response["Content-Length"]) == len(response.content)
        assert "ETag" not in response
        assert response["Cache-Control"] == "private"

    def test_child_location_kept_for_connection(self, site: Site) -> None:
        """Sam shares his location with connections: the aunt sees it, marked private."""
        response = site.browser("aunt_jo").get("/profile/sam")

        assert json.loads(response.content)["location"] == "Leeds"
        assert response["Cache-Control"] == "private"
        assert response["ETag"] == '"v1"'

    def test_children_dropped_from_suggestions(self, site: Site) -> None:
        """Children are never suggested to a stranger."""
        body = json.loads(site.browser("stranger").get("/suggestions").content)

        assert body == {"suggestions": [{"id": "aunt_jo"}]}

    def test_gzipped_json_is_filtered(self, site: Site) -> None:
        """A gzip-encoded JSON body is decoded, filtered and sent uncompressed."""
        response = site.browser("stranger").get("/gzipped/sam")

        assert json.loads(response.content) == {"id": "sam", "name": "Sam"}
        assert "Content-Encoding" not in response

    def test_unreadable_json_is_withheld(self, site: Site) -> None:
        """JSON in a coding childsafe cannot read is withheld, not sent unfiltered."""
        response = site.browser("stranger").get("/brotli/sam")

        assert response.status_code == 500
        assert json.loads(response.content)["title"] == "Response withheld"

    def test_failing_filter_withholds(self, site: Site) -> None:
        """A filter that fails withholds the response rather than send it unfiltered."""

        @attrs.frozen
        class FailingFilter(ResponseFilter):
            def apply(self, body: object, allowed: Any, *, viewer: str | None = None) -> object:
                del body, allowed, viewer
                raise RuntimeError("bug")

        with override_settings(CHILDSAFE=childsafe_settings(RESPONSE_FILTER=FailingFilter())):
            response = site.browser("stranger").get("/profile/sam")

        assert response.status_code == 500
        assert b"Leeds" not in response.content

    @pytest.mark.parametrize(
        ("url", "status", "expected"),
        [
            ("/own/sam", 200, b'"location": "Leeds"'),
            ("/own-cbv/sam", 200, b'"location": "Leeds"'),
            ("/page/sam", 200, b"<p>sam is at Leeds</p>"),
            ("/empty", 204, b""),
        ],
        ids=["exempt view", "exempt class", "html", "empty"],
    )
    def test_left_untouched(self, site: Site, url: str, status: int, expected: bytes) -> None:
        """Exempt views, non-JSON responses and empty bodies are untouched."""
        response = site.browser("stranger").get(url)

        content = b"".join(response.streaming_content) if response.streaming else response.content
        assert response.status_code == status
        assert expected in content if expected else content == b""

    def test_streamed_json_is_filtered(self, site: Site) -> None:
        """Streamed JSON is read whole and filtered, as in every adapter."""
        response = site.browser("stranger").get("/streamed/sam")
        assert response.status_code == 200
        assert not response.streaming
        assert b"Leeds" not in response.content
        assert "private" in response["Cache-Control"]

    def test_no_filter_configured(self, site: Site) -> None:
        """Without ``RESPONSE_FILTER`` JSON responses are sent as the view wrote them."""
        with override_settings(CHILDSAFE=childsafe_settings(RESPONSE_FILTER=None)):
            response = site.browser("stranger").get("/profile/sam")

        assert json.loads(response.content)["location"] == "Leeds"

    def test_filter_options_from_a_mapping(self, site: Site) -> None:
        """A mapping configures the filter's field names."""
        options = {"location_fields": ["name"]}
        with override_settings(CHILDSAFE=childsafe_settings(RESPONSE_FILTER=options)):
            body = json.loads(site.browser("stranger").get("/profile/sam").content)

        assert body == {"id": "sam", "location": "Leeds"}


class TestDisabled:
    def test_disabled_checks_and_filters_nothing(
        self, site: Site, caplog: pytest.LogCaptureFixture
    ) -> None:
        """``ENABLED=False`` runs views unchecked and unfiltered, resolves, and warns."""
        with (
            caplog.at_level(logging.WARNING),
            override_settings(CHILDSAFE=childsafe_settings(ENABLED=False)),
        ):
            browser = site.browser("stranger")
            sent = browser.post("/dm/sam")
            profile = json.loads(browser.get("/profile/sam").content)
            who = json.loads(browser.get("/whoami").content)

        assert sent.status_code == 201
        assert profile["location"] == "Leeds"
        assert who == {"account": "stranger", "source": "session_account('account_id')"}
        assert "childsafe is DISABLED" in caplog.text


@pytest.fixture(name="database", scope="module")
def _database(django_env: None) -> None:
    call_command("migrate", run_syncdb=True, verbosity=0)


class TestDjangoUser:
    @pytest.mark.usefixtures("database")
    def test_signed_in_user(self, kind: str) -> None:
        """``django_user`` loads the signed-in user's account by primary key."""
        from django.contrib.auth.models import User  # type: ignore[import-untyped]  # noqa: PLC0415

        user = User.objects.create_user(username=f"stranger-{kind}")
        pk = str(user.pk)
        try:
            repository = MemoryRepository([SAM, attrs.evolve(STRANGER, id=pk)])
            settings = childsafe_settings(REPOSITORY=repository, RESOLVERS=[django_user])
            with override_settings(ROOT_URLCONF=URLs, MIDDLEWARE=MIDDLEWARE, CHILDSAFE=settings):
                client = AsyncClient() if kind == "async" else Client()
                signed_out = json.loads(_run(client.get("/whoami")).content)
                _run(client.aforce_login(user) if kind == "async" else client.force_login(user))
                who = json.loads(_run(client.get("/whoami")).content)
                denied = _run(client.post("/dm/sam"))
        finally:
            user.delete()

        assert signed_out == {"account": ANONYMOUS_ID, "source": "anonymous"}
        assert who == {"account": pk, "source": "django_user"}
        assert problem(denied)["reason"] == "not_connected"

    def test_default_resolver_is_django_user(self) -> None:
        """Without ``RESOLVERS`` the middleware uses ``django_user``."""
        with override_settings(CHILDSAFE={"REPOSITORY": MemoryRepository()}):
            middleware = ChildsafeMiddleware(lambda _: HttpResponse())

        assert middleware.config.resolvers == (django_user,)
        assert repr(django_user) == "django_user"


class TestResolvers:
    @pytest.fixture(name="factory")
    def _factory(self) -> RequestFactory:
        return RequestFactory()

    def test_need_the_django_request(self) -> None:
        """The Django resolvers fail closed on another framework's request."""
        other = WSGIRequest({"REQUEST_METHOD": "GET"})

        for resolver in (django_user, session_account()):
            resolution = resolve([resolver], other)
            assert (resolution.account.id, resolution.source) == (ANONYMOUS_ID, "error")

    def test_need_a_repository(self, factory: RequestFactory) -> None:
        """Without a repository the resolvers fail closed."""
        request = DjangoRequest(factory.get("/"))

        resolution = resolve([session_account()], request)

        assert resolution.source == "error"
        assert "needs CHILDSAFE['REPOSITORY']" in str(resolution.error)

    def test_need_their_middleware(self, factory: RequestFactory) -> None:
        """Without the auth or session middleware the resolvers fail closed, saying why."""
        request = DjangoRequest(factory.get("/"), MemoryRepository())

        user = resolve([django_user], request)
        session = resolve([session_account()], request)

        assert "put AuthenticationMiddleware before" in str(user.error)
        assert "put SessionMiddleware before" in str(session.error)

    def test_session_account_names(self) -> None:
        """``session_account`` names itself after its key and refuses an empty key."""
        assert repr(session_account("uid")) == "session_account('uid')"
        with pytest.raises(ConfigurationError, match="expected a session key"):
            session_account("")


class TestDjangoRequest:
    @pytest.fixture(name="factory")
    def _factory(self) -> RequestFactory:
        return RequestFactory()

    def test_reads_the_request(self, factory: RequestFactory) -> None:
        """Method, path, headers, cookies, query and path parameters come from Django."""
        http = factory.post(
            "/u/42?to=sam&to=alex&by=kim&by=kim",
            data=json.dumps({"to": "maya"}),
            content_type="application/json",
            headers={"X-Trace": "t1"},
        )
        http.COOKIES["theme"] = "dark"
        request = DjangoRequest(http, params={"user_id": "42"})

        assert isinstance(request, Request)
        assert (request.method, request.path) == ("POST", "/u/42")
        assert (request.header("x-trace"), request.header("missing")) == ("t1", None)
        assert (request.cookie("theme"), request.cookie("other")) == ("dark", None)
        # Django's own GET.get() answers the last of two values, other frameworks the
        # first: a field given twice with different values is refused instead.
        assert (request.query("to"), request.query("missing")) == (None, None)
        assert request.query("by") == "kim"
        assert (request.path_param("user_id"), request.path_param("missing")) == ("42", None)
        assert request.json() == {"to": "maya"}
        assert request.json() is request.json()
        assert json.loads(http.body) == {"to": "maya"}

    def test_header_names_in_any_case(self, factory: RequestFactory) -> None:
        """Headers are found whatever the case of the name, Content-Type included,
        as ``request.headers`` finds them."""
        http = factory.post(
            "/", data="{}", content_type="application/json", headers={"Authorization": "Bearer t"}
        )
        request = DjangoRequest(http)

        for name in ("authorization", "Authorization", "AUTHORIZATION"):
            assert request.header(name) == http.headers[name] == "Bearer t"
        assert request.header("Content-Type") == request.header("content-type")
        assert request.header("Content-Type") == "application/json"
        assert request.header("content-length") == "2"

    @pytest.mark.parametrize(
        ("content_type", "body", "meta"),
        [
            ("text/plain", b'{"to": "sam"}', {}),
            ("application/json", b"{not json", {}),
            ("application/json", b'{"to": "sam"}', {"CONTENT_LENGTH": ""}),
            ("application/json", b'{"to": "sam"}', {"CONTENT_LENGTH": "chunked"}),
            ("application/json", b'{"to": "sam"}', {"CONTENT_LENGTH": "99999999"}),
        ],
    )
    def test_json_only_when_safe_to_read(
        self, factory: RequestFactory, content_type: str, body: bytes, meta: dict[str, str]
    ) -> None:
        """The body is parsed only when it is JSON of a known, bounded length."""
        http = factory.post("/", data=body, content_type=content_type)
        http.META.update(meta)

        assert DjangoRequest(http).json() is None

    def test_json_too_large_for_django(self, factory: RequestFactory) -> None:
        """A body over Django's own upload limit reads as no JSON, not an error."""
        http = factory.post(
            "/", data=json.dumps({"to": "x" * 100}), content_type="application/json"
        )

        with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10):
            assert DjangoRequest(http).json() is None


class TestMiddleware:
    def test_async_capable(self) -> None:
        """The middleware adopts the mode of the handler it wraps."""

        async def async_view(request: Any) -> Any:
            return HttpResponse()

        with override_settings(CHILDSAFE=childsafe_settings()):
            sync = ChildsafeMiddleware(lambda _: HttpResponse())
            asynchronous = ChildsafeMiddleware(async_view)

        assert ChildsafeMiddleware.sync_capable and ChildsafeMiddleware.async_capable
        assert not iscoroutinefunction(sync)
        assert iscoroutinefunction(asynchronous)

    def test_process_view_alone(self) -> None:
        """``process_view`` resolves the account itself when ``__call__`` did not run."""
        request = RequestFactory().post("/dm/sam")
        request.session = {"account_id": "stranger"}
        with override_settings(CHILDSAFE=childsafe_settings()):
            middleware = ChildsafeMiddleware(lambda _: HttpResponse())

        response = middleware.process_view(request, send_dm, (), {"user_id": "sam"})

        assert problem(response)["reason"] == "not_connected"
        assert request_context(request).account.id == "stranger"

    def test_declarations_checked_on_every_request(self) -> None:
        """A declared view is checked on every request, however it is called: again and
        again, with a made-up method, or as a view object that cannot be hashed."""

        @action("dm.send", target=path_param("user_id"))
        class Unhashable:
            __hash__ = None  # type: ignore[assignment]

            def __call__(self, request: Any, user_id: str) -> Any:
                return HttpResponse(f"{request.path} {user_id}")

        with override_settings(CHILDSAFE=childsafe_settings()):
            middleware = ChildsafeMiddleware(lambda _: HttpResponse())
        for view, method in [(send_dm, "POST"), (send_dm, "POST"), (send_dm, "BREW")]:
            request = RequestFactory().generic(method, "/dm/sam")
            request.session = {"account_id": "stranger"}
            response = middleware.process_view(request, view, (), {"user_id": "sam"})
            assert problem(response)["reason"] == "not_connected"
        request = RequestFactory().post("/dm/sam")
        request.session = {"account_id": "stranger"}
        response = middleware.process_view(request, Unhashable(), (), {"user_id": "sam"})
        assert problem(response)["reason"] == "not_connected"

    def test_request_context_needs_the_middleware(self) -> None:
        """``request_context`` says what is missing when the middleware did not run."""
        with pytest.raises(RuntimeError, match="ChildsafeMiddleware' in MIDDLEWARE"):
            request_context(RequestFactory().get("/"))

    def test_bad_policy_stops_start_up(self) -> None:
        """A bad policy raises ImproperlyConfigured when Django builds the middleware."""
        from django.core.handlers.wsgi import WSGIHandler  # type: ignore[import-untyped]  # noqa: PLC0415

        policy = {"bands": {"13_15": {"direct_messages": {"default": "everyone"}}}}
        with (
            override_settings(
                ROOT_URLCONF=URLs,
                MIDDLEWARE=MIDDLEWARE,
                CHILDSAFE=childsafe_settings(POLICY=policy),
            ),
            pytest.raises(ImproperlyConfigured, match=r"childsafe\.E003.*below the floor"),
        ):
            WSGIHandler()

    def test_bad_policy_through_the_client(self) -> None:
        """The test client's first request fails the same way."""
        with (
            override_settings(
                ROOT_URLCONF=URLs, MIDDLEWARE=MIDDLEWARE, CHILDSAFE=childsafe_settings(POLICY=7)
            ),
            pytest.raises(ImproperlyConfigured, match="must be a path, a mapping or a Policy"),
        ):
            Client().get("/whoami")

    def test_order_problems_stop_start_up(self) -> None:
        """The middleware refuses to start when it is placed before the auth middleware."""
        with (
            override_settings(MIDDLEWARE=[OURS, AUTH], CHILDSAFE=childsafe_settings()),
            pytest.raises(ImproperlyConfigured, match=r"childsafe\.E014"),
        ):
            ChildsafeMiddleware(lambda _: HttpResponse())

    def test_repository_factory(self) -> None:
        """A dotted path to a repository class is instantiated once, at start-up."""
        dotted = f"{MemoryRepository.__module__}.MemoryRepository"
        with override_settings(CHILDSAFE={"REPOSITORY": dotted, "RESOLVERS": []}):
            middleware = ChildsafeMiddleware(lambda _: HttpResponse())

        assert isinstance(middleware.config.repository, MemoryRepository)

    @pytest.mark.parametrize(
        ("factory", "message"),
        [
            (lambda: (_ for _ in ()).throw(OSError("no database")), "raised OSError"),
            (lambda: "not a repository", "is a str, not an AccountRepository"),
            (AsyncRepository, "is async"),
        ],
    )
    def test_bad_repository_factory(self, factory: Callable[[], object], message: str) -> None:
        """A factory that raises or builds no (sync) repository stops start-up."""
        with (
            override_settings(CHILDSAFE={"REPOSITORY": factory, "RESOLVERS": []}),
            pytest.raises(ImproperlyConfigured, match=message),
        ):
            ChildsafeMiddleware(lambda _: HttpResponse())


# -- system checks --------------------------------------------------------------------

BELOW_FLOOR = {"bands": {"13_15": {"direct_messages": {"default": "everyone"}}}}
REPOSITORY = MemoryRepository()
# The test URLconf's undecorated function view, declared for every method.
ROUTED: dict[str, object] = {
    "* /routed/{user_id}": action_rule("dm.send", target=path_param("user_id"))
}
GOOD: dict[str, object] = {"REPOSITORY": REPOSITORY, "ROUTES": ROUTED}

# One bad setting per case, and the check ids it must give: (CHILDSAFE, MIDDLEWARE, ids).
CHECK_CASES: dict[str, tuple[object, list[str] | None, list[str]]] = {
    "not a dict": ("childsafe.toml", None, ["E001"]),
    "unknown key": ({**GOOD, "POLICYY": None}, None, ["E002"]),
    "policy below the floor": ({**GOOD, "POLICY": BELOW_FLOOR}, None, ["E003"]),
    "two policy problems": (
        {
            **GOOD,
            "POLICY": {
                "bands": {
                    "13_15": {
                        "direct_messages": {"default": "everyone"},
                        "discoverable": {"default": True},
                    }
                }
            },
        },
        None,
        ["E003", "E003"],
    ),
    "policy file missing": ({**GOOD, "POLICY": "/nonexistent/childsafe.toml"}, None, ["E003"]),
    "policy of a wrong type": ({**GOOD, "POLICY": 3}, None, ["E003"]),
    "repository missing": ({}, None, ["E004"]),
    "repository not importable": ({"REPOSITORY": "nowhere.Accounts"}, None, ["E005"]),
    "repository class without methods": (
        {"REPOSITORY": NotARepository},
        None,
        ["E005"],
    ),
    "repository of a wrong type": ({"REPOSITORY": 42}, None, ["E005"]),
    "async repository": ({"REPOSITORY": AsyncRepository()}, None, ["E005"]),
    "resolvers as a string": (
        {**GOOD, "RESOLVERS": "childsafe.contrib.django.django_user"},
        None,
        ["E006"],
    ),
    "resolvers not a list": ({**GOOD, "RESOLVERS": 3}, None, ["E006"]),
    "resolver not importable": ({**GOOD, "RESOLVERS": ["nowhere.resolver"]}, None, ["E007"]),
    "resolver not callable": ({**GOOD, "RESOLVERS": [3]}, None, ["E007"]),
    "async resolver": ({**GOOD, "RESOLVERS": [async_resolver]}, None, ["E007"]),
    "renderer not importable": ({**GOOD, "RENDERER": "nowhere.render"}, None, ["E008"]),
    "renderer not callable": ({**GOOD, "RENDERER": 3}, None, ["E008"]),
    "filter option misspelt": (
        {**GOOD, "RESPONSE_FILTER": {"location_field": ["geo"]}},
        None,
        ["E009"],
    ),
    "filter option invalid": ({**GOOD, "RESPONSE_FILTER": {"id_field": ""}}, None, ["E009"]),
    "filter not importable": ({**GOOD, "RESPONSE_FILTER": "nowhere.Filter"}, None, ["E009"]),
    "filter of a wrong type": ({**GOOD, "RESPONSE_FILTER": 3}, None, ["E009"]),
    "routes not importable": ({**GOOD, "ROUTES": "nowhere.routes"}, None, ["E010"]),
    "routes invalid": ({**GOOD, "ROUTES": {"SEND /x": action_rule("live.start")}}, None, ["E010"]),
    "routes of a wrong type": ({**GOOD, "ROUTES": 3}, None, ["E010"]),
    "enabled not a bool": ({**GOOD, "ENABLED": "no"}, None, ["E011"]),
    "max body negative": ({**GOOD, "MAX_BODY": -1}, None, ["E012"]),
    "max body a bool": ({**GOOD, "MAX_BODY": True}, None, ["E012"]),
    "middleware missing": (GOOD, [SESSION, AUTH], ["E013"]),
    "middleware before auth": (GOOD, [SESSION, OURS, AUTH], ["E014"]),
    "django_user without auth": (GOOD, [SESSION, OURS], ["E015"]),
    "session resolver without sessions": (
        {**GOOD, "RESOLVERS": [session_account()]},
        [AUTH, OURS],
        ["E016"],
    ),
    "session resolver before sessions": (
        {**GOOD, "RESOLVERS": [session_account()]},
        [AUTH, OURS, SESSION],
        ["E016"],
    ),
    "disabled": ({**GOOD, "ENABLED": False}, None, ["W001"]),
    "strict not a bool": ({**GOOD, "STRICT": "yes"}, None, ["E018"]),
    "exempt a string": ({**GOOD, "EXEMPT": "admin"}, None, ["E019"]),
    "exempt without a reason": ({**GOOD, "EXEMPT": {"admin": ""}}, None, ["E019"]),
    "media body cap not a size": ({**GOOD, "MAX_MEDIA_BODY": -1}, None, ["E021"]),
    "media files cap not a count": ({**GOOD, "MAX_MEDIA_FILES": 0}, None, ["E021"]),
    "media inspector without inspect": ({**GOOD, "MEDIA_INSPECTOR": 3}, None, ["E021"]),
    "media inspector not importable": (
        {**GOOD, "MEDIA_INSPECTOR": "nowhere.Inspector"},
        None,
        ["E021"],
    ),
}

# What each id is about: two different errors never share an id.
ID_TOPICS = {
    "E001": "must be a dict",
    "E002": "unknown key 'POLICYY'; did you mean 'POLICY'?",
    "E003": "CHILDSAFE['POLICY']",
    "E004": "is not set",
    "E005": "CHILDSAFE['REPOSITORY']",
    "E006": "must be a list of resolvers",
    "E007": "CHILDSAFE['RESOLVERS'][0]",
    "E008": "CHILDSAFE['RENDERER']",
    "E009": "CHILDSAFE['RESPONSE_FILTER']",
    "E010": "CHILDSAFE['ROUTES']",
    "E011": "must be True or False",
    "E012": "must be a size in bytes",
    "E013": "is not in MIDDLEWARE",
    "E014": "must come after",
    "E015": "The django_user resolver reads request.user",
    "E016": "A session_account resolver reads request.session",
    "E017": "in a deployment",
    "E018": "CHILDSAFE['STRICT']",
    "E019": "CHILDSAFE['EXEMPT']",
    "E020": "declares no action",
    "E021": "media",
    "E022": "no media inspector is configured",
    "E023": "the route has no parameter 'user_id'",
    "W001": "childsafe is disabled",
    "W002": "served unchecked",
}


def _documented_ids() -> list[str]:
    doc = checks_module.__doc__ or ""
    return re.findall(r"^(E\d{3}|W\d{3})\s", doc, flags=re.MULTILINE)


class TestChecks:
    @pytest.mark.parametrize("case", list(CHECK_CASES))
    def test_each_bad_setting_gives_its_id(self, case: str) -> None:
        """Each bad setting is reported with exactly its id, and a message about it."""
        childsafe, middleware, ids = CHECK_CASES[case]
        with override_settings(CHILDSAFE=childsafe, MIDDLEWARE=middleware or MIDDLEWARE):
            messages = check_settings()

        assert [m.id for m in messages] == [f"childsafe.{i}" for i in ids]
        for message in messages:
            assert ID_TOPICS[message.id.removeprefix("childsafe.")] in message.msg

    def test_good_settings_pass(self) -> None:
        """A complete, valid configuration of objects and dotted paths has no findings."""
        settings = childsafe_settings(
            POLICY=load_policy(),
            RENDERER="childsafe.problem_response",
            RESPONSE_FILTER=f"{__name__}.GEO_FILTER",
            ROUTES=RouteTable(),
        )
        with override_settings(CHILDSAFE=settings, MIDDLEWARE=MIDDLEWARE):
            assert check_settings() == []

    def test_policy_file_and_repository_class(self, tmp_path: Path) -> None:
        """A policy file path and a repository class (not built by checks) pass."""
        policy = tmp_path / "childsafe.toml"
        policy.write_text('[bands.16_17.comments]\ndefault = "nobody"\n')
        settings = {"POLICY": policy, "REPOSITORY": f"{__name__}.MemoryRepository"}
        with override_settings(CHILDSAFE=settings, MIDDLEWARE=MIDDLEWARE):
            assert check_settings() == []

    @pytest.mark.parametrize(
        "middleware",
        [
            ["nowhere.Middleware", SESSION, AUTH, "childsafe.contrib.django.ChildsafeMiddleware"],
            [SESSION, AUTH, f"{SubclassedMiddleware.__module__}.SubclassedMiddleware"],
        ],
    )
    def test_middleware_found_by_class(self, middleware: list[str]) -> None:
        """The middleware is recognised by its re-exported path or a subclass."""
        with override_settings(CHILDSAFE=GOOD, MIDDLEWARE=middleware):
            assert check_settings() == []

    def test_hints(self) -> None:
        """Messages carry hints: a string of resolvers gets the list to write instead."""
        resolvers = {**GOOD, "RESOLVERS": "myapp.resolver"}
        with override_settings(CHILDSAFE=resolvers, MIDDLEWARE=MIDDLEWARE):
            (message,) = check_settings()

        assert message.hint == "CHILDSAFE['RESOLVERS'] = ['myapp.resolver']"

    def test_every_id_is_documented_tested_and_unique(self) -> None:
        """The ids in the code, both documented tables and the tests agree, once each."""
        sources = [Path(conf_module.__file__ or ""), Path(checks_module.__file__ or "")]
        in_code = set()
        for source in sources:
            text = source.read_text()
            in_code |= set(re.findall(r'"((?:childsafe\.)?[EW]\d{3})"', text))
        in_code = {i.removeprefix("childsafe.") for i in in_code}
        documented = _documented_ids()
        tested = {i for *_, ids in CHECK_CASES.values() for i in ids} | {
            "E017",
            "E020",
            "E022",
            "E023",
            "W002",
        }

        in_docs = Path(__file__).parents[1] / "docs" / "django.md"
        table = set(re.findall(r"^\| `childsafe\.([EW]\d{3})`", in_docs.read_text(), re.MULTILINE))

        assert len(documented) == len(set(documented))
        assert set(documented) == in_code == tested == set(ID_TOPICS) == table

    def test_media_route_without_inspector(self) -> None:
        """Strict mode reports a media route with no MEDIA_INSPECTOR, naming it (E022),
        and the middleware does not start."""
        media = {**GOOD, "ROUTES": {**ROUTED, "POST /photos": action_rule("media.upload")}}
        with override_settings(ROOT_URLCONF=URLs, CHILDSAFE=media):
            found = [m for m in check_routes() if m.id == "childsafe.E022"]
            assert len(found) == 1
            assert "'POST /photos'" in found[0].msg
            assert ID_TOPICS["E022"] in found[0].msg
            with pytest.raises(ConfigurationError, match="POST /photos"):
                ChildsafeMiddleware(lambda _request: None)

    def test_path_param_the_pattern_lacks(self) -> None:
        """A declared path_param naming no parameter of its URL pattern is an error
        (E023), with STRICT off too, naming the route, the action and the parameters
        the pattern has; the middleware does not start."""
        for strict in (True, False):
            settings = {**GOOD, "STRICT": strict}
            with override_settings(ROOT_URLCONF=MisnamedURLs, CHILDSAFE=settings):
                found = [m for m in check_routes() if m.id == "childsafe.E023"]
                assert len(found) == 1
                assert found[0].msg.startswith("* /users/<int:uid>/dm (misnamed): dm.send")
                assert ID_TOPICS["E023"] in found[0].msg
                assert "(its parameters: uid)" in found[0].msg
                with pytest.raises(ConfigurationError, match="path_param\\('user_id'\\)"):
                    ChildsafeMiddleware(lambda _request: None)

    def test_path_params_from_includes_regexes_and_kwargs(self) -> None:
        """A parameter may come from an including pattern, a ``re_path`` named group or
        the pattern's extra keyword arguments: none of these is an E023."""
        with override_settings(ROOT_URLCONF=ParamURLs, CHILDSAFE=GOOD):
            assert [m for m in check_routes() if m.id == "childsafe.E023"] == []
            assert all(not r.problems for r in routes())

    def test_deploy_check(self) -> None:
        """``check --deploy`` turns a disabled childsafe into an error."""
        with override_settings(CHILDSAFE={**GOOD, "ENABLED": False}):
            (message,) = check_deploy()
        with override_settings(CHILDSAFE=GOOD):
            assert check_deploy() == []

        assert message.id == "childsafe.E017"
        assert ID_TOPICS["E017"] in message.msg

    def test_unprotected_routes(self) -> None:
        """Strict mode reports each route that declares no action and is not exempt."""
        loose = {**GOOD, "ROUTES": {}}
        with override_settings(ROOT_URLCONF=URLs, CHILDSAFE=loose):
            errors = check_routes()
        with override_settings(ROOT_URLCONF=URLs, CHILDSAFE={**loose, "STRICT": False}):
            warnings = check_routes()
        with override_settings(ROOT_URLCONF=URLs, CHILDSAFE=GOOD):
            assert check_routes() == []

        assert [m.id for m in errors] == ["childsafe.E020"]
        assert "* /routed/<str:user_id> (routed)" in errors[0].msg
        assert ID_TOPICS["E020"] in errors[0].msg
        assert [m.id for m in warnings] == ["childsafe.W002"]
        assert ID_TOPICS["W002"] in warnings[0].msg

    def test_exempt_by_path_prefix(self) -> None:
        """CHILDSAFE["EXEMPT"] exempts routes by path prefix, with the reason shown."""
        settings = {**GOOD, "ROUTES": {}, "EXEMPT": {"/routed/": "a test route"}}
        with override_settings(ROOT_URLCONF=URLs, CHILDSAFE=settings):
            assert check_routes() == []
            listed = {r.path: r.protection for r in routes()}
        assert listed["/routed/<str:user_id>"] == "exempt: a test route"
        assert listed["/poke/<str:user_id>"] == "dm.send (target path_param('user_id'))"

    @pytest.mark.parametrize(
        "repository",
        [
            "tests.test_django.MemoryRepository",
            MemoryRepository,
            "tests.test_django.memory_repository",
        ],
    )
    def test_a_repository_class_or_factory_still_gets_its_routes_checked(
        self, repository: object
    ) -> None:
        """With ``REPOSITORY`` a class or a factory (as the quickstart has it), which the
        checks do not build, ``manage.py check`` still reports an unprotected route
        (``E020``: it reported nothing, so the CI gate passed) and ``routes()`` (what
        ``childsafe routes --django`` prints) still applies ``EXEMPT`` and ``ROUTES``
        (it listed exempt and routed views as unprotected)."""
        loose = {**GOOD, "REPOSITORY": repository, "ROUTES": {}}
        exempted = {**loose, "EXEMPT": {"/routed/": "a test route"}}
        with override_settings(ROOT_URLCONF=URLs, CHILDSAFE=loose):
            errors = check_routes()
        with override_settings(ROOT_URLCONF=URLs, CHILDSAFE=exempted):
            assert check_routes() == []
            listed = {r.path: r.protection for r in routes()}
        with override_settings(ROOT_URLCONF=URLs, CHILDSAFE={**GOOD, "REPOSITORY": repository}):
            assert check_routes() == []
            routed = {r.path: r.protection for r in routes()}
        assert [m.id for m in errors] == ["childsafe.E020"]
        assert "* /routed/<str:user_id> (routed)" in errors[0].msg
        assert listed["/routed/<str:user_id>"] == "exempt: a test route"
        assert routed["/routed/<str:user_id>"] == "dm.send (target path_param('user_id'))"

    def test_an_async_repository_class_is_reported_by_the_checks(self) -> None:
        """An async ``REPOSITORY`` class is ``E005`` in ``manage.py check`` too (only an
        instance was checked; the class was left for the middleware to refuse)."""
        with override_settings(
            CHILDSAFE={**GOOD, "REPOSITORY": "tests.test_django.AsyncRepository"}
        ):
            found = [m for m in check_settings() if m.id != "childsafe.E013"]
        assert [m.id for m in found] == ["childsafe.E005"]
        assert "class AsyncRepository is async" in found[0].msg

    def test_the_checks_repository_refuses_to_be_used(self) -> None:
        """The repository of the settings the checks load (a factory they do not call)
        raises a ConfigurationError naming the setting if anything calls it."""
        with override_settings(CHILDSAFE={**GOOD, "REPOSITORY": MemoryRepository}):
            config = conf_module.load(instantiate=False).config
        assert config is not None
        with pytest.raises(ConfigurationError, match=r"CHILDSAFE: REPOSITORY: .*MemoryRepository"):
            config.repository.get_account("sam")
        with pytest.raises(ConfigurationError, match="built when the middleware starts"):
            config.repository.relationship(SAM, SAM)

    @pytest.mark.parametrize("prefix", ["/rout", "/rout/", "/routed/<str"])
    def test_exempt_prefix_covers_whole_segments(self, prefix: str) -> None:
        """A path prefix covers the paths under it, whole segments only: ``/rout`` does
        not exempt ``/routed/...``, which strict mode still refuses."""
        settings = {**GOOD, "ROUTES": {}, "EXEMPT": {prefix: "a test route"}}
        with override_settings(ROOT_URLCONF=URLs, CHILDSAFE=settings):
            listed = {r.path: r.protection for r in routes()}
            errors = check_routes()
        assert listed["/routed/<str:user_id>"] == "UNPROTECTED"
        assert [m.id for m in errors] == ["childsafe.E020"]

    def test_middleware_refuses_to_start(self) -> None:
        """The middleware itself refuses an unprotected route (checks do not run under
        production servers)."""
        with (
            override_settings(ROOT_URLCONF=URLs, CHILDSAFE={**GOOD, "ROUTES": {}}),
            pytest.raises(ConfigurationError, match="routed declares no action"),
        ):
            ChildsafeMiddleware(lambda _request: HttpResponse("never"))

    def test_manage_py_check_fails_on_a_bad_policy(self) -> None:
        """``manage.py check`` runs the registered checks and fails on a bad policy."""
        out = io.StringIO()
        with override_settings(ROOT_URLCONF=URLs, MIDDLEWARE=MIDDLEWARE, CHILDSAFE=GOOD):
            call_command("check", stdout=out)
            with (
                override_settings(CHILDSAFE={**GOOD, "POLICY": BELOW_FLOOR}),
                pytest.raises(SystemCheckError, match=r"childsafe\.E003"),
            ):
                call_command("check", stdout=out)

        assert "no issues" in out.getvalue()

    def test_manage_py_check_deploy(self) -> None:
        """``manage.py check --deploy`` fails when childsafe is disabled."""
        disabled = {**GOOD, "ENABLED": False}
        with (
            override_settings(ROOT_URLCONF=URLs, MIDDLEWARE=MIDDLEWARE, CHILDSAFE=disabled),
            pytest.raises(SystemCheckError, match=r"childsafe\.E017"),
        ):
            call_command("check", deploy=True, stdout=io.StringIO(), stderr=io.StringIO())


class TestPackaging:
    def test_missing_django_names_the_extra(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Importing the integration without Django says which extra to install."""
        monkeypatch.setitem(sys.modules, "django", None)
        spec = importlib.util.spec_from_file_location(
            "childsafe_django_without_django", childsafe_django.__file__
        )
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)

        with pytest.raises(MissingExtraError, match=r"pip install 'childsafe\[django\]'"):
            spec.loader.exec_module(module)

    def test_public_names(self) -> None:
        """The package exports what the docs describe, sorted."""
        assert childsafe_django.__all__ == sorted(childsafe_django.__all__)
        for name in childsafe_django.__all__:
            assert getattr(childsafe_django, name) is not None

    def test_app_config(self) -> None:
        """The app is installed under the label ``childsafe``."""
        from django.apps import apps  # type: ignore[import-untyped]  # noqa: PLC0415

        config = apps.get_app_config("childsafe")

        assert config.name == "childsafe.contrib.django"


# -- memory --------------------------------------------------------------------------

SEEN: list[weakref.ref[Any]] = []


class Remember:
    """A Django middleware in front of childsafe's, keeping a weak reference to each
    request."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        SEEN.append(weakref.ref(request))
        return self.get_response(request)


class MisnamedURLs:
    """A declaration of ``path_param("user_id")`` on a pattern whose parameter is ``uid``."""

    urlpatterns: ClassVar[list[Any]] = [
        *URLs.urlpatterns,
        path("users/<int:uid>/dm", send_dm, name="misnamed"),
    ]


class ParamURLs:
    """``user_id`` given to ``send_dm`` every way Django gives a view a parameter."""

    urlpatterns: ClassVar[list[Any]] = [
        *URLs.urlpatterns,
        path("team/<str:user_id>/", include([path("dm", send_dm)])),
        re_path(r"^legacy/(?P<user_id>\w+)/dm$", send_dm),
        path("me/dm", send_dm, {"user_id": "alex"}),
    ]


class MemoryURLs:
    urlpatterns: ClassVar[list[Any]] = [path("dm/<str:user_id>", send_dm)]


class TestMemory:
    @pytest.mark.parametrize(("token", "status"), [("aunt_jo", "201"), ("stranger", "403")])
    def test_requests_are_freed_without_the_garbage_collector(
        self, caplog: pytest.LogCaptureFixture, token: str, status: str
    ) -> None:
        """The middleware leaves no reference cycle through the request: once the
        server lets go of it, reference counting frees it (with its ``META`` and body)
        at once, instead of leaving every request to the garbage collector. Checked
        through Django's own WSGI handler (the test client keeps responses and requests
        in cycles of its own)."""
        from django.core.handlers.wsgi import WSGIHandler  # noqa: PLC0415

        repository = MemoryRepository()
        settings = childsafe_settings(
            RESOLVERS=[bearer_token(repository.get_account)], REPOSITORY=repository
        )
        middleware = ["tests.test_django.Remember", OURS]
        statuses: list[str] = []

        def start_response(status: str, headers: object, exc_info: object = None) -> None:
            del headers, exc_info
            statuses.append(status)

        # Django logs each 403 with its request, and pytest keeps the log records.
        caplog.set_level(logging.ERROR, logger="django.request")
        with override_settings(ROOT_URLCONF=MemoryURLs, MIDDLEWARE=middleware, CHILDSAFE=settings):
            handler = WSGIHandler()
            factory = RequestFactory(HTTP_AUTHORIZATION=f"Bearer {token}")
            SEEN.clear()
            gc.collect()
            gc.disable()
            try:
                for _ in range(3):
                    body = handler(factory.post("/dm/sam").environ, start_response)
                    b"".join(body)
                    body.close()
                    del body
                freed = [ref() is None for ref in SEEN]
            finally:
                gc.enable()
        assert [s.split()[0] for s in statuses] == [status] * 3
        assert freed == [True, True, True]
