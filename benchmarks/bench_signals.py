"""Time grooming-risk signals: events per second through the rules on one core.

Three streams: the evaluation stream's own mix (``childsafe signals evaluate``'s
seed), and a worst case where every event is an adult's contact attempt on an
unconnected minor (2,000 adults, 20,000 children, each adult's window filling up).
Memory has targets (200,000/s on the mix, 50,000/s on the worst case), and so has
Redis pipelined (30,000/s on the worst case: ``Signals.observe_many``, ``--batch`` events
a pipeline, up to 16 events a call of one Lua script, each applied atomically); Redis
event by event (``Signals.observe``, one round trip an event) and SQLite (a transaction a
step) run beside it for comparison.
Rates are events per CPU-second (this process; on Redis, plus the Redis server's own
CPU time read from ``INFO cpu`` before and after the run) and per wall-clock second,
best of ``--repeat`` runs.

    .venv/bin/python benchmarks/bench_signals.py [--repeat 3] [--batch 1000] [--write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _harness import machine, packages, python, write_section
from childsafe.signals import (
    MemorySignalStore,
    RedisSignalStore,
    SignalEvent,
    Signals,
    SignalsConfig,
    SignalStore,
    SQLiteSignalStore,
)
from childsafe.signals._synthetic import EVALUATION_SEED, EXAMPLE_PHRASES, StreamEvent, generate

MIX_TARGET = 200_000
WORST_TARGET = 50_000
REDIS_TARGET = 30_000


def worst_case(n: int, seed: int = 7) -> list[StreamEvent]:
    """``n`` events, every one an adult's message or request to an unconnected minor."""
    rng = random.Random(seed)
    t0 = 1_767_225_600.0
    return [
        StreamEvent(
            t0 + i * 0.5,
            "message" if i % 3 else "friend_request",
            f"a{rng.randrange(2000)}",
            f"k{rng.randrange(20000)}",
            "adult",
            "13_15",
            allowed=i % 2 == 0,
            connected=False,
            mutual=0,
            text=None,
        )
        for i in range(n)
    ]


def run(events: list[StreamEvent], store: Callable[[], SignalStore]) -> tuple[float, float]:
    """(events per CPU-second, events per wall second) through a fresh engine."""
    signals = Signals(SignalsConfig(phrases=EXAMPLE_PHRASES), store=store())
    observe = signals.observe
    cpu, wall = time.process_time(), time.perf_counter()
    for e in events:
        observe(
            e.kind,
            e.actor,
            e.target,
            at=e.t,
            actor_band=e.actor_band,
            target_band=e.target_band,
            allowed=e.allowed,
            connected=e.connected,
            mutual=e.mutual,
            text=e.text,
        )
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return len(events) / cpu, len(events) / wall


def best(
    events: list[StreamEvent], store: Callable[[], SignalStore], repeat: int
) -> tuple[float, float]:
    runs = [run(events, store) for _ in range(repeat)]
    return max(r[0] for r in runs), max(r[1] for r in runs)


