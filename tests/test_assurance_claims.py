"""Claim mapping and signal combination (childsafe.assurance): each claim shape, and
property tests that the youngest plausible band always wins."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from childsafe import AgeBand, Assurance
from childsafe._bands import age_on
from childsafe.assurance import (
    AgeSignal,
    ClaimMapping,
    InvalidClaimError,
    MissingAgeClaimError,
    combine_signals,
)
from childsafe.assurance._claims import ANYWHERE_ON_EARTH
from childsafe.assurance._signals import band_rank
from childsafe.exceptions import InvalidAgeError
from tests.assurance_support import NOW

DEFAULT = ClaimMapping()
BANDS = (AgeBand.UNDER_13, AgeBand.AGE_13_15, AgeBand.AGE_16_17, AgeBand.ADULT)
THRESHOLDS = (13, 16, 18)


def read(claims: dict[str, Any], mapping: ClaimMapping = DEFAULT) -> AgeSignal:
    signals, assurance = mapping.signals(claims, now=NOW, assurance=Assurance.ESTIMATED)
    assert all(s.assurance is assurance for s in signals)
    return combine_signals(*signals)


def today() -> dt.date:
    return dt.datetime.fromtimestamp(NOW, ANYWHERE_ON_EARTH).date()


class TestClaimShapes:
    @pytest.mark.parametrize(
        ("claims", "band", "source"),
        [
            ({"age_band": "16_17"}, AgeBand.AGE_16_17, "token:age_band"),
            ({"age": 12}, AgeBand.UNDER_13, "token:age"),
            ({"birthdate": "2000-01-01"}, AgeBand.ADULT, "token:birthdate"),
            ({"age_over_13": True}, AgeBand.AGE_13_15, "token:age_over_13"),
            ({"age_over_13": True, "age_over_16": True}, AgeBand.AGE_16_17, "token:age_over_16"),
            ({"age_over_18": True, "age_over_13": True}, AgeBand.ADULT, "token:age_over_18"),
            ({"age_over_18": False}, AgeBand.UNDER_13, "token:age_over_18"),
            ({"age_over_13": True, "age_over_18": False}, AgeBand.AGE_13_15, "token:age_over_13"),
            ({"age_over_16": False, "age_over_13": False}, AgeBand.UNDER_13, "token:age_over_13"),
            ({"age_band": "adult", "age": 15}, AgeBand.AGE_13_15, "token:age"),
            ({"age_band": "13_15", "age_over_18": True}, AgeBand.AGE_13_15, "token:age_band"),
        ],
    )
    def test_default_mapping(self, claims: dict[str, Any], band: AgeBand, source: str) -> None:
        """The default mapping reads every standard shape; the youngest band wins."""
        signal = read(claims)
        assert (signal.band, signal.source) == (band, source)

    def test_year_only_birthdate_is_the_youngest_reading(self) -> None:
        """A bare year is read as 31 December: the youngest that year allows."""
        year = today().year - 13
        assert read({"birthdate": str(year)}).band is AgeBand.UNDER_13
        assert read({"birthdate": str(year - 1)}).band is AgeBand.AGE_13_15

    def test_nested_claims_and_value_tables(self) -> None:
        """Dotted claim names reach nested objects; issuers' own values are mapped."""
        mapping = ClaimMapping(
            age_band="age.group",
            band_values={"teen": "13_15", "grown": "adult"},
            birthdate="verified_claims.claims.birthdate",
            age=None,
            age_over={},
            assurance="verified_claims.verification.level",
            assurance_values={"ial2": "verified"},
        )
        claims = {
            "age": {"group": "grown"},
            "verified_claims": {
                "verification": {"level": "ial2"},
                "claims": {"birthdate": "2011-01-01"},
            },
        }
        signals, assurance = mapping.signals(claims, now=NOW, assurance=Assurance.SELF_DECLARED)
        assert assurance is Assurance.VERIFIED
        assert [(s.band, s.source) for s in signals] == [
            (AgeBand.ADULT, "token:age.group"),
            (AgeBand.AGE_13_15, "token:verified_claims.claims.birthdate"),
        ]
        assert read({"age": {"group": "teen"}}, mapping).band is AgeBand.AGE_13_15
        assert read({"age": {"group": "13_15"}}, mapping).band is AgeBand.AGE_13_15
        with pytest.raises(InvalidClaimError, match="or one of 'teen'"):
            read({"age": {"group": "kid"}}, mapping)
        # A path through something that is not an object finds nothing.
        with pytest.raises(MissingAgeClaimError):
            read({"age": "adult", "verified_claims": ["x"]}, mapping)

    def test_age_range(self) -> None:
        """An app-store age range sets the band from its lower bound."""
        mapping = ClaimMapping(age_lower="age_lower", age_upper="age_upper")
        assert read({"age_lower": 13, "age_upper": 17}, mapping).band is AgeBand.AGE_13_15
        assert read({"age_lower": 18}, mapping).source == "token:age_lower"
        only_upper = read({"age_upper": 12}, mapping)
        assert (only_upper.band, only_upper.source) == (AgeBand.UNDER_13, "token:age_upper")
        with pytest.raises(InvalidClaimError, match="empty range"):
            read({"age_lower": 16, "age_upper": 13}, mapping)
        with pytest.raises(InvalidClaimError, match="whole number"):
            read({"age_lower": "13"}, mapping)

    def test_missing_claims_are_named(self) -> None:
        """The error for a token without age claims lists the claims looked for."""
        mapping = ClaimMapping(age_band=None, birthdate=None, age_over={"over18": 18})
        with pytest.raises(MissingAgeClaimError, match=r"\(age, over18\)"):
            read({"sub": "x"}, mapping)

    def test_assurance_claim(self) -> None:
        """The assurance claim overrides the issuer's level; unknown values are errors."""
        mapping = ClaimMapping(assurance="acr")
        signals, level = mapping.signals(
            {"age": 30, "acr": "verified"}, now=NOW, assurance=Assurance.SELF_DECLARED
        )
        assert level is Assurance.VERIFIED
        assert signals[0].assurance is Assurance.VERIFIED
        with pytest.raises(InvalidClaimError, match="assurance level"):
            mapping.signals({"age": 30, "acr": 2}, now=NOW, assurance=Assurance.SELF_DECLARED)

    def test_long_values_are_shortened_in_messages(self) -> None:
        """A huge claim value is cut short in the error message."""
        with pytest.raises(InvalidClaimError) as info:
            read({"age_band": "x" * 500})
        assert len(str(info.value)) < 300
        with pytest.raises(InvalidClaimError, match=r"got an object"):
            read({"age_band": {"a": 1}})


