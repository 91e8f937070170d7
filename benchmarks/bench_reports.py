"""Time the annual transparency report over a million complaints.

Builds ``--n`` complaints (default 1,000,000) spread over two years, in every state of
the lifecycle, in a SQLite file (and in PostgreSQL when ``CHILDSAFE_TEST_POSTGRES_URL``
is set, in a schema of its own that is dropped afterwards), then times
``build_report`` for one calendar year plus rendering it as JSON and HTML: one
warm-up, then ``--repeat`` timed runs. The target: under 3 s on SQLite.

    .venv/bin/python benchmarks/bench_reports.py [--n 1000000] [--repeat 5] [--write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from _harness import machine, packages, python, write_section
from childsafe._bands import AgeBand
from childsafe.complaints import (
    Appeal,
    Complaint,
    ComplaintStore,
    Outcome,
    Reporter,
    ReporterRole,
    SQLiteComplaintStore,
    Status,
    Subject,
    SubjectKind,
)
from childsafe.reports import Period, build_report, render

TARGET_S = 3.0
YEAR = Period.year(2025)
START = dt.datetime(2024, 7, 1, tzinfo=dt.UTC).timestamp()
SPAN = 730 * 86400
CATEGORIES = (
    "grooming",
    "sexual_content",
    "bullying",
    "self_harm",
    "impersonation",
    "privacy",
    "other",
)
OUTCOMES = tuple(Outcome)
CHILD_BANDS = (AgeBand.UNDER_13, AgeBand.AGE_13_15, AgeBand.AGE_16_17)


def complaints(n: int, seed: int = 2835) -> Iterator[Complaint]:
    """``n`` complaints: 10% received, 10% in review, 60% resolved, 5% appealed, 15%
    appealed and decided (a third of those reversed)."""
    rng = random.Random(seed)
    utc = dt.UTC
    stamp = dt.datetime.fromtimestamp
    for i in range(n):
        received = START + rng.random() * SPAN
        role = rng.choice((ReporterRole.CHILD, ReporterRole.PARENT, ReporterRole.OTHER))
        band = rng.choice(CHILD_BANDS) if role is ReporterRole.CHILD else AgeBand.ADULT
        roll = rng.random()
        first = resolved = None
        outcome = None
        status = Status.RECEIVED
        appeals: tuple[Appeal, ...] = ()
        if roll >= 0.1:
            first = received + rng.expovariate(1 / 7200)
            status = Status.IN_REVIEW
        if roll >= 0.2:
            assert first is not None
            resolved = first + rng.expovariate(1 / 36000)
            outcome = rng.choice(OUTCOMES)
            status = Status.RESOLVED
        if roll >= 0.8:
            assert resolved is not None
            filed = stamp(resolved + 3600, utc)
            if roll < 0.85:
                appeals = (Appeal(filed_at=filed, outcome_before=outcome),)
                status = Status.APPEALED
            else:
                after = rng.choice(OUTCOMES) if rng.random() < 1 / 3 else outcome
                appeals = (
                    Appeal(
                        filed_at=filed,
                        decided_at=filed + dt.timedelta(hours=6),
                        reversed=after != outcome,
                        outcome_before=outcome,
                        outcome_after=after,
                    ),
                )
                outcome = after
        yield Complaint(
            id=f"c-{i:08d}",
            received_at=stamp(received, utc),
            category=rng.choice(CATEGORIES),
            reporter=Reporter(role, band, None),
            subject=Subject(SubjectKind.MESSAGE, f"m-{i}", f"u-{i % 50_000}"),
            status=status,
            first_action_at=None if first is None else stamp(first, utc),
            resolved_at=None if resolved is None else stamp(resolved, utc),
            outcome=outcome,
            appeals=appeals,
        )


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def measure(store: ComplaintStore, repeat: int) -> tuple[list[float], list[float], int]:
    """Report times (figures only) and end-to-end times (figures + JSON + HTML)."""
    total = 0

    def report() -> None:
        nonlocal total
        total = build_report(store, YEAR).to_dict()["complaints"]["total"]

    def end_to_end() -> None:
        document = build_report(store, YEAR).to_dict()
        render(document, "json")
        render(document, "html")

    report()  # warm-up: the file in the OS cache, as on a server that runs it
    figures = [timed(report) for _ in range(repeat)]
    whole = [timed(end_to_end) for _ in range(repeat)]
    return figures, whole, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="rewrite the section of RESULTS.md")
    args = parser.parse_args()
    rows: list[str] = []
    verdict = ""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "complaints.db"
        store = SQLiteComplaintStore(path)
        load = timed(lambda: store.add_many(complaints(args.n)))
        size = path.stat().st_size / 1e6
        figures, whole, total = measure(store, args.repeat)
        best = statistics.median(figures)
        verdict = "**pass**" if best < TARGET_S else "**FAIL**"
        rows.append(
            f"| SQLite (WAL, one file, {size:,.0f} MB) | {args.n:,} | {total:,} | {load:,.1f} | "
            f"**{best:.2f}** | {min(figures):.2f} | {statistics.median(whole):.2f} | {verdict} |"
        )
        print(rows[-1], flush=True)
    url = os.environ.get("CHILDSAFE_TEST_POSTGRES_URL")
    if url:
        import psycopg  # noqa: PLC0415

        from childsafe.complaints import PostgresComplaintStore  # noqa: PLC0415

        schema = f"childsafe_bench_{secrets.token_hex(4)}"
        try:
            pg = PostgresComplaintStore(url, schema=schema, timeout=300)
            load = timed(lambda: pg.add_many(complaints(args.n)))
            with psycopg.connect(url, autocommit=True) as db:
                db.execute(f"ANALYZE {schema}.childsafe_complaints")
            figures, whole, total = measure(pg, args.repeat)
            rows.append(
                f"| PostgreSQL (local, psycopg 3) | {args.n:,} | {total:,} | {load:,.1f} | "
                f"**{statistics.median(figures):.2f}** | {min(figures):.2f} | "
                f"{statistics.median(whole):.2f} | (for information) |"
            )
            print(rows[-1], flush=True)
        finally:
            with psycopg.connect(url, autocommit=True) as db:
                db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    section = "\n".join(
        [
            "<!-- reports:start -->",
            "# Transparency report benchmark",
            "",
            (
                f"The annual report (`build_report` for 2025) over {args.n:,} complaints spread "
                "over two years (about half of them in the year), in every state of the "
                "lifecycle. Grouping and the nearest-rank percentiles run in the database: one "
                "`GROUP BY` scan and two indexed `LIMIT 1 OFFSET k` reads per percentile pair "
                "on SQLite, `percentile_disc` on PostgreSQL. Times are the median of "
                f"{args.repeat} runs after one warm-up (the database file in the OS cache). "
                "Loading is timed for information only: it builds every case in Python and, "
                "on SQLite, maintains the report's indexes row by row."
            ),
            "",
            f"- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
            f"- Machine: {machine()}",
            f"- Python: {python()}",
            f"- Packages: {packages(['childsafe', 'psycopg'])}",
            (
                "- Reproduce: `.venv/bin/python benchmarks/bench_reports.py --write` "
                "(with `CHILDSAFE_TEST_POSTGRES_URL` set for the PostgreSQL row)"
            ),
            "- Target: the annual report in under 3 s on SQLite.",
            "",
            (
                "| Store | Complaints stored | In the year | Load (s) | Report (s) | Best (s) "
                "| Report + JSON + HTML (s) | Target < 3 s |"
            ),
            "|---|--:|--:|--:|--:|--:|--:|---|",
            *rows,
            "<!-- reports:end -->",
        ]
    )
    print(section)
    if args.write:
        write_section("reports", section)


if __name__ == "__main__":
    main()
