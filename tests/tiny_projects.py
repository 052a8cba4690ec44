"""A small dbt-duckdb project written into a folder, for tests that need a real `dbt build`
but not the demo: one seed, one feature view over it, two targets (dev and prod, each its
own DuckDB file), profiles in the project's `profiles/` folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests import forked_dbt

PROFILES = """tiny:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: dev.duckdb
      schema: main
      threads: 1
    prod:
      type: duckdb
      path: prod.duckdb
      schema: main
      threads: 1
"""

SEED = "customer_id,event_timestamp,orders\nc1,2024-02-01 00:00:00,3\nc2,2024-02-02 00:00:00,5\n"

MODEL_SQL = "select customer_id, event_timestamp, orders{extra}\nfrom {{{{ ref('raw_orders') }}}}\n"

MODEL_YML = """version: 2
models:
  - name: customer_orders
    description: Orders per customer.
    config:
      meta:
        feature_store:
          entity: customer
          join_keys: [customer_id]
          timestamp: event_timestamp
          ttl: 30d
    columns:
      - name: customer_id
      - name: event_timestamp
      - name: orders
        description: Orders so far.
"""


def write_tiny_project(root: Path, extra_sql: str = "") -> Path:
    """The project's files in `root` (made if missing); returns it."""
    (root / "models").mkdir(parents=True, exist_ok=True)
    (root / "seeds").mkdir(exist_ok=True)
    (root / "profiles").mkdir(exist_ok=True)
    (root / "dbt_project.yml").write_text(
        "name: tiny\nprofile: tiny\nconfig-version: 2\nversion: '1.0'\n"
        "model-paths: [models]\nseed-paths: [seeds]\n"
        "models:\n  tiny:\n    +materialized: table\n"
    )
    (root / "profiles" / "profiles.yml").write_text(PROFILES)
    (root / "seeds" / "raw_orders.csv").write_text(SEED)
    (root / "models" / "customer_orders.sql").write_text(MODEL_SQL.format(extra=extra_sql))
    (root / "models" / "customer_orders.yml").write_text(MODEL_YML)
    return root


def dbt_env(root: Path, **extra: str) -> dict[str, str]:
    """The environment for dbt and fs on the project: its profiles, no FS_/DBT_ leftovers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FS_", "DBT_"))}
    env.update(DBT_PROFILES_DIR=str(root / "profiles"), DBT_SEND_ANONYMOUS_USAGE_STATS="false", **extra)
    return env


def run_dbt(root: Path, *args: str, env: dict[str, str] | None = None) -> None:
    """A plain `dbt <args>` in the project, as a user runs it (no fs involved), in a process
    of its own forked from one that imported dbt already (tests/forked_dbt.py)."""
    result = forked_dbt.run_dbt(list(args), cwd=root, env=env or dbt_env(root))
    if result.returncode != 0:
        raise AssertionError(f"dbt {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")


def run_fs(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`fs <args>` in its own process, as a user runs it after dbt."""
    return subprocess.run(
        [sys.executable, "-m", "featurestore.cli", *args, "--project-dir", str(root)],
        cwd=root,
        env=env or dbt_env(root),
        capture_output=True,
        text=True,
    )
