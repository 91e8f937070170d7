"""What the benchmark scripts share: interleaved ``timeit`` sampling, the machine and
package facts every results section records, and rewriting one section of RESULTS.md.

Each script owns a section of ``benchmarks/RESULTS.md`` between two HTML comments
(``<!-- decisions:start -->`` ... ``<!-- decisions:end -->``) and rewrites only that
section, so the scripts can be re-run one at a time.
"""

from __future__ import annotations

import gc
import math
import os
import platform
import time
import timeit
from collections.abc import Iterable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Protocol

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"


class Sampled(Protocol):
    """A timed statement: ``timer()`` builds its ``timeit.Timer``; ``number`` is the
    iterations per sample (set by :func:`run_interleaved`); ``samples`` collects the
    time per iteration of each sample, in nanoseconds."""

    number: int
    samples: list[float]

    def timer(self) -> timeit.Timer: ...


def ns_timer(stmt: str, namespace: dict[str, Any]) -> timeit.Timer:
    """A ``timeit.Timer`` for ``stmt`` in ``namespace`` that counts nanoseconds."""
    return timeit.Timer(stmt, globals=namespace, timer=time.perf_counter_ns)


def calibrate(timer: timeit.Timer, sample_ns: float) -> int:
    """The iterations per sample that make one sample take about ``sample_ns``."""
    number = 1
    while True:
        elapsed = timer.timeit(number)
        if elapsed >= sample_ns / 20:
            break
        number *= 10
    return max(1, math.ceil(number * sample_ns / elapsed))


def run_interleaved(benches: Sequence[Sampled], samples: int, sample_ms: float) -> None:
    """Calibrate, warm up, then time every bench ``samples`` times, one sample of each
    in turn, so drift on the machine hits all of them alike. ``timeit`` turns the
    garbage collector off while it times; it is run once at the end."""
    for bench in benches:
        bench.number = calibrate(bench.timer(), sample_ms * 1e6)
    timers = [b.timer() for b in benches]
    for bench, timer in zip(benches, timers, strict=True):
        timer.timeit(bench.number)  # warm-up, not recorded
    for _ in range(samples):
        for bench, timer in zip(benches, timers, strict=True):
            bench.samples.append(timer.timeit(bench.number) / bench.number)
    gc.collect()


def empty_loop_ns() -> float:
    """What one iteration of an empty ``timeit`` loop costs here, in nanoseconds."""
    empty = ns_timer("pass", {})
    return min(empty.repeat(5, 1_000_000)) / 1_000_000


def cpu_model() -> str:
    """The processor's model name, as the kernel reports it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """One line: processor, logical CPUs and kernel."""
    return f"{cpu_model()}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}"


def python() -> str:
    """One line: the interpreter and its version."""
    return f"{platform.python_implementation()} {platform.python_version()}"


def package_version(name: str) -> str:
    """The installed version of ``name``, or ``not installed``."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def packages(names: Iterable[str]) -> str:
    """``name version`` for each package, comma-separated."""
    return ", ".join(f"{name} {package_version(name)}" for name in names)


def write_section(name: str, text: str, *, first: bool = False) -> None:
    """Put ``text`` (which starts with ``<!-- name:start -->`` and ends with
    ``<!-- name:end -->``) in place of that section of RESULTS.md, read just before
    writing. A missing section goes first (``first=True``) or last; every other section
    is left as it is."""
    start_mark, end_mark = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if not (text.startswith(start_mark) and text.endswith(end_mark)):
        raise ValueError(f"the {name} section must start with {start_mark} and end with {end_mark}")
    current = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    start, end = current.find(start_mark), current.find(end_mark)
    if start != -1 and end > start:
        updated = current[:start] + text + current[end + len(end_mark) :]
    elif first:
        rest = current.lstrip("\n")
        updated = text + "\n" + ("\n" + rest if rest.strip() else "")
    else:
        updated = current.rstrip("\n") + ("\n\n" if current.strip() else "") + text + "\n"
    RESULTS.write_text(updated, encoding="utf-8")
