from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from childsafe import __version__
from childsafe._render import table, wrap
from childsafe.cli import main

Write = Callable[[str, str], Path]

WIDTH = 120


def _width(text: str) -> int:
    return max(len(line) for line in text.splitlines())


@pytest.fixture(name="write")
def _write(tmp_path: Path) -> Write:
    """Write a config file into tmp_path and return its path."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture(name="run")
def _run(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run `main` in-process and return the exit status, stdout and stderr."""

    def run(*argv: str | Path) -> tuple[int, str, str]:
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture(name="run_json")
def _run_json(run: Callable[..., tuple[int, str, str]]) -> Callable[..., tuple[int, Any]]:
    """Run `main` with `--format json` and return the exit status and parsed output."""

    def run_json(*argv: str | Path) -> tuple[int, Any]:
        code, out, err = run(*argv, "--format", "json")
        assert err == ""
        return code, json.loads(out)

    return run_json


Run = Callable[..., tuple[int, str, str]]
RunJson = Callable[..., tuple[int, Any]]


class TestMain:
    def test_version(self, run: Run) -> None:
        """`--version` prints the installed version and exits 0."""
        code, out, _ = run("--version")

        assert code == 0
        assert out.strip() == f"childsafe {__version__}"

    def test_help_lists_commands(self, run: Run) -> None:
        """`--help` names every command and exits 0."""
        code, out, _ = run("--help")

        assert code == 0
        for command in ("explain", "check", "matrix", "diff", "demo"):
            assert command in out

    def test_no_command_is_a_usage_error(self, run: Run) -> None:
        """Without a command, the usage is printed to stderr with exit status 2."""
        code, out, err = run()

        assert code == 2
        assert out == ""
        assert "usage: childsafe" in err

    def test_unknown_command(self, run: Run) -> None:
        """An unknown command is a usage error."""
        code, _, err = run("explian")

        assert code == 2
        assert "invalid choice: 'explian'" in err

    def test_closed_pipe_stops_quietly(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Output into a pipe whose reader has gone ends with status 1 and no traceback."""
        read_end, write_end = os.pipe()
        os.close(read_end)
        with os.fdopen(write_end, "w", encoding="utf-8") as out, monkeypatch.context() as patch:
            patch.setattr(sys, "stdout", out)
            code = main(["matrix"])

        assert code == 1


class TestEntryPoints:
    def test_console_script(self) -> None:
        """The installed `childsafe` script runs the CLI."""
        script = Path(sys.executable).parent / ("childsafe.exe" if os.name == "nt" else "childsafe")

        result = subprocess.run(  # noqa: S603 - our own installed script
            [str(script), "explain", "--age", "14", "--jurisdiction", "GB"],
            capture_output=True,
            text=True,
            check=False,
        )

        assert result.returncode == 0, result.stderr
        assert "not_connected" in result.stdout

    def test_python_dash_m(self) -> None:
        """`python -m childsafe.cli` runs the CLI and passes its exit status on."""
        result = subprocess.run(
            [sys.executable, "-m", "childsafe.cli", "explain", "--age", "-3"],
            capture_output=True,
            text=True,
            check=False,
        )

        assert result.returncode == 2
        assert "age must be between 0 and 130" in result.stderr
        assert "Traceback" not in result.stderr


class TestExplain:
    def test_gb_fourteen_year_old(self, run: Run) -> None:
        """A 14-year-old in GB cannot be messaged, suggested or located by strangers, and the
        output says why."""
        code, out, err = run("explain", "--age", "14", "--jurisdiction", "GB")

        assert (code, err) == (0, "")
        assert "childsafe explain: a 14-year-old in GB" in out
        assert "age 14; band 13_15" in out
        assert "overlays applied        GB" in out
        assert "age of digital consent  13" in out
        rules = out.split("Rules for 13_15 in GB")[1].split("Sources")[0]
        dm_rule = next(line.split() for line in rules.splitlines() if "direct_messages" in line)
        assert (
            " ".join(dm_rule) == "direct_messages connections connections nobody yes baseline + GB"
        )
        location = next(line.split() for line in rules.splitlines() if "location_sharing" in line)
        assert location[1] == "off"
        stranger = out.split("What a stranger can do")[1]
        assert "dm.send         DENIED  not_connected" in stranger
        assert "friend.suggest  DENIED  setting_off" in stranger
        assert "location.view   DENIED  setting_off" in stranger
        assert "the target's direct_messages is 'connections' (13_15)" in stranger
        assert "remedy   They need to be connected." in stranger
        assert "Ofcom ICU F1" in stranger
        assert _width(out) <= WIDTH

    def test_gb_fourteen_year_old_json(self, run_json: RunJson) -> None:
        """The JSON form carries the same rules, facts and decisions."""
        code, data = run_json("explain", "--age", "14", "--jurisdiction", "gb")

        assert code == 0
        assert data["schema"] == "childsafe.explain/1"
        assert data["policy"] == {
            "name": "minimum",
            "source": "baseline:minimum",
            "jurisdictions": [],
        }
        assert data["account"] == {
            "age": 14,
            "birth_date": None,
            "on": None,
            "band": "13_15",
            "resolved_band": "13_15",
        }
        assert data["jurisdiction"]["key"] == "GB"
        assert data["jurisdiction"]["overlays"] == ["GB"]
        assert data["jurisdiction"]["age_of_digital_consent"] == 13
        assert data["jurisdiction"]["minimum_account_age"] is None
        assert data["jurisdiction"]["notes"]
        dm = data["rules"]["direct_messages"]
        assert dm["default"] == dm["floor"] == "connections"
        assert (dm["changeable_by"], dm["prompt_on_loosen"]) == ("nobody", True)
        assert dm["layers"] == ["baseline:minimum", "overlay:GB"]
        assert {"id": "ofcom-icu-f1", "label": "Ofcom ICU F1"}.items() <= dm["citations"][0].items()
        assert dm["note"] is None
        assert data["rules"]["quiet_hours"]["floor"] == "22:00-06:00"
        assert data["rules"]["daily_time_reminder"]["default"] == 60
        decisions = {d["action"]: d for d in data["decisions"]}
        assert list(decisions) == [
            "dm.send",
            "friend.suggest",
            "friend.request",
            "profile.view",
            "location.view",
        ]
        assert not any(d["allowed"] for d in decisions.values())
        assert decisions["dm.send"]["reason"] == "not_connected"
        assert decisions["friend.suggest"]["reason"] == "setting_off"
        assert decisions["location.view"]["setting"] == "location_sharing"
        assert decisions["dm.send"]["scenario"].startswith("a stranger")

    def test_unknown_age_is_resolved_by_the_policy(self, run: Run) -> None:
        """Without an age the account is unknown, and the output says what the policy makes
        of it."""
        code, out, _ = run("explain")

        assert code == 0
        assert "an account of unknown age" in out
        assert "band unknown, which this policy resolves to under_13" in out
        assert "fail closed" in out
        assert "Rules for under_13" in out
        assert "platform-wide rules" in out

    def test_unknown_band_by_name(self, run_json: RunJson) -> None:
        """`--band unknown` is the same as giving no age."""
        _, data = run_json("explain", "--band", "unknown")

        assert data["account"]["band"] == "unknown"
        assert data["account"]["resolved_band"] == "under_13"
        assert data["jurisdiction"]["key"] is None

    def test_band(self, run: Run) -> None:
        """`--band` explains that band, and an adult's stranger actions are allowed."""
        code, out, _ = run("explain", "--band", "adult")

        assert code == 0
        assert "an account in band adult" in out
        assert "dm.send         allowed  permitted" in out

    def test_birth_date_on_a_day(self, run_json: RunJson) -> None:
        """A birth date and a reference day give the age on that day."""
        _, data = run_json("explain", "--birth-date", "2010-03-01", "--on", "2026-02-28")

        assert data["account"]["age"] == 15
        assert data["account"]["band"] == "13_15"
        assert (data["account"]["birth_date"], data["account"]["on"]) == (
            "2010-03-01",
            "2026-02-28",
        )

    def test_birth_date_defaults_to_today(self, run: Run) -> None:
        """Without `--on`, the age is taken today."""
        code, out, _ = run("explain", "--birth-date", "1970-01-01")

        assert code == 0
        assert "born 1970-01-01, age" in out
        assert "band adult" in out

    def test_age_facts_for_the_jurisdiction(self, run: Run) -> None:
        """Ages below a minimum account age or the age of digital consent are pointed out."""
        _, florida, _ = run("explain", "--age", "13", "--jurisdiction", "US-FL")
        _, us, _ = run("explain", "--age", "12", "--jurisdiction", "US")

        assert "minimum account age     14" in florida
        assert "at 13 this person may not hold an account here (minimum 14)" in florida
        assert "consent" not in florida.split("About")[0].split("minimum account age")[1]
        assert "at 12 consent-based processing needs a parent's consent" in us

    def test_subdivision_without_its_own_overlay(self, run_json: RunJson) -> None:
        """A US state without an overlay gets the country's."""
        code, data = run_json("explain", "--age", "12", "--jurisdiction", "us-wa")

        assert code == 0
        assert data["jurisdiction"]["key"] == "US-WA"
        assert data["jurisdiction"]["overlays"] == ["US"]

    def test_config_notes_and_layers(self, run: Run, write: Write) -> None:
        """A config's rules and notes show up, with the config as a layer."""
        config = write(
            "platform.toml",
            """
            [bands.13_15.live_streaming]
            floor = "off"
            note = "No live streaming for under-16s on this platform."
            """,
        )

        code, out, _ = run("explain", "--age", "14", "--config", config)

        assert code == 0
        assert str(config) in out
        assert "the 'minimum' baseline with the config" in out
        assert "baseline + config" in out
        assert "Notes from the config" in out
        assert "No live streaming for under-16s on this platform." in out

    def test_jurisdictions_named_by_the_config(
        self, run: Run, run_json: RunJson, write: Write
    ) -> None:
        """Overlays a config applies to every account are shown for the platform-wide rules."""
        config = write("platform.toml", 'jurisdiction = ["GB", "US-NY"]\n')

        _, platform, _ = run("explain", "--age", "16", "--config", config)
        _, in_fr, _ = run("explain", "--age", "16", "--config", config, "--jurisdiction", "FR")
        _, data = run_json("explain", "--config", config)

        assert "overlays applied        GB, US, US-NY" in platform
        assert "overlays applied        GB, US, US-NY, EU, FR" in in_fr
        assert data["policy"]["jurisdictions"] == ["GB", "US-NY"]

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (["--age", "131"], "age must be between 0 and 130, got 131"),
            (["--band", "teen"], "unknown age band 'teen'"),
            (["--birth-date", "2030-01-01", "--on", "2025-01-01"], "is after 2025-01-01"),
            (["--on", "2025-01-01"], "--on only applies with --birth-date"),
            (["--jurisdiction", "Britain"], "is not an ISO 3166-1 alpha-2 code"),
            (["--jurisdiction", "UK"], "did you mean 'GB'?"),
            (["--jurisdiction", "ZZ"], "'ZZ' is not an ISO 3166-1 alpha-2 country code"),
            (["--jurisdiction", "US-CAL"], "did you mean 'US-CA' or 'US-AL'?"),
            (["--jurisdiction", "JP"], "no overlay is known for jurisdiction 'JP'"),
        ],
    )
    def test_bad_input(self, run: Run, argv: list[str], message: str) -> None:
        """Bad ages, bands, dates and jurisdictions exit 2 with a message, no traceback."""
        code, out, err = run("explain", *argv)

        assert code == 2
        assert out == ""
        assert err.startswith("childsafe explain: error: ")
        assert message in err

    @pytest.mark.parametrize(
        "argv",
        [
            ["--birth-date", "01/02/2010"],
            ["--age", "fourteen"],
            ["--age", "14", "--band", "adult"],
            ["--format", "yaml"],
        ],
    )
    def test_usage_errors(self, run: Run, argv: list[str]) -> None:
        """Malformed options are usage errors with exit status 2."""
        code, _, err = run("explain", *argv)

        assert code == 2
        assert "usage: childsafe explain" in err

    def test_config_error(self, run: Run, write: Write) -> None:
        """An invalid config exits 2 and lists its problems."""
        config = write("bad.toml", "[bands.13_15.direct_messages]\ndefault = 'everyone'\n")

        code, out, err = run("explain", "--config", config)

        assert code == 2
        assert out == ""
        assert f"{config}: bands.13_15.direct_messages.default: 'everyone' is below" in err

    @pytest.mark.parametrize("age", ["9", "12", "15", "17", "40"])
    @pytest.mark.parametrize("jurisdiction", ["GB", "FR", "US-CA", "BR"])
    def test_fits_the_terminal(self, run: Run, age: str, jurisdiction: str) -> None:
        """The table output fits 120 columns."""
        code, out, _ = run("explain", "--age", age, "--jurisdiction", jurisdiction)

        assert code == 0
        assert _width(out) <= WIDTH


