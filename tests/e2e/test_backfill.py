"""A 4-day backfill through Airflow's own backfill mechanism (the REST call the UI's Backfill button
makes) on the production shape: Postgres, Redis, and the scheduler, DAG processor, triggerer, API
server and two Celery workers as separate processes.

One backfill, several things shown on it: every run green on both workers; a worker SIGKILLed while
an ingest task is mid-read, the run completing through a retry with every round loaded once; the
dashboard checks deferred to the triggerer and resumed on the other worker once their own stopped;
the pools bounding concurrency across workers; the marts built once, by the run whose loads finished
last, after every load, and equal to loading the days in order.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from psycopg2.extras import RealDictCursor

from devstack.cluster import rest
from devstack.services import postgres, processes
from devstack.settings import ANVIL_URL
from devstack.simulation import history
from peg_monitor import settings
from tests.e2e.conftest import Pipeline
from tests.e2e.rpc_gate import RpcGate, rpc_gate
from tests.support.pipeline import (
    MART_TABLES,
    create_schema,
    dbt_build,
    drop_pipeline,
    load_days,
    load_market_days,
    query,
)

# pytest-timeout counts the module's set-up in its first test: the cluster's boot, the 4-day backfill
# and its 17 dbt tasks took 15-18 min on a 2-core machine busy with the other worker (session 12,
# twice past the suite's 900 s while every task was green). The set-up's own waits bound it.
pytestmark = pytest.mark.timeout(1800)

DAY = timedelta(days=1)
GATE_PORT = 8109  # in this module's port block
REFRESH_CHECK = "dashboard_refresh_check"
TI_COLUMNS = "run_id, task_id, try_number, state, hostname, pool, scheduled_dttm, queued_dttm, start_date, end_date"


@pytest.fixture(scope="module")
def gate() -> Iterator[RpcGate]:
    with rpc_gate(ANVIL_URL, GATE_PORT) as held:
        yield held


def backfill_days(stack: history.Scenario) -> list[datetime]:
    """The phase-change day through the depeg's first day: 4 days, one wave of 4 runs at a time (the
    marts over the whole depeg, loaded in any order, are tests/dbt/test_marts.py's)."""
    first = stack.phase_change_at.replace(hour=0, minute=0)
    days = [first + DAY * i for i in range(4)]
    assert days[-1] == stack.depeg_start.replace(hour=0, minute=0)
    return days


@pytest.fixture(scope="module")
def cluster_settings(gate, stack) -> dict[str, str]:
    """The cluster reads the chain through the gate; the daily DAG ends with the backfill's last day,
    so unpausing it starts no scheduled run of the latest day beside the backfill."""
    rpc = {
        "conn_type": "chainlink",
        "host": f"http://127.0.0.1:{GATE_PORT}",
        "extra": {"timeout": 30, "batch_size": 200},
    }
    return {"AIRFLOW_CONN_CHAINLINK_ETHEREUM": json.dumps(rpc), "PEG_END_DATE": backfill_days(stack)[-1].isoformat()}


def task_rows(database: str, table: str = "task_instance") -> list[dict]:
    with postgres.connect(database) as conn, conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(f"select {TI_COLUMNS} from {table} where dag_id = %s", (rest.DAILY_DAG,))
        return list(cur.fetchall())


def run_states(database: str) -> dict[str, str]:
    with postgres.connect(database) as conn, conn.cursor() as cur:
        cur.execute("select run_id, state from dag_run where dag_id = %s", (rest.DAILY_DAG,))
        return dict(cur.fetchall())


def running_runs(database: str) -> set[str]:
    return {run for run, state in run_states(database).items() if state == "running"}


def all_tries(database: str) -> list[dict]:
    """Every try of every task: the current ones and those archived when a task was retried."""
    return task_rows(database) + task_rows(database, "task_instance_history")


