"""The project's URLconf: the Playground app at the site root."""

from __future__ import annotations

from django.urls import include, path  # type: ignore[import-untyped]

urlpatterns = [path("", include("examples.django_app.playground.urls"))]

# The styled error pages (shared templates), not Django's bare ones.
handler400 = "examples.django_app.playground.views.bad_request"
handler403 = "examples.django_app.playground.views.forbidden"
handler404 = "examples.django_app.playground.views.not_found"
handler500 = "examples.django_app.playground.views.server_error"
