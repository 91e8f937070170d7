"""Serve the Playground example on http://127.0.0.1:8000 with seeded demo accounts.

    python3 dev.py demo [--port 8000] [--db playground.sqlite3] [--data-dir DIR] [--store URL]

(``python -m examples.flask_app`` in an environment with childsafe and Flask installed
does the same; ``python3 dev.py`` creates one in ``.venv``.) It uses waitress when it
is installed and Flask's development server otherwise, and listens on 127.0.0.1 only.
Without ``--db`` the accounts live in a new temporary folder, removed again when the
server stops (Ctrl+C, or a SIGTERM).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType

from examples.common.socialdb import SEED_PEOPLE
from examples.flask_app.app import close_app, create_app

HOST = "127.0.0.1"


def _stop(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001 - a signal handler
    """SIGTERM stops the server like Ctrl+C, so the temporary folder is removed."""
    raise KeyboardInterrupt


def banner(port: int, data_dir: Path) -> str:
    """What the demo prints when it starts: where it is, whom to sign in as, and a
    command (that runs as printed from the repository root) minting an age token."""
    names = ", ".join(ident for ident, *_ in SEED_PEOPLE)
    return (
        f"Playground (Flask + childsafe) on http://{HOST}:{port}/  (Ctrl+C to stop)\n"
        f"Sign in as any of: {names}.\n"
        "The sign-in page says who each is and what to try; the Photos page shows the\n"
        "media checks on generated pictures (the demo hash list: "
        f"{Path(data_dir) / 'media' / 'demo-hash-list.csv'}).\n"
        "An age token from the local test issuer, for the JSON API:\n"
        f"  python3 dev.py age-token --data-dir {data_dir} sam --age-band 13_15"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 dev.py demo", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default: 8000)")
    parser.add_argument(
        "--db",
        default=None,
        help="SQLite file to use, seeded if empty (default: a fresh temporary file)",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="keys and revocations (default: <db name>-data next to the database)",
    )
    parser.add_argument(
        "--store",
        default=None,
        help="where complaints and the audit trail are kept: postgresql://... "
        "(default: the SQLite file)",
    )
    args = parser.parse_args(argv)
    scratch = None if args.db else Path(tempfile.mkdtemp(prefix="childsafe-playground-"))
    signal.signal(signal.SIGTERM, _stop)
    app = None
    try:
        db = args.db or scratch / "playground.sqlite3"  # type: ignore[operator]
        app = create_app(db, data_dir=args.data_dir, store=args.store)
        data_dir = app.extensions["playground"].data_dir
        print(banner(args.port, data_dir), flush=True)
        if importlib.util.find_spec("waitress") is not None:
            waitress = importlib.import_module("waitress")  # optional, and untyped
            waitress.serve(app, host=HOST, port=args.port, threads=8)
        else:
            app.run(host=HOST, port=args.port)
    except KeyboardInterrupt:
        print("\nPlayground stopped.", flush=True)
    finally:
        if app is not None:  # commit the audit trail's queue and sign a last checkpoint
            close_app(app)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
