"""When an L2's prices stop or start being trustworthy: pure functions of its sequencer's status
changes (the uptime feed's rounds) and the chain's grace period, as dbt's int_chainlink__sequencer_status.

One transition per change: `down` when the sequencer goes down, `grace` when it is back (its prices
may still be catching up), `up` when the grace period is over without a new outage. A chain starts
up; a round repeating the status before it is no change. The grace period is over once the
sequencer's status has been read past its end (`as_of`, exclusive as in the marts), so every run computes the same transitions with the same keys:
(chain, uptime feed, kind `sequencer`, the round, the status).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from peg_alerts.rules import FeedKey, Transition

SEQUENCER = "sequencer"
UP, DOWN, GRACE = "up", "down", "grace"


@dataclass(frozen=True)
class StatusChange:
    """One round of the uptime feed: whether the sequencer was down from `changed_at` on."""

    round_id: int
    is_down: bool
    changed_at: datetime


def sequencer_key(chain: str, proxy_address: str) -> FeedKey:
    """The alerts' key for a chain's sequencer: its uptime feed, named for the chain."""
    return FeedKey(chain, proxy_address, f"{chain} sequencer")


def sequencer_transitions(
    key: FeedKey, changes: list[StatusChange], grace: timedelta, as_of: datetime | None
) -> list[Transition]:
    """Every status transition along the changes (ordered by changed_at, round id)."""
    found: list[Transition] = []
    status = UP
    for i, change in enumerate(changes):
        if change.is_down:
            if status != DOWN:
                found.append(_transition(key, change, status, DOWN, change.changed_at))
                status = DOWN
            continue
        if status != DOWN:
            continue  # up again while up or in a grace period: no change
        if grace > timedelta(0):
            found.append(_transition(key, change, DOWN, GRACE, change.changed_at))
            status = GRACE
        grace_ends = change.changed_at + grace
        next_down = next((c.changed_at for c in changes[i + 1 :] if c.is_down), None)
        if next_down is not None and next_down <= grace_ends:
            continue  # down again within the grace period: that change says so
        if grace == timedelta(0) or next_down is not None or (as_of is not None and as_of > grace_ends):
            found.append(_transition(key, change, status, UP, grace_ends))
            status = UP
    return found


def _transition(key: FeedKey, change: StatusChange, before: str, after: str, at: datetime) -> Transition:
    """A transition whose price is the uptime feed's answer (1 down, 0 up), never a deviation."""
    answer = Decimal(1 if change.is_down else 0)
    return Transition(key, SEQUENCER, change.round_id, before, after, answer, None, change.changed_at, at)
