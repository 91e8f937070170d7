"""Guard.check for the media actions: known-abuse matches, unreadable images, the
sensitive_media_send intervention and the sensitive_media_blur blur."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest
from hypothesis import given
from hypothesis import strategies as st

from childsafe import (
    MEDIA_ACTIONS,
    SETTINGS,
    Account,
    AgeBand,
    Decision,
    Guard,
    Policy,
    Reason,
    Relationship,
    explain,
    load_policy,
)
from childsafe._policy import build_baseline
from childsafe.exceptions import InvalidCheckError
from childsafe.media import Classification, HashMatch, MediaVerdict
from tests.strategies import accounts, relationships

PDQ = "f" * 64
CLEAN = MediaVerdict(pdq=PDQ, quality=100, classification=Classification(sensitive=False))
FLAGGED = MediaVerdict(
    pdq=PDQ,
    quality=100,
    classification=Classification(sensitive=True, labels=(("exposed_body", 0.91),)),
)
FAILED = MediaVerdict(
    pdq=PDQ, quality=100, classification=Classification(sensitive=True, failed="timeout")
)
MATCHED = MediaVerdict(
    pdq=PDQ,
    quality=100,
    match=HashMatch(list_name="hotline", listed="e" * 64, distance=4, entry_id="42"),
    classification=Classification(sensitive=False),
)
UNREADABLE = MediaVerdict(error="not an image: cannot identify image file")
CONNECTED = Relationship(connected=True)
SENDING = ("media.upload", "media.send")
verdicts = st.sampled_from((None, CLEAN, FLAGGED, FAILED, MATCHED, UNREADABLE))


def child(band: str, name: str = "c1", **settings: str) -> Account:
    return Account(id=name, band=band, jurisdiction="GB", settings=settings)


ADULT = Account(id="a1", band="adult", jurisdiction="GB")
FRIEND = Account(id="f1", band="13_15", jurisdiction="GB")


@pytest.fixture(name="guard", scope="module")
def _guard() -> Guard:
    return Guard(load_policy())


def send(
    guard: Guard,
    action: str,
    actor: Account,
    media: MediaVerdict | None,
    *,
    confirmed: bool = False,
) -> Decision:
    """``action`` (upload, or send to a connected teen) of an image with ``media``."""
    if action == "media.send":
        return guard.check(action, actor, FRIEND, CONNECTED, media=media, confirmed=confirmed)
    return guard.check(action, actor, media=media, confirmed=confirmed)


class TestMatch:
    @pytest.mark.parametrize("action", MEDIA_ACTIONS)
    @pytest.mark.parametrize("band", ["under_13", "13_15", "16_17", "adult", "unknown"])
    def test_refused_for_everyone(self, guard: Guard, action: str, band: str) -> None:
        """A known-abuse match is refused for every band, adults included, confirmed or not."""
        actor = child(band)
        for confirmed in (False, True):
            if action == "media.view":
                decision = guard.check(
                    action, actor, ADULT, CONNECTED, media=MATCHED, confirmed=confirmed
                )
            else:
                decision = send(guard, action, actor, MATCHED, confirmed=confirmed)
            assert not decision.allowed
            assert not decision.needs_confirmation
            assert decision.reason is Reason.KNOWN_ABUSE_MATCH
            assert decision.action == action
            assert [c.label for c in decision.citations] == ["Ofcom ICU C9"]

    def test_neutral_words(self, guard: Guard) -> None:
        """The uploader reads that the image can't be shared here, never about a list."""
        text = explain(guard.check("media.upload", child("13_15"), media=MATCHED), "child")
        words = f"{text.title} {text.text} {text.next_step}".lower()
        assert "can't be shared here" in words
        for secret in ("hash", "list", "abuse", "hotline", "42"):
            assert secret not in words

    def test_match_wins_over_relationship(self, guard: Guard) -> None:
        """A matched send between strangers is recorded as the match, not the DM rule."""
        decision = guard.check("media.send", ADULT, child("13_15"), None, media=MATCHED)
        assert decision.reason is Reason.KNOWN_ABUSE_MATCH


