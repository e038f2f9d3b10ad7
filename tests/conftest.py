"""Test set-up: the project-local Airflow environment and the embedded local stack.

The stack (anvil with the simulated history, the Snowflake emulator) is started once per session
if it is not running yet, exactly as `make demo` starts it; tests that write to a chain use a
scratch anvil of their own, and tests that write to the emulator use a schema of their own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from devstack.cluster.airflow_env import airflow_env
from devstack.settings import AIRFLOW_HOME

# Before anything imports Airflow. The unit tests' Airflow CLI runs on the project-local SQLite DB,
# which needs no server; tests/e2e run clusters of their own on Postgres and Celery. Under xdist
# (`make test` runs two workers) each worker has a SQLite file of its own.
os.environ.update(airflow_env("standalone"))
os.environ.update(
    {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME}/airflow-tests-{os.environ['PYTEST_XDIST_WORKER']}.db"
    }
    if "PYTEST_XDIST_WORKER" in os.environ
    else {}
)
# The demo's alerts and dashboard carry its data label; the in-process tests run unlabelled and test
# the label apart (tests/plugins/peg_alerts/test_notifications.py; the e2e clusters' alerts carry it).
os.environ.pop("PEG_DATA_LABEL", None)

from chainlink_feeds.registry import Feed, load_registry
from devstack.chain import contracts, stack_history
from devstack.chain.stack_chains import ETHEREUM, chains_of
from devstack.services import emulator
from devstack.simulation import history
from tests.support.locks import stack_lock

# `make test` runs two xdist workers, each test file one unit on one worker so its module fixtures
# are built once; files that share something are one unit, run on one worker one after the other:
# the session's 21-day marts (built once, not per worker), and the Airflow clusters. Every test that
# runs Airflow's processes (the e2e pipeline and its dashboard, the near-real-time e2e, the shapes
# benchmark's `airflow standalone`) is in one unit: two Airflows at once on 2 cores slowed each
# 2.5-fold or more, past the fixtures' timeouts (session 12: the
# standalone smoke beside the e2e backfill made that set-up pass pytest-timeout's 900 s, and made
# the marts' loads wait out the emulator's 45 s write lock); one after the other, with the light
# units on the other worker, each runs about as fast as alone. That unit is the longest, so whatever
# runs no Airflow (the image's pip resolutions, the benchmarks below) runs on the other worker.
SHARED_GROUPS = {
    "tests/e2e/": "clusters",
    # the benchmarks that run no Airflow, beside the clusters (each checks only what it leaves itself)
    "tests/bench/test_dag_parse_smoke.py": "light_benches",
    "tests/bench/test_market_read_smoke.py": "light_benches",
    "tests/bench/test_ingest_backfill_smoke.py": "light_benches",
    "tests/bench/test_dashboard_pages_smoke.py": "light_benches",
    "tests/bench/test_daily_run_smoke.py": "light_benches",  # `dags test`: one process, no cluster
    "tests/bench/test_warehouse_merge_smoke.py": "light_benches",
    "tests/bench/test_realtime_latency_smoke.py": "light_benches",  # in-process: no Airflow, no demo
    "tests/bench/": "clusters",
    "tests/streamlit_app/": "marts",
    "tests/plugins/peg_monitor/test_sensors.py": "marts",
    "tests/dbt/test_depeg_witnesses.py": "marts",
}
# The longest units start first, so neither worker is left with a long one at the end.
LONGEST_FIRST = [
    "clusters",
    "tests/plugins/chainlink_feeds/test_recorded_mainnet.py",
    "marts",
    "tests/dbt/test_recorded_marts.py",
]


def unit_of(nodeid: str) -> str:
    """The unit a test runs in: its group, or its file."""
    path = nodeid.split("::", 1)[0]
    return next((group for prefix, group in SHARED_GROUPS.items() if path.startswith(prefix)), path)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest units first (a stable sort: every worker collects the same order, as xdist requires)."""
    rank = {unit: i for i, unit in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(unit_of(item.nodeid), len(rank)))


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """xdist's LoadScope scheduling over `unit_of`, in collection order (its own `--dist loadgroup`
    marks are lost on pytest 9, whose node ids are no longer a string xdist can add a group to)."""
    from xdist.scheduler import LoadScopeScheduling

    class UnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return unit_of(nodeid)

    config.option.loadscopereorder = False  # keep LONGEST_FIRST, not "most tests first"
    return UnitScheduling(config, log)


