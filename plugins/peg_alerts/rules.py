"""When a feed's alert state changes: pure functions of its served series and its thresholds.

The series is what the proxy served, in order of `served_from` (rounds it never served are not in
it). Because the transitions are a deterministic function of that series, every run (a retry, a
rerun, the daily and the near-real-time DAG) computes the same ones with the same keys, and the
warehouse deduplicates them.

- Peg status, with hysteresis: a status is entered when the absolute deviation reaches its threshold
  and left only when it falls below the threshold minus the band, so a price hovering at a
  threshold does not flap. A feed starts healthy.
- Heartbeat: a feed's price goes stale when it gets older than heartbeat + grace
  (`heartbeat_missed`, keyed by the round that went stale, at updatedAt + limit) and is fresh again
  when a round replaces it (`heartbeat_restored`, keyed by that round). A miss is seen either on the
  round that ended it (its `is_heartbeat_exceeded`, measured at load against the true previous
  round) or, while it lasts, at the end of the loaded data (`as_of`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

HEALTHY, WARNING, CRITICAL = "healthy", "warning", "critical"
STATUSES = (HEALTHY, WARNING, CRITICAL)
FRESH, STALE = "fresh", "stale"
PEG_STATUS = "peg_status"
HEARTBEAT_MISSED = "heartbeat_missed"
HEARTBEAT_RESTORED = "heartbeat_restored"


@dataclass(frozen=True)
class Thresholds:
    """One feed's thresholds as the ingest stored them (registry -> CHAINLINK_FEEDS)."""

    warning_bps: int
    critical_bps: int
    hysteresis_bps: int
    heartbeat_limit_seconds: int

    def entry(self, status: str) -> Decimal:
        """The absolute deviation at which `status` is entered."""
        return Decimal({HEALTHY: 0, WARNING: self.warning_bps, CRITICAL: self.critical_bps}[status])


@dataclass(frozen=True)
class FeedKey:
    chain: str
    proxy_address: str
    feed_pair: str


@dataclass(frozen=True)
class ServedPrice:
    """One served round: its price and deviation, when the proxy served it and its heartbeat check."""

    round_id: int
    price: Decimal
    deviation_bps: Decimal | None  # None: no peg known (a reference-pegged feed before the reference's first round)
    served_from: datetime
    updated_at: datetime
    is_heartbeat_exceeded: bool


@dataclass(frozen=True)
class Transition:
    """One change of a feed's alert state, keyed by (feed, kind, round_id, to_status): after a
    threshold change the same round may lead to another status. The market's transitions
    (`market_rules`) also carry the market's price, the divergence and the usable depth."""

    feed: FeedKey
    kind: str
    round_id: int
    from_status: str
    to_status: str
    price: Decimal
    deviation_bps: Decimal | None  # None: the round had no peg to measure it by (ServedPrice)
    served_from: datetime
    occurred_at: datetime
    market_price: Decimal | None = None
    divergence_bps: Decimal | None = None
    depth_usd: Decimal | None = None


def peg_status(abs_deviation_bps: Decimal, previous: str, thresholds: Thresholds) -> str:
    """The status after a price: the highest status whose threshold it reaches, or the highest status
    up to `previous` whose threshold minus the band it still reaches."""
    entered = max((s for s in STATUSES if abs_deviation_bps >= thresholds.entry(s)), key=STATUSES.index)
    held = [
        s
        for s in STATUSES[1 : STATUSES.index(previous) + 1]
        if abs_deviation_bps >= thresholds.entry(s) - thresholds.hysteresis_bps
    ]
    return max([entered, *held], key=STATUSES.index)


def peg_transitions(feed: FeedKey, series: list[ServedPrice], thresholds: Thresholds) -> list[Transition]:
    """Every peg status change along the served series (ordered by served_from, round id)."""
    changes, status = [], HEALTHY
    for price in series:
        if price.deviation_bps is None:
            continue  # no peg to judge it by: the status stands
        new = peg_status(abs(price.deviation_bps), status, thresholds)
        if new != status:
            changes.append(_transition(feed, PEG_STATUS, price, status, new, price.served_from))
            status = new
    return changes


def heartbeat_transitions(
    feed: FeedKey, series: list[ServedPrice], thresholds: Thresholds, as_of: datetime | None
) -> list[Transition]:
    """Every heartbeat miss and recovery along the served series, and a miss still open at `as_of`."""
    limit = timedelta(seconds=thresholds.heartbeat_limit_seconds)
    changes = []
    for previous, price in zip([None, *series], series, strict=False):
        if not price.is_heartbeat_exceeded:
            continue
        if previous is not None:
            changes.append(_transition(feed, HEARTBEAT_MISSED, previous, FRESH, STALE, previous.updated_at + limit))
        changes.append(_transition(feed, HEARTBEAT_RESTORED, price, STALE, FRESH, price.served_from))
    if series and as_of is not None and as_of - series[-1].updated_at > limit:
        last = series[-1]
        changes.append(_transition(feed, HEARTBEAT_MISSED, last, FRESH, STALE, last.updated_at + limit))
    return changes


def transitions(
    feed: FeedKey, series: list[ServedPrice], thresholds: Thresholds, as_of: datetime | None
) -> list[Transition]:
    """Peg and heartbeat transitions of one feed, in the order they happened."""
    found = peg_transitions(feed, series, thresholds) + heartbeat_transitions(feed, series, thresholds, as_of)
    return sorted(found, key=lambda t: (t.occurred_at, t.round_id, t.kind))


def _transition(
    feed: FeedKey, kind: str, price: ServedPrice, before: str, after: str, occurred_at: datetime
) -> Transition:
    return Transition(
        feed, kind, price.round_id, before, after, price.price, price.deviation_bps, price.served_from, occurred_at
    )
