"""The pool reader on a scratch node holding Uniswap v3 at mainnet addresses: a day of two pools
read exactly (readings, TWAP, trades), its cost in HTTP requests, a provider that refuses large log
ranges, and pools that are not what the registry says refused before anything is read."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from chainlink_feeds.registry import load_market
from devstack.chain.replay import node_account
from devstack.chain.transactions import send
from devstack.chain.uniswap import create_pool, deploy_uniswap, pool_state, set_pool_state, swap
from devstack.chain.uniswap.artifacts import UNISWAP
from market_pools import logs
from market_pools.errors import LogRangeError, NotAPoolError, PoolMismatchError
from market_pools.reader import PoolReader
from tests.plugins.market_pools.conftest import hook_on
from tests.support.scratch_chain import free_port, scratch_chain

DAY_START = datetime(2024, 3, 11, tzinfo=UTC)
USDC_USDT, DAI_USDC = "0x3416cF6C708Da44DB2624D63ea0AAef7113527C6", "0x5777d92f208679DB4b9778590Fa3CAB3aC9e2168"
# What the test does to the pools, from the hour before the day: (seconds after midnight, pool, tick, liquidity).
PLAN = [(-3600, USDC_USDT, 3, 10**17), (-3600, DAI_USDC, -276_330, 10**21)]
PLAN += [
    (600 + 3600 * h, USDC_USDT, (-1, 2, 0, 5)[h % 4], (4 * 10**17, 10**17, 0, 3 * 10**17)[h % 4]) for h in range(24)
]
PLAN += [(1800 + 7200 * h, DAI_USDC, -276_325 + h, 10**21) for h in range(12)]  # 1 DAI ~ 1 USDC: raw 1e-12


@pytest.fixture(scope="module")
def market():
    return load_market()


@pytest.fixture(scope="module")
def chain(market):
    """A node on which the day's plan happened, plus a trade at 12:30; yields (rpc, the trade's receipt)."""
    with scratch_chain(port=free_port()) as rpc:
        rpc.call("evm_mine", int((DAY_START - timedelta(days=1)).timestamp()))
        deploy_uniswap(rpc)
        for address in (USDC_USDT, DAI_USDC):
            pool = market.pool("ethereum", address)
            create_pool(rpc, pool.token0.address, pool.token1.address, pool.fee, 1)
        data = UNISWAP.encode("UniswapV3Pool", "increaseObservationCardinalityNext", 50)
        send(rpc, node_account(rpc), [(USDC_USDT, data)])
        trade = None
        for at, address, tick, liquidity in sorted(PLAN):
            rpc.call("evm_setNextBlockTimestamp", int(DAY_START.timestamp()) + at)
            set_pool_state(rpc, address, tick, liquidity)
            if at == 12 * 3600 + 600:
                rpc.call("evm_setNextBlockTimestamp", int(DAY_START.timestamp()) + 12 * 3600 + 1800)
                trade = swap(rpc, USDC_USDT, zero_for_one=True, amount=10**9)
        rpc.call("evm_mine", int((DAY_START + timedelta(days=1, hours=1)).timestamp()))
        yield rpc, trade


@pytest.fixture
def reader(chain, market, monkeypatch) -> PoolReader:
    pools = [market.pool("ethereum", a) for a in (USDC_USDT, DAI_USDC)]
    return PoolReader(hook_on(chain[0], monkeypatch), pools, quote_symbols=frozenset({"USDC", "USDT", "DAI"}))


def expected_state(address: str, moment: datetime) -> tuple[int, int] | None:
    """(tick, liquidity) the plan left the pool in as of `moment`."""
    done = [(t, liq) for at, a, t, liq in sorted(PLAN) if a == address and DAY_START + timedelta(seconds=at) <= moment]
    return done[-1] if done else None


def test_every_hour_of_both_pools_reads_what_was_done(chain, reader) -> None:
    window = reader.read(DAY_START, DAY_START + timedelta(days=1))
    assert len(window.readings) == 2 * 24  # each hour of the day, per pool
    rpc = chain[0]
    for r in window.readings:
        planned = expected_state(r.pool, r.read_at)
        if r.pool == USDC_USDT and r.read_at > DAY_START + timedelta(hours=12, minutes=30):
            planned = (pool_state(rpc, r.pool, r.block).tick, planned[1])  # the trade moved the price
        assert (r.tick, r.liquidity) == planned, (r.pool, r.read_at)
        assert (r.sell0_out is None) == (r.liquidity == 0)


def test_a_window_ending_now_is_also_read_at_its_last_second(reader) -> None:
    """The near-real-time windows: a reading at end - 1 s holds the state the window ends in (the
    10:10 move of USDC/USDT, after the 10:00 reading), not only the hours'."""
    start, end = DAY_START + timedelta(hours=9, minutes=30), DAY_START + timedelta(hours=10, minutes=40)
    window = reader.read(start, end, last_second=True)
    usdc_usdt = [(r.read_at, r.tick, r.liquidity) for r in window.readings if r.pool == USDC_USDT]
    last = end - timedelta(seconds=1)
    assert [at for at, *_ in usdc_usdt] == [start, DAY_START + timedelta(hours=10), last]
    assert tuple(usdc_usdt[-1][1:]) == expected_state(USDC_USDT, last) != expected_state(USDC_USDT, usdc_usdt[1][0])
    assert len(reader.read(start, end).readings) == 2 * 2  # without it: the start and 10:00 only


