"""The compiled policy and the decision hot path.

:class:`Guard` compiles a :class:`~childsafe.Policy` once into plain dicts: per
jurisdiction and age band, the default settings and, per action, a table from the
deciding setting's value to a requirement on the relationship and the two prebuilt
:class:`~childsafe.Decision` objects. Deciding is then a few dict look-ups: no I/O, no
lock, no allocation on the common path. :meth:`Guard.reload` swaps the compiled policy
with one attribute assignment, so readers see either the old or the new one whole.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal

import attrs

from childsafe import _contact as _contacts
from childsafe._actions import (
    _DENY_REASON,
    _DM_SPEC,
    _EXPLAIN,
    _GROUP_INVITE_SPEC,
    _MAX_SENSITIVITY,
    _RELATIONSHIP_REMEDY,
    _SENSITIVITY_RANK,
    _SPECS,
    ACTIONS,
    ANY,
    APPROVAL,
    CONNECTED,
    GROUP_ACTIONS,
    INVITED,
    MATCH_SOURCES,
    MEDIA_ACTIONS,
    MUTUAL,
    MUTUAL_OR_INVITED,
    SENSITIVITY_LEVELS,
    _ActionSpec,
    _Side,
)
from childsafe._bands import AgeBand
from childsafe._decision import Decision, Reason
from childsafe._effective import Settings
from childsafe._model import STRANGERS, Account, Relationship
from childsafe._parsing import shown
from childsafe._policy import ChangeableBy, Policy, Rule
from childsafe._settings import SETTINGS, Setting, SettingValue, suggest
from childsafe._supervision import (
    CONSENT_BASED,
    DEFAULT_AGE_OF_DIGITAL_CONSENT,
    ConsentScope,
    consent_values,
    youngest_age,
)
from childsafe._time import local_minute
from childsafe.events import EventDispatcher, EventSink, EventStats
from childsafe.exceptions import InvalidCheckError, InvalidSettingError, UnknownActionError

if TYPE_CHECKING:
    from childsafe.media import MediaVerdict

__all__ = [
    "ACTIONS",
    "GROUP_ACTIONS",
    "MEDIA_ACTIONS",
    "SENSITIVITY_LEVELS",
    "Guard",
    "SettingChange",
]

_SETTINGS_CACHE_SIZE: Final = 4096
_NO_CONSENTS: Final[frozenset[str]] = frozenset()
_ADULT: Final = AgeBand.ADULT  # a module global is cheaper to read than an enum member


def _satisfied(req: int, rel: Relationship) -> bool:
    if req == CONNECTED:
        return rel.connected
    if req == MUTUAL:
        return rel.connected or rel.mutual_connections > 0
    if req == INVITED:
        return rel.connected or rel.invited
    if req == MUTUAL_OR_INVITED:
        return rel.connected or rel.invited or rel.mutual_connections > 0
    return False


def _dm_granted(table: _BandTable, child: Account, other: str, rel: Relationship) -> bool:
    """Whether a parent's ``dm.from`` grant lets ``other`` message ``child`` (connected,
    and only where the floor lets connections message)."""
    return rel.connected and table.dm_contact_ok and f"dm.from:{other}" in child.consents


def _effective(setting: Setting, rule: Rule, raw: SettingValue) -> SettingValue:
    """An account's own value, clamped to what the policy allows today."""
    if rule.changeable_by is ChangeableBy.NOBODY and not setting.le(raw, rule.default):
        return rule.default
    if not setting.le(raw, rule.floor):
        return rule.floor
    return raw


