"""Building a training set, one direction only: read the spine, plan the query (pure),
prepare the warehouse (upload what it cannot read, check text timestamps), run the query,
and deliver the rows (featurestore.offline.output).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

from featurestore.catalog import Catalog, FeatureSelection, OnDemandSelection
from featurestore.console import Console, plural
from featurestore.engines.base import Warehouse, reading_views
from featurestore.engines.engine import Engine
from featurestore.sql.declared_columns import checked_view
from featurestore.errors import UsageError, ValueNotConverted
from featurestore.offline.indexes import ViewIndexes, joined_views, probe_view_indexes
from featurestore.offline.output import Delivered, deliver, refuse_dbt_tables, refuse_spine_as_output
from featurestore.offline.plan import Plan, check_training_set, plan_training_set
from featurestore.offline.record import RecordContext, make_record, record_text, write_record
from featurestore.offline.record_table import write_record_table
from featurestore.offline.scans import bounded_scans
from featurestore.offline.stages import plan_stages, staged_query
from featurestore.offline.request import TrainingSetRequest
from featurestore.offline.spine import bad_key_refusal, prepare_spine, read_spine
from featurestore.offline.ties import tie_break_hints

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


@dataclass
class TrainingSetSummary:
    rows: int
    seconds: float
    feature_coverage: dict[str, float]
    """Output feature column -> share of rows where it is not null."""
    view_coverage: dict[str, float]
    """View -> share of rows where at least its best-covered feature is not null."""
    output: str | None = None
    record: str | None = None
    """Where the training set's record was written (offline/record.py)."""

    def line(self) -> str:
        views = ", ".join(f"{view} {share:.1%}" for view, share in self.view_coverage.items())
        where = f" -> {self.output}" if self.output else ""
        return f"{plural(self.rows, 'row')} in {self.seconds:.2f}s{where}; coverage: {views or 'no features'}"

    def to_dict(self) -> dict:
        return {
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
            "output": self.output,
            "view_coverage": self.view_coverage,
            "feature_coverage": self.feature_coverage,
            "record": self.record,
        }


@dataclass
class TrainingSet:
    """The result of `FeatureStore.training_set`: a summary, and the rows unless they were
    written to a file or a table."""

    summary: TrainingSetSummary
    table: "pa.Table | None" = field(default=None, repr=False)
    record: dict | None = field(default=None, repr=False)
    """What made the training set and what it holds (offline/record.py); `summary.record`
    says where it was written."""
    spine_dtypes: dict = field(default_factory=dict, repr=False)
    """The pandas extension dtypes (Int64, boolean, string...) of a pandas spine's columns:
    Arrow has no such types, and a nullable Int64 key would come back float64."""

    def to_arrow(self) -> "pa.Table":
        if self.table is None:
            raise UsageError(f"the training set was written to {self.summary.output}; read it from there")
        return self.table

    def to_pandas(self) -> "pd.DataFrame":
        frame = self.to_arrow().to_pandas()
        for name, dtype in self.spine_dtypes.items():
            if name in frame.columns:
                frame[name] = frame[name].astype(dtype)
        return frame

    def to_polars(self):
        """A polars DataFrame (polars is optional: `pip install polars`, or fs's polars extra)."""
        try:
            import polars
        except ImportError:
            raise UsageError("to_polars() needs polars, which is not installed: pip install polars") from None
        return polars.from_arrow(self.to_arrow())


def run_training_set(
    request: TrainingSetRequest,
    catalog: Catalog,
    warehouse: Warehouse,
    console: Console,
    context: RecordContext | None = None,
    write: bool = True,
) -> TrainingSet:
    """Build the training set; with `context`, make its record too, and unless `write` is
    false (a reproduction) write it down (offline/record.py)."""
    started = time.perf_counter()
    refuse_spine_as_output(request)
    refuse_dbt_tables(request, catalog, warehouse)
    plan = prepare_training_set(request, catalog, warehouse, console=console)
    # The query ends in ORDER BY the spine's row; when that row number is exact (a parquet
    # file's own, or one we assigned), the engine need not keep scan order anywhere else.
    warehouse.keep_scan_order(plan.spine.row_order is None)
    views = [s.view for s in plan.selections]
    try:
        with console.progress("building the training set in the warehouse"), reading_views(
            views, warehouse
        ), staged_query(plan, warehouse) as sql:
            delivered = deliver(request, sql, plan.outputs, warehouse)
    except ValueNotConverted as error:
        # The join converts a spine key of text to the views' key type: a value that does
        # not convert is the spine's to fix (exit 2, as a bad spine timestamp), not the
        # warehouse failing.
        refusal = bad_key_refusal(plan.spine, views, error, warehouse)
        if refusal is None:
            raise
        raise refusal from error
    # The summary is the caller's to show (the CLI prints its line once, on stdout).
    summary = _summary(delivered, plan, time.perf_counter() - started)
    record = None
    if context is not None:
        record = make_record(request, plan, delivered, summary.view_coverage, context, warehouse)
        if write:
            if request.output_table is not None:  # beside the table too, for who reads it there
                write_record_table(record, record_text(record), request.output_table, warehouse)
            summary.record = str(write_record(record, request, context.project_root))
        summary.seconds = time.perf_counter() - started
    return TrainingSet(summary=summary, table=delivered.table, spine_dtypes=_extension_dtypes(request.spine.frame), record=record)


