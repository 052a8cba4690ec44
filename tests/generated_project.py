"""Small dbt-duckdb projects written by tests, not the demo: a project of one's own as a new
user has it (models of every kind, profiles wherever dbt finds them), built by plain `dbt`
in a child process with the environment the test chooses.

    project = GeneratedProject(tmp_path / "shop")
    project.model("orders_daily", SQL, YAML)
    project.profiles(project.root, tmp_path / "shop.duckdb")
    project.dbt("build", env=project.env(home=tmp_path / "home"))
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb

from tests import forked_dbt

PROFILE = "shop"


class GeneratedProject:
    """A dbt project folder: dbt_project.yml, models, snapshots, packages, profiles."""

    def __init__(self, root: Path, name: str = "shop", extra_config: str = ""):
        self.root = root
        self.name = name
        root.mkdir(parents=True, exist_ok=True)
        (root / "models").mkdir(exist_ok=True)
        (root / "dbt_project.yml").write_text(
            f"name: {name}\nprofile: {PROFILE}\nconfig-version: 2\nversion: '1.0'\n{extra_config}"
        )

    def model(self, name: str, sql: str, yaml: str = "", folder: str = "models") -> "GeneratedProject":
        (self.root / folder).mkdir(parents=True, exist_ok=True)
        (self.root / folder / f"{name}.sql").write_text(sql)
        if yaml:
            (self.root / folder / f"{name}.yml").write_text(yaml)
        return self

    def file(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    @staticmethod
    def profiles(folder: Path, database: Path, target: str = "dev", outputs: dict[str, Path] | None = None) -> Path:
        """profiles.yml in `folder` with a DuckDB output per name (default: `dev` on `database`)."""
        folder.mkdir(parents=True, exist_ok=True)
        outputs = outputs or {"dev": database}
        body = "".join(
            f"    {name}:\n      type: duckdb\n      path: '{path}'\n      schema: main\n      threads: 1\n"
            for name, path in outputs.items()
        )
        path = folder / "profiles.yml"
        path.write_text(f"{PROFILE}:\n  target: {target}\n  outputs:\n{body}")
        return path

    def env(self, home: Path, **extra: str) -> dict[str, str]:
        """The environment without any FS_ or DBT_ variable of the test run, HOME at `home`
        (so ~/.dbt is the test's), plus `extra`."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FS_", "DBT_"))}
        env.update(HOME=str(home), DBT_SEND_ANONYMOUS_USAGE_STATS="false", **extra)
        return env

    def dbt(self, *args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
        """Plain `dbt args...` run in the project folder, as a user runs it: a process of its
        own, forked from one that imported dbt already (tests/forked_dbt.py)."""
        result = forked_dbt.run_dbt(list(args), cwd=self.root, env=env)
        if check and result.returncode != 0:
            raise AssertionError(f"dbt {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}")
        return result

    def fs(self, *args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess:
        """`fs args...` in a child process (in this one after `fs_in_process`), in the project
        folder (or `cwd`)."""
        if self.in_process:
            return self.in_process(self, args, env, cwd)
        return subprocess.run(
            [sys.executable, "-m", "featurestore.cli", *args],
            cwd=cwd or self.root,
            env={**env, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
            capture_output=True,
            text=True,
        )

    in_process = None
    """Set by `fs_in_process`: `fs` then runs in the test's process."""


def fs_in_process(cli, monkeypatch) -> None:
    """Make every GeneratedProject's `fs` run in this process (the `cli` fixture) until the test
    ends, with what a child would have: exactly its environment, the project folder (or `cwd`)
    as the working folder. For tests about what fs does, not what its process prints: a child
    costs a Python start and fs's imports, about a second of CPU each. dbt still runs as a
    child of fs, in that environment."""

    def run(project: GeneratedProject, args: tuple[str, ...], env: dict[str, str], cwd: Path | None):
        for key in list(os.environ):
            if key not in env:
                monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.chdir(cwd or project.root)
        code, out, err = cli(*args)
        return subprocess.CompletedProcess(["fs", *args], code, out, err)

    monkeypatch.setattr(GeneratedProject, "in_process", staticmethod(run))


def tables_in(database: Path) -> set[str]:
    """schema.name of every table and view in a DuckDB file."""
    with duckdb.connect(str(database), read_only=True) as connection:
        rows = connection.execute("select table_schema, table_name from information_schema.tables").fetchall()
    return {f"{schema}.{name}" for schema, name in rows}
