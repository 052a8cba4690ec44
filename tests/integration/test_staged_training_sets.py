"""A training set built in stages (featurestore/offline/stages.py: where its views would not
fit the warehouse's memory limit in one query) has the rows of the one query, in its order,
and of the brute-force reference: on random data with ties, late corrections, ttl edges,
null keys and duplicate spine rows, for any split of the views into stages, over a spine
with its own row numbers or one numbered by its scan; into rows, a file and a table."""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestore.console import Console
from featurestore.offline import stages as stages_module
from featurestore.offline.request import SpineInput, TrainingSetRequest
from featurestore.offline.stages import staged_query
from featurestore.offline.training_set import prepare_training_set, run_training_set
from tests.pit_fixtures import catalog_of, duckdb_memory, feature_view, load_table
from tests.pit_reference import reference_training_set
from tests.integration.test_training_set_properties import (
    BASE, CUSTOMER_SCHEMA, SPINE_SCHEMA, STORE_SCHEMA, _customers, _unique_stores, customer_rows, spine_rows, store_rows,
)

pytestmark = pytest.mark.integration

PLAIN_SCHEMA = pa.schema([("customer_id", pa.int64()), ("ts", pa.timestamp("us")), ("p_spend", pa.float64()), ("p_orders", pa.int64())])
# The property tests' rows (ties, late corrections, null keys, duplicate spine rows); a spine
# of at least one row, which stages need (no rows: nothing to join, one query).
customers_drawn = customer_rows.map(_customers)
stores_drawn = store_rows.map(_unique_stores)
spine_drawn = spine_rows.filter(bool)

FEATURES = ("customer_stats:spend", "customer_stats:orders", "store_visits:visits", "plain_stats:p_orders", "plain_stats:p_spend")


def _plain(customers: list[dict]) -> list[dict]:
    """The customers' rows without created_at, their features renamed."""
    return [{"customer_id": r["customer_id"], "ts": r["ts"], "p_spend": r["spend"], "p_orders": r["orders"]} for r in customers]


def _catalog(warehouse, customers, stores, ttl):
    views = [
        feature_view("customer_stats", ("customer_id",), {"spend": "double", "orders": "bigint"}, "main", created_at=True, ttl=ttl),
        feature_view("store_visits", ("customer_id", "region"), {"visits": "bigint"}, "main", unique=True),
        # The same rows without created_at: ties break on the features.
        feature_view("plain_stats", ("customer_id",), {"p_spend": "double", "p_orders": "bigint"}, "main", ttl=ttl),
    ]
    for name, schema, rows in (("customer_stats", CUSTOMER_SCHEMA, customers), ("store_visits", STORE_SCHEMA, stores),
                               ("plain_stats", PLAIN_SCHEMA, _plain(customers))):
        load_table(warehouse, "main", name, pa.Table.from_pylist(rows, schema))
    return catalog_of(*views)


def _request(warehouse, spine, spine_query, event_time_only, **outputs) -> TrainingSetRequest:
    spine_input = SpineInput(frame=pa.Table.from_pylist(spine, SPINE_SCHEMA))
    if spine_query:
        load_table(warehouse, "main", "labels", pa.Table.from_pylist(spine, SPINE_SCHEMA))
        spine_input = SpineInput(sql='select * from "main".labels')
    return TrainingSetRequest(spine=spine_input, features=FEATURES, as_of="event-time" if event_time_only else "knowledge", **outputs)


@pytest.fixture(scope="module")
def duckdb_warehouse():
    with duckdb_memory() as warehouse:
        yield warehouse


def _stage_tables(warehouse) -> list:
    return warehouse.fetch_all("select table_name from duckdb_tables() where table_name like '__fs_stage%'")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    customers=customers_drawn, stores=stores_drawn, spine=spine_drawn, ttl=st.sampled_from([None, timedelta(minutes=5)]),
    event_time_only=st.booleans(), spine_query=st.booleans(), cuts=st.sets(st.integers(1, 2), min_size=1),
)
def test_any_split_into_stages_gives_the_one_querys_rows_and_the_reference(
    duckdb_warehouse, customers, stores, spine, ttl, event_time_only, spine_query, cuts
):
    warehouse = duckdb_warehouse
    catalog = _catalog(warehouse, customers, stores, ttl)
    request = _request(warehouse, spine, spine_query, event_time_only)
    bounds = [0, *sorted(cuts), 3]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stages_module, "batches", lambda sizes, budget: [range(a, b) for a, b in zip(bounds, bounds[1:])])
        plan = prepare_training_set(request, catalog, warehouse)
    assert plan.staged is not None and len(plan.staged.tables) == len(bounds)  # the spine's table and one per stage
    warehouse.keep_scan_order(plan.spine.row_order is None)
    with staged_query(plan, warehouse) as sql:
        got = warehouse.read_arrow(sql)
    assert _stage_tables(warehouse) == []
    assert got.equals(warehouse.read_arrow(plan.sql()))
    tables = {"customer_stats": customers, "store_visits": stores, "plain_stats": _plain(customers)}
    assert got.to_pylist() == reference_training_set(spine, "event_timestamp", tables, plan.selections, event_time_only)


