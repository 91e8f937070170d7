"""``childsafe audit verify`` and ``childsafe audit export``.

``verify`` takes a store URL (``sqlite:///audit.db``, ``postgresql://...``) or a bundle
file. It prints what it found and exits 0 when every record is intact and anchored by a
signed checkpoint, 1 when a link is broken (naming the first), and 3 when the records
are intact but the newest ones come after the last checkpoint (unanchored).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from childsafe._parsing import load_json
from childsafe.audit import (
    AuditRecordError,
    Checkpoint,
    DirectoryCheckpoints,
    Pseudonymiser,
    VerifyReport,
    export_bundle,
    open_store,
    read_bundle,
    verify_bundle,
    verify_chain,
    write_bundle,
)
from childsafe.audit._checkpoints import key_id_of, read_public_key
from childsafe.audit._errors import AuditError
from childsafe.audit._export import _read_capped
from childsafe.audit._pseudonyms import ENV_KEYS

__all__ = ["add_audit_commands"]


_WITNESS_BYTES = 1 << 20  # a checkpoint is a few hundred bytes


def _when(text: str, *, end: bool = False) -> dt.datetime:
    """``YYYY-MM-DD`` (the day's start; with ``end``, the next day's start, so ``--to``
    includes the day) or an ISO 8601 time with an offset."""
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            moment = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
            return moment + dt.timedelta(days=1) if end else moment
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected YYYY-MM-DD or an ISO 8601 time, got {text!r}"
        ) from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give the time's offset (Z or +01:00): {text!r}")
    return value


def _keys(paths: list[str] | None) -> dict[str, Any] | None:
    if not paths:
        return None
    keys = {}
    for path in paths:
        key = read_public_key(path)
        keys[key_id_of(key)] = key
    return keys


def _is_store(target: str) -> bool:
    return "://" in target or target == "memory:"


def _print(report: VerifyReport, target: str, fmt: str, notes: list[str]) -> int:
    if fmt == "json":
        print(json.dumps({"target": target, **report.to_dict(), "notes": notes}, indent=2))
    else:
        print(f"childsafe audit verify: {target}")
        print(report.summary())
        for note in notes:
            print(f"note: {note}")
    return report.exit_status


def _cmd_verify(args: argparse.Namespace) -> int:
    pinned = _keys(args.public_key)
    notes: list[str] = []
    witness = None
    if args.witness:
        try:
            # As a bundle is read: a regular file, small, one reading of its keys.
            raw = _read_capped(Path(args.witness), _WITNESS_BYTES)
            witness = Checkpoint.from_dict(load_json(raw, max_bytes=_WITNESS_BYTES), args.witness)
        except (OSError, ValueError) as e:
            raise AuditError(f"cannot read the witness checkpoint {args.witness}: {e}") from None
    if not _is_store(args.target):
        bundle = read_bundle(Path(args.target))
        if pinned is None:
            notes.append(
                "trusting the public key inside the bundle; compare it with the one the "
                "platform publishes, or pass --public-key"
            )
        return _print(verify_bundle(bundle, pinned), args.target, args.format, notes)
    store = open_store(args.target, create=False)
    try:
        sink = DirectoryCheckpoints(args.checkpoints) if args.checkpoints else None
        checkpoints = sink.read() if sink is not None else []
        keys = pinned
        if keys is None:
            keys = sink.public_keys() if sink is not None else {}
            if sink is not None:
                notes.append(
                    "trusting the public keys in the checkpoint directory; pass --public-key "
                    "to pin the platform's own"
                )
        if sink is None:
            notes.append("no --checkpoints given: nothing signed anchors the chain")
        report = verify_chain(store, checkpoints, keys, witness=witness)
    finally:
        store.close()
    return _print(report, store.description, args.format, notes)


def _cmd_export(args: argparse.Namespace) -> int:
    accounts: list[str] | None = None
    if args.account is not None:
        accounts = list(Pseudonymiser.from_env().candidates(args.account))
    elif args.pseudonym is not None:
        accounts = [args.pseudonym]
    if args.since is None and args.until is None and accounts is None:
        raise AuditError("choose what to export: --from/--to, --account or --pseudonym")
    if args.since is not None and args.until is not None and args.until <= args.since:
        raise AuditError(
            f"--to ({args.until.isoformat()}) must come after --from "
            f"({args.since.isoformat()}): the period holds nothing"
        )
    store = open_store(args.store, create=False)
    try:
        sink = DirectoryCheckpoints(args.checkpoints)
        keys = _keys(args.public_key) or sink.public_keys()
        bundle = export_bundle(
            store, sink.read(), keys, since=args.since, until=args.until, accounts=accounts
        )
    finally:
        store.close()
    write_bundle(bundle, Path(args.output))
    summary = bundle["summary"]
    print(
        f"childsafe audit export: wrote {args.output}: {summary['records']} records, "
        f"{summary['policy_records']} policy records, {summary['segments']} chain segments"
    )
    print(f"Verify it with: childsafe audit verify {args.output}")
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    try:
        if args.audit_command == "verify":
            return _cmd_verify(args)
        return _cmd_export(args)
    except AuditRecordError as e:
        print(f"childsafe audit {args.audit_command}: error: {e}", file=sys.stderr)
        return 2


def add_audit_commands(commands: Any) -> None:  # noqa: ANN401 - argparse's private subparsers type
    """Register ``childsafe audit`` on the CLI's sub-command parsers."""
    audit = commands.add_parser(
        "audit",
        help="verify the audit trail or export it for an investigation",
        description="Verify a hash-chained audit trail (or an exported bundle) against its "
        "signed checkpoints, or export records with their chain proof.",
        epilog="verify exits 0 when every record is intact and anchored, 1 when a link is "
        "broken, 3 when the newest records come after the last checkpoint (unanchored).",
    )
    audit.set_defaults(run=_cmd_audit)
    sub = audit.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")
    keys = argparse.ArgumentParser(add_help=False)
    keys.add_argument(
        "--public-key",
        action="append",
        metavar="PEM",
        help="a checkpoint public key to trust (repeatable); default: the keys beside the "
        "checkpoints or inside the bundle",
    )
    verify = sub.add_parser(
        "verify",
        parents=[keys],
        help="check every link and checkpoint; name the first broken link",
        description="TARGET is a store URL (sqlite:///audit.db, sqlite:////abs/audit.db, "
        "postgresql://...) or a bundle written by 'childsafe audit export'.",
    )
    verify.add_argument("target", metavar="TARGET")
    verify.add_argument("--checkpoints", metavar="DIR", help="the checkpoint directory")
    verify.add_argument(
        "--witness", metavar="FILE", help="a checkpoint kept elsewhere that the chain must reach"
    )
    verify.add_argument("--format", "-f", choices=("text", "json"), default="text")
    export = sub.add_parser(
        "export",
        parents=[keys],
        help="write records for a period or an account, with their chain proof",
        description="Write a bundle a regulator can verify offline. --account needs the "
        f"pseudonymisation keys in {ENV_KEYS} (key_id:hex,...); --pseudonym takes a "
        "pseudonym as stored.",
    )
    export.add_argument("store", metavar="STORE_URL")
    export.add_argument("--checkpoints", metavar="DIR", required=True)
    export.add_argument("--from", dest="since", type=_when, metavar="WHEN")
    export.add_argument(
        "--to",
        dest="until",
        type=lambda t: _when(t, end=True),
        metavar="WHEN",
        help="the end (a date includes that whole day)",
    )
    who = export.add_mutually_exclusive_group()
    who.add_argument("--account", metavar="ID", help="the platform's account id")
    who.add_argument("--pseudonym", metavar="PSEUDONYM")
    export.add_argument("--output", "-o", metavar="FILE", required=True, help=".json or .json.gz")
