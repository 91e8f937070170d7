"""Photo messages in the Flask Playground: the media routes childsafe guards and the
photos page. The pictures, the demo hash list, the screen and the vault are in
:mod:`examples.common.photos`.

* ``POST /photos/to/<user_id>`` declares ``media.send``: childsafe spools the upload,
  hashes it with PDQ against the demo list, asks the demo classifier, and decides
  before the view runs. A listed picture is refused for anyone (the evidence vault
  keeps the evidence, writes the audit record and opens a case on the moderators'
  desk); a flagged picture meets the intervention (13-17: "send anyway" sends the
  ``Childsafe-Confirm: media.send`` header) or is refused (under 13).
* ``GET /photos/<photo_id>/image`` declares ``media.view`` against the sender, with
  the verdict the photo was stored with (:class:`~examples.common.photos.PhotoFacts`):
  a flagged picture is blurred for a child until they choose to see it
  (``Childsafe-Confirm: media.view``).

:func:`install_photos` registers it; ``create_app`` calls it once the audit trail and
the desk exist.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, abort, current_app, request
from flask.typing import ResponseReturnValue

from childsafe import action, exempt, path_param
from childsafe.contrib.flask import current_context
from childsafe.media import MediaScreen
from examples.common import photos
from examples.flask_app.app import _back, _db, _me, _page, _wants_json, signed_in

__all__ = ["PHOTOS_KEY", "SCREEN_KEY", "VAULT_KEY", "install_photos"]

PHOTOS_KEY = "playground.photos"
SCREEN_KEY = "playground.media_screen"
VAULT_KEY = "playground.evidence_vault"

bp = Blueprint("photos", __name__)


def _photos() -> photos.PhotoStore:
    store = current_app.extensions[PHOTOS_KEY]
    assert isinstance(store, photos.PhotoStore)
    return store


# ``media.view``'s target (the sender) and facts (the stored verdict).
facts = photos.PhotoFacts(_photos)


@bp.get("/photos")
@exempt("the account's own photos; each received one checked with media.view")
@signed_in
def photos_page() -> str:
    return _page(photos.photos_page(_db(), _photos(), _me(), request.args.get("sent")))


@bp.get("/photos/demo/<name>.png")
@exempt("the demo's generated pictures: no account's data")
def demo_picture(name: str) -> ResponseReturnValue:
    try:
        data = photos.picture_bytes(name)
    except KeyError:
        abort(404)
    return Response(data, content_type="image/png")


@bp.post("/photos/to/<user_id>")
@action("media.send", target=path_param("user_id"))
@signed_in
def send_photo(user_id: str) -> ResponseReturnValue:
    upload = request.files.get("photo")
    photo_id = photos.keep_sent(
        _photos(),
        current_context(),
        user_id,
        None if upload is None else (upload.read(), upload.mimetype),
        request.form.get("caption", ""),
    )
    if photo_id is None:
        if _wants_json():
            return {"error": photos.NO_PICTURE}, 400
        return _back("/photos")
    if _wants_json():
        return {"id": photo_id}, 201
    return _back(f"/photos?sent={user_id}")


@bp.get("/photos/<photo_id>/image")
@action("media.view", target=facts.sender, media=facts.verdict)
@signed_in
def photo_image(photo_id: str) -> ResponseReturnValue:
    photo = photos.openable(_photos(), photo_id, _me().account.id)
    if photo is None:
        abort(404)
    return Response(photo.data, content_type=photo.content_type)


@bp.get("/photos/<photo_id>/blurred")
@exempt("the blurred preview the recipient's settings call for; only to them and the sender")
@signed_in
def photo_blurred(photo_id: str) -> ResponseReturnValue:
    photo = photos.openable(_photos(), photo_id, _me().account.id)
    if photo is None:
        abort(404)
    return Response(photos.blurred_preview(photo.data), content_type="image/png")


@bp.post("/photos/<photo_id>/block")
@exempt("the recipient blocks the sender of a photo sent to them, then reports it")
@signed_in
def block_and_report(photo_id: str) -> ResponseReturnValue:
    report = photos.block_sender(_db(), _photos(), photo_id, _me().account.id)
    if report is None:
        abort(404)
    return _back(report)


def install_photos(app: Flask, screen: MediaScreen, store: photos.PhotoStore) -> None:
    """Register the photo routes and the photos link in the navigation."""
    app.extensions[PHOTOS_KEY] = store
    app.extensions[SCREEN_KEY] = screen
    app.register_blueprint(bp)

    @app.context_processor
    def photos_link() -> dict[str, bool]:
        return {"photos_enabled": True}
