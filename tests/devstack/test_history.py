"""The simulated history follows Chainlink's heartbeat/deviation rule and holds the scripted episodes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from devstack import history

HEARTBEAT_SLACK = history.TICK_SECONDS + 60  # an update fires in the tick before the heartbeat expires


def test_every_feed_covers_at_least_180_days(truth, stack) -> None:
    assert history.HISTORY_DAYS >= 180
    for pair, rounds in truth.items():
        assert rounds[0].updated_at < (stack.start + timedelta(days=1)).timestamp(), pair
        assert rounds[-1].updated_at >= (stack.end - timedelta(days=2)).timestamp(), pair


def test_each_round_is_triggered_by_deviation_or_heartbeat(truth, feed_by_pair) -> None:
    for pair, rounds in truth.items():
        feed = feed_by_pair[pair]
        threshold = float(feed.deviation_threshold_pct) / 100
        for before, after in zip(rounds, rounds[1:], strict=False):
            moved = abs(after.answer - before.answer) / before.answer >= threshold
            heartbeat = after.updated_at - before.updated_at >= feed.heartbeat_seconds - HEARTBEAT_SLACK
            new_phase = after.phase != before.phase
            assert moved or heartbeat or new_phase, (pair, before, after)


def test_the_market_never_moves_past_the_threshold_without_an_update(truth, feed_by_pair, stack) -> None:
    for pair, rounds in truth.items():
        feed = feed_by_pair[pair]
        threshold = float(feed.deviation_threshold_pct) / 100
        published = {r.updated_at - r.updated_at % history.TICK_SECONDS: r for r in rounds}
        stale_from, stale_until = (t.timestamp() for t in stack.stale_window)
        last = None
        for tick, price in history.market_path(feed, stack):
            if pair == history.STALE_PAIR and stale_from <= tick < stale_until:
                continue
            if tick in published:
                last = published[tick].answer
                continue
            if last is not None:
                assert abs(round(price * 10**feed.decimals) - last) / last < threshold, (pair, tick)


def test_exactly_one_stale_gap_on_the_stale_feed(truth, feed_by_pair) -> None:
    for pair, rounds in truth.items():
        heartbeat = feed_by_pair[pair].heartbeat_seconds
        gaps = [b.updated_at - a.updated_at for a, b in zip(rounds, rounds[1:], strict=False)]
        stale = [g for g in gaps if g > heartbeat]
        assert len(stale) == (1 if pair == history.STALE_PAIR else 0), pair


def test_depeg_is_shaped_like_march_2023(truth, stack) -> None:
    rounds = truth[history.DEPEG_PAIR]
    low = min(rounds, key=lambda r: r.answer)
    assert 0.87 <= low.answer / 1e8 <= 0.89
    start = stack.depeg_start.timestamp()
    assert start < low.updated_at < start + 36 * 3600
    off_peg = [r for r in rounds if r.answer < 0.99e8]
    duration = off_peg[-1].updated_at - off_peg[0].updated_at
    assert 2 * 86400 <= duration <= 4 * 86400
    assert len([r for r in rounds if start <= r.updated_at < start + 86400]) > 20


def test_phase_change_in_the_middle_of_a_utc_day(truth, stack) -> None:
    rounds = truth[history.PHASE_CHANGE_PAIR]
    first_new = next(r for r in rounds if r.phase == 2)
    assert first_new.aggregator_round == 1
    moment = first_new.updated_at_utc
    assert moment == stack.phase_change_at and 6 <= moment.hour <= 18
    same_day = [r for r in rounds if r.updated_at_utc.date() == moment.date()]
    assert {r.phase for r in same_day} == {1, 2}


def test_history_is_deterministic(feeds) -> None:
    scenario = history.Scenario(datetime(2026, 1, 1, tzinfo=UTC))
    assert history.simulate(feeds[0], scenario) == history.simulate(feeds[0], scenario)


def test_history_end_must_be_a_utc_midnight() -> None:
    import pytest

    with pytest.raises(ValueError, match="UTC midnight"):
        history.Scenario(datetime(2026, 1, 1, 5, tzinfo=UTC))
