"""The evidence vault on a real SQLite file, a real audit trail and a real desk."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from childsafe import Account, AgeBand
from childsafe.audit import AuditTrail, ComplaintRecorder, Pseudonymiser
from childsafe.complaints import ComplaintsDesk, ReporterRole, SQLiteComplaintStore, SubjectKind
from childsafe.media import (
    REPORT_FORMAT,
    EvidencePreserver,
    EvidenceStoreError,
    EvidenceVault,
    HashList,
    MediaConfigError,
    MediaFile,
    MediaIncident,
    MediaScreen,
    SQLiteEvidenceStore,
    pdq_hash,
)
from childsafe.testing.media import jpeg_bytes, scene

AT = dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.UTC)
ADULT = Account("user-41", band=AgeBand.ADULT, jurisdiction="GB")
CHILD = Account("user-7", band=AgeBand.AGE_13_15, jurisdiction="GB")


@pytest.fixture(name="trail")
def _trail(tmp_path: Path) -> Iterator[AuditTrail]:
    trail = AuditTrail(
        f"sqlite:///{tmp_path / 'audit.db'}", pseudonymiser=Pseudonymiser({"k1": b"s" * 32})
    )
    yield trail
    trail.close()


@pytest.fixture(name="desk")
def _desk(tmp_path: Path, trail: AuditTrail) -> ComplaintsDesk:
    return ComplaintsDesk(
        SQLiteComplaintStore(tmp_path / "complaints.db"), sinks=[ComplaintRecorder(trail)]
    )


@pytest.fixture(name="incident")
def _incident(tmp_path: Path) -> MediaIncident:
    """A matched upload, inspected by a real screen against a demo list."""
    raw = jpeg_bytes(scene(5), quality=50)
    path = tmp_path / "upload.tmp"
    path.write_bytes(raw)
    listed = HashList.from_entries("hotline-2026", [(pdq_hash(scene(5)).hex, "HL-991")])
    media = MediaFile(path, len(raw), "image/jpeg", "holiday.jpg", "photo")
    verdict = MediaScreen([listed]).inspect(media)
    assert verdict.matched
    return MediaIncident(media, verdict, "media.send", ADULT, CHILD, "req-123", AT)


class TestVault:
    def test_is_an_evidence_preserver(self) -> None:
        """EvidenceVault satisfies the kernel's EvidencePreserver protocol."""
        assert isinstance(EvidenceVault(), EvidencePreserver)

    def test_the_incidents_address_is_kept(self, tmp_path: Path, incident: MediaIncident) -> None:
        """The address the kernel saw (the incident's ``client_addr``) is kept and
        goes into the report bundle; ``keep(ip=)`` overrides it."""
        seen = attrs.evolve(incident, client_addr="192.0.2.10")
        vault = EvidenceVault(tmp_path / "evidence.db")
        vault.preserve(seen)
        [kept] = vault.store.items()
        assert kept.ip == "192.0.2.10"
        assert vault.report_bundle(kept.id)["account"]["ip"] == "192.0.2.10"
        assert vault.keep(seen, ip="198.51.100.1").ip == "198.51.100.1"
        assert vault.keep(incident).ip is None

    def test_keeps_records_and_opens_a_case(
        self,
        tmp_path: Path,
        trail: AuditTrail,
        desk: ComplaintsDesk,
        incident: MediaIncident,
    ) -> None:
        """A match leaves its evidence in SQLite (surviving a reopen), a media_match
        record on the audit trail, and a case for human review on the desk."""
        vault = EvidenceVault(tmp_path / "evidence.db", trail=trail, desk=desk)
        kept = vault.keep(incident, ip="203.0.113.9")
        raw = incident.media.path.read_bytes()

        again = EvidenceVault(SQLiteEvidenceStore(tmp_path / "evidence.db")).get(kept.id)
        assert again == kept
        assert kept.at == AT
        assert (kept.action, kept.request_id) == ("media.send", "req-123")
        assert (kept.account_id, kept.account_band, kept.account_jurisdiction) == (
            "user-41",
            "adult",
            "GB",
        )
        assert (kept.target_id, kept.target_band) == ("user-7", "13_15")
        assert (kept.list_name, kept.entry_id) == ("hotline-2026", "HL-991")
        assert kept.pdq == incident.verdict.pdq
        assert kept.distance == incident.verdict.match.distance  # type: ignore[union-attr]
        assert (kept.size, kept.content_type, kept.filename, kept.field) == (
            len(raw),
            "image/jpeg",
            "holiday.jpg",
            "photo",
        )
        assert kept.sha256 == hashlib.sha256(raw).hexdigest()
        assert kept.md5 == hashlib.md5(raw, usedforsecurity=False).hexdigest()
        assert kept.ip == "203.0.113.9"
        assert kept.quarantined is None
        assert stat.S_IMODE((tmp_path / "evidence.db").stat().st_mode) == 0o600

        records = list(trail.records(kinds=["media_match"]))
        assert len(records) == 1
        record = records[0]
        assert record.id == kept.audit_id
        assert record.data["evidence"] == kept.id
        assert record.data["list"] == "hotline-2026"
        assert record.data["entry"] == "HL-991"
        assert record.actor is not None
        assert "user-41" not in record.actor  # pseudonymised
        assert list(trail.records(kinds=["media_match"], account="user-41")) == records

        case = desk.get(kept.case_id or "")
        assert case.category == "sexual_content"
        assert case.reporter.role is ReporterRole.PLATFORM
        assert (case.subject.kind, case.subject.id, case.subject.account_id) == (
            SubjectKind.CONTENT,
            kept.id,
            "user-41",
        )
        assert "hotline-2026" in case.description
        assert "not a finding" in case.description
        assert list(trail.records(kinds=["complaint"]))  # the desk recorded the case too

    def test_preserve_is_keep(self, incident: MediaIncident) -> None:
        """The protocol hook keeps the evidence in memory by default."""
        vault = EvidenceVault()
        vault.preserve(incident)
        (kept,) = vault.items()
        assert kept.pdq == incident.verdict.pdq

    def test_quarantine(self, tmp_path: Path, incident: MediaIncident) -> None:
        """With a quarantine folder, the file is copied there, owner-only, named by the
        evidence id with no extension."""
        folder = tmp_path / "q"
        vault = EvidenceVault(quarantine=folder)
        kept = vault.keep(incident)
        assert kept.quarantined == str(folder / kept.id)
        copy = Path(kept.quarantined)
        assert copy.read_bytes() == incident.media.path.read_bytes()
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700

    def test_report_bundle(
        self, tmp_path: Path, desk: ComplaintsDesk, incident: MediaIncident
    ) -> None:
        """The bundle holds what a report to NCMEC/the NCA/the IWF needs, as JSON."""
        vault = EvidenceVault(tmp_path / "e.db", desk=desk, quarantine=tmp_path / "q")
        kept = vault.keep(incident)
        bundle = vault.report_bundle(
            kept.id, ip="198.51.100.4", reporter={"platform": "Example", "contact": "t&s@ex"}
        )
        assert json.loads(json.dumps(bundle)) == bundle
        assert bundle["format"] == REPORT_FORMAT
        assert "has not sent" in bundle["notice"]
        assert bundle["incident"]["case_id"] == kept.case_id
        assert bundle["incident"]["at"] == AT.isoformat()
        assert bundle["account"] == {
            "id": "user-41",
            "band": "adult",
            "jurisdiction": "GB",
            "ip": "198.51.100.4",
        }
        assert bundle["recipient"] == {"id": "user-7", "band": "13_15"}
        assert bundle["file"]["sha256"] == kept.sha256
        assert bundle["file"]["quarantine_file"] == kept.quarantined
        assert bundle["match"]["list"] == "hotline-2026"
        assert bundle["match"]["listed_hash"] == kept.listed
        assert bundle["reporter"]["platform"] == "Example"
        with pytest.raises(KeyError):
            vault.report_bundle("nope")

    def test_forget(self, tmp_path: Path, incident: MediaIncident) -> None:
        """forget() deletes evidence older than a date, with its quarantined file, and
        keeps the rest."""
        vault = EvidenceVault(tmp_path / "e.db", quarantine=tmp_path / "q")
        old = vault.keep(incident)
        later = incident.at + dt.timedelta(days=400)
        new = vault.keep(
            MediaIncident(
                incident.media, incident.verdict, "media.upload", ADULT, None, "req-9", later
            )
        )
        assert vault.forget(later - dt.timedelta(days=1)) == 1
        assert [e.id for e in vault.items()] == [new.id]
        assert old.quarantined is not None
        assert not Path(old.quarantined).exists()
        assert new.quarantined is not None
        assert Path(new.quarantined).exists()
        with pytest.raises(MediaConfigError, match="aware"):
            vault.forget(dt.datetime(2030, 1, 1))  # noqa: DTZ001 - the error under test

    def test_vanished_file_still_keeps_evidence(self, incident: MediaIncident) -> None:
        """If the spooled file is gone, the hash evidence is kept without digests."""
        incident.media.path.unlink()
        kept = EvidenceVault().keep(incident)
        assert kept.sha256 is None
        assert kept.pdq == incident.verdict.pdq

    def test_desk_failure_is_reported_after_keeping(
        self, tmp_path: Path, trail: AuditTrail, incident: MediaIncident
    ) -> None:
        """A desk that cannot store the case raises EvidenceStoreError, after the
        evidence and the audit record are kept."""
        broken = tmp_path / "broken.db"
        desk = ComplaintsDesk(SQLiteComplaintStore(broken))
        broken.unlink()
        broken.mkdir()  # the store's file is now a folder: every write fails
        vault = EvidenceVault(trail=trail, desk=desk)
        with pytest.raises(EvidenceStoreError, match="kept, but: case"):
            vault.keep(incident)
        (kept,) = vault.items()
        assert kept.audit_id is not None
        assert kept.case_id is None

    def test_refusals(self, desk: ComplaintsDesk, incident: MediaIncident) -> None:
        """An unknown case category, or an incident without a match, is refused."""
        with pytest.raises(MediaConfigError, match="category"):
            EvidenceVault(desk=desk, category="nope")
        unmatched = MediaIncident(
            incident.media,
            type(incident.verdict)(pdq="0" * 64),
            "media.upload",
            None,
            None,
            None,
            AT,
        )
        with pytest.raises(MediaConfigError, match="no match"):
            EvidenceVault().keep(unmatched)

    def test_store_errors_are_named(self, tmp_path: Path) -> None:
        """A store path that cannot be opened raises EvidenceStoreError naming it."""
        with pytest.raises(EvidenceStoreError, match="evidence store"):
            SQLiteEvidenceStore(tmp_path / "missing" / "e.db")

    def test_arguments_of_the_wrong_kind(self, tmp_path: Path) -> None:
        """A store that is no store (accepted, then AttributeError at the first match),
        a NUL byte in the store or quarantine path (ValueError), an audit_timeout that
        is NaN or negative (accepted), keep(None) and forget(None) (AttributeError)
        are refused with the media errors."""
        with pytest.raises(MediaConfigError, match="store: expected an evidence store"):
            EvidenceVault(5)  # type: ignore[arg-type]
        with pytest.raises(EvidenceStoreError, match="a bad path"):
            EvidenceVault(str(tmp_path / "e\x00.db"))
        with pytest.raises(EvidenceStoreError, match=r"quarantine folder .* a bad path"):
            EvidenceVault(quarantine=str(tmp_path / "q\x00"))
        for wait in (float("nan"), -1, 0, 10**19, True):
            with pytest.raises(MediaConfigError, match="audit_timeout"):
                EvidenceVault(audit_timeout=wait)
        vault = EvidenceVault()
        with pytest.raises(MediaConfigError, match="expected a MediaIncident"):
            vault.keep(None)  # type: ignore[arg-type]
        for before in (None, "2026-01-01", dt.date(2026, 1, 1)):
            with pytest.raises(MediaConfigError, match="forget: expected an aware datetime"):
                vault.forget(before)  # type: ignore[arg-type]

    def test_damaged_rows_are_named(self, tmp_path: Path, incident: MediaIncident) -> None:
        """A row that is not evidence (damaged, or edited by hand) raised JSONDecodeError
        or KeyError from get, items and forget; it is an EvidenceStoreError naming the
        evidence now, and forget deletes nothing until it is repaired."""
        import sqlite3  # noqa: PLC0415

        path = tmp_path / "e.db"
        vault = EvidenceVault(path)
        kept = vault.keep(incident)
        for body in ("{bad", "{}", "[1]", '{"at": 5}'):
            with sqlite3.connect(path) as db:
                db.execute(
                    "INSERT OR REPLACE INTO childsafe_media_evidence VALUES ('x', 0, NULL, ?)",
                    (body,),
                )
            with pytest.raises(EvidenceStoreError, match="the evidence 'x' cannot be read"):
                vault.items()
            with pytest.raises(EvidenceStoreError, match="the evidence 'x' cannot be read"):
                vault.get("x")
            with pytest.raises(EvidenceStoreError, match="the evidence 'x' cannot be read"):
                vault.forget(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
        assert vault.get(kept.id) == kept
