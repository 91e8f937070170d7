"""The Flask extension: checks declared actions before views run and filters JSON
responses about children.

>>> from flask import Flask
>>> from childsafe.contrib.flask import ChildSafe
>>> app = Flask("docs")
>>> childsafe = ChildSafe(app)
>>> app.extensions["childsafe"].guard.policy.name
'minimum'

Install it with ``pip install 'childsafe[flask]'``. See the :class:`ChildSafe` docstring
for every ``app.config`` key it reads.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

from childsafe._decision import Decision
from childsafe._engine import Guard
from childsafe._model import Account
from childsafe._policy import Policy, load_policy
from childsafe.exceptions import ConfigProblem, ConfigurationError, MissingExtraError
from childsafe.typing import AccountRepository, Request, Resolver
from childsafe.web import (
    ENVIRON_KEYS,
    ActionRule,
    DenialResponse,
    RequestContext,
    ResolverChain,
    ResponseFilter,
    RouteTable,
    declared_rules,
    denial_status,
    environ_key,
    filter_response,
    is_json_response,
    parse_json_body,
    single_value,
)
from childsafe.web.denials import check_headers, rendered, wsgi_headers
from childsafe.web.media import DEFAULT_MAX_MEDIA_BODY, DEFAULT_MAX_MEDIA_FILES, MediaOptions
from childsafe.web.middleware import DEFAULT_MAX_BODY
from childsafe.web.options import max_body_problems
from childsafe.web.request import unambiguous_cookie
from childsafe.web.strict import (
    RouteInfo,
    check_strict,
    exempt,
    param_problems,
    route_protection,
)

if TYPE_CHECKING:
    from childsafe.complaints import ComplaintsDesk
    from childsafe.media import EvidencePreserver, MediaInspector

try:
    import flask
    from flask.typing import ResponseReturnValue
    from werkzeug.datastructures import Headers
    from werkzeug.exceptions import HTTPException
except ImportError:
    raise MissingExtraError(
        "childsafe.contrib.flask needs Flask; install it with: pip install 'childsafe[flask]'"
    ) from None

__all__ = [
    "ChildSafe",
    "FlaskRenderer",
    "FlaskRequest",
    "current_context",
    "current_guard",
    "report_view",
    "routes",
    "session_account",
]

log = logging.getLogger(__name__)

EXTENSION_KEY: Final = "childsafe"
"""The key of the extension's per-app state in ``app.extensions``."""

FlaskRenderer = Callable[[Decision, Request], "DenialResponse | ResponseReturnValue"]
"""A denial renderer: a :class:`~childsafe.DenialResponse` or anything a Flask view may
return (a response, a string, a ``(body, status)`` tuple ...)."""

V = TypeVar("V", bound="Callable[..., Any] | str")

_SOURCE: Final = "app.config"


_NO_PARAMS: Final[Mapping[str, str]] = MappingProxyType({})


