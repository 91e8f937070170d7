"""Test images and a deterministic classifier for testing media safety without
sensitive images (``pip install 'childsafe[media]'``).

:class:`MarkerClassifier` answers "sensitive" for exactly the images that carry a test
marker, which :func:`mark_sensitive` draws: a block of pure magenta (255, 0, 255),
``MARKER_SIZE`` pixels square, in the image's top-left corner (it survives JPEG
compression and resizing down to half size), and, for PNG files, a ``childsafe-test``
text chunk set to ``sensitive``. :func:`scene` draws harmless generated images that
differ from one seed to the next.

>>> from childsafe.testing.media import MarkerClassifier, mark_sensitive, png_bytes, scene
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> plain, marked = folder / "plain.png", folder / "marked.png"
>>> _ = plain.write_bytes(png_bytes(scene(1)))
>>> _ = marked.write_bytes(png_bytes(mark_sensitive(scene(1))))
>>> MarkerClassifier().classify(plain).sensitive, MarkerClassifier().classify(marked).sensitive
(False, True)

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import io
import random
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Final

from childsafe.media import Classification, load_image

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "MARKER_COLOUR",
    "MARKER_LABEL",
    "MARKER_SIZE",
    "MarkerClassifier",
    "jpeg_bytes",
    "mark_sensitive",
    "png_bytes",
    "scene",
]

MARKER_COLOUR: Final = (255, 0, 255)
"""The marker block's colour."""
MARKER_SIZE: Final = 24
"""The marker block's side in pixels, in the top-left corner."""
MARKER_LABEL: Final = "TEST_MARKER"
"""The label :class:`MarkerClassifier` reports for a marked image."""
_CHUNK: Final = "childsafe-test"
_TOLERANCE: Final = 60


def scene(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A harmless generated picture (sky, ground, sun, houses, trees) that differs
    from one ``seed`` to the next."""
    from PIL import Image, ImageDraw  # noqa: PLC0415 - the media extra

    rnd = random.Random(seed)  # noqa: S311 - pictures, not secrets
    w, h = size
    image = Image.new("RGB", size, (rnd.randrange(90, 200), rnd.randrange(150, 230), 255))
    draw = ImageDraw.Draw(image)
    horizon = rnd.randrange(h // 3, 2 * h // 3)
    draw.rectangle((0, horizon, w, h), fill=(rnd.randrange(40, 120), rnd.randrange(120, 200), 60))
    r = rnd.randrange(h // 12, h // 6)
    sx, sy = rnd.randrange(r, w - r), rnd.randrange(r, max(r + 1, horizon - r))
    draw.ellipse((sx - r, sy - r, sx + r, sy + r), fill=(255, rnd.randrange(180, 240), 0))
    for _ in range(rnd.randrange(3, 7)):
        x = rnd.randrange(0, w - w // 8)
        bw, bh = rnd.randrange(w // 12, w // 5), rnd.randrange(h // 10, h // 3)
        colour = (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))
        draw.rectangle((x, horizon - bh, x + bw, horizon), fill=colour)
        draw.polygon(
            [(x, horizon - bh), (x + bw // 2, horizon - bh - bh // 2), (x + bw, horizon - bh)],
            fill=(rnd.randrange(100, 200), 40, 40),
        )
    for _ in range(rnd.randrange(2, 6)):
        x = rnd.randrange(0, w)
        y = rnd.randrange(horizon, h)
        t = rnd.randrange(6, 18)
        draw.rectangle((x - 2, y - 3 * t, x + 2, y), fill=(90, 60, 30))
        draw.ellipse((x - t, y - 5 * t, x + t, y - 2 * t), fill=(20, rnd.randrange(90, 160), 30))
    return image


def mark_sensitive(image: Image.Image) -> Image.Image:
    """A copy of ``image`` with the test marker drawn in its top-left corner (and the
    PNG text chunk set when saved with :func:`png_bytes`)."""
    from PIL import ImageDraw  # noqa: PLC0415

    marked = image.convert("RGB")
    ImageDraw.Draw(marked).rectangle((0, 0, MARKER_SIZE - 1, MARKER_SIZE - 1), fill=MARKER_COLOUR)
    marked.info[_CHUNK] = "sensitive"
    return marked


def png_bytes(image: Image.Image) -> bytes:
    """``image`` as a PNG file, keeping the test marker's text chunk if it has one."""
    from PIL import PngImagePlugin  # noqa: PLC0415

    info = PngImagePlugin.PngInfo()
    if image.info.get(_CHUNK):
        info.add_text(_CHUNK, str(image.info[_CHUNK]))
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def jpeg_bytes(image: Image.Image, quality: int = 85) -> bytes:
    """``image`` as a JPEG file at ``quality``."""
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=quality)
    return out.getvalue()


class MarkerClassifier:
    """A deterministic :class:`~childsafe.media.Classifier` for tests: sensitive
    (label :data:`MARKER_LABEL`, score 1.0) exactly when the image carries the test
    marker, as a PNG text chunk or as the magenta block in the top-left corner.

    ``error``: raise it on every call instead (to test the protective path).
    ``hold``: wait until this event is set before answering (to test timeouts without
    relying on a clock). ``calls`` counts the calls made."""

    def __init__(
        self, *, error: BaseException | None = None, hold: threading.Event | None = None
    ) -> None:
        self.error = error
        self.hold = hold
        self.calls = 0
        self._lock = threading.Lock()

    def classify(self, path: Path) -> Classification:
        with self._lock:
            self.calls += 1
        if self.hold is not None:
            self.hold.wait()
        if self.error is not None:
            raise self.error
        if self._marked(path):
            return Classification(sensitive=True, labels=((MARKER_LABEL, 1.0),))
        return Classification(sensitive=False)

    @staticmethod
    def _marked(path: Path) -> bool:
        from PIL import Image  # noqa: PLC0415

        with Image.open(path) as raw:
            if raw.info.get(_CHUNK) == "sensitive":
                return True
        image = load_image(path)
        w, h = image.size
        side = min(MARKER_SIZE // 2, w, h)
        if side < 4:
            return False
        # the block's inner part: robust to JPEG ringing at its edges and to halving
        corner = image.crop((1, 1, side - 1, side - 1))
        import numpy as np  # noqa: PLC0415 - the media extra

        mean = np.asarray(corner, dtype=np.float64).reshape(-1, 3).mean(axis=0)
        return bool(np.abs(mean - np.asarray(MARKER_COLOUR)).sum() < _TOLERANCE)
