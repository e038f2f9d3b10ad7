"""The local Ethereum node: Foundry's anvil with Chainlink's 0.6 proxy and aggregators, and Multicall3.

The node answers as Ethereum mainnet does for the pipeline: chain id 1, each registry feed's
`EACAggregatorProxy` at its mainnet address (installed with `anvil_setCode`), Multicall3 at its
canonical address, and blocks that carry the history's own timestamps (the genesis is dated
2020-01-01, so recorded 2021 mainnet rounds fit too). Behind each proxy sits one aggregator per
phase: a FluxAggregator, then an OcrStyleAggregator.

A round is written into its aggregator's storage (laid out as solc's `storageLayout` says) in the
block mined at the round's `updatedAt`, and a phase starts with a real `confirmAggregator`
transaction in the block mined at its activation time, so reads at historical blocks see what
mainnet would have shown then. Anvil records a block's state when the *next* block is mined,
including `anvil_setStorageAt` writes made in between: so each block is mined first and its
writes follow. Anvil may run the calls of one JSON-RPC batch concurrently, so a batch never holds
calls whose order matters.

Anvil snapshots the whole state (every account, slot and block hash) for every block, in memory
for the latest few hundred blocks and on disk (`states_dir`, removed when the node stops) for the
rest: about 3.5 GB for the simulated history's ~5,400 blocks. Its default fork (`prague`) adds
system-contract storage to every block, which makes each snapshot bigger and the replay slower,
so the node runs `shanghai`. The snapshots are also why historical states do not survive a
restart: `--preserve-historical-states` writes all of them into the state file (3.7 GB in 44 s,
61 s to load back), while replaying takes about 50 s, so after a restart `ensure_history` replays.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from eth_utils import keccak
from web3 import Web3
from web3.exceptions import ContractLogicError

from chainlink_feeds.registry import Feed
from devstack import contracts, history, processes
from devstack.settings import AIRFLOW_HOME, ANVIL_CHAIN_ID, ANVIL_HOST, ANVIL_PORT, ANVIL_URL, NODE_BIN, STACK_DIR

log = logging.getLogger(__name__)

MULTICALL3_ADDRESS = "0xcA11bde05977b3631167028862bE2a173976CA11"
STATE_FILE = STACK_DIR / "anvil" / "state.json"
HISTORY_FILE = STACK_DIR / "history.json"
REPLAY_LOCK = STACK_DIR / "anvil" / "replay.lock"
GENESIS_TIMESTAMP = 1577836800  # 2020-01-01 00:00 UTC, before any history the node replays
HARDFORK = contracts.NODE_EVM_VERSION
MAX_PERSISTED_STATES = 1_000_000  # keep every block's state (anvil's default drops all but ~4,100)
DEPLOY_LEAD_SECONDS = 3600  # the stack's contracts are deployed this long before its history starts
TX_GAS = 6_000_000
# FluxAggregator constructor settings: no LINK, no payment, no validator, mainnet's 0.6 timeout.
FLUX_TIMEOUT = 604_800
FLUX_SUBMISSION_RANGE = (1, 2**255 - 1)
_ZERO_ADDRESS = "0x" + "0" * 40


class ChainError(RuntimeError):
    """The local node is missing, unreachable or holds something unexpected."""


class Rpc:
    """A minimal JSON-RPC client for the local node, with batches (whose calls may run in any order)."""

    def __init__(self, url: str = ANVIL_URL) -> None:
        self.url = url
        self.session = requests.Session()
        self._next_id = 0

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        if not calls:
            return []
        payload = []
        for method, params in calls:
            self._next_id += 1
            payload.append({"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params})
        response = self.session.post(self.url, json=payload, timeout=120)
        response.raise_for_status()
        answers = sorted(response.json(), key=lambda a: a["id"])
        errors = [a["error"] for a in answers if "error" in a]
        if errors:
            raise ChainError(f"{len(errors)} of {len(calls)} calls failed, first: {errors[0]}")
        return [a["result"] for a in answers]

    def call(self, method: str, *params: Any) -> Any:
        return self.batch([(method, list(params))])[0]


def node_argv(
    port: int,
    chain_id: int,
    state_file: Path | None = None,
    prune_history: bool = False,
    preserve_history: bool = False,
    states_dir: Path | None = None,
) -> list[str]:
    """anvil's command line: genesis dated GENESIS_TIMESTAMP, every historical state kept (in
    `states_dir` beyond the few hundred anvil holds in memory) unless `prune_history` (a node that
    answers the latest state only), state saved to `state_file`, with every block's state too if
    `preserve_history` (affordable for a small test history only)."""
    argv = [
        str(NODE_BIN / "anvil"), "--host", ANVIL_HOST, "--port", str(port), "--chain-id", str(chain_id),
        "--timestamp", str(GENESIS_TIMESTAMP), "--hardfork", HARDFORK,
    ]  # fmt: skip
    argv += ["--prune-history"] if prune_history else ["--max-persisted-states", str(MAX_PERSISTED_STATES)]
    if states_dir:
        argv += ["--cache-path", str(states_dir)]
    if state_file:
        argv += ["--state", str(state_file), "--state-interval", "30"]
    if preserve_history:
        argv += ["--preserve-historical-states"]
    return argv


def start_node(
    name: str = "anvil",
    port: int = ANVIL_PORT,
    chain_id: int = ANVIL_CHAIN_ID,
    persist: bool = True,
    prune_history: bool = False,
    state_file: Path = STATE_FILE,
    preserve_history: bool = False,
) -> bool:
    """Start anvil unless it runs (state kept in `state_file` when `persist`). True if it was started."""
    if not (NODE_BIN / "anvil").exists():
        raise ChainError(f"{NODE_BIN / 'anvil'} is missing: run `npm ci` first")
    if persist:
        state_file.parent.mkdir(parents=True, exist_ok=True)
    states = states_dir(name)
    if processes.pid_of(name) is None:
        shutil.rmtree(states, ignore_errors=True)  # a previous run's states: its blocks are gone
    argv = node_argv(port, chain_id, state_file if persist else None, prune_history, preserve_history, states)
    return processes.start(name, argv, ANVIL_HOST, port)


def states_dir(name: str) -> Path:
    """Where a node keeps its historical states on disk: anvil does not remove them when it stops."""
    return STACK_DIR / "anvil" / f"{name}-states"


def stop_node(name: str = "anvil", timeout: float = 60) -> bool:
    """Stop anvil, wait until it has saved its state and exited, and remove its historical states.
    True if it ran.

    npm's `anvil` is a Node wrapper that exits at once while the real binary (in the same process
    group) still writes the state file, so the whole group is waited for.
    """
    group = processes.pid_of(name)
    if not processes.stop(name):
        return False
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            break
        if time.monotonic() > deadline:
            raise ChainError(f"anvil {name} (process group {group}) still runs {timeout:.0f}s after it was stopped")
        time.sleep(0.1)
    shutil.rmtree(states_dir(name), ignore_errors=True)
    return True


def _word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def _owner(rpc: Rpc) -> str:
    return Web3.to_checksum_address(rpc.call("eth_accounts")[0])


class StorageLayout:
    """Where solc put a contract's state variables (its `storageLayout` output)."""

    def __init__(self, artifact: dict) -> None:
        self.variables = {v["label"]: v for v in artifact["storageLayout"]["storage"]}
        self.types = artifact["storageLayout"]["types"]

    def slot(self, label: str) -> int:
        return int(self.variables[label]["slot"])

    def field(self, label: str) -> tuple[int, int, int]:
        """(slot, byte offset, size in bytes) of a state variable."""
        v = self.variables[label]
        return int(v["slot"]), v["offset"], int(self.types[v["type"]]["numberOfBytes"])

    def mapping_entry(self, label: str, key: int, values: dict[str, int]) -> dict[int, int]:
        """The storage words of `mapping[key] = struct(values)` (a mapping with a value-type key)."""
        base = int.from_bytes(keccak(key.to_bytes(32, "big") + self.slot(label).to_bytes(32, "big")), "big")
        struct = self.types[self.types[self.variables[label]["type"]]["value"]]
        words: dict[int, int] = defaultdict(int)
        for member in struct["members"]:
            size = int(self.types[member["type"]]["numberOfBytes"])
            words[base + int(member["slot"])] = pack(
                words[base + int(member["slot"])], member["offset"], size, values[member["label"]]
            )
        return dict(words)


