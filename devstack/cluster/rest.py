"""The REST calls that drive a running Airflow's DAGs, as its UI does: wait for a DAG to be parsed,
unpause it, create a backfill, and wait for its runs."""

from __future__ import annotations

import time
from datetime import date

import requests

from devstack.services import processes
from devstack.settings import AIRFLOW_PORT

DAILY_DAG = "stablecoin_peg_daily"
REALTIME_DAG = "stablecoin_peg_realtime"
HISTORY_DAG = "stablecoin_peg_history"


def wait_dag_parsed(port: int = AIRFLOW_PORT, dag_id: str = DAILY_DAG, timeout: float = 180) -> None:
    url = f"http://127.0.0.1:{port}/api/v2/dags/{dag_id}"
    processes.wait_until(f"Airflow did not parse {dag_id}", lambda: processes.answers_http(url), timeout, every=3)


def wait_scheduled_run(port: int = AIRFLOW_PORT, dag_id: str = DAILY_DAG, timeout: float = 60) -> None:
    """Once a DAG is unpaused, the scheduler makes its own run of the latest interval (catchup is
    off). A backfill run of that day created first makes that insert fail in every scheduler loop
    (a unique logical date; Airflow 3.3 does not recover), so a backfill waits for it and then
    skips the day. Returns at once if the DAG has no next run to make (an end date behind, see
    PEG_END_DATE), else after `timeout` if the scheduler makes none."""
    deadline = time.monotonic() + timeout
    while not any(r["run_type"] == "scheduled" for r in runs(port, dag_id)) and time.monotonic() < deadline:
        if _dag(port, dag_id)["next_dagrun_run_after"] is None:
            return
        time.sleep(1)


def _dag(port: int, dag_id: str) -> dict:
    answer = requests.get(f"http://127.0.0.1:{port}/api/v2/dags/{dag_id}", timeout=30)
    answer.raise_for_status()
    return answer.json()


def unpause(dag_id: str, port: int = AIRFLOW_PORT) -> None:
    """Turn a DAG on, as its toggle in the UI does."""
    answer = requests.patch(f"http://127.0.0.1:{port}/api/v2/dags/{dag_id}", json={"is_paused": False}, timeout=30)
    answer.raise_for_status()


def backfill(
    first: date,
    last: date,
    port: int = AIRFLOW_PORT,
    dag_id: str = DAILY_DAG,
    max_active_runs: int = 4,
    monthly: bool = False,
) -> set[str]:
    """Create a backfill of logical dates first..last through the REST API, as the UI's Backfill
    button does; the logical dates it runs (each day, or each month's first day for a monthly DAG)."""
    api = f"http://127.0.0.1:{port}/api/v2"
    unpause(dag_id, port)
    wait_scheduled_run(port, dag_id)
    body = {
        "dag_id": dag_id,
        "from_date": f"{first.isoformat()}T00:00:00Z",
        "to_date": f"{last.isoformat()}T00:00:00Z",
        "reprocess_behavior": "none",  # days already run are kept: running the demo again reuses them
        "max_active_runs": max_active_runs,
        "run_backwards": False,
        "dag_run_conf": {},
    }
    for attempt in range(10):
        answer = requests.post(f"{api}/backfills", json=body, timeout=60)
        if answer.status_code in (200, 201):
            break
        if "No runs to create" in answer.text:  # nothing to do
            break
        # 409: another backfill of the DAG is active. The one just finished is marked complete a few
        # seconds after its last run (the demo's first day, then its two weeks); one still active
        # after half a minute is this range's own, from an earlier `make demo`, and is waited on.
        if answer.status_code == 409 and attempt >= 5:
            break
        if attempt == 9:
            raise processes.ServiceError(f"backfill failed: HTTP {answer.status_code} {answer.text[:500]}")
        time.sleep(5)
    days = {first.fromordinal(first.toordinal() + i) for i in range((last - first).days + 1)}
    return {day.isoformat() for day in days if not monthly or day.day == 1}


def runs(port: int = AIRFLOW_PORT, dag_id: str = DAILY_DAG) -> list[dict]:
    answer = requests.get(f"http://127.0.0.1:{port}/api/v2/dags/{dag_id}/dagRuns", params={"limit": 1000}, timeout=60)
    answer.raise_for_status()
    return answer.json()["dag_runs"]


FINISHED = ("success", "failed")


def run_states(days: set[str], port: int = AIRFLOW_PORT, dag_id: str = DAILY_DAG) -> dict[str, str]:
    """The state of the run of each of these logical dates that exists, by date."""
    return {r["logical_date"][:10]: r["state"] for r in runs(port, dag_id) if (r["logical_date"] or "")[:10] in days}


def wait_runs(
    days: set[str], port: int = AIRFLOW_PORT, timeout: float = 3600, dag_id: str = DAILY_DAG
) -> dict[str, str]:
    """Wait until the runs of these logical dates finish (whatever created them); return their states by date."""
    deadline = time.monotonic() + timeout
    while True:
        states = run_states(days, port, dag_id)
        done = {d: s for d, s in states.items() if s in FINISHED}
        print(
            f"           runs: {len(done)}/{len(days)} finished ({sum(s == 'success' for s in done.values())} ok)",
            flush=True,
        )
        if len(done) == len(days):
            return done
        if time.monotonic() > deadline:
            raise processes.ServiceError(f"runs did not finish within {timeout:.0f}s: {states}")
        time.sleep(10)
