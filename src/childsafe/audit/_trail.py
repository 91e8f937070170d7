"""The audit trail: what the app talks to.

>>> from childsafe import Account, Guard
>>> from childsafe.audit import AuditTrail, CheckpointSigner, MemoryCheckpoints, Pseudonymiser
>>> trail = AuditTrail(
...     "memory:",
...     pseudonymiser=Pseudonymiser({"k1": bytes(32)}),
...     signer=CheckpointSigner.generate(),
...     checkpoints=MemoryCheckpoints(),
... )
>>> guard = Guard()
>>> trail.attach(guard)  # records the policy in force and registers trail.sink
>>> kid = Account(id="k1", band="13_15", jurisdiction="GB")
>>> guard.check("dm.send", actor=Account(id="a1", band="adult"), target=kid).allowed
False
>>> guard.flush_events() and trail.flush()
True
>>> trail.denials_by_reason()
{'not_connected': 1}
>>> trail.close()
>>> trail.verify().status
'valid'
"""

from __future__ import annotations

import datetime as dt
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from childsafe._diff import diff_policies
from childsafe._parsing import shown
from childsafe.audit._checkpoints import (
    Checkpoint,
    CheckpointSigner,
    CheckpointSink,
    DirectoryCheckpoints,
)
from childsafe.audit._config import AuditConfig
from childsafe.audit._errors import AuditError, AuditRecordError
from childsafe.audit._pseudonyms import Pseudonymiser
from childsafe.audit._records import (
    KINDS,
    OWN_KINDS,
    AuditRecord,
    decode_record,
    encode_event,
    make_draft,
    to_micros,
)
from childsafe.audit._stores import AuditStore, open_store
from childsafe.audit._verify import VerifyReport, verify_chain
from childsafe.audit._writer import (
    AuditStats,
    AuditTicket,
    MetricHook,
    Writer,
    check_timeout,
    log,
)
from childsafe.events import DecisionEvent, policy_version

if TYPE_CHECKING:
    from childsafe._engine import Guard
    from childsafe._model import Account
    from childsafe._policy import Policy
    from childsafe.parental import ConsentGrant

__all__ = ["AuditTrail"]


def _texts(**fields: object) -> None:
    """The ``record_*`` methods' named fields are non-empty strings: a complaint id of
    ``None`` or a category of ``5`` went into the chain as it was."""
    for name, value in fields.items():
        if not isinstance(value, str) or not value:
            raise AuditRecordError(f"{name}: expected a non-empty string, got {shown(value)}")


def _aware(value: dt.datetime | None, name: str) -> int | None:
    if value is None:
        return None
    given: object = value
    if not isinstance(given, dt.datetime) or given.tzinfo is None:
        raise AuditRecordError(f"{name}: expected an aware datetime, got {value!r}")
    return to_micros(given)


def _kind(value: object, name: str) -> str:
    """A record kind asked for by name: a typo would otherwise count or list nothing."""
    if value not in KINDS:
        raise AuditRecordError(f"{name}: unknown record kind {value!r}; expected one of {KINDS}")
    return value


