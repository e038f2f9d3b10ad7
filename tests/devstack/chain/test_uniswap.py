"""Uniswap v3's own factory and pool code on a scratch chain at mainnet's addresses: every pool the
local factory creates lands at its mainnet address, and the driver leaves exact states through
real transactions."""

from __future__ import annotations

import base64
import hashlib
import shutil

import pytest
from eth_utils import keccak, to_checksum_address

from devstack.chain import contracts
from devstack.chain.contracts import ContractBuildError
from devstack.chain.replay import node_account
from devstack.chain.rpc import ChainError
from devstack.chain.transactions import send
from devstack.chain.uniswap import (
    DRIVER_ADDRESS,
    create_pool,
    deploy_uniswap,
    drive_call,
    pool_state,
    set_pool_state,
    swap,
)
from devstack.chain.uniswap import artifacts as uniswap_artifacts
from devstack.chain.uniswap.artifacts import UNISWAP
from devstack.chain.uniswap.mainnet import FACTORY, FEE_TICK_SPACING, POOL_INIT_CODE_HASH, POOLS, TOKENS, pool_address
from tests.support.scratch_chain import free_port, scratch_chain

SWAP_TOPIC = "0x" + keccak(text="Swap(address,address,int256,int256,uint160,uint128,int24)").hex().removeprefix("0x")
# As mainnet's pools show them (token0 is the lower address).
MAINNET_TOKEN0 = {
    "USDC/USDT 0.01%": "USDC",
    "DAI/USDC 0.01%": "DAI",
    "USDC/WETH 0.05%": "USDC",
    "WETH/USDT 0.05%": "WETH",
}
USDC_USDT = POOLS["USDC/USDT 0.01%"].address
USDT_WETH = POOLS["WETH/USDT 0.05%"].address  # tick spacing 10, ticks near -200,000


@pytest.fixture(scope="module")
def rpc():
    """A scratch node with Uniswap deployed and the four pools created (stables at 1, WETH at 2,000)."""
    with scratch_chain(port=free_port()) as node:
        deploy_uniswap(node)
        for pool in POOLS.values():
            price = 2000 if pool.token_a == "WETH" else ("0.0005" if pool.token_b == "WETH" else 1)
            create_pool(node, TOKENS[pool.token_a].address, TOKENS[pool.token_b].address, pool.fee, price)
        yield node


def test_the_pool_creation_code_is_mainnets() -> None:
    bytecode = uniswap_artifacts.build()["UniswapV3Pool"]["bytecode"]
    assert "0x" + keccak(hexstr=bytecode).hex().removeprefix("0x") == POOL_INIT_CODE_HASH


@pytest.mark.parametrize("name", sorted(POOLS))
def test_each_pool_is_created_by_the_factory_at_its_mainnet_address(rpc, name) -> None:
    pool = POOLS[name]
    a, b = TOKENS[pool.token_a].address, TOKENS[pool.token_b].address
    assert pool_address(a, b, pool.fee) == pool.address  # CREATE2 from the factory: the listed address
    assert UNISWAP.read(rpc, FACTORY, "UniswapV3Factory", "getPool", a, b, pool.fee) == pool.address
    token0 = TOKENS[MAINNET_TOKEN0[name]].address
    token1 = b if token0 == a else a
    got = [
        UNISWAP.read(rpc, pool.address, "UniswapV3Pool", f)
        for f in ("token0", "token1", "fee", "tickSpacing", "factory")
    ]
    assert got == [token0, token1, pool.fee, FEE_TICK_SPACING[pool.fee], FACTORY]


def test_tokens_have_mainnet_symbols_and_decimals(rpc) -> None:
    for token in TOKENS.values():
        got = [UNISWAP.read(rpc, token.address, "LocalToken", f) for f in ("symbol", "name", "decimals")]
        assert got == [token.symbol, token.name, token.decimals]


def test_the_node_owns_the_factory_with_the_001_tier_enabled(rpc) -> None:
    assert UNISWAP.read(rpc, FACTORY, "UniswapV3Factory", "owner") == node_account(rpc)
    assert [
        UNISWAP.read(rpc, FACTORY, "UniswapV3Factory", "feeAmountTickSpacing", fee) for fee in (100, 500, 3000, 10000)
    ] == [
        1,
        10,
        60,
        200,
    ]


def test_deploy_and_create_are_idempotent(rpc) -> None:
    usdc = TOKENS["USDC"].address
    before = (
        rpc.call("eth_blockNumber"),
        UNISWAP.read(rpc, usdc, "LocalToken", "totalSupply"),
        pool_state(rpc, USDC_USDT),
    )
    deploy_uniswap(rpc)
    assert create_pool(rpc, usdc, TOKENS["USDT"].address, 100, 2) == USDC_USDT  # keeps its price
    assert (
        rpc.call("eth_blockNumber"),
        UNISWAP.read(rpc, usdc, "LocalToken", "totalSupply"),
        pool_state(rpc, USDC_USDT),
    ) == before


@pytest.mark.parametrize(
    ("pool", "states"),
    [
        (
            USDC_USDT,
            [(-1, 430_394_234_327_008_495), (24, 0), (117, 920_000_000_000), (-9, 10**17), (-9, 5 * 10**17), (-9, 0)],
        ),
        (USDT_WETH, [(-200_313, 7 * 10**17), (-200_320, 10**15), (-200_301, 0), (-199_999, 3 * 10**16)]),
    ],
)
def test_the_driver_reaches_exact_ticks_and_liquidity(rpc, pool, states) -> None:
    for tick, liquidity in states:
        set_pool_state(rpc, pool, tick, liquidity)
        got = pool_state(rpc, pool)
        assert (got.tick, got.liquidity) == (tick, liquidity)


