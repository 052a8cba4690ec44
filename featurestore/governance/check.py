"""`fs check`: freshness, volume, nulls and drift of each feature view, at the project's now.

Per view, one warehouse query (sql/checks.py) returns every aggregate; here they become
results, one per view and check (freshness, volume) or per feature and check (nulls, drift),
each ok, warn or fail against the view's thresholds (catalog/monitoring.py), gathered in a
report (check_report.py). The run is then appended to the history table (history.py).
docs/monitoring.md says what each figure means.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Sequence


from featurestore.catalog import Catalog, FeatureView
from featurestore.catalog.monitoring import Thresholds
from featurestore.console import Console
from featurestore.engines.base import reading_views
from featurestore.governance.check_report import CheckReport, CheckResult
from featurestore.sql.declared_columns import checked_view
from featurestore.governance.history import record_run
from featurestore.governance.stability import population_stability_index, shares
from featurestore.sql import checks as q
from featurestore.sql.expressions import columns_probe, render

if TYPE_CHECKING:
    from featurestore.engines.base import Warehouse

MIN_VALUES = 30
"""Fewer values than this in either window give no drift score: a histogram of a handful of
values says nothing about a shift."""


def run_checks(
    catalog: Catalog,
    open_warehouse: Callable[..., "Warehouse"],
    console: Console,
    clock: Callable[[], datetime],
    view_names: Sequence[str] | None = None,
    record: bool = True,
) -> CheckReport:
    """Check every view (or those named) at `clock()`, and append the run to the history table
    in the target's schema (created if missing) unless `record` is false."""
    views = [catalog.view(name) for name in dict.fromkeys(view_names)] if view_names else list(catalog)
    report = CheckReport(
        run_id=uuid.uuid4().hex[:12],
        run_at=datetime.now(timezone.utc).replace(tzinfo=None),
        now=clock(),
        views=[v.name for v in views],
    )
    # Read-only while checking (a DuckDB file that is missing is then said to be, not made);
    # writable only for the one INSERT of the run.
    with open_warehouse(read_only=True) as warehouse, console.progress("checking feature views", len(views)) as advance:
        for view in views:
            with reading_views([view], warehouse):
                report.results.extend(check_view(checked_view(view, warehouse), warehouse, report.now))
            advance(1)
    if record:
        with open_warehouse(read_only=False) as warehouse:
            report.history_table = record_run(warehouse, report)
    return report


def check_view(view: FeatureView, warehouse: "Warehouse", now: datetime) -> list[CheckResult]:
    """The results of one view, from one query."""
    settings = view.checks
    features = profiled_features(view, warehouse)
    query = q.check_profile_expression(view, features, now, settings.window, settings.baseline)
    row = {k: _number(v) for k, v in warehouse.read_arrow(render(query, warehouse.dialect)).to_pylist()[0].items()}
    results = [*_freshness(view, row, now), *_volume(view, row)]
    for index, feature in enumerate(features):
        results.extend(_nulls(view, feature.name, index, row))
    for index, feature in enumerate(features):
        if feature.kind != q.OTHER:
            results.extend(_drift(view, feature, index, row))
    return results


def profiled_features(view: FeatureView, warehouse: "Warehouse") -> list[q.ProfiledFeature]:
    """Each feature with its kind, from the YAML's data_type; asked of the warehouse (a query
    that reads no rows) only when some feature declares none."""
    if view.is_aggregation:
        # An aggregation view's rows are its events: fs check watches the columns aggregated.
        types = dict(view.declared_types)
        declared = {name: types.get(name) for name in view.value_columns}
    else:
        declared = {f.name: f.dtype for f in view.features}
    if any(not dtype for dtype in declared.values()):
        actual = warehouse.column_kinds(render(columns_probe(view, list(declared)), warehouse.dialect))
        declared = {name: dtype or actual.get(name, "") for name, dtype in declared.items()}
    return [q.ProfiledFeature(name, kind_of(dtype or "")) for name, dtype in declared.items()]


