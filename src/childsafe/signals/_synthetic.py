"""Synthetic event streams for evaluating the rules: labelled grooming-like patterns and
hard benign look-alikes, reproducible from a seed.

The patterns are drawn from the behaviours the rules' sources describe; the benign
look-alikes are the people a naive rule would flag: families, classmates, teachers'
class accounts, coaches, creators with many young followers, young adults among
school friends, and teen-to-teen contact. Nothing here is real data.

:data:`EVALUATION_SEED` was chosen when this generator was committed, before any rule
was tuned; tuning uses other seeds.
"""

from __future__ import annotations

import random
from typing import Final, NamedTuple

import attrs

__all__ = [
    "EVALUATION_SEED",
    "EXAMPLE_PHRASES",
    "HARMFUL_PATTERNS",
    "LOOK_ALIKES",
    "Instance",
    "StreamEvent",
    "SyntheticStream",
    "generate",
]

EVALUATION_SEED: Final = 20261205
"""The seed `childsafe signals evaluate` reports on (fixed before tuning)."""

EXAMPLE_PHRASES: Final[tuple[str, ...]] = (
    "don't tell",
    "dont tell",
    "our secret",
    "keep this between us",
    "delete this chat",
    "send me a pic",
    "send a photo of you",
    "are you alone",
)
"""An example English phrase list for the secrecy and image rule (the platform's own
list replaces it)."""

HARMFUL_PATTERNS: Final = (
    "fan_out",
    "child_initiated",
    "off_platform",
    "secrecy",
    "return_after_block",
    "slow_burn",
    "mostly_denied",
)
LOOK_ALIKES: Final = (
    "adult_only",
    "family",
    "one_off",
    "teacher",
    "coach",
    "creator",
    "family_friend",
    "young_adult",
)

H: Final = 3600.0
D: Final = 86400.0
_APPS: Final = (
    "https://t.me/",
    "https://wa.me/44",
    "add me on snapchat ",
    "my kik is ",
    "discord: ",
    "https://signal.me/#p/",
)
_BENIGN_LINKS: Final = (
    "https://www.youtube.com/watch?v=",
    "https://classroom.example.edu/assignment/",
    "https://club.example.org/fixtures/",
    "https://www.bbc.co.uk/bitesize/",
)
_CHATTER: Final = ("hi", "how was school", "see you saturday", "well done today", "ok")
_MINOR_BANDS: Final = ("under_13", "13_15", "13_15", "16_17", "16_17")


class StreamEvent(NamedTuple):
    """One event: what :meth:`Signals.observe <childsafe.signals.Signals.observe>` takes."""

    t: float
    kind: str
    actor: str
    target: str
    actor_band: str
    target_band: str
    allowed: bool
    connected: bool
    mutual: int
    text: str | None


@attrs.frozen
class Instance:
    """One labelled harmful case: its ``pattern``, the ``accounts`` the person used and
    the time of the first harmful event."""

    id: str
    pattern: str
    accounts: tuple[str, ...]
    first_harm: float


@attrs.frozen
class SyntheticStream:
    """A stream: its ``events`` in time order, the ``accounts`` (band, identifiers),
    the harmful ``instances`` and the benign adults by look-alike kind."""

    seed: int
    start: float
    events: list[StreamEvent]
    accounts: dict[str, tuple[str, tuple[str, ...]]]
    instances: tuple[Instance, ...]
    benign: dict[str, str]

    @property
    def mix(self) -> dict[str, int]:
        """How many events of each kind."""
        out: dict[str, int] = {}
        for e in self.events:
            out[e.kind] = out.get(e.kind, 0) + 1
        return dict(sorted(out.items()))


