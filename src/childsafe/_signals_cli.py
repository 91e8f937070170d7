"""``childsafe signals evaluate``: the rules on a labelled synthetic stream, beside the
naive baseline."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from childsafe._parsing import shown
from childsafe.signals._evaluate import evaluate
from childsafe.signals._synthetic import EVALUATION_SEED, generate

__all__ = ["add_signals_commands"]


def _count(maximum: int) -> Callable[[str], int]:
    """An argparse type: a whole number from 1 to ``maximum``. Beyond it a stream would
    run for hours or (days) reach past the year 9999 and end in a traceback."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a whole number, got {shown(text)}"
            ) from None
        if not 1 <= value <= maximum:
            raise argparse.ArgumentTypeError(f"expected 1 to {maximum:,}, got {shown(value)}")
        return value

    return parse


def _evaluate(args: argparse.Namespace) -> int:
    stream = generate(
        args.seed, benign_adults=args.benign_adults, instances=args.cases, days=args.days
    )
    result = evaluate(stream)
    print(result.table())
    return 0 if all(ok for _, ok in result.targets()) else 1


def add_signals_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``signals evaluate`` to the ``childsafe`` command's subcommands."""
    signals = commands.add_parser("signals", help="grooming-risk signals for human review")
    sub = signals.add_subparsers(dest="signals_command", required=True, metavar="COMMAND")
    ev = sub.add_parser(
        "evaluate",
        help="precision, recall, time to detection and false positives on a synthetic stream",
        description="Generate a labelled synthetic stream (grooming-like patterns and hard "
        "benign look-alikes), run the rules over it in memory, and print precision, recall, "
        "median time to detection and false positives per 10,000 benign active adults, per "
        "rule and combined, beside the naive baseline (every adult who contacts an "
        "unconnected minor). Exit status 1 if a target is not met.",
    )
    ev.add_argument(
        "--seed",
        type=int,
        default=EVALUATION_SEED,
        help=f"the stream's seed (default: the evaluation seed, {EVALUATION_SEED})",
    )
    ev.add_argument("--benign-adults", type=_count(1_000_000), default=10_000, metavar="N")
    ev.add_argument("--cases", type=_count(100_000), default=350, metavar="N", help="harmful cases")
    ev.add_argument("--days", type=_count(3650), default=42, metavar="N")
    ev.set_defaults(run=_evaluate)
