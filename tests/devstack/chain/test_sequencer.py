"""Arbitrum's sequencer uptime feed on a chain-42161 node: Chainlink's contracts behind mainnet's proxy
address, status changes delivered from the aliased L1 sender and read back through the proxy."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from eth_utils import keccak
from web3.contract import Contract
from web3.exceptions import ContractCustomError

from devstack.chain import contracts
from devstack.chain.replay import node_account
from devstack.chain.rpc import ChainError, Rpc
from devstack.chain.sequencer import (
    L1_SENDER,
    Sequencer,
    StatusUpdateIgnoredError,
    UptimeRound,
    aliased,
    deploy,
    set_status,
    status,
)
from tests.support.scratch_chain import free_port, scratch_chain, transact

ARBITRUM_ONE = 42161
ARBITRUM_PROXY = "0xFdB631F5EE196F0ed6FAa767959853A9F217697D"  # Arbitrum One's, from Chainlink's docs
PHASE_1 = 1 << 64
DOWN_AFTER, UP_AFTER = 3_600, 5_400  # seconds after initialize: the L1 times of the two changes
INVALID_SENDER = "0x" + keccak(text="InvalidSender()")[:4].hex()
INITIALIZED = "0x" + keccak(text="Initialized()").hex()


@dataclass(frozen=True)
class Deployed:
    sequencer: Sequencer
    ready_block: int  # the latest block once deployed
    initialized_at: int  # the initialize() block's time


@dataclass(frozen=True)
class Changed:
    down_at: int
    up_at: int
    down_block: int  # the latest block after the change to down


@pytest.fixture(scope="module")
def node() -> Iterator[Rpc]:
    with scratch_chain(chain_id=ARBITRUM_ONE, port=free_port()) as rpc:
        yield rpc


@pytest.fixture(scope="module")
def deployed(node: Rpc) -> Deployed:
    sequencer = deploy(node, proxy_at=ARBITRUM_PROXY)
    (log,) = node.call("eth_getLogs", {"address": sequencer.feed, "topics": [INITIALIZED], "fromBlock": "0x0"})
    initialized_at = int(node.call("eth_getBlockByNumber", log["blockNumber"], False)["timestamp"], 16)
    return Deployed(sequencer, int(node.call("eth_blockNumber"), 16), initialized_at)


@pytest.fixture(scope="module")
def changed(node: Rpc, deployed: Deployed) -> Changed:
    """The sequencer went down, then came back up."""
    down_at, up_at = deployed.initialized_at + DOWN_AFTER, deployed.initialized_at + UP_AFTER
    set_status(node, deployed.sequencer, down=True, at=down_at)
    down_block = int(node.call("eth_blockNumber"), 16)
    set_status(node, deployed.sequencer, down=False, at=up_at)
    return Changed(down_at, up_at, down_block)


def _contract(rpc: Rpc, address: str, name: str) -> Contract:
    return rpc.web3().eth.contract(address, abi=contracts.build()[name]["abi"])


def test_the_proxy_serves_chainlinks_feed_at_arbitrum_ones_address(node: Rpc, deployed: Deployed) -> None:
    sequencer = deployed.sequencer
    assert sequencer.proxy == ARBITRUM_PROXY
    assert node.web3().eth.chain_id == ARBITRUM_ONE
    assert (
        node.call("eth_getCode", ARBITRUM_PROXY, "latest")
        == contracts.build()["EACAggregatorProxy"]["deployedBytecode"]
    )
    proxy = _contract(node, ARBITRUM_PROXY, "EACAggregatorProxy")
    assert proxy.functions.aggregator().call() == sequencer.feed
    assert proxy.functions.phaseId().call() == 1
    assert proxy.functions.owner().call() == node_account(node)
    assert proxy.functions.description().call() == "L2 Sequencer Uptime Status Feed"
    assert proxy.functions.decimals().call() == 0
    feed = _contract(node, sequencer.feed, "ArbitrumSequencerUptimeFeed")
    assert feed.functions.typeAndVersion().call() == "ArbitrumSequencerUptimeFeed 1.0.0"
    assert feed.functions.FLAGS().call() == sequencer.flags
    assert feed.functions.l1Sender().call() == L1_SENDER


def test_after_deploy_the_feed_answers_up_since_initialize(node: Rpc, deployed: Deployed) -> None:
    proxy = _contract(node, ARBITRUM_PROXY, "EACAggregatorProxy")
    at = deployed.initialized_at
    assert proxy.functions.latestRoundData().call(block_identifier=deployed.ready_block) == [
        PHASE_1 | 1, 0, at, at, PHASE_1 | 1
    ]  # fmt: skip


def test_down_then_up_through_the_proxy(node: Rpc, deployed: Deployed, changed: Changed) -> None:
    proxy = _contract(node, ARBITRUM_PROXY, "EACAggregatorProxy")
    down = proxy.functions.latestRoundData().call(block_identifier=changed.down_block)
    assert down == [PHASE_1 | 2, 1, changed.down_at, changed.down_at, PHASE_1 | 2]
    assert status(node, ARBITRUM_PROXY) == UptimeRound(PHASE_1 | 3, 0, changed.up_at, changed.up_at)
    assert not status(node, ARBITRUM_PROXY).down
    at = deployed.initialized_at
    assert proxy.functions.getRoundData(PHASE_1 | 1).call() == [PHASE_1 | 1, 0, at, at, PHASE_1 | 1]
    assert proxy.functions.getRoundData(PHASE_1 | 2).call()[1:3] == [1, changed.down_at]


def test_the_flag_follows_the_status(node: Rpc, deployed: Deployed, changed: Changed) -> None:
    feed = _contract(node, deployed.sequencer.feed, "ArbitrumSequencerUptimeFeed")
    flags = _contract(node, deployed.sequencer.flags, "Flags")
    offline = feed.functions.FLAG_L2_SEQ_OFFLINE().call()
    assert flags.functions.getFlag(offline).call(block_identifier=changed.down_block) is True
    assert flags.functions.getFlag(offline).call() is False


def test_only_the_aliased_l1_sender_may_update(node: Rpc, deployed: Deployed, changed: Changed) -> None:
    feed = _contract(node, deployed.sequencer.feed, "ArbitrumSequencerUptimeFeed")
    expected = (int(L1_SENDER, 16) + 0x1111000000000000000000000000000000001111) % 2**160
    assert int(aliased(L1_SENDER), 16) == expected
    assert feed.functions.aliasedL1MessageSender().call() == aliased(L1_SENDER)
    for sender in (node_account(node), L1_SENDER):
        with pytest.raises(ContractCustomError) as refused:
            feed.functions.updateStatus(True, changed.up_at + 1).call({"from": sender})
        assert refused.value.data == INVALID_SENDER
    with pytest.raises(ChainError, match="failed"):
        transact(node, deployed.sequencer.feed, "ArbitrumSequencerUptimeFeed", "updateStatus", True, changed.up_at + 1)
    assert status(node, ARBITRUM_PROXY).round_id == PHASE_1 | 3


def test_an_unchanged_or_older_status_is_ignored_and_reported(node: Rpc, deployed: Deployed, changed: Changed) -> None:
    up_at = datetime.fromtimestamp(changed.up_at, UTC).isoformat()
    with pytest.raises(StatusUpdateIgnoredError, match=f"ignored up at .*: it is up since {re.escape(up_at)}"):
        set_status(node, deployed.sequencer, down=False, at=changed.up_at + 60)
    earlier = datetime.fromtimestamp(changed.up_at - 1, UTC).isoformat()
    with pytest.raises(StatusUpdateIgnoredError, match=re.escape(f"ignored down at {earlier}: it is up since {up_at}")):
        set_status(node, deployed.sequencer, down=True, at=changed.up_at - 1)
    assert status(node, ARBITRUM_PROXY) == UptimeRound(PHASE_1 | 3, 0, changed.up_at, changed.up_at)


def test_a_proxy_address_in_use_is_refused_before_deploying(node: Rpc, deployed: Deployed) -> None:
    nonce = node.call("eth_getTransactionCount", node_account(node), "latest")
    with pytest.raises(ChainError, match="already holds code"):
        deploy(node, proxy_at=ARBITRUM_PROXY)
    assert node.call("eth_getTransactionCount", node_account(node), "latest") == nonce


def test_without_an_address_a_new_proxy_is_constructed(node: Rpc, deployed: Deployed) -> None:
    second = deploy(node)
    assert second.proxy not in (ARBITRUM_PROXY, deployed.sequencer.proxy)
    latest = status(node, second.proxy)
    assert (latest.round_id, latest.answer, latest.started_at == latest.updated_at) == (PHASE_1 | 1, 0, True)
