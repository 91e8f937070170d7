"""Assertion helpers for decisions and HTTP denials, with messages a tester can act on."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from childsafe._decision import Decision, Reason
from childsafe._settings import suggest

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "assert_allowed",
    "assert_allowed_response",
    "assert_denied",
    "assert_denied_response",
    "problem_of",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
"""The media type of childsafe's denials (RFC 9457)."""

# What a problem body must never carry about the target (see `problem_details`).
_PRIVATE_KEYS = ("band", "value", "age_band", "target", "settings")


def _reason(reason: Reason | str) -> Reason:
    if isinstance(reason, Reason):
        return reason
    try:
        return Reason(reason)
    except ValueError:
        names = tuple(r.value for r in Reason)
        raise ValueError(
            f"unknown reason {reason!r}{suggest(reason, names)}; expected one of "
            f"{', '.join(map(repr, names))}"
        ) from None


def _explain(decision: Decision) -> str:
    parts = [f"  message: {decision.message}"]
    if decision.setting is not None:
        parts.append(
            f"  decided by: the {decision.subject}'s {decision.setting} = {decision.value!r}"
        )
    if decision.remedy:
        parts.append(f"  remedy: {decision.remedy}")
    return "\n".join(parts)


def _mismatches(got: Mapping[str, object], expected: Mapping[str, object | None]) -> list[str]:
    return [
        f"{key} is {got.get(key)!r}, expected {want!r}"
        for key, want in expected.items()
        if want is not None and got.get(key) != want
    ]


def _check_decision(helper: str, decision: object) -> None:
    """A value that is not a Decision (None, a bool, a response) is a TypeError saying
    so, not an AttributeError from reading ``.allowed`` off it."""
    __tracebackhide__ = True
    if not isinstance(decision, Decision):
        text = repr(decision)
        raise TypeError(
            f"{helper} takes the Decision that Guard.check returns, got "
            f"{type(decision).__name__} {text if len(text) <= 60 else text[:57] + '...'}"
            + (
                " (use assert_denied_response for an HTTP response)"
                if hasattr(decision, "status_code") or hasattr(decision, "status")
                else ""
            )
        )


def assert_denied(
    decision: Decision,
    reason: Reason | str | None = None,
    *,
    action: str | None = None,
    setting: str | None = None,
    subject: str | None = None,
) -> Decision:
    """Assert that ``decision`` is a denial (with the given reason, action, deciding
    setting and subject when given); returns it.

    >>> from childsafe import Account, Guard
    >>> from childsafe.testing import assert_denied
    >>> teen = Account(id="t", band="13_15")
    >>> stranger = Account(id="s", band="adult")
    >>> assert_denied(Guard().check("dm.send", stranger, teen), "not_connected").setting
    'direct_messages'

    .. versionadded:: 0.1.0
    """
    __tracebackhide__ = True
    _check_decision("assert_denied", decision)
    want = _reason(reason) if reason is not None else None
    if decision.allowed:
        raise AssertionError(
            f"expected {decision.action} to be denied"
            + (f" ({want.value})" if want is not None else "")
            + f", but it was allowed ({decision.reason.value}).\n{_explain(decision)}"
        )
    got = {
        "reason": decision.reason.value,
        "action": decision.action,
        "setting": decision.setting,
        "subject": decision.subject,
    }
    problems = _mismatches(
        got,
        {
            "reason": want.value if want is not None else None,
            "action": action,
            "setting": setting,
            "subject": subject,
        },
    )
    if problems:
        raise AssertionError(
            f"{decision.action} was denied, but {'; '.join(problems)}.\n{_explain(decision)}"
        )
    return decision


def assert_allowed(decision: Decision, *, action: str | None = None) -> Decision:
    """Assert that ``decision`` allows its action; returns it.

    The message of a failure says which setting denied it and what would allow it.

    .. versionadded:: 0.1.0
    """
    __tracebackhide__ = True
    _check_decision("assert_allowed", decision)
    if not decision.allowed:
        raise AssertionError(
            f"expected {decision.action} to be allowed, but it was denied "
            f"({decision.reason.value}).\n{_explain(decision)}"
        )
    if action is not None and decision.action != action:
        raise AssertionError(f"the decision is about {decision.action!r}, expected {action!r}")
    return decision


