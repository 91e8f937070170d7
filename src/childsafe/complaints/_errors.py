"""The errors of the complaints desk.

::

    ChildsafeError
    ├── ComplaintError (ValueError)           a complaint or a lifecycle step is wrong
    │   ├── InvalidComplaintError              a report's fields fail validation (all listed)
    │   ├── InvalidTransitionError             a step the case's state does not allow
    │   └── UnknownCaseError (LookupError)     no case has that id
    └── ComplaintStoreError (RuntimeError)    the store failed or was changed concurrently

.. versionadded:: 0.2.0
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from childsafe.exceptions import ChildsafeError

__all__ = [
    "ComplaintError",
    "ComplaintStoreError",
    "FieldProblem",
    "InvalidComplaintError",
    "InvalidTransitionError",
    "UnknownCaseError",
]


class ComplaintError(ChildsafeError, ValueError):
    """A complaint, or a step in a case's lifecycle, is not acceptable."""


@attrs.frozen
class FieldProblem:
    """One problem with a report: ``field`` is the dotted path (``subject.kind``)."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class InvalidComplaintError(ComplaintError):
    """A report failed validation; ``problems`` lists every problem found."""

    def __init__(self, problems: Iterable[FieldProblem]) -> None:
        self.problems: tuple[FieldProblem, ...] = tuple(problems)
        if len(self.problems) == 1:
            msg = f"invalid report: {self.problems[0]}"
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            msg = f"invalid report, {len(self.problems)} problems:\n{lines}"
        super().__init__(msg)


class InvalidTransitionError(ComplaintError):
    """A lifecycle step that the case's current state does not allow.

    ``case_id``, ``state`` and ``step`` say which case, where it stands and what was
    asked of it."""

    def __init__(self, case_id: str, state: str, step: str, allowed: Iterable[str]) -> None:
        self.case_id = case_id
        self.state = state
        self.step = step
        froms = ", ".join(sorted(allowed))
        super().__init__(f"case {case_id!r} is {state!r}: cannot {step} (only from {froms})")


class UnknownCaseError(ComplaintError, LookupError):
    """No case has the id asked for."""

    def __init__(self, case_id: str) -> None:
        self.case_id = case_id
        super().__init__(f"no complaint case has the id {case_id!r}")


class ComplaintStoreError(ChildsafeError, RuntimeError):
    """The complaint store could not be read or written, or the case changed under
    the caller (another process took the step first): nothing was written."""
