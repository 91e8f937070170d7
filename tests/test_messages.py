from __future__ import annotations

import datetime as dt
import gettext
import io
import itertools
import json
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import attrs
import pytest

from childsafe import (
    ACTIONS,
    AUDIENCES,
    CHANGE_REASONS,
    LOCALES,
    MEDIA_ACTIONS,
    SETTINGS,
    Account,
    AgeBand,
    Decision,
    Explanation,
    Guard,
    Messages,
    Reason,
    Relationship,
    SettingChange,
    change_problem_details,
    change_problem_response,
    explain,
    load_policy,
    problem_details,
    problem_response,
)
from childsafe._messages import check_key, check_text, locale_dir
from childsafe._msgfmt import compile_mo, main, parse_po
from childsafe._settings import EnumDomain
from childsafe.exceptions import ConfigurationError, InvalidCheckError, InvalidSettingError
from childsafe.media import Classification, HashMatch, MediaVerdict
from childsafe.typing import Audience
from childsafe.web import negotiate_locale
from childsafe.web.denials import undeclared_route, unverifiable

BANDS = tuple(AgeBand)
CATALOGUED: tuple[Audience, ...] = ("child", "parent", "refused_adult")
AT = dt.datetime(2025, 1, 10, 21, 30, tzinfo=dt.UTC)

#: What a child must never read: band ids, snake_case names (settings, reason codes),
#: and the word for the policy's minimum.
JARGON = re.compile(
    r"\b(?:under_13|13_15|16_17)\b|\b[a-z]+_[a-z_]+\b|\bfloors?\b|\bplanchers?\b", re.IGNORECASE
)


@pytest.fixture(name="guard", scope="module")
def _guard() -> Guard:
    return Guard(load_policy())


def _po(locale: str) -> Path:
    return locale_dir() / locale / "LC_MESSAGES" / "childsafe.po"


def _entries(locale: str) -> dict[str, str]:
    return parse_po(_po(locale).read_text(encoding="utf-8"), str(_po(locale)))


def _decisions(guard: Guard) -> Iterator[Decision]:
    """Decisions from every action, between accounts of every band, strangers and
    every kind of relationship, with the target's settings at each of their values."""
    relationships = [
        None,
        Relationship(connected=True),
        Relationship(mutual_connections=1),
        Relationship(invited=True),
        Relationship(blocked=True),
    ]
    loosened = [
        {name: value}
        for name, setting in SETTINGS.items()
        if isinstance(setting.domain, EnumDomain)
        for value in setting.domain.values
    ]
    for action, actor_band, target_band in itertools.product(ACTIONS, BANDS, BANDS):
        actor = Account(id="a", band=actor_band, guardians=["p"], jurisdiction="DE")
        targets = [Account(id="t", band=target_band)]
        if target_band is AgeBand.ADULT:
            targets += [Account(id="t", band=target_band, settings=s) for s in loosened]
        for target, relationship, confirmed in itertools.product(
            targets, relationships, (False, True)
        ):
            if action == "notify":
                yield guard.check(action, target=target, at=AT, engagement=confirmed)
            elif action == "content.show":
                for level in ("none", "mild", "strong", "adult"):
                    yield guard.check(action, actor=actor, sensitivity=level)
            elif action in (
                "live.start",
                "purchase",
                "feed.personalise",
                "data.share",
            ):
                yield guard.check(action, actor=actor, confirmed=confirmed)
            else:
                yield guard.check(
                    action,
                    actor=actor,
                    target=target,
                    relationship=relationship,
                    confirmed=confirmed,
                )
    verdicts = (
        MediaVerdict(pdq="0" * 64, classification=Classification(sensitive=True)),
        MediaVerdict(pdq="0" * 64, match=HashMatch(list_name="l", listed="1" * 64, distance=0)),
        MediaVerdict(error="not an image"),
    )
    for action, band, media, confirmed in itertools.product(
        MEDIA_ACTIONS, BANDS, verdicts, (False, True)
    ):
        sender = Account(id="s", band=band)
        yield guard.check(
            action, sender, Account(id="t", band="adult"), media=media, confirmed=confirmed
        )
    teen = Account(id="t", band="13_15", guardians=["p"])
    yield guard.check("profile.view", actor=teen, target=teen)
    yield guard.check("connections.view", actor=Account(id="p", band="adult"), target=teen)
    yield guard.check("dm.send", actor=Account(id="x", band="adult", consents=[]), target=teen)
    profiled = {"feed_personalisation": "profiled"}
    minor = Account(id="k", band="13_15", jurisdiction="DE", settings=profiled)
    yield guard.check("feed.personalise", actor=minor)
    kid = Account(id="k", band="under_13", guardians=["p"], consents=["contact.add:t"])
    open_adult = Account(id="t", band="adult", settings={"discoverable": "everyone"})
    yield guard.check("friend.request", actor=kid, target=open_adult)
    yield unverifiable("dm.send")
    yield undeclared_route("GET /x")


