"""The Playground app's configuration."""

from __future__ import annotations

from django.apps import AppConfig  # type: ignore[import-untyped]


class PlaygroundConfig(AppConfig):  # type: ignore[misc]  # Django ships no type information
    name = "examples.django_app.playground"
    label = "playground"
    verbose_name = "Playground (childsafe example)"
