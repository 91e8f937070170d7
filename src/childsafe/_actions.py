"""The actions :class:`~childsafe.Guard` decides, and what each asks of the deciding
setting: per setting value, a requirement on the relationship (numbered by how
demanding it is), the reason given when it is not met and the remedy to offer.

A table, not code: the engine compiles it, the CLI and the reference docs print it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

import attrs

from childsafe._decision import Reason
from childsafe._settings import SETTINGS, SettingValue

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

MEDIA_SOURCES: Final = (
    "apple-communication-safety",
    "instagram-nudity-protection",
    "nspcc-self-generated-imagery",
)
"""Citations of the nudity interventions (the ``sensitive_media_*`` rules cite theirs)."""
MATCH_SOURCES: Final = ("ofcom-icu-c9",)
"""Citations of refusing an image that matches a known-abuse hash list."""


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
    # "request", "group" and "list" are relational actions with rules of their own on
    # top of the table (contact a child starts, groups, whose list): see _contact.
    # "media" actions decide on a MediaVerdict too (see _media); media.send also has
    # the relational sides of dm.send.
    kind: Literal["relational", "request", "group", "list", "own", "notify", "content", "media"]
    target: _Side | None = None
    actor: _Side | None = None
    actor_minors_only: bool = False
    # A parent's ``dm.from:<id>`` consent grant lets that one connection through.
    consent_dm: bool = False


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


def _adding(action: str) -> _Side:
    return _side(
        action,
        "target",
        "discoverable",
        ("off", INVITED),
        ("mutual_connections", MUTUAL_OR_INVITED),
        ("everyone", ANY),
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
        consent_dm=True,
    ),
    _ActionSpec("friend.request", "request", target=_adding("friend.request")),
    _ActionSpec("follow", "request", target=_adding("follow")),
    _ActionSpec(
        "friend.suggest",
        "relational",
        target=_discover("friend.suggest", "discoverable", "target"),
        actor=_discover("friend.suggest", "friend_suggestions", "actor"),
    ),
    _ActionSpec(
        "group.invite",
        "group",
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
        "list",
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
        "connections.listed",
        "list",
        target=_side(
            "connections.listed",
            "target",
            "connections_visibility",
            ("hidden", CONNECTED),
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
    _ActionSpec(
        "feed.personalise",
        "own",
        actor=_side(
            "feed.personalise",
            "actor",
            "feed_personalisation",
            ("chronological", NEVER),
            ("non_profiled", NEVER),
            ("profiled", ANY),
        ),
    ),
    _ActionSpec(
        "data.share",
        "own",
        actor=_side("data.share", "actor", "data_sharing", ("off", NEVER), ("on", ANY)),
    ),
    _ActionSpec("notify", "notify"),
    _ActionSpec("content.show", "content"),
    _ActionSpec("media.upload", "media"),
    _ActionSpec(
        "media.send",
        "media",
        target=_contact("media.send", "direct_messages"),
        actor=_contact("media.send", "direct_messages", "actor"),
        actor_minors_only=True,
        consent_dm=True,
    ),
    _ActionSpec("media.view", "media"),
)

ACTIONS: Final = tuple(s.name for s in _SPECS)
"""Every action :meth:`Guard.check` decides."""
MEDIA_ACTIONS: Final = tuple(s.name for s in _SPECS if s.kind == "media")
"""The actions that decide on an image (``media=``): ``media.upload``, ``media.send``
and ``media.view``."""
GROUP_ACTIONS: Final = ("group.form", "group.join")
"""The actions :meth:`Guard.check_group` decides."""
_DM_SPEC: Final = _SPECS[0]
_GROUP_INVITE_SPEC: Final = next(s for s in _SPECS if s.name == "group.invite")
