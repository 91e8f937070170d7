"""Photo messages in the example apps: harmless generated demo pictures, the demo's hash
list made of some of them, the media screen and evidence vault the app wires into
childsafe, where sent photos are kept, and the photos page.

Nothing here is real abuse material or a real hash list: the "listed" pictures are
generated scenes (:func:`childsafe.testing.media.scene`) whose PDQ hashes the demo
writes into its own list at start-up, and the "sensitive" picture is a scene carrying
the test marker that :class:`~childsafe.testing.media.MarkerClassifier` flags (a
magenta square in its top-left corner). A platform loads the lists its hotline or
industry partners give it, and runs a real classifier (``NudeNetClassifier``).

Needs ``pip install 'childsafe[media]'`` (Pillow, NumPy, pdqhash).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import io
import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

import attrs

from childsafe import Request, RequestContext, problem_details
from childsafe.audit import AuditTrail
from childsafe.complaints import ComplaintsDesk
from childsafe.media import (
    Classification,
    EvidenceVault,
    HashList,
    MediaScreen,
    MediaVerdict,
    pdq_hash,
)
from childsafe.testing.media import MarkerClassifier, mark_sensitive, png_bytes, scene
from examples.common.socialdb import SocialDB
from examples.common.views import Page, base_context

__all__ = [
    "DEMO_PICTURES",
    "HASH_LIST_FILE",
    "LIST_NAME",
    "NO_PICTURE",
    "DemoPicture",
    "PhotoFacts",
    "PhotoStore",
    "block_sender",
    "blurred_preview",
    "keep_sent",
    "open_media",
    "openable",
    "photos_page",
    "picture_bytes",
]


@attrs.frozen
class DemoPicture:
    """One picture of the demo's gallery: ``kind`` is ``listed`` (its hash is in the
    demo hash list), ``flagged`` (the demo classifier calls it sensitive) or
    ``ordinary``; ``label`` says so on the page."""

    name: str
    seed: int
    kind: str
    label: str


DEMO_PICTURES: Final = (
    DemoPicture("listed", 301, "listed", "A listed picture (in the demo hash list)"),
    DemoPicture("flagged", 302, "flagged", "A picture the demo classifier flags"),
    DemoPicture("ordinary", 303, "ordinary", "An ordinary picture"),
    DemoPicture("ordinary-2", 304, "ordinary", "Another ordinary picture"),
)
"""The gallery, in the order the page shows it."""

LISTED_SEEDS: Final = (301, 305, 306)
"""The generated scenes whose hashes make the demo hash list (one is in the gallery)."""
LIST_NAME: Final = "playground-demo-list"
HASH_LIST_FILE: Final = "demo-hash-list.csv"


def _picture(name: str) -> DemoPicture:
    for picture in DEMO_PICTURES:
        if picture.name == name:
            return picture
    raise KeyError(name)


@functools.cache
def picture_bytes(name: str) -> bytes:
    """The gallery picture ``name`` as a PNG file (``KeyError`` for an unknown name)."""
    picture = _picture(name)
    image = scene(picture.seed)
    return png_bytes(mark_sensitive(image) if picture.kind == "flagged" else image)


def write_hash_list(data_dir: Path) -> Path:
    """Write the demo hash list (CSV: ``pdq,id``) into ``data_dir``; its path."""
    rows = ["pdq,id"] + [
        f"{pdq_hash(scene(seed)).hex},DEMO-{n}" for n, seed in enumerate(LISTED_SEEDS, 1)
    ]
    path = data_dir / HASH_LIST_FILE
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def open_media(
    data_dir: Path, trail: AuditTrail | None, desk: ComplaintsDesk | None
) -> tuple[MediaScreen, EvidenceVault]:
    """The media screen (the demo hash list, then the demo classifier) and the evidence
    vault (a SQLite file and a quarantine folder in ``data_dir``; the audit trail's
    ``media_match`` record and a case on the desk for each match)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    listed = HashList.from_csv(write_hash_list(data_dir), name=LIST_NAME)
    screen = MediaScreen([listed], classifier=MarkerClassifier())
    vault = EvidenceVault(
        data_dir / "evidence.sqlite3",
        trail=trail,
        desk=desk,
        quarantine=data_dir / "quarantine",
    )
    return screen, vault


