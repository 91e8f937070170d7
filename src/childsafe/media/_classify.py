"""Classifiers: what decides whether an image counts as sensitive (nudity) for the
interventions shown to children. A :class:`Classifier` answers about one image file;
:class:`NudeNetClassifier` runs the ``nudenet`` detector locally
(``pip install 'childsafe[nudenet]'``); :class:`ClassifierRunner` bounds any classifier's
time and turns a failure into the protective answer.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import types
from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Final, Protocol, cast, runtime_checkable

from childsafe.exceptions import MissingExtraError
from childsafe.media._errors import MediaConfigError
from childsafe.media._pdq import DEFAULT_MAX_PIXELS, load_image
from childsafe.media._types import Classification

__all__ = [
    "NUDENET_SENSITIVE",
    "Classifier",
    "ClassifierRunner",
    "NudeNetClassifier",
]

log = logging.getLogger("childsafe.media")

NUDENET_SENSITIVE: Final[Mapping[str, float]] = types.MappingProxyType(
    {
        "FEMALE_GENITALIA_EXPOSED": 0.35,
        "MALE_GENITALIA_EXPOSED": 0.35,
        "ANUS_EXPOSED": 0.35,
        "FEMALE_BREAST_EXPOSED": 0.45,
        "BUTTOCKS_EXPOSED": 0.45,
    }
)
"""The ``nudenet`` labels that count as sensitive and the score at or above which each
counts: exposed genitalia, anus, female breasts and buttocks. Faces, covered parts,
bellies, feet, armpits and a bare male chest never count. Lower thresholds for the
most explicit labels keep the intervention on the protective side."""

_NUDENET_LABELS: Final = frozenset(
    {
        "FEMALE_GENITALIA_COVERED",
        "FACE_FEMALE",
        "BUTTOCKS_EXPOSED",
        "FEMALE_BREAST_EXPOSED",
        "FEMALE_GENITALIA_EXPOSED",
        "MALE_BREAST_EXPOSED",
        "ANUS_EXPOSED",
        "FEET_EXPOSED",
        "BELLY_COVERED",
        "FEET_COVERED",
        "ARMPITS_COVERED",
        "ARMPITS_EXPOSED",
        "FACE_MALE",
        "BELLY_EXPOSED",
        "MALE_GENITALIA_EXPOSED",
        "ANUS_COVERED",
        "FEMALE_BREAST_COVERED",
        "BUTTOCKS_COVERED",
    }
)
_NEVER: Final = frozenset({"FACE_FEMALE", "FACE_MALE"})


@runtime_checkable
class Classifier(Protocol):
    """Answers whether one image (a file on local disk) counts as sensitive.

    Implementations run locally and never send the image anywhere. They may raise or
    take long: :class:`~childsafe.media.MediaScreen` runs them through
    :class:`ClassifierRunner`, which turns either into the protective answer."""

    def classify(self, path: Path) -> Classification: ...


MAX_TIMEOUT: Final = 3600.0
"""The longest a classifier may be given (an hour): a longer wait is no timeout, and
past about 290 years the platform's clock cannot express it, so every call failed."""

MAX_WORKERS: Final = 256
"""The most classifier threads a runner starts (they are all started at once)."""


def check_timeout(timeout: float) -> float:
    given: object = timeout
    if (
        isinstance(given, bool)
        or not isinstance(given, int | float)
        or not 0 < given <= MAX_TIMEOUT  # False for NaN
    ):
        raise MediaConfigError(
            f"timeout: expected a positive number of seconds up to {MAX_TIMEOUT:g}, "
            f"got {timeout!r:.40}"
        )
    return float(given)


class ClassifierRunner:
    """Runs a classifier on ``workers`` daemon threads so a call can be abandoned after
    ``timeout`` seconds. A thread cannot be stopped: a call that overruns keeps its
    worker until it returns, and calls queued behind it time out too, which is the
    protective answer; the workers are daemon threads, so a classifier that never
    returns cannot hold up the process's exit either."""

    def __init__(self, classifier: Classifier, *, timeout: float = 10.0, workers: int = 2) -> None:
        if not isinstance(classifier, Classifier):
            raise MediaConfigError(f"classifier: expected a Classifier, got {classifier!r}")
        given: object = workers
        if isinstance(given, bool) or not isinstance(given, int) or not 1 <= given <= MAX_WORKERS:
            raise MediaConfigError(
                f"workers: expected a whole number from 1 to {MAX_WORKERS}, got {workers!r:.40}"
            )
        self.classifier = classifier
        self.timeout = check_timeout(timeout)
        self._jobs: queue.SimpleQueue[tuple[Future[Classification], Path] | None] = (
            queue.SimpleQueue()
        )
        self._closed = False
        for n in range(given):
            threading.Thread(
                target=self._work, name=f"childsafe-classifier-{n}", daemon=True
            ).start()
        self._workers = given

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, path = job
            if not future.set_running_or_notify_cancel():
                continue  # its caller gave up waiting
            try:
                future.set_result(self.classifier.classify(path))
            except BaseException as e:  # noqa: BLE001 - handed to the caller, who fails closed
                future.set_exception(e)

    def classify(self, path: Path) -> Classification:
        """The classifier's answer, or ``Classification(sensitive=True, failed=...)``
        when it raised, answered with something else, or took longer than the timeout."""
        if self._closed:
            return Classification(sensitive=True, failed="classifier unavailable: closed")
        future: Future[Classification] = Future()
        self._jobs.put((future, path))
        return _settle(future, self.timeout, self.classifier)

    def close(self) -> None:
        """Stop the worker threads once the calls queued so far are done (without
        waiting for them); later calls answer with the protective failure."""
        if not self._closed:
            self._closed = True
            for _ in range(self._workers):
                self._jobs.put(None)


