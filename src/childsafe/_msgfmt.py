"""Read gettext ``.po`` catalogues and compile them to ``.mo`` files, as GNU ``msgfmt``
(and CPython's ``Tools/i18n/msgfmt.py``) do, for the subset childsafe's catalogues use:
one ``msgid`` and one ``msgstr`` per entry, strings continued over several lines,
comments, and the usual escapes. No plural forms and no contexts.

The ``.mo`` files are committed next to their ``.po`` sources so that the wheel needs no
build step; ``tests/test_messages.py`` checks they are up to date. After editing a
``.po`` file, run::

    python -m childsafe._msgfmt

The output is deterministic (entries sorted, little-endian), so the same ``.po`` always
gives the same bytes.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Final

__all__ = ["compile_mo", "locale_dir", "main", "parse_po"]

_MAGIC: Final = 0x950412DE
_ESCAPES: Final = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def _unquote(text: str, where: str) -> str:
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise ValueError(f"{where}: expected a quoted string, got {text!r}")
    out: list[str] = []
    chars = iter(text[1:-1])
    for char in chars:
        if char == "\\":
            escaped = next(chars, "")
            if escaped not in _ESCAPES:
                raise ValueError(f"{where}: unknown escape \\{escaped}")
            out.append(_ESCAPES[escaped])
        else:
            out.append(char)
    return "".join(out)


def parse_po(text: str, source: str = "<po>") -> dict[str, str]:
    """The ``msgid -> msgstr`` entries of a ``.po`` file (the header under ``""``).

    >>> parse_po('msgid "a"\\nmsgstr ""\\n"b\\\\n"\\n"c"\\n')
    {'a': 'b\\nc'}
    """
    entries: dict[str, str] = {}
    msgid: str | None = None
    msgstr: str | None = None
    field: str | None = None

    def flush(where: str) -> None:
        nonlocal msgid, msgstr
        if msgid is None:
            return
        if msgstr is None:
            raise ValueError(f"{where}: msgid {msgid!r} has no msgstr")
        if msgid in entries:
            raise ValueError(f"{where}: duplicate msgid {msgid!r}")
        entries[msgid] = msgstr
        msgid = msgstr = None

    for number, raw in enumerate(text.splitlines(), start=1):
        where = f"{source}:{number}"
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("msgid "):
            flush(where)
            msgid, field = _unquote(line[6:].strip(), where), "msgid"
        elif line.startswith("msgstr "):
            if msgid is None or msgstr is not None:
                raise ValueError(f"{where}: msgstr without its msgid")
            msgstr, field = _unquote(line[7:].strip(), where), "msgstr"
        elif line.startswith('"'):
            if field == "msgid" and msgid is not None:
                msgid += _unquote(line, where)
            elif field == "msgstr" and msgstr is not None:
                msgstr += _unquote(line, where)
            else:
                raise ValueError(f"{where}: a continued string outside an entry")
        else:
            raise ValueError(
                f"{where}: unsupported line {line!r} (plural forms and contexts are not used)"
            )
    flush(f"{source}:end")
    return entries


def compile_mo(entries: Mapping[str, str]) -> bytes:
    """The GNU ``.mo`` bytes for ``entries`` (untranslated entries, with an empty
    ``msgstr``, are left out as ``msgfmt`` does, except the header)."""
    kept = {k: v for k, v in entries.items() if v or k == ""}
    keys = sorted(kept, key=lambda k: k.encode())
    ids = b""
    strs = b""
    spans: list[tuple[int, int, int, int]] = []
    for key in keys:
        key_bytes, value_bytes = key.encode(), kept[key].encode()
        spans.append((len(ids), len(key_bytes), len(strs), len(value_bytes)))
        ids += key_bytes + b"\0"
        strs += value_bytes + b"\0"
    header_size = 7 * 4
    key_start = header_size + 16 * len(keys)
    value_start = key_start + len(ids)
    key_table = b"".join(
        struct.pack("<2I", length, offset + key_start) for offset, length, _, _ in spans
    )
    value_table = b"".join(
        struct.pack("<2I", length, offset + value_start) for _, _, offset, length in spans
    )
    header = struct.pack(
        "<7I", _MAGIC, 0, len(keys), header_size, header_size + 8 * len(keys), 0, 0
    )
    return header + key_table + value_table + ids + strs


def locale_dir() -> Path:
    """The folder of childsafe's catalogues: ``<lang>/LC_MESSAGES/childsafe.po``."""
    return Path(__file__).parent / "locale"


def main(argv: list[str] | None = None) -> int:
    """Compile every ``.po`` under :func:`locale_dir` to its ``.mo``; with ``--check``,
    only report the ``.mo`` files that are out of date (exit 1 if any)."""
    check = "--check" in (argv if argv is not None else sys.argv[1:])
    stale = []
    for po in sorted(locale_dir().glob("*/LC_MESSAGES/*.po")):
        compiled = compile_mo(parse_po(po.read_text(encoding="utf-8"), str(po)))
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.read_bytes() == compiled:
            continue
        stale.append(mo)
        if not check:
            mo.write_bytes(compiled)
    for mo in stale:
        print(f"{'out of date' if check else 'wrote'}: {mo}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
