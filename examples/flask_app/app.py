"""The Playground social app on Flask, protected by ``childsafe.contrib.flask``.

The views are thin: the logic lives in :mod:`examples.common.views` (shared with the
Django app) and the templates in ``examples/common/templates``. What this module shows
is the childsafe wiring:

* ``ChildSafe(app, resolvers=[..., session_account()], repository=..., ...)``: the
  signed-in account comes from the Flask session; no session means the protective
  anonymous account;
* ``@action("dm.send", target=path_param("user_id"))`` and friends on the routes that
  reach another account: a denied request never gets to the view;
* a ``ResponseFilter`` on JSON responses: children's locations are removed and children
  dropped from friend suggestions for viewers who may not see them;
* a denial renderer: ``denied.html`` for browsers, ``application/problem+json`` for
  ``/api/`` and clients that ask for JSON;
* parental controls: accounts are loaded with their guardians, parent locks and
  verified consent grants (:class:`~examples.common.playground.Playground`); the Parent
  page changes settings with ``by="parent", guardian=...`` and signs and revokes
  consent grants;
* age tokens: ``Authorization: Bearer <token>`` from the local test issuer
  (:mod:`examples.common.age_issuer`) is checked by childsafe's ``TokenVerifier``
  before the session is looked at; ``/.well-known/jwks.json`` publishes its keys.
"""

from __future__ import annotations

import functools
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
)
from flask.typing import ResponseReturnValue
from markupsafe import Markup
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from childsafe import (
    Account,
    Decision,
    DenialResponse,
    Request,
    RequestContext,
    ResponseFilter,
    action,
    exempt,
    path_param,
    problem_response,
)
from childsafe.contrib.flask import ChildSafe, current_context, current_guard, session_account
from childsafe.signals import SQLiteSignalStore
from examples.common import photos, views
from examples.common.playground import (
    AGE_TOKEN,
    SESSION_AGE_TOKEN,
    AgeTokenResolver,
    Playground,
    SessionAgeResolver,
    default_data_dir,
)
from examples.common.socialdb import SocialDB

__all__ = ["create_app"]

TEMPLATES = Path(__file__).resolve().parent.parent / "common" / "templates"
SESSION_KEY = "account_id"
_DB_KEY = "playground.db"
_PLAYGROUND_KEY = "playground"

P = ParamSpec("P")

bp = Blueprint("playground", __name__)


def create_app(
    db_path: str | Path | None = None,
    secret_key: str | None = None,
    data_dir: str | Path | None = None,
    store: str | None = None,
) -> Flask:
    """The Playground app over the SQLite file ``db_path`` (seeded if empty).

    ``db_path=None`` uses a fresh file in a new temporary directory. ``secret_key``
    signs the session cookie; by default it is ``$PLAYGROUND_SECRET_KEY`` or a random
    key (fine for one process; give every worker the same key otherwise). ``data_dir``
    holds the consent-grant secret, the revocation list and the test age issuer's key
    pair (default: ``<db name>-data`` next to the database), and the audit trail's
    keys and signed checkpoints. ``store`` is where the complaints desk and the audit
    trail keep their records (``postgresql://...``; default: the SQLite file).
    """
    app = Flask(__name__, template_folder=str(TEMPLATES))
    app.config.update(
        PLAYGROUND_STORE=store,
        SECRET_KEY=secret_key or os.environ.get("PLAYGROUND_SECRET_KEY") or secrets.token_hex(32),
        # Browsers do not send the session cookie on cross-site POSTs: the demo's CSRF
        # defence. A production app adds a CSRF token (Flask-WTF's CSRFProtect).
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
    )
    if db_path is None:
        db_path = Path(tempfile.mkdtemp(prefix="childsafe-playground-")) / "playground.sqlite3"
    db = SocialDB(db_path)
    if db.is_empty():
        db.seed()
    app.extensions[_DB_KEY] = db
    playground = Playground(db, data_dir or default_data_dir(db_path))
    app.extensions[_PLAYGROUND_KEY] = playground
    repository = playground.repository()
    # Photo messages: the demo hash list and classifier, and the evidence vault (its
    # audit trail and desk are attached by install_reports below).
    screen, vault = photos.open_media(Path(playground.data_dir) / "media", None, None)

    ChildSafe(
        app,
        # An age token (API clients) first, then the signed-in session.
        # The signed-in session has the band of the age token that the "Verify my
        # age" page kept in it.
        resolvers=[
            AgeTokenResolver(playground),
            SessionAgeResolver(
                session_account(SESSION_KEY, repository=repository),
                playground,
                lambda _: session.get(SESSION_AGE_TOKEN),
            ),
        ],
        repository=repository,
        renderer=render_denial,
        response_filter=ResponseFilter(),
        media_inspector=screen,
        evidence_preserver=vault,
    )
    app.register_blueprint(bp)
    from examples.flask_app.photos import install_photos  # noqa: PLC0415 - imports this module
    from examples.flask_app.reports import AUDIT_KEY, DESK_KEY, install_reports  # noqa: PLC0415

    install_reports(app)
    vault.trail = app.extensions[AUDIT_KEY]
    vault.desk = app.extensions[DESK_KEY]
    install_photos(app, screen, photos.PhotoStore(db_path))

    for status in views.ERRORS:
        app.register_error_handler(status, _error_page)

    @app.context_processor
    def csrf_input() -> dict[str, Any]:
        # The shared templates print `{{ csrf_input }}` (Django fills it in); the Flask
        # app relies on SameSite cookies instead, so it is empty here.
        return {"csrf_input": Markup("")}

    return app