class _BandTable:
    """Everything the hot path needs for one (jurisdiction, band)."""

    __slots__ = (
        "band",
        "cache",
        "citations",
        "consent_age",
        "consented_defaults",
        "contact_citations",
        "defaults",
        "dm_contact_ok",
        "entries",
        "gates",
        "match_citations",
        "rules",
        "settings",
        "settings_cache",
    )

    def __init__(
        self,
        policy: Policy,
        band: AgeBand,
        rules: Mapping[str, Rule],
        consent_age: int = DEFAULT_AGE_OF_DIGITAL_CONSENT,
    ) -> None:
        self.band = band
        self.rules = dict(rules)
        self.defaults: dict[str, SettingValue] = {n: r.default for n, r in rules.items()}
        self.consent_age = consent_age
        # Below the age of digital consent, consent-based values need a parent's grant:
        # per setting, the values that do and the value used without one.
        self.gates: dict[str, tuple[dict[SettingValue, str], SettingValue]] = {}
        # Policy defaults that are consent-based: they apply only with the consent.
        self.consented_defaults: dict[str, SettingValue] = {}
        if youngest_age(band) < consent_age:
            for name, threshold in CONSENT_BASED.items():
                values = SETTINGS[name].domain.values  # type: ignore[union-attr]
                needs: dict[SettingValue, str] = {
                    v: f"{name}:{v}" for v in sorted(consent_values(name))
                }
                self.gates[name] = (needs, values[values.index(threshold) - 1])
                if self.defaults[name] in needs:
                    self.consented_defaults[name] = self.defaults[name]
                    self.defaults[name] = self.gates[name][1]
        # A dm.from grant counts only where the floor lets connections message.
        self.dm_contact_ok = SETTINGS["direct_messages"].le(
            "connections", rules["direct_messages"].floor
        )
        self.settings = Settings(**self.defaults)  # type: ignore[arg-type]
        self.citations = {n: policy.cite(r.sources) for n, r in rules.items()}
        self.contact_citations = policy.cite(_contacts.CONFIRM_SOURCES)
        self.match_citations = policy.cite(MATCH_SOURCES)
        self.cache: dict[tuple[str, str, bool], Decision] = {}
        # Effective settings per distinct set of personal changes (bounded, see below).
        self.settings_cache: dict[tuple[object, ...], Settings] = {}
        self.entries: dict[str, dict[SettingValue, tuple[int, Decision, Decision]]] = {}
        for spec in _SPECS:
            for who, side in (("target", spec.target), ("actor", spec.actor)):
                if side is not None:
                    self.entries[side.key] = {
                        value: (req, *self._pair(spec.name, who, side, value, req))
                        for value, req in side.reqs.items()
                    }

    def value(self, account: Account, name: str) -> SettingValue:
        own = account.settings.get(name, self)
        if own is self:
            if self.consented_defaults and account.consents:
                default = self.consented_defaults.get(name)
                if default is not None and f"{name}:{default}" in account.consents:
                    return default
            return self.defaults[name]
        value = _effective(SETTINGS[name], self.rules[name], own)  # type: ignore[arg-type]
        if self.gates:
            gate = self.gates.get(name)
            if gate is not None:
                scope = gate[0].get(value)
                if scope is not None and scope not in account.consents:
                    return gate[1]
        return value

    def chosen(self, account: Account, name: str) -> SettingValue:
        """The value the account (or the policy) chose, before any consent gate."""
        own = account.settings.get(name, self)
        if own is self:
            return self.rules[name].default
        return _effective(SETTINGS[name], self.rules[name], own)  # type: ignore[arg-type]

    def consent_denial(self, action: str, setting: str, chosen: SettingValue) -> Decision:
        shown = SETTINGS[setting].format(chosen)

        def build() -> Decision:
            return self.decision(
                action,
                "actor",
                setting,
                SETTINGS[setting].format(self.gates[setting][1]),
                Reason.PARENTAL_CONSENT_REQUIRED,
                f"{action} denied: the actor's {setting} {shown!r} is consent-based "
                f"processing and {self.band.value} accounts are below the age of digital "
                f"consent ({self.consent_age}); it needs a parent's consent grant.",
                f"A linked parent can grant consent for '{setting}:{shown}'.",
            )

        return _cached(self, (f"{action}:consent", shown, False), build)

    def dm_consent_allow(self, who: str) -> Decision:
        def build() -> Decision:
            return Decision(
                allowed=True,
                action="dm.send",
                reason=Reason.PARENTAL_CONSENT,
                message=f"dm.send allowed: a parent's consent grant lets this connection "
                f"exchange direct messages with the {who} ({self.band.value}).",
                setting="direct_messages",
                subject=who,
                band=self.band,
                citations=self.citations["direct_messages"],
            )

        return _cached(self, ("dm.send:consent", who, True), build)

    def _pair(
        self, action: str, who: str, side: _Side, value: SettingValue, req: int
    ) -> tuple[Decision, Decision]:
        setting = side.setting
        shown = SETTINGS[setting].format(value)
        allow = self.decision(
            action,
            who,
            setting,
            shown,
            Reason.PERMITTED,
            f"{action} allowed: the {who}'s {setting} is {shown!r} ({self.band.value}).",
            None,
        )
        if req == ANY:
            return allow, allow
        reason = _DENY_REASON[req]
        deny = self.decision(
            action,
            who,
            setting,
            shown,
            reason,
            f"{action} denied: the {who}'s {setting} is {shown!r} ({self.band.value}); "
            f"{_EXPLAIN[reason]}.",
            self._remedy(side, req),
        )
        return allow, deny

    def _remedy(self, side: _Side, req: int) -> str | None:
        rule = self.rules[side.setting]
        parts = []
        if req in _RELATIONSHIP_REMEDY:
            parts.append(_RELATIONSHIP_REMEDY[req])
        floor_req = side.reqs[rule.floor]
        if floor_req < req and rule.changeable_by is not ChangeableBy.NOBODY:
            who = "a parent" if rule.changeable_by is ChangeableBy.PARENT else "the account holder"
            floor = SETTINGS[side.setting].format(rule.floor)
            then = _RELATIONSHIP_REMEDY.get(floor_req)
            gate = self.gates.get(side.setting)
            if gate is not None and rule.floor in gate[0]:
                then = (
                    f"with a parent's consent grant for '{side.setting}:{floor}', since "
                    f"{self.band.value} accounts are below the age of digital consent "
                    f"({self.consent_age})"
                )
            parts.append(
                f"{who} can allow this by changing {side.setting} to {floor!r}"
                + (f" (then {then})" if then else "")
            )
        if not parts:
            return None
        text = "; or ".join(parts)
        return text[0].upper() + text[1:] + "."

    def decision(
        self,
        action: str,
        who: str,
        setting: str,
        shown: str,
        reason: Reason,
        message: str,
        remedy: str | None,
    ) -> Decision:
        return Decision(
            allowed=reason is Reason.PERMITTED,
            action=action,
            reason=reason,
            message=message,
            setting=setting,
            value=shown,
            subject=who,
            band=self.band,
            citations=self.citations[setting],
            remedy=remedy,
        )


class _Compiled:
    __slots__ = ("actions", "default", "policy", "tables")

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        shared: dict[tuple[object, ...], dict[AgeBand, _BandTable]] = {}
        self.tables: dict[str | None, dict[AgeBand, _BandTable]] = {}
        keys: list[str | None] = [None, *policy.overlay_keys()]
        for key in keys:
            rules = policy.rules_for(key)
            age = (
                policy.jurisdiction_info(key).age_of_digital_consent
                or DEFAULT_AGE_OF_DIGITAL_CONSENT
            )
            signature = (age, *((band, tuple(rules[band].values())) for band in sorted(rules)))
            tables = shared.get(signature)
            if tables is None:
                tables = {band: _BandTable(policy, band, rules[band], age) for band in rules}
                tables[AgeBand.UNKNOWN] = tables[policy.unknown_age]
                shared[signature] = tables
            self.tables[key] = tables
        self.default = self.tables[None]
        self.actions = {spec.name: spec for spec in _SPECS}

    def table(self, account: Account) -> _BandTable:
        tables = self.tables.get(account.jurisdiction)
        if tables is None:
            tables = self.fallback(account)
        return tables[account.band]

    def fallback(self, account: Account) -> dict[AgeBand, _BandTable]:
        """The tables of a jurisdiction with no overlay of its own: its country's
        (``GB`` for ``GB-SCT``), else the policy's defaults."""
        return self.tables.get(account.jurisdiction[:2], self.default)  # type: ignore[index]


@attrs.frozen
class SettingChange:
    """The outcome of :meth:`Guard.change_setting`.

    ``applied`` tells whether the change took effect; ``reason`` is one of
    ``changed``, ``unchanged``, ``locked`` or ``unlocked`` (a parent locked or unlocked
    the current value), or a refusal: ``not_changeable``, ``parent_required``,
    ``parent_locked`` (a parent locked it), ``not_guardian`` (the named parent is not
    linked to the account), ``parental_consent_required`` (consent-based processing
    below the age of digital consent, without a verified consent grant), ``below_floor``
    or ``prompt_required`` (loosening needs the child to see the safety prompt and
    confirm: call again with ``confirmed=True``). ``account`` and ``settings`` are the
    account and its effective settings afterwards; ``locked`` whether a parent's lock
    holds the setting afterwards. Truthy exactly when applied.
    """

    applied: bool
    reason: str
    message: str
    setting: str
    value: SettingValue
    account: Account
    settings: Settings
    floor: SettingValue
    prompt_required: bool = False
    citations: tuple[object, ...] = ()
    locked: bool = False

    def __bool__(self) -> bool:
        return self.applied

    @property
    def needs_confirmation(self) -> bool:
        """Whether the change waits for the account holder to confirm a safety prompt
        (``prompt_required``), as :attr:`Decision.outcome` says ``needs_confirmation``:
        call again with ``confirmed=True`` once they have.

        .. versionadded:: 0.2.0
        """
        return self.prompt_required


