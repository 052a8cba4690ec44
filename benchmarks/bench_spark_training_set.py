"""Spark training-set benchmark: `fs training-set --target spark` as a whole process (parquet
spine in, parquet out) against the hand-written Spark SQL a Spark engineer would write for
the same output, in the same run, alternating.

    python benchmarks/bench_spark_training_set.py [--repeat 3] [--entities 100000 --days 100 --spine-rows 1000000] [--write-docs]

Reference shape (the contract): one view of 100k entities x 100 days of daily rows (about 9M
rows) and a 1M-row spine; smaller shapes (`--entities 10000 --spine-rows 100000`) are for
development. Both sides run local Spark with the same settings (the benchmark profile's), as
fresh processes; each is timed (wall and CPU) and its peak memory taken, the JVM's and every
Python process's together, by sampling the process tree in /proc (Linux). The outputs are
checked equal: the spine's rows in its order, each with the view's latest row at or before
it, nulled past the view's 7-day ttl.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from reference_data import DATA, feature_file, spine_file  # noqa: E402

PROJECT = HERE / "spark_training_project"
DOCS = HERE.parent / "docs" / "benchmarks.md"
SECTION = "## Training sets on Spark (issue 10)"
FS = [sys.executable, "-m", "featurestore.cli"]

# The best hand-written form: one pass over the same dbt-built view (through the same
# metastore) and the spine's parquet file. Spine and feature rows are sorted together per
# entity; each spine row takes the last feature row before it (inclusive: feature rows sort
# first at equal times) with last(struct, ignorenulls), which carries a row whose values are
# null as it is; the spine's own columns travel in the union, so no join back; the spine's
# order is monotonically_increasing_id() over its file, and the one global step is the final
# distributed sort. Spark writes the parts itself.
REFERENCE = """
import sys
from pyspark.sql import SparkSession
from featurestore.engines.spark import session_settings

settings = session_settings({{"server_side_parameters": {settings!r}}})
builder = SparkSession.builder.enableHiveSupport()
for key, value in settings.items():
    builder = builder.config(key, value)
spark = builder.getOrCreate()
spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
spark.sql('''
    with spine as (
        select entity_id, event_timestamp, label, monotonically_increasing_id() as rid
        from parquet.`{spine}`
    ),
    events as (
        select entity_id, event_timestamp, 0 as kind, cast(null as bigint) as rid, cast(null as boolean) as label,
            named_struct('ts', event_timestamp, 'spend', v0_spend, 'clicks', v0_clicks, 'active', v0_active) as f
        from bench.view_0
        union all
        select entity_id, event_timestamp, 1, rid, label, null from spine
    ),
    matched as (
        select event_timestamp, entity_id, kind, rid, label,
            last(f, true) over (partition by entity_id order by event_timestamp, kind
                                rows between unbounded preceding and current row) as m
        from events
    )
    select entity_id, event_timestamp, label,
        case when m.ts >= event_timestamp - interval 7 days then m.spend end as v0_spend,
        case when m.ts >= event_timestamp - interval 7 days then m.clicks end as v0_clicks,
        case when m.ts >= event_timestamp - interval 7 days then m.active end as v0_active
    from matched
    where kind = 1
    order by rid
''').write.mode("overwrite").parquet("{out}")
spark.stop()
"""


@dataclass(frozen=True)
class Measured:
    seconds: float
    cpu_seconds: float
    peak_mib: float


def measured(args: list[str], env: dict, interval: float = 0.2) -> Measured:
    """Run `args`; its wall time, the CPU time of its whole process tree (JVM and Python
    workers included) and the tree's peak resident memory, sampled every `interval` s."""
    started = time.perf_counter()
    with open(DATA / "bench_spark.log", "w") as log:
        child = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        peak, cpu = 0, {}
        while child.poll() is None:
            tree = _process_tree(child.pid)
            peak = max(peak, sum(rss for rss, _ in tree.values()))
            cpu.update({pid: ticks for pid, (_, ticks) in tree.items()})
            time.sleep(interval)
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(args[:4])} ... failed:\n{(DATA / 'bench_spark.log').read_text()[-3000:]}")
    return Measured(seconds, sum(cpu.values()) / os.sysconf("SC_CLK_TCK"), peak * os.sysconf("SC_PAGE_SIZE") / 2**20)


def _process_tree(root: int) -> dict[int, tuple[int, int]]:
    """pid -> (resident pages, user + system clock ticks) of `root` and its descendants."""
    stats = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # gone since the listing
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (command) "
        stats[int(entry)] = (int(fields[1]), int(fields[21]), int(fields[11]) + int(fields[12]))
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    tree, stack = {}, [root]
    while stack:
        pid = stack.pop()
        if pid in stats:
            tree[pid] = stats[pid][1:]
            stack.extend(children.get(pid, []))
    return tree


def profile_settings(env: dict) -> dict[str, str]:
    """The benchmark profile's Spark settings (profiles.yml), as the reference's
    session takes them: the same metastore, so it reads the view dbt made."""
    spark_dir = env["FS_BENCH_SPARK"]
    return {
        "spark.master": "local[*]",
        "spark.driver.memory": env.get("FS_BENCH_DRIVER_MEMORY", "2g"),
        "spark.sql.warehouse.dir": f"{spark_dir}/warehouse",
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={spark_dir}/metastore_db;create=true",
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={spark_dir}",
        "spark.sql.timestampType": "TIMESTAMP_NTZ",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": env.get("FS_BENCH_SHUFFLE_PARTITIONS", "8"),
    }


