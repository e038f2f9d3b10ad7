"""Writing rounds onto the node at their times: Chainlink's 0.6 proxy and one aggregator per phase.

In blocks before the history: each phase's aggregator (a FluxAggregator, then an
OcrStyleAggregator), the feed's `EACAggregatorProxy` at its mainnet address (installed with
`anvil_setCode`) and Multicall3 at its canonical address. A round is then written into its
aggregator's storage (devstack.chain.storage) in the block mined at the round's `updatedAt`, and a
phase starts with a real `confirmAggregator` transaction in the block mined at its activation
time, so reads at historical blocks see what mainnet would have shown then. Anvil records a
block's state when the *next* block is mined, including `anvil_setStorageAt` writes made in
between: so each block is mined first and its writes follow. Anvil may run the calls of one
JSON-RPC batch concurrently, so a batch never holds calls whose order matters.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from web3 import Web3

from chainlink_feeds.abi import MULTICALL3_ADDRESS, ZERO_ADDRESS
from chainlink_feeds.registry import Feed
from devstack.chain import contracts
from devstack.chain.contracts import CHAINLINK
from devstack.chain.rpc import ChainError, Rpc
from devstack.chain.storage import Aggregator, StorageLayout, word
from devstack.simulation.history import SimPhase, SimRound

TX_GAS = 6_000_000
DEPLOYS_PER_BLOCK = 5  # TX_GAS each within a 30M-gas block
# FluxAggregator constructor settings: no LINK, no payment, no validator, mainnet's 0.6 timeout.
FLUX_TIMEOUT = 604_800
FLUX_SUBMISSION_RANGE = (1, 2**255 - 1)


def node_account(rpc: Rpc) -> str:
    """The node's first account, which deploys and owns the stack's contracts."""
    return Web3.to_checksum_address(rpc.call("eth_accounts")[0])


@dataclass
class _Block:
    """What happens in the block mined at one timestamp: transactions, then storage writes."""

    transactions: list[tuple[str | None, str]] = field(default_factory=list)  # (to, data)
    rounds: dict[str, list[SimRound]] = field(default_factory=lambda: defaultdict(list))  # by aggregator


def _check_plan(feed: Feed, feed_phases: list[SimPhase], deployed_at: int) -> None:
    if [p.phase for p in feed_phases] != list(range(1, len(feed_phases) + 1)):
        raise ChainError(f"{feed.pair}: phases must be numbered 1..n in order")
    activations = [p.activated_at for p in feed_phases]
    if any(a >= b for a, b in zip(activations, activations[1:], strict=False)):
        raise ChainError(f"{feed.pair}: phase activations must increase, got {activations}")
    first = min([*activations, *(r.updated_at for p in feed_phases for r in p.rounds)])
    if deployed_at >= first:
        raise ChainError(f"{feed.pair}: deployed_at {deployed_at} must precede every round and activation ({first})")


def _send(rpc: Rpc, sender: str, transactions: list[tuple[str | None, str]], nonce: int) -> list[str]:
    """Queue transactions (automine is off) with consecutive nonces; they run in nonce order."""
    calls = []
    for n, (to, data) in enumerate(transactions):
        tx = {"from": sender, "data": data, "gas": hex(TX_GAS), "nonce": hex(nonce + n)}
        if to:
            tx["to"] = to
        calls.append(("eth_sendTransaction", [tx]))
    return rpc.batch(calls)


def _receipts(rpc: Rpc, hashes: list[str], what: str) -> list[dict]:
    receipts = rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
    failed = [r for r in receipts if r is None or r["status"] != "0x1"]
    if failed:
        raise ChainError(f"{len(failed)} of {len(hashes)} {what} transactions failed, first: {failed[0]}")
    return receipts


def replay_phases(rpc: Rpc, feed: Feed, feed_phases: list[SimPhase], *, deployed_at: int) -> None:
    """Install the feed's proxy and aggregators and mine its rounds and phase switches at their times."""
    replay_many(rpc, {feed: feed_phases}, deployed_at=deployed_at)