def _changes(guard: Guard) -> Iterator[SettingChange]:
    """Setting changes to every value of every setting, by the account holder and by a
    parent (linked or not, locking or not), for every band."""
    for band, (name, setting) in itertools.product(BANDS, SETTINGS.items()):
        values: tuple[object, ...] = (
            setting.domain.values if isinstance(setting.domain, EnumDomain) else ("none",)
        )
        for value, locked in itertools.product(values, (False, True)):
            account = Account(
                id="c",
                band=band,
                guardians=["p"],
                jurisdiction="DE",
                locks=[name] if locked else [],
            )
            for confirmed in (False, True):
                yield guard.change_setting(account, name, value, confirmed=confirmed)
            for guardian, lock in (("p", True), ("p", False), ("q", True)):
                yield guard.change_setting(
                    account, name, value, by="parent", guardian=guardian, lock=lock
                )


class TestCatalogueFiles:
    @pytest.mark.parametrize("locale", LOCALES)
    def test_mo_files_are_up_to_date(self, locale: str) -> None:
        """Each committed .mo is what its .po compiles to (`python -m childsafe._msgfmt`)."""
        compiled = compile_mo(_entries(locale))
        assert _po(locale).with_suffix(".mo").read_bytes() == compiled

    def test_check_reports_nothing_stale(self) -> None:
        """`python -m childsafe._msgfmt --check` finds every .mo up to date."""
        assert main(["--check"]) == 0

    @pytest.mark.parametrize("locale", LOCALES)
    def test_shipped_as_package_data(self, locale: str) -> None:
        """The compiled catalogues are package data, found through importlib.resources."""
        mo = resources.files("childsafe") / "locale" / locale / "LC_MESSAGES" / "childsafe.mo"
        assert mo.is_file()
        translations = gettext.GNUTranslations(io.BytesIO(mo.read_bytes()))
        assert translations.gettext("setting.quiet_hours.label") != "setting.quiet_hours.label"

    def test_locales_have_the_same_keys(self) -> None:
        """Every locale has exactly the English keys: none missing, none left over."""
        english = set(_entries("en"))
        for locale in LOCALES:
            assert set(_entries(locale)) == english, locale

    @pytest.mark.parametrize("locale", LOCALES)
    def test_every_key_and_text_is_valid(self, locale: str) -> None:
        """The shipped keys follow the grammar and their texts use only allowed placeholders."""
        problems = [
            check_key(key) or check_text(key, text) for key, text in _entries(locale).items() if key
        ]
        assert [p for p in problems if p] == []

    def test_french_is_translated(self) -> None:
        """No French text is left in English."""
        english, french = _entries("en"), _entries("fr")
        same = [k for k in english if k and english[k] == french[k]]
        assert same == []


class TestMsgfmt:
    def test_round_trip_through_gettext(self) -> None:
        """What parse_po reads and compile_mo writes, gettext reads back, escapes included."""
        po = (
            '# a comment\nmsgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n'
            'msgid "k.one"\nmsgstr "Line \\"one\\"\\n"\n"and more é"\n\n'
            'msgid "k.empty"\nmsgstr ""\n'
        )
        entries = parse_po(po)
        assert entries["k.one"] == 'Line "one"\nand more é'
        translations = gettext.GNUTranslations(io.BytesIO(compile_mo(entries)))
        assert translations.gettext("k.one") == 'Line "one"\nand more é'
        assert translations.gettext("k.empty") == "k.empty"

    @pytest.mark.parametrize(
        ("po", "message"),
        [
            ('msgid "a"\nmsgstr "x"\nmsgid "a"\nmsgstr "y"\n', "duplicate msgid 'a'"),
            ('msgstr "x"\n', "msgstr without its msgid"),
            ('msgid "a"\n', "has no msgstr"),
            ('msgid "a"\nmsgstr "\\q"\n', "unknown escape"),
            ('msgid "a"\nmsgid_plural "b"\n', "unsupported line"),
            ('msgid a\nmsgstr "x"\n', "expected a quoted string"),
            ('"x"\n', "continued string outside an entry"),
        ],
    )
    def test_malformed(self, po: str, message: str) -> None:
        """A malformed .po is refused with its line."""
        with pytest.raises(ValueError, match=re.escape(message)):
            parse_po(po, "x.po")


