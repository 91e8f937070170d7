"""The framework-agnostic request layer: resolvers, request contexts, declared actions,
denials as RFC 9457 problem documents, response filters and the notification gate.

Nothing here imports a web framework. Each adapter (``childsafe.wsgi``,
``childsafe.asgi``, ``childsafe.contrib.*``) wraps its native request in a small object
that satisfies :class:`Request`, and does the I/O (loading accounts through the app's
:class:`AccountRepository`) around the pure steps defined here.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import logging
import re
import zlib
from collections.abc import (
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any, Final, Literal, Protocol, TypeVar, overload, runtime_checkable

import attrs

from childsafe._bands import AgeBand
from childsafe._decision import Decision, Reason
from childsafe._effective import Settings
from childsafe._engine import ACTIONS, SENSITIVITY_LEVELS, Guard
from childsafe._model import Account, Relationship
from childsafe._settings import suggest
from childsafe._supervision import Supervision
from childsafe.exceptions import ConfigProblem, ConfigurationError

__all__ = [
    "ANONYMOUS_ID",
    "CONTEXT_KEY",
    "AccountRepository",
    "ActionRule",
    "AsyncAccountRepository",
    "DenialRenderer",
    "DenialResponse",
    "Extractor",
    "NotificationGate",
    "Request",
    "RequestContext",
    "Resolution",
    "Resolver",
    "ResponseFilter",
    "RouteTable",
    "action",
    "action_rule",
    "bearer_token",
    "declared_rule",
    "filter_json",
    "filter_json_async",
    "is_json",
    "json_field",
    "path_param",
    "problem_details",
    "problem_response",
    "query_param",
    "resolve",
    "resolve_async",
    "unverifiable",
]

log = logging.getLogger("childsafe")


ANONYMOUS_ID: Final = "childsafe:anonymous"
"""The id of the protective account used when no account could be resolved."""

PROBLEM_TYPE_BASE: Final = "https://childsafe.readthedocs.io/en/latest/decisions.html#"
CONTEXT_KEY: Final = "childsafe.context"
"""Where adapters store the :class:`RequestContext` (WSGI environ, ASGI scope)."""


@runtime_checkable
class Request(Protocol):
    """What resolvers and extractors may read from a request.

    Adapters implement it over their native request without copying anything up
    front. Header names are case-insensitive.
    """

    @property
    def method(self) -> str: ...

    @property
    def path(self) -> str: ...

    def header(self, name: str) -> str | None: ...

    def cookie(self, name: str) -> str | None: ...

    def query(self, name: str) -> str | None: ...

    def path_param(self, name: str) -> str | None: ...

    def json(self) -> object:
        """The parsed JSON body, or ``None`` when there is none or it is not JSON."""


class AccountRepository(Protocol):
    """The app's accounts, as childsafe needs them. Implement it over your database."""

    def get_account(self, account_id: str) -> Account | None:
        """The account ``account_id``, or ``None`` if it does not exist."""

    def relationship(self, actor: Account, target: Account) -> Relationship:
        """How ``actor`` relates to ``target`` (connected, blocked, mutual count ...)."""


class AsyncAccountRepository(Protocol):
    """The same as :class:`AccountRepository` for async apps (ASGI)."""

    async def get_account(self, account_id: str) -> Account | None: ...

    async def relationship(self, actor: Account, target: Account) -> Relationship: ...


Resolver = Callable[[Request], "Account | Awaitable[Account | None] | None"]
"""Turns a request into an :class:`~childsafe.Account`, or ``None`` when it does not
apply (no token, no session). A resolver that raises makes the request fail closed."""

Extractor = Callable[[Request], "str | None"]
"""Finds the target account's id in a request (path, query or JSON body)."""


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


def _is_id(value: object) -> bool:
    """Whether ``value`` can be an account id in JSON: a string or an integer."""
    return isinstance(value, str | int) and not isinstance(value, bool)


def _close_awaitable(value: object) -> None:
    """Close a coroutine nobody will await, so it does not warn when collected."""
    if inspect.iscoroutine(value):
        value.close()


# ------------------------------------------------------------------- extractors


@attrs.frozen
class _PathParam:
    name: str

    def __call__(self, request: Request) -> str | None:
        return request.path_param(self.name)


@attrs.frozen
class _QueryParam:
    name: str

    def __call__(self, request: Request) -> str | None:
        return request.query(self.name)


@attrs.frozen
class _JsonField:
    name: str
    needs_body: bool = attrs.field(default=True, init=False)

    def __call__(self, request: Request) -> str | None:
        body = request.json()
        if not isinstance(body, dict):
            return None
        value = body.get(self.name)
        return str(value) if _is_id(value) else None


def path_param(name: str) -> Extractor:
    """The target's id is the path parameter ``name`` (``/users/<name>``)."""
    return _PathParam(name)


def query_param(name: str) -> Extractor:
    """The target's id is the query parameter ``name`` (``?to=...``)."""
    return _QueryParam(name)


def json_field(name: str) -> Extractor:
    """The target's id is the top-level field ``name`` of the JSON body (a string or
    an integer). Adapters read the body only for routes declared with it."""
    return _JsonField(name)


# ------------------------------------------------------------------ declarations

_ACTION_ATTR: Final = "__childsafe_action__"

# Actions decided on the actor alone; every other action needs a target account.
_NO_TARGET: Final = frozenset(
    {"live.start", "purchase", "feed.personalise", "data.share", "content.show"}
)


@attrs.frozen
class ActionRule:
    """What a route does: the action to check and where to find its target.

    Checked when declared: the action must be known, actions about another account
    need a ``target`` extractor, and ``content.show`` needs a ``sensitivity`` (one of
    :data:`~childsafe.SENSITIVITY_LEVELS`), which no other action takes.
    """

    action: str = attrs.field()
    target: Extractor | None = None
    sensitivity: str | None = None
    needs_body: bool = attrs.field(init=False, default=False, eq=False, repr=False)
    """Whether the target is read from the request body (adapters then read it)."""

    @action.validator
    def _known(self, _: attrs.Attribute[str], value: str) -> None:
        if value not in ACTIONS:
            raise ConfigurationError(
                [
                    ConfigProblem(
                        "<routes>",
                        "action",
                        f"unknown action {value!r}{suggest(value, ACTIONS)}; known: "
                        f"{', '.join(ACTIONS)}",
                    )
                ]
            )

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        target: object = self.target
        if target is not None and not callable(target):
            problems.append(
                f"target must be an extractor such as path_param('user_id'), got {self.target!r}"
            )
        if self.target is None and self.action not in _NO_TARGET:
            problems.append(
                f"{self.action} is about another account: declare where its id is, "
                "e.g. target=path_param('user_id')"
            )
        if self.action == "content.show":
            if self.sensitivity not in SENSITIVITY_LEVELS:
                problems.append(
                    "content.show needs sensitivity= one of "
                    f"{', '.join(SENSITIVITY_LEVELS)}, got {self.sensitivity!r}"
                )
        elif self.sensitivity is not None:
            problems.append(f"sensitivity only applies to content.show, not {self.action}")
        if problems:
            raise ConfigurationError(
                ConfigProblem("<routes>", self.action, message) for message in problems
            )
        # Worked out once: adapters read it on every request.
        object.__setattr__(self, "needs_body", bool(getattr(target, "needs_body", False)))


