"""End to end on the embedded stack: one daily run through Airflow (`airflow dags test` on the module's own
Postgres metadata DB), a re-run with dbt from the Astro image's virtualenv, and the refresh check's failures."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from devstack.simulation import history
from peg_monitor.sensors import DashboardFreshnessSensor
from tests.e2e.conftest import E2E_DASHBOARD_PORT
from tests.support.dbt_venv import image_dbt
from tests.support.pipeline import MART_TABLES, query

DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def depeg_day(stack):
    return stack.depeg_start.replace(hour=0, minute=0)


@pytest.fixture(scope="module")
def first_run(pipeline, depeg_day):
    """`airflow dags test` of the depeg day (a manual run's window ends at its logical date)."""
    result = pipeline.airflow("dags", "test", "stablecoin_peg_daily", (depeg_day + DAY).isoformat())
    return result.stdout + result.stderr


def test_daily_run_succeeds_with_every_task(first_run) -> None:
    assert "DagRun Finished" in first_run and "state=success" in first_run.split("DagRun Finished")[-1], first_run[
        -3000:
    ]
    for task in (
        "ingest_ethereum",
        "market_ethereum",
        "dbt.stablecoin_peg_zscore_model_build",
        "dbt.stablecoin_market_vs_oracle_model_build",
        "marts_freshness_gate",
        "dashboard_refresh_check",
    ):
        assert f"end task task_id={task} " in first_run, task


def test_raw_rows_equal_the_chains_ground_truth(first_run, pipeline, truth_by_feed, depeg_day) -> None:
    """Every chain's rounds of the day (Ethereum's and the L2's), as its node served them."""
    for feed, served in truth_by_feed.items():
        pair, where = f"{feed.chain} {feed.pair}", f"chain = '{feed.chain}' and feed_pair = '{feed.pair}'"
        expected = history.rounds_in_window(served, depeg_day, depeg_day + DAY)
        carry = history.carry_in(served, depeg_day)  # None for a feed launched that day
        stored = query(
            f"select round_id, answer, served_from from {pipeline.raw}.CHAINLINK_ROUNDS "
            f"where {where} and served_from >= '{depeg_day:%Y-%m-%d}' "
            f"and served_from < '{depeg_day + DAY:%Y-%m-%d}' order by served_from, round_id"
        )
        assert [int(x) for x in stored.round_id] == [s.round.round_id for s in expected], pair
        assert [int(x) for x in stored.answer] == [s.round.answer for s in expected], pair
        assert [t.timestamp() for t in stored.served_from.dt.tz_localize("UTC")] == [s.served_from for s in expected]
        if carry is not None:
            carried = query(
                f"select answer from {pipeline.raw}.CHAINLINK_ROUNDS "
                f"where {where} and round_id = {carry.round.round_id}"
            )
            assert [int(x) for x in carried.answer] == [carry.round.answer], pair


def test_the_pools_day_is_stored(first_run, pipeline, depeg_day) -> None:
    """Each registry pool's 24 hour readings of the day, on the stack's trading pools."""
    readings = query(
        f"select pool_address, count(*) as hours from {pipeline.raw}.MARKET_POOL_READINGS "
        f"where read_at >= '{depeg_day:%Y-%m-%d}' and read_at < '{depeg_day + DAY:%Y-%m-%d}' group by pool_address"
    )
    assert sorted(readings.hours) == [24] * 4


def test_every_market_source_is_priced_in_usd(first_run, pipeline, depeg_day) -> None:
    """Each feed's pools, each hour, in USD through its reference's served round (the WETH pools
    through the ETH/USD the run loaded beside the feeds); USDC's market below 0.99 on its depeg day."""
    staging = pipeline.raw + "_A_STAGING"
    priced = query(
        f"select feed_pair, reference_pair, count(*) as hours, count(market_price_usd) as priced, "
        f"min(market_price_usd) as low from {staging}.INT_MARKET__SOURCE_PRICES "
        f"where read_at >= '{depeg_day:%Y-%m-%d}' and read_at < '{depeg_day + DAY:%Y-%m-%d}' "
        f"group by feed_pair, reference_pair"
    )
    by_source = {(r.feed_pair, r.reference_pair): (r.hours, r.priced) for r in priced.itertuples()}
    assert by_source == {
        ("USDC/USD", "USDT/USD"): (24, 24), ("USDC/USD", "DAI/USD"): (24, 24), ("USDC/USD", "ETH/USD"): (24, 24),
        ("USDT/USD", "USDC/USD"): (24, 24), ("USDT/USD", "ETH/USD"): (24, 24), ("DAI/USD", "USDC/USD"): (24, 24),
    }  # fmt: skip
    usdc = priced[priced.feed_pair == "USDC/USD"]
    assert (usdc.low.astype(float) < 0.99).all(), usdc  # every witness of the market saw the depeg


def test_marts_are_built_and_cover_the_day(first_run, pipeline, depeg_day, all_feeds) -> None:
    grid = query(
        f"select chain, feed_pair, count(*) as hours from {pipeline.marts}.STABLECOIN_PEG_ZSCORE "
        f"where day = '{depeg_day.date()}' group by chain, feed_pair"
    )
    assert dict(zip(zip(grid.chain, grid.feed_pair, strict=True), grid.hours, strict=True)) == {
        (f.chain, f.pair): 24 for f in all_feeds
    }
    daily = query(
        f"select chain, feed_pair, day_status from {pipeline.marts}.STABLECOIN_PEG_DAILY "
        f"where day = '{depeg_day.date()}'"
    )
    statuses = dict(zip(zip(daily.chain, daily.feed_pair, strict=True), daily.day_status, strict=True))
    # the depeg is the market's: Ethereum's oracle and Arbitrum's both witnessed it
    assert statuses["ethereum", "USDC/USD"] == statuses["arbitrum", "USDC/USD"] == "critical"
    assert "Done. PASS=" in first_run and "ERROR=0" in first_run


def test_refresh_check_passed_against_the_running_dashboard(first_run, depeg_day) -> None:
    assert f"serves every feed up to at least {(depeg_day + DAY).isoformat()}" in first_run


def snapshot(pipeline) -> dict:
    tables = {"RAW": query(f"select * from {pipeline.raw}.CHAINLINK_ROUNDS order by round_id, proxy_address")}
    tables |= {t: query(f"select * from {pipeline.marts}.{t} order by {key}") for t, key in MART_TABLES.items()}
    return tables


@pytest.fixture(scope="module")
def rerun(first_run, pipeline, depeg_day) -> tuple[dict, dict, str]:
    """The same day again, with dbt from a virtualenv laid out as in the Astro image (PEG_DBT_EXECUTABLE,
    as the Dockerfile sets it): the tables before and after, and the run's log."""
    before = snapshot(pipeline)
    env = pipeline.env | {"PEG_DBT_EXECUTABLE": str(image_dbt())}
    airflow = str(Path(sys.executable).with_name("airflow"))
    again = subprocess.run(
        [airflow, "dags", "test", "stablecoin_peg_daily", (depeg_day + DAY).isoformat()],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    return before, snapshot(pipeline), again.stdout + again.stderr


def test_rerunning_a_finished_day_changes_nothing(rerun) -> None:
    import pandas as pd

    before, after, log = rerun
    assert "DagRun Finished" in log and "state=success" in log.split("DagRun Finished")[-1], log[-3000:]
    for table, frame in before.items():
        pd.testing.assert_frame_equal(frame, after[table], obj=table)


def test_the_rerun_ran_the_image_virtualenvs_dbt(rerun) -> None:
    """Cosmos ran the image-shaped virtualenv's dbt as a subprocess (not the test venv's in-process)."""
    log = rerun[2]
    assert f"['{image_dbt()}', 'build'" in log, "Cosmos did not run the dbt virtualenv's dbt"
    assert "end task task_id=dbt.stablecoin_peg_daily_model_build " in log
    assert "end task task_id=marts_freshness_gate " in log


def test_the_raw_table_and_the_marts_share_one_lineage_naming(rerun, pipeline) -> None:
    """The raw table the ingest declares and the marts Cosmos emitted are assets of one naming."""
    listed = pipeline.airflow("assets", "list", "--output", "json")
    uris = [asset["uri"] for asset in json.loads(listed.stdout[listed.stdout.index("[") :])]
    raw = f"snowflake://fakesnow.us-west-1.aws/PEG_MONITOR/{pipeline.raw}/CHAINLINK_ROUNDS"
    marts = [uri for uri in uris if f"/{pipeline.marts}/" in uri]
    assert raw in uris and marts, uris
    assert {uri.rsplit("/", 2)[0] for uri in marts} == {raw.rsplit("/", 2)[0]}, (raw, marts)


def refresh_sensor(window_end, conn_port: int, monkeypatch) -> DashboardFreshnessSensor:
    monkeypatch.setenv(
        "AIRFLOW_CONN_DASHBOARD_E2E", json.dumps({"conn_type": "http", "host": f"http://127.0.0.1:{conn_port}"})
    )
    return DashboardFreshnessSensor(
        task_id="refresh",
        dashboard_conn_id="dashboard_e2e",
        window_end=window_end.isoformat(),
        poll_interval=0.5,
        timeout=3,
    )


def run_to_completion(sensor: DashboardFreshnessSensor) -> None:
    """Execute the sensor; if it defers, run its trigger to the first event and complete with it."""
    import asyncio

    try:
        sensor.execute({})
        return
    except TaskDeferred as deferred:
        trigger = deferred.trigger

    async def first_event() -> dict:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    sensor.execute_complete({}, asyncio.run(first_event()))


def test_refresh_check_fails_when_the_dashboard_serves_old_data(first_run, depeg_day, monkeypatch) -> None:
    sensor = refresh_sensor(depeg_day + 2 * DAY, E2E_DASHBOARD_PORT, monkeypatch)
    with pytest.raises(AirflowFailException) as failed:
        run_to_completion(sensor)
    message = str(failed.value)
    assert "gave up after 3s" in message and f"only USDC/USD up to {(depeg_day + DAY).isoformat()}" in message


def test_refresh_check_fails_when_the_dashboard_is_down(first_run, pipeline, depeg_day, monkeypatch) -> None:
    pipeline.stop_dashboard()
    try:
        with pytest.raises(
            AirflowFailException, match=f"dashboard http://127.0.0.1:{E2E_DASHBOARD_PORT} is down or unreachable"
        ):
            run_to_completion(refresh_sensor(depeg_day + DAY, E2E_DASHBOARD_PORT, monkeypatch))
    finally:
        pipeline.start_dashboard()
