"""A small social network over SQLite, shared by the example apps.

Plain ``sqlite3`` (one short-lived connection per call, so it is safe under threaded
servers). :class:`SocialRepository` is what childsafe needs from an app: accounts and
the relationship between two of them.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from childsafe import Account, AgeBand, Relationship

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    birth_date TEXT,
    jurisdiction TEXT NOT NULL DEFAULT 'GB',
    timezone TEXT NOT NULL DEFAULT 'Europe/London',
    bio TEXT NOT NULL DEFAULT '',
    settings TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS connections (
    a TEXT NOT NULL REFERENCES accounts(id),
    b TEXT NOT NULL REFERENCES accounts(id),
    PRIMARY KEY (a, b)
);
CREATE TABLE IF NOT EXISTS friend_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    from_id TEXT NOT NULL REFERENCES accounts(id),
    to_id TEXT NOT NULL REFERENCES accounts(id),
    created TEXT NOT NULL,
    UNIQUE (from_id, to_id)
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    from_id TEXT NOT NULL REFERENCES accounts(id),
    to_id TEXT NOT NULL REFERENCES accounts(id),
    text TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS locations (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id),
    place TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS parents (
    parent_id TEXT NOT NULL REFERENCES accounts(id),
    child_id TEXT NOT NULL REFERENCES accounts(id),
    PRIMARY KEY (parent_id, child_id)
);
CREATE TABLE IF NOT EXISTS locks (
    account_id TEXT NOT NULL REFERENCES accounts(id),
    setting TEXT NOT NULL,
    PRIMARY KEY (account_id, setting)
);
CREATE TABLE IF NOT EXISTS consent_grants (
    id TEXT PRIMARY KEY,
    child_id TEXT NOT NULL REFERENCES accounts(id),
    guardian_id TEXT NOT NULL REFERENCES accounts(id),
    scope TEXT NOT NULL,
    token TEXT NOT NULL,
    issued TEXT NOT NULL,
    expires TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS blocks (
    a TEXT NOT NULL REFERENCES accounts(id),
    b TEXT NOT NULL REFERENCES accounts(id),
    PRIMARY KEY (a, b)
);
"""

# id, name, age (None: adult with a fixed birth year), bio
SEED_PEOPLE: tuple[tuple[str, str, int | None, str], ...] = (
    ("maya", "Maya", 12, "Drawing, cats and the school choir."),
    ("sam", "Sam", 15, "Football on Saturdays. Learning the guitar."),
    ("alex", "Alex", 17, "Sixth form. Photography and running."),
    ("jamie", "Jamie", 16, "Chess club and coding."),
    ("lena", "Lena", 15, "Lives in Dublin. Drama club and hurling."),
    ("stranger", "Dan (a stranger)", 34, "Just here to make friends!"),
    ("aunt_jo", "Aunt Jo", 45, "Maya and Sam's aunt."),
    ("parent_pat", "Pat (parent)", 41, "Parent of Maya, Sam and Lena."),
    ("coach_lee", "Coach Lee", 38, "Running coach."),
    ("riley", "Riley", 29, "Photographer."),
)
# Where the accounts not in the UK live: (jurisdiction, time zone). Lena is in Ireland,
# whose age of digital consent is 16: at 15 she needs a parent's consent for profiling.
SEED_HOMES: dict[str, tuple[str, str]] = {"lena": ("IE", "Europe/Dublin")}
SEED_CONNECTIONS = (
    ("maya", "aunt_jo"),
    ("sam", "aunt_jo"),
    ("alex", "aunt_jo"),
    ("maya", "parent_pat"),
    ("sam", "parent_pat"),
    ("maya", "sam"),
    ("alex", "jamie"),
    ("alex", "coach_lee"),
    ("aunt_jo", "parent_pat"),
    ("aunt_jo", "riley"),
    ("lena", "parent_pat"),
    ("lena", "sam"),
    ("stranger", "riley"),
)
SEED_PARENTS = (("parent_pat", "maya"), ("parent_pat", "sam"), ("parent_pat", "lena"))
SEED_LOCATIONS = (
    ("maya", "Riverside Park"),
    ("sam", "Central Library"),
    ("alex", "Harbour Running Track"),
    ("aunt_jo", "Market Street Cafe"),
)
SEED_MESSAGES = (
    ("aunt_jo", "sam", "Good luck at the match on Saturday!"),
    ("parent_pat", "maya", "Dinner at 6, don't be late."),
)


