"""Parental controls in the pure engine: guardian links, parent locks, consent gates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from childsafe import SETTINGS, Account, AgeBand, Guard, Policy, Reason, Relationship
from childsafe._supervision import consent_values
from childsafe.exceptions import InvalidAccountError, InvalidCheckError, InvalidScopeError
from childsafe.parental import (
    CONSENT_BASED,
    ConsentScope,
    GuardianLinkError,
    Supervision,
    link_guardian,
    unlink_guardian,
)
from tests.strategies import consent_scopes, scope_texts, values_of

CONNECTED = Relationship(connected=True)
PROFILED = "feed_personalisation:profiled"


@pytest.fixture(name="parent")
def _parent() -> Account:
    return Account(id="p1", band="adult")


@pytest.fixture(name="child")
def _child(parent: Account) -> Account:
    return link_guardian(Account(id="c1", band="13_15", jurisdiction="DE"), parent)


class TestConsentScope:
    def test_processing_scopes(self) -> None:
        """Consent-based settings parse to their canonical setting:value spelling."""
        assert str(ConsentScope.parse("data_sharing:on")) == "data_sharing:on"
        scope = ConsentScope.parse(PROFILED)
        assert (scope.kind, scope.setting, scope.value) == (
            "processing",
            "feed_personalisation",
            "profiled",
        )

    def test_alias(self) -> None:
        """personalised_content is another name for profiled feed personalisation."""
        assert ConsentScope.parse("personalised_content") == ConsentScope.parse(PROFILED)

    def test_dm_from(self) -> None:
        """dm.from scopes name one account, which may itself contain colons."""
        assert ConsentScope.parse("dm.from:a:b").account == "a:b"
        assert ConsentScope.dm_from("f7") == ConsentScope.parse("dm.from:f7")
        assert ConsentScope.parse(ConsentScope.dm_from("f7")) == ConsentScope.dm_from("f7")

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("", "non-empty string"),
            ("x" * 301, "at most 300"),
            ("dm.from:", "must be followed by an account id"),
            ("dm.from:a b", "no spaces"),
            ("feed_personalisation:non_profiled", "is not consent-based"),
            ("location_sharing:public", "unknown consent scope"),
            ("everything", "unknown consent scope"),
        ],
    )
    def test_malformed(self, text: str, message: str) -> None:
        """Malformed scopes raise InvalidScopeError saying what is accepted."""
        with pytest.raises(InvalidScopeError, match=message):
            ConsentScope.parse(text)

    def test_consent_values(self) -> None:
        """Only the consent-based settings have consent values."""
        assert consent_values("data_sharing") == {"on"}
        assert consent_values("comments") == frozenset()

    def test_not_a_string(self) -> None:
        """A non-string scope is refused, not crashed on."""
        with pytest.raises(InvalidScopeError):
            ConsentScope.parse(7)  # type: ignore[arg-type]

    @given(consent_scopes)
    def test_round_trip(self, text: str) -> None:
        """Every valid scope parses, and its canonical spelling parses to the same scope."""
        scope = ConsentScope.parse(text)
        assert ConsentScope.parse(str(scope)) == scope

    @given(scope_texts)
    def test_parser_total(self, text: str) -> None:
        """Any text either parses to a scope or raises InvalidScopeError, nothing else."""
        try:
            scope = ConsentScope.parse(text)
        except InvalidScopeError:
            return
        assert scope.kind in {"processing", "dm_from"}
        if scope.kind == "processing":
            assert scope.setting in CONSENT_BASED


class TestAccountSupervision:
    def test_unsupervised_by_default(self) -> None:
        """A plain account is not supervised and shows no supervision."""
        account = Account(id="a")
        assert not account.supervised
        assert not account.supervision
        assert account.supervision == Supervision()

    def test_supervision_view(self) -> None:
        """The supervision view carries guardians, locks and canonical consents for the UI."""
        account = Account(
            id="c", guardians=["p"], locks=["comments"], consents=["personalised_content"]
        )
        view = account.supervision
        assert view.supervised and bool(view)
        assert view.guardians == {"p"} and view.locks == {"comments"}
        assert view.consents == {PROFILED}

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"guardians": "p1"}, "collection of strings"),
            ({"guardians": [""]}, "non-empty account ids"),
            ({"guardians": ["c"]}, "cannot be its own guardian"),
            ({"locks": ["coments"]}, "did you mean 'comments'"),
            ({"consents": ["everything"]}, "account consents: unknown consent scope"),
            ({"consents": 3}, "collection of strings"),
        ],
    )
    def test_invalid_fields(self, fields: dict[str, object], message: str) -> None:
        """Malformed supervision fields raise InvalidAccountError naming the problem."""
        with pytest.raises(InvalidAccountError, match=message):
            Account(id="c", **fields)  # type: ignore[arg-type]

    def test_none_means_empty(self) -> None:
        """None for a supervision field means none."""
        account = Account(id="c", guardians=None, locks=None, consents=None)
        assert account.guardians == account.locks == account.consents == frozenset()


class TestGuardianLinks:
    def test_link(self, parent: Account) -> None:
        """Linking a guardian makes the child supervised by that guardian."""
        child = link_guardian(Account(id="c", band="under_13"), parent)
        assert child.supervised and child.guardians == {"p1"}

    @pytest.mark.parametrize(
        ("child", "guardian", "message"),
        [
            (Account(id="c", band="13_15"), Account(id="g", band="16_17"), "must be an adult"),
            (Account(id="c", band="13_15"), Account(id="g"), "is unknown"),
            (Account(id="c", band="adult"), Account(id="g", band="adult"), "adult account"),
            (Account(id="c", band="adult"), Account(id="c", band="adult"), "its own guardian"),
        ],
    )
    def test_refused_links(self, child: Account, guardian: Account, message: str) -> None:
        """Links that cannot be right are refused with GuardianLinkError."""
        with pytest.raises(GuardianLinkError, match=message):
            link_guardian(child, guardian)

    def test_unlink_keeps_locks_while_a_guardian_remains(self, child: Account) -> None:
        """Unlinking one of two guardians keeps the locks but drops the verified consents."""
        both = link_guardian(child, Account(id="p2", band="adult"))
        locked = Account(
            id="c1", band="13_15", guardians=both.guardians, locks={"comments"}, consents=[PROFILED]
        )
        after = unlink_guardian(locked, "p2")
        assert after.guardians == {"p1"} and after.locks == {"comments"}
        assert after.consents == frozenset()

    def test_unlink_last_guardian_lifts_locks(self) -> None:
        """When the last guardian goes, nobody could lift the locks, so they go too."""
        locked = Account(id="c1", band="13_15", guardians={"p1"}, locks={"comments"})
        after = unlink_guardian(locked, "p1")
        assert not after.supervised and after.locks == frozenset()

    @pytest.mark.parametrize(
        ("function", "first", "second", "message"),
        [
            (link_guardian, "CHILD", "p1", "link_guardian: guardian must be a "),
            (link_guardian, "CHILD", None, "got NoneType None"),
            (link_guardian, "c1", "PARENT", "link_guardian: child must be a "),
            (unlink_guardian, "CHILD", "PARENT", "guardian_id must be the guardian's id"),
            (unlink_guardian, "c1", "p1", "unlink_guardian: child must be a "),
        ],
    )
    def test_an_id_where_an_account_belongs_or_the_reverse(
        self,
        child: Account,
        parent: Account,
        function: Callable[[Any, Any], Account],
        first: object,
        second: object,
        message: str,
    ) -> None:
        """link_guardian takes Accounts and unlink_guardian an id: the other way round was
        an AttributeError (reading .id off a string) or a TypeError (an Account is not
        hashable), now the library's GuardianLinkError saying which argument."""
        stand_in = {"CHILD": child, "PARENT": parent}
        args = [stand_in.get(a, a) if isinstance(a, str) else a for a in (first, second)]
        with pytest.raises(GuardianLinkError, match=message):
            function(*args)

    def test_unlink_unknown(self, child: Account) -> None:
        """Unlinking someone who is not a guardian is an error."""
        with pytest.raises(GuardianLinkError, match="'p9' is not a guardian of 'c1'"):
            unlink_guardian(child, "p9")


