"""The raw tables, each declared once: the ingest's (`CHAINLINK_*`) and the alerts' state.

Integer widths: round ids are uint80 (25 digits); NUMBER(38,0) would be exact on Snowflake but the
emulator maps it to a 64-bit integer, so every integer column is at most 37 digits wide.

A column with `added` came in a later release: `create table if not exists` leaves an older table
as it was, so the column is added to it and its rows filled from that expression. An older
release's price was the round from its updatedAt (exact except at a phase switch, which a reload of
the day corrects); its feed had no grace and its thresholds were dbt vars (warning 50 / critical
100 bps, the registry's defaults) with no hysteresis (the next load writes the registry's).
"""

from __future__ import annotations

from warehouse.spec import Column, TableSpec

# Every table's load metadata: kept from the first load by the MERGE (never compared).
_LOADED = (Column("loaded_at", "timestamp_ntz"), Column("airflow_run_id", "varchar", nullable=True))
_FEED = (Column("chain", "varchar"), Column("proxy_address", "varchar"), Column("feed_pair", "varchar"))
_ROUND_KEY = ("chain", "proxy_address", "round_id")

CHAINLINK_ROUNDS = TableSpec(
    "CHAINLINK_ROUNDS",
    (
        Column("chain", "varchar"), Column("chain_id", "number(12,0)"), Column("proxy_address", "varchar"),
        Column("feed_pair", "varchar"), Column("round_id", "number(25,0)"), Column("phase_id", "number(5,0)"),
        Column("aggregator_round_id", "number(20,0)"), Column("answer", "number(37,0)"),
        Column("decimals", "number(3,0)"), Column("price", "number(38,18)"),
        Column("started_at", "timestamp_ntz"), Column("updated_at", "timestamp_ntz"),
        Column("served_from", "timestamp_ntz", added="updated_at"), Column("answered_in_round", "number(25,0)"),
        Column("seconds_since_previous", "number(20,0)", nullable=True),
        Column("is_heartbeat_exceeded", "boolean", nullable=True),
        Column("block_number", "number(20,0)"), *_LOADED,
    ),
    key=_ROUND_KEY,
    compare=("answer", "started_at", "updated_at", "served_from", "answered_in_round", "price", "decimals"),
    fill=("seconds_since_previous", "is_heartbeat_exceeded"),
)  # fmt: skip

CHAINLINK_ROUND_REJECTIONS = TableSpec(
    "CHAINLINK_ROUND_REJECTIONS",
    (
        *_FEED, Column("round_id", "number(25,0)"), Column("answer", "varchar"),
        Column("started_at_unix", "number(25,0)"), Column("updated_at_unix", "number(25,0)"),
        Column("reason", "varchar"), Column("block_number", "number(20,0)"), *_LOADED,
    ),
    key=_ROUND_KEY,
    compare=("answer", "updated_at_unix", "reason"),
)  # fmt: skip

CHAINLINK_LOAD_WINDOWS = TableSpec(
    "CHAINLINK_LOAD_WINDOWS",
    (
        *_FEED, Column("window_start", "timestamp_ntz"), Column("window_end", "timestamp_ntz"),
        Column("carry_in_round_id", "number(25,0)", nullable=True), Column("rounds_in_window", "number(10,0)"),
        Column("rounds_rejected", "number(10,0)"), Column("block_number", "number(20,0)"), *_LOADED,
    ),
    key=("chain", "proxy_address", "window_start", "window_end"),
    compare=("carry_in_round_id", "rounds_in_window", "rounds_rejected"),
)  # fmt: skip

CHAINLINK_FEEDS = TableSpec(
    "CHAINLINK_FEEDS",
    (
        Column("chain", "varchar"), Column("chain_id", "number(12,0)"), Column("proxy_address", "varchar"),
        Column("feed_pair", "varchar"), Column("symbol", "varchar"), Column("description", "varchar"),
        Column("decimals", "number(3,0)"), Column("heartbeat_seconds", "number(12,0)"),
        Column("heartbeat_grace_seconds", "number(12,0)", added="0"),
        Column("warning_bps", "number(6,0)", added="50"), Column("critical_bps", "number(6,0)", added="100"),
        Column("hysteresis_bps", "number(6,0)", added="0"),
        Column("divergence_margin_bps", "number(6,0)", added="25"),
        Column("market_max_age_minutes", "number(6,0)", added="90"),
        Column("thin_quote_slippage_bps", "number(6,0)", added="1000"),
        Column("silent_oracle_minutes", "number(6,0)", added="3"),
        Column("deviation_threshold_pct", "number(10,6)"), Column("peg_usd", "number(38,18)"),
        Column("peg_reference_pair", "varchar", nullable=True, added="null"), *_LOADED,
    ),
    key=("chain", "proxy_address"),
    compare=(
        "feed_pair", "symbol", "description", "decimals", "heartbeat_seconds", "heartbeat_grace_seconds",
        "warning_bps", "critical_bps", "hysteresis_bps", "divergence_margin_bps", "market_max_age_minutes",
        "thin_quote_slippage_bps", "silent_oracle_minutes", "deviation_threshold_pct", "peg_usd",
        "peg_reference_pair",
    ),
)  # fmt: skip

