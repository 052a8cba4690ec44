"""Aggregation views in training sets: fs's SQL equals a brute-force range join (Python) on
random events with ties, nulls, empty windows, events exactly on both edges and knowledge
times late and early; on DuckDB and a real PostgreSQL. Spark's examples are in
test_training_set_properties.py, beside its session."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestore.engines.registry import engine_for_dialect
from featurestore.errors import EXIT_USAGE, UsageError
from featurestore.offline.request import SpineInput, TrainingSetRequest
from featurestore.offline import scans
from featurestore.offline.training_set import prepare_training_set
from featurestore.sql import window_hops
from tests.pit_fixtures import catalog_of, duckdb_memory, postgres_warehouse  # noqa: F401
from tests.window_cases import SPINE_SCHEMA, TYPES, check_windows, dense_events, dense_spines, events, spines
from tests.window_reference import aggregation_view

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def duckdb_warehouse():
    with duckdb_memory() as warehouse:
        yield warehouse


def test_duckdb_matches_brute_force(duckdb_warehouse, monkeypatch):
    """Frames and intervals: the range join kept off (the rule would take it for tables this
    small, where every entity has few events)."""
    monkeypatch.setattr(scans, "window_pairs_pay", lambda view, facts, estimated_rows: False)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(event_rows=events, spine_rows=spines, created_at=st.booleans(), event_time_only=st.booleans())
    def check(event_rows, spine_rows, created_at, event_time_only):
        check_windows(duckdb_warehouse, "duckdb", "main", event_rows, spine_rows, created_at, event_time_only)

    check()


@pytest.mark.parametrize("hops", [False, True])
def test_duckdb_range_join_of_sparse_windows_matches_brute_force(duckdb_warehouse, monkeypatch, hops):
    """The range join forced (sql/window_pairs.py), alone or beside hop partials (which keep
    their functions where both pay), with and without a knowledge cut-off."""
    monkeypatch.setattr(scans, "window_pairs_pay", lambda view, facts, estimated_rows: True)
    monkeypatch.setattr(scans, "window_hops_pay", lambda view, facts, estimated_rows: hops)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(event_rows=st.one_of(events, dense_events), spine_rows=st.one_of(spines, dense_spines),
           created_at=st.booleans(), event_time_only=st.booleans())
    def check(event_rows, spine_rows, created_at, event_time_only):
        check_windows(duckdb_warehouse, "duckdb", "main", event_rows, spine_rows, created_at, event_time_only, hops=hops, pairs=True)

    check()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event_rows=events, spine_rows=spines, created_at=st.booleans(), event_time_only=st.booleans())
def test_postgres_matches_brute_force(postgres_warehouse, event_rows, spine_rows, created_at, event_time_only):
    check_windows(postgres_warehouse, "postgres", postgres_warehouse.target.schema, event_rows, spine_rows, created_at, event_time_only)


def test_approx_count_distinct_is_refused_in_one_line_where_the_engine_has_none(duckdb_warehouse):
    view = aggregation_view("events", ("k",), "thing", [("n", "approx_count_distinct", "1h")], TYPES, "main", False)
    request = TrainingSetRequest(spine=SpineInput(frame=pa.Table.from_pylist([], SPINE_SCHEMA), timestamp_column="t"), features=("events:*",))
    with pytest.raises(UsageError) as raised:
        prepare_training_set(request, catalog_of(view), duckdb_warehouse, engine_for_dialect("postgres"))
    assert (raised.value.message, raised.value.exit_code) == (
        "feature events:thing__n_approx_count_distinct__1h uses approx_count_distinct, which postgres has no "
        "function for; declare count_distinct in models/events.yml for this engine",
        EXIT_USAGE,
    )


@pytest.mark.parametrize("hops_per_window", [1, 24])
def test_duckdb_hop_partials_match_brute_force(duckdb_warehouse, monkeypatch, hops_per_window):
    """The hop plan forced (the rule would keep frames for tables this small), with the
    windows' hops (5m, both edges raw for 5m) or 24 to the longest window (25s)."""
    monkeypatch.setattr(scans, "window_hops_pay", lambda view, facts, estimated_rows: True)
    monkeypatch.setattr(scans, "window_pairs_pay", lambda view, facts, estimated_rows: False)
    monkeypatch.setattr(window_hops, "MIN_HOPS_PER_WINDOW", hops_per_window)

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(event_rows=st.one_of(events, dense_events), spine_rows=st.one_of(spines, dense_spines),
           created_at=st.booleans(), event_time_only=st.booleans())
    def check(event_rows, spine_rows, created_at, event_time_only):
        check_windows(duckdb_warehouse, "duckdb", "main", event_rows, spine_rows, created_at, event_time_only, hops=True)

    check()
