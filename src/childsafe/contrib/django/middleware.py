"""The Django middleware: resolve the account, check declared actions, filter JSON.

Put it after ``AuthenticationMiddleware`` (and ``SessionMiddleware`` for
:func:`~childsafe.contrib.django.session_account`)::

    MIDDLEWARE = [
        ...,
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "childsafe.contrib.django.middleware.ChildsafeMiddleware",
    ]

It works under WSGI and ASGI. Under ASGI the resolvers, the repository and the
renderer (all synchronous, as ORM code is) run in Django's thread for sync code.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final

from asgiref.sync import (
    async_to_sync,
    iscoroutinefunction,
    markcoroutinefunction,
    sync_to_async,
)
from django.core.exceptions import (  # type: ignore[import-untyped]
    ImproperlyConfigured,
    PermissionDenied,
)
from django.http import Http404, HttpResponse  # type: ignore[import-untyped]
from django.http.response import HttpResponseBase  # type: ignore[import-untyped]

from childsafe._decision import Decision
from childsafe.contrib.django.conf import Config, load
from childsafe.contrib.django.decorators import is_filter_exempt
from childsafe.contrib.django.inventory import routes
from childsafe.contrib.django.request import NO_VIEW_PARAMS, DjangoRequest, _PerRequest
from childsafe.web import (
    ActionRule,
    DenialResponse,
    RequestContext,
    ResolverChain,
    declared_rules,
    denial_status,
    filter_response,
    is_json_response,
)
from childsafe.web.denials import check_headers, rendered, wsgi_headers
from childsafe.web.strict import check_strict

__all__ = ["ChildsafeMiddleware", "DjangoRenderer", "request_context"]

log = logging.getLogger(__name__)

DjangoRenderer = Callable[[Decision, Any], Any]
"""A denial renderer: ``(decision, request) -> HttpResponse | DenialResponse``, given
the Django ``HttpRequest``. It may raise ``PermissionDenied`` or ``Http404`` to answer
with the site's own error page."""

CONTEXT_ATTR: Final = "childsafe"
"""The ``HttpRequest`` attribute holding the :class:`~childsafe.RequestContext`."""
_EXEMPT_ATTR: Final = "_childsafe_filter_exempt"

# Problems the middleware does not raise for: E013 (not in MIDDLEWARE) is for checks only.
_RUNTIME_IGNORED: Final = frozenset({"E013"})

# How many (view, method) pairs a middleware remembers the declared rules of: more than
# any URLconf has views, and a bound on memory if views are made on the fly. Only the
# standard methods are remembered, so requests with made-up methods cannot fill it.
_RULES_CACHE_SIZE: Final = 4096
_CACHED_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"}
)


def request_context(request: Any) -> RequestContext:  # noqa: ANN401 - an HttpRequest
    """The :class:`~childsafe.RequestContext` of a Django request (``request.childsafe``),
    typed, for views::

        decision = request_context(request).check("profile.view", user_id)

    Raises :class:`RuntimeError` when the middleware did not handle the request.
    """
    context = getattr(request, CONTEXT_ATTR, None)
    if isinstance(context, RequestContext):
        return context
    raise RuntimeError(
        "This request has no childsafe context. Is "
        "'childsafe.contrib.django.middleware.ChildsafeMiddleware' in MIDDLEWARE?"
    )


def _made_response(made: object) -> Any:  # noqa: ANN401 - an HttpResponseBase
    """A renderer's own answer, if it is a Django response whose headers can be sent;
    raises otherwise (the denial is then the default problem response)."""
    if not isinstance(made, HttpResponseBase):
        kind = type(made).__name__
        raise TypeError(f"returned a {kind}, not an HttpResponse or a DenialResponse")
    check_headers(made.items())
    return made


def _http_response(denial: DenialResponse) -> Any:  # noqa: ANN401 - an HttpResponse
    response = HttpResponse(denial.body, status=denial.status)
    # Django under WSGI must not send hop-by-hop headers (under ASGI the server
    # decides about the connection anyway).
    for name, value in wsgi_headers(denial.headers):
        response[name] = value
    return response


def _join(response: Any) -> bytes:  # noqa: ANN401 - a StreamingHttpResponse
    """A streamed JSON body, whole (it must be read to be filtered, as in every adapter)."""
    if getattr(response, "is_async", False):
        return async_to_sync(_ajoin)(response)
    return b"".join(bytes(chunk) for chunk in response.streaming_content)


