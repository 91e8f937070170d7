from __future__ import annotations

import re

import pytest

from childsafe import AgeBand, Guard
from childsafe.testing import BAND_AGES, AccountFactory, Cohort, cohorts


@pytest.fixture(name="accounts")
def _accounts() -> AccountFactory:
    return AccountFactory(jurisdiction="GB", timezone="Europe/London")


class TestAccountFactory:
    def test_bands_from_ages(self, accounts: AccountFactory) -> None:
        """child, teen and adult give the band of the age asked for."""
        assert accounts.child(age=12).band is AgeBand.UNDER_13
        assert accounts.child(age=16).band is AgeBand.AGE_16_17
        assert accounts.child(age=None).band is AgeBand.UNKNOWN
        assert accounts.teen(age=13).band is AgeBand.AGE_13_15
        assert accounts.teen().band is AgeBand.AGE_13_15
        assert accounts.adult().band is AgeBand.ADULT

    def test_ids_are_fresh_and_defaults_apply(self, accounts: AccountFactory) -> None:
        """Each account has a new id and the factory's jurisdiction and time zone."""
        a, b = accounts.child(), accounts.adult()

        assert (a.id, b.id) == ("child-1", "adult-2")
        assert (a.jurisdiction, a.timezone) == ("GB", "Europe/London")

    def test_options_override_the_defaults(self, accounts: AccountFactory) -> None:
        """Explicit id, jurisdiction, settings, time zone and assurance are used."""
        kid = accounts.teen(
            15,
            id="sam",
            jurisdiction="us-ca",
            settings={"direct_messages": "nobody"},
            timezone="America/Los_Angeles",
            assurance="verified",
        )

        assert (kid.id, kid.jurisdiction, kid.timezone) == ("sam", "US-CA", "America/Los_Angeles")
        assert kid.settings == {"direct_messages": "nobody"}
        assert kid.assurance.value == "verified"

    @pytest.mark.parametrize(
        ("kind", "age", "hint"),
        [("child", 18, "teen() or adult()"), ("teen", 12, "child() or adult()"),
         ("adult", 17, "child() or teen()")],
    )  # fmt: skip
    def test_age_outside_the_kind_is_refused(
        self, accounts: AccountFactory, kind: str, age: int, hint: str
    ) -> None:
        """An age that does not fit the factory method says which one to use."""
        with pytest.raises(ValueError, match=re.escape(f"{kind}(age={age}) needs an age")) as info:
            getattr(accounts, kind)(age=age)

        assert str(info.value).endswith(f"; use {hint} instead")

    def test_duplicate_id_is_refused(self, accounts: AccountFactory) -> None:
        """Two accounts cannot share an id."""
        accounts.adult(id="x")

        with pytest.raises(ValueError, match="already made"):
            accounts.child(id="x")

    def test_of_band(self, accounts: AccountFactory) -> None:
        """of_band makes an account of any band, unknown included."""
        assert accounts.of_band("unknown").band is AgeBand.UNKNOWN
        assert accounts.of_band(AgeBand.ADULT, settings={"tagging": "nobody"}).id.startswith(
            "adult"
        )

    def test_parent_of(self, accounts: AccountFactory) -> None:
        """A parent is an adult in the child's jurisdiction, connected and recorded."""
        kid = accounts.child(12, jurisdiction="DE")
        parent = accounts.parent_of(kid)

        assert (parent.band, parent.jurisdiction) == (AgeBand.ADULT, "DE")
        assert accounts.relationship(parent, kid).connected
        assert accounts.parents(kid) == (parent.id,)

    def test_parent_of_an_adult_is_refused(self, accounts: AccountFactory) -> None:
        """parent_of needs a child."""
        with pytest.raises(ValueError, match="needs a child account"):
            accounts.parent_of(accounts.adult())

    def test_relationships(self, accounts: AccountFactory) -> None:
        """Connections, mutual connections, blocks and invites are remembered."""
        kid, friend, other, stranger = (accounts.adult() for _ in range(4))
        accounts.connect(kid, friend)
        accounts.connect(other, friend)
        accounts.block(stranger, kid)
        accounts.invite(kid, other)

        assert accounts.relationship(kid, friend).connected
        assert accounts.relationship(other.id, kid.id).mutual_connections == 1
        assert accounts.relationship(other, kid).invited
        assert not accounts.relationship(kid, other).invited
        assert accounts.relationship(kid, stranger).blocked
        assert accounts.relationship(kid, stranger).mutual_connections == 0

    def test_serves_as_a_repository(self, accounts: AccountFactory, guard: Guard) -> None:
        """get_account and relationship answer as an AccountRepository does."""
        kid = accounts.teen()
        parent = accounts.parent_of(kid)

        assert accounts.get_account(kid.id) == kid
        assert accounts.get_account("nobody") is None
        assert list(accounts) == [kid, parent]
        assert guard.check("dm.send", parent, kid, accounts.relationship(parent, kid))


class TestCohorts:
    def test_every_band_by_default(self) -> None:
        """All five bands, unknown last, without a jurisdiction."""
        assert [str(c) for c in cohorts()] == ["under_13", "13_15", "16_17", "adult", "unknown"]

    def test_ids_and_accounts(self) -> None:
        """A cohort's id names band and jurisdiction; its accounts are in both."""
        cohort = Cohort(AgeBand.AGE_13_15, "GB")

        assert str(cohort) == "13_15-GB"
        assert cohort.age == 14
        account = cohort.account("kid", timezone="Europe/London")
        assert (account.id, account.band, account.jurisdiction) == ("kid", cohort.band, "GB")

    def test_jurisdictions_are_normalised(self) -> None:
        """Jurisdictions are checked and upper-cased."""
        assert [str(c) for c in cohorts(["adult"], ["gb", "us-ny"])] == ["adult-GB", "adult-US-NY"]

    def test_empty_is_refused(self) -> None:
        """At least one band and one jurisdiction are needed."""
        with pytest.raises(ValueError, match="at least one band"):
            cohorts([], ["GB"])

    def test_band_ages_match_their_bands(self) -> None:
        """The representative age of each band falls in it."""
        for band, age in BAND_AGES.items():
            assert AgeBand.from_age(age) is band