F = TypeVar("F", bound=Callable[..., Any])


def action(
    name: str, *, target: Extractor | None = None, sensitivity: str | None = None
) -> Callable[[F], F]:
    """Declare what a view does, so the adapter checks it before the view runs.

    >>> from childsafe import action, path_param
    >>> @action("dm.send", target=path_param("user_id"))
    ... def send_message(user_id: str) -> str:
    ...     return "sent"

    Works for Flask and Django views and Starlette endpoints alike (Starlette through
    ``childsafe.contrib.starlette.install(app)``; FastAPI endpoints use
    ``Depends(require(...))`` instead): the adapter reads the declaration. A
    mistake (an unknown action, a missing target) raises
    :class:`~childsafe.exceptions.ConfigurationError` at import time.
    """
    rule = ActionRule(name, target, sensitivity)

    def decorate(view: F) -> F:
        setattr(view, _ACTION_ATTR, rule)
        return view

    return decorate


def declared_rule(view: object) -> ActionRule | None:
    """The :class:`ActionRule` a view was declared with, if any."""
    rule = getattr(view, _ACTION_ATTR, None)
    return rule if isinstance(rule, ActionRule) else None


_ROUTE_KEY: Final = re.compile(r"\s*([^\s,/]+(?:\s*,\s*[^\s,/]+)*)\s+(.*?)\s*")
_PLACEHOLDER: Final = re.compile(r"\{([^{}]*)\}")
_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CONVERTERS: Final = {"str": "[^/]+", "int": "[0-9]+", "path": ".+"}
_METHODS: Final = (
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "PATCH",
    "DELETE",
    "OPTIONS",
    "TRACE",
    "CONNECT",
    "WEBSOCKET",
)


@attrs.frozen
class _Route:
    methods: frozenset[str]
    pattern: re.Pattern[str]
    rule: ActionRule


def _compile_path(path: str) -> tuple[re.Pattern[str] | None, list[str]]:
    """The regex for a route path template, or ``None`` and what is wrong with it."""
    problems: list[str] = []
    names: set[str] = set()
    template = path.rstrip("/") or "/"
    parts: list[str] = []
    end = 0
    for m in _PLACEHOLDER.finditer(template):
        parts.append(re.escape(template[end : m.start()]))
        end = m.end()
        name, _, converter = m.group(1).partition(":")
        if not _IDENTIFIER.fullmatch(name):
            problems.append(f"{{{m.group(1)}}}: a parameter name must be an identifier")
        elif name in names:
            problems.append(f"{{{name}}} appears twice")
        names.add(name)
        regex = _CONVERTERS.get(converter or "str")
        if regex is None:
            problems.append(
                f"{{{m.group(1)}}}: unknown converter {converter!r}; "
                f"use one of {', '.join(_CONVERTERS)}"
            )
        parts.append(f"(?P<{name}>{regex})")
    parts.append(re.escape(template[end:]))
    if any("{" in lit or "}" in lit for lit in _PLACEHOLDER.split(template)[::2]):
        problems.append("unbalanced '{' or '}'")
    if problems:
        return None, problems
    suffix = "" if template == "/" else "/?"
    return re.compile("".join(parts) + suffix), []


class RouteTable:
    """Declarations for apps that prefer not to touch their views.

    >>> from childsafe import RouteTable, action_rule, path_param
    >>> routes = RouteTable({
    ...     "POST /users/{user_id}/messages": action_rule("dm.send", target=path_param("user_id")),
    ... })
    >>> rule, params = routes.match("POST", "/users/42/messages")
    >>> rule.action, params
    ('dm.send', {'user_id': '42'})

    Keys are ``"METHOD /path/{param}"``: several methods as ``"GET,POST /..."``,
    ``"* /..."`` for any method (websockets included), ``"WEBSOCKET /..."`` for a
    websocket route. ``GET`` also covers ``HEAD``. A parameter matches one path segment;
    ``{name:int}`` only digits and ``{name:path}`` the rest of the path, slashes
    included. A trailing slash is optional, so ``/users/42/`` matches
    ``/users/{id}``. The first matching entry wins. Every mistake in the table is
    reported at once as a :class:`~childsafe.exceptions.ConfigurationError`.
    """

    def __init__(self, routes: Mapping[str, ActionRule] | None = None) -> None:
        problems: list[ConfigProblem] = []
        self._routes: list[_Route] = []
        entries: list[tuple[object, object]] = list((routes or {}).items())
        for key, rule in entries:
            if not isinstance(key, str):
                problems.append(
                    ConfigProblem("<routes>", repr(key), "a key must be 'METHOD /path'")
                )
                continue
            split = _ROUTE_KEY.fullmatch(key)
            method_part, path = split.groups() if split else ("", key.strip())
            messages: list[str] = []
            if not isinstance(rule, ActionRule):
                messages.append(f"expected action_rule(...), got {rule!r}")
            if not path.startswith("/"):
                messages.append("expected 'METHOD /path/{param}' (a method, a space, a path)")
            methods = {m.strip().upper() for m in method_part.split(",") if m.strip()}
            if not methods:
                messages.append("no method given")
            messages.extend(
                f"unknown method {method!r}{suggest(method, _METHODS)}"
                for method in sorted(methods - {"*", *_METHODS})
            )
            pattern, path_problems = _compile_path(path) if path.startswith("/") else (None, [])
            messages.extend(path_problems)
            if messages or pattern is None or not isinstance(rule, ActionRule):
                problems.extend(ConfigProblem("<routes>", key, message) for message in messages)
                continue
            if "*" in methods:
                methods = set()
            elif "GET" in methods:
                methods.add("HEAD")
            self._routes.append(_Route(frozenset(methods), pattern, rule))
        if problems:
            raise ConfigurationError(problems)
        # What match() walks: no attribute lookups per route and request.
        self._match = tuple((r.methods, r.pattern.fullmatch, r.rule) for r in self._routes)

    def __len__(self) -> int:
        return len(self._routes)

    def match(
        self, method: str, path: str
    ) -> tuple[ActionRule, dict[str, str]] | tuple[None, None]:
        """The rule for a request and its path parameters, or ``(None, None)``."""
        if not method.isupper():
            method = method.upper()
        for methods, fullmatch, rule in self._match:
            if methods and method not in methods:
                continue
            m = fullmatch(path)
            if m is not None:
                return rule, m.groupdict()
        return None, None

    def __iter__(self) -> Iterator[ActionRule]:
        return (r.rule for r in self._routes)


