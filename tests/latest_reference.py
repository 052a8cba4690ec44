"""What `featurestore.latest` must return, two ways, for the property tests on each engine:
a brute-force reference written from the contract, and what `fs sync` computes (fs's own
latest-values query, then the sync's null-key and ttl filters). Rows are generated for the
demo's own declarations (route_daily: two keys, created_at, ttl 7d; carrier_daily: one key,
ttl 2d) in a small domain, so that ties, rows at exactly the ttl's boundary and rows known
after `AT` are common.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import strategies as st

from featurestore.catalog import FeatureView, Relation
from featurestore.online.validity import remaining_lifetimes_ms
from featurestore.sql.landing import landing_relation
from featurestore.sql.semantics import latest_values_expression

AT = datetime(2013, 12, 31, 0, 30)  # the demo's clock.now, and its var feature_store_now
MICRO = timedelta(microseconds=1)
SHAPES = ("route_daily", "carrier_daily")
"""The demo views the cases use, and whose landing table exists (route_daily) or not."""
ARROW = {"varchar": pa.string(), "timestamp": pa.timestamp("us"), "bigint": pa.int64(), "double": pa.float64()}


def arrow_schema(view: FeatureView) -> pa.Schema:
    types = dict(view.declared_types)
    return pa.schema([(name, ARROW[types[name]]) for name in view.columns])


def moved(view: FeatureView, database: str | None, schema: str) -> FeatureView:
    """`view` read from another schema (the cases' tables)."""
    return dataclasses.replace(view, relation=Relation(database, schema, view.relation.identifier))


def rows_strategy(view: FeatureView) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Rows of `view` around AT: timestamps at, just before and just after AT and AT - ttl,
    knowledge times before and after AT, few keys and feature values (ties), nulls."""
    ttl = view.ttl or timedelta(days=1)
    times = [AT - ttl - MICRO, AT - ttl, AT - ttl + MICRO, AT - timedelta(hours=1), AT - MICRO, AT, AT + MICRO]
    types = dict(view.declared_types)
    values = {
        "varchar": st.sampled_from(["a", "b"]),
        "bigint": st.sampled_from([1, 2]),
        "double": st.sampled_from([0.5, 1.5]),
        "timestamp": st.sampled_from(times),
    }

    def maybe_null(name: str, null_share: bool = True) -> st.SearchStrategy:
        return st.one_of(st.none(), values[types[name]]) if null_share else values[types[name]]

    row = st.fixed_dictionaries(
        {
            **{k: maybe_null(k) for k in view.join_keys},
            view.timestamp: st.one_of(st.none(), st.sampled_from(times)),
            **({view.created_at: maybe_null(view.created_at)} if view.created_at else {}),
            # Two features vary (ties on timestamp are broken on them); the rest are one value.
            **{f: (maybe_null(f) if i < 2 else st.just(None)) for i, f in enumerate(view.feature_names)},
        }
    )
    return st.lists(row, max_size=12)


def as_table(view: FeatureView, rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=arrow_schema(view))


def brute_force(view: FeatureView, rows: list[dict[str, Any]], at: datetime = AT) -> list[dict[str, Any]]:
    """The contract, row by row: per entity (no key null) the row known at `at` with the
    greatest timestamp, knowledge time, then features in order (a value beats null); none
    where that row is past the ttl (valid while timestamp >= at - ttl)."""

    def known(row: dict) -> datetime:
        return row[view.created_at] if view.created_at and row[view.created_at] is not None else row[view.timestamp]

    def rank(row: dict) -> tuple:
        order = [row[view.timestamp], known(row), *[row[f] for f in view.feature_names]]
        return tuple((value is not None, value) for value in order)

    best: dict[tuple, dict] = {}
    for row in rows:
        key = tuple(row[k] for k in view.join_keys)
        if None in key or row[view.timestamp] is None or row[view.timestamp] > at or known(row) > at:
            continue
        if key not in best or rank(row) > rank(best[key]):
            best[key] = row
    valid = [r for r in best.values() if view.ttl is None or r[view.timestamp] >= at - view.ttl]
    return sorted_rows(view, [{c: r[c] for c in view.columns} for r in valid])


def watermark(view: FeatureView, rows: list[dict[str, Any]], at: datetime = AT) -> datetime | None:
    """Where the next incremental sync starts: the greatest knowledge time of the view's
    rows (not pushed ones) known at `at` with a timestamp at or before it, null keys too."""
    times = [row[view.created_at] if view.created_at and row[view.created_at] is not None else row[view.timestamp] for row in rows]
    return max((known for row, known in zip(rows, times) if row[view.timestamp] is not None and row[view.timestamp] <= at and known <= at), default=None)


def sync_query(view: FeatureView, with_landing: bool, at: datetime = AT, dialect: str | None = None):
    """fs's latest-values query as `fs sync` runs it on the engine of `dialect` (the landing
    table read beside the view; on DuckDB, ranked among each entity's newest rows only), for
    rows that no uniqueness test covers: generated rows tie on (keys, timestamp), which a
    view's passing test would rule out (fs then orders by the timestamp alone, and both
    orders pick the same row). With the watermark, as the sync reads it."""
    from featurestore.engines.registry import engine_for_dialect

    view = dataclasses.replace(view, rows_unique_by_test=False)
    newest_first = dialect is not None and engine_for_dialect(dialect).null_safe_hash_join
    pushed = landing_relation(view) if with_landing else None
    return latest_values_expression(view, view.feature_names, at, with_watermark=True, pushed=pushed, newest_first=newest_first)


def as_sync_writes(view: FeatureView, latest: pa.Table, at: datetime = AT) -> list[dict[str, Any]]:
    """The rows of fs's latest-values query that `fs sync` writes: no null key, not past the
    ttl by the sync's own rule (online/validity.py)."""
    import functools

    rows = latest.filter(functools.reduce(pc.and_, [pc.is_valid(latest[k]) for k in view.join_keys]))
    _, alive = remaining_lifetimes_ms(rows[view.timestamp], view.ttl, at, clock_moves=False)
    if alive is not None:
        rows = rows.filter(alive)
    return sorted_rows(view, rows.select(list(view.columns)).to_pylist())


def sorted_rows(view: FeatureView, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: tuple(str(r[k]) for k in view.join_keys))


def redis_rows(online, view: FeatureView) -> list[dict[str, Any]]:
    """What `fs sync` wrote to Redis for `view` (the test's prefix, the view's current
    generation), read back hash by hash and decoded by the view's declared types."""
    from featurestore.online.keys import parse_entity_suffix

    types = dict(view.declared_types)
    # Redis holds bools as true/false (online/codec.py): plane_daily v2's plane__is_widebody.
    decode = {"varchar": str, "bigint": int, "double": float, "boolean": lambda text: text == "true", "timestamp": datetime.fromisoformat}
    generation = online.meta(view.name)["generation"]
    rows = []
    for key in online.keys(f"{view.name}:gen{generation}:*"):
        stored = online.client.hgetall(key)
        suffix = key.split(f":gen{generation}:", 1)[1]
        row = {k: decode[types[k]](v) for k, v in parse_entity_suffix(suffix).items()}
        row.update({c: decode[types[c]](stored[c]) if c in stored else None for c in view.columns if c not in view.join_keys})
        rows.append(row)
    return sorted_rows(view, rows)
