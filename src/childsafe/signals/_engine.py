"""The signals engine: events in, rules over sliding windows and pair histories, scores
and flags out. Everything here is kept in this process's memory."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Final, NamedTuple, NoReturn

import attrs

from childsafe._bands import AgeBand, Assurance
from childsafe._model import Account
from childsafe._parsing import shown
from childsafe.signals._errors import SignalConfigError, SignalEventError, SignalListenerError
from childsafe.signals._rules import Evidence, Rule, Score, SignalsConfig
from childsafe.signals._stores import (
    EventSignalStore,
    EvidenceRow,
    FlagState,
    MemorySignalStore,
    SignalStore,
    StoreEvent,
)

if TYPE_CHECKING:
    from childsafe.events import DecisionEvent

__all__ = ["KINDS", "Flag", "Friction", "SignalEvent", "Signals"]

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
_BAND_NAMES: Final = tuple(b.value for b in AgeBand)
_ASSURANCE_NAMES: Final = tuple(a.value for a in Assurance)
_BAND_SET: Final = frozenset(_BAND_NAMES)
# Times a datetime can hold: an event outside them was stored, then every score read
# of its actor raised ValueError turning it into a datetime.
_FIRST_TIME: Final = dt.datetime.min.replace(tzinfo=dt.UTC).timestamp()
_LAST_TIME: Final = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC).timestamp()
_TIME_RANGE: Final = "at must be a finite time from year 1 to 9999 (UTC)"
MAX_ID_LENGTH: Final = 1024
"""The longest account id or identifier the engine takes: each is a key or field of the
store, several times over (a megabyte id from a careless integration was stored as
such in every key and field naming it)."""
MAX_IDENTIFIERS: Final = 64
"""The most device or network identifiers :meth:`Signals.account` takes for one
account (each is written again with every block of that account)."""
BAND_CACHE_SIZE: Final = 100_000
"""The most account bands a :class:`Signals` engine remembers between clearings."""


def _known_band(band: object) -> bool:
    return isinstance(band, str) and band in _BAND_SET


def _bad_band(call: str, actor_band: object, target_band: object) -> NoReturn:
    """A misspelt band ('adlt') would leave an adult out of every rule: refuse it."""
    bad = actor_band if actor_band is not None and not _known_band(actor_band) else target_band
    which = "actor_band" if bad is actor_band else "target_band"
    raise SignalEventError(
        f"{call}: unknown {which} {shown(bad)}; expected one of {', '.join(map(repr, _BAND_NAMES))}"
    )


def _text_ok(value: str) -> bool:
    """Whether ``value`` can be stored: no lone surrogate (``"\\ud800"`` cannot be
    encoded as UTF-8, so a SQLite or Redis store raised ``UnicodeEncodeError``)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _fields_ok(
    actor: object, target: object, allowed: object, connected: object, mutual: object
) -> bool:
    """The cheap check of an event's fields (one call an event on the hot path)."""
    return (
        type(allowed) is bool
        and type(connected) is bool
        and type(mutual) is int
        and isinstance(actor, str)
        and isinstance(target, str)
        and 0 < len(actor) <= MAX_ID_LENGTH
        and 0 < len(target) <= MAX_ID_LENGTH
        and mutual >= 0
        and (actor.isascii() or _text_ok(actor))
        and (target.isascii() or _text_ok(target))
    )


def _bad_fields(
    call: str, actor: object, target: object, allowed: object, connected: object, mutual: object
) -> NoReturn:
    """Name the field :func:`_fields_ok` refused: ``allowed="no"`` (truthy) counted a
    refused message as allowed, ``mutual="3"`` was a ``TypeError`` deep in the rules."""
    for name, value in (("actor", actor), ("target", target)):
        if not isinstance(value, str) or not value:
            raise SignalEventError(
                f"{call}: {name} must be a non-empty account id, got {shown(value)}"
            )
        if len(value) > MAX_ID_LENGTH:
            raise SignalEventError(
                f"{call}: {name} {value!r:.60} is {len(value)} characters long, more than "
                f"the {MAX_ID_LENGTH} an account id may have"
            )
        if not _text_ok(value):
            raise SignalEventError(f"{call}: {name} {value!r:.60} contains a lone surrogate")
    for name, value in (("allowed", allowed), ("connected", connected)):
        if type(value) is not bool:
            raise SignalEventError(f"{call}: {name} must be True or False, got {shown(value)}")
    raise SignalEventError(
        f"{call}: mutual must be a whole number of mutual connections, got {shown(mutual)}"
    )


