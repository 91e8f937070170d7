"""The settings catalogue and the protection lattice.

Every setting has a domain of values ordered from most to least protective. ``le(a, b)``
reads "a is at least as protective as b"; ``meet`` gives the most protective value that
is at least as protective as both (an overlay combines with it), ``join`` the least
protective value that both are at least as protective as.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from typing import Final

import attrs

from childsafe._parsing import shown
from childsafe.exceptions import InvalidSettingError

__all__ = [
    "SETTINGS",
    "EnumDomain",
    "MinutesDomain",
    "Setting",
    "SettingValue",
    "TimeWindow",
    "WindowDomain",
    "get_setting",
    "suggest",
]

DAY_MINUTES: Final = 24 * 60
_WINDOW_RE: Final = re.compile(
    r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)$", re.ASCII
)


def _check_minute(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < DAY_MINUTES:
        raise InvalidSettingError(f"{name} must be minutes in 0..1439, got {shown(value)}")


@attrs.frozen(order=False)
class TimeWindow:
    """A daily window such as ``21:00-07:00`` (it may wrap past midnight).

    ``start`` and ``end`` are minutes after midnight, local time. A window whose start
    equals its end covers the whole day. A window that contains another is the more
    protective of the two (quiet hours that cover more of the night).
    """

    start: int = attrs.field(validator=lambda _, a, v: _check_minute(a.name, v))
    end: int = attrs.field(validator=lambda _, a, v: _check_minute(a.name, v))

    def __attrs_post_init__(self) -> None:
        if self.start == self.end:  # the whole day has one spelling: 00:00-24:00
            object.__setattr__(self, "start", 0)
            object.__setattr__(self, "end", 0)

    @classmethod
    def parse(cls, text: str) -> TimeWindow:
        """Parse ``"HH:MM-HH:MM"`` (``24:00`` is accepted as an end)."""
        raw: object = text  # callers may pass anything; say what is wrong
        m = _WINDOW_RE.match(raw.strip()) if isinstance(raw, str) else None
        if m is None:
            raise InvalidSettingError(
                f"expected a daily window 'HH:MM-HH:MM' such as '21:00-07:00', got {shown(text)}"
            )
        sh, sm, eh, em = (int(g) for g in m.groups())
        if eh == 24 and em != 0:
            raise InvalidSettingError(f"24:{em:02d} is not a time of day in {text!r}")
        return cls((sh * 60 + sm), (eh * 60 + em) % DAY_MINUTES)

    @property
    def length(self) -> int:
        """How many minutes the window covers (1..1440)."""
        return (self.end - self.start) % DAY_MINUTES or DAY_MINUTES

    def contains_minute(self, minute: int) -> bool:
        """Whether ``minute`` after local midnight falls inside the window (end excluded)."""
        return (minute - self.start) % DAY_MINUTES < self.length

    def contains(self, other: TimeWindow) -> bool:
        """Whether ``other`` lies entirely inside this window."""
        if self.length == DAY_MINUTES:
            return True
        offset = (other.start - self.start) % DAY_MINUTES
        return offset + other.length <= self.length

    def hull(self, other: TimeWindow) -> TimeWindow:
        """The shortest window containing both (ties go to the earlier start)."""
        if self.contains(other):
            return self
        if other.contains(self):
            return other
        a = (self.start, max(self.length, (other.start - self.start) % DAY_MINUTES + other.length))
        b = (other.start, max(other.length, (self.start - other.start) % DAY_MINUTES + self.length))
        start, length = min(a, b, key=lambda sl: (sl[1], sl[0]))
        if length >= DAY_MINUTES:
            return TimeWindow(0, 0)
        return TimeWindow(start, (start + length) % DAY_MINUTES)

    def overlap(self, other: TimeWindow) -> TimeWindow | None:
        """The longest window inside both, or ``None`` if they do not meet."""
        if self.contains(other):
            return other
        if other.contains(self):
            return self
        pieces: list[TimeWindow] = []
        for a, b in ((self, other), (other, self)):
            # b's start inside a: the overlap runs from b.start to a's end (or b's end).
            offset = (b.start - a.start) % DAY_MINUTES
            if offset < a.length:
                length = min(a.length - offset, b.length)
                pieces.append(TimeWindow(b.start, (b.start + length) % DAY_MINUTES))
        if not pieces:
            return None
        return max(pieces, key=lambda w: (w.length, -w.start))

    def __str__(self) -> str:
        end = self.end if self.end != self.start else self.start + DAY_MINUTES
        end_text = "24:00" if end == DAY_MINUTES else f"{end // 60 % 24:02d}:{end % 60:02d}"
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{end_text}"


SettingValue = str | int | TimeWindow | None
"""A setting value: a name for enumerated settings, minutes or ``None`` for
``daily_time_reminder``, a :class:`TimeWindow` or ``None`` for ``quiet_hours``."""


@attrs.frozen
class EnumDomain:
    """Named values, most protective first."""

    values: tuple[str, ...]
    _rank: Mapping[str, int] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_rank", {v: i for i, v in enumerate(self.values)})

    def parse(self, raw: object) -> str:
        if isinstance(raw, str) and raw in self._rank:
            return raw
        hint = suggest(raw, self.values) if isinstance(raw, str) else ""
        raise InvalidSettingError(f"{shown(raw)} is not one of {self.describe()}{hint}")

    def describe(self) -> str:
        return ", ".join(repr(v) for v in self.values)

    def le(self, a: SettingValue, b: SettingValue) -> bool:
        return self._rank[a] <= self._rank[b]  # type: ignore[index]

    def meet(self, a: SettingValue, b: SettingValue) -> SettingValue:
        return a if self.le(a, b) else b

    def join(self, a: SettingValue, b: SettingValue) -> SettingValue:
        return b if self.le(a, b) else a

    @property
    def least_protective(self) -> SettingValue:
        return self.values[-1]

    def format(self, value: SettingValue) -> str:
        return str(value)


@attrs.frozen
class MinutesDomain:
    """Whole minutes per day, or ``None`` ("none"); fewer minutes is more protective."""

    def parse(self, raw: object) -> int | None:
        if raw is None or raw == "none":
            return None
        if isinstance(raw, int) and not isinstance(raw, bool) and 1 <= raw <= DAY_MINUTES:
            return raw
        raise InvalidSettingError(f"{shown(raw)} is not one of {self.describe()}")

    def describe(self) -> str:
        return "a whole number of minutes from 1 to 1440, or 'none'"

    @staticmethod
    def _key(value: SettingValue) -> float:
        return float("inf") if value is None else float(value)  # type: ignore[arg-type]

    def le(self, a: SettingValue, b: SettingValue) -> bool:
        return self._key(a) <= self._key(b)

    def meet(self, a: SettingValue, b: SettingValue) -> SettingValue:
        return a if self.le(a, b) else b

    def join(self, a: SettingValue, b: SettingValue) -> SettingValue:
        return b if self.le(a, b) else a

    @property
    def least_protective(self) -> SettingValue:
        return None

    def format(self, value: SettingValue) -> str:
        return "none" if value is None else str(value)


@attrs.frozen
class WindowDomain:
    """Daily windows, or ``None`` ("none"); a window containing another is more protective.

    This order is partial: two windows neither of which contains the other are not
    comparable, and a change from one to the other counts as loosening.
    """

    def parse(self, raw: object) -> TimeWindow | None:
        if raw is None or raw == "none":
            return None
        if isinstance(raw, TimeWindow):
            return raw
        if isinstance(raw, str):
            return TimeWindow.parse(raw)
        raise InvalidSettingError(f"{shown(raw)} is not {self.describe()}")

    def describe(self) -> str:
        return "a daily window 'HH:MM-HH:MM' (e.g. '21:00-07:00'), or 'none'"

    def le(self, a: SettingValue, b: SettingValue) -> bool:
        if b is None:
            return True
        if a is None:
            return False
        return a.contains(b)  # type: ignore[union-attr,arg-type]

    def meet(self, a: SettingValue, b: SettingValue) -> SettingValue:
        if a is None:
            return b
        if b is None:
            return a
        return a.hull(b)  # type: ignore[union-attr,arg-type]

    def join(self, a: SettingValue, b: SettingValue) -> SettingValue:
        if a is None or b is None:
            return None
        return a.overlap(b)  # type: ignore[union-attr,arg-type]

    @property
    def least_protective(self) -> SettingValue:
        return None

    def format(self, value: SettingValue) -> str:
        return "none" if value is None else str(value)


Domain = EnumDomain | MinutesDomain | WindowDomain


@attrs.frozen
class Setting:
    """One entry of the settings catalogue."""

    name: str
    domain: Domain
    summary: str

    def parse(self, raw: object) -> SettingValue:
        """Turn a config or user value into this setting's value, or raise
        :class:`~childsafe.exceptions.InvalidSettingError` naming what is allowed."""
        try:
            return self.domain.parse(raw)
        except InvalidSettingError as e:
            raise InvalidSettingError(f"{self.name}: {e}") from None

    def le(self, a: SettingValue, b: SettingValue) -> bool:
        """Whether ``a`` is at least as protective as ``b``."""
        return self.domain.le(a, b)

    def meet(self, a: SettingValue, b: SettingValue) -> SettingValue:
        """The most protective value at least as protective as both."""
        return self.domain.meet(a, b)

    def join(self, a: SettingValue, b: SettingValue) -> SettingValue:
        """The least protective value that both are at least as protective as."""
        return self.domain.join(a, b)

    def format(self, value: SettingValue) -> str:
        """``value`` as it is written in config files (``"none"`` for ``None``)."""
        return self.domain.format(value)

    def describe(self) -> str:
        """The values this setting accepts, in words."""
        return self.domain.describe()

    @property
    def least_protective(self) -> SettingValue:
        return self.domain.least_protective


def _enum(name: str, values: str, summary: str) -> Setting:
    return Setting(name, EnumDomain(tuple(values.split())), summary)


_CATALOGUE: Final = (
    _enum("profile_visibility", "connections public", "who sees the profile and posts"),
    _enum(
        "discoverable",
        "off mutual_connections everyone",
        "whether the account is shown to others in friend suggestions and people search",
    ),
    _enum(
        "friend_suggestions",
        "off mutual_connections everyone",
        "whether the account is shown suggested connections",
    ),
    _enum(
        "connections_visibility",
        "hidden connections public",
        "who sees the account's connection list, and whether it is listed in lists others see",
    ),
    _enum("direct_messages", "nobody connections everyone", "who may start a direct conversation"),
    _enum(
        "group_invites",
        "approval_required connections everyone",
        "who may add the account to a group chat",
    ),
    _enum(
        "location_sharing",
        "off connections_coarse connections_precise public",
        "who sees the account's location",
    ),
    _enum("location_session_reset", "on off", "location sharing reverts to off after each session"),
    _enum("tagging", "nobody connections everyone", "who may tag or mention the account"),
    _enum("comments", "nobody connections everyone", "who may comment on the account's posts"),
    _enum(
        "remix_download",
        "off connections everyone",
        "who may download, remix, duet or stitch the account's content",
    ),
    _enum(
        "live_streaming", "off connections public", "whether and to whom the account may go live"
    ),
    _enum("live_gifting", "off on", "gifts and paid interactions on the account's live streams"),
    _enum("sensitive_content", "strictest limited standard", "sensitive-content level of feeds"),
    _enum(
        "sensitive_media_blur",
        "always from_non_connections off",
        "blurring of sensitive images in messages",
    ),
    _enum(
        "sensitive_media_send",
        "blocked intervene allowed",
        "what happens when the account is about to send an image flagged as sensitive",
    ),
    _enum(
        "feed_personalisation",
        "chronological non_profiled profiled",
        "how the main feed is ranked",
    ),
    _enum("personalised_ads", "off on", "ads targeted by profiling"),
    _enum("data_sharing", "off on", "personal data shared with third parties"),
    _enum("search_indexing", "off on", "the profile indexed by search engines"),
    _enum("contact_sync", "off on", "finding and being found through phone contacts"),
    _enum(
        "engagement_features",
        "off on",
        "autoplay, infinite scroll, streaks and engagement push notifications",
    ),
    _enum("purchases", "off parent_approval on", "in-app purchases and virtual currency"),
    Setting(
        "quiet_hours",
        WindowDomain(),
        "no push or email notifications in this daily window (account's time zone)",
    ),
    Setting(
        "daily_time_reminder", MinutesDomain(), "a reminder after this many minutes of use a day"
    ),
)

SETTINGS: Final[Mapping[str, Setting]] = {s.name: s for s in _CATALOGUE}
"""The catalogue, in display order."""


def suggest(word: object, choices: Iterator[str] | tuple[str, ...] | list[str]) -> str:
    """``"; did you mean 'x'?"`` for a near miss, else ``""``."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def get_setting(name: str) -> Setting:
    """The catalogue entry ``name``, or :class:`InvalidSettingError` with a suggestion."""
    try:
        return SETTINGS[name]
    except (KeyError, TypeError):
        raise InvalidSettingError(
            f"unknown setting {shown(name)}{suggest(name, tuple(SETTINGS))}"
        ) from None
