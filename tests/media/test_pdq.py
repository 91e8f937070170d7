"""PDQ hashing: safe decoding, robustness to everyday edits, distinct images apart."""

from __future__ import annotations

import io
import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pdqhash
import pytest
from PIL import Image

from childsafe.exceptions import MissingExtraError
from childsafe.media import (
    DEFAULT_THRESHOLD,
    ImageError,
    MediaConfigError,
    PDQHash,
    hamming,
    load_image,
    pdq_hash,
)
from tests.media.support import TRANSFORMS, crop, image_bytes, overlay, pictures, sample

PICTURES = pictures()


class TestHash:
    def test_hex_and_quality(self) -> None:
        """A photo hashes to 64 lower-case hex digits with a high quality."""
        h = pdq_hash(sample("astronaut"))
        assert len(h.hex) == 64
        assert h.hex == h.hex.lower()
        int(h.hex, 16)
        assert h.quality >= 80

    def test_same_from_path_bytes_and_image(self, tmp_path: Path) -> None:
        """A file, its bytes and the decoded image give the same hash."""
        image = sample("coffee")
        raw = image_bytes(image)
        path = tmp_path / "coffee.png"
        path.write_bytes(raw)
        assert pdq_hash(path) == pdq_hash(raw) == pdq_hash(image) == pdq_hash(str(path))

    def test_bit_order_is_the_reference_hex(self) -> None:
        """The hex is the pdqhash bit vector read most significant bit first, the way
        the reference implementation prints (and hash lists carry) PDQ hashes."""
        image = sample("chelsea")
        bits, _ = pdqhash.compute(np.asarray(image))
        expected = "".join(str(int(b)) for b in bits)
        assert int(pdq_hash(image).hex, 16) == int(expected, 2)

    def test_hamming(self) -> None:
        """Distance counts differing bits and refuses what is not a hash."""
        assert hamming("0" * 64, "0" * 63 + "f") == 4
        assert PDQHash("f" * 64, 100).distance("0" * 64) == 256
        with pytest.raises(ValueError, match="64 hex digits"):
            hamming("0" * 63, "0" * 64)


@pytest.mark.parametrize(
    ("name", "edit"),
    [
        (name, edit)
        for name in sorted(PICTURES)
        for edit in sorted(TRANSFORMS)
        # the documented exception: test_bright_overlay_on_a_dark_picture
        if (name, edit) != ("rocket", "small overlay")
    ],
)
def test_matches_survive_everyday_edits(name: str, edit: str) -> None:
    """Resizing to half size, JPEG quality 30, small overlays and crops of at most 2 %
    stay within the default threshold of the original."""
    original = PICTURES[name]
    edited = TRANSFORMS[edit](original)
    assert pdq_hash(original).distance(pdq_hash(edited)) <= DEFAULT_THRESHOLD


def test_bright_overlay_on_a_dark_picture() -> None:
    """The one edit of the set that PDQ does not survive: a white caption box over the
    rocket photo's dark, plain night sky (half a percent of the picture) flips more
    bits than the threshold. Documented in docs/media.md as a limit of PDQ."""
    rocket = PICTURES["rocket"]
    assert pdq_hash(rocket).distance(pdq_hash(overlay(rocket))) > DEFAULT_THRESHOLD


def test_distinct_images_do_not_match() -> None:
    """No two different pictures are within the threshold of each other."""
    hashes = {name: pdq_hash(image) for name, image in PICTURES.items()}
    for (a, ha), (b, hb) in itertools.combinations(hashes.items(), 2):
        assert ha.distance(hb) > DEFAULT_THRESHOLD, (a, b, ha.distance(hb))


@pytest.mark.parametrize("fraction", [0.10, 0.25])
def test_larger_crops_are_beyond_pdq(fraction: float) -> None:
    """Cropping a tenth or a quarter of the picture away moves the hash past the
    threshold for every test picture: PDQ is not crop-resistant (docs/media.md)."""
    near = [
        name
        for name, image in PICTURES.items()
        if pdq_hash(image).distance(pdq_hash(crop(image, fraction))) <= DEFAULT_THRESHOLD
    ]
    assert near == []