class TestCheck:
    def test_valid_files(self, run: Run, write: Write) -> None:
        """Each valid file gets one OK line, and the exit status is 0."""
        toml = write(
            "a.toml",
            """
            jurisdiction = "GB"
            [bands.16_17.direct_messages]
            default = "nobody"
            """,
        )
        json_file = write("b.json", '{"bands": {"adult": {"purchases": {"floor": "on"}}}}')
        empty = write("c.toml", "")

        code, out, err = run("check", toml, json_file, empty)

        assert (code, err) == (0, "")
        assert out.splitlines() == [
            f"{toml}: OK (baseline 'minimum'; jurisdiction GB; 1 rule set by this config)",
            f"{json_file}: OK (baseline 'minimum'; jurisdiction none; 1 rule set by this config)",
            f"{empty}: OK (baseline 'minimum'; jurisdiction none; 0 rules set by this config)",
        ]

    def test_every_problem_is_reported(self, run: Run, write: Write) -> None:
        """Invalid files exit 1, with every problem of every file on stderr."""
        good = write("good.toml", "")
        bad = write(
            "bad.toml",
            """
            [bands.13_15.profile_visibility]
            floor = "everyone"
            [bands.tween.tagging]
            default = "nobody"
            """,
        )
        missing = good.parent / "missing.toml"

        code, out, err = run("check", good, bad, missing)

        assert code == 1
        assert (
            out
            == f"{good}: OK (baseline 'minimum'; jurisdiction none; 0 rules set by this config)\n"
        )
        assert err.splitlines() == [
            (
                f"{bad}: bands.13_15.profile_visibility.floor: 'everyone' is not one of "
                "'connections', 'public'"
            ),
            (
                f"{bad}: bands.tween: unknown age band 'tween'; expected one of 'under_13', "
                "'13_15', '16_17', 'adult'"
            ),
            f"{missing}: no such file",
            "childsafe check: 3 problems in 2 of 3 files",
        ]

    def test_loosened_floor_is_refused_with_an_actionable_message(
        self, run: Run, write: Write
    ) -> None:
        """A config that loosens a floor fails, naming the key, what is allowed and why."""
        config = write(
            "loose.toml",
            """
            [bands.13_15.direct_messages]
            floor = "everyone"
            """,
        )

        code, _, err = run("check", config)

        assert code == 1
        first, summary = err.splitlines()
        assert first.startswith(f"{config}: bands.13_15.direct_messages.floor: ")
        assert "'everyone' would loosen the floor 'connections' for 13_15" in first
        assert "allowed: 'nobody', 'connections'" in first
        assert "Ofcom ICU F1" in first
        assert summary == "childsafe check: 1 problem in 1 of 1 file"

    def test_needs_a_file(self, run: Run) -> None:
        """`check` without files is a usage error."""
        code, _, err = run("check")

        assert code == 2
        assert "the following arguments are required: FILE" in err


