"""Property tests of the ttl-window join (sql/ttl_window.py): a view with a ttl joined by a hash
join on its keys within each spine row's ttl window, then the latest row per spine row, gives
exactly the brute-force reference's result (tests/pit_reference.py). The form is forced on
whatever the rule would decide (offline/scans.py `ttl_window_pays`), over the data of
test_training_set_properties.py: ties at one timestamp, created_at after the spine's time,
rows exactly at t and at t - ttl, null and duplicate keys, duplicate spine rows, spines and
views with nothing to match."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from featurestore.offline import scans as scans_module
from tests.integration.test_training_set_properties import (
    BASE,
    check_against_reference,
    common,
    partial,
    tied_customer_rows,
    _customers,
)
from tests.pit_fixtures import duckdb_memory

pytestmark = pytest.mark.integration

TTLS = st.sampled_from([timedelta(minutes=5), timedelta(minutes=12), timedelta(minutes=40)])
# The customer view's rows at whole minutes and ttls of whole minutes: rows land exactly on a
# spine time and exactly on its t - ttl.
windowed = dict(
    common, ttl=TTLS, store_ttl=st.sampled_from([None, timedelta(minutes=3)]), spine_query=st.booleans()
)
tied_in_window = dict(windowed, customers=tied_customer_rows.map(_customers), event_time_only=st.booleans())
partial_in_window = dict(partial, ttl=TTLS)


def _row(minute: int, **values) -> dict:
    base = {"customer_id": 1, "ts": BASE + timedelta(minutes=minute), "created_at": None,
            "spend": None, "orders": None, "segment": None, "active": None}
    return {**base, **values}


def _spine_row(minute: int, customer_id: int | None = 1) -> dict:
    return {"customer_id": customer_id, "region": "n", "event_timestamp": BASE + timedelta(minutes=minute), "label": 0}


@pytest.fixture(scope="module")
def duckdb_warehouse():
    with duckdb_memory() as warehouse:
        yield warehouse


def check_ttl_window(warehouse, customers, stores, spine, ttl, event_time_only, features, store_ttl=None, spine_query=False, spine_keys_only=None):
    """The reference's result from DuckDB's plan with every view that has a ttl joined within
    its ttl windows (asserted on the plan)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scans_module, "ttl_window_pays", lambda view, facts, estimated_rows: True)
        plan = check_against_reference(
            warehouse, "duckdb", "main", customers, stores, spine, ttl, event_time_only, features,
            spine_query=spine_query, spine_keys_only=spine_keys_only, store_ttl=store_ttl,
        )
    windowed_views = {s.view.name for s in plan.selections if s.view.ttl is not None}
    # A spine without a time bounds nothing, and keeps the as-of join (no facts to decide on).
    if any(row["event_timestamp"] is not None for row in spine):
        ranked = {cte.alias for cte in plan.expression.args["with_"].expressions if cte.find(exp.RowNumber)}
        assert ranked >= {f"__fs_v{i}_match" for i, s in enumerate(plan.selections) if s.view.name in windowed_views}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(**windowed)
# A row exactly at t - ttl is fresh, one a microsecond older is not; a row exactly at t counts.
@example(
    customers=[_row(0, spend=1.25), _row(5, customer_id=2, spend=2.0), _row(10, customer_id=2, spend=0.5)],
    stores=[], spine=[_spine_row(5), _spine_row(10, 2), _spine_row(6)],
    ttl=timedelta(minutes=5), event_time_only=False, features=["spend"], store_ttl=None, spine_query=False,
)
# Known only after the spine's time: the older row known in time is the answer.
@example(
    customers=[_row(1, spend=0.5), {**_row(3, spend=2.0), "created_at": BASE + timedelta(minutes=9)}],
    stores=[], spine=[_spine_row(4), _spine_row(4), _spine_row(9), _spine_row(4, None)],
    ttl=timedelta(minutes=5), event_time_only=False, features=["spend", "orders"], store_ttl=None, spine_query=True,
)
# Nothing to match: an empty view and an empty spine.
@example(customers=[], stores=[], spine=[_spine_row(4)], ttl=timedelta(minutes=5), event_time_only=True,
         features=["spend"], store_ttl=timedelta(minutes=3), spine_query=False)
@example(customers=[_row(1, spend=0.5)], stores=[], spine=[], ttl=timedelta(minutes=5), event_time_only=False,
         features=["spend"], store_ttl=None, spine_query=True)
def test_the_ttl_window_join_matches_reference(duckdb_warehouse, customers, stores, spine, ttl, event_time_only, features, store_ttl, spine_query):
    check_ttl_window(duckdb_warehouse, customers, stores, spine, ttl, event_time_only, features, store_ttl, spine_query)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(**tied_in_window)
# Tied at one timestamp: created_at breaks the tie, then the features in declared order, nulls lowest.
@example(
    customers=[
        _row(10, spend=0.5, orders=1), {**_row(10, spend=0.5, orders=0), "created_at": BASE + timedelta(minutes=11)},
        _row(10, spend=None, orders=2), _row(10, spend=1.25, orders=None),
    ],
    stores=[], spine=[_spine_row(10), _spine_row(12)], ttl=timedelta(minutes=5), event_time_only=True,
    features=["orders"], store_ttl=None, spine_query=False,
)
def test_ties_break_in_the_ttl_window_as_in_every_form(duckdb_warehouse, customers, stores, spine, ttl, event_time_only, features, store_ttl, spine_query):
    check_ttl_window(duckdb_warehouse, customers, stores, spine, ttl, event_time_only, features, store_ttl, spine_query)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(**partial_in_window)
def test_the_ttl_window_join_within_bounded_scans_matches_reference(duckdb_warehouse, customers, stores, spine, ttl, event_time_only, features, spine_keys_only):
    # The time bounds and the semi-join on the spine's keys read less; the window join must
    # still find every answer.
    check_ttl_window(duckdb_warehouse, customers, stores, spine, ttl, event_time_only, features, spine_keys_only=spine_keys_only)


def test_the_rule_picks_the_ttl_window_join_for_a_spine_small_beside_the_view(duckdb_warehouse):
    # The real decision: DuckDB's estimate of the view's rows (EXPLAIN) against the spine's
    # rows, from the spine's own facts query; each plan gives the reference's answer.
    customers = [
        _row(i % 12, customer_id=i % 100, spend=float(i % 7), orders=i % 3, created_at=None) for i in range(1200)
    ]
    labels = [_spine_row(m, customer_id=c) for c in (1, 2, None) for m in (4, 11, 40)]
    for spine, windowed in ((labels[:2], True), (labels * 10, False)):
        plan = check_against_reference(
            duckdb_warehouse, "duckdb", "main", customers, [], spine, timedelta(minutes=5), False, ["spend", "orders"]
        )
        assert any(cte.alias == "__fs_v0_match" and cte.find(exp.RowNumber) for cte in plan.expression.args["with_"].expressions) == windowed
