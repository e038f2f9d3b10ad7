"""Benchmark: seconds from a round's block to the dashboard and to the on-call, on the live demo stack.

Watches the local oracle's new rounds and measures, per round, the time from its on-chain time
(updatedAt, the block's timestamp) until
(a) the dashboard's `/api/freshness` serves it (the feed's `last_updated_at` reaches it), and
(b) an alert it caused arrives at the demo's inbox (`devstack.services.alert_receiver`).

Two phases, one after the other:
* calm: the market stays on peg; small moves (within the warning band, so nobody is paged) make the
  oracle publish deviation rounds every couple of minutes, on top of its heartbeat rounds;
* depeg: a live depeg of `--pair` to 0.97 and back, ramped so the oracle publishes about a round a
  minute; the status changes (healthy -> warning -> critical and back) are paged;
* market: `--pair`'s market to 0.97 and back with its oracle frozen (`--oracle-frozen`): only the
  pools move. Per Swap of the stablecoin pools, the time from its block until the raw table
  MARKET_POOL_SWAPS holds it, and until the dashboard shows it (`/api/freshness`'s `market_as_of`
  reaches its block's time for every feed its pool prices: the Market vs Oracle page's last point
  includes it; goal p95 <= 30 s); the swaps that moved their pool by the trigger's step (25 bps) are the
  ones that start a run, the others ride along with the next one. And the time from the market
  crossing the feed's divergence limit (the first swap of the USDC/USDT pool that far from 1:1,
  the oracle frozen near 1.00) to the SILENT ORACLE page at the inbox (goal: 5 minutes).

Then it prints p50/p95 per phase (goal: p95 <= 120 s; the monitors people use take 5-15 minutes), the
near-real-time DAG's runs in the window (how many, how long, how long its ingest and alert tasks
took), and the warehouse statements one run issues (measured in this process on a scratch schema).

Run on the demo stack (`make demo`, which starts the oracle, the inbox and the near-real-time DAG):
`.venv/bin/python bench/realtime_latency.py [--calm-minutes 10] [--depeg-minutes 30] [--market-minutes 10]`.

`--smoke` (what the test suite runs, to see that it still runs) is `--warehouse-only`: only the
warehouse statements of one run, on a scratch schema with an inbox of its own, which need the local
stack (node and emulator) but not the demo. Everything else here watches the live demo (its oracle,
dashboard, inbox and Airflow) and is not smoke-tested: a smoke run of it would need the demo, or a
cluster, oracle and dashboard of its own, which tests/e2e/test_realtime.py already starts. The
alert part counts a paging run's claim and release; it sends and marks only the transitions the
chain's last day holds (none on a calm stack).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "plugins"), str(Path(__file__).resolve().parents[1])]

import requests  # noqa: E402

from devstack.cluster.airflow_env import airflow_env  # noqa: E402

os.environ.update(airflow_env())

from devstack.oracle import service as oracle  # noqa: E402
from devstack.services import alert_receiver  # noqa: E402
from devstack.settings import AIRFLOW_PORT, DASHBOARD_URL  # noqa: E402

REALTIME_DAG = "stablecoin_peg_realtime"
SINCE = re.compile(r"Since: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC")


@dataclass
class Seen:
    """One round the oracle published, and when the dashboard and the inbox first showed it."""

    pair: str
    round_id: str
    on_chain: datetime
    phase: str
    on_dashboard: datetime | None = None


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _get(url: str) -> dict | list:
    answer = requests.get(url, timeout=10)
    answer.raise_for_status()
    return answer.json()


def watch(seconds: float, phase: str, rounds: dict[tuple[str, str], Seen]) -> None:
    """Poll the oracle and the dashboard every second for `seconds`, recording new rounds and when
    the dashboard first served each."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = datetime.now(UTC)
        for pair, last in _get(f"http://{oracle.HOST}:{oracle.PORT}/status")["feeds"].items():
            if last["round_id"] and (pair, last["round_id"]) not in rounds:
                rounds[pair, last["round_id"]] = Seen(pair, last["round_id"], _utc(last["updated_at"]), phase)
        served = {f["feed_pair"]: f["last_updated_at"] for f in _get(f"{DASHBOARD_URL}/api/freshness")["feeds"]}
        for seen in rounds.values():
            last_served = served.get(seen.pair)
            if seen.on_dashboard is None and last_served and _utc(last_served) >= seen.on_chain:
                seen.on_dashboard = now
        time.sleep(1)


