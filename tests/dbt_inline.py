"""SQL compiled by real dbt in a project, many queries for one parse: what a dbt model or
analysis calling a macro compiles to, without writing a file into the project (so fs's
manifest of it stays fresh). dbt runs in one child process for all the queries
(`compile_inline`), as it holds the warehouse (DuckDB's file, Spark's Derby metastore) while
it runs.

    python -m tests.dbt_inline SCRATCH RUNS_JSON [dbt args...]

RUNS_JSON is a list of runs, each {"env": {...}, "queries": {name: sql}}: a run parses the
project under its environment variables (a profile's schema or file, say), then compiles
each query. Prints a list, per run {name: {"sql": compiled} or {"error": dbt's message}}.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path


REPO = str(Path(__file__).resolve().parents[1])


def compile_inline(
    project: Path, runs: list[tuple[dict[str, str], dict[str, str]]], env: dict[str, str], scratch: Path, *dbt_args: str,
    forked: bool = False,
) -> list[dict[str, dict]]:
    """Per run (extra environment variables, {name: sql}), each query compiled by
    `dbt compile --inline` in `project` (dbt's target and logs go to `scratch`). `forked`: the
    child forked from a process that imported dbt already (tests/forked_dbt.py), for DuckDB
    and PostgreSQL; not for Spark, whose child joins the test's JVM as it starts."""
    scratch.mkdir(parents=True, exist_ok=True)
    document = json.dumps([{"env": extra, "queries": queries} for extra, queries in runs])
    args = [str(scratch), document, *dbt_args]
    env = {**env, "PYTHONPATH": os.pathsep.join(p for p in [REPO, env.get("PYTHONPATH", "")] if p)}
    if forked:
        from tests.forked_dbt import run_dbt

        result = run_dbt(args, cwd=project, env=env, module="tests.dbt_inline")
    else:
        result = subprocess.run([sys.executable, "-m", "tests.dbt_inline", *args], cwd=project, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(scratch: str, runs: str, *dbt_args: str) -> None:
    from dbt.cli.main import dbtRunner

    compiled_runs = []
    for number, run in enumerate(json.loads(runs)):
        os.environ.update(run["env"])
        common = ["--target-path", f"{scratch}/{number}", "--log-path", scratch, "--quiet", *dbt_args]
        parsed = dbtRunner().invoke(["parse", *common])
        if not parsed.success:
            raise SystemExit(f"dbt parse failed: {parsed.exception}")
        compiled = {}
        for name, sql in run["queries"].items():
            # A failed compile leaves its inline node in the manifest: each query gets a copy.
            result = dbtRunner(manifest=copy.deepcopy(parsed.result)).invoke(["compile", "--inline", sql, *common])
            if result.success:
                compiled[name] = {"sql": result.result.results[0].node.compiled_code}
            else:
                compiled[name] = {"error": str(result.exception)}
        compiled_runs.append(compiled)
    print(json.dumps(compiled_runs))


if __name__ == "__main__":
    main(*sys.argv[1:])
