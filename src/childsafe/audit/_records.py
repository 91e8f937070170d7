"""Audit records: what one record holds, its canonical encoding and its chain link.

A record's *body* is the canonical JSON of everything but its place in the chain
(``v``, ``id``, ``time``, ``kind``, ``actor``, ``target``, ``bands``,
``jurisdictions``, ``data``): keys sorted, no spaces, UTF-8, integers only (no floats,
so every language encodes it the same way). Its *link* is::

    hash = SHA-256("childsafe-audit/1" 0x00 prev 0x00 seq 0x00 SHA-256(body))

in lowercase hex, where ``prev`` is the previous record's hash (hex) and ``seq`` the
record's position in decimal. The first record's ``prev`` is :func:`genesis_hash` of the
chain's id, so two chains never share a link. Hashing the body's digest rather than the
body lets an export prove a record's place without revealing its neighbours.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import json.encoder
import re
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple, get_args

import attrs

from childsafe.audit._errors import AuditRecordError

if TYPE_CHECKING:
    from childsafe.events import DecisionEvent

__all__ = [
    "KINDS",
    "RECORD_VERSION",
    "AuditRecord",
    "Draft",
    "Kind",
    "StoredRecord",
    "decode_record",
    "encode_event",
    "format_time",
    "genesis_hash",
    "link_hash",
    "make_draft",
    "parse_time",
    "to_micros",
]

RECORD_VERSION: Final = 1
"""The version of the record format (the body's ``v``)."""

Kind = Literal[
    "decision",
    "setting_change",
    "policy_load",
    "policy_change",
    "consent_grant",
    "consent_revoke",
    "signal_flag",
    "case_outcome",
    "complaint",
    "media_match",
    "checkpoint",
    "sampling",
    "retention",
]
KINDS: Final[tuple[str, ...]] = get_args(Kind)
"""Every record kind. ``checkpoint``, ``sampling`` and ``retention`` are written by the
trail itself (a signed checkpoint's reference, counts of allows not recorded, and a
retention run); the others record what happened."""
OWN_KINDS: Final = frozenset({"checkpoint", "sampling", "retention"})
"""The kinds only the trail writes (:meth:`~childsafe.audit.AuditTrail.record` refuses
them)."""

_DOMAIN: Final = b"childsafe-audit/1\x00"
_MAX_BODY: Final = 1 << 20
_MAX_DEPTH: Final = 16
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICRO: Final = dt.timedelta(microseconds=1)
# ASCII digits only (``\d`` takes any script's), and nothing after the ``Z``.
_TIME: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
_HEX64: Final = re.compile(r"^[0-9a-f]{64}$")
_BODY_KEYS: Final = frozenset(
    ("v", "id", "time", "kind", "actor", "target", "bands", "jurisdictions", "data")
)
_ROLES: Final = frozenset(("actor", "target"))
_MAX_INT_DIGITS: Final = 4300  # what json.loads reads back (sys.get_int_max_str_digits)
_MAX_INT: Final = 10**_MAX_INT_DIGITS


def genesis_hash(chain_id: str) -> str:
    """The ``prev`` of a chain's first record: SHA-256 of ``childsafe-audit-genesis``,
    a zero byte and the chain's id."""
    return hashlib.sha256(b"childsafe-audit-genesis\x00" + chain_id.encode()).hexdigest()


def link_hash(prev: str, seq: int, digest: bytes) -> str:
    """The hash of the record at ``seq`` whose body has SHA-256 ``digest``."""
    return hashlib.sha256(
        _DOMAIN + prev.encode() + b"\x00" + str(seq).encode() + b"\x00" + digest
    ).hexdigest()


def to_micros(time: dt.datetime) -> int:
    """``time`` (aware) as whole microseconds since the Unix epoch."""
    return (time - _EPOCH) // _MICRO


def format_time(time: dt.datetime) -> str:
    """``time`` in UTC as ``2026-01-31T12:00:00.000000Z`` (the body's form)."""
    utc = time if time.tzinfo is dt.UTC else time.astimezone(dt.UTC)
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: object, where: str) -> dt.datetime:
    """The body's time form back to an aware UTC datetime."""
    if not isinstance(text, str) or not _TIME.fullmatch(text):
        raise AuditRecordError(
            f"{where}: time must look like 2026-01-31T12:00:00.000000Z, got {text!r}"
        )
    try:
        return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    except ValueError as e:
        raise AuditRecordError(f"{where}: time {text!r} is not a date: {e}") from None


