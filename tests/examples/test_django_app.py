"""The Playground example on Django (``examples/django_app``).

In-process tests use Django's test client. Django is configured once per test process
(``tests/django_settings.py``, shared with ``tests/test_django.py``), so each test here
applies the example's own settings module with ``override_settings``: every setting
except ``INSTALLED_APPS`` (already in the shared base) and ``DATABASES`` (the example has
none, and Django refuses to swap databases under a running process). The real-server
tests start the project in subprocesses, with its settings module as it is.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import importlib
import io
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import examples.django_app.settings as example_settings
import httpx
import pytest
from django.test import Client, override_settings  # type: ignore[import-untyped]
from examples.common.age_issuer import AUDIENCE, ISSUER, AgeIssuer
from examples.common.photos import (
    DEMO_PICTURES,
    HASH_LIST_FILE,
    LIST_NAME,
    PhotoStore,
    picture_bytes,
)
from examples.common.playground import default_data_dir
from examples.common.scenarios import SCENARIOS, Site, report, run_scenarios
from examples.common.socialdb import SEED_PEOPLE, SocialDB
from examples.django_app.playground.reports import close_services, get_vault
from examples.django_app.playground.store import get_playground

from childsafe.assurance import IssuerConfig, TokenVerifier
from childsafe.media import HashList, pdq_hash
from childsafe.parental import ConsentIssuer, SQLiteRevocationStore
from childsafe.testing.media import jpeg_bytes
from tests import django_settings
from tests.examples.test_flask_photos import check_match_kept, form_post

ROOT = Path(__file__).resolve().parents[2]
MANAGE = ROOT / "examples" / "django_app" / "manage.py"
PAGES = ("/", "/suggestions", "/requests", "/messages", "/settings", "/parent", "/age", "/photos")
ACCOUNTS = tuple(ident for ident, *_ in SEED_PEOPLE)
NOT_OVERRIDDEN = ("INSTALLED_APPS", "DATABASES")
START_TIMEOUT = 30.0


@pytest.fixture(name="django_env", scope="module")
def _django_env() -> None:
    django_settings.setup()


def example_overrides(db_path: Path) -> dict[str, Any]:
    """The example's settings module as ``override_settings`` arguments."""
    values = {
        name: getattr(example_settings, name)
        for name in dir(example_settings)
        if name.isupper() and name not in NOT_OVERRIDDEN
    }
    values["PLAYGROUND_DB"] = str(db_path)
    values["ALLOWED_HOSTS"] = [*example_settings.ALLOWED_HOSTS, "testserver"]
    return values


@pytest.fixture(name="db_path")
def _db_path(tmp_path: Path) -> Path:
    return tmp_path / "playground.sqlite3"


@pytest.fixture(name="site")
def _site(django_env: None, db_path: Path) -> Iterator[None]:
    with override_settings(**example_overrides(db_path)):
        yield
    # The trail's writer, the desk's and signals' connections and the media screen's
    # threads of this test's database: closed now, not when the next test opens its own.
    close_services()


def sign_in(account: str, *, enforce_csrf_checks: bool = False) -> Any:
    """A test client signed in as ``account`` through the sign-in form."""
    client = Client(enforce_csrf_checks=enforce_csrf_checks)
    response = client.post("/login", {"account": account})
    assert response.status_code == 303, response.content
    return client


def text(response: Any) -> str:
    return bytes(response.content).decode()


@pytest.mark.usefixtures("site")
class TestSettings:
    def test_example_apps_are_in_the_shared_base(self) -> None:
        """The shared test configuration installs every app the example lists."""
        assert set(example_settings.INSTALLED_APPS) <= set(django_settings.BASE["INSTALLED_APPS"])

    def test_database_is_seeded_on_first_use(self, db_path: Path) -> None:
        """The store is created and seeded with the demo accounts on the first request."""
        assert Client().get("/login").status_code == 200
        assert [p.id for p in SocialDB(db_path).people()] == list(ACCOUNTS)


@pytest.mark.usefixtures("site")
class TestErrorPages:
    @pytest.mark.parametrize(
        ("method", "path", "status", "title"),
        [
            ("get", "/no-such-page", 404, "Page not found"),
            ("put", "/settings", 405, "Not possible here"),
            ("post", "/parent/lena/settings", 403, "Not allowed"),
        ],
    )
    def test_styled_page(self, method: str, path: str, status: int, title: str) -> None:
        """An error is the app's own page, with the navigation for a signed-in person."""
        response = getattr(sign_in("aunt_jo"), method)(path)

        assert response.status_code == status
        assert f"<h1>{title}</h1>" in text(response)
        assert 'href="/settings"' in text(response)

    def test_405_names_the_methods(self) -> None:
        """The styled 405 keeps the Allow header."""
        assert sign_in("sam").put("/settings")["Allow"] == "GET, HEAD, POST"

    def test_handlers(self) -> None:
        """400 and 500 (Django calls these handlers itself) are the styled pages too."""
        from django.test import RequestFactory  # noqa: PLC0415
        from examples.django_app.playground import views as django_views  # noqa: PLC0415

        request = RequestFactory().get("/x")
        bad = django_views.bad_request(request)
        broken = django_views.server_error(request)

        assert (bad.status_code, broken.status_code) == (400, 500)
        assert "Something was missing" in bad.content.decode()
        assert "Something went wrong" in broken.content.decode()

    def test_json_client(self) -> None:
        """A JSON client gets JSON."""
        response = Client().get("/api/nope")

        assert response.json() == {"error": "Page not found"}


