"""Training-set benchmark: `fs training-set` as a whole process (parquet in, parquet out)
against one hand-written DuckDB `ASOF LEFT JOIN` writing the same parquet, in the same run.

    python benchmarks/bench_training_set.py [--repeat 9] [--views-repeat 3] [--write-docs]

Reference shape (the contract): 100k entities x 100 days of daily feature rows (about 9M
rows per view) and a 1M-row spine. Both sides run as fresh processes, alternately, and the
median of `--repeat` runs is reported; the ratio is what counts on a noisy machine. Then the
same with 1, 3 and 5 views for time and peak memory (the largest resident set of the process).
The outputs are checked identical: the hand-written query writes the same parquet (the spine's
order, the ttl applied); a bare ASOF join with neither is shown for scale.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from reference_data import DATA, feature_file, spine_file  # noqa: E402

PROJECT = HERE / "training_project"
DOCS = HERE.parent / "docs" / "benchmarks.md"
SECTION = "## Training sets (issue 3)"
FS = [sys.executable, "-m", "featurestore.cli"]

# The hand-written query that writes the same parquet as fs: the spine's rows in its order,
# each with the view's latest row at or before it, nulled past the view's 7-day ttl.
REFERENCE = """
import duckdb
duckdb.execute('''
    copy (
        select s.entity_id, s.event_timestamp, s.label,
            case when f.event_timestamp >= s.event_timestamp - interval 7 day then f.v0_spend end as v0_spend,
            case when f.event_timestamp >= s.event_timestamp - interval 7 day then f.v0_clicks end as v0_clicks,
            case when f.event_timestamp >= s.event_timestamp - interval 7 day then f.v0_active end as v0_active
        from read_parquet('{spine}', file_row_number = true) s
        asof left join read_parquet('{features}') f
          on s.entity_id = f.entity_id and s.event_timestamp >= f.event_timestamp
        order by s.file_row_number
    ) to '{out}' (format parquet)
''')
"""

# The bare join, for scale: no order, no ttl (a different file, so only a lower bound).
BARE = """
import duckdb
duckdb.execute('''
    copy (
        select s.*, f.v0_spend, f.v0_clicks, f.v0_active
        from read_parquet('{spine}') s
        asof left join read_parquet('{features}') f
          on s.entity_id = f.entity_id and s.event_timestamp >= f.event_timestamp
    ) to '{out}' (format parquet)
''')
"""


def run(args: list[str], env: dict) -> tuple[float, float]:
    """Seconds and peak resident memory (MiB) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    result = subprocess.run(args, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args[:4])} ... failed:\n{result.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of RUSAGE_CHILDREN is the largest child so far; measure each child alone by
    # running the memory-sensitive cases in a fresh interpreter (see peak_memory).
    return seconds, max(peak, before) / 1024


def peak_memory(args: list[str], env: dict) -> tuple[float, float]:
    """Run `args` under a fresh Python that reports its child's own peak RSS."""
    probe = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "e = time.perf_counter() - t; "
        "sys.exit(r.stderr) if r.returncode else "
        "print(e, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", probe, *args], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    seconds, mib = out.stdout.split()
    return float(seconds), float(mib)


