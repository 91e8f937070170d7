"""Records, their canonical encoding and decoder, pseudonyms, keys and the config
parser: property tests for the parsers, and clear errors for malformed input."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import childsafe.audit
from childsafe.audit import (
    KINDS,
    AuditConfig,
    AuditKeyError,
    AuditRecordError,
    CheckpointSigner,
    Pseudonymiser,
    StoredRecord,
    load_public_key,
)
from childsafe.audit._records import decode_record, genesis_hash, link_hash, make_draft, parse_time
from childsafe.exceptions import ChildsafeError, ConfigurationError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
times = st.datetimes(  # hypothesis attaches the zone: naive bounds are its API
    min_value=dt.datetime(1971, 1, 1),  # noqa: DTZ001
    max_value=dt.datetime(9998, 12, 31),  # noqa: DTZ001
    timezones=st.just(dt.UTC),
)
pseudonyms = st.none() | st.text(string.ascii_lowercase + ":0123456789", min_size=1, max_size=40)


def stored(draft: Any, seq: int = 1, prev: str = "0" * 64) -> StoredRecord:
    h = link_hash(prev, seq, draft.digest)
    return StoredRecord(
        seq,
        prev,
        h,
        draft.body,
        draft.time_us,
        draft.kind,
        draft.actor,
        draft.target,
        draft.reason,
        draft.allowed,
    )


class TestCanonicalEncoding:
    @given(
        kind=st.sampled_from(KINDS),
        time=times,
        actor=pseudonyms,
        target=pseudonyms,
        data=st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    )
    def test_round_trip(
        self,
        kind: str,
        time: dt.datetime,
        actor: str | None,
        target: str | None,
        data: dict[str, Any],
    ) -> None:
        """Any JSON-safe record decodes to what was recorded, and re-encodes to the same
        bytes (the encoding is canonical)."""
        draft = make_draft(
            kind, time=time, actor=actor, target=target, data=data, bands={"actor": "adult"}
        )
        record = decode_record(stored(draft))
        assert (record.kind, record.time, record.actor, record.target) == (
            kind,
            time,
            actor,
            target,
        )
        assert record.data == data
        again = make_draft(
            kind,
            time=record.time,
            actor=record.actor,
            target=record.target,
            data=record.data,
            bands=record.bands,
            id=record.id,
        )
        assert again.body == draft.body
        assert again.digest == hashlib.sha256(draft.body).digest()

    @given(data=st.dictionaries(st.text(max_size=5), json_values, max_size=4))
    def test_key_order_does_not_matter(self, data: dict[str, Any]) -> None:
        """The same data in another key order encodes to the same bytes."""
        time = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        reordered = dict(reversed(list(data.items())))
        a = make_draft("complaint", time=time, data=data, id="x")
        b = make_draft("complaint", time=time, data=reordered, id="x")
        assert a.body == b.body

    @given(body=st.binary(max_size=300))
    def test_decoder_never_crashes_on_bytes(self, body: bytes) -> None:
        """Arbitrary bytes either decode or raise AuditRecordError, nothing else."""
        row = StoredRecord(1, "0" * 64, "0" * 64, body, 0, "decision", None, None, None, None)
        try:
            decode_record(row)
        except AuditRecordError as e:
            assert "record 1" in str(e)  # noqa: PT017 - a property: either outcome is fine

    @given(value=json_values)
    def test_decoder_never_crashes_on_json(self, value: object) -> None:
        """Any JSON document either decodes or raises AuditRecordError."""
        body = json.dumps(
            {
                "v": 1,
                "id": "x",
                "time": "2026-01-01T00:00:00.000000Z",
                "kind": "complaint",
                "actor": None,
                "target": None,
                "bands": {},
                "jurisdictions": {},
                "data": value,
            }
        ).encode()
        row = StoredRecord(1, "0" * 64, "0" * 64, body, 0, "complaint", None, None, None, None)
        try:
            assert decode_record(row).data == value
        except AuditRecordError as e:
            assert "record 1.data" in str(e)  # noqa: PT017 - a property: either outcome is fine

    def test_chain_link(self) -> None:
        """The link is SHA-256 over the domain, prev, seq and the body's digest."""
        digest = hashlib.sha256(b"{}").digest()
        expected = hashlib.sha256(b"childsafe-audit/1\x00" + b"p" * 64 + b"\x007\x00" + digest)
        assert link_hash("p" * 64, 7, digest) == expected.hexdigest()
        assert genesis_hash("a") != genesis_hash("b")


