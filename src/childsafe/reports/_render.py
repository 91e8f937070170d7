"""The report's formats: JSON, a CSV after the DSA quantitative template, Markdown,
and a self-contained HTML page with inline SVG charts."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any, Final, Literal

from childsafe._messages import default_messages
from childsafe.complaints import Outcome
from childsafe.exceptions import InvalidCheckError

__all__ = ["FORMATS", "render", "to_csv", "to_html", "to_json", "to_markdown"]

Format = Literal["json", "csv", "md", "html"]
FORMATS: Final[tuple[Format, ...]] = ("json", "csv", "md", "html")

OUTCOME_LABELS: Final = {
    Outcome.CONTENT_REMOVED.value: "Content removed",
    Outcome.ACCOUNT_RESTRICTED.value: "Account restricted",
    Outcome.NO_VIOLATION.value: "No violation found",
    Outcome.REFERRED_LAW_ENFORCEMENT.value: "Referred to law enforcement",
    Outcome.REFERRED_HOTLINE.value: "Referred to a hotline",
}
ROLE_LABELS: Final = {
    "child": "Children",
    "parent": "Parents",
    "other": "Others",
    "platform": "Our own detection",
}
BAND_LABELS: Final = {
    "under_13": "under 13",
    "13_15": "13 to 15",
    "16_17": "16 to 17",
    "adult": "adult",
    "unknown": "age unknown",
}
# The DSA template's own-initiative and notice "type of restriction" each outcome counts as.
DSA_ACTION: Final = {
    Outcome.CONTENT_REMOVED.value: "DECISION_VISIBILITY_CONTENT_REMOVED",
    Outcome.ACCOUNT_RESTRICTED.value: "DECISION_ACCOUNT_SUSPENDED",
    Outcome.NO_VIOLATION.value: "NO_ACTION",
    Outcome.REFERRED_LAW_ENFORCEMENT.value: "REFERRAL_LAW_ENFORCEMENT",
    Outcome.REFERRED_HOTLINE.value: "REFERRAL_HOTLINE",
}


def to_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- CSV

CSV_HEADER: Final = ("section", "item", "category", "breakdown", "value", "unit")


def csv_rows(d: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The rows of the CSV (see the mapping in docs/transparency.md)."""
    c = d["complaints"]
    rows: list[tuple[Any, ...]] = [
        ("report", "period_start", "", "", d["period"]["from"], "date"),
        ("report", "period_end", "", "", d["period"]["to"], "date"),
        ("report", "platform", "", "", d["platform"], "text"),
        ("report", "schema", "", "", d["schema"], "text"),
        ("notices", "notices_received", "", "", c["total"], "count"),
    ]
    dsa_totals: dict[str, int] = {}
    for row in c["by_category"]:
        code = row["dsa_category"] or "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE"
        dsa_totals[code] = dsa_totals.get(code, 0) + row["complaints"]
    rows += [
        ("notices", "notices_received", code, "", n, "count")
        for code, n in sorted(dsa_totals.items())
    ]
    rows += [
        (
            "notices",
            "notices_received",
            row["dsa_category"] or "",
            f"platform_category:{row['category']}",
            row["complaints"],
            "count",
        )
        for row in c["by_category"]
    ]
    rows += [
        (
            "notices",
            "actions_taken",
            "",
            f"{o['outcome']}:{DSA_ACTION[o['outcome']]}",
            o["complaints"],
            "count",
        )
        for o in c["by_outcome"]
    ]
    rows += [
        (
            "notices",
            "notices_actioned",
            row["dsa_category"] or "",
            f"platform_category:{row['category']}",
            row["actioned"],
            "count",
        )
        for row in c["by_category"]
    ]
    rows += [
        (
            "notices",
            "notices_submitted_by",
            "",
            f"reporter:{r['role']}:{r['band']}",
            r["complaints"],
            "count",
        )
        for r in c["by_reporter"]
    ]
    # Cases the platform's own detection opened are own-initiative measures, not notices.
    own = d.get("own_initiative")
    if own is not None:
        rows.append(("own_initiative", "cases_opened", "", "", own["cases_opened"], "count"))
        rows += [
            (
                "own_initiative",
                "cases_opened",
                r["dsa_category"] or "",
                f"platform_category:{r['category']}",
                r["cases"],
                "count",
            )
            for r in own["by_category"]
        ]
        rows += [
            (
                "own_initiative",
                "actions_taken",
                "",
                f"{o['outcome']}:{DSA_ACTION[o['outcome']]}",
                o["cases"],
                "count",
            )
            for o in own["by_outcome"]
        ]
    first, done = c["time_to_first_action"], c["time_to_resolution"]
    rows += [
        (
            "notices",
            "median_time_to_action",
            "",
            "first_action",
            _blank(first["median_seconds"]),
            "seconds",
        ),
        (
            "notices",
            "p90_time_to_action",
            "",
            "first_action",
            _blank(first["p90_seconds"]),
            "seconds",
        ),
        (
            "notices",
            "median_time_to_action",
            "",
            "resolution",
            _blank(done["median_seconds"]),
            "seconds",
        ),
        ("notices", "p90_time_to_action", "", "resolution", _blank(done["p90_seconds"]), "seconds"),
        ("notices", "notices_open", "", "", c["open"], "count"),
    ]
    proactive = d["proactive_detections"]
    if proactive is not None:
        rows += [
            (
                "own_initiative",
                "measures_detected",
                "",
                "automated_signal",
                proactive["raised"],
                "count",
            ),
            (
                "own_initiative",
                "measures_confirmed",
                "",
                "human_review",
                proactive["confirmed"],
                "count",
            ),
        ]
    a = c["appeals"]
    rows += [
        ("complaints", "complaints_received", "", "", a["appeals"], "count"),
        ("complaints", "complaints_decided", "", "decision_reversed", a["reversals"], "count"),
        ("complaints", "complaints_decided", "", "decision_upheld", a["upheld"], "count"),
        ("complaints", "complaints_pending", "", "", a["open"], "count"),
    ]
    if d["denials"] is not None:
        rows += [
            (
                "childsafe_denials",
                "requests_denied",
                "",
                f"reason:{x['reason']}",
                x["count"],
                "count",
            )
            for x in d["denials"]
        ]
    media = d.get("media")
    if media is not None:
        shown, blurred = media["interventions"], media["blurred"]
        rows += [
            (
                "childsafe_media",
                "known_abuse_matches",
                "",
                f"list:{x['list']}",
                x["matches"],
                "count",
            )
            for x in media["matches"]["by_list"]
        ]
        rows += [
            ("childsafe_media", "known_abuse_matches", "", "", media["matches"]["total"], "count"),
            ("childsafe_media", "send_interventions", "", "shown", shown["shown"], "count"),
            (
                "childsafe_media",
                "send_interventions",
                "",
                "sent_anyway",
                shown["sent_anyway"],
                "count",
            ),
            ("childsafe_media", "send_interventions", "", "not_sent", shown["not_sent"], "count"),
            ("childsafe_media", "sends_blocked", "", "", media["blocked_sends"], "count"),
            ("childsafe_media", "blurred_images", "", "shown", blurred["shown"], "count"),
            ("childsafe_media", "blurred_images", "", "viewed", blurred["viewed"], "count"),
        ]
    accounts = d["child_accounts"]
    if accounts is not None:
        for band in accounts["bands"]:
            b = band["band"]
            rows += [
                (
                    "childsafe_child_accounts",
                    "accounts",
                    "",
                    f"band:{b}",
                    band["accounts"],
                    "count",
                ),
                (
                    "childsafe_child_accounts",
                    "on_protective_defaults",
                    "",
                    f"band:{b}",
                    band["on_defaults"],
                    "count",
                ),
            ]
            rows += [
                (
                    "childsafe_child_accounts",
                    "changed_setting",
                    "",
                    f"band:{b}:setting:{s['setting']}",
                    s["changed"],
                    "count",
                )
                for s in band["settings"]
            ]
    return rows


