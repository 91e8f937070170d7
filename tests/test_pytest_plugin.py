"""The pytest plugin (``childsafe.pytest_plugin``), run in pytest sessions of its own.

Most sessions run in process (``runpytest_inprocess``) so that coverage sees the
plugin; the ones that must start from a clean interpreter (what the plugin imports,
``-p no:childsafe``, a missing Flask) run in a subprocess.
"""

from __future__ import annotations

import pytest


class TestFixtures:
    def test_policy_guard_and_accounts(self, pytester: pytest.Pytester) -> None:
        """The fixtures give the baseline, a guard and account factories."""
        pytester.makepyfile(
            """
            from childsafe import AgeBand, Guard, Policy
            from childsafe.testing import assert_allowed, assert_denied

            def test_it(policy, guard, child, teen, adult, parent_of, accounts):
                assert isinstance(policy, Policy) and policy.name == "minimum"
                assert isinstance(guard, Guard) and guard.policy is policy
                kid, older, stranger = child(age=12), teen(age=16), adult()
                assert (kid.band, older.band) == (AgeBand.UNDER_13, AgeBand.AGE_16_17)
                parent = parent_of(kid)
                family = accounts.relationship(parent, kid)
                assert_allowed(guard.check("dm.send", parent, kid, family))
                assert_denied(guard.check("dm.send", stranger, kid), "not_connected")
            """
        )
        pytester.runpytest_inprocess().assert_outcomes(passed=1)

    def test_each_test_gets_a_fresh_guard(self, pytester: pytest.Pytester) -> None:
        """A test that reloads its guard does not affect the next one."""
        pytester.makepyfile(
            """
            from childsafe import Account, load_policy
            from childsafe.testing import override_policy

            TEEN = Account(id="t", band="16_17")

            def test_a(guard):
                quiet = {"bands": {"16_17": {"comments": {"default": "nobody"}}}}
                guard.reload(override_policy(load_policy(), quiet))
                assert guard.settings_for(TEEN).comments == "nobody"

            def test_b(guard):
                assert guard.settings_for(TEEN).comments == "connections"
            """
        )
        pytester.runpytest_inprocess().assert_outcomes(passed=2)


