"""The local Ethereum node: Foundry's anvil with Chainlink's proxy, aggregators and Multicall3.

The node answers as Ethereum mainnet does for the pipeline: chain id 1, each registry feed's
proxy at its mainnet address (installed with `anvil_setCode`), Multicall3 at its canonical
address. Behind each proxy sit MockV3Aggregators holding the simulated history (devstack.history).
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from typing import Any

import requests
from web3 import Web3

from chainlink_feeds.registry import Feed
from devstack import contracts, history, processes
from devstack.settings import ANVIL_CHAIN_ID, ANVIL_HOST, ANVIL_PORT, ANVIL_URL, NODE_BIN, STACK_DIR

log = logging.getLogger(__name__)

MULTICALL3_ADDRESS = "0xcA11bde05977b3631167028862bE2a173976CA11"
STATE_FILE = STACK_DIR / "anvil" / "state.json"
HISTORY_FILE = STACK_DIR / "history.json"
WRITE_CHUNK = 200  # transactions per mined block while replaying
WRITE_GAS = 150_000


class ChainError(RuntimeError):
    """The local node is missing, unreachable or holds something unexpected."""


class Rpc:
    """A minimal JSON-RPC client for the local node, with batches."""

    def __init__(self, url: str = ANVIL_URL) -> None:
        self.url = url
        self.session = requests.Session()
        self._next_id = 0

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
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


def start_node(
    name: str = "anvil", port: int = ANVIL_PORT, chain_id: int = ANVIL_CHAIN_ID, persist: bool = True
) -> bool:
    """Start anvil unless it runs (state kept in .stack/anvil when `persist`). True if it was started."""
    if not (NODE_BIN / "anvil").exists():
        raise ChainError(f"{NODE_BIN / 'anvil'} is missing: run `npm ci` first")
    argv = [str(NODE_BIN / "anvil"), "--host", ANVIL_HOST, "--port", str(port), "--chain-id", str(chain_id)]
    if persist:
        STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
        argv += ["--state", str(STATE_FILE), "--state-interval", "30"]
    return processes.start(name, argv, ANVIL_HOST, port)


def stop_node(name: str = "anvil") -> bool:
    return processes.stop(name)


def _deploy(rpc: Rpc, sender: str, artifact: dict, *args: Any) -> str:
    data = (
        Web3().eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"]).constructor(*args).data_in_transaction
    )
    tx = rpc.call("eth_sendTransaction", {"from": sender, "data": data, "gas": hex(5_000_000)})
    rpc.call("evm_mine")
    receipt = rpc.call("eth_getTransactionReceipt", tx)
    if receipt is None or receipt["status"] != "0x1":
        raise ChainError(f"deployment failed: {receipt}")
    return Web3.to_checksum_address(receipt["contractAddress"])


def _send_all(rpc: Rpc, sender: str, calls: list[tuple[str, str]]) -> None:
    """Send (to, data) transactions in mined chunks and check every receipt."""
    nonce = int(rpc.call("eth_getTransactionCount", sender, "pending"), 16)
    for i in range(0, len(calls), WRITE_CHUNK):
        chunk = calls[i : i + WRITE_CHUNK]
        hashes = rpc.batch(
            [
                (
                    "eth_sendTransaction",
                    [{"from": sender, "to": to, "data": data, "gas": hex(WRITE_GAS), "nonce": hex(nonce + n)}],
                )
                for n, (to, data) in enumerate(chunk)
            ]
        )
        nonce += len(chunk)
        rpc.call("evm_mine")
        receipts = rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
        failed = [r for r in receipts if r is None or r["status"] != "0x1"]
        if failed:
            raise ChainError(f"{len(failed)} of {len(chunk)} history writes failed, first: {failed[0]}")


def _install_proxy(rpc: Rpc, owner: str, feed: Feed, proxy_artifact: dict, aggregators: list[str]) -> None:
    """Put Chainlink's proxy at the feed's mainnet address, owned by `owner`, one phase per aggregator."""
    rpc.call("anvil_setCode", feed.proxy, proxy_artifact["deployedBytecode"])
    # ConfirmedOwnerWithProposal keeps s_owner in slot 0; the constructor cannot run at a fixed address.
    rpc.call("anvil_setStorageAt", feed.proxy, "0x0", "0x" + owner[2:].lower().rjust(64, "0"))
    proxy = Web3().eth.contract(address=feed.proxy, abi=proxy_artifact["abi"])
    calls = []
    for aggregator in aggregators:  # proposeAggregator + confirmAggregator starts the next phase
        calls.append((feed.proxy, proxy.encode_abi("proposeAggregator", args=[aggregator])))
        calls.append((feed.proxy, proxy.encode_abi("confirmAggregator", args=[aggregator])))
    _send_all(rpc, owner, calls)


def replay(feeds: list[Feed], scenario: history.Scenario, rpc: Rpc | None = None) -> dict[str, int]:
    """Write the simulated history of every feed onto the node; return rounds written per pair."""
    rpc = rpc or Rpc()
    artifacts = contracts.build()
    owner = Web3.to_checksum_address(rpc.call("eth_accounts")[0])
    rpc.call("anvil_setCode", MULTICALL3_ADDRESS, artifacts["Multicall3"]["deployedBytecode"])
    mock = Web3().eth.contract(abi=artifacts["MockV3Aggregator"]["abi"])
    rpc.call("evm_setAutomine", False)
    written: dict[str, int] = {}
    try:
        for feed in feeds:
            rounds = history.simulate(feed, scenario)
            mocks, described = {}, []
            for phase in sorted({r.phase for r in rounds}):
                first = next(r for r in rounds if r.phase == phase)
                mocks[phase] = _deploy(rpc, owner, artifacts["MockV3Aggregator"], feed.decimals, first.answer)
                described.append(_deploy(rpc, owner, artifacts["DescribedAggregator"], mocks[phase], feed.description))
            _install_proxy(rpc, owner, feed, artifacts["DataFeedsLegacyAggregatorProxy"], described)
            _send_all(
                rpc,
                owner,
                [
                    (
                        mocks[r.phase],
                        mock.encode_abi(
                            "updateRoundData", args=[r.aggregator_round, r.answer, r.updated_at, r.started_at]
                        ),
                    )
                    for r in rounds
                ],
            )
            written[feed.pair] = len(rounds)
            log.info("replayed %s rounds of %s (%s)", len(rounds), feed.pair, history.LABEL)
    finally:
        rpc.call("evm_setAutomine", True)
    return written


def fingerprint(feeds: list[Feed], sc: history.Scenario) -> str:
    """A digest of every simulated round, so a changed simulation is replayed."""
    digest = hashlib.sha256()
    for feed in feeds:
        digest.update(repr((feed, history.simulate(feed, sc))).encode())
    return digest.hexdigest()


def history_matches(feeds: list[Feed], scenario: history.Scenario, rpc: Rpc | None = None) -> bool:
    """True if the node holds this exact history: same fingerprint replayed, same last rounds on chain."""
    rpc = rpc or Rpc()
    replayed = json.loads(HISTORY_FILE.read_text()).get("fingerprint") if HISTORY_FILE.exists() else None
    if replayed != fingerprint(feeds, scenario):
        return False
    artifact = contracts.build()["DataFeedsLegacyAggregatorProxy"]
    w3 = Web3(Web3.HTTPProvider(rpc.url))
    for feed in feeds:
        if w3.eth.get_code(feed.proxy) in (b"", None):
            return False
        last = history.simulate(feed, scenario)[-1]
        round_id, answer, _, updated_at, _ = (
            w3.eth.contract(feed.proxy, abi=artifact["abi"]).functions.latestRoundData().call()
        )
        if (round_id, answer, updated_at) != (last.round_id, last.answer, last.updated_at):
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
    """Replay the history unless the node already holds it (a restart reuses the saved state)."""
    rpc = rpc or Rpc()
    chain_id = int(rpc.call("eth_chainId"), 16)
    if chain_id != ANVIL_CHAIN_ID:
        raise ChainError(f"{rpc.url} answers chain id {chain_id}, expected the local stack's {ANVIL_CHAIN_ID}")
    sc = sc or scenario()
    if history_matches(feeds, sc, rpc):
        return {}
    rpc.call("anvil_reset")
    written = replay(feeds, sc, rpc)
    if rpc.url == ANVIL_URL:
        HISTORY_FILE.write_text(
            json.dumps({"end": sc.end.isoformat(), "label": history.LABEL, "fingerprint": fingerprint(feeds, sc)})
        )
    return written


def airflow_connection_uri() -> str:
    """The Chainlink RPC connection for AIRFLOW_CONN_CHAINLINK_ETHEREUM, in Airflow's JSON form."""
    return json.dumps({"conn_type": "chainlink", "host": ANVIL_URL, "extra": {"timeout": 30, "batch_size": 200}})
