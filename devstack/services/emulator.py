"""The Snowflake emulator as a stack service: fakesnow's server (devstack.services.fakesnow_server),
persisted under .stack/fakesnow, its database and schema, and how clients and Airflow reach it."""

from __future__ import annotations

import json
import sys
from typing import Any

from devstack.services import processes
from devstack.settings import (
    FAKESNOW_HOST,
    FAKESNOW_PORT,
    SNOWFLAKE_DATABASE,
    SNOWFLAKE_SCHEMA,
    SNOWFLAKE_WAREHOUSE,
    STACK_DIR,
)

DATA_DIR = STACK_DIR / "fakesnow"
EMULATOR_ACCOUNT = "fakesnow"


def connection_params() -> dict[str, Any]:
    """snowflake.connector.connect() arguments for the emulator, as the Airflow connection gives them."""
    return {
        "account": EMULATOR_ACCOUNT,
        "user": "peg_monitor",
        "password": "emulator",
        "host": FAKESNOW_HOST,
        "port": FAKESNOW_PORT,
        "protocol": "http",
        "database": SNOWFLAKE_DATABASE,
        "schema": SNOWFLAKE_SCHEMA,
        "warehouse": SNOWFLAKE_WAREHOUSE,
        "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
    }


def airflow_connection_uri() -> str:
    """The Snowflake connection for AIRFLOW_CONN_SNOWFLAKE_DEFAULT, in Airflow's JSON form."""
    return json.dumps(
        {
            "conn_type": "snowflake",
            "login": "peg_monitor",
            "password": "emulator",
            "schema": SNOWFLAKE_SCHEMA,
            "extra": {
                "account": EMULATOR_ACCOUNT,
                "database": SNOWFLAKE_DATABASE,
                "warehouse": SNOWFLAKE_WAREHOUSE,
                "role": "SYSADMIN",
                "host": FAKESNOW_HOST,
                "port": FAKESNOW_PORT,
                "protocol": "http",
            },
        }
    )


def start_emulator() -> bool:
    """Start the emulator unless it runs, then create the database, schema and warehouse."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable, "-m", "devstack.services.fakesnow_server",
        "--host", FAKESNOW_HOST, "--port", str(FAKESNOW_PORT), "--db-path", str(DATA_DIR),
    ]  # fmt: skip
    started = processes.start("fakesnow", argv, FAKESNOW_HOST, FAKESNOW_PORT)
    bootstrap()
    return started


def stop_emulator() -> bool:
    return processes.stop("fakesnow")


def bootstrap() -> None:
    """Create the database and schema the pipeline expects (idempotent).

    The emulator has no compute warehouses: it accepts `use warehouse` and ignores it, which is
    all the pipeline does with one. On real Snowflake an administrator creates the warehouse.
    """
    import snowflake.connector

    params = connection_params() | {"database": None, "schema": None}
    with snowflake.connector.connect(**params) as conn, conn.cursor() as cur:
        cur.execute(f"use warehouse {SNOWFLAKE_WAREHOUSE}")
        cur.execute(f"create database if not exists {SNOWFLAKE_DATABASE}")
        cur.execute(f"create schema if not exists {SNOWFLAKE_DATABASE}.{SNOWFLAKE_SCHEMA}")