def action_rule(
    name: str, *, target: Extractor | None = None, sensitivity: str | None = None
) -> ActionRule:
    """An :class:`ActionRule` for a :class:`RouteTable` entry."""
    return ActionRule(name, target, sensitivity)


# -------------------------------------------------------------------- resolving


@attrs.frozen
class Resolution:
    """How the request's account was found: ``source`` is the resolver's name,
    ``"anonymous"`` (no resolver applied) or ``"error"`` (a resolver raised or returned
    something that is not an account: the request is treated as the protective
    unknown-age account)."""

    account: Account
    source: str
    error: str | None = None


# One shared protective account: frozen, so every request may hold the same one.
_ANONYMOUS: Final = Account(id=ANONYMOUS_ID, band=AgeBand.UNKNOWN)

# What a resolver chain found: the account, the resolver's name (or "anonymous" /
# "error") and what went wrong. A tuple, so a request does not build a Resolution
# unless someone reads RequestContext.resolution.
_Found = tuple[Account, str, "str | None"]


def _name(obj: object) -> str:
    return str(getattr(obj, "__name__", None) or type(obj).__name__)


def _not_an_account(result: object, name: str) -> _Found:
    log.warning(
        "childsafe: resolver %s returned a %s, not an Account; failing closed",
        name,
        type(result).__name__,
    )
    return _ANONYMOUS, "error", f"resolver {name} returned {type(result).__name__}"


def _raised(name: str, exc: BaseException) -> _Found:
    log.warning("childsafe: resolver %s raised %r; failing closed", name, exc)
    return _ANONYMOUS, "error", f"resolver {name} raised {type(exc).__name__}: {exc}"


_NOTHING_FOUND: Final[_Found] = (_ANONYMOUS, "anonymous", None)


class ResolverChain:
    """Resolvers in order, with their names looked up once (adapters build one at
    start-up). :meth:`run` and :meth:`run_async` are :func:`resolve` and
    :func:`resolve_async`, returning ``(account, source, error)``."""

    __slots__ = ("_entries",)

    def __init__(self, resolvers: Iterable[Resolver]) -> None:
        self._entries: tuple[tuple[Resolver, str], ...] = tuple((r, _name(r)) for r in resolvers)

    def run(self, request: Request) -> _Found:
        """The sync path: an async resolver (one returning an awaitable) fails closed."""
        for resolver, name in self._entries:
            try:
                result: object = resolver(request)
            except Exception as e:  # noqa: BLE001 - any failure must fail closed
                return _raised(name, e)
            if result is None:
                continue
            if isinstance(result, Account):
                return result, name, None
            if inspect.isawaitable(result):
                _close_awaitable(result)
                return _raised(name, TypeError("an async resolver needs the ASGI adapter"))
            return _not_an_account(result, name)
        return _NOTHING_FOUND

    async def run_async(self, request: Request) -> _Found:
        """The async path: resolvers may be sync or async."""
        found = self.run_eager(request)
        return found if isinstance(found, tuple) else await found

    def run_eager(self, request: Request) -> _Found | Coroutine[Any, Any, _Found]:
        """:meth:`run_async` without a coroutine while every resolver answers at once:
        the result itself, or, from the first resolver that returns an awaitable, a
        coroutine that awaits it and runs the rest of the chain."""
        for index, (resolver, name) in enumerate(self._entries):
            try:
                result: object = resolver(request)
            except Exception as e:  # noqa: BLE001 - any failure must fail closed
                return _raised(name, e)
            if result is None:
                continue
            if isinstance(result, Account):
                return result, name, None
            if inspect.isawaitable(result):
                return self._run_awaiting(request, index, result)
            return _not_an_account(result, name)
        return _NOTHING_FOUND

    async def _run_awaiting(
        self, request: Request, index: int, pending: Awaitable[object]
    ) -> _Found:
        """The rest of :meth:`run_eager` from resolver ``index``, which returned
        ``pending``."""
        entries = self._entries
        for position in range(index, len(entries)):
            resolver, name = entries[position]
            try:
                if position == index:
                    result: object = await pending
                else:
                    result = resolver(request)
                    if inspect.isawaitable(result):
                        result = await result
            except Exception as e:  # noqa: BLE001 - any failure must fail closed
                return _raised(name, e)
            if result is None:
                continue
            if isinstance(result, Account):
                return result, name, None
            return _not_an_account(result, name)
        return _NOTHING_FOUND

    def context(
        self,
        guard: Guard,
        request: Request,
        repository: AccountRepository | AsyncAccountRepository | None,
    ) -> RequestContext:
        """The :class:`RequestContext` of ``request`` (sync resolvers)."""
        return RequestContext._found(guard, self.run(request), repository)  # noqa: SLF001

    def context_eager(
        self,
        guard: Guard,
        request: Request,
        repository: AccountRepository | AsyncAccountRepository | None,
    ) -> RequestContext | Coroutine[Any, Any, RequestContext]:
        """The :class:`RequestContext` of ``request`` (sync or async resolvers): the
        context itself while every resolver answers at once, else a coroutine to await
        for it (what the ASGI middleware calls)."""
        found = self.run_eager(request)
        if isinstance(found, tuple):
            return RequestContext._found(guard, found, repository)  # noqa: SLF001
        return self._context_awaiting(guard, found, repository)

    @staticmethod
    async def _context_awaiting(
        guard: Guard,
        pending: Awaitable[_Found],
        repository: AccountRepository | AsyncAccountRepository | None,
    ) -> RequestContext:
        return RequestContext._found(guard, await pending, repository)  # noqa: SLF001


