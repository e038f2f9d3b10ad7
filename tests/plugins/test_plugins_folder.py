"""The plugins folder holds ordinary packages on sys.path: Airflow's plugin loader must import none
of their files under a bare file name (a `blocks.py` loaded as a top-level module `blocks`, say)."""

from __future__ import annotations

from pathlib import Path

from airflow._shared.module_loading import find_path_from_directory

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"


def test_the_plugin_loader_sees_no_python_file_in_the_plugins_folder() -> None:
    seen = [Path(p) for p in find_path_from_directory(str(PLUGINS), ".airflowignore", "glob")]
    assert [p.relative_to(PLUGINS) for p in seen if p.suffix == ".py"] == []
