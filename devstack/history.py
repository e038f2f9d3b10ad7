"""A deterministic, clearly *simulated* price history for every feed in the registry.

The market is a mean-reverting random walk around the peg, sampled every ten minutes, with
scripted episodes; an oracle publishes a round when the price moved by the feed's deviation
threshold or its heartbeat is about to expire, as Chainlink's OCR feeds do. Scripted on top:

* USDC (and, in sympathy, DAI) depegs the way USDC did in March 2023: down to about 0.88 over
  most of a day, a day near the bottom, and back over about a day and a half.
* USDC's aggregator is upgraded in the middle of a UTC day: a new proxy phase starts.
* USDT's oracle misses its heartbeat for about a day and a half (the feed goes stale).

Everything is a pure function of the registry and the history's end date, so the same rounds can
be replayed onto a node and printed as ground truth.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from chainlink_feeds.registry import Feed

LABEL = "SIMULATED Chainlink history (not real market data)"
HISTORY_DAYS = 200
TICK_SECONDS = 600
SEED = "stablecoin-peg-monitor/v1"

# Offsets, in days before the history's end, of the scripted episodes.
DEPEG_START = timedelta(days=10, hours=-2)  # 02:00 UTC, ten days before the end
DEPEG_PAIR, DEPEG_SYMPATHY_PAIR = "USDC/USD", "DAI/USD"
PHASE_CHANGE_AT = timedelta(days=13, hours=-13, minutes=-40)  # 13:40 UTC, a mid-day upgrade
PHASE_CHANGE_PAIR = "USDC/USD"
STALE_PAIR = "USDT/USD"
STALE_FROM, STALE_UNTIL = timedelta(days=45, hours=-6), timedelta(days=44, hours=-20)


@dataclass(frozen=True)
class SimRound:
    """One round as the simulated oracle publishes it."""

    pair: str
    phase: int
    aggregator_round: int
    answer: int
    started_at: int
    updated_at: int

    @property
    def round_id(self) -> int:
        return (self.phase << 64) | self.aggregator_round

    @property
    def updated_at_utc(self) -> datetime:
        return datetime.fromtimestamp(self.updated_at, UTC)


@dataclass(frozen=True)
class Scenario:
    """The history's time frame: [start, end) with `end` a UTC midnight."""

    end: datetime

    def __post_init__(self) -> None:
        if self.end.tzinfo is None or self.end != self.end.replace(hour=0, minute=0, second=0, microsecond=0):
            raise ValueError(f"history end must be a timezone-aware UTC midnight, got {self.end!r}")

    @property
    def start(self) -> datetime:
        return self.end - timedelta(days=HISTORY_DAYS)

    @property
    def depeg_start(self) -> datetime:
        return self.end - DEPEG_START

    @property
    def phase_change_at(self) -> datetime:
        return self.end - PHASE_CHANGE_AT

    @property
    def stale_window(self) -> tuple[datetime, datetime]:
        return self.end - STALE_FROM, self.end - STALE_UNTIL


def _depeg_offset(hours: float) -> float:
    """Fractional price offset of the March-2023-shaped depeg, `hours` after it began."""
    if hours < 0 or hours >= 66:
        return 0.0
    if hours < 18:  # the slide to the bottom
        return -0.12 * (1 - math.cos(math.pi * hours / 18)) / 2
    if hours < 30:  # near the bottom, slowly lifting
        return -0.12 + 0.03 * (hours - 18) / 12
    return -0.09 * (1 + math.cos(math.pi * (hours - 30) / 36)) / 2  # recovery


def _rng(scenario: Scenario, pair: str) -> random.Random:
    seed = hashlib.sha256(f"{SEED}|{pair}|{scenario.end.date().isoformat()}".encode()).digest()
    return random.Random(seed)


def market_path(feed: Feed, scenario: Scenario) -> list[tuple[int, float]]:
    """The simulated market price every TICK_SECONDS over the history, as (unix time, price)."""
    rng = _rng(scenario, feed.pair)
    spread = {"USDC/USD": 0.0006, "USDT/USD": 0.0011}.get(feed.pair, 0.0008)
    theta = 0.02
    sigma = spread * math.sqrt(2 * theta)
    peg = float(feed.peg_usd)
    depeg_start = scenario.depeg_start.timestamp()
    depeg_scale = {DEPEG_PAIR: 1.0, DEPEG_SYMPATHY_PAIR: 0.6}.get(feed.pair, 0.0)
    x = 0.0
    path = []
    t = int(scenario.start.timestamp())
    end = int(scenario.end.timestamp())
    while t < end:
        hours = (t - depeg_start) / 3600
        turbulent = depeg_scale and 0 <= hours < 66
        x = x * (1 - theta) + sigma * rng.gauss(0, 1) * (6 if turbulent else 1)
        path.append((t, peg * (1 + x + depeg_scale * _depeg_offset(hours))))
        t += TICK_SECONDS
    return path


def simulate(feed: Feed, scenario: Scenario) -> list[SimRound]:
    """The rounds the oracle publishes for one feed, in order."""
    rng = _rng(scenario, feed.pair + "|oracle")
    threshold = float(feed.deviation_threshold_pct) / 100
    heartbeat_due = feed.heartbeat_seconds - TICK_SECONDS
    stale_from, stale_until = (t.timestamp() for t in scenario.stale_window)
    upgrade_at = scenario.phase_change_at.timestamp() if feed.pair == PHASE_CHANGE_PAIR else math.inf
    rounds: list[SimRound] = []
    phase, aggregator_round = 1, 0
    last_answer, last_tick = 0, -math.inf
    for tick, price in market_path(feed, scenario):
        if feed.pair == STALE_PAIR and stale_from <= tick < stale_until:
            continue  # the oracle is down: the feed misses its heartbeat
        answer = round(price * 10**feed.decimals)
        upgrading = phase == 1 and tick >= upgrade_at
        moved = last_answer and abs(answer - last_answer) / last_answer >= threshold
        if not (upgrading or moved or tick - last_tick >= heartbeat_due or not last_answer):
            continue
        if upgrading:  # the new aggregator's first report lands exactly at the upgrade
            phase, aggregator_round, tick = 2, 0, int(upgrade_at)
            updated_at = tick
        else:
            updated_at = tick + rng.randrange(0, 60)
        aggregator_round += 1
        rounds.append(
            SimRound(
                pair=feed.pair,
                phase=phase,
                aggregator_round=aggregator_round,
                answer=answer,
                started_at=updated_at - rng.randrange(0, 20),
                updated_at=updated_at,
            )
        )
        last_answer, last_tick = answer, tick
    return rounds


def rounds_in_window(rounds: list[SimRound], start: datetime, end: datetime) -> list[SimRound]:
    """Rounds whose updatedAt falls in [start, end)."""
    lo, hi = start.timestamp(), end.timestamp()
    return [r for r in rounds if lo <= r.updated_at < hi]


def carry_in(rounds: list[SimRound], start: datetime) -> SimRound | None:
    """The last round published before `start`, which gives a window its opening price."""
    before = [r for r in rounds if r.updated_at < start.timestamp()]
    return before[-1] if before else None


def price(round_: SimRound, decimals: int) -> Decimal:
    return Decimal(round_.answer).scaleb(-decimals)