def _md_time(seconds: int | None) -> str:
    return "n/a" if seconds is None else f"{seconds:,} s ({duration(seconds)})"


def _blank(value: object) -> object:
    return "" if value is None else value


_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r", "\n")
# What some spreadsheets also read as the start of a formula: the full-width signs (an
# East Asian input method's), after any leading white space, which some trim first.
_FORMULA_SIGNS: Final = frozenset("=+-@\uff1d\uff0b\uff0d\uff20")


def csv_cell(value: object) -> object:
    """A CSV cell that a spreadsheet shows as text: a text value starting like a
    formula (``=``, ``+``, ``-``, ``@``, a tab, a CR or an LF; the full-width forms of
    the four signs, U+FF1D, U+FF0B, U+FF0D and U+FF20; any of the signs after leading
    spaces; a platform or hash list named ``=HYPERLINK(...)`` or ``" =1+1"``) gets a
    leading ``'``, as OWASP advises. Numbers are kept."""
    if isinstance(value, str) and (
        value.startswith(_FORMULA_START) or value.lstrip()[:1] in _FORMULA_SIGNS
    ):
        return "'" + value
    return value


def to_csv(document: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(tuple(csv_cell(v) for v in row) for row in csv_rows(document))
    return out.getvalue()


# ---------------------------------------------------------------------- helpers


def duration(seconds: int | None) -> str:
    """``seconds`` as people read it: ``45 s``, ``12 min``, ``3.5 h``, ``2.1 days``.

    >>> duration(45), duration(720), duration(12600), duration(181440), duration(None)
    ('45 s', '12 min', '3.5 h', '2.1 days', 'n/a')
    """
    if seconds is None:
        return "n/a"
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _why(reason: str) -> str:
    """A refusal reason in the words a refused adult reads (the code when the catalogue
    has none, for a reason a platform added)."""
    text = default_messages().lookup(f"decision.{reason}.refused_adult.text")
    return text if text is not None and "{" not in text else reason.replace("_", " ")


_MONTHS: Final = ("January", "February", "March", "April", "May", "June", "July",
                  "August", "September", "October", "November", "December")  # fmt: skip


def _when(value: object) -> str:
    """A report's ISO 8601 time as people read it, to the minute: ``"5 December 2026,
    11:33 UTC"`` (anything that is not such a time, as it is)."""
    try:
        t = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    zone = ""
    if t.tzinfo is not None:
        t, zone = t.astimezone(dt.UTC), " UTC"
    return f"{t.day} {_MONTHS[t.month - 1]} {t.year}, {t:%H:%M}{zone}"


def _time_html(value: object) -> str:
    """:func:`_when` in a ``<time>`` element that keeps the exact time for machines."""
    return f'<time datetime="{_E(str(value))}">{_E(_when(value))}</time>'


def _n(value: int) -> str:
    return f"{value:,}"


def _pct(part: int, whole: int) -> str:
    return "n/a" if whole == 0 else f"{100 * part / whole:.1f}%"


# --------------------------------------------------------------------- Markdown


def _md_inline(value: object) -> str:
    """Text on one Markdown line: line breaks (which would end a heading or a table
    row and start a block of the writer's choosing) become spaces."""
    return " ".join(str(value).splitlines())


_MD_MARKUP: Final = re.compile(r"([\\`<>\[\]])")
_MD_ENTITY: Final = re.compile(r"&(?=#?[0-9A-Za-z]+;)")


def _md_text(value: object) -> str:
    """Text from the data (the platform's name, a category's label, a hash list's
    name) as Markdown that shows it as written: on one line, and with what would start
    raw HTML (``<script>``), a link or an image (``[...](javascript:...)``), a code
    span or a character reference (``&lt;``) escaped with a backslash."""
    return _MD_ENTITY.sub(r"\\&", _MD_MARKUP.sub(r"\\\1", _md_inline(value)))


class _Code(str):
    """A table cell shown as inline code (a reason code)."""

    __slots__ = ()


def _md_cell(value: object) -> str:
    if isinstance(value, _Code):
        text = _md_inline(value)
        # A code span shows its content literally, up to the first backtick.
        code = "`" not in text and text.strip() == text and text
        return (f"`{text}`" if code else _md_text(text)).replace("|", "\\|")
    return _md_text(value).replace("|", "\\|")


def _md_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in rows]
    return out


