"""The local stack's nodes, one per registry chain it serves: which anvil, port and chain id, and
the Airflow connection that reaches it.

Each node impersonates its chain (its chain id, the registry's proxies at their mainnet addresses),
so the registry, the hook's chain check and the ingest work unchanged. A registry chain the stack
has no node for is refused where the stack reads the registry, naming it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from chainlink_feeds.registry import Feed
from devstack.chain import node
from devstack.chain.rpc import ChainError
from devstack.settings import (
    ANVIL_CHAIN_ID,
    ANVIL_HOST,
    ANVIL_PORT,
    ARBITRUM_ANVIL_PORT,
    ARBITRUM_ORACLE_PORT,
    ORACLE_PORT,
    STACK_DIR,
)


@dataclass(frozen=True)
class StackChain:
    """One node of the stack: the registry chain it serves and how it runs."""

    name: str  # the registry's chain name
    chain_id: int
    port: int
    node: str  # its process name under .stack/run
    oracle: str  # the process name of the oracle that keeps it living
    oracle_port: int  # that oracle's status port

    def start(self) -> bool:
        """Start the node unless it runs (no state file: a restart replays, devstack.chain.node); True
        if it was started. The state file an earlier release saved (up to 176 MB) is removed: nothing
        reads it."""
        self.old_state_file.unlink(missing_ok=True)
        return node.start_node(self.node, self.port, self.chain_id)

    @property
    def old_state_file(self) -> Path:
        """Where an earlier release saved the node's state (devstack.chain.node's docstring says why no more)."""
        return STACK_DIR / "anvil" / ("state.json" if self.node == "anvil" else f"{self.node}-state.json")

    def stop(self) -> bool:
        return node.stop_node(self.node)

    @property
    def url(self) -> str:
        return f"http://{ANVIL_HOST}:{self.port}"

    @property
    def conn_id(self) -> str:
        """The Airflow connection the pipeline reads this chain through (plugins/chainlink_feeds)."""
        return f"chainlink_{self.name}"

    def airflow_connection(self) -> str:
        """The connection in Airflow's JSON form, for AIRFLOW_CONN_<CONN_ID>."""
        return json.dumps({"conn_type": "chainlink", "host": self.url, "extra": {"timeout": 30, "batch_size": 200}})

    def feeds(self, feeds: list[Feed]) -> list[Feed]:
        """The feeds of the registry on this node's chain."""
        return [f for f in feeds if f.chain == self.name]


ETHEREUM = StackChain("ethereum", ANVIL_CHAIN_ID, ANVIL_PORT, "anvil", "oracle", ORACLE_PORT)
ARBITRUM = StackChain("arbitrum", 42161, ARBITRUM_ANVIL_PORT, "anvil-arbitrum", "oracle-arbitrum", ARBITRUM_ORACLE_PORT)
STACK_CHAINS = (ETHEREUM, ARBITRUM)


def stack_chain(name: str) -> StackChain:
    """The node serving registry chain `name`; ChainError naming the chains the stack runs otherwise."""
    for chain in STACK_CHAINS:
        if chain.name == name:
            return chain
    raise ChainError(
        f"the local stack has no node for chain {name!r}: it runs {', '.join(c.name for c in STACK_CHAINS)}"
    )


def chains_of(feeds: list[Feed]) -> list[StackChain]:
    """The stack's nodes the registry's feeds are on, Ethereum first (it always runs: it holds the
    references and the pools); ChainError for a feed on a chain the stack has no node for."""
    names = {f.chain for f in feeds}
    for name in sorted(names):
        stack_chain(name)
    return [c for c in STACK_CHAINS if c.name in names or c is ETHEREUM]
