"""Contact a child starts, groups, going back, and whose connection list is shown.

The rules of POLICY-BASELINE's section "Contact a child starts, groups, and going back".
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from childsafe import (
    SETTINGS,
    Account,
    AgeBand,
    Decision,
    Guard,
    Reason,
    Relationship,
)
from childsafe.exceptions import InvalidAccountError, InvalidCheckError
from tests.strategies import accounts, raw, relationships, values_of

STRANGERS = Relationship()
CONNECTED = Relationship(connected=True)
ADD_ACTIONS = ("friend.request", "follow")


def acct(band: str | AgeBand, id: str, **kw: object) -> Account:  # noqa: A002
    return Account(id=id, band=band, jurisdiction="GB", **kw)  # type: ignore[arg-type]


@pytest.fixture(name="adult")
def _adult() -> Account:
    return acct("adult", "adult", settings={"discoverable": "everyone"})


@pytest.fixture(name="kid")
def _kid() -> Account:
    return acct("under_13", "kid", guardians=["mum"])


@pytest.fixture(name="teen")
def _teen() -> Account:
    return acct("13_15", "teen")


class TestChildStartsContact:
    @pytest.mark.parametrize("action", ADD_ACTIONS)
    def test_under_13_needs_a_parent(
        self, guard: Guard, kid: Account, adult: Account, action: str
    ) -> None:
        """An under-13 adding an adult stranger is refused with its own reason naming the parent."""
        decision = guard.check(action, actor=kid, target=adult)
        assert not decision
        assert decision.reason is Reason.PARENT_APPROVAL_TO_CONTACT
        assert decision.outcome == "denied"
        assert decision.remedy is not None
        assert "'mum'" in decision.remedy
        assert f"contact.add:{adult.id}" in decision.remedy

    def test_under_13_without_a_parent(self, guard: Guard, adult: Account) -> None:
        """Without a linked parent the remedy says to link one first."""
        kid = acct("under_13", "lone")
        decision = guard.check("friend.request", actor=kid, target=adult)
        assert decision.reason is Reason.PARENT_APPROVAL_TO_CONTACT
        assert decision.remedy is not None
        assert "link a parent" in decision.remedy.lower()

    def test_parent_grant_lets_one_request_through(self, guard: Guard, adult: Account) -> None:
        """A parent's contact.add grant for that adult allows the request, and only that one."""
        kid = acct("under_13", "kid", guardians=["mum"], consents=["contact.add:adult"])
        decision = guard.check("friend.request", actor=kid, target=adult)
        assert decision
        assert decision.reason is Reason.PARENTAL_CONSENT
        other = acct("adult", "other", settings={"discoverable": "everyone"})
        assert not guard.check("friend.request", actor=kid, target=other)

    @pytest.mark.parametrize("band", ["13_15", "16_17"])
    @pytest.mark.parametrize("action", ADD_ACTIONS)
    def test_teen_needs_confirmation(
        self, guard: Guard, adult: Account, band: str, action: str
    ) -> None:
        """A 13-17 adding an adult stranger gets a safety prompt: not allowed until confirmed."""
        teen = acct(band, "t")
        decision = guard.check(action, actor=teen, target=adult)
        assert not decision
        assert decision.needs_confirmation
        assert decision.outcome == "needs_confirmation"
        assert decision.reason is Reason.CONFIRMATION_REQUIRED
        assert decision.to_dict()["needs_confirmation"] is True
        confirmed = guard.check(action, actor=teen, target=adult, confirmed=True)
        assert confirmed
        assert confirmed.reason is Reason.CONFIRMED
        assert not confirmed.needs_confirmation

    def test_confirmation_does_not_lift_a_denial(self, guard: Guard, teen: Account) -> None:
        """confirmed=True satisfies only a prompt, never the target's own setting."""
        hidden = acct("adult", "hidden", settings={"discoverable": "off"})
        decision = guard.check("friend.request", actor=teen, target=hidden, confirmed=True)
        assert not decision
        assert decision.reason is Reason.NOT_INVITED

    def test_confirmation_does_not_help_an_under_13(
        self, guard: Guard, kid: Account, adult: Account
    ) -> None:
        """An under-13 cannot confirm its way past a parent's approval."""
        decision = guard.check("friend.request", actor=kid, target=adult, confirmed=True)
        assert decision.reason is Reason.PARENT_APPROVAL_TO_CONTACT

    @pytest.mark.parametrize("band", ["under_13", "13_15", "16_17"])
    def test_connections_and_minors_are_not_prompted(
        self, guard: Guard, adult: Account, band: str
    ) -> None:
        """The rule is about adults who are not connections: a minor or a connection passes."""
        child = acct(band, "c")
        other_child = acct("13_15", "o", settings={"discoverable": "off"})
        assert guard.check("friend.request", actor=child, target=adult, relationship=CONNECTED)
        assert (
            guard.check(
                "friend.request",
                actor=child,
                target=other_child,
                relationship=Relationship(invited=True),
            ).reason
            is Reason.PERMITTED
        )

    def test_adults_are_not_prompted(self, guard: Guard, adult: Account) -> None:
        """An adult adding an adult is decided by the target's setting alone."""
        other = acct("adult", "b")
        assert guard.check("friend.request", actor=other, target=adult).reason is Reason.PERMITTED

    def test_unknown_age_is_a_child(self, guard: Guard, adult: Account) -> None:
        """An account of unknown age adding an adult stranger is treated as the protective band."""
        unknown = Account(id="u", jurisdiction="GB")
        decision = guard.check("friend.request", actor=unknown, target=adult)
        assert decision.reason is Reason.PARENT_APPROVAL_TO_CONTACT

    def test_child_starting_a_dm_reads_its_own_setting(self, guard: Guard, teen: Account) -> None:
        """A child starting a conversation with an adult stranger is refused by its own setting."""
        open_adult = acct("adult", "open", settings={"direct_messages": "everyone"})
        decision = guard.check("dm.send", actor=teen, target=open_adult)
        assert decision.reason is Reason.NOT_CONNECTED
        assert decision.subject == "actor"


