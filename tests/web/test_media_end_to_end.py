"""Media safety end to end on all six adapters, with the real pieces: a ``MediaScreen``
over a real ``HashList`` made from a generated picture (PDQ) and the deterministic
``MarkerClassifier``, an ``EvidenceVault`` on SQLite writing to a SQLite audit trail
and opening cases on a SQLite complaints desk. No test double stands in the request
path: what the adapters refuse here is what a platform's users would be refused.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from childsafe import Guard
from childsafe.audit import AuditTrail, ComplaintRecorder, Pseudonymiser
from childsafe.complaints import ComplaintsDesk, ReporterRole, SQLiteComplaintStore, SubjectKind
from childsafe.media import EvidenceVault, HashList, MediaScreen, pdq_hash
from childsafe.testing import ADAPTERS, BuiltApp, SocialApp, build_app
from childsafe.testing._apps import Adapter
from childsafe.testing.media import MarkerClassifier, jpeg_bytes, mark_sensitive, png_bytes, scene
from tests import django_settings
from tests.web.test_contract import call, files, media_routes, problem, raw

LISTED_SEED = 3
LIST_NAME = "hotline-demo"
ENTRY = "HL-0003"


def recompressed_half_size() -> bytes:
    """The listed picture as it is re-shared: halved and saved as a JPEG at quality 40."""
    picture = scene(LISTED_SEED)
    w, h = picture.size
    return jpeg_bytes(picture.resize((w // 2, h // 2), Image.Resampling.LANCZOS), quality=40)


@pytest.fixture(name="adapter", params=ADAPTERS)
def _adapter(request: pytest.FixtureRequest) -> Adapter:
    adapter: Adapter = request.param
    if adapter == "django":
        django_settings.setup()
    return adapter


@pytest.fixture(name="trail")
def _trail(tmp_path: Path) -> Iterator[AuditTrail]:
    trail = AuditTrail(
        f"sqlite:///{tmp_path / 'audit.db'}", pseudonymiser=Pseudonymiser({"k1": b"e" * 32})
    )
    yield trail
    trail.close()


@pytest.fixture(name="desk")
def _desk(tmp_path: Path, trail: AuditTrail) -> ComplaintsDesk:
    return ComplaintsDesk(
        SQLiteComplaintStore(tmp_path / "complaints.db"), sinks=[ComplaintRecorder(trail)]
    )


@pytest.fixture(name="vault")
def _vault(tmp_path: Path, trail: AuditTrail, desk: ComplaintsDesk) -> EvidenceVault:
    return EvidenceVault(
        tmp_path / "evidence.db", trail=trail, desk=desk, quarantine=tmp_path / "quarantine"
    )


@pytest.fixture(name="screen")
def _screen() -> Iterator[MediaScreen]:
    listed = HashList.from_entries(LIST_NAME, [(pdq_hash(scene(LISTED_SEED)).hex, ENTRY)])
    screen = MediaScreen([listed], classifier=MarkerClassifier())
    yield screen
    screen.close()


@pytest.fixture(name="spool_dir")
def _spool_dir(tmp_path: Path) -> Iterator[Path]:
    spool = tmp_path / "spool"
    spool.mkdir()
    yield spool
    assert list(spool.iterdir()) == [], "a temporary file was left behind"


@pytest.fixture(name="social")
def _social() -> SocialApp:
    social = SocialApp()
    for route in media_routes(social):
        social.add_route(route)
    return social


@pytest.fixture(name="built")
def _built(
    adapter: Adapter,
    social: SocialApp,
    trail: AuditTrail,
    screen: MediaScreen,
    vault: EvidenceVault,
    spool_dir: Path,
) -> Iterator[BuiltApp]:
    built = build_app(
        adapter,
        social,
        media_inspector=screen,
        evidence_preserver=vault,
        media_temp_dir=str(spool_dir),
    )
    # The guard the adapter decides with (Django builds its own) records on the trail.
    assert built.guard is not None
    trail.attach(built.guard)
    yield built
    built.close()


def _decisions(trail: AuditTrail, guard: Guard) -> list[dict[str, Any]]:
    """The decision records on the trail, once the guard's events are delivered."""
    assert guard.flush_events(timeout=10.0)
    assert trail.flush(timeout=10.0)
    return [dict(r.data) for r in trail.records(kinds=["decision"])]


