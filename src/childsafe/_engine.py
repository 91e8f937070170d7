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
from collections.abc import Mapping
from typing import Final, Literal

import attrs

from childsafe._bands import AgeBand
from childsafe._decision import Decision, Reason
from childsafe._effective import Settings
from childsafe._model import STRANGERS, Account, Relationship
from childsafe._policy import ChangeableBy, Policy, Rule
from childsafe._settings import SETTINGS, Setting, SettingValue, suggest
from childsafe._time import local_minute
from childsafe.exceptions import InvalidCheckError, InvalidSettingError, UnknownActionError

__all__ = ["ACTIONS", "SENSITIVITY_LEVELS", "Guard", "SettingChange"]

# Requirements a setting value puts on the relationship.
# Numbered by how demanding they are, so a lower number is easier to meet.
ANY: Final = 0
MUTUAL_OR_INVITED: Final = 1
MUTUAL: Final = 2
INVITED: Final = 3
CONNECTED: Final = 4
APPROVAL: Final = 5
PARENT: Final = 6
NEVER: Final = 7

_DENY_REASON: Final = {
    CONNECTED: Reason.NOT_CONNECTED,
    MUTUAL: Reason.NO_MUTUAL_CONNECTION,
    INVITED: Reason.NOT_INVITED,
    MUTUAL_OR_INVITED: Reason.NO_MUTUAL_CONNECTION,
    APPROVAL: Reason.APPROVAL_REQUIRED,
    PARENT: Reason.PARENT_APPROVAL_REQUIRED,
    NEVER: Reason.SETTING_OFF,
}

_EXPLAIN: Final = {
    Reason.SETTING_OFF: "this is switched off",
    Reason.NOT_CONNECTED: "only connections are allowed and these accounts are not connected",
    Reason.NO_MUTUAL_CONNECTION: "a mutual connection is required and there is none",
    Reason.NOT_INVITED: "the account is not discoverable, so a request needs its invite",
    Reason.APPROVAL_REQUIRED: "the account holder approves each invite",
    Reason.PARENT_APPROVAL_REQUIRED: "a parent approves each one",
}

_RELATIONSHIP_REMEDY: Final = {
    CONNECTED: "they need to be connected",
    MUTUAL: "they need a mutual connection",
    INVITED: "the account holder can share a personal invite",
    MUTUAL_OR_INVITED: "they need a mutual connection, or the account holder's invite",
    APPROVAL: "send it as an invite the account holder approves",
    PARENT: "a parent can approve it",
}

SENSITIVITY_LEVELS: Final = ("none", "mild", "strong", "adult")
"""Content sensitivity for ``content.show``, least to most sensitive."""
_SENSITIVITY_RANK: Final = {name: i for i, name in enumerate(SENSITIVITY_LEVELS)}
_MAX_SENSITIVITY: Final = {"strictest": 0, "limited": 1, "standard": 2}


def _reqs(setting: str, *pairs: tuple[str, int]) -> Mapping[SettingValue, int]:
    values = SETTINGS[setting].domain.values  # type: ignore[union-attr]
    table: dict[SettingValue, int] = dict(pairs)
    assert set(table) == set(values), (setting, table)
    return table


@attrs.frozen
class _Side:
    setting: str
    reqs: Mapping[SettingValue, int]
    key: str


@attrs.frozen
class _ActionSpec:
    name: str
    kind: Literal["relational", "own", "notify", "content"]
    target: _Side | None = None
    actor: _Side | None = None
    actor_minors_only: bool = False


def _side(action: str, who: str, setting: str, *pairs: tuple[str, int]) -> _Side:
    return _Side(setting, _reqs(setting, *pairs), f"{action}:{who}")


def _contact(action: str, setting: str, who: str = "target") -> _Side:
    return _side(
        action, who, setting, ("nobody", NEVER), ("connections", CONNECTED), ("everyone", ANY)
    )


