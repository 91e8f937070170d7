"""Framework-neutral reporting for the example apps: the "report this" pages, the
moderators' admin page with the live transparency report, and the desk they share.

The desk keeps its cases in the app's own SQLite file (``childsafe_complaints`` beside
the app's tables), and the audit trail its records there too (``childsafe_audit``),
with signed checkpoints in the data folder beside it, so ``childsafe report --store
sqlite:///playground.sqlite3 --audit sqlite:///playground.sqlite3`` and ``childsafe
audit verify`` work on the demo's data. The Flask app
(``examples/flask_app/reports.py``) and the Django app
(``examples/django_app/playground/reports.py``) only translate requests and responses.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

from childsafe import Guard, RequestContext
from childsafe.audit import (
    AuditConfig,
    AuditTrail,
    CheckpointSigner,
    ComplaintRecorder,
    Pseudonymiser,
)
from childsafe.complaints import (
    DEFAULT_CATEGORIES,
    ComplaintError,
    ComplaintsDesk,
    InvalidComplaintError,
    ReporterRole,
    SQLiteComplaintStore,
    Status,
)
from childsafe.complaints import open_store as open_complaint_store
from childsafe.reports import Evidence, Period, build_report, render, take_census
from childsafe.signals import AuditFlags, CaseOpener, Signals, SQLiteSignalStore
from examples.common.age_issuer import create_file_once
from examples.common.socialdb import Person, SocialDB
from examples.common.views import BAND_LABELS, MODERATORS, Page, base_context

__all__ = [
    "FORMATS",
    "MODERATORS",
    "admin_page",
    "admin_step",
    "file_report_form",
    "is_moderator",
    "live_report",
    "open_desk",
    "open_trail",
    "report_form_page",
]


FORMATS: Final = {
    "html": "text/html; charset=utf-8",
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
}
KINDS: Final = {"account": "profile", "message": "message", "content": "post"}
# What each category means, in words a child reporting it would use.
PLAIN_WORDS: Final = {
    "grooming": "Someone wants photos, secrets, or to meet up (grooming)",
    "sexual_content": "Sexual pictures, videos or messages",
    "bullying": "Bullying, threats or hurtful messages",
    "self_harm": "Someone talking about hurting themselves",
    "impersonation": "Pretending to be someone else",
    "privacy": "Sharing someone's private information or photos",
    "other": "Something else",
}
OUTCOME_LABELS: Final = {
    "content_removed": "Remove the content",
    "account_restricted": "Restrict the account",
    "no_violation": "No violation",
    "referred_law_enforcement": "Refer to law enforcement",
    "referred_hotline": "Refer to a hotline",
}


AUDIT_KEY_FILE: Final = "audit-pseudonyms.key"
AUDIT_SIGNER_FILE: Final = "audit-checkpoints.pem"
AUDIT_CHECKPOINTS: Final = "audit-checkpoints"


def open_desk(
    db: SocialDB, trail: AuditTrail | None = None, store: str | None = None
) -> ComplaintsDesk:
    """The desk over ``store`` (a URL; default: the app's own SQLite file); every step
    of a case goes on ``trail``."""
    sinks = [] if trail is None else [ComplaintRecorder(trail)]
    cases = SQLiteComplaintStore(db.path) if store is None else open_complaint_store(store)
    return ComplaintsDesk(cases, sinks=sinks)


def open_signals(db: SocialDB, desk: ComplaintsDesk, trail: AuditTrail | None = None) -> Signals:
    """Grooming-risk signals over the app's SQLite file (shared by every worker of the
    demo's server): an adult stranger reaching several children opens a case for the
    moderators, with its evidence, and every flag goes on ``trail``. The app tells it
    of each attempt (:func:`record_attempt`); it is not a sink of the guard, whose
    decisions include the checks the pages make to choose which buttons to show."""
    signals = Signals(store=SQLiteSignalStore(str(db.path)))
    signals.add_listener(CaseOpener(desk, threshold=40))
    if trail is not None:
        signals.add_listener(AuditFlags(trail))
    return signals


def record_attempt(
    signals: Signals, db: SocialDB, kind: str, actor_id: str, target_id: str, *, allowed: bool
) -> None:
    """Tell ``signals`` that ``actor_id`` tried a ``kind`` (``message``,
    ``friend_request``) on ``target_id``, allowed or not: the bands and the relationship
    from the app's data, nothing more."""
    actor, target = db.account(actor_id), db.account(target_id)
    if actor is None or target is None:
        return
    rel = db.relationship(actor_id, target_id)
    signals.observe(
        kind,
        actor_id,
        target_id,
        actor_band=actor.band.value,
        target_band=target.band.value,
        allowed=allowed,
        connected=rel.connected,
        mutual=rel.mutual_connections,
    )


def open_trail(db: SocialDB, data_dir: Path, store: str | None = None) -> AuditTrail:
    """The audit trail in ``store`` (a URL; default: the app's SQLite file),
    pseudonymising with a key kept in ``data_dir`` and signing checkpoints into
    ``data_dir/audit-checkpoints`` (outside the database, as a platform keeps them on
    other storage). Every allow is kept: the demo is small."""
    key = create_file_once(data_dir / AUDIT_KEY_FILE, secrets.token_bytes(32))
    fresh = CheckpointSigner.generate().private_pem().encode()
    signer = CheckpointSigner.from_pem(create_file_once(data_dir / AUDIT_SIGNER_FILE, fresh))
    return AuditTrail(
        store or f"sqlite:///{Path(db.path).resolve()}",
        pseudonymiser=Pseudonymiser({"demo": key}),
        signer=signer,
        checkpoints=data_dir / AUDIT_CHECKPOINTS,
        config=AuditConfig(allow_sample_rate=1.0),
    )


def is_moderator(ctx: RequestContext) -> bool:
    return ctx.account.id in MODERATORS


def _minor(ctx: RequestContext) -> bool:
    return ctx.account.band.value in {"under_13", "13_15", "16_17", "unknown"}


def report_form_page(
    db: SocialDB,
    ctx: RequestContext,
    kind: str,
    subject_id: str,
    owner: str | None = None,
    *,
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, str] | None = None,
) -> Page | None:
    """The "report this" form for a profile or a message (``None``: nothing to report)."""
    if kind not in KINDS or not subject_id:
        return None
    if kind == "account":
        person = db.person(subject_id)
        if person is None:
            return None
        about = f"{person.name}'s profile"
        owner = subject_id
    else:
        person = db.person(owner) if owner else None
        about = f"a message from {person.name}" if person else f"this {KINDS[kind]}"
    return "report_form.html", {
        **base_context(db, ctx),
        "kind": kind,
        "subject_id": subject_id,
        "owner": owner or "",
        "about": about,
        "categories": [
            (name, PLAIN_WORDS.get(name, DEFAULT_CATEGORIES.label(name)))
            for name in DEFAULT_CATEGORIES
        ],
        "child": _minor(ctx),
        "errors": dict(errors or {}),
        "values": dict(values or {}),
    }


