"""A SIMULATED feed registry of many feeds on several chains: made-up proxies, for checking that the
DAGs' shape and parse time follow the chains, not the feed count (nothing here is read on a chain)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from chainlink_feeds.registry import SEQUENCER_CHAINS
from chainlink_feeds.registry.common import to_checksum_address

CHAINS = ("ethereum", "arbitrum", "base")


def write_wide_registry(path: Path, feeds: int, chains: tuple[str, ...] = CHAINS) -> Path:
    """Write `feeds` SIMULATED USD feeds spread round-robin over `chains`, and an uptime feed for
    each L2 among them, to `path`; return it."""
    sequencers = [
        f'  {chain}: {{sequencer_uptime_feed: "{_address(f"sequencer {chain}")}"}}'
        for chain in chains
        if chain in SEQUENCER_CHAINS
    ]
    entries = []
    for i in range(feeds):
        proxy = _address(f"proxy {i}")
        entries.append(
            f'  - {{symbol: "C{i}", pair: "C{i}/USD", chain: {chains[i % len(chains)]}, proxy: "{proxy}", '
            "decimals: 8, heartbeat_seconds: 86400, deviation_threshold_pct: 0.25, peg_usd: 1.00, "
            'description: "SIMULATED"}'
        )
    chains_section = "chains:\n" + "\n".join(sequencers) + "\n" if sequencers else ""
    path.write_text(
        "# SIMULATED: made-up proxies (devstack/simulation/registry.py)\n"
        + chains_section
        + "feeds:\n"
        + "\n".join(entries)
        + "\n"
    )
    return path


def _address(seed: str) -> str:
    return to_checksum_address("0x" + hashlib.sha256(seed.encode()).hexdigest()[:40])
