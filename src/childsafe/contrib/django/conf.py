"""The ``CHILDSAFE`` setting: one dict, read when it is used.

Every key is optional except ``REPOSITORY``:

``POLICY``
    The policy: a path to a ``.toml``/``.json`` config file (absolute, e.g.
    ``BASE_DIR / "childsafe.toml"``), a mapping, or a :class:`~childsafe.Policy`.
    Default ``None``: the built-in ``minimum`` baseline.
``REPOSITORY``
    Your :class:`~childsafe.AccountRepository` (``get_account(id)`` and
    ``relationship(actor, target)``), or the dotted path of one, or of a class or
    zero-argument function that returns one (called once, when the middleware starts).
``RESOLVERS``
    A list of resolvers (callables or their dotted paths) that find the request's
    account; the first that returns one wins. Default
    ``["childsafe.contrib.django.django_user"]``.
``RENDERER``
    ``(decision, request) -> HttpResponse | DenialResponse`` (or its dotted path) for
    denials, e.g. an HTML page for browsers. Default: ``403 application/problem+json``.
``RESPONSE_FILTER``
    ``True`` (a default :class:`~childsafe.ResponseFilter`), a mapping of its options
    (``{"location_fields": ["location", "geo"]}``), a ``ResponseFilter`` or its dotted
    path. Default ``None``: JSON responses are not filtered.
``ROUTES``
    A :class:`~childsafe.RouteTable`, its dotted path, or the mapping to build one
    from, for views you would rather not decorate. Default: none.
``ENABLED``
    Default ``True``. ``False`` stops checking declared actions and filtering
    responses (the request's account is still resolved) and is reported by
    ``manage.py check`` (a warning, an error with ``--deploy``).
``MAX_BODY``
    The largest request body, in bytes, read to find a target declared with
    :func:`~childsafe.json_field`. Default 1 MiB.
``STRICT``
    Default ``True``: every URL pattern's view must declare an action
    (:func:`childsafe.action`, on the view, a class-based view or its handlers), match a
    ``ROUTES`` entry for every method it answers, or be exempt. An unprotected route
    stops the middleware from starting (:class:`~childsafe.exceptions.ConfigurationError`
    naming each) and fails ``manage.py check`` (``childsafe.E020``). ``False`` serves
    them unchecked and warns (``childsafe.W002``).
``MEDIA_INSPECTOR``, ``EVIDENCE_PRESERVER``
    The :class:`~childsafe.media.MediaInspector` that looks at each image of a
    ``media.upload`` or ``media.send`` view, and the
    :class:`~childsafe.media.EvidencePreserver` a matched image is handed to (objects
    or their dotted paths). In strict mode a media view without an inspector stops the
    middleware from starting (``childsafe.E022``).
``MAX_MEDIA_BODY``
    The largest body, in bytes, a media view accepts (``413`` beyond). Default 10 MiB.
    ``MEDIA_TEMP_DIR``: where media bodies are spooled (default: the system's).
    ``MAX_MEDIA_FILES``: the images one request may carry (``413`` beyond, before any
    is inspected). Default 20.
``EXEMPT``
    Routes that need no check, by URL name (``"healthz"``), namespace (``"admin"``
    covers every ``admin:`` route) or path prefix (``"/static/"``): a list, or a
    mapping to the reason shown by ``childsafe routes``. Views can also be marked
    :func:`childsafe.exempt`.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal, NoReturn, cast

import attrs
from django.conf import settings  # type: ignore[import-untyped]
from django.utils.module_loading import import_string  # type: ignore[import-untyped]

from childsafe._decision import Decision
from childsafe._engine import Guard
from childsafe._model import Account, Relationship
from childsafe._policy import Policy, load_policy
from childsafe._settings import suggest
from childsafe.contrib.django.request import (
    DEFAULT_MAX_BODY,
    _DjangoUser,
    _SessionAccount,
)
from childsafe.exceptions import ConfigProblem, ConfigurationError
from childsafe.typing import AccountRepository, Resolver
from childsafe.web import ResponseFilter, RouteTable
from childsafe.web.media import DEFAULT_MAX_MEDIA_BODY, DEFAULT_MAX_MEDIA_FILES, MediaOptions

__all__ = ["KEYS", "ChildsafeSettings", "Config", "Problem", "conf", "load"]

SETTING: Final = "CHILDSAFE"
KEYS: Final = (
    "POLICY",
    "REPOSITORY",
    "RESOLVERS",
    "RENDERER",
    "RESPONSE_FILTER",
    "ROUTES",
    "ENABLED",
    "MAX_BODY",
    "STRICT",
    "EXEMPT",
    "MEDIA_INSPECTOR",
    "EVIDENCE_PRESERVER",
    "MAX_MEDIA_BODY",
    "MAX_MEDIA_FILES",
    "MEDIA_TEMP_DIR",
)
DEFAULT_RESOLVERS: Final = ("childsafe.contrib.django.django_user",)
MIDDLEWARE_PATH: Final = "childsafe.contrib.django.middleware.ChildsafeMiddleware"
AUTH_MIDDLEWARE: Final = "django.contrib.auth.middleware.AuthenticationMiddleware"
SESSION_MIDDLEWARE: Final = "django.contrib.sessions.middleware.SessionMiddleware"


class ChildsafeSettings:
    """``settings.CHILDSAFE``, one property per key with its default, read at access
    time (so ``override_settings`` works)."""

    @property
    def raw(self) -> object:
        """The whole setting (``{}`` when it is not set)."""
        return getattr(settings, SETTING, {})

    def _get(self, key: str, default: object) -> object:
        raw = self.raw
        return raw.get(key, default) if isinstance(raw, Mapping) else default

    @property
    def POLICY(self) -> object:  # noqa: N802 - named like the key it reads
        return self._get("POLICY", None)

    @property
    def REPOSITORY(self) -> object:  # noqa: N802
        return self._get("REPOSITORY", None)

    @property
    def RESOLVERS(self) -> object:  # noqa: N802
        return self._get("RESOLVERS", DEFAULT_RESOLVERS)

    @property
    def RENDERER(self) -> object:  # noqa: N802
        return self._get("RENDERER", None)

    @property
    def RESPONSE_FILTER(self) -> object:  # noqa: N802
        return self._get("RESPONSE_FILTER", None)

    @property
    def ROUTES(self) -> object:  # noqa: N802
        return self._get("ROUTES", None)

    @property
    def ENABLED(self) -> object:  # noqa: N802
        return self._get("ENABLED", default=True)

    @property
    def MAX_BODY(self) -> object:  # noqa: N802
        return self._get("MAX_BODY", DEFAULT_MAX_BODY)

    @property
    def STRICT(self) -> object:  # noqa: N802
        return self._get("STRICT", default=True)

    @property
    def EXEMPT(self) -> object:  # noqa: N802
        return self._get("EXEMPT", ())

    @property
    def MEDIA_INSPECTOR(self) -> object:  # noqa: N802
        return self._get("MEDIA_INSPECTOR", None)

    @property
    def EVIDENCE_PRESERVER(self) -> object:  # noqa: N802
        return self._get("EVIDENCE_PRESERVER", None)

    @property
    def MAX_MEDIA_BODY(self) -> object:  # noqa: N802
        return self._get("MAX_MEDIA_BODY", DEFAULT_MAX_MEDIA_BODY)

    @property
    def MAX_MEDIA_FILES(self) -> object:  # noqa: N802
        return self._get("MAX_MEDIA_FILES", DEFAULT_MAX_MEDIA_FILES)

    @property
    def MEDIA_TEMP_DIR(self) -> object:  # noqa: N802
        return self._get("MEDIA_TEMP_DIR", None)


conf: Final = ChildsafeSettings()


@attrs.frozen
class Problem:
    """One finding about the settings, as a system check reports it."""

    id: str
    message: str
    hint: str | None = None
    level: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        hint = f" HINT: {self.hint}" if self.hint else ""
        return f"[childsafe.{self.id}] {self.message}{hint}"


@attrs.frozen
class Config:
    """The settings, loaded: what the middleware runs with."""

    guard: Guard
    repository: AccountRepository
    resolvers: tuple[Resolver, ...]
    renderer: Callable[[Decision, Any], Any] | None  # (decision, HttpRequest) -> response
    response_filter: ResponseFilter | None
    routes: RouteTable
    enabled: bool
    max_body: int
    strict: bool = True
    exempt: Mapping[str, str] = attrs.field(factory=dict)
    media: MediaOptions = attrs.field(factory=MediaOptions)


def _key(name: str) -> str:
    return f"{SETTING}[{name!r}]"


def _import(value: object) -> object:
    """``value``, or the object at its dotted path when it is a string."""
    return import_string(value) if isinstance(value, str) else value


def _is_repository(obj: object) -> bool:
    return callable(getattr(obj, "get_account", None)) and callable(
        getattr(obj, "relationship", None)
    )


class _Unbuilt:
    """The ``REPOSITORY`` factory the system checks do not call (the middleware builds
    it when it starts): a repository that refuses to be used, so nothing can mistake it
    for the platform's accounts."""

    def __init__(self, factory: object) -> None:
        self.factory = factory

    def _refuse(self) -> NoReturn:
        raise ConfigurationError(
            [
                ConfigProblem(
                    SETTING,
                    "REPOSITORY",
                    f"{self.factory!r} is built when the middleware starts; the settings "
                    "loaded for the system checks have no repository to call",
                )
            ]
        )

    def get_account(self, account_id: str) -> Account | None:
        del account_id
        self._refuse()

    def relationship(self, actor: Account, target: Account) -> Relationship:
        del actor, target
        self._refuse()


