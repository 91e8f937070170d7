"""The complaints desk's model: reports, cases, their lifecycle and the categories.

A case moves through::

    received ──start_review──▶ in_review ──resolve──▶ resolved ──appeal──▶ appealed
        └────────────resolve──────────────────────────▲    ▲                  │
                                                            └──decide_appeal───┘

The first step after ``received`` sets ``first_action_at``; ``resolve`` sets
``resolved_at`` and the ``outcome``. A decided appeal either upholds the outcome or
reverses it (a new outcome, counted as a reversal).
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import types
from collections.abc import Iterator, Mapping
from typing import Final

import attrs

from childsafe._bands import AgeBand
from childsafe.complaints._errors import InvalidTransitionError
from childsafe.exceptions import ConfigProblem, ConfigurationError

__all__ = [
    "DEFAULT_CATEGORIES",
    "TRANSITIONS",
    "Appeal",
    "Categories",
    "Complaint",
    "DSACategory",
    "Outcome",
    "Reporter",
    "ReporterRole",
    "Status",
    "Subject",
    "SubjectKind",
]


class ReporterRole(enum.StrEnum):
    """Who filed the report: the child themselves, a parent, anyone else, or the
    platform's own detection (``PLATFORM``: a case opened for human review by a
    proactive signal, counted in the DSA report's own-initiative section, never
    accepted from a report someone submits).

    .. versionchanged:: 0.2.0 ``PLATFORM``.
    """

    CHILD = "child"
    PARENT = "parent"
    OTHER = "other"
    PLATFORM = "platform"


class SubjectKind(enum.StrEnum):
    """What the report is about."""

    ACCOUNT = "account"
    CONTENT = "content"
    MESSAGE = "message"


class Outcome(enum.StrEnum):
    """How a case was resolved."""

    CONTENT_REMOVED = "content_removed"
    ACCOUNT_RESTRICTED = "account_restricted"
    NO_VIOLATION = "no_violation"
    REFERRED_LAW_ENFORCEMENT = "referred_law_enforcement"
    REFERRED_HOTLINE = "referred_hotline"

    @property
    def actioned(self) -> bool:
        """Whether the platform acted on the report (every outcome but ``no_violation``)."""
        return self is not Outcome.NO_VIOLATION


class Status(enum.StrEnum):
    """Where a case stands in its lifecycle."""

    RECEIVED = "received"
    IN_REVIEW = "in_review"
    RESOLVED = "resolved"
    APPEALED = "appealed"


TRANSITIONS: Final[Mapping[str, frozenset[Status]]] = types.MappingProxyType(
    {
        "start_review": frozenset({Status.RECEIVED}),
        "resolve": frozenset({Status.RECEIVED, Status.IN_REVIEW}),
        "appeal": frozenset({Status.RESOLVED}),
        "decide_appeal": frozenset({Status.APPEALED}),
    }
)
"""Each lifecycle step and the states it may be taken from."""


class DSACategory(enum.StrEnum):
    """The statement-of-reasons categories of the DSA Transparency Database, which the
    harmonised transparency templates (Implementing Regulation (EU) 2024/2835) break
    notices, own-initiative measures and complaints down by. The CSV report writes
    them as ``STATEMENT_CATEGORY_<NAME>``."""

    ANIMAL_WELFARE = "animal_welfare"
    CONSUMER_INFORMATION = "consumer_information"
    CYBER_VIOLENCE = "cyber_violence"
    CYBER_VIOLENCE_AGAINST_WOMEN = "cyber_violence_against_women"
    DATA_PROTECTION_AND_PRIVACY_VIOLATIONS = "data_protection_and_privacy_violations"
    ILLEGAL_OR_HARMFUL_SPEECH = "illegal_or_harmful_speech"
    INTELLECTUAL_PROPERTY_INFRINGEMENTS = "intellectual_property_infringements"
    NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS = (
        "negative_effects_on_civic_discourse_or_elections"
    )
    NOT_SPECIFIED_NOTICE = "not_specified_notice"
    OTHER_VIOLATION_TC = "other_violation_tc"
    PROTECTION_OF_MINORS = "protection_of_minors"
    RISK_FOR_PUBLIC_SECURITY = "risk_for_public_security"
    SCAMS_AND_FRAUD = "scams_and_fraud"
    SELF_HARM = "self_harm"
    UNSAFE_AND_PROHIBITED_PRODUCTS = "unsafe_and_prohibited_products"
    VIOLENCE = "violence"

    @property
    def code(self) -> str:
        """The Transparency Database's code (``STATEMENT_CATEGORY_PROTECTION_OF_MINORS``)."""
        return "STATEMENT_CATEGORY_" + self.value.upper()