async def _ajoin(response: Any) -> bytes:  # noqa: ANN401 - a StreamingHttpResponse
    if not getattr(response, "is_async", False):
        return await sync_to_async(_join, thread_sensitive=True)(response)
    return b"".join([bytes(chunk) async for chunk in response.streaming_content])


def _held(response: Any, raw: bytes) -> Any:  # noqa: ANN401 - Http* in and out
    """A plain response with ``raw`` as the body and ``response``'s status, headers and
    cookies, in place of the stream it was read from."""
    held = HttpResponse(raw, status=response.status_code, reason=response.reason_phrase)
    for name, value in response.items():
        held[name] = value
    held.cookies = response.cookies
    response.close()
    return held


def _method(request: Any) -> str:  # noqa: ANN401 - an HttpRequest
    """The request's method, as :attr:`DjangoRequest.method` reads it."""
    return str(request.method or "GET").upper()


def _close_spool(request: Any) -> None:  # noqa: ANN401 - an HttpRequest
    """Close a media view's replayed body (its temporary files are already gone)."""
    spool = vars(request).pop("_childsafe_spool", None)
    if spool is not None:
        spool.close()


class ChildsafeMiddleware:
    """Enforces the ``CHILDSAFE`` settings (see :mod:`childsafe.contrib.django.conf`).

    1. On every request: finds the account with the resolvers (none: the protective
       anonymous account; one that raises: the same, logged) and stores the
       :class:`~childsafe.RequestContext` on ``request.childsafe``.
    2. Before the view: checks the actions declared on it with
       :func:`childsafe.action` and the matching ``ROUTES`` entry; a denial answers
       ``403 application/problem+json`` (or the ``RENDERER``'s response) and the view
       never runs.
    3. After the view: filters JSON responses with the ``RESPONSE_FILTER`` (not
       streaming responses, nor views marked
       :func:`~childsafe.contrib.django.filter_exempt`).

    The settings are loaded when the middleware is built, so a bad policy stops the
    server from starting (``ImproperlyConfigured``), as it fails ``manage.py check``.
    """

    # Slots: the attributes __call__ and process_view read on every request are then
    # read as slots (an instance dict's reads were left unspecialized by the
    # interpreter). ``__dict__`` stays, for markcoroutinefunction and subclasses.
    __slots__ = (
        "__dict__",
        "__weakref__",
        "_chain",
        "_checking",
        "_enabled",
        "_filter_views",
        "_filtering",
        "_find",
        "_guard",
        "_has_routes",
        "_max_body",
        "_ready",
        "_repository",
        "_spooling",
        "_strict_checked",
        "_view_rules",
        "config",
        "get_response",
        "is_async",
    )

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)
        loaded = load()
        errors = [p for p in loaded.errors if p.id not in _RUNTIME_IGNORED]
        if errors or loaded.config is None:
            listed = "\n".join(f"  - {p}" for p in errors)
            raise ImproperlyConfigured(f"childsafe: settings.CHILDSAFE is not valid:\n{listed}")
        self.config: Config = loaded.config
        self._chain = ResolverChain(self.config.resolvers, adapter="django")
        self._filtering = self.config.enabled and self.config.response_filter is not None
        # Whether process_view checks without more ado (enabled, no response filter).
        self._checking = self.config.enabled and self.config.response_filter is None
        # Worked out once: read on every request.
        self._enabled = self.config.enabled
        self._filter_views = self.config.response_filter is not None
        self._find = self.config.routes.find
        self._has_routes = len(self.config.routes) > 0
        self._repository = self.config.repository
        self._guard = self.config.guard
        self._max_body = self.config.max_body
        # view -> method -> its declared rules; views are declared when imported.
        self._view_rules: dict[object, dict[str, tuple[ActionRule, ...]]] = {}
        # Whether a media rule was ever checked: only then may a request hold a spool.
        self._spooling = False
        # Strict mode, checked here (system checks do not run under production servers)
        # and again before the first request, for URL patterns added since.
        self._strict_checked = not self.config.enabled
        self._check_strict()
        self._strict_checked = not self.config.enabled
        # Whether __call__ goes straight to the sync path (strict mode checked, not async).
        self._ready = self._strict_checked and not self.is_async
        if not self.config.enabled:
            log.warning(
                "childsafe is DISABLED (CHILDSAFE['ENABLED'] is False): declared actions are "
                "not checked and JSON responses are not filtered. Never run a service that "
                "children use like this."
            )

    # -- the request/response cycle ----------------------------------------------

    def __call__(self, request: Any) -> Any:  # noqa: ANN401 - HttpRequest -> HttpResponse
        if not self._ready:
            if self.is_async:
                return self.__acall__(request)
            self._check_strict()
            self._ready = True
        # _start(request), inline: this runs on every request.
        repository = self._repository
        guard = self._guard
        # DjangoRequest(request, repository, None, self._max_body), without __init__.
        wrapper = _PerRequest()
        wrapper.request = request
        wrapper.repository = repository
        wrapper.params = NO_VIEW_PARAMS
        wrapper.max_body = self._max_body
        context = self._chain.context(guard, wrapper, repository)
        request.childsafe = context  # CONTEXT_ATTR
        context._request = wrapper  # noqa: SLF001 - for process_view, cleared below
        get_response = self.get_response  # a slot: read as one, then called
        try:
            response = get_response(request)
            if self._filtering and self._needs_filter(request, response):
                if response.streaming:
                    response = _held(response, _join(response))
                return self._filter(request, response)
            return response
        finally:
            # The wrapper refers back to the request: kept past the response, that cycle
            # would leave every request (its META, body and session) to the garbage
            # collector instead of freeing it when Django lets go of it.
            context._request = None  # noqa: SLF001
            if self._spooling:  # a media rule was checked: this request may hold a spool
                _close_spool(request)

    async def __acall__(self, request: Any) -> Any:  # noqa: ANN401 - as __call__
        context = await sync_to_async(self._start, thread_sensitive=True)(request)
        try:
            response = await self.get_response(request)
            if self._filtering and self._needs_filter(request, response):
                if response.streaming:
                    response = _held(response, await _ajoin(response))
                return await sync_to_async(self._filter, thread_sensitive=True)(request, response)
            return response
        finally:
            context._request = None  # noqa: SLF001 - as in __call__
            _close_spool(request)

    def process_view(
        self,
        request: Any,  # noqa: ANN401 - an HttpRequest
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> Any:  # noqa: ANN401 - an HttpResponse or None
        """Check what the view is declared to do; a denial is the response."""
        del view_args  # unnamed groups: targets come from named ones
        if not self._checking:
            if not self._enabled:
                return None
            if is_filter_exempt(view_func):
                setattr(request, _EXEMPT_ATTR, True)
        try:
            rules = self._view_rules[view_func][request.method]
        except (KeyError, TypeError):  # not seen yet, an unhashable view, an odd method
            rules = self._rules_of(view_func, _method(request))
        if not rules and not self._has_routes:
            return None
        try:
            context = request.childsafe  # CONTEXT_ATTR, set by __call__
            wrapper = context._request  # noqa: SLF001
        except AttributeError:
            context = wrapper = None
        if type(wrapper) is not _PerRequest:  # only __call__ and _start make one
            # Called outside __call__ (a test driving process_view): resolve now.
            context = self._start(request)
            wrapper = context._request  # noqa: SLF001
            assert wrapper is not None  # set by _start
        if rules:
            wrapper.params = view_kwargs  # converted to text when read (path_param)
            for rule in rules:
                if rule.reads_media:
                    refused = self._media(rule, request, wrapper, context)
                    if refused is not None:
                        return refused
                    continue
                decision = context.check_rule(rule, wrapper, view_kwargs)
                if not decision.allowed:
                    return self._deny(decision, request)
        if self._has_routes:
            found = self._find(_method(request), wrapper.path)
            if found is not None:
                route, wrapper.params = found
                if route.reads_media:
                    return self._media(route, request, wrapper, context)
                decision = context.check_rule(route, wrapper)
                if not decision.allowed:
                    return self._deny(decision, request)
        return None

    def _media(
        self,
        rule: ActionRule,
        request: Any,  # noqa: ANN401 - an HttpRequest
        wrapper: DjangoRequest,
        context: RequestContext,
    ) -> Any:  # noqa: ANN401 - an HttpResponse or None
        """A media view: the body spooled, inspected and decided by the kernel, then
        replayed (``request.body``, ``request.FILES`` read it). The body must not have
        been read before (by a middleware reading ``request.POST``): it is then refused
        as incomplete, never passed unchecked."""
        from childsafe.wsgi import media_request  # noqa: PLC0415 - only media views need it

        meta = request.META
        stream = request._stream  # noqa: SLF001 - Django keeps the body's stream here
        # Under ASGI, Django has read the whole body (into a temporary file) before any
        # middleware runs: its stream ends with the body, declared length or not.
        whole = "wsgi.input" not in meta
        if not meta.get("CONTENT_LENGTH") and meta.get("wsgi.input_terminated"):
            # Django limits a body of unknown length to nothing; the server ends it.
            stream = meta.get("wsgi.input", stream)
        outcome = media_request(
            self.config.media, rule, wrapper, context, meta, stream, whole=whole
        )
        if isinstance(outcome, DenialResponse):
            return _http_response(outcome)
        if isinstance(outcome, Decision):
            return self._deny(outcome, request)
        self._spooling = True  # from now on __call__ closes what a request spooled
        replay = request.META.get("wsgi.input")
        request._stream = replay  # noqa: SLF001 - the view reads the replayed body
        request._read_started = False  # noqa: SLF001
        request.__dict__.pop("_body", None)
        request._childsafe_spool = outcome  # noqa: SLF001 - closed with the response
        return None

    # -- shared steps -------------------------------------------------------------

    def _rules_of(self, view_func: object, method: str) -> tuple[ActionRule, ...]:
        """The kernel's :func:`~childsafe.web.declared_rules`, remembered per view and
        standard method."""
        try:
            by_method = self._view_rules.get(view_func)
        except TypeError:  # an unhashable view
            return declared_rules(view_func, method)
        rules = declared_rules(view_func, method)
        if method in _CACHED_METHODS:
            if by_method is not None:
                by_method[method] = rules
            elif len(self._view_rules) < _RULES_CACHE_SIZE:
                self._view_rules[view_func] = {method: rules}
        return rules

    def _check_strict(self) -> None:
        """Refuse to serve while a URL pattern declares no action and is not exempt."""
        if self._strict_checked:
            return
        inventory = routes(table=self.config.routes, exempt=self.config.exempt)
        check_strict(inventory, strict=self.config.strict, where="settings.CHILDSAFE")
        if self.config.strict:
            self.config.media.check_inventory(
                inventory, where="settings.CHILDSAFE", table=self.config.routes.rules()
            )
        self._strict_checked = True

    def _start(self, request: Any) -> RequestContext:  # noqa: ANN401 - an HttpRequest
        """Resolve the account and keep the request's context on ``request.childsafe``,
        with the :class:`DjangoRequest` for process_view (cleared with the response)."""
        if not self._strict_checked:
            self._check_strict()
        repository = self._repository
        wrapper = _PerRequest()  # DjangoRequest(request, repository, None, self._max_body)
        wrapper.request = request
        wrapper.repository = repository
        wrapper.params = NO_VIEW_PARAMS
        wrapper.max_body = self._max_body
        context = self._chain.context(self._guard, wrapper, repository)
        context._request = wrapper  # noqa: SLF001
        request.childsafe = context  # CONTEXT_ATTR
        return context

    def _context(self, request: Any) -> RequestContext:  # noqa: ANN401 - an HttpRequest
        context = getattr(request, CONTEXT_ATTR, None)
        if not isinstance(context, RequestContext):
            # Called outside __call__ (a test driving process_view): resolve now.
            context = self._start(request)
        return context

    def _deny(self, decision: Decision, request: Any) -> Any:  # noqa: ANN401 - Http*
        # PermissionDenied and Http404 give the site's own error page; the view never runs.
        made = rendered(
            self.config.renderer,
            decision,
            request,
            passthrough=(PermissionDenied, Http404),
            native=_made_response,
        )
        # A DenialResponse, or what _made_response let through (an HttpResponseBase).
        response: Any = _http_response(made) if isinstance(made, DenialResponse) else made
        response.status_code = denial_status(response.status_code)
        return response

    def _needs_filter(self, request: Any, response: Any) -> bool:  # noqa: ANN401
        config = self.config
        return (
            config.enabled
            and config.response_filter is not None
            and not getattr(request, _EXEMPT_ATTR, False)
            and is_json_response(response.get("Content-Type"))
        )

    def _filter(self, request: Any, response: Any) -> Any:  # noqa: ANN401 - Http*
        response_filter = self.config.response_filter
        assert response_filter is not None  # checked by _needs_filter
        raw = bytes(response.content)
        if not raw:
            return response  # HEAD, 204, 304: nothing to filter
        headers = list(response.items())
        context = self._context(request)
        outcome = filter_response(context, response_filter, raw, headers)
        if isinstance(outcome, DenialResponse):
            return _http_response(outcome)
        body, new_headers = outcome
        if body is not raw:
            response.content = body
        wanted = {name.lower() for name, _ in new_headers}
        for name in [n for n, _ in headers if n.lower() not in wanted]:
            del response[name]
        for name, value in new_headers:
            response[name] = value
        return response
