"""How the observation suite reads a response and finds a canary in it: decompressed,
in every form a leak takes (raw, HTML entities, JSON ``\\u`` escapes, URL encoding),
coordinates rounded to 1-3 decimals and the place name they stand for.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import gzip
import html
import re
import zlib
from collections.abc import Iterable
from typing import Final
from urllib.parse import unquote_plus

import attrs

__all__ = ["Canary", "body_text", "forms_of", "found_in"]

_U_ESCAPE: Final = re.compile(r"\\(u[0-9a-fA-F]{4}|[\"\\/bfnrt])")
_SIMPLE: Final = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_NUMERIC: Final = re.compile(r"-?\d+\.\d+")


def body_text(content: bytes) -> str:
    """The text of a response body, decompressed when it is gzip or zlib data that the
    transport did not decode (a gzip file served as ``application/gzip``, a body
    compressed twice), decoded as UTF-8 with replacement."""
    data = content
    for _ in range(3):
        if data[:2] == b"\x1f\x8b":
            try:
                data = gzip.decompress(data)
                continue
            except (OSError, EOFError, zlib.error):
                break
        if data[:1] == b"\x78" and len(data) > 2 and (data[0] * 256 + data[1]) % 31 == 0:
            try:
                data = zlib.decompress(data)
                continue
            except zlib.error:
                break
        break
    return data.decode("utf-8", errors="replace")


def _json_unescape(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        escape = m.group(1)
        if escape.startswith("u"):
            return chr(int(escape[1:], 16))
        return _SIMPLE.get(escape, escape)

    # Surrogate pairs come out as two lone surrogates: re-encode them as one character.
    out = _U_ESCAPE.sub(one, text)
    return out.encode("utf-16", "surrogatepass").decode("utf-16", errors="replace")


def forms_of(text: str) -> tuple[str, ...]:
    """``text`` as a reader could decode it: raw, with HTML entities, JSON ``\\u``
    escapes and URL encoding undone, alone and together, each lower-cased."""
    forms = {text}
    for _ in range(2):
        decoded = [f(form) for form in forms for f in (html.unescape, _json_unescape, unquote_plus)]
        forms.update(decoded)
    return tuple(f.lower() for f in forms)


@attrs.frozen
class Canary:
    """One planted value: ``kind`` (``name``, ``location``, ``connection``,
    ``message``), the strings that betray it (any one found is a leak) and, for a
    location, its coordinates (any pair of them rounded to 1-3 decimals is a leak)."""

    kind: str
    owner: str
    needles: tuple[str, ...]
    coordinates: tuple[float, float] | None = None

    def find(self, forms: Iterable[str]) -> str | None:
        """What of the canary the decoded ``forms`` show (``None``: nothing)."""
        needles = [n.lower() for n in self.needles if n]
        for form in forms:
            for needle in needles:
                if needle in form:
                    return needle
            if self.coordinates is not None:
                shown = _coordinates_in(form, self.coordinates)
                if shown is not None:
                    return shown
        return None


def _rounded(value: float) -> set[str]:
    out = set()
    for places in (1, 2, 3, 4, 5, 6):
        out.add(f"{value:.{places}f}")
        whole, _, frac = f"{value:.6f}".partition(".")
        out.add(f"{whole}.{frac[:places]}")  # truncated rather than rounded
    return out


def _coordinates_in(form: str, coordinates: tuple[float, float]) -> str | None:
    """A latitude and longitude of ``coordinates``, rounded or truncated to at least
    one decimal, both in ``form`` (numbers matched whole, so ``51.1`` is not found in
    ``151.17``)."""
    numbers = set(_NUMERIC.findall(form))
    if not numbers:
        return None
    lat, lon = coordinates
    lats, lons = _rounded(lat) & numbers, _rounded(lon) & numbers
    if lats and lons:
        return f"{max(lats, key=len)},{max(lons, key=len)}"
    return None


def found_in(content: bytes, canaries: Iterable[Canary]) -> list[tuple[Canary, str]]:
    """Every canary of ``canaries`` that ``content`` shows, with what showed it."""
    forms = forms_of(body_text(content))
    return [(c, shown) for c in canaries if (shown := c.find(forms)) is not None]