_NAME: Final = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@attrs.frozen
class Categories:
    """The report categories a platform offers, each mapped to a :class:`DSACategory`,
    with the label people see. Build one with :meth:`from_mapping`; the default is
    ``DEFAULT_CATEGORIES`` (the seven of the table in the docs).

    >>> cats = Categories.from_mapping(
    ...     {"grooming": "protection_of_minors", "spam": "scams_and_fraud"}
    ... )
    >>> cats.dsa("spam").code
    'STATEMENT_CATEGORY_SCAMS_AND_FRAUD'
    """

    dsa_categories: Mapping[str, DSACategory]
    labels: Mapping[str, str]

    @classmethod
    def from_mapping(
        cls, mapping: Mapping[str, str | DSACategory], labels: Mapping[str, str] | None = None
    ) -> Categories:
        """Categories from ``{name: dsa_category}`` (names are lower-case identifiers,
        in the order given); ``labels`` maps names to display labels (default: the
        name, capitalised). Every problem is raised at once as a
        :class:`~childsafe.exceptions.ConfigurationError`."""
        problems: list[ConfigProblem] = []
        found: dict[str, DSACategory] = {}
        if not mapping:
            problems.append(ConfigProblem("<categories>", "", "name at least one category"))
        for name, dsa in mapping.items():
            key: object = name  # config may hold anything
            if not isinstance(key, str) or not _NAME.match(key):
                problems.append(
                    ConfigProblem(
                        "<categories>",
                        str(name),
                        "a category name is a lower-case identifier of at most 40 "
                        "characters (letters, digits, '_')",
                    )
                )
                continue
            try:
                found[name] = DSACategory(dsa)
            except ValueError:
                known = ", ".join(c.value for c in DSACategory)
                problems.append(
                    ConfigProblem(
                        "<categories>", name, f"unknown DSA category {dsa!r}; use one of {known}"
                    )
                )
        chosen = dict(labels or {})
        problems.extend(
            ConfigProblem("<categories>", f"labels.{name}", "a label for no category")
            for name in chosen
            if name not in mapping
        )
        if problems:
            raise ConfigurationError(problems)
        shown = {name: chosen.get(name, name.replace("_", " ").capitalize()) for name in found}
        return cls(types.MappingProxyType(found), types.MappingProxyType(shown))

    def __contains__(self, name: object) -> bool:
        return name in self.dsa_categories

    def __iter__(self) -> Iterator[str]:
        return iter(self.dsa_categories)

    def __len__(self) -> int:
        return len(self.dsa_categories)

    def dsa(self, name: str) -> DSACategory:
        """The DSA category ``name`` is reported under."""
        return self.dsa_categories[name]

    def label(self, name: str) -> str:
        """The label people see for ``name`` (the name itself if it is unknown)."""
        return self.labels.get(name, name)


DEFAULT_CATEGORIES: Final = Categories.from_mapping(
    {
        "grooming": DSACategory.PROTECTION_OF_MINORS,
        "sexual_content": DSACategory.PROTECTION_OF_MINORS,
        "bullying": DSACategory.CYBER_VIOLENCE,
        "self_harm": DSACategory.SELF_HARM,
        "impersonation": DSACategory.SCAMS_AND_FRAUD,
        "privacy": DSACategory.DATA_PROTECTION_AND_PRIVACY_VIOLATIONS,
        "other": DSACategory.OTHER_VIOLATION_TC,
    },
    labels={
        "grooming": "Grooming",
        "sexual_content": "Sexual content",
        "bullying": "Bullying",
        "self_harm": "Self-harm",
        "impersonation": "Impersonation",
        "privacy": "Privacy",
        "other": "Other",
    },
)
"""The categories childsafe offers unless the platform names its own."""