def relations(
    pairs: dict[frozenset[str], Relationship],
) -> Callable[[Account, Account], Relationship | None]:
    return lambda a, b: pairs.get(frozenset((a.id, b.id)))


class TestGroups:
    def test_child_cannot_invite_an_adult_stranger(self, guard: Guard, teen: Account) -> None:
        """group.invite from a child to an adult stranger is refused, whatever the adult allows."""
        adult = acct("adult", "a", settings={"group_invites": "everyone"})
        decision = guard.check("group.invite", actor=teen, target=adult)
        assert not decision
        assert decision.reason is Reason.NOT_CONNECTED

    def test_adult_stranger_cannot_invite_a_child(self, guard: Guard) -> None:
        """An adult stranger cannot add a child whose group_invites allows connections."""
        teen = acct("16_17", "t", settings={"group_invites": "connections"})
        adult = acct("adult", "a")
        assert not guard.check("group.invite", actor=adult, target=teen)

    def test_connected_pair_may_invite(self, guard: Guard) -> None:
        """A child and a connected adult may invite each other where group_invites allows."""
        teen = acct("16_17", "t", settings={"group_invites": "connections"})
        adult = acct("adult", "a")
        assert guard.check("group.invite", actor=adult, target=teen, relationship=CONNECTED)
        assert guard.check("group.invite", actor=teen, target=adult, relationship=CONNECTED)

    def test_join_with_an_adult_stranger_is_refused(self, guard: Guard, teen: Account) -> None:
        """A child cannot join a group that holds an adult who is not its connection."""
        friend = acct("adult", "friend")
        stranger = acct("adult", "stranger")
        rel = relations({frozenset(("teen", "friend")): CONNECTED})
        decision = guard.check_group("group.join", teen, [friend, stranger], rel)
        assert not decision
        assert decision.action == "group.join"
        assert decision.reason is Reason.NOT_CONNECTED
        assert "'stranger'" in decision.message
        assert guard.check_group("group.join", teen, [friend], rel)

    def test_adult_cannot_join_a_group_with_a_child_stranger(
        self, guard: Guard, teen: Account
    ) -> None:
        """An adult joining a group that holds a child who is not its connection is refused."""
        adult = acct("adult", "a")
        decision = guard.check_group("group.join", adult, [teen], relations({}))
        assert not decision

    def test_form_checks_every_pair(self, guard: Guard) -> None:
        """Forming checks every (minor, adult) pair, not just the creator's."""
        creator = acct("adult", "creator")
        teen = acct("16_17", "t", settings={"group_invites": "connections"})
        other_adult = acct("adult", "other")
        rel = relations(
            {
                frozenset(("creator", "t")): CONNECTED,
                frozenset(("creator", "other")): CONNECTED,
            }
        )
        decision = guard.check_group("group.form", creator, [teen, other_adult], rel)
        assert not decision
        assert "'other'" in decision.message
        rel_all = relations(
            {
                frozenset(("creator", "t")): CONNECTED,
                frozenset(("creator", "other")): CONNECTED,
                frozenset(("t", "other")): CONNECTED,
            }
        )
        assert guard.check_group("group.form", creator, [teen, other_adult], rel_all)

    def test_form_reads_the_added_minors_group_invites(self, guard: Guard) -> None:
        """Forming a group adds its members, so each minor's group_invites applies."""
        creator = acct("adult", "creator")
        teen = acct("16_17", "t")  # approval_required by default
        decision = guard.check_group(
            "group.form", creator, [teen], relations({frozenset(("creator", "t")): CONNECTED})
        )
        assert decision.reason is Reason.APPROVAL_REQUIRED

    def test_minors_only_group(self, guard: Guard, teen: Account) -> None:
        """A group of minors alone has no (minor, adult) pair to refuse."""
        other = acct("16_17", "o")
        assert guard.check_group("group.join", teen, [other], relations({}))

    def test_blocked_member_refuses(self, guard: Guard, teen: Account) -> None:
        """A member who blocked the joiner keeps them out."""
        other = acct("16_17", "o")
        rel = relations({frozenset(("teen", "o")): Relationship(blocked=True)})
        assert guard.check_group("group.join", teen, [other], rel).reason is Reason.BLOCKED

    def test_bad_arguments(self, guard: Guard, teen: Account) -> None:
        """Unknown group actions and non-accounts raise the library's errors."""
        with pytest.raises(InvalidCheckError, match=r"group\.form"):
            guard.check_group("group.leave", teen, [], relations({}))  # type: ignore[arg-type]
        with pytest.raises(InvalidCheckError, match="members"):
            guard.check_group("group.join", teen, [{"id": "x"}], relations({}))  # type: ignore[list-item]
        with pytest.raises(InvalidCheckError, match="relationship"):
            guard.check_group("group.join", teen, [teen], "nope")  # type: ignore[arg-type]


