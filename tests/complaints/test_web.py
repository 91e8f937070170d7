"""Filing a report over HTTP, on all six adapters: the same answers everywhere.

Each adapter mounts its own report endpoint (``childsafe.wsgi.report_app``,
``childsafe.asgi.report_app``, ``childsafe.contrib.flask.report_view``,
``childsafe.contrib.django.views.report_view``, ``childsafe.contrib.starlette.
report_endpoint`` on Starlette and FastAPI) at ``POST /reports`` of the contract
suite's app (``build_app(..., reports=desk)``), behind the adapter's middleware with
strict mode on; all of them call :func:`childsafe.complaints.report_response`.
"""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import tracemalloc
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from childsafe.complaints import (
    MAX_REPORT_BODY,
    ComplaintError,
    ComplaintEvent,
    ComplaintsDesk,
    SQLiteComplaintStore,
    Status,
    report_response,
)
from childsafe.testing import ADAPTERS, BuiltApp, build_app
from childsafe.testing._apps import Adapter
from tests import django_settings

PROBLEM = "application/problem+json"
REPORT = {
    "category": "grooming",
    "subject": {"kind": "message", "id": "m-81", "account_id": "stranger"},
    "description": "He keeps asking me to move to another app",
}


@pytest.fixture(name="adapter", params=ADAPTERS)
def _adapter(request: pytest.FixtureRequest) -> Adapter:
    adapter: Adapter = request.param
    if adapter == "django":
        django_settings.setup()
    return adapter


@pytest.fixture(name="store")
def _store(tmp_path: Path) -> SQLiteComplaintStore:
    return SQLiteComplaintStore(tmp_path / "reports.db")


@pytest.fixture(name="events")
def _events() -> list[ComplaintEvent]:
    return []


@pytest.fixture(name="desk")
def _desk(store: SQLiteComplaintStore, events: list[ComplaintEvent]) -> ComplaintsDesk:
    return ComplaintsDesk(store, sinks=[events.append])


@pytest.fixture(name="built")
def _built(adapter: Adapter, desk: ComplaintsDesk) -> Iterator[BuiltApp]:
    with build_app(adapter, reports=desk, strict=True) as built:
        yield built


def post(built: BuiltApp, account: str | None, **kwargs: Any) -> httpx.Response:
    with built.client(account) as client:
        return client.post("/reports", **kwargs)


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://childsafe.readthedocs.io/")
    return body


class TestFiling:
    def test_a_signed_in_child_files_a_report(
        self, built: BuiltApp, desk: ComplaintsDesk, events: list[ComplaintEvent]
    ) -> None:
        """A 12-year-old's report is filed with their band and role, and an event goes out."""
        response = post(built, "kid", json=REPORT)
        assert response.status_code == 201, response.text
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert body["status"] == "received"
        assert body["category"] == "grooming"
        case = desk.get(body["id"])
        assert case.reporter.role.value == "child"
        assert case.reporter.band.value == "under_13"
        assert case.reporter.account_id == "kid"
        assert case.subject.account_id == "stranger"
        assert case.status is Status.RECEIVED
        assert [e.kind for e in events] == ["complaint.filed"]
        assert events[0].case_id == body["id"]
        assert events[0].dsa_category == "protection_of_minors"

    def test_a_parent_reports_as_parent(self, built: BuiltApp, desk: ComplaintsDesk) -> None:
        """An adult account may say it reports as a parent."""
        response = post(built, "parent", json={**REPORT, "reporter": {"role": "parent"}})
        assert response.status_code == 201, response.text
        case = desk.get(response.json()["id"])
        assert (case.reporter.role.value, case.reporter.band.value) == ("parent", "adult")

    def test_anyone_signed_out_can_report(self, built: BuiltApp, desk: ComplaintsDesk) -> None:
        """Reporting is never refused for want of an account: the band is declared."""
        response = post(built, None, json={**REPORT, "reporter": {"age_band": "13_15"}})
        assert response.status_code == 201, response.text
        case = desk.get(response.json()["id"])
        assert case.reporter.account_id is None
        assert (case.reporter.role.value, case.reporter.band.value) == ("child", "13_15")

    def test_a_child_cannot_claim_another_band(self, built: BuiltApp) -> None:
        """A signed-in child's band comes from the account, not from the body."""
        body = problem(post(built, "teen", json={**REPORT, "reporter": {"age_band": "adult"}}), 422)
        assert [e["field"] for e in body["errors"]] == ["reporter.age_band"]


