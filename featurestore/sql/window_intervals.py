"""count_distinct and last of an aggregation view (sql/windows.py), exact with or without a
knowledge cut-off, by when each event is active: from ACTIVE (its timestamp, or the later of
its timestamp and created_at under a cut-off) until its timestamp + w. A spine row at t sees
the events with ACTIVE <= t < timestamp + w, which is `(t - w, t]` and known at t.

count_distinct: of the active events of one value, one stands for it: the one with the
greatest (timestamp, ACTIVE). An event stands for its value from ACTIVE until the end of its
window or until an event of the same value that beats it becomes active, whichever is first
(that one stays active at least as long, its timestamp being later). The distinct count at t
is then the number of events standing at t: +1 where one starts, -1 where it stops, summed in
time order up to each spine row: one sort, integers, exact.

last: the value of the greatest (timestamp, knowledge time) among non-null events active by
t is a running maximum in ACTIVE order (the pair as one decimal, where created_at breaks ties
on the timestamp), looked up among the events of that pair (the greatest value wins a tie);
it counts when its timestamp is inside the window.
"""

from __future__ import annotations

from typing import Sequence

from sqlglot import exp

from featurestore.catalog import WindowedAggregation
from featurestore.sql.expressions import column, data_type, identifier, left_join, named_table
from featurestore.sql.spine import SPINE_ROW
from featurestore.sql.window_parts import ACTIVE, KIND, KNOWN, TIME, WindowInputs, along_time, not_null, spine_rows_of

INTERVAL_FUNCTIONS = frozenset({"count_distinct", "approx_count_distinct", "last"})

VALUE = "__fs_value"
UNTIL = "__fs_until"
AT = "__fs_at"
BEST = "__fs_best"
ORDER = "__fs_order"

KNOWN_RANGE = 5 * 10**17
"""Knowledge times in microseconds lie in (-KNOWN_RANGE, KNOWN_RANGE) (years -13800 to
17800), so (timestamp, knowledge time) as timestamp * 2 * KNOWN_RANGE + known + KNOWN_RANGE
orders as the pair does, and fits DECIMAL(38, 0) for any timestamp up to year 9999."""


def distinct_counts_expression(
    inputs: WindowInputs, aggregations: Sequence[WindowedAggregation], name: str
) -> list[tuple[str, exp.Select]]:
    """The CTEs, in order, whose last (`name`) has `__fs_row` and a column per distinct
    count (approx_count_distinct is counted exactly too), one row per spine row."""
    ctes: list[tuple[str, exp.Select]] = []
    rows: list[exp.Select] = []
    columns = list(dict.fromkeys(a.column for a in aggregations))
    for position, source in enumerate(columns):
        standing = f"{name}_standing{position}"
        ctes.append((standing, _standing_expression(inputs, str(source))))
        mine = [a for a in aggregations if a.column == source]

        def deltas(delta_of) -> list[exp.Expression]:
            return [
                exp.alias_(delta_of(a) if a in mine else exp.Literal.number(0), identifier(f"__fs_d{i}"), copy=False)
                for i, a in enumerate(aggregations)
            ]

        # Every node is built for its one place in the tree (`inputs.keys`, `_stands` and
        # `_end` build new ones each call): the builders need not copy.
        starts = exp.select(
            *inputs.keys, exp.alias_(column(ACTIVE), identifier(AT), copy=False), exp.alias_(exp.Literal.number(0), identifier(KIND), copy=False),
            exp.alias_(exp.cast(exp.null(), data_type("bigint"), copy=False), identifier(SPINE_ROW), copy=False),
            *deltas(lambda a: exp.Case(ifs=[exp.If(this=_stands(a), true=exp.Literal.number(1))], default=exp.Literal.number(0))),
            copy=False,
        ).from_(named_table(standing), copy=False)
        rows.append(starts)
        for aggregation in mine:
            stops = exp.select(
                *inputs.keys, exp.alias_(_end(aggregation), identifier(AT), copy=False), exp.Literal.number(0), exp.null(),
                *deltas(lambda a: exp.Literal.number(-1) if a is aggregation else exp.Literal.number(0)),
                copy=False,
            ).from_(named_table(standing), copy=False).where(_stands(aggregation), copy=False)
            rows.append(stops)
    spine = exp.select(
        *inputs.keys, column(TIME), exp.Literal.number(1), column(SPINE_ROW), *[exp.Literal.number(0) for _ in aggregations], copy=False
    ).from_(named_table(inputs.spine), copy=False)
    union = exp.union(*rows, spine, distinct=False, copy=False)
    counts = [
        exp.alias_(
            exp.cast(along_time(exp.Sum(this=column(f"__fs_d{i}")), inputs, (AT, KIND)), data_type("bigint"), copy=False),
            identifier(a.name),
            copy=False,
        )
        for i, a in enumerate(aggregations)
    ]
    computed = exp.select(column(SPINE_ROW), column(KIND), *counts, copy=False).from_(
        union.subquery(identifier(f"{name}_rows"), copy=False), copy=False
    )
    ctes.append((name, spine_rows_of(computed, name, [SPINE_ROW, *[a.name for a in aggregations]])))
    return ctes


