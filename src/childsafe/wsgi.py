"""Pure WSGI middleware: resolve the account, check declared routes, filter JSON.

Standard library only. Use it directly around any WSGI app, or through the Flask and
Django adapters which build on the same pieces::

    from childsafe import Guard, RouteTable, action_rule, path_param
    from childsafe.wsgi import ChildsafeMiddleware

    app = ChildsafeMiddleware(
        app,
        guard=Guard(),
        resolvers=[my_session_resolver],
        repository=MyAccounts(),
        routes=RouteTable(
            {"POST /users/{user_id}/messages": action_rule("dm.send", target=path_param("user_id"))}
        ),
    )

The :class:`~childsafe.RequestContext` is stored in ``environ["childsafe.context"]``.
"""

from __future__ import annotations

import http
import io
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from childsafe._decision import Decision
from childsafe.typing import AccountRepository, Request
from childsafe.web import (
    CONTEXT_KEY,
    ENVIRON_KEYS,
    DenialResponse,
    RequestContext,
    ResponseFilter,
    environ_key,
    filter_response,
    is_json,
    is_json_response,
    parse_json_body,
    render_denial,
)
from childsafe.web.denials import wsgi_headers
from childsafe.web.media import (
    CHUNK,
    BodyProblem,
    MediaOptions,
    Spool,
    body_problem_response,
    decide_media,
    declared_length,
    media_target,
    too_large,
)
from childsafe.web.middleware import DEFAULT_MAX_BODY, MiddlewareBase
from childsafe.web.request import NO_PARAMS, ParsingRequest
from childsafe.web.routes import ActionRule

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from childsafe.complaints import ComplaintsDesk

log = logging.getLogger("childsafe")

__all__ = ["ChildsafeMiddleware", "WSGIRequest", "report_app", "request_of"]


