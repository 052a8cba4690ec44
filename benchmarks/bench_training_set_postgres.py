"""Training sets on PostgreSQL: the query fs writes against a hand-written
`LEFT JOIN LATERAL (... ORDER BY event_timestamp DESC LIMIT 1)` over the index on
(entity_id, event_timestamp) that it needs, in the same run. fs's query is planned as fs plans
it, with what the warehouse's catalog says of the index: without it, the portable form; with
it, fs's own top-one lateral join (the hand-written one is not run without the index: it scans
the whole table for every spine row).

    FS_BENCH_PG_DSN="host=127.0.0.1 user=postgres dbname=test" python benchmarks/bench_training_set_postgres.py [--repeat 3]

Shape (issue 11): 6,000 entities x 100 days of daily rows with one in ten missing (about
540,000 rows, 3 features) and a 100,000-row spine, in a schema of its own that is dropped at
the end. Each query writes its result into a table (`CREATE TEMP TABLE ... AS`), so the
server does all the work and no rows travel; the cases take turns, medians of wall time (the
server's: the client only waits). The results are checked identical, row order included.

    FS_BENCH_PG_DSN=... python benchmarks/bench_training_set_postgres.py --whole-command [--repeat 5] [--write-docs]

measures instead the whole command, each in a process of its own, on the same shape built by
dbt (benchmarks/postgres_project: the view with the uniqueness test and its index, and a
spine model): `fs training-set --spine spine --features features:* -o file.parquet` against a
hand-written script (HAND_WRITTEN: psycopg, the same LEFT JOIN LATERAL, pyarrow's parquet
writer), taking turns; the two files are checked to hold the same rows. Wall time, and the
CPU time of the process (the server's work, the same query on both sides, is in the wall
time only). `--write-docs` writes the "## PostgreSQL: the whole command (issue 24)" section.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlglot import exp

from featurestore.catalog import Feature, FeatureSelection, FeatureView, Relation
from featurestore.engines.registry import engine_for_dialect
from featurestore.offline.indexes import probe_view_indexes
from featurestore.project.profiles import Target
from featurestore.sql.expressions import column, render
from featurestore.sql.pit import SpineRelation, output_features, point_in_time_expression

SCHEMA = f"fs_bench_pit_{os.getpid()}"
FEATURES = ("spend", "clicks", "active")

SETUP = f"""
create schema {SCHEMA};
create table {SCHEMA}.features as
    select e as entity_id, timestamp '2024-01-01' + d * interval '1 day' as event_timestamp,
           (hashint8(e * 1000 + d) % 10000) / 100.0 as spend, abs(hashint8(e * 1000 + d + 1) % 50)::bigint as clicks,
           hashint8(e * 1000 + d + 2) % 3 = 0 as active
    from generate_series(0, 5999) e, generate_series(0, 99) d
    where abs(hashint8(e * 1000 + d + 9)) % 10 <> 0;
create table {SCHEMA}.spine as
    select abs(hashint8(i)) % 6000 as entity_id,
           timestamp '2024-01-01' + (abs(hashint8(i + 1)) % (100 * 86400)) * interval '1 second' as event_timestamp,
           hashint8(i + 2) % 5 = 0 as label, i as row_order
    from generate_series(1, 100000) i;
analyze {SCHEMA}.features;
analyze {SCHEMA}.spine;
"""

# The hand-written query: for each spine row the latest feature row at or before it, found by
# an ordered top-1 probe per row, nulled past the 7-day ttl, in the spine's order.
LATERAL = f"""
select s.entity_id, s.event_timestamp, s.label,
    case when f.event_timestamp >= s.event_timestamp - interval '7 days' then f.spend end as spend,
    case when f.event_timestamp >= s.event_timestamp - interval '7 days' then f.clicks end as clicks,
    case when f.event_timestamp >= s.event_timestamp - interval '7 days' then f.active end as active
from {SCHEMA}.spine s
left join lateral (
    select event_timestamp, spend, clicks, active from {SCHEMA}.features f
    where f.entity_id = s.entity_id and f.event_timestamp <= s.event_timestamp
    order by f.event_timestamp desc limit 1
) f on true
order by s.row_order
"""


HERE = Path(__file__).resolve().parent
PROJECT = HERE / "postgres_project"
WHOLE_SECTION = "## PostgreSQL: the whole command (issue 24)"

# What a user would write by hand for the same file: the lateral join above over the dbt
# project's tables, fetched with psycopg, written with pyarrow. argv: DSN, schema, output file.
HAND_WRITTEN = '''
import sys
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq

dsn, schema, output = sys.argv[1:4]
query = """
select s.entity_id, s.event_timestamp, s.label, s.row_order,
    case when f.event_timestamp >= s.event_timestamp - interval '7 days' then f.spend end as spend,
    case when f.event_timestamp >= s.event_timestamp - interval '7 days' then f.clicks end as clicks,
    case when f.event_timestamp >= s.event_timestamp - interval '7 days' then f.active end as active