class TestMatrix:
    def test_table(self, run: Run) -> None:
        """Each setting has its defaults on one line and floor, who and prompt under them."""
        code, out, _ = run("matrix", "--jurisdiction", "GB")

        assert code == 0
        lines = out.splitlines()
        assert lines[0].startswith("Effective defaults by age band (accounts in GB;")
        assert lines[2].split() == ["setting", "under_13", "13_15", "16_17", "adult"]
        i = next(i for i, line in enumerate(lines) if line.startswith("  profile_visibility"))
        assert (
            " ".join(lines[i].split())
            == "profile_visibility connections connections connections public"
        )
        assert lines[i + 1].split() == ["nobody", "≥public", "parent*", "≥public", "self*", "self"]
        assert "Accounts of unknown age get the under_13 rules (fail closed)." in out
        assert "≥x   the floor" in out
        assert _width(out) <= WIDTH

    def test_markdown(self, run: Run) -> None:
        """The Markdown table has one row per setting with the whole cell on it."""
        code, out, _ = run("matrix", "--format", "markdown")

        assert code == 0
        assert "| setting | under_13 | 13_15 | 16_17 | adult |" in out
        assert (
            "| location_sharing | off nobody | off ≥connections_coarse parent\\* | "
            "off ≥connections_precise self\\* | public self |"
        ) in out
        assert "Each cell reads `default ≥floor who*`:" in out
        assert "**Effective defaults by age band (platform-wide;" in out

    def test_json(self, run_json: RunJson, write: Write) -> None:
        """The JSON form gives every band's rule for every setting."""
        config = write("platform.toml", 'unknown_age = "13_15"\n')

        code, data = run_json("matrix", "--config", config, "--jurisdiction", "US-NY")

        assert code == 0
        assert data["schema"] == "childsafe.matrix/1"
        assert data["policy"] == {"name": "minimum", "source": str(config), "jurisdictions": []}
        assert (data["jurisdiction"], data["unknown_age"]) == ("US-NY", "13_15")
        assert data["bands"] == ["under_13", "13_15", "16_17", "adult"]
        assert len(data["settings"]) == 25
        assert data["settings"]["daily_time_reminder"]["16_17"] == {
            "default": 60,
            "floor": "none",
            "changeable_by": "self",
            "prompt_on_loosen": False,
        }

    def test_bad_jurisdiction(self, run: Run) -> None:
        """An unknown jurisdiction exits 2."""
        code, _, err = run("matrix", "-j", "JP")

        assert code == 2
        assert "childsafe matrix: error: no overlay is known" in err


