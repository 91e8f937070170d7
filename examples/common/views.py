"""Framework-neutral view logic for the example apps.

Each function returns plain data: a template name and its context, or a JSON payload.
The Flask and Django apps only translate requests and responses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from childsafe import (
    SETTINGS,
    Account,
    AgeBand,
    ChangeableBy,
    Decision,
    DenialResponse,
    Explanation,
    Guard,
    Messages,
    Policy,
    RequestContext,
    SettingChange,
    change_problem_response,
    explain,
    problem_details,
)
from childsafe._settings import EnumDomain
from childsafe.parental import DEFAULT_AGE_OF_DIGITAL_CONSENT
from childsafe.typing import Audience
from childsafe.web import negotiate_locale
from examples.common.playground import Playground, scope_label
from examples.common.socialdb import Person, SocialDB

BAND_LABELS = {
    "under_13": "under 13",
    "13_15": "13 to 15",
    "16_17": "16 or 17",
    "adult": "adult",
    "unknown": "age unknown",
}

Page = tuple[str, dict[str, Any]]

MODERATORS: Final = frozenset({"riley"})
"""The accounts that play the platform's trust and safety team in the demo."""

#: Countries the demo accounts live in, by ISO 3166-1 code.
COUNTRIES = {"GB": "the UK", "IE": "Ireland"}

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
        # The locked settings by their labels, never their codes.
        "locks": sorted(
            MESSAGES.setting_text(n, ctx.account.band).label for n in supervision.locks
        ),
        "consents": sorted(scope_label(db, c) for c in supervision.consents),
        "is_parent": bool(db.children_of(person.id)),
        "is_moderator": person.id in MODERATORS,
    }


def _labels(settings: Iterable[str], account: Account) -> list[str]:
    """Setting names as their labels for ``account``'s band, sorted."""
    return sorted(MESSAGES.setting_text(n, account.band).label for n in settings)


def base_context(db: SocialDB, ctx: RequestContext) -> dict[str, Any]:
    return {"me": _me(db, ctx)}


def login_page(db: SocialDB, guard: Guard, unknown: str | None = None) -> Page:
    """The sign-in page: every demo account with who it is, whom it is connected to and
    what to try as it, all worked out from the seeded store and the policy (so it never
    goes stale). ``unknown``: an account name that was asked for and does not exist."""
    people = [_persona(db, guard, person) for person in db.people()]
    return "login.html", {
        "me": None,
        "people": people,
        "policy": guard.policy.name,
        "unknown": unknown,
    }


def _persona(db: SocialDB, guard: Guard, person: Person) -> dict[str, Any]:
    account = db.account(person.id)
    assert account is not None
    children = _names(db, db.children_of(person.id))
    parents = _names(db, db.parents_of(person.id))
    about = []
    if person.jurisdiction != "GB":
        about.append(f"lives in {COUNTRIES.get(person.jurisdiction, person.jurisdiction)}")
    if children:
        about.append(f"parent of {_and(children)}")
    if parents:
        about.append(f"{_and(parents)} is their parent")
    return {
        "id": person.id,
        "name": person.name,
        "band_label": BAND_LABELS[account.band.value],
        "about": about,
        "connections": _names(db, db.connections(person.id)),
        "tries": _tries(db, guard, account, children),
    }


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


_QUIET: dict[int, tuple[Policy, Guard]] = {}


def _quiet(guard: Guard) -> Guard:
    """A guard for ``guard``'s policy with no event sinks: the sign-in page's hints ask
    it what would happen, and a question asked to write a hint is not a request anybody
    made, so it must not reach the audit trail or the transparency report's refusals."""
    policy = guard.policy
    found = _QUIET.get(id(policy))
    if found is None or found[0] is not policy:
        _QUIET.clear()
        found = _QUIET[id(policy)] = (policy, Guard(policy))
    return found[1]


