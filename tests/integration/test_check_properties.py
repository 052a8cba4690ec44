"""The `fs check` profile query (sql/checks.py) against a brute-force reference, on random
tables in a real DuckDB: which rows are known at now, which window each falls in, nulls,
the baseline's deciles and the values in each bin, the baseline's top values and the rest."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestore.sql import checks as q
from featurestore.sql.expressions import render
from tests.pit_fixtures import duckdb_memory, feature_view, load_table

pytestmark = pytest.mark.integration

NOW = datetime(2024, 3, 1)
WINDOW, BASELINE = timedelta(days=2), timedelta(days=4)
FEATURES = [q.ProfiledFeature("x", q.NUMERIC), q.ProfiledFeature("c", q.CATEGORICAL), q.ProfiledFeature("b", q.CATEGORICAL)]

rows_strategy = st.lists(
    st.fixed_dictionaries(
        {
            # From before the baseline to after now (rows not known yet), in hours.
            "ts": st.integers(-8 * 24, 24),
            "late": st.none() | st.integers(0, 48),  # created_at, hours after ts
            "x": st.none() | st.integers(-5, 5).map(float) | st.floats(-100, 100, allow_nan=False),
            "c": st.none() | st.sampled_from([f"v{i}" for i in range(14)]),
            "b": st.none() | st.booleans(),
        }
    ),
    max_size=120,
)


@pytest.fixture(scope="module")
def warehouse():
    with duckdb_memory() as warehouse:
        yield warehouse


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_strategy)
def test_the_profile_counts_what_a_brute_force_count_does(warehouse, rows):
    view = feature_view("events", ("id",), {"x": "double", "c": "varchar", "b": "boolean"}, "main", created_at=True)
    table = pa.table(
        {
            "id": pa.array([1] * len(rows), pa.int64()),
            "ts": pa.array([NOW + timedelta(hours=r["ts"]) for r in rows], pa.timestamp("us")),
            "created_at": pa.array([None if r["late"] is None else NOW + timedelta(hours=r["ts"] + r["late"]) for r in rows], pa.timestamp("us")),
            "x": pa.array([r["x"] for r in rows], pa.float64()),
            "c": pa.array([r["c"] for r in rows], pa.string()),
            "b": pa.array([r["b"] for r in rows], pa.bool_()),
        }
    )
    load_table(warehouse, "main", "events", table)
    query = q.check_profile_expression(view, FEATURES, NOW, WINDOW, BASELINE)
    got = warehouse.read_arrow(render(query, "duckdb")).to_pylist()[0]

    known = [r for r in rows if r["ts"] <= 0 and r["ts"] + (r["late"] or 0) <= 0]
    windows = {
        "recent": [r for r in known if r["ts"] > -WINDOW / timedelta(hours=1)],
        "baseline": [r for r in known if -(WINDOW + BASELINE) / timedelta(hours=1) < r["ts"] <= -WINDOW / timedelta(hours=1)],
    }
    assert got[q.newest_column("timestamp")] == (NOW + timedelta(hours=max(r["ts"] for r in known)) if known else None)
    for window, chosen in windows.items():
        assert got[q.rows_column(window)] == len(chosen)
        for index, feature in enumerate(FEATURES):
            assert got[q.nulls_column(index, window)] == sum(r[feature.name] is None for r in chosen)

    base_x = [r["x"] for r in windows["baseline"] if r["x"] is not None]
    edges = [got[q.edge_column(0, e)] for e in range(1, q.BINS)]
    if base_x:
        assert edges == pytest.approx(list(np.percentile(base_x, [10 * e for e in range(1, q.BINS)])))
        for window, chosen in windows.items():
            values = [r["x"] for r in chosen if r["x"] is not None]
            # Bin i holds (edge i, edge i+1]: the number of edges below the value.
            expected = Counter(sum(v > e for e in edges) for v in values)
            assert [got[q.bin_column(0, b, window)] for b in range(q.BINS)] == [expected[b] for b in range(q.BINS)]
    else:
        assert edges == [None] * (q.BINS - 1)

    for index, name in ((1, "c"), (2, "b")):
        text = lambda v: str(v).lower()  # noqa: E731  (booleans travel as 'true'/'false')
        frequency = Counter(text(r[name]) for r in windows["baseline"] if r[name] is not None)
        top = sorted(frequency, key=lambda v: (-frequency[v], v))[: q.TOP_VALUES]
        assert [got[q.top_value_column(index, rank)] for rank in range(1, q.TOP_VALUES + 1)] == top + [None] * (q.TOP_VALUES - len(top))
        for window, chosen in windows.items():
            values = [text(r[name]) for r in chosen if r[name] is not None]
            counts = [got[q.top_count_column(index, rank, window)] for rank in range(1, len(top) + 1)]
            assert counts == [values.count(v) for v in top]
            assert got[q.top_count_column(index, 0, window)] == sum(v not in top for v in values)
