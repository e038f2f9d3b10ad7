"""The alert rules on hand-made served series: hysteresis, the status ladder, heartbeat misses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from peg_alerts.rules import (
    HEARTBEAT_MISSED,
    HEARTBEAT_RESTORED,
    PEG_STATUS,
    FeedKey,
    ServedPrice,
    Thresholds,
    peg_status,
    transitions,
)

FEED = FeedKey("ethereum", "0x8fFfFfd4AfB6115b954Bd326cbe7B4BA576818f6", "USDC/USD")
DEFAULTS = Thresholds(warning_bps=50, critical_bps=100, hysteresis_bps=10, heartbeat_limit_seconds=3600)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def series(
    *prices: str, every: timedelta = timedelta(minutes=1), exceeded: set[int] = frozenset()
) -> list[ServedPrice]:
    return [
        ServedPrice(
            i + 1, Decimal(p), (Decimal(p) - 1) * 10_000, T0 + every * i, T0 + every * i, i in exceeded,
        )
        for i, p in enumerate(prices)
    ]  # fmt: skip


def peg_changes(prices: list[ServedPrice], thresholds: Thresholds = DEFAULTS) -> list[tuple[int, str, str]]:
    return [(t.round_id, t.from_status, t.to_status) for t in transitions(FEED, prices, thresholds, None)]


@pytest.mark.parametrize(
    ("bps", "previous", "expected"),
    [
        (49, "healthy", "healthy"),
        (50, "healthy", "warning"),  # entered at the threshold
        (41, "warning", "warning"),  # held down to threshold - band
        (40, "warning", "warning"),
        (39.99, "warning", "healthy"),  # left only below it
        (100, "healthy", "critical"),  # a jump skips warning
        (95, "critical", "critical"),
        (89, "critical", "warning"),  # below critical - band, still above warning
        (39, "critical", "healthy"),  # straight back
        (60, "critical", "warning"),
    ],
)
def test_a_status_is_entered_at_its_threshold_and_left_below_threshold_minus_band(bps, previous, expected) -> None:
    assert peg_status(Decimal(str(bps)), previous, DEFAULTS) == expected


def test_a_price_hovering_at_the_threshold_changes_status_once_each_way() -> None:
    hovering = series("1", "0.9950", "0.9955", "0.9949", "0.9958", "0.9951", "0.9957", "0.9961", "0.9955")
    assert peg_changes(hovering) == [(2, "healthy", "warning"), (8, "warning", "healthy")]
    without_band = Thresholds(50, 100, 0, 3600)
    assert len(peg_changes(hovering, without_band)) == 4  # what the band saves


def test_a_depeg_and_recovery_walk_the_ladder() -> None:
    #                  10 bps   60       150      1200    500     105      95 (held) 85       15
    prices = series("0.999", "0.994", "0.985", "0.88", "0.95", "0.9895", "0.9905", "0.9915", "0.9985")
    assert peg_changes(prices) == [
        (2, "healthy", "warning"),
        (3, "warning", "critical"),
        (8, "critical", "warning"),
        (9, "warning", "healthy"),
    ]


def test_a_feeds_own_thresholds_decide() -> None:
    prices = series("0.994", "0.985", "0.97", "0.999")
    assert peg_changes(prices, Thresholds(200, 500, 20, 3600)) == [(3, "healthy", "warning"), (4, "warning", "healthy")]


def test_heartbeat_misses_are_keyed_by_the_round_that_went_stale() -> None:
    limit = timedelta(seconds=DEFAULTS.heartbeat_limit_seconds)
    # round 3 replaced a price 2 h old (its load flagged the miss); round 4 is the last, 90 min before as_of
    prices = series("1", "1", "1", "1", every=timedelta(hours=2), exceeded={2})
    as_of = prices[-1].updated_at + timedelta(minutes=90)
    found = [(t.kind, t.round_id, t.occurred_at) for t in transitions(FEED, prices, DEFAULTS, as_of)]
    assert found == [
        (HEARTBEAT_MISSED, 2, prices[1].updated_at + limit),
        (HEARTBEAT_RESTORED, 3, prices[2].served_from),
        (HEARTBEAT_MISSED, 4, prices[3].updated_at + limit),  # still open at as_of
    ]
    # before the limit passes, the last round is not stale yet
    fresh = transitions(FEED, prices, DEFAULTS, prices[-1].updated_at + limit)
    assert [t.round_id for t in fresh if t.kind == HEARTBEAT_MISSED] == [2]


def test_the_same_series_gives_the_same_transitions() -> None:
    prices = series("1", "0.99", "1", "0.98", "1", exceeded={3})
    as_of = T0 + timedelta(days=1)
    first, again = transitions(FEED, prices, DEFAULTS, as_of), transitions(FEED, list(prices), DEFAULTS, as_of)
    assert first == again and {t.kind for t in first} == {PEG_STATUS, HEARTBEAT_MISSED, HEARTBEAT_RESTORED}
