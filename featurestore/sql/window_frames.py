"""count, sum, avg, stddev, min and max of an aggregation view (sql/windows.py), by RANGE
frames: the view's events and the spine's rows in one order per entity, by time in integer
microseconds, and for each window w the frame `RANGE BETWEEN w - 1 PRECEDING AND CURRENT
ROW`, which on a spine row at t holds exactly the events of `(t - w, t]` (the spine rows in
it carry nulls, which no aggregate counts).

Under a knowledge cut-off an event counts from max(timestamp, created_at): a frame over the
timestamp cannot leave out an event of the window not yet known, so only the events known
on time go to the frames. The late ones are matched to the spine rows by a range join on
(keys, known <= t, timestamp > t - w) and aggregated per spine row, and each feature is
combined from the two parts' partial aggregates (counts and sums added, means and variances
merged by Chan's formula, the lesser or greater of the minima and maxima). Its cost grows
with the late events times the spine rows in their windows, not with all of the history.
"""

from __future__ import annotations

from typing import Callable, Sequence

from sqlglot import exp

from featurestore.catalog import WindowedAggregation
from featurestore.sql.expressions import column, data_type, identifier, left_join, named_table
from featurestore.sql.spine import SPINE_ROW
from featurestore.sql.window_parts import ACTIVE, EVENT, KIND, TIME, WindowInputs, not_null, spine_rows_of, typed

FRAME_FUNCTIONS = frozenset({"count", "sum", "avg", "stddev", "min", "max"})

_AGGREGATE: dict[str, Callable[[exp.Expression], exp.Expression]] = {
    "count": lambda value: exp.Count(this=value),
    "sum": lambda value: exp.Sum(this=value),
    "avg": lambda value: exp.Avg(this=value),
    "stddev": lambda value: exp.StddevSamp(this=value),
    "min": lambda value: exp.Min(this=value),
    "max": lambda value: exp.Max(this=value),
}

PARTIALS = {
    "count": ("count",),
    "sum": ("count", "sum"),
    "avg": ("count", "sum"),
    "stddev": ("count", "avg", "var_pop"),
    "min": ("min",),
    "max": ("max",),
}
"""The partial aggregates each function is combined from, when frames and late events meet."""

PARTIAL: dict[str, Callable[[exp.Expression], exp.Expression]] = {
    **_AGGREGATE,
    "var_pop": lambda value: exp.VariancePop(this=value),
}


def frames_expression(
    inputs: WindowInputs, aggregations: Sequence[WindowedAggregation], name: str
) -> list[tuple[str, exp.Select]]:
    """The CTEs, in order, whose last (`name`) has `__fs_row` and a column per aggregation,
    one row per spine row with a key and a time."""
    if not inputs.knowledge_cut_off:
        values = [
            exp.alias_(typed(_framed(_AGGREGATE[a.function](value_of(a)), a, inputs), dtype_of(inputs, a)), identifier(a.name), copy=False)
            for a in aggregations
        ]
        return [(name, _spine_rows(_union(inputs, on_time_only=False), values, name))]
    framed = [
        exp.alias_(_framed(PARTIAL[part](value_of(a)), a, inputs), identifier(partial_name(index, part)), copy=False)
        for index, a in enumerate(aggregations)
        for part in PARTIALS[a.function]
    ]
    on_time, late = f"{name}_on_time", f"{name}_late"
    return [
        (on_time, _spine_rows(_union(inputs, on_time_only=True), framed, on_time)),
        (late, _late_expression(inputs, aggregations)),
        (name, combined_parts(inputs, aggregations, on_time, late)),
    ]


def combined_parts(inputs: WindowInputs, aggregations: Sequence[WindowedAggregation], first: str, second: str) -> exp.Select:
    """Each aggregation combined from the partial aggregates of two parts (`first` has a row
    per spine row, `second` may not), per spine row: the late events' with the frames' here,
    the edges' with the whole hops' in sql/window_hops.py."""
    # Every node is built here for its one place in the tree: the builders need not copy.
    return left_join(
        exp.select(column(SPINE_ROW, first), *[
            exp.alias_(typed(combined(a.function, index, first, second), dtype_of(inputs, a)), identifier(a.name), copy=False)
            for index, a in enumerate(aggregations)
        ], copy=False).from_(named_table(first), copy=False),
        named_table(second),
        exp.EQ(this=column(SPINE_ROW, first), expression=column(SPINE_ROW, second)),
    )


