"""Photo messages in the Django Playground: the media views childsafe guards and the
photos page, over the same pictures, demo hash list, screen, vault and page as the
Flask app (:mod:`examples.common.photos`).

* ``CHILDSAFE["MEDIA_INSPECTOR"]`` and ``CHILDSAFE["EVIDENCE_PRESERVER"]`` name
  :data:`inspector` and :data:`preserver`: they hand each image to the media screen
  and each match to the evidence vault of the Playground's current database (both are
  opened with the audit trail and the desk, in :mod:`.reports`).
* ``POST /photos/to/<user_id>`` (:class:`SendPhoto`) declares ``media.send``:
  childsafe spools the upload, hashes it with PDQ against the demo list, asks the demo
  classifier, and decides before the view runs. A listed picture is refused for anyone
  (the evidence vault keeps the evidence, writes the audit record and opens a case on
  the moderators' desk); a flagged picture meets the intervention (13-17: "send
  anyway" sends the ``Childsafe-Confirm: media.send`` header) or is refused (under 13).
* ``GET /photos/<photo_id>/image`` declares ``media.view`` against the sender, with
  the verdict the photo was stored with: a flagged picture is blurred for a child
  until they choose to see it (``Childsafe-Confirm: media.view``).

The form views need Django's CSRF token (the page's script sends the form's own
``csrfmiddlewaretoken`` field); ``CsrfViewMiddleware`` comes after childsafe's, so an
image is checked before Django reads the form.
"""

from __future__ import annotations

from typing import Any

import jinja2
from django.http import Http404, HttpResponse, JsonResponse  # type: ignore[import-untyped]
from django.urls import path  # type: ignore[import-untyped]
from django.utils.decorators import method_decorator  # type: ignore[import-untyped]
from django.views import View  # type: ignore[import-untyped]

from childsafe import action, exempt, path_param
from childsafe.contrib.django import request_context
from childsafe.media import MediaFile, MediaIncident, MediaVerdict
from examples.common import photos
from examples.django_app.playground.reports import get_photos, get_screen, get_vault
from examples.django_app.playground.store import get_db
from examples.django_app.playground.views import _back, _me, _page, _wants_json, methods, signed_in

__all__ = ["inspector", "jinja_environment", "preserver", "urlpatterns"]


class _CurrentScreen:
    """``CHILDSAFE["MEDIA_INSPECTOR"]``: the media screen of the current database."""

    def inspect(self, media: MediaFile) -> MediaVerdict:
        return get_screen().inspect(media)


class _CurrentVault:
    """``CHILDSAFE["EVIDENCE_PRESERVER"]``: the evidence vault of the current database."""

    def preserve(self, incident: MediaIncident) -> None:
        get_vault().preserve(incident)


inspector = _CurrentScreen()
preserver = _CurrentVault()


def jinja_environment(**options: Any) -> jinja2.Environment:  # noqa: ANN401 - Jinja2's options
    """The templates' environment (``TEMPLATES[0]["OPTIONS"]["environment"]``): the
    navigation shows the Photos link."""
    env = jinja2.Environment(**options)  # noqa: S701 - Django's backend sets autoescape
    env.globals["photos_enabled"] = True
    return env


# ``media.view``'s target (the sender) and facts (the stored verdict).
facts = photos.PhotoFacts(get_photos)


@exempt("the account's own photos; each received one checked with media.view")
@signed_in
def photos_page(request: Any) -> Any:  # noqa: ANN401 - HttpRequest -> HttpResponse
    page = photos.photos_page(get_db(), get_photos(), _me(request), request.GET.get("sent"))
    return _page(request, page)


@exempt("the demo's generated pictures: no account's data")
def demo_picture(request: Any, name: str) -> Any:  # noqa: ANN401
    del request
    try:
        data = photos.picture_bytes(name)
    except KeyError:
        raise Http404 from None
    return HttpResponse(data, content_type="image/png")


@method_decorator(action("media.send", target=path_param("user_id")), name="post")
class SendPhoto(View):  # type: ignore[misc]  # View is untyped
    """``POST /photos/to/<user_id>``: the declaration is on ``post`` alone
    (``method_decorator``), so another method is the styled 405, not a media check."""

    @method_decorator(signed_in)  # type: ignore[untyped-decorator]
    def post(self, request: Any, user_id: str) -> Any:  # noqa: ANN401
        upload = request.FILES.get("photo")
        photo_id = photos.keep_sent(
            get_photos(),
            request_context(request),
            user_id,
            None if upload is None else (upload.read(), upload.content_type),
            request.POST.get("caption", ""),
        )
        if photo_id is None:
            if _wants_json(request):
                return JsonResponse({"error": photos.NO_PICTURE}, status=400)
            return _back("/photos")
        if _wants_json(request):
            return JsonResponse({"id": photo_id}, status=201)
        return _back(f"/photos?sent={user_id}")


@action("media.view", target=facts.sender, media=facts.verdict)
@signed_in
def photo_image(request: Any, photo_id: str) -> Any:  # noqa: ANN401
    photo = photos.openable(get_photos(), photo_id, _me(request).account.id)
    if photo is None:
        raise Http404
    return HttpResponse(photo.data, content_type=photo.content_type)


@exempt("the blurred preview the recipient's settings call for; only to them and the sender")
@signed_in
def photo_blurred(request: Any, photo_id: str) -> Any:  # noqa: ANN401
    photo = photos.openable(get_photos(), photo_id, _me(request).account.id)
    if photo is None:
        raise Http404
    return HttpResponse(photos.blurred_preview(photo.data), content_type="image/png")


@exempt("the recipient blocks the sender of a photo sent to them, then reports it")
@signed_in
def block_and_report(request: Any, photo_id: str) -> Any:  # noqa: ANN401
    report = photos.block_sender(get_db(), get_photos(), photo_id, _me(request).account.id)
    if report is None:
        raise Http404
    return _back(report)


urlpatterns = [
    path("photos", methods("GET", "HEAD")(photos_page)),
    path("photos/demo/<str:name>.png", methods("GET", "HEAD")(demo_picture)),
    path("photos/to/<str:user_id>", methods("POST")(SendPhoto.as_view())),
    path("photos/<str:photo_id>/image", methods("GET", "HEAD")(photo_image)),
    path("photos/<str:photo_id>/blurred", methods("GET", "HEAD")(photo_blurred)),
    path("photos/<str:photo_id>/block", methods("POST")(block_and_report)),
]
