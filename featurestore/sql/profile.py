"""The feature site's profile query of a feature view (governance/profile.py runs it): row
count, freshness, each feature's null rate and distribution, in one query per view that
returns aggregates only.

The query is a sqlglot tree built from portable pieces (count, min/max, floor, least,
row_number), so it runs on every engine fs runs queries on; nothing but a few hundred
aggregate rows comes back to Python, whatever the size of the view.

Numeric features get a histogram of equal-width bins between their minimum and maximum
(integer features with a small range get one bin per value; `bin_edges` gives the bins'
edges, by the rule the query bins by); text and boolean features get their most frequent
values. Other types (timestamps, dates, nested) get their null rate only.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING

from sqlglot import exp

from featurestore.sql.expressions import INTERNAL, column, identifier, relation_table, timestamp_literal

if TYPE_CHECKING:
    from featurestore.catalog import FeatureView

BINS = 20
"""Bins of a numeric histogram: enough to show a shape, few enough to read on a page."""
TOP_VALUES = 10
"""Most frequent values shown for a text or boolean feature; the rest count as 'other'."""

_ROWS = f"{INTERNAL}rows"
_STATS = f"{INTERNAL}stats"
_PARTS = f"{INTERNAL}parts"
_FEATURE, _BUCKET, _LABEL, _COUNT = (f"{INTERNAL}{n}" for n in ("feature", "bucket", "label", "count"))
_TS, _CREATED = f"{INTERNAL}t", f"{INTERNAL}c"


class Kind(Enum):
    """How a feature's distribution is shown, from the warehouse's own type of the column."""

    INTEGER = "integer"  # a histogram whose bins fall on whole numbers
    REAL = "real"  # a histogram of equal-width bins
    CATEGORICAL = "categorical"  # its most frequent values
    OTHER = "other"  # null rate only (timestamps, dates, nested types)

    @property
    def numeric(self) -> bool:
        return self in (Kind.INTEGER, Kind.REAL)


def _as(expression: exp.Expression, name: str, table: bool = False) -> exp.Expression:
    """`expression AS "name"`: quoted as every reference to it is, so that engines which fold
    unquoted names (to upper case, in Snowflake) still find it."""
    return exp.alias_(expression, identifier(name), table=table)


def _table(name: str) -> exp.Table:
    """A CTE or derived table by its (quoted) name."""
    return exp.Table(this=identifier(name))


def _double(expression: exp.Expression) -> exp.Expression:
    return exp.cast(expression, exp.DataType.build("double"))


def _bigint(expression: exp.Expression) -> exp.Expression:
    return exp.cast(expression, exp.DataType.build("bigint"))


def _stat(name: str, index: int) -> exp.Column:
    return column(f"{INTERNAL}{name}_{index}", _STATS)


def _bucket_expression(feature: str, index: int, kind: Kind) -> exp.Expression:
    """The bin of a non-null value, 0 .. bins-1 (see `_bin_edges`, which must agree).

    Real: floor((x - lo) / (hi - lo) * BINS), the maximum folded into the last bin, 0 when
    every value is the same. Integer: floor((x - lo) * n / (hi - lo + 1)) with n =
    least(BINS, hi - lo + 1), so a small range gets one bin per whole number."""
    x, lo, hi = _double(column(feature, _ROWS)), _stat("lo", index), _stat("hi", index)
    # The builder does not parenthesise: every compound operand is wrapped explicitly.
    offset = exp.paren(exp.Sub(this=x, expression=lo))
    if kind is Kind.INTEGER:
        width = exp.paren(exp.Add(this=exp.Sub(this=hi, expression=lo), expression=exp.Literal.number(1)))
        bins = exp.Least(this=exp.Literal.number(BINS), expressions=[width])
        scaled = exp.Div(this=exp.paren(exp.Mul(this=offset, expression=bins)), expression=width)
        return _bigint(exp.Floor(this=scaled))
    spread = exp.Nullif(this=exp.Sub(this=hi, expression=lo), expression=exp.Literal.number(0))
    scaled = exp.Mul(this=exp.paren(exp.Div(this=offset, expression=spread)), expression=exp.Literal.number(BINS))
    # NULL (every value the same) becomes bin 0 before LEAST, which ignores NULLs on some
    # engines (PostgreSQL) and returns NULL on others (DuckDB).
    floored = exp.Coalesce(this=exp.Floor(this=scaled), expressions=[exp.Literal.number(0)])
    return _bigint(exp.Least(this=floored, expressions=[exp.Literal.number(BINS - 1)]))


def _part(index: int, bucket: exp.Expression, label: exp.Expression, source: exp.Select) -> exp.Select:
    """One branch of the union: (feature index, bucket, label, count) per group of `source`."""
    grouped = exp.select(
        _as(exp.Literal.number(index), _FEATURE),
        _as(bucket, _BUCKET),
        _as(label, _LABEL),
        _as(exp.Count(this=exp.Star()), _COUNT),
    )
    return grouped.from_(source.subquery(f"{INTERNAL}g{index}"))


def _histogram_part(feature: str, index: int, kind: Kind) -> exp.Select:
    binned = (
        exp.select(_as(_bucket_expression(feature, index, kind), "b"))
        .from_(_table(_ROWS))
        .join(_table(_STATS), join_type="cross")
        .where(exp.Not(this=exp.Is(this=column(feature, _ROWS), expression=exp.Null())))
    )
    no_label = exp.cast(exp.Null(), exp.DataType.build("varchar"))
    return _part(index, column("b"), no_label, binned).group_by(column("b"))


def _top_values_part(feature: str, index: int) -> exp.Select:
    """The TOP_VALUES most frequent values, ranked by count then value (so ties are stable)."""
    label = exp.cast(column(feature), exp.DataType.build("varchar"))
    counted = (
        exp.select(_as(label, "v"), _as(exp.Count(this=exp.Star()), "n"))
        .from_(_table(_ROWS))
        .where(exp.Not(this=exp.Is(this=column(feature), expression=exp.Null())))
        .group_by(label)
    )
    rank = exp.Window(
        this=exp.RowNumber(),
        order=exp.Order(expressions=[exp.Ordered(this=column("n"), desc=True), exp.Ordered(this=column("v"))]),
    )
    ranked = exp.select(column("v"), column("n"), _as(rank, "r")).from_(counted.subquery(f"{INTERNAL}v{index}"))
    return (
        exp.select(
            _as(exp.Literal.number(index), _FEATURE),
            _as(_bigint(column("r")), _BUCKET),
            _as(column("v"), _LABEL),
            _as(column("n"), _COUNT),
        )
        .from_(ranked.subquery(f"{INTERNAL}r{index}"))
        .where(exp.LTE(this=column("r"), expression=exp.Literal.number(TOP_VALUES)))
    )


def stats_columns(view: "FeatureView", kinds: dict[str, Kind]) -> list[str]:
    """The names of the stats columns, in the order the profile query returns them."""
    names = [f"{INTERNAL}n_rows", f"{INTERNAL}oldest", f"{INTERNAL}newest", f"{INTERNAL}newest_created", f"{INTERNAL}newest_at_now"]
    for index, feature in enumerate(view.value_columns):
        names.append(f"{INTERNAL}n_{index}")
        if kinds[feature].numeric:
            names += [f"{INTERNAL}lo_{index}", f"{INTERNAL}hi_{index}"]
    return names


def profile_expression(view: "FeatureView", kinds: dict[str, Kind], now: datetime) -> exp.Select:
    """The profile query of `view`, its features' kinds given: one row per (feature, bin or
    top value), each carrying the view's stats (`stats_columns`) in front, and one row with
    feature index -1 so that the stats come back even when no feature has a value.

    Freshness is judged at `now`: the newest timestamp not after it (rows dated later are
    not yet true, as a training set or sync at `now` sees them)."""
    created = column(view.created_at) if view.created_at else exp.cast(exp.Null(), exp.DataType.build("timestamp"))
    rows = exp.select(
        _as(column(view.timestamp), _TS),
        _as(created, _CREATED),
        *[column(f) for f in view.value_columns],
    ).from_(relation_table(view))
    stats = [
        _as(exp.Count(this=exp.Star()), f"{INTERNAL}n_rows"),
        _as(exp.Min(this=column(_TS)), f"{INTERNAL}oldest"),
        _as(exp.Max(this=column(_TS)), f"{INTERNAL}newest"),
        _as(exp.Max(this=column(_CREATED)), f"{INTERNAL}newest_created"),
        _as(
            # CASE, not IF: Spark's IF wants an ELSE that sqlglot does not print.
            exp.Max(this=exp.case().when(exp.LTE(this=column(_TS), expression=timestamp_literal(now)), column(_TS))),
            f"{INTERNAL}newest_at_now",
        ),
    ]
    parts: list[exp.Select] = [
        exp.select(
            _as(exp.Literal.number(-1), _FEATURE),
            _as(_bigint(exp.Literal.number(0)), _BUCKET),
            _as(exp.cast(exp.Null(), exp.DataType.build("varchar")), _LABEL),
            _as(_bigint(exp.Literal.number(0)), _COUNT),
        )
    ]
    for index, feature in enumerate(view.value_columns):
        kind = kinds[feature]
        stats.append(_as(exp.Count(this=column(feature)), f"{INTERNAL}n_{index}"))
        if kind.numeric:
            stats.append(_as(exp.Min(this=_double(column(feature))), f"{INTERNAL}lo_{index}"))
            stats.append(_as(exp.Max(this=_double(column(feature))), f"{INTERNAL}hi_{index}"))
            parts.append(_histogram_part(feature, index, kind))
        elif kind is Kind.CATEGORICAL:
            parts.append(_top_values_part(feature, index))
    union: exp.Query = parts[0]
    for part in parts[1:]:
        union = exp.union(union, part, distinct=False)
    names = stats_columns(view, kinds)
    return (
        exp.select(*[column(n, _STATS) for n in names], *[column(n, _PARTS) for n in (_FEATURE, _BUCKET, _LABEL, _COUNT)])
        .from_(_table(_STATS))
        .join(_as(exp.Subquery(this=union), _PARTS, table=True), join_type="cross")
        .with_(identifier(_ROWS), as_=rows)
        .with_(identifier(_STATS), as_=exp.select(*stats).from_(_table(_ROWS)))
    )


def bin_edges(lo: float, hi: float, kind: Kind) -> tuple[float, ...]:
    """The edges of the bins `_bucket_expression` puts values in (one bin when lo == hi)."""
    if kind is Kind.INTEGER:
        width = hi - lo + 1
        bins = int(min(BINS, width))
        return tuple(lo + i * width / bins for i in range(bins + 1))
    if hi == lo:
        return (lo, hi)
    return tuple(lo + i * (hi - lo) / BINS for i in range(BINS + 1))
