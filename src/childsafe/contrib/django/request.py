"""The Django request as childsafe reads it, and the resolvers that find its account.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from childsafe._model import Account
from childsafe.exceptions import ConfigProblem, ConfigurationError
from childsafe.typing import AccountRepository, Request, Resolver
from childsafe.web import ENVIRON_KEYS, environ_key, is_json, parse_json_body, single_value
from childsafe.web.request import unambiguous_cookie

__all__ = ["DjangoRequest", "django_user", "session_account"]

DEFAULT_MAX_BODY: Final = 1024 * 1024
"""The largest request body (bytes) read to find a target declared with ``json_field``."""

NO_VIEW_PARAMS: Final[Mapping[str, object]] = MappingProxyType({})
_NO_PARAMS: Final = NO_VIEW_PARAMS

# Django ships no type information: its objects are `Any` here, named in comments.


class DjangoRequest:
    """A :class:`~childsafe.Request` over a Django ``HttpRequest``.

    ``request`` is the ``HttpRequest``; ``repository`` the app's
    :class:`~childsafe.AccountRepository` (what :func:`django_user` and
    :func:`session_account` load accounts with); ``params`` the view's keyword
    arguments from the URL (set by the middleware once the URL is resolved).

    ``query(name)`` is ``request.GET.get(name)`` (the *last* value, as views read it),
    and ``json()`` parses ``request.body`` when the content type is JSON and the declared
    ``Content-Length`` is at most ``max_body``, so the view can still read the body.
    """

    __slots__ = ("_json", "max_body", "params", "repository", "request")
    _json: object

    def __init__(
        self,
        request: Any,  # noqa: ANN401 - a django.http.HttpRequest
        repository: AccountRepository | None = None,
        params: Mapping[str, str] | None = None,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        self.request = request
        self.repository = repository
        self.params: Mapping[str, object] = params or _NO_PARAMS
        self.max_body = max_body
        # _json is set when first read.

    @property
    def method(self) -> str:
        return str(self.request.method or "GET").upper()

    @property
    def path(self) -> str:
        """``request.path_info``: the path below the script prefix, as URLconfs see it."""
        return str(self.request.path_info)

    @property
    def client_addr(self) -> str | None:
        """``REMOTE_ADDR`` (behind a proxy, set it from the proxy's header yourself, as
        Django leaves it to you)."""
        value = self.request.META.get("REMOTE_ADDR")
        return value if isinstance(value, str) and value else None

    def header(self, name: str) -> str | None:
        """The header from ``request.META`` (what ``request.headers`` reads, without
        building the whole mapping of every header on first use)."""
        try:
            key = ENVIRON_KEYS[name]
        except KeyError:  # a header childsafe seldom reads
            key = environ_key(name)
        value = self.request.META.get(key)
        return value if type(value) is str or value is None else str(value)

    def cookie(self, name: str) -> str | None:
        """The cookie as Django reads it; ``None`` when given twice with different
        values (see :func:`~childsafe.web.parse_cookie_header`)."""
        value = self.request.COOKIES.get(name)
        if value is None:
            return None
        return unambiguous_cookie(str(value), self.request.META.get("HTTP_COOKIE"), name)

    def query(self, name: str) -> str | None:
        return single_value(self.request.GET.getlist(name))

    def path_param(self, name: str) -> str | None:
        value = self.params.get(name)
        return value if type(value) is str or value is None else str(value)

    def json(self) -> object:
        """The parsed JSON body; ``None`` if absent, not JSON, too large or of unknown
        length (a chunked upload), or unreadable."""
        try:
            return self._json
        except AttributeError:  # read when first asked for
            self._json = None
        request = self.request
        if not is_json(request.META.get("CONTENT_TYPE")):
            return None
        try:
            length = int(request.META.get("CONTENT_LENGTH") or "")
        except ValueError:
            return None  # no length: reading could take any amount of memory
        if not 0 < length <= self.max_body:
            return None
        try:
            self._json = parse_json_body(request.body)
        except Exception:  # noqa: BLE001 - malformed, too large for Django, already read
            self._json = None
        return self._json


class _PerRequest(DjangoRequest):
    """The :class:`DjangoRequest` the middleware builds for each request: called with no
    arguments (``object.__init__``, so no Python frame) and its attributes set by the
    middleware, which is cheaper than ``object.__new__(DjangoRequest)``."""

    __slots__ = ()
    __init__ = object.__init__


def _repository(request: Request, resolver: str) -> tuple[Any, AccountRepository]:
    """The ``HttpRequest`` and the repository behind ``request``, or an error that makes
    the request fail closed."""
    if not isinstance(request, DjangoRequest):
        raise TypeError(f"{resolver} works with the Django middleware only")
    if request.repository is None:
        raise LookupError(f"{resolver} needs CHILDSAFE['REPOSITORY']")
    return request.request, request.repository


class _DjangoUser:
    """``django_user``: the account of ``request.user``."""

    __slots__ = ()
    __name__ = "django_user"

    def __call__(self, request: Request) -> Account | None:
        http_request, repository = _repository(request, "django_user")
        user = getattr(http_request, "user", None)
        if user is None:
            raise LookupError(
                "request.user is not set: put AuthenticationMiddleware before ChildsafeMiddleware"
            )
        if not user.is_authenticated:
            return None
        return repository.get_account(str(user.pk))

    def __repr__(self) -> str:
        return "django_user"


django_user: Final[Resolver] = _DjangoUser()
"""The default resolver: the signed-in Django user's account, loaded through the
repository with ``str(request.user.pk)``. A signed-out user gives ``None`` (the next
resolver, or the protective anonymous account). Needs ``AuthenticationMiddleware``
before ``ChildsafeMiddleware``."""


class _SessionAccount:
    """``session_account(key)``: the account whose id is in ``request.session[key]``."""

    __slots__ = ("__name__", "key")

    def __init__(self, key: str) -> None:
        self.key = key
        self.__name__ = f"session_account({key!r})"

    def __call__(self, request: Request) -> Account | None:
        http_request, repository = _repository(request, self.__name__)
        session = getattr(http_request, "session", None)
        if session is None:
            raise LookupError(
                "request.session is not set: put SessionMiddleware before ChildsafeMiddleware"
            )
        value = session.get(self.key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise TypeError(f"session[{self.key!r}] holds a {type(value).__name__}, not an id")
        return repository.get_account(str(value))

    def __repr__(self) -> str:
        return self.__name__


def session_account(key: str = "account_id") -> Resolver:
    """A resolver reading the signed-in account's id from ``request.session[key]`` (put
    there by your sign-in view) and loading it through the repository.

    No id in the session: ``None``. An id that is not a string or an integer, or a
    repository that raises, fails closed. Needs ``SessionMiddleware`` before
    ``ChildsafeMiddleware``.
    """
    name: object = key
    if not isinstance(name, str) or not name:
        raise ConfigurationError(
            [ConfigProblem("session_account", "key", f"expected a session key, got {key!r}")]
        )
    return _SessionAccount(key)
