"""The stack's chain trades the registry's pools with the simulated market: read through the
product's pool reader on the depeg day, every hour of every pool is the state the simulation
planned, and the USDC pools empty as USDC leaves its peg while the USDT/WETH pool stays deep."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chainlink_feeds.hooks import ChainlinkHook
from chainlink_feeds.registry import load_market
from devstack.simulation import pools
from market_pools.reader import PoolReader


@pytest.fixture(scope="module")
def depeg_day(stack, feeds):
    """(the day's readings, the planned states by (pool, hour)) for the USDC depeg's first day."""
    market = load_market()
    day = stack.depeg_start.replace(hour=0, minute=0)
    window = PoolReader(ChainlinkHook(), market.pools_on("ethereum")).read(day, day + timedelta(days=1))
    planned = {(s.pool, s.at): s for s in pools.plan(market, feeds, stack)}
    return window.readings, planned


def test_every_hour_of_every_pool_is_the_planned_state(depeg_day) -> None:
    readings, planned = depeg_day
    assert len(readings) == 4 * 24
    for r in readings:
        state = planned[(r.pool, int(r.read_at.timestamp()))]
        assert (r.tick, r.liquidity) == (state.tick, state.liquidity), (r.pool, r.read_at)


def test_a_depeg_empties_the_pools_of_the_depegged_coin(depeg_day) -> None:
    readings, _ = depeg_day
    by_pool: dict[str, list[int]] = {}
    for r in readings:
        by_pool.setdefault(r.pool, []).append(r.liquidity)
    usdc_usdt, usdt_weth = "0x3416cF6C708Da44DB2624D63ea0AAef7113527C6", "0x11b815efB8f581194ae79006d24E0d814B7697F6"
    assert min(by_pool[usdc_usdt]) < max(by_pool[usdc_usdt]) / 100  # USDC near its bottom: almost nothing in range
    assert min(by_pool[usdt_weth]) > max(by_pool[usdt_weth]) / 2  # USDT held its peg: still deep
