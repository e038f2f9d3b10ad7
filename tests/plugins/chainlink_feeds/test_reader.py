"""Windows read from the local node equal the simulation's served ground truth exactly."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from chainlink_feeds.hooks import ChainlinkHook
from chainlink_feeds.phases import PhaseCache
from chainlink_feeds.reader import FeedReader
from devstack.simulation import history
from tests.support.live_rounds import with_live_rounds

DAY = timedelta(days=1)


def midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def as_tuples(served) -> list[tuple[int, int, int, int, int]]:
    return [(s.round.round_id, s.round.answer, s.round.started_at, s.round.updated_at, s.served_from) for s in served]


def read_day(feed, start: datetime, cache: PhaseCache | None = None):
    hook = ChainlinkHook()
    return FeedReader(hook, feed, cache).read(start, start + DAY), hook.requests_made


def check_against_truth(feed, truth_served, start: datetime, cache=None, stack=None):
    result, requests = read_day(feed, start, cache)
    assert as_tuples(result.rounds) == as_tuples(history.rounds_in_window(truth_served, start, start + DAY))
    expected_carry = history.carry_in(truth_served, start)
    assert as_tuples([result.carry_in] if result.carry_in else []) == as_tuples(
        [expected_carry] if expected_carry else []
    )
    if stack is not None:
        phases = history.phases(feed, stack)
        lo, hi = start.timestamp(), (start + DAY).timestamp()
        not_prices = history.never_served(phases) + [r for p in phases for r in p.rounds if r.is_timed_out]
        assert sorted(r.round.round_id for r in result.unserved) == sorted(
            r.round_id for r in not_prices if lo <= r.updated_at < hi
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
    served = with_live_rounds(feed_by_pair[pair], truth[pair])  # "after the last round" reaches past the history
    result, requests = check_against_truth(feed_by_pair[pair], served, start, stack=stack)
    if case == "phase change":
        assert {s.round.phase_id for s in result.rounds} == {1, 2} and result.phases == [2, 1]
        switch = int(stack.phase_change_at.timestamp())
        first_served = next(s for s in result.rounds if s.round.phase_id == 2)
        assert first_served.served_from == switch > first_served.round.updated_at
        assert result.unserved and {r.reason.split(":")[0] for r in result.unserved} <= {"never served", "timed out"}
    if case == "single heartbeat update":
        assert len(result.rounds) == 1
    if case == "depeg":
        assert len(result.rounds) > 20 and min(s.round.answer for s in result.rounds) < 0.92e8
    if case == "before the feed existed":
        assert result.rounds == [] and result.carry_in is None
    # a cold cache: the switch search (about 5 rounds of a request each per switch range; its past-block
    # reads: tests/plugins/chainlink_feeds/test_phases.py) and the closed phase's range included
    assert requests <= 28


def test_every_day_of_one_feed_matches_and_stays_cheap(stack, truth, feed_by_pair) -> None:
    """Walk USDC day by day across both phases; switches and closed phase ranges come from the cache after once."""
    cache = PhaseCache()
    total = 0
    days = 0
    served = with_live_rounds(feed_by_pair["USDC/USD"], truth["USDC/USD"])  # the last day reaches past the history
    for i in range(-1, 201, 3):
        _, requests = check_against_truth(feed_by_pair["USDC/USD"], served, stack.start + DAY * i, cache, stack=stack)
        total += requests
        days += 1
    assert total / days <= 4


def test_phase_cache_persists_switches_and_closed_phases(tmp_path, stack, truth, feed_by_pair) -> None:
    path = tmp_path / "phases.json"
    start = midnight(stack.phase_change_at)
    check_against_truth(feed_by_pair["USDC/USD"], truth["USDC/USD"], start, PhaseCache(path))
    entries = PhaseCache(path)._data
    (closed,) = [v for k, v in entries.items() if k.startswith("range:")]
    phase_one = history.phases(feed_by_pair["USDC/USD"], stack)[0].rounds
    assert closed["last_round"] == phase_one[-1].aggregator_round
    assert closed["last_updated_at"] == phase_one[-1].updated_at
    switches = {v["phase_id"]: v["timestamp"] for k, v in entries.items() if k.startswith("activation:")}
    assert switches[2] == int(stack.phase_change_at.timestamp())
    _, cold = read_day(feed_by_pair["USDC/USD"], start - DAY * 30, PhaseCache())
    _, warm = read_day(feed_by_pair["USDC/USD"], start - DAY * 30, PhaseCache(path))
    assert warm + 3 <= cold


def test_empty_window_is_refused(stack, feed_by_pair) -> None:
    with pytest.raises(ValueError, match="empty window"):
        FeedReader(ChainlinkHook(), feed_by_pair["USDC/USD"]).read(stack.end, stack.end)