@pytest.mark.usefixtures("site")
class TestSigningIn:
    def test_unknown_account_is_named(self) -> None:
        """Signing in as an account that does not exist says so, above the list."""
        response = Client().post("/login", {"account": "zed"})

        assert response.status_code == 400
        assert "There is no demo account called “zed”" in text(response)

    def test_signed_out_pages_redirect_to_sign_in(self) -> None:
        """Every page sends a signed-out browser to the sign-in page."""
        client = Client()

        for page in PAGES:
            response = client.get(page)
            assert (response.status_code, response["Location"]) == (303, "/login"), page

    def test_signed_out_api_is_401(self) -> None:
        """The JSON API answers 401 to signed-out clients."""
        response = Client().get("/api/messages")

        assert response.status_code == 401
        assert response.json() == {"error": "sign in first"}

    def test_sign_in_page_lists_the_demo_accounts(self) -> None:
        """The sign-in page offers every seeded account with its age band."""
        page = text(Client().get("/login"))

        for ident in ACCOUNTS:
            assert f'value="{ident}"' in page
        assert "13 to 15" in page
        assert "<code>minimum</code>" in page

    def test_sign_in_and_out(self) -> None:
        """Signing in shows the account's home page; signing out ends the session."""
        client = sign_in("sam")

        home = text(client.get("/"))
        assert "Hello, Sam" in home
        assert "supervised" in home

        assert client.post("/logout")["Location"] == "/login"
        assert client.get("/").status_code == 303

    def test_unknown_account_cannot_sign_in(self) -> None:
        """Signing in as an account that does not exist is refused."""
        client = Client()

        assert client.post("/login", {"account": "mallory"}).status_code == 400
        assert client.get("/").status_code == 303

    def test_methods_are_enforced(self) -> None:
        """Each URL accepts only its methods."""
        client = sign_in("sam")

        assert client.get("/logout").status_code == 405
        assert client.post("/suggestions").status_code == 405


@pytest.mark.usefixtures("site")
class TestPages:
    @pytest.mark.parametrize("account", ACCOUNTS)
    def test_every_page_renders(self, account: str) -> None:
        """Each page, and every profile, renders for each demo account."""
        client = sign_in(account)

        for page in (*PAGES, *(f"/users/{other}" for other in ACCOUNTS)):
            response = client.get(page)
            assert response.status_code == 200, page
            assert response["Content-Type"] == "text/html; charset=utf-8"
            assert "</html>" in text(response)

    def test_forms_carry_csrf_tokens(self) -> None:
        """The shared templates get Django's CSRF token in every form."""
        page = text(sign_in("aunt_jo").get("/users/sam"))

        assert page.count('name="csrfmiddlewaretoken"') == 2  # sign out, message

    def test_unknown_profile_is_404(self) -> None:
        """A profile that does not exist is a 404."""
        assert sign_in("sam").get("/users/nobody").status_code == 404

    def test_stranger_sees_no_child_details(self) -> None:
        """A stranger's view of a child's profile hides the bio and the location."""
        page = text(sign_in("stranger").get("/users/sam"))

        assert "This profile is private" in page
        assert "Football on Saturdays" not in page
        assert "Central Library" not in page
        assert 'action="/messages/sam"' not in page

    def test_relative_sees_the_message_form(self) -> None:
        """A connected relative may message the 15-year-old from the profile."""
        page = text(sign_in("aunt_jo").get("/users/sam"))

        assert 'action="/messages/sam"' in page
        assert "Football on Saturdays" in page


@pytest.mark.usefixtures("site")
class TestDenials:
    def test_browser_dm_denial_renders_the_denied_page(self, db_path: Path) -> None:
        """A stranger's form DM to a child gets the HTML denied page, and is not stored."""
        response = sign_in("stranger").post("/messages/sam", {"text": "hi there"})

        page = text(response)
        assert response.status_code == 403
        assert response["Content-Type"] == "text/html; charset=utf-8"
        assert "<h1>Not allowed</h1>" in page
        assert "Only the account&#39;s connections can do this." in page
        assert "not_connected" not in page  # no reason code for people
        # The public page never carries the target's age band.
        assert "13_15" not in page
        assert all(m["text"] != "hi there" for m in SocialDB(db_path).inbox("sam"))

    def test_api_dm_denial_is_problem_json(self) -> None:
        """The JSON API answers denials with application/problem+json."""
        response = sign_in("stranger").post(
            "/api/messages/sam", {"text": "hi"}, content_type="application/json"
        )

        assert response.status_code == 403
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["reason"] == "not_connected"

    def test_json_client_gets_problem_json_on_form_routes(self) -> None:
        """A client asking for JSON gets problem+json from the form routes too."""
        response = sign_in("stranger").post(
            "/users/maya/friend-request", headers={"Accept": "application/json"}
        )

        assert response.status_code == 403
        assert response.json()["reason"] == "not_invited"

    def test_signed_out_browser_denial_goes_to_sign_in(self) -> None:
        """A denied form post from a signed-out browser is sent to the sign-in page."""
        response = Client().post("/messages/sam", {"text": "hi"})

        assert (response.status_code, response["Location"]) == (303, "/login")


@pytest.mark.usefixtures("site")
class TestCsrf:
    def test_childsafe_answers_before_csrf(self) -> None:
        """With CSRF enforced, a denied request still gets childsafe's answer."""
        client = sign_in("stranger", enforce_csrf_checks=True)

        response = client.post("/users/maya/friend-request", headers={"Accept": "application/json"})

        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["reason"] == "not_invited"

    def test_allowed_form_posts_need_the_token(self, db_path: Path) -> None:
        """An allowed form post without the CSRF token is refused; with it, it is sent."""
        client = sign_in("aunt_jo", enforce_csrf_checks=True)

        forged = client.post("/messages/sam", {"text": "forged"})
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', text(client.get("/")))
        assert match is not None
        sent = client.post("/messages/sam", {"text": "real", "csrfmiddlewaretoken": match[1]})

        assert forged.status_code == 403
        assert "without its security check" in text(forged)
        assert sent.status_code == 303
        assert [m["text"] for m in SocialDB(db_path).inbox("sam")][:1] == ["real"]

    def test_parent_forms_need_the_token(self, db_path: Path) -> None:
        """A consent grant posted without the Parent page's CSRF token is refused."""
        client = sign_in("parent_pat", enforce_csrf_checks=True)
        scope = {"scope": "feed_personalisation:profiled"}

        forged = client.post("/parent/lena/consents", scope)
        match = re.search(
            r'name="csrfmiddlewaretoken" value="([^"]+)"', text(client.get("/parent"))
        )
        assert match is not None
        sent = client.post("/parent/lena/consents", {**scope, "csrfmiddlewaretoken": match[1]})

        assert forged.status_code == 403
        assert sent.status_code == 303
        assert [g["scope"] for g in SocialDB(db_path).grants("lena")] == [scope["scope"]]

    def test_json_api_is_exempt_but_reads_only_json(self) -> None:
        """The JSON API needs no token, and ignores bodies that are not JSON."""
        client = sign_in("aunt_jo", enforce_csrf_checks=True)

        sent = client.post("/api/messages/sam", {"text": "hi"}, content_type="application/json")
        form = client.post("/api/messages/sam", {"text": "hi"})

        assert sent.status_code == 201
        assert form.status_code == 400