class TestParentChanges:
    def test_guardian_must_be_linked(self, guard: Guard, child: Account) -> None:
        """On a supervised account a parent's change must name one of its guardians."""
        nobody = guard.change_setting(child, "location_sharing", "connections_coarse", by="parent")
        assert (nobody.applied, nobody.reason) == (False, "not_guardian")
        assert "no guardian is not a linked guardian of 'c1'" in nobody.message
        other = guard.change_setting(
            child, "location_sharing", "connections_coarse", by="parent", guardian="p9"
        )
        assert other.reason == "not_guardian" and "'p9'" in other.message
        ok = guard.change_setting(
            child, "location_sharing", "connections_coarse", by="parent", guardian="p1"
        )
        assert ok.applied and ok.settings.location_sharing == "connections_coarse"

    def test_self_with_guardian_is_an_error(self, guard: Guard, child: Account) -> None:
        """guardian= only makes sense with by='parent'."""
        with pytest.raises(InvalidCheckError, match="use by='parent'"):
            guard.change_setting(child, "comments", "nobody", guardian="p1")

    def test_parent_change_locks(self, guard: Guard, child: Account) -> None:
        """A parent's tightening locks the setting: the child cannot loosen it back."""
        change = guard.change_setting(child, "comments", "nobody", by="parent", guardian="p1")
        assert change.applied and change.locked and change.account.locks == {"comments"}
        undo = guard.change_setting(change.account, "comments", "connections")
        assert (undo.applied, undo.reason) == (False, "parent_locked")
        assert undo.message == (
            "A parent has locked comments at 'nobody'; only a parent can loosen it."
        )

    def test_child_may_tighten_a_locked_setting(self, guard: Guard) -> None:
        """The child may still tighten a parent-locked setting, and the lock holds."""
        teen = Account(id="s", band="16_17", guardians={"p1"})
        locked = guard.change_setting(
            teen, "profile_visibility", "connections", by="parent", guardian="p1"
        )
        assert locked.reason == "locked" and locked.account.locks == {"profile_visibility"}
        refused = guard.change_setting(
            locked.account, "profile_visibility", "public", confirmed=True
        )
        assert refused.reason == "parent_locked"
        tighter = guard.change_setting(locked.account, "comments", "nobody")
        assert tighter.applied and tighter.account.locks == {"profile_visibility"}

    def test_parent_can_unlock(self, guard: Guard) -> None:
        """lock=False lifts a parent's lock, after which the child decides again."""
        teen = Account(id="s", band="16_17", guardians={"p1"}, locks={"profile_visibility"})
        unlocked = guard.change_setting(
            teen, "profile_visibility", "connections", by="parent", guardian="p1", lock=False
        )
        assert (unlocked.applied, unlocked.reason, unlocked.locked) == (True, "unlocked", False)
        first = guard.change_setting(unlocked.account, "profile_visibility", "public")
        assert first.reason == "prompt_required"

    def test_unchanged_and_unlocked_stays_unchanged(self, guard: Guard, child: Account) -> None:
        """Setting the same value with lock=False on an unlocked setting changes nothing."""
        change = guard.change_setting(
            child, "comments", "connections", by="parent", guardian="p1", lock=False
        )
        assert (change.reason, change.account) == ("unchanged", child)

    def test_parent_never_below_floor(self, guard: Guard, child: Account) -> None:
        """A linked parent still cannot go below the floor."""
        change = guard.change_setting(
            child, "direct_messages", "everyone", by="parent", guardian="p1"
        )
        assert (change.applied, change.reason, change.account.locks) == (
            False,
            "below_floor",
            frozenset(),
        )

    @given(
        st.sampled_from(("under_13", "13_15", "16_17")),
        st.sampled_from(tuple(SETTINGS)),
        st.data(),
    )
    def test_parent_change_never_below_floor(
        self, band: str, name: str, data: st.DataObject
    ) -> None:
        """Whatever a parent asks, the effective setting is never less protective than the floor."""
        guard = _GUARD
        child = Account(id="c", band=band, guardians={"p"})
        value = data.draw(values_of(SETTINGS[name]))
        change = guard.change_setting(child, name, value, by="parent", guardian="p")
        floor = guard.rules_for(child)[name].floor
        assert SETTINGS[name].le(change.settings[name], floor)

    @given(
        st.sampled_from(("under_13", "13_15", "16_17")),
        st.sampled_from(tuple(SETTINGS)),
        st.data(),
    )
    def test_child_never_loosens_a_lock(self, band: str, name: str, data: st.DataObject) -> None:
        """After a parent sets and locks a value, no change by the child loosens it."""
        guard = _GUARD
        child = Account(id="c", band=band, guardians={"p"})
        setting = SETTINGS[name]
        parent_value = data.draw(values_of(setting))
        by_parent = guard.change_setting(child, name, parent_value, by="parent", guardian="p")
        assume(by_parent.applied)
        assert by_parent.locked and name in by_parent.account.locks
        locked_value = by_parent.settings[name]
        attempt = data.draw(values_of(setting))
        by_child = guard.change_setting(by_parent.account, name, attempt, confirmed=True)
        assert setting.le(by_child.settings[name], locked_value)


