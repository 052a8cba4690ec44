"""`fs push` and `FeatureStore.push` on the tiny one-view project, against the real Redis and
DuckDB: pushed rows are served at once, never over newer ones, with the sync's ttl; bad rows
write nothing; syncs before and after a push keep what was pushed."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurestore.errors import EXIT_LOCKED, EXIT_USAGE
from featurestore.online.lock import SyncLock
from tests.online_fixtures import TINY_NOW, TINY_VIEW, online, row, tiny  # noqa: F401

pytestmark = pytest.mark.integration

LANDING = f"{TINY_VIEW}__fs_pushed"


def pushed(customer: str, day: int, **features) -> dict:
    """A row to push: the view's columns without created_at (the push fills in its own)."""
    values = row(customer, day, **features)
    del values["loaded_at"]
    return values


def landing_rows(project) -> list[dict]:
    with duckdb.connect(str(project.database), read_only=True) as con:
        exists = con.execute(f"select count(*) from information_schema.tables where table_name = '{LANDING}'").fetchall()[0][0]
        if not exists:
            return []
        return con.sql(f"select * from main.{LANDING} order by customer_id, event_timestamp").to_arrow_table().to_pylist()


def served(store, customer: str) -> dict:
    found = store.get_online_features([{"customer_id": customer}], [f"{TINY_VIEW}:*"]).to_dict()
    return found


def test_pushed_rows_are_served_at_once_and_land_in_the_warehouse(tiny, online):
    tiny.set_rows([row("c1", 20, orders=3)])
    store = tiny.store()
    store.sync()
    summary = store.push(TINY_VIEW, [pushed("c1", 25, orders=7, tier="silver"), pushed("c2", 26, orders=1)])
    print(summary.to_dict())
    print(served(store, "c1"))
    print(landing_rows(tiny))
