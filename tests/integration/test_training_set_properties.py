"""Property tests: the generated point-in-time SQL equals the brute-force reference on random
data with ties, late corrections, gaps, ttl edges, null keys and duplicate spine rows; in
DuckDB's native ASOF form, in the portable form, in Snowflake's form transpiled to DuckDB, and
on a real PostgreSQL (in the portable form, and as a top-one lateral join where the tables have
the index on (join keys..., timestamp)) and a real local Spark."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from featurestore.engines.registry import engine_for_dialect
from featurestore.offline.request import SpineInput, TrainingSetRequest
from featurestore.offline import scans as scans_module
from featurestore.offline.training_set import prepare_training_set
from featurestore.sql.expressions import render
from tests.pit_fixtures import catalog_of, duckdb_memory, feature_view, load_table, postgres_warehouse, spark  # noqa: F401
from tests.pit_reference import reference_training_set
from tests.window_cases import check_windows, many_cases as window_cases

pytestmark = pytest.mark.integration

BASE = datetime(2024, 1, 1)
minutes = st.integers(0, 30).map(lambda m: BASE + timedelta(minutes=m))
maybe = lambda strategy: st.one_of(st.none(), strategy)  # noqa: E731

CUSTOMER_SCHEMA = pa.schema(
    [("customer_id", pa.int64()), ("ts", pa.timestamp("us")), ("created_at", pa.timestamp("us")),
     ("spend", pa.float64()), ("orders", pa.int64()), ("segment", pa.string()), ("active", pa.bool_())]
)
STORE_SCHEMA = pa.schema(
    [("customer_id", pa.int64()), ("region", pa.string()), ("ts", pa.timestamp("us")), ("visits", pa.int64())]
)
SPINE_SCHEMA = pa.schema(
    [("customer_id", pa.int64()), ("region", pa.string()), ("event_timestamp", pa.timestamp("us")), ("label", pa.int64())]
)

customer_rows = st.lists(
    st.fixed_dictionaries(
        {
            "customer_id": maybe(st.integers(1, 3)),
            "ts": maybe(minutes),
            # Written up to 10 minutes late (a correction), early (a forecast), or on time
            # (null created_at).
            "created_at": maybe(st.integers(-5, 10)),
            "spend": maybe(st.sampled_from([0.5, 1.25, 2.0])),
            "orders": maybe(st.integers(0, 2)),
            "segment": maybe(st.sampled_from(["a", "b"])),
            "active": maybe(st.booleans()),
        }
    ),
    max_size=25,
)
store_rows = st.lists(
    st.fixed_dictionaries(
        {"customer_id": st.integers(1, 3), "region": st.sampled_from(["n", "s"]), "ts": minutes, "visits": maybe(st.integers(0, 3))}
    ),
    max_size=15,
)
spine_rows = st.lists(
    st.fixed_dictionaries(
        {
            "customer_id": maybe(st.integers(1, 4)),
            "region": maybe(st.sampled_from(["n", "s"])),
            "event_timestamp": maybe(st.integers(-2, 40).map(lambda m: BASE + timedelta(minutes=m))),
            "label": st.integers(0, 1),
        }
    ),
    max_size=20,
).flatmap(lambda rows: st.lists(st.sampled_from(rows), max_size=5).map(lambda dup: rows + dup) if rows else st.just(rows))


def _customers(rows: list[dict]) -> list[dict]:
    return [
        {**r, "created_at": None if r["created_at"] is None or r["ts"] is None else r["ts"] + timedelta(minutes=r["created_at"])}
        for r in rows
    ]


def _unique_stores(rows: list[dict]) -> list[dict]:
    seen, unique = set(), []
    for row in rows:
        if (row["customer_id"], row["region"], row["ts"]) not in seen:
            seen.add((row["customer_id"], row["region"], row["ts"]))
            unique.append(row)
    return unique


CUSTOMER_FEATURES = ["spend", "orders", "segment", "active"]
# Any non-empty subset of the features, in any order: the answer must not depend on it.
feature_subsets = st.permutations(CUSTOMER_FEATURES).flatmap(
    lambda order: st.integers(1, len(order)).map(lambda n: list(order[:n]))
)


def snowflake_as_duckdb(sql: str) -> str:
    """Snowflake SQL as DuckDB runs it: sqlglot transpiles all of it but the as-of join,
    which it prints unchanged; an `ASOF JOIN ... MATCH_CONDITION (c) ON keys` (a left join
    that takes the closest row meeting c) is DuckDB's `ASOF LEFT JOIN ... ON keys AND c`.
    A spine numbered by its scan, `ROW_NUMBER() OVER (ORDER BY SEQ8())`, is DuckDB's
    `ROW_NUMBER() OVER ()` (sqlglot makes SEQ8() a window, which a window cannot order by)."""

    def as_of_join(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Join) and node.args.get("match_condition") is not None:
            condition = node.args["match_condition"]
            node.set("match_condition", None)
            node.set("on", exp.and_(node.args["on"], condition))
            node.set("side", "LEFT")
        if isinstance(node, exp.Window) and isinstance(node.this, exp.RowNumber) and node.find(exp.Seq8):
            node.set("order", None)
        return node

    return sqlglot.parse_one(sql, read="snowflake").transform(as_of_join).sql(dialect="duckdb")


def check_against_reference(
    warehouse, form_dialect, schema, customers, stores, spine, ttl, event_time_only, features, transpile=False,
    indexed=False, created_at=True, spine_query=False, spine_keys_only=None, store_ttl=None,
):
    """`indexed`: the tables get the index on (join keys..., timestamp) that makes PostgreSQL
    join a view by a top-one lateral join, and the test asserts each view that can is; with
    `created_at` false the customer view declares none (its ties break on the features).
    `spine_query`: the spine is a query over a table, numbered by its scan, not a frame that
    brings its own row numbers. `spine_keys_only`: every view's scan is (True) or is not
    (False) semi-joined on the spine's keys, whatever the views' sizes would decide (None).
    `store_ttl`: the store view's ttl. Returns the plan."""
    customer_view = feature_view(
        "customer_stats", ("customer_id",), {"spend": "double", "orders": "bigint", "segment": "varchar", "active": "boolean"},
        schema, created_at=created_at, ttl=ttl,
    )
    # Unique per (keys, timestamp) and declared so: the no-tie-break path.
    store_view = feature_view("store_visits", ("customer_id", "region"), {"visits": "bigint"}, schema, unique=True, ttl=store_ttl)
    load_table(warehouse, schema, "customer_stats", pa.Table.from_pylist(customers, CUSTOMER_SCHEMA))
    load_table(warehouse, schema, "store_visits", pa.Table.from_pylist(stores, STORE_SCHEMA))
    if indexed:
        # The keys in either order ahead of the timestamp; the second index a partial one,
        # which does not count, beside one that does.
        warehouse.execute(f'create index on "{schema}".customer_stats (customer_id, ts desc, spend)')
        warehouse.execute(f'create index on "{schema}".store_visits (region, customer_id, ts) where visits > 0')
        warehouse.execute(f'create index on "{schema}".store_visits (region, customer_id, ts)')
    catalog = catalog_of(customer_view, store_view)
    spine_input = SpineInput(frame=pa.Table.from_pylist(spine, SPINE_SCHEMA))
    if spine_query:
        load_table(warehouse, schema, "labels", pa.Table.from_pylist(spine, SPINE_SCHEMA))
        spine_input = SpineInput(sql=f'select * from "{schema}".labels')
    request = TrainingSetRequest(
        spine=spine_input,
        features=(*[f"customer_stats:{f}" for f in features], "store_visits:visits"),
        as_of="event-time" if event_time_only else "knowledge",
    )
    with pytest.MonkeyPatch.context() as patch:
        if spine_keys_only is not None:
            patch.setattr(scans_module, "semi_join_pays", lambda distinct_keys, estimated_rows: spine_keys_only)
        plan = prepare_training_set(request, catalog, warehouse, engine_for_dialect(form_dialect))
    if spine_keys_only is not None:
        # Every view read by an as-of join is bounded (a spine without a time: by its keys alone);
        # a view joined within its ttl windows is not: its join on the keys drops those rows.
        semi_joins = sum(1 for _ in plan.expression.find_all(exp.Exists))
        windowed = sum(
            1 for w in plan.expression.find_all(exp.Window)
            if [(c.table, c.name) for c in w.args.get("partition_by") or []] == [("__fs_spine", "__fs_row")]
        )
        joined = len(plan.selections) - len(list(plan.expression.find_all(exp.Lateral))) - windowed
        assert semi_joins == (joined if spine_keys_only and spine else 0)
    if transpile:
        sql = snowflake_as_duckdb(render(plan.expression, form_dialect))
    else:
        sql = render(plan.expression, warehouse.dialect)
    # The views read by a lateral join: each that can be, once its table has the index.
    lateral = sorted(t.name for node in plan.expression.find_all(exp.Lateral) for t in node.find_all(exp.Table))
    can_be = ["customer_stats"] if event_time_only or not created_at else []
    assert lateral == (sorted([*can_be, "store_visits"]) if indexed else [])
    got = warehouse.stream_arrow(sql).read_all().to_pylist()
    expected = reference_training_set(
        spine, "event_timestamp", {"customer_stats": customers, "store_visits": stores}, plan.selections, event_time_only
    )
    assert got == expected
    return plan


