"""Where the signals' state lives: one small protocol of atomic steps, in this
process's memory and in SQLite (shared by the worker processes of one machine).

Every step is atomic on its own (a SQLite ``BEGIN IMMEDIATE`` transaction, a Redis Lua
script or ``MULTI``), so several processes feeding one store see one sliding window per
actor and one history per pair: a fan-out split across workers is still one fan-out.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

from childsafe.signals._errors import SignalStoreError

if TYPE_CHECKING:
    from childsafe.signals._rules import SignalsConfig

__all__ = [
    "EventSignalStore",
    "EvidenceRow",
    "FlagState",
    "MemorySignalStore",
    "SQLiteSignalStore",
    "SignalStore",
    "StoreEvent",
]

EvidenceRow = tuple[str, float, str, "str | None", int, str]
"""(rule, epoch seconds, event kind, child or None, points, explanation)."""

StoreEvent = tuple[str, ...]
"""One event as the engine hands it to an :class:`EventSignalStore`: the step and two
flags in one string (the step ``"a"``: an adult reaching a minor, ``"c"``: a child's
connection request to an adult stranger, ``"w"``: a child writing to an adult, ``"b"``:
the child blocked or reported the adult; then ``"1"``/``"0"`` for allowed and for
stranger), the kind, the adult, the child, ``repr`` of the epoch seconds, the mutual
connections, the adult's band if known (else ``""``), and for a text the off-platform
points and explanation and the phrase points and explanation."""


@runtime_checkable
class SignalStore(Protocol):
    """The atomic steps the rules are made of."""

    shared: bool
    """Whether other processes may feed the same state."""

    def set_account(
        self, account: str, band: str | None, assurance: str | None, idents: tuple[str, ...]
    ) -> None:
        """Record what the platform says about an account."""

    def band(self, account: str) -> str | None:
        """The account's band, if known."""

    def idents(self, account: str) -> tuple[str, ...]:
        """The device or network identifiers passed for the account."""

    def fire(self, actor: str, child: str, bit: int) -> bool:
        """Set ``bit`` in the pair's fired mask; whether it was newly set."""

    def mask(self, actor: str, child: str) -> int:
        """The pair's fired mask."""

    def reach(self, actor: str, child: str, t: float, window: float) -> int:
        """Record that ``actor`` reached ``child`` at ``t``; how many distinct children
        it reached within ``window`` seconds up to ``t``."""

    def raise_level(self, actor: str, level: int) -> int | None:
        """Raise the actor's fan-out level to ``level``; the previous level if it rose,
        else ``None``."""

    def request(self, actor: str, child: str, t: float, window: float) -> None:
        """A connection request at ``t`` opens an escalation window unless one is open."""

    def escalate(self, actor: str, child: str, bit: int, t: float, window: float) -> int:
        """Add ``bit`` to the pair's escalation mask if a request window is open at ``t``;
        the mask (0 when no window is open)."""

    def add_evidence(self, actor: str, row: EvidenceRow, keep: int) -> int:
        """Add ``row`` (``row[3]`` is the child, or ``None`` for an actor-wide rule) to
        the pair or the actor, keeping the last ``keep`` rows, and its points to the
        scores; the actor's total score after it."""

    def raise_flag(self, actor: str, total: int) -> int | None:
        """Record ``total`` as the actor's flagged score if higher; the previous one (0
        if never flagged) if it rose, else ``None``."""

    def block(self, child: str, other: str, t: float, idents: tuple[str, ...], keep: float) -> None:
        """``child`` blocked or reported ``other`` at ``t`` (remember it ``keep`` s)."""

    def blocked_since(
        self, child: str, actor: str, idents: tuple[str, ...]
    ) -> tuple[float, bool] | None:
        """When ``child`` blocked ``actor`` (``True``) or an account sharing one of
        ``idents`` (``False``), if it did."""

    def any_blocks(self) -> bool:
        """Whether any block may be recorded (lets the memory store skip a lookup)."""

    def pair(self, actor: str, child: str) -> tuple[int, list[EvidenceRow]]:
        """The pair's score and evidence."""

    def actor(self, actor: str) -> tuple[int, int, str | None, list[EvidenceRow]]:
        """The actor's best pair score, fan-out points, best child, actor-wide evidence."""

    def flagged(self) -> list[str]:
        """The actors ever flagged."""


