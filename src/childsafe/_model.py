from __future__ import annotations

import types
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from childsafe._bands import AgeBand, Assurance
from childsafe._policy import normalise_jurisdiction
from childsafe._settings import SETTINGS, SettingValue, get_setting, suggest
from childsafe._supervision import Supervision, parse_scopes
from childsafe.exceptions import InvalidAccountError, InvalidScopeError, InvalidSettingError

__all__ = ["Account", "Relationship"]

_EMPTY: Mapping[str, SettingValue] = types.MappingProxyType({})
_NONE: frozenset[str] = frozenset()


def _band(band: AgeBand | str) -> AgeBand:
    value: object = band  # callers may pass anything; say what is wrong
    if isinstance(value, AgeBand):
        return value
    if isinstance(value, str) and value in AgeBand.__members__.values():
        return AgeBand(value)
    names = ", ".join(repr(b.value) for b in AgeBand)
    raise InvalidAccountError(f"band must be an AgeBand or one of {names}, got {value!r}")


def _assurance(assurance: Assurance | str) -> Assurance:
    value: object = assurance
    if isinstance(value, Assurance):
        return value
    if isinstance(value, str) and value in Assurance.__members__.values():
        return Assurance(value)
    names = ", ".join(repr(a.value) for a in Assurance)
    raise InvalidAccountError(f"assurance must be one of {names}, got {value!r}")


def _jurisdiction(jurisdiction: str | None) -> str | None:
    value: object = jurisdiction
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidAccountError(f"jurisdiction must be a string such as 'GB', got {value!r}")
    try:
        return normalise_jurisdiction(value)
    except ValueError as e:
        raise InvalidAccountError(str(e)) from None


def _settings(settings: Mapping[str, Any] | None) -> Mapping[str, SettingValue]:
    value: object = settings
    if not value:
        return _EMPTY
    if not isinstance(value, Mapping):
        raise InvalidAccountError(
            f"settings must be a mapping of setting name to value, got {value!r}"
        )
    out: dict[str, SettingValue] = {}
    for name, raw in value.items():
        try:
            out[name] = get_setting(name).parse(raw)
        except InvalidSettingError as e:
            raise InvalidAccountError(f"account settings: {e}") from None
    return types.MappingProxyType(out)


def _collection(name: str, value: object) -> list[object]:
    if value is None:
        return []
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidAccountError(f"{name} must be a collection of strings, got {value!r}")
    return list(value)


def _guardians(guardians: Iterable[str] | None) -> frozenset[str]:
    items = _collection("guardians", guardians)
    if not items:
        return _NONE
    for item in items:
        if not isinstance(item, str) or not item:
            raise InvalidAccountError(
                f"guardians must be non-empty account ids (strings), got {item!r}"
            )
    return frozenset(items)  # type: ignore[arg-type]


def _locks(locks: Iterable[str] | None) -> frozenset[str]:
    items = _collection("locks", locks)
    if not items:
        return _NONE
    for item in items:
        if not isinstance(item, str) or item not in SETTINGS:
            raise InvalidAccountError(
                f"locks must name settings; unknown setting {item!r}"
                f"{suggest(str(item), tuple(SETTINGS))}"
            )
    return frozenset(items)  # type: ignore[arg-type]


def _consents(consents: Iterable[str] | None) -> frozenset[str]:
    items = _collection("consents", consents)
    if not items:
        return _NONE
    try:
        return parse_scopes(items)  # type: ignore[arg-type]
    except InvalidScopeError as e:
        raise InvalidAccountError(f"account consents: {e}") from None


def _timezone(timezone: str | None) -> str | None:
    value: object = timezone
    if value is None:
        return None
    from childsafe._time import zone  # noqa: PLC0415 - keep zoneinfo off the import path

    if not isinstance(value, str):
        raise InvalidAccountError(
            f"timezone must be an IANA name such as 'Europe/London', got {value!r}"
        )
    try:
        zone(value)
    except ValueError as e:
        raise InvalidAccountError(str(e)) from None
    return value


