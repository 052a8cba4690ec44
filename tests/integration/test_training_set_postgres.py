"""The same training set on DuckDB (native ASOF) and on PostgreSQL (portable form), over the
real demo feature tables copied into a PostgreSQL schema of the test's own: identical frames."""

from __future__ import annotations

import dataclasses

import duckdb
import pyarrow.parquet as pq
import pytest

from featurestore.catalog import Relation
from featurestore.query import render
from featurestore.spine import SpineInput
from featurestore.training_set import TrainingSetRequest, plan_training_set
from featurestore import FeatureStore
from featurestore.warehouse import connect
from tests.pit_fixtures import catalog_of, load_table, postgres

pytestmark = pytest.mark.integration

VIEWS = ["weather_hourly", "carrier_daily", "route_daily"]


def test_duckdb_and_postgres_give_identical_frames(built_project, tmp_path, clean_env):
    store = FeatureStore(project_dir=built_project)
    catalog = store.catalog()
    spine_path = tmp_path / "spine.parquet"
    with duckdb.connect(str(built_project / "feature_store.duckdb"), read_only=True) as con:
        con.execute(
            f"copy (select * from main.flight_delay_labels where flight_id % 97 = 3 order by hash(flight_id)) "
            f"to '{spine_path}' (format parquet)"
        )
        tables = {name: con.sql(f"select * from main.{name}").to_arrow_table() for name in VIEWS}
    features = ("weather_hourly:*", "carrier_daily:*", "route_daily:*")
    for as_of in ("knowledge", "event-time"):
        request = TrainingSetRequest(spine=SpineInput(path=spine_path), features=features, as_of=as_of)
        with connect(store.target) as warehouse:
            plan = plan_training_set(request, catalog, warehouse, "duckdb")
            on_duckdb = warehouse.read_arrow(render(plan.expression, "duckdb"))

        with postgres() as pg:
            schema = pg.target.schema
            try:
                for name, table in tables.items():
                    load_table(pg, schema, name, table)
                moved = catalog_of(
                    *[dataclasses.replace(catalog.view(n), relation=Relation(None, schema, n)) for n in VIEWS]
                )
                pg_plan = plan_training_set(request, moved, pg, "postgres")
                on_postgres = pg.read_arrow(render(pg_plan.expression, "postgres"))
            finally:
                pg.execute(f'drop schema if exists "{schema}" cascade')

        assert on_duckdb.num_rows == pq.read_metadata(spine_path).num_rows > 3000
        assert on_postgres.to_pylist() == on_duckdb.to_pylist()
