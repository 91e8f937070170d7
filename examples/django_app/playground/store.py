"""The store and the childsafe wiring the settings point at.

``CHILDSAFE["REPOSITORY"]`` names :func:`repository` (a factory the middleware calls
once when it starts) and ``CHILDSAFE["RESOLVERS"]`` names :data:`age_token`, which
reads an age token from ``Authorization: Bearer``, then :data:`signed_in`, which reads
the signed-in account's id from the session.
"""

from __future__ import annotations

import functools
from typing import Final

from django.conf import settings  # type: ignore[import-untyped]

from childsafe import Request
from childsafe.contrib.django import DjangoRequest, session_account
from examples.common.playground import (
    SESSION_AGE_TOKEN,
    AgeTokenResolver,
    Playground,
    PlaygroundRepository,
    SessionAgeResolver,
    default_data_dir,
)
from examples.common.socialdb import SocialDB

SESSION_KEY: Final = "account_id"
"""Where the sign-in view puts the account id in ``request.session``."""


def _session_age_token(request: Request) -> object:
    """The age token the "Verify my age" page kept in the session."""
    if not isinstance(request, DjangoRequest):
        return None
    return request.request.session.get(SESSION_AGE_TOKEN)


@functools.cache
def _open(path: str, data_dir: str) -> Playground:
    db = SocialDB(path)
    if db.is_empty():
        db.seed()
    return Playground(db, data_dir)


def get_playground() -> Playground:
    """The store at ``settings.PLAYGROUND_DB`` (seeded with the demo accounts if empty),
    with its consent grants and age tokens over ``settings.PLAYGROUND_DATA`` (default:
    ``<db name>-data`` next to the database)."""
    db = str(settings.PLAYGROUND_DB)
    return _open(db, str(settings.PLAYGROUND_DATA or default_data_dir(db)))


def get_db() -> SocialDB:
    """The store at ``settings.PLAYGROUND_DB``."""
    return get_playground().db


def repository() -> PlaygroundRepository:
    """The :class:`~childsafe.AccountRepository`: accounts with their guardians, parent
    locks and verified consent grants."""
    return get_playground().repository()


signed_in: Final = SessionAgeResolver(
    session_account(SESSION_KEY), get_playground, _session_age_token
)
"""The childsafe resolver: the account whose id is in the session (none: signed out),
with the band of the age token the "Verify my age" page kept in the session."""

age_token: Final = AgeTokenResolver(get_playground)
"""The childsafe resolver for ``Authorization: Bearer <age token>`` (none: the next)."""