from {0}.spine s
left join lateral (
    select event_timestamp, spend, clicks, active from {0}.features f
    where f.entity_id = s.entity_id and f.event_timestamp <= s.event_timestamp
    order by f.event_timestamp desc limit 1
) f on true
order by s.row_order
""".format(schema)
with psycopg.connect(dsn) as connection:
    cursor = connection.execute(query)
    names = [column.name for column in cursor.description]
    rows = cursor.fetchall()
columns = list(zip(*rows)) if rows else [[] for _ in names]
pq.write_table(pa.table({name: list(values) for name, values in zip(names, columns)}), output)
'''


def fs_query(unique_by_test: bool, dsn: str) -> tuple[str, bool]:
    """The query fs writes for the view, planned as fs plans it: the view's index asked of
    the warehouse's catalog first. Also whether it is the lateral join."""
    import psycopg

    view = FeatureView(
        name="features", description="", entity="entity", join_keys=("entity_id",), timestamp="event_timestamp",
        created_at=None, ttl=timedelta(days=7), online=False, owner=None,
        features=tuple(Feature(f, "features", None, "") for f in FEATURES), tags=(),
        relation=Relation(None, SCHEMA, "features"), yaml_path="", sql_path="", rows_unique_by_test=unique_by_test,
    )
    spine = SpineRelation(
        source=exp.to_table(f"{SCHEMA}.spine"), columns=("entity_id", "event_timestamp", "label"),
        timestamp=column("event_timestamp"), row_order=column("row_order"),
    )
    selections = [FeatureSelection(view, view.features)]
    outputs = output_features(spine.columns, selections, full_names=False)
    engine = engine_for_dialect("postgres")
    target = Target(name="bench", adapter="postgres", schema=SCHEMA, credentials=psycopg.conninfo.conninfo_to_dict(dsn))
    with engine.connect(target) as warehouse:
        indexed = probe_view_indexes(selections, None, engine, warehouse, event_time_only=False).indexed
    query = point_in_time_expression(spine, selections, outputs, engine, indexed_views=indexed)
    return render(query, "postgres"), bool(indexed)


def timed(connection, name: str, query: str) -> float:
    with connection.cursor() as cursor:
        cursor.execute(f"drop table if exists {name}")
        started = time.perf_counter()
        cursor.execute(f"create temp table {name} as {query}")
        return time.perf_counter() - started


def same_rows(connection, a: str, b: str) -> bool:
    """The same rows in the same order (CREATE TABLE AS keeps the query's order here)."""
    with connection.cursor() as cursor:
        numbered = "select row_number() over () as n, * from {}"
        cursor.execute(
            f"select count(*) from (({numbered.format(a)}) except all ({numbered.format(b)})) d"
        )
        return cursor.fetchone()[0] == 0


