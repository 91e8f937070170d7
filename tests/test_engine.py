from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from childsafe import (
    ACTIONS,
    Account,
    AgeBand,
    Decision,
    Guard,
    Policy,
    Reason,
    Relationship,
    TimeWindow,
    load_policy,
)
from childsafe.exceptions import (
    InvalidAccountError,
    InvalidCheckError,
    InvalidSettingError,
    UnknownActionError,
)
from tests.strategies import accounts, relationships

STRANGERS = Relationship()
CONNECTED = Relationship(connected=True)
MINOR_BANDS = (AgeBand.UNDER_13, AgeBand.AGE_13_15, AgeBand.AGE_16_17, AgeBand.UNKNOWN)
RELATIONAL = (
    "dm.send",
    "friend.request",
    "follow",
    "friend.suggest",
    "group.invite",
    "profile.view",
    "connections.view",
    "connections.listed",
    "location.view",
    "tag",
    "comment",
    "content.download",
    "live.gift",
)


def acct(band: str | AgeBand, id: str = "x", **kw: object) -> Account:  # noqa: A002
    return Account(id=id, band=band, **kw)  # type: ignore[arg-type]


@pytest.fixture(name="adult")
def _adult() -> Account:
    return acct(AgeBand.ADULT, "adult", jurisdiction="GB")


@pytest.fixture(name="teen")
def _teen() -> Account:
    return acct(AgeBand.from_age(14), "teen", jurisdiction="GB")


class TestIssueExample:
    def test_public_api_as_written(self) -> None:
        """The example in the issue works exactly as written."""
        guard = Guard(load_policy())
        teen = Account(id="t1", band=AgeBand.from_age(14), jurisdiction="GB")
        adult = Account(id="a1", band=AgeBand.ADULT, jurisdiction="GB")
        d = guard.check(
            "dm.send", actor=adult, target=teen, relationship=Relationship(connected=False)
        )
        assert not d.allowed and d.setting == "direct_messages" and d.reason
        assert guard.settings_for(teen).location_sharing == "off"


class TestDirectMessages:
    def test_stranger_to_teen_is_denied_with_reasons(
        self, guard: Guard, adult: Account, teen: Account
    ) -> None:
        """A stranger adult cannot DM a 14-year-old; the decision says why and cites sources."""
        d = guard.check("dm.send", actor=adult, target=teen, relationship=STRANGERS)
        assert not d
        assert (d.reason, d.setting, d.value, d.subject, d.band) == (
            Reason.NOT_CONNECTED,
            "direct_messages",
            "connections",
            "target",
            AgeBand.AGE_13_15,
        )
        assert d.remedy == "They need to be connected."
        assert {c.id for c in d.citations} >= {"ofcom-icu-f1", "nspcc-wild-west-web"}
        assert "not connected" in d.message

    def test_connection_may_message(self, guard: Guard, adult: Account, teen: Account) -> None:
        """A connected relative's DM is allowed."""
        d = guard.check("dm.send", actor=adult, target=teen, relationship=CONNECTED)
        assert d.allowed and d.reason is Reason.PERMITTED

    def test_missing_relationship_means_strangers(
        self, guard: Guard, adult: Account, teen: Account
    ) -> None:
        """With no relationship given, the accounts are treated as strangers (fail closed)."""
        assert guard.check("dm.send", actor=adult, target=teen).reason is Reason.NOT_CONNECTED

    def test_blocks_always_deny(self, guard: Guard, adult: Account, teen: Account) -> None:
        """A block denies even between connections, and even towards adults."""
        rel = Relationship(connected=True, blocked=True)
        for action in RELATIONAL:
            d = guard.check(action, actor=adult, target=teen, relationship=rel)
            assert (d.allowed, d.reason) == (False, Reason.BLOCKED)
            d = guard.check(action, actor=teen, target=adult, relationship=rel)
            assert (d.allowed, d.reason) == (False, Reason.BLOCKED)

    def test_minor_actor_is_held_to_its_own_setting(
        self, guard: Guard, adult: Account, teen: Account
    ) -> None:
        """A child cannot start a DM with an adult stranger either (conversations are two-way)."""
        d = guard.check("dm.send", actor=teen, target=adult, relationship=STRANGERS)
        assert (d.allowed, d.subject, d.reason) == (False, "actor", Reason.NOT_CONNECTED)
        assert guard.check("dm.send", actor=teen, target=adult, relationship=CONNECTED)

    def test_adults_message_adults(self, guard: Guard, adult: Account) -> None:
        """Adults keep the least protective defaults between themselves."""
        other = acct("adult", "b")
        assert guard.check("dm.send", actor=adult, target=other).allowed

    def test_under_13_remedy_names_parent_only_when_floor_allows(self, guard: Guard) -> None:
        """Where nobody may loosen a setting, the remedy only names the relationship."""
        child = acct("under_13", "c")
        d = guard.check("dm.send", actor=acct("adult", "a"), target=child)
        assert d.remedy == "They need to be connected."

    def test_dm_off_has_no_remedy(self, guard: Guard) -> None:
        """A child whose DMs are off cannot be messaged by anyone, connected or not."""
        child = acct("16_17", "c", settings={"direct_messages": "nobody"})
        d = guard.check("dm.send", actor=acct("adult", "a"), target=child, relationship=CONNECTED)
        assert (d.reason, d.remedy) == (Reason.SETTING_OFF, None)


