"""Dashboard test set-up: the app folder on sys.path, emulator settings for the marts fixture,
AppTest factories, scratch copies of the marts, and a running app in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.services import emulator
from tests.support.pipeline import create_schema, drop_pipeline, drop_schemas
from tests.support.sequencer_marts import build_l2_marts

APP_DIR = Path(__file__).resolve().parents[2] / "streamlit_app"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))

from streamlit.testing.v1 import AppTest  # noqa: E402

MARTS = (
    "STABLECOIN_PEG_HEALTH",
    "STABLECOIN_PEG_ZSCORE",
    "STABLECOIN_DEPEG_EVENTS",
    "STABLECOIN_PEG_DAILY",
    "CHAINLINK_FEED_STALENESS",
    "STABLECOIN_MARKET_VS_ORACLE",
)
# A password the emulator accepts and no page text contains, so a leak would be visible.
TEST_PASSWORD = "pw-Never-Shown-7f3a"


def emulator_connection(**overrides: Any) -> dict[str, Any]:
    """[connections.snowflake] for the emulator of the local stack."""
    params = emulator.connection_params()
    return {
        "account": params["account"],
        "user": params["user"],
        "password": TEST_PASSWORD,
        "host": params["host"],
        "port": params["port"],
        "protocol": "http",
        "database": params["database"],
        "warehouse": params["warehouse"],
    } | overrides


def emulator_env(marts_schema: str, **overrides: str) -> dict[str, str]:
    """The same settings as environment variables (how the container is configured)."""
    connection = emulator_connection()
    env = {f"SNOWFLAKE_{key.upper()}": str(value) for key, value in connection.items()}
    return env | {"PEG_MARTS_SCHEMA": marts_schema} | overrides


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No leftover Streamlit caches or settings between tests; restore the connector's global
    paramstyle, which Streamlit's SnowflakeConnection sets to qmark for the whole process."""
    import snowflake.connector
    import streamlit as st

    for name in list(os.environ):
        if name.startswith(("SNOWFLAKE_", "PEG_MARTS", "PEG_DATA_VERSION", "PEG_DATA_LABEL")):
            monkeypatch.delenv(name)
    paramstyle = snowflake.connector.paramstyle
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()
    snowflake.connector.paramstyle = paramstyle


@pytest.fixture
def app(marts: str) -> Callable[..., AppTest]:
    """An AppTest of the router on the marts fixture, configured through secrets.toml settings."""

    def make(marts_schema: str = marts, connection: dict[str, Any] | None = None, **query_params: str) -> AppTest:
        at = AppTest.from_file(str(APP_DIR / "dashboard.py"), default_timeout=120)
        at.secrets["connections"] = {"snowflake": connection or emulator_connection()}
        at.secrets["peg_monitor"] = {"marts_schema": marts_schema}
        at.query_params.update(query_params)
        return at

    return make


def execute(*statements: str) -> None:
    """Run statements on the emulator (test set-up only; the dashboard itself never writes)."""
    import snowflake.connector

    with snowflake.connector.connect(**emulator.connection_params()) as conn, conn.cursor() as cur:
        for sql in statements:
            cur.execute(sql)


@pytest.fixture
def marts_copy(marts: str) -> Iterator[str]:
    """A writable copy of the marts in a schema of its own, dropped afterwards."""
    schema = f"DASHCOPY_{uuid.uuid4().hex[:8].upper()}"
    execute(f"create schema {schema}")
    try:
        execute(*(f"create table {schema}.{table} as select * from {marts}.{table}" for table in MARTS))
        yield schema
    finally:
        drop_schemas(schema)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_app(env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """`streamlit run streamlit_app/app.py` on a free port with `env` (no secrets file); yields its URL."""
    port = free_port()
    log = (tmp_path / f"streamlit-{port}.log").open("w")
    argv = [
        str(Path(sys.executable).with_name("streamlit")), "run", str(APP_DIR / "app.py"),
        "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
        "--secrets.files", str(tmp_path / "no-secrets.toml"),
    ]  # fmt: skip
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SNOWFLAKE_", "PEG_MARTS", "PEG_DATA_LABEL"))}
    process = subprocess.Popen(argv, env=base | env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the app exited with {process.returncode}: {log.name}")
            try:
                if requests.get(f"{url}/_stcore/health", timeout=2).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):  # not up yet, or too busy to answer in 2 s
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the app did not answer /_stcore/health within 90 s: {log.name}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def l2_marts(stack, tmp_path_factory) -> Iterator[str]:
    """USDC/USD on Ethereum and on Arbitrum, whose sequencer is down at the end of the data
    (tests.support.sequencer_marts)."""
    raw = f"DASHL2_{uuid.uuid4().hex[:8].upper()}"
    create_schema(raw)
    try:
        yield f"{build_l2_marts(raw, tmp_path_factory.mktemp('l2'))}_MARTS"
    finally:
        drop_pipeline(raw)
