"""Bounded scans: the predicates that let a training set read only the rows of a view its
spine can land on, and the one small query over the spine that tells how far they reach.

Each predicate is exact (docs/training-sets.md, "Bounded scans"): it removes only rows no
spine row would take, or rows whose answer would be nulled by the view's ttl anyway.
- Upper bound, always: a row with `timestamp` after the spine's latest time (or, under a
  knowledge cut-off, not known by then) is never usable at any spine time.
- Lower bound, with a ttl: a row with `timestamp < earliest - ttl` is expired at every spine
  time; where it would have been the answer, every older usable row is expired too, so the
  join finds nothing and the feature is null either way.
- Keys, where the spine has few: a row whose keys no spine row has is never looked at.
Literal bounds and a semi-join are what an engine pushes into its scan: DuckDB's row-group
min/max, PostgreSQL's index, Spark's partition and file pruning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Sequence

from sqlglot import exp

from featurestore.catalog import FeatureView
from featurestore.engines.base import Engine
from featurestore.sql.expressions import INTERNAL, column, identifier, relation_table
from featurestore.sql.semantics import VIEW_ROWS, knowledge_time
from featurestore.sql.spine import SPINE

SPINE_KEYS = f"{INTERNAL}keys"
# A driver may hand back a nanosecond time truncated (or rounded) to microseconds: every
# literal bound is widened by one, which keeps it exact (a bound may keep more, never less).
SLACK = timedelta(microseconds=1)


@dataclass(frozen=True)
class ViewScan:
    """What of one view a training set reads (made by featurestore.offline.scans)."""

    earliest: datetime | None = None
    """Rows with an event timestamp before this are not read (None: no lower bound)."""
    latest: datetime | None = None
    """Rows with an event timestamp, or a knowledge time, after this are not read."""
    spine_keys_only: bool = False
    """Only rows whose join keys some spine row has are read (a semi-join on the spine)."""
    ttl_window: bool = False
    """Each spine row's ttl window holds few of the view's rows: where the engine has the
    form (Engine.ttl_window_join), the view is joined within it (sql/ttl_window.py)."""
    window_hops: bool = False
    """An aggregation view whose windows hold many events per entity: where the engine has
    the plan (Engine.window_hops), its count, sum, avg, min and max come from hop partials
    and exact edges (sql/window_hops.py)."""
    window_pairs: bool = False
    """An aggregation view with few events per entity: where the engine has the plan
    (Engine.window_pairs), its features (but those hops take) come from a range
    join of the spine rows to their entities' events (sql/window_pairs.py)."""

    @property
    def bounded(self) -> bool:
        return self.earliest is not None or self.latest is not None or self.spine_keys_only


def bound_literal(value: datetime, engine: Engine) -> exp.Expression:
    """A naive UTC time as the view's timestamp reads on `engine`: where the engine casts
    times to one type (Engine.casts_times: BigQuery's DATETIME, Trino's TIMESTAMP(6)), the
    literal is of that type too, so the comparison mixes none."""
    kind = "timestamp(6)" if engine.casts_times else "timestamp"
    return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), exp.DataType.build(kind))


def scan_condition(view: FeatureView, scan: ViewScan, engine: Engine, knowledge_cut_off: bool) -> exp.Expression | None:
    """The WHERE conjuncts over the view's own columns that bound its scan, or None.
    `knowledge_cut_off`: the join honours created_at, so the upper bound is on the knowledge
    time as well (a row known after the spine's latest time is never usable)."""
    conditions: list[exp.Expression] = []
    if scan.latest is not None:
        latest = scan.latest + SLACK
        conditions.append(exp.LTE(this=column(view.timestamp), expression=bound_literal(latest, engine)))
        if knowledge_cut_off and view.created_at:
            conditions.append(exp.LTE(this=knowledge_time(view), expression=bound_literal(latest, engine)))
    if scan.earliest is not None:
        conditions.append(exp.GTE(this=column(view.timestamp), expression=bound_literal(scan.earliest - SLACK, engine)))
    if scan.spine_keys_only:
        conditions.append(_has_spine_keys(view))
    return exp.and_(*conditions, copy=False) if conditions else None


def _has_spine_keys(view: FeatureView) -> exp.Exists:
    """EXISTS (a spine row with the row's join keys): a semi-join every engine plans as one
    (a tuple IN is not portable: BigQuery has none). The view's side is named by its alias,
    VIEW_ROWS, as both sides have the same column names."""
    same = [exp.EQ(this=column(k, SPINE_KEYS), expression=column(k, VIEW_ROWS)) for k in view.join_keys]
    spine = exp.Table(this=identifier(SPINE), alias=exp.TableAlias(this=identifier(SPINE_KEYS)))
    return exp.Exists(this=exp.select(exp.Literal.number(1)).from_(spine, copy=False).where(exp.and_(*same, copy=False), copy=False))


def spine_facts_expression(source: exp.Expression, timestamp: exp.Expression, keys: Sequence[str]) -> exp.Select:
    """One row over the spine: the earliest and latest of its times (as naive UTC, in text:
    what a literal of the session reads back the same, whatever zone a driver would convert
    a timestamp to), its row count, and, for each column of `keys`, the number of its
    distinct values: all a bounded scan is decided on. The spine is small beside the views;
    this reads only those columns."""
    text = exp.DataType.build("text")
    return exp.select(
        exp.cast(exp.Min(this=timestamp.copy()), text),
        exp.cast(exp.Max(this=timestamp.copy()), text),
        exp.Count(this=exp.Star()),
        *[exp.Count(this=exp.Distinct(expressions=[column(k)])) for k in keys],
    ).from_(source.copy())


def rows_estimate_expression(view: FeatureView) -> exp.Select:
    """The query whose plan the warehouse's estimate of the view's row count is read from
    (Warehouse.estimated_rows: EXPLAIN, which reads no rows)."""
    return exp.select(exp.Star()).from_(relation_table(view))