class TestDiff:
    def test_no_changes(self, run: Run, write: Write) -> None:
        """Comparing a config with the baseline it does not change exits 0."""
        config = write("same.toml", "")

        code, out, _ = run("diff", "baseline", config)

        assert code == 0
        assert out.splitlines()[-1] == "No changes to the effective rules."

    def test_tightening_passes(self, run: Run, write: Write) -> None:
        """Only tightening exits 0 and lists the changes."""
        config = write(
            "strict.toml",
            """
            [bands.16_17.direct_messages]
            default = "nobody"
            floor = "nobody"
            """,
        )

        code, out, _ = run("diff", "baseline", config)

        assert code == 0
        assert "Tightens (2)" in out
        assert "Loosens" not in out
        rows = [line.split() for line in out.splitlines() if "direct_messages" in line]
        assert rows == [
            ["16_17", "direct_messages", "default", "connections", "nobody", "tightens"],
            ["16_17", "direct_messages", "floor", "connections", "nobody", "tightens"],
        ]
        assert out.splitlines()[-1] == "Nothing loosens protection for children."

    def test_loosening_fails_the_gate(self, run: Run, write: Write) -> None:
        """Anything that loosens exits 1, with what to do about it."""
        old = write("old.toml", '[bands.13_15.live_streaming]\nfloor = "off"\n')
        new = write("new.toml", '[bands.13_15.live_streaming]\nchangeable_by = "nobody"\n')

        code, out, _ = run("diff", old, new)

        assert code == 1
        assert "Loosens (1)" in out
        assert "Tightens (1)" in out
        assert ["13_15", "live_streaming", "floor", "off", "connections", "loosens"] in [
            line.split() for line in out.splitlines()
        ]
        assert "1 change loosens protection for children." in out
        assert "reviewed by your safeguarding lead" in out
        assert _width(out) <= WIDTH

    def test_incomparable_windows(self, run: Run, write: Write) -> None:
        """A quiet-hours window that neither contains nor is inside the old one loosens."""
        config = write(
            "shift.json", '{"bands": {"16_17": {"quiet_hours": {"default": "21:00-06:00"}}}}'
        )

        code, out, _ = run("diff", "baseline", config)

        assert code == 1
        row = next(line.split() for line in out.splitlines() if "quiet_hours" in line)
        assert row == ["16_17", "quiet_hours", "default", "22:00-07:00", "21:00-06:00", "loosens*"]
        assert "* neither quiet-hours window contains the other" in out

    def test_unknown_age_change(self, run: Run, write: Write) -> None:
        """A new band for unknown ages is announced and its effect compared."""
        config = write("older.toml", 'unknown_age = "16_17"\n')

        code, out, _ = run("diff", "baseline", config)

        assert code == 1
        assert "Accounts of unknown age now get the 16_17 rules (were under_13)" in out
        assert "changes loosen protection" in out

    def test_json(self, run_json: RunJson, write: Write) -> None:
        """The JSON form has the documented keys, and the exit status still gates."""
        config = write("strict.toml", '[bands.16_17.quiet_hours]\ndefault = "21:00-08:00"\n')

        tighter, data = run_json("diff", "baseline", config, "--jurisdiction", "GB")
        looser, back = run_json("diff", config, "baseline")

        assert tighter == 0
        assert data == {
            "schema": "childsafe.diff/1",
            "old": "baseline:minimum",
            "new": str(config),
            "jurisdiction": "GB",
            "unknown_age": None,
            "loosens": 0,
            "tightens": 1,
            "changes": [
                {
                    "band": "16_17",
                    "setting": "quiet_hours",
                    "field": "default",
                    "old": "22:00-07:00",
                    "new": "21:00-08:00",
                    "direction": "tightens",
                    "comparable": True,
                }
            ],
        }
        assert looser == 1
        assert back["loosens"] == 1

    def test_config_error(self, run: Run, write: Write) -> None:
        """An invalid config is exit status 2, not 1, so it is not mistaken for loosening."""
        bad = write("bad.toml", "[bands.13_15]\nquiet_hours = 5\n")

        code, out, err = run("diff", "baseline", bad)

        assert code == 2
        assert out == ""
        assert str(bad) in err

    def test_missing_argument(self, run: Run) -> None:
        """`diff` needs both OLD and NEW."""
        code, _, err = run("diff", "baseline")

        assert code == 2
        assert "NEW" in err


