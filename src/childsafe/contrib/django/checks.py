"""System checks: a bad policy or a missing setting fails ``manage.py check``.

Registered by the app's ``ready()`` under the ``security`` tag. Every finding has its
own id:

========  ==========================================================================
E001      ``CHILDSAFE`` is not a dict
E002      ``CHILDSAFE`` has an unknown key (with a did-you-mean)
E003      the policy does not load (one message per problem in it)
E004      ``REPOSITORY`` is not set
E005      ``REPOSITORY`` cannot be imported or is not an ``AccountRepository``
E006      ``RESOLVERS`` is not a list (a string, say)
E007      a resolver cannot be imported, is not callable or is async
E008      ``RENDERER`` cannot be imported or is not callable
E009      ``RESPONSE_FILTER`` is not valid
E010      ``ROUTES`` is not valid
E011      ``ENABLED`` is not a boolean
E012      ``MAX_BODY`` is not a size in bytes
E013      the middleware is not in ``MIDDLEWARE``
E014      the middleware comes before ``AuthenticationMiddleware``
E015      ``django_user`` is used without ``AuthenticationMiddleware``
E016      ``session_account`` is used without ``SessionMiddleware`` before the middleware
E017      ``ENABLED`` is ``False`` (``manage.py check --deploy`` only)
E018      ``STRICT`` is not a boolean
E019      ``EXEMPT`` is not valid
E020      a route declares no action and is not exempt (strict mode; one per route)
E021      ``MEDIA_INSPECTOR``, ``EVIDENCE_PRESERVER``, ``MAX_MEDIA_BODY``,
          ``MAX_MEDIA_FILES`` or ``MEDIA_TEMP_DIR`` is not valid
E022      a route declares a media action and no ``MEDIA_INSPECTOR`` is set (strict mode)
E023      a route declares ``path_param(name)`` and its URL pattern has no parameter
          ``name`` (whether or not ``STRICT`` is on; one per route and declaration)
W001      ``ENABLED`` is ``False``
W002      ``STRICT`` is ``False`` and some routes are unprotected (one per route)
========  ==========================================================================

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, Warning  # type: ignore[import-untyped]  # noqa: A004

from childsafe.contrib.django.conf import Problem, conf, load
from childsafe.contrib.django.inventory import routes
from childsafe.exceptions import ConfigurationError

__all__ = ["check_deploy", "check_routes", "check_settings"]


def _message(problem: Problem) -> Any:  # noqa: ANN401 - a django.core.checks.CheckMessage
    cls = Error if problem.level == "error" else Warning
    return cls(problem.message, hint=problem.hint, id=f"childsafe.{problem.id}")


def check_settings(app_configs: object = None, **kwargs: object) -> list[Any]:
    """Every problem with ``CHILDSAFE`` and the middleware's place in ``MIDDLEWARE``."""
    del app_configs, kwargs
    return [_message(p) for p in load(instantiate=False).problems]


def check_deploy(app_configs: object = None, **kwargs: object) -> list[Any]:
    """``manage.py check --deploy``: childsafe must be enabled in a deployment."""
    del app_configs, kwargs
    if conf.ENABLED is False:
        return [
            Error(
                "childsafe is disabled (CHILDSAFE['ENABLED'] is False) in a deployment.",
                hint="Remove CHILDSAFE['ENABLED'] = False from the production settings.",
                id="childsafe.E017",
            )
        ]
    return []


def check_routes(app_configs: object = None, **kwargs: object) -> list[Any]:
    """Strict mode: every URL pattern declares an action or is exempt (``E020``; a
    warning, ``W002``, when ``STRICT`` is ``False``), and, strict or not, every
    ``path_param`` declared names a parameter of its URL pattern (``E023``). Registered
    under the ``urls`` tag, so it runs once the URLconf loads."""
    del app_configs, kwargs
    config = load(instantiate=False).config
    if config is None or not config.enabled:
        return []  # the settings' own problems are reported by check_settings
    found: list[Any] = []
    inventory = routes(table=config.routes, exempt=config.exempt)
    if config.strict:
        try:
            config.media.check_inventory(
                inventory, where="settings.CHILDSAFE", table=config.routes.rules()
            )
        except ConfigurationError as e:
            found.extend(
                Error(
                    problem.message,
                    hint="Set CHILDSAFE['MEDIA_INSPECTOR'] (e.g. a childsafe.media.MediaScreen).",
                    id="childsafe.E022",
                )
                for problem in e.problems
            )
    for route in inventory:
        found.extend(
            Error(
                f"{route.key} ({route.endpoint}): {problem}, so every request to it is "
                "denied as unverifiable.",
                hint="Rename the URL pattern's parameter or the path_param() so that they match.",
                id="childsafe.E023",
            )
            for problem in route.problems
        )
        if route.protected:
            continue
        message = f"{route.key} ({route.endpoint}) declares no action and is not exempt."
        hint = (
            "Declare what it does with @childsafe.action(...) or a CHILDSAFE['ROUTES'] "
            "entry, or mark it @childsafe.exempt('why') or list it in CHILDSAFE['EXEMPT']."
        )
        if config.strict:
            found.append(Error(message, hint=hint, id="childsafe.E020"))
        else:
            found.append(
                Warning(message + " It is served unchecked.", hint=hint, id="childsafe.W002")
            )
    return found
