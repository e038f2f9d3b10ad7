"""The emulator's write lock: a timed-out wait names the statement that holds the lock.

In-process, on the lock alone: the live emulator's lock timeout (45 s) is too long to wait for in a
test (tests/devstack/services/test_emulator.py covers the lock through snowflake.connector).
"""

from __future__ import annotations

import pytest
import snowflake.connector.errors

from devstack.services import fakesnow_server


class Session:
    """What the lock reads of a fakesnow session."""

    _in_transaction = False


def test_a_timed_out_wait_names_the_statement_that_holds_the_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fakesnow_server, "LOCK_TIMEOUT_SECONDS", 1.0)
    lock = fakesnow_server._WriteLock()
    lock.enter(Session(), "create or replace table marts.stablecoin_market_vs_oracle as select 1")
    with pytest.raises(snowflake.connector.errors.ProgrammingError) as raised:
        lock.enter(Session(), "create schema if not exists raw")
    assert "waited 1s for another session's transaction to end" in str(raised.value)
    assert "by a session running `create or replace table marts.stablecoin_market_vs_oracle" in str(raised.value)
