"""The project-local Airflow's metadata DB, migrated, and the pools the DAGs use (`airflow-init`)."""

from __future__ import annotations

import os
import subprocess

from devstack.services import processes
from devstack.settings import BIN
from peg_monitor import settings


def init_airflow(env: dict[str, str]) -> None:
    """Migrate the metadata DB (SQLite or Postgres, as `env` says) and create the pools (idempotent)."""
    airflow = str(BIN / "airflow")
    commands = [["db", "migrate"]] + [
        ["pools", "set", pool.name, str(pool.slots), pool.description] for pool in settings.pools()
    ]
    for args in commands:
        done = subprocess.run([airflow, *args], env=os.environ | env, capture_output=True, text=True)
        if done.returncode != 0:
            raise processes.ServiceError(
                f"`airflow {' '.join(args[:2])}` failed on {env['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN']}:\n"
                + (done.stderr or done.stdout)[-2000:]
            )
