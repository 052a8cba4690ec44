"""Deciding, per view, what of it a training set reads (sql/scans.py builds the predicates,
docs/training-sets.md says why they are exact): from cheap facts only, never a scan of a
view. The facts are one small query over the spine (its earliest and latest time, its rows
and distinct keys) and the warehouse planner's estimate of each view's rows (EXPLAIN).

- The time bounds cost nothing where they remove nothing, so every view gets them: the
  spine's latest time always, its earliest time less the ttl where the view has one.
- The semi-join on the spine's keys costs a hash probe per view row: measured in DuckDB on
  9M rows, it halves the join's time with a spine over half the entities and costs 1.4x
  with one over all of them (docs/benchmarks.md). It is used where the spine's distinct
  keys are at most one per SEMI_JOIN_ROWS_PER_KEY of the view's estimated rows, which
  holds for a hundredth of the entities of a daily view of a hundred days, and stays off
  where the engine gives no estimate. (A view joined within its ttl windows does without it:
  sql/pit.py leaves it out there, the window join's hash join on the keys doing its work.)
- A view with a ttl is joined within each spine row's ttl window (sql/ttl_window.py), a hash
  join whose rows are each spine row's rows in its window, where the spine is small beside
  the view: at most one row per TTL_WINDOW_ROWS_PER_SPINE_ROW of the view's estimated rows.
  Measured in DuckDB on a daily view of 9M rows (docs/benchmarks.md): against the as-of join
  over the rows the bounds keep, it costs 0.1-0.2x with a spine of a 900th of the view's
  rows, 0.45-0.84x with a 90th (ttl 100 to 1 days: the as-of join sorts the ttl's extra rows,
  the window join only probes them), 0.8x with a 30th and 1.0-1.45x with a 9th (the spine
  over the whole view: each spine row costs the window join a hash-table entry, a group of
  its ranking and a join back). It stays off where the engine gives no estimate. What it
  cannot see without a scan is a view with many rows per key within a ttl (events, not a
  daily snapshot), whose windows would make the join's rows many.
- An aggregation view's count, sum, avg, min and max come from hop partials and exact edges
  (sql/window_hops.py) where its windows are dense: at least DENSE_WINDOW_EVENTS events of an
  entity in its longest window, estimated as the view's estimated rows per distinct spine
  key, times the longest window over the spine's time span (at most 1: events assumed spread
  evenly over the spine's entities and time). Measured in DuckDB (docs/benchmarks.md, 10M events, 1M spine
  rows, 1h/24h/7d/28d, 1h hops): with 28 events in a 28-day window the hop plan costs 1.16x
  the frames, with 280 0.94x, 2,800 0.26x and 28,000 0.18x; the lines cross near 200 (fs's
  own hop plan, chosen by this rule: 0.92x at 241 events, 0.28x at 2,409, 0.21x at 24,337). Where
  the spine has few of the view's entities the estimate errs dense: the hop plan then costs
  at most about 1.2x, where frames over dense windows cost up to 5x. A spine over one instant
  has no span: the window is taken to hold all of an entity's events.
- An aggregation view's features (but those hop partials take) come from a range join of
  each spine row to its entity's events (sql/window_pairs.py) where the join's pairs are few
  beside the rows frames would sort: the spine rows times the events per entity (the view's
  estimated rows per distinct spine key; per entity, not per window, since the join's hash
  probe touches all of an entity's events) at most SPARSE_PAIRS_PER_ROW times the view's
  estimated rows plus the spine rows. Measured in DuckDB (docs/benchmarks.md, 10M events,
  count/sum/max x 1h/24h/7d/28d), CPU against the frames: with a 1M-row spine, 0.45x at 100
  events per entity (9 pairs per row), 0.81x at 250 (23), 1.01x at 333 (30), about 3x at
  1,000 (91); with a 3M-row spine at 250 (58 pairs per row) 1.84x. The join's cost follows its
  pairs, the frames' the rows: the lines cross near 30 pairs per row, and the threshold keeps
  to the side where the join is clearly ahead. The estimate errs high (frames) where the
  spine has few of the view's entities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterable, Mapping, Sequence

from featurestore.catalog import FeatureView
from featurestore.engines.base import Warehouse
from featurestore.offline.spine import Spine, timestamp_as_naive_utc
from featurestore.sql.expressions import render
from featurestore.sql.scans import ViewScan, rows_estimate_expression, spine_facts_expression
from featurestore.sql.window_hops import HOP_FUNCTIONS
from featurestore.sql.window_pairs import PAIR_FUNCTIONS

SEMI_JOIN_ROWS_PER_KEY = 1000
"""A view is semi-joined on the spine's keys where it has at least this many estimated rows
per distinct spine key (see the module's docstring)."""

DENSE_WINDOW_EVENTS = 200
"""An aggregation view's windows are dense, and take hop partials, where an entity's longest
window holds at least this many events (see the module's docstring)."""

SPARSE_PAIRS_PER_ROW = 25
"""An aggregation view joins its spine rows to their entities' events (sql/window_pairs.py)
where the join's pairs are at most this many per row of the view and the spine (see the
module's docstring)."""

TTL_WINDOW_ROWS_PER_SPINE_ROW = 20
"""A view with a ttl is joined within each spine row's ttl window where it has at least this
many estimated rows per spine row (see the module's docstring)."""


@dataclass(frozen=True)
class SpineFacts:
    """What a bounded scan is decided on, of the spine."""

    earliest: datetime | None
    """The earliest spine time (naive UTC); None when no spine row has one."""
    latest: datetime | None
    rows: int
    distinct: Mapping[str, int] = field(default_factory=dict)
    """Key column -> its number of distinct values in the spine."""

    def distinct_keys(self, keys: Sequence[str]) -> int:
        """At most how many distinct combinations of `keys` the spine holds."""
        return min(self.rows, math.prod(self.distinct.get(k, self.rows) for k in keys))


@dataclass(frozen=True)
class BoundedScans:
    """Each view's scan, and the facts it was decided on that a staged build sizes its
    stages by (offline/stages.py)."""

    scans: dict[str, ViewScan]
    spine_rows: int
    estimated_rows: Mapping[str, int | None] = field(default_factory=dict)
    """View -> the warehouse's estimate of its rows (None: no estimate)."""


def bounded_scans(views: Iterable[FeatureView], spine: Spine, warehouse: Warehouse) -> BoundedScans:
    """Each view's scan for a training set over `spine` (uploaded already, so the warehouse
    can read it), decided from the spine's facts and the views' estimated sizes."""
    views = list(views)
    facts = read_spine_facts(spine, views, warehouse)
    if facts.rows == 0:
        return BoundedScans({}, 0)
    estimates = {view.name: warehouse.estimated_rows(render(rows_estimate_expression(view), warehouse.dialect)) for view in views}
    return BoundedScans(choose_scans(views, facts, estimates), facts.rows, estimates)


def read_spine_facts(spine: Spine, views: Sequence[FeatureView], warehouse: Warehouse) -> SpineFacts:
    keys = sorted({k for view in views for k in view.join_keys})
    query = spine_facts_expression(spine.source, timestamp_as_naive_utc(spine, warehouse.engine), keys)
    earliest, latest, rows, *distinct = warehouse.fetch_all(render(query, warehouse.dialect))[0]
    return SpineFacts(_time(earliest), _time(latest), int(rows), dict(zip(keys, map(int, distinct))))


def _time(text: str | None) -> datetime | None:
    """A time as the warehouse wrote it in text; None (no bound) where Python cannot read
    it (a year past 9999), which reads every row, as before bounds."""
    if text is None:
        return None
    try:
        return datetime.fromisoformat(str(text))
    except ValueError:
        return None


def choose_scans(views: Iterable[FeatureView], facts: SpineFacts, estimated_rows: Mapping[str, int | None]) -> dict[str, ViewScan]:
    """Pure: each view's scan, from the spine's facts and the views' estimated rows."""
    scans = {}
    for view in views:
        earliest = None
        if facts.earliest is not None and view.ttl is not None:
            try:
                earliest = facts.earliest - view.ttl
            except OverflowError:  # before year 1: nothing to leave out
                earliest = None
        estimate = estimated_rows.get(view.name)
        few_keys = semi_join_pays(facts.distinct_keys(view.join_keys), estimate)
        scans[view.name] = ViewScan(
            earliest=earliest, latest=facts.latest, spine_keys_only=few_keys, ttl_window=ttl_window_pays(view, facts, estimate),
            window_hops=window_hops_pay(view, facts, estimate), window_pairs=window_pairs_pay(view, facts, estimate),
        )
    return scans


def ttl_window_pays(view: FeatureView, facts: SpineFacts, estimated_rows: int | None) -> bool:
    """Whether `view` (of `estimated_rows`, None: the engine gave no estimate) is joined
    faster within each spine row's ttl window than by an as-of join (see the module's
    docstring)."""
    if view.ttl is None or estimated_rows is None or facts.earliest is None:
        return False
    return facts.rows * TTL_WINDOW_ROWS_PER_SPINE_ROW <= estimated_rows


def window_hops_pay(view: FeatureView, facts: SpineFacts, estimated_rows: int | None) -> bool:
    """Whether aggregation view `view` (of `estimated_rows`, None: no estimate) has windows
    dense enough for hop partials (see the module's docstring)."""
    hopped = [a for a in view.aggregations if a.function in HOP_FUNCTIONS]
    if not hopped or estimated_rows is None or facts.earliest is None or facts.latest is None:
        return False
    longest = max(a.window_us for a in hopped)
    span = (facts.latest - facts.earliest) // timedelta(microseconds=1)
    share = min(1.0, longest / span) if span > 0 else 1.0
    return estimated_rows / max(1, facts.distinct_keys(view.join_keys)) * share >= DENSE_WINDOW_EVENTS


def window_pairs_pay(view: FeatureView, facts: SpineFacts, estimated_rows: int | None) -> bool:
    """Whether aggregation view `view` (of `estimated_rows`, None: no estimate) has few enough
    events per entity, for the spine's rows, for the range join (see the module's docstring)."""
    if not any(a.function in PAIR_FUNCTIONS for a in view.aggregations) or estimated_rows is None:
        return False
    pairs = facts.rows * estimated_rows / max(1, facts.distinct_keys(view.join_keys))
    return pairs <= SPARSE_PAIRS_PER_ROW * (estimated_rows + facts.rows)


def semi_join_pays(distinct_keys: int, estimated_rows: int | None) -> bool:
    """Whether a view of `estimated_rows` (None: the engine gave no estimate) is read faster
    semi-joined on a spine of `distinct_keys` keys (see the module's docstring)."""
    return estimated_rows is not None and distinct_keys * SEMI_JOIN_ROWS_PER_KEY <= estimated_rows
