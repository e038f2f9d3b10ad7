"""What the project needs before Airflow runs its DAGs, each step timed: the project-local metadata DB
with the pools the DAGs use, and the dbt manifest the DAGs render from. `make airflow-init`,
`make dbt-manifest` and `make demo` run them."""

from __future__ import annotations

from devstack import clock
from devstack.cluster.airflow_env import airflow_env
from devstack.cluster.airflow_init import init_airflow
from peg_monitor import settings


def init_airflow_db() -> None:
    """The project-local Airflow metadata DB and the pools the DAGs use (idempotent), timed."""
    env = airflow_env()
    with clock.step("airflow db"):
        init_airflow(env)
    print(f"airflow    home {env['AIRFLOW_HOME']}, pools {', '.join(p.name for p in settings.pools())}", flush=True)


def build_dbt_manifest() -> None:
    """include/dbt/target/render_manifest.json, which the DAGs render the dbt project from, timed."""
    from peg_monitor.dbt_project import build_manifest

    with clock.step("dbt parse"):
        print(f"dbt        manifest {build_manifest()}", flush=True)
