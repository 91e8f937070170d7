"""The kernel's streaming multipart/form-data parser and the body spool."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from hypothesis import given
from hypothesis import strategies as st

from childsafe.web.media import (
    BodyProblem,
    MalformedMultipart,
    MultipartParser,
    Spool,
    parse_content_type,
)

BOUNDARY = "----childsafe-test-7MA4YWxkTrZu0gW"


class Opener:
    """Opens each file part as a real temporary file under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.count = 0

    def __call__(self) -> tuple[str, IO[bytes]]:
        self.count += 1
        path = self.root / f"part-{self.count}"
        return str(path), path.open("wb")


def encode(parts: list[tuple[str, str | None, str | None, bytes]], boundary: str) -> bytes:
    """A multipart body as a browser writes it: (name, filename, content type, data)."""
    out = b""
    for name, filename, content_type, data in parts:
        out += f"--{boundary}\r\n".encode()
        disposition = f'Content-Disposition: form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += disposition.encode() + b"\r\n"
        if content_type is not None:
            out += f"Content-Type: {content_type}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def one_part(header: str) -> bytes:
    """A complete body of one part with one header line."""
    return f"--{BOUNDARY}\r\n{header}\r\n\r\nx\r\n--{BOUNDARY}--".encode()


def split(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    """``data`` in pieces cut at ``cuts`` (positions, any order)."""
    start = 0
    for cut in sorted({c % (len(data) + 1) for c in cuts}):
        yield data[start:cut]
        start = cut
    yield data[start:]


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)
part_strategy = st.tuples(
    names,
    st.one_of(st.none(), st.text(alphabet="abcdefghij.-_", min_size=1, max_size=12)),
    st.sampled_from([None, "image/png", "image/jpeg", "text/plain"]),
    # Data may hold CRLFs, dashes and even most of the boundary: only the full
    # delimiter ends a part.
    st.binary(max_size=300).map(lambda b: b.replace(b"\r\n--" + BOUNDARY.encode(), b"")),
)


def parse(
    body: bytes, cuts: list[int], tmp: Path, *, boundary: str = BOUNDARY
) -> list[tuple[object, ...]]:
    parser = MultipartParser(boundary, Opener(tmp))
    for piece in split(body, cuts):
        parser.feed(piece)
    return [
        (
            p.name,
            p.filename,
            p.content_type,
            Path(p.path).read_bytes() if p.path is not None else None,
            p.size,
        )
        for p in parser.close()
    ]