class TestPolicyMarker:
    def test_mapping_and_keywords_merge_closest_first(self, pytester: pytest.Pytester) -> None:
        """Class and function markers combine; the closest wins and bands tables merge."""
        pytester.makepyfile(
            """
            import pytest
            from childsafe import AgeBand

            @pytest.mark.childsafe_policy(
                {"bands": {"16_17": {"comments": {"default": "nobody"}}}}, jurisdiction="DE"
            )
            class TestIt:
                @pytest.mark.childsafe_policy(
                    jurisdiction="GB", bands={"13_15": {"tagging": {"default": "nobody"}}}
                )
                def test_closest(self, policy, accounts):
                    assert policy.jurisdictions == ("GB",)
                    assert policy.rule(AgeBand.AGE_16_17, "comments").default == "nobody"
                    assert policy.rule(AgeBand.AGE_13_15, "tagging").default == "nobody"
                    assert accounts.child().jurisdiction == "GB"

                def test_class_only(self, policy):
                    assert policy.jurisdictions == ("DE",)
                    assert policy.rule(AgeBand.AGE_13_15, "tagging").default == "connections"
            """
        )
        pytester.runpytest_inprocess().assert_outcomes(passed=2)

    def test_bands_tables_merge_setting_by_setting(self, pytester: pytest.Pytester) -> None:
        """Rules for the same band from the config and from markers are all kept."""
        pytester.makepyfile(
            """
            import pytest

            CONFIG = {"declarations": [], "bands": {"13_15": {"tagging": {"default": "nobody"}}}}

            LIVE = {"13_15": {"live_streaming": {"default": "off"}}, "adult": {}}

            @pytest.mark.childsafe_policy(bands={"13_15": {"comments": {"default": "nobody"}}})
            @pytest.mark.childsafe_policy(CONFIG, bands=LIVE)
            def test_it(policy):
                rules = policy.rules_for(None)
                assert rules["13_15"]["tagging"].default == "nobody"
                assert rules["13_15"]["comments"].default == "nobody"
                assert CONFIG["bands"]["13_15"].keys() == {"tagging"}
            """
        )
        pytester.runpytest_inprocess().assert_outcomes(passed=1)

    @pytest.mark.parametrize("suffix", [".toml", ".json"])
    def test_config_file(self, pytester: pytest.Pytester, suffix: str) -> None:
        """A config file path loads, with the marker's keywords applied over it."""
        body = (
            '[bands.13_15.comments]\ndefault = "nobody"\n'
            if suffix == ".toml"
            else '{"bands": {"13_15": {"comments": {"default": "nobody"}}}}'
        )
        (pytester.path / f"childsafe{suffix}").write_text(body)
        pytester.makepyfile(
            f"""
            import pytest

            @pytest.mark.childsafe_policy("childsafe{suffix}", declarations=[], unknown_age="13_15")
            def test_it(policy):
                assert policy.rule("13_15", "comments").default == "nobody"
                assert policy.unknown_age.value == "13_15"
            """
        )
        pytester.runpytest_inprocess().assert_outcomes(passed=1)

    def test_misspelt_keyword_fails_at_setup(self, pytester: pytest.Pytester) -> None:
        """An unknown marker argument errors at setup, naming the close match."""
        pytester.makepyfile(
            """
            import pytest

            @pytest.mark.childsafe_policy(jurisdictoin="GB")
            def test_it(policy):
                pass
            """
        )
        result = pytester.runpytest_inprocess()
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines(
            [
                (
                    "*childsafe_policy got an unknown argument 'jurisdictoin';"
                    " did you mean 'jurisdiction'?*"
                )
            ]
        )

    def test_bad_config_lists_every_problem(self, pytester: pytest.Pytester) -> None:
        """A marker config that does not load errors with each problem."""
        (pytester.path / "broken.toml").write_text("[bands.13_15.tagging]\ndefault = 'everyone'\n")
        pytester.makepyfile(
            """
            import pytest

            NOPE = {"adult": {"tagging": {"default": "nope"}}}

            @pytest.mark.childsafe_policy("broken.toml", bands=NOPE)
            def test_it(guard):
                pass

            @pytest.mark.childsafe_policy("missing.toml")
            def test_missing(policy):
                pass

            @pytest.mark.childsafe_policy("a.toml", "b.toml")
            def test_two(policy):
                pass
            """
        )
        (pytester.path / "a.toml").write_text("not toml = = =")
        result = pytester.runpytest_inprocess()
        result.assert_outcomes(errors=3)
        result.stdout.fnmatch_lines(
            [
                "*2 problems in the childsafe configuration:*",
                "*broken.toml: bands.13_15.tagging.default: 'everyone' is below the floor*",
                "*broken.toml: bands.adult.tagging.default: 'nope' is not one of*",
                "*missing.toml: no such file*",
                "*takes at most one positional argument (config); got 2*",
            ]
        )

    def test_unreadable_config(self, pytester: pytest.Pytester) -> None:
        """A config file that is not TOML, or not a table, is reported as such."""
        (pytester.path / "bad.toml").write_text("= nope")
        (pytester.path / "list.json").write_text("[1]")
        # Valid TOML in a file named .yaml: refused by its name, as Policy.from_file
        # refuses it, not read as TOML.
        (pytester.path / "policy.yaml").write_text('jurisdiction = "GB"\n')
        pytester.makepyfile(
            """
            import pytest

            @pytest.mark.childsafe_policy("bad.toml")
            def test_bad(policy):
                pass

            @pytest.mark.childsafe_policy("list.json")
            def test_list(policy):
                pass

            @pytest.mark.childsafe_policy("policy.yaml")
            def test_yaml(policy):
                pass
            """
        )
        result = pytester.runpytest_inprocess()
        result.assert_outcomes(errors=3)
        result.stdout.fnmatch_lines(
            [
                "*bad.toml: cannot read:*",
                "*list.json: the top level must be a table*",
                "*policy.yaml: config files must end in .toml or .json, not '.yaml'*",
            ]
        )

    def test_endless_or_wrongly_typed_config(self, pytester: pytest.Pytester) -> None:
        """A marker's config file that is an endless stream (a symlink to /dev/zero)
        was read until memory ran out, and a config of 5 was a TypeError from Path();
        both are configuration errors naming the marker's config now."""
        (pytester.path / "zero.toml").symlink_to("/dev/zero")
        pytester.makepyfile(
            """
            import pytest

            @pytest.mark.childsafe_policy("zero.toml")
            def test_zero(policy):
                pass

            @pytest.mark.childsafe_policy(5)
            def test_number(policy):
                pass
            """
        )
        result = pytester.runpytest_inprocess()
        result.assert_outcomes(errors=2)
        result.stdout.fnmatch_lines(
            [
                "*zero.toml: larger than 1048576 bytes*",
                "*config: config must be a mapping or a config file path, got int 5*",
            ]
        )

    def test_markers_are_registered(self, pytester: pytest.Pytester) -> None:
        """`pytest --markers` lists both markers with their signatures."""
        result = pytester.runpytest_inprocess("--markers")
        result.stdout.fnmatch_lines(
            [
                (
                    "@pytest.mark.childsafe_policy(config=None, *, jurisdiction=None, "
                    "declarations=None, unknown_age=None, bands=None):*"
                ),
                "@pytest.mark.childsafe_clock(at=None): where the `frozen_clock` fixture starts*",
            ]
        )


