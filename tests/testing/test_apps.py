"""The fake social app of ``childsafe.testing`` and its builders (the contract suite in
``tests/web/test_contract.py`` runs the scenarios on them)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from childsafe import action_rule, path_param
from childsafe.exceptions import MissingExtraError
from childsafe.testing import (
    ADAPTERS,
    AppRoute,
    Call,
    SocialApp,
    build_app,
    social_accounts,
)
from tests import django_settings

DM = action_rule("dm.send", target=path_param("user_id"))


class TestAppRoute:
    def test_websocket_routes_declare_only_websocket(self) -> None:
        """A websocket route's rule is keyed ``WEBSOCKET``."""
        with pytest.raises(ValueError, match="declares only 'WEBSOCKET'"):
            AppRoute("chat", "/chat/{user_id}", (), {"GET": DM}, websocket=True)

    def test_rules_only_for_served_methods(self) -> None:
        """A rule for a method the route does not serve is a mistake."""
        with pytest.raises(ValueError, match="does not serve"):
            AppRoute("dm", "/dm/{user_id}", ("POST",), {"PUT": DM})

    def test_function_views_declare_every_method_alike(self) -> None:
        """A function view cannot declare one method and not another."""
        with pytest.raises(ValueError, match="view_class=True"):
            AppRoute("poke", "/poke/{user_id}", ("GET", "POST"), {"POST": DM})
        poke = AppRoute("poke", "/p/{user_id}", ("GET", "POST"), {"POST": DM}, view_class=True)
        assert poke.rule_for("POST") == DM

    def test_paths_in_each_syntax(self) -> None:
        """A path converts to Flask and Django syntax and matches with or without a
        trailing slash."""
        route = AppRoute("dm", "/users/{user_id}/messages", ("POST",), {"POST": DM})
        assert route.formatted("flask") == "/users/<user_id>/messages"
        assert route.formatted("django") == "users/<str:user_id>/messages"
        assert route.match("/users/sam/messages/") == {"user_id": "sam"}
        assert route.match("/users/sam/messages/x") is None
        assert route.rule_for("HEAD") is None
        assert AppRoute("p", "/p").rule_for("HEAD") is None


class TestSocialApp:
    def test_accounts(self) -> None:
        """The accounts are the documented ones, related as documented."""
        accounts = social_accounts()
        assert {a.id: a.band.value for a in accounts} == {
            "teen": "13_15",
            "kid": "under_13",
            "stranger": "adult",
            "aunt": "adult",
            "parent": "adult",
        }
        assert accounts.relationship("aunt", "kid").connected
        assert accounts.relationship("parent", "teen").connected
        assert not accounts.relationship("stranger", "teen").connected

    def test_route_names_are_unique(self) -> None:
        """An extra route cannot reuse a name."""
        with pytest.raises(ValueError, match="unique"):
            SocialApp(extra_routes=[AppRoute("me", "/again")])

    def test_unknown_route(self) -> None:
        """Looking up a route that does not exist raises KeyError."""
        with pytest.raises(KeyError):
            SocialApp().route("nowhere")

    def test_me_without_a_context(self) -> None:
        """The ``me`` handler answers even when no adapter gave it a context."""
        social = SocialApp()
        assert social.respond(Call(social.route("me"), "GET")).body == b'{"id": null}'

    def test_route_table(self) -> None:
        """The route table holds every declared rule, or only the websockets'."""
        social = SocialApp()
        assert len(social.route_table()) == 6
        assert len(social.route_table(websockets_only=True)) == 1


class TestBuildApp:
    def test_unknown_adapter(self) -> None:
        """An adapter name that is not one of ADAPTERS is refused, listing them."""
        with pytest.raises(ValueError, match="use one of wsgi, asgi, flask"):
            build_app("bottle")  # type: ignore[arg-type]

    def test_missing_framework(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Building on a framework that is not installed names the extra to install."""
        monkeypatch.setitem(sys.modules, "flask", None)
        with pytest.raises(MissingExtraError, match=r"childsafe\[flask\]"):
            build_app("flask")

    def test_every_adapter_listed(self) -> None:
        """ADAPTERS lists the six adapters in the contract's order."""
        assert ADAPTERS == ("wsgi", "asgi", "flask", "django", "starlette", "fastapi")

    @pytest.mark.parametrize("adapter", ["wsgi", "asgi"])
    def test_plain_apps_route_by_themselves(self, adapter: str) -> None:
        """Out of strict mode, the plain WSGI and ASGI apps answer 404 for unknown paths
        and 405 for methods a route does not serve, running nothing."""
        social = SocialApp()
        with (
            build_app(adapter, social, strict=False) as built,  # type: ignore[arg-type]
            built.client("aunt") as http,
        ):
            assert http.get("/nowhere").status_code == 404
            assert http.delete("/me").status_code == 405
        assert social.ran == []

    def test_websockets_need_asgi(self) -> None:
        """Opening a websocket on a WSGI adapter is refused."""
        with build_app("wsgi") as built, pytest.raises(TypeError, match="no websockets"):
            built.websocket("/chat/teen")

    def test_plain_asgi_app(self) -> None:
        """The plain ASGI app closes websockets to unknown paths and ignores lifespan."""
        with build_app("asgi", strict=False) as built:
            assert built.websocket("/nowhere").close_code == 1000
            assert built.asgi is not None

            async def lifespan() -> None:
                async def receive() -> dict[str, str]:
                    return {"type": "lifespan.startup"}

                async def send(message: object) -> None:
                    raise AssertionError(message)

                assert built.asgi is not None
                await built.asgi({"type": "lifespan"}, receive, send)

            asyncio.run(lifespan())

    def test_close_is_idempotent(self) -> None:
        """Closing a built app twice is harmless."""
        built = build_app("wsgi")
        built.close()
        built.close()

    @pytest.mark.parametrize("adapter", ADAPTERS)
    def test_add_route_after_building(self, adapter: str) -> None:
        """A route added to a built app is served (an exempt one, out of strict mode)."""
        social = SocialApp()
        if adapter == "django":
            django_settings.setup()
        with build_app(adapter, social, strict=False) as built:  # type: ignore[arg-type]
            built.add_route(AppRoute("late", "/late", exempt="a late public page"))
            with built.client("stranger") as http:
                assert http.get("/late").text == "late"
        assert social.ran == ["late"]
        with pytest.raises(ValueError, match="'late' is taken"):
            social.add_route(AppRoute("late", "/again"))

    @pytest.mark.parametrize("adapter", ADAPTERS)
    def test_strict_false_reaches_the_adapter(self, adapter: str) -> None:
        """``strict=False`` reaches every adapter: a route neither declared nor exempt is
        served."""
        social = SocialApp(extra_routes=[AppRoute("loose", "/loose")])
        if adapter == "django":
            django_settings.setup()
        with (
            build_app(adapter, social, strict=False) as built,  # type: ignore[arg-type]
            built.client("stranger") as http,
        ):
            assert http.get("/loose").text == "loose"
