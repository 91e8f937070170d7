"""Resolvers: how the kernel turns a request into an account, failing closed."""

from __future__ import annotations

import inspect
import logging
from collections.abc import (
    Awaitable,
    Coroutine,
    Iterable,
    Sequence,
)
from typing import Any, Final

import attrs

from childsafe._engine import Guard
from childsafe._model import Account
from childsafe.typing import AccountRepository, AsyncAccountRepository, Request, Resolver, Verifier
from childsafe.web.context import ANONYMOUS, Found, RequestContext, Resolution
from childsafe.web.request import callable_name, close_awaitable

log = logging.getLogger("childsafe")


# -------------------------------------------------------------------- resolving


def _not_an_account(result: object, name: str) -> Found:
    log.warning(
        "childsafe: resolver %s returned a %s, not an Account; failing closed",
        name,
        type(result).__name__,
    )
    return ANONYMOUS, "error", f"resolver {name} returned {type(result).__name__}"


def _raised(name: str, exc: BaseException) -> Found:
    log.warning("childsafe: resolver %s raised %r; failing closed", name, exc)
    return ANONYMOUS, "error", f"resolver {name} raised {type(exc).__name__}: {exc}"


_NOTHING_FOUND: Final[Found] = (ANONYMOUS, "anonymous", None)


class ResolverChain:
    """Resolvers in order, with their names looked up once (adapters build one at
    start-up). :meth:`run` and :meth:`run_async` are :func:`resolve` and
    :func:`resolve_async`, returning ``(account, source, error)``."""

    __slots__ = ("_entries", "adapter")

    def __init__(self, resolvers: Iterable[Resolver], *, adapter: str | None = None) -> None:
        self._entries: tuple[tuple[Resolver, str], ...] = tuple(
            (r, callable_name(r)) for r in resolvers
        )
        #: The adapter's name, carried by the events of the requests it resolves.
        self.adapter = adapter

    def run(self, request: Request) -> Found:
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
                close_awaitable(result)
                return _raised(name, TypeError("an async resolver needs the ASGI adapter"))
            return _not_an_account(result, name)
        return _NOTHING_FOUND

    async def run_async(self, request: Request) -> Found:
        """The async path: resolvers may be sync or async."""
        found = self.run_eager(request)
        return found if isinstance(found, tuple) else await found

    def run_eager(self, request: Request) -> Found | Coroutine[Any, Any, Found]:
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
    ) -> Found:
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
        return RequestContext._found(  # noqa: SLF001
            guard, self.run(request), repository, self.adapter, request
        )

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
            return RequestContext._found(  # noqa: SLF001
                guard, found, repository, self.adapter, request
            )
        return self._context_awaiting(guard, found, repository, request)

    async def _context_awaiting(
        self,
        guard: Guard,
        pending: Awaitable[Found],
        repository: AccountRepository | AsyncAccountRepository | None,
        request: Request,
    ) -> RequestContext:
        return RequestContext._found(  # noqa: SLF001
            guard, await pending, repository, self.adapter, request
        )


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
