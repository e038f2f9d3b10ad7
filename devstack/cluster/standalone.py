"""`airflow standalone` on SQLite with the LocalExecutor (PEG_AIRFLOW_SHAPE=standalone): one process
tree for the demo, or an isolated one of its own beside it (tests and benchmarks)."""

from __future__ import annotations

import os
from pathlib import Path

from devstack.cluster.airflow_env import airflow_env, home_env, pipeline_settings
from devstack.services import processes
from devstack.settings import AIRFLOW_PORT, BIN


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
        env |= home_env(home) | {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}"}
    return env | (extra or {})


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
    processes.wait_http(f"http://127.0.0.1:{port}/api/v2/monitor/health", 240)
    return started
