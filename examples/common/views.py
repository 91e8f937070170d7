"""Framework-neutral view logic for the example apps.

Each function returns plain data: a template name and its context, or a JSON payload.
The Flask and Django apps only translate requests and responses.
"""

from __future__ import annotations

from typing import Any

from childsafe import SETTINGS, Account, ChangeableBy, Guard, RequestContext, problem_details
from childsafe._settings import EnumDomain
from examples.common.socialdb import SocialDB

BAND_LABELS = {
    "under_13": "under 13",
    "13_15": "13 to 15",
    "16_17": "16 or 17",
    "adult": "adult",
    "unknown": "age unknown",
}

Page = tuple[str, dict[str, Any]]


def _me(db: SocialDB, ctx: RequestContext) -> dict[str, Any] | None:
    person = db.person(ctx.account.id)
    if person is None:
        return None
    return {
        "id": person.id,
        "name": person.name,
        "band": ctx.account.band.value,
        "band_label": BAND_LABELS[ctx.account.band.value],
        "supervised": bool(db.parents_of(person.id)),
        "is_parent": bool(db.children_of(person.id)),
    }


def base_context(db: SocialDB, ctx: RequestContext) -> dict[str, Any]:
    return {"me": _me(db, ctx)}


def login_page(db: SocialDB, guard: Guard) -> Page:
    people = []
    for person in db.people():
        account = db.account(person.id)
        assert account is not None
        band = account.band.value
        people.append({"id": person.id, "name": person.name, "band_label": BAND_LABELS[band]})
    return "login.html", {"me": None, "people": people, "policy": guard.policy.name}


def home_page(db: SocialDB, ctx: RequestContext) -> Page:
    me = ctx.account.id
    settings = ctx.settings.formatted()
    highlights = [
        (name, settings[name])
        for name in (
            "direct_messages",
            "discoverable",
            "friend_suggestions",
            "location_sharing",
            "profile_visibility",
            "quiet_hours",
        )
    ]
    return "home.html", {
        **base_context(db, ctx),
        "highlights": highlights,
        "inbox": db.inbox(me)[:5],
        "requests": db.requests_for(me),
        "connections": [db.person(i) for i in db.connections(me)],
        "location": db.location(me),
    }


def _public(decision_detail: dict[str, Any]) -> str:
    return str(decision_detail["detail"])


def profile_page(db: SocialDB, ctx: RequestContext, user_id: str) -> Page | None:
    person = db.person(user_id)
    if person is None:
        return None
    own = user_id == ctx.account.id
    view = ctx.check("profile.view", user_id)
    location = ctx.check("location.view", user_id)
    message = ctx.check("dm.send", user_id)
    request = ctx.check("friend.request", user_id)
    connections = ctx.check("connections.view", user_id)
    return "profile.html", {
        **base_context(db, ctx),
        "person": person,
        "own": own,
        "connected": db.connected(ctx.account.id, user_id),
        "can_view": view.allowed,
        "view_reason": None if view.allowed else _public(problem_details(view)),
        "location": db.location(user_id) if location.allowed else None,
        "can_message": message.allowed and not own,
        "message_reason": None if message.allowed else _public(problem_details(message)),
        "can_request": request.allowed and not own and not db.connected(ctx.account.id, user_id),
        "request_reason": None if request.allowed else _public(problem_details(request)),
        # Accounts that keep themselves out of lists others see (children) are left
        # out, except from the viewer's own list.
        "connections": [
            db.person(i)
            for i in db.connections(user_id)
            if own or ctx.check("connections.view", i).allowed
        ]
        if connections.allowed
        else None,
    }


def profile_json(db: SocialDB, ctx: RequestContext, user_id: str) -> dict[str, Any] | None:
    """The raw profile: childsafe's response filter removes what the viewer may not see."""
    person = db.person(user_id)
    if person is None:
        return None
    account = db.account(user_id)
    assert account is not None
    return {
        "id": person.id,
        "name": person.name,
        "age_band": account.band.value if user_id == ctx.account.id else None,
        "bio": person.bio,
        "location": db.location(user_id),
    }


