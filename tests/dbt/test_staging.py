"""Staging only renames and casts: a round that is not a positive price reaches the staging view
(it is not filtered away) and fails its `price_usd > 0` test, so that test can catch a bad load."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
import snowflake.connector

from devstack.services import emulator
from peg_monitor.dbt_project import DBT_PROJECT_DIR, default_dbt_executable
from tests.support.pipeline import DAY, create_schema, drop_pipeline, load_days, query


def dbt(command: str, raw: str, target: str, work: Path) -> subprocess.CompletedProcess:
    """`dbt <command> --select stg_chainlink__rounds` reading `raw`, writing <target>_STAGING."""
    return subprocess.run(
        [
            default_dbt_executable(), command, "--select", "stg_chainlink__rounds",
            "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
            "--target-path", str(work / "target"), "--log-path", str(work / "logs"),
            "--vars", json.dumps({"raw_schema": raw}),
        ],
        capture_output=True, text=True, env=os.environ | {"PEG_DBT_SCHEMA": target}, cwd=DBT_PROJECT_DIR,
    )  # fmt: skip


@pytest.fixture(scope="module")
def staged(stack, feeds, tmp_path_factory):
    """One day of one feed loaded and its rounds' staging view built (its tests passing)."""
    raw = f"STG_{uuid.uuid4().hex[:8].upper()}"
    work = tmp_path_factory.mktemp("staging")
    create_schema(raw)
    try:
        load_days(raw, feeds[:1], [stack.end - DAY])
        result = dbt("build", raw, f"{raw}_A", work)
        assert result.returncode == 0, result.stdout[-4000:]
        yield raw, f"{raw}_A_STAGING", work
    finally:
        drop_pipeline(raw)


def test_a_non_positive_price_stays_in_staging_and_fails_its_test(staged) -> None:
    raw, staging, work = staged
    with snowflake.connector.connect(**emulator.connection_params()) as conn:
        conn.cursor().execute(
            f"update {raw}.CHAINLINK_ROUNDS set price = -price, answer = -answer "
            f"where round_id = (select max(round_id) from {raw}.CHAINLINK_ROUNDS)"
        )
    bad = query(f"select count(*) as n from {staging}.STG_CHAINLINK__ROUNDS where price_usd <= 0")
    assert bad["n"].iloc[0] == 1
    result = dbt("test", raw, f"{raw}_A", work)
    assert result.returncode == 1, result.stdout[-4000:]
    failures = [line for line in result.stdout.splitlines() if "Failure in test" in line]
    assert len(failures) == 1 and "price_usd" in failures[0], result.stdout[-4000:]
