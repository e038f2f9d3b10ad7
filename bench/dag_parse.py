"""Benchmark: DAG-file parse time of dags/ versus a trivial one-task DAG, in the same run.

Airflow's DAG processor parses each file in a fresh child process of a parent that has Airflow
imported, so every file pays for its own imports (Cosmos, web3, ...). This does the same: it forks
a child per parse from a parent with Airflow loaded and times DagBag on the file. Goal: <= 1.5x.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]

from devstack.airflow_env import airflow_env  # noqa: E402

os.environ.update(airflow_env())

TRIVIAL = """
from datetime import datetime
from airflow.sdk import dag
from airflow.providers.standard.operators.empty import EmptyOperator

@dag(dag_id="trivial", schedule=None, start_date=datetime(2024, 1, 1), tags=["bench"])
def trivial():
    EmptyOperator(task_id="only")

trivial()
"""


def _parse(path: str, queue) -> None:  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    started = time.perf_counter()
    bag = DagBag(dag_folder=path)
    queue.put((time.perf_counter() - started, len(bag.dags), dict(bag.import_errors)))


def parse_time(path: Path, repeat: int) -> float:
    ctx = get_context("fork")
    times = []
    for _ in range(repeat):
        queue = ctx.Queue()
        child = ctx.Process(target=_parse, args=(str(path), queue))
        child.start()
        elapsed, dags, errors = queue.get()
        child.join()
        if errors or not dags:
            raise SystemExit(f"{path} did not parse: {errors}")
        times.append(elapsed)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    # The parent has Airflow and its plugins loaded, as a long-running DAG processor does.
    import airflow.sdk  # noqa: F401
    from airflow import plugins_manager
    from airflow.dag_processing.dagbag import DagBag  # noqa: F401

    plugins_manager.ensure_plugins_loaded()

    with tempfile.TemporaryDirectory() as tmp:
        trivial = Path(tmp) / "trivial_dag.py"
        trivial.write_text(TRIVIAL)
        baseline = parse_time(trivial, args.repeat)
        print(f"{'file':32} {'median parse s':>15} {'x trivial':>10}")
        print(f"{'(trivial one-task DAG)':32} {baseline:15.3f} {1.0:10.2f}")
        for dag_file in sorted((ROOT / "dags").glob("*.py")):
            seconds = parse_time(dag_file, args.repeat)
            print(f"{dag_file.name:32} {seconds:15.3f} {seconds / baseline:10.2f}")


if __name__ == "__main__":
    main()
