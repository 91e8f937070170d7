"""The complaints desk: reports by users (children, parents, anyone), their cases,
outcomes and appeals, kept in memory, SQLite (the default) or PostgreSQL.

* :class:`ComplaintsDesk` files reports and takes each case through its lifecycle
  (received, in review, resolved, appealed), sending a :class:`ComplaintEvent` for
  every step to the sinks it was given (the audit trail).
* :func:`parse_report` validates a report as a user sends it, naming every problem.
* :func:`report_response` answers an HTTP request filing a report; every adapter's
  report endpoint calls it (``childsafe.wsgi.report_app``, ``childsafe.asgi.report_app``,
  ``childsafe.contrib.flask.report_view``, ``childsafe.contrib.django.views.report_view``,
  ``childsafe.contrib.starlette.report_endpoint``).
* Stores: :class:`MemoryComplaintStore`, :class:`SQLiteComplaintStore`,
  :class:`PostgresComplaintStore` (``childsafe[postgres]``), or :func:`open_store` from
  a URL.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from childsafe.complaints._desk import (
    ComplaintEvent,
    ComplaintEventError,
    ComplaintsDesk,
    ComplaintSink,
)
from childsafe.complaints._errors import (
    ComplaintError,
    ComplaintStoreError,
    FieldProblem,
    InvalidComplaintError,
    InvalidTransitionError,
    UnknownCaseError,
)
from childsafe.complaints._figures import ComplaintFigures, Durations, Group, nearest_rank
from childsafe.complaints._intake import MAX_DESCRIPTION, MAX_ID, Intake, parse_report
from childsafe.complaints._model import (
    DEFAULT_CATEGORIES,
    TRANSITIONS,
    Appeal,
    Categories,
    Complaint,
    DSACategory,
    Outcome,
    Reporter,
    ReporterRole,
    Status,
    Subject,
    SubjectKind,
)
from childsafe.complaints._stores import (
    SCHEMA_VERSION,
    ComplaintStore,
    MemoryComplaintStore,
    SQLiteComplaintStore,
    open_store,
)
from childsafe.complaints._web import MAX_REPORT_BODY, REPORT_EXEMPTION, report_response

if TYPE_CHECKING:
    from childsafe.complaints._postgres import PostgresComplaintStore

__all__ = [
    "DEFAULT_CATEGORIES",
    "MAX_DESCRIPTION",
    "MAX_ID",
    "MAX_REPORT_BODY",
    "REPORT_EXEMPTION",
    "SCHEMA_VERSION",
    "TRANSITIONS",
    "Appeal",
    "Categories",
    "Complaint",
    "ComplaintError",
    "ComplaintEvent",
    "ComplaintEventError",
    "ComplaintFigures",
    "ComplaintSink",
    "ComplaintStore",
    "ComplaintStoreError",
    "ComplaintsDesk",
    "DSACategory",
    "Durations",
    "FieldProblem",
    "Group",
    "Intake",
    "InvalidComplaintError",
    "InvalidTransitionError",
    "MemoryComplaintStore",
    "Outcome",
    "PostgresComplaintStore",
    "Reporter",
    "ReporterRole",
    "SQLiteComplaintStore",
    "Status",
    "Subject",
    "SubjectKind",
    "UnknownCaseError",
    "nearest_rank",
    "open_store",
    "parse_report",
    "report_response",
]


def __getattr__(name: str) -> Any:  # noqa: ANN401 - the lazily imported store class
    if name == "PostgresComplaintStore":
        from childsafe.complaints._postgres import PostgresComplaintStore  # noqa: PLC0415

        return PostgresComplaintStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
