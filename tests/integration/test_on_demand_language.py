"""Property tests of the on-demand language itself: random well-typed expressions (nested
arithmetic, integer division, casts, null handling, conditionals, time arithmetic) over
random inputs give the same value in a real DuckDB, a real PostgreSQL and fs's in-process
evaluator, or fail in all three (a bigint overflow). The training-set and Redis plumbing
around them is tested by test_on_demand_parity.py."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestore.catalog import OnDemandFeature
from featurestore.catalog.on_demand_sql import check_expression
from featurestore.errors import FeatureStoreError
from featurestore.online.on_demand import compiled_expression
from featurestore.sql.expressions import render
from featurestore.sql.on_demand import RESULT, on_demand_column_expression
from tests.pit_fixtures import duckdb_memory, postgres_warehouse  # noqa: F401

pytestmark = pytest.mark.integration

FEATURES = {"n": "bigint", "x": "double", "flag": "boolean", "tier": "varchar", "at": "timestamp"}
REQUEST = {"r": "bigint", "q": "double", "s": "varchar", "requested_at": "timestamp"}
SCHEMA = pa.schema(
    [("row", pa.int64()), ("n", pa.int64()), ("x", pa.float64()), ("flag", pa.bool_()), ("tier", pa.string()),
     ("at", pa.timestamp("us")), ("r", pa.int64()), ("q", pa.float64()), ("s", pa.string()), ("requested_at", pa.timestamp("us"))]
)


@cache
def leaves(kind: str) -> st.SearchStrategy[str]:
    columns = [f"stats.{name}" for name, t in FEATURES.items() if t == kind] + [n for n, t in REQUEST.items() if t == kind]
    literals = {
        "bigint": st.integers(-9, 9).map(lambda v: f"({v})"),
        "double": st.sampled_from(["2.5", "0.5", "(-1.5)", "0.0", "1e3"]),
        "boolean": st.sampled_from(["true", "false"]),
        "varchar": st.sampled_from(["'a'", "'b'", "''"]),
        "timestamp": st.nothing(),
    }[kind]
    return st.one_of(st.sampled_from(columns), literals, st.just(f"cast(null as {kind})"))


@cache
def expressions(kind: str, depth: int) -> st.SearchStrategy[str]:
    if depth == 0:
        return leaves(kind)
    sub = lambda k: expressions(k, depth - 1)  # noqa: E731
    number = st.one_of(sub("bigint"), sub("double"))
    either = st.sampled_from(["bigint", "double"])
    shared = [
        leaves(kind),
        st.tuples(sub("boolean"), sub(kind), sub(kind)).map(lambda t: f"case when {t[0]} then {t[1]} else {t[2]} end"),
        st.tuples(sub(kind), sub(kind)).map(lambda t: f"coalesce({t[0]}, {t[1]})"),
    ]
    if kind in ("bigint", "double", "varchar", "boolean"):
        shared.append(st.tuples(sub(kind), sub(kind)).map(lambda t: f"nullif({t[0]}, {t[1]})"))
    forms = {
        "bigint": [
            st.tuples(sub("bigint"), sub("bigint")).map(lambda t: f"({t[0]} // {t[1]})"),
            st.tuples(sub("bigint"), sub("bigint")).map(lambda t: f"({t[0]} % {t[1]})"),
            st.tuples(sub("bigint"), st.sampled_from(["+", "-", "*"]), sub("bigint")).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            sub("double").map(lambda e: f"cast({e} as bigint)"),
            sub("bigint").map(lambda e: f"abs({e})"),
            sub("bigint").map(lambda e: f"-({e})"),
        ],
        "double": [
            st.tuples(number, number).map(lambda t: f"({t[0]} / {t[1]})"),
            sub("timestamp").map(lambda e: f"epoch({e})"),
            st.tuples(number, st.sampled_from(["+", "-", "*"]), number).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            number.map(lambda e: f"floor({e})"),
            number.map(lambda e: f"ceil({e})"),
            sub("bigint").map(lambda e: f"cast({e} as double)"),
        ],
        "boolean": [
            st.tuples(number, st.sampled_from(["=", "<>", "<", "<=", ">", ">="]), number).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(sub("timestamp"), st.sampled_from(["=", "<", ">="]), sub("timestamp")).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(sub("varchar"), st.sampled_from(["=", "<>"]), sub("varchar")).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(sub("boolean"), st.sampled_from(["and", "or"]), sub("boolean")).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            sub("boolean").map(lambda e: f"(not {e})"),
            st.tuples(either.flatmap(sub), st.sampled_from(["is null", "is not null"])).map(lambda t: f"({t[0]} {t[1]})"),
        ],
        "varchar": [
            st.tuples(sub("varchar"), sub("varchar")).map(lambda t: f"({t[0]} || {t[1]})"),
            sub("bigint").map(lambda e: f"cast({e} as varchar)"),
        ],
        "timestamp": [
            st.tuples(sub("timestamp"), st.sampled_from(["+", "-"]), st.integers(0, 500), st.sampled_from(["second", "minute", "hour", "day"]))
            .map(lambda t: f"({t[0]} {t[1]} interval {t[2]} {t[3]})"),
            st.tuples(sub("timestamp"), leaves("bigint"), st.sampled_from(["minute", "day"])).map(lambda t: f"({t[0]} + {t[1]} * interval 1 {t[2]})"),
        ],
    }
    # Operators first: one_of leans toward its first strategies.
    return st.one_of(*forms[kind], *shared)


BASE = datetime(2024, 1, 1)
moments = st.integers(0, 30 * 24 * 3600 * 1_000_000).map(lambda us: BASE + timedelta(microseconds=us))
maybe = lambda strategy: st.one_of(st.none(), strategy)  # noqa: E731
input_rows = st.lists(
    st.fixed_dictionaries(
        {
            "n": maybe(st.integers(-9, 9)), "x": maybe(st.sampled_from([-2.5, -0.5, 0.0, 0.5, 1.5, 2.5, 7.25, 1e-3])),
            "flag": maybe(st.booleans()), "tier": maybe(st.sampled_from(["a", "b", ""])), "at": maybe(moments),
            "r": maybe(st.integers(-9, 9)), "q": maybe(st.sampled_from([-1.0, 0.0, 0.5, 3.0])), "s": maybe(st.sampled_from(["a", "b"])),
            "requested_at": maybe(moments),
        }
    ),
    min_size=1,
    max_size=8,
)


def feature_of(sql: str) -> OnDemandFeature:
    def feature_type(view: str, name: str) -> str:
        assert view == "stats"
        return FEATURES[name]

    checked = check_expression(sql, REQUEST, feature_type)
    return OnDemandFeature("f", "g", checked.dtype, "", sql, checked)


def in_warehouse(warehouse, feature: OnDemandFeature, rows: list[dict]) -> list:
    table = pa.Table.from_pylist([{"row": i, **row} for i, row in enumerate(rows)], SCHEMA)
    warehouse.upload_temp_table("inputs", table)
    value = render(on_demand_column_expression(feature, {("stats", name): name for name in FEATURES}), warehouse.dialect)
    try:
        return [row[0] for row in warehouse.fetch_all(f'select {value} from inputs as "{RESULT}" order by "row"')]
    except FeatureStoreError:
        return ["error"]
    finally:
        if warehouse.dialect == "postgres":
            warehouse.execute('drop table "inputs"')


def in_process(feature: OnDemandFeature, rows: list[dict]) -> list:
    evaluate = compiled_expression(feature)
    try:
        return [evaluate({**row, **{("stats", name): row[name] for name in FEATURES}}) for row in rows]
    except (FeatureStoreError, OverflowError):
        return ["error"]


@pytest.fixture(scope="module")
def duckdb_warehouse():
    with duckdb_memory() as warehouse:
        yield warehouse


# Shallow expressions test each construct often, deep ones their combinations.
any_expression = st.tuples(st.sampled_from(["bigint", "double", "boolean", "varchar", "timestamp"]), st.integers(1, 3)).flatmap(
    lambda kind_depth: expressions(*kind_depth)
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(sql=any_expression, rows=input_rows)
def test_duckdb_postgres_and_the_evaluator_agree(duckdb_warehouse, postgres_warehouse, sql, rows):
    feature = feature_of(sql)
    expected = in_process(feature, rows)
    assert in_warehouse(duckdb_warehouse, feature, rows) == expected, sql
    assert in_warehouse(postgres_warehouse, feature, rows) == expected, sql
