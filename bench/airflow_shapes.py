"""Benchmark: a 30-day backfill of stablecoin_peg_daily on the two Airflow shapes, in one invocation.

1. `celery`: the deployment's shape (devstack.cluster.celery): Postgres metadata DB, Redis broker, the API
   server, scheduler, DAG processor, triggerer and two Celery workers (concurrency 4 each) as
   separate processes.
2. `standalone`: `airflow standalone` on SQLite with the LocalExecutor (PEG_AIRFLOW_SHAPE=standalone).

Both run the same backfill (the REST call the UI's Backfill button makes, 4 runs at a time), with
8 task slots (parallelism), the pools at 4 slots, and a dashboard of their own so the refresh check
passes. For each it prints the wall time (backfill created -> last run finished), tasks per minute,
and the scheduler's queued-to-running delay (each task instance's queued_when -> start_date, from
the REST API) at p50/p95. Each shape gets its own home, metadata DB and raw/marts schemas.

Run with the stack up and the manifest built (`make stack-up dbt-manifest`):
`.venv/bin/python bench/airflow_shapes.py [--days 30]`. It takes about an hour on 2 cores.
Each row also gives the dbt task group's median span per run (first dbt task start to last dbt task
end). `--dbt-mode watcher` runs the dbt part in Cosmos WATCHER mode (PEG_DBT_EXECUTION_MODE).
bench/daily_run.py's part 2 is this bench's standalone shape for one day, in each mode.
`--shapes celery,celery-no-preload --days 1` sets the Celery workers' preloading of dbt
(peg_monitor.celery_worker) beside Airflow's default Celery config, where each task imports dbt
itself, and prints the ratios to the last shape given.

`--smoke` (what the test suite runs, to see that it still runs) is a 1-day backfill on the standalone
shape only, in WATCHER mode: the start-up and one run, through the same measuring code, and the one
scheduled WATCHER run of the suite (bench/daily_run.py's smoke leaves its part 2 to this one). The
Celery shape's cluster is what tests/e2e runs its backfill and near-real-time tests on, so the suite
does not start a third.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]

from devstack.cluster.airflow_env import airflow_env  # noqa: E402

os.environ.update(airflow_env("standalone"))

import requests  # noqa: E402

from devstack.chain import stack_history  # noqa: E402
from devstack.cluster import rest, standalone  # noqa: E402
from devstack.cluster.airflow_env import pipeline_settings  # noqa: E402
from devstack.cluster.airflow_init import init_airflow  # noqa: E402
from devstack.cluster.celery import Cluster, ClusterPorts  # noqa: E402
from devstack.services import dashboard, postgres, processes  # noqa: E402
from tests.support.pipeline import create_schema, drop_pipeline  # noqa: E402

# Apart from the demo's ports and tests/e2e's (8100-8199, 8300-8310, dashboards 8601 and 8602): the
# suite runs this bench's smoke mode in the same session.
CELERY_PORTS = ClusterPorts.block(8700)
STANDALONE_PORT, STANDALONE_LOG_PORTS = 8710, (8711, 8712)
DASHBOARD_PORT = 8603
SLOTS = {"AIRFLOW__CORE__PARALLELISM": "8"}  # the Celery shape's 2 workers x 4


@contextmanager
def pipeline_schemas() -> Iterator[str]:
    """A fresh raw schema and a dashboard on its marts; yields the raw schema."""
    raw = f"BENCH_{uuid.uuid4().hex[:8].upper()}"
    create_schema(raw)
    dashboard.start_dashboard(
        name="dashboard-bench-shapes",
        port=DASHBOARD_PORT,
        marts_schema=f"{raw}_A_MARTS",
        extra={"PEG_DATA_VERSION_TTL": "2"},
    )
    try:
        yield raw
    finally:
        processes.stop("dashboard-bench-shapes")
        drop_pipeline(raw)


@contextmanager
def celery_shape(home: Path, raw: str, extra: dict[str, str], preload: bool = True) -> Iterator[int]:
    """The Celery cluster on a database of its own (its workers preloading dbt unless not
    `preload`); yields its API port."""
    database = f"bench_{raw.lower()}"
    postgres.create_database(database)
    settings = pipeline_settings(home, raw, DASHBOARD_PORT) | extra
    cluster = Cluster("bench-celery", home, database, CELERY_PORTS, settings, preload=preload)
    try:
        init_airflow(cluster.env)
        cluster.start()
        yield CELERY_PORTS.api
    finally:
        cluster.stop()
        postgres.drop_database(database)


@contextmanager
def standalone_shape(home: Path, raw: str, extra: dict[str, str]) -> Iterator[int]:
    env = standalone.isolated_env(home, STANDALONE_PORT, raw, DASHBOARD_PORT, STANDALONE_LOG_PORTS, SLOTS | extra)
    init_airflow(env)
    try:
        standalone.start_airflow(name="bench-standalone", env=env, port=STANDALONE_PORT)
        yield STANDALONE_PORT
    finally:
        processes.stop("bench-standalone")


SHAPES = {
    "celery": celery_shape,
    "celery-no-preload": partial(celery_shape, preload=False),  # each task imports dbt itself
    "standalone": standalone_shape,
}


def ends_at(last: datetime) -> dict[str, str]:
    """The daily DAG ends with the backfill's last day: unpausing it starts no run of the latest day
    beside the backfill's (the bench times the backfill alone)."""
    return {"PEG_END_DATE": last.isoformat()}


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def task_instances(port: int, dag_id: str = rest.DAILY_DAG) -> list[dict]:
    """Every task instance of the backfill's runs, from the REST API."""
    api = f"http://127.0.0.1:{port}/api/v2/dags/{dag_id}"
    found: list[dict] = []
    for run in rest.runs(port, dag_id):
        if run["run_type"] != "backfill":
            continue
        answer = requests.get(f"{api}/dagRuns/{run['dag_run_id']}/taskInstances", params={"limit": 100}, timeout=60)
        answer.raise_for_status()
        found += answer.json()["task_instances"]
    return found


