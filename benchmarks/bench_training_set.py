"""Training-set benchmark: `fs training-set` as a whole process (parquet in, parquet out)
against hand-written DuckDB `ASOF LEFT JOIN`s writing the same parquet, in the same run.

    python benchmarks/bench_training_set.py [--repeat 5] [--memory-limit 2GB] [--write-docs]
    python benchmarks/bench_training_set.py --ten-x --repeat 2 [--write-docs]
    python benchmarks/bench_training_set.py --many-views --repeat 3 [--write-docs]
    python benchmarks/bench_training_set.py --many-views --spill --repeat 2
    python benchmarks/bench_training_set.py --partial --repeat 5 [--spines-only] [--query-alone] [--baseline CHECKOUT] [--write-docs]

Reference shape (the contract): 100k entities x 100 days of daily feature rows (about 9M
rows per view) and a 1M-row spine. Every case runs as a fresh process, the cases in turn,
`--repeat` times; the medians of wall and CPU time (user + system of the process) and the
largest resident set are reported, with ratios to the hand-written query for the same number
of views: one `ASOF LEFT JOIN` for one view, the chain of five for five. fs reads the views
`view_N` (dbt tests them for one row per key and timestamp) and `untested_N` (the same files
without the test, so fs breaks ties). All outputs are checked identical to the references'
(the spine's order, the ttl applied). Last, the size of the query fs writes for 50 views.
`--ten-x` runs the 10x shape instead (1M entities, a 10M-row spine, one view), whose files
take a few minutes to generate the first time. `--many-views` runs 5 and 50 small views
(10k entities x 100 days each, a 100k-row spine), fs against the hand-written chain of as
many ASOF joins, to compare the time per view. `--partial` runs spines over part of the view (the last 10% of
the time range, over the view as generated (sorted by entity) and over the same rows sorted by
time; 1% of the entities; one row, the fixed cost) against the same hand-written `ASOF LEFT
JOIN` over the whole view: what bounded scans save (docs/training-sets.md).

Both sides run under the same DuckDB `memory_limit` (`--memory-limit`, default the
benchmark profile's 2GB; `default` for DuckDB's own, 80% of RAM): fs takes it from the
profile, the hand-written queries `SET` it.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from reference_data import DATA, START, feature_file, feature_file_by_time, spine_file, spine_subset  # noqa: E402

PROJECT = HERE / "training_project"
DOCS = HERE.parent / "docs" / "benchmarks.md"
SECTION = "## Training sets (issues 3 and 11)"
SECTION_10X = "## Training sets, 10x the data (issue 11)"
SECTION_MANY = "## Training sets, 50 views (issue 11)"
SECTION_PARTIAL = "## Training sets over part of a view: bounded scans (issue 24)"
FS = [sys.executable, "-m", "featurestore.cli"]
FEATURES = ("spend", "clicks", "active")

# The hand-written query that writes the same parquet as fs: the spine's rows in its order,
# each with every view's latest row at or before it, nulled past the views' 7-day ttl. For
# several views, the obvious chain of ASOF LEFT JOINs in one query.
REFERENCE = """
import duckdb
duckdb.execute("set memory_limit = '{memory_limit}'")
duckdb.execute('''
    copy (
        select s.entity_id, s.event_timestamp, s.label, {columns}
        from read_parquet('{spine}', file_row_number = true) s
        {joins}
        order by s.file_row_number
    ) to '{out}' (format parquet)
''')
"""


# The fair reference for a view without a uniqueness test (the decision on ties, issue 24):
# each view deduplicated per (keys, timestamp) the way fs breaks ties (the greatest features,
# in declared order, nulls last) before the same ASOF LEFT JOIN.
DEDUPLICATED = (
    "(select * from read_parquet('{path}') qualify row_number() over (partition by entity_id, event_timestamp "
    "order by {order}) = 1)"
)


def reference_script(features: list[Path], spine: Path, out: Path, memory_limit: str, deduplicated: bool = False) -> str:
    columns = ", ".join(
        f"case when f{v}.event_timestamp >= s.event_timestamp - interval 7 day then f{v}.v{v}_{name} end as v{v}_{name}"
        for v in range(len(features))
        for name in FEATURES
    )
    def source(v: int, path: Path) -> str:
        order = ", ".join(f"v{v}_{name} desc nulls last" for name in FEATURES)
        return DEDUPLICATED.format(path=path, order=order) if deduplicated else f"read_parquet('{path}')"

    joins = " ".join(
        f"asof left join {source(v, path)} f{v} "
        f"on s.entity_id = f{v}.entity_id and s.event_timestamp >= f{v}.event_timestamp"
        for v, path in enumerate(features)
    )
    return REFERENCE.format(columns=columns, joins=joins, spine=spine, out=out, memory_limit=memory_limit)


def measure(args: list[str], env: dict) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak resident MiB of `args`, run under a
    fresh Python so that the resource figures are that one process's alone."""
    probe = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "e = time.perf_counter() - t; u = resource.getrusage(resource.RUSAGE_CHILDREN); "
        "sys.exit(r.stderr) if r.returncode else "
        "print(e, u.ru_utime + u.ru_stime, u.ru_maxrss / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", probe, *args], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(args[:4])} ... failed:\n{out.stderr}")
    wall, cpu, mib = out.stdout.split()
    return float(wall), float(cpu), float(mib)


