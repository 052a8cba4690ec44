"""Running dbt commands for a project, in a child process with the project as its folder.

A child process keeps dbt's global state and logging out of ours, and running from the
project root makes relative paths in profiles.yml (a database file) mean the same to both.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections import Counter
from dataclasses import dataclass
from typing import IO, Callable, NoReturn

from featurestore.console import Console, plural
from featurestore.errors import DbtError, duckdb_file_locked
from featurestore.project.dbt_project import Project

DBT = [sys.executable, "-c", "from dbt.cli.main import cli; cli()"]
"""dbt's own entry point, run by this Python (whose dbt is the one fs was installed with).
Not `-m dbt.cli.main`: runpy then warns that the module was already imported by its package."""


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

    args = [*DBT, *command, *_project_flags(project, target)]
    if stream:
        result = subprocess.run(args, cwd=project.root, env=_env(), stdout=sys.stderr)
        output = ""
    else:
        result = subprocess.run(args, cwd=project.root, env=_env(), capture_output=True, text=True)
        output = result.stdout + result.stderr
    if result.returncode != 0:
        _raise_failure(command[0], output, console)


def run_dbt_after_parse(
    project: Project,
    command: list[str],
    target: str | None,
    console: Console,
    between: Callable[[], None],
    stream: bool = False,
) -> None:
    """Run `dbt parse`, then `between()`, then `dbt <command>` on the manifest that parse
    made, in one dbt process: dbt's start (2 s of CPU, its imports) is paid once, and the
    command does not parse again. When `between` raises (the feature metadata is invalid),
    dbt exits without running the command, and the error goes on up.

    Raises DbtError with dbt's own error lines when the parse or the command fails."""
    import subprocess

    flags = _project_flags(project, target)
    commands = json.dumps({"parse": ["parse", *flags], "then": [*command, *flags]})
    # In a with block: the child's pipes are closed however this ends (an open one is a
    # ResourceWarning in the caller's program).
    with subprocess.Popen(
        [sys.executable, "-c", _PARSE_THEN, commands],
        cwd=project.root,
        env={**_env(), "PYTHONUNBUFFERED": "1"},  # streamed lines as dbt writes them
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as child:
        parse_output, parsed = _read_until(child.stdout, _PARSED, stream)
        if not parsed:
            child.wait()
            _raise_failure("parse", "".join(parse_output), console)
        try:
            between()
        except BaseException:
            child.stdin.close()  # the child reads no go-ahead and exits without running the command
            child.stdout.read()
            child.wait()
            raise
        child.stdin.write("run\n")
        child.stdin.close()
        output, _ = _read_until(child.stdout, None, stream)
        if child.wait() != 0:
            _raise_failure(command[0], "".join(parse_output + output), console)


_PARSED = "-- fs: dbt parse done --"
"""The line the child writes once the manifest is parsed and written, to wait for its go-ahead."""

_PARSE_THEN = f"""
import json, sys
from dbt.cli.main import dbtRunner
commands = json.loads(sys.argv[1])
parsed = dbtRunner().invoke(commands["parse"])
sys.stdout.flush()
if not parsed.success:
    sys.exit(1)
print({_PARSED!r}, flush=True)
if sys.stdin.readline().strip() != "run":
    sys.exit(0)
sys.exit(0 if dbtRunner(manifest=parsed.result).invoke(commands["then"]).success else 1)
"""
"""The child of run_dbt_after_parse: dbt's programmatic runner, given the parsed manifest for
the second command. Imports only dbt: the project's own `featurestore/` folder (the dbt package)
in the working folder would shadow fs's package."""


def _read_until(stream: IO[str], marker: str | None, echo: bool) -> tuple[list[str], bool]:
    """The lines up to `marker` or the end of the output, and whether the marker came; echoed
    to stderr as they come when `echo`."""
    lines = []
    for line in stream:
        if line.rstrip("\n") == marker:
            return lines, True
        lines.append(line)
        if echo:
            sys.stderr.write(line)
    return lines, False


def _project_flags(project: Project, target: str | None) -> list[str]:
    return [
        "--project-dir",
        str(project.root),
        "--profiles-dir",
        str(project.profiles_dir),
        *(["--target", target] if target else []),
    ]


def _env() -> dict[str, str]:
    return {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}


def _raise_failure(command: str, output: str, console: Console) -> NoReturn:
    console.detail(output)
    # A DuckDB file another process holds is the warehouse's answer, as when fs opens it
    # (exit 4 and the same line), not a failure of the build.
    locked = _DUCKDB_LOCK.search(output)
    if locked:
        raise duckdb_file_locked(*locked.groups())
    summary = _error_summary(output)
    raise DbtError(f"dbt {command} failed: {summary}{_package_hint(summary)}")


def _package_hint(summary: str) -> str:
    """For a macro or test of fs's dbt package that dbt did not find: where it is. dbt finds a
    package's macros and tests only under the package's name."""
    from featurestore.project.package import shipped_names

    undefined = re.search(r"'(\w+)' is undefined", summary)
    if not undefined or undefined.group(1) not in shipped_names():
        return ""
    name = undefined.group(1).removeprefix("test_") if "Error in test" in summary else undefined.group(1)
    return f" (fs's dbt package has it as featurestore.{name}: run fs init, and name it so)"


_DUCKDB_LOCK = re.compile(r'Could not set lock on file "(.+?)": Conflicting lock is held in (.*?) \(PID (\d+)\)')


def _error_summary(output: str) -> str:
    """The most telling line of dbt's output, without its timestamp and colours."""
    raw = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in output.splitlines() if line.strip()]
    lines = [_strip(line) for line in raw]
    for marker in ("Error", "error", "ERROR"):
        for index, line in enumerate(lines):
            if marker in line and "Encountered an error" not in line:
                # "Compilation Error in test x (models/x.yml)" only says where: dbt gives
                # the reason ("'test_y' is undefined ...") on the next line, untimestamped.
                follows = raw[index + 1] if index + 1 < len(raw) else ""
                if _NODE_HEADER.search(line) and follows and not _TIMESTAMPED.match(follows):
                    return f"{line}: {follows.strip()}"
                return line
    return lines[-1] if lines else "see dbt's log in logs/dbt.log"