@attrs.frozen
class Reporter:
    """Who filed a report: their ``role``, age ``band`` and account id (``None`` when
    they were not signed in)."""

    role: ReporterRole
    band: AgeBand
    account_id: str | None = None


@attrs.frozen
class Subject:
    """What a report is about: an account, a piece of content or a message (``id``),
    and the account it belongs to when known (``account_id``)."""

    kind: SubjectKind
    id: str
    account_id: str | None = None


@attrs.frozen
class Appeal:
    """One appeal against a case's outcome: when it was filed and decided, and whether
    the decision reversed the outcome (``outcome_before`` became ``outcome_after``)."""

    filed_at: dt.datetime
    decided_at: dt.datetime | None = None
    reversed: bool | None = None
    outcome_before: Outcome | None = None
    outcome_after: Outcome | None = None


def _aware(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC)


@attrs.frozen
class Complaint:
    """A case on the complaints desk. Frozen: each lifecycle step returns a new one
    (``revision`` counts the steps, so a store can refuse a stale update)."""

    id: str
    received_at: dt.datetime = attrs.field(converter=_aware)
    category: str
    reporter: Reporter
    subject: Subject
    description: str = ""
    status: Status = Status.RECEIVED
    first_action_at: dt.datetime | None = None
    resolved_at: dt.datetime | None = None
    outcome: Outcome | None = None
    appeals: tuple[Appeal, ...] = ()
    revision: int = 0

    @property
    def reversals(self) -> int:
        """How many appeals reversed the outcome."""
        return sum(1 for a in self.appeals if a.reversed)

    @property
    def time_to_first_action(self) -> dt.timedelta | None:
        return None if self.first_action_at is None else self.first_action_at - self.received_at

    @property
    def time_to_resolution(self) -> dt.timedelta | None:
        return None if self.resolved_at is None else self.resolved_at - self.received_at

    def _step(self, step: str) -> None:
        allowed = TRANSITIONS[step]
        if self.status not in allowed:
            raise InvalidTransitionError(self.id, self.status.value, step, allowed)

    def start_review(self, at: dt.datetime) -> Complaint:
        """The case taken up for review at ``at`` (its first action)."""
        self._step("start_review")
        return attrs.evolve(
            self, status=Status.IN_REVIEW, first_action_at=at, revision=self.revision + 1
        )

    def resolve(self, outcome: Outcome, at: dt.datetime) -> Complaint:
        """The case resolved with ``outcome`` at ``at`` (also its first action if it
        was never reviewed)."""
        self._step("resolve")
        return attrs.evolve(
            self,
            status=Status.RESOLVED,
            first_action_at=self.first_action_at or at,
            resolved_at=at,
            outcome=outcome,
            revision=self.revision + 1,
        )

    def appeal(self, at: dt.datetime) -> Complaint:
        """An appeal against the outcome, filed at ``at``."""
        self._step("appeal")
        return attrs.evolve(
            self,
            status=Status.APPEALED,
            appeals=(*self.appeals, Appeal(filed_at=at, outcome_before=self.outcome)),
            revision=self.revision + 1,
        )

    def decide_appeal(self, at: dt.datetime, outcome: Outcome | None = None) -> Complaint:
        """The open appeal decided at ``at``: upheld (``outcome`` ``None`` or the
        same outcome) or reversed (a different ``outcome``)."""
        self._step("decide_appeal")
        before = self.outcome
        after = before if outcome is None else outcome
        decided = attrs.evolve(
            self.appeals[-1], decided_at=at, reversed=after != before, outcome_after=after
        )
        return attrs.evolve(
            self,
            status=Status.RESOLVED,
            outcome=after,
            appeals=(*self.appeals[:-1], decided),
            revision=self.revision + 1,
        )
