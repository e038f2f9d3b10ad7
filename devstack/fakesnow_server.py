"""Run fakesnow's Snowflake-protocol server with its databases persisted in a directory.

`fakesnow -s` ignores `-d` and keeps everything in memory, so this starts the same ASGI app with
a persistent shared instance instead.
"""

from __future__ import annotations

import argparse

import fakesnow.server
import uvicorn
from fakesnow.instance import FakeSnow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db-path", required=True)
    args = parser.parse_args()
    fakesnow.server.shared_fs = FakeSnow(db_path=args.db_path)
    uvicorn.run(fakesnow.server.app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
