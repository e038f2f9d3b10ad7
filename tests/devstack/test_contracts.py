"""The contracts build from Chainlink's npm package and behave as Chainlink's proxy does."""

from __future__ import annotations

import pytest
from web3 import Web3
from web3.exceptions import ContractLogicError

from devstack import chain, contracts
from tests.support.scratch_chain import deploy, scratch_chain, transact, web3


def test_build_uses_chainlinks_package_and_the_pragma_compiler() -> None:
    artifacts = contracts.build()
    assert artifacts["_meta"] == {"solc": "0.8.26", "chainlink_contracts": "1.5.0"}
    for name in ("DataFeedsLegacyAggregatorProxy", "MockV3Aggregator", "Multicall3"):
        assert artifacts[name]["source"].startswith("@chainlink/contracts/src/v0.8/")
        assert len(artifacts[name]["deployedBytecode"]) > 100
    source = (
        contracts.package_dir() / "src/v0.8/data-feeds/test/helpers/DataFeedsLegacyAggregatorProxy.sol"
    ).read_text()
    assert "pragma solidity 0.8.26;" in source


def test_pragma_check_refuses_an_unmet_version() -> None:
    with pytest.raises(contracts.ContractBuildError, match="not met"):
        contracts._check_pragma("x.sol", "pragma solidity 0.8.19;")
    contracts._check_pragma("y.sol", "pragma solidity ^0.8.0;")


@pytest.fixture(scope="module")
def proxy_with_two_phases():
    """A proxy, deployed by its constructor, that is upgraded to a second aggregator."""
    with scratch_chain() as rpc:
        abi = contracts.build()
        first = deploy(rpc, "MockV3Aggregator", 8, 100_000_000)
        proxy = deploy(rpc, "DataFeedsLegacyAggregatorProxy", first)
        transact(rpc, first, "MockV3Aggregator", "updateRoundData", 2, 99_000_000, 1_700_000_100, 1_700_000_090)
        second = deploy(rpc, "MockV3Aggregator", 8, 101_000_000)
        transact(rpc, proxy, "DataFeedsLegacyAggregatorProxy", "proposeAggregator", second)
        transact(rpc, proxy, "DataFeedsLegacyAggregatorProxy", "confirmAggregator", second)
        contract = web3(rpc).eth.contract(proxy, abi=abi["DataFeedsLegacyAggregatorProxy"]["abi"])
        yield contract, first, second


def test_phase_ids_and_aggregators(proxy_with_two_phases) -> None:
    proxy, first, second = proxy_with_two_phases
    assert proxy.functions.phaseId().call() == 2
    assert proxy.functions.phaseAggregators(1).call() == first
    assert proxy.functions.phaseAggregators(2).call() == second
    assert proxy.functions.phaseAggregators(3).call() == "0x" + "0" * 40


def test_round_ids_carry_the_phase(proxy_with_two_phases) -> None:
    proxy, _, _ = proxy_with_two_phases
    latest = proxy.functions.latestRoundData().call()
    assert latest[0] == (2 << 64) | 1 and latest[1] == 101_000_000
    old = proxy.functions.getRoundData((1 << 64) | 2).call()
    assert old == [(1 << 64) | 2, 99_000_000, 1_700_000_090, 1_700_000_100, (1 << 64) | 2]


def test_missing_round_answers_zeros_and_unknown_phase_reverts(proxy_with_two_phases) -> None:
    proxy, _, _ = proxy_with_two_phases
    missing = proxy.functions.getRoundData((1 << 64) | 99).call()
    assert missing[1:4] == [0, 0, 0]
    with pytest.raises(ContractLogicError):
        proxy.functions.getRoundData((7 << 64) | 1).call()


def test_stack_serves_feeds_at_mainnet_addresses(stack, feeds) -> None:
    w3 = Web3(Web3.HTTPProvider(chain.ANVIL_URL))
    assert w3.eth.chain_id == 1
    assert w3.eth.get_code(chain.MULTICALL3_ADDRESS) != b""
    abi = contracts.build()["DataFeedsLegacyAggregatorProxy"]["abi"]
    for feed in feeds:
        proxy = w3.eth.contract(feed.proxy, abi=abi)
        assert proxy.functions.description().call() == feed.description
        assert proxy.functions.decimals().call() == feed.decimals
        assert proxy.functions.phaseId().call() >= 1
