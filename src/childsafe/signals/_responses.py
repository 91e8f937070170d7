"""What a platform may do with a flag, each at a threshold it chooses: open a case for
human review (:class:`CaseOpener`), put every flag on the audit trail
(:class:`AuditFlags`), notify a webhook (:class:`Webhook`). Friction for the child is a
separate read (:meth:`Signals.friction <childsafe.signals.Signals.friction>`) made when
delivering or rendering. None of them bans, blocks or restricts anyone."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Protocol

import attrs
import httpx

from childsafe._bands import AgeBand
from childsafe.signals._engine import Flag
from childsafe.signals._errors import SignalConfigError, SignalStoreError

if TYPE_CHECKING:
    from childsafe.audit import AuditTrail
    from childsafe.complaints import Complaint, ComplaintsDesk

__all__ = [
    "SIGNATURE_HEADER",
    "AuditFlags",
    "CaseOpener",
    "DeadLetter",
    "DeadLetters",
    "MemoryDeadLetters",
    "SQLiteDeadLetters",
    "Webhook",
    "flag_payload",
    "sign",
    "verify_signature",
]

log = logging.getLogger("childsafe.signals")

SIGNATURE_HEADER: Final = "Childsafe-Signature"
"""``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>``."""


def _threshold(name: str, value: int) -> int:
    given: object = value
    if isinstance(given, bool) or not isinstance(given, int) or given < 1:
        raise SignalConfigError(f"{name}: threshold must be a positive integer, got {value!r}")
    return given


class CaseOpener:
    """A flag listener that opens a case on the complaints ``desk`` when an actor's
    score reaches ``threshold``: reporter role ``platform`` (the platform's own
    detection, reported as own-initiative), the actor as subject, and the score's
    explanation (every rule, its points, when and why, and the child concerned) as the
    case's description for the reviewer.

    ``signals.add_listener(CaseOpener(desk, threshold=60))``
    """

    def __init__(
        self, desk: ComplaintsDesk, *, threshold: int = 60, category: str = "grooming"
    ) -> None:
        if not hasattr(desk, "categories") or not callable(getattr(desk, "file_report", None)):
            raise SignalConfigError(
                f"CaseOpener: desk must be a ComplaintsDesk, got {type(desk).__name__}"
            )
        if category not in desk.categories:
            raise SignalConfigError(
                f"CaseOpener: category {category!r} is not one of the desk's categories"
            )
        self.desk = desk
        self.threshold = _threshold("CaseOpener", threshold)
        self.category = category
        self.opened: dict[str, str] = {}
        """The case opened per actor by this opener (actor id: case id)."""

    def __call__(self, flag: Flag) -> Complaint | None:
        from childsafe.complaints import (  # noqa: PLC0415 - keeps the engine's import light
            MAX_DESCRIPTION,
            Intake,
            Reporter,
            ReporterRole,
            Subject,
            SubjectKind,
        )

        if not flag.crossed(self.threshold):
            return None
        lines = [flag.score.explain()]
        if flag.pair is not None:
            lines.append(f"child most concerned: {flag.pair.child} (pair score {flag.pair.score})")
        lines.append("Raised by automated signals for human review; not a finding.")
        text = "\n".join(lines)
        if len(text) > MAX_DESCRIPTION:
            text = text[: MAX_DESCRIPTION - 1] + "…"
        intake = Intake(
            self.category,
            Subject(SubjectKind.ACCOUNT, flag.actor, flag.actor),
            Reporter(ReporterRole.PLATFORM, AgeBand.UNKNOWN),
            text,
        )
        case = self.desk.file(intake, at=flag.at)
        self.opened[flag.actor] = case.id
        return case


class AuditFlags:
    """A flag listener that records every flag on the audit ``trail``
    (:meth:`~childsafe.audit.AuditTrail.record_signal_flag`): the actor, the child most
    concerned, the score, the rules and their points; no free text and no other ids."""

    def __init__(self, trail: AuditTrail) -> None:
        self.trail = trail

    def __call__(self, flag: Flag) -> None:
        rules = sorted(r.value for r in flag.score.rules)
        self.trail.record_signal_flag(
            flag.actor,
            "+".join(rules),
            score=flag.score.score,
            other=None if flag.pair is None else flag.pair.child,
            data={
                "rules": rules,
                "before": flag.before,
                "evidence": [
                    {
                        "rule": e.rule.value,
                        "kind": e.kind,
                        "points": e.points,
                        "at": e.at.isoformat(),
                    }
                    for e in flag.score.evidence
                ],
            },
        )


def flag_payload(flag: Flag) -> dict[str, Any]:
    """The JSON a webhook receives for ``flag``."""
    return {
        "type": "childsafe.signals.flag",
        "id": uuid.uuid4().hex,
        "at": flag.at.isoformat(),
        "actor": flag.actor,
        "score": flag.score.to_dict(),
        "pair": None if flag.pair is None else flag.pair.to_dict(),
        "before": flag.before,
    }


def sign(secret: bytes, body: bytes, *, at: int | None = None) -> str:
    """The :data:`SIGNATURE_HEADER` value for ``body``."""
    t = int(time.time()) if at is None else at
    mac = hmac.new(secret, b"%d." % t + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify_signature(
    secret: bytes, header: str, body: bytes, *, tolerance: float = 300.0, now: float | None = None
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds:
    what a receiver checks before trusting a payload; ``False`` for a missing header
    (``None``) or one that is not text."""
    given_header: object = header
    if not isinstance(given_header, str):
        return False
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - t) > tolerance:
        return False
    expected = hmac.new(secret, b"%d." % t + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)