def file_report_form(
    db: SocialDB, desk: ComplaintsDesk, ctx: RequestContext, form: Mapping[str, str]
) -> tuple[Page | None, int]:
    """File the report the form sent: the thank-you page (201), or the form again
    with each problem beside its field (400)."""
    kind = form.get("kind", "")
    subject: dict[str, str] = {"kind": kind, "id": form.get("subject_id", "")}
    if form.get("owner"):
        subject["account_id"] = form["owner"]
    data: dict[str, Any] = {
        "category": form.get("category") or None,
        "subject": subject,
        "description": form.get("description", ""),
    }
    if not _minor(ctx) and form.get("role"):
        data["reporter"] = {"role": form["role"]}
    try:
        case = desk.file_report(data, account=ctx.account)
    except InvalidComplaintError as e:
        errors = {p.field.split(".")[0]: p.message for p in e.problems}
        page = report_form_page(
            db, ctx, kind, subject["id"], form.get("owner"), errors=errors, values=form
        )
        return page, 400
    return (
        "report_filed.html",
        {
            **base_context(db, ctx),
            "case": case,
            "category": DEFAULT_CATEGORIES.label(case.category),
            "child": _minor(ctx),
        },
    ), 201


def _period(today: dt.date | None = None) -> Period:
    """This calendar year so far: the live report."""
    day = today or dt.datetime.now(dt.UTC).date()
    return Period(dt.date(day.year, 1, 1), day)


