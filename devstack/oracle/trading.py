"""The live pools: every registry pool on the stack's chain follows the live markets (SIMULATED), as
the history's pools follow the history's market (devstack.simulation.pools, same price and depth
rule). At each POOL_STEP_SECONDS grid point a pool whose tick changed, or whose depth moved by more
than DEPTH_CHANGE, gets one PoolDriver transaction: a real Swap when the price moves.

A pure function of the live markets and what the pools show on chain, like the oracle's rounds:
a restart or a catch-up trades the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devstack.chain.rpc import Rpc
from devstack.chain.uniswap import drive_call, pool_state
from devstack.simulation import pools as simulated

if TYPE_CHECKING:
    from chainlink_feeds.registry import Pool
    from devstack.oracle.market import LiveMarket

POOL_STEP_SECONDS = 60
DEPTH_CHANGE = 0.05


class PoolTrader:
    """Moves `pools` with the markets of the tokens they hold (`markets` by token symbol)."""

    def __init__(self, pools: tuple[Pool, ...], markets: dict[str, LiveMarket], pegs: dict[str, float]) -> None:
        missing = {t.symbol for p in pools for t in (p.token0, p.token1)} - set(markets)
        if missing:
            raise ValueError(f"no live market for {sorted(missing)}: every pool token needs a feed or reference")
        self.pools, self.markets, self.pegs = pools, markets, pegs
        self.current: dict[str, tuple[int, int]] = {}  # pool -> (tick, liquidity) as the chain shows it

    def attach(self, rpc: Rpc) -> None:
        """Read each pool's tick and liquidity; pools without code on this node are left out."""
        present = [p for p in self.pools if rpc.call("eth_getCode", p.address, "latest") not in ("0x", None)]
        self.pools = tuple(present)
        self.current = {}
        for pool in present:
            s = pool_state(rpc, pool.address)
            self.current[pool.address] = (s.tick, s.liquidity)

    def trades(self, after: float, until: float) -> dict[int, list[tuple[str, str]]]:
        """The driver transactions at each pool step in (after, until], by block time."""
        if not self.pools:
            return {}
        walk = next(iter(self.markets.values())).walk
        out: dict[int, list[tuple[str, str]]] = {}
        for at in walk.grid_after(after, until):
            if at % POOL_STEP_SECONDS:
                continue
            usd = {symbol: market.price(at) for symbol, market in self.markets.items()}
            for pool in self.pools:
                target = simulated.state(pool, at, usd, self.pegs)
                tick, liquidity = self.current[pool.address]
                if target.tick == tick and abs(target.liquidity - liquidity) <= DEPTH_CHANGE * liquidity:
                    continue
                out.setdefault(at, []).append(drive_call(pool.address, target.tick, target.liquidity))
                self.current[pool.address] = (target.tick, target.liquidity)
        return out