common = dict(
    customers=customer_rows.map(_customers),
    stores=store_rows.map(_unique_stores),
    spine=spine_rows,
    ttl=st.sampled_from([None, timedelta(minutes=5), timedelta(minutes=12)]),
    event_time_only=st.booleans(),
    features=feature_subsets,
)


# Spines over part of the views' history (0-30 minutes): a window that may start before it,
# end inside it or lie past it, so the bounds on time leave rows out at either end (with a
# ttl of 5 or 12 minutes, most of the rows before the window).
def _spine_in_window(window: tuple[int, int]):
    start, length = window
    return st.lists(
        st.fixed_dictionaries(
            {
                "customer_id": st.sampled_from([1, 1, 2, 2, 3, 4, None]),
                "region": st.sampled_from(["n", "n", "s", "s", None]),
                "event_timestamp": st.integers(start, start + length).map(lambda m: BASE + timedelta(minutes=m)) | st.just(None),
                "label": st.integers(0, 1),
            }
        ),
        max_size=12,
    ).flatmap(lambda rows: st.lists(st.sampled_from(rows), max_size=3).map(lambda dup: rows + dup) if rows else st.just(rows))


# Views dense in the keys and times a spine asks about, so that most spine rows find a row
# near the bounds (null keys and times stay, fewer).
dense_customer_rows = st.lists(
    st.fixed_dictionaries(
        {
            "customer_id": st.sampled_from([1, 1, 2, 2, 3, None]),
            "ts": st.sampled_from([None, *range(0, 31)]).map(lambda m: None if m is None else BASE + timedelta(minutes=m)),
            "created_at": maybe(st.integers(-5, 10)),
            "spend": maybe(st.sampled_from([0.5, 1.25, 2.0])),
            "orders": maybe(st.integers(0, 2)),
            "segment": maybe(st.sampled_from(["a", "b"])),
            "active": maybe(st.booleans()),
        }
    ),
    min_size=5,
    max_size=25,
)
partial = dict(
    common,
    customers=dense_customer_rows.map(_customers),
    ttl=st.sampled_from([None, timedelta(minutes=5), timedelta(minutes=12)]),
    spine=st.tuples(st.integers(-2, 35), st.integers(0, 10)).flatmap(_spine_in_window),
    spine_keys_only=st.booleans(),
)


