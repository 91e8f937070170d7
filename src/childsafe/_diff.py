"""Compare two policies rule by rule on the protection lattice.

:func:`diff_policies` answers the question a release review asks: compared with the
policy in production, what does the new one loosen and what does it tighten? It looks
at the effective rules (baseline, overlays and config together) of every age band and
setting, field by field:

* ``default`` and ``floor`` are compared with :meth:`childsafe.Setting.le`. Quiet-hours
  windows are only partly ordered: a change between two windows neither of which
  contains the other (``21:00-07:00`` to ``22:00-08:00``) gives less protection at some
  hour, so it counts as loosening, with ``comparable`` false;
* ``changeable_by`` loosens when more people may loosen the setting
  (``nobody`` < ``parent`` < ``self``);
* ``prompt_on_loosen`` loosens when the safety prompt is dropped.

When the band that unknown ages resolve to changes, the rules of the ``unknown`` band
(those of the band it resolves to) are compared as well.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import attrs

from childsafe._bands import AgeBand
from childsafe._policy import POLICY_BANDS, ChangeableBy, Policy, Rule, normalise_jurisdiction
from childsafe._settings import SETTINGS, Setting, SettingValue, TimeWindow

__all__ = [
    "FIELDS",
    "Direction",
    "Field",
    "FieldValue",
    "PolicyDiff",
    "RuleChange",
    "diff_policies",
]

Field = Literal["default", "floor", "changeable_by", "prompt_on_loosen"]
"""The fields of a :class:`~childsafe.Rule` that a diff compares."""

Direction = Literal["loosens", "tightens"]
"""Which way a change moves on the protection lattice."""

FieldValue = SettingValue | ChangeableBy | bool
"""A rule field's value: a setting value, who may change it, or whether to prompt."""

FIELDS: Final[tuple[Field, ...]] = ("default", "floor", "changeable_by", "prompt_on_loosen")


def _json_value(value: FieldValue) -> str | int | bool:
    if value is None:
        return "none"
    if isinstance(value, TimeWindow):
        return str(value)
    if isinstance(value, ChangeableBy):
        return value.value
    return value


