"""The media inspector: hash matching against the platform's lists, then the
classifier.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from childsafe.media._classify import Classifier, ClassifierRunner
from childsafe.media._errors import ImageError, MediaConfigError
from childsafe.media._lists import HashList
from childsafe.media._matcher import DEFAULT_THRESHOLD, HashMatcher, check_threshold
from childsafe.media._pdq import (
    DEFAULT_MAX_FRAMES,
    DEFAULT_MAX_PIXELS,
    DEFAULT_REDUCE_TO,
    IMAGE_FORMATS,
    PDQHash,
    check_formats,
    check_reduce_to,
    hamming,
    pdq_frames,
    pdq_hash,
)
from childsafe.media._types import Classification, HashMatch, MediaFile, MediaVerdict

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["MediaScreen"]

log = logging.getLogger("childsafe.media")


class MediaScreen:
    """A :class:`~childsafe.media.MediaInspector`: hashes each image with PDQ, matches
    it against the loaded hash ``lists`` within ``threshold`` (exact,
    :class:`~childsafe.media.HashMatcher`), then, when a ``classifier`` is given and
    the image matched nothing, asks it whether the image is sensitive, allowing it
    ``classifier_timeout`` seconds on one of ``classifier_workers`` threads.

    :meth:`inspect` never raises for a bad image: an image that cannot be decoded
    (not an image, truncated, a format outside ``formats``, more than ``max_pixels``
    pixels) gives a verdict whose ``error`` says why, and the classifier does not run.
    A classifier that fails or times out gives ``Classification(sensitive=True,
    failed=...)``: the protective path.

    Safe to share between threads; :meth:`reload` swaps the lists atomically (a lookup
    sees either the old lists or the new, never a mix). Nothing leaves the process.

    ``reduce_to``: large images are shrunk by a whole factor before hashing (see
    :func:`~childsafe.media.pdq_hash`; ``None`` hashes every pixel).

    ``min_quality``: hashes whose PDQ quality is below it are not matched (0, the
    default, matches every hash; Meta suggests 50 to skip near-blank images). Lists
    are matched whatever their entries' quality.

    Every frame of an animated GIF, WebP or PNG (every page of a TIFF) is matched, and
    the classifier sees the first frame and each later one that PDQ does not put within
    ``threshold`` of a frame it already saw: a listed or nude picture hidden behind a
    harmless first frame is found. An image of more than ``max_frames`` frames, or whose
    frames together hold more than ``max_pixels`` pixels, gets an error verdict; one of
    more than ``max_classified_frames`` distinct frames is not classified but counts as
    sensitive (``Classification(sensitive=True, failed=...)``).
    """

    def __init__(
        self,
        lists: Iterable[HashList] = (),
        *,
        threshold: int = DEFAULT_THRESHOLD,
        classifier: Classifier | None = None,
        classifier_timeout: float = 10.0,
        classifier_workers: int = 2,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        formats: Iterable[str] = IMAGE_FORMATS,
        min_quality: int = 0,
        reduce_to: int | None = DEFAULT_REDUCE_TO,
        max_frames: int = DEFAULT_MAX_FRAMES,
        max_classified_frames: int = 16,
    ) -> None:
        self.threshold = check_threshold(threshold)
        frames: object = max_frames
        if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
            raise MediaConfigError(f"max_frames: expected a positive integer, got {max_frames!r}")
        self.max_frames = max_frames
        classified: object = max_classified_frames
        if isinstance(classified, bool) or not isinstance(classified, int) or classified < 1:
            raise MediaConfigError(
                f"max_classified_frames: expected a positive integer, got {max_classified_frames!r}"
            )
        self.max_classified_frames = max_classified_frames
        quality: object = min_quality
        if isinstance(quality, bool) or not isinstance(quality, int) or not 0 <= quality <= 100:
            raise MediaConfigError(f"min_quality: expected 0 to 100, got {min_quality!r}")
        pixels: object = max_pixels
        if isinstance(pixels, bool) or not isinstance(pixels, int) or pixels < 1:
            raise MediaConfigError(f"max_pixels: expected a positive integer, got {max_pixels!r}")
        self.min_quality = min_quality
        self.max_pixels = max_pixels
        self.formats = check_formats(formats)
        self.reduce_to = check_reduce_to(reduce_to)
        self._matcher = HashMatcher(lists, threshold=self.threshold)
        self._reload_lock = threading.Lock()
        self._runner = (
            None
            if classifier is None
            else ClassifierRunner(
                classifier, timeout=classifier_timeout, workers=classifier_workers
            )
        )

    @property
    def lists(self) -> tuple[HashList, ...]:
        """The hash lists currently matched against."""
        return self._matcher.lists

    @property
    def classifier(self) -> Classifier | None:
        """The classifier, if one is configured."""
        return None if self._runner is None else self._runner.classifier

    def reload(self, lists: Iterable[HashList]) -> None:
        """Replace the hash lists. The new matcher is built first and swapped in whole,
        so lookups in flight finish on the old lists and a list that fails to build
        leaves the old ones in place."""
        with self._reload_lock:
            self._matcher = HashMatcher(lists, threshold=self.threshold)
        log.info(
            "media hash lists reloaded: %s",
            ", ".join(f"{hl.name} ({len(hl)})" for hl in self._matcher.lists) or "none",
        )

    def hash(self, path: str | os.PathLike[str] | bytes) -> PDQHash:
        """The PDQ hash of an image, decoded with this screen's limits; raises
        :class:`~childsafe.media.ImageError`."""
        return pdq_hash(
            path, max_pixels=self.max_pixels, formats=self.formats, reduce_to=self.reduce_to
        )

    def match(self, pdq: str) -> HashMatch | None:
        """The closest listed hash within the threshold of ``pdq``, if any."""
        return self._matcher.match(pdq)

    def inspect(self, media: MediaFile) -> MediaVerdict:
        """Inspect one spooled image, every frame of it; never raises for a bad image.

        The verdict's hash is the first frame's, or the matching frame's on a match."""
        matcher = self._matcher
        first: tuple[str, int] | None = None
        later: list[tuple[str, Image.Image]] = []  # frames the classifier has to see
        seen: list[str] = []
        try:
            for found, rgb in pdq_frames(
                media.path,
                max_pixels=self.max_pixels,
                formats=self.formats,
                reduce_to=self.reduce_to,
                max_frames=self.max_frames,
            ):
                match = matcher.match(found.hex) if found.quality >= self.min_quality else None
                if match is not None:
                    return MediaVerdict(pdq=found.hex, quality=found.quality, match=match)
                if first is None:
                    first = (found.hex, found.quality)
                    seen.append(found.hex)
                elif self._runner is not None and all(
                    hamming(found.hex, h) > self.threshold for h in seen
                ):
                    seen.append(found.hex)
                    if len(seen) <= self.max_classified_frames:  # beyond: counted only
                        later.append((found.hex, rgb))
        except ImageError as e:
            return MediaVerdict(error=str(e))
        except Exception as e:
            log.warning("hashing %s failed", media.path, exc_info=e)
            return MediaVerdict(error=f"the image could not be hashed ({type(e).__name__})")
        if first is None:  # pragma: no cover - pdq_frames yields a frame or raises
            return MediaVerdict(error="the image has no frames")
        if self._runner is None:
            return MediaVerdict(pdq=first[0], quality=first[1])
        if len(seen) > self.max_classified_frames:
            # Each distinct frame costs a classifier run: an animation of hundreds of
            # different frames would hold the workers for minutes. Frames left unseen
            # could show anything, so the answer is the protective one.
            return MediaVerdict(
                pdq=first[0],
                quality=first[1],
                classification=Classification(
                    sensitive=True,
                    failed=(
                        f"{len(seen)} distinct frames, more than the "
                        f"{self.max_classified_frames} the classifier is given"
                    ),
                ),
            )
        classification = self._runner.classify(Path(media.path))
        if not classification.sensitive and later:
            classification = self._classify_frames(Path(media.path), later)
        return MediaVerdict(pdq=first[0], quality=first[1], classification=classification)

    def _classify_frames(self, path: Path, frames: list[tuple[str, Image.Image]]) -> Classification:
        """The classifier's answer on later frames, each written as a PNG beside the
        spooled file (a private folder, removed after): the first sensitive answer, or
        not sensitive. A frame that cannot be written counts as a failure: sensitive."""
        assert self._runner is not None
        try:
            with tempfile.TemporaryDirectory(dir=path.parent, prefix=".frames-") as folder:
                for i, (_, rgb) in enumerate(frames):
                    frame = Path(folder) / f"frame{i}.png"
                    rgb.save(frame, "PNG", compress_level=1)
                    answer = self._runner.classify(frame)
                    if answer.sensitive:
                        return answer
        except OSError as e:
            log.warning("classifying the frames of %s failed", path, exc_info=e)
            return Classification(
                sensitive=True,
                failed=f"the frames could not be prepared for the classifier ({type(e).__name__})",
            )
        return Classification(sensitive=False)

    def close(self) -> None:
        """Stop the classifier's worker threads."""
        if self._runner is not None:
            self._runner.close()

    def __repr__(self) -> str:
        lists = ", ".join(f"{hl.name}: {len(hl)}" for hl in self.lists)
        return f"<MediaScreen [{lists}] threshold={self.threshold} classifier={self.classifier!r}>"
