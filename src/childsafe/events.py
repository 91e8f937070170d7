"""Decision events: one record per decision and per setting change, for the audit
trail, grooming-risk signals and the platform's own monitoring.

A :class:`~childsafe.Guard` with no sink registered builds no event at all. Register
sinks with :meth:`Guard.add_sink <childsafe.Guard.add_sink>`; each event then goes to a
bounded queue that one background thread delivers from, so a sink that raises or is slow
never changes or delays a decision: a failure is logged and counted, and when the queue
is full new events are dropped and counted (:class:`EventStats`).

>>> from childsafe import Account, Guard, Relationship
>>> guard = Guard()
>>> seen = []
>>> guard.add_sink(seen.append)
>>> kid = Account(id="k1", band="13_15", jurisdiction="GB")
>>> adult = Account(id="a1", band="adult", jurisdiction="GB")
>>> guard.check("dm.send", actor=adult, target=kid, relationship=Relationship()).allowed
False
>>> guard.flush_events()
True
>>> event = seen[0]
>>> event.action, event.allowed, event.reason, event.actor_band, event.target_band
('dm.send', False, 'not_connected', 'adult', '13_15')

The contract is versioned (:data:`EVENT_VERSION`): fields are only ever added, and a
field's meaning never changes within a version.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import queue
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal

import attrs

if TYPE_CHECKING:
    from childsafe._decision import Decision
    from childsafe._engine import SettingChange
    from childsafe._model import Account, Relationship
    from childsafe._policy import Policy

__all__ = [
    "EVENT_VERSION",
    "DecisionEvent",
    "EventSink",
    "EventStats",
    "policy_version",
]

log = logging.getLogger("childsafe.events")

EVENT_VERSION: Final = 1
"""The version of the :class:`DecisionEvent` contract."""

EventKind = Literal["decision", "setting_change"]


@attrs.frozen(slots=True)
class DecisionEvent:
    """What was decided, about whom, under which policy, in which request.

    ``kind`` is ``"decision"`` (a :meth:`~childsafe.Guard.check`) or ``"setting_change"``
    (a :meth:`~childsafe.Guard.change_setting`, whose ``action`` is ``"setting.change"``,
    whose actor is the account holder or the parent making the change, and whose
    ``value`` is the value asked for). ``reason`` is the decision's stable reason code
    (or the setting change's). ``relationship`` holds the relationship facts the
    decision used (``connected``, ``follows``, ``mutual_connections``, ``blocked``,
    ``invited``), or ``None`` when there was no other account. ``policy_version`` is
    :func:`policy_version` of the policy that decided; ``request_id`` and ``adapter``
    are set when the decision was made for a web request (the ``X-Request-ID`` header
    when the client sent a usable one, else a fresh id; the adapter's name: ``wsgi``,
    ``asgi``, ``flask``, ``django``, ``starlette`` or ``fastapi``).

    Account ids are the platform's own: a sink that stores events decides how to
    pseudonymise them.

    A media decision (``media.upload``, ``media.send``, ``media.view``) carries what
    inspection found about the image, so the audit trail and the transparency report
    can count matches and interventions: ``media_pdq`` (its PDQ hash, 64 hex digits),
    ``media_matched`` and, for a match, ``media_list``, ``media_entry`` and
    ``media_distance``; ``media_sensitive`` and ``media_labels`` (the classifier's
    labels that counted, with their scores); ``media_classifier_failed`` (why the
    classifier gave no answer: the protective path was taken) and ``media_error`` (why
    the image could not be read). All ``None`` (labels empty) for other actions, and
    for a media check given no verdict.

    .. versionchanged:: 0.2.0 The ``media_*`` fields (added within version 1).
    """

    id: str
    time: dt.datetime
    kind: EventKind
    action: str
    allowed: bool
    reason: str
    setting: str | None
    value: str | None
    actor_id: str | None
    actor_band: str | None
    actor_jurisdiction: str | None
    target_id: str | None
    target_band: str | None
    target_jurisdiction: str | None
    relationship: Mapping[str, bool | int] | None
    policy_version: str
    request_id: str | None = None
    adapter: str | None = None
    version: int = EVENT_VERSION
    media_pdq: str | None = None
    media_matched: bool | None = None
    media_list: str | None = None
    media_entry: str | None = None
    media_distance: int | None = None
    media_sensitive: bool | None = None
    media_labels: tuple[tuple[str, float], ...] = ()
    media_classifier_failed: str | None = None
    media_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the time in ISO 8601, UTC)."""
        out = attrs.asdict(self, recurse=False)
        out["time"] = self.time.isoformat()
        out["relationship"] = None if self.relationship is None else dict(self.relationship)
        out["media_labels"] = [list(label) for label in self.media_labels]
        return out


EventSink = Callable[[DecisionEvent], object]
"""Receives each event; what it returns is ignored, what it raises is logged."""


@attrs.frozen
class EventStats:
    """What happened to the events of one guard: ``delivered`` to every sink,
    ``failed`` (a sink raised; counted per sink), ``dropped`` (the queue was full)
    and ``pending`` (queued, not yet delivered)."""

    delivered: int
    failed: int
    dropped: int
    pending: int


def _canonical(value: object) -> object:
    """``value`` as JSON-able data in one order whatever the process's hash seed."""
    cls = type(value)
    if attrs.has(cls):
        return {f.name: _canonical(getattr(value, f.name)) for f in attrs.fields(cls)}
    if isinstance(value, Mapping):
        return sorted(([_canonical(k), _canonical(v)] for k, v in value.items()), key=repr)
    if isinstance(value, frozenset | set):
        return sorted((_canonical(v) for v in value), key=repr)
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


_VERSIONS: dict[int, tuple[Policy, str]] = {}
_VERSIONS_LOCK = threading.Lock()


def policy_version(policy: Policy) -> str:
    """A stable fingerprint of ``policy``'s rules and overlays: the first 16 hex
    digits of a SHA-256 of their canonical form. Equal policies have equal versions in
    every process, so an event says which rules decided it.

    >>> from childsafe import load_policy
    >>> policy_version(load_policy()) == policy_version(load_policy())
    True
    """
    key = id(policy)
    with _VERSIONS_LOCK:
        known = _VERSIONS.get(key)
        if known is not None and known[0] is policy:
            return known[1]
    data = {
        "rules": _canonical(policy.rules),
        "overlays": _canonical(policy.overlays),
        "unknown_age": _canonical(policy.unknown_age),
        "jurisdictions": _canonical(policy.jurisdictions),
        "declarations": _canonical(policy.declarations),
    }
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    version = hashlib.sha256(text.encode()).hexdigest()[:16]
    with _VERSIONS_LOCK:
        if len(_VERSIONS) > 64:
            _VERSIONS.clear()
        _VERSIONS[key] = (policy, version)
    return version


def _relationship_facts(rel: Relationship | None) -> Mapping[str, bool | int] | None:
    if rel is None:
        return None
    return {
        "connected": rel.connected,
        "follows": rel.follows,
        "mutual_connections": rel.mutual_connections,
        "blocked": rel.blocked,
        "invited": rel.invited,
    }


def _media_facts(verdict: object) -> dict[str, Any]:
    """The event fields of a media verdict (read by attribute: this module imports no
    media type)."""
    match = getattr(verdict, "match", None)
    classification = getattr(verdict, "classification", None)
    return {
        "media_pdq": getattr(verdict, "pdq", None),
        "media_matched": match is not None,
        "media_list": getattr(match, "list_name", None),
        "media_entry": getattr(match, "entry_id", None),
        "media_distance": getattr(match, "distance", None),
        "media_sensitive": bool(getattr(verdict, "sensitive", False)),
        "media_labels": tuple(
            (str(name), float(score)) for name, score in getattr(classification, "labels", ())
        ),
        "media_classifier_failed": getattr(classification, "failed", None),
        "media_error": getattr(verdict, "error", None),
    }


def _band(account: Account | None) -> str | None:
    return None if account is None else account.band.value


_STOP: Final = object()

DEFAULT_QUEUE_SIZE: Final = 10_000
"""How many events may wait for delivery before new ones are dropped."""


class EventDispatcher:
    """Delivers one guard's events to its sinks from a background thread.

    Built by :meth:`~childsafe.Guard.add_sink`; the thread starts with the first
    event. :meth:`flush` waits until everything queued so far was delivered.
    """

    def __init__(self, *, max_queue: int = DEFAULT_QUEUE_SIZE) -> None:
        self.sinks: tuple[EventSink, ...] = ()
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_queue)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._delivered = 0
        self._failed = 0
        self._dropped = 0

    # -- sinks -------------------------------------------------------------------

    def add(self, sink: EventSink) -> None:
        with self._lock:
            self.sinks = (*self.sinks, sink)

    def remove(self, sink: EventSink) -> bool:
        """Remove ``sink``; whether it was registered."""
        with self._lock:
            kept = tuple(s for s in self.sinks if s is not sink and s != sink)
            removed = len(kept) != len(self.sinks)
            self.sinks = kept
        return removed

    # -- events -----------------------------------------------------------------

    def decision(
        self,
        policy: Policy,
        decision: Decision,
        actor: Account | None,
        target: Account | None,
        relationship: Relationship | None,
        *,
        request_id: str | None = None,
        adapter: str | None = None,
        media: object = None,
    ) -> None:
        """Queue the event of ``decision`` (``media``: the
        :class:`~childsafe.media.MediaVerdict` a media action was decided on)."""
        self.emit(
            DecisionEvent(
                id=uuid.uuid4().hex,
                time=dt.datetime.now(dt.UTC),
                kind="decision",
                action=decision.action,
                allowed=decision.allowed,
                reason=decision.reason.value,
                setting=decision.setting,
                value=decision.value,
                actor_id=None if actor is None else actor.id,
                actor_band=_band(actor),
                actor_jurisdiction=None if actor is None else actor.jurisdiction,
                target_id=None if target is None else target.id,
                target_band=_band(target),
                target_jurisdiction=None if target is None else target.jurisdiction,
                relationship=_relationship_facts(relationship) if target is not None else None,
                policy_version=policy_version(policy),
                request_id=request_id,
                adapter=adapter,
                **(_media_facts(media) if media is not None else {}),
            )
        )

    def setting_change(
        self,
        policy: Policy,
        change: SettingChange,
        account: Account,
        *,
        by: str,
        guardian: str | None,
        value: str,
    ) -> None:
        """Queue the event of a setting change (applied or refused)."""
        parent = by == "parent"
        self.emit(
            DecisionEvent(
                id=uuid.uuid4().hex,
                time=dt.datetime.now(dt.UTC),
                kind="setting_change",
                action="setting.change",
                allowed=change.applied,
                reason=change.reason,
                setting=change.setting,
                value=value,
                actor_id=guardian if parent else account.id,
                actor_band=None if parent else account.band.value,
                actor_jurisdiction=None if parent else account.jurisdiction,
                target_id=account.id,
                target_band=account.band.value,
                target_jurisdiction=account.jurisdiction,
                relationship=None,
                policy_version=policy_version(policy),
            )
        )

    def emit(self, event: DecisionEvent) -> None:
        """Queue ``event`` (never blocks: a full queue drops it, counted)."""
        if self._thread is None:
            self._start()
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            with self._lock:
                self._dropped += 1
                dropped = self._dropped
            if dropped == 1 or dropped % 1000 == 0:
                log.error(  # noqa: TRY400 - a full queue is no exception to trace
                    "childsafe: the event queue is full (slow sinks?); %d events dropped", dropped
                )

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="childsafe-events", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            try:
                if event is _STOP:
                    return
                assert isinstance(event, DecisionEvent)
                self._deliver(event)
            finally:
                self._queue.task_done()

    def _deliver(self, event: DecisionEvent) -> None:
        failed = 0
        for sink in self.sinks:
            try:
                sink(event)
            except Exception:
                failed += 1
                log.exception("childsafe: event sink %r raised; the event goes on", sink)
        with self._lock:
            self._delivered += 1
            self._failed += failed

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every event queued so far was delivered (at most ``timeout``
        seconds); whether it was."""
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        if self._thread is None:
            return True
        waiter = threading.Thread(target=wait, name="childsafe-events-flush", daemon=True)
        waiter.start()
        return done.wait(timeout)

    def stats(self) -> EventStats:
        with self._lock:
            return EventStats(
                delivered=self._delivered,
                failed=self._failed,
                dropped=self._dropped,
                pending=self._queue.qsize(),
            )
