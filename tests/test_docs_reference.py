"""The reference tables committed under docs/reference/_generated are up to date."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "docs" / "_ext" / "childsafe_reference.py"


@pytest.fixture(name="reference", scope="module")
def _reference() -> ModuleType:
    pytest.importorskip("sphinx")
    spec = importlib.util.spec_from_file_location("childsafe_reference", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestCommittedTables:
    def test_up_to_date(self, reference: ModuleType) -> None:
        """Every committed table is what the policy data gives (`python3 dev.py reference`)."""
        assert reference.stale() == []

    def test_every_table_is_committed(self, reference: ModuleType) -> None:
        """The settings, baseline, actions, reasons, sources and jurisdictions tables exist."""
        names = sorted(p.name for p in reference.TABLES.glob("*.md"))
        assert names == sorted(reference.pages())
        assert {"catalogue.md", "baseline.md", "actions.md", "reasons.md"} <= set(names)

    def test_every_reason_and_setting_is_listed(self, reference: ModuleType) -> None:
        """Each reason code and setting name appears in its table."""
        from childsafe import SETTINGS, Reason  # noqa: PLC0415

        tables = reference.pages()
        assert all(f"`{r.value}`" in tables["reasons.md"] for r in Reason)
        assert all(f"`{name}`" in tables["catalogue.md"] for name in SETTINGS)

    def test_a_stale_table_is_found(self, reference: ModuleType, tmp_path: Path) -> None:
        """A changed or missing table is reported, and generate() repairs it."""
        reference.generate(tmp_path)
        (tmp_path / "reasons.md").write_text("old\n", encoding="utf-8")
        (tmp_path / "actions.md").unlink()

        assert sorted(p.name for p in reference.stale(tmp_path)) == ["actions.md", "reasons.md"]
        reference.generate(tmp_path)
        assert reference.stale(tmp_path) == []

    def test_check_command(self) -> None:
        """`--check` exits 0 on the committed tables; a wrong argument exits 2."""
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), *sys.path])}
        ok = subprocess.run(  # noqa: S603 - the script itself
            [sys.executable, str(SCRIPT), "--check"], capture_output=True, check=False, env=env
        )
        bad = subprocess.run(  # noqa: S603
            [sys.executable, str(SCRIPT), "--frobnicate"], capture_output=True, check=False, env=env
        )
        assert ok.returncode == 0, ok.stdout
        assert bad.returncode == 2