_GUARD = Guard()


class TestConsentGates:
    def test_age_of_digital_consent_per_jurisdiction(self, guard: Guard) -> None:
        """13-15s need consent for profiling in DE (16) and AT (14), not in GB (13)."""
        for jurisdiction, needed in (("DE", True), ("AT", True), ("GB", False), ("US", False)):
            teen = Account(id="t", band="13_15", jurisdiction=jurisdiction)
            change = guard.change_setting(teen, "feed_personalisation", "profiled", by="parent")
            assert (change.reason == "parental_consent_required") is needed, jurisdiction

    def test_unknown_jurisdiction_assumes_sixteen(self, guard: Guard) -> None:
        """Without a jurisdiction the GDPR default of 16 applies (fail closed)."""
        change = guard.change_setting(
            Account(id="t", band="13_15"), "feed_personalisation", "profiled", by="parent"
        )
        assert change.reason == "parental_consent_required"
        assert "below the age of digital consent (16)" in change.message
        assert "'feed_personalisation:profiled'" in change.message

    def test_sixteen_in_germany_needs_no_consent(self, guard: Guard) -> None:
        """A 16-17 in Germany is at the age of digital consent and may share data itself."""
        teen = Account(id="t", band="16_17", jurisdiction="DE")
        assert guard.change_setting(teen, "data_sharing", "on").applied

    def test_consent_lets_the_parent_change_it(self, guard: Guard) -> None:
        """With a verified consent the parent's change applies and the decision allows."""
        consented = Account(
            id="c1", band="13_15", jurisdiction="DE", guardians={"p1"}, consents=[PROFILED]
        )
        change = guard.change_setting(
            consented, "feed_personalisation", "profiled", by="parent", guardian="p1"
        )
        assert change.applied and change.settings.feed_personalisation == "profiled"
        decision = guard.check("feed.personalise", actor=change.account)
        assert decision.allowed and decision.reason is Reason.PERMITTED

    def test_lapsed_consent_falls_back(self, guard: Guard) -> None:
        """A stored consent-based value without its consent counts as the protective value."""
        lapsed = Account(
            id="c1", band="13_15", jurisdiction="DE", settings={"feed_personalisation": "profiled"}
        )
        assert guard.settings_for(lapsed).feed_personalisation == "non_profiled"
        decision = guard.check("feed.personalise", actor=lapsed)
        assert (decision.allowed, decision.reason) == (False, Reason.PARENTAL_CONSENT_REQUIRED)
        assert (
            decision.remedy
            == "A linked parent can grant consent for 'feed_personalisation:profiled'."
        )
        assert "below the age of digital consent (16)" in decision.message

    def test_choice_replaces_a_lapsed_value(self, guard: Guard) -> None:
        """Choosing the protective value explicitly replaces a lapsed consent-based value."""
        lapsed = Account(
            id="c1", band="13_15", jurisdiction="DE", settings={"feed_personalisation": "profiled"}
        )
        change = guard.change_setting(lapsed, "feed_personalisation", "chronological")
        assert change.applied and change.account.settings == {
            "feed_personalisation": "chronological"
        }
        back = guard.change_setting(lapsed, "feed_personalisation", "non_profiled")
        assert back.reason == "changed" and back.account.settings == {}
        assert "no longer had a parent's consent" in back.message

    def test_setting_off_names_the_consent(self, guard: Guard) -> None:
        """Where profiling is merely off, the remedy says a consent grant is also needed."""
        decision = guard.check(
            "feed.personalise", actor=Account(id="t", band="13_15", jurisdiction="AT")
        )
        assert decision.reason is Reason.SETTING_OFF
        assert decision.remedy is not None
        assert "consent grant for 'feed_personalisation:profiled'" in decision.remedy
        assert "(14)" in decision.remedy

    def test_data_share_action(self, guard: Guard) -> None:
        """data.share follows data_sharing: off denies, on (with consent where needed) allows."""
        adult = Account(id="a", band="adult", settings={"data_sharing": "on"})
        assert guard.check("data.share", actor=adult).allowed
        assert not guard.check("data.share", actor=Account(id="c", band="under_13"))

    def test_consented_policy_default(self) -> None:
        """A policy whose default is consent-based applies it only to consented accounts."""
        policy = Policy.from_mapping(
            {"bands": {"13_15": {"feed_personalisation": {"default": "profiled"}}}}
        )
        guard = Guard(policy)
        plain = Account(id="t", band="13_15")
        assert guard.settings_for(plain).feed_personalisation == "non_profiled"
        assert (
            guard.check("feed.personalise", actor=plain).reason is Reason.PARENTAL_CONSENT_REQUIRED
        )
        other = Account(id="t", band="13_15", consents=["data_sharing:on"])
        assert guard.settings_for(other).feed_personalisation == "non_profiled"
        consented = Account(id="t", band="13_15", consents=["personalised_content"])
        assert guard.settings_for(consented).feed_personalisation == "profiled"
        assert guard.check("feed.personalise", actor=consented).allowed
        choice = guard.change_setting(plain, "feed_personalisation", "non_profiled")
        assert choice.account.settings == {"feed_personalisation": "non_profiled"}

    def test_settings_cache_tells_consents_apart(self, guard: Guard) -> None:
        """Two accounts with the same changes but different consents get different settings."""
        own = {"feed_personalisation": "profiled"}
        with_consent = Account(id="a", band="13_15", settings=own, consents=[PROFILED])
        without = Account(id="b", band="13_15", settings=own)
        assert guard.settings_for(with_consent).feed_personalisation == "profiled"
        assert guard.settings_for(without).feed_personalisation == "non_profiled"
        assert guard.settings_for(with_consent).feed_personalisation == "profiled"

    def test_adults_are_not_gated(self, guard: Guard) -> None:
        """Adults are above every age of digital consent."""
        adult = Account(id="a", band="adult", jurisdiction="DE")
        assert guard.change_setting(adult, "feed_personalisation", "profiled").applied


