"""Brute force for aggregation views: for every spine row, every event of its keys checked
against the window `(t - w, t]` and the knowledge cut-off, then aggregated in Python. What
the SQL plans (sql/windows.py) must equal."""

from __future__ import annotations

import math
import statistics
from datetime import datetime, timedelta
from typing import Any, Sequence

from featurestore.catalog import Feature, FeatureView, Relation, WindowedAggregation
from featurestore.catalog.aggregations import COUNTING, aggregation_dtype, feature_name
from featurestore.catalog.ttl import parse_ttl


def aggregation_view(
    name: str, join_keys: tuple[str, ...], entity: str, specs: Sequence[tuple[str | None, str, str]],
    column_types: dict[str, str], schema: str, created_at: bool,
) -> FeatureView:
    """A view of `specs` (column or None for "*", function, window text) over table schema.name
    with columns join_keys, ts, created_at (if `created_at`) and column_types' columns."""
    aggregations = tuple(
        WindowedAggregation(feature_name(entity, column, function, window), column, function, parse_ttl(window), window)
        for column, function, window in specs
    )
    features = tuple(
        Feature(a.name, name, aggregation_dtype(a.function, column_types.get(a.column or "")), a.name) for a in aggregations
    )
    return FeatureView(
        name=name, description="", entity=entity, join_keys=join_keys, timestamp="ts",
        created_at="created_at" if created_at else None, ttl=None, online=False, owner=None, features=features,
        tags=(), relation=Relation(None, schema, name), yaml_path=f"models/{name}.yml", sql_path="", aggregations=aggregations,
    )


def reference_aggregates(
    view: FeatureView, events: list[dict], spine: list[dict], spine_time: str, event_time_only: bool
) -> list[dict[str, Any]]:
    """Per spine row, in order: {feature name: value}."""
    cut_off = bool(view.created_at) and not event_time_only
    out = []
    for row in spine:
        t = row[spine_time]
        keys = tuple(row[k] for k in view.join_keys)
        values: dict[str, Any] = {}
        for aggregation in view.aggregations:
            if t is None or None in keys:
                values[aggregation.name] = None
                continue
            inside = [
                e for e in events
                if tuple(e[k] for k in view.join_keys) == keys and e["ts"] is not None
                and t - aggregation.window < e["ts"] <= t
                and (not cut_off or _known(view, e) <= t)
            ]
            values[aggregation.name] = _aggregate(view, aggregation, inside)
        out.append(values)
    return out


def _known(view: FeatureView, event: dict) -> datetime:
    return event.get(view.created_at) or event["ts"] if view.created_at else event["ts"]


def _aggregate(view: FeatureView, aggregation: WindowedAggregation, events: list[dict]) -> Any:
    if aggregation.column is None:
        return len(events)
    present = [e for e in events if e[aggregation.column] is not None]
    values = [e[aggregation.column] for e in present]
    function = aggregation.function
    if function == "count":
        return len(values)
    if function in ("count_distinct", "approx_count_distinct"):
        return len(set(values))
    if not values:
        return None
    if function == "sum":
        return sum(values)
    if function == "avg":
        return math.fsum(values) / len(values)
    if function == "stddev":
        return statistics.stdev(values) if len(values) > 1 else None
    if function == "min":
        return min(values)
    if function == "max":
        return max(values)
    if function == "last":
        latest = max(present, key=lambda e: (e["ts"], _known(view, e) if view.created_at else e["ts"], e[aggregation.column]))
        return latest[aggregation.column]
    raise AssertionError(function)


def same(got: Any, expected: Any, dtype: str | None) -> bool:
    """Floats within a relative 1e-9 (docs/aggregations.md: the paths' sums and means may
    differ in their last bits), everything else exactly."""
    if isinstance(got, float) or isinstance(expected, float):
        if got is None or expected is None:
            return got is expected
        return math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12)
    return got == expected


__all__ = ["aggregation_view", "reference_aggregates", "same", "COUNTING", "timedelta"]
