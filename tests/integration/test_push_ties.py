"""Pushes of one entity with the same timestamp and knowledge time (issue 20, item 13): the
last push wins in Redis and in the warehouse alike - a later push replaces the earlier
pushed row in the landing table, as it replaces it in Redis - so a sync, a training set
after the next `dbt build` and the online read agree, and the build's uniqueness test holds.
(Tied rows within one push are refused: test_online_push.py. With `created_at` left out and a running clock, each push is known later than the one
before, and wins by the contract's tie rule anyway; with a frozen clock, or a view without
created_at, they tie exactly, which is what is tested here.)"""

from __future__ import annotations

import json
import shutil
import sys
from datetime import datetime

import duckdb
import pytest

from featurestore import FeatureStore
from tests.conftest import run_checked
from tests.integration.test_push_dbt_build import PUSHED  # after the stored row, before now
from tests.integration.test_online_postgres import postgres_project  # noqa: F401
from tests.online_fixtures import TINY_NOW, TINY_VIEW, online, row, tiny  # noqa: F401

pytestmark = pytest.mark.integration


def pushed(orders: int) -> dict:
    return {k: v for k, v in row("c1", 28, orders=orders).items() if k != "loaded_at"}  # created_at: the push's "now"


def landing_orders(database, table: str) -> list[int]:
    with duckdb.connect(str(database), read_only=True) as con:
        return [orders for (orders,) in con.execute(f"select orders from main.{table} order by orders").fetchall()]


def served_orders(store) -> int:
    return store.get_online_features([{"customer_id": "c1"}], [f"{TINY_VIEW}:orders"]).values[0][0]


def test_the_last_of_tied_pushes_wins_in_redis_in_the_landing_table_and_after_a_full_sync(tiny):  # noqa: F811
    tiny.set_rows([row("c1", 20, orders=1)])
    store = tiny.store()  # a frozen clock: every push has the same created_at
    store.sync()
    for orders in (30, 20, 10):
        store.push(TINY_VIEW, [pushed(orders)])
    assert served_orders(store) == 10
    assert landing_orders(tiny.database, f"{TINY_VIEW}__fs_pushed") == [10]
    store.sync(full=True)  # from the warehouse: the view and its landing table
    assert served_orders(store) == 10



def test_tied_pushes_on_postgres(postgres_project, online, postgres_server):  # noqa: F811
    import psycopg

    store = FeatureStore(project_dir=postgres_project)
    store.now = lambda: TINY_NOW  # a frozen clock: every push has the same created_at
    store.sync()
    for orders in (30, 20, 10):
        store.push(TINY_VIEW, [pushed(orders), {**pushed(orders + 1), "customer_id": f"x{orders}"}])
    assert served_orders(store) == 10
    schema = store.catalog().view(TINY_VIEW).relation.schema
    with psycopg.connect(postgres_server.dsn, autocommit=True) as con:
        landed = con.execute(f"select customer_id, orders from {schema}.{TINY_VIEW}__fs_pushed order by 1").fetchall()
    assert landed == [("c1", 10), ("x10", 11), ("x20", 21), ("x30", 31)]  # untied rows stay
    store.sync(full=True)
    assert served_orders(store) == 10 and store.verify_online().mismatches == []


FEATURES = ["carrier_daily:carrier__flights__7d"]


def test_three_tied_pushes_then_a_dbt_build_of_the_landing_union_agree_with_redis(built_project, tmp_path, online):  # noqa: F811
    import pyarrow as pa

    project = tmp_path / "demo"
    shutil.copytree(built_project, project, ignore=shutil.ignore_patterns(".fs"))
    store = FeatureStore(project_dir=project)
    store.sync(views=["carrier_daily"])
    for flights in (4242, 4243, 4241):
        store.push("carrier_daily", [{**PUSHED, "carrier__flights__7d": flights}])
    served = store.get_online_features([{"carrier": "UA"}], FEATURES).values[0][0]
    assert served == 4241

    # The build runs the view's uniqueness test on (carrier, as_of): one pushed row, not three.
    # Two --select options, both built (they accumulate, as dbt's own do).
    build = run_checked(
        [sys.executable, "-m", "featurestore.cli", "build", "--select", "carrier_daily", "--select", "route_daily"], project, here=True
    )
    results = json.loads((project / "target" / "run_results.json").read_text())["results"]
    built = sorted(r["unique_id"] for r in results if r["unique_id"].startswith("model."))
    assert built == ["model.flight_features.carrier_daily", "model.flight_features.route_daily"], build.stdout
    assert all(r["status"] in ("success", "pass") for r in results), results

    after = FeatureStore(project_dir=project)
    spine = pa.table({"carrier": ["UA"], "event_timestamp": [datetime(2013, 12, 31, 0, 20)]})
    assert after.training_set(spine, FEATURES).to_arrow()["carrier__flights__7d"].to_pylist() == [4241]
    after.sync(views=["carrier_daily"], full=True)
    assert after.get_online_features([{"carrier": "UA"}], FEATURES).values[0][0] == 4241
