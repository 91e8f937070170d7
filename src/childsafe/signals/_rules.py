"""The rules: what each one looks for, its parameters, and why it matters."""

from __future__ import annotations

import datetime as dt
import enum
import math
import re
import unicodedata
from collections.abc import Iterable
from typing import Final

import attrs

from childsafe._parsing import shown
from childsafe.signals._errors import SignalConfigError, SignalEventError

__all__ = [
    "DEFAULT_MESSAGING_APPS",
    "RULES",
    "Evidence",
    "Rule",
    "RuleInfo",
    "Score",
    "SignalsConfig",
]


class Rule(enum.StrEnum):
    """The rules a score is made of."""

    STRANGER_CONTACT = "stranger_contact"
    FAN_OUT = "fan_out"
    ESCALATION = "escalation"
    OFF_PLATFORM = "off_platform"
    SECRECY = "secrecy_or_images"
    AFTER_BLOCK = "after_block"


@attrs.frozen
class RuleInfo:
    """A rule in words: what it looks for (``looks_for``) and why it matters (``why``,
    with the source that says so)."""

    rule: Rule
    looks_for: str
    why: str


RULES: Final[tuple[RuleInfo, ...]] = (
    RuleInfo(
        Rule.STRANGER_CONTACT,
        "An adult tries to contact a minor they are not connected to and share few or no "
        "connections with; a denied attempt counts too, since the attempt is the signal.",
        "Ofcom's Illegal Content Codes of Practice for user-to-user services (2024) make "
        "'no contact from unconnected accounts' a default for children because strangers "
        "reaching children directly is how grooming starts; the NSPCC reports that most "
        "grooming offences it sees begin with contact on a social platform.",
    ),
    RuleInfo(
        Rule.FAN_OUT,
        "One adult reaches many distinct unconnected minors within a window.",
        "The NSPCC and Ofcom describe offenders messaging many children at once and "
        "pursuing the few who answer; Roblox's Sentinel looks for exactly this breadth "
        "over a user's recent activity.",
    ),
    RuleInfo(
        Rule.ESCALATION,
        "A child adds (or is added by) an adult stranger, then within a short time the "
        "contact escalates: private messages, media requests, links.",
        "Rapid movement from a first connection to private, intimate contact is a "
        "recognised grooming pattern (NSPCC; Ofcom's illegal harms register, CSEA "
        "chapter), and the child adding the adult is no evidence of safety.",
    ),
    RuleInfo(
        Rule.OFF_PLATFORM,
        "Links or handles for other messaging apps sent by an adult to a minor.",
        "Offenders move children to hidden or encrypted apps where the platform's "
        "protections and reporting do not reach (NSPCC; Ofcom's illegal harms register).",
    ),
    RuleInfo(
        Rule.SECRECY,
        "Requests for images or for secrecy sent to a minor, matched against a phrase list "
        "the platform opts in to (and supplies in its own languages); and a minor trying to "
        "send a flagged image to an adult who asked them for images.",
        "Asking a child for images or to keep the contact secret are core grooming "
        "behaviours named by the NSPCC and in Ofcom's illegal harms register.",
    ),
    RuleInfo(
        Rule.AFTER_BLOCK,
        "Contact after the child blocked or reported the account, including from another "
        "account sharing a device or network identifier the platform passes.",
        "Returning on new accounts after a block is persistence the child has already "
        "refused; Ofcom's codes expect blocks to hold and repeat offenders to be dealt with.",
    ),
)

DEFAULT_MESSAGING_APPS: Final[tuple[str, ...]] = (
    "whatsapp",
    "wa.me",
    "telegram",
    "t.me",
    "snapchat",
    "snap:",
    "kik",
    "discord",
    "signal.me",
    "signal.group",
    "wickr",
    "session id",
    "threema",
    "line.me",
    "wechat",
    "viber",
)
"""Names and link hosts of messaging apps the off-platform rule looks for (lower case)."""