class Guard:
    """A compiled policy that answers questions about accounts.

    >>> from childsafe import Account, AgeBand, Guard, Relationship, load_policy
    >>> guard = Guard(load_policy())
    >>> teen = Account(id="t1", band=AgeBand.from_age(14), jurisdiction="GB")
    >>> guard.settings_for(teen).direct_messages
    'connections'
    >>> guard.check("dm.send", actor=Account(id="a1", band="adult"), target=teen).reason
    <Reason.NOT_CONNECTED: 'not_connected'>

    Safe to share between threads and tasks; :meth:`reload` swaps the policy atomically.
    """

    __slots__ = ("_compiled", "_events")

    #: Whether decisions are sent to event sinks (the class of a guard with sinks says so).
    _observed: ClassVar[bool] = False

    def __init__(self, policy: Policy | None = None) -> None:
        self._compiled = _Compiled(_check_policy("Guard", policy))
        self._events: EventDispatcher | None = None

    @property
    def policy(self) -> Policy:
        """The policy this guard currently enforces."""
        return self._compiled.policy

    def reload(self, policy: Policy) -> None:
        """Compile ``policy`` and swap it in; calls in flight finish on the old one."""
        self._compiled = _Compiled(_check_policy("Guard.reload", policy))

    # -- events -----------------------------------------------------------------

    def add_sink(self, sink: EventSink) -> None:
        """Send a :class:`~childsafe.events.DecisionEvent` of every decision and setting
        change to ``sink`` from now on.

        Sinks are called from a background thread, in the order they were added, so a
        slow or failing sink never changes or delays a decision (failures are logged
        and counted in :attr:`event_stats`). A guard with no sink builds no event.

        .. versionadded:: 0.1.0
        """
        if not callable(sink):
            raise InvalidCheckError(f"an event sink must be callable, got {sink!r}")
        if self._events is None:
            self._events = EventDispatcher()
        self._events.add(sink)
        if not self._observed:
            from childsafe._observed import observed_class  # noqa: PLC0415 - it imports this module

            self.__class__ = observed_class(type(self))

    def remove_sink(self, sink: EventSink) -> bool:
        """Stop sending events to ``sink``; whether it was registered. Without sinks the
        guard builds no events again."""
        events = self._events
        removed = events is not None and events.remove(sink)
        if events is not None and not events.sinks and self._observed:
            from childsafe._observed import plain_class  # noqa: PLC0415 - it imports this module

            self.__class__ = plain_class(type(self))  # the class before add_sink
        return removed

    def flush_events(self, timeout: float = 5.0) -> bool:
        """Wait (at most ``timeout`` seconds) until every event so far reached the
        sinks; whether it did. For tests, and before a process exits."""
        seconds: object = timeout
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            seconds = None
        if seconds is None or not 0 < seconds <= 3600:
            raise InvalidCheckError(
                f"timeout must be a number of seconds in (0, 3600], got {timeout!r}"
            )
        return True if self._events is None else self._events.flush(float(timeout))

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
        """:meth:`check` made for a web request, whose event (when the guard has sinks)
        carries the request's id and the adapter's name. What the request kernel calls."""
        del request_id, adapter
        return self.check(action, actor, target, relationship, **options)

    def _record(
        self,
        decision: Decision,
        actor: Account | None,
        target: Account | None = None,
        relationship: Relationship | None = None,
        *,
        request_id: str | None = None,
        adapter: str | None = None,
        media: object = None,
    ) -> None:
        """Send the event of ``decision`` to the sinks, if the guard has any (the request
        kernel records the denials it makes itself, such as ``unverifiable``)."""
        events = self._events
        if events is not None and self._observed:
            events.decision(
                self._compiled.policy,
                decision,
                actor,
                target,
                relationship,
                request_id=request_id,
                adapter=adapter,
                media=media,
            )

    @property
    def event_stats(self) -> EventStats:
        """How many events were delivered, failed in a sink, dropped or are pending."""
        if self._events is None:
            return EventStats(delivered=0, failed=0, dropped=0, pending=0)
        return self._events.stats()

    # -- settings ---------------------------------------------------------------

    def settings_for(self, account: Account) -> Settings:
        """The account's effective settings: defaults, with its own changes clamped
        to what the policy allows."""
        try:
            table = self._compiled.table(account)
        except (AttributeError, TypeError, KeyError):
            _check_account("settings_for", account)
            raise
        own = account.settings
        consents = account.consents if table.gates else _NO_CONSENTS
        if consents:
            # Only consents to processing change settings; dm.from grants (one per
            # contact) must not split the cache.
            consents = frozenset(c for c in consents if not c.startswith("dm.from:"))
        if not own and not (consents and table.consented_defaults):
            return table.settings
        # Accounts share few distinct sets of changes: build each Settings once.
        key = (consents, *sorted(own.items(), key=lambda item: item[0]))
        found = table.settings_cache.get(key)
        if found is None:
            values = dict(table.defaults)
            for name in (*own, *table.consented_defaults):
                values[name] = table.value(account, name)
            found = Settings(**values)  # type: ignore[arg-type]
            if len(table.settings_cache) < _SETTINGS_CACHE_SIZE:
                table.settings_cache[key] = found
        return found

    def consent_needed(self, account: Account, scope: str | ConsentScope) -> bool:
        """Whether ``scope`` is consent-based processing that ``account`` may have only
        with a parent's consent grant (it is below its jurisdiction's age of digital
        consent). ``dm.from`` scopes are never *needed*: they are exceptions a parent
        may grant."""
        _check_account("consent_needed", account)
        parsed = ConsentScope.parse(scope)
        if parsed.setting is None:
            return False
        gate = self._compiled.table(account).gates.get(parsed.setting)
        return gate is not None and parsed.value in gate[0]

    def rules_for(self, account: Account) -> Mapping[str, Rule]:
        """The rules that apply to the account (its band and jurisdiction)."""
        _check_account("rules_for", account)
        return self._compiled.table(account).rules

    def change_setting(
        self,
        account: Account,
        setting: str,
        value: object,
        *,
        by: Literal["self", "parent"] = "self",
        confirmed: bool = False,
        guardian: str | None = None,
        lock: bool = True,
    ) -> SettingChange:
        """Change one of the account's settings as the user (``by="self"``) or a parent
        would, within the policy. Tightening is always allowed; loosening needs the
        right person, never goes below the floor, and (where the rule says so) needs
        the child to have confirmed a safety prompt. Going back is never loosening:
        the account holder may always move a setting back towards its default (without
        a prompt) unless a parent's lock holds it.

        Supervision: on a supervised account (one with ``guardians``) a parent's change
        must name one of them as ``guardian=`` (``not_guardian`` otherwise). A parent's
        change locks the setting (``lock=False`` applies it unlocked and lifts an
        earlier lock): the account holder may still tighten a locked setting but not
        loosen it (``parent_locked``). A consent-based value (``feed_personalisation``
        ``profiled``, ``data_sharing`` ``on``) below the jurisdiction's age of digital
        consent needs a verified parental consent grant (``parental_consent_required``).
        """
        _check_account("change_setting", account)
        if by not in ("self", "parent"):
            raise InvalidCheckError(f"by must be 'self' or 'parent', got {by!r}")
        _check_flags(confirmed=confirmed, lock=lock)
        if by == "self" and guardian is not None:
            raise InvalidCheckError("guardian= names the parent making a change: use by='parent'")
        if setting not in SETTINGS:
            raise InvalidSettingError(
                f"unknown setting {setting!r}{suggest(setting, tuple(SETTINGS))}"
            )
        spec = SETTINGS[setting]
        new_value = spec.parse(value)
        table = self._compiled.table(account)
        rule = table.rules[setting]
        current = table.value(account, setting)
        citations = table.citations[setting]
        fmt = spec.format
        parent = by == "parent"

        def result(
            reason: str, message: str, updated: Account | None = None, *, prompt: bool = False
        ) -> SettingChange:
            after = account if updated is None else updated
            return SettingChange(
                applied=updated is not None,
                reason=reason,
                message=message,
                setting=setting,
                value=new_value,
                account=after,
                settings=self.settings_for(after),
                floor=rule.floor,
                prompt_required=prompt,
                citations=citations,
                locked=setting in after.locks,
            )

        if parent and account.guardians and guardian not in account.guardians:
            who = "no guardian" if guardian is None else f"{guardian!r}"
            return result(
                "not_guardian",
                f"{who} is not a linked guardian of {account.id!r}; a parent's change to a "
                "supervised account must name one of its guardians.",
            )
        locks = account.locks
        if parent:
            locks = locks | {setting} if lock else locks - {setting}
        chosen = table.chosen(account, setting)
        if new_value == current and chosen != current:
            # A consent-based choice lapsed with its consent; the new choice replaces it.
            own = {**account.settings, setting: new_value}
            if new_value == rule.default:
                del own[setting]
            return result(
                "changed",
                f"{setting} set to {fmt(new_value)!r}, replacing {fmt(chosen)!r}, which no "
                "longer had a parent's consent.",
                attrs.evolve(account, settings=own, locks=locks),
            )
        if new_value == current:
            if locks == account.locks:
                return result("unchanged", f"{setting} is already {fmt(current)!r}.", account)
            done = "locked" if setting in locks else "unlocked"
            return result(
                done,
                f"{setting} stays {fmt(current)!r} and is now {done}.",
                attrs.evolve(account, locks=locks),
            )
        band = table.band.value
        # Going back: a value between the current one and the default (inclusive) is
        # always the account holder's to choose, unless a parent's lock holds it.
        back = spec.le(new_value, rule.default)
        if not spec.le(new_value, current) and not (
            back and (parent or setting not in account.locks)
        ):
            if not spec.le(new_value, rule.floor):
                return result(
                    "below_floor",
                    f"{fmt(new_value)!r} is below the floor {fmt(rule.floor)!r} for {setting} "
                    f"at {band}; nobody can choose it.",
                )
            if rule.changeable_by is ChangeableBy.NOBODY:
                return result(
                    "not_changeable", f"{setting} cannot be loosened for {band} accounts."
                )
            if not parent and setting in account.locks:
                return result(
                    "parent_locked",
                    f"A parent has locked {setting} at {fmt(current)!r}; only a parent can "
                    "loosen it.",
                )
            if not parent and rule.changeable_by is ChangeableBy.PARENT:
                return result(
                    "parent_required", f"Only a parent can loosen {setting} for {band} accounts."
                )
        gate = table.gates.get(setting)
        if gate is not None and new_value in gate[0]:
            scope = f"{setting}:{fmt(new_value)}"
            if scope not in account.consents:
                return result(
                    "parental_consent_required",
                    f"{setting} {fmt(new_value)!r} is consent-based processing and {band} "
                    f"accounts are below the age of digital consent ({table.consent_age}); "
                    f"it needs a parent's consent grant for {scope!r}.",
                )
        loosening = not spec.le(new_value, current)
        if loosening and not back and not parent and rule.prompt_on_loosen and not confirmed:
            return result(
                "prompt_required",
                f"Show the safety explanation for {setting} and ask the account holder "
                "to confirm before loosening it.",
                prompt=True,
            )
        own = dict(account.settings)
        if new_value == rule.default:
            own.pop(setting, None)
        else:
            own[setting] = new_value
        return result(
            "changed",
            f"{setting} changed from {fmt(current)!r} to {fmt(new_value)!r}.",
            attrs.evolve(account, settings=own, locks=locks),
        )

    # -- decisions --------------------------------------------------------------

    def check(  # noqa: PLR0915 - the hot path stays inline
        self,
        action: str,
        actor: Account | None = None,
        target: Account | None = None,
        relationship: Relationship | None = None,
        *,
        at: dt.datetime | None = None,
        sensitivity: str | None = None,
        engagement: bool = False,
        confirmed: bool = False,
        media: MediaVerdict | None = None,
    ) -> Decision:
        """Decide whether ``actor`` may do ``action`` to ``target``.

        ``relationship`` is how the actor relates to the target (``None``: strangers).
        ``notify`` needs ``target`` (the recipient) and an aware ``at``, and takes
        ``engagement=True`` for engagement prompts; ``content.show`` needs the viewing
        ``actor`` and the content's ``sensitivity`` (one of :data:`SENSITIVITY_LEVELS`).

        The media actions (:data:`MEDIA_ACTIONS`) decide on what inspection found about
        the image, ``media=`` (a :class:`~childsafe.media.MediaVerdict`): an image that
        matches a known-abuse hash list is refused for everyone; one that could not be
        read is refused; a sensitive one (or one with no verdict) meets the minor
        sender's ``sensitive_media_send`` (``media.upload``; ``media.send``, which
        also asks what ``dm.send`` asks of the two accounts) or the viewer's
        ``sensitive_media_blur`` (``media.view``, whose ``target`` is the sender): a
        blur or an intervention is a decision that needs confirmation.

        A decision may *need confirmation* (its ``needs_confirmation`` is true): a
        13-17 sending a friend or follow request to an adult who is not a connection
        sees a safety prompt first. Show it, and when the account holder confirms, ask
        again with ``confirmed=True``; that satisfies the prompt and nothing else.

        .. versionchanged:: 0.2.0 ``confirmed``; the ``follow`` and ``connections.listed``
           actions; ``media`` and the ``media.upload``, ``media.send`` and ``media.view``
           actions.
        """
        # The try costs nothing until it catches: a wrong type (a dict or a string
        # where an Account belongs) surfaces as InvalidCheckError, not AttributeError.
        try:
            c = self._compiled
            raw: object = action
            spec = c.actions.get(action) if isinstance(raw, str) else None
            if spec is None:
                raise UnknownActionError(
                    f"unknown action {shown(action)}{suggest(action, ACTIONS)}; known actions: "
                    f"{', '.join(ACTIONS)}"
                )
            if spec.kind == "relational":
                if actor is None or target is None:
                    raise InvalidCheckError(f"{action} needs both actor= and target=")
                if actor.id == target.id:
                    return _own(action)
                if relationship is None:
                    relationship = STRANGERS
                elif relationship.blocked:
                    return _blocked(action)
                connected = relationship.connected
                side = spec.target
                # `c.table(target)`, inline: this is the hot path of every request.
                tables = c.tables.get(target.jurisdiction)
                table = (tables if tables is not None else c.fallback(target))[target.band]
                req, allow, deny = table.entries[side.key][  # type: ignore[union-attr]
                    table.defaults[side.setting] if not target.settings  # type: ignore[union-attr]
                    else table.value(target, side.setting)  # type: ignore[union-attr]
                ]  # fmt: skip
                # Being connected meets every requirement easier than APPROVAL.
                if req and not ((connected and req < APPROVAL) or _satisfied(req, relationship)):
                    if not (
                        target.consents
                        and spec.consent_dm
                        and _dm_granted(table, target, actor.id, relationship)
                    ):
                        return deny
                    allow = table.dm_consent_allow("target")
                side = spec.actor
                if side is None or (spec.actor_minors_only and actor.band is _ADULT):
                    return allow
                tables = c.tables.get(actor.jurisdiction)
                table = (tables if tables is not None else c.fallback(actor))[actor.band]
                req, _, deny = table.entries[side.key][
                    table.defaults[side.setting] if not actor.settings
                    else table.value(actor, side.setting)
                ]  # fmt: skip
                if req and not ((connected and req < APPROVAL) or _satisfied(req, relationship)):
                    if not (
                        actor.consents
                        and spec.consent_dm
                        and _dm_granted(table, actor, target.id, relationship)
                    ):
                        return deny
                    return table.dm_consent_allow("actor")
                return allow
            contact = _CONTACT_KINDS.get(spec.kind)
            if contact is not None:
                if actor is None or target is None:
                    raise InvalidCheckError(f"{action} needs both actor= and target=")
                if confirmed is not True and confirmed is not False:
                    raise InvalidCheckError(f"confirmed must be True or False, got {confirmed!r}")
                return contact(c, spec, actor, target, relationship, confirmed)
            if spec.kind == "own":
                if actor is None:
                    raise InvalidCheckError(f"{action} needs actor=")
                side = spec.actor
                table = c.table(actor)
                value = table.value(actor, side.setting)  # type: ignore[union-attr]
                if table.gates:
                    gate = table.gates.get(side.setting)  # type: ignore[union-attr]
                    # Only a value the gate fell back to can hide a lapsed consent.
                    if gate is not None and value == gate[1]:
                        chosen = table.chosen(actor, side.setting)  # type: ignore[union-attr]
                        if chosen != value:
                            return table.consent_denial(action, side.setting, chosen)  # type: ignore[union-attr]
                req, allow, deny = table.entries[side.key][value]  # type: ignore[union-attr]
                return allow if req == ANY else deny
            if spec.kind == "media":
                return _media(c, spec, actor, target, relationship, media, confirmed)
            if spec.kind == "notify":
                return self._notify(c, target, at, engagement=engagement)
            return self._content(c, actor, sensitivity)
        except (AttributeError, TypeError, KeyError):
            _check_arguments(action, actor, target, relationship, confirmed)
            raise

    def check_group(
        self,
        action: Literal["group.form", "group.join"],
        actor: Account,
        members: Iterable[Account],
        relationship: Callable[[Account, Account], Relationship | None],
    ) -> Decision:
        """Decide whether ``actor`` may form a group chat with ``members``
        (``"group.form"``) or join one that holds them (``"group.join"``).

        A group may not hold a minor and an adult who is not that minor's connection:
        each (minor, adult) pair is checked as a ``dm.send`` from the adult to the minor
        would be, by either side forming or joining. ``group.form`` checks every pair
        of the new group and each member's ``group_invites`` (the actor adds them);
        ``group.join`` checks the actor with each member. A block between any two
        checked accounts refuses. ``relationship(a, b)`` gives how two accounts relate
        (``None``: strangers). The first refusal is returned, naming both accounts.

        .. versionadded:: 0.2.0
        """
        if action not in GROUP_ACTIONS:
            raise InvalidCheckError(
                f"check_group decides {' or '.join(GROUP_ACTIONS)}, got {action!r}"
                f"{suggest(str(action), GROUP_ACTIONS)}"
            )
        if not isinstance(actor, Account):
            raise InvalidCheckError(
                f"{action}: actor must be a childsafe.Account, got {type(actor).__name__}"
            )
        if not callable(relationship):
            raise InvalidCheckError(
                f"{action}: relationship must be a function of two accounts that returns "
                f"a Relationship or None, got {type(relationship).__name__}"
            )
        group = _members(action, actor, members)
        c = self._compiled

        def related(a: Account, b: Account) -> Relationship | None:
            found = relationship(a, b)
            if found is not None and not isinstance(found, Relationship):
                raise InvalidCheckError(
                    f"{action}: relationship({a.id!r}, {b.id!r}) must return a Relationship "
                    f"or None, got {type(found).__name__}"
                )
            return found

        pairs = (
            [(actor, m) for m in group]
            if action == "group.join"
            else [(a, b) for i, a in enumerate((actor, *group)) for b in group[i:]]
        )
        for a, b in pairs:
            rel = related(a, b)
            refusal = _pair(c, a, b, rel)
            if refusal is None and action == "group.form" and a is actor:
                invite = _relational(c, _GROUP_INVITE_SPEC, actor, b, rel)
                refusal = None if invite.allowed else (invite, actor, b)
            if refusal is not None:
                decision, checked_actor, checked_target = refusal
                return _contacts.group_denial(
                    action, decision, (a.id, b.id), (checked_actor.id, checked_target.id)
                )
        return _contacts.group_allow(action, len(group) + 1)

    @staticmethod
    def _notify(
        c: _Compiled, target: Account | None, at: dt.datetime | None, *, engagement: bool
    ) -> Decision:
        if target is None:
            raise InvalidCheckError("notify needs target= (the account to notify)")
        if not isinstance(at, dt.datetime):
            raise InvalidCheckError("notify needs at= (an aware datetime: when it would be sent)")
        table = c.table(target)
        if engagement:
            value = table.value(target, "engagement_features")
            if value == "off":
                return _cached(
                    table,
                    ("notify:engagement", "off", False),
                    lambda: table.decision(
                        "notify",
                        "target",
                        "engagement_features",
                        "off",
                        Reason.SETTING_OFF,
                        f"notify denied: the target's engagement_features is 'off' "
                        f"({table.band.value}); engagement notifications are not sent.",
                        None,
                    ),
                )
        window = table.value(target, "quiet_hours")
        shown = SETTINGS["quiet_hours"].format(window)
        try:
            minute = local_minute(at, target.timezone)
        except ValueError as e:
            raise InvalidCheckError(str(e)) from None
        quiet = window is not None and window.contains_minute(minute)  # type: ignore[union-attr]
        if not quiet:
            return _cached(
                table,
                ("notify", shown, True),
                lambda: table.decision(
                    "notify",
                    "target",
                    "quiet_hours",
                    shown,
                    Reason.PERMITTED,
                    f"notify allowed: outside the target's quiet hours ({shown}).",
                    None,
                ),
            )
        end = shown.rsplit("-", 1)[1]
        return _cached(
            table,
            ("notify", shown, False),
            lambda: table.decision(
                "notify",
                "target",
                "quiet_hours",
                shown,
                Reason.QUIET_HOURS,
                f"notify denied: it is within the target's quiet hours ({shown}, "
                "the account's time zone).",
                f"Send it after {end} in the account's time zone.",
            ),
        )

    @staticmethod
    def _content(c: _Compiled, actor: Account | None, sensitivity: str | None) -> Decision:
        if actor is None:
            raise InvalidCheckError("content.show needs actor= (the viewer)")
        rank = _SENSITIVITY_RANK.get(sensitivity) if isinstance(sensitivity, str) else None
        if rank is None:
            raise InvalidCheckError(
                f"content.show needs sensitivity= one of {', '.join(SENSITIVITY_LEVELS)}; "
                f"got {sensitivity!r}"
            )
        table = c.table(actor)
        value = table.value(actor, "sensitive_content")
        shown = str(value)
        if rank == 3 and table.band is not AgeBand.ADULT:
            return _cached(
                table,
                ("content.show:adult", shown, False),
                lambda: Decision(
                    allowed=False,
                    action="content.show",
                    reason=Reason.ADULT_ONLY,
                    message=f"content.show denied: adult-only content and the viewer is "
                    f"{table.band.value}.",
                    subject="actor",
                    band=table.band,
                ),
            )
        limit = _MAX_SENSITIVITY[shown] + (
            1 if table.band is AgeBand.ADULT and shown == "standard" else 0
        )
        allowed = rank <= limit
        return _cached(
            table,
            (f"content.show:{sensitivity}", shown, allowed),
            lambda: table.decision(
                "content.show",
                "actor",
                "sensitive_content",
                shown,
                Reason.PERMITTED if allowed else Reason.CONTENT_TOO_SENSITIVE,
                f"content.show {'allowed' if allowed else 'denied'}: {sensitivity!r} content "
                f"and the viewer's sensitive_content is {shown!r} ({table.band.value}).",
                None,
            ),
        )


