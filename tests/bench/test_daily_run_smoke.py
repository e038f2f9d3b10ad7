"""The daily run benchmark still runs: its smoke mode times one `airflow dags test` of the daily DAG
and the dbt part of one run under `airflow standalone` in WATCHER mode, each on an Airflow home,
raw/marts schemas and dashboard of its own (ports 8091, 8797-8798 and 8604, apart from tests/e2e's)."""

from __future__ import annotations


def test_daily_run_smoke(run_bench) -> None:
    run_bench(
        "daily_run.py",
        "--smoke",
        expect=(
            r"^one daily run \(airflow dags test, \d{4}-\d\d-\d\d\): \d+\.\d s \(goal <= 45 s\), dbt part \d+\.\d s$",
            r"^dbt task group under airflow standalone: WATCHER \d+\.\d s$",
        ),
        schemas="BENCH_",
        services=("bench-daily",),
        timeout=600,
    )
