"""Several processes feeding one SQLite file or one Redis: a fan-out split across them is
still one fan-out, flagged once."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from childsafe.signals import RedisSignalStore, Rule, Signals, SignalStore, SQLiteSignalStore
from tests.signals.support import REDIS_URL, drop_redis, feed_worker, redis_prefix

WORKERS = 4


def _run(kind: str, where: str, prefix: str) -> list[tuple[int, list[bool]]]:
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [
        ctx.Process(target=feed_worker, args=(kind, where, prefix, w, results))
        for w in range(WORKERS)
    ]
    for p in procs:
        p.start()
    out = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return out


def _check(store: SignalStore, out: list[tuple[int, list[bool]]]) -> None:
    score = Signals(store=store).actor_score("stranger")
    assert Rule.FAN_OUT in score.rules
    assert score.score == 40 + 5 + 10
    assert "4 distinct unconnected minors" in score.explain()
    firsts = [first for _, flags in out for first in flags]
    assert firsts.count(True) == 1  # exactly one worker saw the threshold crossed
    assert len(firsts) == 2  # and one the rise to four children
    assert Signals(store=store).flagged()[0].actor == "stranger"
    assert Signals(store=store).actor_score("parent0").score == 0


class TestProcesses:
    def test_sqlite(self, tmp_path: Path) -> None:
        """Four workers on one SQLite file, one child each: the fan-out is caught."""
        where = str(tmp_path / "signals.db")
        out = _run("sqlite", where, "")
        store = SQLiteSignalStore(where)
        try:
            _check(store, out)
        finally:
            store.close()

    @pytest.mark.skipif(not REDIS_URL, reason="set CHILDSAFE_TEST_REDIS_URL")
    def test_redis(self) -> None:
        """Four workers on one Redis, one child each: the fan-out is caught."""
        assert REDIS_URL is not None
        prefix = redis_prefix()
        try:
            out = _run("redis", REDIS_URL, prefix)
            _check(RedisSignalStore.from_url(REDIS_URL, prefix=prefix), out)
        finally:
            drop_redis(prefix)
