"""The Django app: ``INSTALLED_APPS = [..., "childsafe.contrib.django"]``.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from django.apps import AppConfig  # type: ignore[import-untyped]
from django.core.checks import Tags, register  # type: ignore[import-untyped]

from childsafe.contrib.django.checks import check_deploy, check_routes, check_settings

__all__ = ["ChildsafeConfig"]


class ChildsafeConfig(AppConfig):  # type: ignore[misc]  # Django ships no type information
    """Registers the system checks (see :mod:`childsafe.contrib.django.checks`)."""

    name = "childsafe.contrib.django"
    label = "childsafe"
    verbose_name = "childsafe"

    def ready(self) -> None:
        register(Tags.security)(check_settings)
        register(Tags.security, deploy=True)(check_deploy)
        register(Tags.security, Tags.urls)(check_routes)
