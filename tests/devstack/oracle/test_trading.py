"""The live pools: the oracle trades every registry pool with the live markets, in its own blocks, and
a frozen-oracle move moves the market (pools) while the feed's oracle stays silent. On a scratch node
with a short history of the feeds and references and the registry's pools, on a fake clock."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from chainlink_feeds.registry import load_market
from devstack.chain import stack_history
from devstack.chain.uniswap import pool_state
from devstack.oracle.market import add_move, continuing
from devstack.oracle.publisher import Oracle
from devstack.oracle.trading import POOL_STEP_SECONDS
from devstack.simulation import history
from tests.devstack.oracle.test_oracle import chain_rounds
from tests.support.scratch_chain import free_port, scratch_chain
from tests.support.short_history import H, replayed, with_pools

END = datetime(2026, 3, 2, tzinfo=UTC)
USDC_USDT = "0x3416cF6C708Da44DB2624D63ea0AAef7113527C6"
USDC_WETH = "0x88e6A0c2dDD26FEEb64F039a2c41296FcB3f5640"
SWAP_TOPIC = "0xc42079f94a6350d7e6235f29174924f928cc2ac818eb64fed8004e115fbcca67"


@pytest.fixture(scope="module")
def frozen(feeds, tmp_path_factory):
    """USDC's market at 0.95 for 20 minutes from +1 h with its oracle frozen; published to +2 h."""
    end = int(END.timestamp())
    oracles = stack_history.oracles(feeds)
    market = load_market()
    walks = {o.pair: continuing(o, history.Scenario(END)) for o in oracles}
    moves = tmp_path_factory.mktemp("trading") / "moves.json"
    move = add_move(moves, oracles, "USDC/USD", "0.95", 20, end + H, 10, oracle_frozen=True)
    with scratch_chain(port=free_port()) as rpc:
        with_pools(rpc)
        replayed(rpc, oracles, end)
        head = int(rpc.call("eth_blockNumber"), 16)
        oracle = Oracle(rpc, oracles, walks, moves, pools=market.pools_on("ethereum"))
        oracle.publish_until(move.start + 15 * 60)
        during = oracle.status()
        oracle.publish_until(end + 2 * H)
        yield rpc, move, head, during


def pool_at(rpc, pool: str, at: int):
    """The pool's state in the last block at or before unix time `at`."""
    number = int(rpc.call("eth_blockNumber"), 16)
    while int(rpc.call("eth_getBlockByNumber", hex(number), False)["timestamp"], 16) > at:
        number -= 1
    return pool_state(rpc, pool, number)


def test_the_oracle_stays_silent_while_its_frozen_market_moves(frozen, feed_by_pair) -> None:
    rpc, move, _, during = frozen
    usdc = chain_rounds(rpc, feed_by_pair["USDC/USD"])
    assert not [r for r in usdc if move.start <= r[2] < move.end]  # not even a heartbeat
    assert all(abs(answer - 100_000_000) < 1_000_000 for _, answer, _ in usdc)  # it never reported the move
    assert during["feeds"]["USDC/USD"]["oracle_frozen_until"] == datetime.fromtimestamp(move.end, UTC).isoformat()
    assert during["feeds"]["USDT/USD"]["oracle_frozen_until"] is None
    # the market did move: USDC at about 0.95 USDT in its pool, and the pool thinned to almost nothing
    calm = pool_at(rpc, USDC_USDT, move.start - 60)
    low = pool_at(rpc, USDC_USDT, move.start + 10 * 60)
    assert abs(calm.tick) < 30
    assert abs(low.tick - math.log(0.95) / math.log(1.0001)) < 40  # USDT wanders a little too
    assert low.liquidity < calm.liquidity / 1000
    back = pool_at(rpc, USDC_USDT, move.end + 5 * 60)
    assert abs(back.tick) < 30 and back.liquidity > calm.liquidity / 2


def test_pools_trade_in_time_ordered_blocks_with_real_swaps(frozen) -> None:
    rpc, move, head, _ = frozen
    logs = rpc.call(
        "eth_getLogs", {"fromBlock": hex(head + 1), "toBlock": "latest", "address": USDC_USDT, "topics": [SWAP_TOPIC]}
    )
    times = [int(rpc.call("eth_getBlockByNumber", log["blockNumber"], False)["timestamp"], 16) for log in logs]
    assert any(move.start <= t < move.end for t in times) and any(t >= move.end for t in times)
    assert all(t % POOL_STEP_SECONDS == 0 for t in times) and times == sorted(times)


def test_the_reference_publishes_and_its_pools_follow_it(frozen, feeds) -> None:
    """ETH/USD publishes by its own rule (0.5 %, 1 h heartbeat: at least one round an hour), and the
    USDC/WETH pool's price is the live ETH market's."""
    rpc, *_ = frozen
    eth = next(o for o in stack_history.oracles(feeds) if o.pair == "ETH/USD")
    assert eth.pair == "ETH/USD"
    rounds = chain_rounds(rpc, eth)
    end = int(END.timestamp())
    assert len(rounds) >= 2 and all(r[2] > end for r in rounds)
    state = pool_at(rpc, USDC_WETH, end + 2 * H)
    # whole WETH per whole USDC = 1.0001^tick * 10^(6 - 18); the last ETH round is within 0.5 % of the market
    eth_in_usdc = 1 / (1.0001**state.tick * 10 ** (6 - 18))
    last_eth = rounds[-1][1] / 10**eth.decimals
    assert abs(eth_in_usdc / last_eth - 1) < 0.01, (eth_in_usdc, last_eth)
