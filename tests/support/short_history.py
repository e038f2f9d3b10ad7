"""A short history of the registry's feeds (and references) for scratch nodes: a Flux phase, then an
OCR phase whose last round is where a living oracle starts (tests of the oracle and of the
near-real-time path); `with_pools` adds the registry's Uniswap pools for the oracle to trade."""

from __future__ import annotations

from chainlink_feeds.registry import load_market
from devstack.chain.replay import replay_many
from devstack.chain.rpc import Rpc
from devstack.chain.uniswap import create_pool, deploy_uniswap
from devstack.simulation import history

H = 3600


def plan(feed, end: int) -> list[history.SimPhase]:
    """A Flux phase, then from a day before `end` an OCR phase whose last round is 2 h before it."""
    flux = tuple(history.SimRound(feed.pair, 1, n, 100_000_000 + n, t - 30, t, n) for n, t in enumerate(
        (end - 3 * 24 * H, end - 2 * 24 * H), start=1))  # fmt: skip
    ocr = tuple(history.SimRound(feed.pair, 2, n, 99_990_000 + n, t, t, n) for n, t in enumerate(
        (end - 20 * H, end - 2 * H), start=1))  # fmt: skip
    return [history.SimPhase(1, "flux", end - 4 * 24 * H, flux), history.SimPhase(2, "ocr", end - 24 * H, ocr)]


def replayed(rpc: Rpc, feeds, end: int) -> None:
    """Replay the short history of every feed, ending with a block at `end` as stack_history.replay does."""
    replay_many(rpc, {f: plan(f, end) for f in feeds}, deployed_at=end - 5 * 24 * H)
    rpc.call("evm_mine", end)


def with_pools(rpc: Rpc) -> None:
    """Uniswap and every registry pool of Ethereum on the node, each at the price of its tokens'
    opening levels (stablecoins at 1, WETH at the ETH/USD walk's); the oracle's PoolTrader moves
    them to the live market at its first step. Before `replayed`: the node's clock must not pass
    the history's deployment yet."""
    levels = {r.symbol: history.REFERENCE_WALKS[r.pair][0] for r in load_market().references}
    deploy_uniswap(rpc)
    for pool in load_market().pools_on("ethereum"):
        price = levels.get(pool.token0.symbol, 1.0) / levels.get(pool.token1.symbol, 1.0)
        create_pool(rpc, pool.token0.address, pool.token1.address, pool.fee, f"{price:.12f}")
