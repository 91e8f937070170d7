from __future__ import annotations

import base64
import datetime as dt
import html
import importlib
import json
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from examples.common.age_issuer import AUDIENCE, ISSUER, AgeIssuer
from examples.common.playground import Playground, default_data_dir
from examples.common.scenarios import SCENARIOS, Site, report, run_scenarios
from examples.common.socialdb import SEED_PEOPLE, SocialDB
from examples.flask_app import close_app, create_app
from examples.flask_app.__main__ import main
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from childsafe import exempt
from childsafe.assurance import IssuerConfig, TokenVerifier
from childsafe.parental import ConsentIssuer, SQLiteRevocationStore

PAGES = ("/", "/suggestions", "/requests", "/messages", "/settings", "/parent", "/age")
ACCOUNTS = tuple(ident for ident, *_ in SEED_PEOPLE)


@pytest.fixture(name="db_path")
def _db_path(tmp_path: Path) -> Path:
    return tmp_path / "playground.sqlite3"


@pytest.fixture(name="app")
def _app(db_path: Path) -> Iterator[Flask]:
    app = create_app(db_path, secret_key="test-only")  # noqa: S106 - a test-only key
    yield app
    close_app(app)


def sign_in(app: Flask, account: str) -> FlaskClient:
    """A test client signed in as ``account`` through the sign-in form."""
    client = app.test_client()
    response = client.post("/login", data={"account": account})
    assert response.status_code == 303, response.get_data(as_text=True)
    return client


class TestErrorPages:
    @pytest.mark.parametrize(
        ("method", "path", "status", "title"),
        [
            ("GET", "/no-such-page", 404, "Page not found"),
            ("PUT", "/settings", 405, "Not possible here"),
            ("POST", "/parent/lena/settings", 403, "Not allowed"),
        ],
    )
    def test_styled_page(self, app: Flask, method: str, path: str, status: int, title: str) -> None:
        """An error is the app's own page, with the navigation for a signed-in person."""
        response = sign_in(app, "aunt_jo").open(path, method=method)
        page = response.get_data(as_text=True)

        assert response.status_code == status
        assert f"<h1>{title}</h1>" in page
        assert 'href="/settings"' in page  # the signed-in navigation

    def test_signed_out_and_json(self, app: Flask) -> None:
        """Signed out, the page offers to sign in; a JSON client gets JSON."""
        client = app.test_client()

        assert "Sign in</a>" in client.get("/nope").get_data(as_text=True)
        assert client.get("/api/nope").get_json() == {"error": "Page not found"}

    def test_server_error(self, db_path: Path) -> None:
        """An exception in a view is the styled 500 page, without the traceback."""
        app = create_app(db_path)

        @app.get("/boom")
        @exempt("a test page that fails")
        def boom() -> str:
            raise RuntimeError("internal detail")

        response = app.test_client().get("/boom")
        page = response.get_data(as_text=True)

        assert response.status_code == 500
        assert "Something went wrong" in page
        assert "internal detail" not in page


