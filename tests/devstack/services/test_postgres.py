"""The stack's Postgres: Airflow's run history survives a restart, and set-up failures say what is wrong.

Each test runs a server of its own (a scratch stack folder and port, in a child process, since the
settings are read at import), never the shared one.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.settings import PROJECT_DIR, STACK_DIR

PORT = 8195  # a scratch server's


def devstack(script: str, stack_dir: Path, **env: str) -> subprocess.CompletedProcess:
    """Run `script` with the devstack importable and the stack's settings pointed at `stack_dir`."""
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True, text=True, cwd=PROJECT_DIR, timeout=300,
        env=os.environ | {"PYTHONPATH": f"{PROJECT_DIR / 'plugins'}:{PROJECT_DIR}", "PEG_STACK_DIR": str(stack_dir),
                          "PEG_POSTGRES_PORT": str(PORT)} | env,
    )  # fmt: skip


AIRFLOW = """
import json, os, subprocess, sys
from devstack.services import postgres
from devstack.cluster.airflow_env import airflow_env
env = os.environ | airflow_env("celery")
airflow = os.path.join(os.path.dirname(sys.executable), "airflow")
def run(*args):
    done = subprocess.run([airflow, *args], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout
"""


@pytest.fixture
def scratch_stack() -> Iterator[Path]:
    """A stack folder the server's OS user can reach (pytest's tmp folders are root's alone)."""
    folder = STACK_DIR / "scratch" / uuid.uuid4().hex[:8]
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_run_history_survives_a_restart_of_the_stack(scratch_stack) -> None:
    stack = scratch_stack
    created = devstack(
        AIRFLOW
        + """
postgres.start()
from devstack.cluster.airflow_init import init_airflow
init_airflow(airflow_env("celery"))
run("dags", "reserialize")
run("dags", "trigger", "stablecoin_peg_daily", "--logical-date", "2026-01-02T00:00:00+00:00", "--run-id", "kept")
print(postgres.stop())
""",
        stack,
    )
    assert created.returncode == 0, created.stderr[-3000:]
    assert created.stdout.strip().endswith("True")  # the server ran and was stopped
    again = devstack(
        AIRFLOW
        + """
print("started", postgres.start())
with postgres.connect(postgres.DEMO_DATABASE) as conn, conn.cursor() as cur:
    cur.execute("select run_id, to_char(logical_date, 'YYYY-MM-DD') from dag_run where dag_id = 'stablecoin_peg_daily'")
    print(json.dumps(cur.fetchall()))
postgres.stop()
""",
        stack,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    started, listed = again.stdout.strip().split("\n")
    assert started == "started True"
    assert json.loads(listed) == [["kept", "2026-01-02"]]


def test_a_stack_folder_the_server_user_cannot_reach_keeps_the_cluster_in_its_home(tmp_path) -> None:
    """A checkout under a folder closed to others (pytest's own tmp folder is root's 0700, as is a
    `mktemp -d`): as root, the cluster goes to the postgres user's home, one folder per checkout,
    and the server runs from there."""
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    script = (
        "from devstack.services import postgres; user = postgres._os_user(); print(postgres.data_dir(user)); "
        "print(postgres.start()); postgres.stop()"
    )
    done = devstack(script, closed / "stack")
    assert done.returncode == 0, done.stderr[-3000:]
    data, started = done.stdout.strip().split("\n")[-2:]
    try:
        assert started == "True"
        if os.geteuid() == 0:
            assert Path(data).parent == Path(pwd.getpwnam("postgres").pw_dir) and Path(data).name.startswith("peg-")
            assert (Path(data) / "PG_VERSION").exists() and not (closed / "stack" / "postgres").exists()
        else:  # the server runs as us: the stack folder is ours
            assert Path(data) == closed / "stack" / "postgres"
    finally:
        if data != str(closed / "stack" / "postgres"):
            shutil.rmtree(data, ignore_errors=True)


def test_a_missing_server_says_how_to_install_it(tmp_path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    done = devstack(
        "from devstack.services import postgres; postgres.start()", tmp_path / "stack", PEG_POSTGRES_BIN_DIR=str(empty)
    )
    assert done.returncode != 0
    assert f"no PostgreSQL server in {empty}" in done.stderr and "postgresql-15" in done.stderr
    assert not (tmp_path / "stack").exists()  # refused before anything was made
