"""The Playground example app on Flask: ``python -m examples.flask_app``."""

from __future__ import annotations

from examples.flask_app.app import close_app, create_app

__all__ = ["close_app", "create_app"]
