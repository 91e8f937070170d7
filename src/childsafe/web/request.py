"""What the kernel reads from a request: the :class:`~childsafe.typing.Request`
helpers every adapter shares (headers, cookies, query strings, JSON bodies)."""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Mapping, MutableMapping, Sequence
from types import BuiltinFunctionType, FunctionType, MappingProxyType, MethodType
from typing import Any, Final
from urllib.parse import parse_qs

from childsafe._parsing import ParseError, load_json
from childsafe.typing import Request

log = logging.getLogger("childsafe")


NO_PARAMS: Final[Mapping[str, Any]] = MappingProxyType({})
"""No path parameters (shared: it cannot be changed)."""


def path_params(params: Mapping[str, str] | re.Match[str]) -> Mapping[str, str]:
    """A request's path parameters as a mapping: ``params`` itself, or the parameters
    of a route table's match (which adapters keep instead, reading one by name)."""
    if isinstance(params, re.Match):
        return params.groupdict()
    return params


new_object: Final = object.__new__
"""``object.__new__``: adapters build their request wrapper per request with it and
set its attributes themselves, which skips the class call and ``__init__``."""

CONTEXT_KEY: Final = "childsafe.context"
"""Where adapters store the :class:`RequestContext` (WSGI environ, ASGI scope)."""


def parse_cookie_header(header: str) -> dict[str, str | None]:
    """The cookies of a ``Cookie`` header, leniently: one malformed cookie (a stray
    quote, an analytics blob) does not hide the others. A cookie given twice with
    different values is ``None``, as if absent: frameworks disagree on which one wins
    (Werkzeug reads the first, Django and Starlette the last), so a check reading one
    session while the app acts on the other would check another account than the
    one acting (see :func:`single_value`). The same value twice is that value."""
    cookies: dict[str, str | None] = {}
    for part in header.split(";"):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not name:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if name not in cookies:
            cookies[name] = value
        elif cookies[name] not in {None, value}:
            log.warning("childsafe: a cookie was given twice with different values")
            cookies[name] = None
    return cookies


def unambiguous_cookie(value: str | None, header: object, name: str) -> str | None:
    """``value``, the cookie ``name`` as a framework read it from the raw ``Cookie``
    ``header``, or ``None`` when the header gives that cookie twice with different
    values (see :func:`parse_cookie_header`): what the Flask, Django and Starlette
    adapters' ``Request.cookie`` return."""
    if value is None or not isinstance(header, str) or header.count(name) < 2:
        return value
    return value if parse_cookie_header(header).get(name) is not None else None