def resolve(resolvers: Sequence[Resolver], request: Request) -> Resolution:
    """Run the resolvers in order; the first that returns an account wins.

    A resolver that raises, returns something other than an account or ``None``, or is
    async (this is the sync path) makes the request fail closed: the protective
    unknown-age account, with ``source="error"``.
    """
    return Resolution(*ResolverChain(resolvers).run(request))


async def resolve_async(resolvers: Sequence[Resolver], request: Request) -> Resolution:
    """:func:`resolve` for ASGI apps: resolvers may be sync or async."""
    return Resolution(*await ResolverChain(resolvers).run_async(request))


Verifier = Callable[[str], "Account | Awaitable[Account | None] | None"]
"""Turns a token into an account (``None``: not accepted); may be async under ASGI."""


@attrs.frozen
class _BearerToken:
    verify: Verifier
    header: str | None
    cookie: str | None
    __name__: str = "bearer_token"

    def __call__(self, request: Request) -> Account | Awaitable[Account | None] | None:
        if self.header:
            value = request.header(self.header)
            if value:
                scheme, _, credentials = value.strip().partition(" ")
                if credentials and scheme.lower() == "bearer":
                    # Not blank: `value` was stripped, so it ends in the token.
                    return self.verify(credentials.strip())
        if self.cookie:
            cookie = request.cookie(self.cookie)
            if cookie:
                return self.verify(cookie)
        return None


def bearer_token(
    verify: Verifier,
    *,
    header: str | None = "authorization",
    cookie: str | None = None,
) -> Resolver:
    """A resolver reading an age-band token from ``Authorization: Bearer ...`` (or the
    ``cookie`` named, when the header has no bearer token). ``verify`` turns the token
    into an account, or ``None`` for a token it does not accept; if it raises, the
    request fails closed. ``verify`` may be a coroutine function under ASGI."""
    return _BearerToken(verify, header, cookie)


# -------------------------------------------------------------------- denials


@attrs.frozen
class DenialResponse:
    """A framework-neutral HTTP response (status, headers, body)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


_TITLES: Final = {
    Reason.BLOCKED: "Blocked",
    Reason.UNVERIFIABLE: "Could not be checked",
}


def problem_details(decision: Decision) -> dict[str, Any]:
    """An RFC 9457 problem document for a denial.

    It carries the reason code, the action and the deciding setting's *name*, and never
    the target's band, settings values, id or anything else about them. A ``remedy``
    is included only when the decision was about the requester's own account.
    """
    title = _TITLES.get(decision.reason, "Not allowed by child-safety settings")
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + decision.reason.value,
        "title": title,
        "status": 403,
        "detail": _PUBLIC_DETAIL.get(decision.reason, "This action is not allowed."),
        "reason": decision.reason.value,
        "action": decision.action,
    }
    if decision.setting is not None:
        body["setting"] = decision.setting
    if decision.subject == "actor" and decision.remedy:
        # About the requester's own account: safe, and useful, to say what would help.
        body["remedy"] = decision.remedy
    return body


_PUBLIC_DETAIL: Final = {
    Reason.BLOCKED: "One of the accounts has blocked the other.",
    Reason.SETTING_OFF: "The account's settings do not allow this.",
    Reason.NOT_CONNECTED: "Only the account's connections can do this.",
    Reason.NO_MUTUAL_CONNECTION: "Only accounts with a mutual connection can do this.",
    Reason.NOT_INVITED: "This account can only be added with its invite.",
    Reason.APPROVAL_REQUIRED: "The account holder approves each invite.",
    Reason.PARENT_APPROVAL_REQUIRED: "A parent needs to approve this.",
    Reason.QUIET_HOURS: "The account is in its quiet hours.",
    Reason.CONTENT_TOO_SENSITIVE: "This content is not shown to this account.",
    Reason.ADULT_ONLY: "This content is for adults only.",
    Reason.UNVERIFIABLE: "The accounts could not be checked, so this is not allowed.",
}


def problem_response(decision: Decision, request: Request | None = None) -> DenialResponse:
    """The default denial: ``403`` with an ``application/problem+json`` body."""
    del request
    body = json.dumps(problem_details(decision), separators=(",", ":")).encode()
    return DenialResponse(
        403,
        (
            ("content-type", "application/problem+json"),
            ("content-length", str(len(body))),
            ("cache-control", "no-store"),
        ),
        body,
    )


DenialRenderer = Callable[[Decision, Request], DenialResponse]
"""Turns a denial into the response the app wants (an HTML page for browsers...)."""


def check_middleware_options(
    *,
    guard: object,
    resolvers: object,
    repository: object,
    routes: object,
    response_filter: object,
    renderer: object,
    max_body: object,
) -> list[ConfigProblem]:
    """Every problem with a middleware's options (shared by the WSGI and ASGI middlewares)."""
    where = "ChildsafeMiddleware"
    problems = []
    if not isinstance(guard, Guard):
        problems.append(ConfigProblem(where, "guard", f"expected a Guard, got {guard!r}"))
    if (
        isinstance(resolvers, str | bytes)
        or not isinstance(resolvers, Iterable)
        or not all(callable(r) for r in resolvers)
    ):
        problems.append(
            ConfigProblem(
                where, "resolvers", f"expected a sequence of callables, got {resolvers!r}"
            )
        )
    if routes is not None and not isinstance(routes, RouteTable):
        problems.append(ConfigProblem(where, "routes", f"expected a RouteTable, got {routes!r}"))
    if response_filter is not None and not isinstance(response_filter, ResponseFilter):
        problems.append(
            ConfigProblem(
                where, "response_filter", f"expected a ResponseFilter, got {response_filter!r}"
            )
        )
    needs_repository = (isinstance(routes, RouteTable) and len(routes) > 0) or (
        response_filter is not None
    )
    if needs_repository and repository is None:
        problems.append(
            ConfigProblem(
                where,
                "repository",
                "routes and response filters need an AccountRepository to load target accounts",
            )
        )
    if not callable(renderer):
        problems.append(ConfigProblem(where, "renderer", f"expected a callable, got {renderer!r}"))
    problems.extend(max_body_problems(where, max_body))
    return problems


def max_body_problems(where: str, max_body: object) -> list[ConfigProblem]:
    """The problem with a ``max_body`` option (a size in bytes), if any."""
    if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 0:
        return [ConfigProblem(where, "max_body", f"expected a size in bytes, got {max_body!r}")]
    return []


