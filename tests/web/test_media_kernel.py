"""The media kernel on the raw protocols: temporary files are removed on every path
(client disconnect, an app that raises), other routes' bodies are never touched, and
the options are checked at start-up."""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest

from childsafe import Guard, RouteTable, action_rule, path_param
from childsafe.asgi import ChildsafeMiddleware as ASGIMiddleware
from childsafe.exceptions import ConfigurationError
from childsafe.testing import SocialApp
from childsafe.wsgi import ChildsafeMiddleware as WSGIMiddleware
from tests.media_support import MarkerInspector, png

ROUTES = RouteTable(
    {
        "POST /photos": action_rule("media.upload"),
        "POST /users/{user_id}/messages": action_rule("dm.send", target=path_param("user_id")),
    }
)


def _scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"t"), (b"authorization", b"Bearer teen"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("t", 80),
    }


class TestASGI:
    def test_client_disconnect_leaves_no_file(self, tmp_path: Path) -> None:
        """A client that goes away mid-body gets no answer, the app never runs and the
        spooled part is removed."""
        social = SocialApp()
        ran: list[str] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            ran.append("app")

        middleware = ASGIMiddleware(
            app,
            guard=Guard(),
            resolvers=social.resolvers(),
            repository=social.repository,
            routes=ROUTES,
            media_inspector=MarkerInspector(),
            media_temp_dir=str(tmp_path),
        )
        messages: list[dict[str, Any]] = [
            {"type": "http.request", "body": b"\x89PNG" + b"x" * 100, "more_body": True},
            {"type": "http.disconnect"},
        ]
        sent: list[MutableMapping[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return messages.pop(0)

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        asyncio.run(middleware(_scope("/photos", [(b"content-type", b"image/png")]), receive, send))
        assert (ran, sent) == ([], [])
        assert list(tmp_path.iterdir()) == []

    def test_other_routes_body_is_not_read(self, tmp_path: Path) -> None:
        """A route with no media action is passed on without the middleware calling
        ``receive``: the app reads the body itself, as it streams."""
        social = SocialApp()
        calls: list[str] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            calls.append("app")
            message = await receive()
            calls.append(message["body"].decode())
            await send({"type": "http.response.start", "status": 201, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        middleware = ASGIMiddleware(
            app,
            guard=Guard(),
            resolvers=social.resolvers(),
            repository=social.repository,
            routes=ROUTES,
            media_inspector=MarkerInspector(),
            media_temp_dir=str(tmp_path),
        )

        async def receive() -> dict[str, Any]:
            calls.append("receive")
            return {"type": "http.request", "body": b"hello", "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            pass

        scope = _scope("/users/teen/messages", [])
        scope["headers"][1] = (b"authorization", b"Bearer aunt")
        asyncio.run(middleware(scope, receive, send))
        assert calls == ["app", "receive", "hello"]


class TestWSGI:
    def test_app_that_raises_leaves_no_file(self, tmp_path: Path) -> None:
        """An app that raises after the body was replayed leaves no temporary file."""
        social = SocialApp()

        def app(environ: Any, start_response: Any) -> Any:
            assert environ["wsgi.input"].read() == image
            raise RuntimeError("the view broke")

        middleware = WSGIMiddleware(
            app,
            guard=Guard(),
            resolvers=social.resolvers(),
            repository=social.repository,
            routes=ROUTES,
            media_inspector=MarkerInspector(),
            media_temp_dir=str(tmp_path),
        )
        image = png()
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/photos",
            "CONTENT_TYPE": "image/png",
            "CONTENT_LENGTH": str(len(image)),
            "HTTP_AUTHORIZATION": "Bearer teen",
            "wsgi.input": io.BytesIO(image),
            "wsgi.errors": sys.stderr,
        }
        with pytest.raises(RuntimeError, match="the view broke"):
            middleware(environ, lambda *_: lambda _data: None)
        assert list(tmp_path.iterdir()) == []


class TestOptions:
    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"media_inspector": object()}, "media_inspector: must have an inspect"),
            ({"evidence_preserver": 3}, "evidence_preserver: must have a preserve"),
            ({"max_media_body": 0}, "max_media_body: must be a positive number"),
            ({"media_temp_dir": "/nonexistent/dir"}, "is not a directory"),
            ({"max_media_files": 0}, "max_media_files: must be a positive number of images"),
            ({"max_media_files": True}, "max_media_files: must be a positive number of images"),
            ({"max_media_files": "20"}, r"max_media_files: .* got '20'"),
        ],
    )
    def test_bad_options_are_refused(self, options: dict[str, Any], message: str) -> None:
        """Each bad media option is named at start-up."""
        with pytest.raises(ConfigurationError, match=message):
            WSGIMiddleware(
                lambda _environ, _start: [],
                guard=Guard(),
                repository=SocialApp().repository,
                routes=ROUTES,
                **options,
            )

    def test_json_target_refused_on_a_media_route(self) -> None:
        """A media route cannot take its recipient from the body, which is the image."""
        from childsafe import json_field  # noqa: PLC0415

        with pytest.raises(ConfigurationError, match="reads the body as the image"):
            action_rule("media.send", target=json_field("to"))

    def test_media_extractor_only_for_view(self) -> None:
        """``media=`` applies to media.view only."""
        with pytest.raises(ConfigurationError, match=r"only applies to media\.view"):
            action_rule("media.upload", media=lambda _request: None)
