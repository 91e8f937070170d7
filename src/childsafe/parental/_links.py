"""Linking parent and guardian accounts to a child's account."""

from __future__ import annotations

import attrs

from childsafe._bands import AgeBand
from childsafe._model import Account
from childsafe._parsing import shown
from childsafe.parental._errors import GuardianLinkError

__all__ = ["link_guardian", "unlink_guardian"]


def _accounts(call: str, **given: object) -> None:
    """Refuse an argument that is not an Account (an id where the account belongs was an
    AttributeError from reading ``.id`` off it)."""
    for name, value in given.items():
        if not isinstance(value, Account):
            raise GuardianLinkError(
                f"{call}: {name} must be a childsafe.Account, got {type(value).__name__} "
                f"{shown(value)}"
            )


def link_guardian(child: Account, guardian: Account) -> Account:
    """``child`` with ``guardian`` linked as a parent or guardian.

    The platform establishes that the person really is the child's parent; childsafe
    refuses links that cannot be right: a guardian who is not an adult account, an
    adult as the supervised account, or an account linked to itself.
    Store the returned account: its ``supervised`` is then true, so the child's UI shows
    that a parent can see and change things (ICO Children's code standard 11).
    """
    _accounts("link_guardian", child=child, guardian=guardian)
    if guardian.id == child.id:
        raise GuardianLinkError(f"account {child.id!r} cannot be its own guardian")
    if guardian.band is not AgeBand.ADULT:
        raise GuardianLinkError(
            f"a guardian must be an adult account; {guardian.id!r} is {guardian.band.value}"
        )
    if child.band is AgeBand.ADULT:
        raise GuardianLinkError(
            f"{child.id!r} is an adult account; only minors (or unknown ages) are supervised"
        )
    return attrs.evolve(child, guardians=child.guardians | {guardian.id})


def unlink_guardian(child: Account, guardian_id: str) -> Account:
    """``child`` without the guardian ``guardian_id``.

    The account's verified consents are dropped (grants are verified again at the next
    resolution, and the removed guardian's grants no longer count); when the last
    guardian goes, so do the parent locks, since nobody could lift them any more.
    """
    _accounts("unlink_guardian", child=child)
    given: object = guardian_id
    if not isinstance(given, str):  # an Account is unhashable: `in` raised TypeError
        raise GuardianLinkError(
            f"unlink_guardian: guardian_id must be the guardian's id (a string), got "
            f"{type(given).__name__} {shown(given)}"
        )
    if guardian_id not in child.guardians:
        raise GuardianLinkError(f"{guardian_id!r} is not a guardian of {child.id!r}")
    guardians = child.guardians - {guardian_id}
    locks = child.locks if guardians else frozenset[str]()
    return attrs.evolve(child, guardians=guardians, locks=locks, consents=frozenset[str]())