def wait_for(what: str, check, timeout: float, every: float = 1.0):
    """Poll `check()` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout:.0f}s")
        time.sleep(every)
    return found


@dataclass
class Backfill:
    """What the module's backfill did, and what the test did to it on the way."""

    days: list[datetime]
    states: dict[str, str] = field(default_factory=dict)  # logical date -> state
    run_states: dict[str, str] = field(default_factory=dict)  # run id -> state
    runs: list[dict] = field(default_factory=list)
    tries: list[dict] = field(default_factory=list)
    killed_worker: str = ""
    killed_task: dict = field(default_factory=dict)
    killed_at: datetime | None = None
    deferred_on: dict[str, str] = field(default_factory=dict)  # run id -> the worker its check deferred on
    stopped_worker: str = ""
    trouble: str = ""  # every try that did not succeed or skip, with the end of its log (for a red run's message)


def log_line(line: str) -> str:
    """A task log's JSON line as level, event and the exception's type and value, if any."""
    try:
        entry = json.loads(line)
    except ValueError:
        return line[:300]
    errors = [f"{e.get('exc_type')}: {e.get('exc_value')}" for e in entry.get("error_detail") or []]
    return " ".join([entry.get("level", ""), str(entry.get("event", ""))[:300], *errors])


def trouble_report(tries: list[dict], logs: Path, lines: int = 15) -> str:
    """Each failed, upstream-failed or retried try, in start order, with the last lines of its log:
    what a red backfill's assertion shows (the cluster's home is gone on CI)."""
    bad = [t for t in tries if t["state"] not in ("success", "skipped", "deferred", None)]
    report = []
    for t in sorted(bad, key=lambda t: (t["start_date"] or datetime.max.replace(tzinfo=UTC), t["task_id"])):
        report.append(
            f"{t['run_id']} {t['task_id']} try {t['try_number']}: {t['state']} on {t['hostname']} "
            f"({t['start_date']} - {t['end_date']})"
        )
        folder = logs / f"dag_id={rest.DAILY_DAG}" / f"run_id={t['run_id']}" / f"task_id={t['task_id']}"
        for log in sorted(folder.glob(f"attempt={t['try_number']}.log*")):
            report += [
                f"    {log.name}: {log_line(line)}" for line in log.read_text(errors="replace").splitlines()[-lines:]
            ]
    return "\n".join(report)


def kill_a_worker_mid_ingest(pipeline: Pipeline, gate: RpcGate, done: Backfill) -> None:
    """Hold the chain's answers until every running ingest task waits on one, then SIGKILL the whole
    process tree (worker, its pool, task supervisors and tasks) of a worker running one, and start
    it again as a machine coming back would."""
    cluster, database = pipeline.cluster, pipeline.cluster.database

    def held_ingests() -> list[dict]:
        running = [r for r in task_rows(database) if r["task_id"].startswith("ingest_") and r["state"] == "running"]
        in_backfill = [r for r in running if r["run_id"].startswith("backfill__")]
        return in_backfill if in_backfill and gate.waiting >= len(running) else []

    victim = wait_for("a backfill's ingest task held mid-read", held_ingests, timeout=300, every=0.2)[0]
    worker = victim["hostname"].removeprefix(f"{cluster.name}-")
    assert processes.kill(cluster.process_name(worker))
    done.killed_at = datetime.now().astimezone()
    gate.open()
    done.killed_worker, done.killed_task = victim["hostname"], victim
    cluster.start_component(worker)


def move_deferred_checks_to_the_other_worker(pipeline: Pipeline, done: Backfill) -> None:
    """With the dashboard down, wait until every active run waits in its deferred refresh check and
    nothing else runs; stop the worker most of them deferred on, bring the dashboard up, let the
    triggerer resume them, then start that worker again."""
    cluster, database = pipeline.cluster, pipeline.cluster.database

    def all_deferred() -> dict[str, str]:
        active = running_runs(database)
        checks = {r["run_id"]: r for r in task_rows(database) if r["task_id"] == REFRESH_CHECK}
        if active and all(checks.get(run, {}).get("state") == "deferred" for run in active):
            return {run: checks[run]["hostname"] for run in active}
        return {}

    done.deferred_on = wait_for("every active run's refresh check deferred", all_deferred, timeout=900, every=2)
    hosts = list(done.deferred_on.values())
    done.stopped_worker = max(set(hosts), key=hosts.count)
    worker = done.stopped_worker.removeprefix(f"{cluster.name}-")
    assert processes.stop(cluster.process_name(worker))
    pipeline.start_dashboard()

    def resumed() -> bool:
        checks = {r["run_id"]: r["state"] for r in task_rows(database) if r["task_id"] == REFRESH_CHECK}
        return all(checks[run] in ("success", "failed") for run in done.deferred_on)

    wait_for("the deferred checks resumed", resumed, timeout=300, every=2)
    cluster.start_component(worker)


