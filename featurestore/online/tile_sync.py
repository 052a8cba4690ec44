"""`fs sync` of an aggregation view: its events and tiles, rebuilt in full from the warehouse.

An aggregation view is always synced in full, into a fresh generation that readers switch to
at once when it is published (featurestore.online.sync does the generations, as for every
view): a window's value depends on every event in it, so there is no "latest row" to update
incrementally, and a rebuild cannot be seen half-done. The warehouse selects the events
(sql.window_events: known at now, inside the longest window, pushed rows counted once); the
tiles are computed here with Arrow's grouped aggregation, and each entity's events and tiles
go out as one ZADD and one HSET (featurestore.online.tiles has the layout).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Iterable

from featurestore.catalog import FeatureView
from featurestore.errors import ProjectError
from featurestore.online import resp
from featurestore.online.cluster import is_cluster
from featurestore.online.codec import ViewSchema, encode_array, encode_value, logical_type
from featurestore.online.connection import checked_out
from featurestore.online.keys import entity_suffixes
from featurestore.online.landing import existing_landing
from featurestore.online.tile_build import tile_rows
from featurestore.online.tiles import TileLayout, events_key, micros, tiles_key
from featurestore.sql.expressions import render
from featurestore.sql.window_events import window_events_expression

if TYPE_CHECKING:
    import pyarrow as pa
    import redis

    from featurestore.engines.base import Warehouse
    from featurestore.online.lock import SyncLock

COLUMN_PREFIX = "column:"
"""A schema entry naming an aggregated column (its logical type), beside the features."""
UNTILED_PREFIX = "untiled:"
"""A schema entry naming a tile size (in µs) the sync kept no tiles of, as they held about one
event each: the windows of that size read their events instead (docs/online-store.md)."""
EVENTS_PER_TILE = 2
"""A tile size is kept where its tiles hold at least this many events on average."""
RESULT_TYPES = {"count": "int", "count_distinct": "int", "approx_count_distinct": "int", "avg": "float", "stddev": "float"}
"""A feature's logical type by function; the others take their column's."""
ENTITIES_PER_ROUND_TRIP = 2000


def is_aggregation(view: FeatureView) -> bool:
    return view.is_aggregation


def aggregation_schema(view: FeatureView, types: dict[str, "pa.DataType"]) -> ViewSchema:
    """The schema an aggregation view's meta hash records: its keys and timestamps as for
    any view, each aggregated column's type and each feature's."""
    base = ViewSchema.of_view(replace(view, features=()), types)
    layout_columns = dict.fromkeys(a.column for a in view.aggregations if a.column is not None)  # type: ignore[attr-defined]
    logicals = {}
    for name in layout_columns:
        logical = logical_type(types[name])
        if logical is None:
            raise ProjectError(
                f"{view.yaml_path}: model '{view.name}': column '{name}' has type {types[name]}, which the "
                "online store cannot aggregate (valid: a number, text, boolean, date or timestamp); cast it in the model"
            )
        logicals[name] = logical
    features = [(COLUMN_PREFIX + name, logical) for name, logical in logicals.items()]
    for a in view.aggregations:  # type: ignore[attr-defined]
        features.append((a.name, RESULT_TYPES.get(a.function) or logicals[a.column]))
    return replace(base, features=tuple(features))


def layout_of(view: FeatureView, schema: ViewSchema) -> TileLayout:
    logicals = {name[len(COLUMN_PREFIX):]: logical for name, logical in schema.features if name.startswith(COLUMN_PREFIX)}
    return TileLayout.of_view(view, logicals, untiled=untiled_sizes(schema))


@lru_cache(maxsize=256)
def untiled_sizes(schema: ViewSchema) -> frozenset[int]:
    return frozenset(int(name[len(UNTILED_PREFIX):]) for name, _ in schema.features if name.startswith(UNTILED_PREFIX))


def with_untiled(schema: ViewSchema, sizes: Iterable[int]) -> ViewSchema:
    """`schema` recording `sizes` as untiled (replacing what it recorded)."""
    kept = tuple(f for f in schema.features if not f[0].startswith(UNTILED_PREFIX))
    return replace(schema, features=kept + tuple((f"{UNTILED_PREFIX}{size}", "untiled") for size in sorted(sizes)))


def _sparse_sizes(entities: "np.ndarray", ts_us: "np.ndarray", sizes: Iterable[int]) -> list[int]:
    """The tile sizes whose tiles would hold fewer than EVENTS_PER_TILE events on average
    (events sorted by entity and time): reading a window's events costs no more than reading
    that many tiles, and building and writing those tiles is most of a sync's time."""
    import numpy as np

    sparse = []
    for size in sizes if len(ts_us) else ():  # no events: no evidence, keep every size
        start = (ts_us - 1) // size
        tiles = 1 + int(np.count_nonzero((entities[1:] != entities[:-1]) | (start[1:] != start[:-1])))
        if len(ts_us) < EVENTS_PER_TILE * tiles:
            sparse.append(size)
    return sparse


