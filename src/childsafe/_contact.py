"""The decisions of contact a child starts, groups, and whose list is shown.

POLICY-BASELINE, "Contact a child starts, groups, and going back": a child below 13 who
asks to connect with (or follow) an adult who is not a connection needs a linked
parent's approval; a 13-17 sees a safety prompt first (the decision *needs
confirmation*); a group may not hold a minor and an adult who could not exchange direct
messages; a hidden connection list is shown to the account's linked parents.

The engine decides *when* these apply (:mod:`childsafe._engine`); this module builds the
:class:`~childsafe.Decision` objects, so their texts live in one place.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Final

from childsafe._bands import AgeBand
from childsafe._decision import Decision, Reason
from childsafe._policy import Citation

__all__ = [
    "CONFIRM_SOURCES",
    "confirm",
    "confirmed",
    "group_allow",
    "group_denial",
    "guardian_allow",
    "parent_granted",
    "parent_needed",
]

_ROLE: Final = re.compile(r"the (actor|target)'s (\w+)")

#: The standards behind the contact rules (Ofcom ICU F1/F2, NSPCC).
CONFIRM_SOURCES: Final = ("ofcom-icu-f1", "ofcom-icu-f2", "nspcc-wild-west-web")


def confirm(action: str, band: AgeBand, citations: tuple[Citation, ...]) -> Decision:
    """A 13-17 adding an adult who is not a connection: allowed once confirmed."""
    return Decision(
        allowed=False,
        action=action,
        reason=Reason.CONFIRMATION_REQUIRED,
        message=f"{action} needs confirmation: the actor ({band.value}) is adding an adult "
        "who is not a connection; show the safety prompt first.",
        subject="actor",
        band=band,
        citations=citations,
        remedy="The account holder can go ahead after seeing the safety prompt and confirming.",
        needs_confirmation=True,
    )


def confirmed(action: str, band: AgeBand, citations: tuple[Citation, ...]) -> Decision:
    """The same request after the account holder confirmed the prompt."""
    return Decision(
        allowed=True,
        action=action,
        reason=Reason.CONFIRMED,
        message=f"{action} allowed: the actor ({band.value}) saw the safety prompt about "
        "adding an adult who is not a connection, and confirmed.",
        subject="actor",
        band=band,
        citations=citations,
    )


def parent_needed(
    action: str,
    band: AgeBand,
    citations: tuple[Citation, ...],
    target: str,
    guardians: Collection[str],
) -> Decision:
    """A child below 13 adding an adult who is not a connection, without approval."""
    scope = f"contact.add:{target}"
    if guardians:
        names = ", ".join(repr(g) for g in sorted(guardians))
        remedy = f"A linked parent ({names}) can approve it with a consent grant for {scope!r}."
    else:
        remedy = (
            "Link a parent or guardian to the account; they can then approve it with a "
            f"consent grant for {scope!r}."
        )
    return Decision(
        allowed=False,
        action=action,
        reason=Reason.PARENT_APPROVAL_TO_CONTACT,
        message=f"{action} denied: the actor ({band.value}) is adding an adult who is not a "
        "connection, which needs a linked parent's approval.",
        subject="actor",
        band=band,
        citations=citations,
        remedy=remedy,
    )


def parent_granted(action: str, band: AgeBand, citations: tuple[Citation, ...]) -> Decision:
    """A child below 13 adding an adult a parent approved (``contact.add``)."""
    return Decision(
        allowed=True,
        action=action,
        reason=Reason.PARENTAL_CONSENT,
        message=f"{action} allowed: a linked parent approved this request from the actor "
        f"({band.value}) with a consent grant.",
        subject="actor",
        band=band,
        citations=citations,
    )


def guardian_allow(action: str, decision: Decision) -> Decision:
    """A linked parent looking at the child's connection list (``decision`` is what
    anyone else would get, for its setting and citations)."""
    return Decision(
        allowed=True,
        action=action,
        reason=Reason.GUARDIAN,
        message=f"{action} allowed: the actor is a linked parent or guardian of the target.",
        setting=decision.setting,
        value=decision.value,
        subject="target",
        band=decision.band,
        citations=decision.citations,
    )


def group_denial(
    action: str, pair: Decision, members: tuple[str, str], roles: tuple[str, str]
) -> Decision:
    """A group that would hold the two ``members``, whose pair check ``pair`` refused
    (as a ``dm.send`` from an adult to a minor, or a ``group.invite``); ``roles`` are
    the ids of that check's actor and target, named in the message instead of roles."""
    first, second = members
    why = pair.message.split(": ", 1)[-1]
    ids = {"actor": roles[0], "target": roles[1]}
    why = _ROLE.sub(lambda m: f"the {m[2]} of {ids[m[1]]!r}", why)
    return Decision(
        allowed=False,
        action=action,
        reason=pair.reason,
        message=f"{action} denied: the group would hold {first!r} and {second!r}, and {why}",
        setting=pair.setting,
        value=pair.value,
        subject=pair.subject,
        band=pair.band,
        citations=pair.citations,
        remedy=pair.remedy,
    )


def group_allow(action: str, size: int) -> Decision:
    """A group whose every checked pair may be together."""
    return Decision(
        allowed=True,
        action=action,
        reason=Reason.PERMITTED,
        message=f"{action} allowed: no two of the {size} accounts are kept apart (every "
        "minor and adult in it may exchange direct messages).",
    )