class TestProblems:
    def test_invalid_reports_list_every_problem(
        self, built: BuiltApp, desk: ComplaintsDesk
    ) -> None:
        """A 422 names each bad field; nothing is filed."""
        response = post(built, "kid", json={"category": "spam", "subject": {"kind": "post"}})
        body = problem(response, 422)
        assert [e["field"] for e in body["errors"]] == ["category", "subject.kind", "subject.id"]
        assert "category" in body["detail"]
        assert desk.cases() == []

    def test_a_refusal_is_not_an_amplifier(self, built: BuiltApp, desk: ComplaintsDesk) -> None:
        """A body of a thousand unknown keys, or a long bad value, is answered with a
        problem document a fraction of its size (five unknown fields named, the rest
        counted; values repeated at most 60 characters), not one twenty times it."""
        subject: dict[str, object] = {"kind": "account", "id": "stranger"}
        subject |= {f"{i:x}": 0 for i in range(1400)}
        raw = json.dumps({**REPORT, "subject": subject}).encode()
        response = post(built, "kid", content=raw, headers={"content-type": "application/json"})
        body = problem(response, 422)
        assert len(response.content) < len(raw) / 4
        fields = [e["field"] for e in body["errors"]]
        assert fields == [*(f"subject.{i:x}" for i in range(5)), "subject.(more)"]
        assert body["errors"][-1]["message"] == "1395 more unknown fields"
        raw = json.dumps({**REPORT, "category": "x" * 12000}).encode()
        response = post(built, "kid", content=raw, headers={"content-type": "application/json"})
        assert len(response.content) < 1000
        assert "got 'xxx" in problem(response, 422)["errors"][0]["message"]
        assert desk.cases() == []

    def test_malformed_json_is_400(self, built: BuiltApp) -> None:
        """A body that is not JSON is a 400 saying so."""
        response = post(
            built, "kid", content=b'{"category": ', headers={"content-type": "application/json"}
        )
        assert problem(response, 400)["title"] == "The report is not valid JSON"

    def test_repeated_keys_are_refused(self, built: BuiltApp) -> None:
        """A key given twice is ambiguous, so the report is refused."""
        raw = (
            b'{"category": "grooming", "category": "other", '
            b'"subject": {"kind": "account", "id": "x"}}'
        )
        response = post(built, "kid", content=raw, headers={"content-type": "application/json"})
        problem(response, 400)

    def test_other_media_types_are_415(self, built: BuiltApp) -> None:
        """A form post is refused with 415, naming JSON."""
        response = post(built, "kid", data={"category": "grooming"})
        problem(response, 415)
        assert response.headers["accept-post"] == "application/json"

    def test_too_large_is_413(self, built: BuiltApp, desk: ComplaintsDesk) -> None:
        """A body over the limit is not read into a case."""
        huge = {**REPORT, "description": "x" * (MAX_REPORT_BODY + 10)}
        problem(post(built, "kid", json=huge), 413)
        assert desk.cases() == []

    @pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
    def test_only_post(self, built: BuiltApp, desk: ComplaintsDesk, method: str) -> None:
        """Another method gets 405 naming POST (the problem document where the endpoint
        sees the request, the framework's own 405 where the route is mounted for POST
        only), never strict mode's 403 and never a filed case."""
        with built.client("kid") as client:
            response = client.request(method, "/reports", json=REPORT)
        assert response.status_code == 405
        assert "POST" in response.headers["allow"]
        if built.adapter in ("wsgi", "asgi", "django"):
            assert problem(response, 405)["type"].endswith("#method-not-allowed")
        assert desk.cases() == []

    def test_a_store_that_fails_is_503(self, built: BuiltApp, store: SQLiteComplaintStore) -> None:
        """When the database cannot take the report, the reporter is told to try again."""
        with sqlite3.connect(store.path) as db:
            db.execute("DROP TABLE childsafe_complaints")
        response = post(built, "kid", json=REPORT)
        body = problem(response, 503)
        assert response.headers["retry-after"] == "60"
        assert "try again" in body["detail"]


