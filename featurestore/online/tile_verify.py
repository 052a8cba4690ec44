"""`fs verify-online` of an aggregation view: every feature Redis serves at now, against the
same feature computed here from the warehouse's events by brute force (every event of the
window folded one by one, no tiles), so tiles, edges, pushes and expiry are all checked.

The events are those a sync reads (sql.window_events: known at now, inside the longest
window, pushed rows counted once). Integers and text must be equal; avg, stddev and sums of
floats within a relative 1e-9 (docs/aggregations.md: the order of additions differs).
Without a sample, entities Redis holds events of that the warehouse has none of in any
window must read as empty windows (0 or null).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Iterator

from featurestore.catalog import FeatureSelection, FeatureView
from featurestore.online.codec import encode_value, logical_type
from featurestore.online.connection import online_errors
from featurestore.online.keys import entity_suffix, parse_entity_suffix
from featurestore.online.landing import existing_landing
from featurestore.online.state import read_state
from featurestore.online.tiles import (
    COUNTING,
    NUMERIC,
    TileLayout,
    add_value,
    empty_partial,
    finish,
    micros,
    suffix_of,
)
from featurestore.sql.expressions import render
from featurestore.sql.window_events import window_events_expression

if TYPE_CHECKING:
    from featurestore.engines.base import Warehouse
    from featurestore.online.reader import OnlineReader

READ_CHUNK = 500


@dataclass(frozen=True)
class Difference:
    entity: dict[str, Any]
    problem: str
    feature: str | None = None
    online: Any = None
    warehouse: Any = None


def verify_aggregation_view(
    view: FeatureView, warehouse: "Warehouse", reader: "OnlineReader", now: datetime, sample: int | None
) -> tuple[int, list[Difference]]:
    """(entities compared, the differences found)."""
    types = _types(warehouse, view)
    layout = TileLayout.of_view(view, {c: logical_type(types[c]) or "str" for c in view.value_columns})
    longest = timedelta(microseconds=layout.longest_us)
    query = window_events_expression(view, layout.columns, now, longest, pushed=existing_landing(warehouse, view))
    per_entity: dict[tuple, list[tuple[int, str, str, list[Any]]]] = {}
    for row in warehouse.stream_arrow(render(query, warehouse.dialect)).read_all().to_pylist():
        ts = _naive(row[view.timestamp])
        known = _naive(row[view.created_at]) if view.created_at and row[view.created_at] is not None else ts
        values = [_plain(row[c]) for c in layout.columns]
        per_entity.setdefault(tuple(row[k] for k in view.join_keys), []).append(
            (micros(ts), encode_value(ts), encode_value(known), values)
        )
    keys = list(per_entity)
    if sample is not None and len(keys) > sample:
        keys = random.sample(keys, sample)
    selection = FeatureSelection(view, view.features)
    differences: list[Difference] = []
    t_us = micros(now)
    for start in range(0, len(keys), READ_CHUNK):
        chunk = keys[start : start + READ_CHUNK]
        entities = [dict(zip(view.join_keys, key)) for key in chunk]
        served = reader.read([selection], entities, now)
        for entity, key, values in zip(entities, chunk, served.values):
            expected = reference_values(layout, per_entity[key], t_us)
            for (name, _, _), value, wanted in zip(layout.features, values, expected):
                if not same(value, wanted):
                    differences.append(Difference(entity, "different value", name, value, wanted))
    if sample is None:
        seen = {entity_suffix(view.join_keys, list(key)) for key in per_entity}
        differences.extend(_only_online(view, layout, reader, seen, now))
    return len(keys), differences


def reference_values(layout: TileLayout, events: list[tuple[int, str, str, list[Any]]], t_us: int) -> list[Any]:
    """Every feature of `layout` at `t_us` from raw events, folded one by one."""
    results = []
    for _, function, read in layout.features:
        inside = [e for e in events if t_us - read.window_us < e[0] <= t_us]
        if read.column is None:
            results.append(len(inside))
            continue
        values = [(e[1], e[2], e[3][read.column]) for e in inside if e[3][read.column] is not None]
        if read.distinct:
            results.append(len({v for _, _, v in values}))
            continue
        logical = layout.logicals[read.column]
        partial = empty_partial()
        for ts, known, value in values:
            add_value(partial, value, ts, known, logical in NUMERIC)
        results.append(finish(function, partial, logical))
    return results


def same(online: Any, warehouse: Any) -> bool:
    if isinstance(online, float) and isinstance(warehouse, float):
        return math.isclose(online, warehouse, rel_tol=1e-9, abs_tol=1e-12)
    return type(online) is type(warehouse) and online == warehouse


def _only_online(view: FeatureView, layout: TileLayout, reader: "OnlineReader", seen: set[str], now: datetime) -> Iterator[Difference]:
    """Entities Redis holds events of, with no event in the warehouse's windows: each must
    read as empty windows."""
    with online_errors(reader.location, f"listing the keys of view '{view.name}'"):
        generation = read_state(reader.client, reader.keyspace, view.name).generation
        if generation is None:
            return
        base = reader.keyspace.entity_base(view.name, generation)
        extra = []
        for key in reader.client.scan_iter(match=reader.keyspace.entity_pattern(view.name, generation), count=5000):
            suffix = suffix_of(key, base)
            if suffix is not None and suffix not in seen:
                extra.append(parse_entity_suffix(suffix))
    empty = [0 if function in COUNTING else None for _, function, _ in layout.features]
    selection = FeatureSelection(view, view.features)
    for start in range(0, len(extra), READ_CHUNK):
        chunk = extra[start : start + READ_CHUNK]
        served = reader.read([selection], chunk, now)
        for entity, values in zip(chunk, served.values):
            if list(values) != empty:
                yield Difference(entity, "served online, but the warehouse has no event in its windows")


def _types(warehouse: "Warehouse", view: FeatureView) -> dict:
    from featurestore.sql.expressions import columns_probe

    reader = warehouse.stream_arrow(render(columns_probe(view, list(view.columns)), warehouse.dialect))
    reader.read_all()
    return {f.name: f.type for f in reader.schema}


def _naive(value: date) -> datetime:
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day)
    return datetime.fromisoformat(encode_value(value))


def _plain(value: Any) -> Any:
    """A value as the tiles hold it: timestamps and dates as ISO text."""
    if value is None or isinstance(value, (bool, int, float, str, Decimal)):
        return value
    return encode_value(value)
