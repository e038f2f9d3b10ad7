"""The stack's nodes: starting one removes the state file an earlier release saved beside it."""

from __future__ import annotations

from devstack.chain.stack_chains import STACK_CHAINS
from devstack.simulation import history


def test_starting_a_node_removes_the_state_file_an_earlier_release_saved(stack: history.Scenario) -> None:
    for chain in STACK_CHAINS:
        chain.old_state_file.parent.mkdir(parents=True, exist_ok=True)
        chain.old_state_file.write_text('{"block": {}}')
        assert chain.start() is False  # the stack's node runs already: it is kept
        assert not chain.old_state_file.exists()
    assert {c.old_state_file.name for c in STACK_CHAINS} == {"state.json", "anvil-arbitrum-state.json"}