def value_of(aggregation: WindowedAggregation, table: str | None = None) -> exp.Expression:
    return column(aggregation.column or EVENT, table)


def dtype_of(inputs: WindowInputs, aggregation: WindowedAggregation) -> str | None:
    return inputs.view.feature(aggregation.name).dtype


def partial_name(index: int, part: str) -> str:
    return f"__fs_p{index}_{part}"


def _framed(function: exp.Expression, aggregation: WindowedAggregation, inputs: WindowInputs) -> exp.Window:
    """`function` over the frame of the events in `(t - w, t]` of each row's time t."""
    return exp.Window(
        this=function,
        partition_by=inputs.keys,
        order=exp.Order(expressions=[exp.Ordered(this=column(TIME))]),
        spec=exp.WindowSpec(
            kind="RANGE",
            start=exp.Literal.number(aggregation.window_us - 1),
            start_side="PRECEDING",
            end="CURRENT ROW",
        ),
    )


def _union(inputs: WindowInputs, on_time_only: bool) -> exp.Expression:
    """The events (those known on time, if `on_time_only`) and the spine's rows, as rows of
    one shape: keys, TIME, KIND, the spine row's number, EVENT and the aggregated columns.
    Every node is this call's own (`inputs.keys` builds new columns each time): no copies."""
    columns = inputs.view.value_columns
    events = exp.select(
        *inputs.keys,
        column(TIME),
        exp.alias_(exp.Literal.number(0), identifier(KIND), copy=False),
        exp.alias_(exp.cast(exp.null(), data_type("bigint"), copy=False), identifier(SPINE_ROW), copy=False),
        column(EVENT),
        *[column(c) for c in columns],
        copy=False,
    ).from_(named_table(inputs.events), copy=False)
    if on_time_only:
        events = events.where(exp.EQ(this=column(ACTIVE), expression=column(TIME)), copy=False)
    spine = exp.select(
        *inputs.keys, column(TIME), exp.Literal.number(1), column(SPINE_ROW), exp.null(), *[exp.null() for _ in columns], copy=False
    ).from_(named_table(inputs.spine), copy=False)
    return exp.union(events, spine, distinct=False, copy=False)


def _spine_rows(union: exp.Expression, values: list[exp.Expression], name: str) -> exp.Select:
    computed = exp.select(column(SPINE_ROW), column(KIND), *values, copy=False).from_(
        union.subquery(identifier(f"{name}_rows"), copy=False), copy=False
    )
    return spine_rows_of(computed, name, [SPINE_ROW, *[v.alias for v in values]])


def _late_expression(inputs: WindowInputs, aggregations: Sequence[WindowedAggregation]) -> exp.Select:
    """Per spine row, the partial aggregates of the late events in each window: a range join
    on (keys, ACTIVE <= t, TIME > t - the longest window), each window's own bound in a CASE."""
    spine, late = "__fs_s", "__fs_e"
    longest = max(a.window_us for a in aggregations)
    joined = exp.and_(
        *[exp.EQ(this=column(k, spine), expression=column(k, late)) for k in inputs.view.join_keys],
        exp.GT(this=column(ACTIVE, late), expression=column(TIME, late)),
        exp.LTE(this=column(ACTIVE, late), expression=column(TIME, spine)),
        exp.GT(this=column(TIME, late), expression=exp.Sub(this=column(TIME, spine), expression=exp.Literal.number(longest))),
        copy=False,
    )

    def in_window(aggregation: WindowedAggregation) -> exp.Expression:
        since = exp.Sub(this=column(TIME, spine), expression=exp.Literal.number(aggregation.window_us))
        return exp.Case(ifs=[exp.If(this=exp.GT(this=column(TIME, late), expression=since), true=value_of(aggregation, late))])

    partials = [
        exp.alias_(PARTIAL[part](in_window(a)), identifier(partial_name(index, part)), copy=False)
        for index, a in enumerate(aggregations)
        for part in PARTIALS[a.function]
    ]
    return (
        exp.select(column(SPINE_ROW, spine), *partials, copy=False)
        .from_(exp.Table(this=identifier(inputs.spine), alias=exp.TableAlias(this=identifier(spine))), copy=False)
        .join(exp.Table(this=identifier(inputs.events), alias=exp.TableAlias(this=identifier(late))), on=joined, copy=False)
        .group_by(column(SPINE_ROW, spine), copy=False)
    )


