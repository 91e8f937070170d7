"""Denials: how a refused request is answered (RFC 9457 problem documents), and the
rule that a denial never looks like success."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final, Literal

import attrs

from childsafe._decision import Decision, Reason
from childsafe._messages import LOCALES, Audience, Messages, explain
from childsafe.exceptions import InvalidCheckError
from childsafe.typing import DenialRenderer, Request
from childsafe.web.request import CONFIRM_HEADER, callable_name

if TYPE_CHECKING:
    from collections.abc import Mapping

    from childsafe._engine import SettingChange

log = logging.getLogger("childsafe")


# -------------------------------------------------------------------- denials


PROBLEM_TYPE_BASE: Final = "https://childsafe.readthedocs.io/en/latest/decisions.html#"


@attrs.frozen
class DenialResponse:
    """A framework-neutral HTTP response (status, headers, body)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


#: Headers about the connection rather than the response (RFC 9110 section 7.6.1): a
#: WSGI application must not send them (PEP 3333; waitress and wsgiref refuse the
#: response with a server error), so WSGI adapters drop them; ASGI passes them on.
HOP_BY_HOP: Final = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
     "trailers", "transfer-encoding", "upgrade"}
)  # fmt: skip


def wsgi_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """``headers`` without the hop-by-hop ones (:data:`HOP_BY_HOP`), for a WSGI server:
    the ``connection: close`` of a 413 is the server's to decide under WSGI."""
    kept = []
    for header in headers:
        if header[0].lower() not in HOP_BY_HOP:
            kept.append(header)  # noqa: PERF401 (a comprehension is a call of its own on 3.11)
    return kept


def problem_details(
    decision: Decision,
    *,
    locale: str = "en",
    parent: str | None = None,
    messages: Messages | None = None,
) -> dict[str, Any]:
    """An RFC 9457 problem document for a denial, its ``title`` and ``detail`` in
    ``locale`` (see :func:`childsafe.explain`).

    It carries the reason code, the action and the deciding setting's *name*, and never
    the target's band, settings values, id or anything else about them: when the
    decision was about another account, the texts are the refused person's, the same
    whatever that account's band or settings. When it was about the requester's own
    account (``subject`` is ``"actor"``), the texts are the account holder's own, with
    a ``next_step`` and, before a safety prompt, a ``tip``; ``parent``
    is the display name of their linked parent, for texts that name them.

    A blurred image (``sensitive_media_blurred``) also lists its ``choices``
    (``view``, ``dont_view``, ``block_and_report``).

    .. versionchanged:: 0.2.0 ``locale``, ``parent`` and ``messages``; the requester's
       own denials carry ``next_step`` and ``tip``; a blur its ``choices``.
    .. versionchanged:: 0.2.0 No ``remedy``: it is the developer's text (in English,
       with setting, value and band codes); ``next_step`` says it to the account holder.
    """
    own = decision.subject == "actor"
    said = explain(
        decision,
        "child" if own else "refused_adult",
        locale=locale,
        parent=parent,
        messages=messages,
    )
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + decision.reason.value,
        "title": said.title,
        "status": 403,
        "detail": said.text,
        "reason": decision.reason.value,
        "action": decision.action,
    }
    if decision.setting is not None:
        body["setting"] = decision.setting
    if own:
        # About the requester's own account: safe, and useful, to say what would help,
        # in their words. Not the engine's ``remedy``: English for developers, naming
        # settings, values and bands by their codes ("since 13_15 accounts are below...").
        if said.next_step:
            body["next_step"] = said.next_step
        if said.tip:
            body["tip"] = said.tip
    if decision.needs_confirmation:
        # Allowed once the account holder (the requester) confirms the safety prompt.
        body["needs_confirmation"] = True
        body["confirm"] = {"header": CONFIRM_HEADER, "value": decision.action}
    if decision.reason is Reason.SENSITIVE_MEDIA_BLURRED:
        # The three choices a blurred image offers: "view" confirms (the header above).
        body["choices"] = list(BLUR_CHOICES)
    return body


BLUR_CHOICES: Final = ("view", "dont_view", "block_and_report")
"""What a blurred image offers its viewer, in the ``choices`` of its problem document:
see it (confirm), leave it blurred, or block and report the sender (the platform's own
flows)."""