class TestDiscovery:
    def test_children_never_suggested_to_strangers(self, guard: Guard, adult: Account) -> None:
        """No minor band is suggested to a stranger adult, whatever mutual connections exist."""
        for band in MINOR_BANDS:
            d = guard.check(
                "friend.suggest", actor=adult, target=acct(band, "m"), relationship=STRANGERS
            )
            assert not d.allowed and d.setting == "discoverable"

    def test_children_see_no_suggestions(self, guard: Guard, adult: Account, teen: Account) -> None:
        """A child is not shown suggested connections (its own friend_suggestions)."""
        d = guard.check("friend.suggest", actor=teen, target=adult)
        assert (d.allowed, d.setting, d.subject) == (False, "friend_suggestions", "actor")

    def test_sixteen_year_old_remedies(self, guard: Guard) -> None:
        """A 16-year-old can opt into mutual-connection discovery: the remedy says who."""
        sixteen = acct("16_17", "s")
        d = guard.check("friend.suggest", actor=acct("adult", "a"), target=sixteen)
        assert d.remedy == (
            "The account holder can allow this by changing discoverable to "
            "'mutual_connections' (then they need a mutual connection)."
        )
        opted_in = sixteen.with_settings(discoverable="mutual_connections")
        assert not guard.check("friend.suggest", actor=acct("adult", "a"), target=opted_in)
        assert guard.check(
            "friend.suggest",
            actor=acct("adult", "a"),
            target=opted_in,
            relationship=Relationship(mutual_connections=2),
        ) == guard.check(
            "friend.suggest",
            actor=acct("adult", "b"),
            target=opted_in,
            relationship=Relationship(mutual_connections=1),
        )

    def test_friend_requests_need_an_invite(
        self, guard: Guard, adult: Account, teen: Account
    ) -> None:
        """A non-discoverable child can only be sent requests by someone they invited."""
        d = guard.check("friend.request", actor=adult, target=teen)
        assert (d.allowed, d.reason) == (False, Reason.NOT_INVITED)
        assert guard.check(
            "friend.request", actor=adult, target=teen, relationship=Relationship(invited=True)
        )
        d = guard.check("friend.request", actor=teen, target=adult)
        assert d.needs_confirmation, "a child adding an adult stranger sees a prompt first"
        d = guard.check("friend.request", actor=teen, target=adult, confirmed=True)
        assert d.allowed, "children may send requests to discoverable accounts"
        opted = acct("16_17", "s", settings={"discoverable": "mutual_connections"})
        assert guard.check(
            "friend.request",
            actor=adult,
            target=opted,
            relationship=Relationship(mutual_connections=1),
        )
        assert not guard.check("friend.request", actor=adult, target=opted)


