"""Regulator exports verified offline, and ``childsafe audit verify|export``."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from childsafe import Account, Guard, Policy
from childsafe.audit import (
    AuditRecordError,
    AuditTrail,
    CheckpointSigner,
    DirectoryCheckpoints,
    Pseudonymiser,
    SQLiteAuditStore,
    read_bundle,
    verify_bundle,
)
from childsafe.audit._records import genesis_hash, link_hash
from childsafe.cli import main
from tests.audit.support import KEY, POSTGRES_URL, needs_postgres

EXPORT = ["audit", "export", "sqlite:///x.db", "--checkpoints", "c", "-o", "o"]
KID = Account(id="kid-1", band="13_15", jurisdiction="GB")
ADULT = Account(id="adult-1", band="adult", jurisdiction="GB")
# Sixty days ago at midnight: the policy loaded "now" precedes nothing; load it first.
_TODAY = dt.datetime.now(dt.UTC).date()
T0 = dt.datetime(_TODAY.year, _TODAY.month, _TODAY.day, tzinfo=dt.UTC) - dt.timedelta(days=60)


def build(url: str, folder: Path, signer: CheckpointSigner) -> AuditTrail:
    """A trail with records in March and April 2026 and a checkpoint every 5 records."""
    trail = AuditTrail(
        url,
        pseudonymiser=Pseudonymiser({"k1": KEY}),
        signer=signer,
        checkpoints=DirectoryCheckpoints(folder),
    )
    trail.record(
        "policy_load", data={"version": "v1", "note": "launch"}, time=T0 - dt.timedelta(days=1)
    ).wait()
    trail.record_policy_load(Policy.baseline(), note="reload").wait()
    for day in range(40):
        who = KID if day % 4 == 0 else ADULT
        trail.record(
            "complaint",
            actor=who,
            data={"complaint": f"r-{day}", "category": "bullying"},
            time=T0 + dt.timedelta(days=day),
        ).wait()
        if day % 5 == 4:
            trail.checkpoint()
    return trail


@pytest.fixture(name="setup")
def _setup(tmp_path: Path) -> tuple[str, Path, CheckpointSigner]:
    signer = CheckpointSigner.generate()
    url = f"sqlite:///{tmp_path}/audit.db"
    trail = build(url, tmp_path / "cps", signer)
    trail.close()
    (tmp_path / "key.pem").write_text(signer.public_pem)
    return url, tmp_path / "cps", signer


class TestBundles:
    def test_period_export_verifies_offline(
        self, setup: tuple[str, Path, CheckpointSigner], tmp_path: Path
    ) -> None:
        """A period's bundle holds its records, the policy in force and the chain proof,
        and verifies with the bundle alone."""
        url, folder, signer = setup
        trail = AuditTrail(
            url, pseudonymiser=Pseudonymiser({"k1": KEY}), signer=signer, checkpoints=folder
        )
        out = tmp_path / "march.json.gz"
        summary = trail.export(
            out, since=T0 + dt.timedelta(days=10), until=T0 + dt.timedelta(days=20)
        )
        trail.close()
        assert summary == {"records": 10, "policy_records": 1, "segments": summary["segments"]}
        bundle = read_bundle(out)
        assert bundle["policy_versions"]
        report = verify_bundle(bundle)
        assert report.status == "valid", report
        assert report.records == 11
        pinned = verify_bundle(bundle, {signer.key_id: signer.public_key})
        assert pinned.status == "valid"
        stranger = CheckpointSigner.generate()
        assert verify_bundle(bundle, {stranger.key_id: stranger.public_key}).status == "broken"

    def test_account_export_redacts_others(
        self, setup: tuple[str, Path, CheckpointSigner], tmp_path: Path
    ) -> None:
        """An account's bundle carries other accounts' records only as digests."""
        url, folder, signer = setup
        trail = AuditTrail(
            url, pseudonymiser=Pseudonymiser({"k1": KEY}), signer=signer, checkpoints=folder
        )
        out = tmp_path / "kid.json"
        summary = trail.export(out, account="kid-1")
        trail.close()
        assert summary["records"] == 10
        bundle = read_bundle(out)
        text = out.read_text()
        adult = trail.pseudonymiser.pseudonym("adult-1")
        assert adult not in text
        assert trail.pseudonymiser.pseudonym("kid-1") in text
        assert verify_bundle(bundle).status == "valid"

    def test_tampered_bundle(
        self, setup: tuple[str, Path, CheckpointSigner], tmp_path: Path
    ) -> None:
        """An edited, reordered or truncated bundle does not verify."""
        url, folder, signer = setup
        trail = AuditTrail(
            url, pseudonymiser=Pseudonymiser({"k1": KEY}), signer=signer, checkpoints=folder
        )
        out = tmp_path / "all.json"
        trail.export(out, since=T0)
        trail.close()
        bundle = read_bundle(out)
        entries = bundle["segments"][0]["entries"]
        full = next(e for e in entries if "bullying" in e.get("body", ""))
        full["body"] = full["body"].replace("bullying", "other")
        assert "hash does not match" in (verify_bundle(bundle).problem or "")
        bundle = read_bundle(out)
        bundle["segments"][0]["entries"].pop(1)
        assert "missing" in (verify_bundle(bundle).problem or "")
        bundle = read_bundle(out)
        bundle["segments"][-1]["entries"].pop()
        assert "does not lead to the signed checkpoint" in (verify_bundle(bundle).problem or "")
        bundle = read_bundle(out)
        bundle["segments"][0]["entries"][1]["prev"] = "0" * 64
        assert "does not link" in (verify_bundle(bundle).problem or "")
        bundle = read_bundle(out)
        bundle["segments"][1]["start"] = 3
        assert "no signed checkpoint" in (verify_bundle(bundle).problem or "")
        bundle = read_bundle(out)
        bundle["segments"][0]["end"] = 2
        assert "no signed checkpoint names" in (verify_bundle(bundle).problem or "")

    def test_replayed_segment_in_bundle(
        self, setup: tuple[str, Path, CheckpointSigner], tmp_path: Path
    ) -> None:
        """A bundle that repeats a segment (whole or overlapping another) is broken,
        not valid with its records counted twice; a record missing its hash is the
        library's error naming the field."""
        url, folder, signer = setup
        trail = AuditTrail(
            url, pseudonymiser=Pseudonymiser({"k1": KEY}), signer=signer, checkpoints=folder
        )
        out = tmp_path / "all.json"
        trail.export(out, since=T0)
        trail.close()
        honest = verify_bundle(read_bundle(out))
        assert honest.status == "valid"
        bundle = read_bundle(out)
        bundle["segments"].append(bundle["segments"][1])
        report = verify_bundle(bundle)
        last, copied = len(bundle["segments"]) - 1, bundle["segments"][1]
        expected = (
            f"segment {last} repeats records {copied['start'] + 1}..{copied['end']} "
            "of segment 1 (replayed)"
        )
        assert (report.status, report.problem) == ("broken", expected)
        assert report.records <= honest.records
        bundle = read_bundle(out)
        bundle["segments"].insert(1, bundle["segments"][0])
        assert "repeats records" in (verify_bundle(bundle).problem or "")
        bundle = read_bundle(out)
        del next(e for e in bundle["segments"][0]["entries"] if "body" in e)["hash"]
        with pytest.raises(AuditRecordError, match=r"entries\[\d+\]\.hash: expected str"):
            verify_bundle(bundle)

    def test_policy_versions_are_checked_against_the_records(
        self, setup: tuple[str, Path, CheckpointSigner], tmp_path: Path
    ) -> None:
        """The bundle's policy_versions, which no signature covers, must be the versions
        its records carry: a bundle edited to claim another policy was in force is
        broken, not valid."""
        url, folder, signer = setup
        trail = AuditTrail(
            url, pseudonymiser=Pseudonymiser({"k1": KEY}), signer=signer, checkpoints=folder
        )
        trail.export(tmp_path / "b.json", account="kid-1")
        trail.close()
        bundle = read_bundle(tmp_path / "b.json")
        assert bundle["policy_versions"]
        assert verify_bundle(bundle).status == "valid"
        honest = bundle["policy_versions"]
        bundle["policy_versions"] = ["2026-approved-by-regulator"]
        report = verify_bundle(bundle)
        assert report.status == "broken"
        assert report.problem == (
            "policy_versions lists ['2026-approved-by-regulator'], but the bundle's records "
            f"carry {honest!r}"
        )
        bundle["policy_versions"] = [*honest, "v-extra"]
        assert verify_bundle(bundle).status == "broken"

    def test_a_nul_in_the_output_path(
        self,
        setup: tuple[str, Path, CheckpointSigner],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """An output path holding a NUL byte exits 2 naming it, not with a ValueError
        traceback."""
        url, folder, _ = setup
        argv = ["audit", "export", url, "--checkpoints", str(folder), "--from", "2020-01-01"]
        assert main([*argv, "-o", "b\x00.json"]) == 2
        assert "a NUL byte in the path" in capsys.readouterr().err

    def test_many_segments_are_checked_in_linear_time(self) -> None:
        """Each segment is checked for replays against its neighbour only, not against
        every segment before it: with a checkpoint a minute, a year's bundle has some
        500,000 segments, which the old all-pairs scan took about 40 minutes over. Each
        segment's start is compared once; a replay deep inside is still found."""
        compared = 0

        class Start(int):
            def __lt__(self, other: object) -> bool:
                nonlocal compared
                compared += 1
                return int(self) < other  # type: ignore[operator]

        bundle = _many_segments(400)
        for segment in bundle["segments"]:
            segment["start"] = Start(segment["start"])
        assert verify_bundle(bundle).status == "empty"  # every record is redacted
        assert compared <= 400
        bundle = _many_segments(400)
        bundle["segments"].insert(3, bundle["segments"][250])
        report = verify_bundle(bundle)
        assert (report.status, report.problem) == (
            "broken",
            "segment 251 repeats records 251..251 of segment 3 (replayed)",
        )

    def test_unanchored_tail_in_bundle(self, tmp_path: Path) -> None:
        """Records after the last checkpoint are exported as unanchored."""
        signer = CheckpointSigner.generate()
        trail = AuditTrail(
            f"sqlite:///{tmp_path}/a.db",
            pseudonymiser=Pseudonymiser({"k1": KEY}),
            signer=signer,
            checkpoints=tmp_path / "cps",
        )
        trail.record_complaint("r-1", category="other").wait()
        trail.export(tmp_path / "b.json")
        trail.close()
        report = verify_bundle(read_bundle(tmp_path / "b.json"))
        assert report.status == "unanchored"
        assert report.unanchored == 1

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            (b"not json", "not a readable bundle"),
            (b'{"format": "other"}', "not a childsafe audit bundle"),
            (b'{"format": "childsafe-audit-bundle", "version": 9}', "unknown bundle version 9"),
            (gzip.compress(b"[1"), "not a readable bundle"),
        ],
    )
    def test_unreadable_bundles(self, tmp_path: Path, content: bytes, message: str) -> None:
        """Files that are not bundles raise AuditRecordError naming the file."""
        path = tmp_path / "b.json"
        path.write_bytes(content)
        with pytest.raises(AuditRecordError, match=message):
            read_bundle(path)

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            (b'{"format": "childsafe-audit-bundle", "version": 1, "x": ' + b"[" * 5000
             + b"]" * 5000 + b"}", "nested more than 32 levels deep"),
            (b'{"format": "other", "format": "childsafe-audit-bundle", "version": 1}',
             "duplicate key 'format'"),
            (b'{"format": "childsafe-audit-bundle", "version": 1, "n": NaN}', "NaN"),
        ],
    )  # fmt: skip
    def test_bundles_made_to_mislead_or_crash(
        self, tmp_path: Path, content: bytes, message: str
    ) -> None:
        """A bundle nested to crash the reader, or repeating a key (read one way here and
        another by other tools), is refused with AuditRecordError, never a traceback."""
        path = tmp_path / "b.json"
        path.write_bytes(content)
        with pytest.raises(AuditRecordError, match=message):
            read_bundle(path)

    def test_gzip_bomb_and_size_limit(self, tmp_path: Path) -> None:
        """A gzipped bundle inflating far beyond its size, or a bundle over max_bytes, is
        refused while it is read, not read into memory whole."""
        bomb = tmp_path / "bomb.json.gz"
        with gzip.open(bomb, "wb", compresslevel=9) as f:
            for _ in range(64):
                f.write(b" " * (1 << 20))
        with pytest.raises(AuditRecordError, match="inflates to more than 100 times"):
            read_bundle(bomb)
        plain = tmp_path / "big.json"
        plain.write_bytes(b" " * 2048)
        with pytest.raises(AuditRecordError, match="larger than 1024 bytes"):
            read_bundle(plain, max_bytes=1024)

    def test_a_pipe_is_not_read(self, tmp_path: Path) -> None:
        """A bundle path that is a pipe or a device is refused, not read forever."""
        fifo = tmp_path / "bundle.json"
        os.mkfifo(fifo)
        with pytest.raises(AuditRecordError, match="not a regular file"):
            read_bundle(fifo)
        with pytest.raises(AuditRecordError, match="not a regular file"):
            read_bundle(Path("/dev/zero"))

    def test_a_body_with_a_lone_surrogate(
        self, setup: tuple[str, Path, CheckpointSigner], tmp_path: Path
    ) -> None:
        """A record body holding an escaped lone surrogate is a malformed entry, named
        with its place, rather than a UnicodeEncodeError."""
        url, folder, signer = setup
        trail = AuditTrail(
            url, pseudonymiser=Pseudonymiser({"k1": KEY}), signer=signer, checkpoints=folder
        )
        trail.export(tmp_path / "b.json")
        trail.close()
        bundle = read_bundle(tmp_path / "b.json")
        entry = next(e for e in bundle["segments"][0]["entries"] if "body" in e)
        entry["body"] = entry["body"][:-1] + "\ud800}"
        (tmp_path / "b.json").write_text(json.dumps(bundle))
        with pytest.raises(AuditRecordError, match=r"entries\[0\]\.body: not UTF-8 text"):
            verify_bundle(read_bundle(tmp_path / "b.json"))

    def test_malformed_entries(
        self, setup: tuple[str, Path, CheckpointSigner], tmp_path: Path
    ) -> None:
        """Malformed bundle fields raise AuditRecordError naming where."""
        url, folder, signer = setup
        trail = AuditTrail(
            url, pseudonymiser=Pseudonymiser({"k1": KEY}), signer=signer, checkpoints=folder
        )
        trail.export(tmp_path / "b.json", account="kid-1")
        trail.close()
        bundle = read_bundle(tmp_path / "b.json")
        bundle["segments"][0]["entries"][0]["seq"] = "one"
        with pytest.raises(
            AuditRecordError, match=r"bundle.segments\[0\].entries\[0\].seq: expected int"
        ):
            verify_bundle(bundle)
        bundle = read_bundle(tmp_path / "b.json")
        redacted = next(e for e in bundle["segments"][0]["entries"] if "digest" in e)
        redacted["digest"] = "zz"
        with pytest.raises(AuditRecordError, match="digest: not hex"):
            verify_bundle(bundle)
        bundle["segments"] = [1]
        with pytest.raises(AuditRecordError, match="expected an object"):
            verify_bundle(bundle)


