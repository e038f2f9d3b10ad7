"""Uniswap v3 at its mainnet addresses on the local chain: the factory, the four tokens, the pool driver.

The factory is deployed for real, by its mainnet deployer at that account's nonce 0 (the node
impersonates it), so its constructor runs at the mainnet address and the immutable its
`noDelegateCall` guard compares against is that address. The deployer then hands ownership to
the node's first account, which enables the 0.01 % tier as mainnet governance did. Each pool is
then created by the factory itself (CREATE2 over token0, token1, fee): at its mainnet address.

Tokens are LocalToken (devstack/contracts): deployed normally, then their code and non-mapping
storage (name, symbol) copied to the mainnet address; the node's account gets a large balance of
each and lets the driver spend it. The driver has no constructor, so its code is simply put at
DRIVER_ADDRESS. Everything is idempotent: what is already in place is left as it is.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from math import isqrt

from eth_utils import keccak, to_checksum_address

from devstack.chain.replay import node_account
from devstack.chain.rpc import ChainError, Rpc
from devstack.chain.storage import word
from devstack.chain.transactions import send
from devstack.chain.uniswap import artifacts
from devstack.chain.uniswap.artifacts import UNISWAP
from devstack.chain.uniswap.mainnet import (
    FACTORY,
    FACTORY_DEPLOYER,
    FEE_TICK_SPACING,
    TOKENS,
    Token,
    pool_address,
    sort_tokens,
)

DRIVER_ADDRESS = to_checksum_address(keccak(b"devstack.chain.uniswap.PoolDriver")[12:])
TOKEN_SUPPLY = 2**128 - 1  # per token, to the node's account: more than any local position needs
MAX_UINT256 = 2**256 - 1
MIN_SQRT_RATIO, MAX_SQRT_RATIO = 4295128739, 1461446703485210103287273052203988822378723970342  # TickMath's bounds


def deploy_uniswap(rpc: Rpc) -> None:
    """Put the factory (fee 100 enabled), USDC/USDT/DAI/WETH and the pool driver in place, once."""
    owner = node_account(rpc)
    missing = [t for t in TOKENS.values() if not _token_in_place(rpc, t)]  # refuses foreign code before any change
    _factory(rpc, owner)
    if missing:
        _tokens(rpc, owner, missing)
    rpc.call("anvil_setCode", DRIVER_ADDRESS, artifacts.build()["PoolDriver"]["deployedBytecode"])


def _factory(rpc: Rpc, owner: str) -> None:
    if rpc.call("eth_getCode", FACTORY, "latest") == "0x":
        if int(rpc.call("eth_getTransactionCount", FACTORY_DEPLOYER, "latest"), 16) != 0:
            rpc.call("anvil_setNonce", FACTORY_DEPLOYER, "0x0")
        rpc.call("anvil_setBalance", FACTORY_DEPLOYER, hex(10**20))
        rpc.call("anvil_impersonateAccount", FACTORY_DEPLOYER)
        try:
            created = send(rpc, FACTORY_DEPLOYER, [(None, UNISWAP.constructor("UniswapV3Factory"))])[0][
                "contractAddress"
            ]
            if to_checksum_address(created) != FACTORY:
                raise ChainError(f"the factory landed at {created}, not at {FACTORY}")
            send(rpc, FACTORY_DEPLOYER, [(FACTORY, UNISWAP.encode("UniswapV3Factory", "setOwner", owner))])
        finally:
            rpc.call("anvil_stopImpersonatingAccount", FACTORY_DEPLOYER)
    elif UNISWAP.read(rpc, FACTORY, "UniswapV3Factory", "feeAmountTickSpacing", 500) != FEE_TICK_SPACING[500]:
        raise ChainError(f"{FACTORY} holds code that is not a Uniswap v3 factory")
    if UNISWAP.read(rpc, FACTORY, "UniswapV3Factory", "feeAmountTickSpacing", 100) == 0:
        factory_owner = UNISWAP.read(rpc, FACTORY, "UniswapV3Factory", "owner")
        if to_checksum_address(factory_owner) != owner:
            raise ChainError(
                f"the factory's owner {factory_owner} is not the node's account {owner}: cannot enable fee 100"
            )
        send(rpc, owner, [(FACTORY, UNISWAP.encode("UniswapV3Factory", "enableFeeAmount", 100, FEE_TICK_SPACING[100]))])


def _token_in_place(rpc: Rpc, token: Token) -> bool:
    if rpc.call("eth_getCode", token.address, "latest") == "0x":
        return False
    try:
        symbol = UNISWAP.read(rpc, token.address, "LocalToken", "symbol")
    except ChainError as exc:
        raise ChainError(f"{token.address} holds code that is not the local {token.symbol}: {exc}") from exc
    if symbol != token.symbol:
        raise ChainError(f"{token.address} holds code that is not the local {token.symbol} (its symbol is {symbol!r})")
    return True


def _tokens(rpc: Rpc, owner: str, tokens: list[Token]) -> None:
    """Deploy each token normally, copy its code and plain storage to its mainnet address, fund the owner."""
    receipts = send(
        rpc, owner, [(None, UNISWAP.constructor("LocalToken", t.name, t.symbol, t.decimals)) for t in tokens]
    )
    layout = artifacts.build()["LocalToken"]["storageLayout"]["storage"]
    slots = [hex(int(v["slot"])) for v in layout if not v["type"].startswith("t_mapping")]
    for token, receipt in zip(tokens, receipts, strict=True):
        built = receipt["contractAddress"]
        rpc.call("anvil_setCode", token.address, rpc.call("eth_getCode", built, "latest"))
        values = rpc.batch([("eth_getStorageAt", [built, s, "latest"]) for s in slots])
        rpc.batch(
            [("anvil_setStorageAt", [token.address, s, word(int(v, 16))]) for s, v in zip(slots, values, strict=True)]
        )
    send(
        rpc,
        owner,
        [(t.address, UNISWAP.encode("LocalToken", "mint", owner, TOKEN_SUPPLY)) for t in tokens]
        + [(t.address, UNISWAP.encode("LocalToken", "approve", DRIVER_ADDRESS, MAX_UINT256)) for t in tokens],
    )


def create_pool(rpc: Rpc, token_a: str, token_b: str, fee: int, price: Decimal | Fraction | int | str) -> str:
    """The pool of (token_a, token_b, fee), created by the factory and initialized at `price` if new.

    `price` is what one whole token_a is worth in token_b (decimals accounted for). A pool that
    is already initialized keeps its price.
    """
    address = pool_address(token_a, token_b, fee)
    if UNISWAP.read(rpc, FACTORY, "UniswapV3Factory", "feeAmountTickSpacing", fee) == 0:
        raise ChainError(
            f"fee {fee} is not enabled on the factory {FACTORY} (deploy_uniswap enables 100, 500, 3000, 10000)"
        )
    owner = node_account(rpc)
    if to_checksum_address(UNISWAP.read(rpc, FACTORY, "UniswapV3Factory", "getPool", token_a, token_b, fee)) != address:
        send(rpc, owner, [(FACTORY, UNISWAP.encode("UniswapV3Factory", "createPool", token_a, token_b, fee))])
    if UNISWAP.read(rpc, address, "UniswapV3Pool", "slot0")[0] == 0:
        sqrt_price = sqrt_price_x96(rpc, token_a, token_b, price)
        send(rpc, owner, [(address, UNISWAP.encode("UniswapV3Pool", "initialize", sqrt_price))])
    return address


def sqrt_price_x96(rpc: Rpc, token_a: str, token_b: str, price: Decimal | Fraction | int | str) -> int:
    """The pool's sqrtPriceX96 for `price` (token_b per whole token_a): sqrt(raw token1 per raw token0) * 2**96."""
    value = Fraction(Decimal(price)) if isinstance(price, str) else Fraction(price)
    if value <= 0:
        raise ValueError(f"price {price} of {token_a} in {token_b} must be positive")
    token0, _ = sort_tokens(token_a, token_b)
    per_token0 = value if to_checksum_address(token_a) == token0 else 1 / value
    decimals_a = UNISWAP.read(rpc, token_a, "LocalToken", "decimals")
    decimals_b = UNISWAP.read(rpc, token_b, "LocalToken", "decimals")
    dec0, dec1 = (decimals_a, decimals_b) if to_checksum_address(token_a) == token0 else (decimals_b, decimals_a)
    raw = per_token0 * Fraction(10**dec1, 10**dec0)
    root = isqrt(raw.numerator * 2**192 // raw.denominator)
    if not MIN_SQRT_RATIO <= root < MAX_SQRT_RATIO:
        raise ValueError(f"price {price} of {token_a} in {token_b} is outside the range a Uniswap v3 pool can hold")
    return root
