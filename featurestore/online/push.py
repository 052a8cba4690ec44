"""`fs push`: rows from outside the warehouse (a stream, an application) into one online view,
by the same rules as a sync, and into the view's landing table for the next `dbt build`.

Everything happens holding the project's sync lock, taken before the warehouse is opened
(a push and a sync never interleave, so a full sync cannot publish a generation that misses
a pushed row, nor a push write into a generation a sync is retiring; and a push waits for
the lock rather than failing on the warehouse a sync holds open). The rows are checked
against the view first (featurestore.online.pushed_rows), with the warehouse opened
read-only (a missing DuckDB file is reported, not created); bad input writes nothing. Then:

1. the view's meta hash must say it was synced with the schema the warehouse has now
   (readers decode by that schema, and a changed view is rebuilt by the next sync anyway);
2. the rows are appended to the landing table (featurestore.online.landing), in one
   transaction; from there a later sync reads them too (full or incremental), so a sync
   never loses a pushed row, and the next `dbt build` folds them into the view;
3. the rows are written to the generation readers use, by the sync's own writer with the
   server-side check (featurestore.online.writer): a row older than the stored one is
   skipped and counted, never written over it; ttl as in a sync (a row already past it is
   not written, the others expire at timestamp + ttl). A row not yet valid at the
   project's "now" (its timestamp or created_at later) is kept in the landing table only.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Iterator

from featurestore.catalog import FeatureView
from featurestore.console import plural
from featurestore.engines.base import Warehouse, reading_views
from featurestore.errors import SyncLockedError, UsageError, ViewNotBuilt
from featurestore.online.codec import ViewSchema
from featurestore.online.cluster_writer import view_writer
from featurestore.online.connection import OnlineLocation, online_errors, open_client
from featurestore.online.landing import append_to_landing
from featurestore.online.lock import SyncLock
from featurestore.online.pushed_rows import knowledge_time, load_rows, validated_rows
from featurestore.online.state import clear_pushed, mark_pushed, read_state
from featurestore.online.tile_push import plan_events, write_pushed
from featurestore.online.tile_sync import aggregation_schema, is_aggregation, with_untiled
from featurestore.online.validity import remaining_lifetimes_ms
from featurestore.online.writer import encode_rows
from featurestore.sql.expressions import columns_probe, every_column_probe, render

if TYPE_CHECKING:
    import pyarrow as pa
    import redis

KNOWN, ROW = "__fs_known", "__fs_row"
"""Working columns of _latest_per_entity."""

LOCK_WAIT_SECONDS = 30.0
"""How long a push waits for a running sync (or push) of the project to release the lock."""


@dataclass
class PushSummary:
    """What a push did; `to_dict()` is the `--json` document."""

    view: str
    redis: str
    landing: str
    """The warehouse table every pushed row was appended to."""
    generation: int
    rows: int
    keys_written: int = 0
    skipped_older: int = 0
    """Rows not written because Redis held a newer row of the entity."""
    expired: int = 0
    """Rows not written because their ttl had passed at the project's "now"."""
    not_yet_valid: int = 0
    """Rows not written because their timestamp (or created_at) is after the project's "now"."""
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {**vars(self), "seconds": round(self.seconds, 3)}

    def line(self) -> str:
        return (
            f"pushed {plural(self.rows, 'row')} to {self.view}: {plural(self.keys_written, 'key')} written to "
            f"{self.redis} (generation {self.generation}), {self.skipped_older:,} skipped as older than "
            f"stored, {self.expired:,} expired, {self.not_yet_valid:,} not yet valid; "
            f"appended to {self.landing}, which the next dbt build folds into the view"
        )


