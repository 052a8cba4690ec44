"""Building a training set in stages where one query would not fit the warehouse's memory.

Why: one query over many views holds every view's as-of state at once. DuckDB keeps each
operator's state (a view's sorted timeline, in its tie-break window and in its as-of join)
until the query ends, so the query's working set grows with the number of views (about 76
MB a view of 900,000 rows: 3.9 GB for 50) and past the connection's memory_limit it spills
to disk, which costs CPU (docs/benchmarks.md, "50 views"). Joining the views in batches,
each batch's features into a temporary table, and the tables to the spine on its row
number at the end, holds one batch at a time.

When: decided from cheap facts, never a scan: the connection's memory limit
(Warehouse.memory_limit; None where the engine gives none, which keeps one query), the
number of views, and each view's estimated rows (the EXPLAIN that bounded scans read
already, offline/scans.py). Views of an estimated size fit in one query up to STAGE_SHARE of
the limit; past it, they are split into the fewest consecutive batches that fit, of about
equal size. A request with on-demand features, aggregation views or a view without an
estimate stays one query.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from typing import Callable, Collection, Iterator, Sequence

from featurestore.catalog import FeatureSelection
from featurestore.engines.base import Warehouse
from featurestore.errors import WarehouseError
from featurestore.offline.plan import Plan, Staged
from featurestore.offline.scans import BoundedScans
from featurestore.offline.spine import timestamp_as_naive_utc
from featurestore.sql.expressions import INTERNAL, render
from featurestore.sql.pit import OutputFeature
from featurestore.sql.spine import SpineRelation
from featurestore.sql.stages import (
    combined_expression,
    drop_table_expression,
    numbered_spine_table_expression,
    spine_time_name,
    stage_expression,
    staged_spine_relation,
    temporary_table_expression,
)

STAGE_SHARE = 0.9
"""The share of the memory limit one statement's estimated working set may take. DuckDB,
2 GB: 20 small views (1.6 GB resident) run without spilling, 50 (3.9 GB) spill."""
BYTES_PER_VALUE = 16
"""Estimated bytes a query holds per value of a view's timeline (join keys, time, features),
for each of its rows: measured in DuckDB, 76 MB for a view of 900,000 rows of 5 columns."""


def view_bytes(selection: FeatureSelection, estimated_rows: int, spine_rows: int) -> int:
    """The estimated working set of joining one view: its timeline's rows, and the spine's
    rows with the view's answer (row number, time, features), held until the final join."""
    values = len(selection.view.join_keys) + 1 + len(selection.features)
    return BYTES_PER_VALUE * (estimated_rows * values + spine_rows * (2 + len(selection.features)))


def batches(sizes: Sequence[int], budget: float) -> list[range]:
    """Pure: consecutive batches of the views of `sizes` (estimated bytes each), each within
    `budget` where one view alone is; one batch when all fit. The fewest batches that fit,
    of about equal size: a batch ends where the next view would take it further from an
    equal share of the total than it is."""
    total = sum(sizes)
    if total <= budget or len(sizes) < 2:
        return [range(len(sizes))]
    share = total / math.ceil(total / budget)
    found, start, size = [], 0, 0
    for index, view in enumerate(sizes):
        if index > start and (size + view > budget or abs(size + view - share) > abs(size - share)):
            found.append(range(start, index))
            start, size = index, 0
        size += view
    found.append(range(start, len(sizes)))
    return found


def plan_stages(
    plan: Plan,
    event_time_only: bool,
    indexed_views: Collection[str],
    scans: BoundedScans,
    memory_limit: Callable[[], int | None],
) -> Plan:
    """`plan`, built in stages where its views' estimated working set passes STAGE_SHARE of
    `memory_limit()` (Warehouse.memory_limit, a query: asked only of a plan that could be
    staged)."""
    selections = plan.selections
    estimates = [scans.estimated_rows.get(s.view.name) for s in selections]
    if any(e is None for e in estimates) or any(s.view.is_aggregation for s in selections):
        return plan
    # On-demand features: their columns are computed over the one query's (offline/plan.py
    # names them with no selection), which no stage has. Counting outputs against the
    # selections' features misses a request whose on-demand features read as many features
    # not asked for as there are on-demand features.
    if any(o.selection_index < 0 for o in plan.outputs):
        return plan
    budget = (memory_limit() or 0) * STAGE_SHARE
    if not budget:
        return plan
    sizes = [view_bytes(s, e or 0, scans.spine_rows) for s, e in zip(selections, estimates)]
    split = batches(sizes, budget)
    if len(split) == 1:
        return plan
    spine = SpineRelation(
        source=plan.spine.source, columns=plan.spine.columns, timestamp=timestamp_as_naive_utc(plan.spine, plan.engine),
        row_order=plan.spine.row_order,
    )
    # Where the spine's order is exact, the final query reads it again and its table holds
    # only what the stages join on; else the table is the spine, numbered once.
    exact = spine.row_order is not None
    joined = {spine_time_name(spine), *(k for s in selections for k in s.view.join_keys)}
    kept = dataclasses.replace(spine, columns=tuple(c for c in spine.columns if c in joined)) if exact else spine
    spine_table = f"{INTERNAL}stage_spine"
    tables = [(spine_table, numbered_spine_table_expression(kept, plan.engine, spine_table))]
    combined: list[tuple[str, list[str]]] = []
    for number, batch in enumerate(split):
        chosen = [selections[i] for i in batch]
        outputs = [OutputFeature(o.selection_index - batch.start, o.feature, o.name) for o in plan.outputs if o.selection_index in batch]
        keys = {k for s in chosen for k in s.view.join_keys}
        query = stage_expression(
            staged_spine_relation(spine, spine_table, sorted(keys)), chosen, outputs, plan.engine, event_time_only,
            indexed_views, scans.scans,
        )
        name = f"{INTERNAL}stage_{number}"
        tables.append((name, temporary_table_expression(name, query)))
        combined.append((name, [o.name for o in outputs]))
    final = combined_expression(spine if exact else staged_spine_relation(spine, spine_table, spine.columns), plan.engine, combined)
    return Plan(plan.expression, plan.outputs, plan.selections, plan.spine, plan.engine, Staged(tuple(tables), final))


@contextlib.contextmanager
def staged_query(plan: Plan, warehouse: Warehouse) -> Iterator[str]:
    """The query that gives `plan`'s rows: its one query, or, for a staged plan, the final
    query, its temporary tables made first and dropped after."""
    if plan.staged is None:
        yield plan.sql()
        return
    made: list[str] = []
    try:
        for name, statement in plan.staged.tables:
            warehouse.execute(render(statement, warehouse.dialect))
            # Only once made: DROP TABLE IF EXISTS of a temporary table's name not made
            # would drop the user's table of that name in the default schema.
            made.append(name)
        yield render(plan.staged.final, warehouse.dialect)
    except BaseException:
        # The first error is the story; a table left behind goes with the connection.
        with contextlib.suppress(WarehouseError):
            _drop(made, warehouse)
        raise
    _drop(made, warehouse)


def _drop(tables: Sequence[str], warehouse: Warehouse) -> None:
    for name in reversed(tables):
        warehouse.execute(render(drop_table_expression(name), warehouse.dialect))