class TestParser:
    @given(
        st.lists(part_strategy, min_size=1, max_size=5),
        st.lists(st.integers(0, 5000), max_size=20),
    )
    def test_round_trip_whatever_the_chunking(
        self,
        tmp_path_factory: pytest.TempPathFactory,
        parts: list[tuple[str, str | None, str | None, bytes]],
        cuts: list[int],
    ) -> None:
        """Every part comes back with its name, filename, type and exact bytes (files
        written to disk), however the body is cut into pieces."""
        tmp = tmp_path_factory.mktemp("parts")
        body = encode(parts, BOUNDARY)
        got = parse(body, cuts, tmp)
        assert len(got) == len(parts)
        for (name, filename, content_type, data), part in zip(parts, got, strict=True):
            is_file = filename is not None or (content_type or "").startswith("image/")
            assert part == (name, filename, content_type, data if is_file else None, len(data))

    @given(st.binary(max_size=200), st.binary(max_size=200))
    def test_preamble_and_epilogue_ignored(
        self, tmp_path_factory: pytest.TempPathFactory, preamble: bytes, epilogue: bytes
    ) -> None:
        """Text before the first boundary (after a CRLF) and after the last is ignored."""
        tmp = tmp_path_factory.mktemp("parts")
        preamble = preamble.replace(b"--" + BOUNDARY.encode(), b"")
        body = preamble + b"\r\n" + encode([("p", "a.png", "image/png", b"PNG")], BOUNDARY)
        got = parse(body + epilogue, [], tmp)
        assert [g[3] for g in got] == [b"PNG"]

    @given(st.binary(max_size=400), st.lists(st.integers(0, 500), max_size=10))
    def test_arbitrary_bytes_never_crash(
        self, tmp_path_factory: pytest.TempPathFactory, body: bytes, cuts: list[int]
    ) -> None:
        """Any body either parses or raises MalformedMultipart: never another error."""
        tmp = tmp_path_factory.mktemp("parts")
        problem: MalformedMultipart | None = None
        try:
            parse(body, cuts, tmp)
        except MalformedMultipart as e:
            problem = e
        assert problem is None or str(problem).startswith("multipart/form-data: ")

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            (b"no boundary anywhere", "holds no boundary line"),
            (
                f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=a\r\n\r\nabc".encode(),
                "ends inside part 1",
            ),
            (
                f"--{BOUNDARY}\r\nX-Other: 1\r\n\r\nabc\r\n--{BOUNDARY}--".encode(),
                "part 1: it has no Content-Disposition header",
            ),
            (
                one_part("Content-Disposition: attachment; name=a"),
                "Content-Disposition is 'attachment'",
            ),
            (
                one_part("Content-Disposition: form-data"),
                "Content-Disposition has no name",
            ),
            (
                f"--{BOUNDARY}\r\nbroken header\r\n\r\nx\r\n--{BOUNDARY}--".encode(),
                "part 1: the header line 'broken header' is malformed",
            ),
            (f"--{BOUNDARY}XX\r\n".encode(), "followed by something other than CRLF"),
            (f"--{BOUNDARY}\r\n".encode() + b"A" * 20000, "headers are longer than"),
        ],
    )
    def test_malformed_names_what_is_wrong(self, tmp_path: Path, body: bytes, message: str) -> None:
        """Each malformation is refused with a message naming it and the part."""
        with pytest.raises(MalformedMultipart, match=message):
            parse(body, [7, 30], tmp_path)

    def test_boundary_checked(self, tmp_path: Path) -> None:
        """A missing or over-long boundary is refused up front."""
        with pytest.raises(MalformedMultipart, match="has no boundary"):
            MultipartParser("", Opener(tmp_path))
        with pytest.raises(MalformedMultipart, match="1 to 200 characters, got 201"):
            MultipartParser("x" * 201, Opener(tmp_path))

    def test_boundary_longer_than_rfc_taken(self, tmp_path: Path) -> None:
        """A 71-character boundary, as Werkzeug's test client makes at times, parses."""
        boundary = "-" * 15 + "WerkzeugFormPart_" + "1" * 39
        assert len(boundary) == 71
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; '
                f'filename="a.png"\r\nContent-Type: image/png\r\n\r\n'
            ).encode()
            + b"PNGDATA"
            + f"\r\n--{boundary}--\r\n".encode()
        )
        parser = MultipartParser(boundary, Opener(tmp_path))
        parser.feed(body)
        [part] = parser.close()
        assert part.name == "photo"
        assert part.path is not None
        assert Path(part.path).read_bytes() == b"PNGDATA"


class TestContentType:
    @pytest.mark.parametrize(
        ("header", "expected"),
        [
            ("multipart/form-data; boundary=abc", ("multipart/form-data", {"boundary": "abc"})),
            (
                'Multipart/Form-Data; BOUNDARY="a;b c"',
                ("multipart/form-data", {"boundary": "a;b c"}),
            ),
            ("image/png", ("image/png", {})),
            (None, ("", {})),
            (
                'form-data; name="f\\"x"; filename="a.png"',
                ("form-data", {"name": 'f"x', "filename": "a.png"}),
            ),
        ],
    )
    def test_parse(self, header: str | None, expected: tuple[str, dict[str, str]]) -> None:
        """Media types are lower-cased, parameters unquoted (quoted semicolons kept)."""
        assert parse_content_type(header) == expected


class TestSpool:
    def test_declared_length_over_the_cap(self, tmp_path: Path) -> None:
        """A declared length over the cap is refused before a file is even made."""
        with pytest.raises(BodyProblem) as caught:
            Spool(10, 11, str(tmp_path))
        assert caught.value.status == 413
        assert list(tmp_path.iterdir()) == []

    @given(st.lists(st.binary(min_size=1, max_size=50), max_size=10), st.integers(1, 200))
    def test_refused_as_soon_as_the_cap_is_passed(
        self, tmp_path_factory: pytest.TempPathFactory, chunks: list[bytes], cap: int
    ) -> None:
        """Without a length, writing stops with 413 at the first chunk past the cap, and
        close removes the file."""
        tmp = tmp_path_factory.mktemp("spool")
        spool = Spool(cap, None, str(tmp))
        written = 0
        try:
            for chunk in chunks:
                if written + len(chunk) > cap:
                    with pytest.raises(BodyProblem):
                        spool.write(chunk)
                    break
                spool.write(chunk)
                written += len(chunk)
            else:
                spool.finish()
                assert b"".join(spool.chunks()) == b"".join(chunks)
        finally:
            spool.close()
        assert list(tmp.iterdir()) == []

    def test_short_body(self, tmp_path: Path) -> None:
        """A body shorter than its Content-Length is refused (400)."""
        spool = Spool(100, 10, str(tmp_path))
        spool.write(b"abc")
        with pytest.raises(BodyProblem, match="after 3 of the 10 bytes"):
            spool.finish()
        spool.close()
        assert list(tmp_path.iterdir()) == []

    def test_replay_leaves_nothing_on_disk(self, tmp_path: Path) -> None:
        """The replayed body reads back exactly while no temporary file is left."""
        spool = Spool(100, None, str(tmp_path))
        spool.write(b"hello ")
        spool.write(b"world")
        spool.finish()
        _, f = spool.new_part_file()
        f.close()
        replay = spool.replay_file()
        assert list(tmp_path.iterdir()) == []
        assert replay.read() == b"hello world"
        spool.close()
        assert replay.closed