def pack(word: int, offset: int, size: int, value: int) -> int:
    """Put `value` (two's complement if negative) into bytes [offset, offset+size) of a storage word."""
    mask = (1 << (8 * size)) - 1
    if not -(1 << (8 * size - 1)) <= value <= mask:
        raise ChainError(f"{value} does not fit in {size} bytes")
    return (word & ~(mask << (8 * offset))) | ((value & mask) << (8 * offset))


@dataclass
class Aggregator:
    """One deployed aggregator and the storage writes that hold its rounds."""

    address: str
    kind: str
    layout: StorageLayout
    header: int = 0  # the word holding the latest round id (read after deployment)
    header_slot: int = field(init=False)

    def __post_init__(self) -> None:
        self.header_slot = self.layout.slot("latestRoundId" if self.kind == "flux" else "latestAggregatorRoundId")

    def writes(self, rounds: list[history.SimRound]) -> dict[int, int]:
        """The words to write for rounds updated in one block, as the aggregator itself stores them."""
        words: dict[int, int] = {}
        for r in rounds:
            if self.kind == "flux":
                if not 1 <= r.answered_in_round <= r.aggregator_round:
                    raise ChainError(f"{r}: a Flux round's answered_in_round must be in 1..its round")
                entry = {
                    "answer": r.answer,
                    "startedAt": r.started_at,
                    "updatedAt": r.updated_at,
                    "answeredInRound": r.answered_in_round,
                }
                words |= self.layout.mapping_entry("rounds", r.aggregator_round, entry)
                # A timed-out round never becomes the latest: Flux only advances latestRoundId on an answer.
                _, offset, size = self.layout.field("reportingRoundId")
                self.header = pack(self.header, offset, size, r.aggregator_round)
                if not r.is_timed_out:
                    _, offset, size = self.layout.field("latestRoundId")
                    self.header = pack(self.header, offset, size, r.aggregator_round)
            else:
                if r.started_at != r.updated_at or r.is_timed_out:
                    raise ChainError(
                        f"{r}: an OCR round needs started_at == updated_at and answered_in_round == its round"
                    )
                entry = {"answer": r.answer, "timestamp": r.updated_at}
                words |= self.layout.mapping_entry("s_transmissions", r.aggregator_round, entry)
                _, offset, size = self.layout.field("latestAggregatorRoundId")
                self.header = pack(self.header, offset, size, r.aggregator_round)
        words[self.header_slot] = self.header
        return words


