"""Profiling a feature view for the feature site: row count, freshness, each feature's null
rate and distribution, from one query per view that returns aggregates only
(sql/profile.py builds it; here it is run and its rows read back).

Numeric features get a histogram of equal-width bins between their minimum and maximum
(integer features with a small range get one bin per value); text and boolean features get
their most frequent values. Other types (timestamps, dates, nested) get their null rate only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Sequence

from featurestore.engines.base import reading_views
from featurestore.sql.expressions import INTERNAL, columns_probe, render
from featurestore.sql.profile import Kind, bin_edges, profile_expression, stats_columns

if TYPE_CHECKING:
    import pyarrow as pa

    from featurestore.catalog import FeatureView
    from featurestore.engines.base import Warehouse


def kind_of(arrow_type: "pa.DataType") -> Kind:
    import pyarrow as pa

    if pa.types.is_integer(arrow_type):
        return Kind.INTEGER
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return Kind.REAL
    if pa.types.is_boolean(arrow_type) or pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return Kind.CATEGORICAL
    return Kind.OTHER


@dataclass(frozen=True)
class Histogram:
    """Counts of non-null values in bins; bin i holds edges[i] <= x < edges[i+1] (the last
    bin includes its upper edge)."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]
    integer: bool


@dataclass(frozen=True)
class TopValues:
    """The most frequent values (as text) with their counts, most frequent first; `other`
    counts the remaining non-null values."""

    values: tuple[tuple[str, int], ...]
    other: int


@dataclass(frozen=True)
class FeatureProfile:
    name: str
    kind: Kind
    rows: int
    non_null: int
    minimum: float | None = None
    maximum: float | None = None
    histogram: Histogram | None = None
    top_values: TopValues | None = None

    @property
    def null_rate(self) -> float | None:
        """Share of the view's rows where the feature is null; None for an empty view."""
        return None if self.rows == 0 else 1 - self.non_null / self.rows


@dataclass(frozen=True)
class ViewProfile:
    view: str
    rows: int
    oldest: datetime | None
    newest: datetime | None
    """The greatest timestamp, dated after now or not."""
    newest_created: datetime | None
    """The greatest created_at (None when the view declares none): when rows were last written."""
    features: dict[str, FeatureProfile]
    newest_at_now: datetime | None = None
    """The greatest timestamp not after the profile's now: how recent the value served now is."""


def feature_kinds(view: "FeatureView", warehouse: "Warehouse") -> dict[str, Kind]:
    """Each feature's kind, from the types the warehouse reports for the view's columns (a
    query that reads no rows): the built table's types, whatever the YAML declares."""
    schema = warehouse.stream_arrow(render(columns_probe(view, view.value_columns), warehouse.dialect)).schema
    return {name: kind_of(schema.field(i).type) for i, name in enumerate(view.value_columns)}


def profile_view(view: "FeatureView", warehouse: "Warehouse", now: datetime) -> ViewProfile:
    """The profile of one built view at `now`; ViewNotBuilt when it is not built."""
    with reading_views([view], warehouse):
        kinds = feature_kinds(view, warehouse)
        rows = warehouse.fetch_all(render(profile_expression(view, kinds, now), warehouse.dialect))
    return profile_from_rows(view, kinds, rows)


def profile_from_rows(view: "FeatureView", kinds: dict[str, Kind], rows: Sequence[tuple]) -> ViewProfile:
    """Read the profile query's rows back into a ViewProfile."""
    names = stats_columns(view, kinds)
    stats = dict(zip(names, rows[0][: len(names)]))
    groups: dict[int, dict[int, tuple[str | None, int]]] = {}
    for row in rows:
        feature, bucket, label, count = row[len(names) :]
        if feature >= 0:
            groups.setdefault(int(feature), {})[int(bucket)] = (label, int(count))
    total = int(stats[f"{INTERNAL}n_rows"])
    features = {}
    for index, name in enumerate(view.value_columns):
        kind = kinds[name]
        non_null = int(stats[f"{INTERNAL}n_{index}"])
        found = groups.get(index, {})
        profile = FeatureProfile(name=name, kind=kind, rows=total, non_null=non_null)
        if kind.numeric and non_null:
            lo, hi = float(stats[f"{INTERNAL}lo_{index}"]), float(stats[f"{INTERNAL}hi_{index}"])
            edges = bin_edges(lo, hi, kind)
            counts = tuple(found.get(i, (None, 0))[1] for i in range(len(edges) - 1))
            histogram = Histogram(edges=edges, counts=counts, integer=kind is Kind.INTEGER)
            profile = FeatureProfile(name, kind, total, non_null, lo, hi, histogram=histogram)
        elif kind is Kind.CATEGORICAL:
            top = tuple((str(found[rank][0]), found[rank][1]) for rank in sorted(found))
            profile = FeatureProfile(
                name, kind, total, non_null, top_values=TopValues(top, non_null - sum(n for _, n in top))
            )
        features[name] = profile
    return ViewProfile(
        view=view.name,
        rows=total,
        oldest=_naive_utc(stats[f"{INTERNAL}oldest"]),
        newest=_naive_utc(stats[f"{INTERNAL}newest"]),
        newest_created=_naive_utc(stats[f"{INTERNAL}newest_created"]),
        features=features,
        newest_at_now=_naive_utc(stats[f"{INTERNAL}newest_at_now"]),
    )


def _naive_utc(value: object) -> datetime | None:
    """Timestamps as the rest of fs holds them: naive UTC (a date counts as its midnight)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value
    from datetime import date

    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return None