class TestCLI:
    @pytest.mark.parametrize("command", ["verify", "export"])
    def test_a_store_that_does_not_exist(
        self, tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """verify and export refuse a SQLite path with no store (exit 2, naming it):
        verifying a mistyped path said "The chain is empty." and exited 0, and left an
        empty database behind."""
        missing = tmp_path / "typo.db"
        args = ["audit", command, f"sqlite:///{missing}", "--checkpoints", str(tmp_path)]
        if command == "export":
            args += ["--from", "2026-01-01", "-o", str(tmp_path / "b.json")]
        assert main(args) == 2
        assert f"there is no audit store at '{missing}'" in capsys.readouterr().err
        assert not missing.exists()

    @needs_postgres
    @pytest.mark.parametrize("command", ["verify", "export"])
    def test_a_postgres_prefix_with_no_store(
        self, tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A PostgreSQL URL whose prefix names no tables is refused (exit 2, naming
        it), and no table is created."""
        import psycopg  # noqa: PLC0415

        assert POSTGRES_URL is not None
        url = f"{POSTGRES_URL}?prefix=t_cli_typo"
        args = ["audit", command, url, "--checkpoints", str(tmp_path)]
        if command == "export":
            args += ["--from", "2026-01-01", "-o", str(tmp_path / "b.json")]
        assert main(args) == 2
        assert "there is no audit store" in capsys.readouterr().err
        with psycopg.connect(POSTGRES_URL, autocommit=True) as db:
            assert db.execute("SELECT to_regclass('t_cli_typo_schema')").fetchone() == (None,)

    def test_verify_store_and_bundle(
        self,
        setup: tuple[str, Path, CheckpointSigner],
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """verify reports a valid store, exports a bundle that verifies offline, and
        names the first broken link with exit status 1."""
        url, folder, _ = setup
        key = str(tmp_path / "key.pem")
        assert (
            main(["audit", "verify", url, "--checkpoints", str(folder), "--public-key", key]) == 0
        )
        assert "VALID: records 1..50" in capsys.readouterr().out
        assert main(["audit", "verify", url, "--checkpoints", str(folder)]) == 0
        assert "trusting the public keys in the checkpoint directory" in capsys.readouterr().out
        out = tmp_path / "b.json"
        code = main(
            [
                "audit",
                "export",
                url,
                "--checkpoints",
                str(folder),
                "--from",
                (T0 + dt.timedelta(days=4)).date().isoformat(),
                "--to",
                (T0 + dt.timedelta(days=8)).date().isoformat(),
                "-o",
                str(out),
            ]
        )
        assert code == 0
        assert "5 records" in capsys.readouterr().out
        assert main(["audit", "verify", str(out), "--public-key", key, "-f", "json"]) == 0
        assert json.loads(capsys.readouterr().out)["status"] == "valid"
        assert main(["audit", "verify", str(out)]) == 0
        assert "trusting the public key inside the bundle" in capsys.readouterr().out
        store = SQLiteAuditStore(url.removeprefix("sqlite:///"))
        import sqlite3  # noqa: PLC0415

        with sqlite3.connect(store.path) as db:
            db.execute("UPDATE childsafe_audit_records SET hash = ? WHERE seq = 7", ("0" * 64,))
        store.close()
        assert main(["audit", "verify", url, "--checkpoints", str(folder)]) == 1
        assert "BROKEN: record 7: its stored hash does not match" in capsys.readouterr().out

    def test_unanchored_and_witness(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A store without checkpoints exits 3 (unanchored); a witness beyond the end
        exits 1."""
        url = f"sqlite:///{tmp_path}/a.db"
        signer = CheckpointSigner.generate()
        trail = AuditTrail(
            url,
            pseudonymiser=Pseudonymiser({"k1": KEY}),
            signer=signer,
            checkpoints=tmp_path / "cps",
        )
        trail.record_complaint("r", category="other").wait()
        trail.close()
        plain_url = f"sqlite:///{tmp_path}/plain.db"
        plain = AuditTrail(plain_url, pseudonymiser=Pseudonymiser({"k1": KEY}))
        plain.record_complaint("r", category="other").wait()
        plain.close()
        assert main(["audit", "verify", plain_url]) == 3
        out = capsys.readouterr().out
        assert "UNANCHORED" in out
        assert "no --checkpoints given" in out
        witness = signer.sign(trail.chain_id, 99, "a" * 64)
        (tmp_path / "w.json").write_text(json.dumps(witness.to_dict()))
        code = main(
            [
                "audit",
                "verify",
                url,
                "--checkpoints",
                str(tmp_path / "cps"),
                "--witness",
                str(tmp_path / "w.json"),
            ]
        )
        assert code == 1
        assert "witness checkpoint vouches for record 99" in capsys.readouterr().out

    def test_export_by_account(
        self,
        setup: tuple[str, Path, CheckpointSigner],
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """--account pseudonymises with the keys in the environment; --pseudonym takes one."""
        url, folder, _ = setup
        monkeypatch.setenv("CHILDSAFE_AUDIT_PSEUDONYM_KEYS", f"k1:{KEY.hex()}")
        out = tmp_path / "kid.json"
        assert (
            main(
                [
                    "audit",
                    "export",
                    url,
                    "--checkpoints",
                    str(folder),
                    "--account",
                    "kid-1",
                    "-o",
                    str(out),
                ]
            )
            == 0
        )
        assert "10 records" in capsys.readouterr().out
        pseudonym = Pseudonymiser({"k1": KEY}).pseudonym("kid-1")
        assert (
            main(
                [
                    "audit",
                    "export",
                    url,
                    "--checkpoints",
                    str(folder),
                    "--pseudonym",
                    pseudonym,
                    "-o",
                    str(out),
                ]
            )
            == 0
        )
        assert "10 records" in capsys.readouterr().out

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (
                ["audit", "export", "sqlite:///x.db", "--checkpoints", "c", "-o", "o"],
                "choose what to export",
            ),
            (
                [*EXPORT, "--from", "2026-12-01", "--to", "2026-01-01"],
                "--to (2026-01-02T00:00:00+00:00) must come after --from",
            ),
            (
                [*EXPORT, "--from", "2026-03-01T00:00:00Z", "--to", "2026-03-01T00:00:00Z"],
                "the period holds nothing",
            ),
            (["audit", "verify", "nope.json"], "not a readable bundle"),
            (["audit", "verify", "mysql://x"], "unknown audit store URL"),
            (
                ["audit", "verify", "sqlite:///x.db", "--public-key", "/missing.pem"],
                "cannot read the public key",
            ),
            (
                ["audit", "verify", "sqlite:///x.db", "--public-key", "/dev/zero"],
                "cannot read the public key /dev/zero: not a regular file",  # read forever
            ),
            (
                ["audit", "verify", "sqlite:///x.db", "--public-key", "big.pem"],
                "cannot read the public key big.pem: larger than 65536 bytes",
            ),
            (
                ["audit", "verify", "sqlite:///x.db", "--witness", "/missing.json"],
                "cannot read the witness",
            ),
            (
                ["audit", "verify", "sqlite:///x.db", "--witness", "/dev/zero"],
                "/dev/zero: not a regular file",  # was read until memory ran out
            ),
            (
                [
                    "audit",
                    "export",
                    "sqlite:///x.db",
                    "--checkpoints",
                    "c",
                    "-o",
                    "o",
                    "--account",
                    "a",
                ],
                "CHILDSAFE_AUDIT_PSEUDONYM_KEYS is not set",
            ),
        ],
    )
    def test_errors(
        self,
        argv: list[str],
        message: str,
        capsys: pytest.CaptureFixture[str],
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Usage and input errors exit 2 with a message naming the problem."""
        monkeypatch.chdir(tmp_path)
        monkeypatch.delenv("CHILDSAFE_AUDIT_PSEUDONYM_KEYS", raising=False)
        (tmp_path / "big.pem").write_bytes(b"-" * (1 << 20))
        assert main(argv) == 2
        assert message in capsys.readouterr().err

    def test_bad_dates(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--from and --to take dates or ISO times with an offset."""
        for bad in ("yesterday", "2026-01-01T10:00:00"):
            assert (
                main(
                    [
                        "audit",
                        "export",
                        "sqlite:///x.db",
                        "--checkpoints",
                        "c",
                        "-o",
                        "o",
                        "--from",
                        bad,
                    ]
                )
                == 2
            )
            assert "--from" in capsys.readouterr().err

    @needs_postgres
    def test_postgres_store(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """verify and export work on a PostgreSQL store."""
        from childsafe.audit import PostgresAuditStore  # noqa: PLC0415

        url = f"{POSTGRES_URL}?prefix=t_cli_check"
        signer = CheckpointSigner.generate()
        trail = build(url, tmp_path / "cps", signer)
        trail.close()
        try:
            assert main(["audit", "verify", url, "--checkpoints", str(tmp_path / "cps")]) == 0
            assert "VALID" in capsys.readouterr().out
            out = tmp_path / "b.json"
            assert (
                main(
                    [
                        "audit",
                        "export",
                        url,
                        "--checkpoints",
                        str(tmp_path / "cps"),
                        "--from",
                        T0.isoformat(),
                        "-o",
                        str(out),
                    ]
                )
                == 0
            )
            assert verify_bundle(read_bundle(out)).status == "valid"
        finally:
            assert POSTGRES_URL is not None
            PostgresAuditStore(POSTGRES_URL, prefix="t_cli_check").destroy()


def test_guard_events_reach_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A guard's decisions recorded through the sink verify from the command line."""
    url = f"sqlite:///{tmp_path}/a.db"
    trail = AuditTrail(
        url,
        pseudonymiser=Pseudonymiser({"k1": KEY}),
        signer=CheckpointSigner.generate(),
        checkpoints=tmp_path / "cps",
    )
    guard = Guard()
    trail.attach(guard)
    guard.check("dm.send", actor=ADULT, target=KID)
    assert guard.flush_events()
    trail.close()
    assert main(["audit", "verify", url, "--checkpoints", str(tmp_path / "cps")]) == 0
    assert "VALID: records 1..3" in capsys.readouterr().out


def _many_segments(n: int) -> dict[str, Any]:
    """A bundle of ``n`` segments of one redacted record each, a signed checkpoint
    after every record."""
    signer = CheckpointSigner.generate()
    chain = uuid.uuid4().hex
    prev = genesis_hash(chain)
    segments, checkpoints = [], []
    for seq in range(1, n + 1):
        digest = hashlib.sha256(str(seq).encode()).digest()
        link = link_hash(prev, seq, digest)
        entry = {"seq": seq, "prev": prev, "hash": link, "digest": digest.hex()}
        segments.append({"start": seq - 1, "end": seq, "entries": [entry]})
        checkpoints.append(signer.sign(chain, seq, link).to_dict())
        prev = link
    return {
        "chain": chain,
        "public_keys": {signer.key_id: signer.public_pem},
        "checkpoints": checkpoints,
        "segments": segments,
    }
