"""Spark training-set benchmark: `fs training-set --target spark` as a whole process (parquet
spine in, parquet out) against the hand-written Spark SQL a Spark engineer would write for
the same output, in the same run, alternating.

    python benchmarks/bench_spark_training_set.py [--scale 1] [--repeat 3] [--driver-memory 8g] [--write-docs]

Reference shape (the contract) at --scale 1: one view of 100k entities x 100 days of daily
rows (about 9M rows) and a 1M-row spine; --scale 10 is the contract's 10x shape (1M entities,
90M view rows, a 10M-row spine); --scale 0.1 is for development. The data is generated once
per scale (DuckDB) into --data-dir as a real user's would be laid out: the view as one
parquet file per day (each sorted by entity), the spine as one parquet file sorted by time.

Both sides run local Spark with the same settings (the benchmark profile's), as fresh
processes; each is timed (wall and CPU) and its peak memory taken, the JVM's and every
Python process's together, by sampling the process tree in /proc (Linux). Spark's event log
of each run gives its stages' task counts (a stage of one task over many rows means a step
ran in a single partition). The outputs are checked equal: the spine's rows in its order,
each with the view's latest row at or before it, nulled past the view's 7-day ttl. The
cluster recipe, `--output-table`, is measured too (`--sides`), its table checked equal.
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

PROJECT = HERE / "spark_training_project"
DOCS = HERE.parent / "docs" / "benchmarks.md"
SECTION = "## Training sets on Spark at scale (issue 24)"
FS = [sys.executable, "-m", "featurestore.cli"]
START = "2024-01-01"
TABLE = "bench.training_out"

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
class Shape:
    """The data at one scale: 1 is the contract's reference shape, 10 its 10x."""

    scale: float
    days: int = 100

    @property
    def entities(self) -> int:
        return round(100_000 * self.scale)

    @property
    def spine_rows(self) -> int:
        return round(1_000_000 * self.scale)


def generate(folder: Path, shape: Shape) -> tuple[Path, Path]:
    """The view (a folder of one parquet file per day, each sorted by entity: a daily
    pipeline's output) and the spine (one parquet file sorted by time), made once per
    folder with DuckDB: the same values as benchmarks/reference_data.py's files."""
    import duckdb

    features, spine = folder / "features", folder / "spine.parquet"
    if (folder / "done").is_file():
        return features, spine
    print(f"generating {folder} ...", file=sys.stderr)
    features.mkdir(parents=True, exist_ok=True)
    db = duckdb.connect()
    db.execute("set memory_limit = '3GB'; set threads = 2")
    for day in range(shape.days):
        db.execute(f"""
            copy (
                select
                    e.range as entity_id,
                    timestamp '{START}' + to_days({day}) as event_timestamp,
                    (hash(e.range, {day}, 0) % 10000) / 100.0 as v0_spend,
                    cast(hash(e.range, {day}, 0, 1) % 50 as bigint) as v0_clicks,
                    hash(e.range, {day}, 0, 2) % 3 = 0 as v0_active
                from range({shape.entities}) e
                where hash(e.range, {day}, 0, 9) % 10 <> 0
                order by entity_id
            ) to '{features}/day_{day:03d}.parquet' (format parquet)""")
    db.execute(f"""
        copy (
            select
                cast(hash(i.range, 1) % {shape.entities} as bigint) as entity_id,
                timestamp '{START}' + to_seconds(cast(hash(i.range, 2) % ({shape.days} * 86400) as bigint))
                    as event_timestamp,
                hash(i.range, 3) % 5 = 0 as label
            from range({shape.spine_rows}) i
            order by event_timestamp, i.range
        ) to '{spine}' (format parquet)""")
    (folder / "done").write_text("")
    return features, spine


@dataclass(frozen=True)
class Measured:
    seconds: float
    cpu_seconds: float
    peak_mib: float
    stages: tuple[tuple[int, int], ...] = ()
    """Each completed stage's (tasks, rows it read: input and shuffle), from the event log."""


def measured(args: list[str], env: dict, log_path: Path, interval: float = 0.2) -> Measured:
    """Run `args`; its wall time, the CPU time of its whole process tree (JVM and Python
    workers included) and the tree's peak resident memory, sampled every `interval` s; and
    its Spark stages, from the event log it writes into env's FS_BENCH_EVENT_LOG (emptied
    first; one folder for every side: fs parses its project again when a variable its
    profile reads changes)."""
    import shutil

    events = Path(env["FS_BENCH_EVENT_LOG"])
    shutil.rmtree(events, ignore_errors=True)
    events.mkdir(parents=True)
    started = time.perf_counter()
    with open(log_path, "w") as log:
        child = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        peak, cpu = 0, {}
        while child.poll() is None:
            tree = _process_tree(child.pid)
            peak = max(peak, sum(rss for rss, _ in tree.values()))
            cpu.update({pid: ticks for pid, (_, ticks) in tree.items()})
            time.sleep(interval)
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(args[:4])} ... failed:\n{log_path.read_text()[-3000:]}")
    return Measured(
        seconds, sum(cpu.values()) / os.sysconf("SC_CLK_TCK"), peak * os.sysconf("SC_PAGE_SIZE") / 2**20, stage_tasks(events)
    )


