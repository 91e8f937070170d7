"""The conformance suite: prove that *your* app keeps the policy's protections.

The checks are derived from the active policy, not written per app: for every age band
(and jurisdiction) it asks the :class:`~childsafe.Guard` what a fresh account of that
band allows a stranger to do (message it, find it in suggestions, see its profile,
location or connections, tag it, comment on it, send it a friend request) and what the
account itself may do to a stranger. Where the policy refuses, the app must refuse
too; where it allows an adult's public features, the app is expected to allow them (a
*control*, which proves the adapter really reaches the feature).

The app describes its routes in a small :class:`ConformanceAdapter`: how to create an
account of a band and how to send a DM, fetch suggestions and so on, through its own
test client. Methods it does not implement make their checks ``n/a``.

>>> from childsafe import load_policy
>>> from childsafe.testing.conformance import ConformanceSuite
>>> suite = ConformanceSuite(load_policy(), bands=["13_15"], jurisdictions=["GB"])
>>> [str(c) for c in suite.checks][:2]
['13_15-GB stranger_dm: refuse', '13_15-GB dm_to_stranger: refuse']

.. versionadded:: 0.1.0
.. deprecated:: 0.2.0
   The adapter reports what the app shows, so it misses what the app leaks elsewhere.
   Use :mod:`childsafe.testing.observe`, which finds leaks by observation; this module
   keeps working and warns with :class:`DeprecationWarning`.
"""

from __future__ import annotations

import enum
import warnings
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Final

import attrs

from childsafe._bands import AgeBand
from childsafe._decision import Decision
from childsafe._engine import Guard
from childsafe._model import Account, Relationship
from childsafe._policy import Policy, load_policy
from childsafe._settings import SETTINGS
from childsafe.testing._accounts import Cohort, cohorts

__all__ = [
    "PROBES",
    "Check",
    "CheckResult",
    "ConformanceAdapter",
    "ConformanceReport",
    "ConformanceSuite",
    "Outcome",
    "run_conformance",
]


def _not_offered(adapter: object, method: str) -> NotImplementedError:
    """What a :class:`ConformanceAdapter` method the subclass leaves out raises if it is
    called anyway (the suite itself marks the checks needing it ``n/a`` instead)."""
    return NotImplementedError(
        f"{type(adapter).__name__} does not implement ConformanceAdapter.{method}(): "
        f"the conformance checks that need it are n/a until it does"
    )


class ConformanceAdapter:
    """How the conformance suite drives your app. Subclass it and implement what your
    app has; every method left as it is makes its checks ``n/a``.

    Ids are your app's account ids. Return what the *app* did, as seen through its
    HTTP API or pages, never what childsafe would decide: the point is to catch routes
    that forget to ask.

    .. versionadded:: 0.1.0
    """

    def create_account(self, band: AgeBand, *, jurisdiction: str | None) -> str:
        """Create a fresh account in ``band`` (no connections) and return its id.
        ``AgeBand.UNKNOWN`` means an account whose age the app does not know."""
        raise _not_offered(self, "create_account")

    def connect(self, a: str, b: str) -> None:
        """Make ``a`` and ``b`` connected (friends)."""
        raise _not_offered(self, "connect")

    def send_dm(self, sender: str, recipient: str) -> bool:
        """Send a direct message; ``True`` if it was delivered."""
        raise _not_offered(self, "send_dm")

    def friend_request(self, sender: str, target: str) -> bool:
        """Send a friend request; ``True`` if it was accepted for delivery."""
        raise _not_offered(self, "friend_request")

    def suggestions(self, viewer: str) -> Collection[str]:
        """The ids of the accounts suggested to ``viewer`` as new connections."""
        raise _not_offered(self, "suggestions")

    def view_profile(self, viewer: str, target: str) -> bool:
        """Whether ``viewer`` is shown ``target``'s profile (bio and posts)."""
        raise _not_offered(self, "view_profile")

    def set_location(self, account: str, place: str) -> None:
        """Record that ``account`` is at ``place`` (the app's check-in)."""
        raise _not_offered(self, "set_location")

    def view_location(self, viewer: str, target: str) -> str | None:
        """``target``'s location as ``viewer`` is shown it (``None``: not shown)."""
        raise _not_offered(self, "view_location")

    def view_connections(self, viewer: str, target: str) -> Collection[str] | None:
        """The ids in ``target``'s connection list as ``viewer`` sees it (``None``: the
        list is not shown at all)."""
        raise _not_offered(self, "view_connections")

    def tag(self, actor: str, target: str) -> bool:
        """Tag or mention ``target``; ``True`` if the tag was made."""
        raise _not_offered(self, "tag")

    def comment(self, actor: str, target: str) -> bool:
        """Comment on ``target``'s post; ``True`` if the comment was posted."""
        raise _not_offered(self, "comment")


