"""One adapter contract: every scenario, the same expected outcome, on all six adapters.

The app is :class:`childsafe.testing.SocialApp`, built on each adapter by
:func:`childsafe.testing.build_app`: the plain WSGI and ASGI middlewares with a route
table, Flask, Django, Starlette (``@action`` with ``install``) and FastAPI
(``Depends(require(...))``). Its accounts: ``teen`` (14), ``kid`` (12), ``stranger``
(an adult connected to nobody), ``aunt`` (an adult connected to both children) and
``parent`` (``teen``'s). A bearer token is an account id.

Adding a scenario group: write a class whose tests take ``built`` (the default app on
the adapter under test) or ``make`` (``make(**options)`` builds it with keyword options
passed through to the adapter: the middleware, the Flask extension, Django's
``CHILDSAFE`` keys), and override the ``social`` fixture in the class to give the app
``extra_routes``. A scenario an adapter genuinely cannot have is skipped with
``pytest.skip("n/a: ...")``; a scenario that fails on some adapter is a bug to fix,
never skipped.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, cast
from wsgiref.util import is_hop_by_hop

import httpx
import pytest

from childsafe import (
    Account,
    DenialResponse,
    Relationship,
    Request,
    action_rule,
    bearer_token,
    path_param,
)
from childsafe.exceptions import ConfigurationError
from childsafe.testing import (
    ADAPTERS,
    AppRoute,
    BuiltApp,
    DenialPage,
    SocialApp,
    build_app,
    overridden,
)
from childsafe.testing._apps import Adapter
from childsafe.web import ANONYMOUS_ID
from tests import django_settings
from tests.media_support import MATCH, SENSITIVE, MarkerInspector, RecordingPreserver, png

PROBLEM = "application/problem+json"
DM_TO_PATH_TARGET = action_rule("dm.send", target=path_param("user_id"))

Make = Callable[..., BuiltApp]


DJANGO_ASGI = "django-asgi"
"""Django again, served by its ``ASGIHandler`` (as under uvicorn or daphne)."""
VARIANTS: tuple[str, ...] = (*ADAPTERS, DJANGO_ASGI)


def build(adapter: str, social: SocialApp, **options: Any) -> BuiltApp:
    """``build_app``, with Django under ASGI as one more variant."""
    if adapter == DJANGO_ASGI:
        return build_app("django", social, server="asgi", **options)
    return build_app(cast("Adapter", adapter), social, **options)


@pytest.fixture(name="adapter", params=VARIANTS)
def _adapter(request: pytest.FixtureRequest) -> str:
    adapter: str = request.param
    if adapter in {"django", DJANGO_ASGI}:
        # The suite's one Django configuration (see tests/django_settings.py).
        django_settings.setup()
    return adapter


@pytest.fixture(name="social")
def _social() -> SocialApp:
    return SocialApp()


@pytest.fixture(name="make")
def _make(adapter: str, social: SocialApp) -> Iterator[Make]:
    built: list[BuiltApp] = []

    def make(**options: Any) -> BuiltApp:
        app = build(adapter, social, **options)
        built.append(app)
        return app

    yield make
    for app in reversed(built):
        app.close()


@pytest.fixture(name="built")
def _built(make: Make) -> BuiltApp:
    return make()


def call(
    built: BuiltApp, account: str | None, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    """``method url`` as ``account`` (``None``: signed out)."""
    with built.client(account) as client:
        return client.request(method, url, **kwargs)


def problem(response: httpx.Response) -> dict[str, Any]:
    """The problem document of a denial, after checking that it is one."""
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert isinstance(body, dict)
    return body


# A DM to ``teen``, by each way of naming the target.
DM_TO_TEEN: Mapping[str, tuple[str, str, dict[str, Any]]] = {
    "path": ("POST", "/users/teen/messages", {}),
    "query": ("POST", "/messages?to=teen", {}),
    "json": ("POST", "/messages/json", {"json": {"to": "teen", "text": "hi"}}),
}
RAN_FOR_TEEN: Mapping[str, str] = {
    "path": "dm_path teen",
    "query": "dm_query teen",
    "json": "dm_json teen",
}


class TestAllowAndDeny:
    @pytest.mark.parametrize("how", sorted(DM_TO_TEEN))
    def test_allowed_request_runs_the_view(self, built: BuiltApp, how: str) -> None:
        """A connected adult's DM to a 14-year-old passes and the view runs once."""
        method, url, kwargs = DM_TO_TEEN[how]
        response = call(built, "aunt", method, url, **kwargs)
        assert response.status_code == 201, response.text
        assert response.json() == {"sent": "teen"}
        assert built.social.ran == [RAN_FOR_TEEN[how]]

    @pytest.mark.parametrize("how", sorted(DM_TO_TEEN))
    def test_denied_request_is_a_problem_and_the_view_never_runs(
        self, built: BuiltApp, how: str
    ) -> None:
        """A stranger's DM to a 14-year-old is a 403 problem+json naming the reason, and
        the view never runs."""
        method, url, kwargs = DM_TO_TEEN[how]
        body = problem(call(built, "stranger", method, url, **kwargs))
        assert (body["reason"], body["action"], body["status"]) == ("not_connected", "dm.send", 403)
        assert "teen" not in json.dumps(body)
        assert built.social.ran == []

    def test_denial_is_never_cached(self, built: BuiltApp) -> None:
        """A denial says ``Cache-Control: no-store``."""
        response = call(built, "stranger", "POST", "/users/teen/messages")
        assert response.headers.get("cache-control") == "no-store"

    @pytest.mark.parametrize(
        ("url", "kwargs"),
        [
            ("/users/nobody/messages", {}),
            ("/messages?to=nobody", {}),
            ("/messages", {}),
            ("/messages/json", {"json": {"to": "nobody"}}),
            ("/messages/json", {"json": {"text": "no target"}}),
            ("/messages/json", {"json": ["teen"]}),
            (
                "/messages/json",
                {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
            ),
        ],
    )
    def test_unknown_or_missing_target_is_unverifiable(
        self, built: BuiltApp, url: str, kwargs: dict[str, Any]
    ) -> None:
        """A target that is missing, unknown or unreadable is refused as unverifiable."""
        assert problem(call(built, "aunt", "POST", url, **kwargs))["reason"] == "unverifiable"
        assert built.social.ran == []

    @pytest.mark.parametrize(
        "content_type",
        ["application/json; charset=utf-8", "application/vnd.api+json", "text/plain", None],
    )
    def test_json_target_is_checked_whatever_the_content_type(
        self, built: BuiltApp, content_type: str | None
    ) -> None:
        """A stranger's JSON-body DM to a 14-year-old is refused whatever content type
        it claims (the view reads the body regardless)."""
        headers = {} if content_type is None else {"Content-Type": content_type}
        response = call(
            built, "stranger", "POST", "/messages/json", content=b'{"to": "teen"}', headers=headers
        )
        assert response.status_code == 403
        assert built.social.ran == []

    @pytest.mark.parametrize("account", ["stranger", "aunt"])
    def test_percent_encoded_target_is_decoded(self, built: BuiltApp, account: str) -> None:
        """A target written with percent-escapes (``te%65n``) is checked as the account
        it names."""
        response = call(built, account, "POST", "/users/te%65n/messages")
        if account == "stranger":
            assert problem(response)["reason"] == "not_connected"
            assert built.social.ran == []
        else:
            assert response.status_code == 201
            assert built.social.ran == ["dm_path teen"]

    def test_trailing_slash_never_skips_the_check(self, built: BuiltApp) -> None:
        """A stranger's DM with a trailing slash on the path is refused or not routed;
        it never reaches the view unchecked."""
        response = call(built, "stranger", "POST", "/users/teen/messages/")
        assert not response.is_success
        assert built.social.ran == []

    @pytest.mark.parametrize("strict", [True, False])
    @pytest.mark.parametrize("path", ["//users/teen/messages", "///users/teen/messages/"])
    def test_leading_slashes_never_skip_the_check(
        self, make: Make, strict: bool, path: str
    ) -> None:
        """A stranger's DM with extra leading slashes, which routers such as Werkzeug's
        (and the plain apps') serve as the path without them, is refused or not routed,
        strict or not; it never reaches the view unchecked."""
        built = make(strict=strict)
        response = call(built, "stranger", "POST", f"http://testserver{path}")
        assert not response.is_success
        assert built.social.ran == []
        if response.status_code == 403:
            assert problem(response)["reason"] == "not_connected"

    def test_signed_out_is_a_child(self, built: BuiltApp) -> None:
        """A signed-out request is the protective unknown-age account: it may not
        message an adult it is not connected to."""
        assert problem(call(built, None, "POST", "/users/aunt/messages"))["reason"] == (
            "not_connected"
        )
        assert built.social.ran == []


# A rendered status, and the status the denial is sent with: never a success.
RENDERED_STATUSES: Mapping[int, int] = {200: 403, 204: 403, 304: 403, 302: 302, 404: 404, 451: 451}


class TestGuard:
    def test_built_app_decides_with_its_guard(self, built: BuiltApp) -> None:
        """``BuiltApp.guard`` is the guard the adapter decides with: tightening its policy
        refuses what it allowed."""
        assert built.guard is not None
        tighter = {"bands": {"13_15": {"direct_messages": {"default": "nobody"}}}}
        with overridden(built.guard, tighter):
            assert problem(call(built, "aunt", "POST", "/users/teen/messages"))["reason"] == (
                "setting_off"
            )
        assert built.social.ran == []
        assert call(built, "aunt", "POST", "/users/teen/messages").status_code == 201


class TestRenderer:
    @pytest.mark.parametrize("kind", ["native", "denial_response"])
    @pytest.mark.parametrize("rendered", sorted(RENDERED_STATUSES))
    def test_rendered_status_is_never_a_success(self, make: Make, kind: str, rendered: int) -> None:
        """A custom denial page goes out with its status when that is an error or a
        redirect, and as 403 when it would look like success (2xx, 304); the view never
        runs."""
        built = make(denial_page=DenialPage(rendered, kind))  # type: ignore[arg-type]
        response = call(built, "stranger", "POST", "/users/teen/messages")
        assert response.status_code == RENDERED_STATUSES[rendered]
        assert response.content == DenialPage.BODY
        assert response.headers["content-type"].startswith("text/html")
        assert built.social.ran == []

    def test_raising_renderer_falls_back_to_the_problem(self, make: Make) -> None:
        """A renderer that raises is replaced by the problem+json denial."""
        built = make(denial_page=DenialPage(kind="raising"))
        assert problem(call(built, "stranger", "POST", "/users/teen/messages"))["reason"] == (
            "not_connected"
        )
        assert built.social.ran == []


def _sign_in_redirect(decision: Any, request: Request) -> DenialResponse:
    """A renderer sending the refused to the sign-in page, back to the request's path."""
    del decision
    return DenialResponse(302, (("location", f"/login?next={request.path}"),), b"")


class TestRendererHeaders:
    @pytest.fixture(name="built")
    def _built(self, make: Make, adapter: str) -> BuiltApp:
        if adapter in {"starlette", "fastapi"}:
            return make(install_options={"renderer": _sign_in_redirect})
        return make(renderer=_sign_in_redirect)

    def test_rendered_redirect_is_sent(self, built: BuiltApp) -> None:
        """A renderer's redirect goes out as it was made."""
        response = call(built, "stranger", "POST", "/users/teen/messages")
        assert (response.status_code, response.headers["location"]) == (
            302,
            "/login?next=/users/teen/messages",
        )

    @pytest.mark.parametrize("escape", ["%0d%0aSet-Cookie:%20admin=1", "%0aX:%20y", "%00"])
    def test_header_with_a_control_character_is_the_problem_instead(
        self, built: BuiltApp, escape: str
    ) -> None:
        """A rendered header carrying a CR, LF or NUL from the request (header injection,
        or the server's 500) is replaced by the problem+json denial; the view never runs."""
        response = call(built, "stranger", "POST", f"/users/te{escape}en/messages")
        assert response.status_code == 403
        assert response.headers["content-type"] == PROBLEM
        assert "set-cookie" not in response.headers
        assert built.social.ran == []


def _native_redirect(adapter: str) -> Callable[[Any, Request], object]:
    """A renderer answering the adapter's own redirect to the sign-in page, back to the
    request's path (as written by hand: the path is not escaped)."""

    def render(decision: Any, request: Request) -> object:
        del decision
        location = f"/login?next={request.path}"
        if adapter in {"starlette", "fastapi"}:
            from starlette.responses import Response  # noqa: PLC0415

            return Response(b"", status_code=302, headers={"location": location})
        if adapter in {"django", DJANGO_ASGI}:
            from django.http import HttpResponse  # type: ignore[import-untyped]  # noqa: PLC0415

            response = HttpResponse(b"", status=302)
            response["Location"] = location
            return response
        if adapter == "flask":
            return (b"", 302, {"Location": location})
        return DenialResponse(302, (("location", location),), b"")

    return render


def _renderer_options(adapter: str, renderer: Callable[[Any, Request], object]) -> dict[str, Any]:
    if adapter in {"starlette", "fastapi"}:
        return {"install_options": {"renderer": renderer}}
    return {"renderer": renderer}


class TestRendererAnswers:
    """What a renderer answers in the framework's own terms is sent only if it can be:
    anything else is the problem+json denial, never a 500 or a header injected from the
    request."""

    @pytest.mark.parametrize("answer", [None, 42, object()], ids=["none", "int", "object"])
    def test_answer_that_is_no_response_is_the_problem(
        self, make: Make, adapter: str, answer: object
    ) -> None:
        """A renderer returning something that is no response at all (``None``, a
        number) is replaced by the problem+json denial; the view never runs."""
        built = make(**_renderer_options(adapter, lambda _decision, _request: answer))
        assert problem(call(built, "stranger", "POST", "/users/teen/messages"))["reason"] == (
            "not_connected"
        )
        assert built.social.ran == []

    def test_native_redirect_is_sent(self, make: Make, adapter: str) -> None:
        """The adapter's own redirect goes out as it was made."""
        built = make(**_renderer_options(adapter, _native_redirect(adapter)))
        response = call(built, "stranger", "POST", "/users/teen/messages")
        assert (response.status_code, response.headers["location"]) == (
            302,
            "/login?next=/users/teen/messages",
        )
        assert built.social.ran == []

    @pytest.mark.parametrize("escape", ["%0d%0aSet-Cookie:%20admin=1", "%0aX:%20y", "%00"])
    def test_native_header_with_a_control_character_is_the_problem(
        self, make: Make, adapter: str, escape: str
    ) -> None:
        """The adapter's own redirect carrying a CR, LF or NUL from the request is
        replaced by the problem+json denial, as a DenialResponse's would be."""
        built = make(**_renderer_options(adapter, _native_redirect(adapter)))
        response = call(built, "stranger", "POST", f"/users/te{escape}en/messages")
        assert response.status_code == 403
        assert response.headers["content-type"] == PROBLEM
        assert "set-cookie" not in response.headers
        assert "x" not in response.headers
        assert built.social.ran == []


# Ways the profile's JSON is sent that childsafe can read (see SocialApp's routes).
READABLE = ("plain", "gzip", "deflate", "charset", "vnd", "streamed", "text-json", "x-json")


class TestResponseFilter:
    @pytest.mark.parametrize("variant", READABLE)
    def test_child_location_never_reaches_another_account(
        self, built: BuiltApp, variant: str
    ) -> None:
        """A 14-year-old's location is removed from their profile, however the JSON is
        sent (compressed, streamed, with a charset, as a ``+json`` type)."""
        response = call(built, "aunt", "GET", f"/users/teen/profile?variant={variant}")
        assert response.status_code == 200
        assert SocialApp.LOCATION not in response.text
        assert response.json() == {"id": "teen", "name": "Teen"}

    @pytest.mark.parametrize("variant", READABLE)
    def test_adult_location_is_kept(self, built: BuiltApp, variant: str) -> None:
        """An adult's location, which they share publicly, is left in their profile, which
        is still marked private (it depends on who views it)."""
        response = call(built, "aunt", "GET", f"/users/stranger/profile?variant={variant}")
        assert response.status_code == 200
        assert response.json() == {
            "id": "stranger",
            "name": "Stranger",
            "location": SocialApp.LOCATION,
        }
        assert "private" in response.headers.get("cache-control", "")

    @pytest.mark.parametrize("variant", ["malformed", "br"])
    def test_unreadable_json_is_withheld(self, built: BuiltApp, variant: str) -> None:
        """A JSON response that cannot be read (malformed, or in a coding childsafe
        cannot decode) is a 500 problem and its body is not sent."""
        response = call(built, "aunt", "GET", f"/users/teen/profile?variant={variant}")
        assert response.status_code == 500
        assert response.headers["content-type"] == PROBLEM
        assert SocialApp.LOCATION.encode() not in response.content
        assert built.social.ran == ["profile teen"]

    @pytest.mark.parametrize("variant", READABLE)
    def test_filtered_response_is_private_without_a_stale_etag(
        self, built: BuiltApp, variant: str
    ) -> None:
        """A filtered response is ``Cache-Control: private`` (never ``public``) and drops
        the view's ``ETag``."""
        response = call(built, "aunt", "GET", f"/users/teen/profile?variant={variant}")
        cache_control = response.headers.get("cache-control", "")
        assert "private" in cache_control
        assert "public" not in cache_control
        assert "etag" not in response.headers

    def test_children_are_dropped_from_suggestions(self, built: BuiltApp) -> None:
        """A stranger's friend suggestions keep the adults and lose the children, and are
        marked private."""
        response = call(built, "stranger", "GET", "/suggestions")
        assert response.status_code == 200
        assert [s["id"] for s in response.json()["suggestions"]] == ["aunt", "parent"]
        assert "private" in response.headers.get("cache-control", "")


class TestAmbiguousTargets:
    @pytest.mark.parametrize(
        "query", ["to=aunt&to=teen", "to=aunt&%74o=teen", "to=teen&to=aunt", "to=aunt&to="]
    )
    def test_repeated_query_target_with_different_values_is_refused(
        self, built: BuiltApp, query: str
    ) -> None:
        """``?to=aunt&to=teen`` (however the name is written) is refused: the check and
        the view could read different values."""
        body = problem(call(built, "stranger", "POST", f"/messages?{query}"))
        assert body["reason"] == "unverifiable"
        assert built.social.ran == []

    def test_repeated_query_target_with_the_same_value_is_fine(self, built: BuiltApp) -> None:
        """``?to=teen&to=teen`` names one account, and is checked as such."""
        response = call(built, "aunt", "POST", "/messages?to=teen&to=teen")
        assert response.status_code == 201, response.text
        assert built.social.ran == ["dm_query teen,teen"]
        assert problem(call(built, "stranger", "POST", "/messages?to=teen&to=teen"))["reason"] == (
            "not_connected"
        )

    def test_duplicated_json_key_is_refused(self, built: BuiltApp) -> None:
        """A JSON body naming the target twice (``{"to": "aunt", "to": "teen"}``) is
        refused."""
        response = call(
            built,
            "stranger",
            "POST",
            "/messages/json",
            content=b'{"to": "aunt", "to": "teen"}',
            headers={"Content-Type": "application/json"},
        )
        assert problem(response)["reason"] == "unverifiable"
        assert built.social.ran == []


class TestViewClasses:
    @pytest.fixture(name="built")
    def _built(self, make: Make) -> BuiltApp:
        built = make()
        if not built.supports_view_classes:
            pytest.skip(f"n/a: {built.adapter} has no class-based views")
        return built

    def test_declared_method_is_checked(self, built: BuiltApp) -> None:
        """The class's declared ``post`` is refused for a stranger, and runs for a
        connected adult."""
        assert problem(call(built, "stranger", "POST", "/users/teen/poke"))["reason"] == (
            "not_connected"
        )
        assert built.social.ran == []
        assert call(built, "aunt", "POST", "/users/teen/poke").status_code == 201
        assert built.social.ran == ["poke POST teen"]

    def test_undeclared_method_runs(self, built: BuiltApp) -> None:
        """The class's undeclared ``get`` runs for anyone."""
        response = call(built, "stranger", "GET", "/users/teen/poke")
        assert (response.status_code, response.text) == (200, "poke teen?")
        assert built.social.ran == ["poke GET teen"]


class TestHeadAndOptions:
    def test_head_follows_get(self, built: BuiltApp) -> None:
        """``HEAD`` is checked with the ``GET`` rule: refused for a stranger, allowed for
        a connected adult."""
        denied = call(built, "stranger", "HEAD", "/users/teen/profile")
        assert (denied.status_code, denied.headers["content-type"]) == (403, PROBLEM)
        assert built.social.ran == []
        assert call(built, "aunt", "HEAD", "/users/teen/profile").status_code == 200
        assert built.social.ran == ["profile teen"]

    @pytest.mark.parametrize("account", ["stranger", "aunt"])
    def test_options_never_runs_the_declared_view(self, built: BuiltApp, account: str) -> None:
        """``OPTIONS`` (a CORS preflight) to a declared ``POST`` route never sends the DM,
        and is never a server error."""
        response = call(built, account, "OPTIONS", "/users/teen/messages")
        assert response.status_code < 500
        assert built.social.ran == []


class TestOwnHeadHandler:
    """A class-based view with its own ``head`` handler beside a declared ``get``: ``HEAD``
    follows ``GET``, so the handler runs only after the ``GET`` rule allowed it."""

    @pytest.fixture(name="social")
    def _social(self) -> SocialApp:
        peek = action_rule("profile.view", target=path_param("user_id"))
        return SocialApp(
            extra_routes=[
                AppRoute(
                    "peek", "/users/{user_id}/peek", ("GET", "HEAD"), {"GET": peek}, view_class=True
                )
            ]
        )

    @pytest.fixture(name="built")
    def _built(self, make: Make, adapter: str) -> BuiltApp:
        if adapter == "fastapi":
            pytest.skip("n/a: a FastAPI HEAD path operation declares its own Depends")
        return make()

    def test_head_handler_is_checked_with_the_get_rule(self, built: BuiltApp) -> None:
        assert call(built, "stranger", "HEAD", "/users/teen/peek").status_code == 403
        assert built.social.ran == []
        assert call(built, "aunt", "HEAD", "/users/teen/peek").status_code == 200
        assert built.social.ran == ["peek"]


class TestConfirmation:
    """The safety prompt of docs/kernel.md: a teenager's friend request to an adult they
    are not connected with is a ``403`` naming the ``Childsafe-Confirm`` header, and the
    same request confirmed goes through; no header helps a child under 13."""

    @pytest.fixture(name="social")
    def _social(self) -> SocialApp:
        befriend = action_rule("friend.request", target=path_param("user_id"))
        return SocialApp(
            extra_routes=[AppRoute("befriend", "/friends/{user_id}", ("POST",), {"POST": befriend})]
        )

    def test_unconfirmed_request_names_the_header(self, built: BuiltApp) -> None:
        body = problem(call(built, "teen", "POST", "/friends/stranger"))
        assert (body["reason"], body["needs_confirmation"]) == ("confirmation_required", True)
        assert body["confirm"] == {"header": "Childsafe-Confirm", "value": "friend.request"}
        assert built.social.ran == []

    @pytest.mark.parametrize(
        "value", ["friend.request", " friend.request ", "dm.send, friend.request"]
    )
    def test_confirmed_request_goes_through(self, built: BuiltApp, value: str) -> None:
        response = call(
            built, "teen", "POST", "/friends/stranger", headers={"Childsafe-Confirm": value}
        )
        assert response.status_code == 200, response.text
        assert built.social.ran == ["befriend"]

    @pytest.mark.parametrize("value", ["dm.send", "friend.requests", "FRIEND.REQUEST", ""])
    def test_another_confirmation_is_no_confirmation(self, built: BuiltApp, value: str) -> None:
        response = call(
            built, "teen", "POST", "/friends/stranger", headers={"Childsafe-Confirm": value}
        )
        assert problem(response)["reason"] == "confirmation_required"
        assert built.social.ran == []

    def test_no_header_satisfies_a_child_under_13(self, built: BuiltApp) -> None:
        response = call(
            built,
            "kid",
            "POST",
            "/friends/stranger",
            headers={"Childsafe-Confirm": "friend.request"},
        )
        assert problem(response)["reason"] == "parent_approval_to_contact"
        assert built.social.ran == []


class TestWebsockets:
    @pytest.fixture(name="built")
    def _built(self, make: Make) -> BuiltApp:
        built = make()
        if not built.supports_websockets:
            pytest.skip(f"n/a: {built.adapter} serves no websockets")
        return built

    def test_denied_websocket_is_closed_with_1008(self, built: BuiltApp) -> None:
        """A stranger's chat with a 14-year-old is closed in the handshake with 1008 and
        the reason code; the endpoint never runs."""
        outcome = built.websocket("/chat/teen", account="stranger")
        assert not outcome.accepted
        assert (outcome.close_code, outcome.close_reason) == (1008, "not_connected")
        assert built.social.ran == []

    def test_signed_out_websocket_is_closed(self, built: BuiltApp) -> None:
        """A signed-out chat (the unknown-age account) with an adult it is not connected
        to is closed with 1008."""
        outcome = built.websocket("/chat/aunt")
        assert (outcome.accepted, outcome.close_code) == (False, 1008)
        assert built.social.ran == []

    def test_allowed_websocket_connects(self, built: BuiltApp) -> None:
        """A connected adult's chat is accepted and the endpoint runs."""
        outcome = built.websocket("/chat/teen", account="aunt")
        assert outcome.accepted
        assert outcome.texts == ("chatting with teen",)
        assert built.social.ran == ["chat teen"]


class TestStreaming:
    def test_unfiltered_stream_stays_streamed(self, built: BuiltApp) -> None:
        """A response with nothing to filter reaches the client chunk by chunk, each
        chunk before the next is made, unchanged."""
        response = built.stream("/stream", account="aunt")
        assert response.status == 200
        assert response.chunks == SocialApp.STREAM_CHUNKS
        assert built.social.log == [
            entry
            for chunk in SocialApp.STREAM_CHUNKS
            for entry in (f"made {chunk!r}", f"sent {chunk!r}")
        ]


def raising_resolver(request: Request) -> Account | None:
    """A resolver whose token service is down."""
    raise OSError(f"token service is down ({request.path})")


class GraphDown:
    """A repository whose accounts load but whose social graph is down."""

    def __init__(self, social: SocialApp) -> None:
        self.accounts = social.accounts

    def get_account(self, account_id: str) -> Account | None:
        return self.accounts.get_account(account_id)

    def relationship(self, actor: Account, target: Account) -> Relationship:
        raise OSError(f"graph database is down (relating {actor.id} to {target.id})")


class TestFailClosed:
    @pytest.fixture(name="built")
    def _built(self, make: Make) -> BuiltApp:
        return make(resolvers=[raising_resolver])

    def test_raising_resolver_gives_the_protective_unknown_account(self, built: BuiltApp) -> None:
        """A resolver that raises makes the request the unknown-age account (never a 500)."""
        response = call(built, "aunt", "GET", "/me")
        assert response.status_code == 200
        assert response.json() == {"id": ANONYMOUS_ID, "band": "unknown", "source": "error"}

    def test_raising_resolver_never_opens_the_door(self, built: BuiltApp) -> None:
        """With a resolver that raises, a DM to an adult is refused (the request is a
        child's, who may message only connections) and the view never runs."""
        assert problem(call(built, "aunt", "POST", "/users/aunt/messages"))["reason"] == (
            "not_connected"
        )
        assert built.social.ran == []


class TestExtraRoutes:
    @pytest.fixture(name="social")
    def _social(self) -> SocialApp:
        return SocialApp(
            extra_routes=[
                AppRoute("notes", "/notes", exempt="public notes"),
                AppRoute("nudge", "/users/{user_id}/nudge", ("POST",), {"POST": DM_TO_PATH_TARGET}),
            ]
        )

    def test_extra_exempt_route_runs(self, built: BuiltApp) -> None:
        """A route the description adds as exempt serves anyone."""
        response = call(built, "stranger", "GET", "/notes")
        assert (response.status_code, response.text) == (200, "notes")
        assert built.social.ran == ["notes"]

    def test_extra_declared_route_is_checked(self, built: BuiltApp) -> None:
        """A route the description adds with a declaration is checked like the others."""
        assert problem(call(built, "stranger", "POST", "/users/teen/nudge"))["reason"] == (
            "not_connected"
        )
        assert built.social.ran == []
        assert call(built, "aunt", "POST", "/users/teen/nudge").status_code == 200
        assert built.social.ran == ["nudge"]


class TestRepeatedCookie:
    """A session cookie given twice with different values: frameworks disagree on which
    one wins (Werkzeug the first, Django and Starlette the last), so the check never
    picks one; the request is the protective unknown-age account's."""

    @pytest.fixture(name="built")
    def _built(self, make: Make, social: SocialApp) -> BuiltApp:
        return make(resolvers=[bearer_token(social.verify, cookie="session")])

    @pytest.mark.parametrize("cookie", ["session=aunt", "session=aunt; session=aunt"])
    def test_session_cookie_signs_in(self, built: BuiltApp, cookie: str) -> None:
        response = call(built, None, "GET", "/me", headers={"Cookie": cookie})
        assert response.json()["id"] == "aunt"
        response = call(built, None, "POST", "/users/teen/messages", headers={"Cookie": cookie})
        assert response.status_code == 201, response.text

    @pytest.mark.parametrize(
        "cookie",
        [
            "session=aunt; session=stranger",
            "session=stranger; session=aunt",
            "session=aunt; theme=dark; session=kid",
        ],
    )
    def test_session_cookie_given_twice_is_no_session(self, built: BuiltApp, cookie: str) -> None:
        response = call(built, None, "GET", "/me", headers={"Cookie": cookie})
        assert response.json()["id"] == ANONYMOUS_ID
        response = call(built, None, "POST", "/users/teen/messages", headers={"Cookie": cookie})
        assert problem(response)["reason"] == "not_connected"
        assert built.social.ran == ["me"]


class TestRepositoryDown:
    @pytest.fixture(name="social")
    def _social(self) -> SocialApp:
        social = SocialApp()
        social.repository = GraphDown(social)
        return social

    def test_check_is_unverifiable(self, built: BuiltApp) -> None:
        """A check that needs the social graph while it is down is refused as
        unverifiable, never allowed and never a 500."""
        assert problem(call(built, "aunt", "POST", "/users/teen/messages"))["reason"] == (
            "unverifiable"
        )
        assert built.social.ran == []

    def test_children_stay_out_of_suggestions(self, built: BuiltApp) -> None:
        """While the graph is down no child appears in a stranger's suggestions."""
        response = call(built, "stranger", "GET", "/suggestions")
        assert response.status_code in {200, 500}
        assert b'"teen"' not in response.content
        assert b'"kid"' not in response.content


class TestBodies:
    def test_deeply_nested_json_is_refused(self, built: BuiltApp) -> None:
        """A JSON body nested thousands deep is refused, never a 500."""
        body = b'{"to": "teen", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
        response = call(
            built,
            "aunt",
            "POST",
            "/messages/json",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        assert problem(response)["reason"] == "unverifiable"
        assert built.social.ran == []

    def test_body_over_the_default_limit_is_unverifiable(self, built: BuiltApp) -> None:
        """A JSON body over the default 1 MiB limit is not read to find the target, so
        the check fails closed."""
        body = json.dumps({"to": "teen", "text": "x" * (1 << 21)}).encode()
        response = call(
            built,
            "aunt",
            "POST",
            "/messages/json",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        assert problem(response)["reason"] == "unverifiable"
        assert built.social.ran == []

    def test_late_declared_route_never_runs_unchecked(self, built: BuiltApp) -> None:
        """A declared route added after the app was built is refused to a stranger."""
        built.add_route(
            AppRoute("wave", "/users/{user_id}/wave", ("POST",), {"POST": DM_TO_PATH_TARGET})
        )
        response = call(built, "stranger", "POST", "/users/teen/wave")
        assert response.status_code == 403
        assert response.headers["content-type"] == PROBLEM
        assert built.social.ran == []


# ----------------------------------------------------------------- decision events

# What differs between adapters by design: the event's own id and time, the request's
# id, and the adapter's name.
PER_REQUEST = ("id", "time", "request_id", "adapter")


def _comparable(events: list[Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.to_dict().items() if k not in PER_REQUEST} for e in events]


SCENARIO: tuple[tuple[str | None, str, str, dict[str, Any]], ...] = (
    ("stranger", "POST", "/users/teen/messages", {}),
    ("aunt", "POST", "/users/teen/messages", {}),
    ("stranger", "POST", "/messages?to=teen", {}),
    ("aunt", "POST", "/messages/json", {"json": {"to": "teen", "text": "hi"}}),
    ("stranger", "POST", "/users/nobody/messages", {}),
    (None, "POST", "/users/teen/messages", {}),
)


def _scenario_events(built: BuiltApp) -> list[Any]:
    """The events ``built`` emits for :data:`SCENARIO`, request ``n`` sent with
    ``X-Request-ID: req-n``."""
    seen: list[Any] = []
    guard = built.guard
    assert guard is not None
    guard.add_sink(seen.append)
    try:
        for number, (account, method, url, kwargs) in enumerate(SCENARIO):
            headers = {"X-Request-ID": f"req-{number}"}
            call(built, account, method, url, headers=headers, **kwargs)
        assert guard.flush_events()
    finally:
        guard.remove_sink(seen.append)
    return seen


class TestDecisionEvents:
    def test_one_event_per_decision(self, built: BuiltApp) -> None:
        """Each checked request gives exactly one decision event, carrying the request's
        id (the client's X-Request-ID) and the adapter's name."""
        seen = _scenario_events(built)
        assert [e.request_id for e in seen] == [f"req-{n}" for n in range(len(SCENARIO))]
        assert {e.adapter for e in seen} == {built.adapter}
        assert [(e.allowed, e.reason) for e in seen] == [
            (False, "not_connected"),
            (True, "permitted"),
            (False, "not_connected"),
            (True, "permitted"),
            (False, "unverifiable"),
            (False, "not_connected"),
        ]

    def test_identical_across_adapters(self) -> None:
        """For the same scenario, every adapter emits the same events (but for their
        own id, time, request id and adapter name)."""
        django_settings.setup()
        emitted = {}
        for adapter in VARIANTS:
            with build(adapter, SocialApp()) as built:
                emitted[adapter] = _comparable(_scenario_events(built))
        first, *others = VARIANTS
        assert len(emitted[first]) == len(SCENARIO)
        for adapter in others:
            assert emitted[adapter] == emitted[first], adapter


# ----------------------------------------------------------------- strict mode


UNDECLARED = AppRoute("undeclared", "/undeclared/{user_id}", ("POST",))


class TestStrictMode:
    def test_undeclared_route_refused(self, adapter: str, social: SocialApp) -> None:
        """An app with a route that declares no action and is not exempt is refused:
        the framework adapters refuse to start (naming the route), the route tables
        refuse the request (403 undeclared_route). The view never runs."""
        social.add_route(UNDECLARED)
        if adapter in {"wsgi", "asgi"}:
            with build(adapter, social) as built:
                body = problem(call(built, "aunt", "POST", "/undeclared/teen"))
            assert body["reason"] == "undeclared_route"
        else:
            with pytest.raises(Exception, match="undeclared") as raised:
                build(adapter, social).close()
            assert "declares no action" in str(raised.value)
        assert social.ran == []

    def test_strict_off_serves(self, make: Make, social: SocialApp) -> None:
        """strict=False serves the undeclared route unchecked, on every adapter."""
        social.add_route(UNDECLARED)
        built = make(strict=False)
        assert call(built, "stranger", "POST", "/undeclared/teen").status_code == 200
        assert social.ran == ["undeclared"]

    def test_late_route_never_served_unchecked(self, built: BuiltApp) -> None:
        """A route added after the app was built is never served unchecked: refused as
        undeclared, the app refuses to serve, or the framework refuses the late route."""
        try:
            built.add_route(UNDECLARED)
        except (AssertionError, RuntimeError, ValueError):
            assert built.social.ran == []  # the framework refused the route itself
            return
        try:
            response = call(built, "aunt", "POST", "/undeclared/teen")
        except Exception:  # noqa: BLE001 - the app refusing to serve is one of the outcomes
            response = None
        if response is not None:
            assert response.status_code in {403, 404, 405, 500}, response.text
        assert built.social.ran == []


MISNAMED = AppRoute("nudge", "/users/{uid}/nudge", ("POST",), {"POST": DM_TO_PATH_TARGET})
"""Declares ``path_param("user_id")`` on a route whose parameter is ``uid``."""


class TestPathParamNames:
    @pytest.mark.parametrize("strict", [True, False])
    def test_missing_path_param_is_a_start_up_error(
        self, adapter: str, social: SocialApp, strict: bool
    ) -> None:
        """A declaration taking its target from a path parameter the route does not have
        is refused when the app is built, strict or not, naming the parameter and the
        ones the route has (every request to it would be denied unverifiable)."""
        social.add_route(MISNAMED)
        with pytest.raises(ConfigurationError, match="'user_id'") as raised:
            build(adapter, social, strict=strict).close()
        assert "uid" in str(raised.value)
        assert social.ran == []

    def test_matching_path_param_starts(self, make: Make, social: SocialApp) -> None:
        """The same declaration on a route that has the parameter starts and is checked."""
        social.add_route(
            AppRoute("nudge", "/users/{user_id}/nudge", ("POST",), {"POST": DM_TO_PATH_TARGET})
        )
        built = make()
        reason = problem(call(built, "stranger", "POST", "/users/teen/nudge"))["reason"]
        assert reason == "not_connected"
        assert call(built, "aunt", "POST", "/users/teen/nudge").status_code == 200
        assert social.ran == ["nudge"]


# -- media routes -------------------------------------------------------------------

MEDIA_CAP = 64 * 1024


class _PhotoSender:
    """The sender of the photo in the path: what a ``media.view`` route's target
    extractor reads from the platform's store."""

    def __init__(self, social: SocialApp) -> None:
        self.social = social

    def __call__(self, request: Request) -> str | None:
        stored = self.social.photos.get(request.path_param("photo_id") or "")
        return stored[0] if stored is not None else None


class _StoredVerdict:
    """The verdict the platform stored with the photo at upload."""

    def __init__(self, social: SocialApp) -> None:
        self.social = social

    def __call__(self, request: Request) -> object:
        stored = self.social.photos.get(request.path_param("photo_id") or "")
        return stored[1] if stored is not None else None


def media_routes(social: SocialApp) -> list[AppRoute]:
    return [
        AppRoute("media_upload", "/photos", ("POST",), {"POST": action_rule("media.upload")}),
        AppRoute(
            "media_send",
            "/users/{user_id}/photos",
            ("POST",),
            {"POST": action_rule("media.send", target=path_param("user_id"))},
        ),
        AppRoute(
            "media_view",
            "/photos/{photo_id}",
            ("GET",),
            {
                "GET": action_rule(
                    "media.view", target=_PhotoSender(social), media=_StoredVerdict(social)
                )
            },
        ),
    ]


def files(image: bytes, name: str = "photo.png") -> dict[str, Any]:
    """A multipart upload of ``image`` with a caption field beside it."""
    return {"files": {"photo": (name, image, "image/png")}, "data": {"caption": "look"}}


def raw(image: bytes, content_type: str = "image/png") -> dict[str, Any]:
    return {"content": image, "headers": {"Content-Type": content_type}}


class TestMedia:
    @pytest.fixture(name="social")
    def _social(self) -> SocialApp:
        social = SocialApp()
        for route in media_routes(social):
            social.add_route(route)
        return social

    @pytest.fixture(name="inspector")
    def _inspector(self) -> MarkerInspector:
        return MarkerInspector()

    @pytest.fixture(name="preserver")
    def _preserver(self) -> RecordingPreserver:
        return RecordingPreserver()

    @pytest.fixture(name="spool_dir")
    def _spool_dir(self, tmp_path: Path) -> Iterator[Path]:
        yield tmp_path
        assert list(tmp_path.iterdir()) == [], "a temporary file was left behind"

    @pytest.fixture(name="built")
    def _built(
        self,
        make: Make,
        inspector: MarkerInspector,
        preserver: RecordingPreserver,
        spool_dir: Path,
    ) -> BuiltApp:
        return make(
            media_inspector=inspector,
            evidence_preserver=preserver,
            max_media_body=MEDIA_CAP,
            media_temp_dir=str(spool_dir),
        )

    @pytest.mark.parametrize("account", ["stranger", "teen", "kid"])
    def test_multipart_upload_is_replayed_intact(
        self, built: BuiltApp, inspector: MarkerInspector, account: str
    ) -> None:
        """A clean photo (and the caption beside it) reaches the view byte for byte,
        with its verdict on the request context; the inspector read the very image."""
        image = png()
        with built.client(account) as client:
            request = client.build_request("POST", "/photos", **files(image))
            sent = request.read()
            response = client.send(request)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["sha256"] == hashlib.sha256(sent).hexdigest()
        assert body["size"] == len(sent)
        assert body["images"] == [
            {
                "field": "photo",
                "filename": "photo.png",
                "size": len(image),
                "sensitive": False,
                "outcome": "allowed",
                "path_exists": False,
            }
        ]
        [(media, existed, data)] = inspector.seen
        assert (existed, data, media.content_type) == (True, image, "image/png")
        assert built.social.ran == [f"media_upload {len(sent)}"]

    def test_raw_upload_is_replayed_intact(self, built: BuiltApp) -> None:
        """A raw ``image/png`` body is the image, inspected and replayed as it came."""
        image = png(shade=3)
        response = call(built, "teen", "POST", "/photos", **raw(image))
        assert response.status_code == 201, response.text
        assert response.json()["sha256"] == hashlib.sha256(image).hexdigest()
        assert response.json()["images"][0]["field"] is None

    @pytest.mark.parametrize("account", ["stranger", "teen"])
    def test_matched_upload_is_refused_and_preserved(
        self, built: BuiltApp, preserver: RecordingPreserver, account: str
    ) -> None:
        """A photo matching a known-abuse list is refused for an adult and a child alike,
        in neutral words; the preserver got it while the file existed; the view never
        ran."""
        image = png(MATCH)
        body = problem(call(built, account, "POST", "/photos", **files(image)))
        assert body["reason"] == "known_abuse_match"
        assert "list" not in json.dumps(body).lower()
        [(incident, data)] = preserver.incidents
        assert data == image
        assert (incident.action, incident.actor and incident.actor.id) == (
            "media.upload",
            account,
        )
        assert incident.verdict.match is not None
        # The address the request came from, for the platform's legal report.
        assert incident.client_addr == "127.0.0.1"
        assert built.social.ran == []

    def test_matched_send_is_refused_for_a_connected_adult(
        self, built: BuiltApp, preserver: RecordingPreserver
    ) -> None:
        """``media.send`` refuses a match even between connections, naming the recipient
        in the incident."""
        body = problem(call(built, "aunt", "POST", "/users/teen/photos", **raw(png(MATCH))))
        assert body["reason"] == "known_abuse_match"
        [(incident, _)] = preserver.incidents
        assert incident.target is not None
        assert incident.target.id == "teen"
        assert built.social.ran == []

    @pytest.mark.parametrize("declared", [True, False])
    def test_oversized_body_is_413(
        self, built: BuiltApp, inspector: MarkerInspector, declared: bool, adapter: str
    ) -> None:
        """A body over the cap is refused with 413: at once with a Content-Length, and as
        soon as the cap is passed without one (never read to the end)."""
        chunks = [b"x" * 4096] * (3 * MEDIA_CAP // 4096)
        status, body, read = send_raw(
            built, "teen", "/photos", chunks, declared=declared, content_type="image/png"
        )
        assert status == 413
        assert json.loads(body)["status"] == 413
        if adapter == DJANGO_ASGI:
            # Django's ASGIHandler reads the whole body before any middleware runs
            # (docs/django.md says to cap bodies at the server under ASGI).
            assert read == sum(map(len, chunks))
        elif declared:
            assert read == 0
        else:
            assert read <= MEDIA_CAP + 4096
        assert inspector.seen == []
        assert built.social.ran == []

    @pytest.mark.parametrize(
        ("length", "status"),
        [("\u00b2", 400), ("1\u00b3", 400), ("+9", 400), ("9" * 5000, 413)],
    )
    def test_a_content_length_that_is_no_number(
        self, built: BuiltApp, inspector: MarkerInspector, length: str, status: int
    ) -> None:
        """A Content-Length of superscript digits (``str.isdigit`` takes them, ``int``
        does not), a sign, or thousands of digits is the library's own refusal, never
        a server error: 400 naming it, 413 for a length past the cap; nothing is read
        into an inspection."""
        code, body, _ = send_raw(
            built, "teen", "/photos", [png()], declared=length, content_type="image/png"
        )
        assert code == status, body
        assert json.loads(body)["status"] == status
        assert inspector.seen == []
        assert built.social.ran == []

    def test_a_json_target_behind_a_content_length_that_is_no_number(self, built: BuiltApp) -> None:
        """A stranger's message to a child whose Content-Length is superscript digits
        (``str.isdigit`` takes them, ``int`` does not) is refused like any other (the
        target read from the body, or not found: fail closed), never a server error."""
        code, body, _ = send_raw(
            built,
            "stranger",
            "/messages/json",
            [b'{"to": "teen"}'],
            declared="1\u00b2",
            content_type="application/json",
        )
        assert code == 403, body
        assert built.social.ran == []

    @pytest.mark.parametrize("declared", [True, False])
    @pytest.mark.parametrize(("extra", "status"), [(0, 201), (1, 413)])
    def test_the_cap_is_exact(
        self, built: BuiltApp, declared: bool, extra: int, status: int
    ) -> None:
        """A body of exactly ``max_media_body`` bytes is taken, one byte more is 413,
        with a Content-Length or without one (chunked), however it is cut."""
        image = png()
        body = image + b"\0" * (MEDIA_CAP - len(image) + extra)
        chunks = [body[i : i + 4093] for i in range(0, len(body), 4093)]
        code, answer, _ = send_raw(
            built, "teen", "/photos", chunks, declared=declared, content_type="image/png"
        )
        assert code == status, answer
        assert built.social.ran == ([f"media_upload {MEDIA_CAP}"] if status == 201 else [])

    @pytest.mark.parametrize(("count", "status"), [(3, 201), (4, 413)])
    def test_images_per_request_are_capped(
        self,
        make: Make,
        inspector: MarkerInspector,
        spool_dir: Path,
        count: int,
        status: int,
    ) -> None:
        """``max_media_files`` images in one body are each inspected; one more and the
        body is refused with 413 before any is (no classifier run, no view)."""
        built = make(media_inspector=inspector, media_temp_dir=str(spool_dir), max_media_files=3)
        upload = [("photo", (f"p{n}.png", png(), "image/png")) for n in range(count)]
        response = call(built, "teen", "POST", "/photos", files=upload)
        assert response.status_code == status, response.text
        if status == 413:
            document = response.json()
            assert document["title"] == "Too many images"
            assert "at most 3 images; this one has 4" in document["detail"]
            assert inspector.seen == []
            assert built.social.ran == []
        else:
            assert len(inspector.seen) == count
            assert len(built.social.ran) == 1

    def test_malformed_multipart_is_400(self, built: BuiltApp) -> None:
        """A multipart body that does not parse is a 400 problem naming what is wrong."""
        response = call(
            built,
            "teen",
            "POST",
            "/photos",
            content=b"--b\r\nContent-Type: image/png\r\n\r\nabc\r\n--b--\r\n",
            headers={"Content-Type": "multipart/form-data; boundary=b"},
        )
        assert response.status_code == 400
        assert response.headers["content-type"] == PROBLEM
        assert "no Content-Disposition" in response.json()["detail"]
        assert built.social.ran == []

    @pytest.mark.parametrize(
        ("content_type", "eol", "detail"),
        [
            # Werkzeug and Django split at a boundary after a bare LF: a second image.
            ("multipart/form-data; boundary=b", b"\n", "other than CRLF"),
            # Werkzeug and Django take the last boundary given: only the second image.
            ("multipart/form-data; boundary=a; boundary=b", b"\r\n", "more than once"),
        ],
    )
    def test_body_parsers_would_split_differently_is_400(
        self, built: BuiltApp, content_type: str, eol: bytes, detail: str
    ) -> None:
        """A body the app's framework would read as holding an image this check never
        saw (a matched one, behind a clean one) is refused as malformed, and the view
        never runs."""
        first = b"a" if "boundary=a" in content_type else b"b"
        body = (
            b"--" + first + b'\r\nContent-Disposition: form-data; name="photo"; '
            b'filename="c.png"\r\nContent-Type: image/png\r\n\r\n'
            + png()
            # What the framework reads as the next part:
            + eol
            + b'--b\r\nContent-Disposition: form-data; name="photo"; filename="m.png"'
            + eol
            + eol
            + png(MATCH)
            + b"\r\n--b--\r\n"
            + (b"\r\n--a--\r\n" if first == b"a" else b"")
        )
        response = call(
            built, "teen", "POST", "/photos", content=body, headers={"Content-Type": content_type}
        )
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == PROBLEM
        assert detail in response.json()["detail"]
        assert built.social.ran == []

    def test_not_an_image_is_refused(self, built: BuiltApp) -> None:
        """A file that is not an image is refused as unreadable."""
        body = problem(call(built, "stranger", "POST", "/photos", **files(b"hello", "a.png")))
        assert body["reason"] == "media_unreadable"

    def test_other_routes_are_untouched(self, built: BuiltApp, inspector: MarkerInspector) -> None:
        """A route declaring no media action is never spooled or inspected: its body
        reaches the view as sent."""
        response = call(
            built, "aunt", "POST", "/messages/json", json={"to": "teen", "photo": "x" * 9000}
        )
        assert response.status_code == 201
        assert inspector.seen == []

    def test_under_13_cannot_send_a_sensitive_image(self, built: BuiltApp) -> None:
        """A 12-year-old's sensitive photo to a connection is refused, confirmed or not,
        in words for a child and with no internal code in them."""
        for headers in ({}, {"Childsafe-Confirm": "media.send"}):
            body = problem(
                call(
                    built,
                    "kid",
                    "POST",
                    "/users/aunt/photos",
                    **files(png(SENSITIVE)),
                    headers=headers,
                )
            )
            assert body["reason"] == "sensitive_media_blocked"
            assert "sensitive_media" not in body["detail"] + body["next_step"]
        assert built.social.ran == []

    def test_teen_meets_the_intervention_then_confirms(self, built: BuiltApp) -> None:
        """A 14-year-old sees the intervention first; confirming sends the photo."""
        image = png(SENSITIVE)
        body = problem(call(built, "teen", "POST", "/users/aunt/photos", **files(image)))
        assert body["reason"] == "confirmation_required"
        assert body["needs_confirmation"] is True
        assert body["confirm"] == {"header": "Childsafe-Confirm", "value": "media.send"}
        assert "can't take it back" in body["detail"]
        assert built.social.ran == []
        response = call(
            built,
            "teen",
            "POST",
            "/users/aunt/photos",
            **files(image),
            headers={"Childsafe-Confirm": "media.send"},
        )
        assert response.status_code == 201, response.text
        assert response.json()["images"][0]["outcome"] == "allowed"

    def test_blur_on_view_for_a_child_not_an_adult(self, built: BuiltApp) -> None:
        """An adult's sensitive photo is blurred for the 14-year-old it was sent to
        (three choices; confirming shows it) and shown to an adult at once."""
        image = png(SENSITIVE)
        sent = call(built, "aunt", "POST", "/users/teen/photos", **raw(image))
        assert sent.status_code == 201, sent.text
        photo = sent.json()["photo"]
        body = problem(call(built, "teen", "GET", f"/photos/{photo}"))
        assert body["reason"] == "sensitive_media_blurred"
        assert body["needs_confirmation"] is True
        assert body["choices"] == ["view", "dont_view", "block_and_report"]
        assert "block and report" in body["next_step"]
        shown = call(
            built, "teen", "GET", f"/photos/{photo}", headers={"Childsafe-Confirm": "media.view"}
        )
        assert (shown.status_code, shown.content) == (200, image)
        adult = call(built, "parent", "GET", f"/photos/{photo}")
        assert (adult.status_code, adult.content) == (200, image)

    def test_clean_photo_is_not_blurred(self, built: BuiltApp) -> None:
        """A clean photo is shown to the child without a blur."""
        sent = call(built, "aunt", "POST", "/users/teen/photos", **raw(png()))
        photo = sent.json()["photo"]
        assert call(built, "teen", "GET", f"/photos/{photo}").status_code == 200


class TestMediaFailClosed:
    @pytest.fixture(name="social")
    def _social(self) -> SocialApp:
        social = SocialApp()
        for route in media_routes(social):
            social.add_route(route)
        return social

    def test_inspector_that_raises_is_protective(self, make: Make, tmp_path: Path) -> None:
        """An inspector that raises counts as sensitive for a child (blocked under 13,
        the intervention at 14), never as a match for an adult; no file is left."""
        built = make(media_inspector=MarkerInspector(raises=True), media_temp_dir=str(tmp_path))
        assert problem(call(built, "kid", "POST", "/photos", **files(png())))["reason"] == (
            "sensitive_media_blocked"
        )
        assert problem(call(built, "teen", "POST", "/photos", **files(png())))["reason"] == (
            "confirmation_required"
        )
        assert call(built, "stranger", "POST", "/photos", **files(png())).status_code == 201
        assert list(tmp_path.iterdir()) == []

    def test_media_route_without_inspector_is_a_start_up_error(self, adapter: str) -> None:
        """Strict mode refuses to start with a media route and no inspector, naming it."""
        social = SocialApp()
        for route in media_routes(social):
            social.add_route(route)
        with pytest.raises(ConfigurationError, match="/photos"):
            build(adapter, social).close()


def send_raw(
    built: BuiltApp,
    account: str,
    path: str,
    chunks: list[bytes],
    *,
    declared: bool | str,
    content_type: str,
) -> tuple[int, bytes, int]:
    """POST ``chunks`` through the raw interface (a chunked body when not ``declared``;
    a string is the ``Content-Length`` sent, in Latin-1 as servers decode it): the
    status, the body, and how many body bytes the app side read."""
    total = sum(len(c) for c in chunks)
    headers = [("Authorization", f"Bearer {account}"), ("Content-Type", content_type)]
    if declared:
        headers.append(("Content-Length", declared if isinstance(declared, str) else str(total)))
    if built.wsgi is not None:
        stream = _CountingInput(chunks)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "POST",
            "SCRIPT_NAME": "",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "testserver",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": stream,
            "wsgi.input_terminated": True,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in headers:
            key = name.upper().replace("-", "_")
            environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
        started: list[str] = []

        def start_response(status: str, headers: list[tuple[str, str]], *_: object) -> None:
            # As waitress and wsgiref do (PEP 3333): no hop-by-hop header from the app.
            hop = [name for name, _ in headers if is_hop_by_hop(name)]
            assert hop == [], f"a WSGI response may not carry {hop}"
            started.append(status)

        result = built.wsgi(environ, start_response)
        body = b"".join(result)
        close = getattr(result, "close", None)
        if close is not None:
            close()
        return int(started[-1].split()[0]), body, stream.read_bytes
    assert built.asgi is not None
    return asyncio.run(_asgi_post(built.asgi, path, headers, chunks))


class _CountingInput:
    """A ``wsgi.input`` that hands out ``chunks`` and counts the bytes read."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._data = io.BytesIO(b"".join(chunks))
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        data = self._data.read(size)
        self.read_bytes += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        data = self._data.readline(size)
        self.read_bytes += len(data)
        return data


async def _asgi_post(
    app: Any,
    path: str,
    headers: list[tuple[str, str]],
    chunks: list[bytes],
) -> tuple[int, bytes, int]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")]
        + [(n.lower().encode(), v.encode("latin-1")) for n, v in headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    pending = list(chunks)
    read = 0
    status = 0
    body = b""

    async def receive() -> dict[str, Any]:
        nonlocal read
        if pending:
            chunk = pending.pop(0)
            read += len(chunk)
            return {"type": "http.request", "body": chunk, "more_body": bool(pending)}
        await asyncio.Event().wait()  # the client stays connected until cancelled
        raise AssertionError("unreachable")  # pragma: no cover

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, body
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body += message.get("body", b"")

    await app(scope, receive, send)
    return status, body, read
