"""Supervision data the pure engine reads: guardian links, parent locks and consents.

Consent *grants* are signed receipts verified at resolution time by
:class:`childsafe.parental.ConsentVerifier`; what survives verification is carried on
the :class:`~childsafe.Account` as canonical scope strings (``consents``), so deciding
stays free of I/O. This module holds the scope grammar and the table of consent-based
processing, which the engine and :mod:`childsafe.parental` share.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Final

import attrs

from childsafe._bands import AgeBand
from childsafe._settings import SETTINGS, EnumDomain
from childsafe.exceptions import InvalidScopeError

__all__ = [
    "CONSENT_BASED",
    "DEFAULT_AGE_OF_DIGITAL_CONSENT",
    "ConsentScope",
    "Supervision",
    "consent_values",
    "youngest_age",
]

DEFAULT_AGE_OF_DIGITAL_CONSENT: Final = 16
"""The age of digital consent assumed where neither the account's jurisdiction nor the
platform's names one: GDPR Art. 8(1)'s default, the highest common age (fail closed)."""

CONSENT_BASED: Final[Mapping[str, str]] = {
    "feed_personalisation": "profiled",
    "data_sharing": "on",
}
"""Consent-based processing: per setting, the least protective value that needs a
parent's consent below the age of digital consent (and every value beyond it)."""

_ALIASES: Final = {"personalised_content": "feed_personalisation:profiled"}
_DM_FROM: Final = "dm.from"
_CONTACT_ADD: Final = "contact.add"
_PER_ACCOUNT: Final = {_DM_FROM: "dm_from", _CONTACT_ADD: "contact_add"}
_MAX_SCOPE_CHARS: Final = 300
_ACCOUNT_ID_RE: Final = re.compile(r"^[^\s\x00-\x1f\x7f]{1,256}$")

# The youngest age in each band; below the age of digital consent means this is below it.
_YOUNGEST: Final = {
    AgeBand.UNDER_13: 0,
    AgeBand.AGE_13_15: 13,
    AgeBand.AGE_16_17: 16,
    AgeBand.ADULT: 18,
    AgeBand.UNKNOWN: 0,
}


def youngest_age(band: AgeBand) -> int:
    """The youngest age an account in ``band`` may have (``unknown`` counts as 0)."""
    return _YOUNGEST[band]


def consent_values(setting: str) -> frozenset[str]:
    """The values of ``setting`` that are consent-based processing (empty if none)."""
    threshold = CONSENT_BASED.get(setting)
    if threshold is None:
        return frozenset()
    domain = SETTINGS[setting].domain
    assert isinstance(domain, EnumDomain)
    values = domain.values
    return frozenset(values[values.index(threshold) :])


def _known_scopes() -> str:
    settings = ", ".join(f"'{s}:{v}'" for s, v in CONSENT_BASED.items())
    return (
        f"{settings}, 'personalised_content', 'dm.from:<account id>' or 'contact.add:<account id>'"
    )


@attrs.frozen(slots=True)
class ConsentScope:
    """What a parent consented to.

    ``<setting>:<value>`` for consent-based processing (``feed_personalisation:profiled``,
    ``data_sharing:on``; ``personalised_content`` is another name for the first), or
    ``dm.from:<account id>``: that one connection may exchange direct messages with the
    child even where the child's ``direct_messages`` would not allow it (never below the
    floor), or ``contact.add:<account id>``: a child below 13 may send that one adult a
    friend or follow request (see :attr:`childsafe.Reason.PARENT_APPROVAL_TO_CONTACT`).
    ``str(scope)`` is the canonical spelling.

    .. versionchanged:: 0.2.0 ``contact.add:<account id>``.

    >>> str(ConsentScope.parse("personalised_content"))
    'feed_personalisation:profiled'
    >>> ConsentScope.parse("dm.from:friend-7").account
    'friend-7'
    """

    kind: str
    setting: str | None = None
    value: str | None = None
    account: str | None = None

    @classmethod
    def parse(cls, text: str | ConsentScope) -> ConsentScope:
        """Parse a scope; :class:`~childsafe.exceptions.InvalidScopeError` if malformed."""
        raw: object = text  # callers may pass anything; say what is wrong
        if isinstance(raw, ConsentScope):
            return raw
        if not isinstance(raw, str) or not raw or len(raw) > _MAX_SCOPE_CHARS:
            raise InvalidScopeError(
                f"a consent scope must be a non-empty string of at most {_MAX_SCOPE_CHARS} "
                f"characters, such as {_known_scopes()}; got {text!r}"
            )
        scope = _ALIASES.get(raw, raw)
        head, sep, tail = scope.partition(":")
        if sep and head in _PER_ACCOUNT:
            if not _ACCOUNT_ID_RE.match(tail):
                raise InvalidScopeError(
                    f"consent scope {text!r}: '{head}:' must be followed by an account id "
                    "(no spaces or control characters)"
                )
            return cls(_PER_ACCOUNT[head], account=tail)
        if sep and head in CONSENT_BASED:
            allowed = consent_values(head)
            if tail not in allowed:
                raise InvalidScopeError(
                    f"consent scope {text!r}: {head} {tail!r} is not consent-based; "
                    f"consent applies to {', '.join(repr(v) for v in sorted(allowed))}"
                )
            return cls("processing", setting=head, value=tail)
        raise InvalidScopeError(f"unknown consent scope {text!r}; expected {_known_scopes()}")

    @classmethod
    def dm_from(cls, account_id: str) -> ConsentScope:
        """The scope that lets ``account_id`` exchange direct messages with the child."""
        return cls.parse(f"{_DM_FROM}:{account_id}")

    @classmethod
    def contact_add(cls, account_id: str) -> ConsentScope:
        """The scope that lets a child below 13 send ``account_id`` a friend or follow
        request.

        .. versionadded:: 0.2.0
        """
        return cls.parse(f"{_CONTACT_ADD}:{account_id}")

    def __str__(self) -> str:
        if self.kind == "dm_from":
            return f"{_DM_FROM}:{self.account}"
        if self.kind == "contact_add":
            return f"{_CONTACT_ADD}:{self.account}"
        return f"{self.setting}:{self.value}"


def parse_scopes(values: Iterable[str | ConsentScope]) -> frozenset[str]:
    """Canonical scope strings for ``values`` (raising on the first malformed one)."""
    return frozenset(str(ConsentScope.parse(v)) for v in values)


@attrs.frozen(slots=True)
class Supervision:
    """Who supervises an account and what they set, for the UI to show.

    ICO Children's code standard 11: a child must get an obvious sign when a parent can
    see or change things. ``supervised`` is true exactly when a guardian is linked;
    ``guardians`` their account ids; ``locks`` the settings a parent locked (the child
    may tighten them, not loosen); ``consents`` the verified consent scopes.
    """

    guardians: frozenset[str] = frozenset()
    locks: frozenset[str] = frozenset()
    consents: frozenset[str] = frozenset()

    @property
    def supervised(self) -> bool:
        """Whether a parent or guardian is linked to the account."""
        return bool(self.guardians)

    def __bool__(self) -> bool:
        return self.supervised


# Documented (and re-exported) as part of the public `childsafe.parental` package.
ConsentScope.__module__ = Supervision.__module__ = "childsafe.parental"
