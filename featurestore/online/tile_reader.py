"""Reading aggregation features: tiles and edge events combined at the read's instant.

For each aggregation view asked for, one request carries an HMGET of the view's meta hash,
then per entity an HMGET of the tiles wholly inside each window (t - w, t] and a
ZRANGEBYSCORE of the raw events of each window's two edge tiles (featurestore.online.tiles
`read_plan`), then the meta hash again: as for plain views (featurestore.online.reader), a
generation named by both meta reads was whole and not yet retired while the entities were
read, and a generation that moved is read again. One round trip on a single server; on a
Redis Cluster, the cluster client's pipeline sends each node its own commands at once.

Plain views asked for in the same call are read by the plain reader, and the features are
put back in the order asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from featurestore.errors import OnlineStoreError
from featurestore.online import resp
from featurestore.online.cluster import is_cluster
from featurestore.online.codec import DECODERS, ViewSchema
from featurestore.online.connection import online_errors
from featurestore.online.reader import ATTEMPTS, MISSING, PRESENT, OnlineFeatures, OnlineReader, _suffixes
from featurestore.online.state import Meta
from featurestore.online.tile_sync import COLUMN_PREFIX, is_aggregation, untiled_sizes
from featurestore.online.tiles import TileLayout, combine, events_key, micros, read_plan, tiles_key

if TYPE_CHECKING:
    from featurestore.catalog import FeatureSelection


class WindowedReader(OnlineReader):
    """An OnlineReader that also reads aggregation views."""

    def read(self, selections, entity_rows, now):  # type: ignore[override]
        if any(is_aggregation(s.view) for s in selections):
            return read_with_aggregations(self, selections, list(entity_rows), now)
        return super().read(selections, entity_rows, now)


def read_with_aggregations(
    reader: "OnlineReader", selections: Sequence["FeatureSelection"], rows: list[dict[str, Any]], now: datetime
) -> OnlineFeatures:
    """`reader.read` of `selections`, some of them of aggregation views."""
    plain = [s for s in selections if not is_aggregation(s.view)]
    windowed = [s for s in selections if is_aggregation(s.view)]
    parts: dict[str, tuple[list, list, list]] = {}
    never: list[str] = []
    decoders: list[tuple[str, Any]] = []
    if plain:
        found = OnlineReader.read(reader, plain, rows, now)
        at = 0
        for selection in plain:
            width = len(selection.features)
            parts[selection.view.name] = (
                [values[at : at + width] for values in found.values],
                [statuses[at : at + width] for statuses in found.statuses],
                [stamps.get(selection.view.name) for stamps in found.event_timestamps],
            )
            at += width
        never += found.never_synced
        decoders += found.key_decoders
    reads = [_AggregationRead.of(selection, rows) for selection in windowed]
    for read, (values, statuses, stamp, schema) in zip(reads, _read_aggregations(reader, reads, now)):
        parts[read.selection.view.name] = (values, statuses, stamp)
        if schema is None:
            never.append(read.selection.view.name)
        else:
            decoders += [(name, DECODERS[logical]) for name, logical in schema.join_keys]
    values = [[v for s in selections for v in parts[s.view.name][0][i]] for i in range(len(rows))]
    statuses = [[v for s in selections for v in parts[s.view.name][1][i]] for i in range(len(rows))]
    stamps = [{s.view.name: parts[s.view.name][2][i] for s in selections} for i in range(len(rows))]
    return OnlineFeatures(
        [f.ref for s in selections for f in s.features],
        rows, values, statuses, stamps, never_synced=tuple(never), store=reader._shown,
        feature_views=tuple(s.view.name for s in selections for _ in s.features), key_decoders=tuple(dict(decoders).items()),
    )


@dataclass(frozen=True)
class _AggregationRead:
    selection: "FeatureSelection"
    suffixes: list[str | None]
    names: tuple[str, ...]

    @classmethod
    def of(cls, selection: "FeatureSelection", rows: list[dict[str, Any]]) -> "_AggregationRead":
        view = selection.view
        return cls(selection, _suffixes(view.name, view.join_keys, rows), tuple(f.name for f in selection.features))

    def layout(self, schema: ViewSchema) -> TileLayout:
        return TileLayout.of_view(self.selection.view, _column_types(schema), self.names, untiled_sizes(schema))

    def commands(self, base: str, t_us: int, schema: ViewSchema) -> list[list[str]]:
        plan = read_plan(self.layout(schema), t_us)
        commands = []
        for suffix in self.suffixes:
            if suffix is None:
                continue
            if plan.fields:
                commands.append(["HMGET", tiles_key(base, suffix), *plan.fields])
            events = events_key(base, suffix)
            commands += [["ZRANGEBYSCORE", events, f"({low}", str(high)] for low, high in plan.ranges]
        return commands

    def decode(self, replies: list[Any], schema_json: str | None, t_us: int, now: datetime):
        count = len(self.names)
        if schema_json is None:
            return [[None] * count for _ in self.suffixes], [[MISSING] * count for _ in self.suffixes], [None] * len(self.suffixes), None
        schema = _schema(schema_json)
        layout = self.layout(schema)
        plan = read_plan(layout, t_us)
        stored = {name for name, _ in schema.features}
        # A feature the last sync did not know (added since) reads as missing.
        status = [PRESENT if name in stored else MISSING for name in self.names]
        order = [name for name, _, _ in layout.features]
        values, statuses, stamps, at = [], [], [], 0
        per_entity = (1 if plan.fields else 0) + len(plan.ranges)
        for suffix in self.suffixes:
            if suffix is None:
                values.append([None] * count)
                statuses.append([MISSING] * count)
                stamps.append(None)
                continue
            mine, at = replies[at : at + per_entity], at + per_entity
            tiles = mine[0] if plan.fields else []
            computed = dict(zip(order, combine(layout, plan, tiles, mine[1 if plan.fields else 0 :])))
            values.append([computed[name] if s == PRESENT else None for name, s in zip(self.names, status)])
            statuses.append(list(status))
            stamps.append(now)
        return values, statuses, stamps, schema


@lru_cache(maxsize=256)
def _schema(schema_json: str) -> ViewSchema:
    return ViewSchema.from_json(schema_json)


@lru_cache(maxsize=256)
def _column_types(schema: ViewSchema) -> dict[str, str]:
    """Each aggregated column's logical type, as the schema records it."""
    return {name[len(COLUMN_PREFIX):]: logical for name, logical in schema.features if name.startswith(COLUMN_PREFIX)}