def to_markdown(d: dict[str, Any]) -> str:
    c = d["complaints"]
    first, done, a = c["time_to_first_action"], c["time_to_resolution"], c["appeals"]
    lines = [
        f"# {_md_text(d['platform'])}: transparency report",
        "",
        (
            f"Period: {d['period']['from']} to {d['period']['to']} (UTC). "
            f"Generated {_when(d['generated_at'])} by {d['generator']}."
        ),
        "",
        "## Reports from users",
        "",
        (
            f"We received **{_n(c['total'])}** reports; {_n(c['resolved'])} were resolved and "
            f"{_n(c['open'])} are still open."
        ),
        "",
        *_md_table(
            ["Category", "DSA category", "Reports", "Resolved", "Actioned"],
            [
                [
                    r["label"],
                    r["dsa_category"] or "",
                    _n(r["complaints"]),
                    _n(r["resolved"]),
                    _n(r["actioned"]),
                ]
                for r in c["by_category"]
            ],
        ),
        "",
        "### Who reported",
        "",
        *_md_table(
            ["Reporter", "Age band", "Reports"],
            [
                [ROLE_LABELS[r["role"]], BAND_LABELS[r["band"]], _n(r["complaints"])]
                for r in c["by_reporter"]
            ],
        ),
        "",
        "### Outcomes",
        "",
        *_md_table(
            ["Outcome", "Reports"],
            [[OUTCOME_LABELS[o["outcome"]], _n(o["complaints"])] for o in c["by_outcome"]],
        ),
        "",
        "### How fast we acted",
        "",
        f"Percentiles by the {d['percentile_method']} method.",
        "",
        *_md_table(
            ["Measure", "Count", "Median", "90th percentile"],
            [
                [
                    "Time to first action",
                    _n(first["count"]),
                    _md_time(first["median_seconds"]),
                    _md_time(first["p90_seconds"]),
                ],
                [
                    "Time to resolution",
                    _n(done["count"]),
                    _md_time(done["median_seconds"]),
                    _md_time(done["p90_seconds"]),
                ],
            ],
        ),
        "",
        "### Appeals",
        "",
        *_md_table(
            ["Reports appealed", "Appeals", "Reversed", "Upheld", "Awaiting a decision"],
            [
                [
                    _n(a["appealed_complaints"]),
                    _n(a["appeals"]),
                    _n(a["reversals"]),
                    _n(a["upheld"]),
                    _n(a["open"]),
                ]
            ],
        ),
        "",
        "## Proactive detection",
        "",
    ]
    own = d.get("own_initiative")
    if own is not None:
        lines += [
            (
                f"{ROLE_LABELS['platform']} opened **{_n(own['cases_opened'])}** cases for "
                f"review (not counted among the reports from users); {_n(own['actioned'])} "
                "were actioned."
            ),
            "",
        ]
    p = d["proactive_detections"]
    if p is None:
        lines.append("Signals raised: not reported for this period.")
    else:
        lines += _md_table(["Raised", "Confirmed"], [[_n(p["raised"]), _n(p["confirmed"])]])
    lines += ["", "## Requests refused to protect children", ""]
    if d["denials"] is None:
        lines.append("Not reported for this period.")
    else:
        lines += _md_table(
            ["Why", "Reason code", "Requests"],
            [[_why(x["reason"]), _Code(x["reason"]), _n(x["count"])] for x in d["denials"]],
        )
    if "media" in d:
        lines += ["", "## Images", ""]
        lines += _media_lines(d["media"])
    lines += ["", "## Child accounts on protective defaults", ""]
    accounts = d["child_accounts"]
    if accounts is None:
        lines.append("No census of child accounts was taken.")
    else:
        lines += [f"Census taken {_when(accounts['taken_at'])}.", ""]
        lines += _md_table(
            ["Age band", "Accounts", "On every default", "Changed a setting"],
            [
                [
                    BAND_LABELS[b["band"]],
                    _n(b["accounts"]),
                    _n(b["on_defaults"]),
                    _n(b["changed_any"]),
                ]
                for b in accounts["bands"]
            ],
        )
        # In words, as the HTML says them: "13 to 15", "location sharing".
        changed = [
            [BAND_LABELS[b["band"]], s["setting"].replace("_", " "), _n(s["changed"])]
            for b in accounts["bands"]
            for s in b["settings"]
            if s["changed"]
        ]
        if changed:
            lines += ["", *_md_table(["Age band", "Setting", "Accounts that changed it"], changed)]
    return "\n".join(lines) + "\n"


