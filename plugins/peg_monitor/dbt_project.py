"""Everything Cosmos needs to render the dbt project, validated where it enters (DAG parse time).

Parsing never runs dbt: the graph comes from `include/dbt/target/render_manifest.json`, the parts
of dbt's manifest Cosmos reads, built by `make dbt-manifest` (the demo and test commands) or
`python -m peg_monitor.dbt_project` (the Dockerfile). A missing or stale manifest is refused with
a message that says how to rebuild it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peg_monitor import settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = Path(os.environ.get("PEG_DBT_PROJECT_DIR", PROJECT_ROOT / "include" / "dbt"))
SOURCE_GLOBS = ("dbt_project.yml", "models/**/*", "macros/**/*", "tests/**/*")
# What Cosmos's LoadMode.DBT_MANIFEST reads. dbt's full manifest is three quarters adapter macros,
# which every parse of the DAG file would otherwise decode for nothing.
RENDER_KEYS = ("metadata", "nodes", "sources", "exposures", "selectors")
PROFILE_NAME = "peg_monitor"


class DbtProjectError(RuntimeError):
    """The dbt project cannot be rendered; the message says what to run or set."""


def sources_digest(project_dir: Path = DBT_PROJECT_DIR) -> str:
    """A digest of every file the manifest is built from."""
    digest = hashlib.sha256()
    for pattern in SOURCE_GLOBS:
        for path in sorted(project_dir.glob(pattern)):
            if path.is_file():
                digest.update(str(path.relative_to(project_dir)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def default_dbt_executable() -> str:
    """PEG_DBT_EXECUTABLE (the Astro image's dbt virtualenv), else the dbt next to this Python."""
    configured = os.environ.get("PEG_DBT_EXECUTABLE")
    if configured:
        return configured
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


@dataclass(frozen=True)
class DbtSettings:
    """The project's Cosmos settings; `check()` refuses a missing or stale manifest."""

    project_dir: Path = DBT_PROJECT_DIR
    conn_id: str = field(default_factory=settings.snowflake_conn_id)
    target: str = field(default_factory=settings.dbt_target)
    schema: str = field(default_factory=settings.dbt_schema)
    raw_schema: str = field(default_factory=settings.raw_schema)
    execution_mode: str = field(default_factory=lambda: os.environ.get("PEG_DBT_EXECUTION_MODE", "local"))
    dbt_executable: str = field(default_factory=default_dbt_executable)

    def __post_init__(self) -> None:
        if self.execution_mode not in ("local", "watcher"):
            raise DbtProjectError(f"PEG_DBT_EXECUTION_MODE={self.execution_mode!r}: use 'local' (default) or 'watcher'")

    @property
    def test_behavior(self) -> Any:
        """LOCAL: one task per model running `dbt build` for it (the model, then its tests), half the
        tasks of AFTER_EACH for the same checks, which matters on a backfill. WATCHER: one producer
        task runs `dbt build` for all models and Cosmos cannot render BUILD tasks beside it, so each
        model gets a run watcher and a test watcher (AFTER_EACH)."""
        from cosmos.constants import TestBehavior

        return TestBehavior.BUILD if self.execution_mode == "local" else TestBehavior.AFTER_EACH

    @property
    def vars(self) -> dict[str, str]:
        """dbt's `--vars`: the raw schema the staging models read."""
        return {"raw_schema": self.raw_schema}

    @property
    def manifest(self) -> Path:
        return self.project_dir / "target" / "render_manifest.json"

    def check(self) -> None:
        stamp = self.project_dir / "target" / "peg_sources.sha256"
        if not self.manifest.exists() or not stamp.exists():
            raise DbtProjectError(f"{self.manifest} is missing: build it with `make dbt-manifest`")
        if stamp.read_text().strip() != sources_digest(self.project_dir):
            raise DbtProjectError(
                f"{self.manifest} is stale: the dbt project changed since it was built; run `make dbt-manifest`"
            )

    def cosmos_kwargs(self) -> dict[str, Any]:
        """ProjectConfig, ProfileConfig, ExecutionConfig, RenderConfig and operator args for DbtTaskGroup."""
        from cosmos import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
        from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestIndirectSelection

        from peg_monitor.dbt_profile import PegSnowflakeProfileMapping

        self.check()
        in_process = Path(self.dbt_executable).parent == Path(sys.executable).parent
        return {
            "project_config": ProjectConfig(
                dbt_project_path=self.project_dir,
                manifest_path=self.manifest,
                project_name="peg_monitor",
                dbt_vars=self.vars,
            ),
            "profile_config": ProfileConfig(
                profile_name=PROFILE_NAME,
                target_name=self.target,
                profile_mapping=PegSnowflakeProfileMapping(conn_id=self.conn_id, profile_args={"schema": self.schema}),
            ),
            "execution_config": ExecutionConfig(
                execution_mode=ExecutionMode(self.execution_mode),
                # A test runs in the task of the last of its models to be built (a singular test
                # reading two models must not run before the second exists).
                test_indirect_selection=TestIndirectSelection.BUILDABLE,
                invocation_mode=InvocationMode.DBT_RUNNER if in_process else InvocationMode.SUBPROCESS,
                dbt_executable_path=self.dbt_executable,
            ),
            "render_config": RenderConfig(load_method=LoadMode.DBT_MANIFEST, test_behavior=self.test_behavior),
        }


def build_manifest(project_dir: Path = DBT_PROJECT_DIR) -> Path:
    """Run `dbt parse`, keep what Cosmos renders from, and stamp it with the digest of its sources."""
    import subprocess

    digest = sources_digest(project_dir)
    dbt = DbtSettings(project_dir=project_dir)
    # The profile, target and vars Cosmos's tasks run with: dbt then keeps the state it parsed
    # (target/partial_parse.msgpack) for a task whose profile renders the same connection, as the
    # local stack's does (profiles.yml), instead of parsing the whole project again in each task.
    subprocess.run(
        [
            dbt.dbt_executable, "parse", "--project-dir", str(project_dir), "--profiles-dir", str(project_dir),
            "--profile", PROFILE_NAME, "--target", dbt.target, "--vars", json.dumps(dbt.vars),
        ],
        check=True,
        cwd=project_dir,
    )  # fmt: skip
    target = project_dir / "target"
    full = json.loads((target / "manifest.json").read_text())
    render = dbt.manifest
    partial = render.with_suffix(".partial")  # a DAG parse never sees half a file
    partial.write_text(json.dumps({key: full[key] for key in RENDER_KEYS if key in full}))
    partial.replace(render)
    (target / "peg_sources.sha256").write_text(digest + "\n")
    return render


if __name__ == "__main__":
    print(build_manifest())
