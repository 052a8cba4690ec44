"""An aggregation view for online tests: a hand-written manifest over a DuckDB table of
events (no dbt run), events made by `event`, and the brute-force reference every online
value is held to (window (t - w, t], knowledge time at or before t, nulls ignored;
docs/aggregations.md)."""

from __future__ import annotations

import math
import statistics
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from featurestore import FeatureStore
from tests.conftest import write_manifest_project
from tests.manifests import manifest, model_node

VIEW = "store_events"
TYPES = {"store": "varchar", "ts": "timestamp", "loaded_at": "timestamp", "amount": "bigint", "price": "double", "item": "varchar"}
FUNCTIONS = ["count", "sum", "avg", "min", "max", "stddev", "last"]
AGGREGATIONS = [
    {"column": "amount", "function": FUNCTIONS + ["count_distinct"], "windows": ["5m", "1h", "1d", "3d"]},
    {"column": "price", "function": FUNCTIONS, "windows": ["90m", "2d"]},
    {"column": "item", "function": ["min", "max", "last", "count", "count_distinct"], "windows": ["1h", "1d"]},
    {"column": "*", "function": "count", "windows": ["10m", "1d"]},
]
NOW = datetime(2024, 3, 1, 12, 0)


def write_project(root: Path, aggregations: list[dict] = AGGREGATIONS, now: datetime | None = NOW) -> Path:
    meta = {"entity": "store", "join_keys": ["store"], "timestamp": "ts", "created_at": "loaded_at", "aggregations": aggregations}
    node = model_node(VIEW, meta, list(TYPES), types=TYPES)
    node["database"] = "demo"
    write_manifest_project(root, manifest(node))
    if now is not None:
        (root / "feature_store.yml").write_text(f"clock:\n  now: {now.isoformat()}\n")
    set_events(root, [])
    return root


def set_events(root: Path, events: list[dict[str, Any]]) -> None:
    import duckdb
    import pyarrow as pa

    with duckdb.connect(str(root / "demo.duckdb")) as con:
        con.execute(f"create or replace table main.{VIEW} ({', '.join(f'{c} {t}' for c, t in TYPES.items())})")
        con.execute(f"drop table if exists main.{VIEW}__fs_pushed")
        if events:
            con.register("rows", pa.Table.from_pylist([{c: e.get(c) for c in TYPES} for e in events]))
            con.execute(f"insert into main.{VIEW} select {', '.join(TYPES)} from rows")


def store_at(root: Path, now: datetime) -> FeatureStore:
    store = FeatureStore(project_dir=root)
    store.now = lambda: now  # the project's clock, as clock.now sets it
    return store


def reference(events: list[dict[str, Any]], aggregation, t: datetime) -> Any:
    """One feature at `t`, by brute force over every event."""
    chosen = [e for e in events if t - aggregation.window < e["ts"] <= t and (e["loaded_at"] or e["ts"]) <= t]
    if aggregation.column is None:
        return len(chosen)
    with_value = [e for e in chosen if e[aggregation.column] is not None]
    values = [e[aggregation.column] for e in with_value]
    function = aggregation.function
    if function == "count":
        return len(values)
    if function == "count_distinct":
        return len(set(values))
    if not values:
        return None
    if function == "last":
        return max(with_value, key=lambda e: (e["ts"], e["loaded_at"] or e["ts"], e[aggregation.column]))[aggregation.column]
    if function == "stddev":
        return statistics.stdev(values) if len(values) > 1 else None
    return {"sum": sum, "avg": statistics.fmean, "min": min, "max": max}[function](values)


def same(online: Any, expected: Any) -> bool:
    """Integers and text exactly; floats within a relative 1e-9 (docs/aggregations.md)."""
    if isinstance(expected, float) and isinstance(online, float):
        return math.isclose(online, expected, rel_tol=1e-9, abs_tol=1e-12)
    return type(online) is type(expected) and online == expected


def mismatches(store: FeatureStore, events: list[dict], t: datetime, stores: list[str]) -> list[tuple]:
    view = store.catalog().view(VIEW)
    found = store.get_online_features([{"store": s} for s in stores], [f"{VIEW}:*"])
    wrong = []
    for row, values, statuses in zip(found.entity_rows, found.values, found.statuses):
        mine = [e for e in events if e["store"] == row["store"]]
        for aggregation, value, status in zip(view.aggregations, values, statuses):
            expected = reference(mine, aggregation, t)
            if status != "present" or not same(value, expected):
                wrong.append((t, row["store"], aggregation.name, value, expected))
    return wrong


MINUTE = 60


def event(store: str, seconds_before: int, known_after: int | None, amount, price, item) -> dict:
    ts = NOW - timedelta(seconds=seconds_before)
    return {"store": store, "ts": ts, "loaded_at": None if known_after is None else ts + timedelta(seconds=known_after),
            "amount": amount, "price": price, "item": item}


SOME = [
    event("a", 30, 5, 3, 1.5, "x"),
    event("a", 50 * MINUTE, None, 4, None, "y"),
    event("a", 26 * 3600, 10, -2, 2.25, None),
    event("b", 0, 0, None, 0.5, "z"),
]


def offline_mismatches(store: FeatureStore, root: Path, folded: list[dict], times: list[datetime], stores: list[str]) -> list[tuple]:
    """The training set's value of every feature for each store at each time (fs's offline
    SQL on DuckDB), after `folded` (the pushed events Redis holds) are appended to the view's
    table as the next dbt build would, against what Redis serves at the same instant."""
    import duckdb
    import pyarrow as pa

    if folded:
        with duckdb.connect(str(root / "demo.duckdb")) as con:
            con.register("rows", pa.Table.from_pylist([{c: e.get(c) for c in TYPES} for e in folded]))
            con.execute(f"insert into main.{VIEW} select {', '.join(TYPES)} from rows")
    spine = pa.table({"store": [s for _ in times for s in stores], "event_timestamp": [t for t in times for _ in stores]})
    offline = store.training_set(spine, [f"{VIEW}:*"]).to_arrow().to_pylist()
    names = [a.name for a in store.catalog().view(VIEW).aggregations]
    wrong = []
    for t in times:
        store.now = lambda t=t: t
        found = store.get_online_features([{"store": s} for s in stores], [f"{VIEW}:*"])
        for s, values in zip(stores, found.values):
            row = next(r for r in offline if r["store"] == s and r["event_timestamp"] == t)
            wrong += [(t, s, n, v, row[n]) for n, v in zip(names, values) if not same(v, row[n])]
    return wrong
