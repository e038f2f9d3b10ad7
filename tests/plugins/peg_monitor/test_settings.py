"""The shared settings: read when asked for (not frozen at import), validated with the variable named."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from peg_monitor import settings

ROOT = Path(__file__).resolve().parents[3]


def test_settings_follow_the_environment_after_import(monkeypatch) -> None:
    monkeypatch.setenv("PEG_START_DATE", "2025-03-01T00:00:00+00:00")
    monkeypatch.setenv("PEG_RPC_POOL", "rpc_elsewhere")
    monkeypatch.setenv("PEG_DBT_SCHEMA", "TEAM_A")
    assert settings.start_date() == datetime(2025, 3, 1, tzinfo=UTC)
    monkeypatch.delenv("PEG_END_DATE", raising=False)
    assert settings.end_date() is None
    monkeypatch.setenv("PEG_END_DATE", "2025-04-01T00:00:00+00:00")
    assert settings.end_date() == datetime(2025, 4, 1, tzinfo=UTC)
    assert settings.rpc_pool().name == "rpc_elsewhere"
    assert settings.marts_schema() == "TEAM_A_MARTS"
    monkeypatch.delenv("PEG_RPC_POOL")
    assert settings.rpc_pool().name == "chainlink_rpc"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PEG_START_DATE", "2024-01-01", "has no time zone"),
        ("PEG_START_DATE", "yesterday", "is not an ISO-8601 time"),
        ("PEG_END_DATE", "2024-13-01T00:00:00+00:00", "is not an ISO-8601 time"),
        ("PEG_END_DATE", "", "is set but empty"),
        ("PEG_WAREHOUSE_POOL_SLOTS", "0", "at least one slot"),
        ("PEG_RPC_POOL_SLOTS", "four", "whole number"),
        ("PEG_RAW_SCHEMA", " ", "is set but empty"),
        ("PEG_DATA_LABEL", "SIMULATED\nsecond line", "one line of at most 200 printable characters"),
        ("PEG_DATA_LABEL", "S" * 201, "one line of at most 200 printable characters"),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(monkeypatch, variable: str, value: str, message: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(settings.SettingsError, match=message) as refused:
        settings.start_date(), settings.end_date(), settings.pools(), settings.raw_schema(), settings.data_label()
    assert variable in str(refused.value)


def test_astro_settings_declare_the_same_pools(monkeypatch) -> None:
    """airflow_settings.yaml (read by `astro dev start`, which cannot import Python) lists the pools
    the code creates locally: same names, slots and descriptions."""
    for variable in ("PEG_RPC_POOL", "PEG_WAREHOUSE_POOL", "PEG_RPC_POOL_SLOTS", "PEG_WAREHOUSE_POOL_SLOTS"):
        monkeypatch.delenv(variable, raising=False)
    declared = yaml.safe_load((ROOT / "airflow_settings.yaml").read_text())["airflow"]["pools"]
    assert [(p["pool_name"], p["pool_slot"], p["pool_description"]) for p in declared] == [
        (p.name, p.slots, p.description) for p in settings.pools()
    ]


def test_astro_settings_connect_every_registry_chain() -> None:
    """`astro dev start` gets an RPC connection for each chain the registry's feeds are on: without
    one, that chain's task refuses to run."""
    from chainlink_feeds.registry import load_registry

    declared = {
        c["conn_id"] for c in yaml.safe_load((ROOT / "airflow_settings.yaml").read_text())["airflow"]["connections"]
    }
    assert {f"chainlink_{feed.chain}" for feed in load_registry()} <= declared
