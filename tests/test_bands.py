from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from childsafe import AgeBand, Assurance, age_on
from childsafe.exceptions import ChildsafeError, InvalidAgeError
from tests.strategies import birth_dates


class TestFromAge:
    @pytest.mark.parametrize(
        ("age", "band"),
        [
            (0, AgeBand.UNDER_13),
            (12, AgeBand.UNDER_13),
            (13, AgeBand.AGE_13_15),
            (15, AgeBand.AGE_13_15),
            (16, AgeBand.AGE_16_17),
            (17, AgeBand.AGE_16_17),
            (18, AgeBand.ADULT),
            (130, AgeBand.ADULT),
        ],
    )
    def test_boundaries(self, age: int, band: AgeBand) -> None:
        """Each band starts on the birthday the law names."""
        assert AgeBand.from_age(age) is band

    def test_none_is_unknown(self) -> None:
        """A missing age is UNKNOWN, which the policy resolves protectively."""
        assert AgeBand.from_age(None) is AgeBand.UNKNOWN

    @pytest.mark.parametrize(
        "bad",
        [
            -1,
            131,
            14.5,
            "14",
            True,
            pytest.param(10**5000, id="5001-digits"),  # repr() of it raises ValueError
            pytest.param(-(10**5000), id="minus-5001-digits"),
        ],
    )
    def test_rejects_nonsense(self, bad: object) -> None:
        """Ages that are not a plausible whole number raise the library's own error."""
        with pytest.raises(InvalidAgeError) as info:
            AgeBand.from_age(bad)  # type: ignore[arg-type]
        assert isinstance(info.value, ChildsafeError)
        assert isinstance(info.value, ValueError)

    @given(st.integers(0, 130))
    def test_monotone(self, age: int) -> None:
        """Getting older never moves an account to a younger band."""
        order = [AgeBand.UNDER_13, AgeBand.AGE_13_15, AgeBand.AGE_16_17, AgeBand.ADULT]
        assert order.index(AgeBand.from_age(age)) <= order.index(
            AgeBand.from_age(age + 0 if age == 130 else age + 1)
        )

    def test_is_minor(self) -> None:
        """Only ADULT is not a minor; UNKNOWN counts as one (fail closed)."""
        assert [b.is_minor for b in AgeBand] == [True, True, True, False, True]

    def test_parse(self) -> None:
        """Bands parse from their config names, with the valid names in the error."""
        assert AgeBand.parse("13_15") is AgeBand.AGE_13_15
        with pytest.raises(InvalidAgeError, match="'under_13', '13_15'"):
            AgeBand.parse("13-15")