class FlaskRequest:
    """A :class:`~childsafe.Request` over :data:`flask.request`.

    Path parameters come from ``params`` (a route-table match) first, then from the
    matched URL rule's ``view_args``. The JSON body is read (and kept for the view) only
    when its ``Content-Length`` is at most ``max_body`` bytes: a larger body, or one of
    unknown length (a chunked upload), has no target, so its check fails closed.
    """

    __slots__ = ("max_body", "params", "request")

    def __init__(
        self,
        request: flask.Request,
        params: Mapping[str, str] | None = None,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        self.request = request
        self.params: Mapping[str, str] = params or _NO_PARAMS
        self.max_body = max_body

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def path(self) -> str:
        return self.request.path

    @property
    def client_addr(self) -> str | None:
        """The client's address as Flask sees it (``request.remote_addr``: behind a
        proxy, what Werkzeug's ``ProxyFix`` makes of ``X-Forwarded-For``)."""
        return self.request.remote_addr

    def header(self, name: str) -> str | None:
        # What `request.headers.get(name)` reads, without building the headers object.
        try:
            value = self.request.environ.get(ENVIRON_KEYS[name])
        except KeyError:  # a header childsafe seldom reads
            value = self.request.environ.get(environ_key(name))
        return value if value.__class__ is str or value is None else str(value)

    def cookie(self, name: str) -> str | None:
        """The cookie as Werkzeug reads it; ``None`` when given twice with different
        values (see :func:`~childsafe.web.parse_cookie_header`)."""
        request = self.request
        return unambiguous_cookie(
            request.cookies.get(name), request.environ.get("HTTP_COOKIE"), name
        )

    def query(self, name: str) -> str | None:
        return single_value(self.request.args.getlist(name))

    def path_param(self, name: str) -> str | None:
        params = self.params
        if params and name in params:
            return params[name]
        value = (self.request.view_args or _NO_PARAMS).get(name)
        return value if value.__class__ is str or value is None else str(value)

    def json(self) -> object:
        request = self.request
        length = request.content_length
        if not request.is_json or length is None or not 0 < length <= self.max_body:
            return None
        return parse_json_body(request.get_data(cache=True))


class _HotFlaskRequest(FlaskRequest):
    """A :class:`FlaskRequest` built per request by calling the class with no arguments
    (cheaper than ``object.__new__``); the hook sets its attributes."""

    __slots__ = ()
    __init__ = object.__init__


class _AppState:
    """What one app registered: stored in ``app.extensions["childsafe"]``."""

    __slots__ = (
        "chain",
        "extension",
        "guard",
        "has_routes",
        "max_body",
        "media",
        "renderer",
        "repository",
        "resolvers",
        "response_filter",
        "routes",
        "strict",
        "strict_checked",
        "view_rules",
    )

    def __init__(
        self,
        extension: ChildSafe,
        guard: Guard,
        *,
        strict: bool,
        max_body: int,
        media: MediaOptions,
    ) -> None:
        self.extension = extension
        self.guard = guard
        self.resolvers = extension.resolvers
        self.chain = ResolverChain(extension.resolvers, adapter="flask")
        self.repository = extension.repository
        self.renderer = extension.renderer
        self.response_filter = extension.response_filter or ResponseFilter()
        self.routes = extension.routes
        self.has_routes = len(self.routes) > 0
        # view function -> its declared rule (or None); views are declared when imported.
        self.view_rules: dict[object, dict[str, tuple[ActionRule, ...]]] = {}
        self.strict = strict
        self.max_body = max_body
        self.media = media
        # Whether the app's routes were found protected (or strict mode is off), before
        # its first request: routes added after init_app are checked then.
        self.strict_checked = False


class ChildSafe:
    """Enforce a :class:`~childsafe.Guard` on a Flask app.

    ``ChildSafe(app, ...)`` or, with an app factory, ``childsafe = ChildSafe(...)`` at
    module level and ``childsafe.init_app(app)`` in the factory. On every request it

    1. turns the request into an account with ``resolvers`` (the first that returns an
       account wins; none: the protective unknown-age account; one that raises: the
       same, logged) and stores the :class:`~childsafe.RequestContext` on
       ``flask.g.childsafe`` (see :func:`current_context`);
    2. checks the action declared on the endpoint's view with
       :func:`childsafe.action`, and the entry of ``routes`` matching the request, if
       any. A denial answers ``403 application/problem+json`` (or what ``renderer``
       returns) and the view never runs;
    3. after the view, removes children's locations and drops children from suggestion
       and connection lists in JSON responses (``response_filter``), except for views
       marked with :meth:`filter_exempt`.

    Arguments (the same for every app the extension is registered on):

    ``guard``
        A :class:`~childsafe.Guard` to use instead of loading ``CHILDSAFE_POLICY``
        (setting both is an error).
    ``resolvers``
        Callables ``(request) -> Account | None``: :func:`session_account`,
        :func:`childsafe.bearer_token` or your own.
    ``repository``
        The app's :class:`~childsafe.AccountRepository`, used to load target accounts.
        Required by ``routes``, the response filter and :func:`session_account`.
    ``renderer``
        ``(decision, request) -> DenialResponse | ResponseReturnValue`` for denials
        (an HTML page for browsers). A renderer that raises falls back to the
        problem+json answer; a rendered 2xx status is replaced by ``403``.
    ``response_filter``
        A :class:`~childsafe.ResponseFilter` (field and list names).
    ``routes``
        A :class:`~childsafe.RouteTable`, for views you prefer not to decorate.
    ``media_inspector``, ``evidence_preserver``
        The :class:`~childsafe.media.MediaInspector` that looks at each image of a
        ``media.upload`` or ``media.send`` route, and the
        :class:`~childsafe.media.EvidencePreserver` a matched image is handed to (see
        ``docs/media-routes.md``). A media route without an inspector is a
        configuration error in strict mode.

    ``app.config`` keys (read with ``setdefault``, so yours win and the defaults are
    visible in ``app.config``):

    ``CHILDSAFE_POLICY``
        A path to a ``.toml``/``.json`` config file, a mapping, or a
        :class:`~childsafe.Policy`. Default ``None``: the built-in ``minimum``
        baseline. Loaded in :meth:`init_app`, so a bad policy fails at start-up with
        :class:`~childsafe.exceptions.ConfigurationError`.
    ``CHILDSAFE_ENABLED``
        Default ``True``. ``False`` turns off the checks of declared actions and the
        response filter (the request context is still resolved, so explicit checks in
        views keep working) and logs a warning at every start. Only the boolean
        ``False`` switches it off; any other value is a configuration error.
    ``CHILDSAFE_STRICT``
        Default ``True``: every route must declare an action (:func:`childsafe.action`,
        on the view or a ``MethodView`` method), match a ``routes`` entry, or be marked
        :func:`childsafe.exempt`; Flask's own ``static`` endpoints are exempt. The
        routes are checked in :meth:`init_app` and again before the first request (so
        blueprints registered later are covered); an unprotected route raises
        :class:`~childsafe.exceptions.ConfigurationError` naming each one, and the app
        serves nothing until it is fixed. ``False`` logs a warning listing them.
    ``CHILDSAFE_MAX_BODY``
        The largest request body, in bytes, read to find a target declared with
        :func:`~childsafe.json_field`. Default 1 MiB, as the other adapters.
    ``CHILDSAFE_MAX_MEDIA_BODY``
        The largest body, in bytes, a media route accepts (``413`` beyond). Default
        10 MiB. ``CHILDSAFE_MEDIA_TEMP_DIR``: where media bodies are spooled (default
        the system's temporary directory). ``CHILDSAFE_MAX_MEDIA_FILES``: the images
        one request may carry (``413`` beyond, before any is inspected). Default 20.
    ``CHILDSAFE_FILTER_JSON``
        Whether to filter JSON responses. Default: ``True`` when a
        ``response_filter`` is given, else ``False``; ``True`` without one uses
        ``ResponseFilter()``.

    ``CHILDSAFE_ENABLED`` is read live on each request, like Flask-WTF's
    ``WTF_CSRF_ENABLED``; ``CHILDSAFE_FILTER_JSON`` when :meth:`init_app` runs (the
    after-request hook is only added when it is on, so apps that don't filter pay
    nothing after their views).

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0 ``media_inspector``, ``evidence_preserver``,
       ``CHILDSAFE_MAX_MEDIA_BODY``, ``CHILDSAFE_MAX_MEDIA_FILES`` and
       ``CHILDSAFE_MEDIA_TEMP_DIR``.
    """

    def __init__(
        self,
        app: flask.Flask | None = None,
        *,
        guard: Guard | None = None,
        resolvers: Sequence[Resolver] = (),
        repository: AccountRepository | None = None,
        renderer: FlaskRenderer | None = None,
        response_filter: ResponseFilter | None = None,
        routes: RouteTable | None = None,
        media_inspector: MediaInspector | None = None,
        evidence_preserver: EvidencePreserver | None = None,
    ) -> None:
        problems = _check_arguments(guard, resolvers, renderer, response_filter, routes)
        if problems:
            raise ConfigurationError(problems)
        self.media_inspector = media_inspector
        self.evidence_preserver = evidence_preserver
        self.guard = guard
        self.resolvers: tuple[Resolver, ...] = tuple(resolvers)
        self.repository = repository
        self.renderer = renderer
        self.response_filter = response_filter
        self.routes = routes if routes is not None else RouteTable()
        self._exempt_views: set[Callable[..., Any]] = set()
        self._exempt_endpoints: set[str] = set()
        if app is not None:
            self.init_app(app)

    def init_app(self, app: flask.Flask) -> None:
        """Register the extension on ``app``: load its policy and add the hooks.

        Raises :class:`~childsafe.exceptions.ConfigurationError` listing every problem
        in the config, and :class:`RuntimeError` if ``app`` already has the extension.
        """
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError(
                "A 'ChildSafe' instance has already been registered on this Flask app. "
                "Import and use that instance instead."
            )
        config = app.config
        policy_config = config.setdefault("CHILDSAFE_POLICY", None)
        enabled = config.setdefault("CHILDSAFE_ENABLED", True)
        filtering = config.setdefault("CHILDSAFE_FILTER_JSON", self.response_filter is not None)
        strict = config.setdefault("CHILDSAFE_STRICT", True)
        max_body = config.setdefault("CHILDSAFE_MAX_BODY", DEFAULT_MAX_BODY)
        max_media_body = config.setdefault("CHILDSAFE_MAX_MEDIA_BODY", DEFAULT_MAX_MEDIA_BODY)
        media_temp_dir = config.setdefault("CHILDSAFE_MEDIA_TEMP_DIR", None)
        max_media_files = config.setdefault("CHILDSAFE_MAX_MEDIA_FILES", DEFAULT_MAX_MEDIA_FILES)
        problems: list[ConfigProblem] = max_body_problems(_SOURCE, max_body)
        media = None
        try:
            media = MediaOptions.build(
                inspector=self.media_inspector,
                preserver=self.evidence_preserver,
                max_body=max_media_body,
                temp_dir=media_temp_dir,
                max_files=max_media_files,
                where=_SOURCE,
            )
        except ConfigurationError as e:
            problems.extend(e.problems)
        for key, value in (
            ("CHILDSAFE_ENABLED", enabled),
            ("CHILDSAFE_FILTER_JSON", filtering),
            ("CHILDSAFE_STRICT", strict),
        ):
            if not isinstance(value, bool):
                problems.append(
                    ConfigProblem(_SOURCE, key, f"expected True or False, got {value!r}")
                )
        guard = self._guard(policy_config, problems)
        if self.repository is None:
            needs = [
                what
                for what, needed in (
                    ("routes", len(self.routes) > 0),
                    ("CHILDSAFE_FILTER_JSON", filtering is True),
                    ("session_account", any(_needs_repository(r) for r in self.resolvers)),
                )
                if needed
            ]
            if needs:
                problems.append(
                    _problem(
                        "repository",
                        f"{', '.join(needs)} need an AccountRepository to load accounts",
                    )
                )
        if problems or guard is None or media is None:
            raise ConfigurationError(problems)
        if enabled is False:
            log.warning(
                "childsafe is DISABLED for Flask app %r (CHILDSAFE_ENABLED=False): declared "
                "actions are not checked and JSON responses are not filtered. Never run a "
                "service that children use like this.",
                app.name,
            )
        state = _AppState(self, guard, strict=strict is True, max_body=max_body, media=media)
        app.extensions[EXTENSION_KEY] = state
        if enabled is not False:
            inventory = routes(app)
            check_strict(inventory, strict=state.strict, where=f"Flask app {app.name!r}")
            if state.strict:
                media.check_inventory(
                    inventory, where=f"Flask app {app.name!r}", table=self.routes.rules()
                )
        app.before_request(self._before_request(app, state))
        if filtering:
            # Only then: Flask charges every request for each hook it has.
            app.after_request(self._after_request(app, state))
        app.context_processor(_template_context)

    def _guard(self, policy_config: object, problems: list[ConfigProblem]) -> Guard | None:
        if self.guard is not None:
            if policy_config is not None:
                problems.append(
                    ConfigProblem(
                        _SOURCE,
                        "CHILDSAFE_POLICY",
                        "set either ChildSafe(guard=...) or CHILDSAFE_POLICY, not both",
                    )
                )
            return self.guard
        if isinstance(policy_config, Policy):
            return Guard(policy_config)
        if policy_config is not None and not isinstance(policy_config, str | os.PathLike | Mapping):
            problems.append(
                ConfigProblem(
                    _SOURCE,
                    "CHILDSAFE_POLICY",
                    f"expected a path, a mapping or a Policy, got {type(policy_config).__name__}",
                )
            )
            return None
        try:
            return Guard(load_policy(policy_config))
        except ConfigurationError as e:
            problems.extend(e.problems)
            return None

    def filter_exempt(self, view: V) -> V:
        """Leave a view's JSON responses unfiltered (a view or an endpoint name): the
        same as Django's :func:`~childsafe.contrib.django.filter_exempt`.

        Use it for views that return only the requester's own data, or that filter
        themselves. Declared actions are still checked (and strict mode still asks
        each view to declare one or be :func:`childsafe.exempt`).

        >>> from childsafe import ResponseFilter
        >>> from childsafe.contrib.flask import ChildSafe
        >>> childsafe = ChildSafe(response_filter=ResponseFilter())
        >>> @childsafe.filter_exempt
        ... def me() -> dict[str, str]:
        ...     return {"id": "me"}

        .. versionadded:: 0.1.0
        """
        if isinstance(view, str):
            self._exempt_endpoints.add(view)
        else:
            self._exempt_views.add(view)
        return view

    def exempt(self, view: V) -> V:
        """The old name of :meth:`filter_exempt`, easily mistaken for
        :func:`childsafe.exempt` (which exempts a view from strict mode).

        .. deprecated:: 0.1.0 Use :meth:`filter_exempt`.
        """
        warnings.warn(
            "ChildSafe.exempt is deprecated: use ChildSafe.filter_exempt (it leaves JSON "
            "responses unfiltered); childsafe.exempt('why') exempts a view from strict mode",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.filter_exempt(view)

    @staticmethod
    def context() -> RequestContext:
        """The current request's :class:`~childsafe.RequestContext`
        (:func:`current_context`)."""
        return current_context()

    # -- hooks ------------------------------------------------------------------

    def _before_request(
        self, app: flask.Flask, state: _AppState
    ) -> Callable[[], flask.Response | None]:
        fast, request_var, app_var = _FAST_CONTEXT, _REQUEST_VAR, _APP_VAR
        # What the hook reads of `state` per request, fixed when it was built.
        guard, repository = state.guard, state.repository
        max_body, chain, view_rules = state.max_body, state.chain, state.view_rules

        def childsafe_before_request() -> flask.Response | None:
            req = request_var.get().request if fast else _current_request()
            # FlaskRequest(req, None, state.max_body), without FlaskRequest.__init__.
            request: FlaskRequest = _HotFlaskRequest()
            request.request = req
            request.params = _NO_PARAMS
            request.max_body = max_body
            context = chain.context(guard, request, repository)
            # What `g.childsafe = context` does, without `g.__setattr__`'s Python call.
            (app_var.get().g if fast else _current_g()).__dict__["childsafe"] = context
            if app.config.get("CHILDSAFE_ENABLED") is False:
                return None
            if not state.strict_checked:
                _check_late_routes(app, state)
            method = req.method
            if method == "OPTIONS" and getattr(req.url_rule, "provide_automatic_options", False):
                # Flask answers these itself; the view never runs.
                return None
            # What Flask dispatches to: its URL rule's endpoint (what `req.endpoint`
            # reads, without the property's call).
            url_rule = req.url_rule
            endpoint = url_rule.endpoint if url_rule is not None else None
            view = app.view_functions.get(endpoint) if endpoint is not None else None
            try:
                rules = view_rules[view][method]
            except (KeyError, TypeError):  # not seen yet, or an unhashable view
                rules = _view_rules(view, method, view_rules)
            view_args = req.view_args  # where FlaskRequest.path_param reads them
            for rule in rules:
                if rule.reads_media:
                    refused = _media(app, state, rule, request, context)
                    if refused is not None:
                        return refused
                    continue
                decision = context.check_rule(rule, request, view_args)
                if not decision.allowed:
                    return _deny(app, state, decision, request)
            if not state.has_routes:
                return None
            found = state.routes.find(method, req.path)
            if found is not None:
                table_rule, request.params = found
                if table_rule.reads_media:
                    return _media(app, state, table_rule, request, context)
                decision = context.check_rule(table_rule, request)
                if not decision.allowed:
                    return _deny(app, state, decision, request)
            return None

        return childsafe_before_request

    def _after_request(
        self, app: flask.Flask, state: _AppState
    ) -> Callable[[flask.Response], flask.Response]:
        def childsafe_after_request(response: flask.Response) -> flask.Response:
            if app.config.get("CHILDSAFE_ENABLED") is False:
                return response
            if not is_json_response(response.content_type):
                return response
            endpoint = flask.request.endpoint
            if endpoint is not None and (
                endpoint in self._exempt_endpoints
                or _member(app.view_functions.get(endpoint), self._exempt_views)
            ):
                return response
            # `send_file` responses are passed through by WSGI servers; read them here.
            response.direct_passthrough = False
            raw = response.get_data()
            outcome = filter_response(_context(state), state.response_filter, raw, response.headers)
            if isinstance(outcome, DenialResponse):
                return _native(app, outcome)
            body, headers = outcome
            if body is not raw:
                response.set_data(body)
            response.headers = Headers(headers)
            return response

        return childsafe_after_request


# The request object and `flask.g` themselves: every attribute read through the
# `flask.request` proxy costs a context-variable lookup, and setting one through the
# `flask.g` proxy twice that. Werkzeug gives each proxy its own `_get_current_object`.
_current_request: Final[Callable[[], flask.Request]] = flask.request._get_current_object  # type: ignore[attr-defined]  # noqa: SLF001
_current_g: Final[Callable[[], Any]] = flask.g._get_current_object  # noqa: SLF001

# The context variables behind those proxies, read directly in the hook (no Python call)
# where this Flask has them (3.0 and later); None where it does not.
_REQUEST_VAR: Final[Any] = getattr(flask.globals, "_cv_request", None)
_APP_VAR: Final[Any] = getattr(flask.globals, "_cv_app", None)
_FAST_CONTEXT: Final = _REQUEST_VAR is not None and _APP_VAR is not None


def _check_late_routes(app: flask.Flask, state: _AppState) -> None:
    """Strict mode before an app's first request: routes added after init_app
    (blueprints, app factories) are seen now."""
    where = f"Flask app {app.name!r}"
    inventory = routes(app)
    check_strict(inventory, strict=state.strict, where=where)
    if state.strict:
        state.media.check_inventory(inventory, where=where, table=state.routes.rules())
    state.strict_checked = True


def _deny(
    app: flask.Flask, state: _AppState, decision: Decision, request: Request
) -> flask.Response:
    # `abort(...)` in a renderer (HTTPException): Flask answers it; the view never runs.
    made = rendered(
        state.renderer,
        decision,
        request,
        passthrough=(HTTPException,),
        native=lambda made: _made_response(app, made),
    )
    if isinstance(made, DenialResponse):
        response = _native(app, made)
    else:  # what _made_response made of the renderer's answer
        response = cast("flask.Response", made)
    response.status_code = denial_status(response.status_code)
    return response


def _made_response(app: flask.Flask, made: object) -> flask.Response:
    """What a renderer returned (anything a Flask view may return) as a response, its
    headers checked; raises for what cannot be sent (``None``, a header with a CR or LF)."""
    response = app.make_response(cast("ResponseReturnValue", made))
    check_headers(response.headers.to_wsgi_list())
    return response


def _media(
    app: flask.Flask,
    state: _AppState,
    rule: ActionRule,
    request: FlaskRequest,
    context: RequestContext,
) -> flask.Response | None:
    """A media route: the body spooled, inspected and decided by the kernel, then
    replayed (``request.stream``, ``request.files`` and ``get_data()`` read it)."""
    req = request.request
    from childsafe.wsgi import media_request  # noqa: PLC0415 - only media routes need it

    outcome = media_request(state.media, rule, request, context, req.environ)
    if isinstance(outcome, DenialResponse):
        return _native(app, outcome)
    if isinstance(outcome, Decision):
        return _deny(app, state, outcome, request)
    # Werkzeug reads the body from wsgi.input (replaced) when first asked for it.
    for cached in ("stream", "input_stream", "content_length"):
        req.__dict__.pop(cached, None)

    @flask.after_this_request
    def close_spool(response: flask.Response) -> flask.Response:
        response.call_on_close(outcome.close)
        return response

    return None


def routes(app: flask.Flask) -> list[RouteInfo]:
    """Every route of ``app`` with its protection, one entry per URL rule and kind of
    protection (a ``MethodView`` whose ``POST`` is declared and ``GET`` is not gives
    two): what strict mode checks and ``childsafe routes`` prints.

    Protected are methods whose view (or ``MethodView`` handler) declares
    :func:`childsafe.action`, methods matching an entry of the extension's ``routes``,
    views marked :func:`childsafe.exempt`, and Flask's ``static`` endpoints. ``HEAD``
    follows ``GET``; automatic ``OPTIONS`` answers are Flask's own.

    .. versionadded:: 0.1.0
    """
    state = app.extensions.get(EXTENSION_KEY)
    table = state.routes if isinstance(state, _AppState) else None
    found: list[RouteInfo] = []
    for rule in app.url_map.iter_rules():
        endpoint = rule.endpoint
        view = app.view_functions.get(endpoint)
        automatic = getattr(rule, "provide_automatic_options", False)
        skip = {"HEAD", "OPTIONS"} if automatic else {"HEAD"}
        methods = sorted(set(rule.methods or ()) - skip) or ["GET"]
        static = (endpoint == "static" or endpoint.endswith(".static")) and _serves_static(view)
        params = frozenset(rule.arguments)  # its variables and its defaults' keys
        groups: dict[tuple[tuple[str, ...], str | None, tuple[str, ...]], list[str]] = {}
        for method in methods:
            actions, reason = route_protection(view, method, path=rule.rule, routes=table)
            if static and not actions and reason is None:
                reason = "Flask's static files"
            problems = param_problems(declared_rules(view, method), params)
            groups.setdefault((actions, reason, problems), []).append(method)
        found.extend(
            RouteInfo(tuple(group), rule.rule, endpoint, actions, reason, problems)
            for (actions, reason, problems), group in groups.items()
        )
    return found


def _serves_static(view: object) -> bool:
    """Whether ``view`` is the one Flask registers for a static folder: the app's
    (a function of ``flask.app`` calling ``send_static_file``) or a blueprint's
    (its bound ``send_static_file``). An app's own view named ``static`` is not, and
    gets no exemption from its name."""
    if getattr(view, "__name__", None) == "send_static_file":
        return getattr(view, "__self__", None) is not None
    code = getattr(view, "__code__", None)
    return getattr(view, "__module__", None) == "flask.app" and "send_static_file" in (
        getattr(code, "co_names", ()) or ()
    )


def _native(app: flask.Flask, response: DenialResponse) -> flask.Response:
    headers = wsgi_headers(response.headers)
    return app.response_class(response.body, status=response.status, headers=headers)


def _member(view: object, views: AbstractSet[object]) -> bool:
    """``view in views``; an unhashable view is in no set."""
    try:
        return view in views
    except TypeError:
        return False


_VIEW_RULES_CACHE_SIZE: Final = 4096


def _view_rules(
    view: object, method: str, known: dict[object, dict[str, tuple[ActionRule, ...]]]
) -> tuple[ActionRule, ...]:
    """The kernel's :func:`~childsafe.web.declared_rules` for ``view`` (a function or a
    ``MethodView``'s ``as_view()``), remembered in ``known`` (up to a bound: apps have a
    fixed set of views and methods)."""
    rules = declared_rules(view, method)
    with contextlib.suppress(TypeError):  # an unhashable view: looked up every time
        by_method = known.get(view)
        if by_method is not None:
            if len(by_method) < _VIEW_RULES_CACHE_SIZE:  # a bound on odd methods too
                by_method[method] = rules
        elif len(known) < _VIEW_RULES_CACHE_SIZE:
            known[view] = {method: rules}
    return rules


def _problem(key: str, message: str) -> ConfigProblem:
    return ConfigProblem("ChildSafe", key, message)


def _check_arguments(
    guard: object, resolvers: object, renderer: object, response_filter: object, routes: object
) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    if guard is not None and not isinstance(guard, Guard):
        problems.append(_problem("guard", f"expected a Guard, got {guard!r}"))
    if (
        isinstance(resolvers, str)
        or not isinstance(resolvers, Sequence)
        or not all(callable(r) for r in resolvers)
    ):
        problems.append(_problem("resolvers", "expected a sequence of callables"))
    if renderer is not None and not callable(renderer):
        problems.append(_problem("renderer", f"expected a callable, got {renderer!r}"))
    if response_filter is not None and not isinstance(response_filter, ResponseFilter):
        problems.append(
            _problem("response_filter", f"expected a ResponseFilter, got {response_filter!r}")
        )
    if routes is not None and not isinstance(routes, RouteTable):
        problems.append(_problem("routes", f"expected a RouteTable, got {routes!r}"))
    return problems


def _state() -> _AppState:
    state = flask.current_app.extensions.get(EXTENSION_KEY)
    if isinstance(state, _AppState):
        return state
    raise RuntimeError(
        "The current Flask app is not registered with a 'ChildSafe' instance. Did you "
        "forget to call 'init_app'?"
    )


def _context(state: _AppState) -> RequestContext:
    context = flask.g.get("childsafe")
    if isinstance(context, RequestContext):
        return context
    # An earlier before_request hook answered the request: resolve now.
    context = state.chain.context(state.guard, FlaskRequest(_current_request()), state.repository)
    flask.g.childsafe = context
    return context


def current_context() -> RequestContext:
    """The current request's :class:`~childsafe.RequestContext` (``flask.g.childsafe``).

    Call it in views to check actions the declarations do not cover::

        decision = current_context().check("profile.view", user_id)

    Raises :class:`RuntimeError` outside a request or when the app has no extension.
    """
    return _context(_state())


def current_guard() -> Guard:
    """The current app's :class:`~childsafe.Guard` (for ``change_setting``, a
    :class:`~childsafe.NotificationGate` ...)."""
    return _state().guard


def _template_context() -> dict[str, Any]:
    return {"childsafe": flask.g.get("childsafe")}


class _SessionAccount:
    __slots__ = ("__name__", "key", "repository")

    def __init__(self, key: str, repository: AccountRepository | None) -> None:
        self.key = key
        self.repository = repository
        self.__name__ = f"session_account({key!r})"

    def __call__(self, request: Request) -> Account | None:
        del request
        value = flask.session.get(self.key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise TypeError(f"session[{self.key!r}] holds a {type(value).__name__}, not an id")
        repository = self.repository if self.repository is not None else _state().repository
        if repository is None:
            raise LookupError("session_account needs an AccountRepository")
        return repository.get_account(str(value))


def _needs_repository(resolver: object) -> bool:
    return isinstance(resolver, _SessionAccount) and resolver.repository is None


def session_account(
    key: str = "account_id", *, repository: AccountRepository | None = None
) -> Resolver:
    """A resolver reading the signed-in account's id from ``flask.session[key]`` and
    loading it through ``repository`` (default: the extension's).

    No id in the session: ``None`` (the next resolver, or the protective anonymous
    account). An id that is not a string or an integer, or a repository that raises,
    fails closed.
    """
    return _SessionAccount(key, repository)


def report_view(desk: ComplaintsDesk) -> Callable[[], flask.Response]:
    """A view filing reports on ``desk`` (``POST`` a JSON report; see
    :func:`childsafe.complaints.report_response`), exempt from strict mode; the
    signed-in reporter comes from the extension's request context::

        app.add_url_rule("/reports", view_func=report_view(desk), methods=["POST"])

    .. versionadded:: 0.2.0
    """
    from childsafe.complaints import (  # noqa: PLC0415
        MAX_REPORT_BODY,
        REPORT_EXEMPTION,
        report_response,
    )

    @exempt(REPORT_EXEMPTION)
    def childsafe_report() -> flask.Response:
        request = _current_request()
        length = request.content_length
        body: bytes | None
        if length is None:
            # No Content-Length (chunked): read up to the limit from an input the server
            # ends, as the WSGI endpoint does; never wait on one it does not.
            terminated = request.environ.get("wsgi.input_terminated")
            body = request.stream.read(MAX_REPORT_BODY + 1) if terminated else b""
        else:
            body = request.get_data() if length <= MAX_REPORT_BODY else None
        context = flask.g.get("childsafe")
        response = report_response(
            desk,
            method=request.method,
            content_type=request.content_type,
            body=body,
            context=context if isinstance(context, RequestContext) else None,
        )
        return _native(flask.current_app, response)

    return childsafe_report
