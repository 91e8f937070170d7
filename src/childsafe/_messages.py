"""Explanations people understand: the message catalogue behind :func:`explain`.

Every decision reason and setting-change reason has texts for three audiences (the
child, the parent, and the person who was refused about someone else's account), in
every shipped locale, plus each setting's label, short description and safety tip. The
texts live in gettext catalogues shipped with the package
(``childsafe/locale/<lang>/LC_MESSAGES/childsafe.mo``) whose ``msgid`` is a key:

- ``setting.<setting>.label``, ``.about`` (each optionally ``.<band>``), ``.tip``;
- ``value.<setting>.<value>``: each value of a setting in words (``value.
  location_sharing.connections_coarse``); a setting measured in minutes or a daily
  window has ``value.<setting>.none`` and ``value.<setting>.minutes`` (placeholder
  ``{minutes}``) or ``value.<setting>.window`` (``{start}`` and ``{end}``);
- ``<kind>.<reason>.title`` and ``<kind>.<reason>.<audience>.title``, where ``<kind>``
  is ``decision`` (a :class:`~childsafe.Reason`) or ``change`` (a
  :class:`~childsafe.SettingChange` reason);
- ``<kind>.<reason>.<audience>.text``, ``.next`` and ``.tip``, each optionally
  narrowed by ``.<setting>``, ``.<band>`` or ``.<setting>.<band>``: the most specific
  key present wins. The refused person's texts cannot be narrowed, so they are the same
  whatever the child's setting or band;
- ``name.parent``, ``name.child`` and ``name.setting``: the words used for
  ``{parent}``, ``{child}`` and ``{setting}`` when no name is known;
- ``fallback.title`` and ``fallback.text``: what anyone reads for a reason that has no
  texts yet (the completeness test keeps the shipped catalogue from needing them).
"""

from __future__ import annotations

import functools
import gettext
import os
import string
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal, TypeAlias, cast

import attrs

from childsafe._bands import AgeBand
from childsafe._decision import Decision, Reason
from childsafe._parsing import ParseError, load_toml, read_config
from childsafe._settings import (
    SETTINGS,
    EnumDomain,
    MinutesDomain,
    SettingValue,
    TimeWindow,
    WindowDomain,
    suggest,
)
from childsafe.exceptions import (
    ConfigProblem,
    ConfigurationError,
    InvalidCheckError,
    InvalidSettingError,
)

if TYPE_CHECKING:
    from childsafe._engine import SettingChange

__all__ = [
    "AUDIENCES",
    "CHANGE_REASONS",
    "LOCALES",
    "Audience",
    "Explanation",
    "Messages",
    "SettingText",
    "explain",
]

Audience: TypeAlias = Literal["child", "parent", "refused_adult", "developer"]

AUDIENCES: Final[tuple[Audience, ...]] = ("child", "parent", "refused_adult", "developer")
"""Who reads an explanation: the child whose account it is (in plain words for their
age band), their linked parent, the person refused about someone else's account (who
learns nothing about that account), and the developer (the engine's own message and
remedy, in English)."""

LOCALES: Final = ("en", "fr")
"""The locales childsafe ships complete."""

CHANGE_REASONS: Final = (
    "changed",
    "unchanged",
    "locked",
    "unlocked",
    "not_changeable",
    "parent_required",
    "parent_locked",
    "not_guardian",
    "parental_consent_required",
    "below_floor",
    "prompt_required",
)
"""Every ``reason`` a :class:`~childsafe.SettingChange` can carry."""

_DOMAIN: Final = "childsafe"
_DEFAULT_LOCALE: Final = "en"
_CATALOGUED: Final = ("child", "parent", "refused_adult")
_BANDS: Final = tuple(band.value for band in AgeBand)
_REASONS: Final = {"decision": tuple(r.value for r in Reason), "change": CHANGE_REASONS}
_PLACEHOLDERS: Final = frozenset({"parent", "child", "setting"})
_NAMES: Final = ("parent", "child", "setting")


