"""Building a training set: resolve features and spine, run the point-in-time query in the
warehouse, and deliver the result as a file, a warehouse table or an Arrow/pandas frame.

Files appear atomically (written beside the destination, then renamed) and tables are
replaced in one transaction, so a failure never leaves half an output behind.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import sqlglot
from sqlglot import exp

from featurestore import local_files
from featurestore.catalog import Catalog, FeatureSelection
from featurestore.console import Console
from featurestore.errors import UsageError, WarehouseError
from featurestore.query import OutputFeature, SpineRelation, output_features, point_in_time_expression, render
from featurestore.spine import SpineInput, resolve_spine, spine_input
from featurestore.warehouse import Warehouse, quote_identifier

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

AS_OF_MODES = ("knowledge", "event-time")


@dataclass(frozen=True)
class TrainingSetRequest:
    spine: SpineInput
    features: tuple[str, ...]
    full_names: bool = False
    as_of: str = "knowledge"
    output_path: Path | None = None
    output_table: str | None = None

    def __post_init__(self) -> None:
        if self.as_of not in AS_OF_MODES:
            raise UsageError(f"--as-of '{self.as_of}' is not a mode; valid: {', '.join(AS_OF_MODES)}")
        if self.output_path is not None and self.output_path.suffix.lower() not in local_files.FORMAT_OF_SUFFIX:
            raise UsageError(
                f"--output {self.output_path}: unknown format '{self.output_path.suffix}'; valid: .parquet, .csv"
            )
        if self.output_path is not None and self.output_table is not None:
            raise UsageError("give --output or --output-table, not both")

    @classmethod
    def of(
        cls,
        spine: Any,
        features: Sequence[str],
        spine_sql: str | None = None,
        timestamp_column: str = "event_timestamp",
        full_names: bool = False,
        as_of: str = "knowledge",
        output: str | os.PathLike | None = None,
        output_table: str | None = None,
    ) -> "TrainingSetRequest":
        """A request from the arguments of FeatureStore.training_set (see there)."""
        return cls(
            spine=spine_input(spine, spine_sql, timestamp_column),
            features=tuple(features),
            full_names=full_names,
            as_of=as_of,
            output_path=Path(output).expanduser().resolve() if output is not None else None,
            output_table=output_table,
        )


@dataclass
class TrainingSetSummary:
    rows: int
    seconds: float
    feature_coverage: dict[str, float]
    """Output feature column -> share of rows where it is not null."""
    view_coverage: dict[str, float]
    """View -> share of rows where at least its best-covered feature is not null."""
    output: str | None = None

    def line(self) -> str:
        views = ", ".join(f"{view} {share:.1%}" for view, share in self.view_coverage.items())
        where = f" -> {self.output}" if self.output else ""
        return f"{self.rows:,} rows in {self.seconds:.2f}s{where}; coverage: {views or 'no features'}"

    def to_dict(self) -> dict:
        return {
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
            "output": self.output,
            "view_coverage": self.view_coverage,
            "feature_coverage": self.feature_coverage,
        }


@dataclass
class TrainingSet:
    """The result of `FeatureStore.training_set`: a summary, and the rows unless they were
    written to a file or a table."""

    summary: TrainingSetSummary
    table: "pa.Table | None" = field(default=None, repr=False)

    def to_arrow(self) -> "pa.Table":
        if self.table is None:
            raise UsageError(f"the training set was written to {self.summary.output}; read it from there")
        return self.table

    def to_pandas(self) -> "pd.DataFrame":
        return self.to_arrow().to_pandas()

    def to_polars(self):
        """A polars DataFrame (polars is optional: `pip install polars`)."""
        try:
            import polars
        except ImportError:
            raise UsageError("to_polars() needs polars, which is not installed: pip install polars") from None
        return polars.from_arrow(self.to_arrow())


@dataclass(frozen=True)
class Plan:
    expression: exp.Select
    outputs: list[OutputFeature]
    selections: list[FeatureSelection]
    spine: SpineRelation


def plan_training_set(
    request: TrainingSetRequest, catalog: Catalog, warehouse: Warehouse | None, dialect: str
) -> Plan:
    selections = catalog.resolve(request.features)
    spine = resolve_spine(request.spine, selections, catalog, warehouse, dialect)
    outputs = output_features(spine.columns, selections, request.full_names)
    expression = point_in_time_expression(
        spine, selections, dialect, full_names=request.full_names, event_time_only=request.as_of == "event-time"
    )
    return Plan(expression=expression, outputs=outputs, selections=selections, spine=spine)


def check_views_built(selections: Sequence[FeatureSelection], warehouse: Warehouse) -> None:
    """Every requested view exists in the warehouse with the requested columns."""
    for selection in selections:
        view = selection.view
        columns = warehouse.relation_columns(view.relation.schema, view.relation.identifier)
        if columns is None:
            raise WarehouseError(
                f"feature view '{view.name}' is not built: {view.relation} does not exist in the "
                "warehouse; run `dbt build` (or `fs build`)"
            )
        needed = [*view.join_keys, view.timestamp, *([view.created_at] if view.created_at else [])]
        absent = [c for c in [*needed, *(f.name for f in selection.features)] if c not in columns]
        if absent:
            raise WarehouseError(
                f"feature view '{view.name}': {view.relation} has no column(s) {', '.join(absent)}; "
                "the model changed since it was built: run `dbt build` (or `fs build`)"
            )


def run_training_set(
    request: TrainingSetRequest, catalog: Catalog, warehouse: Warehouse, console: Console
) -> TrainingSet:
    started = time.perf_counter()
    plan = plan_training_set(request, catalog, warehouse, warehouse.dialect)
    sql = render(plan.expression, warehouse.dialect)
    # The query ends in ORDER BY the spine's row; when that row number is exact (a parquet
    # file's own, or one we assigned), the engine need not keep scan order anywhere else.
    warehouse.keep_scan_order(plan.spine.row_order is None)
    with console.progress("building the training set in the warehouse"):
        try:
            counts, output, table = _deliver(request, plan, sql, warehouse)
        except WarehouseError:
            # Say which view is not built (or out of date) rather than what the engine saw.
            check_views_built(plan.selections, warehouse)
            raise
    summary = _summary(counts, plan, time.perf_counter() - started, output)
    console.info(summary.line())
    return TrainingSet(summary=summary, table=table)


def _deliver(
    request: TrainingSetRequest, plan: Plan, sql: str, warehouse: Warehouse
) -> tuple[tuple[int, dict[str, int]], str | None, "pa.Table | None"]:
    """Run the query into the requested output: (row and value counts, where, the rows)."""
    if request.output_path is not None:
        return _write_file(sql, request.output_path, warehouse), str(request.output_path), None
    if request.output_table is not None:
        name = _qualified_table(request.output_table, warehouse)
        warehouse.replace_table(name, sql)
        return _counts_in_warehouse(name, plan.outputs, warehouse), request.output_table, None
    table = warehouse.read_arrow(sql)
    counts = (table.num_rows, {o.name: table.num_rows - table[o.name].null_count for o in plan.outputs})
    return counts, None, table


def _write_file(sql: str, path: Path, warehouse: Warehouse) -> tuple[int, dict[str, int]]:
    file_format = local_files.FORMAT_OF_SUFFIX[path.suffix.lower()]
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        warehouse.export(sql, str(partial), file_format)
        counts = local_files.row_and_value_counts(warehouse.local_files_connection(), partial, file_format)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return counts


def _counts_in_warehouse(table: str, outputs: list[OutputFeature], warehouse: Warehouse) -> tuple[int, dict[str, int]]:
    counted = ", ".join(f"count({quote_identifier(o.name)})" for o in outputs)
    row = warehouse.fetch_all(f"select count(*){', ' + counted if counted else ''} from {table}")[0]
    return row[0], {o.name: n for o, n in zip(outputs, row[1:])}


def _summary(counts: tuple[int, dict[str, int]], plan: Plan, seconds: float, output: str | None) -> TrainingSetSummary:
    rows, non_null = counts
    coverage = {o.name: (non_null.get(o.name, 0) / rows if rows else 0.0) for o in plan.outputs}
    by_view: dict[str, float] = {}
    for output_feature in plan.outputs:
        view = plan.selections[output_feature.selection_index].view.name
        by_view[view] = max(by_view.get(view, 0.0), coverage[output_feature.name])
    return TrainingSetSummary(rows, seconds, coverage, by_view, output)


def _qualified_table(name: str, warehouse: Warehouse) -> str:
    try:
        table = exp.to_table(name, dialect=warehouse.dialect)
    except sqlglot.errors.ParseError:
        raise UsageError(f"--output-table '{name}' is not a table name (valid: name or schema.name)") from None
    if not table.args.get("db"):
        table.set("db", exp.to_identifier(warehouse.target.schema, quoted=True))
    return table.sql(dialect=warehouse.dialect)

