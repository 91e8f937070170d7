"""Media routes: a request body spooled to a temporary file under a size cap, parsed
(``multipart/form-data`` or a raw ``image/*`` body), each image inspected and decided,
then replayed to the app byte for byte.

Only routes declaring ``media.upload`` or ``media.send`` have their bodies read; every
other route keeps streaming untouched. The adapters translate their framework's body
into :meth:`Spool.write` calls and replay :meth:`Spool.replay_file`; everything else
(the cap, the parser, the inspector, the decision, the evidence hand-over, the
refusals) happens here, the same for all six.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import tempfile
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

import attrs

from childsafe._decision import Decision
from childsafe._model import Account, Relationship
from childsafe._parsing import ParseError, content_length
from childsafe.exceptions import ConfigProblem, ConfigurationError
from childsafe.typing import Request
from childsafe.web.denials import DenialResponse
from childsafe.web.request import callable_name, client_addr, confirms, is_id

if TYPE_CHECKING:
    from childsafe.media import EvidencePreserver, MediaFile, MediaInspector, MediaVerdict
    from childsafe.web.context import RequestContext
    from childsafe.web.routes import ActionRule
    from childsafe.web.strict import RouteInfo

__all__ = [
    "DEFAULT_MAX_MEDIA_BODY",
    "DEFAULT_MAX_MEDIA_FILES",
    "MEDIA_BODY_ACTIONS",
    "BodyProblem",
    "MalformedMultipart",
    "MediaOptions",
    "MediaOutcome",
    "MediaResult",
    "MultipartParser",
    "Part",
    "Spool",
    "body_problem_response",
    "decide_media",
    "media_target",
    "media_target_async",
    "parse_content_type",
    "repeated_parameters",
]

log = logging.getLogger("childsafe")

DEFAULT_MAX_MEDIA_BODY: Final = 10 * 1024 * 1024
DEFAULT_MAX_MEDIA_FILES: Final = 20
"""Images a media route inspects in one request at the most (a carousel post's worth):
each costs a decode, a hash and a classifier run, so a body of many tiny images would
otherwise buy seconds of CPU for a few kilobytes."""
"""The largest body (bytes) a media route accepts by default: 10 MiB."""

MEDIA_BODY_ACTIONS: Final = frozenset({"media.upload", "media.send"})
"""The actions whose routes have their bodies read, inspected and replayed."""

CHUNK: Final = 64 * 1024
"""The size of the pieces a spooled body is read back in."""

_MAX_HEADER_BLOCK: Final = 16 * 1024
_MAX_PARTS: Final = 1000
_PROBLEM_TYPE: Final = "https://childsafe.readthedocs.io/en/latest/media-routes.html#"


# ------------------------------------------------------------------ problems


class BodyProblem(Exception):  # noqa: N818 - a refusal of the body, not a bug
    """A media route's body cannot be accepted: ``status`` (413, 400, 411, 415) and a
    ``detail`` naming what is wrong."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail


class MalformedMultipart(BodyProblem):
    """A ``multipart/form-data`` body that does not parse; the message says where."""

    def __init__(self, detail: str) -> None:
        super().__init__(400, "Malformed multipart body", f"multipart/form-data: {detail}")


def too_large(cap: int) -> BodyProblem:
    """The refusal of a body larger than ``cap`` bytes."""
    return BodyProblem(
        413,
        "Body too large",
        f"The request body is larger than this route accepts ({cap} bytes).",
    )


def body_problem_response(problem: BodyProblem) -> DenialResponse:
    """``application/problem+json`` for a body a media route refuses."""
    slug = {413: "size-cap", 411: "size-cap", 415: "bodies"}.get(problem.status, "bodies")
    document = {
        "type": _PROBLEM_TYPE + slug,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
    }
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    headers: list[tuple[str, str]] = [
        ("content-type", "application/problem+json"),
        ("content-length", str(len(body))),
        ("cache-control", "no-store"),
    ]
    if problem.status == 413:
        # The rest of the body is not read: the client must not reuse the connection.
        headers.append(("connection", "close"))
    return DenialResponse(problem.status, tuple(headers), body)


# ------------------------------------------------------------------ options


@attrs.frozen
class MediaOptions:
    """What a middleware needs for media routes: the ``inspector`` that looks at each
    image, the ``preserver`` a matched image is handed to, the body size cap
    ``max_body`` (bytes), the directory temporary files go to (``None``: the
    system's) and ``max_files``, the images one request may carry (a body with more is
    refused with 413 before any is inspected)."""

    inspector: MediaInspector | None = None
    preserver: EvidencePreserver | None = None
    max_body: int = DEFAULT_MAX_MEDIA_BODY
    temp_dir: str | None = None
    max_files: int = DEFAULT_MAX_MEDIA_FILES

    @classmethod
    def build(
        cls,
        *,
        inspector: object = None,
        preserver: object = None,
        max_body: object = DEFAULT_MAX_MEDIA_BODY,
        temp_dir: object = None,
        max_files: object = DEFAULT_MAX_MEDIA_FILES,
        where: str = "ChildsafeMiddleware",
    ) -> MediaOptions:
        """Check the options together: every problem in one
        :class:`~childsafe.exceptions.ConfigurationError`."""
        problems = []
        if inspector is not None and not callable(getattr(inspector, "inspect", None)):
            problems.append(
                ConfigProblem(
                    where,
                    "media_inspector",
                    "must have an inspect(media) method (a childsafe.media.MediaInspector), "
                    f"got {type(inspector).__name__}",
                )
            )
        if preserver is not None and not callable(getattr(preserver, "preserve", None)):
            problems.append(
                ConfigProblem(
                    where,
                    "evidence_preserver",
                    "must have a preserve(incident) method (a childsafe.media.EvidencePreserver), "
                    f"got {type(preserver).__name__}",
                )
            )
        if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body <= 0:
            problems.append(
                ConfigProblem(
                    where, "max_media_body", f"must be a positive number of bytes, got {max_body!r}"
                )
            )
        if isinstance(max_files, bool) or not isinstance(max_files, int) or max_files <= 0:
            problems.append(
                ConfigProblem(
                    where,
                    "max_media_files",
                    f"must be a positive number of images, got {max_files!r}",
                )
            )
        if temp_dir is not None and not (isinstance(temp_dir, str | os.PathLike)):
            problems.append(
                ConfigProblem(where, "media_temp_dir", f"must be a path, got {temp_dir!r}")
            )
        elif temp_dir is not None and not Path(temp_dir).is_dir():
            problems.append(
                ConfigProblem(
                    where, "media_temp_dir", f"{os.fspath(temp_dir)!r} is not a directory"
                )
            )
        if problems:
            raise ConfigurationError(problems)
        return cls(
            inspector,  # type: ignore[arg-type]
            preserver,  # type: ignore[arg-type]
            max_body,  # type: ignore[arg-type]
            None if temp_dir is None else str(os.fspath(temp_dir)),  # type: ignore[call-overload]
            max_files,  # type: ignore[arg-type]
        )

    def check_inventory(
        self,
        routes: Iterable[RouteInfo],
        *,
        where: str,
        table: Mapping[str, object] | None = None,
    ) -> None:
        """:meth:`check_routes` for an app's route inventory and its route ``table``'s
        entries (strict mode)."""
        found: dict[str, object] = dict(table or {})
        for info in routes:
            for action in info.actions:
                name = action.partition(" ")[0]
                if name in MEDIA_BODY_ACTIONS:
                    found.setdefault(info.key, _MediaProbe(name))
        self.check_routes(found, where=where)

    def check_routes(self, rules: Mapping[str, object], *, where: str) -> None:
        """Strict start-up check: a route declaring ``media.upload`` or ``media.send``
        needs an inspector. ``rules`` maps a route's name to its rule."""
        if self.inspector is not None:
            return
        missing = sorted(
            name
            for name, rule in rules.items()
            if getattr(rule, "action", None) in MEDIA_BODY_ACTIONS
        )
        if missing:
            raise ConfigurationError(
                ConfigProblem(
                    where,
                    "media_inspector",
                    f"route {name!r} declares a media action but no media inspector is "
                    "configured (pass media_inspector=, e.g. a childsafe.media.MediaScreen)",
                )
                for name in missing
            )


@attrs.frozen
class _MediaProbe:
    action: str


# ------------------------------------------------------------------ spooling


def _remove(path: str) -> None:
    try:
        Path(path).unlink()
    except FileNotFoundError:
        pass
    except OSError as e:
        log.error("childsafe: could not remove the temporary file %s: %r", path, e)  # noqa: TRY400


class Spool:
    """A request body written to a temporary file, refusing more than ``cap`` bytes.

    ``declared`` is the ``Content-Length`` (``None``: unknown, e.g. chunked); a
    declared length over the cap is refused before anything is read. :meth:`close`
    removes every temporary file it made (the body's and each image part's); it is
    safe to call more than once.
    """

    def __init__(self, cap: int, declared: int | None, temp_dir: str | None = None) -> None:
        if declared is not None and declared > cap:
            raise too_large(cap)
        self.cap = cap
        self.declared = declared
        self.temp_dir = temp_dir
        self.size = 0
        self._paths: list[str] = []
        self._replay: IO[bytes] | None = None
        fd, path = tempfile.mkstemp(prefix="childsafe-body-", dir=temp_dir)
        self._paths.append(path)
        self.path = Path(path)
        self._file: IO[bytes] = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        """Add ``chunk``: :class:`BodyProblem` 413 as soon as the body passes the cap."""
        self.size += len(chunk)
        if self.size > self.cap:
            raise too_large(self.cap)
        self._file.write(chunk)

    def finish(self) -> None:
        """The body is complete: a shorter body than declared is refused (400)."""
        self._file.close()
        if self.declared is not None and self.size != self.declared:
            raise BodyProblem(
                400,
                "Incomplete body",
                f"The body ended after {self.size} of the {self.declared} bytes its "
                "Content-Length declared.",
            )

    def new_part_file(self) -> tuple[str, IO[bytes]]:
        """A new temporary file for one part (removed by :meth:`close`)."""
        fd, path = tempfile.mkstemp(prefix="childsafe-part-", dir=self.temp_dir)
        self._paths.append(path)
        return path, os.fdopen(fd, "wb")

    def chunks(self) -> Iterator[bytes]:
        """The spooled body, read back in pieces."""
        with self.path.open("rb") as f:
            while piece := f.read(CHUNK):
                yield piece

    def replay_file(self) -> IO[bytes]:
        """The body, opened for the app to read. Its temporary files are removed now
        (the open file stays readable until closed), so nothing is left on disk
        whatever the app does."""
        replay = self._replay = self.path.open("rb")
        self.remove_files()
        return replay

    def remove_files(self) -> None:
        if not self._file.closed:
            self._file.close()
        paths, self._paths = self._paths, []
        for path in paths:
            _remove(path)

    def close(self) -> None:
        """Remove every temporary file and close the replayed body."""
        self.remove_files()
        if self._replay is not None:
            self._replay.close()


# ------------------------------------------------------------------ content types


def parse_content_type(header: str | None) -> tuple[str, dict[str, str]]:
    """``("multipart/form-data", {"boundary": "x"})`` for a ``Content-Type`` value:
    the media type in lower case and its parameters (names in lower case, quotes
    removed). ``("", {})`` for no header.

    >>> parse_content_type('multipart/form-data; boundary="a b"; charset=UTF-8')
    ('multipart/form-data', {'boundary': 'a b', 'charset': 'UTF-8'})
    """
    if not header:
        return "", {}
    media, _, rest = header.partition(";")
    return media.strip().lower(), _parameters(rest)


def repeated_parameters(header: str | None) -> list[str]:
    """The parameters a ``Content-Type`` or ``Content-Disposition`` value names more
    than once, counting RFC 2231 forms (``filename*``, ``boundary*0``) as the
    parameter they extend, except ``filename`` beside ``filename*`` (RFC 6266's
    fallback). Parsers disagree on which of two values counts (childsafe's takes the
    first, Werkzeug's and Django's the last), so a body that repeats one is refused
    rather than read differently from the app.

    >>> repeated_parameters("multipart/form-data; boundary=a; Boundary=b")
    ['boundary']
    >>> repeated_parameters('form-data; name="p"; filename="a.png"; filename*=UTF-8\'\'a.png')
    []
    """
    names: list[str] = []
    _parameters(header.partition(";")[2] if header else "", names)
    forms: dict[str, list[str]] = {}
    for name in names:
        forms.setdefault(name.partition("*")[0], []).append(name)
    return [
        base
        for base, given in forms.items()
        if len(set(given)) < len(given) or (base != "filename" and len(given) > 1)
    ]


def _parameters(text: str, names: list[str] | None = None) -> dict[str, str]:
    params: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t;":
            i += 1
        start = i
        while i < n and text[i] not in "=;":
            i += 1
        name = text[start:i].strip().lower()
        value = ""
        if i < n and text[i] == "=":
            i += 1
            while i < n and text[i] in " \t":
                i += 1
            if i < n and text[i] == '"':
                i += 1
                out = []
                while i < n and text[i] != '"':
                    if text[i] == "\\" and i + 1 < n:
                        i += 1
                    out.append(text[i])
                    i += 1
                i += 1  # the closing quote
                value = "".join(out)
                while i < n and text[i] != ";":
                    i += 1
            else:
                start = i
                while i < n and text[i] != ";":
                    i += 1
                value = text[start:i].strip()
        if name:
            params.setdefault(name, value)
            if names is not None:
                names.append(name)
    return params


# ------------------------------------------------------------------ multipart


@attrs.define
class Part:
    """One part of a multipart body as the parser saw it: its headers (names in lower
    case), its field ``name`` and ``filename`` from ``Content-Disposition``, its
    ``content_type``, and, for a file part, where it was written and its size."""

    index: int
    headers: dict[str, str]
    name: str | None
    filename: str | None
    content_type: str | None
    path: str | None = None
    size: int = 0

    @property
    def is_file(self) -> bool:
        """A file (it has a filename) or an image: what a media route inspects."""
        return self.filename is not None or (self.content_type or "").startswith("image/")


def _filename(params: Mapping[str, str]) -> str | None:
    """A part's file name: ``filename``, else the RFC 5987 ``filename*`` (or its
    continuations) decoded. Frameworks take either as a file, so either makes one."""
    if "filename" in params:
        return params["filename"]
    extended = [value for name, value in params.items() if name.startswith("filename*")]
    if not extended:
        return None
    value = "".join(extended)
    charset, quote, rest = value.partition("'")
    if not quote:
        return value
    encoded = rest.partition("'")[2]
    try:
        return urllib.parse.unquote(encoded, encoding=charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset
        return urllib.parse.unquote(encoded, errors="replace")


MAX_BOUNDARY: Final = 200
"""The longest multipart boundary taken (RFC 2046 says 70; real clients send more)."""


class MultipartParser:
    """A streaming ``multipart/form-data`` parser (RFC 7578): :meth:`feed` it the body
    in pieces of any size and :meth:`close` it at the end. File parts are written
    through ``open_part`` (which returns a path and a binary file); other fields are
    read and dropped (the app gets the whole body replayed). Every malformation raises
    :class:`MalformedMultipart` naming what is wrong and in which part.
    """

    _PREAMBLE, _HEADERS, _BODY, _AFTER, _END = range(5)

    def __init__(
        self,
        boundary: str,
        open_part: Callable[[], tuple[str, IO[bytes]]],
    ) -> None:
        # RFC 2046 allows 70 characters; clients exceed it (Werkzeug's test client makes
        # 71 at times), so up to MAX_BOUNDARY are taken, as other parsers take them.
        if not boundary or len(boundary) > MAX_BOUNDARY:
            raise MalformedMultipart(
                f"the boundary parameter must be 1 to {MAX_BOUNDARY} characters, "
                f"got {len(boundary)}"
                if boundary
                else "the Content-Type has no boundary"
            )
        try:
            raw = boundary.encode("ascii")
        except UnicodeEncodeError:
            raise MalformedMultipart("the boundary is not ASCII") from None
        self._first = b"--" + raw
        self._delimiter = b"\r\n--" + raw
        self._open_part = open_part
        self._buffer = bytearray()
        # The last bytes dropped from the buffer before a part's data or the preamble
        # continues (to see what precedes a boundary found at the buffer's start), and
        # whether anything was dropped at all (the first boundary may start the body).
        self._before = b""
        self._dropped = False
        self._state = self._PREAMBLE
        self._part: Part | None = None
        self._file: IO[bytes] | None = None
        self.parts: list[Part] = []

    def _malformed(self, detail: str) -> MalformedMultipart:
        where = f"part {len(self.parts)}: " if self._part is not None or self.parts else ""
        return MalformedMultipart(where + detail)

    def feed(self, data: bytes) -> None:
        """Parse the next piece of the body."""
        self._buffer += data
        try:
            while self._step():
                pass
        except MalformedMultipart:
            self._finish_part()  # the part's file is closed (the spool removes it)
            raise

    def _step(self) -> bool:  # noqa: PLR0915 - one state machine
        """Advance as far as the buffer allows; whether to call again."""
        buf = self._buffer
        if self._state == self._PREAMBLE:
            # The first boundary may start the body, or follow a preamble and CRLF.
            if not self._dropped and buf.startswith(self._first):
                del buf[: len(self._first)]
                self._state = self._AFTER
                return True
            at = buf.find(self._delimiter)
            if at < 0:
                keep = len(self._delimiter) - 1
                if len(buf) > keep:
                    self._check_stray(len(buf) - keep)
                    self._drop(len(buf) - keep)
                return False
            self._check_stray(at)
            del buf[: at + len(self._delimiter)]
            self._before, self._dropped = b"", True
            self._state = self._AFTER
            return True
        if self._state == self._AFTER:
            if len(buf) < 2:
                return False
            if buf[:2] == b"--":
                self._finish_part()
                self._state = self._END
                del buf[:2]
                return True
            # Transport padding (spaces, tabs) may follow a boundary before its CRLF.
            stripped = 0
            while stripped < len(buf) and buf[stripped] in b" \t":
                stripped += 1
            if len(buf) - stripped < 2:
                return False
            if buf[stripped : stripped + 2] != b"\r\n":
                raise self._malformed("a boundary is followed by something other than CRLF")
            del buf[: stripped + 2]
            self._finish_part()
            if len(self.parts) >= _MAX_PARTS:
                raise MalformedMultipart(f"more than {_MAX_PARTS} parts")
            self._state = self._HEADERS
            return True
        if self._state == self._HEADERS:
            end = buf.find(b"\r\n\r\n")
            if buf.startswith(b"\r\n"):
                end = -2  # no headers at all
            if end == -1:
                if len(buf) > _MAX_HEADER_BLOCK:
                    raise MalformedMultipart(
                        f"part {len(self.parts) + 1}: its headers are longer than "
                        f"{_MAX_HEADER_BLOCK} bytes or never end"
                    )
                return False
            block = bytes(buf[: max(end, 0)])
            del buf[: end + 4]
            self._start_part(block)
            self._state = self._BODY
            return True
        if self._state == self._BODY:
            at = buf.find(self._delimiter)
            if at < 0:
                keep = len(self._delimiter) - 1
                if len(buf) > keep:
                    self._check_stray(len(buf) - keep)
                    self._data(bytes(buf[: len(buf) - keep]))
                    self._drop(len(buf) - keep)
                return False
            self._check_stray(at)
            self._data(bytes(buf[:at]))
            del buf[: at + len(self._delimiter)]
            self._before = b""
            self._state = self._AFTER
            return True
        # _END: the epilogue is ignored, unless it holds the boundary (Django would
        # read a part there).
        if buf.find(self._first) >= 0:
            raise MalformedMultipart("the epilogue holds the boundary after the closing one")
        keep = len(self._first) - 1
        if len(buf) > keep:
            del buf[: len(buf) - keep]
        return False

    def _drop(self, count: int) -> None:
        """Drop the buffer's first ``count`` bytes (already handled), remembering the
        last two."""
        self._before = (self._before + bytes(self._buffer[max(0, count - 2) : count]))[-2:]
        self._dropped = True
        del self._buffer[:count]

    def _check_stray(self, end: int) -> None:
        """Refuse the boundary (``--`` and the boundary) starting before ``end`` in the
        buffer anywhere but after a CRLF, where it is a delimiter: Werkzeug also splits
        parts at a boundary after a bare LF or CR, and Django wherever it occurs, so the
        app would see parts (and images) this parser never did."""
        buf = self._buffer
        at = buf.find(self._first)
        while 0 <= at < end:
            before = (self._before + bytes(buf[max(0, at - 2) : at]))[-2:]
            if before != b"\r\n":
                where = f"part {len(self.parts)}" if self._part is not None else "the preamble"
                raise MalformedMultipart(
                    f"{where} holds the boundary after something other than CRLF "
                    "(parsers would split the body differently)"
                )
            at = buf.find(self._first, at + 1)

    def _start_part(self, block: bytes) -> None:
        index = len(self.parts) + 1
        headers: dict[str, str] = {}
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedMultipart(f"part {index}: its headers are not UTF-8") from None
        for line in text.split("\r\n") if text else ():
            name, sep, value = line.partition(":")
            if not sep or not name.strip() or name != name.strip():
                raise MalformedMultipart(
                    f"part {index}: the header line {line[:60]!r} is malformed"
                )
            if "\r" in line or "\n" in line:
                raise MalformedMultipart(
                    f"part {index}: the header line {line[:60]!r} holds a bare CR or LF "
                    "(lines end with CRLF)"
                )
            key = name.strip().lower()
            if key in headers:
                raise MalformedMultipart(
                    f"part {index}: the {name.strip()} header is given more than once"
                )
            headers[key] = value.strip()
        disposition = headers.get("content-disposition")
        if disposition is None:
            raise MalformedMultipart(f"part {index}: it has no Content-Disposition header")
        kind, params = parse_content_type(disposition)
        if kind != "form-data":
            raise MalformedMultipart(
                f"part {index}: Content-Disposition is {kind!r}, not 'form-data'"
            )
        repeated = repeated_parameters(disposition)
        if repeated:
            raise MalformedMultipart(
                f"part {index}: Content-Disposition gives {repeated[0]!r} more than once"
            )
        if "name" not in params:
            raise MalformedMultipart(f"part {index}: Content-Disposition has no name")
        content_type = headers.get("content-type")
        part = Part(
            index=index,
            headers=headers,
            name=params["name"],
            filename=_filename(params),
            content_type=parse_content_type(content_type)[0] if content_type else None,
        )
        self._part = part
        self.parts.append(part)
        if part.is_file:
            part.path, self._file = self._open_part()

    def _data(self, data: bytes) -> None:
        part = self._part
        if part is None or not data:
            return
        part.size += len(data)
        if self._file is not None:
            self._file.write(data)

    def _finish_part(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._part = None

    def close(self) -> list[Part]:
        """The body ended: the parts, or :class:`MalformedMultipart` if it ended before
        the closing boundary."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._state == self._PREAMBLE:
            raise MalformedMultipart("the body holds no boundary line")
        if self._state == self._HEADERS:
            raise MalformedMultipart(
                f"the body ends inside the headers of part {len(self.parts) + 1}"
            )
        if self._state != self._END:
            raise MalformedMultipart(
                f"the body ends inside part {len(self.parts)} (no closing boundary)"
                if self.parts
                else "the body ends before the closing boundary"
            )
        return self.parts


# ------------------------------------------------------------------ deciding


@attrs.frozen
class MediaResult:
    """One image of a media request: the spooled ``file`` (its path no longer exists
    once the view runs), what inspection found (``verdict``) and the ``decision``."""

    file: MediaFile
    verdict: MediaVerdict
    decision: Decision


@attrs.frozen
class MediaOutcome:
    """What the kernel decided about a media request: the one ``decision`` that
    answers it (the first refusal, else the first that needs confirmation, else the
    last allowed) and every image's :class:`MediaResult`."""

    decision: Decision
    results: tuple[MediaResult, ...]


def _target_id(rule: ActionRule, request: Request) -> str | None:
    try:
        param = rule.param
        extract = rule.extract
        assert extract is not None
        found: object = extract(request) if param is None else request.path_param(param)
    except Exception as e:  # noqa: BLE001 - an extractor that fails finds nothing
        log.warning("childsafe: the target extractor for %s raised %r", rule.action, e)
        return None
    if isinstance(found, str):
        return found or None
    return str(found) if is_id(found) else None


def media_target(
    context: RequestContext, rule: ActionRule, request: Request
) -> tuple[Account | None, Relationship | None] | Decision:
    """The recipient of a ``media.send`` (and how the sender relates to them), loaded
    through the sync repository; ``(None, None)`` for ``media.upload``; a denial
    (``unverifiable``) when it cannot be found."""
    if rule.extract is None:
        return None, None
    target = _target_id(rule, request)
    if target is None:
        return context._unverifiable(rule.action, "no target id in the request")  # noqa: SLF001
    try:
        return context._load(target)  # noqa: SLF001 - the kernel's own loader
    except Exception as e:  # noqa: BLE001 - fail closed
        return context._unverifiable(rule.action, e)  # noqa: SLF001


async def media_target_async(
    context: RequestContext, rule: ActionRule, request: Request
) -> tuple[Account | None, Relationship | None] | Decision:
    """:func:`media_target` for async (or sync) repositories."""
    if rule.extract is None:
        return None, None
    target = _target_id(rule, request)
    if target is None:
        return context._unverifiable(rule.action, "no target id in the request")  # noqa: SLF001
    try:
        return await context._load_async(target)  # noqa: SLF001 - the kernel's own loader
    except Exception as e:  # noqa: BLE001 - fail closed
        return context._unverifiable(rule.action, e)  # noqa: SLF001


def _images(spool: Spool, content_type: str | None, max_files: int) -> list[MediaFile]:
    """The images of a spooled body: each file part of a multipart body, or the raw
    ``image/*`` body itself. :class:`BodyProblem` for anything else, and 413 for more
    than ``max_files`` file parts."""
    from childsafe.media import MediaFile  # noqa: PLC0415 - only media routes need it

    media, params = parse_content_type(content_type)
    if media.startswith("image/"):
        return [MediaFile(path=spool.path, size=spool.size, content_type=media)]
    if media != "multipart/form-data":
        raise BodyProblem(
            415,
            "Unsupported body",
            "A media route takes a multipart/form-data body or an image/* body, got "
            f"{media or 'no Content-Type'!r}.",
        )
    if "boundary" in repeated_parameters(content_type):
        raise MalformedMultipart(
            "the Content-Type gives the boundary more than once (parsers disagree on "
            "which one counts)"
        )
    parser = MultipartParser(params.get("boundary", ""), spool.new_part_file)
    for chunk in spool.chunks():
        parser.feed(chunk)
    files = [p for p in parser.close() if p.is_file and p.path is not None]
    if not files:
        raise MalformedMultipart("the body holds no file part (no image to check)")
    if len(files) > max_files:
        raise BodyProblem(
            413,
            "Too many images",
            f"A media request carries at most {max_files} images; this one has {len(files)}.",
        )
    return [
        MediaFile(
            path=Path(p.path),  # type: ignore[arg-type]
            size=p.size,
            content_type=p.content_type,
            filename=p.filename,
            field=p.name,
        )
        for p in files
    ]


def _inspect(inspector: MediaInspector | None, media: MediaFile) -> MediaVerdict:
    """The inspector's verdict; an inspector that raises or answers something else is
    the protective path: sensitive (classifier failed), never a match."""
    from childsafe.media import Classification, MediaVerdict  # noqa: PLC0415

    if inspector is None:
        why = "no media inspector is configured"
    else:
        try:
            verdict: object = inspector.inspect(media)
        except Exception as e:
            log.exception("childsafe: the media inspector %s raised", callable_name(inspector))
            why = f"the inspector raised {type(e).__name__}"
        else:
            if isinstance(verdict, MediaVerdict):
                return verdict
            why = f"the inspector returned a {type(verdict).__name__}, not a MediaVerdict"
            log.error("childsafe: %s", why)
    return MediaVerdict(classification=Classification(sensitive=True, failed=why))


def _preserve(
    options: MediaOptions,
    context: RequestContext,
    action: str,
    media: MediaFile,
    verdict: MediaVerdict,
    target: Account | None,
    request: Request,
) -> None:
    """Hand a matched image to the evidence preserver while its file exists; a failure
    is logged (the request is refused all the same)."""
    from childsafe.media import MediaIncident  # noqa: PLC0415

    preserver = options.preserver
    if preserver is None:
        log.error(
            "childsafe: %s matched a known-abuse hash list and no evidence preserver is "
            "configured: nothing was preserved",
            action,
        )
        return
    incident = MediaIncident(
        media=media,
        verdict=verdict,
        action=action,
        actor=context.account,
        target=target,
        request_id=context.request_id,
        at=dt.datetime.now(dt.UTC),
        client_addr=client_addr(request),
    )
    try:
        preserver.preserve(incident)
    except Exception:
        log.exception("childsafe: the evidence preserver %s raised", callable_name(preserver))


def decide_media(
    context: RequestContext,
    rule: ActionRule,
    request: Request,
    spool: Spool,
    options: MediaOptions,
    target: tuple[Account | None, Relationship | None],
) -> MediaOutcome:
    """Parse the spooled body, inspect each image and decide it (the confirm header
    satisfies an intervention), hand matches to the preserver. Sync and blocking: the
    ASGI adapters run it in a thread. :class:`BodyProblem` for a body that is not
    acceptable. The decisions are added to the context and its ``media``."""
    images = _images(spool, request.header("content-type"), options.max_files)
    account, rel = target
    check = context._check or context.guard.check  # noqa: SLF001 - the request's own check
    confirmed = False
    results: list[MediaResult] = []
    for media in images:
        verdict = _inspect(options.inspector, media)
        decision = check(rule.action, context.account, account, rel, media=verdict)
        if decision.needs_confirmation and (confirmed or confirms(request, rule.action)):
            confirmed = True
            decision = check(
                rule.action, context.account, account, rel, media=verdict, confirmed=True
            )
        if verdict.matched:
            _preserve(options, context, rule.action, media, verdict, account, request)
        results.append(MediaResult(media, verdict, decision))
    refusals = [
        r.decision for r in results if not r.decision.allowed and not r.decision.needs_confirmation
    ]
    pending = [r.decision for r in results if r.decision.needs_confirmation]
    answer = refusals[0] if refusals else pending[0] if pending else results[-1].decision
    context.decisions.extend(r.decision for r in results)
    context._media = tuple(results)  # noqa: SLF001 - the context's own record
    return MediaOutcome(answer, tuple(results))


def declared_length(value: str | None) -> int | None:
    """A ``Content-Length`` as a number (``None``: absent); :class:`BodyProblem` 400
    when it is not one."""
    try:
        return content_length(value)
    except ParseError as e:
        raise BodyProblem(400, "Bad Content-Length", f"{e}.") from None


def media_facts(results: tuple[MediaResult, ...]) -> list[dict[str, Any]]:
    """What a view may store about each image: JSON-ready facts of its verdict."""
    out = []
    for r in results:
        v = r.verdict
        c = v.classification
        out.append(
            {
                "field": r.file.field,
                "filename": r.file.filename,
                "content_type": r.file.content_type,
                "size": r.file.size,
                "pdq": v.pdq,
                "quality": v.quality,
                "matched": v.matched,
                "sensitive": v.sensitive,
                "labels": [list(label) for label in c.labels] if c is not None else [],
                "classifier_failed": c.failed if c is not None else None,
                "error": v.error,
                "outcome": r.decision.outcome,
            }
        )
    return out
