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
import sys
import threading
import time
from typing import Any

import fakesnow.server
import uvicorn
from fakesnow.instance import FakeSnow

# How long a write waits for another session's transaction, like Snowflake's LOCK_TIMEOUT. Kept
# under the connector's 60 s read timeout, past which it would resend the waiting statement.
LOCK_TIMEOUT_SECONDS = float(os.environ.get("PEG_FAKESNOW_LOCK_TIMEOUT", "45"))
# A transaction idle this long while another session waits is rolled back (its client is gone:
# a killed task never logs out, and the connector cannot log out of fakesnow at all).
IDLE_TRANSACTION_SECONDS = float(os.environ.get("PEG_FAKESNOW_IDLE_TRANSACTION_TIMEOUT", "10"))
# A wait for, or a hold of, the write lock longer than this is logged (services' fakesnow.log).
SLOW_SECONDS = 10.0


def _short(statement: str) -> str:
    return " ".join(statement.split())[:160]


def _log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} emulator: {message}", file=sys.stderr, flush=True)


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
    fails the second COMMIT on the duplicate key; fakesnow answered that with HTTP 500, the
    connector retried the COMMIT, and the retry "succeeded" with no transaction left: the load was
    silently lost. Serializing writers gives Snowflake's outcome. Reads never wait.
    """

    def __init__(self) -> None:
        self._free = threading.Condition()
        self._owner: Any = None
        self._running = 0  # the owner's statements in flight
        self._idle_since = 0.0  # when the owner's last statement ended
        self._held_since = 0.0  # when the owner took the lock
        self._statement = ""  # the owner's latest statement, to name it to whoever waits
        self.open: set[int] = set()  # ids of sessions inside a transaction
        self._aborted: set[int] = set()  # ids of sessions whose idle transaction was rolled back

    def enter(self, session: Any, command: str) -> None:
        """Wait for the lock, or fail after LOCK_TIMEOUT_SECONDS naming the statement that holds it."""
        import snowflake.connector.errors

        arrived = time.monotonic()
        with self._free:
            while self._owner not in (None, session):
                if self._running == 0 and time.monotonic() - self._idle_since > IDLE_TRANSACTION_SECONDS:
                    self._abort_owner()
                    continue
                if time.monotonic() - arrived > LOCK_TIMEOUT_SECONDS:
                    raise snowflake.connector.errors.ProgrammingError(
                        msg=f"emulator: waited {LOCK_TIMEOUT_SECONDS:.0f}s for another session's transaction "
                        f"to end; {self._holder()}",
                        errno=625,
                        sqlstate="57014",
                    )
                self._free.wait(0.5)
            waited = time.monotonic() - arrived
            if waited > SLOW_SECONDS:
                _log(f"waited {waited:.1f}s for the write lock to run `{_short(command)}`")
            if id(session) in self._aborted:
                self._aborted.discard(id(session))
                raise snowflake.connector.errors.ProgrammingError(
                    msg=f"emulator: this session's transaction was rolled back after holding locks idle "
                    f"for {IDLE_TRANSACTION_SECONDS:.0f}s while another session waited",
                    errno=625,
                    sqlstate="40001",
                )
            if self._owner is not session:
                self._owner, self._held_since = session, time.monotonic()
            self._statement = command
            self._running += 1

    def leave(self, session: Any, in_transaction: bool) -> None:
        """After the owner's statement: keep the lock while its transaction is open."""
        with self._free:
            (self.open.add if in_transaction else self.open.discard)(id(session))
            self._running -= 1
            if self._running == 0:
                self._idle_since = time.monotonic()
                if not in_transaction:
                    held = self._idle_since - self._held_since
                    if held > SLOW_SECONDS:
                        _log(f"a session held the write lock {held:.1f}s, to `{_short(self._statement)}`")
                    self._owner = None
                    self._free.notify_all()

    def _holder(self) -> str:
        now = time.monotonic()
        doing = "running" if self._running else f"idle {now - self._idle_since:.0f}s in a transaction after"
        return f"the lock is held for {now - self._held_since:.0f}s by a session {doing} `{_short(self._statement)}`"

    def _abort_owner(self) -> None:
        import duckdb

        owner, self._owner = self._owner, None
        with contextlib.suppress(duckdb.Error):  # already ended by DuckDB
            owner._duck_conn.rollback()
        owner._in_transaction = False
        self.open.discard(id(owner))
        self._aborted.add(id(owner))  # its next statement (a COMMIT, say) must fail, not "succeed"
        self._free.notify_all()


def _serialize_writers() -> None:
    """Run writes one session at a time, and report a failed transaction instead of a retryable 500."""
    import duckdb
    import snowflake.connector.errors
    import sqlglot
    from fakesnow.cursor import FakeSnowflakeCursor
    from sqlglot import exp

    lock = _WriteLock()
    reads = (exp.Query, exp.Values, exp.Show, exp.Describe, exp.Use, exp.Pragma)
    dml = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Copy)
    ddl = (exp.Create, exp.Drop, exp.Alter, exp.Comment)

    def statement(command: str) -> exp.Expression | None:
        try:
            return sqlglot.parse_one(command, read="snowflake")
        except sqlglot.errors.SqlglotError:
            return None  # counted as a write; fakesnow reports the error itself

    def in_transaction_after(session: Any, parsed: exp.Expression | None, autocommit_before: bool) -> bool:
        if isinstance(parsed, exp.Transaction):
            return True
        if isinstance(parsed, (exp.Commit, exp.Rollback)):
            return False
        if not autocommit_before and (isinstance(parsed, ddl) or session._autocommit):
            return False  # DDL commits first; switching autocommit on commits too
        return id(session) in lock.open or (not autocommit_before and isinstance(parsed, dml))

    execute = FakeSnowflakeCursor.execute

    def _execute(self, command, params=None, *args, **kwargs):  # type: ignore[no-untyped-def]
        session = self._conn
        parsed = statement(command)
        if isinstance(parsed, reads):
            return execute(self, command, params, *args, **kwargs)
        lock.enter(session, command)
        autocommit_before = session._autocommit
        try:
            return execute(self, command, params, *args, **kwargs)
        except duckdb.Error as exc:
            if isinstance(parsed, exp.Commit) or isinstance(
                exc, (duckdb.TransactionException, duckdb.ConstraintException)
            ):
                raise snowflake.connector.errors.ProgrammingError(msg=str(exc), errno=603, sqlstate="XX000") from exc
            raise
        finally:
            lock.leave(session, in_transaction_after(session, parsed, autocommit_before))

    FakeSnowflakeCursor.execute = _execute


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