def render_denial(renderer: DenialRenderer, decision: Decision, request: Request) -> DenialResponse:
    """``renderer(decision, request)``, or the default problem response when the app's
    renderer raises or returns something that cannot be sent (the request stays denied
    either way)."""
    try:
        response: object = renderer(decision, request)
        if not isinstance(response, DenialResponse):
            raise TypeError(f"returned a {type(response).__name__}, not a DenialResponse")  # noqa: TRY301
        body: object = response.body
        if not isinstance(body, bytes) or not 100 <= response.status <= 999:
            raise TypeError("a DenialResponse needs a bytes body and a 3-digit status")  # noqa: TRY301
        for name, value in response.headers:
            name.encode("latin-1")
            value.encode("latin-1")
    except Exception as e:  # noqa: BLE001 - the denial must be sent whatever the renderer did
        log.error(  # noqa: TRY400 - the renderer's failure is reported, not re-raised
            "childsafe: denial renderer %s failed (%r); sending problem+json", _name(renderer), e
        )
        return problem_response(decision)
    return response


def unverifiable(action_name: str) -> Decision:
    """The decision used when the accounts behind a request cannot be loaded."""
    return Decision(
        allowed=False,
        action=action_name,
        reason=Reason.UNVERIFIABLE,
        message=f"{action_name} denied: the accounts could not be loaded to check it.",
    )


def withheld_response() -> DenialResponse:
    """``500`` problem+json: a JSON response that needed filtering could not be read
    (an unknown content coding, a body that is not JSON), so it is not sent."""
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "Response withheld",
            "status": 500,
            "detail": "The response could not be checked against child-safety settings, "
            "so it was not sent.",
        },
        separators=(",", ":"),
    ).encode()
    return DenialResponse(
        500,
        (
            ("content-type", "application/problem+json"),
            ("content-length", str(len(body))),
            ("cache-control", "no-store"),
        ),
        body,
    )


# ------------------------------------------------------------------- context


def _loaded_account(value: object, account_id: str) -> Account:
    if value is None:
        raise LookupError(f"no account {account_id!r}")
    if not isinstance(value, Account):
        raise TypeError(f"get_account returned a {type(value).__name__}, not an Account")
    return value


def _loaded_relationship(value: object) -> Relationship | None:
    if value is None or isinstance(value, Relationship):
        return value
    raise TypeError(f"relationship returned a {type(value).__name__}, not a Relationship")


_NEEDS_ASYNC: Final = "an async repository needs check_async (the ASGI adapter)"


def _sync_account(value: object, account_id: str) -> Account:
    """``get_account``'s result on the sync path: an awaitable fails closed."""
    if inspect.isawaitable(value):
        _close_awaitable(value)
        raise TypeError(_NEEDS_ASYNC)
    return _loaded_account(value, account_id)


def _sync_relationship(value: object) -> Relationship | None:
    """``relationship``'s result on the sync path: an awaitable fails closed."""
    if inspect.isawaitable(value):
        _close_awaitable(value)
        raise TypeError(_NEEDS_ASYNC)
    return _loaded_relationship(value)


def _rule_options(rule: ActionRule) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if rule.sensitivity is not None:
        options["sensitivity"] = rule.sensitivity
    if rule.action == "notify":
        options["at"] = dt.datetime.now(dt.UTC)
    return options