class TestTargetSettings:
    @pytest.mark.parametrize(
        ("action", "setting", "reason"),
        [
            ("profile.view", "profile_visibility", Reason.NOT_CONNECTED),
            ("connections.view", "connections_visibility", Reason.SETTING_OFF),
            ("location.view", "location_sharing", Reason.SETTING_OFF),
            ("tag", "tagging", Reason.NOT_CONNECTED),
            ("comment", "comments", Reason.NOT_CONNECTED),
            ("content.download", "remix_download", Reason.SETTING_OFF),
            ("group.invite", "group_invites", Reason.APPROVAL_REQUIRED),
            ("live.gift", "live_gifting", Reason.SETTING_OFF),
        ],
    )
    def test_stranger_denied(
        self, guard: Guard, adult: Account, teen: Account, action: str, setting: str, reason: Reason
    ) -> None:
        """Each action reads the target's setting and refuses a stranger with its reason."""
        d = guard.check(action, actor=adult, target=teen)
        assert (d.allowed, d.setting, d.reason, d.subject) == (False, setting, reason, "target")

    def test_location_for_connections_is_coarse(self, guard: Guard, adult: Account) -> None:
        """A 13-15 sharing coarse location with connections: the decision carries the precision."""
        teen = acct("13_15", "t", settings={"location_sharing": "connections_coarse"})
        d = guard.check("location.view", actor=adult, target=teen, relationship=CONNECTED)
        assert (d.allowed, d.value) == (True, "connections_coarse")
        assert not guard.check("location.view", actor=adult, target=teen)

    def test_remedy_names_what_the_floor_still_requires(
        self, guard: Guard, adult: Account, teen: Account
    ) -> None:
        """Where loosening to the floor is not enough alone, the remedy says what else is."""
        d = guard.check("location.view", actor=adult, target=teen)
        assert d.remedy == (
            "A parent can allow this by changing location_sharing to 'connections_coarse' "
            "(then they need to be connected)."
        )

    def test_connections_list_hidden_even_from_connections(
        self, guard: Guard, adult: Account, teen: Account
    ) -> None:
        """A hidden connection list is hidden from everyone but the account itself."""
        assert not guard.check("connections.view", actor=adult, target=teen, relationship=CONNECTED)
        assert guard.check("connections.view", actor=teen, target=teen).reason is Reason.OWN_ACCOUNT

    def test_group_invite_remedy(self, guard: Guard, adult: Account, teen: Account) -> None:
        """An invite to a 13-15 goes through approval; a parent could allow connections."""
        d = guard.check("group.invite", actor=adult, target=teen, relationship=CONNECTED)
        assert d.remedy == (
            "Send it as an invite the account holder approves; or a parent can allow this by "
            "changing group_invites to 'connections' (then they need to be connected)."
        )

    def test_gift_needs_purchases(self, guard: Guard, adult: Account) -> None:
        """Gifting checks the streamer's live_gifting and the giver's purchases."""
        streamer = acct("adult", "s")
        assert guard.check("live.gift", actor=adult, target=streamer)
        d = guard.check("live.gift", actor=acct("13_15", "kid"), target=streamer)
        assert (d.allowed, d.reason, d.subject) == (False, Reason.PARENT_APPROVAL_REQUIRED, "actor")
        assert d.remedy is not None and d.remedy.startswith("A parent can approve it")


