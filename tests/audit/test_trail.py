"""The trail: recording from the guard and by explicit calls, the background writer
(acknowledgement, retries, the bounded buffer), checkpoints, retention and queries."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from childsafe import Account, Guard, Policy, Relationship
from childsafe.audit import (
    AuditConfig,
    AuditError,
    AuditKeyError,
    AuditRecordError,
    AuditStore,
    AuditTicket,
    AuditTrail,
    AuditUnavailableError,
    ComplaintRecorder,
    MemoryAuditStore,
    PostgresAuditStore,
    Pseudonymiser,
    SQLiteAuditStore,
)
from childsafe.exceptions import ConfigurationError
from childsafe.parental import ConsentIssuer, ConsentVerifier, MemoryRevocationStore
from tests.audit.support import KEY, dispose, make_store, make_trail, needs_postgres

KID = Account(id="kid-1", band="13_15", jurisdiction="GB", guardians={"parent-1"})
ADULT = Account(id="adult-1", band="adult", jurisdiction="GB")
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


class TestFromTheGuard:
    def test_denials_always_allows_sampled(self, store: AuditStore) -> None:
        """Every denial is recorded; allows are sampled and the rest counted."""
        draws = iter([0.5, 0.05] * 10)
        trail = make_trail(
            store, config=AuditConfig(allow_sample_rate=0.1), sample=lambda: next(draws)
        )
        guard = Guard()
        trail.attach(guard)
        friend = Relationship(connected=True)
        for _ in range(3):
            guard.check("dm.send", actor=ADULT, target=KID)
        for _ in range(4):
            guard.check("dm.send", actor=ADULT, target=KID, relationship=friend)
        assert guard.flush_events()
        trail.close()
        assert trail.count("decision") == 3 + 2
        assert trail.denials_by_reason() == {"not_connected": 3}
        assert trail.allows_not_recorded() == 2
        assert trail.stats().sampled_out == 2
        assert trail.count("policy_load") == 1
        denial = next(r for r in trail.records(kinds=["decision"]) if r.denied)
        assert denial.actor == trail.pseudonymiser.pseudonym("adult-1")
        assert denial.target == trail.pseudonymiser.pseudonym("kid-1")
        assert "kid-1" not in repr(denial)
        assert denial.bands == {"actor": "adult", "target": "13_15"}
        assert denial.jurisdictions == {"actor": "GB", "target": "GB"}
        assert denial.data["action"] == "dm.send"
        assert denial.data["reason"] == "not_connected"
        assert trail.verify().status == "valid"

    def test_rates_zero_and_one(self) -> None:
        """A rate of 1 records every allow, 0 none."""
        for rate, expected in ((1.0, 2), (0.0, 0)):
            trail = make_trail(MemoryAuditStore(), config=AuditConfig(allow_sample_rate=rate))
            guard = Guard()
            guard.add_sink(trail.sink)
            for _ in range(2):
                guard.check(
                    "dm.send", actor=ADULT, target=KID, relationship=Relationship(connected=True)
                )
            assert guard.flush_events()
            trail.close()
            assert trail.count("decision") == expected

    def test_setting_changes_by_child_and_parent(self) -> None:
        """Setting changes, applied or refused, by the child or a parent, are recorded."""
        trail = make_trail(MemoryAuditStore())
        guard = Guard()
        guard.add_sink(trail.sink)
        guard.change_setting(KID, "direct_messages", "nobody")
        guard.change_setting(KID, "location_sharing", "public")
        guard.change_setting(KID, "direct_messages", "nobody", by="parent", guardian="parent-1")
        assert guard.flush_events()
        trail.close()
        changes = list(trail.records(kinds=["setting_change"]))
        assert [(r.data["by"], r.data["allowed"]) for r in changes] == [
            ("self", True),
            ("self", False),
            ("parent", True),
        ]
        assert changes[2].actor == trail.pseudonymiser.pseudonym("parent-1")
        assert trail.count("setting_change", since=NOW - dt.timedelta(days=3650)) == 3

    def test_lone_surrogates_are_recorded_not_lost(self, tmp_path: Path) -> None:
        """A denial for an account id holding a lone surrogate (a resolver reading it
        from JSON, which can carry ``"\\ud800"``) is recorded, found by the account and
        verified; it was lost when UTF-8 could not encode the id."""
        trail = make_trail(SQLiteAuditStore(tmp_path / "a.db"))
        guard = Guard()
        guard.add_sink(trail.sink)
        odd = Account(id="u-\ud800", band="adult", jurisdiction="GB")
        assert not guard.check("dm.send", actor=odd, target=KID).allowed
        assert guard.flush_events()
        trail.close()
        assert trail.denials_by_reason() == {"not_connected": 1}
        [denial] = trail.records(account="u-\ud800")
        assert denial.kind == "decision"
        assert trail.verify().status == "valid"

    def test_a_key_id_given_twice_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Two keys under one id in the environment: refused, not the first one dropped
        (and every record written under it made unfindable)."""
        one, two = secrets.token_bytes(32).hex(), secrets.token_bytes(32).hex()
        monkeypatch.setenv("CHILDSAFE_AUDIT_PSEUDONYM_KEYS", f"k1:{one},k1:{two}")
        with pytest.raises(AuditKeyError, match="key id 'k1' is given twice"):
            Pseudonymiser.from_env()


