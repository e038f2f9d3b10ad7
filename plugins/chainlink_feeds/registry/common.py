"""What every registry section shares: the error type, the chains, the file and address checks."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from chainlink_feeds.keccak import keccak256

DEFAULT_REGISTRY = Path(
    os.environ.get("PEG_FEED_REGISTRY", Path(__file__).resolve().parents[3] / "include" / "feeds.yaml")
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
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


class FeedRegistryError(ValueError):
    """The feed registry file is malformed; the message names the file, line and field."""


@functools.lru_cache(maxsize=4096)
def to_checksum_address(address: str) -> str:
    """EIP-55 checksum of a hex address; cached, as sensors and tasks re-read the registry often."""
    lower = address[2:].lower()
    digest = keccak256(lower.encode()).hex()
    return "0x" + "".join(c.upper() if int(digest[i], 16) >= 8 else c for i, c in enumerate(lower))


def checked_address(value: Any, name: str, where: str) -> str:
    """`value` if it is an EIP-55 checksummed address: a typo in a mixed-case address fails here."""
    if not isinstance(value, str) or not _ADDRESS.match(value):
        raise FeedRegistryError(f"{where}: {name} {value!r} is not a 20-byte hex address")
    if to_checksum_address(value) != value:
        raise FeedRegistryError(
            f"{where}: {name} {value!r} is not EIP-55 checksummed (expected {to_checksum_address(value)})"
        )
    return value


def checked_chain(value: Any, where: str) -> str:
    if value not in KNOWN_CHAINS:
        raise FeedRegistryError(f"{where}: unknown chain {value!r} (known: {', '.join(sorted(KNOWN_CHAINS))})")
    return value


def checked_fields(raw: dict[str, Any], required: dict[str, Any], optional: Iterable[str], where: str) -> None:
    """Refuse unknown and missing fields and required fields of the wrong type (a bool is not a number);
    optional fields are checked by their own validation, with messages that say what they take."""
    unknown = set(raw) - set(required) - set(optional)
    if unknown:
        raise FeedRegistryError(f"{where}: unknown field(s) {sorted(unknown)}")
    for name, kind in required.items():
        if name not in raw:
            raise FeedRegistryError(f"{where}: missing field {name!r}")
        if not isinstance(raw[name], kind) or isinstance(raw[name], bool):
            raise FeedRegistryError(f"{where}: field {name!r} has the wrong type ({raw[name]!r})")


def at(path: Path, node: yaml.Node) -> str:
    """Where an entry is, for error messages: the file and the entry's first line."""
    return f"{path} line {node.start_mark.line + 1}"


def unique_items(node: yaml.MappingNode, path: Path, what: str) -> list[tuple[str, yaml.Node, str]]:
    """A mapping node's (key, value node, where) triples; a repeated key is an error (YAML loaders
    would keep the last one silently)."""
    seen: dict[str, str] = {}
    items = []
    for key, value in node.value:
        where = at(path, key)
        if key.value in seen:
            raise FeedRegistryError(f"{where}: {what}: duplicate key {key.value!r} (first at {seen[key.value]})")
        seen[key.value] = where
        items.append((key.value, value, where))
    return items