def _tries(db: SocialDB, guard: Guard, account: Account, children: list[str]) -> list[str]:
    """What is worth trying as ``account``: what the policy refuses or allows it, found
    by asking a quiet copy of the guard (:func:`_quiet`) about the other demo accounts."""
    guard = _quiet(guard)
    tries: list[str] = []
    me = account.id
    connected = set(db.connections(me))
    adult = account.band is AgeBand.ADULT
    if children:
        tries.append(f"Open Parent to change {_and(children)}'s settings and give consent.")
    if me in MODERATORS:
        tries.append(
            "Open Reports: the safety team's cases, with the evidence of grooming-risk "
            "signals, and the live transparency report."
        )
    said: set[bool] = set()
    for other in db.people():
        target = db.account(other.id)
        if target is None or other.id in (me, *account.guardians, *db.children_of(me)):
            continue
        link = other.id in connected
        if (target.band is AgeBand.ADULT) == adult or (link and not adult):
            continue
        if adult:  # what this adult may do to a child
            sender, receiver = account, target
        else:  # what an adult may do to this child
            sender, receiver = target, account
        decision = guard.check(
            "dm.send",
            actor=sender,
            target=receiver,
            relationship=db.relationship(sender.id, receiver.id),
        )
        if link in said or decision.allowed != link:
            continue
        said.add(link)
        if adult and link:
            tries.append(f"Message {other.name}: you are connected, so it goes through.")
        elif adult:
            tries.append(f"Message {other.name}, whom you don't know: you will be stopped.")
        else:
            tries.append(f"{other.name} can't message you: you are not connected.")
    if account.band is not AgeBand.ADULT:
        rule = guard.rules_for(account)["location_sharing"]
        label = MESSAGES.setting_text("location_sharing", account.band).label
        if rule.changeable_by is ChangeableBy.PARENT and account.guardians:
            parents = _and(_names(db, account.guardians))
            tries.append(f"Try to loosen “{label}” in Settings: only {parents} can.")
        elif rule.changeable_by is ChangeableBy.SELF and rule.prompt_on_loosen:
            tries.append(f"Loosen “{label}” in Settings: you read a safety tip first.")
        if account.guardians:
            parents = _and(_names(db, account.guardians))
            tries.append(f"Every page tells you that {parents} can see your settings.")
    return tries