class TestOwnActions:
    def test_live_start(self, guard: Guard, teen: Account, adult: Account) -> None:
        """Going live reads the actor's live_streaming; off for minors by default."""
        d = guard.check("live.start", actor=teen)
        assert (d.allowed, d.reason, d.setting) == (False, Reason.SETTING_OFF, "live_streaming")
        assert d.remedy == "A parent can allow this by changing live_streaming to 'connections'."
        assert guard.check("live.start", actor=adult).value == "public"

    def test_purchase(self, guard: Guard, adult: Account) -> None:
        """Purchases by an under-13 need a parent's approval."""
        d = guard.check("purchase", actor=acct("under_13", "c"))
        assert d.reason is Reason.PARENT_APPROVAL_REQUIRED
        assert guard.check("purchase", actor=adult)

    def test_missing_actor(self, guard: Guard) -> None:
        """Own-account actions need an actor."""
        with pytest.raises(InvalidCheckError, match=r"live\.start needs actor="):
            guard.check("live.start")


class TestNotify:
    def test_quiet_hours_in_the_account_time_zone(self, guard: Guard) -> None:
        """21:30 in Sydney is quiet for a 13-15 there, while 21:30 UTC is not quiet in Sydney."""
        kid = acct("13_15", "k", timezone="Australia/Sydney")
        at = dt.datetime(2025, 6, 1, 21, 30, tzinfo=ZoneInfo("Australia/Sydney"))
        d = guard.check("notify", target=kid, at=at)
        assert (d.allowed, d.reason, d.value) == (False, Reason.QUIET_HOURS, "21:00-07:00")
        assert d.remedy == "Send it after 07:00 in the account's time zone."
        noon_sydney = dt.datetime(2025, 6, 1, 2, 0, tzinfo=dt.UTC)
        assert guard.check("notify", target=kid, at=noon_sydney).allowed

    def test_utc_when_no_time_zone(self, guard: Guard, teen: Account) -> None:
        """Without a time zone, the account's quiet hours are read in UTC."""
        assert not guard.check(
            "notify", target=teen, at=dt.datetime(2025, 1, 1, 6, 59, tzinfo=dt.UTC)
        )
        assert guard.check("notify", target=teen, at=dt.datetime(2025, 1, 1, 7, 0, tzinfo=dt.UTC))

    def test_engagement_notifications(self, guard: Guard, teen: Account, adult: Account) -> None:
        """Engagement prompts are refused while engagement features are off."""
        noon = dt.datetime(2025, 1, 1, 12, tzinfo=dt.UTC)
        d = guard.check("notify", target=teen, at=noon, engagement=True)
        assert (d.allowed, d.setting) == (False, "engagement_features")
        assert guard.check("notify", target=adult, at=noon, engagement=True).allowed

    def test_adults_have_no_quiet_hours(self, guard: Guard, adult: Account) -> None:
        """Adults get notifications at any hour unless they set quiet hours."""
        night = dt.datetime(2025, 1, 1, 3, tzinfo=dt.UTC)
        assert guard.check("notify", target=adult, at=night).allowed
        sleepy = adult.with_settings(quiet_hours="01:00-05:00")
        assert not guard.check("notify", target=sleepy, at=night)

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"at": dt.datetime(2025, 1, 1, 3, tzinfo=dt.UTC)}, "notify needs target="),
            ({"target": Account(id="a")}, "needs at="),
            ({"target": Account(id="a"), "at": dt.datetime(2025, 1, 1, 3)}, "time-zone aware"),  # noqa: DTZ001
        ],
    )
    def test_bad_arguments(self, guard: Guard, kwargs: dict[str, object], message: str) -> None:
        """notify needs a recipient and an aware time."""
        with pytest.raises(InvalidCheckError, match=message):
            guard.check("notify", **kwargs)  # type: ignore[arg-type]


