"""Evaluate the rules on a labelled synthetic stream, beside a naive baseline."""

from __future__ import annotations

import statistics
import time
from typing import Final

import attrs

from childsafe.signals._engine import Flag, Signals
from childsafe.signals._rules import Rule, SignalsConfig
from childsafe.signals._stores import MemorySignalStore
from childsafe.signals._synthetic import EXAMPLE_PHRASES, SyntheticStream

__all__ = ["BASELINE", "COMBINED", "Evaluation", "Row", "evaluate"]

BASELINE: Final = "baseline"
"""Flag every adult who contacts an unconnected minor."""
COMBINED: Final = "combined"

_MINORS: Final = frozenset({"under_13", "13_15", "16_17", "unknown"})
_REACH: Final = frozenset(
    {"contact", "friend_request", "follow", "message", "group", "media_request", "link"}
)


@attrs.frozen
class Row:
    """One detector's figures: ``precision`` (flagged accounts that were harmful),
    ``recall`` (harmful cases with an account flagged), median hours from a case's
    first harmful event to its first flag, and benign adults flagged per 10,000
    benign active adults."""

    name: str
    flagged: int
    precision: float
    recall: float
    median_hours: float | None
    fp_per_10k: float


@attrs.frozen
class Evaluation:
    """The rows, the stream's size and mix, and how long the rules took."""

    seed: int
    rows: tuple[Row, ...]
    events: int
    mix: dict[str, int]
    instances: int
    benign_active: int
    seconds: float

    def row(self, name: str) -> Row:
        """The row named ``name``."""
        return next(r for r in self.rows if r.name == name)

    def targets(self) -> list[tuple[str, bool]]:
        """The issue's targets and whether each is met."""
        base, comb = self.row(BASELINE), self.row(COMBINED)
        return [
            (f"recall {comb.recall:.3f} >= 0.9", comb.recall >= 0.9),
            (
                f"precision {comb.precision:.3f} >= 3 x baseline {base.precision:.3f}",
                comb.precision >= 3 * base.precision,
            ),
            (
                f"false positives {comb.fp_per_10k:.1f} <= baseline {base.fp_per_10k:.1f} / 5",
                comb.fp_per_10k <= base.fp_per_10k / 5,
            ),
            (
                f"median time to detection {_hours(comb.median_hours)} <= 48 h",
                comb.median_hours is not None and comb.median_hours <= 48,
            ),
        ]

    def table(self) -> str:
        """The table `childsafe signals evaluate` prints."""
        lines = [
            (
                f"seed {self.seed}: {self.events} events, {self.instances} harmful cases, "
                f"{self.benign_active} benign active adults; rules ran at "
                f"{self.events / self.seconds:,.0f} events/s"
            ),
            "mix: " + ", ".join(f"{k} {v}" for k, v in self.mix.items()),
            "",
            (
                f"{'detector':<20} {'flagged':>8} {'precision':>10} {'recall':>7} "
                f"{'median TTD':>11} {'FP/10k':>8}"
            ),
        ]
        lines.extend(
            f"{r.name:<20} {r.flagged:>8} {r.precision:>10.3f} {r.recall:>7.3f} "
            f"{_hours(r.median_hours):>11} {r.fp_per_10k:>8.1f}"
            for r in self.rows
        )
        lines.append("")
        lines.extend(f"{'met' if ok else 'NOT MET':<8} {text}" for text, ok in self.targets())
        return "\n".join(lines)


def _hours(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} h"


def _row(
    name: str,
    flagged: dict[str, float],
    stream: SyntheticStream,
    owner: dict[str, int],
    benign_active: int,
) -> Row:
    harmful = [a for a in flagged if a in owner]
    benign = [a for a in flagged if a in stream.benign]
    first: dict[int, float] = {}
    for a in harmful:
        i = owner[a]
        first[i] = min(first.get(i, flagged[a]), flagged[a])
    delays = [
        max(0.0, first[i] - stream.instances[i].first_harm) / 3600
        for i in range(len(stream.instances))
        if i in first
    ]
    return Row(
        name,
        len(flagged),
        len(harmful) / len(flagged) if flagged else 0.0,
        len(first) / len(stream.instances) if stream.instances else 0.0,
        statistics.median(delays) if delays else None,
        10_000 * len(benign) / benign_active if benign_active else 0.0,
    )


def evaluate(stream: SyntheticStream, config: SignalsConfig | None = None) -> Evaluation:
    """Run the rules (in memory) over ``stream`` and score every detector. Without a
    ``config``, the defaults with :data:`EXAMPLE_PHRASES` opted in."""
    config = config if config is not None else SignalsConfig(phrases=EXAMPLE_PHRASES)
    store = MemorySignalStore()
    signals = Signals(config, store=store)
    for account, (band, idents) in stream.accounts.items():
        signals.account(account, band=band, identifiers=idents)
    combined: dict[str, float] = {}

    def on_flag(flag: Flag) -> None:
        combined.setdefault(flag.actor, flag.at.timestamp())

    signals.add_listener(on_flag)
    baseline: dict[str, float] = {}
    active: set[str] = set()
    observe = signals.observe
    began = time.perf_counter()
    for e in stream.events:
        observe(e.kind, e.actor, e.target, at=e.t, actor_band=e.actor_band,
                target_band=e.target_band, allowed=e.allowed, connected=e.connected,
                mutual=e.mutual, text=e.text)  # fmt: skip
    seconds = time.perf_counter() - began
    for e in stream.events:
        active.add(e.actor)
        if (
            e.actor_band == "adult"
            and e.target_band in _MINORS
            and e.kind in _REACH
            and not e.connected
            and e.actor not in baseline
        ):
            baseline[e.actor] = e.t
    by_rule: dict[Rule, dict[str, float]] = {r: {} for r in Rule}
    rows = [*store._actors.items()]  # noqa: SLF001 - the package reads its own store
    for actor, arec in rows:
        for ev in arec[3]:
            got = by_rule[Rule(ev[0])]
            got[actor] = min(got.get(actor, ev[1]), ev[1])
    for (actor, _), rec in store._pairs.items():  # noqa: SLF001
        for ev in rec[1]:
            got = by_rule[Rule(ev[0])]
            got[actor] = min(got.get(actor, ev[1]), ev[1])
    owner = {a: i for i, inst in enumerate(stream.instances) for a in inst.accounts}
    benign_active = len(active & stream.benign.keys())
    table = [_row(BASELINE, baseline, stream, owner, benign_active)]
    table.extend(_row(r.value, by_rule[r], stream, owner, benign_active) for r in Rule)
    table.append(_row(COMBINED, combined, stream, owner, benign_active))
    return Evaluation(
        stream.seed,
        tuple(table),
        len(stream.events),
        stream.mix,
        len(stream.instances),
        benign_active,
        seconds,
    )