def _positive(name: str, value: float) -> None:
    number: object = value
    # NaN compares false with everything, so `<= 0` let it through: a NaN flag_score
    # never flagged anyone and a NaN window never matched; infinity is refused too.
    if (
        isinstance(number, bool)
        or not isinstance(number, int | float)
        or (isinstance(number, float) and not math.isfinite(number))
        or number <= 0
    ):
        raise SignalConfigError(
            f"SignalsConfig.{name} must be a positive number, got {shown(value)}"
        )


# Letters of other scripts drawn like Latin ones (after casefolding: Cyrillic a e o p c y
# x i j s h d q w l, Greek a o p v i k u, Latin dotless i, alpha and script g), and
# typographic quotes: "whatsapp" spelt with a Cyrillic a, or "don't tell" with a curly
# apostrophe, reads as the Latin word to a child, so the text rules read it so too.
# Phrases are folded the same way, so a phrase list in Cyrillic or Greek still matches
# its own language.
_CONFUSABLES: Final = str.maketrans(
    "\u0430\u0435\u043e\u0440\u0441\u0443\u0445\u0456\u0458\u0455\u04bb\u0501\u051b\u051d\u04cf\u03b1\u03bf\u03c1\u03bd\u03b9\u03ba\u03c5\u0131\u0251\u0261\u2018\u2019\u02bc\u2032\u201c\u201d",
    "aeopcyxijshdqwlaopvikuiag''''\"\"",
)
_HIDDEN: Final = frozenset({"Mn", "Me", "Cf"})
"""Combining marks and invisible format characters (zero-width space and joiners, soft
hyphen, direction marks): dropped, so "whats\u200bapp" or "wh\u0301atsapp" is
"whatsapp"."""


def fold(text: str) -> str:
    """``text`` as the text rules compare it: lower case, compatibility forms (full-width
    and styled letters, ligatures) as plain ones, combining marks and invisible format
    characters dropped, look-alike letters of other scripts as Latin, each run of
    white space one space."""
    if text.isascii():
        folded = text.lower()
    else:
        plain = "".join(
            c for c in unicodedata.normalize("NFKD", text) if unicodedata.category(c) not in _HIDDEN
        )
        folded = unicodedata.normalize("NFKC", plain.casefold().translate(_CONFUSABLES))
    return " ".join(folded.split())


def _patterns(name: str, values: Iterable[str]) -> re.Pattern[str] | None:
    items = tuple(values)
    for item in items:
        text: object = item
        if not isinstance(text, str) or not text.strip():
            raise SignalConfigError(
                f"SignalsConfig.{name} must hold non-empty strings, got {item!r}"
            )
    if not items:
        return None
    return re.compile("|".join(re.escape(fold(i)) for i in items))


def _folded(call: str, text: str) -> str:
    given: object = text
    if not isinstance(given, str):
        raise SignalEventError(f"{call}: text must be a string, got {shown(given)}")
    return fold(text)


