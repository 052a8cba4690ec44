"""Fixtures for online-store tests: the real Redis (tests/servers.py: FS_TEST_REDIS_URL, or the
session's own) under a prefix of each test's own, and a tiny feature store project (a
hand-written manifest over a DuckDB table, no dbt run).

Import the fixtures a test module uses: `from tests.online_fixtures import online, tiny`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from featurestore import FeatureStore
from tests.conftest import write_manifest_project
from tests.manifests import manifest, model_node

# The tiny project's view: every type the online store holds, a created_at and a ttl.
TINY_VIEW = "customer_stats"
TINY_COLUMNS = {
    "customer_id": "varchar",
    "event_timestamp": "timestamp",
    "loaded_at": "timestamp",
    "orders": "bigint",
    "spend": "double",
    "active": "boolean",
    "tier": "varchar",
    "last_order_at": "timestamp",
}
TINY_META = {
    "entity": "customer",
    "join_keys": ["customer_id"],
    "timestamp": "event_timestamp",
    "created_at": "loaded_at",
    "ttl": "30d",
}
TINY_NOW = datetime(2024, 3, 1, 12, 0)


class Online:
    """The test's own corner of the shared Redis."""

    def __init__(self, url: str, prefix: str):
        self.url = url
        self.prefix = prefix
        self.client = redis.Redis.from_url(url, decode_responses=True)

    def keys(self, pattern: str = "*") -> list[str]:
        return sorted(self.client.scan_iter(match=f"{self.prefix}:{pattern}", count=1000))

    def entity_keys(self, view: str) -> list[str]:
        return [k for k in self.keys(f"{view}:gen*") if ":gen" in k]

    def meta(self, view: str) -> dict[str, str]:
        return self.client.hgetall(f"{self.prefix}:{view}:meta")

    def entity(self, view: str, suffix: str) -> dict[str, str]:
        generation = self.meta(view)["generation"]
        return self.client.hgetall(f"{self.prefix}:{view}:gen{generation}:{suffix}")

    def delete_all(self) -> None:
        keys = list(self.client.scan_iter(match=f"{self.prefix}:*", count=1000))
        if keys:
            self.client.delete(*keys)


@pytest.fixture
def online(clean_env, monkeypatch, redis_url):
    """FS_REDIS_URL and a unique FS_KEY_PREFIX; every key under the prefix is deleted after."""
    area = Online(redis_url, f"fs-test:{uuid.uuid4().hex[:12]}")
    monkeypatch.setenv("FS_REDIS_URL", redis_url)
    monkeypatch.setenv("FS_KEY_PREFIX", area.prefix)
    yield area
    area.delete_all()
    area.client.close()


class TinyProject:
    """A project with one view, `customer_stats`, whose rows live in a DuckDB table."""

    def __init__(self, root: Path):
        self.root = root
        self.database = root / "demo.duckdb"
        self.types = TINY_COLUMNS

    def set_rows(self, rows: list[dict[str, Any]], types: dict[str, str] | None = None) -> None:
        """Replace the view's table with `rows` (columns as in TINY_COLUMNS, or `types`)."""
        import duckdb

        self.types = types or TINY_COLUMNS
        columns = ", ".join(f"{c} {t}" for c, t in self.types.items())
        with duckdb.connect(str(self.database)) as con:
            con.execute(f"create or replace table main.{TINY_VIEW} ({columns})")
        self.add_rows(rows)

    def add_rows(self, rows: list[dict[str, Any]]) -> None:
        import duckdb
        import pyarrow as pa

        if not rows:
            return
        table = pa.Table.from_pylist([{c: row.get(c) for c in self.types} for row in rows])
        with duckdb.connect(str(self.database)) as con:
            con.register("new_rows", table)
            con.execute(f"insert into main.{TINY_VIEW} select {', '.join(self.types)} from new_rows")

    def store(self, now: datetime = TINY_NOW) -> FeatureStore:
        store = FeatureStore(project_dir=self.root)
        store.now = lambda: now  # the project's clock, as feature_store.yml clock.now sets it
        return store


def write_tiny_manifest(root: Path, types: dict[str, str]) -> None:
    node = model_node(TINY_VIEW, TINY_META, list(types), types=types)
    node["database"] = "demo"  # the DuckDB file demo.duckdb is the database "demo"
    write_manifest_project(root, manifest(node))
    (root / "feature_store.yml").write_text(f"clock:\n  now: {TINY_NOW.isoformat()}\n")


@pytest.fixture
def tiny(tmp_path, online) -> TinyProject:
    write_tiny_manifest(tmp_path, TINY_COLUMNS)
    project = TinyProject(tmp_path)
    project.set_rows([])
    return project


def row(customer: str | None, day: int, loaded_hour: int = 6, **features: Any) -> dict[str, Any]:
    """A row of customer_stats for 2024-02-`day`, loaded at `loaded_hour` that day."""
    values = {"orders": 1, "spend": 10.5, "active": True, "tier": "gold", "last_order_at": datetime(2024, 1, 31, 8, 15)}
    values.update(features)
    return {
        "customer_id": customer,
        "event_timestamp": datetime(2024, 2, day),
        "loaded_at": datetime(2024, 2, day, loaded_hour) if loaded_hour is not None else None,
        **values,
    }
