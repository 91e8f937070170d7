from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

import attrs

from childsafe._bands import AgeBand, Assurance
from childsafe._policy import normalise_jurisdiction
from childsafe._settings import SETTINGS, SettingValue, get_setting
from childsafe.exceptions import InvalidAccountError, InvalidSettingError

__all__ = ["Account", "Relationship"]

_EMPTY: Mapping[str, SettingValue] = types.MappingProxyType({})


def _band(band: AgeBand | str) -> AgeBand:
    value: object = band  # callers may pass anything; say what is wrong
    if isinstance(value, AgeBand):
        return value
    if isinstance(value, str):
        try:
            return AgeBand(value)
        except ValueError:
            pass
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
    """

    id: str = attrs.field()
    band: AgeBand = attrs.field(default=AgeBand.UNKNOWN, converter=_band)
    jurisdiction: str | None = attrs.field(default=None, converter=_jurisdiction)
    assurance: Assurance = attrs.field(default=Assurance.SELF_DECLARED, converter=_assurance)
    settings: Mapping[str, SettingValue] = attrs.field(
        default=_EMPTY, converter=_settings, repr=lambda s: repr(dict(s))
    )
    timezone: str | None = attrs.field(default=None, converter=_timezone)

    @id.validator
    def _check_id(self, _: attrs.Attribute[str], value: object) -> None:
        if not isinstance(value, str) or not value:
            raise InvalidAccountError(f"id must be a non-empty string, got {value!r}")

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

    connected: bool = False
    follows: bool = False
    mutual_connections: int = attrs.field(default=0)
    blocked: bool = False
    invited: bool = False

    @mutual_connections.validator
    def _check_count(self, _: attrs.Attribute[int], value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidAccountError(f"mutual_connections must be a count >= 0, got {value!r}")


STRANGERS = Relationship()

# Setting names in catalogue order; used by Settings and the engine.
SETTING_NAMES = tuple(SETTINGS)