class Outcome(enum.StrEnum):
    """How one check went."""

    PASS = "PASS"  # noqa: S105 - an outcome, not a password
    FAIL = "FAIL"
    ERROR = "ERROR"  # the adapter raised: the check proves nothing
    NOT_APPLICABLE = "n/a"  # the adapter does not implement what the check needs


@attrs.frozen
class _World:
    """The accounts one check runs with, as the app knows them and as childsafe does."""

    subject: str
    stranger: str
    friend: str | None = None


_Observe = Callable[[ConformanceAdapter, _World], tuple[bool, str]]


@attrs.frozen
class _Probe:
    name: str
    summary: str
    action: str
    actor: str  # "stranger" or "subject"
    target: str  # "stranger", "subject" or "friend"
    needs_friend: bool
    observe: _Observe
    uses: tuple[str, ...]  # the adapter methods it calls besides create_account/connect


class _Inconclusive(Exception):  # noqa: N818 - an outcome, not an error
    """What the app showed cannot answer the check (it is ``n/a``, not a failure)."""


def _unimplemented(adapter: ConformanceAdapter, names: Iterable[str]) -> list[str]:
    """The ``names`` that ``adapter``'s class leaves as :class:`ConformanceAdapter` has
    them. Asked before a check runs, so a ``NotImplementedError`` raised by the app's
    own code is an error the report shows, never a silent ``n/a``."""
    base = ConformanceAdapter.__dict__
    return [n for n in names if getattr(type(adapter), n, None) is base[n]]


def _shown(flag: bool, yes: str, no: str) -> tuple[bool, str]:
    return flag, yes if flag else no


def _stranger_dm(a: ConformanceAdapter, w: _World) -> tuple[bool, str]:
    return _shown(a.send_dm(w.stranger, w.subject), "delivered", "refused")


def _dm_to_stranger(a: ConformanceAdapter, w: _World) -> tuple[bool, str]:
    return _shown(a.send_dm(w.subject, w.stranger), "delivered", "refused")


def _friend_request(a: ConformanceAdapter, w: _World) -> tuple[bool, str]:
    return _shown(a.friend_request(w.stranger, w.subject), "sent", "refused")


def _suggested(a: ConformanceAdapter, w: _World) -> tuple[bool, str]:
    return _shown(w.subject in a.suggestions(w.stranger), "suggested", "not suggested")


def _sees_suggestions(a: ConformanceAdapter, w: _World) -> tuple[bool, str]:
    return _shown(w.stranger in a.suggestions(w.subject), "suggested", "not suggested")


def _profile(a: ConformanceAdapter, w: _World) -> tuple[bool, str]:
    return _shown(a.view_profile(w.stranger, w.subject), "shown", "hidden")


def _location(a: ConformanceAdapter, w: _World) -> tuple[bool, str]:
    place = f"conformance place of {w.subject}"
    a.set_location(w.subject, place)
    seen = a.view_location(w.stranger, w.subject)
    if seen is None:
        return False, "hidden"
    return True, f"shown: {seen!r}"


def _connection_list(a: ConformanceAdapter, w: _World) -> tuple[bool, str]:
    assert w.friend is not None
    a.connect(w.subject, w.friend)
    seen = a.view_connections(w.stranger, w.subject)
    if seen is None:
        return False, "hidden"
    if not seen:  # the list is there, but the friend is left out of it
        return False, "shown empty"
    return True, f"shown: {', '.join(sorted(seen))}"


def _listed(a: ConformanceAdapter, w: _World) -> tuple[bool, str]:
    assert w.friend is not None
    a.connect(w.subject, w.friend)
    seen = a.view_connections(w.stranger, w.friend)
    if seen is None:
        raise _Inconclusive("the friend's connection list is not shown to the stranger")
    return _shown(w.subject in seen, "listed", "not listed")


def _tag(a: ConformanceAdapter, w: _World) -> tuple[bool, str]:
    return _shown(a.tag(w.stranger, w.subject), "tagged", "refused")


def _comment(a: ConformanceAdapter, w: _World) -> tuple[bool, str]:
    return _shown(a.comment(w.stranger, w.subject), "posted", "refused")


