"""Every DAG imports cleanly, carries tags, an owner and retries, and touches no network at parse time."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dagbag(monkeypatch_module: pytest.MonkeyPatch):
    from airflow.dag_processing.dagbag import DagBag

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access at DAG parse time: {args}")

    # No connection may be looked up and no socket opened while the DAG files are parsed.
    for name in [n for n in __import__("os").environ if n.startswith("AIRFLOW_CONN_")]:
        monkeypatch_module.delenv(name)
    monkeypatch_module.setattr(socket.socket, "connect", refuse)
    monkeypatch_module.setattr(socket, "create_connection", refuse)
    return DagBag(dag_folder=str(DAGS_DIR))


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_no_import_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert dagbag.dags, "no DAG found in dags/"


def test_every_dag_has_tags_owner_retries_and_docs(dagbag) -> None:
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md, f"{dag_id} has no doc_md"
        for task in dag.tasks:
            assert task.owner not in (None, "", "airflow"), f"{dag_id}.{task.task_id} has no owner"
            assert task.retries >= 2, f"{dag_id}.{task.task_id} retries {task.retries} < 2"


def test_daily_dag_has_one_ingest_task_per_chain_loading_its_feeds_and_references(dagbag, feeds, all_feeds) -> None:
    """The references a pool is priced through (ETH/USD for the WETH pools) load beside the feeds, in
    the chain's one task: the task count grows with the chains, not with the feeds."""
    from chainlink_feeds.operators import ChainlinkChainOperator
    from chainlink_feeds.registry import load_market

    dag = dagbag.dags["stablecoin_peg_daily"]
    ingest = {t.task_id: t for t in dag.tasks if t.task_id.startswith("ingest_")}
    references = load_market().references_in_use()
    assert [r.pair for r in references] == ["ETH/USD", "EUR/USD"]
    chains = {f"ingest_{feed.chain}" for feed in (*all_feeds, *references)}
    assert set(ingest) == chains == {"ingest_ethereum", "ingest_arbitrum"}
    task = ingest["ingest_ethereum"]
    assert isinstance(task, ChainlinkChainOperator) and task.pool == "chainlink_rpc"
    assert [f.pair for f in task.feeds] == [*(f.pair for f in feeds), "ETH/USD", "EUR/USD"]
    arbitrum = ingest["ingest_arbitrum"]  # its feeds, and its sequencer (the chain has a `chains:` entry)
    assert [f.proxy for f in arbitrum.feeds] == [f.proxy for f in all_feeds if f.chain == "arbitrum"]
    assert arbitrum.market.sequencer("arbitrum") is not None


def test_daily_dag_windows_are_whole_utc_days(dagbag) -> None:
    from datetime import UTC, datetime

    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import DataInterval, TimeRestriction

    # The DAG declares the SDK's timetable; the scheduler runs its core form.
    timetable = coerce_to_core_timetable(dagbag.dags["stablecoin_peg_daily"].timetable)
    info = timetable.next_dagrun_info(
        last_automated_data_interval=DataInterval(datetime(2026, 3, 9, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC)),
        restriction=TimeRestriction(earliest=None, latest=None, catchup=True),
    )
    assert info.data_interval.start == datetime(2026, 3, 10, tzinfo=UTC)
    assert info.data_interval.end == datetime(2026, 3, 11, tzinfo=UTC)


def test_dbt_models_are_tasks_that_run_their_tests_after_the_ingest(dagbag) -> None:
    from peg_monitor.dbt_project import DBT_PROJECT_DIR

    dag = dagbag.dags["stablecoin_peg_daily"]
    models = {p.stem for p in (DBT_PROJECT_DIR / "models").rglob("*.sql")}
    build_tasks = {t for t in dag.task_ids if t.startswith("dbt.")}
    assert build_tasks == {f"dbt.{model}_model_build" for model in models}  # dbt build: the model, then its tests
    loads = {t for t in dag.task_ids if t.startswith(("ingest_", "market_"))}
    assert dag.get_task("marts_due").upstream_task_ids == loads
    assert set(dag.get_task("marts_due").load_task_ids) == loads
    for model in ("stg_chainlink__rounds", "stg_chainlink__feeds", "stg_chainlink__load_windows"):
        assert dag.get_task(f"dbt.{model}_model_build").upstream_task_ids == {"marts_due"}
    assert dag.get_task("dbt.stablecoin_peg_health_model_build").upstream_task_ids == {
        "dbt.stg_chainlink__rounds_model_build",
        "dbt.stg_chainlink__feeds_model_build",
        "dbt.int_chainlink__round_pegs_model_build",  # each round's peg: a constant, or EUR/USD's price for EURC
        "dbt.stg_chainlink__chains_model_build",  # an L2's sequencer: its prices untrusted while down
        "dbt.int_chainlink__sequencer_status_model_build",
    }
    gate = dag.get_task("marts_freshness_gate")
    assert {t for t in gate.upstream_task_ids} <= build_tasks and gate.downstream_task_ids == {
        "dashboard_refresh_check"
    }


