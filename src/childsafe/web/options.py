"""Option checks shared by every adapter: each problem with the options a middleware
or extension was given, reported together."""

from __future__ import annotations

from collections.abc import (
    Iterable,
)

from childsafe._engine import Guard
from childsafe.exceptions import ConfigProblem
from childsafe.web.filtering import ResponseFilter
from childsafe.web.routes import RouteTable


def check_middleware_options(
    *,
    guard: object,
    resolvers: object,
    repository: object,
    routes: object,
    response_filter: object,
    renderer: object,
    max_body: object,
    strict: object = True,
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
    if not isinstance(strict, bool):
        problems.append(ConfigProblem(where, "strict", f"expected True or False, got {strict!r}"))
    return problems


def max_body_problems(where: str, max_body: object) -> list[ConfigProblem]:
    """The problem with a ``max_body`` option (a size in bytes), if any."""
    if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 0:
        return [ConfigProblem(where, "max_body", f"expected a size in bytes, got {max_body!r}")]
    return []
