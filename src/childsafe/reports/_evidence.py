"""What a report needs from elsewhere in childsafe: denials by reason and proactive
detections for a period (:class:`Evidence`), and how child accounts' settings stand
(:class:`Census`, from :func:`take_census`)."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import attrs

from childsafe._bands import AgeBand
from childsafe._engine import Guard
from childsafe._model import Account
from childsafe._settings import SETTINGS, SettingValue
from childsafe.audit._records import decode_record, to_micros
from childsafe.audit._stores import AuditStore, open_store
from childsafe.audit._trail import AuditTrail
from childsafe.complaints._stores import census_problem
from childsafe.events import DecisionEvent
from childsafe.exceptions import InvalidCheckError

__all__ = [
    "CHILD_BANDS",
    "NOT_CONFIRMING",
    "AuditEvidence",
    "BandCensus",
    "Census",
    "Detections",
    "Evidence",
    "MediaFigures",
    "MemoryEvidence",
    "take_census",
]

CHILD_BANDS: tuple[AgeBand, ...] = (
    AgeBand.UNDER_13,
    AgeBand.AGE_13_15,
    AgeBand.AGE_16_17,
    AgeBand.UNKNOWN,
)
"""The bands a census counts (an unknown age is treated as a child's)."""


@attrs.frozen
class Detections:
    """Proactive detections in a period: signals ``raised`` for human review, and how
    many of them the reviewers ``confirmed``."""

    raised: int
    confirmed: int


_MEDIA_SENDS: frozenset[str] = frozenset({"media.upload", "media.send"})
_MEDIA_REASONS: frozenset[str] = frozenset(
    {"confirmation_required", "confirmed", "sensitive_media_blocked", "sensitive_media_blurred"}
)


@attrs.frozen
class MediaFigures:
    """Media safety in a period (``childsafe.media``): uploads refused because they
    matched a known-abuse hash list (``matches``: by list name), and what children met
    about images that may show nudity: the interventions shown before sending
    (``interventions``) and how many were sent anyway once the child confirmed
    (``sent_anyway``), sends refused outright (``blocked_sends``: under-13s), the times
    an image was shown blurred (``blurred_views``) and opened after the child chose to
    see it (``viewed_after_blur``).

    .. versionadded:: 0.2.0
    """

    matches: Mapping[str, int] = attrs.field(factory=dict)
    interventions: int = 0
    sent_anyway: int = 0
    blocked_sends: int = 0
    blurred_views: int = 0
    viewed_after_blur: int = 0

    @property
    def not_sent(self) -> int:
        """Interventions after which nothing was sent (shown, less sent anyway)."""
        return max(0, self.interventions - self.sent_anyway)

    @classmethod
    def tally(
        cls,
        matches: Mapping[str, int],
        decisions: Iterable[tuple[str | None, str, bool, str, str | None]],
    ) -> MediaFigures:
        """The figures of ``matches`` (by list) and media ``decisions``, each
        ``(request_id, action, allowed, reason, setting)``. A request that carries the
        account holder's confirmation is decided twice by the request kernel (the
        prompt, then the confirmed answer); its prompt was shown in an earlier response,
        so it is not counted again: a prompt counts only when its request (if it has an
        id) holds no confirmed decision of the same action."""
        chosen = list(decisions)
        confirmed = {
            (request_id, action)
            for request_id, action, allowed, reason, _ in chosen
            if request_id is not None and allowed and reason == "confirmed"
        }
        figures = cls(dict(matches))
        for request_id, action, allowed, reason, setting in chosen:
            if not allowed and (request_id, action) in confirmed:
                continue
            figures = figures.count(action, allowed, reason, setting)
        return figures

    def count(self, action: str, allowed: bool, reason: str, setting: str | None) -> MediaFigures:
        """These figures with one media decision added (anything else leaves them)."""
        field = None
        if action in _MEDIA_SENDS:
            if not allowed and reason == "confirmation_required":
                field = "interventions"
            elif allowed and reason == "confirmed" and setting == "sensitive_media_send":
                field = "sent_anyway"
            elif not allowed and reason == "sensitive_media_blocked":
                field = "blocked_sends"
        elif action == "media.view":
            if not allowed and reason == "sensitive_media_blurred":
                field = "blurred_views"
            elif allowed and reason == "confirmed" and setting == "sensitive_media_blur":
                field = "viewed_after_blur"
        if field is None:
            return self
        return attrs.evolve(self, **{field: getattr(self, field) + 1})

    def to_dict(self) -> dict[str, Any]:
        """The report's ``media`` section."""
        return {
            "matches": {
                "total": sum(self.matches.values()),
                "by_list": [
                    {"list": name, "matches": n} for name, n in sorted(self.matches.items())
                ],
            },
            "interventions": {
                "shown": self.interventions,
                "sent_anyway": self.sent_anyway,
                "not_sent": self.not_sent,
            },
            "blocked_sends": self.blocked_sends,
            "blurred": {"shown": self.blurred_views, "viewed": self.viewed_after_blur},
        }


class Evidence(Protocol):
    """The audit evidence a transparency report reads. The audit trail provides it
    (``childsafe.audit``); :class:`MemoryEvidence` is an in-memory one."""

    def denials_by_reason(self, since: dt.datetime, until: dt.datetime) -> Mapping[str, int]:
        """How many requests were denied in ``[since, until)``, by reason code."""

    def proactive_detections(self, since: dt.datetime, until: dt.datetime) -> Detections:
        """The proactive detections raised in ``[since, until)`` and how many were
        confirmed."""


def _utc(at: dt.datetime) -> dt.datetime:
    given: object = at
    if not isinstance(given, dt.datetime):
        raise InvalidCheckError(f"an evidence time must be a datetime, got {given!r:.60}")
    if at.tzinfo is None:
        raise InvalidCheckError(f"an evidence time must be timezone-aware, got {at!r}")
    try:
        return at.astimezone(dt.UTC)
    except OverflowError:
        raise InvalidCheckError(f"an evidence time out of range: {at!r}") from None


class MemoryEvidence:
    """Evidence kept in memory. Register it as a guard's event sink
    (``guard.add_sink(evidence)``) to count denials and media decisions (a match is
    counted from the refused decision's ``media_list``), and call
    :meth:`record_detection` when a signal is raised (``confirmed=True`` once a
    reviewer confirms it).

    .. versionchanged:: 0.2.0 Counts media decisions (:meth:`media`).
    """

    def __init__(self) -> None:
        self._denials: list[tuple[dt.datetime, str]] = []
        self._detections: list[tuple[dt.datetime, bool]] = []
        self._media: list[
            tuple[dt.datetime, str, bool, str, str | None, str | None, str | None]
        ] = []
        self._lock = threading.Lock()

    def __call__(self, event: DecisionEvent) -> None:
        """Count ``event`` if it is a denied decision or a media decision (an event
        sink)."""
        if event.kind != "decision":
            return
        if not event.allowed:
            self.record_denial(event.reason, event.time)
        if event.action.startswith("media."):
            self.record_media(
                event.action,
                event.time,
                allowed=event.allowed,
                reason=event.reason,
                setting=event.setting,
                matched_list=event.media_list if event.media_matched else None,
                request_id=event.request_id,
            )

    def record_media(
        self,
        action: str,
        at: dt.datetime,
        *,
        allowed: bool,
        reason: str,
        setting: str | None = None,
        matched_list: str | None = None,
        request_id: str | None = None,
    ) -> None:
        """Count a media decision at ``at`` (``matched_list``: the hash list an upload
        matched; ``request_id``: the request it was made in, see
        :meth:`MediaFigures.tally`). Denials are counted by :meth:`record_denial`, not
        here."""
        with self._lock:
            self._media.append(
                (_utc(at), action, allowed, reason, setting, matched_list, request_id)
            )

    def record_denial(self, reason: str, at: dt.datetime) -> None:
        """Count a request denied for ``reason`` at ``at``."""
        with self._lock:
            self._denials.append((_utc(at), reason))

    def record_detection(self, at: dt.datetime, *, confirmed: bool = False) -> None:
        """Count a proactive detection raised at ``at`` (``confirmed`` by a reviewer)."""
        if type(confirmed) is not bool:  # "no" would count as confirmed
            raise InvalidCheckError(f"confirmed must be True or False, got {confirmed!r:.40}")
        with self._lock:
            self._detections.append((_utc(at), confirmed))

    def denials_by_reason(self, since: dt.datetime, until: dt.datetime) -> Mapping[str, int]:
        with self._lock:
            return dict(Counter(r for at, r in self._denials if since <= at < until))

    def proactive_detections(self, since: dt.datetime, until: dt.datetime) -> Detections:
        with self._lock:
            chosen = [c for at, c in self._detections if since <= at < until]
        return Detections(len(chosen), sum(chosen))

    def media(self, since: dt.datetime, until: dt.datetime) -> MediaFigures:
        """The media figures of ``[since, until)`` (see :class:`MediaFigures`)."""
        with self._lock:
            chosen = [m for m in self._media if since <= m[0] < until]
        return MediaFigures.tally(
            Counter(m[5] for m in chosen if m[5] is not None),
            [(m[6], m[1], m[2], m[3], m[4]) for m in chosen],
        )


NOT_CONFIRMING: frozenset[str] = frozenset({"no_violation", "dismissed"})
"""``case_outcome`` outcomes that do not confirm a proactive detection."""


class AuditEvidence:
    """The evidence the audit trail holds: refused decisions by reason, ``signal_flag``
    records (detections raised: an actor's first flag, ``data["before"]`` 0 or absent;
    a later flag of the same actor is the same detection's score rising) and
    ``case_outcome`` records of proactive cases (confirmed unless the outcome is one of
    :data:`NOT_CONFIRMING`).

    ``audit`` is an :class:`~childsafe.audit.AuditTrail`, an
    :class:`~childsafe.audit.AuditStore` or a store URL (``sqlite:///audit.db``,
    ``postgresql://...``); reading needs no pseudonymisation key. A reviewer's outcome
    counts as a confirmed detection when recorded with ``data={"proactive": True}``::

        trail.record_case_outcome(case_id, "account_restricted", data={"proactive": True})
    """

    def __init__(self, audit: object) -> None:
        self._owned = isinstance(audit, str)
        self.store: AuditStore
        if isinstance(audit, str):
            self.store = open_store(audit, create=False)  # a reader creates nothing
        elif isinstance(audit, AuditTrail):
            self.store = audit.store
        elif all(hasattr(audit, name) for name in ("count", "count_denials", "select")):
            self.store = audit  # type: ignore[assignment]  # checked by its methods
        else:
            raise InvalidCheckError(
                f"audit evidence: expected an AuditTrail, an AuditStore or a store URL, "
                f"got {audit!r}"
            )

    def denials_by_reason(self, since: dt.datetime, until: dt.datetime) -> Mapping[str, int]:
        return self.store.count_denials(to_micros(_utc(since)), to_micros(_utc(until)))

    def proactive_detections(self, since: dt.datetime, until: dt.datetime) -> Detections:
        since_us, until_us = to_micros(_utc(since)), to_micros(_utc(until))
        # One detection per crossing of the threshold: a flag whose score rose beyond an
        # earlier flag of the same actor (``before`` > 0) is the same detection growing.
        raised = 0
        for row in self.store.select(since_us=since_us, until_us=until_us, kinds=["signal_flag"]):
            if not decode_record(row).data.get("before"):
                raised += 1
        confirmed = 0
        for row in self.store.select(since_us=since_us, until_us=until_us, kinds=["case_outcome"]):
            data = decode_record(row).data
            if data.get("proactive") is True and data.get("outcome") not in NOT_CONFIRMING:
                confirmed += 1
        return Detections(raised, confirmed)

    def media(self, since: dt.datetime, until: dt.datetime) -> MediaFigures:
        """The media figures of ``[since, until)``: ``media_match`` records (one per
        matched upload, written by :class:`~childsafe.media.EvidenceVault`) by list,
        and the media decisions recorded on the trail. Allowed decisions count only as
        far as the trail records them (``allow_sample_rate`` below 1 samples them, so
        ``sent_anyway`` and ``viewed_after_blur`` are then lower bounds)."""
        since_us, until_us = to_micros(_utc(since)), to_micros(_utc(until))
        matches: Counter[str] = Counter()
        for row in self.store.select(since_us=since_us, until_us=until_us, kinds=["media_match"]):
            matches[str(decode_record(row).data.get("list"))] += 1
        decisions = []
        for row in self.store.select(since_us=since_us, until_us=until_us, kinds=["decision"]):
            if row.reason not in _MEDIA_REASONS:
                continue
            data = decode_record(row).data
            action = data.get("action")
            if isinstance(action, str) and action.startswith("media."):
                request_id = data.get("request_id")
                decisions.append(
                    (
                        request_id if isinstance(request_id, str) else None,
                        action,
                        row.allowed is True,
                        str(row.reason),
                        data.get("setting"),
                    )
                )
        return MediaFigures.tally(matches, decisions)

    def close(self) -> None:
        """Close the store if this evidence opened it from a URL."""
        if self._owned:
            self.store.close()


@attrs.frozen
class BandCensus:
    """The child accounts of one band: how many there are, how many run on every
    protective default, and per setting how many changed it."""

    band: str
    accounts: int
    on_defaults: int
    changed: Mapping[str, int]

    def to_dict(self) -> dict[str, Any]:
        """One band as JSON-ready data."""
        return {
            "band": self.band,
            "accounts": self.accounts,
            "on_defaults": self.on_defaults,
            "changed_any": self.accounts - self.on_defaults,
            "settings": [
                {"setting": name, "changed": self.changed.get(name, 0)} for name in SETTINGS
            ],
        }


@attrs.frozen
class Census:
    """How the child accounts' settings stood at ``taken_at``, band by band."""

    taken_at: dt.datetime
    bands: tuple[BandCensus, ...]

    def to_dict(self) -> dict[str, Any]:
        """The census as JSON-ready data (the report's ``child_accounts``)."""
        return {
            "taken_at": self.taken_at.isoformat(),
            "bands": [b.to_dict() for b in self.bands],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Census:
        """The census :meth:`to_dict` wrote (as stores keep it); data that is not one
        (an unknown band or setting, a count that is not a whole number) is an
        :class:`~childsafe.exceptions.InvalidCheckError` naming the field."""
        problem = census_problem(data)
        if problem is not None:
            raise InvalidCheckError(f"the stored census is not one: {problem}")
        return cls(
            dt.datetime.fromisoformat(data["taken_at"]),
            tuple(
                BandCensus(
                    b["band"],
                    int(b["accounts"]),
                    int(b["on_defaults"]),
                    {s["setting"]: int(s["changed"]) for s in b["settings"] if s["changed"]},
                )
                for b in data["bands"]
            ),
        )


def take_census(
    guard: Guard, accounts: Iterable[Account], *, at: dt.datetime | None = None
) -> Census:
    """Count, over ``accounts`` (every account of the platform, read from its own
    account store: accounts that never change a setting send no event, so only a
    census can count them), how many child accounts run on protective defaults and
    which settings the others changed. Each account's effective settings come from
    :meth:`Guard.settings_for <childsafe.Guard.settings_for>` and are compared with
    the defaults of its band and jurisdiction; adults are skipped.

    >>> from childsafe import Account, Guard
    >>> guard = Guard()
    >>> kids = [
    ...     Account(id="a", band="13_15"),
    ...     Account(id="b", band="13_15", settings={"daily_time_reminder": 30}),
    ... ]
    >>> band = take_census(guard, kids).bands[1]
    >>> band.band, band.accounts, band.on_defaults, dict(band.changed)
    ('13_15', 2, 1, {'daily_time_reminder': 1})
    """
    when = _utc(at) if at is not None else dt.datetime.now(dt.UTC)
    defaults: dict[tuple[AgeBand, str | None], dict[str, SettingValue]] = {}
    totals: Counter[AgeBand] = Counter()
    plain: Counter[AgeBand] = Counter()
    changed: dict[AgeBand, Counter[str]] = {band: Counter() for band in CHILD_BANDS}
    for account in accounts:
        band = account.band
        if band not in changed:
            continue
        key = (band, account.jurisdiction)
        default = defaults.get(key)
        if default is None:
            blank = Account(id="census", band=band, jurisdiction=account.jurisdiction)
            default = defaults[key] = guard.settings_for(blank).as_dict()
        totals[band] += 1
        if not account.settings and not account.consents:
            plain[band] += 1
            continue
        effective = guard.settings_for(account).as_dict()
        differs = [name for name, value in effective.items() if default[name] != value]
        if differs:
            changed[band].update(differs)
        else:
            plain[band] += 1
    return Census(
        when,
        tuple(
            BandCensus(band.value, totals[band], plain[band], dict(changed[band]))
            for band in CHILD_BANDS
        ),
    )
