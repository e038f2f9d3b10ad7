"""PoolMoveTrigger against a chain holding a short feed history and the registry's pools: one batch per
poll reads both; quiet while the pools hold still, a move of the step or more fires once (a smaller
one never), a move is rechecked once a set time later, and a move made while the triggerer was down
fires from the remembered baseline."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from chainlink_feeds.registry import load_market
from devstack.chain.uniswap import create_pool, deploy_uniswap, set_pool_state
from market_pools.triggers import PoolMoveTrigger, decode_ticks, moved_pools
from tests.plugins.chainlink_feeds.test_triggers import MemoryStateStore
from tests.support.scratch_chain import free_port, scratch_chain
from tests.support.short_history import replayed

USDC_USDT = "0x3416cF6C708Da44DB2624D63ea0AAef7113527C6"
DAI_USDC = "0x5777d92f208679DB4b9778590Fa3CAB3aC9e2168"
LIQUIDITY = 10**18
PEG = {USDC_USDT: 0, DAI_USDC: -276325}  # the tick of 1 whole token for 1 (DAI has 18 decimals, USDC 6)


@pytest.fixture(scope="module")
def chain(feeds) -> Iterator:
    """The feeds' short history and the two stable pools at tick 0, as the `chainlink_pools` connection."""
    end = int(datetime.now(UTC).replace(minute=0, second=0, microsecond=0).timestamp())
    market = load_market()
    with scratch_chain(port=free_port()) as rpc:
        deploy_uniswap(rpc)
        for address in (USDC_USDT, DAI_USDC):
            pool = market.pool("ethereum", address)
            create_pool(rpc, pool.token0.address, pool.token1.address, pool.fee, 1)  # 1 whole token for 1
        replayed(rpc, feeds, end)
        for address in (USDC_USDT, DAI_USDC):
            set_pool_state(rpc, address, PEG[address], LIQUIDITY)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AIRFLOW_CONN_CHAINLINK_POOLS", json.dumps({"conn_type": "chainlink", "host": rpc.url}))
            yield rpc


def trigger(feeds, store: MemoryStateStore, recheck_after: float | None = None) -> PoolMoveTrigger:
    t = PoolMoveTrigger(
        chainlink_conn_id="chainlink_pools", proxies=[f.proxy for f in feeds], poll_interval=0.2,
        pools=[USDC_USDT, DAI_USDC, "0x" + "44" * 20], step_bps=25, recheck_after=recheck_after,
    )  # fmt: skip
    t.asset_state_store = store
    return t


async def _watch(t: PoolMoveTrigger, seconds: float, moves: list[tuple[float, str, int]], rpc) -> list[dict]:
    """The events within `seconds`, while `moves` (after seconds, pool, tick) happen on the chain."""
    events: list[dict] = []

    async def collect() -> None:
        async for event in t.run():
            events.append(event.payload)

    async def move() -> None:
        for after, pool, tick in moves:
            await asyncio.sleep(after)
            await asyncio.to_thread(set_pool_state, rpc, pool, PEG[pool] + tick, LIQUIDITY)

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(collect(), move()), timeout=seconds)
    return events


def test_quiet_while_still_then_fires_once_for_a_move_of_the_step(chain, feeds) -> None:
    store = MemoryStateStore()
    # +10 bps (below the step), then +30 bps from the baseline (fires), then back by 10 (below it)
    moves = [(1.0, USDC_USDT, 10), (1.0, USDC_USDT, 30), (1.0, USDC_USDT, 20)]
    events = asyncio.run(_watch(trigger(feeds, store), 4.5, moves, chain))
    assert events == [{"pool_moves": {USDC_USDT: [0, 30]}}]
    # the baseline moved to where it fired; the address without a pool is never watched
    assert store.values["pool_ticks"] == {USDC_USDT: 30, DAI_USDC: PEG[DAI_USDC]}
    assert store.values["latest_rounds"]  # the rounds were read in the same batches


def test_a_move_is_rechecked_after_the_set_time_and_a_later_move_postpones_none(chain, feeds) -> None:
    """A silent oracle shows only in a run a while after the move: the recheck starts that run. A
    later move adds its own looks: in a slide, the step that crossed the limit is looked at in time."""
    set_pool_state(chain, USDC_USDT, PEG[USDC_USDT], LIQUIDITY)
    store = MemoryStateStore()
    # moves at about 0.5 s and 1.5 s: looks due at about 3.5 and 4.5 s (then 6.5 and 7.5 s)
    moves = [(0.5, USDC_USDT, 40), (1.0, USDC_USDT, 80)]
    events = asyncio.run(_watch(trigger(feeds, store, recheck_after=3.0), 6.0, moves, chain))
    assert events == [
        {"pool_moves": {USDC_USDT: [0, 40]}},
        {"pool_moves": {USDC_USDT: [40, 80]}},
        {"recheck": {USDC_USDT: 80}},  # the first move's look, not postponed by the second
        {"recheck": {USDC_USDT: 80}},  # the second's
    ]
    assert len(store.values["pool_recheck"]["dues"]) == 2  # each one's second look, 3 s after its first