def test_liquidity_others_hold_in_range_counts_toward_the_target(rpc) -> None:
    other = to_checksum_address(rpc.call("eth_accounts")[1])
    tokens = [TOKENS["DAI"].address, TOKENS["USDC"].address]
    send(rpc, other, [(t, UNISWAP.encode("LocalToken", "mint", other, 10**40)) for t in tokens])
    send(rpc, other, [(t, UNISWAP.encode("LocalToken", "approve", DRIVER_ADDRESS, 2**256 - 1)) for t in tokens])
    dai_usdc = POOLS["DAI/USDC 0.01%"].address
    set_pool_state(rpc, dai_usdc, -276_330, 0)
    send(rpc, other, [drive_call(dai_usdc, -276_330, 10**18)])
    with pytest.raises(ChainError, match="others' liquidity exceeds the target"):
        set_pool_state(rpc, dai_usdc, -276_330, 10**17)
    set_pool_state(rpc, dai_usdc, -276_330, 3 * 10**18)  # the node's account adds 2e18 to the other's 1e18
    assert pool_state(rpc, dai_usdc).liquidity == 3 * 10**18


def _swaps(receipt: dict, pool: str) -> list[dict]:
    return [
        log for log in receipt["logs"] if log["topics"][0] == SWAP_TOPIC and to_checksum_address(log["address"]) == pool
    ]


def test_a_price_move_emits_a_swap_and_a_liquidity_change_does_not(rpc) -> None:
    set_pool_state(rpc, USDC_USDT, 3, 10**17)
    moved = set_pool_state(rpc, USDC_USDT, -4, 10**17)
    (log,) = _swaps(moved, USDC_USDT)
    assert int.from_bytes(bytes.fromhex(log["data"][2:])[-32:], "big", signed=True) == -4  # the Swap's tick
    assert _swaps(set_pool_state(rpc, USDC_USDT, -4, 2 * 10**17), USDC_USDT) == []


def test_a_swap_trades_through_the_pool(rpc) -> None:
    set_pool_state(rpc, USDC_USDT, 0, 10**18)
    usdc, usdt, me = TOKENS["USDC"].address, TOKENS["USDT"].address, node_account(rpc)
    before = [UNISWAP.read(rpc, t, "LocalToken", "balanceOf", me) for t in (usdc, usdt)]
    (log,) = _swaps(swap(rpc, USDC_USDT, zero_for_one=True, amount=10**12), USDC_USDT)
    after = [UNISWAP.read(rpc, t, "LocalToken", "balanceOf", me) for t in (usdc, usdt)]
    data = bytes.fromhex(log["data"][2:])
    amount0, amount1 = (int.from_bytes(data[i : i + 32], "big", signed=True) for i in (0, 32))
    assert amount0 == 10**12 and amount1 < 0  # sold exactly 1,000,000 USDC for USDT
    assert [a - b for a, b in zip(after, before, strict=True)] == [-amount0, -amount1]
    assert pool_state(rpc, USDC_USDT).sqrt_price_x96 < int.from_bytes(data[64:96], "big") + 1  # the price fell


def test_the_driver_refuses_what_is_not_a_pool_or_not_a_state(rpc) -> None:
    with pytest.raises(ChainError, match=DRIVER_ADDRESS):
        set_pool_state(rpc, DRIVER_ADDRESS, 0, 1)  # code, but not a pool of the factory
    with pytest.raises(ChainError, match="0x1111111111111111111111111111111111111111 holds no code"):
        set_pool_state(rpc, "0x" + "11" * 20, 0, 1)
    with pytest.raises(ValueError, match="tick 900000"):
        set_pool_state(rpc, USDC_USDT, 900_000, 1)
    with pytest.raises(ChainError, match="fee 250 is not enabled"):
        create_pool(rpc, TOKENS["USDC"].address, TOKENS["DAI"].address, 250, 1)


def test_deploy_refuses_foreign_code_at_a_token_address_and_changes_nothing() -> None:
    usdt = TOKENS["USDT"].address
    with scratch_chain(port=free_port()) as node:
        node.call("anvil_setCode", usdt, uniswap_artifacts.build()["PoolDriver"]["deployedBytecode"])
        with pytest.raises(ChainError, match=f"{usdt} holds code that is not the local USDT"):
            deploy_uniswap(node)
        assert [node.call("eth_getCode", a, "latest") for a in (FACTORY, TOKENS["USDC"].address)] == ["0x", "0x"]


def test_a_tarball_that_is_not_the_pinned_one_is_refused(tmp_path, monkeypatch) -> None:
    package, version = uniswap_artifacts.V3_CORE
    real = contracts.BUILD_DIR / "uniswap-v3-core-1.0.1.tgz"
    uniswap_artifacts.build()  # fetched once, integrity-checked
    digest = "sha512-" + base64.b64encode(hashlib.sha512(real.read_bytes()).digest()).decode()
    assert digest == uniswap_artifacts.V3_CORE_INTEGRITY
    monkeypatch.setattr(contracts, "BUILD_DIR", tmp_path)
    shutil.copy(real, tmp_path / real.name)
    wrong = "sha512-" + base64.b64encode(b"\0" * 64).decode()
    with pytest.raises(ContractBuildError, match="uniswap-v3-core-1.0.1.tgz: integrity"):
        contracts.npm_package_dir(package, version, wrong)
    assert list(tmp_path.iterdir()) == []  # the tarball is dropped and nothing is unpacked