# -- parsers must agree --------------------------------------------------------------
#
# The app parses the replayed body with its framework's parser. Wherever that parser
# would find a file this one did not inspect, an unchecked image reaches the app, so
# every body this parser accepts must give the frameworks no other file.

SMALL = "bnd"
CAT = b"CATDATA"
EVIL = b"EVILDATA"


def werkzeug_files(body: bytes, content_type: str) -> list[bytes] | None:
    """The files Werkzeug's parser (Flask's) finds, or ``None`` if it refuses."""
    import io  # noqa: PLC0415

    from werkzeug.formparser import FormDataParser  # noqa: PLC0415
    from werkzeug.http import parse_options_header  # noqa: PLC0415

    mimetype, options = parse_options_header(content_type)
    try:
        _, _, files = FormDataParser(stream_factory=lambda *_, **__: io.BytesIO()).parse(
            io.BytesIO(body), mimetype, len(body), options
        )
    except ValueError:
        return None
    return sorted(storage.read() for _, storage in files.items(multi=True))


def django_files(body: bytes, content_type: str) -> list[bytes] | None:
    """The files Django's parser finds, or ``None`` if it refuses."""
    import io  # noqa: PLC0415

    from django.core.files.uploadhandler import (  # type: ignore[import-untyped]  # noqa: PLC0415
        MemoryFileUploadHandler,
    )
    from django.http.multipartparser import (  # type: ignore[import-untyped]  # noqa: PLC0415
        MultiPartParser,
        MultiPartParserError,
    )

    from tests.django_settings import setup  # noqa: PLC0415

    setup()
    meta = {"CONTENT_TYPE": content_type, "CONTENT_LENGTH": str(len(body))}
    try:
        _, files = MultiPartParser(meta, io.BytesIO(body), [MemoryFileUploadHandler()]).parse()
    except (MultiPartParserError, ValueError):
        return None
    return sorted(f.read() for name in files for f in files.getlist(name))


def ours(body: bytes, content_type: str, tmp: Path) -> list[bytes] | None:
    """The files this parser inspects (what ``_images`` hands the inspector), or
    ``None`` if it refuses the body."""
    from childsafe.web.media import repeated_parameters  # noqa: PLC0415

    _, params = parse_content_type(content_type)
    if "boundary" in repeated_parameters(content_type):
        return None
    try:
        parser = MultipartParser(params.get("boundary", ""), Opener(tmp))
        parser.feed(body)
        parts = parser.close()
    except MalformedMultipart:
        return None
    return sorted(Path(p.path).read_bytes() for p in parts if p.path is not None)


def assert_no_unchecked_file(body: bytes, content_type: str, tmp: Path) -> None:
    checked = ours(body, content_type, tmp)
    if checked is None:
        return
    for framework in (werkzeug_files, django_files):
        seen = framework(body, content_type)
        unchecked = [f for f in seen or [] if f and f not in checked]
        assert unchecked == [], f"{framework.__name__} found files never inspected"


FILE_HEADERS = (
    b'Content-Disposition: form-data; name="photo"; filename="evil.png"',
    b"Content-Disposition: form-data; name=\"photo\"; filename*=UTF-8''evil.png",
    b'Content-Disposition: form-data; name="note"',
    b"Content-Type: application/octet-stream",
    b"Content-Type: image/png",
)
TOKENS = (
    b"\r\n",
    b"\n",
    b"\r",
    b" ",
    b"--",
    f"--{SMALL}".encode(),
    *FILE_HEADERS,
    EVIL,
)