@attrs.frozen(slots=True)
class Account:
    """An account as childsafe sees it.

    ``band`` is the age band (``AgeBand.UNKNOWN`` when the age is not known: the policy
    then treats it as its protective band). ``settings`` holds only the values the user
    or a parent has *changed*; everything else comes from the policy. ``timezone`` is
    an IANA name used for quiet hours (UTC when absent).

    Supervision: ``guardians`` are the account ids of the linked parents or guardians
    (see :func:`childsafe.parental.link_guardian`); ``locks`` the settings a parent
    locked, which the account holder may tighten but not loosen; ``consents`` the
    consent scopes of the parental consent grants verified for this request (fill it
    only from :meth:`childsafe.parental.ConsentVerifier.apply`).
    """

    id: str = attrs.field()
    band: AgeBand = attrs.field(default=AgeBand.UNKNOWN, converter=_band)
    jurisdiction: str | None = attrs.field(default=None, converter=_jurisdiction)
    assurance: Assurance = attrs.field(default=Assurance.SELF_DECLARED, converter=_assurance)
    settings: Mapping[str, SettingValue] = attrs.field(
        default=_EMPTY, converter=_settings, repr=lambda s: repr(dict(s))
    )
    timezone: str | None = attrs.field(default=None, converter=_timezone)
    guardians: frozenset[str] = attrs.field(default=_NONE, converter=_guardians)
    locks: frozenset[str] = attrs.field(default=_NONE, converter=_locks)
    consents: frozenset[str] = attrs.field(default=_NONE, converter=_consents)

    @id.validator
    def _check_id(self, _: attrs.Attribute[str], value: object) -> None:
        if not isinstance(value, str) or not value:
            raise InvalidAccountError(f"id must be a non-empty string, got {value!r}")

    @guardians.validator
    def _check_guardians(self, _: attrs.Attribute[frozenset[str]], value: frozenset[str]) -> None:
        if self.id in value:
            raise InvalidAccountError(f"account {self.id!r} cannot be its own guardian")

    @property
    def supervised(self) -> bool:
        """Whether a parent or guardian is linked to the account (ICO standard 11: show
        the child an obvious sign)."""
        return bool(self.guardians)

    @property
    def supervision(self) -> Supervision:
        """The account's guardians, parent locks and verified consents, for the UI."""
        return Supervision(self.guardians, self.locks, self.consents)

    def with_settings(self, **changes: object) -> Account:
        """A copy with ``changes`` added to the account's own settings.

        This does not consult the policy: use :meth:`childsafe.Guard.change_setting`
        to change a setting the way a user or parent would.
        """
        merged = dict(self.settings)
        merged.update(changes)  # type: ignore[arg-type]
        return attrs.evolve(self, settings=merged)


@attrs.frozen(slots=True)
class Relationship:
    """How the actor relates to the target of an action.

    ``connected``: a mutual connection (friends). ``follows``: the actor follows the
    target. ``mutual_connections``: how many connections they share. ``blocked``: either
    has blocked the other (always denies). ``invited``: the target shared a personal
    invite (a QR code or friend code) with the actor, which lets them send a friend
    request even when the target is not discoverable.
    A missing relationship means strangers.
    """

    connected: bool = attrs.field(default=False)
    follows: bool = attrs.field(default=False)
    mutual_connections: int = attrs.field(default=0)
    blocked: bool = attrs.field(default=False)
    invited: bool = attrs.field(default=False)

    @connected.validator
    @follows.validator
    @blocked.validator
    @invited.validator
    def _check_flag(self, attribute: attrs.Attribute[bool], value: object) -> None:
        # A string such as "false" is truthy: accepting it would connect strangers.
        if value is not True and value is not False:
            raise InvalidAccountError(
                f"Relationship.{attribute.name} must be True or False, got "
                f"{type(value).__name__} {value!r}"
            )

    @mutual_connections.validator
    def _check_count(self, _: attrs.Attribute[int], value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidAccountError(
                f"Relationship.mutual_connections must be a count >= 0, got {value!r}"
            )


STRANGERS = Relationship()

# Setting names in catalogue order; used by Settings and the engine.
SETTING_NAMES = tuple(SETTINGS)
