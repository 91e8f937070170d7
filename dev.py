"""Developer entry point: `python3 dev.py demo` and `python3 dev.py test`.

Needs only a Python 3.11+ interpreter. On first use it creates `.venv/` beside this
file, installs childsafe in editable mode with its development tools, and remembers
what it installed (a hash of pyproject.toml) so later runs start at once.

Commands:
    demo    the main job: the Playground example (Flask) on http://127.0.0.1:8000 with
            seeded demo accounts; `demo --port N` picks another port
    test    the whole suite: ruff, ruff format --check, mypy --strict, the docs built
            with warnings as errors, and pytest with branch coverage of at least 95 %
    bench   run the benchmarks and print the side-by-side tables
    docs    build the documentation site into docs/_build/html
    childsafe ARGS...
            childsafe's command line in the project's environment, e.g.
            `python3 dev.py childsafe explain --age 14 --jurisdiction GB`
    reference [--check]
            regenerate the reference tables committed under docs/reference/_generated
            (--check: exit 1 if any is out of date)
    age-token ARGS...
            an age token from the demo's local test issuer, e.g.
            `python3 dev.py age-token --data-dir DIR sam --age-band 13_15`

Run from a virtual environment that already has childsafe and its development tools
(for example `.venv/bin/python dev.py ...`), it uses that environment instead.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def _current_env() -> bool:
    """Whether this interpreter is a virtual environment with the project installed."""
    return sys.prefix != sys.base_prefix and all(
        importlib.util.find_spec(name) is not None for name in ("childsafe", "flask", "jwt")
    )


CURRENT = _current_env()
VENV = Path(sys.prefix) if CURRENT else ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = Path(sys.executable) if CURRENT else BIN / ("python.exe" if os.name == "nt" else "python")
COMMANDS = ("demo", "test", "bench", "docs", "childsafe", "age-token", "reference")
STAMP = VENV / ".childsafe-installed"
EXTRAS = "dev,bench"
COVERAGE_FLOOR = 95


def _wanted_stamp() -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    return f"{digest} {EXTRAS}"


def ensure_venv() -> None:
    """Create `.venv` and install the project into it, unless already current."""
    if sys.version_info < (3, 11):  # noqa: UP036 - a friendly message on old interpreters
        sys.exit(f"childsafe needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if CURRENT:
        return
    if not PYTHON.exists():
        print(f"dev.py: creating {VENV.relative_to(ROOT)}/ ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    if STAMP.exists() and STAMP.read_text() == _wanted_stamp():
        return
    print("dev.py: installing childsafe and its development tools ...", flush=True)
    pip = [str(PYTHON), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "install", "-e", f".[{EXTRAS}]"], check=True, cwd=ROOT)
    STAMP.write_text(_wanted_stamp())


def run(*args: str, echo: bool = True) -> int:
    """Run a command in the project's directory. Ctrl+C reaches it too (same terminal);
    this waits for it to finish cleanly instead of printing a traceback."""
    if echo:
        print("+", " ".join(args), flush=True)
    child = subprocess.Popen(args, cwd=ROOT)
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:
            continue


def tool(name: str) -> str:
    return str(BIN / name)


def cmd_test(extra: list[str]) -> int:
    steps: list[tuple[str, ...]] = [
        (tool("ruff"), "check", "."),
        (tool("ruff"), "format", "--check", "."),
        (tool("mypy"),),
        # The docs build takes seconds and the tests most of an hour: docs first.
        (
            tool("sphinx-build"),
            "-q",
            "-W",
            "-n",
            "--keep-going",
            "-b",
            "html",
            "docs",
            "docs/_build/html",
        ),
        (
            str(PYTHON),
            "-m",
            "pytest",
            "--cov=childsafe",
            "--cov-branch",
            "--cov-report=term",
            f"--cov-fail-under={COVERAGE_FLOOR}",
            *extra,
        ),
    ]
    failed = [" ".join(s[:2]) for s in steps if run(*s) != 0]
    if failed:
        print(f"dev.py test: FAILED: {', '.join(failed)}", flush=True)
        return 1
    print("dev.py test: all checks passed", flush=True)
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"dev.py: unknown command {command!r}; expected {', '.join(COMMANDS)}")
        return 2
    try:
        ensure_venv()
    except KeyboardInterrupt:
        return 130
    if command == "demo":
        return run(str(PYTHON), "-m", "examples.flask_app", *rest, echo=False)
    if command == "childsafe":
        return run(str(PYTHON), "-m", "childsafe.cli", *rest, echo=False)
    if command == "reference":
        return run(str(PYTHON), "docs/_ext/childsafe_reference.py", *rest, echo=False)
    if command == "age-token":
        return run(str(PYTHON), "-m", "examples.common.age_issuer", *rest, echo=False)
    if command == "test":
        return cmd_test(rest)
    if command == "bench":
        return run(str(PYTHON), "benchmarks/bench_decisions.py", *rest)
    return run(tool("sphinx-build"), "-W", "-n", "-b", "html", "docs", "docs/_build/html")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