CHAINLINK_PHASES = TableSpec(
    "CHAINLINK_PHASES",
    (
        *_FEED, Column("phase_id", "number(5,0)"), Column("aggregator_address", "varchar"),
        Column("activated_block", "number(20,0)", nullable=True), Column("activated_at", "timestamp_ntz"),
        Column("activation_source", "varchar"), *_LOADED,
    ),
    key=("chain", "proxy_address", "phase_id"),
    compare=("aggregator_address", "activated_block", "activated_at", "activation_source"),
)  # fmt: skip

# An L2's registry entry (`chains:`) as each load ran with it, as CHAINLINK_FEEDS for the feeds, and
# how far its sequencer's status has been read (the latest window end a load read it to: a backfill
# of an older day never moves it back), which says when a grace period is known to be over.
CHAINLINK_CHAINS = TableSpec(
    "CHAINLINK_CHAINS",
    (
        Column("chain", "varchar"), Column("chain_id", "number(12,0)"), Column("sequencer_proxy_address", "varchar"),
        Column("grace_period_seconds", "number(12,0)"), *_LOADED,
        Column("sequencer_read_until", "timestamp_ntz", nullable=True, merged=False),
    ),
    key=("chain",),
    compare=("sequencer_proxy_address", "grace_period_seconds"),
)  # fmt: skip

# Every status change of an L2's sequencer, as its Chainlink uptime feed recorded it (answer 1: went
# down, 0: came back up, at `changed_at`, the round's startedAt).
CHAINLINK_SEQUENCER_ROUNDS = TableSpec(
    "CHAINLINK_SEQUENCER_ROUNDS",
    (
        Column("chain", "varchar"), Column("proxy_address", "varchar"), Column("round_id", "number(25,0)"),
        Column("is_down", "boolean"), Column("changed_at", "timestamp_ntz"), Column("block_number", "number(20,0)"),
        *_LOADED,
    ),
    key=_ROUND_KEY,
    compare=("is_down", "changed_at"),
)  # fmt: skip

# The ingest's tables, in the order they are created.
CHAINLINK_TABLES = (
    CHAINLINK_ROUNDS,
    CHAINLINK_ROUND_REJECTIONS,
    CHAINLINK_LOAD_WINDOWS,
    CHAINLINK_FEEDS,
    CHAINLINK_PHASES,
    CHAINLINK_CHAINS,
    CHAINLINK_SEQUENCER_ROUNDS,
)

# The market's tables (market_pools): a pool's hour readings and every Swap, and each window loaded.
# uint160 prices and uint128 liquidities are wider than 37 digits, so they are kept as text, exact;
# `price` is whole token1 per whole token0.
_POOL = (Column("chain", "varchar"), Column("pool_address", "varchar"))

MARKET_POOL_READINGS = TableSpec(
    "MARKET_POOL_READINGS",
    (
        *_POOL, Column("read_at", "timestamp_ntz"), Column("block_number", "number(20,0)"),
        Column("sqrt_price_x96", "varchar"), Column("tick", "number(8,0)"), Column("liquidity", "varchar"),
        Column("price", "number(38,18)"), Column("twap_tick", "number(8,0)", nullable=True),
        Column("quote_tokens", "number(20,0)"), Column("sell_token0_out", "varchar", nullable=True),
        Column("sell_token1_out", "varchar", nullable=True), *_LOADED,
    ),
    key=("chain", "pool_address", "read_at"),
    compare=("block_number", "sqrt_price_x96", "tick", "liquidity", "price", "twap_tick", "sell_token0_out", "sell_token1_out"),
)  # fmt: skip