class TestContent:
    @pytest.mark.parametrize(
        ("band", "level", "allowed"),
        [
            ("under_13", "none", True),
            ("under_13", "mild", False),
            ("16_17", "mild", True),
            ("16_17", "strong", False),
            ("adult", "strong", True),
            ("adult", "adult", True),
        ],
    )
    def test_sensitivity(self, guard: Guard, band: str, level: str, allowed: bool) -> None:
        """The viewer's sensitive_content level bounds what is shown."""
        d = guard.check("content.show", actor=acct(band, "v"), sensitivity=level)
        assert d.allowed is allowed
        assert d.reason in {Reason.PERMITTED, Reason.CONTENT_TOO_SENSITIVE}

    def test_adult_content_never_for_minors(self, guard: Guard) -> None:
        """Adult-only content is refused to every minor band, whatever its setting."""
        teen = acct("16_17", "t", settings={"sensitive_content": "standard"})
        assert guard.check("content.show", actor=teen, sensitivity="strong").allowed
        d = guard.check("content.show", actor=teen, sensitivity="adult")
        assert (d.allowed, d.reason) == (False, Reason.ADULT_ONLY)
        limited = acct("adult", "a", settings={"sensitive_content": "limited"})
        assert not guard.check("content.show", actor=limited, sensitivity="adult")

    def test_bad_arguments(self, guard: Guard) -> None:
        """content.show needs a viewer and a known sensitivity level."""
        with pytest.raises(InvalidCheckError, match="needs actor="):
            guard.check("content.show", sensitivity="none")
        with pytest.raises(InvalidCheckError, match="none, mild, strong, adult"):
            guard.check("content.show", actor=acct("adult", "a"), sensitivity="spicy")


class TestCheckErrors:
    def test_unknown_action(self, guard: Guard, adult: Account) -> None:
        """Unknown actions raise with a suggestion and the list of actions."""
        with pytest.raises(UnknownActionError, match=r"did you mean 'dm\.send'"):
            guard.check("dm.sned", actor=adult, target=adult)
        with pytest.raises(UnknownActionError):
            guard.check(None, actor=adult)  # type: ignore[arg-type]

    def test_relational_needs_both(self, guard: Guard, adult: Account) -> None:
        """Relational actions need an actor and a target."""
        with pytest.raises(InvalidCheckError, match="needs both actor= and target="):
            guard.check("dm.send", actor=adult)

    def test_action_list(self) -> None:
        """Every action the issue names is known."""
        own = {"live.start", "purchase", "feed.personalise", "data.share"}
        media = {"media.upload", "media.send", "media.view"}
        assert set(ACTIONS) == {*RELATIONAL, *own, *media, "notify", "content.show"}


class TestFailClosed:
    @given(accounts(band=AgeBand.UNKNOWN), relationships, st.sampled_from(RELATIONAL))
    def test_unknown_age_is_treated_as_under_13(
        self, target: Account, rel: Relationship, action: str
    ) -> None:
        """An account of unknown age gets exactly the under-13 decision."""
        guard = _GUARD
        actor = acct("adult", "someone-else")
        as_child = Account(id=target.id, band=AgeBand.UNDER_13, jurisdiction=target.jurisdiction)
        assert guard.check(action, actor=actor, target=target, relationship=rel) == guard.check(
            action, actor=actor, target=as_child, relationship=rel
        )

    @given(accounts(), accounts(), relationships, st.sampled_from(RELATIONAL))
    def test_minor_targets_are_never_open_to_strangers(
        self, actor: Account, target: Account, rel: Relationship, action: str
    ) -> None:
        """Property: no default lets a stranger message, tag, comment on or locate a minor."""
        if not target.band.is_minor or actor.id == target.id:
            return
        stranger = Relationship(blocked=rel.blocked, follows=rel.follows)
        if action in {
            "dm.send",
            "tag",
            "comment",
            "location.view",
            "friend.suggest",
            "friend.request",
            "connections.view",
        }:
            assert not _GUARD.check(action, actor=actor, target=target, relationship=stranger)

    @given(accounts(), accounts(), relationships, st.sampled_from(RELATIONAL))
    def test_decisions_are_explained(
        self, actor: Account, target: Account, rel: Relationship, action: str
    ) -> None:
        """Every decision has a reason and message; denials name their setting unless
        blocked or decided by a contact rule, which no setting decides but which names its
        standards and its remedy."""
        d = _GUARD.check(action, actor=actor, target=target, relationship=rel)
        assert d.message
        if not d.allowed and d.reason is not Reason.BLOCKED:
            assert d.citations
            if d.reason in {Reason.PARENT_APPROVAL_TO_CONTACT, Reason.CONFIRMATION_REQUIRED}:
                assert d.remedy
            else:
                assert d.setting is not None and d.value is not None


