"""`childsafe signals evaluate`: the table, and the targets on the evaluation seed."""

from __future__ import annotations

import pytest

from childsafe.cli import main
from childsafe.signals._evaluate import BASELINE, COMBINED, evaluate
from childsafe.signals._synthetic import EVALUATION_SEED, generate


class TestEvaluate:
    def test_every_target_on_the_evaluation_seed(self) -> None:
        """Recall >= 0.9, precision >= 3x the baseline's, false positives <= a fifth of
        the baseline's, median time to detection <= 48 h."""
        result = evaluate(generate(EVALUATION_SEED))
        assert all(ok for _, ok in result.targets()), result.table()
        assert result.row(COMBINED).recall >= 0.9
        assert result.row(BASELINE).flagged > result.row(COMBINED).flagged

    def test_command(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The command prints the table per rule and combined, beside the baseline."""
        code = main(["signals", "evaluate", "--seed", "3", "--benign-adults", "800",
                     "--cases", "70", "--days", "30"])  # fmt: skip
        out = capsys.readouterr().out
        assert code in (0, 1)
        for name in ("baseline", "stranger_contact", "fan_out", "after_block", "combined"):
            assert f"\n{name} " in out
        assert "median TTD" in out
        assert "FP/10k" in out
        assert ("NOT MET" in out) == (code == 1)

    def test_bad_numbers(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Counts must be positive whole numbers."""
        assert main(["signals", "evaluate", "--cases", "0"]) == 2
        assert main(["signals", "evaluate", "--days", "x"]) == 2
        assert "expected" in capsys.readouterr().err

    @pytest.mark.parametrize(
        ("option", "value", "message"),
        [
            ("--days", "100000000", "argument --days: expected 1 to 3,650, got 100000000"),
            ("--benign-adults", "10000000000", "expected 1 to 1,000,000"),
            ("--cases", "100001", "expected 1 to 100,000, got 100001"),
        ],
    )
    def test_numbers_too_large_are_usage_errors(
        self, capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
    ) -> None:
        """--days 100000000 reached past the year 9999 and ended in a traceback; the
        documented answer to a bad option is exit status 2 and one line."""
        assert main(["signals", "evaluate", option, value]) == 2
        err = capsys.readouterr().err
        assert message in err
        assert "Traceback" not in err
