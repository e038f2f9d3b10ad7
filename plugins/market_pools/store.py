"""A window of a chain's pools into the market's raw tables (warehouse.tables MARKET_*), MERGEd in
one transaction with the market configuration it ran with: loading a window again changes nothing,
and a failed load leaves nothing behind."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from warehouse.spec import ensure_table, merge, timestamp_literal, transaction
from warehouse.tables import (
    MARKET_LOAD_WINDOWS,
    MARKET_POOL_READINGS,
    MARKET_POOL_SWAPS,
    MARKET_POOLS,
    MARKET_SOURCES,
    RAW_TABLES,
)

if TYPE_CHECKING:
    from chainlink_feeds.registry import Market, MarketSource, Pool
    from market_pools.reader import PoolWindow, Reading, Swap


_PLACES = Decimal(1).scaleb(-18)  # the price columns' scale: number(38,18)


@dataclass(frozen=True)
class PoolLoad:
    """What one window's load stored."""

    readings: int
    swaps: int
    statements: int  # warehouse statements sent, begin and commit included


class PoolStore:
    """Writes windows of one chain's pools into a Snowflake schema through a DB-API connection."""

    def __init__(self, connection: Any, schema: str | None = None) -> None:
        self.connection, self.schema = connection, schema

    def ensure_tables(self) -> None:
        """Create the raw tables if absent (the rounds' too: dbt reads them all; DDL commits on its own
        in Snowflake, so it runs before the load's transaction)."""
        with self.connection.cursor() as cur:
            for spec in RAW_TABLES:
                ensure_table(cur, spec, self.schema)

    def last_loaded(self, chain: str, pools: tuple[Pool, ...]) -> datetime | None:
        """The end of the newest window loaded for every one of `pools` (the earliest of their
        newest ends), to resume a near-real-time load from; None if one was never loaded."""
        with self.connection.cursor() as cur:
            cur.execute(
                f"select pool_address, max(window_end) from {MARKET_LOAD_WINDOWS.qualified(self.schema)} "
                f"where chain = %s group by pool_address",
                (chain,),
            )
            ends = {address.lower(): end for address, end in cur.fetchall()}
        newest = [ends.get(pool.address.lower()) for pool in pools]
        if not newest or None in newest:
            return None
        return min(newest).replace(tzinfo=UTC)

    def load(self, chain: str, window: PoolWindow, market: Market, quote_tokens: int, run_id: str | None) -> PoolLoad:
        """MERGE the window's readings, swaps, one window record per pool, and the chain's pools and
        sources as `market` configures them."""
        meta = {"chain": chain, "loaded_at": timestamp_literal(datetime.now(UTC)), "airflow_run_id": run_id}
        readings = [MARKET_POOL_READINGS.row(**meta, **_reading(r, quote_tokens)) for r in window.readings]
        swaps = [MARKET_POOL_SWAPS.row(**meta, **_swap(s)) for s in window.swaps]
        windows = [MARKET_LOAD_WINDOWS.row(**meta, **_window(window, pool)) for pool in window.pools]
        pools = [MARKET_POOLS.row(**meta, **_pool(pool)) for pool in market.pools_on(chain)]
        sources = [MARKET_SOURCES.row(**meta, **_source(market, s)) for s in market.sources if s.chain == chain]
        with transaction(self.connection) as cur:
            merge(cur, MARKET_POOLS, self.schema, pools)
            merge(cur, MARKET_SOURCES, self.schema, sources)
            merge(cur, MARKET_POOL_READINGS, self.schema, readings)
            merge(cur, MARKET_POOL_SWAPS, self.schema, swaps)
            merge(cur, MARKET_LOAD_WINDOWS, self.schema, windows)
        return PoolLoad(len(readings), len(swaps), cur.executed)


def _reading(r: Reading, quote_tokens: int) -> dict[str, Any]:
    return {
        "pool_address": r.pool, "read_at": timestamp_literal(r.read_at), "block_number": r.block,
        "sqrt_price_x96": str(r.sqrt_price_x96), "tick": r.tick, "liquidity": str(r.liquidity),
        "price": str(r.price.quantize(_PLACES)), "twap_tick": r.twap_tick, "quote_tokens": quote_tokens,
        "sell_token0_out": r.sell0_out, "sell_token1_out": r.sell1_out,
    }  # fmt: skip


def _swap(s: Swap) -> dict[str, Any]:
    return {
        "pool_address": s.pool, "block_number": s.block, "log_index": s.log_index,
        "transaction_hash": s.transaction_hash, "swapped_at": timestamp_literal(s.swapped_at),
        "amount0": str(s.amount0), "amount1": str(s.amount1), "sqrt_price_x96": str(s.sqrt_price_x96),
        "liquidity": str(s.liquidity), "tick": s.tick, "price": str(s.price.quantize(_PLACES)),
    }  # fmt: skip


def _window(window: PoolWindow, pool: str) -> dict[str, Any]:
    return {
        "pool_address": pool, "window_start": timestamp_literal(window.start),
        "window_end": timestamp_literal(window.end), "first_block": window.first_block,
        "last_block": window.last_block, "readings": sum(r.pool == pool for r in window.readings),
        "swaps": sum(s.pool == pool for s in window.swaps),
    }  # fmt: skip


def _pool(pool: Pool) -> dict[str, Any]:
    return {
        "pool_address": pool.address, "dex": pool.dex, "fee": pool.fee,
        "token0_symbol": pool.token0.symbol, "token0_address": pool.token0.address, "token0_decimals": pool.decimals0,
        "token1_symbol": pool.token1.symbol, "token1_address": pool.token1.address, "token1_decimals": pool.decimals1,
    }  # fmt: skip


def _source(market: Market, source: MarketSource) -> dict[str, Any]:
    return {
        "pool_address": source.pool.address, "feed_pair": source.feed, "reference_pair": source.reference,
        "reference_proxy": market.price_feed(source.chain, source.reference).proxy,
        "token_is_token0": source.token_is_token0,
    }  # fmt: skip
