"""The exceptions childsafe raises.

Every exception derives from :class:`ChildsafeError`, and each also derives from the
built-in it refines, so ``except ValueError`` keeps working::

    ChildsafeError
    ├── ConfigurationError (ValueError)   a policy or config file is wrong; lists every problem
    ├── InvalidAgeError (ValueError)      an age or birth date cannot be turned into a band
    ├── InvalidAccountError (ValueError)  an account or relationship field of the wrong type
    │                                      or value (jurisdiction, time zone, setting, flag)
    ├── InvalidSettingError (ValueError)  an unknown setting or a value outside its domain
    ├── InvalidCheckError (ValueError)    a ``Guard`` call lacks what the action needs
    │   └── UnknownActionError             ``Guard.check`` was asked about an unknown action
    ├── InvalidScopeError (ValueError)    a consent scope that cannot be parsed
    └── MissingExtraError (ImportError)   an optional integration's extra is not installed

A *denial* is never an exception: :meth:`childsafe.Guard.check` returns a
:class:`childsafe.Decision` whose ``allowed`` is false.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = [
    "ChildsafeError",
    "ConfigProblem",
    "ConfigurationError",
    "InvalidAccountError",
    "InvalidAgeError",
    "InvalidCheckError",
    "InvalidScopeError",
    "InvalidSettingError",
    "MissingExtraError",
    "UnknownActionError",
]


class ChildsafeError(Exception):
    """Base class of every error childsafe raises."""


@attrs.frozen
class ConfigProblem:
    """One problem found in a policy config.

    ``source`` names the file (or ``"<mapping>"``), ``path`` the dotted location inside
    it (``bands.13_15.direct_messages.default``) and ``message`` what is wrong and what
    would be accepted.
    """

    source: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}: {self.path}" if self.path else self.source
        return f"{where}: {self.message}"


class ConfigurationError(ChildsafeError, ValueError):
    """A policy or config is invalid. ``problems`` lists *every* problem found."""

    def __init__(self, problems: Iterable[ConfigProblem]) -> None:
        self.problems: tuple[ConfigProblem, ...] = tuple(problems)
        if not self.problems:
            msg = "invalid configuration"
        elif len(self.problems) == 1:
            msg = str(self.problems[0])
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            msg = f"{len(self.problems)} problems in the childsafe configuration:\n{lines}"
        super().__init__(msg)


class InvalidAgeError(ChildsafeError, ValueError):
    """An age, birth date or reference date that cannot give an age band."""


class InvalidAccountError(ChildsafeError, ValueError):
    """An :class:`childsafe.Account` or :class:`childsafe.Relationship` field is malformed.

    .. versionchanged:: 0.2.0 Also raised for a ``Relationship`` flag that is not a bool.
    """


class InvalidSettingError(ChildsafeError, ValueError):
    """An unknown setting name, or a value outside the setting's domain."""


class InvalidCheckError(ChildsafeError, ValueError):
    """A :class:`childsafe.Guard` call is missing what the action needs (a target, an
    aware ``at`` time, a sensitivity level) or has a malformed argument."""


class UnknownActionError(InvalidCheckError):
    """:meth:`childsafe.Guard.check` was asked about an action it does not know."""


class InvalidScopeError(ChildsafeError, ValueError):
    """A consent scope is malformed or names no consent-based processing.

    .. versionadded:: 0.1.0
    """


class MissingExtraError(ChildsafeError, ImportError):
    """An optional integration was used without installing its extra."""