CHANGE_PROBLEM_TYPE_BASE: Final = (
    "https://childsafe.readthedocs.io/en/latest/explanations.html#change-"
)
"""The start of the problem ``type`` of a refused setting change; the reason follows."""


def change_problem_details(
    change: SettingChange,
    *,
    by: Literal["self", "parent"] = "self",
    locale: str = "en",
    names: Mapping[str, str] | None = None,
    messages: Messages | None = None,
) -> dict[str, Any]:
    """An RFC 9457 problem document for a refused :class:`~childsafe.SettingChange`,
    in the words of whoever asked for it: the account holder (``by="self"``) or their
    parent (``by="parent"``), in ``locale``. ``names`` maps account ids to display
    names, so that the texts name the child and their parent.

    It holds the reason, the setting's name, the account holder's ``title``,
    ``detail`` and ``next_step``, and, when loosening waits for a safety prompt,
    the setting's safety ``tip`` and ``needs_confirmation``. A change refused because
    the person is not the account's parent (``not_guardian``) gets the refused
    person's text, which says nothing about the account.

    .. versionadded:: 0.2.0
    """
    if change.applied:
        raise InvalidCheckError(
            "change_problem_details() needs a refused change; this one was applied "
            f"({change.reason})"
        )
    if by not in ("self", "parent"):
        raise InvalidCheckError(f"by must be 'self' or 'parent', got {by!r}")
    audience: Audience
    if change.reason == "not_guardian":
        audience = "refused_adult"
    else:
        audience = "child" if by == "self" else "parent"
    said = explain(change, audience, locale=locale, names=names, messages=messages)
    body: dict[str, Any] = {
        "type": CHANGE_PROBLEM_TYPE_BASE + change.reason.replace("_", "-"),
        "title": said.title,
        "status": 403,
        "detail": said.text,
        "reason": change.reason,
        "setting": change.setting,
    }
    if said.next_step:
        body["next_step"] = said.next_step
    if said.tip:
        body["tip"] = said.tip
    if change.prompt_required:
        body["needs_confirmation"] = True
    return body


def change_problem_response(
    change: SettingChange,
    *,
    by: Literal["self", "parent"] = "self",
    locale: str = "en",
    names: Mapping[str, str] | None = None,
    messages: Messages | None = None,
) -> DenialResponse:
    """``403`` ``application/problem+json`` for a refused setting change (see
    :func:`change_problem_details`), for an app's settings endpoint to return.

    Every refusal is a ``403``: the request was understood and well formed, and the
    policy does not let this person make it (a value no one may choose at the
    account's age included); the ``reason`` says which case it is.

    .. versionadded:: 0.2.0
    """
    return _problem(
        change_problem_details(change, by=by, locale=locale, names=names, messages=messages)
    )


_QVALUE: Final = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")


def negotiate_locale(accept_language: str | None, default: str = "en") -> str:
    """The shipped locale (:data:`childsafe.LOCALES`) an ``Accept-Language`` header
    prefers (``fr-CA`` counts as ``fr``), or ``default``.

    >>> negotiate_locale("de, fr-CA;q=0.8, en;q=0.5")
    'fr'
    >>> negotiate_locale("de"), negotiate_locale(None)
    ('en', 'en')

    .. versionadded:: 0.2.0
    """
    header = accept_language
    if not header:
        return default
    ranked = []
    for position, item in enumerate(header.split(",")):
        language, *params = item.split(";")
        quality = 1.0
        for param in params:
            name, _, value = param.strip().partition("=")
            if name.rstrip().lower() == "q":  # "Q=0" and "level=1;q=0" refuse it too
                # RFC 9110 qvalue: 0 to 1 with at most three decimals; anything else
                # ("inf", "1e999", "2", "NaN") is not a preference.
                value = value.strip()
                quality = float(value) if _QVALUE.fullmatch(value) else 0.0
                break
        base = language.strip().lower().replace("_", "-").partition("-")[0]
        if base in LOCALES and quality > 0:
            ranked.append((-quality, position, base))
    return min(ranked)[2] if ranked else default


