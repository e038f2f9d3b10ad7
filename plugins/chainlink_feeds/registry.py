"""The feed registry: which Chainlink feeds to watch, validated where the config file is read.

Reading it is cheap (YAML plus a pure-Python keccak per address) so DAG files can build one task
per feed at parse time without touching the network.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
# A heartbeat-only update lands a little after the heartbeat expires: on the recorded mainnet
# USDC/USD and USDT/USD rounds (2021-02..2022-11) up to 562 s late, while real misses last hours
# or days. 900 s keeps every late heartbeat quiet with room to spare and still flags a miss
# within a quarter of an hour.
DEFAULT_HEARTBEAT_GRACE_SECONDS = 900
# Peg status thresholds (basis points of absolute deviation from the peg) and the hysteresis band:
# a status is entered at its threshold and left only below threshold - band, so a price hovering
# at a threshold does not flap. The registry's `defaults:` block overrides these, a feed overrides both.
DEFAULT_THRESHOLDS: dict[str, int] = {
    "warning_bps": 50,
    "critical_bps": 100,
    "hysteresis_bps": 10,
    "heartbeat_grace_seconds": DEFAULT_HEARTBEAT_GRACE_SECONDS,
}
_OPTIONAL = {"description": str, "phase_activations": dict} | dict.fromkeys(DEFAULT_THRESHOLDS, int)
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
    heartbeat_grace_seconds: int = DEFAULT_HEARTBEAT_GRACE_SECONDS
    warning_bps: int = DEFAULT_THRESHOLDS["warning_bps"]
    critical_bps: int = DEFAULT_THRESHOLDS["critical_bps"]
    hysteresis_bps: int = DEFAULT_THRESHOLDS["hysteresis_bps"]
    # phase id -> when the proxy switched to it, pinned by hand for nodes without historical state
    phase_activations: dict[int, datetime] = field(default_factory=dict, hash=False, compare=True)

    @property
    def chain_id(self) -> int:
        return KNOWN_CHAINS[self.chain]

    @property
    def heartbeat_limit_seconds(self) -> int:
        """The longest gap between served rounds that is not a heartbeat miss."""
        return self.heartbeat_seconds + self.heartbeat_grace_seconds

    @property
    def task_id(self) -> str:
        """A stable identifier usable as an Airflow task id."""
        return f"{self.chain}_{self.pair.replace('/', '_').lower()}"


def to_checksum_address(address: str) -> str:
    """EIP-55 checksum of a hex address."""
    lower = address[2:].lower()
    digest = keccak256(lower.encode()).hex()
    return "0x" + "".join(c.upper() if int(digest[i], 16) >= 8 else c for i, c in enumerate(lower))


def _thresholds(raw: dict[str, Any], defaults: dict[str, int], where: str) -> dict[str, int]:
    """The threshold fields of `raw` over `defaults`, checked: whole numbers, grace >= 0, the others
    positive (a band may be 0: no hysteresis), warning < critical, band < warning, and critical - band
    >= warning (else a price below warning would still be held at critical)."""
    values = {**defaults, **{k: v for k, v in raw.items() if k in DEFAULT_THRESHOLDS}}
    for name, value in values.items():
        least = 0 if name in ("heartbeat_grace_seconds", "hysteresis_bps") else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise FeedRegistryError(f"{where}: {name} must be a whole number >= {least}, got {value!r}")
    if values["warning_bps"] >= values["critical_bps"]:
        raise FeedRegistryError(
            f"{where}: warning_bps ({values['warning_bps']}) must be below critical_bps ({values['critical_bps']})"
        )
    if values["hysteresis_bps"] >= values["warning_bps"]:
        raise FeedRegistryError(
            f"{where}: hysteresis_bps ({values['hysteresis_bps']}) must be below warning_bps ({values['warning_bps']})"
        )
    if values["critical_bps"] - values["hysteresis_bps"] < values["warning_bps"]:
        raise FeedRegistryError(
            f"{where}: critical_bps ({values['critical_bps']}) minus hysteresis_bps ({values['hysteresis_bps']}) "
            f"must be at least warning_bps ({values['warning_bps']}): a price below warning would still be held at "
            "critical; raise critical_bps or narrow the band"
        )
    return values


def _feed_from_mapping(raw: dict[str, Any], where: str, defaults: dict[str, int] = DEFAULT_THRESHOLDS) -> Feed:
    unknown = set(raw) - set(_REQUIRED) - set(_OPTIONAL)
    if unknown:
        raise FeedRegistryError(f"{where}: unknown field(s) {sorted(unknown)}")
    for name, kind in _REQUIRED.items():
        if name not in raw:
            raise FeedRegistryError(f"{where}: missing field {name!r}")
        if not isinstance(raw[name], kind) or isinstance(raw[name], bool):
            raise FeedRegistryError(f"{where}: field {name!r} has the wrong type ({raw[name]!r})")
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
    thresholds = _thresholds(raw, defaults, where)
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
        **thresholds,
        phase_activations=_phase_activations(raw.get("phase_activations", {}), where),
    )


def _phase_activations(raw: dict[Any, Any], where: str) -> dict[int, datetime]:
    """Validate `phase_activations`: phase id (>= 1) -> UTC time, later for every later phase."""
    if not isinstance(raw, dict):
        raise FeedRegistryError(f"{where}: phase_activations must map phase ids to times, got {raw!r}")
    pins: dict[int, datetime] = {}
    for phase, value in raw.items():
        if isinstance(phase, bool) or not isinstance(phase, int) or not 1 <= phase < 2**16:
            raise FeedRegistryError(f"{where}: phase_activations: phase {phase!r} is not a phase id (1..65535)")
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                value = None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise FeedRegistryError(
                f"{where}: phase_activations: phase {phase} must be an ISO-8601 time with a time zone, "
                f"e.g. '2021-06-15T13:37:00Z', got {raw[phase]!r}"
            )
        pins[phase] = value.astimezone(UTC)
    ordered = sorted(pins.items())
    for (p, t), (q, u) in zip(ordered, ordered[1:], strict=False):
        if u <= t:
            raise FeedRegistryError(
                f"{where}: phase_activations: phase {q} ({u.isoformat()}) must start after phase {p} ({t.isoformat()})"
            )
    return pins


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
    for key, _ in document.value:
        if key.value not in ("defaults", "feeds"):
            raise FeedRegistryError(
                f"{path} line {key.start_mark.line + 1}: unknown top-level key {key.value!r} (expected defaults, feeds)"
            )
    sections = {k.value: v for k, v in document.value}
    feeds_node = sections.get("feeds")
    if not isinstance(feeds_node, yaml.SequenceNode) or not feeds_node.value:
        raise FeedRegistryError(f"{path}: expected a non-empty 'feeds' list")
    defaults = _defaults(loader, sections.get("defaults"), path)
    feeds: list[Feed] = []
    seen: dict[tuple[str, str], str] = {}
    for node in feeds_node.value:
        where = f"{path} line {node.start_mark.line + 1}"
        if not isinstance(node, yaml.MappingNode):
            raise FeedRegistryError(f"{where}: each feed must be a mapping")
        raw = loader.construct_mapping(node, deep=True)
        feed = _feed_from_mapping(raw, where, defaults)
        for key in ((feed.chain, feed.proxy.lower()), (feed.chain, feed.pair)):
            if key in seen:
                raise FeedRegistryError(f"{where}: duplicate feed {key[1]!r} on {feed.chain} (first at {seen[key]})")
            seen[key] = where
        feeds.append(feed)
    return feeds


def _defaults(loader: Any, node: yaml.Node | None, path: Path) -> dict[str, int]:
    """The registry's `defaults:` block (threshold fields only) over the built-in defaults."""
    if node is None:
        return DEFAULT_THRESHOLDS
    where = f"{path} line {node.start_mark.line + 1}"
    if not isinstance(node, yaml.MappingNode):
        raise FeedRegistryError(f"{where}: defaults must be a mapping of {', '.join(DEFAULT_THRESHOLDS)}")
    raw = loader.construct_mapping(node, deep=True)
    unknown = set(raw) - set(DEFAULT_THRESHOLDS)
    if unknown:
        raise FeedRegistryError(f"{where}: defaults: unknown field(s) {sorted(unknown)}")
    return _thresholds(raw, DEFAULT_THRESHOLDS, f"{where}: defaults")
