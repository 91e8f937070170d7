"""Sphinx configuration for the childsafe documentation.

Build with ``python3 dev.py docs`` (or ``sphinx-build -W -n -b html docs docs/_build/html``).
Pages are MyST Markdown; the policy reference pages are generated from the package data
by the local extension in ``docs/_ext/childsafe_reference.py``.
"""

from __future__ import annotations

import sys
from importlib.metadata import version as _version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "childsafe"
author = "The childsafe developers"
copyright = "the childsafe developers"
release = _version("childsafe")
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "childsafe_reference",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
# `reference/_generated/` holds fragments that pages include; they are not pages.
exclude_patterns = ["_build", "_extra", "reference/_generated", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "deflist", "fieldlist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_class_signature = "mixed"

nitpicky = True
# The build runs offline, so there is no intersphinx inventory for the standard
# library: references to stdlib types in signatures cannot resolve. Builtins and
# `typing` names are resolved by Sphinx itself; these are the rest.
nitpick_ignore_regex = [
    ("py:class", r"(collections\.abc|datetime|os|re)\..*"),
    # The optional database drivers of the revocation stores (extras, no inventory).
    ("py:class", r"(redis|psycopg)\..*"),
    # pytest and hypothesis types in the QA toolkit's signatures (no inventory either).
    ("py:class", r"(_pytest|pytest|hypothesis|st|pathlib)\..*"),
    # httpx, whose clients the QA toolkit's fake apps hand out (no inventory either).
    ("py:class", r"httpx\..*"),
    # The Ed25519 key types of the audit trail's checkpoints (no inventory either).
    ("py:class", r"cryptography\..*"),
    # Pillow images and threading events in childsafe.media's signatures (no inventory).
    ("py:class", r"(PIL|Image|threading)\..*"),
    ("py:class", r"(typing\.)?IO"),
]
# Private types that appear in the attrs-generated signatures of public classes
# (`Policy.overlays`, `Setting.domain`). They are implementation details, deliberately
# left out of the API reference, so there is nothing for these references to point at.
nitpick_ignore = [
    ("py:class", "childsafe._policy.Overlay"),
    ("py:class", "childsafe._settings.EnumDomain"),
    ("py:class", "childsafe._settings.MinutesDomain"),
    ("py:class", "childsafe._settings.WindowDomain"),
    ("py:class", "Domain"),
    ("py:class", "Overlay"),
    # The type variable in the signature of the `childsafe.action` decorator.
    ("py:class", "childsafe.web.routes.F"),
    ("py:class", "childsafe.web.strict.F"),
    # The `Literal` alias of `explain`'s audiences, documented with AUDIENCES.
    ("py:class", "Audience"),
    # Framework classes in signatures: no inventory of theirs is available offline.
    ("py:class", "flask.app.Flask"),
    ("py:class", "starlette.applications.Starlette"),
    # The audit trail's private writer, in AuditTicket's signature; `dt` is its
    # modules' alias of `datetime`.
    ("py:class", "childsafe.audit._writer.Writer"),
    # The transparency report's media figures in attrs-generated signatures; documented
    # as childsafe.reports.MediaFigures.
    ("py:class", "childsafe.reports._evidence.MediaFigures"),
    ("py:class", "dt.datetime"),
]

html_theme = "furo"
html_title = "childsafe"
html_static_path: list[str] = []
# Served as they are: the report schema at its $id, and the sample report.
html_extra_path = ["_extra"]
