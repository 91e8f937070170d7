"""Reporting in the Playground examples: "report this" on profiles and messages, the
JSON endpoint, and (Flask) the moderators' admin page with the live transparency
report, over the app's own SQLite file."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from django.test import Client, override_settings  # type: ignore[import-untyped]
from examples.common.reports import MODERATORS
from examples.flask_app import close_app, create_app
from flask import Flask
from flask.testing import FlaskClient

from childsafe.cli import main
from childsafe.complaints import SQLiteComplaintStore
from childsafe.reports import report_schema
from tests import django_settings
from tests.examples.test_django_app import example_overrides
from tests.examples.test_flask_app import sign_in

CASE = re.compile(r"/admin/reports/(c-[0-9a-f]+)/")


@pytest.fixture(name="db_path")
def _db_path(tmp_path: Path) -> Path:
    return tmp_path / "playground.sqlite3"


@pytest.fixture(name="app")
def _app(db_path: Path) -> Iterator[Flask]:
    app = create_app(db_path, secret_key="test-only")  # noqa: S106 - a test-only key
    yield app
    close_app(app)


def file(client: FlaskClient | Any, **form: str) -> Any:
    return client.post("/report", data=form)


class TestReportThis:
    def test_profiles_and_messages_offer_it(self, app: Flask) -> None:
        """A profile and each inbox message link to the report form."""
        maya = sign_in(app, "maya")
        profile = maya.get("/users/stranger").get_data(as_text=True)
        assert 'href="/report?kind=account&amp;id=stranger"' in profile
        assert "/report?kind=account&amp;id=maya" not in maya.get("/users/maya").get_data(
            as_text=True
        )
        inbox = maya.get("/messages").get_data(as_text=True)
        assert "/report?kind=message&amp;id=" in inbox

    def test_a_child_reports_a_profile(self, app: Flask, db_path: Path) -> None:
        """Maya (12) reports a stranger: a case in the app's own SQLite file, filed as
        a child in her band, with words for a child and Childline's number."""
        maya = sign_in(app, "maya")
        form = maya.get("/report?kind=account&id=stranger").get_data(as_text=True)
        assert "Report Dan (a stranger)&#39;s profile" in form
        assert "0800 1111" in form
        assert "reporting as" not in form  # a child reports as a child
        response = file(maya, kind="account", subject_id="stranger", owner="stranger",
                        category="grooming", description="He asked where I live")  # fmt: skip
        assert response.status_code == 201
        assert "Report sent" in response.get_data(as_text=True)
        (case,) = SQLiteComplaintStore(db_path).cases()
        assert (case.category, case.reporter.role.value, case.reporter.band.value) == (
            "grooming",
            "child",
            "under_13",
        )
        assert case.subject.account_id == "stranger"
        assert case.description == "He asked where I live"

    def test_a_parent_reports_a_message(self, app: Flask, db_path: Path) -> None:
        pat = sign_in(app, "parent_pat")
        form = pat.get("/report?kind=message&id=7&account=stranger").get_data(as_text=True)
        assert "a message from Dan (a stranger)" in form
        response = file(pat, kind="message", subject_id="7", owner="stranger",
                        category="bullying", role="parent")  # fmt: skip
        assert response.status_code == 201
        (case,) = SQLiteComplaintStore(db_path).cases()
        assert (case.reporter.role.value, case.subject.kind.value) == ("parent", "message")

    def test_a_missing_category_shows_the_form_again(self, app: Flask) -> None:
        sam = sign_in(app, "sam")
        response = file(sam, kind="account", subject_id="stranger", owner="stranger",
                        description="kept")  # fmt: skip
        assert response.status_code == 400
        page = response.get_data(as_text=True)
        assert "Choose what is wrong." in page
        assert ">kept</textarea>" in page

    def test_nothing_to_report(self, app: Flask) -> None:
        sam = sign_in(app, "sam")
        assert sam.get("/report?kind=account&id=nobody").status_code == 404
        assert sam.get("/report?kind=post&id=1").status_code == 404
        assert app.test_client().get("/report?kind=account&id=sam").status_code == 303

    def test_the_json_endpoint(self, app: Flask) -> None:
        """POST /api/reports is childsafe's report view, answering problem+json."""
        jamie = sign_in(app, "jamie")
        created = jamie.post(
            "/api/reports",
            json={"category": "privacy", "subject": {"kind": "account", "id": "riley"}},
        )
        assert created.status_code == 201
        assert created.json is not None and created.json["status"] == "received"
        refused = jamie.post("/api/reports", json={"category": "privacy"})
        assert refused.status_code == 422
        assert refused.content_type == "application/problem+json"


