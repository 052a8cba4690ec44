"""Aggregation views offline (issue 22): fs's training-set query for 4 windows x 3 functions
against hand-written DuckDB queries over the same tables, in one run.

    python benchmarks/bench_windows.py [--events 10000000] [--spine 1000000] [--entities 100000 [1000 ...]]
        [--naive-fraction 0.01 | --naive-fraction 1,0.1 0.02,0.01 ...] [--memory-limit 4GB] [--skip hops windows] [--write-docs]

Events: `--events` rows over `--entities` entities (100k; several values: one shape each, in
turn, fewer entities meaning more events in each window) and 100 days (a value per event);
the spine: `--spine` rows at random entities and times. The features: count, sum and max of
the value over 1h, 24h, 7d and 28d. Methods, each `CREATE TABLE ... AS` its query, in one
DuckDB file (its memory_limit `--memory-limit`), alternating over `--rounds` rounds (median
wall and CPU seconds; CPU is the process's, DuckDB's threads included):

- fs: the query `fs training-set` runs, in the plan it chooses from the same facts
  (offline/scans.py `window_hops_pay`, `window_pairs_pay`): a range join of spine rows to
  their entity's events (sql/window_pairs.py) where an entity has few events, hop partials
  and exact edges (sql/window_hops.py) where windows are dense, RANGE frames over the union of
  spine rows and events (sql/window_frames.py) between; the report says which;
- hand-written frames: the same idea written by hand, as a user would: one union carrying
  the spine's columns, one window per feature, no join back;
- hop partials + exact edges: the other plan measured: per entity and hour, the partial
  count, sum and max; a spine row takes the full hours inside its window from the partials
  (a RANGE frame over them) and the events of its two edge hours by an equi-join on (entity,
  hour), then combines;
- naive range join: spine x events on entity and (t - w, t], grouped by spine row, on
  samples of the spine, `--naive-fraction` (comma-separated fractions, one group per
  `--entities` value or one for all). Its time on the whole spine is extrapolated: with two
  or more fractions, the line through (fraction, seconds) at 1 (a fixed cost, reading every
  event, plus a cost per spine row: the join's pairs, which grow linearly with the sampled
  rows); with one, seconds / fraction (the fixed cost scaled up too). A fraction of 1 runs it
  on the whole spine: that run is the figure, and the other fractions' runs show how far off
  a line through them would have been (tens of percent either way, docs/benchmarks.md);
- fs with 1, 2 and 4 windows (3 functions each): time against the number of windows.

`--skip hops windows` leaves out the hop partials and fs's 1- and 2-window runs.

Every method's result is checked equal to fs's (on the naive sample's rows for the naive join).
`--write-docs` replaces the "## Aggregation views offline (issue 22)" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DOCS = REPO / "docs" / "benchmarks.md"
SECTION = "## Aggregation views offline (issue 22)"

WINDOWS = ["1h", "24h", "7d", "28d"]
FUNCTIONS = ["count", "sum", "max"]
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
WINDOW_US = {"1h": HOUR_US, "24h": DAY_US, "7d": 7 * DAY_US, "28d": 28 * DAY_US}
ENTITIES = 100_000


def make_data(con, events: int, spine: int, entities: int = ENTITIES) -> None:
    con.execute(f"""
        create or replace table events as
        select (hash(i) % {entities})::bigint as entity_id,
               timestamp '2024-01-01' + to_microseconds((hash(i * 7 + 1) % (100 * {DAY_US}))::bigint) as ts,
               round((hash(i * 13 + 5) % 100000) / 100.0, 2)::double as amount
        from range({events}) t(i)""")
    con.execute(f"""
        create or replace table spine as
        select (hash(i + 99) % {entities})::bigint as entity_id,
               timestamp '2024-01-01' + to_microseconds((hash(i * 3 + 17) % (100 * {DAY_US}))::bigint) as event_timestamp,
               (i % 2)::bigint as label
        from range({spine}) t(i)""")
    con.execute("checkpoint")


def fs_sql(con, windows: list[str]) -> str:
    """The SQL fs runs for a training set of the view's features over the spine table, in
    the plan fs chooses from the facts it reads (offline/scans.py: the spine's times, rows
    and distinct keys, and DuckDB's estimate of the events' rows, read here as fs reads them)."""
    from featurestore.catalog import Feature, FeatureView, Relation, WindowedAggregation
    from featurestore.catalog.aggregations import aggregation_dtype, feature_name
    from featurestore.catalog.ttl import parse_ttl
    from featurestore.engines.registry import engine_for_dialect
    from featurestore.sql.expressions import render
    from featurestore.sql.pit import SpineRelation, output_features, point_in_time_expression
    from featurestore.catalog.model import Catalog
    from featurestore.offline.scans import choose_scans
    from sqlglot import exp

    aggregations = tuple(
        WindowedAggregation(feature_name("entity", "amount", f, w), "amount", f, parse_ttl(w), w) for w in windows for f in FUNCTIONS
    )
    view = FeatureView(
        name="events", description="", entity="entity", join_keys=("entity_id",), timestamp="ts", created_at=None, ttl=None,
        online=False, owner=None, features=tuple(Feature(a.name, "events", aggregation_dtype(a.function, "double"), "") for a in aggregations),
        tags=(), relation=Relation(None, "main", "events"), yaml_path="", sql_path="", aggregations=aggregations,
    )
    catalog = Catalog(views={"events": view}, entities={}, services={})
    selections = catalog.resolve(["events:*"])
    spine = SpineRelation(source=exp.to_table("main.spine"), columns=("entity_id", "event_timestamp", "label"), timestamp=exp.column("event_timestamp"))
    engine = engine_for_dialect("duckdb")
    scans = choose_scans([view], spine_facts(con, spine), {view.name: estimated_rows(con, view)})
    query = point_in_time_expression(spine, selections, output_features(spine.columns, selections, False), engine, scans=scans)
    return render(query, "duckdb")


def spine_facts(con, spine):
    """What fs reads of the spine before it plans (offline/scans.py `read_spine_facts`)."""
    from datetime import datetime

    from featurestore.offline.scans import SpineFacts
    from featurestore.sql.expressions import render
    from featurestore.sql.scans import spine_facts_expression

    earliest, latest, rows, distinct = con.execute(render(spine_facts_expression(spine.source, spine.timestamp, ["entity_id"]), "duckdb")).fetchone()
    return SpineFacts(datetime.fromisoformat(earliest), datetime.fromisoformat(latest), rows, {"entity_id": distinct})


def estimated_rows(con, view) -> int:
    """DuckDB's estimate of the view's rows, as fs reads it (engines/duckdb.py `estimated_rows`)."""
    import json

    from featurestore.sql.expressions import render
    from featurestore.sql.scans import rows_estimate_expression

    plan = con.execute(f"explain (format json) {render(rows_estimate_expression(view), 'duckdb')}").fetchall()
    return int(json.loads(plan[0][1])[0]["extra_info"]["Estimated Cardinality"])


def names(windows: list[str]) -> list[str]:
    return [f"entity__amount_{f}__{w}" for w in windows for f in FUNCTIONS]


def frames_sql(windows: list[str]) -> str:
    """The hand-written reference: RANGE frames over the union of spine rows and events."""
    features = []
    for w in windows:
        frame = f"over (partition by entity_id order by us range between {WINDOW_US[w] - 1} preceding and current row)"
        features += [f"count(amount) {frame} as entity__amount_count__{w}", f"sum(amount) {frame} as entity__amount_sum__{w}",
                     f"max(amount) {frame} as entity__amount_max__{w}"]
    return f"""
        select entity_id, event_timestamp, label, {", ".join(names(windows))} from (
          select entity_id, event_timestamp, label, is_spine, {", ".join(features)} from (
            select entity_id, epoch_us(ts) as us, null::timestamp as event_timestamp, null::bigint as label, amount, false as is_spine from events
            union all
            select entity_id, epoch_us(event_timestamp), event_timestamp, label, null, true from spine
          )
        ) where is_spine"""


def hops_sql(windows: list[str]) -> str:
    """Hop partials (per entity and hour) for the whole hours inside each window, the events
    of the window's two edge hours joined on (entity, hour), combined per spine row."""
    parts, combined = [], []
    for w in windows:
        inner = WINDOW_US[w] - HOUR_US  # whole hours after the left edge's hour, up to the right edge's hour
        frame = f"over (partition by entity_id order by hop range between {inner - 1} preceding and current row)"
        if inner > 0:
            parts += [f"sum(n) {frame} as n_{w}", f"sum(s) {frame} as s_{w}", f"max(m) {frame} as m_{w}"]
        else:
            parts += [f"0::bigint as n_{w}", f"null::double as s_{w}", f"null::double as m_{w}"]
    edges = [f"""
          left join (select p.row, count(e.amount) as n, sum(e.amount) as s, max(e.amount) as m
                     from spine_hops p join hourly_events e
                       on e.entity_id = p.entity_id and e.hop = p.right_hop and e.us <= p.us
                     group by p.row) edge_right on edge_right.row = f.row"""]
    for w in windows:
        edges.append(f"""
          left join (select p.row, count(e.amount) as n, sum(e.amount) as s, max(e.amount) as m
                     from spine_hops p join hourly_events e
                       on e.entity_id = p.entity_id and e.hop = p.left_{w} and e.us >= p.us - {WINDOW_US[w] - 1}
                     group by p.row) edge_{w} on edge_{w}.row = f.row""")
        count = f"coalesce(f.n_{w}, 0) + coalesce(edge_{w}.n, 0) + coalesce(edge_right.n, 0)"
        combined += [
            f"({count}) as entity__amount_count__{w}",
            f"case when {count} > 0 then coalesce(f.s_{w}, 0) + coalesce(edge_{w}.s, 0) + coalesce(edge_right.s, 0) end as entity__amount_sum__{w}",
            f"greatest(f.m_{w}, edge_{w}.m, edge_right.m) as entity__amount_max__{w}",
        ]
    lefts = ", ".join(f"(us - {WINDOW_US[w] - 1}) // {HOUR_US} * {HOUR_US} as left_{w}" for w in windows)
    return f"""
        with hourly_events as (select entity_id, epoch_us(ts) as us, epoch_us(ts) // {HOUR_US} * {HOUR_US} as hop, amount from events),
        partials as (select entity_id, hop, count(amount) as n, sum(amount) as s, max(amount) as m from hourly_events group by all),
        spine_hops as (select row_number() over () as row, entity_id, event_timestamp, label, us,
                              (us + 1) // {HOUR_US} * {HOUR_US} as right_hop, {lefts}
                       from (select *, epoch_us(event_timestamp) as us from spine)),
        frames as (
          select * from (
            select row, is_spine, {", ".join(parts)} from (
              select entity_id, hop, n, s, m, null::bigint as row, false as is_spine from partials
              union all
              -- the spine row sits at the hour before its right edge's: full hours end there
              select entity_id, right_hop - {HOUR_US}, null, null, null, row, true from spine_hops
            )
          ) where is_spine
        )
        select p.entity_id, p.event_timestamp, p.label, {", ".join(combined)}
        from spine_hops p join frames f on f.row = p.row {"".join(edges)}"""


