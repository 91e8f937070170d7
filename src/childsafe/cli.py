"""The ``childsafe`` command.

``childsafe explain``
    The effective rules for one account (by age, band or birth date) in a jurisdiction,
    why each rule is what it is, and what a stranger can and cannot do to that account.
``childsafe check``
    Validate config files; every problem is listed, with its file and key.
``childsafe matrix``
    Age bands by settings: the effective defaults, floors and who may loosen them.
``childsafe diff``
    What a new config loosens and tightens compared with an old one; exits 1 when
    anything loosens, so it can gate a release in CI.
``childsafe demo``
    Sample accounts of every age band and the decisions childsafe makes for them.

Exit status: 0 success; 1 ``check`` found problems or ``diff`` found loosening; 2 a
usage error, a bad age or jurisdiction, or an invalid config (for every command but
``check``). Run ``childsafe COMMAND --help`` for the options.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib.metadata import version
from typing import Any, Final
from zoneinfo import ZoneInfo

import attrs

from childsafe._audit_cli import add_audit_commands
from childsafe._bands import AgeBand, age_on
from childsafe._decision import Decision, Reason
from childsafe._diff import PolicyDiff, RuleChange, diff_policies
from childsafe._engine import Guard
from childsafe._media_cli import add_media_commands
from childsafe._model import Account, Relationship
from childsafe._policy import POLICY_BANDS, Citation, Policy, Rule, normalise_jurisdiction
from childsafe._render import WIDTH, markdown_table, pairs, table
from childsafe._report_cli import add_report_command
from childsafe._settings import SETTINGS, SettingValue, TimeWindow
from childsafe._signals_cli import add_signals_commands
from childsafe.exceptions import ChildsafeError, ConfigurationError

__all__ = ["main"]

PROG: Final = "childsafe"
EXPLAIN_SCHEMA: Final = "childsafe.explain/1"
MATRIX_SCHEMA: Final = "childsafe.matrix/1"
DIFF_SCHEMA: Final = "childsafe.diff/1"

# What a stranger might do to an account, in the order `explain` shows them.
_STRANGER_ACTIONS: Final = (
    ("dm.send", "send them a direct message"),
    ("friend.suggest", "see them in friend suggestions"),
    ("friend.request", "send them a friend request"),
    ("profile.view", "see their profile and posts"),
    ("location.view", "see their location"),
)
# What the account itself may start with an adult it is not connected to (who allows it).
_STARTED_ACTIONS: Final = (
    ("friend.request", "send them a friend request"),
    ("follow", "follow them"),
    ("dm.send", "send them a direct message"),
    ("group.invite", "invite them to a group chat"),
)


class _UsageError(Exception):
    """A bad command-line value: reported on stderr with exit status 2."""


# ----------------------------------------------------------------------- helpers


def _emit(lines: Iterable[str]) -> None:
    print("\n".join(lines))
    sys.stdout.flush()  # a closed pipe fails here, inside main's handler


def _emit_json(data: Mapping[str, Any]) -> None:
    _emit([json.dumps(data, indent=2, ensure_ascii=False)])


def _config_value(value: SettingValue) -> str | int:
    """A setting value as it is written in a config file."""
    if value is None:
        return "none"
    if isinstance(value, TimeWindow):
        return str(value)
    return value


def _show(name: str, value: SettingValue) -> str:
    return SETTINGS[name].format(value)


def _layer(origin: str) -> str:
    """`baseline:minimum` -> `baseline`, `overlay:GB` -> `GB`, `config:file` -> `config`."""
    kind, _, detail = origin.partition(":")
    return detail if kind == "overlay" else kind


def _labels(citations: Iterable[Citation]) -> str:
    return "; ".join(dict.fromkeys(c.label for c in citations))


def _load(spec: str | None) -> Policy:
    """The policy in config file ``spec``; the built-in baseline for ``None``/``baseline``."""
    if spec is None or spec == "baseline":
        return Policy.baseline()
    return Policy.from_file(spec)


def _describe_policy(policy: Policy) -> str:
    if policy.source.startswith("baseline:"):
        return f"the built-in {policy.name!r} baseline"
    return f"the {policy.name!r} baseline with the config {policy.source}"


def _policy_json(policy: Policy) -> dict[str, Any]:
    return {
        "name": policy.name,
        "source": policy.source,
        "jurisdictions": list(policy.jurisdictions),
    }


def _overlays_text(overlays: Sequence[str]) -> str:
    return ", ".join(overlays) if overlays else "none"


def _jurisdiction(policy: Policy, raw: str | None) -> str | None:
    """``raw`` normalised, if it is well formed and has an overlay in ``policy``."""
    if raw is None:
        return None
    try:
        key = normalise_jurisdiction(raw)
    except ValueError as e:
        raise _UsageError(str(e)) from None
    if key[:2] in policy.overlays or key in policy.overlays:
        return key
    hint = "did you mean 'GB'? " if key == "UK" else ""
    raise _UsageError(
        f"no overlay is known for jurisdiction {key!r}; {hint}omit --jurisdiction to see the "
        "platform-wide rules, which apply wherever there is no overlay "
        f"(known: {', '.join(sorted(policy.overlays))})"
    )


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).astimezone().date()


def _rule_dict(policy: Policy, rule: Rule) -> dict[str, Any]:
    return {
        "default": _config_value(rule.default),
        "floor": _config_value(rule.floor),
        "changeable_by": rule.changeable_by.value,
        "prompt_on_loosen": rule.prompt_on_loosen,
        "layers": list(rule.origin),
        "citations": [
            {"id": c.id, "label": c.label, "url": c.url} for c in policy.cite(rule.sources)
        ],
    }


# ----------------------------------------------------------------------- explain


@attrs.frozen
class _Subject:
    """The account `explain` is about."""

    band: AgeBand
    age: int | None
    title: str
    how: str
    birth_date: dt.date | None = None
    on: dt.date | None = None


def _subject(args: argparse.Namespace) -> _Subject:
    if args.on is not None and args.birth_date is None:
        raise _UsageError("--on only applies with --birth-date")
    if args.age is not None:
        band = AgeBand.from_age(args.age)
        return _Subject(band, args.age, f"a {args.age}-year-old", f"age {args.age}")
    if args.birth_date is not None:
        on = args.on if args.on is not None else _today()
        age = age_on(args.birth_date, on=on)
        return _Subject(
            AgeBand.from_age(age),
            age,
            f"a {age}-year-old",
            f"born {args.birth_date.isoformat()}, age {age} on {on.isoformat()}",
            args.birth_date,
            on,
        )
    if args.band is not None:
        band = AgeBand.parse(args.band)
        if band is not AgeBand.UNKNOWN:
            return _Subject(band, None, f"an account in band {band.value}", f"band {band.value}")
    return _Subject(AgeBand.UNKNOWN, None, "an account of unknown age", "age unknown")


def _resolved(policy: Policy, band: AgeBand) -> AgeBand:
    return policy.unknown_age if band is AgeBand.UNKNOWN else band


def _band_text(policy: Policy, band: AgeBand) -> str:
    if band is AgeBand.UNKNOWN:
        return (
            f"unknown, which this policy resolves to {policy.unknown_age.value} "
            "(an unknown age is treated as a child: fail closed)"
        )
    return band.value


def _stranger_decisions(guard: Guard, account: Account) -> list[tuple[str, Decision]]:
    stranger = Account(id="stranger", band=AgeBand.ADULT, jurisdiction=account.jurisdiction)
    return [
        (label, guard.check(action, actor=stranger, target=account))
        for action, label in _STRANGER_ACTIONS
    ]


def _started_decisions(guard: Guard, account: Account) -> list[tuple[str, Decision]]:
    adult = Account(
        id="adult",
        band=AgeBand.ADULT,
        jurisdiction=account.jurisdiction,
        settings={"discoverable": "everyone", "direct_messages": "everyone"},
    )
    return [
        (label, guard.check(action, actor=account, target=adult))
        for action, label in _STARTED_ACTIONS
    ]


def _result(d: Decision) -> str:
    if d.allowed:
        return "allowed"
    return "CONFIRM" if d.needs_confirmation else "DENIED"


def _age_facts(subject: _Subject, consent: int | None, minimum: int | None) -> list[str]:
    facts: list[str] = []
    if subject.age is not None and minimum is not None and subject.age < minimum:
        facts.append(
            f"at {subject.age} this person may not hold an account here (minimum {minimum})"
        )
    if subject.age is not None and consent is not None and subject.age < consent:
        facts.append(
            f"at {subject.age} consent-based processing needs a parent's consent "
            f"(age of digital consent {consent})"
        )
    return facts


def _cmd_explain(args: argparse.Namespace) -> int:
    policy = _load(args.config)
    key = _jurisdiction(policy, args.jurisdiction)
    subject = _subject(args)
    guard = Guard(policy)
    account = Account(id="explained", band=subject.band, jurisdiction=key)
    rules = guard.rules_for(account)
    info = policy.jurisdiction_info(key)
    decisions = _stranger_decisions(guard, account)
    started = _started_decisions(guard, account)
    band = _resolved(policy, subject.band)
    notes = {name: policy.notes[(band, name)] for name in SETTINGS if (band, name) in policy.notes}
    facts = _age_facts(subject, info.age_of_digital_consent, info.minimum_account_age)
    if args.format == "json":
        _emit_json(
            {
                "schema": EXPLAIN_SCHEMA,
                "policy": _policy_json(policy),
                "account": {
                    "age": subject.age,
                    "birth_date": subject.birth_date.isoformat() if subject.birth_date else None,
                    "on": subject.on.isoformat() if subject.on else None,
                    "band": subject.band.value,
                    "resolved_band": band.value,
                },
                "jurisdiction": {
                    "key": info.key,
                    "overlays": list(info.overlays),
                    "age_of_digital_consent": info.age_of_digital_consent,
                    "minimum_account_age": info.minimum_account_age,
                    "notes": list(info.notes),
                    "age_facts": facts,
                },
                "rules": {
                    name: {**_rule_dict(policy, rules[name]), "note": notes.get(name)}
                    for name in SETTINGS
                },
                "decisions": [
                    {"scenario": f"a stranger (an adult, not connected) tries to {label}"}
                    | decision.to_dict()
                    for label, decision in decisions
                ],
                "started": [
                    {
                        "scenario": f"this account tries to {label}, an adult it is not "
                        "connected to who allows it"
                    }
                    | decision.to_dict()
                    for label, decision in started
                ],
            }
        )
        return 0
    where = f" in {key}" if key else ""
    lines = [f"childsafe explain: {subject.title}{where}", ""]
    lines += pairs(
        [
            ("policy", _describe_policy(policy)),
            ("account", f"{subject.how}; band {_band_text(policy, subject.band)}"),
            ("jurisdiction", key or "none given: the platform-wide rules"),
            ("overlays applied", _overlays_text(info.overlays)),
            ("age of digital consent", str(info.age_of_digital_consent or "not recorded")),
            ("minimum account age", str(info.minimum_account_age or "none")),
            *(("note", fact) for fact in facts),
        ]
    )
    if info.notes:
        lines += ["", f"About {key}"]
        for note in info.notes:
            body = textwrap.wrap(note, WIDTH - 4)
            lines += [f"  - {body[0]}", *(f"    {more}" for more in body[1:])]
    lines += ["", f"Rules for {band.value}{where}"]
    lines += _rules_table(rules)
    lines += [
        "",
        *(f"  {line}" for line in textwrap.wrap(_RULES_KEY, 90)),
        "",
        "Sources",
    ]
    lines += table(
        ["setting", "standards and practice behind the rule"],
        [[name, _labels(policy.cite(rules[name].sources)) or "-"] for name in SETTINGS],
        wrap_column=1,
    )
    if notes:
        lines += ["", "Notes from the config"]
        lines += table(["setting", "note"], [[n, t] for n, t in notes.items()], wrap_column=1)
    lines += ["", "What a stranger can do (an adult with no connection to this account)"]
    lines += _decision_lines(decisions)
    lines += [
        "",
        "What this account can start (with an adult it is not connected to, who allows it)",
    ]
    lines += _decision_lines(started, who="it tries to")
    _emit(lines)
    return 0


_RULES_KEY: Final = (
    "default: what a new account gets; floor: the least protective value anyone may choose;"
    " changeable_by: who may loosen it (anyone may tighten); prompt: the child sees a safety"
    " explanation and confirms before loosening; layers: the baseline, then the jurisdiction"
    " overlays and your config that shaped the rule."
)


def _rules_table(rules: Mapping[str, Rule]) -> list[str]:
    rows = [
        [
            name,
            _show(name, rule.default),
            _show(name, rule.floor),
            rule.changeable_by.value,
            "yes" if rule.prompt_on_loosen else "no",
            " + ".join(_layer(o) for o in rule.origin),
        ]
        for name, rule in rules.items()
    ]
    return table(["setting", "default", "floor", "changeable_by", "prompt", "layers"], rows)


def _decision_lines(
    decisions: Sequence[tuple[str, Decision]], who: str = "they try to"
) -> list[str]:
    heads = table(
        [who, "action", "result", "reason"],
        [[label, d.action, _result(d), d.reason.value] for label, d in decisions],
    )
    out = heads[:2]
    for head, (_, d) in zip(heads[2:], decisions, strict=True):
        details = [("why", d.message)]
        if d.remedy:
            details.append(("remedy", d.remedy))
        if d.citations:
            details.append(("sources", _labels(d.citations)))
        out += [head, *pairs(details, indent=6, sep="; "), ""]
    return out[:-1]


# ------------------------------------------------------------------------- check


def _cmd_check(args: argparse.Namespace) -> int:
    failed = 0
    problems = 0
    for path in args.files:
        try:
            policy = Policy.from_file(path)
        except ConfigurationError as e:
            failed += 1
            problems += len(e.problems)
            for problem in e.problems:
                print(problem, file=sys.stderr)
            continue
        changed = sum(
            1
            for by_setting in policy.rules.values()
            for rule in by_setting.values()
            if any(o.startswith("config:") for o in rule.origin)
        )
        where = ", ".join(policy.jurisdictions) or "none"
        print(
            f"{path}: OK (baseline {policy.name!r}; jurisdiction {where}; "
            f"{changed} rule{'s' if changed != 1 else ''} set by this config)"
        )
    if failed:
        print(
            f"childsafe check: {problems} problem{'s' if problems != 1 else ''} in "
            f"{failed} of {len(args.files)} file{'s' if len(args.files) != 1 else ''}",
            file=sys.stderr,
        )
        return 1
    return 0


# ------------------------------------------------------------------------ matrix


def _cell(name: str, rule: Rule) -> tuple[str, str]:
    """``("connections", "≥public parent*")``: the default, then floor, who and prompt."""
    floor = f"≥{_show(name, rule.floor)} " if rule.floor != rule.default else ""
    prompt = "*" if rule.prompt_on_loosen else ""
    return _show(name, rule.default), f"{floor}{rule.changeable_by.value}{prompt}"


_MATRIX_KEY: Final = (
    ("≥x", "the floor: the least protective value anyone may choose (shown if not the default)"),
    ("who", "who may loosen it: nobody, parent, or self (the account holder); anyone may tighten"),
    ("*", "the child sees a safety explanation and confirms before loosening"),
)


_ADDING_WORDS: Final = {
    "allowed": "allowed",
    "needs_confirmation": "safety prompt",
    "denied": "denied",
}


def _adding_adults(policy: Policy, key: str | None) -> dict[str, Decision]:
    """Per band: the decision when the account sends a friend request to an adult it is
    not connected to, who allows requests from anyone."""
    guard = Guard(policy)
    adult = Account(
        id="adult", band=AgeBand.ADULT, jurisdiction=key, settings={"discoverable": "everyone"}
    )
    return {
        band.value: guard.check(
            "friend.request", actor=Account(id="account", band=band, jurisdiction=key), target=adult
        )
        for band in POLICY_BANDS
    }


def _adding_word(d: Decision) -> str:
    if d.reason is Reason.PARENT_APPROVAL_TO_CONTACT:
        return "parent approves"
    return _ADDING_WORDS[d.outcome]


def _matrix_json(policy: Policy, key: str | None) -> dict[str, Any]:
    rules = policy.rules_for(key)
    return {
        "schema": MATRIX_SCHEMA,
        "policy": _policy_json(policy),
        "jurisdiction": key,
        "unknown_age": policy.unknown_age.value,
        "bands": [b.value for b in POLICY_BANDS],
        "settings": {
            name: {
                band.value: {
                    "default": _config_value(rules[band][name].default),
                    "floor": _config_value(rules[band][name].floor),
                    "changeable_by": rules[band][name].changeable_by.value,
                    "prompt_on_loosen": rules[band][name].prompt_on_loosen,
                }
                for band in POLICY_BANDS
            }
            for name in SETTINGS
        },
        "adding_an_adult": {
            band: {"outcome": d.outcome, "reason": d.reason.value}
            for band, d in _adding_adults(policy, key).items()
        },
    }


def _cmd_matrix(args: argparse.Namespace) -> int:
    policy = _load(args.config)
    key = _jurisdiction(policy, args.jurisdiction)
    if args.format == "json":
        _emit_json(_matrix_json(policy, key))
        return 0
    rules = policy.rules_for(key)
    headers = ["setting", *(b.value for b in POLICY_BANDS)]
    cells = {name: [_cell(name, rules[b][name]) for b in POLICY_BANDS] for name in SETTINGS}
    where = f"accounts in {key}" if key else "platform-wide"
    title = f"Effective defaults by age band ({where}; {_describe_policy(policy)})"
    unknown = f"Accounts of unknown age get the {policy.unknown_age.value} rules (fail closed)."
    adding = [_adding_word(d) for d in _adding_adults(policy, key).values()]
    if args.format == "markdown":
        rows = [[name, *(f"{d} {rest}" for d, rest in row)] for name, row in cells.items()]
        rows.append(["adding an adult (not a connection)", *adding])
        key_lines = [f"- `{k}`: {text}" for k, text in _MATRIX_KEY]
        legend = ["Each cell reads `default ≥floor who*`:", "", *key_lines, "", unknown]
        _emit([f"**{title}**", "", *markdown_table(headers, rows), "", *legend])
        return 0
    # Two lines per setting keep the table within 120 columns: the defaults on the first,
    # floor, who may loosen and the prompt on the second.
    lines: list[list[str]] = []
    for name, row in cells.items():
        lines += [[name, *(d for d, _ in row)], ["", *(f"  {rest}" for _, rest in row)]]
    lines += [["adding an adult", *adding], ["  (not a connection)", *("" for _ in adding)]]
    _emit(
        [
            title,
            "",
            *table(headers, lines),
            "",
            "  Each setting: the default a new account gets, and under it:",
            *pairs(_MATRIX_KEY, indent=4),
            f"  {unknown}",
        ]
    )
    return 0


# -------------------------------------------------------------------------- diff


def _change_row(change: RuleChange) -> list[str]:
    mark = "" if change.comparable else "*"
    return [
        change.band.value,
        change.setting,
        change.field,
        change.format_value(change.old),
        change.format_value(change.new),
        f"{change.direction}{mark}",
    ]


def _diff_lines(diff: PolicyDiff, old: str, new: str) -> list[str]:
    where = f"for accounts in {diff.jurisdiction}" if diff.jurisdiction else "platform-wide"
    lines = [
        "childsafe diff: what NEW changes in the effective rules of OLD",
        "",
        *pairs([("OLD", old), ("NEW", new), ("rules", where)]),
    ]
    if diff.unknown_age is not None:
        was, now = diff.unknown_age
        lines += [
            "",
            (
                f"Accounts of unknown age now get the {now.value} rules (were {was.value});"
                " band 'unknown' below compares them."
            ),
        ]
    if not diff.changes:
        return [*lines, "", "No changes to the effective rules."]
    headers = ["band", "setting", "field", "old", "new", "change"]
    for title, changes in (("Loosens", diff.loosened), ("Tightens", diff.tightened)):
        if changes:
            lines += [
                "",
                f"{title} ({len(changes)})",
                *table(headers, [_change_row(c) for c in changes]),
            ]
    if any(not c.comparable for c in diff.changes):
        lines += [
            "",
            (
                "  * neither quiet-hours window contains the other, so some hours lose protection:"
                " counted as loosening."
            ),
        ]
    n = len(diff.loosened)
    if n:
        verdict = (
            f"{n} change{'s' if n != 1 else ''} loosen{'' if n != 1 else 's'} protection for"
            " children. Have each one reviewed by your safeguarding lead; if it is intended,"
            " record why with `note` in the config. Exit status 1."
        )
        lines += ["", *textwrap.wrap(verdict, WIDTH)]
    else:
        lines += ["", "Nothing loosens protection for children."]
    return lines


def _cmd_diff(args: argparse.Namespace) -> int:
    old = _load(args.old)
    new = _load(args.new)
    key = _jurisdiction(new, args.jurisdiction)
    diff = diff_policies(old, new, jurisdiction=key)
    if args.format == "json":
        _emit_json({"schema": DIFF_SCHEMA, **diff.to_dict()})
    else:
        _emit(_diff_lines(diff, args.old, args.new))
    return 1 if diff.loosened else 0


# -------------------------------------------------------------------------- demo


@attrs.frozen
class _Scenario:
    title: str
    role: str  # whose setting is "theirs": the sample account is the actor or the target
    decide: Callable[[Guard, Account], Decision]


_LONDON: Final = "Europe/London"
_NINE_PM: Final = dt.datetime(2025, 1, 15, 21, 0, tzinfo=ZoneInfo(_LONDON))
_STRANGER: Final = Account(id="stranger", band=AgeBand.ADULT, jurisdiction="GB")
_RELATIVE: Final = Account(id="aunt", band=AgeBand.ADULT, jurisdiction="GB")

_SCENARIOS: Final = (
    _Scenario(
        "A stranger (an adult, not connected) sends them a direct message",
        "target",
        lambda g, a: g.check("dm.send", actor=_STRANGER, target=a),
    ),
    _Scenario(
        "They are suggested to a stranger as a friend",
        "target",
        lambda g, a: g.check("friend.suggest", actor=_STRANGER, target=a),
    ),
    _Scenario(
        "A stranger looks at their location",
        "target",
        lambda g, a: g.check("location.view", actor=_STRANGER, target=a),
    ),
    _Scenario(
        "A relative they are connected with sends them a direct message",
        "target",
        lambda g, a: g.check(
            "dm.send", actor=_RELATIVE, target=a, relationship=Relationship(connected=True)
        ),
    ),
    _Scenario(
        "The app wants to send them a notification at 9pm, their time",
        "target",
        lambda g, a: g.check("notify", target=a, at=_NINE_PM),
    ),
    _Scenario(
        "They try to buy something in the app",
        "actor",
        lambda g, a: g.check("purchase", actor=a),
    ),
)


def _sample_accounts(policy: Policy) -> list[tuple[str, Account, str]]:
    unknown = f"unknown: treated as {policy.unknown_age.value} (fail closed)"
    samples = [
        ("age 12", 12, "under_13"),
        ("age 15", 15, "13_15"),
        ("age 17", 17, "16_17"),
        ("adult", 35, "adult"),
    ]
    out = [
        (
            label,
            Account(id=label, band=AgeBand.from_age(age), jurisdiction="GB", timezone=_LONDON),
            band,
        )
        for label, age, band in samples
    ]
    out.append(("age unknown", Account(id="unknown", jurisdiction="GB", timezone=_LONDON), unknown))
    return out


def _because(d: Decision, role: str) -> str:
    if d.setting is None:  # pragma: no cover - every demo decision names its setting
        return d.message
    whose = "their" if d.subject == role else "the other account's"
    return f"{whose} {d.setting} is {d.value!r}"


def _cmd_demo(_: argparse.Namespace) -> int:
    policy = Policy.baseline()
    guard = Guard(policy)
    samples = _sample_accounts(policy)
    lines = [
        "childsafe demo",
        "==============",
        "",
        *textwrap.wrap(
            "childsafe gives child accounts protective settings by default, floors that no"
            " config or user can go below, and a reason for every decision. Here are five"
            f" sample accounts in GB under {_describe_policy(policy)} and the GB overlay"
            " (Ofcom codes, ICO Children's code).",
            88,
        ),
        "",
        "Sample accounts",
        *table(["account", "age band"], [[label, band] for label, _, band in samples]),
        "",
        "Their settings as new accounts",
    ]
    settings = [guard.settings_for(account).formatted() for _, account, _ in samples]
    lines += table(
        ["setting", *(label for label, _, _ in samples)],
        [[name, *(s[name] for s in settings)] for name in SETTINGS],
    )
    lines += ["", "Decisions, each with its reason"]
    for scenario in _SCENARIOS:
        decisions = [scenario.decide(guard, account) for _, account, _ in samples]
        lines += ["", f"  {scenario.title} ({decisions[0].action})"]
        lines += table(
            ["account", "result", "reason", "because"],
            [
                [
                    label,
                    "allowed" if d.allowed else "DENIED",
                    d.reason.value,
                    _because(d, scenario.role),
                ]
                for (label, _, _), d in zip(samples, decisions, strict=True)
            ],
            indent=4,
        )
        cited = _labels(c for d in decisions if not d.allowed for c in d.citations)
        if cited:
            lines += pairs([("standards", cited)], indent=4, sep="; ")
    lines += [
        "",
        "Next",
        "  childsafe explain --age 14 --jurisdiction GB   every rule for a 14-year-old, and why",
        "  childsafe matrix --jurisdiction GB             defaults, floors and who may change them",
        "  childsafe check my-policy.toml                 validate your own config",
    ]
    _emit(lines)
    return 0


def _cmd_routes(args: argparse.Namespace) -> int:
    from childsafe._routes_cli import find_routes, render_routes  # noqa: PLC0415 - frameworks

    routes = find_routes(args.app, django_settings=args.django)
    _emit(render_routes(routes, args.format))
    return 1 if any(not r.protected or r.problems for r in routes) else 0


# ------------------------------------------------------------------------ parser


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Protective defaults, safeguarding floors and explainable decisions "
        "for child accounts.",
        epilog="Exit status: 0 success; 1 problems found (check), protection loosened "
        "(diff) or an unprotected route or broken declaration (routes); 2 usage or "
        "configuration error.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {version('childsafe')}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    jurisdiction = argparse.ArgumentParser(add_help=False)
    jurisdiction.add_argument(
        "--jurisdiction",
        "-j",
        metavar="CODE",
        help="ISO 3166-1 country ('GB') or 3166-2 subdivision ('US-NY') whose overlays apply",
    )
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument(
        "--config", "-c", metavar="FILE", help="a .toml or .json policy config (default: baseline)"
    )

    explain = commands.add_parser(
        "explain",
        parents=[jurisdiction, config],
        help="the effective rules for one account, and why",
        description="The effective rules for an account of the given age, with their sources, "
        "and what a stranger can do to it. Without --age, --band or --birth-date the age is "
        "unknown, which the policy resolves to a protective band.",
    )
    who = explain.add_mutually_exclusive_group()
    who.add_argument("--age", type=int, metavar="N", help="age in whole years")
    who.add_argument(
        "--band", metavar="BAND", help="age band: under_13, 13_15, 16_17, adult or unknown"
    )
    who.add_argument("--birth-date", type=_date, metavar="YYYY-MM-DD", help="date of birth")
    explain.add_argument(
        "--on", type=_date, metavar="YYYY-MM-DD", help="the day to take the age on (default: today)"
    )
    explain.add_argument("--format", "-f", choices=("table", "json"), default="table")
    explain.set_defaults(run=_cmd_explain)

    check = commands.add_parser(
        "check",
        help="validate config files",
        description="Load each config file over its baseline and report every problem.",
    )
    check.add_argument("files", nargs="+", metavar="FILE")
    check.set_defaults(run=_cmd_check)

    matrix = commands.add_parser(
        "matrix",
        parents=[jurisdiction, config],
        help="age bands by settings: defaults, floors and who may loosen them",
    )
    matrix.add_argument("--format", "-f", choices=("table", "json", "markdown"), default="table")
    matrix.set_defaults(run=_cmd_matrix)

    diff = commands.add_parser(
        "diff",
        parents=[jurisdiction],
        help="what a new config loosens and tightens (exit 1 if anything loosens)",
        description="Compare the effective rules of two configs. OLD and NEW are config "
        "files, or the word 'baseline' for the built-in baseline.",
    )
    diff.add_argument("old", metavar="OLD")
    diff.add_argument("new", metavar="NEW")
    diff.add_argument("--format", "-f", choices=("table", "json"), default="table")
    diff.set_defaults(run=_cmd_diff)

    routes = commands.add_parser(
        "routes",
        help="every route of a web app and what protects it (exit 1 if any is unprotected)",
        description="List every route of a Flask, Starlette or FastAPI app (MODULE:APP, or "
        "MODULE:FACTORY() to call an app factory) or of a Django project (--django "
        "SETTINGS_MODULE) with the action it declares or why it is exempt. Exit 1 while "
        "any route is unprotected: a CI gate for strict mode.",
    )
    routes.add_argument("app", nargs="?", metavar="MODULE:APP")
    routes.add_argument("--django", metavar="SETTINGS_MODULE", help="a Django project's settings")
    routes.add_argument("--format", "-f", choices=("table", "json"), default="table")
    routes.set_defaults(run=_cmd_routes)

    add_report_command(commands)
    demo = commands.add_parser("demo", help="sample accounts and the decisions made for them")
    demo.set_defaults(run=_cmd_demo)
    add_audit_commands(commands)
    add_signals_commands(commands)
    add_media_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``childsafe`` command with ``argv`` (default: ``sys.argv[1:]``).

    Returns the exit status instead of exiting, so it can be called from Python.
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version and usage errors exit from argparse
        return e.code if isinstance(e.code, int) else 2
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except BrokenPipeError:
        # The reader went away (`childsafe matrix | head`): stop quietly, and send what
        # Python still flushes at exit to /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except ConfigurationError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
    except (_UsageError, ChildsafeError) as e:
        print(f"{PROG} {args.command}: error: {e}", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover - run as `python -m childsafe.cli`
    sys.exit(main())
