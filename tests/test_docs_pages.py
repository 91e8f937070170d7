"""The built documentation on a phone: code blocks and tables never run off the screen.

The site is built with Sphinx (as ``python3 dev.py docs`` does) and its pages with the
longest code lines and widest tables are opened in headless Chromium 375 px wide.
Nothing may stick out past the screen unless it sits in a box that scrolls (Furo's
``pre`` and table wrappers scroll sideways, so a long line is never clipped).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.browser import overflowing, screenshot

ROOT = Path(__file__).resolve().parents[1]
PAGES = (
    "cli",
    "starlette",
    "wsgi-asgi",
    "explanations",
    "reference/baseline",
    "reference/reasons",
    "decisions",
)


@pytest.fixture(name="site", scope="module")
def _site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docs") / "html"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), *sys.path])}
    built = subprocess.run(  # noqa: S603 - sphinx, on this checkout's docs
        [sys.executable, "-m", "sphinx", "-q", "-b", "html", str(ROOT / "docs"), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    return out


@pytest.mark.parametrize("name", PAGES)
def test_nothing_clips_at_phone_width(site: Path, page: Any, name: str) -> None:
    """At 375 px every element fits the screen or scrolls inside its own box, and the
    page's code blocks can be scrolled to their last character."""
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto((site / f"{name}.html").as_uri())
    wide = overflowing(page)
    blocks = page.evaluate(
        """() => [...document.querySelectorAll('div.highlight pre')].map(pre => {
            const style = getComputedStyle(pre);
            return {scrolls: ['auto', 'scroll'].includes(style.overflowX),
                    wraps: style.whiteSpace.startsWith('pre-wrap'),
                    wider: pre.scrollWidth > pre.clientWidth};
        })"""
    )
    screenshot(page, f"docs-375-{name.replace('/', '-')}")

    assert wide == []
    assert blocks or name.startswith("reference/"), f"{name} has no code block to check"
    assert all(b["scrolls"] or b["wraps"] for b in blocks if b["wider"])