class TestSigningIn:
    def test_unknown_account_is_named(self, app: Flask) -> None:
        """Signing in as an account that does not exist says so, above the list."""
        response = app.test_client().post("/login", data={"account": "zed"})

        assert response.status_code == 400
        assert "There is no demo account called “zed”" in response.get_data(as_text=True)

    def test_sign_in_page_says_who_is_who(self, app: Flask) -> None:
        """Each account's connections and what to try come from the seed and the policy."""
        page = html.unescape(app.test_client().get("/login").get_data(as_text=True))

        assert "parent of Lena, Maya and Sam" in page
        assert "Connected to Aunt Jo, Lena, Maya, Pat (parent)." in page
        assert "Dan (a stranger) can't message you: you are not connected." in page
        assert "Message Maya: you are connected, so it goes through." in page
        assert "only Pat (parent) can" in page

    def test_signed_out_pages_redirect_to_sign_in(self, app: Flask) -> None:
        """Every page sends a signed-out browser to the sign-in page."""
        client = app.test_client()

        for page in PAGES:
            response = client.get(page)
            assert (response.status_code, response.headers["Location"]) == (303, "/login"), page

    def test_signed_out_api_is_401(self, app: Flask) -> None:
        """The JSON API answers 401 to signed-out clients."""
        response = app.test_client().get("/api/messages")

        assert response.status_code == 401
        assert response.get_json() == {"error": "sign in first"}

    def test_sign_in_page_lists_the_demo_accounts(self, app: Flask) -> None:
        """The sign-in page offers every seeded account with its age band."""
        page = app.test_client().get("/login").get_data(as_text=True)

        for ident in ACCOUNTS:
            assert f'value="{ident}"' in page
        assert "13 to 15" in page
        assert "<code>minimum</code>" in page

    def test_sign_in_and_out(self, app: Flask) -> None:
        """Signing in shows the account's home page; signing out ends the session."""
        client = sign_in(app, "sam")

        home = client.get("/").get_data(as_text=True)
        assert "Hello, Sam" in home
        assert "supervised" in home

        assert client.post("/logout").headers["Location"] == "/login"
        assert client.get("/").status_code == 303

    def test_unknown_account_cannot_sign_in(self, app: Flask) -> None:
        """Signing in as an account that does not exist is refused."""
        client = app.test_client()

        assert client.post("/login", data={"account": "mallory"}).status_code == 400
        assert client.get("/").status_code == 303


class TestPages:
    def test_home_names_settings_in_plain_words(self, app: Flask) -> None:
        """A child's home page names its protections in words, not setting codes."""
        home = sign_in(app, "sam").get("/").get_data(as_text=True)
        assert "direct_messages" not in home
        assert "location_sharing" not in home
        assert "Who can message you" in home

    @pytest.mark.parametrize("account", ACCOUNTS)
    def test_every_page_renders(self, app: Flask, account: str) -> None:
        """Each page, and every profile, renders for each demo account."""
        client = sign_in(app, account)

        for page in (*PAGES, *(f"/users/{other}" for other in ACCOUNTS)):
            response = client.get(page)
            assert response.status_code == 200, page
            assert response.mimetype == "text/html"
            assert "</html>" in response.get_data(as_text=True)

    def test_unknown_profile_is_404(self, app: Flask) -> None:
        """A profile that does not exist is a 404."""
        assert sign_in(app, "sam").get("/users/nobody").status_code == 404

    def test_stranger_sees_no_child_details(self, app: Flask) -> None:
        """A stranger's view of a child's profile hides the bio and the location."""
        page = sign_in(app, "stranger").get("/users/sam").get_data(as_text=True)

        assert "This profile is private" in page
        assert "Football on Saturdays" not in page
        assert "Central Library" not in page
        assert 'action="/messages/sam"' not in page

    def test_relative_sees_the_message_form(self, app: Flask) -> None:
        """A connected relative may message the 15-year-old from the profile."""
        page = sign_in(app, "aunt_jo").get("/users/sam").get_data(as_text=True)

        assert 'action="/messages/sam"' in page
        assert "Football on Saturdays" in page


class TestDenials:
    def test_browser_dm_denial_renders_the_denied_page(self, app: Flask, db_path: Path) -> None:
        """A stranger's form DM to a child gets the HTML denied page, and is not stored."""
        response = sign_in(app, "stranger").post("/messages/sam", data={"text": "hi there"})

        page = response.get_data(as_text=True)
        assert response.status_code == 403
        assert response.mimetype == "text/html"
        assert "<h1>Not allowed</h1>" in page
        assert "Only the account&#39;s connections can do this." in page
        assert "not_connected" not in page  # no reason code for people
        # The public page never carries the target's age band.
        assert "13_15" not in page
        assert all(m["text"] != "hi there" for m in SocialDB(db_path).inbox("sam"))

    def test_api_dm_denial_is_problem_json(self, app: Flask) -> None:
        """The JSON API answers denials with application/problem+json."""
        response = sign_in(app, "stranger").post("/api/messages/sam", json={"text": "hi"})

        assert response.status_code == 403
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["reason"] == "not_connected"

    def test_json_client_gets_problem_json_on_form_routes(self, app: Flask) -> None:
        """A client asking for JSON gets problem+json from the form routes too."""
        response = sign_in(app, "stranger").post(
            "/users/maya/friend-request", headers={"Accept": "application/json"}
        )

        assert response.status_code == 403
        assert response.get_json()["reason"] == "not_invited"

    def test_signed_out_browser_denial_goes_to_sign_in(self, app: Flask) -> None:
        """A denied form post from a signed-out browser is sent to the sign-in page."""
        response = app.test_client().post("/messages/sam", data={"text": "hi"})

        assert (response.status_code, response.headers["Location"]) == (303, "/login")


