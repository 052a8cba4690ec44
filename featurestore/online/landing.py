"""The warehouse side of a push: the view's landing table (featurestore.sql.landing), created
when missing, appended to, and found by a sync, which reads the pushed rows with the view's
until a `dbt build` folds them in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from featurestore.catalog import FeatureView, Relation
from featurestore.engines.base import Warehouse
from featurestore.errors import ProjectError, RelationNotBuilt
from featurestore.sql.expressions import INTERNAL, render
from featurestore.sql.landing import (
    append_events_expression,
    append_expression,
    create_landing_expression,
    create_table_as_expression,
    drop_table_expression,
    kept_rows_expression,
    landing_relation,
    probe_expression,
    rebuilt_relation,
    rename_table_expression,
    replace_tied_expression,
    tied_probe_expression,
)

if TYPE_CHECKING:
    import pyarrow as pa

UPLOADED = f"{INTERNAL}pushed_rows"
"""The temporary table the pushed rows travel in, for the INSERT that appends them."""


def existing_landing(warehouse: Warehouse, view: FeatureView, repair: bool = False) -> Relation | None:
    """The view's landing table, or None when nothing was ever pushed to it.

    Without transactions (Spark), a push's swap (_swap) may have stopped, or be under way in
    another process: `repair` (a sync, which holds the project's lock as pushes do) completes
    a stopped one first. A reader without the lock (verify-online) changes no table: it reads
    the landing table, or the rebuilt one while the landing table is dropped and not yet
    replaced (it then holds the landing rows)."""
    relation = landing_relation(view)
    if not warehouse.engine.transactions:
        if repair:
            _complete_swap(warehouse, view)
        elif not _exists(warehouse, relation):
            rebuilt = rebuilt_relation(view)
            return rebuilt if _exists(warehouse, rebuilt) else None
    return relation if _exists(warehouse, relation) else None


def append_to_landing(warehouse: Warehouse, view: FeatureView, rows: "pa.Table", events: bool = False) -> Relation:
    """Append `rows` (columns of the view's relation, cast to its types) to the view's landing
    table, creating it first if missing, in one transaction: a failure appends nothing. Rows
    pushed before that a new row ties exactly (join keys, timestamp, knowledge time) are
    replaced: of tied pushes the last wins, here as in Redis.

    Without transactions (Spark), the append is one INSERT, which appends all or nothing;
    a push that ties earlier rows builds the table anew (_swap)."""
    relation = landing_relation(view)
    warehouse.upload_temp_table(UPLOADED, rows)
    transactions = warehouse.engine.transactions
    if transactions:
        warehouse.execute("begin")
    else:
        _complete_swap(warehouse, view)
    try:
        warehouse.execute(render(create_landing_expression(view), warehouse.dialect))
        # The landing table copied the view's columns as the warehouse stored them.
        quoted = set(view.quoted_columns)
        stored = lambda name: warehouse.engine.stored_name(name, quoted=name in quoted)  # noqa: E731
        _check_columns(warehouse, view, rows.column_names, stored)
        if events:  # an aggregation view's events: each is one more event, ties included
            warehouse.execute(render(append_events_expression(view, rows.column_names, UPLOADED, stored), warehouse.dialect))
        elif transactions:
            warehouse.execute(render(replace_tied_expression(view, UPLOADED, stored), warehouse.dialect))
            warehouse.execute(render(append_expression(view, rows.column_names, UPLOADED, stored), warehouse.dialect))
        elif warehouse.fetch_all(render(tied_probe_expression(view, UPLOADED, stored), warehouse.dialect)):
            _swap(warehouse, view, rows.column_names, stored)
        else:
            warehouse.execute(render(append_expression(view, rows.column_names, UPLOADED, stored), warehouse.dialect))
        if transactions:
            warehouse.execute("commit")
    except BaseException:
        if transactions:
            warehouse.execute("rollback")
        raise
    return relation


def _check_columns(warehouse: Warehouse, view: FeatureView, columns: list[str], stored: Callable[[str], str]) -> None:
    relation = landing_relation(view)
    kept = warehouse.stream_arrow(render(probe_expression(relation), warehouse.dialect))
    kept.read_all()
    lacking = [name for name in columns if stored(name) not in kept.schema.names]
    if lacking:
        raise ProjectError(
            f"the landing table {relation} of view '{view.name}' has no column(s) {', '.join(lacking)}: "
            f"the view changed since its first push; add them to {relation} (or drop it once a "
            "dbt build has folded its rows into the view), then push again"
        )


def _swap(warehouse: Warehouse, view: FeatureView, columns: list[str], stored: Callable[[str], str]) -> None:
    """The landing table built anew without DELETE: its rows the push does not tie, then the
    push's rows, in a table of its own (rebuilt_relation), which then replaces it. A failure
    before the drop leaves the landing table as it was; one between the drop and the rename
    leaves the rebuilt table, which _complete_swap puts in place at the next push or sync."""
    landing, rebuilt = landing_relation(view), rebuilt_relation(view)
    dialect = warehouse.dialect
    warehouse.execute(render(drop_table_expression(rebuilt), dialect))
    warehouse.execute(render(create_table_as_expression(rebuilt, kept_rows_expression(view, UPLOADED, stored)), dialect))
    warehouse.execute(render(append_expression(view, columns, UPLOADED, stored, into=rebuilt), dialect))
    warehouse.execute(render(drop_table_expression(landing), dialect))
    warehouse.execute(render(rename_table_expression(rebuilt, landing), dialect))


def _complete_swap(warehouse: Warehouse, view: FeatureView) -> None:
    """After a _swap that stopped: the rebuilt table is the landing table's content if the
    landing table is gone (dropped, not yet replaced), else a rebuild that never finished."""
    landing, rebuilt = landing_relation(view), rebuilt_relation(view)
    if not _exists(warehouse, rebuilt):
        return
    if _exists(warehouse, landing):
        warehouse.execute(render(drop_table_expression(rebuilt), warehouse.dialect))
    else:
        warehouse.execute(render(rename_table_expression(rebuilt, landing), warehouse.dialect))


def _exists(warehouse: Warehouse, relation: Relation) -> bool:
    try:
        warehouse.fetch_all(render(probe_expression(relation), warehouse.dialect))
    except RelationNotBuilt:
        return False
    return True
