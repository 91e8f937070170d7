from __future__ import annotations

from collections.abc import Callable, Collection

import pytest

from childsafe import AgeBand, load_policy
from childsafe.testing import AccountFactory, override_policy
from childsafe.testing.conformance import (
    PROBES,
    ConformanceAdapter,
    ConformanceSuite,
    Outcome,
    run_conformance,
)
from tests.testing.leaky_app import LEAKS, LeakyAdapter, create_app

MINORS = ("under_13", "13_15", "16_17", "unknown")


def run(leaks: tuple[str, ...] = (), **options: object) -> object:
    accounts = AccountFactory()
    return run_conformance(LeakyAdapter(create_app(accounts, leaks), accounts), **options)  # type: ignore[arg-type]


class TestLeakyApp:
    def test_the_careful_app_passes_every_check(self) -> None:
        """With no leak, every check for every band passes and none is n/a."""
        report = run(jurisdictions=["GB"])

        assert report.passed, report.table()  # type: ignore[attr-defined]
        assert report.count(Outcome.PASS) == len(PROBES) * 5  # type: ignore[attr-defined]

    @pytest.mark.parametrize("leak", sorted(LEAKS))
    def test_each_leak_is_caught(self, leak: str) -> None:
        """Each deliberate leak fails exactly its checks, for every minor band."""
        report = run((leak,), bands=["13_15", "adult", "unknown"])

        failed = {(str(r.check.cohort), r.check.probe) for r in report.failures}  # type: ignore[attr-defined]
        assert failed == {(band, probe) for band in ("13_15", "unknown") for probe in LEAKS[leak]}
        assert all(r.outcome is Outcome.FAIL for r in report.failures)  # type: ignore[attr-defined]

    def test_unknown_leak(self) -> None:
        """The leaky app refuses leaks it does not have."""
        with pytest.raises(ValueError, match="unknown leaks"):
            create_app(AccountFactory(), ["typo"])


class TestDerivation:
    def test_checks_follow_the_policy(self) -> None:
        """A policy that loosens a default changes what is expected of the app."""
        loosened = override_policy(
            load_policy(), {"bands": {"16_17": {"comments": {"default": "everyone"}}}}
        )

        def expected(policy: object) -> str:
            suite = ConformanceSuite(policy, bands=["16_17"], probes=["comment"])  # type: ignore[arg-type]
            return suite.checks[0].expected

        assert (expected(load_policy()), expected(loosened)) == ("refuse", "allow")

    def test_floor_or_default(self) -> None:
        """A protection no one can loosen is a floor; one a parent can loosen a default."""
        suite = ConformanceSuite(bands=["13_15"], probes=["stranger_dm", "profile"])

        assert [(c.probe, c.guarantee) for c in suite.checks] == [
            ("stranger_dm", "floor"),
            ("profile", "default"),
        ]
        assert suite.checks[0].rule.startswith("direct_messages=connections (Ofcom ICU F1")

    def test_controls_can_be_left_out(self) -> None:
        """controls=False keeps only the checks that expect a refusal."""
        suite = ConformanceSuite(bands=["adult", "13_15"], controls=False)

        assert {c.cohort.band for c in suite.checks} == {AgeBand.AGE_13_15}
        assert all(not c.expect_allowed for c in suite.checks)

    def test_unknown_probe(self) -> None:
        """A misspelt probe name is refused with the known names."""
        with pytest.raises(ValueError, match="unknown conformance probes"):
            ConformanceSuite(probes=["stranger_dms"])


class Partial(ConformanceAdapter):
    """Creates accounts and lets every DM through, but raises on suggestions."""

    def __init__(self) -> None:
        self.accounts = AccountFactory()

    def create_account(self, band: AgeBand, *, jurisdiction: str | None) -> str:
        return self.accounts.of_band(band, jurisdiction=jurisdiction).id

    def send_dm(self, sender: str, recipient: str) -> bool:  # noqa: ARG002
        return True

    def suggestions(self, viewer: str) -> Collection[str]:  # noqa: ARG002
        raise RuntimeError("the\nsuggestions endpoint is down " + "x" * 100)


class Lists(Partial):
    """Connects accounts but shows every connection list empty, or not at all."""

    def __init__(self, *, shown: bool) -> None:
        super().__init__()
        self.shown = shown

    def connect(self, a: str, b: str) -> None:
        self.accounts.connect(a, b)

    def view_connections(self, viewer: str, target: str) -> Collection[str] | None:  # noqa: ARG002
        return [] if self.shown else None


