"""Time the annual transparency report over 1 million complaints and 10 million audit
records.

Builds ``--records`` audit records (default 10,000,000; chained through the store's own
write path, in batches) spread over two years, and ``--complaints`` complaints (default
1,000,000, as in ``bench_reports.py``), in two SQLite files; then times the report's
evidence queries on the trail (denials by reason, proactive detections) and the whole
annual report with that evidence: one warm-up, then ``--repeat`` timed runs. A benchmark,
not part of CI (loading 10 million records takes minutes).

    .venv/bin/python benchmarks/bench_audit_report.py [--records 10000000] [--write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from _harness import machine, packages, python, write_section
from bench_reports import YEAR, complaints
from childsafe.audit import Draft, SQLiteAuditStore
from childsafe.audit._records import make_draft
from childsafe.complaints import SQLiteComplaintStore
from childsafe.reports import AuditEvidence, build_report

START = dt.datetime(2024, 7, 1, tzinfo=dt.UTC)
SPAN_S = 730 * 86400
REASONS = ("not_connected", "setting_off", "no_mutual_connection", "quiet_hours", "blocked")
ACTIONS = ("dm.send", "friend.request", "profile.view", "location.view", "comment")
BATCH = 20_000


def drafts(n: int, seed: int = 2024) -> Iterator[Draft]:
    """``n`` records in time order: 80% decisions (half of them denials), 12% setting
    changes, 5% consent grants, 2% signal flags, 1% proactive case outcomes."""
    rng = random.Random(seed)
    step = SPAN_S / n
    accounts = [f"ps:demo:{i:012x}" for i in range(50_000)]
    for i in range(n):
        at = START + dt.timedelta(seconds=i * step)
        roll = rng.random()
        actor, target = rng.choice(accounts), rng.choice(accounts)
        if roll < 0.8:
            allowed = roll < 0.4
            data = {
                "action": rng.choice(ACTIONS),
                "allowed": allowed,
                "reason": "permitted" if allowed else rng.choice(REASONS),
            }
            yield make_draft("decision", time=at, actor=actor, target=target, data=data)
        elif roll < 0.92:
            data = {"setting": "direct_messages", "value": "nobody", "by": "self"}
            yield make_draft("setting_change", time=at, actor=actor, data=data)
        elif roll < 0.97:
            yield make_draft("consent_grant", time=at, actor=actor, target=target, data={})
        elif roll < 0.99:
            data = {"signal": "fan_out", "score": 80}
            yield make_draft("signal_flag", time=at, actor=actor, target=target, data=data)
        else:
            outcome = rng.choice(("account_restricted", "no_violation", "content_removed"))
            data = {"case": f"c{i}", "outcome": outcome, "proactive": True}
            yield make_draft("case_outcome", time=at, target=target, data=data)


def load(store: SQLiteAuditStore, n: int) -> None:
    batch: list[Draft] = []
    for draft in drafts(n):
        batch.append(draft)
        if len(batch) == BATCH:
            store.append(batch)
            batch = []
    if batch:
        store.append(batch)


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def repeat(run: Callable[[], object], times: int) -> list[float]:
    run()  # warm-up: the files in the OS cache
    return [timed(run) for _ in range(times)]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--complaints", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="rewrite the section of RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        audit = SQLiteAuditStore(Path(tmp) / "audit.db")
        audit_load = timed(lambda: load(audit, args.records))
        audit_mb = sum(p.stat().st_size for p in Path(tmp).glob("audit.db*")) / 1e6
        print(f"audit: {args.records:,} records in {audit_load:,.0f} s ({audit_mb:,.0f} MB)")
        cases = SQLiteComplaintStore(Path(tmp) / "complaints.db")
        cases_load = timed(lambda: cases.add_many(complaints(args.complaints)))
        print(f"complaints: {args.complaints:,} in {cases_load:,.0f} s", flush=True)
        evidence = AuditEvidence(audit)
        denials = repeat(lambda: evidence.denials_by_reason(YEAR.since, YEAR.until), args.repeat)
        detections = repeat(
            lambda: evidence.proactive_detections(YEAR.since, YEAR.until), args.repeat
        )
        whole = repeat(lambda: build_report(cases, YEAR, evidence=evidence), args.repeat)
        in_year = sum(evidence.denials_by_reason(YEAR.since, YEAR.until).values())
    best = statistics.median(whole)
    verdict = "**pass**" if best < 3.0 else "**over 3 s**"
    section = "\n".join(
        [
            "<!-- audit-report:start -->",
            "# Transparency report over the audit trail",
            "",
            (
                f"The annual report (`build_report` for 2025) with its evidence read from the "
                f"audit trail (`AuditEvidence`): {args.complaints:,} complaints and "
                f"{args.records:,} chained audit records spread over two years, each in its "
                "own SQLite file (WAL). Denials are counted by a `GROUP BY` over the kind and "
                "time index; detections by counting `signal_flag` records and reading the "
                "proactive `case_outcome` ones. Median of "
                f"{args.repeat} runs after one warm-up. A benchmark, not part of CI."
            ),
            "",
            f"- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
            f"- Machine: {machine()}",
            f"- Python: {python()}",
            f"- Packages: {packages(['childsafe'])}",
            "- Reproduce: `.venv/bin/python benchmarks/bench_audit_report.py --write`",
            "",
            "| Step | Median (s) | Best (s) |",
            "|---|--:|--:|",
            (
                f"| Denials by reason ({in_year:,} denials in the year) | "
                f"{statistics.median(denials):.2f} | {min(denials):.2f} |"
            ),
            (
                f"| Proactive detections | {statistics.median(detections):.2f} | "
                f"{min(detections):.2f} |"
            ),
            (
                f"| Whole annual report with the trail's evidence | **{best:.2f}** | "
                f"{min(whole):.2f} |"
            ),
            "",
            (
                f"Loading (for information): {args.records:,} audit records in {audit_load:,.0f} s "
                f"({audit_mb:,.0f} MB, through the store's chained batch write), "
                f"{args.complaints:,} complaints in {cases_load:,.0f} s. Under 3 s: {verdict}."
            ),
            "<!-- audit-report:end -->",
        ]
    )
    print(section)
    if args.write:
        write_section("audit-report", section)


if __name__ == "__main__":
    main()
