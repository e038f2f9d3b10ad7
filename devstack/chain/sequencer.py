"""Arbitrum's L2 sequencer uptime feed on the local node: Chainlink's own contracts, updated as Arbitrum delivers.

On Arbitrum One, Chainlink's validator on Ethereum sends `updateStatus(status, timestamp)` through
Arbitrum's inbox whenever the sequencer's status changes (timestamp: the L1 block's); the message
arrives on L2 from the validator's address plus Arbitrum's alias offset. The feed records a round
per change (answer 1 = down, 0 = up) and raises or lowers its flag on `Flags`; consumers read it
through an EACAggregatorProxy. In @chainlink/contracts 1.5.0 a round keeps one time, so
`startedAt` and `updatedAt` both answer that L1 timestamp.

Here, as Chainlink deploys it: a SimpleWriteAccessController (raising and lowering the flag),
`Flags` over it, the feed with L1_SENDER as its validator (given access to raise, lower and read
the flag, then initialized: round 1, up, at that block's time), and Chainlink's 0.6
EACAggregatorProxy in front, given read access on the feed. A status change is the L1 message
itself: updateStatus sent from the aliased L1 sender, which the node impersonates. The stack's
history (devstack.chain.stack_history) deploys the feed with the L1 sender whose alias is the node's
own first account, so its scripted changes are transactions of the replay's schedule like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_utils import keccak, to_checksum_address
from web3 import Web3

from chainlink_feeds.abi import ZERO_ADDRESS
from chainlink_feeds.rounds import proxy_round_id
from devstack.chain import contracts
from devstack.chain.contracts import CHAINLINK
from devstack.chain.replay import head_timestamp, node_account
from devstack.chain.rpc import ChainError, Rpc
from devstack.chain.storage import StorageLayout, word
from devstack.chain.transactions import send

# Stands for Chainlink's ArbitrumValidator on Ethereum: only its aliased address may update the feed.
L1_SENDER = to_checksum_address(keccak(b"devstack.chain.sequencer.L1Sender")[12:])
L1_TO_L2_ALIAS_OFFSET = 0x1111000000000000000000000000000000001111  # Arbitrum's AddressAliasHelper
ALIAS_GAS_BALANCE = 10**18  # wei the aliased sender holds to pay for its update
UPDATE_IGNORED = "0x" + keccak(text="UpdateIgnored(bool,uint64,bool,uint64)").hex()


class StatusUpdateIgnoredError(ChainError):
    """The feed ignored an update: the status did not change, or the timestamp is older than its latest."""


@dataclass(frozen=True)
class Sequencer:
    """The deployed feed's addresses."""

    flags: str
    feed: str  # the ArbitrumSequencerUptimeFeed
    proxy: str  # the EACAggregatorProxy consumers read
    l1_sender: str = L1_SENDER  # the L1 contract whose (aliased) messages update the feed


@dataclass(frozen=True)
class UptimeRound:
    """One round as the proxy serves it: round ids are phase << 64 | the feed's round."""

    round_id: int
    answer: int  # 1 = down, 0 = up
    started_at: int  # when the status changed (the L1 timestamp)
    updated_at: int

    @property
    def down(self) -> bool:
        return self.answer == 1


def aliased(l1_address: str) -> str:
    """The address an L1 contract's messages come from on Arbitrum."""
    return to_checksum_address(((int(l1_address, 16) + L1_TO_L2_ALIAS_OFFSET) % 2**160).to_bytes(20, "big"))


def unaliased(l2_address: str) -> str:
    """The L1 address whose messages arrive on Arbitrum from `l2_address`."""
    return to_checksum_address(((int(l2_address, 16) - L1_TO_L2_ALIAS_OFFSET) % 2**160).to_bytes(20, "big"))


def deploy(rpc: Rpc, proxy_at: str | None = None, l1_sender: str = L1_SENDER) -> Sequencer:
    """Deploy the feed (owned by the node's first account, status up, updated by `l1_sender`'s alias)
    behind a proxy: a new one, or one at `proxy_at` (e.g. mainnet's), put there with anvil_setCode as
    the stack puts its feeds' proxies."""
    if proxy_at and rpc.call("eth_getCode", proxy_at, "latest") != "0x":
        raise ChainError(f"{proxy_at} already holds code: a sequencer proxy goes to an empty address")
    owner = node_account(rpc)
    controller = CHAINLINK.deploy(rpc, owner, "SimpleWriteAccessController")
    flags = CHAINLINK.deploy(rpc, owner, "Flags", controller, controller)
    feed = CHAINLINK.deploy(rpc, owner, "ArbitrumSequencerUptimeFeed", flags, l1_sender)
    send(
        rpc,
        owner,
        [
            (controller, CHAINLINK.encode("SimpleWriteAccessController", "addAccess", feed)),
            (flags, CHAINLINK.encode("Flags", "addAccess", feed)),  # initialize() reads the flag
            (feed, CHAINLINK.encode("ArbitrumSequencerUptimeFeed", "initialize")),
        ],
    )
    proxy = (
        _proxy_at(rpc, owner, feed, proxy_at)
        if proxy_at
        else CHAINLINK.deploy(rpc, owner, "EACAggregatorProxy", feed, ZERO_ADDRESS)
    )
    send(rpc, owner, [(feed, CHAINLINK.encode("ArbitrumSequencerUptimeFeed", "addAccess", proxy))])
    return Sequencer(flags=flags, feed=feed, proxy=proxy, l1_sender=to_checksum_address(l1_sender))