def _off_conn_every(action: str, setting: str) -> _Side:
    return _side(
        action, "target", setting, ("off", NEVER), ("connections", CONNECTED), ("everyone", ANY)
    )


def _discover(action: str, setting: str, who: str) -> _Side:
    return _side(
        action, who, setting, ("off", NEVER), ("mutual_connections", MUTUAL), ("everyone", ANY)
    )


def _purchases(action: str) -> _Side:
    return _side(
        action, "actor", "purchases", ("off", NEVER), ("parent_approval", PARENT), ("on", ANY)
    )


_SPECS: Final = (
    _ActionSpec(
        "dm.send",
        "relational",
        target=_contact("dm.send", "direct_messages"),
        actor=_contact("dm.send", "direct_messages", "actor"),
        actor_minors_only=True,
    ),
    _ActionSpec(
        "friend.request",
        "relational",
        target=_side(
            "friend.request",
            "target",
            "discoverable",
            ("off", INVITED),
            ("mutual_connections", MUTUAL_OR_INVITED),
            ("everyone", ANY),
        ),
    ),
    _ActionSpec(
        "friend.suggest",
        "relational",
        target=_discover("friend.suggest", "discoverable", "target"),
        actor=_discover("friend.suggest", "friend_suggestions", "actor"),
    ),
    _ActionSpec(
        "group.invite",
        "relational",
        target=_side(
            "group.invite",
            "target",
            "group_invites",
            ("approval_required", APPROVAL),
            ("connections", CONNECTED),
            ("everyone", ANY),
        ),
    ),
    _ActionSpec(
        "profile.view",
        "relational",
        target=_side(
            "profile.view",
            "target",
            "profile_visibility",
            ("connections", CONNECTED),
            ("public", ANY),
        ),
    ),
    _ActionSpec(
        "connections.view",
        "relational",
        target=_side(
            "connections.view",
            "target",
            "connections_visibility",
            ("hidden", NEVER),
            ("connections", CONNECTED),
            ("public", ANY),
        ),
    ),
    _ActionSpec(
        "location.view",
        "relational",
        target=_side(
            "location.view",
            "target",
            "location_sharing",
            ("off", NEVER),
            ("connections_coarse", CONNECTED),
            ("connections_precise", CONNECTED),
            ("public", ANY),
        ),
    ),
    _ActionSpec("tag", "relational", target=_contact("tag", "tagging")),
    _ActionSpec("comment", "relational", target=_contact("comment", "comments")),
    _ActionSpec(
        "content.download",
        "relational",
        target=_off_conn_every("content.download", "remix_download"),
    ),
    _ActionSpec(
        "live.start",
        "own",
        actor=_side(
            "live.start",
            "actor",
            "live_streaming",
            ("off", NEVER),
            ("connections", ANY),
            ("public", ANY),
        ),
    ),
    _ActionSpec(
        "live.gift",
        "relational",
        target=_side("live.gift", "target", "live_gifting", ("off", NEVER), ("on", ANY)),
        actor=_purchases("live.gift"),
    ),
    _ActionSpec("purchase", "own", actor=_purchases("purchase")),
    _ActionSpec("notify", "notify"),
    _ActionSpec("content.show", "content"),
)

_SETTINGS_CACHE_SIZE: Final = 4096
_ADULT: Final = AgeBand.ADULT  # a module global is cheaper to read than an enum member

