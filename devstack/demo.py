"""`make demo`: the local stack, with Airflow and the dashboard started beside the chain's history
replay (they need the warehouse and the broker, not the chain), the latest day through Airflow first
(the dashboard shows its rounds once its ingest commits, within minutes of a fresh clone, and every
page once its marts are built), the realtime DAG switched on, then the rest of the most recent weeks
with their progress, and where to look next."""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import requests

from devstack import clock, stack
from devstack.chain import stack_history
from devstack.cluster import rest, standalone
from devstack.cluster.celery import Cluster
from devstack.project_setup import build_dbt_manifest, build_warehouse_models, init_airflow_db
from devstack.services import alert_receiver, dashboard, processes
from devstack.settings import AIRFLOW_PORT, AIRFLOW_SHAPE, DASHBOARD_URL
from devstack.simulation import history

DEMO_DAYS = int(os.environ.get("PEG_DEMO_DAYS", "14"))
# The history a fresh demo's nodes replay: the shortest that holds the demo's weeks (35 of the
# tests' 200 days, about half their replay). PEG_DEMO_HISTORY_DAYS asks for another length; a stack that
# already holds a history (say the tests') keeps it.
HISTORY_DAYS_VARIABLE = "PEG_DEMO_HISTORY_DAYS"


def demo_history() -> history.Scenario:
    """Fix the history the demo's stack holds (see HISTORY_DAYS_VARIABLE); SystemExit naming the
    variable if it is not a length the history can have."""
    asked = os.environ.get(HISTORY_DAYS_VARIABLE, "").strip()
    try:
        first_days = min(max(history.SHORTEST_DAYS, DEMO_DAYS + 1), history.HISTORY_DAYS)
        sc = stack_history.scenario(int(asked) if asked else None, first_days=first_days)
    except ValueError as exc:
        sys.exit(f"error: {HISTORY_DAYS_VARIABLE}={asked!r}: {exc}")
    if sc.days <= DEMO_DAYS:
        sys.exit(
            f"error: the stack's history holds {sc.days} days, not more than PEG_DEMO_DAYS={DEMO_DAYS}: "
            f"set {HISTORY_DAYS_VARIABLE} to a longer one"
        )
    return sc


def start_airflow_and_dashboard() -> None:
    """The warehouse and the broker, Airflow's metadata DB and pools, the dbt manifest its DAGs
    render, the warehouse's models, the dashboard, and Airflow itself, each step timed."""
    with clock.step("services"):
        stack.up(only=stack.WAREHOUSE_AND_BROKER)
    init_airflow_db()
    build_dbt_manifest()
    build_warehouse_models()
    with clock.step("dashboard"):
        dashboard.start_dashboard()
    with clock.step("airflow"):
        start_airflow()


def start_airflow() -> None:
    """The demo's Airflow in the shape PEG_AIRFLOW_SHAPE names, once its DAG is parsed."""
    if AIRFLOW_SHAPE == "standalone":
        standalone.start_airflow(env=standalone.standalone_env())
    else:
        for name, started in Cluster.demo().start().items():
            print(f"{'airflow ' + name:24} {'started' if started else 'already running'}")
    rest.wait_dag_parsed()


def _failed(states: dict[str, str]) -> list[str]:
    return sorted(day for day, state in states.items() if state != "success")


def dashboard_serving() -> dict:
    """What the dashboard's freshness route serves if it serves the feeds' data, else {}."""
    try:
        answer = requests.get(f"{DASHBOARD_URL}/api/freshness", timeout=10)
        body = answer.json() if answer.status_code == 200 else {}
    except (requests.RequestException, ValueError):
        return {}
    return body if body.get("feeds") and body.get("data_as_of") else {}


def wait_dashboard_data(days: set[str], timeout: float = 900, grace: float = 30) -> dict:
    """Poll the dashboard's freshness route until it serves the feeds' data (the per-round marts are
    views, so that is once the first ingest commits) and return it; ServiceError if it still serves
    none `grace` seconds after the runs of `days` all ended (it re-reads the marts every 10 s), or
    after `timeout`."""
    ended: list[float] = []

    def served_or_ended() -> dict:
        if served := dashboard_serving():
            return served
        try:
            states = rest.run_states(days)
        except requests.RequestException:  # the API server busy: ask again
            return {}
        if len(states) == len(days) and all(state in rest.FINISHED for state in states.values()):
            ended[:] = ended or [time.monotonic()]
            if time.monotonic() - ended[0] >= grace:
                raise processes.ServiceError(
                    f"the runs {states} ended and the dashboard at {DASHBOARD_URL} serves no data"
                )
        return {}

    return processes.wait_until(f"the dashboard at {DASHBOARD_URL} served no data", served_or_ended, timeout, every=2)


def run() -> None:
    """Start the stack, with the dashboard and Airflow beside the chain's replay; run the latest day
    first, so the dashboard shows data within minutes, then the near-real-time DAG and the rest of the
    recent weeks, with progress; print URLs."""
    sc = demo_history()
    with ThreadPoolExecutor(1) as beside:
        airflow = beside.submit(start_airflow_and_dashboard)
        with clock.step("chains"):  # the replay is the longer part: it starts at once
            stack.up(skip=stack.WAREHOUSE_AND_BROKER)
        airflow.result()  # raises what went wrong there
    first, last = (sc.end - timedelta(days=DEMO_DAYS)).date(), (sc.end - timedelta(days=1)).date()
    print(f"first day  {rest.DAILY_DAG} {last} through Airflow ({history.LABEL}, {AIRFLOW_SHAPE})", flush=True)
    with clock.step("first data"):
        days = rest.backfill(last, last)
        wait_dashboard_data(days)
    print(f"\nDashboard   {DASHBOARD_URL}  shows data now {clock.stamp()}", flush=True)
    print("           (the day's rounds; the daily, z-score and depeg pages once the run has built its marts)\n")
    with clock.step("first day"):
        failed = _failed(rest.wait_runs(days))
    rest.unpause(rest.REALTIME_DAG)
    print(f"realtime   {rest.REALTIME_DAG} on: each new round of the living chain reaches the dashboard")
    if first < last:
        print(f"backfill   {rest.DAILY_DAG} {first} .. {last - timedelta(days=1)} (PEG_DEMO_DAYS={DEMO_DAYS})")
        with clock.step("backfill"):
            failed += _failed(rest.wait_runs(rest.backfill(first, last - timedelta(days=1))))
    print(f"\nAirflow UI  http://127.0.0.1:{AIRFLOW_PORT}  (no login: local demo)")
    print(f"Dashboard   {DASHBOARD_URL}  (freshness: {DASHBOARD_URL}/api/freshness)")
    print(f"Alerts      {alert_receiver.URL}/alerts  (what the on-call received)")
    print("Watch a depeg live: .venv/bin/python -m devstack market USDC/USD 0.97 --minutes 20")
    print("Take Arbitrum's sequencer down (its prices turn untrusted): .venv/bin/python -m devstack sequencer down")
    print(
        "Backfill more history from the UI: open the stablecoin_peg_daily DAG, click Trigger > Backfill, pick a\n"
        f"date range within {sc.start.date()} .. {last} (the simulated history), and Run.\n"
        "Or: .venv/bin/python -m devstack airflow backfill create --dag-id stablecoin_peg_daily "
        "--from-date YYYY-MM-DD --to-date YYYY-MM-DD\n"
        "Logs of each Airflow process: .stack/logs/. Stop everything with `make stack-down` (state stays in .stack/)."
    )
    if failed:
        sys.exit(f"error: runs failed for {', '.join(failed)}; see the Airflow UI")