def alert_latencies(since: datetime, until: datetime | None = None) -> list[float]:
    """Seconds from the causing round's served time to arrival, for peg alerts received in [since, until)."""
    latencies = []
    for alert in _get(f"{alert_receiver.URL}/alerts"):
        received = _utc(alert["received_at"])
        body = alert["body"] if isinstance(alert["body"], dict) else {}
        match = SINCE.search(body.get("message", ""))
        if received >= since and (until is None or received < until) and match and "Round: " in body["message"]:
            caused = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            latencies.append((received - caused).total_seconds())
    return latencies


def percentiles(values: list[float]) -> str:
    if not values:
        return "no samples"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"n={len(values)}  p50 {statistics.median(ordered):6.1f} s  p95 {p95:6.1f} s  max {ordered[-1]:6.1f} s"


def dag_runs(since: datetime) -> None:
    """The near-real-time DAG's runs since `since`: count, run types and durations of runs and tasks."""
    api = f"http://127.0.0.1:{AIRFLOW_PORT}/api/v2/dags/{REALTIME_DAG}"
    runs = [
        r
        for r in _get(f"{api}/dagRuns?limit=1000&order_by=-run_after")["dag_runs"]
        if r["end_date"] and _utc(r["run_after"]) >= since
    ]
    kinds = {k: sum(r["run_type"] == k for r in runs) for k in {r["run_type"] for r in runs}}
    durations = [(_utc(r["end_date"]) - _utc(r["start_date"])).total_seconds() for r in runs if r["start_date"]]
    print(f"  runs: {len(runs)} {kinds}; run duration {percentiles(durations)}")
    tasks: dict[str, list[float]] = {}
    for r in runs:
        for ti in _get(f"{api}/dagRuns/{r['dag_run_id']}/taskInstances")["task_instances"]:
            if ti["duration"] is not None:
                tasks.setdefault("ingest_*" if ti["task_id"].startswith("ingest_") else ti["task_id"], []).append(
                    ti["duration"]
                )
    for task, values in sorted(tasks.items()):
        print(f"  task {task:12} {percentiles(values)}")


@dataclass
class SwapSeen:
    """One Swap of a watched pool: its block's time, how far it moved the pool, when the raw table
    held it and when the dashboard showed it."""

    on_chain: datetime
    ticks_moved: int
    pool: str
    tick: int
    stored: datetime | None = None
    on_dashboard: datetime | None = None