class TestCombine:
    def test_youngest_wins_then_surest(self) -> None:
        """The youngest band wins; among equals the highest assurance, then the first."""
        token = AgeSignal(band="13_15", assurance="estimated", source="token")
        declared = AgeSignal(band="13_15", assurance="self_declared", source="declared")
        store = AgeSignal.from_age_range(16, 17)
        assert combine_signals(declared, token, store).source == "token"
        twin = AgeSignal(band="13_15", assurance="estimated", source="twin")
        assert combine_signals(token, twin).source == "token"
        assert combine_signals(store, AgeSignal.from_age(12)).band is AgeBand.UNDER_13

    def test_constructors(self) -> None:
        """The convenience constructors check their inputs."""
        assert AgeSignal.from_age(17).band is AgeBand.AGE_16_17
        assert AgeSignal.from_age_range(18).band is AgeBand.ADULT
        born = AgeSignal.from_birth_date(dt.date(2012, 2, 29), on=dt.date(2025, 3, 1))
        assert (born.band, born.source, born.assurance) == (
            AgeBand.AGE_13_15,
            "self_declared",
            Assurance.SELF_DECLARED,
        )
        with pytest.raises(InvalidAgeError, match="whole number"):
            AgeSignal.from_age(-1)
        with pytest.raises(InvalidAgeError, match="whole number"):
            AgeSignal.from_age(True)
        with pytest.raises(InvalidAgeError, match="lower <= upper"):
            AgeSignal.from_age_range(15, 13)
        with pytest.raises(InvalidAgeError, match="at least one signal"):
            combine_signals()


