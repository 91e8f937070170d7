"""Guards with event sinks: what :meth:`Guard.add_sink <childsafe.Guard.add_sink>`
turns a guard into. Each decision and setting change is also handed to the sinks; a
guard without sinks keeps its plain class, so deciding builds no event at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Literal

from childsafe._decision import Decision
from childsafe._engine import Guard, SettingChange
from childsafe._model import Account, Relationship
from childsafe._settings import SETTINGS


class _Observed(Guard):
    """What a guard with event sinks becomes (see :meth:`Guard.add_sink`): each
    decision and setting change is also handed to the sinks. A guard without sinks
    keeps the plain class, so deciding builds no event at all."""

    __slots__ = ()
    _observed: ClassVar[bool] = True

    def check(
        self,
        action: str,
        actor: Account | None = None,
        target: Account | None = None,
        relationship: Relationship | None = None,
        **options: Any,  # noqa: ANN401 - Guard.check's keywords, passed on as they are
    ) -> Decision:
        decision = super().check(action, actor, target, relationship, **options)
        self._record(decision, actor, target, relationship, media=options.get("media"))
        return decision

    def _check_for_request(
        self,
        request_id: str | None,
        adapter: str | None,
        action: str,
        actor: Account | None = None,
        target: Account | None = None,
        relationship: Relationship | None = None,
        **options: Any,  # noqa: ANN401 - Guard.check's keywords, passed on as they are
    ) -> Decision:
        decision = super().check(action, actor, target, relationship, **options)
        self._record(
            decision,
            actor,
            target,
            relationship,
            request_id=request_id,
            adapter=adapter,
            media=options.get("media"),
        )
        return decision

    def check_group(
        self,
        action: Literal["group.form", "group.join"],
        actor: Account,
        members: Iterable[Account],
        relationship: Callable[[Account, Account], Relationship | None],
    ) -> Decision:
        decision = super().check_group(action, actor, members, relationship)
        self._record(decision, actor)
        return decision

    def change_setting(
        self,
        account: Account,
        setting: str,
        value: object,
        **options: Any,  # noqa: ANN401 - Guard.change_setting's keywords, passed on
    ) -> SettingChange:
        change = super().change_setting(account, setting, value, **options)
        events = self._events
        if events is not None:
            spec = SETTINGS[setting]
            events.setting_change(
                self._compiled.policy,
                change,
                account,
                by=str(options.get("by", "self")),
                guardian=options.get("guardian"),
                value=spec.format(spec.parse(value)),
            )
        return change


_OBSERVED_CLASSES: dict[type[Guard], type[Guard]] = {Guard: _Observed}
_PLAIN_CLASSES: dict[type[Guard], type[Guard]] = {_Observed: Guard}


def observed_class(cls: type[Guard]) -> type[Guard]:
    """The event-sending class for guards of ``cls`` (an app's own subclass too)."""
    found = _OBSERVED_CLASSES.get(cls)
    if found is None:
        found = type(f"Observed{cls.__name__}", (_Observed, cls), {"__slots__": ()})
        _OBSERVED_CLASSES[cls] = found
        _PLAIN_CLASSES[found] = cls
    return found


def plain_class(cls: type[Guard]) -> type[Guard]:
    """The class a guard of ``cls`` (an event-sending class) had before its sinks."""
    return _PLAIN_CLASSES[cls]
