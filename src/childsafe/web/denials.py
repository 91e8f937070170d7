"""Denials: how a refused request is answered (RFC 9457 problem documents), and the
rule that a denial never looks like success."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, Final

import attrs

from childsafe._decision import Decision, Reason
from childsafe.typing import DenialRenderer, Request
from childsafe.web.request import CONFIRM_HEADER, callable_name

log = logging.getLogger("childsafe")


# -------------------------------------------------------------------- denials


PROBLEM_TYPE_BASE: Final = "https://childsafe.readthedocs.io/en/latest/decisions.html#"


@attrs.frozen
class DenialResponse:
    """A framework-neutral HTTP response (status, headers, body)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


_TITLES: Final = {
    Reason.BLOCKED: "Blocked",
    Reason.UNVERIFIABLE: "Could not be checked",
    Reason.CONFIRMATION_REQUIRED: "Confirmation needed",
    Reason.UNDECLARED_ROUTE: "Not available",
}


def problem_details(decision: Decision) -> dict[str, Any]:
    """An RFC 9457 problem document for a denial.

    It carries the reason code, the action and the deciding setting's *name*, and never
    the target's band, settings values, id or anything else about them. A ``remedy``
    is included only when the decision was about the requester's own account.
    """
    title = _TITLES.get(decision.reason, "Not allowed by child-safety settings")
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + decision.reason.value,
        "title": title,
        "status": 403,
        "detail": _PUBLIC_DETAIL.get(decision.reason, "This action is not allowed."),
        "reason": decision.reason.value,
        "action": decision.action,
    }
    if decision.setting is not None:
        body["setting"] = decision.setting
    if decision.subject == "actor" and decision.remedy:
        # About the requester's own account: safe, and useful, to say what would help.
        body["remedy"] = decision.remedy
    if decision.needs_confirmation:
        # Allowed once the account holder (the requester) confirms the safety prompt.
        body["needs_confirmation"] = True
        body["confirm"] = {"header": CONFIRM_HEADER, "value": decision.action}
    return body


_PUBLIC_DETAIL: Final = {
    Reason.BLOCKED: "One of the accounts has blocked the other.",
    Reason.SETTING_OFF: "The account's settings do not allow this.",
    Reason.NOT_CONNECTED: "Only the account's connections can do this.",
    Reason.NO_MUTUAL_CONNECTION: "Only accounts with a mutual connection can do this.",
    Reason.NOT_INVITED: "This account can only be added with its invite.",
    Reason.APPROVAL_REQUIRED: "The account holder approves each invite.",
    Reason.PARENT_APPROVAL_REQUIRED: "A parent needs to approve this.",
    Reason.QUIET_HOURS: "The account is in its quiet hours.",
    Reason.CONTENT_TOO_SENSITIVE: "This content is not shown to this account.",
    Reason.ADULT_ONLY: "This content is for adults only.",
    Reason.UNVERIFIABLE: "The accounts could not be checked, so this is not allowed.",
    Reason.CONFIRMATION_REQUIRED: "Read the safety tip, then confirm to go ahead.",
    Reason.PARENT_APPROVAL_TO_CONTACT: "A parent needs to approve this first.",
    Reason.UNDECLARED_ROUTE: "This page has no child-safety rule yet, so it is not available.",
}


def problem_response(decision: Decision, request: Request | None = None) -> DenialResponse:
    """The default denial: ``403`` with an ``application/problem+json`` body."""
    del request
    body = json.dumps(problem_details(decision), separators=(",", ":")).encode()
    return DenialResponse(
        403,
        (
            ("content-type", "application/problem+json"),
            ("content-length", str(len(body))),
            ("cache-control", "no-store"),
        ),
        body,
    )


DENIED_STATUS: Final = 403
"""The status a denial is sent with when its renderer chose one that looks like success."""

_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})