_MEDIA_WORDS: Final = (
    "Uploads refused because they matched a known child sexual abuse image on a hash list",
    "Times a child was shown a safety message before sending an image that may show nudity",
    "Images sent anyway after the safety message",
    "Safety messages after which nothing was sent",
    "Images that may show nudity refused outright (children under 13)",
    "Images shown blurred to a child",
    "Blurred images the child chose to see",
)


def _media_rows(m: dict[str, Any]) -> list[list[str]]:
    shown, blurred = m["interventions"], m["blurred"]
    figures = (
        m["matches"]["total"],
        shown["shown"],
        shown["sent_anyway"],
        shown["not_sent"],
        m["blocked_sends"],
        blurred["shown"],
        blurred["viewed"],
    )
    return [[words, _n(n)] for words, n in zip(_MEDIA_WORDS, figures, strict=True)]


def _media_lines(m: dict[str, Any] | None) -> list[str]:
    if m is None:
        return ["Not reported for this period."]
    lines = _md_table(["What", "Count"], _media_rows(m))
    if m["matches"]["by_list"]:
        lines += [
            "",
            *_md_table(
                ["Hash list", "Matches"],
                [[x["list"], _n(x["matches"])] for x in m["matches"]["by_list"]],
            ),
        ]
    return lines


# ------------------------------------------------------------------------- HTML

