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
from typing import IO, Callable, Iterable, Iterator, NoReturn

from featurestore.console import Console, plural
from featurestore.errors import DbtError, DbtProjectError, FeatureStoreError, WarehouseError, duckdb_file_locked
from featurestore.project.dbt_project import Project

PYTHON = [sys.executable]
"""The command that starts the Python fs's dbt child runs in, before its `-c CODE args...`:
this Python, whose dbt is the one fs was installed with. One name for it, so that a program
embedding fs can start that Python otherwise (the test suite starts it as a process forked
from one that imported dbt already: tests/forked_dbt.py)."""
DBT_MAIN = "from dbt.cli.main import cli; cli()"
"""dbt's own entry point, as `python -c` code. Not `-m dbt.cli.main`: runpy then warns that the
module was already imported by its package."""
DBT = [sys.executable, "-c", DBT_MAIN]
"""`dbt` as this Python runs it."""


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

    args = [*PYTHON, "-c", DBT_MAIN, *command, *_project_flags(project, target)]
    if stream:
        # Echoed as dbt writes it, and kept: the error line is dbt's reason on a terminal too.
        with subprocess.Popen(
            args, cwd=project.root, env={**_env(), "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        ) as child:
            lines, _ = _read_until(child.stdout, None, echo=True)
            returncode = child.wait()
        output = "".join(lines)
    else:
        result = subprocess.run(args, cwd=project.root, env=_env(), capture_output=True, text=True)
        returncode = result.returncode
        output = "".join(without_profile_values((result.stdout + result.stderr).splitlines(keepends=True)))
    if returncode != 0:
        _raise_failure(command[0], output, project, console)


def run_dbt_after_parse(
    project: Project,
    command: list[str],
    target: str | None,
    console: Console,
    between: Callable[[], None],
    stream: bool = False,
    parse_flags: list[str] | None = None,
) -> None:
    """Run `dbt parse` (with `parse_flags`), then `between()`, then `dbt <command>` on the manifest that parse
    made, in one dbt process: dbt's start (2 s of CPU, its imports) is paid once, and the
    command does not parse again. When `between` raises (the feature metadata is invalid),
    dbt exits without running the command, and the error goes on up.

    Raises DbtError with dbt's own error lines when the parse or the command fails."""
    import subprocess

    flags = _project_flags(project, target)
    commands = json.dumps({"parse": ["parse", *(parse_flags or []), *flags], "then": [*command, *flags]})
    # In a with block: the child's pipes are closed however this ends (an open one is a
    # ResourceWarning in the caller's program).
    with subprocess.Popen(
        [*PYTHON, "-c", _PARSE_THEN, commands],
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
            _raise_failure("parse", "".join(parse_output), project, console)
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
            _raise_failure(command[0], "".join(parse_output + output), project, console)


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
    to stderr as they come when `echo`. Read through without_profile_values: no line fs
    keeps, echoes or logs quotes a profile's value."""
    lines = []
    for line in without_profile_values(stream):
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


def _raise_failure(command: str, output: str, project: Project, console: Console) -> NoReturn:
    console.detail(output)
    raise dbt_failure(command, output)


def dbt_failure(command: str, output: str) -> FeatureStoreError:
    """The error for a failed `dbt <command>` from its output (read through
    without_profile_values): one line with dbt's reason and the node or file it names."""
    # A DuckDB file another process holds is the warehouse's answer, as when fs opens it
    # (exit 4 and the same line), not a failure of the build.
    locked = _DUCKDB_LOCK.search(output)
    if locked:
        return duckdb_file_locked(*locked.groups())
    summary = _error_summary(output)
    message = f"dbt {command} failed: {summary}{_package_hint(summary)}"
    # What dbt reports before it runs anything ("Encountered an error:") is the project, its
    # packages or profile that dbt could not read: exit 3, as for fs's own reading of them.
    if _project_unreadable(output):
        return DbtProjectError(message)
    # A database error before any node ran is dbt failing to connect (FailedToConnectError,
    # whatever the adapter's words) or to list the target's schemas: the warehouse did not
    # answer (exit 4). A node's database error (bad SQL in a model) is its build failing.
    if _encountered_block(output).startswith("Database Error"):
        return WarehouseError(message)
    return DbtError(message)


def without_profile_values(lines: Iterable[str]) -> Iterator[str]:
    """dbt's output lines, each line that quotes a value of the profile rewritten without it.

    dbt quotes profile values in two errors only: the credentials that do not fit the
    adapter's schema (`Credentials in profile "p", target "t" invalid: <jsonschema's
    message, which starts with the value's repr>`) and a filter that could not convert a
    rendered value (`Could not convert value '<value>' into type 'number'`). Any value may
    be a password (a password under `port`, env vars swapped), in any form (a number, a list,
    escaped), so the value is left out whatever its key, and the rest of the line, the profile,
    the target and the expected type, is kept. The lines dbt writes under a credentials line
    (a longer reason) are left out up to dbt's next log line, and so are the lines of
    profiles.yml it quotes under a YAML error in that file. Other lines are untouched:
    looking for a secret's text would rewrite ordinary words that happen to equal it."""
    under_credentials = in_profiles_yml = False
    for line in lines:
        if _TIMESTAMP.match(_ANSI.sub("", line)):
            under_credentials = in_profiles_yml = False
        if under_credentials or (in_profiles_yml and _QUOTED_FILE_LINE.match(line)):
            continue
        in_profiles_yml = in_profiles_yml or _READING_PROFILES in line
        credentials = _CREDENTIALS.search(line)
        if credentials:
            under_credentials = True
            yield line[: credentials.start()] + _credentials_without_value(credentials) + _line_end(line)
            continue
        yield _CONVERTED_VALUE.sub(r"\1a value\2 (the value is left out: dbt debug shows it)", line)


_CREDENTIALS = re.compile(r'Credentials in profile (?P<names>"[^"]*", target "(?P<target>[^"]*)") invalid(?P<reason>.*)')
_WRONG_TYPE = re.compile(r" is not of type ('\w+'(?:, '\w+')*)\s*$")
"""jsonschema's reason for a value of the wrong type: `<repr of value> is not of type 'integer'`."""
_REQUIRED = re.compile(r": ('\w+' is a required property)\s*$")
"""jsonschema's reason for a missing key: it quotes the key's name, not a value."""
_CONVERTED_VALUE = re.compile(r"(Could not convert )value '.*'( into type '\w+')")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_READING_PROFILES = "while trying to read your profiles.yml"
_QUOTED_FILE_LINE = re.compile(r"^\s*\d+\s*\|")


def _credentials_without_value(match: re.Match) -> str:
    head = f"Credentials in profile {match.group('names')} invalid"
    where = f"dbt debug --target {match.group('target')} shows it"
    wrong_type = _WRONG_TYPE.search(match.group("reason"))
    if wrong_type:
        return f"{head}: a value is not of type {wrong_type.group(1)} (the value is left out: {where})"
    required = _REQUIRED.search(match.group("reason"))
    if required:
        return f"{head}: {required.group(1)}"
    return f"{head} (dbt's reason quotes a value of the profile, left out: {where})"


def _line_end(line: str) -> str:
    return line[len(line.rstrip("\r\n")) :]


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
    """The most telling part of dbt's output, in one line without timestamps and colours:
    a failed node's header and dbt's reason below it, or the kind of error dbt met before
    running anything with the reason and file below it, else the first line that says error."""
    raw = [_ANSI.sub("", line) for line in output.splitlines()]
    lines = [_strip(line) for line in raw]
    for index, line in enumerate(lines):
        if _NODE_HEADER.search(line):
            # "Failure in test x (models/x.yml)" only says where: dbt gives the reason ("Got 2
            # results", "'test_y' is undefined") on the next line, indented under it; under a
            # "Failure in" header, first the header of the error that failed it.
            reason = _reason_below(raw, index)
            if _NODE_HEADER.search(reason):
                line, reason = reason, _reason_below(raw, index + 1)
            return f"{line}: {reason}" if reason else line
    for index, line in enumerate(lines):
        if line == _ENCOUNTERED:
            block = _untimestamped_block(raw, index + 1)
            if block:
                details = _details(block[1:])
                return block[0].strip() + (": " + "; ".join(details) if details else "")
    lines = [line for line in lines if line]
    for marker in ("Error", "error", "ERROR"):
        for line in lines:
            if marker in line and "Encountered an error" not in line:
                return line
    return lines[-1] if lines else "see dbt's log in logs/dbt.log"


_ENCOUNTERED = "Encountered an error:"
"""dbt's header of an error met before it ran any node: the kind of error follows on the next
line ("Parsing Error", "Runtime Error"), then the reason, indented, and the file, untimestamped."""
_NODE_HEADER = re.compile(r"(Error|Failure) in \w+ \S+ \([^)]*\)$")
"""dbt's header of a node's error: `Compilation Error in test name (path)`, `Failure in test ...`."""
_TIMESTAMP = re.compile(r"^\d\d:\d\d:\d\d  ")
"""dbt's timestamp and the two spaces after it; what follows is the line as dbt indented it."""
_NOT_A_REASON = re.compile(r"^(-+|\d+\s+\|.*|Raw Error:)$")
"""In a block: a rule, a line of the file quoted with its number, the "Raw Error:" heading."""
_YAML_MARK = re.compile(r'^in "<unicode string>", (line \d+, column \d+)$')


def _reason_below(raw: list[str], index: int) -> str:
    """The first line under a node's header, indented under it (timestamped or not)."""
    if index + 1 >= len(raw):
        return ""
    follows = raw[index + 1]
    if _TIMESTAMP.match(follows):
        follows = _TIMESTAMP.sub("", follows)
        if not follows[:1].isspace():
            return ""
    return follows.strip()


def _untimestamped_block(raw: list[str], start: int) -> list[str]:
    block = []
    for line in raw[start:]:
        if _TIMESTAMP.match(line):
            break
        block.append(line)
    return block


def _details(block: list[str]) -> list[str]:
    """The lines of an error block that say something, a YAML mark (`in "<unicode string>",
    line 4, column 36`) joined to the line it places."""
    details: list[str] = []
    for line in (line.strip() for line in block):
        if not line or _NOT_A_REASON.match(line):
            continue
        mark = _YAML_MARK.match(line)
        if mark and details:
            details[-1] += f" at {mark.group(1)}"
        elif not mark:
            details.append(line)
    return details


def _project_unreadable(output: str) -> bool:
    """Whether dbt stopped before running anything because it could not use the project: a
    file it could not parse or compile, or one it names (dbt_project.yml, packages.yml), or
    the profile. A database that does not answer is not the project's fault."""
    block = _encountered_block(output)
    return block.startswith(("Parsing Error", "Compilation Error")) or any(
        named in block for named in ("Error encountered in ", "Error reading ", 'in profile "', "Could not find profile")
    )


def _encountered_block(output: str) -> str:
    """What dbt wrote under "Encountered an error:" (an error met before any node ran), or ""."""
    lines = [_strip(line) for line in output.splitlines()]
    if _ENCOUNTERED not in lines:
        return ""
    return "\n".join(lines[lines.index(_ENCOUNTERED) + 1 :])


def _strip(line: str) -> str:
    return _TIMESTAMP.sub("", _ANSI.sub("", line)).strip()


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
