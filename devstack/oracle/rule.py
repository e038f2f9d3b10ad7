"""When the live oracle publishes: Chainlink's heartbeat / deviation rule, as the history applies it.

A round is published at a market grid point when the observed answer moved by the feed's
deviation threshold from the last published answer, or once the heartbeat has expired and a
little more (HEARTBEAT_LATE, as mainnet's heartbeat updates land 1 to 300 s late). Pure functions
of the last round and the market, so a restart, or a catch-up after a stop, decides the same.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, NamedTuple

from devstack.simulation import history

if TYPE_CHECKING:
    from chainlink_feeds.registry import Feed
    from devstack.oracle.market import LiveMarket

DEVIATION, HEARTBEAT, FIRST = "deviation", "heartbeat", "first"


class Publication(NamedTuple):
    """A round the oracle publishes and why (DEVIATION, HEARTBEAT or FIRST)."""

    round: history.SimRound
    reason: str


def heartbeat_late(pair: str, heartbeat_seconds: int, last_updated_at: int) -> int:
    """How many seconds after the heartbeat expired the update lands: the history's 1 to 300 s, drawn
    from the pair and the last round's time; at most a tenth of a heartbeat shorter than 50 minutes."""
    low, high = history.HEARTBEAT_LATE
    high = max(low, min(high, heartbeat_seconds // 10))
    digest = hashlib.sha256(f"{history.SEED}|{pair}|heartbeat|{last_updated_at}".encode()).digest()
    return low + int.from_bytes(digest[:8], "big") % (high - low + 1)


def heartbeat_due(feed: Feed, last: history.SimRound) -> int:
    """The first time a heartbeat update may land after `last`."""
    return last.updated_at + feed.heartbeat_seconds + heartbeat_late(feed.pair, feed.heartbeat_seconds, last.updated_at)


def reason_to_publish(feed: Feed, last: history.SimRound | None, at: int, answer: int) -> str | None:
    """Why `answer`, observed at `at`, becomes a round after `last` (None: it does not)."""
    if last is None:
        return FIRST
    if abs(answer - last.answer) / last.answer >= float(feed.deviation_threshold_pct) / 100:
        return DEVIATION
    if at >= heartbeat_due(feed, last):
        return HEARTBEAT
    return None


def rounds_between(
    feed: Feed, market: LiveMarket, phase: int, last: history.SimRound | None, after: float, until: float
) -> list[Publication]:
    """The OCR rounds the oracle publishes at the market's grid points in (after, until], following
    `last` (the phase's latest round, None if it has none); numbered on from it, updated at their
    point. None while a frozen-oracle move lasts."""
    published: list[Publication] = []
    for at in market.walk.grid_after(after, until):
        if market.frozen_until(at):
            continue
        answer = market.answer(at)
        if reason := reason_to_publish(feed, last, at, answer):
            number = last.aggregator_round + 1 if last else 1
            last = history.SimRound(feed.pair, phase, number, answer, at, at, number)
            published.append(Publication(last, reason))
    return published
