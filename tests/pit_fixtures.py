"""Feature views and warehouses for point-in-time tests, without a dbt project."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from featurestore.catalog import Catalog, Entity, Feature, FeatureView, Relation
from featurestore.engines import duckdb as duckdb_engine
from featurestore.engines import postgres as postgres_engine
from featurestore.engines import spark as spark_engine
from featurestore.engines.base import Warehouse
from featurestore.project.profiles import Target
from tests import servers


def feature_view(
    name: str,
    join_keys: tuple[str, ...],
    features: dict[str, str],
    schema: str,
    created_at: bool = False,
    ttl: timedelta | None = None,
    unique: bool = False,
) -> FeatureView:
    return FeatureView(
        name=name,
        description=f"test view {name}",
        entity=name + "_entity",
        join_keys=join_keys,
        timestamp="ts",
        created_at="created_at" if created_at else None,
        ttl=ttl,
        online=True,
        owner=None,
        features=tuple(Feature(f, name, dtype, f"{f} feature") for f, dtype in features.items()),
        tags=(),
        relation=Relation(None, schema, name),
        yaml_path=f"models/{name}.yml",
        sql_path=f"models/{name}.sql",
        rows_unique_by_test=unique,
    )


def catalog_of(*views: FeatureView) -> Catalog:
    return Catalog(
        views={v.name: v for v in views},
        entities={v.entity: Entity(v.entity, v.join_keys, (v.name,)) for v in views},
        services={},
    )


def duckdb_memory() -> Warehouse:
    target = Target(name="test", adapter="duckdb", schema="main", credentials={"path": ":memory:"})
    return duckdb_engine.ENGINE.connect(target, read_only=False)


def postgres(schema: str | None = None) -> Warehouse:
    """The tests' PostgreSQL (tests/servers.py: FS_TEST_PG_DSN, or the session's own)."""
    target = Target(
        name="test",
        adapter="postgres",
        schema=schema or f"fs_test_{uuid.uuid4().hex[:10]}",
        credentials=servers.current().postgres().credentials(),
    )
    return postgres_engine.ENGINE.connect(target, read_only=False)


@pytest.fixture(scope="module")
def postgres_warehouse():
    """A PostgreSQL warehouse for the module, in a schema of its own dropped at the end."""
    with postgres() as warehouse:
        yield warehouse
        warehouse.execute(f'drop schema if exists "{warehouse.target.schema}" cascade')


def spark_settings(folder: Path) -> dict[str, str]:
    """A local Spark session's settings as the demo profile's `spark` target has them, with
    its metastore and tables in `folder`."""
    return {
        "spark.master": "local[2]",
        "spark.sql.warehouse.dir": str(folder / "warehouse"),
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={folder / 'metastore_db'};create=true",
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={folder}",
        "spark.sql.timestampType": "TIMESTAMP_NTZ",
        # Test data is small: a few partitions instead of 200 tasks per shuffle.
        "spark.sql.shuffle.partitions": "2",
    }


def spark(folder: Path, schema: str = "fs_test") -> Warehouse:
    target = Target(
        name="test", adapter="spark", schema=schema,
        credentials={"method": "session", "server_side_parameters": spark_settings(folder)},
    )
    return spark_engine.ENGINE.connect(target, read_only=False)


def load_table(warehouse: Warehouse, schema: str, name: str, table: pa.Table) -> None:
    """Create (or replace) schema.name holding `table`, in any engine."""
    from sqlglot import exp

    def quoted(*parts: str) -> str:
        return ".".join(exp.to_identifier(p, quoted=True).sql(dialect=warehouse.dialect) for p in parts)

    warehouse.execute(f"create schema if not exists {quoted(schema)}")
    warehouse.execute(f"drop table if exists {quoted(schema, name)}")
    staging = f"staging_{name}"
    warehouse.upload_temp_table(staging, table)
    warehouse.execute(f"create table {quoted(schema, name)} as select * from {quoted(staging)}")
    if warehouse.dialect == "postgres":
        warehouse.execute(f"drop table {quoted(staging)}")
