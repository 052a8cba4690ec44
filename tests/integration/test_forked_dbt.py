"""tests/forked_dbt.py, the tests' forked `dbt`: a run behaves as a new process's would where
a fork could differ (found by a review)."""

from __future__ import annotations

import os
import time

import pytest

from tests.forked_dbt import run_dbt

pytestmark = pytest.mark.integration


def test_a_file_dated_in_the_future_does_not_hold_a_run_back(tmp_path):
    """A run waits until its newest input is START_S old, as a real dbt's imports make it;
    a file dated an hour ahead (a clock moved back, an archive's times) is not waited for:
    a real dbt would start at once. It waited the hour, past this run's timeout."""
    later = tmp_path / "later.txt"
    later.write_text("from the future\n")
    ahead = time.time() + 3600
    os.utime(later, (ahead, ahead))
    result = run_dbt(["--version"], cwd=tmp_path, env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Core" in result.stdout


CHILD = """
import os, sys
print("argv", sys.argv[1:], os.getcwd(), os.environ.get("FS_T_WHO"), flush=True)
sys.stderr.write("to stderr\\n")
if sys.stdin.readline().strip() != "run":
    sys.exit(5)
print("ran", flush=True)
sys.exit(int(sys.argv[1]))
"""


def test_fs_dbt_child_in_the_test_process_is_a_forked_process_with_fs_pipes_and_exit_code(tmp_path):
    """fs in the test process starts its dbt child through tests/dbt_launcher.py (conftest
    `forked_dbt_child`): the child gets the pipes fs made (a line read before the go-ahead
    fs writes to its stdin, as run_dbt_after_parse does), its argv, folder and environment,
    and its exit code is the launcher's; a launcher killed takes its run with it."""
    import subprocess

    from featurestore.project import dbt_runner

    assert dbt_runner.PYTHON[-2].endswith("dbt_launcher.py"), dbt_runner.PYTHON
    env = {**os.environ, "FS_T_WHO": "fs", "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        [*dbt_runner.PYTHON, "-c", CHILD, "3", "b c"], cwd=tmp_path, env=env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    ) as child:
        assert child.stdout.readline() == f"argv ['3', 'b c'] {tmp_path} fs\n"
        assert child.stdout.readline() == "to stderr\n"
        child.stdin.write("run\n")
        child.stdin.close()
        assert child.stdout.read() == "ran\n"
        assert child.wait() == 3
    refused = subprocess.run([*dbt_runner.PYTHON, "-c", CHILD, "0"], cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    assert refused.returncode == 5 and refused.stderr == "to stderr\n"
    failed = subprocess.run([*dbt_runner.PYTHON, "-c", "raise KeyError('k')"], cwd=tmp_path, capture_output=True, text=True)
    assert failed.returncode == 1
    assert failed.stderr == "Traceback (most recent call last):\n  File \"<string>\", line 1, in <module>\nKeyError: 'k'\n"
    with subprocess.Popen(
        [*dbt_runner.PYTHON, "-c", "import os, time; print(os.getpid(), flush=True); time.sleep(60)"],
        cwd=tmp_path, stdout=subprocess.PIPE, text=True,
    ) as sleeping:
        run = int(sleeping.stdout.readline())
        assert run not in (os.getpid(), sleeping.pid)
        sleeping.kill()
        sleeping.wait()
    for _ in range(100):
        try:
            os.kill(run, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the run outlived its launcher")


@pytest.mark.real_dbt_child
def test_fs_in_the_test_process_starts_the_real_dbt_child_when_marked(tmp_path, cli, clean_env, monkeypatch):
    """The product's own child, in a test process: a test marked `real_dbt_child` has fs start
    dbt in a new Python, as a user's fs does (the parse and build of run_dbt_after_parse in one child, its go-ahead on stdin; run_dbt's parse of a stale manifest): the seam that forks it
(dbt_runner.PYTHON) is the only difference."""
    import subprocess
    import sys

    from featurestore.project import dbt_runner
    from tests.user_project import UserProject

    started = []

    class Recorded(subprocess.Popen):
        def __init__(self, args, *rest, **kwargs):
            started.append(list(args))
            super().__init__(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", Recorded)
    project = UserProject.shop(tmp_path / "shop")
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    code, out, err = cli("build", "--project-dir", str(project.root), "--profiles-dir", str(project.profiles_dir))
    assert code == 0, err
    assert "dbt build on target dev" in out + err
    # A model changed since the build: the catalog's stale manifest is parsed again by the
    # plain child (run_dbt).
    model = next((project.root / "models").rglob("*.sql"))
    model.write_text(model.read_text() + "\n-- changed\n")
    code, out, err = cli("catalog", "--project-dir", str(project.root), "--profiles-dir", str(project.profiles_dir))
    assert code == 0, err
    dbt_children = [args for args in started if "-c" in args[:3]]
    assert dbt_children and all(args[:2] == [sys.executable, "-c"] for args in dbt_children), dbt_children
    assert dbt_runner._PARSE_THEN in [args[2] for args in dbt_children]
    assert dbt_runner.DBT_MAIN in [args[2] for args in dbt_children], dbt_children


def test_a_run_reads_its_own_dbt_env_custom_env_variables(tmp_path):
    """dbt reads `DBT_ENV_CUSTOM_ENV_*` once per process and keeps it (the manifest's
    `metadata.env`, `dbt_metadata_envs` in jinja, JSON logs' `extra`): a run forked after the
    forking process's warm-up parse must read its own, as a new process does. It read the
    warm-up's (none) until the warm-up reset what dbt keeps (found by a review)."""
    import json

    from tests.tiny_projects import dbt_env, write_tiny_project

    root = write_tiny_project(tmp_path / "tiny")
    result = run_dbt(["parse"], cwd=root, env=dbt_env(root, DBT_ENV_CUSTOM_ENV_TEAM="growth"), timeout=120)
    assert result.returncode == 0, result.stdout[-2000:]
    assert json.loads((root / "target" / "manifest.json").read_text())["metadata"]["env"] == {"TEAM": "growth"}
