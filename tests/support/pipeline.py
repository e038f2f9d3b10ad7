"""Run the pipeline's pieces for tests: load days into a raw schema, build the marts with dbt."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import snowflake.connector

from chainlink_feeds.operators import ChainlinkChainOperator, ChainlinkFeedOperator
from devstack.services import emulator
from peg_monitor.dbt_project import DBT_PROJECT_DIR, default_dbt_executable

DAY = timedelta(days=1)


# The marts and the columns that order their rows, for comparing whole tables.
MART_TABLES = {
    "STABLECOIN_PEG_HEALTH": "chain, proxy_address, round_id",
    "STABLECOIN_PEG_ZSCORE": "chain, proxy_address, hour_at",
    "STABLECOIN_DEPEG_EVENTS": "depeg_event_id",
    "STABLECOIN_PEG_DAILY": "chain, proxy_address, day",
    "CHAINLINK_FEED_STALENESS": "chain, proxy_address",
    "STABLECOIN_MARKET_VS_ORACLE": "chain, proxy_address, priced_at",
}


def query(sql: str) -> pd.DataFrame:
    with snowflake.connector.connect(**emulator.connection_params()) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return pd.DataFrame(cur.fetchall(), columns=[c[0].lower() for c in cur.description])


def create_schema(schema: str) -> None:
    with snowflake.connector.connect(**emulator.connection_params()) as conn:
        conn.cursor().execute(f"create schema if not exists {schema}")


def drop_schemas(*schemas: str) -> None:
    with snowflake.connector.connect(**emulator.connection_params()) as conn:
        for schema in schemas:
            conn.cursor().execute(f"drop schema if exists {schema} cascade")


def drop_pipeline(raw: str) -> None:
    """Drop a pipeline's raw schema and every schema dbt builds from it: `{raw}_A` (dbt creates the
    bare target schema too), `{raw}_A_STAGING` and `{raw}_A_MARTS`."""
    drop_schemas(raw, f"{raw}_A", f"{raw}_A_STAGING", f"{raw}_A_MARTS")


def load_days(schema: str, feeds, days: list[datetime], span: timedelta = DAY) -> None:
    """Load `feeds` and the reference each is pegged to (EUR/USD for EURC, as the chain's task loads
    it beside the feeds) for every window [day, day + span) into `schema`: per chain, the chain's task
    (ChainlinkChainOperator) given those pairs, which on an L2 loads its sequencer's status too."""
    for chain in sorted({feed.chain for feed in feeds}):
        on_chain = [feed for feed in feeds if feed.chain == chain]
        pegs = sorted({feed.peg_reference for feed in on_chain if feed.peg_reference})
        for day in days:
            ChainlinkChainOperator(
                task_id="load", chain=chain, feed_pairs=[*(feed.pair for feed in on_chain), *pegs],
                window_start=day.isoformat(), window_end=(day + span).isoformat(), raw_schema=schema,
            ).execute({"run_id": "test_load"})  # fmt: skip


def load_market_days(schema: str, days: list[datetime], span: timedelta = DAY) -> None:
    """Load the registry's references (ChainlinkFeedOperator) and each chain's pools
    (MarketPoolOperator) for every window [day, day + span) into `schema`, as the daily DAG's other
    loads do."""
    from chainlink_feeds.registry import load_market
    from market_pools.operators import MarketPoolOperator

    market = load_market()
    for day in days:
        window = {"window_start": day.isoformat(), "window_end": (day + span).isoformat(), "raw_schema": schema}
        for reference in market.references_in_use():
            ChainlinkFeedOperator(task_id="load", feed_pair=reference.pair, chain=reference.chain, **window).execute(
                {"run_id": "test_load"}
            )
        for chain in sorted({pool.chain for pool in market.pools}):
            MarketPoolOperator(task_id="market", chain=chain, **window).execute({"run_id": "test_load"})


def dbt_build(
    raw_schema: str, target_schema: str, work_dir: Path, select: str | None = None
) -> subprocess.CompletedProcess:
    """`dbt build` reading `raw_schema`, writing <target_schema>_STAGING and <target_schema>_MARTS
    (with `select`, only those models and their tests)."""
    return subprocess.run(
        [
            default_dbt_executable(), "build", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
            "--target-path", str(work_dir / "target"), "--log-path", str(work_dir / "logs"),
            "--vars", json.dumps({"raw_schema": raw_schema}),
            *(["--select", select] if select else []),
        ],
        capture_output=True, text=True, env=os.environ | {"PEG_DBT_SCHEMA": target_schema}, cwd=DBT_PROJECT_DIR,
    )  # fmt: skip