class TestBirthDates:
    @pytest.mark.parametrize(
        ("tz", "message"),
        [
            (5, "tz must be an IANA name such as 'Europe/London' or a tzinfo, got 5"),
            (b"Europe/London", "tz must be an IANA name"),
            ("Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
            ("x" * 300, r"\(302 characters\)"),
        ],
    )
    def test_a_time_zone_that_is_not_one_is_an_invalid_age_error(
        self, tz: object, message: str
    ) -> None:
        """Any tz that is not a zone is the library's error (an int was zoneinfo's
        TypeError), and its message stays short."""
        on = dt.datetime(2025, 3, 1, 1, 30, tzinfo=dt.UTC)
        with pytest.raises(InvalidAgeError, match=message):
            AgeBand.from_birth_date(dt.date(2012, 3, 1), on=on, tz=tz)  # type: ignore[arg-type]

    def test_birthday_itself(self) -> None:
        """A child is 13 on the day of their 13th birthday, not the day after."""
        assert age_on(dt.date(2012, 6, 1), on=dt.date(2025, 6, 1)) == 13
        assert age_on(dt.date(2012, 6, 1), on=dt.date(2025, 5, 31)) == 12

    def test_leap_day_birthday(self) -> None:
        """A 29 February birthday is reached on 1 March in common years (the later date)."""
        born = dt.date(2012, 2, 29)
        assert AgeBand.from_birth_date(born, on=dt.date(2025, 2, 28)) is AgeBand.UNDER_13
        assert AgeBand.from_birth_date(born, on=dt.date(2025, 3, 1)) is AgeBand.AGE_13_15
        assert AgeBand.from_birth_date(born, on=dt.date(2028, 2, 29)) is AgeBand.AGE_16_17

    def test_time_zone_decides_the_local_date(self) -> None:
        """At 23:30 UTC it is already the birthday in Sydney but not in London."""
        born = dt.date(2012, 6, 2)
        at = dt.datetime(2025, 6, 1, 23, 30, tzinfo=dt.UTC)
        assert AgeBand.from_birth_date(born, on=at, tz="Australia/Sydney") is AgeBand.AGE_13_15
        assert AgeBand.from_birth_date(born, on=at, tz="Europe/London") is AgeBand.AGE_13_15
        assert AgeBand.from_birth_date(born, on=at, tz="America/New_York") is AgeBand.UNDER_13
        assert AgeBand.from_birth_date(born, on=at) is AgeBand.UNDER_13
        assert AgeBand.from_birth_date(born, on=at, tz=ZoneInfo("Asia/Tokyo")) is AgeBand.AGE_13_15

    def test_missing_birth_date_is_unknown(self) -> None:
        """No birth date means an unknown age."""
        assert AgeBand.from_birth_date(None, on=dt.date(2025, 1, 1)) is AgeBand.UNKNOWN

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"on": dt.datetime(2025, 1, 1, 12)}, "time-zone aware"),  # noqa: DTZ001
            ({"on": dt.date(2025, 1, 1), "tz": "Europe/London"}, "only applies"),
            (
                {"on": dt.datetime(2025, 1, 1, tzinfo=dt.UTC), "tz": "Mars/Base"},
                "unknown time zone",
            ),
            ({"on": "2025-01-01"}, "must be a date"),
            ({"on": dt.date(2000, 1, 1)}, "is after"),
        ],
    )
    def test_bad_references(self, kwargs: dict[str, object], message: str) -> None:
        """Naive datetimes, stray time zones, unknown zones and future births are refused."""
        with pytest.raises(InvalidAgeError, match=message):
            AgeBand.from_birth_date(dt.date(2012, 1, 1), **kwargs)  # type: ignore[arg-type]

    def test_birth_date_must_be_a_date(self) -> None:
        """A datetime or a string is not a birth date."""
        with pytest.raises(InvalidAgeError, match=r"datetime\.date"):
            age_on("2012-01-01", on=dt.date(2025, 1, 1))  # type: ignore[arg-type]
        with pytest.raises(InvalidAgeError, match=r"datetime\.date"):
            age_on(dt.datetime(2012, 1, 1, tzinfo=dt.UTC), on=dt.date(2025, 1, 1))

    @given(birth_dates, birth_dates)
    def test_age_matches_calendar_arithmetic(self, born: dt.date, today: dt.date) -> None:
        """The age is the number of birthdays (29 Feb as 1 Mar) passed on or before today."""
        if born > today:
            with pytest.raises(InvalidAgeError):
                age_on(born, on=today)
            return
        years = 0
        while True:
            year = born.year + years + 1
            try:
                anniversary = born.replace(year=year)
            except ValueError:
                anniversary = dt.date(year, 3, 1)
            if anniversary > today:
                break
            years += 1
        assert age_on(born, on=today) == years

    @given(
        birth_dates,
        st.integers(0, 23),
        st.sampled_from(["Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC"]),
    )
    def test_same_instant_differs_by_at_most_one_year(
        self, born: dt.date, hour: int, tz: str
    ) -> None:
        """Across time zones the same instant gives ages at most one year apart."""
        at = dt.datetime(2031, 3, 1, hour, tzinfo=dt.UTC)
        assert abs(age_on(born, on=at, tz=tz) - age_on(born, on=at)) <= 1


class TestAssurance:
    def test_order(self) -> None:
        """Assurance levels rank self-declared < estimated < verified."""
        ranks = [a.rank for a in (Assurance.SELF_DECLARED, Assurance.ESTIMATED, Assurance.VERIFIED)]
        assert ranks == [0, 1, 2]