MARKET_POOL_SWAPS = TableSpec(
    "MARKET_POOL_SWAPS",
    (
        *_POOL, Column("block_number", "number(20,0)"), Column("log_index", "number(10,0)"),
        Column("transaction_hash", "varchar"), Column("swapped_at", "timestamp_ntz"),
        Column("amount0", "varchar"), Column("amount1", "varchar"), Column("sqrt_price_x96", "varchar"),
        Column("liquidity", "varchar"), Column("tick", "number(8,0)"), Column("price", "number(38,18)"), *_LOADED,
    ),
    key=("chain", "pool_address", "block_number", "log_index"),
    compare=("transaction_hash", "swapped_at", "amount0", "amount1", "sqrt_price_x96", "liquidity", "tick", "price"),
)  # fmt: skip

MARKET_LOAD_WINDOWS = TableSpec(
    "MARKET_LOAD_WINDOWS",
    (
        *_POOL, Column("window_start", "timestamp_ntz"), Column("window_end", "timestamp_ntz"),
        Column("first_block", "number(20,0)"), Column("last_block", "number(20,0)"),
        Column("readings", "number(10,0)"), Column("swaps", "number(10,0)"), *_LOADED,
    ),
    key=("chain", "pool_address", "window_start", "window_end"),
    compare=("first_block", "last_block", "readings", "swaps"),
)  # fmt: skip

# The market configuration each load ran with (as CHAINLINK_FEEDS for the feeds): the pools and
# which pool prices which feed's token through which reference; dbt joins readings to feeds by it.
MARKET_POOLS = TableSpec(
    "MARKET_POOLS",
    (
        *_POOL, Column("dex", "varchar"), Column("fee", "number(8,0)"),
        Column("token0_symbol", "varchar"), Column("token0_address", "varchar"), Column("token0_decimals", "number(3,0)"),
        Column("token1_symbol", "varchar"), Column("token1_address", "varchar"), Column("token1_decimals", "number(3,0)"),
        *_LOADED,
    ),
    key=("chain", "pool_address"),
    compare=("dex", "fee", "token0_symbol", "token0_address", "token0_decimals", "token1_symbol", "token1_address",
             "token1_decimals"),
)  # fmt: skip

MARKET_SOURCES = TableSpec(
    "MARKET_SOURCES",
    (
        *_POOL, Column("feed_pair", "varchar"), Column("reference_pair", "varchar"),
        Column("reference_proxy", "varchar"), Column("token_is_token0", "boolean"), *_LOADED,
    ),
    key=("chain", "feed_pair", "pool_address"),
    compare=("reference_pair", "reference_proxy", "token_is_token0"),
)  # fmt: skip

MARKET_TABLES = (MARKET_POOL_READINGS, MARKET_POOL_SWAPS, MARKET_LOAD_WINDOWS, MARKET_POOLS, MARKET_SOURCES)

# Every raw table dbt's sources name. Each loader creates them all, so a project that has loaded
# only rounds so far (or a chain without pools) still builds: the market models are then empty.
RAW_TABLES = (*CHAINLINK_TABLES, *MARKET_TABLES)

# One row per (feed, kind, round id, to status), inserted if absent: a row keeps what its first run
# decided (`suppressed`); the claim and `notified_at` are set by UPDATEs as alerts are sent. The
# market's kinds have no round: their round_id is the reading's time in Unix seconds.
PEG_ALERT_TRANSITIONS = TableSpec(
    "PEG_ALERT_TRANSITIONS",
    (
        *_FEED, Column("kind", "varchar"), Column("round_id", "number(25,0)"),
        Column("from_status", "varchar"), Column("to_status", "varchar"),
        Column("price", "number(38,18)"), Column("deviation_bps", "number(38,12)", nullable=True),
        Column("served_from", "timestamp_ntz"), Column("occurred_at", "timestamp_ntz"),
        Column("recorded_at", "timestamp_ntz"), Column("airflow_run_id", "varchar", nullable=True),
        Column("suppressed", "varchar", nullable=True),
        # the market witness's transitions (peg_alerts.market_rules): null for the oracle's own
        Column("market_price", "number(38,18)", nullable=True, added="null"),
        Column("divergence_bps", "number(38,12)", nullable=True, added="null"),
        Column("depth_usd", "number(38,2)", nullable=True, added="null"),
        Column("claimed_by", "varchar", nullable=True, merged=False),
        Column("claimed_at", "timestamp_ntz", nullable=True, merged=False),
        Column("notified_at", "timestamp_ntz", nullable=True, merged=False),
    ),
    key=("chain", "proxy_address", "kind", "round_id", "to_status"),
)  # fmt: skip
