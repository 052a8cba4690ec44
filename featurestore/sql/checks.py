"""The one query `fs check` runs per view, as a sqlglot tree: every aggregate its checks need,
in one row, so nothing but the aggregates leaves the warehouse.

The rows are those known at the project's now (timestamp, and created_at where declared, at
or before it). Of those, the ones whose timestamp falls in the recent window
`(now - window, now]` or in the baseline just before it `(now - window - baseline, now -
window]` are profiled, each window apart:

- the newest timestamp and created_at of every known row (freshness);
- the rows in each window (volume), and each feature's nulls in each (nulls);
- numeric features: the baseline's deciles (`PERCENTILE_CONT`), and how many values of each
  window fall in each of the bins they bound (drift);
- categorical features (text, boolean): the baseline's most frequent values, and how many
  values of each window are each of them, or another one (drift).

The result's columns are named by the functions below (`rows_column`, `bin_column`, ...),
by position rather than by feature name: engines limit a name's length.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Sequence

from sqlglot import exp

from featurestore.catalog import FeatureView
from featurestore.sql.expressions import INTERNAL, column, identifier, left_join, relation_table, timestamp_literal
from featurestore.sql.semantics import knowledge_time

NUMERIC = "numeric"
CATEGORICAL = "categorical"
OTHER = "other"  # timestamps, dates: nulls are checked, drift is not (time always moves on)

WINDOWS = ("recent", "baseline")
BINS = 10
"""Numeric features are binned at the baseline's deciles."""
TOP_VALUES = 10
"""Categorical features are compared over the baseline's ten most frequent values, and the rest."""

_ROWS = f"{INTERNAL}rows"
_EDGES = f"{INTERNAL}edges"
_RECENT = f"{INTERNAL}recent"
_VALUE = f"{INTERNAL}value"
_RANK = f"{INTERNAL}rank"


@dataclass(frozen=True)
class ProfiledFeature:
    """A feature of the view and how it is profiled: numeric, categorical or other."""

    name: str
    kind: str


def newest_column(which: str) -> str:
    """`which` is "timestamp" or "created_at"."""
    return f"{INTERNAL}newest_{which}"


def rows_column(window: str) -> str:
    return f"{INTERNAL}rows_{window}"


def nulls_column(index: int, window: str) -> str:
    return f"{INTERNAL}f{index}_nulls_{window}"


def edge_column(index: int, edge: int) -> str:
    """The `edge`-th of the BINS - 1 inner bin edges (1-based) of numeric feature `index`."""
    return f"{INTERNAL}f{index}_edge{edge}"


def bin_column(index: int, bin_: int, window: str) -> str:
    """Values in bin `bin_` (0-based): bin 0 is `<= edge 1`, bin i is `(edge i, edge i+1]`,
    the last is `> edge BINS-1`.

    >>> bin_column(2, 0, "recent")
    '__fs_f2_bin0_recent'
    """
    return f"{INTERNAL}f{index}_bin{bin_}_{window}"


def top_value_column(index: int, rank: int) -> str:
    """The baseline's `rank`-th most frequent value (1-based) of categorical feature `index`, as text."""
    return f"{INTERNAL}f{index}_top{rank}"


def top_count_column(index: int, rank: int, window: str) -> str:
    """How many values of the window equal the `rank`-th top value; rank 0 counts every other value."""
    return f"{INTERNAL}f{index}_top{rank}_{window}"


def check_profile_expression(
    view: FeatureView,
    features: Sequence[ProfiledFeature],
    now: datetime,
    window: timedelta,
    baseline: timedelta,
) -> exp.Select:
    """The profile of `view` at `now`: one row, the columns named above (`rows_column`,
    `nulls_column`, `edge_column`, `bin_column`, `top_value_column`, `top_count_column`,
    `newest_column`), for `features` in their order."""
    recent_start = now - window
    known = _known_at(view, now)
    rows = (
        exp.select(
            column(view.timestamp),
            *[column(f.name) for f in features],
            exp.alias_(
                exp.If(this=exp.GT(this=column(view.timestamp), expression=timestamp_literal(recent_start)), true=exp.Literal.number(1), false=exp.Literal.number(0)),
                identifier(_RECENT),
            ),
        )
        .from_(relation_table(view))
        .where(exp.and_(known, exp.GT(this=column(view.timestamp), expression=timestamp_literal(recent_start - baseline))))
    )
    numeric = [(i, f) for i, f in enumerate(features) if f.kind == NUMERIC]
    categorical = [(i, f) for i, f in enumerate(features) if f.kind == CATEGORICAL]

    query = exp.select(*_freshness(view, now), *_volume())
    for index, feature in enumerate(features):
        query = query.select(*_nulls(index, feature.name), copy=False)
    for index, feature in numeric:
        query = query.select(*_edges_and_bins(index, feature.name), copy=False)
    for index, feature in categorical:
        query = query.select(*_top_values(index, feature.name), copy=False)

    query = query.from_(exp.Table(this=identifier(_ROWS)), copy=False)
    query = query.with_(identifier(_ROWS), as_=rows, copy=False)
    if numeric:
        query = query.with_(identifier(_EDGES), as_=_edges_query(numeric), copy=False)
        query = query.join(exp.Table(this=identifier(_EDGES)), join_type="cross", copy=False)
    for index, feature in categorical:
        name = _top_table(index)
        query = query.with_(identifier(name), as_=_top_query(feature.name), copy=False)
        on = exp.and_(
            exp.EQ(this=_as_text(column(feature.name, _ROWS)), expression=column(_VALUE, name)),
            exp.LTE(this=column(_RANK, name), expression=exp.Literal.number(TOP_VALUES)),
        )
        query = left_join(query, exp.Table(this=identifier(name)), on)
    return query


