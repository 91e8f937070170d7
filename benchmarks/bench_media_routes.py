"""Per-request cost of a media route, against the same upload without childsafe.

One WSGI app reads an uploaded photo (``POST /photos``, ``multipart/form-data`` with a
caption and one image of 100 KiB or 1 MiB, or a raw ``image/png`` body) and answers
``201``. It runs bare, and behind ``childsafe.wsgi.ChildsafeMiddleware`` with the
route declared ``media.upload``: the body is spooled to a temporary file under the cap,
parsed by the kernel's multipart parser, handed to an inspector, decided, and replayed
to the app. The inspector here answers at once (a clean verdict after reading the
file), so the figures are the kernel's own cost; a real inspector's (PDQ hashing, a
classifier) is measured by the media benchmark of ``childsafe.media``. The bare and
childsafe apps are timed interleaved, sample by sample, in one process.

Run it with ``python3 benchmarks/bench_media_routes.py``; ``--write`` also updates the
``media-routes`` section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (
    machine,
    ns_timer,
    packages,
    python,
    run_interleaved,
    write_section,
)
from childsafe import Account, Guard, Relationship, RouteTable, action_rule, bearer_token
from childsafe.media import Classification, MediaFile, MediaVerdict
from childsafe.wsgi import ChildsafeMiddleware

TEEN = Account(id="teen", band="13_15", jurisdiction="GB")
BOUNDARY = "----childsafe-bench-boundary"


class _Accounts:
    def get_account(self, account_id: str) -> Account | None:
        return TEEN if account_id == "teen" else None

    def relationship(self, actor: Account, target: Account) -> Relationship:
        del actor, target
        return Relationship()


class _Inspector:
    """Reads the spooled file and answers a clean verdict: the kernel's cost only."""

    def inspect(self, media: MediaFile) -> MediaVerdict:
        media.path.read_bytes()
        return MediaVerdict(
            pdq="0" * 64, quality=100, classification=Classification(sensitive=False)
        )


def _app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("201 Created", [("Content-Type", "text/plain")])
    return [str(len(body)).encode()]


def _multipart(image: bytes) -> bytes:
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="caption"\r\n\r\nlook\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="photo"; '
            'filename="photo.png"\r\nContent-Type: image/png\r\n\r\n'
        ).encode()
        + image
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


@attrs.define
class _Bench:
    label: str
    app: Callable[..., Any]
    body: bytes
    content_type: str
    number: int = 1
    samples: list[float] = attrs.field(factory=list)

    def call(self) -> None:
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/photos",
            "CONTENT_TYPE": self.content_type,
            "CONTENT_LENGTH": str(len(self.body)),
            "HTTP_AUTHORIZATION": "Bearer teen",
            "wsgi.input": io.BytesIO(self.body),
            "wsgi.errors": sys.stderr,
        }
        result = self.app(environ, lambda *_: None)
        for _ in result:
            pass
        close = getattr(result, "close", None)
        if close is not None:
            close()

    def timer(self) -> Any:
        return ns_timer("call()", {"call": self.call})


def run(samples: int, sample_ms: float) -> list[tuple[str, float, float, float]]:
    spool_dir = Path(tempfile.mkdtemp(prefix="childsafe-bench-"))
    guarded = ChildsafeMiddleware(
        _app,
        guard=Guard(),
        resolvers=[bearer_token(_Accounts().get_account)],
        repository=_Accounts(),
        routes=RouteTable({"POST /photos": action_rule("media.upload")}),
        media_inspector=_Inspector(),
        media_temp_dir=str(spool_dir),
    )
    cases = [
        (
            "multipart, 100 KiB image",
            _multipart(os.urandom(100 * 1024)),
            f"multipart/form-data; boundary={BOUNDARY}",
        ),
        (
            "multipart, 1 MiB image",
            _multipart(os.urandom(1024 * 1024)),
            f"multipart/form-data; boundary={BOUNDARY}",
        ),
        ("raw image/png, 1 MiB", os.urandom(1024 * 1024), "image/png"),
    ]
    benches: list[_Bench] = []
    for label, body, content_type in cases:
        benches.append(_Bench(f"{label} | bare", _app, body, content_type))
        benches.append(_Bench(f"{label} | childsafe", guarded, body, content_type))
    run_interleaved(benches, samples, sample_ms)
    if list(spool_dir.iterdir()):
        raise RuntimeError("a temporary file was left behind")
    spool_dir.rmdir()
    rows = []
    for bare, checked in zip(benches[::2], benches[1::2], strict=True):
        b = statistics.median(bare.samples) / 1e3
        c = statistics.median(checked.samples) / 1e3
        rows.append((bare.label.split(" | ")[0], b, c, c - b))
    return rows


def render(rows: list[tuple[str, float, float, float]], samples: int, sample_ms: float) -> str:
    lines = [
        "<!-- media-routes:start -->",
        "## Media routes",
        "",
        "An upload route (`POST /photos`) read by a WSGI app, bare and behind the WSGI",
        "middleware with `media.upload` declared: the body spooled to a temporary file,",
        "parsed, inspected (an inspector that reads the file and answers at once, so these",
        "are the kernel's own costs), decided and replayed. Medians per request.",
        "",
        f"- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {machine()}",
        f"- Python: {python()}",
        f"- Packages: {packages(['childsafe', 'attrs'])}",
        f"- {samples} interleaved samples of about {sample_ms:g} ms each",
        "- Reproduce: `python3 benchmarks/bench_media_routes.py --write`",
        "",
        "| Body | Bare (µs) | With childsafe (µs) | Added (µs) |",
        "|---|--:|--:|--:|",
    ]
    lines += [f"| {label} | {b:,.0f} | {c:,.0f} | {d:,.0f} |" for label, b, c, d in rows]
    lines += [
        "",
        (
            "Compare within one run: absolute times depend on the machine and its load. The "
            "whole upload with a real inspector (PDQ hashing, the million-hash lookup, the "
            "classifier) beside the bare route is in the media safety benchmark above."
        ),
        "<!-- media-routes:end -->",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--sample-ms", type=float, default=40.0)
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    text = render(run(args.samples, args.sample_ms), args.samples, args.sample_ms)
    print(text)
    if args.write:
        write_section("media-routes", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