class TestExplicitRecords:
    def test_every_kind(self) -> None:
        """Policy loads and changes (with the diff), consent, signals, cases and
        complaints are recorded and found by account."""
        trail = make_trail(MemoryAuditStore())
        old = Policy.baseline()
        new = Policy.from_mapping({"bands": {"16_17": {"direct_messages": {"default": "nobody"}}}})
        trail.record_policy_load(old, note="start")
        change = trail.record_policy_change(old, new, note="stricter").wait()
        assert change.data["diff"]["tightens"] == 1
        assert change.data["version"] != change.data["old_version"]
        issuer = ConsentIssuer(KEY)
        verifier = ConsentVerifier(KEY, revocations=MemoryRevocationStore())
        grant = verifier.verify(issuer.issue(KID, "parent-1", "feed_personalisation:profiled"), KID)
        granted = trail.record_consent_grant(grant, child=KID).wait()
        assert granted.data["scope"] == "feed_personalisation:profiled"
        assert granted.bands == {"target": "13_15"}
        trail.record_consent_revoke(grant).wait()
        trail.record_signal_flag(ADULT, "many_minors_contacted", score=87, other=KID).wait()
        trail.record_case_outcome("case-1", "account_restricted", account=ADULT).wait()
        complaint = trail.record_complaint(
            "r-1", category="grooming", reporter=KID, subject="adult-1"
        ).wait()
        assert complaint.data == {"complaint": "r-1", "category": "grooming", "status": "received"}
        trail.close()
        kinds = [r.kind for r in trail.records(account="kid-1")]
        assert kinds == ["consent_grant", "consent_revoke", "signal_flag", "complaint"]
        assert [r.kind for r in trail.records(account="adult-1")] == [
            "signal_flag",
            "case_outcome",
            "complaint",
        ]
        assert trail.verify().status == "valid"

    def test_ticket(self) -> None:
        """A ticket is committed once its batch is, and then gives the sealed record."""
        trail = make_trail(MemoryAuditStore())
        ticket = trail.record_complaint("r-1", category="other")
        record = ticket.wait()
        assert ticket.committed
        assert record.seq == 1
        assert record.to_dict()["kind"] == "complaint"
        trail.close()

    def test_bad_data_raises_at_the_call(self) -> None:
        """Data that is not JSON-safe raises where it is recorded, naming the field."""
        trail = make_trail(MemoryAuditStore())
        with pytest.raises(AuditRecordError, match=r"data\.score: float is not JSON-safe"):
            trail.record_signal_flag("a", "x", data={"score": 0.5})
        with pytest.raises(AuditRecordError, match="kind: unknown record kind 'nope'"):
            trail.record("nope")
        with pytest.raises(AuditRecordError, match=r"data\.n: an integer of more than 4300"):
            trail.record("complaint", data={"n": 10**5000})
        with pytest.raises(AuditRecordError, match="since: expected an aware datetime"):
            trail.count("decision", since=dt.datetime(2026, 1, 1))  # noqa: DTZ001
        trail.close()

    def test_queries_refuse_unknown_kinds_and_accounts(self) -> None:
        """A misspelt kind counted or listed nothing, which a report would print as
        zero; ``kinds="decision"`` was read letter by letter. Both now raise at the call,
        naming the argument, as does an account that is not a non-empty string."""
        trail = make_trail(MemoryAuditStore())
        trail.record_complaint("r-1", category="other").wait()
        with pytest.raises(AuditRecordError, match="kind: unknown record kind 'complaints'"):
            trail.count("complaints")
        with pytest.raises(AuditRecordError, match=r"kinds\[1\]: unknown record kind 'nope'"):
            trail.records(kinds=["complaint", "nope"])
        with pytest.raises(AuditRecordError, match="kinds: expected a list of record kinds"):
            trail.records(kinds="complaint")
        for account in ("", 42):
            with pytest.raises(AuditRecordError, match="account: expected a non-empty string"):
                trail.records(account=account)  # type: ignore[arg-type]
        assert trail.count("complaint") == 1
        assert [r.kind for r in trail.records(kinds=("complaint",))] == ["complaint"]
        trail.close()

    @pytest.mark.parametrize("kind", ["checkpoint", "sampling", "retention"])
    def test_the_trails_own_kinds_are_refused(self, tmp_path: Path, kind: str) -> None:
        """record() refuses the kinds only the trail writes: a checkpoint record with no
        signed checkpoint made every later verification fail, a retention record nobody
        ran would say records were dropped on purpose. Nothing is written."""
        trail = make_trail(SQLiteAuditStore(tmp_path / "a.db"))
        trail.record_complaint("r-1", category="other").wait()
        with pytest.raises(AuditRecordError, match=f"kind: '{kind}' records are written by"):
            trail.record(kind, data={})
        trail.close()
        assert trail.verify().status == "valid"
        assert [r.kind for r in trail.records()] == ["complaint", "checkpoint"]

    def test_a_large_integer_is_kept(self) -> None:
        trail = make_trail(MemoryAuditStore())
        record = trail.record("complaint", data={"n": 10**4300 - 1}).wait()
        assert record.data["n"] == 10**4300 - 1
        trail.close()

    def test_constructor_checks(self) -> None:
        """A signer without a checkpoint sink (or the reverse) is refused, as is a
        pseudonymiser of the wrong type."""
        with pytest.raises(AuditError, match="give both signer= and checkpoints="):
            make_trail(MemoryAuditStore(), checkpoints=None)
        with pytest.raises(AuditError, match="expected a Pseudonymiser"):
            AuditTrail(MemoryAuditStore(), pseudonymiser="key")  # type: ignore[arg-type]

    def test_without_checkpoints_everything_is_unanchored(self, tmp_path: Path) -> None:
        """A trail without a signer verifies as unanchored, never as valid."""
        trail = AuditTrail(f"sqlite:///{tmp_path}/a.db", pseudonymiser=Pseudonymiser({"k": KEY}))
        trail.record_complaint("r-1", category="other").wait()
        assert trail.checkpoint() is None
        trail.close()
        report = trail.verify()
        assert report.status == "unanchored"
        assert report.exit_status == 3
        assert report.unanchored == 1
        assert "UNANCHORED" in report.summary()
        assert "no signed checkpoint anchors" in report.summary()
        assert trail.public_keys() == {}