_E = html.escape
_PALETTE: Final = ("#1d4ed8", "#b45309", "#047857", "#7c3aed", "#be123c", "#0e7490", "#4d7c0f")

CSS: Final = """
*{box-sizing:border-box}
body{margin:0;
font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:#1f2937;background:#f8fafc;line-height:1.5}
header{background:#0f172a;color:#f8fafc;padding:2rem 0}
header .wrap,main,footer{max-width:60rem;margin:0 auto;padding:0 1rem}
header p{margin:.25rem 0 0;color:#cbd5e1}
h1{margin:0;font-size:clamp(1.5rem,6vw,2rem);line-height:1.2}
h2{font-size:1.35rem;margin:0 0 .75rem}
h3{font-size:1.05rem;margin:1.25rem 0 .5rem}
main{padding-top:1rem;padding-bottom:1rem}
section{background:#fff;border:1px solid #e2e8f0;border-radius:.75rem;padding:1.25rem;margin:1rem 0}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(9rem,1fr));
gap:.75rem;margin:1rem 0}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:.75rem;padding:1rem}
.card .value{display:block;font-size:1.6rem;font-weight:700;color:#0f172a}
.card .label{color:#475569;font-size:.9rem}
figure{margin:0 0 1rem}
figure svg{display:block;width:100%;max-width:26rem;height:auto}
figcaption{color:#475569;font-size:.9rem;margin-top:.25rem}
.table{overflow-x:auto;margin:.5rem 0 1rem}
table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{text-align:left;padding:.4rem .6rem;border-bottom:1px solid #e2e8f0;vertical-align:top}
td.code{font-size:.85em}
th{background:#f1f5f9;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.note{color:#475569;font-size:.9rem}
footer{padding-bottom:3rem;color:#475569;font-size:.85rem}
code{font-size:.85em;overflow-wrap:anywhere}
@media (max-width:40rem){th,td{padding:.35rem .4rem}section{padding:1rem .75rem}}
"""


def _bar_chart(
    chart_id: str, title: str, items: Sequence[tuple[str, int, str]], unit: str = ""
) -> str:
    """A horizontal bar chart: each item is (label, value, shown value); the label sits
    above its bar, so the chart reads at phone widths."""
    if not items:
        return ""
    width, row, bar = 360, 44, 14
    height = len(items) * row + 8
    peak = max((v for _, v, _ in items), default=0) or 1
    parts = [
        (
            f'<svg id="{chart_id}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-labelledby="{chart_id}-title" xmlns="http://www.w3.org/2000/svg">'
        ),
        f'<title id="{chart_id}-title">{_E(title)}</title>',
    ]
    for i, (label, value, shown) in enumerate(items):
        y = i * row + 4
        length = 0 if value <= 0 else max(2.0, (width - 70) * value / peak)
        colour = _PALETTE[i % len(_PALETTE)]
        parts += [
            f'<text x="0" y="{y + 14}" font-size="14" fill="#1f2937">{_E(label)}</text>',
            f'<rect x="0" y="{y + 20}" width="{width - 70}" height="{bar}" rx="3" fill="#eef2f7"/>',
            (
                f'<rect x="0" y="{y + 20}" width="{length:.1f}" height="{bar}" rx="3" '
                f'fill="{colour}"><title>{_E(label)}: {_E(shown)}{unit}</title></rect>'
            ),
            (
                f'<text x="{width - 62}" y="{y + 32}" font-size="14" '
                f'fill="#1f2937">{_E(shown)}</text>'
            ),
        ]
    parts.append("</svg>")
    return "".join(parts)


