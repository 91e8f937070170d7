"""What a store hands the transparency report: counts grouped by category, reporter
and outcome, and the time-to-action percentiles, for complaints received in a period.

Percentiles use the **nearest-rank** method: of ``n`` values sorted ascending, the
``p``-th percentile is the value at rank ``ceil(p / 100 * n)`` (1-based). The median
is the 50th percentile by that rule (for an even ``n``, the lower of the two middle
values); it is always a value that occurred. PostgreSQL's ``percentile_disc`` gives the
same answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

__all__ = ["ComplaintFigures", "Durations", "Group", "nearest_rank"]


def nearest_rank(ordered: Sequence[float], percent: int) -> float | None:
    """The ``percent``-th percentile of ``ordered`` (sorted ascending) by nearest rank.

    >>> nearest_rank([1, 2, 3, 4], 50), nearest_rank([1, 2, 3, 4], 90), nearest_rank([], 50)
    (2, 4, None)
    """
    n = len(ordered)
    if n == 0:
        return None
    rank = max(1, -(-percent * n // 100))
    return ordered[rank - 1]


def rank_of(count: int, percent: int) -> int:
    """The 1-based nearest rank of the ``percent``-th percentile of ``count`` values."""
    return max(1, -(-percent * count // 100))


@attrs.frozen
class Group:
    """Complaints sharing a category, reporter role and band, and outcome (``None``:
    not resolved yet). ``first_actioned`` of them had a first action, ``resolved``
    were resolved, ``appealed`` had at least one appeal; ``appeals`` and
    ``reversals`` count appeals filed and appeals that reversed the outcome;
    ``open_appeals`` the cases whose appeal awaits a decision."""

    category: str
    role: str
    band: str
    outcome: str | None
    complaints: int
    first_actioned: int
    resolved: int
    appealed: int
    appeals: int
    reversals: int
    open_appeals: int = 0


@attrs.frozen
class Durations:
    """How many durations were measured, and their median and 90th percentile in
    seconds (nearest rank; ``None`` when there are none)."""

    count: int
    median: float | None
    p90: float | None

    @classmethod
    def of(cls, values: Iterable[float]) -> Durations:
        ordered = sorted(values)
        return cls(len(ordered), nearest_rank(ordered, 50), nearest_rank(ordered, 90))


@attrs.frozen
class ComplaintFigures:
    """The complaint figures of one period."""

    groups: tuple[Group, ...]
    first_action: Durations
    resolution: Durations