def blurred_preview(data: bytes) -> bytes:
    """A small, heavily blurred copy of a picture: what a child sees before choosing."""
    from PIL import Image, ImageFilter  # noqa: PLC0415 - the media extra

    with Image.open(io.BytesIO(data)) as raw:
        image = raw.convert("RGB")
    image.thumbnail((160, 160))
    image = image.filter(ImageFilter.GaussianBlur(12)).resize((320, 240))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS demo_photos (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    from_id TEXT NOT NULL,
    to_id TEXT NOT NULL,
    caption TEXT NOT NULL,
    content_type TEXT NOT NULL,
    data BLOB NOT NULL,
    verdict TEXT NOT NULL,
    created TEXT NOT NULL
)
"""


@attrs.frozen
class Photo:
    """A photo someone sent, with the verdict childsafe gave it when it was sent."""

    id: int
    from_id: str
    to_id: str
    caption: str
    content_type: str
    data: bytes
    verdict: MediaVerdict


def _verdict_json(verdict: MediaVerdict) -> str:
    c = verdict.classification
    classification = None
    if c is not None:
        labels = [list(label) for label in c.labels]
        classification = {"sensitive": c.sensitive, "labels": labels, "failed": c.failed}
    return json.dumps(
        {"pdq": verdict.pdq, "quality": verdict.quality, "classification": classification}
    )


def _verdict(text: str) -> MediaVerdict:
    data = json.loads(text)
    c = data.get("classification")
    return MediaVerdict(
        pdq=data.get("pdq"),
        quality=data.get("quality"),
        classification=None
        if c is None
        else Classification(
            sensitive=bool(c["sensitive"]),
            labels=tuple((str(n), float(s)) for n, s in c["labels"]),
            failed=c.get("failed"),
        ),
    )


class PhotoStore:
    """Sent photos, in the app's SQLite file (table ``demo_photos``), each with the
    verdict it was sent under: what ``media.view`` decides on when the recipient opens
    it (a platform stores the verdict with the picture; childsafe never keeps images)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        with self._db() as db:
            db.execute(_SCHEMA)

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=10)
        try:
            with conn:
                yield conn
        finally:
            conn.close()

    def add(
        self,
        from_id: str,
        to_id: str,
        caption: str,
        content_type: str,
        data: bytes,
        verdict: MediaVerdict,
    ) -> int:
        with self._db() as db:
            cur = db.execute(
                "INSERT INTO demo_photos (from_id, to_id, caption, content_type, data, verdict, "
                "created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    from_id,
                    to_id,
                    caption,
                    content_type,
                    data,
                    _verdict_json(verdict),
                    dt.datetime.now(dt.UTC).isoformat(),
                ),
            )
            return int(cur.lastrowid or 0)

    def get(self, photo_id: int) -> Photo | None:
        with self._db() as db:
            row = db.execute(
                "SELECT id, from_id, to_id, caption, content_type, data, verdict "
                "FROM demo_photos WHERE id = ?",
                (photo_id,),
            ).fetchone()
        return None if row is None else _photo(row)

    def received(self, account_id: str) -> list[Photo]:
        return self._where("to_id", account_id)

    def sent(self, account_id: str) -> list[Photo]:
        return self._where("from_id", account_id)

    def _where(self, column: str, account_id: str) -> list[Photo]:
        assert column in ("to_id", "from_id")
        with self._db() as db:
            rows = db.execute(
                "SELECT id, from_id, to_id, caption, content_type, data, verdict "  # noqa: S608
                f"FROM demo_photos WHERE {column} = ? ORDER BY id DESC",
                (account_id,),
            ).fetchall()
        return [_photo(r) for r in rows]


def _photo(row: tuple[Any, ...]) -> Photo:
    return Photo(row[0], row[1], row[2], row[3], row[4], bytes(row[5]), _verdict(row[6]))


def may_see(photo: Photo | None, account_id: str) -> bool:
    """Only a photo's sender and recipient may open it."""
    return photo is not None and account_id in (photo.from_id, photo.to_id)


def _stored(photos: PhotoStore, raw_id: str | None) -> Photo | None:
    """The photo whose id is ``raw_id`` (a path parameter), if it is one."""
    return photos.get(int(raw_id)) if raw_id is not None and raw_id.isdigit() else None