@attrs.frozen
class DeadLetter:
    """A payload the webhook gave up on: its ``id``, the ``body``, the last ``error``
    and when it was given up (``failed_at``, Unix seconds)."""

    id: str
    body: bytes
    error: str
    failed_at: float


class DeadLetters(Protocol):
    """Where undeliverable payloads wait for :meth:`Webhook.redeliver`."""

    def add(self, letter: DeadLetter) -> None: ...
    def items(self) -> list[DeadLetter]: ...
    def remove(self, letter_id: str) -> None: ...


class MemoryDeadLetters:
    """Dead letters in this process's memory."""

    def __init__(self) -> None:
        self._items: dict[str, DeadLetter] = {}
        self._lock = threading.Lock()

    def add(self, letter: DeadLetter) -> None:
        with self._lock:
            self._items[letter.id] = letter

    def items(self) -> list[DeadLetter]:
        with self._lock:
            return list(self._items.values())

    def remove(self, letter_id: str) -> None:
        with self._lock:
            self._items.pop(letter_id, None)


class SQLiteDeadLetters:
    """Dead letters in a SQLite file (kept across restarts)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS signals_dead_letters (id TEXT PRIMARY KEY, "
                "body BLOB NOT NULL, error TEXT NOT NULL, failed_at REAL NOT NULL)"
            )
        except sqlite3.Error as e:
            raise SignalStoreError(f"cannot open the dead-letter store {path!r}: {e}") from e

    def add(self, letter: DeadLetter) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO signals_dead_letters VALUES (?, ?, ?, ?)",
                (letter.id, letter.body, letter.error, letter.failed_at),
            )

    def items(self) -> list[DeadLetter]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, body, error, failed_at FROM signals_dead_letters ORDER BY failed_at"
            ).fetchall()
        return [DeadLetter(r[0], bytes(r[1]), r[2], r[3]) for r in rows]

    def remove(self, letter_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM signals_dead_letters WHERE id=?", (letter_id,))

    def close(self) -> None:
        """Close the file."""
        self._db.close()


class Webhook:
    """A flag listener that POSTs each flag reaching ``threshold`` to ``url`` as JSON
    signed with ``secret`` (:data:`SIGNATURE_HEADER`, checked by
    :func:`verify_signature`), from a background thread so the event path never waits.

    A failed delivery (a connection error or a 5xx or 429 reply) is retried ``retries``
    times, waiting ``backoff`` seconds doubled each time; then the payload goes to
    ``dead_letters`` for :meth:`redeliver`. A 4xx reply other than 429 is not retried.
    """

    def __init__(
        self,
        url: str,
        secret: bytes,
        *,
        threshold: int = 40,
        retries: int = 4,
        backoff: float = 0.5,
        timeout: float = 5.0,
        dead_letters: DeadLetters | None = None,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        given_url: object = url
        if not isinstance(given_url, str) or not url.startswith(("https://", "http://")):
            raise SignalConfigError(f"Webhook: url must be http(s), got {url!r}")
        try:  # "http://[::1/" passed the prefix check, then every delivery raised
            httpx.URL(url)
        except httpx.InvalidURL as e:
            raise SignalConfigError(f"Webhook: url {url!r} is not a valid URL ({e})") from None
        key: object = secret
        if not isinstance(key, bytes) or len(key) < 16:
            raise SignalConfigError("Webhook: secret must be at least 16 bytes")
        count: object = retries
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise SignalConfigError(f"Webhook: retries must be >= 0, got {retries!r}")
        self.url = url
        self._secret = secret
        self.threshold = _threshold("Webhook", threshold)
        self.retries = retries
        self.backoff = backoff
        self.dead_letters: DeadLetters = (
            dead_letters if dead_letters is not None else MemoryDeadLetters()
        )
        self._client = client if client is not None else httpx.Client(timeout=timeout)
        self._sleep = sleep
        self._queue: queue.Queue[bytes | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.delivered = 0

    def __call__(self, flag: Flag) -> None:
        if not flag.crossed(self.threshold) and not (
            flag.before >= self.threshold and flag.score.score > flag.before
        ):
            return
        self.enqueue(json.dumps(flag_payload(flag), separators=(",", ":")).encode())

    def enqueue(self, body: bytes) -> None:
        """Queue ``body`` for delivery."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="childsafe-signals-webhook", daemon=True
                )
                self._thread.start()
        self._queue.put(body)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued payload was delivered or dead-lettered."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self) -> None:
        """Finish the queue and stop the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
        self._client.close()

    def _run(self) -> None:
        while True:
            body = self._queue.get()
            try:
                if body is None:
                    return
                error = self.deliver(body)
                if error is not None:
                    letter = DeadLetter(uuid.uuid4().hex, body, error, time.time())
                    try:
                        self.dead_letters.add(letter)
                    except Exception:
                        # The thread must outlive a dead-letter store that fails: every
                        # later flag would be lost with it.
                        log.exception(
                            "webhook %s: gave up on flag payload %s (%s) and could not "
                            "dead-letter it: the flag is lost",
                            self.url,
                            letter.id,
                            error,
                        )
                        continue
                    log.warning(
                        "webhook %s: gave up on a flag (%s); dead-lettered", self.url, error
                    )
            finally:
                self._queue.task_done()

    def deliver(self, body: bytes) -> str | None:
        """POST ``body`` with retries; ``None`` once delivered, else the last error."""
        error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(self.backoff * 2 ** (attempt - 1))
            try:
                reply = self._client.post(
                    self.url,
                    content=body,
                    headers={
                        "Content-Type": "application/json",
                        SIGNATURE_HEADER: sign(self._secret, body),
                    },
                )
            except Exception as e:  # noqa: BLE001 - any failure is a failed delivery
                # Not only httpx.HTTPError: a closed client raises RuntimeError, a custom
                # transport anything; the thread died and the flag was never dead-lettered.
                error = f"{type(e).__name__}: {e}"
                continue
            if reply.is_success:
                self.delivered += 1
                return None
            error = f"HTTP {reply.status_code}"
            if reply.status_code < 500 and reply.status_code != 429:
                break
        return error

    def redeliver(self) -> int:
        """Try every dead letter again (once each, with retries); how many went through."""
        done = 0
        for letter in self.dead_letters.items():
            if self.deliver(letter.body) is None:
                self.dead_letters.remove(letter.id)
                done += 1
        return done