@pytest.mark.usefixtures("site")
class TestFlows:
    def test_relative_messages_a_child(self, db_path: Path) -> None:
        """The aunt's form DM to Sam is delivered and confirmed."""
        client = sign_in("aunt_jo")

        response = client.post("/messages/sam", {"text": "Well played!"})
        notice = text(client.get(response["Location"]))

        assert response["Location"] == "/messages?sent=sam"
        assert "Message sent to Sam." in notice
        assert SocialDB(db_path).inbox("sam")[0]["text"] == "Well played!"

    def test_empty_form_dm_is_not_sent(self, db_path: Path) -> None:
        """An empty message goes back to the profile without being stored."""
        client = sign_in("aunt_jo")
        before = SocialDB(db_path).inbox("sam")

        response = client.post("/messages/sam", {"text": "  "})

        assert response["Location"] == "/users/sam"
        assert SocialDB(db_path).inbox("sam") == before

    def test_api_messages(self) -> None:
        """The JSON DM endpoint stores the message and validates its body."""
        aunt = sign_in("aunt_jo")

        sent = aunt.post("/api/messages/sam", {"text": "Dinner?"}, content_type="application/json")
        bad = aunt.post(
            "/api/messages/sam", {"message": "Dinner?"}, content_type="application/json"
        )
        garbled = aunt.post("/api/messages/sam", "{", content_type="application/json")
        inbox = sign_in("sam").get("/api/messages").json()["messages"]

        assert sent.status_code == 201
        assert (bad.status_code, garbled.status_code) == (400, 400)
        assert inbox[0]["id"] == sent.json()["id"]
        assert inbox[0]["text"] == "Dinner?"

    def test_friend_request_and_accept(self) -> None:
        """An adult's friend request to an adult can be accepted, connecting them."""
        coach = sign_in("coach_lee")
        assert coach.post("/users/riley/friend-request")["Location"] == "/users/riley"
        assert coach.post(
            "/users/riley/friend-request", headers={"Accept": "application/json"}
        ).json() == {"requested": "riley"}

        client = sign_in("riley")
        match = re.search(r'action="/requests/(\d+)/accept"', text(client.get("/requests")))
        assert match is not None

        assert client.post(f"/requests/{match[1]}/accept")["Location"] == "/requests"
        assert client.post(f"/requests/{match[1]}/accept").status_code == 404
        assert "connected" in text(sign_in("riley").get("/users/coach_lee"))

    def test_check_in(self) -> None:
        """Checking in by form and JSON updates the account's location."""
        client = sign_in("riley")

        client.post("/location", {"place": "Harbour"})
        assert "Last check-in: Harbour" in text(client.get("/"))
        checked_in = client.post(
            "/api/location", {"place": "Quay"}, content_type="application/json"
        )
        assert checked_in.json() == {"place": "Quay"}
        assert client.post("/api/location", {}, content_type="application/json").status_code == (
            400
        )
        assert client.get("/api/users/riley").json()["location"]["place"] == "Quay"

    def test_child_location_filtered_for_connections_too(self) -> None:
        """Alex's location stays hidden from a connection while Alex's sharing is off."""
        body = sign_in("jamie").get("/api/users/alex").json()

        assert body["id"] == "alex"
        assert "location" not in body

    def test_children_never_suggested_to_a_stranger(self) -> None:
        """The stranger's suggestions (JSON) hold adults only."""
        ids = [s["id"] for s in sign_in("stranger").get("/api/suggestions").json()["suggestions"]]

        assert ids
        assert not {"maya", "sam", "alex", "jamie"} & set(ids)

    def test_child_settings_change_within_the_policy(self) -> None:
        """A 17-year-old can loosen a setting after the safety prompt, and not below the floor."""
        client = sign_in("alex")

        form = {"setting": "location_sharing", "value": "connections_precise"}
        prompted = client.get(client.post("/settings", form)["Location"])
        confirmed = client.get(client.post("/settings", {**form, "confirmed": "1"})["Location"])
        floor = client.get(
            client.post("/settings", {"setting": "location_sharing", "value": "public"})["Location"]
        )

        assert "Safety tip" in text(prompted)
        assert "Your “Who can see where you are” setting is changed." in text(confirmed)
        assert "available at your age, to keep you safe" in text(floor)
        assert sign_in("jamie").get("/api/users/alex").json()["location"]["place"] == (
            "Harbour Running Track"
        )

    def test_parent_changes_a_linked_childs_setting(self) -> None:
        """A parent may loosen what the policy lets a parent loosen, for their own child only."""
        parent = sign_in("parent_pat")

        done = parent.post(
            "/parent/sam/settings", {"setting": "location_sharing", "value": "connections_coarse"}
        )
        page = text(parent.get(done["Location"]))
        other = parent.post(
            "/parent/alex/settings", {"setting": "location_sharing", "value": "connections_coarse"}
        )

        assert "“Who can see where you are” setting is changed" in page
        assert other.status_code == 403
        # The change now reaches the aunt (a connection) but still not a stranger.
        assert "location" in sign_in("aunt_jo").get("/api/users/sam").json()
        assert "location" not in sign_in("stranger").get("/api/users/alex").json()


def notice(client: Any, response: Any) -> str:
    """The notice on the page a form post redirected to, as text."""
    assert response.status_code == 303, response.content
    page = text(client.get(response["Location"]))
    found = re.search(r'<div class="notice[^"]*">(.*?)</div>', page, re.DOTALL)
    assert found is not None, "no notice on the page"
    return html.unescape(re.sub(r"<[^>]+>", "", found[1])).strip()


def parent_change(client: Any, child: str, setting: str, value: str, **form: str) -> str:
    """What the Parent page says after a parent's change to ``child``'s setting."""
    data = {"setting": setting, "value": value, **form}
    return notice(client, client.post(f"/parent/{child}/settings", data))