def same_rows(fs_file: Path, reference_parts: Path) -> bool:
    """The same rows in the same order (the reference's parts read in their order)."""
    import pyarrow.parquet as pq

    ours = pq.read_table(fs_file)
    theirs = pq.read_table(sorted(reference_parts.glob("part-*.parquet")))
    return theirs.num_rows == ours.num_rows and theirs.cast(ours.schema).equals(ours)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side, alternating")
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=100)
    parser.add_argument("--spine-rows", type=int, default=1_000_000)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()

    features = feature_file(0, args.entities, args.days)
    spine = spine_file(args.spine_rows, args.entities, args.days)
    spark_dir = DATA / f"spark_{args.entities}x{args.days}"
    env = {
        **os.environ,
        "FS_BENCH_SPARK": str(spark_dir),
        "FS_BENCH_FEATURES": str(features),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    if not (spark_dir / "metastore_db").is_dir():
        # The view over the parquet file, made once per shape by dbt-spark (a Spark session).
        # dbt deps first: the view declares a test of the feature store's dbt package.
        for command in ("deps", "run"):
            subprocess.run(
                [sys.executable, "-c", "from dbt.cli.main import cli; cli()", command,
                 "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT)],
                env=env, check=True, capture_output=True, cwd=PROJECT,
            )
    out_fs, out_reference = DATA / "out_spark_fs.parquet", DATA / "out_spark_reference"
    fs = [*FS, "training-set", "--project-dir", str(PROJECT), "--spine", str(spine), "--features", "view_0:*", "-o", str(out_fs)]
    reference = [
        sys.executable, "-c",
        REFERENCE.format(settings=profile_settings(env), spine=spine, out=out_reference),
    ]

    # fs parses the project once per data shape (the model reads FS_BENCH_FEATURES): not timed.
    subprocess.run([*FS, "catalog", "--project-dir", str(PROJECT)], env=env, check=True, capture_output=True)
    runs: dict[str, list[Measured]] = {"reference": [], "fs": []}
    for round_ in range(args.repeat):
        # Alternate which side goes first, so neither always meets a warmer file cache.
        order = ["reference", "fs"] if round_ % 2 == 0 else ["fs", "reference"]
        for side in order:
            runs[side].append(measured(reference if side == "reference" else fs, env))
            print(f"{side}: {runs[side][-1]}", file=sys.stderr)
    if not same_rows(out_fs, out_reference):
        raise SystemExit("fs and the hand-written Spark SQL disagree")

    def median(side: str, field: str) -> float:
        return statistics.median(getattr(m, field) for m in runs[side])

    ref_wall, ref_cpu = median("reference", "seconds"), median("reference", "cpu_seconds")
    rows = [
        f"| case | wall seconds, median of {args.repeat} (all runs) | CPU seconds, median | ratio to hand-written: wall, CPU | peak memory, JVM + Python |",
        "| --- | --- | --- | --- | --- |",
    ]
    labels = {
        "reference": "hand-written Spark SQL (one window with `last(struct, true)`, no join back), whole process",
        "fs": "`fs training-set --target spark`, whole process",
    }
    for side in ("reference", "fs"):
        wall, cpu = median(side, "seconds"), median(side, "cpu_seconds")
        every = ", ".join(f"{m.seconds:.1f}" for m in runs[side])
        ratio = "1.00, 1.00" if side == "reference" else f"**{wall / ref_wall:.2f}**, **{cpu / ref_cpu:.2f}**"
        peak = max(m.peak_mib for m in runs[side])
        rows.append(f"| {labels[side]} | {wall:.1f} ({every}) | {cpu:.1f} | {ratio} | {peak:,.0f} MiB |")

    import pyarrow.parquet as pq
    import pyspark

    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, pyspark {pyspark.__version__}"
    text = (
        f"{SECTION}\n\n"
        f"`python benchmarks/bench_spark_training_set.py` on {time.strftime('%Y-%m-%d')} ({machine}; local[*], "
        f"{env.get('FS_BENCH_SHUFFLE_PARTITIONS', '8')} shuffle partitions, 2g driver, for both sides). "
        f"Spine: {pq.read_metadata(spine).num_rows:,} rows; the view: {pq.read_metadata(features).num_rows:,} rows "
        f"({args.entities:,} entities x {args.days} days, 3 features); parquet in, parquet out. Both outputs keep the "
        "spine's order and apply the view's 7-day ttl, and are checked equal (fs writes one file, the hand-written "
        "job a folder of ordered parts).\n\n" + "\n".join(rows) + "\n"
    )
    print(text)
    if args.write_docs:
        write_section(text)


def write_section(text: str) -> None:
    existing = DOCS.read_text()
    start = existing.find(SECTION)
    if start < 0:
        updated = existing.rstrip() + "\n\n" + text
    else:
        end = existing.find("\n## ", start + len(SECTION))
        updated = existing[:start] + text + (existing[end + 1 :] if end >= 0 else "")
    DOCS.write_text(updated)


if __name__ == "__main__":
    main()