class TestSinkFailure:
    def test_a_failing_sink_still_files(
        self, adapter: Adapter, store: SQLiteComplaintStore
    ) -> None:
        """The case is stored before the sink runs: the reporter gets 201, the failure is
        logged for the platform."""

        def broken(event: ComplaintEvent) -> None:
            raise OSError(f"audit trail down ({event.kind})")

        desk = ComplaintsDesk(store, sinks=[broken])
        with build_app(adapter, reports=desk) as built:
            response = post(built, "kid", json=REPORT)
        assert response.status_code == 201, response.text
        assert desk.get(json.loads(response.content)["id"]).category == "grooming"


BODY = json.dumps(REPORT).encode()


def _environ(terminated: bool) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/reports",
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "CONTENT_TYPE": "application/json",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "HTTP_AUTHORIZATION": "Bearer kid",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(BODY),
        "wsgi.input_terminated": terminated,
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


class TestBodiesOfUnknownLength:
    """A chunked body (no Content-Length) is read up to the limit when the server ends
    the input (``wsgi.input_terminated``; ASGI always does), and is never waited on
    otherwise: the report is then refused as empty, never half-read."""

    def test_wsgi_servers(self, built: BuiltApp) -> None:
        if built.wsgi is None:
            pytest.skip("n/a: an ASGI app (see test_asgi_servers)")
        statuses: list[int] = []

        def start_response(status: str, *_: object) -> None:
            statuses.append(int(status.split(maxsplit=1)[0]))

        for terminated in (True, False):
            b"".join(built.wsgi(_environ(terminated), start_response))
        # Django reads no body without a Content-Length, whatever the server says.
        assert statuses == ([400, 400] if built.adapter == "django" else [201, 400])

    def test_asgi_servers(self, built: BuiltApp) -> None:
        if built.asgi is None:
            pytest.skip("n/a: a WSGI app (see test_wsgi_servers)")
        asgi = built.asgi
        sent: list[dict[str, Any]] = []
        parts = [BODY[:7], BODY[7:]]

        async def receive() -> dict[str, Any]:
            if parts:
                return {"type": "http.request", "body": parts.pop(0), "more_body": bool(parts)}
            await asyncio.Event().wait()
            raise AssertionError("unreachable")  # pragma: no cover

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(dict(message))

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": "/reports", "raw_path": b"/reports",
            "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
            "server": ("testserver", 80), "state": {},
            "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"),
                        (b"authorization", b"Bearer kid")],
        }  # fmt: skip

        async def call() -> None:
            await asgi(scope, receive, send)

        asyncio.run(call())
        assert sent[0]["status"] == 201, sent


class TestEndlessBodies:
    def test_reading_stops_past_the_limit(self, built: BuiltApp, desk: ComplaintsDesk) -> None:
        """A body streamed without end (chunked, no length) is refused with 413 as soon
        as it passes the limit: the ASGI endpoints read all of it before answering."""
        if built.asgi is None:
            pytest.skip("n/a: a WSGI app (it reads at most the limit and one byte)")
        asgi = built.asgi
        sent: list[dict[str, Any]] = []
        read = 0
        chunk = b" " * 1024

        async def receive() -> dict[str, Any]:
            nonlocal read
            read += 1
            return {"type": "http.request", "body": chunk, "more_body": read < 10_000}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(dict(message))

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": "/reports", "raw_path": b"/reports",
            "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
            "server": ("testserver", 80), "state": {},
            "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"),
                        (b"authorization", b"Bearer kid")],
        }  # fmt: skip

        async def call() -> None:
            await asgi(scope, receive, send)

        asyncio.run(call())
        assert sent[0]["status"] == 413, sent
        assert read <= MAX_REPORT_BODY // len(chunk) + 2
        assert desk.cases() == []


