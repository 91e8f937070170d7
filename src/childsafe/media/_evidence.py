"""The evidence vault: what a platform keeps when an upload matches a known-abuse hash
list, the audit record, the case for human review, and the report bundle its own
reporting process sends on. childsafe never contacts anyone.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

import attrs

from childsafe.media._errors import EvidenceStoreError, MediaConfigError
from childsafe.media._types import MediaIncident

if TYPE_CHECKING:
    from childsafe.audit import AuditTrail
    from childsafe.complaints import ComplaintsDesk

__all__ = [
    "REPORT_FORMAT",
    "Evidence",
    "EvidenceStore",
    "EvidenceVault",
    "MemoryEvidenceStore",
    "SQLiteEvidenceStore",
]

log = logging.getLogger("childsafe.media")

REPORT_FORMAT: Final = "childsafe.media.report/1"
"""The ``format`` of a report bundle."""

_CHUNK: Final = 1 << 16


@attrs.frozen(slots=True)
class Evidence:
    """What the vault kept about one matched image.

    ``account_id`` is the platform's own id for the uploader (not a pseudonym: the
    reporting duties need it); ``content_type``, ``filename`` and ``field`` are what the
    client declared; ``sha256``/``md5`` the file's cryptographic digests (hotlines
    accept them beside the perceptual hash); ``quarantined`` the file's path in the
    quarantine folder when the vault keeps files; ``case_id`` and ``audit_id`` the case
    opened and the audit record written."""

    id: str
    at: dt.datetime
    action: str
    pdq: str
    quality: int | None
    list_name: str
    listed: str
    distance: int
    entry_id: str | None
    size: int
    sha256: str | None
    md5: str | None
    content_type: str | None = None
    filename: str | None = None
    field: str | None = None
    account_id: str | None = None
    account_band: str | None = None
    account_jurisdiction: str | None = None
    target_id: str | None = None
    target_band: str | None = None
    request_id: str | None = None
    ip: str | None = None
    quarantined: str | None = None
    case_id: str | None = None
    audit_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The evidence as JSON-safe data."""
        out = attrs.asdict(self)
        out["at"] = self.at.isoformat()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evidence:
        """The inverse of :meth:`to_dict`."""
        values = dict(data)
        values["at"] = dt.datetime.fromisoformat(values["at"])
        return cls(**values)


class EvidenceStore(Protocol):
    """Where evidence is kept."""

    def put(self, evidence: Evidence) -> None: ...
    def get(self, evidence_id: str) -> Evidence | None: ...
    def items(self) -> list[Evidence]: ...
    def remove(self, evidence_id: str) -> None: ...


class MemoryEvidenceStore:
    """Evidence in this process's memory (tests, demos)."""

    def __init__(self) -> None:
        self._items: dict[str, Evidence] = {}
        self._lock = threading.Lock()

    def put(self, evidence: Evidence) -> None:
        with self._lock:
            self._items[evidence.id] = evidence

    def get(self, evidence_id: str) -> Evidence | None:
        with self._lock:
            return self._items.get(evidence_id)

    def items(self) -> list[Evidence]:
        with self._lock:
            return sorted(self._items.values(), key=lambda e: (e.at, e.id))

    def remove(self, evidence_id: str) -> None:
        with self._lock:
            self._items.pop(evidence_id, None)


