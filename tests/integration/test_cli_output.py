"""What fs prints where nobody watches (a log, CI) and on screens of any width (issue 12)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from featurestore import FeatureStore
from featurestore.project.dbt_runner import DBT
from tests.conftest import project_env

pytestmark = pytest.mark.integration

VIEWS = ["carrier_daily", "plane_daily@v1", "plane_daily@v2", "route_daily", "weather_hourly"]
FS = [sys.executable, "-m", "featurestore.cli"]


# -- output for logs -----------------------------------------------------------------------
def test_build_off_a_terminal_prints_one_summary_line_and_no_warnings(built_project):
    out = (built_project.parent / "fs_build.stdout").read_text()
    assert re.fullmatch(r"dbt build on target duckdb: \d+ models built, \d+ data tests passed, in \d+\.\d s\n", out), out
    assert (built_project.parent / "fs_build.stderr").read_text() == ""


def test_dbt_runs_without_pythons_runpy_warning():
    # On a terminal dbt's output is streamed: `python -m dbt.cli.main` put a RuntimeWarning there.
    result = subprocess.run([*DBT, "--help"], capture_output=True, text=True, env=project_env())
    assert result.returncode == 0 and "Usage: " in result.stdout
    assert "Warning" not in result.stderr


# -- tables for any width ------------------------------------------------------------------
def lines_of(out: str) -> list[str]:
    return [line for line in out.splitlines() if line]


def assert_fits(out: str, width: int) -> None:
    too_wide = [line for line in lines_of(out) if len(line) > width]
    assert too_wide == []


def test_catalog_at_80_columns_keeps_names_whole(built_project, cli, clean_env, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = cli("catalog", "--project-dir", str(built_project))
    assert code == 0
    assert_fits(out, 80)
    rows = {line.split()[0]: line for line in lines_of(out) if line.split()[0] in VIEWS}
    assert sorted(rows) == VIEWS
    # origin_departures (its name and entity origin_airport) widens the first columns: at 80
    # columns the join keys go too, and are whole at 100.
    assert rows["route_daily"].split()[1:4] == ["route", "5", "7d"]
    assert all(line.endswith("…") for line in rows.values())  # descriptions cut, on one line
    assert "(left out to fit 80 columns: online, owner, join keys)" in out
    monkeypatch.setenv("COLUMNS", "100")
    code, out, _ = cli("catalog", "--project-dir", str(built_project))
    assert_fits(out, 100)
    route = next(line for line in lines_of(out) if line.startswith("route_daily "))
    assert route.split()[1:4] == ["route", "origin,", "dest"]  # join keys whole
    monkeypatch.setenv("COLUMNS", "80")

    code, out, _ = cli("catalog", "show", "route_daily", "--project-dir", str(built_project))
    assert_fits(out, 80)
    features = [line.split()[0] for line in lines_of(out) if line.startswith("route_daily:")]
    assert features == [f"route_daily:{f.name}" for f in FeatureStore(built_project).catalog().view("route_daily").features]
    # The view's own description wraps at spaces: every word of it is there.
    description = FeatureStore(built_project).catalog().view("route_daily").description
    assert " ".join(description.split()) in " ".join(out.replace("description", "", 1).split())


def test_catalog_at_100_columns_and_search(built_project, cli, clean_env, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    code, out, _ = cli("catalog", "--project-dir", str(built_project))
    assert_fits(out, 100)
    assert "growth-analytics" in out and "(left out to fit 100 columns: online)" in out
    code, out, _ = cli("catalog", "search", "delay", "--project-dir", str(built_project))
    assert code == 0
    assert_fits(out, 100)
    found = [line.split()[0] for line in lines_of(out) if ":" in line.split()[0] and "__" in line]
    assert "carrier_daily:carrier__avg_dep_delay_min__7d" in found and "route_daily:route__avg_arr_delay_min__28d" in found


def test_piped_output_follows_columns_else_shows_everything(built_project):
    env = {**project_env(), "COLUMNS": "90"}
    piped = subprocess.run([*FS, "catalog"], cwd=built_project, env=env, capture_output=True, text=True)
    assert piped.returncode == 0
    assert_fits(piped.stdout, 90) and "…" in piped.stdout
    env.pop("COLUMNS")
    whole = subprocess.run([*FS, "catalog"], cwd=built_project, env=env, capture_output=True, text=True)
    assert "…" not in whole.stdout and "left out" not in whole.stdout
    for view in FeatureStore(built_project).catalog():
        assert " ".join(view.description.split()).split(". ")[0] in whole.stdout


def test_json_is_the_full_record_at_any_width(built_project, cli, clean_env, monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    code, out, _ = cli("catalog", "--json", "--project-dir", str(built_project))
    assert code == 0
    catalog = FeatureStore(built_project).catalog()
    assert json.loads(out) == json.loads(json.dumps(catalog.to_dict(), default=str))


def run_in_terminal(args: list[str], cwd, columns: int) -> str:
    """`args` run with a terminal of `columns` as stdin, stdout and stderr; what it showed,
    without colours."""
    import fcntl
    import pty
    import struct
    import termios

    master, child_end = pty.openpty()
    fcntl.ioctl(child_end, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {k: v for k, v in project_env().items() if k not in ("COLUMNS", "LINES")}
    process = subprocess.Popen(args, cwd=cwd, env=env, stdin=child_end, stdout=child_end, stderr=child_end)
    os.close(child_end)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closes when the process ends
            break
        if not chunk:
            break
        shown += chunk
    process.wait()
    os.close(master)
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.decode()).replace("\r\n", "\n")


def test_catalog_on_an_80_column_terminal(built_project):
    out = run_in_terminal([*FS, "catalog"], built_project, 80)
    assert_fits(out, 80)
    assert sorted(line.split()[0] for line in lines_of(out) if line.split()[0] in VIEWS) == VIEWS