PROBES: Final = (
    _Probe("stranger_dm", "a stranger's DM to the account", "dm.send", "stranger", "subject",
           needs_friend=False, observe=_stranger_dm, uses=("send_dm",)),
    _Probe("dm_to_stranger", "the account's DM to a stranger", "dm.send", "subject", "stranger",
           needs_friend=False, observe=_dm_to_stranger, uses=("send_dm",)),
    _Probe("friend_request", "a stranger's friend request", "friend.request", "stranger",
           "subject", needs_friend=False, observe=_friend_request, uses=("friend_request",)),
    _Probe("suggested_to_stranger", "the account in a stranger's suggestions", "friend.suggest",
           "stranger", "subject", needs_friend=False, observe=_suggested, uses=("suggestions",)),
    _Probe("stranger_suggested", "a stranger in the account's suggestions", "friend.suggest",
           "subject", "stranger", needs_friend=False, observe=_sees_suggestions,
           uses=("suggestions",)),
    _Probe("profile", "its profile, to a stranger", "profile.view", "stranger", "subject",
           needs_friend=False, observe=_profile, uses=("view_profile",)),
    _Probe("location", "its location, to a stranger", "location.view", "stranger", "subject",
           needs_friend=False, observe=_location, uses=("set_location", "view_location")),
    _Probe("connection_list", "its connection list, to a stranger", "connections.view",
           "stranger", "subject", needs_friend=True, observe=_connection_list,
           uses=("view_connections",)),
    _Probe("listed_in_connections", "the account in a friend's list a stranger sees",
           "connections.listed", "stranger", "subject", needs_friend=True,
           observe=_listed, uses=("view_connections",)),
    _Probe("tag", "a stranger tagging the account", "tag", "stranger", "subject",
           needs_friend=False, observe=_tag, uses=("tag",)),
    _Probe("comment", "a stranger's comment on its post", "comment", "stranger", "subject",
           needs_friend=False, observe=_comment, uses=("comment",)),
)  # fmt: skip
"""The questions the suite asks about every band, in table order."""


@attrs.frozen
class Check:
    """One derived expectation: in ``cohort``, ``probe`` must be refused (or, for a
    control, allowed) because the policy decides ``decision``.

    ``guarantee`` is ``"floor"`` when no setting change can loosen it, ``"default"``
    when it holds for a fresh account (and a parent or the account holder could
    loosen it), and ``"control"`` when the policy allows it.
    """

    cohort: Cohort
    probe: str
    summary: str
    decision: Decision
    guarantee: str

    @property
    def expect_allowed(self) -> bool:
        return self.decision.allowed

    @property
    def expected(self) -> str:
        return "allow" if self.expect_allowed else "refuse"

    @property
    def rule(self) -> str:
        """The deciding setting and value and the first standards behind it."""
        d = self.decision
        where = f"{d.setting}={d.value}" if d.setting else d.reason.value
        labels = [c.label for c in d.citations[:2]]
        return f"{where} ({'; '.join(labels)})" if labels else where

    def __str__(self) -> str:
        return f"{self.cohort} {self.probe}: {self.expected}"


@attrs.frozen
class CheckResult:
    """What the app did for one :class:`Check`."""

    check: Check
    outcome: Outcome
    observed: str


def _derive(guard: Guard, cohort: Cohort, probe: _Probe) -> Check:
    subject = cohort.account("subject")
    people = {
        "subject": subject,
        "stranger": Account(id="stranger", band=AgeBand.ADULT, jurisdiction=cohort.jurisdiction),
    }
    actor, target = people[probe.actor], people[probe.target]
    decision = guard.check(probe.action, actor, target, Relationship())
    guarantee = "control"
    if not decision.allowed:
        guarantee = "floor"
        role = probe.actor if decision.subject == "actor" else probe.target
        setting = decision.setting
        if role == "subject" and setting is not None and setting in SETTINGS:
            # Would the account holder (or a parent) be able to loosen it?
            floor = guard.rules_for(subject)[setting].floor
            at_floor = {**people, "subject": subject.with_settings(**{setting: floor})}
            again = guard.check(
                probe.action, at_floor[probe.actor], at_floor[probe.target], Relationship()
            )
            if again.allowed:
                guarantee = "default"
    return Check(cohort, probe.name, probe.summary, decision, guarantee)


