"""The observation suite against the corpus: every leaky variant is caught, the
correct app passes, and every variant's HTTP exploit works on it and fails on the
correct app. Flask and Starlette in process, and a variant set over a real server."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from childsafe.testing.observe import ObservationReport, ObservationSuite, SyncASGITransport
from tests.conformance_corpus.adapter import CorpusAdapter, StoreAdapter
from tests.conformance_corpus.core import BUGS, Social
from tests.conformance_corpus.exploits import EXPLOITS, Site
from tests.conformance_corpus.fronts import flask_app, starlette_app

JURISDICTIONS = ("GB", "US-TX", "US-FL")
#: The bugs also served by Starlette (all of them run on Flask).
STARLETTE = (
    "html_location",
    "later_pages",
    "group_unchecked",
    "teen_viewers",
    "signup_defaults",
    "body_target",
    "quiet_hours_utc",
    "purchase_no_jurisdiction",
)
#: The bugs also observed over a real HTTP server on 127.0.0.1.
REAL_SERVER = ("gzip_activity", "suggestions_page2", "follow_as_connection")


def _in_process(framework: str, bugs: frozenset[str]) -> CorpusAdapter:
    social = Social(bugs)
    if framework == "flask":
        app = flask_app(social)
        return CorpusAdapter(app, httpx.WSGITransport(app=app), "http://testserver")
    asgi = starlette_app(social)
    return CorpusAdapter(asgi, SyncASGITransport(asgi), "http://testserver")


def _observe(adapter: CorpusAdapter) -> ObservationReport:
    return ObservationSuite(jurisdictions=JURISDICTIONS, seed=14).run(adapter)


def test_every_bug_has_an_exploit() -> None:
    assert set(EXPLOITS) == set(BUGS)
    assert len(BUGS) >= 30


@pytest.mark.parametrize("framework", ["flask", "starlette"])
def test_the_correct_app_passes(framework: str) -> None:
    report = _observe(_in_process(framework, frozenset()))
    report.assert_passed()
    assert report.stats["probes"] > 100


VARIANTS = [("flask", b) for b in BUGS] + [("starlette", b) for b in STARLETTE]


@pytest.mark.parametrize(("framework", "bug"), VARIANTS)
def test_the_suite_catches_the_variant(framework: str, bug: str) -> None:
    report = _observe(_in_process(framework, frozenset([bug])))
    assert report.findings, f"{framework} {bug} ({BUGS[bug]}) was not caught:\n{report.table()}"


#: Bugs of every kind, observed again through an adapter of another style.
OTHER_STYLE = (
    "nested_location",
    "later_pages",
    "conversation_idor",
    "follow_as_connection",
    "quiet_hours_utc",
    "parent_route_unchecked",
    "signup_jurisdiction",
    "bulk_unchecked",
)


@pytest.mark.parametrize("bug", OTHER_STYLE)
def test_an_adapter_of_another_style_catches_it_too(bug: str) -> None:
    social = Social(frozenset([bug]))
    report = _observe(StoreAdapter(flask_app(social), social))
    assert report.findings, report.table()


def test_another_style_passes_the_correct_app() -> None:
    social = Social()
    _observe(StoreAdapter(flask_app(social), social)).assert_passed()


def _site(bugs: frozenset[str]) -> Site:
    app = flask_app(Social(bugs))
    transport = httpx.WSGITransport(app=app)
    return Site(lambda: httpx.Client(transport=transport, base_url="http://testserver"))


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_the_exploit_exposes_the_child_only_in_the_variant(bug: str) -> None:
    exploit = EXPLOITS[bug]
    assert exploit(_site(frozenset([bug]))), f"the {bug} exploit did not work on its variant"
    assert not exploit(_site(frozenset())), f"the {bug} exploit works on the correct app"


@pytest.fixture
def served() -> Iterator[tuple[Social, str]]:
    """A corpus app over a real HTTP server on 127.0.0.1; swap its bugs per test."""
    social = Social()

    class KeepAlive(WSGIRequestHandler):
        protocol_version = "HTTP/1.1"  # one connection per client, not per request

    server = make_server(
        "127.0.0.1", 0, flask_app(social), threaded=True, request_handler=KeepAlive
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield social, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


@pytest.mark.parametrize("bug", REAL_SERVER)
def test_over_a_real_server(served: tuple[Social, str], bug: str) -> None:
    social, url = served
    social.bugs = frozenset([bug])
    report = _observe(CorpusAdapter(flask_app(social), None, url))
    assert report.findings, report.table()
    assert all(f.reproduce.startswith("curl") or not f.reproduce for f in report.findings)


def test_reports_for_ci(tmp_path: object) -> None:
    report = _observe(_in_process("flask", frozenset(["teen_viewers"])))
    xml = report.junit_xml()
    assert xml.count("<failure") == len(report.findings)
    data = __import__("json").loads(report.to_json())
    assert data["passed"] is False and data["findings"][0]["reproduce"].startswith("curl")
    assert "teen_13_15" in report.table()