def test_past_the_memory_limit_every_output_is_built_in_stages_with_the_one_querys_rows(duckdb_warehouse, tmp_path):
    """The decision from the connection's memory limit and the views' estimated rows (a
    tiny share of the limit: one view a stage), through run_training_set: rows, a parquet
    file and a table."""
    warehouse = duckdb_warehouse
    customers = [
        {"customer_id": c, "ts": BASE + timedelta(minutes=m), "created_at": None, "spend": m / 4, "orders": c * m, "segment": None, "active": None}
        for c in (1, 2, 3) for m in (0, 5, 5, 9)  # a tie at minute 5
    ]
    stores = [{"customer_id": c, "region": r, "ts": BASE + timedelta(minutes=c), "visits": c} for c in (1, 2) for r in ("n", "s")]
    spine = [{"customer_id": c, "region": r, "event_timestamp": BASE + timedelta(minutes=m), "label": m % 2}
             for m in (12, 3, 6, 30) for c in (3, 1, None) for r in ("s", "n")]
    catalog = _catalog(warehouse, customers, stores, timedelta(minutes=20))
    one_query = run_training_set(_request(warehouse, spine, False, False), catalog, warehouse, Console(verbose=False))
    assert one_query.table.num_rows == len(spine)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stages_module, "STAGE_SHARE", 1e-9)
        staged = prepare_training_set(_request(warehouse, spine, False, False), catalog, warehouse)
        assert staged.staged is not None and len(staged.staged.tables) == 4
        for outputs in ({}, {"output_path": tmp_path / "staged.parquet"}, {"output_table": "staged_out"}):
            result = run_training_set(_request(warehouse, spine, False, False, **outputs), catalog, warehouse, Console(verbose=False))
            assert result.summary.rows == len(spine)
            if "output_path" in outputs:
                assert pq.read_table(outputs["output_path"]).equals(one_query.table)
            elif "output_table" in outputs:
                assert warehouse.read_arrow('select * from "main".staged_out').equals(one_query.table)
            else:
                assert result.table.equals(one_query.table)
            assert _stage_tables(warehouse) == []
    tables = {"customer_stats": customers, "store_visits": stores, "plain_stats": _plain(customers)}
    assert one_query.table.to_pylist() == reference_training_set(spine, "event_timestamp", tables, staged.selections)


def test_duckdb_reports_its_memory_limit(duckdb_warehouse):
    warehouse = duckdb_warehouse
    for setting, expected in (("2GB", 1.8 * 2**30), ("500MB", 476.8 * 2**20), ("64MiB", 64 * 2**20)):
        warehouse.execute(f"set memory_limit = '{setting}'")
        assert warehouse.memory_limit() == int(expected)
    warehouse.execute("reset memory_limit")


def test_a_failed_stage_drops_only_the_temporary_tables_it_made(duckdb_warehouse):
    """A stage that fails leaves behind no temporary table, and a table of the user's named
    like a stage not yet made is not dropped in its place (DROP TABLE IF EXISTS of a
    temporary table's name falls through to main's table of that name)."""
    warehouse = duckdb_warehouse
    customers = [
        {"customer_id": 1, "ts": BASE, "created_at": None, "spend": 1.0, "orders": 1, "segment": None, "active": None}
    ]
    stores = [{"customer_id": 1, "region": "n", "ts": BASE, "visits": 1}]
    spine = [{"customer_id": 1, "region": "n", "event_timestamp": BASE + timedelta(minutes=1), "label": 0}]
    catalog = _catalog(warehouse, customers, stores, timedelta(minutes=20))
    warehouse.execute('create or replace table "main".__fs_stage_1 as select 42 as kept')
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stages_module, "batches", lambda sizes, budget: [range(i, i + 1) for i in range(len(sizes))])
        plan = prepare_training_set(_request(warehouse, spine, False, False), catalog, warehouse)
    assert plan.staged is not None and len(plan.staged.tables) == 4
    warehouse.execute('drop table "main".store_visits')  # the second stage's view: it fails
    try:
        with pytest.raises(Exception):
            with staged_query(plan, warehouse):
                pass
        assert warehouse.fetch_all('select kept from "main".__fs_stage_1') == [(42,)]
        assert warehouse.fetch_all("select table_name from duckdb_tables() where temporary") == []
    finally:
        warehouse.execute('drop table if exists "main".__fs_stage_1')


