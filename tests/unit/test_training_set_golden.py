"""SQL in, SQL out: the training-set query for each supported dialect, against golden files.

Regenerate after an intended change with `FS_UPDATE_GOLDEN=1 pytest tests/unit/test_training_set_golden.py`
and read the diff: it is the change in behaviour.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlglot import exp

from featurestore.engines.registry import dialects, engine_for_dialect
from featurestore.offline.plan import Plan
from featurestore.offline.request import SpineInput
from featurestore.offline.spine import Spine, timestamp_as_naive_utc
from featurestore.sql.expressions import render
from featurestore.sql.pit import SpineRelation, output_features, point_in_time_expression
from featurestore.sql.scans import ViewScan
from tests.pit_fixtures import catalog_of, feature_view

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
DIALECTS = ["duckdb", "postgres", "snowflake", "bigquery", "spark", "trino"]
SAME_AS = {"databricks": "spark"}
"""Dialects whose SQL is, to the byte, another's: its golden file serves both."""


def golden_query(
    dialect: str, indexed_views: tuple[str, ...] = (), event_time_only: bool = False, ttl_window: bool = False, orders_keys: bool = False
) -> str:
    return render(golden_expression(dialect, indexed_views, event_time_only, ttl_window, orders_keys), dialect, pretty=True) + "\n"


def golden_expression(
    dialect: str, indexed_views: tuple[str, ...] = (), event_time_only: bool = False, ttl_window: bool = False, orders_keys: bool = False
) -> exp.Select:
    # One view of each kind: created_at as a knowledge cut-off with a ttl, and a composite
    # key without created_at whose uniqueness dbt does not test (so ties are broken).
    orders = feature_view(
        "customer_orders", ("customer_id",), {"orders_30d": "bigint", "spend_30d": "double"}, "features",
        created_at=True, ttl=timedelta(days=30),
    )
    visits = feature_view("store_visits", ("customer_id", "store_id"), {"visits_7d": "bigint"}, "features")
    catalog = catalog_of(orders, visits)
    engine = engine_for_dialect(dialect)
    kinds = {"customer_id": "bigint", "store_id": "bigint", "event_timestamp": "timestamp", "churned": "boolean"}
    read = Spine(SpineInput(relation="analytics.labels"), exp.to_table("analytics.labels"), kinds, None)
    spine = SpineRelation(source=read.source, columns=read.columns, timestamp=timestamp_as_naive_utc(read, engine))
    selections = catalog.resolve(["customer_orders:*", "store_visits:visits_7d"])
    outputs = output_features(spine.columns, selections, full_names=False)
    # Bounded scans as a spine over 2024-03 would give them: the ttl's lower bound on the
    # view with one, the spine's keys on the other (offline/scans.py decides; here, given).
    latest = datetime(2024, 3, 31, 23, 59, 59)
    scans = {
        "customer_orders": ViewScan(
            earliest=datetime(2024, 3, 1) - timedelta(days=30), latest=latest, spine_keys_only=orders_keys, ttl_window=ttl_window
        ),
        "store_visits": ViewScan(latest=latest, spine_keys_only=True),
    }
    return point_in_time_expression(spine, selections, outputs, engine, event_time_only, indexed_views, scans)


BOTH = ("customer_orders", "store_visits")
LATERAL_GOLDEN = {"postgres": "training_set.postgres.indexed.sql"}
"""Engines with a top-one lateral join: the query when both views' tables have the index on
(join keys..., timestamp). customer_orders keeps the portable form (its created_at is a
knowledge cut-off), store_visits is joined laterally, its ties broken in the ORDER BY."""


def test_every_supported_dialect_has_a_golden_file():
    assert sorted([*DIALECTS, *SAME_AS]) == sorted(dialects())


@pytest.mark.parametrize("dialect", SAME_AS)
def test_a_dialect_with_the_sql_of_another(dialect):
    assert golden_query(dialect) == golden_query(SAME_AS[dialect])


@pytest.mark.parametrize("dialect", DIALECTS)
def test_training_set_sql_matches_golden(dialect):
    path = GOLDEN / f"training_set.{dialect}.sql"
    sql = golden_query(dialect)
    if os.environ.get("FS_UPDATE_GOLDEN"):
        path.write_text(sql)
    assert sql == path.read_text()


TTL_WINDOW_GOLDEN = {"duckdb": "training_set.duckdb.ttl_window.sql"}
"""Engines with the ttl-window join (Engine.ttl_window_join): the query when the rule picks
it for customer_orders (its ttl windows hold few rows): a hash join within each spine row's
window, its rows ranked by the full tie-break order under the knowledge cut-off."""


def test_the_engines_with_a_ttl_window_join_have_a_golden_file_for_it():
    assert sorted(TTL_WINDOW_GOLDEN) == sorted(d for d in DIALECTS if engine_for_dialect(d).ttl_window_join)


@pytest.mark.parametrize("dialect", TTL_WINDOW_GOLDEN)
def test_ttl_window_training_set_sql_matches_golden(dialect):
    path = GOLDEN / TTL_WINDOW_GOLDEN[dialect]
    sql = golden_query(dialect, ttl_window=True)
    if os.environ.get("FS_UPDATE_GOLDEN"):
        path.write_text(sql)
    assert sql == path.read_text()
    # customer_orders by the window join, store_visits (no ttl) by the as-of join as before.
    assert sql.count("ASOF LEFT JOIN") == 1 and sql.count("PARTITION BY \"__fs_spine\".\"__fs_row\"") == 1
    assert "\"ts\" >= \"__fs_spine\".\"event_timestamp\" - INTERVAL '2592000' SECOND" in sql


