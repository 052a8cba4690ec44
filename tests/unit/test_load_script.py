"""scripts/load_nycflights13.py's `--since`: a day or one line that says what is valid (a
review found a DuckDB traceback for `2013-12`), and a target it cannot cut refused before
anything is downloaded or extracted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "load_nycflights13.py"


def load(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=folder, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("day", ["2013-12", "2013-13-01", "20131201", "yesterday"])
def test_since_that_is_not_a_day_is_one_line_and_exit_2(tmp_path, day):
    result = load(tmp_path, "--since", day)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"load_nycflights13.py: error: argument --since: not a day: '{day}' (give YYYY-MM-DD, e.g. 2013-12-01)"
    )
    assert "Traceback" not in result.stderr


def test_since_on_postgres_is_refused_before_the_files_are_read(tmp_path):
    (tmp_path / "dbt_project.yml").write_text("name: demo\nprofile: demo\nconfig-version: 2\n")
    (tmp_path / "profiles.yml").write_text(
        "demo:\n  target: pg\n  outputs:\n    pg:\n      type: postgres\n      host: 127.0.0.1\n      port: 1\n"
        "      user: nobody\n      dbname: none\n      schema: main\n      threads: 1\n"
    )
    result = load(tmp_path, "--project-dir", ".", "--profiles-dir", ".", "--since", "2013-12-01")
    assert result.returncode == 1
    assert result.stderr.strip() == "--since is for DuckDB and Spark: PostgreSQL copies the CSV files as they are"