# The WSGI environ (and Django ``META``) keys of the headers childsafe reads most, so
# adapters find them with one dict lookup (``ENVIRON_KEYS.get(name) or environ_key(name)``).
ENVIRON_KEYS: Final = {
    "authorization": "HTTP_AUTHORIZATION",
    "Authorization": "HTTP_AUTHORIZATION",
    "cookie": "HTTP_COOKIE",
    "content-type": "CONTENT_TYPE",
    "Content-Type": "CONTENT_TYPE",
    "content-length": "CONTENT_LENGTH",
    "accept-language": "HTTP_ACCEPT_LANGUAGE",
    "x-request-id": "HTTP_X_REQUEST_ID",
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


# Other names apps and older frameworks give a JSON body, which clients parse as JSON.
_OTHER_JSON: Final = frozenset({"text/json", "text/x-json", "application/x-json"})


def is_json_response(content_type: str | None) -> bool:
    """Whether a response is filtered as JSON: ``application/json`` and
    ``application/*+json``, and the other names a JSON body goes by (``text/json``,
    ``application/x-json``), which clients parse as JSON too. A stream of JSON
    documents (``application/x-ndjson``) is not: it is forwarded as it comes."""
    if not content_type:
        return False
    return is_json(content_type) or content_type.split(";", 1)[0].strip().lower() in _OTHER_JSON


def client_of(scope: Mapping[str, Any]) -> str | None:
    """The client's host from an ASGI scope's ``client`` (``None`` when the server
    gives none, as over a Unix socket)."""
    client = scope.get("client")
    if isinstance(client, list | tuple) and client and isinstance(client[0], str):
        return client[0] or None
    return None


class ScopeRequest:
    """What a :class:`~childsafe.typing.Request` over an ASGI scope reads of the scope
    itself, the same on every ASGI adapter: the method, the path below the app's mount
    point and the client's address. A subclass keeps ``scope`` in its own slots."""

    __slots__ = ()
    scope: MutableMapping[str, Any]

    @property
    def method(self) -> str:
        """The HTTP method, or ``WEBSOCKET`` for a websocket (as in a route table)."""
        scope = self.scope
        if scope.get("type") == "websocket":
            return "WEBSOCKET"
        return str(scope.get("method", "GET")).upper()

    @property
    def path(self) -> str:
        """The path below the app's mount point (``root_path`` removed, as routers do)."""
        scope = self.scope
        path = str(scope.get("path", "/"))
        root = str(scope.get("root_path", ""))
        if root and path.startswith(root) and path[len(root) : len(root) + 1] in {"", "/"}:
            path = path[len(root) :]
        return path or "/"

    @property
    def client_addr(self) -> str | None:
        """The client's address from the scope (behind a proxy, what the server's
        proxy-headers handling put there)."""
        return client_of(self.scope)


class ParsingRequest:
    """What the WSGI and ASGI middlewares' requests parse themselves, the same way:
    the route table's path parameters, the cookies and the query string, each parsed
    when first read. A subclass says where the raw cookie header and query string
    are."""

    __slots__ = ("_cookies", "_params", "_query")
    # The path parameters: a mapping, or the route table's match (read by name).
    _params: Mapping[str, str] | re.Match[str]
    _cookies: dict[str, str | None]
    _query: dict[str, list[str]]

    @property
    def params(self) -> Mapping[str, str]:
        """The path parameters of the route-table rule the request matched."""
        try:
            return path_params(self._params)
        except AttributeError:  # set only for a matched rule
            return NO_PARAMS

    @params.setter
    def params(self, value: Mapping[str, str] | None) -> None:
        self._params = value or NO_PARAMS

    def __init_subclass__(cls, **kwargs: object) -> None:
        # A subclass that forgets a hook fails when it is defined, not on the first
        # request that reads a cookie (and without an abstract base class, whose
        # instance checks would cost every request a call).
        super().__init_subclass__(**kwargs)
        missing = [
            name
            for name in ("_cookie_header", "_query_string")
            if getattr(cls, name) is getattr(ParsingRequest, name)
        ]
        if missing:
            msg = f"{cls.__qualname__} must define {' and '.join(missing)} (see ParsingRequest)"
            raise TypeError(msg)

    # The two hooks every subclass defines (checked above); ParsingRequest itself is
    # never built.
    def _cookie_header(self) -> str:
        """The raw ``Cookie`` header (empty when absent)."""
        raise TypeError("ParsingRequest is a base class: build a subclass")

    def _query_string(self) -> str:
        """The raw query string, as text (empty when absent)."""
        raise TypeError("ParsingRequest is a base class: build a subclass")

    def cookie(self, name: str) -> str | None:
        try:
            cookies = self._cookies
        except AttributeError:  # parsed when first read
            cookies = self._cookies = parse_cookie_header(self._cookie_header())
        return cookies.get(name)

    def query(self, name: str) -> str | None:
        """A query parameter's value; ``None`` when absent or repeated with different
        values (see :func:`single_value`)."""
        try:
            query = self._query
        except AttributeError:  # parsed when first read
            query = self._query = parse_qs(self._query_string(), keep_blank_values=True)
        return single_value(query.get(name))


def client_addr(request: object) -> str | None:
    """The client address a request carries (the adapters' requests have a
    ``client_addr``; an app's own :class:`~childsafe.typing.Request` may not)."""
    try:
        value = getattr(request, "client_addr", None)
    except Exception:  # noqa: BLE001 - an address is never worth failing a request
        return None
    return value if isinstance(value, str) and value else None


def callable_name(obj: object) -> str:
    """A callable's name for messages (its ``__name__``, else its type's)."""
    return str(getattr(obj, "__name__", None) or type(obj).__name__)


def fast_callable(obj: Any) -> Any:  # noqa: ANN401 - any callable, returned as such
    """``obj``, or (for an instance of a class defining ``__call__`` in Python) its
    bound ``__call__``: the same call, which the interpreter makes without looking the
    method up on the type each time. Adapters take it once, at start-up."""
    if isinstance(obj, FunctionType | BuiltinFunctionType | MethodType):
        return obj
    call = getattr(type(obj), "__call__", None)  # noqa: B004 - the method itself, not callable()
    return MethodType(call, obj) if isinstance(call, FunctionType) else obj


def single_value(values: Sequence[str] | None) -> str | None:
    """The one value of a request field given ``values`` (a query parameter's, say):
    ``None`` when it is absent or given more than once with different values.

    Ambiguity is refused rather than resolved: a check that reads the first
    ``?to=`` while the view acts on the last (or on all) would be checking another
    account than the one acted on, so a declared target that is ambiguous is never
    found and the request is denied (``unverifiable``).

    >>> single_value(["kid"]), single_value(["kid", "kid"]), single_value(["kid", "adult"])
    ('kid', 'kid', None)
    """
    if not values:
        return None
    first = values[0]
    for value in values[1:]:
        if value != first:
            log.warning("childsafe: a request field was given %d different values", len(values))
            return None
    return first


def parse_json_body(raw: bytes | str) -> object:
    """A request's JSON body, or ``None`` when it cannot be read without ambiguity:
    malformed, nested too deeply, holding ``NaN``, or holding an object with a key
    given twice (``{"to": "kid", "to": "adult"}``: the check would read one and the
    view might act on the other). What every adapter's ``Request.json`` returns; the
    adapters bound the body's size before reading it."""
    if not raw:
        return None
    # No size limit of its own (the adapters bound the body): a text's UTF-8 bytes, at
    # most 4 a character, not its number of characters, which refused any non-ASCII text.
    limit = len(raw) if isinstance(raw, bytes) else 4 * len(raw)
    try:
        return load_json(raw, max_bytes=limit)
    except ParseError as e:
        log.warning("childsafe: a JSON request body was not read: %s", e)
        return None


CONFIRM_HEADER: Final = "Childsafe-Confirm"
"""The request header by which the account holder confirms a safety prompt: the
action's name (``Childsafe-Confirm: friend.request``), or several, comma-separated."""


def confirms(request: Request, action: str) -> bool:
    """Whether ``request`` carries the account holder's confirmation of ``action``
    (the :data:`CONFIRM_HEADER` header names it). A declared rule whose decision
    ``needs_confirmation`` is then checked again with ``confirmed=True``; the app's
    page shows the safety prompt and sends the header only once it was confirmed."""
    try:
        value = request.header(CONFIRM_HEADER)
    except Exception:  # noqa: BLE001 - no confirmation read is no confirmation
        return False
    return bool(value) and action in {part.strip() for part in str(value).split(",")}
