"""The connection plumbing: settings, the cached Snowflake connection, display-safe errors, queries.

`query()` runs one read-only statement with bound parameters on the connection `st.connection`
caches, re-opens it once when it was lost (emulator restarted, session expired), and turns every
connector failure into a `DataError` whose message is safe to show (no secret, no traceback) and
says what to do.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import streamlit as st

from peg_dashboard.config import ConfigurationError, DashboardSettings, load_settings

if TYPE_CHECKING:
    import pandas as pd
    from streamlit.connections import SnowflakeConnection

log = logging.getLogger(__name__)

_CONNECTION_NAME = "peg_marts"
_OBJECT_DOES_NOT_EXIST = 2003


class DataError(Exception):
    """The marts cannot be read; the message is safe to show and says what to do."""


class WarehouseUnavailable(DataError):
    """The warehouse did not answer or refused the login."""


class MartsNotFound(DataError):
    """The connection works but the marts schema or tables are missing."""


@dataclass(frozen=True)
class ConnectionStatus:
    """The result of a live check: where the app reads from (never a secret) and whether it works."""

    ok: bool
    summary: dict[str, str]
    latency_ms: float | None = None
    error: str | None = None
    data_label: str = ""  # what the data is, if not the chain's own (SIMULATED)


def settings() -> DashboardSettings:
    """The current settings (secrets, then environment); raises ConfigurationError."""
    try:
        secrets = st.secrets.to_dict()
    except FileNotFoundError:  # no secrets.toml (or one that does not parse): the environment decides
        secrets = {}
    return load_settings(secrets)


def _connection(config: DashboardSettings) -> SnowflakeConnection:
    from streamlit.connections import SnowflakeConnection

    try:
        return st.connection(_CONNECTION_NAME, type=SnowflakeConnection, **config.connect_kwargs())
    except Exception as exc:  # noqa: BLE001 - any connector or config failure becomes one actionable error
        raise _translate(exc, config) from None


def _translate(exc: Exception, config: DashboardSettings) -> DataError:
    """A display-safe error for a connector exception (no secrets, no traceback)."""
    from snowflake.connector import errors

    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    for secret in config.secret_values():
        message = message.replace(secret, "***")
    if isinstance(exc, errors.ProgrammingError) and exc.errno == _OBJECT_DOES_NOT_EXIST:
        return MartsNotFound(
            f"The marts are not in `{config.qualified_schema}` ({message[:200]}). Build them with dbt (the daily "
            "DAG, or `make demo` locally), or point `PEG_MARTS_SCHEMA` / `[peg_monitor] marts_schema` at the "
            "schema that holds them."
        )
    where = config.describe()
    target = f"{where['backend']} (account `{where['account']}`"
    target += f" at `{where['address']}`)" if "address" in where else ")"
    hint = (
        "Start the local stack with `make stack-up`."
        if config.is_emulator
        else "Check the account, user, credentials, role and warehouse in `[connections.snowflake]`."
    )
    return WarehouseUnavailable(f"Cannot read from {target}: {type(exc).__name__}: {message[:300]}. {hint}")


def _is_connection_lost(exc: Exception) -> bool:
    from snowflake.connector import errors

    return isinstance(exc, (errors.OperationalError, errors.InterfaceError)) or (
        getattr(exc, "sqlstate", "") or ""
    ).startswith("08")


def query(sql: str, params: tuple[Any, ...] = ()) -> pd.DataFrame:
    """Run one read-only query on the cached connection; lower-case column names.

    A connection lost since it was cached (emulator restarted, session expired) is re-opened once.
    """
    config = settings()
    conn = _connection(config)
    for attempt in (1, 2):
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                frame = cur.fetch_pandas_all()
            frame.columns = [c.lower() for c in frame.columns]
            return frame
        except Exception as exc:  # noqa: BLE001 - translated into a DataError below
            if attempt == 1 and _is_connection_lost(exc):
                log.warning("lost the warehouse connection (%s), reconnecting", type(exc).__name__)
                conn.reset()
                continue
            raise _translate(exc, config) from None
    raise AssertionError("unreachable")


def connection_status() -> ConnectionStatus:
    """A live check (not cached): one `select 1` on the cached connection, timed."""
    try:
        config = settings()
    except ConfigurationError as exc:
        return ConnectionStatus(ok=False, summary={"backend": "not configured"}, error=str(exc))
    started = time.perf_counter()
    try:
        query("select 1 as ok")
    except DataError as exc:
        return ConnectionStatus(ok=False, summary=config.describe(), error=str(exc))
    return ConnectionStatus(
        ok=True, summary=config.describe(), latency_ms=(time.perf_counter() - started) * 1000,
        data_label=config.data_label,
    )  # fmt: skip
