"""The Playground views on Django, protected by ``childsafe.contrib.django``.

The views are thin: the logic lives in :mod:`examples.common.views` (shared with the
Flask app) and the templates in ``examples/common/templates``, rendered by Django's
Jinja2 backend. What this module shows is the childsafe wiring:

* the middleware resolves the signed-in account from the session
  (``CHILDSAFE["RESOLVERS"]``) and stores the request context on ``request.childsafe``
  (read here with :func:`~childsafe.contrib.django.request_context`);
* ``@action("dm.send", target=path_param("user_id"))`` and friends on the views that
  reach another account: a denied request never gets to the view;
* ``CHILDSAFE["RESPONSE_FILTER"]`` on JSON responses: children's locations are removed
  and children dropped from friend suggestions for viewers who may not see them;
* :func:`render_denial` (``CHILDSAFE["RENDERER"]``): ``denied.html`` for browsers,
  ``application/problem+json`` for ``/api/`` and clients that ask for JSON;
* parental controls: accounts are loaded with their guardians, parent locks and
  verified consent grants; the Parent page changes settings with ``by="parent",
  guardian=...`` and signs and revokes consent grants;
* age tokens: ``Authorization: Bearer <token>`` from the local test issuer is checked
  by childsafe's ``TokenVerifier`` before the session (``CHILDSAFE["RESOLVERS"]``).

Django ships no type information, so requests and responses are ``Any`` here.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied  # type: ignore[import-untyped]
from django.http import (  # type: ignore[import-untyped]
    Http404,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import render  # type: ignore[import-untyped]

from childsafe import (
    Account,
    Decision,
    DenialResponse,
    RequestContext,
    action,
    exempt,
    path_param,
    problem_response,
)
from childsafe.contrib.django import request_context
from examples.common import views
from examples.common.playground import AGE_TOKEN, SESSION_AGE_TOKEN
from examples.django_app.playground.store import SESSION_KEY, get_db, get_playground

View = Callable[..., Any]


# -- helpers ---------------------------------------------------------------------


def _signed_in(request: Any) -> RequestContext | None:  # noqa: ANN401 - an HttpRequest
    """The request context when someone is signed in (an existing account, from the
    session or a valid age token)."""
    context = request_context(request)
    if context.resolution.source == AGE_TOKEN:
        return context
    account_id = request.session.get(SESSION_KEY)
    return context if account_id is not None and context.account.id == account_id else None


def _me(request: Any) -> RequestContext:  # noqa: ANN401 - an HttpRequest
    context = _signed_in(request)
    if context is None:
        raise PermissionDenied
    return context


def _wants_json(request: Any) -> bool:  # noqa: ANN401 - an HttpRequest
    if str(request.path_info).startswith("/api/"):
        return True
    return bool(request.accepts("application/json") and not request.accepts("text/html"))


def signed_in(view: View) -> View:
    """Send signed-out browsers to the sign-in page; API clients get ``401``."""

    @functools.wraps(view)
    def wrapper(request: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        if _signed_in(request) is None:
            if _wants_json(request):
                body = {"error": "sign in first"}
                error = request_context(request).resolution.error
                if error is not None:  # a refused age token: say why
                    body["reason"] = error
                return JsonResponse(body, status=401)
            return _back("/login")
        return view(request, *args, **kwargs)

    return wrapper


def _page(request: Any, page: views.Page | None, status: int = 200) -> Any:  # noqa: ANN401
    if page is None:
        raise Http404
    template, context = page
    return render(request, template, context, status=status)


def _back(path: str) -> Any:  # noqa: ANN401 - an HttpResponseRedirect
    return HttpResponseRedirect(path, status=303)


def _json_body(request: Any) -> dict[str, Any]:  # noqa: ANN401 - an HttpRequest
    """The JSON object in the body, or ``{}``. Only ``application/json`` is read: an
    HTML form on another site cannot send it (which is why the API is exempt from
    Django's CSRF tokens)."""
    if request.content_type != "application/json":
        return {}
    try:
        payload = json.loads(request.body)
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def render_denial(decision: Decision, request: Any) -> Any:  # noqa: ANN401 - Http*
    """problem+json for the API and JSON clients; the ``denied.html`` page for
    browsers (or the sign-in page when signed out). This is ``CHILDSAFE["RENDERER"]``."""
    if _wants_json(request):
        return problem_response(decision)
    if _signed_in(request) is None:
        return _back("/login")
    page = views.denied_page(
        get_db(), request_context(request), decision, request.headers.get("Accept-Language")
    )
    return _page(request, page, status=403)


# -- error pages -----------------------------------------------------------------


def _error(request: Any, status: int, text: str | None = None) -> Any:  # noqa: ANN401
    """The styled page for ``status`` (JSON for the API); a 500 answers without
    reading the session, which may be what failed."""
    if _wants_json(request):
        return JsonResponse({"error": views.ERRORS[status][0]}, status=status)
    context = None
    if status != 500 and getattr(request, "childsafe", None) is not None:
        context = _signed_in(request)
    template, values = views.error_page(get_db(), context, status, text)
    return render(request, template, values, status=status)


def bad_request(request: Any, exception: object = None) -> Any:  # noqa: ANN401, ARG001
    """``handler400``."""
    return _error(request, 400)


def forbidden(request: Any, exception: object = None, reason: str = "") -> Any:  # noqa: ANN401, ARG001
    """``handler403``, and ``CSRF_FAILURE_VIEW`` (a form without its token: Django
    gives the ``reason``)."""
    return _error(request, 403, views.STALE_FORM if reason else None)


def not_found(request: Any, exception: object = None) -> Any:  # noqa: ANN401, ARG001
    """``handler404``."""
    return _error(request, 404)


def server_error(request: Any) -> Any:  # noqa: ANN401
    """``handler500``."""
    return _error(request, 500)


def methods(*allowed: str) -> Callable[[View], View]:
    """Accept only ``allowed`` methods (Django's ``require_http_methods``, with the
    styled 405 page and its ``Allow`` header)."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
            if request.method not in allowed:
                response = _error(request, 405)
                response["Allow"] = ", ".join(allowed)
                return response
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


# -- signing in ------------------------------------------------------------------


@exempt("sign-in page: shows no other account's data")
def login(request: Any) -> Any:  # noqa: ANN401 - HttpRequest -> HttpResponse
    guard = request_context(request).guard
    if request.method == "GET":
        return _page(request, views.login_page(get_db(), guard))
    account_id = request.POST.get("account", "")
    if get_db().person(account_id) is None:
        return _page(request, views.login_page(get_db(), guard, unknown=account_id), status=400)
    request.session.flush()
    request.session[SESSION_KEY] = account_id
    return _back("/")


@exempt("signs up: shows no other account's data")
def sign_up(request: Any) -> Any:  # noqa: ANN401 - HttpRequest -> HttpResponse
    body, status = views.sign_up(get_db(), request_context(request).guard, _json_body(request))
    return JsonResponse(body, status=status)


@exempt("signs out")
def logout(request: Any) -> Any:  # noqa: ANN401 - HttpRequest -> HttpResponse
    request.session.flush()
    return _back("/login")


# -- pages -----------------------------------------------------------------------


@exempt("the signed-in account's own page")
@signed_in
def home(request: Any) -> Any:  # noqa: ANN401 - HttpRequest -> HttpResponse
    return _page(request, views.home_page(get_db(), _me(request)))


@exempt("checks profile.view itself, to show a private profile's limited page")
@signed_in
def profile(request: Any, user_id: str) -> Any:  # noqa: ANN401
    return _page(request, views.profile_page(get_db(), _me(request), user_id))


@exempt("the account's own suggestions, each checked with friend.suggest")
@signed_in
def suggestions(request: Any) -> Any:  # noqa: ANN401
    return _page(request, views.suggestions_page(get_db(), _me(request)))


@exempt("the account's own friend requests")
@signed_in
def requests(request: Any) -> Any:  # noqa: ANN401
    return _page(request, views.requests_page(get_db(), _me(request)))


@action("friend.request", target=path_param("user_id"))
@signed_in
def friend_request(request: Any, user_id: str) -> Any:  # noqa: ANN401
    get_db().request_friend(_me(request).account.id, user_id)
    if _wants_json(request):
        return JsonResponse({"requested": user_id}, status=201)
    return _back(f"/users/{user_id}")


@exempt("accepts a request to the account itself, checked when it was sent")
@signed_in
def accept_request(request: Any, request_id: int) -> Any:  # noqa: ANN401
    if not get_db().accept_request(request_id, _me(request).account.id):
        raise Http404
    return _back("/requests")


@exempt("the account's own inbox")
@signed_in
def messages(request: Any) -> Any:  # noqa: ANN401
    sent = request.GET.get("sent")
    person = get_db().person(sent) if sent else None
    notice = f"Message sent to {person.name}." if person is not None else None
    return _page(request, views.messages_page(get_db(), _me(request), notice))


@action("dm.send", target=path_param("user_id"))
@signed_in
def send_message(request: Any, user_id: str) -> Any:  # noqa: ANN401
    text = request.POST.get("text", "").strip()
    if not text:
        return _back(f"/users/{user_id}")
    get_db().send_message(_me(request).account.id, user_id, text)
    return _back(f"/messages?sent={user_id}")


@exempt("the account's own location, kept under its location_sharing setting")
@signed_in
def check_in(request: Any) -> Any:  # noqa: ANN401
    place = request.POST.get("place", "").strip()
    if place:
        get_db().check_in(_me(request).account.id, place)
    return _back("/")


@exempt("the account's own settings, changed through Guard.change_setting")
@signed_in
def settings(request: Any) -> Any:  # noqa: ANN401
    me = _me(request)
    if request.method == "GET":
        result = request.session.pop("result", None)
        return _page(request, views.settings_page(get_db(), me, result))
    request.session["result"] = views.change_setting(
        get_db(),
        me.guard,
        me.account,
        request.POST.get("setting", ""),
        request.POST.get("value", ""),
        by="self",
        confirmed=request.POST.get("confirmed") == "1",
    )
    return _back("/settings")


@exempt("a parent's own children")
@signed_in
def parent(request: Any) -> Any:  # noqa: ANN401
    result = request.session.pop("result", None)
    return _page(request, views.parent_page(get_playground(), _me(request), result))


def _my_child(request: Any, child_id: str) -> Account:  # noqa: ANN401 - an HttpRequest
    """The linked child's account (403 for anyone else's)."""
    child = get_playground().account(child_id)
    if child is None or child_id not in get_db().children_of(_me(request).account.id):
        raise PermissionDenied
    return child


@exempt("a parent's change, checked by Guard.change_setting as their guardian")
@signed_in
def parent_settings(request: Any, child_id: str) -> Any:  # noqa: ANN401
    me = _me(request)
    request.session["result"] = views.change_setting(
        get_db(),
        me.guard,
        _my_child(request, child_id),
        request.POST.get("setting", ""),
        request.POST.get("value", ""),
        by="parent",
        confirmed=True,
        guardian=me.account.id,
        lock=request.POST.get("lock", "1") != "0",
    )
    return _back("/parent")


@exempt("a parent's consent grant, checked as their guardian")
@signed_in
def parent_grant(request: Any, child_id: str) -> Any:  # noqa: ANN401
    me = _me(request)
    _my_child(request, child_id)
    request.session["result"] = get_playground().grant(
        me.guard, me.account.id, child_id, request.POST.get("scope", "")
    )
    return _back("/parent")


@exempt("a parent's consent revocation, checked as their guardian")
@signed_in
def parent_revoke(request: Any, child_id: str, grant_id: str) -> Any:  # noqa: ANN401
    _my_child(request, child_id)
    request.session["result"] = get_playground().revoke(_me(request).account.id, child_id, grant_id)
    return _back("/parent")


# -- age tokens ------------------------------------------------------------------


@exempt("age assurance for the signed-in account")
@signed_in
def age(request: Any) -> Any:  # noqa: ANN401
    if request.method == "POST":
        request.session[SESSION_AGE_TOKEN] = request.POST.get("token", "").strip()
        return _back("/age")
    token = request.session.get(SESSION_AGE_TOKEN)
    return _page(request, views.age_page(get_playground(), _me(request), token))


@exempt("age assurance for the signed-in account")
@signed_in
def age_forget(request: Any) -> Any:  # noqa: ANN401
    request.session.pop(SESSION_AGE_TOKEN, None)
    return _back("/age")


@exempt("the signed-in account itself")
def me_json(request: Any) -> Any:  # noqa: ANN401
    """Who this request is to childsafe (works signed out, and with a refused token)."""
    body = views.me_json(
        get_playground(), request_context(request), request.headers.get("authorization")
    )
    return JsonResponse(body)


@exempt("the local test issuer's public keys")
def jwks(request: Any) -> Any:  # noqa: ANN401
    """The public keys of the local test age-token issuer."""
    del request
    return JsonResponse(get_playground().age_issuer.jwks())


# -- JSON API --------------------------------------------------------------------


@action("profile.view", target=path_param("user_id"))
@signed_in
def profile_json(request: Any, user_id: str) -> Any:  # noqa: ANN401
    body = views.profile_json(get_db(), _me(request), user_id)
    if body is None:
        raise Http404
    return JsonResponse(body)  # childsafe removes `location` if the viewer may not see it


@exempt("the account's own suggestions, each checked with friend.suggest")
@signed_in
def suggestions_json(request: Any) -> Any:  # noqa: ANN401
    # childsafe drops the children this viewer may not be shown.
    return JsonResponse(views.suggestions_json(get_db(), _me(request)))


@exempt("the account's own inbox")
@signed_in
def messages_json(request: Any) -> Any:  # noqa: ANN401
    return JsonResponse({"messages": get_db().inbox(_me(request).account.id)})


@action("dm.send", target=path_param("user_id"))
@signed_in
def send_message_json(request: Any, user_id: str) -> Any:  # noqa: ANN401
    text = _json_body(request).get("text")
    if not isinstance(text, str) or not text.strip():
        return JsonResponse({"error": 'expected a JSON object {"text": "..."}'}, status=400)
    message_id = get_db().send_message(_me(request).account.id, user_id, text.strip())
    return JsonResponse({"id": message_id}, status=201)


@exempt("changes the account's own settings through Guard.change_setting")
@signed_in
def change_setting_json(request: Any) -> Any:  # noqa: ANN401 - HttpRequest -> HttpResponse
    me = _me(request)
    answer = views.change_setting_json(
        get_db(),
        me.guard,
        me.account,
        _json_body(request),
        request.headers.get("Accept-Language"),
    )
    if isinstance(answer, DenialResponse):
        # A refused change: childsafe's problem+json, in the child's words.
        return HttpResponse(answer.body, status=answer.status, headers=dict(answer.headers))
    payload, status = answer
    return JsonResponse(payload, status=status)


@exempt("the account's own location, kept under its location_sharing setting")
@signed_in
def check_in_json(request: Any) -> Any:  # noqa: ANN401
    place = _json_body(request).get("place")
    if not isinstance(place, str) or not place.strip():
        return JsonResponse({"error": 'expected a JSON object {"place": "..."}'}, status=400)
    get_db().check_in(_me(request).account.id, place.strip())
    return JsonResponse({"place": place.strip()})