def same_file_contents(a: Path, b: Path) -> bool:
    """The same rows in the same order."""
    import pyarrow.parquet as pq

    return pq.read_table(a).equals(pq.read_table(b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9, help="runs of each side for the one-view comparison")
    parser.add_argument("--views-repeat", type=int, default=3, help="runs of each multi-view case")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()

    features = [feature_file(view) for view in range(5)]
    spine = spine_file()
    env = {**os.environ, "FS_BENCH_DATA": str(DATA), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    env.pop("FS_DUCKDB_PATH", None)
    # The views are DuckDB views over the parquet files: dbt run makes them in a second.
    subprocess.run(
        [sys.executable, "-m", "dbt.cli.main", "run", "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT / "profiles")],
        env=env, check=True, capture_output=True, cwd=PROJECT,
    )
    out_ref, out_fs, out_bare = DATA / "out_reference.parquet", DATA / "out_fs.parquet", DATA / "out_bare.parquet"
    reference = [sys.executable, "-c", REFERENCE.format(spine=spine, features=features[0], out=out_ref)]
    bare = [sys.executable, "-c", BARE.format(spine=spine, features=features[0], out=out_bare)]

    def fs_command(views: int, out: Path) -> list[str]:
        names = ",".join(f"view_{v}:*" for v in range(views))
        return [*FS, "training-set", "--project-dir", str(PROJECT), "--spine", str(spine), "--features", names, "-o", str(out)]

    # Warm the file cache and dbt's manifest once, then alternate.
    run(reference, env)
    run(fs_command(1, out_fs), env)
    ref_times, fs_times, bare_times = [], [], []
    for _ in range(args.repeat):
        ref_times.append(run(reference, env)[0])
        fs_times.append(run(fs_command(1, out_fs), env)[0])
        bare_times.append(run(bare, env)[0])
    if not same_file_contents(out_ref, out_fs):
        raise SystemExit("fs and the hand-written query disagree")

    ref_time, fs_time, bare_time = (statistics.median(t) for t in (ref_times, fs_times, bare_times))
    ref_best, fs_best, bare_best = (min(t) for t in (ref_times, fs_times, bare_times))
    ref_memory = peak_memory(reference, env)[1]
    views = []
    for count in (1, 3, 5):
        timings = [peak_memory(fs_command(count, DATA / f"out_fs_{count}.parquet"), env) for _ in range(args.views_repeat)]
        views.append((count, statistics.median(t for t, _ in timings), max(m for _, m in timings)))

    rows = [
        f"| case | seconds: median of {args.repeat} (best) | ratio to hand-written: median (best) | peak memory |",
        "| --- | --- | --- | --- |",
        f"| hand-written DuckDB `ASOF LEFT JOIN`, same output file, 1 view, whole process | {ref_time:.2f} ({ref_best:.2f}) | 1.00 | {ref_memory:,.0f} MiB |",
        f"| `fs training-set`, 1 view, whole process | {fs_time:.2f} ({fs_best:.2f}) | **{fs_time / ref_time:.2f}** ({fs_best / ref_best:.2f}) | {views[0][2]:,.0f} MiB |",
        f"| (for scale) bare `ASOF LEFT JOIN`: no spine order, no ttl | {bare_time:.2f} ({bare_best:.2f}) | {bare_time / ref_time:.2f} ({bare_best / ref_best:.2f}) | |",
    ]
    for count, seconds, mib in views[1:]:
        rows.append(
            f"| `fs training-set`, {count} views (median of {args.views_repeat}) | {seconds:.2f} | {seconds / ref_time:.2f} | {mib:,.0f} MiB |"
        )
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    import duckdb

    table = "\n".join(rows)
    text = (
        f"{SECTION}\n\n"
        f"`python benchmarks/bench_training_set.py` on {time.strftime('%Y-%m-%d')} ({machine}, DuckDB {duckdb.__version__}).\n"
        f"Spine: 1,000,000 rows; each view: {_rows(features[0]):,} rows (100,000 entities x 100 days, 3 features), "
        "parquet files in, parquet file out; both outputs keep the spine's order and apply the views' 7-day ttl, "
        "and are checked identical. fs runs with the benchmark profile's `memory_limit: 2GB` (DuckDB spills past it), "
        "the hand-written query with DuckDB's defaults.\n\n"
        f"{table}\n"
    )
    print(text)
    if args.write_docs:
        write_section(text)


def _rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.read_metadata(path).num_rows


def write_section(text: str) -> None:
    existing = DOCS.read_text() if DOCS.is_file() else "# Benchmarks\n\nEach section is written by its benchmark script.\n"
    start = existing.find(SECTION)
    if start < 0:
        updated = existing.rstrip() + "\n\n" + text
    else:
        end = existing.find("\n## ", start + len(SECTION))
        updated = existing[:start] + text + (existing[end + 1 :] if end >= 0 else "")
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(updated)


if __name__ == "__main__":
    main()