class TestDirectMessageGrants:
    @pytest.fixture(name="locked_child")
    def _locked_child(self) -> Account:
        return Account(
            id="c1",
            band="under_13",
            guardians={"p1"},
            settings={"direct_messages": "nobody"},
            locks={"direct_messages"},
            consents=["dm.from:friend"],
        )

    def test_granted_connection_may_message(self, guard: Guard, locked_child: Account) -> None:
        """A dm.from grant lets that one connection message a child whose DMs are off."""
        friend = Account(id="friend", band="under_13")
        decision = guard.check("dm.send", actor=friend, target=locked_child, relationship=CONNECTED)
        assert decision.allowed and decision.reason is Reason.PARENTAL_CONSENT
        assert decision.subject == "target"

    def test_child_may_reply(self, guard: Guard, locked_child: Account) -> None:
        """The grant covers the child's replies to that connection too."""
        friend = Account(id="friend", band="under_13")
        decision = guard.check("dm.send", actor=locked_child, target=friend, relationship=CONNECTED)
        assert decision.allowed and decision.reason is Reason.PARENTAL_CONSENT
        assert decision.subject == "actor"

    def test_others_still_refused(self, guard: Guard, locked_child: Account) -> None:
        """Other connections, and the granted account when not connected, are refused."""
        other = Account(id="other", band="under_13")
        assert not guard.check("dm.send", actor=other, target=locked_child, relationship=CONNECTED)
        friend = Account(id="friend", band="adult")
        stranger = guard.check("dm.send", actor=friend, target=locked_child)
        assert stranger.reason is Reason.SETTING_OFF
        assert not guard.check("dm.send", actor=locked_child, target=other, relationship=CONNECTED)

    def test_grant_never_goes_below_the_floor(self, locked_child: Account) -> None:
        """Where the policy's floor forbids all DMs, a grant does not open them."""
        policy = Policy.from_mapping(
            {"bands": {"under_13": {"direct_messages": {"default": "nobody", "floor": "nobody"}}}}
        )
        guard = Guard(policy)
        friend = Account(id="friend", band="adult")
        decision = guard.check("dm.send", actor=friend, target=locked_child, relationship=CONNECTED)
        assert decision.reason is Reason.SETTING_OFF

    def test_grant_does_not_touch_other_actions(self, guard: Guard, locked_child: Account) -> None:
        """A dm.from grant is about direct messages only."""
        friend = Account(id="friend", band="adult")
        assert (
            guard.check("tag", actor=friend, target=locked_child, relationship=CONNECTED).reason
            is not Reason.PARENTAL_CONSENT
        )