class _Loader:
    """Loads each key, collecting every problem instead of stopping at the first."""

    def __init__(self, *, instantiate: bool) -> None:
        self.instantiate = instantiate
        self.problems: list[Problem] = []

    def error(self, ident: str, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(ident, message, hint))

    def policy(self, value: object) -> Guard | None:
        if isinstance(value, Policy):
            return Guard(value)
        if value is not None and not isinstance(value, str | os.PathLike | Mapping):
            self.error(
                "E003",
                f"{_key('POLICY')} must be a path, a mapping or a Policy, not "
                f"{type(value).__name__}.",
                "Point it at your policy file, e.g. BASE_DIR / 'childsafe.toml'.",
            )
            return None
        try:
            return Guard(load_policy(value))
        except ConfigurationError as e:
            for problem in e.problems:
                self.error(
                    "E003",
                    f"{_key('POLICY')} does not load: {problem}",
                    "Fix the policy; `childsafe check <file>` lists the same problems.",
                )
            return None

    def repository(self, value: object) -> AccountRepository | None:
        if value is None:
            self.error(
                "E004",
                f"{_key('REPOSITORY')} is not set: childsafe cannot load accounts.",
                "Set it to the dotted path of your AccountRepository, an object with "
                "get_account(account_id) and relationship(actor, target).",
            )
            return None
        try:
            obj = _import(value)
        except Exception as e:  # noqa: BLE001 - any import failure is reported
            self.error("E005", f"{_key('REPOSITORY')} cannot be imported: {e!r}.")
            return None
        is_factory = isinstance(obj, type) or (callable(obj) and not _is_repository(obj))
        if isinstance(obj, type) and not _is_repository(obj):
            self.error(
                "E005",
                f"{_key('REPOSITORY')} class {obj.__qualname__} has no get_account and "
                "relationship methods.",
            )
            return None
        if is_factory:
            if not self.instantiate:
                # Built when the middleware starts, not by the checks; they still check
                # the rest of the settings and the routes (they returned None here, so
                # the strict-mode checks and `childsafe routes` skipped EXEMPT, ROUTES
                # and every unprotected route of the documented REPOSITORY class form).
                if isinstance(obj, type) and inspect.iscoroutinefunction(
                    getattr(obj, "get_account", None)
                ):
                    self.error(
                        "E005",
                        f"{_key('REPOSITORY')} class {obj.__qualname__} is async; the Django "
                        "middleware needs a sync repository (it runs it in a thread under ASGI).",
                    )
                    return None
                return _Unbuilt(value)
            try:
                obj = obj()  # type: ignore[operator]  # callable, checked above
            except Exception as e:  # noqa: BLE001 - reported, never half-configured
                self.error("E005", f"Building {_key('REPOSITORY')} raised {e!r}.")
                return None
        if not _is_repository(obj):
            self.error(
                "E005",
                f"{_key('REPOSITORY')} is a {type(obj).__name__}, not an AccountRepository "
                "(an object with get_account and relationship methods).",
            )
            return None
        if inspect.iscoroutinefunction(getattr(obj, "get_account", None)):
            self.error(
                "E005",
                f"{_key('REPOSITORY')} is async; the Django middleware needs a sync "
                "repository (it runs it in a thread under ASGI).",
            )
            return None
        return obj  # type: ignore[return-value]  # checked by _is_repository

    def resolvers(self, value: object) -> tuple[Resolver, ...]:
        if isinstance(value, str | bytes) or not isinstance(value, Sequence):
            hint = f"{_key('RESOLVERS')} = [{value!r}]" if isinstance(value, str) else None
            self.error(
                "E006",
                f"{_key('RESOLVERS')} must be a list of resolvers, not {type(value).__name__}.",
                hint,
            )
            return ()
        loaded: list[Resolver] = []
        for index, item in enumerate(value):
            where = f"{_key('RESOLVERS')}[{index}]"
            try:
                resolver = _import(item)
            except Exception as e:  # noqa: BLE001 - any import failure is reported
                self.error("E007", f"{where} cannot be imported: {e!r}.")
                continue
            if not callable(resolver):
                self.error("E007", f"{where} is a {type(resolver).__name__}, not a callable.")
            elif inspect.iscoroutinefunction(resolver) or inspect.iscoroutinefunction(
                getattr(resolver, "__call__", None)  # noqa: B004 - an async __call__
            ):
                self.error(
                    "E007",
                    f"{where} is async; the Django middleware runs resolvers synchronously.",
                )
            else:
                loaded.append(cast("Resolver", resolver))
        return tuple(loaded)

    def renderer(self, value: object) -> Callable[[Decision, Any], Any] | None:
        try:
            renderer = _import(value)
        except Exception as e:  # noqa: BLE001 - any import failure is reported
            self.error("E008", f"{_key('RENDERER')} cannot be imported: {e!r}.")
            return None
        if renderer is not None and not callable(renderer):
            self.error(
                "E008",
                f"{_key('RENDERER')} is a {type(renderer).__name__}, not a callable "
                "(decision, request) -> HttpResponse.",
            )
            return None
        return cast("Callable[[Decision, Any], Any] | None", renderer)

    def response_filter(self, value: object) -> ResponseFilter | None:
        if value is None or value is False:
            return None
        if value is True:
            return ResponseFilter()
        if isinstance(value, Mapping):
            fields = [f.name for f in attrs.fields(ResponseFilter)]
            unknown = [k for k in value if k not in fields]
            for key in unknown:
                self.error(
                    "E009",
                    f"{_key('RESPONSE_FILTER')} has no option {key!r}{suggest(key, fields)}.",
                    f"The options are {', '.join(fields)}.",
                )
            if unknown:
                return None
            try:
                return ResponseFilter(**value)
            except ConfigurationError as e:
                for problem in e.problems:
                    self.error("E009", f"{_key('RESPONSE_FILTER')}: {problem.message}.")
                return None
        try:
            obj = _import(value)
        except Exception as e:  # noqa: BLE001 - any import failure is reported
            self.error("E009", f"{_key('RESPONSE_FILTER')} cannot be imported: {e!r}.")
            return None
        if isinstance(obj, ResponseFilter):
            return obj
        self.error(
            "E009",
            f"{_key('RESPONSE_FILTER')} is a {type(obj).__name__}, not a ResponseFilter.",
            "Use True, a mapping of ResponseFilter options, or a ResponseFilter.",
        )
        return None

    def routes(self, value: object) -> RouteTable:
        try:
            obj = _import(value)
        except Exception as e:  # noqa: BLE001 - any import failure is reported
            self.error("E010", f"{_key('ROUTES')} cannot be imported: {e!r}.")
            return RouteTable()
        if obj is None:
            return RouteTable()
        if isinstance(obj, RouteTable):
            return obj
        if isinstance(obj, Mapping):
            try:
                return RouteTable(obj)
            except ConfigurationError as e:
                for problem in e.problems:
                    self.error("E010", f"{_key('ROUTES')}: {problem}.")
                return RouteTable()
        self.error("E010", f"{_key('ROUTES')} is a {type(obj).__name__}, not a RouteTable.")
        return RouteTable()

    def enabled(self, value: object) -> bool:
        if not isinstance(value, bool):
            self.error("E011", f"{_key('ENABLED')} must be True or False, not {value!r}.")
            return True
        if not value:
            self.problems.append(
                Problem(
                    "W001",
                    "childsafe is disabled (CHILDSAFE['ENABLED'] is False): declared actions "
                    "are not checked and JSON responses are not filtered.",
                    "Never deploy a service that children use like this.",
                    "warning",
                )
            )
        return value

    def strict(self, value: object) -> bool:
        if not isinstance(value, bool):
            self.error("E018", f"{_key('STRICT')} must be True or False, not {value!r}.")
            return True
        return value

    def exempt(self, value: object) -> dict[str, str]:
        default_reason = f"listed in {_key('EXEMPT')}"
        entries: list[tuple[object, object]]
        if isinstance(value, Mapping):
            entries = list(value.items())
        elif isinstance(value, list | tuple | set | frozenset):
            entries = [(entry, default_reason) for entry in value]
        else:
            self.error(
                "E019",
                f"{_key('EXEMPT')} must be a list of URL names, namespaces or path "
                f"prefixes (or a mapping of them to reasons), not {type(value).__name__}.",
                f"{_key('EXEMPT')} = [{value!r}]" if isinstance(value, str) else None,
            )
            return {}
        out: dict[str, str] = {}
        for entry, reason in entries:
            if not isinstance(entry, str) or not entry.strip():
                self.error("E019", f"{_key('EXEMPT')} has an entry that is not a name: {entry!r}.")
            elif not isinstance(reason, str) or not reason.strip():
                self.error("E019", f"{_key('EXEMPT')}[{entry!r}] must say why, not {reason!r}.")
            else:
                out[entry.strip()] = reason.strip()
        return out

    def media(self, settings_: ChildsafeSettings) -> MediaOptions:
        try:
            inspector = _import(settings_.MEDIA_INSPECTOR)
            preserver = _import(settings_.EVIDENCE_PRESERVER)
        except Exception as e:  # noqa: BLE001 - any import failure is reported
            self.error(
                "E021", f"the media inspector or evidence preserver cannot be imported: {e!r}."
            )
            return MediaOptions()
        try:
            return MediaOptions.build(
                inspector=inspector,
                preserver=preserver,
                max_body=settings_.MAX_MEDIA_BODY,
                temp_dir=settings_.MEDIA_TEMP_DIR,
                max_files=settings_.MAX_MEDIA_FILES,
                where=SETTING,
            )
        except ConfigurationError as e:
            for problem in e.problems:
                self.error("E021", f"{SETTING}: {problem}.")
            return MediaOptions()

    def max_body(self, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.error("E012", f"{_key('MAX_BODY')} must be a size in bytes, not {value!r}.")
            return DEFAULT_MAX_BODY
        return value


def _position(middleware: Sequence[object], path: str) -> int | None:
    """Where the class at ``path`` (or a subclass of it) is in ``middleware``. Entries
    are imported, but ``path`` never is (``django.contrib.auth`` may not be installed)."""
    for index, entry in enumerate(middleware):
        if entry == path:
            return index
        try:
            cls = import_string(entry)
        except Exception:  # noqa: BLE001, S112 - Django reports broken entries itself
            continue
        mro = getattr(cls, "__mro__", ())
        if any(f"{c.__module__}.{c.__qualname__}" == path for c in mro):
            return index
    return None


def _middleware_problems(resolvers: tuple[Resolver, ...]) -> list[Problem]:
    middleware = getattr(settings, "MIDDLEWARE", None) or ()
    ours = _position(middleware, MIDDLEWARE_PATH)
    if ours is None:
        return [
            Problem(
                "E013",
                f"'{MIDDLEWARE_PATH}' is not in MIDDLEWARE: nothing is checked.",
                f"Add it to MIDDLEWARE, after '{AUTH_MIDDLEWARE}'.",
            )
        ]
    problems = []
    auth = _position(middleware, AUTH_MIDDLEWARE)
    if auth is not None and auth > ours:
        problems.append(
            Problem(
                "E014",
                f"'{MIDDLEWARE_PATH}' must come after '{AUTH_MIDDLEWARE}' in MIDDLEWARE.",
                "Move it below AuthenticationMiddleware: it reads request.user.",
            )
        )
    if auth is None and any(isinstance(r, _DjangoUser) for r in resolvers):
        problems.append(
            Problem(
                "E015",
                f"The django_user resolver reads request.user, but '{AUTH_MIDDLEWARE}' is "
                "not in MIDDLEWARE.",
                "Add AuthenticationMiddleware before ChildsafeMiddleware, or use other "
                f"{_key('RESOLVERS')}.",
            )
        )
    session = _position(middleware, SESSION_MIDDLEWARE)
    if any(isinstance(r, _SessionAccount) for r in resolvers) and (
        session is None or session > ours
    ):
        problems.append(
            Problem(
                "E016",
                f"A session_account resolver reads request.session: '{SESSION_MIDDLEWARE}' "
                f"must come before '{MIDDLEWARE_PATH}' in MIDDLEWARE.",
            )
        )
    return problems


@attrs.frozen
class Loaded:
    """The outcome of :func:`load`: the config when there is no error, and every
    problem found."""

    config: Config | None
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.level == "error")