class TestKnownAbuseMatch:
    @pytest.mark.parametrize("account", ["stranger", "teen"])
    def test_listed_picture_is_refused_and_leaves_a_case_and_an_audit_record(
        self,
        built: BuiltApp,
        trail: AuditTrail,
        desk: ComplaintsDesk,
        vault: EvidenceVault,
        account: str,
    ) -> None:
        """A half-size, recompressed copy of a listed picture is refused (adult or
        child), never reaches the app; the vault kept its evidence (digests of the
        very bytes, a quarantined copy), wrote a ``media_match`` audit record and
        opened a case for human review."""
        image = recompressed_half_size()
        body = problem(call(built, account, "POST", "/photos", **files(image, "beach.jpg")))
        assert body["reason"] == "known_abuse_match"
        assert LIST_NAME not in str(body)
        assert built.social.ran == []

        [kept] = vault.items()
        assert (kept.action, kept.account_id) == ("media.upload", account)
        assert (kept.list_name, kept.entry_id) == (LIST_NAME, ENTRY)
        assert kept.sha256 == hashlib.sha256(image).hexdigest()
        assert kept.quarantined is not None
        assert Path(kept.quarantined).read_bytes() == image

        assert trail.flush(timeout=10.0)
        [record] = trail.records(kinds=["media_match"])
        assert record.id == kept.audit_id
        assert (record.data["list"], record.data["entry"]) == (LIST_NAME, ENTRY)
        assert record.actor is not None
        assert account not in record.actor

        case = desk.get(kept.case_id or "")
        assert case.reporter.role is ReporterRole.PLATFORM
        assert (case.subject.kind, case.subject.id, case.subject.account_id) == (
            SubjectKind.CONTENT,
            kept.id,
            account,
        )
        assert built.guard is not None
        refused = [
            d for d in _decisions(trail, built.guard) if d.get("reason") == "known_abuse_match"
        ]
        assert [d["action"] for d in refused] == ["media.upload"]

    def test_listed_picture_sent_to_a_child_is_refused(
        self, built: BuiltApp, vault: EvidenceVault
    ) -> None:
        """``media.send`` between connections refuses the match too, as a raw body, and
        the evidence names the recipient."""
        body = problem(
            call(
                built,
                "aunt",
                "POST",
                "/users/teen/photos",
                **raw(recompressed_half_size(), "image/jpeg"),
            )
        )
        assert body["reason"] == "known_abuse_match"
        [kept] = vault.items()
        assert (kept.action, kept.target_id, kept.field) == ("media.send", "teen", None)
        assert built.social.ran == []

    def test_distinct_picture_passes_intact(self, built: BuiltApp, vault: EvidenceVault) -> None:
        """A different generated picture passes: the app receives the upload byte for
        byte and nothing is kept."""
        image = png_bytes(scene(LISTED_SEED + 1))
        with built.client("teen") as client:
            request = client.build_request("POST", "/photos", **files(image))
            sent = request.read()
            response = client.send(request)
        assert response.status_code == 201, response.text
        assert response.json()["sha256"] == hashlib.sha256(sent).hexdigest()
        [photo] = built.social.photos.values()
        assert photo[1].pdq is not None
        assert not photo[1].matched
        assert vault.items() == []
        assert Image.open(io.BytesIO(image)).size == (320, 240)


class TestSensitivePictures:
    def test_teen_sending_a_flagged_picture_meets_the_intervention_first(
        self, built: BuiltApp
    ) -> None:
        """A 14-year-old sending a picture the classifier flags is asked first (what can
        happen, where to get help); confirming sends it."""
        image = png_bytes(mark_sensitive(scene(11)))
        body = problem(call(built, "teen", "POST", "/users/aunt/photos", **files(image)))
        assert body["reason"] == "confirmation_required"
        assert body["confirm"] == {"header": "Childsafe-Confirm", "value": "media.send"}
        assert "sensitive_media" not in body["detail"] + body["next_step"]
        assert built.social.ran == []
        confirmed = call(
            built,
            "teen",
            "POST",
            "/users/aunt/photos",
            **files(image),
            headers={"Childsafe-Confirm": "media.send"},
        )
        assert confirmed.status_code == 201, confirmed.text

    def test_under_13_cannot_send_it(self, built: BuiltApp) -> None:
        """A 12-year-old's flagged picture is refused even when confirmed."""
        image = jpeg_bytes(mark_sensitive(scene(12)), quality=80)
        body = problem(
            call(
                built,
                "kid",
                "POST",
                "/users/aunt/photos",
                content=image,
                headers={"Content-Type": "image/jpeg", "Childsafe-Confirm": "media.send"},
            )
        )
        assert body["reason"] == "sensitive_media_blocked"

    def test_child_receiving_it_sees_it_blurred(self, built: BuiltApp) -> None:
        """An adult's flagged picture sent to a 14-year-old is blurred when the child
        opens it, with the three choices; an ordinary picture is not."""
        flagged = jpeg_bytes(mark_sensitive(scene(13)), quality=70)
        sent = call(built, "aunt", "POST", "/users/teen/photos", **raw(flagged, "image/jpeg"))
        assert sent.status_code == 201, sent.text
        body = problem(call(built, "teen", "GET", f"/photos/{sent.json()['photo']}"))
        assert body["reason"] == "sensitive_media_blurred"
        assert body["choices"] == ["view", "dont_view", "block_and_report"]
        shown = call(
            built,
            "teen",
            "GET",
            f"/photos/{sent.json()['photo']}",
            headers={"Childsafe-Confirm": "media.view"},
        )
        assert (shown.status_code, shown.content) == (200, flagged)

        plain = call(built, "aunt", "POST", "/users/teen/photos", **raw(png_bytes(scene(14))))
        assert plain.status_code == 201, plain.text
        opened = call(built, "teen", "GET", f"/photos/{plain.json()['photo']}")
        assert opened.status_code == 200