# Rows piled on three timestamps, so most spine rows land on a tie that the created_at and
# feature values must break (the strategies above make ties, but seldom where a spine row
# looks). Without a knowledge cut-off (event_time_only) the tie-break is the join's own.
tied_customer_rows = st.lists(
    st.fixed_dictionaries(
        {
            "customer_id": st.integers(1, 2),
            "ts": st.integers(0, 2).map(lambda m: BASE + timedelta(minutes=10 * m)),
            "created_at": maybe(st.integers(0, 1)),
            "spend": maybe(st.sampled_from([0.5, 1.25])),
            "orders": maybe(st.integers(0, 1)),
            "segment": maybe(st.sampled_from(["a", "b"])),
            "active": maybe(st.booleans()),
        }
    ),
    min_size=4,
    max_size=12,
)
tied = dict(common, customers=tied_customer_rows.map(_customers), event_time_only=st.just(True), ttl=st.just(None))


@pytest.fixture(scope="module")
def duckdb_warehouse():
    with duckdb_memory() as warehouse:
        yield warehouse


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(**common)
def test_duckdb_native_asof_matches_reference(duckdb_warehouse, customers, stores, spine, ttl, event_time_only, features):
    check_against_reference(duckdb_warehouse, "duckdb", "main", customers, stores, spine, ttl, event_time_only, features)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(**common)
def test_portable_form_matches_reference(duckdb_warehouse, customers, stores, spine, ttl, event_time_only, features):
    # The window-function form that Postgres, BigQuery, Spark and Trino get, run on DuckDB.
    check_against_reference(duckdb_warehouse, "postgres", "main", customers, stores, spine, ttl, event_time_only, features)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(**common)
