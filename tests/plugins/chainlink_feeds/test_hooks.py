"""ChainlinkHook: retries, fallback, fail-fast faults, masking of the API key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import snowflake.connector

from chainlink_feeds.errors import (
    FeedMismatchError,
    NotAFeedError,
    RpcRejectedError,
    RpcUnavailableError,
    WrongChainError,
)
from chainlink_feeds.hooks import ChainlinkConnectionError, ChainlinkHook
from chainlink_feeds.operators import ChainlinkFeedOperator
from chainlink_feeds.reader import FeedReader
from chainlink_feeds.registry import load_registry
from devstack.services import emulator
from devstack.settings import ANVIL_URL, PROJECT_DIR
from tests.support.faulty_rpc import faulty_rpc
from tests.support.scratch_chain import free_port, scratch_chain

DAY = timedelta(days=1)
SECRET = "sk_live_5ecret_api_key_42"


def connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, host: str, **extra: object) -> str:
    password = extra.pop("password", None)
    value = {"conn_type": "chainlink", "host": host, "extra": {"backoff_seconds": 0.01, **extra}}
    if password:
        value["password"] = password
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(value))
    return conn_id


def midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def load(pair: str, start: datetime, schema: str, conn_id: str, **kwargs: object) -> dict:
    operator = ChainlinkFeedOperator(
        task_id="ingest", feed_pair=pair, window_start=start.isoformat(), window_end=(start + DAY).isoformat(),
        raw_schema=schema, chainlink_conn_id=conn_id, **kwargs,
    )  # fmt: skip
    return operator.execute({"run_id": "faults", "data_interval_start": start})


def chain_data(schema: str) -> list[tuple]:
    with snowflake.connector.connect(**emulator.connection_params()) as conn, conn.cursor() as cur:
        cur.execute(
            f"select round_id, answer, price, started_at, updated_at, seconds_since_previous from {schema}.CHAINLINK_ROUNDS order by round_id"
        )
        return cur.fetchall()


def test_twenty_percent_faults_give_identical_rows(stack, snowflake_schema, monkeypatch) -> None:
    days = [
        ("USDC/USD", midnight(stack.depeg_start)),
        ("USDC/USD", midnight(stack.phase_change_at)),
        ("DAI/USD", stack.start + DAY * 90),
    ]
    for pair, day in days:
        load(pair, day, snowflake_schema, "chainlink_ethereum")
    clean = chain_data(snowflake_schema)
    with snowflake.connector.connect(**emulator.connection_params()) as conn:
        conn.cursor().execute(f"delete from {snowflake_schema}.CHAINLINK_ROUNDS")
    with faulty_rpc(ANVIL_URL, failure_rate=0.2, stall=2.0) as (url, proxy):
        conn_id = connection(monkeypatch, "chainlink_faulty", url, timeout=1, max_retries=12, batch_size=50)
        for pair, day in days:
            load(pair, day, snowflake_schema, conn_id)
    assert sum(proxy.faults.values()) >= 3, proxy.faults
    assert chain_data(snowflake_schema) == clean


def test_primary_down_uses_the_fallback(stack, feed_by_pair, monkeypatch) -> None:
    conn_id = connection(monkeypatch, "chainlink_fallback", "http://127.0.0.1:9", fallback_urls=[ANVIL_URL])
    hook = ChainlinkHook(chainlink_conn_id=conn_id)
    result = FeedReader(hook, feed_by_pair["USDT/USD"]).read(stack.start + DAY * 10, stack.start + DAY * 11)
    assert len(result.rounds) >= 1
    assert hook.provider.current_url == ANVIL_URL


def test_everything_down_fails_with_a_clear_message(stack, feed_by_pair, monkeypatch) -> None:
    conn_id = connection(monkeypatch, "chainlink_down", "http://127.0.0.1:9", max_retries=2)
    with pytest.raises(RpcUnavailableError, match="RPC failed 3 times across 1 endpoint"):
        FeedReader(ChainlinkHook(chainlink_conn_id=conn_id), feed_by_pair["USDT/USD"]).read(stack.start, stack.end)
    ok, message = ChainlinkHook(chainlink_conn_id=conn_id).test_connection()
    assert not ok and "RPC failed" in message


def test_a_bad_api_key_fails_fast_without_showing_the_key(stack, feed_by_pair, monkeypatch) -> None:
    with faulty_rpc(ANVIL_URL, failure_rate=0, required_path=f"/v2/{SECRET}") as (url, proxy):
        conn_id = connection(monkeypatch, "chainlink_badkey", url + "/v2/{api_key}", password="wrong_key_123456")
        with pytest.raises(RpcRejectedError, match="HTTP 401") as raised:
            FeedReader(ChainlinkHook(chainlink_conn_id=conn_id), feed_by_pair["USDT/USD"]).read(stack.start, stack.end)
        assert proxy.seen == 1  # not retried
        assert "wrong_key_123456" not in str(raised.value) and "/v2/***" in str(raised.value)


def test_wrong_chain_fails_fast(stack, feed_by_pair, monkeypatch) -> None:
    with scratch_chain(port=free_port(), chain_id=31337) as rpc:
        conn_id = connection(monkeypatch, "chainlink_other", rpc.url)
        with pytest.raises(WrongChainError, match="serves chain id 31337, but the feed is on chain id 1"):
            FeedReader(ChainlinkHook(chainlink_conn_id=conn_id), feed_by_pair["USDC/USD"]).read(stack.start, stack.end)


def write_registry(tmp_path: Path, **changes: str) -> Path:
    """The shipped registry's first feed written back as YAML (not its `where`, which is not a field), with changes."""
    written = {k: v for k, v in vars(load_registry()[0]).items() if v is not None and k != "where"}
    feed = {**written, **changes}
    text = "feeds:\n  - " + "\n    ".join(
        f"{k}: {json.dumps(str(v)) if k in ('proxy', 'description') else v}" for k, v in feed.items()
    )
    path = tmp_path / "feeds.yaml"
    path.write_text(text + "\n")
    return path


