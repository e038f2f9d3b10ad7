"""An isolated project-local Airflow (own AIRFLOW_HOME, raw and marts schemas) and a dashboard on them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack import processes, services, warehouse
from tests.support.pipeline import create_schema, drop_schemas

E2E_DASHBOARD_PORT = int(os.environ.get("PEG_E2E_DASHBOARD_PORT", "8601"))
E2E_AIRFLOW_PORT = int(os.environ.get("PEG_E2E_AIRFLOW_PORT", "8090"))


@dataclass
class Pipeline:
    """Where one end-to-end run writes, and the environment its Airflow runs with."""

    raw: str
    marts: str
    env: dict[str, str]
    dashboard_url: str

    def airflow(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        airflow = str(Path(sys.executable).with_name("airflow"))
        return subprocess.run([airflow, *args], env=self.env, capture_output=True, text=True, timeout=timeout)


def isolated_env(home: Path, raw: str, dbt_schema: str, dashboard_port: int) -> dict[str, str]:
    snowflake = json.loads(warehouse.airflow_connection_uri()) | {"schema": raw}
    return services.standalone_env(
        home=home,
        port=E2E_AIRFLOW_PORT,
        extra={
            "AIRFLOW_CONN_SNOWFLAKE_DEFAULT": json.dumps(snowflake),
            "AIRFLOW_CONN_DASHBOARD_DEFAULT": json.dumps(
                {"conn_type": "http", "host": f"http://127.0.0.1:{dashboard_port}"}
            ),
            "PEG_RAW_SCHEMA": raw,
            "PEG_DBT_SCHEMA": dbt_schema,
            "PEG_PHASE_CACHE": str(home / "cache" / "phases.json"),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": "8795",
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": "8796",
            "AIRFLOW__CORE__PARALLELISM": "4",
        },
    )


@pytest.fixture(scope="session")
def pipeline(stack, tmp_path_factory) -> Iterator[Pipeline]:
    raw = f"E2E_{uuid.uuid4().hex[:8].upper()}"
    home = tmp_path_factory.mktemp("airflow_home")
    env = isolated_env(home, raw, f"{raw}_A", E2E_DASHBOARD_PORT)
    create_schema(raw)
    services.init_airflow(env)
    services.start_dashboard(
        name="dashboard-e2e",
        port=E2E_DASHBOARD_PORT,
        marts_schema=f"{raw}_A_MARTS",
        extra={"PEG_DATA_VERSION_TTL": "2"},
    )
    try:
        yield Pipeline(raw, f"{raw}_A_MARTS", env, f"http://127.0.0.1:{E2E_DASHBOARD_PORT}")
    finally:
        processes.stop("dashboard-e2e")
        drop_schemas(raw, f"{raw}_A_STAGING", f"{raw}_A_MARTS")
