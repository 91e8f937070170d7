"""Errors of the signals package."""

from __future__ import annotations

from childsafe.exceptions import ChildsafeError

__all__ = ["SignalConfigError", "SignalEventError", "SignalListenerError", "SignalStoreError"]


class SignalConfigError(ChildsafeError, ValueError):
    """A signals parameter is invalid; the message names it and what is accepted."""


class SignalEventError(ChildsafeError, ValueError):
    """An event passed to :class:`~childsafe.signals.Signals` is invalid; the message
    names the call and the field."""


class SignalStoreError(ChildsafeError, RuntimeError):
    """The signals store could not be opened, read or written; the message names it."""


class SignalListenerError(ChildsafeError, RuntimeError):
    """One or more flag listeners raised. Every listener was still called with the
    flag (and, in a batch, with every later flag); the message names the failing
    listeners, the actor and the errors, the first of which is the ``__cause__``."""