class WSGIRequest(ParsingRequest):
    """A :class:`~childsafe.Request` over a WSGI environ; parses only what is asked."""

    __slots__ = ("_json", "environ", "max_body")
    _json: object

    def __init__(
        self,
        environ: WSGIEnvironment,
        params: Mapping[str, str] | None = None,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        self.environ = environ
        self._params = params or NO_PARAMS
        self.max_body = max_body
        # _cookies, _query and _json are set when first read.

    @property
    def method(self) -> str:
        return str(self.environ.get("REQUEST_METHOD", "GET")).upper()

    @property
    def path(self) -> str:
        """``PATH_INFO`` (the path below the app's mount point), decoded as UTF-8."""
        raw = str(self.environ.get("PATH_INFO", "") or "/")
        if raw.isascii():
            return raw
        try:
            # WSGI carries the path's bytes as latin-1 code points.
            return raw.encode("latin-1").decode("utf-8")
        except UnicodeError:
            return raw

    @property
    def client_addr(self) -> str | None:
        """``REMOTE_ADDR`` (behind a proxy, what the proxy middleware put there)."""
        value = self.environ.get("REMOTE_ADDR")
        return value if isinstance(value, str) and value else None

    def header(self, name: str) -> str | None:
        try:  # a subscript: cheaper than .get() when the header is there
            value = self.environ[ENVIRON_KEYS[name]]
        except KeyError:  # absent, or a header childsafe seldom reads
            value = self.environ.get(environ_key(name))
        return value if type(value) is str or value is None else str(value)

    def _cookie_header(self) -> str:
        return str(self.environ.get("HTTP_COOKIE", ""))

    def _query_string(self) -> str:
        return str(self.environ.get("QUERY_STRING", ""))

    def path_param(self, name: str) -> str | None:
        try:  # a mapping or a match: both are read by name
            return self._params[name]
        except (LookupError, AttributeError):  # none, or not set: no rule matched
            return None

    def json(self) -> object:
        """The JSON body, read once (at most ``max_body`` bytes) and put back in
        ``wsgi.input`` for the app; ``None`` if absent, too large or not JSON."""
        try:
            return self._json
        except AttributeError:  # read when first asked for
            self._json = None
        if not is_json(self.header("content-type")):
            return None
        raw = self._read_body()
        if raw is None:
            return None
        self._json = parse_json_body(raw)
        return self._json

    def _read_body(self) -> bytes | None:
        environ = self.environ
        stream = environ.get("wsgi.input")
        if stream is None:
            return None
        length_header = environ.get("CONTENT_LENGTH")
        if length_header:
            try:
                length = int(length_header)
            except ValueError:
                return None
            if length <= 0 or length > self.max_body:
                return None
            raw = bytes(stream.read(length))
            environ["wsgi.input"] = io.BytesIO(raw)
            return raw
        if not environ.get("wsgi.input_terminated"):
            # No length and a stream that may not end: reading could block.
            return None
        raw = bytes(stream.read(self.max_body + 1))
        if len(raw) > self.max_body:
            environ["wsgi.input"] = _ReplayInput(raw, stream)
            return None
        environ["wsgi.input"] = io.BytesIO(raw)
        return raw


class _NewRequest(WSGIRequest):
    """A :class:`WSGIRequest` built with no arguments and no ``__init__`` (the
    middleware sets its attributes): calling it is cheaper than ``object.__new__``."""

    __slots__ = ()
    __init__ = object.__init__


class _ReplayInput:
    """``wsgi.input`` after a partial read: the bytes read first, then the rest."""

    def __init__(self, head: bytes, rest: Any) -> None:  # noqa: ANN401 - any wsgi.input
        self._head = io.BytesIO(head)
        self._rest = rest

    def read(self, size: int | None = -1) -> bytes:
        data = self._head.read(size)
        if size is None or size < 0:
            return data + bytes(self._rest.read())
        if len(data) < size:
            data += bytes(self._rest.read(size - len(data)))
        return data

    def readline(self, size: int | None = -1) -> bytes:
        line = self._head.readline(size)
        if line.endswith(b"\n") or (size is not None and 0 <= size <= len(line)):
            return line
        more = size - len(line) if size is not None and size >= 0 else -1
        return line + bytes(self._rest.readline(more))

    def readlines(self, hint: int = -1) -> list[bytes]:
        del hint  # an optional optimisation; reading everything is always allowed
        return list(self)

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


class ChildsafeMiddleware(MiddlewareBase["WSGIApplication"]):
    """WSGI middleware enforcing a :class:`~childsafe.Guard` on every request.

    * ``resolvers`` turn the request into an account (first match wins; none: the
      protective unknown-age account; one that raises: the same, logged);
    * ``routes`` declare what each route does; a denied action answers ``403``
      ``application/problem+json`` (or what ``renderer`` returns) and the app never runs;
    * ``response_filter`` removes children's locations and drops children from
      suggestion and connection lists in JSON responses.

    Responses that are not filtered are passed through untouched (streaming and
    ``close()`` survive). ``max_body`` bounds the request body read to find a target
    declared with :func:`~childsafe.json_field`.
    """

    adapter = "wsgi"
    sync_only = True
    repository: AccountRepository | None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # WSGIRequest(environ, None, self.max_body), without its __init__; its path
        # parameters are set below when a rule matches (unset, it has none).
        request: WSGIRequest = _NewRequest()
        request.environ = environ
        request.max_body = self.max_body
        context = self._chain.context(self.guard, request, self.repository)
        environ[CONTEXT_KEY] = context
        try:  # subscripts: cheaper than .get() when present, as servers make them
            method = environ["REQUEST_METHOD"]
            path = environ["PATH_INFO"]
        except KeyError:
            method = path = None
        if type(path) is not str or not path or not path.isascii():
            path = request.path
        # self._find(method, path), inline (RouteTable.search): the call and its result
        # tuple cost a tenth of what the middleware adds to a request.
        rule = None
        for methods, fullmatch, candidate in self._entries:
            # The method as given first: the usual answer, and no other test. (A method
            # that is not a string, which no server sends, is read as request.method
            # reads it: only here and for a request no rule matches.)
            if (
                method not in methods
                and methods
                and (method.upper() if type(method) is str else request.method) not in methods
            ):
                continue
            match = fullmatch(path)
            if match is not None:  # the first rule whose path matched
                rule, matched = candidate, match
                break
        else:  # no rule matched
            if type(method) is not str:  # (an empty one would read as empty again)
                method = request.method
            # Leading slashes (``//users/...``), which Werkzeug's router ignores: the
            # rule for the path without them (RouteTable.search), checked the same way.
            found = self._find(method, path) if path[1:2] == "/" else None
            if found is not None:
                rule, matched = found
            elif self._refused(method, path):
                decision = context.refuse_undeclared(request.method, request.path)
                return _send(render_denial(self.renderer, decision, request), start_response)
        if rule is not None:  # checked here, whichever way it was found
            request._params = matched  # noqa: SLF001 - the match, read by name
            if rule.reads_media:
                return self._media(rule, request, context, start_response)
            decision = context.check_rule(rule, request, matched)
            if not decision.allowed:
                return _send(render_denial(self.renderer, decision, request), start_response)
        # The app read into a local first: an attribute of the instance called as a
        # method is never specialized (LOAD_METHOD stays generic).
        app = self.app
        if self.response_filter is None:
            return app(environ, start_response)
        return _FilteredResponse(start_response, context, self.response_filter).run(app, environ)

    def _media(
        self,
        rule: ActionRule,
        request: WSGIRequest,
        context: RequestContext,
        start_response: StartResponse,
    ) -> Iterable[bytes]:
        """A media route: spool, inspect, decide; then the app with the body replayed."""
        environ = request.environ
        outcome = media_request(self.media, rule, request, context, environ)
        if isinstance(outcome, DenialResponse):
            return _send(outcome, start_response)
        if isinstance(outcome, Decision):
            return _send(render_denial(self.renderer, outcome, request), start_response)
        try:
            if self.response_filter is None:
                body = self.app(environ, start_response)
            else:
                body = _FilteredResponse(start_response, context, self.response_filter).run(
                    self.app, environ
                )
        except BaseException:
            outcome.close()
            raise
        return _Closing(body, outcome.close)


def media_request(
    options: MediaOptions,
    rule: ActionRule,
    request: Request,
    context: RequestContext,
    environ: MutableMapping[str, Any],
    stream: Any = None,  # noqa: ANN401 - any binary file-like
    *,
    whole: bool = False,
) -> DenialResponse | Decision | Spool:
    """A WSGI media route's request: its body (``stream``, default
    ``environ["wsgi.input"]``) spooled under the cap, each image inspected and decided.
    ``whole``: ``stream`` holds the whole body and ends with it (a body the framework
    has already read), so one without a ``Content-Length`` is read to its end too.
    A refusal of the body (413, 400...), a denial to render, or the spool (close it
    after the response) whose body the app now reads again: ``wsgi.input`` and
    ``CONTENT_LENGTH`` replaced, and :meth:`Spool.replay_file` as the stream a
    framework holds. What the WSGI, Flask and Django adapters share."""
    spool: Spool | None = None
    try:
        declared = declared_length(environ.get("CONTENT_LENGTH"))
        if declared is not None and declared > options.max_body:
            return body_problem_response(too_large(options.max_body))
        target = media_target(context, rule, request)
        if isinstance(target, Decision):
            return target
        spool = Spool(options.max_body, declared, options.temp_dir)
        _spool_input(
            environ.get("wsgi.input") if stream is None else stream,
            spool,
            terminated=whole or bool(environ.get("wsgi.input_terminated")),
        )
        try:
            outcome = decide_media(context, rule, request, spool, options, target)
        except BodyProblem:
            raise
        except Exception as e:  # noqa: BLE001 - a media check never becomes a 500
            return context._unverifiable(rule.action, e)  # noqa: SLF001
        if not outcome.decision.allowed:
            return outcome.decision
        environ["wsgi.input"] = spool.replay_file()
        environ["CONTENT_LENGTH"] = str(spool.size)
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        done, spool = spool, None
    except BodyProblem as problem:
        return body_problem_response(problem)
    finally:
        if spool is not None:
            spool.close()
    return done


def _spool_input(stream: Any, spool: Spool, *, terminated: bool) -> None:  # noqa: ANN401
    """Copy ``stream`` into ``spool``: ``Content-Length`` bytes, or (for a chunked body
    the server ends) until the end; refused as soon as the cap is passed."""
    remaining = spool.declared
    if stream is None:
        pass
    elif remaining is not None:
        while remaining > 0:
            chunk = stream.read(min(CHUNK, remaining))
            if not chunk:
                break
            spool.write(chunk)
            remaining -= len(chunk)
    elif terminated:
        # Never more than one byte past the cap: enough to know the body is too large.
        while chunk := stream.read(min(CHUNK, spool.cap + 1 - spool.size)):
            spool.write(chunk)
    else:
        raise BodyProblem(
            411,
            "Length required",
            "A media route needs a Content-Length, or a server that ends chunked bodies "
            "(wsgi.input_terminated).",
        )
    spool.finish()


class _Closing:
    """The app's response iterable, with ``then`` called when it is closed."""

    __slots__ = ("_body", "_then")

    def __init__(self, body: Iterable[bytes], then: Callable[[], None]) -> None:
        self._body = body
        self._then = then

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            _close(self._body)
        finally:
            self._then()


class _FilteredResponse:
    """One response through the filter: JSON is held, filtered and re-encoded; any other
    content type goes straight to the server, its iterable untouched when possible."""

    __slots__ = (
        "chunks",
        "context",
        "filter",
        "headers",
        "passthrough",
        "start_response",
        "status",
    )

    def __init__(
        self,
        start_response: StartResponse,
        context: RequestContext,
        response_filter: ResponseFilter,
    ) -> None:
        self.start_response = start_response
        self.context = context
        self.filter = response_filter
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []
        self.passthrough = False

    def capture(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: OptExcInfo | None = None,
    ) -> Callable[[bytes], object]:
        """The ``start_response`` the app sees."""
        if self.passthrough:
            # Already handed to the server: it re-raises exc_info if headers went out.
            return self.start_response(status, headers, exc_info)
        if self.status is not None and not exc_info:
            raise RuntimeError("start_response called a second time without exc_info")
        if not is_json_response(next((v for k, v in headers if k.lower() == "content-type"), None)):
            self.passthrough = True
            self.chunks = []
            return self.start_response(status, headers, exc_info)
        # Nothing was sent yet, so a second call (an error page) simply replaces the first.
        self.status, self.headers, self.chunks = status, list(headers), []
        return self.chunks.append

    def handed_over(self) -> bool:
        """Whether the response went to the server as is (not JSON)."""
        return self.passthrough

    def run(self, app: WSGIApplication, environ: WSGIEnvironment) -> Iterable[bytes]:
        body = app(environ, self.capture)
        if self.passthrough:
            return body
        iterator = iter(body)
        try:
            for chunk in iterator:
                self.chunks.append(chunk)
                if self.handed_over():
                    # start_response came late, inside the iterable, with another type.
                    return _Resumed(self.chunks, iterator, body)
        except BaseException:
            _close(body)
            raise
        _close(body)
        if self.status is None:
            # The app never called start_response: let the server report it.
            return self.chunks
        return self._finish(self.status, self.headers, b"".join(self.chunks))

    def _finish(self, status: str, headers: list[tuple[str, str]], raw: bytes) -> list[bytes]:
        outcome = filter_response(self.context, self.filter, raw, headers)
        if isinstance(outcome, DenialResponse):
            return _send(outcome, self.start_response)
        out, headers = outcome
        self.start_response(status, headers)
        return [out] if out else []


class _Resumed:
    """An app's iterable after its first chunks were read: those, then the rest; and
    ``close()`` reaches the app's iterable."""

    __slots__ = ("_body", "_head", "_rest")

    def __init__(self, head: list[bytes], rest: Iterator[bytes], body: Iterable[bytes]) -> None:
        self._head = head
        self._rest = rest
        self._body = body

    def __iter__(self) -> Iterator[bytes]:
        yield from self._head
        yield from self._rest

    def close(self) -> None:
        _close(self._body)


def _close(body: Iterable[bytes]) -> None:
    close = getattr(body, "close", None)
    if close is not None:
        close()


def _send(response: DenialResponse, start_response: StartResponse) -> list[bytes]:
    try:
        phrase = http.HTTPStatus(response.status).phrase
    except ValueError:
        phrase = "Denied"
    start_response(f"{response.status} {phrase}", wsgi_headers(response.headers))
    return [response.body]


def request_of(environ: WSGIEnvironment) -> Request:
    """A :class:`~childsafe.Request` for ``environ`` (for custom resolvers and tests)."""
    return WSGIRequest(environ)


def report_app(desk: ComplaintsDesk) -> WSGIApplication:
    """A WSGI app filing reports on ``desk`` (``POST`` a JSON report; see
    :func:`childsafe.complaints.report_response`). Mount it at a path of your choice;
    behind :class:`ChildsafeMiddleware` the signed-in reporter comes from the request
    context, and the path needs the route table's exemption
    (:data:`childsafe.complaints.REPORT_EXEMPTION`).

    .. versionadded:: 0.2.0
    """
    from childsafe.complaints import MAX_REPORT_BODY, report_response  # noqa: PLC0415

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        body: bytes | None = None
        raw_length = environ.get("CONTENT_LENGTH")
        try:
            length = int(raw_length) if raw_length else None
        except ValueError:
            length = -1
        if length is None:
            # No length: read up to the limit only from an input the server ends.
            terminated = environ.get("wsgi.input_terminated")
            body = environ["wsgi.input"].read(MAX_REPORT_BODY + 1) if terminated else b""
        elif 0 <= length <= MAX_REPORT_BODY:
            body = environ["wsgi.input"].read(length) if length else b""
        context = environ.get(CONTEXT_KEY)
        response = report_response(
            desk,
            method=str(environ.get("REQUEST_METHOD", "GET")),
            content_type=environ.get("CONTENT_TYPE"),
            body=body,
            context=context if isinstance(context, RequestContext) else None,
        )
        return _send(response, start_response)

    return app
