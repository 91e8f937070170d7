"""The request kernel: every safety rule that more than one web adapter needs.

Nothing here imports a web framework. An adapter (``childsafe.wsgi``, ``childsafe.asgi``,
``childsafe.contrib.*``) wraps its framework's request in an object satisfying
:class:`childsafe.typing.Request`, and hands every decision to the kernel: finding a
route's declared rule, extracting its target (refusing ambiguity), running the check,
rendering a denial (never a success status), filtering JSON responses, and strict mode.
The adapter itself only translates requests and responses.

One concept a module:

* :mod:`childsafe.web.request` -- reading requests (headers, cookies, query, bodies);
* :mod:`childsafe.web.routes` -- declarations (:func:`action`, :class:`RouteTable`,
  extractors);
* :mod:`childsafe.web.resolvers` -- turning a request into an account;
* :mod:`childsafe.web.context` -- the per-request :class:`RequestContext`;
* :mod:`childsafe.web.denials` -- answering a refused request;
* :mod:`childsafe.web.filtering` -- removing what a viewer may not see from responses;
* :mod:`childsafe.web.notify` -- the quiet-hours gate for notifications;
* :mod:`childsafe.web.media` -- media routes: spooling, multipart, inspection, replay;
* :mod:`childsafe.web.options` -- checking an adapter's options.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from childsafe.web.context import ANONYMOUS_ID, RequestContext, Resolution
from childsafe.web.denials import (
    DENIED_STATUS,
    DenialResponse,
    change_problem_details,
    change_problem_response,
    denial_status,
    negotiate_locale,
    problem_details,
    problem_response,
    render_denial,
    unverifiable,
    withheld_response,
)
from childsafe.web.filtering import (
    ResponseFilter,
    decode_json_body,
    encode_filtered,
    filter_json,
    filter_json_async,
    filter_response,
    filter_response_async,
)
from childsafe.web.notify import NotificationGate
from childsafe.web.options import check_middleware_options, max_body_problems
from childsafe.web.request import (
    CONTEXT_KEY,
    ENVIRON_KEYS,
    environ_key,
    is_json,
    is_json_response,
    parse_cookie_header,
    parse_json_body,
    single_value,
)
from childsafe.web.resolvers import ResolverChain, bearer_token, resolve, resolve_async
from childsafe.web.routes import (
    ActionRule,
    RouteTable,
    action,
    action_rule,
    declared_rule,
    declared_rules,
    is_declared,
    json_field,
    path_param,
    query_param,
)
from childsafe.web.strict import RouteInfo, check_strict, exempt, exemption

__all__ = [
    "ANONYMOUS_ID",
    "CONTEXT_KEY",
    "DENIED_STATUS",
    "ENVIRON_KEYS",
    "ActionRule",
    "DenialResponse",
    "NotificationGate",
    "RequestContext",
    "Resolution",
    "ResolverChain",
    "ResponseFilter",
    "RouteInfo",
    "RouteTable",
    "action",
    "action_rule",
    "bearer_token",
    "change_problem_details",
    "change_problem_response",
    "check_middleware_options",
    "check_strict",
    "declared_rule",
    "declared_rules",
    "decode_json_body",
    "denial_status",
    "encode_filtered",
    "environ_key",
    "exempt",
    "exemption",
    "filter_json",
    "filter_json_async",
    "filter_response",
    "filter_response_async",
    "is_declared",
    "is_json",
    "is_json_response",
    "json_field",
    "max_body_problems",
    "negotiate_locale",
    "parse_cookie_header",
    "parse_json_body",
    "path_param",
    "problem_details",
    "problem_response",
    "query_param",
    "render_denial",
    "resolve",
    "resolve_async",
    "single_value",
    "unverifiable",
    "withheld_response",
]
