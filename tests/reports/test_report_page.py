"""The HTML report as a person sees it, in headless Chromium: every figure of the JSON
on the page, every chart a non-empty SVG, nothing fetched from outside, nothing
running off a phone screen, no serious accessibility problem. Screenshots are kept
in .cache/screenshots/ (report-desktop.png, report-phone.png, report-empty.png)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from childsafe.complaints import MemoryComplaintStore
from childsafe.reports import Period, build_report, render
from childsafe.reports._render import BAND_LABELS, OUTCOME_LABELS, ROLE_LABELS, _when, duration
from tests.browser import describe, overflowing, run_axe, screenshot
from tests.reports.dataset import generate, to_complaint
from tests.reports.test_report import census, evidence

NOW = dt.datetime(2026, 1, 15, 8, 30, tzinfo=dt.UTC)


def _document() -> dict[str, Any]:
    store = MemoryComplaintStore()
    store.add_many(to_complaint(r) for r in generate(1500))
    report = build_report(
        store, Period.year(2025), platform="Playground", evidence=evidence(), census=census(),
        now=NOW,
    )  # fmt: skip
    return report.to_dict()


def figures(document: dict[str, Any]) -> list[str]:
    """Every figure of the JSON document, as the page should show it."""
    c = document["complaints"]
    out = [f"{c[k]:,}" for k in ("total", "first_actioned", "resolved", "open")]
    for row in c["by_category"]:
        counts = (f"{row[k]:,}" for k in ("complaints", "resolved", "actioned"))
        out += [row["label"], row["dsa_category"], *counts]
    for row in c["by_reporter"]:
        out += [ROLE_LABELS[row["role"]], BAND_LABELS[row["band"]], f"{row['complaints']:,}"]
    for row in c["by_outcome"]:
        out += [OUTCOME_LABELS[row["outcome"]], f"{row['complaints']:,}"]
    for key in ("time_to_first_action", "time_to_resolution"):
        d = c[key]
        out += [f"{d['count']:,}", f"{d['median_seconds']:,}", f"{d['p90_seconds']:,}"]
        out += [duration(d["median_seconds"]), duration(d["p90_seconds"])]
    out += [f"{v:,}" for v in c["appeals"].values()]
    out += [f"{v:,}" for v in document["proactive_detections"].values()]
    for row in document["denials"]:
        out += [row["reason"], f"{row['count']:,}"]
    accounts = document["child_accounts"]
    out.append(_when(accounts["taken_at"]))
    for band in accounts["bands"]:
        counts = (f"{band[k]:,}" for k in ("accounts", "on_defaults", "changed_any"))
        out += [BAND_LABELS[band["band"]], *counts]
        out += [f"{s['changed']:,}" for s in band["settings"]]
        out += [s["setting"].replace("_", " ") for s in band["settings"]]
    out += [document["period"]["from"], document["period"]["to"], _when(document["generated_at"])]
    out += [document[k] for k in ("platform", "generator", "schema", "percentile_method")]
    return out


def _open(page: Any, tmp_path: Path, document: dict[str, Any]) -> str:
    path = tmp_path / "report.html"
    path.write_text(render(document, "html"), encoding="utf-8")
    page.goto(path.as_uri())
    text: str = page.inner_text("body")
    return text


@pytest.fixture(name="document", scope="module")
def _doc() -> dict[str, Any]:
    return _document()


class TestReportPage:
    def test_every_figure_is_on_the_page(
        self, page: Any, tmp_path: Path, document: dict[str, Any]
    ) -> None:
        text = _open(page, tmp_path, document)
        missing = [f for f in figures(document) if f not in text]
        assert not missing, missing
        screenshot(page, "report-desktop")

    def test_times_read_as_people_write_them(
        self, page: Any, tmp_path: Path, document: dict[str, Any]
    ) -> None:
        """The generation and census times read as a date and a time to the minute, not
        raw ISO 8601 with microseconds; each ``<time>`` keeps the exact value."""
        text = _open(page, tmp_path, document)
        exact = page.evaluate(
            "() => [...document.querySelectorAll('time')].map(t => t.getAttribute('datetime'))"
        )

        assert "Generated 15 January 2026, 08:30 UTC by " in text
        assert re.search(r"\d{4}-\d{2}-\d{2}T\d", text) is None
        assert exact == [document["child_accounts"]["taken_at"], document["generated_at"]]

    def test_every_chart_is_a_non_empty_svg(
        self, page: Any, tmp_path: Path, document: dict[str, Any]
    ) -> None:
        _open(page, tmp_path, document)
        charts = page.evaluate(
            """() => [...document.querySelectorAll('figure.chart')].map(f => {
                const svg = f.querySelector('svg');
                if (!svg) return {id: null};
                const box = svg.getBoundingClientRect();
                const bars = [...svg.querySelectorAll('rect')]
                    .filter(r => r.getBBox().width > 0
                                 && r.getAttribute('fill') !== '#eef2f7');
                const title = svg.querySelector('title');
                return {id: svg.id, width: box.width, height: box.height, bars: bars.length,
                        title: title && title.textContent};
            })"""
        )
        assert len(charts) == 7
        for chart in charts:
            assert chart["id"], chart
            assert chart["width"] > 100 and chart["height"] > 20, chart
            assert chart["bars"] >= 1, chart
            assert chart["title"], chart

    def test_nothing_is_fetched_from_outside(
        self, page: Any, tmp_path: Path, document: dict[str, Any]
    ) -> None:
        _open(page, tmp_path, document)
        page.wait_for_load_state("networkidle")
        assert [u for u in page.requested if not u.startswith("file://")] == []
        assert len(page.requested) == 1

    def test_a_phone_screen(self, page: Any, tmp_path: Path, document: dict[str, Any]) -> None:
        page.set_viewport_size({"width": 375, "height": 812})
        _open(page, tmp_path, document)
        assert overflowing(page) == []
        screenshot(page, "report-phone")

    def test_accessible(
        self, page: Any, axe_script: str, tmp_path: Path, document: dict[str, Any]
    ) -> None:
        _open(page, tmp_path, document)
        violations = run_axe(page, axe_script)
        assert not violations, describe(violations)

    def test_a_report_without_evidence(self, page: Any, axe_script: str, tmp_path: Path) -> None:
        """An empty period, no evidence and no census still makes a readable page."""
        document = build_report(MemoryComplaintStore(), Period.year(2025), now=NOW).to_dict()
        text = _open(page, tmp_path, document)
        assert "Not reported for this period." in text
        assert "No census of child accounts was taken." in text
        assert not run_axe(page, axe_script)
        page.set_viewport_size({"width": 375, "height": 812})
        assert overflowing(page) == []
        screenshot(page, "report-empty")