def _kinds(value: Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    given: object = value
    if isinstance(given, str | bytes) or not isinstance(given, Sequence | set | frozenset):
        raise AuditRecordError(f"kinds: expected a list of record kinds, got {value!r}")
    return [_kind(kind, f"kinds[{i}]") for i, kind in enumerate(given)]


def _account(value: str | None) -> str | None:
    given: object = value
    if given is not None and (not isinstance(given, str) or not given):
        raise AuditRecordError(f"account: expected a non-empty string, got {value!r}")
    return value


def _policy_data(policy: Policy) -> dict[str, Any]:
    rules = policy.rules_for(None)
    return {
        "version": policy_version(policy),
        "source": policy.source,
        "unknown_age": policy.unknown_age.value,
        "jurisdictions": sorted(policy.jurisdictions),
        "rules": {
            band.value: {
                name: {
                    "default": _setting_text(rule.default),
                    "floor": _setting_text(rule.floor),
                    "changeable_by": str(rule.changeable_by),
                    "prompt_on_loosen": rule.prompt_on_loosen,
                }
                for name, rule in by_setting.items()
            }
            for band, by_setting in rules.items()
        },
    }


def _setting_text(value: object) -> str | int | bool:
    if isinstance(value, bool | int | str):
        return value
    return "none" if value is None else str(value)


class AuditTrail:
    """A hash-chained, checkpointed audit trail over one store.

    ``store`` is an :class:`~childsafe.audit.AuditStore` or a URL
    (``sqlite:///audit.db``, ``postgresql://...``). ``pseudonymiser`` turns account ids
    into pseudonyms before anything is written. ``signer`` and ``checkpoints`` (a
    :class:`~childsafe.audit.CheckpointSink` or a directory) sign checkpoints outside
    the store; without them every record stays *unanchored*. ``on_metric`` receives
    counters (see :data:`~childsafe.audit.MetricHook`). ``sample`` draws the number that
    decides whether an allow is recorded (``random.random`` by default).

    Register :meth:`sink` on a guard (or call :meth:`attach`) to record decisions and
    setting changes; record the rest with the ``record_*`` methods, which return an
    :class:`~childsafe.audit.AuditTicket` to wait on when the caller needs the record
    committed. :meth:`close` at shutdown commits what is queued and signs a last
    checkpoint.
    """

    def __init__(
        self,
        store: AuditStore | str,
        *,
        pseudonymiser: Pseudonymiser,
        signer: CheckpointSigner | None = None,
        checkpoints: CheckpointSink | str | os.PathLike[str] | None = None,
        config: AuditConfig | None = None,
        on_metric: MetricHook | None = None,
        sample: Callable[[], float] | None = None,
    ) -> None:
        if not isinstance(pseudonymiser, Pseudonymiser):
            raise AuditError(f"pseudonymiser: expected a Pseudonymiser, got {pseudonymiser!r}")
        if (signer is None) != (checkpoints is None):
            raise AuditError(
                "give both signer= and checkpoints= (checkpoints are signed and kept outside "
                "the store), or neither (every record then stays unanchored)"
            )
        self._owns_store = isinstance(store, str)
        self.store: AuditStore = open_store(store) if isinstance(store, str) else store
        self.pseudonymiser = pseudonymiser
        self.signer = signer
        self.checkpoints: CheckpointSink | None = (
            DirectoryCheckpoints(checkpoints)
            if isinstance(checkpoints, str | os.PathLike)
            else checkpoints
        )
        self.config = config if config is not None else AuditConfig()
        self._sample = sample if sample is not None else random.random
        self._chain = self.store.chain_id()
        self._writer = Writer(
            self.store,
            self.config,
            on_metric=on_metric,
            after_commit=self._after_commit,
            on_idle=self._on_idle,
        )
        self._cp_lock = threading.Lock()
        self._since_checkpoint = 0
        self._last_checkpoint = time.monotonic()

    # -- recording ---------------------------------------------------------------

    @property
    def chain_id(self) -> str:
        """The chain's id."""
        return self._chain

    def _ref(self, account: Account | str | None) -> tuple[str | None, str | None, str | None]:
        """An account (or a bare id) as pseudonym, band, jurisdiction."""
        if account is None:
            return None, None, None
        if isinstance(account, str):
            return self.pseudonymiser.pseudonym(account), None, None
        return (
            self.pseudonymiser.pseudonym(account.id),
            account.band.value,
            account.jurisdiction,
        )

    def record(
        self,
        kind: str,
        *,
        actor: Account | str | None = None,
        target: Account | str | None = None,
        data: Mapping[str, Any] | None = None,
        time: dt.datetime | None = None,
    ) -> AuditTicket:
        """Record one event of ``kind`` (the ``record_*`` methods call this). Account
        ids are pseudonymised; ``data`` must be JSON-safe (integers, not floats). The
        trail's own kinds (``checkpoint``, ``sampling``, ``retention``) are refused: a
        checkpoint record with no signed checkpoint behind it, or a retention record
        nobody ran, would make the chain fail verification or misstate it."""
        if kind in OWN_KINDS:
            raise AuditRecordError(
                f"kind: {kind!r} records are written by the trail itself, not through record()"
            )
        return self._record(kind, actor=actor, target=target, data=data, time=time)

    def _record(
        self,
        kind: str,
        *,
        actor: Account | str | None = None,
        target: Account | str | None = None,
        data: Mapping[str, Any] | None = None,
        time: dt.datetime | None = None,
    ) -> AuditTicket:
        actor_id, actor_band, actor_place = self._ref(actor)
        target_id, target_band, target_place = self._ref(target)
        draft = make_draft(
            kind,
            time=time or dt.datetime.now(dt.UTC),
            actor=actor_id,
            target=target_id,
            bands={"actor": actor_band, "target": target_band},
            jurisdictions={"actor": actor_place, "target": target_place},
            data=data,
        )
        ticket = self._writer.put(draft)
        assert ticket is not None  # only sampled allows are ever dropped
        return ticket

    def sink(self, event: DecisionEvent) -> None:
        """The decision-event sink: ``guard.add_sink(trail.sink)``. Denials, setting
        changes and allows the account holder confirmed after a safety prompt (reason
        ``confirmed``: the transparency report counts them) are always recorded; other
        allows with probability ``allow_sample_rate`` (the others are counted in
        ``sampling`` records)."""
        if event.kind == "decision" and event.allowed and event.reason != "confirmed":
            rate = self.config.allow_sample_rate
            if rate < 1 and (rate <= 0 or self._sample() >= rate):
                self._writer.sampled_out()
                return
            critical = False
        else:
            critical = True
        pseudonym = self.pseudonymiser.pseudonym
        actor, target = event.actor_id, event.target_id
        draft = encode_event(
            event,
            None if actor is None else pseudonym(actor),
            None if target is None else pseudonym(target),
            critical,
        )
        self._writer.put(draft, receipt=False)

    def attach(self, guard: Guard) -> None:
        """Record ``guard``'s policy (``policy_load``) and register :meth:`sink` on it."""
        self.record_policy_load(guard.policy)
        guard.add_sink(self.sink)

    def record_policy_load(self, policy: Policy, *, note: str | None = None) -> AuditTicket:
        """A policy was loaded: its version, source and platform-wide rules."""
        return self.record("policy_load", data={**_policy_data(policy), "note": note})

    def record_policy_change(
        self,
        old: Policy,
        new: Policy,
        *,
        jurisdiction: str | None = None,
        note: str | None = None,
    ) -> AuditTicket:
        """``old`` was replaced by ``new`` (call it with :meth:`Guard.reload
        <childsafe.Guard.reload>`): both versions and the diff of their rules."""
        diff = diff_policies(old, new, jurisdiction=jurisdiction)
        return self.record(
            "policy_change",
            data={
                "old_version": policy_version(old),
                "version": policy_version(new),
                "diff": diff.to_dict(),
                "note": note,
            },
        )

    def record_consent_grant(
        self, grant: ConsentGrant, *, child: Account | None = None
    ) -> AuditTicket:
        """A guardian granted consent (a verified :class:`~childsafe.parental.ConsentGrant`)."""
        return self.record(
            "consent_grant",
            actor=grant.guardian,
            target=child if child is not None else grant.child,
            data={
                "grant": grant.id,
                "scope": str(grant.scope),
                "issued_at": grant.issued_at.isoformat(),
                "expires_at": grant.expires_at.isoformat(),
            },
        )

    def record_consent_revoke(
        self, grant: ConsentGrant, *, by: Account | str | None = None
    ) -> AuditTicket:
        """A consent grant was revoked (by the guardian, unless ``by`` says who)."""
        return self.record(
            "consent_revoke",
            actor=by if by is not None else grant.guardian,
            target=grant.child,
            data={"grant": grant.id, "scope": str(grant.scope)},
        )

    def record_signal_flag(
        self,
        account: Account | str,
        signal: str,
        *,
        score: int | None = None,
        other: Account | str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> AuditTicket:
        """A risk signal flagged ``account`` (``other``: the account it concerns)."""
        _texts(signal=signal)
        return self.record(
            "signal_flag",
            actor=account,
            target=other,
            data={"signal": signal, "score": score, **(data or {})},
        )

    def record_case_outcome(
        self,
        case: str,
        outcome: str,
        *,
        account: Account | str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> AuditTicket:
        """A case (a complaint or a flag under review) reached ``outcome``."""
        _texts(case=case, outcome=outcome)
        return self.record(
            "case_outcome", target=account, data={"case": case, "outcome": outcome, **(data or {})}
        )

    def record_complaint(
        self,
        complaint: str,
        *,
        category: str,
        status: str = "received",
        reporter: Account | str | None = None,
        subject: Account | str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> AuditTicket:
        """A complaint was received or changed ``status``."""
        _texts(complaint=complaint, category=category, status=status)
        return self.record(
            "complaint",
            actor=reporter,
            target=subject,
            data={"complaint": complaint, "category": category, "status": status, **(data or {})},
        )

    # -- writer ------------------------------------------------------------------

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every record so far is committed; whether it was in time."""
        return self._writer.flush(check_timeout("AuditTrail.flush", timeout))

    def stats(self) -> AuditStats:
        """What the writer has done so far."""
        return self._writer.stats()

    def close(self, timeout: float = 30.0) -> None:
        """Commit what is queued, sign a last checkpoint and stop the writer; raises
        :class:`~childsafe.audit.AuditUnavailableError` when records could not be
        committed."""
        check_timeout("AuditTrail.close", timeout)
        try:
            self._writer.close(timeout)
        finally:
            if self._since_checkpoint and self.signer is not None:
                try:
                    self.checkpoint()
                except AuditError:
                    log.exception("childsafe audit: the closing checkpoint failed")
            if self._owns_store:
                self.store.close()

    # -- checkpoints ---------------------------------------------------------------

    def _after_commit(self, count: int) -> None:
        self._since_checkpoint += count
        if self.signer is not None and (
            self._since_checkpoint >= self.config.checkpoint_every
            or time.monotonic() - self._last_checkpoint >= self.config.checkpoint_interval
        ):
            self.checkpoint()

    def _on_idle(self) -> None:
        if (
            self.signer is not None
            and self._since_checkpoint
            and time.monotonic() - self._last_checkpoint >= self.config.checkpoint_interval
        ):
            self.checkpoint()

    def checkpoint(self) -> Checkpoint | None:
        """Append a ``checkpoint`` record, sign a checkpoint of it and write that to the
        checkpoint sink; the checkpoint (``None`` without a signer)."""
        signer, sink = self.signer, self.checkpoints
        if signer is None or sink is None:
            return None
        with self._cp_lock:
            try:
                draft = make_draft(
                    "checkpoint", time=dt.datetime.now(dt.UTC), data={"key_id": signer.key_id}
                )
                (stored,) = self.store.append([draft])
                checkpoint = signer.sign(self._chain, stored.seq, stored.hash)
                sink.write(checkpoint, signer.public_key)
            except AuditError:
                self._writer.metric("audit.checkpoint_error")
                raise
            self._since_checkpoint = 0
            self._last_checkpoint = time.monotonic()
        self._writer.metric("audit.checkpoint")
        return checkpoint

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """The keys that verify this trail's checkpoints: the signer's, else the sink's."""
        if self.signer is not None:
            return {self.signer.key_id: self.signer.public_key}
        return self.checkpoints.public_keys() if self.checkpoints is not None else {}

    def verify(
        self,
        *,
        keys: Mapping[str, Ed25519PublicKey] | None = None,
        witness: Checkpoint | None = None,
    ) -> VerifyReport:
        """Verify the whole store against the checkpoints (see
        :func:`~childsafe.audit.verify_chain`)."""
        checkpoints = self.checkpoints.read() if self.checkpoints is not None else []
        return verify_chain(
            self.store,
            checkpoints,
            keys if keys is not None else self.public_keys(),
            witness=witness,
        )

    # -- retention ---------------------------------------------------------------

    def enforce_retention(self, now: dt.datetime | None = None) -> int:
        """Drop the oldest checkpointed segments whose every record is past its kind's
        retention period; how many records were dropped. A ``retention`` record naming
        the signed checkpoint the rest now starts from is appended first, so the kept
        records still verify."""
        moment = now or dt.datetime.now(dt.UTC)
        _aware(moment, "now")
        if self.checkpoints is None:
            return 0
        signed = {c.seq: c for c in self.checkpoints.read() if c.chain == self._chain}
        first = next(iter(self.store.scan()), None)
        if first is None:
            return 0
        through: int | None = None
        start = first.seq
        for seq in sorted(s for s in signed if s >= start):
            expired = all(
                decode_record(row).time + self.config.retention_period(row.kind) < moment
                for row in self.store.scan(start, seq)
            )
            if not expired:
                break
            through, start = seq, seq + 1
        if through is None:
            return 0
        anchor = signed[through]
        self._record(
            "retention",
            data={
                "dropped_through": through,
                "anchor_hash": anchor.hash,
                "key_id": anchor.key_id,
            },
        ).wait(self.config.block_timeout + 30)
        dropped = self.store.drop_through(through)
        log.info("childsafe audit: retention dropped records through %d (%d)", through, dropped)
        return dropped

    # -- queries -----------------------------------------------------------------

    def count(
        self, kind: str, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> int:
        """How many records of ``kind`` have a time in ``[since, until)``; an unknown
        kind raises :class:`~childsafe.audit.AuditRecordError`."""
        return self.store.count(_kind(kind, "kind"), _aware(since, "since"), _aware(until, "until"))

    def denials_by_reason(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> dict[str, int]:
        """Refused decisions in ``[since, until)``, by reason code."""
        return self.store.count_denials(_aware(since, "since"), _aware(until, "until"))

    def allows_not_recorded(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> int:
        """Allowed decisions not recorded (sampled out or dropped) per the ``sampling``
        records written in ``[since, until)``."""
        total = 0
        for record in self.records(since=since, until=until, kinds=["sampling"]):
            for key in ("allows_sampled_out", "allows_dropped"):
                value = record.data.get(key)
                total += value if isinstance(value, int) else 0
        return total

    def records(
        self,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        account: str | None = None,
        kinds: Sequence[str] | None = None,
    ) -> Iterator[AuditRecord]:
        """The records with a time in ``[since, until)``, of ``kinds``, where
        ``account`` (the platform's id; looked up under every pseudonymisation key) is
        the actor or the target; by ``seq``. An unknown kind, or ``kinds`` given as one
        string, raises :class:`~childsafe.audit.AuditRecordError` before anything is
        read."""
        since_us, until_us = _aware(since, "since"), _aware(until, "until")
        kinds = _kinds(kinds)
        account = _account(account)
        accounts = None if account is None else list(self.pseudonymiser.candidates(account))
        rows = self.store.select(
            since_us=since_us, until_us=until_us, kinds=kinds, accounts=accounts
        )
        return (decode_record(row) for row in rows)

    def export(
        self,
        path: str | os.PathLike[str],
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        account: str | None = None,
    ) -> dict[str, Any]:
        """Write a bundle for an investigation to ``path`` (see
        :func:`~childsafe.audit.export_bundle`); the bundle's summary."""
        from childsafe.audit._export import export_bundle, write_bundle  # noqa: PLC0415

        account = _account(account)
        accounts = None if account is None else list(self.pseudonymiser.candidates(account))
        bundle = export_bundle(
            self.store,
            self.checkpoints.read() if self.checkpoints is not None else [],
            self.public_keys(),
            since=since,
            until=until,
            accounts=accounts,
        )
        write_bundle(bundle, Path(path))
        summary: dict[str, Any] = bundle["summary"]
        return summary