def grant(client: Any, child: str, scope: str) -> str:
    """What the Parent page says after giving consent for ``scope``."""
    return notice(client, client.post(f"/parent/{child}/consents", {"scope": scope}))


def grant_id(client: Any, child: str) -> str:
    """The id of the child's grant that the Parent page offers to revoke."""
    page = text(client.get("/parent"))
    found = re.search(rf'action="/parent/{child}/consents/([0-9a-f]+)/revoke"', page)
    assert found is not None, "no grant to revoke"
    return found[1]


def me(client: Any, token: str | None = None) -> dict[str, Any]:
    """``/api/me``, with ``token`` as a bearer age token if given."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body: dict[str, Any] = client.get("/api/me", headers=headers).json()
    return body


def tampered(token: str, **claims: object) -> str:
    """``token`` with changed claims and its original signature."""
    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**data, **claims}).encode()).rstrip(b"=")
    return f"{header}.{forged.decode()}.{signature}"


@pytest.fixture(name="issuer")
def _issuer(site: None) -> AgeIssuer:
    del site
    return get_playground().age_issuer


@pytest.mark.usefixtures("site")
class TestParentView:
    def test_parent_page_lists_each_linked_child(self) -> None:
        """The Parent page shows every linked child with their jurisdiction's consent age."""
        page = text(sign_in("parent_pat").get("/parent"))

        for child in ("maya", "sam", "lena"):
            assert f'id="child-{child}"' in page
        assert "Age of digital consent in Ireland: 16." in page
        assert "Age of digital consent in the UK: 13." in page
        assert 'id="child-alex"' not in page

    def test_child_sees_who_supervises(self) -> None:
        """A linked child's pages name the supervising parent; an unlinked teen's do not."""
        maya = text(sign_in("maya").get("/settings"))
        alex = text(sign_in("alex").get("/settings"))

        assert "supervised by Pat (parent)" in maya
        assert "Pat (parent) can see your settings and change some of them." in maya
        assert "supervised by" not in alex

    def test_parent_change_locks_and_the_child_cannot_undo_it(self, db_path: Path) -> None:
        """A parent's change locks the setting: the child may tighten it, never loosen it."""
        parent = sign_in("parent_pat")
        sam = sign_in("sam")

        changed = parent_change(parent, "sam", "location_sharing", "connections_coarse")
        settings = text(sam.get("/settings"))
        tighter = notice(
            sam, sam.post("/settings", {"setting": "location_sharing", "value": "off"})
        )
        undo = notice(
            sam,
            sam.post(
                "/settings",
                {
                    "setting": "location_sharing",
                    "value": "connections_coarse",
                    "confirmed": "1",
                },
            ),
        )

        assert changed == (
            "Saved. Sam's “Who can see where you are” setting is changed. "
            "It is locked: Sam can make it safer, but can't loosen it."
        )
        assert SocialDB(db_path).locks("sam") == ["location_sharing"]
        assert '<span class="badge lock">locked by Pat (parent)</span>' in settings
        assert "Locked by Pat (parent): Who can see where you are." in settings
        assert tighter == (
            "Saved. Your “Who can see where you are” setting is changed. "
            "A parent has locked it: you can make it safer, but not looser."
        )
        assert undo.startswith(
            "Locked by a parent. Your “Who can see where you are” setting was locked by Pat"
        )
        assert "location" not in sign_in("aunt_jo").get("/api/users/sam").json()

    def test_parent_can_lift_a_lock(self, db_path: Path) -> None:
        """Unlocking keeps the value and removes the lock from the store and the child's page."""
        parent = sign_in("parent_pat")
        parent_change(parent, "sam", "live_streaming", "connections")

        unlocked = parent_change(parent, "sam", "live_streaming", "connections", lock="0")

        assert unlocked == (
            "Unlocked. Sam's “Going live” setting is unlocked: they can change it again, "
            "within what their age allows."
        )
        assert SocialDB(db_path).locks("sam") == []
        page = text(sign_in("sam").get("/settings"))
        assert "A parent locked this setting" not in page
        assert "Nothing is locked by a parent." in page

    def test_parent_refused_below_the_floor_but_may_restore_the_default(
        self, db_path: Path
    ) -> None:
        """A parent cannot go below the floor, but may take a setting back to its default."""
        parent = sign_in("parent_pat")

        floor = parent_change(parent, "sam", "direct_messages", "everyone")
        sam = sign_in("sam")
        sam.post("/settings", {"setting": "tagging", "value": "nobody"})
        nobody = parent_change(parent, "sam", "tagging", "connections")

        assert floor == (
            "Not available. That choice isn't available at Sam's age, not even with a "
            "parent's permission. Pick one of the choices shown."
        )
        assert nobody == (
            "Saved. Sam's “Who can tag or mention you” setting is changed. "
            "It is locked: Sam can make it safer, but can't loosen it."
        )
        assert SocialDB(db_path).locks("sam") == ["tagging"]

    def test_only_a_linked_parent_may_change_a_child(self) -> None:
        """Another adult, or a parent for someone else's child, is refused with 403."""
        form = {"setting": "live_streaming", "value": "connections"}

        aunt = sign_in("aunt_jo").post("/parent/sam/settings", form)
        grant_by_aunt = sign_in("aunt_jo").post(
            "/parent/lena/consents", {"scope": "feed_personalisation:profiled"}
        )
        unlinked = sign_in("parent_pat").post("/parent/jamie/settings", form)

        assert (aunt.status_code, grant_by_aunt.status_code, unlinked.status_code) == (
            403,
            403,
            403,
        )


