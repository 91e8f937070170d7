from __future__ import annotations

import enum
from typing import Any, Literal

import attrs

from childsafe._bands import AgeBand
from childsafe._policy import Citation

__all__ = ["Decision", "Reason"]


class Reason(enum.StrEnum):
    """Stable reason codes carried by every :class:`Decision`.

    Codes never change meaning once released; new ones may be added.
    """

    #: The deciding setting permits the action.
    PERMITTED = "permitted"
    #: The account acts on itself.
    OWN_ACCOUNT = "own_account"
    #: One of the two accounts has blocked the other.
    BLOCKED = "blocked"
    #: The setting is off (``nobody``, ``off``, ``hidden``).
    SETTING_OFF = "setting_off"
    #: The setting allows connections only, and the accounts are not connected.
    NOT_CONNECTED = "not_connected"
    #: The setting requires a mutual connection, and there is none.
    NO_MUTUAL_CONNECTION = "no_mutual_connection"
    #: The account is not discoverable; a friend request needs its invite.
    NOT_INVITED = "not_invited"
    #: Group invites need the account holder's approval.
    APPROVAL_REQUIRED = "approval_required"
    #: A parent must approve (purchases).
    PARENT_APPROVAL_REQUIRED = "parent_approval_required"
    #: The time falls in the account's quiet hours.
    QUIET_HOURS = "quiet_hours"
    #: The content is more sensitive than the account's level allows.
    CONTENT_TOO_SENSITIVE = "content_too_sensitive"
    #: Adult-only content, and the account is not an adult.
    ADULT_ONLY = "adult_only"
    #: The accounts behind a request could not be loaded, so it fails closed.
    UNVERIFIABLE = "unverifiable"
    #: Consent-based processing (profiling, data sharing) for an account below its
    #: jurisdiction's age of digital consent, and no valid parental consent grant.
    PARENTAL_CONSENT_REQUIRED = "parental_consent_required"
    #: Allowed by a parent's consent grant (a ``dm.from`` grant for this connection, or
    #: a ``contact.add`` grant for this one request).
    PARENTAL_CONSENT = "parental_consent"
    #: Allowed once the account holder confirms a safety prompt: the decision is not
    #: allowed (and falsy) until the check is repeated with ``confirmed=True``.
    CONFIRMATION_REQUIRED = "confirmation_required"
    #: Allowed because the account holder saw the safety prompt and confirmed.
    CONFIRMED = "confirmed"
    #: A child below 13 asks to connect with (or follow) an adult who is not a connection:
    #: a linked parent must approve it first.
    PARENT_APPROVAL_TO_CONTACT = "parent_approval_to_contact"
    #: Allowed because the actor is a linked parent or guardian of the account.
    GUARDIAN = "guardian"
    #: Strict mode: the route declares no action, matches no route-table rule and is
    #: not exempt, so it is not served.
    UNDECLARED_ROUTE = "undeclared_route"
    #: The image matches a hash list of known abuse imagery the platform loaded: it is
    #: refused for every account, adults included, and never served.
    KNOWN_ABUSE_MATCH = "known_abuse_match"
    #: The body is not an image that could be read (undecodable, or not an image).
    MEDIA_UNREADABLE = "media_unreadable"
    #: The image may show nudity (or could not be checked) and the sender's
    #: ``sensitive_media_send`` is ``blocked``.
    SENSITIVE_MEDIA_BLOCKED = "sensitive_media_blocked"
    #: The image may show nudity (or could not be checked) and the viewer's
    #: ``sensitive_media_blur`` blurs it: shown once the viewer chooses to see it
    #: (``confirmed=True``).
    SENSITIVE_MEDIA_BLURRED = "sensitive_media_blurred"


@attrs.frozen(slots=True)
class Decision:
    """The answer to :meth:`childsafe.Guard.check`, with its reasons.

    ``reason`` is a stable code (:class:`Reason`); ``setting`` and ``value`` the setting
    that decided and its value; ``subject`` whose setting it was (``"actor"`` or
    ``"target"``) and ``band`` that account's band; ``citations`` the standards behind
    the rule; ``remedy`` what would make it allowed (``None`` when nothing can).
    A decision is truthy exactly when it is allowed.

    ``needs_confirmation`` is the third outcome: the action is allowed once the account
    holder confirms a safety prompt (reason :attr:`Reason.CONFIRMATION_REQUIRED`). Such
    a decision is *not* allowed, and is falsy, until the caller shows the prompt and
    repeats the check with ``confirmed=True``. :attr:`outcome` names the three.

    .. versionchanged:: 0.2.0 ``needs_confirmation`` and :attr:`outcome`.
    """

    allowed: bool
    action: str
    reason: Reason
    message: str
    setting: str | None = None
    value: str | None = None
    subject: str | None = None
    band: AgeBand | None = None
    citations: tuple[Citation, ...] = ()
    remedy: str | None = None
    needs_confirmation: bool = False

    def __bool__(self) -> bool:
        return self.allowed

    @property
    def outcome(self) -> Literal["allowed", "denied", "needs_confirmation"]:
        """``"allowed"``, ``"needs_confirmation"`` (allowed once the account holder
        confirms) or ``"denied"``."""
        if self.allowed:
            return "allowed"
        return "needs_confirmation" if self.needs_confirmation else "denied"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (citations as their labels and URLs)."""
        return {
            "allowed": self.allowed,
            "action": self.action,
            "reason": self.reason.value,
            "message": self.message,
            "setting": self.setting,
            "value": self.value,
            "subject": self.subject,
            "band": self.band.value if self.band is not None else None,
            "citations": [{"label": c.label, "url": c.url} for c in self.citations],
            "remedy": self.remedy,
            "needs_confirmation": self.needs_confirmation,
        }