class TestCompleteness:
    def test_catalogue_has_no_gaps(self) -> None:
        """Every reason x setting x band x audience has a title and a text in every locale."""
        assert Messages().missing() == []

    def test_a_gap_is_found(self) -> None:
        """missing() reports a locale that lacks texts (a locale added by a platform)."""
        gaps = Messages({"de": {"name.parent": "deine Eltern"}}).missing(["de"])
        assert "de: decision.blocked child title" in gaps
        assert "de: setting.quiet_hours.tip" in gaps
        assert "de: value.location_sharing.connections_coarse" in gaps
        assert "de: value.quiet_hours.window" in gaps

    def test_change_reasons_are_all_listed(self, guard: Guard) -> None:
        """Every reason change_setting gives is in CHANGE_REASONS, and each is reached
        (``not_changeable`` needs a floor looser than the default that nobody may
        reach, which the built-in baseline never has)."""
        reasons = {change.reason for change in _changes(guard)}
        assert reasons == set(CHANGE_REASONS) - {"not_changeable"}

    @pytest.mark.parametrize(
        ("locale", "words"), [("en", "while we don't know your age"), ("fr", "ne connaissons pas")]
    )
    def test_unknown_age_is_not_told_at_your_age(
        self, guard: Guard, locale: str, words: str
    ) -> None:
        """A setting nobody may loosen, explained to an account whose age is unknown,
        says so and how it opens up, instead of "at your age"."""
        account = Account(id="k", band=AgeBand.UNKNOWN)
        change = guard.change_setting(account, "discoverable", "everyone")
        said = explain(attrs.evolve(change, reason="not_changeable"), "child", locale=locale)
        known = explain(
            attrs.evolve(change, reason="not_changeable", account=Account(id="m", band="13_15")),
            "child",
            locale=locale,
        )

        assert words in said.text
        assert words not in known.text
        assert said.next_step is not None
        assert said.next_step != known.next_step

    def test_reachable_decisions_explain(self, guard: Guard) -> None:
        """Every decision the policy reaches explains, filled, to every audience in every locale."""
        seen = {(d.reason, d.setting, d.band): d for d in _decisions(guard)}
        assert {d.reason for d in seen.values()} == set(Reason)
        for decision, locale, audience in itertools.product(seen.values(), LOCALES, AUDIENCES):
            said = explain(decision, audience, locale=locale)
            for text in (said.title, said.text, said.next_step or "", said.tip or ""):
                assert "{" not in text
                assert "}" not in text
            assert said.title
            assert said.text

    def test_reachable_changes_explain(self, guard: Guard) -> None:
        """Every setting change explains, filled, to every audience in every locale."""
        seen = {(c.reason, c.setting, c.account.band): c for c in _changes(guard)}
        for change, locale, audience in itertools.product(seen.values(), LOCALES, CATALOGUED):
            said = explain(change, audience, locale=locale)
            assert said.title
            assert said.text
            assert "{" not in said.text

    def test_a_reason_without_texts(self, guard: Guard) -> None:
        """A reason the catalogue lacks reads as a plain refusal rather than failing."""
        change = guard.change_setting(Account(id="o", band="13_15"), "tagging", "everyone")
        future = attrs.evolve(change, reason="some_future_reason")
        assert explain(future) == Explanation("Not possible", "This isn't possible right now.")
        assert explain(future, locale="fr").title == "Pas possible"


class TestChildTexts:
    def _child_texts(self, guard: Guard) -> Iterator[tuple[str, str]]:
        outcomes: list[Decision | SettingChange] = [*_decisions(guard), *_changes(guard)]
        unique = {
            (type(o).__name__, str(o.reason), o.setting, getattr(o, "band", None)): o
            for o in outcomes
        }
        for outcome, locale in itertools.product(unique.values(), LOCALES):
            said = explain(outcome, "child", locale=locale)
            for text in (said.title, said.text, said.next_step, said.tip):
                if text:
                    yield locale, text
        for name, band, locale in itertools.product(SETTINGS, BANDS, LOCALES):
            words = Messages().setting_text(name, band, locale=locale)
            yield from ((locale, t) for t in (words.label, words.description, words.tip))
        for name, locale in itertools.product(SETTINGS, LOCALES):
            for value in _sample_values(name):
                yield locale, Messages().value_label(name, value, locale=locale)

    def test_no_internal_codes(self, guard: Guard) -> None:
        """No child-facing text holds a band id, a snake_case name, a reason code or "floor"."""
        leaks = [(locale, text) for locale, text in self._child_texts(guard) if JARGON.search(text)]
        assert leaks == []

    def test_jargon_pattern_catches_codes(self) -> None:
        """The pattern used above does find each kind of internal code."""
        for text in ("at 13_15", "the direct_messages setting", "below the floor", "not_connected"):
            assert JARGON.search(text), text

    def test_names_the_parent(self, guard: Guard) -> None:
        """A refused change names the child's linked parent by the display name the app gives."""
        child = Account(id="sam", band="13_15", guardians=["mum"])
        change = guard.change_setting(child, "location_sharing", "connections_coarse")
        said = explain(change, names={"mum": "Alex", "sam": "Sam"})
        assert change.reason == "parent_required"
        assert said == Explanation(
            title="Ask a parent",
            text="Only Alex can loosen your “Who can see where you are” setting.",
            next_step="Ask Alex if you'd like it changed. You can always make it safer yourself.",
        )
        assert "Sam" in explain(change, "parent", names={"mum": "Alex", "sam": "Sam"}).text

    def test_without_names(self, guard: Guard) -> None:
        """Without display names the texts say "your parent", starting a sentence with a capital."""
        decision = guard.check("purchase", actor=Account(id="k", band="13_15"))
        assert explain(decision).text == "Buying this needs a yes from your parent first."
        assert explain(decision, "parent").text == "Your child needs your approval to buy this."
        assert explain(decision, parent="Alex").next_step == "Ask Alex to approve it."

    def test_band_variants(self, guard: Guard) -> None:
        """A younger child reads simpler words than an older one for the same reason."""
        adult = Account(id="a", band="adult")
        young = guard.check("dm.send", actor=adult, target=Account(id="y", band="under_13"))
        teen = guard.check("dm.send", actor=adult, target=Account(id="t", band="13_15"))
        assert explain(young).text != explain(teen).text
        assert "talk to your parent" not in (
            explain(
                guard.check("dm.send", actor=adult, target=Account(id="o", band="16_17"))
            ).next_step
            or ""
        )