def _known_at(view: FeatureView, now: datetime) -> exp.Expression:
    """Rows true and known at `now`, as everywhere else in fs (sql/semantics.py)."""
    conditions = [exp.LTE(this=column(view.timestamp), expression=timestamp_literal(now))]
    if view.created_at:
        conditions.append(exp.LTE(this=knowledge_time(view), expression=timestamp_literal(now)))
    return exp.and_(*conditions)


def _freshness(view: FeatureView, now: datetime) -> list[exp.Expression]:
    """The newest timestamp and created_at of every known row, not only of the windows: a view
    whose last row is older than both still has an age."""

    def newest(expression: exp.Expression) -> exp.Subquery:
        return exp.select(exp.Max(this=expression)).from_(relation_table(view)).where(_known_at(view, now)).subquery()

    found = [exp.alias_(newest(column(view.timestamp)), identifier(newest_column("timestamp")))]
    if view.created_at:
        found.append(exp.alias_(newest(column(view.created_at)), identifier(newest_column("created_at"))))
    return found


def _volume() -> list[exp.Expression]:
    return [exp.alias_(_count_where(None, window), identifier(rows_column(window))) for window in WINDOWS]


def _nulls(index: int, feature: str) -> list[exp.Expression]:
    is_null = exp.Is(this=column(feature, _ROWS), expression=exp.Null())
    return [exp.alias_(_count_where(is_null, window), identifier(nulls_column(index, window))) for window in WINDOWS]


def _edges_query(numeric: Sequence[tuple[int, ProfiledFeature]]) -> exp.Select:
    """One row: the baseline's inner decile edges of every numeric feature."""
    edges = []
    for index, feature in numeric:
        for edge in range(1, BINS):
            quantile = exp.WithinGroup(
                this=exp.PercentileCont(this=exp.Literal.number(edge / BINS)),
                expression=exp.Order(expressions=[exp.Ordered(this=column(feature.name))]),
            )
            edges.append(exp.alias_(quantile, identifier(edge_column(index, edge))))
    return exp.select(*edges).from_(exp.Table(this=identifier(_ROWS))).where(_in_window("baseline", None))


def _edges_and_bins(index: int, feature: str) -> list[exp.Expression]:
    value = column(feature, _ROWS)
    edge = lambda e: column(edge_column(index, e), _EDGES)  # noqa: E731
    shown = [exp.alias_(exp.Max(this=edge(e)), identifier(edge_column(index, e))) for e in range(1, BINS)]
    counted = []
    for bin_ in range(BINS):
        lower = exp.GT(this=value.copy(), expression=edge(bin_)) if bin_ > 0 else None
        upper = exp.LTE(this=value.copy(), expression=edge(bin_ + 1)) if bin_ < BINS - 1 else None
        inside = exp.and_(*[c for c in (lower, upper) if c is not None])
        counted += [exp.alias_(_count_where(inside, window), identifier(bin_column(index, bin_, window))) for window in WINDOWS]
    return shown + counted


def _top_table(index: int) -> str:
    return f"{INTERNAL}top{index}"


def _as_text(expression: exp.Expression) -> exp.Expression:
    # Values travel as text: one comparison and one MAX for text and boolean alike
    # (PostgreSQL has no MAX of a boolean).
    return exp.cast(expression, exp.DataType.build("text"))


def _top_query(feature: str) -> exp.Select:
    """The baseline's values of a categorical feature, most frequent first (ties by value)."""
    rank = exp.Window(
        this=exp.RowNumber(),
        order=exp.Order(expressions=[exp.Ordered(this=exp.Count(this=exp.Star()), desc=True), exp.Ordered(this=_as_text(column(feature)))]),
    )
    return (
        exp.select(exp.alias_(_as_text(column(feature)), identifier(_VALUE)), exp.alias_(rank, identifier(_RANK)))
        .from_(exp.Table(this=identifier(_ROWS)))
        .where(exp.and_(_in_window("baseline", None), exp.not_(exp.Is(this=column(feature), expression=exp.Null()))))
        .group_by(_as_text(column(feature)))
    )


def _top_values(index: int, feature: str) -> list[exp.Expression]:
    table = _top_table(index)
    rank = column(_RANK, table)
    found: list[exp.Expression] = []
    for place in range(1, TOP_VALUES + 1):
        is_place = exp.EQ(this=rank.copy(), expression=exp.Literal.number(place))
        value = exp.Max(this=exp.If(this=is_place, true=column(_VALUE, table), false=exp.Null()))
        found.append(exp.alias_(value, identifier(top_value_column(index, place))))
        found += [exp.alias_(_count_where(is_place.copy(), window), identifier(top_count_column(index, place, window))) for window in WINDOWS]
    other = exp.and_(
        exp.not_(exp.Is(this=column(feature, _ROWS), expression=exp.Null())),
        exp.Is(this=rank.copy(), expression=exp.Null()),
    )
    found += [exp.alias_(_count_where(other.copy(), window), identifier(top_count_column(index, 0, window))) for window in WINDOWS]
    return found


def _in_window(window: str, table: str | None) -> exp.Expression:
    flag = exp.Literal.number(1 if window == "recent" else 0)
    return exp.EQ(this=column(_RECENT, table), expression=flag)


def _count_where(condition: exp.Expression | None, window: str) -> exp.Expression:
    """How many profiled rows of `window` meet `condition`: a SUM of 1s, which every engine
    has (FILTER clauses are not portable)."""
    met = _in_window(window, _ROWS) if condition is None else exp.and_(_in_window(window, _ROWS), condition)
    return exp.Coalesce(
        this=exp.Sum(this=exp.If(this=met, true=exp.Literal.number(1), false=exp.Literal.number(0))),
        expressions=[exp.Literal.number(0)],
    )
