"""Resolvers: how the kernel turns a request into an account, failing closed."""

from __future__ import annotations

import inspect
import logging
from collections.abc import (
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Sequence,
)
from typing import TYPE_CHECKING, Any, Final

from childsafe._engine import Guard
from childsafe._model import Account
from childsafe.typing import AccountRepository, AsyncAccountRepository, Request, Resolver, Verifier
from childsafe.web.context import (
    ANONYMOUS,
    BuiltContext,
    Found,
    RequestContext,
    Resolution,
    new_context,
)
from childsafe.web.request import callable_name, close_awaitable, fast_callable

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


def _no_account(request: object) -> None:
    """The first resolver of a chain of none: it finds no account."""
    del request


class ResolverChain:
    """Resolvers in order, with their names looked up once (adapters build one at
    start-up). :meth:`run` and :meth:`run_async` are :func:`~childsafe.web.resolve` and
    :func:`~childsafe.web.resolve_async`, returning ``(account, source, error)``."""

    __slots__ = ("_after", "_entries", "_first", "_first_how", "_resolve", "adapter")

    def __init__(
        self,
        resolvers: Iterable[Resolver],
        *,
        adapter: str | None = None,
        asynchronous: bool = False,
    ) -> None:
        self._entries: tuple[tuple[Resolver, str], ...] = tuple(
            (fast_callable(r), callable_name(r)) for r in resolvers
        )
        # The first resolver, called without the loop (most apps have one).
        self._first = self._entries[0] if self._entries else None
        # What a context resolved by the first resolver records of how it was found.
        self._first_how: tuple[str, str | None] = (
            (self._entries[0][1], None) if self._entries else ("anonymous", None)
        )
        #: The adapter's name, carried by the events of the requests it resolves.
        self.adapter = adapter
        # What context() calls: the first resolver (without resolvers, one finding no
        # account), then, for any answer but the usual one, the rest of the chain, sync
        # or (resolvers that may answer with awaitables) eager.
        self._resolve: Resolver = self._first[0] if self._first is not None else _no_account
        self._after: Callable[..., Any] = (
            self._context_after_eager if asynchronous else self.context_after
        )

    def run(self, request: Request) -> Found:
        """The sync path: an async resolver (one returning an awaitable) fails closed."""
        first = self._first
        if first is None:
            return _NOTHING_FOUND
        try:
            result: object = first[0](request)
        except Exception as e:  # noqa: BLE001 - any failure must fail closed
            return _raised(first[1], e)
        if type(result) is Account:  # the usual answer, taken at once
            return result, first[1], None
        return self._rest(request, result)

    def _rest(self, request: Request, result: object) -> Found:
        """:meth:`run` once the first resolver returned ``result`` (not an account
        itself)."""
        entries = self._entries
        for position in range(len(entries)):
            resolver, name = entries[position]
            if position:
                try:
                    result = resolver(request)
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
        first = self._first
        if first is None:
            return _NOTHING_FOUND
        try:
            result: object = first[0](request)
        except Exception as e:  # noqa: BLE001 - any failure must fail closed
            return _raised(first[1], e)
        if type(result) is Account:  # the usual answer, taken at once
            return result, first[1], None
        return self._rest_eager(request, result)

    def _rest_eager(self, request: Request, result: object) -> Found | Coroutine[Any, Any, Found]:
        """:meth:`run_eager` once the first resolver returned ``result`` (not an account
        itself)."""
        entries = self._entries
        for index in range(len(entries)):
            resolver, name = entries[index]
            if index:
                try:
                    result = resolver(request)
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
        """The :class:`~childsafe.RequestContext` of ``request``: the resolvers run in
        order, failing closed (see :func:`~childsafe.web.resolve`).

        Every adapter builds its request's context here, once per request. The usual
        answer (the first resolver finds the account, and the guard records no events) is
        built at once; anything else goes through the rest of the chain. On a chain built
        with ``asynchronous=True`` this may return a coroutine (see :meth:`context_eager`).
        """
        try:
            result: object = self._resolve(request)
        except Exception as e:  # noqa: BLE001 - any failure must fail closed
            # (On a sync chain, _after is context_after: a context, never a coroutine.)
            return self._after(guard, request, repository, None, e)  # type: ignore[no-any-return]
        # A plain Guard is never observed (events swap in a subclass): its class is
        # tested, cheaper than reading the class variable.
        if type(result) is Account and type(guard) is Guard:
            context: RequestContext = BuiltContext()
            context.guard = guard
            context.account = result
            context._how = self._first_how  # noqa: SLF001
            context.repository = repository
            context.adapter = self.adapter
            context._decisions = None  # noqa: SLF001
            context.request_id = None
            context._check = None  # noqa: SLF001
            return context
        return self._after(guard, request, repository, result)  # type: ignore[no-any-return]

    if TYPE_CHECKING:

        def context_eager(
            self,
            guard: Guard,
            request: Request,
            repository: AccountRepository | AsyncAccountRepository | None,
        ) -> RequestContext | Coroutine[Any, Any, RequestContext]:
            """:meth:`context` on a chain built with ``asynchronous=True`` (resolvers
            may be sync or async): the context itself while every resolver answers at
            once, else a coroutine to await for it (what the ASGI middleware calls)."""

    else:
        context_eager = context

    @property
    def first(self) -> Resolver | None:
        """The first resolver (``None`` without resolvers)."""
        first = self._first
        return None if first is None else first[0]

    def context_after(
        self,
        guard: Guard,
        request: Request,
        repository: AccountRepository | AsyncAccountRepository | None,
        result: object,
        error: Exception | None = None,
    ) -> RequestContext:
        """:meth:`context` once :attr:`first` was called: it returned ``result``, or
        raised ``error``. The rest of the chain runs as in :meth:`context` (sync
        resolvers), failing closed the same way."""
        first = self._first
        if first is None:
            account, source, why = _NOTHING_FOUND
        elif error is not None:
            account, source, why = _raised(first[1], error)
        elif type(result) is Account:
            account, source, why = result, first[1], None
        else:
            account, source, why = self._rest(request, result)
        return new_context(guard, account, source, why, repository, self.adapter, request)

    def _context_after_eager(
        self,
        guard: Guard,
        request: Request,
        repository: AccountRepository | AsyncAccountRepository | None,
        result: object,
        error: Exception | None = None,
    ) -> RequestContext | Coroutine[Any, Any, RequestContext]:
        """:meth:`context_after` of an asynchronous chain: a later resolver may answer
        with an awaitable, and then this is a coroutine to await for the context."""
        first = self._first
        found: Found | Coroutine[Any, Any, Found]
        if first is None:
            found = _NOTHING_FOUND
        elif error is not None:
            found = _raised(first[1], error)
        elif type(result) is Account:
            found = result, first[1], None
        else:
            found = self._rest_eager(request, result)
        if type(found) is tuple:
            account, source, why = found
            return new_context(guard, account, source, why, repository, self.adapter, request)
        return self._context_awaiting(guard, found, repository, request)  # type: ignore[arg-type]

    async def _context_awaiting(
        self,
        guard: Guard,
        pending: Awaitable[Found],
        repository: AccountRepository | AsyncAccountRepository | None,
        request: Request,
    ) -> RequestContext:
        account, source, error = await pending
        return new_context(guard, account, source, error, repository, self.adapter, request)