class TestSafetyTips:
    def test_tip_before_loosening(self, guard: Guard) -> None:
        """A change waiting for the safety prompt carries the setting's tip, as information."""
        teen = Account(id="t", band="16_17")
        change = guard.change_setting(teen, "location_sharing", "connections_coarse")
        assert change.reason == "prompt_required"
        said = explain(change)
        assert said.tip == (
            "Sharing your location lets others work out where you live, go to school or are "
            "right now."
        )

    def test_no_tip_where_the_reader_cannot_loosen(self, guard: Guard) -> None:
        """Refusals the reader cannot act on carry no tip."""
        teen = Account(id="t", band="13_15")
        for value in ("connections_coarse", "public"):
            change = guard.change_setting(teen, "location_sharing", value)
            assert change.reason in ("parent_required", "below_floor")
            assert explain(change).tip is None

    def test_every_setting_has_a_tip(self) -> None:
        """Every setting has a label, a description and a tip in every locale."""
        for name, locale in itertools.product(SETTINGS, LOCALES):
            words = Messages().setting_text(name, locale=locale)
            assert words.label
            assert words.description
            assert words.tip

    def test_unknown_setting(self) -> None:
        """An unknown setting name is refused with a suggestion."""
        with pytest.raises(InvalidSettingError, match="did you mean 'location_sharing'"):
            Messages().setting_text("location_sharin")


def _sample_values(name: str) -> tuple[str | int | None, ...]:
    """Every value of an enumerated setting; "none" and one set value of the others."""
    domain = SETTINGS[name].domain
    if isinstance(domain, EnumDomain):
        return domain.values
    return ("none", "21:00-07:00") if name == "quiet_hours" else ("none", 45)


class TestValueLabels:
    @pytest.mark.parametrize("locale", LOCALES)
    def test_every_value_has_words(self, locale: str) -> None:
        """Every value of every setting has a label in every shipped locale, never its code."""
        for name in SETTINGS:
            for value in _sample_values(name):
                label = Messages().value_label(name, value, locale=locale)
                assert label
                assert label != str(value)
                assert not JARGON.search(label), (name, value, label)

    def test_values_of_one_setting_differ(self) -> None:
        """Two values of one setting never read the same (a reader could not tell them apart)."""
        for name, locale in itertools.product(SETTINGS, LOCALES):
            labels = [Messages().value_label(name, v, locale=locale) for v in _sample_values(name)]
            assert len(set(labels)) == len(labels), (name, locale, labels)

    @pytest.mark.parametrize(
        ("name", "value", "locale", "expected"),
        [
            ("location_sharing", "public", "en", "Everyone sees the exact place"),
            ("direct_messages", "connections", "fr", "Tes contacts seulement"),
            ("quiet_hours", "21:00-07:00", "en", "From 21:00 to 07:00"),
            ("quiet_hours", "00:00-24:00", "en", "From 00:00 to 24:00"),
            ("quiet_hours", None, "fr", "Désactivées"),
            ("daily_time_reminder", "30", "en", "After 30 minutes a day"),
            ("daily_time_reminder", 30, "fr", "Après 30 minutes par jour"),
            ("daily_time_reminder", "none", "en", "Off"),
        ],
    )
    def test_value_label(
        self, name: str, value: str | int | None, locale: str, expected: str
    ) -> None:
        """A value, or its formatted text, reads as words with its numbers or times filled in."""
        assert Messages().value_label(name, value, locale=locale) == expected

    def test_platform_wording(self) -> None:
        """A platform's own words for a value win; a locale without them falls back to English."""
        messages = Messages({"en": {"value.group_invites.approval_required": "I approve"}})
        assert messages.value_label("group_invites", "approval_required") == "I approve"
        german = messages.value_label("group_invites", "approval_required", locale="de")
        assert german == "I approve"

    def test_without_text_shows_the_value(self) -> None:
        """A value whose text was removed from every locale reads as its formatted value."""
        messages = Messages()
        for chosen in messages._locales.values():
            object.__setattr__(chosen, "texts", {"value.comments.nobody": None})
            object.__setattr__(chosen, "translations", None)
        assert messages.value_label("comments", "nobody") == "nobody"

    @pytest.mark.parametrize(
        ("name", "value", "message"),
        [
            ("comment", "nobody", "did you mean 'comments'"),
            ("comments", "noone", "is not one of"),
            ("daily_time_reminder", "soon", "is not one of"),
        ],
    )
    def test_unknown(self, name: str, value: str, message: str) -> None:
        """An unknown setting or value is refused with the library's own error."""
        with pytest.raises(InvalidSettingError, match=message):
            Messages().value_label(name, value)