# -- contact a child starts, groups, whose list (see _contact) ---------------------


def _relational(
    c: _Compiled,
    spec: _ActionSpec,
    actor: Account,
    target: Account,
    relationship: Relationship | None,
) -> Decision:
    """What the tables decide for a relational action.

    :meth:`Guard.check` keeps its own inline copy of this for ``relational`` actions,
    the hot path; ``tests/test_contact.py`` checks that the two agree.
    """
    if actor.id == target.id:
        return _own(spec.name)
    if relationship is None:
        relationship = STRANGERS
    elif relationship.blocked:
        return _blocked(spec.name)
    connected = relationship.connected
    side = spec.target
    assert side is not None
    table = c.table(target)
    req, allow, deny = table.entries[side.key][table.value(target, side.setting)]
    if req and not ((connected and req < APPROVAL) or _satisfied(req, relationship)):
        if not (
            target.consents
            and spec.consent_dm
            and _dm_granted(table, target, actor.id, relationship)
        ):
            return deny
        allow = table.dm_consent_allow("target")
    side = spec.actor
    if side is None or (spec.actor_minors_only and actor.band is _ADULT):
        return allow
    table = c.table(actor)
    req, _, deny = table.entries[side.key][table.value(actor, side.setting)]
    if req and not ((connected and req < APPROVAL) or _satisfied(req, relationship)):
        if not (
            actor.consents
            and spec.consent_dm
            and _dm_granted(table, actor, target.id, relationship)
        ):
            return deny
        return table.dm_consent_allow("actor")
    return allow


