"""Reports in the Flask Playground: "report this" on profiles and messages, the JSON
endpoint (``childsafe.contrib.flask.report_view``), and the moderators' admin page with
the live transparency report. The logic is in :mod:`examples.common.reports`.

:func:`install_reports` registers it on the app ``create_app`` builds.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, abort, current_app, request, session
from flask.typing import ResponseReturnValue

from childsafe import exempt
from childsafe.audit import AuditTrail
from childsafe.complaints import ComplaintsDesk
from childsafe.contrib.flask import current_guard, report_view
from childsafe.reports import AuditEvidence
from childsafe.signals import Signals
from examples.common import reports
from examples.flask_app.app import SESSION_KEY, _back, _db, _me, _page, signed_in

__all__ = ["install_reports"]

DESK_KEY = "playground.desk"
_EVIDENCE_KEY = "playground.evidence"
AUDIT_KEY = "playground.audit"
SIGNALS_KEY = "playground.signals"

bp = Blueprint("reports", __name__)


def install_reports(app: Flask) -> None:
    """The audit trail (recording the guard's decisions and setting changes and the
    desk's cases), the desk over the app's SQLite file, grooming-risk signals over the
    guard's decisions (opening cases on the desk), and the report routes. Close
    the trail (``app.extensions[AUDIT_KEY].close()``) when the app stops: it commits
    what is queued and signs a last checkpoint."""
    with app.app_context():
        store = app.config["PLAYGROUND_STORE"]
        trail = reports.open_trail(_db(), app.extensions["playground"].data_dir, store)
        trail.attach(current_guard())
        desk = reports.open_desk(_db(), trail, store)
        signals = reports.open_signals(_db(), desk, trail)
        evidence = AuditEvidence(trail)
    app.extensions[SIGNALS_KEY] = signals
    app.extensions[AUDIT_KEY] = trail
    app.extensions[DESK_KEY] = desk
    app.extensions[_EVIDENCE_KEY] = evidence
    app.register_blueprint(bp)
    app.add_url_rule("/api/reports", "api_reports", view_func=report_view(desk), methods=["POST"])


_ATTEMPTS = {"playground.send_message": "message", "playground.friend_request": "friend_request"}


@bp.after_app_request
def _record_attempt(response: Response) -> Response:
    """Each message or friend request someone tried, allowed or refused, goes to the
    grooming-risk signals."""
    kind = _ATTEMPTS.get(request.endpoint or "")
    target = (request.view_args or {}).get("user_id")
    me = session.get(SESSION_KEY)
    if kind is not None and request.method == "POST" and isinstance(target, str) and me:
        signals = current_app.extensions[SIGNALS_KEY]
        assert isinstance(signals, Signals)
        reports.record_attempt(signals, _db(), kind, me, target, allowed=response.status_code < 400)
    return response


def _desk() -> ComplaintsDesk:
    desk = current_app.extensions[DESK_KEY]
    assert isinstance(desk, ComplaintsDesk)
    return desk


def _evidence() -> AuditEvidence:
    """The trail's evidence, once what is queued is committed (the live figures)."""
    trail = current_app.extensions[AUDIT_KEY]
    assert isinstance(trail, AuditTrail)
    trail.flush(timeout=2.0)
    evidence = current_app.extensions[_EVIDENCE_KEY]
    assert isinstance(evidence, AuditEvidence)
    return evidence


@bp.get("/report")
@exempt("the reporting form: anyone signed in may report harm")
@signed_in
def report_form() -> str:
    args = request.args
    return _page(
        reports.report_form_page(
            _db(), _me(), args.get("kind", ""), args.get("id", ""), args.get("account")
        )
    )


@bp.post("/report")
@exempt("files a report: anyone signed in may report harm")
@signed_in
def report_post() -> ResponseReturnValue:
    page, status = reports.file_report_form(_db(), _desk(), _me(), request.form)
    return _page(page), status


def _moderator() -> None:
    if not reports.is_moderator(_me()):
        abort(403)


@bp.get("/admin/reports")
@exempt("the moderators' page: checks the account is a moderator")
@signed_in
def admin() -> str:
    _moderator()
    notice = reports.read_notice(_secret(), request.args)
    return _page(reports.admin_page(_db(), _desk(), _me(), _evidence(), notice))


@bp.post("/admin/reports/<case_id>/<step>")
@exempt("a moderator's step on a case: checks the account is a moderator")
@signed_in
def admin_step(case_id: str, step: str) -> ResponseReturnValue:
    _moderator()
    notice = reports.admin_step(_desk(), case_id, step, request.form)
    return _back("/admin/reports?" + _query(notice))


@bp.get("/admin/reports/transparency.<fmt>")
@exempt("the live transparency report: checks the account is a moderator")
@signed_in
def transparency(fmt: str) -> ResponseReturnValue:
    _moderator()
    found = reports.live_report(_db(), _desk(), current_guard(), _evidence(), fmt)
    if found is None:
        abort(404)
    text, media_type = found
    return Response(text, content_type=media_type)


def _query(notice: str) -> str:
    return reports.notice_query(_secret(), notice)


def _secret() -> str | bytes:
    secret: str | bytes = current_app.secret_key  # type: ignore[assignment]
    return secret
