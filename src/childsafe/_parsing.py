"""Parsers with limits: every JSON and TOML text childsafe reads goes through here.

Each parse is bounded in size (bytes) and nesting depth, so a deeply nested document
is a clear error instead of a ``RecursionError`` (or minutes of work), and JSON objects
may not repeat a key: ``{"age": 15, "age": 40}`` is refused rather than read as 40.
``NaN`` and ``Infinity``, which are not JSON, are refused too. The errors are
:class:`ParseError` (a ``ValueError``); callers wrap them in their own error type.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterable
from typing import Any, Final

from childsafe.exceptions import ConfigProblem, ConfigurationError

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_DEPTH",
    "ParseError",
    "check_depth",
    "content_length",
    "load_json",
    "load_toml",
    "read_config",
    "shown",
]

MAX_DEPTH: Final = 32
"""How deeply arrays and objects (tables) may nest; childsafe's own formats need 5."""
MAX_CONFIG_BYTES: Final = 1 << 20
"""The largest config file (TOML or JSON) read: 1 MiB."""


class ParseError(ValueError):
    """A text that is not valid, too large, too deep or repeats a key."""


_SHOWN_CHARS: Final = 80
_SHOWN_INT_DIGITS: Final = 40


def shown(value: object) -> str:
    """``repr(value)`` for an error message, safe for any parsed value.

    ``repr`` of an integer of more than 4,300 digits raises ``ValueError`` (and one of
    a few hundred digits buries the message), so integers past 40 digits are described
    by their size; a longer text is cut at 80 characters and says how long it was.

    >>> shown("nobody"), shown(10**50), shown("x" * 100)[-24:]
    ("'nobody'", 'an integer of 51 digits', 'xxxx... (102 characters)')
    """
    if isinstance(value, int) and not isinstance(value, bool):
        magnitude = abs(value)
        if magnitude >= 10**_SHOWN_INT_DIGITS:
            # bit_length gives the digits to within one without converting to text.
            digits = int(magnitude.bit_length() * 0.30102999566398120) + 1
            if magnitude < 10 ** (digits - 1):
                digits -= 1
            return f"an integer of {digits} digits"
    text = repr(value)
    if len(text) > _SHOWN_CHARS:
        return f"{text[: _SHOWN_CHARS - 3]}... ({len(text)} characters)"
    return text


_LENGTH_DIGITS: Final = 18
_BEYOND_ANY_CAP: Final = 10**_LENGTH_DIGITS


def content_length(value: str | None) -> int | None:
    """A ``Content-Length`` header's value as a number (``None``: absent or empty).

    Only ASCII digits are a length (RFC 9110: ``1*DIGIT``; spaces around are taken):
    ``str.isdigit`` also takes ``'²'``, which ``int`` then refuses, and ``int`` takes
    ``'+5'``, ``'5_0'`` and digits of other scripts. A length of more than 18 digits
    (after leading zeros) is returned as ``10**18``, larger than any body anyone
    accepts, instead of being converted (``int`` refuses more than 4,300 digits).
    :class:`ParseError` for anything else.

    >>> content_length(" 42 "), content_length(None), content_length("0" * 30 + "7")
    (42, None, 7)
    """
    if value is None:
        return None
    text = value.strip(" \t")
    if not text:
        return None
    if not (text.isascii() and text.isdigit()):
        raise ParseError(f"Content-Length {value[:40]!r} is not a number")
    digits = text.lstrip("0") or "0"
    return int(digits) if len(digits) <= _LENGTH_DIGITS else _BEYOND_ANY_CAP