def test_address_without_a_feed_fails_fast(stack, tmp_path, snowflake_schema) -> None:
    registry = write_registry(tmp_path, proxy="0x000000000000000000000000000000000000dEaD")
    with pytest.raises(NotAFeedError, match="is not a Chainlink proxy"):
        load("USDC/USD", stack.start, snowflake_schema, "chainlink_ethereum", registry_path=registry)


def test_description_mismatch_fails_fast(stack, tmp_path, snowflake_schema) -> None:
    registry = write_registry(tmp_path, description="USDC / EUR")
    with pytest.raises(FeedMismatchError, match="describes itself as 'USDC / USD'"):
        load("USDC/USD", stack.start, snowflake_schema, "chainlink_ethereum", registry_path=registry)


def test_connection_settings_are_validated(monkeypatch) -> None:
    conn_id = connection(monkeypatch, "chainlink_nokey", "https://rpc.example/v2/{api_key}")
    with pytest.raises(ChainlinkConnectionError, match="password \\(API key\\) is empty"):
        _ = ChainlinkHook(chainlink_conn_id=conn_id).settings
    conn_id = connection(monkeypatch, "chainlink_noplace", "https://rpc.example/v2", password="abcdef123")
    with pytest.raises(ChainlinkConnectionError, match="no URL says where it goes"):
        _ = ChainlinkHook(chainlink_conn_id=conn_id).settings


def test_test_connection_reports_chain_and_block(stack) -> None:
    ok, message = ChainlinkHook().test_connection()
    assert ok and "chain id 1" in message


def test_api_key_never_appears_in_task_logs(stack, snowflake_schema, airflow_db) -> None:
    """Run a real task through the Airflow CLI against a faulty endpoint whose URL path holds the key."""
    with faulty_rpc(ANVIL_URL, failure_rate=0.3, required_path=f"/v2/{SECRET}", stall=2.0, fail_first=2) as (
        url,
        proxy,
    ):
        snowflake = json.loads(emulator.airflow_connection_uri()) | {"schema": snowflake_schema}
        env = os.environ | {
            "AIRFLOW_CONN_CHAINLINK_ETHEREUM": json.dumps(
                {"conn_type": "chainlink", "host": url + "/v2/{api_key}", "password": SECRET,
                 "extra": {"timeout": 1, "max_retries": 12, "backoff_seconds": 0.01}}
            ),
            "AIRFLOW_CONN_SNOWFLAKE_DEFAULT": json.dumps(snowflake),
        }  # fmt: skip
        day = midnight(stack.depeg_start) + DAY  # the logical date is the end of the window
        airflow = str(Path(sys.executable).with_name("airflow"))
        result = subprocess.run(
            [airflow, "tasks", "test", "stablecoin_peg_daily", "ingest_ethereum", day.isoformat()],
            capture_output=True, text=True, env=env, cwd=PROJECT_DIR, timeout=600,
        )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "loaded" in output and "RPC requests" in output
    assert proxy.faults["http_500"] >= 2 and "/v2/*** failed (HTTP 500)" in output  # retries logged, key masked
    assert SECRET not in output
    log_dir = Path(os.environ["AIRFLOW_HOME"]) / "logs"
    for log_file in log_dir.rglob("*"):
        if log_file.is_file():
            assert SECRET not in log_file.read_text(errors="replace"), log_file


def test_connection_type_is_registered_and_testable_from_airflow(stack) -> None:
    """The `chainlink` type comes from the project's provider entry point; the CLI runs the same test as the UI."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    hooks = subprocess.run([airflow, "providers", "hooks"], capture_output=True, text=True, check=True).stdout
    assert "chainlink_feeds.hooks.ChainlinkHook" in hooks
    tested = subprocess.run([airflow, "connections", "test", "chainlink_ethereum"], capture_output=True, text=True)
    assert "Connection success!" in tested.stdout, tested.stdout + tested.stderr