class TestSend:
    @pytest.mark.parametrize("action", SENDING)
    def test_under_13_blocked(self, guard: Guard, action: str) -> None:
        """An under-13 cannot send a flagged image, even confirming."""
        for confirmed in (False, True):
            decision = send(guard, action, child("under_13"), FLAGGED, confirmed=confirmed)
            assert decision.reason is Reason.SENSITIVE_MEDIA_BLOCKED
            assert not decision.allowed
            assert decision.outcome == "denied"
            assert (decision.setting, decision.value) == ("sensitive_media_send", "blocked")

    @pytest.mark.parametrize("action", SENDING)
    @pytest.mark.parametrize("band", ["13_15", "16_17"])
    def test_teen_intervention_then_confirmed(self, guard: Guard, action: str, band: str) -> None:
        """A 13-17 meets the intervention first, and may go ahead once confirmed."""
        first = send(guard, action, child(band), FLAGGED)
        assert first.outcome == "needs_confirmation"
        assert first.reason is Reason.CONFIRMATION_REQUIRED
        assert (first.setting, first.value) == ("sensitive_media_send", "intervene")
        labels = {c.label for c in first.citations}
        assert "Apple Communication Safety" in labels
        then = send(guard, action, child(band), FLAGGED, confirmed=True)
        assert then.allowed
        assert then.reason is Reason.CONFIRMED

    def test_intervention_words(self, guard: Guard) -> None:
        """The intervention says what can happen and where to get help, in plain words."""
        for locale in ("en", "fr"):
            words = explain(
                send(guard, "media.upload", child("13_15"), FLAGGED), "child", locale=locale
            )
            assert words.tip
            joined = f"{words.text} {words.next_step} {words.tip}"
            assert "sensitive_media_send" not in joined
            assert "confirmation_required" not in joined
        en = explain(send(guard, "media.upload", child("13_15"), FLAGGED), "child")
        assert "can't take it back" in en.text
        assert "adult you trust" in (en.next_step or "")

    @pytest.mark.parametrize("action", SENDING)
    def test_failed_classifier_is_protective(self, guard: Guard, action: str) -> None:
        """A classifier that failed or timed out counts as sensitive for a minor."""
        assert (
            send(guard, action, child("under_13"), FAILED).reason is Reason.SENSITIVE_MEDIA_BLOCKED
        )
        assert send(guard, action, child("16_17"), FAILED).needs_confirmation

    @pytest.mark.parametrize("action", SENDING)
    def test_no_verdict_is_sensitive_for_minors_only(self, guard: Guard, action: str) -> None:
        """No verdict fails closed for a minor (sensitive), never as a match; adults pass."""
        assert send(guard, action, child("under_13"), None).reason is Reason.SENSITIVE_MEDIA_BLOCKED
        assert send(guard, action, child("unknown"), None).reason is Reason.SENSITIVE_MEDIA_BLOCKED
        assert send(guard, action, child("13_15"), None).needs_confirmation
        assert send(guard, action, ADULT, None).allowed

    @pytest.mark.parametrize("action", SENDING)
    def test_adults_not_affected_by_sensitivity(self, guard: Guard, action: str) -> None:
        """An adult's flagged image is allowed (matches aside)."""
        assert send(guard, action, ADULT, FLAGGED).allowed

    @pytest.mark.parametrize("action", SENDING)
    def test_clean_image_allowed(self, guard: Guard, action: str) -> None:
        """A clean image is allowed for every band."""
        for band in ("under_13", "13_15", "16_17", "adult"):
            assert send(guard, action, child(band), CLEAN).allowed

    @pytest.mark.parametrize("action", SENDING)
    def test_unreadable_refused(self, guard: Guard, action: str) -> None:
        """A body that is not a readable image is refused for everyone."""
        for band in ("13_15", "adult"):
            decision = send(guard, action, child(band), UNREADABLE)
            assert decision.reason is Reason.MEDIA_UNREADABLE
            assert not decision.allowed

    def test_send_follows_dm_rules(self, guard: Guard) -> None:
        """media.send asks what dm.send asks: an adult stranger cannot send to a child."""
        teen = child("13_15")
        media = guard.check("media.send", ADULT, teen, None, media=CLEAN)
        dm = guard.check("dm.send", ADULT, teen, None)
        assert not media.allowed
        assert (media.reason, media.setting) == (dm.reason, dm.setting)
        assert media.action == "media.send"
        assert (
            guard.check("media.send", ADULT, teen, Relationship(blocked=True), media=CLEAN).reason
            is Reason.BLOCKED
        )

    def test_adult_setting_not_used(self, guard: Guard) -> None:
        """The setting decides for minors; adults keep sending flagged images."""
        assert guard.settings_for(ADULT).sensitive_media_send == "allowed"


