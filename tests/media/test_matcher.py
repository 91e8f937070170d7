"""The exact matcher agrees with a plain-Python reference and finds the closest hash."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from childsafe.media import HashList, HashListError, HashMatch, HashMatcher, MediaConfigError

BASE = "2d6b1af3a956c529e79ca3d2526fa834d4196c81cedd04de0a26b855fc99b724"


def flip(pdq: str, bits: list[int]) -> str:
    value = int(pdq, 16)
    for b in bits:
        value ^= 1 << b
    return f"{value:064x}"


def reference(lists: list[HashList], query: str, threshold: int) -> HashMatch | None:
    """The obvious implementation: every entry, Python integers, first closest wins."""
    best: HashMatch | None = None
    q = int(query, 16)
    for hl in lists:
        for entry in hl:
            d = (int(entry.pdq, 16) ^ q).bit_count()
            if d <= threshold and (best is None or d < best.distance):
                best = HashMatch(hl.name, entry.pdq, d, entry.id)
    return best


hashes = st.integers(min_value=0, max_value=(1 << 256) - 1).map(lambda v: f"{v:064x}")


@st.composite
def scenario(draw: st.DrawFn) -> tuple[list[HashList], str, int]:
    """Lists of random hashes and a query that is near one listed hash (a few to ~40
    bits flipped) or anywhere at all."""
    lists = []
    for n in range(draw(st.integers(1, 3))):
        entries = draw(st.lists(hashes, min_size=1, max_size=40))
        lists.append(
            HashList.from_entries(f"list{n}", [(h, f"{n}-{i}") for i, h in enumerate(entries)])
        )
    threshold = draw(st.sampled_from([0, 8, 31, 64, 127, 128, 200]))
    if draw(st.booleans()):
        hl = draw(st.sampled_from(lists))
        base = hl[draw(st.integers(0, len(hl) - 1))].pdq
        bits = draw(st.lists(st.integers(0, 255), max_size=40, unique=True))
        query = flip(base, bits)
    else:
        query = draw(hashes)
    return lists, query, threshold


@given(scenario())
def test_agrees_with_reference(case: tuple[list[HashList], str, int]) -> None:
    """On random lists and queries near and far, the matcher returns exactly what the
    brute-force Python reference returns (same list, entry and distance)."""
    lists, query, threshold = case
    expected = reference(lists, query, threshold)
    found = HashMatcher(lists, threshold=threshold).match(query)
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert found.distance == expected.distance
        # among equally close entries both take the first in list order
        assert (found.list_name, found.entry_id) == (expected.list_name, expected.entry_id)


def test_threshold_edge() -> None:
    """A hash exactly at the threshold matches; one bit further does not."""
    base = BASE
    hl = HashList.from_entries("l", [(base, "e")])
    m = HashMatcher([hl], threshold=31)
    assert m.match(flip(base, list(range(31)))) == HashMatch("l", base, 31, "e")
    assert m.match(flip(base, list(range(32)))) is None
    assert m.match(base) == HashMatch("l", base, 0, "e")


def test_closest_across_lists() -> None:
    """With several lists, the closest entry wins whichever list holds it."""
    base = BASE
    far = HashList.from_entries("first", [(flip(base, list(range(20))), "f")])
    near = HashList.from_entries("second", [(flip(base, [3, 9]), "n")])
    found = HashMatcher([far, near]).match(base)
    assert found is not None
    assert (found.list_name, found.entry_id, found.distance) == ("second", "n", 2)


def test_complement_is_far() -> None:
    """The distance of 256 (every bit differs) does not wrap round to a match."""
    hl = HashList.from_entries("l", ["0" * 64])
    m = HashMatcher([hl], threshold=256)
    found = m.match("f" * 64)
    assert found is not None
    assert found.distance == 256
    assert HashMatcher([hl], threshold=255).match("f" * 64) is None


def test_refusals() -> None:
    """Bad thresholds, two lists of one name and a malformed query are refused."""
    hl = HashList.from_entries("l", ["0" * 64])
    for bad in (-1, 257, 3.5, True):
        with pytest.raises(MediaConfigError, match="threshold"):
            HashMatcher([hl], threshold=bad)  # type: ignore[arg-type]
    with pytest.raises(MediaConfigError, match="two lists are named 'l'"):
        HashMatcher([hl, hl])
    with pytest.raises(HashListError, match="wrong length"):
        HashMatcher([hl]).match("abc")
    assert HashMatcher([]).match("0" * 64) is None


def test_arguments_of_the_wrong_kind() -> None:
    """A query that is not a string was an AttributeError or a TypeError, lists that
    are not HashLists an AttributeError; each names what is wrong now."""
    hl = HashList.from_entries("l", ["0" * 64])
    for query in (None, b"0" * 64, 0):
        for matcher in (HashMatcher([hl]), HashMatcher([])):
            with pytest.raises(HashListError, match="<query>: expected 64 hex digits as a str"):
                matcher.match(query)  # type: ignore[arg-type]
        with pytest.raises(HashListError, match="expected 64 hex digits as a str"):
            HashMatcher([hl]).distances(query)  # type: ignore[arg-type]
    for lists in (None, 5, ["l"], [hl, {}]):
        with pytest.raises(MediaConfigError, match="hash lists:"):
            HashMatcher(lists)  # type: ignore[arg-type]
    assert HashMatcher(hl).match("0" * 64) is not None  # type: ignore[arg-type]