def _extension_dtypes(spine: object) -> dict:
    """Column -> dtype of each column of a pandas spine whose dtype is a pandas extension
    type (nullable Int64, boolean, string...), which the output keeps."""
    import sys

    pandas = sys.modules.get("pandas")  # a pandas spine means pandas is imported already
    if pandas is None or not isinstance(spine, pandas.DataFrame):
        return {}
    return {
        str(name): dtype
        for name, dtype in spine.dtypes.items()
        if isinstance(dtype, pandas.api.extensions.ExtensionDtype) and not isinstance(dtype, pandas.DatetimeTZDtype)
    }


def prepare_training_set(
    request: TrainingSetRequest,
    catalog: Catalog,
    warehouse: Warehouse,
    engine: Engine | None = None,
    console: Console | None = None,
) -> Plan:
    """The plan for `engine` (default: the warehouse's), with the spine made queryable on
    `warehouse`: everything short of running the query. The views' indexes are asked of
    the warehouse first, and `console` shows a hint for each view the index would speed up.
    Once the spine is queryable, one small query over it bounds each view's scan
    (offline/scans.py), and the views' estimated sizes against the warehouse's memory limit
    decide whether it is built in stages (offline/stages.py)."""
    engine = engine or warehouse.engine
    selections, on_demand = catalog.resolve_all(request.features)
    if engine is warehouse.engine:
        for view in joined_views(selections, on_demand):
            checked_view(view, warehouse)
    spine = read_spine(request.spine, catalog, engine, warehouse)
    indexes = probe_views(selections, on_demand, engine, warehouse, request.event_time_only)
    for hint in indexes.hints if console is not None else ():
        console.hint(hint)
    # Checked first, to refuse a bad request before anything is uploaded; planned once, with
    # the bounds the spine's facts give (building the tree is most of planning's CPU).
    check_training_set(request, selections, spine, engine, on_demand)
    prepare_spine(spine, warehouse)
    views = list(joined_views(selections, on_demand))
    with reading_views(views, warehouse):  # EXPLAIN over a view not built says to build it
        scans = bounded_scans(views, spine, warehouse)
    plan = plan_training_set(request, selections, spine, engine, on_demand, indexes.indexed, scans.scans)
    if engine is not warehouse.engine:  # a plan to read, for another engine: no stages
        return plan
    return plan_stages(plan, request.event_time_only, indexes.indexed, scans, warehouse.memory_limit)


def probe_views(
    selections: Sequence[FeatureSelection],
    on_demand: OnDemandSelection | None,
    engine: Engine,
    warehouse: Warehouse | None,
    event_time_only: bool,
) -> ViewIndexes:
    """What fs asks and tells before planning: which views' tables have the index a top-one
    lateral join needs, and a hint for each view that would be joined faster with the index
    or with a uniqueness test."""
    indexes = probe_view_indexes(selections, on_demand, engine, warehouse, event_time_only)
    ties = tie_break_hints(joined_views(selections, on_demand), engine, indexes.indexed, event_time_only)
    return ViewIndexes(indexes.indexed, (*indexes.hints, *ties))


def _summary(delivered: Delivered, plan: Plan, seconds: float) -> TrainingSetSummary:
    rows = delivered.rows
    coverage = {o.name: (delivered.non_null.get(o.name, 0) / rows if rows else 0.0) for o in plan.outputs}
    by_view: dict[str, float] = {}
    for output in plan.outputs:
        view = plan.view_of(output)
        by_view[view] = max(by_view.get(view, 0.0), coverage[output.name])
    return TrainingSetSummary(rows, seconds, coverage, by_view, delivered.output)
