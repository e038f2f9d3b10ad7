"""The DAG parse benchmark still runs: its smoke mode parses the trivial DAG, the bare DbtTaskGroup
and every DAG file once, and every DAG file again with a SIMULATED 30-feed registry."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TIMES = r" +\d+\.\d{3} +\d+\.\d\d"


def test_dag_parse_smoke(run_bench) -> None:
    run_bench(
        "dag_parse.py",
        "--smoke",
        expect=(
            r"^\(trivial one-task DAG\) +\d+\.\d{3} +1\.00$",
            rf"^\(bare DbtTaskGroup, same dbt\){TIMES}$",
            *(rf"^{dag.name}{TIMES}{TIMES}$" for dag in sorted((ROOT / "dags").glob("*.py"))),
            r"^\(median parse s: the shipped registry, \d+\+\d+ feeds; 30 feeds: SIMULATED, on 3 chains\)$",
        ),
        schemas=None,
        timeout=600,
    )
