"""Strict mode: every route declares an action, is marked exempt, or matches a
route-table rule; a route that does none of these is a configuration error, not a
silent open door.

Each adapter lists its framework's routes as :class:`RouteInfo` (its only
framework-specific part); the kernel decides what is protected, what the error says,
and what ``strict=False`` logs. ``childsafe routes`` prints the same inventory.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, Final, TypeVar

import attrs

from childsafe.exceptions import ConfigProblem, ConfigurationError
from childsafe.web.routes import ActionRule, RouteTable, declared_rules

__all__ = [
    "RouteInfo",
    "check_strict",
    "describe_rule",
    "exempt",
    "exemption",
    "param_problems",
    "route_protection",
    "sample_path",
    "under_prefix",
]

log = logging.getLogger("childsafe")

_EXEMPT_ATTR: Final = "__childsafe_exempt__"

F = TypeVar("F", bound=Callable[..., Any])


def exempt(reason: str) -> Callable[[F], F]:
    """Mark a view as needing no child-safety check, saying why (strict mode).

    >>> import childsafe
    >>> @childsafe.exempt("health check: reads no account data")
    ... def health() -> str:
    ...     return "ok"
    >>> childsafe.web.strict.exemption(health)
    'health check: reads no account data'

    Works on view functions, class-based views and their handlers, and Starlette
    endpoints alike. The reason is shown by ``childsafe routes`` for review; an empty
    one is refused (:class:`~childsafe.exceptions.ConfigurationError`).
    """
    given: object = reason
    if not isinstance(given, str) or not given.strip():
        raise ConfigurationError(
            [
                ConfigProblem(
                    "<routes>",
                    "exempt",
                    f"say why the route needs no check, e.g. exempt('public assets'); "
                    f"got {reason!r}",
                )
            ]
        )

    def decorate(view: F) -> F:
        setattr(view, _EXEMPT_ATTR, reason.strip())
        return view

    return decorate


def exemption(view: object, method: str | None = None) -> str | None:
    """Why ``view`` is exempt from strict mode, or ``None``: marked on the function
    (through :func:`functools.partial`), on a class-based view's class, or on the
    handler for ``method``."""
    while isinstance(view, functools.partial):
        view = view.func
    candidates: list[object] = [view]
    cls = view if isinstance(view, type) else getattr(view, "view_class", None)
    if isinstance(cls, type):
        candidates.append(cls)
        if method is not None:
            name = "get" if method.upper() == "HEAD" else method.lower()
            candidates.append(getattr(cls, name, None))
    for candidate in candidates:
        reason = getattr(candidate, _EXEMPT_ATTR, None)
        if isinstance(reason, str):
            return reason
    return None


def extractor_name(target: object) -> str:
    """A custom extractor as ``childsafe routes`` names it: the same text on every run
    (no ``repr`` with a memory address), so a CI diff of the listing shows only real
    changes. ``PhotoFacts.sender`` for a method, ``module.function`` for a function,
    ``partial(module.function)``, or ``an instance of module.Class``."""
    if isinstance(target, functools.partial):
        return f"partial({extractor_name(target.func)})"
    func = getattr(target, "__func__", target)  # a bound method's function
    qualname = getattr(func, "__qualname__", None)
    if isinstance(qualname, str) and qualname:
        module = getattr(func, "__module__", None)
        if getattr(target, "__self__", None) is not None or not isinstance(module, str):
            return qualname
        return f"{module}.{qualname}"
    kind = type(target)
    return f"an instance of {kind.__module__}.{kind.__qualname__}"


def describe_rule(rule: ActionRule) -> str:
    """``dm.send (target path_param('user_id'))``: a rule as ``childsafe routes``
    shows it."""
    parts = []
    if rule.target is not None:
        target = rule.target
        name = getattr(target, "name", None)
        kind = {
            "_PathParam": "path_param",
            "_QueryParam": "query_param",
            "_JsonField": "json_field",
        }.get(type(target).__name__)
        shown = f"{kind}({name!r})" if kind and isinstance(name, str) else extractor_name(target)
        parts.append(f"target {shown}")
    if rule.sensitivity is not None:
        parts.append(f"sensitivity {rule.sensitivity!r}")
    return f"{rule.action} ({', '.join(parts)})" if parts else rule.action


@attrs.frozen
class RouteInfo:
    """One route of an app and how it is protected.

    ``methods`` the HTTP methods it answers (``"*"`` for any, ``"WEBSOCKET"``);
    ``path`` its path template; ``endpoint`` the view's name; ``actions`` the rules
    declared for it (described); ``exempt`` why it needs no check, if it is exempt;
    ``problems`` what is wrong with its declarations (``param_problems``), which
    :func:`check_strict` refuses whether or not strict mode is on.

    .. versionchanged:: 0.2.0 ``problems``.
    """

    methods: tuple[str, ...]
    path: str
    endpoint: str
    actions: tuple[str, ...] = ()
    exempt: str | None = None
    problems: tuple[str, ...] = ()

    @property
    def protected(self) -> bool:
        """Whether the route declares an action or is exempt."""
        return bool(self.actions) or self.exempt is not None

    @property
    def protection(self) -> str:
        """What protects the route, in words: its actions, ``exempt: why``, or
        ``UNPROTECTED``."""
        if self.actions:
            return "; ".join(self.actions)
        if self.exempt is not None:
            return f"exempt: {self.exempt}"
        return "UNPROTECTED"

    @property
    def key(self) -> str:
        """``GET,POST /users/<id>``: the route as strict mode names it."""
        return f"{','.join(self.methods)} {self.path}"


_SAMPLES: Final = re.compile(r"<(?:(\w+):)?[^<>]+>|\{[^{}]*\}")


def sample_path(template: str) -> str:
    """A path that ``template`` matches (``/users/<int:id>`` -> ``/users/1``), to ask a
    :class:`~childsafe.RouteTable` whether one of its rules covers the route. A
    parameter that takes slashes (``<path:name>``, ``{name:path}``) is filled with two
    segments, so only a table entry that takes them too (``{name:path}``) covers it."""

    def fill(m: re.Match[str]) -> str:
        text = m.group(0)
        braces = text.startswith("{")
        converter = text[1:-1].partition(":")[2] if braces else m.group(1) or ""
        if converter in {"int", "float"}:
            return "1"
        return "childsafe-sample/childsafe-sample" if converter == "path" else "childsafe-sample"

    return _SAMPLES.sub(fill, template) or "/"


def route_protection(
    view: object,
    method: str,
    *,
    path: str | None = None,
    routes: RouteTable | None = None,
) -> tuple[tuple[str, ...], str | None]:
    """``(actions, exempt)`` for ``method`` requests to ``view``: the rules declared on
    it (or, failing that, the route-table rule matching ``path``) and its exemption."""
    rules: Sequence[ActionRule] = declared_rules(view, method)
    if not rules and routes is not None and path is not None and len(routes):
        rule, _ = routes.match(method, sample_path(path))
        if rule is not None:
            rules = (rule,)
    reason = exemption(view, method)
    if reason is None and routes is not None and path is not None:
        reason = routes.exemption(method, sample_path(path))
    return tuple(describe_rule(r) for r in rules), reason


def param_problems(rules: Iterable[ActionRule], params: Collection[str]) -> tuple[str, ...]:
    """What is wrong with declaring ``rules`` on a route whose path parameters are
    ``params``: one message per rule taking its target from a :func:`~childsafe.path_param` the
    route does not have (every request to it would be denied ``unverifiable``).

    >>> from childsafe import action_rule, path_param
    >>> rule = action_rule("dm.send", target=path_param("user_id"))
    >>> for problem in param_problems([rule], {"uid"}):
    ...     print(problem)  # doctest: +NORMALIZE_WHITESPACE
    dm.send takes its target from path_param('user_id'), but the route has no parameter
    'user_id' (its parameters: uid)
    >>> param_problems([action_rule("dm.send", target=path_param("uid"))], {"uid"})
    ()

    Each adapter hands over the parameter names its framework gives the route when
    the app starts (Flask's ``rule.arguments``, Django's URL pattern groups, Starlette's
    ``{name}`` segments); :class:`~childsafe.RouteTable` refuses the same mistake in its
    own entries.
    """
    have = ", ".join(sorted(params)) or "none"
    found: list[str] = []
    for rule in rules:
        param = rule.param
        if param is None or param in params:
            continue
        message = (
            f"{rule.action} takes its target from path_param({param!r}), but the "
            f"route has no parameter {param!r} (its parameters: {have})"
        )
        if message not in found:
            found.append(message)
    return tuple(found)


def under_prefix(path: str, prefix: str) -> bool:
    """Whether the route ``path`` lies under the path ``prefix`` of an exemption, whole
    segments only: ``/static`` and ``/static/`` cover ``/static`` and
    ``/static/{path}``, not ``/statistics``; ``/`` covers every path.

    >>> under_prefix("/static/{path}", "/static"), under_prefix("/statistics", "/static")
    (True, False)
    """
    base = prefix.rstrip("/")
    return not base or path == base or path.startswith(base + "/")


def check_strict(routes: Iterable[RouteInfo], *, strict: bool, where: str) -> None:
    """Refuse an app with unprotected routes (``strict``), naming each one, or log a
    warning listing them (``strict=False``).

    A route whose declarations cannot work (``RouteInfo.problems``: a
    :func:`~childsafe.path_param` the route does not have) is refused whether or not strict mode
    is on: it is a broken declaration, not an unprotected route, and every request to
    it would be denied.
    """
    routes = list(routes)
    broken = [
        ConfigProblem(
            where,
            route.key,
            f"{route.endpoint}: {problem}; rename the URL parameter or the path_param() "
            "so that they match",
        )
        for route in routes
        for problem in route.problems
    ]
    unprotected = [r for r in routes if not r.protected]
    if broken and (not strict or not unprotected):
        raise ConfigurationError(broken)
    if not unprotected:
        return
    if not strict:
        log.warning(
            "childsafe: strict mode is off and %d route(s) declare no action and are not "
            "exempt, so nothing checks them: %s",
            len(unprotected),
            ", ".join(r.key for r in unprotected),
        )
        return
    raise ConfigurationError(
        broken
        + [
            ConfigProblem(
                where,
                route.key,
                f"{route.endpoint} declares no action and is not exempt: declare what it does "
                "(@childsafe.action(...), Depends(require(...)) or a RouteTable rule) or mark it "
                "@childsafe.exempt('why'); strict=False serves it unchecked",
            )
            for route in unprotected
        ]
    )
