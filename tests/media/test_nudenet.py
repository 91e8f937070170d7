"""The nudenet adapter: the real model, run locally, on benign photos of people and
things (never anything sexual). Its latency is measured in benchmarks/bench_media.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from childsafe.media import (
    NUDENET_SENSITIVE,
    Classifier,
    MediaConfigError,
    MediaFile,
    MediaScreen,
    NudeNetClassifier,
)
from tests.media.support import image_bytes, sample

BENIGN = ("astronaut", "camera", "coffee", "chelsea", "rocket", "horse")


@pytest.fixture(name="nudenet", scope="module")
def _nudenet() -> NudeNetClassifier:
    return NudeNetClassifier()


@pytest.fixture(name="photos", scope="module")
def _photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("photos")
    out = {}
    for name in BENIGN:
        path = folder / f"{name}.jpg"
        path.write_bytes(image_bytes(sample(name), "JPEG", quality=90))
        out[name] = path
    return out


def test_is_a_classifier(nudenet: NudeNetClassifier) -> None:
    """The adapter satisfies the Classifier protocol."""
    assert isinstance(nudenet, Classifier)


@pytest.mark.parametrize("name", BENIGN)
def test_benign_photos_are_not_sensitive(
    nudenet: NudeNetClassifier, photos: dict[str, Path], name: str
) -> None:
    """Portraits and everyday photos are not sensitive: nothing would be blurred."""
    verdict = nudenet.classify(photos[name])
    assert not verdict.sensitive
    assert verdict.labels == ()
    assert verdict.failed is None


def test_faces_are_found_but_never_count(
    nudenet: NudeNetClassifier, photos: dict[str, Path]
) -> None:
    """The model does run (it finds the astronaut's and the photographer's faces), and
    a face is never a sensitive label."""
    found = {label for label, _ in nudenet.detections(photos["astronaut"])}
    found |= {label for label, _ in nudenet.detections(photos["camera"])}
    assert found & {"FACE_FEMALE", "FACE_MALE"}
    assert not found & set(NUDENET_SENSITIVE)


def test_through_the_screen(nudenet: NudeNetClassifier, photos: dict[str, Path]) -> None:
    """MediaScreen with the nudenet classifier: a portrait passes, no blur."""
    screen = MediaScreen(classifier=nudenet)
    path = photos["astronaut"]
    verdict = screen.inspect(MediaFile(path, path.stat().st_size, "image/jpeg"))
    screen.close()
    assert verdict.classification is not None
    assert verdict.classification.failed is None
    assert not verdict.sensitive


def test_undecodable_file_raises_image_error(nudenet: NudeNetClassifier, tmp_path: Path) -> None:
    """Called directly on a file that is no image, the adapter raises (the screen's
    runner turns a raise into the protective answer)."""
    path = tmp_path / "x.jpg"
    path.write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="not an image"):
        nudenet.classify(path)


def test_label_table_is_documented_and_checked() -> None:
    """The default table names exposed genitalia, anus, breasts and buttocks only; a
    face, an unknown label or a threshold outside (0, 1] is refused."""
    assert set(NUDENET_SENSITIVE) == {
        "FEMALE_GENITALIA_EXPOSED",
        "MALE_GENITALIA_EXPOSED",
        "ANUS_EXPOSED",
        "FEMALE_BREAST_EXPOSED",
        "BUTTOCKS_EXPOSED",
    }
    assert all(0 < t <= 1 for t in NUDENET_SENSITIVE.values())
    with pytest.raises(MediaConfigError, match="never counts"):
        NudeNetClassifier(sensitive={"FACE_FEMALE": 0.5})
    with pytest.raises(MediaConfigError, match="unknown nudenet label"):
        NudeNetClassifier(sensitive={"NOSE": 0.5})
    with pytest.raises(MediaConfigError, match=r"must be in \(0, 1\]"):
        NudeNetClassifier(sensitive={"ANUS_EXPOSED": 0})
    with pytest.raises(MediaConfigError, match="at least one"):
        NudeNetClassifier(sensitive={})
    stricter = NudeNetClassifier(sensitive={**NUDENET_SENSITIVE, "BUTTOCKS_EXPOSED": 0.2})
    assert stricter.sensitive["BUTTOCKS_EXPOSED"] == 0.2
