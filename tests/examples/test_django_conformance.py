"""The Django Playground runs childsafe's conformance suite against itself."""

from __future__ import annotations

from pathlib import Path

import examples.django_app.settings as example_settings
from django.core.handlers.wsgi import WSGIHandler  # type: ignore[import-untyped]
from django.test import override_settings  # type: ignore[import-untyped]
from examples.common.conformance import PlaygroundAdapter
from examples.common.socialdb import SocialDB

from childsafe.contrib.django.conf import load
from childsafe.pytest_plugin import ConformanceRunner
from tests import django_settings

# The example's settings, but the apps and databases of the shared test configuration.
KEPT = ("INSTALLED_APPS", "DATABASES", "PLAYGROUND_DB", "ALLOWED_HOSTS")
SITE = {k: getattr(example_settings, k) for k in dir(example_settings) if k.isupper()}
SITE = {k: v for k, v in SITE.items() if k not in KEPT}


class TestConformance:
    def test_every_protection_holds_for_every_band(
        self, tmp_path: Path, conformance: ConformanceRunner
    ) -> None:
        """Every protection the site's policy guarantees holds through its views."""
        django_settings.setup()
        db = tmp_path / "playground.sqlite3"
        hosts = [*example_settings.ALLOWED_HOSTS, "testserver"]
        with override_settings(**SITE, PLAYGROUND_DB=str(db), ALLOWED_HOSTS=hosts):
            policy = load().config.guard.policy  # type: ignore[union-attr]
            adapter = PlaygroundAdapter(WSGIHandler(), SocialDB(db))
            conformance(adapter, policy, jurisdictions=["GB"])
