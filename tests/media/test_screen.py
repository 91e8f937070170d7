"""MediaScreen: matching, classification, fail-closed answers and reloads."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from childsafe.media import (
    Classification,
    HashList,
    MediaConfigError,
    MediaFile,
    MediaInspector,
    MediaScreen,
    MediaVerdict,
    pdq_hash,
)
from childsafe.testing.media import (
    MARKER_LABEL,
    MarkerClassifier,
    jpeg_bytes,
    mark_sensitive,
    png_bytes,
    scene,
)
from tests.media.support import half, image_bytes, sample


def spool(folder: Path, name: str, raw: bytes, content_type: str = "image/png") -> MediaFile:
    path = folder / name
    path.write_bytes(raw)
    return MediaFile(path, len(raw), content_type, name, "photo")


@pytest.fixture(name="listed")
def _listed() -> HashList:
    """A demo list of two harmless pictures' hashes (what a hotline list looks like)."""
    return HashList.from_entries(
        "demo-list",
        [(pdq_hash(scene(7)).hex, "demo-7"), (pdq_hash(sample("chelsea")).hex, "demo-cat")],
    )


@pytest.fixture(name="screen")
def _screen(listed: HashList) -> Iterator[MediaScreen]:
    screen = MediaScreen([listed], classifier=MarkerClassifier())
    yield screen
    screen.close()