class TestArguments:
    def test_record_fields_of_the_wrong_kind(self) -> None:
        """A complaint id of None, a category of 5, a case or outcome that is no string
        went into the chain as they were; they are refused now, and nothing is written."""
        trail = make_trail(MemoryAuditStore())
        with pytest.raises(AuditRecordError, match="complaint: expected a non-empty string"):
            trail.record_complaint(None, category="grooming")  # type: ignore[arg-type]
        with pytest.raises(AuditRecordError, match="category: expected a non-empty string"):
            trail.record_complaint("r-1", category=5)  # type: ignore[arg-type]
        with pytest.raises(AuditRecordError, match="outcome: expected a non-empty string"):
            trail.record_case_outcome("case-1", None)  # type: ignore[arg-type]
        with pytest.raises(AuditRecordError, match="signal: expected a non-empty string"):
            trail.record_signal_flag(ADULT, "")
        assert trail.flush()
        assert list(trail.records()) == []
        trail.close()

    @pytest.mark.parametrize("timeout", [float("nan"), -1, 1e30, "5", None])
    def test_timeouts_of_the_wrong_kind(self, tmp_path: Path, timeout: object) -> None:
        """close(nan) raised ValueError before the writer stopped and then closed the
        store under it; wait(1e30) and flush(1e30) were OverflowErrors. A timeout is a
        number of seconds from 0 to a day, and a refused close leaves the trail
        working: the queued record is committed by the next close."""
        trail = make_trail(make_store("sqlite", tmp_path))
        ticket = trail.record_case_outcome("case-1", "no_violation")
        for call in (ticket.wait, trail.flush, trail.close):
            with pytest.raises(ConfigurationError, match="timeout: expected a finite number"):
                call(timeout)  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match="timeout"):
            ComplaintRecorder(trail, timeout=timeout)  # type: ignore[arg-type]
        trail.close()
        assert [r.kind for r in trail.records()] == ["case_outcome", "checkpoint"]
        assert trail.verify().status == "valid"