def _document(
    db: SocialDB, desk: ComplaintsDesk, guard: Guard, evidence: Evidence | None
) -> dict[str, Any]:
    accounts = (a for p in db.people() if (a := db.account(p.id)) is not None)
    census = take_census(guard, accounts)
    return build_report(
        desk.store, _period(), platform="Playground", evidence=evidence, census=census
    ).to_dict()


def live_report(
    db: SocialDB,
    desk: ComplaintsDesk,
    guard: Guard,
    evidence: Evidence | None,
    fmt: str,
) -> tuple[str, str] | None:
    """The live transparency report in ``fmt`` and its content type (``None``: no
    such format)."""
    if fmt not in FORMATS:
        return None
    return render(_document(db, desk, guard, evidence), fmt), FORMATS[fmt]  # type: ignore[arg-type]


def admin_page(
    db: SocialDB,
    desk: ComplaintsDesk,
    ctx: RequestContext,
    evidence: Evidence | None,
    notice: str | None = None,
) -> Page:
    """The moderators' page: this year's figures and the newest cases to act on."""
    document = _document(db, desk, ctx.guard, evidence)
    cases = []
    for case in desk.cases(limit=50):
        reporter = db.person(case.reporter.account_id) if case.reporter.account_id else None
        platform = case.reporter.role is ReporterRole.PLATFORM
        owner = db.person(case.subject.account_id) if case.subject.account_id else None
        cases.append(
            {
                "case": case,
                "category": DEFAULT_CATEGORIES.label(case.category),
                "reporter": (
                    "Our own detection" if platform else reporter.name if reporter else "signed out"
                ),
                # The platform's own detection has no age band to show.
                "reporter_band": None if platform else BAND_LABELS[case.reporter.band.value],
                "about": _about(case.subject.kind.value, case.subject.id, owner),
            }
        )
    bands = [
        {**band, "label": BAND_LABELS[band["band"]]}
        for band in (document["child_accounts"] or {"bands": []})["bands"]
    ]
    return "admin_reports.html", {
        **base_context(db, ctx),
        "report": document,
        "bands": bands,
        "cases": cases,
        "outcomes": OUTCOME_LABELS,
        "notice": notice,
        "formats": list(FORMATS),
        "Status": Status,
    }


def _about(kind: str, subject_id: str, owner: Person | None) -> str:
    if owner is None:
        return f"{KINDS[kind]} {subject_id}"
    if kind == "account":
        return f"{owner.name}'s profile"
    return f"a {KINDS[kind]} from {owner.name}"


def _notice_signature(secret: str | bytes, notice: str) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    message = b"admin-notice:" + notice.encode("utf-8", "surrogatepass")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def notice_query(secret: str | bytes, notice: str) -> str:
    """The query string that carries a step's ``notice`` back to the moderators' page,
    signed with the app's secret: a link from anyone else cannot put words there."""
    return urlencode({"done": notice, "sig": _notice_signature(secret, notice)})


def read_notice(secret: str | bytes, args: Mapping[str, str]) -> str | None:
    """The notice of :func:`notice_query`, or ``None`` when it is absent or was not
    signed with ``secret`` (a crafted ``?done=`` shows nothing)."""
    notice, signature = args.get("done"), args.get("sig")
    if not notice or not signature:
        return None
    expected = _notice_signature(secret, notice)
    return notice if hmac.compare_digest(signature.encode(), expected.encode()) else None


def admin_step(desk: ComplaintsDesk, case_id: str, step: str, form: Mapping[str, str]) -> str:
    """Take ``step`` on the case; what happened, for the page's notice."""
    outcome = form.get("outcome") or None
    try:
        if step == "review":
            desk.start_review(case_id)
        elif step == "resolve":
            desk.resolve(case_id, outcome or "")
        elif step == "appeal":
            desk.appeal(case_id)
        elif step == "decide":
            desk.decide_appeal(case_id, outcome=outcome)
        else:
            return f"Unknown step {step!r}."
    except ComplaintError as e:
        return f"Not done: {e}"
    return f"Case {case_id}: {step} done."
