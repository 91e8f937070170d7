#!/usr/bin/env python
"""Django's command-line utility for the Playground example.

python examples/django_app/manage.py runserver 127.0.0.1:8001
python examples/django_app/manage.py check --deploy
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# The project lives in the `examples` package at the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")
    from django.core.management import execute_from_command_line  # type: ignore[import-untyped]  # noqa: PLC0415

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
