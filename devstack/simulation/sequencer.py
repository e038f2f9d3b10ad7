"""The SIMULATED status of each L2's sequencer over the stack's history: up, but for scripted outages.

An outage is what a risk team must see handled: while the sequencer is down, the L2's oracles
publish nothing (no transaction reaches the chain), and its prices are not to be trusted until the
registry's grace period after it comes back. The uptime feed records each change at the L1 time it
happened (devstack.chain.sequencer).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # history reads the outages: its oracles on an L2 publish nothing meanwhile
    from devstack.simulation.history import Scenario

# (how long before the history's end it went down, how long it stayed down): 14:10 UTC six days
# before the end, inside the L2 feeds' simulated window, for 80 minutes.
OUTAGES = ((timedelta(days=6, hours=-14, minutes=-10), timedelta(minutes=80)),)


def outages(scenario: Scenario) -> list[tuple[int, int]]:
    """Each outage as [down at, up at) in unix seconds, in time order."""
    return sorted(
        (int((scenario.end - before).timestamp()), int((scenario.end - before + lasted).timestamp()))
        for before, lasted in OUTAGES
    )


def status_changes(scenario: Scenario) -> list[tuple[int, bool]]:
    """Every change after the feed's first (up) round, as (L1 time, down)."""
    return [change for down, up in outages(scenario) for change in ((down, True), (up, False))]


def is_down(scenario: Scenario, at: int) -> bool:
    return any(down <= at < up for down, up in outages(scenario))
