"""The daily run benchmark still runs: its smoke mode times one `airflow dags test` of the daily DAG
on an Airflow home, raw/marts schemas and dashboard of its own (dashboard port 8604, apart from
tests/e2e's). Its part 2, a scheduled run in each dbt mode, is bench/airflow_shapes.py's
standalone shape, whose smoke runs one day in WATCHER mode (test_airflow_shapes_smoke.py)."""

from __future__ import annotations


def test_daily_run_smoke(run_bench) -> None:
    run_bench(
        "daily_run.py",
        "--smoke",
        expect=(
            r"^one daily run \(airflow dags test, \d{4}-\d\d-\d\d\): \d+\.\d s \(goal <= 45 s\), dbt part \d+\.\d s$",
        ),
        schemas="BENCH_",
        services=("bench-daily",),
        timeout=300,
    )
