"""When the market witness changes the verdict: pure functions of a feed's market-vs-oracle readings.

The readings are `stablecoin_market_vs_oracle`'s rows (the market's price beside the oracle's
served round, each time the pools were read), in order of `priced_at`. Two kinds of transition:

- `oracle_vs_market`, agree -> silent | divergent -> agree. A divergence begins at the first reading
  whose |oracle / market - 1| exceeds the feed's limit (deviation threshold plus margin) and ends at
  the first reading below the limit minus the hysteresis band. Once it has lasted
  `silent_oracle_minutes` it is news: `silent` when the oracle has served no round since it began
  (lagging or frozen), `divergent` when it has but still disagrees; a silent oracle that then
  publishes a round still off the market turns `divergent`. A divergence shorter than that is the
  oracle's ordinary publication lag and pages nobody. A reading without a market price or without a
  served round neither begins nor ends one.
- `market_depth`, deep <-> thin: every pool read was thin (nothing in range, or the sized quote
  losing more than the feed's limit); the market's price is then not trusted.

Like the peg rules these are deterministic, so every run finds the same transitions with the same
keys. A market transition has no round: its key's `round_id` is the reading's time in Unix seconds.
Runs resume from the last recorded transition of each kind (`MarketState`): readings a later load
inserts before it (the daily DAG's hourly readings between the near-real-time ones) cannot
rewrite what was already paged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from peg_alerts.rules import FeedKey, Transition

ORACLE_VS_MARKET = "oracle_vs_market"
MARKET_DEPTH = "market_depth"
MARKET_KINDS = (ORACLE_VS_MARKET, MARKET_DEPTH)
AGREE, DIVERGENT, SILENT = "agree", "divergent", "silent"
DEEP, THIN = "deep", "thin"


@dataclass(frozen=True)
class MarketReading:
    """One row of stablecoin_market_vs_oracle: the market beside the oracle's served round."""

    priced_at: datetime
    market_price: Decimal | None
    depth_usd: Decimal
    is_thin: bool
    oracle_price: Decimal | None
    oracle_served_from: datetime | None  # None: no round served at priced_at
    oracle_deviation_bps: Decimal | None
    divergence_bps: Decimal | None
    limit_bps: Decimal


@dataclass(frozen=True)
class MarketState:
    """A kind's last recorded status and when it was entered (None: nothing recorded yet)."""

    status: str
    occurred_at: datetime | None = None


def oracle_vs_market(
    feed: FeedKey,
    readings: list[MarketReading],
    hysteresis_bps: int,
    silent_after: timedelta,
    start: MarketState = MarketState(AGREE),
) -> list[Transition]:
    """Every agree / divergent / silent change after `start` along the readings."""
    changes, status, began = [], start.status, None
    for r in _after(readings, start):
        if r.divergence_bps is None or r.oracle_served_from is None:
            continue
        gap = abs(r.divergence_bps)
        if status == AGREE and began is None and gap > r.limit_bps:
            began = r.priced_at
        elif gap < r.limit_bps - hysteresis_bps:
            began = None
            if status != AGREE:
                changes.append(_transition(feed, ORACLE_VS_MARKET, r, status, AGREE))
                status = AGREE
            continue
        if status == AGREE and began is not None and r.priced_at - began >= silent_after:
            status = SILENT if r.oracle_served_from <= began else DIVERGENT
            changes.append(_transition(feed, ORACLE_VS_MARKET, r, AGREE, status))
        elif status == SILENT and _published_since(r, began or start.occurred_at):
            changes.append(_transition(feed, ORACLE_VS_MARKET, r, SILENT, DIVERGENT))
            status = DIVERGENT
    return changes


def _published_since(reading: MarketReading, since: datetime | None) -> bool:
    """Whether the oracle's round at the reading was served after `since`: when the divergence began,
    or for a run resuming from a recorded silence, when it was found (no round was served between)."""
    return since is not None and reading.oracle_served_from is not None and reading.oracle_served_from > since


def market_depth(
    feed: FeedKey, readings: list[MarketReading], start: MarketState = MarketState(DEEP)
) -> list[Transition]:
    """Every deep <-> thin change after `start` along the readings."""
    changes, status = [], start.status
    for r in _after(readings, start):
        now = THIN if r.is_thin else DEEP
        if now != status:
            changes.append(_transition(feed, MARKET_DEPTH, r, status, now))
            status = now
    return changes


def _after(readings: list[MarketReading], start: MarketState) -> list[MarketReading]:
    return [r for r in readings if start.occurred_at is None or r.priced_at > start.occurred_at]


def _transition(feed: FeedKey, kind: str, r: MarketReading, before: str, after: str) -> Transition:
    return Transition(
        feed, kind, int(r.priced_at.timestamp()), before, after,
        r.oracle_price if r.oracle_price is not None else Decimal(0),
        r.oracle_deviation_bps if r.oracle_deviation_bps is not None else Decimal(0),
        r.oracle_served_from or r.priced_at, r.priced_at,
        market_price=r.market_price, divergence_bps=r.divergence_bps, depth_usd=r.depth_usd,
    )  # fmt: skip
