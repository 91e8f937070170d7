"""Framework-neutral view logic for the example apps.

Each function returns plain data: a template name and its context, or a JSON payload.
The Flask and Django apps only translate requests and responses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from childsafe import (
    SETTINGS,
    Account,
    AgeBand,
    ChangeableBy,
    DenialResponse,
    Explanation,
    Guard,
    Messages,
    RequestContext,
    SettingChange,
    change_problem_response,
    explain,
    problem_details,
)
from childsafe._settings import EnumDomain
from childsafe.parental import CONSENT_BASED, DEFAULT_AGE_OF_DIGITAL_CONSENT
from childsafe.typing import Audience
from childsafe.web import negotiate_locale
from examples.common.playground import Playground, scope_label
from examples.common.socialdb import SocialDB

BAND_LABELS = {
    "under_13": "under 13",
    "13_15": "13 to 15",
    "16_17": "16 or 17",
    "adult": "adult",
    "unknown": "age unknown",
}

Page = tuple[str, dict[str, Any]]

#: The texts the pages show: childsafe's own, in English.
MESSAGES = Messages()


def _names(db: SocialDB, ids: Iterable[str]) -> list[str]:
    return sorted(p.name for i in ids if (p := db.person(i)) is not None)


def _me(db: SocialDB, ctx: RequestContext) -> dict[str, Any] | None:
    person = db.person(ctx.account.id)
    if person is None:
        return None
    supervision = ctx.supervision
    return {
        "id": person.id,
        "name": person.name,
        "band": ctx.account.band.value,
        "band_label": BAND_LABELS[ctx.account.band.value],
        "assurance": ctx.account.assurance.value,
        # ICO Children's code standard 11: an obvious sign, naming who supervises.
        "supervised": supervision.supervised,
        "supervisors": ", ".join(_names(db, supervision.guardians)),
        "locks": sorted(supervision.locks),
        "consents": sorted(scope_label(db, c) for c in supervision.consents),
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
    # Shown to the account holder: the catalogue's plain label, never the setting's code.
    highlights = [
        (MESSAGES.setting_text(name, ctx.account.band).label, settings[name])
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
        # Accounts that keep themselves out of lists shown to people who are not their
        # connections (children) are left out, except from the viewer's own list.
        "connections": [
            db.person(i)
            for i in db.connections(user_id)
            if own or ctx.check("connections.listed", i).allowed
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


def _allowed_values(name: str, limit: object) -> list[str]:
    """The values of ``name`` at least as protective as ``limit``, most protective first."""
    setting = SETTINGS[name]
    domain = setting.domain
    if isinstance(domain, EnumDomain):
        return [v for v in domain.values if setting.le(v, limit)]  # type: ignore[arg-type]
    return []


def _consent_note(guard: Guard, account: Account, name: str) -> str | None:
    """Whether the consent-based value of ``name`` needs (or has) a parent's consent;
    ``None`` where it needs none or is below the floor anyway."""
    value = CONSENT_BASED.get(name)
    if value is None:
        return None
    scope = f"{name}:{value}"
    floor = guard.rules_for(account)[name].floor
    if not guard.consent_needed(account, scope) or not SETTINGS[name].le(value, floor):
        return None
    if scope in account.consents:
        return f"{value!r} has a parent's consent"
    return f"{value!r} needs a parent's consent"


def setting_rows(guard: Guard, account: Account, *, by: str) -> list[dict[str, Any]]:
    """One row per setting: its label and description in words for the account's
    band, current value, who may loosen it, the floor, whether a parent locked it, and
    the choices offered (a locked setting offers the account holder only values at
    least as protective as the current one). The safety tip, and the box to confirm
    having read it, appear only where the viewer may loosen the setting."""
    rules = guard.rules_for(account)
    effective = guard.settings_for(account)
    current = effective.formatted()
    rows = []
    for name, setting in SETTINGS.items():
        rule = rules[name]
        locked = name in account.locks
        may_loosen = rule.changeable_by is ChangeableBy.SELF or (
            by == "parent" and rule.changeable_by is ChangeableBy.PARENT
        )
        if by == "self" and locked:
            may_loosen = False
        limit = getattr(effective, name) if by == "self" and locked else rule.floor
        words = MESSAGES.setting_text(name, account.band)
        prompt = rule.prompt_on_loosen and by == "self" and may_loosen
        rows.append(
            {
                "name": name,
                "label": words.label,
                "summary": words.description,
                "value": current[name],
                "floor": setting.format(rule.floor),
                "changeable_by": rule.changeable_by.value,
                "may_loosen": may_loosen,
                "locked": locked,
                "prompt": prompt,
                "tip": words.tip if prompt else None,
                "consent": _consent_note(guard, account, name),
                "choices": _allowed_values(name, limit),
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
    db: SocialDB,
    guard: Guard,
    account: Account,
    name: str,
    value: str,
    *,
    by: str,
    confirmed: bool,
    guardian: str | None = None,
    lock: bool = True,
) -> dict[str, Any]:
    """Apply a change through the policy and store it (with the parent locks); returns
    what to show. A parent's change names the ``guardian``, so childsafe checks the
    link, and locks the setting unless ``lock=False`` (which lifts a lock)."""
    if name not in SETTINGS:
        return {"applied": False, "message": f"Unknown setting {name!r}.", "prompt": False}
    raw: str | int = int(value) if value.isdigit() else value
    extra: dict[str, Any] = {"guardian": guardian, "lock": lock} if by == "parent" else {}
    try:
        change = guard.change_setting(account, name, raw, by=by, confirmed=confirmed, **extra)  # type: ignore[arg-type]
    except ValueError as e:
        return {"applied": False, "message": str(e), "prompt": False}
    if change.applied:
        db.save_settings(account.id, dict(change.account.settings))
        db.save_locks(account.id, change.account.locks)
    said = explain_change(db, change, by=by)
    return {
        "applied": change.applied,
        "reason": change.reason,
        "title": said.title,
        "message": said.text,
        "next_step": said.next_step,
        "tip": said.tip,
        "prompt": change.prompt_required,
        "setting": name,
        "value": value,
    }


def change_setting_json(
    db: SocialDB, guard: Guard, account: Account, payload: object, accept_language: str | None
) -> DenialResponse | tuple[dict[str, Any], int]:
    """The account holder's own change through the API: ``200`` and the new value, a
    ``403`` problem document in the child's words (in the language the client
    prefers, naming their parent) when the policy refuses it, ``400`` for a malformed
    body."""
    body = payload if isinstance(payload, dict) else {}
    name, value = body.get("setting"), body.get("value")
    confirmed = body.get("confirmed", False)
    if not isinstance(name, str) or name not in SETTINGS or not isinstance(confirmed, bool):
        return {"error": 'expected {"setting": <a setting>, "value": ..., "confirmed": false}'}, 400
    try:
        change = guard.change_setting(account, name, value, confirmed=confirmed)
    except ValueError as e:
        return {"error": str(e)}, 400
    if not change.applied:
        return change_problem_response(
            change,
            locale=negotiate_locale(accept_language),
            names=display_names(db, account),
            messages=MESSAGES,
        )
    db.save_settings(account.id, dict(change.account.settings))
    return {
        "setting": name,
        "value": change.settings.formatted()[name],
        "reason": change.reason,
    }, 200


def display_names(db: SocialDB, account: Account) -> dict[str, str]:
    """The display names of the account and its linked parents, by account id, for the
    texts that name them."""
    return {
        i: person.name
        for i in (account.id, *account.guardians)
        if (person := db.person(i)) is not None
    }


def explain_change(db: SocialDB, change: SettingChange, *, by: str) -> Explanation:
    """The change in the words of whoever made it: the account holder or their parent,
    naming the child and the parent."""
    audience: Audience = "child" if by == "self" else "parent"
    return explain(change, audience, names=display_names(db, change.account), messages=MESSAGES)


def parent_page(
    playground: Playground, ctx: RequestContext, result: dict[str, Any] | None = None
) -> Page:
    """Each linked child: their settings as a parent may change them, and consents."""
    db = playground.db
    guard = ctx.guard
    children = []
    for child_id in db.children_of(ctx.account.id):
        person = db.person(child_id)
        account = playground.account(child_id)
        if person is None or account is None:
            continue
        info = guard.policy.jurisdiction_info(account.jurisdiction)
        children.append(
            {
                "person": person,
                "band_label": BAND_LABELS[account.band.value],
                "jurisdiction": account.jurisdiction,
                "consent_age": info.age_of_digital_consent or DEFAULT_AGE_OF_DIGITAL_CONSENT,
                "rows": setting_rows(guard, account, by="parent"),
                "locks": sorted(account.locks),
                "offers": playground.offers(guard, account),
                "grants": playground.grant_rows(account),
            }
        )
    return "parent.html", {**base_context(db, ctx), "children": children, "result": result}


def age_page(playground: Playground, ctx: RequestContext, token: str | None) -> Page:
    """The "Verify my age" page: what the age token kept in the session says."""
    return "age.html", {
        **base_context(playground.db, ctx),
        "status": playground.token_status(token, subject=ctx.account.id),
        "treated_as": BAND_LABELS[_treated_as(ctx).value],
        "issuer_command": "python -m examples.common.age_issuer --data-dir "
        f"{playground.data_dir} {ctx.account.id} --age-band 13_15",
    }


def _treated_as(ctx: RequestContext) -> AgeBand:
    band = ctx.account.band
    return ctx.guard.policy.unknown_age if band is AgeBand.UNKNOWN else band


def sign_up(db: SocialDB, guard: Guard, payload: object) -> tuple[dict[str, Any], int]:
    """A new account from ``{"handle", "name", "birth_date", "jurisdiction",
    "timezone"}``: ``201`` and its id, ``400`` for a malformed body or a taken handle,
    ``403`` under the jurisdiction's minimum account age (its settings are the policy's
    defaults for its band and jurisdiction: nothing is stored until the holder changes
    one)."""
    body = payload if isinstance(payload, dict) else {}
    handle, name = str(body.get("handle", "")).strip(), str(body.get("name", "")).strip()
    jurisdiction = str(body.get("jurisdiction") or "GB")
    try:
        born = dt.date.fromisoformat(str(body.get("birth_date", "")))
        info = guard.policy.jurisdiction_info(jurisdiction)
        timezone = ZoneInfo(str(body.get("timezone") or "Europe/London")).key
    except (ValueError, KeyError, ZoneInfoNotFoundError):
        return {"error": "expected handle, name, birth_date, jurisdiction, timezone"}, 400
    today = dt.datetime.now(ZoneInfo(timezone)).date()
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if info.minimum_account_age is not None and age < info.minimum_account_age:
        return {"error": f"accounts start at {info.minimum_account_age} in {jurisdiction}"}, 403
    if (
        not handle
        or not name
        or not db.sign_up(
            handle, name, born, jurisdiction=info.key or jurisdiction, timezone=timezone
        )
    ):
        return {"error": "a name and a handle nobody has taken are needed"}, 400
    return {"id": handle}, 201


def me_json(
    playground: Playground, ctx: RequestContext, authorization: str | None
) -> dict[str, Any]:
    """Who the request is, as childsafe resolved it: the band and assurance, how the
    account was found and, for a refused age token, why (the protective path)."""
    resolution = ctx.resolution
    person = playground.db.person(ctx.account.id)
    supervision = ctx.supervision
    return {
        "id": ctx.account.id if person is not None else None,
        "band": ctx.account.band.value,
        "treated_as": _treated_as(ctx).value,
        "assurance": ctx.account.assurance.value,
        "resolved_by": resolution.source,
        "error": resolution.error,
        "age_token": playground.age_status(authorization),
        "supervised_by": sorted(supervision.guardians),
        "locks": sorted(supervision.locks),
        "consents": sorted(supervision.consents),
        "settings": ctx.settings.formatted() if person is not None else None,
    }


def denied_page(db: SocialDB, ctx: RequestContext | None, detail: dict[str, Any]) -> Page:
    return "denied.html", {
        "me": _me(db, ctx) if ctx is not None else None,
        "problem": detail,
    }
