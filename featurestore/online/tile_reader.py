"""Reading aggregation features: tiles and edge events combined at the read's instant.

For each aggregation view asked for, one request carries an HMGET of the view's meta hash,
then per entity an HMGET of the tiles wholly inside each window (t - w, t] and a
ZRANGEBYSCORE per run of the event ranges the windows read raw (their edge tiles, or all of
a window the view keeps no tiles for; featurestore.online.tile_combine `read_plan`), then the
meta hash again: as for plain views (featurestore.online.reader), a
generation named by both meta reads was whole and not yet retired while the entities were
read, and a generation that moved is read again. One round trip on a single server; on a
Redis Cluster, the cluster client's pipeline sends each node its own commands at once.

Plain views asked for in the same call are read by the plain reader, and the features are
put back in the order asked.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from datetime import datetime
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from featurestore.errors import OnlineStoreError
from featurestore.online import resp
from featurestore.online.cluster import is_cluster
from featurestore.online.codec import ViewSchema
from featurestore.online.connection import online_errors
from featurestore.online.reader import ATTEMPTS, MISSING, PRESENT, OnlineFeatures, OnlineReader
from featurestore.online.request_keys import key_logicals, request_suffixes
from featurestore.online.state import Meta
from featurestore.online.tile_sync import COLUMN_PREFIX, is_aggregation, untiled_sizes
from featurestore.online.tile_combine import ReadPlan, combine, read_plan
from featurestore.online.tiles import TileLayout, events_key, micros, tiles_key

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
    key_types: list[tuple[str, str]] = []
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
        key_types += found.key_types
    reads = [_AggregationRead.of(selection, rows) for selection in windowed]
    for read, (values, statuses, stamp, schema) in zip(reads, _read_aggregations(reader, reads, now)):
        parts[read.selection.view.name] = (values, statuses, stamp)
        if schema is None:
            never.append(read.selection.view.name)
        else:
            key_types += schema.key_types
    if len(selections) == 1:  # the common case: each entity's lists are its own already
        (name,) = parts
        values, statuses, stamps = parts[name][0], parts[name][1], [{name: stamp} for stamp in parts[name][2]]
    else:
        values = [[v for s in selections for v in parts[s.view.name][0][i]] for i in range(len(rows))]
        statuses = [[v for s in selections for v in parts[s.view.name][1][i]] for i in range(len(rows))]
        stamps = [{s.view.name: parts[s.view.name][2][i] for s in selections} for i in range(len(rows))]
    refs, views = _names(reader, selections)
    return OnlineFeatures(
        list(refs), rows, values, statuses, stamps, never_synced=tuple(never), store=reader._shown,
        feature_views=views, key_types=tuple(dict(key_types).items()),
    )


def _names(reader: "OnlineReader", selections: Sequence["FeatureSelection"]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The features' refs and views, kept for the last selections read (the store hands out
    the same list for the same request)."""
    known = reader.__dict__.get("_aggregation_names")
    if known is None or known[0] is not selections:
        refs = tuple(f.ref for s in selections for f in s.features)
        known = reader.__dict__["_aggregation_names"] = (selections, refs, tuple(s.view.name for s in selections for _ in s.features))
    return known[1], known[2]


