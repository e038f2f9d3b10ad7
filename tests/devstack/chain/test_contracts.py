"""The contracts build from Chainlink's npm packages, and replayed feeds read as mainnet's do: through
an EACAggregatorProxy, a FluxAggregator then an OCR-style aggregator, at every historical block."""

from __future__ import annotations

import pytest
from web3 import Web3
from web3.exceptions import ContractLogicError

from chainlink_feeds.abi import MULTICALL3_ADDRESS
from devstack.chain import contracts
from devstack.chain.replay import replay_phases
from devstack.chain.rpc import ChainError, Rpc
from devstack.settings import ANVIL_URL
from devstack.simulation import history
from tests.support.scratch_chain import block_at, deploy, free_port, restart, scratch_chain, transact, web3

# Modelled on recorded mainnet rounds (USDC/USD, 2021): Flux rounds start before they are answered,
# one times out (it repeats round 2's answer and closes when round 4 starts).
T0 = 1_617_000_000  # 2021-03-29
DEPLOYED_AT = T0 - 100_000
SWITCH = T0 + 25_000
FLUX = [  # answer, startedAt, updatedAt, answeredInRound
    (99_997_500, T0 - 80_798, T0, 1),
    (100_010_550, T0 + 3_600, T0 + 3_620, 2),
    (100_010_550, T0 + 7_200, T0 + 20_000, 2),
    (99_990_238, T0 + 20_000, T0 + 20_004, 4),
    (100_000_000, T0 + 26_000, T0 + 26_041, 5),
]
PHASE_ID = "0x" + bytes(Web3.keccak(text="phaseId()")[:4]).hex()
OCR = [(100_006_100, T0 + 10_000), (100_001_000, T0 + 24_000), (99_999_000, T0 + 30_000)]


def plan() -> list[history.SimPhase]:
    flux = tuple(
        history.SimRound("USDC/USD", 1, i, answer, started, updated, answered)
        for i, (answer, started, updated, answered) in enumerate(FLUX, start=1)
    )
    ocr = tuple(history.SimRound("USDC/USD", 2, i, a, t, t, i) for i, (a, t) in enumerate(OCR, start=1))
    return [history.SimPhase(1, "flux", T0 - 50_000, flux), history.SimPhase(2, "ocr", SWITCH, ocr)]


@pytest.fixture(scope="module")
def replayed(feed_by_pair, tmp_path_factory):
    """A scratch node holding the plan behind USDC's proxy address, saving every block's state;
    yields (rpc, proxy contract, state file)."""
    feed = feed_by_pair["USDC/USD"]
    state_file = tmp_path_factory.mktemp("anvil") / "state.json"
    port = free_port()
    with scratch_chain(port=port, state_file=state_file, preserve_history=True) as rpc:
        replay_phases(rpc, feed, plan(), deployed_at=DEPLOYED_AT)
        yield rpc, web3(rpc).eth.contract(feed.proxy, abi=contracts.build()["EACAggregatorProxy"]["abi"]), state_file


def test_build_uses_chainlinks_packages_and_the_pragma_compilers() -> None:
    artifacts = contracts.build()
    for name in ("EACAggregatorProxy", "FluxAggregator", "MockV3Aggregator"):
        assert artifacts[name]["source"].startswith("@chainlink/contracts/src/v0.6/"), name
        assert (artifacts[name]["solc"], artifacts[name]["chainlink_contracts"]) == ("0.6.6", "0.1.7")
    assert artifacts["OcrStyleAggregator"]["solc"] == "0.6.6"
    assert (artifacts["Multicall3"]["solc"], artifacts["Multicall3"]["chainlink_contracts"]) == ("0.8.26", "1.5.0")
    for name in ("EACAggregatorProxy", "FluxAggregator", "OcrStyleAggregator", "Multicall3"):
        assert len(artifacts[name]["deployedBytecode"]) > 100, name
    assert {"rounds", "latestRoundId"} <= {v["label"] for v in artifacts["FluxAggregator"]["storageLayout"]["storage"]}
    source = (contracts.package_dir("0.1.7") / "src/v0.6/EACAggregatorProxy.sol").read_text()
    assert "pragma solidity 0.6.6;" in source


def test_pragma_check_refuses_an_unmet_version() -> None:
    with pytest.raises(contracts.ContractBuildError, match="not met"):
        contracts._check_pragma("x.sol", "pragma solidity 0.6.6;", "0.8.26")
    contracts._check_pragma("y.sol", "pragma solidity ^0.6.0;", "0.6.6")


