"""The sample report published with the docs (docs/_extra/samples/), made from the
generated data set with fixed times, so a test can check the published files are what
this childsafe writes. Rewrite them with ``python -m tests.reports.sample``."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

from childsafe.complaints import MemoryComplaintStore
from childsafe.reports import FORMATS, Period, build_report, render
from tests.reports.dataset import generate, to_complaint
from tests.reports.test_report import census, evidence

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "docs" / "_extra" / "samples"
SCHEMA_COPY = ROOT / "docs" / "_extra" / "schema" / "transparency-report-1.json"
SCHEMA = ROOT / "src" / "childsafe" / "reports" / "schema" / "transparency-report-1.json"
SUFFIX = {"json": "json", "csv": "csv", "md": "md", "html": "html"}


def sample_document() -> dict[str, Any]:
    store = MemoryComplaintStore()
    store.add_many(to_complaint(r) for r in generate(400))
    found = evidence()
    at = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
    media = [
        ("media.upload", False, "known_abuse_match", None, "hotline-2025"),
        ("media.send", False, "known_abuse_match", None, "hotline-2025"),
        ("media.send", False, "known_abuse_match", None, "industry-share"),
        *[("media.send", False, "confirmation_required", "sensitive_media_send", None)] * 5,
        *[("media.send", True, "confirmed", "sensitive_media_send", None)] * 2,
        *[("media.send", False, "sensitive_media_blocked", "sensitive_media_send", None)] * 2,
        *[("media.view", False, "sensitive_media_blurred", "sensitive_media_blur", None)] * 4,
        ("media.view", True, "confirmed", "sensitive_media_blur", None),
    ]
    for action, allowed, reason, setting, listed in media:
        found.record_media(
            action, at, allowed=allowed, reason=reason, setting=setting, matched_list=listed
        )
    document = build_report(
        store,
        Period.year(2025),
        platform="Playground",
        evidence=found,
        census=census(),
        now=dt.datetime(2026, 1, 15, 8, 30, tzinfo=dt.UTC),
    ).to_dict()
    document["generator"] = "childsafe (sample)"
    return document


def sample_files() -> dict[Path, str]:
    document = sample_document()
    return {SAMPLES / f"transparency-report.{SUFFIX[f]}": render(document, f) for f in FORMATS}


def write() -> None:
    SAMPLES.mkdir(parents=True, exist_ok=True)
    for path, text in sample_files().items():
        path.write_text(text, encoding="utf-8", newline="")
    SCHEMA_COPY.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SCHEMA, SCHEMA_COPY)


if __name__ == "__main__":
    write()
