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
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import timedelta

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


def main() -> None:
    import psycopg

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    dsn = os.environ.get("FS_BENCH_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=test")
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