def check_depth(value: object, max_depth: int = MAX_DEPTH) -> None:
    """Raise :class:`ParseError` if ``value`` nests dicts and lists deeper than
    ``max_depth`` (walked without recursion, so any depth is safe to check)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children: Iterable[object]
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list | tuple):
            children = node
        else:
            continue
        if depth > max_depth:
            raise ParseError(f"nested more than {max_depth} levels deep")
        stack.extend((child, depth + 1) for child in children)


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ParseError(f"duplicate key {key!r}")
            seen.add(key)
    return out


def _without_bom(text: str | bytes) -> str | bytes:
    """``text`` without one leading byte-order mark: Notepad and other editors save
    UTF-8 with one, which tomllib calls an "Invalid statement (at line 1, column 1)"."""
    if isinstance(text, str):
        return text.removeprefix("\ufeff")
    return text.removeprefix(b"\xef\xbb\xbf")


def _constant(name: str) -> object:
    raise ParseError(f"{name} is not a JSON number")


def _size(text: str | bytes, max_bytes: int) -> None:
    # A str is measured in characters first (cheap), then encoded only if it might fit.
    if len(text) > max_bytes or (
        isinstance(text, str) and len(text.encode("utf-8", "surrogatepass")) > max_bytes
    ):
        raise ParseError(f"larger than {max_bytes} bytes")


def read_config(path: object, *, max_bytes: int = MAX_CONFIG_BYTES) -> tuple[str, bytes]:
    """``(source, data)``: the name of the config file at ``path`` and its bytes, read at
    most one byte past ``max_bytes`` (``st_size`` is 0 for ``/dev/zero``, a pipe or
    ``/proc`` files, so a check of it alone would read an endless stream). A path that
    is not a ``str``/``os.PathLike`` or holds a NUL byte, a missing, unreadable or
    too large file: a :class:`~childsafe.exceptions.ConfigurationError` naming it."""

    def refuse(source: str, message: str) -> ConfigurationError:
        return ConfigurationError([ConfigProblem(source, "", message)])

    if not isinstance(path, str | os.PathLike):
        raise refuse("<path>", f"expected a file path (str or os.PathLike), got {shown(path)}")
    try:
        source = os.fsdecode(os.fspath(path))
    except (TypeError, UnicodeDecodeError) as e:
        raise refuse("<path>", f"not a usable file path ({e})") from None
    if "\x00" in source:
        raise refuse(repr(source), "a NUL byte in the path")
    try:
        with open(source, "rb") as f:  # noqa: PTH123 - plain file read
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise refuse(source, "no such file") from None
    except OSError as e:
        raise refuse(source, f"cannot read: {e}") from None
    if len(data) > max_bytes:
        raise refuse(source, f"larger than {max_bytes} bytes")
    return source, data


def load_json(
    text: str | bytes, *, max_bytes: int = MAX_CONFIG_BYTES, max_depth: int = MAX_DEPTH
) -> Any:  # noqa: ANN401 - JSON is any JSON value
    """Parse JSON with a size and depth limit, refusing repeated keys and NaN/Infinity.
    A leading UTF-8 byte-order mark (as Windows editors save) is ignored."""
    _size(text, max_bytes)
    try:
        value = json.loads(_without_bom(text), object_pairs_hook=_unique, parse_constant=_constant)
    except ParseError:
        raise
    except RecursionError:
        raise ParseError(f"nested more than {max_depth} levels deep") from None
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
        raise ParseError(str(e)) from None
    check_depth(value, max_depth)
    return value


def load_toml(
    text: str, *, max_bytes: int = MAX_CONFIG_BYTES, max_depth: int = MAX_DEPTH
) -> dict[str, Any]:
    """Parse TOML with a size and depth limit (TOML itself refuses repeated keys). A
    leading byte-order mark is ignored."""
    _size(text, max_bytes)
    text = text.removeprefix("\ufeff")  # see _without_bom
    try:
        value = tomllib.loads(text)
    except RecursionError:
        raise ParseError(f"nested more than {max_depth} levels deep") from None
    except ValueError as e:  # TOMLDecodeError, and int's 4,300-digit limit
        raise ParseError(str(e)) from None
    check_depth(value, max_depth)
    return value