def openable(photos: PhotoStore, raw_id: str, account_id: str) -> Photo | None:
    """The photo ``raw_id`` if ``account_id`` may open it (its sender or recipient);
    ``None`` (the app answers 404) otherwise."""
    photo = _stored(photos, raw_id)
    return photo if photo is not None and may_see(photo, account_id) else None


class PhotoFacts:
    """What ``media.view`` decides on, read from the photo in the path (``photo_id``):
    :meth:`sender` is the target, :meth:`verdict` the stored verdict. ``photos`` gives
    the app's store when a request comes."""

    def __init__(self, photos: Callable[[], PhotoStore]) -> None:
        self.photos = photos

    def sender(self, req: Request) -> str | None:
        """``media.view``'s target: who sent the photo in the path."""
        photo = _stored(self.photos(), req.path_param("photo_id"))
        return None if photo is None else photo.from_id

    def verdict(self, req: Request) -> MediaVerdict | None:
        """``media.view``'s facts: the verdict the photo was stored with."""
        photo = _stored(self.photos(), req.path_param("photo_id"))
        return None if photo is None else photo.verdict


NO_PICTURE: Final = "expected a picture in the form field 'photo'"
"""The JSON error for a ``media.send`` request without its picture."""


def keep_sent(
    photos: PhotoStore,
    ctx: RequestContext,
    to_id: str,
    upload: tuple[bytes, str | None] | None,
    caption: str,
) -> int | None:
    """Store the picture a ``media.send`` view received (``upload``: its bytes and
    declared content type, from the form field ``photo``) with the verdict childsafe
    gave it; its id, or ``None`` when the request carried no checked picture."""
    checked = next((m for m in ctx.media if m.file.field == "photo"), None)
    if upload is None or checked is None:
        return None
    data, content_type = upload
    return photos.add(
        ctx.account.id,
        to_id,
        caption.strip()[:200],
        content_type or "application/octet-stream",
        data,
        checked.verdict,
    )


def block_sender(db: SocialDB, photos: PhotoStore, raw_id: str, account_id: str) -> str | None:
    """The recipient of photo ``raw_id`` blocks its sender: the report form's path to go
    to next, or ``None`` (404) when the photo was not sent to ``account_id``."""
    photo = _stored(photos, raw_id)
    if photo is None or photo.to_id != account_id:
        return None
    db.block(account_id, photo.from_id)
    return f"/report?kind=content&id=photo-{photo.id}&account={photo.from_id}"


def photos_page(
    db: SocialDB,
    photos: PhotoStore,
    ctx: RequestContext,
    sent_to: str | None = None,
) -> Page:
    """The photos page: the gallery and the form to send one to a connection, the
    photos received (each shown, or blurred with the explanation and the three choices
    when ``media.view`` asks the viewer first) and those sent. ``sent_to`` (the
    ``?sent=`` of the redirect after sending) says whom a photo just went to."""
    me = ctx.account
    person = db.person(sent_to) if sent_to else None
    notice = f"Photo sent to {person.name}." if person is not None else None
    contacts = [p for i in db.connections(me.id) if (p := db.person(i)) is not None]
    received = []
    for photo in photos.received(me.id):
        sender = db.person(photo.from_id)
        # What the image route (declared ``media.view``) will decide: the page shows the
        # blur and its choices up front instead of a broken image.
        decision = ctx.check("media.view", photo.from_id, media=photo.verdict)
        received.append(
            {
                "id": photo.id,
                "from_id": photo.from_id,
                "from_name": sender.name if sender is not None else photo.from_id,
                "caption": photo.caption,
                "blurred": decision.needs_confirmation,
                "refused": not decision.allowed and not decision.needs_confirmation,
                "problem": None if decision.allowed else problem_details(decision),
            }
        )
    sent = []
    for photo in photos.sent(me.id):
        to = db.person(photo.to_id)
        sent.append(
            {
                "id": photo.id,
                "to_name": to.name if to is not None else photo.to_id,
                "caption": photo.caption,
            }
        )
    return "photos.html", {
        **base_context(db, ctx),
        "gallery": DEMO_PICTURES,
        "contacts": contacts,
        "received": received,
        "sent": sent,
        "notice": notice,
        "minor": me.band.value != "adult",
    }
