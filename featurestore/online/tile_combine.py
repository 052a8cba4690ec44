"""One entity's read of an aggregation view at t: what it asks Redis for (`read_plan`), and
every feature's value from the replies (`combine`). Nothing here does I/O.

A window w reads the tiles wholly inside (t - w, t] and the raw events of the rest: its two
edge tiles, or all of it where the view keeps no tiles of its size (featurestore.online.tiles).
Those event ranges overlap (every window ends at t: a 5 min window's events are the last of a
1 day window's), so a read asks for their union, one ZRANGEBYSCORE per run of ranges that
touch, and each window takes its slice of the run by event time. Each member is parsed once.

The fold is the one event after event of `tiles.add_value`, in the same order (the tiles,
then the events by time), done by builtins where the window's functions allow it: a sum adds
in the same order, a min or max keeps the same value, so the results are the same to the bit.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_right
from functools import lru_cache, reduce
from operator import add, itemgetter
from typing import Any, NamedTuple, Sequence

from featurestore.online.tiles import (
    LAST_KNOWN,
    LAST_TS,
    LAST_VALUE,
    MAX,
    MIN,
    N,
    NATIVE,
    NUMERIC,
    SUM,
    TileLayout,
    WindowRead,
    add_value,
    empty_partial,
    finish,
    iso,
    merge,
    tile_data,
    tile_field,
    unescape_text,
)

SIMPLE = frozenset({"count", "sum", "avg", "min", "max"})
"""Functions whose fold over events builtins do (the others fold event by event)."""


class Piece(NamedTuple):
    """A window's events in (low, high], a slice of fetched range `range`; `low` and `high`
    index the plan's `bounds`."""

    range: int
    low: int
    high: int
    from_start: bool
    """Whether the piece starts where its range does (no slicing at that end)."""
    to_end: bool
    """Whether the piece ends where its range does."""


class Step(NamedTuple):
    """How one WindowRead of a plan is computed."""

    column: int | None
    distinct: bool
    numeric: bool
    needs: frozenset[str]
    """The functions asked of this (column, window)."""
    tiles: tuple[int, ...]
    """The indices in the plan's `fields` of its tiles."""
    pieces: tuple[Piece, ...]
    """Its events, in time order."""


class ReadPlan(NamedTuple):
    """What one entity's read asks Redis for at time t: tile fields and event ranges.

    The instants it names are its `bounds`; ranges and pieces hold their indices, so a plan
    moved to another instant is a new `bounds` (and `texts`), its steps the same objects."""

    fields: tuple[str, ...]
    bounds: tuple[int, ...]
    """Every edge of a range or a piece, in microseconds, distinct and in time order."""
    spans: tuple[tuple[int, int], ...]
    """Each event range (lo, hi] as indices into `bounds`: disjoint and in time order, one
    ZRANGEBYSCORE each."""
    steps: tuple[Step, ...]
    """One per WindowRead of the layout."""
    outputs: tuple[tuple[str, int, str], ...]
    """Per feature of the layout: its function, the index of its step, its column's type."""
    texts: tuple[str | None, ...]
    """Per bound, its ISO text where a piece slices its range there (None elsewhere): event
    times compare as these texts."""
    exact_scores: bool = True
    """Whether Redis compares its bounds with the events' scores exactly. A score is a double,
    exact for microseconds within EXACT_SCORES of 1970 (1684 to 2255); past it each range is
    asked for with its low bound included, which takes every event in it and some beside it
    with the same rounded score, and every piece is sliced by its texts."""

    @property
    def ranges(self) -> tuple[tuple[int, int], ...]:
        """The event ranges (lo, hi] in microseconds."""
        return tuple((self.bounds[low], self.bounds[high]) for low, high in self.spans)