@pytest.mark.usefixtures("site")
class TestSettingsApi:
    def test_refused_change_is_problem_json_in_the_childs_words(self) -> None:
        """A 15-year-old loosening location sharing gets 403 problem+json naming their parent."""
        response = sign_in("sam").post(
            "/api/settings",
            {"setting": "location_sharing", "value": "connections_coarse"},
            content_type="application/json",
        )

        assert response.status_code == 403
        assert response["Content-Type"] == "application/problem+json"
        body = json.loads(response.content)
        assert body["reason"] == "parent_required"
        assert (
            body["detail"]
            == "Only Pat (parent) can loosen your “Who can see where you are” setting."
        )

    def test_allowed_change(self, db_path: Path) -> None:
        """A change the policy allows is applied and stored."""
        done = sign_in("sam").post(
            "/api/settings",
            {"setting": "tagging", "value": "nobody"},
            content_type="application/json",
        )

        assert (done.status_code, done.json()["value"]) == (200, "nobody")
        stored = SocialDB(db_path).account("sam")
        assert stored is not None
        assert stored.settings["tagging"] == "nobody"


@pytest.mark.usefixtures("site")
class TestConsent:
    def test_profiling_needs_consent_below_the_age_of_digital_consent(self) -> None:
        """At 15, profiling needs a parent's consent in Ireland (16) but not in the UK (13)."""
        parent = sign_in("parent_pat")

        lena = parent_change(parent, "lena", "feed_personalisation", "profiled")
        sam = parent_change(parent, "sam", "feed_personalisation", "profiled")
        page = text(parent.get("/parent"))

        assert "parental_consent_required" not in lena  # the public wording, not the code
        assert lena.startswith(
            "A parent's consent is needed. This choice for Lena's “How your feed is chosen”"
        )
        assert "needs your consent at their age" in lena
        assert sam == (
            "Saved. Sam's “How your feed is chosen” setting is changed. "
            "It is locked: Sam can make it safer, but can't loosen it."
        )
        assert 'value="feed_personalisation:profiled"' in page.split('id="child-lena"')[1]
        assert 'value="feed_personalisation:profiled"' not in page.split('id="child-sam"')[1]

    def test_consent_grant_allows_profiling_and_revocation_removes_it_at_once(
        self, db_path: Path
    ) -> None:
        """A signed grant makes 'profiled' possible; revoking it takes it away at once."""
        parent = sign_in("parent_pat")
        lena = sign_in("lena")

        given = grant(parent, "lena", "feed_personalisation:profiled")
        changed = parent_change(parent, "lena", "feed_personalisation", "profiled")
        during = me(lena)
        settings = text(lena.get("/settings"))
        revoked = notice(
            parent, parent.post(f"/parent/lena/consents/{grant_id(parent, 'lena')}/revoke")
        )
        after = me(lena)
        page = text(parent.get("/parent"))

        assert given.startswith(
            "You gave consent for Lena: a feed ranked by profiling (personalised content), until "
        )
        assert changed == (
            "Saved. Lena's “How your feed is chosen” setting is changed. "
            "It is locked: Lena can make it safer, but can't loosen it."
        )
        assert during["consents"] == ["feed_personalisation:profiled"]
        assert "<td>Based on what you do</td>" in settings
        assert "A parent gave consent for: a feed ranked by profiling" in settings
        assert revoked == (
            "You revoked your consent for Lena: a feed ranked by profiling (personalised content)."
        )
        assert after["consents"] == []
        assert "<td>Not based on what you do</td>" in text(lena.get("/settings"))
        assert '<span class="badge warn">revoked</span>' in page
        [row] = SocialDB(db_path).grants("lena")
        store = SQLiteRevocationStore(default_data_dir(db_path) / "revocations.sqlite3")
        assert store.revoked([row["id"]]) == {row["id"]}

    def test_dm_from_grant_lets_one_connection_message_the_child(self) -> None:
        """With DMs switched off, a dm.from grant lets that one connection through."""
        parent = sign_in("parent_pat")
        aunt, sam = sign_in("aunt_jo"), sign_in("sam")
        parent_change(parent, "maya", "direct_messages", "nobody")

        off = aunt.post("/api/messages/maya", {"text": "hi"}, content_type="application/json")
        grant(parent, "maya", "dm.from:aunt_jo")
        granted = aunt.post("/api/messages/maya", {"text": "hi"}, content_type="application/json")
        other = sam.post("/api/messages/maya", {"text": "hi"}, content_type="application/json")

        assert off.json()["reason"] == "setting_off"
        assert granted.status_code == 201
        assert other.json()["reason"] == "setting_off"

    def test_consents_not_offered_are_refused(self, db_path: Path) -> None:
        """Scopes the policy never allows, strangers and malformed scopes get no grant."""
        parent = sign_in("parent_pat")

        floor = grant(parent, "lena", "data_sharing:on")
        stranger = grant(parent, "maya", "dm.from:stranger")
        garbage = grant(parent, "maya", "everything")

        assert floor == ("Lena doesn't need consent for sharing personal data with third parties.")
        assert stranger == "Maya doesn't need consent for direct messages with Dan (a stranger)."
        assert garbage.startswith("unknown consent scope 'everything'")
        assert SocialDB(db_path).grants("lena") == SocialDB(db_path).grants("maya") == []

    def test_a_forged_grant_in_the_store_does_not_count(self) -> None:
        """A grant signed with another key is refused when the account is loaded."""
        db = get_playground().db  # the test's store, seeded
        child = db.account("lena")
        assert child is not None
        forged = ConsentIssuer(secrets.token_bytes(32), issuer="childsafe-playground").issue(
            child, "parent_pat", "feed_personalisation:profiled"
        )
        now = dt.datetime.now(dt.UTC)
        db.add_grant(
            "forged", "lena", "parent_pat", "feed_personalisation:profiled", forged, now, now
        )

        page = text(sign_in("parent_pat").get("/parent"))

        assert me(sign_in("lena"))["consents"] == []
        assert '<span class="badge warn">not valid</span>' in page