@attrs.frozen
class RuleChange:
    """One field of one rule that differs between two policies.

    ``old`` and ``new`` are the field's values (a setting value, a
    :class:`~childsafe.ChangeableBy` or a boolean); ``direction`` is ``"loosens"`` or
    ``"tightens"``; ``comparable`` is false for a change between two quiet-hours windows
    neither of which contains the other, which counts as loosening.
    """

    field: Field
    band: AgeBand
    setting: str
    old: FieldValue
    new: FieldValue
    direction: Direction
    comparable: bool = True

    @property
    def loosens(self) -> bool:
        """Whether this change gives the child less protection."""
        return self.direction == "loosens"

    def format_value(self, value: FieldValue) -> str:
        """``value`` as it is written in a config file (``"none"``, ``"21:00-07:00"``)."""
        if self.field in ("default", "floor"):
            return SETTINGS[self.setting].format(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def __str__(self) -> str:
        how = self.direction if self.comparable else f"{self.direction} (windows not comparable)"
        return (
            f"{self.band.value} {self.setting} {self.field}: "
            f"{self.format_value(self.old)} -> {self.format_value(self.new)} {how}"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; values are written as in a config file."""
        return {
            "band": self.band.value,
            "setting": self.setting,
            "field": self.field,
            "old": _json_value(self.old),
            "new": _json_value(self.new),
            "direction": self.direction,
            "comparable": self.comparable,
        }


@attrs.frozen
class PolicyDiff:
    """Everything that differs between the effective rules of two policies.

    ``changes`` are ordered by band (youngest first, ``unknown`` last), then setting in
    catalogue order, then field. ``unknown_age`` is ``(old, new)`` when the band that
    unknown ages resolve to changed, else ``None``. ``jurisdiction`` is the jurisdiction
    whose overlays were applied to both (``None``: the platform-wide rules).
    """

    old_source: str
    new_source: str
    jurisdiction: str | None
    changes: tuple[RuleChange, ...]
    unknown_age: tuple[AgeBand, AgeBand] | None = None

    @property
    def loosened(self) -> tuple[RuleChange, ...]:
        """The changes that give children less protection."""
        return tuple(c for c in self.changes if c.direction == "loosens")

    @property
    def tightened(self) -> tuple[RuleChange, ...]:
        """The changes that give children more protection."""
        return tuple(c for c in self.changes if c.direction == "tightens")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (see the ``childsafe diff`` documentation)."""
        return {
            "old": self.old_source,
            "new": self.new_source,
            "jurisdiction": self.jurisdiction,
            "unknown_age": (
                None
                if self.unknown_age is None
                else {"old": self.unknown_age[0].value, "new": self.unknown_age[1].value}
            ),
            "loosens": len(self.loosened),
            "tightens": len(self.tightened),
            "changes": [c.to_dict() for c in self.changes],
        }


def _value_direction(
    setting: Setting, old: SettingValue, new: SettingValue
) -> tuple[Direction, bool] | None:
    if old == new:
        return None
    if setting.le(new, old):
        return "tightens", True
    return "loosens", setting.le(old, new)


def _field_direction(
    field: Field, setting: Setting, old: Rule, new: Rule
) -> tuple[Direction, bool] | None:
    if field == "default":
        return _value_direction(setting, old.default, new.default)
    if field == "floor":
        return _value_direction(setting, old.floor, new.floor)
    if field == "changeable_by":
        if old.changeable_by == new.changeable_by:
            return None
        wider = new.changeable_by.rank > old.changeable_by.rank
        return ("loosens" if wider else "tightens"), True
    if old.prompt_on_loosen == new.prompt_on_loosen:
        return None
    return ("tightens" if new.prompt_on_loosen else "loosens"), True


def _compare(band: AgeBand, old: Rule, new: Rule, name: str) -> list[RuleChange]:
    setting = SETTINGS[name]
    out: list[RuleChange] = []
    for field in FIELDS:
        found = _field_direction(field, setting, old, new)
        if found is not None:
            direction, comparable = found
            out.append(
                RuleChange(
                    field=field,
                    band=band,
                    setting=name,
                    old=getattr(old, field),
                    new=getattr(new, field),
                    direction=direction,
                    comparable=comparable,
                )
            )
    return out


def diff_policies(old: Policy, new: Policy, *, jurisdiction: str | None = None) -> PolicyDiff:
    """What ``new`` loosens and tightens compared with ``old``.

    ``jurisdiction`` applies that jurisdiction's overlays to both policies first (as for
    an account there); ``None`` compares the platform-wide rules. A malformed
    jurisdiction raises ``ValueError``.

    >>> from childsafe import Policy
    >>> stricter = Policy.from_mapping(
    ...     {"bands": {"16_17": {"direct_messages": {"default": "nobody"}}}}
    ... )
    >>> diff = diff_policies(Policy.baseline(), stricter)
    >>> [str(c) for c in diff.changes]
    ['16_17 direct_messages default: connections -> nobody tightens']
    >>> diff.loosened
    ()
    """
    key = normalise_jurisdiction(jurisdiction) if jurisdiction is not None else None
    old_rules = old.rules_for(key)
    new_rules = new.rules_for(key)
    changes: list[RuleChange] = []
    for band in POLICY_BANDS:
        for name in SETTINGS:
            changes.extend(_compare(band, old_rules[band][name], new_rules[band][name], name))
    unknown_age = None
    if old.unknown_age != new.unknown_age:
        unknown_age = (old.unknown_age, new.unknown_age)
        for name in SETTINGS:
            changes.extend(
                _compare(
                    AgeBand.UNKNOWN,
                    old_rules[old.unknown_age][name],
                    new_rules[new.unknown_age][name],
                    name,
                )
            )
    return PolicyDiff(
        old_source=old.source,
        new_source=new.source,
        jurisdiction=key,
        changes=tuple(changes),
        unknown_age=unknown_age,
    )
