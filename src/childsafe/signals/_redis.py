"""The signals' state in Redis, shared by every app server (``childsafe[redis]``).

Each step is one Lua script (atomic on the server). An actor's keys share a hash tag,
``<prefix>{<actor>}:...``, so one script touches one slot; every key expires (pair and
actor state after ``ttl`` seconds without activity, reach windows after their window,
blocks after the block memory).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from childsafe.exceptions import MissingExtraError
from childsafe.signals._errors import SignalStoreError
from childsafe.signals._stores import EvidenceRow

if TYPE_CHECKING:
    import redis
    from redis.typing import EncodableT

__all__ = ["RedisSignalStore"]

DEFAULT_PREFIX: Final = "childsafe:signals:"
_Value: TypeAlias = bytes | str | int | float

_FIRE: Final = """
local f = tonumber(redis.call('HGET', KEYS[1], 'fired') or '0')
local b = tonumber(ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
if bit.band(f, b) ~= 0 then return 0 end
redis.call('HSET', KEYS[1], 'fired', bit.bor(f, b))
return 1
"""

_REACH: Final = """
local t = tonumber(ARGV[2])
local start = t - tonumber(ARGV[3])
local old = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not old or tonumber(old) < t then redis.call('ZADD', KEYS[1], t, ARGV[1]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. start)
redis.call('EXPIRE', KEYS[1], ARGV[4])
return redis.call('ZCARD', KEYS[1])
"""

_RAISE: Final = """
local before = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local v = tonumber(ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
if v <= before then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], v)
if ARGV[1] == 'flagged' then redis.call('SADD', KEYS[2], ARGV[4]) end
return before
"""

_REQUEST: Final = """
local t = tonumber(ARGV[1])
local req = redis.call('HGET', KEYS[1], 'req')
if not req or t - tonumber(req) > tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'req', ARGV[1], 'esc', 0)
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 0
"""

_ESCALATE: Final = """
local req = redis.call('HGET', KEYS[1], 'req')
if not req then return 0 end
local d = tonumber(ARGV[2]) - tonumber(req)
if d < 0 or d > tonumber(ARGV[3]) then return 0 end
local esc = bit.bor(tonumber(redis.call('HGET', KEYS[1], 'esc') or '0'), tonumber(ARGV[1]))
redis.call('HSET', KEYS[1], 'esc', esc)
return esc
"""

_EVIDENCE: Final = """
local pts = tonumber(ARGV[2])
local keep = tonumber(ARGV[4])
if ARGV[3] == '' then
  redis.call('HINCRBY', KEYS[1], 'fan', pts)
  redis.call('RPUSH', KEYS[2], ARGV[1])
  redis.call('LTRIM', KEYS[2], -keep, -1)
  redis.call('EXPIRE', KEYS[2], ARGV[5])
else
  local s = redis.call('HINCRBY', KEYS[3], 'score', pts)
  redis.call('RPUSH', KEYS[4], ARGV[1])
  redis.call('LTRIM', KEYS[4], -keep, -1)
  redis.call('EXPIRE', KEYS[3], ARGV[5])
  redis.call('EXPIRE', KEYS[4], ARGV[5])
  local best = tonumber(redis.call('HGET', KEYS[1], 'best') or '0')
  if s > best then redis.call('HSET', KEYS[1], 'best', s, 'best_child', ARGV[3]) end
