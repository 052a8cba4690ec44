"""A small dbt-duckdb project that this repository does not contain, written into a test's
folder, and commands run on it the way a user runs them: `fs` and plain `dbt` in child
processes, with the project's own profiles.

    project = UserProject.shop(tmp_path / "shop")
    project.fs("init")
    project.dbt("build")

The default project (`shop`): a seed of orders, a staging view and `customer_daily`, a
table of one row per customer and day that is not yet a feature view (no YAML): what a
user's project looks like before `fs init`. Extend it with `write` (models of other
kinds, another profiles location) and keep what a user would not do out of it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from tests import forked_dbt

FS = [sys.executable, "-m", "featurestore.cli"]

CUSTOMERS = ("alice", "bob", "carol")
FIRST_DAY = date(2024, 1, 1)
DAYS = 60
CLOCK_NOW = datetime(2024, 3, 1, 6, 0)
"""The project's frozen clock (feature_store.yml clock.now): just after the data's last day."""


def orders() -> list[dict]:
    """The seed's rows: a deterministic few orders per customer and day."""
    rows = []
    for day in range(DAYS):
        for index, customer in enumerate(CUSTOMERS):
            for n in range((day * (index + 2)) % 3 + 1):
                ordered_at = datetime.combine(FIRST_DAY + timedelta(days=day), datetime.min.time()) + timedelta(hours=8 + n * 3)
                rows.append(
                    {"order_id": len(rows) + 1, "customer_id": customer, "ordered_at": ordered_at,
                     "amount": round(10 + (day * 7 + index * 13 + n * 5) % 90 + 0.25, 2)}
                )
    return rows


def customer_daily() -> dict[tuple[str, datetime], tuple[int, float]]:
    """The feature model's rows computed in Python: (customer, as_of) -> (orders, amount)."""
    rows: dict[tuple[str, datetime], tuple[int, float]] = {}
    for order in orders():
        as_of = datetime.combine(order["ordered_at"].date() + timedelta(days=1), datetime.min.time())
        count, total = rows.get((order["customer_id"], as_of), (0, 0.0))
        rows[(order["customer_id"], as_of)] = (count + 1, total + order["amount"])
    return rows


PROJECT_FILES = {
    "dbt_project.yml": (
        "name: shop\nversion: '1.0.0'\nconfig-version: 2\nprofile: shop\n"
        "models:\n  shop:\n    staging:\n      +materialized: view\n    features:\n      +materialized: table\n"
    ),
    "models/staging/stg_orders.sql": (
        "select order_id, customer_id, cast(ordered_at as timestamp) as ordered_at, amount\n"
        "from {{ ref('raw_orders') }}\n"
    ),
    "models/features/customer_daily.sql": (
        "-- Orders per customer known by the end of each day, as of the next midnight.\n"
        "select\n"
        "    customer_id,\n"
        "    cast(cast(ordered_at as date) + 1 as timestamp) as as_of,\n"
        "    count(*) as orders_1d,\n"
        "    sum(amount) as amount_1d\n"
        "from {{ ref('stg_orders') }}\n"
        "group by 1, 2\n"
    ),
}


@dataclass
class UserProject:
    """A user's dbt project on disk and the environment its commands run in."""

    root: Path
    profiles_dir: Path
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def shop(cls, root: Path, files: dict[str, str] | None = None) -> "UserProject":
        """The default project, with `files` (path -> text) written over it. Its profiles live
        outside the project, in a folder DBT_PROFILES_DIR names, as many users keep them."""
        profiles_dir = root.parent / f"{root.name}-dbt-home"
        project = cls(root, profiles_dir, _clean_env(DBT_PROFILES_DIR=str(profiles_dir)))
        project.write("dbt_project.yml", PROJECT_FILES["dbt_project.yml"])
        project.write_profiles(f"shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: {root / 'shop.duckdb'}\n      threads: 1\n")
        project.write("seeds/raw_orders.csv", _csv(orders()))
        for path, text in {**PROJECT_FILES, **(files or {})}.items():
            project.write(path, text)
        return project

    def write(self, path: str, text: str) -> Path:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        return target

    def write_profiles(self, text: str) -> None:
        self.profiles_dir.mkdir(parents=True, exist_ok=True)
        (self.profiles_dir / "profiles.yml").write_text(text)

    def read(self, path: str) -> str:
        return (self.root / path).read_text()

    def run(self, args: list[str], expect: int | None = 0, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run a command in the project folder; fail the test when its exit code is not
        `expect` (None: any), showing its output."""
        result = subprocess.run(args, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout)
        return self._expected(result, expect)

    @staticmethod
    def _expected(result: subprocess.CompletedProcess, expect: int | None) -> subprocess.CompletedProcess:
        args = result.args
        if expect is not None and result.returncode != expect:
            raise AssertionError(
                f"{' '.join(args[2:] if args[:2] == FS[:2] else args)} exited {result.returncode}, expected {expect}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result

    def fs(self, *args: str, expect: int | None = 0) -> subprocess.CompletedProcess:
        return self.run([*FS, *args], expect)

    def fs_here(self, *args: str, expect: int | None = 0) -> subprocess.CompletedProcess:
        """`fs args...` run in this process (tests/conftest.py `run_here`) with what the child of
        `fs` would have: exactly this project's environment, its folder as the working folder,
        stdout and stderr captured, the exit code fs's SystemExit. For tests of what fs says
        and exits with, where the process is not the point: a child costs a Python start and
        fs's imports, and starts fs's dbt child as a new Python with dbt's imports (2.5-3.5 s
        of CPU), where fs in this process has its dbt child forked (`forked_dbt_child`)."""
        from tests.conftest import run_here

        return self._expected(run_here([*FS, *args], self.root, self.env), expect)

    def dbt(self, *args: str, expect: int | None = 0) -> subprocess.CompletedProcess:
        """Plain dbt, as the user runs it: it finds the profiles through DBT_PROFILES_DIR. A
        process of its own, forked from one that imported dbt already (tests/forked_dbt.py)."""
        result = forked_dbt.run_dbt(list(args), cwd=self.root, env=self.env, timeout=300)
        return self._expected(result, expect)

    def popen(self, *args: str) -> subprocess.Popen:
        """`fs args...` left running (fs serve); the caller stops it."""
        return subprocess.Popen([*FS, *args], cwd=self.root, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without fs and dbt settings, so only the project's count."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FS_", "DBT_"))}
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    # The tests run this worktree's fs, whichever featurestore the interpreter has installed.
    repo = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([repo, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    return {**env, **extra}


def _csv(rows: list[dict]) -> str:
    columns = list(rows[0])
    lines = [",".join(columns)] + [",".join(str(row[c]) for c in columns) for row in rows]
    return "\n".join(lines) + "\n"