def cat_body(middle: bytes, *, epilogue: bytes = b"") -> bytes:
    """One clean file part, then ``middle`` inside its data, then the closing boundary."""
    return (
        (
            f'--{SMALL}\r\nContent-Disposition: form-data; name="photo"; filename="cat.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + CAT
        + middle
        + f"\r\n--{SMALL}--\r\n".encode()
        + epilogue
    )


class TestAgreesWithFrameworks:
    @given(st.lists(st.sampled_from(TOKENS), max_size=24), st.booleans())
    def test_no_file_the_frameworks_see_goes_uninspected(
        self, tmp_path_factory: pytest.TempPathFactory, tokens: list[bytes], in_epilogue: bool
    ) -> None:
        """Whatever a hostile client puts in a part's data or after the closing
        boundary, Werkzeug and Django find no file in an accepted body that was not
        inspected."""
        tmp = tmp_path_factory.mktemp("parts")
        middle = b"".join(tokens)
        body = cat_body(b"", epilogue=middle) if in_epilogue else cat_body(middle)
        assert_no_unchecked_file(body, f"multipart/form-data; boundary={SMALL}", tmp)

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            # A boundary after a bare LF or CR: Werkzeug splits there, Django anywhere.
            (
                cat_body(b"\n--bnd\n" + FILE_HEADERS[0] + b"\n\n" + EVIL),
                "part 1 holds the boundary after something other than CRLF",
            ),
            (cat_body(b"\r--bnd\r\n" + FILE_HEADERS[0] + b"\r\n\r\n" + EVIL), "other than CRLF"),
            (cat_body(b"x--bnd\r\n" + FILE_HEADERS[0] + b"\r\n\r\n" + EVIL), "other than CRLF"),
            (
                b"preamble\n--bnd\r\n" + FILE_HEADERS[0] + b"\r\n\r\n" + EVIL + cat_body(b""),
                "the preamble holds the boundary",
            ),
            (
                cat_body(b"", epilogue=b"--bnd\r\n" + FILE_HEADERS[0] + b"\r\n\r\n" + EVIL),
                "the epilogue holds the boundary",
            ),
            # Two Content-Disposition headers: Werkzeug reads the first, Django the last.
            (
                (
                    f"--{SMALL}\r\n{FILE_HEADERS[0].decode()}\r\n{FILE_HEADERS[2].decode()}\r\n"
                    f"Content-Type: application/octet-stream\r\n\r\nEVIL\r\n--{SMALL}--\r\n"
                ).encode(),
                "part 1: the Content-Disposition header is given more than once",
            ),
            (
                (
                    f'--{SMALL}\r\nContent-Disposition: form-data; name="a"; filename="x"; '
                    f'filename="y"\r\n\r\nEVIL\r\n--{SMALL}--\r\n'
                ).encode(),
                "part 1: Content-Disposition gives 'filename' more than once",
            ),
            (
                f'--{SMALL}\r\nContent-Disposition: form-data; name="a"\n\nX: y\r\n\r\nE\r\n'
                f"--{SMALL}--".encode(),
                "holds a bare CR or LF",
            ),
        ],
    )
    def test_ambiguous_bodies_are_refused(self, tmp_path: Path, body: bytes, message: str) -> None:
        """A body two parsers could split differently is refused, naming why."""
        with pytest.raises(MalformedMultipart, match=message):
            parse(body, [5, 40, 41, 90], tmp_path, boundary=SMALL)

    def test_extended_filename_is_a_file(self, tmp_path: Path) -> None:
        """A part named only by ``filename*`` (RFC 5987), which Werkzeug and Django
        take as a file, is inspected as one, with its name decoded."""
        body = (
            (
                f'--{SMALL}\r\nContent-Disposition: form-data; name="photo"; '
                f"filename*=UTF-8''%C3%A9t%C3%A9.png\r\nContent-Type: application/octet-stream"
                f"\r\n\r\n"
            ).encode()
            + EVIL
            + f"\r\n--{SMALL}--\r\n".encode()
        )
        parser = MultipartParser(SMALL, Opener(tmp_path))
        parser.feed(body)
        [part] = parser.close()
        assert (part.filename, part.is_file, part.size) == ("été.png", True, len(EVIL))
        assert_no_unchecked_file(body, f"multipart/form-data; boundary={SMALL}", tmp_path)

    @pytest.mark.parametrize(
        "content_type",
        [
            "multipart/form-data; boundary=bnd; boundary=other",
            "multipart/form-data; boundary=bnd; BOUNDARY=other",
            "multipart/form-data; boundary=bnd; boundary*=UTF-8''other",
        ],
    )
    def test_repeated_boundary_is_refused(self, content_type: str) -> None:
        """Werkzeug and Django split at the last boundary given, this parser at the
        first: a Content-Type naming two is a 400, never parsed."""
        from childsafe.web.media import _images  # noqa: PLC0415

        spool = Spool(1024, None)
        try:
            spool.write(cat_body(b""))
            spool.finish()
            with pytest.raises(MalformedMultipart, match="gives the boundary more than once"):
                _images(spool, content_type, 20)
        finally:
            spool.close()
