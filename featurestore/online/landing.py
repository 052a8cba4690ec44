"""The warehouse side of a push: the view's landing table (featurestore.sql.landing), created
when missing, appended to, and found by a sync, which reads the pushed rows with the view's
until a `dbt build` folds them in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from featurestore.catalog import FeatureView, Relation
from featurestore.engines.base import Warehouse
from featurestore.errors import ProjectError, RelationNotBuilt
from featurestore.sql.expressions import INTERNAL, render
from featurestore.sql.landing import (
    append_events_expression,
    append_expression,
    create_landing_expression,
    landing_relation,
    probe_expression,
    replace_tied_expression,
)

if TYPE_CHECKING:
    import pyarrow as pa

UPLOADED = f"{INTERNAL}pushed_rows"
"""The temporary table the pushed rows travel in, for the INSERT that appends them."""


def existing_landing(warehouse: Warehouse, view: FeatureView) -> Relation | None:
    """The view's landing table, or None when nothing was ever pushed to it."""
    relation = landing_relation(view)
    try:
        warehouse.fetch_all(render(probe_expression(relation), warehouse.dialect))
    except RelationNotBuilt:
        return None
    return relation


def append_to_landing(warehouse: Warehouse, view: FeatureView, rows: "pa.Table", events: bool = False) -> Relation:
    """Append `rows` (columns of the view's relation, cast to its types) to the view's landing
    table, creating it first if missing, in one transaction: a failure appends nothing. Rows
    pushed before that a new row ties exactly (join keys, timestamp, knowledge time) are
    replaced: of tied pushes the last wins, here as in Redis."""
    relation = landing_relation(view)
    warehouse.upload_temp_table(UPLOADED, rows)
    warehouse.execute("begin")
    try:
        warehouse.execute(render(create_landing_expression(view), warehouse.dialect))
        kept = warehouse.stream_arrow(render(probe_expression(relation), warehouse.dialect))
        kept.read_all()
        # The landing table copied the view's columns as the warehouse stored them.
        quoted = set(view.quoted_columns)
        stored = lambda name: warehouse.engine.stored_name(name, quoted=name in quoted)  # noqa: E731
        lacking = [name for name in rows.column_names if stored(name) not in kept.schema.names]
        if lacking:
            raise ProjectError(
                f"the landing table {relation} of view '{view.name}' has no column(s) {', '.join(lacking)}: "
                f"the view changed since its first push; add them to {relation} (or drop it once a "
                "dbt build has folded its rows into the view), then push again"
            )
        if events:  # an aggregation view's events: each is one more event, ties included
            warehouse.execute(render(append_events_expression(view, rows.column_names, UPLOADED, stored), warehouse.dialect))
        else:
            warehouse.execute(render(replace_tied_expression(view, UPLOADED, stored), warehouse.dialect))
            warehouse.execute(render(append_expression(view, rows.column_names, UPLOADED, stored), warehouse.dialect))
        warehouse.execute("commit")
    except BaseException:
        warehouse.execute("rollback")
        raise
    return relation
