"""childsafe's pytest plugin: policy fixtures, markers and a parametrize helper.

pytest loads it through the ``pytest11`` entry point in every run once childsafe is
installed. It imports only pytest and childsafe's core: no web framework and no
hypothesis (:mod:`childsafe.testing.strategies` is imported by the tests that use it).
It has no autouse fixtures and no collection hooks, so a suite that uses none of its
fixtures runs exactly as before; ``-p no:childsafe`` switches it off.

Fixtures: ``policy``, ``guard``, ``policy_override``, ``accounts``
with ``child``, ``teen``, ``adult`` and ``parent_of``,
``frozen_clock``, ``childsafe_observe``, ``conformance`` and, for Flask apps,
``flask_guard``. Markers:
``childsafe_policy`` and ``childsafe_clock``. Helper: :func:`across`.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import pytest

from childsafe._bands import AgeBand
from childsafe._engine import Guard
from childsafe._model import Account
from childsafe._parsing import load_json, load_toml, read_config
from childsafe._policy import Policy, load_policy
from childsafe._settings import suggest
from childsafe.exceptions import ConfigProblem, ConfigurationError, MissingExtraError
from childsafe.testing._accounts import AccountFactory, Cohort, cohorts
from childsafe.testing._overrides import FrozenClock, overridden

if TYPE_CHECKING:
    from childsafe.testing.conformance import ConformanceAdapter, ConformanceReport
    from childsafe.testing.observe import ObservationReport, ObserveAdapter

__all__ = [
    "ClockOptions",
    "ConformanceRunner",
    "ObservationRunner",
    "PolicyOptions",
    "PolicyOverride",
    "accounts",
    "across",
    "adult",
    "child",
    "childsafe_observe",
    "conformance",
    "flask_guard",
    "frozen_clock",
    "guard",
    "parent_of",
    "policy",
    "policy_override",
    "teen",
]

_POLICY_MARKER = "childsafe_policy"
_CLOCK_MARKER = "childsafe_clock"
_DOCS = "https://childsafe.readthedocs.io/en/latest/qa.html"


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers (so ``--strict-markers`` accepts them)."""
    config.addinivalue_line(
        "markers",
        f"{_POLICY_MARKER}(config=None, *, jurisdiction=None, declarations=None, "
        "unknown_age=None, bands=None): the policy the `policy` and `guard` fixtures "
        "give this test: `config` is a mapping or a config file path (relative to the "
        "rootdir), the keywords are "
        "config keys applied over it (closest marker wins; `bands` tables merge).",
    )
    config.addinivalue_line(
        "markers",
        f"{_CLOCK_MARKER}(at=None): where the `frozen_clock` fixture starts: an aware "
        "datetime or ISO 8601 text (default: noon UTC on 10 January 2025).",
    )


# ------------------------------------------------------------------------ options

Options = TypeVar("Options")


def _fields(cls: type[Any]) -> tuple[str, ...]:
    return tuple(a.name for a in attrs.fields(cls))


@attrs.frozen(kw_only=True)
class PolicyOptions:
    """The arguments of ``@pytest.mark.childsafe_policy``, checked at setup."""

    config: str | os.PathLike[str] | Mapping[str, Any] | None = None
    jurisdiction: str | Sequence[str] | None = None
    declarations: Sequence[str] | None = None
    unknown_age: str | None = None
    bands: Mapping[str, Any] | None = None

    def mapping(self, root: Path) -> tuple[dict[str, Any], str]:
        """The config these options describe (a relative ``config`` path is read from
        ``root``, pytest's rootdir), and the source to name in errors."""
        source = "<childsafe_policy marker>"
        data: dict[str, Any] = {}
        if isinstance(self.config, Mapping):
            data = _deep_copy(self.config)
        elif self.config is not None:
            given: object = self.config
            if not isinstance(given, str | os.PathLike):
                problem = (
                    "config must be a mapping or a config file path, got "
                    f"{type(given).__name__} {given!r:.60}"
                )
                raise ConfigurationError([ConfigProblem(source, "config", problem)])
            source = str(self.config)
            data = _read_config(root / Path(self.config), source)
        for key in ("jurisdiction", "declarations", "unknown_age"):
            value = getattr(self, key)
            if value is not None:
                data[key] = list(value) if key == "declarations" else value
        if self.bands is not None:
            data["bands"] = _merge_bands(data.get("bands"), self.bands)
        return data, source


