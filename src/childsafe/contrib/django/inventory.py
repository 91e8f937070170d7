"""Every URL pattern of a Django project with its protection: what strict mode checks,
``manage.py check`` reports (``childsafe.E020``, ``childsafe.E023``) and
``childsafe routes`` prints.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver  # type: ignore[import-untyped]

from childsafe.web import RouteTable
from childsafe.web.routes import declared_rules
from childsafe.web.strict import RouteInfo, param_problems, route_protection, under_prefix

__all__ = ["routes"]

# Class-based views answer OPTIONS themselves (View.options) and HEAD with get.
_IMPLICIT: frozenset[str] = frozenset({"options", "head"})


def _params(entry: Any) -> frozenset[str]:  # noqa: ANN401 - a URLPattern or URLResolver
    """The keyword arguments ``entry`` gives a view: its pattern's named groups (a
    ``path()`` converter's name or a ``re_path()`` group's) and its extra kwargs."""
    regex = getattr(entry.pattern, "regex", None)
    groups = regex.groupindex if regex is not None else {}
    return frozenset(groups) | frozenset(getattr(entry, "default_args", None) or {})


def _walk(
    patterns: list[Any], prefix: str, namespace: str, params: frozenset[str] = frozenset()
) -> Iterator[tuple[str, str, object, frozenset[str]]]:
    """``(path, full name, callback, parameter names)`` of every URL pattern, depth
    first (the parameters of the resolvers above it included)."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            space = entry.namespace
            inner = f"{namespace}:{space}" if namespace and space else space or namespace
            yield from _walk(
                entry.url_patterns,
                prefix + str(entry.pattern),
                inner or "",
                params | _params(entry),
            )
        elif isinstance(entry, URLPattern):
            name = entry.name or ""
            full = f"{namespace}:{name}" if namespace else name
            yield prefix + str(entry.pattern), full, entry.callback, params | _params(entry)


def _configured_exemption(path: str, name: str, exempt: Mapping[str, str]) -> str | None:
    for entry, reason in exempt.items():
        if entry.startswith("/"):
            if under_prefix(path, entry):
                return reason
        elif name == entry or name.startswith(entry + ":"):  # a URL name or a namespace
            return reason
    return None


def _methods(view: object) -> tuple[str, ...]:
    """The methods a view answers: a class-based view's handlers, else any (``*``)."""
    cls = getattr(view, "view_class", None)
    if not isinstance(cls, type):
        return ("*",)
    names = getattr(cls, "http_method_names", ())
    return tuple(m.upper() for m in names if m not in _IMPLICIT and hasattr(cls, m)) or ("*",)


def routes(
    urlconf: str | None = None,
    *,
    table: RouteTable | None = None,
    exempt: Mapping[str, str] | None = None,
) -> list[RouteInfo]:
    """Every URL pattern of ``urlconf`` (default ``ROOT_URLCONF``) with its protection.

    A function view answers any method (``*``): it is protected by a declaration on the
    function, by a ``"* /path"`` entry of ``table`` (a method-specific entry leaves the
    other methods unchecked), or by an exemption. A class-based view is looked at per
    handler (``get``, ``post``, ...). ``table`` and ``exempt`` default to
    ``CHILDSAFE["ROUTES"]`` and ``CHILDSAFE["EXEMPT"]``.
    """
    if table is None or exempt is None:
        from childsafe.contrib.django.conf import load  # noqa: PLC0415 - settings, lazily

        config = load(instantiate=False).config
        table = table if table is not None else config.routes if config else RouteTable()
        exempt = exempt if exempt is not None else config.exempt if config else {}
    found: list[RouteInfo] = []
    for pattern, name, view, params in _walk(get_resolver(urlconf).url_patterns, "/", ""):
        path = pattern.replace("^", "").replace("$", "") or "/"
        shown = str(getattr(view, "__qualname__", None) or type(view).__name__)
        endpoint = name if name and not name.endswith(":") else name + shown
        configured = _configured_exemption(path, name, exempt)
        groups: dict[tuple[tuple[str, ...], str | None, tuple[str, ...]], list[str]] = {}
        for method in _methods(view):
            actions, reason = route_protection(view, method, path=path, routes=table)
            problems = param_problems(declared_rules(view, method), params)
            groups.setdefault((actions, reason or configured, problems), []).append(method)
        found.extend(
            RouteInfo(tuple(methods), path, endpoint, actions, reason, problems)
            for (actions, reason, problems), methods in groups.items()
        )
    return found
