"""The feed's thresholds reach CHAINLINK_FEEDS, and an older feeds table gains their columns."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import snowflake.connector

from chainlink_feeds.store import RoundStore
from devstack.services import emulator
from warehouse.tables import CHAINLINK_FEEDS

FEEDS_TABLE = CHAINLINK_FEEDS.name

WINDOW = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))


MARKET_SETTINGS = (
    "divergence_margin_bps",
    "market_max_age_minutes",
    "thin_quote_slippage_bps",
    "silent_oracle_minutes",
)


def thresholds(cur, schema: str) -> list[tuple]:
    cur.execute(
        f"select feed_pair, warning_bps, critical_bps, hysteresis_bps, heartbeat_grace_seconds "
        f"from {schema}.{FEEDS_TABLE} order by feed_pair"
    )
    return cur.fetchall()


def test_an_older_feeds_table_gains_the_thresholds_and_a_load_writes_the_registrys(
    snowflake_schema, feed_by_pair
) -> None:
    feed = feed_by_pair["USDC/USD"]
    older = CHAINLINK_FEEDS.without("warning_bps", "critical_bps", "hysteresis_bps", *MARKET_SETTINGS)
    with snowflake.connector.connect(**emulator.connection_params()) as conn, conn.cursor() as cur:
        cur.execute(older.create_sql(snowflake_schema))
        cur.execute(
            f"insert into {snowflake_schema}.{FEEDS_TABLE} (chain, chain_id, proxy_address, feed_pair, symbol, "
            f"description, decimals, heartbeat_seconds, heartbeat_grace_seconds, deviation_threshold_pct, peg_usd, "
            f"loaded_at) values ('ethereum', 1, '{feed.proxy}', 'USDC/USD', 'USDC', 'USDC / USD', 8, 86400, 0, 0.25, "
            f"1, '2026-01-01 00:00:00')"
        )
        store = RoundStore(conn, snowflake_schema)
        store.ensure_tables()
        store.ensure_tables()  # twice: the second finds the columns and changes nothing
        # what the older release used: the dbt vars 50 / 100, no hysteresis
        assert thresholds(cur, snowflake_schema) == [("USDC/USD", 50, 100, 0, 0)]
        # the market checks' settings, which no older release had: the registry's defaults
        cur.execute(f"select {', '.join(MARKET_SETTINGS)} from {snowflake_schema}.{FEEDS_TABLE}")
        assert cur.fetchall() == [(25, 90, 1000, 3)]
        own = dataclasses.replace(feed, warning_bps=20, critical_bps=35, hysteresis_bps=4, heartbeat_grace_seconds=60)
        store.load(own, WINDOW, [], [], None, {}, 1, "test")
        assert thresholds(cur, snowflake_schema) == [("USDC/USD", 20, 35, 4, 60)]
        store.load(feed, WINDOW, [], [], None, {}, 1, "test")  # the registry changed back: the row follows
        assert thresholds(cur, snowflake_schema) == [("USDC/USD", 50, 100, 10, 900)]