class TestKeyRotation:
    def test_records_found_under_every_key(self) -> None:
        """After rotating the pseudonymisation key, an account's records under the old
        and the new key are both found."""
        store = MemoryAuditStore()
        first = make_trail(store, pseudonymiser=Pseudonymiser({"2025": KEY}))
        first.record_complaint("r-1", category="other", reporter="kid-1").wait()
        first.close()
        rotated = Pseudonymiser({"2025": KEY, "2026": secrets.token_bytes(32)})
        assert rotated.current == "2026"
        second = make_trail(store, pseudonymiser=rotated)
        second.record_complaint("r-2", category="other", reporter="kid-1").wait()
        second.close()
        found = list(second.records(account="kid-1"))
        assert [r.data["complaint"] for r in found] == ["r-1", "r-2"]
        assert [r.actor.split(":")[0] for r in found if r.actor] == ["2025", "2026"]


def fill_until_refused(trail: AuditTrail, tickets: list[AuditTicket]) -> None:
    for i in range(1, 10):
        tickets.append(trail.record_complaint(f"r-{i}", category="other"))  # noqa: PERF401


class TestStoreDown:
    def test_retries_buffers_and_tells_the_app(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """While the store is locked by another process, records wait in the buffer;
        when it is full, a sampled allow is dropped and counted and a complaint raises
        AuditUnavailableError after block_timeout; the metric hook and the log say so;
        once the store is back, nothing accepted is lost."""
        path = tmp_path / "a.db"
        store = SQLiteAuditStore(path, timeout=0.02)
        metrics: list[str] = []
        config = AuditConfig(
            buffer_size=3,
            batch_size=3,
            block_timeout=0.2,
            retry_max_delay=0.05,
            allow_sample_rate=1,
        )
        trail = make_trail(store, config=config, on_metric=lambda name, _: metrics.append(name))
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        guard = Guard()
        guard.add_sink(trail.sink)
        try:
            with caplog.at_level(logging.ERROR, "childsafe.audit"):
                tickets = [trail.record_complaint("r-0", category="other")]
                with pytest.raises(AuditUnavailableError, match="was not committed within"):
                    tickets[0].wait(0.1)
                # The writer holds one batch (retrying it) and the buffer three more:
                # fill both until a record is refused.
                with pytest.raises(AuditUnavailableError, match="stayed full"):
                    fill_until_refused(trail, tickets)
                accepted = len(tickets)
                assert 4 <= accepted <= 6
                guard.check(
                    "dm.send", actor=ADULT, target=KID, relationship=Relationship(connected=True)
                )
                assert guard.flush_events()
                with pytest.raises(AuditUnavailableError, match="stayed full") as raised:
                    trail.record_complaint("r-lost", category="other")
                assert "database is locked" in str(raised.value)
                stats = trail.stats()
                assert stats.dropped == 1
                assert stats.store_failures >= 1
                assert stats.failing_since is not None
                assert "database is locked" in (stats.last_error or "")
                assert stats.pending == accepted
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert [t.wait(5).data["complaint"] for t in tickets] == [f"r-{i}" for i in range(accepted)]
        trail.close()
        assert {
            "audit.store_error",
            "audit.buffer_full",
            "audit.unavailable",
            "audit.dropped",
        } <= set(metrics)
        assert "audit.committed" in metrics
        assert "cannot commit" in caplog.text
        assert trail.count("complaint") == accepted
        assert trail.allows_not_recorded() == 1
        assert trail.stats().failing_since is None
        assert trail.verify().status == "valid"

    def test_close_while_down_says_what_was_lost(self, tmp_path: Path) -> None:
        """Closing while the store is down raises, counting the records not committed."""
        path = tmp_path / "a.db"
        store = SQLiteAuditStore(path, timeout=0.02)
        trail = make_trail(store, config=AuditConfig(retry_max_delay=0.05))
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            ticket = trail.record_complaint("r-1", category="other")
            with pytest.raises(AuditUnavailableError, match="1 audit records were not committed"):
                trail.close(timeout=0.2)
            with pytest.raises(AuditUnavailableError):
                ticket.wait(0.1)
            with pytest.raises(AuditUnavailableError, match="closed"):
                trail.record_complaint("r-2", category="other")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        store.close()

    def test_metric_hook_that_raises_is_logged(self, caplog: pytest.LogCaptureFixture) -> None:
        """A failing metric hook never stops recording."""

        def hook(name: str, amount: int) -> None:
            raise RuntimeError(name)

        trail = make_trail(MemoryAuditStore(), on_metric=hook)
        with caplog.at_level(logging.ERROR, "childsafe.audit"):
            trail.record_complaint("r-1", category="other").wait()
            trail.close()
        assert "metric hook raised" in caplog.text
        assert trail.count("complaint") == 1


def hold_write_lock(store: AuditStore) -> Callable[[], None]:
    """Take ``store``'s write lock from another connection, as another process's
    writer would; the function that releases it."""
    if isinstance(store, SQLiteAuditStore):
        holder = sqlite3.connect(store.path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")

        def release() -> None:
            holder.execute("ROLLBACK")
            holder.close()

        return release
    import psycopg  # noqa: PLC0415

    assert isinstance(store, PostgresAuditStore)
    conn = psycopg.connect(store.conninfo)
    conn.execute(f"SELECT head_seq FROM {store.prefix}_meta WHERE id = 1 FOR UPDATE")  # noqa: S608

    def release_pg() -> None:
        conn.rollback()
        conn.close()

    return release_pg


class TestBatching:
    @pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=needs_postgres)])
    def test_records_queued_while_waiting_for_the_lock_join_the_batch(
        self, tmp_path: Path, kind: str
    ) -> None:
        """A writer waiting for the store's write lock (held by another process) takes
        the records queued meanwhile into the same transaction once it has the lock:
        writers taking turns on one store commit big batches. Every ticket still gets
        its own record, in order."""
        store = make_store(kind, tmp_path)
        committed: list[int] = []

        def metric(name: str, amount: int) -> None:
            if name == "audit.committed":
                committed.append(amount)

        trail = make_trail(store, on_metric=metric)
        release = hold_write_lock(store)
        try:
            tickets = [trail.record_complaint("r-0", category="other")]
            deadline = time.monotonic() + 10
            while trail._writer._items and time.monotonic() < deadline:
                time.sleep(0.005)  # until the writer has taken r-0 and waits for the lock
            tickets += [trail.record_complaint(f"r-{i}", category="other") for i in range(1, 50)]
        finally:
            release()
        records = [t.wait(10) for t in tickets]
        assert [r.data["complaint"] for r in records] == [f"r-{i}" for i in range(50)]
        assert [r.seq for r in records] == list(range(1, 51))
        assert committed == [50]
        trail.close()
        assert trail.verify().status == "valid"
        dispose(store)


