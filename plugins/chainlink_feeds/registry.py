"""The feed registry: which Chainlink feeds to watch, validated where the config file is read.

Reading it is cheap (YAML plus a pure-Python keccak per address) so DAG files can build one task
per feed at parse time without touching the network.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from chainlink_feeds.keccak import keccak256

# libyaml's loader when PyYAML has it: it keeps line marks and parses in a fraction of the time.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

DEFAULT_REGISTRY = Path(
    os.environ.get("PEG_FEED_REGISTRY", Path(__file__).resolve().parents[2] / "include" / "feeds.yaml")
)

# Chain name -> EIP-155 chain id; the hook checks the RPC endpoint answers this id.
KNOWN_CHAINS: dict[str, int] = {
    "ethereum": 1,
    "optimism": 10,
    "bsc": 56,
    "polygon": 137,
    "base": 8453,
    "arbitrum": 42161,
    "avalanche": 43114,
}

_REQUIRED = {
    "symbol": str,
    "pair": str,
    "chain": str,
    "proxy": str,
    "decimals": int,
    "heartbeat_seconds": int,
    "deviation_threshold_pct": (int, float),
    "peg_usd": (int, float),
}
_OPTIONAL = {"description": str}
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_PAIR = re.compile(r"^[A-Za-z0-9.]+/[A-Za-z0-9.]+$")


class FeedRegistryError(ValueError):
    """The feed registry file is malformed; the message names the file, line and field."""


@dataclass(frozen=True)
class Feed:
    """One Chainlink feed as configured: where it lives and what it promises."""

    symbol: str
    pair: str
    chain: str
    proxy: str
    decimals: int
    heartbeat_seconds: int
    deviation_threshold_pct: Decimal
    peg_usd: Decimal
    description: str

    @property
    def chain_id(self) -> int:
        return KNOWN_CHAINS[self.chain]

    @property
    def task_id(self) -> str:
        """A stable identifier usable as an Airflow task id."""
        return f"{self.chain}_{self.pair.replace('/', '_').lower()}"


def to_checksum_address(address: str) -> str:
    """EIP-55 checksum of a hex address."""
    lower = address[2:].lower()
    digest = keccak256(lower.encode()).hex()
    return "0x" + "".join(c.upper() if int(digest[i], 16) >= 8 else c for i, c in enumerate(lower))


def _feed_from_mapping(raw: dict[str, Any], where: str) -> Feed:
    unknown = set(raw) - set(_REQUIRED) - set(_OPTIONAL)
    if unknown:
        raise FeedRegistryError(f"{where}: unknown field(s) {sorted(unknown)}")
    for field, kind in _REQUIRED.items():
        if field not in raw:
            raise FeedRegistryError(f"{where}: missing field {field!r}")
        if not isinstance(raw[field], kind) or isinstance(raw[field], bool):
            raise FeedRegistryError(f"{where}: field {field!r} has the wrong type ({raw[field]!r})")
    if not _PAIR.match(raw["pair"]):
        raise FeedRegistryError(f"{where}: pair {raw['pair']!r} is not of the form BASE/QUOTE")
    if raw["chain"] not in KNOWN_CHAINS:
        raise FeedRegistryError(f"{where}: unknown chain {raw['chain']!r} (known: {', '.join(sorted(KNOWN_CHAINS))})")
    proxy = raw["proxy"]
    if not _ADDRESS.match(proxy):
        raise FeedRegistryError(f"{where}: proxy {proxy!r} is not a 20-byte hex address")
    if to_checksum_address(proxy) != proxy:
        raise FeedRegistryError(
            f"{where}: proxy {proxy!r} is not EIP-55 checksummed (expected {to_checksum_address(proxy)})"
        )
    if not 0 < raw["decimals"] <= 36:
        raise FeedRegistryError(f"{where}: decimals must be between 1 and 36, got {raw['decimals']}")
    if raw["heartbeat_seconds"] <= 0:
        raise FeedRegistryError(f"{where}: heartbeat_seconds must be positive, got {raw['heartbeat_seconds']}")
    if not 0 < raw["deviation_threshold_pct"] < 100:
        raise FeedRegistryError(f"{where}: deviation_threshold_pct must be in (0, 100)")
    if raw["peg_usd"] <= 0:
        raise FeedRegistryError(f"{where}: peg_usd must be positive")
    base, quote = raw["pair"].split("/")
    return Feed(
        symbol=raw["symbol"],
        pair=raw["pair"],
        chain=raw["chain"],
        proxy=proxy,
        decimals=raw["decimals"],
        heartbeat_seconds=raw["heartbeat_seconds"],
        deviation_threshold_pct=Decimal(str(raw["deviation_threshold_pct"])),
        peg_usd=Decimal(str(raw["peg_usd"])),
        description=raw.get("description", f"{base} / {quote}"),
    )


def load_registry(path: str | Path = DEFAULT_REGISTRY) -> list[Feed]:
    """Read and validate the registry; raise FeedRegistryError naming the bad line."""
    path = Path(path)
    try:
        loader = _SafeLoader(path.read_text())
        try:
            document = loader.get_single_node()
        finally:
            loader.dispose()
    except (OSError, yaml.YAMLError) as exc:
        raise FeedRegistryError(f"{path}: cannot read the feed registry: {exc}") from exc
    if not isinstance(document, yaml.MappingNode):
        raise FeedRegistryError(f"{path}: expected a mapping with a 'feeds' list")
    feeds_node = next((v for k, v in document.value if k.value == "feeds"), None)
    if not isinstance(feeds_node, yaml.SequenceNode) or not feeds_node.value:
        raise FeedRegistryError(f"{path}: expected a non-empty 'feeds' list")
    feeds: list[Feed] = []
    seen: dict[tuple[str, str], str] = {}
    for node in feeds_node.value:
        where = f"{path} line {node.start_mark.line + 1}"
        if not isinstance(node, yaml.MappingNode):
            raise FeedRegistryError(f"{where}: each feed must be a mapping")
        raw = loader.construct_mapping(node, deep=True)
        feed = _feed_from_mapping(raw, where)
        for key in ((feed.chain, feed.proxy.lower()), (feed.chain, feed.pair)):
            if key in seen:
                raise FeedRegistryError(f"{where}: duplicate feed {key[1]!r} on {feed.chain} (first at {seen[key]})")
            seen[key] = where
        feeds.append(feed)
    return feeds