def watch_swaps(seconds: float, since_block: int, swaps: dict[tuple[int, int], SwapSeen]) -> None:
    """Poll the chain's Swap logs of the stablecoin pools, the raw table and the dashboard's
    `/api/freshness` every second for `seconds`."""
    import snowflake.connector

    from chainlink_feeds.registry import load_market
    from devstack.chain.rpc import Rpc
    from devstack.services import emulator
    from market_pools.abi import SWAP_TOPIC, decode_swap
    from peg_monitor import settings

    market = load_market()
    pools = [p.address for p in market.stable_pools("ethereum")]
    priced_by = {p.lower(): {s.feed for s in market.sources if s.pool.address == p} for p in pools}
    rpc, last_tick, caught_up = Rpc(), {}, set()
    started = datetime.now(UTC) - timedelta(seconds=5)
    deadline = time.monotonic() + seconds
    with snowflake.connector.connect(**emulator.connection_params()) as conn, conn.cursor() as cur:
        while time.monotonic() < deadline:
            if int(rpc.call("eth_blockNumber"), 16) < since_block:  # nothing mined since the move yet
                time.sleep(1)
                continue
            logs = rpc.call("eth_getLogs", {"fromBlock": hex(since_block), "toBlock": "latest", "address": pools,
                                            "topics": [SWAP_TOPIC]})  # fmt: skip
            for log in logs:
                key = (int(log["blockNumber"], 16), int(log["logIndex"], 16))
                if key not in swaps and key not in caught_up:
                    tick = decode_swap(log["data"])[4]
                    block = rpc.call("eth_getBlockByNumber", log["blockNumber"], False)
                    at = datetime.fromtimestamp(int(block["timestamp"], 16), UTC)
                    moved = abs(tick - last_tick.get(log["address"].lower(), tick))
                    last_tick[log["address"].lower()] = tick
                    if at < started:  # the oracle catching up on past market steps: not a live swap
                        caught_up.add(key)
                        continue
                    swaps[key] = SwapSeen(at, moved, log["address"].lower(), tick)
            cur.execute(f"select block_number, log_index from {settings.raw_schema()}.MARKET_POOL_SWAPS "
                        f"where block_number >= {since_block}")  # fmt: skip
            now = datetime.now(UTC)
            for block, index in cur.fetchall():
                seen = swaps.get((int(block), int(index)))
                if seen and seen.stored is None:
                    seen.stored = now
            shown = {f["feed_pair"]: f.get("market_as_of") for f in _get(f"{DASHBOARD_URL}/api/freshness")["feeds"]}
            now = datetime.now(UTC)
            for seen in swaps.values():
                if seen.on_dashboard is None and all(
                    shown.get(feed) and _utc(shown[feed]) >= seen.on_chain for feed in priced_by[seen.pool]
                ):
                    seen.on_dashboard = now
            time.sleep(1)


USDC_USDT = "0x3416cf6c708da44db2624d63ea0aaef7113527c6"


def silent_oracle_latency(pair: str, swaps: dict[tuple[int, int], SwapSeen], since: datetime) -> None:
    """Print the time from the market crossing the feed's divergence limit (the first USDC/USDT swap
    at least the limit in ticks below 1:1; 1 tick is 1 bp) to the SILENT ORACLE page."""
    from chainlink_feeds.registry import load_registry

    feed = next(f for f in load_registry() if f.pair == pair)
    limit = feed.deviation_threshold_pct * 100 + feed.divergence_margin_bps
    crossings = sorted(s.on_chain for s in swaps.values() if s.pool == USDC_USDT and s.tick <= -limit)
    pages = sorted(
        _utc(a["received_at"])
        for a in _get(f"{alert_receiver.URL}/alerts")
        if isinstance(a["body"], dict) and a["body"].get("title", "").startswith(f"SILENT ORACLE {pair}")
        and _utc(a["received_at"]) >= since
    )  # fmt: skip
    if not crossings or not pages:
        print(f"  market crossing -> SILENT ORACLE page: crossings {len(crossings)}, pages {len(pages)} (no figure)")
        return
    seconds = (pages[0] - crossings[0]).total_seconds()
    print(f"  market crossing ({limit:g} bps) -> SILENT ORACLE page: {seconds:.0f} s, {len(pages)} page(s) "
          f"(goal <= 300 s; silent_oracle_minutes {feed.silent_oracle_minutes})")  # fmt: skip


