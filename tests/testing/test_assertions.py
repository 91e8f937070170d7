from __future__ import annotations

import json

import httpx
import pytest
from flask import Flask

from childsafe import Account, Decision, Guard, Reason, problem_response
from childsafe.testing import (
    assert_allowed,
    assert_allowed_response,
    assert_denied,
    assert_denied_response,
    problem_of,
)

TEEN = Account(id="teen", band="13_15", jurisdiction="GB")
STRANGER = Account(id="stranger", band="adult", jurisdiction="GB")


@pytest.fixture(name="denial")
def _denial(guard: Guard) -> Decision:
    return guard.check("dm.send", STRANGER, TEEN)


@pytest.fixture(name="allow")
def _allow(guard: Guard) -> Decision:
    return guard.check("profile.view", TEEN, STRANGER)


class TestAssertDenied:
    def test_passes_and_returns_the_decision(self, denial: Decision) -> None:
        """A matching denial passes and is returned for further checks."""
        got = assert_denied(
            denial, Reason.NOT_CONNECTED, action="dm.send", setting="direct_messages"
        )

        assert got is denial

    def test_reason_as_text(self, denial: Decision) -> None:
        """The reason may be given as its code."""
        assert assert_denied(denial, "not_connected", subject="target") is denial

    def test_allowed_decision_fails_with_its_explanation(self, allow: Decision) -> None:
        """An allowed decision fails, saying which setting allowed it."""
        with pytest.raises(AssertionError) as info:
            assert_denied(allow, "not_connected")

        text = str(info.value)
        assert text.startswith("expected profile.view to be denied (not_connected)")
        assert "profile_visibility = 'public'" in text

    def test_wrong_reason_and_setting_are_named(self, denial: Decision) -> None:
        """Each mismatch (reason, setting) is named with what was expected."""
        with pytest.raises(AssertionError) as info:
            assert_denied(denial, "setting_off", setting="tagging")

        text = str(info.value)
        assert "reason is 'not_connected', expected 'setting_off'" in text
        assert "setting is 'direct_messages', expected 'tagging'" in text

    def test_unknown_reason_suggests_the_code(self, denial: Decision) -> None:
        """A misspelt reason code is an error naming the close match."""
        with pytest.raises(ValueError, match="did you mean 'not_connected'"):
            assert_denied(denial, "not_conected")


class TestAssertAllowed:
    def test_passes(self, allow: Decision) -> None:
        """An allowed decision passes and is returned."""
        assert assert_allowed(allow, action="profile.view") is allow

    def test_denial_fails_with_setting_and_remedy(self, guard: Guard) -> None:
        """A denial fails, naming the deciding setting and the remedy."""
        decision = guard.check("dm.send", STRANGER, TEEN)

        with pytest.raises(AssertionError) as info:
            assert_allowed(decision)

        text = str(info.value)
        assert "denied (not_connected)" in text
        assert "the target's direct_messages = 'connections'" in text
        assert "remedy: They need to be connected." in text

    def test_wrong_action_fails(self, allow: Decision) -> None:
        """An allowed decision about another action fails."""
        with pytest.raises(AssertionError, match=r"about 'profile\.view', expected 'dm\.send'"):
            assert_allowed(allow, action="dm.send")


class TestNotADecision:
    @pytest.mark.parametrize("helper", [assert_allowed, assert_denied])
    @pytest.mark.parametrize("value", [None, True, "denied"])
    def test_a_value_that_is_not_a_decision_is_a_type_error(
        self, helper: object, value: object
    ) -> None:
        """None, a bool or text where a Decision belongs says so, instead of an
        AttributeError from reading .allowed off it."""
        with pytest.raises(TypeError, match=r"takes the Decision that Guard\.check returns"):
            helper(value)  # type: ignore[operator]

    def test_an_http_response_points_at_the_response_helpers(self) -> None:
        response = problem_response(Guard().check("dm.send", STRANGER, TEEN))
        with pytest.raises(TypeError, match="use assert_denied_response"):
            assert_denied(response)  # type: ignore[arg-type]


def flask_response(status: int, body: object, content_type: str) -> object:
    app = Flask(__name__)
    with app.test_request_context():
        return app.response_class(json.dumps(body), status=status, content_type=content_type)


class TestHttpHelpers:
    def test_childsafe_denial_response(self, denial: Decision) -> None:
        """childsafe's own DenialResponse is read as a problem."""
        problem = assert_denied_response(problem_response(denial), "not_connected")

        assert problem["setting"] == "direct_messages"

    def test_httpx_response(self, denial: Decision) -> None:
        """An httpx response with a problem+json body passes, and its body is returned."""
        denied = problem_response(denial)
        response = httpx.Response(403, headers=dict(denied.headers), content=denied.body)

        problem = assert_denied_response(response, action="dm.send", setting="direct_messages")

        assert problem["reason"] == "not_connected"

    def test_flask_response(self) -> None:
        """A Flask response is read through get_data."""
        body = {"status": 403, "reason": "setting_off", "action": "tag"}
        response = flask_response(403, body, "application/problem+json; charset=utf-8")

        assert problem_of(response) == body
        assert assert_denied_response(response, "setting_off") == body

    def test_not_a_denial_fails_with_a_snippet(self) -> None:
        """A 201 JSON response fails, quoting its status and body."""
        response = httpx.Response(201, json={"id": 7})

        with pytest.raises(AssertionError, match=r"got HTTP 201 application/json: '\{\"id\""):
            assert_denied_response(response)

    def test_missing_content_type(self) -> None:
        """A response without a content type says so."""
        with pytest.raises(AssertionError, match="without a content type"):
            assert_denied_response(httpx.Response(403, content=b""))

    def test_wrong_status_and_leaks_are_reported(self) -> None:
        """A body revealing the target's band, or a status that differs, fails."""
        body = {"status": 403, "reason": "not_connected", "band": "13_15"}
        response = httpx.Response(
            451,
            content=json.dumps(body).encode(),
            headers={"content-type": "application/problem+json"},
        )

        with pytest.raises(AssertionError) as info:
            assert_denied_response(response, "not_connected")

        text = str(info.value)
        assert "status is 451, expected 403" in text
        assert "differs from HTTP 451" in text
        assert "reveals band" in text

    def test_malformed_problem_body_is_not_a_problem(self) -> None:
        """A problem+json response whose body is not a JSON object is not a denial."""
        for content in (b"{not json", b"[1, 2]"):
            response = httpx.Response(
                403, content=content, headers={"content-type": "application/problem+json"}
            )
            assert problem_of(response) is None

    def test_unreadable_response(self) -> None:
        """An object without a status is refused with a clear error."""
        with pytest.raises(TypeError, match="cannot read an HTTP status from object"):
            assert_denied_response(object())

    def test_allowed_response(self, denial: Decision) -> None:
        """A normal response passes; a childsafe denial fails with its reason."""
        assert_allowed_response(httpx.Response(200, json={"ok": True}))

        with pytest.raises(AssertionError, match="reason 'not_connected'"):
            assert_allowed_response(problem_response(denial))

    def test_status_attribute(self, denial: Decision) -> None:
        """Responses exposing `status` instead of `status_code` work too."""
        denied = problem_response(denial)

        assert denied.status == 403
        assert assert_denied_response(denied)["status"] == 403

    def test_str_body(self) -> None:
        """A response whose body is text is read too."""

        class TextResponse:
            status_code = 403
            headers = {"Content-Type": "application/problem+json"}  # noqa: RUF012
            content = '{"status": 403, "reason": "blocked"}'

        assert assert_denied_response(TextResponse(), "blocked")["reason"] == "blocked"