ACTIONS: Final = tuple(s.name for s in _SPECS)
"""Every action :meth:`Guard.check` decides."""


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
        "defaults",
        "entries",
        "rules",
        "settings",
        "settings_cache",
    )

    def __init__(self, policy: Policy, band: AgeBand, rules: Mapping[str, Rule]) -> None:
        self.band = band
        self.rules = dict(rules)
        self.defaults: dict[str, SettingValue] = {n: r.default for n, r in rules.items()}
        self.settings = Settings(**self.defaults)  # type: ignore[arg-type]
        self.citations = {n: policy.cite(r.sources) for n, r in rules.items()}
        self.cache: dict[tuple[str, str, bool], Decision] = {}
        # Effective settings per distinct set of personal changes (bounded, see below).
        self.settings_cache: dict[tuple[tuple[str, SettingValue], ...], Settings] = {}
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
            return self.defaults[name]
        return _effective(SETTINGS[name], self.rules[name], own)  # type: ignore[arg-type]

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
        shared: dict[tuple[tuple[AgeBand, tuple[Rule, ...]], ...], dict[AgeBand, _BandTable]] = {}
        self.tables: dict[str | None, dict[AgeBand, _BandTable]] = {}
        keys: list[str | None] = [None, *policy.overlay_keys()]
        for key in keys:
            rules = policy.rules_for(key)
            signature = tuple((band, tuple(rules[band].values())) for band in sorted(rules))
            tables = shared.get(signature)
            if tables is None:
                tables = {band: _BandTable(policy, band, rules[band]) for band in rules}
                tables[AgeBand.UNKNOWN] = tables[policy.unknown_age]
                shared[signature] = tables
            self.tables[key] = tables
        self.default = self.tables[None]
        self.actions = {spec.name: spec for spec in _SPECS}

    def table(self, account: Account) -> _BandTable:
        j = account.jurisdiction
        tables = self.tables.get(j)
        if tables is None:
            tables = self.tables.get(j[:2], self.default)  # type: ignore[index]
        return tables[account.band]