def calm_moves(pair: str, minutes: float) -> None:
    """Small moves well inside the warning band (the walk's own noise comes on top), one every two
    minutes: deviation rounds (0.25 % apart), no alert."""
    for i in range(int(minutes // 2)):
        oracle.move(pair, "0.9985" if i % 2 == 0 else "1.0015", minutes=1.5)
        time.sleep(120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calm-minutes", type=float, default=10)
    parser.add_argument("--depeg-minutes", type=float, default=30)
    parser.add_argument("--market-minutes", type=float, default=10)
    parser.add_argument("--pair", default="USDC/USD", help="the feed to depeg")
    parser.add_argument("--calm-pair", default="USDT/USD", help="the feed moved within the warning band")
    parser.add_argument("--warehouse-only", action="store_true", help="only count one run's warehouse statements")
    parser.add_argument("--smoke", action="store_true", help="the part that needs no demo: --warehouse-only")
    args = parser.parse_args()
    rounds: dict[tuple[str, str], Seen] = {}
    start = datetime.now(UTC)
    if args.warehouse_only or args.smoke:
        warehouse_work()
        return
    print(f"calm phase: {args.calm_minutes:.0f} min, {args.calm_pair} moved within +-15 bps every 2 min", flush=True)
    watch(5, "baseline", rounds)  # the rounds already published are not measured
    baseline = set(rounds)
    mover = threading.Thread(target=calm_moves, args=(args.calm_pair, args.calm_minutes), daemon=True)
    mover.start()
    watch(args.calm_minutes * 60, "calm", rounds)
    depeg_start = datetime.now(UTC)
    if args.depeg_minutes:
        ramp = min(12.0, args.depeg_minutes / 3)
        print(
            f"depeg phase: {args.depeg_minutes:.0f} min, {args.pair} to 0.97 (ramp {ramp:.0f} min each way)", flush=True
        )
        oracle.move(args.pair, "0.97", minutes=args.depeg_minutes, ramp_minutes=ramp)  # the ramps are in the minutes
        watch(args.depeg_minutes * 60 + 120, "depeg", rounds)  # two minutes more for the last round to land
    swaps: dict[tuple[int, int], SwapSeen] = {}
    market_start = datetime.now(UTC)
    if args.market_minutes:
        from devstack.chain.rpc import Rpc

        ramp = min(3.0, args.market_minutes / 3)
        print(f"market phase: {args.market_minutes:.0f} min, {args.pair}'s market to 0.97 with its oracle frozen "
              f"(ramp {ramp:.0f} min each way)", flush=True)  # fmt: skip
        head = int(Rpc().call("eth_blockNumber"), 16)
        oracle.move(args.pair, "0.97", minutes=args.market_minutes, ramp_minutes=ramp, oracle_frozen=True)
        watch_swaps(args.market_minutes * 60 + 120, head + 1, swaps)

    print(f"\nrealtime latency on the live demo stack ({datetime.now(UTC) - start} of watching)")
    for phase in ("calm", "depeg"):
        measured = [s for key, s in rounds.items() if key not in baseline and s.phase == phase]
        latencies = [(s.on_dashboard - s.on_chain).total_seconds() for s in measured if s.on_dashboard]
        missing = sum(s.on_dashboard is None for s in measured)
        print(f"  {phase:5} round -> /api/freshness   {percentiles(latencies)}  (never served: {missing})")
    calm_alerts = len(alert_latencies(start)) - len(alert_latencies(depeg_start))
    print(f"  calm  alerts received: {calm_alerts} (moves stay inside the warning band: expected 0)")
    print(f"  depeg round -> alert           {percentiles(alert_latencies(depeg_start, market_start))}")
    if args.market_minutes:
        stepped = [s for s in swaps.values() if s.ticks_moved >= 25]
        for label, measured in (("swaps of a step", stepped), ("every swap", list(swaps.values()))):
            latencies = [(s.stored - s.on_chain).total_seconds() for s in measured if s.stored]
            missing = sum(s.stored is None for s in measured)
            print(f"  market {label:15} swap block -> raw table {percentiles(latencies)}  (not stored yet: {missing})")
            latencies = [(s.on_dashboard - s.on_chain).total_seconds() for s in measured if s.on_dashboard]
            missing = sum(s.on_dashboard is None for s in measured)
            print(f"  market {label:15} swap block -> dashboard {percentiles(latencies)}  (never shown: {missing})")
        silent_oracle_latency(args.pair, swaps, market_start)
    print("\nnear-real-time DAG in the window:")
    dag_runs(start - timedelta(seconds=5))
    warehouse_work()


def warehouse_work() -> None:
    """The statements one near-real-time run sends the warehouse, counted in this process: the ingest
    of every feed resuming after a day already loaded, then the alert evaluation of a paging run
    (record, claim, send to a receiver of its own on a free port, mark each sent)."""
    import json
    import shutil
    import tempfile
    import uuid
    from types import SimpleNamespace

    from snowflake.connector.cursor import SnowflakeCursor

    from chainlink_feeds.operators import ChainlinkFeedOperator
    from chainlink_feeds.registry import load_registry
    from peg_alerts.operators import PegAlertOperator
    from tests.support.pipeline import create_schema, drop_schemas

    schema, now = f"BENCH_RT_{uuid.uuid4().hex[:8].upper()}", datetime.now(UTC).replace(microsecond=0)
    feeds = load_registry()
    inbox = Path(tempfile.mkdtemp(prefix="bench_inbox_")) / "received.jsonl"
    receiver = alert_receiver.make_server(0, inbox)  # port 0: a free one
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    connections = {
        "AIRFLOW_CONN_APPRISE_DEFAULT": json.dumps(
            {
                "conn_type": "apprise",
                "extra": {"config": [{"path": alert_receiver.apprise_url(receiver.server_address[1])}]},
            }
        ),
        "AIRFLOW_CONN_DASHBOARD_DEFAULT": os.environ.get(
            "AIRFLOW_CONN_DASHBOARD_DEFAULT", json.dumps({"conn_type": "http", "host": DASHBOARD_URL})
        ),
    }
    saved = {name: os.environ.get(name) for name in connections}
    os.environ.update(connections)
    create_schema(schema)
    counted = {"statements": 0, "seconds": 0.0}
    execute = SnowflakeCursor.execute

    def counting(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return execute(self, *args, **kwargs)
        finally:
            counted["statements"] += 1
            counted["seconds"] += time.perf_counter() - started

    try:
        for feed in feeds:  # a day already loaded, not counted
            ChainlinkFeedOperator(
                task_id="setup", feed_pair=feed.pair, chain=feed.chain, raw_schema=schema,
                window_start=(now - timedelta(days=1, minutes=10)).isoformat(), window_end=(now - timedelta(minutes=10)).isoformat(),
            ).execute({"run_id": "bench_setup"})  # fmt: skip
        SnowflakeCursor.execute = counting
        started = time.perf_counter()
        for feed in feeds:
            ChainlinkFeedOperator(
                task_id="ingest", feed_pair=feed.pair, chain=feed.chain, raw_schema=schema,
                window_start=None, window_end=now.isoformat(),
            ).execute({"run_id": "bench_realtime"})  # fmt: skip
        ingest = dict(counted)
        live = SimpleNamespace(run_type="asset_triggered")  # not a backfill: claims, sends and marks
        summary = PegAlertOperator(task_id="alerts", raw_schema=schema, marts_schema=schema, use_outbox=False).execute(
            {"run_id": "bench_realtime", "dag_run": live}
        )
        elapsed = time.perf_counter() - started
    finally:
        SnowflakeCursor.execute = execute
        drop_schemas(schema)
        receiver.shutdown()
        receiver.server_close()
        received = len(alert_receiver.read_inbox(inbox))
        shutil.rmtree(inbox.parent, ignore_errors=True)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    alerts = {k: counted[k] - ingest[k] for k in counted}
    print(f"\nwarehouse work of one near-real-time run ({len(feeds)} feeds, measured on the emulator):")
    print(f"  ingest: {ingest['statements']} statements, {ingest['seconds']:.2f} s in the warehouse")
    print(
        f"  alerts: {alerts['statements']} statements, {alerts['seconds']:.2f} s in the warehouse "
        f"({summary['transitions']} transition(s), {summary['recorded']} recorded, {summary['sent']} sent; "
        f"{received} received)"
    )
    print(f"  whole run in this process: {elapsed:.2f} s")


if __name__ == "__main__":
    main()
