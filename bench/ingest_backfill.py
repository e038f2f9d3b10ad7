"""Benchmark: a 180-day backfill of every feed's rounds from the local node.

Prints RPC HTTP requests per feed-day (goal: <= 4 on average) and rounds per second for the
ChainlinkFeedOperator's reader, and the same figures for a naive walk-back from the latest round
(one getRoundData request per round), measured on a sample of days because it is slow.

Run with the local stack up: `make stack-up && .venv/bin/python bench/ingest_backfill.py`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "plugins"), str(Path(__file__).resolve().parents[1])]

from eth_utils import function_signature_to_4byte_selector  # noqa: E402

from devstack.airflow_env import airflow_env  # noqa: E402

os.environ.update(airflow_env())

from chainlink_feeds.abi import PROXY  # noqa: E402
from chainlink_feeds.hooks import ChainlinkHook  # noqa: E402
from chainlink_feeds.reader import FeedReader, PhaseRangeCache  # noqa: E402
from chainlink_feeds.registry import load_registry  # noqa: E402
from chainlink_feeds.rounds import Round, validate  # noqa: E402
from devstack import chain  # noqa: E402

DAY = timedelta(days=1)


LATEST_ROUND = function_signature_to_4byte_selector("latestRound()")


def naive_walk_back(feed, start, end) -> tuple[int, int]:
    """Walk back one round per request from the latest until before `start`: (requests, rounds in window).

    At the start of a phase it asks the previous phase's aggregator for its latest round.
    """
    hook = ChainlinkHook()
    block = hook.pinned_block()
    (latest_data,) = hook.call_many([(feed.proxy, PROXY["latestRoundData"].encode())], block)
    round_id = PROXY["latestRoundData"].decode(latest_data)[0]
    in_window = 0
    while True:
        phase, number = round_id >> 64, round_id & ((1 << 64) - 1)
        if number == 0:
            if phase <= 1:
                break
            (agg,) = hook.call_many([(feed.proxy, PROXY["phaseAggregators"].encode(phase - 1))], block)
            (last,) = hook.call_many([(PROXY["phaseAggregators"].decode(agg)[0], LATEST_ROUND)], block)
            round_id = ((phase - 1) << 64) | int.from_bytes(last, "big")
            continue
        (data,) = hook.call_many([(feed.proxy, PROXY["getRoundData"].encode(round_id))], block)
        r = Round(*PROXY["getRoundData"].decode(data)) if data else None
        if r is None or not r.exists:
            break
        if r.updated_at < start.timestamp():
            break
        in_window += start.timestamp() <= r.updated_at < end.timestamp()
        round_id -= 1
    return hook.requests_made, in_window


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--naive-sample", type=int, default=4, help="days per feed measured with the naive walk-back")
    args = parser.parse_args()
    scenario = chain.scenario()
    feeds = load_registry()
    first_day = scenario.end - DAY * args.days
    print(f"backfill of {args.days} days x {len(feeds)} feeds from {first_day.date()} on the local node")
    print(
        f"{'feed':10} {'feed-days':>9} {'requests':>9} {'req/day':>8} {'rounds':>7} {'rounds/s':>9} | naive req/day  naive rounds/s"
    )
    total_requests = total_days = 0
    for feed in feeds:
        cache = PhaseRangeCache()
        requests = rounds = 0
        started = time.perf_counter()
        for i in range(args.days):
            day = first_day + DAY * i
            hook = ChainlinkHook()
            read = FeedReader(hook, feed, cache).read(day, day + DAY)
            validate(read.rounds, read.carry_in, feed.heartbeat_seconds)
            requests += hook.requests_made
            rounds += len(read.rounds)
        elapsed = time.perf_counter() - started
        sample = [first_day + DAY * (i * args.days // args.naive_sample) for i in range(args.naive_sample)]
        naive_started = time.perf_counter()
        naive = [naive_walk_back(feed, day, day + DAY) for day in sample]
        naive_elapsed = time.perf_counter() - naive_started
        naive_requests = sum(n for n, _ in naive) / len(naive)
        naive_rate = sum(r for _, r in naive) / naive_elapsed
        print(
            f"{feed.pair:10} {args.days:9d} {requests:9d} {requests / args.days:8.2f} {rounds:7d} {rounds / elapsed:9.1f} |"
            f" {naive_requests:13.1f} {naive_rate:15.1f}"
        )
        total_requests += requests
        total_days += args.days
    print(f"average RPC requests per feed-day: {total_requests / total_days:.2f} (goal <= 4)")


if __name__ == "__main__":
    main()