class RequestContext:
    """Everything childsafe knows about the current request.

    ``account`` is the resolved account (the protective unknown-age account when none
    could be resolved); ``settings`` its effective settings; ``decisions`` the
    decisions made while handling the request, in order.
    """

    __slots__ = (
        "_error",
        "_resolution",
        "_settings",
        "_source",
        "account",
        "decisions",
        "guard",
        "repository",
    )

    def __init__(
        self,
        guard: Guard,
        resolution: Resolution,
        repository: AccountRepository | AsyncAccountRepository | None = None,
    ) -> None:
        self.guard = guard
        self.account = resolution.account
        self.repository = repository
        self.decisions: list[Decision] = []
        self._resolution: Resolution | None = resolution
        self._source = resolution.source
        self._error = resolution.error
        self._settings: Settings | None = None

    @classmethod
    def _found(
        cls,
        guard: Guard,
        found: _Found,
        repository: AccountRepository | AsyncAccountRepository | None,
    ) -> RequestContext:
        """What adapters build per request: the :class:`Resolution` only when read."""
        self = cls.__new__(cls)
        self.guard = guard
        self.account, self._source, self._error = found
        self.repository = repository
        self.decisions = []
        self._resolution = None
        self._settings = None
        return self

    @property
    def resolution(self) -> Resolution:
        """How the account was found (:class:`Resolution`)."""
        resolution = self._resolution
        if resolution is None:
            resolution = self._resolution = Resolution(self.account, self._source, self._error)
        return resolution

    @property
    def settings(self) -> Settings:
        """The account's effective settings (computed on first use)."""
        if self._settings is None:
            self._settings = self.guard.settings_for(self.account)
        return self._settings

    @property
    def is_minor(self) -> bool:
        """Whether the account is treated as a minor (unknown ages are)."""
        return self.account.band.is_minor

    @property
    def supervision(self) -> Supervision:
        """Who supervises the account (guardians, parent locks, verified consents), so
        the UI can show the child an obvious sign (ICO Children's code standard 11)."""
        return self.account.supervision

    def decide(
        self,
        action_name: str,
        target: Account | None = None,
        relationship: Relationship | None = None,
        **options: Any,  # noqa: ANN401 - Guard.check's keywords, passed on as they are
    ) -> Decision:
        """``Guard.check`` with this request's account as the actor; remembered."""
        decision = self.guard.check(
            action_name, actor=self.account, target=target, relationship=relationship, **options
        )
        self.decisions.append(decision)
        return decision

    def _unverifiable(self, action_name: str, why: object) -> Decision:
        log.warning("childsafe: could not check %s: %r; failing closed", action_name, why)
        decision = unverifiable(action_name)
        self.decisions.append(decision)
        return decision

    def _load(self, target: Account | str) -> tuple[Account, Relationship | None]:
        repo = self.repository
        if isinstance(target, str):
            if repo is None:
                raise LookupError("no AccountRepository configured")
            loaded: object = repo.get_account(target)
            target = loaded if isinstance(loaded, Account) else _sync_account(loaded, target)
        if repo is None:
            return target, None
        rel: object = repo.relationship(self.account, target)
        if rel is None or isinstance(rel, Relationship):
            return target, rel
        return target, _sync_relationship(rel)

    async def _load_async(self, target: Account | str) -> tuple[Account, Relationship | None]:
        repo = self.repository
        if isinstance(target, str):
            if repo is None:
                raise LookupError("no AccountRepository configured")
            loaded: object = repo.get_account(target)
            if not isinstance(loaded, Account):
                if inspect.isawaitable(loaded):
                    loaded = await loaded
                loaded = _loaded_account(loaded, target)
            target = loaded
        if repo is None:
            return target, None
        rel: object = repo.relationship(self.account, target)
        if rel is None or isinstance(rel, Relationship):
            return target, rel
        if inspect.isawaitable(rel):
            rel = await rel
        return target, _loaded_relationship(rel)

    def check(
        self,
        action_name: str,
        target: Account | str | None = None,
        **options: Any,  # noqa: ANN401 - Guard.check's keywords, passed on as they are
    ) -> Decision:
        """Decide ``action_name`` against ``target`` (an account or its id), loading the
        account and the relationship through the sync repository. A target that cannot
        be loaded (unknown id, a repository that raises or is async) is denied as
        ``unverifiable`` (fail closed)."""
        if target is None:
            return self.decide(action_name, **options)
        try:
            loaded, rel = self._load(target)
        except Exception as e:  # noqa: BLE001 - fail closed
            return self._unverifiable(action_name, e)
        return self.decide(action_name, loaded, rel, **options)

    async def check_async(
        self,
        action_name: str,
        target: Account | str | None = None,
        **options: Any,  # noqa: ANN401 - Guard.check's keywords, passed on as they are
    ) -> Decision:
        """:meth:`check` for async (or sync) repositories."""
        if target is None:
            return self.decide(action_name, **options)
        try:
            loaded, rel = await self._load_async(target)
        except Exception as e:  # noqa: BLE001 - fail closed
            return self._unverifiable(action_name, e)
        return self.decide(action_name, loaded, rel, **options)

    def check_rule(self, rule: ActionRule, request: Request) -> Decision:
        """Decide a declared :class:`ActionRule` for ``request``. A target that cannot be
        found, or any failure on the way, is denied as ``unverifiable`` (an async
        repository too: use :meth:`check_rule_async`)."""
        return self._rule(rule, request, eager=False)

    async def check_rule_async(self, rule: ActionRule, request: Request) -> Decision:
        """:meth:`check_rule` for async (or sync) repositories."""
        decision = self._rule(rule, request, eager=True)
        return decision if isinstance(decision, Decision) else await decision

    def check_rule_eager(
        self, rule: ActionRule, request: Request
    ) -> Decision | Coroutine[Any, Any, Decision]:
        """:meth:`check_rule_async` without a coroutine while the repository answers at
        once: the decision itself for a sync repository, else a coroutine to await for
        it. What the ASGI adapters call."""
        return self._rule(rule, request, eager=True)

    @overload
    def _rule(self, rule: ActionRule, request: Request, *, eager: Literal[False]) -> Decision: ...

    @overload
    def _rule(
        self, rule: ActionRule, request: Request, *, eager: bool
    ) -> Decision | Coroutine[Any, Any, Decision]: ...

    def _rule(
        self, rule: ActionRule, request: Request, *, eager: bool
    ) -> Decision | Coroutine[Any, Any, Decision]:
        """The rule check, synchronously until the repository returns an awaitable:
        then a coroutine finishing it (``eager``) or, on the sync path, a denial."""
        action_name = rule.action
        extractor = rule.target
        try:
            if extractor is None:
                decision = self.guard.check(action_name, self.account, **_rule_options(rule))
            else:
                # The id the extractor finds; one that fails finds nothing.
                try:
                    found: object = extractor(request)
                except Exception as e:  # noqa: BLE001
                    log.warning("childsafe: the target extractor for %s raised %r", action_name, e)
                    found = None
                if type(found) is str:
                    target = found or None
                else:
                    target = str(found) if _is_id(found) and found != "" else None
                if target is None:
                    return self._unverifiable(action_name, "no target id in the request")
                repo = self.repository
                if repo is None:
                    raise LookupError("no AccountRepository configured")  # noqa: TRY301
                loaded: object = repo.get_account(target)
                if not isinstance(loaded, Account):
                    if eager and inspect.isawaitable(loaded):
                        return self._rule_awaiting(rule, repo, target, loaded)
                    loaded = _sync_account(loaded, target)
                rel: object = repo.relationship(self.account, loaded)
                if rel is not None and not isinstance(rel, Relationship):
                    if eager and inspect.isawaitable(rel):
                        return self._rule_awaiting(rule, repo, loaded, rel)
                    rel = _sync_relationship(rel)
                if rule.sensitivity is None and action_name != "notify":
                    decision = self.guard.check(action_name, self.account, loaded, rel)
                else:
                    decision = self._rule_decision(rule, loaded, rel)
        except Exception as e:  # noqa: BLE001 - a declared check never becomes a 500
            return self._unverifiable(action_name, e)
        self.decisions.append(decision)
        return decision

    async def _rule_awaiting(
        self,
        rule: ActionRule,
        repo: AccountRepository | AsyncAccountRepository,
        target: Account | str,
        pending: Awaitable[object],
    ) -> Decision:
        """The rest of :meth:`_rule` once the repository returned ``pending``: the
        target's account (``target`` is its id) or the relationship (``target`` is the
        loaded account)."""
        try:
            if isinstance(target, str):
                loaded = _loaded_account(await pending, target)
                rel: object = repo.relationship(self.account, loaded)
                if inspect.isawaitable(rel):
                    rel = await rel
            else:
                loaded, rel = target, await pending
            decision = self._rule_decision(rule, loaded, _loaded_relationship(rel))
        except Exception as e:  # noqa: BLE001 - a declared check never becomes a 500
            return self._unverifiable(rule.action, e)
        self.decisions.append(decision)
        return decision

    def _rule_decision(
        self, rule: ActionRule, target: Account, relationship: Relationship | None
    ) -> Decision:
        if rule.sensitivity is None and rule.action != "notify":
            return self.guard.check(rule.action, self.account, target, relationship)
        return self.guard.check(
            rule.action, self.account, target, relationship, **_rule_options(rule)
        )

    def _decide_loaded(
        self, actions: Iterable[str], account_id: str, loaded: tuple[Account, Relationship | None]
    ) -> dict[tuple[str, str], bool]:
        out: dict[tuple[str, str], bool] = {}
        for action_name in actions:
            try:
                out[action_name, account_id] = self.decide(action_name, *loaded).allowed
            except Exception as e:  # noqa: BLE001 - fail closed
                out[action_name, account_id] = self._unverifiable(action_name, e).allowed
        return out

    def decide_many(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], bool]:
        """Decide many ``(action, account id)`` pairs (what a :class:`ResponseFilter`
        needs), loading each account once through the sync repository. Pairs whose
        account cannot be loaded are denied."""
        out: dict[tuple[str, str], bool] = {}
        for account_id, actions in _by_account(pairs).items():
            try:
                loaded = self._load(account_id)
            except Exception as e:  # noqa: BLE001 - fail closed
                out.update({(a, account_id): self._unverifiable(a, e).allowed for a in actions})
                continue
            out.update(self._decide_loaded(actions, account_id, loaded))
        return out

    async def decide_many_async(
        self, pairs: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], bool]:
        """:meth:`decide_many` for async (or sync) repositories."""
        out: dict[tuple[str, str], bool] = {}
        for account_id, actions in _by_account(pairs).items():
            try:
                loaded = await self._load_async(account_id)
            except Exception as e:  # noqa: BLE001 - fail closed
                out.update({(a, account_id): self._unverifiable(a, e).allowed for a in actions})
                continue
            out.update(self._decide_loaded(actions, account_id, loaded))
        return out