class TestView:
    def test_blur_for_child(self, guard: Guard) -> None:
        """A flagged image from a stranger is blurred for a child, shown once they choose."""
        viewer = child("13_15")
        blurred = guard.check("media.view", viewer, ADULT, None, media=FLAGGED)
        assert blurred.outcome == "needs_confirmation"
        assert blurred.reason is Reason.SENSITIVE_MEDIA_BLURRED
        assert blurred.setting == "sensitive_media_blur"
        shown = guard.check("media.view", viewer, ADULT, None, media=FLAGGED, confirmed=True)
        assert shown.allowed
        assert shown.reason is Reason.CONFIRMED

    def test_no_blur_for_adult(self, guard: Guard) -> None:
        """An adult's default (off) shows a flagged image."""
        assert guard.check("media.view", ADULT, FRIEND, None, media=FLAGGED).allowed

    def test_from_non_connections(self, guard: Guard) -> None:
        """16-17 (from_non_connections): blurred from strangers, shown from connections."""
        viewer = child("16_17")
        assert guard.check("media.view", viewer, FRIEND, None, media=FLAGGED).needs_confirmation
        assert guard.check("media.view", viewer, FRIEND, CONNECTED, media=FLAGGED).allowed

    def test_under_13_always(self, guard: Guard) -> None:
        """Under 13 (always): blurred even from a connection."""
        assert guard.check(
            "media.view", child("under_13"), FRIEND, CONNECTED, media=FLAGGED
        ).needs_confirmation

    def test_clean_shown(self, guard: Guard) -> None:
        """A clean image is shown to everyone."""
        assert guard.check("media.view", child("under_13"), ADULT, None, media=CLEAN).allowed

    def test_no_verdict_blurred_for_minor(self, guard: Guard) -> None:
        """No stored verdict counts as sensitive for a minor viewer."""
        assert guard.check("media.view", child("under_13"), ADULT, None).needs_confirmation
        assert guard.check("media.view", ADULT, FRIEND, None).allowed

    def test_blur_words(self, guard: Guard) -> None:
        """The child reads the explanation and the three choices, in en and fr."""
        decision = guard.check("media.view", child("13_15"), ADULT, None, media=FLAGGED)
        en = explain(decision, "child")
        assert "blurred" in en.text
        assert "see it" in (en.next_step or "")
        assert "block and report" in (en.next_step or "")
        fr = explain(decision, "child", locale="fr")
        assert "floutée" in fr.text


class TestArguments:
    @pytest.mark.parametrize("action", MEDIA_ACTIONS)
    def test_needs_actor(self, guard: Guard, action: str) -> None:
        """A media check without an actor names what is missing."""
        with pytest.raises(InvalidCheckError, match="needs actor="):
            guard.check(action, media=CLEAN)

    def test_send_needs_target(self, guard: Guard) -> None:
        """media.send needs the recipient."""
        with pytest.raises(InvalidCheckError, match="needs both actor= and target="):
            guard.check("media.send", ADULT, media=CLEAN)

    def test_wrong_media_type(self, guard: Guard) -> None:
        """media= must be a MediaVerdict, not a dict."""
        with pytest.raises(
            InvalidCheckError, match=r"media= must be a childsafe\.media\.MediaVerdict"
        ):
            guard.check("media.upload", ADULT, media={"matched": False})  # type: ignore[arg-type]

    def test_confirmed_must_be_bool(self, guard: Guard) -> None:
        """A truthy string never counts as the child's confirmation."""
        with pytest.raises(InvalidCheckError, match="confirmed"):
            guard.check("media.upload", child("13_15"), media=FLAGGED, confirmed="no")  # type: ignore[arg-type]


