"""Side-by-side cost of parental consent: verifying grants and deciding with consents.

One HS256 consent grant is issued for a 13-15-year-old in Germany (below the age of
digital consent). Timed in one process, interleaved sample by sample:

1. plain ``jwt.decode`` of the grant (key prepared once, same audience, issuer and
   required claims): what an app would write by hand;
2. ``ConsentVerifier.decode``: the same plus the ``typ`` and claim checks;
3. ``ConsentVerifier.apply(child, [grant])`` against each revocation store: memory,
   SQLite (a file in a temporary directory), and, when ``CHILDSAFE_TEST_REDIS_URL`` /
   ``CHILDSAFE_TEST_POSTGRES_URL`` are set, Redis and PostgreSQL (one round trip each);
   then ``ConsentVerifier.apply_async`` against the same stores (memory called directly,
   SQLite in a worker thread, ``AsyncRedisRevocationStore`` and
   ``AsyncPostgresRevocationStore``), each awaited through one ``asyncio.Runner``, next to
   that runner running an empty coroutine (the cost of entering the loop);
4. ``Guard.check("feed.personalise", ...)`` for the consented account and for one whose
   consent lapsed (``parental_consent_required``), next to ``Guard.check("purchase")``
   (an own-account action without a consent gate) as the reference.

Every statement is first checked to give the expected answer. Run it with
``python3 benchmarks/bench_consent.py``; ``--write`` also updates the ``consent`` section
of ``benchmarks/RESULTS.md`` (between its markers) and leaves the rest of the file alone.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import jwt

from childsafe import Account, Guard, Reason
from childsafe.parental import (
    AsyncPostgresRevocationStore,
    AsyncRedisRevocationStore,
    AsyncRevocationStore,
    ConsentIssuer,
    ConsentVerifier,
    MemoryRevocationStore,
    PostgresRevocationStore,
    RedisRevocationStore,
    RevocationStore,
    SQLiteRevocationStore,
)

HERE: Final = Path(__file__).resolve().parent
RESULTS: Final = HERE / "RESULTS.md"
START: Final = "<!-- consent:start -->"
END: Final = "<!-- consent:end -->"
COMMAND: Final = "python3 benchmarks/bench_consent.py --write"


@dataclass
class Bench:
    name: str
    run: Callable[[], object]
    check: Callable[[object], bool]
    number: int = 1
    times: list[float] = field(default_factory=list)

    def median_us(self) -> float:
        return statistics.median(self.times) * 1e6

    def p95_us(self) -> float:
        return statistics.quantiles(self.times, n=20)[-1] * 1e6


def build(stack: ExitStack) -> list[Bench]:
    key = secrets.token_bytes(32)
    child = Account(id="c1", band="13_15", jurisdiction="DE", guardians={"p1"})
    token = ConsentIssuer(key).issue(child, "p1", "feed_personalisation:profiled")
    stores: dict[str, RevocationStore] = {"memory": MemoryRevocationStore()}
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
    stores["SQLite file"] = SQLiteRevocationStore(folder / "revocations.db")
    run_id = secrets.token_hex(6)
    redis_url = os.environ.get("CHILDSAFE_TEST_REDIS_URL")
    if redis_url:
        redis_store = RedisRevocationStore(redis_url, prefix=f"childsafe-bench-{run_id}:")
        stack.callback(redis_store.close)
        stores["Redis"] = redis_store
    postgres_url = os.environ.get("CHILDSAFE_TEST_POSTGRES_URL")
    if postgres_url:
        table = f"childsafe_bench_{run_id}"
        pg_store = PostgresRevocationStore(postgres_url, table=table)
        stack.callback(_drop_table, postgres_url, table)
        stack.callback(pg_store.close)
        stores["PostgreSQL"] = pg_store
    runner = stack.enter_context(asyncio.Runner())
    async_stores: dict[str, RevocationStore | AsyncRevocationStore] = {
        "memory store": stores["memory"],
        "SQLite file store (worker thread)": stores["SQLite file"],
    }
    if redis_url:
        async_redis = AsyncRedisRevocationStore(redis_url, prefix=f"childsafe-bench-{run_id}:")
        stack.callback(lambda: runner.run(async_redis.aclose()))
        async_stores["async Redis store"] = async_redis
    if postgres_url:
        async_pg = AsyncPostgresRevocationStore(postgres_url, table=f"childsafe_bench_{run_id}")
        stack.callback(lambda: runner.run(async_pg.aclose()))
        async_stores["async PostgreSQL store"] = async_pg
    verifier = ConsentVerifier(key, revocations=stores["memory"])
    prepared = jwt.get_algorithm_by_name("HS256").prepare_key(key)
    options: Any = {"require": ["iss", "aud", "sub", "iat", "exp", "jti"]}
    benches = [
        Bench(
            "plain jwt.decode (HS256)",
            lambda: jwt.decode(
                token,
                prepared,
                algorithms=["HS256"],
                audience="childsafe:consent",
                issuer="childsafe",
                options=options,
            ),
            lambda r: isinstance(r, dict) and r["sub"] == "c1",
        ),
        Bench(
            "ConsentVerifier.decode",
            lambda: verifier.decode(token),
            lambda r: getattr(r, "child", None) == "c1",
        ),
    ]
    for name, store in stores.items():
        each = ConsentVerifier(key, revocations=store)
        benches.append(
            Bench(
                f"ConsentVerifier.apply, {name} store",
                lambda each=each: each.apply(child, [token]),  # type: ignore[misc]
                lambda r: not getattr(r, "refused", True),
            )
        )

    async def nothing() -> None:
        pass

    benches.append(
        Bench(
            "asyncio.Runner.run(empty coroutine) (reference)",
            lambda: runner.run(nothing()),
            lambda r: r is None,
        )
    )
    for name, async_store in async_stores.items():
        each_async = ConsentVerifier(key, revocations=async_store)
        benches.append(
            Bench(
                f"ConsentVerifier.apply_async, {name}",
                lambda each=each_async: runner.run(each.apply_async(child, [token])),  # type: ignore[misc]
                lambda r: not getattr(r, "refused", True),
            )
        )
    guard = Guard()
    stored = Account(
        id="c1",
        band="13_15",
        jurisdiction="DE",
        guardians={"p1"},
        settings={"feed_personalisation": "profiled"},
    )
    consented = verifier.apply(stored, [token]).account
    benches += [
        Bench(
            'Guard.check("purchase") (reference)',
            lambda: guard.check("purchase", actor=stored),
            lambda r: getattr(r, "reason", None) is Reason.PARENT_APPROVAL_REQUIRED,
            number=200,
        ),
        Bench(
            'Guard.check("feed.personalise"), consented',
            lambda: guard.check("feed.personalise", actor=consented),
            lambda r: getattr(r, "reason", None) is Reason.PERMITTED,
            number=200,
        ),
        Bench(
            'Guard.check("feed.personalise"), consent lapsed',
            lambda: guard.check("feed.personalise", actor=stored),
            lambda r: getattr(r, "reason", None) is Reason.PARENTAL_CONSENT_REQUIRED,
            number=200,
        ),
    ]
    for bench in benches:
        if not bench.check(bench.run()):
            raise SystemExit(f"{bench.name}: unexpected answer {bench.run()!r}")
    return benches


def _drop_table(url: str, table: str) -> None:
    import psycopg  # noqa: PLC0415 - only when PostgreSQL is configured

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("DROP TABLE IF EXISTS {}").format(psycopg.sql.Identifier(table))
        )


def run(benches: list[Bench], samples: int, sample_ms: float) -> None:
    for bench in benches:
        per_call = min(timeit.Timer(bench.run).repeat(3, bench.number)) / bench.number
        bench.number = max(1, int(sample_ms / 1000 / max(per_call, 1e-9)))
    gc.collect()
    gc.disable()
    try:
        for _ in range(samples):
            for bench in benches:
                timer = timeit.Timer(bench.run)
                bench.times.append(timer.timeit(bench.number) / bench.number)
    finally:
        gc.enable()


def us(value: float) -> str:
    return f"{value:.2f} µs" if value < 10 else f"{value:.1f} µs"


def table(benches: list[Bench]) -> str:
    plain = benches[0].median_us()
    rows = ["| statement | median | p95 | vs plain `jwt.decode` |", "|---|---|---|---|"]
    for bench in benches:
        ratio = bench.median_us() / plain
        rows.append(
            f"| {bench.name} | {us(bench.median_us())} | {us(bench.p95_us())} | {ratio:.2f}x |"
        )
    return "\n".join(rows)


def section(benches: list[Bench], samples: int, sample_ms: float) -> str:
    return f"""{START}
## Consent grants

{table(benches)}

{samples} interleaved samples of about {sample_ms:g} ms each; Python
{platform.python_version()} on {platform.machine()} ({os.cpu_count()} CPUs), recorded
{time.strftime("%Y-%m-%d", time.gmtime())}. Regenerate with `{COMMAND}` (set
`CHILDSAFE_TEST_REDIS_URL` and `CHILDSAFE_TEST_POSTGRES_URL` to include those stores).
Compare the ratios within one run: absolute times depend on the machine and its load.
{END}"""


def write_section(text: str) -> None:
    current = RESULTS.read_text(encoding="utf-8")
    start, end = current.find(START), current.find(END)
    if start != -1 and end != -1:
        updated = current[:start] + text + current[end + len(END) :]
    else:
        updated = current.rstrip("\n") + "\n\n" + text + "\n"
    RESULTS.write_text(updated, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--sample-ms", type=float, default=20.0)
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        benches = build(stack)
        run(benches, args.samples, args.sample_ms)
    text = section(benches, args.samples, args.sample_ms)
    print(text)
    if args.write:
        write_section(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