def _by_account(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for action_name, account_id in sorted(pairs):
        grouped.setdefault(account_id, []).append(action_name)
    return grouped


# ------------------------------------------------------------ response filters


def _field_names(value: str | Iterable[str]) -> tuple[str, ...]:
    names: tuple[object, ...] = (value,) if isinstance(value, str) else tuple(value)
    if not all(isinstance(n, str) and n for n in names):
        raise ConfigurationError(
            [ConfigProblem("ResponseFilter", "fields", f"expected field names, got {value!r}")]
        )
    return tuple(str(n) for n in names)


def _field_name(value: str) -> str:
    name: object = value
    if not isinstance(name, str) or not name:
        raise ConfigurationError(
            [ConfigProblem("ResponseFilter", "id_field", f"expected a field name, got {value!r}")]
        )
    return value


Allowed = Callable[[str, str], bool]


@attrs.frozen
class ResponseFilter:
    """Removes what a child's settings keep from the viewer, in JSON responses.

    Any JSON object with an ``id_field`` (a string or an integer) is taken to be an
    account, and owns the objects nested in it that have no id of their own:

    * ``location_fields``: removed from an account object, and from the id-less
      objects it owns, unless the viewer may ``location.view`` that account;
    * ``suggestion_lists``: lists under these keys are friend suggestions: accounts the
      viewer may not ``friend.suggest`` are dropped;
    * ``connection_lists``: lists under these keys are someone's connections: accounts
      that keep themselves out of lists others see (``connections.view``) are dropped,
      except from the viewer's own list (one owned by the viewer's account).

    Entries of these lists are account objects or bare ids (strings or integers); an
    entry whose account cannot be told is dropped. Each option takes one name or a
    sequence of names.

    The filter is sans-I/O: :meth:`needed` lists the ``(action, account id)`` decisions
    it needs, and :meth:`apply` takes them.

    >>> from childsafe import ResponseFilter
    >>> body = {"id": "kid", "location": "Leeds", "friends": ["adult", "kid2"]}
    >>> hidden = {("location.view", "kid"), ("connections.view", "kid2")}
    >>> ResponseFilter().apply(body, lambda action, who: (action, who) not in hidden)
    {'id': 'kid', 'friends': ['adult']}
    """

    id_field: str = attrs.field(default="id", converter=_field_name)
    location_fields: tuple[str, ...] = attrs.field(
        default=("location", "latitude", "longitude", "lat", "lng", "geo"),
        converter=_field_names,
    )
    suggestion_lists: tuple[str, ...] = attrs.field(
        default=("suggestions", "suggested"), converter=_field_names
    )
    connection_lists: tuple[str, ...] = attrs.field(
        default=("connections", "friends", "followers", "following"), converter=_field_names
    )

    def needed(self, body: object, *, viewer: str | None = None) -> set[tuple[str, str]]:
        """The ``(action, account id)`` decisions :meth:`apply` will ask for."""
        pairs: set[tuple[str, str]] = set()

        def record(action_name: str, account_id: str) -> bool:
            pairs.add((action_name, account_id))
            return True

        self._filter(body, None, None, record, viewer)
        return pairs

    def apply(self, body: object, allowed: Allowed, *, viewer: str | None = None) -> object:
        """A copy of ``body`` with what ``allowed(action, account_id)`` denies removed.

        ``viewer`` is the id of the account the response is for: its own connection
        lists are left whole.
        """
        return self._filter(body, None, None, allowed, viewer)

    def _list_action(self, key: str | None, owner: str | None, viewer: str | None) -> str | None:
        if key in self.suggestion_lists:
            return "friend.suggest"
        if key in self.connection_lists and (owner is None or owner != viewer):
            return "connections.view"
        return None

    def _entry_id(self, item: object) -> str | None:
        ident = item.get(self.id_field) if isinstance(item, dict) else item
        return str(ident) if _is_id(ident) else None

    def _filter(
        self,
        node: object,
        key: str | None,
        owner: str | None,
        allowed: Allowed,
        viewer: str | None,
    ) -> object:
        if isinstance(node, dict):
            ident = node.get(self.id_field)
            if _is_id(ident):
                owner = str(ident)
            hide = (
                owner is not None
                and any(f in node for f in self.location_fields)
                and not allowed("location.view", owner)
            )
            return {
                k: self._filter(v, k, owner, allowed, viewer)
                for k, v in node.items()
                if not (hide and k in self.location_fields)
            }
        if isinstance(node, list):
            list_action = self._list_action(key, owner, viewer)
            kept = []
            for item in node:
                if list_action is not None:
                    entry = self._entry_id(item)
                    if entry is None or not allowed(list_action, entry):
                        continue
                kept.append(self._filter(item, key, owner, allowed, viewer))
            return kept
        return node


def filter_json(context: RequestContext, response_filter: ResponseFilter, body: object) -> object:
    """Apply ``response_filter`` to ``body`` for the request's account (sync repository).

    Returns ``body`` itself when nothing in it needs a decision. Accounts that cannot
    be loaded are treated as denied (fail closed).
    """
    viewer = context.account.id
    needed = response_filter.needed(body, viewer=viewer)
    if not needed:
        return body
    decided = context.decide_many(needed)
    return response_filter.apply(body, lambda a, i: decided.get((a, i), False), viewer=viewer)


async def filter_json_async(
    context: RequestContext, response_filter: ResponseFilter, body: object
) -> object:
    """:func:`filter_json` for async repositories."""
    viewer = context.account.id
    needed = response_filter.needed(body, viewer=viewer)
    if not needed:
        return body
    decided = await context.decide_many_async(needed)
    return response_filter.apply(body, lambda a, i: decided.get((a, i), False), viewer=viewer)


def is_json(content_type: str | None) -> bool:
    """Whether a content type is JSON (``application/json``, ``application/*+json``)."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


# Headers that describe the body's bytes: wrong once the body is rewritten.
_BODY_HEADERS: Final = frozenset(
    {"content-length", "content-encoding", "etag", "content-md5", "digest", "content-digest"}
)


def decode_json_body(raw: bytes, headers: Iterable[tuple[str, str]]) -> tuple[bool, object]:
    """``(True, parsed)`` for a JSON response body, decompressing ``gzip`` and
    ``deflate``; ``(False, None)`` when it cannot be read (another content coding,
    malformed JSON), in which case the response must not be sent."""
    encoding = ",".join(v for k, v in headers if k.lower() == "content-encoding").strip().lower()
    try:
        if encoding in {"gzip", "x-gzip", "deflate"}:
            # wbits 47: a gzip or zlib header, detected; raw deflate as a fallback.
            try:
                raw = zlib.decompress(raw, 47)
            except zlib.error:
                raw = zlib.decompress(raw, -15)
        elif encoding not in {"", "identity"}:
            log.error(
                "childsafe: cannot filter a JSON response with Content-Encoding %r; "
                "withholding it (put compression outside the childsafe middleware)",
                encoding,
            )
            return False, None
        return True, json.loads(raw)
    except (ValueError, RecursionError, zlib.error) as e:
        log.error("childsafe: a JSON response could not be read (%r); withholding it", e)  # noqa: TRY400
        return False, None


def _private_cache(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The headers with ``Cache-Control`` made ``private``: the body is per viewer."""
    out: list[tuple[str, str]] = []
    seen = False
    for name, value in headers:
        if name.lower() != "cache-control":
            out.append((name, value))
            continue
        seen = True
        kept = [
            d.strip()
            for d in value.split(",")
            if d.strip()
            and d.strip().lower() != "public"
            and not d.strip().lower().startswith(("s-maxage", "private="))
        ]
        if not any(d.lower() in {"private", "no-store"} for d in kept):
            kept.append("private")
        out.append((name, ", ".join(kept)))
    if not seen:
        out.append(("cache-control", "private"))
    return out


def encode_filtered(
    parsed: object, filtered: object, raw: bytes, headers: Iterable[tuple[str, str]]
) -> tuple[bytes, list[tuple[str, str]]]:
    """The body and headers to send after filtering ``parsed`` (read from ``raw``) into
    ``filtered``: the original bytes and headers when nothing needed a decision; the
    original bytes, marked ``Cache-Control: private``, when nothing was removed; else
    the filtered JSON with a correct ``Content-Length`` and no validators (``ETag``)
    or content coding that described the old bytes."""
    headers = list(headers)
    if filtered is parsed:
        return raw, headers
    headers = _private_cache(headers)
    if filtered == parsed:
        return raw, headers
    body = json.dumps(filtered, separators=(",", ":")).encode()
    headers = [(k, v) for k, v in headers if k.lower() not in _BODY_HEADERS]
    headers.append(("content-length", str(len(body))))
    return body, headers


# ---------------------------------------------------------- notification gate


class NotificationGate:
    """Ask before sending a push or email: quiet hours in the account's time zone.

    >>> import datetime as dt
    >>> from childsafe import Account, Guard, NotificationGate
    >>> gate = NotificationGate(Guard())
    >>> kid = Account(id="k", band="13_15", timezone="Europe/London")
    >>> gate.check(kid, at=dt.datetime(2025, 1, 10, 22, 30, tzinfo=dt.UTC)).reason.value
    'quiet_hours'

    Accounts given by id are loaded through ``repository``; an id that cannot be
    loaded is refused (``unverifiable``), never notified.
    """

    def __init__(
        self,
        guard: Guard,
        repository: AccountRepository | AsyncAccountRepository | None = None,
    ) -> None:
        self.guard = guard
        self.repository = repository

    def _decide(self, account: Account, at: dt.datetime | None, engagement: bool) -> Decision:
        when = at if at is not None else dt.datetime.now(dt.UTC)
        return self.guard.check("notify", target=account, at=when, engagement=engagement)

    def check(
        self, account: Account | str, *, at: dt.datetime | None = None, engagement: bool = False
    ) -> Decision:
        """May ``account`` be notified ``at`` (default: now)? Unknown ids fail closed."""
        if isinstance(account, str):
            try:
                if self.repository is None:
                    raise LookupError("no AccountRepository configured")  # noqa: TRY301
                loaded = self.repository.get_account(account)
                if inspect.isawaitable(loaded):
                    _close_awaitable(loaded)
                    raise TypeError("an async repository needs check_async")  # noqa: TRY301
                account = _loaded_account(loaded, account)
            except Exception as e:  # noqa: BLE001 - fail closed
                log.warning("childsafe: could not load account %r to notify: %r", account, e)
                return unverifiable("notify")
        return self._decide(account, at, engagement)

    async def check_async(
        self, account: Account | str, *, at: dt.datetime | None = None, engagement: bool = False
    ) -> Decision:
        """:meth:`check` for async (or sync) repositories."""
        if isinstance(account, str):
            try:
                if self.repository is None:
                    raise LookupError("no AccountRepository configured")  # noqa: TRY301
                loaded: object = self.repository.get_account(account)
                if inspect.isawaitable(loaded):
                    loaded = await loaded
                account = _loaded_account(loaded, account)
            except Exception as e:  # noqa: BLE001 - fail closed
                log.warning("childsafe: could not load account %r to notify: %r", account, e)
                return unverifiable("notify")
        return self._decide(account, at, engagement)

    def filter(
        self,
        accounts: Iterable[Account],
        *,
        at: dt.datetime | None = None,
        engagement: bool = False,
    ) -> list[Account]:
        """The accounts that may be notified ``at`` (default: now), in order."""
        when = at if at is not None else dt.datetime.now(dt.UTC)
        return [a for a in accounts if self._decide(a, when, engagement).allowed]