@attrs.frozen(kw_only=True)
class ClockOptions:
    """The arguments of ``@pytest.mark.childsafe_clock``, checked at setup."""

    at: str | Any | None = None

    def start(self) -> FrozenClock:
        return FrozenClock(self.at if self.at is not None else FrozenClock.DEFAULT)


def _deep_copy(value: Any) -> Any:  # noqa: ANN401 - config values are any TOML value
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _merge_bands(base: object, extra: Mapping[str, Any]) -> Any:  # noqa: ANN401
    if not isinstance(base, Mapping):
        return _deep_copy(extra)
    merged = _deep_copy(base)
    for band, table in extra.items():
        if isinstance(table, Mapping) and isinstance(merged.get(band), Mapping):
            merged[band] = {**merged[band], **_deep_copy(table)}
        else:
            merged[band] = _deep_copy(table)
    return merged


def _read_config(path: Path, source: str) -> dict[str, Any]:
    suffix = path.suffix.lower()
    if suffix not in {".toml", ".json"}:
        problem = f"config files must end in .toml or .json, not {suffix or 'no suffix'!r}"
        raise ConfigurationError([ConfigProblem(source, "", problem)])
    try:
        # at most the config limit: a path to /dev/zero or a pipe was read forever
        _, raw = read_config(path)
    except ConfigurationError as e:
        message = e.problems[0].message
        raise ConfigurationError([ConfigProblem(source, "", message)]) from None
    try:
        text = raw.decode("utf-8")
        data = load_json(text) if suffix == ".json" else load_toml(text)
    except ValueError as e:
        raise ConfigurationError([ConfigProblem(source, "", f"cannot read: {e}")]) from None
    if not isinstance(data, dict):
        raise ConfigurationError([ConfigProblem(source, "", "the top level must be a table")])
    return data


def _options(node: pytest.Item, marker: str, cls: Callable[..., Options]) -> Options:
    """Merge the markers named ``marker`` on ``node`` (closest wins) into ``cls``."""
    __tracebackhide__ = True
    fields = _fields(cls)  # type: ignore[arg-type]
    merged: dict[str, Any] = {}
    for mark in reversed(list(node.iter_markers(marker))):  # farthest first
        if len(mark.args) > 1:
            pytest.fail(
                f"@pytest.mark.{marker} takes at most one positional argument "
                f"({fields[0]}); got {len(mark.args)}",
                pytrace=False,
            )
        kwargs = dict(mark.kwargs)
        if mark.args:
            kwargs[fields[0]] = mark.args[0]
        for name in kwargs:
            if name not in fields:
                pytest.fail(
                    f"@pytest.mark.{marker} got an unknown argument {name!r}"
                    f"{suggest(name, fields)}; it takes {', '.join(fields)} "
                    f"(see {_DOCS}#markers)",
                    pytrace=False,
                )
        if "bands" in kwargs and isinstance(merged.get("bands"), Mapping):
            kwargs["bands"] = _merge_bands(merged["bands"], kwargs["bands"])
        merged.update(kwargs)
    return cls(**merged)


# ----------------------------------------------------------------------- fixtures


@pytest.fixture(name="policy")
def policy(request: pytest.FixtureRequest) -> Policy:
    """The active :class:`~childsafe.Policy`: the built-in baseline, or what the
    test's ``childsafe_policy`` markers describe. A bad config fails the test at setup
    with every problem listed."""
    __tracebackhide__ = True
    options = _options(request.node, _POLICY_MARKER, PolicyOptions)
    if options == PolicyOptions():
        return load_policy()
    data, source = options.mapping(request.config.rootpath)
    try:
        return Policy.from_mapping(data, source=source)
    except ConfigurationError as e:
        pytest.fail(f"@pytest.mark.{_POLICY_MARKER}: {e}", pytrace=False)


@pytest.fixture(name="guard")
def guard(policy: Policy) -> Guard:
    """A :class:`~childsafe.Guard` compiled from ``policy``, new for each test."""
    return Guard(policy)