class TestGoingBack:
    @pytest.mark.parametrize("band", ["under_13", "13_15", "16_17"])
    def test_back_to_default_after_tightening(self, guard: Guard, band: str) -> None:
        """A child who turned DMs to nobody may return to the default."""
        child = acct(band, "c")
        tight = guard.change_setting(child, "direct_messages", "nobody")
        assert tight.applied
        back = guard.change_setting(tight.account, "direct_messages", "connections")
        assert back.applied, back.message
        assert back.account.settings == {}
        assert back.settings.direct_messages == "connections"

    def test_partway_back(self, guard: Guard) -> None:
        """A child may move part of the way back, to a value between its own and the default."""
        teen = acct("13_15", "t")
        tight = guard.change_setting(teen, "quiet_hours", "20:00-08:00").account
        partway = guard.change_setting(tight, "quiet_hours", "20:30-07:30")
        assert partway.applied
        past = guard.change_setting(tight, "quiet_hours", "22:00-06:00")
        assert past.reason == "parent_required"

    def test_parent_lock_holds(self, guard: Guard) -> None:
        """A parent's lock holds the locked value until the parent lifts it."""
        kid = acct("under_13", "k", guardians=["mum"])
        locked = guard.change_setting(kid, "direct_messages", "nobody", by="parent", guardian="mum")
        assert locked.applied and locked.locked
        refused = guard.change_setting(locked.account, "direct_messages", "connections")
        assert refused.reason == "parent_locked"
        lifted = guard.change_setting(
            locked.account, "direct_messages", "nobody", by="parent", guardian="mum", lock=False
        )
        assert guard.change_setting(lifted.account, "direct_messages", "connections").applied

    def test_going_back_needs_no_prompt(self, guard: Guard) -> None:
        """Returning to the default is not loosening past it, so no safety prompt."""
        sixteen = acct("16_17", "s", settings={"comments": "nobody"})
        change = guard.change_setting(sixteen, "comments", "connections")
        assert change.applied and not change.prompt_required

    @given(
        band=st.sampled_from(["under_13", "13_15", "16_17", "adult"]),
        name=st.sampled_from(tuple(SETTINGS)),
        data=st.data(),
    )
    def test_tighten_then_back_returns_the_default(
        self, band: str, name: str, data: st.DataObject
    ) -> None:
        """For every setting, tightening to any value and going back gives the default."""
        guard = _GUARD
        child = acct(band, "c")
        default = guard.rules_for(child)[name].default
        setting = SETTINGS[name]
        value = data.draw(values_of(setting))
        tight = guard.change_setting(child, name, raw(setting, value))
        if not tight.applied or not setting.le(value, default):
            return
        back = guard.change_setting(tight.account, name, raw(setting, default))
        assert back.applied, back.message
        assert getattr(back.settings, name) == getattr(guard.settings_for(child), name)

    @given(
        band=st.sampled_from(["under_13", "13_15", "16_17", "unknown"]),
        name=st.sampled_from(tuple(SETTINGS)),
        steps=st.lists(st.tuples(st.sampled_from(["self", "parent"]), st.data()), max_size=4),
    )
    def test_no_sequence_goes_below_a_floor(
        self, band: str, name: str, steps: list[tuple[str, st.DataObject]]
    ) -> None:
        """No sequence of changes by the child or a parent yields a value below the floor."""
        guard = _GUARD
        account = acct(band, "c", guardians=["mum"])
        setting = SETTINGS[name]
        floor = guard.rules_for(account)[name].floor
        for by, data in steps:
            value = data.draw(values_of(setting))
            change = guard.change_setting(
                account,
                name,
                raw(setting, value),
                by=by,  # type: ignore[arg-type]
                guardian="mum" if by == "parent" else None,
                confirmed=True,
            )
            account = change.account
            assert setting.le(getattr(change.settings, name), floor)


