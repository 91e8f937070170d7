"""Responses: a case on the complaints desk, every flag on the audit trail, friction as
a separate read, and a signed webhook against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from childsafe.audit import AuditTrail, MemoryAuditStore, Pseudonymiser
from childsafe.complaints import ComplaintsDesk, Outcome, ReporterRole
from childsafe.reports import AuditEvidence
from childsafe.signals import (
    SIGNATURE_HEADER,
    AuditFlags,
    CaseOpener,
    Flag,
    MemoryDeadLetters,
    Rule,
    SignalConfigError,
    Signals,
    SignalStoreError,
    SQLiteDeadLetters,
    Webhook,
    verify_signature,
)
from tests.signals.support import T0

SECRET = b"s" * 32
H = 3600.0


def _fan_out(signals: Signals, actor: str = "adult", children: int = 5) -> None:
    signals.account(actor, band="adult")
    for i in range(children):
        signals.account(f"kid{i}", band="13_15")
        signals.message(actor, f"kid{i}", at=T0 + i * H)


class Receiver:
    """A real HTTP server on 127.0.0.1 answering with ``codes`` in turn (then 200)."""

    def __init__(self, codes: list[int]) -> None:
        self.codes = codes
        self.bodies: list[tuple[bytes, str]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.bodies.append((body, self.headers[SIGNATURE_HEADER]))
                code = outer.codes.pop(0) if outer.codes else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(name="receiver")
def _receiver() -> Iterator[Receiver]:
    r = Receiver([])
    yield r
    r.close()


class TestCases:
    def test_a_case_with_the_evidence(self) -> None:
        """Crossing the threshold opens one platform case with the explanation."""
        desk = ComplaintsDesk()
        signals = Signals()
        opener = CaseOpener(desk, threshold=50)
        signals.add_listener(opener)
        _fan_out(signals, children=6)
        cases = desk.cases()
        assert len(cases) == 1
        case = cases[0]
        assert case.reporter.role is ReporterRole.PLATFORM
        assert case.subject.account_id == "adult"
        assert case.category == "grooming"
        assert "fan_out" in case.description
        assert "distinct unconnected minors" in case.description
        assert "not a finding" in case.description
        assert opener.opened == {"adult": case.id}

    def test_below_threshold_no_case(self) -> None:
        """A flag under the opener's threshold opens nothing."""
        desk = ComplaintsDesk()
        signals = Signals()
        signals.add_listener(CaseOpener(desk, threshold=90))
        _fan_out(signals)
        assert desk.cases() == []

    def test_unknown_category_and_threshold(self) -> None:
        """The opener checks its category and threshold at construction."""
        with pytest.raises(SignalConfigError, match="not one of the desk's categories"):
            CaseOpener(ComplaintsDesk(), category="nope")
        with pytest.raises(SignalConfigError, match="positive integer"):
            CaseOpener(ComplaintsDesk(), threshold=0)


class TestAudit:
    def test_every_flag_and_the_confirmed_outcome(self) -> None:
        """Each flag is a signal_flag record; the report's evidence counts the actor's
        detection once, and resolving the platform's case confirms it."""
        from childsafe.audit import ComplaintRecorder  # noqa: PLC0415

        trail = AuditTrail(MemoryAuditStore(), pseudonymiser=Pseudonymiser({"k": b"k" * 32}))
        desk = ComplaintsDesk(sinks=[ComplaintRecorder(trail)])
        signals = Signals()
        signals.add_listener(AuditFlags(trail))
        opener = CaseOpener(desk, threshold=40)
        signals.add_listener(opener)
        _fan_out(signals, children=5)
        desk.resolve(
            opener.opened["adult"],
            Outcome.ACCOUNT_RESTRICTED,
            at=dt.datetime.fromtimestamp(T0 + 10 * H, dt.UTC),
        )
        assert trail.flush()
        flags = list(trail.records(kinds=["signal_flag"]))
        assert [r.data["score"] for r in flags] == [50, 55, 60]
        assert flags[0].data["rules"] == ["fan_out", "stranger_contact"]
        assert "kid" not in json.dumps([r.data for r in flags])  # no raw ids in the data
        found = AuditEvidence(trail).proactive_detections(
            dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
        )
        assert (found.raised, found.confirmed) == (1, 1)  # three rises, one detection
        trail.close()


class TestFriction:
    def test_friction_follows_the_score(self) -> None:
        """Friction reads the pair and the sender; it never changes a decision."""
        signals = Signals()
        _fan_out(signals, children=2)
        low = signals.friction("kid0", "adult")
        assert (low.interstitial, low.requests, low.any) == (False, False, False)
        signals.link_shared("adult", "kid0", "https://wa.me/123", at=T0 + 10 * H)
        mid = signals.friction("kid0", "adult")
        assert (mid.interstitial, mid.requests, mid.score) == (True, True, 45)
        assert mid.rules == {Rule.STRANGER_CONTACT, Rule.OFF_PLATFORM}
        signals.account("kid3", band="13_15")
        signals.message("adult", "kid3", at=T0 + 11 * H)
        other = signals.friction("kid9", "adult")
        assert other.requests and other.rules == {Rule.FAN_OUT}
        assert not signals.friction("kid0", "nobody").any


def _flagged_webhook(hook: Webhook) -> None:
    signals = Signals()
    signals.add_listener(hook)
    _fan_out(signals, children=3)