class TestDemo:
    def test_demo(self, run: Run) -> None:
        """The demo shows every band's settings and decisions with reasons, in 120 columns."""
        code, out, err = run("demo")

        assert (code, err) == (0, "")
        assert _width(out) <= WIDTH
        for heading in ("Sample accounts", "Their settings as new accounts", "Decisions"):
            assert f"\n{heading}" in out
        assert "unknown: treated as under_13 (fail closed)" in out
        settings = out.split("Their settings as new accounts")[1].split("Decisions")[0]
        location = next(
            line.split() for line in settings.splitlines() if "location_sharing" in line
        )
        assert location == ["location_sharing", "off", "off", "off", "public", "off"]

    @pytest.mark.parametrize(
        ("scenario", "results"),
        [
            ("sends them a direct message (dm.send)", "DENIED DENIED DENIED allowed DENIED"),
            ("suggested to a stranger", "DENIED DENIED DENIED allowed DENIED"),
            ("looks at their location", "DENIED DENIED DENIED allowed DENIED"),
            ("relative they are connected with", "allowed allowed allowed allowed allowed"),
            ("notification at 9pm", "DENIED DENIED allowed allowed DENIED"),
            ("buy something", "DENIED DENIED allowed allowed DENIED"),
        ],
    )
    def test_decisions(self, run: Run, scenario: str, results: str) -> None:
        """Each scenario gives the decision childsafe makes for each sample account."""
        _, out, _ = run("demo")

        block = out.split(scenario)[1].split("\n\n")[0]
        rows = [line.split() for line in block.splitlines()[3:8]]

        assert [row[2] if row[0] == "age" else row[1] for row in rows] == results.split()
        assert all("their" in row for row in rows)

    def test_reasons(self, run: Run) -> None:
        """Denials carry their reason codes and the standards behind them."""
        _, out, _ = run("demo")

        assert "age 12       DENIED   quiet_hours  their quiet_hours is '21:00-07:00'" in out
        assert "parent_approval_required  their purchases is 'parent_approval'" in out
        assert "standards  Ofcom ICU F1" in out