@attrs.frozen
class SignalsConfig:
    """Every parameter of every rule.

    Windows are in seconds. ``flag_score`` is the actor score at which a flag is
    raised (responses may choose their own higher thresholds). ``phrases`` is empty by
    default: the secrecy and image rule only runs when the platform opts in, passes the
    message text, and supplies its phrase list.
    """

    min_mutual: int = 2
    """Fewer shared connections than this counts as strangers."""
    stranger_points: int = 10
    denied_points: int = 5
    """Added once per pair when an adult's contact attempt was denied."""
    fan_out_children: int = 3
    fan_out_window: float = 48 * 3600.0
    fan_out_points: int = 40
    fan_out_extra_points: int = 5
    """Per child beyond ``fan_out_children`` (at most 8 more)."""
    escalation_window: float = 72 * 3600.0
    escalation_steps: int = 2
    """Distinct kinds of escalation (message, media request, link) after the request."""
    escalation_points: int = 30
    off_platform_points: int = 35
    trusted_mutual: int = 3
    """A connected pair sharing at least this many connections is well known (a family
    member, a family friend): the text rules add only ``trusted_text_points`` there."""
    trusted_text_points: int = 10
    count_replies: bool = False
    """Whether an adult's message to an unconnected child who wrote to the adult first
    counts as reaching out (stranger contact, fan-out); off by default: a creator
    answering fans is not reaching out."""
    messaging_apps: tuple[str, ...] = DEFAULT_MESSAGING_APPS
    phrases: tuple[str, ...] = ()
    phrase_points: int = 40
    image_after_request_points: int = 40
    """Added once per pair when a minor tries to send an image flagged as sensitive to
    an adult who asked them for images (a media request)."""
    after_block_points: int = 50
    blocked_points: int = 30
    """Added when the child blocks or reports an adult stranger who contacted them."""
    block_memory: float = 180 * 86400.0
    flag_score: int = 40
    evidence_per_pair: int = 16

    _apps_re: re.Pattern[str] | None = attrs.field(init=False, repr=False, eq=False)
    _phrases_re: re.Pattern[str] | None = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        for f in attrs.fields(type(self)):
            if f.name.startswith("_") or f.name in {
                "messaging_apps",
                "phrases",
                "min_mutual",
                "count_replies",
            }:
                continue
            _positive(f.name, getattr(self, f.name))
        if isinstance(self.min_mutual, bool) or not isinstance(self.min_mutual, int):
            raise SignalConfigError(
                f"SignalsConfig.min_mutual must be an integer, got {self.min_mutual!r}"
            )
        if self.min_mutual < 0:
            raise SignalConfigError(f"SignalsConfig.min_mutual must be >= 0, got {self.min_mutual}")
        object.__setattr__(self, "_apps_re", _patterns("messaging_apps", self.messaging_apps))
        object.__setattr__(self, "_phrases_re", _patterns("phrases", self.phrases))

    def apps_in(self, text: str) -> str | None:
        """The first messaging app named in ``text``, if any (compared folded: lower
        case, look-alike letters, full-width forms and zero-width characters do not hide
        a name)."""
        if self._apps_re is None:
            return None
        m = self._apps_re.search(_folded("apps_in", text))
        return None if m is None else m.group(0)

    def phrase_in(self, text: str) -> str | None:
        """The first opted-in phrase found in ``text``, if any (compared folded, as
        :meth:`apps_in` compares)."""
        if self._phrases_re is None:
            return None
        m = self._phrases_re.search(_folded("phrase_in", text))
        return None if m is None else m.group(0)


@attrs.frozen
class Evidence:
    """One rule firing: which ``rule``, when, on which kind of event, about which
    ``child`` (``None`` for actor-wide rules), how many ``points``, and why."""

    rule: Rule
    at: dt.datetime
    kind: str
    child: str | None
    points: int
    explanation: str

    def to_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {
            "rule": self.rule.value,
            "at": self.at.isoformat(),
            "kind": self.kind,
            "child": self.child,
            "points": self.points,
            "explanation": self.explanation,
        }


def _utc(at: dt.datetime) -> str:
    """``at`` in UTC to the second: ``2026-01-01 02:00:00 UTC`` (a naive time is UTC)."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
    return f"{aware.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC"


@attrs.frozen
class Score:
    """A risk score for an ``actor`` (and ``child``, for a pair score) with the
    evidence that produced it, most recent last."""

    actor: str
    child: str | None
    score: int
    evidence: tuple[Evidence, ...]

    @property
    def rules(self) -> frozenset[Rule]:
        """The rules that contributed."""
        return frozenset(e.rule for e in self.evidence)

    def explain(self) -> str:
        """The score in words, one line per piece of evidence (its time in UTC, to the
        second, as a moderator reads it; :meth:`to_dict` keeps the exact time).

        .. versionchanged:: 0.2.0 times read ``2026-01-01 02:00:00 UTC``, not ISO 8601
           with microseconds."""
        who = self.actor if self.child is None else f"{self.actor} -> {self.child}"
        lines = [f"risk score {self.score} for {who}"]
        lines.extend(
            f"  +{e.points} {e.rule.value} at {_utc(e.at)}: {e.explanation}" for e in self.evidence
        )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {
            "actor": self.actor,
            "child": self.child,
            "score": self.score,
            "evidence": [e.to_dict() for e in self.evidence],
        }
