"""PDQ perceptual hashing of still images, decoded safely with Pillow.

PDQ (Meta's open perceptual hash, the one ThreatExchange and the Hasher-Matcher-Actioner
share lists of) turns an image into 256 bits that change little when the image is
resized, recompressed or lightly edited; two images are "the same" when the Hamming
distance between their hashes is small. Hashing needs ``pip install 'childsafe[media]'``
(Pillow, NumPy and the ``pdqhash`` bindings).

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs

from childsafe.exceptions import MissingExtraError
from childsafe.media._errors import ImageError, MediaConfigError

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "DEFAULT_MAX_FRAMES",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_REDUCE_TO",
    "IMAGE_FORMATS",
    "PDQHash",
    "hamming",
    "load_image",
    "pdq_frames",
    "pdq_hash",
]

DEFAULT_MAX_PIXELS: Final = 50_000_000
"""Images with more pixels than this (50 megapixels) are refused before decoding: a
small file can declare a huge image (a decompression bomb)."""

DEFAULT_REDUCE_TO: Final = 1024
"""Images whose longer side is at least twice this are shrunk by a whole factor before
hashing (see :func:`pdq_hash`)."""

IMAGE_FORMATS: Final[tuple[str, ...]] = ("BMP", "GIF", "JPEG", "PNG", "TIFF", "WEBP")
"""The still-image formats decoded by default (Pillow's format names); anything else is
refused as not an image. :func:`pdq_hash` hashes the first frame of an animated GIF,
WebP or PNG (or a multi-page TIFF); :func:`pdq_frames` and
:class:`~childsafe.media.MediaScreen` hash every frame."""

DEFAULT_MAX_FRAMES: Final = 256
"""The most frames an animated image (or pages a TIFF) may have for
:class:`~childsafe.media.MediaScreen` to inspect it; one with more is refused, since
frames left unchecked could carry anything."""

_HEX64: Final = re.compile(r"^[0-9a-f]{64}$")


def _pil() -> Any:  # noqa: ANN401 - Pillow is imported lazily
    try:
        from PIL import Image, ImageOps  # noqa: PLC0415 - the extra is imported only when used
    except ImportError as e:
        raise MissingExtraError(
            "image decoding needs Pillow: pip install 'childsafe[media]'"
        ) from e
    return Image, ImageOps


def _pdq() -> tuple[Any, Any]:
    try:
        import numpy as np  # noqa: PLC0415
        import pdqhash  # noqa: PLC0415
    except ImportError as e:
        raise MissingExtraError(
            "PDQ hashing needs numpy and pdqhash: pip install 'childsafe[media]'"
        ) from e
    return np, pdqhash


@attrs.frozen(slots=True)
class PDQHash:
    """An image's PDQ hash as 64 lower-case hex digits (the format ThreatExchange and
    hash lists use) and PDQ's quality score, 0-100 (below about 50 the image is too
    plain for its hash to mean much)."""

    hex: str
    quality: int

    def distance(self, other: PDQHash | str) -> int:
        """The Hamming distance to ``other`` (a hash or 64 hex digits)."""
        return hamming(self.hex, other if isinstance(other, str) else other.hex)


def hamming(a: str, b: str) -> int:
    """The Hamming distance between two PDQ hashes given as 64 hex digits; raises
    :class:`ValueError` for anything else."""
    for value in (a, b):
        given: object = value
        if not isinstance(given, str) or not _HEX64.fullmatch(given.lower()):
            raise ValueError(f"expected 64 hex digits, got {value!r}")
    return (int(a, 16) ^ int(b, 16)).bit_count()


def check_reduce_to(reduce_to: int | None) -> int | None:
    given: object = reduce_to
    if given is not None and (isinstance(given, bool) or not isinstance(given, int) or given < 64):
        raise MediaConfigError(f"reduce_to: expected None or at least 64, got {reduce_to!r}")
    return reduce_to


def check_formats(formats: Iterable[str]) -> tuple[str, ...]:
    """``formats`` as a tuple of upper-case Pillow format names; a string on its own,
    an empty collection or a name Pillow does not decode is a
    :class:`~childsafe.media.MediaConfigError` (each would refuse every image)."""
    given: object = formats
    if isinstance(given, str | bytes) or not isinstance(given, Iterable):
        raise MediaConfigError(
            f"formats: expected a collection of format names such as ('JPEG', 'PNG'), "
            f"got {given!r:.60}"
        )
    names = tuple(given)
    if not names:
        raise MediaConfigError("formats: empty, so every image would be refused")
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise MediaConfigError(f"formats: expected format names, got {name!r:.60}")
    upper = tuple(n.strip().upper() for n in names)
    try:
        from PIL import Image as image_mod  # noqa: PLC0415, N813 - the extra is optional here
    except ImportError:  # pragma: no cover - checked when an image is decoded
        return upper
    image_mod.init()
    unknown = [n for n in upper if n not in image_mod.OPEN]
    if unknown:
        raise MediaConfigError(
            f"formats: {unknown[0]!r} is not an image format Pillow decodes "
            f"(the default is {', '.join(IMAGE_FORMATS)})"
        )
    return upper


def _check_limit(max_pixels: int) -> int:
    given: object = max_pixels
    if isinstance(given, bool) or not isinstance(given, int) or given < 1:
        raise MediaConfigError(f"max_pixels: expected a positive integer, got {max_pixels!r}")
    return given


def load_image(
    source: str | os.PathLike[str] | bytes | Image.Image,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    formats: Iterable[str] = IMAGE_FORMATS,
) -> Image.Image:
    """Decode ``source`` (a path, the file's bytes, or a Pillow image) into an RGB image,
    safely: only ``formats`` are accepted, an image declaring more than ``max_pixels``
    pixels is refused before its pixels are decoded, a truncated file is an error (never
    padded out), the EXIF orientation is applied, and any mode (palette, grey, CMYK,
    16-bit, with transparency: composited on white) becomes RGB. Every failure raises
    :class:`~childsafe.media.ImageError` saying what is wrong."""
    image_mod, image_ops = _pil()
    limit = _check_limit(max_pixels)
    accepted = formats if formats is IMAGE_FORMATS else check_formats(formats)
    image: Any
    given: object = source
    if not isinstance(given, str | os.PathLike | bytes | bytearray | memoryview | image_mod.Image):
        raise ImageError(
            f"expected a path, the file's bytes or a Pillow image, got {type(given).__name__}"
        )
    if isinstance(source, image_mod.Image):
        image = source
        name = "<image>"
    else:
        image, name = _open_image(source, accepted, image_mod)
    try:
        return _decoded(image, name, limit, image_mod, image_ops)
    finally:
        if image is not source:
            image.close()  # the file Pillow opened; the result is a new image


def _decoded(
    image: Any,  # noqa: ANN401 - Pillow is imported lazily
    name: str,
    limit: int,
    image_mod: Any,  # noqa: ANN401
    image_ops: Any,  # noqa: ANN401
) -> Image.Image:
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageError(f"{name}: the image has no pixels ({width}x{height})")
    if width * height > limit:
        raise ImageError(
            f"{name}: {width}x{height} is {width * height} pixels, more than the limit of {limit}"
        )
    try:
        image.load()
        image = image_ops.exif_transpose(image)
        if image.mode in ("RGBA", "LA", "PA") or (
            image.mode == "P" and "transparency" in image.info
        ):
            rgba = image.convert("RGBA")
            flat = image_mod.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            return flat  # type: ignore[no-any-return]
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            # 16/32-bit grey: scale into 8 bits rather than clipping it to white
            image = image.point(lambda v: v / 256).convert("L")
        return image.convert("RGB")  # type: ignore[no-any-return]
    except (OSError, ValueError, SyntaxError, MemoryError, Warning) as e:
        raise ImageError(f"{name}: the image could not be decoded ({e})") from None


def pdq_hash(
    source: str | os.PathLike[str] | bytes | Image.Image,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    formats: Iterable[str] = IMAGE_FORMATS,
    reduce_to: int | None = DEFAULT_REDUCE_TO,
) -> PDQHash:
    """The PDQ hash and quality of ``source`` (a path, the file's bytes or a Pillow
    image), decoded with :func:`load_image`.

    ``reduce_to``: an image whose longer side is at least twice this is first shrunk by
    a whole factor (averaging blocks of pixels, as PDQ's own downsampling does) to a
    longer side of at least ``reduce_to``: a 12-megapixel photo hashes about four times
    faster, and its hash moves by 0 to 10 bits in the tests (well within the
    threshold). ``None`` hashes every pixel.

    >>> from PIL import Image
    >>> h = pdq_hash(Image.new("RGB", (64, 64), "white"))
    >>> len(h.hex), h.quality
    (64, 0)
    """
    _pdq()
    check_reduce_to(reduce_to)
    rgb = load_image(source, max_pixels=max_pixels, formats=formats)
    return _hash_rgb(_reduced(rgb, reduce_to))


def _reduced(rgb: Image.Image, reduce_to: int | None) -> Image.Image:
    if reduce_to is not None:
        factor = max(rgb.size) // reduce_to
        if factor >= 2:
            return rgb.reduce(factor)
    return rgb


def _hash_rgb(rgb: Image.Image) -> PDQHash:
    np, pdqhash = _pdq()
    pixels = np.asarray(rgb, dtype=np.uint8)
    bits, quality = pdqhash.compute(pixels)
    # pdqhash gives the 256 bits most significant first: the hex the reference
    # implementation and ThreatExchange print.
    digest = np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes()
    return PDQHash(digest.hex(), int(quality))


def _open_image(
    path: object,
    accepted: Iterable[str],
    image_mod: Any,  # noqa: ANN401 - Pillow is imported lazily
) -> tuple[Any, str]:
    """``path`` (a path or the file's bytes) opened by Pillow (its header read, no
    pixels decoded), and its name for errors; what cannot be opened raises
    :class:`~childsafe.media.ImageError`."""
    given: object = path
    if isinstance(given, bytes | bytearray | memoryview):
        stream: Any = io.BytesIO(bytes(given))
        name = "<bytes>"
    elif isinstance(given, str | os.PathLike):
        stream = Path(os.fspath(given))
        name = str(stream)
    else:
        raise ImageError(f"expected a path or the file's bytes, got {type(given).__name__}")
    try:
        image = image_mod.open(stream, formats=accepted)
    except image_mod.DecompressionBombError as e:
        raise ImageError(f"{name}: more pixels than allowed ({e})") from None
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    except (image_mod.UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise ImageError(f"{name}: not an image in an accepted format ({e})") from None
    except Warning as e:  # a DecompressionBombWarning turned into an error
        raise ImageError(f"{name}: more pixels than allowed ({e})") from None
    return image, name


def pdq_frames(
    path: str | os.PathLike[str] | bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    formats: Iterable[str] = IMAGE_FORMATS,
    reduce_to: int | None = DEFAULT_REDUCE_TO,
    max_frames: int = DEFAULT_MAX_FRAMES,
) -> Iterator[tuple[PDQHash, Image.Image]]:
    """The PDQ hash of every frame of an image (a path or the file's bytes), in order,
    each with the frame as decoded (RGB, shrunk as for hashing): one for a still image,
    each frame of an animated GIF, WebP or PNG, each page of a TIFF.

    Decoded as :func:`load_image` decodes, and the whole image is checked before its
    first frame is decoded: more than ``max_frames`` frames, or frames together holding
    more than ``max_pixels`` pixels, raise :class:`~childsafe.media.ImageError` (a long
    animation of large frames is a decompression bomb over time), as does a frame that
    cannot be decoded (a truncated animation is never cut short silently)."""
    image_mod, image_ops = _pil()
    _pdq()
    limit = _check_limit(max_pixels)
    check_reduce_to(reduce_to)
    count: object = max_frames
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise MediaConfigError(f"max_frames: expected a positive integer, got {max_frames!r}")
    accepted = formats if formats is IMAGE_FORMATS else check_formats(formats)
    image, name = _open_image(path, accepted, image_mod)
    with image:
        try:
            frames = int(getattr(image, "n_frames", 1))
        except (OSError, ValueError, SyntaxError, EOFError, Warning) as e:
            raise ImageError(f"{name}: the frames could not be counted ({e})") from None
        if frames > count:
            raise ImageError(
                f"{name}: {frames} frames, more than the limit of {count}: frames left "
                "unchecked could show anything"
            )
        width, height = image.size
        if frames > 1 and width * height * frames > limit:
            raise ImageError(
                f"{name}: {frames} frames of {width}x{height} are "
                f"{width * height * frames} pixels, more than the limit of {limit}"
            )
        total = 0
        for i in range(frames):
            if i:
                try:
                    image.seek(i)
                except (OSError, ValueError, SyntaxError, EOFError, Warning) as e:
                    raise ImageError(
                        f"{name}: frame {i + 1} of {frames} could not be read ({e})"
                    ) from None
            # The pages of a TIFF each have a size of their own: a tiny first page said
            # nothing about the rest, so the pixels are counted frame by frame too.
            width, height = image.size
            total += width * height
            if frames > 1 and total > limit:
                raise ImageError(
                    f"{name}: frames 1 to {i + 1} of {frames} hold {total} pixels, more than "
                    f"the limit of {limit}"
                )
            rgb = _reduced(_decoded(image, name, limit, image_mod, image_ops), reduce_to)
            yield _hash_rgb(rgb), rgb
