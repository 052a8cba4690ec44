"""Every function of an aggregation view (sql/windows.py) but those hop partials take, by a
range join, the plan for sparse windows (offline/scans.py `window_pairs_pay` decides, the
engine's record allows: `Engine.window_pairs`).

Each spine row at t is joined to its entity's events with `t - the longest window < TIME <= t`
(and, under a knowledge cut-off, `KNOWN <= t`: the event is known at t), and the pairs are
grouped by the spine row, each feature an aggregate over its own window: the value where
`TIME > t - w`, else null, which no aggregate counts. A spine row whose entity has no event
in its longest window keeps its row (a LEFT JOIN): counts 0, the rest null.

The join is a hash join on the keys, the time bounds a filter on its matches: it touches every
event of a spine row's entity, so it costs the spine rows times the events per entity, where
frames (sql/window_frames.py) sort the events and the spine rows together. Where an entity has
few events that is the cheaper: docs/benchmarks.md has the measurements.

count_distinct (and approx_count_distinct, counted exactly as everywhere) is a COUNT(DISTINCT)
of the values in the window. `last` is the value of the greatest struct (timestamp, knowledge
time where the view declares created_at, value) among the window's non-null values: the ties
of sql/window_intervals.py, broken on the knowledge time and then the greatest value. Structs
and their order are DuckDB's (the engine with the plan, `Engine.window_pairs`).
"""

from __future__ import annotations

from typing import Callable, Sequence

from sqlglot import exp

from featurestore.catalog import WindowedAggregation
from featurestore.sql.expressions import column, identifier, left_join
from featurestore.sql.spine import SPINE_ROW
from featurestore.sql.window_frames import FRAME_FUNCTIONS, PARTIAL, dtype_of, value_of
from featurestore.sql.window_parts import KNOWN, TIME, WindowInputs, not_null, typed

_AGGREGATE: dict[str, Callable[[exp.Expression], exp.Expression]] = {
    **{function: PARTIAL[function] for function in FRAME_FUNCTIONS},
    **{function: lambda value: exp.Count(this=exp.Distinct(expressions=[value])) for function in ("count_distinct", "approx_count_distinct")},
}

PAIR_FUNCTIONS = frozenset({*_AGGREGATE, "last"})

SPINE_SIDE, EVENT_SIDE = "__fs_s", "__fs_e"


def pairs_expression(inputs: WindowInputs, aggregations: Sequence[WindowedAggregation], name: str) -> list[tuple[str, exp.Select]]:
    """The CTEs, in order, whose last (`name`) has `__fs_row` and a column per aggregation,
    one row per spine row with a key and a time."""
    assert all(a.function in PAIR_FUNCTIONS for a in aggregations)
    longest = max(a.window_us for a in aggregations)
    spine_time = column(TIME, SPINE_SIDE)
    joined = [
        *[exp.EQ(this=column(k, SPINE_SIDE), expression=column(k, EVENT_SIDE)) for k in inputs.view.join_keys],
        exp.GT(this=column(TIME, EVENT_SIDE), expression=exp.Sub(this=spine_time.copy(), expression=exp.Literal.number(longest))),
        exp.LTE(this=column(TIME, EVENT_SIDE), expression=spine_time.copy()),
    ]
    if inputs.knowledge_cut_off:
        joined.append(exp.LTE(this=column(KNOWN, EVENT_SIDE), expression=spine_time.copy()))

    def in_window(aggregation: WindowedAggregation) -> exp.Expression:
        value = value_of(aggregation, EVENT_SIDE)
        since = exp.Sub(this=spine_time.copy(), expression=exp.Literal.number(aggregation.window_us))
        inside: list[exp.Expression] = []
        if aggregation.window_us < longest:  # the join's bounds are the longest window's
            inside.append(exp.GT(this=column(TIME, EVENT_SIDE), expression=since))
        if aggregation.function == "last":
            inside.append(not_null(value.name, EVENT_SIDE))
            value = _last_order(inputs, value)
        return exp.Case(ifs=[exp.If(this=exp.and_(*inside, copy=False), true=value)]) if inside else value

    # Every node is built for its one place (`spine_time` goes only as copies): no copies.
    features = [
        exp.alias_(typed(_aggregate(a.function, in_window(a)), dtype_of(inputs, a)), identifier(a.name), copy=False) for a in aggregations
    ]
    query = exp.select(column(SPINE_ROW, SPINE_SIDE), *features, copy=False).from_(
        exp.Table(this=identifier(inputs.spine), alias=exp.TableAlias(this=identifier(SPINE_SIDE))), copy=False
    )
    query = left_join(
        query, exp.Table(this=identifier(inputs.events), alias=exp.TableAlias(this=identifier(EVENT_SIDE))), exp.and_(*joined, copy=False)
    )
    return [(name, query.group_by(column(SPINE_ROW, SPINE_SIDE), copy=False))]


def _last_order(inputs: WindowInputs, value: exp.Expression) -> exp.Expression:
    """An event as a struct that orders as `last`'s ties are broken (sql/window_intervals.py):
    by timestamp, then knowledge time (where the view declares created_at), then value."""
    fields = [("t", column(TIME, EVENT_SIDE))]
    if inputs.view.created_at:
        fields.append(("k", column(KNOWN, EVENT_SIDE)))
    fields.append(("v", value))
    return exp.Struct(expressions=[exp.PropertyEQ(this=exp.to_identifier(n), expression=e) for n, e in fields])


def _aggregate(function: str, value: exp.Expression) -> exp.Expression:
    """The aggregate of `function` over the values in the window (`last`: the value of the
    greatest of its structs)."""
    if function == "last":
        return exp.StructExtract(this=exp.Max(this=value), expression=exp.Literal.string("v"))
    return _AGGREGATE[function](value)
