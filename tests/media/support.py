"""Images the media tests use: generated scenes and the sample photos that ship inside
scikit-image's wheel (no downloads). Never anything sexual."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Final

import numpy as np
from PIL import Image, ImageDraw
from skimage import data

from childsafe.testing.media import scene

SAMPLES: Final = ("astronaut", "coffee", "chelsea", "rocket", "camera", "horse")
"""scikit-image sample photos shipped in its wheel."""


def sample(name: str) -> Image.Image:
    """A scikit-image sample photo as an RGB Pillow image."""
    pixels = np.asarray(getattr(data, name)())
    if pixels.dtype == bool:
        pixels = pixels.astype(np.uint8) * 255
    return Image.fromarray(pixels).convert("RGB")


def image_bytes(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def half(image: Image.Image) -> Image.Image:
    w, h = image.size
    return image.resize((w // 2, h // 2), Image.Resampling.LANCZOS)


def jpeg30(image: Image.Image) -> Image.Image:
    return Image.open(io.BytesIO(image_bytes(image, "JPEG", quality=30))).convert("RGB")


def overlay(image: Image.Image) -> Image.Image:
    """A small caption box and a sticker: about half a percent of the picture."""
    out = image.copy()
    w, h = out.size
    draw = ImageDraw.Draw(out)
    draw.rectangle((w - w // 12, h - h // 20, w - 4, h - 4), fill=(255, 255, 255))
    draw.text((w - w // 12 + 2, h - h // 20), "hi", fill=(0, 0, 0))
    r = max(4, w // 60)
    draw.ellipse((8, 8, 8 + 2 * r, 8 + 2 * r), fill=(255, 200, 0))
    return out


def crop(image: Image.Image, fraction: float) -> Image.Image:
    """``image`` with ``fraction`` of its width and height cut off (half each side)."""
    w, h = image.size
    dx, dy = round(w * fraction / 2), round(h * fraction / 2)
    return image.crop((dx, dy, w - dx, h - dy))


def crop2(image: Image.Image) -> Image.Image:
    return crop(image, 0.02)


TRANSFORMS: Final[dict[str, Callable[[Image.Image], Image.Image]]] = {
    "half size": half,
    "JPEG quality 30": jpeg30,
    "small overlay": overlay,
    "2 % crop": crop2,
}


def pictures() -> dict[str, Image.Image]:
    """Sample photos and generated scenes, by name."""
    out = {name: sample(name) for name in SAMPLES}
    for seed in range(4):
        out[f"scene {seed}"] = scene(seed, (480, 360))
    return out
