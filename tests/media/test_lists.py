"""Hash lists: CSV and ThreatExchange loaders, and their refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from childsafe.media import HashEntry, HashList, HashListError

HEX = "0123456789abcdef"
hashes = st.text(HEX, min_size=64, max_size=64)
ids = st.text(
    st.characters(categories=("L", "N"), include_characters="-_"), min_size=1, max_size=20
)

A = "a" * 64
B = "b" * 63 + "c"


def problem(text: str, **options: object) -> HashListError:
    with pytest.raises(HashListError) as info:
        HashList.parse_csv(text, name="t", source="list.csv", **options)  # type: ignore[arg-type]
    return info.value


class TestCSV:
    def test_headerless_hash_and_id(self) -> None:
        """Without a header, column 1 is the hash and column 2 the id."""
        hl = HashList.parse_csv(f"{A},e1\n{B},e2\n", name="partner")
        assert list(hl) == [HashEntry(A, "e1"), HashEntry(B, "e2")]
        assert hl.name == "partner"

    def test_header_with_other_columns(self) -> None:
        """A header names the hash and id columns; other columns are ignored."""
        text = f"added,pdq,quality,id\n2024-01-01,{A.upper()},100,x1\n2024-01-02,{B},90,\n"
        hl = HashList.parse_csv(text, name="n")
        assert list(hl) == [HashEntry(A, "x1"), HashEntry(B, None)]

    def test_named_columns_and_tabs(self) -> None:
        """hash_column/id_column pick columns by name; a tab-separated file works."""
        text = f"sig\tref\n{A}\tr1\n"
        hl = HashList.parse_csv(text, name="n", hash_column="sig", id_column="ref")
        assert list(hl) == [HashEntry(A, "r1")]

    def test_hash_only_comments_blank_lines_bom(self) -> None:
        """A bare column of hashes, with a BOM, comments and blank lines, loads."""
        hl = HashList.parse_csv(f"\ufeff# from the hotline\n\n{A}\n{B}\n\n", name="n")
        assert [e.pdq for e in hl] == [A, B]
        assert hl.ids == (None, None)

    def test_file(self, tmp_path: Path) -> None:
        """from_csv reads a file and names the list after it by default."""
        path = tmp_path / "iwf-2024.csv"
        path.write_text(f"hash,id\n{A},1\n", encoding="utf-8")
        hl = HashList.from_csv(path)
        assert hl.name == "iwf-2024"
        assert hl.source == str(path)
        assert len(hl) == 1

    def test_threatexchange_cli_csv_export(self) -> None:
        """The threatexchange CLI's CSV export (`dataset -P --csv`: a header, a
        signal_type column, one row per collaboration) loads its PDQ rows only."""
        text = (
            "signal_type,signal_str,collab,category,tags\r\n"
            f"pdq,{A},Sample Data,POSITIVE_CLASS,tag1 tag2\r\n"
            "video_md5,d41d8cd98f00b204e9800998ecf8427e,Sample Data,POSITIVE_CLASS,\r\n"
            f"pdq,{A},Other Collab,POSITIVE_CLASS,\r\n"
            f"pdq,{B},Sample Data,INVESTIGATION_SEED,\r\n"
        )
        hl = HashList.parse_csv(text, name="tx")
        assert [e.pdq for e in hl] == [A, A, B]
        assert hl.ids == (None, None, None)

    def test_hma_state_file(self) -> None:
        """A threatexchange/HMA state file (`simple.HASH_PDQ.te`: hash, indicator id,
        then the descriptor rollup, no header) loads with the indicator id as the id."""
        text = f"{A},1001,6789,2024-01-01,tag1\n{B},1002,6790,2024-01-02,\n"
        hl = HashList.parse_csv(text, name="hma")
        assert list(hl) == [HashEntry(A, "1001"), HashEntry(B, "1002")]

    def test_bad_hex(self) -> None:
        """A non-hex character is named, with the line."""
        e = problem(f"{A},1\n{'g' * 64},2\n")
        assert (e.source, e.line) == ("list.csv", 2)
        assert "bad hex" in e.problem
        assert "'g' is not a hex digit" in e.problem
        assert str(e).startswith("list.csv, line 2: bad hex")

    def test_wrong_length(self) -> None:
        """A hash of the wrong length says how long it was."""
        e = problem(f"pdq\n{A}\n{A[:40]}\n")
        assert e.line == 3
        assert "wrong length" in e.problem
        assert "got 40" in e.problem

    def test_duplicate_id(self) -> None:
        """Two entries with the same id are refused, naming both lines."""
        e = problem(f"{A},e1\n{B},e2\n{B},e1\n")
        assert e.line == 3
        assert "duplicate id 'e1' (first on line 1)" in e.problem

    def test_empty(self) -> None:
        """A list with no hashes (only a header, or nothing) is refused."""
        assert "empty list" in problem("").problem
        assert "empty list" in problem("pdq,id\n").problem
        assert "empty list" in problem("# nothing yet\n\n").problem

    def test_unknown_column(self) -> None:
        """A column named but absent from the header is refused, listing the header."""
        e = problem(f"pdq,id\n{A},1\n", id_column="ref")
        assert e.line == 1
        assert "unknown column 'ref' for the id" in e.problem
        assert "'pdq', 'id'" in e.problem

    def test_header_without_hash_column(self) -> None:
        """A header with no recognisable hash column says which names are accepted."""
        e = problem(f"signature,ref\n{A},1\n", header=True)
        assert "no hash column in the header" in e.problem
        assert "pdq" in e.problem

    def test_named_column_without_header(self) -> None:
        """A column name given for a file without a header is refused."""
        e = problem(f"{A},1\n", hash_column="pdq")
        assert "no header" in e.problem

    def test_missing_hash_cell(self) -> None:
        """A row too short to hold the hash is refused."""
        e = problem(f"id,pdq\n1,{A}\n2\n")
        assert e.line == 3
        assert "missing hash" in e.problem

    def test_extra_cells(self) -> None:
        """A row with more cells than the header is refused."""
        e = problem(f"pdq,id\n{A},1,surprise\n")
        assert e.line == 2
        assert "3 columns where the header names 2" in e.problem

    def test_missing_file_and_bad_encoding(self, tmp_path: Path) -> None:
        """A missing file or one that is not UTF-8 is named."""
        with pytest.raises(HashListError, match="no such file"):
            HashList.from_csv(tmp_path / "nope.csv")
        bad = tmp_path / "latin.csv"
        bad.write_bytes(b"pdq\n\xff\xfe\n")
        with pytest.raises(HashListError, match="not UTF-8"):
            HashList.from_csv(bad)


class TestThreatExchange:
    def test_graph_api_response(self, tmp_path: Path) -> None:
        """A threat_descriptors response: PDQ descriptors load, other types are skipped."""
        doc = {
            "data": [
                {"id": "1001", "type": "HASH_PDQ", "raw_indicator": A, "tags": ["x"]},
                {"id": "1002", "type": "HASH_MD5", "raw_indicator": "d41d8cd98f00b204"},
                {"id": 1003, "type": "HASH_PDQ", "raw_indicator": B},
            ],
            "paging": {"cursors": {"after": "x"}},
        }
        path = tmp_path / "te.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        hl = HashList.from_threatexchange(path, name="te")
        assert list(hl) == [HashEntry(A, "1001"), HashEntry(B, "1003")]

    def test_json_lines(self) -> None:
        """One descriptor a line (as the ThreatExchange tools save them) loads; an error
        names the line."""
        lines = [
            json.dumps({"id": "1", "type": "HASH_PDQ", "raw_indicator": A}),
            "",
            json.dumps({"id": "2", "type": "HASH_PDQ", "raw_indicator": "zz"}),
        ]
        with pytest.raises(HashListError) as info:
            HashList.parse_threatexchange("\n".join(lines), name="te", source="te.jsonl")
        assert info.value.line == 3
        assert "bad hex" in info.value.problem
        ok = HashList.parse_threatexchange("\n".join(lines[:2]), name="te")
        assert list(ok) == [HashEntry(A, "1")]

    def test_refusals(self) -> None:
        """No PDQ descriptors, a PDQ descriptor with no hash, duplicate ids, invalid
        JSON and a descriptor without a type are refused."""
        cases = {
            "no HASH_PDQ descriptors": [{"id": "1", "type": "HASH_MD5", "raw_indicator": "0"}],
            "no 'raw_indicator'": [{"id": "1", "type": "HASH_PDQ"}],
            "duplicate id '1'": [
                {"id": "1", "type": "HASH_PDQ", "raw_indicator": A},
                {"id": "1", "type": "HASH_PDQ", "raw_indicator": B},
            ],
            "no 'type'": [{"id": "1", "raw_indicator": A}],
            "expected a descriptor object": ["x"],
        }
        for message, doc in cases.items():
            with pytest.raises(HashListError, match=message):
                HashList.parse_threatexchange(json.dumps(doc), name="te")
        with pytest.raises(HashListError, match="not valid JSON"):
            HashList.parse_threatexchange("[{", name="te")
        with pytest.raises(HashListError, match="empty list"):
            HashList.parse_threatexchange("  ", name="te")

    @pytest.mark.parametrize("depth", [1_000, 100_000])
    def test_deep_nesting_is_refused(self, depth: int) -> None:
        """JSON nested deeper than the decoder goes (a hostile or broken export) is a
        HashListError naming the line, not a RecursionError; in JSON lines too."""
        deep = "[" * depth + "]" * depth
        with pytest.raises(HashListError, match=r"<text>: not valid JSON \(nested too deeply\)"):
            HashList.parse_threatexchange(deep, name="te")
        lines = json.dumps({"type": "HASH_PDQ", "raw_indicator": A}) + "\n" + '{"a":' + deep + "}"
        with pytest.raises(HashListError, match=r"line 2: not valid JSON \(nested too deeply\)"):
            HashList.parse_threatexchange(lines, name="te")


class TestEntries:
    def test_from_entries_refuses_other_shapes(self) -> None:
        """Entries must be hashes or (hash, id) pairs of strings."""
        for bad in ([(A, "1", "x")], [(A, 1)], [1]):
            with pytest.raises(HashListError, match="line 1: expected"):
                HashList.from_entries("l", bad)  # type: ignore[arg-type]


class TestNames:
    def test_bad_list_name(self) -> None:
        """A list name must be a short plain identifier (it is shown in cases)."""
        with pytest.raises(HashListError, match="list name"):
            HashList.from_entries("has space", [A])


@given(st.lists(st.tuples(hashes, st.one_of(st.none(), ids)), min_size=1, max_size=30))
def test_csv_round_trip(entries: list[tuple[str, str | None]]) -> None:
    """Any list of valid hashes with unique ids written as CSV loads back unchanged,
    with or without a header."""
    seen: set[str] = set()
    unique = []
    for h, given_id in entries:
        i = None if given_id in seen else given_id
        if i is not None:
            seen.add(i)
        unique.append((h, i))
    body = "".join(f"{h},{'' if i is None else i}\n" for h, i in unique)
    for text in (body, "pdq,id\n" + body):
        hl = HashList.parse_csv(text, name="p")
        assert list(hl) == [HashEntry(h, i) for h, i in unique]


@given(
    st.lists(hashes, min_size=1, max_size=10),
    st.integers(min_value=0, max_value=9),
    # any cell text: not a comment, not blank, no CSV quoting or row breaks
    st.text(st.characters(exclude_characters=',\n\r"#'), min_size=1, max_size=70).filter(str.strip),
)
def test_csv_any_bad_hash_is_named(good: list[str], at: int, bad: str) -> None:
    """Whatever replaces a hash, if it is not 64 hex digits the loader refuses it and
    names its line; it never loads a list with a bad entry or raises anything else."""
    rows = list(good)
    at = at % len(rows)
    rows[at] = bad
    text = "pdq\n" + "\n".join(rows) + "\n"
    clean = bad.strip()
    valid = len(clean) == 64 and all(c in HEX + HEX.upper() for c in clean)
    if valid:
        assert HashList.parse_csv(text, name="p")[at].pdq == clean.lower()
        return
    with pytest.raises(HashListError) as info:
        HashList.parse_csv(text, name="p")
    assert info.value.line == at + 2


@given(st.text(max_size=300))
def test_csv_never_raises_anything_else(text: str) -> None:
    """Arbitrary text either loads or is refused with HashListError."""
    try:
        hl = HashList.parse_csv(text, name="p")
    except HashListError:
        return
    assert len(hl) >= 1


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=70),
        lambda c: (
            st.lists(c, max_size=4)
            | st.dictionaries(
                st.sampled_from(["id", "type", "raw_indicator", "indicator", "data"]), c, max_size=4
            )
        ),
        max_leaves=12,
    )
)
def test_threatexchange_never_raises_anything_else(doc: object) -> None:
    """Arbitrary JSON either loads or is refused with HashListError."""
    try:
        hl = HashList.parse_threatexchange(json.dumps(doc), name="p")
    except HashListError:
        return
    assert len(hl) >= 1


class TestArguments:
    """What an integrator passes the loaders is checked and refused as a HashListError
    naming the argument, never a TypeError, AttributeError or ValueError from inside."""

    @pytest.mark.parametrize("text", [None, 42, {"pdq": A}, [A]])
    def test_text_that_is_not_text(self, text: object) -> None:
        for parse in (HashList.parse_csv, HashList.parse_threatexchange):
            with pytest.raises(HashListError, match="expected the list's text"):
                parse(text, name="t")  # type: ignore[arg-type]

    def test_utf8_bytes_load_and_other_bytes_are_named(self) -> None:
        """A file read in binary loads as its UTF-8 text; other bytes are refused."""
        assert [e.pdq for e in HashList.parse_csv(f"{A}\n".encode(), name="t")] == [A]
        doc = json.dumps([{"type": "HASH_PDQ", "raw_indicator": A}]).encode()
        assert len(HashList.parse_threatexchange(doc, name="t")) == 1
        with pytest.raises(HashListError, match="not UTF-8 text"):
            HashList.parse_csv(b"\xff" + A.encode(), name="t")

    @pytest.mark.parametrize("delimiter", ["", ";;", 1, '"', "\n"])
    def test_bad_delimiter(self, delimiter: object) -> None:
        assert "delimiter: expected one character" in str(problem(A, delimiter=delimiter))

    @pytest.mark.parametrize("column", [True, 1.5, [1], -1])
    def test_bad_column(self, column: object) -> None:
        """A float or a bool was taken as an index (True as column 2), a list was a
        TypeError; a negative index was named only for files without a header."""
        for text in (f"{A},x\n", f"pdq,id\n{A},x\n"):
            assert "hash_column:" in str(problem(text, hash_column=column))
            assert "id_column:" in str(problem(text, id_column=column))

    def test_bad_entries(self) -> None:
        for bad in (None, 5, A):
            with pytest.raises(HashListError, match="entries: expected an iterable"):
                HashList.from_entries("l", bad)  # type: ignore[arg-type]
        with pytest.raises(HashListError, match="digests: expected bytes"):
            HashList("l", "a" * 32, [None])  # type: ignore[arg-type]

    def test_bad_paths(self) -> None:
        for load in (HashList.from_csv, HashList.from_threatexchange):
            with pytest.raises(HashListError, match="expected a file path"):
                load(None)  # type: ignore[arg-type]
            with pytest.raises(HashListError, match="a NUL byte in the path"):
                load("list\x00.csv")

    def test_an_endless_stream_is_refused(self, tmp_path: Path) -> None:
        """A list path that is a device or a pipe (a symlink to /dev/zero) was read
        until memory ran out."""
        path = tmp_path / "partner.csv"
        path.symlink_to("/dev/zero")
        for load in (HashList.from_csv, HashList.from_threatexchange):
            with pytest.raises(HashListError, match=r"partner\.csv: not a regular file"):
                load(path)


class TestThreatExchangeValues:
    def test_id_of_the_wrong_kind(self) -> None:
        """An id of true was loaded as the id "True"; an integer id of more than 4,300
        digits was a ValueError from json."""
        for raw in ("true", "9" * 5000, "9" * 250):
            doc = f'[{{"type": "HASH_PDQ", "raw_indicator": "{A}", "id": {raw}}}]'
            with pytest.raises(HashListError, match=r"'id' must be a string|too long|longer"):
                HashList.parse_threatexchange(doc, name="te")
        ok = f'[{{"type": "HASH_PDQ", "raw_indicator": "{A}", "id": 1234}}]'
        assert HashList.parse_threatexchange(ok, name="te").ids == ("1234",)

    def test_duplicate_keys(self) -> None:
        """A descriptor naming its hash twice kept the last one silently."""
        doc = f'[{{"type": "HASH_PDQ", "raw_indicator": "{B}", "raw_indicator": "{A}"}}]'
        with pytest.raises(HashListError, match="duplicate key 'raw_indicator'"):
            HashList.parse_threatexchange(doc, name="te")
        lines = f'{{"type": "HASH_PDQ", "raw_indicator": "{A}", "type": "HASH_MD5"}}\n{{}}'
        with pytest.raises(HashListError, match="line 1: duplicate key 'type'"):
            HashList.parse_threatexchange(lines, name="te")
        one = f'{{"type": "HASH_PDQ", "raw_indicator": "{A}", "id": 1, "id": 2}}'
        pretty = f'{{\n "data": [\n  {one}\n ]\n}}'
        with pytest.raises(HashListError, match="<text>: duplicate key 'id'"):
            HashList.parse_threatexchange(pretty, name="te")

    def test_lone_surrogate_id(self) -> None:
        """An id holding a lone surrogate (JSON "\\ud800") loaded, and could not be
        written to the evidence store or a report later."""
        doc = f'[{{"type": "HASH_PDQ", "raw_indicator": "{A}", "id": "x\\ud800"}}]'
        with pytest.raises(HashListError, match=r"line 1: id .* lone surrogate"):
            HashList.parse_threatexchange(doc, name="te")
        assert "lone surrogate" in str(problem(f"{A},x\ud800\n"))


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | st.text(max_size=70)
        | st.sampled_from(["HASH_PDQ", A, "\ud800"]),
        lambda c: (
            st.lists(c, max_size=4)
            | st.dictionaries(
                st.sampled_from(["id", "type", "raw_indicator", "indicator", "data"]), c, max_size=4
            )
        ),
        max_leaves=12,
    )
)
def test_threatexchange_loads_only_clean_ids(doc: object) -> None:
    """Arbitrary JSON (floats, NaN, surrogates too) loads with string ids that can be
    encoded as UTF-8, or is refused with HashListError."""
    try:
        hl = HashList.parse_threatexchange(json.dumps(doc), name="p")
    except HashListError:
        return
    for entry_id in hl.ids:
        assert entry_id is None or entry_id.encode("utf-8")