class TestPolicyOverride:
    def test_applies_for_one_test_and_restores(self, pytester: pytest.Pytester) -> None:
        """An override reloads the guards it is given and restores them afterwards."""
        pytester.makepyfile(
            """
            from childsafe import Account, Guard

            APP_GUARD = Guard()
            TEEN = Account(id="t", band="16_17")
            QUIET = {"bands": {"16_17": {"comments": {"default": "nobody"}}}}

            def test_override(policy_override, guard):
                policy = policy_override(QUIET)
                assert guard.policy is policy
                policy_override(QUIET, guard=APP_GUARD)
                assert APP_GUARD.settings_for(TEEN).comments == "nobody"
                assert guard.settings_for(TEEN).comments == "nobody"

            def test_restored():
                assert APP_GUARD.settings_for(TEEN).comments == "connections"

            def test_restore_early(policy_override, guard):
                before = guard.policy
                policy_override(QUIET)
                policy_override.restore()
                assert guard.policy is before

            def test_bad_fragment(policy_override):
                policy_override({"bands": {"13_15": {"direct_messages": {"default": "everyone"}}}})
            """
        )
        result = pytester.runpytest_inprocess("-p", "no:randomly")
        result.assert_outcomes(passed=3, failed=1)
        result.stdout.fnmatch_lines(
            ["*policy_override: <policy_override>: bands.13_15.direct_messages.default:*"]
        )


class TestClock:
    def test_marker_and_default(self, pytester: pytest.Pytester) -> None:
        """The clock starts at the marker's time, or at the default, and moves on demand."""
        pytester.makepyfile(
            """
            import pytest

            def test_default(frozen_clock):
                assert frozen_clock().isoformat() == "2025-01-10T12:00:00+00:00"

            @pytest.mark.childsafe_clock("2025-06-01T22:30:00+01:00")
            def test_marker(frozen_clock, guard, child):
                kid = child(age=14, timezone="Europe/London")
                late = guard.check("notify", target=kid, at=frozen_clock.now())
                assert late.reason == "quiet_hours"
                noon = frozen_clock.local("12:00", "Europe/London")
                assert guard.check("notify", target=kid, at=noon)

            @pytest.mark.childsafe_clock(at="2025-06-01T22:30:00")
            def test_naive(frozen_clock):
                pass
            """
        )
        result = pytester.runpytest_inprocess()
        result.assert_outcomes(passed=2, errors=1)
        result.stdout.fnmatch_lines(
            ["*childsafe_clock: a frozen clock needs a time-zone aware time*"]
        )


class TestAcross:
    def test_readable_ids(self, pytester: pytest.Pytester) -> None:
        """across() runs a test per band and jurisdiction with ids like 13_15-GB."""
        pytester.makepyfile(
            """
            from childsafe.pytest_plugin import across

            @across(["13_15", "adult"], ["GB", None])
            def test_it(cohort, guard):
                settings = guard.settings_for(cohort.account())
                assert (settings.direct_messages == "everyone") is (cohort.band == "adult")

            @across(argname="case")
            def test_every_band(case):
                assert case.jurisdiction is None
            """
        )
        result = pytester.runpytest_inprocess("-v")
        result.assert_outcomes(passed=9)
        result.stdout.fnmatch_lines(
            [
                "*test_it[[]13_15-GB[]] PASSED*",
                "*test_it[[]13_15[]] PASSED*",
                "*test_it[[]adult-GB[]] PASSED*",
                "*test_every_band[[]unknown[]] PASSED*",
            ]
        )


class TestConformanceFixture:
    def test_table_in_the_summary(self, pytester: pytest.Pytester) -> None:
        """conformance() fails on a leak and prints every run's table at the end."""
        pytester.makepyfile(
            """
            from childsafe.testing.conformance import ConformanceAdapter

            class Leaky(ConformanceAdapter):
                def __init__(self):
                    self.n = 0

                def create_account(self, band, *, jurisdiction):
                    self.n += 1
                    return f"u{self.n}"

                def send_dm(self, sender, recipient):
                    return True

            def test_leak(conformance):
                conformance(Leaky(), bands=["13_15"], probes=["stranger_dm"])

            def test_report_only(conformance):
                report = conformance(Leaky(), bands=["adult"], probes=["stranger_dm"], check=False)
                assert report.passed
            """
        )
        result = pytester.runpytest_inprocess("-p", "no:randomly")
        result.assert_outcomes(passed=1, failed=1)
        result.stdout.fnmatch_lines(
            [
                "*1 conformance checks failed:*",
                "*= childsafe conformance =*",
                "test_table_in_the_summary.py::test_leak",
                "childsafe conformance (policy minimum): 0 passed, 1 failed, 0 errors, 0 n/a",
                "13_15 *stranger_dm *refuse *delivered *FAIL *floor *direct_messages=connections*",
                "test_table_in_the_summary.py::test_report_only",
                "adult *stranger_dm *allow *delivered *PASS *control*",
            ]
        )

    def test_no_section_without_a_run(self, pytester: pytest.Pytester) -> None:
        """A session that runs no conformance prints no conformance section."""
        pytester.makepyfile("def test_nothing():\n    pass\n")
        result = pytester.runpytest_inprocess()
        result.assert_outcomes(passed=1)
        assert "childsafe conformance" not in result.stdout.str()


