"""Running dbt commands for a project, in a child process with the project as its folder.

A child process keeps dbt's global state and logging out of ours, and running from the
project root makes relative paths in profiles.yml (a database file) mean the same to both.
"""

from __future__ import annotations

import os
import sys

from featurestore.console import Console
from featurestore.errors import DbtError
from featurestore.project.dbt_project import Project


def run_dbt(
    project: Project,
    command: list[str],
    target: str | None,
    console: Console,
    stream: bool = False,
) -> None:
    """Run `dbt <command>`; raise DbtError with dbt's own error lines when it fails.

    With `stream`, dbt's output goes to the terminal as it runs (for long builds).
    """
    import subprocess

    args = [
        sys.executable,
        "-m",
        "dbt.cli.main",
        *command,
        "--project-dir",
        str(project.root),
        "--profiles-dir",
        str(project.profiles_dir),
        *(["--target", target] if target else []),
    ]
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    if stream:
        result = subprocess.run(args, cwd=project.root, env=env, stdout=sys.stderr)
        output = ""
    else:
        result = subprocess.run(args, cwd=project.root, env=env, capture_output=True, text=True)
        output = result.stdout + result.stderr
    if result.returncode != 0:
        console.detail(output)
        raise DbtError(f"dbt {command[0]} failed: {_error_summary(output)}")


def _error_summary(output: str) -> str:
    """The most telling line of dbt's output, without its timestamp and colours."""
    lines = [_strip(line) for line in output.splitlines() if line.strip()]
    for marker in ("Error", "error", "ERROR"):
        for line in lines:
            if marker in line and "Encountered an error" not in line:
                return line
    return lines[-1] if lines else "see dbt's log in logs/dbt.log"


def _strip(line: str) -> str:
    import re

    line = re.sub(r"\x1b\[[0-9;]*m", "", line)
    return re.sub(r"^\d\d:\d\d:\d\d\s+", "", line).strip()