def _today() -> dt.date:
    """Today's date in the UK, where the demo accounts live."""
    return dt.datetime.now(ZoneInfo("Europe/London")).date()


def _birth_date(age: int, today: dt.date) -> dt.date:
    """A birth date making someone ``age`` today, with their birthday 100 days away."""
    upcoming = today + dt.timedelta(days=100)
    try:
        return upcoming.replace(year=upcoming.year - age - 1)
    except ValueError:  # 29 February
        return (upcoming - dt.timedelta(days=1)).replace(year=upcoming.year - age - 1)


@attrs.frozen
class Person:
    """An account as the app shows it."""

    id: str
    name: str
    bio: str
    birth_date: dt.date | None
    jurisdiction: str
    timezone: str
    settings: dict[str, Any]


class SocialDB:
    """The example apps' store."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        with self._db() as db:
            db.executescript(SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=10)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        try:
            with conn:
                yield conn
        finally:
            conn.close()

    # -- seeding ----------------------------------------------------------------

    def is_empty(self) -> bool:
        with self._db() as db:
            return int(db.execute("SELECT COUNT(*) FROM accounts").fetchone()[0]) == 0

    def seed(self, today: dt.date | None = None) -> None:
        """Fill an empty store with the demo accounts (ages relative to ``today``)."""
        day = today or _today()
        now = dt.datetime.now(dt.UTC).isoformat()
        with self._db() as db:
            for ident, name, age, bio in SEED_PEOPLE:
                born = _birth_date(age, day) if age is not None else None
                jurisdiction, timezone = SEED_HOMES.get(ident, ("GB", "Europe/London"))
                db.execute(
                    "INSERT OR IGNORE INTO accounts "
                    "(id, name, birth_date, jurisdiction, timezone, bio) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (ident, name, born.isoformat() if born else None, jurisdiction, timezone, bio),
                )
            for a, b in SEED_CONNECTIONS:
                db.executemany(
                    "INSERT OR IGNORE INTO connections (a, b) VALUES (?, ?)", [(a, b), (b, a)]
                )
            db.executemany("INSERT OR IGNORE INTO parents VALUES (?, ?)", SEED_PARENTS)
            db.executemany(
                "INSERT OR REPLACE INTO locations VALUES (?, ?, ?)",
                [(a, p, now) for a, p in SEED_LOCATIONS],
            )
            db.executemany(
                "INSERT INTO messages (from_id, to_id, text, created) VALUES (?, ?, ?, ?)",
                [(a, b, t, now) for a, b, t in SEED_MESSAGES],
            )

    def add_account(
        self,
        ident: str,
        name: str,
        age: int | None,
        *,
        jurisdiction: str = "GB",
        today: dt.date | None = None,
    ) -> None:
        """Add an account ``age`` years old today (``None``: its age is unknown), with
        no connections: how the conformance tests make an account of each age band."""
        born = _birth_date(age, today or _today()) if age is not None else None
        with self._db() as db:
            db.execute(
                "INSERT INTO accounts (id, name, birth_date, jurisdiction) VALUES (?, ?, ?, ?)",
                (ident, name, born.isoformat() if born else None, jurisdiction),
            )

    def sign_up(
        self, ident: str, name: str, born: dt.date, *, jurisdiction: str, timezone: str
    ) -> bool:
        """Add an account through the sign-up page; ``False`` if ``ident`` is taken."""
        with self._db() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO accounts (id, name, birth_date, jurisdiction, timezone) "
                "VALUES (?, ?, ?, ?, ?)",
                (ident, name, born.isoformat(), jurisdiction, timezone),
            )
            return cur.rowcount == 1

    def link_parent(self, parent: str, child: str) -> None:
        """Link ``parent`` as ``child``'s parent (what the demo seeds for Pat)."""
        with self._db() as db:
            db.execute("INSERT OR IGNORE INTO parents VALUES (?, ?)", (parent, child))

    # -- accounts ---------------------------------------------------------------

    @staticmethod
    def _person(row: sqlite3.Row) -> Person:
        return Person(
            id=row["id"],
            name=row["name"],
            bio=row["bio"],
            birth_date=dt.date.fromisoformat(row["birth_date"]) if row["birth_date"] else None,
            jurisdiction=row["jurisdiction"],
            timezone=row["timezone"],
            settings=json.loads(row["settings"]),
        )

    def person(self, ident: str) -> Person | None:
        with self._db() as db:
            row = db.execute("SELECT * FROM accounts WHERE id = ?", (ident,)).fetchone()
        return None if row is None else self._person(row)

    def people(self) -> list[Person]:
        with self._db() as db:
            ids = [r["id"] for r in db.execute("SELECT id FROM accounts ORDER BY rowid")]
        return [p for i in ids if (p := self.person(i)) is not None]

    def account(self, ident: str, today: dt.date | None = None) -> Account | None:
        """The childsafe :class:`~childsafe.Account` for ``ident`` as stored: its age
        band from the declared birth date, its own settings, its linked guardians and
        the settings a parent locked. (Consent grants are verified on top of this by
        :meth:`examples.common.playground.Playground.account`.)"""
        found = self.account_and_grants(ident, today)
        return None if found is None else found[0]

    def account_and_grants(
        self, ident: str, today: dt.date | None = None
    ) -> tuple[Account, list[str]] | None:
        """:meth:`account` and the consent grant tokens kept for it, in one connection."""
        with self._db() as db:
            row = db.execute("SELECT * FROM accounts WHERE id = ?", (ident,)).fetchone()
            if row is None:
                return None
            guardians = [
                r[0]
                for r in db.execute("SELECT parent_id FROM parents WHERE child_id = ?", (ident,))
            ]
            locks = [
                r[0] for r in db.execute("SELECT setting FROM locks WHERE account_id = ?", (ident,))
            ]
            tokens = [
                r[0]
                for r in db.execute(
                    "SELECT token FROM consent_grants WHERE child_id = ? ORDER BY issued, rowid",
                    (ident,),
                )
            ]
        person = self._person(row)
        account = Account(
            id=person.id,
            band=AgeBand.from_birth_date(person.birth_date, on=today or _today()),
            jurisdiction=person.jurisdiction,
            settings=person.settings,
            timezone=person.timezone,
            guardians=guardians,
            locks=locks,
        )
        return account, tokens

    def save_settings(self, ident: str, settings: dict[str, Any]) -> None:
        """Store an account's own setting values (as childsafe returned them)."""
        plain = {
            k: (str(v) if v is not None and not isinstance(v, int | str) else v)
            for k, v in settings.items()
        }
        with self._db() as db:
            db.execute("UPDATE accounts SET settings = ? WHERE id = ?", (json.dumps(plain), ident))

    def locks(self, ident: str) -> list[str]:
        """The settings a parent locked on ``ident``'s account."""
        with self._db() as db:
            return [
                r["setting"]
                for r in db.execute(
                    "SELECT setting FROM locks WHERE account_id = ? ORDER BY setting", (ident,)
                )
            ]

    def save_locks(self, ident: str, locks: frozenset[str] | set[str]) -> None:
        """Replace the parent locks on ``ident``'s account."""
        with self._db() as db:
            db.execute("DELETE FROM locks WHERE account_id = ?", (ident,))
            db.executemany(
                "INSERT INTO locks (account_id, setting) VALUES (?, ?)",
                [(ident, name) for name in sorted(locks)],
            )

    # -- consent grants -----------------------------------------------------------

    def add_grant(
        self,
        grant_id: str,
        child: str,
        guardian: str,
        scope: str,
        token: str,
        issued: dt.datetime,
        expires: dt.datetime,
    ) -> None:
        """Keep a signed consent grant with the child's account."""
        with self._db() as db:
            db.execute(
                "INSERT INTO consent_grants VALUES (?, ?, ?, ?, ?, ?, ?)",
                (grant_id, child, guardian, scope, token, issued.isoformat(), expires.isoformat()),
            )

    def grants(self, child: str) -> list[dict[str, str]]:
        """Every consent grant kept for ``child``, oldest first (revoked ones too: the
        revocation list, not this table, says whether a grant still counts)."""
        with self._db() as db:
            rows = db.execute(
                "SELECT * FROM consent_grants WHERE child_id = ? ORDER BY issued, rowid",
                (child,),
            ).fetchall()
        return [{k: str(row[k]) for k in row.keys()} for row in rows]  # noqa: SIM118 - sqlite3.Row

    # -- relationships ----------------------------------------------------------

    def connections(self, ident: str) -> list[str]:
        with self._db() as db:
            return [
                r["b"]
                for r in db.execute("SELECT b FROM connections WHERE a = ? ORDER BY b", (ident,))
            ]

    def connected(self, a: str, b: str) -> bool:
        with self._db() as db:
            return (
                db.execute("SELECT 1 FROM connections WHERE a = ? AND b = ?", (a, b)).fetchone()
                is not None
            )

    def mutual_connections(self, a: str, b: str) -> int:
        with self._db() as db:
            return int(
                db.execute(
                    "SELECT COUNT(*) FROM connections x JOIN connections y ON x.b = y.b "
                    "WHERE x.a = ? AND y.a = ?",
                    (a, b),
                ).fetchone()[0]
            )

    def block(self, a: str, b: str) -> None:
        """``a`` blocks ``b``."""
        with self._db() as db:
            db.execute("INSERT OR IGNORE INTO blocks (a, b) VALUES (?, ?)", (a, b))

    def blocked(self, a: str, b: str) -> bool:
        with self._db() as db:
            return (
                db.execute(
                    "SELECT 1 FROM blocks WHERE (a = ? AND b = ?) OR (a = ? AND b = ?)",
                    (a, b, b, a),
                ).fetchone()
                is not None
            )

    def relationship(self, a: str, b: str) -> Relationship:
        """How ``a`` relates to ``b`` (one connection for the three questions)."""
        with self._db() as db:
            connected = db.execute(
                "SELECT 1 FROM connections WHERE a = ? AND b = ?", (a, b)
            ).fetchone()
            mutual = db.execute(
                "SELECT COUNT(*) FROM connections x JOIN connections y ON x.b = y.b "
                "WHERE x.a = ? AND y.a = ?",
                (a, b),
            ).fetchone()[0]
            blocked = db.execute(
                "SELECT 1 FROM blocks WHERE (a = ? AND b = ?) OR (a = ? AND b = ?)",
                (a, b, b, a),
            ).fetchone()
        return Relationship(
            connected=connected is not None,
            mutual_connections=int(mutual),
            blocked=blocked is not None,
        )

    def connect(self, a: str, b: str) -> None:
        with self._db() as db:
            db.executemany(
                "INSERT OR IGNORE INTO connections (a, b) VALUES (?, ?)", [(a, b), (b, a)]
            )
            db.execute(
                "DELETE FROM friend_requests "
                "WHERE (from_id = ? AND to_id = ?) OR (from_id = ? AND to_id = ?)",
                (a, b, b, a),
            )

    def children_of(self, parent: str) -> list[str]:
        with self._db() as db:
            return [
                r["child_id"]
                for r in db.execute("SELECT child_id FROM parents WHERE parent_id = ?", (parent,))
            ]

    def parents_of(self, child: str) -> list[str]:
        with self._db() as db:
            return [
                r["parent_id"]
                for r in db.execute("SELECT parent_id FROM parents WHERE child_id = ?", (child,))
            ]

    def suggestion_candidates(self, ident: str) -> list[dict[str, Any]]:
        """Everyone not yet connected, most mutual connections first. The app must
        still ask childsafe who may be suggested: this list includes children."""
        mine = set(self.connections(ident))
        out: list[dict[str, Any]] = []
        for person in self.people():
            if person.id == ident or person.id in mine:
                continue
            out.append(
                {
                    "id": person.id,
                    "name": person.name,
                    "mutual_connections": self.mutual_connections(ident, person.id),
                }
            )
        out.sort(key=lambda c: (-int(c["mutual_connections"]), str(c["name"])))
        return out

    # -- friend requests --------------------------------------------------------

    def request_friend(self, from_id: str, to_id: str) -> None:
        now = dt.datetime.now(dt.UTC).isoformat()
        with self._db() as db:
            db.execute(
                "INSERT OR IGNORE INTO friend_requests (from_id, to_id, created) VALUES (?, ?, ?)",
                (from_id, to_id, now),
            )

    def requests_for(self, ident: str) -> list[dict[str, Any]]:
        with self._db() as db:
            rows = db.execute(
                "SELECT r.id, r.from_id, a.name FROM friend_requests r "
                "JOIN accounts a ON a.id = r.from_id WHERE r.to_id = ? ORDER BY r.id",
                (ident,),
            ).fetchall()
        return [{"id": r["id"], "from_id": r["from_id"], "name": r["name"]} for r in rows]

    def accept_request(self, request_id: int, ident: str) -> bool:
        with self._db() as db:
            row = db.execute(
                "SELECT from_id FROM friend_requests WHERE id = ? AND to_id = ?",
                (request_id, ident),
            ).fetchone()
        if row is None:
            return False
        self.connect(row["from_id"], ident)
        return True

    # -- messages and locations -------------------------------------------------

    def send_message(self, from_id: str, to_id: str, text: str) -> int:
        now = dt.datetime.now(dt.UTC).isoformat()
        with self._db() as db:
            cur = db.execute(
                "INSERT INTO messages (from_id, to_id, text, created) VALUES (?, ?, ?, ?)",
                (from_id, to_id, text, now),
            )
            return int(cur.lastrowid or 0)

    def inbox(self, ident: str) -> list[dict[str, Any]]:
        with self._db() as db:
            rows = db.execute(
                "SELECT m.id, m.from_id, a.name, m.text, m.created FROM messages m "
                "JOIN accounts a ON a.id = m.from_id WHERE m.to_id = ? ORDER BY m.id DESC",
                (ident,),
            ).fetchall()
        return [
            {
                "id": r["id"],
                "from_id": r["from_id"],
                "from_name": r["name"],
                "text": r["text"],
                "created": r["created"],
            }
            for r in rows
        ]

    def check_in(self, ident: str, place: str) -> None:
        now = dt.datetime.now(dt.UTC).isoformat()
        with self._db() as db:
            db.execute("INSERT OR REPLACE INTO locations VALUES (?, ?, ?)", (ident, place, now))

    def location(self, ident: str) -> dict[str, str] | None:
        with self._db() as db:
            row = db.execute(
                "SELECT place, updated FROM locations WHERE account_id = ?", (ident,)
            ).fetchone()
        return {"place": row["place"], "updated": row["updated"]} if row else None


class SocialRepository:
    """childsafe's :class:`~childsafe.AccountRepository` over :class:`SocialDB`."""

    def __init__(self, db: SocialDB) -> None:
        self.db = db

    def get_account(self, account_id: str) -> Account | None:
        return self.db.account(account_id)

    def relationship(self, actor: Account, target: Account) -> Relationship:
        return self.db.relationship(actor.id, target.id)
