"""The WSGI application, for gunicorn (run from the repository root)::

    PLAYGROUND_DB=/tmp/playground.sqlite3 \\
        gunicorn examples.django_app.wsgi:application --bind 127.0.0.1:8001 --workers 2 --preload
"""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application  # type: ignore[import-untyped]

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")

# Building it loads the middleware: a bad CHILDSAFE setting stops the server here.
application = get_wsgi_application()
