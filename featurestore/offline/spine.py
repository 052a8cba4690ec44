"""Reading what the user gave as a spine: where its rows come from, its columns and their
kinds, and how its timestamp becomes naive UTC.

A spine is a parquet or CSV file, a dbt model or relation, a SQL query, or (from Python) a
pandas, polars or Arrow frame. `read_spine` only reads (column names and kinds); rows that
must travel to the warehouse (a frame, or a file the engine cannot read in place) are
uploaded by `prepare_spine` when the query runs, never while planning, so printing the SQL
for another engine changes nothing anywhere.

The timestamp rule (one for every engine): a naive timestamp is taken as UTC; a timestamp
with a time zone is converted to UTC; a date is midnight UTC; text is accepted only when
every value is an ISO-8601 timestamp (`2013-01-01 10:15[:00][.ffffff][Z|+hh:mm]`), and
is then read as above. Anything else is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from featurestore.catalog import Catalog
from featurestore.catalog.meta import is_reserved
from featurestore.engines import local_files
from featurestore.engines.base import Warehouse, arrow_column_kind
from featurestore.engines.engine import Engine
from featurestore.errors import UsageError, ValueNotConverted, WarehouseError, did_you_mean
from featurestore.offline.request import SpineInput
from featurestore.sql.expressions import INTERNAL, PARSE_ERRORS, column, named_table, render, table_name, table_of
from featurestore.sql.spine import (
    columns_probe_expression,
    holding_value_expression,
    naive_utc_expression,
    not_iso_text_expression,
    query_source,
)

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlglot import exp

    from featurestore.catalog.model import FeatureView

UPLOADED_SPINE = f"{INTERNAL}spine_input"
ROW_IN_INPUT = f"{INTERNAL}row_in_input"


@dataclass(frozen=True)
class Spine:
    """A spine read, not yet touched: what the query builder needs, and what must happen on
    the warehouse before the query runs."""

    given: SpineInput
    source: exp.Expression
    """A FROM item: a table, a subquery or a table function such as read_parquet(...)."""
    kinds: dict[str, str]
    """The spine's own columns, in order, and their kinds (timestamp, text, ...)."""
    row_order: exp.Expression | None
    """A column giving the spine's order; None means the order the source is scanned in."""
    upload: "pa.Table | Path | None" = None
    """Rows (a frame, or a local file to read) to upload as UPLOADED_SPINE before running."""

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.kinds)

    @property
    def timestamp_kind(self) -> str:
        return self.kinds[self.given.timestamp_column]


def read_spine(given: SpineInput, catalog: Catalog, engine: Engine, warehouse: Warehouse | None) -> Spine:
    """The spine as `engine` will read it. `warehouse` (None when printing SQL without one)
    answers the column kinds of a relation or a query spine."""
    if given.path is not None:
        spine = _file_spine(given, engine, warehouse)
    elif given.frame is not None:
        table = _as_arrow(given.frame)
        kinds = {field.name: arrow_column_kind(field.type) for field in table.schema}
        spine = Spine(given, named_table(UPLOADED_SPINE), kinds, column(ROW_IN_INPUT), table)
    else:
        spine = _warehouse_spine(given, catalog, engine, warehouse)
    internal = [c for c in spine.columns if is_reserved(c)]
    if internal:
        raise UsageError(
            f"{given.describe()}: column '{internal[0]}' starts with {INTERNAL}, which is reserved for fs's own "
            "columns in any case; rename it"
        )
    return spine


def prepare_spine(spine: Spine, warehouse: Warehouse) -> None:
    """Make the spine queryable on `warehouse` and check what only its rows can tell: upload
    a frame or a local file the engine cannot read, and refuse text timestamps that are not
    ISO-8601."""
    if spine.upload is not None:
        table = spine.upload
        if isinstance(table, Path):
            file_format = local_files.FORMAT_OF_SUFFIX[table.suffix.lower()]
            table = local_files.read_table(warehouse.local_files_connection(), table, file_format)
        warehouse.upload_temp_table(UPLOADED_SPINE, _with_row_numbers(table))
    if spine.timestamp_kind == "text":
        _check_iso_text(spine, warehouse)


def timestamp_as_naive_utc(spine: Spine, engine: Engine) -> "exp.Expression":
    """The spine's point in time as a naive UTC timestamp, over the source's columns."""
    given = spine.given
    kind = spine.timestamp_kind
    value = naive_utc_expression(given.timestamp_column, kind, engine)
    if value is not None:
        return value
    raise UsageError(
        f"{given.describe()}: timestamp column '{given.timestamp_column}' has type {kind}; valid: a timestamp, "
        "a date, or ISO-8601 text such as 2013-01-01 10:15:00"
    )


