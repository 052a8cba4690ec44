"""Reading the user's local parquet and CSV files with an in-process DuckDB: their column
kinds, their rows, and their row and non-null counts (from parquet statistics when present).

This is how spine files are inspected and how the summary of a written training set is
counted without reading it back into Python. Every function takes the DuckDB connection to
use (`Warehouse.local_files_connection()`): a DuckDB warehouse lends its own, which saves
starting a second database. The DuckDB engine (duckdb.py) reads files and names types as
this does, so it takes `READERS` and `duckdb_column_kind` from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from featurestore.errors import UsageError, first_line

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

FORMAT_OF_SUFFIX = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
"""File name suffix -> format, for spines read and training sets written."""

READERS = {"parquet": "read_parquet", "csv": "read_csv"}
"""File format -> the DuckDB table function that reads it."""


def scratch_connection() -> "duckdb.DuckDBPyConnection":
    """A connection of its own, for when no warehouse is open (printing SQL)."""
    import duckdb

    connection = duckdb.connect()
    connection.execute("set TimeZone = 'UTC'")
    return connection


def duckdb_column_kind(type_name: str) -> str:
    """Kind of a DuckDB type name, as `Warehouse.column_kinds` reports it."""
    upper = type_name.upper()
    if upper in {"TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "DATETIME"}:
        return "timestamp"
    if upper in {"TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"}:
        return "timestamptz"
    if upper == "DATE":
        return "date"
    if upper in {"VARCHAR", "TEXT", "STRING"}:
        return "text"
    return type_name.lower()


def column_kinds(local: "duckdb.DuckDBPyConnection", path: Path, file_format: str) -> dict[str, str]:
    """Column name -> kind (timestamp, timestamptz, date, text or the type's name)."""
    import duckdb

    try:
        rows = local.execute(f"describe select * from {READERS[file_format]}(?)", [str(path)]).fetchall()
    except duckdb.Error as error:
        raise UsageError(f"spine file {path} cannot be read as {file_format}: {first_line(error)}") from error
    return {name: duckdb_column_kind(dtype) for name, dtype, *_ in rows}


def read_table(local: "duckdb.DuckDBPyConnection", path: Path, file_format: str) -> "pa.Table":
    import duckdb

    try:
        return local.sql(f"select * from {READERS[file_format]}(?)", params=[str(path)]).to_arrow_table()
    except duckdb.Error as error:
        raise UsageError(f"spine file {path} cannot be read as {file_format}: {first_line(error)}") from error


def row_and_value_counts(
    local: "duckdb.DuckDBPyConnection", path: Path, file_format: str
) -> tuple[int, dict[str, int]]:
    """Rows, and non-null values per column. Parquet files answer from their statistics."""
    if file_format == "parquet":
        stats = local.execute(
            "select path_in_schema, sum(row_group_num_rows), sum(stats_null_count), "
            "count(*) - count(stats_null_count) from parquet_metadata(?) group by path_in_schema",
            [str(path)],
        ).fetchall()
        if stats and all(missing == 0 for *_, missing in stats):
            rows = int(stats[0][1])
            return rows, {name: rows - int(nulls) for name, _, nulls, _ in stats}
        if not stats:  # an empty file has no row groups
            names = [row[0] for row in local.execute("describe select * from read_parquet(?)", [str(path)]).fetchall()]
            return 0, dict.fromkeys(names, 0)
    source = f"{READERS[file_format]}($path)"
    names = [row[0] for row in local.execute(f"describe select * from {source}", {"path": str(path)}).fetchall()]
    from sqlglot import exp

    counted = "".join(f", count({exp.to_identifier(n, quoted=True).sql(dialect='duckdb')})" for n in names)
    counts = local.execute(f"select count(*){counted} from {source}", {"path": str(path)}).fetchall()[0]
    return counts[0], dict(zip(names, counts[1:]))



CONTENT_HASH = "select count(*), sum(cast(hash(__fs_row) as decimal(38, 0))) from {source} as __fs_row"
"""Rows and the sum of each row's hash: a fingerprint of the content whatever the rows' order
(DuckDB's hash, the one a DuckDB warehouse computes for its tables, sql/fingerprint.py)."""


def file_content_hash(local: "duckdb.DuckDBPyConnection", path: Path, file_format: str) -> tuple[int, str]:
    """(rows, content hash) of a local parquet or CSV file, in one scan."""
    rows, total = local.execute(CONTENT_HASH.format(source=f"{READERS[file_format]}($path)"), {"path": str(path)}).fetchall()[0]
    return int(rows), str(int(total or 0))


def arrow_content_hash(local: "duckdb.DuckDBPyConnection", table: "pa.Table") -> tuple[int, str]:
    """(rows, content hash) of an Arrow table, as `file_content_hash` computes it for a file."""
    name = "__fs_hashed_arrow"
    local.register(name, table)
    try:
        rows, total = local.execute(CONTENT_HASH.format(source=name)).fetchall()[0]
    finally:
        local.unregister(name)
    return int(rows), str(int(total or 0))