# -- helpers ---------------------------------------------------------------------


def close_app(app: Flask) -> None:
    """Close what :func:`create_app` opened: commit the audit trail's queue and sign a
    last checkpoint, close the desk's and the signals' SQLite connections and stop the
    media classifier's worker threads. Call it when the app stops (the demo's
    ``__main__`` does; tests that make many apps do, so none holds files open)."""
    from examples.flask_app.photos import SCREEN_KEY  # noqa: PLC0415 - imports this module
    from examples.flask_app.reports import AUDIT_KEY, DESK_KEY, SIGNALS_KEY  # noqa: PLC0415

    extensions = app.extensions
    extensions[AUDIT_KEY].close()
    extensions[DESK_KEY].store.close()
    store = extensions[SIGNALS_KEY].store
    if isinstance(store, SQLiteSignalStore):
        store.close()
    extensions[SCREEN_KEY].close()


def _db() -> SocialDB:
    db = current_app.extensions[_DB_KEY]
    assert isinstance(db, SocialDB)
    return db


def _playground() -> Playground:
    playground = current_app.extensions[_PLAYGROUND_KEY]
    assert isinstance(playground, Playground)
    return playground


def _signed_in() -> RequestContext | None:
    """The request context when someone is signed in (an existing account, from the
    session or a valid age token)."""
    context = current_context()
    if context.resolution.source == AGE_TOKEN:
        return context
    account_id = session.get(SESSION_KEY)
    return context if account_id is not None and context.account.id == account_id else None


def _me() -> RequestContext:
    context = _signed_in()
    if context is None:
        abort(401)
    return context


