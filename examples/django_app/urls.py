"""The project's URLconf: the Playground app at the site root."""

from __future__ import annotations

from django.urls import include, path  # type: ignore[import-untyped]

urlpatterns = [path("", include("examples.django_app.playground.urls"))]
