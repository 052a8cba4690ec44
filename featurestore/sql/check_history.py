"""The `fs_check_history` table as sqlglot trees: creating it if missing, appending one
run's results in one INSERT (a run is recorded whole or not at all), and reading the newest
rows back for the feature site.

One row per view, feature, check and run; its columns are a contract (the documentation site
reads them, and so may anyone's SQL): docs/monitoring.md describes each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from sqlglot import exp

from featurestore.catalog import Relation
from featurestore.sql.expressions import column, identifier, table_of, timestamp_literal

HISTORY_TABLE = "fs_check_history"

HISTORY_COLUMNS = (
    ("run_id", "text"),
    ("run_at", "timestamp"),
    ("view", "text"),
    ("feature", "text"),
    ("check_name", "text"),
    ("status", "text"),
    ("value", "double"),
    ("baseline", "double"),
    ("threshold", "double"),
    ("detail", "text"),
)
COLUMNS = tuple(name for name, _ in HISTORY_COLUMNS)


@dataclass(frozen=True)
class HistoryRow:
    run_id: str
    run_at: datetime
    """When the run happened, naive UTC (the real clock, even under a frozen project clock)."""
    view: str
    feature: str | None
    check_name: str
    status: str
    value: float | None
    baseline: float | None
    threshold: float | None
    detail: str | None

    @property
    def series(self) -> tuple[str, str, str | None]:
        """What one chart of the feature site follows over runs: (view, check, feature)."""
        return (self.view, self.check_name, self.feature)


def history_table(schema: str | None) -> exp.Table:
    return exp.Table(this=identifier(HISTORY_TABLE), db=identifier(schema) if schema else None)


def create_history_expression(schema: str | None) -> exp.Create:
    """`CREATE TABLE IF NOT EXISTS <schema>.fs_check_history (...)`.

    >>> create_history_expression("main").sql("duckdb")[:67]
    'CREATE TABLE IF NOT EXISTS "main"."fs_check_history" ("run_id" TEXT'
    """
    columns = [exp.ColumnDef(this=identifier(name), kind=exp.DataType.build(kind)) for name, kind in HISTORY_COLUMNS]
    return exp.Create(kind="TABLE", exists=True, this=exp.Schema(this=history_table(schema), expressions=columns))


def insert_history_expression(schema: str | None, rows: Sequence[HistoryRow]) -> exp.Insert:
    """One INSERT of every row, columns named (a table someone widened still takes it)."""
    values = exp.values([tuple(_literal(getattr(row, name)) for name, _kind in HISTORY_COLUMNS) for row in rows])
    into = exp.Schema(this=history_table(schema), expressions=[identifier(name) for name, _kind in HISTORY_COLUMNS])
    return exp.Insert(this=into, expression=values)


def check_history_expression(relation: Relation, limit: int) -> exp.Select:
    """The newest `limit` rows (one more, to tell whether there are more), newest first."""
    order = [exp.Ordered(this=column("run_at"), desc=True), *[exp.Ordered(this=column(c)) for c in ("run_id", "view", "feature", "check_name")]]
    return (
        exp.select(*[column(c) for c in COLUMNS])
        .from_(table_of(relation))
        .order_by(*order)
        .limit(limit + 1)
    )


def _literal(value: object) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, datetime):
        return timestamp_literal(value)
    if isinstance(value, float):
        # A typed double: a bare literal such as 0.25 is a DECIMAL to some engines.
        return exp.cast(exp.Literal.number(repr(value)), exp.DataType.build("double"))
    return exp.Literal.string(str(value))