def problem_response(decision: Decision, request: Request | None = None) -> DenialResponse:
    """The default denial: ``403`` with an ``application/problem+json`` body, its
    texts in the language the request's ``Accept-Language`` prefers among
    :data:`childsafe.LOCALES` (English otherwise).

    .. versionchanged:: 0.2.0 Texts follow ``Accept-Language``.
    """
    return _problem(problem_details(decision, locale=negotiate_locale(_accept_language(request))))


def _accept_language(request: object) -> str | None:
    """The request's ``Accept-Language``, read from a :class:`~childsafe.typing.Request`
    (or a framework's request handed to a renderer, which has no ``header``: English)."""
    header = getattr(request, "header", None)
    if not callable(header):
        return None
    try:
        value = header("accept-language")
    except Exception:  # noqa: BLE001 - a language is never worth failing a denial
        return None
    return value if isinstance(value, str) else None


def _problem(document: dict[str, Any]) -> DenialResponse:
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    return DenialResponse(
        int(document["status"]),
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


# A header name is an RFC 9110 token; a value has no control character but tab (a CR or
# LF would end the header and start another: header injection, or a server's 500).
_HEADER_NAME: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_VALUE_BAD: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _check_sendable(response: DenialResponse) -> None:
    """Raise ``TypeError`` or ``ValueError`` unless ``response`` can be sent as it is: a
    bytes body, a 3-digit status, header names that are tokens and values without
    control characters, all in latin-1."""
    body: object = response.body
    status: object = response.status
    if (
        not isinstance(body, bytes)
        or not isinstance(status, int)
        or isinstance(status, bool)
        or not 100 <= status <= 999
    ):
        raise TypeError("a DenialResponse needs a bytes body and a 3-digit status")
    check_headers(response.headers)


def check_headers(headers: Iterable[tuple[object, object]]) -> None:
    """Raise ``ValueError`` unless every header can be sent as it is: a name that is a
    token and a value without control characters (a CR or LF from the request would
    inject a header, or make the server answer ``500``), both in latin-1 (as text, or
    as the bytes an ASGI response carries). What every adapter checks of a rendered
    denial's headers, a :class:`DenialResponse`'s or a framework response's."""
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1") if isinstance(raw_name, bytes) else raw_name
        value = raw_value.decode("latin-1") if isinstance(raw_value, bytes) else raw_value
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"header name {name!r:.60} is not a token")
        if not isinstance(value, str) or _HEADER_VALUE_BAD.search(value):
            raise ValueError(f"header {name} has a control character (CR, LF, NUL...)")
        value.encode("latin-1")


def render_denial(renderer: DenialRenderer, decision: Decision, request: Request) -> DenialResponse:
    """``renderer(decision, request)`` with its status passed through
    :func:`denial_status`, or the default problem response when the app's renderer
    raises or returns something that cannot be sent (the request stays denied either
    way)."""
    try:
        response: object = renderer(decision, request)
        if not isinstance(response, DenialResponse):
            raise TypeError(f"returned a {type(response).__name__}, not a DenialResponse")  # noqa: TRY301
        if renderer is not problem_response:  # the library's own answer is sendable
            _check_sendable(response)
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
    native: Callable[[object], object] | None = None,
) -> object:
    """What ``renderer`` makes of a denial, for adapters whose renderers may return their
    framework's own responses: the default problem response without a renderer or when
    it raises (logged), except for the ``passthrough`` exceptions the framework answers
    itself (Flask's ``abort()``, Django's ``Http404``). ``native`` turns what the renderer
    made, when it is not a :class:`DenialResponse`, into the framework's response, and
    raises for what cannot be sent (``None``, a header with a CR or LF: see
    :func:`check_headers`): that is answered with the default problem response too,
    never a ``500``. The adapter then sends the result with :func:`denial_status`
    applied."""
    if renderer is None:
        return problem_response(decision, request)
    try:
        made = renderer(decision, request)
        if isinstance(made, DenialResponse):
            if renderer is not problem_response:
                _check_sendable(made)
        elif native is not None:
            made = native(made)
    except passthrough:
        raise
    except Exception:
        log.exception(  # the renderer's failure is reported, not re-raised
            "childsafe: the denial renderer raised or answered what cannot be sent (%s); "
            "answering problem+json",
            callable_name(renderer),
        )
        return problem_response(decision, request)
    return made


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