def _request(
    c: _Compiled,
    spec: _ActionSpec,
    actor: Account,
    target: Account,
    relationship: Relationship | None,
    confirmed: bool,
) -> Decision:
    """``friend.request`` and ``follow``: the target's setting, then, for a minor adding
    an adult who is not a connection, a parent's approval (under 13) or a prompt."""
    base = _relational(c, spec, actor, target, relationship)
    if not base.allowed or base.reason is Reason.OWN_ACCOUNT:
        return base
    if relationship is not None and relationship.connected:
        return base
    if c.table(target).band is not _ADULT:
        return base
    table = c.table(actor)
    band = table.band
    if band is _ADULT:
        return base
    if band is AgeBand.UNDER_13:
        if actor.consents and f"contact.add:{target.id}" in actor.consents:
            return _cached(
                table,
                (f"{spec.name}:contact.add", "", True),
                lambda: _contacts.parent_granted(spec.name, band, table.contact_citations),
            )
        return _contacts.parent_needed(
            spec.name, band, table.contact_citations, target.id, actor.guardians
        )
    if confirmed:
        return _cached(
            table,
            (f"{spec.name}:confirm", "", True),
            lambda: _contacts.confirmed(spec.name, band, table.contact_citations),
        )
    return _cached(
        table,
        (f"{spec.name}:confirm", "", False),
        lambda: _contacts.confirm(spec.name, band, table.contact_citations),
    )