def test_a_look_due_within_a_poll_of_one_already_due_is_that_one(feeds) -> None:
    t = trigger(feeds, MemoryStateStore(), recheck_after=100.0)  # polls every 0.2 s
    armed = t._armed(None, [USDC_USDT], 0.0, 100.0)
    assert armed == {"dues": [100.0, 200.0], "pools": [USDC_USDT]}
    again = t._armed(armed, [DAI_USDC], 0.1, 100.0)  # a poll later: 100.1 and 200.1 are those looks
    assert again == {"dues": [100.0, 200.0], "pools": sorted([USDC_USDT, DAI_USDC])}
    later = t._armed(again, [USDC_USDT], 10.0, 100.0)  # 110 and 210: never looked at before they are due
    assert later["dues"] == [100.0, 110.0, 200.0, 210.0]
    earlier = t._armed({"dues": [120.0], "pools": [USDC_USDT]}, [USDC_USDT], 0.0, 100.0)
    assert earlier["dues"] == [120.0, 200.0]  # a look already due 20 s after this one's is this one's


def test_a_recheck_that_fell_due_while_the_triggerer_was_down_fires_at_once(chain, feeds) -> None:
    set_pool_state(chain, USDC_USDT, PEG[USDC_USDT] + 40, LIQUIDITY)
    ticks = {USDC_USDT: 40, DAI_USDC: PEG[DAI_USDC]}
    store = MemoryStateStore({"pool_ticks": ticks, "pool_recheck": {"due": 1.0, "pools": [USDC_USDT], "left": 1}})
    events = asyncio.run(_watch(trigger(feeds, store, recheck_after=60), 1.5, [], chain))
    assert events == [{"recheck": {USDC_USDT: 40}}]
    assert store.values["pool_recheck"] == {}  # the last look: spent


def test_a_move_made_while_the_triggerer_was_down_fires_at_once(chain, feeds) -> None:
    set_pool_state(chain, DAI_USDC, PEG[DAI_USDC] - 40, LIQUIDITY)
    store = MemoryStateStore({"pool_ticks": {USDC_USDT: 20, DAI_USDC: PEG[DAI_USDC]}})
    events = asyncio.run(_watch(trigger(feeds, store), 1.5, [], chain))
    assert events == [{"pool_moves": {DAI_USDC: [PEG[DAI_USDC], PEG[DAI_USDC] - 40]}}]


def test_the_step_is_a_price_ratio() -> None:
    assert moved_pools({"p": 0}, {"p": 25}, 25) == {"p": [0, 25]}  # 1.0001^25 - 1 = 25.03 bps
    assert moved_pools({"p": 0}, {"p": 24}, 25) == {}
    assert moved_pools({"p": 100}, {"p": 75}, 25) == {}  # 24.97 bps down
    assert moved_pools({}, {"p": 500}, 25) == {}  # no baseline yet: nothing to compare
    assert decode_ticks(["a", "b"], [{"result": "0x"}, {"error": {"code": 3}}]) == {}


def test_refuses_a_step_that_is_not_positive(feeds) -> None:
    with pytest.raises(ValueError, match="step_bps must be positive, got 0"):
        PoolMoveTrigger(chainlink_conn_id="c", proxies=[feeds[0].proxy], pools=[USDC_USDT], step_bps=0)

    with pytest.raises(ValueError, match="recheck_after must be positive seconds, got 0"):
        PoolMoveTrigger(chainlink_conn_id="c", proxies=[feeds[0].proxy], pools=[USDC_USDT], recheck_after=0)


def test_serializes_to_itself(feeds) -> None:
    path, kwargs = trigger(feeds, MemoryStateStore(), recheck_after=200).serialize()
    assert path == "market_pools.triggers.PoolMoveTrigger"
    again = PoolMoveTrigger(**kwargs)
    assert (again.pools, again.step_bps, again.proxies, again.recheck_after) == (
        [USDC_USDT, DAI_USDC, "0x" + "44" * 20],
        25,
        [f.proxy for f in feeds],
        200,
    )