def replay_many(
    rpc: Rpc,
    plans: dict[Feed, list[SimPhase]],
    *,
    deployed_at: int,
    transactions: dict[int, list[tuple[str, str]]] | None = None,
) -> dict[int, int]:
    """Replay several feeds onto one node, all events merged in time order; the number of the
    block mined at each scheduled timestamp.

    In the blocks up to `deployed_at`: one aggregator per phase (FluxAggregator or OcrStyleAggregator,
    with the feed's decimals and description), Chainlink's EACAggregatorProxy at each feed's proxy
    address (owned by the node's first account, reads open) and Multicall3. Then a block at every
    round's updatedAt holding its storage, and a block at every phase's activation holding the
    proxy's proposeAggregator and confirmAggregator. `transactions` (timestamp -> (to, data) calls
    from the node's first account, e.g. a pool's moves) join the blocks at their timestamps, so
    one time-ordered schedule holds both. The node's latest block must be older than
    `deployed_at`; automine is back on afterwards.
    """
    for feed, feed_phases in plans.items():
        _check_plan(feed, feed_phases, deployed_at)
    early = [at for at in transactions or {} if at <= deployed_at]
    if early:
        raise ChainError(f"transactions at {min(early)} do not come after deployed_at {deployed_at}")
    head = head_timestamp(rpc)
    if head >= deployed_at - (math.ceil(sum(len(p) for p in plans.values()) / DEPLOYS_PER_BLOCK) - 1):
        raise ChainError(f"the node's latest block is at {head}, not before deployed_at {deployed_at}: reset it")
    owner = node_account(rpc)
    rpc.call("evm_setAutomine", False)
    try:
        nonce = int(rpc.call("eth_getTransactionCount", owner, "pending"), 16)
        aggregators = _deploy(rpc, owner, nonce, plans, deployed_at)
        blocks = _schedule(plans, aggregators)
        for at, calls in (transactions or {}).items():
            blocks[at].transactions += calls
        return _mine(rpc, owner, nonce + len(aggregators), blocks, {a.address: a for a in aggregators.values()})
    finally:
        rpc.call("evm_setAutomine", True)


def _mine(
    rpc: Rpc, owner: str, nonce: int, blocks: dict[int, _Block], by_address: dict[str, Aggregator]
) -> dict[int, int]:
    """Mine every scheduled block in time order; the number of the block mined at each timestamp."""
    first = int(rpc.call("eth_blockNumber"), 16) + 1
    for at in sorted(blocks):
        block = blocks[at]
        hashes = _send(rpc, owner, block.transactions, nonce)
        nonce += len(hashes)
        rpc.call("evm_mine", at)  # first the block, then its writes: they become its state
        if hashes:
            _receipts(rpc, hashes, "scheduled")
        rpc.batch(_storage_writes([(by_address[address], rounds) for address, rounds in block.rounds.items()]))
    return {at: first + n for n, at in enumerate(sorted(blocks))}  # evm_mine adds exactly one block


def _storage_writes(rounds: list[tuple[Aggregator, list[SimRound]]]) -> list[tuple[str, list[Any]]]:
    """The anvil_setStorageAt calls that put each aggregator's rounds of one block into its storage."""
    return [
        ("anvil_setStorageAt", [aggregator.address, hex(slot), word(value)])
        for aggregator, block_rounds in rounds
        for slot, value in aggregator.writes(block_rounds).items()
    ]


def head_timestamp(rpc: Rpc) -> int:
    """The timestamp of the node's latest block: no block may be mined before it."""
    return int(rpc.call("eth_getBlockByNumber", "latest", False)["timestamp"], 16)


def ocr_aggregator(rpc: Rpc, address: str) -> Aggregator:
    """A deployed OcrStyleAggregator, with its latest round id read from the chain, to add rounds to."""
    artifact = contracts.build()["OcrStyleAggregator"]
    if rpc.call("eth_getCode", address, "latest") != artifact["deployedBytecode"]:
        raise ChainError(f"{address} is not an OcrStyleAggregator: only those take new rounds")
    aggregator = Aggregator(Web3.to_checksum_address(address), "ocr", StorageLayout(artifact))
    aggregator.header = int(rpc.call("eth_getStorageAt", address, hex(aggregator.header_slot), "latest"), 16)
    return aggregator