class TestAdmin:
    def test_only_moderators(self, app: Flask) -> None:
        assert {"riley"} == MODERATORS
        for account in ("maya", "parent_pat", "stranger"):
            client = sign_in(app, account)
            assert client.get("/admin/reports").status_code == 403, account
            assert client.get("/admin/reports/transparency.html").status_code == 403
            assert client.post("/admin/reports/c-1/review").status_code == 403

    def test_a_case_through_its_lifecycle(self, app: Flask) -> None:
        """The moderator reviews, resolves, records an appeal and reverses it; the live
        report counts it."""
        maya = sign_in(app, "maya")
        file(maya, kind="account", subject_id="stranger", owner="stranger", category="grooming")
        riley = sign_in(app, "riley")
        page = riley.get("/admin/reports").get_data(as_text=True)
        assert "Dan (a stranger)" in page and "Maya" in page
        case_id = CASE.search(page)
        assert case_id is not None
        base = f"/admin/reports/{case_id.group(1)}"
        assert riley.post(f"{base}/review").status_code == 303
        assert (
            riley.post(f"{base}/resolve", data={"outcome": "account_restricted"}).status_code == 303
        )
        assert riley.post(f"{base}/appeal").status_code == 303
        done = riley.post(f"{base}/decide", data={"outcome": "no_violation"})
        assert "decide+done" in done.headers["Location"]
        again = riley.post(f"{base}/review")
        assert "Not+done" in again.headers["Location"]
        assert "Unknown+step" in riley.post(f"{base}/delete").headers["Location"]
        shown = riley.get(done.headers["Location"]).get_data(as_text=True)
        assert "decide done" in shown
        # A link from anyone else cannot put words on the moderators' page.
        spoof = "Case+closed%3A+the+account+was+cleared"
        for query in (f"done={spoof}", f"done={spoof}&sig=00"):
            page = riley.get(f"/admin/reports?{query}").get_data(as_text=True)
            assert "the account was cleared" not in page
        document = json.loads(riley.get("/admin/reports/transparency.json").get_data())
        jsonschema.validate(document, report_schema())
        c = document["complaints"]
        assert (c["total"], c["resolved"], c["appeals"]["reversals"]) == (1, 1, 1)
        bands = {b["band"]: b["accounts"] for b in document["child_accounts"]["bands"]}
        assert bands["under_13"] == 1 and bands["13_15"] == 2
        html = riley.get("/admin/reports/transparency.html")
        assert html.content_type == "text/html; charset=utf-8"
        assert b"<svg" in html.data
        for fmt in ("csv", "md"):
            assert riley.get(f"/admin/reports/transparency.{fmt}").status_code == 200
        assert riley.get("/admin/reports/transparency.pdf").status_code == 404

    def test_denials_are_counted(self, app: Flask) -> None:
        """The app's guard counts its denials for the report."""
        stranger = sign_in(app, "stranger")
        assert stranger.post("/messages/maya", data={"text": "hi"}).status_code == 403
        from childsafe.contrib.flask import current_guard  # noqa: PLC0415

        with app.app_context():
            assert current_guard().flush_events()
        riley = sign_in(app, "riley")
        document = json.loads(riley.get("/admin/reports/transparency.json").get_data())
        assert {d["reason"] for d in document["denials"]} >= {"not_connected"}

    def test_the_sign_in_pages_hints_are_not_refusals(self, app: Flask) -> None:
        """The sign-in page works out its "what to try" hints by asking the policy about
        the demo accounts; those questions are nobody's requests, so showing the page
        adds no refusal to the transparency report."""
        from childsafe.contrib.flask import current_guard  # noqa: PLC0415

        def refused() -> int:
            with app.app_context():
                assert current_guard().flush_events()
            document = json.loads(riley.get("/admin/reports/transparency.json").get_data())
            return sum(d["count"] for d in document["denials"])

        riley = sign_in(app, "riley")
        before = refused()
        visitor = app.test_client()
        pages = [visitor.get("/login").get_data(as_text=True) for _ in range(3)]
        after = refused()

        assert "you will be stopped" in pages[0]
        assert after == before

    def test_the_command_reports_on_the_demo_data(
        self, app: Flask, db_path: Path, tmp_path: Path
    ) -> None:
        """`childsafe report --store sqlite:///<the demo's file>` works on its data."""
        sign_in(app, "sam").post(
            "/api/reports",
            json={"category": "other", "subject": {"kind": "account", "id": "riley"}},
        )
        out = tmp_path / "report.html"
        assert main(["report", "--from", "2000-01-01", "--to", "2100-12-31", "--store",
                     f"sqlite:///{db_path}", "-o", str(out)]) == 0  # fmt: skip
        assert "<svg" in out.read_text()


