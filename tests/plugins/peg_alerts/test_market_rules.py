"""The market-witness rules on hand-made readings: a silent oracle, a lasting divergence, the
oracle's ordinary lag paging nobody, hysteresis, a thin market, and runs resuming where the last left."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from peg_alerts.market_rules import (
    AGREE,
    DEEP,
    DIVERGENT,
    MARKET_DEPTH,
    ORACLE_VS_MARKET,
    SILENT,
    THIN,
    MarketReading,
    MarketState,
    market_depth,
    oracle_vs_market,
)
from peg_alerts.rules import FeedKey

FEED = FeedKey("ethereum", "0x8fFfFfd4AfB6115b954Bd326cbe7B4BA576818f6", "USDC/USD")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
LIMIT, BAND, SILENT_AFTER = Decimal(50), 10, timedelta(minutes=3)


def readings(*points: tuple[float, str, str] | tuple[float, str, str, float]) -> list[MarketReading]:
    """(minute, market price, oracle price[, minute the oracle's round was served]) per reading;
    a market price of "" is a thin market (no price)."""
    out = []
    for minute, market, oracle, *served in points:
        at = T0 + timedelta(minutes=minute)
        served_from = T0 + timedelta(minutes=served[0] if served else -60)
        price = Decimal(market) if market else None
        divergence = None if price is None else (Decimal(oracle) / price - 1) * 10_000
        out.append(
            MarketReading(
                at,
                price,
                Decimal(0 if price is None else 2_000_000),
                price is None,
                Decimal(oracle),
                served_from,
                (Decimal(oracle) - 1) * 10_000,
                divergence,
                LIMIT,
            )  # fmt: skip
        )
    return out


def changes(points: list[MarketReading], start: MarketState | None = None) -> list[tuple[float, str, str]]:
    found = oracle_vs_market(FEED, points, BAND, SILENT_AFTER, start or MarketState(AGREE))
    return [((t.occurred_at - T0).total_seconds() / 60, t.from_status, t.to_status) for t in found]


def test_a_market_off_peg_with_no_round_for_the_silence_limit_is_a_silent_oracle_then_resolved() -> None:
    points = readings((0, "1.0", "1.0"), (1, "0.97", "1.0"), (2, "0.97", "1.0"), (4, "0.97", "1.0"), (9, "1.0", "1.0"))
    assert changes(points) == [(4, AGREE, SILENT), (9, SILENT, AGREE)]
    silent = oracle_vs_market(FEED, points, BAND, SILENT_AFTER)[0]
    assert silent.market_price == Decimal("0.97") and silent.price == Decimal("1.0")
    assert silent.divergence_bps == (Decimal("1.0") / Decimal("0.97") - 1) * 10_000
    assert silent.round_id == int((T0 + timedelta(minutes=4)).timestamp())  # a reading has no round


def test_the_oracles_ordinary_lag_pages_nobody() -> None:
    """The market moves first and the oracle follows a minute later: shorter than the limit."""
    points = readings((0, "1.0", "1.0"), (1, "0.97", "1.0"), (2, "0.97", "0.97", 1.5), (6, "1.0", "1.0", 5.5))
    assert changes(points) == []


def test_a_round_served_during_a_lasting_divergence_makes_it_divergent_not_silent() -> None:
    points = readings((0, "0.97", "1.0"), (2, "0.97", "0.99", 1), (4, "0.97", "0.99", 1))
    assert changes(points) == [(4, AGREE, DIVERGENT)]


def test_a_silent_oracle_that_publishes_a_round_still_off_the_market_turns_divergent() -> None:
    points = readings((0, "0.97", "1.0"), (3, "0.97", "1.0"), (5, "0.97", "0.99", 4.5), (8, "0.97", "0.97", 7))
    assert changes(points) == [(3, AGREE, SILENT), (5, SILENT, DIVERGENT), (8, DIVERGENT, AGREE)]


def test_a_divergence_hovering_at_the_limit_holds_within_the_band() -> None:
    # 60 bps apart: in; 45 bps (above limit - band = 40): held; 35 bps: out
    points = readings((0, "0.994036", "1.0"), (2, "0.995520", "1.0"), (3, "0.994036", "1.0"), (4, "0.996512", "1.0"))
    assert changes(points) == [(3, AGREE, SILENT), (4, SILENT, AGREE)]


def test_readings_without_a_market_price_neither_begin_nor_end_a_divergence() -> None:
    points = readings((0, "0.97", "1.0"), (1, "", "1.0"), (3, "0.97", "1.0"))
    assert changes(points) == [(3, AGREE, SILENT)]


def test_a_run_resumes_from_the_last_recorded_transition_and_ignores_readings_before_it() -> None:
    points = readings((0, "0.97", "1.0"), (3, "0.97", "1.0"), (5, "1.0", "1.0"))
    first = changes(points[:2])
    assert first == [(3, AGREE, SILENT)]
    # a later load inserts a calm reading before the recorded silence: nothing already paged is rewritten
    inserted = sorted([*points, *readings((2, "1.0", "1.0"))], key=lambda r: r.priced_at)
    resumed = changes(inserted, MarketState(SILENT, T0 + timedelta(minutes=3)))
    assert resumed == [(5, SILENT, AGREE)]


def test_a_resumed_silence_turns_divergent_on_a_round_served_after_it_was_found() -> None:
    points = readings((4, "0.97", "1.0"), (6, "0.97", "0.99", 5))
    assert changes(points, MarketState(SILENT, T0 + timedelta(minutes=3))) == [(6, SILENT, DIVERGENT)]


def test_a_thin_market_is_reported_once_each_way() -> None:
    points = readings((0, "1.0", "1.0"), (1, "", "1.0"), (2, "", "1.0"), (3, "1.0", "1.0"))
    found = market_depth(FEED, points)
    assert [(t.kind, t.from_status, t.to_status) for t in found] == [
        (MARKET_DEPTH, DEEP, THIN),
        (MARKET_DEPTH, THIN, DEEP),
    ]
    assert found[0].market_price is None and found[0].depth_usd == 0
    assert market_depth(FEED, points, MarketState(THIN, T0 + timedelta(minutes=1))) == found[1:]
    assert all(
        t.kind == ORACLE_VS_MARKET
        for t in oracle_vs_market(FEED, readings((0, "0.9", "1"), (5, "0.9", "1")), BAND, SILENT_AFTER)
    )


def test_a_market_transition_found_over_an_hour_late_is_recorded_not_paged() -> None:
    """The daily DAG's hourly readings go in between the live ones hours later: what they draw is
    kept as a record, never paged; a peg transition keeps the alerts' 26 h."""
    from peg_alerts.operators import PegAlertOperator

    operator = PegAlertOperator(task_id="peg_alerts")
    late = oracle_vs_market(FEED, readings((0, "0.97", "1.0"), (4, "0.97", "1.0")), BAND, SILENT_AFTER)[0]
    now = late.occurred_at + timedelta(minutes=61)
    assert operator.suppression(late, False, now) == "a market reading older than 1:00:00 when recorded"
    assert operator.suppression(late, False, late.occurred_at + timedelta(minutes=5)) is None
    peg = replace(late, kind="peg_status")
    assert operator.suppression(peg, False, now) is None
