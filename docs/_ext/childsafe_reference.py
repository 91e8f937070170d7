"""Generate the policy reference tables from childsafe's package data.

The tables (the settings catalogue, the baseline's defaults, floors and who may change
them, the actions, the reasons, the sources and the jurisdiction overlays) are rendered
as Markdown from :func:`childsafe.load_policy` and the message catalogue into
``docs/reference/_generated/``, and committed, so a developer reads them in the
repository too. Regenerate them after changing the policy data, the actions or the
reasons::

    python3 dev.py reference            # rewrite the tables
    python3 dev.py reference --check    # exit 1 naming each table that is out of date

``tests/test_docs_reference.py`` fails, and the docs build warns (an error under
``-W``), while any committed table differs from what the data gives.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from sphinx.util import logging

import childsafe
import childsafe.exceptions
from childsafe import (
    SETTINGS,
    AgeBand,
    Citation,
    Messages,
    Policy,
    Reason,
    Rule,
    _actions,
    load_policy,
)
from childsafe._policy import POLICY_BANDS, Overlay

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from sphinx.application import Sphinx
    from sphinx.environment import BuildEnvironment
    from sphinx.util.typing import ExtensionMetadata

    from childsafe._policy import _OverlayRule

__all__ = [
    "generate",
    "main",
    "pages",
    "render_actions",
    "render_baseline",
    "render_catalogue",
    "render_jurisdictions",
    "render_reasons",
    "render_sources",
    "setup",
    "stale",
    "undocumented_exports",
]

GENERATED: Final = Path("reference") / "_generated"
TABLES: Final = Path(__file__).resolve().parent.parent / GENERATED
"""Where the committed tables are."""
HEADER: Final = (
    "<!-- Generated from the package data by docs/_ext/childsafe_reference.py: "
    "run `python3 dev.py reference`, do not edit. -->\n\n"
)

logger = logging.getLogger(__name__)

_BAND_TITLES: Final = {
    AgeBand.UNDER_13: "Under 13 (`under_13`)",
    AgeBand.AGE_13_15: "13 to 15 (`13_15`)",
    AgeBand.AGE_16_17: "16 and 17 (`16_17`)",
    AgeBand.ADULT: "Adults (`adult`)",
}


# ---------------------------------------------------------------------- Markdown


def _cell(text: str) -> str:
    """Text safe inside a pipe-table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _text(text: str) -> str:
    """Free text from the data files, with raw HTML neutralised."""
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str) -> str:
    return f"`{text}`"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in rows)
    return [*lines, ""]


def _host(url: str) -> str:
    """``https://www.ofcom.org.uk/x`` -> ``ofcom.org.uk``: a short link text."""
    host = urlsplit(url).hostname or url
    return host.removeprefix("www.")


def _link(citation: Citation) -> str:
    return f"[{_cell(citation.label)}]({citation.url})"


def _links(policy: Policy, ids: Iterable[str]) -> str:
    return ", ".join(_link(c) for c in policy.cite(ids))