@pytest.fixture(name="django_site")
def _django_site(db_path: Path) -> Iterator[None]:
    django_settings.setup()
    with override_settings(**example_overrides(db_path)):
        yield


def django_sign_in(account: str) -> Any:
    client = Client()
    response = client.post("/login", {"account": account})
    assert response.status_code == 303
    return client


class TestDjango:
    @pytest.mark.usefixtures("django_site")
    def test_files_reports(self, db_path: Path) -> None:
        """The Django app offers the same form and JSON endpoint, over the same desk."""
        sam = django_sign_in("sam")
        assert (
            'href="/report?kind=account&amp;id=stranger"'
            in sam.get("/users/stranger").content.decode()
        )
        form = sam.get("/report?kind=account&id=stranger")
        assert form.status_code == 200
        assert "csrfmiddlewaretoken" in form.content.decode()
        response = sam.post("/report", {"kind": "account", "subject_id": "stranger",
                                        "owner": "stranger", "category": "bullying"})  # fmt: skip
        assert response.status_code == 201
        assert sam.post("/report", {"kind": "account", "subject_id": "stranger"}).status_code == 400
        api = sam.post(
            "/api/reports",
            data=json.dumps({"category": "privacy", "subject": {"kind": "account", "id": "riley"}}),
            content_type="application/json",
        )
        assert api.status_code == 201
        cases = SQLiteComplaintStore(db_path).cases()
        assert [(c.category, c.reporter.band.value) for c in cases] == [
            ("privacy", "13_15"),
            ("bullying", "13_15"),
        ]


class TestSignalsInTheDemo:
    def test_the_stranger_contacting_children_raises_a_case(self, app: Flask) -> None:
        """Dan (an adult stranger) tries to message three children: the signals open a
        case the moderator sees with its evidence, and the flag is on the audit trail."""
        from examples.flask_app.reports import AUDIT_KEY  # noqa: PLC0415

        from childsafe.audit import AuditTrail  # noqa: PLC0415
        from childsafe.contrib.flask import current_guard  # noqa: PLC0415

        stranger = sign_in(app, "stranger")
        for child in ("maya", "sam", "lena"):
            assert stranger.post(f"/messages/{child}", data={"text": "hi"}).status_code == 403
        with app.app_context():
            assert current_guard().flush_events()
        riley = sign_in(app, "riley")
        page = riley.get("/admin/reports").get_data(as_text=True)
        assert "Our own detection" in page
        assert "Dan (a stranger)" in page
        assert "fan_out" in page
        assert "3 distinct unconnected minors within 48 hours" in page
        assert "not a finding" in page
        assert page.count('<td data-label="Reporter">Our own detection</td>') == 1
        assert "Our own detection opened <strong>1</strong> case for review" in page
        trail = app.extensions[AUDIT_KEY]
        assert isinstance(trail, AuditTrail)
        assert trail.flush()
        flags = list(trail.records(kinds=["signal_flag"]))
        assert flags and flags[0].data["rules"] == ["fan_out", "stranger_contact"]

    def test_family_messages_raise_nothing(self, app: Flask) -> None:
        """Aunt Jo messaging the children she is connected to raises no case."""
        aunt = sign_in(app, "aunt_jo")
        for child in ("maya", "sam", "alex"):
            aunt.post(f"/messages/{child}", data={"text": "hello"})
        riley = sign_in(app, "riley")
        page = riley.get("/admin/reports").get_data(as_text=True)
        assert '<td data-label="Reporter">Our own detection</td>' not in page
        assert "Our own detection opened <strong>0</strong> cases" in page


