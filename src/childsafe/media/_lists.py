"""Hash lists: the known-abuse PDQ hashes a platform receives from its hotline or
industry partners, loaded from CSV or ThreatExchange exports and refused, with the file,
line and problem named, when malformed. childsafe ships no lists.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final

from childsafe.media._errors import HashListError

__all__ = [
    "HASH_COLUMNS",
    "ID_COLUMNS",
    "TYPE_COLUMNS",
    "HashEntry",
    "HashList",
]

HASH_COLUMNS: Final[tuple[str, ...]] = (
    "pdq",
    "pdq_hash",
    "hash",
    "signal",
    "signal_value",
    "signal_str",
    "indicator",
    "raw_indicator",
)
"""Header names taken to be the column of PDQ hashes (case-insensitive), in order of
preference, when ``hash_column`` is not given."""

TYPE_COLUMNS: Final[tuple[str, ...]] = ("signal_type", "indicator_type")
"""Header names of a column giving each row's signal type, as in the ``threatexchange``
CLI's CSV export (``threatexchange dataset -P --csv``): only rows whose type is PDQ
(``pdq``, ``HASH_PDQ``) are read; rows of other types (MD5, URLs, video) are skipped."""

ID_COLUMNS: Final[tuple[str, ...]] = ("id", "entry_id", "signal_id", "hash_id", "descriptor_id")
"""Header names taken to be the entries' own ids when ``id_column`` is not given."""

_HEX: Final = re.compile(r"^[0-9a-fA-F]*$")
_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
_MAX_ID: Final = 200
_PDQ_TYPES: Final = frozenset({"HASH_PDQ", "PDQ", "pdq", "hash_pdq"})


class HashEntry(tuple[str, str | None]):
    """One listed hash: ``pdq`` (64 lower-case hex digits) and the list's own ``id``
    for it, if it has one."""

    __slots__ = ()

    def __new__(cls, pdq: str, id: str | None = None) -> HashEntry:  # noqa: PYI034, A002
        return super().__new__(cls, (pdq, id))

    @property
    def pdq(self) -> str:
        return self[0]

    @property
    def id(self) -> str | None:
        return self[1]

    def __repr__(self) -> str:
        return f"HashEntry(pdq={self[0]!r}, id={self[1]!r})"


def _check_hash(value: str, source: str, line: int | None) -> bytes:
    given: object = value
    if not isinstance(given, str):
        raise HashListError(source, line, f"expected 64 hex digits as a str, got {_kind(given)}")
    text = given.strip()
    if not text:
        raise HashListError(source, line, "empty hash: expected 64 hex digits")
    if not _HEX.fullmatch(text):
        bad = next(c for c in text if c not in "0123456789abcdefABCDEF")
        raise HashListError(source, line, f"bad hex {text[:80]!r}: {bad!r} is not a hex digit")
    if len(text) != 64:
        raise HashListError(
            source,
            line,
            f"wrong length: a PDQ hash is 64 hex digits, got {len(text)} in {text[:80]!r}",
        )
    return bytes.fromhex(text)