class TestAdapter:
    def test_every_method_is_optional(self) -> None:
        """Each adapter method a subclass leaves out raises NotImplementedError, naming
        the adapter class and the method."""
        adapter = ConformanceAdapter()
        calls: list[tuple[str, Callable[[], object]]] = [
            ("create_account", lambda: adapter.create_account(AgeBand.ADULT, jurisdiction=None)),
            ("connect", lambda: adapter.connect("a", "b")),
            ("send_dm", lambda: adapter.send_dm("a", "b")),
            ("friend_request", lambda: adapter.friend_request("a", "b")),
            ("suggestions", lambda: adapter.suggestions("a")),
            ("view_profile", lambda: adapter.view_profile("a", "b")),
            ("set_location", lambda: adapter.set_location("a", "here")),
            ("view_location", lambda: adapter.view_location("a", "b")),
            ("view_connections", lambda: adapter.view_connections("a", "b")),
            ("tag", lambda: adapter.tag("a", "b")),
            ("comment", lambda: adapter.comment("a", "b")),
        ]
        for name, call in calls:
            with pytest.raises(
                NotImplementedError,
                match=rf"^ConformanceAdapter does not implement ConformanceAdapter\.{name}\(\)",
            ):
                call()

    def test_a_bare_adapter_makes_everything_not_applicable(self) -> None:
        """An adapter that implements nothing passes, with every check n/a."""
        report = run_conformance(ConformanceAdapter(), bands=["13_15"])

        assert report.passed
        assert report.count(Outcome.NOT_APPLICABLE) == len(PROBES)

    def test_an_empty_list_is_hidden_and_a_hidden_adult_list_proves_nothing(self) -> None:
        """An empty connection list counts as hidden; a hidden adult's list makes
        the listing check n/a (it cannot show whether a child is listed)."""
        probes = ["connection_list", "listed_in_connections"]

        empty = run_conformance(Lists(shown=True), bands=["adult"], probes=probes)
        hidden = run_conformance(Lists(shown=False), bands=["13_15"], probes=probes)

        assert [(r.observed, r.outcome) for r in empty.results] == [
            ("shown empty", Outcome.FAIL),
            ("not listed", Outcome.FAIL),
        ]
        assert [r.outcome for r in hidden.results] == [Outcome.PASS, Outcome.NOT_APPLICABLE]


class Unfinished(Partial):
    """An app whose own DM route raises NotImplementedError."""

    def send_dm(self, sender: str, recipient: str) -> bool:
        raise NotImplementedError(f"DMs from {sender} to {recipient}: not built yet")


class TestNotApplicable:
    def test_a_missing_method_is_named(self) -> None:
        """A check whose adapter method is left out is n/a and names the method."""
        report = run_conformance(Partial(), bands=["13_15"], probes=["location"])

        assert [(r.outcome, r.observed) for r in report.results] == [
            (Outcome.NOT_APPLICABLE, "the adapter has no set_location, view_location")
        ]

    def test_the_apps_own_not_implemented_error_is_an_error(self) -> None:
        """NotImplementedError raised inside an implemented method is reported as an
        error, never hidden as n/a."""
        report = run_conformance(Unfinished(), bands=["13_15"], probes=["stranger_dm"])

        assert [r.outcome for r in report.results] == [Outcome.ERROR]
        assert "not built yet" in report.results[0].observed
        assert not report.passed


class TestReport:
    @pytest.fixture(name="report")
    def _report(self) -> object:
        return ConformanceSuite(
            bands=["13_15"], probes=["stranger_dm", "suggested_to_stranger", "tag"]
        ).run(Partial())

    def test_outcomes(self, report: object) -> None:
        """A leak fails, an adapter error errors and a missing method is n/a."""
        outcomes = [(r.check.probe, r.outcome) for r in report.results]  # type: ignore[attr-defined]

        assert outcomes == [
            ("stranger_dm", Outcome.FAIL),
            ("suggested_to_stranger", Outcome.ERROR),
            ("tag", Outcome.NOT_APPLICABLE),
        ]
        assert not report.passed  # type: ignore[attr-defined]

    def test_table(self, report: object) -> None:
        """The table has a summary, a header and one line per check, each on one line."""
        lines = str(report).splitlines()

        assert lines[0] == (
            "childsafe conformance (policy minimum): 0 passed, 1 failed, 1 errors, 1 n/a"
        )
        assert lines[1].split() == [
            "cohort",
            "check",
            "expect",
            "observed",
            "result",
            "guarantee",
            "rule",
        ]
        assert lines[2].split()[:5] == ["13_15", "stranger_dm", "refuse", "delivered", "FAIL"]
        assert "RuntimeError: the suggestions endpoint is down xxx" in lines[3]
        assert "..." in lines[3]
        assert len(lines) == 5

    def test_assert_passed_lists_the_failures_first(self, report: object) -> None:
        """assert_passed raises with the failed checks, then every check."""
        with pytest.raises(AssertionError) as info:
            report.assert_passed()  # type: ignore[attr-defined]

        text = str(info.value)
        assert text.startswith("2 conformance checks failed:\n")
        failed, everything = text.split("All checks:")
        assert "n/a" not in failed.splitlines()[-1]
        assert "tag" in everything

    def test_a_passing_report_does_not_raise(self) -> None:
        """assert_passed is silent when nothing failed."""
        report = ConformanceSuite(bands=["13_15"], probes=["tag"]).run(Partial())

        report.assert_passed()
        assert report.passed


def test_the_old_suite_is_deprecated() -> None:
    """It still runs, and says what replaces it."""
    with pytest.warns(DeprecationWarning, match=r"childsafe\.testing\.observe"):
        ConformanceSuite(bands=["13_15"], jurisdictions=["GB"])
