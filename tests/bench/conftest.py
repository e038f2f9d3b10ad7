"""Run a benchmark's smoke mode as a user would, and check it printed its figures and left nothing behind."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import snowflake.connector

from devstack.services import emulator
from devstack.settings import RUN_DIR

ROOT = Path(__file__).resolve().parents[2]


def _schemas(prefix: str | None) -> set[str]:
    if prefix is None:
        return set()
    with snowflake.connector.connect(**emulator.connection_params()) as conn, conn.cursor() as cur:
        cur.execute("select schema_name from information_schema.schemata")
        return {name for (name,) in cur.fetchall() if name.startswith(prefix)}


def _services(names: tuple[str, ...]) -> set[str]:
    return {p.stem for p in RUN_DIR.glob("*.pid") if any(name in p.stem for name in names)}


@pytest.fixture
def run_bench(stack) -> Callable[..., str]:
    """`run_bench(script, *args, expect=(regex, ...), schemas=prefix, services=(name, ...))`: run
    bench/<script> with this Python; it must exit 0, print a line matching each regex, and leave no
    scratch schema (named `prefix...`) or service (a pid file naming one of `services`) running.
    Each benchmark names its own, so one running beside another (tests/conftest.py's units) does not
    see the other's. Returns what it printed."""

    def run(
        script: str,
        *args: str,
        expect: tuple[str, ...],
        schemas: str | None,
        services: tuple[str, ...] = (),
        timeout: float = 600,
    ) -> str:
        before = _schemas(schemas), _services(services)
        result = subprocess.run(
            [sys.executable, f"bench/{script}", *args],
            cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        for pattern in expect:
            assert re.search(pattern, result.stdout, re.MULTILINE), f"no line matches {pattern!r}:\n{result.stdout}"
        assert _schemas(schemas) <= before[0], f"scratch schemas left behind: {_schemas(schemas) - before[0]}"
        assert _services(services) <= before[1], f"services left running: {_services(services) - before[1]}"
        return result.stdout

    return run
