"""An isolated project-local Airflow (own AIRFLOW_HOME, raw and marts schemas) and a dashboard on them."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack import processes, services
from tests.support.pipeline import create_schema, drop_schemas

E2E_DASHBOARD_PORT = int(os.environ.get("PEG_E2E_DASHBOARD_PORT", "8601"))
E2E_AIRFLOW_PORT = int(os.environ.get("PEG_E2E_AIRFLOW_PORT", "8090"))
# The marts and the columns that order their rows, for comparing whole tables.
MART_TABLES = {
    "STABLECOIN_PEG_HEALTH": "chain, proxy_address, round_id",
    "STABLECOIN_PEG_ZSCORE": "chain, proxy_address, hour_at",
    "STABLECOIN_DEPEG_EVENTS": "depeg_event_id",
    "STABLECOIN_PEG_DAILY": "chain, proxy_address, day",
    "CHAINLINK_FEED_STALENESS": "chain, proxy_address",
}


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


@pytest.fixture(scope="module")
def pipeline(stack, tmp_path_factory) -> Iterator[Pipeline]:
    """A pipeline of its own per test module: what one module's runs load never shows in another's."""
    raw = f"E2E_{uuid.uuid4().hex[:8].upper()}"
    home = tmp_path_factory.mktemp("airflow_home")
    # parallelism 4: the SQLite metadata DB of a local standalone stalls under more writers
    env = services.isolated_env(
        home, E2E_AIRFLOW_PORT, raw, E2E_DASHBOARD_PORT, (8795, 8796), {"AIRFLOW__CORE__PARALLELISM": "4"}
    )
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
