"""The shared point-in-time semantics, as sqlglot trees: when a row was known, which of tied
rows wins, and the latest row per entity at a moment. Training sets, syncs and parity checks
all take their answer from here, so they cannot disagree (docs/training-sets.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from sqlglot import exp

from featurestore.catalog import FeatureView, Relation
from featurestore.sql.expressions import INTERNAL, column, identifier, relation_table, timestamp_literal

WATERMARK = f"{INTERNAL}watermark"  # see latest_values_expression(with_watermark=True)


def knowledge_time(view: FeatureView) -> exp.Expression:
    """When a row of `view` was known: its created_at, or its timestamp where created_at is
    null or not declared (a row cannot be known before it is true)."""
    if not view.created_at:
        return column(view.timestamp)
    return exp.Coalesce(this=column(view.created_at), expressions=[column(view.timestamp)])


def tie_break_order(view: FeatureView) -> list[exp.Ordered]:
    """Latest first: greatest timestamp, then greatest knowledge time, then - for rows equal
    in both - the greatest values of *all* the view's features in declared order (nulls
    last). Every engine, every selection of features and the online store then pick the same
    row. A view dbt tests for one row per key and timestamp has no ties: its timestamp alone
    orders it."""
    if view.rows_unique_by_test:
        keys = [column(view.timestamp)]
    else:
        keys = [column(view.timestamp), knowledge_time(view), *[column(f) for f in view.feature_names]]
    return [exp.Ordered(this=k, desc=True, nulls_first=False) for k in keys]


def tie_break_winner_last(view: FeatureView) -> list[exp.Ordered]:
    """The order among rows of one timestamp that ends with tie_break_order's winner: its keys
    after the timestamp, ascending, nulls first. For the forms that take the last row of a
    sort (a view row followed by the next timestamp or by a spine row) instead of ranking
    every row: ties then cost a few more sort keys, not a window of their own. Empty for a
    view dbt tests for one row per key and timestamp."""
    # Past the timestamp; and past the knowledge time too where that is the timestamp itself.
    after_timestamp = tie_break_order(view)[1 if view.created_at else 2 :]
    return [exp.Ordered(this=o.this.copy(), desc=False, nulls_first=True) for o in after_timestamp]


def latest_values_expression(
    view: FeatureView,
    features: Sequence[str],
    as_of: datetime,
    written_after: datetime | None = None,
    respect_created_at: bool = True,
    with_watermark: bool = False,
    pushed: Relation | None = None,
) -> exp.Select:
    """One row per entity of `view`: the row a training set at `as_of` would use.

    Columns: the join keys, the view's timestamp column, its created_at column (if any) and
    `features`, under their own names. ttl is not applied: callers decide what an expired
    value means (sync skips and counts it; a training set returns null).

    With `written_after`, only rows written later count (by created_at, or by the timestamp
    for views without one): the latest of the *new* rows, for an incremental sync.

    With `with_watermark`, every row also carries `WATERMARK`: the greatest knowledge time
    of all the rows considered, not only of the latest ones - where the next incremental
    sync starts.

    With `pushed` (the view's landing table, featurestore.sql.landing), its rows count as
    rows of the view: the pushed rows a `dbt build` has not folded in yet. They do not move
    the watermark, which is about the view's own rows (a pushed row newer than the batch
    must not make the next incremental sync skip batch rows built after it).

    >>> from featurestore.catalog import FeatureView, Relation   # doctest: +SKIP
    """
    keep = [*view.join_keys, view.timestamp, *([view.created_at] if view.created_at else []), *features]
    conditions: list[exp.Expression] = [exp.LTE(this=column(view.timestamp), expression=timestamp_literal(as_of))]
    if view.created_at and respect_created_at:
        conditions.append(exp.LTE(this=knowledge_time(view), expression=timestamp_literal(as_of)))
    if written_after is not None:
        conditions.append(exp.GT(this=knowledge_time(view), expression=timestamp_literal(written_after)))
    rank = exp.Window(
        this=exp.RowNumber(),
        partition_by=[column(k) for k in view.join_keys],
        order=exp.Order(expressions=tie_break_order(view)),
    )
    source: exp.Expression = relation_table(view)
    if pushed is not None:
        rows = [exp.select(*[column(c) for c in keep]).from_(t) for t in (relation_table(view), relation_table(view, relation=pushed))]
        source = exp.union(*rows, distinct=False).subquery(identifier(f"{INTERNAL}rows"))
    ranked = (
        exp.select(*[column(c) for c in keep], exp.alias_(rank, identifier(f"{INTERNAL}rank")))
        .from_(source)
        .where(exp.and_(*conditions))
    )
    latest = first_ranked(ranked, keep)
    if with_watermark:
        # A scalar subquery in the same statement: the same snapshot as the rows, and a
        # parallel aggregate where MAX(...) OVER () would be one thread over every row.
        newest = (
            exp.select(exp.Max(this=knowledge_time(view)))
            .from_(relation_table(view))
            .where(exp.and_(*[c.copy() for c in conditions]))
        )
        latest = latest.select(exp.alias_(newest.subquery(), identifier(WATERMARK)))
    return latest


def first_ranked(ranked: exp.Select, keep: Sequence[str]) -> exp.Select:
    return (
        exp.select(*[column(c) for c in keep])
        .from_(ranked.subquery(identifier(f"{INTERNAL}ranked")))
        .where(exp.EQ(this=column(f"{INTERNAL}rank"), expression=exp.Literal.number(1)))
    )
