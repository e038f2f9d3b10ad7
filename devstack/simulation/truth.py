"""The simulated ground truth of one UTC day (`python -m devstack truth DAY`): what each proxy served
(the carry-in round, then the day's rounds, each with the time it was served from), and the day's
rounds it never served. Tests and people check the pipeline's tables against it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from chainlink_feeds.registry import Feed
from devstack.simulation import history


def round_row(r: history.SimRound, decimals: int) -> dict:
    """One round as the truth prints it (JSON-able)."""
    return {
        "round_id": str(r.round_id),
        "phase": r.phase,
        "aggregator_round": r.aggregator_round,
        "answer": r.answer,
        "price": str(history.price(r, decimals)),
        "started_at": datetime.fromtimestamp(r.started_at, UTC).isoformat(),
        "updated_at": r.updated_at_utc.isoformat(),
        "answered_in_round": str(r.proxy_answered_in_round),
    }


def feed_truth(feed: Feed, scenario: history.Scenario, day: datetime) -> dict:
    """One feed's phases, what its proxy served on `day` (a UTC midnight) and what it never served."""
    feed_phases = history.phases(feed, scenario)
    served = history.served(feed_phases)
    carry = history.carry_in(served, day)
    rows = [(carry, True)] if carry else []
    rows += [(s, False) for s in history.rounds_in_window(served, day, day + timedelta(days=1))]
    never = [
        r
        for r in history.never_served(feed_phases)
        if day.timestamp() <= r.updated_at < (day + timedelta(days=1)).timestamp()
    ]
    return {
        "phases": [
            {"phase": p.phase, "kind": p.kind, "activated_at": datetime.fromtimestamp(p.activated_at, UTC).isoformat()}
            for p in feed_phases
        ],
        "served": [
            round_row(s.round, feed.decimals) | {"served_from": s.served_from_utc.isoformat(), "is_carry_in": is_carry}
            for s, is_carry in rows
        ],
        "never_served": [
            round_row(r, feed.decimals) | {"served_from": None, "is_never_served": True}
            for r in sorted(never, key=lambda r: (r.updated_at, r.round_id))
        ],
    }


def day_truth(feeds: list[Feed], scenario: history.Scenario, day: date, pair: str | None = None) -> dict:
    """The ground truth of `day` for every feed (or only `pair`), labelled as simulated."""
    midnight = datetime.combine(day, datetime.min.time(), UTC)
    chosen = [f for f in feeds if not pair or f.pair == pair]
    return {
        "label": history.LABEL,
        "day": day.isoformat(),
        "feeds": {f.pair: feed_truth(f, scenario, midnight) for f in chosen},
    }