class TestRefusedAdult:
    @pytest.mark.parametrize("reason", list(Reason))
    def test_same_for_every_band_and_setting(self, reason: Reason) -> None:
        """The refused person's text is identical whatever the child's band or setting."""
        said = {
            explain(
                Decision(
                    allowed=False, action="dm.send", reason=reason, message="m", setting=s, band=b
                ),
                "refused_adult",
                parent="Alex",
            )
            for s in (None, *SETTINGS)
            for b in (None, *BANDS)
        }
        assert len(said) == 1
        (only,) = said
        assert "Alex" not in only.text
        assert only.next_step is None
        assert only.tip is None

    def test_names_nothing_about_the_child(self, guard: Guard) -> None:
        """A refused adult reads no band, setting label, parent or child name."""
        child = Account(id="sam", band="under_13", guardians=["mum"])
        decision = guard.check("dm.send", actor=Account(id="x", band="adult"), target=child)
        for locale in LOCALES:
            said = explain(decision, "refused_adult", locale=locale, parent="Alex", child="Sam")
            text = json.dumps([said.title, said.text])
            assert "Alex" not in text
            assert "Sam" not in text
            assert Messages().setting_text("direct_messages", locale=locale).label not in text

    def test_not_guardian_change(self, guard: Guard) -> None:
        """An adult who is not the child's parent learns nothing from a refused change."""
        child = Account(id="sam", band="13_15", guardians=["mum"])
        change = guard.change_setting(child, "location_sharing", "off", by="parent", guardian="x")
        body = change_problem_details(change, by="parent", names={"mum": "Alex", "sam": "Sam"})
        assert body["detail"] == "You can't change this account's settings."
        assert "Sam" not in json.dumps(body)
        assert "Alex" not in json.dumps(body)


