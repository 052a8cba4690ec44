"""A table output's record, kept in the warehouse beside the table (`<table>__fs_record`,
sql/record_table.py) as well as in .fs/records/: a teammate reading the table finds what made
it, and `fs training-set --reproduce table:<table>` (or the bare table name) reads it there.

What `--reproduce` was given (docs/reproducibility.md): `table:T` names a table; otherwise an
existing file is a record file, a name that looks like a file (a `.json` suffix, a folder in it)
is a record file that cannot be read, and any other name is a table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from featurestore.engines.base import Warehouse
from featurestore.errors import UsageError, WarehouseError
from featurestore.offline.record import parse_record
from featurestore.sql.expressions import PARSE_ERRORS, render
from featurestore.sql.output import output_table_expression
from featurestore.sql.record_table import RECORD_TABLE_SUFFIX, record_query_expression, record_row_expression, record_table

TABLE_PREFIX = "table:"


def record_source(given: str) -> tuple[str | None, Path | None]:
    """(table, None) for a table's record, (None, path) for a record file."""
    if given.startswith(TABLE_PREFIX):
        return given[len(TABLE_PREFIX):], None
    path = Path(given)
    if path.is_file() or path.suffix.lower() == ".json" or len(path.parts) > 1:
        return None, path
    return given, None


def write_record_table(record: dict[str, Any], text: str, output_table: str, warehouse: Warehouse) -> None:
    """Replace `<output_table>__fs_record` with the record's one row."""
    table = record_table(output_table_expression(output_table, warehouse.target.schema, warehouse.dialect))
    warehouse.replace_table(table.sql(dialect=warehouse.dialect), render(record_row_expression(record, text), warehouse.dialect))


def read_record_table(given: str, output_table: str, warehouse: Warehouse) -> dict[str, Any]:
    """The record kept beside `output_table`; one line when there is none."""
    try:
        table = record_table(output_table_expression(output_table, warehouse.target.schema, warehouse.dialect))
    except PARSE_ERRORS:
        raise UsageError(_neither(given, f"{output_table}{RECORD_TABLE_SUFFIX}")) from None
    try:
        rows = warehouse.fetch_all(render(record_query_expression(table), warehouse.dialect))
    except WarehouseError as error:
        raise UsageError(_neither(given, table.sql(dialect=warehouse.dialect))) from error
    if len(rows) != 1:
        raise UsageError(f"--reproduce {given}: {table.sql(dialect=warehouse.dialect)} holds {len(rows)} records, not one")
    return parse_record(given, rows[0][0])


def _neither(given: str, looked_for: str) -> str:
    return (
        f"--reproduce {given}: neither a record file nor a table with a record (no table {looked_for}); "
        f"give <output>.record.json, or {TABLE_PREFIX}<table> for a training set written with --output-table"
    )