def same_file_contents(a: Path, b: Path) -> bool:
    """The same rows in the same order."""
    import pyarrow.parquet as pq

    return pq.read_table(a).equals(pq.read_table(b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each case, in turn")
    parser.add_argument("--ten-x", action="store_true", help="only the 10x case: 1M entities, a 10M-row spine, one view")
    parser.add_argument("--many-views", action="store_true", help="only 5 and 50 small views: the time per view")
    parser.add_argument("--partial", action="store_true", help="only spines over 10% of the time range and 1% of the entities")
    parser.add_argument("--baseline", type=Path, help="with --partial: a checkout of fs to compare with, run on every spine")
    parser.add_argument("--spill", action="store_true", help="with --many-views: fs's query alone, per view, spilling or not")
    parser.add_argument("--spines-only", action="store_true", help="with --partial: leave out the views without the uniqueness test")
    parser.add_argument(
        "--query-alone", action="store_true",
        help="with --partial: also fs's query for each partial spine run by a bare script (what fs adds to its query), "
        "and the rows any exact plan must read, summed by one (the floor under any plan)",
    )
    parser.add_argument("--memory-limit", default="2GB", help="DuckDB memory_limit for both sides ('default': DuckDB's own)")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    limit = duckdb_default_memory_limit() if args.memory_limit == "default" else args.memory_limit
    env = {
        **os.environ, "FS_BENCH_DATA": str(DATA), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "FS_BENCH_MEMORY_LIMIT": limit,
    }
    env.pop("FS_DUCKDB_PATH", None)
    # A user's installed fs runs from compiled bytecode; without it every run compiles fs's
    # modules again (0.25 s here), which is not the feature store's cost.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if args.ten_x:
        text = ten_x(args.repeat, env, limit)
    elif args.partial:
        text = partial_spines(args.repeat, env, limit, args.baseline, args.spines_only, args.query_alone)
    elif args.many_views and args.spill:
        text = many_views_spill(args.repeat, env, limit)
        args.write_docs = False  # a table for the notes of issue 24's section, not a section
    elif args.many_views:
        text = many_views(args.repeat, env, limit)
    else:
        text = reference_shape(args.repeat, env, limit)
    print(text)
    if args.write_docs:
        write_section(text)


def duckdb_default_memory_limit() -> str:
    """DuckDB's own memory_limit on this machine (80% of its memory), as a setting."""
    import duckdb

    return duckdb.execute("select current_setting('memory_limit')").fetchone()[0].replace(" ", "")


def memory_words(limit: str) -> str:
    return f"both under DuckDB `memory_limit = {limit}` (fs from the profile, the hand-written queries by `SET`)"


def reference_shape(repeat: int, env: dict, limit: str) -> str:
    """1 and 5 views of the reference shape, with and without the uniqueness test."""
    features = [feature_file(view) for view in range(5)]
    spine = spine_file()
    build_views(env)

    def fs_command(prefix: str, views: int) -> list[str]:
        return fs_training_set(spine, [f"{prefix}_{v}" for v in range(views)], DATA / f"out_fs_{prefix}_{views}.parquet")

    def reference(views: int) -> list[str]:
        return [sys.executable, "-c", reference_script(features[:views], spine, DATA / f"out_reference_{views}.parquet", limit)]

    # (label, views, command); the first case of each number of views is its reference.
    cases = [
        ("hand-written `ASOF LEFT JOIN`, 1 view", 1, reference(1)),
        ("`fs training-set`, 1 view with the uniqueness test", 1, fs_command("view", 1)),
        ("`fs training-set`, 1 view without it", 1, fs_command("untested", 1)),
        ("hand-written chain of 5 `ASOF LEFT JOIN`s, 5 views", 5, reference(5)),
        ("`fs training-set`, 5 views with the uniqueness test", 5, fs_command("view", 5)),
        ("`fs training-set`, 5 views without it", 5, fs_command("untested", 5)),
    ]
    table = compare(cases, repeat, env)
    for views in (1, 5):
        for prefix in ("view", "untested"):
            if not same_file_contents(DATA / f"out_reference_{views}.parquet", DATA / f"out_fs_{prefix}_{views}.parquet"):
                raise SystemExit(f"fs ({prefix}_N, {views} views) and the hand-written query disagree")
    fifty = query_size(50)
    return (
        f"{SECTION}\n\n"
        f"`python benchmarks/bench_training_set.py` on {time.strftime('%Y-%m-%d')} ({_machine()}).\n"
        f"Spine: 1,000,000 rows; each view: {_rows(features[0]):,} rows (100,000 entities x 100 days, 3 features), "
        "parquet files in, parquet file out; all outputs keep the spine's order and apply the views' 7-day ttl, "
        f"and fs's are checked identical to the hand-written ones; {memory_words(limit)}.\n\n"
        f"{table}\n\n"
        f"The query fs writes for 50 views of this shape without the uniqueness test: {fifty['duckdb']:,} bytes "
        f"for DuckDB, {fifty['postgres']:,} bytes in the portable form (PostgreSQL); one CTE per view (two in "
        "the portable form), whose nesting does not grow with the number of views.\n"
    )


def ten_x(repeat: int, env: dict, limit: str) -> str:
    """One view of 1M entities x 100 days (about 90M rows) and a 10M-row spine."""
    features = feature_file(0, entities=1_000_000)
    spine = spine_file(rows=10_000_000, entities=1_000_000)
    env = {**env, "FS_BENCH_10X_FILE": features.name}
    build_views(env)
    cases = [
        ("hand-written `ASOF LEFT JOIN`, 10x", 1, [sys.executable, "-c", reference_script([features], spine, DATA / "out_reference_10x.parquet", limit)]),
        ("`fs training-set`, 10x, view with the uniqueness test", 1, fs_training_set(spine, ["view_10x"], DATA / "out_fs_view_10x.parquet")),
        ("`fs training-set`, 10x, view without it", 1, fs_training_set(spine, ["untested_10x"], DATA / "out_fs_untested_10x.parquet")),
    ]
    table = compare(cases, repeat, env)
    for prefix in ("view", "untested"):
        if not same_file_contents(DATA / "out_reference_10x.parquet", DATA / f"out_fs_{prefix}_10x.parquet"):
            raise SystemExit(f"fs ({prefix}_10x) and the hand-written query disagree")
    return (
        f"{SECTION_10X}\n\n"
        f"`python benchmarks/bench_training_set.py --ten-x --repeat {repeat}` on {time.strftime('%Y-%m-%d')} ({_machine()}).\n"
        f"Spine: 10,000,000 rows; the view: {_rows(features):,} rows (1,000,000 entities x 100 days, 3 features); "
        f"otherwise as above, {memory_words(limit)}.\n\n"
        f"{table}\n"
    )


LAST_TENTH = f"event_timestamp >= timestamp '{START}' + interval 90 day"
PARTIAL_SPINES = {
    # name: (what the spine covers, the rows of the reference spine it keeps, the view, its file)
    "last_tenth": ("the last 10% of the time range", LAST_TENTH, "view_0", lambda: feature_file(0)),
    "hundredth": ("1% of the entities", "entity_id % 100 = 0", "view_0", lambda: feature_file(0)),
    # The same spine, the view's rows sorted by time (a date-partitioned or incrementally
    # built table): DuckDB's row-group statistics can skip by time.
    "last_tenth_by_time": (
        "the last 10% of the time range, view sorted by time", LAST_TENTH, "by_time_0", lambda: feature_file_by_time(0)
    ),
    # One spine row: what a training set costs whatever its size (the process, the imports,
    # the manifest, the planning), against the same for the hand-written query.
    "one_row": ("one row (the fixed cost)", "file_row_number = 0", "view_0", lambda: feature_file(0)),
}


def partial_spines(
    repeat: int, env: dict, limit: str, baseline: Path | None, spines_only: bool = False, query_alone: bool = False
) -> str:
    """Issue 24's cases. One view (with the uniqueness test) under spines over part of it: fs,
    which bounds its scan of the view, against the hand-written ASOF LEFT JOIN over the whole
    view. The whole spine: fs against fs before (`baseline`, a checkout of it), where the
    bounds remove nothing; with `baseline`, each partial spine runs it too (before and after
    in one run). Views without the uniqueness test (unless `spines_only`): fs against the
    deduplicating reference (DEDUPLICATED), 1 and 5 views. With `query_alone`, each partial
    spine also runs fs's own query in a bare script (QUERY_ALONE): the least a process running
    that query costs, so the rest of fs's figure is what fs adds to it; and a bare script that
    reads the rows no exact plan can skip (SCAN_FLOOR): the floor under fs's query and any
    other."""
    features = [feature_file(view) for view in range(5)]
    whole = spine_file()
    build_views(env)
    cases, spines = [], {}
    before: list[str] = []
    if baseline is not None:
        # The entry `fs` runs (featurestore.cli:main, which pauses the garbage collector while
        # it starts), as for fs here.
        before = [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(baseline.resolve())!r}); "
                  "from featurestore.cli import main; sys.argv[0] = 'fs'; main()"]
        command = fs_training_set(whole, ["view_0"], DATA / "out_fs_baseline.parquet")
        cases += [
            ("`fs training-set` before, the whole spine", 10, [*before, *command[len(FS):]]),
            ("`fs training-set`, the whole spine", 10, fs_training_set(whole, ["view_0"], DATA / "out_fs_whole.parquet")),
        ]
    for views in () if spines_only else (1, 5):
        reference = reference_script(features[:views], whole, DATA / f"out_deduplicated_{views}.parquet", limit, deduplicated=True)
        cases += [
            (f"hand-written deduplicating `ASOF LEFT JOIN`, {views} view{'s' if views > 1 else ''}", 20 + views,
             [sys.executable, "-c", reference]),
            (f"`fs training-set`, {views} view{'s' if views > 1 else ''} without the uniqueness test", 20 + views,
             fs_training_set(whole, [f"untested_{v}" for v in range(views)], DATA / f"out_fs_untested_whole_{views}.parquet")),
        ]
    pairs = []
    for group, (name, (covers, where, view, path)) in enumerate(PARTIAL_SPINES.items(), start=1):
        spine = spines[name] = spine_subset(name.removesuffix("_by_time"), where)
        reference = reference_script([path()], spine, DATA / f"out_reference_{name}.parquet", limit)
        cases.append((f"hand-written `ASOF LEFT JOIN` over the whole view, spine over {covers}", group, [sys.executable, "-c", reference]))
        if baseline is not None:
            command = fs_training_set(spine, [view], DATA / f"out_fs_before_{name}.parquet")
            cases.append((f"`fs training-set` before, spine over {covers}", group, [*before, *command[len(FS):]]))
            pairs.append((f"out_reference_{name}", f"out_fs_before_{name}"))
        cases.append((f"`fs training-set`, spine over {covers}", group, fs_training_set(spine, [view], DATA / f"out_fs_{name}.parquet")))
        pairs.append((f"out_reference_{name}", f"out_fs_{name}"))
        if query_alone:
            script = QUERY_ALONE.format(
                database=str(DATA / "training_bench.duckdb"), memory_limit=limit, out=str(DATA / f"out_alone_{name}.parquet"),
                sql=fs_query(spine, view, env),
            )
            cases.append((f"fs's query alone in a script, spine over {covers}", group, [sys.executable, "-c", script]))
            pairs.append((f"out_reference_{name}", f"out_alone_{name}"))
            floor = SCAN_FLOOR.format(
                database=str(DATA / "training_bench.duckdb"), memory_limit=limit, view=view, spine=str(spine),
                keys=f"and entity_id in (select entity_id from read_parquet('{spine}'))" if name in FEW_KEYS else "",
            )
            cases.append((f"the rows any exact plan reads, summed in a script, spine over {covers}", group, [sys.executable, "-c", floor]))
    table = compare(cases, repeat, env)
    pairs += [] if spines_only else [(f"out_deduplicated_{views}", f"out_fs_untested_whole_{views}") for views in (1, 5)]
    pairs += [("out_fs_baseline", "out_fs_whole")] if baseline is not None else []
    for reference, fs in pairs:
        if not same_file_contents(DATA / f"{reference}.parquet", DATA / f"{fs}.parquet"):
            raise SystemExit(f"{fs} and {reference} disagree")
    sizes = ", ".join(f"{PARTIAL_SPINES[name][0]}: {_rows(spines[name]):,} rows" for name in ("last_tenth", "hundredth"))
    flags = f"{' --spines-only' if spines_only else ''}{' --query-alone' if query_alone else ''}{' --baseline <checkout>' if baseline else ''}"
    return (
        f"{SECTION_PARTIAL}\n\n"
        f"`python benchmarks/bench_training_set.py --partial --repeat {repeat}{flags}` on {time.strftime('%Y-%m-%d')} ({_machine()}).\n"
        f"Each view: {_rows(features[0]):,} rows (100,000 entities x 100 days, 3 features, ttl 7 days); `view_N` with the "
        "uniqueness test, `untested_N` the same files without it, `by_time_0` view_0's rows sorted by time. The partial "
        f"spines are the rows of the 1,000,000-row spine over part of it ({sizes}); outputs checked identical; "
        f"{memory_words(limit)}. Each ratio is to the first case of its group: the hand-written query over the whole view; "
        "fs before (`--baseline`); the deduplicating reference, `ASOF LEFT JOIN` over each view deduplicated per (keys, "
        "timestamp) with `QUALIFY row_number()` (the decision on ties, docs/training-sets.md).\n\n"
        f"{table}\n"
    )