def _words(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


# ---------------------------------------------------------------------- baseline


def _rule_row(policy: Policy, name: str, rule: Rule) -> list[str]:
    setting = SETTINGS[name]
    return [
        _code(name),
        _code(setting.format(rule.default)),
        _code(setting.format(rule.floor)),
        rule.changeable_by.value,
        "yes" if rule.prompt_on_loosen else "no",
        _links(policy, rule.sources),
    ]


def render_catalogue() -> str:
    """The settings catalogue: every setting's values, most protective first."""
    lines = [
        "| setting | values, most → least protective | what it controls |",
        "|---|---|---|",
    ]
    for setting in SETTINGS.values():
        values = getattr(setting.domain, "values", None)
        shown = ", ".join(_code(v) for v in values) if values else setting.describe()
        lines.append(f"| {_code(setting.name)} | {_cell(shown)} | {_cell(setting.summary)} |")
    return "\n".join([*lines, ""])


def render_baseline(policy: Policy) -> str:
    """One table per age band: default, floor, who may loosen, prompt and sources."""
    lines = [
        (
            f"Unknown or unverifiable ages resolve to {_code(policy.unknown_age.value)} "
            "(fail closed); a config may choose another minor band with `unknown_age`, "
            "never `adult`."
        ),
        "",
    ]
    for band in POLICY_BANDS:
        lines += [f"### {_BAND_TITLES[band]}", ""]
        lines += _table(
            ("setting", "default", "floor", "changeable by", "prompt", "sources"),
            (_rule_row(policy, name, rule) for name, rule in policy.rules[band].items()),
        )
    return "\n".join(lines)


def render_sources(policy: Policy) -> str:
    """Every citation the built-in data uses."""
    return "\n".join(
        _table(
            ("label", "title", "publisher", "kind", "link"),
            (
                [c.label, c.title, c.publisher, c.kind, f"[{_host(c.url)}]({c.url})"]
                for c in policy.citations.values()
            ),
        )
    )


# ------------------------------------------------------------------ jurisdictions


def _value_phrase(rule: _OverlayRule, name: str) -> list[str]:
    setting = SETTINGS[name]
    parts = []
    if name in rule.default:
        parts.append(f"default no looser than {_code(setting.format(rule.default[name]))}")
    if name in rule.floor:
        parts.append(f"floor no looser than {_code(setting.format(rule.floor[name]))}")
    return parts


def _overlay_rule_words(policy: Policy, rule: _OverlayRule) -> str:
    bands = _words([_code(b.value) for b in rule.bands])
    settings = _words([_code(s) for s in rule.settings])
    effects: list[str] = []
    per_setting = {s: _value_phrase(rule, s) for s in rule.settings}
    phrases = {tuple(p) for p in per_setting.values()}
    if len(phrases) == 1:
        effects.extend(next(iter(phrases)))
    else:
        effects.extend(f"{_code(s)}: {', '.join(p)}" for s, p in per_setting.items() if p)
    if rule.floor_to_default:
        effects.append("the floor becomes the baseline default (nobody may go below it)")
    if rule.changeable_by is not None:
        effects.append(f"changeable by {_code(rule.changeable_by.value)} at most")
    if rule.prompt_on_loosen:
        effects.append("loosening shows the safety prompt first")
    when = f"When the platform declares {_code(rule.when)}: " if rule.when else ""
    head = f"{when}for {bands}, {settings}"
    head = head[0].upper() + head[1:]
    sources = _links(policy, rule.sources)
    return f"{head}: {'; '.join(effects) or 'no change'}. Sources: {sources}."


def _age(value: int | None, when: str | None = None) -> str:
    if value is None:
        return "not set"
    return f"{value} (when the platform declares {_code(when)})" if when else str(value)


def _overlay_section(policy: Policy, overlay: Overlay) -> list[str]:
    lines = [f"({_anchor(overlay.key)})=", f"### {overlay.key}: {_text(overlay.title)}", ""]
    facts = [
        f"- **Member of:** {', '.join(_code(m) for m in overlay.member_of)} (applied first)"
        if overlay.member_of
        else "",
        f"- **Age of digital consent:** {_age(overlay.age_of_digital_consent)}",
        "- **Minimum account age:** "
        + _age(overlay.minimum_account_age, overlay.minimum_account_age_when),
        f"- **Sources:** {_links(policy, overlay.sources) or 'none'}",
    ]
    lines += [f for f in facts if f]
    lines.append("")
    if overlay.rules:
        lines += ["**Rules** (each only tightens):", ""]
        lines += [f"- {_overlay_rule_words(policy, r)}" for r in overlay.rules]
        lines.append("")
    if overlay.notes:
        lines += ["**Notes:**", ""]
        lines += [f"- {_text(n)}" for n in overlay.notes]
        lines.append("")
    return lines


def _anchor(key: str) -> str:
    return f"jurisdiction-{key.lower()}"


def render_jurisdictions(policy: Policy) -> str:
    """A summary table, then one section per overlay key."""
    overlays: Mapping[str, Overlay] = policy.overlays
    declarations = sorted(policy.known_declarations())
    lines = [
        "Declarations that switch on conditional rules: "
        + (", ".join(_code(d) for d in declarations) or "none")
        + ".",
        "",
        "## Summary",
        "",
    ]
    lines += _table(
        ("key", "title", "member of", "age of digital consent", "minimum account age", "rules"),
        (
            [
                f"{{ref}}`{key} <{_anchor(key)}>`",
                o.title,
                ", ".join(o.member_of) or "—",
                _age(o.age_of_digital_consent),
                _age(o.minimum_account_age, o.minimum_account_age_when),
                str(len(o.rules)),
            ]
            for key, o in overlays.items()
        ),
    )
    lines += ["## Overlays", ""]
    for overlay in overlays.values():
        lines += _overlay_section(policy, overlay)
    return "\n".join(lines)


# ------------------------------------------------------------------------ actions

_REQUIREMENT_WORDS: Final = {
    _actions.ANY: "anyone",
    _actions.MUTUAL_OR_INVITED: "connected, a mutual connection, or the target's invite",
    _actions.MUTUAL: "connected, or at least one mutual connection",
    _actions.INVITED: "connected, or the target's personal invite",
    _actions.CONNECTED: "connected",
    _actions.APPROVAL: "the account holder approves each one",
    _actions.PARENT: "a parent approves each one",
    _actions.NEVER: "never",
}

# Actions decided by code rather than by a value table (see decisions.md).
_SPECIAL: Final = {
    "notify": ("target", "`quiet_hours`, `engagement_features`"),
    "content": ("actor (the viewer)", "`sensitive_content`"),
    "media.upload": ("actor (the uploader)", "`sensitive_media_send`"),
    "media.send": ("actor (the sender)", "`sensitive_media_send`"),
    "media.view": ("actor (the viewer)", "`sensitive_media_blur`"),
}


def render_actions() -> str:
    """What each value of each action's deciding setting requires."""
    rows: list[list[str]] = []
    for spec in _actions._SPECS:  # noqa: SLF001 - the engine's own table is the truth
        special = _SPECIAL.get(spec.name) or _SPECIAL.get(spec.kind)
        if special is not None:
            whose, settings = special
            rows.append([_code(spec.name), whose, settings, "see below"])
        for who, side in (("target", spec.target), ("actor", spec.actor)):
            if side is None:
                continue
            setting = SETTINGS[side.setting]
            needs = "; ".join(
                f"{_code(setting.format(value))}: {_REQUIREMENT_WORDS[req]}"
                for value, req in side.reqs.items()
            )
            if who == "actor" and spec.actor_minors_only:
                who = "actor (if a minor)"  # noqa: PLW2901 - the displayed label
            rows.append([_code(spec.name), who, _code(side.setting), needs])
    return "\n".join(_table(("action", "whose", "setting", "value: what it needs"), rows))


# ------------------------------------------------------------------------ Sphinx


def _write(path: Path, text: str) -> None:
    """Write ``text`` unless the file already holds it (keeps mtimes stable)."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def render_reasons() -> str:
    """Every decision reason: its code, the heading people read and the child's and a
    refused adult's words (from the English catalogue)."""
    messages = Messages()
    rows = []
    for reason in Reason:
        said = [
            messages.lookup(key) or ""
            for key in (
                f"decision.{reason.value}.title",
                f"decision.{reason.value}.child.text",
                f"decision.{reason.value}.refused_adult.text",
            )
        ]
        rows.append([_code(reason.value), *(_text(t.format_map(_Blank())) for t in said)])
    header = ("reason", "heading", "the child reads", "a refused adult reads")
    return "\n".join(_table(header, rows))


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return f"{{{key}}}"  # a placeholder stays visible: "{parent}"


def pages() -> dict[str, str]:
    """Every table, by file name, as committed (header included)."""
    policy = load_policy()
    bodies = {
        "catalogue.md": render_catalogue(),
        "actions.md": render_actions(),
        "reasons.md": render_reasons(),
        "baseline.md": render_baseline(policy),
        "sources.md": render_sources(policy),
        "jurisdictions.md": render_jurisdictions(policy),
    }
    return {name: HEADER + body.rstrip("\n") + "\n" for name, body in bodies.items()}


def generate(out_dir: Path = TABLES) -> list[Path]:
    """Write every table into ``out_dir``; return the paths."""
    paths = []
    for name, text in pages().items():
        path = out_dir / name
        _write(path, text)
        paths.append(path)
    return paths


def stale(out_dir: Path = TABLES) -> list[Path]:
    """The tables in ``out_dir`` that are missing or differ from what the data gives."""
    return [
        out_dir / name
        for name, text in pages().items()
        if not (out_dir / name).exists() or (out_dir / name).read_text(encoding="utf-8") != text
    ]


def _on_builder_inited(app: Sphinx) -> None:
    for path in stale(Path(app.srcdir) / GENERATED):
        logger.warning(
            "%s is out of date with the package data; run `python3 dev.py reference`",
            path.name,
            type="childsafe",
            subtype="reference",
        )


def main(argv: Sequence[str] | None = None) -> int:
    """``python docs/_ext/childsafe_reference.py [--check]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args not in ([], ["--check"]):
        print("usage: childsafe_reference.py [--check]", file=sys.stderr)
        return 2
    if args == ["--check"]:
        old = stale()
        for path in old:
            print(f"out of date: {path}; run `python3 dev.py reference`")
        return 1 if old else 0
    for path in generate():
        print(f"wrote: {path}")
    return 0


def undocumented_exports(documented: Iterable[str]) -> list[str]:
    """Public names (``childsafe.__all__``, ``childsafe.exceptions.__all__``) that no
    Python object description in the docs covers."""
    seen = set(documented)
    wanted = [f"childsafe.{name}" for name in childsafe.__all__]
    wanted += [f"childsafe.exceptions.{name}" for name in childsafe.exceptions.__all__]
    return [name for name in wanted if name not in seen]


def _check_api_coverage(app: Sphinx, env: BuildEnvironment) -> None:
    """Warn (an error under ``-W``) when a public name is missing from the API page."""
    del app
    documented = (name for name, *_ in env.get_domain("py").get_objects())
    for name in undocumented_exports(documented):
        logger.warning(
            "%s is public but not documented; add it to docs/api.md",
            name,
            type="childsafe",
            subtype="api",
        )


def setup(app: Sphinx) -> ExtensionMetadata:
    app.connect("builder-inited", _on_builder_inited)
    app.connect("env-check-consistency", _check_api_coverage)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    sys.exit(main())
