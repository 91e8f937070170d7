"""``childsafe routes``: every route of a Flask, Django, Starlette or FastAPI app with
what protects it, for review in CI (exit 1 while any route is unprotected).

The frameworks are imported only when the command runs, from the app it is given.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from childsafe.exceptions import ChildsafeError
from childsafe.web.strict import RouteInfo

__all__ = ["RoutesError", "find_routes", "render_routes"]


class RoutesError(ChildsafeError, ValueError):
    """The app to list cannot be found or is of no kind childsafe knows."""


def _importable_here() -> None:
    here = str(Path.cwd())
    if here not in sys.path:
        sys.path.insert(0, here)


def _load(spec: str) -> object:
    """The object ``module:attribute`` names; ``module:factory()`` calls a factory
    (with no arguments). The current directory is importable, as with ``flask --app``."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise RoutesError(
            f"expected MODULE:APP (e.g. 'myapp.web:app' or 'myapp.web:create_app()'), got {spec!r}"
        )
    _importable_here()
    try:
        module = importlib.import_module(module_name)
    except ChildsafeError:  # the app's own childsafe set-up refused it: said as such
        raise
    except ImportError as e:
        raise RoutesError(f"cannot import {module_name!r}: {e}") from None
    except Exception as e:  # noqa: BLE001 - the app's code failed: one line, exit 2
        raise RoutesError(f"cannot import {module_name!r}: {_failure(e)}") from None
    call = attribute.endswith("()")
    name = attribute.removesuffix("()")
    try:
        found: object = getattr(module, name)
    except AttributeError:
        raise RoutesError(f"{module_name!r} has no attribute {name!r}") from None
    if call:
        if not callable(found):
            raise RoutesError(f"{spec!r}: {name} is not callable")
        try:
            found = found()
        except ChildsafeError:
            raise
        except Exception as e:  # noqa: BLE001 - the factory failed: one line, exit 2
            raise RoutesError(f"{spec!r}: {name}() failed: {_failure(e)}") from None
    return found


def _failure(error: BaseException) -> str:
    """An exception raised by the app's own code, in one line (no traceback)."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _django(settings_module: str) -> list[RouteInfo]:
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    _importable_here()
    try:
        import django  # type: ignore[import-untyped]  # noqa: PLC0415 - only for Django apps

        django.setup()
        from childsafe.contrib.django.inventory import routes  # noqa: PLC0415

        return routes()
    except ChildsafeError:
        raise
    except Exception as e:  # noqa: BLE001 - settings or URLconf that fail: one line, exit 2
        raise RoutesError(f"cannot set Django up with {settings_module!r}: {_failure(e)}") from None


def find_routes(app: str | None, *, django_settings: str | None = None) -> list[RouteInfo]:
    """The routes of the app ``app`` names (``module:app``), or of the Django project
    whose settings module is ``django_settings``."""
    if django_settings is not None:
        return _django(django_settings)
    if app is None:
        raise RoutesError("name the app (MODULE:APP) or the Django settings (--django)")
    found = _load(app)
    classes = [f"{c.__module__}.{c.__qualname__}" for c in type(found).__mro__]
    if "flask.app.Flask" in classes or "flask.sansio.app.App" in classes:
        from childsafe.contrib.flask import routes as flask_routes  # noqa: PLC0415

        return flask_routes(found)  # type: ignore[arg-type]
    if "starlette.applications.Starlette" in classes:
        from childsafe.contrib.starlette import routes as starlette_routes  # noqa: PLC0415

        return starlette_routes(found)  # type: ignore[arg-type]
    raise RoutesError(
        f"{app!r} is a {type(found).__name__}, not a Flask, Starlette or FastAPI app "
        "(for Django, give --django SETTINGS_MODULE)"
    )


def render_routes(routes: Sequence[RouteInfo], output: str) -> list[str]:
    """The lines ``childsafe routes`` prints: a table, or JSON."""
    if output == "json":
        data = [
            {
                "methods": list(r.methods),
                "path": r.path,
                "endpoint": r.endpoint,
                "actions": list(r.actions),
                "exempt": r.exempt,
                "protected": r.protected,
                "problems": list(r.problems),
            }
            for r in routes
        ]
        return [json.dumps(data, indent=2)]
    rows = [(",".join(r.methods), r.path, r.endpoint, r.protection) for r in routes]
    header = ("METHODS", "PATH", "ENDPOINT", "PROTECTION")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in [header, *rows]
    ]
    unprotected = sum(not r.protected for r in routes)
    broken = [f"{r.key}: {problem}" for r in routes for problem in r.problems]
    lines.append(
        f"{len(routes)} routes, {unprotected} unprotected"
        if unprotected
        else f"{len(routes)} routes, all protected"
    )
    if broken:
        lines += ["", f"{len(broken)} declaration(s) cannot work:"]
        lines += [f"  {message}" for message in broken]
    return lines