def _check_id(
    value: str | None, source: str, line: int | None, seen: dict[str, int | None]
) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if len(text) > _MAX_ID:
        raise HashListError(source, line, f"id longer than {_MAX_ID} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise HashListError(source, line, f"id {text[:40]!r} contains a control character")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        # a lone surrogate (JSON "\ud800") is no Unicode text: it could not be written
        # to the evidence store, a case or a report later
        raise HashListError(source, line, f"id {text[:40]!r} contains a lone surrogate")
    if text in seen:
        first = seen[text]
        where = "" if first is None else f" (first on line {first})"
        raise HashListError(source, line, f"duplicate id {text!r}{where}")
    seen[text] = line
    return text


def _json(text: str, source: str, line: int | None) -> object:
    """``json.loads``, with nesting too deep for the decoder (``[[[[...``, which raised
    ``RecursionError``) and an object naming a key twice (which would keep the last
    value silently) refused as a :class:`~childsafe.media.HashListError`."""

    def unique(pairs: list[tuple[str, object]]) -> dict[str, object]:
        out: dict[str, object] = {}
        for key, value in pairs:
            if key in out:
                raise HashListError(source, line, f"duplicate key {key[:80]!r} in a JSON object")
            out[key] = value
        return out

    try:
        return json.loads(text, object_pairs_hook=unique)
    except RecursionError:
        raise HashListError(source, line, "not valid JSON (nested too deeply)") from None
    except (json.JSONDecodeError, HashListError):
        raise
    except ValueError:  # an integer of more digits than int() converts (4,300)
        raise HashListError(source, line, "not valid JSON (a number too long)") from None


def _text(text: object, source: str) -> str:
    """The list's text: a string, or UTF-8 bytes (a file read in binary)."""
    if isinstance(text, bytes | bytearray | memoryview):
        try:
            return bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            raise HashListError(
                source, None, f"not UTF-8 text ({e.reason} at byte {e.start})"
            ) from None
    if not isinstance(text, str):
        raise HashListError(
            source, None, f"expected the list's text (str or UTF-8 bytes), got {_kind(text)}"
        )
    return text


def _check_column(value: object, what: str, source: str) -> None:
    """``hash_column``/``id_column``: ``None``, a header name or a 0-based index."""
    if value is None or isinstance(value, str):
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise HashListError(
            source,
            None,
            f"{what}: expected a column name or a 0-based index, got {_kind(value)} {value!r:.40}",
        )
    if value < 0:
        raise HashListError(source, None, f"{what}: column indexes start at 0, got {value}")


def _check_delimiter(value: object, source: str) -> None:
    if value is None:
        return
    if not isinstance(value, str) or len(value) != 1 or value in '"\r\n':
        raise HashListError(
            source,
            None,
            f"delimiter: expected one character other than a quote or a line break, "
            f"got {value!r:.40}",
        )


def _path(path: object) -> Path:
    if isinstance(path, str | os.PathLike):
        try:
            return Path(path)
        except TypeError:  # an os.PathLike giving bytes
            pass
    raise HashListError(
        "<path>", None, f"expected a file path (str or os.PathLike), got {_kind(path)}"
    )


def _check_name(name: str) -> str:
    given: object = name
    if not isinstance(given, str) or not _NAME.fullmatch(given):
        raise HashListError(
            "<name>",
            None,
            f"list name {name!r}: expected 1-100 letters, digits or '_.:-', starting "
            "with a letter or digit",
        )
    return name


class HashList:
    """A named list of PDQ hashes, each with an optional id.

    Build one with :meth:`from_csv`, :meth:`from_threatexchange` (files) or
    :meth:`parse_csv`, :meth:`parse_threatexchange`, :meth:`from_entries` (in memory);
    every constructor validates every entry and raises
    :class:`~childsafe.media.HashListError` naming the source, the line and what is
    wrong (bad hex, wrong length, duplicate id, unknown column, empty list).

    The hashes are kept packed (32 bytes each), so a list of a million entries costs
    about 32 MB plus its ids.

    >>> hl = HashList.from_entries("demo", [("f" * 64, "e1"), ("0" * 64, None)])
    >>> len(hl), hl[0]
    (2, HashEntry(pdq='ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff', id='e1'))
    """

    __slots__ = ("_digests", "_ids", "name", "source")

    def __init__(
        self, name: str, digests: bytes, ids: Sequence[str | None], *, source: str = "<memory>"
    ) -> None:
        self.name = _check_name(name)
        given: object = digests
        if not isinstance(given, bytes | bytearray | memoryview):
            raise HashListError(source, None, f"digests: expected bytes, got {_kind(given)}")
        if len(digests) % 32 or len(digests) // 32 != len(ids):
            raise HashListError(source, None, "digests and ids do not line up")
        if not ids:
            raise HashListError(source, None, "empty list: no hashes found")
        self._digests = bytes(digests)
        self._ids = tuple(ids)
        self.source = source
        """Where the list was read from (a path, ``<text>`` or ``<memory>``)."""

    # -- reading -----------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._ids)

    def __getitem__(self, index: int) -> HashEntry:
        i = range(len(self._ids))[index]
        return HashEntry(self._digests[i * 32 : i * 32 + 32].hex(), self._ids[i])

    def __iter__(self) -> Iterator[HashEntry]:
        d = self._digests
        for i, entry_id in enumerate(self._ids):
            yield HashEntry(d[i * 32 : i * 32 + 32].hex(), entry_id)

    def __repr__(self) -> str:
        return f"<HashList {self.name!r}: {len(self)} hashes from {self.source}>"

    @property
    def digests(self) -> bytes:
        """Every hash, 32 bytes each (most significant first), in list order."""
        return self._digests

    @property
    def ids(self) -> tuple[str | None, ...]:
        """Every entry's id (``None`` where the list gives none), in list order."""
        return self._ids

    # -- building ----------------------------------------------------------------

    @classmethod
    def from_entries(
        cls,
        name: str,
        entries: Iterable[str | tuple[str, str | None]],
        *,
        source: str = "<memory>",
    ) -> HashList:
        """A list from hashes (64 hex digits) or ``(hash, id)`` pairs."""
        digests = bytearray()
        ids: list[str | None] = []
        seen: dict[str, int | None] = {}
        given: object = entries
        if isinstance(given, str | bytes) or not isinstance(given, Iterable):
            raise HashListError(
                source,
                None,
                f"entries: expected an iterable of hashes or (hash, id) pairs, got {_kind(given)}",
            )
        for n, item in enumerate(given, 1):
            pdq: object
            entry_id: object
            if isinstance(item, str):
                pdq, entry_id = item, None
            elif isinstance(item, tuple) and len(item) == 2:
                pdq, entry_id = item
            else:
                raise HashListError(
                    source, n, f"expected a hash or a (hash, id) pair, got {item!r:.80}"
                )
            if not isinstance(pdq, str) or not (entry_id is None or isinstance(entry_id, str)):
                raise HashListError(source, n, f"expected strings, got {item!r:.80}")
            digests += _check_hash(pdq, source, n)
            ids.append(_check_id(entry_id, source, n, seen))
        return cls(name, bytes(digests), ids, source=source)

    @classmethod
    def from_csv(
        cls,
        path: str | os.PathLike[str],
        *,
        name: str | None = None,
        header: bool | None = None,
        hash_column: str | int | None = None,
        id_column: str | int | None = None,
        delimiter: str | None = None,
    ) -> HashList:
        """Load a CSV file (UTF-8). ``name`` defaults to the file's stem. See
        :meth:`parse_csv` for the other options."""
        p = _path(path)
        text = _read(p)
        return cls.parse_csv(
            text,
            name=name if name is not None else _stem(p),
            source=str(p),
            header=header,
            hash_column=hash_column,
            id_column=id_column,
            delimiter=delimiter,
        )

    @classmethod
    def parse_csv(
        cls,
        text: str | bytes,
        *,
        name: str,
        source: str = "<text>",
        header: bool | None = None,
        hash_column: str | int | None = None,
        id_column: str | int | None = None,
        delimiter: str | None = None,
    ) -> HashList:
        """Parse CSV text (or UTF-8 bytes): one entry a row, a column of 64-hex PDQ
        hashes and optionally a column of ids; other columns are allowed and ignored.

        ``header``: ``None`` (default) detects it: a first row is a header when none of
        its cells is a 64-hex hash and one names the hash column. With a header,
        ``hash_column`` and ``id_column`` name the columns (default: the first of
        :data:`HASH_COLUMNS` and :data:`ID_COLUMNS` present; a named column that is
        absent is an error); without one they are 0-based indexes (default: the hash
        in column 0, the id in column 1 when there is one). ``delimiter``: ``,`` by
        default, a tab when the first line has tabs and no commas. Blank lines and
        lines starting with ``#`` are skipped."""
        text = _text(text, source).removeprefix("\ufeff")
        _check_delimiter(delimiter, source)
        _check_column(hash_column, "hash_column", source)
        _check_column(id_column, "id_column", source)
        lines = text.splitlines()
        first = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), None)
        if first is None:
            raise HashListError(source, None, "empty list: no hashes found")
        if delimiter is None:
            delimiter = "\t" if "\t" in first and "," not in first else ","
        rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
        digests = bytearray()
        ids: list[str | None] = []
        seen: dict[str, int | None] = {}
        hash_at: int | None = None
        id_at: int | None = None
        type_at: int | None = None
        width = 0
        try:
            for row in rows:
                line = rows.line_num
                if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
                    continue
                if hash_at is None:
                    has_header = (
                        header if header is not None else _looks_like_header(row, hash_column)
                    )
                    if has_header:
                        hash_at, id_at = _columns(row, hash_column, id_column, source, line)
                        names = [c.strip().lower() for c in row]
                        type_at = next((names.index(c) for c in TYPE_COLUMNS if c in names), None)
                        width = len(row)
                        continue
                    hash_at, id_at = _indexes(row, hash_column, id_column, source, line)
                if hash_at >= len(row):
                    raise HashListError(
                        source,
                        line,
                        f"missing hash: the row has {len(row)} column(s), the hash is in "
                        f"column {hash_at + 1}",
                    )
                if width and len(row) > width:
                    raise HashListError(
                        source, line, f"{len(row)} columns where the header names {width}"
                    )
                if (
                    type_at is not None
                    and type_at < len(row)
                    and row[type_at].strip() not in _PDQ_TYPES
                ):
                    continue  # another signal type in a mixed export
                digests += _check_hash(row[hash_at], source, line)
                entry_id = row[id_at] if id_at is not None and id_at < len(row) else None
                ids.append(_check_id(entry_id, source, line, seen))
        except csv.Error as e:
            raise HashListError(source, rows.line_num, f"not valid CSV ({e})") from None
        return cls(name, bytes(digests), ids, source=source)

    @classmethod
    def from_threatexchange(
        cls, path: str | os.PathLike[str], *, name: str | None = None
    ) -> HashList:
        """Load a ThreatExchange export; see :meth:`parse_threatexchange`."""
        p = _path(path)
        return cls.parse_threatexchange(
            _read(p), name=name if name is not None else _stem(p), source=str(p)
        )

    @classmethod
    def parse_threatexchange(  # noqa: PLR0915 - one check a step, each with its message
        cls, text: str | bytes, *, name: str, source: str = "<text>"
    ) -> HashList:
        """Parse ThreatExchange threat descriptors, as the Graph API's
        ``threat_descriptors`` and ``tagged_objects`` queries return them and the
        ThreatExchange tools save them (text, or UTF-8 bytes): a JSON object with a
        ``data`` array, a JSON array, or JSON lines (one descriptor a line). Each
        descriptor has ``type`` and ``raw_indicator`` (the hash) and usually ``id``;
        descriptors of types other than ``HASH_PDQ`` (MD5, PhotoDNA, video hashes) are
        skipped; a PDQ descriptor without ``raw_indicator`` is an error, and so is an
        object naming a key twice. ``line`` in errors is the line of the JSON-lines
        file, or the descriptor's position (1-based) in a JSON document."""
        text = _text(text, source).removeprefix("\ufeff")
        stripped = text.strip()
        if not stripped:
            raise HashListError(source, None, "empty list: no hashes found")
        items: list[tuple[int, object]]
        json_lines = stripped.startswith("{") and "\n" in stripped

        def by_line() -> list[tuple[int, object]]:
            found: list[tuple[int, object]] = []
            for n, ln in enumerate(text.splitlines(), 1):
                if not ln.strip():
                    continue
                try:
                    found.append((n, _json(ln, source, n)))
                except json.JSONDecodeError as e2:
                    raise HashListError(source, n, f"not valid JSON ({e2.msg})") from None
            return found

        try:
            doc = _json(stripped, source, None)
        except json.JSONDecodeError as e:
            if not json_lines:
                raise HashListError(source, e.lineno, f"not valid JSON ({e.msg})") from None
            items = by_line()
        except HashListError as whole:
            if not json_lines:
                raise
            try:
                items = by_line()  # JSON lines: the same problem, named with its line
            except HashListError as part:
                raise (whole if part.problem.startswith("not valid JSON") else part) from None
        else:
            if isinstance(doc, dict) and "data" in doc:
                doc = doc["data"]
            if isinstance(doc, dict):
                doc = [doc]
            if not isinstance(doc, list):
                raise HashListError(
                    source, None, "expected a JSON object with a 'data' array, or an array"
                )
            items = list(enumerate(doc, 1))
        digests = bytearray()
        ids: list[str | None] = []
        seen: dict[str, int | None] = {}
        for n, item in items:
            if not isinstance(item, dict):
                raise HashListError(source, n, f"expected a descriptor object, got {_kind(item)}")
            kind = item.get("type", item.get("indicator_type"))
            indicator: Any = item.get("raw_indicator")
            if indicator is None and isinstance(item.get("indicator"), dict):
                inner = item["indicator"]
                indicator = inner.get("indicator")
                kind = kind if kind is not None else inner.get("type")
            if kind is None:
                raise HashListError(source, n, "descriptor has no 'type'")
            if not isinstance(kind, str):
                raise HashListError(source, n, f"'type' must be a string, got {_kind(kind)}")
            if kind not in _PDQ_TYPES:
                continue
            if not isinstance(indicator, str):
                raise HashListError(
                    source, n, "PDQ descriptor has no 'raw_indicator' string (the hash)"
                )
            digests += _check_hash(indicator, source, n)
            raw_id = item.get("id")
            wrong = isinstance(raw_id, bool) or not isinstance(raw_id, str | int)
            if raw_id is not None and wrong:
                raise HashListError(source, n, f"'id' must be a string, got {_kind(raw_id)}")
            if isinstance(raw_id, int) and not -(10**_MAX_ID) < raw_id < 10**_MAX_ID:
                raise HashListError(source, n, f"id longer than {_MAX_ID} characters")
            ids.append(_check_id(None if raw_id is None else str(raw_id), source, n, seen))
        if not ids:
            raise HashListError(source, None, "empty list: no HASH_PDQ descriptors found")
        return cls(name, bytes(digests), ids, source=source)


