"""`make demo`: the dashboard and Airflow on the running stack, a backfill of the most recent weeks
through Airflow, the realtime DAG switched on, and where to look next."""

from __future__ import annotations

import os
import sys
from datetime import timedelta

from devstack.chain import stack_history
from devstack.cluster import rest, standalone
from devstack.cluster.celery import Cluster
from devstack.services import alert_receiver, dashboard
from devstack.settings import AIRFLOW_PORT, AIRFLOW_SHAPE, DASHBOARD_URL
from devstack.simulation import history

DEMO_DAYS = int(os.environ.get("PEG_DEMO_DAYS", "14"))


def start_airflow() -> None:
    """The demo's Airflow in the shape PEG_AIRFLOW_SHAPE names, once its DAG is parsed."""
    if AIRFLOW_SHAPE == "standalone":
        standalone.start_airflow(env=standalone.standalone_env())
    else:
        for name, started in Cluster.demo().start().items():
            print(f"{'airflow ' + name:24} {'started' if started else 'already running'}")
    rest.wait_dag_parsed()


def run() -> None:
    """Start the dashboard and Airflow, backfill the most recent weeks through Airflow, print URLs."""
    sc = stack_history.scenario()
    dashboard.start_dashboard()
    start_airflow()
    first, last = (sc.end - timedelta(days=DEMO_DAYS)).date(), (sc.end - timedelta(days=1)).date()
    print(f"backfill   {rest.DAILY_DAG} {first} .. {last} through Airflow ({history.LABEL}, {AIRFLOW_SHAPE})")
    states = rest.wait_runs(rest.backfill(first, last))
    failed = sorted(day for day, state in states.items() if state != "success")
    rest.unpause(rest.REALTIME_DAG)
    print(f"realtime   {rest.REALTIME_DAG} on: each new round of the living chain reaches the dashboard")
    print(f"\nAirflow UI  http://127.0.0.1:{AIRFLOW_PORT}  (no login: local demo)")
    print(f"Dashboard   {DASHBOARD_URL}  (freshness: {DASHBOARD_URL}/api/freshness)")
    print(f"Alerts      {alert_receiver.URL}/alerts  (what the on-call received)")
    print("Watch a depeg live: .venv/bin/python -m devstack market USDC/USD 0.97 --minutes 20")
    print(
        "Backfill more history from the UI: open the stablecoin_peg_daily DAG, click Trigger > Backfill, pick a\n"
        f"date range within {sc.start.date()} .. {last} (the simulated history), and Run.\n"
        "Or: .venv/bin/python -m devstack airflow backfill create --dag-id stablecoin_peg_daily "
        "--from-date YYYY-MM-DD --to-date YYYY-MM-DD\n"
        "Logs of each Airflow process: .stack/logs/. Stop everything with `make stack-down` (state stays in .stack/)."
    )
    if failed:
        sys.exit(f"error: runs failed for {', '.join(failed)}; see the Airflow UI")