class TestLocales:
    def test_french(self, guard: Guard) -> None:
        """French texts address the child as "tu" and the parent as "vous"."""
        decision = guard.check("purchase", actor=Account(id="k", band="13_15"))
        assert (
            explain(decision, locale="fr", parent="Alex").next_step
            == "Demande à Alex de l\u2019accepter."
        )
        assert explain(decision, "parent", locale="fr").text == (
            "Votre enfant a besoin de votre accord pour acheter cela."
        )

    @pytest.mark.parametrize(
        ("locale", "expected"),
        [("fr-CA", "Heures calmes"), ("FR_fr", "Heures calmes"), ("de", "Quiet hours")],
    )
    def test_locale_names(self, locale: str, expected: str) -> None:
        """A region falls back to its language, and an unknown language to English."""
        assert Messages().setting_text("quiet_hours", locale=locale).label == expected

    def test_developer_audience(self, guard: Guard) -> None:
        """The developer reads the engine's own reason, message and remedy."""
        decision = guard.check(
            "dm.send", actor=Account(id="x", band="adult"), target=Account(id="t", band="13_15")
        )
        said = explain(decision, "developer", locale="fr")
        assert said == Explanation(
            title="not_connected", text=decision.message, next_step=decision.remedy
        )

    def test_unknown_audience(self, guard: Guard) -> None:
        """An unknown audience is refused with a suggestion."""
        decision = guard.check("purchase", actor=Account(id="k", band="13_15"))
        with pytest.raises(InvalidCheckError, match="did you mean 'parent'"):
            explain(decision, "parnt")  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("arguments", "message"),
        [
            ({"audience": None}, "unknown audience None (known: child, parent"),
            ({"locale": None}, "locale must be a language such as 'fr' or 'fr-CA', got NoneType"),
            ({"locale": 5}, "got int"),
            ({"names": ["mum"]}, "names must map account ids to display names, got list"),
            ({"names": {"mum": 5}}, "names['mum'] must be a display name, got int"),
            ({"child": 5}, "child must be a display name, got int"),
            ({"messages": {"en": {}}}, "messages must be a Messages catalogue"),
        ],
    )
    def test_arguments_of_the_wrong_kind(
        self, guard: Guard, arguments: dict[str, Any], message: str
    ) -> None:
        """explain's arguments of the wrong kind are an InvalidCheckError saying what is
        expected (not an AttributeError or TypeError from inside, nor a number shown as
        a name)."""
        sam = Account(id="sam", band="13_15", guardians=["mum"])
        change = guard.change_setting(sam, "location_sharing", "connections_coarse")
        with pytest.raises(InvalidCheckError, match=re.escape(message)):
            explain(change, **arguments)

    def test_not_an_outcome(self) -> None:
        """explain of something that is no Decision or SettingChange is refused."""
        with pytest.raises(InvalidCheckError, match="expected a Decision or a SettingChange"):
            explain("not_connected")  # type: ignore[arg-type]

    def test_problem_details_locale_of_the_wrong_kind(self, guard: Guard) -> None:
        """The problem document's locale is checked the same way."""
        decision = guard.check("purchase", actor=Account(id="k", band="13_15"))
        with pytest.raises(InvalidCheckError, match="locale must be a language"):
            problem_details(decision, locale=5)  # type: ignore[arg-type]

    def test_catalogue_that_is_no_mapping(self) -> None:
        """Overrides given as a list are a ConfigurationError, not an AttributeError."""
        with pytest.raises(ConfigurationError, match="expected a mapping of locales"):
            Messages(["en"])  # type: ignore[arg-type]

    def test_setting_text_for_an_unknown_band(self) -> None:
        """A band that does not exist is an InvalidSettingError with a suggestion."""
        with pytest.raises(InvalidSettingError, match="did you mean '13_15'"):
            Messages().setting_text("location_sharing", "13-15")


