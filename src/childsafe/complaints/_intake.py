"""Intake: turning a report as a user sends it (JSON-like data) into a validated
:class:`Intake`, every problem named with its field."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from typing import Final, TypeVar

import attrs

from childsafe._bands import AgeBand
from childsafe._model import Account
from childsafe.complaints._errors import ComplaintError, FieldProblem, InvalidComplaintError
from childsafe.complaints._model import (
    DEFAULT_CATEGORIES,
    Categories,
    Reporter,
    ReporterRole,
    Subject,
    SubjectKind,
)

__all__ = ["MAX_DESCRIPTION", "MAX_ID", "Intake", "parse_report"]

MAX_ID: Final = 200
"""The longest id (of a subject or an account) a report may name."""
MAX_DESCRIPTION: Final = 4000
"""The longest description a report may carry, in characters."""

E = TypeVar("E", SubjectKind, ReporterRole, AgeBand)

_MINORS: Final = frozenset({AgeBand.UNDER_13, AgeBand.AGE_13_15, AgeBand.AGE_16_17})
_TOP: Final = frozenset({"category", "subject", "description", "reporter"})
_SUBJECT: Final = frozenset({"kind", "id", "account_id"})
_REPORTER: Final = frozenset({"role", "age_band"})
_INVISIBLE: Final = frozenset({"Cf", "Zl", "Zp"})
_ID_BITS: Final = MAX_ID * 4  # an integer this wide has more digits than MAX_ID


@attrs.frozen
class Intake:
    """A validated report, ready to be filed on the desk."""

    category: str
    subject: Subject
    reporter: Reporter
    description: str = ""


def _choices(values: Iterable[object]) -> str:
    return ", ".join(repr(v) for v in values)


def _text_problem(value: str, limit: int, *, multiline: bool) -> str | None:
    if len(value) > limit:
        return f"at most {limit} characters, got {len(value)}"
    allowed = {"\n", "\t", "\r"} if multiline else set()
    for ch in value:
        if (ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0) and ch not in allowed:
            return f"control character {ch!r} is not allowed"
        if 0xD800 <= ord(ch) <= 0xDFFF:
            return "a lone surrogate is not text"
        if not multiline and unicodedata.category(ch) in _INVISIBLE:
            # Bidi overrides, zero-width characters, line separators: an id shown to a
            # moderator must read as what it is.
            return f"invisible or reordering character U+{ord(ch):04X} is not allowed"
    return None


def _id(
    data: Mapping[str, object], key: str, path: str, problems: list[FieldProblem], *, required: bool
) -> str | None:
    if key not in data or data[key] is None:
        if required:
            problems.append(FieldProblem(path, "required"))
        return None
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, str | int):
        problems.append(FieldProblem(path, f"must be a string, got {type(value).__name__}"))
        return None
    if isinstance(value, int) and value.bit_length() > _ID_BITS:
        # Not turned into text: str() refuses integers of more than 4,300 digits.
        problems.append(FieldProblem(path, f"at most {MAX_ID} characters, got a longer number"))
        return None
    text = str(value).strip()
    if not text:
        problems.append(FieldProblem(path, "must not be empty"))
        return None
    problem = _text_problem(text, MAX_ID, multiline=False)
    if problem is not None:
        problems.append(FieldProblem(path, problem))
        return None
    return text


MAX_UNKNOWN: Final = 5
"""How many unknown fields of one object a refused report names; the rest are counted."""
_SHOWN: Final = 60  # characters of a reporter's own value repeated in a problem


def _name(key: str) -> str:
    return key if len(key) <= _SHOWN else key[:_SHOWN] + "…"


def _extra(data: Mapping[str, object], known: frozenset[str], prefix: str) -> list[FieldProblem]:
    """The unknown fields of ``data``: the first :data:`MAX_UNKNOWN` named, the others
    counted in one problem, so a body of a thousand one-letter keys is not answered with
    a thousand problems (an answer twenty times the request's size)."""
    unknown = [key for key in data if key not in known]
    expected = f"unknown field; expected {_choices(sorted(known))}"
    problems = [
        FieldProblem(f"{prefix}{_name(key)}" if key else f"{prefix}(empty name)", expected)
        for key in unknown[:MAX_UNKNOWN]
    ]
    if len(unknown) > MAX_UNKNOWN:
        more = len(unknown) - MAX_UNKNOWN
        problems.append(FieldProblem(f"{prefix}(more)", f"{more} more unknown fields"))
    return problems


def _object(value: object, path: str, problems: list[FieldProblem]) -> Mapping[str, object] | None:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        problems.append(FieldProblem(path, f"must be an object, got {type(value).__name__}"))
        return None
    return value


def _enum(cls: type[E], value: object, path: str, problems: list[FieldProblem]) -> E | None:
    if isinstance(value, str) and value in {m.value for m in cls}:
        return cls(value)
    problems.append(
        FieldProblem(
            path, f"must be one of {_choices([m.value for m in cls])}, got {value!r:.{_SHOWN}}"
        )
    )
    return None


def _reporter(
    data: Mapping[str, object] | None, account: Account | None, problems: list[FieldProblem]
) -> Reporter | None:
    role: ReporterRole | None = None
    band: AgeBand | None = None
    if data is not None:
        problems.extend(_extra(data, _REPORTER, "reporter."))
        if "role" in data:
            role = _enum(ReporterRole, data["role"], "reporter.role", problems)
            if role is ReporterRole.PLATFORM:
                problems.append(
                    FieldProblem(
                        "reporter.role",
                        "'platform' is for the platform's own detections, not for a report",
                    )
                )
                role = None
        if "age_band" in data:
            band = _enum(AgeBand, data["age_band"], "reporter.age_band", problems)
    if account is not None:
        # Signed in: the account says who is reporting; the body cannot claim another band.
        if band is not None and band is not account.band:
            problems.append(
                FieldProblem(
                    "reporter.age_band",
                    f"the signed-in account's band is {account.band.value!r}; leave it out",
                )
            )
        if account.band in _MINORS:
            if role not in (None, ReporterRole.CHILD):
                problems.append(
                    FieldProblem("reporter.role", "a child's account reports as 'child'")
                )
            return Reporter(ReporterRole.CHILD, account.band, account.id)
        if role is ReporterRole.CHILD and account.band is AgeBand.ADULT:
            problems.append(
                FieldProblem("reporter.role", "an adult's account reports as 'parent' or 'other'")
            )
        return Reporter(role or ReporterRole.OTHER, account.band, account.id)
    band = band or AgeBand.UNKNOWN
    role = role or (ReporterRole.CHILD if band in _MINORS else ReporterRole.OTHER)
    if role is ReporterRole.CHILD and band is AgeBand.ADULT:
        problems.append(
            FieldProblem("reporter.role", "a reporter in band 'adult' cannot report as 'child'")
        )
    if role is not ReporterRole.CHILD and band in _MINORS:
        problems.append(
            FieldProblem("reporter.role", f"a reporter in band {band.value!r} reports as 'child'")
        )
    return Reporter(role, band, None)


def _check_arguments(categories: object, account: object) -> None:
    """``parse_report``'s own arguments (the app's, not the reporter's)."""
    if categories is not None and not isinstance(categories, Categories):
        raise ComplaintError(
            "parse_report: categories: expected Categories or None, got "
            f"{type(categories).__name__}"
        )
    if account is not None and not isinstance(account, Account):
        raise ComplaintError(
            f"parse_report: account: expected the signed-in Account or None, got {account!r:.60}"
        )


def parse_report(
    data: object,
    *,
    categories: Categories | None = None,
    account: Account | None = None,
) -> Intake:
    """Validate a report as a user sends it::

        {"category": "grooming",
         "subject": {"kind": "message", "id": "m-81", "account_id": "u-12"},
         "description": "He keeps asking me to move to another app",
         "reporter": {"role": "parent"}}

    ``categories`` are those the report may name (default: ``DEFAULT_CATEGORIES``);
    ``account`` is the signed-in reporter's account (``None``: not signed in); it
    decides the reporter's band, and a child's account always reports as ``child``.
    Without an account, ``reporter.age_band`` is what the reporter declared
    (``unknown`` by default). Raises :class:`InvalidComplaintError` listing every
    problem, each with its field.

    >>> report = {"category": "bullying", "subject": {"kind": "account", "id": "u-9"}}
    >>> parse_report(report).reporter.role
    <ReporterRole.OTHER: 'other'>
    """
    _check_arguments(categories, account)
    categories = DEFAULT_CATEGORIES if categories is None else categories
    problems: list[FieldProblem] = []
    top = _object(data, "(body)", problems)
    if top is None:
        raise InvalidComplaintError(problems)
    problems.extend(_extra(top, _TOP, ""))
    category: str | None = None
    raw_category = top.get("category")
    if raw_category is None:
        problems.append(FieldProblem("category", "required"))
    elif not isinstance(raw_category, str) or raw_category not in categories:
        problems.append(
            FieldProblem(
                "category",
                f"must be one of {_choices(categories)}, got {raw_category!r:.{_SHOWN}}",
            )
        )
    else:
        category = raw_category
    subject: Subject | None = None
    if "subject" not in top:
        problems.append(FieldProblem("subject", "required"))
    else:
        raw_subject = _object(top["subject"], "subject", problems)
        if raw_subject is not None:
            problems.extend(_extra(raw_subject, _SUBJECT, "subject."))
            kind: SubjectKind | None = None
            if "kind" not in raw_subject:
                problems.append(FieldProblem("subject.kind", "required"))
            else:
                kind = _enum(SubjectKind, raw_subject["kind"], "subject.kind", problems)
            sid = _id(raw_subject, "id", "subject.id", problems, required=True)
            owner = _id(raw_subject, "account_id", "subject.account_id", problems, required=False)
            if kind is SubjectKind.ACCOUNT and owner is not None and owner != sid:
                problems.append(
                    FieldProblem("subject.account_id", "an account subject's account_id is its id")
                )
            if kind is not None and sid is not None:
                subject = Subject(kind, sid, sid if kind is SubjectKind.ACCOUNT else owner)
    description = ""
    raw_description = top.get("description")
    if raw_description is not None:
        if not isinstance(raw_description, str):
            problems.append(
                FieldProblem(
                    "description", f"must be a string, got {type(raw_description).__name__}"
                )
            )
        else:
            problem = _text_problem(raw_description, MAX_DESCRIPTION, multiline=True)
            if problem is not None:
                problems.append(FieldProblem("description", problem))
            description = raw_description.strip()
    raw_reporter = top.get("reporter")
    reporter_data = None if raw_reporter is None else _object(raw_reporter, "reporter", problems)
    reporter = _reporter(reporter_data, account, problems)
    if problems or category is None or subject is None or reporter is None:
        raise InvalidComplaintError(problems)
    return Intake(category, subject, reporter, description)