_GUARD = Guard()


class TestWhoseList:
    def test_hidden_list_is_hidden_from_everyone_else(self, guard: Guard, kid: Account) -> None:
        """A hidden connection list is refused to strangers and to connected adults."""
        adult = acct("adult", "a")
        assert not guard.check("connections.view", actor=adult, target=kid)
        assert not guard.check("connections.view", actor=adult, target=kid, relationship=CONNECTED)

    def test_linked_parent_sees_the_list(self, guard: Guard, kid: Account) -> None:
        """A linked parent may see the child's hidden connection list."""
        mum = acct("adult", "mum")
        decision = guard.check("connections.view", actor=mum, target=kid)
        assert decision
        assert decision.reason is Reason.GUARDIAN

    def test_the_account_sees_its_own_list(self, guard: Guard, kid: Account) -> None:
        """The account always sees its own list."""
        assert guard.check("connections.view", actor=kid, target=kid).reason is Reason.OWN_ACCOUNT

    def test_blocked_parent_is_still_blocked(self, guard: Guard, kid: Account) -> None:
        """A block wins over the guardian path."""
        mum = acct("adult", "mum")
        blocked = Relationship(blocked=True)
        assert not guard.check("connections.view", actor=mum, target=kid, relationship=blocked)

    def test_listed_only_to_connections(self, guard: Guard, kid: Account) -> None:
        """A hidden account appears in lists shown to its connections, not to others."""
        stranger = acct("adult", "s")
        assert not guard.check("connections.listed", actor=stranger, target=kid)
        assert guard.check("connections.listed", actor=stranger, target=kid, relationship=CONNECTED)
        assert guard.check("connections.listed", actor=acct("adult", "mum"), target=kid)

    def test_public_adult_is_listed(self, guard: Guard) -> None:
        """An adult with a public list is listed to anyone."""
        adult = acct("adult", "a")
        assert guard.check("connections.listed", actor=acct("adult", "b"), target=adult)