class TestFlaskGuard:
    def test_the_apps_guard(self, pytester: pytest.Pytester) -> None:
        """flask_guard is the guard of the `app` fixture's extension."""
        pytester.makepyfile(
            """
            import pytest
            from flask import Flask
            from childsafe import Account, Guard
            from childsafe.contrib.flask import ChildSafe

            GUARD = Guard()

            @pytest.fixture
            def app():
                app = Flask("t")
                ChildSafe(app, guard=GUARD)
                return app

            def test_it(flask_guard, policy_override):
                assert flask_guard is GUARD
                quiet = {"bands": {"adult": {"tagging": {"default": "nobody"}}}}
                policy_override(quiet, guard=flask_guard)
                assert GUARD.settings_for(Account(id="a", band="adult")).tagging == "nobody"
            """
        )
        pytester.runpytest_inprocess().assert_outcomes(passed=1)


class TestIsolation:
    def test_loading_imports_no_framework(self, pytester: pytest.Pytester) -> None:
        """Loading the plugin imports neither a web framework nor hypothesis."""
        pytester.makepyfile(
            """
            import sys

            def test_it(policy, guard, accounts, frozen_clock, policy_override):
                assert "childsafe.pytest_plugin" in sys.modules
                heavy = {"flask", "django", "starlette", "hypothesis", "werkzeug"}
                loaded = heavy & set(sys.modules)
                assert not loaded, loaded
            """
        )
        result = pytester.runpytest_subprocess("-p", "no:hypothesispytest")
        result.assert_outcomes(passed=1)

    def test_opt_out_and_missing_flask(self, pytester: pytest.Pytester) -> None:
        """`-p no:childsafe` removes the fixtures; without Flask, flask_guard skips."""
        pytester.makeconftest(
            """
            import sys
            sys.modules["flask"] = None  # as if Flask were not installed
            """
        )
        pytester.makepyfile(
            """
            import pytest

            @pytest.fixture
            def app():
                return object()

            def test_flask(flask_guard):
                pass
            """
        )
        result = pytester.runpytest_subprocess("-rs")
        result.assert_outcomes(skipped=1)
        result.stdout.fnmatch_lines(["*pip install 'childsafe?flask?'*"])
        result = pytester.runpytest_subprocess("-p", "no:childsafe")
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines(["*fixture 'flask_guard' not found*"])


class TestObservationFixture:
    def test_table_and_ci_reports(self, pytester: pytest.Pytester) -> None:
        """childsafe_observe() fails on a leak, writes JUnit XML and JSON, and prints
        the table at the end of the session."""
        pytester.makepyfile(
            """
            import httpx
            from tests.conformance_corpus.adapter import CorpusAdapter
            from tests.conformance_corpus.core import Social
            from tests.conformance_corpus.fronts import flask_app

            def adapter(*bugs):
                app = flask_app(Social(frozenset(bugs)))
                return CorpusAdapter(app, httpx.WSGITransport(app=app), "http://testserver")

            OPTIONS = {"jurisdictions": ["GB"], "bands": ["13_15"], "fillers": 6, "seed": 2}

            def test_leak(childsafe_observe, tmp_path):
                childsafe_observe(adapter("teen_viewers"), report_dir="reports", **OPTIONS)

            def test_clean(childsafe_observe):
                assert childsafe_observe(adapter(), **OPTIONS).passed
            """
        )
        result = pytester.runpytest_inprocess("-p", "no:randomly")
        result.assert_outcomes(passed=1, failed=1)
        result.stdout.fnmatch_lines(
            [
                "*findings:*",
                "*= childsafe observation =*",
                "test_table_and_ci_reports.py::test_leak",
                "*read *GET /api/users/<user_id> *teen_13_15 *child-13_15-GB *location *",
                "test_table_and_ci_reports.py::test_clean",
                "childsafe observation (policy minimum): 0 findings;*",
            ]
        )
        reports = sorted(p.name for p in (pytester.path / "reports").iterdir())
        assert reports == [
            "test_table_and_ci_reports.py__test_leak.json",
            "test_table_and_ci_reports.py__test_leak.xml",
        ]