def _pair(
    c: _Compiled, a: Account, b: Account, relationship: Relationship | None
) -> tuple[Decision, Account, Account] | None:
    """The refusal for two accounts in one group with the actor and target it was
    decided for, or ``None``: a (minor, adult) pair is checked as a ``dm.send`` from the
    adult to the minor would be; any pair for a block."""
    if relationship is not None and relationship.blocked:
        return _blocked("dm.send"), a, b
    a_adult = c.table(a).band is _ADULT
    if a_adult == (c.table(b).band is _ADULT):
        return None
    adult, minor = (a, b) if a_adult else (b, a)
    decision = _relational(c, _DM_SPEC, adult, minor, relationship)
    return None if decision.allowed else (decision, adult, minor)


def _group_invite(
    c: _Compiled,
    spec: _ActionSpec,
    actor: Account,
    target: Account,
    relationship: Relationship | None,
    confirmed: bool,  # noqa: ARG001
) -> Decision:
    """``group.invite``: the invitee's ``group_invites``, and the pair as a ``dm.send``."""
    base = _relational(c, spec, actor, target, relationship)
    if not base.allowed or base.reason is Reason.OWN_ACCOUNT:
        return base
    pair = _pair(c, actor, target, relationship)
    if pair is None:
        return base
    refusal, checked_actor, checked_target = pair
    return _contacts.group_denial(
        spec.name, refusal, (actor.id, target.id), (checked_actor.id, checked_target.id)
    )


