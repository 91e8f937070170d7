"""The one Django configuration of the test process.

Django can be configured only once per process, and the whole suite runs in one pytest
process. So every test module that needs Django (``tests/test_django.py`` and
``tests/examples/test_django_app.py``) calls :func:`setup`: whichever runs first
configures Django with :data:`BASE`, and each module then changes what it needs for its
own tests with ``override_settings`` (URLconf, middleware, ``CHILDSAFE``, templates),
which Django undoes when each test ends. Nothing else in the suite reads Django
settings, so this cannot leak into other modules.
"""

from __future__ import annotations

from typing import Any, Final

import django  # type: ignore[import-untyped]
from django.apps import apps  # type: ignore[import-untyped]
from django.conf import settings  # type: ignore[import-untyped]

BASE: Final[dict[str, Any]] = {
    "DEBUG": False,
    "SECRET_KEY": "childsafe-tests-only",
    "ALLOWED_HOSTS": ["testserver", "127.0.0.1", "localhost"],
    # The example app's apps are here too, so its tests need not swap INSTALLED_APPS.
    "INSTALLED_APPS": [
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "childsafe.contrib.django",
        "examples.django_app.playground",
    ],
    # A named in-memory SQLite database shared by every thread (AsyncClient runs the
    # sync parts in another thread), for the tests that sign in real Django users.
    "DATABASES": {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": "file:childsafe_tests?mode=memory&cache=shared",
        }
    },
    "DEFAULT_AUTO_FIELD": "django.db.models.AutoField",
    "MIDDLEWARE": [],
    "ROOT_URLCONF": __name__,  # no URLs: each test module brings its own
    "TEMPLATES": [],
    "USE_TZ": True,
    "SESSION_ENGINE": "django.contrib.sessions.backends.signed_cookies",
    # Leave the logging configuration (and warnings capture) to pytest.
    "LOGGING_CONFIG": None,
}


urlpatterns: list[Any] = []


def setup() -> None:
    """Configure Django with :data:`BASE` unless this process already did."""
    if not settings.configured:
        settings.configure(**BASE)
    if not apps.ready:
        django.setup()