def naive_sql(windows: list[str], sample: str) -> str:
    longest = max(WINDOW_US[w] for w in windows)
    features = []
    for w in windows:
        inside = f"e.us > s.us - {WINDOW_US[w]}"
        features += [f"count(case when {inside} then e.amount end) as entity__amount_count__{w}",
                     f"sum(case when {inside} then e.amount end) as entity__amount_sum__{w}",
                     f"max(case when {inside} then e.amount end) as entity__amount_max__{w}"]
    return f"""
        select s.entity_id, s.event_timestamp, s.label, {", ".join(features)}
        from (select *, epoch_us(event_timestamp) as us, row_number() over () as row from {sample}) s
        left join (select entity_id, epoch_us(ts) as us, amount from events) e
          on e.entity_id = s.entity_id and e.us <= s.us and e.us > s.us - {longest}
        group by s.row, s.entity_id, s.event_timestamp, s.label"""


def timed(con, name: str, sql: str) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    con.execute(f"create or replace table {name} as {sql}")
    return time.perf_counter() - wall, time.process_time() - cpu


def fingerprint(con, table: str, windows: list[str], where: str = "") -> tuple:
    # Each row's value rounded to cents (the events' precision) before the exact decimal sum:
    # float sums in another order differ in their last bits, and a total of a million of them
    # in doubles can land on either side of a cent.
    sums = ", ".join(f"sum(round({n}, 2)::decimal(38, 2))" for n in names(windows))
    counts = ", ".join(f"count({n})" for n in names(windows))
    return con.execute(f"select count(*), {sums}, {counts} from {table} {where}").fetchone()