class TestCheckpointsAndRetention:
    def test_automatic_checkpoints(self) -> None:
        """A checkpoint is signed every checkpoint_every records and on close."""
        trail = make_trail(MemoryAuditStore(), config=AuditConfig(checkpoint_every=5, batch_size=5))
        for i in range(12):
            trail.record_complaint(f"r-{i}", category="other").wait()
        trail.close()
        assert trail.checkpoints is not None
        assert len(trail.checkpoints.read()) >= 2
        assert trail.verify().status == "valid"

    def test_idle_checkpoint(self) -> None:
        """An idle trail signs a checkpoint once checkpoint_interval has passed."""
        trail = make_trail(MemoryAuditStore(), config=AuditConfig(checkpoint_interval=0.01))
        trail.record_complaint("r-1", category="other").wait()
        assert trail.checkpoints is not None
        import time  # noqa: PLC0415

        deadline = time.monotonic() + 5
        while not trail.checkpoints.read() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert trail.checkpoints.read()
        assert trail.verify().status == "valid"
        trail.close()

    def test_retention_drops_whole_checkpointed_segments(self, store: AuditStore) -> None:
        """Expired segments are dropped whole; what is kept verifies from its anchor."""
        config = AuditConfig.from_mapping({"retention": {"complaint": 30, "default": 3650}})
        trail = make_trail(store, config=config)
        today = dt.datetime.now(dt.UTC)
        old = today - dt.timedelta(days=40)
        for i in range(5):
            trail.record("complaint", data={"n": i}, time=old).wait()
        trail.checkpoint()  # record 6 (now: kept 10 years as a checkpoint record)
        assert trail.enforce_retention(today) == 0
        trail2 = make_trail(
            store,
            config=AuditConfig.from_mapping({"retention": {"complaint": 30, "checkpoint": 1}}),
            signer=trail.signer,
            checkpoints=trail.checkpoints,
        )
        trail2.record("complaint", data={"n": 9}, time=today).wait()
        trail2.checkpoint()  # record 8
        later = today + dt.timedelta(days=2)
        assert trail2.enforce_retention(later) == 6
        assert next(r.seq for r in trail2.records()) == 7
        report = trail2.verify()
        assert report.status == "unanchored"  # the retention record comes after the checkpoint
        assert report.first_seq == 7
        trail2.checkpoint()
        assert trail2.verify().status == "valid"
        assert trail2.enforce_retention(later) == 0
        trail.close()
        trail2.close()

    def test_retention_without_checkpoints_drops_nothing(self) -> None:
        """Without a checkpoint sink there is no anchor, so nothing is dropped."""
        trail = AuditTrail(MemoryAuditStore(), pseudonymiser=Pseudonymiser({"k": KEY}))
        trail.record("complaint", time=NOW - dt.timedelta(days=9000)).wait()
        assert trail.enforce_retention() == 0
        trail.close()
        empty = make_trail(MemoryAuditStore())
        assert empty.enforce_retention() == 0
        assert empty.verify().status == "empty"
        assert empty.verify().summary() == "The chain is empty."
        empty.close()