def suggestions_json(db: SocialDB, ctx: RequestContext) -> dict[str, Any]:
    """Every candidate: childsafe's response filter drops those who may not be suggested."""
    return {"suggestions": db.suggestion_candidates(ctx.account.id)}


def suggestions_page(db: SocialDB, ctx: RequestContext) -> Page:
    shown = [
        c
        for c in db.suggestion_candidates(ctx.account.id)
        if ctx.check("friend.suggest", c["id"]).allowed
    ]
    own_off = ctx.settings.friend_suggestions == "off"
    return "suggestions.html", {**base_context(db, ctx), "suggestions": shown, "own_off": own_off}


def requests_page(db: SocialDB, ctx: RequestContext) -> Page:
    return "requests.html", {**base_context(db, ctx), "requests": db.requests_for(ctx.account.id)}


def messages_page(db: SocialDB, ctx: RequestContext, notice: str | None = None) -> Page:
    me = ctx.account.id
    contacts = [p for i in db.connections(me) if (p := db.person(i)) is not None]
    return "messages.html", {
        **base_context(db, ctx),
        "inbox": db.inbox(me),
        "contacts": contacts,
        "notice": notice,
    }


def _allowed_values(name: str, floor: object) -> list[str]:
    setting = SETTINGS[name]
    domain = setting.domain
    if isinstance(domain, EnumDomain):
        return [v for v in domain.values if setting.le(v, floor)]  # type: ignore[arg-type]
    return []


def setting_rows(guard: Guard, account: Account, *, by: str) -> list[dict[str, Any]]:
    """One row per setting: current value, who may loosen it, the floor, choices."""
    rules = guard.rules_for(account)
    current = guard.settings_for(account).formatted()
    rows = []
    for name, setting in SETTINGS.items():
        rule = rules[name]
        may_loosen = rule.changeable_by is ChangeableBy.SELF or (
            by == "parent" and rule.changeable_by is ChangeableBy.PARENT
        )
        rows.append(
            {
                "name": name,
                "summary": setting.summary,
                "value": current[name],
                "floor": setting.format(rule.floor),
                "changeable_by": rule.changeable_by.value,
                "may_loosen": may_loosen,
                "prompt": rule.prompt_on_loosen,
                "choices": _allowed_values(name, rule.floor),
                "sources": ", ".join(c.label for c in guard.policy.cite(rule.sources)),
            }
        )
    return rows


def settings_page(db: SocialDB, ctx: RequestContext, result: dict[str, Any] | None = None) -> Page:
    return "settings.html", {
        **base_context(db, ctx),
        "rows": setting_rows(ctx.guard, ctx.account, by="self"),
        "result": result,
    }


def change_setting(
    db: SocialDB, guard: Guard, account: Account, name: str, value: str, *, by: str, confirmed: bool
) -> dict[str, Any]:
    """Apply a change through the policy and store it; returns what to show."""
    if name not in SETTINGS:
        return {"applied": False, "message": f"Unknown setting {name!r}.", "prompt": False}
    raw: str | int = int(value) if value.isdigit() else value
    try:
        change = guard.change_setting(account, name, raw, by=by, confirmed=confirmed)  # type: ignore[arg-type]
    except ValueError as e:
        return {"applied": False, "message": str(e), "prompt": False}
    if change.applied:
        db.save_settings(account.id, dict(change.account.settings))
    return {
        "applied": change.applied,
        "reason": change.reason,
        "message": change.message,
        "prompt": change.prompt_required,
        "setting": name,
        "value": value,
    }


def parent_page(db: SocialDB, ctx: RequestContext, result: dict[str, Any] | None = None) -> Page:
    children = []
    for child_id in db.children_of(ctx.account.id):
        person = db.person(child_id)
        account = db.account(child_id)
        if person is None or account is None:
            continue
        children.append(
            {
                "person": person,
                "band_label": BAND_LABELS[account.band.value],
                "rows": setting_rows(ctx.guard, account, by="parent"),
            }
        )
    return "parent.html", {**base_context(db, ctx), "children": children, "result": result}


def denied_page(db: SocialDB, ctx: RequestContext | None, detail: dict[str, Any]) -> Page:
    return "denied.html", {
        "me": _me(db, ctx) if ctx is not None else None,
        "problem": detail,
    }