FlagState = tuple[int, int, int, "str | None", list[EvidenceRow], list[EvidenceRow]]
"""An actor's state when an event raised its flag: (its previous flagged score, best pair
score, fan-out points, best child, actor-wide evidence, the best pair's evidence)."""


@runtime_checkable
class EventSignalStore(SignalStore, Protocol):
    """A store that applies every rule to an event in one atomic step on its server
    (one round trip), and many events in one pipeline."""

    def apply_events(
        self, config: SignalsConfig, events: Sequence[StoreEvent], *, state: bool = True
    ) -> list[FlagState | None]:
        """Apply every rule to each event, in order, each atomically; per event the
        actor's state if the event raised its flag (only its previous flagged score
        without ``state``), else ``None``."""

    def bands(self, accounts: Sequence[str]) -> list[str | None]:
        """The bands of ``accounts``, in one round trip."""


class MemorySignalStore:
    """The state in this process's memory: plain dicts and deques."""

    shared = False

    def __init__(self) -> None:
        self._bands: dict[str, str] = {}
        self._assurance: dict[str, str] = {}
        self._idents: dict[str, tuple[str, ...]] = {}
        self._fired: dict[tuple[str, str], int] = {}
        self._windows: dict[str, tuple[deque[tuple[float, str]], dict[str, float]]] = {}
        self._levels: dict[str, int] = {}
        self._requests: dict[tuple[str, str], list[float]] = {}
        self._pairs: dict[tuple[str, str], list[Any]] = {}
        self._actors: dict[str, list[Any]] = {}
        self._flags: dict[str, int] = {}
        self._blocks: dict[tuple[str, str], float] = {}
        self._blocked_idents: dict[str, dict[str, float]] = {}
        self._prune_at = 1024

    def set_account(
        self, account: str, band: str | None, assurance: str | None, idents: tuple[str, ...]
    ) -> None:
        if band is not None:
            self._bands[account] = band
        if assurance is not None:
            self._assurance[account] = assurance
        if idents:
            self._idents[account] = idents

    def band(self, account: str) -> str | None:
        return self._bands.get(account)

    def idents(self, account: str) -> tuple[str, ...]:
        return self._idents.get(account, ())

    def fire(self, actor: str, child: str, bit: int) -> bool:
        key = (actor, child)
        mask = self._fired.get(key, 0)
        if mask & bit:
            return False
        self._fired[key] = mask | bit
        return True

    def mask(self, actor: str, child: str) -> int:
        return self._fired.get((actor, child), 0)

    def reach(self, actor: str, child: str, t: float, window: float) -> int:
        state = self._windows.get(actor)
        if state is None:
            state = self._windows[actor] = (deque(), {})
        times, seen = state
        start = t - window
        while times and times[0][0] < start:
            t0, c0 = times.popleft()
            if seen.get(c0) == t0:
                del seen[c0]
        seen[child] = t
        times.append((t, child))
        return len(seen)

    def raise_level(self, actor: str, level: int) -> int | None:
        before = self._levels.get(actor, 0)
        if level <= before:
            return None
        self._levels[actor] = level
        return before

    def request(self, actor: str, child: str, t: float, window: float) -> None:
        key = (actor, child)
        req = self._requests.get(key)
        if req is None or t - req[0] > window:
            self._requests[key] = [t, 0]

    def escalate(self, actor: str, child: str, bit: int, t: float, window: float) -> int:
        req = self._requests.get((actor, child))
        if req is None or not 0 <= t - req[0] <= window:
            return 0
        mask = int(req[1]) | bit
        req[1] = mask
        return mask

    def add_evidence(self, actor: str, row: EvidenceRow, keep: int) -> int:
        arec = self._actors.get(actor)
        if arec is None:
            arec = self._actors[actor] = [0, 0, None, deque(maxlen=keep)]
        child = row[3]
        if child is None:
            arec[1] += row[4]
            arec[3].append(row)
        else:
            key = (actor, child)
            rec = self._pairs.get(key)
            if rec is None:
                rec = self._pairs[key] = [0, deque(maxlen=keep)]
            rec[0] += row[4]
            rec[1].append(row)
            if rec[0] > arec[0]:
                arec[0] = rec[0]
                arec[2] = child
        return int(arec[0] + arec[1])

    def raise_flag(self, actor: str, total: int) -> int | None:
        before = self._flags.get(actor, 0)
        if total <= before:
            return None
        self._flags[actor] = total
        return before

    def block(self, child: str, other: str, t: float, idents: tuple[str, ...], keep: float) -> None:
        self._blocks[(child, other)] = t
        for ident in idents:
            self._blocked_idents.setdefault(ident, {})[child] = t
        if len(self._blocks) > self._prune_at:
            start = t - keep
            self._blocks = {k: v for k, v in self._blocks.items() if v >= start}
            for by in self._blocked_idents.values():
                for c in [c for c, v in by.items() if v < start]:
                    del by[c]
            self._prune_at = 2 * len(self._blocks) + 1024

    def blocked_since(
        self, child: str, actor: str, idents: tuple[str, ...]
    ) -> tuple[float, bool] | None:
        since = self._blocks.get((child, actor))
        if since is not None:
            return since, True
        for ident in idents:
            by = self._blocked_idents.get(ident)
            if by is not None and child in by:
                return by[child], False
        return None

    def any_blocks(self) -> bool:
        return bool(self._blocks)

    def pair(self, actor: str, child: str) -> tuple[int, list[EvidenceRow]]:
        rec = self._pairs.get((actor, child))
        return (0, []) if rec is None else (rec[0], list(rec[1]))

    def actor(self, actor: str) -> tuple[int, int, str | None, list[EvidenceRow]]:
        arec = self._actors.get(actor)
        if arec is None:
            return 0, 0, None, []
        return arec[0], arec[1], arec[2], list(arec[3])

    def flagged(self) -> list[str]:
        return list(self._flags)


