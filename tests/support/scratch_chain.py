"""A throwaway anvil node for tests that deploy or write contracts (the shared stack stays intact)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from web3 import Web3

from devstack import chain, contracts

SCRATCH_PORT = int(os.environ.get("PEG_SCRATCH_ANVIL_PORT", "8546"))


@contextmanager
def scratch_chain(chain_id: int = 1, port: int = SCRATCH_PORT) -> Iterator[chain.Rpc]:
    name = f"anvil-scratch-{port}"
    chain.stop_node(name)
    chain.start_node(name=name, port=port, chain_id=chain_id, persist=False)
    try:
        yield chain.Rpc(f"http://127.0.0.1:{port}")
    finally:
        chain.stop_node(name)


def deploy(rpc: chain.Rpc, name: str, *args: object) -> str:
    return chain._deploy(rpc, owner(rpc), contracts.build()[name], *args)


def owner(rpc: chain.Rpc) -> str:
    return Web3.to_checksum_address(rpc.call("eth_accounts")[0])


def transact(rpc: chain.Rpc, address: str, contract: str, function: str, *args: object) -> None:
    data = Web3().eth.contract(abi=contracts.build()[contract]["abi"]).encode_abi(function, args=list(args))
    chain._send_all(rpc, owner(rpc), [(address, data)])
    rpc.call("evm_mine")


def web3(rpc: chain.Rpc) -> Web3:
    return Web3(Web3.HTTPProvider(rpc.url))
