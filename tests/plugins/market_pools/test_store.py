"""Two recorded days of the USDC/USDT pool (the wobble of 2022-05-12 and the day before) stored in the
Snowflake emulator: exact values, a second load changes nothing, a failed load stores nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import snowflake.connector

from chainlink_feeds.registry import load_market
from devstack.services import emulator
from devstack.simulation import recorded_pool
from market_pools import store as store_module
from market_pools.reader import DEFAULT_QUOTE_TOKENS, PoolReader
from market_pools.store import PoolStore
from tests.plugins.market_pools.conftest import hook_on
from tests.support.pipeline import query
from tests.support.scratch_chain import free_port, scratch_chain

FIRST, DAY = datetime(2022, 5, 11, tzinfo=UTC), timedelta(days=1)


@pytest.fixture(scope="module")
def windows():
    monkeypatch = pytest.MonkeyPatch()
    with scratch_chain(port=free_port()) as rpc:
        recorded_pool.replay(rpc, {}, start=FIRST - timedelta(hours=1), end=FIRST + 2 * DAY)
        pool = load_market().pool("ethereum", recorded_pool.POOL.address)
        reader = PoolReader(hook_on(rpc, monkeypatch), [pool], quote_symbols=frozenset({"USDC", "USDT"}))
        yield [reader.read(FIRST + DAY * i, FIRST + DAY * (i + 1)) for i in range(2)]
    monkeypatch.undo()


def load(schema: str, windows) -> None:
    with snowflake.connector.connect(**emulator.connection_params()) as conn:
        store = PoolStore(conn, schema)
        store.ensure_tables()
        for window in windows:
            store.load("ethereum", window, load_market(), DEFAULT_QUOTE_TOKENS, "test")


ORDER = {
    "MARKET_POOL_READINGS": "pool_address, read_at",
    "MARKET_POOL_SWAPS": "pool_address, block_number, log_index",
    "MARKET_LOAD_WINDOWS": "pool_address, window_start",
    "MARKET_POOLS": "pool_address",
    "MARKET_SOURCES": "feed_pair, pool_address",
}


def stored(schema: str) -> dict:
    return {
        table: query(f"select * exclude (loaded_at) from {schema}.{table} order by {order}")
        for table, order in ORDER.items()
    }


def test_the_stored_rows_are_what_was_read_exactly(snowflake_schema, windows) -> None:
    load(snowflake_schema, windows)
    rows = stored(snowflake_schema)["MARKET_POOL_READINGS"]
    read = [r for w in windows for r in w.readings]
    assert len(rows) == len(read) == 2 * 24
    by_time = {r.read_at.replace(tzinfo=None): r for r in read}
    for row in rows.itertuples():
        r = by_time[row.read_at.to_pydatetime()]
        assert (int(row.liquidity), int(row.sqrt_price_x96), row.tick) == (r.liquidity, r.sqrt_price_x96, r.tick)
        assert row.price == r.price.quantize(row.price)  # to the column's 18 places
        assert (row.sell_token0_out if isinstance(row.sell_token0_out, str) else None) == (
            None if r.sell0_out is None else str(r.sell0_out)
        )
    swaps = stored(snowflake_schema)["MARKET_POOL_SWAPS"]
    assert [int(a) for a in swaps.amount0] == [s.amount0 for w in windows for s in w.swaps]


def test_the_market_configuration_is_stored_beside_the_data(snowflake_schema, windows) -> None:
    """Every pool of the chain and every source, as the registry says (dbt joins readings to feeds by it)."""
    load(snowflake_schema, windows)
    tables, market = stored(snowflake_schema), load_market()
    pools = tables["MARKET_POOLS"].set_index("pool_address")
    assert set(pools.index) == {p.address for p in market.pools_on("ethereum")}
    usdc_usdt = pools.loc[recorded_pool.POOL.address]
    got = (usdc_usdt.token0_symbol, usdc_usdt.token1_symbol, usdc_usdt.fee, usdc_usdt.token1_decimals)
    assert got == ("USDC", "USDT", 100, 6)
    sources = {(r.feed_pair, r.pool_address): (r.reference_pair, r.token_is_token0)
               for r in tables["MARKET_SOURCES"].itertuples()}  # fmt: skip
    assert sources == {(s.feed, s.pool.address): (s.reference, s.token_is_token0) for s in market.sources}
    assert sources[("USDT/USD", recorded_pool.POOL.address)] == ("USDC/USD", False)


def test_loading_again_changes_nothing(snowflake_schema, windows) -> None:
    load(snowflake_schema, windows)
    before = stored(snowflake_schema)
    load(snowflake_schema, windows[::-1])
    after = stored(snowflake_schema)
    for table, frame in before.items():
        assert frame.drop(columns="airflow_run_id").equals(after[table].drop(columns="airflow_run_id")), table


def test_a_failed_load_stores_nothing(snowflake_schema, windows, monkeypatch) -> None:
    real = store_module.merge

    def failing(cur, spec, *args):
        if spec.name == "MARKET_LOAD_WINDOWS":
            raise RuntimeError("injected failure after the readings and swaps were merged")
        return real(cur, spec, *args)

    monkeypatch.setattr(store_module, "merge", failing)
    with pytest.raises(RuntimeError, match="injected"):
        load(snowflake_schema, windows)
    assert all(frame.empty for frame in stored(snowflake_schema).values())
