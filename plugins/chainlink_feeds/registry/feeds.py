"""Chainlink feeds as configured: peg feeds (`feeds:`) and the feeds read only to convert a pool's
price to USD (`references:`), validated entry by entry."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from chainlink_feeds.registry.common import (
    KNOWN_CHAINS,
    FeedRegistryError,
    checked_address,
    checked_chain,
    checked_fields,
)

# The fields every Chainlink feed entry has, peg feed or reference.
_ORACLE = {
    "symbol": str,
    "pair": str,
    "chain": str,
    "proxy": str,
    "decimals": int,
    "heartbeat_seconds": int,
    "deviation_threshold_pct": (int, float),
}
# A heartbeat-only update lands a little after the heartbeat expires: on the recorded mainnet
# USDC/USD and USDT/USD rounds (2021-02..2022-11) up to 562 s late, while real misses last hours
# or days. 900 s keeps every late heartbeat quiet with room to spare and still flags a miss
# within a quarter of an hour.
DEFAULT_HEARTBEAT_GRACE_SECONDS = 900
# Peg status thresholds (basis points of absolute deviation from the peg) and the hysteresis band:
# a status is entered at its threshold and left only below threshold - band, so a price hovering
# at a threshold does not flap. The registry's `defaults:` block overrides these, a feed overrides both.
# The market verdicts (dbt's stablecoin_market_vs_oracle): oracle and market diverge beyond the
# deviation threshold plus a margin (25 bps, as yearn uses); a pool reading older than 90 minutes
# (the hourly readings, with room) is not used; a pool is thin when selling the sized quote (about
# $1M) into it loses over 10 % (on 2022-05-12 the USDC/USDT pool: the five hours with nothing in
# range and seven losing 28-52 %, while its calm hours lose about 1 bp); divergent 3 minutes with no
# round published since: a silent oracle (an OCR feed publishes within a minute or two of crossing
# its deviation threshold, and the on-call is to hear of a silent one within 5 minutes).
DEFAULT_THRESHOLDS: dict[str, int] = {
    "warning_bps": 50,
    "critical_bps": 100,
    "hysteresis_bps": 10,
    "heartbeat_grace_seconds": DEFAULT_HEARTBEAT_GRACE_SECONDS,
    "divergence_margin_bps": 25,
    "market_max_age_minutes": 90,
    "thin_quote_slippage_bps": 1000,
    "silent_oracle_minutes": 3,
}
_MAY_BE_ZERO = ("heartbeat_grace_seconds", "hysteresis_bps", "divergence_margin_bps")
_FEED_OPTIONAL = ("description", "phase_activations", "peg_usd", "peg_reference", *DEFAULT_THRESHOLDS)
_REFERENCE_OPTIONAL = ("description", "phase_activations", "heartbeat_grace_seconds")
_PAIR = re.compile(r"^[A-Za-z0-9.]+/[A-Za-z0-9.]+$")


def feed_label(pair: str, chain: str) -> str:
    """How messages name a feed: its pair, with its chain when that is not Ethereum (the same pair on
    two chains is two feeds). One rule for the registry's entries, alerts and freshness answers."""
    return pair if chain == "ethereum" else f"{pair} on {chain}"


class _OnChain:
    """What a reader derives from a configured Chainlink feed, peg feed or reference alike."""

    chain: str
    pair: str
    heartbeat_seconds: int
    heartbeat_grace_seconds: int

    @property
    def chain_id(self) -> int:
        return KNOWN_CHAINS[self.chain]

    @property
    def label(self) -> str:
        """How messages name it (`feed_label`)."""
        return feed_label(self.pair, self.chain)

    @property
    def heartbeat_limit_seconds(self) -> int:
        """The longest gap between served rounds that is not a heartbeat miss."""
        return self.heartbeat_seconds + self.heartbeat_grace_seconds


@dataclass(frozen=True)
class Feed(_OnChain):
    """One Chainlink feed as configured: where it lives and what it promises."""

    symbol: str
    pair: str
    chain: str
    proxy: str
    decimals: int
    heartbeat_seconds: int
    deviation_threshold_pct: Decimal
    # The peg: in USD, or with `peg_reference` (a USD feed on the same chain, e.g. EUR/USD for a euro
    # coin) in units of that feed's price, always 1: the peg at a moment is the reference's price then.
    peg_usd: Decimal
    description: str
    heartbeat_grace_seconds: int = DEFAULT_HEARTBEAT_GRACE_SECONDS
    peg_reference: str | None = None
    warning_bps: int = DEFAULT_THRESHOLDS["warning_bps"]
    critical_bps: int = DEFAULT_THRESHOLDS["critical_bps"]
    hysteresis_bps: int = DEFAULT_THRESHOLDS["hysteresis_bps"]
    divergence_margin_bps: int = DEFAULT_THRESHOLDS["divergence_margin_bps"]
    market_max_age_minutes: int = DEFAULT_THRESHOLDS["market_max_age_minutes"]
    thin_quote_slippage_bps: int = DEFAULT_THRESHOLDS["thin_quote_slippage_bps"]
    silent_oracle_minutes: int = DEFAULT_THRESHOLDS["silent_oracle_minutes"]
    # phase id -> when the proxy switched to it, pinned by hand for nodes without historical state
    phase_activations: dict[int, datetime] = field(default_factory=dict, hash=False, compare=True)
    # the registry file and line it was read from, for errors found later (a chain without connection)
    where: str = field(default="", compare=False, repr=False)


