"""The Snowflake emulator answers through snowflake.connector exactly as the pipeline uses it."""

from __future__ import annotations

from decimal import Decimal

import pytest
import snowflake.connector.errors

from devstack.settings import FAKESNOW_PORT
from warehouse.hooks import PegSnowflakeHook


def test_airflow_connection_reaches_the_emulator(snowflake_schema: str) -> None:
    hook = PegSnowflakeHook(snowflake_conn_id="snowflake_default")
    params = hook._get_conn_params()
    assert params["protocol"] == "http" and params["port"] == FAKESNOW_PORT
    with hook.get_conn() as conn, conn.cursor() as cur:
        cur.execute(
            f"create table {snowflake_schema}.prices (id number(25,0), price number(38,18), observed_at timestamp_ntz)"
        )
        cur.execute(
            f"insert into {snowflake_schema}.prices values (%s, %s, %s)",
            ("36893488147419103233", "0.99983349", "2026-03-11 13:40:00"),
        )
        cur.execute(f"select id, price, observed_at from {snowflake_schema}.prices")
        (row,) = cur.fetchall()
    assert row[0] == 36893488147419103233
    assert row[1] == Decimal("0.99983349")
    assert row[2].isoformat() == "2026-03-11T13:40:00"


def test_a_rolled_back_transaction_leaves_nothing(snowflake_schema: str) -> None:
    hook = PegSnowflakeHook(snowflake_conn_id="snowflake_default")
    with hook.get_conn() as conn:
        conn.cursor().execute(f"create table {snowflake_schema}.t (x int)")
        conn.autocommit(False)
        conn.cursor().execute("begin")
        conn.cursor().execute(f"insert into {snowflake_schema}.t values (1)")
        conn.rollback()
        conn.autocommit(True)
        assert conn.cursor().execute(f"select count(*) from {snowflake_schema}.t").fetchone() == (0,)


def test_protocol_extra_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from devstack.services import emulator

    bad = json.loads(emulator.airflow_connection_uri())
    bad["extra"]["protocol"] = "ftp"
    monkeypatch.setenv("AIRFLOW_CONN_SNOWFLAKE_BAD", json.dumps(bad))
    with pytest.raises(ValueError, match="protocol must be http or https"):
        PegSnowflakeHook(snowflake_conn_id="snowflake_bad")._get_conn_params()


def test_several_merges_in_one_transaction_roll_back_together(snowflake_schema: str) -> None:
    """The emulator's MERGE used to commit the open transaction (devstack.services.fakesnow_server mends it)."""
    merge = (
        "merge into {schema}.{table} as t using (select column1::int as x from values (%s)) as s "
        "on t.x = s.x when not matched then insert (x) values (s.x)"
    )
    hook = PegSnowflakeHook(snowflake_conn_id="snowflake_default")
    with hook.get_conn() as conn:
        for table in ("a", "b"):
            conn.cursor().execute(f"create table {snowflake_schema}.{table} (x int)")
        conn.autocommit(False)
        conn.cursor().execute("begin")
        for table in ("a", "b"):
            conn.cursor().execute(merge.format(schema=snowflake_schema, table=table), (1,))
        conn.rollback()
        conn.autocommit(True)
        for table in ("a", "b"):
            assert conn.cursor().execute(f"select count(*) from {snowflake_schema}.{table}").fetchone() == (0,)


def test_concurrent_transactions_merging_the_same_key_both_land(snowflake_schema: str) -> None:
    """Two loads MERGE the same feed row at once; Snowflake makes the second wait, so both commit.

    The emulator used to fail the second COMMIT on the duplicate key with HTTP 500, which the
    connector retried into a silent success: that load's rows were lost (devstack.services.fakesnow_server).
    """
    import threading

    hook = PegSnowflakeHook(snowflake_conn_id="snowflake_default")
    with hook.get_conn() as conn:
        conn.cursor().execute(f"create table {snowflake_schema}.feeds (k varchar primary key, v int)")
        conn.cursor().execute(f"create table {snowflake_schema}.windows (w varchar primary key)")
    merge = (
        f"merge into {snowflake_schema}.feeds as t using (select column1::varchar as k, column2::int as v "
        "from values (%s, %s)) as s on t.k = s.k when not matched then insert (k, v) values (s.k, s.v)"
    )
    first_merged = threading.Event()
    errors: list[BaseException] = []

    def load(window: str, hold_open: float) -> None:
        try:
            with hook.get_conn() as conn:
                conn.autocommit(False)
                conn.cursor().execute("begin")
                conn.cursor().execute(merge, ("USDC/USD", 1))
                conn.cursor().execute(f"insert into {snowflake_schema}.windows values (%s)", (window,))
                first_merged.set()
                threading.Event().wait(hold_open)
                conn.commit()
                conn.autocommit(True)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    first = threading.Thread(target=load, args=("day-1", 1.5))
    first.start()
    assert first_merged.wait(30)
    second = threading.Thread(target=load, args=("day-2", 0))
    second.start()
    first.join(60)
    second.join(60)
    assert not errors
    with hook.get_conn() as conn:
        assert conn.cursor().execute(f"select count(*) from {snowflake_schema}.feeds").fetchone() == (1,)
        windows = conn.cursor().execute(f"select w from {snowflake_schema}.windows order by w").fetchall()
    assert windows == [("day-1",), ("day-2",)]


def test_an_abandoned_transaction_is_rolled_back_and_frees_the_writers(snowflake_schema: str) -> None:
    """A client gone mid-transaction (a killed task) must not block every later load, nor may its
    work half-land: its transaction is rolled back once idle, and its COMMIT then fails."""
    import time

    hook = PegSnowflakeHook(snowflake_conn_id="snowflake_default")
    with hook.get_conn() as conn:
        conn.cursor().execute(f"create table {snowflake_schema}.t (x int)")
    abandoned = hook.get_conn()
    abandoned.autocommit(False)
    abandoned.cursor().execute("begin")
    abandoned.cursor().execute(f"insert into {snowflake_schema}.t values (1)")
    started = time.monotonic()
    with hook.get_conn() as conn:
        conn.cursor().execute(f"insert into {snowflake_schema}.t values (2)")
        rows = conn.cursor().execute(f"select x from {snowflake_schema}.t").fetchall()
    assert rows == [(2,)]
    assert time.monotonic() - started < 40  # the idle limit (10 s), well before the lock timeout
    with pytest.raises(snowflake.connector.errors.ProgrammingError, match="rolled back after holding locks idle"):
        abandoned.commit()
    abandoned.close()
