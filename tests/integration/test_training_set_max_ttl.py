"""The maximum ttl (36500d) in a training set on DuckDB, with rows and spine timestamps at the
ends of the timestamp range: the interval arithmetic runs past year 1 and is still right."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pytest

from tests.online_fixtures import TINY_COLUMNS, TINY_META, TINY_NOW, TINY_VIEW, online, tiny  # noqa: F401
from tests.conftest import write_manifest_project
from tests.manifests import manifest, model_node

pytestmark = pytest.mark.integration


def at(customer: str, when: datetime, orders: int) -> dict:
    return {"customer_id": customer, "event_timestamp": when, "loaded_at": when, "orders": orders}


def test_the_maximum_ttl_at_the_ends_of_the_timestamp_range(tiny):
    node = model_node(TINY_VIEW, {**TINY_META, "ttl": "36500d"}, list(TINY_COLUMNS), types=TINY_COLUMNS)
    node["database"] = "demo"
    write_manifest_project(tiny.root, manifest(node))
    tiny.set_rows([at("c1", datetime(1, 1, 1), 1), at("c2", datetime(9999, 12, 30), 2)])
    # 36500 days after 0001-01-01 is 0100-12-08 (24 leap days in the century).
    spine = pa.table(
        {
            "customer_id": ["c1", "c1", "c1", "c2"],
            "event_timestamp": pa.array(
                [datetime(1, 1, 1), datetime(100, 12, 8), datetime(100, 12, 8, 0, 0, 1), datetime(9999, 12, 31, 23, 59, 59)],
                pa.timestamp("us"),
            ),
        }
    )
    result = tiny.store(TINY_NOW).training_set(spine, [f"{TINY_VIEW}:orders"]).to_arrow()
    assert result.column("orders").to_pylist() == [1, 1, None, 2]
