"""Reading online features: many entities of many views in one pipelined round trip.

One request carries an `HMGET` of each view's meta hash, then an `HMGET` of every entity's
hash in the generation of its view that the reader last saw, then the meta hashes again.
Redis runs a connection's commands in order; a generation is published only once whole and
deleted only after readers were switched away from it. So when both meta reads name the
generation the entities were read in, that generation was whole before the first entity
was read and not yet switched away from after the last. When a view's generation moved (a
full sync finished, or this reader is new), the read is repeated in the generation just
seen: readers never see a rebuild half-done. (Both ends are checked because generation
numbers start again at 1 in a Redis that lost its data: a check at the end alone would
accept a new generation 1 published while the old guess 1 was being read half-written.)

A pipeline of plain commands costs the server less than half of what one Lua script doing
the same reads costs (commands called from Lua convert every argument and reply), and the
request is framed by featurestore.online.resp rather than by redis-py, whose command packer
alone takes longer for a thousand entities than the server's whole work (docs/benchmarks.md).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from featurestore.errors import OnlineStoreError
from featurestore.online.codec import DECODERS, ViewSchema
from featurestore.online.connection import OnlineLocation, online_errors
from featurestore.online.keys import Keyspace
from featurestore.online.request_keys import KeyTypeError, key_logicals, key_types, key_value, request_suffixes
from featurestore.online.resp import hmget_commands
from featurestore.online.state import Meta

if TYPE_CHECKING:
    import redis
    from redis.connection import Connection

    from featurestore.catalog import FeatureSelection, OnDemandFeature

PRESENT, MISSING, EXPIRED = "present", "missing", "expired"

ATTEMPTS = 3
"""Reads of one call, at most: one for a reader with no guess yet, one more for a full sync
finishing meanwhile (a full sync takes seconds); past that, something is switching
generations without end."""


@dataclass(frozen=True)
class OnlineFeatures:
    """Online values for some entity rows: per row, a value and a status for each feature.

    A status is `present` (the value, possibly null, is the latest row's), `missing` (no row
    for the entity, or the view was never synced) or `expired` (the latest row is older than
    the view's ttl at the project's "now"; Redis drops such keys by itself soon after, and they
    then read as missing). `event_timestamps` holds, per row, each view's row timestamp.
    """

    features: list[str]
    entity_rows: list[dict[str, Any]]
    values: list[list[Any]]
    statuses: list[list[str]]
    event_timestamps: list[dict[str, datetime | None]]
    never_synced: tuple[str, ...] = ()
    """Views this Redis has no sync of under the key prefix (so their features read missing)."""
    store: str = ""
    """The Redis URL (without its password) and key prefix the values were read from."""
    feature_views: tuple[str, ...] = ()
    """The view of each feature, in the order of `features` (whose names may not say it): the
    key of its event timestamps. The HTTP server reads it; a feature with no view has none."""
    on_demand_views: tuple[tuple[str, ...], ...] = ()
    """The views of each on-demand feature's inputs, in order, for the features after those of
    `feature_views`: the HTTP server gives an on-demand value the newest of their rows'
    timestamps."""

    key_types: tuple[tuple[str, str], ...] = ()
    """Each join key of the views read, with the logical type the last sync stored it as: the
    type each entity row's value was converted to before its key was named."""

    def with_typed_keys(self) -> "OnlineFeatures":
        """The same result with each entity value given as the key it was read by (`fs get
        --entity id=07` echoes 7 where the view's key is an integer): the read's own conversion
        (featurestore.online.request_keys `key_value`)."""
        types = dict(self.key_types)

        def typed(key: str, value: Any) -> Any:
            if key not in types:
                return value
            try:
                return key_value(value, types[key])
            except KeyTypeError:  # two views typing one key differently: shown as given
                return value

        rows = [{k: typed(k, v) for k, v in row.items()} for row in self.entity_rows]
        return replace(self, entity_rows=rows)

    def renamed(self, names: Sequence[str]) -> "OnlineFeatures":
        """The same values with the features named `names` (see `column_names`)."""
        return replace(self, features=list(names))

    def to_dict(self) -> list[dict[str, Any]]:
        """One JSON-ready object per entity row."""
        return [
            {
                "entity": dict(entity),
                "values": {f: _jsonable(v) for f, v in zip(self.features, values)},
                "statuses": dict(zip(self.features, statuses)),
                "event_timestamps": {view: _jsonable(ts) for view, ts in stamps.items()},
            }
            for entity, values, statuses, stamps in zip(
                self.entity_rows, self.values, self.statuses, self.event_timestamps
            )
        ]

    def to_pandas(self):
        """A frame with the entity columns and one column per feature (named view:feature,
        or as `get_online_features(bare_names=True)` or `full_names=True` named them)."""
        import pandas as pd

        return pd.DataFrame(
            [{**entity, **dict(zip(self.features, values))} for entity, values in zip(self.entity_rows, self.values)]
        )


