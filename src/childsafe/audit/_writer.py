"""The background writer: records leave the caller's thread at once and are committed
in batches, one transaction per batch.

A record is *acknowledged* when its batch has committed: :meth:`AuditTicket.wait`
returns it then, never before. A store that fails is retried, with pauses doubling up to
``retry_max_delay``, for as long as the process lives; meanwhile new records wait in a
bounded buffer. When the buffer is full a sampled allow is dropped (and counted); every
other record waits up to ``block_timeout`` seconds for room and then raises
:class:`~childsafe.audit.AuditUnavailableError`, so the app knows. Each failure is
logged and reported to the metric hook.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Final

import attrs

from childsafe._durations import seconds_problem
from childsafe.audit._config import AuditConfig
from childsafe.audit._errors import AuditUnavailableError
from childsafe.audit._records import AuditRecord, Draft, StoredRecord, decode_record, make_draft
from childsafe.audit._stores import AuditStore
from childsafe.exceptions import ConfigProblem, ConfigurationError

__all__ = ["AuditStats", "AuditTicket", "MetricHook"]

_LONGEST_WAIT: Final = 86_400.0


def check_timeout(call: str, timeout: object) -> float:
    """A wait's ``timeout``: a finite number of seconds from 0 to a day. NaN made
    ``close`` raise ``ValueError`` before the writer stopped (and the store was closed
    under it), 10**30 s an ``OverflowError`` from the clock."""
    problem = seconds_problem(timeout, positive=False, maximum=_LONGEST_WAIT)
    if problem is not None:
        raise ConfigurationError([ConfigProblem(f"<{call}>", "timeout", problem)])
    return float(timeout)  # type: ignore[arg-type]


log = logging.getLogger("childsafe.audit")

MetricHook = Callable[[str, int], object]
"""Called with a metric name and an amount: ``audit.committed``, ``audit.store_error``,
``audit.dropped`` (sampled allows dropped, buffer full), ``audit.buffer_full`` (a record
had to wait for room), ``audit.unavailable`` (a record was refused),
``audit.checkpoint`` and ``audit.checkpoint_error``."""

_SAMPLING_EVERY: Final = 1.0


@attrs.frozen
class AuditStats:
    """What the trail's writer has done: records ``committed``, ``pending`` (waiting
    for the store), allows ``sampled_out`` (not recorded by design) and ``dropped``
    (not recorded because the buffer was full), ``store_failures`` (failed attempts to
    commit) and, while the store is failing, since when and the ``last_error``."""

    committed: int
    pending: int
    sampled_out: int
    dropped: int
    store_failures: int
    failing_since: dt.datetime | None
    last_error: str | None


class AuditTicket:
    """The receipt of one record: :meth:`wait` returns it once committed."""

    __slots__ = ("_failed", "_n", "_stored", "_writer")

    def __init__(self, writer: Writer, n: int) -> None:
        self._writer = writer
        self._n = n
        self._stored: StoredRecord | None = None
        self._failed = False

    @property
    def committed(self) -> bool:
        """Whether the record is committed (acknowledged)."""
        return self._stored is not None

    def wait(self, timeout: float = 5.0) -> AuditRecord:
        """The committed record, waiting at most ``timeout`` seconds; raises
        :class:`~childsafe.audit.AuditUnavailableError` if it was not committed by then."""
        check_timeout("AuditTicket.wait", timeout)
        self._writer.wait_for(self._n, timeout)
        stored = self._stored
        if stored is None:
            raise AuditUnavailableError(
                f"the audit record was not committed within {timeout} s"
                + self._writer.failure_note()
            )
        return decode_record(stored)


class Writer:
    """One thread committing a bounded buffer of drafts to ``store`` in batches."""

    def __init__(
        self,
        store: AuditStore,
        config: AuditConfig,
        *,
        on_metric: MetricHook | None,
        after_commit: Callable[[int], None],
        on_idle: Callable[[], None],
    ) -> None:
        self.store = store
        self.config = config
        self._metric = on_metric
        self._after_commit = after_commit
        self._on_idle = on_idle
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)
        self._committed_cond = threading.Condition(self._lock)
        # The queue: drafts and their tickets (None: no receipt) side by side, so the
        # writer hands whole lists to the store without unpacking pairs.
        self._items: list[Draft] = []
        self._tickets: list[AuditTicket | None] = []
        self._enqueued = 0
        self._done = 0  # tickets settled (committed or failed), in order
        self._committed = 0
        self._sampled_out = 0
        self._dropped = 0
        self._unreported = [0, 0]  # sampled out, dropped: not yet in a sampling record
        self._since = time.time()
        self._last_sampling = time.monotonic()
        self._failures = 0
        self._failing_since: dt.datetime | None = None
        self._last_error: str | None = None
        self._closing = False
        self._abandon = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # -- callers -----------------------------------------------------------------

    def metric(self, name: str, amount: int = 1) -> None:
        hook = self._metric
        if hook is not None:
            try:
                hook(name, amount)
            except Exception:
                log.exception("childsafe audit: the metric hook raised on %s", name)

    def failure_note(self) -> str:
        with self._lock:
            if self._last_error is None:
                return ""
            since = self._failing_since.isoformat() if self._failing_since else "?"
            return f"; the store has been failing since {since}: {self._last_error}"

    def sampled_out(self) -> None:
        with self._lock:
            self._sampled_out += 1
            self._unreported[0] += 1

    def put(self, draft: Draft, *, receipt: bool = True) -> AuditTicket | None:
        """Queue ``draft``; its ticket (``None`` without ``receipt``, or when it was a
        sampled allow dropped for lack of room)."""
        if self._thread is None:
            self._start()
        with self._lock:
            if self._closing:
                raise AuditUnavailableError("the audit trail is closed")
            if len(self._items) >= self.config.buffer_size:
                if not draft.critical:
                    self._dropped += 1
                    self._unreported[1] += 1
                    dropped = self._dropped
                    full = True
                else:
                    full = False
                    self._lock.release()
                    try:
                        self.metric("audit.buffer_full")
                    finally:
                        self._lock.acquire()
                    deadline = time.monotonic() + self.config.block_timeout
                    while len(self._items) >= self.config.buffer_size and not self._closing:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            break
                        self._not_full.wait(remaining)
                    if len(self._items) >= self.config.buffer_size or self._closing:
                        note = self._note_locked()
                        self._lock.release()
                        try:
                            self.metric("audit.unavailable")
                        finally:
                            self._lock.acquire()
                        raise AuditUnavailableError(
                            f"the audit buffer stayed full ({self.config.buffer_size} records) "
                            f"for {self.config.block_timeout} s; the {draft.kind} record was "
                            f"not accepted{note}"
                        )
                if full:
                    if dropped == 1 or dropped % 1000 == 0:
                        log.error(
                            "childsafe audit: buffer full; %d sampled allows dropped", dropped
                        )
                    self._lock.release()
                    try:
                        self.metric("audit.dropped")
                    finally:
                        self._lock.acquire()
                    return None
            self._enqueued += 1
            ticket = AuditTicket(self, self._enqueued) if receipt else None
            self._items.append(draft)
            self._tickets.append(ticket)
            if len(self._items) == 1:
                self._not_empty.notify()
            return ticket

    def _note_locked(self) -> str:
        if self._last_error is None:
            return ""
        since = self._failing_since.isoformat() if self._failing_since else "?"
        where = self.store.description
        return f"; the store {where} has been failing since {since}: {self._last_error}"

    def wait_for(self, n: int, timeout: float) -> bool:
        with self._lock:
            return self._committed_cond.wait_for(lambda: self._done >= n, timeout)

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued so far is committed; whether it was."""
        with self._lock:
            target = self._enqueued
            return self._committed_cond.wait_for(lambda: self._done >= target, timeout)

    def stats(self) -> AuditStats:
        with self._lock:
            return AuditStats(
                committed=self._committed,
                pending=self._enqueued - self._done,
                sampled_out=self._sampled_out,
                dropped=self._dropped,
                store_failures=self._failures,
                failing_since=self._failing_since,
                last_error=self._last_error,
            )

    def close(self, timeout: float) -> None:
        """Commit what is queued (at most ``timeout`` seconds) and stop; raises
        :class:`~childsafe.audit.AuditUnavailableError` when records were left
        uncommitted because the store kept failing."""
        with self._lock:
            self._closing = True
            self._not_empty.notify_all()
            self._not_full.notify_all()
        thread = self._thread
        if thread is None:
            return
        self._wake.set()
        thread.join(timeout)
        if thread.is_alive():
            self._abandon.set()
            self._wake.set()
            thread.join(5.0)
        with self._lock:
            lost = self._enqueued - self._committed
        if lost:
            raise AuditUnavailableError(
                f"{lost} audit records were not committed before the trail closed"
                + self.failure_note()
            )

    # -- the thread ----------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="childsafe-audit", daemon=True)
            self._thread.start()

    def _take(self) -> tuple[list[Draft], list[AuditTicket | None]] | None:
        with self._lock:
            if not self._items and not self._closing:
                self._not_empty.wait(_SAMPLING_EVERY)
            if not self._items:
                return None if self._closing else ([], [])
            size = self.config.batch_size
            drafts, tickets = self._items[:size], self._tickets[:size]
            del self._items[:size], self._tickets[:size]
            self._not_full.notify_all()
            return drafts, tickets

    def _sampling_draft(self, force: bool) -> Draft | None:
        now = time.monotonic()
        with self._lock:
            sampled_out, dropped = self._unreported
            if (sampled_out, dropped) == (0, 0):
                return None
            if not force and now - self._last_sampling < _SAMPLING_EVERY:
                return None
            self._unreported = [0, 0]
            start, self._since = self._since, time.time()
            self._last_sampling = now
        return make_draft(
            "sampling",
            time=dt.datetime.now(dt.UTC),
            data={
                "allows_sampled_out": sampled_out,
                "allows_dropped": dropped,
                "from": dt.datetime.fromtimestamp(start, dt.UTC).isoformat(),
                "sample_rate_ppm": round(self.config.allow_sample_rate * 1_000_000),
            },
        )

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                sampling = self._sampling_draft(force=True)
                if sampling is not None:
                    self._commit([sampling], [])
                return
            # A sampling record, when one is due, goes first: the records queued meanwhile
            # are added after the batch's (see _grower).
            sampling = self._sampling_draft(force=False)
            drafts, tickets = batch
            if sampling is not None:
                drafts.insert(0, sampling)
            if drafts:
                self._commit(drafts, tickets)
            if not tickets:
                try:
                    self._on_idle()
                except Exception:
                    log.exception("childsafe audit: the idle step failed")

    def _grower(self, drafts: list[Draft], tickets: list[AuditTicket | None]) -> Callable[[], None]:
        """What a store that supports it (``append_growing``) calls once it holds the
        write lock: the records queued while it waited join the batch, up to
        ``batch_size``, so writers that take turns on one store commit bigger batches
        (fewer transactions, and each index page written once for more records)."""

        def grow() -> None:
            room = self.config.batch_size - len(drafts)
            if room <= 0:
                return
            with self._lock:
                if not self._items:
                    return
                drafts.extend(self._items[:room])
                tickets.extend(self._tickets[:room])
                del self._items[:room], self._tickets[:room]
                self._not_full.notify_all()

        return grow

    def _commit(self, drafts: list[Draft], tickets: list[AuditTicket | None]) -> None:
        """Commit ``drafts``: the trail's own records first (none, or a sampling
        record), then one per ticket, in order; retried until it works."""
        delay = 0.05
        growing = getattr(self.store, "append_growing", None) if tickets else None
        grow = self._grower(drafts, tickets)
        while True:
            try:
                sealed = self.store.append(drafts) if growing is None else growing(drafts, grow)
                break
            except Exception as e:  # noqa: BLE001 - any failure is retried, never lost
                with self._lock:
                    self._failures += 1
                    self._last_error = str(e)
                    if self._failing_since is None:
                        self._failing_since = dt.datetime.now(dt.UTC)
                log.error(  # noqa: TRY400 - the error is the message; no trace needed
                    "childsafe audit: cannot commit %d records to %s (retrying in %.2f s): %s",
                    len(drafts),
                    self.store.description,
                    delay,
                    e,
                )
                self.metric("audit.store_error")
                if self._abandon.is_set():
                    with self._lock:
                        for ticket in tickets:
                            if ticket is not None:
                                ticket._failed = True  # noqa: SLF001 - the writer settles them
                        self._done += len(tickets)
                        self._committed_cond.notify_all()
                    return
                self._wake.wait(delay)
                self._wake.clear()
                delay = min(delay * 2, self.config.retry_max_delay)
        count = len(sealed)
        own = count - len(tickets)  # the trail's own records come first
        for i, ticket in enumerate(tickets, own):
            if ticket is not None:
                ticket._stored = sealed[i]  # noqa: SLF001 - the writer settles tickets
        with self._lock:
            self._committed += len(tickets)
            self._done += len(tickets)
            self._failing_since = None
            self._last_error = None
            self._committed_cond.notify_all()
        self.metric("audit.committed", count)
        try:
            self._after_commit(count)
        except Exception:
            log.exception("childsafe audit: after-commit step failed")
