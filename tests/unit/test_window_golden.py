"""SQL in, SQL out: an aggregation view's training-set query for each dialect against golden
files (Snowflake, BigQuery and Trino are printed, never run: this is their test).

Regenerate after an intended change with `FS_UPDATE_GOLDEN=1 pytest tests/unit/test_window_golden.py`
and read the diff: it is the change in behaviour.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from featurestore.engines.registry import dialects, engine_for_dialect
from featurestore.offline.request import SpineInput
from featurestore.offline.spine import Spine, timestamp_as_naive_utc
from featurestore.sql.expressions import render
from featurestore.sql.pit import SpineRelation, output_features, point_in_time_expression
from featurestore.sql.scans import ViewScan
from tests.pit_fixtures import catalog_of
from tests.window_reference import aggregation_view

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
DIALECTS = ["duckdb", "postgres", "snowflake", "bigquery", "spark", "trino"]
SPECS = [
    (None, "count", "1h"), ("dep_delay", "sum", "1h"), ("dep_delay", "avg", "24h"), ("dep_delay", "stddev", "24h"),
    ("dep_delay", "min", "7d"), ("dep_delay", "max", "7d"), ("dep_delay", "last", "1h"), ("carrier", "count_distinct", "24h"),
]


@functools.cache  # each test reads the text; building and rendering it costs a second
def golden_query(dialect: str, created_at: bool = True, hops: bool = False, pairs: bool = False) -> str:
    engine = engine_for_dialect(dialect)
    approx = [("carrier", "approx_count_distinct", "7d")] if engine.approx_distinct else []
    view = aggregation_view(
        "origin_departures", ("origin",), "origin", SPECS + approx, {"dep_delay": "integer", "carrier": "varchar"},
        "features", created_at,
    )
    kinds = {"origin": "varchar", "event_timestamp": "timestamp", "is_delayed": "boolean"}
    read = Spine(SpineInput(relation="analytics.labels"), exp.to_table("analytics.labels"), kinds, None)
    spine = SpineRelation(source=read.source, columns=read.columns, timestamp=timestamp_as_naive_utc(read, engine))
    selections = catalog_of(view).resolve(["origin_departures:*"])
    scans = {view.name: ViewScan(window_hops=hops, window_pairs=pairs)}
    query = point_in_time_expression(spine, selections, output_features(spine.columns, selections, False), engine, scans=scans)
    return render(query, dialect, pretty=True) + "\n"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_aggregation_view_sql_matches_golden(dialect):
    path = GOLDEN / f"windows.{dialect}.sql"
    sql = golden_query(dialect)
    if os.environ.get("FS_UPDATE_GOLDEN"):
        path.write_text(sql)
    assert sql == path.read_text()


def test_dense_windows_sql_matches_golden():
    """Hop partials and exact edges for count, sum, avg, min and max (1h hops); stddev on
    frames; count_distinct and last as ever (sql/window_hops.py)."""
    path = GOLDEN / "windows.duckdb.hops.sql"
    sql = golden_query("duckdb", created_at=False, hops=True)
    # The hop plan's CTEs: the rest is windows.duckdb.sql's, less the frames' hopped features.
    start, end = sql.index('"__fs_v0_hops_events" AS ('), sql.index('), "__fs_v0_frames" AS (')
    hops = sql[start:end] + "\n"
    if os.environ.get("FS_UPDATE_GOLDEN"):
        path.write_text(hops)
    assert hops == path.read_text()
    assert "RANGE BETWEEN 79200000000 PRECEDING AND CURRENT ROW" in hops  # 24h less two 1h hops
    # The spine's numbering, stddev's frame, the distinct counts' and last's windows.
    assert sql.count("OVER (") == hops.count("OVER (") + 6


def test_sparse_windows_sql_matches_golden():
    """The range join for every function, under a knowledge cut-off (the join's `KNOWN <= t`;
    last's struct orders on the knowledge time too: sql/window_pairs.py)."""
    path = GOLDEN / "windows.duckdb.pairs.sql"
    sql = golden_query("duckdb", pairs=True)
    start, end = sql.index('"__fs_v0_pairs" AS ('), sql.index('\n)\nSELECT')
    pairs = sql[start:end] + "\n"
    if os.environ.get("FS_UPDATE_GOLDEN"):
        path.write_text(pairs)
    assert pairs == path.read_text()
    assert '"__fs_e"."__fs_known_us" <= "__fs_s"."__fs_us"' in pairs
    # No frames, no intervals: the spine's numbering is the only window.
    assert "__fs_v0_frames" not in sql and "__fs_v0_distinct" not in sql and "__fs_v0_last" not in sql
    assert sql.count("OVER (") == 1
    # Without a cut-off, the join has no knowledge bound.
    assert "__fs_known_us\" <= " not in golden_query("duckdb", created_at=False, pairs=True)


def test_dense_windows_keep_hops_and_the_range_join_takes_the_rest():
    sql = golden_query("duckdb", created_at=False, hops=True, pairs=True)
    assert "__fs_v0_hops" in sql and "__fs_v0_pairs" in sql and "__fs_v0_frames" not in sql


@pytest.mark.parametrize("dialect", ["postgres", "spark", "snowflake"])
def test_engines_without_the_pairs_plan_keep_frames_where_windows_are_sparse(dialect):
    assert golden_query(dialect, pairs=True) == golden_query(dialect)


@pytest.mark.parametrize("dialect", ["postgres", "spark", "snowflake"])
def test_engines_without_the_hop_plan_keep_frames_where_windows_are_dense(dialect):
    assert golden_query(dialect, created_at=False, hops=True) == golden_query(dialect, created_at=False)


def test_a_knowledge_cut_off_keeps_dense_windows_on_frames():
    assert golden_query("duckdb", hops=True) == golden_query("duckdb")


def test_databricks_prints_what_spark_does():
    assert golden_query("databricks") == golden_query("spark")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_frames_are_the_window_less_one_microsecond_and_parse_back(dialect):
    sql = golden_query(dialect, created_at=False)
    # 1h, 24h and 7d in microseconds, less one: the frame (t - w, t].
    for frame in (3_599_999_999, 86_399_999_999, 604_799_999_999):
        assert f"RANGE BETWEEN {frame} PRECEDING AND CURRENT ROW" in sql
    sqlglot.parse_one(sql, read=dialect)


@pytest.mark.parametrize("dialect, micros", [
    ("duckdb", "EPOCH_US("), ("postgres", "EXTRACT(EPOCH FROM"), ("spark", "UNIX_MICROS("),
    ("snowflake", "DATE_PART(EPOCH_MICROSECOND,"), ("bigquery", "UNIX_MICROS(TIMESTAMP("), ("trino", "TO_UNIXTIME(WITH_TIMEZONE("),
])
def test_each_engine_spells_epoch_microseconds_its_own_way(dialect, micros):
    assert micros in golden_query(dialect)


def test_no_dialect_makes_sqlglot_warn(caplog):
    for dialect in dialects():
        golden_query.__wrapped__(dialect)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