@dataclass
class _Block:
    """What happens in the block mined at one timestamp: transactions, then storage writes."""

    transactions: list[tuple[str | None, str]] = field(default_factory=list)  # (to, data)
    rounds: dict[str, list[history.SimRound]] = field(default_factory=lambda: defaultdict(list))  # by aggregator


def _check_plan(feed: Feed, feed_phases: list[history.SimPhase], deployed_at: int) -> None:
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


def replay_phases(rpc: Rpc, feed: Feed, feed_phases: list[history.SimPhase], *, deployed_at: int) -> None:
    """Install the feed's proxy and aggregators and mine its rounds and phase switches at their times."""
    replay_many(rpc, {feed: feed_phases}, deployed_at=deployed_at)


def replay_many(rpc: Rpc, plans: dict[Feed, list[history.SimPhase]], *, deployed_at: int) -> None:
    """Replay several feeds onto one node, all events merged in time order.

    In a block at `deployed_at`: one aggregator per phase (FluxAggregator or OcrStyleAggregator,
    with the feed's decimals and description), Chainlink's EACAggregatorProxy at each feed's proxy
    address (owned by the node's first account, reads open) and Multicall3. Then a block at every
    round's updatedAt holding its storage, and a block at every phase's activation holding the
    proxy's proposeAggregator and confirmAggregator. The node's latest block must be older than
    `deployed_at`; automine is back on afterwards.
    """
    for feed, feed_phases in plans.items():
        _check_plan(feed, feed_phases, deployed_at)
    head = int(rpc.call("eth_getBlockByNumber", "latest", False)["timestamp"], 16)
    if head >= deployed_at:
        raise ChainError(f"the node's latest block is at {head}, not before deployed_at {deployed_at}: reset it")
    owner = _owner(rpc)
    rpc.call("evm_setAutomine", False)
    try:
        nonce = int(rpc.call("eth_getTransactionCount", owner, "pending"), 16)
        aggregators = _deploy(rpc, owner, nonce, plans, deployed_at)
        nonce += len(aggregators)
        by_address = {a.address: a for a in aggregators.values()}
        blocks = _schedule(plans, aggregators)
        for at in sorted(blocks):
            block = blocks[at]
            hashes = _send(rpc, owner, block.transactions, nonce)
            nonce += len(hashes)
            rpc.call("evm_mine", at)  # first the block, then its writes: they become its state
            if hashes:
                _receipts(rpc, hashes, "proxy phase switch")
            rpc.batch(_storage_writes([(by_address[address], rounds) for address, rounds in block.rounds.items()]))
    finally:
        rpc.call("evm_setAutomine", True)


