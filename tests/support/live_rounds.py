"""What the stack's proxies serve after the simulated history: the rounds a living oracle published.

The history (devstack.simulation.history) ends at its end date; on a stack where the oracle ran (`make demo`),
the chain holds later rounds of the last phase too. Tests that compare windows reaching past the
history with ground truth add them, read straight from the proxy (getRoundData, round by round),
not through the reader under test.
"""

from __future__ import annotations

from chainlink_feeds.rounds import proxy_round_id
from devstack.chain import contracts
from devstack.chain.rpc import Rpc
from devstack.settings import ANVIL_URL
from devstack.simulation import history


def with_live_rounds(feed, served: list[history.ServedRound]) -> list[history.ServedRound]:
    """`served` (the history) plus the rounds the chain holds after its last one, each served from
    its own updatedAt (the phase is current)."""
    last = served[-1].round
    proxy = Rpc(ANVIL_URL).web3().eth.contract(feed.proxy, abi=contracts.build()["EACAggregatorProxy"]["abi"])
    live = []
    for number in range(last.aggregator_round + 1, 2**32):
        _, answer, started_at, updated_at, _ = proxy.functions.getRoundData(proxy_round_id(last.phase, number)).call()
        if updated_at == 0:  # an OCR aggregator answers zeros past its latest round
            break
        r = history.SimRound(feed.pair, last.phase, number, answer, started_at, updated_at, number)
        live.append(history.ServedRound(r, updated_at))
    return served + live
