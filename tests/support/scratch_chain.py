"""Throwaway anvil nodes for tests that deploy, write or replay contracts (the shared stack stays intact).

A scratch node starts like the stack's (chain id 1 unless asked, genesis dated 2020-01-01 so
recorded 2021 mainnet rounds can be replayed onto it, every historical state kept) but saves
nothing unless asked. `prune_history=True` gives a node that answers the latest state only, as a pruned
(non-archive) RPC endpoint does.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from web3 import Web3

from devstack.chain.contracts import CHAINLINK
from devstack.chain.node import start_node, stop_node
from devstack.chain.replay import node_account
from devstack.chain.rpc import Rpc
from devstack.chain.transactions import send

SCRATCH_PORT = int(os.environ.get("PEG_SCRATCH_ANVIL_PORT", "8546"))


def free_port() -> int:
    """A TCP port nobody listens on now, for a test module's own node."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def scratch_chain(
    chain_id: int = 1,
    port: int = SCRATCH_PORT,
    prune_history: bool = False,
    state_file: Path | None = None,
    preserve_history: bool = False,
) -> Iterator[Rpc]:
    """A fresh node on `port` (e.g. `free_port()`), stopped afterwards; saved to `state_file` if given
    (every block's state too with `preserve_history`: see `restart`)."""
    name = f"anvil-scratch-{port}"
    stop_node(name)
    start_node(
        name=name,
        port=port,
        chain_id=chain_id,
        prune_history=prune_history,
        state_file=state_file,
        preserve_history=preserve_history,
    )
    try:
        yield Rpc(f"http://127.0.0.1:{port}")
    finally:
        stop_node(name)


def restart(rpc: Rpc, state_file: Path, preserve_history: bool = False) -> None:
    """Stop a scratch node (it saves its state) and start it again from `state_file`."""
    port = int(rpc.url.rsplit(":", 1)[1])
    stop_node(f"anvil-scratch-{port}")
    start_node(name=f"anvil-scratch-{port}", port=port, state_file=state_file, preserve_history=preserve_history)


def deploy(rpc: Rpc, name: str, *args: object) -> str:
    """Deploy a compiled contract from the node's first account (mined at once); its address."""
    return CHAINLINK.deploy(rpc, node_account(rpc), name, *args)


def transact(rpc: Rpc, address: str, contract: str, function: str, *args: object) -> None:
    """Call a contract function in a transaction from the node's first account (mined at once)."""
    send(rpc, node_account(rpc), [(address, CHAINLINK.encode(contract, function, *args))])


def web3(rpc: Rpc) -> Web3:
    return rpc.web3()


def block_at(rpc: Rpc, timestamp: int) -> int:
    """The number of the last block with a timestamp <= `timestamp` (binary search)."""
    lo, hi = 0, int(rpc.call("eth_blockNumber"), 16)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if int(rpc.call("eth_getBlockByNumber", hex(mid), False)["timestamp"], 16) <= timestamp:
            lo = mid
        else:
            hi = mid - 1
    return lo
