"""The marts freshness gate and the dashboard refresh check, against the emulator and real HTTP."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout, AirflowSkipException, TaskDeferred

from chainlink_feeds.registry import DEFAULT_REGISTRY
from devstack.simulation import history
from peg_monitor.sensors import DashboardFreshnessSensor, MartsFreshnessSensor

DAY = timedelta(days=1)


def gate(marts: str, start: datetime) -> MartsFreshnessSensor:
    return MartsFreshnessSensor(
        task_id="gate", marts_schema=marts, window_start=start.isoformat(), window_end=(start + DAY).isoformat(),
        mode="poke", poke_interval=0.1, timeout=0.5,
    )  # fmt: skip


@pytest.fixture(scope="module")
def ethereum_registry(tmp_path_factory) -> Path:
    """The shipped registry without its L2: the marts fixture holds the Ethereum node's feeds (the
    daily DAG's end-to-end run gates both chains)."""
    document = yaml.safe_load(DEFAULT_REGISTRY.read_text())
    document["feeds"] = [f for f in document["feeds"] if f["chain"] == "ethereum"]
    document.pop("chains")
    path = tmp_path_factory.mktemp("registry") / "feeds.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_gate_passes_when_the_marts_cover_the_window(marts, stack, ethereum_registry) -> None:
    sensor = gate(marts, stack.end - DAY)
    sensor.registry_path = ethereum_registry
    result = sensor.execute({})
    assert result == {"window_end": stack.end.isoformat(), "stale_feeds": [], "not_live_feeds": []}


def test_gate_fails_naming_each_feed_and_what_is_missing(marts, stack, feeds) -> None:
    with pytest.raises(AirflowSensorTimeout) as raised:
        gate(marts, stack.end).execute({})
    message = str(raised.value)
    for feed in feeds:
        assert f"{feed.pair}: marts cover data up to {stack.end.isoformat()}" in message
    assert f"the window ends {(stack.end + DAY).isoformat()}" in message
    assert "no STABLECOIN_PEG_DAILY row for " + stack.end.date().isoformat() in message


def test_gate_reports_a_stale_feed_without_failing(stack, all_feeds, tmp_path) -> None:
    """Data loaded up to noon while USDT misses its heartbeat: covered, and USDT is reported stale.
    The feeds whose simulated proxies launched later (the hourly ones added with the wider registry,
    EURC, the Arbitrum ones) had served no round yet: reported as not live, not waited for, not stale."""
    import uuid

    from chainlink_feeds.operators import ChainlinkFeedOperator
    from tests.support.pipeline import create_schema, dbt_build, drop_pipeline, load_days

    raw = f"STALE_{uuid.uuid4().hex[:8].upper()}"
    start = stack.stale_window[0].replace(hour=0)
    end = start + timedelta(hours=36)  # inside the outage, more than a heartbeat after USDT's last round
    assert end < stack.stale_window[1]
    create_schema(raw)
    try:
        load_days(raw, all_feeds, [start - DAY])
        for feed in all_feeds:
            ChainlinkFeedOperator(
                task_id="load",
                feed_pair=feed.pair,
                chain=feed.chain,
                window_start=start.isoformat(),
                window_end=end.isoformat(),
                raw_schema=raw,
            ).execute({"run_id": "stale"})
        assert dbt_build(raw, f"{raw}_A", tmp_path).returncode == 0
        sensor = gate(f"{raw}_A_MARTS", start)
        sensor.window_end = end.isoformat()
        result = sensor.execute({})
    finally:
        drop_pipeline(raw)
    assert result["stale_feeds"] == ["USDT/USD"]
    later = [f.label for f in all_feeds if history.simulated_from(f, stack) > end.timestamp()]
    assert result["not_live_feeds"] == later and {"FRAX/USD", "EURC/USD", "USDC/USD on arbitrum"} <= set(later)


def down_sensor(monkeypatch, on_stale: str) -> DashboardFreshnessSensor:
    monkeypatch.setenv("AIRFLOW_CONN_DASHBOARD_DOWN", json.dumps({"conn_type": "http", "host": "http://127.0.0.1:9"}))
    return DashboardFreshnessSensor(
        task_id="refresh", dashboard_conn_id="dashboard_down", window_end="2026-11-24T00:00:00+00:00",
        on_stale=on_stale, poll_interval=0.1, timeout=1,
    )  # fmt: skip


def run_trigger(deferred: TaskDeferred) -> dict:
    async def first_event() -> dict:
        async for event in deferred.trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(first_event())


@pytest.mark.parametrize(("on_stale", "raised"), [("fail", AirflowFailException), ("warn", AirflowSkipException)])
def test_dashboard_down_defers_then_fails_or_warns_with_the_reason(monkeypatch, on_stale, raised) -> None:
    sensor = down_sensor(monkeypatch, on_stale)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    classpath, kwargs = deferred.value.trigger.serialize()
    assert (
        classpath == "peg_monitor.triggers.DashboardFreshnessTrigger"
        and kwargs["dashboard_conn_id"] == "dashboard_down"
    )
    event = run_trigger(deferred.value)
    assert event["status"] == "timeout" and "dashboard http://127.0.0.1:9 is down or unreachable" in event["message"]
    with pytest.raises(raised, match="dashboard refresh check gave up after 1s: dashboard http://127.0.0.1:9 is down"):
        sensor.execute_complete({}, event)


def test_bad_check_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="PEG_DASHBOARD_CHECK must be one of"):
        DashboardFreshnessSensor(task_id="x", on_stale="maybe")
