"""How the observation suite reads a response and finds a canary in it: decompressed,
in every form a leak takes (raw, HTML entities, JSON ``\\u`` escapes, URL encoding),
coordinates rounded or truncated to 1-6 decimals, scaled to whole numbers (``latE7``)
or as a geohash, and the place name they stand for.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import base64
import binascii
import gzip
import html
import io
import re
import zipfile
import zlib
from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Final
from urllib.parse import unquote_plus

import attrs

__all__ = ["Canary", "body_text", "forms_of", "found_in"]

_U_ESCAPE: Final = re.compile(r"\\(u[0-9a-fA-F]{4}|[\"\\/bfnrt])")
_SIMPLE: Final = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_NUMERIC: Final = re.compile(r"-?\d+\.\d+")
_COMMA_DECIMAL: Final = re.compile(r"(?<![\d,.])-?\d{1,3},\d+(?![\d,.])")
"""A number with a decimal comma (``40,012345``, as a German or French locale writes
it), not one of a comma-separated list of numbers."""
_WHOLE: Final = re.compile(r"(?<![\d.])-?\d{6,}(?![\d.])")
_SCALES: Final = (5, 6, 7)
"""Powers of ten by which coordinates are stored as whole numbers (``latE7`` in
Google's APIs, microdegrees, ``E5`` in compact formats)."""


_ZIP_MEMBERS: Final = 64
_ZIP_BYTES: Final = 8 * 1024 * 1024
"""How much of a ZIP archive is read: its first members, up to this many bytes in all
(an export of one account's data is far smaller; a bomb is cut short)."""


def _zip_text(data: bytes) -> str | None:
    """The members of a ZIP archive (a data export, an ``.xlsx``), each read as
    :func:`body_text`, joined; ``None`` when ``data`` is not one."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    texts, left = [], _ZIP_BYTES
    with archive:
        for info in archive.infolist()[:_ZIP_MEMBERS]:
            if left <= 0 or info.is_dir():
                continue
            try:
                with archive.open(info) as member:
                    raw = member.read(left)
            except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError):
                continue
            left -= len(raw)
            texts.append(body_text(raw, unzip=False))  # no archive inside an archive
    return "\n".join(texts)


def body_text(content: bytes, *, unzip: bool = True) -> str:
    """The text of a response body, decompressed when it is gzip or zlib data that the
    transport did not decode (a gzip file served as ``application/gzip``, a body
    compressed twice) or a ZIP archive, decoded as UTF-8 with replacement."""
    data = content
    if unzip and data[:4] == b"PK\x03\x04":
        unzipped = _zip_text(data)
        if unzipped is not None:
            return unzipped
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


_BASE64: Final = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")


def _base64_texts(text: str) -> list[str]:
    """The text inside base64 (standard or URL-safe, padded or not) runs of ``text``:
    a token, an image's properties in its URL, a cursor, a JWT's parts. Runs that do
    not decode to UTF-8 text are left out."""
    out = []
    for run in _BASE64.findall(text):
        for part in run.split("."):
            data = part.rstrip("=")
            alphabet = "-_" if "-" in data or "_" in data else "+/"
            try:
                raw = base64.b64decode(data + "=" * (-len(data) % 4), altchars=alphabet.encode())
                decoded = body_text(raw)
            except (ValueError, binascii.Error):
                continue
            if "\ufffd" not in decoded and all(c.isprintable() or c.isspace() for c in decoded):
                out.append(decoded)
    return out


def forms_of(text: str) -> tuple[str, ...]:
    """``text`` as a reader could decode it: raw, with HTML entities, JSON ``\\u``
    escapes, URL encoding and base64 undone, alone and together, each lower-cased."""
    forms = {text}
    decoded64 = _base64_texts(text)
    if decoded64:
        forms.add("\n".join(decoded64))
    for _ in range(2):
        decoded = [f(form) for form in forms for f in (html.unescape, _json_unescape, unquote_plus)]
        forms.update(decoded)
    return tuple(f.lower() for f in forms)


@attrs.frozen
class Canary:
    """One planted value: ``kind`` (``name``, ``location``, ``connection``,
    ``message``), the strings that betray it (any one found is a leak) and, for a
    location, its coordinates (any pair of them rounded or truncated to 1-6 decimals,
    or scaled to whole numbers by 10^5 to 10^7, or a geohash of 6 to 9 characters, is
    a leak)."""

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
                shown = _coordinates_in(form, self.coordinates) or _geohash_in(
                    form, self.coordinates
                )
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


def _rounded_text(number: str) -> set[str]:
    """A number written with more than six decimals (``40.01234500``,
    ``40.01234436035156``), rounded and truncated to 1-6 decimals."""
    exact = Decimal(number)
    whole, _, frac = number.partition(".")
    out = set()
    for places in (1, 2, 3, 4, 5, 6):
        out.add(str(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)))
        out.add(f"{whole}.{frac[:places]}")
    return out


def _scaled(value: float) -> set[str]:
    """``value`` as a whole number of 10^-5 to 10^-7 degrees, rounded or truncated."""
    exact = Decimal(f"{value:.6f}")
    out = set()
    for scale in _SCALES:
        whole = exact.scaleb(scale)
        for rounding in (ROUND_HALF_EVEN, ROUND_HALF_UP):
            out.add(str(int(whole.to_integral_value(rounding=rounding))))
        out.add(str(int(whole)))  # truncated towards zero
    return {n for n in out if len(n.lstrip("-")) >= 6}


def _coordinates_in(form: str, coordinates: tuple[float, float]) -> str | None:
    """A latitude and longitude of ``coordinates``, rounded or truncated to at least
    one decimal (with a decimal point or comma) or scaled to whole numbers, both in
    ``form`` (numbers matched whole, so ``51.1`` is not found in ``151.17``)."""
    lat, lon = coordinates
    numbers = set(_NUMERIC.findall(form))
    numbers |= {n.replace(",", ".") for n in _COMMA_DECIMAL.findall(form)}
    for number in [n for n in numbers if len(n.partition(".")[2]) > 6]:
        numbers |= _rounded_text(number)  # DECIMAL(10, 8) zeros, float32 noise
    if numbers:
        lats, lons = _rounded(lat) & numbers, _rounded(lon) & numbers
        if lats and lons:
            return f"{max(lats, key=len)},{max(lons, key=len)}"
    wholes = set(_WHOLE.findall(form))
    if wholes:
        lats, lons = _scaled(lat) & wholes, _scaled(lon) & wholes
        if lats and lons:
            return f"{max(lats, key=len)},{max(lons, key=len)}"
    return None


_BASE32: Final = "0123456789bcdefghjkmnpqrstuvwxyz"
_GEOHASH_WORD: Final = re.compile(r"(?<![0-9a-z])[0-9b-hjkmnp-z]{6,12}(?![0-9a-z])")


def geohash(lat: float, lon: float, length: int) -> str:
    """The geohash of ``lat``, ``lon`` in ``length`` characters."""
    bounds = {True: [-180.0, 180.0], False: [-90.0, 90.0]}  # True: a longitude bit
    out, char, bits, lon_bit = "", 0, 0, True
    while len(out) < length:
        low_high, value = bounds[lon_bit], lon if lon_bit else lat
        middle = (low_high[0] + low_high[1]) / 2
        char <<= 1
        if value >= middle:
            char |= 1
            low_high[0] = middle
        else:
            low_high[1] = middle
        lon_bit, bits = not lon_bit, bits + 1
        if bits == 5:
            out, char, bits = out + _BASE32[char], 0, 0
    return out


def _geohash_in(form: str, coordinates: tuple[float, float]) -> str | None:
    """A geohash of ``coordinates``, 6 characters (about 1 km) or more, as a word of
    ``form``."""
    full = geohash(*coordinates, 12)
    words: list[str] = _GEOHASH_WORD.findall(form)
    return next((word for word in words if full.startswith(word)), None)


def found_in(content: bytes, canaries: Iterable[Canary]) -> list[tuple[Canary, str]]:
    """Every canary of ``canaries`` that ``content`` shows, with what showed it."""
    forms = forms_of(body_text(content))
    return [(c, shown) for c in canaries if (shown := c.find(forms)) is not None]
