"""The emulator's write lock: first come first served, and a timed-out wait names what holds it.

In-process, on the lock alone: the live emulator's lock timeout (45 s) is too long to wait for in a
test, and the order of arrivals must be set exactly (tests/devstack/services/test_emulator.py
covers the lock through snowflake.connector).
"""

from __future__ import annotations

import threading
import time

import pytest
import snowflake.connector.errors

from devstack.services import fakesnow_server


class Session:
    """What the lock reads of a fakesnow session."""

    _in_transaction = False


def _wait_for(condition, timeout: float = 10) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_busy_writer_queues_behind_the_sessions_already_waiting() -> None:
    """A writer that releases and writes again at once used to win the lock back from a waiting
    session as often as not; a busy pipeline could starve a waiter past the lock timeout."""
    lock = fakesnow_server._WriteLock()
    busy, first, second = Session(), Session(), Session()
    order: list[str] = []

    def write(session: Session, name: str) -> None:
        lock.enter(session, f"insert by {name}")
        order.append(name)
        lock.leave(session, in_transaction=False)

    lock.enter(busy, "merge into t")
    waiters = [threading.Thread(target=write, args=(first, "first"))]
    waiters[0].start()
    _wait_for(lambda: len(lock._waiting) == 1)
    waiters.append(threading.Thread(target=write, args=(second, "second")))
    waiters[1].start()
    _wait_for(lambda: len(lock._waiting) == 2)
    lock.leave(busy, in_transaction=False)
    write(busy, "busy again")
    for waiter in waiters:
        waiter.join(10)
    assert order == ["first", "second", "busy again"]


def test_a_session_inside_its_transaction_keeps_the_lock_for_its_next_statement() -> None:
    lock = fakesnow_server._WriteLock()
    owner, other = Session(), Session()
    lock.enter(owner, "begin")
    lock.leave(owner, in_transaction=True)
    waiter = threading.Thread(target=lambda: (lock.enter(other, "insert"), lock.leave(other, False)))
    waiter.start()
    _wait_for(lambda: len(lock._waiting) == 1)
    lock.enter(owner, "merge into t")  # not queued behind the waiter: its transaction holds the lock
    lock.leave(owner, in_transaction=False)
    waiter.join(10)
    assert not waiter.is_alive()


def test_a_timed_out_wait_names_the_statement_that_holds_the_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fakesnow_server, "LOCK_TIMEOUT_SECONDS", 1.0)
    lock = fakesnow_server._WriteLock()
    lock.enter(Session(), "create or replace table marts.stablecoin_market_vs_oracle as select 1")
    with pytest.raises(snowflake.connector.errors.ProgrammingError) as raised:
        lock.enter(Session(), "create schema if not exists raw")
    assert "waited 1s for another session's transaction to end" in str(raised.value)
    assert "by a session running `create or replace table marts.stablecoin_market_vs_oracle" in str(raised.value)
    assert not lock._waiting  # the failed waiter left the line