def _settle(future: Future[Classification], timeout: float, classifier: object) -> Classification:
    try:
        answer = cast("object", future.result(timeout=timeout))
    except TimeoutError:
        future.cancel()
        log.warning(
            "classifier %r took longer than %.3gs: treated as sensitive", classifier, timeout
        )
        return Classification(sensitive=True, failed=f"timeout: no answer within {timeout:g} s")
    except Exception as e:
        log.warning("classifier %r failed: %s: treated as sensitive", classifier, e, exc_info=e)
        return Classification(sensitive=True, failed=f"error: {type(e).__name__}: {e}"[:300])
    if not isinstance(answer, Classification):
        return Classification(
            sensitive=True,
            failed=f"error: the classifier answered {type(answer).__name__}, not a Classification",
        )
    return answer


class NudeNetClassifier:
    """The ``nudenet`` detector (its ONNX model ships inside the ``nudenet`` wheel; it
    runs on this machine's CPU; nothing is downloaded or sent anywhere), with the
    labels and thresholds of ``sensitive`` (default :data:`NUDENET_SENSITIVE`).

    The image is decoded with the same safe loader as hashing
    (:func:`~childsafe.media.load_image`: format allow-list, pixel limit, EXIF
    orientation), not by OpenCV. The model loads on first use, once; the detector is
    safe to call from several threads.

    ``pip install 'childsafe[nudenet]'``. Read the licence note in the docs first."""

    def __init__(
        self,
        *,
        sensitive: Mapping[str, float] = NUDENET_SENSITIVE,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        model_path: str | os.PathLike[str] | None = None,
    ) -> None:
        table: dict[str, float] = {}
        for label, threshold in sensitive.items():
            if label not in _NUDENET_LABELS:
                raise MediaConfigError(
                    f"sensitive: unknown nudenet label {label!r}; labels are "
                    f"{', '.join(sorted(_NUDENET_LABELS))}"
                )
            if label in _NEVER:
                raise MediaConfigError(f"sensitive: {label} (a face) never counts as sensitive")
            given: object = threshold
            if isinstance(given, bool) or not isinstance(given, int | float) or not 0 < given <= 1:
                raise MediaConfigError(
                    f"sensitive: the threshold of {label} must be in (0, 1], got {threshold!r}"
                )
            table[label] = float(given)
        if not table:
            raise MediaConfigError("sensitive: name at least one label")
        self.sensitive: Mapping[str, float] = types.MappingProxyType(table)
        self.max_pixels = max_pixels
        self.model_path = None if model_path is None else os.fspath(model_path)
        self._detector: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:  # noqa: ANN401 - nudenet is untyped
        if self._detector is None:
            with self._lock:
                if self._detector is None:
                    try:
                        from nudenet import NudeDetector  # noqa: PLC0415 - optional extra
                    except ImportError as e:
                        raise MissingExtraError(
                            "NudeNetClassifier needs nudenet: pip install 'childsafe[nudenet]'"
                        ) from e
                    self._detector = NudeDetector(model_path=self.model_path)
        return self._detector

    def detections(self, path: Path) -> list[tuple[str, float]]:
        """Every label the detector found in the image with its score (all labels, not
        only the sensitive ones), highest first."""
        detector = self._load()
        import numpy as np  # noqa: PLC0415 - nudenet depends on it

        rgba = np.asarray(load_image(path, max_pixels=self.max_pixels).convert("RGBA"))
        found = [(str(d["class"]), float(d["score"])) for d in detector.detect(rgba)]
        return sorted(found, key=lambda d: -d[1])

    def classify(self, path: Path) -> Classification:
        """Sensitive when a label of ``sensitive`` scores at or above its threshold;
        ``labels`` lists those that did (best score per label)."""
        best: dict[str, float] = {}
        for label, score in self.detections(path):
            limit = self.sensitive.get(label)
            if limit is not None and score >= limit and score > best.get(label, -1.0):
                best[label] = round(score, 4)
        labels = tuple(sorted(best.items(), key=lambda kv: (-kv[1], kv[0])))
        return Classification(bool(labels), labels)

    def __repr__(self) -> str:
        return f"NudeNetClassifier(labels={sorted(self.sensitive)})"