@attrs.frozen
class ConformanceReport:
    """The results of a run, with the table :meth:`table` prints.

    ``passed`` is true when no check failed or errored (``n/a`` checks do not count).
    """

    policy: str
    results: tuple[CheckResult, ...]

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        """The checks that failed or errored."""
        return tuple(r for r in self.results if r.outcome in (Outcome.FAIL, Outcome.ERROR))

    @property
    def passed(self) -> bool:
        return not self.failures

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome is outcome)

    def summary(self) -> str:
        """``childsafe conformance (policy minimum): 40 passed, 0 failed, ...``."""
        parts = [
            f"{self.count(Outcome.PASS)} passed",
            f"{self.count(Outcome.FAIL)} failed",
            f"{self.count(Outcome.ERROR)} errors",
            f"{self.count(Outcome.NOT_APPLICABLE)} n/a",
        ]
        return f"childsafe conformance (policy {self.policy}): {', '.join(parts)}"

    def table(self, results: Sequence[CheckResult] | None = None) -> str:
        """The results (default: all) as a fixed-width table under the summary."""
        rows = [("cohort", "check", "expect", "observed", "result", "guarantee", "rule")]
        for r in self.results if results is None else results:
            c = r.check
            rows.append(
                (str(c.cohort), c.probe, c.expected, r.observed, r.outcome.value, c.guarantee,
                 c.rule)
            )  # fmt: skip
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1]
            for row in rows
        ]
        return "\n".join([self.summary(), *(line.rstrip() for line in lines)])

    def __str__(self) -> str:
        return self.table()

    def assert_passed(self) -> None:
        """Raise ``AssertionError`` listing every failed check, then the whole table."""
        __tracebackhide__ = True
        if self.failures:
            raise AssertionError(
                f"{len(self.failures)} conformance checks failed:\n"
                f"{self.table(self.failures)}\n\nAll checks:\n{self.table()}"
            )


class ConformanceSuite:
    """The checks derived from ``policy`` for ``bands`` (default: all five, with
    ``unknown``) in each of ``jurisdictions`` (default: none; give the ones your
    accounts live in). ``controls=False`` drops the checks that expect the app to
    *allow* something (for an app deliberately stricter than its policy).

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        bands: Iterable[AgeBand | str] | None = None,
        jurisdictions: Iterable[str | None] = (None,),
        probes: Iterable[str] | None = None,
        controls: bool = True,
    ) -> None:
        warnings.warn(
            "ConformanceSuite is deprecated: use childsafe.testing.observe "
            "(ObservationSuite), which finds leaks by observing the app",
            DeprecationWarning,
            stacklevel=2,
        )
        self.policy = policy if policy is not None else load_policy()
        known = {p.name: p for p in PROBES}
        chosen = list(known) if probes is None else list(probes)
        unknown = [p for p in chosen if p not in known]
        if unknown:
            raise ValueError(
                f"unknown conformance probes {unknown}; expected some of {', '.join(known)}"
            )
        self.probes = tuple(known[p] for p in chosen)
        guard = Guard(self.policy)
        self.checks: tuple[Check, ...] = tuple(
            check
            for cohort in cohorts(bands, jurisdictions)
            for probe in self.probes
            if (check := _derive(guard, cohort, probe)).guarantee != "control" or controls
        )

    def run(self, adapter: ConformanceAdapter) -> ConformanceReport:
        """Drive ``adapter`` through every check; never raises for a failing app."""
        probes = {p.name: p for p in self.probes}
        results = [_run(adapter, check, probes[check.probe]) for check in self.checks]
        return ConformanceReport(self.policy.name, tuple(results))


def _run(adapter: ConformanceAdapter, check: Check, probe: _Probe) -> CheckResult:
    needed = ("create_account", *(("connect",) if probe.needs_friend else ()), *probe.uses)
    if missing := _unimplemented(adapter, needed):
        detail = f"the adapter has no {', '.join(missing)}"
        return CheckResult(check, Outcome.NOT_APPLICABLE, _one_line(detail))
    try:
        j = check.cohort.jurisdiction
        subject = adapter.create_account(check.cohort.band, jurisdiction=j)
        stranger = adapter.create_account(AgeBand.ADULT, jurisdiction=j)
        friend = (
            adapter.create_account(AgeBand.ADULT, jurisdiction=j) if probe.needs_friend else None
        )
        world = _World(subject, stranger, friend)
        allowed, observed = probe.observe(adapter, world)
    except _Inconclusive as e:
        return CheckResult(check, Outcome.NOT_APPLICABLE, _one_line(str(e)))
    except Exception as e:  # noqa: BLE001 - an adapter error is a result, not a crash
        return CheckResult(check, Outcome.ERROR, _one_line(f"{type(e).__name__}: {e}"))
    ok = allowed == check.expect_allowed
    return CheckResult(check, Outcome.PASS if ok else Outcome.FAIL, _one_line(observed))


def _one_line(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def run_conformance(
    adapter: ConformanceAdapter,
    policy: Policy | None = None,
    *,
    bands: Iterable[AgeBand | str] | None = None,
    jurisdictions: Iterable[str | None] = (None,),
    probes: Iterable[str] | None = None,
    controls: bool = True,
) -> ConformanceReport:
    """Derive the checks from ``policy`` (see :class:`ConformanceSuite`) and run them
    against ``adapter``.

    .. versionadded:: 0.1.0
    """
    suite = ConformanceSuite(
        policy, bands=bands, jurisdictions=jurisdictions, probes=probes, controls=controls
    )
    return suite.run(adapter)