def run_push(
    view: FeatureView,
    source: Any,
    open_warehouse: Callable[..., Warehouse],
    location: OnlineLocation,
    now: datetime,
    lock_wait: float = LOCK_WAIT_SECONDS,
    clock_moves: bool = True,
) -> PushSummary:
    """Push the rows of `source` (featurestore.online.pushed_rows.load_rows) to `view`.
    `open_warehouse(read_only)` opens the warehouse."""
    started = time.perf_counter()
    _check_folds_pushed_rows(view)
    client = open_client(location, retries=0, name=f"fs-push:{location.keyspace.prefix}")
    try:
        # The lock first, then the warehouse: a push queues behind a running sync (or push),
        # which holds the warehouse open (DuckDB allows one writing process at a time).
        with online_errors(location, f"pushing to view '{view.name}'"), _lock(client, location, lock_wait) as lock:
            # Read-only first: a warehouse that does not exist is reported, never created.
            with open_warehouse(read_only=True) as warehouse:
                types = _relation_types(warehouse, view)
                loaded = load_rows(source, types)
                types = _with_other_columns(warehouse, view, types, loaded.column_names)
            events = is_aggregation(view)
            rows = validated_rows(view, loaded, types, now, view.value_columns, events)
            schema = aggregation_schema(view, types) if events else ViewSchema.of_view(view, types)
            generation, schema = _synced_generation(client, location, view, schema)
            summary = PushSummary(view.name, location.shown_url, "", generation, rows.num_rows)
            # Everything decided before anything is written: a failure past here is Redis's.
            if events:
                planned = plan_events(view, schema, rows, now)
                summary.not_yet_valid, summary.expired = planned.not_yet_valid, planned.expired
            else:
                planned = _planned_writes(view, rows, now, summary, clock_moves)
            since, earlier = _least_knowledge_time(view, rows), False
            if since is not None:  # the next sync reads from here until the writes are done
                earlier = mark_pushed(client, location.keyspace, view.name, since, lock)
            with open_warehouse(read_only=False) as warehouse:
                summary.landing = str(append_to_landing(warehouse, view, rows, events=events))
            hint = f"the rows were appended to {summary.landing}: the next fs sync writes them to Redis"
            with online_errors(location, f"pushing to view '{view.name}'", hint):
                if events:
                    base = location.keyspace.entity_base(view.name, generation)
                    summary.keys_written = write_pushed(client, view, schema, base, planned, lock, now, clock_moves)
                else:
                    _write(planned, schema, client, location, generation, lock, summary)
                if since is not None and not earlier:
                    clear_pushed(client, location.keyspace, view.name, since, lock)
    finally:
        client.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _check_folds_pushed_rows(view: FeatureView) -> None:
    """A push promises the next dbt build folds the rows in: only a model that unions its
    landing table can keep that promise."""
    if view.folds_pushed_rows is False:
        raise UsageError(
            f"view '{view.name}' cannot take pushes: its model ({view.sql_path}) does not call "
            "featurestore.feature_store_with_pushed_rows (fs's dbt package), so the next dbt build would drop the pushed "
            "rows from training sets "
            'while Redis serves them (docs/online-store.md, "Push"); nothing was pushed'
        )


def _least_knowledge_time(view: FeatureView, rows: "pa.Table") -> datetime | None:
    """The least knowledge time of `rows` (None for no rows)."""
    import pyarrow.compute as pc

    return pc.min(knowledge_time(view, rows)).as_py() if rows.num_rows else None


def _relation_types(warehouse: Warehouse, view: FeatureView) -> dict[str, "pa.DataType"]:
    """The Arrow type of every column of the view's relation, from a query that reads no rows."""
    with reading_views([view]):
        # The declared columns, read as the warehouse stored them (engines/engine.py stored_name).
        reader = warehouse.stream_arrow(render(columns_probe(view), warehouse.dialect))
        reader.read_all()
    types = {field.name: field.type for field in reader.schema}
    missing = [name for name in view.columns if name not in types]
    if missing:
        raise ViewNotBuilt(view.name, str(view.relation), missing)
    return types


def _with_other_columns(
    warehouse: Warehouse, view: FeatureView, types: dict[str, "pa.DataType"], pushed: list[str]
) -> dict[str, "pa.DataType"]:
    """`types` and, when the rows carry columns fs does not read (an event's id in an
    aggregation view, a column left out of `features:`), every other column of the relation:
    those land in the landing table for the next build. Asked only then: most pushes carry
    only the view's columns."""
    if all(name in types for name in pushed):
        return types
    with reading_views([view]):
        reader = warehouse.stream_arrow(render(every_column_probe(view), warehouse.dialect))
        reader.read_all()
    declared = {name.lower() for name in types}
    return {**types, **{f.name: f.type for f in reader.schema if f.name.lower() not in declared}}


@contextmanager
def _lock(client: "redis.Redis", location: OnlineLocation, wait: float) -> Iterator[SyncLock]:
    """The project's lock, waited for in line up to `wait` seconds."""
    lock = SyncLock(client, location.keyspace.lock_key(), role="push")
    try:
        lock.acquire(wait)
    except SyncLockedError as locked:
        raise SyncLockedError(
            locked.lock_key,
            locked.holder,
            f"a sync or push of this project held the lock for over {wait:g} s",
            "nothing was pushed; push again when it ends",
        ) from locked
    with lock:
        yield lock