def _standing_expression(inputs: WindowInputs, source: str) -> exp.Select:
    """The events of `source`'s non-null values, one per (keys, value, TIME, ACTIVE), each with
    UNTIL: the earliest ACTIVE of the later events of its value (null if none)."""
    distinct = (
        exp.select(*inputs.keys, exp.alias_(column(source), identifier(VALUE), copy=False), column(TIME), column(ACTIVE), copy=False)
        .distinct(copy=False)
        .from_(named_table(inputs.events), copy=False)
        .where(not_null(source), copy=False)
    )
    beaten = exp.Window(
        this=exp.Min(this=column(ACTIVE)),
        partition_by=[*inputs.keys, column(VALUE)],
        order=exp.Order(expressions=[exp.Ordered(this=column(TIME)), exp.Ordered(this=column(ACTIVE))]),
        spec=exp.WindowSpec(kind="ROWS", start=exp.Literal.number(1), start_side="FOLLOWING", end="UNBOUNDED", end_side="FOLLOWING"),
    )
    return exp.select(*inputs.keys, column(TIME), column(ACTIVE), exp.alias_(beaten, identifier(UNTIL), copy=False), copy=False).from_(
        distinct.subquery(identifier("__fs_distinct"), copy=False), copy=False
    )


def _end(aggregation: WindowedAggregation) -> exp.Expression:
    """When an event stops standing for its value in this window: at its timestamp + w, or
    earlier when a later event of its value becomes active."""
    window_end = exp.Add(this=column(TIME), expression=exp.Literal.number(aggregation.window_us))
    beaten_first = exp.and_(not_null(UNTIL), exp.LT(this=column(UNTIL), expression=window_end), copy=False)
    return exp.Case(ifs=[exp.If(this=beaten_first, true=column(UNTIL))], default=window_end.copy())


def _stands(aggregation: WindowedAggregation) -> exp.Expression:
    return exp.LT(this=column(ACTIVE), expression=_end(aggregation))


def last_values_expression(
    inputs: WindowInputs, source: str, aggregations: Sequence[WindowedAggregation], name: str
) -> list[tuple[str, exp.Select]]:
    """The CTEs, in order, whose last (`name`) has `__fs_row` and the `last` of `source` for
    each of `aggregations` (its windows), one row per spine row."""
    candidates, best, values = f"{name}_candidates", f"{name}_best", f"{name}_values"
    order_key: exp.Expression = column(TIME)
    if inputs.view.created_at:
        wide = data_type("decimal(38, 0)")
        order_key = exp.Add(
            this=exp.Mul(this=exp.cast(column(TIME), wide), expression=exp.cast(exp.Literal.number(2 * KNOWN_RANGE), wide)),
            expression=exp.Add(this=column(KNOWN), expression=exp.Literal.number(KNOWN_RANGE)),
        )
    # Every node is built for its one place in the tree (`wide` goes to the casts as copies).
    candidate_rows = exp.select(
        *inputs.keys, column(TIME), column(ACTIVE), exp.alias_(order_key, identifier(ORDER), copy=False),
        exp.alias_(column(source), identifier(VALUE), copy=False), copy=False,
    ).from_(named_table(inputs.events), copy=False).where(not_null(source), copy=False)
    union = exp.union(
        exp.select(
            *inputs.keys, exp.alias_(column(ACTIVE), identifier(AT), copy=False), exp.alias_(exp.Literal.number(0), identifier(KIND), copy=False),
            exp.alias_(exp.cast(exp.null(), data_type("bigint"), copy=False), identifier(SPINE_ROW), copy=False), column(ORDER),
            copy=False,
        ).from_(named_table(candidates), copy=False),
        exp.select(*inputs.keys, column(TIME), exp.Literal.number(1), column(SPINE_ROW), exp.null(), copy=False).from_(
            named_table(inputs.spine), copy=False
        ),
        distinct=False,
        copy=False,
    )
    running = exp.select(
        *inputs.keys, column(AT), column(KIND), column(SPINE_ROW),
        exp.alias_(along_time(exp.Max(this=column(ORDER)), inputs, (AT, KIND)), identifier(BEST), copy=False),
        copy=False,
    ).from_(union.subquery(identifier(f"{name}_rows"), copy=False), copy=False)
    per_order = (
        exp.select(
            *inputs.keys, column(ORDER), exp.alias_(exp.Max(this=column(TIME)), identifier(TIME), copy=False),
            exp.alias_(exp.Max(this=column(VALUE)), identifier(VALUE), copy=False), copy=False,
        )
        .from_(named_table(candidates), copy=False)
        .group_by(*inputs.keys, column(ORDER), copy=False)
    )
    spine_side, value_side = "__fs_s", "__fs_c"

    def in_window(aggregation: WindowedAggregation) -> exp.Expression:
        since = exp.Sub(this=column(AT, spine_side), expression=exp.Literal.number(aggregation.window_us))
        inside = exp.GT(this=column(TIME, value_side), expression=since)
        return exp.alias_(exp.Case(ifs=[exp.If(this=inside, true=column(VALUE, value_side))]), identifier(aggregation.name), copy=False)

    matched = exp.and_(
        *[exp.EQ(this=column(k, spine_side), expression=column(k, value_side)) for k in inputs.view.join_keys],
        exp.EQ(this=column(ORDER, value_side), expression=column(BEST, spine_side)),
        copy=False,
    )
    last = left_join(
        exp.select(column(SPINE_ROW, spine_side), *[in_window(a) for a in aggregations], copy=False)
        .from_(exp.Table(this=identifier(best), alias=exp.TableAlias(this=identifier(spine_side))), copy=False),
        exp.Table(this=identifier(values), alias=exp.TableAlias(this=identifier(value_side))),
        matched,
    )
    return [
        (candidates, candidate_rows),
        (best, spine_rows_of(running, best, [*inputs.view.join_keys, AT, SPINE_ROW, BEST])),
        (values, per_order),
        (name, last),
    ]
