"""A spine numbered by its scan (a table or a query: ROW_NUMBER over it) must be numbered
once for the whole query: the views joined on the row number must all see the same numbers,
or a view's values would land on another spine row. Where the engine computes a CTE marked
MATERIALIZED once, the spine is marked so whenever the query reads it more than once; where
it cannot be marked (Snowflake), the as-of joins are chained so that it is read once. A spine
that brings its own row numbers (a file, a frame) needs neither."""

from __future__ import annotations

import pytest
from sqlglot import exp

from featurestore.engines.registry import engine_for_dialect
from featurestore.sql.expressions import column, render
from featurestore.sql.pit import SpineRelation, output_features, point_in_time_expression
from tests.pit_fixtures import catalog_of, feature_view

VIEWS = [feature_view(f"v{i}", ("customer_id",), {f"f{i}": "double"}, "features") for i in range(3)]


def query(dialect: str, views: int, own_row_numbers: bool) -> str:
    catalog = catalog_of(*VIEWS)
    spine = SpineRelation(
        source=exp.to_table("analytics.labels"),
        columns=("customer_id", "event_timestamp"),
        timestamp=column("event_timestamp"),
        row_order=column("row_in_input") if own_row_numbers else None,
    )
    selections = catalog.resolve([f"v{i}:*" for i in range(views)])
    outputs = output_features(spine.columns, selections, full_names=False)
    return render(point_in_time_expression(spine, selections, outputs, engine_for_dialect(dialect)), dialect)


def spine_reads(sql: str) -> int:
    return sql.count('FROM "__fs_spine"') + sql.count('FROM "__FS_SPINE"')


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
def test_a_spine_numbered_by_its_scan_is_materialized_where_read_more_than_once(dialect):
    sql = query(dialect, 3, own_row_numbers=False)
    assert spine_reads(sql) > 1
    assert 'WITH "__fs_spine" AS MATERIALIZED (' in sql


def test_one_as_of_view_reads_the_spine_once_and_leaves_materializing_to_duckdb():
    sql = query("duckdb", 1, own_row_numbers=False)
    assert spine_reads(sql) == 1
    assert "MATERIALIZED" not in sql


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "snowflake"])
def test_a_spine_with_its_own_row_numbers_is_not_forced_to_materialize(dialect):
    sql = query(dialect, 3, own_row_numbers=True)
    assert "MATERIALIZED" not in sql
    assert "__fs_v1_match" in sql.lower()


def test_snowflake_chains_its_as_of_joins_over_a_spine_numbered_by_its_scan():
    sql = query("snowflake", 3, own_row_numbers=False)
    assert "MATERIALIZED" not in sql, "Snowflake has no MATERIALIZED CTEs"
    assert spine_reads(sql) == 1
    assert sql.count("ASOF JOIN") == 3 and "_MATCH" not in sql.upper()
