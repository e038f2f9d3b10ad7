"""The environment a project-local Airflow runs with: its home, folders and the stack's connections."""

from __future__ import annotations

import json
import os

from devstack import chain, warehouse
from devstack.settings import AIRFLOW_HOME, DASHBOARD_URL, PROJECT_DIR


def airflow_env() -> dict[str, str]:
    """Variables that point Airflow at this project and the local stack (SQLite, no examples)."""
    return {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_DIR / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_DIR / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # The local stack is offline: no usage reports from Cosmos to scarf.sh after every dbt task.
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "devstack.sqlite_connect_args.CONNECT_ARGS",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(AIRFLOW_HOME / "logs"),
        "AIRFLOW_CONN_SNOWFLAKE_DEFAULT": warehouse.airflow_connection_uri(),
        "AIRFLOW_CONN_CHAINLINK_ETHEREUM": chain.airflow_connection_uri(),
        "AIRFLOW_CONN_DASHBOARD_DEFAULT": json.dumps({"conn_type": "http", "host": DASHBOARD_URL}),
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(PROJECT_DIR / "plugins"), str(PROJECT_DIR), os.environ.get("PYTHONPATH")])
        ),
    }
