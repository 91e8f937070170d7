"""Pages as a person sees them: Debian's headless Chromium, driven by Playwright.

Tests that look at rendered pages (the demo, the transparency report) use the
``page`` fixture from here: a fresh Chromium page (no browser download; Playwright
drives ``/usr/bin/chromium``), plus ``axe_script``, the axe-core accessibility engine
from the npm registry, installed once into ``.cache/npm`` beside the checkout.

A plain user's run skips these tests, saying why, when Chromium or npm is missing.
``.ci/run`` installs Chromium when absent and sets ``CHILDSAFE_REQUIRE_BROWSER=1``, so
in CI a missing browser or axe-core is a failure, never a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / ".cache" / "screenshots"
AXE_VERSION = "4.10.3"
AXE_PREFIX = ROOT / ".cache" / "npm"
AXE_SCRIPT = AXE_PREFIX / "node_modules" / "axe-core" / "axe.min.js"
REQUIRED = os.environ.get("CHILDSAFE_REQUIRE_BROWSER") == "1"


def unavailable(reason: str) -> None:
    """Skip on a plain user's machine; fail in CI, where the browser must run."""
    if REQUIRED:
        pytest.fail(f"{reason} (CHILDSAFE_REQUIRE_BROWSER=1: browser tests may not skip)")
    pytest.skip(reason)


def chromium_path() -> str:
    for candidate in (os.environ.get("CHILDSAFE_CHROMIUM"), "/usr/bin/chromium", "chromium"):
        if candidate and (found := shutil.which(candidate)):
            return found
    unavailable("Chromium not found: install Debian's `chromium` package to run page tests")
    raise AssertionError("unreachable")  # pragma: no cover


def axe_source() -> str:
    """The axe-core script, installed from the npm registry on first use."""
    if not AXE_SCRIPT.exists():
        npm = shutil.which("npm")
        if npm is None:
            unavailable("npm not found: it installs axe-core for the accessibility checks")
            raise AssertionError("unreachable")  # pragma: no cover
        AXE_PREFIX.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(  # noqa: S603 - a fixed command line
            [npm, "install", "--prefix", str(AXE_PREFIX), "--no-audit", "--no-fund",
             "--no-save", f"axe-core@{AXE_VERSION}"],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        if done.returncode != 0 or not AXE_SCRIPT.exists():
            unavailable(f"npm could not install axe-core@{AXE_VERSION}: {done.stderr[-500:]}")
    return AXE_SCRIPT.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # One browser a module, not a session: while Playwright's sync API is open, its
    # event loop counts as running in this thread, and the asyncio.run() of tests in
    # later modules would refuse to start.
    executable = chromium_path()
    with sync_playwright() as driver:
        launched = driver.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page 1280 px wide that records every request it makes."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.requested = []
    opened.on("request", lambda request: opened.requested.append(request.url))
    try:
        yield opened
    finally:
        context.close()


@pytest.fixture(scope="session")
def axe_script() -> str:
    return axe_source()


def run_axe(page: Any, script: str) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations on the page, each a plain dict."""
    page.add_script_tag(content=script)
    result = page.evaluate(
        "async () => JSON.stringify((await axe.run(document, "
        "{resultTypes: ['violations']})).violations)"
    )
    violations: list[dict[str, Any]] = json.loads(result)
    return [v for v in violations if v.get("impact") in ("serious", "critical")]


def describe(violations: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} -- "
        + "; ".join(node["target"][0] for node in v["nodes"][:3])
        for v in violations
    )


def screenshot(page: Any, name: str) -> Path:
    """Keep a full-page screenshot under .cache/screenshots/ to look at afterwards."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def overflowing(page: Any) -> list[str]:
    """Elements wider than the viewport (text or charts that run off a phone screen)."""
    found: list[str] = page.evaluate(
        """() => {
            const width = document.documentElement.clientWidth;
            const wide = [];
            for (const el of document.querySelectorAll('body *')) {
                const box = el.getBoundingClientRect();
                if (box.width > 0 && box.right > width + 1) {
                    const style = getComputedStyle(el);
                    let clipped = false;
                    for (let p = el.parentElement; p; p = p.parentElement) {
                        const o = getComputedStyle(p).overflowX;
                        if (o === 'auto' || o === 'scroll' || o === 'hidden') {
                            clipped = true; break;
                        }
                    }
                    if (!clipped && style.position !== 'fixed') {
                        wide.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
                                  + ' right=' + Math.round(box.right));
                    }
                }
            }
            return wide.slice(0, 20);
        }"""
    )
    return found
