"""The forms that join one view's timeline (sql/semantics.py `timeline_expression`) to the
spine (sql/spine.py), each finding every spine row's matching row: the engine's as-of join
(native, or with a MATCH_CONDITION; over the spine itself or a narrow copy of it), the
portable form that sorts spine and timeline rows together (in one window where the engine
has LAST_VALUE ... IGNORE NULLS), and the top-one lateral join over an indexed table.
sql/pit.py chooses a form per view and composes them."""

from __future__ import annotations

from typing import Sequence

from sqlglot import exp

from featurestore.catalog import FeatureSelection, FeatureView
from featurestore.engines.engine import AsOfJoin
from featurestore.sql.expressions import INTERNAL, column, data_type, identifier, relation_table
from featurestore.sql.semantics import VIEW_TIME, tie_break_winner_last
from featurestore.sql.spine import SPINE, SPINE_ROW


def top_one_lateral_join(index: int, selection: FeatureSelection, spine_time: str) -> exp.Join:
    """LEFT JOIN LATERAL (the view's latest row for the spine row's keys at or before its
    time) ON TRUE: with an index on (join keys..., timestamp), one backward index scan per
    spine row. Rows with a null key or timestamp never match (= and <= are not true on
    null), nor does a spine row with one. Rows of one (keys, timestamp) are ordered as the
    portable form orders them, reversed: its winner is the last in tie_break_winner_last's
    ascending, nulls-first order, so here it comes first (descending, nulls last)."""
    view, alias = selection.view, f"{INTERNAL}v{index}"
    rows = f"{alias}_rows"

    def own(expression: exp.Expression) -> exp.Expression:
        # Every column of the view's, named with its table: the spine's columns are in scope too.
        expression = expression.copy()
        for name in list(expression.find_all(exp.Column)):
            name.set("table", identifier(rows))
        return expression

    # The timestamp DESC, nulls first: the order a btree index on it gives read backwards
    # (no null timestamp gets past the WHERE); then the tie-break keys (none for a view dbt
    # tests for one row per key and timestamp).
    latest = [
        exp.Ordered(this=column(view.timestamp, rows), desc=True, nulls_first=True),
        *[exp.Ordered(this=own(o.this), desc=True, nulls_first=False) for o in tie_break_winner_last(view)],
    ]
    keys_match = [exp.EQ(this=column(k, rows), expression=column(k, SPINE)) for k in view.join_keys]
    not_after = exp.LTE(this=column(view.timestamp, rows), expression=column(spine_time, SPINE))
    top_one = (
        exp.select(
            exp.alias_(column(view.timestamp, rows), identifier(VIEW_TIME)),
            *[exp.alias_(column(f.name, rows), identifier(f.name)) for f in selection.features],
        )
        .from_(relation_table(view, alias=rows), copy=False)
        .where(exp.and_(*keys_match, not_after, copy=False), copy=False)
        .order_by(*latest)
        .limit(1)
    )
    lateral = exp.Lateral(this=top_one.subquery(), alias=exp.TableAlias(this=identifier(alias)))
    return exp.Join(this=lateral, side="LEFT", on=exp.true())


def _keys_match(view: FeatureView, alias: str) -> exp.Expression:
    return exp.and_(*[exp.EQ(this=column(k, SPINE), expression=column(k, alias)) for k in view.join_keys])


def as_of_match_expression(
    style: AsOfJoin, timeline: str, view: FeatureView, features: Sequence[str], spine_time: str, event_time: str
) -> exp.Select:
    """Each spine row's matching timeline row by the engine's as-of join, over only what the
    join needs of the spine: its row number, keys and time. Joining each view after the first
    to this narrow spine, and the results to the spine on the row, keeps the cost linear in
    the number of views: a chain of as-of joins sorts the spine again for each view, wider
    each time (measured in DuckDB: a chain of 50 costs 2.2x the 50 narrow joins;
    docs/benchmarks.md)."""
    carried = [event_time, *features]
    return exp.select(column(SPINE_ROW, SPINE), *[column(c, timeline) for c in carried]).from_(
        exp.Table(this=identifier(SPINE)), copy=False
    ).join(as_of_join(style, timeline, view, spine_time), copy=False)


def as_of_join(style: AsOfJoin, alias: str, view: FeatureView, spine_time: str) -> exp.Join:
    not_after = exp.GTE(this=column(spine_time, SPINE), expression=column(VIEW_TIME, alias))
    table = exp.Table(this=identifier(alias), alias=exp.TableAlias(this=identifier(alias)))
    if style is AsOfJoin.NATIVE:
        return exp.Join(this=table, method="ASOF", side="LEFT", on=exp.and_(_keys_match(view, alias), not_after))
    # An ASOF JOIN with a MATCH_CONDITION keeps unmatched left rows, as a left join does.
    return exp.Join(this=table, method="ASOF", match_condition=not_after, on=_keys_match(view, alias))


