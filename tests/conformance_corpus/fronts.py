"""The base app on Flask and on Starlette: translation only, every view is in
:mod:`.core`. Path parameters, the query (for ``GET``) or the JSON or form body (for
writes) and the ``sid`` session cookie go in; the :class:`~.core.Reply` comes out."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.conformance_corpus.core import ROUTES, Reply, Social

COOKIE = "sid"


def _form(items: Mapping[str, Any]) -> dict[str, Any]:
    return {k: items[k] for k in items}


def _flask_reply(reply: Reply) -> flask.Response:
    response = flask.Response(reply.payload(), reply.status, content_type=reply.content_type)
    for k, v in reply.headers.items():
        response.headers[k] = v
    if reply.cookie is not None:
        response.set_cookie(COOKIE, reply.cookie, httponly=True, samesite="Lax")
    return response


def flask_app(social: Social) -> flask.Flask:
    """The base app on Flask."""
    app = flask.Flask("corpus")

    def view_for(name: str) -> Any:
        def view(**params: str) -> flask.Response:
            request = flask.request
            if request.method == "GET":
                body: dict[str, Any] = _form(request.args)
            else:
                data = request.get_json(silent=True)
                body = data if isinstance(data, dict) else _form(request.form)
            sid = request.cookies.get(COOKIE)
            return _flask_reply(social.dispatch(name, sid, params, body))

        view.__name__ = name
        return view

    for method, path, name in ROUTES:
        app.add_url_rule(
            path, endpoint=f"{name}_{method}", view_func=view_for(name), methods=[method]
        )
    app.extensions["corpus.social"] = social
    return app


def starlette_app(social: Social) -> Starlette:
    """The base app on Starlette."""

    def endpoint_for(name: str) -> Any:
        async def endpoint(request: Request) -> Response:
            if request.method == "GET":
                body: dict[str, Any] = dict(request.query_params)
            else:
                raw = await request.body()
                try:
                    data = json.loads(raw) if raw else {}
                except ValueError:
                    data = None
                if not isinstance(data, dict):
                    form = await request.form()
                    data = {k: v for k, v in form.items() if isinstance(v, str)}
                body = data
            params = {k: str(v) for k, v in request.path_params.items()}
            reply = social.dispatch(name, request.cookies.get(COOKIE), params, body)
            response = Response(
                reply.payload(), reply.status, dict(reply.headers), media_type=reply.content_type
            )
            if reply.cookie is not None:
                response.set_cookie(COOKIE, reply.cookie, httponly=True, samesite="lax")
            return response

        endpoint.__name__ = name
        return endpoint

    routes = [
        Route(
            re.sub(r"<(\w+)>", r"{\1}", path),
            endpoint_for(name),
            methods=[method],
            name=f"{name}_{method}",
        )
        for method, path, name in ROUTES
    ]
    app = Starlette(routes=routes)
    app.state.social = social
    return app
