"""``childsafe report``: the transparency report of a period from a complaint store,
as JSON, CSV (DSA template layout), Markdown or HTML.

Registered on the ``childsafe`` command by :func:`add_report_command`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import IO, Final

from childsafe.complaints import open_store
from childsafe.exceptions import ChildsafeError
from childsafe.reports import FORMATS, AuditEvidence, Period, build_report, render

__all__ = ["ProgressBar", "add_report_command"]

DEFAULT_STORE: Final = "sqlite:///childsafe.db"
_STEPS: Final = ("complaints", "evidence", "census", "render", "write")
_SUFFIXES: Final = {".json": "json", ".csv": "csv", ".md": "md", ".html": "html", ".htm": "html"}


class ReportUsageError(ChildsafeError, ValueError):
    """A bad ``childsafe report`` option (exit status 2)."""


class ProgressBar:
    """A one-line progress bar on ``stream`` (stderr), redrawn at each step; silent
    unless ``enabled``."""

    def __init__(self, steps: tuple[str, ...], stream: IO[str], *, enabled: bool) -> None:
        self.steps = steps
        self.stream = stream
        self.enabled = enabled
        self.done = 0
        self.started = time.monotonic()

    def step(self, name: str) -> None:
        """Step ``name`` (one of ``steps``) starts: the ones before it are done."""
        self.done = self.steps.index(name)
        self._draw(name)

    def finish(self) -> None:
        self.done = len(self.steps)
        self._draw("done")
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, name: str) -> None:
        if not self.enabled:
            return
        width = 24
        filled = width * self.done // len(self.steps)
        elapsed = time.monotonic() - self.started
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{len(self.steps)} "
            f"{name:<10} {elapsed:5.1f}s"
        )
        self.stream.flush()


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def _period(args: argparse.Namespace) -> Period:
    if args.start is None and args.end is None:
        return Period.last_year()
    if args.start is None or args.end is None:
        raise ReportUsageError("give both --from and --to (or neither, for last calendar year)")
    if args.end < args.start:
        raise ReportUsageError(f"--to {args.end} is before --from {args.start}")
    return Period(args.start, args.end)


def _format(args: argparse.Namespace) -> str:
    if args.format is not None:
        return str(args.format)
    if args.output is not None and args.output != "-":
        found = _SUFFIXES.get(Path(args.output).suffix.lower())
        if found is not None:
            return found
    return "json"


def _run(args: argparse.Namespace) -> int:
    period = _period(args)
    fmt = _format(args)
    bar = ProgressBar(_STEPS, sys.stderr, enabled=args.progress or sys.stderr.isatty())
    store = open_store(args.store, create=False)
    try:
        evidence = None if args.audit is None else AuditEvidence(args.audit)
    except ChildsafeError:
        store.close()
        raise
    try:
        report = build_report(
            store, period, platform=args.platform, evidence=evidence, progress=bar.step
        )
    finally:
        store.close()
        if evidence is not None:
            evidence.close()
    bar.step("render")
    text = render(report.to_dict(), fmt)  # type: ignore[arg-type]
    bar.step("write")
    if args.output is None or args.output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        try:
            Path(args.output).write_text(text, encoding="utf-8", newline="")
        except OSError as e:
            raise ReportUsageError(f"cannot write {args.output}: {e.strerror}") from None
        except ValueError:  # open() refuses a path holding a NUL byte
            raise ReportUsageError(
                f"cannot write {args.output!r}: a NUL byte in the path"
            ) from None
    bar.finish()
    return 0


def add_report_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``report`` to the ``childsafe`` command's subcommands."""
    report = commands.add_parser(
        "report",
        help="the transparency report of a period (JSON, CSV, Markdown or HTML)",
        description="The transparency report of a period from a complaint store: complaints "
        "by category, reporter and outcome, time to first action and to resolution (median "
        "and 90th percentile, nearest rank), appeals, and the latest census of child "
        "accounts. Without --from/--to: the last calendar year.",
    )
    report.add_argument("--from", dest="start", type=_date, metavar="YYYY-MM-DD")
    report.add_argument("--to", dest="end", type=_date, metavar="YYYY-MM-DD", help="inclusive")
    report.add_argument(
        "--format", "-f", choices=FORMATS, help="default: from the -o suffix, else json"
    )
    report.add_argument("-o", "--output", metavar="FILE", help="default: standard output")
    report.add_argument(
        "--store",
        default=DEFAULT_STORE,
        metavar="URL",
        help=f"sqlite:///path.db, postgresql://... (default: {DEFAULT_STORE})",
    )
    report.add_argument(
        "--audit",
        metavar="URL",
        help="the audit trail's store (sqlite:///audit.db, postgresql://...): denials by "
        "reason and proactive detections (default: not reported)",
    )
    report.add_argument("--platform", default="Our platform", help="the name on the report")
    report.add_argument(
        "--progress",
        action="store_true",
        help="show a progress bar on stderr even when it is not a terminal",
    )
    report.set_defaults(run=_run)
