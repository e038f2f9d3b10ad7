"""Benchmark: backfilling months of every registry feed, the daily DAG's way and the history DAG's.

Both backfill the same whole months of the local stack's SIMULATED history (default the 2 before the
month just ended) through the REST call the UI's Backfill button makes, one after the other on one
Airflow of the shapes bench (`--shape`: `celery`, the deployment's, by default; `standalone`, whose
SQLite scheduler has died creating the daily DAG's backfill; 8 task slots, the pools at 4), each
from empty raw and marts schemas and a cold phase-switch cache:

1. `history`: stablecoin_peg_history, one run per calendar month, 2 at a time.
2. `daily`: stablecoin_peg_daily, one run per UTC day, 4 at a time, the same tasks.

Both build the marts once per backfill. For each it prints the runs, the tasks, the wall time
(backfill created -> last task end), feed-days per minute (the registry's feeds and the references
the pools are priced through, times the days), tasks per feed-day, and RPC requests and warehouse
statements per feed-day (what the ingest and market tasks counted, from their XComs); then the history DAG's feed-days per
minute over the daily DAG's, and whether the marts of the two are equal row for row. Below each row:
the median seconds of each loading task over its runs and the dbt task group's span, where the
time goes.

Run with the stack up and the manifest built (`make stack-up dbt-manifest`):
`.venv/bin/python bench/backfill_throughput.py [--months 2] [--daily-days N]`. `--daily-days`
measures the daily DAG on the last N days only (the daily way is the slow one); the marts are then
not compared. `--smoke` (the test suite's) is 1 month by the history DAG and its last day by the
daily DAG.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]

import pandas as pd  # noqa: E402
import requests  # noqa: E402

from bench.airflow_shapes import SHAPES, backfill_figures, booted  # noqa: E402 (sets up the Airflow env first)
from chainlink_feeds.registry import load_market, load_registry  # noqa: E402
from devstack.chain import stack_history  # noqa: E402
from devstack.cluster import rest  # noqa: E402
from tests.support.pipeline import MART_TABLES, create_schema, drop_pipeline, query  # noqa: E402

LOADS = ("ingest_", "market_")


def whole_months(end: datetime, months: int) -> tuple[datetime, datetime]:
    """The first days of the first and the last of `months` whole months, the last of them the one
    before the month just ended at `end` (unpausing the history DAG runs the month just ended as a
    scheduled run, not a backfill's; ending the DAGs before it starts none)."""
    last = end.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for _ in range(2):
        last = (last - timedelta(days=1)).replace(day=1)
    first = last
    for _ in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    return first, last


def load_counts(port: int, dag_id: str, tis: list[dict]) -> tuple[int, int]:
    """The RPC requests and warehouse statements the loading tasks counted (their XCom summaries)."""
    requests_made = statements = 0
    for ti in (t for t in tis if t["task_id"].startswith(LOADS) and t["state"] == "success"):
        url = (
            f"http://127.0.0.1:{port}/api/v2/dags/{dag_id}/dagRuns/{ti['dag_run_id']}/taskInstances/"
            f"{ti['task_id']}/xcomEntries/return_value"
        )
        answer = requests.get(url, params={"deserialize": True}, timeout=30)
        answer.raise_for_status()
        summary = answer.json()["value"]
        requests_made += int(summary.get("rpc_requests", 0))
        statements += int(summary.get("warehouse_statements", 0))
    return requests_made, statements


def task_medians(tis: list[dict]) -> str:
    """Each loading task's median seconds over its runs, and the dbt span, e.g. `ingest_ethereum 41 s`."""
    durations: dict[str, list[float]] = {}
    for ti in tis:
        if ti["task_id"].startswith(LOADS):
            durations.setdefault(ti["task_id"], []).append(float(ti["duration"] or 0))
    parts = [f"{task} {statistics.median(seconds):.0f} s" for task, seconds in sorted(durations.items())]
    return ", ".join(parts)


def marts_of(raw: str) -> dict[str, pd.DataFrame]:
    """Every mart's rows, in a stable order."""
    return {
        table: query(f"select * from {raw}_A_MARTS.{table} order by {order}") for table, order in MART_TABLES.items()
    }


def reset(raw: str, home: Path) -> None:
    """Empty schemas and a cold phase-switch cache, as a fresh deployment has."""
    drop_pipeline(raw)
    create_schema(raw)
    (home / "cache" / "chainlink_phases.json").unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, default=2)
    parser.add_argument("--daily-days", type=int, help="the daily DAG on the last N days only (no marts comparison)")
    parser.add_argument("--smoke", action="store_true", help="1 month by the history DAG, 1 day by the daily DAG")
    parser.add_argument(
        "--shape", choices=sorted(SHAPES), default="celery", help="the Airflow shape (airflow_shapes.py)"
    )
    args = parser.parse_args()
    if args.smoke:
        args.months, args.daily_days = 1, 1
    sc = stack_history.scenario()
    first, last = whole_months(sc.end, args.months)
    try:
        stack_history.check_held(sc, first, f"{args.months} month(s)")
    except ValueError as exc:
        parser.error(str(exc))
    end = (last + timedelta(days=32)).replace(day=1)  # the last month's window ends here
    daily_first = end - timedelta(days=args.daily_days) if args.daily_days else first
    spans = {rest.HISTORY_DAG: (first, last, end), rest.DAILY_DAG: (daily_first, end - timedelta(days=1), end)}
    feeds = len(load_registry()) + len(load_market().references_in_use())
    print(
        f"backfill of {feeds} feeds (SIMULATED history): {rest.HISTORY_DAG} over {args.months} month(s) from "
        f"{first.date()}, {rest.DAILY_DAG} over {daily_first.date()} .. {end.date() - timedelta(days=1)}; "
        f"one Airflow ({args.shape} shape), 8 task slots, empty schemas for each"
    )
    print(
        f"{'dag':24} {'runs ok':>8} {'tasks':>6} {'wall s':>7} {'feed-days':>9} {'feed-days/min':>13} "
        f"{'tasks/feed-day':>14} {'RPC req/feed-day':>16} {'SQL stmt/feed-day':>16}",
        flush=True,
    )
    results = {}
    with booted(args.shape, end - timedelta(days=1)) as (raw, port, _, home):
        for dag_id, (since, until, window_end) in spans.items():  # each row as soon as it is measured
            reset(raw, home)
            r = results[dag_id] = backfill_figures(port, since, until, dag_id)
            r["marts"], r["days"] = marts_of(raw), (window_end - since).days
            r["feed_days"] = feeds * r["days"]
            r["rate"] = r["feed_days"] / (r["wall"] / 60)
            rpc, statements = (n / r["feed_days"] for n in load_counts(port, dag_id, r["tis"]))
            print(
                f"{dag_id:24} {r['runs ok']:>4}/{r['runs']:<3} {r['tasks']:6d} {r['wall']:7.0f} {r['feed_days']:9d} "
                f"{r['rate']:13.1f} {r['tasks'] / r['feed_days']:14.2f} {rpc:16.2f} {statements:16.2f}",
                flush=True,
            )
            print(f"{'':24} median task: {task_medians(r['tis'])}; dbt group {r['dbt']:.0f} s", flush=True)
    history, daily = results[rest.HISTORY_DAG], results[rest.DAILY_DAG]
    print(f"feed-days/min history/daily: {history['rate'] / daily['rate']:.1f}")
    if history["days"] != daily["days"]:
        print(f"marts compared: no (the daily DAG ran {daily['days']} of the {history['days']} days)")
        return
    differ = [t for t in history["marts"] if not history["marts"][t].equals(daily["marts"][t])]
    print(f"marts equal: {'yes' if not differ else 'NO, ' + ', '.join(differ)}")
    if differ:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
