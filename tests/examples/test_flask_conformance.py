"""The Flask Playground runs childsafe's conformance suite against itself."""

from __future__ import annotations

from pathlib import Path

from examples.common.conformance import PlaygroundAdapter
from examples.common.socialdb import SocialDB
from examples.flask_app import create_app

from childsafe.contrib.flask import current_guard
from childsafe.pytest_plugin import ConformanceRunner


class TestConformance:
    def test_every_protection_holds_for_every_band(
        self, tmp_path: Path, conformance: ConformanceRunner
    ) -> None:
        """Every protection the app's policy guarantees holds through its routes."""
        app = create_app(tmp_path / "playground.sqlite3", secret_key="test-only")  # noqa: S106
        with app.app_context():
            policy = current_guard().policy
        adapter = PlaygroundAdapter(app, SocialDB(tmp_path / "playground.sqlite3"))
        conformance(adapter, policy, jurisdictions=["GB"])
