"""The observation suite against the Flask Playground: no leak, and a leak put into
one of its views is found."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from examples.common import views
from examples.common.observe import PlaygroundObserver
from examples.common.socialdb import SocialDB
from examples.flask_app import create_app

from childsafe import RequestContext
from childsafe.contrib.flask import current_guard
from childsafe.testing.observe import ObservationReport, ObservationSuite


def _observe(tmp_path: Path) -> ObservationReport:
    db_path = tmp_path / "playground.sqlite3"
    app = create_app(db_path, secret_key="test-only")  # noqa: S106
    with app.app_context():
        policy = current_guard().policy
    suite = ObservationSuite(policy, jurisdictions=["GB", "US-FL"], seed=7)
    return suite.run(PlaygroundObserver(app, SocialDB(db_path)))


def test_the_flask_playground_leaks_nothing(tmp_path: Path) -> None:
    report = _observe(tmp_path)
    report.assert_passed()
    assert report.stats["reads"] > 500
    assert any(u.what == "GET /login" for u in report.unprobed)


def test_a_leak_put_into_the_playground_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A profile that also carries the location under another key, which the response
    filter does not know: the suite finds it, naming the route and the rule."""
    original = views.profile_json

    def leaky(db: SocialDB, ctx: RequestContext, user_id: str) -> dict[str, Any] | None:
        body = original(db, ctx, user_id)
        if body is not None:
            body["last_seen"] = db.location(user_id)
        return body

    monkeypatch.setattr(views, "profile_json", leaky)
    report = _observe(tmp_path)
    leaks = [f for f in report.findings if f.kind == "location"]
    assert leaks and leaks[0].route == "GET /api/users/<user_id>"
    assert "location.view denied" in leaks[0].rule