class PolicyOverride:
    """Applies config fragments to guards for one test and restores them afterwards.

    ``policy_override(fragment)`` reloads the test's ``guard``;
    ``policy_override(fragment, guard=app_guard)`` reloads another one (such as your
    app's, see ``flask_guard``). Every guard gets its original policy back when the
    test ends, pass or fail, or at :meth:`restore`.
    """

    def __init__(self, default: Guard) -> None:
        self._default = default
        self._stack = ExitStack()

    def __call__(self, fragment: Mapping[str, Any], /, *, guard: Guard | None = None) -> Policy:
        """Apply ``fragment`` (``bands`` tables, ``unknown_age``) and return the new policy."""
        __tracebackhide__ = True
        target = guard if guard is not None else self._default
        try:
            return self._stack.enter_context(
                overridden(target, fragment, source="<policy_override>")
            )
        except ConfigurationError as e:
            pytest.fail(f"policy_override: {e}", pytrace=False)

    def restore(self) -> None:
        """Give every overridden guard its original policy back, latest first."""
        self._stack.close()


@pytest.fixture(name="policy_override")
def policy_override(guard: Guard) -> Iterator[PolicyOverride]:
    """A :class:`PolicyOverride`: apply a config fragment for this test only."""
    override = PolicyOverride(guard)
    try:
        yield override
    finally:
        override.restore()


@pytest.fixture(name="accounts")
def accounts(request: pytest.FixtureRequest) -> AccountFactory:
    """An :class:`~childsafe.testing.AccountFactory` for this test, in the jurisdiction
    of the ``childsafe_policy`` marker when it names exactly one."""
    options = _options(request.node, _POLICY_MARKER, PolicyOptions)
    jurisdiction = options.jurisdiction if isinstance(options.jurisdiction, str) else None
    return AccountFactory(jurisdiction=jurisdiction)


@pytest.fixture(name="child")
def child(accounts: AccountFactory) -> Callable[..., Account]:
    """``child(age=12, **options)``: an account under 18."""
    return accounts.child


@pytest.fixture(name="teen")
def teen(accounts: AccountFactory) -> Callable[..., Account]:
    """``teen(age=15, **options)``: an account aged 13 to 17."""
    return accounts.teen


@pytest.fixture(name="adult")
def adult(accounts: AccountFactory) -> Callable[..., Account]:
    """``adult(age=30, **options)``: an account aged 18 or over."""
    return accounts.adult


@pytest.fixture(name="parent_of")
def parent_of(accounts: AccountFactory) -> Callable[..., Account]:
    """``parent_of(child)``: the child's parent, connected to it."""
    return accounts.parent_of


@pytest.fixture(name="frozen_clock")
def frozen_clock(request: pytest.FixtureRequest) -> FrozenClock:
    """A :class:`~childsafe.testing.FrozenClock` starting where ``childsafe_clock`` says."""
    __tracebackhide__ = True
    options = _options(request.node, _CLOCK_MARKER, ClockOptions)
    try:
        return options.start()
    except (TypeError, ValueError) as e:
        pytest.fail(f"@pytest.mark.{_CLOCK_MARKER}: {e}", pytrace=False)


@pytest.fixture(name="flask_guard")
def flask_guard(request: pytest.FixtureRequest) -> Guard:
    """The :class:`~childsafe.Guard` of the Flask app that your ``app`` fixture returns
    (the pytest-flask convention), for :class:`PolicyOverride`. Skips the test when
    Flask is not installed."""
    try:
        from childsafe.contrib.flask import current_guard  # noqa: PLC0415 - Flask is optional
    except MissingExtraError as e:
        pytest.skip(str(e))
    app = request.getfixturevalue("app")
    with app.app_context():
        return current_guard()


