"""Each end-to-end module gets a pipeline of its own: raw and marts schemas, a dashboard on them, and
a production-shaped Airflow (devstack.cluster.celery) with its own home, metadata database on the stack's
Postgres, Celery queue on its Redis, and ports, so no module sees another's state."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.cluster.airflow_env import pipeline_settings
from devstack.cluster.airflow_init import init_airflow
from devstack.cluster.celery import Cluster, ClusterPorts
from devstack.services import dashboard, postgres, processes, redis_broker
from tests.support.locks import stack_lock
from tests.support.pipeline import create_schema, drop_pipeline

E2E_DASHBOARD_PORT = int(os.environ.get("PEG_E2E_DASHBOARD_PORT", "8601"))
# Each module's Airflow ports: API, scheduler health, triggerer logs, worker logs (8100-8199 are the e2e tests').
PORT_BLOCKS = {"test_backfill": 8100, "test_daily_run": 8110}
# Fast detection of a lost worker: a running task whose heartbeats stop for 20 s is failed (and
# retried); a task queued for a worker that died before starting it is queued again after 120 s.
FAST_FAILURE_DETECTION = {
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "120",
}


@dataclass
class Pipeline:
    """Where one end-to-end module's runs write, and the Airflow that runs them."""

    raw: str
    marts: str
    cluster: Cluster
    dashboard_url: str

    @property
    def env(self) -> dict[str, str]:
        return self.cluster.env

    def airflow(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        airflow = str(Path(sys.executable).with_name("airflow"))
        return subprocess.run([airflow, *args], env=self.env, capture_output=True, text=True, timeout=timeout)

    def start_dashboard(self) -> None:
        dashboard.start_dashboard(
            name="dashboard-e2e", port=E2E_DASHBOARD_PORT, marts_schema=self.marts, extra={"PEG_DATA_VERSION_TTL": "2"}
        )

    def stop_dashboard(self) -> None:
        processes.stop("dashboard-e2e")


@pytest.fixture(scope="session")
def metadata_services(stack) -> None:
    """The stack's Postgres and Redis (started if needed, as `make stack-up` does)."""
    with stack_lock():
        postgres.start()
        redis_broker.start()


@pytest.fixture(scope="module")
def cluster_settings() -> dict[str, str]:
    """Extra Airflow settings of a module's cluster (a module overrides this fixture to add some)."""
    return {}


@pytest.fixture(scope="module")
def pipeline(request, metadata_services, cluster_settings, tmp_path_factory) -> Iterator[Pipeline]:
    """A pipeline of its own per test module: what one module's runs load never shows in another's."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    if module not in PORT_BLOCKS:
        raise LookupError(f"{module} has no Airflow port block: add it to PORT_BLOCKS in tests/e2e/conftest.py")
    raw = f"E2E_{uuid.uuid4().hex[:8].upper()}"
    database = f"e2e_{raw.lower()}"
    home = tmp_path_factory.mktemp("airflow_home")
    name = f"e2e-{module.removeprefix('test_').replace('_', '-')}"
    settings = pipeline_settings(home, raw, E2E_DASHBOARD_PORT) | FAST_FAILURE_DETECTION | cluster_settings
    cluster = Cluster(name, home, database, ClusterPorts.block(PORT_BLOCKS[module]), settings)
    create_schema(raw)
    postgres.create_database(database)
    init_airflow(cluster.env)
    built = Pipeline(raw, f"{raw}_A_MARTS", cluster, f"http://127.0.0.1:{E2E_DASHBOARD_PORT}")
    built.start_dashboard()
    try:
        yield built
    finally:
        cluster.stop()
        built.stop_dashboard()
        postgres.drop_database(database)
        drop_pipeline(raw)
