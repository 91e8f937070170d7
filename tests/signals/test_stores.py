"""Store errors name the store and what failed."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from childsafe.signals import (
    MemorySignalStore,
    RedisSignalStore,
    SignalEvent,
    Signals,
    SignalStore,
    SignalStoreError,
    SQLiteSignalStore,
)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


class TestStores:
    def test_protocol(self, tmp_path: Path) -> None:
        """Every store implements the protocol; only the shared ones say so."""
        sqlite = SQLiteSignalStore(str(tmp_path / "s.db"))
        redis = RedisSignalStore.from_url("redis://127.0.0.1:1/0")
        for store in (MemorySignalStore(), sqlite, redis):
            assert isinstance(store, SignalStore)
        assert (MemorySignalStore.shared, sqlite.shared, redis.shared) == (False, True, True)
        sqlite.close()

    def test_sqlite_cannot_open(self, tmp_path: Path) -> None:
        """A path that cannot be a database raises SignalStoreError naming it."""
        with pytest.raises(SignalStoreError, match="cannot open the signals store"):
            SQLiteSignalStore(str(tmp_path / "missing" / "dir" / "s.db"))

    def test_sqlite_closed(self, tmp_path: Path) -> None:
        """A closed store fails closed with the store's own error."""
        store = SQLiteSignalStore(str(tmp_path / "s.db"))
        store.close()
        with pytest.raises(SignalStoreError, match="signals store"):
            store.band("a")
        with pytest.raises(SignalStoreError, match="signals store"):
            store.fire("a", "b", 1)

    def test_redis_unreachable(self) -> None:
        """An unreachable Redis raises SignalStoreError naming the step."""
        store = RedisSignalStore.from_url(f"redis://127.0.0.1:{_closed_port()}/0")
        signals = Signals(store=store)
        with pytest.raises(SignalStoreError, match=r"cannot apply an event in Redis"):
            signals.observe("message", "a", "k", at=1.0, actor_band="adult", target_band="13_15")
        event = SignalEvent("message", "a", "k", at=1.0, actor_band="adult", target_band="13_15")
        with pytest.raises(SignalStoreError, match=r"cannot apply 2 events in Redis"):
            signals.observe_many([event, event])
        with pytest.raises(SignalStoreError, match=r"cannot read a pair in Redis"):
            signals.pair_score("a", "k")

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [({"prefix": ""}, "prefix must be"), ({"ttl": 0}, "ttl must be at least 1 second")],
    )
    def test_redis_bad_options(self, kwargs: dict[str, object], match: str) -> None:
        """Bad Redis options raise at construction."""
        with pytest.raises(SignalStoreError, match=match):
            RedisSignalStore.from_url("redis://127.0.0.1:1/0", **kwargs)