def _wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def signed_in(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
    """Send signed-out browsers to the sign-in page; API clients get ``401``."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        if _signed_in() is None:
            if _wants_json():
                body = {"error": "sign in first"}
                error = current_context().resolution.error
                if error is not None:  # a refused age token: say why
                    body["reason"] = error
                return body, 401
            return redirect("/login", 303)
        return view(*args, **kwargs)

    return wrapper


def _page(page: views.Page | None) -> str:
    if page is None:
        abort(404)
    template, context = page
    return render_template(template, **context)


def render_denial(decision: Decision, request_: Request) -> DenialResponse | ResponseReturnValue:
    """problem+json for the API and JSON clients; the ``denied.html`` page for
    browsers (or the sign-in page when signed out)."""
    if _wants_json():
        return problem_response(decision, request_)
    if _signed_in() is None:
        return redirect("/login", 303)
    template, context = views.denied_page(
        _db(), current_context(), decision, request.headers.get("Accept-Language")
    )
    return render_template(template, **context), 403


def _error_page(error: Exception) -> ResponseReturnValue:
    """The styled page for 400, 403, 404, 405 and 500 (JSON for the API); a 500
    answers without reading the session, which may be what failed."""
    status = error.code if isinstance(error, HTTPException) and error.code else 500
    if _wants_json():
        return {"error": views.ERRORS.get(status, views.ERRORS[500])[0]}, status
    context = _signed_in() if status != 500 else None
    template, values = views.error_page(_db(), context, status)
    return render_template(template, **values), status


def _back(path: str) -> BaseResponse:
    return redirect(path, 303)


# -- signing in ------------------------------------------------------------------


@bp.get("/login")
@exempt("sign-in page: shows no account's data")
def login() -> str:
    return _page(views.login_page(_db(), current_guard()))


@bp.post("/login")
@exempt("signs in: shows no other account's data")
def login_post() -> ResponseReturnValue:
    account_id = request.form.get("account", "")
    if _db().person(account_id) is None:
        return _page(views.login_page(_db(), current_guard(), unknown=account_id)), 400
    session.clear()
    session[SESSION_KEY] = account_id
    return _back("/")


@bp.post("/api/signup")
@exempt("signs up: shows no other account's data")
def sign_up() -> ResponseReturnValue:
    return views.sign_up(_db(), current_guard(), request.get_json(silent=True))


@bp.post("/logout")
@exempt("signs out")
def logout() -> BaseResponse:
    session.clear()
    return _back("/login")


# -- pages -----------------------------------------------------------------------


@bp.get("/")
@exempt("the signed-in account's own page")
@signed_in
def home() -> str:
    return _page(views.home_page(_db(), _me()))


@bp.get("/users/<user_id>")
@exempt("checks profile.view itself, to show a private profile's limited page")
@signed_in
def profile(user_id: str) -> str:
    return _page(views.profile_page(_db(), _me(), user_id))


@bp.get("/suggestions")
@exempt("the account's own suggestions, each checked with friend.suggest")
@signed_in
def suggestions() -> str:
    return _page(views.suggestions_page(_db(), _me()))


@bp.get("/requests")
@exempt("the account's own friend requests")
@signed_in
def requests() -> str:
    return _page(views.requests_page(_db(), _me()))


@bp.post("/users/<user_id>/friend-request")
@action("friend.request", target=path_param("user_id"))
@signed_in
def friend_request(user_id: str) -> ResponseReturnValue:
    _db().request_friend(_me().account.id, user_id)
    if _wants_json():
        return {"requested": user_id}, 201
    return _back(f"/users/{user_id}")


@bp.post("/requests/<int:request_id>/accept")
@exempt("accepts a request to the account itself, checked when it was sent")
@signed_in
def accept_request(request_id: int) -> BaseResponse:
    if not _db().accept_request(request_id, _me().account.id):
        abort(404)
    return _back("/requests")


@bp.get("/messages")
@exempt("the account's own inbox")
@signed_in
def messages() -> str:
    sent = request.args.get("sent")
    person = _db().person(sent) if sent else None
    notice = f"Message sent to {person.name}." if person is not None else None
    return _page(views.messages_page(_db(), _me(), notice))


@bp.post("/messages/<user_id>")
@action("dm.send", target=path_param("user_id"))
@signed_in
def send_message(user_id: str) -> BaseResponse:
    text = request.form.get("text", "").strip()
    if not text:
        return _back(f"/users/{user_id}")
    _db().send_message(_me().account.id, user_id, text)
    return _back(f"/messages?sent={user_id}")


@bp.post("/location")
@exempt("the account's own location, kept under its location_sharing setting")
@signed_in
def check_in() -> BaseResponse:
    place = request.form.get("place", "").strip()
    if place:
        _db().check_in(_me().account.id, place)
    return _back("/")


@bp.get("/settings")
@exempt("the account's own settings")
@signed_in
def settings() -> str:
    return _page(views.settings_page(_db(), _me(), session.pop("result", None)))


@bp.post("/settings")
@exempt("changes the account's own settings through Guard.change_setting")
@signed_in
def settings_post() -> BaseResponse:
    me = _me()
    session["result"] = views.change_setting(
        _db(),
        me.guard,
        me.account,
        request.form.get("setting", ""),
        request.form.get("value", ""),
        by="self",
        confirmed=request.form.get("confirmed") == "1",
    )
    return _back("/settings")


@bp.get("/parent")
@exempt("a parent's own children")
@signed_in
def parent() -> str:
    return _page(views.parent_page(_playground(), _me(), session.pop("result", None)))


def _my_child(child_id: str) -> Account:
    """The linked child's account (403 for anyone else's)."""
    child = _playground().account(child_id)
    if child is None or child_id not in _db().children_of(_me().account.id):
        abort(403)
    return child


@bp.post("/parent/<child_id>/settings")
@exempt("a parent's change, checked by Guard.change_setting as their guardian")
@signed_in
def parent_settings(child_id: str) -> BaseResponse:
    me = _me()
    session["result"] = views.change_setting(
        _db(),
        me.guard,
        _my_child(child_id),
        request.form.get("setting", ""),
        request.form.get("value", ""),
        by="parent",
        confirmed=True,
        guardian=me.account.id,
        lock=request.form.get("lock", "1") != "0",
    )
    return _back("/parent")


@bp.post("/parent/<child_id>/consents")
@exempt("a parent's consent grant, checked as their guardian")
@signed_in
def parent_grant(child_id: str) -> BaseResponse:
    me = _me()
    _my_child(child_id)
    session["result"] = _playground().grant(
        me.guard, me.account.id, child_id, request.form.get("scope", "")
    )
    return _back("/parent")


@bp.post("/parent/<child_id>/consents/<grant_id>/revoke")
@exempt("a parent's consent revocation, checked as their guardian")
@signed_in
def parent_revoke(child_id: str, grant_id: str) -> BaseResponse:
    _my_child(child_id)
    session["result"] = _playground().revoke(_me().account.id, child_id, grant_id)
    return _back("/parent")


# -- age tokens ------------------------------------------------------------------


@bp.get("/age")
@exempt("age assurance for the signed-in account")
@signed_in
def age() -> str:
    return _page(views.age_page(_playground(), _me(), session.get(SESSION_AGE_TOKEN)))


@bp.post("/age")
@exempt("age assurance for the signed-in account")
@signed_in
def age_post() -> BaseResponse:
    session[SESSION_AGE_TOKEN] = request.form.get("token", "").strip()
    return _back("/age")


@bp.post("/age/forget")
@exempt("age assurance for the signed-in account")
@signed_in
def age_forget() -> BaseResponse:
    session.pop(SESSION_AGE_TOKEN, None)
    return _back("/age")


@bp.get("/api/me")
@exempt("the signed-in account itself")
def me_json() -> dict[str, Any]:
    """Who this request is to childsafe (works signed out, and with a refused token)."""
    return views.me_json(_playground(), current_context(), request.headers.get("authorization"))


@bp.get("/.well-known/jwks.json")
@exempt("the local test issuer's public keys")
def jwks() -> dict[str, Any]:
    """The public keys of the local test age-token issuer."""
    return _playground().age_issuer.jwks()


# -- JSON API --------------------------------------------------------------------


@bp.get("/api/users/<user_id>")
@action("profile.view", target=path_param("user_id"))
@signed_in
def profile_json(user_id: str) -> dict[str, Any]:
    body = views.profile_json(_db(), _me(), user_id)
    if body is None:
        abort(404)
    return body  # childsafe removes `location` if the viewer may not see it


@bp.get("/api/suggestions")
@exempt("the account's own suggestions, each checked with friend.suggest")
@signed_in
def suggestions_json() -> dict[str, Any]:
    return views.suggestions_json(_db(), _me())  # childsafe drops children for others


@bp.get("/api/messages")
@exempt("the account's own inbox")
@signed_in
def messages_json() -> dict[str, Any]:
    return {"messages": _db().inbox(_me().account.id)}


@bp.post("/api/messages/<user_id>")
@action("dm.send", target=path_param("user_id"))
@signed_in
def send_message_json(user_id: str) -> ResponseReturnValue:
    payload = request.get_json(silent=True)
    text = payload.get("text") if isinstance(payload, dict) else None
    if not isinstance(text, str) or not text.strip():
        return {"error": 'expected a JSON object {"text": "..."}'}, 400
    message_id = _db().send_message(_me().account.id, user_id, text.strip())
    return {"id": message_id}, 201


@bp.post("/api/settings")
@exempt("changes the account's own settings through Guard.change_setting")
@signed_in
def change_setting_json() -> ResponseReturnValue:
    me = _me()
    answer = views.change_setting_json(
        _db(),
        me.guard,
        me.account,
        request.get_json(silent=True),
        request.headers.get("Accept-Language"),
    )
    if isinstance(answer, DenialResponse):
        # A refused change: childsafe's problem+json, in the child's words.
        return BaseResponse(answer.body, answer.status, list(answer.headers))
    return answer


@bp.post("/api/location")
@exempt("the account's own location, kept under its location_sharing setting")
@signed_in
def check_in_json() -> ResponseReturnValue:
    payload = request.get_json(silent=True)
    place = payload.get("place") if isinstance(payload, dict) else None
    if not isinstance(place, str) or not place.strip():
        return {"error": 'expected a JSON object {"place": "..."}'}, 400
    _db().check_in(_me().account.id, place.strip())
    return {"place": place.strip()}, 200
