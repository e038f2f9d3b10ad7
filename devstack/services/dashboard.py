"""The demo's long-running services: the dashboard (Streamlit) and Airflow (see devstack.cluster for
the production-shaped one; `airflow standalone` here), and the REST calls that drive a backfill."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import requests

from devstack import processes, warehouse
from devstack.airflow_env import airflow_env
from devstack.settings import AIRFLOW_PORT, DASHBOARD_HOST, DASHBOARD_PORT, PROJECT_DIR, SNOWFLAKE_DATABASE

BIN = Path(sys.executable).parent
DAILY_DAG = "stablecoin_peg_daily"
REALTIME_DAG = "stablecoin_peg_realtime"
# Pools the DAGs use: (name, slots, description). airflow_settings.yaml declares the same for Astro.
POOLS = [
    ("chainlink_rpc", 4, "Concurrent Chainlink RPC reads"),
    ("snowflake_warehouse", 4, "Concurrent Snowflake work (dbt models and tests, the freshness gate)"),
]


def init_airflow(env: dict[str, str]) -> None:
    """Migrate the metadata DB (SQLite or Postgres, as `env` says) and create the pools (idempotent)."""
    airflow = str(BIN / "airflow")
    commands = [["db", "migrate"]] + [["pools", "set", pool, str(slots), about] for pool, slots, about in POOLS]
    for args in commands:
        done = subprocess.run([airflow, *args], env=os.environ | env, capture_output=True, text=True)
        if done.returncode != 0:
            raise processes.ServiceError(
                f"`airflow {' '.join(args[:2])}` failed on {env['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN']}:\n"
                + (done.stderr or done.stdout)[-2000:]
            )


def dashboard_env(marts_schema: str = "ANALYTICS_MARTS") -> dict[str, str]:
    """Settings for the Streamlit app against the emulator (see streamlit_app/README.md)."""
    params = warehouse.connection_params()
    return {
        "SNOWFLAKE_ACCOUNT": params["account"],
        "SNOWFLAKE_USER": params["user"],
        "SNOWFLAKE_PASSWORD": params["password"],
        "SNOWFLAKE_HOST": params["host"],
        "SNOWFLAKE_PORT": str(params["port"]),
        "SNOWFLAKE_PROTOCOL": params["protocol"],
        "SNOWFLAKE_DATABASE": SNOWFLAKE_DATABASE,
        "SNOWFLAKE_WAREHOUSE": params["warehouse"],
        "PEG_MARTS_SCHEMA": marts_schema,
    }


def start_dashboard(
    name: str = "dashboard",
    port: int = DASHBOARD_PORT,
    marts_schema: str = "ANALYTICS_MARTS",
    extra: dict | None = None,
) -> bool:
    argv = [
        str(BIN / "streamlit"), "run", str(PROJECT_DIR / "streamlit_app" / "app.py"),
        "--server.port", str(port), "--server.address", DASHBOARD_HOST, "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    started = processes.start(
        name, argv, DASHBOARD_HOST, port, timeout=90, env=dashboard_env(marts_schema) | (extra or {})
    )
    wait_http(f"http://{DASHBOARD_HOST}:{port}/_stcore/health", 90)
    return started


def standalone_env(home: Path | None = None, port: int = AIRFLOW_PORT, extra: dict | None = None) -> dict[str, str]:
    """`airflow standalone` on SQLite with the LocalExecutor (PEG_AIRFLOW_SHAPE=standalone)."""
    env = airflow_env("standalone") | {
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",  # local demo: no login
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # standalone starts `airflow ...` children
    }
    if home:
        env |= {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        }
    return env | (extra or {})


def pipeline_settings(home: Path, raw: str, dashboard_port: int) -> dict[str, str]:
    """What keeps one pipeline apart from the demo's: its home, raw schema `raw`, dbt schemas
    `{raw}_A_*`, phase cache, and the dashboard on `dashboard_port` it checks (tests and benchmarks)."""
    snowflake = json.loads(warehouse.airflow_connection_uri()) | {"schema": raw}
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW_CONN_SNOWFLAKE_DEFAULT": json.dumps(snowflake),
        "AIRFLOW_CONN_DASHBOARD_DEFAULT": json.dumps(
            {"conn_type": "http", "host": f"http://127.0.0.1:{dashboard_port}"}
        ),
        "PEG_RAW_SCHEMA": raw,
        "PEG_DBT_SCHEMA": f"{raw}_A",
        "PEG_PHASE_CACHE": str(home / "cache" / "phases.json"),
    }


def isolated_env(
    home: Path, port: int, raw: str, dashboard_port: int, log_ports: tuple[int, int], extra: dict | None = None
) -> dict[str, str]:
    """A standalone project-local Airflow of its own beside the demo's (see pipeline_settings)."""
    return standalone_env(
        home=home,
        port=port,
        extra=pipeline_settings(home, raw, dashboard_port)
        | {
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_ports[0]),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(log_ports[1]),
        }
        | (extra or {}),
    )


