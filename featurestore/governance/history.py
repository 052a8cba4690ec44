"""Appending a `fs check` run to the warehouse table `fs_check_history` in the target's
schema, created if missing, so trends can be queried with SQL (docs/monitoring.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from featurestore.sql.check_history import HistoryRow, create_history_expression, history_table, insert_history_expression
from featurestore.sql.expressions import render

if TYPE_CHECKING:
    from featurestore.engines.base import Warehouse
    from featurestore.governance.check import CheckReport


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
