"""count, sum, avg, min and max of an aggregation view (sql/windows.py) by hop partials and
exact edges, the plan for dense windows (offline/scans.py `window_hops_pay` decides, the
engine's record allows: `Engine.window_hops`).

Time is cut into hops of h microseconds, h the greatest common divisor of the view's windows
(`hop_size`: 1h for 1h, 24h, 7d and 28d), so every window is a whole number of hops, made
smaller where the longest window would span fewer than MIN_HOPS_PER_WINDOW hops. A hop
starts at a multiple of h; R is the start of the hop of a spine row's time t. The window
`(t - w, t]` is then exactly
- the events of hop R up to t (the right edge, shared by every window),
- the whole hops R - w + h, ..., R - h (none where w = h), and
- the events of hop R - w after t - w (the left edge: that hop starts at or before t - w and
  ends before R).
The whole hops come from per-entity, per-hop partial aggregates (count, sum, min, max of
each value), by a RANGE frame `w - 2h PRECEDING AND CURRENT ROW` over the partials and the
spine rows, a spine row placed at R - h; the edges from the raw events of those hops, by an
equi-join on (keys, hop) of a row per spine row and edge (1 + the number of windows) to the
events, filtered to the edge's bounds. The two parts' partials are combined as the frames'
and late events' are (sql/window_frames.py `combined`). Each spine row costs a sort of the
partials (far fewer rows than events where windows are dense) and the events of its edge
hops, not those of its windows: docs/aggregations.md and docs/benchmarks.md have the
measurements.

stddev stays on frames (a variance merged over hundreds of hops loses digits), as does a view
under a knowledge cut-off (an event known late would count in its hop's partial before it is
known): sql/windows.py sends those to sql/window_frames.py.
"""

from __future__ import annotations

import math
from typing import Sequence

from sqlglot import exp

from featurestore.catalog import WindowedAggregation
from featurestore.sql.expressions import column, data_type, identifier, named_table
from featurestore.sql.spine import SPINE_ROW
from featurestore.sql.window_frames import PARTIAL, PARTIALS, combined_parts, partial_name, value_of
from featurestore.sql.window_parts import KIND, TIME, WindowInputs, spine_rows_of

HOP_FUNCTIONS = frozenset({"count", "sum", "avg", "min", "max"})

HOP = "__fs_hop"
"""The start of an event's hop (a spine row's place among the partials), in microseconds."""
TAG = "__fs_edge"
"""Which edge a row of the edges is: 0 the right edge, j the left edge of the j-th window."""
LOW, HIGH = "__fs_low", "__fs_high"
"""An edge's bounds: its events have LOW < TIME <= HIGH."""

_OVER_HOPS = {
    "count": lambda value: exp.Sum(this=value),
    "sum": lambda value: exp.Sum(this=value),
    "min": lambda value: exp.Min(this=value),
    "max": lambda value: exp.Max(this=value),
}
"""How a part of the window is aggregated from its hops' partials of that part."""


MIN_HOPS_PER_WINDOW = 24
"""The longest window spans at least this many hops (a day of hours): with fewer, the edges'
raw events would be much of each window, and the plan a range join (a guard, not measured)."""


MAX_HOPS_PER_WINDOW = 2016
"""The longest window spans at most this many hops: three times the measured plan's 672 (1h
hops to 28 days). Finer hops hold about one event each, so their partials would cost what
the frames do and the edges more (1h1s's divisor with its 24th, 2 microseconds, cost 1.65x
the frames); such windows stay on frames (a guard: only 672 was measured)."""