class TestDecisionOutcome:
    def test_needs_confirmation_is_falsy(self) -> None:
        """A decision that needs confirmation is neither allowed nor truthy."""
        decision = Decision(
            allowed=False,
            action="follow",
            reason=Reason.CONFIRMATION_REQUIRED,
            message="m",
            needs_confirmation=True,
        )
        assert not decision
        assert decision.outcome == "needs_confirmation"

    def test_outcomes(self) -> None:
        """allowed and denied decisions name their outcome."""
        yes = Decision(allowed=True, action="a", reason=Reason.PERMITTED, message="m")
        no = Decision(allowed=False, action="a", reason=Reason.SETTING_OFF, message="m")
        assert (yes.outcome, no.outcome) == ("allowed", "denied")


class TestRelationalCopy:
    @given(
        action=st.sampled_from(
            ["dm.send", "friend.suggest", "profile.view", "location.view", "tag", "comment"]
        ),
        actor=accounts(),
        target=accounts(),
        relationship=st.one_of(st.none(), relationships),
    )
    def test_inline_and_helper_agree(
        self, action: str, actor: Account, target: Account, relationship: Relationship | None
    ) -> None:
        """The hot path's inline relational code and the helper the new rules use agree."""
        from childsafe._engine import _relational  # noqa: PLC0415 - the private twin

        compiled = _GUARD._compiled
        spec = compiled.actions[action]
        expected = _GUARD.check(action, actor=actor, target=target, relationship=relationship)
        assert _relational(compiled, spec, actor, target, relationship) == expected