def test_daily_dag_reads_each_chains_pools_in_one_task_before_dbt(dagbag) -> None:
    from chainlink_feeds.registry import load_market

    dag = dagbag.dags["stablecoin_peg_daily"]
    market = {t.task_id: t for t in dag.tasks if t.task_id.startswith("market_")}
    assert set(market) == {f"market_{p.chain}" for p in load_market().pools} == {"market_ethereum"}
    for task in market.values():
        assert task.pool == "chainlink_rpc" and task.downstream_task_ids == {"marts_due", "peg_alerts"}


def test_ingest_tasks_declare_the_raw_table_asset(dagbag) -> None:
    """Named as Cosmos names the marts on the devstack connection (account `fakesnow`, normalised the
    OpenLineage way), in the schema dbt reads the raw tables from; its name is its URI, as Cosmos's are."""
    raw = "snowflake://fakesnow.us-west-1.aws/PEG_MONITOR/RAW/CHAINLINK_ROUNDS"
    dag = dagbag.dags["stablecoin_peg_daily"]
    for task in dag.tasks:
        if task.task_id.startswith("ingest_"):
            assert [(a.name, a.uri) for a in task.outlets] == [(raw, raw)]


def test_the_raw_asset_shares_the_cosmos_namespace_of_the_devstack_connection(dagbag, monkeypatch) -> None:
    import json

    from cosmos.config import ProfileConfig
    from cosmos.dataset import get_dataset_namespace

    from devstack.services import emulator
    from peg_monitor.dbt_profile import PegSnowflakeProfileMapping

    connection = json.loads(emulator.airflow_connection_uri())
    monkeypatch.setenv("AIRFLOW_CONN_SNOWFLAKE_DEFAULT", json.dumps(connection))
    mapping = PegSnowflakeProfileMapping(conn_id="snowflake_default", profile_args={"schema": "ANALYTICS"})
    namespace = get_dataset_namespace(
        ProfileConfig(profile_name="peg_monitor", target_name="local", profile_mapping=mapping)
    )
    raw = dagbag.dags["stablecoin_peg_daily"].get_task("ingest_ethereum").outlets[0].uri
    assert raw.startswith(f"{namespace}/{mapping.profile['database']}/"), (raw, namespace)


def test_daily_dag_pages_after_the_loads_and_announces_its_failures(dagbag, feeds) -> None:
    from peg_alerts.notifications import notify_pipeline_failure
    from peg_alerts.operators import PegAlertOperator

    dag = dagbag.dags["stablecoin_peg_daily"]
    alerts = dag.get_task("peg_alerts")
    assert isinstance(alerts, PegAlertOperator)
    # the rounds, the references and the pools: the market's verdicts need all three
    assert alerts.upstream_task_ids == {"ingest_ethereum", "ingest_arbitrum", "market_ethereum"}
    assert alerts.trigger_rule == "all_done"  # a chain whose ingest failed does not hold the pools' alerts
    assert (alerts.apprise_conn_id, alerts.snowflake_conn_id) == ("apprise_default", "snowflake_default")
    assert dag.on_failure_callback is notify_pipeline_failure