def column_names(
    selections: Sequence["FeatureSelection"],
    entity_rows: Sequence[Mapping[str, Any]],
    full_names: bool,
    on_demand: Sequence["OnDemandFeature"] = (),
) -> list[str]:
    """The features' names as a training set's columns name them: bare, or view__feature with
    `full_names`; a bare name two views share, or an entity key has, is refused as it is there."""
    from featurestore.sql.on_demand import on_demand_outputs
    from featurestore.sql.pit import output_features

    keys = list(dict.fromkeys(key for row in entity_rows for key in row))
    names = [output.name for output in output_features(keys, selections, full_names)]
    return [*names, *(output.name for output in on_demand_outputs([*keys, *names], on_demand, full_names))]


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (datetime, date)) else value


def _unknown_feature(text: str) -> None:
    """The decoder of a feature the stored schema does not have: its value reads as null."""
    return None


@lru_cache(maxsize=256)
def _decoders(schema_json: str) -> dict[str, Any]:
    schema = ViewSchema.from_json(schema_json)
    return {name: DECODERS[logical] for name, logical in schema.features}


class OnlineReader:
    """Reads features of entity rows from one Redis, for `FeatureStore.get_online_features`.

    Safe to share between threads: each thread reads on a connection of its own, taken from
    the client's pool at its first read and kept. Checking a connection out of redis-py's pool
    and back costs twice the round trip of a one-entity read (docs/benchmarks.md).
    """

    def __init__(self, client: "redis.Redis", location: OnlineLocation):
        self.client = client
        self.location = location
        self.keyspace: Keyspace = location.keyspace
        # view -> the generation this reader last saw: a guess, checked by every read.
        self._generations: dict[str, str | None] = {}
        # (view, generation) -> the schema its sync recorded, and its key types: a request's
        # key values are converted to them before the keys are named (a schema change is a
        # new generation).
        self._schemas: dict[tuple[str, str], tuple[str | None, tuple[str, ...] | None]] = {}
        self._shown = f"{location.shown_url} (key prefix {self.keyspace.prefix})"
        self._own = threading.local()
        # the views' names -> the HMGETs of their meta hashes (the same bytes every read)
        self._meta_requests: dict[tuple[str, ...], bytes] = {}

    def read(
        self,
        selections: Sequence["FeatureSelection"],
        entity_rows: Sequence[Mapping[str, Any]],
        now: datetime,
    ) -> OnlineFeatures:
        rows = list(entity_rows)
        if not selections:
            # Nothing of a view asked for (on-demand features of request fields only): still
            # one (empty) row of values per entity row, or the caller would answer no rows.
            return OnlineFeatures([], rows, [[] for _ in rows], [[] for _ in rows], [{} for _ in rows], store=self._shown)
        views = [selection.view.name for selection in selections]
        for _ in range(ATTEMPTS):
            guessed = [self._generations.get(view) for view in views]
            used = [None if g is None else self._schemas.get((view, g)) for view, g in zip(views, guessed)]
            plans = [_ViewRead.of(s, rows, known and known[1]) for s, known in zip(selections, used)]
            replies = self._round_trip(self._request(plans, guessed))
            first, entities, last = replies[: len(plans)], replies[len(plans) : -len(plans)], replies[-len(plans) :]
            seen = [generation for generation, _ in last]
            self._generations.update(zip(views, seen))
            keyed_as_stored = self._keyed_as_stored(views, used, last)
            if [generation for generation, _ in first] == seen == guessed and keyed_as_stored:
                return self._assemble(plans, entities, last, rows, now, self._shown)
        raise OnlineStoreError(
            self.location.shown_url,
            f"the generations of {', '.join(p.view_name for p in plans)} in Redis at "
            f"{self.location.shown_url} changed during each of {ATTEMPTS} reads in a row",
            "is something running full syncs back to back? Read again once it has finished",
        )

    def _keyed_as_stored(self, views: Sequence[str], used: Sequence[Any], metas: Sequence[Any]) -> bool:
        """Whether each view's keys were named by the schema its generation has (the meta
        hashes read last); remembers the schemas seen for the next read."""
        keyed = True
        for view, known, (generation, schema) in zip(views, used, metas):
            if generation is not None and (known is None or known[0] != schema):
                keyed = False
                if len(self._schemas) > 1024:
                    self._schemas.clear()
                self._schemas[(view, generation)] = (schema, key_logicals(schema))
        return keyed

    def ping(self) -> None:
        """Raise OnlineStoreError unless Redis answers a PING."""
        with online_errors(self.location, "checking that it answers"):
            self.client.ping()

    def _request(self, plans: list["_ViewRead"], generations: list[str | None]) -> tuple[bytes, int]:
        """The HMGETs of every view's meta hash, of every entity (none for a view without a
        generation) and of the meta hashes again, in the order `read` takes the replies; and
        their number."""
        views = tuple(plan.view_name for plan in plans)
        metas = self._meta_requests.get(views)
        if metas is None:
            meta_keys = [self.keyspace.meta_key(view) for view in views]
            metas = self._meta_requests[views] = hmget_commands(meta_keys, (Meta.GENERATION, Meta.SCHEMA))
        parts, count = [metas], 2 * len(plans)
        for plan, generation in zip(plans, generations):
            if generation is not None:
                base = self.keyspace.entity_base(plan.view_name, int(generation))
                parts.append(hmget_commands([base + suffix for suffix in plan.asked], plan.fields))
                count += len(plan.asked)
        parts.append(metas)
        return b"".join(parts), count

    def _round_trip(self, request: tuple[bytes, int]) -> list[Any]:
        """Send every HMGET in one write and read every reply, on this thread's connection;
        once more on a new connection when the old one broke (it may have been closed while
        idle). A connection that failed otherwise is dropped: replies may be left unread on it."""
        payload, replies = request
        # Taking this thread's first connection connects, which fails when Redis is gone.
        with online_errors(self.location, "reading online features"):
            connection = self._connection()
        try:
            try:
                return _exchange(connection, payload, replies)
            except (RedisConnectionError, RedisTimeoutError):
                connection.disconnect()  # the next command connects again
                return _exchange(connection, payload, replies)
        except BaseException:
            connection.disconnect()
            with online_errors(self.location, "reading online features"):
                raise

    def _connection(self) -> "Connection":
        """This thread's connection (a forked process takes a new one: sockets are not shared)."""
        own = self._own
        if getattr(own, "pid", None) != os.getpid():
            own.connection, own.pid = self.client.connection_pool.get_connection(), os.getpid()
        return own.connection

    @staticmethod
    def _assemble(
        plans: list["_ViewRead"], replies: list[Any], metas: list[Any], rows: list[dict[str, Any]], now: datetime, store: str
    ) -> OnlineFeatures:
        """The result from the entities' replies, view after view, and the views' meta hashes."""
        per_view, at = [], 0
        for plan, (generation, schema_json) in zip(plans, metas):
            if generation is None:
                hashes = [[None] * len(plan.fields)] * len(plan.asked)
            else:
                hashes, at = replies[at:at + len(plan.asked)], at + len(plan.asked)
            per_view.append(plan.decode(hashes, schema_json, now))
        if len(per_view) == 1:
            (values, statuses, stamps), name = per_view[0], plans[0].view_name
            values, statuses = [list(v) for v in values], [list(s) for s in statuses]
            event_timestamps = [{name: t} for t in stamps]
        else:
            values = [[v for part in parts for v in part] for parts in zip(*(p[0] for p in per_view))]
            statuses = [[v for part in parts for v in part] for parts in zip(*(p[1] for p in per_view))]
            names = [plan.view_name for plan in plans]
            event_timestamps = [dict(zip(names, times)) for times in zip(*(p[2] for p in per_view))]
        features = [f.ref for plan in plans for f in plan.selection.features]
        never = tuple(plan.view_name for plan, (generation, _) in zip(plans, metas) if generation is None)
        views = tuple(plan.view_name for plan in plans for _ in plan.selection.features)
        keys = tuple(pair for _, schema_json in metas if schema_json for pair in key_types(schema_json))
        return OnlineFeatures(
            features, rows, values, statuses, event_timestamps, never_synced=never, store=store, feature_views=views,
            key_types=keys,
        )


