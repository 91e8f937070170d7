"""Settings of the Playground example on Django.

Environment variables:

``PLAYGROUND_DB``
    The SQLite file (seeded with the demo accounts when empty). Default:
    ``childsafe-playground-django.sqlite3`` in the system's temporary directory.
``PLAYGROUND_DATA``
    The directory for the consent-grant secret, the revocation list, the test
    age-token issuer's key pair, the audit trail's checkpoints and, in ``media/``, the
    demo hash list and the evidence vault (created on first use, with a
    ``.gitignore``). Default: ``<db name>-data`` next to the database.
``PLAYGROUND_SECRET_KEY``
    Signs the session cookie. Every worker must share it. The default is for local
    demos only.
``PLAYGROUND_DEBUG``
    ``1`` for Django's debug pages.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = BASE_DIR.parent / "common" / "templates"

SECRET_KEY = os.environ.get("PLAYGROUND_SECRET_KEY") or "django-insecure-childsafe-playground-demo"
DEBUG = os.environ.get("PLAYGROUND_DEBUG") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "childsafe.contrib.django",  # registers childsafe's system checks
    "examples.django_app.playground",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # The session holds the signed-in account id, which childsafe's resolver reads: it
    # must come first (system check childsafe.E016).
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # No django.contrib.auth here: the demo signs in by account id. With it, childsafe
    # goes after AuthenticationMiddleware (childsafe.E014).
    "childsafe.contrib.django.middleware.ChildsafeMiddleware",
    # After childsafe: puts the audit trail on its guard, and tells the grooming-risk
    # signals of each message or friend request tried, refused ones included.
    "examples.django_app.playground.reports.SignalsMiddleware",
    # After childsafe, so a denied request is answered by childsafe (problem+json or
    # the denied page) before Django checks its CSRF token; an allowed one is then
    # checked for CSRF as usual.
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "examples.django_app.urls"
# A form without its CSRF token gets the styled 403 page.
CSRF_FAILURE_VIEW = "examples.django_app.playground.views.forbidden"
WSGI_APPLICATION = "examples.django_app.wsgi.application"

# The pages are the Jinja2 templates both example apps share.
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [TEMPLATES_DIR],
        "APP_DIRS": False,
        # The navigation's Photos link (playground/photos.py).
        "OPTIONS": {"environment": "examples.django_app.playground.photos.jinja_environment"},
    }
]

# No ORM: the store is plain SQLite (examples.common.socialdb), and sessions live in a
# signed cookie, so there is nothing to migrate.
DATABASES: dict[str, dict[str, str]] = {}
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

USE_TZ = True
TIME_ZONE = "Europe/London"

PLAYGROUND_DB = os.environ.get("PLAYGROUND_DB") or str(
    Path(tempfile.gettempdir()) / "childsafe-playground-django.sqlite3"
)
PLAYGROUND_DATA = os.environ.get("PLAYGROUND_DATA") or None

CHILDSAFE = {
    # The built-in `minimum` baseline; a path to your childsafe.toml goes here.
    "POLICY": None,
    # Loads accounts and relationships from the store (a factory, called at start-up).
    "REPOSITORY": "examples.django_app.playground.store.repository",
    # An age token (Authorization: Bearer, from the local test issuer) first, then the
    # signed-in account from the session; neither: the protective anonymous account.
    "RESOLVERS": [
        "examples.django_app.playground.store.age_token",
        "examples.django_app.playground.store.signed_in",
    ],
    # The denied page for browsers, problem+json for the API.
    "RENDERER": "examples.django_app.playground.views.render_denial",
    # Remove children's locations and drop children from suggestions in JSON responses.
    "RESPONSE_FILTER": True,
    # Photo messages: each image of a media.send view goes to the media screen (the
    # demo hash list, then the demo classifier); a match goes to the evidence vault,
    # which keeps the evidence, writes the audit record and opens a case. Both are
    # those of the Playground's database (playground/photos.py).
    "MEDIA_INSPECTOR": "examples.django_app.playground.photos.inspector",
    "EVIDENCE_PRESERVER": "examples.django_app.playground.photos.preserver",
    # A larger upload is refused with 413 before it is read (the default is 10 MiB).
    "MAX_MEDIA_BODY": 5 * 1024 * 1024,
    # Where uploads are spooled while they are checked ("MEDIA_TEMP_DIR"): the
    # system's temporary directory, removed on every path.
}