@attrs.frozen
class SettingChange:
    """The outcome of :meth:`Guard.change_setting`.

    ``applied`` tells whether the change took effect; ``reason`` is one of
    ``changed``, ``unchanged``, ``not_changeable``, ``parent_required``,
    ``below_floor`` or ``prompt_required`` (loosening needs the child to see the safety
    prompt and confirm: call again with ``confirmed=True``). ``account`` and
    ``settings`` are the account and its effective settings afterwards.
    Truthy exactly when applied.
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

    def __bool__(self) -> bool:
        return self.applied


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

    __slots__ = ("_compiled",)

    def __init__(self, policy: Policy | None = None) -> None:
        self._compiled = _Compiled(policy if policy is not None else Policy.baseline())

    @property
    def policy(self) -> Policy:
        """The policy this guard currently enforces."""
        return self._compiled.policy

    def reload(self, policy: Policy) -> None:
        """Compile ``policy`` and swap it in; calls in flight finish on the old one."""
        self._compiled = _Compiled(policy)

    # -- settings ---------------------------------------------------------------

    def settings_for(self, account: Account) -> Settings:
        """The account's effective settings: defaults, with its own changes clamped
        to what the policy allows."""
        table = self._compiled.table(account)
        own = account.settings
        if not own:
            return table.settings
        # Accounts share few distinct sets of changes: build each Settings once.
        key = tuple(sorted(own.items(), key=lambda item: item[0]))
        found = table.settings_cache.get(key)
        if found is None:
            values = dict(table.defaults)
            for name in own:
                values[name] = table.value(account, name)
            found = Settings(**values)  # type: ignore[arg-type]
            if len(table.settings_cache) < _SETTINGS_CACHE_SIZE:
                table.settings_cache[key] = found
        return found

    def rules_for(self, account: Account) -> Mapping[str, Rule]:
        """The rules that apply to the account (its band and jurisdiction)."""
        return self._compiled.table(account).rules

    def change_setting(
        self,
        account: Account,
        setting: str,
        value: object,
        *,
        by: Literal["self", "parent"] = "self",
        confirmed: bool = False,
    ) -> SettingChange:
        """Change one of the account's settings as the user (``by="self"``) or a parent
        would, within the policy. Tightening is always allowed; loosening needs the
        right person, never goes below the floor, and (where the rule says so) needs
        the child to have confirmed a safety prompt."""
        if by not in ("self", "parent"):
            raise InvalidCheckError(f"by must be 'self' or 'parent', got {by!r}")
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

        def refuse(reason: str, message: str, *, prompt: bool = False) -> SettingChange:
            return SettingChange(
                applied=False,
                reason=reason,
                message=message,
                setting=setting,
                value=new_value,
                account=account,
                settings=self.settings_for(account),
                floor=rule.floor,
                prompt_required=prompt,
                citations=citations,
            )

        if new_value == current:
            return SettingChange(
                applied=True,
                reason="unchanged",
                message=f"{setting} is already {fmt(current)!r}.",
                setting=setting,
                value=new_value,
                account=account,
                settings=self.settings_for(account),
                floor=rule.floor,
                citations=citations,
            )
        band = table.band.value
        if not spec.le(new_value, current):
            if not spec.le(new_value, rule.floor):
                return refuse(
                    "below_floor",
                    f"{fmt(new_value)!r} is below the floor {fmt(rule.floor)!r} for {setting} "
                    f"at {band}; nobody can choose it.",
                )
            if rule.changeable_by is ChangeableBy.NOBODY:
                return refuse(
                    "not_changeable", f"{setting} cannot be loosened for {band} accounts."
                )
            if by == "self" and rule.changeable_by is ChangeableBy.PARENT:
                return refuse(
                    "parent_required", f"Only a parent can loosen {setting} for {band} accounts."
                )
            if by == "self" and rule.prompt_on_loosen and not confirmed:
                return refuse(
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
        updated = attrs.evolve(account, settings=own)
        return SettingChange(
            applied=True,
            reason="changed",
            message=f"{setting} changed from {fmt(current)!r} to {fmt(new_value)!r}.",
            setting=setting,
            value=new_value,
            account=updated,
            settings=self.settings_for(updated),
            floor=rule.floor,
            citations=citations,
        )

    # -- decisions --------------------------------------------------------------

    def check(
        self,
        action: str,
        actor: Account | None = None,
        target: Account | None = None,
        relationship: Relationship | None = None,
        *,
        at: dt.datetime | None = None,
        sensitivity: str | None = None,
        engagement: bool = False,
    ) -> Decision:
        """Decide whether ``actor`` may do ``action`` to ``target``.

        ``relationship`` is how the actor relates to the target (``None``: strangers).
        ``notify`` needs ``target`` (the recipient) and an aware ``at``, and takes
        ``engagement=True`` for engagement prompts; ``content.show`` needs the viewing
        ``actor`` and the content's ``sensitivity`` (one of :data:`SENSITIVITY_LEVELS`).
        """
        c = self._compiled
        raw: object = action
        spec = c.actions.get(action) if isinstance(raw, str) else None
        if spec is None:
            raise UnknownActionError(
                f"unknown action {action!r}{suggest(action, ACTIONS)}; known actions: "
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
            side = spec.target
            table = c.table(target)
            req, allow, deny = table.entries[side.key][  # type: ignore[union-attr]
                table.defaults[side.setting] if not target.settings  # type: ignore[union-attr]
                else table.value(target, side.setting)  # type: ignore[union-attr]
            ]  # fmt: skip
            if req and not _satisfied(req, relationship):
                return deny
            side = spec.actor
            if side is None or (spec.actor_minors_only and actor.band is _ADULT):
                return allow
            table = c.table(actor)
            req, _, deny = table.entries[side.key][
                table.defaults[side.setting] if not actor.settings
                else table.value(actor, side.setting)
            ]  # fmt: skip
            if req and not _satisfied(req, relationship):
                return deny
            return allow
        if spec.kind == "own":
            if actor is None:
                raise InvalidCheckError(f"{action} needs actor=")
            side = spec.actor
            table = c.table(actor)
            req, allow, deny = table.entries[side.key][table.value(actor, side.setting)]  # type: ignore[union-attr]
            return allow if req == ANY else deny
        if spec.kind == "notify":
            return self._notify(c, target, at, engagement=engagement)
        return self._content(c, actor, sensitivity)

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