@pytest.fixture(scope="module")
def backfilled(pipeline: Pipeline, gate: RpcGate, stack) -> Backfill:
    """Backfill the phase-change day through the depeg's first day, 4 runs at a time."""
    done = Backfill(backfill_days(stack))
    cluster, api = pipeline.cluster, pipeline.cluster.ports.api
    pipeline.stop_dashboard()  # the refresh checks defer until it is back
    gate.close()
    try:
        cluster.start()
        rest.wait_dag_parsed(port=api)
        logical = rest.backfill(done.days[0].date(), done.days[-1].date(), port=api, max_active_runs=4)
        kill_a_worker_mid_ingest(pipeline, gate, done)
        move_deferred_checks_to_the_other_worker(pipeline, done)
        done.states = rest.wait_runs(logical, port=api, timeout=1800)
        done.runs = [r for r in rest.runs(port=api) if r["run_type"] == "backfill"]
        done.tries = all_tries(cluster.database)
        done.run_states = run_states(cluster.database)
        done.trouble = trouble_report(done.tries, cluster.home / "logs")
    finally:
        gate.open()
        cluster.stop()
        pipeline.start_dashboard()
    return done


def backfill_tries(done: Backfill) -> list[dict]:
    run_ids = {r["dag_run_id"] for r in done.runs}
    return [t for t in done.tries if t["run_id"] in run_ids]


def test_every_backfill_run_is_green_and_covers_its_day(backfilled: Backfill) -> None:
    assert backfilled.states == {day.date().isoformat(): "success" for day in backfilled.days}, backfilled.trouble
    intervals = {(r["data_interval_start"][:10], r["data_interval_end"][:10]) for r in backfilled.runs}
    assert intervals == {(d.date().isoformat(), (d + DAY).date().isoformat()) for d in backfilled.days}


def test_runs_are_spread_over_both_workers(backfilled: Backfill, pipeline: Pipeline) -> None:
    finished = [t for t in backfill_tries(backfilled) if t["state"] == "success"]
    by_worker = {w: sum(t["hostname"] == w for t in finished) for w in pipeline.cluster.workers}
    assert set(t["hostname"] for t in finished) == set(pipeline.cluster.workers), by_worker
    # each worker ran a fair share, not one stray task
    assert min(by_worker.values()) >= len(finished) / 4, by_worker
    # tasks, not runs, go to the workers: the run that built the marts (its 20-odd tasks) ran on both
    # (a run of four loading tasks may land on one worker by chance)
    hosts = {run: {t["hostname"] for t in finished if t["run_id"] == run} for run in {t["run_id"] for t in finished}}
    builder = max(hosts, key=lambda run: sum(t["run_id"] == run for t in finished))
    assert len(hosts[builder]) == 2, hosts


def test_killed_worker_task_completed_through_a_retry(backfilled: Backfill) -> None:
    victim = backfilled.killed_task
    tries = sorted(
        (t for t in backfilled.tries if (t["run_id"], t["task_id"]) == (victim["run_id"], victim["task_id"])),
        key=lambda t: t["try_number"],
    )
    killed = next(t for t in tries if t["try_number"] == victim["try_number"])
    # The scheduler found the try without a heartbeat and failed it after the kill; a later try succeeded.
    assert killed["state"] == "failed" and killed["hostname"] == backfilled.killed_worker
    assert killed["end_date"] > backfilled.killed_at
    assert tries[-1]["state"] == "success" and tries[-1]["try_number"] > killed["try_number"]
    assert backfilled.run_states[victim["run_id"]] == "success"