def start_airflow(name: str = "airflow", env: dict[str, str] | None = None, port: int = AIRFLOW_PORT) -> bool:
    """`airflow standalone`: scheduler, DAG processor, triggerer and API server (the UI) in one."""
    env = env or standalone_env(port=port)
    started = processes.start(name, [str(BIN / "airflow"), "standalone"], "127.0.0.1", port, timeout=240, env=env)
    wait_http(f"http://127.0.0.1:{port}/api/v2/monitor/health", 240)
    return started


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise processes.ServiceError(f"{url} did not answer within {timeout:.0f}s")
        time.sleep(1)


def wait_dag_parsed(port: int = AIRFLOW_PORT, dag_id: str = DAILY_DAG, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while requests.get(f"http://127.0.0.1:{port}/api/v2/dags/{dag_id}", timeout=30).status_code != 200:
        if time.monotonic() > deadline:
            raise processes.ServiceError(f"Airflow did not parse {dag_id} within {timeout:.0f}s")
        time.sleep(3)


def wait_scheduled_run(port: int = AIRFLOW_PORT, dag_id: str = DAILY_DAG, timeout: float = 60) -> None:
    """Once a DAG is unpaused, the scheduler makes its own run of the latest interval (catchup is
    off). A backfill run of that day created first makes that insert fail in every scheduler loop
    (a unique logical date; Airflow 3.3 does not recover), so a backfill waits for it and then
    skips the day. Returns after `timeout` if the scheduler makes none (a start date ahead)."""
    deadline = time.monotonic() + timeout
    while not any(r["run_type"] == "scheduled" for r in runs(port, dag_id)) and time.monotonic() < deadline:
        time.sleep(1)


def unpause(dag_id: str, port: int = AIRFLOW_PORT) -> None:
    """Turn a DAG on, as its toggle in the UI does."""
    answer = requests.patch(f"http://127.0.0.1:{port}/api/v2/dags/{dag_id}", json={"is_paused": False}, timeout=30)
    answer.raise_for_status()


def backfill(
    first: date, last: date, port: int = AIRFLOW_PORT, dag_id: str = DAILY_DAG, max_active_runs: int = 4
) -> set[str]:
    """Create a backfill of logical dates first..last through the REST API, as the UI's Backfill button does."""
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
        if answer.status_code == 409 or "No runs to create" in answer.text:  # running already, or nothing to do
            break
        if attempt == 9:
            raise processes.ServiceError(f"backfill failed: HTTP {answer.status_code} {answer.text[:500]}")
        time.sleep(5)
    return {first.fromordinal(first.toordinal() + i).isoformat() for i in range((last - first).days + 1)}


def runs(port: int = AIRFLOW_PORT, dag_id: str = DAILY_DAG) -> list[dict]:
    answer = requests.get(f"http://127.0.0.1:{port}/api/v2/dags/{dag_id}/dagRuns", params={"limit": 1000}, timeout=60)
    answer.raise_for_status()
    return answer.json()["dag_runs"]


def wait_runs(
    days: set[str], port: int = AIRFLOW_PORT, timeout: float = 3600, dag_id: str = DAILY_DAG
) -> dict[str, str]:
    """Wait until the runs of these logical dates finish (whatever created them); return their states by date."""
    deadline = time.monotonic() + timeout
    while True:
        states = {
            r["logical_date"][:10]: r["state"]
            for r in runs(port, dag_id)
            if r["logical_date"] and r["logical_date"][:10] in days
        }
        done = {d: s for d, s in states.items() if s in ("success", "failed")}
        print(
            f"           runs: {len(done)}/{len(days)} finished ({sum(s == 'success' for s in done.values())} ok)",
            flush=True,
        )
        if len(done) == len(days):
            return done
        if time.monotonic() > deadline:
            raise processes.ServiceError(f"runs did not finish within {timeout:.0f}s: {states}")
        time.sleep(10)