BODY = {
    "v": 1,
    "id": "x",
    "time": "2026-01-01T00:00:00.000000Z",
    "kind": "complaint",
    "actor": None,
    "target": None,
    "bands": {},
    "jurisdictions": {},
    "data": {},
}


class TestMalformedRecords:
    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"v": 2}, r"record 4\.v: unknown record version 2"),
            ({"id": ""}, r"record 4\.id: expected a non-empty string"),
            ({"kind": "nope"}, r"record 4\.kind: unknown record kind 'nope'"),
            ({"data": []}, r"record 4\.data: expected an object"),
            ({"time": "2026-01-01"}, r"record 4\.time: time must look like"),
            ({"time": "2026-02-30T00:00:00.000000Z"}, "is not a date"),
            # Digits of another script, and a line break after the Z: not the body's form.
            ({"time": "2026-01-0\u0661T00:00:00.000000Z"}, r"record 4\.time: time must look"),
            ({"time": "2026-01-01T00:00:00.000000Z\n"}, r"record 4\.time: time must look"),
            ({"actor": 5}, r"record 4\.actor: expected a string or null"),
            ({"bands": {"parent": "adult"}}, r"record 4\.bands: expected an object"),
            ({"extra": 1}, r"unexpected \['extra'\]"),
        ],
    )
    def test_fields(self, change: dict[str, object], message: str) -> None:
        """Each malformed field raises AuditRecordError naming the record and field."""
        body = json.dumps({**BODY, **change}).encode()
        with pytest.raises(AuditRecordError, match=message):
            decode_record(
                StoredRecord(4, "0" * 64, "0" * 64, body, 0, "complaint", None, None, None, None)
            )

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            (b'{"a": 1, "a": 2}', "a key is repeated"),
            (b'{"a": 1.5}', "1.5 is not an integer"),
            (b'{"a": NaN}', "NaN is not allowed"),
            (b"[1]", "must be a JSON object"),
            (b"\xff", "not valid record JSON"),
        ],
    )
    def test_bodies(self, body: bytes, message: str) -> None:
        """Bodies that are not strict record JSON are refused."""
        with pytest.raises(AuditRecordError, match=message):
            decode_record(
                StoredRecord(4, "0" * 64, "0" * 64, body, 0, "complaint", None, None, None, None)
            )

    def test_bad_link_fields(self) -> None:
        """A prev or hash that is not 64 hex digits is refused."""
        with pytest.raises(AuditRecordError, match=r"record 4\.prev: expected 64 lowercase hex"):
            decode_record(
                StoredRecord(
                    4,
                    "x",
                    "0" * 64,
                    json.dumps(BODY).encode(),
                    0,
                    "complaint",
                    None,
                    None,
                    None,
                    None,
                )
            )

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"time": dt.datetime(2026, 1, 1)}, "time: expected an aware datetime"),  # noqa: DTZ001
            ({"actor": 5}, "actor: expected a pseudonym string"),
            ({"data": {1: "x"}}, "data: keys must be strings"),
            ({"data": {"a": {1.5}}}, r"data\.a: set is not JSON-safe"),
            ({"data": {"a": [[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}}, "nested more than 16"),
            ({"data": {"a": "x" * (1 << 20)}}, "bytes, over"),
            ({"bands": {"other": "adult"}}, "roles are 'actor' and 'target'"),
            ({"bands": {"actor": 5}}, r"bands\.actor: expected a string"),
            # What the canonical body cannot hold, or a JSON reader cannot read back:
            ({"data": {"a": ["ok", "\ud800"]}}, r"data\.a\[1\]: '\\ud800' at 0 is a lone"),
            ({"data": {"\udfff": 1}}, r"data key: '\\udfff' at 0 is a lone surrogate"),
            ({"data": {"n": 10**4300}}, r"data\.n: an integer of more than 4300 digits"),
            ({"data": {"n": -(10**5000)}}, r"data\.n: an integer of more than 4300 digits"),
        ],
    )
    def test_drafts(self, options: dict[str, Any], message: str) -> None:
        """make_draft refuses what cannot be recorded, naming the field."""
        options.setdefault("time", dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        with pytest.raises(AuditRecordError, match=message):
            make_draft("complaint", **options)

    def test_parse_time(self) -> None:
        """Times must be in the record's exact UTC form."""
        with pytest.raises(AuditRecordError, match="t: time must look like"):
            parse_time(5, "t")


class TestKeys:
    def test_pseudonymiser_errors(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Bad keys, key ids, current ids and environment values are refused clearly."""
        with pytest.raises(AuditKeyError, match="at least one"):
            Pseudonymiser({})
        with pytest.raises(AuditKeyError, match="key id 'a b'"):
            Pseudonymiser({"a b": b"k" * 32})
        with pytest.raises(AuditKeyError, match="at least 32 random bytes"):
            Pseudonymiser({"a": b"short"})
        with pytest.raises(AuditKeyError, match="no key with id 'b'"):
            Pseudonymiser({"a": b"k" * 32}, current="b")
        with pytest.raises(AuditKeyError, match="account ids are strings"):
            Pseudonymiser({"a": b"k" * 32}).pseudonym(5)  # type: ignore[arg-type]
        monkeypatch.delenv("X_KEYS", raising=False)
        with pytest.raises(AuditKeyError, match="X_KEYS is not set"):
            Pseudonymiser.from_env("X_KEYS")
        monkeypatch.setenv("X_KEYS", "a:zz")
        with pytest.raises(AuditKeyError, match="key 'a' is not hex"):
            Pseudonymiser.from_env("X_KEYS")
        monkeypatch.setenv("X_KEYS", f"a:{'00' * 32}, b:{'11' * 32}")
        assert Pseudonymiser.from_env("X_KEYS").key_ids == ("a", "b")

    def test_pseudonyms_are_keyed_and_cached(self) -> None:
        """The same id gives the same pseudonym under one key, another under another."""
        a = Pseudonymiser({"a": b"a" * 32})
        b = Pseudonymiser({"a": b"b" * 32})
        assert a.pseudonym("x") == a.pseudonym("x") != b.pseudonym("x")
        for i in range(70_000):
            a.pseudonym(str(i))
        assert a.pseudonym("x") in a.candidates("x")

    @given(
        key=st.binary(min_size=32, max_size=200),
        account=st.text(max_size=40),
    )
    def test_pseudonym_is_hmac_sha256(self, key: bytes, account: str) -> None:
        """A pseudonym is the key id and the first 32 hex digits of HMAC-SHA256 of the
        account id, whatever the key's length (longer than a block: hashed first)."""
        expected = hmac.new(key, account.encode(), hashlib.sha256).hexdigest()[:32]
        assert Pseudonymiser({"k": key}).pseudonym(account) == f"k:{expected}"
        assert f"k:{expected}" in Pseudonymiser({"k": key}).candidates(account)

    def test_signer_keys(self) -> None:
        """Signers load from PEM; other key types and junk are refused."""
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
        from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

        signer = CheckpointSigner.generate()
        again = CheckpointSigner.from_pem(signer.private_pem())
        assert again.key_id == signer.key_id
        assert (
            load_public_key(signer.public_pem).public_bytes_raw()
            == signer.public_key.public_bytes_raw()
        )
        other = ec.generate_private_key(ec.SECP256R1())
        pem = other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        with pytest.raises(AuditKeyError, match="expected Ed25519"):
            CheckpointSigner.from_pem(pem)
        with pytest.raises(AuditKeyError, match="not a PEM private key"):
            CheckpointSigner.from_pem("junk")
        with pytest.raises(AuditKeyError, match="expected an Ed25519 key"):
            load_public_key(
                other.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            )
        with pytest.raises(AuditKeyError, match="not a PEM public key"):
            load_public_key("junk")
        with pytest.raises(AuditKeyError, match="needs an Ed25519 private key"):
            CheckpointSigner(other)  # type: ignore[arg-type]


class TestConfig:
    def test_defaults(self) -> None:
        """Defaults: 1 % of allows, six years of everything."""
        config = AuditConfig()
        assert config.allow_sample_rate == 0.01
        assert config.retention_days("decision") == 2190

    def test_every_problem_reported(self) -> None:
        """All problems are reported at once, each with its path and a suggestion."""
        with pytest.raises(ConfigurationError) as raised:
            AuditConfig.from_mapping(
                {
                    "allow_sample_rat": 0.5,
                    "batch_size": 0,
                    "block_timeout": "5",
                    "checkpoint_interval": -1,
                    "allow_sample_rate": 2,
                    "retention": {"decisions": 30, "complaint": 0, "default": True},
                },
                source="app.toml",
                path="audit",
            )
        text = str(raised.value)
        assert "8 problems" in text
        for fragment in (
            "app.toml: audit.allow_sample_rat: unknown setting; did you mean 'allow_sample_rate'?",
            "audit.batch_size: expected a whole number from 1 to 100000, got 0",
            "audit.block_timeout: expected a number, got '5'",
            "audit.checkpoint_interval: expected seconds from 0.001 to 86400, got -1",
            "audit.allow_sample_rate: expected a share from 0 to 1, got 2",
            "audit.retention.decisions: unknown record kind; did you mean 'decision'?",
            "audit.retention.complaint: expected whole days from 1 to 36500, got 0",
        ):
            assert fragment in text, fragment

    def test_direct_construction_is_checked(self) -> None:
        """AuditConfig(...) in code is checked like a file."""
        with pytest.raises(ConfigurationError, match="AuditConfig: batch_size: expected a whole"):
            AuditConfig(batch_size=0)
        with pytest.raises(ConfigurationError, match=r"retention\.nope: unknown kind"):
            AuditConfig(retention={"nope": 3})
        with pytest.raises(ConfigurationError, match=r"retention\.default: expected whole days"):
            AuditConfig(default_retention=0)

    def test_not_a_table(self) -> None:
        """A config that is not a table, and a retention that is not one, are refused."""
        with pytest.raises(ConfigurationError, match="expected a table of settings"):
            AuditConfig.from_mapping([1])
        with pytest.raises(ConfigurationError, match=r"retention: expected a table of kind = days"):
            AuditConfig.from_mapping({"retention": 5})

    def test_files(self, tmp_path: Path) -> None:
        """The [audit] table of a TOML file, or a JSON object, is read; unreadable or
        invalid files name the file."""
        toml = tmp_path / "app.toml"
        toml.write_text("[audit]\nallow_sample_rate = 0.5\n[audit.retention]\ndecision = 90\n")
        assert AuditConfig.from_file(toml).retention_days("decision") == 90
        plain = tmp_path / "audit.json"
        plain.write_text('{"batch_size": 10}')
        assert AuditConfig.from_file(plain).batch_size == 10
        bad = tmp_path / "bad.toml"
        bad.write_text("[audit\n")
        with pytest.raises(ConfigurationError, match=r"bad\.toml: not valid"):
            AuditConfig.from_file(bad)
        with pytest.raises(ConfigurationError, match=r"missing\.toml: no such file"):
            AuditConfig.from_file(tmp_path / "missing.toml")
        wrong = tmp_path / "wrong.toml"
        wrong.write_text("[audit]\nbatch_size = 'ten'\n")
        with pytest.raises(ConfigurationError, match=r"wrong.toml: audit.batch_size"):
            AuditConfig.from_file(wrong)

    @given(
        st.dictionaries(
            st.sampled_from(
                [
                    "allow_sample_rate",
                    "batch_size",
                    "buffer_size",
                    "block_timeout",
                    "retry_max_delay",
                    "checkpoint_every",
                    "checkpoint_interval",
                    "retention",
                    "nonsense",
                ]
            ),
            json_values | st.floats(allow_nan=True),
            max_size=6,
        )
    )
    def test_parser_property(self, value: dict[str, Any]) -> None:
        """Any mapping either parses to a config within bounds or raises
        ConfigurationError with at least one problem; nothing else."""
        try:
            config = AuditConfig.from_mapping(value)
        except ConfigurationError as e:
            problems = e.problems
            assert problems
            assert all(p.path for p in problems)
        else:
            assert 0 <= config.allow_sample_rate <= 1
            assert config.batch_size >= 1
            assert all(1 <= d <= 36500 for d in config.retention.values())


class TestExports:
    def test_all_sorted_and_exceptions_rooted(self) -> None:
        """childsafe.audit's __all__ is sorted and complete; its errors derive from
        ChildsafeError and present themselves as childsafe.audit."""
        names = childsafe.audit.__all__
        assert names == sorted(names, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
        public = {n for n in dir(childsafe.audit) if not n.startswith("_")} - {"annotations"}
        modules = {n for n in public if type(getattr(childsafe.audit, n)).__name__ == "module"}
        assert public - modules == set(names)
        for name in names:
            obj = getattr(childsafe.audit, name)
            if isinstance(obj, type) and issubclass(obj, BaseException):
                assert issubclass(obj, ChildsafeError)
                assert obj.__module__ == "childsafe.audit"

    def test_docstring_examples_run(self) -> None:
        """The examples in the audit modules' docstrings are correct."""
        import doctest  # noqa: PLC0415

        from childsafe.audit import _config, _pseudonyms, _trail  # noqa: PLC0415

        for module in (_config, _pseudonyms, _trail):
            result = doctest.testmod(module)
            assert result.attempted and not result.failed, module


class TestSinkEncoding:
    @given(
        allowed=st.booleans(),
        reason=st.text(max_size=12),
        actor=st.none() | st.text(max_size=10),
        band=st.none() | st.sampled_from(["adult", "13_15"]),
        value=st.none() | st.text(max_size=8),
        time=times,
        kind=st.sampled_from(["decision", "setting_change"]),
        event_id=st.text(min_size=1, max_size=40),
        request_id=st.none() | st.text(max_size=70),
        adapter=st.none() | st.sampled_from(["wsgi", "flask", 'odd "name"\u2028']),
        relationship=st.none()
        | st.dictionaries(
            st.text(max_size=6), st.booleans() | st.integers(-(2**40), 2**40), max_size=5
        )
        # the guard's five facts (the encoder's cached path), a fact now and then of
        # the other type, which must not share the cache with it (True == 1)
        | st.fixed_dictionaries(
            {
                name: st.booleans() | st.integers(-2, 2)
                for name in ("connected", "follows", "blocked", "invited")
            }
            | {"mutual_connections": st.integers(-(2**40), 2**40) | st.booleans()}
        ),
        offset=st.integers(-14 * 60, 14 * 60),
        target=st.none() | st.text(max_size=10),
    )
    def test_sink_bodies_are_canonical(
        self,
        allowed: bool,
        reason: str,
        actor: str | None,
        band: str | None,
        value: str | None,
        time: dt.datetime,
        kind: str,
        event_id: str,
        request_id: str | None,
        adapter: str | None,
        relationship: dict[str, bool | int] | None,
        offset: int,
        target: str | None,
    ) -> None:
        """The guard's events take a fast path to their body (a template and cached
        pieces); it is byte for byte the canonical encoding make_draft gives for the
        same record, whatever the strings, the relationship and the time zone."""
        from childsafe.audit import AuditTrail, MemoryAuditStore  # noqa: PLC0415
        from childsafe.events import DecisionEvent  # noqa: PLC0415

        time = time.astimezone(dt.timezone(dt.timedelta(minutes=offset)))
        event = DecisionEvent(
            id=event_id,
            time=time,
            kind=kind,  # type: ignore[arg-type]
            action="dm.send",
            allowed=allowed,
            reason=reason,
            setting="direct_messages",
            value=value,
            actor_id=actor,
            actor_band=band,
            actor_jurisdiction="GB" if band else None,
            target_id=target,
            target_band="13_15" if target else None,
            target_jurisdiction="GB" if target else None,
            relationship=relationship,
            policy_version="v",
            request_id=request_id,
            adapter=adapter,
        )
        store = MemoryAuditStore()
        trail = AuditTrail(store, pseudonymiser=Pseudonymiser({"k": b"k" * 32}))
        trail.config = AuditConfig(allow_sample_rate=1)
        trail.sink(event)
        trail.close()
        (row,) = store.rows
        record = decode_record(row)
        again = make_draft(
            record.kind,
            time=record.time,
            actor=record.actor,
            target=record.target,
            bands=record.bands,
            jurisdictions=record.jurisdictions,
            data=record.data,
            id=record.id,
        )
        assert again.body == row.body
        assert record.time == time
        assert record.id == event_id
        assert record.bands == ({"actor": band} if band else {}) | (
            {"target": "13_15"} if target else {}
        )
        common = {
            "allowed": allowed,
            "policy_version": "v",
            "reason": reason,
            "setting": "direct_messages",
            "value": value,
        }
        if kind == "decision":
            assert record.data == common | {
                "action": "dm.send",
                "adapter": adapter,
                "relationship": relationship,
                "request_id": request_id,
            }
        else:
            assert record.data == common | {"by": "self" if actor == target else "parent"}


def test_published_schema_matches_records() -> None:
    """The JSON Schema in docs/audit.md names exactly the fields of a record, its kinds
    and its version."""
    text = (Path(__file__).parents[2] / "docs" / "audit.md").read_text(encoding="utf-8")
    block = text.split("```json\n", 1)[1].split("```", 1)[0]
    schema = json.loads(block)
    draft = make_draft("complaint", time=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), data={})
    record = decode_record(stored(draft))
    assert set(schema["properties"]) == set(record.to_dict()) == set(schema["required"])
    assert schema["properties"]["kind"]["enum"] == list(KINDS)
    assert schema["properties"]["v"]["const"] == childsafe.audit.RECORD_VERSION


class TestEventEncoderEdges:
    """The event encoder's caches and fallbacks give the same bytes as the canonical
    encoder, and its failures are the canonical encoder's."""

    @staticmethod
    def event(**change: Any) -> Any:
        from childsafe.events import DecisionEvent  # noqa: PLC0415

        fields: dict[str, Any] = {
            "id": "e1",
            "time": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            "kind": "decision",
            "action": "dm.send",
            "allowed": False,
            "reason": "not_connected",
            "setting": "direct_messages",
            "value": "connections",
            "actor_id": "a",
            "actor_band": "adult",
            "actor_jurisdiction": "GB",
            "target_id": "k",
            "target_band": "13_15",
            "target_jurisdiction": "GB",
            "relationship": {"connected": False},
            "policy_version": "v",
        }
        fields.update(change)
        return DecisionEvent(**fields)

    @staticmethod
    def canonical(draft: Any) -> bytes:
        record = decode_record(stored(draft))
        again = make_draft(
            record.kind,
            time=record.time,
            actor=record.actor,
            target=record.target,
            bands=record.bands,
            jurisdictions=record.jurisdictions,
            data=record.data,
            id=record.id,
        )
        return bytes(again.body)

    def test_caches_stay_bounded_and_correct(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from childsafe.audit import _records  # noqa: PLC0415

        monkeypatch.setattr(_records, "_CACHE_MAX", 3)
        for i in range(10):
            event = self.event(
                reason=f"r{i}" + "x" * (70 if i % 2 else 0),
                time=dt.datetime(2026, 1, 1, 0, 0, i, i, tzinfo=dt.UTC),
                actor_band=None if i % 3 else "adult",
                target_id=None if i == 4 else "k",
                target_band=None if i == 4 else "13_15",
                target_jurisdiction=None if i == 4 else "GB",
            )
            draft = _records.encode_event(event, "k1:ab", None if i == 4 else "k1:cd", True)
            assert draft.body == self.canonical(draft)
        assert len(_records._QUOTED) <= 3
        assert len(_records._SECONDS) <= 3
        assert len(_records._PIECES) <= 3

    def test_not_a_bool_is_encoded_as_given(self) -> None:
        from childsafe.audit._records import encode_event  # noqa: PLC0415

        for kind in ("decision", "setting_change"):
            draft = encode_event(self.event(allowed=1, kind=kind), "k1:ab", "k1:cd", True)
            assert draft.allowed is None
            assert b'"allowed":1,' in draft.body
            assert draft.body == self.canonical(draft)

    def test_failures(self) -> None:
        from childsafe.audit._records import encode_event  # noqa: PLC0415

        with pytest.raises(TypeError, match="not JSON serializable"):
            encode_event(self.event(relationship={"x": object()}), None, None, True)
        with pytest.raises(AuditRecordError, match="over"):
            encode_event(self.event(request_id="x" * (1 << 20)), None, None, True)