def mine_rounds(
    rpc: Rpc, at: int, rounds: list[tuple[Aggregator, list[SimRound]]], transactions: list[tuple[str, str]] = ()
) -> None:
    """Mine a block at `at` holding these rounds (each updated at `at`) and `transactions` ((to, data)
    from the node's first account, e.g. pool moves; they must succeed).

    The block comes first and its storage writes follow, as in the replay. A block older than the
    node's latest is refused: blocks stay in time order.
    """
    head = head_timestamp(rpc)
    if at < head:
        raise ChainError(f"a block at {at} would be older than the node's latest block ({head})")
    stray = [r for _, block_rounds in rounds for r in block_rounds if r.updated_at != at]
    if stray:
        raise ChainError(f"{stray[0]} is not updated at the block's time {at}")
    hashes: list[str] = []
    if transactions:
        owner = node_account(rpc)
        rpc.call("evm_setAutomine", False)  # queue them into the block mined at `at`, not one each now
        try:
            hashes = _send(
                rpc, owner, list(transactions), int(rpc.call("eth_getTransactionCount", owner, "pending"), 16)
            )
            rpc.call("evm_mine", at)
        finally:
            rpc.call("evm_setAutomine", True)
        _receipts(rpc, hashes, "live")
    else:
        rpc.call("evm_mine", at)
    rpc.batch(_storage_writes(rounds))


def _deploy(
    rpc: Rpc, owner: str, nonce: int, plans: dict[Feed, list[SimPhase]], deployed_at: int
) -> dict[tuple[str, int], Aggregator]:
    """Mine the blocks ending at `deployed_at`: every phase's aggregator (DEPLOYS_PER_BLOCK to a
    block, a second apart: a block's gas limit holds a dozen), the proxies and Multicall3."""
    artifacts = contracts.build()
    deployments = [(feed, phase) for feed, feed_phases in plans.items() for phase in feed_phases]
    blocks = math.ceil(len(deployments) / DEPLOYS_PER_BLOCK)
    receipts = []
    for i in range(blocks):
        chunk = deployments[i * DEPLOYS_PER_BLOCK : (i + 1) * DEPLOYS_PER_BLOCK]
        data = [(None, _constructor(f, p.kind)) for f, p in chunk]
        hashes = _send(rpc, owner, data, nonce + i * DEPLOYS_PER_BLOCK)
        rpc.call("evm_mine", deployed_at - (blocks - 1 - i))
        receipts += _receipts(rpc, hashes, "deployment")
    aggregators = {}
    for (feed, phase), receipt in zip(deployments, receipts, strict=True):
        name = "FluxAggregator" if phase.kind == "flux" else "OcrStyleAggregator"
        address = Web3.to_checksum_address(receipt["contractAddress"])
        aggregators[feed.pair, phase.phase] = Aggregator(address, phase.kind, StorageLayout(artifacts[name]))
    # The proxy's constructor cannot run at a fixed address: its code is put there, then its owner.
    codes = [("anvil_setCode", [MULTICALL3_ADDRESS, artifacts["Multicall3"]["deployedBytecode"]])]
    codes += [("anvil_setCode", [f.proxy, artifacts["EACAggregatorProxy"]["deployedBytecode"]]) for f in plans]
    rpc.batch(codes)
    owner_slot = hex(StorageLayout(artifacts["EACAggregatorProxy"]).slot("owner"))
    rpc.batch([("anvil_setStorageAt", [f.proxy, owner_slot, word(int(owner, 16))]) for f in plans])
    headers = rpc.batch([("eth_getStorageAt", [a.address, hex(a.header_slot), "latest"]) for a in aggregators.values()])
    for aggregator, header in zip(aggregators.values(), headers, strict=True):
        aggregator.header = int(header, 16)
    return aggregators


def _schedule(plans: dict[Feed, list[SimPhase]], aggregators: dict[tuple[str, int], Aggregator]) -> dict[int, _Block]:
    """Every round and phase switch of every feed, grouped into blocks by timestamp."""
    blocks: dict[int, _Block] = defaultdict(_Block)
    for feed, feed_phases in plans.items():
        for phase in feed_phases:
            aggregator = aggregators[feed.pair, phase.phase]
            blocks[phase.activated_at].transactions += [
                (feed.proxy, CHAINLINK.encode("EACAggregatorProxy", "proposeAggregator", aggregator.address)),
                (feed.proxy, CHAINLINK.encode("EACAggregatorProxy", "confirmAggregator", aggregator.address)),
            ]
            for r in phase.rounds:
                blocks[r.updated_at].rounds[aggregator.address].append(r)
    return blocks


def _constructor(feed: Feed, kind: str) -> str:
    """The deployment data of a phase's aggregator."""
    if kind == "flux":
        args = [ZERO_ADDRESS, 0, FLUX_TIMEOUT, ZERO_ADDRESS, *FLUX_SUBMISSION_RANGE, feed.decimals, feed.description]
        return CHAINLINK.constructor("FluxAggregator", *args)
    return CHAINLINK.constructor("OcrStyleAggregator", feed.decimals, feed.description)
