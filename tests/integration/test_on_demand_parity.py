"""Property tests: on-demand features give the same values offline (a training set on a real
DuckDB and a real PostgreSQL) and online (a sync to the real Redis, then
get_online_features computing them in process), on random features and request fields with
nulls, zero divisors, halves to round, negative integer division and time arithmetic."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestore import FeatureStore
from featurestore.catalog import Relation
from featurestore.offline.request import SpineInput, TrainingSetRequest
from featurestore.offline.training_set import prepare_training_set
from tests.conftest import write_manifest_project
from tests.manifests import manifest, model_node, on_demand_exposure
from tests.on_demand_cases import EXPRESSIONS
from tests.online_fixtures import online  # noqa: F401
from tests.pit_fixtures import load_table, postgres_warehouse  # noqa: F401

pytestmark = pytest.mark.integration

NOW = datetime(2024, 3, 1)
VIEW_TYPES = {"customer_id": "varchar", "ts": "timestamp", "n": "bigint", "x": "double", "flag": "boolean", "tier": "varchar", "at": "timestamp"}
VIEW_SCHEMA = pa.schema([("customer_id", pa.string()), ("ts", pa.timestamp("us")), ("n", pa.int64()), ("x", pa.float64()),
                         ("flag", pa.bool_()), ("tier", pa.string()), ("at", pa.timestamp("us"))])
REQUEST = {"r": "bigint", "q": "double", "s": "varchar", "requested_at": "timestamp"}
SPINE_SCHEMA = pa.schema([("customer_id", pa.string()), ("event_timestamp", pa.timestamp("us")), ("r", pa.int64()),
                          ("q", pa.float64()), ("s", pa.string()), ("requested_at", pa.timestamp("us"))])


BASE = datetime(2024, 1, 1)
maybe = lambda strategy: st.one_of(st.none(), strategy)  # noqa: E731
moments = st.integers(0, 10 * 24 * 3600 * 1_000_000).map(lambda us: BASE + timedelta(microseconds=us))
halves = st.sampled_from([-2.5, -1.5, -0.5, 0.0, 0.5, 1.25, 2.5, 3.0, 1e-7, 12345.678])
small = st.integers(-7, 7)
view_rows = st.lists(
    st.fixed_dictionaries(
        {"n": maybe(small), "x": maybe(halves), "flag": maybe(st.booleans()), "tier": maybe(st.sampled_from(["a", "b"])), "at": maybe(moments)}
    ),
    max_size=12,
)
requests = st.lists(
    st.fixed_dictionaries(
        {"r": maybe(small), "q": maybe(st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0, 3.0])), "s": maybe(st.sampled_from(["a", "b", "c"])),
         "requested_at": maybe(moments)}
    ),
    min_size=1,
    max_size=14,
)


def group_exposure() -> dict:
    features = [{"name": name, "sql": sql} for name, sql in EXPRESSIONS.items()]
    return on_demand_exposure("calc", REQUEST, features, ["stats"])


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("on_demand")
    node = model_node("stats", {"entity": "customer", "timestamp": "ts"}, list(VIEW_TYPES), types=VIEW_TYPES)
    node["database"] = "demo"
    write_manifest_project(root, manifest(node, exposures=[group_exposure()]))
    (root / "feature_store.yml").write_text(f"clock:\n  now: {NOW.isoformat()}\n")
    return root


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=view_rows, asked=requests)
def test_offline_on_duckdb_and_postgres_equals_online(project, online, postgres_warehouse, rows, asked):
    # Customer i has row i, if there is one; requests name customers with and without rows.
    view = [{"customer_id": f"c{i}", "ts": BASE - timedelta(days=1), **row} for i, row in enumerate(rows)]
    spine = [{"customer_id": f"c{i}", "event_timestamp": NOW, **request} for i, request in enumerate(asked)]
    with duckdb.connect(str(project / "demo.duckdb")) as con:
        con.register("rows", pa.Table.from_pylist(view, VIEW_SCHEMA))
        con.execute("create or replace table main.stats as select * from rows")
    store = FeatureStore(project_dir=project)
    features = [f"calc:{name}" for name in EXPRESSIONS]

    offline = store.training_set(pa.Table.from_pylist(spine, SPINE_SCHEMA), features).to_arrow().to_pylist()
    offline_duckdb = [[row[name] for name in EXPRESSIONS] for row in offline]

    store.sync(full=True)
    entity_rows = [{k: v for k, v in row.items() if k != "event_timestamp"} for row in spine]
    found = store.get_online_features(entity_rows, features)
    assert found.features == features

    offline_postgres, lateral = _postgres_training_set(store, postgres_warehouse, view, spine, features)
    for number, (duck, pg, pg_lateral, live) in enumerate(zip(offline_duckdb, offline_postgres, lateral, found.values)):
        assert duck == pg == pg_lateral == live, (number, spine[number], view[number] if number < len(view) else None)


def _postgres_training_set(store, warehouse, view_rows, spine, features) -> tuple[list[list], list[list]]:
    """The training set on PostgreSQL in the portable form, then as a lateral join (the
    view's table given the index on (customer_id, ts))."""
    schema = warehouse.target.schema
    load_table(warehouse, schema, "stats", pa.Table.from_pylist(view_rows, VIEW_SCHEMA))
    catalog = store.catalog()
    moved = dataclasses.replace(catalog.views["stats"], relation=Relation(None, schema, "stats"))
    catalog = dataclasses.replace(catalog, views={"stats": moved})
    request = TrainingSetRequest(spine=SpineInput(frame=pa.Table.from_pylist(spine, SPINE_SCHEMA)), features=tuple(features))
    answers = []
    for indexed in (False, True):
        if indexed:
            warehouse.execute(f'create index on "{schema}".stats (customer_id, ts)')
        plan = prepare_training_set(request, catalog, warehouse)
        assert ("LEFT JOIN LATERAL" in plan.sql()) is indexed
        table = warehouse.stream_arrow(plan.sql()).read_all()
        answers.append([[row[name] for name in EXPRESSIONS] for row in table.to_pylist()])
    return answers[0], answers[1]
