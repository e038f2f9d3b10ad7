"""Run fakesnow's Snowflake-protocol server with its databases persisted in a directory.

`fakesnow -s` ignores `-d` and keeps everything in memory, so this starts the same ASGI app with
a persistent shared instance instead. It also mends one emulator bug (see `_keep_merges_in_transaction`).
"""

from __future__ import annotations

import argparse

import fakesnow.server
import uvicorn
from fakesnow.instance import FakeSnow


def _keep_merges_in_transaction() -> None:
    """Stop the emulator's MERGE from committing the caller's open transaction.

    fakesnow runs a MERGE as several statements, the first a `CREATE TEMPORARY TABLE
    merge_candidates`, and commits the open transaction before it as Snowflake does before user DDL,
    so a transaction of several MERGEs was not atomic. Real Snowflake runs a MERGE as one DML
    statement inside the transaction; with this, so does the emulator.
    """
    from fakesnow.cursor import FakeSnowflakeCursor
    from sqlglot import exp

    execute = FakeSnowflakeCursor._execute

    def _execute(self, transformed, params=None):  # type: ignore[no-untyped-def]
        internal = isinstance(transformed, exp.Create) and transformed.this.name.lower() == "merge_candidates"
        if not (internal and self._conn._in_transaction):
            return execute(self, transformed, params)
        # Its info-schema bookkeeping (comments, text lengths) would write to another DuckDB
        # database inside the transaction, which DuckDB refuses; an internal temp table needs none.
        transformed.set("table_comment", None)
        transformed.set("text_lengths", None)
        autocommit, self._conn._autocommit = self._conn._autocommit, True
        try:
            return execute(self, transformed, params)
        finally:
            self._conn._autocommit = autocommit

    FakeSnowflakeCursor._execute = _execute


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db-path", required=True)
    args = parser.parse_args()
    _keep_merges_in_transaction()
    fakesnow.server.shared_fs = FakeSnow(db_path=args.db_path)
    uvicorn.run(fakesnow.server.app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
