from __future__ import annotations

from typing import Any

from tests.browser import describe, overflowing, run_axe, screenshot


def test_harness_sees_an_inaccessible_page(page: Any, axe_script: str) -> None:
    page.set_content("<html><body><img src='data:,'><p>hi</p></body></html>")
    violations = run_axe(page, axe_script)
    assert any(v["id"] == "image-alt" for v in violations), describe(violations)
    assert screenshot(page, "harness").stat().st_size > 0
    page.set_viewport_size({"width": 375, "height": 600})
    page.set_content("<html lang='en'><body><div style='width:900px'>wide</div></body></html>")
    assert overflowing(page)
