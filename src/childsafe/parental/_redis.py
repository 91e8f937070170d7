"""Consent-grant revocations in Redis, shared by every app server (``childsafe[redis]``).

:class:`RedisRevocationStore` (``redis.Redis``) and :class:`AsyncRedisRevocationStore`
(``redis.asyncio.Redis``) share one layout (a key ``<prefix><grant id>`` per revoked grant,
expiring with it), one way to compute the expiry and one translation of driver errors, so
either sees at once what the other wrote. They differ only in awaiting the driver.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

from childsafe._durations import seconds_problem
from childsafe.exceptions import MissingExtraError
from childsafe.parental._errors import GrantConfigError, RevocationStoreError
from childsafe.parental._stores import _timestamp, _unique, grant_id_checked

if TYPE_CHECKING:
    import redis
    import redis.asyncio

__all__ = ["AsyncRedisRevocationStore", "RedisRevocationStore"]

DEFAULT_PREFIX: Final = "childsafe:revoked:"
_WRITE: Final = "write the revocation to"
_READ: Final = "read revocations from"


def _driver(who: str, *, asyncio: bool) -> tuple[Any, type[Exception]]:
    """The client class (``redis.Redis`` or ``redis.asyncio.Redis``) and the error base."""
    try:
        import redis  # noqa: PLC0415 - the extra is imported only when used

        if asyncio:
            import redis.asyncio  # noqa: PLC0415
    except ImportError as e:
        raise MissingExtraError(
            f"{who} needs the redis driver: pip install 'childsafe[redis]'"
        ) from e
    return (redis.asyncio.Redis if asyncio else redis.Redis), redis.RedisError


class _RedisLayout:
    """What both Redis stores share: the client, the keys, the expiry and the errors."""

    def __init__(
        self,
        who: str,
        url: str | None,
        client: object | None,
        prefix: str,
        timeout: float,
        *,
        asyncio: bool,
    ) -> None:
        factory, self._errors = _driver(who, asyncio=asyncio)
        if (url is None) == (client is None):
            raise GrantConfigError("give exactly one of url= or client=")
        problem = seconds_problem(timeout, positive=True, maximum=300.0)
        if problem is not None:
            raise GrantConfigError(f"timeout: {problem}")
        self.prefix = prefix
        self._client: Any = (
            client
            if client is not None
            else factory.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        )

    def _key(self, grant_id: str) -> str:
        return self.prefix + grant_id_checked(grant_id)

    @staticmethod
    def _ttl(expires_at: dt.datetime) -> int:
        """Whole seconds until ``expires_at``, at least one (Redis refuses ``ex=0``)."""
        return max(math.ceil(_timestamp(expires_at) - time.time()), 1)

    @staticmethod
    def _found(ids: Sequence[str], values: Sequence[object]) -> frozenset[str]:
        return frozenset(g for g, value in zip(ids, values, strict=True) if value is not None)

    @contextmanager
    def _failing(self, what: str) -> Iterator[None]:
        try:
            yield
        except self._errors as e:
            raise RevocationStoreError(f"cannot {what} Redis: {e}") from e


class RedisRevocationStore(_RedisLayout):
    """Revocations as Redis keys ``<prefix><grant id>``, each expiring with its grant.

    Give a ``url`` (``redis://host:6379/0``) or a ready ``client``. Every instance that
    uses the same server and prefix sees a revocation as soon as ``revoke`` returns.
    Timeouts default to half a second, so a server that is down fails fast (and the
    verifier then counts no grant).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: redis.Redis | None = None,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = 0.5,
    ) -> None:
        super().__init__("RedisRevocationStore", url, client, prefix, timeout, asyncio=False)
        self.client: redis.Redis = self._client

    def revoke(self, grant_id: str, expires_at: dt.datetime) -> None:
        seconds = self._ttl(expires_at)
        with self._failing(_WRITE):
            self.client.set(self._key(grant_id), b"1", ex=seconds)

    def revoked(self, grant_ids: Collection[str]) -> frozenset[str]:
        ids = _unique(grant_ids)
        if not ids:
            return frozenset()
        with self._failing(_READ):
            values = self.client.mget([self._key(g) for g in ids])
        return self._found(ids, values)

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()


class AsyncRedisRevocationStore(_RedisLayout):
    """:class:`RedisRevocationStore` for event loops, over ``redis.asyncio``.

    The same keys, expiry and timeouts: a revocation written by either store is seen by
    the other at once. Create it where the app starts (in its lifespan, say) and
    :meth:`aclose` it at shutdown; its connections belong to the event loop that first
    uses them.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: redis.asyncio.Redis | None = None,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = 0.5,
    ) -> None:
        super().__init__("AsyncRedisRevocationStore", url, client, prefix, timeout, asyncio=True)
        self.client: redis.asyncio.Redis = self._client

    async def revoke(self, grant_id: str, expires_at: dt.datetime) -> None:
        seconds = self._ttl(expires_at)
        with self._failing(_WRITE):
            await self.client.set(self._key(grant_id), b"1", ex=seconds)

    async def revoked(self, grant_ids: Collection[str]) -> frozenset[str]:
        ids = _unique(grant_ids)
        if not ids:
            return frozenset()
        with self._failing(_READ):
            values = await self.client.mget([self._key(g) for g in ids])
        return self._found(ids, values)

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self.client.aclose()
