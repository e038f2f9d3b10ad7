"""The Snowflake emulator answers through snowflake.connector exactly as the pipeline uses it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from devstack.settings import FAKESNOW_PORT
from peg_monitor.snowflake_hook import PegSnowflakeHook


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

    from devstack import warehouse

    bad = json.loads(warehouse.airflow_connection_uri())
    bad["extra"]["protocol"] = "ftp"
    monkeypatch.setenv("AIRFLOW_CONN_SNOWFLAKE_BAD", json.dumps(bad))
    with pytest.raises(ValueError, match="protocol must be http or https"):
        PegSnowflakeHook(snowflake_conn_id="snowflake_bad")._get_conn_params()


def test_several_merges_in_one_transaction_roll_back_together(snowflake_schema: str) -> None:
    """The emulator's MERGE used to commit the open transaction (devstack.fakesnow_server mends it)."""
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
