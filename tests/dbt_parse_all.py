"""`dbt parse` of several copies of a project in one process (dbt's start-up is most of a
parse's cost): the first folder as it is, each other from the first's partial-parse state, so
dbt reads only the files the copy changed. Each folder has the feature store's package linked
already (tests/conftest.py link_package: no `dbt deps`).

    python -m tests.dbt_parse_all BASE COPY...      # through tests/forked_dbt.py's run_dbt

`--target duckdb`, as fs names the target to dbt: dbt keeps a partial parse only for the same
target flag, so the base starts from the built demo's state too (copy_project(dest, built_project)).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def main(base: str, *copies: str) -> None:
    from dbt.cli.main import dbtRunner

    runner = dbtRunner()
    for folder in [base, *copies]:
        if folder != base:
            shutil.copy2(Path(base) / "target" / "partial_parse.msgpack", Path(folder) / "target")
        result = runner.invoke(["parse", "--project-dir", folder, "--profiles-dir", folder, "--target", "duckdb", "--quiet"])
        if not result.success:
            sys.exit(f"dbt parse failed in {folder}: {result.exception}")


if __name__ == "__main__":
    main(*sys.argv[1:])