# fs's query (fs_query) as a hand-written script would run it: the interpreter, `import
# duckdb`, a connection to the dbt database with fs's session settings, the query into the
# same parquet file. What fs costs beyond this is what fs adds to its query.
QUERY_ALONE = """
import duckdb
con = duckdb.connect({database!r}, read_only=True, config={{"memory_limit": {memory_limit!r}}})
con.execute("set TimeZone = 'UTC'")
con.execute("set preserve_insertion_order = false")
con.execute({sql!r}.join(["copy (", ") to '{out}' (format parquet)"]))
"""


# The floor under any exact plan (with `--query-alone`): the same bare script, reading only
# the view's rows no plan can skip (within the spine's time range and the 7-day ttl and,
# where the spine holds few keys, of its keys) and summing their columns: no join, no
# output. On the file as generated (sorted by entity) no row group can be skipped by time,
# so this is most of the file's decompression, which fs's query and the hand-written one
# both pay.
SCAN_FLOOR = '''
import duckdb
con = duckdb.connect({database!r}, read_only=True, config={{"memory_limit": {memory_limit!r}}})
con.execute("set TimeZone = 'UTC'")
con.execute("""
    select count(*), sum(entity_id), sum(v0_spend), sum(v0_clicks), count_if(v0_active)
    from {view}
    where event_timestamp >= (select min(event_timestamp) - interval 7 day from read_parquet('{spine}'))
      and event_timestamp <= (select max(event_timestamp) from read_parquet('{spine}')) {keys}
""").fetchall()
'''
FEW_KEYS = ("hundredth", "one_row")


