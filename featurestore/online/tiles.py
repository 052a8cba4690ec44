"""Aggregation views in Redis: the key layout, the tiles (partial aggregates per interval) and
the raw events, as text. Nothing here does I/O.

Per entity of an aggregation view, two keys in the view's generation, sharing a hash tag (so a
Redis Cluster keeps them in one slot and one script can update both):

    fs:flights:origin_departures:gen3:{origin=JFK}:events   sorted set: one member per event
    fs:flights:origin_departures:gen3:{origin=JFK}:tiles    hash: one field per tile

An event's member is `ts|known|id|v1|v2...` (event time and knowledge time in ISO-8601 with
microseconds, an id that keeps equal events apart, then each aggregated column's value as
`=text`, or empty for null; `%` and `|` in text escaped as %25 and %7C); its score is the event
time in microseconds since 1970. A tile field is `<size>@<start>` (`1h@2024-05-01T13:00:00`)
and covers the events with `start < ts <= start + size`; its value is JSON:
`[events, [n, sum, min, max, mean, m2, last_ts, last_known, last_value], ...]`, one list per
aggregated column (docs/online-store.md, "Aggregation views").

Each window w reads tiles of one size (`tile_size_us`: a size from LADDER that divides w into
at least TILES_PER_WINDOW tiles where one does), so a read at t takes the tiles wholly inside
(t - w, t] and the raw events of the two partial tiles at its edges only: exact at every t.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from featurestore.online.codec import DECODERS

if TYPE_CHECKING:
    from featurestore.catalog import FeatureView

EPOCH = datetime(1970, 1, 1)
SECOND_US = 1_000_000
LADDER = (1, 5, 10, 15, 30, 60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 604800)
"""Tile sizes in seconds, from which each window takes the largest that divides it into at
least TILES_PER_WINDOW tiles."""
TILES_PER_WINDOW = 12
"""Tiles per window at least (where a size divides it so): the raw events read at a window's
edges span one tile, about 1/12 of the window."""
COUNTING = frozenset({"count", "count_distinct", "approx_count_distinct"})
DISTINCT = frozenset({"count_distinct", "approx_count_distinct"})
NUMERIC = frozenset({"int", "float", "decimal"})

# The slots of a column's partial aggregate.
N, SUM, MIN, MAX, MEAN, M2, LAST_TS, LAST_KNOWN, LAST_VALUE = range(9)


def tile_size_us(window_us: int) -> int:
    """The tile size a window of `window_us` reads (see the module's docstring)."""
    dividing = [s * SECOND_US for s in LADDER if window_us % (s * SECOND_US) == 0]
    enough = [size for size in dividing if window_us // size >= TILES_PER_WINDOW]
    return max(enough) if enough else min(dividing)


def micros(value: datetime) -> int:
    """A naive UTC datetime as microseconds since 1970 (exact: integer arithmetic)."""
    return (value - EPOCH) // timedelta(microseconds=1)


def iso(us: int) -> str:
    """`us` as ISO-8601 text with microseconds, as events' times are written: the day's text
    kept, the time of day by integer arithmetic (a read makes these for a moving clock's
    bounds at every call, and datetime arithmetic took twice as long)."""
    day, rest = divmod(us, DAY_US)
    seconds, fraction = divmod(rest, SECOND_US)
    return "%sT%02d:%02d:%02d.%06d" % (_day(day), seconds // 3600, seconds // 60 % 60, seconds % 60, fraction)


DAY_US = 86400 * SECOND_US


@lru_cache(maxsize=1024)
def _day(day: int) -> str:
    return (EPOCH + timedelta(days=day)).date().isoformat()


@lru_cache(maxsize=65536)
def tile_field(size_us: int, start_us: int) -> str:
    size = f"{size_us // SECOND_US}s"
    return f"{size}@{(EPOCH + timedelta(microseconds=start_us)).isoformat()}"


def tile_start(ts_us: int, size_us: int) -> int:
    """The start of the tile of size `size_us` holding an event at `ts_us` (start < ts <= end)."""
    return ((ts_us - 1) // size_us) * size_us


@dataclass(frozen=True, eq=False)
class WindowRead:
    """One (column, window) a read computes; every function of it shares the result. Compared
    by identity, as a read looks results up by it: a layout makes one per (column, window)."""

    column: int | None
    """Index into TileLayout.columns; None for the count of events."""
    window_us: int
    size_us: int
    """0 where the view keeps no tiles for the window: it reads every event in it."""
    distinct: bool
    """Whether a distinct count needs every event of the window (tiles hold no sets)."""


# Compared and hashed by identity (eq=False): a read looks its plan up by layout, and hashing
# every feature's tuple each time cost more than the lookup saved; _layout hands out one
# instance per view, so equal layouts are the same object.
@dataclass(frozen=True, eq=False)
class TileLayout:
    """What an aggregation view keeps per entity, and how each feature is computed."""

    columns: tuple[str, ...]
    logicals: tuple[str, ...]
    """The logical type (codec.DECODERS) of each aggregated column."""
    features: tuple[tuple[str, str, WindowRead], ...]
    """(feature name, function, what it reads), in the view's order."""

    @property
    def sizes_us(self) -> tuple[int, ...]:
        return tuple(sorted({read.size_us for _, _, read in self.features} - {0}))

    @property
    def longest_us(self) -> int:
        return max(read.window_us for _, _, read in self.features)

    @classmethod
    def of_view(
        cls, view: "FeatureView", logicals: dict[str, str], names: Sequence[str] | None = None, untiled: Iterable[int] = ()
    ) -> "TileLayout":
        """The layout of `view` (of its features `names`, by default all), given the logical
        type of each aggregated column (a column missing reads as text) and the tile sizes the
        view keeps none of (`untiled`: its sync found them holding about one event each)."""
        chosen = None if names is None else tuple(names)
        return _layout(view.aggregations, tuple(logicals.items()), chosen, frozenset(untiled))  # type: ignore[attr-defined]

    @classmethod
    def _of(
        cls, aggregations: Sequence[Any], logicals: dict[str, str], names: Sequence[str] | None, untiled: frozenset[int]
    ) -> "TileLayout":
        # Every column of the view, in its order, even for a read of some features: tiles
        # and events hold them all, where the sync's layout put them.
        columns = tuple(dict.fromkeys(a.column for a in aggregations if a.column is not None))
        aggregations = [a for a in aggregations if names is None or a.name in names]
        features, reads = [], {}
        for a in aggregations:
            window_us = a.window // timedelta(microseconds=1)
            index = None if a.column is None else columns.index(a.column)
            size = tile_size_us(window_us)
            key = (index, window_us, 0 if size in untiled else size, a.function in DISTINCT)
            features.append((a.name, a.function, reads.setdefault(key, WindowRead(*key))))
        return cls(columns, tuple(logicals.get(c, "str") for c in columns), tuple(features))


@lru_cache(maxsize=256)
def _layout(aggregations: tuple, logicals: tuple, names: tuple | None, untiled: frozenset[int]) -> TileLayout:
    """Layouts are asked for at every read: made once per view, types and features."""
    return TileLayout._of(aggregations, dict(logicals), names, untiled)


# -- keys ------------------------------------------------------------------------------------

def events_key(base: str, suffix: str) -> str:
    return f"{base}{{{suffix}}}:events"


def tiles_key(base: str, suffix: str) -> str:
    return f"{base}{{{suffix}}}:tiles"


def suffix_of(key: str, base: str) -> str | None:
    """The entity suffix of an events key under `base`; None for any other key."""
    if not key.startswith(base + "{") or not key.endswith("}:events"):
        return None
    return key[len(base) + 1 : -len("}:events")]


# -- events ----------------------------------------------------------------------------------

def escape_text(text: str) -> str:
    if "%" not in text and "|" not in text:
        return text
    return text.replace("%", "%25").replace("|", "%7C")


def unescape_text(text: str) -> str:
    return text.replace("%7C", "|").replace("%25", "%") if "%" in text else text


def event_member(ts: str, known: str, event_id: str, values: Sequence[str | None]) -> str:
    """One event as its sorted-set member (values already encoded as text; None for null)."""
    parts = [ts, known, event_id, *("" if v is None else "=" + escape_text(v) for v in values)]
    return "|".join(parts)


NATIVE = {"int": int, "float": float, "decimal": Decimal, "str": str, "bool": lambda t: t == "true"}
"""How a value's text reads back inside the aggregation (timestamps and dates stay ISO text,
whose order is time order)."""


def parse_member(member: str, logicals: Sequence[str]) -> tuple[str, str, list[Any]]:
    """(ts, known, values) of a member; a value is None for null."""
    parts = member.split("|")
    values = [
        None if text == "" else NATIVE.get(logical, str)(unescape_text(text[1:]))
        for text, logical in zip(parts[3:], logicals)
    ]
    return parts[0], parts[1], values


# -- partial aggregates ----------------------------------------------------------------------

def empty_partial() -> list[Any]:
    return [0, None, None, None, 0.0, 0.0, None, None, None]


def add_value(partial: list[Any], value: Any, ts: str, known: str, numeric: bool) -> None:
    """Fold one non-null value into `partial` (Welford's update for mean and m2)."""
    partial[N] += 1
    if numeric:
        partial[SUM] = value if partial[SUM] is None else partial[SUM] + value
        delta = float(value) - partial[MEAN]
        partial[MEAN] += delta / partial[N]
        partial[M2] += delta * (float(value) - partial[MEAN])
    if partial[MIN] is None or value < partial[MIN]:
        partial[MIN] = value
    if partial[MAX] is None or value > partial[MAX]:
        partial[MAX] = value
    if partial[LAST_TS] is None or (ts, known, value) > (partial[LAST_TS], partial[LAST_KNOWN], partial[LAST_VALUE]):
        partial[LAST_TS], partial[LAST_KNOWN], partial[LAST_VALUE] = ts, known, value


def merge(into: list[Any], other: list[Any], numeric: bool) -> None:
    """Fold partial `other` into `into` (Chan et al.'s combination for mean and m2)."""
    if not other[N]:
        return
    if not into[N]:
        into[:] = other
        return
    n = into[N] + other[N]
    if numeric:
        # A sync leaves out of a tile what no function of the view reads (null there).
        if other[SUM] is not None:
            into[SUM] = other[SUM] if into[SUM] is None else into[SUM] + other[SUM]
        delta = other[MEAN] - into[MEAN]
        into[M2] += other[M2] + delta * delta * into[N] * other[N] / n
        into[MEAN] += delta * other[N] / n
    into[N] = n
    if other[MIN] is not None and (into[MIN] is None or other[MIN] < into[MIN]):
        into[MIN] = other[MIN]
    if other[MAX] is not None and (into[MAX] is None or other[MAX] > into[MAX]):
        into[MAX] = other[MAX]
    if other[LAST_TS] is not None and (
        into[LAST_TS] is None
        or (other[LAST_TS], other[LAST_KNOWN], other[LAST_VALUE]) > (into[LAST_TS], into[LAST_KNOWN], into[LAST_VALUE])
    ):
        into[LAST_TS], into[LAST_KNOWN], into[LAST_VALUE] = other[LAST_TS], other[LAST_KNOWN], other[LAST_VALUE]


def dump_tile(events: int, partials: Sequence[list[Any]]) -> str:
    """A tile's JSON text (decimals as text: JSON has no exact decimal)."""

    def plain(value: Any) -> Any:
        return str(value) if isinstance(value, Decimal) else value

    return json.dumps([events, *[[plain(v) for v in p] for p in partials]], separators=(",", ":"))


def load_tile(text: str, logicals: Sequence[str]) -> tuple[int, list[list[Any]]]:
    """(events, the partial of each column) of a tile's text."""
    data = tile_data(text, logicals)
    return data[0], data[1:]


def tile_data(text: str, logicals: Sequence[str]) -> list[Any]:
    data = json.loads(text)
    if "decimal" in logicals:
        for partial, logical in zip(data[1:], logicals):
            if logical == "decimal" and partial[N]:
                for slot in (SUM, MIN, MAX, LAST_VALUE):
                    partial[slot] = Decimal(partial[slot])
    return data


def finish(function: str, state: Any, logical: str) -> Any:
    """The value of `function` from a window's combined state."""
    if function == "count" and isinstance(state, int):
        return state
    if function in DISTINCT:
        return len(state)
    n = state[N]
    if function == "count":
        return n
    if not n:
        return None
    if function == "sum":
        return float(state[SUM]) if logical == "float" else state[SUM]
    if function == "avg":
        return float(state[SUM] / n) if logical == "decimal" else state[SUM] / n
    if function == "stddev":
        return math.sqrt(max(state[M2], 0.0) / (n - 1)) if n > 1 else None
    value = {"min": state[MIN], "max": state[MAX], "last": state[LAST_VALUE]}[function]
    if logical == "float":  # a tile's JSON may hold 2.0 as 2
        return float(value)
    return DECODERS[logical](value) if logical in ("timestamp", "date") else value


def tile_updates(
    layout: TileLayout, stored: dict[str, str | None], events: Iterable[tuple[int, str, str, list[Any]]]
) -> dict[str, str]:
    """The new text of every tile `events` (ts_us, ts, known, values) fall in, each tile's
    stored text (None: none yet) folded with them."""
    numeric = [logical in NUMERIC for logical in layout.logicals]
    tiles: dict[str, tuple[int, list[list[Any]]]] = {}
    for ts_us, ts, known, values in events:
        for size in layout.sizes_us:
            field = tile_field(size, tile_start(ts_us, size))
            if field not in tiles:
                text = stored.get(field)
                tiles[field] = load_tile(text, layout.logicals) if text else (0, [empty_partial() for _ in layout.columns])
            count, partials = tiles[field]
            for partial, value, is_numeric in zip(partials, values, numeric):
                if value is not None:
                    add_value(partial, value, ts, known, is_numeric)
            tiles[field] = (count + 1, partials)
    return {field: dump_tile(count, partials) for field, (count, partials) in tiles.items()}
