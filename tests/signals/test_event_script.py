"""Redis runs every rule of an event in one script, and many events in one pipeline: the
scores, evidence and flags are the memory store's, event for event."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from childsafe.signals import (
    EventSignalStore,
    Flag,
    MemorySignalStore,
    RedisSignalStore,
    Score,
    SignalEvent,
    SignalEventError,
    Signals,
    SignalsConfig,
    SignalStore,
    SQLiteSignalStore,
)
from childsafe.signals._synthetic import EXAMPLE_PHRASES, SyntheticStream, generate
from tests.signals.support import REDIS_URL, T0, drop_redis, redis_prefix

needs_redis = pytest.mark.skipif(
    not REDIS_URL, reason="set CHILDSAFE_TEST_REDIS_URL to test against a real Redis"
)
CONFIG = SignalsConfig(phrases=EXAMPLE_PHRASES)


@pytest.fixture(name="stream", scope="module")
def _stream() -> SyntheticStream:
    # Every harmful pattern (fan-out, escalation, links, phrases, blocks and new
    # accounts on a shared device, denied attempts) among benign look-alikes.
    return generate(11, benign_adults=250, instances=70, children=600, teen_events=1500, days=10)


@pytest.fixture(name="redis_store")
def _redis_store() -> Iterator[RedisSignalStore]:
    assert REDIS_URL is not None
    prefix = redis_prefix()
    store = RedisSignalStore.from_url(REDIS_URL, prefix=prefix)
    yield store
    store.client.close()
    drop_redis(prefix)


def _events(stream: SyntheticStream, *, bands: bool) -> list[SignalEvent]:
    return [
        SignalEvent(
            e.kind,
            e.actor,
            e.target,
            e.t,
            e.actor_band if bands else None,
            e.target_band if bands else None,
            e.allowed,
            e.connected,
            e.mutual,
            e.text,
        )
        for e in stream.events
    ]


def _feed(
    store: SignalStore,
    stream: SyntheticStream,
    *,
    batch: int | None,
    bands: bool = True,
    config: SignalsConfig = CONFIG,
) -> tuple[Signals, list[Flag]]:
    signals = Signals(config, store=store)
    for account, (band, idents) in stream.accounts.items():
        signals.account(account, band=band, identifiers=idents)
    flags: list[Flag] = []
    signals.add_listener(flags.append)
    events = _events(stream, bands=bands)
    if batch is None:
        for e in events:
            signals.observe(
                e.kind,
                e.actor,
                e.target,
                at=e.at,
                actor_band=e.actor_band,
                target_band=e.target_band,
                allowed=e.allowed,
                connected=e.connected,
                mutual=e.mutual,
                text=e.text,
            )
    else:
        signals.observe_many(events, batch=batch)
    return signals, flags


def _state(signals: Signals, stream: SyntheticStream) -> list[Score]:
    pairs = sorted({(e.actor, e.target) for e in stream.events} | {
        (e.target, e.actor) for e in stream.events
    })  # fmt: skip
    return [
        *signals.flagged(),
        *(signals.actor_score(a) for a in sorted(stream.accounts)),
        *(signals.pair_score(a, c) for a, c in pairs),
    ]


class _StepsOnly:
    """A store seen through the step protocol alone: the engine runs each rule as a step
    (one script or command each) instead of a whole event in one script."""

    def __init__(self, inner: SignalStore) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        if name in {"apply_events", "bands"}:
            raise AttributeError(name)
        return getattr(self.inner, name)


@needs_redis
class TestSameAsMemory:
    @pytest.mark.parametrize("batch", [None, 1, 97, 1000], ids=["observe", "b1", "b97", "b1000"])
    def test_generated_stream(
        self, stream: SyntheticStream, redis_store: RedisSignalStore, batch: int | None
    ) -> None:
        """Event by event or pipelined, Redis flags the same actors at the same events
        with the same scores and evidence as memory, and ends in the same state. (A new
        prefix is a new script: the first pipeline finds it not loaded on the server,
        and the events refused for it are sent again, in order, once it is.)"""
        memory, memory_flags = _feed(MemorySignalStore(), stream, batch=None)
        redis, redis_flags = _feed(redis_store, stream, batch=batch)
        assert len(memory_flags) > 20  # the stream does raise flags
        assert {f.actor for f in memory_flags} & {
            a for i in stream.instances for a in i.accounts
        }  # fmt: skip
        assert redis_flags == memory_flags
        assert _state(redis, stream) == _state(memory, stream)

    @pytest.mark.parametrize("batch", [None, 1000], ids=["observe", "b1000"])
    def test_short_window_and_few_rows(
        self, stream: SyntheticStream, redis_store: RedisSignalStore, batch: int | None
    ) -> None:
        """A fan-out window of an hour (the reach set trimmed as it slides) and two
        evidence rows a pair (the rows kept in a ring that wraps): still memory's flags,
        scores and evidence."""
        config = SignalsConfig(phrases=EXAMPLE_PHRASES, fan_out_window=3600.0, evidence_per_pair=2)
        memory, memory_flags = _feed(MemorySignalStore(), stream, batch=None, config=config)
        redis, redis_flags = _feed(redis_store, stream, batch=batch, config=config)
        assert len(memory_flags) > 20
        assert redis_flags == memory_flags
        assert _state(redis, stream) == _state(memory, stream)

    def test_rows_kept_at_a_new_size(self, redis_store: RedisSignalStore) -> None:
        """When evidence_per_pair changes, the rows already kept are cut to the newest
        of the new size before the next row goes in."""
        first = Signals(SignalsConfig(), store=redis_store)
        for i in range(8):
            first.observe(
                "message", "adult", f"kid{i}", at=T0 + i, actor_band="adult", target_band="13_15"
            )
        fan = first.store.actor("adult")[3]
        assert [r[4] for r in fan] == [40, 5, 5, 5, 5, 5]
        assert len(first.pair_score("adult", "kid0").evidence) == 1
        second = Signals(SignalsConfig(evidence_per_pair=3), store=redis_store)
        second.observe("message", "adult", "kid8", at=T0 + 8, actor_band="adult",
                       target_band="13_15")  # fmt: skip
        rows = second.store.actor("adult")[3]
        assert rows[:2] == fan[-2:]
        assert len(rows) == 3
        assert rows[2][5] == "reached 9 distinct unconnected minors within 48 hours"
        third = Signals(SignalsConfig(evidence_per_pair=1), store=redis_store)
        third.observe("message", "adult", "kid0", at=T0 + 9, actor_band="adult",
                      target_band="13_15", allowed=False)  # fmt: skip
        pair = third.pair_score("adult", "kid0")
        assert pair.score == 15
        assert [e.points for e in pair.evidence] == [5]

    def test_bands_from_the_accounts(
        self, stream: SyntheticStream, redis_store: RedisSignalStore
    ) -> None:
        """Events without bands take them from the accounts the platform registered
        (read for a whole batch at once): the same flags as with the bands given."""
        memory, memory_flags = _feed(MemorySignalStore(), stream, batch=None)
        redis, redis_flags = _feed(redis_store, stream, batch=250, bands=False)
        assert redis_flags == memory_flags
        assert [s.actor for s in redis.flagged()] == [s.actor for s in memory.flagged()]

    def test_registered_elsewhere(self, redis_store: RedisSignalStore) -> None:
        """A band registered by another app server is read from Redis for the batch."""
        Signals(store=redis_store).account("adult1", band="adult")
        Signals(store=redis_store).account("kid1", band="13_15")
        signals = Signals(store=redis_store)
        signals.observe_many([SignalEvent("message", "adult1", "kid1", at=T0)])
        assert signals.pair_score("adult1", "kid1").score == 10

    def test_steps_one_by_one(self, stream: SyntheticStream, redis_store: RedisSignalStore) -> None:
        """Redis's step scripts (each rule a step, as memory and SQLite run them) give
        memory's flags, scores and evidence too, with a window that slides and rings that
        wrap."""
        config = SignalsConfig(phrases=EXAMPLE_PHRASES, fan_out_window=3600.0, evidence_per_pair=2)
        steps = _StepsOnly(redis_store)
        assert not isinstance(steps, EventSignalStore)
        memory, memory_flags = _feed(MemorySignalStore(), stream, batch=None, config=config)
        redis, redis_flags = _feed(steps, stream, batch=None, config=config)
        assert len(memory_flags) > 20
        assert redis_flags == memory_flags
        assert _state(redis, stream) == _state(memory, stream)

    def test_every_key_expires(
        self, stream: SyntheticStream, redis_store: RedisSignalStore
    ) -> None:
        """Every key the event script and the steps write expires, but the set of flagged
        adults: also an adult's hash that a step creates (an adult asking another adult
        for images: no rule reads it but the step that remembers it)."""
        _feed(redis_store, stream, batch=1000)
        _feed(_StepsOnly(redis_store), stream, batch=None)
        Signals(store=redis_store).observe(
            "media_request", "adult9", "adult10", at=T0, actor_band="adult", target_band="adult"
        )
        client = redis_store.client
        keys = list(client.scan_iter(match=redis_store.prefix + "*", count=1000))
        assert f"{redis_store.prefix}{{adult9}}:actor".encode() in keys
        assert len(keys) > 100
        never = [k for k in keys if client.ttl(k) < 0]
        assert never == [f"{redis_store.prefix}flagged".encode()]

    def test_store_protocol(self, redis_store: RedisSignalStore) -> None:
        """Redis runs whole events; memory and SQLite run the rules step by step."""
        assert isinstance(redis_store, EventSignalStore)
        assert not isinstance(MemorySignalStore(), EventSignalStore)
        assert not isinstance(SQLiteSignalStore(":memory:"), EventSignalStore)


@pytest.fixture(name="any_signals", params=["memory", pytest.param("redis", marks=needs_redis)])
def _any_signals(request: pytest.FixtureRequest) -> Iterator[Signals]:
    if request.param == "memory":
        yield Signals(store=MemorySignalStore(), clock=lambda: T0)
        return
    assert REDIS_URL is not None
    prefix = redis_prefix()
    yield Signals(store=RedisSignalStore.from_url(REDIS_URL, prefix=prefix), clock=lambda: T0)
    drop_redis(prefix)


class TestObserveMany:
    def test_fan_out_in_one_batch(self, any_signals: Signals) -> None:
        """A fan-out inside one batch is flagged once per rise, in the events' order."""
        flags: list[Flag] = []
        any_signals.add_listener(flags.append)
        any_signals.observe_many(
            [
                SignalEvent("message", "adult", f"kid{i}", T0 + i, "adult", "13_15")
                for i in range(5)
            ],
            batch=2,
        )
        assert [(f.before, f.score.score) for f in flags] == [(0, 50), (50, 55), (55, 60)]
        assert any_signals.events == 5

    def test_bad_batch_size(self, any_signals: Signals) -> None:
        """A batch size that is not a positive integer is refused."""
        with pytest.raises(SignalEventError, match="batch must be a positive integer"):
            any_signals.observe_many([], batch=0)

    @pytest.mark.parametrize(
        ("event", "match"),
        [
            (SignalEvent("wave", "a", "k"), "unknown kind 'wave'"),
            (SignalEvent("message", "a", "k", at=float("nan")), "finite time"),
            (("message", "a", "k"), "must be a SignalEvent"),
        ],
    )
    def test_bad_events(self, any_signals: Signals, event: object, match: str) -> None:
        """A bad event names itself and nothing of its batch is applied."""
        good = SignalEvent("message", "adult", "kid", T0, "adult", "13_15")
        with pytest.raises(SignalEventError, match=match):
            any_signals.observe_many([good, event])  # type: ignore[list-item]
        if isinstance(any_signals.store, EventSignalStore):
            assert any_signals.pair_score("adult", "kid").score == 0