def _list(
    c: _Compiled,
    spec: _ActionSpec,
    actor: Account,
    target: Account,
    relationship: Relationship | None,
    confirmed: bool,  # noqa: ARG001
) -> Decision:
    """``connections.view`` and ``connections.listed``: the table, and linked parents."""
    base = _relational(c, spec, actor, target, relationship)
    if base.allowed or base.reason is Reason.BLOCKED or actor.id not in target.guardians:
        return base
    table = c.table(target)
    return _cached(
        table,
        (f"{spec.name}:guardian", str(base.value), True),
        lambda: _contacts.guardian_allow(spec.name, base),
    )


_Rule = Callable[[_Compiled, _ActionSpec, Account, Account, Relationship | None, bool], Decision]
_CONTACT_KINDS: Final[dict[str, _Rule]] = {
    "request": _request,
    "group": _group_invite,
    "list": _list,
}


# -- media: upload, send, view --------------------------------------------------


def _media(
    c: _Compiled,
    spec: _ActionSpec,
    actor: Account | None,
    target: Account | None,
    relationship: Relationship | None,
    media: MediaVerdict | None,
    confirmed: bool,
) -> Decision:
    """``media.upload``, ``media.send`` and ``media.view``: a match refuses for everyone,
    an unreadable image is refused, then the relational rules (``media.send``) and the
    sensitivity rules. No verdict counts as sensitive for a minor (fail closed), never
    as a match."""
    # Imported here, not at the top: only a media check needs it.
    from childsafe.media._types import MediaVerdict  # noqa: PLC0415

    action = spec.name
    if not isinstance(actor, Account):
        _check_arguments(action, actor, target, relationship, confirmed)
        raise InvalidCheckError(f"{action} needs actor= (the {_MEDIA_ACTOR[action]})")
    if action == "media.send" and target is None:
        raise InvalidCheckError("media.send needs both actor= and target=")
    _check_arguments(action, actor, target, relationship, confirmed)
    if media is not None and not isinstance(media, MediaVerdict):
        raise InvalidCheckError(
            f"{action}: media= must be a childsafe.media.MediaVerdict (or None), got "
            f"{type(media).__name__} {_short(media)}"
        )
    table = c.table(actor)
    if media is not None:
        if media.match is not None:
            return _cached(table, (f"{action}:match", "", False), lambda: _matched(table, action))
        if media.error is not None:
            return _cached(
                table, (f"{action}:unreadable", "", False), lambda: _unreadable(table, action)
            )
    minor = table.band is not _ADULT
    sensitive = media.sensitive if media is not None else minor
    if action == "media.view":
        return _view(table, actor, target, relationship, sensitive=sensitive, confirmed=confirmed)
    base: Decision | None = None
    if action == "media.send":
        assert target is not None
        base = _relational(c, spec, actor, target, relationship)
        if not base.allowed:
            return base
    if not (sensitive and minor):
        return base if base is not None else _media_allow(table, action, actor)
    value = str(table.value(actor, "sensitive_media_send"))
    if value == "allowed":
        return _media_allow(table, action, actor)
    key = (f"{action}:sensitive", value, confirmed)
    return _cached(table, key, lambda: _send_rule(table, action, value, confirmed=confirmed))


_MEDIA_ACTOR: Final = {
    "media.upload": "uploader",
    "media.send": "sender",
    "media.view": "viewer",
}


def _matched(table: _BandTable, action: str) -> Decision:
    return Decision(
        allowed=False,
        action=action,
        reason=Reason.KNOWN_ABUSE_MATCH,
        message=f"{action} denied: the image matches a hash list of known abuse imagery "
        "the platform loaded; it is refused for every account and never served.",
        subject="actor",
        band=table.band,
        citations=table.match_citations,
    )


def _unreadable(table: _BandTable, action: str) -> Decision:
    return Decision(
        allowed=False,
        action=action,
        reason=Reason.MEDIA_UNREADABLE,
        message=f"{action} denied: the body could not be read as an image.",
        subject="actor",
        band=table.band,
        remedy="Send a still image in a format the platform reads (JPEG, PNG).",
    )


def _media_allow(table: _BandTable, action: str, actor: Account) -> Decision:
    value = str(table.value(actor, "sensitive_media_send"))
    return _cached(
        table,
        (f"{action}:allow", value, True),
        lambda: table.decision(
            action,
            "actor",
            "sensitive_media_send",
            value,
            Reason.PERMITTED,
            f"{action} allowed: no known-abuse match, and the image is not sensitive or the "
            f"actor's sensitive_media_send is {value!r} ({table.band.value}).",
            None,
        ),
    )