def dbt_span(tis: list[dict]) -> float:
    """Median over runs of the dbt task group's span: first dbt task start to last dbt task end."""
    spans: dict[str, list[datetime]] = {}
    for t in tis:
        if t["task_id"].startswith("dbt.") and t["start_date"] and t["end_date"]:
            spans.setdefault(t["dag_run_id"], []).extend((_time(t["start_date"]), _time(t["end_date"])))
    if not spans:
        raise SystemExit("no dbt task ran")
    return statistics.median((max(s) - min(s)).total_seconds() for s in spans.values())


@contextmanager
def booted(shape: str, last: datetime, dbt_mode: str = "local") -> Iterator[tuple[str, int, float, Path]]:
    """A fresh Airflow of `shape` (its DAGs ending with `last`) on fresh schemas; yields the raw
    schema, the API port, the start-up seconds and the Airflow home."""
    extra = ends_at(last) | {"PEG_DBT_EXECUTION_MODE": dbt_mode}
    with pipeline_schemas() as raw, tempfile.TemporaryDirectory() as home:
        started = time.monotonic()
        boot = SHAPES[shape]
        with boot(Path(home), raw, extra) as port:
            rest.wait_dag_parsed(port=port)
            yield raw, port, time.monotonic() - started, Path(home)


def backfill_figures(port: int, first: datetime, last: datetime, dag_id: str = rest.DAILY_DAG) -> dict:
    """Backfill `dag_id` over first..last (logical dates) and wait for it: runs, tasks, wall time
    (created -> last task end), tasks run (on a worker) per minute, queued -> running delays, the
    dbt span per run, and the task instances that ran ("tis")."""
    rest.wait_dag_parsed(port=port, dag_id=dag_id)
    created = datetime.now().astimezone()
    dates = rest.backfill(first.date(), last.date(), port=port, dag_id=dag_id, monthly=dag_id == rest.HISTORY_DAG)
    states = rest.wait_runs(dates, port=port, timeout=7200, dag_id=dag_id)
    # the tasks that ran on a worker: not those skipped without running (a backfill run whose marts
    # another run builds skips its dbt tasks; its guard, marts_due, ran and skipped itself)
    ran = [t for t in task_instances(port, dag_id) if t["start_date"] and t["end_date"] and t["hostname"]]
    wall = (max(_time(t["end_date"]) for t in ran) - created).total_seconds()
    delays = sorted((_time(t["start_date"]) - _time(t["queued_when"])).total_seconds() for t in ran if t["queued_when"])
    return {
        "runs ok": sum(s == "success" for s in states.values()),
        "runs": len(states),
        "tasks": len(ran),
        "wall": wall,
        "tasks/min": len(ran) / (wall / 60),
        "p50": statistics.median(delays),
        "p95": statistics.quantiles(delays, n=20)[-1],
        "dbt": dbt_span(ran),
        "tis": ran,
    }


def measure(shape: str, first: datetime, last: datetime, dbt_mode: str = "local") -> dict:
    """The daily DAG's backfill over first..last on a fresh Airflow of `shape`: its figures."""
    with booted(shape, last, dbt_mode) as (_, port, ready, _):
        return {"shape": shape, "start-up": ready} | backfill_figures(port, first, last)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--dbt-mode", choices=("local", "watcher"), default="local")
    parser.add_argument(
        "--shapes",
        default="celery,standalone",
        help=f"comma-separated, in order, from {', '.join(SHAPES)} (celery-no-preload: the Celery "
        "workers on Airflow's default config, each task importing dbt itself)",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="a 1-day backfill, standalone, WATCHER: does it still run?"
    )
    args = parser.parse_args()
    shapes = args.shapes.split(",")
    if unknown := sorted(set(shapes) - set(SHAPES)):
        parser.error(f"--shapes: unknown {', '.join(unknown)}; choose from {', '.join(SHAPES)}")
    if args.smoke:
        args.days, args.dbt_mode, shapes = 1, "watcher", ["standalone"]
    last = stack_history.scenario().end - timedelta(days=2)
    first = last - timedelta(days=args.days - 1)
    print(
        f"{args.days}-day backfill {first.date()} .. {last.date()} of {rest.DAILY_DAG}, 4 runs at a time, "
        f"dbt in {args.dbt_mode.upper()} mode"
    )
    print(
        f"{'shape':17} {'start-up s':>10} {'runs ok':>8} {'tasks':>6} {'wall s':>8} {'tasks/min':>9} "
        f"{'queued->running p50 s':>22} {'p95 s':>6} {'dbt/run s':>9}",
        flush=True,
    )
    results = []
    for shape in shapes:  # each row as soon as it is measured
        r = measure(shape, first, last, args.dbt_mode)
        results.append(r)
        print(
            f"{r['shape']:17} {r['start-up']:10.0f} {r['runs ok']:>4}/{r['runs']:<3} {r['tasks']:6d} {r['wall']:8.0f} "
            f"{r['tasks/min']:9.1f} {r['p50']:22.2f} {r['p95']:6.2f} {r['dbt']:9.1f}",
            flush=True,
        )
    base = results[-1]
    for r in results[:-1]:
        print(
            f"{r['shape']}/{base['shape']}: wall time {r['wall'] / base['wall']:.2f}, dbt/run {r['dbt'] / base['dbt']:.2f}"
        )


if __name__ == "__main__":
    main()