def _file_spine(given: SpineInput, engine: Engine, warehouse: Warehouse | None) -> Spine:
    path = given.path
    file_format = local_files.FORMAT_OF_SUFFIX.get(path.suffix.lower())
    if file_format is None:
        raise UsageError(f"spine file {path}: unknown format '{path.suffix}'; valid: .parquet, .pq, .csv")
    if path.is_dir():
        raise UsageError(f"spine file {path} is a folder, not a file")
    if not path.is_file():
        raise UsageError(f"spine file {path} does not exist")
    local = warehouse.local_files_connection() if warehouse is not None else local_files.scratch_connection()
    kinds = local_files.column_kinds(local, path, file_format)
    if engine.local_file_source is not None:
        source, row_order = engine.local_file_source(path, file_format, list(kinds))
        return Spine(given, source, kinds, row_order)
    # The warehouse cannot read the user's local file: it travels as a temporary table.
    return Spine(given, named_table(UPLOADED_SPINE), kinds, column(ROW_IN_INPUT), path)


def _warehouse_spine(given: SpineInput, catalog: Catalog, engine: Engine, warehouse: Warehouse | None) -> Spine:
    if given.relation is not None:
        source = _relation_table(given.relation, catalog, engine.dialect)
    else:
        source = query_source(given.sql, engine.dialect)
    if warehouse is None:
        raise UsageError(
            f"{given.describe()}: its columns can only be read from the warehouse, which fs cannot "
            "query on this target yet; give the spine as a parquet or CSV file instead"
        )
    try:
        kinds = warehouse.column_kinds(render(columns_probe_expression(source), warehouse.dialect))
    except WarehouseError as error:
        built = " (run `fs build` or `dbt build`)" if given.relation in catalog.relations else ""
        raise WarehouseError(f"{given.describe()} cannot be read: {error.message}{built}") from error
    return Spine(given, source, kinds, None)


def _as_arrow(frame: Any) -> "pa.Table":
    import pyarrow as pa

    if isinstance(frame, pa.Table):
        return frame
    if hasattr(frame, "to_arrow"):  # polars
        return frame.to_arrow()
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (TypeError, pa.ArrowException) as error:
        raise UsageError(f"the spine must be a pandas or polars DataFrame or an Arrow table: {error}") from error


def _with_row_numbers(table: "pa.Table") -> "pa.Table":
    import pyarrow as pa

    return table.append_column(ROW_IN_INPUT, pa.array(range(table.num_rows), type=pa.int64()))


def _relation_table(name: str, catalog: Catalog, dialect: str) -> "exp.Table":
    relation = catalog.relations.get(name)
    if relation is not None:
        return table_of(relation)
    try:
        return table_name(name, dialect)
    except PARSE_ERRORS as error:
        raise UsageError(
            f"spine '{name}' is neither a file, a dbt model nor a relation name; "
            f"{did_you_mean(name, catalog.relations)}"
        ) from error


def bad_key_refusal(spine: Spine, views: Sequence[FeatureView], error: ValueNotConverted, warehouse: Warehouse) -> UsageError | None:
    """The one line for a spine key the views' key type cannot hold (`error`, the engine's,
    raised by the join), or None when the value is not the spine's: asked of the warehouse
    only once the query failed, so a good spine pays nothing for it.

    A column the engine names that is no join key is a view's own (its SQL casts a column
    of text), and a key is the spine's fault only where a view's key has the type the value
    failed to convert to: otherwise the error is the warehouse's, as it came."""
    keys = {k: [v for v in views if k in v.join_keys] for view in views for k in view.join_keys}
    if error.column is not None and error.column not in keys:
        return None
    candidates = [error.column] if error.column is not None else [k for k in keys if spine.kinds.get(k) == "text"]
    for name in candidates:
        typed = [v.name for v in keys[name] if not error.kinds or _key_kind(v, name, warehouse) in error.kinds]
        if typed and name in spine.kinds and warehouse.fetch_all(
            render(holding_value_expression(spine.source, name, error.value), warehouse.dialect)
        ):
            return UsageError(
                f"{spine.given.describe()}: join key column '{name}' holds values that cannot be cast to "
                f"{error.type_name}, the type of the key in {', '.join(typed)}, e.g. '{error.value}'"
            )
    return None


def _key_kind(view: FeatureView, key: str, warehouse: Warehouse) -> str | None:
    return warehouse.column_kinds(render(columns_probe_expression(table_of(view.relation)), warehouse.dialect)).get(key)


def _check_iso_text(spine: Spine, warehouse: Warehouse) -> None:
    name = spine.given.timestamp_column
    bad = not_iso_text_expression(spine.source, name)
    rows = warehouse.fetch_all(render(bad, warehouse.dialect))
    if rows:
        raise UsageError(
            f"{spine.given.describe()}: timestamp column '{name}' holds text that is not an "
            f"unambiguous ISO-8601 timestamp, e.g. '{rows[0][0]}'; valid: 2013-01-01 10:15:00, "
            "2013-01-01T10:15:00Z or 2013-01-01T05:15:00-05:00"
        )