def _kind(value: object) -> str:
    return type(value).__name__


def _stem(p: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.:-]", "_", p.stem).lstrip("_.:-")
    return stem or "list"


def _read(p: Path) -> str:
    try:
        special = p.exists() and not p.is_dir() and not p.is_file()
    except (OSError, ValueError):
        special = False  # named below, when it is opened
    if special:  # a device or a pipe (/dev/zero) would be read until memory ran out
        raise HashListError(str(p), None, "not a regular file (a device or a pipe)")
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HashListError(str(p), None, "no such file") from None
    except UnicodeDecodeError as e:
        raise HashListError(
            str(p), None, f"not UTF-8 text ({e.reason} at byte {e.start})"
        ) from None
    except OSError as e:
        raise HashListError(str(p), None, f"cannot be read ({e.strerror})") from None
    except ValueError:  # open() refuses a path holding a NUL byte
        raise HashListError(repr(str(p)), None, "cannot be read (a NUL byte in the path)") from None


def _looks_like_hash(cell: str) -> bool:
    c = cell.strip()
    return len(c) == 64 and _HEX.fullmatch(c) is not None


def _looks_like_header(row: list[str], hash_column: str | int | None) -> bool:
    """A first row is a header when no cell is a hash and a cell names the hash
    column (a known name, or ``hash_column`` given as a name); otherwise it is data, so
    a malformed first hash is reported as such rather than as a strange header."""
    if any(_looks_like_hash(c) for c in row):
        return False
    names = {c.strip().lower() for c in row}
    if isinstance(hash_column, str):
        return True
    return any(c in names for c in HASH_COLUMNS)