def load(settings_: ChildsafeSettings = conf, *, instantiate: bool = True) -> Loaded:
    """Load ``CHILDSAFE`` and report every problem with it.

    ``config`` is set when the ``CHILDSAFE`` setting itself has no error (the problems
    with ``MIDDLEWARE``, checked last, do not prevent it). ``instantiate=False`` (the
    system checks) does not call a ``REPOSITORY`` factory.
    """
    raw = settings_.raw
    if not isinstance(raw, Mapping):
        problem = Problem(
            "E001",
            f"{SETTING} must be a dict, not {type(raw).__name__}.",
            f"{SETTING} = {{'POLICY': ..., 'REPOSITORY': ...}}",
        )
        return Loaded(None, (problem,))
    loader = _Loader(instantiate=instantiate)
    for key in raw:
        if key not in KEYS:
            loader.error(
                "E002",
                f"{SETTING} has an unknown key {key!r}{suggest(key, KEYS)}.",
                f"The keys are {', '.join(KEYS)}.",
            )
    guard = loader.policy(settings_.POLICY)
    repository = loader.repository(settings_.REPOSITORY)
    resolvers = loader.resolvers(settings_.RESOLVERS)
    renderer = loader.renderer(settings_.RENDERER)
    response_filter = loader.response_filter(settings_.RESPONSE_FILTER)
    routes = loader.routes(settings_.ROUTES)
    enabled = loader.enabled(settings_.ENABLED)
    max_body = loader.max_body(settings_.MAX_BODY)
    strict = loader.strict(settings_.STRICT)
    exempt = loader.exempt(settings_.EXEMPT)
    media = loader.media(settings_)
    config = None
    if (
        guard is not None
        and repository is not None
        and not any(p.level == "error" for p in loader.problems)
    ):
        config = Config(
            guard=guard,
            repository=repository,
            resolvers=resolvers,
            renderer=renderer,
            response_filter=response_filter,
            routes=routes,
            enabled=enabled,
            max_body=max_body,
            strict=strict,
            exempt=exempt,
            media=media,
        )
    loader.problems.extend(_middleware_problems(resolvers))
    return Loaded(config, tuple(loader.problems))