class TestFlows:
    def test_relative_messages_a_child(self, app: Flask, db_path: Path) -> None:
        """The aunt's form DM to Sam is delivered and confirmed."""
        client = sign_in(app, "aunt_jo")

        response = client.post("/messages/sam", data={"text": "Well played!"})
        notice = client.get(response.headers["Location"]).get_data(as_text=True)

        assert response.headers["Location"] == "/messages?sent=sam"
        assert "Message sent to Sam." in notice
        assert SocialDB(db_path).inbox("sam")[0]["text"] == "Well played!"

    def test_empty_form_dm_is_not_sent(self, app: Flask, db_path: Path) -> None:
        """An empty message goes back to the profile without being stored."""
        before = SocialDB(db_path).inbox("sam")

        response = sign_in(app, "aunt_jo").post("/messages/sam", data={"text": "  "})

        assert response.headers["Location"] == "/users/sam"
        assert SocialDB(db_path).inbox("sam") == before

    def test_api_messages(self, app: Flask) -> None:
        """The JSON DM endpoint stores the message and validates its body."""
        aunt = sign_in(app, "aunt_jo")

        sent = aunt.post("/api/messages/sam", json={"text": "Dinner?"})
        bad = aunt.post("/api/messages/sam", json={"message": "Dinner?"})
        inbox = sign_in(app, "sam").get("/api/messages").get_json()["messages"]

        assert sent.status_code == 201
        assert bad.status_code == 400
        assert inbox[0]["id"] == sent.get_json()["id"]
        assert inbox[0]["text"] == "Dinner?"

    def test_friend_request_and_accept(self, app: Flask) -> None:
        """An adult's friend request to an adult can be accepted, connecting them."""
        riley = sign_in(app, "coach_lee")
        assert riley.post("/users/riley/friend-request").headers["Location"] == "/users/riley"
        assert riley.post(
            "/users/riley/friend-request", headers={"Accept": "application/json"}
        ).get_json() == {"requested": "riley"}

        client = sign_in(app, "riley")
        page = client.get("/requests").get_data(as_text=True)
        match = re.search(r'action="/requests/(\d+)/accept"', page)
        assert match is not None

        assert client.post(f"/requests/{match[1]}/accept").headers["Location"] == "/requests"
        assert client.post(f"/requests/{match[1]}/accept").status_code == 404
        assert "connected" in sign_in(app, "riley").get("/users/coach_lee").get_data(as_text=True)

    def test_check_in(self, app: Flask) -> None:
        """Checking in by form and JSON updates the account's location."""
        client = sign_in(app, "riley")

        client.post("/location", data={"place": "Harbour"})
        assert "Last check-in: Harbour" in client.get("/").get_data(as_text=True)
        assert client.post("/api/location", json={"place": "Quay"}).get_json() == {"place": "Quay"}
        assert client.post("/api/location", json={}).status_code == 400
        assert client.get("/api/users/riley").get_json()["location"]["place"] == "Quay"

    def test_child_location_filtered_for_connections_too(self, app: Flask) -> None:
        """Alex's location stays hidden from a connection while Alex's sharing is off."""
        body = sign_in(app, "jamie").get("/api/users/alex").get_json()

        assert body["id"] == "alex"
        assert "location" not in body

    def test_child_settings_change_within_the_policy(self, app: Flask) -> None:
        """A 17-year-old can loosen a setting after the safety prompt, and not below the floor."""
        client = sign_in(app, "alex")

        form = {"setting": "location_sharing", "value": "connections_precise"}
        prompted = client.get(client.post("/settings", data=form).headers["Location"])
        confirmed = client.get(
            client.post("/settings", data={**form, "confirmed": "1"}).headers["Location"]
        )
        floor = client.get(
            client.post(
                "/settings", data={"setting": "location_sharing", "value": "public"}
            ).headers["Location"]
        )

        assert "Safety tip" in prompted.get_data(as_text=True)
        assert "Your “Who can see where you are” setting is changed." in confirmed.get_data(
            as_text=True
        )
        assert "available at your age, to keep you safe" in floor.get_data(as_text=True)
        assert sign_in(app, "jamie").get("/api/users/alex").get_json()["location"]["place"] == (
            "Harbour Running Track"
        )

    def test_parent_changes_a_linked_childs_setting(self, app: Flask) -> None:
        """A parent may loosen what the policy lets a parent loosen, for their own child only."""
        parent = sign_in(app, "parent_pat")

        done = parent.post(
            "/parent/sam/settings",
            data={"setting": "location_sharing", "value": "connections_coarse"},
        )
        page = parent.get(done.headers["Location"]).get_data(as_text=True)
        other = parent.post(
            "/parent/alex/settings",
            data={"setting": "location_sharing", "value": "connections_coarse"},
        )

        assert "“Who can see where you are” setting is changed" in page
        assert other.status_code == 403
        # The change now reaches the aunt (a connection) but still not a stranger.
        assert "location" in sign_in(app, "aunt_jo").get("/api/users/sam").get_json()


