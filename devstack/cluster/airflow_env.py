"""The environment a project-local Airflow runs with: its home, folders, metadata DB, executor and
the stack's connections (and what keeps a test's or a benchmark's pipeline apart from the demo's)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from devstack.chain.stack_chains import STACK_CHAINS
from devstack.services import alert_receiver, emulator, postgres, redis_broker
from devstack.settings import AIRFLOW_HOME, AIRFLOW_SHAPE, AIRFLOW_WORKER_CONCURRENCY, DASHBOARD_URL, PROJECT_DIR
from devstack.simulation import history

SHAPES = ("celery", "standalone")
DEMO_CLUSTER = "airflow"  # the demo's Celery cluster: its processes' name prefix and its queue
DEADMAN_CHECK = "peg-realtime"  # the demo's check in the inbox's dead-man's switch


def airflow_env(shape: str = AIRFLOW_SHAPE) -> dict[str, str]:
    """Variables that point Airflow at this project and the local stack, no examples.

    `celery` (the default, PEG_AIRFLOW_SHAPE): the demo's metadata DB on the stack's Postgres and
    the CeleryExecutor with Redis as its broker. `standalone`: SQLite and the LocalExecutor, which
    need no server (the unit tests' Airflow CLI runs this way).
    """
    env = home_env(AIRFLOW_HOME) | {
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_DIR / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_DIR / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        # The local stack is offline: no usage reports from Cosmos to scarf.sh after every dbt task.
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "AIRFLOW_CONN_SNOWFLAKE_DEFAULT": emulator.airflow_connection_uri(),
        # One RPC connection per chain the stack runs a node for (chainlink_ethereum, chainlink_arbitrum).
        **{f"AIRFLOW_CONN_{c.conn_id.upper()}": c.airflow_connection() for c in STACK_CHAINS},
        "AIRFLOW_CONN_DASHBOARD_DEFAULT": json.dumps({"conn_type": "http", "host": DASHBOARD_URL}),
        # Alerts go to the stack's inbox (devstack.services.alert_receiver), as they would to Slack or PagerDuty.
        "AIRFLOW_CONN_APPRISE_DEFAULT": json.dumps(
            {"conn_type": "apprise", "extra": {"config": [{"path": alert_receiver.apprise_url()}]}}
        ),
        # The inbox is the dead-man's switch too; the near-real-time DAG pings it at least every 5 minutes.
        "AIRFLOW_CONN_PEG_DEADMAN": json.dumps({"conn_type": "http", "host": alert_receiver.ping_url(DEADMAN_CHECK)}),
        "PEG_REALTIME_ALIVE_MINUTES": "5",
        "PEG_DATA_LABEL": history.LABEL,  # the stack's chains serve a SIMULATED history: every page says so
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(PROJECT_DIR / "plugins"), str(PROJECT_DIR), os.environ.get("PYTHONPATH")])
        ),
    }
    if shape == "celery":
        return env | celery_env(postgres.DEMO_DATABASE, queue=DEMO_CLUSTER)
    if shape == "standalone":
        return env | {
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "devstack.cluster.sqlite_connect_args.CONNECT_ARGS",
        }
    raise ValueError(f"PEG_AIRFLOW_SHAPE must be one of {', '.join(SHAPES)}, got {shape!r}")


def home_env(home: Path) -> dict[str, str]:
    """What lives in an Airflow home: its logs and Cosmos's cache. Cosmos keeps dbt's partial-parse
    file there, valid only for one profile and one set of vars: in the shared default (the system's
    temp dir) the demo's and each test pipeline's schemas would overwrite each other's, and every dbt
    task after such a switch would parse the whole project again."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__COSMOS__CACHE_DIR": str(home / "cosmos"),
    }


def celery_env(database: str, queue: str) -> dict[str, str]:
    """The CeleryExecutor on the stack's Redis, task results and metadata in `database` on its Postgres.

    `queue` is the queue the cluster's tasks go to and its workers read: clusters that share the
    broker (the demo's, a test's) never take each other's tasks.
    """
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres.url(database),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "devstack.services.postgres.CONNECT_ARGS",
        "AIRFLOW__CELERY__BROKER_URL": redis_broker.url(),
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + postgres.url(database, driver="postgresql"),
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(AIRFLOW_WORKER_CONCURRENCY),
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
    }


def pipeline_settings(home: Path, raw: str, dashboard_port: int) -> dict[str, str]:
    """What keeps one pipeline apart from the demo's: its home, raw schema `raw`, dbt schemas
    `{raw}_A_*`, phase cache, and the dashboard on `dashboard_port` it checks (tests and benchmarks)."""
    snowflake = json.loads(emulator.airflow_connection_uri()) | {"schema": raw}
    return home_env(home) | {
        "AIRFLOW_CONN_SNOWFLAKE_DEFAULT": json.dumps(snowflake),
        "AIRFLOW_CONN_DASHBOARD_DEFAULT": json.dumps(
            {"conn_type": "http", "host": f"http://127.0.0.1:{dashboard_port}"}
        ),
        # No dead-man's switch: a test's cluster stopping must not page the demo's inbox.
        "AIRFLOW_CONN_PEG_DEADMAN": json.dumps({"conn_type": "http"}),
        "PEG_RAW_SCHEMA": raw,
        "PEG_DBT_SCHEMA": f"{raw}_A",
        "PEG_PHASE_CACHE": str(home / "cache" / "phases.json"),
    }
