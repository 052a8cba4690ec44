"""Point-in-time SQL as sqlglot expressions: the training-set join and the latest values.

Functions named `*_expression` return sqlglot trees; `render` turns a tree into SQL text for
one dialect. The semantics (docs/training-sets.md, the contract) live here once; how each
engine spells the as-of join is in `featurestore.dialects`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from sqlglot import exp

from featurestore.catalog import FeatureView

# Internal column names carry this prefix so they never collide with a user's column.
INTERNAL = "__fs_"


def identifier(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def column(name: str, table: str | None = None) -> exp.Column:
    return exp.column(identifier(name), table=identifier(table) if table else None)


def relation_table(view: FeatureView, alias: str | None = None) -> exp.Table:
    rel = view.relation
    return exp.Table(
        this=identifier(rel.identifier),
        db=identifier(rel.schema) if rel.schema else None,
        catalog=identifier(rel.database) if rel.database else None,
        alias=exp.TableAlias(this=identifier(alias)) if alias else None,
    )


def timestamp_literal(value: datetime) -> exp.Expression:
    """A naive UTC timestamp literal, `CAST('2013-12-31 00:30:00' AS TIMESTAMP)`."""
    return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), exp.DataType.build("timestamp"))


def tie_break_order(view: FeatureView, features: Sequence[str], table: str | None = None) -> list[exp.Ordered]:
    """Latest first: greatest timestamp, then greatest created_at, then - for rows equal in
    both - the greatest feature values in column order (nulls last), so that every engine
    picks the same row."""
    keys = [view.timestamp, *([view.created_at] if view.created_at else []), *features]
    return [exp.Ordered(this=column(k, table), desc=True, nulls_first=False) for k in keys]


def latest_values_expression(
    view: FeatureView,
    features: Sequence[str],
    as_of: datetime,
    written_after: datetime | None = None,
    respect_created_at: bool = True,
) -> exp.Select:
    """One row per entity of `view`: the row a training set at `as_of` would use.

    Columns: the join keys, the view's timestamp column, its created_at column (if any) and
    `features`, under their own names. ttl is not applied: callers decide what an expired
    value means (sync skips and counts it; a training set returns null).

    With `written_after`, only rows written later count (by created_at, or by the timestamp
    for views without one): the latest of the *new* rows, for an incremental sync.

    >>> from featurestore.catalog import FeatureView, Relation   # doctest: +SKIP
    """
    keep = [*view.join_keys, view.timestamp, *([view.created_at] if view.created_at else []), *features]
    conditions: list[exp.Expression] = [exp.LTE(this=column(view.timestamp), expression=timestamp_literal(as_of))]
    if view.created_at and respect_created_at:
        conditions.append(exp.LTE(this=column(view.created_at), expression=timestamp_literal(as_of)))
    if written_after is not None:
        written = view.created_at or view.timestamp
        conditions.append(exp.GT(this=column(written), expression=timestamp_literal(written_after)))
    rank = exp.Window(
        this=exp.RowNumber(),
        partition_by=[column(k) for k in view.join_keys],
        order=exp.Order(expressions=tie_break_order(view, features)),
    )
    ranked = (
        exp.select(*[column(c) for c in keep], exp.alias_(rank, identifier(f"{INTERNAL}rank")))
        .from_(relation_table(view))
        .where(exp.and_(*conditions))
    )
    return (
        exp.select(*[column(c) for c in keep])
        .from_(ranked.subquery(identifier(f"{INTERNAL}ranked")))
        .where(exp.EQ(this=column(f"{INTERNAL}rank"), expression=exp.Literal.number(1)))
    )


def render(expression: exp.Expression, dialect: str, pretty: bool = False) -> str:
    """SQL text of `expression` for `dialect` (a sqlglot dialect name)."""
    return expression.sql(dialect=dialect, pretty=pretty)