def test_one_window_form_matches_reference(duckdb_warehouse, customers, stores, spine, ttl, event_time_only, features):
    # The portable form with LAST_VALUE(struct) IGNORE NULLS that Spark and Databricks get, run on DuckDB.
    check_against_reference(duckdb_warehouse, "spark", "main", customers, stores, spine, ttl, event_time_only, features)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(**common)
def test_snowflake_form_transpiled_to_duckdb_matches_reference(
    duckdb_warehouse, customers, stores, spine, ttl, event_time_only, features
):
    # Snowflake's SQL as fs prints it (upper-case names, MATCH_CONDITION), run by DuckDB.
    check_against_reference(
        duckdb_warehouse, "snowflake", "main", customers, stores, spine, ttl, event_time_only, features, transpile=True
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(**common)
@pytest.mark.parametrize("form", ["duckdb", "snowflake"])
def test_as_of_forms_over_a_spine_numbered_by_its_scan_match_reference(
    duckdb_warehouse, form, customers, stores, spine, ttl, event_time_only, features
):
    # A query spine: DuckDB reads it once per view, MATERIALIZED; Snowflake chains its joins.
    check_against_reference(
        duckdb_warehouse, form, "main", customers, stores, spine, ttl, event_time_only, features,
        transpile=form == "snowflake", spine_query=True,
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(**common)
def test_postgres_matches_reference(postgres_warehouse, customers, stores, spine, ttl, event_time_only, features):
    schema = postgres_warehouse.target.schema
    check_against_reference(postgres_warehouse, "postgres", schema, customers, stores, spine, ttl, event_time_only, features)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(**common)
def test_postgres_lateral_join_matches_reference(postgres_warehouse, customers, stores, spine, ttl, event_time_only, features):
    # The tables with the index: views without a knowledge cut-off in force take the lateral join.
    schema = postgres_warehouse.target.schema
    check_against_reference(
        postgres_warehouse, "postgres", schema, customers, stores, spine, ttl, event_time_only, features, indexed=True
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(**dict(common, event_time_only=st.just(False)))
def test_postgres_lateral_join_without_created_at_matches_reference(
    postgres_warehouse, customers, stores, spine, ttl, event_time_only, features
):
    # A customer view that declares no created_at: its ties break on the features alone.
    schema = postgres_warehouse.target.schema
    check_against_reference(
        postgres_warehouse, "postgres", schema, customers, stores, spine, ttl, event_time_only, features,
        indexed=True, created_at=False,
    )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(**partial)
# At the lower bound's edge: the row 4 minutes before the spine's earliest time, under a
# 5-minute ttl, is the answer (a bound short of the ttl would null it).
@example(
    customers=[{"customer_id": 1, "ts": BASE, "created_at": None, "spend": 1.25, "orders": 1, "segment": "a", "active": True}],
    stores=[], spine=[{"customer_id": 1, "region": "n", "event_timestamp": BASE + timedelta(minutes=4), "label": 1}],
    ttl=timedelta(minutes=5), event_time_only=False, features=["spend"], spine_keys_only=True,
)
@pytest.mark.parametrize("form", ["duckdb", "postgres"])
def test_bounded_scans_over_a_partial_spine_match_reference(
    duckdb_warehouse, form, customers, stores, spine, ttl, event_time_only, features, spine_keys_only
):
    # The bounds on time, and the semi-join on the spine's keys, in the native and the portable form.
    check_against_reference(
        duckdb_warehouse, form, "main", customers, stores, spine, ttl, event_time_only, features, spine_keys_only=spine_keys_only
    )


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_a_view_many_times_the_spines_keys_is_semi_joined_on_them(request, engine):
    # The real decision: the warehouse's estimate of the view's rows (EXPLAIN; PostgreSQL's
    # after ANALYZE) against the spine's distinct keys, from the spine's own facts query.
    warehouse = request.getfixturevalue(f"{engine}_warehouse")
    schema = "main" if engine == "duckdb" else warehouse.target.schema
    view = feature_view("customer_stats", ("customer_id",), {"spend": "double"}, schema, ttl=timedelta(minutes=5))
    rows = [{"customer_id": i % 500, "ts": BASE + timedelta(minutes=i % 7), "created_at": None, "spend": 1.0} for i in range(3000)]
    load_table(warehouse, schema, "customer_stats", pa.Table.from_pylist(rows, CUSTOMER_SCHEMA))
    if engine == "postgres":
        warehouse.execute(f'analyze "{schema}".customer_stats')
    assert warehouse.estimated_rows(f'select * from "{schema}".customer_stats') == 3000
    labels = [{"customer_id": 1, "region": "n", "event_timestamp": BASE + timedelta(minutes=m), "label": 0} for m in (3, 9)]
    for customers, semi_joined in ((1, True), (4, False)):
        spine = [{**row, "customer_id": row["customer_id"] + n} for n in range(customers) for row in labels]
        request_ = TrainingSetRequest(spine=SpineInput(frame=pa.Table.from_pylist(spine, SPINE_SCHEMA)), features=("customer_stats:spend",))
        with pytest.MonkeyPatch.context() as patch:
            # The as-of join: the ttl-window join DuckDB would take here needs no semi-join.
            patch.setattr(scans_module, "ttl_window_pays", lambda view, facts, estimated_rows: False)
            plan = prepare_training_set(request_, catalog_of(view), warehouse)
        bounds = render(plan.expression, warehouse.dialect)
        assert ("EXISTS" in bounds) == semi_joined
        assert "2024-01-01 00:09:00.000001" in bounds and "2023-12-31 23:57:59.999999" in bounds


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(**partial)
def test_postgres_bounded_scans_match_reference(postgres_warehouse, customers, stores, spine, ttl, event_time_only, features, spine_keys_only):
    schema = postgres_warehouse.target.schema
    check_against_reference(
        postgres_warehouse, "postgres", schema, customers, stores, spine, ttl, event_time_only, features,
        spine_keys_only=spine_keys_only,
    )


@pytest.fixture(scope="module")
def spark_warehouse(tmp_path_factory):
    # One session for the module: starting Spark takes seconds, a query a fraction of one.
    # The Spark tests run after test_spark.py's, in the JVM it started (tests/spark_jvm.py).
    with spark(tmp_path_factory.mktemp("spark")) as warehouse:
        yield warehouse


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(**common)
def test_spark_matches_reference(spark_warehouse, customers, stores, spine, ttl, event_time_only, features):
    # Few examples: each costs Spark jobs of about a second; the forms are the portable
    # one that DuckDB runs 150 times above, so this checks Spark's reading of the SQL.
    schema = spark_warehouse.target.schema
    check_against_reference(spark_warehouse, "spark", schema, customers, stores, spine, ttl, event_time_only, features)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(**partial)
def test_spark_bounded_scans_match_reference(spark_warehouse, customers, stores, spine, ttl, event_time_only, features, spine_keys_only):
    # Spark's reading of the bounds and of the correlated EXISTS (a left semi join there).
    schema = spark_warehouse.target.schema
    check_against_reference(
        spark_warehouse, "spark", schema, customers, stores, spine, ttl, event_time_only, features, spine_keys_only=spine_keys_only
    )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(**tied)
def test_ties_break_alike_in_every_form(duckdb_warehouse, postgres_warehouse, customers, stores, spine, ttl, event_time_only, features):
    # The native as-of join, the portable form on DuckDB and on PostgreSQL break ties in SQL
    # of their own (docs/training-sets.md): all three must pick the reference's row.
    check_against_reference(duckdb_warehouse, "duckdb", "main", customers, stores, spine, ttl, event_time_only, features)
    check_against_reference(duckdb_warehouse, "postgres", "main", customers, stores, spine, ttl, event_time_only, features)
    schema = postgres_warehouse.target.schema
    check_against_reference(postgres_warehouse, "postgres", schema, customers, stores, spine, ttl, event_time_only, features)
    # The lateral join breaks them by its ORDER BY: with created_at (event time only) and without.
    for created_at in (True, False):
        check_against_reference(
            postgres_warehouse, "postgres", schema, customers, stores, spine, ttl, event_time_only, features,
            indexed=True, created_at=created_at,
        )


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(**tied)
def test_spark_ties_break_as_the_reference(spark_warehouse, customers, stores, spine, ttl, event_time_only, features):
    # Spark's one-window form (LAST_VALUE ... IGNORE NULLS) sorts the tie-break keys too.
    schema = spark_warehouse.target.schema
    check_against_reference(spark_warehouse, "spark", schema, customers, stores, spine, ttl, event_time_only, features)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=window_cases, created_at=st.booleans(), event_time_only=st.booleans())
def test_spark_aggregation_view_matches_brute_force(spark_warehouse, case, created_at, event_time_only):
    # An aggregation view (tests/window_cases.py: every function, two windows), up to six
    # random cases in one query per example; DuckDB and PostgreSQL run many more examples
    # in test_window_properties.py.
    event_rows, spine_rows = case
    check_windows(spark_warehouse, "spark", spark_warehouse.target.schema, event_rows, spine_rows, created_at, event_time_only)



def test_spark_uploads_a_table_in_a_few_partitions(spark_warehouse):
    # Above `localRelationThreshold` (48 MB), pyspark makes one partition per Arrow batch: a
    # 10M-row spine became 1,058 one-batch tasks in every stage that read it (docs/benchmarks.md,
    # Spark at scale). A low threshold and small batches here stand for a large spine.
    session = spark_warehouse.session
    settings = {"spark.sql.execution.arrow.maxRecordsPerBatch": "100", "spark.sql.execution.arrow.localRelationThreshold": "1k"}
    before = {name: session.conf.get(name) for name in settings}
    for name, value in settings.items():
        session.conf.set(name, value)
    try:
        spark_warehouse.upload_temp_table("fs_upload_check", pa.table({"row": pa.array(range(5000), pa.int64())}))
        frame = session.table("fs_upload_check")
        assert frame.rdd.getNumPartitions() <= 2 * session.sparkContext.defaultParallelism
        assert [row["row"] for row in frame.collect()] == list(range(5000))
    finally:
        for name, value in before.items():
            session.conf.set(name, value)

def check_model_against_reference(warehouse, customers, stores, spine, ttl, event_time_only, features):
    """The training set generated as a dbt model (`--as-model`) over a spine table, compiled
    as dbt compiles it for DuckDB, and its PostgreSQL branch (the portable form) run on
    DuckDB too: both equal the reference."""
    import dataclasses

    import jinja2

    from featurestore.catalog import Relation
    from featurestore.offline.as_model import model_files
    from featurestore.offline.spine import read_spine

    customer_view = feature_view(
        "customer_stats", ("customer_id",), {"spend": "double", "orders": "bigint", "segment": "varchar", "active": "boolean"},
        "main", created_at=True, ttl=ttl,
    )
    store_view = feature_view("store_visits", ("customer_id", "region"), {"visits": "bigint"}, "main", unique=True)
    tables = {"customer_stats": (customers, CUSTOMER_SCHEMA), "store_visits": (stores, STORE_SCHEMA), "labels": (spine, SPINE_SCHEMA)}
    for name, (rows, schema) in tables.items():
        load_table(warehouse, "main", name, pa.Table.from_pylist(rows, schema))
    catalog = dataclasses.replace(catalog_of(customer_view, store_view), relations={"labels": Relation(None, "main", "labels")})
    request = TrainingSetRequest(
        spine=SpineInput(relation="labels"),
        features=(*[f"customer_stats:{f}" for f in features], "store_visits:visits"),
        as_of="event-time" if event_time_only else "knowledge",
    )
    engines = [engine_for_dialect(d) for d in ("duckdb", "postgres")]
    read = read_spine(request.spine, catalog, warehouse.engine, warehouse)
    model = model_files(request, "models/t.sql", read, catalog, warehouse.engine, engines).sql
    expected = reference_training_set(
        spine, "event_timestamp", {"customer_stats": customers, "store_visits": stores},
        catalog.resolve(request.features), event_time_only,
    )
    for adapter in ("duckdb", "postgres"):
        sql = jinja2.Environment().from_string(model).render(
            target={"type": adapter}, config=lambda **_: "", ref=lambda name: f'"main"."{name}"', exceptions={}
        )
        assert warehouse.stream_arrow(sql).read_all().to_pylist() == expected, adapter


# Few examples: the SQL in the model is the one the tests above check at length; these check
# what the model adds (refs, Jinja, the branch dbt picks) over ties, ttl and created_at.
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(**common)
def test_generated_model_matches_reference(duckdb_warehouse, customers, stores, spine, ttl, event_time_only, features):
    check_model_against_reference(duckdb_warehouse, customers, stores, spine, ttl, event_time_only, features)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(**tied)
def test_generated_model_breaks_ties_as_the_reference(duckdb_warehouse, customers, stores, spine, ttl, event_time_only, features):
    check_model_against_reference(duckdb_warehouse, customers, stores, spine, ttl, event_time_only, features)
