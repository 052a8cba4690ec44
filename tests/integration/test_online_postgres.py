"""Sync from the real PostgreSQL: the same layout and values as from DuckDB."""

from __future__ import annotations

import uuid
from datetime import datetime

import psycopg
import pytest

from featurestore import FeatureStore
from tests.conftest import write_manifest_project
from tests.manifests import manifest, model_node
from tests.online_fixtures import TINY_COLUMNS, TINY_META, TINY_NOW, TINY_VIEW, online, row  # noqa: F401

pytestmark = pytest.mark.integration

POSTGRES_TYPES = {"varchar": "varchar", "timestamp": "timestamp", "bigint": "bigint", "double": "double precision", "boolean": "boolean"}


@pytest.fixture
def postgres_project(tmp_path, online, postgres_server):
    pg = postgres_server
    schema = f"fs_online_{uuid.uuid4().hex[:10]}"
    node = model_node(TINY_VIEW, TINY_META, list(TINY_COLUMNS), types=TINY_COLUMNS)
    node["database"], node["schema"] = "test", schema
    profiles = (
        f"demo:\n  target: pg\n  outputs:\n    pg:\n      type: postgres\n      host: '{pg.host}'\n"
        f"      port: {pg.port}\n      user: {pg.user}\n      password: '{pg.password}'\n      dbname: {pg.dbname}\n"
        f"      schema: {schema}\n"
    )
    write_manifest_project(tmp_path, manifest(node, adapter="postgres"), profiles)
    rows = [
        row("c1", 20, orders=1),
        row("c1", 28, orders=5, spend=0.1, active=False, tier=None),
        row("odd:key", 27, orders=2**40, spend=1e-7),
    ]
    columns = ", ".join(f"{name} {POSTGRES_TYPES[kind]}" for name, kind in TINY_COLUMNS.items())
    with psycopg.connect(pg.dsn, autocommit=True) as con:
        con.execute(f"create schema {schema}")
        con.execute(f"create table {schema}.{TINY_VIEW} ({columns})")
        with con.cursor() as cursor:
            cursor.executemany(
                f"insert into {schema}.{TINY_VIEW} values ({', '.join(['%s'] * len(TINY_COLUMNS))})",
                [[r[c] for c in TINY_COLUMNS] for r in rows],
            )
    yield tmp_path
    with psycopg.connect(pg.dsn, autocommit=True) as con:
        con.execute(f"drop schema {schema} cascade")


def test_sync_from_postgres(postgres_project, online):
    store = FeatureStore(project_dir=postgres_project)
    store.now = lambda: TINY_NOW
    summary = store.sync()
    assert (summary.total("rows_read"), summary.total("keys_written")) == (2, 2)
    assert online.entity(TINY_VIEW, "customer_id=c1") == {
        "event_timestamp": "2024-02-28T00:00:00.000000",
        "loaded_at": "2024-02-28T06:00:00.000000",
        "orders": "5",
        "spend": "0.1",
        "active": "false",
        "last_order_at": "2024-01-31T08:15:00.000000",
    }
    read = store.get_online_features([{"customer_id": "odd:key"}], [f"{TINY_VIEW}:orders", f"{TINY_VIEW}:spend"])
    assert read.values == [[2**40, 1e-7]] and read.statuses == [["present", "present"]]
    assert read.event_timestamps == [{TINY_VIEW: datetime(2024, 2, 27)}]
    assert store.sync().views[0].mode == "incremental"
    assert store.verify_online().mismatches == []


def test_push_to_postgres(postgres_project, online, postgres_server):
    store = FeatureStore(project_dir=postgres_project)
    store.now = lambda: TINY_NOW
    store.sync()
    new = {k: v for k, v in row("c1", 29, orders=9).items() if k != "loaded_at"}
    summary = store.push(TINY_VIEW, [new, {**new, "customer_id": "c2"}])
    assert (summary.keys_written, summary.skipped_older) == (2, 0)
    assert store.get_online_features([{"customer_id": "c1"}], [f"{TINY_VIEW}:orders"]).values == [[9]]
    schema = store.catalog().view(TINY_VIEW).relation.schema
    with psycopg.connect(postgres_server.dsn, autocommit=True) as con:
        landed = con.execute(f"select customer_id, orders, loaded_at from {schema}.{TINY_VIEW}__fs_pushed order by 1").fetchall()
    assert landed == [("c1", 9, TINY_NOW), ("c2", 9, TINY_NOW)]
    assert store.sync(full=True).total("keys_written") == 3  # c1 and c2 pushed, odd:key from the view
    assert store.verify_online().mismatches == []