class TestInspect:
    def test_is_a_media_inspector(self, screen: MediaScreen) -> None:
        """MediaScreen satisfies the kernel's MediaInspector protocol."""
        assert isinstance(screen, MediaInspector)

    def test_listed_image_matches_after_edits(
        self, screen: MediaScreen, listed: HashList, tmp_path: Path
    ) -> None:
        """A listed picture re-encoded at half size as a JPEG matches, naming the list
        and entry; the classifier does not run for a matched image."""
        raw = jpeg_bytes(half(sample("chelsea")), quality=60)
        verdict = screen.inspect(spool(tmp_path, "cat.jpg", raw, "image/jpeg"))
        assert verdict.matched
        assert verdict.match is not None
        assert verdict.match.list_name == "demo-list"
        assert verdict.match.entry_id == "demo-cat"
        assert verdict.match.listed == listed[1].pdq
        assert verdict.match.distance <= 31
        assert verdict.classification is None
        assert verdict.error is None

    def test_distinct_image_passes(self, screen: MediaScreen, tmp_path: Path) -> None:
        """A picture that is not listed is not matched, and the classifier answers."""
        verdict = screen.inspect(spool(tmp_path, "coffee.png", image_bytes(sample("coffee"))))
        assert not verdict.matched
        assert verdict.pdq == pdq_hash(sample("coffee")).hex
        assert verdict.quality is not None
        assert verdict.classification == Classification(sensitive=False)
        assert not verdict.sensitive

    def test_marked_image_is_sensitive(self, screen: MediaScreen, tmp_path: Path) -> None:
        """The deterministic test classifier flags marked images, as PNG or as JPEG."""
        marked = mark_sensitive(scene(3))
        for name, raw in (("m.png", png_bytes(marked)), ("m.jpg", jpeg_bytes(marked, 40))):
            verdict = screen.inspect(spool(tmp_path, name, raw))
            assert verdict.sensitive, name
            assert verdict.classification is not None
            assert verdict.classification.labels == ((MARKER_LABEL, 1.0),)

    @pytest.mark.parametrize(
        ("raw", "why"),
        [
            (b"", "not an image"),
            (b"GIF89a\x00\x00", "not an image|could not be decoded"),
            (b"<html>hello</html>", "not an image"),
            (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not an image|could not be decoded"),
        ],
    )
    def test_bad_images_give_an_error_verdict(
        self, screen: MediaScreen, tmp_path: Path, raw: bytes, why: str
    ) -> None:
        """Empty, truncated, non-image bodies: a verdict with an error, never an
        exception, and no classifier call."""
        classifier = screen.classifier
        assert isinstance(classifier, MarkerClassifier)
        verdict = screen.inspect(spool(tmp_path, "x.png", raw))
        assert verdict.error is not None
        assert verdict.pdq is None
        assert not verdict.matched
        assert verdict.classification is None
        assert classifier.calls == 0
        import re  # noqa: PLC0415

        assert re.search(why, verdict.error)

    def test_truncated_jpeg(self, screen: MediaScreen, tmp_path: Path) -> None:
        """A JPEG cut in half is an error verdict."""
        raw = jpeg_bytes(sample("astronaut"), 90)
        verdict = screen.inspect(spool(tmp_path, "t.jpg", raw[: len(raw) // 2]))
        assert verdict.error is not None

    def test_missing_file(self, screen: MediaScreen, tmp_path: Path) -> None:
        """A spooled file that vanished is an error verdict too."""
        verdict = screen.inspect(MediaFile(tmp_path / "gone.png", 10))
        assert verdict.error is not None
        assert "no such file" in verdict.error

    def test_pixel_limit(self, listed: HashList, tmp_path: Path) -> None:
        """The screen's pixel limit refuses larger images with an error verdict."""
        screen = MediaScreen([listed], max_pixels=10_000)
        verdict = screen.inspect(spool(tmp_path, "big.png", png_bytes(scene(1))))
        assert verdict.error is not None
        assert "more than the limit of 10000" in verdict.error

    def test_min_quality(self, tmp_path: Path) -> None:
        """Below min_quality a hash is not matched, even when it equals a listed one."""
        blank = png_bytes(scene(1).convert("L").point(lambda _: 128).convert("RGB"))
        blank_hash = pdq_hash(blank)
        assert blank_hash.quality < 50
        lst = HashList.from_entries("l", [blank_hash.hex])
        media = spool(tmp_path, "blank.png", blank)
        assert MediaScreen([lst]).inspect(media).matched
        assert not MediaScreen([lst], min_quality=50).inspect(media).matched

    def test_options_checked(self) -> None:
        """Out-of-range options are configuration errors."""
        for options in (
            {"threshold": 300},
            {"min_quality": 101},
            {"max_pixels": 0},
            {"reduce_to": 10},
            {"classifier": MarkerClassifier(), "classifier_timeout": 0},
            {"classifier": MarkerClassifier(), "classifier_workers": 0},
            {"classifier": object()},
        ):
            with pytest.raises(MediaConfigError):
                MediaScreen([], **options)


class TestFailClosed:
    def test_classifier_error_is_sensitive(self, listed: HashList, tmp_path: Path) -> None:
        """A classifier that raises gives sensitive=True with the failure named."""
        screen = MediaScreen([listed], classifier=MarkerClassifier(error=RuntimeError("boom")))
        verdict = screen.inspect(spool(tmp_path, "c.png", png_bytes(scene(2))))
        screen.close()
        assert verdict.sensitive
        assert verdict.classification is not None
        assert verdict.classification.failed == "error: RuntimeError: boom"

    def test_classifier_timeout_is_sensitive(self, listed: HashList, tmp_path: Path) -> None:
        """A classifier that does not answer in time gives sensitive=True, timeout."""
        hold = threading.Event()
        screen = MediaScreen(
            [listed], classifier=MarkerClassifier(hold=hold), classifier_timeout=0.05
        )
        try:
            verdict = screen.inspect(spool(tmp_path, "c.png", png_bytes(scene(2))))
        finally:
            hold.set()
            screen.close()
        assert verdict.sensitive
        assert verdict.classification is not None
        assert verdict.classification.failed is not None
        assert verdict.classification.failed.startswith("timeout")

    def test_closed_screen_is_sensitive(self, listed: HashList, tmp_path: Path) -> None:
        """After close, the classifier no longer runs and images count as sensitive."""
        classifier = MarkerClassifier()
        screen = MediaScreen([listed], classifier=classifier)
        screen.close()
        verdict = screen.inspect(spool(tmp_path, "c.png", png_bytes(scene(2))))
        assert verdict.sensitive
        assert verdict.classification is not None
        assert verdict.classification.failed == "classifier unavailable: closed"
        assert classifier.calls == 0

    def test_wrong_answer_is_sensitive(self, listed: HashList, tmp_path: Path) -> None:
        """A classifier answering something other than a Classification fails closed."""

        class Sloppy:
            def classify(self, path: Path) -> Classification:  # noqa: ARG002
                return "no"  # type: ignore[return-value]

        screen = MediaScreen([listed], classifier=Sloppy())
        verdict = screen.inspect(spool(tmp_path, "c.png", png_bytes(scene(2))))
        screen.close()
        assert verdict.sensitive
        assert verdict.classification is not None
        assert "not a Classification" in (verdict.classification.failed or "")


class TestThreads:
    def test_concurrent_inspections_and_reloads(self, tmp_path: Path) -> None:
        """Many threads inspecting while the lists are reloaded always see either the
        old list or the new one, whole: the listed image matches under both, the image
        only the new list holds matches only once it is loaded."""
        a, b = scene(11), scene(12)
        old = HashList.from_entries("v", [(pdq_hash(a).hex, "a")])
        new = HashList.from_entries("v", [(pdq_hash(a).hex, "a"), (pdq_hash(b).hex, "b")])
        screen = MediaScreen([old])
        media_a = spool(tmp_path, "a.png", png_bytes(a))
        media_b = spool(tmp_path, "b.png", png_bytes(b))
        stop = threading.Event()

        def reload() -> None:
            while not stop.is_set():
                screen.reload([new])
                screen.reload([old])

        def look(i: int) -> tuple[MediaVerdict, MediaVerdict]:
            return screen.inspect(media_a), screen.inspect(media_b)

        reloader = threading.Thread(target=reload)
        reloader.start()
        try:
            with ThreadPoolExecutor(4) as pool:
                results = list(pool.map(look, range(40)))
        finally:
            stop.set()
            reloader.join()
        assert all(va.matched and va.match is not None for va, _ in results)
        assert all(va.match.entry_id == "a" for va, _ in results if va.match is not None)
        assert all(vb.match is None or vb.match.entry_id == "b" for _, vb in results)
        screen.reload([new])
        assert screen.inspect(media_b).matched
        assert [hl.name for hl in screen.lists] == ["v"]

    def test_failed_reload_keeps_the_old_lists(self, listed: HashList) -> None:
        """A reload that cannot build leaves the lists in place."""
        screen = MediaScreen([listed])
        with pytest.raises(MediaConfigError):
            screen.reload([listed, listed])
        assert screen.lists == (listed,)

    def test_reload_of_the_wrong_kind_keeps_the_old_lists(self, listed: HashList) -> None:
        """reload(None) was a TypeError and reload(["name"]) an AttributeError; both are
        MediaConfigError now, and the lists stay. One HashList counts as a list of one
        (it was iterated into its entries, an AttributeError)."""
        screen = MediaScreen([listed])
        for bad in (None, ["v"], [listed, None], "v"):
            with pytest.raises(MediaConfigError, match="hash lists:"):
                screen.reload(bad)  # type: ignore[arg-type]
        assert screen.lists == (listed,)
        screen.reload(listed)  # type: ignore[arg-type]
        assert screen.lists == (listed,)

    def test_formats_that_would_refuse_every_image(self) -> None:
        """formats="PNG" (read as "P", "N", "G"), an empty collection, None or a name
        Pillow does not decode were accepted, then every image was refused."""
        for bad in ("PNG", (), None, ("PNG", "EXE"), (1,)):
            with pytest.raises(MediaConfigError, match="formats"):
                MediaScreen([], formats=bad)  # type: ignore[arg-type]
        assert MediaScreen([], formats=["png", "jpeg"]).formats == ("PNG", "JPEG")

    def test_classifier_limits(self) -> None:
        """A timeout beyond what the clock can wait (10**19 s: every call an
        OverflowError, so every image flagged) and a billion worker threads (started
        until the process ran out) are refused."""
        for options in (
            {"classifier_timeout": 10**19},
            {"classifier_timeout": 3601},
            {"classifier_workers": 10**9},
            {"classifier_workers": 257},
        ):
            with pytest.raises(MediaConfigError):
                MediaScreen([], classifier=MarkerClassifier(), **options)  # type: ignore[arg-type]


def _animation(fmt: str, frames: list[Image.Image]) -> bytes:
    out = io.BytesIO()
    frames[0].save(out, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


ANIMATED = ("GIF", "WEBP", "PNG", "TIFF")


class TestAnimated:
    """Only the first frame of an animated GIF, WebP or PNG (or the first page of a TIFF)
    was hashed and classified: a listed picture or a nude one behind a harmless first
    frame passed."""

    @pytest.mark.parametrize("fmt", ANIMATED)
    def test_listed_frame_behind_a_harmless_one(
        self, screen: MediaScreen, tmp_path: Path, fmt: str
    ) -> None:
        """A listed picture as the second frame matches, with that frame's hash."""
        raw = _animation(fmt, [scene(2), scene(7)])
        verdict = screen.inspect(spool(tmp_path, f"a.{fmt.lower()}", raw))
        assert verdict.matched, fmt
        assert verdict.match is not None
        assert verdict.match.entry_id == "demo-7"
        assert verdict.pdq is not None
        assert verdict.pdq != pdq_hash(scene(2)).hex

    @pytest.mark.parametrize("fmt", ANIMATED)
    def test_sensitive_frame_behind_a_harmless_one(
        self, screen: MediaScreen, tmp_path: Path, fmt: str
    ) -> None:
        """A marked picture as a later frame is sensitive; its frame file is removed."""
        raw = _animation(fmt, [scene(2), scene(2), mark_sensitive(scene(3))])
        verdict = screen.inspect(spool(tmp_path, f"s.{fmt.lower()}", raw))
        assert verdict.sensitive, fmt
        assert verdict.classification is not None
        assert verdict.classification.labels == ((MARKER_LABEL, 1.0),)
        assert sorted(p.name for p in tmp_path.iterdir()) == [f"s.{fmt.lower()}"]

    def test_like_frames_are_classified_once(self, screen: MediaScreen, tmp_path: Path) -> None:
        """Frames PDQ puts within the threshold of one already seen are not classified
        again; a harmless animation is not sensitive."""
        classifier = screen.classifier
        assert isinstance(classifier, MarkerClassifier)
        raw = _animation("GIF", [scene(2), scene(2), scene(4), scene(4)])
        verdict = screen.inspect(spool(tmp_path, "ok.gif", raw))
        assert not verdict.sensitive
        assert not verdict.matched
        assert verdict.pdq == pdq_hash(Image.open(io.BytesIO(raw))).hex
        assert classifier.calls == 2

    def test_frame_limits(self, listed: HashList, tmp_path: Path) -> None:
        """More frames than max_frames, or frames holding more pixels together than
        max_pixels, give an error verdict before any frame is decoded."""
        raw = _animation("GIF", [scene(i) for i in range(1, 5)])
        media = spool(tmp_path, "long.gif", raw)
        verdict = MediaScreen([listed], max_frames=3).inspect(media)
        assert verdict.error is not None
        assert "4 frames, more than the limit of 3" in verdict.error
        width, height = scene(1).size
        verdict = MediaScreen([listed], max_pixels=width * height * 3).inspect(media)
        assert verdict.error is not None
        assert "more than the limit" in verdict.error
        assert MediaScreen([listed], max_frames=4).inspect(media).error is None
        with pytest.raises(MediaConfigError, match="max_frames"):
            MediaScreen([listed], max_frames=0)

    def test_too_many_distinct_frames_are_sensitive(self, listed: HashList, tmp_path: Path) -> None:
        """More distinct frames than max_classified_frames are not classified (each is
        a classifier run) but count as sensitive, failed; the lists still see them all."""
        classifier = MarkerClassifier()
        screen = MediaScreen([listed], classifier=classifier, max_classified_frames=2)
        try:
            raw = _animation("GIF", [scene(2), scene(4), scene(5)])
            verdict = screen.inspect(spool(tmp_path, "many.gif", raw))
            assert verdict.sensitive
            assert verdict.classification is not None
            assert verdict.classification.failed is not None
            assert "3 distinct frames, more than the 2" in verdict.classification.failed
            assert classifier.calls == 0
            raw = _animation("GIF", [scene(2), scene(4), scene(7)])
            assert screen.inspect(spool(tmp_path, "listed.gif", raw)).matched
        finally:
            screen.close()
        with pytest.raises(MediaConfigError, match="max_classified_frames"):
            MediaScreen([listed], max_classified_frames=0)

    def test_tiff_pages_of_other_sizes(self, listed: HashList, tmp_path: Path) -> None:
        """A TIFF's pages each have their own size: a small first page does not vouch
        for large later ones, whose pixels count against max_pixels too."""
        small = Image.new("RGB", (8, 8), "white")
        raw = _animation("TIFF", [small, scene(1), scene(1)])
        width, height = scene(1).size
        screen = MediaScreen([listed], max_pixels=width * height + 64)
        verdict = screen.inspect(spool(tmp_path, "pages.tiff", raw))
        assert verdict.error is not None
        assert "frames 1 to 3 of 3 hold" in verdict.error

    def test_truncated_animation(self, screen: MediaScreen, tmp_path: Path) -> None:
        """An animation cut off in a later frame is an error, not its first frames."""
        raw = _animation("GIF", [scene(2), scene(4), scene(5)])
        verdict = screen.inspect(spool(tmp_path, "cut.gif", raw[: len(raw) * 3 // 4]))
        assert verdict.error is not None