@pytest.fixture(scope="session")
def all_feeds() -> list[Feed]:
    """Every registry feed, on every chain the stack runs a node for."""
    return load_registry()


@pytest.fixture(scope="session")
def feeds(all_feeds: list[Feed]) -> list[Feed]:
    """The registry's feeds on the stack's Ethereum node (a pair is one feed there; the L2's are in `all_feeds`)."""
    return ETHEREUM.feeds(all_feeds)


@pytest.fixture(scope="session")
def feed_by_pair(feeds: list[Feed]) -> dict[str, Feed]:
    return {f.pair: f for f in feeds}


@pytest.fixture(scope="session")
def stack(all_feeds: list[Feed]) -> history.Scenario:
    """The running local stack's nodes and emulator (started if needed); returns the history they hold:
    the whole one (a demo's stack holds a shorter one; it is replayed)."""
    with stack_lock():
        contracts.build()
        sc = stack_history.scenario(history.HISTORY_DAYS)
        for chain in chains_of(all_feeds):
            chain.start()
            stack_history.ensure_history(all_feeds, sc=sc, chain=chain)
        emulator.start_emulator()
    return sc


@pytest.fixture(scope="session")
def truth(stack: history.Scenario, feeds: list[Feed]) -> dict[str, list[history.ServedRound]]:
    """The simulated ground truth on the Ethereum node: what each feed's proxy served, in order (see history.served)."""
    return {f.pair: history.served(history.phases(f, stack)) for f in feeds}


@pytest.fixture(scope="session")
def truth_by_feed(stack: history.Scenario, all_feeds: list[Feed]) -> dict[Feed, list[history.ServedRound]]:
    """The simulated ground truth of every feed on every chain."""
    return {f: history.served(history.phases(f, stack)) for f in all_feeds}


@pytest.fixture(autouse=True)
def phase_cache(tmp_path, monkeypatch) -> None:
    """Each test caches phase switches and ranges in a file of its own: scratch nodes deploy their
    aggregators at the same addresses as the stack's, with other histories behind them."""
    from chainlink_feeds import operators

    monkeypatch.setattr(operators, "PHASE_CACHE", tmp_path / "chainlink_phases.json")


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """The project-local Airflow metadata DB, migrated (idempotent), for tests that run Airflow's CLI."""
    import subprocess
    import sys
    from pathlib import Path

    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], check=True, capture_output=True)


@pytest.fixture
def snowflake_schema(stack: history.Scenario) -> Iterator[str]:
    """A fresh schema in the emulator for one test, dropped afterwards."""
    import snowflake.connector

    name = f"TEST_{uuid.uuid4().hex[:10].upper()}"
    with snowflake.connector.connect(**emulator.connection_params()) as conn:
        conn.cursor().execute(f"create schema {name}")
        yield name
        conn.cursor().execute(f"drop schema if exists {name} cascade")


@pytest.fixture(scope="session")
def marts(stack, feeds, tmp_path_factory) -> Iterator[str]:
    """A marts schema built by dbt from the last 21 simulated days of every feed (the depeg and the
    phase change among them) and of the market beside them, each loaded as one 21-day window as the
    history DAG loads a month (a day at a time is tests/dbt/test_marts.py's and the e2e's); yields
    the schema name, e.g. DASH_1A2B3C4D_A_MARTS."""
    from tests.support.pipeline import DAY, create_schema, dbt_build, drop_pipeline, load_days, load_market_days

    raw = f"DASH_{uuid.uuid4().hex[:8].upper()}"
    create_schema(raw)
    try:
        first = [stack.end - DAY * 21]
        load_days(raw, feeds, first, span=DAY * 21)
        load_market_days(raw, first, span=DAY * 21)
        result = dbt_build(raw, f"{raw}_A", tmp_path_factory.mktemp("dbt_marts"))
        assert result.returncode == 0, result.stdout[-4000:]
        yield f"{raw}_A_MARTS"
    finally:
        drop_pipeline(raw)
