"""The feed registry (`include/feeds.yaml`): which Chainlink feeds to watch and, beside each, the
on-chain pools that price its token; validated where the file is read.

Reading it is cheap (YAML plus a pure-Python keccak per address) so DAG files can build one task
per feed at parse time without touching the network. `load_registry` gives the peg feeds, as it
always has; `load_market` the whole registry with its market lookups.
"""

from __future__ import annotations

from chainlink_feeds.registry.chains import SEQUENCER_CHAINS, Chain
from chainlink_feeds.registry.common import DEFAULT_REGISTRY, KNOWN_CHAINS, FeedRegistryError, to_checksum_address
from chainlink_feeds.registry.document import load_market, load_registry
from chainlink_feeds.registry.feeds import (
    DEFAULT_HEARTBEAT_GRACE_SECONDS,
    DEFAULT_THRESHOLDS,
    Feed,
    Reference,
    feed_label,
)
from chainlink_feeds.registry.market import Market, MarketSource, Pool, Token
from chainlink_feeds.registry.market_entries import KNOWN_DEXES

__all__ = [
    "DEFAULT_HEARTBEAT_GRACE_SECONDS",
    "DEFAULT_REGISTRY",
    "DEFAULT_THRESHOLDS",
    "SEQUENCER_CHAINS",
    "Chain",
    "KNOWN_CHAINS",
    "KNOWN_DEXES",
    "Feed",
    "FeedRegistryError",
    "Market",
    "MarketSource",
    "Pool",
    "Reference",
    "Token",
    "feed_label",
    "load_market",
    "load_registry",
    "to_checksum_address",
]