@dataclass(frozen=True)
class _AggregationRead:
    selection: "FeatureSelection"
    rows: list[dict[str, Any]]
    suffixes: list[str | None]
    """Per entity row, its key suffix (None for a null key), named by `keyed`."""

    @classmethod
    def of(cls, selection: "FeatureSelection", rows: list[dict[str, Any]]) -> "_AggregationRead":
        return cls(selection, rows, [])

    def keyed(self, schema_json: str | None) -> "_AggregationRead":
        """This read with its rows' keys named as the generation read stores them (its schema)."""
        view = self.selection.view
        return replace(self, suffixes=request_suffixes(view.name, view.join_keys, self.rows, key_logicals(schema_json)))

    def plan(self, schema_json: str, t_us: int) -> ReadPlan:
        return read_plan(_Prepared.of(self.selection, schema_json).layout, t_us)

    def commands(self, base: str, plan: ReadPlan) -> list[list[str]]:
        """Each entity's commands as words (for a cluster's pipeline)."""
        commands = []
        for suffix in self.suffixes:
            if suffix is None:
                continue
            if plan.fields:
                commands.append(["HMGET", tiles_key(base, suffix), *plan.fields])
            events = events_key(base, suffix)
            low_edge = "(" if plan.exact_scores else ""  # inexact: the low bound's own rounded score too
            commands += [["ZRANGEBYSCORE", events, f"{low_edge}{low}", str(high)] for low, high in plan.ranges]
        return commands

    def request(self, base: str, plan: ReadPlan) -> tuple[bytes, int]:
        """`commands` as RESP bytes, and their number: only each entity's keys and the
        ranges' bounds are framed per read, the rest once per plan."""
        tiles_head, tiles_tail = _framed_fields(plan.fields)
        bounds = plan.bounds
        low_edge = b"(" if plan.exact_scores else b""  # inexact: the low bound's own rounded score too
        ranges = [b"$%d\r\n%s%d\r\n$%d\r\n%d\r\n" % (len(str(bounds[low])) + len(low_edge), low_edge, bounds[low], len(str(bounds[high])), bounds[high])
                  for low, high in plan.spans]
        parts, count = [], 0
        for suffix in self.suffixes:
            if suffix is None:
                continue
            if tiles_head:
                parts += (tiles_head, resp.bulk(tiles_key(base, suffix)), tiles_tail)
            events = resp.bulk(events_key(base, suffix))
            for tail in ranges:
                parts += (_ZRANGEBYSCORE, events, tail)
            count += (1 if tiles_head else 0) + len(ranges)
        return b"".join(parts), count

    def decode(self, replies: list[Any], schema_json: str | None, plan: ReadPlan | None, now: datetime):
        count = len(self.selection.features)
        if schema_json is None or plan is None:
            return [[None] * count for _ in self.suffixes], [[MISSING] * count for _ in self.suffixes], [None] * len(self.suffixes), None
        prepared = _Prepared.of(self.selection, schema_json)
        layout, status, positions = prepared.layout, prepared.status, prepared.positions
        values, statuses, stamps, at = [], [], [], 0
        tiled = 1 if plan.fields else 0
        per_entity = tiled + len(plan.spans)
        for suffix in self.suffixes:
            if suffix is None:
                values.append([None] * count)
                statuses.append([MISSING] * count)
                stamps.append(None)
                continue
            mine, at = replies[at : at + per_entity], at + per_entity
            computed = combine(layout, plan, mine[0] if tiled else [], mine[tiled:])
            values.append([None if i is None else computed[i] for i in positions])
            statuses.append(list(status))
            stamps.append(now)
        return values, statuses, stamps, prepared.schema


@dataclass(frozen=True, eq=False)
class _Prepared:
    """What a read of a selection needs of the schema its generation was synced with, made
    once per pair: a read takes them at every call."""

    schema: ViewSchema
    layout: TileLayout
    status: list[str]
    """Each feature's status: missing where the last sync did not know it (added since)."""
    positions: list[int | None]
    """Each feature's index in the layout's results; None for a missing one."""

    @classmethod
    def of(cls, selection: "FeatureSelection", schema_json: str) -> "_Prepared":
        # By the selection's identity (the store hands out one per request shape), kept
        # with it: hashing a selection's view at every read cost more than the lookup saves.
        key = (id(selection), schema_json)
        known = _PREPARED.get(key)
        if known is not None and known[0] is selection:
            return known[1]
        schema = _schema(schema_json)
        names = tuple(f.name for f in selection.features)
        layout = TileLayout.of_view(selection.view, _column_types(schema), names, untiled_sizes(schema))
        stored = {name for name, _ in schema.features}
        order = {name: i for i, (name, _, _) in enumerate(layout.features)}
        prepared = cls(
            schema, layout, [PRESENT if name in stored else MISSING for name in names],
            [order[name] if name in stored else None for name in names],
        )
        if len(_PREPARED) > 1024:
            _PREPARED.clear()
        _PREPARED[key] = (selection, prepared)
        return prepared


_PREPARED: dict[tuple[int, str], tuple["FeatureSelection", _Prepared]] = {}


_ZRANGEBYSCORE = resp.command_head(4, "ZRANGEBYSCORE")