_NUMERIC_TYPES = ("int", "float", "double", "real", "decimal", "numeric", "number")
_CATEGORICAL_TYPES = ("char", "text", "string", "bool")


def kind_of(dtype: str) -> str:
    """numeric, categorical or other, from a declared data_type (varchar(10), bigint, ...) or an
    Arrow kind (int64, text, bool)."""
    name = dtype.lower()
    if any(t in name for t in _NUMERIC_TYPES) and "interval" not in name:
        return q.NUMERIC
    if any(t in name for t in _CATEGORICAL_TYPES):
        return q.CATEGORICAL
    return q.OTHER


def _number(value: Any) -> Any:
    """Sums arrive as Decimal or big integers on some engines: plain numbers here."""
    from decimal import Decimal

    return float(value) if isinstance(value, Decimal) else value


def _result(view: FeatureView, feature: str | None, check: str, thresholds: Thresholds, score: float | None, **rest: Any) -> CheckResult:
    status = "ok" if score is None else thresholds.status(score)
    return CheckResult(view.name, feature, check, status, threshold=thresholds.applied(status), **rest)


def _freshness(view: FeatureView, row: dict, now: datetime) -> list[CheckResult]:
    if view.freshness is None:
        return []
    thresholds = view.freshness.thresholds()
    newest = {"timestamp": _instant(row[q.newest_column("timestamp")])}
    if view.created_at:
        newest["created_at"] = _instant(row[q.newest_column("created_at")])
    ages = {which: None if at is None else (now - at) / timedelta(hours=1) for which, at in newest.items()}
    figures = {
        "newest_timestamp": _iso(newest["timestamp"]),
        "newest_created_at": _iso(newest.get("created_at")),
        "age_hours": ages,
    }
    if newest["timestamp"] is None:
        status = "fail" if thresholds.fail is not None else "warn"
        detail = f"no row of {view.name} is known at {now.isoformat()}"
        return [CheckResult(view.name, None, "freshness", status, None, None, thresholds.applied(status), detail, figures)]
    # The staler of the two: rows may keep coming with old timestamps (a replay), or stop.
    stalest = max((which for which in ages if ages[which] is not None), key=ages.__getitem__)
    age = ages[stalest]
    column_name = view.timestamp if stalest == "timestamp" else view.created_at
    detail = f"newest {column_name} {_iso(newest[stalest]) or '-'} is {_hours(age)} old at {now.isoformat(sep=' ')}"
    return [_result(view, None, "freshness", thresholds, age, value=age, baseline=None, detail=detail, figures=figures)]


def _volume(view: FeatureView, row: dict) -> list[CheckResult]:
    thresholds = view.checks.volume
    if thresholds is None:
        return []
    days = {"recent": view.checks.window / timedelta(days=1), "baseline": view.checks.baseline / timedelta(days=1)}
    rows = {w: int(row[q.rows_column(w)]) for w in q.WINDOWS}
    per_day = {w: rows[w] / days[w] for w in q.WINDOWS}
    figures = {"rows": rows, "days": days, "rows_per_day": per_day}
    if not rows["baseline"]:
        detail = f"{per_day['recent']:,.1f} rows per day; no rows in the baseline to compare with"
        return [_result(view, None, "volume", thresholds, None, value=per_day["recent"], baseline=None, detail=detail, figures=figures)]
    change = per_day["recent"] / per_day["baseline"] - 1
    figures["change"] = change
    detail = f"{per_day['recent']:,.1f} rows per day against {per_day['baseline']:,.1f} in the baseline ({change:+.0%})"
    return [_result(view, None, "volume", thresholds, abs(change), value=per_day["recent"], baseline=per_day["baseline"], detail=detail, figures=figures)]


