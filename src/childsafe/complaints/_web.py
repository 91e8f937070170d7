"""Filing a report over HTTP: the one function every adapter's report endpoint calls.

The adapter reads the method, the content type and the body (at most
:data:`MAX_REPORT_BODY` bytes, else ``None``) and hands over the request's
:class:`~childsafe.RequestContext`; it sends back the :class:`~childsafe.DenialResponse`
(a framework-neutral status, headers and body) that this returns. Errors are RFC 9457
``application/problem+json`` documents.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Final

from childsafe._model import Account
from childsafe._parsing import ParseError, load_json
from childsafe.complaints._desk import ComplaintEventError, ComplaintsDesk
from childsafe.complaints._errors import (
    ComplaintError,
    ComplaintStoreError,
    InvalidComplaintError,
)
from childsafe.web.context import ANONYMOUS_ID, RequestContext
from childsafe.web.denials import DenialResponse
from childsafe.web.request import is_json

__all__ = ["MAX_REPORT_BODY", "REPORT_EXEMPTION", "report_response"]

log = logging.getLogger("childsafe.complaints")

MAX_REPORT_BODY: Final = 16 * 1024
"""The largest report body read, in bytes."""

REPORT_EXEMPTION: Final = "anyone may report harm: filing a report is never refused by policy"
"""The strict-mode exemption the report endpoints carry."""

PROBLEM_BASE: Final = "https://childsafe.readthedocs.io/en/latest/complaints.html#"


def _response(status: int, document: dict[str, Any], *extra: tuple[str, str]) -> DenialResponse:
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    media = "application/json" if status < 400 else "application/problem+json"
    return DenialResponse(
        status,
        (
            ("content-type", media),
            ("content-length", str(len(body))),
            ("cache-control", "no-store"),
            *extra,
        ),
        body,
    )


def _problem(
    status: int, kind: str, title: str, detail: str, *extra: tuple[str, str], **more: object
) -> DenialResponse:
    return _response(
        status,
        {"type": PROBLEM_BASE + kind, "title": title, "status": status, "detail": detail, **more},
        *extra,
    )


def _reporter(context: RequestContext | None) -> Account | None:
    """The signed-in reporter, or ``None`` (not signed in, or the resolver failed: the
    report is then taken as an anonymous one, never refused)."""
    if context is None or context.account.id == ANONYMOUS_ID:
        return None
    return context.account


def report_response(
    desk: ComplaintsDesk,
    *,
    method: str,
    content_type: str | None,
    body: bytes | None,
    context: RequestContext | None = None,
) -> DenialResponse:
    """Answer a request filing a report: ``201`` with the case's id, or a problem.

    ``405`` for a method other than ``POST``; ``415`` for a body that is not JSON;
    ``413`` when the adapter refused a body over :data:`MAX_REPORT_BODY` (``body``
    ``None``); ``400`` for malformed JSON; ``422`` with ``errors`` (``field``,
    ``message``) for a report that fails validation; ``503`` when the store cannot
    take it (nothing was filed; try again). A ``desk`` or ``method`` of the wrong kind
    (an adapter's bug, not the reporter's) is a :class:`ComplaintError`.
    """
    given: object = method
    if not isinstance(given, str):
        raise ComplaintError(f"report_response: method must be a string, got {given!r:.40}")
    if not callable(getattr(desk, "file_report", None)):
        raise ComplaintError(
            f"report_response: desk must be a ComplaintsDesk, got {type(desk).__name__}"
        )
    if method.upper() != "POST":
        return _problem(
            405,
            "method-not-allowed",
            "Method not allowed",
            f"Reports are filed with POST, not {method.upper()}.",
            ("allow", "POST"),
        )
    if not is_json(content_type):
        return _problem(
            415,
            "unsupported-media-type",
            "Send the report as JSON",
            "Reports are filed as application/json.",
            ("accept-post", "application/json"),
        )
    if body is None or len(body) > MAX_REPORT_BODY:
        return _problem(
            413,
            "too-large",
            "Report too large",
            f"A report may be at most {MAX_REPORT_BODY} bytes.",
        )
    try:
        data = load_json(body, max_bytes=MAX_REPORT_BODY)
    except ParseError as e:
        return _problem(400, "malformed", "The report is not valid JSON", str(e))
    try:
        case = desk.file_report(data, account=_reporter(context))
    except InvalidComplaintError as e:
        return _problem(
            422,
            "invalid-report",
            "The report is incomplete or invalid",
            "; ".join(str(p) for p in e.problems),
            errors=[{"field": p.field, "message": p.message} for p in e.problems],
        )
    except ComplaintEventError as e:
        # Stored: the reporter must not file it again. The platform's sink failed.
        log.error("childsafe: %s", e)  # noqa: TRY400 - logged where the sink raised
        case = e.complaint
    except ComplaintStoreError:
        log.exception("childsafe: a report could not be stored")
        return _problem(
            503,
            "unavailable",
            "Your report could not be received",
            "Please try again in a few minutes.",
            ("retry-after", "60"),
        )
    return _response(
        201,
        {
            "id": case.id,
            "status": case.status.value,
            "category": case.category,
            "received_at": case.received_at.isoformat(),
        },
    )
