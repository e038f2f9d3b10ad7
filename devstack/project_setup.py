"""What the project needs before Airflow runs its DAGs, each step timed: the project-local metadata DB
with the pools the DAGs use, the dbt manifest the DAGs render from, and (the demo) the warehouse's
models built once. `make airflow-init`, `make dbt-manifest` and `make demo` run them."""

from __future__ import annotations

import json
import subprocess
from contextlib import closing
from typing import TYPE_CHECKING, Any

from devstack import clock
from devstack.cluster.airflow_env import airflow_env
from devstack.cluster.airflow_init import init_airflow
from devstack.settings import STACK_DIR
from peg_monitor import settings

if TYPE_CHECKING:
    from peg_monitor.dbt_project import DbtSettings

DBT_WORK_DIR = STACK_DIR / "dbt"  # the setup run's target and logs, apart from the manifest Cosmos renders
EMULATOR_TARGET = "local"  # profiles.yml's output for the stack's emulator, whatever PEG_DBT_TARGET says


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


def build_warehouse_models() -> None:
    """The emulator's raw tables and the dbt models it lacks (on a fresh warehouse, all: the marts
    then exist empty), timed. The per-round marts are views over the raw tables, so the demo's first
    rounds reach the dashboard when its ingest commits, not after the run's twenty dbt tasks (which
    rebuild every model over what was loaded); models already there are left to Airflow's runs.
    SystemExit naming dbt's last lines if it fails."""
    import snowflake.connector

    from chainlink_feeds.store import RoundStore
    from devstack.services import emulator
    from peg_monitor.dbt_project import DBT_PROJECT_DIR, PROFILE_NAME, DbtSettings

    dbt = DbtSettings()
    with clock.step("warehouse"):
        with closing(snowflake.connector.connect(**emulator.connection_params())) as connection:
            RoundStore(connection, dbt.raw_schema).ensure_tables()
            missing = missing_models(connection, dbt)
        if missing:
            done = subprocess.run(
                [
                    dbt.dbt_executable, "run", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir",
                    str(DBT_PROJECT_DIR), "--profile", PROFILE_NAME, "--target", EMULATOR_TARGET, "--vars",
                    json.dumps(dbt.vars), "--target-path", str(DBT_WORK_DIR / "target"), "--log-path",
                    str(DBT_WORK_DIR / "logs"), "--select", *missing,
                ],
                capture_output=True, text=True, cwd=DBT_PROJECT_DIR,
            )  # fmt: skip
            if done.returncode:
                raise SystemExit(f"error: dbt run of the warehouse's models failed:\n{done.stdout[-2000:]}")
    built = f"{len(missing)} dbt models built" if missing else "every dbt model already there"
    print(f"warehouse  raw tables in {dbt.raw_schema}; {built} in {dbt.schema}_STAGING and {dbt.schema}_MARTS")


def missing_models(connection: Any, dbt: DbtSettings) -> list[str]:
    """The models of the manifest the DAGs render that the warehouse lacks, by name."""
    nodes = [n for n in json.loads(dbt.manifest.read_text())["nodes"].values() if n["resource_type"] == "model"]

    def relation(node: dict) -> tuple[str, str]:  # include/dbt/macros/generate_schema_name.sql
        custom = node["config"].get("schema")
        return (f"{dbt.schema}_{custom}" if custom else dbt.schema).upper(), (node.get("alias") or node["name"]).upper()

    schemas = sorted({relation(node)[0] for node in nodes})
    present: set[tuple[str, str]] = set()
    with connection.cursor() as cur:
        for relations in ("tables", "views"):  # the emulator lists views apart only
            cur.execute(
                f"select table_schema, table_name from information_schema.{relations} "
                f"where table_schema in ({', '.join(['%s'] * len(schemas))})",
                schemas,
            )
            present |= {(schema.upper(), name.upper()) for schema, name in cur.fetchall()}
    return sorted(node["name"] for node in nodes if relation(node) not in present)