def _storage_writes(rounds: list[tuple[Aggregator, list[history.SimRound]]]) -> list[tuple[str, list[Any]]]:
    """The anvil_setStorageAt calls that put each aggregator's rounds of one block into its storage."""
    return [
        ("anvil_setStorageAt", [aggregator.address, hex(slot), _word(word)])
        for aggregator, block_rounds in rounds
        for slot, word in aggregator.writes(block_rounds).items()
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


def mine_rounds(rpc: Rpc, at: int, rounds: list[tuple[Aggregator, list[history.SimRound]]]) -> None:
    """Mine a block at `at` holding these rounds (each updated at `at`).

    The block comes first and its storage writes follow, as in the replay. A block older than the
    node's latest is refused: blocks stay in time order.
    """
    head = head_timestamp(rpc)
    if at < head:
        raise ChainError(f"a block at {at} would be older than the node's latest block ({head})")
    stray = [r for _, block_rounds in rounds for r in block_rounds if r.updated_at != at]
    if stray:
        raise ChainError(f"{stray[0]} is not updated at the block's time {at}")
    rpc.call("evm_mine", at)
    rpc.batch(_storage_writes(rounds))


def _deploy(
    rpc: Rpc, owner: str, nonce: int, plans: dict[Feed, list[history.SimPhase]], deployed_at: int
) -> dict[tuple[str, int], Aggregator]:
    """Mine the block at `deployed_at`: every phase's aggregator, the proxies and Multicall3."""
    artifacts = contracts.build()
    deployments = [(feed, phase) for feed, feed_phases in plans.items() for phase in feed_phases]
    hashes = _send(rpc, owner, [(None, _constructor(artifacts, f, p.kind)) for f, p in deployments], nonce)
    rpc.call("evm_mine", deployed_at)
    aggregators = {}
    for (feed, phase), receipt in zip(deployments, _receipts(rpc, hashes, "deployment"), strict=True):
        name = "FluxAggregator" if phase.kind == "flux" else "OcrStyleAggregator"
        address = Web3.to_checksum_address(receipt["contractAddress"])
        aggregators[feed.pair, phase.phase] = Aggregator(address, phase.kind, StorageLayout(artifacts[name]))
    # The proxy's constructor cannot run at a fixed address: its code is put there, then its owner.
    codes = [("anvil_setCode", [MULTICALL3_ADDRESS, artifacts["Multicall3"]["deployedBytecode"]])]
    codes += [("anvil_setCode", [f.proxy, artifacts["EACAggregatorProxy"]["deployedBytecode"]]) for f in plans]
    rpc.batch(codes)
    owner_slot = hex(StorageLayout(artifacts["EACAggregatorProxy"]).slot("owner"))
    rpc.batch([("anvil_setStorageAt", [f.proxy, owner_slot, _word(int(owner, 16))]) for f in plans])
    headers = rpc.batch([("eth_getStorageAt", [a.address, hex(a.header_slot), "latest"]) for a in aggregators.values()])
    for aggregator, word in zip(aggregators.values(), headers, strict=True):
        aggregator.header = int(word, 16)
    return aggregators


def _schedule(
    plans: dict[Feed, list[history.SimPhase]], aggregators: dict[tuple[str, int], Aggregator]
) -> dict[int, _Block]:
    """Every round and phase switch of every feed, grouped into blocks by timestamp."""
    proxy = Web3().eth.contract(abi=contracts.build()["EACAggregatorProxy"]["abi"])
    blocks: dict[int, _Block] = defaultdict(_Block)
    for feed, feed_phases in plans.items():
        for phase in feed_phases:
            aggregator = aggregators[feed.pair, phase.phase]
            blocks[phase.activated_at].transactions += [
                (feed.proxy, proxy.encode_abi("proposeAggregator", args=[aggregator.address])),
                (feed.proxy, proxy.encode_abi("confirmAggregator", args=[aggregator.address])),
            ]
            for r in phase.rounds:
                blocks[r.updated_at].rounds[aggregator.address].append(r)
    return blocks


def _constructor(artifacts: dict[str, dict], feed: Feed, kind: str) -> str:
    """The deployment data of a phase's aggregator."""
    if kind == "flux":
        artifact = artifacts["FluxAggregator"]
        args = [_ZERO_ADDRESS, 0, FLUX_TIMEOUT, _ZERO_ADDRESS, *FLUX_SUBMISSION_RANGE, feed.decimals, feed.description]
    else:
        artifact = artifacts["OcrStyleAggregator"]
        args = [feed.decimals, feed.description]
    contract = Web3().eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    return contract.constructor(*args).data_in_transaction


def replay(feeds: list[Feed], scenario: history.Scenario, rpc: Rpc | None = None) -> dict[str, int]:
    """Write the simulated history of every feed onto the node; return rounds written per pair.

    Ends with a block at the history's end unless a round landed later: the oracle (devstack.oracle)
    publishes the market from there to now, in blocks that must not be older than the latest.
    """
    rpc = rpc or Rpc()
    plans = {feed: history.phases(feed, scenario) for feed in feeds}
    replay_many(rpc, plans, deployed_at=int(scenario.start.timestamp()) - DEPLOY_LEAD_SECONDS)
    if head_timestamp(rpc) < scenario.end.timestamp():
        rpc.call("evm_mine", int(scenario.end.timestamp()))
    for feed, feed_phases in plans.items():
        log.info("replayed %s rounds of %s (%s)", sum(len(p.rounds) for p in feed_phases), feed.pair, history.LABEL)
    return {feed.pair: sum(len(p.rounds) for p in feed_phases) for feed, feed_phases in plans.items()}


def fingerprint(feeds: list[Feed], sc: history.Scenario) -> str:
    """A digest of every simulated phase and round and of the node's set-up, so a change is replayed."""
    digest = hashlib.sha256(repr((GENESIS_TIMESTAMP, HARDFORK, DEPLOY_LEAD_SECONDS)).encode())
    artifacts = contracts.build()
    for name in ("EACAggregatorProxy", "FluxAggregator", "OcrStyleAggregator", "Multicall3"):
        digest.update(artifacts[name]["deployedBytecode"].encode())
    for feed in feeds:
        digest.update(repr((feed, history.phases(feed, sc))).encode())
    return digest.hexdigest()


def history_matches(feeds: list[Feed], scenario: history.Scenario, rpc: Rpc | None = None) -> bool:
    """True if the node holds this exact history: same fingerprint replayed, each feed's last served
    round on chain in the phase the proxy serves (the oracle may have published later ones), and
    its historical states (lost when anvil restarts) still there."""
    rpc = rpc or Rpc()
    replayed = json.loads(HISTORY_FILE.read_text()).get("fingerprint") if HISTORY_FILE.exists() else None
    if replayed != fingerprint(feeds, scenario):
        return False
    abi = contracts.build()["EACAggregatorProxy"]["abi"]
    w3 = Web3(Web3.HTTPProvider(rpc.url))
    for feed in feeds:
        if w3.eth.get_code(feed.proxy) in (b"", None):
            return False
        proxy = w3.eth.contract(feed.proxy, abi=abi)
        last = history.served(history.phases(feed, scenario))[-1].round
        try:
            round_id, answer, _, updated_at, _ = proxy.functions.getRoundData(last.round_id).call()
            latest_id = proxy.functions.latestRoundData().call()[0]
        except ContractLogicError:  # another history: that round (or phase) is not there
            return False
        if (round_id, answer, updated_at) != (last.round_id, last.answer, last.updated_at):
            return False
        if latest_id >> 64 != last.phase or latest_id < last.round_id:
            return False
    try:  # block 1 holds the deployments: anvil answers it only while it keeps historical states
        rpc.call("eth_getStorageAt", feeds[0].proxy, "0x0", "0x1")
    except ChainError:
        log.info("the node lost its historical states (restarted): replaying")
        return False
    return True


def scenario() -> history.Scenario:
    """The history this stack holds: its end date is fixed the first time the stack starts."""
    if HISTORY_FILE.exists():
        end = datetime.fromisoformat(json.loads(HISTORY_FILE.read_text())["end"])
    else:
        now = datetime.now(UTC)
        end = now.replace(hour=0, minute=0, second=0, microsecond=0)
        HISTORY_FILE.parent.mkdir(parents=True, exist_ok=True)
        HISTORY_FILE.write_text(json.dumps({"end": end.isoformat(), "label": history.LABEL}))
    return history.Scenario(end)


def ensure_history(feeds: list[Feed], rpc: Rpc | None = None, sc: history.Scenario | None = None) -> dict[str, int]:
    """Replay the history unless the node already holds it, historical states included.

    Callers take turns (a file lock): two test sessions starting together must not replay at once.
    """
    rpc = rpc or Rpc()
    chain_id = int(rpc.call("eth_chainId"), 16)
    if chain_id != ANVIL_CHAIN_ID:
        raise ChainError(f"{rpc.url} answers chain id {chain_id}, expected the local stack's {ANVIL_CHAIN_ID}")
    REPLAY_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with REPLAY_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sc = sc or scenario()
        if history_matches(feeds, sc, rpc):
            return {}
        rpc.call("anvil_reset")
        written = replay(feeds, sc, rpc)
        if rpc.url == ANVIL_URL:
            # The new history's aggregators sit at the same addresses as the old one's (same deployer
            # and nonces), so the project-local Airflow's cached phase switches would be wrong.
            (AIRFLOW_HOME / "cache" / "chainlink_phases.json").unlink(missing_ok=True)
            HISTORY_FILE.write_text(
                json.dumps({"end": sc.end.isoformat(), "label": history.LABEL, "fingerprint": fingerprint(feeds, sc)})
            )
        return written


def airflow_connection_uri() -> str:
    """The Chainlink RPC connection for AIRFLOW_CONN_CHAINLINK_ETHEREUM, in Airflow's JSON form."""
    return json.dumps({"conn_type": "chainlink", "host": ANVIL_URL, "extra": {"timeout": 30, "batch_size": 200}})