# ----------------------------------------------------------------- properties

ages = st.integers(0, 100)


@st.composite
def consistent_booleans(draw: st.DrawFn, age: int) -> dict[str, bool]:
    """Some of the age_over_13/16/18 claims, truthful for someone ``age`` years old."""
    chosen = draw(st.lists(st.sampled_from(THRESHOLDS), unique=True, min_size=1))
    return {f"age_over_{n}": age >= n for n in chosen}


class TestProperties:
    @given(
        age=ages,
        data=st.data(),
        with_band=st.booleans(),
        with_age=st.booleans(),
        band=st.sampled_from(BANDS),
        other_age=ages,
    )
    def test_youngest_claim_wins(
        self,
        age: int,
        data: st.DataObject,
        with_band: bool,
        with_age: bool,
        band: AgeBand,
        other_age: int,
    ) -> None:
        """Whatever claims a token carries, its band is the youngest any one of them
        gives on its own, and the source names a claim that gives it."""
        claims: dict[str, Any] = dict(data.draw(consistent_booleans(age)))
        if with_band:
            claims["age_band"] = band.value
        if with_age:
            claims["age"] = other_age
        alone = [read({k: v}).band for k, v in claims.items() if not k.startswith("age_over")]
        alone.append(read({k: v for k, v in claims.items() if k.startswith("age_over")}).band)
        result = read(claims)
        assert result.band is min(alone, key=band_rank)

    @given(age=ages, data=st.data())
    def test_booleans_never_make_anyone_older(self, age: int, data: st.DataObject) -> None:
        """Truthful age_over booleans give a band no older than the true one, and the
        true band itself when all three thresholds are given."""
        booleans = data.draw(consistent_booleans(age))
        band = read(booleans).band
        assert band_rank(band) <= band_rank(AgeBand.from_age(age))
        if len(booleans) == len(THRESHOLDS):
            assert band is AgeBand.from_age(age)

    @given(
        born=st.dates(min_value=dt.date(1930, 1, 1), max_value=dt.date(2025, 6, 14)),
        age=ages,
    )
    def test_birthdate_and_age(self, born: dt.date, age: int) -> None:
        """A birth date is read on the UTC-12 calendar date, and with an age claim the
        younger of the two wins."""
        from_date = AgeBand.from_age(age_on(born, on=today()))
        assert read({"birthdate": born.isoformat()}).band is from_date
        combined = read({"birthdate": born.isoformat(), "age": age, "age_band": None})
        assert combined.band is min(from_date, AgeBand.from_age(age), key=band_rank)

    @given(
        signals=st.lists(
            st.builds(
                AgeSignal,
                band=st.sampled_from(BANDS),
                assurance=st.sampled_from(tuple(Assurance)),
                source=st.text(min_size=1, max_size=5),
            ),
            min_size=1,
            max_size=6,
        )
    )
    def test_combine_is_the_youngest_in_any_order(self, signals: list[AgeSignal]) -> None:
        """combine_signals gives the youngest band, whatever order the signals come in,
        with the highest assurance any signal of that band has."""
        result = combine_signals(*signals)
        youngest = min((s.band for s in signals), key=band_rank)
        assert result.band is youngest
        assert result.assurance.rank == max(s.assurance.rank for s in signals if s.band is youngest)
        assert combine_signals(*reversed(signals)).band is youngest