def fs_query(spine: Path, view: str, env: dict) -> str:
    """The query fs runs for `view`'s features over `spine`, planned as `fs training-set`
    plans it (bounded scans included)."""
    from featurestore.offline.request import TrainingSetRequest
    from featurestore.offline.training_set import prepare_training_set
    from featurestore.store import FeatureStore

    os.environ.update(FS_BENCH_DATA=env["FS_BENCH_DATA"], FS_BENCH_MEMORY_LIMIT=env["FS_BENCH_MEMORY_LIMIT"])
    store = FeatureStore(PROJECT)
    with store.warehouse() as warehouse:
        plan = prepare_training_set(TrainingSetRequest.of(spine, [f"{view}:*"]), store.catalog(), warehouse)
    assert plan.staged is None, "one view is never staged"
    return plan.sql()


MANY_VIEWS = 50
SMALL_ENTITIES = 10_000


def many_views_built(env: dict) -> tuple[list[Path], Path, Path]:
    """The small views' files, their spine, and their dbt project, its views built."""
    features = [feature_file(view, entities=SMALL_ENTITIES) for view in range(MANY_VIEWS)]
    spine = spine_file(rows=100_000, entities=SMALL_ENTITIES)
    project = many_views_project(features)
    subprocess.run(
        [sys.executable, "-m", "dbt.cli.main", "run", "--project-dir", str(project), "--profiles-dir", str(project)],
        env=env, check=True, capture_output=True, cwd=project,
    )
    return features, spine, project