class TestOverrides:
    def test_platform_wording_wins(self, guard: Guard) -> None:
        """A platform's text replaces the shipped one, in its locale only."""
        messages = Messages(
            {"en": {"decision.parent_approval_required.child.text": "Ask {parent} first."}}
        )
        decision = guard.check("purchase", actor=Account(id="k", band="13_15"))
        assert explain(decision, messages=messages, parent="Alex").text == "Ask Alex first."
        assert explain(decision, messages=messages, locale="fr").text.startswith("Pour acheter")

    def test_new_locale_falls_back_to_english(self) -> None:
        """A locale childsafe does not ship takes what it defines, and English for the rest."""
        messages = Messages({"de": {"setting.quiet_hours.label": "Ruhezeiten"}})
        assert messages.locales == ("en", "de", "fr")
        assert messages.setting_text("quiet_hours", locale="de-AT").label == "Ruhezeiten"
        assert (
            messages.setting_text("comments", locale="de").label == "Who can comment on your posts"
        )

    @pytest.mark.parametrize(
        ("overrides", "message"),
        [
            ({"en": {"decision.not_conected.child.text": "x"}}, "did you mean 'not_connected'?"),
            ({"en": {"setting.quiet_hour.label": "x"}}, "did you mean 'quiet_hours'?"),
            ({"en": {"decision.blocked.chld.text": "x"}}, "did you mean 'child'?"),
            (
                {"en": {"decision.blocked.refused_adult.text.13_15": "x"}},
                "must reveal nothing about the child",
            ),
            ({"en": {"decision.blocked.child.text": "Hi {name}"}}, "unknown placeholder {name}"),
            ({"en": {"decision.blocked.refused_adult.text": "{parent}"}}, "allowed here: none"),
            ({"en": {"decision.blocked.child.text": ""}}, "expected a non-empty string"),
            ({"en": {"setting.comments.tip.13_15": "x"}}, "same for every band"),
            ({"en": {"value.comments.evryone": "x"}}, "did you mean 'everyone'?"),
            ({"en": {"value.comment.everyone": "x"}}, "did you mean 'comments'?"),
            ({"en": {"value.comments": "x"}}, "expected value.<setting>.<value>"),
            ({"en": {"value.comments.everyone": "{child}"}}, "allowed here: none"),
            ({"en": {"value.quiet_hours.window": "{from}"}}, "allowed here: {end}, {start}"),
            ({"e n": {}}, "expected a locale name"),
            (
                {"en": {"decision.blocked.child.text": "Hi {child:d}"}},
                "{child:d}: a placeholder takes no format spec or conversion; write {child}",
            ),
            ({"en": {"decision.blocked.child.text": "{child:>99999999}"}}, "write {child}"),
            ({"en": {"decision.blocked.parent.text": "{child!r}"}}, "{child!r}: a placeholder"),
        ],
    )
    def test_invalid(self, overrides: dict[str, dict[str, str]], message: str) -> None:
        """A wrong key, placeholder or text is a ConfigurationError saying what would do."""
        with pytest.raises(ConfigurationError, match=re.escape(message)):
            Messages(overrides)

    def test_every_problem_reported(self) -> None:
        """All mistakes are reported at once, each with its locale and key."""
        with pytest.raises(ConfigurationError) as info:
            Messages({"en": {"x.y": "a", "name.parent": ""}, "fr": {"name.kid": "b"}})
        assert [p.path for p in info.value.problems] == ["en.x.y", "en.name.parent", "fr.name.kid"]

    def test_from_file(self, tmp_path: Path) -> None:
        """Overrides load from a TOML file with one [messages.<locale>] table per locale."""
        path = tmp_path / "messages.toml"
        path.write_text('[messages.en]\n"name.parent" = "your grown-up"\n', encoding="utf-8")
        decision = Decision(
            allowed=False, action="purchase", reason=Reason.PARENT_APPROVAL_REQUIRED, message="m"
        )
        said = explain(decision, messages=Messages.from_file(path))
        assert said.next_step == "Ask your grown-up to approve it."

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("[mesages.en]\n", "unknown table; did you mean 'messages'?"),
            ("messages = 1\n", "expected one table per locale"),
            ("[messages\n", "messages.toml"),
        ],
    )
    def test_bad_file(self, tmp_path: Path, text: str, message: str) -> None:
        """A malformed overrides file is a ConfigurationError naming the file."""
        path = tmp_path / "messages.toml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigurationError, match=re.escape(message)):
            Messages.from_file(path)

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            (b"\xff\xfe[\x00m\x00", "cannot read: 'utf-8' codec can't decode byte 0xff"),
            (b'\xef\xbb\xbf[messages.en]\n"name.parent" = "g"\n', "byte order mark"),
            (b"x = " + b"[" * 5000 + b"]" * 5000, "invalid TOML: nested more than 32 levels"),
            (b'[messages.en]\n"name.parent" = "' + b"x" * (1 << 20) + b'"\n', "larger than"),
        ],
    )
    def test_hostile_file(self, tmp_path: Path, content: bytes, message: str) -> None:
        """A file that is not UTF-8, starts with a byte order mark, nests too deeply or
        is larger than the config limit is a ConfigurationError naming the file (not a
        UnicodeDecodeError, a RecursionError or a very large catalogue)."""
        path = tmp_path / "messages.toml"
        path.write_bytes(content)
        with pytest.raises(ConfigurationError) as info:
            Messages.from_file(path)
        assert info.value.problems[0].source == str(path)
        assert message in info.value.problems[0].message

    def test_missing_file(self, tmp_path: Path) -> None:
        """A file that does not exist is a ConfigurationError naming it."""
        with pytest.raises(ConfigurationError, match=r"nowhere\.toml: no such file"):
            Messages.from_file(tmp_path / "nowhere.toml")


class TestProblemDetails:
    def test_own_denial_carries_the_childs_words(self, guard: Guard) -> None:
        """A denial about the requester's own account carries their text and next step."""
        body = problem_details(
            guard.check("purchase", actor=Account(id="k", band="13_15")), parent="Alex"
        )
        assert body["detail"] == "Buying this needs a yes from Alex first."
        assert body["next_step"] == "Ask Alex to approve it."
        assert "13_15" not in json.dumps(body)

    def test_confirmation_carries_the_tip(self, guard: Guard) -> None:
        """A safety prompt's problem document carries the tip, shown before confirming."""
        teen = Account(id="t", band="13_15")
        adult = Account(id="a", band="adult", settings={"discoverable": "everyone"})
        body = problem_details(guard.check("follow", actor=teen, target=adult))
        assert body["needs_confirmation"] is True
        assert body["tip"].startswith("People online aren't always who they say they are.")

    @pytest.mark.parametrize("locale", LOCALES)
    def test_refused_adult_same_for_every_band(self, guard: Guard, locale: str) -> None:
        """A stranger's refusal reads the same whatever the child's band, in every locale."""
        stranger = Account(id="x", band="adult")
        bodies = {
            json.dumps(
                problem_details(
                    guard.check("dm.send", actor=stranger, target=Account(id="c", band=b)),
                    locale=locale,
                )
            )
            for b in ("under_13", "13_15", "16_17")
        }
        assert len(bodies) == 1

    def test_accept_language(self, guard: Guard) -> None:
        """The default denial follows the request's Accept-Language."""
        decision = guard.check(
            "dm.send", actor=Account(id="x", band="adult"), target=Account(id="c", band="13_15")
        )

        class French:
            method = "POST"
            path = "/m"

            def header(self, name: str) -> str | None:
                return "fr-FR,fr;q=0.9,en;q=0.5" if name == "accept-language" else None

        body = json.loads(problem_response(decision, French()).body)  # type: ignore[arg-type]
        assert body["detail"] == "Seuls les contacts du compte peuvent faire cela."