def behind(rpc: Rpc, proxy: str) -> Sequencer:
    """The sequencer feed a deployed proxy serves (its current aggregator), with its flags and L1 sender."""
    proxy = to_checksum_address(proxy)
    feed = CHAINLINK.read(rpc, proxy, "EACAggregatorProxy", "aggregator")
    flags = CHAINLINK.read(rpc, feed, "ArbitrumSequencerUptimeFeed", "FLAGS")
    return Sequencer(flags, feed, proxy, CHAINLINK.read(rpc, feed, "ArbitrumSequencerUptimeFeed", "l1Sender"))


def status_update(sequencer: Sequencer, down: bool, at: int) -> tuple[str, str]:
    """The (to, data) of the L1 message that sets the status at L1 time `at`, sent from the alias."""
    return sequencer.feed, CHAINLINK.encode("ArbitrumSequencerUptimeFeed", "updateStatus", down, at)


def _proxy_at(rpc: Rpc, owner: str, feed: str, address: str) -> str:
    """The proxy's constructor cannot run at a fixed address: its code is put there, then its owner,
    who proposes and confirms the feed (phase 1), as devstack.chain.replay installs mainnet's proxies."""
    address = to_checksum_address(address)
    artifact = contracts.build()["EACAggregatorProxy"]
    rpc.call("anvil_setCode", address, artifact["deployedBytecode"])
    rpc.call("anvil_setStorageAt", address, hex(StorageLayout(artifact).slot("owner")), word(int(owner, 16)))
    send(
        rpc,
        owner,
        [
            (address, CHAINLINK.encode("EACAggregatorProxy", "proposeAggregator", feed)),
            (address, CHAINLINK.encode("EACAggregatorProxy", "confirmAggregator", feed)),
        ],
    )
    return address


def set_status(rpc: Rpc, sequencer: Sequencer, down: bool, at: int | None = None) -> None:
    """Deliver a status change as Arbitrum does: updateStatus(down, at) from the aliased L1 sender, `at`
    being the L1 time of the change (default: the node's latest block time).

    StatusUpdateIgnoredError if the feed ignored it (same status as its latest, or older than it).
    """
    sender = aliased(sequencer.l1_sender)
    at = head_timestamp(rpc) if at is None else at
    try:
        rpc.call("anvil_setBalance", sender, hex(ALIAS_GAS_BALANCE))
        rpc.call("anvil_impersonateAccount", sender)
    except ChainError as exc:
        raise ChainError(f"the node at {rpc.url} cannot send as the L1 sender's alias {sender}: {exc}") from exc
    try:
        (receipt,) = send(rpc, sender, [status_update(sequencer, down, at)])
    finally:
        rpc.call("anvil_stopImpersonatingAccount", sender)
    for log in receipt["logs"]:
        if log["topics"][0] == UPDATE_IGNORED:
            latest, since, _, _ = Web3().codec.decode(
                ["bool", "uint64", "bool", "uint64"], bytes.fromhex(log["data"][2:])
            )
            state = "down" if latest else "up"
            raise StatusUpdateIgnoredError(
                f"the feed ignored {'down' if down else 'up'} at {_utc(at)}: it is {state} since {_utc(since)} "
                "(a change must differ from the latest status and not be older)"
            )


def _utc(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def status(rpc: Rpc, proxy: str) -> UptimeRound:
    """The latest round the proxy serves."""
    round_id, answer, started_at, updated_at, _ = _proxy(rpc, proxy).functions.latestRoundData().call()
    return UptimeRound(round_id, answer, started_at, updated_at)


def round_at(rpc: Rpc, sequencer: Sequencer, feed_round: int) -> UptimeRound:
    """The feed's round `feed_round` (1: its initial status) as the proxy serves it in its first
    phase; ContractLogicError if there is no such round."""
    round_id = proxy_round_id(1, feed_round)
    _, answer, started_at, updated_at, _ = _proxy(rpc, sequencer.proxy).functions.getRoundData(round_id).call()
    return UptimeRound(round_id, answer, started_at, updated_at)


def _proxy(rpc: Rpc, proxy: str) -> Any:
    return rpc.web3().eth.contract(to_checksum_address(proxy), abi=contracts.build()["EACAggregatorProxy"]["abi"])