def _send_rule(table: _BandTable, action: str, value: str, *, confirmed: bool) -> Decision:
    """A minor about to send a sensitive image: ``blocked`` refuses, ``intervene`` is
    the safety message first (needs confirmation), then allowed once confirmed."""
    common: dict[str, Any] = {
        "action": action,
        "setting": "sensitive_media_send",
        "value": value,
        "subject": "actor",
        "band": table.band,
        "citations": table.citations["sensitive_media_send"],
    }
    band = table.band.value
    if value == "blocked":
        return Decision(
            allowed=False,
            reason=Reason.SENSITIVE_MEDIA_BLOCKED,
            message=f"{action} denied: the image may show nudity (or could not be checked) "
            f"and the actor's sensitive_media_send is 'blocked' ({band}).",
            **common,
        )
    if confirmed:
        return Decision(
            allowed=True,
            reason=Reason.CONFIRMED,
            message=f"{action} allowed: the actor saw the safety message about sending an "
            f"image that may show nudity and confirmed ({band}).",
            **common,
        )
    return Decision(
        allowed=False,
        reason=Reason.CONFIRMATION_REQUIRED,
        message=f"{action} needs confirmation: the image may show nudity (or could not be "
        f"checked) and the actor's sensitive_media_send is 'intervene' ({band}).",
        remedy="Show the safety message about sending images that may show nudity; if the "
        "account holder still wants to send it, check again with confirmed=True.",
        needs_confirmation=True,
        **common,
    )


def _view(
    table: _BandTable,
    viewer: Account,
    sender: Account | None,
    relationship: Relationship | None,
    *,
    sensitive: bool,
    confirmed: bool,
) -> Decision:
    """``media.view``: a sensitive image is blurred per the viewer's
    ``sensitive_media_blur`` until the viewer chooses to see it."""
    if sender is not None and sender.id == viewer.id:
        return _own("media.view")
    value = str(table.value(viewer, "sensitive_media_blur"))
    connected = relationship is not None and relationship.connected
    blurred = sensitive and (
        value == "always" or (value == "from_non_connections" and not connected)
    )
    if not blurred:
        return _cached(
            table,
            ("media.view:allow", value, True),
            lambda: table.decision(
                "media.view",
                "actor",
                "sensitive_media_blur",
                value,
                Reason.PERMITTED,
                f"media.view allowed: the image is not sensitive, or the viewer's "
                f"sensitive_media_blur is {value!r} ({table.band.value}) and does not blur "
                "it here.",
                None,
            ),
        )

    def build() -> Decision:
        common: dict[str, Any] = {
            "action": "media.view",
            "setting": "sensitive_media_blur",
            "value": value,
            "subject": "actor",
            "band": table.band,
            "citations": table.citations["sensitive_media_blur"],
        }
        if confirmed:
            return Decision(
                allowed=True,
                reason=Reason.CONFIRMED,
                message="media.view allowed: the viewer chose to see a blurred image "
                f"({table.band.value}).",
                **common,
            )
        return Decision(
            allowed=False,
            reason=Reason.SENSITIVE_MEDIA_BLURRED,
            message="media.view blurred: the image may show nudity (or could not be "
            f"checked) and the viewer's sensitive_media_blur is {value!r} "
            f"({table.band.value}).",
            remedy="Show it blurred with the explanation and three choices (view, don't "
            "view, block and report); check again with confirmed=True to show it.",
            needs_confirmation=True,
            **common,
        )

    return _cached(table, ("media.view:blur", value, confirmed), build)


def _members(action: str, actor: Account, members: Iterable[Account]) -> list[Account]:
    raw: object = members
    if isinstance(raw, str | bytes | Mapping) or not isinstance(raw, Iterable):
        raise InvalidCheckError(
            f"{action}: members must be a collection of childsafe.Account, got {type(raw).__name__}"
        )
    group: list[Account] = []
    seen = {actor.id}
    for i, member in enumerate(raw):
        if not isinstance(member, Account):
            raise InvalidCheckError(
                f"{action}: members[{i}] must be a childsafe.Account, got "
                f"{type(member).__name__} {_short(member)}"
            )
        if member.id not in seen:
            seen.add(member.id)
            group.append(member)
    return group


def _check_arguments(
    action: object,
    actor: object,
    target: object,
    relationship: object,
    confirmed: object,
) -> None:
    """Raise :class:`InvalidCheckError` naming the argument of :meth:`Guard.check` that
    has the wrong type (called when a check failed on a missing attribute)."""
    for name, value in (("actor", actor), ("target", target)):
        if value is not None and not isinstance(value, Account):
            raise InvalidCheckError(
                f"{action}: {name}= must be a childsafe.Account (or None), got "
                f"{type(value).__name__} {_short(value)}"
            )
    if relationship is not None and not isinstance(relationship, Relationship):
        raise InvalidCheckError(
            f"{action}: relationship= must be a childsafe.Relationship (or None), got "
            f"{type(relationship).__name__} {_short(relationship)}"
        )
    if not isinstance(confirmed, bool):
        raise InvalidCheckError(f"{action}: confirmed= must be True or False, got {confirmed!r}")


def _check_flags(**flags: object) -> None:
    for flag, given in flags.items():
        if given is not True and given is not False:
            # A truthy "no" must not count as the child's confirmation.
            raise InvalidCheckError(f"{flag} must be True or False, got {given!r}")


def _check_policy(method: str, policy: object) -> Policy:
    """``policy`` itself (``None``: the built-in baseline); anything else, a path
    included, is an :class:`InvalidCheckError` instead of an ``AttributeError``."""
    if policy is None:
        return Policy.baseline()
    if not isinstance(policy, Policy):
        raise InvalidCheckError(
            f"{method}: policy must be a childsafe.Policy (load a config with "
            f"load_policy(...)), got {type(policy).__name__} {_short(policy)}"
        )
    return policy


def _check_account(method: str, account: object) -> None:
    if not isinstance(account, Account):
        raise InvalidCheckError(
            f"{method}: account must be a childsafe.Account, got "
            f"{type(account).__name__} {_short(account)}"
        )


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _cached(table: _BandTable, key: tuple[str, str, bool], build: object) -> Decision:
    found = table.cache.get(key)
    if found is None:
        found = table.cache.setdefault(key, build())  # type: ignore[operator]
    return found


_OWN_CACHE: dict[str, Decision] = {}
_BLOCKED_CACHE: dict[str, Decision] = {}


def _own(action: str) -> Decision:
    found = _OWN_CACHE.get(action)
    if found is None:
        found = _OWN_CACHE.setdefault(
            action,
            Decision(
                allowed=True,
                action=action,
                reason=Reason.OWN_ACCOUNT,
                message=f"{action} allowed: the account acts on itself.",
            ),
        )
    return found


def _blocked(action: str) -> Decision:
    found = _BLOCKED_CACHE.get(action)
    if found is None:
        found = _BLOCKED_CACHE.setdefault(
            action,
            Decision(
                allowed=False,
                action=action,
                reason=Reason.BLOCKED,
                message=f"{action} denied: one of the accounts has blocked the other.",
            ),
        )
    return found