def test_every_swap_is_read_in_order_with_its_price(chain, reader) -> None:
    window = reader.read(DAY_START, DAY_START + timedelta(days=1))
    moves = [(a, t) for at, a, t, _ in sorted(PLAN) if at >= 0 and t != _previous_tick(a, at)]
    trade = [s for s in window.swaps if s.transaction_hash == chain[1]["transactionHash"]]
    assert len(trade) == 1 and trade[0].amount0 == 10**9 and trade[0].amount1 < 0
    assert [(s.pool, s.tick) for s in window.swaps if s not in trade] == moves
    assert all(s.swapped_at >= DAY_START for s in window.swaps)


def _previous_tick(address: str, at: int) -> int:
    return [t for x, a, t, _ in sorted(PLAN) if a == address and x < at][-1]


def tick_at(address: str, moment: int) -> int:
    """The pool's tick at Unix time `moment` by the plan (a state set at t holds from t on)."""
    return [t for at, a, t, _ in sorted(PLAN) if a == address and DAY_START.timestamp() + at <= moment][-1]


def test_the_twap_is_the_time_weighted_tick_before_the_readings_block(chain, reader) -> None:
    """observe() over the 30 minutes before each reading's block equals the plan's tick weighted by
    time, floored as OracleLibrary does (readings before the 12:30 trade, whose tick the plan lacks)."""
    window = reader.read(DAY_START, DAY_START + timedelta(days=1))
    checked = 0
    for r in window.readings:
        block_time = int(chain[0].call("eth_getBlockByNumber", hex(r.block), False)["timestamp"], 16)
        if r.pool != USDC_USDT or not DAY_START.timestamp() + 1800 <= block_time < DAY_START.timestamp() + 12.5 * 3600:
            continue
        weighted = sum(tick_at(USDC_USDT, second) for second in range(block_time - 1800, block_time))
        assert r.twap_tick == weighted // 1800, r.read_at
        checked += 1
    assert checked >= 10


def test_a_day_costs_a_handful_of_requests(reader) -> None:
    hook = reader.hook
    before = hook.requests_made
    reader.read(DAY_START, DAY_START + timedelta(days=1))
    per_pool_day = (hook.requests_made - before) / 2
    print(f"HTTP requests per pool-day: {per_pool_day:.1f}")
    assert per_pool_day <= 6


def test_a_refused_log_range_is_split_until_accepted(reader, monkeypatch) -> None:
    """A provider that refuses any log query over 3 blocks (with Alchemy's message): the same swaps."""
    whole = reader.read(DAY_START, DAY_START + timedelta(days=1)).swaps
    provider = reader.hook.provider
    ask = provider.make_request
    refused = []

    def capped(method, params):
        if method == "eth_getLogs" and int(params[0]["toBlock"], 16) - int(params[0]["fromBlock"], 16) > 2:
            refused.append(params[0])
            return {
                "error": {
                    "code": -32602,
                    "message": "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range",
                }
            }
        return ask(method, params)

    monkeypatch.setattr(provider, "make_request", capped)
    assert reader.read(DAY_START, DAY_START + timedelta(days=1)).swaps == whole and refused
    monkeypatch.setattr(
        provider,
        "make_request",
        lambda m, p: (
            {"error": {"message": "query returned more than 10000 results"}} if m == "eth_getLogs" else ask(m, p)
        ),
    )
    with pytest.raises(LogRangeError, match="refuses the Swap logs of block"):
        logs.swap_logs(reader.hook, [USDC_USDT], 5, 5)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"fee": 500}, PoolMismatchError, "fee is 100 on chain, the registry says 500"),
        ({"address": "0x0000000000000000000000000000000000000Bad"}, NotAPoolError, "no contract at that address"),
        ({"address": "0xdAC17F958D2ee523a2206206994597C13D831ec7"}, NotAPoolError, "does not answer"),  # USDT
        ("swap tokens", PoolMismatchError, "token0 is 0xA0b8"),
        ("decimals", PoolMismatchError, "has 6 decimals on chain, the registry says 18"),
    ],
)
def test_a_pool_unlike_the_registry_is_refused_naming_it(reader, market, change, error, message) -> None:
    pool = market.pool("ethereum", USDC_USDT)
    if change == "swap tokens":
        bad = dataclasses.replace(pool, token0=pool.token1, token1=pool.token0)
    elif change == "decimals":
        bad = dataclasses.replace(pool, token0=dataclasses.replace(pool.token0, decimals=18))
    else:
        bad = dataclasses.replace(pool, **change)
    reader = PoolReader(reader.hook, [bad])
    with pytest.raises(error, match=message) as refused:
        reader.read(DAY_START, DAY_START + timedelta(days=1))
    assert bad.address in str(refused.value)