def stage_tasks(events: Path) -> tuple[tuple[int, int], ...]:
    """(tasks, rows read) of each stage Spark completed, in order, from its JSON event log."""
    import json

    rows: dict[int, int] = {}
    tasks: dict[int, int] = {}
    for log in sorted(events.rglob("events_*")):
        for line in log.read_text().splitlines():
            event = json.loads(line)
            kind = event.get("Event")
            if kind == "SparkListenerTaskEnd":
                metrics = event.get("Task Metrics") or {}
                read = (metrics.get("Input Metrics") or {}).get("Records Read", 0)
                read += (metrics.get("Shuffle Read Metrics") or {}).get("Total Records Read", 0)
                rows[event["Stage ID"]] = rows.get(event["Stage ID"], 0) + read
            elif kind == "SparkListenerStageCompleted":
                info = event["Stage Info"]
                if "Failure Reason" not in info:
                    tasks[info["Stage ID"]] = info["Number of Tasks"]
    return tuple((tasks[stage], rows.get(stage, 0)) for stage in sorted(tasks))


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


def project_copy(data: Path) -> Path:
    """The benchmark's dbt project, copied into the scale's data folder: its own dbt
    artifacts and fs records per scale, so scales can run side by side."""
    import shutil

    project = data / "project"
    if not project.is_dir():
        shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("target", "dbt_packages", "logs", ".fs", "package-lock.yml"))
        package = HERE.parent / "featurestore" / "dbt"
        (project / "packages.yml").write_text(f"packages:\n  - local: {package}\n")
    return project


def profile_settings(env: dict) -> dict[str, str]:
    """The benchmark profile's Spark settings (profiles.yml), as the reference's
    session takes them: the same metastore, so it reads the view dbt made."""
    spark_dir = env["FS_BENCH_SPARK"]
    return {
        "spark.master": "local[*]",
        "spark.driver.memory": env["FS_BENCH_DRIVER_MEMORY"],
        "spark.sql.warehouse.dir": f"{spark_dir}/warehouse",
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={spark_dir}/metastore_db;create=true",
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={spark_dir}",
        "spark.sql.timestampType": "TIMESTAMP_NTZ",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": env["FS_BENCH_SHUFFLE_PARTITIONS"],
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": env["FS_BENCH_EVENT_LOG"],
        "spark.eventLog.compress": "false",
    }


def same_rows(fs_parts: Path, reference_parts: Path) -> bool:
    """The same rows in the same order (each side's file, or its parts read in their order)."""
    import pyarrow.parquet as pq

    def read(path: Path):
        return pq.read_table(path if path.is_file() else sorted(path.glob("part-*.parquet")))

    ours, theirs = read(fs_parts), read(reference_parts)
    return theirs.num_rows == ours.num_rows and theirs.cast(ours.schema).equals(ours)