_NODE_HEADER = re.compile(r"Error in \w+ \S+ \([^)]*\)$")
"""dbt's header of a node's error: `Compilation Error in test name (path)`."""
_TIMESTAMPED = re.compile(r"^\d\d:\d\d:\d\d\s")


def _strip(line: str) -> str:
    line = re.sub(r"\x1b\[[0-9;]*m", "", line)
    return re.sub(r"^\d\d:\d\d:\d\d\s+", "", line).strip()


# How dbt's run_results.json names what it did, in words for the summary line.
NOUNS = {"model": "model", "seed": "seed", "snapshot": "snapshot", "test": "data test", "unit_test": "unit test"}
VERBS = {"success": "built", "pass": "passed", "warn": "warned", "skipped": "skipped", "error": "failed", "fail": "failed"}


@dataclass(frozen=True)
class BuildSummary:
    """What a `dbt build` did, from the target/run_results.json it wrote."""

    target: str
    counts: dict[tuple[str, str], int]
    """(resource type, status) -> how many, in dbt's order."""
    seconds: float
    built: frozenset[str] = frozenset()
    """Names of the models and snapshots dbt built successfully."""

    @classmethod
    def read(cls, project: Project, target: str) -> "BuildSummary":
        path = project.manifest_path.parent / "run_results.json"
        results = json.loads(path.read_text())
        counts = Counter((r["unique_id"].split(".")[0], r["status"]) for r in results["results"])
        built = frozenset(
            r["unique_id"].split(".")[2]
            for r in results["results"]
            if r["unique_id"].split(".")[0] in {"model", "snapshot"} and r["status"] == "success"
        )
        return cls(target, dict(counts), float(results.get("elapsed_time") or 0), built)

    def line(self) -> str:
        done = [
            f"{plural(n, NOUNS.get(kind, kind.replace('_', ' ')))} {VERBS.get(status, status)}"
            for (kind, status), n in self.counts.items()
            if status != "no-op"  # exposures and the like: nothing was run
        ]
        return f"dbt build on target {self.target}: {', '.join(done) or 'nothing selected'}, in {self.seconds:.1f} s"
