"""Windows read from the local node equal the replayer's ground truth exactly."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from chainlink_feeds.hooks import ChainlinkHook
from chainlink_feeds.reader import FeedReader, PhaseRangeCache
from devstack import history

DAY = timedelta(days=1)


def midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def as_tuples(rounds) -> list[tuple[int, int, int, int]]:
    return [(r.round_id, r.answer, r.started_at, r.updated_at) for r in rounds]


def read_day(feed, start: datetime, cache: PhaseRangeCache | None = None):
    hook = ChainlinkHook()
    return FeedReader(hook, feed, cache).read(start, start + DAY), hook.requests_made


def check_against_truth(feed, truth_rounds, start: datetime, cache=None):
    result, requests = read_day(feed, start, cache)
    assert as_tuples(result.rounds) == as_tuples(history.rounds_in_window(truth_rounds, start, start + DAY))
    expected_carry = history.carry_in(truth_rounds, start)
    assert (result.carry_in.round_id if result.carry_in else None) == (
        expected_carry.round_id if expected_carry else None
    )
    return result, requests


def windows(stack, truth) -> dict[str, tuple[str, datetime]]:
    usdc = truth["USDC/USD"]
    single = next(
        day
        for day in (stack.start + DAY * i for i in range(5, 150))
        if len(history.rounds_in_window(usdc, day, day + DAY)) == 1
    )
    return {
        "ordinary day": ("DAI/USD", stack.start + DAY * 60),
        "single heartbeat update": ("USDC/USD", single),
        "phase change": ("USDC/USD", midnight(stack.phase_change_at)),
        "depeg": ("USDC/USD", midnight(stack.depeg_start)),
        "depeg in sympathy": ("DAI/USD", midnight(stack.depeg_start) + DAY),
        "after the stale gap": ("USDT/USD", midnight(stack.stale_window[1])),
        "before the feed existed": ("USDT/USD", stack.start - DAY * 3),
        "after the last round": ("USDT/USD", stack.end + DAY),
    }


@pytest.mark.parametrize(
    "case",
    [
        "ordinary day",
        "single heartbeat update",
        "phase change",
        "depeg",
        "depeg in sympathy",
        "after the stale gap",
        "before the feed existed",
        "after the last round",
    ],
)
def test_window_equals_ground_truth(case, stack, truth, feed_by_pair) -> None:
    pair, start = windows(stack, truth)[case]
    result, requests = check_against_truth(feed_by_pair[pair], truth[pair], start)
    if case == "phase change":
        assert {r.phase_id for r in result.rounds} == {1, 2} and result.phases == [2, 1]
    if case == "single heartbeat update":
        assert len(result.rounds) == 1
    if case == "depeg":
        assert len(result.rounds) > 20 and min(r.answer for r in result.rounds) < 0.92e8
    if case == "before the feed existed":
        assert result.rounds == [] and result.carry_in is None
    assert requests <= 12


def test_every_day_of_one_feed_matches_and_stays_cheap(stack, truth, feed_by_pair) -> None:
    """Walk USDC day by day across both phases; closed phase ranges come from the cache after once."""
    cache = PhaseRangeCache()
    total = 0
    days = 0
    for i in range(-1, 201, 3):
        _, requests = check_against_truth(feed_by_pair["USDC/USD"], truth["USDC/USD"], stack.start + DAY * i, cache)
        total += requests
        days += 1
    assert total / days <= 4


def test_phase_cache_persists_closed_phases(tmp_path, stack, truth, feed_by_pair) -> None:
    path = tmp_path / "phases.json"
    start = midnight(stack.phase_change_at)
    check_against_truth(feed_by_pair["USDC/USD"], truth["USDC/USD"], start, PhaseRangeCache(path))
    (entry,) = PhaseRangeCache(path)._data.values()
    phase_one = [r for r in truth["USDC/USD"] if r.phase == 1]
    assert entry["last_round"] == phase_one[-1].aggregator_round
    assert entry["last_updated_at"] == phase_one[-1].updated_at
    _, cold = read_day(feed_by_pair["USDC/USD"], start - DAY * 30, PhaseRangeCache())
    _, warm = read_day(feed_by_pair["USDC/USD"], start - DAY * 30, PhaseRangeCache(path))
    assert warm < cold


def test_empty_window_is_refused(stack, feed_by_pair) -> None:
    with pytest.raises(ValueError, match="empty window"):
        FeedReader(ChainlinkHook(), feed_by_pair["USDC/USD"]).read(stack.end, stack.end)
