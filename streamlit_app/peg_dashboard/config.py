"""Where the dashboard reads its data: the Snowflake connection and the marts schema.

Read from Streamlit secrets first (`[connections.snowflake]`, `[peg_monitor]`), then from the
environment (`SNOWFLAKE_*`, `PEG_MARTS_SCHEMA`). Settings validate themselves and raise
`ConfigurationError` with a message that says what to set. Nothing here touches the network.

`data_label` (`PEG_DATA_LABEL`) names data that is not the chain's own, shown on every page and in
the freshness route: the local stack sets it to its SIMULATED history's label.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_MARTS_SCHEMA = "ANALYTICS_MARTS"
DEFAULT_DATABASE = "PEG_MONITOR"
EMULATOR_ACCOUNT = "fakesnow"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0"})

# snowflake.connector.connect() argument <- environment variable, for deployments without secrets.toml
ENV_CONNECTION_SETTINGS: dict[str, str] = {
    "account": "SNOWFLAKE_ACCOUNT",
    "user": "SNOWFLAKE_USER",
    "password": "SNOWFLAKE_PASSWORD",
    "private_key_file": "SNOWFLAKE_PRIVATE_KEY_FILE",
    "private_key_file_pwd": "SNOWFLAKE_PRIVATE_KEY_FILE_PWD",
    "authenticator": "SNOWFLAKE_AUTHENTICATOR",
    "token": "SNOWFLAKE_TOKEN",
    "role": "SNOWFLAKE_ROLE",
    "warehouse": "SNOWFLAKE_WAREHOUSE",
    "database": "SNOWFLAKE_DATABASE",
    "host": "SNOWFLAKE_HOST",
    "port": "SNOWFLAKE_PORT",
    "protocol": "SNOWFLAKE_PROTOCOL",
}
# Never shown, logged or returned by the freshness route.
SECRET_SETTINGS = frozenset({"password", "private_key", "private_key_file_pwd", "token", "passcode", "oauth_token"})

# Applied unless the configuration sets them: fail fast when the warehouse is down, keep the
# long-lived session alive, and tag the queries so they are easy to find in QUERY_HISTORY.
CONNECTION_DEFAULTS: dict[str, Any] = {
    "login_timeout": 20,
    "network_timeout": 60,
    "client_session_keep_alive": True,
}
SESSION_DEFAULTS: dict[str, Any] = {"QUERY_TAG": "peg_monitor_dashboard"}

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")
# As plugins/peg_monitor/settings.py's: the app is deployed apart and imports nothing of the pipeline.
DATA_LABEL_MAX = 200

SETUP_HINT = (
    "Add a `[connections.snowflake]` section (account, user, password or private_key_file, warehouse, "
    "database, role) to `streamlit_app/.streamlit/secrets.toml` (copy `secrets.toml.example`), or set "
    "`SNOWFLAKE_ACCOUNT`, `SNOWFLAKE_USER`, `SNOWFLAKE_PASSWORD`, `SNOWFLAKE_WAREHOUSE` and "
    "`SNOWFLAKE_DATABASE` in the environment. For the local emulator also set host `127.0.0.1`, "
    "port `8765` and protocol `http`."
)


class ConfigurationError(Exception):
    """The dashboard's settings are missing or invalid; the message says what to change."""


class DataLabelError(ConfigurationError):
    """The data label is malformed (its message holds no secret, so the freshness route may say it)."""