def _value_words(setting: str) -> dict[str, frozenset[str]]:
    """The value keys of ``setting`` and the placeholders each text may use."""
    domain = SETTINGS[setting].domain
    if isinstance(domain, EnumDomain):
        return {value: frozenset() for value in domain.values}
    if isinstance(domain, MinutesDomain):
        return {"none": frozenset(), "minutes": frozenset({"minutes"})}
    return {"none": frozenset(), "window": frozenset({"start", "end"})}


_VALUE_KEYS: Final = {setting: _value_words(setting) for setting in SETTINGS}


def locale_dir() -> Path:
    """Where the compiled catalogues are: ``<lang>/LC_MESSAGES/childsafe.mo``."""
    return Path(__file__).parent / "locale"


@attrs.frozen
class Explanation:
    """What to show someone about a decision or a setting change.

    ``title`` is a short heading, ``text`` what happened in plain words, ``next_step``
    what the reader can do now (``None`` when there is nothing to do) and ``tip`` a
    safety tip to show as information before the reader loosens something (``None``
    unless the reader is about to loosen a setting, or to confirm a safety prompt).

    .. versionadded:: 0.2.0
    """

    title: str
    text: str
    next_step: str | None = None
    tip: str | None = None


@attrs.frozen
class SettingText:
    """A setting in words for its account holder: ``label`` (a heading),
    ``description`` (one sentence) and ``tip`` (what loosening it exposes; show it only
    where the reader can loosen the setting).

    .. versionadded:: 0.2.0
    """

    label: str
    description: str
    tip: str


# ------------------------------------------------------------------ key grammar


def _choice(where: str, word: str, choices: Iterable[str], what: str) -> str | None:
    options = tuple(choices)
    if word in options:
        return None
    return f"{where}: unknown {what} {word!r}{suggest(word, options)}"


def check_key(key: str) -> str | None:
    """Why ``key`` is not a catalogue key, or ``None`` when it is one."""
    parts = key.split(".")
    head = parts[0]
    if head == "name":
        if len(parts) != 2:
            return f"{key!r}: expected name.<parent|child|setting>"
        return _choice(key, parts[1], _NAMES, "name")
    if head == "setting":
        if len(parts) not in (3, 4):
            return f"{key!r}: expected setting.<setting>.<label|about|tip>[.<band>]"
        problem = _choice(key, parts[1], SETTINGS, "setting")
        if problem:
            return problem
        problem = _choice(key, parts[2], ("label", "about", "tip"), "part")
        if problem or len(parts) == 3:
            return problem
        if parts[2] == "tip":
            return f"{key!r}: a safety tip is the same for every band"
        return _choice(key, parts[3], _BANDS, "band")
    if head == "value":
        if len(parts) != 3:
            return f"{key!r}: expected value.<setting>.<value>"
        return _choice(key, parts[1], SETTINGS, "setting") or _choice(
            key, parts[2], _VALUE_KEYS[parts[1]], f"value of {parts[1]}"
        )
    if head == "fallback":
        if len(parts) != 2:
            return f"{key!r}: expected fallback.<title|text>"
        return _choice(key, parts[1], ("title", "text"), "part")
    if head == "change" and parts[1:3] == ["note", "locked"]:
        if len(parts) != 4:
            return f"{key!r}: expected change.note.locked.<child|parent>"
        return _choice(key, parts[3], ("child", "parent"), "audience")
    if head not in _REASONS:
        return _choice(
            key, head, ("name", "setting", "value", "decision", "change", "fallback"), "kind"
        )
    if len(parts) < 3:
        return f"{key!r}: expected {head}.<reason>.title or {head}.<reason>.<audience>.<part>"
    problem = _choice(key, parts[1], _REASONS[head], f"{head} reason")
    if problem:
        return problem
    if parts[2:] == ["title"]:
        return None
    problem = _choice(key, parts[2], _CATALOGUED, "audience")
    if problem or len(parts) < 4:
        return problem or f"{key!r}: expected a part (title, text, next, tip)"
    problem = _choice(key, parts[3], ("title", "text", "next", "tip"), "part")
    if problem:
        return problem
    narrowing = parts[4:]
    if narrowing and parts[3] == "title":
        return f"{key!r}: a title cannot be narrowed by setting or band"
    if narrowing and parts[2] == "refused_adult":
        return (
            f"{key!r}: texts for a refused adult cannot be narrowed by setting or band "
            "(they must reveal nothing about the child)"
        )
    if len(narrowing) > 2:
        return f"{key!r}: narrow by at most <setting>.<band>"
    if len(narrowing) == 2:
        return _choice(key, narrowing[0], SETTINGS, "setting") or _choice(
            key, narrowing[1], _BANDS, "band"
        )
    if narrowing and narrowing[0] not in SETTINGS and narrowing[0] not in _BANDS:
        return _choice(key, narrowing[0], (*SETTINGS, *_BANDS), "setting or band")
    return None


