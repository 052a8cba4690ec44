"""CPU of getting a training set of an aggregation view ready, short of running it, and of
rendering its plan: `prepare_training_set` of every function of the window property tests
(tests/window_cases.py SPECS) on an in-memory DuckDB, per plan: RANGE frames, frames with
the late events of a knowledge cut-off, hop partials, the range join of sparse windows
(the rules that choose hops and pairs are forced here, as the property tests force them).

    PYTHONPATH=<checkout> python benchmarks/bench_window_planning.py [rounds]

Run it with PYTHONPATH naming each checkout in turn (main's, a branch's), several times each:
it prints the checkout it imported fs from and the CPU milliseconds (process_time) per plan.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta

import pyarrow as pa

import featurestore
from featurestore.engines.registry import engine_for_dialect
from featurestore.offline import scans
from featurestore.offline.request import SpineInput, TrainingSetRequest
from benchmarks.bench_planning import planning_cpu
from tests.pit_fixtures import catalog_of, duckdb_memory, load_table
from tests.window_cases import EVENT_SCHEMA, SPECS, SPINE_SCHEMA, TYPES
from tests.window_reference import aggregation_view

BASE = datetime(2024, 1, 1)
PLANS = (  # name, created_at, hops forced, pairs forced
    ("frames", False, False, False),
    ("frames+late", True, False, False),
    ("hops", False, True, False),
    ("pairs", True, False, True),
)


def main(rounds: int) -> None:
    events = [
        {"k": i % 2, "ts": BASE + timedelta(minutes=i), "created_at": BASE + timedelta(minutes=i + 1), "n": i, "x": 1.0, "s": "a"}
        for i in range(12)
    ]
    spine = pa.Table.from_pylist([{"k": i % 2, "t": BASE + timedelta(minutes=2 * i), "label": 0} for i in range(6)], SPINE_SCHEMA)
    engine = engine_for_dialect("duckdb")
    spent = []
    with duckdb_memory() as warehouse:
        load_table(warehouse, "main", "events", pa.Table.from_pylist(events, EVENT_SCHEMA))
        for name, created_at, hops, pairs in PLANS:
            scans.window_hops_pay = lambda view, facts, estimated_rows, hops=hops: hops
            scans.window_pairs_pay = lambda view, facts, estimated_rows, pairs=pairs: pairs
            catalog = catalog_of(aggregation_view("events", ("k",), "thing", SPECS, TYPES, "main", created_at))
            request = TrainingSetRequest(spine=SpineInput(frame=spine, timestamp_column="t"), features=("events:*",), as_of="knowledge")
            prepare_s, render_s = planning_cpu(request, catalog, warehouse, engine, "duckdb", rounds)
            spent.append(f"{name}: prepare {1000 * prepare_s / rounds:.1f} ms, render {1000 * render_s / rounds:.1f} ms")
    print(featurestore.__file__, "; ".join(spent))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
