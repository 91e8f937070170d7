"""What the kernel reads from a request: the :class:`~childsafe.typing.Request`
helpers every adapter shares (headers, cookies, query strings, JSON bodies)."""

from __future__ import annotations

import inspect
import logging
from typing import Final

log = logging.getLogger("childsafe")


CONTEXT_KEY: Final = "childsafe.context"
"""Where adapters store the :class:`RequestContext` (WSGI environ, ASGI scope)."""


def parse_cookie_header(header: str) -> dict[str, str]:
    """The cookies of a ``Cookie`` header, leniently: one malformed cookie (a stray
    quote, an analytics blob) does not hide the others. The first of two cookies with
    the same name wins (browsers send the most specific path first)."""
    cookies: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not name:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        cookies.setdefault(name, value)
    return cookies


# The WSGI environ (and Django ``META``) keys of the headers childsafe reads most, so
# adapters find them with one dict lookup (``ENVIRON_KEYS.get(name) or environ_key(name)``).
ENVIRON_KEYS: Final = {
    "authorization": "HTTP_AUTHORIZATION",
    "Authorization": "HTTP_AUTHORIZATION",
    "cookie": "HTTP_COOKIE",
    "content-type": "CONTENT_TYPE",
    "Content-Type": "CONTENT_TYPE",
    "content-length": "CONTENT_LENGTH",
}


def environ_key(name: str) -> str:
    """The WSGI environ key of the header ``name`` (any case): ``HTTP_X_TOKEN`` for
    ``x-token``; ``CONTENT_TYPE`` and ``CONTENT_LENGTH`` have no ``HTTP_`` prefix."""
    key = name.upper().replace("-", "_")
    return key if key in {"CONTENT_TYPE", "CONTENT_LENGTH"} else "HTTP_" + key


def is_id(value: object) -> bool:
    """Whether ``value`` can be an account id in JSON: a string or an integer."""
    return isinstance(value, str | int) and not isinstance(value, bool)


def close_awaitable(value: object) -> None:
    """Close a coroutine nobody will await, so it does not warn when collected."""
    if inspect.iscoroutine(value):
        value.close()


def is_json(content_type: str | None) -> bool:
    """Whether a content type is JSON (``application/json``, ``application/*+json``)."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def callable_name(obj: object) -> str:
    return str(getattr(obj, "__name__", None) or type(obj).__name__)
