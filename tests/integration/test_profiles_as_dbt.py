"""fs opens the database dbt built, wherever the profiles are: a plain `dbt build` (in the
project folder, with the test's environment and HOME) writes a DuckDB file, and fs's training
set reads that very file, for each place dbt finds profiles.yml and each way of choosing the
target. No second database file is ever made.

dbt runs in a child process for each test, as the user runs it (where it finds profiles.yml is
the point); fs runs in the test's process (`fs_in_process`), with the environment and working
folder the child would have had."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.generated_project import GeneratedProject, fs_in_process, tables_in

pytestmark = pytest.mark.integration

SQL = "select 'c1' as customer_id, timestamp '2024-01-01' as event_timestamp, {{ var('amount', 1) }} as amount\n"
YAML = """
models:
  - name: orders_daily
    config:
      materialized: table
      meta: {feature_store: {entity: customer, timestamp: event_timestamp}}
    columns: [{name: customer_id}, {name: event_timestamp}, {name: amount}]
"""
SPINE = "select 'c1' as customer_id, timestamp '2024-01-02' as event_timestamp"


@pytest.fixture(autouse=True)
def fs_here(cli, monkeypatch):
    fs_in_process(cli, monkeypatch)


def make(tmp_path: Path) -> tuple[GeneratedProject, Path, Path, Path]:
    """The project, HOME, and the two database files a test may use."""
    project = GeneratedProject(tmp_path / "shop").model("orders_daily", SQL, YAML)
    home = tmp_path / "home"
    home.mkdir()
    return project, home, tmp_path / "a.duckdb", tmp_path / "b.duckdb"


def fs_amount(project: GeneratedProject, env: dict, *flags: str) -> int:
    out = project.root.parent / "train.parquet"
    result = project.fs(
        "training-set", "--spine-sql", SPINE, "--features", "orders_daily:amount", "-o", str(out), *flags, env=env
    )
    assert result.returncode == 0, result.stderr
    return pq.read_table(out).column("amount").to_pylist()[0]


def test_profiles_in_the_project_folder(tmp_path):
    project, home, a, b = make(tmp_path)
    project.profiles(project.root, a)
    env = project.env(home)
    project.dbt("build", env=env)
    assert fs_amount(project, env) == 1
    assert not b.exists() and "main.orders_daily" in tables_in(a)


def test_profiles_from_dbt_profiles_dir(tmp_path):
    project, home, a, b = make(tmp_path)
    project.profiles(tmp_path / "elsewhere", a)
    project.profiles(home / ".dbt", b)  # DBT_PROFILES_DIR wins over ~/.dbt, for both
    env = project.env(home, DBT_PROFILES_DIR=str(tmp_path / "elsewhere"))
    project.dbt("build", env=env)
    assert fs_amount(project, env) == 1
    assert not b.exists()


def test_profiles_from_the_flag(tmp_path):
    project, home, a, b = make(tmp_path)
    project.profiles(tmp_path / "flagged", a)
    project.profiles(project.root, b)  # the flag wins over the project folder, for both
    env = project.env(home)
    project.dbt("build", "--profiles-dir", str(tmp_path / "flagged"), env=env)
    assert fs_amount(project, env, "--profiles-dir", str(tmp_path / "flagged")) == 1
    assert not b.exists()


def test_profiles_in_home_dbt(tmp_path):
    project, home, a, b = make(tmp_path)
    project.profiles(home / ".dbt", a)
    env = project.env(home)
    project.dbt("build", env=env)
    assert fs_amount(project, env) == 1
    # From a subfolder of the project too.
    out = tmp_path / "sub.parquet"
    result = project.fs(
        "training-set", "--spine-sql", SPINE, "--features", "orders_daily:amount", "-o", str(out),
        env=env, cwd=project.root / "models",
    )
    assert result.returncode == 0, result.stderr
    assert not b.exists()


def test_project_folder_wins_over_home_dbt_as_in_dbt(tmp_path):
    """The user's finding: with ./profiles.yml and ~/.dbt/profiles.yml on different files,
    dbt used one and fs the other. Both now take the project folder's; `fs build` builds
    that file and no second one."""
    project, home, a, b = make(tmp_path)
    project.profiles(project.root, a)
    project.profiles(home / ".dbt", b)
    env = project.env(home)
    project.dbt("build", env=env)
    assert fs_amount(project, env) == 1
    assert not b.exists()
    a.unlink()
    result = project.fs("build", env=env)
    assert result.returncode == 0, result.stderr
    assert a.exists() and not b.exists()


@pytest.mark.parametrize("how", ["DBT_TARGET", "--target"])
def test_the_same_target_as_dbt(tmp_path, how):
    project, home, a, b = make(tmp_path)
    project.profiles(project.root, a, outputs={"dev": a, "other": b})
    env = project.env(home, **({"DBT_TARGET": "other"} if how == "DBT_TARGET" else {}))
    flags = ("--target", "other") if how == "--target" else ()
    project.dbt("build", "--vars", "amount: 2", *flags, env=env)
    assert fs_amount(project, env, *flags) == 2  # the build's value: read from b
    assert not a.exists()


def test_a_profiles_folder_dbt_does_not_read_is_refused_with_the_move(tmp_path):
    project, home, a, _ = make(tmp_path)
    project.profiles(project.root / "profiles", a)
    result = project.fs("catalog", env=project.env(home))
    assert result.returncode == 2
    root = project.root.resolve()
    assert result.stderr == (
        f"error: no profiles.yml found: looked in {root}, {home / '.dbt'}; dbt does not look in "
        f"{root / 'profiles'}: move its profiles.yml to {root}, or pass --profiles-dir {root / 'profiles'}\n"
    )


def test_the_same_profile_as_dbt_with_dbt_profile(tmp_path):
    project, home, a, b = make(tmp_path)
    shop = project.profiles(tmp_path / "one", a).read_text()
    other = project.profiles(tmp_path / "two", b).read_text().replace("shop:", "other:", 1)
    (project.root / "profiles.yml").write_text(shop + other)
    env = project.env(home, DBT_PROFILE="other")
    project.dbt("build", env=env)
    assert fs_amount(project, env) == 1
    assert b.exists() and not a.exists()
