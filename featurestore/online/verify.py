"""`fs verify-online`: does Redis serve what the warehouse says is the latest value now?

The reference is what a training set at t = now would give: the latest row per entity at the
project's "now" (sql.semantics.latest_values_expression), null past the view's ttl, with the
rows pushed to the view that a dbt build has not folded in yet (as a sync reads them). Every entity of
every online view is read back through the same reader a model service uses and compared value
by value; without `--sample`, keys in Redis for entities the warehouse does not have are
reported too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Callable, Iterator, Sequence

from featurestore.catalog import Catalog, FeatureSelection, FeatureView
from featurestore.engines.base import Warehouse, reading_views
from featurestore.sql.declared_columns import checked_view
from featurestore.errors import MismatchError
from featurestore.online.connection import online_errors
from featurestore.online.keys import entity_suffix, parse_entity_suffix
from featurestore.online.landing import existing_landing
from featurestore.online.reader import EXPIRED, MISSING, PRESENT, OnlineReader
from featurestore.online.state import read_state, scan_entity_keys
from featurestore.online.tile_verify import verify_aggregation_view
from featurestore.sql.expressions import render, sample_expression
from featurestore.sql.semantics import latest_values_expression

READ_CHUNK = 1000  # entities per reader call


@dataclass(frozen=True)
class Mismatch:
    view: str
    entity: dict[str, Any]
    problem: str
    feature: str | None = None
    online: Any = None
    warehouse: Any = None

    def to_dict(self) -> dict:
        def shown(value: Any) -> Any:
            return value.isoformat() if isinstance(value, (datetime, date)) else value

        return {
            "view": self.view,
            "entity": self.entity,
            "problem": self.problem,
            "feature": self.feature,
            "online": shown(self.online),
            "warehouse": shown(self.warehouse),
        }


@dataclass
class VerifyReport:
    now: datetime
    sample: int | None
    checked: dict[str, int] = field(default_factory=dict)
    """Entities compared, per view."""
    mismatches: list[Mismatch] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "now": self.now.isoformat(),
            "sample": self.sample,
            "checked": self.checked,
            "mismatch_count": len(self.mismatches),
            "mismatches": [m.to_dict() for m in self.mismatches],
        }

    def raise_if_mismatched(self) -> None:
        if self.mismatches:
            raise MismatchError(len(self.mismatches), [m.view for m in self.mismatches])


def verify_views(
    catalog: Catalog,
    open_warehouse: Callable[[], Warehouse],
    reader: OnlineReader,
    clock: Callable[[], datetime],
    sample: int | None = None,
) -> VerifyReport:
    """Compare every online view's latest values in the warehouse with what `reader` serves."""
    now = clock()
    report = VerifyReport(now=now, sample=sample)
    with open_warehouse() as warehouse:
        for view in catalog.online_views():
            with reading_views([view]):
                checked_view(view, warehouse)
                _verify_view(view, warehouse, reader, now, sample, report)
    return report


def _verify_view(
    view: FeatureView,
    warehouse: Warehouse,
    reader: OnlineReader,
    now: datetime,
    sample: int | None,
    report: VerifyReport,
) -> None:
    if view.is_aggregation:
        checked, differences = verify_aggregation_view(view, warehouse, reader, now, sample)
        report.checked[view.name] = checked
        report.mismatches.extend(Mismatch(view.name, d.entity, d.problem, d.feature, d.online, d.warehouse) for d in differences)
        return
    selection = FeatureSelection(view, view.features)
    latest = latest_values_expression(view, view.feature_names, now, pushed=existing_landing(warehouse, view))
    if sample is not None:
        latest = sample_expression(latest, sample)
    seen: set[str] = set()
    checked = 0
    for batch in warehouse.stream_arrow(render(latest, warehouse.dialect)):
        rows = [row for row in batch.to_pylist() if all(row[k] is not None for k in view.join_keys)]
        for chunk in _chunks(rows, READ_CHUNK):
            entities = [{k: row[k] for k in view.join_keys} for row in chunk]
            online = reader.read([selection], entities, now)
            for index, row in enumerate(chunk):
                report.mismatches.extend(_compare(view, row, entities[index], online, index, now))
            seen.update(entity_suffix(view.join_keys, [row[k] for k in view.join_keys]) for row in chunk)
            checked += len(chunk)
    report.checked[view.name] = checked
    if sample is None:
        report.mismatches.extend(_only_online(view, selection, reader, seen, now))


def _compare(view: FeatureView, row: dict, entity: dict, online, index: int, now: datetime) -> Iterator[Mismatch]:
    timestamp = _as_timestamp(row[view.timestamp])
    statuses = online.statuses[index]
    served_at = online.event_timestamps[index][view.name]
    served = EXPIRED if EXPIRED in statuses else (PRESENT if served_at is not None else MISSING)
    if view.ttl is not None and now - timestamp > view.ttl:  # timestamp + ttl may pass year 9999
        if served == PRESENT:
            yield Mismatch(view.name, entity, "served online, but past its ttl in the warehouse", None, served_at, timestamp)
        return
    if served != PRESENT:
        yield Mismatch(view.name, entity, f"{served} online", None, None, timestamp)
        return
    if served_at != timestamp:
        yield Mismatch(view.name, entity, "different event timestamp", view.timestamp, served_at, timestamp)
    for feature, value, status in zip(view.features, online.values[index], statuses):
        expected = _as_timestamp(row[feature.name]) if isinstance(row[feature.name], datetime) else row[feature.name]
        if status != PRESENT or not _same(value, expected):
            yield Mismatch(view.name, entity, "different value", feature.name, value, expected)


def _only_online(
    view: FeatureView, selection: FeatureSelection, reader: OnlineReader, seen: set[str], now: datetime
) -> Iterator[Mismatch]:
    """Entities Redis serves for `view` that the warehouse has no row for."""
    keyspace = reader.keyspace
    with online_errors(reader.location, f"listing the keys of view '{view.name}'"):
        generation = read_state(reader.client, keyspace, view.name).generation
        if generation is None:
            return
        base = keyspace.entity_base(view.name, generation)
        extra = [
            parse_entity_suffix(key[len(base):])
            for key in scan_entity_keys(reader.client, keyspace, view.name, generation)
            if key[len(base):] not in seen
        ]
    for chunk in _chunks(extra, READ_CHUNK):
        online = reader.read([selection], chunk, now)
        for index, entity in enumerate(chunk):
            if PRESENT in online.statuses[index]:
                served_at = online.event_timestamps[index][view.name]
                yield Mismatch(view.name, entity, "served online, but the warehouse has no row", None, served_at, None)


def _as_timestamp(value: date) -> datetime:
    """A warehouse timestamp (or date) as the online store returns it: naive UTC."""
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day)
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value


def _same(online: Any, warehouse: Any) -> bool:
    if isinstance(online, float) and isinstance(warehouse, float) and math.isnan(online) and math.isnan(warehouse):
        return True
    return type(online) is type(warehouse) and online == warehouse


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