def stages_text(runs: list[Measured]) -> str:
    """The tasks of each stage of the last run, and the largest number of rows a stage of a
    single task read (a step of the query that ran in one partition, if many)."""
    stages = runs[-1].stages
    single = max((read for tasks, read in stages if tasks == 1), default=0)
    return f"{'/'.join(str(tasks) for tasks, _ in stages)}; one-task stages read at most {single:,} rows"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1, help="1: 100k entities, 1M spine rows; 10: the 10x shape")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side, alternating")
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/spark10x-data"))
    parser.add_argument("--driver-memory", default="8g", help="spark.driver.memory, both sides")
    parser.add_argument("--shuffle-partitions", type=int, help="default: 8 per unit of scale, at least 8")
    parser.add_argument("--sides", default="reference,fs,fs-table", help="of reference, fs, fs-table (--output-table)")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()

    shape = Shape(args.scale)
    data = args.data_dir / f"scale_{args.scale:g}"
    features, spine = generate(data, shape)
    spark_dir = data / "spark"
    project = project_copy(data)
    partitions = args.shuffle_partitions or max(8, round(8 * args.scale))
    env = {
        **os.environ,
        "FS_BENCH_SPARK": str(spark_dir),
        "FS_BENCH_FEATURES": str(features),
        "FS_BENCH_DRIVER_MEMORY": args.driver_memory,
        "FS_BENCH_SHUFFLE_PARTITIONS": str(partitions),
        "FS_BENCH_EVENT_LOG": str(data / "events"),  # Spark needs the folder to exist
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    (data / "events").mkdir(parents=True, exist_ok=True)
    if not (spark_dir / "metastore_db").is_dir():
        # The view over the parquet folder, made once per shape by dbt-spark (a Spark session).
        # dbt deps first: the view declares a test of the feature store's dbt package.
        for command in ("deps", "run"):
            subprocess.run(
                [sys.executable, "-c", "from dbt.cli.main import cli; cli()", command,
                 "--project-dir", str(project), "--profiles-dir", str(project)],
                env=env, check=True, capture_output=True, cwd=project,
            )
    outputs = {"fs": data / "out_fs.parquet", "reference": data / "out_reference", "fs-table": spark_dir / "warehouse" / "bench.db" / "training_out"}
    base = [*FS, "training-set", "--project-dir", str(project), "--spine", str(spine), "--features", "view_0:*"]
    commands = {
        "fs": [*base, "-o", str(outputs["fs"])],
        "fs-table": [*base, "--output-table", TABLE],
        "reference": None,  # below
    }

    # fs parses the project once per data shape (the model reads FS_BENCH_FEATURES): not timed.
    subprocess.run([*FS, "catalog", "--project-dir", str(project)], env=env, check=True, capture_output=True)
    sides = args.sides.split(",")
    runs: dict[str, list[Measured]] = {side: [] for side in sides}
    for round_ in range(args.repeat):
        # Alternate the order, so no side always meets a warmer file cache.
        for side in sides if round_ % 2 == 0 else sides[::-1]:
            command = commands[side] or [
                sys.executable, "-c", REFERENCE.format(settings=profile_settings(env), spine=spine, out=outputs[side]),
            ]
            runs[side].append(measured(command, env, data / f"{side}.log"))
            print(f"{side}: {runs[side][-1]}", file=sys.stderr, flush=True)
    if "reference" in sides:
        for side in sides:
            if side != "reference" and not same_rows(outputs[side], outputs["reference"]):
                raise SystemExit(f"{side} and the hand-written Spark SQL disagree")

    def median(side: str, field: str) -> float:
        return statistics.median(getattr(m, field) for m in runs[side])

    first = sides[0] if "reference" not in sides else "reference"
    ref_wall, ref_cpu = median(first, "seconds"), median(first, "cpu_seconds")
    rows = [
        f"| scale | case | wall seconds, median of {args.repeat} (all runs) | CPU seconds, median | ratio to hand-written: wall, CPU | peak memory, JVM + Python | tasks per stage (last run) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    labels = {
        "reference": "hand-written Spark SQL (one window with `last(struct, true)`, no join back), parquet folder",
        "fs": "`fs training-set -o file.parquet`",
        "fs-table": f"`fs training-set --output-table {TABLE}` (the cluster recipe)",
    }
    for side in sides:
        wall, cpu = median(side, "seconds"), median(side, "cpu_seconds")
        every = ", ".join(f"{m.seconds:.1f}" for m in runs[side])
        ratio = "1.00, 1.00" if side == first else f"**{wall / ref_wall:.2f}**, **{cpu / ref_cpu:.2f}**"
        peak = max(m.peak_mib for m in runs[side])
        rows.append(f"| {args.scale:g}x | {labels[side]} | {wall:.1f} ({every}) | {cpu:.1f} | {ratio} | {peak:,.0f} MiB | {stages_text(runs[side])} |")

    import pyarrow.parquet as pq
    import pyspark

    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, pyspark {pyspark.__version__}"
    view_rows = sum(pq.read_metadata(f).num_rows for f in features.glob("*.parquet"))
    text = (
        f"`python benchmarks/bench_spark_training_set.py --scale {args.scale:g} --repeat {args.repeat} "
        f"--driver-memory {args.driver_memory}` on {time.strftime('%Y-%m-%d %H:%M')} ({machine}; local[*], "
        f"{partitions} shuffle partitions, {args.driver_memory} driver, for every side; load average "
        f"{os.getloadavg()[0]:.1f} at the end). Spine: {shape.spine_rows:,} rows; the view: {view_rows:,} rows "
        f"({shape.entities:,} entities x {shape.days} days, 3 features, one parquet file per day).\n\n" + "\n".join(rows) + "\n"
    )
    print(text)
    (data / "result.md").write_text(text)
    if args.write_docs:
        write_section(text)


def write_section(text: str) -> None:
    """Append the run's table to the scale section of docs/benchmarks.md (the prose around
    it is written by hand)."""
    existing = DOCS.read_text()
    start = existing.find(SECTION)
    if start < 0:
        DOCS.write_text(existing.rstrip() + "\n\n" + SECTION + "\n\n" + text)
        return
    end = existing.find("\n## ", start + len(SECTION))
    end = len(existing) if end < 0 else end + 1
    DOCS.write_text(existing[:end].rstrip() + "\n\n" + text + "\n" + existing[end:])


if __name__ == "__main__":
    main()
