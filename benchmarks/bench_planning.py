"""CPU of getting a training set ready, short of running it: `prepare_training_set` (read the
spine, check the request, upload it, bound the scans, plan) and rendering the plan, on an
in-memory DuckDB over two small views (the property tests' shapes), per engine form.

    PYTHONPATH=<checkout> python benchmarks/bench_planning.py [rounds]

Run it with PYTHONPATH naming each checkout in turn (main's, a branch's), several times each:
it prints the checkout it imported fs from and the CPU seconds (process_time) per form.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta

import pyarrow as pa

import featurestore
from featurestore.engines.registry import engine_for_dialect
from featurestore.offline.request import SpineInput, TrainingSetRequest
from featurestore.offline.training_set import prepare_training_set
from featurestore.sql.expressions import render
from tests.pit_fixtures import catalog_of, duckdb_memory, feature_view, load_table

BASE = datetime(2024, 1, 1)
CUSTOMERS = pa.schema([("customer_id", pa.int64()), ("ts", pa.timestamp("us")), ("created_at", pa.timestamp("us")),
                       ("spend", pa.float64()), ("orders", pa.int64()), ("segment", pa.string()), ("active", pa.bool_())])
STORES = pa.schema([("customer_id", pa.int64()), ("region", pa.string()), ("ts", pa.timestamp("us")), ("visits", pa.int64())])
SPINE = pa.schema([("customer_id", pa.int64()), ("region", pa.string()), ("event_timestamp", pa.timestamp("us")), ("label", pa.int64())])
FEATURES = {"spend": "double", "orders": "bigint", "segment": "varchar", "active": "boolean"}


def main(rounds: int) -> None:
    customers = [{"customer_id": i % 3, "ts": BASE + timedelta(minutes=i), "created_at": BASE + timedelta(minutes=i + 2),
                  "spend": 1.0, "orders": i, "segment": "a", "active": True} for i in range(20)]
    stores = [{"customer_id": i % 3, "region": "n", "ts": BASE + timedelta(minutes=i), "visits": i} for i in range(10)]
    spine = pa.Table.from_pylist(
        [{"customer_id": i % 4, "region": "n", "event_timestamp": BASE + timedelta(minutes=2 * i), "label": 0} for i in range(15)], SPINE
    )
    cpu: dict[str, list[float]] = {}
    with duckdb_memory() as warehouse:
        load_table(warehouse, "main", "customer_stats", pa.Table.from_pylist(customers, CUSTOMERS))
        load_table(warehouse, "main", "store_visits", pa.Table.from_pylist(stores, STORES))
        for form in ("duckdb", "postgres", "snowflake"):
            engine = engine_for_dialect(form)
            for ttl, event_time_only in ((None, False), (timedelta(minutes=5), True), (timedelta(minutes=12), False)):
                catalog = catalog_of(
                    feature_view("customer_stats", ("customer_id",), FEATURES, "main", created_at=True, ttl=ttl),
                    feature_view("store_visits", ("customer_id", "region"), {"visits": "bigint"}, "main", unique=True),
                )
                request = TrainingSetRequest(
                    spine=SpineInput(frame=spine), features=("customer_stats:spend", "customer_stats:orders", "store_visits:visits"),
                    as_of="event-time" if event_time_only else "knowledge",
                )
                prepare_s, render_s = planning_cpu(request, catalog, warehouse, engine, form, rounds)
                spent = cpu.setdefault(form, [0.0, 0.0])
                spent[0] += prepare_s
                spent[1] += render_s
    print(featurestore.__file__, "; ".join(f"{form}: prepare {p:.2f} s, render {r:.2f} s" for form, (p, r) in cpu.items()))


def planning_cpu(request, catalog, warehouse, engine, form: str, rounds: int) -> tuple[float, float]:
    """CPU seconds of `rounds` plans of `request` and of `rounds` renders of the plan in `form`,
    after one plan to warm up (imports, first queries)."""
    plan = prepare_training_set(request, catalog, warehouse, engine)
    started = time.process_time()
    for _ in range(rounds):
        plan = prepare_training_set(request, catalog, warehouse, engine)
    prepared = time.process_time()
    for _ in range(rounds):
        render(plan.expression, form)
    return prepared - started, time.process_time() - prepared


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
