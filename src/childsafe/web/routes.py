"""Declared rules: what a route does (:class:`ActionRule`), where its target is
(extractors), and route tables for apps that prefer not to touch their views."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import (
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from typing import Any, Final, TypeVar

import attrs

from childsafe._engine import ACTIONS, SENSITIVITY_LEVELS
from childsafe._settings import suggest
from childsafe.exceptions import ConfigProblem, ConfigurationError
from childsafe.typing import Extractor, Request
from childsafe.web.request import fast_callable, is_id

log = logging.getLogger("childsafe")


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
        return str(value) if is_id(value) else None


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
    {"live.start", "purchase", "feed.personalise", "data.share", "content.show", "media.upload"}
)
# Actions whose routes' bodies are the image: read, inspected and replayed.
_MEDIA_BODY: Final = frozenset({"media.upload", "media.send"})


@attrs.frozen
class ActionRule:
    """What a route does: the action to check and where to find its target.

    Checked when declared: the action must be known, actions about another account
    need a ``target`` extractor, and ``content.show`` needs a ``sensitivity`` (one of
    :data:`~childsafe.SENSITIVITY_LEVELS`), which no other action takes.

    ``media.upload`` and ``media.send`` routes have their bodies read and inspected
    (see ``docs/media-routes.md``), so their target cannot be in the body; a
    ``media.view`` route's ``target`` is the sender and its ``media`` a function of the
    request returning the :class:`~childsafe.media.MediaVerdict` the platform stored
    for the image (``None`` when it has none: treated as sensitive for a minor).

    .. versionchanged:: 0.2.0 ``media``.
    """

    action: str = attrs.field()
    target: Extractor | None = None
    sensitivity: str | None = None
    # Not in the repr, which stays what it was before media= existed.
    media: Callable[[Request], Any] | None = attrs.field(default=None, repr=False)
    needs_body: bool = attrs.field(init=False, default=False, eq=False, repr=False)
    """Whether the target is read from the request body (adapters then read it)."""
    extract: Extractor | None = attrs.field(init=False, default=None, eq=False, repr=False)
    """``target`` as the kernel calls it (an extractor object's bound ``__call__``)."""
    param: str | None = attrs.field(init=False, default=None, eq=False, repr=False)
    """The path parameter naming the target, for a :func:`path_param` target (the
    kernel then reads it without calling the extractor)."""
    plain: bool = attrs.field(init=False, default=True, eq=False, repr=False)
    """Whether the check takes no option (no ``sensitivity``, not ``notify``, no media)."""
    reads_media: bool = attrs.field(init=False, default=False, eq=False, repr=False)
    """Whether the route's body is an image to spool, inspect and replay."""

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
        if self.media is not None and (self.action != "media.view" or not callable(self.media)):
            problems.append(
                "media= is a function of the request giving the stored MediaVerdict, and "
                f"only applies to media.view (got {self.media!r} for {self.action})"
            )
        if self.action in _MEDIA_BODY and getattr(target, "needs_body", False):
            problems.append(
                f"{self.action} reads the body as the image: name the recipient in the path "
                "or the query, e.g. target=path_param('user_id')"
            )
        if problems:
            raise ConfigurationError(
                ConfigProblem("<routes>", self.action, message) for message in problems
            )
        # Worked out once: adapters read them on every request.
        object.__setattr__(self, "needs_body", bool(getattr(target, "needs_body", False)))
        object.__setattr__(self, "extract", None if target is None else fast_callable(target))
        if type(target) is _PathParam:
            object.__setattr__(self, "param", target.name)
        object.__setattr__(
            self,
            "plain",
            self.sensitivity is None
            and self.action != "notify"
            and not self.action.startswith("media."),
        )
        object.__setattr__(self, "reads_media", self.action in _MEDIA_BODY)


F = TypeVar("F", bound=Callable[..., Any])


def action(
    name: str,
    *,
    target: Extractor | None = None,
    sensitivity: str | None = None,
    media: Callable[[Request], Any] | None = None,
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
    rule = ActionRule(name, target, sensitivity, media)

    def decorate(view: F) -> F:
        setattr(view, _ACTION_ATTR, rule)
        return view

    return decorate


def declared_rule(view: object) -> ActionRule | None:
    """The :class:`ActionRule` a view was declared with, if any."""
    rule = getattr(view, _ACTION_ATTR, None)
    return rule if isinstance(rule, ActionRule) else None


# The handler names class-based views use (Flask ``MethodView``, Django ``View``,
# Starlette ``HTTPEndpoint``), and the dispatchers that run before them.
_HANDLERS: Final = ("get", "head", "post", "put", "patch", "delete", "options", "trace")
_DISPATCHERS: Final = ("dispatch", "dispatch_request")


def _unwrap(view: object) -> object:
    while isinstance(view, functools.partial):  # as Starlette and Django look through them
        view = view.func
    return view


def _view_class(view: object) -> type | None:
    """The class behind a class-based view: the endpoint class itself (Starlette), or
    the ``view_class`` that ``as_view()`` records (Flask, Django)."""
    if isinstance(view, type):
        return view
    cls = getattr(view, "view_class", None)
    return cls if isinstance(cls, type) else None


def declared_rules(view: object, method: str) -> tuple[ActionRule, ...]:
    """Every rule declared for a ``method`` request to ``view``, each to be checked.

    The one lookup every adapter uses. It finds :func:`childsafe.action` on a view
    function (also through ``functools.partial``), and on a class-based view: on the class, on its
    dispatcher (``dispatch``, ``dispatch_request``) and on the handler for ``method``
    (``get``, ``post``, ...). ``HEAD`` follows ``GET``: without a rule on a ``head``
    handler of its own, the ``get`` handler's rules are checked, also when the class
    has an undeclared ``head`` (the frameworks run it instead of ``get``).

    >>> from childsafe import action, path_param
    >>> class Messages:
    ...     @action("dm.send", target=path_param("user_id"))
    ...     def post(self) -> None: ...
    ...     def get(self) -> None: ...
    ...     def head(self) -> None: ...
    >>> [r.action for r in declared_rules(Messages, "POST")], declared_rules(Messages, "GET")
    (['dm.send'], ())
    >>> class Profile:
    ...     @action("profile.view", target=path_param("user_id"))
    ...     def get(self) -> None: ...
    ...     def head(self) -> None: ...
    >>> [r.action for r in declared_rules(Profile, "HEAD")]
    ['profile.view']
    """
    view = _unwrap(view)
    found: list[ActionRule] = []

    def add(candidate: object) -> None:
        rule = declared_rule(candidate)
        if rule is not None and all(rule is not seen for seen in found):
            found.append(rule)

    add(view)
    cls = _view_class(view)
    if cls is not None:
        add(cls)
        for name in _DISPATCHERS:
            add(getattr(cls, name, None))
        handler_name = method.lower()
        handler = getattr(cls, handler_name, None) if handler_name in _HANDLERS else None
        if handler_name == "head" and declared_rule(handler) is None:
            # HEAD follows GET, also into a class's own undeclared ``head`` handler
            # (which would otherwise run unchecked where ``get`` is declared).
            handler = getattr(cls, "get", None)
        add(handler)
    return tuple(found)


def is_declared(view: object) -> bool:
    """Whether any rule is declared on ``view`` or, for a class-based view, on its
    class, dispatcher or any of its handlers (what strict mode asks of a route)."""
    view = _unwrap(view)
    if declared_rule(view) is not None:
        return True
    cls = _view_class(view)
    if cls is None:
        return False
    names = ("", *_DISPATCHERS, *_HANDLERS)
    return any(declared_rule(getattr(cls, n, None) if n else cls) is not None for n in names)


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
    reported at once as a :class:`~childsafe.exceptions.ConfigurationError`, a
    :func:`path_param` target naming no parameter of its entry's path included.
    """

    def __init__(
        self,
        routes: Mapping[str, ActionRule] | None = None,
        *,
        exempt: Mapping[str, str] | Iterable[str] = (),
    ) -> None:
        problems: list[ConfigProblem] = []
        self._routes: list[_Route] = []
        self._keys: list[str] = []
        given_routes: object = routes
        if given_routes is not None and not isinstance(given_routes, Mapping):
            raise ConfigurationError(
                [
                    ConfigProblem(
                        "<routes>",
                        "routes",
                        "expected a mapping of 'METHOD /path' to action_rule(...), got "
                        f"{type(given_routes).__name__} {given_routes!r:.80}",
                    )
                ]
            )
        entries: list[tuple[object, object]] = list((routes or {}).items())
        for key, rule in entries:
            messages: list[str] = []
            if not isinstance(rule, ActionRule):
                messages.append(f"expected action_rule(...), got {rule!r}")
            parsed = _parse_key(key, messages)
            if (
                parsed is not None
                and isinstance(rule, ActionRule)
                and rule.param is not None
                and rule.param not in parsed[1].groupindex
            ):
                named = ", ".join(parsed[1].groupindex) or "none"
                messages.append(
                    f"target path_param({rule.param!r}) names no parameter of the path "
                    f"(its parameters: {named}), so no request would have a target"
                )
            if parsed is None or messages or not isinstance(rule, ActionRule):
                problems.extend(ConfigProblem("<routes>", str(key), m) for m in messages)
                continue
            self._routes.append(_Route(parsed[0], parsed[1], rule))
            self._keys.append(str(key))
        self._exempt: list[tuple[frozenset[str], re.Pattern[str], str]] = []
        given: object = exempt
        if given is None:  # as if none were given
            exempt = given = ()
        exempt_entries: list[tuple[object, object]] = (
            list(exempt.items())
            if isinstance(exempt, Mapping)
            else [(key, "listed as exempt in the route table") for key in exempt]
            if isinstance(given, Iterable) and not isinstance(given, str | bytes)
            else [(given, None)]
        )
        for key, reason in exempt_entries:
            messages = []
            if not isinstance(reason, str) or not reason.strip():
                messages.append(f"say why the route needs no check; got {reason!r}")
            parsed = _parse_key(key, messages)
            if parsed is None or messages or not isinstance(reason, str):
                problems.extend(ConfigProblem("<routes>", f"exempt {key}", m) for m in messages)
                continue
            self._exempt.append((parsed[0], parsed[1], reason.strip()))
        if problems:
            raise ConfigurationError(problems)
        # What match() walks: no attribute lookups per route and request.
        self._match = tuple((r.methods, r.pattern.fullmatch, r.rule) for r in self._routes)

    def exemption(self, method: str, path: str) -> str | None:
        """Why a request matching no rule needs no check (strict mode), or ``None``."""
        if not method.isupper():
            method = method.upper()
        for methods, pattern, reason in self._exempt:
            if (not methods or method in methods) and pattern.fullmatch(path):
                return reason
        if path[1:2] == "/":
            return self.exemption(method, _without_leading_slashes(path))
        return None

    def __len__(self) -> int:
        return len(self._routes)

    def rules(self) -> dict[str, ActionRule]:
        """Each entry's key (``"POST /photos"``) and its rule, in order.

        .. versionadded:: 0.2.0
        """
        return {key: route.rule for key, route in zip(self._keys, self._routes, strict=True)}

    def match(
        self, method: str, path: str
    ) -> tuple[ActionRule, dict[str, str]] | tuple[None, None]:
        """The rule for a request and its path parameters, or ``(None, None)``."""
        found = self.find(method, path)
        return (None, None) if found is None else found

    def find(self, method: str, path: str) -> tuple[ActionRule, dict[str, str]] | None:
        """:meth:`match`, answering ``None`` when no rule matches."""
        found = self.search(method, path)
        return None if found is None else (found[0], found[1].groupdict())

    def search(self, method: str, path: str) -> tuple[ActionRule, re.Match[str]] | None:
        """:meth:`find` with the path's match instead of its parameters (what the WSGI
        and ASGI middlewares call: ``match[name]`` is a parameter's value, and no
        dictionary is built for a request that reads one)."""
        for methods, fullmatch, rule in self._match:
            if methods and method not in methods and method.upper() not in methods:
                continue
            m = fullmatch(path)
            if m is not None:
                return rule, m
        if path[1:2] == "/":  # a slice: no call on the usual miss
            return self.search(method, _without_leading_slashes(path))
        return None

    def __iter__(self) -> Iterator[ActionRule]:
        return (r.rule for r in self._routes)


def _without_leading_slashes(path: str) -> str:
    """``path`` with one leading slash instead of several: ``//users/kid/messages`` is
    the route Werkzeug (Flask) and others serve for ``/users/kid/messages``, so a rule
    (or an exemption) for the one is the rule for the other, never skipped."""
    return "/" + path.lstrip("/")


def _parse_key(key: object, messages: list[str]) -> tuple[frozenset[str], re.Pattern[str]] | None:
    """The methods (empty: any) and path pattern of a ``"METHOD /path"`` key, adding
    what is wrong with it to ``messages``."""
    if not isinstance(key, str):
        messages.append("a key must be 'METHOD /path'")
        return None
    split = _ROUTE_KEY.fullmatch(key)
    method_part, path = split.groups() if split else ("", key.strip())
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
    if pattern is None:
        return None
    if "*" in methods:
        methods = set()
    elif "GET" in methods:
        methods.add("HEAD")
    return frozenset(methods), pattern


def action_rule(
    name: str,
    *,
    target: Extractor | None = None,
    sensitivity: str | None = None,
    media: Callable[[Request], Any] | None = None,
) -> ActionRule:
    """An :class:`ActionRule` for a :class:`RouteTable` entry.

    .. versionchanged:: 0.2.0 ``media`` (for ``media.view``).
    """
    return ActionRule(name, target, sensitivity, media)