def _stacked_chart(chart_id: str, title: str, items: Sequence[tuple[str, int, int]]) -> str:
    """One bar per item split in two: on defaults (dark) and changed (light)."""
    width, row, bar = 360, 44, 14
    height = max(1, len(items)) * row + 30
    parts = [
        (
            f'<svg id="{chart_id}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-labelledby="{chart_id}-title" xmlns="http://www.w3.org/2000/svg">'
        ),
        f'<title id="{chart_id}-title">{_E(title)}</title>',
        '<rect x="0" y="2" width="12" height="12" fill="#047857"/>',
        '<text x="18" y="13" font-size="14" fill="#1f2937">on every default</text>',
        '<rect x="160" y="2" width="12" height="12" fill="#fbbf24"/>',
        '<text x="178" y="13" font-size="14" fill="#1f2937">changed a setting</text>',
    ]
    for i, (label, defaults, changed) in enumerate(items):
        y = i * row + 26
        total = defaults + changed
        share = 0.0 if total == 0 else (width - 70) * defaults / total
        parts += [
            f'<text x="0" y="{y + 14}" font-size="14" fill="#1f2937">{_E(label)}</text>',
            (
                f'<rect x="0" y="{y + 20}" width="{width - 70}" height="{bar}" rx="3" '
                f'fill="{"#fbbf24" if total else "#eef2f7"}"/>'
            ),
            f'<rect x="0" y="{y + 20}" width="{share:.1f}" height="{bar}" rx="3" fill="#047857"/>',
            (
                f'<text x="{width - 62}" y="{y + 32}" font-size="14" '
                f'fill="#1f2937">{_pct(defaults, total)}</text>'
            ),
        ]
    parts.append("</svg>")
    return "".join(parts)


def _breakable(text: str) -> str:
    """``text`` escaped, with line-break chances after underscores (long DSA codes)."""
    return _E(text).replace("_", "_<wbr>") if "_" in text and " " not in text else _E(text)


