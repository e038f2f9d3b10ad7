"""The pipeline's shared settings: what both DAGs, the plugins and the local stack would otherwise
each repeat (start date, pools, schema and database names).

Each is read from the environment when asked for, not when this module is imported, so a
deployment, the local stack or a test may set it later; each is validated where it is read and a bad
value is refused with the variable's name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime


class SettingsError(ValueError):
    """A setting from the environment is malformed; the message names the variable."""


@dataclass(frozen=True)
class Pool:
    """An Airflow pool the DAGs' tasks run in: the stack creates it, a deployment must too."""

    name: str
    slots: int
    description: str


def _text(variable: str, default: str) -> str:
    value = os.environ.get(variable, default).strip()
    if not value:
        raise SettingsError(f"{variable} is set but empty: unset it for {default!r} or give a value")
    return value


def _slots(variable: str, default: int) -> int:
    raw = os.environ.get(variable, str(default))
    try:
        slots = int(raw)
    except ValueError:
        raise SettingsError(f"{variable}={raw!r}: give a whole number of pool slots") from None
    if slots < 1:
        raise SettingsError(f"{variable}={raw!r}: a pool needs at least one slot")
    return slots


def _moment(variable: str, raw: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise SettingsError(f"{variable}={raw!r} is not an ISO-8601 time, e.g. 2024-01-01T00:00:00+00:00") from None
    if moment.tzinfo is None:
        raise SettingsError(f"{variable}={raw!r} has no time zone; give UTC, e.g. {raw}+00:00")
    return moment


def start_date() -> datetime:
    """PEG_START_DATE: the first data interval either DAG may schedule (ISO-8601 with a time zone)."""
    return _moment("PEG_START_DATE", _text("PEG_START_DATE", "2024-01-01T00:00:00+00:00"))


def end_date() -> datetime | None:
    """PEG_END_DATE (unset: none): the daily DAG schedules no interval starting after it. An
    environment that only backfills a fixed past (a benchmark, a test) sets it, so unpausing the DAG
    does not also start the scheduler's own run of the latest day."""
    raw = os.environ.get("PEG_END_DATE")
    return None if raw is None else _moment("PEG_END_DATE", _text("PEG_END_DATE", ""))


def rpc_pool() -> Pool:
    """The pool bounding concurrent Chainlink RPC reads (PEG_RPC_POOL, PEG_RPC_POOL_SLOTS)."""
    return Pool(
        _text("PEG_RPC_POOL", "chainlink_rpc"), _slots("PEG_RPC_POOL_SLOTS", 4), "Concurrent Chainlink RPC reads"
    )


def warehouse_pool() -> Pool:
    """The pool bounding concurrent warehouse work (PEG_WAREHOUSE_POOL, PEG_WAREHOUSE_POOL_SLOTS)."""
    return Pool(
        _text("PEG_WAREHOUSE_POOL", "snowflake_warehouse"),
        _slots("PEG_WAREHOUSE_POOL_SLOTS", 4),
        "Concurrent Snowflake work (dbt models and tests, the freshness gate, the alerts)",
    )


def pools() -> tuple[Pool, ...]:
    """Every pool the DAGs use, as the stack creates them (airflow_settings.yaml lists the same for Astro)."""
    return (rpc_pool(), warehouse_pool())


DATA_LABEL_MAX = 200


def data_label() -> str:
    """PEG_DATA_LABEL: names data that is not the chain's own (the local stack sets its SIMULATED
    history's label); every alert's body starts with it. Unset for a real chain."""
    value = os.environ.get("PEG_DATA_LABEL", "").strip()
    if len(value) > DATA_LABEL_MAX or not value.isprintable():
        raise SettingsError(f"PEG_DATA_LABEL must be one line of at most {DATA_LABEL_MAX} printable characters")
    return value


def snowflake_database() -> str:
    """PEG_SNOWFLAKE_DATABASE: the database of every schema below."""
    return _text("PEG_SNOWFLAKE_DATABASE", "PEG_MONITOR")


def raw_schema() -> str:
    """PEG_RAW_SCHEMA: where the ingest and the alerts keep their tables (dbt's sources)."""
    return _text("PEG_RAW_SCHEMA", "RAW")


def dbt_schema() -> str:
    """PEG_DBT_SCHEMA: the dbt target's schema, the prefix of every schema dbt builds."""
    return _text("PEG_DBT_SCHEMA", "ANALYTICS")


def dbt_target() -> str:
    """PEG_DBT_TARGET: the dbt target (`local`: the emulator's account; any other needs PEG_SNOWFLAKE_ACCOUNT)."""
    return _text("PEG_DBT_TARGET", "local")


def snowflake_conn_id() -> str:
    """PEG_SNOWFLAKE_CONN_ID: the Airflow connection dbt's profile is mapped from."""
    return _text("PEG_SNOWFLAKE_CONN_ID", "snowflake_default")


def marts_schema() -> str:
    """The schema the marts are built in and the dashboard reads (dbt's `<target schema>_MARTS`,
    see include/dbt/macros/generate_schema_name.sql)."""
    return f"{dbt_schema()}_MARTS"