@dataclass(frozen=True)
class DashboardSettings:
    """The connection arguments (secrets included, never displayed) and the marts location."""

    connection: Mapping[str, Any]
    marts_schema: str = DEFAULT_MARTS_SCHEMA
    source: str = "secrets"
    data_version_ttl_seconds: float = 10.0
    data_label: str = ""

    def __post_init__(self) -> None:
        if not self.connection.get("account"):
            raise ConfigurationError(f"No Snowflake account is configured. {SETUP_HINT}")
        parts = self.marts_schema.split(".")
        if len(parts) > 2 or not all(_IDENTIFIER.match(p) for p in parts):
            raise ConfigurationError(
                f"The marts schema {self.marts_schema!r} is not a plain Snowflake identifier: set "
                "`marts_schema` under `[peg_monitor]` in secrets.toml or `PEG_MARTS_SCHEMA` to a schema "
                "name like ANALYTICS_MARTS or PEG_MONITOR.ANALYTICS_MARTS."
            )
        if str(self.connection.get("protocol", "https")) not in ("http", "https"):
            raise ConfigurationError("The Snowflake `protocol` setting must be http or https.")
        if not 0 < self.data_version_ttl_seconds <= 60:
            raise ConfigurationError("PEG_DATA_VERSION_TTL must be between 0 and 60 seconds.")
        if len(self.data_label) > DATA_LABEL_MAX or not self.data_label.isprintable():
            raise DataLabelError(
                f"The data label (`data_label` under `[peg_monitor]` or `PEG_DATA_LABEL`) must be one line of "
                f"at most {DATA_LABEL_MAX} printable characters, got {self.data_label[:40]!r}."
            )

    @property
    def database(self) -> str:
        """The database holding the marts (from the schema if qualified, else the connection's)."""
        if "." in self.marts_schema:
            return self.marts_schema.split(".")[0].upper()
        return str(self.connection.get("database") or DEFAULT_DATABASE).upper()

    @property
    def schema(self) -> str:
        return self.marts_schema.split(".")[-1].upper()

    @property
    def qualified_schema(self) -> str:
        return f"{self.database}.{self.schema}"

    @property
    def is_emulator(self) -> bool:
        """True for the local Snowflake emulator of the embedded stack (fakesnow)."""
        host = str(self.connection.get("host") or "")
        return self.connection.get("account") == EMULATOR_ACCOUNT or (
            host in LOCAL_HOSTS and self.connection.get("protocol") == "http"
        )

    @property
    def backend(self) -> str:
        return "local Snowflake emulator" if self.is_emulator else "Snowflake"

    def connect_kwargs(self) -> dict[str, Any]:
        """Arguments for snowflake.connector.connect(): the configuration plus safe defaults."""
        kwargs = {**CONNECTION_DEFAULTS, **self.connection}
        kwargs["database"] = self.database
        kwargs["session_parameters"] = {**SESSION_DEFAULTS, **dict(self.connection.get("session_parameters") or {})}
        if self.is_emulator:
            kwargs["session_parameters"]["CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED"] = False
        if "port" in kwargs:
            kwargs["port"] = int(kwargs["port"])
        return kwargs

    def describe(self) -> dict[str, str]:
        """What the sidebar may show: backend, account, database, schema; never a secret."""
        summary = {
            "backend": self.backend,
            "account": str(self.connection.get("account")),
            "database": self.database,
            "schema": self.schema,
        }
        if self.is_emulator:
            summary["address"] = f"{self.connection.get('host', '127.0.0.1')}:{self.connection.get('port', 443)}"
        for key in ("warehouse", "role"):
            if self.connection.get(key):
                summary[key] = str(self.connection[key])
        return summary

    def secret_values(self) -> list[str]:
        """The configured secret strings, so error messages can be scrubbed of them."""
        return [str(v) for k, v in self.connection.items() if k in SECRET_SETTINGS and v]


def load_settings(secrets: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None) -> DashboardSettings:
    """Settings from Streamlit secrets, else from the environment; raises ConfigurationError."""
    environ = os.environ if environ is None else environ
    secrets = secrets or {}
    connections = _section(secrets, "connections")
    app = _section(secrets, "peg_monitor")
    connection = _section(connections, "snowflake")
    source = "secrets"
    if not connection:
        connection = {key: environ[var] for key, var in ENV_CONNECTION_SETTINGS.items() if environ.get(var)}
        source = "environment"
    if not connection:
        raise ConfigurationError(f"No Snowflake connection is configured. {SETUP_HINT}")
    marts_schema = str(app.get("marts_schema") or environ.get("PEG_MARTS_SCHEMA") or DEFAULT_MARTS_SCHEMA)
    ttl = app.get("data_version_ttl_seconds") or environ.get("PEG_DATA_VERSION_TTL") or 10
    try:
        ttl = float(ttl)
    except ValueError as exc:
        raise ConfigurationError("PEG_DATA_VERSION_TTL must be a number of seconds.") from exc
    label = str(app.get("data_label") or environ.get("PEG_DATA_LABEL") or "").strip()
    return DashboardSettings(
        connection=dict(connection), marts_schema=marts_schema, source=source, data_version_ttl_seconds=ttl,
        data_label=label,
    )  # fmt: skip


def _section(mapping: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = mapping.get(key)
    return dict(value) if isinstance(value, Mapping) else {}