@dataclass(frozen=True)
class Reference(_OnChain):
    """A Chainlink feed read only to turn a pool's price into USD: no peg, no thresholds, no market.
    `symbol` is the token it prices (WETH for ETH/USD), which ties it to the pools' tokens."""

    symbol: str
    pair: str
    chain: str
    proxy: str
    decimals: int
    heartbeat_seconds: int
    deviation_threshold_pct: Decimal
    description: str
    heartbeat_grace_seconds: int = DEFAULT_HEARTBEAT_GRACE_SECONDS
    phase_activations: dict[int, datetime] = field(default_factory=dict, hash=False, compare=True)
    where: str = field(default="", compare=False, repr=False)


def thresholds(raw: dict[str, Any], defaults: dict[str, int], where: str) -> dict[str, int]:
    """The threshold fields of `raw` over `defaults`, checked: whole numbers, grace, band and margin
    >= 0, the others positive, warning < critical, band < warning, critical - band >= warning (else a
    price below warning would still be held at critical), and a thin-quote floor below 10000 bps."""
    values = {**defaults, **{k: v for k, v in raw.items() if k in DEFAULT_THRESHOLDS}}
    for name, value in values.items():
        least = 0 if name in _MAY_BE_ZERO else 1
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
    if values["thin_quote_slippage_bps"] >= 10_000:
        raise FeedRegistryError(
            f"{where}: thin_quote_slippage_bps must be below 10000 (a quote cannot lose all), "
            f"got {values['thin_quote_slippage_bps']}"
        )
    return values


def _oracle_fields(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """The checked fields a peg feed and a reference share, as dataclass keyword arguments."""
    if not _PAIR.match(raw["pair"]):
        raise FeedRegistryError(f"{where}: pair {raw['pair']!r} is not of the form BASE/QUOTE")
    checked_chain(raw["chain"], where)
    checked_address(raw["proxy"], "proxy", where)
    if not 0 < raw["decimals"] <= 36:
        raise FeedRegistryError(f"{where}: decimals must be between 1 and 36, got {raw['decimals']}")
    if raw["heartbeat_seconds"] <= 0:
        raise FeedRegistryError(f"{where}: heartbeat_seconds must be positive, got {raw['heartbeat_seconds']}")
    if not 0 < raw["deviation_threshold_pct"] < 100:
        raise FeedRegistryError(f"{where}: deviation_threshold_pct must be in (0, 100)")
    base, quote = raw["pair"].split("/")
    return {
        **{name: raw[name] for name in _ORACLE},
        "deviation_threshold_pct": Decimal(str(raw["deviation_threshold_pct"])),
        "description": raw.get("description", f"{base} / {quote}"),
    }


def feed_from_mapping(raw: dict[str, Any], where: str, defaults: dict[str, int] = DEFAULT_THRESHOLDS) -> Feed:
    """A `feeds:` entry: pegged to a constant (`peg_usd`) or to another feed's price (`peg_reference`,
    a pair on the same chain, checked against the whole registry by the document)."""
    checked_fields(raw, _ORACLE, _FEED_OPTIONAL, where)
    common = _oracle_fields(raw, where)
    if ("peg_usd" in raw) == ("peg_reference" in raw):
        raise FeedRegistryError(
            f"{where}: give exactly one of peg_usd (a constant peg in USD) and peg_reference (a pair whose "
            "price is the peg, e.g. EUR/USD)"
        )
    reference = raw.get("peg_reference")
    if reference is not None and (not isinstance(reference, str) or not _PAIR.match(reference)):
        raise FeedRegistryError(f"{where}: peg_reference {reference!r} is not a pair of the form BASE/QUOTE")
    peg = raw.get("peg_usd", 1)
    if isinstance(peg, bool) or not isinstance(peg, int | float) or peg <= 0:
        raise FeedRegistryError(f"{where}: peg_usd must be a positive number, got {peg!r}")
    return Feed(
        **common,
        peg_usd=Decimal(str(peg)),
        peg_reference=reference,
        **thresholds(raw, defaults, where),
        phase_activations=_phase_activations(raw.get("phase_activations", {}), where),
        where=where,
    )


def reference_from_mapping(raw: dict[str, Any], where: str, grace_seconds: int) -> Reference:
    """A `references:` entry; `grace_seconds` is the registry's default heartbeat grace."""
    if "market" in raw:
        raise FeedRegistryError(f"{where}: a reference has no market (it only converts pool prices to USD)")
    checked_fields(raw, _ORACLE, _REFERENCE_OPTIONAL, where)
    grace = raw.get("heartbeat_grace_seconds", grace_seconds)
    if isinstance(grace, bool) or not isinstance(grace, int) or grace < 0:
        raise FeedRegistryError(f"{where}: heartbeat_grace_seconds must be a whole number >= 0, got {grace!r}")
    return Reference(
        **_oracle_fields(raw, where),
        heartbeat_grace_seconds=grace,
        phase_activations=_phase_activations(raw.get("phase_activations", {}), where),
        where=where,
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