def test_a_stage_table_left_on_the_connection_does_not_fail_the_next_staged_run(duckdb_warehouse):
    """A temporary table a failed run could not drop (its drop failed too: the connection
    keeps it) is replaced by the next staged run on the same connection, as the Python API's
    long-lived FeatureStore would make it, instead of failing it with "already exists"."""
    warehouse = duckdb_warehouse
    customers = [
        {"customer_id": 1, "ts": BASE, "created_at": None, "spend": 1.0, "orders": 1, "segment": None, "active": None}
    ]
    stores = [{"customer_id": 1, "region": "n", "ts": BASE, "visits": 1}]
    spine = [{"customer_id": 1, "region": "n", "event_timestamp": BASE + timedelta(minutes=1), "label": 0}]
    catalog = _catalog(warehouse, customers, stores, timedelta(minutes=20))
    one_query = run_training_set(_request(warehouse, spine, False, False), catalog, warehouse, Console(verbose=False))
    for left in ("__fs_stage_spine", "__fs_stage_0", "__fs_stage_2"):
        warehouse.execute(f"create temporary table {left} as select 'left behind' as stale")
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(stages_module, "STAGE_SHARE", 1e-9)
            staged = run_training_set(_request(warehouse, spine, False, False), catalog, warehouse, Console(verbose=False))
        assert staged.table.equals(one_query.table)
        assert _stage_tables(warehouse) == []
    finally:
        for left in ("__fs_stage_spine", "__fs_stage_0", "__fs_stage_2"):
            warehouse.execute(f"drop table if exists temp.{left}")


def test_on_demand_features_reading_views_not_asked_for_stay_in_one_query(duckdb_warehouse):
    """A request whose on-demand features read as many view features it does not ask for as
    there are on-demand features (their outputs and the hidden inputs then count the same)
    keeps its on-demand columns: the staged build has no place for them, so it runs one query."""
    import dataclasses

    from featurestore.catalog.model import OnDemandFeature, OnDemandGroup
    from featurestore.catalog.on_demand_sql import check_expression

    warehouse = duckdb_warehouse
    customers = [
        {"customer_id": c, "ts": BASE + timedelta(minutes=m), "created_at": None, "spend": m / 4, "orders": c * m, "segment": None, "active": None}
        for c in (1, 2) for m in (0, 5)
    ]
    stores = [{"customer_id": c, "region": "n", "ts": BASE, "visits": c} for c in (1, 2)]
    spine = [{"customer_id": c, "region": "n", "event_timestamp": BASE + timedelta(minutes=6), "label": 0} for c in (2, 1)]
    catalog = _catalog(warehouse, customers, stores, timedelta(minutes=20))
    checked = check_expression("plain_stats.p_orders * 2", {}, lambda view, name: "bigint")
    doubled = OnDemandFeature("doubled", "derived", checked.dtype, "", "plain_stats.p_orders * 2", checked, ("plain_stats:p_orders",))
    catalog = dataclasses.replace(catalog, on_demand={"derived": OnDemandGroup("derived", "", None, (), (doubled,), "")})
    request = TrainingSetRequest(
        spine=SpineInput(frame=pa.Table.from_pylist(spine, SPINE_SCHEMA)),
        features=("customer_stats:spend", "store_visits:visits", "derived:doubled"),
    )
    one_query = run_training_set(request, catalog, warehouse, Console(verbose=False))
    assert one_query.table.column("doubled").to_pylist() == [20, 10]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stages_module, "STAGE_SHARE", 1e-9)
        staged = run_training_set(request, catalog, warehouse, Console(verbose=False))
    assert staged.table.equals(one_query.table)
