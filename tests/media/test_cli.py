"""`childsafe media hash` and `childsafe media check-list`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from childsafe.cli import main
from childsafe.media import pdq_hash
from childsafe.testing.media import png_bytes, scene


def test_hash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each image's hash, quality and name; a file that is no image is named on stderr
    and makes the exit status 1."""
    good = tmp_path / "a.png"
    good.write_bytes(png_bytes(scene(4)))
    bad = tmp_path / "b.png"
    bad.write_text("hello", encoding="utf-8")
    assert main(["media", "hash", str(good)]) == 0
    out = capsys.readouterr().out.split()
    assert out == [pdq_hash(good).hex, str(pdq_hash(good).quality), str(good)]
    assert main(["media", "hash", str(good), str(bad)]) == 1
    captured = capsys.readouterr()
    assert captured.out.count("\n") == 1
    assert f"{bad}: not an image" in captured.err


def test_check_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A good list is counted; a bad one exits 2 naming the file, line and problem."""
    good = tmp_path / "partner.csv"
    good.write_text(f"pdq,id\n{'a' * 64},1\n{'a' * 64},2\n{'b' * 64},\n", encoding="utf-8")
    assert main(["media", "check-list", str(good)]) == 0
    out = capsys.readouterr().out
    assert "partner: 3 PDQ hashes (2 distinct, 2 with ids)" in out
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{'a' * 64},1\n{'c' * 64},1\n", encoding="utf-8")
    assert main(["media", "check-list", str(bad)]) == 2
    assert f"{bad}, line 2: duplicate id '1'" in capsys.readouterr().err


def test_check_threatexchange(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A .json file is read as ThreatExchange descriptors."""
    path = tmp_path / "te.json"
    path.write_text(
        json.dumps({"data": [{"id": "9", "type": "HASH_PDQ", "raw_indicator": "e" * 64}]}),
        encoding="utf-8",
    )
    assert main(["media", "check-list", str(path), "--name", "te-demo"]) == 0
    assert "te-demo: 1 PDQ hashes" in capsys.readouterr().out
