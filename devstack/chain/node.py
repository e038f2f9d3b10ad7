"""The local Ethereum node's process: Foundry's anvil, answering as Ethereum mainnet does for the pipeline.

Chain id 1, blocks that carry the history's own timestamps (the genesis is dated 2020-01-01, so
recorded 2021 mainnet rounds fit too), every block's state kept for reads at historical blocks.

Anvil snapshots the whole state (every account, slot and block hash) for every block, in memory
for the latest few hundred blocks and on disk (`states_dir`, removed when the node stops) for the
rest: about 3.5 GB for the simulated history's ~5,400 blocks. Its default fork (`prague`) adds
system-contract storage to every block, which makes each snapshot bigger and the replay slower,
so the node runs `shanghai`. The snapshots are also why historical states do not survive a
restart: `--preserve-historical-states` writes all of them into the state file (3.7 GB in 44 s,
61 s to load back), while replaying takes about 50 s, so after a restart the stack replays
(devstack.chain.stack_history). So the stack's nodes save no state file at all: the latest state
alone is of no use after a restart, and dumping the growing chain every 30 s (98 MB for the demo's
history, 176 MB for the tests') made the demo's replay 10 % slower (145 s -> 160 s). Scratch nodes
in the tests save one where they test a restart.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from devstack.chain import contracts
from devstack.chain.rpc import ChainError
from devstack.services import processes
from devstack.settings import ANVIL_CHAIN_ID, ANVIL_HOST, ANVIL_PORT, NODE_BIN, STACK_DIR

GENESIS_TIMESTAMP = 1577836800  # 2020-01-01 00:00 UTC, before any history the node replays
HARDFORK = contracts.NODE_EVM_VERSION
MAX_PERSISTED_STATES = 1_000_000  # keep every block's state (anvil's default drops all but ~4,100)


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
    prune_history: bool = False,
    state_file: Path | None = None,
    preserve_history: bool = False,
) -> bool:
    """Start anvil unless it runs (its state saved to and loaded from `state_file` if one is given).
    True if it was started."""
    if not (NODE_BIN / "anvil").exists():
        raise ChainError(f"{NODE_BIN / 'anvil'} is missing: run `npm ci` first")
    if state_file:
        state_file.parent.mkdir(parents=True, exist_ok=True)
    states = states_dir(name)
    if processes.pid_of(name) is None:
        shutil.rmtree(states, ignore_errors=True)  # a previous run's states: its blocks are gone
    argv = node_argv(port, chain_id, state_file, prune_history, preserve_history, states)
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