class SQLiteEvidenceStore:
    """Evidence in a SQLite file (standard library; WAL; safe from several threads and
    processes). The file is created with owner-only permissions."""

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 10.0) -> None:
        self.path = os.fspath(path)
        if "\x00" in self.path:
            raise EvidenceStoreError(f"cannot open the evidence store {self.path!r}: a bad path")
        self.timeout = timeout
        fresh = not Path(self.path).exists()
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS childsafe_media_evidence (id TEXT PRIMARY KEY, "
                "at_us INTEGER NOT NULL, account_id TEXT, body TEXT NOT NULL)"
            )
            db.execute(
                "CREATE INDEX IF NOT EXISTS childsafe_media_evidence_at "
                "ON childsafe_media_evidence (at_us)"
            )
        if fresh:
            with contextlib.suppress(OSError):
                Path(self.path).chmod(0o600)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        except sqlite3.Error as e:
            raise EvidenceStoreError(f"cannot open the evidence store {self.path!r}: {e}") from e
        try:
            yield db
        except sqlite3.Error as e:
            raise EvidenceStoreError(f"evidence store {self.path!r}: {e}") from e
        finally:
            db.close()

    def put(self, evidence: Evidence) -> None:
        at_us = int(evidence.at.timestamp() * 1_000_000)
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO childsafe_media_evidence VALUES (?, ?, ?, ?)",
                (evidence.id, at_us, evidence.account_id, json.dumps(evidence.to_dict())),
            )

    def get(self, evidence_id: str) -> Evidence | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT id, body FROM childsafe_media_evidence WHERE id = ?", (evidence_id,)
            ).fetchone()
        return None if row is None else self._decode(row[0], row[1])

    def items(self) -> list[Evidence]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, body FROM childsafe_media_evidence ORDER BY at_us, id"
            ).fetchall()
        return [self._decode(r[0], r[1]) for r in rows]

    def _decode(self, evidence_id: object, body: object) -> Evidence:
        """A stored row as :class:`Evidence`; a row that is not (edited by hand, or
        damaged) is an :class:`~childsafe.media.EvidenceStoreError` naming it."""
        try:
            data = json.loads(body)  # type: ignore[arg-type]
            return Evidence.from_dict(data if isinstance(data, dict) else {"": data})
        except (ValueError, TypeError, KeyError, RecursionError) as e:
            raise EvidenceStoreError(
                f"evidence store {self.path!r}: the evidence {evidence_id!r} cannot be read "
                f"({type(e).__name__}: {str(e)[:120]})"
            ) from None

    def remove(self, evidence_id: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM childsafe_media_evidence WHERE id = ?", (evidence_id,))


class EvidenceVault:
    """An :class:`~childsafe.media.EvidencePreserver`: for each matched image it keeps
    the :class:`Evidence` (hash, list and entry, distance, declared metadata, size,
    digests, account, time, request id) in ``store`` (a store, a SQLite file path, or
    ``None`` for memory), optionally a copy of the file in ``quarantine`` (a folder
    created ``0700``; each file ``0600``, named by the evidence id with no extension;
    the library never serves it), records a ``media_match`` record on the audit
    ``trail`` and opens a case on the complaints ``desk`` (category ``category``,
    reporter ``platform``, the evidence as the subject) for human review.

    :meth:`report_bundle` assembles what the platform's reporting process needs (to
    NCMEC, the NCA, the IWF). The vault never contacts anyone.

    If the audit trail or the desk fails, the evidence is still kept and
    :meth:`preserve` raises :class:`~childsafe.media.EvidenceStoreError` after trying
    both, so the kernel logs it (the upload is refused either way)."""

    def __init__(
        self,
        store: EvidenceStore | str | os.PathLike[str] | None = None,
        *,
        trail: AuditTrail | None = None,
        desk: ComplaintsDesk | None = None,
        quarantine: str | os.PathLike[str] | None = None,
        category: str = "sexual_content",
        audit_timeout: float = 10.0,
    ) -> None:
        if store is None:
            self.store: EvidenceStore = MemoryEvidenceStore()
        elif isinstance(store, str | os.PathLike):
            self.store = SQLiteEvidenceStore(store)
        elif all(callable(getattr(store, m, None)) for m in ("put", "get", "items", "remove")):
            self.store = store
        else:
            raise MediaConfigError(
                "EvidenceVault: store: expected an evidence store (put, get, items, remove), "
                f"a SQLite file path or None, got {type(store).__name__}"
            )
        wait: object = audit_timeout
        if isinstance(wait, bool) or not isinstance(wait, int | float) or not 0 < wait <= 3600:
            raise MediaConfigError(
                "EvidenceVault: audit_timeout: expected a positive number of seconds up to "
                f"3600, got {audit_timeout!r:.40}"
            )
        if desk is not None and category not in desk.categories:
            raise MediaConfigError(
                f"EvidenceVault: category {category!r} is not one of the desk's categories"
            )
        self.trail = trail
        self.desk = desk
        self.category = category
        self.audit_timeout = audit_timeout
        self.quarantine = None if quarantine is None else Path(quarantine)
        if self.quarantine is not None:
            try:
                self.quarantine.mkdir(mode=0o700, parents=True, exist_ok=True)
                self.quarantine.chmod(0o700)
            except OSError as e:
                raise EvidenceStoreError(
                    f"quarantine folder {str(self.quarantine)!r}: {e.strerror}"
                ) from e
            except ValueError:  # a NUL byte in the path
                raise EvidenceStoreError(
                    f"quarantine folder {str(self.quarantine)!r}: a bad path"
                ) from None

    def preserve(self, incident: MediaIncident) -> None:
        """The :class:`~childsafe.media.EvidencePreserver` hook: :meth:`keep`."""
        self.keep(incident)

    def keep(self, incident: MediaIncident, *, ip: str | None = None) -> Evidence:
        """Keep the evidence of ``incident`` (``ip``: the uploader's address; default
        the incident's ``client_addr``, what the adapter saw), write the audit record
        and open the case; returns the evidence as stored."""
        given: object = incident
        if not isinstance(given, MediaIncident):
            raise MediaConfigError(
                f"EvidenceVault.keep: expected a MediaIncident, got {type(given).__name__}"
            )
        verdict, media = incident.verdict, incident.media
        match = verdict.match
        if match is None or verdict.pdq is None:
            raise MediaConfigError("EvidenceVault.keep: the incident's verdict has no match")
        evidence_id = uuid.uuid4().hex
        sha256, md5, quarantined = self._read(media.path, evidence_id)
        actor, target = incident.actor, incident.target
        evidence = Evidence(
            id=evidence_id,
            at=incident.at,
            action=incident.action,
            pdq=verdict.pdq,
            quality=verdict.quality,
            list_name=match.list_name,
            listed=match.listed,
            distance=match.distance,
            entry_id=match.entry_id,
            size=media.size,
            sha256=sha256,
            md5=md5,
            content_type=media.content_type,
            filename=media.filename,
            field=media.field,
            account_id=None if actor is None else actor.id,
            account_band=None if actor is None else actor.band.value,
            account_jurisdiction=None if actor is None else actor.jurisdiction,
            target_id=None if target is None else target.id,
            target_band=None if target is None else target.band.value,
            request_id=incident.request_id,
            ip=ip if ip is not None else incident.client_addr,
            quarantined=quarantined,
        )
        self.store.put(evidence)
        failures: list[str] = []
        audit_id = case_id = None
        if self.trail is not None:
            try:
                audit_id = self._audit(evidence)
            except Exception as e:
                log.exception("media evidence %s: the audit record failed", evidence_id)
                failures.append(f"audit record: {e}")
        if self.desk is not None:
            try:
                case_id = self._case(evidence)
            except Exception as e:
                log.exception("media evidence %s: opening the case failed", evidence_id)
                failures.append(f"case: {e}")
        if audit_id is not None or case_id is not None:
            evidence = attrs.evolve(evidence, audit_id=audit_id, case_id=case_id)
            self.store.put(evidence)
        if failures:
            raise EvidenceStoreError(f"evidence {evidence_id} kept, but: {'; '.join(failures)}")
        return evidence

    def get(self, evidence_id: str) -> Evidence:
        """The evidence with this id; :class:`KeyError` when there is none."""
        found = self.store.get(evidence_id)
        if found is None:
            raise KeyError(evidence_id)
        return found

    def items(self) -> list[Evidence]:
        """Every piece of evidence kept, oldest first."""
        return self.store.items()

    def forget(self, before: dt.datetime) -> int:
        """Delete the evidence (and its quarantined file) of every match before
        ``before``, once the period the law sets for keeping it has passed; returns how
        many. The audit records stay, under the trail's own retention."""
        given: object = before
        if not isinstance(given, dt.datetime) or given.tzinfo is None:
            raise MediaConfigError(f"forget: expected an aware datetime, got {before!r}")
        gone = 0
        for e in self.store.items():
            if e.at >= before:
                continue
            if e.quarantined is not None:
                try:
                    Path(e.quarantined).unlink(missing_ok=True)
                except OSError as err:
                    raise EvidenceStoreError(
                        f"evidence {e.id}: cannot delete its quarantined file: {err.strerror}"
                    ) from err
            self.store.remove(e.id)
            gone += 1
        return gone

    def report_bundle(
        self,
        evidence_id: str,
        *,
        ip: str | None = None,
        reporter: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The report bundle for one piece of evidence, as JSON-safe data: what the
        platform's reporting process needs to file a report with NCMEC's CyberTipline
        (18 U.S.C. 2258A), the UK's National Crime Agency or the IWF: the incident's
        time, action and request id; the account (the platform's id, band,
        jurisdiction, IP: ``ip`` here or as kept); the recipient; the file's size,
        declared type and name, digests and PDQ hash; the list, entry and distance it
        matched; the case and audit record. ``reporter`` adds the platform's own
        details (name, contact). The library sends it nowhere."""
        e = self.get(evidence_id)
        return {
            "format": REPORT_FORMAT,
            "generated_at": dt.datetime.now(dt.UTC).isoformat(),
            "notice": (
                "Prepared by childsafe for the platform's own reporting process. "
                "childsafe has not sent this, or the image, to anyone."
            ),
            "reporter": dict(reporter or {}),
            "incident": {
                "evidence_id": e.id,
                "at": e.at.isoformat(),
                "action": e.action,
                "request_id": e.request_id,
                "case_id": e.case_id,
                "audit_record": e.audit_id,
            },
            "account": {
                "id": e.account_id,
                "band": e.account_band,
                "jurisdiction": e.account_jurisdiction,
                "ip": ip if ip is not None else e.ip,
            },
            "recipient": None
            if e.target_id is None
            else {"id": e.target_id, "band": e.target_band},
            "file": {
                "size": e.size,
                "content_type": e.content_type,
                "filename": e.filename,
                "field": e.field,
                "sha256": e.sha256,
                "md5": e.md5,
                "pdq": e.pdq,
                "pdq_quality": e.quality,
                "quarantined": e.quarantined is not None,
                "quarantine_file": e.quarantined,
            },
            "match": {
                "hash_type": "pdq",
                "list": e.list_name,
                "entry_id": e.entry_id,
                "listed_hash": e.listed,
                "distance": e.distance,
            },
        }

    # -- steps ---------------------------------------------------------------------

    def _read(self, path: Path, evidence_id: str) -> tuple[str | None, str | None, str | None]:
        """The file's digests, and its quarantined copy when the vault keeps files. A
        file that cannot be read still leaves its evidence (without digests)."""
        sha256 = hashlib.sha256()
        md5 = hashlib.md5(usedforsecurity=False)
        target = None if self.quarantine is None else self.quarantine / evidence_id
        out: int | None = None
        try:
            with Path(path).open("rb") as src:
                if target is not None:
                    out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                while chunk := src.read(_CHUNK):
                    sha256.update(chunk)
                    md5.update(chunk)
                    if out is not None:
                        os.write(out, chunk)
        except OSError:
            log.exception("media evidence %s: the file %s could not be read", evidence_id, path)
            if out is not None:
                os.close(out)
                out = None
                if target is not None:
                    target.unlink(missing_ok=True)
            return None, None, None
        finally:
            if out is not None:
                os.fsync(out)
                os.close(out)
        return sha256.hexdigest(), md5.hexdigest(), None if target is None else str(target)

    def _audit(self, e: Evidence) -> str:
        assert self.trail is not None
        ticket = self.trail.record(
            "media_match",
            actor=e.account_id,
            target=e.target_id,
            data={
                "evidence": e.id,
                "action": e.action,
                "list": e.list_name,
                "entry": e.entry_id,
                "distance": e.distance,
                "pdq": e.pdq,
                "request": e.request_id,
                "band": e.account_band,
            },
            time=e.at,
        )
        return ticket.wait(self.audit_timeout).id

    def _case(self, e: Evidence) -> str:
        from childsafe._bands import AgeBand  # noqa: PLC0415 - keeps the import light
        from childsafe.complaints import (  # noqa: PLC0415
            Intake,
            Reporter,
            ReporterRole,
            Subject,
            SubjectKind,
        )

        assert self.desk is not None
        entry = "" if e.entry_id is None else f" (entry {e.entry_id})"
        text = (
            f"An image ({e.action}) matched the known-abuse hash list {e.list_name!r}{entry} "
            f"at PDQ distance {e.distance}. It was refused and never shown. Evidence "
            f"{e.id} is kept for the platform's legal reporting. Raised automatically for "
            "human review; a hash match is not a finding."
        )
        intake = Intake(
            self.category,
            Subject(SubjectKind.CONTENT, e.id, e.account_id),
            Reporter(ReporterRole.PLATFORM, AgeBand.UNKNOWN),
            text,
        )
        return self.desk.file(intake, at=e.at).id