def many_views(repeat: int, env: dict, limit: str) -> str:
    """5 and 50 small views (10k entities x 100 days, no uniqueness test) over a 100k-row
    spine: the time per view, fs against the hand-written chain of as many ASOF joins."""
    features, spine, project = many_views_built(env)
    cases = []
    for views in (5, MANY_VIEWS):
        reference = reference_script(features[:views], spine, DATA / f"out_reference_many_{views}.parquet", limit)
        names = ",".join(f"many_{v}:*" for v in range(views))
        fs = [*FS, "training-set", "--project-dir", str(project), "--spine", str(spine), "--features", names,
              "-o", str(DATA / f"out_fs_many_{views}.parquet")]
        cases += [
            (f"hand-written chain of {views} `ASOF LEFT JOIN`s", views, [sys.executable, "-c", reference]),
            (f"`fs training-set`, {views} views without the uniqueness test", views, fs),
        ]
    table = compare(cases, repeat, env, per_view=True)
    for views in (5, MANY_VIEWS):
        if not same_file_contents(DATA / f"out_reference_many_{views}.parquet", DATA / f"out_fs_many_{views}.parquet"):
            raise SystemExit(f"fs and the hand-written query disagree ({views} views)")
    sizes = query_size(MANY_VIEWS)
    return (
        f"{SECTION_MANY}\n\n"
        f"`python benchmarks/bench_training_set.py --many-views --repeat {repeat}` on {time.strftime('%Y-%m-%d')} ({_machine()}).\n"
        f"Spine: 100,000 rows; each view: {_rows(features[0]):,} rows ({SMALL_ENTITIES:,} entities x 100 days, 3 features), "
        f"none with the uniqueness test; {memory_words(limit)}. Outputs checked identical. The query fs writes for "
        f"{MANY_VIEWS} views: {sizes['duckdb']:,} bytes for DuckDB, {sizes['postgres']:,} in the portable form.\n\n"
        f"{table}\n"
    )


