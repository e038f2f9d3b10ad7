"""The Cosmos settings refuse a missing or stale manifest, map the connection's protocol extra, and the
manifest's build leaves a parse the tasks on the stack's connection reuse."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
import yaml

from peg_monitor.dbt_project import (
    DBT_PROJECT_DIR,
    PROFILE_NAME,
    RENDER_KEYS,
    DbtProjectError,
    DbtSettings,
    build_manifest,
    default_dbt_executable,
)


@pytest.fixture
def project_copy(tmp_path):
    copy = tmp_path / "dbt"
    shutil.copytree(DBT_PROJECT_DIR, copy, ignore=shutil.ignore_patterns("logs", "compiled", "run"))
    return copy


def test_a_fresh_manifest_passes(project_copy) -> None:
    DbtSettings(project_dir=project_copy).check()


def test_a_changed_model_makes_the_manifest_stale(project_copy) -> None:
    model = project_copy / "models" / "marts" / "stablecoin_peg_daily.sql"
    model.write_text(model.read_text() + "\n-- changed\n")
    with pytest.raises(DbtProjectError, match="is stale: .* run `make dbt-manifest`"):
        DbtSettings(project_dir=project_copy).check()


def test_a_missing_manifest_says_how_to_build_it(project_copy) -> None:
    DbtSettings(project_dir=project_copy).manifest.unlink()
    with pytest.raises(DbtProjectError, match="is missing: build it with `make dbt-manifest`"):
        DbtSettings(project_dir=project_copy).check()


def test_unknown_execution_mode_is_refused() -> None:
    with pytest.raises(DbtProjectError, match="PEG_DBT_EXECUTION_MODE='kubernetes'"):
        DbtSettings(execution_mode="kubernetes")


def test_profile_mapping_passes_the_emulator_protocol_and_keeps_the_password_out(stack) -> None:
    from peg_monitor.dbt_profile import PegSnowflakeProfileMapping

    mapping = PegSnowflakeProfileMapping(conn_id="snowflake_default", profile_args={"schema": "ANALYTICS"})
    profile = mapping.profile
    assert profile["protocol"] == "http" and profile["host"] == "127.0.0.1" and profile["schema"] == "ANALYTICS"
    assert profile["password"].startswith("{{ env_var(") and "emulator" not in str(profile)


def test_a_task_on_the_stacks_connection_reuses_the_manifest_builds_parse(stack, project_copy, tmp_path) -> None:
    """`make dbt-manifest` parses with the profile, target and vars Cosmos's tasks run with, so a task
    of a fresh deployment on the stack's connection reads the saved parse instead of parsing the
    whole project again; a profile rendering another connection still parses it all."""
    from peg_monitor.dbt_profile import PegSnowflakeProfileMapping

    build_manifest(project_copy)
    settings = DbtSettings(project_dir=project_copy)

    def parse_as_a_task(**profile_args: str) -> str:
        mapping = PegSnowflakeProfileMapping(conn_id="snowflake_default", profile_args=profile_args)
        profiles = tmp_path / "profiles"
        profiles.mkdir(exist_ok=True)
        (profiles / "profiles.yml").write_text(mapping.get_profile_file_contents(PROFILE_NAME, settings.target))
        command = [default_dbt_executable(), "parse", "--project-dir", str(project_copy)]
        command += ["--profiles-dir", str(profiles), "--profile", PROFILE_NAME, "--target", settings.target]
        command += ["--vars", yaml.safe_dump(settings.vars)]  # as Cosmos passes them
        done = subprocess.run(
            command, capture_output=True, text=True, env=os.environ | mapping.env_vars, cwd=project_copy
        )
        assert done.returncode == 0, done.stdout[-3000:]
        return done.stdout

    assert "Unable to do partial parsing" not in parse_as_a_task(schema=settings.schema)
    assert "Unable to do partial parsing because profile has changed" in parse_as_a_task(schema="ANOTHER")


def test_the_render_manifest_gives_cosmos_the_same_graph_as_dbts_manifest() -> None:
    """The cut-down manifest the DAG renders from loses nothing Cosmos reads."""
    from datetime import datetime

    from airflow.sdk import DAG
    from cosmos import DbtTaskGroup

    settings = DbtSettings()
    full = settings.manifest.with_name("manifest.json")

    def render(manifest) -> dict[str, set[str]]:
        kwargs = settings.cosmos_kwargs()
        kwargs["project_config"].manifest_path = manifest
        with DAG(f"render_{manifest.stem}", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
            DbtTaskGroup(group_id="dbt", **kwargs)
        return {task.task_id: set(task.downstream_task_ids) for task in dag.tasks}

    kept, whole = json.loads(settings.manifest.read_text()), json.loads(full.read_text())
    assert set(kept) == set(RENDER_KEYS) & set(whole) and {"macros", "docs"} <= set(whole)  # the macros stay out
    assert render(settings.manifest) == render(full)


@pytest.mark.parametrize(
    ("mode", "model_tasks"),
    [
        ("local", {"stablecoin_peg_daily_model_build"}),
        ("watcher", {"stablecoin_peg_daily.run", "stablecoin_peg_daily.test"}),
    ],
)
def test_each_execution_mode_renders_a_task_per_model(mode: str, model_tasks: set[str]) -> None:
    """WATCHER cannot render `dbt build` tasks (its producer runs the build), so it watches run and test."""
    from datetime import datetime

    from airflow.sdk import DAG
    from cosmos import DbtTaskGroup

    with DAG(f"modes_{mode}", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        DbtTaskGroup(group_id="dbt", **DbtSettings(execution_mode=mode).cosmos_kwargs())
    task_ids = {task.task_id.removeprefix("dbt.") for task in dag.tasks}
    assert {t for t in task_ids if t.startswith("stablecoin_peg_daily")} == model_tasks
    assert ("dbt_producer_watcher" in task_ids) == (mode == "watcher")