class TestWebhook:
    def test_signed_delivery(self, receiver: Receiver) -> None:
        """The flag reaches the server, signed; the receiver can verify it."""
        hook = Webhook(receiver.url, SECRET)
        _flagged_webhook(hook)
        assert hook.flush(10)
        hook.close()
        assert hook.delivered == 1
        body, header = receiver.bodies[0]
        assert verify_signature(SECRET, header, body)
        assert not verify_signature(b"x" * 32, header, body)
        assert not verify_signature(SECRET, header, body + b" ")
        assert not verify_signature(SECRET, "v1=abc", body)
        assert not verify_signature(SECRET, header, body, now=0)
        # A request without the header: headers.get() gives None, which must be a
        # refusal, not an AttributeError (a 500 in the receiver).
        assert not verify_signature(SECRET, None, body)  # type: ignore[arg-type]
        assert not verify_signature(SECRET, header.encode(), body)  # type: ignore[arg-type]
        payload = json.loads(body)
        assert payload["type"] == "childsafe.signals.flag"
        assert payload["actor"] == "adult"
        assert payload["score"]["score"] == 50

    def test_retries_with_backoff(self, receiver: Receiver) -> None:
        """503 and 429 are retried, waiting longer each time."""
        receiver.codes = [503, 429]
        waits: list[float] = []
        hook = Webhook(receiver.url, SECRET, backoff=0.25, sleep=waits.append)
        _flagged_webhook(hook)
        assert hook.flush(10)
        hook.close()
        assert waits == [0.25, 0.5]
        assert len(receiver.bodies) == 3
        assert hook.dead_letters.items() == []

    def test_dead_letters_and_redelivery(self, receiver: Receiver, tmp_path: Path) -> None:
        """After the retries the payload waits in the dead-letter store; redeliver()
        sends it once the server is back."""
        receiver.codes = [500] * 3
        letters = SQLiteDeadLetters(str(tmp_path / "dead.db"))
        hook = Webhook(receiver.url, SECRET, retries=2, dead_letters=letters, sleep=lambda _: None)
        _flagged_webhook(hook)
        assert hook.flush(10)
        (letter,) = letters.items()
        assert letter.error == "HTTP 500"
        assert hook.redeliver() == 1
        assert letters.items() == []
        hook.close()
        letters.close()

    def test_client_errors_are_not_retried(self, receiver: Receiver) -> None:
        """A 400 is final: one attempt, then the dead-letter store."""
        receiver.codes = [400]
        hook = Webhook(receiver.url, SECRET, sleep=lambda _: None)
        _flagged_webhook(hook)
        assert hook.flush(10)
        hook.close()
        assert len(receiver.bodies) == 1
        assert [d.error for d in hook.dead_letters.items()] == ["HTTP 400"]

    def test_connection_refused(self) -> None:
        """An unreachable server is retried, then dead-lettered with the error."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        letters = MemoryDeadLetters()
        hook = Webhook(
            f"http://127.0.0.1:{port}/", SECRET, retries=1, dead_letters=letters,
            sleep=lambda _: None,
        )  # fmt: skip
        body = b"{}"
        hook.enqueue(body)
        assert hook.flush(10)
        assert "ConnectError" in letters.items()[0].error
        assert hook.redeliver() == 0
        hook.close()

    def test_rises_after_the_threshold_are_sent_too(self, receiver: Receiver) -> None:
        """Once past the threshold, each rise of the score is sent."""
        hook = Webhook(receiver.url, SECRET, threshold=50)
        seen: list[Flag] = []
        signals = Signals()
        signals.add_listener(seen.append)
        signals.add_listener(hook)
        _fan_out(signals, children=6)
        assert hook.flush(10)
        hook.close()
        assert [f.score.score for f in seen] == [50, 55, 60, 65]
        assert len(receiver.bodies) == 4

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"url": "ftp://x"}, "url must be http"),
            ({"secret": b"short"}, "at least 16 bytes"),
            ({"retries": -1}, "retries must be >= 0"),
        ],
    )
    def test_bad_options(self, kwargs: dict[str, object], match: str) -> None:
        """Bad options fail at construction."""
        options: dict[str, object] = {"url": "http://127.0.0.1:1/", "secret": SECRET, **kwargs}
        with pytest.raises(SignalConfigError, match=match):
            Webhook(**options)  # type: ignore[arg-type]

    def test_dead_letter_store_cannot_open(self, tmp_path: Path) -> None:
        """A dead-letter path that cannot be opened raises the store error."""
        with pytest.raises(SignalStoreError, match="dead-letter store"):
            SQLiteDeadLetters(str(tmp_path / "no" / "such" / "dead.db"))


class TestWebhookFailures:
    """A delivery that failed with anything but an httpx.HTTPError (a closed client's
    RuntimeError, a custom transport's error) killed the delivery thread and the flag was
    never dead-lettered; an invalid URL passed the constructor and failed every time."""

    def test_flag_after_close_is_dead_lettered(self, receiver: Receiver) -> None:
        """A flag that reaches a closed webhook waits in the dead letters."""
        hook = Webhook(receiver.url, SECRET, retries=0)
        hook.close()
        _flagged_webhook(hook)
        assert hook.flush(10)
        letters = hook.dead_letters.items()
        assert len(letters) == 1
        assert "RuntimeError" in letters[0].error
        assert json.loads(letters[0].body)["actor"] == "adult"

    def test_the_thread_lives_on(self, receiver: Receiver) -> None:
        """After such a failure the delivery thread lives on: the next flag is
        dead-lettered too, not lost with a dead thread."""
        hook = Webhook(receiver.url, SECRET, retries=1, sleep=lambda _: None)
        hook.close()
        for _ in range(2):
            _flagged_webhook(hook)
            assert hook.flush(10)
        assert len(hook.dead_letters.items()) == 2
        assert hook._thread is not None
        assert hook._thread.is_alive()

    def test_invalid_url_refused(self) -> None:
        """A URL httpx cannot parse is refused at construction, naming it."""
        with pytest.raises(SignalConfigError, match="not a valid URL"):
            Webhook("http://[::1/hook", SECRET)
