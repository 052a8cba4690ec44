"""Reading online features: many entities of many views in one server call.

A Lua script resolves each view's current generation and reads the entities' hashes in the
same atomic step, so a full rebuild switching generations is never seen half-done.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from featurestore.errors import UsageError
from featurestore.online.layout import DECODERS, Keyspace, ViewSchema, encode_value, entity_suffix, escape_key_value

if TYPE_CHECKING:
    import redis

    from featurestore.catalog import FeatureSelection
    from featurestore.online.connection import OnlineLocation

PRESENT, MISSING, EXPIRED = "present", "missing", "expired"

# KEYS: the meta hash of each view. ARGV, for each view in turn: its generation stem, the
# number of fields, the fields (timestamp first), the number of entities, their key suffixes.
# Returns, per view: {generation or nil, schema or nil, {the fields of every entity, flat}}:
# one flat array per view is cheaper to build here and to parse in the client than one
# array per entity.
READ_SCRIPT = """
local out = {}
local at = 1
for v = 1, #KEYS do
  local meta = redis.call('HMGET', KEYS[v], 'generation', 'schema')
  local stem = ARGV[at]
  local nfields = tonumber(ARGV[at + 1])
  local fields = {}
  for j = 1, nfields do fields[j] = ARGV[at + 1 + j] end
  at = at + 2 + nfields
  local n = tonumber(ARGV[at])
  local values, count = {}, 0
  if meta[1] then
    local base = stem .. meta[1] .. ':'
    for e = 1, n do
      local row = redis.call('HMGET', base .. ARGV[at + e], unpack(fields))
      for j = 1, nfields do values[count + j] = row[j] end
      count = count + nfields
    end
  end
  at = at + 1 + n
  out[v] = {meta[1], meta[2], values}
end
return out
"""


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
        """A frame with the entity columns and one column per feature (named view:feature)."""
        import pandas as pd

        return pd.DataFrame(
            [{**entity, **dict(zip(self.features, values))} for entity, values in zip(self.entity_rows, self.values)]
        )


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
    """Reads features of entity rows from one Redis, for `FeatureStore.get_online_features`."""

    def __init__(self, client: "redis.Redis", location: "OnlineLocation"):
        self.client = client
        self.location = location
        self.keyspace: Keyspace = location.keyspace
        self._script = client.register_script(READ_SCRIPT)

    def read(
        self,
        selections: Sequence["FeatureSelection"],
        entity_rows: Sequence[Mapping[str, Any]],
        now: datetime,
    ) -> OnlineFeatures:
        from featurestore.online.connection import online_errors

        rows = list(entity_rows)
        keys, args, suffixes_per_view = [], [], []
        for selection in selections:
            view = selection.view
            suffixes = _suffixes(view.name, view.join_keys, rows)
            asked = [s for s in suffixes if s is not None]
            fields = [view.timestamp, *(f.name for f in selection.features)]
            keys.append(self.keyspace.meta_key(view.name))
            args += [self.keyspace.generation_stem(view.name), len(fields), *fields, len(asked), *asked]
            suffixes_per_view.append(suffixes)
        with online_errors(self.location, "reading online features"):
            reply = self._script(keys=keys, args=args)

        per_view = [
            self._decode(selection, suffixes, generation, schema_json, flat, now)
            for selection, suffixes, (generation, schema_json, flat) in zip(selections, suffixes_per_view, reply)
        ]
        if len(per_view) == 1:
            (values, statuses, stamps), name = per_view[0], selections[0].view.name
            values, statuses = [list(v) for v in values], [list(s) for s in statuses]
            event_timestamps = [{name: t} for t in stamps]
        else:
            values = [[v for part in parts for v in part] for parts in zip(*(p[0] for p in per_view))]
            statuses = [[v for part in parts for v in part] for parts in zip(*(p[1] for p in per_view))]
            names = [s.view.name for s in selections]
            event_timestamps = [dict(zip(names, times)) for times in zip(*(p[2] for p in per_view))]
        features = [f.ref for s in selections for f in s.features]
        return OnlineFeatures(features, rows, values, statuses, event_timestamps)

    @staticmethod
    def _decode(
        selection: "FeatureSelection",
        suffixes: list[str | None],
        generation: str | None,
        schema_json: str | None,
        flat: list[str | None],
        now: datetime,
    ) -> tuple[list[tuple], list[list[str]], list[datetime | None]]:
        """One view's values, statuses and event timestamps per entity row, decoded column by
        column from the script's flat reply."""
        view, count = selection.view, len(selection.features)
        width = count + 1
        known = _decoders(schema_json) if schema_json else {}
        decoders = [known.get(f.name, _unknown_feature) for f in selection.features]
        # A feature the last sync did not know (added since) reads as missing.
        present = [MISSING if decode is _unknown_feature else PRESENT for decode in decoders]
        asked = [i for i, suffix in enumerate(suffixes) if suffix is not None]
        if generation is None:
            flat = [None] * (len(asked) * width)
        parse_time = datetime.fromisoformat
        times = [None if text is None else parse_time(text) for text in flat[0::width]]
        columns = [[None if t is None else decode(t) for t in flat[j::width]] for j, decode in enumerate(decoders, 1)]
        decoded = list(zip(*columns)) if columns else [()] * len(asked)

        nothing = (None,) * count
        values, statuses = [nothing] * len(suffixes), [[MISSING] * count] * len(suffixes)
        stamps: list[datetime | None] = [None] * len(suffixes)
        oldest = now - view.ttl if view.ttl is not None else None
        for position, index in enumerate(asked):
            timestamp = times[position]
            if timestamp is None:
                continue
            stamps[index] = timestamp
            if oldest is not None and timestamp < oldest:
                statuses[index] = [EXPIRED] * count
            else:
                values[index], statuses[index] = decoded[position], present
        return values, statuses, stamps


def _suffixes(view: str, join_keys: Sequence[str], rows: list[dict[str, Any]]) -> list[str | None]:
    """The entity key suffix of each row for a view; None where a key value is null."""
    try:
        if len(join_keys) == 1:  # the common case, kept fast for reads of many entities
            (key,) = join_keys
            return [None if row[key] is None else f"{key}={escape_key_value(encode_value(row[key]))}" for row in rows]
        return [
            None if any(row[k] is None for k in join_keys) else entity_suffix(join_keys, [row[k] for k in join_keys])
            for row in rows
        ]
    except KeyError:
        index, row = next((i, row) for i, row in enumerate(rows) if not all(k in row for k in join_keys))
        missing = [k for k in join_keys if k not in row]
        raise UsageError(
            f"entity row {index + 1} ({_shown(row)}) has no {', '.join(repr(k) for k in missing)}, "
            f"which view '{view}' needs (its join keys: {', '.join(join_keys)})"
        ) from None


def _shown(row: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in row.items()) or "empty"
