"""Consent-grant revocations in Redis, shared by every app server (``childsafe[redis]``)."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from childsafe.exceptions import MissingExtraError
from childsafe.parental._errors import GrantConfigError, RevocationStoreError
from childsafe.parental._stores import _timestamp

if TYPE_CHECKING:
    import redis

__all__ = ["RedisRevocationStore"]


def _redis_module() -> Any:  # noqa: ANN401 - the optional driver module
    try:
        import redis  # noqa: PLC0415 - the extra is imported only when used
    except ImportError as e:
        raise MissingExtraError(
            "RedisRevocationStore needs the redis driver: pip install 'childsafe[redis]'"
        ) from e
    return redis


class RedisRevocationStore:
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
        prefix: str = "childsafe:revoked:",
        timeout: float = 0.5,
    ) -> None:
        module = _redis_module()
        if (url is None) == (client is None):
            raise GrantConfigError("give exactly one of url= or client=")
        self._errors: type[Exception] = module.RedisError
        self.prefix = prefix
        self.client: redis.Redis = (
            client
            if client is not None
            else module.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        )

    def revoke(self, grant_id: str, expires_at: dt.datetime) -> None:
        seconds = math.ceil(_timestamp(expires_at) - time.time())
        try:
            self.client.set(self.prefix + grant_id, b"1", ex=max(seconds, 1))
        except self._errors as e:
            raise RevocationStoreError(f"cannot write the revocation to Redis: {e}") from e

    def revoked(self, grant_ids: Collection[str]) -> frozenset[str]:
        ids = list(dict.fromkeys(grant_ids))
        if not ids:
            return frozenset()
        try:
            found = self.client.mget([self.prefix + g for g in ids])
        except self._errors as e:
            raise RevocationStoreError(f"cannot read revocations from Redis: {e}") from e
        return frozenset(g for g, value in zip(ids, found, strict=True) if value is not None)

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()
