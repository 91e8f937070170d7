"""Validation at the public boundaries: jurisdictions, durations, parsers, dates."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from childsafe import Account, Policy
from childsafe._iso3166 import COUNTRIES, SUBDIVISIONS
from childsafe._policy import normalise_jurisdiction
from childsafe.exceptions import ConfigurationError, InvalidAccountError


class TestJurisdictionCodes:
    @pytest.mark.parametrize(
        ("code", "hint"),
        [
            ("US-ZZ", "'ZZ' is not an ISO 3166-2 subdivision of US"),
            ("US-CAL", "did you mean 'US-CA'"),
            ("US-", "malformed subdivision"),
            ("UK", "did you mean 'GB'"),
            ("ZZ", "not an ISO 3166-1 alpha-2 country code"),
            ("EU-DE", "is a group"),
        ],
    )
    def test_account_refuses_unknown_codes(self, code: str, hint: str) -> None:
        """An Account with a code ISO 3166 does not know is refused, with a did-you-mean."""
        with pytest.raises(InvalidAccountError, match=hint):
            Account(id="a", jurisdiction=code)

    @pytest.mark.parametrize("code", ["US-ZZ", "US-CAL"])
    def test_config_refuses_unknown_codes(self, code: str) -> None:
        """A config jurisdiction that would silently drop a state's rules is a load error."""
        with pytest.raises(ConfigurationError, match=f"jurisdiction {code!r}"):
            Policy.from_mapping({"jurisdiction": code})

    @pytest.mark.parametrize("code", ["gb", "US-NY", "us-ca", "GB-SCT", "FR-75", "DE-BY", "EU"])
    def test_known_codes_pass(self, code: str) -> None:
        """Countries, their checked subdivisions and unchecked well-formed ones are accepted."""
        assert Account(id="a", jurisdiction=code).jurisdiction == code.upper()

    @given(st.sampled_from(sorted(COUNTRIES)))
    def test_every_country_is_accepted(self, code: str) -> None:
        """Every ISO 3166-1 alpha-2 code is accepted, in either case."""
        assert normalise_jurisdiction(code.lower()) == code

    @given(st.sampled_from(sorted(SUBDIVISIONS)), st.data())
    def test_every_listed_subdivision_is_accepted(self, country: str, data: st.DataObject) -> None:
        """Every subdivision of a checked country is accepted."""
        sub = data.draw(st.sampled_from(sorted(SUBDIVISIONS[country])))
        assert normalise_jurisdiction(f"{country}-{sub}") == f"{country}-{sub}"

    @given(st.text(max_size=12))
    def test_any_text_is_a_code_or_a_value_error(self, text: str) -> None:
        """Whatever the text, the result is a known code or a ValueError, nothing else."""
        try:
            code = normalise_jurisdiction(text)
        except ValueError:
            return
        assert code.split("-")[0] in COUNTRIES | {"EU"}