@pytest.mark.parametrize("dialect", TTL_WINDOW_GOLDEN)
def test_a_view_joined_within_its_ttl_windows_is_not_semi_joined_on_the_spine_keys_too(dialect):
    # The window join's hash join on the keys drops the rows the semi-join would.
    semi_join = "FROM \"__fs_spine\" AS \"__fs_keys\""
    assert golden_query(dialect, orders_keys=True).count(semi_join) == 2  # as-of joins: both views
    windowed = golden_query(dialect, ttl_window=True, orders_keys=True)
    assert windowed.count(semi_join) == 1  # store_visits' alone
    assert windowed == golden_query(dialect, ttl_window=True)


@pytest.mark.parametrize("dialect", [d for d in DIALECTS if not engine_for_dialect(d).ttl_window_join])
def test_engines_without_the_ttl_window_join_keep_their_form(dialect):
    assert golden_query(dialect, ttl_window=True) == golden_query(dialect)


def test_the_engines_with_a_lateral_join_have_a_golden_file_for_it():
    assert sorted(LATERAL_GOLDEN) == sorted(d for d in DIALECTS if engine_for_dialect(d).top_one_lateral)


@pytest.mark.parametrize("dialect", LATERAL_GOLDEN)
def test_lateral_training_set_sql_matches_golden(dialect):
    path = GOLDEN / LATERAL_GOLDEN[dialect]
    sql = golden_query(dialect, BOTH)
    if os.environ.get("FS_UPDATE_GOLDEN"):
        path.write_text(sql)
    assert sql == path.read_text()
    assert sql.count("LEFT JOIN LATERAL") == 1 and sql.count("FIRST_VALUE") == 3


@pytest.mark.parametrize("dialect", LATERAL_GOLDEN)
def test_event_time_only_joins_a_view_with_created_at_laterally_too(dialect):
    sql = golden_query(dialect, BOTH, event_time_only=True)
    assert sql.count("LEFT JOIN LATERAL") == 2 and "FIRST_VALUE" not in sql
    # Its ties break on the knowledge time, then the features: the portable form's order, reversed.
    assert (
        'ORDER BY\n    "__fs_v0_rows"."ts" DESC,\n    COALESCE("__fs_v0_rows"."created_at", "__fs_v0_rows"."ts") DESC NULLS LAST,\n'
        '    "__fs_v0_rows"."orders_30d" DESC NULLS LAST,\n    "__fs_v0_rows"."spend_30d" DESC NULLS LAST\n  LIMIT 1'
    ) in sql


@pytest.mark.parametrize("dialect", [d for d in DIALECTS if not engine_for_dialect(d).top_one_lateral])
def test_an_index_changes_nothing_on_engines_without_a_lateral_join(dialect):
    assert golden_query(dialect, BOTH) == golden_query(dialect)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_as_of_form_per_dialect(dialect):
    sql = golden_query(dialect)
    if dialect == "duckdb":
        assert sql.count("ASOF LEFT JOIN") == 2
    elif dialect == "snowflake":
        assert sql.count("ASOF JOIN") == 2 and sql.count("MATCH_CONDITION") == 2
    elif engine_for_dialect(dialect).last_value_ignores_nulls:
        # One window per view, carrying the latest view row as a struct.
        assert "ASOF JOIN" not in sql and "FIRST_VALUE" not in sql and sql.count("LAST_VALUE") == 2
    else:
        # One FIRST_VALUE per carried column: the event timestamp and each feature.
        assert "ASOF JOIN" not in sql and sql.count("FIRST_VALUE") == 5


@pytest.mark.parametrize("dialect,naive", [("bigquery", "DATETIME"), ("trino", "TIMESTAMP(6)")])
def test_both_sides_of_the_join_have_one_timestamp_type(dialect, naive):
    """BigQuery's TIMESTAMP and DATETIME do not mix in a UNION or a comparison; Trino mixes
    zoned and naive ones through the session's zone: every time is cast to one naive type."""
    sql = golden_query(dialect)
    q = "`" if dialect == "bigquery" else '"'
    for time in ("ts", "created_at", "event_timestamp"):
        assert f"CAST({q}{time}{q} AS {naive})" in sql
    assert f"{q}ts{q} AS {q}__fs_at{q}" in sql  # the casts are read, not the raw columns


def test_no_dialect_makes_sqlglot_warn(caplog):
    """sqlglot logs what it cannot translate (BigQuery: 'NULLS LAST' in a window frame); a
    command line tool shows those on stderr."""
    for dialect in dialects():
        golden_query(dialect)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
def test_a_plan_renders_its_query_once(dialect):
    # A training set's run reads Plan.sql() twice (the query it runs, its record): the text
    # is rendered once, and is the tree's; the pretty form is rendered as asked.
    query = golden_expression(dialect)
    plan = Plan(expression=query, outputs=[], selections=[], spine=None, engine=engine_for_dialect(dialect))
    first = plan.sql()
    assert first == render(query, dialect) and plan.sql() is first
    assert plan.sql(pretty=True) + "\n" == golden_query(dialect)
