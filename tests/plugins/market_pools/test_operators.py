"""MarketPoolOperator on a scratch node holding every registry pool of Ethereum and the Snowflake
emulator: one day stored, a re-run that changes nothing, and a registry the chain contradicts
failing the task with nothing stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chainlink_feeds.registry import DEFAULT_REGISTRY, load_market
from devstack.chain.uniswap import create_pool, deploy_uniswap, pool_state, set_pool_state
from market_pools.errors import PoolMismatchError
from market_pools.operators import MarketPoolOperator
from tests.plugins.market_pools.conftest import hook_on
from tests.support.pipeline import query
from tests.support.scratch_chain import free_port, scratch_chain

DAY_START = datetime(2024, 3, 11, tzinfo=UTC)
USDC_USDT = "0x3416cF6C708Da44DB2624D63ea0AAef7113527C6"
PRICES = {"USDC/USDT": "1", "DAI/USDC": "1", "USDC/WETH": "0.0003", "WETH/USDT": "3000"}  # token1 per token0


@pytest.fixture(scope="module")
def chain():
    """Every pool set the day before; USDC/USDT moved three times during the day."""
    with scratch_chain(port=free_port()) as rpc:
        rpc.call("evm_mine", int((DAY_START - timedelta(days=1)).timestamp()))
        deploy_uniswap(rpc)
        for pool in load_market().pools_on("ethereum"):
            price = PRICES[f"{pool.token0.symbol}/{pool.token1.symbol}"]
            address = create_pool(rpc, pool.token0.address, pool.token1.address, pool.fee, price)
            set_pool_state(rpc, address, pool_state(rpc, address).tick, 10**18)
        for hour, tick in ((3, 4), (9, -8), (15, 1)):
            rpc.call("evm_setNextBlockTimestamp", int((DAY_START + timedelta(hours=hour, minutes=5)).timestamp()))
            set_pool_state(rpc, USDC_USDT, tick, 2 * 10**17)
        rpc.call("evm_mine", int((DAY_START + timedelta(days=1, hours=1)).timestamp()))
        yield rpc


def operator(schema: str, registry: Path = DEFAULT_REGISTRY) -> MarketPoolOperator:
    return MarketPoolOperator(
        task_id="ingest_market_ethereum", window_start=DAY_START.isoformat(),
        window_end=(DAY_START + timedelta(days=1)).isoformat(), chainlink_conn_id="chainlink_scratch",
        raw_schema=schema, registry_path=registry,
    )  # fmt: skip


def test_a_day_of_every_pool_is_stored_once(chain, snowflake_schema, monkeypatch) -> None:
    hook_on(chain, monkeypatch)
    summary = operator(snowflake_schema).execute({"run_id": "day"})
    assert (summary["pools"], summary["readings"], summary["swaps"]) == (4, 4 * 24, 3)
    ticks = query(
        f"select read_at, tick from {snowflake_schema}.MARKET_POOL_READINGS where pool_address = '{USDC_USDT}' order by read_at"
    )
    assert [int(t) for t in ticks.tick] == [0] * 4 + [4] * 6 + [-8] * 6 + [1] * 8
    before = query(
        f"select * exclude (loaded_at, airflow_run_id) from {snowflake_schema}.MARKET_POOL_SWAPS order by block_number"
    )
    operator(snowflake_schema).execute({"run_id": "again"})
    after = query(
        f"select * exclude (loaded_at, airflow_run_id) from {snowflake_schema}.MARKET_POOL_SWAPS order by block_number"
    )
    assert before.equals(after) and len(query(f"select * from {snowflake_schema}.MARKET_POOL_READINGS")) == 4 * 24


def test_a_day_before_the_pools_existed_stores_no_reading(chain, snowflake_schema, monkeypatch) -> None:
    """A backfill from before a pool's creation: no reading, no failure (the blocks hold no pool yet)."""
    hook_on(chain, monkeypatch)
    early = operator(snowflake_schema)
    early.window_start, early.window_end = "2020-01-02T00:00:00+00:00", "2020-01-03T00:00:00+00:00"
    summary = early.execute({"run_id": "early"})
    assert (summary["readings"], summary["swaps"]) == (0, 0)
    windows = query(f"select readings, swaps from {snowflake_schema}.MARKET_LOAD_WINDOWS")
    assert len(windows) == 4 and set(windows.readings) == {0}  # each pool's window is recorded, empty


def test_a_registry_the_chain_contradicts_fails_and_stores_nothing(
    chain, snowflake_schema, monkeypatch, tmp_path
) -> None:
    hook_on(chain, monkeypatch)
    registry = tmp_path / "feeds.yaml"
    text = DEFAULT_REGISTRY.read_text()
    usdt = 'USDT: {address: "0xdAC17F958D2ee523a2206206994597C13D831ec7", decimals: 6}'
    assert usdt in text
    registry.write_text(text.replace(usdt, usdt.replace("decimals: 6", "decimals: 18")))
    with pytest.raises(PoolMismatchError, match="USDT .* has 6 decimals on chain, the registry says 18"):
        operator(snowflake_schema, registry).execute({"run_id": "bad"})
    tables = query(f"select table_name from information_schema.tables where table_schema = '{snowflake_schema}'")
    assert all(query(f"select * from {snowflake_schema}.{t}").empty for t in tables.table_name)  # created, empty


def test_without_a_window_start_it_resumes_where_the_pools_were_loaded(chain, snowflake_schema, monkeypatch) -> None:
    """The near-real-time DAG's windows: the first run looks a day back, the next one starts where it ended."""
    hook_on(chain, monkeypatch)

    def resume(end: datetime) -> dict:
        return MarketPoolOperator(
            task_id="market_ethereum", window_start=None, window_end=end.isoformat(),
            chainlink_conn_id="chainlink_scratch", raw_schema=snowflake_schema,
        ).execute({"run_id": "realtime"})  # fmt: skip

    first = resume(DAY_START + timedelta(hours=12, minutes=30))
    assert first["window_start"] == (DAY_START - timedelta(hours=11, minutes=30)).isoformat()  # a day back
    second = resume(DAY_START + timedelta(hours=15, minutes=10))
    assert second["window_start"] == (DAY_START + timedelta(hours=12, minutes=30)).isoformat()
    # its readings: the window's start and each whole hour; its swap: the 15:05 move
    assert (second["readings"], second["swaps"]) == (4 * 4, 1)
    reads = query(
        f"select read_at, tick from {snowflake_schema}.MARKET_POOL_READINGS where pool_address = '{USDC_USDT}' "
        f"and read_at >= '{DAY_START + timedelta(hours=12, minutes=30):%Y-%m-%d %H:%M}' order by read_at"
    )
    assert [t.strftime("%H:%M") for t in reads.read_at] == ["12:30", "13:00", "14:00", "15:00"]
    assert [int(t) for t in reads.tick] == [-8, -8, -8, -8]  # 15:00 is before the 15:05 move
    assert resume(DAY_START + timedelta(hours=15, minutes=10))["window_start"] == second["window_end"]  # empty: nothing
