"""The demo's warehouse setup: every dbt model built once over empty raw tables, so the dashboard's
marts exist before any load and a load reaches the per-round views without a rebuild; run again, it
builds only the models the warehouse lacks; a failing dbt run is named."""

from __future__ import annotations

import json
import uuid

import pytest
import snowflake.connector

from devstack import project_setup
from devstack.services import emulator
from devstack.simulation import history
from peg_monitor.dbt_project import DbtSettings
from tests.support.pipeline import DAY, MART_TABLES, create_schema, drop_pipeline, load_days, query


@pytest.fixture
def pipeline(monkeypatch, tmp_path) -> str:
    """A scratch raw schema the setup reads from, its dbt schemas beside it; dropped afterwards."""
    raw = f"SETUP_{uuid.uuid4().hex[:8].upper()}"
    monkeypatch.setenv("PEG_RAW_SCHEMA", raw)
    monkeypatch.setenv("PEG_DBT_SCHEMA", f"{raw}_A")
    monkeypatch.setattr(project_setup, "DBT_WORK_DIR", tmp_path)
    create_schema(raw)
    yield raw
    drop_pipeline(raw)


def test_the_marts_exist_empty_and_a_load_reaches_the_views_without_a_rebuild(
    stack: history.Scenario, feeds, pipeline: str, capsys
) -> None:
    project_setup.build_warehouse_models()
    models = [
        n for n in json.loads(DbtSettings().manifest.read_text())["nodes"].values() if n["resource_type"] == "model"
    ]
    assert f"; {len(models)} dbt models built in" in capsys.readouterr().out
    marts = f"{pipeline}_A_MARTS"
    for table in MART_TABLES:
        assert query(f"select count(*) as n from {marts}.{table}")["n"][0] == 0, table

    load_days(pipeline, feeds, [stack.end - DAY])

    staleness = query(f"select chain, proxy_address, rounds_loaded from {marts}.chainlink_feed_staleness")
    assert set(zip(staleness["chain"], staleness["proxy_address"], strict=True)) == {(f.chain, f.proxy) for f in feeds}
    assert (staleness["rounds_loaded"] > 0).all()
    health = query(f"select distinct chain, proxy_address from {marts}.stablecoin_peg_health")
    assert set(zip(health["chain"], health["proxy_address"], strict=True)) == {(f.chain, f.proxy) for f in feeds}
    # the tables are the daily run's to rebuild: still empty
    assert query(f"select count(*) as n from {marts}.stablecoin_peg_daily")["n"][0] == 0

    # run again (a demo started again, its Airflow perhaps running): every model is there, none is
    # rebuilt (a rebuilt daily table would hold the day just loaded)
    project_setup.build_warehouse_models()
    assert "every dbt model already there" in capsys.readouterr().out
    assert query(f"select count(*) as n from {marts}.stablecoin_peg_daily")["n"][0] == 0
    # one model gone: that one alone is built again
    with snowflake.connector.connect(**emulator.connection_params()) as conn:
        conn.cursor().execute(f"drop view {marts}.chainlink_feed_staleness")
    project_setup.build_warehouse_models()
    assert "; 1 dbt models built in" in capsys.readouterr().out
    assert query(f"select count(*) as n from {marts}.chainlink_feed_staleness")["n"][0] == len(feeds)
    assert query(f"select count(*) as n from {marts}.stablecoin_peg_daily")["n"][0] == 0


def test_a_failing_dbt_run_is_named_with_dbts_words(
    stack: history.Scenario, pipeline: str, monkeypatch, tmp_path
) -> None:
    """dbt failing is injected: a stand-in executable that answers as dbt does on a broken model."""
    failing = tmp_path / "dbt"
    failing.write_text("#!/bin/sh\necho 'Database Error in model stg_chainlink__rounds'\nexit 1\n")
    failing.chmod(0o755)
    monkeypatch.setenv("PEG_DBT_EXECUTABLE", str(failing))
    with pytest.raises(SystemExit, match="(?s)dbt run of the warehouse's models failed.*Database Error in model"):
        project_setup.build_warehouse_models()
