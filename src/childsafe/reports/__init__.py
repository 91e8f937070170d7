"""Transparency reports: the complaint figures, proactive detections, denials and
child accounts' defaults of a period, as JSON (with a published JSON Schema), a CSV
laid out after the DSA quantitative template, Markdown, and a self-contained HTML page.

>>> from childsafe.complaints import ComplaintsDesk
>>> from childsafe.reports import Period, build_report, render
>>> desk = ComplaintsDesk()
>>> report = build_report(desk.store, Period.year(2025), platform="Playground")
>>> render(report.to_dict(), "md").splitlines()[0]
'# Playground: transparency report'

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

from childsafe.reports._evidence import (
    CHILD_BANDS,
    NOT_CONFIRMING,
    AuditEvidence,
    BandCensus,
    Census,
    Detections,
    Evidence,
    MediaFigures,
    MemoryEvidence,
    take_census,
)
from childsafe.reports._render import FORMATS, render, to_csv, to_html, to_json, to_markdown
from childsafe.reports._report import (
    PERCENTILE_METHOD,
    REPORT_SCHEMA,
    Period,
    TransparencyReport,
    build_report,
)

__all__ = [
    "CHILD_BANDS",
    "FORMATS",
    "NOT_CONFIRMING",
    "PERCENTILE_METHOD",
    "REPORT_SCHEMA",
    "AuditEvidence",
    "BandCensus",
    "Census",
    "Detections",
    "Evidence",
    "MediaFigures",
    "MemoryEvidence",
    "Period",
    "TransparencyReport",
    "build_report",
    "render",
    "report_schema",
    "take_census",
    "to_csv",
    "to_html",
    "to_json",
    "to_markdown",
]


def report_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the report's JSON document, version 1,
    shipped with the package (``childsafe/reports/schema/transparency-report-1.json``)."""
    text = files("childsafe.reports").joinpath("schema/transparency-report-1.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema
