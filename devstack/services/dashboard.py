"""The demo's dashboard: the Streamlit app (streamlit_app/) as a stack service, against the emulator."""

from __future__ import annotations

from devstack.services import emulator, processes
from devstack.settings import BIN, DASHBOARD_HOST, DASHBOARD_PORT, PROJECT_DIR, SNOWFLAKE_DATABASE
from devstack.simulation import history
from peg_monitor import settings


def dashboard_env(marts_schema: str | None = None) -> dict[str, str]:
    """Settings for the Streamlit app against the emulator (see streamlit_app/README.md); the marts
    schema defaults to the one dbt builds (peg_monitor.settings). The stack's data is its SIMULATED
    history, and every page says so (PEG_DATA_LABEL)."""
    params = emulator.connection_params()
    return {
        "SNOWFLAKE_ACCOUNT": params["account"],
        "SNOWFLAKE_USER": params["user"],
        "SNOWFLAKE_PASSWORD": params["password"],
        "SNOWFLAKE_HOST": params["host"],
        "SNOWFLAKE_PORT": str(params["port"]),
        "SNOWFLAKE_PROTOCOL": params["protocol"],
        "SNOWFLAKE_DATABASE": SNOWFLAKE_DATABASE,
        "SNOWFLAKE_WAREHOUSE": params["warehouse"],
        "PEG_MARTS_SCHEMA": marts_schema or settings.marts_schema(),
        "PEG_DATA_LABEL": history.LABEL,
    }


def start_dashboard(
    name: str = "dashboard",
    port: int = DASHBOARD_PORT,
    marts_schema: str | None = None,
    extra: dict | None = None,
) -> bool:
    """Start the app unless it runs and wait until it answers its health check. True if started."""
    argv = [
        str(BIN / "streamlit"), "run", str(PROJECT_DIR / "streamlit_app" / "app.py"),
        "--server.port", str(port), "--server.address", DASHBOARD_HOST, "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    started = processes.start(
        name, argv, DASHBOARD_HOST, port, timeout=90, env=dashboard_env(marts_schema) | (extra or {})
    )
    processes.wait_http(f"http://{DASHBOARD_HOST}:{port}/_stcore/health", 90)
    return started
