"""Every command the README and the demo's banner print runs as printed.

The commands are read from README.md and from the banner of a real demo server (started
with ``python3 dev.py demo`` in a subprocess), and run from the repository root with
this interpreter standing in for ``python3`` (``dev.py`` then uses this environment
instead of creating ``.venv/``). The same subprocess checks that Ctrl+C stops the demo
without a traceback and removes its temporary folder.
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CHEAP = {"childsafe", "age-token"}  # dev.py commands quick enough to run in a test
TIMEOUT = 60.0


def _env() -> dict[str, str]:
    """This checkout's childsafe first on the path, whatever is installed."""
    paths = [str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


def _commands(text: str) -> list[list[str]]:
    """The ``$ python3 dev.py ...`` lines of the console blocks in ``text``, as argv."""
    blocks = re.findall(r"```console\n(.*?)```", text, flags=re.DOTALL)
    lines = [line[2:] for block in blocks for line in block.splitlines() if line.startswith("$ ")]
    return [shlex.split(line, comments=True) for line in lines]


DEMO_FILES = ("playground.sqlite3", "playground-data", "report.html", "evidence.json")
"""The files the README's demo-data commands read and write, relative to the root."""


def _on_demo_data(argv: list[str]) -> bool:
    """Does this README command work on the data a ``demo --db`` run leaves?"""
    return any(name in arg for arg in argv for name in DEMO_FILES)


def _moved(argv: list[str], folder: Path) -> list[str]:
    """``argv`` with the demo's files in ``folder`` instead of the repository root
    (``sqlite:///playground.sqlite3`` becomes ``sqlite:////folder/playground.sqlite3``)."""
    out = []
    for arg in argv:
        names = [n for n in DEMO_FILES if arg.startswith((n, f"sqlite:///{n}"))]
        out.append(arg.replace(names[0], f"{folder}/{names[0]}", 1) if names else arg)
    return out


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    assert argv[:2] == ["python3", "dev.py"], argv
    return subprocess.run(  # noqa: S603 - the README's own commands
        [sys.executable, *argv[1:]],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


class TestReadme:
    def test_every_command_goes_through_dev_py(self) -> None:
        """Every console command in the README starts `python3 dev.py` with one of its
        commands, so it runs on a fresh clone (no `childsafe: command not found`)."""
        sys.path.insert(0, str(ROOT))
        try:
            import dev  # noqa: PLC0415 - the script at the repository root
        finally:
            sys.path.remove(str(ROOT))
        commands = _commands(README.read_text(encoding="utf-8"))

        assert len(commands) >= 6
        for argv in commands:
            assert argv[:2] == ["python3", "dev.py"], argv
            assert argv[2] in dev.COMMANDS, argv

    @pytest.mark.parametrize(
        "argv",
        [
            c
            for c in _commands(README.read_text(encoding="utf-8"))
            if c[2] in CHEAP and not _on_demo_data(c)
        ],
        ids=lambda argv: " ".join(argv[2:4]),
    )
    def test_command_runs_as_printed(self, argv: list[str]) -> None:
        """A README command exits 0 from the repository root, printing its answer."""
        result = _run(argv)

        assert result.returncode == 0, result.stderr
        assert result.stdout.strip()
        assert "Traceback" not in result.stderr

    def test_unknown_command(self) -> None:
        """dev.py names its commands when given another."""
        result = _run(["python3", "dev.py", "childsafes"])

        assert result.returncode == 2
        assert "age-token" in result.stdout


class TestPages:
    def test_age_page_command_runs_as_printed(self, tmp_path: Path) -> None:
        """The "Verify my age" page's command mints a token the page then accepts."""
        from examples.flask_app import create_app  # noqa: PLC0415

        app = create_app(tmp_path / "playground.sqlite3")
        client = app.test_client()
        client.post("/login", data={"account": "sam"})
        page = html.unescape(client.get("/age").get_data(as_text=True))
        printed = re.search(r"<code[^>]*>(python3 dev\.py [^<]+)</code>", page)
        assert printed is not None

        token = _run(shlex.split(printed[1]))
        client.post("/age", data={"token": token.stdout.strip()})
        after = client.get("/age").get_data(as_text=True)

        assert token.returncode == 0, token.stderr
        assert "--birthdate" in printed[1]
        assert "Your age token was accepted" in after


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _banner(process: subprocess.Popen[str]) -> list[str]:
    """The banner's lines, read until its age-token command."""
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if "age-token" in line:
            return lines
    pytest.fail(f"no banner from the demo: {lines!r}")


@pytest.fixture(name="demo")
def _demo() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``python3 dev.py demo --port N`` in its own process group, as in a terminal."""
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 - the demo itself
        [sys.executable, "dev.py", "demo", "--port", str(port)],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        yield process, f"http://127.0.0.1:{port}"
    finally:
        # The whole group, even when dev.py has already exited: a server it left
        # behind is still in the group, and must not outlive the test.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=TIMEOUT)


def _wait_until_serving(url: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/login", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"the demo never answered at {url}")


class TestDemo:
    def test_banner_commands_run_and_ctrl_c_cleans_up(
        self, demo: tuple[subprocess.Popen[str], str]
    ) -> None:
        """The banner's age-token command mints a token the running demo accepts; Ctrl+C
        then stops the demo and dev.py quietly, and the temporary folder is gone."""
        process, url = demo
        banner = _banner(process)
        _wait_until_serving(url)
        printed = [shlex.split(line.strip()) for line in banner if "python3 dev.py" in line]
        data_dir = Path(printed[0][printed[0].index("--data-dir") + 1])

        token = _run(printed[0])
        me = httpx.get(
            f"{url}/api/me", headers={"Authorization": f"Bearer {token.stdout.strip()}"}
        ).json()
        os.killpg(process.pid, signal.SIGINT)  # Ctrl+C reaches the whole group
        _, errors = process.communicate(timeout=TIMEOUT)

        assert f"http://127.0.0.1:{url.rsplit(':', 1)[1]}/" in banner[0]
        assert "sam" in banner[1]
        assert token.returncode == 0, token.stderr
        assert me["age_token"]["accepted"] is True
        assert me["band"] == "13_15"
        assert process.returncode == 0
        assert "Traceback" not in errors
        assert data_dir.parent.name.startswith("childsafe-playground-")
        assert not data_dir.parent.exists()

    def test_sigterm_cleans_up(self, demo: tuple[subprocess.Popen[str], str]) -> None:
        """A SIGTERM to the server (a process manager stopping it) also removes the folder."""
        process, url = demo
        banner = _banner(process)
        _wait_until_serving(url)
        line = next(line for line in banner if "--data-dir" in line)
        folder = Path(shlex.split(line)[shlex.split(line).index("--data-dir") + 1]).parent
        server = _server_pid(process.pid)

        os.kill(server, signal.SIGTERM)
        process.communicate(timeout=TIMEOUT)

        assert folder.exists() is False
        assert process.returncode == 0


def _server_pid(parent: int) -> int:
    """The demo server started by dev.py (its only child)."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def _fresh_database(request: pytest.FixtureRequest) -> str:
    """A new, empty PostgreSQL database on the test server, dropped after the test."""
    base = os.environ.get("CHILDSAFE_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("set CHILDSAFE_TEST_POSTGRES_URL to test against a real PostgreSQL")
    import psycopg  # noqa: PLC0415 - only with PostgreSQL configured

    name = f"childsafe_demo_{os.getpid()}_{time.monotonic_ns()}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    request.addfinalizer(drop)
    return base.rsplit("/", 1)[0] + "/" + name


class TestDemoData:
    """The README's commands on the data a ``demo --db`` run leaves: the transparency
    report with the audit trail's figures, and the trail verified and exported."""

    @pytest.mark.parametrize("engine", ["sqlite", "postgres"])
    def test_report_and_audit_commands_run_as_printed(
        self, tmp_path: Path, engine: str, request: pytest.FixtureRequest
    ) -> None:
        """As printed on SQLite; on PostgreSQL with the README's ``--store`` given to
        the demo and the same URL to the commands (a fresh database each run)."""
        commands = [c for c in _commands(README.read_text(encoding="utf-8")) if _on_demo_data(c)]
        demo, *after = [_moved(argv, tmp_path) for argv in commands]
        if engine == "postgres":
            url = _fresh_database(request)
            sqlite = f"sqlite:///{tmp_path}/playground.sqlite3"
            demo = [*demo, "--store", url]
            after = [[url if arg == sqlite else arg for arg in argv] for argv in after]
        assert demo[2] == "demo"
        assert [argv[3] for argv in after] == ["report", "audit", "audit", "audit"]
        port = _free_port()

        process = subprocess.Popen(  # noqa: S603 - the README's own command
            [sys.executable, *demo[1:], "--port", str(port)],
            cwd=ROOT,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_until_serving(url)
            with httpx.Client(base_url=url) as stranger:
                stranger.post("/login", data={"account": "stranger"})
                refused = stranger.post("/messages/maya", data={"text": "hi"})
            with httpx.Client(base_url=url) as sam:
                sam.post("/login", data={"account": "sam"})
                filed = sam.post(
                    "/report",
                    data={"kind": "account", "subject_id": "stranger", "category": "grooming"},
                )
        finally:
            os.killpg(process.pid, signal.SIGINT)
            _, errors = process.communicate(timeout=TIMEOUT)
        assert refused.status_code == 403
        assert filed.status_code == 201, filed.text
        assert process.returncode == 0, errors

        results = [_run(argv) for argv in after]

        for argv, result in zip(after, results, strict=True):
            assert result.returncode == 0, (argv, result.stdout, result.stderr)
            assert "Traceback" not in result.stderr
        page = (tmp_path / "report.html").read_text(encoding="utf-8")
        assert "Playground" in page or "Our platform" in page
        assert "not reported" not in page.lower()  # the trail's denials are on the page
        assert "VALID" in results[1].stdout
        assert "anchored by" in results[1].stdout
        assert "VALID" in results[3].stdout
        assert (tmp_path / "evidence.json").exists()
