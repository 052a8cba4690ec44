"""On-demand parity at the edges of the types (issue 20, item 8): random expressions of the
language over request and view values at the limits - the bigint minimum and maximum,
doubles past the bigint range, NaN and the infinities, the first and the last microsecond
Python's datetime holds, time given as text with an offset - give the same value in a real
DuckDB, a real PostgreSQL and fs's in-process evaluator, or an error in all three.

The rules they follow (docs/configuration.md, "The on-demand language"): a bigint past 64
bits is an error; a double cast to bigint past 64 bits (the infinities, NaN included) is an
error; NaN equals NaN and sorts above every other double, as the engines order it; a
timestamp +/- interval outside 0001-01-01 .. 9999-12-31 23:59:59.999999 is null; a time
given with an offset is that instant in UTC. One exception, tested as such: a double
arithmetic result past the double range (1e308 * 10) is infinity in DuckDB and online, an
error in PostgreSQL, which refuses it (and an underflow past the smallest double too).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from featurestore.errors import FeatureStoreError
from featurestore.online.on_demand import _request_values, compiled_expression
from featurestore.sql.expressions import render
from featurestore.sql.on_demand import RESULT, on_demand_column_expression
from tests.integration.test_on_demand_language import FEATURES, REQUEST, expressions, feature_of
from tests.pit_fixtures import duckdb_memory, postgres_warehouse  # noqa: F401

pytestmark = pytest.mark.integration

BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
FIRST, LAST = datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999)
SCHEMA = pa.schema(
    [("row", pa.int64()), ("n", pa.int64()), ("x", pa.float64()), ("flag", pa.bool_()), ("tier", pa.string()),
     ("at", pa.timestamp("us")), ("r", pa.int64()), ("q", pa.float64()), ("s", pa.string()), ("requested_at", pa.string())]
)
"""requested_at travels as text, as a JSON request or a CSV spine gives it, offset and all."""

maybe = lambda strategy: st.one_of(st.none(), strategy)  # noqa: E731
bigints = st.one_of(st.sampled_from([BIGINT_MIN, BIGINT_MIN + 1, -1, 0, 1, 2, BIGINT_MAX - 1, BIGINT_MAX]), st.integers(-9, 9))
doubles = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 1.7e308, -1.7e308, 5e-324, -0.0, 0.0, 0.5, 2.5, -2.5,
                     9.2e18, 9.3e18, -9.3e18, -9.223372036854775808e18]),
    st.floats(-10, 10),
)
moments = st.one_of(
    st.sampled_from([FIRST, LAST, datetime(9999, 12, 31), datetime(1, 1, 1, 12), datetime(2024, 1, 1)]),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1)),
)
offsets = st.one_of(st.just(None), st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes))))


@st.composite
def texts_of_moments(draw) -> str:
    """An ISO-8601 text of a moment, with an offset or none; a moment at the ends of the
    range keeps none (with one, its instant in UTC could be past them)."""
    moment, offset = draw(moments), draw(offsets)
    if offset is None or not datetime(1, 1, 2) < moment < datetime(9999, 12, 31):
        return moment.isoformat()
    return moment.replace(tzinfo=timezone.utc).astimezone(offset).isoformat()


input_rows = st.lists(
    st.fixed_dictionaries(
        {
            "n": maybe(bigints), "x": maybe(doubles), "flag": maybe(st.booleans()), "tier": maybe(st.sampled_from(["a", ""])),
            "at": maybe(moments), "r": maybe(bigints), "q": maybe(doubles), "s": maybe(st.sampled_from(["a", "b"])),
            "requested_at": maybe(texts_of_moments()),
        }
    ),
    min_size=1,
    max_size=6,
)

# The edges the red-team run found, and the constructs at the limits, besides random ones.
EDGES = [
    "requested_at + interval 1 day",
    "stats.at - interval 1 second",
    "stats.at + r * interval 1 day",
    "requested_at + stats.n * interval 1 minute",
    "cast(q as bigint)",
    "cast(stats.x * q as bigint)",
    "abs(r)",
    "-(stats.n)",
    "abs(stats.n) + r",
    "stats.x = q",
    "stats.x < q",
    "nullif(stats.x, q)",
    "case when q > stats.x then 'above' when q = stats.x then 'same' else 'below' end",
    "floor(q) + ceil(stats.x)",
    "q / stats.x",
    "epoch(requested_at) - epoch(stats.at)",
    "requested_at >= stats.at",
    "cast(r as double) / 3",
]


def in_warehouse(warehouse, feature, rows: list[dict]) -> list:
    table = pa.Table.from_pylist([{"row": i, **row} for i, row in enumerate(rows)], SCHEMA)
    warehouse.upload_temp_table("inputs", table)
    kinds = {"requested_at": "text"}
    value = render(on_demand_column_expression(feature, {("stats", name): name for name in FEATURES}, kinds), warehouse.dialect)
    try:
        return [_same_nan(row[0]) for row in warehouse.fetch_all(f'select {value} from inputs as "{RESULT}" order by "row"')]
    except FeatureStoreError:
        return ["error"]
    finally:
        if warehouse.dialect == "postgres":
            warehouse.execute('drop table "inputs"')


def in_process(feature, rows: list[dict]) -> list:
    """As get_online_features computes it: request fields coerced as a request's are."""
    evaluate = compiled_expression(feature)
    try:
        requests = _request_values(REQUEST, rows)
        return [
            _same_nan(evaluate({**request, **{("stats", name): row[name] for name in FEATURES}}))
            for row, request in zip(rows, requests)
        ]
    except FeatureStoreError:
        return ["error"]


