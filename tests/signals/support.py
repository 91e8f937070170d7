"""Signals engines over every store: memory, a SQLite file and a real Redis (when
``CHILDSAFE_TEST_REDIS_URL`` is set; each test gets its own key prefix, removed after)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from typing import Any

import pytest

from childsafe.signals import (
    RedisSignalStore,
    Signals,
    SignalStore,
    SQLiteSignalStore,
)

REDIS_URL = os.environ.get("CHILDSAFE_TEST_REDIS_URL")
T0 = 1_800_000_000.0

Make = Callable[..., Signals]
STORES = (
    "memory",
    "sqlite",
    pytest.param(
        "redis",
        marks=pytest.mark.skipif(
            not REDIS_URL, reason="set CHILDSAFE_TEST_REDIS_URL to test against a real Redis"
        ),
    ),
)


def redis_prefix() -> str:
    return f"childsafe:test:signals:{secrets.token_hex(6)}:"


def drop_redis(prefix: str) -> None:
    import redis  # noqa: PLC0415 - only with a Redis URL

    assert REDIS_URL is not None
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def feed_worker(kind: str, where: str, prefix: str, worker: int, results: Any) -> None:
    """One worker process: its share of an adult's fan-out, among other traffic."""
    store: SignalStore
    if kind == "sqlite":
        store = SQLiteSignalStore(where)
    else:
        store = RedisSignalStore.from_url(where, prefix=prefix)
    signals = Signals(store=store)
    flags: list[bool] = []
    signals.add_listener(lambda f: flags.append(f.first))
    base = T0 + worker
    for i in range(50):  # ordinary traffic: connected families, teen to teen
        signals.observe(
            "message",
            f"parent{worker}",
            f"kid{worker}-{i}",
            at=base + i,
            actor_band="adult",
            target_band="13_15",
            connected=True,
        )
        signals.observe(
            "message",
            f"teen{worker}",
            f"kid{worker}-{i}",
            at=base + i,
            actor_band="16_17",
            target_band="13_15",
        )
    signals.observe(
        "message",
        "stranger",
        f"child{worker}",
        at=base + 100,
        actor_band="adult",
        target_band="13_15",
    )
    results.put((worker, flags))
