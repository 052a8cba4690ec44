"""A brute-force point-in-time join in plain Python: the specification, executable.

For each spine row and view: among rows with the same join keys, timestamp <= t and (unless
event-time only) knowledge time <= t, take the greatest (timestamp, knowledge time, then every
feature of the view in declared order with nulls lowest); null it if it is older than t - ttl. Knowledge time is created_at,
or the timestamp where created_at is null or not declared.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

from featurestore.catalog import FeatureSelection


def _nulls_lowest(value: Any) -> tuple:
    return (value is not None, value)


def reference_training_set(
    spine: list[dict],
    timestamp_column: str,
    tables: dict[str, list[dict]],
    selections: Sequence[FeatureSelection],
    event_time_only: bool = False,
) -> list[dict]:
    out = []
    for row in spine:
        record = dict(row)
        t: datetime | None = row[timestamp_column]
        for selection in selections:
            view = selection.view
            key = tuple(row[k] for k in view.join_keys)
            best = None
            if t is not None and None not in key:
                candidates = []
                for feature_row in tables[view.name]:
                    ts = feature_row[view.timestamp]
                    if ts is None or tuple(feature_row[k] for k in view.join_keys) != key or ts > t:
                        continue
                    known = (feature_row[view.created_at] if view.created_at else None) or ts
                    if view.created_at and not event_time_only and known > t:
                        continue
                    # Ties rank on every feature of the view, whichever were asked for.
                    rank = (ts, known, *[_nulls_lowest(feature_row[f.name]) for f in view.features])
                    candidates.append((rank, feature_row))
                if candidates:
                    best = max(candidates, key=lambda c: c[0])[1]
                if best is not None and view.ttl is not None and best[view.timestamp] < t - view.ttl:
                    best = None
            for feature in selection.features:
                record[feature.name] = None if best is None else best[feature.name]
        out.append(record)
    return out