def _check_text(value: str, path: str) -> None:
    """Refuse what UTF-8 cannot encode (a lone surrogate), which the canonical body
    could not hold."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:
            raise AuditRecordError(
                f"{path}: {value[e.start]!r} at {e.start} is a lone surrogate, not text"
            ) from None


def _check_json(value: object, path: str, depth: int = 0) -> None:
    if depth > _MAX_DEPTH:
        raise AuditRecordError(f"{path}: nested more than {_MAX_DEPTH} levels deep")
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        _check_text(value, path)
        return
    if isinstance(value, int):
        if not -_MAX_INT < value < _MAX_INT:
            raise AuditRecordError(
                f"{path}: an integer of more than {_MAX_INT_DIGITS} digits (JSON readers "
                "cannot read it back)"
            )
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise AuditRecordError(f"{path}: keys must be strings, got {key!r}")
            _check_text(key, f"{path} key")
            _check_json(item, f"{path}.{key}", depth + 1)
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_json(item, f"{path}[{i}]", depth + 1)
        return
    raise AuditRecordError(
        f"{path}: {type(value).__name__} is not JSON-safe audit data "
        "(use strings, integers, booleans, null, lists and string-keyed mappings)"
    )


def _roles(value: Mapping[str, str | None] | None, name: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for role, item in (value or {}).items():
        if role not in _ROLES:
            raise AuditRecordError(f"{name}: roles are 'actor' and 'target', got {role!r}")
        if item is not None:
            if not isinstance(item, str):
                raise AuditRecordError(f"{name}.{role}: expected a string, got {item!r}")
            out[role] = item
    return out


class Draft(NamedTuple):
    """A record ready to be chained: its body and what the store indexes. The store
    gives it a ``seq`` and its link inside the write transaction. (A named tuple: one
    is made per record, on the caller's thread.)"""

    id: str
    time_us: int
    kind: str
    actor: str | None
    target: str | None
    reason: str | None
    allowed: bool | None
    body: bytes
    digest: bytes
    critical: bool = True


class StoredRecord(NamedTuple):
    """A record as a store keeps it: its place (``seq``, ``prev``, ``hash``), its body,
    and the columns the store indexes (derived from the body when it was written;
    :func:`~childsafe.audit.verify_chain` checks they still agree)."""

    seq: int
    prev: str
    hash: str
    body: bytes
    time_us: int
    kind: str
    actor: str | None
    target: str | None
    reason: str | None
    allowed: bool | None


_ENCODER: Final = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def _encode(body: Mapping[str, object]) -> bytes:
    return _ENCODER.encode(body).encode()


def build_draft(
    kind: str,
    time: dt.datetime,
    record_id: str,
    actor: str | None,
    target: str | None,
    bands: dict[str, str],
    jurisdictions: dict[str, str],
    data: dict[str, Any],
    critical: bool,
) -> Draft:
    """A :class:`Draft` from values already checked (the guard's typed events, or
    :func:`make_draft`): no validation here, this is the hot path."""
    body = _ENCODER.encode(
        {
            "v": RECORD_VERSION,
            "id": record_id,
            "time": format_time(time),
            "kind": kind,
            "actor": actor,
            "target": target,
            "bands": bands,
            "jurisdictions": jurisdictions,
            "data": data,
        }
    ).encode()
    if len(body) > _MAX_BODY:
        raise AuditRecordError(f"data: the record is {len(body)} bytes, over {_MAX_BODY}")
    reason = data.get("reason")
    allowed = data.get("allowed")
    return Draft(
        record_id,
        (time - _EPOCH) // _MICRO,
        kind,
        actor,
        target,
        reason if isinstance(reason, str) else None,
        allowed if isinstance(allowed, bool) else None,
        body,
        hashlib.sha256(body).digest(),
        critical,
    )


# -- the guard's events: straight from the event's fields to canonical bytes ----------
#
# A decision or setting-change event always has the same keys, so its body is written
# from a template in sorted-key order instead of building a dict and sorting it per
# record. Strings that repeat (actions, reasons, settings, bands, versions) are quoted
# once and cached; so is the date-and-time up to the second. The result is byte for
# byte what :func:`build_draft` gives for the same record (a property test holds them
# together).

_quote: Final[Callable[[str], str]] = (
    getattr(json.encoder, "c_encode_basestring", None) or json.encoder.py_encode_basestring
)
_CACHE_MAX: Final = 4096
_QUOTED: Final[dict[str, str]] = {}
_SECONDS: Final[dict[int, str]] = {}
_PIECES: Final[dict[tuple[object, ...], tuple[str, ...]]] = {}
_NAIVE_EPOCH: Final = dt.datetime(1970, 1, 1)  # noqa: DTZ001 - for the naive UTC text


def _quoted(text: str) -> str:
    found = _QUOTED.get(text)
    if found is None:
        found = _quote(text)
        if len(text) <= 64:
            if len(_QUOTED) >= _CACHE_MAX:
                _QUOTED.clear()
            _QUOTED[text] = found
    return found


def _json(value: object) -> str:
    """One value of an event as canonical JSON (strings that repeat: cached)."""
    if value.__class__ is str:
        return _quoted(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    return _ENCODER.encode(value)


def _json_once(value: object) -> str:
    """One value of an event as canonical JSON (strings that do not repeat: ids)."""
    if value.__class__ is str:
        return _quote(value)
    return _json(value)


def _not_json(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _mapping_encoder() -> Callable[[dict[str, Any]], str]:
    """A flat mapping (a relationship) as canonical JSON: the standard library's C
    encoder made once, not per call as :meth:`json.JSONEncoder.encode` does."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython has the C encoder
        return _ENCODER.encode
    # markers, default, string encoder, indent, separators, sort_keys, skipkeys, allow_nan
    encode = make(None, _not_json, _quote, None, ":", ",", True, False, False)  # noqa: FBT003

    def mapping(value: dict[str, Any]) -> str:
        return "".join(encode(value, 0))

    return mapping


_MAPPING: Final = _mapping_encoder()
_RELATIONSHIPS: Final[dict[tuple[bool, bool, bool, bool, int], str]] = {}
_RELATIONSHIP: Final = (
    '{"blocked":%s,"connected":%s,"follows":%s,"invited":%s,"mutual_connections":%d}'
)
_BOOL_JSON: Final = {True: "true", False: "false"}


def _relationship_json(value: Any) -> str:  # noqa: ANN401 - any mapping the event holds
    """An event's relationship facts as canonical JSON. The guard's are a dict of the
    five facts (four booleans and a count): their few combinations are cached; any
    other mapping goes through the JSON encoder."""
    if value.__class__ is dict and len(value) == 5:
        get = value.get
        blocked, connected, follows = get("blocked"), get("connected"), get("follows")
        invited, mutual = get("invited"), get("mutual_connections")
        if (
            blocked.__class__ is bool
            and connected.__class__ is bool
            and follows.__class__ is bool
            and invited.__class__ is bool
            and mutual.__class__ is int
        ):
            key = (blocked, connected, follows, invited, mutual)
            found = _RELATIONSHIPS.get(key)
            if found is None:
                found = _RELATIONSHIP % (
                    _BOOL_JSON[blocked],
                    _BOOL_JSON[connected],
                    _BOOL_JSON[follows],
                    _BOOL_JSON[invited],
                    mutual,
                )
                if len(_RELATIONSHIPS) >= _CACHE_MAX:
                    _RELATIONSHIPS.clear()
                _RELATIONSHIPS[key] = found
            return found
    return _MAPPING(value if value.__class__ is dict else dict(value))


def _second(seconds: int) -> str:
    found = _SECONDS.get(seconds)
    if found is None:
        found = (_NAIVE_EPOCH + dt.timedelta(seconds=seconds)).isoformat(timespec="seconds")
        if len(_SECONDS) >= _CACHE_MAX:
            _SECONDS.clear()
        _SECONDS[seconds] = found
    return found


def _roles_json(actor: str | None, target: str | None) -> str:
    if actor is None:
        return "{}" if target is None else '{"target":' + _quoted(target) + "}"
    if target is None:
        return '{"actor":' + _quoted(actor) + "}"
    return '{"actor":' + _quoted(actor) + ',"target":' + _quoted(target) + "}"


def _cache(key: tuple[object, ...], value: tuple[str, ...]) -> tuple[str, ...]:
    if len(_PIECES) >= _CACHE_MAX:
        _PIECES.clear()
    _PIECES[key] = value
    return value


def _decision_pieces(key: tuple[Any, ...]) -> tuple[str, ...]:
    """A decision's bands, its data up to ``"relationship":`` and from ``"setting"``
    on (the relationship and the request id change from one event to the next), and
    its jurisdictions."""
    action, adapter, allowed, version, reason, setting, value, *roles = key
    return (
        _roles_json(roles[0], roles[1]),
        '{"action":'
        + _json(action)
        + ',"adapter":'
        + _json(adapter)
        + ',"allowed":'
        + _json(allowed)
        + ',"policy_version":'
        + _json(version)
        + ',"reason":'
        + _json(reason)
        + ',"relationship":',
        ',"setting":' + _json(setting) + ',"value":' + _json(value) + "}",
        _roles_json(roles[2], roles[3]),
    )


def _change_pieces(key: tuple[Any, ...]) -> tuple[str, ...]:
    """A setting change's bands, data (``by`` is known from the event's ids) and
    jurisdictions."""
    allowed, by_self, version, reason, setting, value, *roles = key
    return (
        _roles_json(roles[0], roles[1]),
        '{"allowed":'
        + _json(allowed)
        + ',"by":'
        + ('"self"' if by_self else '"parent"')
        + ',"policy_version":'
        + _json(version)
        + ',"reason":'
        + _json(reason)
        + ',"setting":'
        + _json(setting)
        + ',"value":'
        + _json(value)
        + "}",
        _roles_json(roles[2], roles[3]),
    )


_V: Final = f',"v":{RECORD_VERSION}}}'
_new: Final = tuple.__new__
_sha256: Final = hashlib.sha256


def encode_event(
    event: DecisionEvent, actor: str | None, target: str | None, critical: bool
) -> Draft:
    """The :class:`Draft` of a guard's decision or setting-change event whose account
    ids are already pseudonymised (``actor``, ``target``): the same body
    :func:`build_draft` would encode from the event's data, built without the dict.

    The parts that repeat from one event to the next (everything but the ids, the
    time and the relationship) are encoded once per distinct combination and cached;
    the cache is used only when ``allowed`` is a real ``bool``, since ``True == 1``
    would otherwise share an entry with a different encoding."""
    time_us = (event.time - _EPOCH) // _MICRO
    seconds, micros = divmod(time_us, 1_000_000)
    allowed: object = event.allowed  # typed bool and str; the index takes them only if so
    reason: object = event.reason
    exact = allowed.__class__ is bool
    kind = event.kind
    if kind == "decision":
        key: tuple[object, ...] = (
            event.action,
            event.adapter,
            allowed,
            event.policy_version,
            reason,
            event.setting,
            event.value,
            event.actor_band,
            event.target_band,
            event.actor_jurisdiction,
            event.target_jurisdiction,
        )
        pieces = _PIECES.get(key) if exact else None
        if pieces is None:
            pieces = _decision_pieces(key)
            if exact:
                _cache(key, pieces)
        relationship = event.relationship
        # One f-string (the interpreter joins its pieces in one step; a % template
        # is parsed again on every call and costs three times as much).
        text = (
            f'{{"actor":{"null" if actor is None else _quote(actor)},"bands":{pieces[0]},'
            f'"data":{pieces[1]}'
            f"{'null' if relationship is None else _relationship_json(relationship)},"
            f'"request_id":{_json_once(event.request_id)}{pieces[2]},'
            f'"id":{_json_once(event.id)},"jurisdictions":{pieces[3]},"kind":"decision",'
            f'"target":{"null" if target is None else _quote(target)},'
            f'"time":"{_SECONDS.get(seconds) or _second(seconds)}.'
            f'{str(1_000_000 + micros)[1:]}Z"{_V}'
        )
    else:
        key = (
            allowed,
            event.actor_id == event.target_id,
            event.policy_version,
            reason,
            event.setting,
            event.value,
            event.actor_band,
            event.target_band,
            event.actor_jurisdiction,
            event.target_jurisdiction,
        )
        pieces = _PIECES.get(key) if exact else None
        if pieces is None:
            pieces = _change_pieces(key)
            if exact:
                _cache(key, pieces)
        text = (
            f'{{"actor":{"null" if actor is None else _quote(actor)},"bands":{pieces[0]},'
            f'"data":{pieces[1]},"id":{_json_once(event.id)},"jurisdictions":{pieces[2]},'
            f'"kind":{_json(kind)},"target":{"null" if target is None else _quote(target)},'
            f'"time":"{_SECONDS.get(seconds) or _second(seconds)}.'
            f'{str(1_000_000 + micros)[1:]}Z"{_V}'
        )
    body = text.encode()
    if len(body) > _MAX_BODY:
        raise AuditRecordError(f"data: the record is {len(body)} bytes, over {_MAX_BODY}")
    return _new(
        Draft,
        (
            event.id,
            time_us,
            event.kind,
            actor,
            target,
            reason if reason.__class__ is str else None,
            allowed if allowed.__class__ is bool else None,
            body,
            _sha256(body).digest(),
            critical,
        ),
    )


def make_draft(
    kind: str,
    *,
    time: dt.datetime,
    actor: str | None = None,
    target: str | None = None,
    bands: Mapping[str, str | None] | None = None,
    jurisdictions: Mapping[str, str | None] | None = None,
    data: Mapping[str, Any] | None = None,
    id: str | None = None,  # noqa: A002 - the record's id, as in the schema
    critical: bool = True,
) -> Draft:
    """A :class:`Draft` of a new record; data that is not JSON-safe raises
    :class:`~childsafe.audit.AuditRecordError` naming the field."""
    if kind not in KINDS:
        raise AuditRecordError(f"kind: unknown record kind {kind!r}; expected one of {KINDS}")
    given: object = time
    if not isinstance(given, dt.datetime) or given.tzinfo is None:
        raise AuditRecordError(f"time: expected an aware datetime, got {time!r}")
    for name, value in (("actor", actor), ("target", target)):
        if value is not None and not isinstance(value, str):
            raise AuditRecordError(f"{name}: expected a pseudonym string, got {value!r}")
    payload = dict(data or {})
    _check_json(payload, "data")
    return build_draft(
        kind,
        time,
        uuid.uuid4().hex if id is None else id,
        actor,
        target,
        _roles(bands, "bands"),
        _roles(jurisdictions, "jurisdictions"),
        payload,
        critical,
    )


@attrs.frozen(slots=True)
class AuditRecord:
    """One record of the audit trail.

    ``actor`` and ``target`` are pseudonyms (``key_id:hex``), never the platform's
    account ids. ``bands`` and ``jurisdictions`` map ``"actor"`` / ``"target"`` to the
    age band and jurisdiction of each. ``data`` is the kind's JSON-safe details.
    ``prev`` and ``hash`` are the record's chain link (see the module docs).
    """

    seq: int
    id: str
    time: dt.datetime
    kind: str
    actor: str | None
    target: str | None
    bands: Mapping[str, str]
    jurisdictions: Mapping[str, str]
    data: Mapping[str, Any]
    prev: str
    hash: str

    @property
    def denied(self) -> bool:
        """Whether this is a decision or setting change that was refused."""
        return self.kind in ("decision", "setting_change") and self.data.get("allowed") is False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, in the form of the published record schema."""
        return {
            "v": RECORD_VERSION,
            "seq": self.seq,
            "id": self.id,
            "time": format_time(self.time),
            "kind": self.kind,
            "actor": self.actor,
            "target": self.target,
            "bands": dict(self.bands),
            "jurisdictions": dict(self.jurisdictions),
            "data": dict(self.data),
            "prev": self.prev,
            "hash": self.hash,
        }


def _strict_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("a key is repeated")
    return out


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not allowed")


def _reject_float(text: str) -> object:
    raise ValueError(f"{text} is not an integer")


def load_body(body: bytes, where: str) -> dict[str, Any]:
    """Parse a record body strictly (no repeated keys, no floats, no NaN)."""
    try:
        value = json.loads(
            body.decode("utf-8"),
            object_pairs_hook=_strict_object,
            parse_constant=_reject_constant,
            parse_float=_reject_float,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise AuditRecordError(f"{where}: the body is not valid record JSON: {e}") from None
    if not isinstance(value, dict):
        raise AuditRecordError(f"{where}: the body must be a JSON object")
    return value


def _optional_str(value: object, where: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise AuditRecordError(f"{where}: expected a string or null, got {value!r}")
    return value


def _role_map(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        k in _ROLES and isinstance(v, str) for k, v in value.items()
    ):
        raise AuditRecordError(
            f"{where}: expected an object mapping 'actor'/'target' to strings, got {value!r}"
        )
    return value


def decode_record(stored: StoredRecord) -> AuditRecord:
    """The :class:`AuditRecord` in ``stored``, its body checked field by field; a
    malformed body raises :class:`~childsafe.audit.AuditRecordError` naming the record
    and the field."""
    where = f"record {stored.seq}"
    body = load_body(stored.body, where)
    missing = sorted(_BODY_KEYS - body.keys())
    extra = sorted(body.keys() - _BODY_KEYS)
    if missing or extra:
        raise AuditRecordError(f"{where}: body fields missing {missing}, unexpected {extra}")
    if body["v"] != RECORD_VERSION or isinstance(body["v"], bool):
        raise AuditRecordError(f"{where}.v: unknown record version {body['v']!r}")
    record_id = body["id"]
    if not isinstance(record_id, str) or not record_id:
        raise AuditRecordError(f"{where}.id: expected a non-empty string, got {record_id!r}")
    kind = body["kind"]
    if kind not in KINDS:
        raise AuditRecordError(f"{where}.kind: unknown record kind {kind!r}")
    data = body["data"]
    if not isinstance(data, dict):
        raise AuditRecordError(f"{where}.data: expected an object, got {data!r}")
    link: tuple[tuple[str, object], ...] = (("prev", stored.prev), ("hash", stored.hash))
    for name, value in link:
        if not isinstance(value, str) or not _HEX64.match(value):
            raise AuditRecordError(f"{where}.{name}: expected 64 lowercase hex digits")
    return AuditRecord(
        seq=stored.seq,
        id=record_id,
        time=parse_time(body["time"], f"{where}.time"),
        kind=kind,
        actor=_optional_str(body["actor"], f"{where}.actor"),
        target=_optional_str(body["target"], f"{where}.target"),
        bands=_role_map(body["bands"], f"{where}.bands"),
        jurisdictions=_role_map(body["jurisdictions"], f"{where}.jurisdictions"),
        data=data,
        prev=stored.prev,
        hash=stored.hash,
    )


def index_of(record: AuditRecord) -> tuple[int, str, str | None, str | None, Any, Any]:
    """The columns a store derives from ``record``'s body, to compare with its own."""
    reason = record.data.get("reason")
    allowed = record.data.get("allowed")
    return (
        to_micros(record.time),
        record.kind,
        record.actor,
        record.target,
        reason if isinstance(reason, str) else None,
        allowed if isinstance(allowed, bool) else None,
    )