@pytest.mark.usefixtures("site")
class TestAgeTokens:
    def test_valid_token_gives_the_verified_band(self, issuer: AgeIssuer) -> None:
        """A token from the local issuer signs the API client in with a verified band."""
        client = Client()
        token = issuer.issue("sam", age_band="13_15")

        body = me(client, token)
        inbox = client.get("/api/messages", headers={"Authorization": f"Bearer {token}"})

        assert (body["id"], body["band"], body["assurance"]) == ("sam", "13_15", "verified")
        assert body["resolved_by"] == "age_token"
        assert body["age_token"]["band_set_by"] == "token:age_band"
        assert body["supervised_by"] == ["parent_pat"]
        assert inbox.status_code == 200

    @pytest.mark.parametrize(
        ("claims", "band"),
        [
            ({"age_over": {13: True, 16: True, 18: False}}, "16_17"),
            ({"birthdate": dt.date(dt.datetime.now(dt.UTC).year - 17, 1, 1)}, "16_17"),
        ],
    )
    def test_other_claim_shapes(self, issuer: AgeIssuer, claims: dict[str, Any], band: str) -> None:
        """age_over_N booleans and a birthdate give bands too."""
        token = issuer.issue("alex", **claims)

        body = me(Client(), token)

        assert (body["band"], body["assurance"]) == (band, "verified")

    def test_a_token_cannot_make_a_child_older(self, issuer: AgeIssuer) -> None:
        """The youngest of the token's band and the declared birth date wins."""
        body = me(Client(), issuer.issue("sam", age_band="adult"))

        assert body["band"] == "13_15"
        assert body["age_token"]["band_set_by"] == "declared birth date"

    @pytest.mark.parametrize(
        ("make", "code"),
        [
            (
                lambda i: tampered(i.issue("sam", age_band="13_15"), age_band="adult"),
                "bad_signature",
            ),
            (lambda i: i.issue("sam", age_band="13_15", ttl=-dt.timedelta(minutes=5)), "expired"),
            (lambda i: i.issue("sam", age_band="13_15", audience="another-app"), "wrong_audience"),
            (lambda _: "not.a-token", "malformed"),
        ],
    )
    def test_bad_tokens_get_the_protective_path(
        self, issuer: AgeIssuer, make: Callable[[AgeIssuer], str], code: str
    ) -> None:
        """A refused token is the protective unknown-age account, and the answer says why."""
        client = Client()
        token = make(issuer)

        body = me(client, token)
        denied = client.get("/api/messages", headers={"Authorization": f"Bearer {token}"})

        assert (body["id"], body["band"], body["treated_as"]) == (None, "unknown", "under_13")
        assert body["resolved_by"] == "error"
        assert f"[{code}]" in body["error"]
        assert body["age_token"]["code"] == code
        assert denied.status_code == 401
        assert f"[{code}]" in denied.json()["reason"]

    def test_unknown_subject_fails_closed(self, issuer: AgeIssuer) -> None:
        """A valid token for nobody in the app does not sign anyone in."""
        body = me(Client(), issuer.issue("mallory", age_band="adult"))

        assert (body["id"], body["resolved_by"]) == (None, "error")
        assert "no Playground account" in body["error"]

    def test_cookie_sign_in_is_unchanged(self) -> None:
        """Without a token the session account is used, with its declared band."""
        body = me(sign_in("alex"))

        assert (body["id"], body["band"], body["assurance"]) == ("alex", "16_17", "self_declared")
        assert body["age_token"] is None

    def test_verify_my_age_page_applies_a_valid_token(self, issuer: AgeIssuer) -> None:
        """A token pasted on the age page gives the signed-in account its verified band."""
        sam = sign_in("sam")

        page = notice(sam, sam.post("/age", {"token": issuer.issue("sam", age_band="13_15")}))
        body = me(sam)

        assert page.startswith("Your age token was accepted: 13 to 15 from the issuer, verified.")
        assert "(set by your age token)" in page
        assert (body["id"], body["band"], body["assurance"]) == ("sam", "13_15", "verified")
        assert "age verified" in text(sam.get("/"))

    def test_refused_token_on_the_age_page_is_protective(self, issuer: AgeIssuer) -> None:
        """A tampered token kept in the session leaves the account signed in with an
        unknown age, shows why, and removing it restores the declared band."""
        alex = sign_in("alex")
        token = tampered(issuer.issue("alex", age_band="16_17"), age_band="adult")

        page = notice(alex, alex.post("/age", {"token": token}))
        during = me(alex)
        alex.post("/age/forget")
        after = me(alex)

        assert page.startswith("Your age token was changed after it was made")
        assert "bad_signature:" in page  # for developers, folded away
        assert "treated as age unknown, with the protections for under 13" in page
        assert (during["id"], during["band"], during["treated_as"]) == (
            "alex",
            "unknown",
            "under_13",
        )
        assert (after["band"], after["assurance"]) == ("16_17", "self_declared")

    def test_someone_elses_token_does_not_count(self, issuer: AgeIssuer) -> None:
        """A valid token about another account is refused on the age page."""
        riley = sign_in("riley")

        page = notice(riley, riley.post("/age", {"token": issuer.issue("sam", age_band="adult")}))

        assert page.startswith("This age token belongs to someone else")
        assert me(riley)["band"] == "unknown"

    def test_jwks_is_served(self, issuer: AgeIssuer) -> None:
        """The app publishes the test issuer's public key set."""
        body = Client().get("/.well-known/jwks.json").json()

        assert body == issuer.jwks()
        assert "d" not in body["keys"][0]  # no private part


# -- photo messages --------------------------------------------------------------------


def send_photo(client: Any, to: str, image: bytes, **options: Any) -> Any:
    """Send ``image`` to ``to`` with a Django test client as the page's form does
    (``options``: those of :func:`~tests.examples.test_flask_photos.form_post`)."""
    return client.post(**form_post(to, image, **options))


def media_dir(db_path: Path) -> Path:
    return default_data_dir(db_path) / "media"


def csrf_token(client: Any, page: str = "/photos") -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', text(client.get(page)))
    assert match is not None
    return match[1]