def test_raw_rounds_equal_the_chains_ground_truth(backfilled: Backfill, pipeline: Pipeline, truth_by_feed) -> None:
    """Nothing missing and nothing twice after the kill: every served round of the days on every
    chain, once, as the chain served it."""
    first, end = backfilled.days[0], backfilled.days[-1] + DAY
    for feed, served in truth_by_feed.items():
        pair, where = feed.pair, f"chain = '{feed.chain}' and feed_pair = '{feed.pair}'"
        expected = history.rounds_in_window(served, first, end)
        stored = query(
            f"select round_id, answer, served_from from {pipeline.raw}.CHAINLINK_ROUNDS where {where} "
            f"and served_from >= '{first:%Y-%m-%d}' and served_from < '{end:%Y-%m-%d}' order by served_from, round_id"
        )
        assert [int(x) for x in stored.round_id] == [s.round.round_id for s in expected], pair
        assert [int(x) for x in stored.answer] == [s.round.answer for s in expected], pair
        assert [t.timestamp() for t in stored.served_from.dt.tz_localize("UTC")] == [s.served_from for s in expected]
        carry = history.carry_in(served, first)
        if carry is None:  # a feed launched later: nothing was served before the window
            continue
        carried = query(
            f"select count(*) as n from {pipeline.raw}.CHAINLINK_ROUNDS "
            f"where {where} and round_id = {carry.round.round_id}"
        )
        assert int(carried.n[0]) == 1, pair


def test_no_duplicate_rounds(backfilled: Backfill, pipeline: Pipeline) -> None:
    dupes = query(
        f"select chain, proxy_address, round_id, count(*) as n from {pipeline.raw}.CHAINLINK_ROUNDS "
        "group by 1, 2, 3 having count(*) > 1"
    )
    assert dupes.empty
    assert len(query(f"select * from {pipeline.raw}.CHAINLINK_LOAD_WINDOWS")) >= len(backfilled.days) * 3


def test_deferred_checks_resumed_on_the_other_worker(backfilled: Backfill, pipeline: Pipeline) -> None:
    """The checks that deferred on the stopped worker were resumed (from the triggerer's event) on the other one."""
    moved = [run for run, host in backfilled.deferred_on.items() if host == backfilled.stopped_worker]
    assert moved
    checks = {t["run_id"]: t for t in task_rows_of(backfilled, REFRESH_CHECK)}
    for run in moved:
        assert checks[run]["state"] == "success", run
        assert checks[run]["hostname"] not in ("", None, backfilled.stopped_worker), checks[run]
        assert checks[run]["hostname"] in pipeline.cluster.workers


def task_rows_of(done: Backfill, task_id: str) -> list[dict]:
    """The latest try of `task_id` in each run (archived tries have lower try numbers)."""
    latest: dict[str, dict] = {}
    for t in done.tries:
        if t["task_id"] == task_id and t["try_number"] >= latest.get(t["run_id"], {}).get("try_number", 0):
            latest[t["run_id"]] = t
    return list(latest.values())


def running_at(tries: list[dict], moment: datetime) -> list[dict]:
    return [t for t in tries if t["start_date"] <= moment < t["end_date"]]


@pytest.mark.parametrize("pool", [pool.name for pool in settings.pools()])
def test_pools_bound_concurrency_across_both_workers(backfilled: Backfill, pipeline: Pipeline, pool: str) -> None:
    """From task start/end times (every try, every run): never more tasks of a pool running at once,
    on both workers together, than the pool's slots; and at some moment the pool was full while
    one of its tasks was ready and waiting and the workers had free slots, so the pool held it back."""
    slots = next(p.slots for p in settings.pools() if p.name == pool)
    capacity = pipeline.cluster.concurrency * len(pipeline.cluster.workers)
    ran = [t for t in backfilled.tries if t["start_date"] and t["end_date"] and t["hostname"]]  # not the skipped
    in_pool = [t for t in ran if t["pool"] == pool]
    assert {t["hostname"] for t in in_pool} == set(pipeline.cluster.workers)
    peak = max(len(running_at(in_pool, t["start_date"])) for t in in_pool)
    assert peak <= slots
    held_back = [
        t["start_date"]
        for t in in_pool
        if len(running_at(in_pool, t["start_date"])) == slots
        and len(running_at(ran, t["start_date"])) < capacity
        and any(
            w["scheduled_dttm"] and w["queued_dttm"] and w["scheduled_dttm"] <= t["start_date"] < w["queued_dttm"]
            for w in in_pool
        )
    ]
    assert held_back, f"{pool} never filled up while a task waited for it (peak {peak})"