# Kinds an adult reaches a child with (stranger contact, fan-out, after a block).
_REACH: Final = frozenset(
    {"contact", "friend_request", "follow", "message", "group", "media_request", "link"}
)
_REQUESTS: Final = frozenset({"friend_request", "follow"})
_BLOCKS: Final = frozenset({"block", "report"})
_ESCALATE: Final = {"message": 1, "media_request": 2, "link": 4}
_DECISION_KINDS: Final = {
    "dm.send": "message",
    "media.send": "message",
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
_B_CHILD_WROTE: Final = 64
_B_BLOCKED: Final = 128
_B_ASKED_IMAGES: Final = 256  # the adult asked the child for images (a media_request)
_B_CHILD_IMAGE: Final = 512  # then the child tried to send a flagged image to that adult


def _utc(t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, dt.UTC)


def _evidence(row: EvidenceRow) -> Evidence:
    return Evidence(Rule(row[0]), _utc(row[1]), row[2], row[3], row[4], row[5])


@attrs.frozen
class Flag:
    """An actor's score reached ``SignalsConfig.flag_score`` or rose beyond it.

    ``score`` is the actor's score with all its evidence; ``pair`` the highest-scoring
    (actor, child) pair; ``before`` the score of the actor's previous flag (0 for its
    first). Across processes sharing a store, each rise is flagged in exactly one of
    them. A flag is a candidate for human review, never a verdict.
    """

    at: dt.datetime
    score: Score
    pair: Score | None
    before: int

    @property
    def first(self) -> bool:
        """Whether this is the actor's first flag."""
        return self.before == 0

    def crossed(self, threshold: int) -> bool:
        """Whether this flag took the actor's score to ``threshold`` or past it."""
        return self.before < threshold <= self.score.score

    @property
    def actor(self) -> str:
        """The flagged account."""
        return self.score.actor


FlagListener = Callable[[Flag], object]


class SignalEvent(NamedTuple):
    """One event for :meth:`Signals.observe_many`: the arguments of
    :meth:`Signals.observe`, in one tuple."""

    kind: str
    actor: str
    target: str
    at: float | dt.datetime | None = None
    actor_band: str | None = None
    target_band: str | None = None
    allowed: bool = True
    connected: bool = False
    mutual: int = 0
    text: str | None = None


@attrs.frozen
class Friction:
    """What to put between a child and a sender when delivering or rendering: a safety
    ``interstitial`` before the child replies, and whether to move the sender's
    messages to ``requests``. ``score`` is the higher of the pair's and the sender's
    score; ``rules`` the rules behind it. Friction slows contact down and tells the
    child; it removes nothing and blocks no one."""

    interstitial: bool
    requests: bool
    score: int
    rules: frozenset[Rule]

    @property
    def any(self) -> bool:
        """Whether any friction applies."""
        return self.interstitial or self.requests


def _seconds(at: float | dt.datetime | None, clock: Callable[[], float], call: str) -> float:
    if at is None:
        return clock()
    if isinstance(at, dt.datetime):
        if at.tzinfo is None:
            raise SignalEventError(f"{call}: at must be timezone-aware, got {at!r}")
        return at.timestamp()
    if isinstance(at, bool) or not isinstance(at, int | float):
        raise SignalEventError(f"{call}: at must be a datetime or epoch seconds, got {at!r}")
    try:
        return float(at)
    except OverflowError:  # an int past float's range
        raise SignalEventError(f"{call}: {_TIME_RANGE}, got {shown(at)}") from None


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
    """Grooming-risk signals over the events the platform passes.

    Feed it decision events (``guard.add_sink(signals)``) and the platform's own calls
    (:meth:`friend_request`, :meth:`message`, :meth:`link_shared`, ...). It keeps
    sliding windows per actor and a short history per (actor, child) pair in ``store``,
    scores both, and calls each flag listener (:meth:`add_listener`) when an actor's
    score reaches ``config.flag_score`` or rises beyond it. It never bans, blocks or
    reads anything by itself: what happens to a flag is the platform's choice, and a
    person decides.

    Bands the events do not carry are read from the store and remembered for
    ``band_cache`` seconds (60 by default; at most 100,000 of them), so a band
    another process changes (an account that said it was 14 found to be an adult) is
    seen within that time.

    The default store is this process's memory: under a multi-process server each
    worker would see only its share of the events, so a warning is logged at start-up
    there; pass a :class:`~childsafe.signals.SQLiteSignalStore` (one machine) or a
    :class:`~childsafe.signals.RedisSignalStore` (several) instead.
    """

    def __init__(
        self,
        config: SignalsConfig | None = None,
        *,
        store: SignalStore | None = None,
        clock: Callable[[], float] = time.time,
        band_cache: float = 60.0,
    ) -> None:
        if config is not None and not isinstance(config, SignalsConfig):
            raise SignalConfigError(
                f"Signals: config must be a SignalsConfig, got {type(config).__name__}"
            )
        if store is not None and not all(
            callable(getattr(store, m, None)) for m in ("set_account", "band", "fire", "reach")
        ):
            raise SignalConfigError(
                "Signals: store must be a signal store (MemorySignalStore, SQLiteSignalStore, "
                f"RedisSignalStore), got {type(store).__name__}"
            )
        if not callable(clock):
            raise SignalConfigError(f"Signals: clock must be callable, got {clock!r:.60}")
        seconds: object = band_cache
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not 0 <= seconds < float("inf")
        ):
            raise SignalConfigError(
                f"Signals: band_cache must be a finite number of seconds >= 0, got {band_cache!r}"
            )
        self._band_cache = float(band_cache)
        self._bands_until = time.monotonic() + self._band_cache
        self.config = config if config is not None else SignalsConfig()
        self.store: SignalStore = store if store is not None else MemorySignalStore()
        self._clock = clock
        self._bands: dict[str, str] = {}
        self._listeners: list[FlagListener] = []
        self._scripted = self.store if isinstance(self.store, EventSignalStore) else None
        self.events = 0
        server = None if self.store.shared else _multiprocess_server()
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
        given: object = account
        if isinstance(given, str):
            account_id = given
        elif isinstance(given, Account):
            account_id = given.id
            band = band or given.band.value
            assurance = assurance or given.assurance.value
        else:
            raise SignalEventError(
                f"account: expected an Account or an account id, got {shown(given)}"
            )
        # A misspelt band ('adlt') would silently leave an adult out of every rule.
        if band is not None and not _known_band(band):
            raise SignalEventError(
                f"account {account_id!r}: unknown band {shown(band)}; expected one of "
                f"{', '.join(map(repr, _BAND_NAMES))}"
            )
        level: object = assurance
        if level is not None and not (isinstance(level, str) and level in _ASSURANCE_NAMES):
            raise SignalEventError(
                f"account {account_id!r}: unknown assurance {shown(assurance)}; expected one "
                f"of {', '.join(map(repr, _ASSURANCE_NAMES))}"
            )
        if not account_id:
            raise SignalEventError(
                f"account: the id must be a non-empty string, got {account_id!r}"
            )
        if len(account_id) > MAX_ID_LENGTH:
            raise SignalEventError(
                f"account {account_id!r:.60}: the id is {len(account_id)} characters long, "
                f"more than {MAX_ID_LENGTH}"
            )
        if not _text_ok(account_id):
            raise SignalEventError(f"account {account_id!r:.60}: the id contains a lone surrogate")
        if isinstance(identifiers, str):  # a string would be taken letter by letter
            raise SignalEventError(
                f"account {account_id!r:.60}: identifiers must be a list of strings, got the "
                f"string {identifiers!r:.60}"
            )
        ids = tuple(itertools.islice(identifiers, MAX_IDENTIFIERS + 1))
        if len(ids) > MAX_IDENTIFIERS:
            raise SignalEventError(
                f"account {account_id!r:.60}: more than {MAX_IDENTIFIERS} identifiers"
            )
        for ident in ids:
            value: object = ident
            if not isinstance(value, str) or not value:
                raise SignalEventError(
                    f"account {account_id!r}: identifiers must be non-empty strings, got {ident!r}"
                )
            if len(value) > MAX_ID_LENGTH:
                raise SignalEventError(
                    f"account {account_id!r:.60}: identifier {value!r:.60} is {len(value)} "
                    f"characters long, more than {MAX_ID_LENGTH}"
                )
            if not _text_ok(value):
                raise SignalEventError(
                    f"account {account_id!r:.60}: identifier {value!r:.60} contains a lone "
                    "surrogate"
                )
        band = None if band is None else str(band)
        self.store.set_account(account_id, band, None if assurance is None else str(assurance), ids)
        if band is not None:
            if len(self._bands) >= BAND_CACHE_SIZE:
                self._bands.clear()
            self._bands[account_id] = band

    def add_listener(self, listener: FlagListener) -> None:
        """Call ``listener`` with each :class:`Flag` (in the thread that fed the event).

        A listener that raises does not keep the flag from the listeners after it: each
        is called, then the event's call raises
        :class:`~childsafe.signals.SignalListenerError` naming the failing listeners
        (the event itself was applied)."""
        if not callable(listener):
            raise SignalEventError(f"add_listener: a listener must be callable, got {listener!r}")
        self._listeners.append(listener)

    def _refresh_bands(self) -> None:
        """Forget the remembered bands once ``band_cache`` seconds have passed or too
        many are kept: a band remembered for good never saw another process's change
        (a self-declared teen found to be an adult stayed a minor to every rule here)."""
        now = time.monotonic()
        if now >= self._bands_until or len(self._bands) > BAND_CACHE_SIZE:
            self._bands.clear()
            self._bands_until = now + self._band_cache

    def band(self, account_id: str) -> str | None:
        """The band the engine knows for ``account_id`` (asking the store on a miss)."""
        band = self._bands.get(account_id)
        if band is None:
            band = self.store.band(account_id)
            if band is not None:
                if len(self._bands) >= BAND_CACHE_SIZE:
                    self._bands.clear()
                self._bands[account_id] = band
        return band

    # -- events -----------------------------------------------------------------------

    def __call__(self, event: DecisionEvent) -> None:
        """A decision-event sink: ``guard.add_sink(signals)``. Reads the decisions on
        ``dm.send``, ``media.send`` (a message with an image), ``friend.request``,
        ``group.invite`` and ``profile.view``; other actions (suggestions, location,
        settings) are no contact attempts. A minor's attempt to send a flagged image
        (``media_sensitive``) to an adult who asked them for images
        (:meth:`media_request`) adds to that adult's score, whatever was decided."""
        kind = _DECISION_KINDS.get(event.action)
        if (
            kind is None
            or event.kind != "decision"
            or event.actor_id is None
            or event.target_id is None
        ):
            return
        if event.media_sensitive and event.action == "media.send":
            self._child_image(event)
        rel = event.relationship or {}
        self.observe(
            kind,
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
        if not _FIRST_TIME <= t <= _LAST_TIME:  # NaN, infinite or past a datetime's range
            raise SignalEventError(f"observe({kind!r}): {_TIME_RANGE}, got {shown(at)}")
        if (actor_band is not None and not _known_band(actor_band)) or (
            target_band is not None and not _known_band(target_band)
        ):
            _bad_band(f"observe({kind!r})", actor_band, target_band)
        if not _fields_ok(actor, target, allowed, connected, mutual):
            _bad_fields(f"observe({kind!r})", actor, target, allowed, connected, mutual)
        self.events += 1
        if self._bands and time.monotonic() >= self._bands_until:
            self._refresh_bands()
        if self._scripted is not None:
            if kind == "media_request":
                self._scripted.fire(actor, target, _B_ASKED_IMAGES)
            step = self._step(
                kind, actor, target, t, actor_band, target_band, allowed, connected, mutual, text
            )
            if step is not None:
                state = self._scripted.apply_events(
                    self.config, (step,), state=bool(self._listeners)
                )[0]
                if state is not None and self._listeners:
                    self._notify_state(step[2], t, state)
            return
        if kind == "block" or kind == "report":  # noqa: PLR1714 - cheapest on the hot path
            total = self._on_block(kind, actor, target, t)
            if total >= 0:
                self._settle(target, t, total)
            return
        bands = self._bands
        a_band = actor_band or bands.get(actor) or self.band(actor) or "unknown"
        t_band = target_band or bands.get(target) or self.band(target) or "unknown"
        if a_band == "adult":
            if t_band in _MINORS:
                total = self._adult_to_minor(
                    kind, actor, target, t, allowed, connected, mutual, text
                )
                if total >= 0:
                    self._settle(actor, t, total)
        elif a_band in _MINORS and t_band == "adult":
            if kind in _REQUESTS and not connected and mutual < self.config.min_mutual:
                # A child adding an adult stranger: the pair is the adult's.
                total = self._child_request(target, actor, t, kind)
                if total >= 0:
                    self._settle(target, t, total)
            elif kind == "message" and not self.config.count_replies:
                self.store.fire(target, actor, _B_CHILD_WROTE)

    def observe_many(self, events: Iterable[SignalEvent], *, batch: int = 1000) -> None:
        """Many events, in order, as :meth:`observe` would take them one by one, with the
        same scores and flags.

        On a store that runs every rule of an event in one script on its server
        (:class:`~childsafe.signals.RedisSignalStore`), ``batch`` events go in one
        pipeline: one round trip for all of them instead of one each, and a batch is
        checked whole before any of it is applied. Flag listeners are called once a
        batch is back, in the events' order. Other stores take the events one by one.
        """
        size: object = batch
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise SignalEventError(f"observe_many: batch must be a positive integer, got {batch!r}")
        scripted = self._scripted
        if scripted is None:
            failed: list[SignalListenerError] = []
            for i, e in enumerate(events):
                if not isinstance(e, SignalEvent):
                    raise SignalEventError(
                        f"observe_many: event {i} must be a SignalEvent, got {e!r}"
                    )
                try:
                    self.observe(
                        e.kind,
                        e.actor,
                        e.target,
                        at=e.at,
                        actor_band=e.actor_band,
                        target_band=e.target_band,
                        allowed=e.allowed,
                        connected=e.connected,
                        mutual=e.mutual,
                        text=e.text,
                    )
                except SignalListenerError as err:  # the event was applied: go on
                    failed.append(err)
            if len(failed) == 1:
                raise failed[0]
            if failed:
                raise SignalListenerError(
                    f"observe_many: flag listeners failed on {len(failed)} flags "
                    f"(every event was applied, every listener called with every flag): "
                    f"{'; '.join(map(str, failed[:3]))}"
                ) from failed[0]
            return
        chunk: list[SignalEvent] = []
        for e in events:
            chunk.append(e)
            if len(chunk) >= batch:
                self._apply_batch(scripted, chunk)
                chunk = []
        if chunk:
            self._apply_batch(scripted, chunk)

    def _apply_batch(self, scripted: EventSignalStore, chunk: list[SignalEvent]) -> None:
        times: list[float] = []
        for i, e in enumerate(chunk):
            if not isinstance(e, SignalEvent):
                raise SignalEventError(
                    f"observe_many: event {i} of a batch must be a SignalEvent, got {e!r}"
                )
            if e.kind not in KINDS:
                raise SignalEventError(
                    f"observe_many: event {i} of a batch: unknown kind {e.kind!r}; expected "
                    f"one of {', '.join(sorted(KINDS))}"
                )
            at = e.at
            t = at if type(at) is float else _seconds(at, self._clock, f"observe_many (event {i})")
            if not _FIRST_TIME <= t <= _LAST_TIME:
                raise SignalEventError(
                    f"observe_many: event {i} of a batch: {_TIME_RANGE}, got {shown(at)}"
                )
            if (e.actor_band is not None and not _known_band(e.actor_band)) or (
                e.target_band is not None and not _known_band(e.target_band)
            ):
                _bad_band(f"observe_many: event {i} of a batch", e.actor_band, e.target_band)
            if not _fields_ok(e.actor, e.target, e.allowed, e.connected, e.mutual):
                _bad_fields(
                    f"observe_many: event {i} of a batch",
                    e.actor,
                    e.target,
                    e.allowed,
                    e.connected,
                    e.mutual,
                )
            times.append(t)
        self._refresh_bands()
        bands = self._bands
        missing = {
            a
            for e in chunk
            if e.kind not in _BLOCKS
            for a, given in ((e.actor, e.actor_band), (e.target, e.target_band))
            if not given and a not in bands
        }
        if missing:
            names = sorted(missing)
            for name, band in zip(names, scripted.bands(names), strict=True):
                if band is not None:
                    bands[name] = band
        steps: list[tuple[StoreEvent, float]] = []
        for e, t in zip(chunk, times, strict=True):
            step = self._step(
                e.kind,
                e.actor,
                e.target,
                t,
                e.actor_band,
                e.target_band,
                e.allowed,
                e.connected,
                e.mutual,
                e.text,
                bands_only=True,
            )
            if step is not None:
                steps.append((step, t))
        self.events += len(chunk)
        for e in chunk:
            if e.kind == "media_request":
                scripted.fire(e.actor, e.target, _B_ASKED_IMAGES)
        if not steps:
            return
        results = scripted.apply_events(
            self.config, [s for s, _ in steps], state=bool(self._listeners)
        )
        if self._listeners:
            # A listener that raises on one flag must not cost the batch's later flags:
            # they were raised in the store already and would never come again.
            failed: list[SignalListenerError] = []
            for (step, t), state in zip(steps, results, strict=True):
                if state is not None:
                    try:
                        self._notify_state(step[2], t, state)
                    except SignalListenerError as e:
                        failed.append(e)
            if failed:
                if len(failed) == 1:
                    raise failed[0]
                raise SignalListenerError(
                    f"observe_many: flag listeners failed on {len(failed)} flags of a batch "
                    f"(every listener was called with every flag): "
                    f"{'; '.join(map(str, failed[:3]))}"
                ) from failed[0]

    def _step(
        self,
        kind: str,
        actor: str,
        target: str,
        t: float,
        actor_band: str | None,
        target_band: str | None,
        allowed: bool,
        connected: bool,
        mutual: int,
        text: str | None,
        *,
        bands_only: bool = False,
    ) -> StoreEvent | None:
        """The event as one step of a scripted store (``None``: no rule reads it).
        ``bands_only``: use only the bands already known here (a batch fetched them)."""
        ts = repr(t)
        bands = self._bands
        if kind in _BLOCKS:
            return ("b10", kind, target, actor, ts, "0", bands.get(target, ""))
        if bands_only:
            a_band = actor_band or bands.get(actor) or "unknown"
            t_band = target_band or bands.get(target) or "unknown"
        else:
            a_band = actor_band or bands.get(actor) or self.band(actor) or "unknown"
            t_band = target_band or bands.get(target) or self.band(target) or "unknown"
        cfg = self.config
        if a_band == "adult":
            if t_band not in _MINORS or kind == "profile_view":
                return None
            head = ("a1" if allowed else "a0") + (
                "1" if not connected and mutual < cfg.min_mutual else "0"
            )
            if text is None:
                return (head, kind, actor, target, ts, str(mutual), "adult")
            off, off_why, phrase, phrase_why = 0, "", 0, ""
            trusted = connected and mutual >= cfg.trusted_mutual
            app = cfg.apps_in(text)
            if app is not None:
                off = cfg.trusted_text_points if trusted else cfg.off_platform_points
                off_why = f"a {kind} to a minor naming another messaging app ({app!r})"
            found = cfg.phrase_in(text) if kind == "message" else None
            if found is not None:
                phrase = cfg.trusted_text_points if trusted else cfg.phrase_points
                phrase_why = (
                    f"a message to a minor asking for images or secrecy (matched {found!r})"
                )
            return (
                *(head, kind, actor, target, ts, str(mutual), "adult"),
                *(str(off), off_why, str(phrase), phrase_why),
            )
        if a_band in _MINORS and t_band == "adult":
            if kind in _REQUESTS and not connected and mutual < cfg.min_mutual:
                return ("c11", kind, target, actor, ts, str(mutual), "adult")
            if kind == "message" and not cfg.count_replies:
                return ("w10", kind, target, actor, ts, str(mutual), "adult")
        return None

    def _child_image(self, event: DecisionEvent) -> None:
        """A minor tried to send a flagged image to an adult: after that adult asked
        them for images, the sequence grooming for images follows."""
        child, adult = event.actor_id, event.target_id
        assert child is not None
        assert adult is not None
        bands = self._bands
        child_band = event.actor_band or bands.get(child) or self.band(child) or "unknown"
        adult_band = event.target_band or bands.get(adult) or self.band(adult)
        store = self.store
        if (
            child_band in _MINORS
            and adult_band == "adult"
            and store.mask(adult, child) & _B_ASKED_IMAGES
            and store.fire(adult, child, _B_CHILD_IMAGE)
        ):
            t = event.time.timestamp()
            total = self._add(
                adult,
                child,
                Rule.SECRECY,
                t,
                "media_send",
                self.config.image_after_request_points,
                "the minor tried to send this adult an image flagged as sensitive after "
                "the adult asked them for images",
            )
            self._settle(adult, t, total)

    def _on_block(self, kind: str, child: str, other: str, t: float) -> int:
        """The block's rules; the adult's score if they added points, else -1."""
        store = self.store
        store.block(child, other, t, store.idents(other), self.config.block_memory)
        if (
            store.mask(other, child) & _B_STRANGER
            and (self._bands.get(other) or self.band(other)) == "adult"
            and store.fire(other, child, _B_BLOCKED)
        ):
            verb = "blocked" if kind == "block" else "reported"
            return self._add(
                other,
                child,
                Rule.AFTER_BLOCK,
                t,
                kind,
                self.config.blocked_points,
                f"the child {verb} this adult stranger after being contacted",
            )
        return -1

    # -- rules ------------------------------------------------------------------------

    def _add(
        self, actor: str, child: str | None, rule: Rule, t: float, kind: str, points: int, why: str
    ) -> int:
        """Add the evidence; the actor's score after it."""
        return self.store.add_evidence(
            actor, (rule.value, t, kind, child, points, why), self.config.evidence_per_pair
        )

    def _settle(self, actor: str, t: float, total: int) -> None:
        """After an event's rules (``total``: the actor's score after the last rule that
        added points): flag the actor once if its score reached the flag score and rose
        beyond its last flag."""
        if total < self.config.flag_score:
            return
        before = self.store.raise_flag(actor, total)
        if before is not None:
            self._notify(actor, t, before)

    def _notify(self, actor: str, t: float, before: int) -> None:
        if not self._listeners:
            return
        best, fan, best_child, rows = self.store.actor(actor)
        pair_rows = [] if best_child is None else self.store.pair(actor, best_child)[1]
        self._notify_state(actor, t, (before, best, fan, best_child, rows, pair_rows))

    def _notify_state(self, actor: str, t: float, state: FlagState) -> None:
        """Tell the listeners, from the actor's state as the flag was raised."""
        before, best, fan, best_child, rows, pair_rows = state
        pair = None
        if best_child is not None:
            pair = Score(actor, best_child, best, tuple(_evidence(r) for r in pair_rows))
        evidence = sorted([*rows, *pair_rows], key=lambda r: r[1])
        score = Score(actor, None, best + fan, tuple(_evidence(r) for r in evidence))
        flag = Flag(_utc(t), score, pair, before)
        failed: list[tuple[FlagListener, Exception]] = []
        for listener in self._listeners:
            # The store has recorded this rise: a listener's error must not keep the flag
            # from the listeners after it (the case opener behind a failing audit trail
            # would never see this crossing again).
            try:
                listener(flag)
            except Exception as e:
                log.exception("signals: flag listener %r failed on the flag of %r", listener, actor)
                failed.append((listener, e))
        if failed:
            named = "; ".join(f"{lis!r:.80} raised {type(e).__name__}: {e}" for lis, e in failed)
            raise SignalListenerError(
                f"flag of {actor!r:.80} (score {score.score}): {len(failed)} of "
                f"{len(self._listeners)} flag listener(s) failed, the others were called: "
                f"{named}"
            ) from failed[0][1]

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
    ) -> int:
        """The rules on an adult reaching a minor; the adult's score after the last
        that added points, or -1 if none did."""
        cfg = self.config
        if kind == "profile_view":
            return -1
        store = self.store
        total = -1
        if kind == "media_request":
            store.fire(actor, child, _B_ASKED_IMAGES)
        if (
            not connected
            and mutual < cfg.min_mutual
            and (
                kind != "message"
                or cfg.count_replies
                or not store.mask(actor, child) & _B_CHILD_WROTE
            )
        ):
            if store.fire(actor, child, _B_STRANGER):
                total = self._add(
                    actor,
                    child,
                    Rule.STRANGER_CONTACT,
                    t,
                    kind,
                    cfg.stranger_points,
                    f"{kind} from an adult to a minor with no connection and "
                    f"{mutual} mutual connection(s)",
                )
            if not allowed and store.fire(actor, child, _B_DENIED):
                total = self._add(
                    actor,
                    child,
                    Rule.STRANGER_CONTACT,
                    t,
                    kind,
                    cfg.denied_points,
                    f"a denied {kind}: the adult tried to reach the child anyway",
                )
            total = max(total, self._fan_out(actor, child, t, kind))
            if kind in _REQUESTS:
                store.request(actor, child, t, cfg.escalation_window)
        bit = _ESCALATE.get(kind)
        if bit is not None:
            mask = store.escalate(actor, child, bit, t, cfg.escalation_window)
            if mask.bit_count() >= cfg.escalation_steps and store.fire(actor, child, _B_ESCALATION):
                names = " and ".join(n for n, b in _ESCALATE.items() if mask & b)
                total = self._add(
                    actor,
                    child,
                    Rule.ESCALATION,
                    t,
                    kind,
                    cfg.escalation_points,
                    f"{names} within {cfg.escalation_window / 3600:g} hours of a "
                    "connection request between an adult stranger and the child",
                )
        if text is not None:
            trusted = connected and mutual >= cfg.trusted_mutual
            app = cfg.apps_in(text)
            if app is not None and store.fire(actor, child, _B_OFF):
                total = self._add(
                    actor,
                    child,
                    Rule.OFF_PLATFORM,
                    t,
                    kind,
                    cfg.trusted_text_points if trusted else cfg.off_platform_points,
                    f"a {kind} to a minor naming another messaging app ({app!r})",
                )
            phrase = cfg.phrase_in(text) if kind == "message" else None
            if phrase is not None and store.fire(actor, child, _B_SECRECY):
                total = self._add(
                    actor,
                    child,
                    Rule.SECRECY,
                    t,
                    kind,
                    cfg.trusted_text_points if trusted else cfg.phrase_points,
                    f"a message to a minor asking for images or secrecy (matched {phrase!r})",
                )
        if store.any_blocks():
            total = max(total, self._after_block(actor, child, t, kind))
        return total

    def _fan_out(self, actor: str, child: str, t: float, kind: str) -> int:
        cfg = self.config
        distinct = self.store.reach(actor, child, t, cfg.fan_out_window)
        if distinct < cfg.fan_out_children:
            return -1
        before = self.store.raise_level(actor, distinct)
        if before is None:
            return -1
        added = self._fan_points(distinct) - self._fan_points(before)
        if added <= 0:
            return -1
        return self._add(
            actor,
            None,
            Rule.FAN_OUT,
            t,
            kind,
            added,
            f"reached {distinct} distinct unconnected minors within "
            f"{cfg.fan_out_window / 3600:g} hours",
        )

    def _fan_points(self, level: int) -> int:
        cfg = self.config
        if level < cfg.fan_out_children:
            return 0
        return cfg.fan_out_points + min(level - cfg.fan_out_children, 8) * cfg.fan_out_extra_points

    def _child_request(self, actor: str, child: str, t: float, kind: str) -> int:
        self.store.request(actor, child, t, self.config.escalation_window)
        if self.store.fire(actor, child, _B_STRANGER):
            return self._add(
                actor,
                child,
                Rule.STRANGER_CONTACT,
                t,
                kind,
                self.config.stranger_points,
                f"the child sent an adult stranger a {kind.replace('_', ' ')}",
            )
        return -1

    def _after_block(self, actor: str, child: str, t: float, kind: str) -> int:
        found = self.store.blocked_since(child, actor, self.store.idents(actor))
        if found is None or t - found[0] > self.config.block_memory:
            return -1
        if not self.store.fire(actor, child, _B_BLOCK):
            return -1
        if found[1]:
            why = f"a {kind} after the child blocked or reported this account"
        else:
            why = (
                f"a {kind} from an account sharing an identifier with an account the "
                "child blocked or reported"
            )
        return self._add(
            actor, child, Rule.AFTER_BLOCK, t, kind, self.config.after_block_points, why
        )

    # -- scores -----------------------------------------------------------------------

    def pair_score(self, actor: str, child: str) -> Score:
        """The (``actor``, ``child``) pair's score and its evidence."""
        score, rows = self.store.pair(actor, child)
        return Score(actor, child, score, tuple(_evidence(r) for r in rows))

    def actor_score(self, actor: str) -> Score:
        """The actor's score: its highest pair score plus the actor-wide rules (fan-out),
        with the evidence of both."""
        best, fan, best_child, rows = self.store.actor(actor)
        if best_child is not None:
            rows.extend(self.store.pair(actor, best_child)[1])
        rows.sort(key=lambda r: r[1])
        return Score(actor, None, best + fan, tuple(_evidence(r) for r in rows))

    def friction(
        self, recipient: str, sender: str, *, interstitial_at: int = 20, requests_at: int = 40
    ) -> Friction:
        """The friction for ``recipient`` (a child) receiving from ``sender``: call it when
        delivering or rendering messages, never from :meth:`Guard.check
        <childsafe.Guard.check>` (which stays pure). Reads the state only."""
        pair_score, rows = self.store.pair(sender, recipient)
        best, fan, _, actor_rows = self.store.actor(sender)
        score = max(pair_score, best + fan)
        rules = frozenset(Rule(r[0]) for r in (*rows, *actor_rows))
        return Friction(score >= interstitial_at, score >= requests_at, score, rules)

    def flagged(self) -> list[Score]:
        """The actors whose score reached ``config.flag_score``, highest first."""
        out = [self.actor_score(a) for a in self.store.flagged()]
        out.sort(key=lambda s: (-s.score, s.actor))
        return out
