"""``childsafe media hash`` and ``childsafe media check-list``: PDQ hashes of image files,
and a hash list checked the way :class:`~childsafe.media.MediaScreen` would load it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_media_commands"]

_JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")


def _hash(args: argparse.Namespace) -> int:
    from childsafe.media import ImageError, pdq_hash  # noqa: PLC0415 - needs the media extra

    failed = 0
    for name in args.files:
        try:
            found = pdq_hash(Path(name), max_pixels=args.max_pixels)
        except ImageError as e:
            print(f"childsafe media hash: {e}", file=sys.stderr)
            failed += 1
            continue
        print(f"{found.hex}  {found.quality:3d}  {name}")
    return 1 if failed else 0


def _check_list(args: argparse.Namespace) -> int:
    from childsafe.media import HashList  # noqa: PLC0415

    path = Path(args.file)
    kind = args.format
    if kind == "auto":
        kind = "threatexchange" if path.suffix.lower() in _JSON_SUFFIXES else "csv"
    if kind == "csv":
        hl = HashList.from_csv(
            path, name=args.name, hash_column=args.hash_column, id_column=args.id_column
        )
    else:
        hl = HashList.from_threatexchange(path, name=args.name)
    with_ids = sum(1 for i in hl.ids if i is not None)
    distinct = len({hl.digests[i : i + 32] for i in range(0, len(hl.digests), 32)})
    print(
        f"{hl.name}: {len(hl):,} PDQ hashes ({distinct:,} distinct, {with_ids:,} with ids) "
        f"from {path} ({kind}): OK"
    )
    return 0


def add_media_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``media hash`` and ``media check-list`` to the ``childsafe`` command."""
    media = commands.add_parser(
        "media", help="PDQ hashes of images, and hash lists checked (childsafe[media])"
    )
    sub = media.add_subparsers(dest="media_command", required=True, metavar="COMMAND")
    hashing = sub.add_parser(
        "hash",
        help="the PDQ hash and quality of image files",
        description="Print each image's PDQ hash (64 hex digits, as hash lists carry them), "
        "its quality (0-100) and its name. Exit status 1 if a file is not an image.",
    )
    hashing.add_argument("files", nargs="+", metavar="FILE")
    hashing.add_argument(
        "--max-pixels", type=int, default=50_000_000, metavar="N", help="refuse larger images"
    )
    hashing.set_defaults(run=_hash)
    check = sub.add_parser(
        "check-list",
        help="load a hash list and report what is wrong with it",
        description="Load a CSV or ThreatExchange hash list as MediaScreen would and print "
        "how many hashes it holds, or the file, line and problem that makes it unusable "
        "(exit status 2).",
    )
    check.add_argument("file", metavar="FILE")
    check.add_argument(
        "--format",
        choices=("auto", "csv", "threatexchange"),
        default="auto",
        help="default: threatexchange for .json/.jsonl, else csv",
    )
    check.add_argument("--name", help="the list's name (default: the file's stem)")
    check.add_argument("--hash-column", metavar="NAME", help="CSV: the header of the hashes")
    check.add_argument("--id-column", metavar="NAME", help="CSV: the header of the ids")
    check.set_defaults(run=_check_list)
