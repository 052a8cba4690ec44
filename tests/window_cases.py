"""Random events and spines for aggregation views, and the check of fs's training set
against the brute force (tests/window_reference.py), shared by the DuckDB, PostgreSQL and
Spark property tests. One query checks many cases at once: every function and window over
events with ties, nulls, late and early knowledge times, and spine rows exactly on both
edges of windows."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
from hypothesis import strategies as st

from featurestore.engines.registry import engine_for_dialect
from featurestore.offline.request import SpineInput, TrainingSetRequest
from featurestore.offline.training_set import prepare_training_set
from featurestore.sql.expressions import render
from tests.pit_fixtures import catalog_of, load_table
from tests.window_reference import aggregation_view, reference_aggregates, same

BASE = datetime(2024, 1, 1)
maybe = lambda strategy: st.one_of(st.none(), strategy)  # noqa: E731
# Whole minutes, or a microsecond either side: windows of 5 and 10 minutes put events
# exactly on, just inside and just outside both edges of many spine rows' windows.
instants = st.tuples(st.integers(0, 30), st.sampled_from([0, 0, 0, 1, -1])).map(
    lambda p: BASE + timedelta(minutes=p[0], microseconds=p[1])
)

SPECS = [
    (None, "count", "5m"), ("n", "count", "10m"), ("n", "sum", "5m"), ("x", "sum", "10m"), ("x", "avg", "10m"),
    ("n", "avg", "5m"), ("x", "stddev", "5m"), ("x", "stddev", "10m"), ("n", "min", "10m"), ("s", "max", "5m"),
    ("x", "min", "5m"), ("s", "last", "5m"), ("n", "last", "10m"), ("s", "count_distinct", "10m"),
    ("n", "count_distinct", "5m"),
]
APPROX = [("n", "approx_count_distinct", "10m")]
TYPES = {"n": "bigint", "x": "double", "s": "varchar"}

EVENT_SCHEMA = pa.schema(
    [("k", pa.int64()), ("ts", pa.timestamp("us")), ("created_at", pa.timestamp("us")),
     ("n", pa.int64()), ("x", pa.float64()), ("s", pa.string())]
)
SPINE_SCHEMA = pa.schema([("k", pa.int64()), ("t", pa.timestamp("us")), ("label", pa.int64())])

events = st.lists(
    st.fixed_dictionaries({
        "k": maybe(st.integers(1, 2)),
        "ts": maybe(instants),
        # Known up to 7 minutes late, 2 early, or when it happened (null).
        "created_at": maybe(st.sampled_from([-2, 0, 1, 3, 7])),
        "n": maybe(st.integers(-3, 3)),
        "x": maybe(st.sampled_from([0.5, 1.25, 2.0, -3.0, 1e6])),
        "s": maybe(st.sampled_from(["a", "b", "c"])),
    }),
    max_size=30,
).map(lambda rows: [
    {**r, "created_at": None if r["created_at"] is None or r["ts"] is None else r["ts"] + timedelta(minutes=r["created_at"])}
    for r in rows
])
spines = st.lists(
    st.fixed_dictionaries({
        "k": maybe(st.integers(1, 3)),
        "t": maybe(st.tuples(st.integers(-2, 42), st.sampled_from([0, 0, 1, -1])).map(
            lambda p: BASE + timedelta(minutes=p[0], microseconds=p[1]))),
        "label": st.integers(0, 1),
    }),
    max_size=25,
)


def check_windows(warehouse, form_dialect: str, schema: str, event_rows, spine_rows, created_at: bool, event_time_only: bool) -> None:
    """fs's training set of every SPECS feature (and APPROX where the engine has one) equals
    the brute force, row by row."""
    engine = engine_for_dialect(form_dialect)
    specs = SPECS + (APPROX if engine.approx_distinct else [])
    view = aggregation_view("events", ("k",), "thing", specs, TYPES, schema, created_at)
    load_table(warehouse, schema, "events", pa.Table.from_pylist(event_rows, EVENT_SCHEMA))
    request = TrainingSetRequest(
        spine=SpineInput(frame=pa.Table.from_pylist(spine_rows, SPINE_SCHEMA), timestamp_column="t"),
        features=("events:*",),
        as_of="event-time" if event_time_only else "knowledge",
    )
    plan = prepare_training_set(request, catalog_of(view), warehouse, engine)
    got = warehouse.stream_arrow(render(plan.expression, warehouse.dialect)).read_all().to_pylist()
    expected = reference_aggregates(view, event_rows, spine_rows, "t", event_time_only)
    assert [(r["k"], r["t"], r["label"]) for r in got] == [(r["k"], r["t"], r["label"]) for r in spine_rows]
    for row, (got_row, wanted) in enumerate(zip(got, expected)):
        for feature in view.features:
            assert same(got_row[feature.name], wanted[feature.name], feature.dtype), (
                f"spine row {row} {spine_rows[row]}: {feature.name} is {got_row[feature.name]!r}, brute force {wanted[feature.name]!r}"
            )


def merged(cases: list[tuple[list[dict], list[dict]]]) -> tuple[list[dict], list[dict]]:
    """Several (events, spine) cases as one: case i's keys moved to 10 * i + k, so one table
    and one query check them all (Spark's jobs cost seconds each, whatever their size)."""
    def moved(row: dict, i: int) -> dict:
        return {**row, "k": None if row["k"] is None else row["k"] + 10 * i}

    return (
        [moved(e, i) for i, (event_rows, _) in enumerate(cases) for e in event_rows],
        [moved(s, i) for i, (_, spine_rows) in enumerate(cases) for s in spine_rows],
    )


many_cases = st.lists(st.tuples(events, spines), min_size=1, max_size=6).map(merged)
