"""The Astro image's environment, checked without Docker.

What the `Dockerfile` asks for: `requirements.txt` on top of Astro Runtime 3.3-1 (its Airflow and
providers, `.astro/runtime-3.3-1-pins.txt`), dbt in a virtualenv of its own with only
`dbt-requirements.txt`, `PEG_DBT_EXECUTABLE` pointing at it. Each is checked here: the resolution
on the image's Python, and that every package the Dockerfile installs is the version the tests run.
A daily run with dbt from a virtualenv laid out as in the image is tests/e2e/test_daily_run.py's re-run.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.dbt_venv import CONSTRAINTS, DBT_REQUIREMENTS, image_dbt

PROJECT_DIR = Path(__file__).resolve().parents[2]
DOCKERFILE = PROJECT_DIR / "Dockerfile"
RUNTIME_PINS = PROJECT_DIR / ".astro" / "runtime-3.3-1-pins.txt"


def pins(path: Path) -> dict[str, str]:
    """`name==version` lines of a requirements file, by canonical name; anything looser is refused."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        requirement = Requirement(line)
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", f"{path.name}: {line!r} is not pinned with =="
        found[canonicalize_name(requirement.name)] = specifiers[0].version
    return found


def image_python() -> str:
    match = re.search(r"^# python-version: (\d+\.\d+)$", RUNTIME_PINS.read_text(), re.MULTILINE)
    assert match, f"{RUNTIME_PINS} names no '# python-version: X.Y'"
    return match.group(1)


def dockerfile_installs() -> dict[str, list[Path]]:
    """Requirement files the image installs: into Airflow's environment and into the dbt virtualenv.

    Astro Runtime installs `requirements.txt` itself (ONBUILD); every `pip install -r` in a RUN line is
    mapped back to the project file its COPY brought in. An `-e`/path install must be `--no-deps`
    (the project itself: only its entry point, no packages).
    """
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    copies = {}
    for line in text.splitlines():
        if line.startswith("COPY "):
            *sources, dest = shlex.split(line)[1:]
            for source in sources:
                target = dest if len(sources) == 1 else f"{dest.rstrip('/')}/{Path(source).name}"
                copies[target] = PROJECT_DIR / source
    installs: dict[str, list[Path]] = {
        "airflow": [PROJECT_DIR / "requirements.txt"],
        "dbt_venv": [],
        "airflow constraints": [],
        "dbt_venv constraints": [],
    }
    for line in text.splitlines():
        if not line.startswith("RUN "):
            continue
        for command in re.split(r"&&|;", line[4:]):
            words = shlex.split(command)
            if "pip" not in " ".join(words[:3]) or "install" not in words:
                continue
            env = "dbt_venv" if "dbt_venv" in words[0] else "airflow"
            args = words[words.index("install") + 1 :]
            for i, arg in enumerate(args):
                if arg.startswith("-") and arg not in ("-r", "-e", "-c") or i and args[i - 1] in ("-r", "-c"):
                    continue
                if arg in ("-r", "-c"):
                    source = copies.get(args[i + 1])
                    assert source and source.exists(), f"Dockerfile uses {args[i + 1]}, not a COPY of a project file"
                    installs[env if arg == "-r" else f"{env} constraints"].append(source)
                elif arg == "-e" or arg.startswith(("/", ".")):
                    assert "--no-deps" in args, f"Dockerfile installs {args[i + 1] if arg == '-e' else arg} with deps"
                elif args[i - 1] != "-e":
                    raise AssertionError(f"Dockerfile installs {arg!r} outside a requirements file")
    return installs


def conflict(stderr: str) -> str:
    """pip's own explanation of a failed resolution: the conflicting requirements, or its last error."""
    lines = [line for line in stderr.splitlines() if not line.startswith("WARNING: Location")]
    text = "\n".join(lines)
    cause = re.search(r"The conflict is caused by:\n(.*?)(?:\n\n|\Z)", text, re.DOTALL)
    if cause:
        return cause.group(1).strip()
    errors = [line for line in lines if line.startswith("ERROR")]
    return "\n".join(errors[-3:]) or text[-2000:]