class _Builder:
    def __init__(self, seed: int, start: float, days: float, children: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
        self.start = start
        self.end = start + days * D
        self.events: list[StreamEvent] = []
        self.accounts: dict[str, tuple[str, tuple[str, ...]]] = {}
        self.kids = [f"c{i}" for i in range(children)]
        for kid in self.kids:
            self.accounts[kid] = (self.rng.choice(_MINOR_BANDS), ())
        self.adults = 0
        self.adult_names: list[str] = []

    def adult(self, prefix: str, idents: tuple[str, ...] = ()) -> str:
        self.adults += 1
        name = f"{prefix}{self.adults}"
        self.accounts[name] = ("adult", idents)
        self.adult_names.append(name)
        return name

    def when(self, margin: float = 7 * D) -> float:
        return self.start + self.rng.random() * max(self.end - self.start - margin, D)

    def add(
        self,
        t: float,
        kind: str,
        actor: str,
        target: str,
        *,
        allowed: bool = True,
        connected: bool = False,
        mutual: int = 0,
        text: str | None = None,
    ) -> None:
        if t > self.end:
            return
        self.events.append(
            StreamEvent(
                t,
                kind,
                actor,
                target,
                self.accounts[actor][0],
                self.accounts[target][0],
                allowed,
                connected,
                mutual,
                text,
            )
        )

    def some_kids(self, n: int) -> list[str]:
        return self.rng.sample(self.kids, n)

    def chatter(self) -> str:
        return self.rng.choice(_CHATTER)


# -- harmful patterns ------------------------------------------------------------------


def _fan_out(b: _Builder, i: int) -> Instance:
    r = b.rng
    a = b.adult("u")
    t0 = b.when()
    t = t0
    for kid in b.some_kids(r.randint(6, 15)):
        t += r.uniform(0.2, 4) * H
        kind = r.choice(("message", "friend_request", "message"))
        b.add(t, kind, a, kid, allowed=r.random() < 0.5, mutual=r.choice((0, 0, 0, 1)))
    return Instance(f"i{i}", "fan_out", (a,), t0 + 0.2 * H)


def _child_initiated(b: _Builder, i: int) -> Instance:
    r = b.rng
    a = b.adult("u")
    kid = b.some_kids(1)[0]
    t0 = b.when()
    b.add(t0, "friend_request", kid, a)
    t = t0 + r.uniform(1, 24) * H
    b.add(t, "message", a, kid, connected=True, text=b.chatter())
    t += r.uniform(1, 40) * H
    b.add(t, "message", a, kid, connected=True, text="you look older than you are")
    t += r.uniform(1, 24) * H
    b.add(t, r.choice(("media_request", "link")), a, kid, connected=True,
          text=r.choice(("https://example.com/game", "pic?")))  # fmt: skip
    return Instance(f"i{i}", "child_initiated", (a,), t0)


def _off_platform(b: _Builder, i: int) -> Instance:
    r = b.rng
    a = b.adult("u")
    kid = b.some_kids(1)[0]
    t0 = b.when()
    t = t0
    for _ in range(r.randint(2, 5)):
        b.add(t, "message", a, kid, mutual=r.choice((0, 1)), text=b.chatter())
        t += r.uniform(2, 30) * H
    app = r.choice(_APPS) + str(r.randint(1000, 9999))
    if r.random() < 0.5:
        b.add(t, "link", a, kid, text=app)
    else:
        b.add(t, "message", a, kid, text=f"this app is rubbish, {app}")
    return Instance(f"i{i}", "off_platform", (a,), t0)


def _secrecy(b: _Builder, i: int) -> Instance:
    r = b.rng
    a = b.adult("u")
    kid = b.some_kids(1)[0]
    t0 = b.when()
    b.add(t0, "friend_request", a, kid, mutual=r.choice((0, 1)))
    t = t0 + r.uniform(2, 48) * H
    for _ in range(r.randint(1, 4)):
        b.add(t, "message", a, kid, connected=True, text=b.chatter())
        t += r.uniform(2, 24) * H
    phrase = r.choice(EXAMPLE_PHRASES)
    b.add(t, "message", a, kid, connected=True, text=f"ok but {phrase} x")
    return Instance(f"i{i}", "secrecy", (a,), t0)


def _return_after_block(b: _Builder, i: int) -> Instance:
    r = b.rng
    device = f"dev-h{i}"
    a1 = b.adult("u", (device,))
    a2 = b.adult("u", (device,))
    kid = b.some_kids(1)[0]
    t0 = b.when()
    t = t0
    for _ in range(r.randint(1, 3)):
        b.add(t, "message", a1, kid, mutual=0, text=b.chatter())
        t += r.uniform(0.5, 6) * H
    b.add(t, r.choice(("block", "report")), kid, a1)
    t += r.uniform(1, 7) * D
    b.add(t, "friend_request", a2, kid, allowed=r.random() < 0.5)
    b.add(t + r.uniform(0.1, 5) * H, "message", a2, kid, text=b.chatter())
    return Instance(f"i{i}", "return_after_block", (a1, a2), t0)


def _slow_burn(b: _Builder, i: int) -> Instance:
    r = b.rng
    a = b.adult("u")
    t0 = b.start + r.random() * 7 * D
    for kid in b.some_kids(r.randint(1, 3)):
        t = t0 + r.uniform(0, 3) * D
        b.add(t, "friend_request", a, kid, mutual=r.choice((0, 1)))
        weeks = r.uniform(2, 4)
        end = t + weeks * 7 * D
        while t < end:
            t += r.uniform(3, 7) * D
            b.add(t, "message", a, kid, connected=True, text=b.chatter())
        last = r.choice(("media_request", "off", "phrase"))
        if last == "media_request":
            b.add(t + H, "media_request", a, kid, connected=True)
            b.add(t + 2 * H, "message", a, kid, connected=True, text=b.chatter())
        elif last == "off":
            b.add(t + H, "link", a, kid, connected=True, text=r.choice(_APPS) + "x")
        else:
            b.add(t + H, "message", a, kid, connected=True, text=r.choice(EXAMPLE_PHRASES))
    return Instance(f"i{i}", "slow_burn", (a,), t0)


def _mostly_denied(b: _Builder, i: int) -> Instance:
    r = b.rng
    a = b.adult("u")
    t0 = b.when()
    t = t0
    kids = b.some_kids(r.randint(3, 8))
    for _ in range(r.randint(6, 20)):
        kid = r.choice(kids)
        t += r.uniform(0.5, 12) * H
        b.add(t, r.choice(("message", "message", "friend_request")), a, kid,
              allowed=r.random() < 0.2)  # fmt: skip
    return Instance(f"i{i}", "mostly_denied", (a,), t0 + 0.5 * H)


_HARM = {
    "fan_out": _fan_out,
    "child_initiated": _child_initiated,
    "off_platform": _off_platform,
    "secrecy": _secrecy,
    "return_after_block": _return_after_block,
    "slow_burn": _slow_burn,
    "mostly_denied": _mostly_denied,
}

# -- benign look-alikes ----------------------------------------------------------------


def _adult_only(b: _Builder, a: str) -> None:
    others = [n for n in b.adult_names[-50:] if n != a]
    for _ in range(b.rng.randint(1, 6)):
        if others:
            b.add(b.when(0), "message", a, b.rng.choice(others), connected=True, text=b.chatter())


def _family(b: _Builder, a: str) -> None:
    r = b.rng
    for kid in b.some_kids(r.randint(1, 3)):
        t = b.when(0)
        for _ in range(r.randint(2, 12)):
            t += r.uniform(1, 72) * H
            roll = r.random()
            if roll < 0.08:
                b.add(t, "link", a, kid, connected=True, mutual=r.randint(3, 30),
                      text="https://chat.whatsapp.com/familygroup")  # fmt: skip
            elif roll < 0.15:
                b.add(t, "message", a, kid, connected=True, mutual=r.randint(3, 30),
                      text="send me a pic of the timetable please")  # fmt: skip
            elif roll < 0.25:
                b.add(t, "media_request", a, kid, connected=True, mutual=r.randint(3, 30))
            elif roll < 0.35:
                b.add(t, "link", a, kid, connected=True, mutual=r.randint(3, 30),
                      text=r.choice(_BENIGN_LINKS) + "x")  # fmt: skip
            else:
                b.add(t, "message", a, kid, connected=True, mutual=r.randint(3, 30),
                      text=b.chatter())  # fmt: skip


def _one_off(b: _Builder, a: str) -> None:
    r = b.rng
    kid = b.some_kids(1)[0]
    b.add(b.when(0), r.choice(("message", "friend_request", "follow")), a, kid,
          mutual=r.choice((0, 1, 1, 2)), allowed=r.random() < 0.6)  # fmt: skip


def _teacher(b: _Builder, a: str) -> None:
    r = b.rng
    t0 = b.when()
    kids = b.some_kids(r.randint(15, 30))
    for kid in kids:
        b.add(t0 + r.uniform(0, 48) * H, "friend_request", kid, a, mutual=r.randint(0, 3))
    t = t0 + 24 * H
    b.add(t, "group", a, kids[0], connected=True)
    for kid in kids[1:]:
        b.add(t, "group", a, kid, connected=True)
    for _ in range(r.randint(3, 10)):
        t += r.uniform(12, 72) * H
        kid = r.choice(kids)
        b.add(t, "message", a, kid, connected=True, text="homework is on the page")
        b.add(t + 60, "link", a, kid, connected=True, text=r.choice(_BENIGN_LINKS) + "hw")


def _coach(b: _Builder, a: str) -> None:
    r = b.rng
    kids = b.some_kids(r.randint(10, 20))
    t = b.when()
    for kid in kids:
        b.add(t, "group", a, kid, connected=True, mutual=r.randint(2, 15))
    for _ in range(r.randint(4, 15)):
        t += r.uniform(12, 96) * H
        b.add(t, "message", a, r.choice(kids), connected=True, mutual=r.randint(2, 15),
              text="training moved to 6pm")  # fmt: skip


def _creator(b: _Builder, a: str) -> None:
    r = b.rng
    t0 = b.when()
    fans = b.some_kids(r.randint(30, 200))
    for kid in fans:
        b.add(t0 + r.uniform(0, 5) * D, "follow", kid, a)
    for kid in r.sample(fans, r.randint(3, 15)):
        t = t0 + r.uniform(0, 6) * D
        b.add(t, "message", kid, a, text="love your videos")
        b.add(t + r.uniform(1, 48) * H, "message", a, kid, text="thank you!! x")


def _family_friend(b: _Builder, a: str) -> None:
    r = b.rng
    for kid in b.some_kids(r.randint(1, 4)):
        b.add(b.when(0), "message", a, kid, mutual=r.randint(2, 12), text=b.chatter())


def _young_adult(b: _Builder, a: str) -> None:
    r = b.rng
    peers = [k for k in b.some_kids(40) if b.accounts[k][0] == "16_17"][: r.randint(3, 8)]
    t = b.when()
    for kid in peers:
        t += r.uniform(0.5, 24) * H
        b.add(t, r.choice(("message", "friend_request", "follow")), a, kid,
              mutual=r.choice((0, 1, 2, 3, 4, 6)), text=b.chatter())  # fmt: skip


_LOOK = {
    "adult_only": (_adult_only, 0.40),
    "family": (_family, 0.25),
    "one_off": (_one_off, 0.10),
    "teacher": (_teacher, 0.03),
    "coach": (_coach, 0.04),
    "creator": (_creator, 0.03),
    "family_friend": (_family_friend, 0.10),
    "young_adult": (_young_adult, 0.05),
}


def _teens(b: _Builder, n: int) -> None:
    r = b.rng
    for _ in range(n):
        x, y = b.some_kids(2)
        b.add(b.when(0), r.choice(("message", "friend_request", "follow", "profile_view")), x, y,
              connected=r.random() < 0.6, text=b.chatter())  # fmt: skip


def generate(
    seed: int,
    *,
    benign_adults: int = 10_000,
    instances: int = 350,
    children: int = 20_000,
    teen_events: int = 60_000,
    days: float = 42.0,
    start: float = 1_767_225_600.0,  # 2026-01-01T00:00:00Z
) -> SyntheticStream:
    """A labelled stream from ``seed``: ``benign_adults`` benign adults split among the
    look-alikes, ``instances`` harmful cases spread evenly over the patterns, teen-to-
    teen traffic, over ``days`` days."""
    b = _Builder(seed, start, days, children)
    benign: dict[str, str] = {}
    kinds = list(_LOOK)
    weights = [_LOOK[k][1] for k in kinds]
    for _ in range(benign_adults):
        kind = b.rng.choices(kinds, weights)[0]
        a = b.adult("u")
        benign[a] = kind
        _LOOK[kind][0](b, a)
    found = [_HARM[HARMFUL_PATTERNS[i % len(HARMFUL_PATTERNS)]](b, i) for i in range(instances)]
    _teens(b, teen_events)
    b.events.sort(key=lambda e: e.t)
    return SyntheticStream(seed, start, b.events, b.accounts, tuple(found), benign)