@pytest.mark.usefixtures("site")
class TestPhotos:
    def test_page_gallery_and_navigation(self, db_path: Path) -> None:
        """The navigation links the Photos page; it shows the labelled gallery (served
        as PNGs) and a send button per connection, its forms carry the CSRF token, and
        the demo hash list is written at start-up from the listed picture."""
        sam = sign_in("sam")
        page = text(sam.get("/photos"))

        assert 'href="/photos"' in text(sam.get("/"))
        for picture in DEMO_PICTURES:
            assert f'src="/photos/demo/{picture.name}.png"' in page
            assert picture.label in page
            served = sam.get(f"/photos/demo/{picture.name}.png")
            assert (served.status_code, served["Content-Type"]) == (200, "image/png")
        assert "drawn by the computer" in page
        assert 'formaction="/photos/to/aunt_jo"' in page
        assert page.count('name="csrfmiddlewaretoken"') == 2  # sign out, the photo form
        assert sam.get("/photos/demo/nothing.png").status_code == 404
        assert sam.get("/photos/to/aunt_jo").status_code == 405
        assert Client().get("/photos")["Location"] == "/login"
        listed = {e.pdq for e in HashList.from_csv(media_dir(db_path) / HASH_LIST_FILE)}
        assert pdq_hash(picture_bytes("listed")).hex in listed
        assert pdq_hash(picture_bytes("ordinary")).hex not in listed

    @pytest.mark.parametrize("account", ["aunt_jo", "sam"])
    def test_listed_picture_refused_with_evidence_audit_and_case(
        self, db_path: Path, account: str
    ) -> None:
        """A recompressed copy of the listed picture is refused for an adult and a
        child alike, in neutral words; the vault kept the evidence, the audit trail has
        the match, and the moderators' page shows the case and the images figures."""
        from PIL import Image  # noqa: PLC0415 - the media extra

        to = "sam" if account == "aunt_jo" else "aunt_jo"
        copy = jpeg_bytes(Image.open(io.BytesIO(picture_bytes("listed"))), quality=50)
        response = send_photo(sign_in(account), to, copy, name="copy.jpg")

        assert response.status_code == 403
        assert response.json()["reason"] == "known_abuse_match"
        assert LIST_NAME not in text(response)
        trail = get_vault().trail
        assert trail is not None
        admin = text(sign_in("riley").get("/admin/reports"))
        check_match_kept(db_path, media_dir(db_path), (account, to, copy), admin, trail)
        assert "/image" not in text(sign_in(to).get("/photos"))

    def test_plain_form_refusal_is_the_styled_page(self) -> None:
        """Without the page's script (a plain form post), the refusal is the styled
        "Not allowed" page in plain words."""
        response = send_photo(
            sign_in("aunt_jo"), "sam", picture_bytes("listed"), headers={"Accept": "text/html"}
        )

        assert response.status_code == 403
        assert "This image can&#39;t be shared here." in text(response)
        assert "known_abuse" not in text(response)

    def test_teen_meets_the_intervention_then_sends_anyway(self) -> None:
        """Sam (15) sending the flagged picture is asked first; confirmed, it is sent,
        counted on the live transparency report, and the aunt sees it as sent."""
        sam = sign_in("sam")
        first = send_photo(sam, "aunt_jo", picture_bytes("flagged"))
        body = first.json()
        sent = send_photo(sam, "aunt_jo", picture_bytes("flagged"), confirm=True)

        assert first.status_code == 403
        assert body["needs_confirmation"] is True
        assert body["confirm"] == {"header": "Childsafe-Confirm", "value": "media.send"}
        assert "can't take it back" in body["detail"]
        assert sent.status_code == 201, text(sent)
        live = sign_in("riley").get("/admin/reports/transparency.json").json()
        assert live["media"]["interventions"] == {"shown": 1, "sent_anyway": 1, "not_sent": 0}
        photo = sent.json()["id"]
        aunt = sign_in("aunt_jo")
        assert f'src="/photos/{photo}/image"' in text(aunt.get("/photos"))
        shown = aunt.get(f"/photos/{photo}/image")
        assert (shown.status_code, shown.content) == (200, picture_bytes("flagged"))
        assert "Photo sent to Aunt Jo." in text(sam.get("/photos?sent=aunt_jo"))

    def test_under_13_is_refused_with_an_explanation(self) -> None:
        """Maya (12) cannot send it, confirmed or not, and is told why in her words."""
        response = send_photo(sign_in("maya"), "aunt_jo", picture_bytes("flagged"), confirm=True)
        body = response.json()

        assert response.status_code == 403
        assert body["reason"] == "sensitive_media_blocked"
        assert "needs_confirmation" not in body
        assert "nudity" in body["detail"]
        assert "sensitive_media" not in body["detail"] + body["next_step"]

    def test_child_receiving_it_sees_it_blurred_with_three_choices(self) -> None:
        """The aunt's flagged picture reaches Sam blurred, with the explanation and the
        three choices; the image is refused until Sam chooses to see it; blocking and
        reporting blocks the aunt and opens the report form."""
        sent = send_photo(sign_in("aunt_jo"), "sam", picture_bytes("flagged"))
        assert sent.status_code == 201, text(sent)
        photo = sent.json()["id"]
        sam = sign_in("sam")
        page = text(sam.get("/photos"))

        assert f'src="/photos/{photo}/blurred"' in page
        assert f'src="/photos/{photo}/image"' not in page
        assert "might show nudity or something upsetting" in page
        for choice in (">View<", "Don't view", "Block and report"):
            assert choice in html.unescape(page)
        preview = sam.get(f"/photos/{photo}/blurred")
        assert preview.status_code == 200
        assert preview.content != picture_bytes("flagged")
        refused = sam.get(f"/photos/{photo}/image", headers={"Accept": "application/json"})
        assert refused.json()["reason"] == "sensitive_media_blurred"
        shown = sam.get(f"/photos/{photo}/image", headers={"Childsafe-Confirm": "media.view"})
        assert (shown.status_code, shown.content) == (200, picture_bytes("flagged"))
        blocked = sam.post(f"/photos/{photo}/block")
        assert blocked.status_code == 303
        assert blocked["Location"] == f"/report?kind=content&id=photo-{photo}&account=aunt_jo"
        assert "<form" in text(sam.get(blocked["Location"]))
        assert get_playground().db.blocked("sam", "aunt_jo")

    def test_only_sender_and_recipient_open_a_photo(self) -> None:
        """An ordinary picture passes and its recipient sees it; anyone else gets 404
        for the image and its preview, and the block route is the recipient's only."""
        sent = send_photo(sign_in("aunt_jo"), "sam", picture_bytes("ordinary"))
        photo = sent.json()["id"]
        other = sign_in("parent_pat")

        assert sign_in("sam").get(f"/photos/{photo}/image").content == picture_bytes("ordinary")
        assert other.get(f"/photos/{photo}/image").status_code == 404
        assert other.get(f"/photos/{photo}/blurred").status_code == 404
        assert other.post(f"/photos/{photo}/block").status_code == 404
        assert sign_in("aunt_jo").post(f"/photos/{photo}/block").status_code == 404

    def test_upload_without_a_picture(self) -> None:
        """A form with no picture is refused by childsafe before the view (400)."""
        response = sign_in("sam").post(
            "/photos/to/aunt_jo", {"caption": "no picture"}, headers={"Accept": "application/json"}
        )

        assert response.status_code == 400

    def test_forms_need_the_csrf_token(self, db_path: Path) -> None:
        """With CSRF enforced, an allowed photo without the form's token is refused and
        not kept; with it (as the page's script sends it) it is sent. A refused picture
        gets childsafe's answer first."""
        aunt = sign_in("aunt_jo", enforce_csrf_checks=True)
        forged = send_photo(aunt, "sam", picture_bytes("ordinary"))
        token = csrf_token(aunt)
        sent = send_photo(aunt, "sam", picture_bytes("ordinary"), csrfmiddlewaretoken=token)
        refused = send_photo(aunt, "sam", picture_bytes("listed"))

        assert forged.status_code == 403
        assert sent.status_code == 201, text(sent)
        assert refused.json()["reason"] == "known_abuse_match"
        assert len(PhotoStore(db_path).received("sam")) == 1
        photo = sent.json()["id"]
        sam = sign_in("sam", enforce_csrf_checks=True)
        assert sam.post(f"/photos/{photo}/block").status_code == 403
        blocked = sam.post(f"/photos/{photo}/block", {"csrfmiddlewaretoken": csrf_token(sam)})
        assert blocked.status_code == 303