def combined(function: str, index: int, on_time: str, late: str) -> exp.Expression:
    """One feature from the frames' partials (`on_time`, its counts never null) and the late
    events' (`late`, null where a spine row has none); sql/window_hops.py combines its whole
    hops' and edges' partials so too."""

    def part(table: str, name: str) -> exp.Expression:
        return column(partial_name(index, name), table)

    def zero_if_null(value: exp.Expression) -> exp.Expression:
        return exp.Coalesce(this=value, expressions=[exp.Literal.number(0)])

    def double(value: exp.Expression) -> exp.Expression:
        return exp.cast(value, data_type("double"), copy=False)

    def arithmetic(kind: type[exp.Binary], left: exp.Expression, right: exp.Expression) -> exp.Expression:
        # Parenthesised: a built tree prints as it nests only where the nesting is explicit.
        # `left` and `right` are built for this place (a value used twice is built twice).
        return exp.paren(kind(this=left, expression=right), copy=False)

    if function in ("min", "max"):
        mine, theirs = part(on_time, function), part(late, function)
        better = exp.LT(this=theirs, expression=mine) if function == "min" else exp.GT(this=theirs, expression=mine)
        return exp.Case(
            ifs=[exp.If(this=exp.Is(this=mine.copy(), expression=exp.null()), true=theirs.copy()),
                 exp.If(this=exp.and_(not_null(partial_name(index, function), late), better), true=theirs.copy())],
            default=mine.copy(),
        )

    def count() -> exp.Expression:
        return arithmetic(exp.Add, part(on_time, "count"), zero_if_null(part(late, "count")))

    if function == "count":
        return count()
    if function in ("sum", "avg"):

        def total() -> exp.Expression:
            return arithmetic(exp.Add, zero_if_null(part(on_time, "sum")), zero_if_null(part(late, "sum")))

        some = exp.GT(this=count(), expression=exp.Literal.number(0))
        value = total() if function == "sum" else arithmetic(exp.Div, double(total()), double(count()))
        return exp.Case(ifs=[exp.If(this=some, true=value)])

    # stddev: the two parts' sums of squared deviations merged (Chan et al.), sample stddev.
    def n_a() -> exp.Expression:
        return double(part(on_time, "count"))

    def n_b() -> exp.Expression:
        return double(zero_if_null(part(late, "count")))

    def gap() -> exp.Expression:
        return arithmetic(exp.Sub, double(part(late, "avg")), double(part(on_time, "avg")))

    squares = arithmetic(
        exp.Add,
        zero_if_null(arithmetic(exp.Mul, double(part(on_time, "var_pop")), n_a())),
        zero_if_null(arithmetic(exp.Mul, double(part(late, "var_pop")), n_b())),
    )
    between = arithmetic(exp.Div, arithmetic(exp.Mul, arithmetic(exp.Mul, gap(), gap()), arithmetic(exp.Mul, n_a(), n_b())), double(count()))
    merged = arithmetic(exp.Add, squares, zero_if_null(between))
    variance = arithmetic(exp.Div, merged, double(arithmetic(exp.Sub, count(), exp.Literal.number(1))))
    return exp.Case(ifs=[exp.If(this=exp.GTE(this=count(), expression=exp.Literal.number(2)), true=exp.Sqrt(this=variance))])