def notice(client: FlaskClient, response: TestResponse) -> str:
    """The notice on the page a form post redirected to, as text."""
    assert response.status_code == 303, response.get_data(as_text=True)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    found = re.search(r'<div class="notice[^"]*">(.*?)</div>', page, re.DOTALL)
    assert found is not None, "no notice on the page"
    return html.unescape(re.sub(r"<[^>]+>", "", found[1])).strip()


def parent_change(client: FlaskClient, child: str, setting: str, value: str, **form: str) -> str:
    """What the Parent page says after a parent's change to ``child``'s setting."""
    data = {"setting": setting, "value": value, **form}
    return notice(client, client.post(f"/parent/{child}/settings", data=data))


def grant(client: FlaskClient, child: str, scope: str) -> str:
    """What the Parent page says after giving consent for ``scope``."""
    return notice(client, client.post(f"/parent/{child}/consents", data={"scope": scope}))


def grant_id(client: FlaskClient, child: str) -> str:
    """The id of the child's grant that the Parent page offers to revoke."""
    page = client.get("/parent").get_data(as_text=True)
    found = re.search(rf'action="/parent/{child}/consents/([0-9a-f]+)/revoke"', page)
    assert found is not None, "no grant to revoke"
    return found[1]


def me(client: FlaskClient, token: str | None = None) -> dict[str, Any]:
    """``/api/me``, with ``token`` as a bearer age token if given."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body: dict[str, Any] = client.get("/api/me", headers=headers).get_json()
    return body


def tampered(token: str, **claims: object) -> str:
    """``token`` with changed claims and its original signature."""
    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**data, **claims}).encode()).rstrip(b"=")
    return f"{header}.{forged.decode()}.{signature}"


@pytest.fixture(name="issuer")
def _issuer(app: Flask) -> AgeIssuer:
    playground = app.extensions["playground"]
    assert isinstance(playground, Playground)
    return playground.age_issuer


class TestParentView:
    def test_parent_page_lists_each_linked_child(self, app: Flask) -> None:
        """The Parent page shows every linked child with their jurisdiction's consent age."""
        page = sign_in(app, "parent_pat").get("/parent").get_data(as_text=True)

        for child in ("maya", "sam", "lena"):
            assert f'id="child-{child}"' in page
        assert "Age of digital consent in Ireland: 16." in page
        assert "Age of digital consent in the UK: 13." in page
        assert 'id="child-alex"' not in page

    def test_child_sees_who_supervises(self, app: Flask) -> None:
        """A linked child's pages name the supervising parent; an unlinked teen's do not."""
        maya = sign_in(app, "maya").get("/settings").get_data(as_text=True)
        alex = sign_in(app, "alex").get("/settings").get_data(as_text=True)

        assert "supervised by Pat (parent)" in maya
        assert "Pat (parent) can see your settings and change some of them." in maya
        assert "supervised by" not in alex

    def test_parent_change_locks_and_the_child_cannot_undo_it(
        self, app: Flask, db_path: Path
    ) -> None:
        """A parent's change locks the setting: the child may tighten it, never loosen it."""
        parent = sign_in(app, "parent_pat")
        sam = sign_in(app, "sam")

        changed = parent_change(parent, "sam", "location_sharing", "connections_coarse")
        settings = sam.get("/settings").get_data(as_text=True)
        tighter = notice(
            sam, sam.post("/settings", data={"setting": "location_sharing", "value": "off"})
        )
        undo = notice(
            sam,
            sam.post(
                "/settings",
                data={
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
        assert "location" not in sign_in(app, "aunt_jo").get("/api/users/sam").get_json()

    def test_parent_can_lift_a_lock(self, app: Flask, db_path: Path) -> None:
        """Unlocking keeps the value and removes the lock from the store and the child's page."""
        parent = sign_in(app, "parent_pat")
        parent_change(parent, "sam", "live_streaming", "connections")

        unlocked = parent_change(parent, "sam", "live_streaming", "connections", lock="0")

        assert unlocked == (
            "Unlocked. Sam's “Going live” setting is unlocked: they can change it again, "
            "within what their age allows."
        )
        assert SocialDB(db_path).locks("sam") == []
        page = sign_in(app, "sam").get("/settings").get_data(as_text=True)
        assert "A parent locked this setting" not in page
        assert "Nothing is locked by a parent." in page

    def test_parent_refused_below_the_floor_but_may_restore_the_default(
        self, app: Flask, db_path: Path
    ) -> None:
        """A parent cannot go below the floor, but may take a setting back to its default."""
        parent = sign_in(app, "parent_pat")

        floor = parent_change(parent, "sam", "direct_messages", "everyone")
        sam = sign_in(app, "sam")
        sam.post("/settings", data={"setting": "tagging", "value": "nobody"})
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

    def test_only_a_linked_parent_may_change_a_child(self, app: Flask) -> None:
        """Another adult, or a parent for someone else's child, is refused with 403."""
        form = {"setting": "live_streaming", "value": "connections"}

        aunt = sign_in(app, "aunt_jo").post("/parent/sam/settings", data=form)
        grant_by_aunt = sign_in(app, "aunt_jo").post(
            "/parent/lena/consents", data={"scope": "feed_personalisation:profiled"}
        )
        unlinked = sign_in(app, "parent_pat").post("/parent/jamie/settings", data=form)

        assert (aunt.status_code, grant_by_aunt.status_code, unlinked.status_code) == (
            403,
            403,
            403,
        )


class TestSettingsApi:
    def test_refused_change_is_problem_json_in_the_childs_words(self, app: Flask) -> None:
        """A 15-year-old loosening location sharing gets 403 problem+json naming their parent."""
        response = sign_in(app, "sam").post(
            "/api/settings", json={"setting": "location_sharing", "value": "connections_coarse"}
        )

        assert response.status_code == 403
        assert response.content_type == "application/problem+json"
        body = response.get_json()
        assert body["reason"] == "parent_required"
        assert (
            body["detail"]
            == "Only Pat (parent) can loosen your “Who can see where you are” setting."
        )
        assert "13_15" not in response.get_data(as_text=True)

    def test_in_french(self, app: Flask) -> None:
        """The refusal follows the client's Accept-Language."""
        response = sign_in(app, "sam").post(
            "/api/settings",
            json={"setting": "location_sharing", "value": "public"},
            headers={"Accept-Language": "fr-FR, en;q=0.5"},
        )

        assert (
            response.get_json()["detail"]
            == "Ce choix n\u2019est pas possible à ton âge, pour te protéger."
        )

    def test_allowed_change(self, app: Flask, db_path: Path) -> None:
        """A change the policy allows is applied and stored; a malformed one is a 400."""
        client = sign_in(app, "sam")
        done = client.post("/api/settings", json={"setting": "tagging", "value": "nobody"})
        bad = client.post("/api/settings", json={"setting": "taging", "value": "nobody"})

        assert (done.status_code, done.get_json()["value"]) == (200, "nobody")
        stored = SocialDB(db_path).account("sam")
        assert stored is not None
        assert stored.settings["tagging"] == "nobody"
        assert bad.status_code == 400


class TestConsent:
    def test_profiling_needs_consent_below_the_age_of_digital_consent(self, app: Flask) -> None:
        """At 15, profiling needs a parent's consent in Ireland (16) but not in the UK (13)."""
        parent = sign_in(app, "parent_pat")

        lena = parent_change(parent, "lena", "feed_personalisation", "profiled")
        sam = parent_change(parent, "sam", "feed_personalisation", "profiled")
        page = parent.get("/parent").get_data(as_text=True)

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
        self, app: Flask, db_path: Path
    ) -> None:
        """A signed grant makes 'profiled' possible; revoking it takes it away at once."""
        parent = sign_in(app, "parent_pat")
        lena = sign_in(app, "lena")

        given = grant(parent, "lena", "feed_personalisation:profiled")
        changed = parent_change(parent, "lena", "feed_personalisation", "profiled")
        during = me(lena)
        settings = lena.get("/settings").get_data(as_text=True)
        revoked = notice(
            parent, parent.post(f"/parent/lena/consents/{grant_id(parent, 'lena')}/revoke")
        )
        after = me(lena)
        page = parent.get("/parent").get_data(as_text=True)

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
        assert "<td>Not based on what you do</td>" in lena.get("/settings").get_data(as_text=True)
        assert '<span class="badge warn">revoked</span>' in page
        [row] = SocialDB(db_path).grants("lena")
        store = SQLiteRevocationStore(default_data_dir(db_path) / "revocations.sqlite3")
        assert store.revoked([row["id"]]) == {row["id"]}

    def test_dm_from_grant_lets_one_connection_message_the_child(self, app: Flask) -> None:
        """With DMs switched off, a dm.from grant lets that one connection through."""
        parent = sign_in(app, "parent_pat")
        aunt, sam = sign_in(app, "aunt_jo"), sign_in(app, "sam")
        parent_change(parent, "maya", "direct_messages", "nobody")

        off = aunt.post("/api/messages/maya", json={"text": "hi"})
        grant(parent, "maya", "dm.from:aunt_jo")
        granted = aunt.post("/api/messages/maya", json={"text": "hi"})
        other = sam.post("/api/messages/maya", json={"text": "hi"})

        assert off.get_json()["reason"] == "setting_off"
        assert granted.status_code == 201
        assert other.get_json()["reason"] == "setting_off"

    def test_a_given_consent_shows_its_end_in_words(self, app: Flask) -> None:
        """The Parent page says until when a consent counts as a date people write
        ("5 December 2027"), not ISO ("2027-12-05")."""
        parent = sign_in(app, "parent_pat")
        grant(parent, "lena", "feed_personalisation:profiled")
        page = parent.get("/parent").get_data(as_text=True)
        found = re.search(r'<span class="badge ok">given, until ([^<]+)</span>', page)

        assert found is not None
        assert re.fullmatch(r"\d{1,2} [A-Z][a-z]+ \d{4}", found[1]), found[1]

    def test_consents_not_offered_are_refused(self, app: Flask, db_path: Path) -> None:
        """Scopes the policy never allows, strangers and malformed scopes get no grant."""
        parent = sign_in(app, "parent_pat")

        floor = grant(parent, "lena", "data_sharing:on")
        stranger = grant(parent, "maya", "dm.from:stranger")
        garbage = grant(parent, "maya", "everything")

        assert floor == ("Lena doesn't need consent for sharing personal data with third parties.")
        assert stranger == "Maya doesn't need consent for direct messages with Dan (a stranger)."
        assert garbage.startswith("unknown consent scope 'everything'")
        assert SocialDB(db_path).grants("lena") == SocialDB(db_path).grants("maya") == []

    def test_a_forged_grant_in_the_store_does_not_count(self, app: Flask, db_path: Path) -> None:
        """A grant signed with another key is refused when the account is loaded."""
        db = SocialDB(db_path)
        child = db.account("lena")
        assert child is not None
        forged = ConsentIssuer(secrets.token_bytes(32), issuer="childsafe-playground").issue(
            child, "parent_pat", "feed_personalisation:profiled"
        )
        now = dt.datetime.now(dt.UTC)
        db.add_grant(
            "forged", "lena", "parent_pat", "feed_personalisation:profiled", forged, now, now
        )

        page = sign_in(app, "parent_pat").get("/parent").get_data(as_text=True)

        assert me(sign_in(app, "lena"))["consents"] == []
        assert '<span class="badge warn">not valid</span>' in page


class TestAgeTokens:
    def test_valid_token_gives_the_verified_band(self, app: Flask, issuer: AgeIssuer) -> None:
        """A token from the local issuer signs the API client in with a verified band."""
        client = app.test_client()
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
    def test_other_claim_shapes(
        self, app: Flask, issuer: AgeIssuer, claims: dict[str, Any], band: str
    ) -> None:
        """age_over_N booleans and a birthdate give bands too."""
        token = issuer.issue("alex", **claims)

        body = me(app.test_client(), token)

        assert (body["band"], body["assurance"]) == (band, "verified")

    def test_a_token_cannot_make_a_child_older(self, app: Flask, issuer: AgeIssuer) -> None:
        """The youngest of the token's band and the declared birth date wins."""
        body = me(app.test_client(), issuer.issue("sam", age_band="adult"))

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
            # More than 130 years ago: this answered 500 with a traceback.
            (lambda i: i.issue("sam", birthdate=dt.date(1850, 1, 1)), "invalid_claim"),
        ],
    )
    def test_bad_tokens_get_the_protective_path(
        self, app: Flask, issuer: AgeIssuer, make: Callable[[AgeIssuer], str], code: str
    ) -> None:
        """A refused token is the protective unknown-age account, and the answer says why."""
        client = app.test_client()
        token = make(issuer)

        body = me(client, token)
        denied = client.get("/api/messages", headers={"Authorization": f"Bearer {token}"})

        assert (body["id"], body["band"], body["treated_as"]) == (None, "unknown", "under_13")
        assert body["resolved_by"] == "error"
        assert f"[{code}]" in body["error"]
        assert body["age_token"]["code"] == code
        assert denied.status_code == 401
        assert f"[{code}]" in denied.get_json()["reason"]

    def test_unknown_subject_fails_closed(self, app: Flask, issuer: AgeIssuer) -> None:
        """A valid token for nobody in the app does not sign anyone in."""
        body = me(app.test_client(), issuer.issue("mallory", age_band="adult"))

        assert (body["id"], body["resolved_by"]) == (None, "error")
        assert "no Playground account" in body["error"]

    def test_cookie_sign_in_is_unchanged(self, app: Flask) -> None:
        """Without a token the session account is used, with its declared band."""
        body = me(sign_in(app, "alex"))

        assert (body["id"], body["band"], body["assurance"]) == ("alex", "16_17", "self_declared")
        assert body["age_token"] is None

    def test_verify_my_age_page_applies_a_valid_token(self, app: Flask, issuer: AgeIssuer) -> None:
        """A token pasted on the age page gives the signed-in account its verified band."""
        sam = sign_in(app, "sam")

        page = notice(sam, sam.post("/age", data={"token": issuer.issue("sam", age_band="13_15")}))
        body = me(sam)

        assert page.startswith("Your age token was accepted: 13 to 15 from the issuer, verified.")
        assert "(set by your age token)" in page
        assert (body["id"], body["band"], body["assurance"]) == ("sam", "13_15", "verified")
        assert "age verified" in sam.get("/").get_data(as_text=True)

    def test_refused_token_on_the_age_page_is_protective(
        self, app: Flask, issuer: AgeIssuer
    ) -> None:
        """A tampered token kept in the session leaves the account signed in with an
        unknown age, shows why, and removing it restores the declared band."""
        alex = sign_in(app, "alex")
        token = tampered(issuer.issue("alex", age_band="16_17"), age_band="adult")

        page = notice(alex, alex.post("/age", data={"token": token}))
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

    def test_someone_elses_token_does_not_count(self, app: Flask, issuer: AgeIssuer) -> None:
        """A valid token about another account is refused on the age page."""
        riley = sign_in(app, "riley")

        page = notice(
            riley, riley.post("/age", data={"token": issuer.issue("sam", age_band="adult")})
        )

        assert page.startswith("This age token belongs to someone else")
        assert me(riley)["band"] == "unknown"

    def test_jwks_is_served(self, app: Flask, issuer: AgeIssuer) -> None:
        """The app publishes the test issuer's public key set."""
        body = app.test_client().get("/.well-known/jwks.json").get_json()

        assert body == issuer.jwks()
        assert "d" not in body["keys"][0]  # no private part


