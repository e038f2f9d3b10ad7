"""Benchmark: DAG-file parse time of dags/ versus a trivial one-task DAG, in the same run.

Airflow's DAG processor parses each file in a fresh child forked from a parent that has Airflow,
the plugins (Cosmos's own plugin among them) and the file's `airflow.*` imports loaded
(`[dag_processor] parsing_pre_import_modules`), so every file pays for its other imports and its
own work. This does the same, with Airflow's own pre-import function, and times DagBag on the
file in the child. Goal: <= 1.5x. Beside it, each DAG file parsed again with a SIMULATED registry
of --feeds feeds on 3 chains (devstack/simulation/registry.py, in a fresh interpreter, as a
deployment with that registry parses): the DAGs' shape follows the chains, so should their parse
time (goal: <= 1.2x the shipped registry's).

    .venv/bin/python bench/dag_parse.py [--repeat 5] [--feeds 30]
    .venv/bin/python bench/dag_parse.py --smoke    # every file parsed once: does it still run?
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]

from devstack.cluster.airflow_env import airflow_env  # noqa: E402

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

# The floor Cosmos itself sets for this project: a DAG holding nothing but a DbtTaskGroup rendered
# from the same manifest with a profiles.yml (no project code), to tell Cosmos's cost from ours.
COSMOS_ONLY = """
from datetime import datetime
from airflow.sdk import dag
from cosmos import DbtTaskGroup, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import LoadMode, TestBehavior

DBT = "{dbt}"

@dag(dag_id="cosmos_only", schedule=None, start_date=datetime(2024, 1, 1), tags=["bench"])
def cosmos_only():
    DbtTaskGroup(
        group_id="dbt",
        project_config=ProjectConfig(DBT, manifest_path=DBT + "/target/render_manifest.json"),
        profile_config=ProfileConfig(
            profile_name="peg_monitor", target_name="local", profiles_yml_filepath=DBT + "/profiles.yml"
        ),
        render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST, test_behavior=TestBehavior.BUILD),
    )

cosmos_only()
"""


def _parse(path: str, queue) -> None:  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    quiet = os.open(os.devnull, os.O_WRONLY)  # the processor ships a parse's logs to a file, not a terminal
    os.dup2(quiet, 1)
    os.dup2(quiet, 2)
    started = time.perf_counter()
    bag = DagBag(dag_folder=path)
    queue.put((time.perf_counter() - started, len(bag.dags), dict(bag.import_errors)))


def parse_time(path: Path, repeat: int) -> float:
    import structlog
    from airflow.dag_processing.processor import _pre_import_airflow_modules

    _pre_import_airflow_modules(str(path), structlog.get_logger())
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


def dag_medians(repeat: int) -> dict[str, float]:
    """Median parse seconds of each file in dags/, with the registry this process was started with."""
    return {dag_file.name: parse_time(dag_file, repeat) for dag_file in sorted((ROOT / "dags").glob("*.py"))}


def wide_medians(feeds: int, repeat: int, tmp: Path) -> dict[str, float]:
    """dag_medians in a fresh interpreter whose registry is `feeds` SIMULATED feeds on 3 chains."""
    from devstack.simulation.registry import write_wide_registry

    registry = write_wide_registry(tmp / "wide_feeds.yaml", feeds)
    result = subprocess.run(
        [sys.executable, __file__, "--repeat", str(repeat), "--dag-medians-json"],
        env=os.environ | {"PEG_FEED_REGISTRY": str(registry)},
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"parsing with {feeds} SIMULATED feeds failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--feeds", type=int, default=30, help="feeds in the SIMULATED wide registry")
    parser.add_argument("--smoke", action="store_true", help="every file parsed once (--repeat 1)")
    parser.add_argument("--dag-medians-json", action="store_true", help=argparse.SUPPRESS)  # wide_medians' child
    args = parser.parse_args()
    if args.smoke:
        args.repeat = 1
    # The parent has Airflow and its plugins loaded, as a long-running DAG processor does.
    import airflow.sdk  # noqa: F401
    from airflow import plugins_manager
    from airflow.dag_processing.dagbag import DagBag  # noqa: F401

    plugins_manager.ensure_plugins_loaded()
    if args.dag_medians_json:
        print(json.dumps(dag_medians(args.repeat)))
        return

    from chainlink_feeds.registry import load_market

    market = load_market()
    shipped = f"{len(market.feeds)}+{len(market.references)} feeds"
    with tempfile.TemporaryDirectory() as tmp:
        trivial = Path(tmp) / "trivial_dag.py"
        trivial.write_text(TRIVIAL)
        baseline = parse_time(trivial, args.repeat)
        wide = f"{args.feeds} feeds s"
        print(f"{'file':32} {'median parse s':>15} {'x trivial':>10} {wide:>13} {'x shipped':>10}")
        print(f"{'(trivial one-task DAG)':32} {baseline:15.3f} {1.0:10.2f}")
        cosmos_only = Path(tmp) / "cosmos_only_dag.py"
        cosmos_only.write_text(COSMOS_ONLY.format(dbt=ROOT / "include" / "dbt"))
        seconds = parse_time(cosmos_only, args.repeat)
        print(f"{'(bare DbtTaskGroup, same dbt)':32} {seconds:15.3f} {seconds / baseline:10.2f}")
        ours = dag_medians(args.repeat)
        theirs = wide_medians(args.feeds, args.repeat, Path(tmp))
        for name, seconds in ours.items():
            print(
                f"{name:32} {seconds:15.3f} {seconds / baseline:10.2f} {theirs[name]:13.3f} {theirs[name] / seconds:10.2f}"
            )
        print(f"(median parse s: the shipped registry, {shipped}; {args.feeds} feeds: SIMULATED, on 3 chains)")


if __name__ == "__main__":
    main()