def read_plan(layout: TileLayout, t_us: int) -> ReadPlan:
    """The tiles wholly inside each window (t - w, t] and the raw ranges at its two edges.

    Kept per instant on the layout's grain (the greatest common divisor of its windows and
    tile sizes: a frozen clock's instants are), and per interval between two of them for a
    moving clock, whose every read is at a new t: strictly inside the interval, which tiles a
    read takes and how its ranges and pieces meet stay the same, as every edge is t - w, t or
    a multiple of a tile size; only the bounds that are t - w or t move with t, so the kept
    plan is moved to each read's t by adding the shift to those.
    """
    grain = _grain(layout)
    on_grain = t_us % grain == 0
    key = (layout, t_us // grain, on_grain, scores_exact(layout, t_us))
    known = _PLANS.get(key)
    if known is None:
        if len(_PLANS) > 256:
            _PLANS.clear()
        plan = _plan(layout, t_us)
        moving = () if on_grain else tuple(i for i, bound in enumerate(plan.bounds) if bound % grain)
        known = _PLANS[key] = (plan, t_us, moving, tuple(i for i in moving if plan.texts[i] is not None))
    plan, planned_at, moving, texted = known
    shift = t_us - planned_at
    if not shift:
        return plan
    bounds = list(plan.bounds)
    for i in moving:
        bounds[i] += shift
    texts = list(plan.texts)
    for i in texted:
        texts[i] = iso(bounds[i])
    return ReadPlan(plan.fields, tuple(bounds), plan.spans, plan.steps, plan.outputs, tuple(texts), plan.exact_scores)


_PLANS: dict[tuple[TileLayout, int, bool, bool], tuple[ReadPlan, int, tuple[int, ...], tuple[int, ...]]] = {}
"""(layout, t // grain, whether t is on the grain, whether its scores compare exactly) -> the plan made at the first such t, that
t, the indices of the bounds that move with t and of those with a text."""


@lru_cache(maxsize=256)
def _grain(layout: TileLayout) -> int:
    return math.gcd(*(read.window_us for _, _, read in layout.features), *layout.sizes_us)


EXACT_SCORES = 2**53
"""Microseconds from 1970 within which a double (a Redis score) holds every one exactly."""


def scores_exact(layout: TileLayout, t_us: int) -> bool:
    """Whether every bound of a read at `t_us` (t and t - w for each window) is a score Redis
    holds exactly (ReadPlan.exact_scores)."""
    # Strictly inside: 2**53 + 1 rounds to 2**53, which a bound there would take for its own.
    return -EXACT_SCORES < t_us - _longest(layout) and t_us < EXACT_SCORES


@lru_cache(maxsize=256)
def _longest(layout: TileLayout) -> int:
    return max(read.window_us for _, _, read in layout.features)


def _plan(layout: TileLayout, t_us: int) -> ReadPlan:
    reads, statics, outputs = _static(layout)
    spans, wanted = [], []
    for read in reads:
        low = t_us - read.window_us
        if read.distinct or not read.size_us:
            spans.append(None)
            wanted.append([(low, t_us)])
        else:
            size = read.size_us
            first = -(-low // size) * size  # the first tile start at or after the low edge
            last = (t_us // size) * size  # the end of the last whole tile
            spans.append((size, first, last))
            edges = [(low, first), (last, t_us)] if first < last else [(low, t_us)]
            wanted.append([edge for edge in edges if edge[0] < edge[1]])
    fields, indices = _tiles(tuple(spans))
    ranges = _runs(edge for edges in wanted for edge in edges)
    exact = scores_exact(layout, t_us)
    bounds = sorted({bound for edges in (ranges, *wanted) for edge in edges for bound in edge})
    at = {bound: i for i, bound in enumerate(bounds)}
    steps = tuple(
        Step(*static, tiles, tuple(_piece(ranges, edge, at, exact) for edge in edges))
        for static, tiles, edges in zip(statics, indices, wanted)
    )
    sliced = {i for step in steps for p in step.pieces for i, whole in ((p.low, p.from_start), (p.high, p.to_end)) if not whole}
    texts = tuple(iso(bound) if i in sliced else None for i, bound in enumerate(bounds))
    return ReadPlan(fields, tuple(bounds), tuple((at[low], at[high]) for low, high in ranges), steps, outputs, texts, exact)


@lru_cache(maxsize=256)
def _static(layout: TileLayout) -> tuple[list[WindowRead], list[tuple], tuple[tuple[str, int, str], ...]]:
    """A layout's reads, what each computes (a Step's first fields) and each feature's output."""
    reads = list(dict.fromkeys(read for _, _, read in layout.features))
    needs: dict[WindowRead, set[str]] = {}
    for _, function, read in layout.features:
        needs.setdefault(read, set()).add(function)
    statics = [
        (read.column, read.distinct, read.column is not None and layout.logicals[read.column] in NUMERIC, frozenset(needs[read]))
        for read in reads
    ]
    outputs = tuple(
        (function, reads.index(read), "int" if read.column is None else layout.logicals[read.column])
        for _, function, read in layout.features
    )
    return reads, statics, outputs


@lru_cache(maxsize=256)
def _tiles(spans: tuple[tuple[int, int, int] | None, ...]) -> tuple[tuple[str, ...], tuple[tuple[int, ...], ...]]:
    """The tile fields of reads whose tiles of size s start at first, ..., last - s (None: no
    tiles), each field once; and per read, the indices of its fields."""
    fields: dict[str, int] = {}
    indices = []
    for span in spans:
        tiles = () if span is None else (tile_field(span[0], start) for start in range(span[1], span[2], span[0]))
        indices.append(tuple(fields.setdefault(f, len(fields)) for f in tiles))
    return tuple(fields), tuple(indices)


def _runs(edges) -> list[tuple[int, int]]:
    """The union of ranges (lo, hi], as disjoint runs in time order."""
    runs: list[list[int]] = []
    for low, high in sorted(edges):
        if runs and low <= runs[-1][1]:
            runs[-1][1] = max(runs[-1][1], high)
        else:
            runs.append([low, high])
    return [(low, high) for low, high in runs]


def _piece(ranges: list[tuple[int, int]], edge: tuple[int, int], at: dict[int, int], exact: bool) -> Piece:
    """The piece of `edge` in its range; where the scores are not exact (ReadPlan.exact_scores)
    the range's replies hold events beside it, and the piece is sliced at both ends."""
    index = next(i for i, (low, high) in enumerate(ranges) if low <= edge[0] and edge[1] <= high)
    return Piece(index, at[edge[0]], at[edge[1]], exact and ranges[index][0] == edge[0], exact and ranges[index][1] == edge[1])


class _Events:
    """The members of every fetched range, parsed once, in time order (the ranges are
    disjoint and in time order): time texts and each column's values."""

    __slots__ = ("ts", "parts", "columns", "offsets")

    def __init__(self, ranges: Sequence[Sequence[str]], logicals: Sequence[str]):
        members = ranges[0] if len(ranges) == 1 else [m for members in ranges for m in members]
        self.offsets = offsets = [0]
        for members_of_range in ranges:
            offsets.append(offsets[-1] + len(members_of_range))
        parts = self.parts = [m.split("|") for m in members]
        self.ts = [p[0] for p in parts]
        # A member has a value per column of the view when it was written (none for a
        # column added since: null).
        self.columns = [
            _values([p[3 + i] if len(p) > 3 + i else "" for p in parts], logical) for i, logical in enumerate(logicals)
        ]

    @property
    def known(self) -> list[str]:
        """The members' knowledge times (only `last` reads them)."""
        return [p[1] for p in self.parts]

    def bounds(self, piece: Piece, texts: Sequence[str | None]) -> tuple[int, int]:
        """The members in the piece, as a slice (their time texts compare as times)."""
        low, high = self.offsets[piece.range], self.offsets[piece.range + 1]
        start = low if piece.from_start else bisect_right(self.ts, texts[piece.low], low, high)
        return start, high if piece.to_end else bisect_right(self.ts, texts[piece.high], low, high)


def _values(texts: list[str], logical: str) -> list[Any]:
    """Each member's value of one column (`tiles.parse_member`'s reading); None for null."""
    native = NATIVE.get(logical, str)
    if logical in NUMERIC or logical == "bool":  # written as digits or true/false: never escaped
        return [None if text == "" else native(text[1:]) for text in texts]
    return [None if text == "" else native(unescape_text(text[1:])) for text in texts]


def combine(
    layout: TileLayout, plan: ReadPlan, tile_texts: Sequence[str | None], ranges: Sequence[Sequence[str]]
) -> list[Any]:
    """Every feature's value for one entity (in the layout's order), from the tiles and the
    members of each range."""
    tiles = _loaded(layout, tile_texts) if plan.fields else []
    events = _Events(ranges, layout.logicals)
    texts = plan.texts
    results: list[Any] = []
    for step in plan.steps:
        mine = [events.bounds(piece, texts) for piece in step.pieces]
        present = [tiles[i] for i in step.tiles]
        if None in present:  # a tile no event fell in
            present = [tile for tile in present if tile is not None]
        column = step.column
        if column is None:
            results.append(sum([tile[0] for tile in present]) + sum([b - a for a, b in mine]))
            continue
        values = events.columns[column]
        if step.distinct:
            results.append({v for a, b in mine for v in values[a:b] if v is not None})
            continue
        slot = column + 1
        parts = [tile[slot] for tile in present if tile[slot][N]]
        partial = _folded(parts, step.needs, step.numeric)
        if step.needs <= SIMPLE:
            _add_values(partial, [v for a, b in mine for v in values[a:b] if v is not None], step.numeric, step.needs)
        else:
            ts, known = events.ts, events.known
            for a, b in mine:
                for i in range(a, b):
                    if values[i] is not None:
                        add_value(partial, values[i], ts[i], known[i], step.numeric)
        results.append(partial)
    return [finish(function, results[index], logical) for function, index, logical in plan.outputs]


def _loaded(layout: TileLayout, tile_texts: Sequence[str | None]) -> list[Any]:
    """Each tile's data (None where Redis has none), from one JSON parse of them all: a call
    per tile costs more than its parse."""
    if "decimal" in layout.logicals:
        return [None if text is None else tile_data(text, layout.logicals) for text in tile_texts]
    if None in tile_texts:
        tile_texts = ["null" if text is None else text for text in tile_texts]
    return json.loads("[" + ",".join(tile_texts) + "]")


def _add_values(partial: list[Any], values: list[Any], numeric: bool, needs: frozenset[str]) -> None:
    """`add_value` of each of `values` in turn, for the slots `needs` reads of count, sum, min
    and max: the sum adds in the same order (reduce, not sum(), whose float sum is compensated
    since Python 3.12), min and max compare [current, *values] in turn as the fold does."""
    if not values:
        return
    partial[N] += len(values)
    if numeric and ("sum" in needs or "avg" in needs):
        total = partial[SUM]
        partial[SUM] = reduce(add, values, total) if total is not None else reduce(add, values[1:], values[0])
    if "min" in needs:
        low = partial[MIN]
        partial[MIN] = min(values) if low is None else min([low, *values])
    if "max" in needs:
        high = partial[MAX]
        partial[MAX] = max(values) if high is None else max([high, *values])


def _folded(parts: list[list[Any]], needs: frozenset[str], numeric: bool) -> list[Any]:
    """The partials of whole tiles (none empty) folded into one, computing only the slots
    `needs` reads: a read folds dozens of tiles, so the common functions go by builtins."""
    if not parts:
        return empty_partial()
    if "stddev" in needs:
        partial = list(parts[0])
        for other in parts[1:]:
            merge(partial, other, numeric)
        return partial
    partial = empty_partial()
    partial[N] = sum(map(itemgetter(N), parts))
    if numeric and ("sum" in needs or "avg" in needs):
        # In merge's order from the first tile's sum, as _add_values does for events: sum()
        # starts from the int 0 (0 + -0.0 is 0.0, and a decimal is rounded to the context)
        # and compensates a float sum since Python 3.12.
        sums = [part[SUM] for part in parts]
        partial[SUM] = reduce(add, sums[1:], sums[0])
    if "min" in needs:
        partial[MIN] = min(map(itemgetter(MIN), parts))
    if "max" in needs:
        partial[MAX] = max(map(itemgetter(MAX), parts))
    if "last" in needs:
        newest = max(parts, key=lambda p: (p[LAST_TS], p[LAST_KNOWN], p[LAST_VALUE]))
        partial[LAST_TS], partial[LAST_KNOWN], partial[LAST_VALUE] = newest[LAST_TS], newest[LAST_KNOWN], newest[LAST_VALUE]
    return partial
