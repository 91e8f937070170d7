"""The notification gate: quiet hours before a push or an email."""

from __future__ import annotations

import datetime as dt
import inspect
import logging
from collections.abc import (
    Iterable,
)

from childsafe._decision import Decision
from childsafe._engine import Guard
from childsafe._model import Account
from childsafe.typing import AccountRepository, AsyncAccountRepository
from childsafe.web.context import loaded_account
from childsafe.web.denials import unverifiable
from childsafe.web.request import close_awaitable

log = logging.getLogger("childsafe")


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
                    close_awaitable(loaded)
                    raise TypeError("an async repository needs check_async")  # noqa: TRY301
                account = loaded_account(loaded, account)
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
                account = loaded_account(loaded, account)
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