def _nulls(view: FeatureView, feature: str, index: int, row: dict) -> list[CheckResult]:
    thresholds = view.checks.for_feature(feature, "nulls")
    rows = {w: int(row[q.rows_column(w)]) for w in q.WINDOWS}
    if thresholds is None or not rows["recent"]:
        return []  # no rows in the window: the volume check says so
    nulls = {w: int(row[q.nulls_column(index, w)]) for w in q.WINDOWS}
    rate = {w: nulls[w] / rows[w] if rows[w] else None for w in q.WINDOWS}
    figures = {"nulls": nulls, "rows": rows, "null_rate": rate}
    if rate["baseline"] is None:
        detail = f"{rate['recent']:.1%} null; no rows in the baseline to compare with"
        return [_result(view, feature, "nulls", thresholds, None, value=rate["recent"], baseline=None, detail=detail, figures=figures)]
    rise = rate["recent"] - rate["baseline"]
    figures["rise"] = rise
    detail = f"{rate['recent']:.1%} null against {rate['baseline']:.1%} in the baseline"
    return [_result(view, feature, "nulls", thresholds, rise, value=rate["recent"], baseline=rate["baseline"], detail=detail, figures=figures)]


def _drift(view: FeatureView, feature: q.ProfiledFeature, index: int, row: dict) -> list[CheckResult]:
    thresholds = view.checks.for_feature(feature.name, "drift")
    if thresholds is None:
        return []
    if feature.kind == q.NUMERIC:
        edges = [row[q.edge_column(index, e)] for e in range(1, q.BINS)]
        labels = _bin_labels(edges)
        counts = {w: [int(row[q.bin_column(index, b, w)]) for b in range(q.BINS)] for w in q.WINDOWS}
        figures: dict[str, Any] = {"bins": "baseline deciles", "edges": edges}
    else:
        values = [row[q.top_value_column(index, r)] for r in range(1, q.TOP_VALUES + 1)]
        ranks = [r for r, v in enumerate(values, 1) if v is not None]
        labels = [repr(values[r - 1]) for r in ranks] + ["other values"]
        counts = {w: [int(row[q.top_count_column(index, r, w)]) for r in ranks] + [int(row[q.top_count_column(index, 0, w)])] for w in q.WINDOWS}
        figures = {"bins": "baseline top values", "values": [values[r - 1] for r in ranks]}
    figures["counts"] = counts
    if min(sum(counts[w]) for w in q.WINDOWS) < MIN_VALUES:
        detail = f"too few values to compare (fewer than {MIN_VALUES} in a window)"
        return [_result(view, feature.name, "drift", thresholds, None, value=None, baseline=None, detail=detail, figures=figures)]
    psi = population_stability_index(counts["recent"], counts["baseline"])
    recent, base = shares(counts["recent"]), shares(counts["baseline"])
    moved = max(range(len(recent)), key=lambda i: abs(recent[i] - base[i]))
    figures["shares"] = {"recent": recent, "baseline": base}
    detail = f"PSI {psi:.2f}; most moved: {labels[moved]} holds {recent[moved]:.0%} of recent values against {base[moved]:.0%}"
    return [_result(view, feature.name, "drift", thresholds, psi, value=psi, baseline=None, detail=detail, figures=figures)]


def _bin_labels(edges: list[float | None]) -> list[str]:
    shown = ["?" if e is None else f"{e:g}" for e in edges]
    inner = [f"({shown[i - 1]}, {shown[i]}]" for i in range(1, len(shown))]
    return [f"<= {shown[0]}", *inner, f"> {shown[-1]}"]


def _instant(value: Any) -> Any:
    """A DATE timestamp as the instant it stands for everywhere in fs: midnight UTC of its day
    (as a training set's join, a sync's expiry and a read compare it)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day)
    return value


def _hours(hours: float | None) -> str:
    if hours is None:
        return "-"
    return f"{hours / 24:.1f} d" if hours >= 48 else f"{hours:.1f} h"


def _iso(value: Any) -> str | None:
    return value.isoformat(sep=" ") if isinstance(value, datetime) else None
