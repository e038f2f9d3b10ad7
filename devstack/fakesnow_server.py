"""Run fakesnow's Snowflake-protocol server with its databases persisted in a directory.

`fakesnow -s` ignores `-d` and keeps everything in memory, so this starts the same ASGI app with
a persistent shared instance instead. It also mends what would make the emulator lose or split
a transaction where Snowflake would not: MERGE committing the caller's transaction
(`_keep_merges_in_transaction`), and concurrent writers (`_serialize_writers`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import threading

import fakesnow.server
import uvicorn
from fakesnow.instance import FakeSnow

# How long a write waits for another session's transaction, like Snowflake's LOCK_TIMEOUT.
LOCK_TIMEOUT_SECONDS = float(os.environ.get("PEG_FAKESNOW_LOCK_TIMEOUT", "120"))


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


class _WriteLock:
    """One writer session at a time, held from its first write to the end of its transaction.

    Snowflake locks a table for a MERGE/UPDATE/DELETE until the transaction ends, so a second
    writer waits and then sees the first one's rows. DuckDB instead lets both run on snapshots and
    fails the second COMMIT on the duplicate key; fakesnow answers that with HTTP 500, the connector
    retries the COMMIT, and the retry "succeeds" with no transaction left: the load is silently
    lost. Serializing writers gives Snowflake's outcome. Reads never wait.
    """

    def __init__(self) -> None:
        self._free = threading.Condition()
        self._owner: object | None = None
        self._depth = 0  # fakesnow runs some statements (MERGE) as nested statements

    def enter(self, session: object) -> None:
        import snowflake.connector.errors

        with self._free:
            if self._owner is not session:
                if not self._free.wait_for(lambda: self._owner is None, LOCK_TIMEOUT_SECONDS):
                    raise snowflake.connector.errors.ProgrammingError(
                        msg=f"emulator: waited {LOCK_TIMEOUT_SECONDS:.0f}s for another session's transaction to end",
                        errno=625,
                        sqlstate="57014",
                    )
                self._owner = session
            self._depth += 1

    def leave(self, session: object, in_transaction: bool) -> None:
        with self._free:
            if self._owner is session:
                self._depth -= 1
                if self._depth == 0 and not in_transaction:
                    self._owner = None
                    self._free.notify_all()

    def drop(self, session: object) -> None:
        with self._free:
            if self._owner is session:
                self._owner, self._depth = None, 0
                self._free.notify_all()


def _serialize_writers() -> None:
    """Run writes one session at a time, and report a failed transaction instead of a retryable 500."""
    import duckdb
    import snowflake.connector.errors
    from fakesnow.cursor import FakeSnowflakeCursor
    from sqlglot import exp

    lock = _WriteLock()
    reads = (exp.Select, exp.Union, exp.Show, exp.Describe, exp.Use)
    execute = FakeSnowflakeCursor._execute

    def _execute(self, transformed, params=None):  # type: ignore[no-untyped-def]
        session = self._conn
        write = not isinstance(transformed, reads)
        if write:
            lock.enter(session)
        try:
            return execute(self, transformed, params)
        except (duckdb.TransactionException, duckdb.ConstraintException) as exc:
            raise snowflake.connector.errors.ProgrammingError(msg=str(exc), errno=603, sqlstate="40001") from exc
        finally:
            if write:
                lock.leave(session, session._in_transaction)

    FakeSnowflakeCursor._execute = _execute

    class Sessions(dict):
        """The server's session table; a client that ends its session ends its transaction too."""

        def __delitem__(self, token: str) -> None:
            session = self[token]
            super().__delitem__(token)
            if session._in_transaction:
                with contextlib.suppress(duckdb.Error):  # already ended by DuckDB
                    session._duck_conn.rollback()
                session._in_transaction = False
            lock.drop(session)

    fakesnow.server.sessions = Sessions(fakesnow.server.sessions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db-path", required=True)
    args = parser.parse_args()
    _keep_merges_in_transaction()
    _serialize_writers()
    fakesnow.server.shared_fs = FakeSnow(db_path=args.db_path)
    uvicorn.run(fakesnow.server.app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