def extrapolate(runs: dict[float, tuple[float, float]]) -> tuple[float, float]:
    """The naive join's (wall, CPU) on the whole spine from its runs on samples: the
    least-squares line through (fraction, seconds) at fraction 1 with two or more fractions
    (a fixed cost, reading the events, plus a cost per spine row); seconds / fraction with one
    (which scales the fixed cost up too); the run on the whole spine itself if there is one."""
    if 1.0 in runs:
        return runs[1.0]
    if len(runs) == 1:
        (fraction, (wall, cpu)), = runs.items()
        return wall / fraction, cpu / fraction
    xs = list(runs)
    mean_x = statistics.fmean(xs)

    def at_one(ys: list[float]) -> float:
        mean_y = statistics.fmean(ys)
        slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sum((x - mean_x) ** 2 for x in xs)
        return mean_y + slope * (1 - mean_x)

    return at_one([w for w, _ in runs.values()]), at_one([c for _, c in runs.values()])


def measure(con, args, entities: int, fractions: list[float]) -> dict:
    """One shape: every method's median (wall, CPU), the naive join's runs per sample fraction
    and its extrapolation to the whole spine."""
    make_data(con, args.events, args.spine, entities)
    methods = {"fs": fs_sql(con, WINDOWS), "hand-written frames": frames_sql(WINDOWS)}
    if "hops" not in args.skip:
        methods["hop partials + exact edges"] = hops_sql(WINDOWS)
    if "windows" not in args.skip:
        methods.update({f"fs, {n} window{'s' if n > 1 else ''}": fs_sql(con, WINDOWS[:n]) for n in (1, 2)})
    samples = {}
    for index, fraction in enumerate(fractions):
        rows = max(1, round(args.spine * fraction))
        con.execute(f"create or replace table spine_sample{index} as select * from spine using sample {rows} rows (reservoir, 7)")
        samples[f"naive range join, {fraction:g} of the spine"] = (fraction, f"spine_sample{index}")
        methods[f"naive range join, {fraction:g} of the spine"] = naive_sql(WINDOWS, f"spine_sample{index}")
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in methods}
    for _ in range(args.rounds):
        for index, (name, sql) in enumerate(methods.items()):
            times[name].append(timed(con, f"out{index}", sql))
            print(f"  {entities} entities, {name}: {times[name][-1][0]:.2f} s wall, {times[name][-1][1]:.2f} s CPU", flush=True)
    # Every method's values are fs's (a naive join's on its sample of the spine).
    expected = fingerprint(con, "out0", WINDOWS)
    for index, name in enumerate(methods):
        if name in samples:
            sampled = f"where (entity_id, event_timestamp, label) in (select entity_id, event_timestamp, label from {samples[name][1]})"
            assert fingerprint(con, "out0", WINDOWS, sampled) == fingerprint(con, f"out{index}", WINDOWS), name
        elif name in ("fs", "hand-written frames", "hop partials + exact edges"):
            assert fingerprint(con, f"out{index}", WINDOWS) == expected, name
    window_events = con.execute(f"""
        select avg(n) from (select count(e.amount) as n from spine_sample0 s left join events e
          on e.entity_id = s.entity_id and e.ts <= s.event_timestamp and e.ts > s.event_timestamp - interval 28 day
          group by s.entity_id, s.event_timestamp, s.label)""").fetchone()[0]
    median = {name: (statistics.median(w for w, _ in t), statistics.median(c for _, c in t)) for name, t in times.items()}
    naive = {samples[name][0]: median.pop(name) for name in samples}
    median["naive range join (whole spine)" if 1.0 in naive else "naive range join (extrapolated)"] = extrapolate(naive)
    plan = {"__fs_v0_hops": "hop partials + exact edges", "__fs_v0_pairs": "the range join of sparse windows"}
    plan = next((text for cte, text in plan.items() if cte in methods["fs"]), "RANGE frames")
    return {"entities": entities, "window_events": window_events, "median": median, "naive": naive, "plan": plan}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--spine", type=int, default=1_000_000)
    parser.add_argument("--entities", type=int, nargs="+", default=[ENTITIES], help="one shape per value; fewer: more events in each window")
    parser.add_argument("--naive-fraction", nargs="+", default=["0.01"],
                        help="the naive join's spine sample(s), each a fraction of the spine: one list for every --entities value, "
                             "or one value per --entities value with ',' between a shape's fractions (e.g. 1,0.1 0.01 0.001,0.0005)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory-limit", default="4GB", help="DuckDB's memory_limit (the machine is shared)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["hops", "windows"],
                        help="leave out hop partials, or fs with 1 and 2 windows (for the densest, slowest shapes)")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    import duckdb

    shapes = []
    for entities, fractions in zip(args.entities, fractions_per_shape(args)):
        with tempfile.TemporaryDirectory() as folder:
            con = duckdb.connect(str(Path(folder) / "bench.duckdb"))
            con.execute("set preserve_insertion_order = false")
            con.execute(f"set memory_limit = '{args.memory_limit}'")
            shapes.append(measure(con, args, entities, fractions))
            con.close()
        print(report(args, shapes[-1:]), flush=True)
    table = report(args, shapes)
    print(table)
    if args.write_docs:
        from benchmarks.docs_section import replace_section

        replace_section(DOCS, SECTION, table)


