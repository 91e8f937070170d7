"""The signals engine: events in, rules over sliding windows and pair histories, scores
and flags out. Everything here is kept in this process's memory."""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

import attrs

from childsafe.signals._errors import SignalEventError
from childsafe.signals._rules import Evidence, Rule, Score, SignalsConfig

if TYPE_CHECKING:
    from childsafe._model import Account
    from childsafe.events import DecisionEvent

__all__ = ["KINDS", "Flag", "Signals"]

log = logging.getLogger("childsafe.signals")

KINDS: Final = frozenset(
    {
        "contact",
        "friend_request",
        "follow",
        "message",
        "group",
        "media_request",
        "link",
        "block",
        "report",
        "profile_view",
    }
)
"""The kinds of event :meth:`Signals.observe` takes."""

_MINORS: Final = frozenset({"under_13", "13_15", "16_17", "unknown"})
# Kinds an adult reaches a child with (stranger contact, fan-out, after a block).
_REACH: Final = frozenset(
    {"contact", "friend_request", "follow", "message", "group", "media_request", "link"}
)
_REQUESTS: Final = frozenset({"friend_request", "follow"})
_ESCALATE: Final = {"message": 1, "media_request": 2, "link": 4}
_DECISION_KINDS: Final = {
    "dm.send": "message",
    "friend.request": "friend_request",
    "group.invite": "group",
    "profile.view": "profile_view",
}
# Bits of a pair's `fired` mask: each pair rule adds its points once.
_B_STRANGER: Final = 1
_B_DENIED: Final = 2
_B_ESCALATION: Final = 4
_B_OFF: Final = 8
_B_SECRECY: Final = 16
_B_BLOCK: Final = 32

# A pair record: [first_t, last_t, score, evidence, fired, request_t, escalation_mask]
_SCORE: Final = 2
_EVIDENCE: Final = 3
_FIRED: Final = 4
_REQUEST_T: Final = 5
_ESC: Final = 6
# An actor record: [window deque, last seen per child, fan-out points, fan-out level,
#                   evidence, best pair score, best pair child, last flagged score]
_WINDOW: Final = 0
_SEEN: Final = 1
_FAN_POINTS: Final = 2
_FAN_LEVEL: Final = 3
_A_EVIDENCE: Final = 4
_BEST: Final = 5
_BEST_CHILD: Final = 6
_FLAGGED: Final = 7

_EvidenceRow = tuple[Rule, float, str, "str | None", int, str]


def _utc(t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, dt.UTC)


def _evidence(row: _EvidenceRow) -> Evidence:
    return Evidence(row[0], _utc(row[1]), row[2], row[3], row[4], row[5])


@attrs.frozen
class Flag:
    """An actor's score reached :attr:`SignalsConfig.flag_score` or rose beyond it.

    ``score`` is the actor's score with all its evidence; ``pair`` the highest-scoring
    (actor, child) pair; ``first`` whether this is the actor's first flag. A flag is a
    candidate for human review, never a verdict.
    """

    at: dt.datetime
    score: Score
    pair: Score | None
    first: bool

    @property
    def actor(self) -> str:
        """The flagged account."""
        return self.score.actor


FlagListener = Callable[[Flag], object]


def _seconds(at: float | dt.datetime | None, clock: Callable[[], float], call: str) -> float:
    if at is None:
        return clock()
    if isinstance(at, dt.datetime):
        if at.tzinfo is None:
            raise SignalEventError(f"{call}: at must be timezone-aware, got {at!r}")
        return at.timestamp()
    if isinstance(at, bool) or not isinstance(at, int | float):
        raise SignalEventError(f"{call}: at must be a datetime or epoch seconds, got {at!r}")
    return float(at)


def _multiprocess_server() -> str | None:
    """The name of a multi-process server this process looks like a worker of."""
    software = os.environ.get("SERVER_SOFTWARE", "")
    if software.startswith("gunicorn"):
        return "gunicorn"
    for var, name in (("UWSGI_ORIGINAL_PROC_NAME", "uwsgi"), ("UWSGI_RELOADS", "uwsgi")):
        if var in os.environ:
            return name
    if os.environ.get("WEB_CONCURRENCY", "1") not in {"", "1"}:
        return "a server with WEB_CONCURRENCY > 1"
    return None


