"""The Uniswap v3 pool and ERC-20 calls the reader makes, and the Swap event, declared once."""

from __future__ import annotations

from eth_abi import decode
from eth_utils import keccak

from chainlink_feeds.abi import Function


def _function(signature: str, outputs: tuple[str, ...]) -> Function:
    name, args = signature[:-1].split("(", 1)
    return Function(name, keccak(text=signature)[:4], tuple(a for a in args.split(",") if a), outputs)


SLOT0 = _function("slot0()", ("uint160", "int24", "uint16", "uint16", "uint16", "uint8", "bool"))
LIQUIDITY = _function("liquidity()", ("uint128",))
TOKEN0 = _function("token0()", ("address",))
TOKEN1 = _function("token1()", ("address",))
FEE = _function("fee()", ("uint24",))
OBSERVE = _function("observe(uint32[])", ("int56[]", "uint160[]"))
DECIMALS = _function("decimals()", ("uint8",))

SWAP_TOPIC = "0x" + keccak(text="Swap(address,address,int256,int256,uint160,uint128,int24)").hex().removeprefix("0x")
_SWAP_DATA = ["int256", "int256", "uint160", "uint128", "int24"]


def decode_swap(data: str) -> tuple[int, int, int, int, int]:
    """(amount0, amount1, sqrtPriceX96, liquidity, tick) of a Swap log's data (the pool's deltas:
    positive is what the pool received)."""
    return decode(_SWAP_DATA, bytes.fromhex(data.removeprefix("0x")))