def _synced_generation(
    client: "redis.Redis", location: OnlineLocation, view: FeatureView, schema: ViewSchema
) -> tuple[int, ViewSchema]:
    """The generation readers use and the schema recorded with it (for an aggregation view, it
    also names the tile sizes the sync kept out); the view must have been synced with today's
    schema."""
    state = read_state(client, location.keyspace, view.name)
    if state.generation is None:
        raise UsageError(
            f"view '{view.name}' was never synced to {location.shown_url}; run fs sync first, then push "
            "(nothing was pushed)"
        )
    recorded = state.schema and with_untiled(state.schema, ())
    if recorded != schema:
        why = (
            f"was last synced to {location.shown_url} by an older fs, which recorded its keys in another format "
            "(a decimal key's scale, a timestamp key's time zone, an unsigned key): fs's key format changed, not the view"
            if recorded is not None and recorded.differs_only_in_key_format(schema)
            else f"changed its columns or types since its last sync to {location.shown_url}"
        )
        raise UsageError(
            f"view '{view.name}' {why}; run fs sync first (it rebuilds the view), then push (nothing was pushed)"
        )
    return state.generation, state.schema


def _planned_writes(view: FeatureView, rows: "pa.Table", now: datetime, summary: PushSummary, clock_moves: bool) -> tuple:
    """The rows to write to Redis and their lifetimes (ms): those valid at `now`, the latest
    of each entity, not past their ttl; counting the others into `summary`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    batch = rows.combine_chunks().to_batches()[0] if rows.num_rows else None
    if batch is None:
        return None, None
    now_us = pa.scalar(now, pa.timestamp("us"))
    valid = pc.less_equal(batch[view.timestamp].cast(pa.timestamp("us")), now_us)
    if view.created_at:  # a null created_at means known at the timestamp
        known = pc.less_equal(batch[view.created_at].cast(pa.timestamp("us")), now_us)
        valid = pc.and_(valid, pc.fill_null(known, True))
    batch = batch.filter(valid)
    summary.not_yet_valid = rows.num_rows - batch.num_rows
    # One row per entity, its latest: the others would be skipped by the server-side check
    # anyway, and so keys_written counts keys.
    latest = _latest_per_entity(view, batch)
    summary.skipped_older = batch.num_rows - latest.num_rows
    batch = latest
    lifetimes, alive = remaining_lifetimes_ms(batch[view.timestamp], view.ttl, now, clock_moves)
    if alive is not None:
        kept = pc.sum(alive.cast(pa.int64())).as_py() or 0  # the sum of no rows is null
        summary.expired = batch.num_rows - kept
        batch, lifetimes = batch.filter(alive), lifetimes.filter(alive)
    return (batch, lifetimes) if batch.num_rows else (None, None)


def _write(
    planned: tuple,
    schema: ViewSchema,
    client: "redis.Redis",
    location: OnlineLocation,
    generation: int,
    lock: SyncLock,
    summary: PushSummary,
) -> None:
    """Write the planned rows with the incremental sync's server-side check."""
    batch, lifetimes = planned
    if batch is None:
        return
    base = location.keyspace.entity_base(summary.view, generation)
    with view_writer(client, schema, False, lock) as writer:
        writer.write(encode_rows(batch, schema, base, lifetimes))
        writer.finish()
    summary.keys_written = writer.written
    summary.skipped_older += writer.skipped_older


def _latest_per_entity(view: FeatureView, batch: "pa.RecordBatch") -> "pa.RecordBatch":
    """The row of each entity with the greatest (timestamp, knowledge time), as the writer's
    server-side check and the warehouse's latest-row query order them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if batch.num_rows < 2:
        return batch
    table = pa.Table.from_batches([batch])
    order = table.select(view.join_keys).append_column(KNOWN, knowledge_time(view, table))
    order = order.append_column(view.timestamp, table[view.timestamp]).append_column(ROW, pa.array(range(table.num_rows)))
    order = order.sort_by(
        [(key, "ascending") for key in view.join_keys] + [(view.timestamp, "descending"), (KNOWN, "descending")]
    )
    # The first row of each run of equal join keys (never null: validated_rows).
    first = pa.array([True] + [False] * (order.num_rows - 1))
    for key in view.join_keys:
        values = order[key].combine_chunks()
        changed = pc.not_equal(values.slice(1), values.slice(0, len(values) - 1))
        first = pc.or_(first, pa.concat_arrays([pa.array([False]), changed]))
    kept = order[ROW].filter(first).combine_chunks()
    return batch.take(kept.take(pc.sort_indices(kept)))  # in the order pushed