def portable_match_expression(
    timeline: str, view: FeatureView, features: Sequence[str], spine_time: str, event_time: str, ties: Sequence[str]
) -> exp.Select:
    """For engines without an as-of join: each spine row's matching timeline row, found by
    sorting spine and timeline rows together per entity. A timeline row opens a group that
    the spine rows after it (at the same time too: the bound is inclusive) belong to, so the
    group's first row is the answer. One sort, no range join, whatever the history length.

    Timeline rows of one time (`ties`: the view has no uniqueness test) are sorted winner
    last, so the spine rows after them join the winner's group: the tie-break is a few
    more sort keys of the one sort, not a ranking of the whole view."""
    keys = list(view.join_keys)
    carried = [event_time, *features]
    kind, group, when = f"{INTERNAL}kind", f"{INTERNAL}group", f"{INTERNAL}time"
    timeline_rows = exp.select(
        *[column(k) for k in keys],
        exp.alias_(column(VIEW_TIME), identifier(when)),
        exp.alias_(exp.Literal.number(0), identifier(kind)),
        exp.alias_(exp.cast(exp.null(), data_type("bigint")), identifier(SPINE_ROW)),
        *[column(c) for c in carried],
        *[column(t) for t in ties],
    ).from_(identifier(timeline), copy=False)
    events = exp.union(timeline_rows, _spine_rows(keys, spine_time, len(carried) + len(ties)), distinct=False, copy=False)
    opened_groups = _along_timeline(exp.Sum(this=exp.Sub(this=exp.Literal.number(1), expression=column(kind))), keys, when, kind, ties)
    # Each subquery and filter in place (copy=False, here and below): the parts are this
    # call's own, and a copy per step re-copies every step before it.
    grouped = exp.select("*", exp.alias_(opened_groups, identifier(group), copy=False)).from_(
        events.subquery(identifier(f"{INTERNAL}events"), copy=False), copy=False
    )

    def first_in_group(name: str) -> exp.Expression:
        window = exp.Window(
            this=exp.FirstValue(this=column(name)),
            partition_by=[*[column(k) for k in keys], column(group)],
            order=exp.Order(expressions=[exp.Ordered(this=column(kind))]),
        )
        return exp.alias_(window, identifier(name))

    answered = exp.select(column(SPINE_ROW), column(kind), *[first_in_group(c) for c in carried]).from_(
        grouped.subquery(identifier(f"{INTERNAL}grouped"), copy=False), copy=False
    )
    return (
        exp.select(column(SPINE_ROW), *[column(c) for c in carried])
        .from_(answered.subquery(identifier(f"{INTERNAL}answered"), copy=False))
        .where(exp.EQ(this=column(kind), expression=exp.Literal.number(1)), copy=False)
    )


def _spine_rows(keys: Sequence[str], spine_time: str, nulls: int) -> exp.Select:
    """The spine's rows as rows of the sorted timeline (kind 1, after the view's rows of the
    same time), with `nulls` nulls where timeline rows carry their values; rows whose keys or
    time are null match nothing and are left out."""
    present = [exp.Not(this=exp.Is(this=column(c), expression=exp.null())) for c in [*keys, spine_time]]
    return (
        exp.select(
            *[column(k) for k in keys],
            column(spine_time),
            exp.Literal.number(1),
            column(SPINE_ROW),
            *[exp.null() for _ in range(nulls)],
        )
        .from_(exp.Table(this=identifier(SPINE)), copy=False)
        .where(exp.and_(*present, copy=False), copy=False)
    )


def _along_timeline(function: exp.Expression, keys: Sequence[str], when: str, kind: str, ties: Sequence[str]) -> exp.Window:
    """`function` over each entity's rows up to the current one, in timeline order: time, view
    rows before spine rows, tied view rows winner last."""
    return exp.Window(
        this=function,
        partition_by=[column(k) for k in keys],
        order=exp.Order(
            expressions=[
                exp.Ordered(this=column(when)),
                exp.Ordered(this=column(kind)),
                *[exp.Ordered(this=column(t), nulls_first=True) for t in ties],
            ]
        ),
        spec=exp.WindowSpec(kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end="CURRENT ROW"),
    )


def latest_row_match_expression(
    timeline: str, view: FeatureView, features: Sequence[str], spine_time: str, event_time: str, ties: Sequence[str]
) -> exp.Select:
    """The portable form in one window, for engines with LAST_VALUE(...) IGNORE NULLS: spine
    and timeline rows sorted together per entity as there, each timeline row carrying its
    values as one struct (never null, even when its values are) and each spine row taking the
    last struct before it. No groups to number, so one sort where the other form needs two.
    Ties (`ties`) are sorted winner last, as in portable_match_expression."""
    keys = list(view.join_keys)
    carried = [event_time, *features]
    kind, when, row = f"{INTERNAL}kind", f"{INTERNAL}time", f"{INTERNAL}latest"
    values = exp.Struct(expressions=[exp.PropertyEQ(this=identifier(c), expression=column(c)) for c in carried])
    timeline_rows = exp.select(
        *[column(k) for k in keys],
        exp.alias_(column(VIEW_TIME), identifier(when)),
        exp.alias_(exp.Literal.number(0), identifier(kind)),
        exp.alias_(exp.cast(exp.null(), data_type("bigint")), identifier(SPINE_ROW)),
        exp.alias_(values, identifier(row)),
        *[column(t) for t in ties],
    ).from_(identifier(timeline), copy=False)
    latest = _along_timeline(exp.IgnoreNulls(this=exp.LastValue(this=column(row))), keys, when, kind, ties)
    events = exp.union(timeline_rows, _spine_rows(keys, spine_time, 1 + len(ties)), distinct=False, copy=False).subquery(
        identifier(f"{INTERNAL}events"), copy=False
    )
    answered = exp.select(column(SPINE_ROW), column(kind), exp.alias_(latest, identifier(row), copy=False)).from_(events, copy=False)
    return (
        exp.select(column(SPINE_ROW), *[exp.alias_(exp.Dot(this=column(row), expression=identifier(c)), identifier(c)) for c in carried])
        .from_(answered.subquery(identifier(f"{INTERNAL}answered"), copy=False))
        .where(exp.EQ(this=column(kind), expression=exp.Literal.number(1)), copy=False)
    )