def denial_status(status: int) -> int:
    """The status a denial rendered with ``status`` is sent with: ``status`` itself when
    it is an error (4xx, 5xx) or a redirect (to a sign-in or explanation page), else
    ``DENIED_STATUS`` (403). A denial never looks like success: no 1xx, no 2xx, no
    ``304 Not Modified`` (which would show the client its cached copy).

    Every adapter sends denials through this rule, whatever its renderer returned.

    >>> denial_status(200), denial_status(204), denial_status(304), denial_status(302)
    (403, 403, 403, 302)
    >>> denial_status(404), denial_status(451)
    (404, 451)
    """
    if 400 <= status <= 599 or status in _REDIRECTS:
        return status
    return DENIED_STATUS


def render_denial(renderer: DenialRenderer, decision: Decision, request: Request) -> DenialResponse:
    """``renderer(decision, request)`` with its status passed through
    :func:`denial_status`, or the default problem response when the app's renderer
    raises or returns something that cannot be sent (the request stays denied either
    way)."""
    try:
        response: object = renderer(decision, request)
        if not isinstance(response, DenialResponse):
            raise TypeError(f"returned a {type(response).__name__}, not a DenialResponse")  # noqa: TRY301
        body: object = response.body
        if not isinstance(body, bytes) or not 100 <= response.status <= 999:
            raise TypeError("a DenialResponse needs a bytes body and a 3-digit status")  # noqa: TRY301
        for name, value in response.headers:
            name.encode("latin-1")
            value.encode("latin-1")
    except Exception as e:  # noqa: BLE001 - the denial must be sent whatever the renderer did
        log.error(  # noqa: TRY400 - the renderer's failure is reported, not re-raised
            "childsafe: denial renderer %s failed (%r); sending problem+json",
            callable_name(renderer),
            e,
        )
        return problem_response(decision)
    status = denial_status(response.status)
    if status != response.status:
        log.warning(
            "childsafe: denial renderer %s answered %d; sending %d (a denial never looks "
            "like success)",
            callable_name(renderer),
            response.status,
            status,
        )
        return attrs.evolve(response, status=status)
    return response


def rendered(
    renderer: Callable[[Decision, Request], object] | None,
    decision: Decision,
    request: Request,
    *,
    passthrough: tuple[type[BaseException], ...] = (),
) -> object:
    """What ``renderer`` makes of a denial, for adapters whose renderers may return their
    framework's own responses: the default problem response without a renderer or when
    it raises (logged), except for the ``passthrough`` exceptions the framework answers
    itself (Flask's ``abort()``, Django's ``Http404``). The adapter then sends the result
    with :func:`denial_status` applied."""
    if renderer is None:
        return problem_response(decision, request)
    try:
        return renderer(decision, request)
    except passthrough:
        raise
    except Exception:
        log.exception(  # the renderer's failure is reported, not re-raised
            "childsafe: the denial renderer raised (%s); answering problem+json",
            callable_name(renderer),
        )
        return problem_response(decision, request)


def unverifiable(action_name: str) -> Decision:
    """The decision used when the accounts behind a request cannot be loaded."""
    return Decision(
        allowed=False,
        action=action_name,
        reason=Reason.UNVERIFIABLE,
        message=f"{action_name} denied: the accounts could not be loaded to check it.",
    )


def undeclared_route(route: str) -> Decision:
    """The decision for a request that strict mode refuses: ``route`` (``"GET /x"``)
    matches no declared rule and no exemption."""
    return Decision(
        allowed=False,
        action="route",
        reason=Reason.UNDECLARED_ROUTE,
        message=f"{route} denied: the route declares no action and is not exempt (strict mode).",
    )


def withheld_response() -> DenialResponse:
    """``500`` problem+json: a JSON response that needed filtering could not be read
    (an unknown content coding, a body that is not JSON), so it is not sent."""
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "Response withheld",
            "status": 500,
            "detail": "The response could not be checked against child-safety settings, "
            "so it was not sent.",
        },
        separators=(",", ":"),
    ).encode()
    return DenialResponse(
        500,
        (
            ("content-type", "application/problem+json"),
            ("content-length", str(len(body))),
            ("cache-control", "no-store"),
        ),
        body,
    )