def test_every_round_reads_back_exactly_through_the_proxy(replayed) -> None:
    _, proxy, _ = replayed
    for phase in plan():
        for r in phase.rounds:
            expected = [r.round_id, r.answer, r.started_at, r.updated_at, r.proxy_answered_in_round]
            assert proxy.functions.getRoundData(r.round_id).call() == expected, r
    timed_out = plan()[0].rounds[2]
    assert timed_out.is_timed_out
    assert proxy.functions.getRoundData(timed_out.round_id).call()[4] == (1 << 64) | 2


def test_blocks_carry_the_events_times(replayed) -> None:
    rpc, _, _ = replayed
    for at in (DEPLOYED_AT, SWITCH, T0 + 3_620, T0 + 30_000):
        block = rpc.call("eth_getBlockByNumber", hex(block_at(rpc, at)), False)
        assert int(block["timestamp"], 16) == at


def test_the_switch_is_a_confirm_aggregator_transaction_in_the_switch_block(replayed, feed_by_pair) -> None:
    rpc, proxy, _ = replayed
    block = rpc.call("eth_getBlockByNumber", hex(block_at(rpc, SWITCH)), True)
    assert int(block["timestamp"], 16) == SWITCH
    calls = [(tx["to"].lower(), tx["input"][:10]) for tx in block["transactions"]]
    selector = "0x" + bytes(Web3.keccak(text="confirmAggregator(address)")[:4]).hex()
    assert (feed_by_pair["USDC/USD"].proxy.lower(), selector) in calls
    assert proxy.functions.phaseAggregators(2).call() == proxy.functions.aggregator().call()


def test_phase_id_at_historical_blocks(replayed) -> None:
    rpc, proxy, _ = replayed
    assert proxy.functions.phaseId().call(block_identifier=block_at(rpc, DEPLOYED_AT)) == 0
    assert proxy.functions.phaseId().call(block_identifier=block_at(rpc, SWITCH - 1)) == 1
    assert proxy.functions.phaseId().call(block_identifier=block_at(rpc, SWITCH)) == 2
    assert proxy.functions.phaseId().call() == 2


def test_a_round_is_not_visible_before_its_update(replayed) -> None:
    rpc, proxy, _ = replayed
    fourth = (1 << 64) | 4
    with pytest.raises(ContractLogicError, match="No data present"):
        proxy.functions.getRoundData(fourth).call(block_identifier=block_at(rpc, T0 + 20_003))
    assert proxy.functions.getRoundData(fourth).call(block_identifier=block_at(rpc, T0 + 20_004))[1] == FLUX[3][0]
    # While round 3 has timed out and round 4 is not answered yet, the latest round stays round 2.
    latest = proxy.functions.latestRoundData().call(block_identifier=block_at(rpc, T0 + 20_000))
    assert latest[0] == (1 << 64) | 2
    # Before the switch the proxy serves Flux; after it, the OCR round that was current at the switch.
    assert proxy.functions.latestRoundData().call(block_identifier=block_at(rpc, SWITCH - 1))[0] == fourth
    assert proxy.functions.latestRoundData().call(block_identifier=block_at(rpc, SWITCH))[0] == (2 << 64) | 2


def test_missing_rounds_revert_on_flux_and_answer_zeros_on_ocr(replayed) -> None:
    _, proxy, _ = replayed
    with pytest.raises(ContractLogicError, match="No data present"):
        proxy.functions.getRoundData((1 << 64) | 99).call()
    missing = (2 << 64) | 99
    assert proxy.functions.getRoundData(missing).call() == [missing, 0, 0, 0, missing]
    with pytest.raises(ContractLogicError, match="No data present"):
        proxy.functions.getRoundData((2 << 64) | 2**32).call()
    with pytest.raises(ContractLogicError):
        proxy.functions.getRoundData((7 << 64) | 1).call()


def test_the_feed_answers_like_mainnet(replayed, feed_by_pair) -> None:
    _, proxy, _ = replayed
    feed = feed_by_pair["USDC/USD"]
    assert proxy.functions.description().call() == feed.description
    assert proxy.functions.decimals().call() == feed.decimals
    assert proxy.functions.version().call() == 4  # mainnet's OCR aggregators; FluxAggregator is 3
    assert proxy.functions.accessController().call() == "0x" + "0" * 40


