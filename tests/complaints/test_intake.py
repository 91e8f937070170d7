"""Intake validation: clear errors naming each field, and properties of the parser."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from childsafe import Account
from childsafe.complaints import (
    DEFAULT_CATEGORIES,
    MAX_DESCRIPTION,
    MAX_ID,
    InvalidComplaintError,
    ReporterRole,
    SubjectKind,
    parse_report,
)

GOOD: dict[str, Any] = {"category": "privacy", "subject": {"kind": "content", "id": "p-1"}}


def fields(data: object, account: Account | None = None) -> list[str]:
    with pytest.raises(InvalidComplaintError) as caught:
        parse_report(data, account=account)
    assert str(caught.value).startswith("invalid report")
    return [p.field for p in caught.value.problems]


class TestExamples:
    def test_a_full_report(self) -> None:
        intake = parse_report(
            {
                "category": "grooming",
                "subject": {"kind": "message", "id": "m-81", "account_id": "u-12"},
                "description": "  He keeps asking me to move to another app\n",
                "reporter": {"role": "parent", "age_band": "adult"},
            }
        )
        assert intake.subject.account_id == "u-12"
        assert intake.description == "He keeps asking me to move to another app"
        assert intake.reporter.role is ReporterRole.PARENT

    def test_an_account_subject_is_its_own_owner(self) -> None:
        intake = parse_report({"category": "bullying", "subject": {"kind": "account", "id": 42}})
        assert (intake.subject.id, intake.subject.account_id) == ("42", "42")
        assert fields(
            {"category": "bullying", "subject": {"kind": "account", "id": "a", "account_id": "b"}}
        ) == ["subject.account_id"]

    @pytest.mark.parametrize(
        ("data", "expected"),
        [
            ([], ["(body)"]),
            ({}, ["category", "subject"]),
            ({**GOOD, "extra": 1}, ["extra"]),
            ({**GOOD, "category": 3}, ["category"]),
            ({**GOOD, "subject": "p-1"}, ["subject"]),
            ({**GOOD, "subject": {"id": "p"}}, ["subject.kind"]),
            ({**GOOD, "subject": {"kind": "post", "id": "p"}}, ["subject.kind"]),
            ({**GOOD, "subject": {"kind": "content", "id": ""}}, ["subject.id"]),
            ({**GOOD, "subject": {"kind": "content", "id": True}}, ["subject.id"]),
            ({**GOOD, "subject": {"kind": "content", "id": "a\x00b"}}, ["subject.id"]),
            ({**GOOD, "subject": {"kind": "content", "id": "x" * (MAX_ID + 1)}}, ["subject.id"]),
            ({**GOOD, "subject": {"kind": "content", "id": "p", "x": 1}}, ["subject.x"]),
            ({**GOOD, "description": 5}, ["description"]),
            ({**GOOD, "description": "x" * (MAX_DESCRIPTION + 1)}, ["description"]),
            ({**GOOD, "description": "bad \x07 bell"}, ["description"]),
            ({**GOOD, "description": "lone \ud800"}, ["description"]),
            ({**GOOD, "reporter": []}, ["reporter"]),
            ({**GOOD, "reporter": {"role": "teacher"}}, ["reporter.role"]),
            ({**GOOD, "reporter": {"age_band": "10"}}, ["reporter.age_band"]),
            ({**GOOD, "reporter": {"role": "child", "age_band": "adult"}}, ["reporter.role"]),
            ({**GOOD, "reporter": {"role": "parent", "age_band": "13_15"}}, ["reporter.role"]),
            ({**GOOD, "reporter": {"name": "x"}}, ["reporter.name"]),
            ({**GOOD, "reporter": {"role": "platform"}}, ["reporter.role"]),
        ],
    )
    def test_each_problem_names_its_field(self, data: object, expected: list[str]) -> None:
        assert fields(data) == expected

    def test_signed_in_accounts_decide_the_band(self) -> None:
        kid = Account(id="k", band="13_15")
        adult = Account(id="a", band="adult")
        assert fields({**GOOD, "reporter": {"role": "parent"}}, kid) == ["reporter.role"]
        assert fields({**GOOD, "reporter": {"role": "child"}}, adult) == ["reporter.role"]
        assert fields({**GOOD, "reporter": {"age_band": "adult"}}, kid) == ["reporter.age_band"]
        same = parse_report(
            {**GOOD, "reporter": {"age_band": "13_15", "role": "child"}}, account=kid
        )
        assert same.reporter.account_id == "k"
        unknown = parse_report(GOOD, account=Account(id="u", band="unknown"))
        assert unknown.reporter.role is ReporterRole.OTHER

    def test_many_problems_read_as_a_list(self) -> None:
        with pytest.raises(InvalidComplaintError, match="3 problems"):
            parse_report({"category": "x", "subject": {"kind": "y"}})


# -- properties ---------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
ids = st.text(
    alphabet=st.characters(
        min_codepoint=33, max_codepoint=0x2FFF, exclude_categories=("Cc", "Cs", "Cf", "Zl", "Zp")
    ),
    min_size=1,
    max_size=MAX_ID,
).filter(str.strip)  # all white space (U+1680 too) is an empty id
valid_reports = st.fixed_dictionaries(
    {
        "category": st.sampled_from(list(DEFAULT_CATEGORIES)),
        "subject": st.fixed_dictionaries(
            {"kind": st.sampled_from(["content", "message"]), "id": ids},
            optional={"account_id": ids},
        ),
    },
    optional={
        "description": st.text(
            alphabet=st.characters(exclude_categories=("Cc", "Cs")) | st.just("\n"),
            max_size=200,
        ),
        "reporter": st.fixed_dictionaries(
            {}, optional={"role": st.sampled_from(["parent", "other"])}
        ),
    },
)


class TestProperties:
    @given(json_values)
    def test_any_json_is_a_report_or_a_clear_error(self, data: object) -> None:
        """Whatever JSON arrives, the parser returns an intake or raises its own error
        with at least one named problem; never anything else."""
        try:
            parse_report(data)
        except InvalidComplaintError as e:
            problems = e.problems
        else:
            return
        assert problems
        assert all(p.field and p.message for p in problems)

    @given(valid_reports)
    def test_valid_reports_keep_what_was_sent(self, data: dict[str, Any]) -> None:
        intake = parse_report(data)
        assert intake.category == data["category"]
        assert intake.subject.kind is SubjectKind(data["subject"]["kind"])
        assert intake.subject.id == data["subject"]["id"].strip()
        assert intake.description == data.get("description", "").strip()

    @given(valid_reports, st.text(min_size=1, max_size=12).filter(lambda k: k not in
           {"category", "subject", "description", "reporter"}))  # fmt: skip
    def test_an_unknown_field_is_always_named(self, data: dict[str, Any], key: str) -> None:
        assert key in fields({**data, key: 1})


class TestHostileIds:
    @pytest.mark.parametrize("digits", [MAX_ID + 1, 5000, 100_000])
    def test_huge_integer_ids_are_a_problem_not_a_crash(self, digits: int) -> None:
        """An integer id too long to be one (even past Python's 4,300-digit limit on
        turning integers into text) is a named problem."""
        with pytest.raises(InvalidComplaintError) as caught:
            parse_report({**GOOD, "subject": {"kind": "content", "id": 10 ** (digits - 1)}})
        [problem] = caught.value.problems
        assert (problem.field, problem.message.startswith(f"at most {MAX_ID} characters")) == (
            "subject.id",
            True,
        )

    def test_an_integer_id_of_the_longest_length_is_taken(self) -> None:
        intake = parse_report({**GOOD, "subject": {"kind": "content", "id": 10 ** (MAX_ID - 1)}})
        assert len(intake.subject.id) == MAX_ID

    @pytest.mark.parametrize(
        "char", ["\u202e", "\u200b", "\u2066", "\ufeff", "\u2028", "\u061c", "\u200f"]
    )
    def test_invisible_characters_in_ids_are_refused(self, char: str) -> None:
        """An id with a bidi override or an invisible character (it would show a
        moderator something other than what it is) is refused, naming the character;
        a description may hold them (right-to-left languages use some)."""
        data = {**GOOD, "subject": {"kind": "account", "id": f"u-1{char}gnp.exe"}}
        with pytest.raises(InvalidComplaintError) as caught:
            parse_report(data)
        [problem] = caught.value.problems
        assert problem.field == "subject.id"
        assert f"U+{ord(char):04X}" in problem.message
        assert parse_report({**GOOD, "description": f"he wrote {char}this"}).description
