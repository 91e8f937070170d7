"""Serve the Playground example on http://127.0.0.1:8000 with seeded demo accounts.

    python -m examples.flask_app [--port 8000] [--db playground.sqlite3] [--data-dir DIR]

Run it from the repository root, in an environment with childsafe and Flask installed
(``python3 dev.py`` creates one in ``.venv``). It uses waitress when it is installed and
Flask's development server otherwise, and listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util

from examples.flask_app.app import create_app

HOST = "127.0.0.1"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m examples.flask_app", description=__doc__.split("\n")[0]
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
    args = parser.parse_args(argv)
    app = create_app(args.db, data_dir=args.data_dir)
    data_dir = app.extensions["playground"].data_dir
    print(f"Playground (Flask + childsafe) on http://{HOST}:{args.port}/  (Ctrl+C to stop)")
    print("Sign in as maya (12), sam (15), lena (15, Ireland), alex (17), stranger, aunt_jo")
    print("or parent_pat. An age token from the local test issuer, for the JSON API:")
    print(f"  python -m examples.common.age_issuer --data-dir {data_dir} sam --age-band 13_15")
    if importlib.util.find_spec("waitress") is not None:
        waitress = importlib.import_module("waitress")  # optional, and untyped
        waitress.serve(app, host=HOST, port=args.port, threads=8)
    else:
        app.run(host=HOST, port=args.port)


if __name__ == "__main__":
    main()
