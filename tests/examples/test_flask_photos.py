"""Photo messages in the Flask Playground, through HTTP (Flask's test client): the
demo hash list, the demo classifier, the intervention, the blur, the evidence vault
and the moderators' page, over the app's own SQLite file and data folder."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from examples.common.photos import DEMO_PICTURES, HASH_LIST_FILE, LIST_NAME, picture_bytes
from examples.flask_app import close_app, create_app
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from childsafe.audit import AuditTrail
from childsafe.complaints import ReporterRole, SQLiteComplaintStore
from childsafe.media import HashList, SQLiteEvidenceStore, pdq_hash
from childsafe.testing.media import jpeg_bytes
from tests.examples.test_flask_app import sign_in

JSON = {"Accept": "application/json"}


@pytest.fixture(name="db_path")
def _db_path(tmp_path: Path) -> Path:
    return tmp_path / "playground.sqlite3"


@pytest.fixture(name="app")
def _app(db_path: Path) -> Iterator[Flask]:
    app = create_app(db_path, secret_key="test-only")  # noqa: S106 - a test-only key
    yield app
    close_app(app)


BOUNDARY = "----playground-test-boundary"


def form_body(image: bytes, name: str, caption: str = "look", **fields: str) -> bytes:
    """A ``multipart/form-data`` body as a browser sends the photo form, with the
    ``fields`` before the picture (Django's ``csrfmiddlewaretoken``). (Werkzeug's own
    test encoder is not used: its boundary is sometimes 71 characters long, beyond the
    70 that RFC 2046 allows and childsafe's parser accepts.)"""
    return (
        (
            "".join(
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"\r\n\r\n{value}\r\n'
                for field, value in {**fields, "caption": caption}.items()
            )
            + f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="photo"; '
            f'filename="{name}"\r\nContent-Type: image/png\r\n\r\n'
        ).encode()
        + image
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


def form_post(
    to: str,
    image: bytes,
    *,
    name: str = "photo.png",
    confirm: bool = False,
    headers: dict[str, str] | None = None,
    **fields: str,
) -> dict[str, Any]:
    """A test client's ``post`` arguments sending ``image`` to ``to`` as the page's form
    does (multipart, ``photo`` field; JSON asked for unless ``headers`` say otherwise),
    for Flask's and Django's test clients alike."""
    extra = dict(JSON if headers is None else headers)
    if confirm:
        extra["Childsafe-Confirm"] = "media.send"
    return {
        "path": f"/photos/to/{to}",
        "data": form_body(image, name, **fields),
        "headers": extra,
        "content_type": f"multipart/form-data; boundary={BOUNDARY}",
    }


def send(
    client: FlaskClient,
    to: str,
    image: bytes,
    *,
    name: str = "photo.png",
    confirm: bool = False,
    headers: dict[str, str] | None = None,
) -> TestResponse:
    """Send ``image`` to ``to`` as the page's form does."""
    # Read the whole response and close it, as a server does: closing it removes
    # childsafe's spooled copy of the upload.
    post = form_post(to, image, name=name, confirm=confirm, headers=headers)
    return client.post(**post, buffered=True)


def check_match_kept(
    db_path: Path, media: Path, sent: tuple[str, str, bytes], admin: str, trail: AuditTrail
) -> None:
    """After the one matched upload ``sent`` (who, to whom, what): the vault kept its
    evidence and a quarantined copy, the desk has the platform's case, the moderators'
    page (``admin``) shows the case and counts the match, and the trail has the
    ``media_match`` record."""
    account, to, image = sent
    [kept] = SQLiteEvidenceStore(media / "evidence.sqlite3").items()
    assert (kept.account_id, kept.target_id, kept.list_name) == (account, to, LIST_NAME)
    assert kept.quarantined is not None
    assert Path(kept.quarantined).read_bytes() == image
    [case] = SQLiteComplaintStore(db_path).cases()
    assert case.reporter.role is ReporterRole.PLATFORM
    assert case.id == kept.case_id
    assert f"/admin/reports/{case.id}/" in admin
    assert "Our own detection" in admin
    assert re.search(r'known-abuse hash list \(refused\)</td><td data-label="Count">1<', admin)
    assert trail.flush(timeout=10.0)
    [record] = trail.records(kinds=["media_match"])
    assert record.id == kept.audit_id


def _data_dir(db_path: Path) -> Path:
    return db_path.parent / f"{db_path.stem}-data" / "media"


class TestDemoList:
    @pytest.mark.usefixtures("app")
    def test_list_is_written_at_start_up_from_the_demo_pictures(self, db_path: Path) -> None:
        """The demo hash list in the data folder holds the listed gallery picture's PDQ
        hash and nothing of the others."""
        listed = HashList.from_csv(_data_dir(db_path) / HASH_LIST_FILE)
        hashes = {entry.pdq for entry in listed}
        by_kind = {p.kind: p.name for p in DEMO_PICTURES}
        assert pdq_hash(picture_bytes(by_kind["listed"])).hex in hashes
        assert pdq_hash(picture_bytes(by_kind["ordinary"])).hex not in hashes

    def test_gallery_pictures_are_served_and_labelled(self, app: Flask) -> None:
        """The photos page shows the gallery with each picture's label, says what the
        demo pictures stand for, and serves them as PNGs."""
        sam = sign_in(app, "sam")
        page = sam.get("/photos").get_data(as_text=True)
        for picture in DEMO_PICTURES:
            assert f'src="/photos/demo/{picture.name}.png"' in page
            assert picture.label in page
            served = sam.get(f"/photos/demo/{picture.name}.png")
            assert (served.status_code, served.mimetype) == (200, "image/png")
        assert "drawn by the computer" in page
        assert "pink square" in page
        assert 'formaction="/photos/to/aunt_jo"' in page
        assert sam.get("/photos/demo/nothing.png").status_code == 404


class TestListedPicture:
    @pytest.mark.parametrize("account", ["aunt_jo", "sam"])
    def test_refused_for_anyone_with_evidence_audit_and_a_case(
        self, app: Flask, db_path: Path, account: str
    ) -> None:
        """A recompressed copy of the listed picture is refused for an adult and a
        child alike, in neutral words; the vault kept the evidence, the audit trail has
        the match, and the moderators' page shows the case."""
        to = "sam" if account == "aunt_jo" else "aunt_jo"
        listed = next(p for p in DEMO_PICTURES if p.kind == "listed")
        from PIL import Image  # noqa: PLC0415

        copy = jpeg_bytes(Image.open(io.BytesIO(picture_bytes(listed.name))), quality=50)
        response = send(sign_in(app, account), to, copy, name="copy.jpg")
        assert response.status_code == 403
        body = response.get_json()
        assert body["reason"] == "known_abuse_match"
        assert LIST_NAME not in response.get_data(as_text=True)

        trail = app.extensions["playground.audit"]
        assert isinstance(trail, AuditTrail)
        admin = sign_in(app, "riley").get("/admin/reports").get_data(as_text=True)
        check_match_kept(db_path, _data_dir(db_path), (account, to, copy), admin, trail)
        assert sign_in(app, to).get("/photos").get_data(as_text=True).count("/image") == 0

    def test_plain_form_refusal_is_the_styled_page(self, app: Flask) -> None:
        """Without the page's script (a plain form post), the refusal is the styled
        "Not allowed" page in plain words."""
        response = send(
            sign_in(app, "aunt_jo"),
            "sam",
            picture_bytes("listed"),
            headers={"Accept": "text/html"},
        )
        page = response.get_data(as_text=True)
        assert response.status_code == 403
        assert "This image can&#39;t be shared here." in page
        assert "known_abuse" not in page


class TestFlaggedPicture:
    def test_teen_meets_the_intervention_then_sends_anyway(self, app: Flask) -> None:
        """Sam (15) sending the flagged picture is asked first: what can happen and
        where to get help, with the confirmation the page's "Send anyway" sends."""
        sam = sign_in(app, "sam")
        first = send(sam, "aunt_jo", picture_bytes("flagged"))
        assert first.status_code == 403
        body = first.get_json()
        assert body["needs_confirmation"] is True
        assert "can't take it back" in body["detail"]
        assert "helpline" in body["next_step"]
        page = sam.get("/photos").get_data(as_text=True)
        assert "Send anyway" in page
        assert "Don't send" in page
        assert "Childline" in page
        assert "/image" not in sign_in(app, "aunt_jo").get("/photos").get_data(as_text=True)

        sent = send(sam, "aunt_jo", picture_bytes("flagged"), confirm=True)
        assert sent.status_code == 201, sent.get_data(as_text=True)
        live = sign_in(app, "riley").get("/admin/reports/transparency.json").get_json()
        assert live["media"]["interventions"] == {"shown": 1, "sent_anyway": 1, "not_sent": 0}
        photo = sent.get_json()["id"]
        aunt = sign_in(app, "aunt_jo")
        assert f'src="/photos/{photo}/image"' in aunt.get("/photos").get_data(as_text=True)
        shown = aunt.get(f"/photos/{photo}/image")
        assert (shown.status_code, shown.data) == (200, picture_bytes("flagged"))

    def test_under_13_is_refused_with_an_explanation(self, app: Flask) -> None:
        """Maya (12) cannot send it, confirmed or not, and is told why in her words."""
        response = send(sign_in(app, "maya"), "aunt_jo", picture_bytes("flagged"), confirm=True)
        assert response.status_code == 403
        body = response.get_json()
        assert body["reason"] == "sensitive_media_blocked"
        assert "needs_confirmation" not in body
        assert "nudity" in body["detail"]
        assert "sensitive_media" not in body["detail"] + body["next_step"]

    def test_child_receiving_it_sees_it_blurred_with_three_choices(self, app: Flask) -> None:
        """The aunt's flagged picture reaches Sam blurred: the page shows a blurred
        preview, the explanation and the three choices; the image itself is refused
        until Sam chooses to see it; blocking and reporting blocks the aunt and opens
        the report form."""
        sent = send(sign_in(app, "aunt_jo"), "sam", picture_bytes("flagged"))
        assert sent.status_code == 201, sent.get_data(as_text=True)
        photo = sent.get_json()["id"]
        sam = sign_in(app, "sam")
        page = sam.get("/photos").get_data(as_text=True)
        assert f'src="/photos/{photo}/blurred"' in page
        assert f'src="/photos/{photo}/image"' not in page
        assert "might show nudity or something upsetting" in page
        for choice in (">View<", "Don't view", "Block and report"):
            assert choice in page
        assert not re.search(r"sensitive_media|needs_confirmation", _text(page))

        preview = sam.get(f"/photos/{photo}/blurred")
        assert preview.status_code == 200
        assert preview.data != picture_bytes("flagged")
        refused = sam.get(f"/photos/{photo}/image", headers=JSON)
        assert refused.status_code == 403
        assert refused.get_json()["reason"] == "sensitive_media_blurred"
        shown = sam.get(f"/photos/{photo}/image", headers={"Childsafe-Confirm": "media.view"})
        assert (shown.status_code, shown.data) == (200, picture_bytes("flagged"))

        blocked = sam.post(f"/photos/{photo}/block")
        assert blocked.status_code == 303
        assert blocked.headers["Location"].startswith(
            f"/report?kind=content&id=photo-{photo}&account=aunt_jo"
        )
        form = sam.get(blocked.headers["Location"]).get_data(as_text=True)
        assert "<form" in form
        assert app.extensions["playground.db"].blocked("sam", "aunt_jo")

    def test_ordinary_picture_is_shown(self, app: Flask) -> None:
        """An ordinary picture passes and Sam sees it as sent."""
        sent = send(sign_in(app, "aunt_jo"), "sam", picture_bytes("ordinary"))
        assert sent.status_code == 201
        photo = sent.get_json()["id"]
        sam = sign_in(app, "sam")
        assert f'src="/photos/{photo}/image"' in sam.get("/photos").get_data(as_text=True)
        assert sam.get(f"/photos/{photo}/image").data == picture_bytes("ordinary")

    def test_only_sender_and_recipient_open_a_photo(self, app: Flask) -> None:
        """Anyone else gets 404 for the image and its preview; the block route is the
        recipient's only."""
        photo = send(sign_in(app, "aunt_jo"), "sam", picture_bytes("ordinary")).get_json()["id"]
        other = sign_in(app, "parent_pat")
        assert other.get(f"/photos/{photo}/image").status_code == 404
        assert other.get(f"/photos/{photo}/blurred").status_code == 404
        assert other.post(f"/photos/{photo}/block").status_code == 404


def _text(page: str) -> str:
    """The page's visible text, roughly (tags and the script dropped)."""
    page = re.sub(r"<script.*?</script>", " ", page, flags=re.DOTALL)
    return re.sub(r"<[^>]+>", " ", page)