def _same_nan(value):
    """NaN as a marker that compares equal to itself, so lists of results compare."""
    return "NaN" if isinstance(value, float) and math.isnan(value) else value


def _extreme_doubles(rows: list[dict]) -> bool:
    """Whether a row holds a double whose arithmetic can leave the double range from finite
    operands: PostgreSQL refuses such a result (overflow or underflow), where DuckDB and the
    evaluator give infinity or zero. A product of two or three such operands leaves the range
    from far inside it (1.5e-204 squared underflows), so the bounds are the cube roots of the
    double's range, not the range itself."""
    return any(
        isinstance(v, float) and math.isfinite(v) and (abs(v) >= 1e100 or 0 < abs(v) <= 1e-100)
        for row in rows for v in (row["x"], row["q"])
    )


@pytest.fixture(scope="module")
def duckdb_warehouse():
    with duckdb_memory() as warehouse:
        yield warehouse


any_expression = st.one_of(
    st.sampled_from(EDGES),
    st.tuples(st.sampled_from(["bigint", "double", "boolean", "timestamp"]), st.integers(1, 2)).flatmap(lambda k: expressions(*k)),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(sql=any_expression, rows=input_rows)
@example(sql="requested_at + interval 1 day", rows=[{**dict.fromkeys(FEATURES), "r": None, "q": None, "s": None, "requested_at": "9999-12-31T12:00:00"}])
@example(sql="cast(stats.x * q as bigint)", rows=[{**dict.fromkeys(FEATURES), "x": 1.4692719947637852e-204, "r": None, "q": 1.4692719947637852e-204, "s": None, "requested_at": None}])
@example(sql="cast(q as bigint)", rows=[{**dict.fromkeys(FEATURES), "r": None, "q": math.nan, "s": None, "requested_at": None}])
@example(sql="cast(q as bigint)", rows=[{**dict.fromkeys(FEATURES), "r": None, "q": math.inf, "s": None, "requested_at": None}])
@example(sql="abs(r)", rows=[{**dict.fromkeys(FEATURES), "r": BIGINT_MIN, "q": None, "s": None, "requested_at": None}])
@example(sql="requested_at + interval 1 day", rows=[{**dict.fromkeys(FEATURES), "r": None, "q": None, "s": None, "requested_at": "2024-01-01T02:00:00+02:00"}])
@example(sql="stats.x = q", rows=[{**dict.fromkeys(FEATURES), "x": math.nan, "r": None, "q": math.nan, "s": None, "requested_at": None}])
@example(sql="stats.x < q", rows=[{**dict.fromkeys(FEATURES), "x": math.inf, "r": None, "q": math.nan, "s": None, "requested_at": None}])
@example(sql="nullif(stats.x, q)", rows=[{**dict.fromkeys(FEATURES), "x": math.nan, "r": None, "q": math.nan, "s": None, "requested_at": None}])
@example(sql="stats.at + r * interval 1 day", rows=[{**dict.fromkeys(FEATURES), "at": LAST, "r": BIGINT_MAX, "q": None, "s": None, "requested_at": None}])
def test_the_same_value_or_the_same_error_at_the_limits(duckdb_warehouse, postgres_warehouse, sql, rows):
    feature = feature_of(sql)
    expected = in_process(feature, rows)
    assert in_warehouse(duckdb_warehouse, feature, rows) == expected, sql
    on_postgres = in_warehouse(postgres_warehouse, feature, rows)
    if on_postgres == ["error"] and expected != ["error"]:
        assert _extreme_doubles(rows), (sql, expected)
    else:
        assert on_postgres == expected, sql