@pytest.mark.usefixtures("django_site")
class TestDjangoAdminAndSignals:
    """The Django app's moderators' page and signals, as the Flask app's."""

    def test_only_moderators(self) -> None:
        for account in ("maya", "parent_pat", "stranger"):
            client = django_sign_in(account)
            assert client.get("/admin/reports").status_code == 403, account
            assert client.get("/admin/reports/transparency.html").status_code == 403
            assert client.post("/admin/reports/c-1/review").status_code == 403

    def test_the_stranger_contacting_children_raises_a_case(self, db_path: Path) -> None:
        """Dan (an adult stranger) tries to message three children: the signals open a
        case the moderator sees with its evidence, the flag is on the audit trail, and
        the live report counts the case as the platform's own, not as a notice."""
        stranger = django_sign_in("stranger")
        for child in ("maya", "sam", "lena"):
            assert stranger.post(f"/messages/{child}", {"text": "hi"}).status_code == 403
        riley = django_sign_in("riley")
        page = riley.get("/admin/reports").content.decode()
        assert "Our own detection" in page
        assert "Dan (a stranger)" in page
        assert "fan_out" in page
        assert "3 distinct unconnected minors within 48 hours" in page
        assert "not a finding" in page
        assert page.count('<td data-label="Reporter">Our own detection</td>') == 1
        assert "Our own detection opened <strong>1</strong> case for review" in page
        (case,) = SQLiteComplaintStore(db_path).cases()
        assert (case.reporter.role.value, case.subject.account_id) == ("platform", "stranger")
        found = CASE.search(page)
        assert found is not None and found.group(1) == case.id
        base = f"/admin/reports/{case.id}"
        assert riley.post(f"{base}/review").status_code == 303
        done = riley.post(f"{base}/resolve", {"outcome": "account_restricted"})
        assert "resolve+done" in done["Location"]
        assert "resolve done" in riley.get(done["Location"]).content.decode()
        forged = riley.get("/admin/reports?done=Case+closed%3A+cleared").content.decode()
        assert "Case closed: cleared" not in forged
        document = json.loads(riley.get("/admin/reports/transparency.json").content)
        jsonschema.validate(document, report_schema())
        assert document["complaints"]["total"] == 0
        assert document["own_initiative"]["cases_opened"] == 1
        assert document["own_initiative"]["actioned"] == 1
        assert document["proactive_detections"]["raised"] == 1
        assert {d["reason"] for d in document["denials"]} >= {"not_connected"}
        assert riley.get("/admin/reports/transparency.pdf").status_code == 404
        assert b"<svg" in riley.get("/admin/reports/transparency.html").content

    def test_family_messages_raise_nothing(self) -> None:
        """Aunt Jo messaging the children she is connected to raises no case."""
        aunt = django_sign_in("aunt_jo")
        for child in ("maya", "sam", "alex"):
            aunt.post(f"/messages/{child}", {"text": "hello"})
        riley = django_sign_in("riley")
        page = riley.get("/admin/reports").content.decode()
        assert '<td data-label="Reporter">Our own detection</td>' not in page
        assert "Our own detection opened <strong>0</strong> cases" in page