def check_text(key: str, text: object) -> str | None:
    """Why ``text`` cannot be the text of ``key``, or ``None``."""
    if not isinstance(text, str) or not text.strip():
        return f"{key!r}: expected a non-empty string, got {text!r}"
    parts = key.split(".")
    allowed: frozenset[str] | set[str]
    if parts[0] == "value" and len(parts) == 3 and parts[1] in _VALUE_KEYS:
        allowed = _VALUE_KEYS[parts[1]].get(parts[2], frozenset())
    elif ".refused_adult." in key or key.startswith("name."):
        allowed = set()
    else:
        allowed = _PLACEHOLDERS
    try:
        parsed = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(text)]
    except ValueError as e:
        return f"{key!r}: {e} (write {{{{ and }}}} for literal braces)"
    fields = {name for name, _, _ in parsed if name is not None}
    for name, spec, conv in parsed:
        if name is not None and (spec or conv):
            # {child:d} fails when the text is shown, {child:>9999999} fills memory.
            shown = f"{{{name}{'!' + conv if conv else ''}{':' + spec if spec else ''}}}"
            return (
                f"{key!r}: {shown}: a placeholder takes no format spec or conversion; "
                f"write {{{name}}}"
            )
    unknown = sorted(fields - allowed)
    if unknown:
        known = ", ".join(f"{{{p}}}" for p in sorted(allowed)) or "none"
        return f"{key!r}: unknown placeholder {{{unknown[0]}}} (allowed here: {known})"
    return None


# ------------------------------------------------------------------ catalogue


