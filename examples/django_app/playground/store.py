"""The store and the childsafe wiring the settings point at.

``CHILDSAFE["REPOSITORY"]`` names :func:`repository` (a factory the middleware calls
once when it starts) and ``CHILDSAFE["RESOLVERS"]`` names :data:`signed_in`, which
reads the signed-in account's id from the session.
"""

from __future__ import annotations

import functools
from typing import Final

from django.conf import settings  # type: ignore[import-untyped]

from childsafe.contrib.django import session_account
from examples.common.socialdb import SocialDB, SocialRepository

SESSION_KEY: Final = "account_id"
"""Where the sign-in view puts the account id in ``request.session``."""

signed_in: Final = session_account(SESSION_KEY)
"""The childsafe resolver: the account whose id is in the session (none: signed out)."""


@functools.cache
def _open(path: str) -> SocialDB:
    db = SocialDB(path)
    if db.is_empty():
        db.seed()
    return db


def get_db() -> SocialDB:
    """The store at ``settings.PLAYGROUND_DB``, seeded with the demo accounts if empty."""
    return _open(str(settings.PLAYGROUND_DB))


def repository() -> SocialRepository:
    """The :class:`~childsafe.AccountRepository` over the store."""
    return SocialRepository(get_db())