def fractions_per_shape(args) -> list[list[float]]:
    """--naive-fraction's samples for each --entities value (see its help)."""
    groups = [[float(f) for f in value.split(",")] for value in args.naive_fraction]
    if len(groups) == len(args.entities):
        return groups
    return [[f for group in groups for f in group]] * len(args.entities)


def report(args, shapes: list[dict]) -> str:
    lines = [
        SECTION, "",
        f"`python benchmarks/bench_windows.py {' '.join(sys.argv[1:])}`: {args.events:,} events over 100 days, "
        f"a {args.spine:,}-row spine, count, sum and max over 1h, 24h, 7d and 28d (12 features), DuckDB "
        f"{__import__('duckdb').__version__}, Python {platform.python_version()}, memory_limit {args.memory_limit}, "
        f"median of {args.rounds} alternating rounds, each a CREATE TABLE of the result.", "",
    ]
    for shape in shapes:
        median, reference = shape["median"], shape["median"]["hand-written frames"]
        naive = median.get("naive range join (whole spine)") or median["naive range join (extrapolated)"]
        runs = ", ".join(f"{f:g} of the spine: {w:.2f} s wall, {c:.2f} s CPU" for f, (w, c) in shape["naive"].items())
        lines += [
            f"{shape['entities']:,} entities, {shape['window_events']:.0f} events in a spine row's 28-day window on average "
            f"(naive join runs: {runs}); fs chose {shape['plan']}:", "",
            "| method | wall s | CPU s | wall / frames | CPU / frames | wall / naive | CPU / naive |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name, (wall, cpu) in median.items():
            lines.append(f"| {name} | {wall:.2f} | {cpu:.2f} | {wall / reference[0]:.2f}x | {cpu / reference[1]:.2f}x "
                         f"| {wall / naive[0]:.3f}x | {cpu / naive[1]:.3f}x |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
