"""Reports in the Django Playground: "report this" on profiles and messages, the JSON
endpoint (``childsafe.contrib.django.views.report_view``), the moderators' admin page
with the live transparency report, and grooming-risk signals over the attempts to
reach someone, over the same desk, trail and pages as the Flask app
(:mod:`examples.common.reports`).

:class:`SignalsMiddleware` (in ``MIDDLEWARE`` after childsafe's) puts the audit trail
on the guard and tells the signals of each message or friend request someone tried,
allowed or refused: an adult stranger reaching several children opens a case the
moderators see at ``/admin/reports`` with its evidence.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import attrs
from django.conf import settings  # type: ignore[import-untyped]
from django.core.exceptions import PermissionDenied  # type: ignore[import-untyped]
from django.http import Http404, HttpResponse  # type: ignore[import-untyped]
from django.urls import path  # type: ignore[import-untyped]
from django.views.decorators.csrf import csrf_exempt  # type: ignore[import-untyped]

from childsafe import Guard, exempt
from childsafe.audit import AuditTrail
from childsafe.complaints import ComplaintsDesk
from childsafe.contrib.django import request_context
from childsafe.contrib.django.views import report_view
from childsafe.media import EvidenceVault, MediaScreen
from childsafe.reports import AuditEvidence
from childsafe.signals import Signals, SQLiteSignalStore
from examples.common import photos, reports
from examples.django_app.playground.store import SESSION_KEY, get_db, get_playground
from examples.django_app.playground.views import _back, _me, _page, methods, signed_in

__all__ = [
    "SignalsMiddleware",
    "close_services",
    "get_desk",
    "get_photos",
    "get_screen",
    "get_signals",
    "get_vault",
    "urlpatterns",
]


@attrs.frozen
class _Services:
    desk: ComplaintsDesk
    trail: AuditTrail
    signals: Signals
    evidence: AuditEvidence
    # Photo messages (playground/photos.py): the demo hash list and classifier, the
    # evidence vault on this trail and desk, and the sent photos.
    screen: MediaScreen
    vault: EvidenceVault
    photos: photos.PhotoStore
    # The guards the trail is on (one a middleware instance; held, so an id is never
    # reused by another guard).
    guards: dict[int, Guard] = attrs.field(factory=dict)


def _open_services() -> _Services:
    """The audit trail (the guard's decisions, the desk's cases, the signals' flags,
    the vault's matches), the desk, the signals and the photo messages' screen, vault
    and store, over the Playground's SQLite file and data folder."""
    db = get_db()
    data_dir = get_playground().data_dir
    trail = reports.open_trail(db, data_dir)
    desk = reports.open_desk(db, trail)
    signals = reports.open_signals(db, desk, trail)
    screen, vault = photos.open_media(Path(data_dir) / "media", trail, desk)
    store = photos.PhotoStore(db.path)
    return _Services(desk, trail, signals, AuditEvidence(trail), screen, vault, store)


def _close_services(services: _Services) -> None:
    """Commit and close what :func:`_open_services` opened (the trail's writer, the
    desk's and the signals' SQLite connections, the classifier's worker threads)."""
    services.screen.close()
    services.trail.close()
    services.desk.store.close()
    store = services.signals.store
    if isinstance(store, SQLiteSignalStore):
        store.close()


# The services of the Playground's current SQLite file. A process serves one file; when
# the setting names another (as tests do), the old file's services are closed first, so
# no connection or writer thread is left behind.
_held: dict[str, _Services] = {}
_held_lock = threading.Lock()


def _current() -> _Services:
    path = get_db().path
    with _held_lock:
        services = _held.get(path)
        if services is None:
            for old in _held.values():
                _close_services(old)
            _held.clear()
            services = _held[path] = _open_services()
        return services


def get_desk() -> ComplaintsDesk:
    """The desk over the Playground's SQLite file."""
    return _current().desk


def get_signals() -> Signals:
    """The grooming-risk signals over the Playground's SQLite file."""
    return _current().signals


def get_screen() -> MediaScreen:
    """The media screen (the demo hash list, then the demo classifier)."""
    return _current().screen


def get_vault() -> EvidenceVault:
    """The evidence vault (in ``<data dir>/media``, on the trail and the desk)."""
    return _current().vault


def get_photos() -> photos.PhotoStore:
    """The sent photos, in the Playground's SQLite file."""
    return _current().photos


def close_services() -> None:
    """Close the services this process holds (tests call it when they finish with a
    database; a server's last ones end with its process)."""
    with _held_lock:
        for old in _held.values():
            _close_services(old)
        _held.clear()


_ATTEMPTS: Final = {"send_message": "message", "friend_request": "friend_request"}


class SignalsMiddleware:
    """After ``ChildsafeMiddleware``: records the guard's decisions on the audit trail,
    and tells the grooming-risk signals of each message or friend request someone
    tried from a page, allowed or refused (a refusal is answered inside this
    middleware, so it sees it)."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:  # noqa: ANN401 - HttpRequest -> HttpResponse
        services = _current()
        guard = request_context(request).guard
        if id(guard) not in services.guards:
            services.trail.attach(guard)
            services.guards[id(guard)] = guard
        response = self.get_response(request)
        match = request.resolver_match
        kind = None if match is None else _ATTEMPTS.get(match.url_name or "")
        me = request.session.get(SESSION_KEY)
        target = None if match is None else match.kwargs.get("user_id")
        if kind is not None and request.method == "POST" and isinstance(target, str) and me:
            reports.record_attempt(services.signals, get_db(), kind, me, target,
                                   allowed=response.status_code < 400)  # fmt: skip
        return response


@exempt("the reporting form: anyone signed in may report harm")
@signed_in
def report(request: Any) -> Any:  # noqa: ANN401 - HttpRequest in, HttpResponse out
    if request.method == "POST":
        page, status = reports.file_report_form(get_db(), get_desk(), _me(request), request.POST)
        return _page(request, page, status)
    args = request.GET
    return _page(
        request,
        reports.report_form_page(
            get_db(), _me(request), args.get("kind", ""), args.get("id", ""), args.get("account")
        ),
    )


@exempt("files a report: anyone may report harm")
def api_reports(request: Any) -> Any:  # noqa: ANN401 - HttpRequest in, HttpResponse out
    return report_view(get_desk())(request)


def _moderator(request: Any) -> None:  # noqa: ANN401 - an HttpRequest
    if not reports.is_moderator(_me(request)):
        raise PermissionDenied


def _evidence() -> AuditEvidence:
    """The trail's evidence, once what is queued is committed (the live figures)."""
    services = _current()
    services.trail.flush(timeout=2.0)
    return services.evidence


@exempt("the moderators' page: checks the account is a moderator")
@signed_in
def admin(request: Any) -> Any:  # noqa: ANN401 - HttpRequest in, HttpResponse out
    _moderator(request)
    notice = reports.read_notice(settings.SECRET_KEY, request.GET)
    return _page(request, reports.admin_page(get_db(), get_desk(), _me(request), _evidence(),
                                             notice))  # fmt: skip


@exempt("a moderator's step on a case: checks the account is a moderator")
@signed_in
def admin_step(request: Any, case_id: str, step: str) -> Any:  # noqa: ANN401
    _moderator(request)
    notice = reports.admin_step(get_desk(), case_id, step, request.POST)
    return _back("/admin/reports?" + reports.notice_query(settings.SECRET_KEY, notice))


@exempt("the live transparency report: checks the account is a moderator")
@signed_in
def transparency(request: Any, fmt: str) -> Any:  # noqa: ANN401
    _moderator(request)
    guard = request_context(request).guard
    found = reports.live_report(get_db(), get_desk(), guard, _evidence(), fmt)
    if found is None:
        raise Http404
    text, media_type = found
    return HttpResponse(text, content_type=media_type)


urlpatterns = [
    path("report", methods("GET", "HEAD", "POST")(report)),
    # JSON only (report_response refuses other media types): no CSRF token, as for the API.
    path("api/reports", csrf_exempt(api_reports)),
    path("admin/reports", methods("GET", "HEAD")(admin)),
    path("admin/reports/<str:case_id>/<str:step>", methods("POST")(admin_step)),
    path("admin/reports/transparency.<str:fmt>", methods("GET", "HEAD")(transparency)),
]
