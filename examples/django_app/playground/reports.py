"""Reports in the Django Playground: "report this" on profiles and messages, and the
JSON endpoint (``childsafe.contrib.django.views.report_view``), over the same desk and
pages as the Flask app (:mod:`examples.common.reports`). The moderators' admin page is
the Flask app's.
"""

from __future__ import annotations

import functools
from typing import Any

from django.urls import path  # type: ignore[import-untyped]
from django.views.decorators.csrf import csrf_exempt  # type: ignore[import-untyped]

from childsafe import exempt
from childsafe.complaints import ComplaintsDesk
from childsafe.contrib.django.views import report_view
from examples.common import reports
from examples.django_app.playground.store import get_db, get_playground
from examples.django_app.playground.views import _me, _page, methods, signed_in

__all__ = ["get_desk", "urlpatterns"]


@functools.cache
def _desk(db_path: str) -> ComplaintsDesk:  # noqa: ARG001 - the cache key
    """The desk, recording each step of a case on the audit trail in the same file."""
    return reports.open_desk(get_db(), reports.open_trail(get_db(), get_playground().data_dir))


def get_desk() -> ComplaintsDesk:
    """The desk over the Playground's SQLite file."""
    return _desk(get_db().path)


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


urlpatterns = [
    path("report", methods("GET", "HEAD", "POST")(report)),
    # JSON only (report_response refuses other media types): no CSRF token, as for the API.
    path("api/reports", csrf_exempt(api_reports)),
]