def _columns(
    row: list[str],
    hash_column: str | int | None,
    id_column: str | int | None,
    source: str,
    line: int,
) -> tuple[int, int | None]:
    names = [c.strip().lower() for c in row]
    present = ", ".join(repr(c) for c in names)

    def find(wanted: str | int, what: str) -> int:
        if isinstance(wanted, int):
            if not 0 <= wanted < len(names):
                raise HashListError(source, line, f"unknown column {wanted} for the {what}")
            return wanted
        key = wanted.strip().lower()
        if key not in names:
            raise HashListError(
                source, line, f"unknown column {wanted!r} for the {what}; the header has {present}"
            )
        return names.index(key)

    if hash_column is not None:
        hash_at = find(hash_column, "hash")
    else:
        found = next((names.index(c) for c in HASH_COLUMNS if c in names), None)
        if found is None:
            raise HashListError(
                source,
                line,
                f"no hash column in the header ({present}); name one of "
                f"{', '.join(HASH_COLUMNS)} or pass hash_column=",
            )
        hash_at = found
    if id_column is not None:
        id_at: int | None = find(id_column, "id")
    else:
        id_at = next((names.index(c) for c in ID_COLUMNS if c in names), None)
    if id_at == hash_at:
        raise HashListError(source, line, "the id column is the hash column")
    return hash_at, id_at


def _indexes(
    row: list[str],
    hash_column: str | int | None,
    id_column: str | int | None,
    source: str,
    line: int,
) -> tuple[int, int | None]:
    for given, what in ((hash_column, "hash"), (id_column, "id")):
        if isinstance(given, str):
            raise HashListError(
                source, line, f"unknown column {given!r} for the {what}: the file has no header"
            )
    hash_at = 0 if hash_column is None else int(hash_column)
    if id_column is not None:
        id_at: int | None = int(id_column)
    else:
        id_at = 1 if hash_at == 0 and len(row) > 1 else None
    if hash_at < 0 or (id_at is not None and id_at < 0):
        raise HashListError(source, line, "column indexes start at 0")
    if id_at == hash_at:
        raise HashListError(source, line, "the id column is the hash column")
    return hash_at, id_at