# ----------------------------------------------------------------------------- HTTP


def _status(response: object) -> int:
    for name in ("status_code", "status"):
        value = getattr(response, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    raise TypeError(
        f"cannot read an HTTP status from {type(response).__name__}: expected a response "
        "with `status_code` (httpx, requests, Flask, Django, Starlette) or `status`"
    )


def _content_type(response: object) -> str:
    headers = getattr(response, "headers", None)
    value: object = None
    if isinstance(headers, tuple | list):  # childsafe's DenialResponse
        value = next((v for k, v in headers if str(k).lower() == "content-type"), None)
    elif headers is not None and hasattr(headers, "get"):
        value = headers.get("content-type") or headers.get("Content-Type")
    return str(value or "").split(";")[0].strip().lower()


def _body(response: object) -> bytes:
    get_data = getattr(response, "get_data", None)
    if callable(get_data):  # Flask / Werkzeug
        data = get_data()
    else:
        data = next(
            (
                getattr(response, n)
                for n in ("content", "body")
                if isinstance(getattr(response, n, None), bytes | str)
            ),
            b"",
        )
    return data.encode() if isinstance(data, str) else bytes(data)


def problem_of(response: object) -> dict[str, Any] | None:
    """The problem+json body of a childsafe denial, or ``None`` if ``response`` is not one.

    Works with the responses of httpx, requests, Flask's and Django's test clients,
    Starlette's ``TestClient`` and childsafe's own :class:`~childsafe.DenialResponse`.

    .. versionadded:: 0.1.0
    """
    if _content_type(response) != PROBLEM_MEDIA_TYPE:
        return None
    try:
        body = json.loads(_body(response))
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def assert_denied_response(
    response: object,
    reason: Reason | str | None = None,
    *,
    action: str | None = None,
    setting: str | None = None,
    status: int = 403,
) -> dict[str, Any]:
    """Assert that ``response`` is a childsafe denial: ``status`` with an
    ``application/problem+json`` body carrying the expected reason, action and setting
    name, and nothing private about the target (its band or setting values). Returns
    the problem body.

    .. versionadded:: 0.1.0
    """
    __tracebackhide__ = True
    want = _reason(reason) if reason is not None else None
    code = _status(response)
    problem = problem_of(response)
    if problem is None:
        snippet = _body(response)[:200].decode(errors="replace")
        raise AssertionError(
            f"expected a {status} {PROBLEM_MEDIA_TYPE} denial"
            + (f" ({want.value})" if want is not None else "")
            + f", got HTTP {code} {_content_type(response) or 'without a content type'}: "
            f"{snippet!r}"
        )
    problems = _mismatches(
        {**problem, "status": code},
        {
            "status": status,
            "reason": want.value if want is not None else None,
            "action": action,
            "setting": setting,
        },
    )
    if problem.get("status") != code:
        problems.append(f"the body's status {problem.get('status')!r} differs from HTTP {code}")
    leaked = [k for k in _PRIVATE_KEYS if k in problem]
    if leaked:
        problems.append(f"the body reveals {', '.join(leaked)} about the target")
    if problems:
        raise AssertionError(f"denial {problem!r}: {'; '.join(problems)}")
    return problem


def assert_allowed_response(response: object) -> None:
    """Assert that ``response`` is not a childsafe denial (a 403 problem+json body).

    .. versionadded:: 0.1.0
    """
    __tracebackhide__ = True
    problem = problem_of(response)
    if problem is not None:
        raise AssertionError(
            f"expected the request to be allowed, but childsafe denied it "
            f"(HTTP {_status(response)}, reason {problem.get('reason')!r}, "
            f"setting {problem.get('setting')!r}): {problem.get('detail')}"
        )
