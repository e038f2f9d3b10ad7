"""Benchmark: one daily run on the embedded stack, and its dbt part in Cosmos LOCAL vs WATCHER mode.

1. Wall time of `airflow dags test` for one simulated day (ingest, dbt, gate, dashboard check;
   goal <= 45 s), with the dbt task group's share.
2. The dbt task group's wall time (first dbt task start to last dbt task end) under a real
   scheduler (`airflow standalone`, LocalExecutor) in LOCAL and then WATCHER mode (WATCHER needs
   tasks running in parallel, which `dags test` does not do), and their ratio: bench/airflow_shapes.py's
   standalone shape backfilling the one day, in each mode.

Each part uses its own AIRFLOW_HOME and raw/marts schemas. Needs the stack up (`make stack-up`)
and `make dbt-manifest`. Run: `.venv/bin/python bench/daily_run.py`.

`--smoke` (what the test suite runs, to see that it still runs, about a minute instead of 5) runs
part 1 only: `dags test` runs the dbt part in LOCAL mode, and the shapes bench's smoke is a scheduled
run of one day in WATCHER mode through the code part 2 calls (one standalone start-up instead of two).

`--registries three,shipped` runs part 1 once per registry, side by side: `three` is the shipped
registry cut to the scripted feeds (USDC, USDT, DAI) and what they use (the session-18 shape),
`shipped` the whole of include/feeds.yaml; it prints the ratio (issue 19's goal: at most 1.5x).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]

import yaml  # noqa: E402

from chainlink_feeds.registry import DEFAULT_REGISTRY, load_registry  # noqa: E402
from devstack.cluster.airflow_env import airflow_env  # noqa: E402

os.environ.update(airflow_env())

from bench.airflow_shapes import measure  # noqa: E402
from devstack.chain import stack_history  # noqa: E402
from devstack.cluster import standalone  # noqa: E402
from devstack.cluster.airflow_init import init_airflow  # noqa: E402
from devstack.services import dashboard, processes  # noqa: E402
from tests.support.pipeline import create_schema, drop_pipeline  # noqa: E402

# Apart from the demo's ports and tests/e2e's (8100-8199, 8300-8310, dashboards 8601 and 8602): the
# suite runs this bench's smoke mode in the same session.
PORT, LOG_PORTS, DASHBOARD_PORT = 8091, (8797, 8798), 8604
STAMP = re.compile(r"^(\S+Z) .*\[DAG TEST\] (starting|end) task task_id=(\S+)")


@contextmanager
def isolated_pipeline() -> Iterator[dict[str, str]]:
    """A fresh raw schema, a dashboard on its marts and an initialised Airflow home; the Airflow env."""
    raw = f"BENCH_{uuid.uuid4().hex[:8].upper()}"
    create_schema(raw)
    dashboard.start_dashboard(
        name="dashboard-bench-daily",
        port=DASHBOARD_PORT,
        marts_schema=f"{raw}_A_MARTS",
        extra={"PEG_DATA_VERSION_TTL": "2"},
    )
    try:
        with tempfile.TemporaryDirectory() as home:
            env = standalone.isolated_env(
                Path(home), PORT, raw, DASHBOARD_PORT, LOG_PORTS, {"PEG_DBT_EXECUTION_MODE": "local"}
            )
            init_airflow(env)
            yield env
    finally:
        processes.stop("dashboard-bench-daily")
        drop_pipeline(raw)


REGISTRIES = ("three", "shipped")
THREE = ("USDC/USD", "USDT/USD", "DAI/USD")


def three_feed_registry(path: Path) -> Path:
    """The shipped registry cut to THREE on Ethereum (the product's first shape, one chain) and the
    references their pools use, written to `path`."""
    document = yaml.safe_load(DEFAULT_REGISTRY.read_text())
    document["feeds"] = [f for f in document["feeds"] if f["pair"] in THREE and f["chain"] == "ethereum"]
    document.pop("chains", None)
    used = {m["reference"] for f in document["feeds"] for m in f.get("market", ())}
    document["references"] = [r for r in document.get("references", ()) if r["pair"] in used]
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def dags_test(day: datetime, registry: Path | None = None) -> tuple[float, float]:
    """(whole run, dbt part) seconds of `airflow dags test` for the day (with `registry`, on it)."""
    with isolated_pipeline() as env:
        if registry is not None:
            env = {**env, "PEG_FEED_REGISTRY": str(registry)}
        airflow = str(Path(sys.executable).with_name("airflow"))
        started = time.perf_counter()
        out = subprocess.run(
            [airflow, "dags", "test", "stablecoin_peg_daily", (day + timedelta(days=1)).isoformat()],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        total = time.perf_counter() - started
    stamps = [m.groups() for line in (out.stdout + out.stderr).splitlines() if (m := STAMP.match(line))]
    dbt = [datetime.fromisoformat(t.replace("Z", "+00:00")) for t, _, task in stamps if task.startswith("dbt.")]
    if "state=success" not in (out.stdout + out.stderr).split("DagRun Finished")[-1] or not dbt:
        raise SystemExit("the daily run failed:\n" + (out.stdout + out.stderr)[-3000:])
    return total, (max(dbt) - min(dbt)).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="part 1 only: does it still run?")
    parser.add_argument("--registries", help=f"part 1 only, once per registry, of {', '.join(REGISTRIES)}")
    args = parser.parse_args()
    day = stack_history.scenario().depeg_start.replace(hour=0, minute=0)
    if args.registries:
        registries(day, args.registries.split(","), parser)
        return
    total, dbt = dags_test(day)
    print(f"one daily run (airflow dags test, {day.date()}): {total:.1f} s (goal <= 45 s), dbt part {dbt:.1f} s")
    if args.smoke:
        return
    parts = {mode: measure("standalone", day, day, mode)["dbt"] for mode in ("local", "watcher")}
    print(
        f"dbt task group under airflow standalone: LOCAL {parts['local']:.1f} s, WATCHER {parts['watcher']:.1f} s, "
        f"WATCHER/LOCAL {parts['watcher'] / parts['local']:.2f}"
    )


def registries(day: datetime, names: list[str], parser: argparse.ArgumentParser) -> None:
    """Part 1 on each registry in turn, then the last one's wall time over the first's."""
    unknown = [n for n in names if n not in REGISTRIES]
    if unknown:
        parser.error(f"unknown registr(ies) {', '.join(unknown)}: choose from {', '.join(REGISTRIES)}")
    walls = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            registry = three_feed_registry(Path(folder) / "three.yaml") if name == "three" else None
            feeds = len(load_registry(registry or DEFAULT_REGISTRY))
            total, dbt = dags_test(day, registry)
            walls[name] = total
            print(f"{name:<8} {feeds:>2} feeds: one daily run {total:.1f} s, dbt part {dbt:.1f} s", flush=True)
    if len(walls) > 1:
        first, last = names[0], names[-1]
        print(f"{last} / {first}: {walls[last] / walls[first]:.2f}x the wall time (goal <= 1.5x)")


if __name__ == "__main__":
    main()
