"""Views childsafe offers Django projects: filing reports on the complaints desk.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from childsafe.complaints import MAX_REPORT_BODY, REPORT_EXEMPTION, report_response
from childsafe.contrib.django.middleware import CONTEXT_ATTR, _http_response
from childsafe.web import RequestContext, exempt

if TYPE_CHECKING:
    from childsafe.complaints import ComplaintsDesk

__all__ = ["report_view"]


def report_view(desk: ComplaintsDesk) -> Callable[..., Any]:
    """A view filing reports on ``desk`` (``POST`` a JSON report; see
    :func:`childsafe.complaints.report_response`), exempt from strict mode; the
    signed-in reporter comes from the middleware's request context::

        urlpatterns = [path("reports", report_view(desk))]

    Django's CSRF protection applies as to any view: a page posting a report sends
    the CSRF token; an API authenticated by tokens wraps the view in ``csrf_exempt``.
    """

    @exempt(REPORT_EXEMPTION)
    def childsafe_report(request: Any) -> Any:  # noqa: ANN401 - HttpRequest in, HttpResponse out
        raw_length = request.META.get("CONTENT_LENGTH")
        try:
            length = int(raw_length) if raw_length else None
        except ValueError:
            length = -1
        body: bytes | None
        if length is None:
            # No Content-Length (chunked): at most the limit and one byte of what the
            # server received (under ASGI Django has it all, spooled; ``request.body``
            # read it whole into memory when DATA_UPLOAD_MAX_MEMORY_SIZE is None).
            read = request.read(MAX_REPORT_BODY + 1)
            body = read if len(read) <= MAX_REPORT_BODY else None
        else:
            body = request.body if 0 <= length <= MAX_REPORT_BODY else None
        context = getattr(request, CONTEXT_ATTR, None)
        return _http_response(
            report_response(
                desk,
                method=request.method,
                content_type=request.META.get("CONTENT_TYPE"),
                body=body,
                context=context if isinstance(context, RequestContext) else None,
            )
        )

    return childsafe_report