def test_minor_band_of_unknown_is_gated(guard: Guard) -> None:
    """Unknown ages resolve to under-13, the band below every age of digital consent."""
    unknown = Account(id="u", band=AgeBand.UNKNOWN, settings={"data_sharing": "on"})
    assert guard.settings_for(unknown).data_sharing == "off"


class TestRequestContext:
    def test_request_context_says_who_supervises(self, guard: Guard, child: Account) -> None:
        """The request context exposes the account's supervision so the UI can show it."""
        from childsafe import RequestContext, Resolution  # noqa: PLC0415

        context = RequestContext(guard, Resolution(child, "test"))
        assert context.supervision.supervised
        assert context.supervision.guardians == {"p1"}
        plain = RequestContext(guard, Resolution(Account(id="a", band="13_15"), "test"))
        assert not plain.supervision


class TestConsentNeeded:
    def test_per_jurisdiction_and_band(self, guard: Guard) -> None:
        """consent_needed follows the age of digital consent of the account's jurisdiction."""
        de = Account(id="t", band="13_15", jurisdiction="DE")
        gb = Account(id="t", band="13_15", jurisdiction="GB")
        assert guard.consent_needed(de, "personalised_content")
        assert guard.consent_needed(de, ConsentScope.parse("data_sharing:on"))
        assert not guard.consent_needed(gb, "personalised_content")
        assert not guard.consent_needed(Account(id="a", band="adult"), "data_sharing:on")

    def test_dm_from_is_never_needed(self, guard: Guard) -> None:
        """A dm.from grant is an exception a parent may give, never a requirement."""
        assert not guard.consent_needed(Account(id="k", band="under_13"), "dm.from:x")

    def test_dm_grants_do_not_split_the_settings_cache(self, guard: Guard) -> None:
        """Accounts that differ only in dm.from grants share one Settings object."""
        own = {"comments": "nobody"}
        a = Account(id="a", band="13_15", settings=own, consents=["dm.from:x"])
        b = Account(id="b", band="13_15", settings=own, consents=["dm.from:y"])
        assert guard.settings_for(a) is guard.settings_for(b)


class TestParentalExports:
    def test_all_sorted_and_complete(self) -> None:
        """childsafe.parental's __all__ is sorted like childsafe's and lists every public name."""
        from childsafe import parental  # noqa: PLC0415

        names = parental.__all__
        assert names == sorted(names, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
        # (pytest may rewrite the package's asserts, adding "@py_..." names.)
        public = {n for n in dir(parental) if n.isidentifier() and not n.startswith("_")}
        public -= {"annotations"}
        assert public == set(names)

    def test_classes_present_as_parental(self) -> None:
        """Public classes say they live in childsafe.parental, not in private modules."""
        from childsafe import parental  # noqa: PLC0415

        for name in parental.__all__:
            obj = getattr(parental, name)
            if isinstance(obj, type):
                assert obj.__module__ == "childsafe.parental", name