def test_the_marts_are_built_once_after_every_load(backfilled: Backfill) -> None:
    """The run whose loads finished last let dbt run (two may, if their guards looked at the same
    moment; never none); the others skipped dbt, the gate and the check, after every load."""
    guards = {t["run_id"]: t["state"] for t in task_rows_of(backfilled, "marts_due")}
    builders = {run for run, state in guards.items() if state == "success"}
    assert set(guards.values()) <= {"success", "skipped"} and 1 <= len(builders) < len(backfilled.days), guards
    latest = [t for t in backfill_tries(backfilled) if t["try_number"] == max_try(backfilled, t)]
    after = [
        t for t in latest if t["task_id"].startswith("dbt.") or t["task_id"] in ("marts_freshness_gate", REFRESH_CHECK)
    ]
    assert {t["state"] for t in after if t["run_id"] not in builders} == {"skipped"}
    assert {t["state"] for t in after if t["run_id"] in builders} == {"success"}, backfilled.trouble
    loads_end = max(t["end_date"] for t in latest if t["task_id"].startswith(("ingest_", "market_")))
    assert min(t["start_date"] for t in after if t["run_id"] in builders) > loads_end


def max_try(done: Backfill, task: dict) -> int:
    return max(t["try_number"] for t in done.tries if (t["run_id"], t["task_id"]) == (task["run_id"], task["task_id"]))


def test_marts_equal_a_load_in_order(backfilled: Backfill, pipeline: Pipeline, all_feeds, tmp_path) -> None:
    days = backfilled.days
    in_order = f"ORD_{uuid.uuid4().hex[:8].upper()}"
    create_schema(in_order)
    try:
        load_days(in_order, all_feeds, days)
        load_market_days(in_order, days)
        assert dbt_build(in_order, f"{in_order}_A", tmp_path).returncode == 0
        window = f"between '{days[0].date()}' and '{days[-1].date()}'"
        for table, key in MART_TABLES.items():
            where = {"STABLECOIN_PEG_ZSCORE": f"where day {window}", "STABLECOIN_PEG_DAILY": f"where day {window}"}.get(
                table, ""
            )
            if table in ("STABLECOIN_PEG_HEALTH", "STABLECOIN_DEPEG_EVENTS"):
                continue  # compared below on the days both loaded
            if table == "CHAINLINK_FEED_STALENESS":
                continue  # "now" for it is the end of all loaded data, which the scheduler's own latest run moves
            expected = query(f"select * from {in_order}_A_MARTS.{table} {where} order by {key}")
            actual = query(f"select * from {pipeline.marts}.{table} {where} order by {key}")
            pd.testing.assert_frame_equal(expected, actual, obj=table)
        health = (
            "select * from {schema}.STABLECOIN_PEG_HEALTH where to_date(updated_at) "
            + window
            + f" order by {MART_TABLES['STABLECOIN_PEG_HEALTH']}"
        )
        pd.testing.assert_frame_equal(
            query(health.format(schema=f"{in_order}_A_MARTS")),
            query(health.format(schema=pipeline.marts)),
            obj="health",
        )
        events = "select * from {schema}.STABLECOIN_DEPEG_EVENTS order by depeg_event_id"
        pd.testing.assert_frame_equal(
            query(events.format(schema=f"{in_order}_A_MARTS")),
            query(events.format(schema=pipeline.marts)),
            obj="events",
        )
    finally:
        drop_pipeline(in_order)
