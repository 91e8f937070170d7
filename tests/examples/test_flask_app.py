from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from examples.common.scenarios import SCENARIOS, report, run_scenarios
from examples.common.socialdb import SEED_PEOPLE, SocialDB
from examples.flask_app import create_app
from examples.flask_app.__main__ import main
from flask import Flask
from flask.testing import FlaskClient

PAGES = ("/", "/suggestions", "/requests", "/messages", "/settings", "/parent")
ACCOUNTS = tuple(ident for ident, *_ in SEED_PEOPLE)


@pytest.fixture(name="db_path")
def _db_path(tmp_path: Path) -> Path:
    return tmp_path / "playground.sqlite3"


@pytest.fixture(name="app")
def _app(db_path: Path) -> Flask:
    return create_app(db_path, secret_key="test-only")  # noqa: S106 - a test-only key


def sign_in(app: Flask, account: str) -> FlaskClient:
    """A test client signed in as ``account`` through the sign-in form."""
    client = app.test_client()
    response = client.post("/login", data={"account": account})
    assert response.status_code == 303, response.get_data(as_text=True)
    return client


class TestSigningIn:
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
        assert "<code>not_connected</code>" in page
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
        assert "location_sharing changed" in confirmed.get_data(as_text=True)
        assert "below the floor" in floor.get_data(as_text=True)
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

        assert "location_sharing changed" in page
        assert other.status_code == 403
        # The change now reaches the aunt (a connection) but still not a stranger.
        assert "location" in sign_in(app, "aunt_jo").get("/api/users/sam").get_json()


@pytest.fixture(name="server")
def _server(tmp_path: Path) -> Iterator[str]:
    """The app on a real waitress server on 127.0.0.1 and an ephemeral port."""
    waitress = importlib.import_module("waitress")
    wasyncore = importlib.import_module("waitress.wasyncore")
    app = create_app(tmp_path / "served.sqlite3", secret_key="test-only")  # noqa: S106 - a test-only key
    sockets: dict[int, object] = {}
    server = waitress.create_server(app, map=sockets, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        # Close every socket (the listener and any kept-alive connection) from the
        # server's own loop, which then has nothing left to serve and returns.
        server.trigger.pull_trigger(lambda: wasyncore.close_all(sockets))
        thread.join(timeout=10)
        server.task_dispatcher.shutdown()
        assert not thread.is_alive(), "the waitress server did not stop"


class TestRealServer:
    def test_scenarios_pass_on_waitress(self, server: str) -> None:
        """Every shared scenario passes against the app on a real WSGI server."""
        results = run_scenarios(server)

        assert [r.name for r in results] == [name for name, _ in SCENARIOS]
        assert all(r.passed for r in results), "\n" + report(results)

    def test_served_pages_are_html(self, server: str) -> None:
        """The served sign-in page is a full HTML page."""
        response = httpx.get(f"{server}/login", timeout=10)

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")


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
