"""A SIMULATED feed registry of many feeds on several chains: made-up proxies, for checking that the
DAGs' shape and parse time follow the chains, not the feed count (nothing here is read on a chain)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from chainlink_feeds.registry.common import to_checksum_address

CHAINS = ("ethereum", "arbitrum", "base")


def write_wide_registry(path: Path, feeds: int, chains: tuple[str, ...] = CHAINS) -> Path:
    """Write `feeds` SIMULATED USD feeds spread round-robin over `chains` to `path`; return it."""
    entries = []
    for i in range(feeds):
        proxy = to_checksum_address("0x" + hashlib.sha256(f"proxy {i}".encode()).hexdigest()[:40])
        entries.append(
            f'  - {{symbol: "C{i}", pair: "C{i}/USD", chain: {chains[i % len(chains)]}, proxy: "{proxy}", '
            "decimals: 8, heartbeat_seconds: 86400, deviation_threshold_pct: 0.25, peg_usd: 1.00, "
            'description: "SIMULATED"}'
        )
    path.write_text(
        "# SIMULATED: made-up proxies (devstack/simulation/registry.py)\nfeeds:\n" + "\n".join(entries) + "\n"
    )
    return path
