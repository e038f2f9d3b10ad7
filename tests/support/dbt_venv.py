"""The Astro image's dbt virtualenv, laid out on this machine as the Dockerfile builds it."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from devstack.settings import PROJECT_DIR, STACK_DIR
from tests.support.locks import worker_lock

CONSTRAINTS = PROJECT_DIR / "constraints.txt"
DBT_REQUIREMENTS = PROJECT_DIR / "dbt-requirements.txt"
DBT_VENV = STACK_DIR / "dbt_venv"  # the image's /usr/local/airflow/dbt_venv


def image_dbt() -> Path:
    """Build the virtualenv (dbt-requirements.txt, constrained by constraints.txt) once per version
    of those files and return its dbt. The packages go in with uv, as `make install` installs the
    test venv: every version is pinned, so it installs what the image's pip does (whose resolution on
    the image's Python tests/deploy checks), in seconds, and compiles bytecode as pip does."""
    stamp = DBT_VENV / ".requirements.sha256"
    digest = hashlib.sha256(DBT_REQUIREMENTS.read_bytes() + CONSTRAINTS.read_bytes()).hexdigest()
    with worker_lock("dbt_venv"):  # tests/deploy and tests/e2e may ask for it at once, on two workers
        if not (stamp.exists() and stamp.read_text() == digest):
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(DBT_VENV)], check=True)
            uv = str(Path(sys.executable).with_name("uv"))
            subprocess.run(
                [uv, "pip", "install", "-q", "--compile-bytecode", "--python", str(DBT_VENV / "bin" / "python"),
                 "-r", str(DBT_REQUIREMENTS), "-c", str(CONSTRAINTS)],
                check=True, capture_output=True, text=True, timeout=900,
            )  # fmt: skip
            stamp.write_text(digest)
    return DBT_VENV / "bin" / "dbt"
