"""The transparency report of a period: what it holds and how it is built."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Mapping
from importlib.metadata import version
from typing import Any, Final

import attrs

from childsafe._bands import AgeBand
from childsafe.complaints import (
    DEFAULT_CATEGORIES,
    Categories,
    ComplaintFigures,
    ComplaintStore,
    Durations,
    Outcome,
    ReporterRole,
)
from childsafe.exceptions import InvalidCheckError
from childsafe.reports._evidence import Census, Detections, Evidence, MediaFigures

__all__ = ["PERCENTILE_METHOD", "REPORT_SCHEMA", "Period", "TransparencyReport", "build_report"]

REPORT_SCHEMA: Final = "childsafe.transparency/1"
"""The version of the JSON document; its JSON Schema is :func:`report_schema`."""

PERCENTILE_METHOD: Final = "nearest-rank"

_BANDS: Final = tuple(b.value for b in AgeBand)
_LAST_DAY: Final = dt.date(9999, 12, 31)


@attrs.frozen
class Period:
    """A reporting period: the days ``start`` to ``end``, both included, in UTC."""

    start: dt.date
    end: dt.date

    def __attrs_post_init__(self) -> None:
        for name in ("start", "end"):
            value: object = getattr(self, name)
            # a datetime is a date too, but compared with a date it is a TypeError
            if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
                raise InvalidCheckError(
                    f"a report period's {name} must be a datetime.date, got {value!r:.60}"
                )
        if self.end >= _LAST_DAY:
            raise InvalidCheckError(
                f"a report period must end before {_LAST_DAY} (the day after it must be "
                f"representable), got {self.end}"
            )
        if self.end < self.start:
            raise InvalidCheckError(
                f"a report period must not end ({self.end}) before it starts ({self.start})"
            )

    @classmethod
    def year(cls, year: int) -> Period:
        """The calendar year ``year`` (1 to 9998)."""
        given: object = year
        if isinstance(given, bool) or not isinstance(given, int) or not 1 <= given <= 9998:
            raise InvalidCheckError(
                f"a report year must be a year from 1 to 9998, got {year!r:.40}"
            )
        return cls(dt.date(year, 1, 1), dt.date(year, 12, 31))

    @classmethod
    def last_year(cls, today: dt.date | None = None) -> Period:
        """The last full calendar year before ``today`` (the default period)."""
        given: object = today
        if given is not None and not isinstance(given, dt.date):
            raise InvalidCheckError(f"today must be a datetime.date, got {given!r:.60}")
        return cls.year((today or dt.datetime.now(dt.UTC).date()).year - 1)

    @property
    def since(self) -> dt.datetime:
        return dt.datetime.combine(self.start, dt.time(), dt.UTC)

    @property
    def until(self) -> dt.datetime:
        """The first instant after the period."""
        return dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), dt.UTC)


def _seconds(value: float | None) -> int | None:
    return None if value is None else round(value)


def _durations(d: Durations) -> dict[str, Any]:
    return {"count": d.count, "median_seconds": _seconds(d.median), "p90_seconds": _seconds(d.p90)}


@attrs.frozen
class TransparencyReport:
    """The figures of one period: complaint figures from the desk's store, and, when
    they were given, the evidence (denials, proactive detections) and a census."""

    platform: str
    period: Period
    generated_at: dt.datetime
    categories: Categories
    figures: ComplaintFigures
    detections: Detections | None = None
    denials: Mapping[str, int] | None = None
    census: Census | None = None
    media: MediaFigures | None = None

    def to_dict(self) -> dict[str, Any]:
        """The report as the JSON document of :data:`REPORT_SCHEMA`."""
        platform = ReporterRole.PLATFORM.value
        # Notices are what users sent; cases the platform's own detection opened are
        # own-initiative measures (the DSA template keeps the two apart).
        groups = [g for g in self.figures.groups if g.role != platform]
        own = [g for g in self.figures.groups if g.role == platform]
        own_outcomes: Counter[str] = Counter()
        own_categories: Counter[str] = Counter()
        for g in own:
            own_categories[g.category] += g.complaints
            if g.outcome is not None:
                own_outcomes[g.outcome] += g.complaints
        own_initiative = {
            "cases_opened": sum(g.complaints for g in own),
            "resolved": sum(g.resolved for g in own),
            "actioned": sum(
                g.complaints for g in own if g.outcome is not None and Outcome(g.outcome).actioned
            ),
            "by_category": [
                {
                    "category": name,
                    "dsa_category": (
                        self.categories.dsa(name).code if name in self.categories else None
                    ),
                    "cases": n,
                }
                for name, n in sorted(own_categories.items())
            ],
            "by_outcome": [
                {"outcome": o.value, "cases": own_outcomes[o.value]}
                for o in Outcome
                if own_outcomes[o.value]
            ],
        }
        by_category: dict[str, list[int]] = {name: [0, 0, 0] for name in self.categories}
        by_reporter: Counter[tuple[str, str]] = Counter()
        by_outcome: Counter[str] = Counter()
        total = first = resolved = appealed = appeals = reversals = open_appeals = 0
        for g in groups:
            row = by_category.setdefault(g.category, [0, 0, 0])
            row[0] += g.complaints
            row[1] += g.resolved
            if g.outcome is not None and Outcome(g.outcome).actioned:
                row[2] += g.complaints
            by_reporter[g.role, g.band] += g.complaints
            if g.outcome is not None:
                by_outcome[g.outcome] += g.complaints
            total += g.complaints
            first += g.first_actioned
            resolved += g.resolved
            appealed += g.appealed
            appeals += g.appeals
            reversals += g.reversals
            open_appeals += g.open_appeals
        complaints = {
            "total": total,
            "first_actioned": first,
            "resolved": resolved,
            "open": total - resolved,
            "by_category": [
                {
                    "category": name,
                    "label": self.categories.label(name),
                    "dsa_category": (
                        self.categories.dsa(name).code if name in self.categories else None
                    ),
                    "complaints": n,
                    "resolved": done,
                    "actioned": acted,
                }
                for name, (n, done, acted) in by_category.items()
            ],
            "by_reporter": [
                {"role": role.value, "band": band, "complaints": by_reporter[role.value, band]}
                for role in ReporterRole
                for band in _BANDS
                if by_reporter[role.value, band]
            ],
            "by_outcome": [
                {"outcome": o.value, "complaints": by_outcome[o.value]} for o in Outcome
            ],
            "time_to_first_action": _durations(self.figures.first_action),
            "time_to_resolution": _durations(self.figures.resolution),
            "appeals": {
                "appealed_complaints": appealed,
                "appeals": appeals,
                "reversals": reversals,
                "open": open_appeals,
                "upheld": appeals - open_appeals - reversals,
            },
        }
        return {
            "schema": REPORT_SCHEMA,
            "platform": self.platform,
            "period": {"from": self.period.start.isoformat(), "to": self.period.end.isoformat()},
            "generated_at": self.generated_at.isoformat(),
            "generator": f"childsafe {version('childsafe')}",
            "percentile_method": PERCENTILE_METHOD,
            "complaints": complaints,
            "own_initiative": own_initiative,
            "proactive_detections": (
                None
                if self.detections is None
                else {"raised": self.detections.raised, "confirmed": self.detections.confirmed}
            ),
            "denials": (
                None
                if self.denials is None
                else [
                    {"reason": reason, "count": count}
                    for reason, count in sorted(self.denials.items(), key=lambda i: (-i[1], i[0]))
                ]
            ),
            "child_accounts": None if self.census is None else self.census.to_dict(),
            "media": None if self.media is None else self.media.to_dict(),
        }


def _check_sources(
    store: object, period: object, platform: object, evidence: object, now: object = None
) -> None:
    """``build_report``'s arguments are what it reads (a store or evidence of the wrong
    kind was an ``AttributeError`` halfway through)."""
    if not all(callable(getattr(store, m, None)) for m in ("figures", "latest_census")):
        raise InvalidCheckError(
            f"store must be a complaint store (such as desk.store), got {type(store).__name__}"
        )
    if period is not None and not isinstance(period, Period):
        raise InvalidCheckError(f"period must be a Period or None, got {period!r:.60}")
    if not isinstance(platform, str):
        raise InvalidCheckError(f"platform must be the platform's name, got {platform!r:.60}")
    if now is not None and (not isinstance(now, dt.datetime) or now.tzinfo is None):
        # The report's generated_at: a naive time or a date is no RFC 3339 time.
        raise InvalidCheckError(f"now must be a timezone-aware datetime, got {now!r:.60}")
    if evidence is not None and not all(
        callable(getattr(evidence, m, None)) for m in ("proactive_detections", "denials_by_reason")
    ):
        raise InvalidCheckError(
            "evidence must have proactive_detections and denials_by_reason (AuditEvidence, "
            f"MemoryEvidence), got {type(evidence).__name__}"
        )


def build_report(
    store: ComplaintStore,
    period: Period | None = None,
    *,
    platform: str = "Our platform",
    categories: Categories | None = None,
    evidence: Evidence | None = None,
    census: Census | None = None,
    progress: Callable[[str], None] | None = None,
    now: dt.datetime | None = None,
) -> TransparencyReport:
    """The transparency report of ``period`` (default: last calendar year).

    Complaint figures cover the complaints *received* in the period, whatever
    happened to them later (a cohort: a complaint is counted once, in the period it
    arrived). ``evidence`` gives denials and proactive detections (omitted: the report
    says they are not reported), and the media figures when it has a ``media(since,
    until)`` method returning :class:`MediaFigures` (:class:`AuditEvidence` and
    :class:`MemoryEvidence` do); ``census`` the child accounts' settings (default:
    the store's latest census taken before the period ended, if any). ``progress``
    is called with the name of each step as it starts.
    """
    _check_sources(store, period, platform, evidence, now)
    chosen = period or Period.last_year()
    step = progress or (lambda _name: None)
    step("complaints")
    figures = store.figures(chosen.since, chosen.until)
    detections = denials = media = None
    if evidence is not None:
        step("evidence")
        detections = evidence.proactive_detections(chosen.since, chosen.until)
        denials = dict(evidence.denials_by_reason(chosen.since, chosen.until))
        media_of = getattr(evidence, "media", None)
        if callable(media_of):
            found_media = media_of(chosen.since, chosen.until)
            if not isinstance(found_media, MediaFigures):
                raise InvalidCheckError(
                    f"evidence.media() must return MediaFigures, got {found_media!r:.80}"
                )
            media = found_media
    if census is None:
        step("census")
        found = store.latest_census(chosen.until)
        census = None if found is None else Census.from_dict(found[1])
    return TransparencyReport(
        platform=platform,
        period=chosen,
        generated_at=now or dt.datetime.now(dt.UTC),
        categories=DEFAULT_CATEGORIES if categories is None else categories,
        figures=figures,
        detections=detections,
        denials=denials,
        census=census,
        media=media,
    )