class ConformanceRunner:
    """Runs the conformance suite from a test and keeps its table for the summary.

    ``conformance(adapter, policy, **options)`` takes the arguments of
    :func:`~childsafe.testing.conformance.run_conformance`, fails the test listing
    every failed check unless ``check=False``, and returns the report. pytest prints
    every report's table in a "childsafe conformance" section at the end of the run.
    """

    def __init__(self, node: pytest.Item) -> None:
        self._node = node

    def __call__(
        self,
        adapter: ConformanceAdapter,
        policy: Policy | None = None,
        *,
        check: bool = True,
        **options: Any,  # noqa: ANN401 - passed on to run_conformance
    ) -> ConformanceReport:
        __tracebackhide__ = True
        from childsafe.testing.conformance import run_conformance  # noqa: PLC0415

        report = run_conformance(adapter, policy, **options)
        self._node.config.stash.setdefault(_REPORTS, []).append((self._node.nodeid, report))
        if check:
            report.assert_passed()
        return report


_REPORTS = pytest.StashKey[list[tuple[str, "ConformanceReport"]]]()
_OBSERVED = pytest.StashKey[list[tuple[str, "ObservationReport"]]]()


class ObservationRunner:
    """Runs the observation suite (:mod:`childsafe.testing.observe`) from a test.

    ``childsafe_observe(adapter, policy, **options)`` takes the arguments of
    :func:`~childsafe.testing.observe.observe`, fails the test with the table of
    findings unless ``check=False``, and returns the report. With ``report_dir`` (or
    ``$CHILDSAFE_REPORT_DIR``) it also writes ``<test>.xml`` (JUnit) and
    ``<test>.json`` there for CI. pytest prints every report's table in a "childsafe
    observation" section at the end of the run.

    .. versionadded:: 0.2.0
    """

    def __init__(self, node: pytest.Item) -> None:
        self._node = node

    def __call__(
        self,
        adapter: ObserveAdapter,
        policy: Policy | None = None,
        *,
        check: bool = True,
        report_dir: str | os.PathLike[str] | None = None,
        **options: Any,  # noqa: ANN401 - passed on to observe
    ) -> ObservationReport:
        __tracebackhide__ = True
        from childsafe.testing.observe import observe  # noqa: PLC0415 - needs httpx

        report = observe(adapter, policy, **options)
        self._node.config.stash.setdefault(_OBSERVED, []).append((self._node.nodeid, report))
        where = report_dir or os.environ.get("CHILDSAFE_REPORT_DIR")
        if where:
            folder = Path(where)
            folder.mkdir(parents=True, exist_ok=True)
            name = "".join(c if c.isalnum() or c in "-_." else "_" for c in self._node.nodeid)
            (folder / f"{name}.xml").write_text(report.junit_xml(name), encoding="utf-8")
            (folder / f"{name}.json").write_text(report.to_json(), encoding="utf-8")
        if check:
            report.assert_passed()
        return report


@pytest.fixture(name="childsafe_observe")
def childsafe_observe(request: pytest.FixtureRequest) -> ObservationRunner:
    """An :class:`ObservationRunner`: observe your app through your adapter."""
    return ObservationRunner(request.node)


@pytest.fixture(name="conformance")
def conformance(request: pytest.FixtureRequest) -> ConformanceRunner:
    """A :class:`ConformanceRunner`: run the conformance suite against your adapter."""
    return ConformanceRunner(request.node)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:  # noqa: ANN401
    """Print the table of every conformance and observation run (nothing when there
    was none)."""
    reports = config.stash.get(_REPORTS, [])
    if reports:
        terminalreporter.section("childsafe conformance")
        for nodeid, report in reports:
            terminalreporter.write_line(nodeid)
            terminalreporter.write_line(report.table())
    observed = config.stash.get(_OBSERVED, [])
    if observed:
        terminalreporter.section("childsafe observation")
        for nodeid, found in observed:
            terminalreporter.write_line(nodeid)
            terminalreporter.write_line(found.table())


# ----------------------------------------------------------------- parametrizing


def across(
    bands: Iterable[AgeBand | str] | None = None,
    jurisdictions: Iterable[str | None] = (None,),
    *,
    argname: str = "cohort",
) -> pytest.MarkDecorator:
    """Run a test once per age band and jurisdiction, as ``pytest.mark.parametrize``
    does, with readable ids (``[13_15-GB]``). The test takes a
    :class:`~childsafe.testing.Cohort` argument named ``argname``.

    .. versionadded:: 0.1.0
    """
    cases: list[Cohort] = cohorts(bands, jurisdictions)
    return pytest.mark.parametrize(argname, cases, ids=[str(c) for c in cases])
