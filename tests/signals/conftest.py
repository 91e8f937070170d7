from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from childsafe.signals import (
    MemorySignalStore,
    RedisSignalStore,
    Signals,
    SignalsConfig,
    SignalStore,
    SQLiteSignalStore,
)
from tests.signals.support import REDIS_URL, STORES, T0, Make, drop_redis, redis_prefix


@pytest.fixture(name="store_kind", params=STORES)
def _store_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture(name="new_store")
def _new_store(store_kind: str, tmp_path: Path) -> Iterator[Callable[[], SignalStore]]:
    prefix = redis_prefix()
    opened: list[SQLiteSignalStore] = []

    def new() -> SignalStore:
        if store_kind == "memory":
            return MemorySignalStore()
        if store_kind == "sqlite":
            store = SQLiteSignalStore(str(tmp_path / "signals.db"))
            opened.append(store)
            return store
        assert REDIS_URL is not None
        return RedisSignalStore.from_url(REDIS_URL, prefix=prefix)

    yield new
    for s in opened:
        s.close()
    if store_kind == "redis":
        drop_redis(prefix)


@pytest.fixture(name="make")
def _make(new_store: Callable[[], SignalStore]) -> Make:
    def make(config: SignalsConfig | None = None) -> Signals:
        return Signals(config, store=new_store(), clock=lambda: T0)

    return make
