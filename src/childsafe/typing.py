"""Public type aliases and protocols of childsafe's request kernel.

Adapters, resolvers and the app's own code import these from here: this module imports
no framework and no other part of the kernel at run time, so nothing it names can pull
an import loop in (the model is ``starlette.types``).

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from childsafe._decision import Decision
from childsafe._messages import Audience
from childsafe._model import Account, Relationship

if TYPE_CHECKING:
    from childsafe.web.denials import DenialResponse

__all__ = [
    "AccountRepository",
    "AsyncAccountRepository",
    "Audience",
    "DenialRenderer",
    "Extractor",
    "Request",
    "Resolver",
    "Verifier",
]


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


Verifier = Callable[[str], "Account | Awaitable[Account | None] | None"]
"""Turns a token into an account (``None``: not accepted); may be async under ASGI."""


DenialRenderer = Callable[[Decision, Request], "DenialResponse"]
"""Turns a denial into the response the app wants (an HTML page for browsers...)."""
