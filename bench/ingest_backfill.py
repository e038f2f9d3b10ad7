"""Benchmark: backfills through the ChainlinkFeedOperator's reader, counted in RPC work.

1. The simulated history: a 180-day backfill of every feed from the local stack's node. Prints HTTP
   requests per feed-day (goal: <= 4 on average) and rounds per second, and the same figures for a
   naive walk-back from the latest round (one getRoundData request per round), measured on a sample
   of days because it is slow.
2. The recorded mainnet history (`--recorded`, ../shared/data/chainlink-recorded): every UTC day of
   USDC/USD and USDT/USD from 2021-02-16 to 2022-11-15, replayed onto a scratch node with Multicall3
   (as on mainnet) and a phase switch in the overlap. Prints HTTP requests and JSON-RPC calls per
   feed-day, with the phase-switch search (cold cache, first day) and without it, and the heartbeat
   misses on the served series with and without the grace.

Run with the local stack up: `make stack-up && .venv/bin/python bench/ingest_backfill.py [--recorded]`
(`--recorded` runs part 2 instead of part 1). `--smoke` runs the same at its smallest, to see that it
still runs: part 1 on 1 day with a naive sample of 1 day; part 2 on the rounds up to a few days read
back (the first two, cold cache included, and each feed's phase-switch day and the day after).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "plugins"), str(Path(__file__).resolve().parents[1])]

from eth_utils import function_signature_to_4byte_selector  # noqa: E402

from devstack.cluster.airflow_env import airflow_env  # noqa: E402

os.environ.update(airflow_env())

from chainlink_feeds.abi import MULTICALL3_ADDRESS, PROXY  # noqa: E402
from chainlink_feeds.hooks import ChainlinkHook  # noqa: E402
from chainlink_feeds.phases import PhaseCache  # noqa: E402
from chainlink_feeds.reader import FeedReader  # noqa: E402
from chainlink_feeds.registry import load_registry  # noqa: E402
from chainlink_feeds.rounds import Round, proxy_round_id, split_round_id, validate  # noqa: E402
from devstack.chain import contracts, stack_history  # noqa: E402
from devstack.chain.node import start_node, stop_node  # noqa: E402
from devstack.chain.replay import replay_many  # noqa: E402
from devstack.chain.rpc import Rpc  # noqa: E402
from devstack.simulation import recorded  # noqa: E402

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
        phase, number = split_round_id(round_id)
        if number == 0:
            if phase <= 1:
                break
            (agg,) = hook.call_many([(feed.proxy, PROXY["phaseAggregators"].encode(phase - 1))], block)
            (last,) = hook.call_many([(PROXY["phaseAggregators"].decode(agg)[0], LATEST_ROUND)], block)
            round_id = proxy_round_id(phase - 1, int.from_bytes(last, "big"))
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


RECORDED_SWITCH_AT = {
    "USDC/USD": datetime(2021, 6, 15, 13, 37, 11, tzinfo=UTC),
    "USDT/USD": datetime(2021, 9, 2, 7, 45, 30, tzinfo=UTC),
}
RECORDED_PORT = int(os.environ.get("PEG_BENCH_ANVIL_PORT", "8547"))


RECORDED_FIRST, RECORDED_LAST = datetime(2021, 2, 16, tzinfo=UTC), datetime(2022, 11, 16, tzinfo=UTC)


def recorded_days(smoke: bool) -> list[datetime]:
    """The UTC days read back: every recorded one, or in smoke mode the first two (the cold cache's
    phase-switch search) and each feed's switch day and the day after (the overlap)."""
    if not smoke:
        return [RECORDED_FIRST + DAY * i for i in range((RECORDED_LAST - RECORDED_FIRST) // DAY)]
    switch_days = [at.replace(hour=0, minute=0, second=0) for at in RECORDED_SWITCH_AT.values()]
    return sorted({RECORDED_FIRST, RECORDED_FIRST + DAY, *switch_days, *(d + DAY for d in switch_days)})


def recorded_backfill(smoke: bool = False) -> None:
    """The recorded mainnet rounds up to the last day read, read back day by day from a scratch node."""
    logging.getLogger("chainlink_feeds").setLevel(logging.WARNING)  # one line per day would bury the table
    feeds = {f.pair: f for f in load_registry() if f.chain == "ethereum" and f.pair in RECORDED_SWITCH_AT}
    days_read = recorded_days(smoke)
    until = (days_read[-1] + DAY).timestamp()  # the chain as it was at the end of the last day read
    name = f"anvil-bench-{RECORDED_PORT}"
    stop_node(name)
    start_node(name=name, port=RECORDED_PORT)
    try:
        rpc = Rpc(f"http://127.0.0.1:{RECORDED_PORT}")
        rpc.call("anvil_setCode", MULTICALL3_ADDRESS, contracts.build()["Multicall3"]["deployedBytecode"])
        plans = {
            feeds[p]: [
                dataclasses.replace(phase, rounds=tuple(r for r in phase.rounds if r.updated_at < until))
                for phase in recorded.plan(p, int(at.timestamp()))
            ]
            for p, at in RECORDED_SWITCH_AT.items()
        }
        started = time.perf_counter()
        replay_many(rpc, plans, deployed_at=recorded.DEPLOYED_AT)
        replayed = sum(len(phase.rounds) for phases in plans.values() for phase in phases)
        print(
            f"{replayed} recorded mainnet rounds up to {days_read[-1].date()} replayed onto a scratch node "
            f"in {time.perf_counter() - started:.1f} s; {len(days_read)} days read back"
        )
        os.environ["AIRFLOW_CONN_CHAINLINK_BENCH"] = json.dumps({"conn_type": "chainlink", "host": rpc.url})
        print(
            f"{'feed':10} {'feed-days':>9} {'req/day':>8} {'calls/day':>9} {'1st day req':>11} {'1st day calls':>13} "
            f"{'served':>6} {'never served':>12} {'timed out':>9} {'misses':>6} {'strict':>6} {'late hb':>7}"
        )
        totals = [0, 0, 0]
        for pair, feed in feeds.items():
            cache, days = PhaseCache(), 0
            requests = calls = 0
            first_requests = first_calls = 0
            served = never = timed_out = misses = strict = late = 0
            for day in days_read:
                hook = ChainlinkHook(chainlink_conn_id="chainlink_bench")
                read = FeedReader(hook, feed, cache).read(day, day + DAY)
                accepted, _ = validate(read.rounds, read.carry_in, feed.heartbeat_limit_seconds)
                if days == 0:
                    first_requests, first_calls = hook.requests_made, hook.calls_made
                requests, calls, days = requests + hook.requests_made, calls + hook.calls_made, days + 1
                served += len(read.rounds)
                never += sum(r.reason.startswith("never served") for r in read.unserved)
                timed_out += sum(r.reason.startswith("timed out") for r in read.unserved)
                window_rounds = [
                    a for a in accepted if a.seconds_since_previous is not None and a.served_from >= day.timestamp()
                ]
                misses += sum(a.is_heartbeat_exceeded for a in window_rounds)
                strict += sum(a.seconds_since_previous > feed.heartbeat_seconds for a in window_rounds)
                late += sum(0 < a.seconds_since_previous - feed.heartbeat_seconds <= 600 for a in window_rounds)
            print(
                f"{pair:10} {days:9d} {requests / days:8.2f} {calls / days:9.2f} {first_requests:11d} {first_calls:13d} "
                f"{served:6d} {never:12d} {timed_out:9d} {misses:6d} {strict:6d} {late:7d}"
            )
            totals = [totals[0] + requests, totals[1] + calls, totals[2] + days]
        print(
            f"average per feed-day, switch search included: {totals[0] / totals[2]:.2f} HTTP requests, "
            f"{totals[1] / totals[2]:.2f} JSON-RPC calls"
        )
        print(
            "misses: gaps on the served series > heartbeat + grace; strict: > heartbeat; "
            "late hb: heartbeat updates 1-600 s after the heartbeat"
        )
    finally:
        stop_node(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--naive-sample", type=int, default=4, help="days per feed measured with the naive walk-back")
    parser.add_argument("--recorded", action="store_true", help="backfill the recorded mainnet history instead")
    parser.add_argument("--smoke", action="store_true", help="the smallest run of the same: does it still run?")
    args = parser.parse_args()
    if args.recorded:
        recorded_backfill(args.smoke)
        return
    if args.smoke:
        args.days, args.naive_sample = 1, 1
    scenario = stack_history.scenario()
    feeds = [
        f for f in load_registry() if f.chain == "ethereum"
    ]  # the stack's Ethereum node, read as chainlink_ethereum
    first_day = scenario.end - DAY * args.days
    try:
        stack_history.check_held(scenario, first_day, f"{args.days} days")
    except ValueError as exc:
        parser.error(str(exc))
    print(f"backfill of {args.days} days x {len(feeds)} feeds from {first_day.date()} on the local node")
    print(
        f"{'feed':10} {'feed-days':>9} {'requests':>9} {'req/day':>8} {'rounds':>7} {'rounds/s':>9} | naive req/day  naive rounds/s"
    )
    total_requests = total_days = 0
    for feed in feeds:
        cache = PhaseCache()
        requests = rounds = 0
        started = time.perf_counter()
        for i in range(args.days):
            day = first_day + DAY * i
            hook = ChainlinkHook()
            read = FeedReader(hook, feed, cache).read(day, day + DAY)
            validate(read.rounds, read.carry_in, feed.heartbeat_limit_seconds)
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