class TestReduce:
    @pytest.mark.parametrize("name", ["astronaut", "coffee", "camera", "scene 0"])
    def test_large_photos_are_reduced_first(self, name: str) -> None:
        """A 4000-pixel-wide photo is shrunk by a whole factor before hashing; its hash
        stays within 10 bits of hashing every pixel and within the threshold of the
        original picture."""
        original = PICTURES[name]
        w, h = original.size
        big = original.resize((4000, 4000 * h // w), Image.Resampling.BICUBIC)
        reduced, full = pdq_hash(big), pdq_hash(big, reduce_to=None)
        assert reduced.distance(full) <= 10
        assert reduced.distance(pdq_hash(original)) <= DEFAULT_THRESHOLD

    def test_small_images_are_not_reduced(self) -> None:
        """Below twice the size, nothing changes."""
        image = sample("astronaut").resize((2000, 2000))
        assert pdq_hash(image) == pdq_hash(image, reduce_to=None)

    def test_bad_reduce_to(self) -> None:
        """reduce_to below 64 is a configuration error."""
        with pytest.raises(MediaConfigError, match="reduce_to"):
            pdq_hash(b"", reduce_to=10)


class TestSafeDecoding:
    def test_not_an_image(self) -> None:
        """Bytes that are no image give ImageError, never a Pillow exception."""
        with pytest.raises(ImageError, match="not an image"):
            pdq_hash(b"%PDF-1.7 hello")

    def test_truncated(self) -> None:
        """A truncated JPEG is refused, not padded out."""
        raw = image_bytes(sample("astronaut"), "JPEG", quality=90)
        with pytest.raises(ImageError, match=r"could not be decoded|not an image"):
            pdq_hash(raw[: len(raw) // 2])

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file says so."""
        with pytest.raises(ImageError, match="no such file"):
            pdq_hash(tmp_path / "nope.png")

    def test_pixel_limit(self) -> None:
        """An image with more pixels than allowed is refused before decoding."""
        raw = image_bytes(Image.new("RGB", (2000, 1000)))
        with pytest.raises(ImageError, match="2000x1000 is 2000000 pixels, more than the limit"):
            pdq_hash(raw, max_pixels=1_000_000)
        assert len(pdq_hash(raw, max_pixels=2_000_000).hex) == 64

    def test_decompression_bomb(self) -> None:
        """A small PNG declaring a huge canvas is refused without decoding it."""
        raw = image_bytes(Image.new("1", (20000, 20000)))
        assert len(raw) < 100_000
        with pytest.raises(ImageError, match="pixels"):
            pdq_hash(raw)

    def test_bad_limit(self) -> None:
        """A pixel limit that is not a positive integer is a configuration error."""
        with pytest.raises(MediaConfigError, match="max_pixels"):
            pdq_hash(b"", max_pixels=0)

    def test_source_of_the_wrong_kind(self) -> None:
        """A source that is no path, bytes or image was a TypeError from os.fspath."""
        for bad in (None, 5, ["a.png"]):
            with pytest.raises(ImageError, match="expected a path, the file's bytes"):
                pdq_hash(bad)  # type: ignore[arg-type]

    def test_formats_checked(self) -> None:
        """formats=None was a TypeError, "PNG" was read as "P", "N", "G" and refused
        every image as not an image."""
        raw = image_bytes(sample("coffee"), "PNG")
        for bad in (None, "PNG", (), ("BOGUS",)):
            with pytest.raises(MediaConfigError, match="formats"):
                pdq_hash(raw, formats=bad)  # type: ignore[arg-type]
        assert pdq_hash(raw, formats=["png"]).hex == pdq_hash(raw).hex

    def test_format_allow_list(self) -> None:
        """Formats outside the allow-list are refused."""
        raw = image_bytes(sample("coffee"), "PNG")
        with pytest.raises(ImageError, match="not an image in an accepted format"):
            pdq_hash(raw, formats=("JPEG",))

    def test_exif_orientation_applied(self) -> None:
        """A JPEG stored sideways with an EXIF orientation hashes like the upright
        picture."""
        upright = sample("astronaut")
        sideways = upright.transpose(Image.Transpose.ROTATE_90)
        exif = Image.Exif()
        exif[0x0112] = 6  # "rotate 90 clockwise to view": undoes ROTATE_90
        raw = image_bytes(sideways, "JPEG", quality=95, exif=exif.tobytes())
        assert load_image(raw).size == upright.size
        assert pdq_hash(raw).distance(pdq_hash(upright)) <= 10

    @pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA", "CMYK", "1", "I;16"])
    def test_any_mode(self, mode: str) -> None:
        """Grey, palette, transparent, CMYK, 1-bit and 16-bit images are all hashed."""
        base = sample("coffee")
        if mode == "I;16":  # the full 16-bit range, as a scanner or a camera writes it
            image = Image.fromarray(np.asarray(base.convert("L"), dtype=np.uint16) * 257)
        else:
            image = base.convert(mode)
        fmt = "TIFF" if mode == "CMYK" else "PNG"
        h = pdq_hash(image_bytes(image, fmt))
        assert h.quality > 0
        if mode in ("L", "P", "RGBA", "CMYK"):
            assert h.distance(pdq_hash(base)) <= DEFAULT_THRESHOLD

    def test_animated_gif_first_frame(self) -> None:
        """An animated GIF is hashed on its first frame."""
        frames = [sample("coffee").convert("P"), sample("chelsea").convert("P")]
        out = io.BytesIO()
        frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:])
        h = pdq_hash(out.getvalue())
        assert h.distance(pdq_hash(sample("coffee"))) <= DEFAULT_THRESHOLD


def test_import_without_the_extras(tmp_path: Path) -> None:
    """`import childsafe.media` works without Pillow, numpy or pdqhash; hashing then
    raises MissingExtraError naming the extra."""
    script = tmp_path / "no_extras.py"
    script.write_text(
        "import sys\n"
        "for name in ('PIL', 'numpy', 'pdqhash', 'nudenet'):\n"
        "    sys.modules[name] = None\n"
        "import childsafe.media as m\n"
        "from childsafe.exceptions import MissingExtraError\n"
        "for call in (lambda: m.pdq_hash(b'x'), lambda: m.HashMatcher([]),\n"
        "             lambda: m.NudeNetClassifier().classify(__import__('pathlib').Path('x'))):\n"
        "    try:\n"
        "        call()\n"
        "    except MissingExtraError as e:\n"
        "        print(e)\n"
        "m.HashList.from_entries('l', ['0' * 64])\n"
        "m.EvidenceVault()\n"
    )
    src = Path(__file__).resolve().parents[2] / "src"
    done = subprocess.run(  # noqa: S603 - this interpreter, a file the test wrote
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(src)},
    )
    lines = done.stdout.splitlines()
    assert len(lines) == 3, done.stdout + done.stderr
    assert all("childsafe[media]" in ln or "childsafe[nudenet]" in ln for ln in lines)
    assert MissingExtraError.__mro__[1].__name__ == "ChildsafeError"