class TestRender:
    def test_wrap_keeps_items_whole(self) -> None:
        """Items that fit a line are never split; longer ones wrap at spaces."""
        text = "Ofcom ICU F1; Brazil ECA Digital (Lei 15.211/2025); COPPA"

        assert wrap(text, 20) == [
            "Ofcom ICU F1;",
            "Brazil ECA Digital",
            "(Lei 15.211/2025);",
            "COPPA",
        ]

    def test_wrap_long_first_item(self) -> None:
        """A first item longer than the width is wrapped, and the next item follows it."""
        assert wrap("Utah Code §13-71-202 applies; ok", 12) == [
            "Utah Code",
            "§13-71-202",
            "applies; ok",
        ]

    def test_table_wraps_one_column(self) -> None:
        """The wrapped column gets the room the others leave, and rows grow downwards."""
        lines = table(
            ["setting", "sources"],
            [["tagging", "Instagram Teen Accounts; TikTok teen defaults"]],
            indent=0,
            wrap_column=1,
            width=35,
        )

        assert lines == [
            "setting  sources",
            "-------  --------------------------",
            "tagging  Instagram Teen Accounts;",
            "         TikTok teen defaults",
        ]


class TestContactStarted:
    def test_explain_shows_what_a_child_can_start(self, run: Run) -> None:
        """explain shows the prompt a 13-15 sees before adding an adult stranger."""
        code, out, _ = run("explain", "--age", "14", "--jurisdiction", "GB")

        assert code == 0
        started = out.split("What this account can start")[1]
        assert "friend.request  CONFIRM  confirmation_required" in started
        assert "follow          CONFIRM  confirmation_required" in started
        assert "dm.send         DENIED   not_connected" in started
        assert "group.invite    DENIED   not_connected" in started
        assert _width(out) <= WIDTH

    def test_explain_under_13_needs_a_parent(self, run_json: RunJson) -> None:
        """The JSON form says an under-13 needs a parent's approval to add an adult."""
        code, data = run_json("explain", "--age", "10")

        assert code == 0
        started = {d["action"]: d for d in data["started"]}
        assert started["friend.request"]["reason"] == "parent_approval_to_contact"
        assert started["friend.request"]["needs_confirmation"] is False
        assert started["dm.send"]["reason"] == "not_connected"

    def test_matrix_row(self, run: Run, run_json: RunJson) -> None:
        """matrix has a row for adding an adult who is not a connection, per band."""
        code, out, _ = run("matrix")
        assert code == 0
        row = next(line for line in out.splitlines() if line.startswith("  adding an adult"))
        assert row.split()[3:] == [
            "parent",
            "approves",
            "safety",
            "prompt",
            "safety",
            "prompt",
            "allowed",
        ]
        _, data = run_json("matrix")
        assert data["adding_an_adult"]["13_15"] == {
            "outcome": "needs_confirmation",
            "reason": "confirmation_required",
        }