_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS signals_accounts (
    id TEXT PRIMARY KEY, band TEXT, assurance TEXT, idents TEXT);
CREATE TABLE IF NOT EXISTS signals_pairs (
    actor TEXT NOT NULL, child TEXT NOT NULL, fired INTEGER NOT NULL DEFAULT 0,
    request_t REAL, esc INTEGER NOT NULL DEFAULT 0, score INTEGER NOT NULL DEFAULT 0,
    evidence TEXT NOT NULL DEFAULT '[]', PRIMARY KEY (actor, child)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS signals_reach (
    actor TEXT NOT NULL, child TEXT NOT NULL, t REAL NOT NULL,
    PRIMARY KEY (actor, child)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS signals_actors (
    actor TEXT PRIMARY KEY, best INTEGER NOT NULL DEFAULT 0, fan INTEGER NOT NULL DEFAULT 0,
    best_child TEXT, level INTEGER NOT NULL DEFAULT 0, flagged INTEGER NOT NULL DEFAULT 0,
    evidence TEXT NOT NULL DEFAULT '[]');
CREATE TABLE IF NOT EXISTS signals_blocks (
    child TEXT NOT NULL, other TEXT NOT NULL, t REAL NOT NULL,
    PRIMARY KEY (child, other)) WITHOUT ROWID;
"""


def _rows(text: str) -> list[EvidenceRow]:
    return [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in json.loads(text)]


class SQLiteSignalStore:
    """The state in one SQLite file that the worker processes of one machine share
    (WAL mode; each step one ``BEGIN IMMEDIATE`` transaction)."""

    shared = True

    def __init__(self, path: str, *, timeout: float = 10.0) -> None:
        given: object = path
        if not isinstance(given, str | os.PathLike) or "\x00" in str(given):
            raise SignalStoreError(
                f"cannot open the signals store {given!r:.80}: expected a file path "
                "(str or os.PathLike) without NUL bytes"
            )
        self.path = path
        try:
            self._db = sqlite3.connect(
                path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as e:
            raise SignalStoreError(f"cannot open the signals store {path!r}: {e}") from e
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            except sqlite3.Error as e:
                raise SignalStoreError(f"signals store {self.path!r}: {e}") from e

    def _one(self, sql: str, args: Iterable[object]) -> Any:  # noqa: ANN401 - a row
        with self._lock:
            try:
                return self._db.execute(sql, tuple(args)).fetchone()
            except sqlite3.Error as e:
                raise SignalStoreError(f"signals store {self.path!r}: {e}") from e

    def set_account(
        self, account: str, band: str | None, assurance: str | None, idents: tuple[str, ...]
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO signals_accounts VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                "band=coalesce(excluded.band, band), "
                "assurance=coalesce(excluded.assurance, assurance), "
                "idents=coalesce(excluded.idents, idents)",
                (account, band, assurance, json.dumps(idents) if idents else None),
            )

    def band(self, account: str) -> str | None:
        row = self._one("SELECT band FROM signals_accounts WHERE id=?", (account,))
        return None if row is None else row[0]

    def idents(self, account: str) -> tuple[str, ...]:
        row = self._one("SELECT idents FROM signals_accounts WHERE id=?", (account,))
        return () if row is None or row[0] is None else tuple(json.loads(row[0]))

    def fire(self, actor: str, child: str, bit: int) -> bool:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO signals_pairs (actor, child) VALUES (?, ?)",
                       (actor, child))  # fmt: skip
            cur = db.execute(
                "UPDATE signals_pairs SET fired = fired | ?1 "
                "WHERE actor=?2 AND child=?3 AND fired & ?1 = 0",
                (bit, actor, child),
            )
            return cur.rowcount == 1

    def mask(self, actor: str, child: str) -> int:
        row = self._one("SELECT fired FROM signals_pairs WHERE actor=? AND child=?", (actor, child))
        return 0 if row is None else int(row[0])

    def reach(self, actor: str, child: str, t: float, window: float) -> int:
        with self._tx() as db:
            db.execute(
                "INSERT INTO signals_reach VALUES (?, ?, ?) ON CONFLICT(actor, child) "
                "DO UPDATE SET t=max(t, excluded.t)",
                (actor, child, t),
            )
            db.execute("DELETE FROM signals_reach WHERE actor=? AND t<?", (actor, t - window))
            row = db.execute(
                "SELECT count(*) FROM signals_reach WHERE actor=?", (actor,)
            ).fetchone()
            return int(row[0])

    def _actor_row(self, db: sqlite3.Connection, actor: str) -> None:
        db.execute("INSERT OR IGNORE INTO signals_actors (actor) VALUES (?)", (actor,))

    def raise_level(self, actor: str, level: int) -> int | None:
        with self._tx() as db:
            self._actor_row(db, actor)
            before = int(db.execute("SELECT level FROM signals_actors WHERE actor=?",
                                    (actor,)).fetchone()[0])  # fmt: skip
            if level <= before:
                return None
            db.execute("UPDATE signals_actors SET level=? WHERE actor=?", (level, actor))
            return before

    def request(self, actor: str, child: str, t: float, window: float) -> None:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO signals_pairs (actor, child) VALUES (?, ?)",
                       (actor, child))  # fmt: skip
            db.execute(
                "UPDATE signals_pairs SET request_t=?1, esc=0 WHERE actor=?2 AND child=?3 "
                "AND (request_t IS NULL OR ?1 - request_t > ?4)",
                (t, actor, child, window),
            )

    def escalate(self, actor: str, child: str, bit: int, t: float, window: float) -> int:
        with self._tx() as db:
            row = db.execute(
                "UPDATE signals_pairs SET esc = esc | ?1 WHERE actor=?2 AND child=?3 "
                "AND request_t IS NOT NULL AND ?4 - request_t BETWEEN 0 AND ?5 RETURNING esc",
                (bit, actor, child, t, window),
            ).fetchone()
            return 0 if row is None else int(row[0])

    def add_evidence(self, actor: str, row: EvidenceRow, keep: int) -> int:
        child = row[3]
        with self._tx() as db:
            self._actor_row(db, actor)
            if child is None:
                ev = db.execute("SELECT evidence FROM signals_actors WHERE actor=?",
                                (actor,)).fetchone()[0]  # fmt: skip
                rows = [*json.loads(ev), list(row)][-keep:]
                db.execute(
                    "UPDATE signals_actors SET fan=fan+?, evidence=? WHERE actor=?",
                    (row[4], json.dumps(rows), actor),
                )
            else:
                db.execute("INSERT OR IGNORE INTO signals_pairs (actor, child) VALUES (?, ?)",
                           (actor, child))  # fmt: skip
                score, ev = db.execute(
                    "SELECT score, evidence FROM signals_pairs WHERE actor=? AND child=?",
                    (actor, child),
                ).fetchone()
                score += row[4]
                rows = [*json.loads(ev), list(row)][-keep:]
                db.execute(
                    "UPDATE signals_pairs SET score=?, evidence=? WHERE actor=? AND child=?",
                    (score, json.dumps(rows), actor, child),
                )
                db.execute(
                    "UPDATE signals_actors SET best=?, best_child=? WHERE actor=? AND best<?",
                    (score, child, actor, score),
                )
            best, fan = db.execute("SELECT best, fan FROM signals_actors WHERE actor=?",
                                   (actor,)).fetchone()  # fmt: skip
            return int(best + fan)

    def raise_flag(self, actor: str, total: int) -> int | None:
        with self._tx() as db:
            self._actor_row(db, actor)
            before = int(db.execute("SELECT flagged FROM signals_actors WHERE actor=?",
                                    (actor,)).fetchone()[0])  # fmt: skip
            if total <= before:
                return None
            db.execute("UPDATE signals_actors SET flagged=? WHERE actor=?", (total, actor))
            return before

    def block(self, child: str, other: str, t: float, idents: tuple[str, ...], keep: float) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO signals_blocks VALUES (?, ?, ?)", (child, other, t))
            db.executemany(
                "INSERT OR REPLACE INTO signals_blocks VALUES (?, ?, ?)",
                [(child, "ident:" + i, t) for i in idents],
            )
            db.execute("DELETE FROM signals_blocks WHERE t<?", (t - keep,))

    def blocked_since(
        self, child: str, actor: str, idents: tuple[str, ...]
    ) -> tuple[float, bool] | None:
        row = self._one("SELECT t FROM signals_blocks WHERE child=? AND other=?", (child, actor))
        if row is not None:
            return float(row[0]), True
        for ident in idents:
            row = self._one(
                "SELECT t FROM signals_blocks WHERE child=? AND other=?", (child, "ident:" + ident)
            )
            if row is not None:
                return float(row[0]), False
        return None

    def any_blocks(self) -> bool:
        return True

    def pair(self, actor: str, child: str) -> tuple[int, list[EvidenceRow]]:
        row = self._one(
            "SELECT score, evidence FROM signals_pairs WHERE actor=? AND child=?", (actor, child)
        )
        return (0, []) if row is None else (int(row[0]), _rows(row[1]))

    def actor(self, actor: str) -> tuple[int, int, str | None, list[EvidenceRow]]:
        row = self._one(
            "SELECT best, fan, best_child, evidence FROM signals_actors WHERE actor=?", (actor,)
        )
        if row is None:
            return 0, 0, None, []
        return int(row[0]), int(row[1]), row[2], _rows(row[3])

    def flagged(self) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT actor FROM signals_actors WHERE flagged>0").fetchall()
        return [r[0] for r in rows]
