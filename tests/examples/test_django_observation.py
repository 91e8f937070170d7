"""The observation suite against the Django Playground: no leak."""

from __future__ import annotations

from pathlib import Path

import examples.django_app.settings as example_settings
from django.core.handlers.wsgi import WSGIHandler  # type: ignore[import-untyped]
from django.test import override_settings  # type: ignore[import-untyped]
from examples.common.observe import PlaygroundObserver
from examples.common.socialdb import SocialDB

from childsafe.contrib.django.conf import load
from childsafe.testing.observe import ObservationSuite
from tests import django_settings

# The example's settings, but the apps and databases of the shared test configuration.
KEPT = ("INSTALLED_APPS", "DATABASES", "PLAYGROUND_DB", "ALLOWED_HOSTS")
SITE = {k: getattr(example_settings, k) for k in dir(example_settings) if k.isupper()}
SITE = {k: v for k, v in SITE.items() if k not in KEPT}


def test_the_django_playground_leaks_nothing(tmp_path: Path) -> None:
    django_settings.setup()
    db = tmp_path / "playground.sqlite3"
    hosts = [*example_settings.ALLOWED_HOSTS, "testserver"]
    with override_settings(**SITE, PLAYGROUND_DB=str(db), ALLOWED_HOSTS=hosts):
        policy = load().config.guard.policy  # type: ignore[union-attr]
        suite = ObservationSuite(policy, jurisdictions=["GB", "US-FL"], seed=7)
        report = suite.run(PlaygroundObserver(WSGIHandler(), SocialDB(db)))
    report.assert_passed()
    assert report.stats["reads"] > 500