_GUARD = Guard()


class TestSettings:
    def test_defaults_are_shared(self, guard: Guard, teen: Account) -> None:
        """Accounts without changes get the precompiled settings object."""
        assert guard.settings_for(teen) is guard.settings_for(
            acct("13_15", "other", jurisdiction="GB")
        )
        s = guard.settings_for(teen)
        assert s["quiet_hours"] == TimeWindow.parse("21:00-07:00")
        assert s.formatted()["quiet_hours"] == "21:00-07:00"
        assert dict(s) == s.as_dict()
        with pytest.raises(KeyError):
            s["nope"]

    def test_own_changes_apply_within_floor(self, guard: Guard) -> None:
        """An account's own change applies; one below today's floor is clamped to the floor."""
        teen = acct(
            "13_15", "t", settings={"profile_visibility": "public", "location_sharing": "public"}
        )
        s = guard.settings_for(teen)
        assert s.profile_visibility == "public"
        assert s.location_sharing == "connections_coarse"

    def test_changes_to_locked_settings_are_ignored(self, guard: Guard) -> None:
        """A looser value for a setting nobody may change falls back to the default."""
        child = acct("under_13", "c", settings={"live_gifting": "on"})
        assert guard.settings_for(child).live_gifting == "off"

    def test_bad_account_settings(self) -> None:
        """Accounts refuse unknown settings and values with the library's error."""
        with pytest.raises(InvalidAccountError, match="did you mean 'tagging'"):
            acct("adult", settings={"taging": "nobody"})
        with pytest.raises(InvalidAccountError, match="'sometimes' is not one of"):
            acct("adult", settings={"tagging": "sometimes"})

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"id": ""}, "non-empty string"),
            ({"id": "a", "band": "teen"}, "band must be"),
            ({"id": "a", "band": 14}, "band must be"),
            ({"id": "a", "jurisdiction": "United Kingdom"}, "ISO 3166"),
            ({"id": "a", "jurisdiction": 44}, "must be a string"),
            ({"id": "a", "jurisdiction": "US-N/Y"}, "malformed subdivision"),
            ({"id": "a", "assurance": "sure"}, "assurance must be"),
            ({"id": "a", "timezone": "Mars/Olympus"}, "unknown time zone"),
            ({"id": "a", "timezone": 1}, "IANA name"),
            ({"id": "a", "settings": ["x"]}, "mapping"),
        ],
    )
    def test_account_validation(self, kwargs: dict[str, object], message: str) -> None:
        """Malformed account fields raise InvalidAccountError naming the field."""
        with pytest.raises(InvalidAccountError, match=message):
            Account(**kwargs)  # type: ignore[arg-type]

    def test_relationship_validation(self) -> None:
        """Mutual connection counts must be whole numbers >= 0."""
        with pytest.raises(InvalidAccountError):
            Relationship(mutual_connections=-1)

    def test_jurisdiction_normalised(self) -> None:
        """Jurisdictions are upper-cased."""
        assert Account(id="a", jurisdiction="us-ny").jurisdiction == "US-NY"

    def test_strings_accepted_for_enums(self) -> None:
        """Bands and assurance levels may be given by their names."""
        a = Account(id="a", band="13_15", assurance="verified")
        assert (a.band, a.assurance.rank) == (AgeBand.AGE_13_15, 2)
        assert next(iter(_GUARD.settings_for(a))) == "profile_visibility"


