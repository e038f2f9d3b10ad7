"""The Airflow shapes benchmark still runs: its smoke mode backfills 1 day on `airflow standalone`
with dbt in Cosmos WATCHER mode, with its own home, metadata DB, schemas and ports (8710-8712 and
dashboard 8603, apart from tests/e2e's), through the measuring code both shapes and
bench/daily_run.py's part 2 share, and leaves no metadata database behind. The Celery shape's
cluster is the one tests/e2e backfills and watches on."""

from __future__ import annotations

from devstack.services import postgres
from tests.support.locks import stack_lock

ROW = r" +\d+ +1/1 +\d+ +\d+ +\d+\.\d +\d+\.\d\d +\d+\.\d\d +\d+\.\d$"  # the last: dbt s per run


def _bench_databases() -> set[str]:
    with postgres.connect() as conn, conn.cursor() as cur:
        cur.execute("select datname from pg_database where datname like 'bench\\_%'")
        return {name for (name,) in cur.fetchall()}


def test_airflow_shapes_smoke(run_bench) -> None:
    with stack_lock():  # the metadata databases are listed before and after
        postgres.start()
    databases = _bench_databases()
    run_bench(
        "airflow_shapes.py",
        "--smoke",
        expect=(
            r"^1-day backfill \d{4}-\d\d-\d\d \.\. \d{4}-\d\d-\d\d of stablecoin_peg_daily, 4 runs at a time, dbt in WATCHER mode$",
            rf"^standalone{ROW}",
        ),
        schemas="BENCH_",
        services=("bench-shapes", "bench-standalone", "bench-celery"),
        timeout=900,
    )
    assert _bench_databases() <= databases, f"metadata databases left behind: {_bench_databases() - databases}"
