"""What of each view a training set reads, decided from the spine's facts and the views'
estimated rows (featurestore/offline/scans.py); the SQL it gives is checked against the
brute-force reference in tests/integration/test_training_set_properties.py (`*bounded*`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from featurestore.engines.registry import engine_for_dialect
from featurestore.offline.scans import (
    SEMI_JOIN_ROWS_PER_KEY,
    SPARSE_PAIRS_PER_ROW,
    TTL_WINDOW_ROWS_PER_SPINE_ROW,
    SpineFacts,
    choose_scans,
    semi_join_pays,
    ttl_window_pays,
    window_hops_pay,
    window_pairs_pay,
)
from featurestore.sql.expressions import render
from featurestore.sql.scans import ViewScan, scan_condition
from tests.pit_fixtures import feature_view
from tests.window_reference import aggregation_view

EARLIEST, LATEST = datetime(2024, 3, 1), datetime(2024, 3, 31, 12)
WITH_TTL = feature_view("orders", ("customer_id",), {"spend": "double"}, "main", created_at=True, ttl=timedelta(days=7))
NO_TTL = feature_view("visits", ("customer_id", "store_id"), {"visits": "bigint"}, "main")


def test_every_view_is_bounded_above_by_the_latest_spine_time_and_below_only_under_a_ttl():
    facts = SpineFacts(EARLIEST, LATEST, rows=10, distinct={"customer_id": 4, "store_id": 2})
    scans = choose_scans([WITH_TTL, NO_TTL], facts, {})
    assert scans == {
        "orders": ViewScan(earliest=datetime(2024, 2, 23), latest=LATEST),
        "visits": ViewScan(earliest=None, latest=LATEST),
    }


def test_the_semi_join_is_chosen_by_the_spine_keys_against_the_view_estimated_rows():
    assert semi_join_pays(1_000, 1_000 * SEMI_JOIN_ROWS_PER_KEY)
    assert not semi_join_pays(1_001, 1_000 * SEMI_JOIN_ROWS_PER_KEY)
    assert not semi_join_pays(1, None)  # no estimate: no semi-join
    # A composite key: at most the product of its columns' distinct values, at most the rows.
    facts = SpineFacts(EARLIEST, LATEST, rows=10, distinct={"customer_id": 4, "store_id": 2})
    assert facts.distinct_keys(("customer_id", "store_id")) == 8
    assert facts.distinct_keys(("customer_id",)) == 4
    assert SpineFacts(EARLIEST, LATEST, rows=5, distinct={"customer_id": 4, "store_id": 2}).distinct_keys(("customer_id", "store_id")) == 5
    scans = choose_scans([WITH_TTL, NO_TTL], facts, {"orders": 4 * SEMI_JOIN_ROWS_PER_KEY, "visits": 8 * SEMI_JOIN_ROWS_PER_KEY - 1})
    assert scans["orders"].spine_keys_only and not scans["visits"].spine_keys_only


def test_a_spine_without_times_bounds_no_time_and_a_ttl_past_year_one_no_earliest():
    assert choose_scans([WITH_TTL], SpineFacts(None, None, rows=3), {})["orders"] == ViewScan()
    early = SpineFacts(datetime(1, 1, 2), datetime(1, 1, 3), rows=1)
    assert choose_scans([WITH_TTL], early, {})["orders"] == ViewScan(earliest=None, latest=datetime(1, 1, 3))


def test_the_bounds_are_widened_by_a_microsecond_and_cover_the_knowledge_time_under_a_cut_off():
    scan = ViewScan(earliest=datetime(2024, 2, 23), latest=LATEST, spine_keys_only=True)
    duckdb = engine_for_dialect("duckdb")
    sql = render(scan_condition(WITH_TTL, scan, duckdb, knowledge_cut_off=True), "duckdb")
    assert sql == (
        "\"ts\" <= CAST('2024-03-31 12:00:00.000001' AS TIMESTAMP) "
        "AND COALESCE(\"created_at\", \"ts\") <= CAST('2024-03-31 12:00:00.000001' AS TIMESTAMP) "
        "AND \"ts\" >= CAST('2024-02-22 23:59:59.999999' AS TIMESTAMP) "
        'AND EXISTS(SELECT 1 FROM "__fs_spine" AS "__fs_keys" WHERE "__fs_keys"."customer_id" = "__fs_rows"."customer_id")'
    )
    event_time = render(scan_condition(WITH_TTL, ViewScan(latest=LATEST), duckdb, knowledge_cut_off=False), "duckdb")
    assert event_time == "\"ts\" <= CAST('2024-03-31 12:00:00.000001' AS TIMESTAMP)"
    assert scan_condition(WITH_TTL, ViewScan(), duckdb, knowledge_cut_off=True) is None


def test_a_view_with_a_ttl_is_joined_within_its_windows_where_the_spine_is_small_beside_it():
    facts = SpineFacts(EARLIEST, LATEST, rows=1_000, distinct={"customer_id": 400, "store_id": 2})
    big = 1_000 * TTL_WINDOW_ROWS_PER_SPINE_ROW
    assert ttl_window_pays(WITH_TTL, facts, big)
    assert not ttl_window_pays(WITH_TTL, facts, big - 1)
    assert not ttl_window_pays(WITH_TTL, facts, None)  # no estimate: the as-of join
    assert not ttl_window_pays(NO_TTL, facts, big)  # no ttl: no window
    assert not ttl_window_pays(WITH_TTL, SpineFacts(None, None, rows=3), big)  # no spine time
    scans = choose_scans([WITH_TTL, NO_TTL], facts, {"orders": big, "visits": big})
    assert scans["orders"].ttl_window and not scans["visits"].ttl_window


def events_view(*specs: tuple[str | None, str, str]):
    return aggregation_view("events", ("k",), "thing", list(specs), {"x": "double"}, "main", False)


def test_an_aggregation_view_takes_hops_where_an_entity_longest_window_holds_200_events():
    # 100 days of spine over 1,000 keys: a 28-day window holds 28% of an entity's events.
    facts = SpineFacts(datetime(2024, 1, 1), datetime(2024, 4, 10), rows=10_000, distinct={"k": 1_000})
    view = events_view(("x", "sum", "1h"), ("x", "max", "28d"))
    # 1,000 keys x 200 events / 0.28: the threshold, and one event per key fewer.
    assert window_hops_pay(view, facts, round(1_000 * 200 * 100 / 28))
    assert not window_hops_pay(view, facts, round(1_000 * 199 * 100 / 28))
    assert not window_hops_pay(view, facts, None)  # no estimate: frames
    assert not window_hops_pay(view, SpineFacts(None, None, rows=3), 10**9)  # no spine time: frames
    # The longest window of the functions hops compute: stddev's stays on frames.
    assert not window_hops_pay(events_view(("x", "sum", "1h"), ("x", "stddev", "28d")), facts, round(1_000 * 200 * 100 / 28))
    assert not window_hops_pay(events_view(("x", "last", "28d"), ("x", "count_distinct", "28d")), facts, 10**9)


def test_a_spine_at_one_instant_or_shorter_than_the_window_counts_all_of_an_entity_events():
    instant = SpineFacts(datetime(2024, 1, 1), datetime(2024, 1, 1), rows=10, distinct={"k": 10})
    assert window_hops_pay(events_view(("x", "count", "1h")), instant, 2_000)
    assert not window_hops_pay(events_view(("x", "count", "1h")), instant, 1_999)
    week = SpineFacts(datetime(2024, 1, 1), datetime(2024, 1, 8), rows=10, distinct={"k": 10})
    assert window_hops_pay(events_view(("x", "count", "28d")), week, 2_000)


def test_choose_scans_says_which_aggregation_views_take_hops_or_the_range_join():
    # 100 spine rows per key: 10,000 events per key make dense windows and many pairs; 10 few.
    facts = SpineFacts(datetime(2024, 1, 1), datetime(2024, 4, 10), rows=100_000, distinct={"k": 1_000})
    view = events_view(("x", "sum", "28d"))
    dense, sparse = choose_scans([view], facts, {"events": 10**7})["events"], choose_scans([view], facts, {"events": 10**4})["events"]
    assert (dense.window_hops, dense.window_pairs) == (True, False)
    assert (sparse.window_hops, sparse.window_pairs) == (False, True)
    plain = feature_view("events", ("k",), {"x": "double"}, "main")
    assert not choose_scans([plain], facts, {"events": 10})["events"].window_pairs


def test_an_aggregation_view_takes_the_range_join_where_its_pairs_are_few_beside_its_rows():
    # Per entity, not per window: the join's hash probe touches all of an entity's events.
    # 10,000 spine rows over 100 keys: an estimate of E rows makes 10,000 * E / 100 pairs.
    facts = SpineFacts(datetime(2024, 1, 1), datetime(2024, 4, 10), rows=10_000, distinct={"k": 100})
    view = events_view(("x", "sum", "1h"), ("x", "stddev", "28d"), ("x", "count_distinct", "7d"))
    # 100 * E <= 25 * (E + 10,000): E <= 3,333.
    assert SPARSE_PAIRS_PER_ROW == 25
    assert window_pairs_pay(view, facts, 3_333)
    assert not window_pairs_pay(view, facts, 3_334)
    assert not window_pairs_pay(view, facts, None)  # no estimate: frames
    # Three times the spine rows on the same keys: three times the pairs, frames sooner.
    assert not window_pairs_pay(view, SpineFacts(facts.earliest, facts.latest, rows=30_000, distinct={"k": 100}), 3_333)
    # A spine at one instant counts the same: the window's share does not matter.
    instant = SpineFacts(datetime(2024, 1, 1), datetime(2024, 1, 1), rows=10_000, distinct={"k": 100})
    assert window_pairs_pay(view, instant, 3_333)
    assert window_pairs_pay(events_view(("x", "last", "28d")), facts, 1_000)
