"""What the WSGI and ASGI middlewares share: their options, checked once, and how a
request's route is looked up in strict mode. Each middleware only translates its
protocol's requests and responses."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar

from childsafe._engine import Guard
from childsafe.exceptions import ConfigProblem, ConfigurationError
from childsafe.typing import (
    AccountRepository,
    AsyncAccountRepository,
    DenialRenderer,
    Resolver,
)
from childsafe.web.denials import problem_response
from childsafe.web.filtering import ResponseFilter
from childsafe.web.media import DEFAULT_MAX_MEDIA_BODY, DEFAULT_MAX_MEDIA_FILES, MediaOptions
from childsafe.web.options import check_middleware_options
from childsafe.web.resolvers import ResolverChain
from childsafe.web.routes import RouteTable

if TYPE_CHECKING:
    from childsafe.media import EvidencePreserver, MediaInspector

__all__ = ["DEFAULT_MAX_BODY", "MiddlewareBase"]

log = logging.getLogger("childsafe")

DEFAULT_MAX_BODY = 1024 * 1024
"""The largest request body (bytes) read to find a target in JSON."""

AppT = TypeVar("AppT")


class MiddlewareBase(Generic[AppT]):
    """The options of a childsafe middleware, validated together when it is built.

    ``adapter`` names the protocol in decision events; ``sync_only`` refuses async
    resolvers and repositories (the WSGI middleware cannot await them).

    ``media_inspector`` and ``evidence_preserver`` serve the routes declaring
    ``media.upload`` or ``media.send`` (see ``docs/media-routes.md``), whose bodies are
    capped at ``max_media_body`` bytes and ``max_media_files`` images and spooled to
    ``media_temp_dir`` (default: the system's temporary directory). In strict mode a
    media route without an inspector is a configuration error.

    .. versionchanged:: 0.2.0 ``media_inspector``, ``evidence_preserver``,
       ``max_media_body``, ``max_media_files`` and ``media_temp_dir``.
    """

    adapter: ClassVar[str]
    sync_only: ClassVar[bool]

    def __init__(
        self,
        app: AppT,
        /,
        *,
        guard: Guard,
        resolvers: Sequence[Resolver] = (),
        repository: AccountRepository | AsyncAccountRepository | None = None,
        routes: RouteTable | None = None,
        response_filter: ResponseFilter | None = None,
        renderer: DenialRenderer = problem_response,
        max_body: int = DEFAULT_MAX_BODY,
        strict: bool = True,
        media_inspector: MediaInspector | None = None,
        evidence_preserver: EvidencePreserver | None = None,
        max_media_body: int = DEFAULT_MAX_MEDIA_BODY,
        media_temp_dir: str | None = None,
        max_media_files: int = DEFAULT_MAX_MEDIA_FILES,
    ) -> None:
        problems = check_middleware_options(
            guard=guard,
            resolvers=resolvers,
            repository=repository,
            routes=routes,
            response_filter=response_filter,
            renderer=renderer,
            max_body=max_body,
            strict=strict,
        )
        if self.sync_only:
            problems.extend(_async_problems(problems, resolvers, repository))
        try:
            media = MediaOptions.build(
                inspector=media_inspector,
                preserver=evidence_preserver,
                max_body=max_media_body,
                temp_dir=media_temp_dir,
                max_files=max_media_files,
            )
        except ConfigurationError as e:
            problems.extend(e.problems)
        if problems:
            raise ConfigurationError(problems)
        if strict and routes is not None:
            media.check_routes(routes.rules(), where="ChildsafeMiddleware")
        self.media = media
        self.app = app
        self.guard = guard
        self.resolvers = tuple(resolvers)
        self.repository = repository
        self.routes = routes if routes is not None else RouteTable()
        self.response_filter = response_filter
        self.renderer = renderer
        self.max_body = max_body
        self.strict = strict
        # Looked up once here rather than on every request.
        # (Resolvers of the ASGI middleware may be async: its chain answers eagerly.)
        self._chain = ResolverChain(
            self.resolvers, adapter=self.adapter, asynchronous=not self.sync_only
        )
        # ``(rule, path match)`` of a request's route-table rule, or ``None``.
        self._find = self.routes.search
        # What RouteTable.search walks, for a middleware that walks it inline.
        self._entries = self.routes._match  # noqa: SLF001 - the kernel's own table
        self._has_routes = len(self.routes) > 0
        if not strict:
            log.warning(
                "childsafe: the %s middleware runs with strict=False: requests matching no "
                "route-table rule are served unchecked",
                self.adapter.upper(),
            )

    def _refused(self, method: str, path: str, *, checked_elsewhere: bool = False) -> bool:
        """Whether strict mode refuses a request that matches no route-table rule: no
        exemption, and no app behind that checks its own routes."""
        return self.strict and not checked_elsewhere and self.routes.exemption(method, path) is None


def _async_problems(
    problems: list[ConfigProblem], resolvers: object, repository: object
) -> list[ConfigProblem]:
    found = []
    raw: Iterable[object] = (
        () if any(p.path == "resolvers" for p in problems) else resolvers  # type: ignore[assignment]
    )
    if any(inspect.iscoroutinefunction(r) for r in raw):
        found.append(
            ConfigProblem(
                "ChildsafeMiddleware",
                "resolvers",
                "async resolvers need the ASGI middleware (childsafe.asgi)",
            )
        )
    if repository is not None and inspect.iscoroutinefunction(
        getattr(repository, "get_account", None)
    ):
        found.append(
            ConfigProblem(
                "ChildsafeMiddleware",
                "repository",
                "an async repository needs the ASGI middleware (childsafe.asgi)",
            )
        )
    return found
