"""The events an aggregation view keeps online: what `fs sync` reads to rebuild its tiles and
raw events in Redis (featurestore.online.tile_sync).

The events of the view known at `now` (event time and knowledge time at or before it) that
any window can still count (event time after `now - longest window`), with a non-null key. Rows pushed to the view's landing table count once: those a `dbt build`
has folded in are in the view already (the model unions its landing table), so the landing
table adds only its rows the view does not hold (EXCEPT ALL, which counts duplicates).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Sequence

from sqlglot import exp

from featurestore.catalog import FeatureView, Relation
from featurestore.sql.expressions import INTERNAL, column, identifier, relation_table, timestamp_literal
from featurestore.sql.semantics import knowledge_time


def window_events_expression(
    view: FeatureView, columns: Sequence[str], now: datetime, longest: timedelta, pushed: Relation | None = None
) -> exp.Select:
    """The events `fs sync` writes for `view` at `now`: join keys, timestamp, created_at (if
    declared) and `columns`.

    >>> from featurestore.sql.expressions import render   # doctest: +SKIP
    """
    keep = [*view.join_keys, view.timestamp, *([view.created_at] if view.created_at else []), *columns]
    source: exp.Expression = relation_table(view)
    if pushed is not None:
        rows = [exp.select(*[column(c) for c in keep]).from_(t) for t in (relation_table(view), relation_table(view, relation=pushed))]
        unfolded = exp.except_(rows[1], rows[0].copy(), distinct=False)
        source = exp.union(rows[0], exp.select("*").from_(unfolded.subquery(identifier(f"{INTERNAL}unfolded"))), distinct=False)
        source = source.subquery(identifier(f"{INTERNAL}rows"))
    conditions: list[exp.Expression] = [
        exp.LTE(this=column(view.timestamp), expression=timestamp_literal(now)),
        exp.GT(this=column(view.timestamp), expression=timestamp_literal(now - longest)),
        *[exp.Not(this=exp.Is(this=column(k), expression=exp.Null())) for k in view.join_keys],
    ]
    if view.created_at:
        conditions.append(exp.LTE(this=knowledge_time(view), expression=timestamp_literal(now)))
    return exp.select(*[column(c) for c in keep]).from_(source).where(exp.and_(*conditions))