# -- real servers ----------------------------------------------------------------------


def _environment(db_path: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "examples.django_app.settings",
        "PLAYGROUND_DB": str(db_path),
        "PLAYGROUND_SECRET_KEY": secrets.token_hex(32),
    }
    env.pop("PLAYGROUND_DEBUG", None)
    return env


def _wait_for(condition: Any, process: subprocess.Popen[bytes], log: Path) -> Any:
    """Poll ``condition()`` until it returns something, for at most START_TIMEOUT."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited ({process.returncode}):\n{log.read_text()}")
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(f"the server did not start in {START_TIMEOUT} s:\n{log.read_text()}")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def _has_gunicorn_option(flag: str) -> bool:
    config = importlib.import_module("gunicorn.config")  # untyped
    return any(flag in (setting.cli or ()) for setting in config.KNOWN_SETTINGS)


@pytest.fixture(name="gunicorn", scope="class")
def _gunicorn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The project on gunicorn (two workers) on 127.0.0.1 and an ephemeral port, shared
    by the tests of a class (starting it takes a second or two)."""
    tmp_path = tmp_path_factory.mktemp("gunicorn")
    db_path = tmp_path / "served.sqlite3"
    SocialDB(db_path).seed()  # before the workers start, so they do not race to seed it
    log = tmp_path / "gunicorn.log"
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "examples.django_app.wsgi:application",
        "--bind",
        "127.0.0.1:0",
        "--workers",
        "2",
    ]
    if _has_gunicorn_option("--no-control-socket"):
        # gunicorn 24+ opens a control socket in ~/.gunicorn, shared by every server.
        command.append("--no-control-socket")
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command, cwd=ROOT, env=_environment(db_path), stdout=out, stderr=subprocess.STDOUT
        )
    try:

        def listening() -> str | None:
            found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", log.read_text())
            return found[1] if found else None

        base_url = str(_wait_for(listening, process, log))
        _wait_for(lambda: _answers(f"{base_url}/login"), process, log)
        yield Site(base_url, default_data_dir(db_path))
    finally:
        _stop(process)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TestRealServer:
    def test_scenarios_pass_on_gunicorn(self, gunicorn: Site) -> None:
        """Every shared scenario passes against the project on gunicorn."""
        results = run_scenarios(gunicorn)

        assert [r.name for r in results] == [name for name, _ in SCENARIOS]
        assert all(r.passed for r in results), "\n" + report(results)

    def test_jwks_over_http_verifies_the_issuers_tokens(self, gunicorn: Site) -> None:
        """A TokenVerifier fetching the served JWK set over HTTP accepts the issuer's tokens."""
        config = IssuerConfig(
            issuer=ISSUER,
            audience=AUDIENCE,
            algorithms=["ES256"],
            jwks_url=f"{gunicorn.base_url}/.well-known/jwks.json",
        )
        token = gunicorn.issuer().issue("maya", age_band="under_13")

        with TokenVerifier([config]) as verifier:
            verified = verifier.verify(token)
            keys = verifier.jwks(ISSUER)

        assert (verified.subject, verified.band.value) == ("maya", "under_13")
        assert keys is not None
        assert (keys.attempts, keys.last_error) == (1, None)

    def test_served_pages_are_html(self, gunicorn: Site) -> None:
        """The served sign-in page is a full HTML page."""
        response = httpx.get(f"{gunicorn.base_url}/login", timeout=10)

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "</html>" in response.text

    def test_runserver(self, tmp_path: Path) -> None:
        """``manage.py runserver`` serves the project, seeding an empty database."""
        db_path = tmp_path / "runserver.sqlite3"
        log = tmp_path / "runserver.log"
        url = f"http://127.0.0.1:{_free_port()}"
        command = [sys.executable, str(MANAGE), "runserver", url.removeprefix("http://")]
        with log.open("wb") as out:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                [*command, "--noreload"],
                cwd=tmp_path,
                env=_environment(db_path),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_for(lambda: _answers(f"{url}/login"), process, log)
            page = httpx.get(f"{url}/login", timeout=10).text
        finally:
            _stop(process)

        assert 'value="sam"' in page
        assert [p.id for p in SocialDB(db_path).people()] == list(ACCOUNTS)

    def test_manage_py_check(self, tmp_path: Path) -> None:
        """``manage.py check --deploy`` finds no error in the project's settings."""
        result = subprocess.run(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, str(MANAGE), "check", "--deploy"],
            cwd=tmp_path,
            env=_environment(tmp_path / "unused.sqlite3"),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

        assert result.returncode == 0, result.stderr
        assert "childsafe." not in result.stdout + result.stderr
