"""Transactions on a node that mines them at once (automine), and calls encoded from a build's ABIs.

The stack compiles two builds, Chainlink's (devstack.chain.contracts) and Uniswap's
(devstack.chain.uniswap.artifacts); each is read through a `Build` of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from eth_utils import to_checksum_address
from web3 import Web3

from devstack.chain.rpc import ChainError, Rpc

# Each transaction `send` sends (Uniswap's factory: its creation code holds the pool's). The replay
# queues its own with less (devstack.chain.replay.TX_GAS), a block's worth of deployments at a time.
TX_GAS = 15_000_000
RECEIPT_TIMEOUT_SECONDS = 30


class Build:
    """One build's contracts by name: calldata, return values and deployment data from their ABIs."""

    def __init__(self, artifacts: Callable[[], dict[str, dict]]) -> None:
        self._artifacts = artifacts  # compiled on first use, not at import
        self._contracts: dict[str, Any] = {}

    def contract(self, name: str) -> Any:
        """A web3 contract (ABI and creation code) for `name`, made once: replays encode thousands of calls."""
        if name not in self._contracts:
            artifact = self._artifacts()[name]
            self._contracts[name] = Web3().eth.contract(abi=artifact["abi"], bytecode=artifact.get("bytecode") or None)
        return self._contracts[name]

    def encode(self, contract: str, function: str, *args: Any) -> str:
        """Calldata of `contract.function(*args)`."""
        return self.contract(contract).encode_abi(function, args=list(args))

    def decode(self, contract: str, function: str, raw: str) -> Any:
        """The return value of `contract.function` from eth_call's hex (one value, or a list; addresses
        checksummed)."""
        types = [o["type"] for o in self.contract(contract).get_function_by_name(function).abi["outputs"]]
        values = [
            to_checksum_address(v) if t == "address" else v
            for t, v in zip(types, Web3().codec.decode(types, bytes.fromhex(raw[2:])), strict=True)
        ]
        return values[0] if len(values) == 1 else values

    def constructor(self, contract: str, *args: Any) -> str:
        """Deployment data of `contract` with its constructor arguments."""
        return self.contract(contract).constructor(*args).data_in_transaction

    def read(
        self, rpc: Rpc, address: str, contract: str, function: str, *args: Any, block: str | int = "latest"
    ) -> Any:
        """`contract.function(*args)` at `address` by eth_call (at `block`), decoded."""
        tag = hex(block) if isinstance(block, int) else block
        call = {"to": address, "data": self.encode(contract, function, *args)}
        return self.decode(contract, function, rpc.call("eth_call", call, tag))

    def deploy(self, rpc: Rpc, sender: str, contract: str, *args: Any) -> str:
        """Deploy `contract` from `sender`; its address."""
        (receipt,) = send(rpc, sender, [(None, self.constructor(contract, *args))])
        return to_checksum_address(receipt["contractAddress"])


def send(rpc: Rpc, sender: str, calls: list[tuple[str | None, str]]) -> list[dict]:
    """Send (to, data) transactions from `sender` in order and wait for their receipts; ChainError if one failed."""
    hashes = [
        rpc.call("eth_sendTransaction", {"from": sender, "data": data, "gas": hex(TX_GAS)} | ({"to": to} if to else {}))
        for to, data in calls
    ]
    deadline = time.monotonic() + RECEIPT_TIMEOUT_SECONDS
    receipts = rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
    while None in receipts and time.monotonic() < deadline:
        time.sleep(0.05)
        receipts = rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
    for tx_hash, receipt in zip(hashes, receipts, strict=True):
        if receipt is None:
            raise ChainError(f"transaction {tx_hash} from {sender} was not mined in {RECEIPT_TIMEOUT_SECONDS} s")
        if receipt["status"] != "0x1":
            raise ChainError(f"transaction {tx_hash} from {sender} reverted: {_reason(rpc, tx_hash, receipt)}")
    return receipts


def _reason(rpc: Rpc, tx_hash: str, receipt: dict) -> str:
    """Why a transaction reverted: the same call replayed on its block's parent state."""
    tx = rpc.call("eth_getTransactionByHash", tx_hash)
    call = {k: tx[k] for k in ("from", "to", "input", "gas") if tx.get(k)}
    try:
        rpc.call("eth_call", call, hex(int(receipt["blockNumber"], 16) - 1))
    except ChainError as exc:
        return str(exc)
    return (
        f"it ran out of gas or depended on an earlier transaction of its block (gas used {int(receipt['gasUsed'], 16)})"
    )