class TestArgumentTypes:
    @pytest.mark.parametrize("field", ["connected", "follows", "blocked", "invited"])
    @pytest.mark.parametrize("value", ["false", "true", 1, 0, None, [True]])
    def test_relationship_flags_are_bools(self, field: str, value: object) -> None:
        """A Relationship flag that is not a bool (such as the truthy "false") is refused."""
        with pytest.raises(
            InvalidAccountError, match=rf"Relationship\.{field} must be True or False"
        ):
            Relationship(**{field: value})  # type: ignore[arg-type]

    def test_string_false_no_longer_connects(self) -> None:
        """The hole: connected="false" let a stranger message a child; now it cannot be built."""
        with pytest.raises(InvalidAccountError, match="got str 'false'"):
            Relationship(connected="false")  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        "action", ["dm.send", "friend.request", "connections.view", "purchase"]
    )
    @pytest.mark.parametrize("bad", [{"id": "x", "band": "adult"}, "adult", 42])
    def test_non_accounts_are_refused(
        self, guard: Guard, teen: Account, action: str, bad: object
    ) -> None:
        """A dict, a string or a number where an Account belongs is an InvalidCheckError."""
        with pytest.raises(InvalidCheckError, match=r"must be a childsafe\.Account"):
            guard.check(action, actor=bad, target=teen)  # type: ignore[arg-type]
        if action != "purchase":
            with pytest.raises(InvalidCheckError, match=r"target= must be a childsafe\.Account"):
                guard.check(action, actor=teen, target=bad)  # type: ignore[arg-type]

    @pytest.mark.parametrize("bad", [{"connected": True}, "connected", True])
    def test_non_relationships_are_refused(self, guard: Guard, teen: Account, bad: object) -> None:
        """A dict, a string or a bool where a Relationship belongs is an InvalidCheckError."""
        adult = acct("adult", "a")
        with pytest.raises(
            InvalidCheckError, match=r"relationship= must be a childsafe\.Relationship"
        ):
            guard.check("dm.send", actor=adult, target=teen, relationship=bad)  # type: ignore[arg-type]

    def test_confirmed_must_be_a_bool(self, guard: Guard, teen: Account) -> None:
        """A truthy non-bool confirmation (such as "no") is refused, not taken as consent."""
        adult = acct("adult", "a")
        with pytest.raises(InvalidCheckError, match="confirmed"):
            guard.check("follow", actor=teen, target=adult, confirmed="no")  # type: ignore[arg-type]

    @pytest.mark.parametrize("bad", [{"id": "x"}, "x", None])
    def test_guard_methods_refuse_non_accounts(self, guard: Guard, bad: object) -> None:
        """settings_for, rules_for, consent_needed and change_setting name a non-Account."""
        with pytest.raises(InvalidCheckError, match=r"must be a childsafe\.Account"):
            guard.settings_for(bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidCheckError, match=r"must be a childsafe\.Account"):
            guard.rules_for(bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidCheckError, match=r"must be a childsafe\.Account"):
            guard.consent_needed(bad, "data_sharing:on")  # type: ignore[arg-type]
        with pytest.raises(InvalidCheckError, match=r"must be a childsafe\.Account"):
            guard.change_setting(bad, "comments", "nobody")  # type: ignore[arg-type]

    def test_change_setting_confirmed_must_be_a_bool(self, guard: Guard) -> None:
        """A truthy non-bool confirmation does not pass the safety prompt."""
        sixteen = acct("16_17", "s")
        with pytest.raises(InvalidCheckError, match="confirmed must be True or False"):
            guard.change_setting(sixteen, "profile_visibility", "public", confirmed="no")  # type: ignore[arg-type]


class TestConfirmationProperties:
    @given(
        action=st.sampled_from(["friend.request", "follow", "group.invite", "dm.send"]),
        actor=accounts(),
        target=accounts(),
        relationship=st.one_of(st.none(), relationships),
    )
    def test_unconfirmed_is_never_allowed(
        self, action: str, actor: Account, target: Account, relationship: Relationship | None
    ) -> None:
        """A decision never both needs confirmation and is allowed, and confirming only
        turns a prompt into an allow, never a denial into one."""
        first = _GUARD.check(action, actor=actor, target=target, relationship=relationship)
        assert not (first.allowed and first.needs_confirmation)
        assert bool(first) is first.allowed
        again = _GUARD.check(
            action, actor=actor, target=target, relationship=relationship, confirmed=True
        )
        if first.needs_confirmation:
            assert again.reason is Reason.CONFIRMED
        else:
            assert again == first

    @given(actor=accounts(), target=accounts(band=AgeBand.ADULT))
    def test_minor_never_adds_an_adult_stranger_unasked(
        self, actor: Account, target: Account
    ) -> None:
        """No minor's request to an adult stranger is allowed without a prompt or a parent."""
        for action in ADD_ACTIONS:
            decision = _GUARD.check(action, actor=actor, target=target)
            if actor.band is not AgeBand.ADULT and actor.id != target.id:
                assert not decision.allowed


class TestSettingChangeConfirmation:
    def test_prompted_change_needs_confirmation(self, guard: Guard) -> None:
        """A prompt_on_loosen change says it needs confirmation, like a Decision does."""
        sixteen = acct("16_17", "s")
        first = guard.change_setting(sixteen, "profile_visibility", "public")
        assert first.needs_confirmation
        assert not first
        second = guard.change_setting(sixteen, "profile_visibility", "public", confirmed=True)
        assert second
        assert not second.needs_confirmation
