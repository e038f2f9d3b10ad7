"""The registry's `chains:` section: what a chain needs beyond its name, today an L2's sequencer.

On a rollup (Arbitrum, Base, Optimism) a price is only as current as the sequencer that orders
the chain's transactions: while it is down nobody but the L1 inbox can update a feed, and for a
while after it is back prices catch up. Chainlink publishes each such chain's status as an
L2 Sequencer Uptime Feed (answer 1: down, 0: up; `startedAt`: when the status changed). A feed on
one of SEQUENCER_CHAINS is refused unless its chain names that feed and a grace period.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from chainlink_feeds.registry.common import (
    KNOWN_CHAINS,
    FeedRegistryError,
    at,
    checked_address,
    checked_chain,
    checked_fields,
    unique_items,
)
from chainlink_feeds.registry.feeds import Feed, Reference

if TYPE_CHECKING:  # market_entries builds on market, which holds the Chains
    from chainlink_feeds.registry.market_entries import Construct

# The chains of KNOWN_CHAINS that run on a single sequencer, and so need its uptime feed.
SEQUENCER_CHAINS = frozenset({"arbitrum", "base", "optimism"})
# Chainlink's example consumers wait an hour after the sequencer is back before trusting prices.
DEFAULT_GRACE_PERIOD_SECONDS = 3600


@dataclass(frozen=True)
class Chain:
    """A chain's entry under `chains:`; `where` (file and line) lets a read of the sequencer feed
    that answers something other than 0 or 1 name the registry line it came from."""

    name: str
    sequencer_uptime_feed: str
    grace_period_seconds: int
    where: str

    @property
    def chain_id(self) -> int:
        return KNOWN_CHAINS[self.name]


def chains_from_node(node: yaml.Node | None, construct: Construct, path: Path) -> dict[str, Chain]:
    """`chains:` as chain name -> Chain; only SEQUENCER_CHAINS may be listed (they need nothing else)."""
    if node is None:
        return {}
    if not isinstance(node, yaml.MappingNode):
        raise FeedRegistryError(f"{at(path, node)}: chains must be a mapping of chain name -> settings")
    chains = {}
    for name, value, where in unique_items(node, path, "chains"):
        checked_chain(name, f"{where}: chains")
        if name not in SEQUENCER_CHAINS:
            raise FeedRegistryError(
                f"{where}: chains: {name} has no sequencer; only {', '.join(sorted(SEQUENCER_CHAINS))} take an entry"
            )
        raw = construct(value)
        field = f"{where}: chains: {name}"
        if not isinstance(raw, dict):
            raise FeedRegistryError(f"{field} must be a mapping with sequencer_uptime_feed")
        checked_fields(raw, {"sequencer_uptime_feed": str}, ("grace_period_seconds",), field)
        grace = raw.get("grace_period_seconds", DEFAULT_GRACE_PERIOD_SECONDS)
        if not isinstance(grace, int) or isinstance(grace, bool) or grace < 0:
            raise FeedRegistryError(f"{field}: grace_period_seconds {grace!r} is not a whole number of seconds >= 0")
        chains[name] = Chain(
            name=name,
            sequencer_uptime_feed=checked_address(raw["sequencer_uptime_feed"], "sequencer_uptime_feed", field),
            grace_period_seconds=grace,
            where=at(path, value),
        )
    return chains


def check_sequencers(chains: dict[str, Chain], entries: list[tuple[Feed | Reference, str]]) -> None:
    """Every feed or reference on a sequencer chain has that chain's uptime feed, which is not
    itself one of the chain's price feeds."""
    for entry, where in entries:
        chain = entry.chain
        if chain in SEQUENCER_CHAINS and chain not in chains:
            raise FeedRegistryError(
                f"{where}: chain: {chain} runs on a sequencer; add chains: {chain}: sequencer_uptime_feed "
                "(Chainlink's L2 Sequencer Uptime Feed proxy) so its prices can be marked untrusted while it is down"
            )
        sequencer = chains.get(chain)
        if sequencer is not None and sequencer.sequencer_uptime_feed.lower() == entry.proxy.lower():
            raise FeedRegistryError(
                f"{where}: proxy is {chain}'s sequencer_uptime_feed ({sequencer.where}), not a price feed"
            )
