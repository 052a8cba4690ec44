"""The history `fs check` keeps in the warehouse table `fs_check_history` in the target's
schema (one row per run, view, feature and check; created if missing), so trends can be queried
with SQL (docs/monitoring.md): appended by `record_run`, read back for the feature site's charts
by `read_check_history`.

The table's columns: run_id text, run_at timestamp (UTC), view text, feature text (NULL for a
view-level check), check_name text (freshness, volume, nulls, drift), status text (ok, warn,
fail), value, baseline and threshold double, detail text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from featurestore.catalog import Relation
from featurestore.errors import RelationNotBuilt
from featurestore.sql.check_history import HISTORY_TABLE, HistoryRow, check_history_expression, create_history_expression, history_table, insert_history_expression
from featurestore.sql.expressions import render

if TYPE_CHECKING:
    from featurestore.engines.base import Warehouse
    from featurestore.governance.check_report import CheckReport
    from featurestore.project.profiles import Target


def record_run(warehouse: "Warehouse", report: "CheckReport") -> str:
    """Append one row per result of `report`; returns the table's name as the engine spells it."""
    schema = warehouse.target.schema
    rows = [
        HistoryRow(
            report.run_id, report.run_at, r.view, r.feature, r.check, r.status,
            _double(r.value), _double(r.baseline), _double(r.threshold), r.detail,
        )
        for r in report.results
    ]
    warehouse.execute(render(create_history_expression(schema), warehouse.dialect))
    if rows:
        warehouse.execute(render(insert_history_expression(schema, rows), warehouse.dialect))
    return render(history_table(schema), warehouse.dialect)


def _double(value: float | None) -> float | None:
    return None if value is None else float(value)


MAX_ROWS = 20_000
"""The newest rows read: years of daily runs of a few hundred checks, and a page that still opens."""


@dataclass(frozen=True)
class CheckHistory:
    results: tuple[HistoryRow, ...]
    """Oldest run first."""
    truncated: bool
    """More rows exist than MAX_ROWS: only the newest were read."""

    def for_view(self, view: str) -> tuple[HistoryRow, ...]:
        return tuple(r for r in self.results if r.view == view)

    def latest_run(self, view: str) -> tuple[HistoryRow, ...]:
        """The view's results from the newest run that checked it."""
        mine = self.for_view(view)
        if not mine:
            return ()
        newest = max(r.run_at for r in mine)
        last = next(r.run_id for r in reversed(mine) if r.run_at == newest)
        return tuple(r for r in mine if r.run_id == last)


def check_history_relation(target: "Target") -> Relation:
    """Where fs check keeps its history: the target's schema, in the connection's database."""
    return Relation(database=None, schema=target.schema, identifier=HISTORY_TABLE)


def read_check_history(warehouse: "Warehouse", relation: Relation, limit: int = MAX_ROWS) -> CheckHistory | None:
    """The history, oldest first; None when the table does not exist (no fs check has run)."""
    try:
        rows = warehouse.fetch_all(render(check_history_expression(relation, limit), warehouse.dialect))
    except RelationNotBuilt:
        return None
    results = [
        HistoryRow(
            run_id=str(run_id),
            run_at=_naive_utc(run_at),
            view=str(view),
            feature=None if feature is None else str(feature),
            check_name=str(check_name),
            status=str(status).lower(),
            value=_number(value),
            baseline=_number(baseline),
            threshold=_number(threshold),
            detail=None if detail is None else str(detail),
        )
        for run_id, run_at, view, feature, check_name, status, value, baseline, threshold, detail in rows[:limit]
    ]
    return CheckHistory(results=tuple(reversed(results)), truncated=len(rows) > limit)


def _number(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value