class Signals:
    """Grooming-risk signals over the events the platform passes, in this process's
    memory.

    Feed it decision events (``guard.add_sink(signals)``) and the platform's own calls
    (:meth:`friend_request`, :meth:`message`, :meth:`link_shared`, ...). It keeps
    sliding windows per actor and a short history per (actor, child) pair, scores both,
    and calls each flag listener (:meth:`add_listener`) when an actor's score reaches
    ``config.flag_score`` or rises beyond it. It never bans, blocks or reads anything
    by itself: what happens to a flag is the platform's choice, and a person decides.

    The memory kept here is one process's: under a multi-process server each worker
    would see only its share of the events, so a warning is logged at start-up there.
    """

    def __init__(
        self,
        config: SignalsConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config if config is not None else SignalsConfig()
        self._clock = clock
        self._bands: dict[str, str] = {}
        self._assurance: dict[str, str] = {}
        self._idents: dict[str, tuple[str, ...]] = {}
        self._pairs: dict[tuple[str, str], list[Any]] = {}
        self._actors: dict[str, list[Any]] = {}
        self._blocks: dict[tuple[str, str], float] = {}
        self._blocked_idents: dict[str, dict[str, float]] = {}
        self._listeners: list[FlagListener] = []
        self.events = 0
        server = _multiprocess_server()
        if server is not None:
            log.warning(
                "childsafe.signals keeps its state in this process's memory, but this "
                "looks like a worker of %s: each worker sees only its share of the "
                "events, so a fan-out split across workers can be missed. Use a shared "
                "store (SQLite on one machine, Redis across machines).",
                server,
            )

    # -- accounts and listeners -------------------------------------------------------

    def account(
        self,
        account: Account | str,
        *,
        band: str | None = None,
        assurance: str | None = None,
        identifiers: Iterable[str] = (),
    ) -> None:
        """Tell the engine an account's age band, assurance level and the device or
        network identifiers the platform chooses to pass (opaque strings: hash them
        first if you like, the engine only compares them)."""
        if isinstance(account, str):
            account_id = account
        else:
            account_id = account.id
            band = band or account.band.value
            assurance = assurance or account.assurance.value
        if not account_id:
            raise SignalEventError(
                f"account: the id must be a non-empty string, got {account_id!r}"
            )
        if band is not None:
            self._bands[account_id] = str(band)
        if assurance is not None:
            self._assurance[account_id] = str(assurance)
        ids = tuple(identifiers)
        for ident in ids:
            value: object = ident
            if not isinstance(value, str) or not value:
                raise SignalEventError(
                    f"account {account_id!r}: identifiers must be non-empty strings, got {ident!r}"
                )
        if ids:
            self._idents[account_id] = ids

    def add_listener(self, listener: FlagListener) -> None:
        """Call ``listener`` with each :class:`Flag` (in the thread that fed the event)."""
        if not callable(listener):
            raise SignalEventError(f"add_listener: a listener must be callable, got {listener!r}")
        self._listeners.append(listener)

    def band(self, account_id: str) -> str | None:
        """The band the engine knows for ``account_id``."""
        return self._bands.get(account_id)

    # -- events -----------------------------------------------------------------------

    def __call__(self, event: DecisionEvent) -> None:
        """A decision-event sink: ``guard.add_sink(signals)``."""
        if event.kind != "decision" or event.actor_id is None or event.target_id is None:
            return
        rel = event.relationship or {}
        self.observe(
            _DECISION_KINDS.get(event.action, "contact"),
            event.actor_id,
            event.target_id,
            at=event.time.timestamp(),
            actor_band=event.actor_band,
            target_band=event.target_band,
            allowed=event.allowed,
            connected=bool(rel.get("connected", False)),
            mutual=int(rel.get("mutual_connections", 0)),
        )

    def friend_request(
        self,
        actor: str,
        target: str,
        *,
        at: float | dt.datetime | None = None,
        connected: bool = False,
        mutual: int = 0,
        allowed: bool = True,
    ) -> None:
        """``actor`` asked ``target`` to connect (either way round: a child adding an
        adult stranger counts as much as the adult adding the child)."""
        self.observe(
            "friend_request",
            actor,
            target,
            at=at,
            connected=connected,
            mutual=mutual,
            allowed=allowed,
        )

    def follow(
        self, actor: str, target: str, *, at: float | dt.datetime | None = None, mutual: int = 0
    ) -> None:
        """``actor`` followed ``target``."""
        self.observe("follow", actor, target, at=at, mutual=mutual)

    def message(
        self,
        actor: str,
        target: str,
        *,
        at: float | dt.datetime | None = None,
        connected: bool = False,
        mutual: int = 0,
        allowed: bool = True,
        text: str | None = None,
    ) -> None:
        """``actor`` sent ``target`` a message. Pass ``text`` only if the platform has
        opted in to the text rules; the engine reads nothing else."""
        self.observe(
            "message",
            actor,
            target,
            at=at,
            connected=connected,
            mutual=mutual,
            allowed=allowed,
            text=text,
        )

    def media_request(
        self,
        actor: str,
        target: str,
        *,
        at: float | dt.datetime | None = None,
        connected: bool = False,
        mutual: int = 0,
    ) -> None:
        """``actor`` asked ``target`` for a photo or video (the platform's own feature
        or its own classifier decides what counts)."""
        self.observe("media_request", actor, target, at=at, connected=connected, mutual=mutual)

    def link_shared(
        self,
        actor: str,
        target: str,
        url: str,
        *,
        at: float | dt.datetime | None = None,
        connected: bool = False,
        mutual: int = 0,
    ) -> None:
        """``actor`` sent ``target`` a link or handle (``url``: the link or the handle)."""
        self.observe("link", actor, target, at=at, connected=connected, mutual=mutual, text=url)

    def group_created(
        self,
        actor: str,
        members: Iterable[str],
        *,
        at: float | dt.datetime | None = None,
        connected: Iterable[str] = (),
    ) -> None:
        """``actor`` created a group with ``members`` (``connected``: the members the
        actor is connected to)."""
        t = _seconds(at, self._clock, "group_created")
        linked = frozenset(connected)
        for member in members:
            self.observe("group", actor, member, at=t, connected=member in linked)

    def blocked(self, child: str, other: str, *, at: float | dt.datetime | None = None) -> None:
        """``child`` blocked ``other``."""
        self.observe("block", child, other, at=at)

    def reported(self, child: str, other: str, *, at: float | dt.datetime | None = None) -> None:
        """``child`` reported ``other``."""
        self.observe("report", child, other, at=at)

    def profile_view(
        self, actor: str, target: str, *, at: float | dt.datetime | None = None
    ) -> None:
        """``actor`` viewed ``target``'s profile."""
        self.observe("profile_view", actor, target, at=at)

    def observe(
        self,
        kind: str,
        actor: str,
        target: str,
        *,
        at: float | dt.datetime | None = None,
        actor_band: str | None = None,
        target_band: str | None = None,
        allowed: bool = True,
        connected: bool = False,
        mutual: int = 0,
        text: str | None = None,
    ) -> None:
        """One event of ``kind`` (one of :data:`KINDS`) from ``actor`` to ``target``.

        Bands default to those given to :meth:`account`; an account of unknown band is
        treated as a minor when it is reached, and never as an adult when it acts.
        """
        if kind not in KINDS:
            raise SignalEventError(
                f"observe: unknown kind {kind!r}; expected one of {', '.join(sorted(KINDS))}"
            )
        t = at if type(at) is float else _seconds(at, self._clock, f"observe({kind!r})")
        self.events += 1
        bands = self._bands
        a_band = actor_band if actor_band is not None else bands.get(actor, "unknown")
        t_band = target_band if target_band is not None else bands.get(target, "unknown")
        if kind == "block" or kind == "report":  # noqa: PLR1714 - cheapest on the hot path
            self._on_block(actor, target, t)
            return
        if a_band == "adult":
            if t_band in _MINORS:
                self._adult_to_minor(kind, actor, target, t, allowed, connected, mutual, text)
        elif (
            a_band in _MINORS
            and kind in _REQUESTS
            and t_band == "adult"
            and not connected
            and mutual < self.config.min_mutual
        ):
            # A child adding an adult stranger: the pair is the adult's.
            self._request(target, actor, t, kind, child_initiated=True)

    # -- rules ------------------------------------------------------------------------

    def _pair(self, actor: str, child: str, t: float) -> list[Any]:
        key = (actor, child)
        rec = self._pairs.get(key)
        if rec is None:
            rec = [t, t, 0, None, 0, None, 0]
            self._pairs[key] = rec
        else:
            rec[1] = t
        return rec

    def _add(
        self,
        actor: str,
        child: str | None,
        rec: list[Any] | None,
        rule: Rule,
        t: float,
        kind: str,
        points: int,
        why: str,
    ) -> None:
        row: _EvidenceRow = (rule, t, kind, child, points, why)
        if rec is not None:
            ev = rec[_EVIDENCE]
            if ev is None:
                ev = rec[_EVIDENCE] = deque(maxlen=self.config.evidence_per_pair)
            ev.append(row)
            rec[_SCORE] += points
        else:
            self._actor(actor)[_A_EVIDENCE].append(row)
        self._rescore(actor, child, rec, t)

    def _actor(self, actor: str) -> list[Any]:
        arec = self._actors.get(actor)
        if arec is None:
            arec = [deque(), {}, 0, 0, deque(maxlen=self.config.evidence_per_pair), 0, None, 0]
            self._actors[actor] = arec
        return arec

    def _rescore(self, actor: str, child: str | None, rec: list[Any] | None, t: float) -> None:
        arec = self._actor(actor)
        if rec is not None and rec[_SCORE] > arec[_BEST]:
            arec[_BEST] = rec[_SCORE]
            arec[_BEST_CHILD] = child
        total = arec[_BEST] + arec[_FAN_POINTS]
        if total >= self.config.flag_score and total > arec[_FLAGGED]:
            first = arec[_FLAGGED] == 0
            arec[_FLAGGED] = total
            if self._listeners:
                flag = Flag(_utc(t), self.actor_score(actor), self._best_pair(actor), first)
                for listener in self._listeners:
                    listener(flag)

    def _adult_to_minor(
        self,
        kind: str,
        actor: str,
        child: str,
        t: float,
        allowed: bool,
        connected: bool,
        mutual: int,
        text: str | None,
    ) -> None:
        cfg = self.config
        if kind == "profile_view":
            return
        stranger = not connected and mutual < cfg.min_mutual
        rec = self._pairs.get((actor, child))
        if rec is None:
            if not stranger and text is None and not self._blocks:
                return  # connected, nothing to read: no history needed
            rec = self._pair(actor, child, t)
        else:
            rec[1] = t
        fired = rec[_FIRED]
        if stranger:
            if not fired & _B_STRANGER:
                rec[_FIRED] = fired = fired | _B_STRANGER
                self._add(
                    actor,
                    child,
                    rec,
                    Rule.STRANGER_CONTACT,
                    t,
                    kind,
                    cfg.stranger_points,
                    f"{kind} from an adult to a minor with no connection and "
                    f"{mutual} mutual connection(s)",
                )
            if not allowed and not fired & _B_DENIED:
                rec[_FIRED] = fired = fired | _B_DENIED
                self._add(
                    actor,
                    child,
                    rec,
                    Rule.STRANGER_CONTACT,
                    t,
                    kind,
                    cfg.denied_points,
                    f"a denied {kind}: the adult tried to reach the child anyway",
                )
            self._fan_out(actor, child, t, kind)
            if kind in _REQUESTS:
                self._request(actor, child, t, kind, child_initiated=False)
        if rec[_REQUEST_T] is not None:
            bit = _ESCALATE.get(kind)
            if bit is not None and not fired & _B_ESCALATION:
                self._escalate(actor, child, rec, t, kind, bit)
                fired = rec[_FIRED]
        if text is not None:
            if not fired & _B_OFF:
                app = cfg.apps_in(text)
                if app is not None:
                    rec[_FIRED] = fired = fired | _B_OFF
                    self._add(
                        actor,
                        child,
                        rec,
                        Rule.OFF_PLATFORM,
                        t,
                        kind,
                        cfg.off_platform_points,
                        f"a {kind} to a minor naming another messaging app ({app!r})",
                    )
            if not fired & _B_SECRECY and kind == "message":
                phrase = cfg.phrase_in(text)
                if phrase is not None:
                    rec[_FIRED] = fired = fired | _B_SECRECY
                    self._add(
                        actor,
                        child,
                        rec,
                        Rule.SECRECY,
                        t,
                        kind,
                        cfg.phrase_points,
                        f"a message to a minor asking for images or secrecy (matched {phrase!r})",
                    )
        if self._blocks and not fired & _B_BLOCK:
            self._after_block(actor, child, rec, t, kind)

    def _fan_out(self, actor: str, child: str, t: float, kind: str) -> None:
        cfg = self.config
        arec = self._actors.get(actor)
        if arec is None:
            arec = self._actor(actor)
        window: deque[tuple[float, str]] = arec[_WINDOW]
        seen: dict[str, float] = arec[_SEEN]
        start = t - cfg.fan_out_window
        while window and window[0][0] < start:
            t0, c0 = window.popleft()
            if seen.get(c0) == t0:
                del seen[c0]
        if child in seen:
            seen[child] = t
            window.append((t, child))
            return
        seen[child] = t
        window.append((t, child))
        distinct = len(seen)
        if distinct < cfg.fan_out_children or distinct <= arec[_FAN_LEVEL]:
            return
        arec[_FAN_LEVEL] = distinct
        extra = min(distinct - cfg.fan_out_children, 8)
        points = cfg.fan_out_points + extra * cfg.fan_out_extra_points
        added = points - arec[_FAN_POINTS]
        arec[_FAN_POINTS] = points
        hours = cfg.fan_out_window / 3600
        self._add(
            actor,
            None,
            None,
            Rule.FAN_OUT,
            t,
            kind,
            added,
            f"reached {distinct} distinct unconnected minors within {hours:g} hours",
        )

    def _request(
        self, actor: str, child: str, t: float, kind: str, *, child_initiated: bool
    ) -> None:
        rec = self._pair(actor, child, t)
        if rec[_REQUEST_T] is None or t - rec[_REQUEST_T] > self.config.escalation_window:
            rec[_REQUEST_T] = t
            rec[_ESC] = 0
        if child_initiated and not rec[_FIRED] & _B_STRANGER:
            rec[_FIRED] |= _B_STRANGER
            self._add(
                actor,
                child,
                rec,
                Rule.STRANGER_CONTACT,
                t,
                kind,
                self.config.stranger_points,
                f"the child sent an adult stranger a {kind.replace('_', ' ')}",
            )

    def _escalate(
        self, actor: str, child: str, rec: list[Any], t: float, kind: str, bit: int
    ) -> None:
        cfg = self.config
        if t - rec[_REQUEST_T] > cfg.escalation_window:
            return
        rec[_ESC] |= bit
        steps = rec[_ESC].bit_count()
        if steps < cfg.escalation_steps:
            return
        rec[_FIRED] |= _B_ESCALATION
        hours = (t - rec[_REQUEST_T]) / 3600
        names = [n for n, b in _ESCALATE.items() if rec[_ESC] & b]
        self._add(
            actor,
            child,
            rec,
            Rule.ESCALATION,
            t,
            kind,
            cfg.escalation_points,
            f"{' and '.join(names)} within {hours:.1f} hours of a connection request "
            "between an adult stranger and the child",
        )

    def _on_block(self, child: str, other: str, t: float) -> None:
        self._blocks[(child, other)] = t
        for ident in self._idents.get(other, ()):
            self._blocked_idents.setdefault(ident, {})[child] = t

    def _after_block(self, actor: str, child: str, rec: list[Any], t: float, kind: str) -> None:
        cfg = self.config
        since = self._blocks.get((child, actor))
        why: str | None = None
        if since is not None and t - since <= cfg.block_memory:
            why = f"a {kind} after the child blocked or reported this account"
        else:
            for ident in self._idents.get(actor, ()):
                by = self._blocked_idents.get(ident)
                if by is not None:
                    since = by.get(child)
                    if since is not None and t - since <= cfg.block_memory:
                        why = (
                            f"a {kind} from an account sharing an identifier with an "
                            "account the child blocked or reported"
                        )
                        break
        if why is None:
            return
        rec[_FIRED] |= _B_BLOCK
        self._add(actor, child, rec, Rule.AFTER_BLOCK, t, kind, cfg.after_block_points, why)

    # -- scores -----------------------------------------------------------------------

    def pair_score(self, actor: str, child: str) -> Score:
        """The (``actor``, ``child``) pair's score and its evidence."""
        rec = self._pairs.get((actor, child))
        if rec is None or rec[_EVIDENCE] is None:
            return Score(actor, child, 0, ())
        return Score(actor, child, rec[_SCORE], tuple(_evidence(r) for r in rec[_EVIDENCE]))

    def actor_score(self, actor: str) -> Score:
        """The actor's score: its highest pair score plus the actor-wide rules (fan-out),
        with the evidence of both."""
        arec = self._actors.get(actor)
        if arec is None:
            return Score(actor, None, 0, ())
        rows = list(arec[_A_EVIDENCE])
        best = arec[_BEST_CHILD]
        if best is not None:
            rows.extend(self._pairs[(actor, best)][_EVIDENCE])
        rows.sort(key=lambda r: r[1])
        return Score(
            actor, None, arec[_BEST] + arec[_FAN_POINTS], tuple(_evidence(r) for r in rows)
        )

    def _best_pair(self, actor: str) -> Score | None:
        arec = self._actors[actor]
        child = arec[_BEST_CHILD]
        return None if child is None else self.pair_score(actor, child)

    def flagged(self) -> list[Score]:
        """The actors whose score reached ``config.flag_score``, highest first."""
        out = [self.actor_score(a) for a, r in self._actors.items() if r[_FLAGGED]]
        out.sort(key=lambda s: (-s.score, s.actor))
        return out