def _cell_class(index: int, value: object, numeric: set[int]) -> str:
    if index in numeric:
        return " class=num"
    return " class=code" if str(value).startswith("STATEMENT_CATEGORY_") else ""


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: set[int]) -> str:
    head = "".join(
        f'<th scope="col"{" class=num" if i in numeric else ""}>{_E(h)}</th>'
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{_cell_class(i, v, numeric)}>{_breakable(str(v))}</td>" for i, v in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    # A region that may scroll sideways on a phone: focusable, so keyboards can scroll it.
    label = _E("Table: " + ", ".join(headers))
    return f'<div class="table" tabindex="0" role="region" aria-label="{label}">{table}</div>'


def _figure(svg: str, caption: str) -> str:
    if not svg:
        return '<p class="note">None in this period.</p>'
    return f'<figure class="chart">{svg}<figcaption>{_E(caption)}</figcaption></figure>'


def to_html(d: dict[str, Any]) -> str:
    c = d["complaints"]
    first, done, a = c["time_to_first_action"], c["time_to_resolution"], c["appeals"]
    platform = _E(d["platform"])
    period = f"{_E(d['period']['from'])} to {_E(d['period']['to'])}"
    cards = [
        (_n(c["total"]), "reports from users"),
        (duration(first["median_seconds"]), "median time to first action"),
        (_pct(c["resolved"], c["total"]), "of reports resolved"),
        (_n(a["reversals"]), "decisions reversed on appeal"),
    ]
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{platform} transparency report, {period}</title>",
        f"<style>{CSS}</style></head><body>",
        f'<header><div class="wrap"><h1>{platform} transparency report</h1>',
        f"<p>Reporting period {period} (UTC)</p></div></header>",
        '<main><div class="cards">',
        *(
            f'<div class="card"><span class="value">{_E(v)}</span>'
            f'<span class="label">{_E(label)}</span></div>'
            for v, label in cards
        ),
        "</div>",
        '<section id="reports"><h2>Reports from users</h2>',
        (
            f"<p>We received {_n(c['total'])} reports. "
            f"{_n(c['first_actioned'])} had a first action, "
            f"{_n(c['resolved'])} were resolved and {_n(c['open'])} are still open.</p>"
        ),
        _figure(
            _bar_chart(
                "chart-categories",
                "Reports by category",
                [(r["label"], r["complaints"], _n(r["complaints"])) for r in c["by_category"]],
            ),
            "Reports by category",
        ),
        _table(
            ["Category", "DSA category", "Reports", "Resolved", "Actioned"],
            [
                [
                    r["label"],
                    r["dsa_category"] or "",
                    _n(r["complaints"]),
                    _n(r["resolved"]),
                    _n(r["actioned"]),
                ]
                for r in c["by_category"]
            ],
            {2, 3, 4},
        ),
        "<h3>Who reported</h3>",
        _figure(
            _bar_chart(
                "chart-reporters",
                "Reports by reporter and age band",
                [
                    (
                        f"{ROLE_LABELS[r['role']]}, {BAND_LABELS[r['band']]}",
                        r["complaints"],
                        _n(r["complaints"]),
                    )
                    for r in c["by_reporter"]
                ],
            ),
            "Reports by who filed them and their age band",
        ),
        _table(
            ["Reporter", "Age band", "Reports"],
            [
                [ROLE_LABELS[r["role"]], BAND_LABELS[r["band"]], _n(r["complaints"])]
                for r in c["by_reporter"]
            ],
            {2},
        ),
        "<h3>Outcomes</h3>",
        _figure(
            _bar_chart(
                "chart-outcomes",
                "Outcomes of resolved reports",
                [
                    (OUTCOME_LABELS[o["outcome"]], o["complaints"], _n(o["complaints"]))
                    for o in c["by_outcome"]
                ],
            ),
            "What we did about the reports we resolved",
        ),
        _table(
            ["Outcome", "Reports"],
            [[OUTCOME_LABELS[o["outcome"]], _n(o["complaints"])] for o in c["by_outcome"]],
            {1},
        ),
        "<h3>How fast we acted</h3>",
        _figure(
            _bar_chart(
                "chart-times",
                "Time to first action and to resolution, in hours",
                [
                    (
                        "First action, median",
                        first["median_seconds"] or 0,
                        duration(first["median_seconds"]),
                    ),
                    (
                        "First action, 90th percentile",
                        first["p90_seconds"] or 0,
                        duration(first["p90_seconds"]),
                    ),
                    (
                        "Resolution, median",
                        done["median_seconds"] or 0,
                        duration(done["median_seconds"]),
                    ),
                    (
                        "Resolution, 90th percentile",
                        done["p90_seconds"] or 0,
                        duration(done["p90_seconds"]),
                    ),
                ],
            ),
            "Time from a report to our first action and to its resolution",
        ),
        _table(
            ["Measure", "Reports measured", "Median (seconds)", "90th percentile (seconds)"],
            [
                [
                    "Time to first action",
                    _n(first["count"]),
                    _sec(first["median_seconds"]),
                    _sec(first["p90_seconds"]),
                ],
                [
                    "Time to resolution",
                    _n(done["count"]),
                    _sec(done["median_seconds"]),
                    _sec(done["p90_seconds"]),
                ],
            ],
            {1, 2, 3},
        ),
        (
            f'<p class="note">Percentiles use the {_E(d["percentile_method"])} method: of n times '
            "sorted from fastest, the p-th percentile is the time at rank ⌈p/100 · n⌉.</p>"
        ),
        "<h3>Appeals</h3>",
        (
            f"<p>{_n(a['appealed_complaints'])} reports were appealed "
            f"({_n(a['appeals'])} appeals): "
            f"{_n(a['reversals'])} decisions were reversed, {_n(a['upheld'])} upheld and "
            f"{_n(a['open'])} await a decision.</p>"
        ),
        "</section>",
    ]
    p = d["proactive_detections"]
    out.append('<section id="proactive"><h2>Harm we found ourselves</h2>')
    own = d.get("own_initiative")
    if own is not None:
        out.append(
            f"<p>{ROLE_LABELS['platform']} opened <strong>{_n(own['cases_opened'])}</strong> "
            "cases for review (not counted among the reports from users); "
            f"{_n(own['actioned'])} were actioned.</p>"
        )
    if p is None:
        out.append('<p class="note">Signals raised: not reported for this period.</p>')
    else:
        out += [
            (
                "<p>Signals of grooming and other harm raised for review by people, and how many "
                "the reviewers confirmed.</p>"
            ),
            _figure(
                _bar_chart(
                    "chart-proactive",
                    "Proactive detections",
                    [
                        ("Raised for review", p["raised"], _n(p["raised"])),
                        ("Confirmed by a reviewer", p["confirmed"], _n(p["confirmed"])),
                    ],
                ),
                "Proactive detections raised and confirmed",
            ),
        ]
    out.append("</section>")
    out.append('<section id="denials"><h2>Requests refused to protect children</h2>')
    if d["denials"] is None:
        out.append('<p class="note">Not reported for this period.</p>')
    else:
        out += [
            _figure(
                _bar_chart(
                    "chart-denials",
                    "Requests refused, by reason",
                    [(_why(x["reason"]), x["count"], _n(x["count"])) for x in d["denials"]],
                ),
                "Requests refused, by reason",
            ),
            _table(
                ["Why", "Reason code", "Requests"],
                [[_why(x["reason"]), x["reason"], _n(x["count"])] for x in d["denials"]],
                {2},
            ),
        ]
    out.append("</section>")
    if "media" in d:
        m = d["media"]
        out.append('<section id="media"><h2>Images</h2>')
        if m is None:
            out.append('<p class="note">Not reported for this period.</p>')
        else:
            out.append(_table(["What", "Count"], _media_rows(m), {1}))
            if m["matches"]["by_list"]:
                out.append(
                    _table(
                        ["Hash list", "Matches"],
                        [[x["list"], _n(x["matches"])] for x in m["matches"]["by_list"]],
                        {1},
                    )
                )
        out.append("</section>")
    out.append('<section id="defaults"><h2>Child accounts on protective defaults</h2>')
    accounts = d["child_accounts"]
    if accounts is None:
        out.append('<p class="note">No census of child accounts was taken.</p>')
    else:
        bands = accounts["bands"]
        out += [
            (
                f"<p>From a census of every child account taken "
                f"{_time_html(accounts['taken_at'])}.</p>"
            ),
            _figure(
                _stacked_chart(
                    "chart-defaults",
                    "Child accounts on every protective default, by age band",
                    [(BAND_LABELS[b["band"]], b["on_defaults"], b["changed_any"]) for b in bands],
                ),
                "Share of child accounts on every protective default",
            ),
            _table(
                ["Age band", "Accounts", "On every default", "Changed a setting"],
                [
                    [
                        BAND_LABELS[b["band"]],
                        _n(b["accounts"]),
                        _n(b["on_defaults"]),
                        _n(b["changed_any"]),
                    ]
                    for b in bands
                ],
                {1, 2, 3},
            ),
            "<h3>Settings changed</h3>",
            _table(
                ["Setting", *(BAND_LABELS[b["band"]] for b in bands)],
                [
                    [
                        s["setting"].replace("_", " "),
                        *(_n(b["settings"][i]["changed"]) for b in bands),
                    ]
                    for i, s in enumerate(bands[0]["settings"])
                ],
                set(range(1, len(bands) + 1)),
            ),
        ]
    out += [
        "</section></main>",
        (
            f"<footer><p>Generated {_time_html(d['generated_at'])} by {_E(d['generator'])}. Schema "
            f"<code>{_E(d['schema'])}</code>. Figures cover reports received in the period.</p>"
            "</footer></body></html>"
        ),
    ]
    return "\n".join(out) + "\n"


def _sec(value: int | None) -> str:
    return "n/a" if value is None else _n(value)


def render(document: dict[str, Any], fmt: Format) -> str:
    """The report document in ``fmt``: ``json``, ``csv``, ``md`` or ``html``. A format
    that is none of these, or a document that is not a report's
    (:meth:`~childsafe.reports.TransparencyReport.to_dict`), is an
    :class:`~childsafe.exceptions.InvalidCheckError`."""
    writers = {"json": to_json, "csv": to_csv, "md": to_markdown, "html": to_html}
    given: object = fmt
    writer = writers.get(given) if isinstance(given, str) else None
    if writer is None:
        raise InvalidCheckError(
            f"unknown report format {fmt!r:.40}; use one of {', '.join(FORMATS)}"
        )
    doc: object = document
    if not isinstance(doc, dict) or "complaints" not in doc:
        raise InvalidCheckError(
            "expected a transparency report document (TransparencyReport.to_dict()), got "
            f"{type(document).__name__}"
        )
    try:
        return writer(document)
    except (KeyError, TypeError, AttributeError, IndexError) as e:
        raise InvalidCheckError(
            f"not a complete transparency report document ({type(e).__name__}: {e})"
        ) from None