def test_realtime_dag_runs_on_new_rounds_pages_and_fails_when_an_ingest_fails(dagbag, feeds, all_feeds) -> None:
    from chainlink_feeds.registry import load_market
    from market_pools.triggers import PoolMoveTrigger
    from peg_alerts.notifications import notify_pipeline_failure
    from peg_alerts.operators import PegAlertOperator

    dag = dagbag.dags["stablecoin_peg_realtime"]
    # one watched asset per chain in the registry, each polling its chain's proxies
    watched = {asset.name: asset for asset in dag.timetable.asset_condition.objects}
    assert set(watched) == {"chainlink_ethereum_new_rounds", "chainlink_arbitrum_new_rounds"}
    (l2_watcher,) = watched["chainlink_arbitrum_new_rounds"].watchers
    sequencer = load_market().sequencer("arbitrum")  # a status change starts a run too
    assert l2_watcher.trigger.proxies == [
        *(f.proxy for f in all_feeds if f.chain == "arbitrum"),
        sequencer.sequencer_uptime_feed,
    ]
    assert sequencer.sequencer_uptime_feed not in l2_watcher.trigger.stale_after  # no heartbeat
    assert l2_watcher.trigger.chainlink_conn_id == "chainlink_arbitrum" and l2_watcher.trigger.pools == []
    (watcher,) = watched["chainlink_ethereum_new_rounds"].watchers
    assert isinstance(watcher.trigger, PoolMoveTrigger)
    assert watcher.trigger.proxies == [f.proxy for f in feeds]
    assert watcher.trigger.stale_after == {f.proxy: f.heartbeat_seconds + f.heartbeat_grace_seconds for f in feeds}
    # the pools between two stablecoins, in the same poll; the WETH pools move with ETH, not with a peg
    assert watcher.trigger.pools == [
        "0x3416cF6C708Da44DB2624D63ea0AAef7113527C6", "0x5777d92f208679DB4b9778590Fa3CAB3aC9e2168",
    ]  # fmt: skip
    assert watcher.trigger.step_bps == 25
    # a move is looked at again after the shortest silent_oracle_minutes plus three polls
    assert watcher.trigger.recheck_after == min(f.silent_oracle_minutes for f in feeds) * 60 + 3 * 10
    # each chain's feeds and references, and Ethereum's pools
    every_load = {"ingest_ethereum", "ingest_arbitrum", "market_ethereum"}
    ingest = dag.get_task("ingest_ethereum")
    assert (ingest.window_start, ingest.window_end) == (None, "{{ dag_run.run_after }}")  # each feed resumes
    assert isinstance(dag.get_task("peg_alerts"), PegAlertOperator)
    assert dag.get_task("peg_alerts").upstream_task_ids == every_load
    market = dag.get_task("market_ethereum")
    assert (market.window_start, market.window_end) == (None, "{{ dag_run.run_after }}")  # resumes
    assert market.last_second_reading  # the market's price of now
    # the run's state comes from its leaf, the dead-man's ping, which needs the alerts and every load
    assert [t.task_id for t in dag.leaves] == ["ping_deadman"]
    assert dag.get_task("ping_deadman").upstream_task_ids == {"peg_alerts", "all_feeds_loaded"}
    assert dag.get_task("ping_deadman").deadman_conn_id == "peg_deadman"
    assert dag.get_task("all_feeds_loaded").upstream_task_ids == every_load
    # quiet for 10 minutes: a run anyway (it pings); pages waiting unsent wake the DAG
    assert watcher.trigger.alive_every == float(os.environ.get("PEG_REALTIME_ALIVE_MINUTES", "10")) * 60
    assert watcher.trigger.wake_variables == ["peg_alerts_unsent", "peg_alerts_notices"]
    assert dag.get_task("all_feeds_loaded").trigger_rule == "all_success"
    assert dag.on_failure_callback is notify_pipeline_failure
    # a move during a run starts the next at once, but no task runs in two runs at a time: loads and
    # alerts follow one another
    assert dag.max_active_runs == 2
    assert {t.task_id: t.max_active_tis_per_dag for t in dag.tasks} == dict.fromkeys(dag.task_ids, 1)


def test_history_dag_is_the_daily_pipeline_over_calendar_months(dagbag) -> None:
    """Made for backfilling years: the daily DAG's tasks and dependencies, one month per run."""
    from datetime import UTC, datetime

    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import DataInterval, TimeRestriction

    daily, history = dagbag.dags["stablecoin_peg_daily"], dagbag.dags["stablecoin_peg_history"]
    assert {t: history.get_task(t).upstream_task_ids for t in history.task_ids} == {
        t: daily.get_task(t).upstream_task_ids for t in daily.task_ids
    }
    timetable = coerce_to_core_timetable(history.timetable)
    info = timetable.next_dagrun_info(
        last_automated_data_interval=DataInterval(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)),
        restriction=TimeRestriction(earliest=None, latest=None, catchup=True),
    )
    assert (info.data_interval.start, info.data_interval.end) == (
        datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC),
    )  # fmt: skip
    assert history.get_task("ingest_ethereum").window_start == "{{ data_interval_start }}"
    assert history.on_failure_callback is daily.on_failure_callback and not history.catchup


def test_with_30_feeds_on_3_chains_the_batch_dags_have_one_load_per_chain(tmp_path) -> None:
    """The shape scales with the chains, not the feeds: parsed with a registry of 30 feeds on 3
    chains (SIMULATED addresses), each batch DAG has one ingest task per chain and the same dbt,
    gate and alert tasks; the near-real-time DAG one watcher per chain."""
    import json
    import subprocess
    import sys

    from devstack.simulation.registry import write_wide_registry

    registry = write_wide_registry(tmp_path / "feeds.yaml", feeds=30)
    script = (
        "import json; from airflow.dag_processing.dagbag import DagBag; "
        f"bag = DagBag(dag_folder={str(DAGS_DIR)!r}); "
        "print(json.dumps({'errors': list(bag.import_errors.values()), "
        "'tasks': {d: sorted(dag.task_ids) for d, dag in bag.dags.items()}, "
        "'watched': len(bag.dags['stablecoin_peg_realtime'].timetable.asset_condition.objects)}))"
    )
    env = os.environ | {"PEG_FEED_REGISTRY": str(registry)}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    parsed = json.loads(result.stdout.strip().splitlines()[-1])
    assert parsed["errors"] == []
    for dag_id in ("stablecoin_peg_daily", "stablecoin_peg_history"):
        tasks = parsed["tasks"][dag_id]
        assert [t for t in tasks if t.startswith("ingest_")] == ["ingest_arbitrum", "ingest_base", "ingest_ethereum"]
        dbt = [t for t in tasks if t.startswith("dbt.")]
        assert len(tasks) == 3 + len(dbt) + 4, tasks  # the loads, dbt, marts_due, the gate, the check, the alerts
    assert parsed["watched"] == 3
