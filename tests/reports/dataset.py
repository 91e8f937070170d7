"""A generated data set of complaints whose report figures are known.

:func:`generate` draws complaints from a seeded generator as plain records (dicts of
strings, numbers and ``None``); :func:`to_complaint` turns one into the library's
:class:`~childsafe.complaints.Complaint`, and :func:`expected` works the report's
answers out from the plain records alone, without the library's aggregation code.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import Counter
from typing import Any

from childsafe._bands import AgeBand
from childsafe.complaints import (
    Appeal,
    Complaint,
    Outcome,
    Reporter,
    ReporterRole,
    Status,
    Subject,
    SubjectKind,
)

CATEGORIES = [
    "grooming",
    "sexual_content",
    "bullying",
    "self_harm",
    "impersonation",
    "privacy",
    "other",
]
OUTCOMES = [o.value for o in Outcome]
EPOCH = dt.datetime(2024, 11, 1, tzinfo=dt.UTC)
PERIOD = (dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


def generate(n: int, seed: int = 15) -> list[dict[str, Any]]:
    """``n`` complaints received between November 2024 and March 2026 (so some fall
    outside the 2025 period), in every state."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible data set
    out = []
    for i in range(n):
        received = EPOCH + dt.timedelta(seconds=rng.randrange(0, 500 * 86400))
        role = rng.choice(["child", "parent", "other"])
        band = (
            rng.choice(["under_13", "13_15", "16_17"])
            if role == "child"
            else rng.choice(["adult", "unknown"])
        )
        state = rng.choices(["received", "in_review", "resolved", "appealed", "decided"],
                            weights=[1, 1, 5, 1, 2])[0]  # fmt: skip
        first = resolved = None
        outcome = None
        appeals: list[dict[str, Any]] = []
        if state != "received":
            first = received + dt.timedelta(seconds=rng.randrange(60, 3 * 86400))
        if state in {"resolved", "appealed", "decided"}:
            assert first is not None
            resolved = first + dt.timedelta(seconds=rng.choice([0, rng.randrange(1, 86400)]))
            outcome = rng.choice(OUTCOMES)
        if state in {"appealed", "decided"}:
            assert resolved is not None
            filed = resolved + dt.timedelta(hours=2)
            appeal: dict[str, Any] = {"filed": filed, "decided": None, "before": outcome,
                                      "after": None}  # fmt: skip
            if state == "decided":
                after = rng.choice(OUTCOMES)
                appeal |= {"decided": filed + dt.timedelta(hours=5), "after": after}
                outcome = after
            appeals.append(appeal)
        out.append(
            {
                "id": f"c-{i:07d}",
                "received": received,
                "category": rng.choice(CATEGORIES),
                "role": role,
                "band": band,
                "first": first,
                "resolved": resolved,
                "outcome": outcome,
                "appeals": appeals,
                "status": {"decided": "resolved"}.get(state, state),
            }
        )
    return out


def to_complaint(r: dict[str, Any]) -> Complaint:
    return Complaint(
        id=r["id"],
        received_at=r["received"],
        category=r["category"],
        reporter=Reporter(ReporterRole(r["role"]), AgeBand(r["band"]), None),
        subject=Subject(SubjectKind.MESSAGE, "m-" + r["id"], "u-1"),
        status=Status(r["status"]),
        first_action_at=r["first"],
        resolved_at=r["resolved"],
        outcome=None if r["outcome"] is None else Outcome(r["outcome"]),
        appeals=tuple(
            Appeal(
                filed_at=a["filed"],
                decided_at=a["decided"],
                reversed=None if a["decided"] is None else a["after"] != a["before"],
                outcome_before=Outcome(a["before"]),
                outcome_after=None if a["after"] is None else Outcome(a["after"]),
            )
            for a in r["appeals"]
        ),
    )


def _rank(values: list[float], p: int) -> int | None:
    """Nearest rank, written out: the value at position ceil(p/100 * n), 1-based."""
    if not values:
        return None
    ordered = sorted(values)
    position = math.ceil(p / 100 * len(ordered))
    return round(ordered[position - 1])


def expected(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The complaint figures of the 2025 period, computed from the plain records."""
    start, end = PERIOD
    chosen = [r for r in records if start <= r["received"] < end]
    firsts = [(r["first"] - r["received"]).total_seconds() for r in chosen if r["first"]]
    dones = [(r["resolved"] - r["received"]).total_seconds() for r in chosen if r["resolved"]]
    reversals = sum(
        1 for r in chosen for a in r["appeals"] if a["decided"] and a["after"] != a["before"]
    )
    appeals = sum(len(r["appeals"]) for r in chosen)
    open_appeals = sum(1 for r in chosen for a in r["appeals"] if a["decided"] is None)
    return {
        "total": len(chosen),
        "resolved": sum(1 for r in chosen if r["resolved"]),
        "first_actioned": len(firsts),
        "by_category": Counter(r["category"] for r in chosen),
        "actioned": Counter(
            r["category"] for r in chosen if r["outcome"] and r["outcome"] != "no_violation"
        ),
        "by_reporter": Counter((r["role"], r["band"]) for r in chosen),
        "by_outcome": Counter(r["outcome"] for r in chosen if r["outcome"]),
        "first": (len(firsts), _rank(firsts, 50), _rank(firsts, 90)),
        "resolution": (len(dones), _rank(dones, 50), _rank(dones, 90)),
        "appealed": sum(1 for r in chosen if r["appeals"]),
        "appeals": appeals,
        "reversals": reversals,
        "open_appeals": open_appeals,
        "upheld": appeals - reversals - open_appeals,
    }
