"""Turning what the user gave as a spine into something the query builder can join.

A spine is a parquet or CSV file, a dbt model or relation, a SQL query, or (from Python) a
pandas or Arrow frame. This module finds its columns, checks that it carries the timestamp
and every join key the requested views need, and decides how its timestamp becomes naive UTC.

The timestamp rule (one for every engine): a naive timestamp is taken as UTC; a timestamp
with a time zone is converted to UTC; a date is midnight UTC; text is accepted only when
every value is an ISO-8601 timestamp (`2013-01-01 10:15[:00][.ffffff][Z|+hh:mm]`), and
is then read as above. Anything else is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import sqlglot
from sqlglot import exp

from featurestore.catalog import Catalog, FeatureSelection
from featurestore.errors import UsageError, WarehouseError, did_you_mean
from featurestore import local_files
from featurestore.query import INTERNAL, SpineRelation, column, identifier, render
from featurestore.warehouse import Warehouse, arrow_column_kind

if TYPE_CHECKING:
    import pyarrow as pa

UPLOADED_SPINE = f"{INTERNAL}spine_input"
_ROW = f"{INTERNAL}row_in_input"
ISO_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}(:?\d{2})?)?$"


@dataclass(frozen=True)
class SpineInput:
    """Exactly one of path, relation, sql or frame."""

    path: Path | None = None
    relation: str | None = None
    sql: str | None = None
    frame: Any = None
    timestamp_column: str = "event_timestamp"

    def describe(self) -> str:
        if self.path is not None:
            return f"spine file {self.path}"
        if self.relation is not None:
            return f"spine relation '{self.relation}'"
        if self.sql is not None:
            return "spine query"
        return "spine frame"


def spine_input(spine: Any, spine_sql: str | None, timestamp_column: str) -> SpineInput:
    """Interpret the user's spine argument: a frame, a file path, or a model/relation name."""
    if spine_sql is not None:
        if spine is not None:
            raise UsageError("give the spine either as --spine or as --spine-sql, not both")
        return SpineInput(sql=spine_sql, timestamp_column=timestamp_column)
    if spine is None:
        raise UsageError("no spine given: pass --spine FILE|MODEL or --spine-sql QUERY")
    if not isinstance(spine, (str, Path)):
        return SpineInput(frame=spine, timestamp_column=timestamp_column)
    text = str(spine)
    # Relation names never hold a path separator; dotted names (schema.table) are not files.
    looks_like_path = "/" in text or "\\" in text or isinstance(spine, Path)
    if looks_like_path or Path(text).suffix.lower() in local_files.FORMAT_OF_SUFFIX or Path(text).exists():
        return SpineInput(path=Path(text).expanduser().resolve(), timestamp_column=timestamp_column)
    return SpineInput(relation=text, timestamp_column=timestamp_column)


def resolve_spine(
    given: SpineInput,
    selections: Sequence[FeatureSelection],
    catalog: Catalog,
    warehouse: Warehouse | None,
    dialect: str,
) -> SpineRelation:
    """The spine as a SpineRelation for `dialect`, validated against what `selections` need.

    `warehouse` is None only when printing SQL for a file spine without running it.
    """
    source, row_order, kinds = _source(given, catalog, warehouse, dialect)
    columns = [name for name in kinds if name != _ROW]
    internal = [c for c in columns if c.startswith(INTERNAL)]
    if internal:
        raise UsageError(f"{given.describe()}: column names starting with {INTERNAL} are reserved ({internal[0]})")
    _check_columns(given, columns, selections)
    timestamp = _timestamp_as_naive_utc(given, kinds[given.timestamp_column], source, warehouse)
    return SpineRelation(source=source, columns=tuple(columns), timestamp=timestamp, row_order=row_order)


def _source(given: SpineInput, catalog: Catalog, warehouse: Warehouse | None, dialect: str):
    if given.path is not None:
        return _file_source(given, warehouse, dialect)
    if given.frame is not None:
        if warehouse is None:
            raise UsageError("a frame spine needs a warehouse connection")
        table = _with_row_numbers(_as_arrow(given.frame))
        warehouse.upload_temp_table(UPLOADED_SPINE, table)
        return exp.Table(this=identifier(UPLOADED_SPINE)), column(_ROW), _arrow_kinds(table)
    if given.relation is not None:
        source = _relation_table(given.relation, catalog, dialect)
    else:
        source = _query_source(given.sql, dialect)
    if warehouse is None:
        raise UsageError(
            f"{given.describe()}: its columns can only be read from the warehouse, which fs cannot "
            "query on this target yet; give the spine as a parquet or CSV file instead"
        )
    try:
        kinds = warehouse.column_kinds(render(exp.select("*").from_(source), warehouse.dialect))
    except WarehouseError as error:
        built = " (run `dbt build` or `fs build`)" if given.relation in catalog.relations else ""
        raise WarehouseError(f"{given.describe()} cannot be read: {error.message}{built}") from None
    return source, None, kinds