@dataclass(frozen=True)
class EntityEvents:
    """The events of some entities and their tiles, framed, sorted by entity."""

    suffixes: list[str]
    """Each entity's key suffix, in order."""
    event_bounds: list[int]
    """Entity i's events are rows event_bounds[i] to event_bounds[i + 1] of `events`."""
    events: "resp.RowBytes"
    """Per event, its score and member as RESP bulk strings."""
    tiles: list[tuple[list[int], "resp.RowBytes", "pa.Array", "pa.Array"]]
    """Per tile size: where each entity's tiles start (then the end), each tile's field and
    text as RESP bulk strings, and the fields and texts."""
    scores: "pa.Array"
    members: "pa.Array"
    newest_us: list[int]
    """Each entity's newest event time in microseconds (its keys expire a window after it)."""
    untiled: list[int]
    """The tile sizes kept out, as too sparse (`_sparse_sizes`)."""

    def __len__(self) -> int:
        return len(self.suffixes)


def encode_events(table: "pa.Table", view: FeatureView, schema: ViewSchema, layout: TileLayout) -> EntityEvents:
    """The events of `table` (a non-null key each) and their tiles, per entity."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = [k for k, _ in schema.join_keys]
    suffix = entity_suffixes(keys, [table[k].combine_chunks() for k in keys], [t for _, t in schema.join_keys])
    ts = table[view.timestamp].combine_chunks().cast(pa.timestamp("us"))
    ts_text = encode_array(ts, "timestamp")
    known = ts if not view.created_at else pc.coalesce(table[view.created_at].combine_chunks().cast(pa.timestamp("us")), ts)
    known_text = encode_array(known, "timestamp")
    # Entities as integers (in order of first appearance): sorting and grouping by them is
    # far cheaper than by their text.
    encoded = pc.dictionary_encode(suffix)
    columns = {"entity": encoded.indices, "ts_us": ts.cast(pa.int64()), "ts": ts_text, "known": known_text}
    values = []
    for i, (name, logical) in enumerate(zip(layout.columns, layout.logicals)):
        array = table[name].combine_chunks()
        columns[f"v{i}"] = array
        text = encode_array(array, logical)
        if logical == "str":
            text = pc.replace_substring(pc.replace_substring(text, "%", "%25"), "|", "%7C")
        values.append(pc.fill_null(pc.binary_join_element_wise("=", text, ""), ""))
    ids = pa.array(np.arange(len(table)), pa.int64()).cast(pa.string())
    columns["member"] = pc.binary_join_element_wise(ts_text, known_text, ids, *values, "|")
    work = pa.table(columns).sort_by([("entity", "ascending"), ("ts_us", "ascending")]).combine_chunks()
    ts_us = work["ts_us"].combine_chunks()
    framed = resp.concat(resp.bulk_strings(ts_us.cast(pa.string())), resp.bulk_strings(work["member"].combine_chunks()))
    bounds = _runs(work["entity"].combine_chunks())
    suffixes = encoded.dictionary.to_pylist() if len(table) else []
    newest = ts_us.to_numpy()[np.array(bounds[1:], dtype=np.int64) - 1].tolist() if suffixes else []
    untiled = _sparse_sizes(work["entity"].to_numpy(), ts_us.to_numpy(), layout.sizes_us)
    tiles = []
    for sized in tile_rows(work, layout_of(view, with_untiled(schema, untiled))):  # every entity has tiles of each size
        fields, texts = sized["field"].combine_chunks(), sized["text"].combine_chunks()
        framed_tiles = resp.RowBytes(resp.concat(resp.bulk_strings(fields), resp.bulk_strings(texts)))
        tiles.append((_runs(sized["entity"].combine_chunks()), framed_tiles, fields, texts))
    members = work["member"].combine_chunks()
    return EntityEvents(suffixes, bounds, resp.RowBytes(framed), tiles, ts_us, members, newest, untiled)


def _runs(sorted_entities: "pa.Array") -> list[int]:
    """Where each run of equal values of a sorted array starts, then its length."""
    import numpy as np

    values = sorted_entities.to_numpy(zero_copy_only=False)
    if len(values) == 0:
        return [0]
    starts = np.flatnonzero(values[1:] != values[:-1]) + 1
    return [0, *starts.tolist(), len(values)]


def write_events(
    view: FeatureView,
    schema: ViewSchema,
    client: "redis.Redis",
    warehouse: "Warehouse",
    lock: "SyncLock",
    now: datetime,
    clock_moves: bool,
    base: str,
    after_round_trip: Callable[[int], None],
) -> tuple[int, int, ViewSchema]:
    """Read the view's events at `now` and write them with their tiles under `base` (a fresh
    generation: plain commands); returns (events read, entities written, the schema to record:
    `schema` with the tile sizes kept out)."""
    import pyarrow as pa

    layout = layout_of(view, schema)
    longest = timedelta(microseconds=layout.longest_us)
    query = window_events_expression(view, layout.columns, now, longest, pushed=existing_landing(warehouse, view, repair=True))
    # One chunk: the engine hands out small batches, and Arrow works per chunk.
    table = warehouse.stream_arrow(render(query, warehouse.dialect)).read_all().combine_chunks()
    entities = encode_events(table, view, schema, layout)
    lifetimes = _lifetimes_ms(entities.newest_us, layout.longest_us, now) if clock_moves else None
    write = _write_cluster if is_cluster(client) else _write_single
    write(client, entities, base, lifetimes, lock, after_round_trip)
    return table.num_rows, len(entities), with_untiled(schema, entities.untiled)


def _lifetimes_ms(newest_us: list[int], longest_us: int, now: datetime) -> list[int]:
    """How long each entity's keys live: until its newest event leaves the longest window
    (the millisecond after, as validity.remaining_lifetimes_ms rounds)."""
    now_us = micros(now)
    return [max(1, (newest + longest_us - now_us + now_us % 1000) // 1000 + 1) for newest in newest_us]


def entity_commands(entities: EntityEvents, i: int, base: str, lifetime: int | None) -> tuple[bytes, int]:
    """The ZADD, HSET and PEXPIREs of entity `i`, framed; and their number."""
    suffix = entities.suffixes[i]
    events, tiles = events_key(base, suffix), tiles_key(base, suffix)
    first, last = entities.event_bounds[i], entities.event_bounds[i + 1]
    parts = [resp.command_head(2 + 2 * (last - first), "ZADD"), resp.bulk(events), bytes(entities.events.span(first, last))]
    for bounds, framed, _, _ in entities.tiles:  # an HSET per tile size
        first, last = bounds[i], bounds[i + 1]
        parts += [resp.command_head(2 + 2 * (last - first), "HSET"), resp.bulk(tiles), bytes(framed.span(first, last))]
    if lifetime is None:
        return b"".join(parts), 1 + len(entities.tiles)
    parts += [resp.command(["PEXPIRE", key, str(lifetime)]) for key in (events, tiles)]
    return b"".join(parts), 3 + len(entities.tiles)


def _write_single(client, entities: EntityEvents, base: str, lifetimes, lock: "SyncLock", after_round_trip) -> None:
    with checked_out(client) as connection:
        for start in range(0, len(entities), ENTITIES_PER_ROUND_TRIP):
            stop = min(start + ENTITIES_PER_ROUND_TRIP, len(entities))
            framed = [entity_commands(entities, i, base, lifetimes[i] if lifetimes else None) for i in range(start, stop)]
            connection.send_packed_command([b"".join(f for f, _ in framed)], check_health=False)
            for _ in range(sum(n for _, n in framed)):
                connection.read_response()  # raises on an error reply
            after_round_trip(stop - start)


def _write_cluster(client, entities: EntityEvents, base: str, lifetimes, lock: "SyncLock", after_round_trip) -> None:
    """Through the cluster client's pipeline, which sends each node its own commands."""
    scores, members = entities.scores.to_pylist(), entities.members.to_pylist()
    sized = [(bounds, fields.to_pylist(), texts.to_pylist()) for bounds, _, fields, texts in entities.tiles]
    for start in range(0, len(entities), ENTITIES_PER_ROUND_TRIP):
        stop = min(start + ENTITIES_PER_ROUND_TRIP, len(entities))
        pipe = client.pipeline(transaction=False)
        for i in range(start, stop):
            suffix = entities.suffixes[i]
            events, tiles = events_key(base, suffix), tiles_key(base, suffix)
            first, last = entities.event_bounds[i], entities.event_bounds[i + 1]
            pipe.execute_command("ZADD", events, *[w for j in range(first, last) for w in (scores[j], members[j])])
            for bounds, fields, texts in sized:
                pipe.execute_command("HSET", tiles, *[w for j in range(bounds[i], bounds[i + 1]) for w in (fields[j], texts[j])])
            if lifetimes:
                pipe.pexpire(events, lifetimes[i])
                pipe.pexpire(tiles, lifetimes[i])
        pipe.execute()
        after_round_trip(stop - start)