def run_redis(events: list[StreamEvent], url: str, batch: int | None) -> tuple[float, float]:
    """(events per CPU-second of this process and the Redis server together, events per
    wall second) on a fresh key prefix; ``batch`` None: one ``observe`` an event."""
    import redis  # noqa: PLC0415 - only with a Redis URL

    client = redis.Redis.from_url(url)

    def server_cpu() -> float:
        info = client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    prefix = f"childsafe:bench:signals:{secrets.token_hex(4)}:"
    signals = Signals(
        SignalsConfig(phrases=EXAMPLE_PHRASES), store=RedisSignalStore.from_url(url, prefix=prefix)
    )
    batch_events = [
        SignalEvent(e.kind, e.actor, e.target, e.t, e.actor_band, e.target_band, e.allowed,
                    e.connected, e.mutual, e.text)
        for e in events
    ]  # fmt: skip
    observe = signals.observe
    server, cpu, wall = server_cpu(), time.process_time(), time.perf_counter()
    if batch is None:
        for e in events:
            observe(e.kind, e.actor, e.target, at=e.t, actor_band=e.actor_band,
                    target_band=e.target_band, allowed=e.allowed, connected=e.connected,
                    mutual=e.mutual, text=e.text)  # fmt: skip
    else:
        signals.observe_many(batch_events, batch=batch)
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu
    server = server_cpu() - server
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    for i in range(0, len(keys), 1000):
        client.delete(*keys[i : i + 1000])
    client.close()
    return len(events) / (cpu + server), len(events) / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shared-n", type=int, default=20_000, help="events on SQLite and Redis")
    parser.add_argument("--batch", type=int, default=1000, help="events a Redis pipeline")
    parser.add_argument("--write", action="store_true", help="rewrite the section of RESULTS.md")
    args = parser.parse_args()

    load = [os.getloadavg()[0]]
    stream = generate(EVALUATION_SEED)
    worst = worst_case(200_000)
    rows: list[tuple[str, str, int, float, float, str]] = []
    mix_cpu, mix_wall = best(stream.events, MemorySignalStore, args.repeat)
    rows.append(
        (
            "memory",
            "evaluation mix",
            len(stream.events),
            mix_cpu,
            mix_wall,
            "**pass**" if mix_cpu >= MIX_TARGET else "**fail**",
        )
    )
    w_cpu, w_wall = best(worst, MemorySignalStore, args.repeat)
    rows.append(
        (
            "memory",
            "worst case",
            len(worst),
            w_cpu,
            w_wall,
            "**pass**" if w_cpu >= WORST_TARGET else "**fail**",
        )
    )
    shared = worst[: args.shared_n]
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "signals.db")
        s_cpu, s_wall = run(shared, lambda: SQLiteSignalStore(path))
        rows.append(
            (
                "SQLite (WAL, one file)",
                "worst case",
                len(shared),
                s_cpu,
                s_wall,
                "(for information)",
            )
        )
    url = os.environ.get("CHILDSAFE_TEST_REDIS_URL")
    if url:
        one = [run_redis(shared, url, None) for _ in range(args.repeat)]
        rows.append(
            (
                "Redis (local), `observe`: a script call an event, a round trip each",
                "worst case",
                len(shared),
                max(r[0] for r in one),
                max(r[1] for r in one),
                "(for comparison)",
            )
        )
        piped = [run_redis(shared, url, args.batch) for _ in range(args.repeat)]
        p_cpu, p_wall = max(r[0] for r in piped), max(r[1] for r in piped)
        rows.append(
            (
                (
                    f"Redis (local), `observe_many`: a script call for 16 events, "
                    f"{args.batch:,} a pipeline"
                ),
                "worst case",
                len(shared),
                p_cpu,
                p_wall,
                f"{REDIS_TARGET:,}/s: " + ("**pass**" if p_wall >= REDIS_TARGET else "**fail**"),
            )
        )

    load.append(os.getloadavg()[0])
    mix = ", ".join(f"{k} {v * 100 / len(stream.events):.1f}%" for k, v in stream.mix.items())
    table = [
        "| Store | Stream | Events | Events/CPU-s | Events/s (wall) | Target |",
        "|---|---|--:|--:|--:|---|",
        *(f"| {s} | {k} | {n:,} | {c:,.0f} | {w:,.0f} | {t} |" for s, k, n, c, w, t in rows),
    ]
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = "\n".join(
        [
            "<!-- signals:start -->",
            "# Grooming-risk signals benchmark",
            "",
            (
                "Events per second through the rules on one core, best "
                f"of {args.repeat} runs in memory and on Redis (one run on SQLite). On Redis, "
                "events/CPU-s counts this process's CPU time plus the Redis server's (the "
                "change in `used_cpu_user` + `used_cpu_sys` of `INFO cpu` over the run; the "
                "server is shared, so other clients' load would count too), and the target "
                "is read on the wall clock. The "
                "evaluation mix is `childsafe signals evaluate`'s stream (seed "
                f"{EVALUATION_SEED}, the example phrase list opted in): {mix}. The worst "
                "case: every event an adult's message (2/3) "
                "or friend request (1/3) to an unconnected minor, half of them denied, 2,000 "
                "adults over 20,000 children."
            ),
            "",
            f"- Date: {now}",
            f"- Machine: {machine()}",
            f"- Python: {python()}",
            f"- Packages: {packages(['childsafe', 'redis'])}",
            (
                "- Reproduce: `.venv/bin/python benchmarks/bench_signals.py --write` (with "
                "`CHILDSAFE_TEST_REDIS_URL` set for the Redis row)"
            ),
            (
                f"- Targets: {MIX_TARGET:,}/s on the mix and {WORST_TARGET:,}/s on the worst case "
                "in memory; 30,000/s on Redis pipelined."
            ),
            "",
            *table,
            "",
            (
                "Redis runs every rule of an event in one Lua script (state read once, "
                "written once, keys that expire): `observe` is one round trip an event, "
                f"`observe_many` sends {args.batch:,} events in one pipeline, 16 a call "
                "of the script (each event applied atomically), written in chunks while "
                "the server works through the ones before (each run starts on a new key "
                "prefix, so a new script: its first batch finds the script not loaded and "
                "is sent again once it is). The client and the "
                "Redis server share the machine's CPUs with other work: the 1-minute load "
                f"average was {load[0]:.1f} before the runs and {load[1]:.1f} after, on "
                f"{os.cpu_count()} logical CPUs; the server's CPU time per event, and so "
                "the wall-clock rate, rise with it."
            ),
            "<!-- signals:end -->",
        ]
    )
    print(section)
    if args.write:
        write_section("signals", section)


if __name__ == "__main__":
    main()