def _read_toml(path: str | os.PathLike[str]) -> tuple[str, dict[str, object]]:
    """A messages file's TOML, read within the config limits; what is wrong with it
    (unreadable, not UTF-8, too large, a byte order mark, invalid or too deeply nested
    TOML) as a :class:`~childsafe.exceptions.ConfigurationError` naming the file."""
    problem: str
    source, data = read_config(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        problem = f"cannot read: {e}"
    else:
        if text.startswith("\ufeff"):
            problem = "starts with a byte order mark: save it as UTF-8 without one"
        else:
            try:
                return source, load_toml(text)
            except ParseError as e:
                problem = f"invalid TOML: {e}"
    raise ConfigurationError([ConfigProblem(source, "", problem)])


def _normalise(locale: str) -> str:
    return locale.replace("-", "_").lower()


@attrs.frozen
class _Locale:
    texts: Mapping[str, str]
    translations: gettext.NullTranslations | None

    def get(self, key: str) -> str | None:
        text = self.texts.get(key)
        if text is None and self.translations is not None:
            found = self.translations.gettext(key)
            text = found if found != key else None
        return text


def _translations(locale: str) -> gettext.NullTranslations | None:
    try:
        return gettext.translation(_DOMAIN, str(locale_dir()), languages=[locale])
    except OSError:
        return None


class Messages:
    """The message catalogue: childsafe's texts in every shipped locale, with a
    platform's own wording over them.

    ``overrides`` maps a locale (``"en"``, ``"fr"``, or one childsafe does not ship,
    such as ``"de"``) to catalogue keys and their texts. Every key and placeholder is
    checked when the catalogue is built: a mistake is a
    :class:`~childsafe.exceptions.ConfigurationError` naming each problem. A text a
    locale lacks comes from English.

    >>> from childsafe import Messages
    >>> messages = Messages({"en": {"name.parent": "your grown-up"}})
    >>> messages.setting_text("location_sharing").label
    'Who can see where you are'

    .. versionadded:: 0.2.0
    """

    __slots__ = ("_cache", "_locales")

    def __init__(
        self, overrides: Mapping[str, Mapping[str, str]] | None = None, *, source: str = "<mapping>"
    ) -> None:
        overrides = overrides or {}
        given: object = overrides
        if not isinstance(given, Mapping):
            raise ConfigurationError(
                [
                    ConfigProblem(
                        source,
                        "",
                        "expected a mapping of locales to tables of keys and texts, got "
                        f"{type(given).__name__}",
                    )
                ]
            )
        problems = list(_check_overrides(cast("Mapping[object, object]", overrides), source))
        if problems:
            raise ConfigurationError(problems)
        names = {_normalise(n) for n in (*LOCALES, *overrides)}
        self._locales: dict[str, _Locale] = {
            name: _Locale(
                dict(overrides.get(name, {})) | _extra(overrides, name), _translations(name)
            )
            for name in names
        }
        self._cache: dict[tuple[object, ...], tuple[str | None, ...]] = {}

    @classmethod
    def from_file(cls, path: str | Path) -> Messages:
        """A catalogue with the overrides in a TOML file: one ``[messages.<locale>]``
        table per locale, its keys quoted (``"name.parent" = "your grown-up"``)."""
        source, data = _read_toml(path)
        path = Path(source)
        extra = sorted(set(data) - {"messages"})
        if extra:
            hint = suggest(extra[0], ("messages",))
            raise ConfigurationError(
                [
                    ConfigProblem(
                        str(path), extra[0], f"unknown table{hint}; expected [messages.<locale>]"
                    )
                ]
            )
        tables = data.get("messages", {})
        if not isinstance(tables, dict) or not all(isinstance(t, dict) for t in tables.values()):
            raise ConfigurationError(
                [ConfigProblem(str(path), "messages", "expected one table per locale")]
            )
        return cls(tables, source=str(path))

    @property
    def locales(self) -> tuple[str, ...]:
        """The locales this catalogue has texts for (English first)."""
        return (_DEFAULT_LOCALE, *sorted(set(self._locales) - {_DEFAULT_LOCALE}))

    def _locale(self, locale: str) -> str:
        given: object = locale
        if not isinstance(given, str):
            raise InvalidCheckError(
                f"locale must be a language such as 'fr' or 'fr-CA', got {type(given).__name__}"
            )
        name = _normalise(locale)
        if name in self._locales:
            return name
        base = name.partition("_")[0]
        return base if base in self._locales else _DEFAULT_LOCALE

    def lookup(self, key: str, locale: str = _DEFAULT_LOCALE) -> str | None:
        """The text of ``key`` in ``locale`` (or English when the locale lacks it), or
        ``None`` when there is none."""
        found = self._locales[self._locale(locale)].get(key)
        if found is None:
            found = self._locales[_DEFAULT_LOCALE].get(key)
        return found

    def _first(self, keys: Iterable[str], locale: str) -> str | None:
        keys = tuple(keys)
        for name in dict.fromkeys((self._locale(locale), _DEFAULT_LOCALE)):
            chosen = self._locales[name]
            for key in keys:
                text = chosen.get(key)
                if text is not None:
                    return text
        return None

    def setting_text(
        self, setting: str, band: AgeBand | str | None = None, *, locale: str = _DEFAULT_LOCALE
    ) -> SettingText:
        """The label, description and safety tip of ``setting`` for an account in
        ``band``, in ``locale``."""
        if setting not in SETTINGS:
            raise InvalidSettingError(
                f"unknown setting {setting!r}{suggest(setting, tuple(SETTINGS))}"
            )
        try:
            band_name = AgeBand(band).value if band is not None else None
        except ValueError:
            bands = tuple(b.value for b in AgeBand)
            hint = suggest(str(band), bands) or f" (known: {', '.join(bands)})"
            raise InvalidSettingError(f"unknown age band {band!r}{hint}") from None
        locale = self._locale(locale)
        cache_key = ("setting", setting, band_name, locale)
        found = self._cache.get(cache_key)
        if found is None:
            found = tuple(
                self._first(_narrowed(f"setting.{setting}.{part}", None, band_name), locale)
                for part in ("label", "about", "tip")
            )
            self._cache[cache_key] = found
        label, description, tip = found
        return SettingText(label or setting, description or "", tip or "")

    def value_label(
        self, setting: str, value: SettingValue | str, *, locale: str = _DEFAULT_LOCALE
    ) -> str:
        """A value of ``setting`` in words, in ``locale``: ``"connections_coarse"`` of
        ``location_sharing`` reads "Connections see the town, not the exact place".
        ``value`` is a value or its text as the effective settings' ``formatted()``
        writes it (``"none"``, ``"30"``, ``"21:00-07:00"``); one the setting does not
        have raises :class:`~childsafe.exceptions.InvalidSettingError`.

        >>> from childsafe import Messages
        >>> Messages().value_label("direct_messages", "connections")
        'Connections only'

        .. versionadded:: 0.2.0
        """
        spec = SETTINGS.get(setting)
        if spec is None:
            raise InvalidSettingError(
                f"unknown setting {setting!r}{suggest(setting, tuple(SETTINGS))}"
            )
        raw: object = value
        if isinstance(spec.domain, MinutesDomain) and isinstance(value, str) and value.isdigit():
            raw = int(value)
        parsed = spec.parse(raw)
        values: dict[str, str] = {}
        if parsed is None:
            word = "none"
        elif isinstance(spec.domain, MinutesDomain):
            word, values = "minutes", {"minutes": str(parsed)}
        elif isinstance(spec.domain, WindowDomain):
            assert isinstance(parsed, TimeWindow)
            end = parsed.end or 24 * 60
            word = "window"
            values = {"start": _clock(parsed.start), "end": _clock(end)}
        else:
            word = str(parsed)
        template = self._first((f"value.{setting}.{word}",), locale)
        if template is None:
            return spec.format(parsed)
        return template.format_map(values)

    def _templates(
        self,
        kind: str,
        reason: str,
        audience: str,
        setting: str | None,
        band: str | None,
        locale: str,
    ) -> tuple[str | None, ...]:
        locale = self._locale(locale)
        cache_key = (kind, reason, audience, setting, band, locale)
        found = self._cache.get(cache_key)
        if found is not None:
            return found
        base = f"{kind}.{reason}.{audience}"
        if audience == "refused_adult":
            setting = band = None
        found = (
            self._first((f"{base}.title", f"{kind}.{reason}.title"), locale),
            self._first(_narrowed(f"{base}.text", setting, band), locale),
            self._first(_narrowed(f"{base}.next", setting, band), locale),
            self._first(_narrowed(f"{base}.tip", setting, band), locale),
        )
        self._cache[cache_key] = found
        return found

    def missing(self, locales: Iterable[str] | None = None) -> list[str]:
        """Every reason, setting (or none), band and audience that has no title or no
        text, as ``"<locale>: <kind>.<reason> <audience> <setting> <band>"``, and every
        setting text and setting value without words (``"<locale>: <key>"``); an empty
        list when the catalogue is complete. Locales default to all of :attr:`locales`.
        Reads each locale on its own, without falling back to English."""
        gaps = []
        for locale in self.locales if locales is None else locales:
            name = self._locale(locale)
            chosen = self._locales[name]
            for kind, reasons in _REASONS.items():
                for reason in reasons:
                    for audience in _CATALOGUED:
                        titles = (f"{kind}.{reason}.{audience}.title", f"{kind}.{reason}.title")
                        if all(chosen.get(k) is None for k in titles):
                            gaps.append(f"{name}: {kind}.{reason} {audience} title")
                        for setting in (None, *SETTINGS):
                            for band in _BANDS:
                                keys = _narrowed(f"{kind}.{reason}.{audience}.text", setting, band)
                                if all(chosen.get(k) is None for k in keys):
                                    gaps.append(
                                        f"{name}: {kind}.{reason} {audience} {setting} {band}"
                                    )
            gaps.extend(
                f"{name}: setting.{setting}.{part}"
                for setting in SETTINGS
                for part in ("label", "about", "tip")
                if chosen.get(f"setting.{setting}.{part}") is None
            )
            gaps.extend(
                f"{name}: value.{setting}.{word}"
                for setting, words in _VALUE_KEYS.items()
                for word in words
                if chosen.get(f"value.{setting}.{word}") is None
            )
        return gaps

    def explain(
        self,
        outcome: Decision | SettingChange,
        audience: Audience = "child",
        *,
        locale: str = _DEFAULT_LOCALE,
        parent: str | None = None,
        child: str | None = None,
        names: Mapping[str, str] | None = None,
    ) -> Explanation:
        """See :func:`childsafe.explain`."""
        if outcome.__class__ is not Decision or parent or child or names is not None:
            # Checked only off the denial path (a Decision, no names): it costs a call.
            _check_explain_arguments(outcome, parent, child, names)
        if isinstance(outcome, Decision):
            kind, reason = "decision", outcome.reason.value
            band = outcome.band.value if outcome.band is not None else None
            account = None
            locked = False
        else:
            kind, reason = "change", outcome.reason
            account = outcome.account
            band = account.band.value
            locked = outcome.applied and outcome.locked
        if audience == "developer":
            remedy = outcome.remedy if isinstance(outcome, Decision) else None
            return Explanation(title=reason, text=outcome.message, next_step=remedy)
        if audience not in _CATALOGUED:
            shown: object = audience
            hint = suggest(shown, AUDIENCES) if isinstance(shown, str) else ""
            known = ", ".join(AUDIENCES)
            raise InvalidCheckError(f"unknown audience {audience!r}{hint or f' (known: {known})'}")
        setting = outcome.setting
        title, text, next_step, tip = self._templates(kind, reason, audience, setting, band, locale)
        if title is None or text is None:
            # A reason without texts (added to the engine but not to the catalogue yet):
            # say nothing specific rather than fail the request.
            title = self._first(("fallback.title",), locale)
            text = self._first(("fallback.text",), locale)
            next_step = tip = None
        if kind == "change" and audience != "refused_adult":
            if audience == "child" and reason == "prompt_required" and setting is not None:
                tip = self.setting_text(setting, band, locale=locale).tip
            if locked and next_step is None:
                next_step = self._first((f"change.note.locked.{audience}",), locale)
        if audience == "refused_adult":
            values = {}
        else:
            values = self._names(locale, setting, band, parent, child, names, account)
        return Explanation(
            title=_fill(title, values) or "",
            text=_fill(text, values) or "",
            next_step=_fill(next_step, values),
            tip=_fill(tip, values),
        )

    def _names(
        self,
        locale: str,
        setting: str | None,
        band: str | None,
        parent: str | None,
        child: str | None,
        names: Mapping[str, str] | None,
        account: object,
    ) -> dict[str, str]:
        names = names or {}
        if account is not None:
            if parent is None:
                guardians = getattr(account, "guardians", ())
                parent = next((names[g] for g in sorted(guardians) if g in names), None)
            if child is None:
                child = names.get(str(getattr(account, "id", "")))
        cache_key = ("names", setting, band, self._locale(locale))
        defaults = self._cache.get(cache_key)
        if defaults is None:
            label = (
                self.setting_text(setting, band, locale=locale).label
                if setting is not None
                else self.lookup("name.setting", locale)
            )
            defaults = (
                self.lookup("name.parent", locale),
                self.lookup("name.child", locale),
                label,
            )
            self._cache[cache_key] = defaults
        default_parent, default_child, label = defaults
        return {
            "parent": parent or default_parent or "",
            "child": child or default_child or "",
            "setting": label or "",
        }


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _narrowed(base: str, setting: str | None, band: str | None) -> tuple[str, ...]:
    keys = []
    if setting is not None and band is not None:
        keys.append(f"{base}.{setting}.{band}")
    if setting is not None:
        keys.append(f"{base}.{setting}")
    if band is not None:
        keys.append(f"{base}.{band}")
    keys.append(base)
    return tuple(keys)


def _fill(template: str | None, values: Mapping[str, str]) -> str | None:
    if template is None:
        return None
    text = template.format_map(values) if values else template.format_map(_Empty())
    return text[:1].upper() + text[1:]


class _Empty(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def _extra(overrides: Mapping[str, Mapping[str, str]], name: str) -> dict[str, str]:
    """Overrides written under another spelling of the same locale (``fr-FR``)."""
    merged: dict[str, str] = {}
    for locale, texts in overrides.items():
        if _normalise(locale) == name and locale != name:
            merged.update(texts)
    return merged


def _check_overrides(overrides: Mapping[object, object], source: str) -> Iterable[ConfigProblem]:
    for locale, texts in overrides.items():
        if not isinstance(locale, str) or not locale.replace("-", "").replace("_", "").isalpha():
            yield ConfigProblem(source, str(locale), "expected a locale name such as 'en' or 'fr'")
            continue
        if not isinstance(texts, Mapping):
            yield ConfigProblem(source, locale, "expected a table of keys and texts")
            continue
        for key, text in texts.items():
            if not isinstance(key, str):
                yield ConfigProblem(source, f"{locale}.{key}", "expected a string key")
                continue
            problem = check_key(key) or check_text(key, text)
            if problem:
                yield ConfigProblem(source, f"{locale}.{key}", problem.partition(": ")[2])


@functools.cache
def default_messages() -> Messages:
    """The shipped catalogue, without overrides (built once)."""
    return Messages()


def _check_explain_arguments(outcome: object, parent: object, child: object, names: object) -> None:
    """Raise :class:`~childsafe.exceptions.InvalidCheckError` for an argument of
    :func:`explain` of the wrong kind (rather than an ``AttributeError`` from deep
    inside, or a number shown as a name)."""
    from childsafe._engine import SettingChange  # noqa: PLC0415 - the engine imports this module

    if not isinstance(outcome, Decision | SettingChange):
        raise InvalidCheckError(
            f"explain: expected a Decision or a SettingChange, got {type(outcome).__name__}"
        )
    for label, value in (("parent", parent), ("child", child)):
        if value is not None and not isinstance(value, str):
            raise InvalidCheckError(f"{label} must be a display name, got {type(value).__name__}")
    if names is None:
        return
    if not isinstance(names, Mapping):
        raise InvalidCheckError(
            f"names must map account ids to display names, got {type(names).__name__}"
        )
    for key, value in names.items():
        if not isinstance(value, str):
            raise InvalidCheckError(
                f"names[{key!r}] must be a display name, got {type(value).__name__}"
            )


def explain(
    outcome: Decision | SettingChange,
    audience: Audience = "child",
    *,
    locale: str = _DEFAULT_LOCALE,
    parent: str | None = None,
    child: str | None = None,
    names: Mapping[str, str] | None = None,
    messages: Messages | None = None,
) -> Explanation:
    """Explain a :class:`~childsafe.Decision` or :class:`~childsafe.SettingChange` to
    ``audience``, in ``locale``.

    ``audience`` is ``"child"`` (the account whose setting decided, or whose setting
    changed: its own words, no codes), ``"parent"`` (their linked parent),
    ``"refused_adult"`` (someone refused about another's account: the text is the same
    whatever that account's band or settings, and names no one) or ``"developer"``
    (the engine's ``message`` and ``remedy``, in English).

    ``parent`` and ``child`` are display names for the ``{parent}`` and ``{child}`` in
    the texts; for a setting change they may instead come from ``names``, display
    names by account id (the account's own, and its first named guardian). Without
    names the texts say "your parent" and "your child". ``locale`` is a language
    (``"fr"``, ``"fr-CA"``); one the catalogue lacks gives English. ``messages`` is a
    catalogue with a platform's wording (:class:`Messages`); the shipped one otherwise.

    .. versionadded:: 0.2.0
    """
    given: object = messages
    if given is not None and not isinstance(given, Messages):
        raise InvalidCheckError(
            f"messages must be a Messages catalogue (Messages({{...}}) or "
            f"Messages.from_file(path)), got {type(given).__name__}"
        )
    catalogue = messages if messages is not None else default_messages()
    return catalogue.explain(
        outcome, audience, locale=locale, parent=parent, child=child, names=names
    )