_SEND_ORDER = SETTINGS["sensitive_media_send"]
_BLUR_ORDER = SETTINGS["sensitive_media_blur"]
_RANK = {"denied": 0, "needs_confirmation": 1, "allowed": 2}


class TestLattice:
    @given(
        accounts(),
        st.sampled_from(SENDING),
        verdicts,
        st.sampled_from(("blocked", "intervene", "allowed")),
        st.sampled_from(("blocked", "intervene", "allowed")),
        st.booleans(),
    )
    def test_tighter_send_setting_never_allows_more(
        self,
        actor: Account,
        action: str,
        media: MediaVerdict | None,
        a: str,
        b: str,
        confirmed: bool,
    ) -> None:
        """With a more protective sensitive_media_send, the outcome is never looser."""
        guard = Guard(_LOOSE_SEND)
        tight, loose = (a, b) if _SEND_ORDER.le(a, b) else (b, a)
        out = [
            _RANK[
                send(
                    guard,
                    action,
                    _with(actor, "sensitive_media_send", v),
                    media,
                    confirmed=confirmed,
                ).outcome
            ]
            for v in (tight, loose)
        ]
        assert out[0] <= out[1]

    @given(
        accounts(),
        relationships,
        verdicts,
        st.sampled_from(("always", "from_non_connections", "off")),
        st.sampled_from(("always", "from_non_connections", "off")),
    )
    def test_tighter_blur_never_shows_more(
        self, viewer: Account, rel: Relationship, media: MediaVerdict | None, a: str, b: str
    ) -> None:
        """With a more protective sensitive_media_blur, an image is never shown more readily."""
        guard = Guard(_LOOSE_BLUR)
        tight, loose = (a, b) if _BLUR_ORDER.le(a, b) else (b, a)
        out = [
            _RANK[
                guard.check(
                    "media.view", _with(viewer, "sensitive_media_blur", v), ADULT, rel, media=media
                ).outcome
            ]
            for v in (tight, loose)
        ]
        assert out[0] <= out[1]

    @given(accounts(), st.sampled_from(MEDIA_ACTIONS), st.booleans())
    def test_match_never_allowed(self, actor: Account, action: str, confirmed: bool) -> None:
        """Whatever the account and confirmation, a match is never allowed."""
        guard = Guard(load_policy())
        if action == "media.view":
            decision = guard.check(
                action, actor, ADULT, CONNECTED, media=MATCHED, confirmed=confirmed
            )
        else:
            decision = send(guard, action, actor, MATCHED, confirmed=confirmed)
        assert decision.outcome == "denied"

    @given(
        accounts(band=AgeBand.ADULT),
        st.sampled_from(SENDING),
        st.sampled_from((None, CLEAN, FLAGGED, FAILED)),
    )
    def test_adults_send_unless_matched(
        self, actor: Account, action: str, media: MediaVerdict | None
    ) -> None:
        """An adult's image that is readable and unmatched is never held back by sensitivity."""
        guard = Guard(load_policy())
        assert send(guard, action, actor, media).allowed


def _loose(setting: str, floor: str) -> Policy:
    """The minimum baseline, but every band may choose any value of ``setting``."""
    data = files("childsafe") / "data"
    text = (data / "minimum.toml").read_text(encoding="utf-8")
    text = re.sub(
        rf"(\[bands\.\w+\.{setting}\]\ndefault = \"\w+\"\n)floor = \"\w+\"\n"
        r"changeable_by = \"\w+\"",
        rf'\1floor = "{floor}"\nchangeable_by = "self"',
        text,
    )
    assert text.count(f'floor = "{floor}"\nchangeable_by = "self"') >= 4
    sources = (data / "sources.toml").read_text(encoding="utf-8")
    return build_baseline("loose", baseline=text, sources=sources, overlays="")


def _with(account: Account, setting: str, value: str) -> Account:
    return Account(
        id=account.id,
        band=account.band,
        jurisdiction=account.jurisdiction,
        settings={setting: value},
    )


_LOOSE_SEND = _loose("sensitive_media_send", "allowed")
_LOOSE_BLUR = _loose("sensitive_media_blur", "off")