def _read_aggregations(reader: "OnlineReader", reads: list[_AggregationRead], now: datetime) -> list[tuple]:
    t_us = micros(now)
    meta = [["HMGET", reader.keyspace.meta_key(r.selection.view.name), Meta.GENERATION, Meta.SCHEMA] for r in reads]
    # The schema of each generation seen (a sync records it once, with the generation): what
    # to ask for depends on it (the tile sizes the sync kept), and it arrives with the replies.
    schemas: dict[tuple[str, Any], str] = reader.__dict__.setdefault("_aggregation_schemas", {})
    for _ in range(ATTEMPTS):
        guessed = [reader._generations.get(r.selection.view.name) for r in reads]
        entity_commands, used = [], []
        for r, generation in zip(reads, guessed):
            known = schemas.get((r.selection.view.name, generation)) if generation is not None else None
            used.append(known)
            base = reader.keyspace.entity_base(r.selection.view.name, int(generation)) if known else None
            entity_commands.append(r.commands(base, t_us, _schema(known)) if base is not None else [])
        replies = _exchange(reader, [*meta, *[c for cs in entity_commands for c in cs], *meta])
        first, last = replies[: len(reads)], replies[-len(reads) :]
        seen = [generation for generation, _ in last]
        reader._generations.update((r.selection.view.name, g) for r, g in zip(reads, seen))
        if len(schemas) > 1024:
            schemas.clear()
        schemas.update(((r.selection.view.name, g), text or "") for r, (g, text) in zip(reads, last) if g is not None)
        # Planned with the schema the generation still has ("": none recorded).
        planned = all(u == (t or "") for u, (g, t) in zip(used, last) if g is not None)
        if planned and [g for g, _ in first] == seen == guessed:
            out, at = [], len(reads)
            for r, commands, (generation, schema_json) in zip(reads, entity_commands, last):
                mine, at = replies[at : at + len(commands)], at + len(commands)
                out.append(r.decode(mine, schema_json if generation is not None else None, t_us, now))
            return out
    raise OnlineStoreError(
        reader.location.shown_url,
        f"the generations of {', '.join(r.selection.view.name for r in reads)} in Redis at "
        f"{reader.location.shown_url} changed during each of {ATTEMPTS} reads in a row",
        "is something running full syncs back to back? Read again once it has finished",
    )


def _exchange(reader: "OnlineReader", commands: list[list[str]]) -> list[Any]:
    """Every command's reply, in one round trip (per node, on a cluster)."""
    if not is_cluster(reader.client):
        return reader._round_trip((b"".join(_encoded(c) for c in commands), len(commands)))
    with online_errors(reader.location, "reading online features"):
        pipe = reader.client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return pipe.execute()


def _encoded(words: list[str]) -> bytes:
    """One command's RESP bytes: its name and key framed each time, the rest (a read's tile
    fields and range bounds, the same for every entity until t crosses a tile edge) once."""
    return resp.command_head(len(words), words[0]) + resp.bulk(words[1]) + _framed(tuple(words[2:]))


@lru_cache(maxsize=1024)
def _framed(words: tuple[str, ...]) -> bytes:
    return b"".join(resp.bulk(word) for word in words)
