"""Uniswap v3 on Ethereum mainnet as the local chain reproduces it.

The tokens and pools (their addresses, decimals, token order and fees) have one home, the registry
(`include/feeds.yaml`, cited there): the local chain puts each where the registry says. What is
devstack's own lives here: the factory and the account that deployed it, the pools' init code hash
and fee tiers, and the names the local ERC-20s give themselves.

Sources: the factory from Uniswap/v3-periphery `deploys.md` (docs.uniswap.org, "Deployment
Addresses"); it was the first contract (nonce 0) of Uniswap's deployer 0x6C9FC64A…f4E9, whose
nonce-14 contract is SwapRouter02 0x68b34658…Fc45 (forge-std's `computeCreateAddress` test), and
nonce 0 of that account gives 0x1F98431c…F984. Every registry pool address is also the CREATE2
address the factory derives (`pool_address`), and tests/devstack/chain/test_uniswap.py checks that
the local factory creates each one there.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils import keccak, to_checksum_address

from chainlink_feeds.registry import load_market

FACTORY = "0x1F98431c8aD98523631AE4a59f267346ea31F984"
FACTORY_DEPLOYER = "0x6C9FC64A53c1b71FB3f9Af64d1ae3A4931A5f4E9"  # deployed the factory with its nonce 0
# keccak256 of UniswapV3Pool's creation code: the factory's CREATE2 salt is over (token0, token1, fee).
POOL_INIT_CODE_HASH = "0xe34f199b19b2b4f47f68442619d555527d244f78a3297ea89325f843f87b8b54"
# Fee tiers the factory's constructor enables (fee -> tick spacing); 100 was enabled by governance later.
FEE_TICK_SPACING = {100: 1, 500: 10, 3000: 60, 10000: 200}


# What each local ERC-20 calls itself (mainnet's names); the registry has the rest.
TOKEN_NAMES = {"USDC": "USD Coin", "USDT": "Tether USD", "DAI": "Dai Stablecoin", "WETH": "Wrapped Ether"}


@dataclass(frozen=True)
class Token:
    """An ERC-20 as mainnet shows it."""

    symbol: str
    name: str
    decimals: int
    address: str


@dataclass(frozen=True)
class Pool:
    """A mainnet pool: its tokens in the pool's order, its fee, and its address."""

    token_a: str
    token_b: str
    fee: int
    address: str


def _tokens() -> dict[str, Token]:
    return {
        t.symbol: Token(t.symbol, TOKEN_NAMES[t.symbol], t.decimals, t.address)
        for t in load_market().tokens
        if t.chain == "ethereum"
    }


def _pools() -> dict[str, Pool]:
    """Each Ethereum pool of the registry by name, e.g. "USDC/USDT 0.01%" (token0/token1, fee)."""
    return {
        f"{p.token0.symbol}/{p.token1.symbol} {p.fee / 10_000:g}%": Pool(
            p.token0.symbol, p.token1.symbol, p.fee, p.address
        )
        for p in load_market().pools_on("ethereum")
    }


TOKENS = _tokens()
POOLS = _pools()


def sort_tokens(token_a: str, token_b: str) -> tuple[str, str]:
    """(token0, token1): the pool orders its tokens by address."""
    a, b = to_checksum_address(token_a), to_checksum_address(token_b)
    if a == b:
        raise ValueError(f"a pool needs two different tokens, got {a} twice")
    return (a, b) if int(a, 16) < int(b, 16) else (b, a)


def pool_address(token_a: str, token_b: str, fee: int) -> str:
    """Where the factory at FACTORY creates the pool: CREATE2 over (token0, token1, fee)."""
    token0, token1 = sort_tokens(token_a, token_b)
    salt = keccak(
        bytes.fromhex(token0[2:]).rjust(32, b"\0")
        + bytes.fromhex(token1[2:]).rjust(32, b"\0")
        + fee.to_bytes(32, "big")
    )
    digest = keccak(b"\xff" + bytes.fromhex(FACTORY[2:]) + salt + bytes.fromhex(POOL_INIT_CODE_HASH[2:]))
    return to_checksum_address(digest[12:])