def test_replay_refuses_a_node_already_past_deployment(replayed, feed_by_pair) -> None:
    rpc, _, _ = replayed
    with pytest.raises(ChainError, match="not before deployed_at"):
        replay_phases(rpc, feed_by_pair["USDC/USD"], plan(), deployed_at=DEPLOYED_AT)


def test_historical_reads_survive_a_restart_with_preserved_states(replayed) -> None:
    rpc, proxy, state_file = replayed
    before = block_at(rpc, SWITCH - 1)
    restart(rpc, state_file, preserve_history=True)
    assert proxy.functions.phaseId().call(block_identifier=before) == 1
    assert proxy.functions.phaseId().call(block_identifier=before + 1) == 2
    assert proxy.functions.getRoundData((1 << 64) | 3).call(block_identifier=before)[4] == (1 << 64) | 2


def test_historical_states_are_lost_on_a_restart_without_preserving_them(feed_by_pair, tmp_path) -> None:
    """Why the stack replays after a restart (see devstack.chain.node): anvil keeps only the latest state."""
    feed = feed_by_pair["USDC/USD"]
    with scratch_chain(port=free_port(), state_file=tmp_path / "state.json") as rpc:
        replay_phases(rpc, feed, plan(), deployed_at=DEPLOYED_AT)
        before = block_at(rpc, SWITCH - 1)
        restart(rpc, tmp_path / "state.json")
        with pytest.raises(ChainError, match="BlockOutOfRangeError"):
            rpc.call("eth_call", {"to": feed.proxy, "data": PHASE_ID}, hex(before))
        assert rpc.call("eth_call", {"to": feed.proxy, "data": PHASE_ID}, "latest") == "0x" + "2".rjust(64, "0")


def test_a_pruned_node_cannot_answer_old_blocks(feed_by_pair) -> None:
    feed = feed_by_pair["USDC/USD"]
    with scratch_chain(port=free_port(), prune_history=True) as rpc:
        replay_phases(rpc, feed, plan(), deployed_at=DEPLOYED_AT)
        with pytest.raises(ChainError, match="BlockOutOfRangeError"):
            rpc.call("eth_call", {"to": feed.proxy, "data": PHASE_ID}, hex(block_at(rpc, SWITCH - 1)))


def test_a_constructed_proxy_over_mock_aggregators_written_by_transactions() -> None:
    """The helpers tests use to write rounds through transactions: Chainlink's 0.6 MockV3Aggregator
    behind an EACAggregatorProxy deployed by its own constructor, then upgraded."""
    with scratch_chain(port=free_port()) as rpc:
        first = deploy(rpc, "MockV3Aggregator", 8, 100_000_000)
        proxy = deploy(rpc, "EACAggregatorProxy", first, "0x" + "0" * 40)
        transact(rpc, first, "MockV3Aggregator", "updateRoundData", 2, 99_000_000, 1_700_000_100, 1_700_000_090)
        second = deploy(rpc, "MockV3Aggregator", 8, 101_000_000)
        transact(rpc, proxy, "EACAggregatorProxy", "proposeAggregator", second)
        transact(rpc, proxy, "EACAggregatorProxy", "confirmAggregator", second)
        contract = web3(rpc).eth.contract(proxy, abi=contracts.build()["EACAggregatorProxy"]["abi"])
        assert contract.functions.phaseId().call() == 2
        assert contract.functions.phaseAggregators(1).call() == first
        assert contract.functions.latestRoundData().call()[:2] == [(2 << 64) | 1, 101_000_000]
        old = contract.functions.getRoundData((1 << 64) | 2).call()
        assert old == [(1 << 64) | 2, 99_000_000, 1_700_000_090, 1_700_000_100, (1 << 64) | 2]


def test_stack_serves_feeds_at_mainnet_addresses(stack, feeds) -> None:
    rpc = Rpc(ANVIL_URL)
    w3 = rpc.web3()
    assert w3.eth.chain_id == 1
    assert w3.eth.get_code(MULTICALL3_ADDRESS) != b""
    abi = contracts.build()["EACAggregatorProxy"]["abi"]
    for feed in feeds:
        proxy = w3.eth.contract(feed.proxy, abi=abi)
        assert proxy.functions.description().call() == feed.description
        assert proxy.functions.decimals().call() == feed.decimals
        assert proxy.functions.phaseId().call() == 2
        switch = stack.phase_change(feed).timestamp()
        latest = w3.eth.get_block("latest")["timestamp"]
        assert latest >= stack.end.timestamp()
        before = block_at(rpc, int(switch) - 1)
        assert proxy.functions.phaseId().call(block_identifier=before) == 1, feed.pair