end
redis.call('EXPIRE', KEYS[1], ARGV[5])
local v = redis.call('HMGET', KEYS[1], 'best', 'fan')
return tonumber(v[1] or '0') + tonumber(v[2] or '0')
"""


def _driver() -> tuple[Any, type[Exception]]:
    try:
        import redis  # noqa: PLC0415 - the extra is imported only when used
    except ImportError as e:  # pragma: no cover - the dev environment has redis
        raise MissingExtraError(
            "RedisSignalStore needs the redis driver: pip install 'childsafe[redis]'"
        ) from e
    return redis.Redis, redis.RedisError


def _rows(items: list[bytes]) -> list[EvidenceRow]:
    out: list[EvidenceRow] = []
    for item in items:
        r = json.loads(item)
        out.append((r[0], r[1], r[2], r[3], r[4], r[5]))
    return out


class RedisSignalStore:
    """The state in Redis, shared by every app server.

    ``client`` is a ``redis.Redis``; :meth:`from_url` builds one. ``ttl`` is how long
    an actor's state (pairs, evidence, scores) is kept after its last activity.
    """

    shared = True

    def __init__(
        self, client: redis.Redis, *, prefix: str = DEFAULT_PREFIX, ttl: float = 30 * 86400.0
    ) -> None:
        _, self._error = _driver()
        given: object = prefix
        if not isinstance(given, str) or not given:
            raise SignalStoreError(
                f"RedisSignalStore: prefix must be a non-empty string, got {prefix!r}"
            )
        seconds: object = ttl
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 1:
            raise SignalStoreError(f"RedisSignalStore: ttl must be at least 1 second, got {ttl!r}")
        self.client = client
        self.prefix = prefix
        self._ttl = math.ceil(ttl)
        self._fire = client.register_script(_FIRE)
        self._reach = client.register_script(_REACH)
        self._raise = client.register_script(_RAISE)
        self._request = client.register_script(_REQUEST)
        self._escalate = client.register_script(_ESCALATE)
        self._evidence = client.register_script(_EVIDENCE)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisSignalStore:  # noqa: ANN401 - passed on
        """A store on the Redis server at ``url`` (``redis://host:6379/0``)."""
        client_cls, _ = _driver()
        return cls(client_cls.from_url(url), **kwargs)

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:  # noqa: ANN401 - Redis replies
        try:
            return fn()
        except self._error as e:
            raise SignalStoreError(f"cannot {what} in Redis ({self.prefix!r}): {e}") from e

    def _actor_key(self, actor: str, part: str) -> str:
        return f"{self.prefix}{{{actor}}}:{part}"

    def _pair_key(self, actor: str, child: str, part: str = "pair") -> str:
        return f"{self.prefix}{{{actor}}}:{part}:{child}"

    def set_account(
        self, account: str, band: str | None, assurance: str | None, idents: tuple[str, ...]
    ) -> None:
        mapping: dict[EncodableT, EncodableT] = {}
        if band is not None:
            mapping["band"] = band
        if assurance is not None:
            mapping["assurance"] = assurance
        if idents:
            mapping["idents"] = json.dumps(idents)
        if mapping:
            key = f"{self.prefix}acct:{account}"

            def write() -> None:
                pipe = self.client.pipeline(transaction=True)
                pipe.hset(key, mapping=mapping)
                pipe.expire(key, self._ttl)
                pipe.execute()

            self._call("record an account", write)

    def _account_field(self, account: str, field: str) -> str | None:
        value = self._call(
            "read an account", lambda: self.client.hget(f"{self.prefix}acct:{account}", field)
        )
        return None if value is None else bytes(value).decode()

    def band(self, account: str) -> str | None:
        return self._account_field(account, "band")

    def idents(self, account: str) -> tuple[str, ...]:
        value = self._account_field(account, "idents")
        return () if value is None else tuple(json.loads(value))

    def fire(self, actor: str, child: str, bit: int) -> bool:
        key = self._pair_key(actor, child)
        return bool(
            self._call("fire a rule", lambda: self._fire(keys=[key], args=[bit, self._ttl]))
        )

    def mask(self, actor: str, child: str) -> int:
        key = self._pair_key(actor, child)
        value = self._call("read a pair", lambda: self.client.hget(key, "fired"))
        return int(value or 0)

    def reach(self, actor: str, child: str, t: float, window: float) -> int:
        key = self._actor_key(actor, "reach")
        args: list[_Value] = [child, repr(t), repr(window), math.ceil(window) + 1]
        return int(self._call("count a window", lambda: self._reach(keys=[key], args=args)))

    def _raise_field(self, actor: str, field: str, value: int) -> int | None:
        keys = [self._actor_key(actor, "actor"), f"{self.prefix}flagged"]
        before = int(
            self._call(
                f"raise the {field}",
                lambda: self._raise(keys=keys, args=[field, value, self._ttl, actor]),
            )
        )
        return None if before < 0 else before

    def raise_level(self, actor: str, level: int) -> int | None:
        return self._raise_field(actor, "level", level)

    def raise_flag(self, actor: str, total: int) -> int | None:
        return self._raise_field(actor, "flagged", total)

    def request(self, actor: str, child: str, t: float, window: float) -> None:
        key = self._pair_key(actor, child)
        self._call(
            "open a request window",
            lambda: self._request(keys=[key], args=[repr(t), repr(window), self._ttl]),
        )

    def escalate(self, actor: str, child: str, bit: int, t: float, window: float) -> int:
        key = self._pair_key(actor, child)
        args: list[_Value] = [bit, repr(t), repr(window)]
        return int(self._call("escalate", lambda: self._escalate(keys=[key], args=args)))

    def add_evidence(self, actor: str, row: EvidenceRow, keep: int) -> int:
        child = row[3]
        keys = [
            self._actor_key(actor, "actor"),
            self._actor_key(actor, "evidence"),
            self._pair_key(actor, child or "", "pair"),
            self._pair_key(actor, child or "", "evidence"),
        ]
        args: list[_Value] = [json.dumps(row), row[4], child or "", keep, self._ttl]
        return int(self._call("add evidence", lambda: self._evidence(keys=keys, args=args)))

    def block(self, child: str, other: str, t: float, idents: tuple[str, ...], keep: float) -> None:
        key = f"{self.prefix}block:{child}"
        mapping: dict[EncodableT, EncodableT] = {other: repr(t)}
        mapping.update({"ident:" + i: repr(t) for i in idents})

        def write() -> None:
            pipe = self.client.pipeline(transaction=True)
            pipe.hset(key, mapping=mapping)
            pipe.expire(key, math.ceil(keep))
            pipe.execute()

        self._call("record a block", write)

    def blocked_since(
        self, child: str, actor: str, idents: tuple[str, ...]
    ) -> tuple[float, bool] | None:
        fields = [actor, *("ident:" + i for i in idents)]
        values = self._call(
            "read blocks", lambda: self.client.hmget(f"{self.prefix}block:{child}", fields)
        )
        for i, value in enumerate(values):
            if value is not None:
                return float(value), i == 0
        return None

    def any_blocks(self) -> bool:
        return True

    def pair(self, actor: str, child: str) -> tuple[int, list[EvidenceRow]]:
        def read() -> tuple[Any, Any]:
            pipe = self.client.pipeline(transaction=False)
            pipe.hget(self._pair_key(actor, child), "score")
            pipe.lrange(self._pair_key(actor, child, "evidence"), 0, -1)
            score, items = pipe.execute()
            return score, items

        score, items = self._call("read a pair", read)
        return int(score or 0), _rows(items)

    def actor(self, actor: str) -> tuple[int, int, str | None, list[EvidenceRow]]:
        def read() -> tuple[Any, Any]:
            pipe = self.client.pipeline(transaction=False)
            pipe.hmget(self._actor_key(actor, "actor"), ["best", "fan", "best_child"])
            pipe.lrange(self._actor_key(actor, "evidence"), 0, -1)
            values, items = pipe.execute()
            return values, items

        (best, fan, best_child), items = self._call("read an actor", read)
        child = None if best_child is None else bytes(best_child).decode()
        return int(best or 0), int(fan or 0), child, _rows(items)

    def flagged(self) -> list[str]:
        members = self._call(
            "read the flagged actors", lambda: self.client.smembers(f"{self.prefix}flagged")
        )
        return sorted(bytes(m).decode() for m in members)
