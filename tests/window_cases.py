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



def event_lists(times: st.SearchStrategy, keys: int = 2, min_size: int = 0) -> st.SearchStrategy:
    """Lists of events at `times`, of keys 1 to `keys` or null."""
    return st.lists(
        st.fixed_dictionaries({
            "k": maybe(st.integers(1, keys)),
            "ts": maybe(times),
            # Known up to 7 minutes late, 2 early, or when it happened (null).
            "created_at": maybe(st.sampled_from([-2, 0, 1, 3, 7])),
            "n": maybe(st.integers(-3, 3)),
            "x": maybe(st.sampled_from([0.5, 1.25, 2.0, -3.0, 1e6])),
            "s": maybe(st.sampled_from(["a", "b", "c"])),
        }),
        min_size=min_size,
        max_size=30,
    ).map(lambda rows: [
        {**r, "created_at": None if r["created_at"] is None or r["ts"] is None else r["ts"] + timedelta(minutes=r["created_at"])}
        for r in rows
    ])


def spine_lists(first: int, last: int, keys: int = 3, min_size: int = 0, seconds: tuple[int, ...] = (0,)) -> st.SearchStrategy:
    """Lists of spine rows at whole minutes from `first` to `last` (plus one of `seconds`),
    or a microsecond either side, of keys 1 to `keys` or null."""
    return st.lists(
        st.fixed_dictionaries({
            "k": maybe(st.integers(1, keys)),
            "t": maybe(st.tuples(st.integers(first, last), st.sampled_from(seconds), st.sampled_from([0, 0, 1, -1])).map(
                lambda p: BASE + timedelta(minutes=p[0], seconds=p[1], microseconds=p[2]))),
            "label": st.integers(0, 1),
        }),
        min_size=min_size,
        max_size=25,
    )


events = event_lists(instants)
spines = spine_lists(-2, 42)
# Denser: one key over 16 minutes, often on a multiple of 5 and at 25 s steps, a microsecond
# either side as often as on, so events and spine rows share hops (sql/window_hops.py), sit on
# their boundaries (5m hops, 25 s hops) and exactly on, just inside and just outside edges.
dense_instants = st.tuples(
    st.one_of(st.sampled_from([0, 5, 10, 15]), st.integers(0, 15)), st.sampled_from([0, 0, 25, 50, 35]), st.sampled_from([0, 1, -1])
).map(lambda p: BASE + timedelta(minutes=p[0], seconds=p[1], microseconds=p[2]))
dense_events = event_lists(dense_instants, keys=1, min_size=5)
dense_spines = spine_lists(-1, 17, keys=1, min_size=5, seconds=(0, 0, 25, 50))


def check_windows(
    warehouse, form_dialect: str, schema: str, event_rows, spine_rows, created_at: bool, event_time_only: bool, hops: bool = False,
    pairs: bool = False,
) -> None:
    """fs's training set of every SPECS feature (and APPROX where the engine has one) equals
    the brute force, row by row. `hops`: the query has the hop plan (forced by the caller)
    unless a knowledge cut-off keeps the view on frames; `pairs`: the range join (forced too)."""
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
    sql = render(plan.expression, warehouse.dialect)
    # An empty spine is decided on no facts: no plan but the frames.
    assert ("__fs_v0_hops" in sql) == (hops and bool(spine_rows) and not (created_at and not event_time_only))
    assert ("__fs_v0_pairs" in sql) == (pairs and bool(spine_rows))
    got = warehouse.stream_arrow(sql).read_all().to_pylist()
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
