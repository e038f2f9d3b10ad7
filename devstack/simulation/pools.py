"""SIMULATED trading on the registry's Uniswap v3 pools, hour by hour, following the simulated market.

Each pool's price is what the simulated market says its tokens are worth: a stablecoin's level, and
WETH's through the ETH/USD reference, from `history.market_path` (the market each oracle lags by its
rule). Its in-range liquidity is a calm depth that thins as either stablecoin leaves its peg
(at 5 % off, almost nothing: a deep depeg empties the pools, as 2022-05-12 emptied the USDC/USDT
pool's range; at 3 % off four tenths are left, so a market that moves is still priced). The pools trade from POOL_DAYS before the
history's end; the stack replays these states as driver transactions in the history's blocks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from chainlink_feeds.registry import Feed, Market, Pool, Reference
from devstack.simulation import history

LABEL = "SIMULATED pool trading (not real market data)"
POOL_DAYS = 30
HOUR = 3600
CALM_DEPTH_USD = 20_000_000  # what one tick of price move costs in a calm pool, about
THIN_PER_UNIT_OFF_PEG = 20  # depth falls by this times the distance from the peg (5 % off: nothing)
THINNEST = 1e-4  # never quite empty: the pools keep a price


@dataclass(frozen=True)
class PoolState:
    """A pool at one hour: the tick the market implies and the liquidity in range."""

    pool: str
    at: int
    tick: int
    liquidity: int


def _levels(
    oracles: list[Feed | Reference], scenario: history.Scenario, hours: list[int]
) -> dict[str, dict[int, float]]:
    """Each token's market level in USD at each hour (the last 10-minute tick at or before it), by
    the symbol of the feed or reference that prices it."""
    levels: dict[str, dict[int, float]] = {}
    for oracle in oracles:
        path = dict(history.market_path(oracle, scenario))
        levels[oracle.symbol] = {at: path[at - at % history.TICK_SECONDS] for at in hours}
    return levels


def state(pool: Pool, at: int, usd: dict[str, float], pegs: dict[str, float]) -> PoolState:
    """The tick for usd(token0)/usd(token1) in raw units, and the depth left by the worse peg."""
    usd0, usd1 = usd[pool.token0.symbol], usd[pool.token1.symbol]
    raw = Decimal(usd0 / usd1) * Decimal(10) ** (pool.decimals1 - pool.decimals0)
    tick = math.floor(math.log(raw) / math.log(1.0001))
    off = max((abs(usd[s] / pegs[s] - 1) for s in (pool.token0.symbol, pool.token1.symbol) if s in pegs), default=0)
    depth = max(THINNEST, 1 - THIN_PER_UNIT_OFF_PEG * off)
    # One tick moves sqrt(price) by 0.005 %: L = (token0 in one tick) * sqrt(raw price) / 0.00005.
    token0_raw = CALM_DEPTH_USD / usd0 * 10**pool.decimals0
    return PoolState(pool.address, at, tick, int(token0_raw * math.sqrt(raw) / 0.00005 * depth))


def plan(market: Market, feeds: list[Feed], scenario: history.Scenario) -> list[PoolState]:
    """Every Ethereum pool's state at each hour of the last POOL_DAYS, in time order."""
    end = int(scenario.end.timestamp())
    hours = list(range(end - POOL_DAYS * 86400, end, HOUR))
    pools = market.pools_on("ethereum")
    held = {t.symbol for p in pools for t in (p.token0, p.token1)}
    levels = _levels([o for o in (*feeds, *market.references) if o.symbol in held], scenario, hours)
    pegs = {f.symbol: float(f.peg_usd) for f in feeds}
    return [state(p, at, {s: levels[s][at] for s in levels}, pegs) for at in hours for p in pools]


def first_prices(states: list[PoolState], market: Market) -> dict[str, str]:
    """Each pool's opening price (whole token1 per whole token0), to create it with."""
    first = {}
    for s in states:
        if s.pool not in first:
            pool = market.pool("ethereum", s.pool)
            first[s.pool] = str(Decimal("1.0001") ** s.tick * Decimal(10) ** (pool.decimals0 - pool.decimals1))
    return first