@lru_cache(maxsize=256)
def _framed_fields(fields: tuple[str, ...]) -> tuple[bytes, bytes]:
    """A tile HMGET's head and fields (the same until t crosses a tile's edge)."""
    return (resp.command_head(2 + len(fields), "HMGET") if fields else b""), b"".join(resp.bulk(f) for f in fields)


@lru_cache(maxsize=256)
def _schema(schema_json: str) -> ViewSchema:
    return ViewSchema.from_json(schema_json)


@lru_cache(maxsize=256)
def _column_types(schema: ViewSchema) -> dict[str, str]:
    """Each aggregated column's logical type, as the schema records it."""
    return {name[len(COLUMN_PREFIX):]: logical for name, logical in schema.features if name.startswith(COLUMN_PREFIX)}


def _read_aggregations(reader: "OnlineReader", reads: list[_AggregationRead], now: datetime) -> list[tuple]:
    t_us = micros(now)
    kept = reader.__dict__.get("_aggregation_state")
    if kept is None:
        # Whether the client is a cluster's; per set of views read, their meta hashes'
        # HMGETs as words and as RESP bytes (the same at every read); the schema of each
        # generation seen (a sync records it once, with the generation): what to ask for
        # depends on it (the tile sizes the sync kept, the key types the keys are named by),
        # and it arrives with the replies.
        kept = reader.__dict__["_aggregation_state"] = (is_cluster(reader.client), {}, {})
    cluster, metas, schemas = kept
    views = tuple(r.selection.view.name for r in reads)
    known_metas = metas.get(views)
    if known_metas is None:
        words = [["HMGET", reader.keyspace.meta_key(view), Meta.GENERATION, Meta.SCHEMA] for view in views]
        known_metas = metas[views] = (words, b"".join(resp.command(c) for c in words))
    meta, framed_meta = known_metas
    for _ in range(ATTEMPTS):
        guessed = [reader._generations.get(view) for view in views]
        requests, used, plans, keyed = [], [], [], []
        for r, view, generation in zip(reads, views, guessed):
            known = schemas.get((view, generation)) if generation is not None else None
            used.append(known)
            r = r.keyed(known)
            keyed.append(r)
            plan = r.plan(known, t_us) if known else None
            plans.append(plan)
            if plan is None:
                requests.append([] if cluster else (b"", 0))
            else:
                base = reader.keyspace.entity_base(view, int(generation))
                requests.append(r.commands(base, plan) if cluster else r.request(base, plan))
        if cluster:
            replies = _pipelined(reader, [*meta, *[c for cs in requests for c in cs], *meta])
            counts = [len(cs) for cs in requests]
        else:
            counts = [count for _, count in requests]
            payload = b"".join([framed_meta, *[data for data, _ in requests], framed_meta])
            replies = reader._round_trip((payload, 2 * len(meta) + sum(counts)))
        first, last = replies[: len(reads)], replies[-len(reads) :]
        seen = [generation for generation, _ in last]
        reader._generations.update(zip(views, seen))
        if len(schemas) > 1024:
            schemas.clear()
        schemas.update(((view, g), text or "") for view, (g, text) in zip(views, last) if g is not None)
        # Planned with the schema the generation still has ("": none recorded).
        planned = all(u == (t or "") for u, (g, t) in zip(used, last) if g is not None)
        if planned and [g for g, _ in first] == seen == guessed:
            out, at = [], len(reads)
            for r, count, plan, (generation, schema_json) in zip(keyed, counts, plans, last):
                mine, at = replies[at : at + count], at + count
                out.append(r.decode(mine, schema_json if generation is not None else None, plan, now))
            return out
    raise OnlineStoreError(
        reader.location.shown_url,
        f"the generations of {', '.join(r.selection.view.name for r in reads)} in Redis at "
        f"{reader.location.shown_url} changed during each of {ATTEMPTS} reads in a row",
        "is something running full syncs back to back? Read again once it has finished",
    )


def _pipelined(reader: "OnlineReader", commands: list[list[str]]) -> list[Any]:
    """Every command's reply, in one round trip per node: the cluster client's pipeline sends
    each node its own commands at once."""
    with online_errors(reader.location, "reading online features"):
        pipe = reader.client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return pipe.execute()