ROOT = Path(__file__).resolve().parents[1]

UNPROTECTED_APPS = """
from flask import Flask
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import childsafe
from childsafe.contrib.flask import ChildSafe

flask_app = Flask(__name__)
flask_app.config["CHILDSAFE_STRICT"] = False


@flask_app.get("/open")
def open_page() -> str:
    return "open"


@flask_app.get("/health")
@childsafe.exempt("a health check")
def health() -> str:
    return "ok"


ChildSafe(flask_app)


misnamed_app = Flask(__name__, static_folder=None)


@misnamed_app.post("/users/<uid>")
@childsafe.action("dm.send", target=childsafe.path_param("user_id"))
def poke(uid: str) -> str:
    return uid


async def forgotten(request):
    return PlainTextResponse("open")


starlette_app = Starlette(routes=[Route("/forgotten", forgotten)])


def not_an_app():
    return 42


def failing_factory():
    raise KeyError("SECRET_KEY")
"""


class TestRoutes:
    @pytest.fixture(name="apps")
    def _apps(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
        """A module of small apps, importable from the current directory."""
        (tmp_path / "routes_apps.py").write_text(UNPROTECTED_APPS)
        (tmp_path / "routes_broken.py").write_text('raise RuntimeError("no database")\n')
        (tmp_path / "routes_typo.py").write_text("def app(:\n")
        monkeypatch.chdir(tmp_path)
        monkeypatch.syspath_prepend(str(tmp_path))
        return "routes_apps"

    def test_example_flask_app_is_all_protected(self, run: Callable[..., Any]) -> None:
        """The example app's factory lists every route, each protected: exit 0."""
        code, out, err = run("routes", "examples.flask_app.app:create_app()")
        assert (code, err) == (0, "")
        assert "POST     /messages/<user_id>" in out
        assert "dm.send (target path_param('user_id'))" in out
        assert out.rstrip().endswith("all protected")

    def test_unprotected_route_fails(self, run: Callable[..., Any], apps: str) -> None:
        """An unprotected Flask route is listed as such, and the command exits 1."""
        code, out, _ = run("routes", f"{apps}:flask_app")
        assert code == 1
        assert "UNPROTECTED" in out
        assert "exempt: a health check" in out
        assert out.rstrip().endswith("1 unprotected")

    def test_starlette_json(self, run: Callable[..., Any], apps: str) -> None:
        """A Starlette app lists as JSON too."""
        code, out, _ = run("routes", f"{apps}:starlette_app", "--format", "json")
        assert code == 1
        assert json.loads(out) == [
            {
                "methods": ["GET"],
                "path": "/forgotten",
                "endpoint": "forgotten",
                "actions": [],
                "exempt": None,
                "protected": False,
                "problems": [],
            }
        ]

    def test_path_param_the_route_lacks(self, run: Callable[..., Any], apps: str) -> None:
        """A declaration naming a path parameter its route does not have is listed
        under the table, and the command exits 1."""
        code, out, _ = run("routes", f"{apps}:misnamed_app")
        assert code == 1
        assert out.rstrip().endswith(
            "POST /users/<uid>: dm.send takes its target from path_param('user_id'), "
            "but the route has no parameter 'user_id' (its parameters: uid)"
        )
        assert "1 routes, all protected" in out

    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            ("no_colon", "expected MODULE:APP"),
            ("missing_module_xyz:app", "cannot import"),
            ("routes_apps:nothing", "has no attribute 'nothing'"),
            ("routes_apps:not_an_app()", "is a int, not a Flask"),
            ("routes_apps:failing_factory()", "failing_factory() failed: KeyError: 'SECRET_KEY'"),
            ("routes_broken:app", "cannot import 'routes_broken': RuntimeError: no database"),
            ("routes_typo:app", "cannot import 'routes_typo': SyntaxError"),
        ],
    )
    def test_bad_apps(self, run: Callable[..., Any], apps: str, spec: str, message: str) -> None:
        """An app that cannot be found or fails to load is a one-line error and exit 2
        (never a traceback, nor exit 1, which means an unprotected route)."""
        code, out, err = run("routes", spec.replace("routes_apps", apps))
        assert (code, out) == (2, "")
        assert message in err
        assert len(err.strip().splitlines()) == 1

    def test_nothing_named(self, run: Callable[..., Any]) -> None:
        """Without an app or Django settings the command says what it needs."""
        code, _, err = run("routes")
        assert code == 2
        assert "name the app" in err

    def test_django_urlconf_that_fails_is_exit_2(self, tmp_path: Path) -> None:
        """A Django project whose URLconf cannot be imported is a one-line error and
        exit 2, not a traceback with exit 1 (a process of its own)."""
        (tmp_path / "broken_settings.py").write_text(
            'SECRET_KEY = "x"\nINSTALLED_APPS = []\nROOT_URLCONF = "no_such_urls_xyz"\n'
        )
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
        done = subprocess.run(
            [sys.executable, "-m", "childsafe.cli", "routes", "--django", "broken_settings"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert (done.returncode, done.stdout) == (2, "")
        expected = (
            "childsafe routes: error: cannot set Django up with 'broken_settings': "
            "ModuleNotFoundError: No module named 'no_such_urls_xyz'"
        )
        assert done.stderr.splitlines() == [expected]

    def test_django_example(self) -> None:
        """A Django project is listed from its settings module (a process of its own)."""
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "childsafe.cli",
                "routes",
                "--django",
                "examples.django_app.settings",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "/api/messages/<str:user_id>" in done.stdout
        assert done.stdout.rstrip().endswith("all protected")