class TestChangeSetting:
    def test_tightening_is_always_allowed(self, guard: Guard, teen: Account) -> None:
        """A child may always make a setting more protective, even one a parent controls."""
        change = guard.change_setting(teen, "comments", "nobody")
        assert change and change.reason == "changed"
        assert change.settings.comments == "nobody"
        assert change.account.settings == {"comments": "nobody"}

    def test_parent_required(self, guard: Guard, teen: Account) -> None:
        """A 13-15 cannot loosen a parent-controlled setting; a parent can."""
        refused = guard.change_setting(teen, "location_sharing", "connections_coarse")
        assert (refused.applied, refused.reason) == (False, "parent_required")
        assert refused.account is teen
        ok = guard.change_setting(teen, "location_sharing", "connections_coarse", by="parent")
        assert ok.applied and ok.settings.location_sharing == "connections_coarse"

    def test_below_floor(self, guard: Guard, teen: Account) -> None:
        """Nobody, not even a parent, can go below the floor."""
        change = guard.change_setting(teen, "direct_messages", "everyone", by="parent")
        assert (change.applied, change.reason, change.floor) == (
            False,
            "below_floor",
            "connections",
        )
        assert "below the floor 'connections'" in change.message

    def test_not_changeable(self) -> None:
        """Settings nobody may change cannot be loosened past the default, even within the floor."""
        policy = Policy.from_mapping(
            {
                "bands": {
                    "16_17": {
                        "direct_messages": {
                            "default": "nobody",
                            "floor": "connections",
                            "changeable_by": "nobody",
                        }
                    }
                }
            }
        )
        sixteen = acct("16_17", "s")
        change = Guard(policy).change_setting(
            sixteen, "direct_messages", "connections", by="parent"
        )
        assert (change.applied, change.reason) == (False, "not_changeable")

    def test_going_back_is_not_loosening(self, guard: Guard) -> None:
        """A setting nobody may change can still go back to its default after tightening."""
        sixteen = acct("16_17", "s", settings={"direct_messages": "nobody"})
        change = guard.change_setting(sixteen, "direct_messages", "connections")
        assert (change.applied, change.reason) == (True, "changed")

    def test_safety_prompt_then_confirm(self, guard: Guard) -> None:
        """Loosening a prompted setting needs the child's confirmation first (Ofcom ICU F2)."""
        sixteen = acct("16_17", "s")
        first = guard.change_setting(sixteen, "profile_visibility", "public")
        assert (first.applied, first.reason, first.prompt_required) == (
            False,
            "prompt_required",
            True,
        )
        second = guard.change_setting(sixteen, "profile_visibility", "public", confirmed=True)
        assert second.applied and second.settings.profile_visibility == "public"

    def test_back_to_default_forgets_the_change(self, guard: Guard) -> None:
        """Changing back to the default removes the account's own value."""
        sixteen = acct("16_17", "s", settings={"comments": "nobody"})
        change = guard.change_setting(sixteen, "comments", "connections", confirmed=True)
        assert change.applied and change.account.settings == {}

    def test_unchanged(self, guard: Guard, teen: Account) -> None:
        """Choosing the current value is a no-op that reports so."""
        change = guard.change_setting(teen, "comments", "connections")
        assert (change.applied, change.reason) == (True, "unchanged")

    def test_windows(self, guard: Guard) -> None:
        """Quiet hours may widen freely but not narrow below the floor window."""
        sixteen = acct("16_17", "s")
        assert guard.change_setting(sixteen, "quiet_hours", "21:00-08:00").applied
        narrowed = guard.change_setting(sixteen, "quiet_hours", "23:00-05:00", by="parent")
        assert narrowed.reason == "below_floor"
        assert guard.change_setting(sixteen, "quiet_hours", "00:00-06:00").applied

    def test_bad_arguments(self, guard: Guard, teen: Account) -> None:
        """Unknown settings, values and changers raise clear errors."""
        with pytest.raises(InvalidSettingError, match="did you mean 'comments'"):
            guard.change_setting(teen, "coments", "nobody")
        with pytest.raises(InvalidSettingError, match="comments: 'all' is not one of"):
            guard.change_setting(teen, "comments", "all")
        with pytest.raises(InvalidCheckError, match="by must be"):
            guard.change_setting(teen, "comments", "nobody", by="friend")  # type: ignore[arg-type]