def _file_source(given: SpineInput, warehouse: Warehouse | None, dialect: str):
    path = given.path
    file_format = local_files.FORMAT_OF_SUFFIX.get(path.suffix.lower())
    if file_format is None:
        raise UsageError(f"spine file {path}: unknown format '{path.suffix}'; valid: .parquet, .pq, .csv")
    if not path.is_file():
        raise UsageError(f"spine file {path} does not exist")
    if dialect == "duckdb":
        # DuckDB reads the file where it lies; a parquet file's own row numbers give its order.
        reader = local_files.READERS[file_format]
        arguments: list[exp.Expression] = [exp.Literal.string(str(path))]
        if file_format == "parquet":
            arguments.append(exp.EQ(this=exp.column("file_row_number"), expression=exp.true()))
        source = exp.Table(this=exp.Anonymous(this=reader, expressions=arguments))
        local = warehouse.local_files_connection() if warehouse is not None else _scratch_duckdb()
        kinds = local_files.column_kinds(local, path, file_format)
        # A parquet file's own row numbers (DuckDB's file_row_number) give its exact order.
        return source, (column("file_row_number") if file_format == "parquet" else None), kinds
    # Other warehouses cannot read the user's local file: it travels as a temporary table.
    local = warehouse.local_files_connection() if warehouse is not None else _scratch_duckdb()
    table = _with_row_numbers(local_files.read_table(local, path, file_format))
    if warehouse is not None:
        warehouse.upload_temp_table(UPLOADED_SPINE, table)
    return exp.Table(this=identifier(UPLOADED_SPINE)), column(_ROW), _arrow_kinds(table)


def _scratch_duckdb():
    import duckdb

    connection = duckdb.connect()
    connection.execute("set TimeZone = 'UTC'")
    return connection


def _arrow_kinds(table: "pa.Table") -> dict[str, str]:
    return {field.name: arrow_column_kind(field.type) for field in table.schema}


def _as_arrow(frame: Any) -> "pa.Table":
    import pyarrow as pa

    if isinstance(frame, pa.Table):
        return frame
    if hasattr(frame, "to_arrow"):  # polars
        return frame.to_arrow()
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (TypeError, pa.ArrowException) as error:
        raise UsageError(f"the spine must be a pandas or polars DataFrame or an Arrow table: {error}") from None


def _with_row_numbers(table: "pa.Table") -> "pa.Table":
    import pyarrow as pa

    return table.append_column(_ROW, pa.array(range(table.num_rows), type=pa.int64()))


def _relation_table(name: str, catalog: Catalog, dialect: str) -> exp.Table:
    relation = catalog.relations.get(name)
    if relation is not None:
        return exp.Table(
            this=identifier(relation.identifier),
            db=identifier(relation.schema),
            catalog=identifier(relation.database) if relation.database else None,
        )
    try:
        return exp.to_table(name, dialect=dialect)
    except sqlglot.errors.ParseError:
        raise UsageError(
            f"spine '{name}' is neither a file, a dbt model nor a relation name; "
            f"{did_you_mean(name, catalog.relations)}"
        ) from None


def _query_source(sql: str, dialect: str) -> exp.Subquery:
    try:
        parsed = sqlglot.parse_one(sql, read=dialect)
    except sqlglot.errors.ParseError as error:
        raise UsageError(f"--spine-sql is not valid {dialect} SQL: {str(error).splitlines()[0]}") from None
    if not isinstance(parsed, exp.Query):
        raise UsageError("--spine-sql must be a query (SELECT ...)")
    return parsed.subquery(identifier(f"{INTERNAL}spine_query"))


def _check_columns(given: SpineInput, columns: list[str], selections: Sequence[FeatureSelection]) -> None:
    if given.timestamp_column not in columns:
        raise UsageError(
            f"{given.describe()} has no timestamp column '{given.timestamp_column}' "
            f"(set --timestamp-column); {did_you_mean(given.timestamp_column, columns)}"
        )
    missing: dict[str, list[str]] = {}
    for selection in selections:
        for key in selection.view.join_keys:
            if key not in columns:
                missing.setdefault(key, []).append(selection.view.name)
    if missing:
        needs = "; ".join(f"'{key}' (needed by {', '.join(views)})" for key, views in missing.items())
        raise UsageError(f"{given.describe()} lacks join key column(s) {needs}; spine columns: {', '.join(columns)}")


def _timestamp_as_naive_utc(
    given: SpineInput, kind: str, source: exp.Expression, warehouse: Warehouse | None
) -> exp.Expression:
    name = given.timestamp_column
    value = column(name)
    naive = exp.DataType.build("timestamp")
    if kind == "timestamp":
        return value
    if kind == "timestamptz":
        return exp.cast(exp.AtTimeZone(this=value, zone=exp.Literal.string("UTC")), naive)
    if kind == "date":
        return exp.cast(value, naive)
    if kind == "text":
        if warehouse is not None:
            _check_iso_text(given, source, warehouse)
        as_utc = exp.AtTimeZone(this=exp.cast(value, exp.DataType.build("timestamptz")), zone=exp.Literal.string("UTC"))
        return exp.cast(as_utc, naive)
    raise UsageError(
        f"{given.describe()}: timestamp column '{name}' has type {kind}; valid: a timestamp, "
        "a date, or ISO-8601 text such as 2013-01-01 10:15:00"
    )


def _check_iso_text(given: SpineInput, source: exp.Expression, warehouse: Warehouse) -> None:
    value = column(given.timestamp_column)
    bad = (
        exp.select(value)
        .from_(source.copy())
        .where(
            exp.and_(
                exp.Not(this=exp.Is(this=value.copy(), expression=exp.null())),
                exp.Not(this=exp.RegexpLike(this=value.copy(), expression=exp.Literal.string(ISO_TIMESTAMP))),
            )
        )
        .limit(1)
    )
    rows = warehouse.fetch_all(render(bad, warehouse.dialect))
    if rows:
        raise UsageError(
            f"{given.describe()}: timestamp column '{given.timestamp_column}' holds text that is not an "
            f"unambiguous ISO-8601 timestamp, e.g. '{rows[0][0]}'; valid: 2013-01-01 10:15:00, "
            "2013-01-01T10:15:00Z or 2013-01-01T05:15:00-05:00"
        )