class TestDjangoUnderASGI:
    def test_a_chunked_body_is_read_only_to_the_limit(self, desk: ComplaintsDesk) -> None:
        """Under ASGI Django receives a chunked body whole (spooled to disk past 2.5 MB);
        with DATA_UPLOAD_MAX_MEMORY_SIZE = None the report view read all of it into
        memory before refusing it. It reads the limit and one byte, and answers 413."""
        from django.core.asgi import get_asgi_application  # type: ignore[import-untyped]  # noqa: PLC0415
        from django.test import override_settings  # type: ignore[import-untyped]  # noqa: PLC0415

        with build_app("django", reports=desk, strict=True):
            app = get_asgi_application()
            sent: list[MutableMapping[str, Any]] = []
            parts = 0
            chunk = b" " * (1 << 20)

            async def receive() -> dict[str, Any]:
                nonlocal parts
                parts += 1
                if parts > 32:  # the body has ended: wait for the disconnect
                    await asyncio.Event().wait()
                return {"type": "http.request", "body": chunk, "more_body": parts < 32}

            async def send(message: MutableMapping[str, Any]) -> None:
                sent.append(message)

            scope = {
                "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                "method": "POST", "scheme": "http", "path": "/reports",
                "raw_path": b"/reports", "query_string": b"", "root_path": "",
                "client": ("127.0.0.1", 1), "server": ("testserver", 80),
                "headers": [(b"host", b"testserver"), (b"content-type", b"application/json")],
            }  # fmt: skip
            tracemalloc.start()
            try:
                with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=None):
                    asyncio.run(app(scope, receive, send))
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
        assert sent[0]["status"] == 413
        assert peak < 16 << 20  # the 32 MiB body was never held in memory
        assert desk.cases() == []


class TestRawEdges:
    def test_a_bad_content_length_is_too_large(self, desk: ComplaintsDesk) -> None:
        """A Content-Length that is not a number is never trusted: nothing is read."""
        from childsafe.wsgi import report_app  # noqa: PLC0415

        environ = {**_environ(terminated=True), "CONTENT_LENGTH": "ten"}
        statuses: list[str] = []
        app: Any = report_app(desk)  # called as a server would, with a plain start_response
        b"".join(app(environ, lambda status, *_: statuses.append(status)))
        assert statuses == ["413 Request Entity Too Large"]
        assert desk.cases() == []

    def test_asgi_lifespan_and_disconnect(self, desk: ComplaintsDesk) -> None:
        """The ASGI app ignores other scopes, and a client that goes away files nothing."""
        from childsafe.asgi import report_app  # noqa: PLC0415

        app = report_app(desk)
        sent: list[MutableMapping[str, Any]] = []

        async def receive() -> MutableMapping[str, Any]:
            return {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        async def go() -> None:
            await app({"type": "lifespan"}, receive, send)
            await app({"type": "http", "method": "POST", "headers": []}, receive, send)

        asyncio.run(go())
        assert sent == []
        assert desk.cases() == []


def test_report_response_refuses_an_adapters_wrong_arguments() -> None:
    """method=None was an AttributeError from .upper(), desk=None one from
    .file_report(); an adapter's bug is named as a ComplaintError, not a 500 traceback
    of the library's insides."""
    body = b'{"category": "bullying", "subject": {"kind": "account", "id": "u"}}'
    with pytest.raises(ComplaintError, match="method must be a string"):
        report_response(ComplaintsDesk(), method=None, content_type="application/json", body=body)  # type: ignore[arg-type]
    with pytest.raises(ComplaintError, match="desk must be a ComplaintsDesk"):
        report_response(None, method="POST", content_type="application/json", body=body)  # type: ignore[arg-type]