class TestJurisdictions:
    def test_uses_overlay_of_account_jurisdiction(self, guard: Guard) -> None:
        """A 16-17 in France gets the EU overlay's engagement default; in Japan the baseline."""
        fr = acct("16_17", "f", jurisdiction="FR")
        jp = acct("16_17", "j", jurisdiction="JP")
        assert guard.rules_for(fr)["personalised_ads"].changeable_by.value == "nobody"
        assert guard.settings_for(jp) is guard.settings_for(acct("16_17", "x"))

    def test_subdivision_without_overlay(self, guard: Guard) -> None:
        """A US state without its own overlay gets the US rules."""
        wa = acct("under_13", "w", jurisdiction="US-WA")
        us = acct("under_13", "u", jurisdiction="US")
        assert guard.settings_for(wa) is guard.settings_for(us)


class TestReload:
    def test_reload_swaps_policy(self, adult: Account) -> None:
        """After reload, decisions follow the new policy."""
        guard = Guard()
        sixteen = acct("16_17", "s")
        assert guard.check("comment", actor=adult, target=sixteen, relationship=CONNECTED)
        strict = Policy.from_mapping({"bands": {"16_17": {"comments": {"default": "nobody"}}}})
        guard.reload(strict)
        assert guard.policy is strict
        assert not guard.check("comment", actor=adult, target=sixteen, relationship=CONNECTED)

    def test_an_unknown_action_of_any_size_is_named_briefly(self, adult: Account) -> None:
        with pytest.raises(UnknownActionError, match=r"\(100002 characters\)") as caught:
            Guard().check("x" * 100_000, actor=adult, target=adult)
        assert len(str(caught.value)) < 1000
        with pytest.raises(UnknownActionError, match="an integer of 5001 digits"):
            Guard().check(10**5000, actor=adult, target=adult)  # type: ignore[arg-type]

    @pytest.mark.parametrize("given", ["childsafe.toml", {"baseline": "minimum"}, 5])
    def test_a_guard_takes_only_a_policy(self, given: object) -> None:
        """A path or a mapping where a Policy belongs is the library's InvalidCheckError
        pointing at load_policy (it was an AttributeError), and a failed reload keeps the
        policy in force."""
        with pytest.raises(InvalidCheckError, match=r"^Guard: policy must be a childsafe\.Policy"):
            Guard(given)  # type: ignore[arg-type]
        guard = Guard()
        before = guard.policy
        with pytest.raises(InvalidCheckError, match=r"load_policy\(\.\.\.\)"):
            guard.reload(given)  # type: ignore[arg-type]
        assert guard.policy is before

    def test_concurrent_checks_see_a_whole_policy(self, adult: Account) -> None:
        """Threads checking during reloads always get an answer from one policy or the other."""
        guard = Guard()
        sixteen = acct("16_17", "s")
        loose = guard.policy
        strict = Policy.from_mapping({"bands": {"16_17": {"comments": {"default": "nobody"}}}})
        seen: set[tuple[bool, str]] = set()
        errors: list[BaseException] = []
        stop = threading.Event()

        def worker() -> None:
            try:
                while not stop.is_set():
                    d = guard.check("comment", actor=adult, target=sixteen, relationship=CONNECTED)
                    seen.add((d.allowed, d.value or ""))
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for i in range(20):
            guard.reload(strict if i % 2 == 0 else loose)
        stop.set()
        for t in threads:
            t.join()
        assert not errors
        assert seen <= {(True, "connections"), (False, "nobody")}


def test_decision_to_dict(guard: Guard, adult: Account, teen: Account) -> None:
    """Decisions serialise to JSON-ready dicts with citation labels and links."""
    data = guard.check("dm.send", actor=adult, target=teen).to_dict()
    assert data["reason"] == "not_connected" and data["band"] == "13_15"
    assert all(c["url"].startswith("https://") for c in data["citations"])
    own: Callable[[], Decision] = lambda: guard.check("tag", actor=teen, target=teen)  # noqa: E731
    assert own().to_dict()["band"] is None
