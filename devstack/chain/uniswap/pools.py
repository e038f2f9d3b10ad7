"""Moving local pools through real transactions: an exact state (`set_pool_state`) or a trade (`swap`).

Both go through the PoolDriver at DRIVER_ADDRESS (see devstack/contracts/PoolDriver.sol), paid
from the node's account. The driver's swap limit is the middle of the target tick
(sqrt(1.0001 ** (tick + 1/2))), far from either boundary, so the tick the pool ends in never
depends on how TickMath rounds a boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext

from eth_utils import to_checksum_address

from devstack.chain.replay import node_account
from devstack.chain.rpc import ChainError, Rpc
from devstack.chain.transactions import send
from devstack.chain.uniswap.artifacts import UNISWAP
from devstack.chain.uniswap.deploy import DRIVER_ADDRESS, MAX_SQRT_RATIO, MIN_SQRT_RATIO
from devstack.chain.uniswap.mainnet import FACTORY

MIN_TICK, MAX_TICK = -887272, 887272
MAX_LIQUIDITY = 2**128 - 1
READ_BATCH = 1_000  # eth_calls per JSON-RPC batch


@dataclass(frozen=True)
class PoolState:
    """What a pool shows at one block: slot0's price and tick, and its in-range liquidity."""

    sqrt_price_x96: int
    tick: int
    liquidity: int


def pool_state(rpc: Rpc, pool: str, block: str | int = "latest") -> PoolState:
    """The pool's slot0 and liquidity() at `block` (eth_call)."""
    slot0 = UNISWAP.read(rpc, pool, "UniswapV3Pool", "slot0", block=block)
    return PoolState(slot0[0], slot0[1], UNISWAP.read(rpc, pool, "UniswapV3Pool", "liquidity", block=block))


def pool_states(rpc: Rpc, pool: str, blocks: list[int]) -> list[PoolState]:
    """The pool's state at each of `blocks`, by batches of eth_calls (anvil refuses very large batches)."""
    slot0, liquidity = UNISWAP.encode("UniswapV3Pool", "slot0"), UNISWAP.encode("UniswapV3Pool", "liquidity")
    calls = [("eth_call", [{"to": pool, "data": data}, hex(b)]) for b in blocks for data in (slot0, liquidity)]
    raw = [answer for i in range(0, len(calls), READ_BATCH) for answer in rpc.batch(calls[i : i + READ_BATCH])]
    return [
        PoolState(*UNISWAP.decode("UniswapV3Pool", "slot0", s)[:2], UNISWAP.decode("UniswapV3Pool", "liquidity", liq))
        for s, liq in zip(raw[::2], raw[1::2], strict=True)
    ]


def sqrt_price_in_tick(tick: int) -> int:
    """sqrtPriceX96 in the middle of `tick`: getTickAtSqrtRatio of it is `tick`."""
    with localcontext() as ctx:
        ctx.prec = 80
        return int(Decimal("1.0001") ** (Decimal(2 * tick + 1) / 4) * 2**96)


def drive_call(pool: str, tick: int, liquidity: int) -> tuple[str, str]:
    """(to, data) of the driver transaction that leaves `pool` at `tick` with `liquidity` in range."""
    if not MIN_TICK <= tick < MAX_TICK:
        raise ValueError(f"tick {tick} for pool {pool} is outside [{MIN_TICK}, {MAX_TICK})")
    if not 0 <= liquidity <= MAX_LIQUIDITY:
        raise ValueError(f"liquidity {liquidity} for pool {pool} is not a uint128")
    pool = to_checksum_address(pool)
    return DRIVER_ADDRESS, UNISWAP.encode("PoolDriver", "drive", pool, tick, sqrt_price_in_tick(tick), liquidity)


def set_pool_state(rpc: Rpc, pool: str, tick: int, liquidity: int) -> dict:
    """Leave the pool at exactly `tick` with exactly `liquidity` in range, by one driver transaction; its receipt.

    The caller's previous driver position is burnt; the price moves by a real swap (a Swap log)
    when the tick changes. Liquidity that others hold in range counts toward the target, and a
    target below it is refused by the driver.
    """
    check_pool(rpc, pool)
    receipt = send(rpc, node_account(rpc), [drive_call(pool, tick, liquidity)])[0]
    got = pool_state(rpc, pool)
    if (got.tick, got.liquidity) != (tick, liquidity):
        raise ChainError(
            f"pool {pool} is at tick {got.tick} with liquidity {got.liquidity}, not {tick} and {liquidity}"
        )
    return receipt


def swap(rpc: Rpc, pool: str, *, zero_for_one: bool, amount: int, sqrt_price_limit_x96: int | None = None) -> dict:
    """Trade on the pool from the node's account; its receipt.

    `amount` > 0 sells exactly that much (raw units) of the input token (token0 if `zero_for_one`),
    < 0 buys exactly that much of the output; the price stops at `sqrt_price_limit_x96` (default:
    as far as the pool's bounds allow).
    """
    if amount == 0:
        raise ValueError(f"a swap on pool {pool} needs a non-zero amount")
    if sqrt_price_limit_x96 is None:
        sqrt_price_limit_x96 = MIN_SQRT_RATIO + 1 if zero_for_one else MAX_SQRT_RATIO - 1
    check_pool(rpc, pool)
    data = UNISWAP.encode("PoolDriver", "swap", to_checksum_address(pool), zero_for_one, amount, sqrt_price_limit_x96)
    return send(rpc, node_account(rpc), [(DRIVER_ADDRESS, data)])[0]


def check_pool(rpc: Rpc, pool: str) -> None:
    """ChainError unless `pool` is a pool the local factory created."""
    if rpc.call("eth_getCode", pool, "latest") == "0x":
        raise ChainError(f"{pool} holds no code: not a pool (run deploy_uniswap and create_pool first)")
    try:
        token0, token1, fee = (UNISWAP.read(rpc, pool, "UniswapV3Pool", f) for f in ("token0", "token1", "fee"))
    except ChainError as exc:
        raise ChainError(f"{pool} is not a Uniswap v3 pool (its token0/token1/fee cannot be read): {exc}") from exc
    if UNISWAP.read(rpc, FACTORY, "UniswapV3Factory", "getPool", token0, token1, fee) != to_checksum_address(pool):
        raise ChainError(f"{pool} is not a pool of the factory at {FACTORY}")