def home_page(db: SocialDB, ctx: RequestContext) -> Page:
    me = ctx.account.id
    settings = ctx.settings.formatted()
    # Shown to the account holder: the catalogue's words, never a setting's or value's code.
    highlights = [
        (
            MESSAGES.setting_text(name, ctx.account.band).label,
            MESSAGES.value_label(name, settings[name]),
        )
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


def _values(name: str) -> tuple[str, ...]:
    """The values of an enumerated setting, most protective first (none otherwise)."""
    domain = SETTINGS[name].domain
    return domain.values if isinstance(domain, EnumDomain) else ()


def setting_rows(
    guard: Guard,
    account: Account,
    *,
    by: str,
    guardian: str | None = None,
    names: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One row per setting, all in the catalogue's words: its label and description for
    the account's band, the current value, who locked it, the values the viewer can
    choose (each tried through ``Guard.change_setting``, so only changes that would
    apply are offered: no Save button where nothing can change), and why the next
    looser value is out of reach (naming the parent). The safety tip, and the box to
    confirm having read it, appear only where the viewer may loosen the setting."""
    rules = guard.rules_for(account)
    current = guard.settings_for(account).formatted()
    audience: Audience = "child" if by == "self" else "parent"
    extra: dict[str, Any] = {"guardian": guardian} if by == "parent" else {}
    parents = [names[g] for g in sorted(account.guardians) if names and g in names]
    rows = []
    for name in SETTINGS:
        rule = rules[name]
        words = MESSAGES.setting_text(name, account.band)
        values = _values(name)
        now = current[name]
        choices, note, looser = [], None, False
        for value in values:
            if value == now:
                choices.append(value)
                continue
            change = guard.change_setting(account, name, value, by=by, confirmed=True, **extra)  # type: ignore[arg-type]
            is_looser = SETTINGS[name].le(now, value) and not SETTINGS[name].le(value, now)
            if change.applied:
                choices.append(value)
                looser = looser or is_looser
            elif is_looser and note is None:
                note = change
        if note is not None and note.reason == "below_floor":
            # Nothing looser is open to anyone: say the setting stays this way (or, when
            # some looser values are offered, nothing: the choices say it).
            note = None if looser else attrs.evolve(note, reason="not_changeable")
        said = explain(note, audience, names=names, messages=MESSAGES) if note is not None else None
        prompt = rule.prompt_on_loosen and by == "self" and looser
        rows.append(
            {
                "name": name,
                "label": words.label,
                "summary": words.description,
                "value": now,
                "value_label": MESSAGES.value_label(name, now),
                "locked": name in account.locks,
                "locked_by": _and(parents) if parents else "a parent",
                "note": said.text if said else None,
                "prompt": prompt,
                "tip": words.tip if prompt else None,
                # A setting with values is changed by picking one; the others (minutes,
                # a daily window) by typing one, which is always possible to tighten.
                "choices": [(v, MESSAGES.value_label(name, v)) for v in choices],
                "editable": len(choices) > 1 if values else True,
                "sources": ", ".join(c.label for c in guard.policy.cite(rule.sources)),
            }
        )
    return rows


def settings_page(db: SocialDB, ctx: RequestContext, result: dict[str, Any] | None = None) -> Page:
    return "settings.html", {
        **base_context(db, ctx),
        "rows": setting_rows(
            ctx.guard, ctx.account, by="self", names=display_names(db, ctx.account)
        ),
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
                "country": COUNTRIES.get(account.jurisdiction or "", account.jurisdiction),
                "consent_age": info.age_of_digital_consent or DEFAULT_AGE_OF_DIGITAL_CONSENT,
                "rows": setting_rows(
                    guard,
                    account,
                    by="parent",
                    guardian=ctx.account.id,
                    names=display_names(db, account),
                ),
                "locks": sorted(
                    MESSAGES.setting_text(n, account.band).label for n in account.locks
                ),
                "consents": consent_rows(playground, guard, account),
            }
        )
    return "parent.html", {**base_context(db, ctx), "children": children, "result": result}


#: Why a consent grant no longer counts, in words (a grant error's code).
GRANT_STATUS = {
    "revoked": "revoked",
    "expired": "expired",
    "not_guardian": "given by someone no longer linked",
    "wrong_child": "given for another account",
    "bad_signature": "not valid",
    "malformed": "not valid",
    "untrusted": "not valid",
}


def consent_rows(playground: Playground, guard: Guard, child: Account) -> list[dict[str, Any]]:
    """One row per consent a parent may give for ``child`` (one flow: give it, or see
    until when it counts and revoke it), then the earlier grants that no longer count."""
    grants = playground.grant_rows(child)
    counting = {g["scope"]: g for g in grants if g["status"] == "counts"}
    rows = []
    for offer in playground.offers(guard, child):
        grant = counting.pop(offer["scope"], None)
        rows.append(
            {
                "scope": offer["scope"],
                "label": _capital(offer["label"]),
                "grant": grant,
                "status": "counts" if grant else "not given",
            }
        )
    rows.extend(
        {
            "scope": g["scope"],
            "label": _capital(scope_label(playground.db, g["scope"])),
            "grant": g,
            "status": "counts",
        }
        for g in counting.values()
    )
    rows.extend(
        {
            "scope": g["scope"],
            "label": _capital(scope_label(playground.db, g["scope"])),
            "grant": None,
            "status": GRANT_STATUS.get(g["status"], "no longer counts"),
        }
        for g in grants
        if g["status"] != "counts"
    )
    return rows


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


#: Why an age token was refused, in words a child can follow (the token error's code and
#: message go in a "details for developers" box beneath).
TOKEN_REFUSALS = {
    "malformed": "This doesn't look like an age token. Check that you pasted all of it.",
    "bad_signature": "Your age token was changed after it was made, so it can't be trusted.",
    "expired": "Your age token has run out of time. Ask for a new one.",
    "not_yet_valid": "Your age token is not ready to use yet. Try again later.",
    "wrong_subject": "This age token belongs to someone else, so it can't be used here.",
    "untrusted_issuer": "This age token comes from a checker this site doesn't trust.",
}
TOKEN_REFUSED = "Your age token could not be checked, so it was not used."  # noqa: S105 - words


def age_page(playground: Playground, ctx: RequestContext, token: str | None) -> Page:
    """The "Verify my age" page: what the age token kept in the session says; a refusal
    in plain words first (``words``), its code and technical detail folded away."""
    status = playground.token_status(token, subject=ctx.account.id)
    if status is not None and not status["accepted"]:
        status = {**status, "words": TOKEN_REFUSALS.get(status["code"], TOKEN_REFUSED)}
    elif status is not None:  # the token's band in words, never its id ("13_15")
        status = {
            **status,
            "token_band_label": BAND_LABELS[status["token_band"]],
            "band_set_by_words": _signal_words(status["band_set_by"]),
        }
    return "age.html", {
        **base_context(playground.db, ctx),
        "status": status,
        "treated_as": BAND_LABELS[_treated_as(ctx).value],
        "issuer_command": issuer_command(playground, ctx.account.id),
    }


def _signal_words(source: str) -> str:
    """Where the band an account is treated as came from, in words: an age signal's
    source is a code (``"token:age_band"``) or a phrase for developers."""
    if source.startswith("token:"):
        return "your age token"
    if source in {"self_declared", "declared birth date"}:
        return "the birth date you declared"
    return "another age check"


def issuer_command(playground: Playground, account_id: str) -> str:
    """The command (run from the repository root) minting an age token for the account,
    with the birth date it declared (or, without one, an "over 13" claim)."""
    person = playground.db.person(account_id)
    claim = (
        f"--birthdate {person.birth_date.isoformat()}"
        if person is not None and person.birth_date is not None
        else "--over 13"
    )
    return f"python3 dev.py age-token --data-dir {playground.data_dir} {account_id} {claim}"


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


#: The error pages, by status: a heading and what happened, in plain words.
ERRORS = {
    400: ("Something was missing", "The page couldn't use what was sent. Please try again."),
    403: ("Not allowed", "This page isn't yours to see."),
    404: ("Page not found", "There is no page at this address."),
    405: ("Not possible here", "This page can't be used that way."),
    500: ("Something went wrong", "Something broke on our side. Please try again in a moment."),
}


#: A form sent without its anti-forgery token (Django's CSRF check).
STALE_FORM = "This form was sent without its security check. Reload the page and try again."


def error_page(
    db: SocialDB, ctx: RequestContext | None, status: int, text: str | None = None
) -> Page:
    """The styled page for an error status (400, 403, 404, 405, 500); ``text``
    replaces the status's own words."""
    title, words = ERRORS.get(status, ERRORS[500])
    text = text or words
    me = _me(db, ctx) if ctx is not None and db.person(ctx.account.id) else None
    return "error.html", {"me": me, "status": status, "title": title, "text": text}


#: The refusal page's own words in each language childsafe explains decisions in (the
#: rest of the demo's pages are in English only).
DENIED_WORDS = {
    "en": {"title": "Not allowed", "tip": "Safety tip:", "home": "Back home"},
    "fr": {"title": "Pas autorisé", "tip": "Conseil de sécurité :", "home": "Retour à l’accueil"},  # noqa: RUF001 - French typography
}


def denied_page(
    db: SocialDB, ctx: RequestContext | None, decision: Decision, accept_language: str | None
) -> Page:
    """The refusal page: childsafe's explanation of ``decision`` in the language the
    browser asks for (``Accept-Language``; English when childsafe has no other)."""
    locale = negotiate_locale(accept_language)
    lang = locale if locale in DENIED_WORDS else "en"
    return "denied.html", {
        "me": _me(db, ctx) if ctx is not None else None,
        "problem": problem_details(decision, locale=locale),
        "lang": lang,
        "words": DENIED_WORDS[lang],
    }