@dataclass(frozen=True)
class _ViewRead:
    """What one view's part of a read asks for, and how its replies are decoded."""

    selection: "FeatureSelection"
    suffixes: list[str | None]
    """Per entity row, its key suffix; None where a join key is null (nothing is read)."""
    asked: list[str]
    fields: tuple[str, ...]
    """The event timestamp, then the selected features."""

    @property
    def view_name(self) -> str:
        return self.selection.view.name

    @classmethod
    def of(
        cls, selection: "FeatureSelection", rows: list[dict[str, Any]], logicals: Sequence[str] | None = None
    ) -> "_ViewRead":
        """The read of `rows`, their key values converted to `logicals` (see `request_suffixes`)."""
        view = selection.view
        suffixes = request_suffixes(view.name, view.join_keys, rows, logicals)
        fields = (view.timestamp, *(f.name for f in selection.features))
        return cls(selection, suffixes, [s for s in suffixes if s is not None], fields)

    def decode(
        self, hashes: list[list[str | None]], schema_json: str | None, now: datetime
    ) -> tuple[list[tuple], list[list[str]], list[datetime | None]]:
        """Values, statuses and event timestamps per entity row, decoded column by column."""
        view, count = self.selection.view, len(self.selection.features)
        known = _decoders(schema_json) if schema_json else {}
        decoders = [known.get(f.name, _unknown_feature) for f in self.selection.features]
        # A feature the last sync did not know (added since) reads as missing.
        present = [MISSING if decode is _unknown_feature else PRESENT for decode in decoders]
        stored = list(zip(*hashes)) or [()] * len(self.fields)  # one tuple per field
        parse_time = datetime.fromisoformat
        times = [None if text is None else parse_time(text) for text in stored[0]]
        columns = [[None if t is None else decode(t) for t in column] for decode, column in zip(decoders, stored[1:])]
        decoded = list(zip(*columns)) if columns else [()] * len(hashes)

        nothing = (None,) * count
        values, statuses = [nothing] * len(self.suffixes), [[MISSING] * count] * len(self.suffixes)
        stamps: list[datetime | None] = [None] * len(self.suffixes)
        asked_rows = (i for i, suffix in enumerate(self.suffixes) if suffix is not None)
        for position, index in enumerate(asked_rows):
            timestamp = times[position]
            if timestamp is None:
                continue
            stamps[index] = timestamp
            # now - timestamp, unlike now - ttl, cannot leave datetime's years 1 to 9999.
            if view.ttl is not None and now - timestamp > view.ttl:
                statuses[index] = [EXPIRED] * count
            else:
                values[index], statuses[index] = decoded[position], present
        return values, statuses, stamps


def _exchange(connection: "redis.connection.Connection", payload: bytes, replies: int) -> list[Any]:
    connection.send_packed_command([payload])
    return [connection.read_response() for _ in range(replies)]