def resolve(resolvers: Sequence[Resolver], request: Request) -> Resolution:
    """Run the resolvers in order; the first that returns an account wins.

    A resolver that raises, returns something other than an account or ``None``, or is
    async (this is the sync path) makes the request fail closed: the protective
    unknown-age account, with ``source="error"``.
    """
    return Resolution(*ResolverChain(resolvers).run(request))


async def resolve_async(resolvers: Sequence[Resolver], request: Request) -> Resolution:
    """:func:`~childsafe.web.resolve` for ASGI apps: resolvers may be sync or async."""
    return Resolution(*await ResolverChain(resolvers).run_async(request))


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
    # A closure rather than an object: it runs on every request, and reads ``verify``,
    # ``header`` and ``cookie`` as its own cells instead of attributes.

    def bearer_token(request: Request) -> Account | Awaitable[Account | None] | None:
        if header:
            value = request.header(header)
            if value:
                scheme, _, credentials = value.partition(" ")
                if scheme != "Bearer" and scheme.lower() != "bearer":
                    # Leading blanks, or another scheme: read it again without them.
                    scheme, _, credentials = value.strip().partition(" ")
                    if scheme.lower() != "bearer":
                        credentials = ""
                credentials = credentials.strip()
                if credentials:
                    return verify(credentials)
        if cookie:
            found = request.cookie(cookie)
            if found:
                return verify(found)
        return None

    return bearer_token
