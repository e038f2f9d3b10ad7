"""Uniswap v3 on Ethereum mainnet: the addresses the local chain reproduces (one home for them).

Sources: the factory from Uniswap/v3-periphery `deploys.md` (docs.uniswap.org, "Deployment
Addresses"); it was the first contract (nonce 0) of Uniswap's deployer 0x6C9FC64A…f4E9, whose
nonce-14 contract is SwapRouter02 0x68b34658…Fc45 (forge-std's `computeCreateAddress` test), and
nonce 0 of that account gives 0x1F98431c…F984. Tokens: Uniswap's docs use USDC and WETH in their
`getPool` example; USDT, DAI as on Etherscan. Pools: the USDC/USDT 0.01 % pool is the one recorded
in ../shared/data/dex-recorded; USDT/WETH 0.05 % 0x11b815ef…97F6 appears as UNISWAP_USDT_ETH in
public code (found with the search tools). Every pool address here is also the CREATE2 address
the factory derives (`pool_address`), and tests/devstack/chain/test_uniswap.py checks that the
local factory creates each one there.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils import keccak, to_checksum_address

FACTORY = "0x1F98431c8aD98523631AE4a59f267346ea31F984"
FACTORY_DEPLOYER = "0x6C9FC64A53c1b71FB3f9Af64d1ae3A4931A5f4E9"  # deployed the factory with its nonce 0
# keccak256 of UniswapV3Pool's creation code: the factory's CREATE2 salt is over (token0, token1, fee).
POOL_INIT_CODE_HASH = "0xe34f199b19b2b4f47f68442619d555527d244f78a3297ea89325f843f87b8b54"
# Fee tiers the factory's constructor enables (fee -> tick spacing); 100 was enabled by governance later.
FEE_TICK_SPACING = {100: 1, 500: 10, 3000: 60, 10000: 200}


@dataclass(frozen=True)
class Token:
    """An ERC-20 as mainnet shows it."""

    symbol: str
    name: str
    decimals: int
    address: str


@dataclass(frozen=True)
class Pool:
    """A mainnet pool: its tokens (any order) and fee, and the address mainnet lists for it."""

    token_a: str
    token_b: str
    fee: int
    address: str


TOKENS = {
    t.symbol: t
    for t in (
        Token("USDC", "USD Coin", 6, "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"),
        Token("USDT", "Tether USD", 6, "0xdAC17F958D2ee523a2206206994597C13D831ec7"),
        Token("DAI", "Dai Stablecoin", 18, "0x6B175474E89094C44Da98b954EedeAC495271d0F"),
        Token("WETH", "Wrapped Ether", 18, "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"),
    )
}
POOLS = {
    "USDC/USDT 0.01%": Pool("USDC", "USDT", 100, "0x3416cF6C708Da44DB2624D63ea0AAef7113527C6"),
    "DAI/USDC 0.01%": Pool("DAI", "USDC", 100, "0x5777d92f208679DB4b9778590Fa3CAB3aC9e2168"),
    "USDC/WETH 0.05%": Pool("USDC", "WETH", 500, "0x88e6A0c2dDD26FEEb64F039a2c41296FcB3f5640"),
    "USDT/WETH 0.05%": Pool("USDT", "WETH", 500, "0x11b815efB8f581194ae79006d24E0d814B7697F6"),
}


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