def run_process(command: list[str], env: dict, cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of one process, start-up included."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{command[:4]} failed ({result.returncode}): {result.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def whole_command(dsn: str, repeat: int) -> str:
    """`fs training-set ... -o file.parquet` against the hand-written script, each a process."""
    import psycopg
    import pyarrow.parquet as pq

    parts = psycopg.conninfo.conninfo_to_dict(dsn)
    env = {
        **os.environ,
        "FS_BENCH_PG_HOST": str(parts.get("host", "127.0.0.1")), "FS_BENCH_PG_PORT": str(parts.get("port", 5432)),
        "FS_BENCH_PG_USER": str(parts.get("user", "postgres")), "FS_BENCH_PG_PASSWORD": str(parts.get("password", "")),
        "FS_BENCH_PG_DBNAME": str(parts.get("dbname", "test")), "FS_BENCH_PG_SCHEMA": SCHEMA,
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # both run from compiled bytecode, as installed code does
    out = HERE / "data" / f"pg_whole_{os.getpid()}"
    out.mkdir(parents=True, exist_ok=True)
    where = ["--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT)]
    build = [sys.executable, "-m", "featurestore.cli", "build", *where]
    fs = [sys.executable, "-m", "featurestore.cli", "training-set", "--spine", "spine", "--features", "features:*",
          "-o", str(out / "fs.parquet"), *where]
    by_hand = [sys.executable, "-c", HAND_WRITTEN, dsn, SCHEMA, str(out / "hand_written.parquet")]
    cases = {"hand-written: psycopg + `LEFT JOIN LATERAL` + pyarrow parquet, a process": by_hand,
             "`fs training-set --spine spine --features features:* -o file.parquet`": fs}
    try:
        print("dbt build of benchmarks/postgres_project ...", file=sys.stderr)
        run_process(build, env, PROJECT)
        for command in cases.values():  # warm: bytecode compiled, the tables in the server's cache
            run_process(command, env, PROJECT)
        walls: dict[str, list[float]] = {label: [] for label in cases}
        cpus: dict[str, list[float]] = {label: [] for label in cases}
        for _ in range(repeat):
            for label, command in cases.items():
                wall, cpu = run_process(command, env, PROJECT)
                walls[label].append(wall)
                cpus[label].append(cpu)
        fs_rows, hand_rows = (pq.read_table(out / name).to_pylist() for name in ("fs.parquet", "hand_written.parquet"))
        if fs_rows != hand_rows or len(fs_rows) != 100_000:
            raise SystemExit("fs and the hand-written script wrote different rows")
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f"drop schema if exists {SCHEMA} cascade")
        for file in out.iterdir():
            file.unlink()
        out.rmdir()
    hand, ours = cases
    base_wall, base_cpu = statistics.median(walls[hand]), statistics.median(cpus[hand])
    lines = [
        f"| case | wall s: median of {repeat} | CPU s of the process: median | ratio: wall, CPU |",
        "| --- | --- | --- | --- |",
    ]
    for label in cases:
        wall, cpu = statistics.median(walls[label]), statistics.median(cpus[label])
        ratio = f"**{wall / base_wall:.2f}x**, {cpu / base_cpu:.2f}x" if label == ours else ""
        lines.append(f"| {label} | {wall:.2f} | {cpu:.2f} | {ratio} |")
    return (
        f"{WHOLE_SECTION}\n\n`FS_BENCH_PG_DSN=... python benchmarks/bench_training_set_postgres.py --whole-command "
        f"--repeat {repeat}`, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"1-minute load average {os.getloadavg()[0]:.1f} at the end. 100,000 spine rows x 1 view of about 540,000 rows "
        "(6,000 entities x 100 days, 3 features, ttl 7 days, the uniqueness test and the index on "
        "(entity_id, event_timestamp), so fs takes the lateral join), built by dbt; each case a process of "
        "its own, start-up included, taking turns; both files hold the same rows in the same order. "
        "fs also writes the training set's record (the spine's and the output's content hashes).\n\n"
        + "\n".join(lines) + "\n"
    )


def main() -> None:
    import psycopg

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--whole-command", action="store_true", help="fs training-set to a file against a hand-written script")
    parser.add_argument("--write-docs", action="store_true", help="with --whole-command: write its section of docs/benchmarks.md")
    args = parser.parse_args()
    dsn = os.environ.get("FS_BENCH_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=test")
    if args.whole_command:
        text = whole_command(dsn, args.repeat)
        print(text)
        if args.write_docs:
            from bench_sync import write_section

            write_section(text, WHOLE_SECTION)
        return

    hand_written = "hand-written `LEFT JOIN LATERAL ... LIMIT 1`"
    fs_cases = {"`fs`, the view with the uniqueness test": True, "`fs`, the view without it": False}
    with psycopg.connect(dsn, autocommit=True) as connection:
        try:
            connection.execute(SETUP)
            medians: dict[tuple[str, bool], float] = {}
            forms: dict[tuple[str, bool], str] = {}
            for indexed in (False, True):
                if indexed:
                    connection.execute(f"create index on {SCHEMA}.features (entity_id, event_timestamp)")
                    connection.execute(f"analyze {SCHEMA}.features")
                cases = {hand_written: LATERAL} if indexed else {}
                for label, unique in fs_cases.items():
                    cases[label], lateral = fs_query(unique, dsn)
                    forms[(label, indexed)] = "lateral" if lateral else "portable"
                runs = list(enumerate(cases))
                times: dict[str, list[float]] = {label: [] for _, label in runs}
                for _ in range(args.repeat):
                    for n, label in runs:
                        times[label].append(timed(connection, f"out_{n}_{indexed:d}", cases[label]))
                for n, label in runs:
                    medians[(label, indexed)] = statistics.median(times[label])
                reference = "out_0_1" if indexed else "out_0_0"
                for n, label in runs[1:]:
                    if not same_rows(connection, reference, f"out_{n}_{indexed:d}"):
                        raise SystemExit(f"{label} and {runs[0][1]} disagree")
            if not same_rows(connection, "out_0_1", "out_0_0"):
                raise SystemExit("fs without the index and the hand-written query disagree")
            base = medians[(hand_written, True)]
            rows = [
                f"| case | without the index: s, median of {args.repeat} | with it: s | ratio to the lateral join (with the index) |",
                "| --- | --- | --- | --- |",
            ]
            for label in [hand_written, *fs_cases]:
                plain = medians.get((label, False))
                without = f"{plain:.2f} ({plain / base:.2f}x, {forms[(label, False)]})" if plain is not None else "not run"
                form = f", {forms[(label, True)]}" if (label, True) in forms else ""
                rows.append(f"| {label} | {without} | {medians[(label, True)]:.2f}{form} | **{medians[(label, True)] / base:.2f}** |")
            print("\n".join(rows))
        finally:
            connection.execute(f"drop schema if exists {SCHEMA} cascade")


if __name__ == "__main__":
    main()