class TestNegotiateLocale:
    @pytest.mark.parametrize(
        ("header", "expected"),
        [
            (None, "en"),
            ("", "en"),
            ("fr", "fr"),
            ("de-DE, fr;q=0.5", "fr"),
            ("fr;q=0.2, en;q=0.9", "en"),
            ("fr;q=0", "en"),
            ("fr;q=bad, en", "en"),
            # Not RFC 9110 qvalues (0 to 1, three decimals at most): no preference.
            ("en;q=0.9, fr;q=inf", "en"),
            ("en;q=0.9, fr;q=1e999", "en"),
            ("en;q=0.9, fr;q=2", "en"),
            ("en;q=0.9, fr;q=nan", "en"),
            ("en;q=0.5, fr;q=1.000", "fr"),
            ("en;q=0.5, fr;q=0.501", "fr"),
            ("en-GB, fr", "en"),
            # The weight is a parameter like any other: named in any case, after others.
            ("fr;Q=0, en;q=0.5", "en"),
            ("fr;level=1;q=0, en;q=0.5", "en"),
            ("en;q=0.5, fr ; q=0.8", "fr"),
        ],
    )
    def test_negotiate(self, header: str | None, expected: str) -> None:
        """The most preferred shipped language wins; q=0 and malformed weights never do."""
        assert negotiate_locale(header) == expected


class TestChangeProblem:
    def test_refused_change(self, guard: Guard) -> None:
        """A refused change answers 403 problem+json naming the parent, in the child's words."""
        child = Account(id="sam", band="13_15", guardians=["mum"])
        change = guard.change_setting(child, "location_sharing", "connections_coarse")
        response = change_problem_response(change, names={"mum": "Alex"}, locale="fr")
        assert response.status == 403
        assert dict(response.headers)["content-type"] == "application/problem+json"
        body = json.loads(response.body)
        assert body == {
            "type": "https://childsafe.readthedocs.io/en/latest/explanations.html#change-parent-required",
            "title": "Demande à un parent",
            "status": 403,
            "detail": "Il n\u2019y a que Alex qui puisse assouplir ton réglage «\u00a0Qui peut "
            "voir où tu es\u00a0».",
            "reason": "parent_required",
            "setting": "location_sharing",
            "next_step": "Demande à Alex si tu veux le changer. Tu peux toujours le rendre plus "
            "protecteur toi-même.",
        }
        assert int(dict(response.headers)["content-length"]) == len(response.body)

    def test_prompt(self, guard: Guard) -> None:
        """A change waiting for the safety prompt says so and carries the tip."""
        change = guard.change_setting(
            Account(id="o", band="16_17"), "discoverable", "mutual_connections"
        )
        body = change_problem_details(change)
        assert body["needs_confirmation"] is True
        assert (
            body["tip"]
            == "If people can find you, strangers can see your account and send you requests."
        )

    def test_parent_words(self, guard: Guard) -> None:
        """A parent's refused change is explained to the parent, naming the child."""
        child = Account(id="sam", band="13_15", guardians=["mum"])
        change = guard.change_setting(
            child, "direct_messages", "everyone", by="parent", guardian="mum"
        )
        body = change_problem_details(change, by="parent", names={"sam": "Sam"})
        assert (
            body["detail"]
            == "That choice isn't available at Sam's age, not even with a parent's permission."
        )

    def test_applied_change_is_not_a_problem(self, guard: Guard) -> None:
        """An applied change has no problem document."""
        change = guard.change_setting(Account(id="o", band="16_17"), "direct_messages", "nobody")
        with pytest.raises(InvalidCheckError, match="needs a refused change"):
            change_problem_details(change)
        with pytest.raises(InvalidCheckError, match="by must be"):
            change_problem_details(
                guard.change_setting(Account(id="o", band="13_15"), "direct_messages", "everyone"),
                by="them",  # type: ignore[arg-type]
            )

    def test_locked_note(self, guard: Guard) -> None:
        """A parent's saved change says the setting is now locked, naming the child."""
        child = Account(id="sam", band="13_15", guardians=["mum"])
        change = guard.change_setting(child, "location_sharing", "off", by="parent", guardian="mum")
        said = explain(
            guard.change_setting(child, "comments", "nobody", by="parent", guardian="mum"),
            "parent",
            names={"sam": "Sam"},
        )
        assert change.reason == "locked"
        assert said.next_step == "It is locked: Sam can make it safer, but can't loosen it."