def test_requirements_resolve_with_the_runtime_image_pins(tmp_path) -> None:
    """`requirements.txt` + Astro Runtime 3.3-1's Airflow and providers, on its Python, binary wheels only."""
    report = tmp_path / "report.json"
    result = subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
            "--report", str(report), "--python-version", image_python(), "--only-binary=:all:",
            "-r", str(PROJECT_DIR / "requirements.txt"), "-r", str(RUNTIME_PINS),
        ],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, (
        f"requirements.txt does not install on Astro Runtime 3.3-1 (Python {image_python()}, "
        f"{RUNTIME_PINS.name}):\n{conflict(result.stdout + result.stderr)}"
    )
    resolved = {
        canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    for name, version in pins(RUNTIME_PINS).items():
        assert resolved.get(name) == version, f"the image's {name}=={version} would become {resolved.get(name)}"
    for name, version in pins(PROJECT_DIR / "requirements.txt").items():
        assert resolved.get(name) == version, f"requirements.txt's {name}=={version} resolved to {resolved.get(name)}"


def test_the_dbt_virtualenv_resolves_on_the_image_python() -> None:
    """The Dockerfile's dbt virtualenv (dbt-requirements.txt, constraints.txt) on the image's Python."""
    result = subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
            "--python-version", image_python(), "--only-binary=:all:",
            "-r", str(DBT_REQUIREMENTS), "-c", str(CONSTRAINTS),
        ],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, (
        f"the dbt virtualenv does not install on Python {image_python()}:\n{conflict(result.stdout + result.stderr)}"
    )


def test_the_image_pins_are_what_the_tests_run() -> None:
    """Airflow and the image's providers that the test environment has are at the image's versions."""
    constraints = pins(CONSTRAINTS)
    for name, version in pins(RUNTIME_PINS).items():
        if name in constraints:
            assert constraints[name] == version, f"constraints.txt has {name}=={constraints[name]}, the image {version}"
            assert metadata.version(name) == version, (
                f"the test venv has {name} {metadata.version(name)}, not {version}"
            )


def test_the_dockerfile_installs_only_what_the_tests_run() -> None:
    """Every package the Dockerfile installs is pinned, in constraints.txt at that version, and installed
    at that version where the tests run it (the test venv; dbt's also in the image-shaped dbt virtualenv)."""
    installs = dockerfile_installs()
    assert installs["dbt_venv"] == [DBT_REQUIREMENTS], installs
    assert installs["dbt_venv constraints"] == [CONSTRAINTS], "the dbt virtualenv is not built with constraints.txt"
    assert not [line for line in (PROJECT_DIR / "packages.txt").read_text().splitlines() if line.strip()], (
        "packages.txt installs OS packages no test runs with"
    )
    constraints = pins(CONSTRAINTS)
    for path in installs["airflow"] + installs["dbt_venv"]:
        for name, version in pins(path).items():
            assert constraints.get(name) == version, (
                f"{path.name}: {name}=={version}, constraints.txt {constraints.get(name)}"
            )
            assert metadata.version(name) == version, (
                f"{path.name}: {name}=={version} but the test venv has {metadata.version(name)}: run `make install`"
            )


@pytest.fixture(scope="module")
def dbt_venv() -> Path:
    return image_dbt()


def test_the_dbt_virtualenv_has_only_dbt_at_the_tested_versions(dbt_venv) -> None:
    python = str(dbt_venv.with_name("python"))
    frozen = subprocess.run([python, "-m", "pip", "freeze"], capture_output=True, text=True, check=True).stdout
    installed = {canonicalize_name(n): v for n, v in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", frozen, re.MULTILINE)}
    for name, version in pins(DBT_REQUIREMENTS).items():
        assert installed.get(name) == version, f"dbt virtualenv: {name} {installed.get(name)}, not {version}"
    assert "apache-airflow" not in installed and "astronomer-cosmos" not in installed
    constraints = pins(CONSTRAINTS)
    for name, version in installed.items():  # every dependency at the version the test venv runs
        assert constraints.get(name) == version, (
            f"dbt virtualenv: {name} {version}, constraints.txt {constraints.get(name)}"
        )
