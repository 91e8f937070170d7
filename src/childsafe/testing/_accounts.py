"""Account factories and a tiny in-memory social graph for tests."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

import attrs

from childsafe._bands import AgeBand, Assurance
from childsafe._model import Account, Relationship
from childsafe._policy import POLICY_BANDS, normalise_jurisdiction

__all__ = ["BAND_AGES", "AccountFactory", "Cohort", "cohorts"]

BAND_AGES: Final[Mapping[AgeBand, int | None]] = {
    AgeBand.UNDER_13: 12,
    AgeBand.AGE_13_15: 14,
    AgeBand.AGE_16_17: 16,
    AgeBand.ADULT: 30,
    AgeBand.UNKNOWN: None,
}
"""A representative age for each band (``None``: the age is unknown)."""

ALL_BANDS: Final = (*POLICY_BANDS, AgeBand.UNKNOWN)


def _pair(a: Account | str, b: Account | str) -> frozenset[str]:
    return frozenset((a if isinstance(a, str) else a.id, b if isinstance(b, str) else b.id))


class AccountFactory:
    """Makes accounts for tests and remembers how they relate.

    Each account gets a fresh id (``child-1``, ``teen-2``, ``adult-3`` ...). Accounts
    are strangers to each other until :meth:`connect` (or :meth:`parent_of`) links
    them; :meth:`relationship` then answers as a platform's repository would, so the
    factory can also serve as the :class:`~childsafe.AccountRepository` of a middleware
    under test.

    >>> from childsafe.testing import AccountFactory
    >>> accounts = AccountFactory(jurisdiction="GB")
    >>> kid = accounts.child(age=12)
    >>> kid.band, kid.jurisdiction, kid.id
    (<AgeBand.UNDER_13: 'under_13'>, 'GB', 'child-1')
    >>> parent = accounts.parent_of(kid)
    >>> accounts.relationship(parent, kid).connected
    True

    .. versionadded:: 0.1.0
    """

    def __init__(self, *, jurisdiction: str | None = None, timezone: str | None = None) -> None:
        self.jurisdiction = jurisdiction
        self.timezone = timezone
        self._counter = itertools.count(1)
        self._accounts: dict[str, Account] = {}
        self._connected: set[frozenset[str]] = set()
        self._blocked: set[frozenset[str]] = set()
        self._invited: set[tuple[str, str]] = set()
        self._parents: dict[str, set[str]] = {}

    # -- making accounts ----------------------------------------------------------

    def _make(
        self,
        prefix: str,
        band: AgeBand,
        id: str | None,  # noqa: A002 - the domain's name for an account id
        options: Mapping[str, Any],
    ) -> Account:
        ident = id if id is not None else f"{prefix}-{next(self._counter)}"
        if ident in self._accounts:
            raise ValueError(f"an account with id {ident!r} was already made by this factory")
        kwargs: dict[str, Any] = {
            "jurisdiction": self.jurisdiction,
            "timezone": self.timezone,
            **options,
        }
        account = Account(id=ident, band=band, **kwargs)
        self._accounts[ident] = account
        return account

    @staticmethod
    def _age(kind: str, age: int | None, low: int, high: int | None) -> AgeBand:
        if age is None:
            return AgeBand.UNKNOWN
        band = AgeBand.from_age(age)
        if age < low or (high is not None and age > high):
            span = f"from {low} to {high}" if high is not None else f"of {low} or older"
            hint = {"child": "teen() or adult()", "teen": "child() or adult()"}.get(
                kind, "child() or teen()"
            )
            raise ValueError(f"{kind}(age={age}) needs an age {span}; use {hint} instead")
        return band

    def child(
        self,
        age: int | None = 12,
        *,
        id: str | None = None,  # noqa: A002 - the domain\'s name
        jurisdiction: str | None = None,
        settings: Mapping[str, Any] | None = None,
        timezone: str | None = None,
        assurance: Assurance | str = Assurance.SELF_DECLARED,
    ) -> Account:
        """An account under 18 (``age`` 0 to 17; ``None``: age unknown)."""
        band = self._age("child", age, 0, 17)
        return self._make("child", band, id, _options(jurisdiction, settings, timezone, assurance))

    def teen(
        self,
        age: int = 15,
        *,
        id: str | None = None,  # noqa: A002 - the domain\'s name
        jurisdiction: str | None = None,
        settings: Mapping[str, Any] | None = None,
        timezone: str | None = None,
        assurance: Assurance | str = Assurance.SELF_DECLARED,
    ) -> Account:
        """An account aged 13 to 17."""
        band = self._age("teen", age, 13, 17)
        return self._make("teen", band, id, _options(jurisdiction, settings, timezone, assurance))

    def adult(
        self,
        age: int = 30,
        *,
        id: str | None = None,  # noqa: A002 - the domain\'s name
        jurisdiction: str | None = None,
        settings: Mapping[str, Any] | None = None,
        timezone: str | None = None,
        assurance: Assurance | str = Assurance.SELF_DECLARED,
    ) -> Account:
        """An account aged 18 or over."""
        band = self._age("adult", age, 18, None)
        return self._make("adult", band, id, _options(jurisdiction, settings, timezone, assurance))

    def of_band(
        self,
        band: AgeBand | str,
        *,
        id: str | None = None,  # noqa: A002 - the domain\'s name
        jurisdiction: str | None = None,
        settings: Mapping[str, Any] | None = None,
        timezone: str | None = None,
    ) -> Account:
        """An account in ``band`` (``"unknown"`` included)."""
        resolved = AgeBand.parse(band)
        prefix = "adult" if resolved is AgeBand.ADULT else "child"
        return self._make(
            prefix,
            resolved,
            id,
            _options(jurisdiction, settings, timezone, Assurance.SELF_DECLARED),
        )

    def parent_of(
        self,
        child: Account,
        *,
        id: str | None = None,  # noqa: A002 - the domain's name for an account id
        age: int = 40,
    ) -> Account:
        """An adult parent of ``child``, in the same jurisdiction, connected to it."""
        if not child.band.is_minor:
            raise ValueError(f"parent_of() needs a child account, got an adult ({child.id!r})")
        parent = self._make(
            "parent",
            self._age("adult", age, 18, None),
            id,
            {"jurisdiction": child.jurisdiction, "timezone": child.timezone},
        )
        self._parents.setdefault(child.id, set()).add(parent.id)
        self.connect(parent, child)
        return parent

    # -- relating them ------------------------------------------------------------

    def connect(self, a: Account | str, b: Account | str) -> None:
        """Make ``a`` and ``b`` connected (a mutual connection, both ways)."""
        self._connected.add(_pair(a, b))

    def block(self, a: Account | str, b: Account | str) -> None:
        """Record that one of ``a`` and ``b`` blocked the other."""
        self._blocked.add(_pair(a, b))

    def invite(self, target: Account | str, actor: Account | str) -> None:
        """``target`` shares a personal invite with ``actor``."""
        self._invited.add((_id(actor), _id(target)))

    def parents(self, child: Account | str) -> tuple[str, ...]:
        """The ids :meth:`parent_of` made for ``child``."""
        return tuple(sorted(self._parents.get(_id(child), ())))

    def relationship(self, actor: Account | str, target: Account | str) -> Relationship:
        """How ``actor`` relates to ``target`` (counting their mutual connections)."""
        a, b = _id(actor), _id(target)

        def friends(x: str) -> set[str]:
            return {y for pair in self._connected if x in pair for y in pair if y != x}

        return Relationship(
            connected=_pair(a, b) in self._connected,
            mutual_connections=len((friends(a) & friends(b)) - {a, b}),
            blocked=_pair(a, b) in self._blocked,
            invited=(a, b) in self._invited,
        )

    def get_account(self, account_id: str) -> Account | None:
        """The account made with id ``account_id`` (``None`` if there is none)."""
        return self._accounts.get(account_id)

    def __iter__(self) -> Iterator[Account]:
        return iter(tuple(self._accounts.values()))


def _id(account: Account | str) -> str:
    return account if isinstance(account, str) else account.id


def _options(
    jurisdiction: str | None,
    settings: Mapping[str, Any] | None,
    timezone: str | None,
    assurance: Assurance | str,
) -> dict[str, Any]:
    out: dict[str, Any] = {"assurance": assurance}
    if jurisdiction is not None:
        out["jurisdiction"] = jurisdiction
    if settings is not None:
        out["settings"] = settings
    if timezone is not None:
        out["timezone"] = timezone
    return out


@attrs.frozen
class Cohort:
    """An age band in a jurisdiction: one case of a test run across bands.

    ``str(cohort)`` is its test id: ``13_15-GB``, or ``13_15`` without a jurisdiction.

    .. versionadded:: 0.1.0
    """

    band: AgeBand
    jurisdiction: str | None = None

    @property
    def age(self) -> int | None:
        """A representative age for the band (``None`` for ``unknown``)."""
        return BAND_AGES[self.band]

    def account(self, id: str = "subject", **options: Any) -> Account:  # noqa: A002, ANN401
        """An account in this band and jurisdiction; ``options`` go to ``Account``."""
        options.setdefault("jurisdiction", self.jurisdiction)
        return Account(id=id, band=self.band, **options)

    def __str__(self) -> str:
        band = self.band.value
        return f"{band}-{self.jurisdiction}" if self.jurisdiction else band


def cohorts(
    bands: Iterable[AgeBand | str] | None = None,
    jurisdictions: Iterable[str | None] = (None,),
) -> list[Cohort]:
    """Every combination of ``bands`` (default: all five, ``unknown`` last) and
    ``jurisdictions`` (default: none), band by band.

    >>> from childsafe.testing import cohorts
    >>> [str(c) for c in cohorts(["13_15", "adult"], ["GB", "US-CA"])]
    ['13_15-GB', '13_15-US-CA', 'adult-GB', 'adult-US-CA']

    .. versionadded:: 0.1.0
    """
    chosen = [AgeBand.parse(b) for b in (ALL_BANDS if bands is None else bands)]
    places = list(jurisdictions)
    if not chosen or not places:
        raise ValueError("cohorts() needs at least one band and one jurisdiction (None: none)")

    normalised = [normalise_jurisdiction(j) if j is not None else None for j in places]
    return [Cohort(band, j) for band in chosen for j in normalised]
