"""A production-shaped Airflow: API server, scheduler, DAG processor, triggerer and Celery workers as
separate processes, each with its own pidfile and log, on the stack's Postgres and Redis.

The demo runs one (`Cluster.demo()`); each end-to-end test module and the benchmark run one of their
own (another home, metadata database, broker queue and ports), so they never share state.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests

from devstack.cluster.airflow_env import DEMO_CLUSTER, airflow_env, celery_env, home_env
from devstack.services import postgres, processes
from devstack.settings import (
    AIRFLOW_HOME,
    AIRFLOW_PORT,
    AIRFLOW_SCHEDULER_PORT,
    AIRFLOW_TRIGGERER_PORT,
    AIRFLOW_WORKER_CONCURRENCY,
    AIRFLOW_WORKER_PORTS,
    BIN,
)

HOST = "127.0.0.1"


@dataclass(frozen=True)
class ClusterPorts:
    """Where each component can be reached: the API server, the scheduler's health check, the
    triggerer's log server and one log server per worker (their count is the number of workers)."""

    api: int
    scheduler: int
    triggerer: int
    workers: tuple[int, ...]

    @classmethod
    def block(cls, base: int, workers: int = 2) -> ClusterPorts:
        """Consecutive ports from `base`: API, scheduler, triggerer, then the workers."""
        return cls(base, base + 1, base + 2, tuple(range(base + 3, base + 3 + workers)))


@dataclass(frozen=True)
class Component:
    """One process of the cluster: its argv, extra environment and how to tell it is ready."""

    name: str
    argv: list[str]
    env: dict[str, str]
    port: int | None = None
    ready: Callable[[], bool] | None = None


class Cluster:
    """The processes of one Airflow deployment on this machine, named `<name>-<component>`."""

    def __init__(
        self,
        name: str,
        home: Path,
        database: str,
        ports: ClusterPorts,
        extra: dict[str, str] | None = None,
        concurrency: int = AIRFLOW_WORKER_CONCURRENCY,
        preload: bool = True,
    ) -> None:
        """`preload`: the workers load dbt, its adapter and web3 before forking (peg_monitor.celery_worker);
        False keeps Airflow's default Celery config (the baseline of bench/airflow_shapes.py)."""
        self.name = name
        self.preload = preload
        self.home = home
        self.database = database
        self.ports = ports
        self.concurrency = concurrency
        self.env = self._env(extra or {})

    @classmethod
    def demo(cls) -> Cluster:
        """The demo's cluster: home .stack/airflow, database `airflow`, the ports in settings."""
        ports = ClusterPorts(AIRFLOW_PORT, AIRFLOW_SCHEDULER_PORT, AIRFLOW_TRIGGERER_PORT, AIRFLOW_WORKER_PORTS)
        return cls(DEMO_CLUSTER, AIRFLOW_HOME, postgres.DEMO_DATABASE, ports)

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.ports.api}"

    @property
    def workers(self) -> list[str]:
        """The workers' names, which their task instances record as hostname."""
        return [f"{self.name}-worker-{i}" for i in range(1, len(self.ports.workers) + 1)]

    def _jwt_secret(self) -> str:
        """One signing key for every component's task tokens, kept in the home (made once)."""
        path = self.home / "jwt_secret"
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text()

    def _env(self, extra: dict[str, str]) -> dict[str, str]:
        env = airflow_env("celery") | home_env(self.home)
        return (
            env
            | celery_env(self.database, queue=self.name)
            | {
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.concurrency),
                # As many task slots as the workers have: more would only queue in Redis.
                "AIRFLOW__CORE__PARALLELISM": str(self.concurrency * len(self.ports.workers)),
                "AIRFLOW__API__HOST": HOST,
                "AIRFLOW__API__PORT": str(self.ports.api),
                "AIRFLOW__API__BASE_URL": self.api_url,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",  # local: no login
                "AIRFLOW__API_AUTH__JWT_SECRET": self._jwt_secret(),
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": HOST,
                "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(self.ports.scheduler),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.ports.triggerer),
                "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            }
            | extra
        )

    def _health(self) -> dict:
        try:
            return requests.get(f"{self.api_url}/api/v2/monitor/health", timeout=5).json()
        except (requests.RequestException, ValueError):
            return {}

    def _dag_processor_ready(self) -> bool:
        """The DAG processor listens nowhere: it is ready when the API server sees its heartbeat."""
        return self._health().get("dag_processor", {}).get("status") == "healthy"

    def components(self) -> list[Component]:
        """In start order: the API server first (the others' tasks and the DAG processor's check use it)."""
        airflow = str(BIN / "airflow")
        found = [
            Component("api-server", [airflow, "api-server"], {}, self.ports.api),
            Component("scheduler", [airflow, "scheduler"], {}, self.ports.scheduler),
            Component("dag-processor", [airflow, "dag-processor"], {}, ready=self._dag_processor_ready),
            Component("triggerer", [airflow, "triggerer"], {}, self.ports.triggerer),
        ]
        for worker, port in zip(self.workers, self.ports.workers, strict=True):
            argv = [airflow, "celery", "worker", "--celery-hostname", f"{worker}@%h", "--queues", self.name]
            env = {
                "PEG_WORKER_HOSTNAME": worker,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "devstack.cluster.worker_hostname.hostname",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(port),
            }
            if self.preload:  # dbt, its adapter and web3 loaded once per worker, not once per task
                env["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"] = "peg_monitor.celery_worker.CELERY_CONFIG"
            found.append(Component(worker.removeprefix(f"{self.name}-"), argv, env, port))
        return found

    def process_name(self, component: str) -> str:
        return f"{self.name}-{component}"

    def start_component(self, component: str) -> bool:
        """Start one component unless it runs (e.g. a worker again after it was stopped). True if started."""
        found = next(c for c in self.components() if c.name == component)
        return processes.start(
            self.process_name(found.name),
            found.argv,
            HOST if found.port else None,
            found.port,
            timeout=240,
            env=self.env | found.env,
            ready=found.ready,
        )

    def start(self) -> dict[str, bool]:
        """Start every component that does not run yet; {component: started}. The DB must be migrated."""
        return {c.name: self.start_component(c.name) for c in self.components()}

    def stop(self) -> dict[str, bool]:
        """Stop the scheduler first (nothing new is queued), then the workers (they finish or hand
        back their tasks), the rest, and the API server last (tasks report to it); {component: ran}."""
        names = [c.name for c in self.components()]
        order = [
            "scheduler",
            *[n for n in names if n.startswith("worker-")],
            "triggerer",
            "dag-processor",
            "api-server",
        ]
        return {name: processes.stop(self.process_name(name)) for name in order}

    def status(self) -> dict[str, int | None]:
        return {c.name: processes.pid_of(self.process_name(c.name)) for c in self.components()}