def hop_size(aggregations: Sequence[WindowedAggregation]) -> int | None:
    """The hop, in microseconds: the coarsest divisor of every window (of their greatest
    common divisor) that the longest spans MIN_HOPS_PER_WINDOW times at least (the divisor
    itself where the longest spans it that often: 1h for 1h, 24h, 7d and 28d; a single 7d
    window: 7h; 1h1s: 144.04 s); None where that takes the longest past MAX_HOPS_PER_WINDOW
    hops, which keeps the view on frames."""
    windows = [a.window_us for a in aggregations]
    common, longest = math.gcd(*windows), max(windows)
    # hop = common / k spans longest * k / common times: the least k from which that is enough,
    # then the first k that divides `common`, while the count stays within the maximum.
    k = max(1, -(-MIN_HOPS_PER_WINDOW * common // longest))
    while longest // common * k <= MAX_HOPS_PER_WINDOW:
        if common % k == 0:
            return common // k
        k += 1
    return None


def hops_expression(
    inputs: WindowInputs, aggregations: Sequence[WindowedAggregation], name: str
) -> list[tuple[str, exp.Select]]:
    """The CTEs, in order, whose last (`name`) has `__fs_row` and a column per aggregation,
    one row per spine row with a key and a time."""
    assert not inputs.knowledge_cut_off and all(a.function in HOP_FUNCTIONS for a in aggregations)
    hop = hop_size(aggregations)
    assert hop is not None  # sql/windows.py sends windows without a hop to frames
    values = list(dict.fromkeys(value_of(a).name for a in aggregations))
    windows = sorted({a.window_us for a in aggregations})
    events, partials, full, edges, edge = (f"{name}_{part}" for part in ("events", "partials", "full", "edges", "edge"))
    merged = combined_parts(inputs, aggregations, full, edge)
    needed = list(dict.fromkeys(
        (part, values.index(value_of(a).name)) for a in aggregations if a.window_us > hop for part in PARTIALS[a.function]
    ))
    return [
        (events, _hop_events(inputs, values, hop)),
        (partials, _partials(inputs, events, values, needed)),
        (full, _whole_hops(inputs, aggregations, partials, values, needed, hop)),
        (edges, _edges(inputs, windows, hop)),
        (edge, _edge_partials(inputs, aggregations, events, edges, values, windows)),
        (name, merged),
    ]


def _hop_of(time: exp.Expression, hop: int) -> exp.Expression:
    """The start of the hop of `time` (floored, before 1970 too: `%` keeps the dividend's sign)."""
    size = exp.Literal.number(hop)
    offset = exp.Mod(
        this=exp.paren(exp.Add(this=exp.Mod(this=time.copy(), expression=size), expression=size.copy()), copy=False), expression=size.copy()
    )
    return exp.Sub(this=time.copy(), expression=offset)


def _minus(value: exp.Expression, micros: int) -> exp.Expression:
    return exp.Sub(this=value, expression=exp.Literal.number(micros))


def _hop_partial(part: str, position: int) -> str:
    return f"__fs_h{position}_{part}"


def _hop_events(inputs: WindowInputs, values: list[str], hop: int) -> exp.Select:
    """The events with their hop, and the aggregated values. Here and below every node is built
    for its one place in the tree (`inputs.keys` builds new columns each time): no copies."""
    return exp.select(
        *inputs.keys, column(TIME), exp.alias_(_hop_of(column(TIME), hop), identifier(HOP), copy=False), *[column(v) for v in values], copy=False
    ).from_(named_table(inputs.events), copy=False)


def _partials(inputs: WindowInputs, events: str, values: list[str], needed: list[tuple[str, int]]) -> exp.Select:
    """Per entity and hop, the `needed` partials: (count, sum, min or max, which value)."""
    return (
        exp.select(*inputs.keys, column(HOP), *[
            exp.alias_(PARTIAL[part](column(values[position])), identifier(_hop_partial(part, position)), copy=False)
            for part, position in needed
        ], copy=False)
        .from_(named_table(events), copy=False)
        .group_by(*inputs.keys, column(HOP), copy=False)
    )


def _whole_hops(
    inputs: WindowInputs, aggregations: Sequence[WindowedAggregation], partials: str, values: list[str],
    needed: list[tuple[str, int]], hop: int,
) -> exp.Select:
    """Per spine row, each aggregation's partials over the whole hops of its window: a RANGE
    frame over the entity's partials, the spine row placed at the hop before its own."""
    framed: dict[tuple[str, int, int], str] = {}
    outer: list[exp.Expression] = [column(SPINE_ROW)]
    for index, a in enumerate(aggregations):
        position = values.index(value_of(a).name)
        for part in PARTIALS[a.function]:
            if a.window_us == hop:  # no whole hop between the edges
                value: exp.Expression = exp.Literal.number(0) if part == "count" else exp.null()
            else:
                key = (part, position, a.window_us)
                framed.setdefault(key, f"__fs_f{len(framed)}")
                value = column(framed[key])
                if part == "count":
                    value = exp.Coalesce(this=value, expressions=[exp.Literal.number(0)])
            outer.append(exp.alias_(value, identifier(partial_name(index, part)), copy=False))
    windows = [
        exp.alias_(_over_hops(_OVER_HOPS[part](column(_hop_partial(part, position))), inputs, window - 2 * hop), identifier(alias), copy=False)
        for (part, position, window), alias in framed.items()
    ]
    hop_columns = [_hop_partial(part, position) for part, position in needed]
    union = exp.union(
        exp.select(*inputs.keys, column(HOP), exp.alias_(exp.Literal.number(0), identifier(KIND), copy=False),
                   exp.alias_(exp.cast(exp.null(), data_type("bigint"), copy=False), identifier(SPINE_ROW), copy=False),
                   *[column(c) for c in hop_columns], copy=False).from_(named_table(partials), copy=False),
        exp.select(*inputs.keys, _minus(_hop_of(column(TIME), hop), hop), exp.Literal.number(1), column(SPINE_ROW),
                   *[exp.null() for _ in hop_columns], copy=False).from_(named_table(inputs.spine), copy=False),
        distinct=False,
        copy=False,
    )
    rows = exp.select(column(SPINE_ROW), column(KIND), *windows, copy=False).from_(
        union.subquery(identifier(f"{partials}_rows"), copy=False), copy=False
    )
    spine_rows = spine_rows_of(rows, partials, [SPINE_ROW, *framed.values()])
    return exp.select(*outer, copy=False).from_(spine_rows.subquery(identifier(f"{partials}_framed"), copy=False), copy=False)


def _over_hops(function: exp.Expression, inputs: WindowInputs, preceding: int) -> exp.Window:
    return exp.Window(
        this=function,
        partition_by=inputs.keys,
        order=exp.Order(expressions=[exp.Ordered(this=column(HOP))]),
        spec=exp.WindowSpec(kind="RANGE", start=exp.Literal.number(preceding), start_side="PRECEDING", end="CURRENT ROW"),
    )


def _edges(inputs: WindowInputs, windows: list[int], hop: int) -> exp.Expression:
    """A row per spine row and edge: its row, keys, the edge's hop, which edge and its bounds."""
    right = _hop_of(column(TIME), hop)

    def edge(tag: int, start: exp.Expression, low: exp.Expression) -> exp.Select:
        return exp.select(
            column(SPINE_ROW), *inputs.keys, exp.alias_(start, identifier(HOP), copy=False),
            exp.alias_(exp.Literal.number(tag), identifier(TAG), copy=False),
            exp.alias_(low, identifier(LOW), copy=False), exp.alias_(column(TIME), identifier(HIGH), copy=False), copy=False,
        ).from_(named_table(inputs.spine), copy=False)

    # `right` itself goes to the first edge, a copy of it to each other place.
    rows = [edge(0, right, _minus(right.copy(), 1))]
    rows += [edge(j, _minus(right.copy(), window), _minus(column(TIME), window)) for j, window in enumerate(windows, start=1)]
    return exp.union(*rows, distinct=False, copy=False)


def _edge_partials(
    inputs: WindowInputs, aggregations: Sequence[WindowedAggregation], events: str, edges: str, values: list[str], windows: list[int]
) -> exp.Select:
    """Per spine row with events at its edges, each aggregation's partials over its window's
    two edges: the edges' rows joined to the events on (keys, hop), within the bounds."""
    spine, event = "__fs_s", "__fs_e"
    joined = exp.and_(
        *[exp.EQ(this=column(k, spine), expression=column(k, event)) for k in inputs.view.join_keys],
        exp.EQ(this=column(HOP, spine), expression=column(HOP, event)),
        exp.GT(this=column(TIME, event), expression=column(LOW, spine)),
        exp.LTE(this=column(TIME, event), expression=column(HIGH, spine)),
        copy=False,
    )
    seen: dict[tuple[str, str, int], str] = {}
    partials = []
    for index, a in enumerate(aggregations):
        tag = windows.index(a.window_us) + 1
        for part in PARTIALS[a.function]:
            key = (part, value_of(a).name, tag)
            if key in seen:
                partials.append(exp.alias_(column(seen[key]), identifier(partial_name(index, part)), copy=False))
                continue
            seen[key] = partial_name(index, part)
            mine = exp.In(this=column(TAG, spine), expressions=[exp.Literal.number(0), exp.Literal.number(tag)])
            inside = exp.Case(ifs=[exp.If(this=mine, true=column(value_of(a).name, event))])
            partials.append(exp.alias_(PARTIAL[part](inside), identifier(partial_name(index, part)), copy=False))
    # Each of `partials` goes to one of the two SELECTs (the other names it by its alias).
    aggregated = (
        exp.select(column(SPINE_ROW, spine), *[p for p in partials if not isinstance(p.this, exp.Column)], copy=False)
        .from_(exp.Table(this=identifier(edges), alias=exp.TableAlias(this=identifier(spine))), copy=False)
        .join(exp.Table(this=identifier(events), alias=exp.TableAlias(this=identifier(event))), on=joined, copy=False)
        .group_by(column(SPINE_ROW, spine), copy=False)
    )
    return exp.select(column(SPINE_ROW), *[p if isinstance(p.this, exp.Column) else column(p.alias) for p in partials], copy=False).from_(
        aggregated.subquery(identifier(f"{edges}_grouped"), copy=False), copy=False
    )