SPILL_PROBE = """
import resource, sys, duckdb
*stages, query = sys.stdin.read().split(";\\n")
limit = sys.argv[2]
con = duckdb.connect(sys.argv[1], read_only=True, config={} if limit == "default" else {"memory_limit": limit})
con.execute("set TimeZone = 'UTC'")
con.execute("set preserve_insertion_order = false")
con.execute("set enable_progress_bar = false")
if sys.argv[3] == "no-spill":
    con.execute("set max_temp_directory_size = '0KB'")  # a query that must spill fails
try:
    for statement in stages:  # fs's temporary tables, where it builds the training set in stages
        con.execute(statement)
    con.execute(f"copy ({query}) to '{sys.argv[4]}' (format parquet)")
    spilled = "no" if sys.argv[3] == "no-spill" else "?"
except duckdb.OutOfMemoryException:
    spilled = "yes"
u = resource.getrusage(resource.RUSAGE_SELF)
print(u.ru_utime + u.ru_stime, u.ru_maxrss / 1024, spilled)
"""


def many_views_spill(repeat: int, env: dict, limit: str) -> str:
    """The statements fs runs for 5, 10, 20 and 50 of the small views (one query, or its
    stages and the final query where the views would not fit the memory limit), alone in a
    fresh DuckDB process: their CPU per view under `limit` and under DuckDB's default limit,
    and whether they spill (run again with spilling forbidden: a query that must spill fails)."""
    _, spine, project = many_views_built(env)
    from featurestore.offline.request import TrainingSetRequest
    from featurestore.offline.training_set import prepare_training_set
    from featurestore.sql.expressions import render
    from featurestore.store import FeatureStore

    def statements(views: int, memory: str) -> tuple[str, int]:
        """fs's statements for `views` views under `memory`, joined by ';\\n', and its stages."""
        os.environ.update(FS_BENCH_DATA=env["FS_BENCH_DATA"], FS_BENCH_MEMORY_LIMIT=duckdb_default_memory_limit() if memory == "default" else memory)
        store = FeatureStore(project)  # the profile reads the limit
        request = TrainingSetRequest.of(spine, [f"many_{v}:*" for v in range(views)])
        with store.warehouse() as warehouse:
            plan = prepare_training_set(request, store.catalog(), warehouse)
        if plan.staged is None:
            return plan.sql(), 1
        texts = [render(statement, "duckdb") for _, statement in plan.staged.tables]
        return ";\n".join([*texts, render(plan.staged.final, "duckdb")]), len(texts) - 1

    database = DATA / "training_bench.duckdb"
    rows = ["| views | memory_limit | stages | spills | CPU s: median | CPU s per view | per view / 5 views' | peak memory |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    base: dict[str, float] = {}
    for views in (5, 10, 20, MANY_VIEWS):
        for memory in (limit, "default"):
            sql, stages = statements(views, memory)
            def probe(mode: str) -> tuple[float, float, str]:
                out = subprocess.run(
                    [sys.executable, "-c", SPILL_PROBE, str(database), memory, mode, str(DATA / "out_spill.parquet")],
                    input=sql, env=env, capture_output=True, text=True, check=True,
                )
                cpu, mib, spilled = out.stdout.split()[-3:]
                return float(cpu), float(mib), spilled
            first = probe("no-spill")  # a run like the others where it need not spill
            spills = first[2]
            runs = [first] if spills == "no" else []
            runs += [probe("spill") for _ in range(max(1, repeat - len(runs)))]
            cpu = statistics.median(r[0] for r in runs)
            base.setdefault(memory, cpu / views)
            rows.append(f"| {views} | {memory} | {stages} | {spills} | {cpu:.2f} | {cpu / views:.3f} | {cpu / views / base[memory]:.2f} | "
                        f"{max(r[1] for r in runs):,.0f} MiB |")
    return (
        f"`python benchmarks/bench_training_set.py --many-views --spill --repeat {repeat}` on {time.strftime('%Y-%m-%d')} "
        f"({_machine()}): the statements fs runs (one query, or its stages and the final query), alone in a fresh DuckDB "
        "process; CPU of the whole process.\n\n" + "\n".join(rows) + "\n"
    )


def many_views_project(features: list[Path]) -> Path:
    """A dbt project (in the data folder, rewritten each run) whose model many_N is a view over
    features[N], declaring no uniqueness test."""
    project = DATA / "many_views_project"
    models = project / "models"
    models.mkdir(parents=True, exist_ok=True)
    (project / "profiles.yml").write_text((PROJECT / "profiles.yml").read_text())
    (project / "dbt_project.yml").write_text(
        "name: training_bench\nversion: '1.0.0'\nconfig-version: 2\nprofile: training_bench\n"
        "model-paths: [models]\n"
        "models:\n  training_bench:\n    +materialized: view\n"
    )
    entries = []
    for view, path in enumerate(features):
        (models / f"many_{view}.sql").write_text(f"select * from read_parquet('{path}')\n")
        columns = "\n".join(
            f"      - {{name: {name}, data_type: {kind}}}"
            for name, kind in [("entity_id", "bigint"), ("event_timestamp", "timestamp"), (f"v{view}_spend", "double"),
                               (f"v{view}_clicks", "bigint"), (f"v{view}_active", "boolean")]
        )
        entries.append(
            f"  - name: many_{view}\n    config:\n      meta:\n        feature_store: "
            "{entity: entity, join_keys: [entity_id], timestamp: event_timestamp, ttl: 7d}\n"
            f"    columns:\n{columns}"
        )
    (models / "views.yml").write_text("version: 2\n\nmodels:\n" + "\n".join(entries) + "\n")
    return project


def build_views(env: dict) -> None:
    """The views are DuckDB views over the parquet files: dbt run makes them in a second
    (after dbt deps links the feature store's dbt package, whose tests the views declare).
    DuckDB reads a view's file when it creates the view: by_time_0's is made first."""
    feature_file_by_time(0)
    for command in ("deps", "run"):
        subprocess.run(
            [sys.executable, "-m", "dbt.cli.main", command, "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT)],
            env=env, check=True, capture_output=True, cwd=PROJECT,
        )


def fs_training_set(spine: Path, views: list[str], out: Path) -> list[str]:
    names = ",".join(f"{view}:*" for view in views)
    return [*FS, "training-set", "--project-dir", str(PROJECT), "--spine", str(spine), "--features", names, "-o", str(out)]


def compare(cases: list[tuple[str, int, list[str]]], repeat: int, env: dict, per_view: bool = False) -> str:
    """Run the cases in turn `repeat` times (after one warm-up of the first two: the file cache
    and dbt's manifest) and tabulate them; each number of views is compared with its first case
    (`per_view`: a column of CPU seconds per view too)."""
    measure(cases[0][2], env)
    measure(cases[1][2], env)
    timings: dict[str, list[tuple[float, float, float]]] = {label: [] for label, _, _ in cases}
    for _ in range(repeat):
        for label, _, command in cases:
            timings[label].append(measure(command, env))
    extra = " CPU s per view |" if per_view else ""
    rows = [
        f"| case | wall s: median of {repeat} | CPU s: median | CPU s: best | ratio to the first of its group: "
        f"wall / CPU (medians), CPU (bests) | peak memory |{extra}",
        "| --- | --- | --- | --- | --- | --- |" + (" --- |" if per_view else ""),
    ]
    base: dict[int, tuple[float, float, float]] = {}
    for label, views, _ in cases:
        wall = statistics.median(t[0] for t in timings[label])
        cpu = statistics.median(t[1] for t in timings[label])
        best = min(t[1] for t in timings[label])
        mib = max(t[2] for t in timings[label])
        base.setdefault(views, (wall, cpu, best))
        ratio = f"{wall / base[views][0]:.2f} / **{cpu / base[views][1]:.2f}**, {best / base[views][2]:.2f}"
        rows.append(
            f"| {label} | {wall:.2f} | {cpu:.2f} | {best:.2f} | {ratio} | {mib:,.0f} MiB |" + (f" {cpu / views:.3f} |" if per_view else "")
        )
    return "\n".join(rows)


def _machine() -> str:
    import duckdb

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, DuckDB {duckdb.__version__}"


def query_size(views: int) -> dict[str, int]:
    """Bytes of the training-set query for `views` views of the benchmark's shape without the
    uniqueness test, for DuckDB and PostgreSQL: built as fs builds it, no warehouse needed."""
    from sqlglot import exp

    from featurestore.catalog import Feature, FeatureSelection, FeatureView, Relation
    from featurestore.engines.registry import engine_for_dialect
    from featurestore.sql.expressions import column, render
    from featurestore.sql.pit import SpineRelation, output_features, point_in_time_expression

    selections = []
    for v in range(views):
        name = f"untested_{v}"
        view = FeatureView(
            name=name, description="", entity="entity", join_keys=("entity_id",), timestamp="event_timestamp",
            created_at=None, ttl=timedelta(days=7), online=False, owner=None,
            features=tuple(Feature(f"v{v}_{f}", name, None, "") for f in FEATURES), tags=(),
            relation=Relation(None, "main", name), yaml_path="", sql_path="",
        )
        selections.append(FeatureSelection(view, view.features))
    spine = SpineRelation(
        source=exp.to_table("main.spine"), columns=("entity_id", "event_timestamp", "label"), timestamp=column("event_timestamp")
    )
    outputs = output_features(spine.columns, selections, full_names=False)
    return {
        dialect: len(render(point_in_time_expression(spine, selections, outputs, engine_for_dialect(dialect)), dialect).encode())
        for dialect in ("duckdb", "postgres")
    }


def _rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.read_metadata(path).num_rows


def write_section(text: str) -> None:
    """Replace the section headed by `text`'s first line, or add it at the end."""
    heading = text.splitlines()[0]
    existing = DOCS.read_text() if DOCS.is_file() else "# Benchmarks\n\nEach section is written by its benchmark script.\n"
    start = existing.find(heading)
    if start < 0:
        updated = existing.rstrip() + "\n\n" + text
    else:
        end = existing.find("\n## ", start + len(heading))
        updated = existing[:start] + text.rstrip("\n") + "\n" + (existing[end:] if end >= 0 else "")
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(updated)


if __name__ == "__main__":
    main()
