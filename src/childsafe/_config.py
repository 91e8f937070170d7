"""Config documents and their cattrs converter.

The converter forbids unknown keys and never coerces (``"yes"`` is not a boolean,
``5`` is not a string). Its errors are turned into :class:`ConfigProblem` items
that name the file, the dotted path and what would be accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, Union

import attrs
import cattrs
from cattrs.errors import AttributeValidationNote, ForbiddenExtraKeysError, IterableValidationNote

from childsafe._parsing import shown
from childsafe._settings import suggest
from childsafe.exceptions import ConfigProblem, ConfigurationError

__all__ = [
    "ConfigDoc",
    "OverlayDoc",
    "OverlayRuleDoc",
    "ProblemCollector",
    "RawValue",
    "RuleSpecDoc",
    "SourceDoc",
    "rule_specs",
    "structure",
]

T = TypeVar("T")

RawValue = str | int
"""A setting value as written in a file: a name, a window, minutes or ``"none"``."""


@attrs.define
class RuleSpecDoc:
    """``[bands.<band>.<setting>]``: every field optional in an override."""

    default: RawValue | None = None
    floor: RawValue | None = None
    changeable_by: str | None = None
    prompt_on_loosen: bool | None = None
    sources: list[str] | None = None
    note: str | None = None


@attrs.define
class ConfigDoc:
    """A policy config file (and the built-in baseline, which has the same shape)."""

    baseline: str = "minimum"
    name: str | None = None
    title: str | None = None
    jurisdiction: str | list[str] | None = None
    unknown_age: str | None = None
    declarations: list[str] = attrs.Factory(list)
    # Checked table by table by `rule_specs`, so one bad rule hides no other problem.
    bands: Any = attrs.Factory(dict)


@attrs.define
class OverlayRuleDoc:
    bands: list[str]
    settings: list[str]
    sources: list[str]
    default: RawValue | None = None
    floor: RawValue | None = None
    floor_to_default: bool | None = None
    changeable_by: str | None = None
    prompt_on_loosen: bool | None = None
    when: str | None = None


@attrs.define
class OverlayDoc:
    title: str
    sources: list[str]
    member_of: list[str] = attrs.Factory(list)
    age_of_digital_consent: int | None = None
    minimum_account_age: int | None = None
    minimum_account_age_when: str | None = None
    notes: list[str] = attrs.Factory(list)
    rules: list[OverlayRuleDoc] = attrs.Factory(list)


@attrs.define
class SourceDoc:
    label: str
    title: str
    publisher: str
    kind: str
    url: str


def _describe(value: object) -> str:
    kind = {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)
    return f"{shown(value)} ({kind})" if not isinstance(value, dict | list) else kind


def _strict(kind: type, label: str) -> Callable[[object, object], object]:
    def hook(value: object, _: object) -> object:
        if type(value) is not kind:
            raise TypeError(f"expected {label}, got {_describe(value)}")
        return value

    return hook


def _raw_value(value: object, _: object) -> RawValue | None:
    if value is None:
        return None
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise TypeError(
        f"expected a setting value (a name, 'HH:MM-HH:MM' or minutes), got {_describe(value)}"
    )


def _str_or_list(value: object, _: object) -> str | list[str] | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        return _str_list(value, None)
    raise TypeError(f"expected a jurisdiction code or a list of them, got {_describe(value)}")


def _str_list(value: object, _: object) -> list[str]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list of strings, got {_describe(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise TypeError(f"expected a list of strings, but item {i} is {_describe(item)}")
    return value


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    conv.register_structure_hook_func(lambda t: t == list[str], _str_list)
    conv.register_structure_hook(
        Union[list[str], None],  # noqa: UP007 - a runtime union object is the dispatch key
        lambda v, t: None if v is None else _str_list(v, t),
    )
    conv.register_structure_hook(bool, _strict(bool, "true or false"))
    conv.register_structure_hook(int, _strict(int, "a whole number"))
    conv.register_structure_hook(str, _strict(str, "a string"))
    conv.register_structure_hook(Union[str, int, None], _raw_value)  # noqa: UP007
    conv.register_structure_hook(Union[str, list[str], None], _str_or_list)  # noqa: UP007
    return conv


_converter = _make_converter()


@attrs.define
class ProblemCollector:
    """Collects every problem found in one source before raising."""

    source: str
    problems: list[ConfigProblem] = attrs.Factory(list)

    def add(self, path: str, message: str) -> None:
        self.problems.append(ConfigProblem(self.source, path, message))

    def __len__(self) -> int:
        return len(self.problems)

    def raise_if_any(self) -> None:
        if self.problems:
            raise ConfigurationError(self.problems)


def _join(path: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{path}[{part}]"
    return f"{path}.{part}" if path else str(part)


def _key_order(key: object) -> tuple[int, str]:
    return (0, key) if isinstance(key, str) else (1, shown(key))


def _collect(exc: BaseException, path: str, problems: ProblemCollector) -> None:
    if isinstance(exc, ForbiddenExtraKeysError):
        fields = [a.name for a in attrs.fields(exc.cl)]
        # A mapping built in code may mix key types, which do not sort together, and
        # cattrs types them as strings although they may be anything.
        extras: set[object] = set(exc.extra_fields)
        for extra in sorted(extras, key=_key_order):
            problems.add(
                _join(path, extra if isinstance(extra, str) else shown(extra)),
                f"unknown key {shown(extra)}"
                f"{suggest(extra, fields) if isinstance(extra, str) else ''}; expected one of "
                f"{', '.join(map(repr, fields))}",
            )
        return
    if isinstance(exc, BaseExceptionGroup):
        for sub in exc.exceptions:
            sub_path = path
            for note in getattr(sub, "__notes__", ()):
                if isinstance(note, AttributeValidationNote):
                    sub_path = _join(sub_path, note.name)
                elif isinstance(note, IterableValidationNote):
                    sub_path = _join(sub_path, note.index)
            _collect(sub, sub_path, problems)
        return
    if isinstance(exc, KeyError):
        problems.add(path, f"required key {exc.args[0]!r} is missing")
        return
    if isinstance(exc, TypeError | ValueError | AttributeError) and str(exc).startswith("expected"):
        problems.add(path, str(exc))
        return
    problems.add(path, f"expected a table here ({exc})")


def structure(data: object, cls: type[T], problems: ProblemCollector, path: str) -> T | None:
    """``data`` as ``cls``, or ``None`` with every problem added to ``problems``.

    When some keys are wrong, the rest is structured again without them so that the
    caller can go on checking what is there: every problem is reported in one go.
    """
    if not isinstance(data, dict):
        problems.add(path, f"expected a table, got {_describe(data)}")
        return None
    before = len(problems)
    try:
        return _converter.structure(data, cls)
    except Exception as e:  # noqa: BLE001 - every failure becomes a reported problem
        _collect(e, path, problems)
    prefix = f"{path}." if path else ""
    bad = {
        p.path[len(prefix) :].split(".")[0].split("[")[0]
        for p in problems.problems[before:]
        if p.path.startswith(prefix)
    }
    fields = {a.name for a in attrs.fields(cls)}  # type: ignore[arg-type]
    kept = {k: v for k, v in data.items() if k not in bad and k in fields}
    try:
        return _converter.structure(kept, cls)
    except Exception:  # noqa: BLE001 - a required key was bad: nothing left to check
        return None


def rule_specs(raw: object, problems: ProblemCollector) -> dict[str, dict[str, RuleSpecDoc]]:
    """The ``bands`` table, structured rule by rule (every problem reported)."""
    if not isinstance(raw, dict):
        problems.add("bands", f"expected a table of age bands, got {_describe(raw)}")
        return {}
    out: dict[str, dict[str, RuleSpecDoc]] = {}
    for band, table in raw.items():
        if not isinstance(band, str):  # only a mapping built in code can have one
            problems.add("bands", f"an age band is named by a string, got {_describe(band)}")
            continue
        if not isinstance(table, dict):
            problems.add(
                f"bands.{band}",
                f"expected a table of settings such as [bands.{band}.direct_messages], "
                f"got {_describe(table)}",
            )
            continue
        out[band] = {}
        for name, spec in table.items():
            if not isinstance(name, str):
                problems.add(
                    f"bands.{band}", f"a setting is named by a string, got {_describe(name)}"
                )
                continue
            doc = structure(spec, RuleSpecDoc, problems, f"bands.{band}.{name}")
            if doc is not None:
                out[band][name] = doc
    return out