@pytest.fixture(name="site", scope="class")
def _site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The app on a real waitress server on 127.0.0.1 and an ephemeral port, shared by
    the tests of a class (the scenarios are written to run on one server, as people
    would use it)."""
    waitress = importlib.import_module("waitress")
    wasyncore = importlib.import_module("waitress.wasyncore")
    db_path = tmp_path_factory.mktemp("waitress") / "served.sqlite3"
    app = create_app(db_path, secret_key="test-only")  # noqa: S106 - a test-only key
    sockets: dict[int, object] = {}
    server = waitress.create_server(app, map=sockets, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    try:
        yield Site(f"http://127.0.0.1:{server.effective_port}", default_data_dir(db_path))
    finally:
        # Close every socket (the listener and any kept-alive connection) from the
        # server's own loop, which then has nothing left to serve and returns.
        try:
            server.trigger.pull_trigger(lambda: wasyncore.close_all(sockets))
        except OSError:  # the loop's wake-up pipe is already gone: close from here
            wasyncore.close_all(sockets)
        thread.join(timeout=10)
        server.task_dispatcher.shutdown()
        assert not thread.is_alive(), "the waitress server did not stop"


class TestRealServer:
    def test_scenarios_pass_on_waitress(self, site: Site) -> None:
        """Every shared scenario passes against the app on a real WSGI server."""
        results = run_scenarios(site)

        assert [r.name for r in results] == [name for name, _ in SCENARIOS]
        assert all(r.passed for r in results), "\n" + report(results)

    def test_jwks_over_http_verifies_the_issuers_tokens(self, site: Site) -> None:
        """A TokenVerifier fetching the served JWK set over HTTP accepts the issuer's tokens."""
        config = IssuerConfig(
            issuer=ISSUER,
            audience=AUDIENCE,
            algorithms=["ES256"],
            jwks_url=f"{site.base_url}/.well-known/jwks.json",
        )
        token = site.issuer().issue("maya", age_band="under_13")

        with TokenVerifier([config]) as verifier:
            verified = verifier.verify(token)
            keys = verifier.jwks(ISSUER)

        assert (verified.subject, verified.band.value) == ("maya", "under_13")
        assert keys is not None
        assert (keys.attempts, keys.last_error) == (1, None)

    def test_served_pages_are_html(self, site: Site) -> None:
        """The served sign-in page is a full HTML page."""
        response = httpx.get(f"{site.base_url}/login", timeout=10)

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")


class TestClosing:
    @pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
    def test_closed_apps_hold_no_files(self, tmp_path: Path) -> None:
        """Apps made, used and closed with close_app leave no file descriptors behind
        (the audit trail, the desk, the signals and the media screen all let go)."""

        def open_fds() -> int:
            return len(list(Path("/proc/self/fd").iterdir()))

        def use_one(i: int) -> None:
            app = create_app(tmp_path / f"db{i}.sqlite3", secret_key="test-only")  # noqa: S106
            sign_in(app, "maya").get("/")
            close_app(app)

        use_one(0)  # the first app loads modules and caches that stay
        before = open_fds()
        for i in range(1, 6):
            use_one(i)
        assert open_fds() <= before + 1


class TestMain:
    def test_main_rejects_bad_arguments(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The command line refuses a port that is not a number."""
        with pytest.raises(SystemExit):
            main(["--port", "eighty"])

        assert "invalid int value" in capsys.readouterr().err

    def test_default_database_is_fresh_and_seeded(self) -> None:
        """Without a path the app gets a fresh, seeded database."""
        first, second = create_app(), create_app()

        assert sign_in(first, "maya").get("/").status_code == 200
        assert first.extensions["playground.db"].path != second.extensions["playground.db"].path
