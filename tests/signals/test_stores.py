"""Store errors name the store and what failed."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from childsafe.signals import (
    MemorySignalStore,
    RedisSignalStore,
    SignalEvent,
    SignalEventError,
    Signals,
    SignalStore,
    SignalStoreError,
    SQLiteSignalStore,
)
from tests.signals.support import T0, Make


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


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"allowed": "no"}, "allowed must be True or False, got 'no'"),
        ({"allowed": None}, "allowed must be True or False"),
        ({"connected": 1}, "connected must be True or False"),
        ({"mutual": "3"}, "mutual must be a whole number"),
        ({"mutual": -1}, "mutual must be a whole number"),
        ({"mutual": True}, "mutual must be a whole number"),
        ({"target": None}, "target must be a non-empty account id, got None"),
        ({"actor": 5}, "actor must be a non-empty account id"),
        ({"target": "kid\ud800"}, "target 'kid\\\\ud800' contains a lone surrogate"),
    ],
)
def test_events_of_the_wrong_kind_are_refused_on_every_store(
    make: Make, fields: dict[str, object], match: str
) -> None:
    """allowed="no" (truthy) counted a refused message as allowed, so the adult scored
    less; mutual="3" was a TypeError inside the rules, a target of None a NOT NULL
    error of SQLite, an id with a lone surrogate a UnicodeEncodeError from SQLite and
    Redis. Each is a SignalEventError naming the field, from observe and observe_many,
    and nothing is counted."""
    signals = make()
    signals.account("dan", band="adult")
    signals.account("kid", band="13_15")
    event = {"actor": "dan", "target": "kid", "allowed": False, "connected": False, "mutual": 0}
    event.update(fields)
    with pytest.raises(SignalEventError, match=match):
        signals.observe("message", at=T0, **event)  # type: ignore[arg-type]
    bands = {"actor_band": "adult", "target_band": "13_15"}
    batch = [SignalEvent("message", at=T0, **bands, **event)]  # type: ignore[arg-type]
    with pytest.raises(SignalEventError, match=match):
        signals.observe_many(batch)
    with pytest.raises(SignalEventError, match="contains a lone surrogate"):
        signals.account("kid\ud800", band="13_15")
    assert signals.actor_score("dan").score == 0
