"""The Django integration: an app with system checks, a middleware, resolvers.

Add the app and the middleware (after ``AuthenticationMiddleware``), point
``CHILDSAFE["REPOSITORY"]`` at your accounts, and declare what views do with
:func:`childsafe.action`::

    INSTALLED_APPS = [..., "childsafe.contrib.django"]
    MIDDLEWARE = [
        ...,
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "childsafe.contrib.django.middleware.ChildsafeMiddleware",
        ...,
    ]
    CHILDSAFE = {"POLICY": BASE_DIR / "childsafe.toml", "REPOSITORY": "myapp.accounts.Accounts"}

Install it with ``pip install 'childsafe[django]'``. Every key of ``CHILDSAFE`` is
described in :mod:`childsafe.contrib.django.conf`; mistakes fail ``manage.py check``
(and the start of the server) with a ``childsafe.E0xx`` message.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from childsafe.exceptions import MissingExtraError

try:
    import django  # type: ignore[import-untyped]  # noqa: F401 - fail early, naming the extra
except ImportError:
    raise MissingExtraError(
        "childsafe.contrib.django needs Django; install it with: pip install 'childsafe[django]'"
    ) from None

from childsafe.contrib.django.decorators import filter_exempt
from childsafe.contrib.django.inventory import routes
from childsafe.contrib.django.middleware import ChildsafeMiddleware, DjangoRenderer, request_context
from childsafe.contrib.django.request import DjangoRequest, django_user, session_account

__all__ = [
    "ChildsafeMiddleware",
    "DjangoRenderer",
    "DjangoRequest",
    "django_user",
    "filter_exempt",
    "request_context",
    "routes",
    "session_account",
]
