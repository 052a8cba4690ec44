"""DuckDB, the embedded default (dbt-duckdb): a native ASOF join, local files read in place,
and one writing process per database file."""

from __future__ import annotations

import json

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from featurestore.engines.base import Warehouse, generic_error

from featurestore.engines.engine import AsOfJoin, Engine
from featurestore.engines.local_files import READERS, duckdb_column_kind
from featurestore.errors import (
    ColumnNotFound,
    RelationNotBuilt,
    ValueNotConverted,
    WarehouseError,
    duckdb_file_locked,
    first_line,
)

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlglot import exp

    from featurestore.project.profiles import Target

class DuckDBWarehouse(Warehouse):
    def __init__(self, engine: Engine, target: "Target", read_only: bool):
        super().__init__(engine, target)
        import duckdb

        self.path = target.credentials["path"]
        if read_only and self.path != ":memory:" and not os.path.exists(self.path):
            raise WarehouseError(
                f"the DuckDB file {self.path} does not exist yet: run `dbt build` (or `fs build`) first"
            )
        # One configuration for every connection: DuckDB refuses a second connection to the
        # same file with other settings, and the profile's `settings` (memory_limit, threads,
        # ...) are the ones dbt-duckdb applies too.
        settings = {k: str(v) for k, v in (target.credentials.get("settings") or {}).items()}
        try:
            self.connection = duckdb.connect(self.path, read_only=read_only, config=settings)
        except duckdb.Error as error:
            raise self._cannot_open(error) from error
        # Feature timestamps are naive UTC; casts between time zones must agree.
        self.connection.execute("set TimeZone = 'UTC'")
        # DuckDB draws its own progress bar on stderr for long queries, even in cron.
        self.connection.execute("set enable_progress_bar = false")

    def _cannot_open(self, error: BaseException) -> WarehouseError:
        holder = re.search(r"Conflicting lock is held in (.*?) \(PID (\d+)\)", str(error))
        if holder is None:
            return WarehouseError(f"cannot open the DuckDB file {self.path}: {first_line(error)}")
        return duckdb_file_locked(self.path, holder.group(1), holder.group(2))

    def driver_errors(self) -> tuple[type[BaseException], ...]:
        import duckdb

        return (duckdb.Error,)

    def translate(self, error: BaseException) -> WarehouseError:
        import duckdb

        text = first_line(error)
        if isinstance(error, duckdb.CatalogException):
            missing = re.search(r"Table with name (\S+) does not exist", text)
            if missing:
                return RelationNotBuilt(missing.group(1), text)
        if isinstance(error, duckdb.BinderException):
            missing = re.search(r'Referenced column "(.+?)" not found', text)
            if missing:
                return ColumnNotFound(missing.group(1), text)
        if isinstance(error, duckdb.ConversionException):
            for wording in _NOT_CONVERTED:
                failed = wording.search(text)
                if failed:
                    type_name = failed.group("type").upper()
                    return ValueNotConverted(
                        failed.group("value"), type_name, failed.group("column"), text, _converted_kinds(type_name)
                    )
        return generic_error(error)

    def _execute(self, sql: str, params: tuple | None) -> Any:
        return self.connection.execute(sql, params) if params else self.connection.execute(sql)

    def _fetch_all(self, sql: str, params: tuple | None) -> list[tuple]:
        return self._execute(sql, params).fetchall()

    def _open_arrow(self, sql: str, batch_rows: int) -> "pa.RecordBatchReader":
        # A relation streams Arrow without the extra copy a DB-API result makes.
        return self.connection.sql(sql).to_arrow_reader(batch_rows)

    def column_kinds(self, sql: str) -> dict[str, str]:
        # DuckDB's own types: no trip through Arrow (and no pyarrow import) to learn them. The
        # cursor's description names the types as a relation's `types` does, without setting up
        # DuckDB's Python relation layer (2 ms of CPU, the first time in a process).
        with self.translated():
            described = self.connection.execute(f"select * from ({sql}) as q limit 0").description
        return {name: duckdb_column_kind(str(dtype)) for name, dtype, *_ in described}

    def estimated_rows(self, sql: str) -> int | None:
        # The root operator's estimate: a table's row count, a parquet file's from its footer.
        rows = self.fetch_all(f"explain (format json) {sql}")
        estimate = json.loads(rows[0][1])[0].get("extra_info", {}).get("Estimated Cardinality")
        return int(estimate) if estimate is not None and str(estimate).isdigit() else None

    def memory_limit(self) -> int | None:
        # Read back as DuckDB prints it, '1.8 GiB' for 2GB: rounded down, which errs small.
        text = str(self.fetch_all("select current_setting('memory_limit')")[0][0])
        size = re.fullmatch(r"([0-9.]+)\s*(bytes|[KMGTP]i?B)", text.strip())
        if size is None:
            return None
        unit = size.group(2)
        power = 0 if unit == "bytes" else "KMGTP".index(unit[0]) + 1
        return int(float(size.group(1)) * (1024 if "i" in unit else 1000) ** power)

    def keep_scan_order(self, keep: bool) -> None:
        self.execute(f"set preserve_insertion_order = {'true' if keep else 'false'}")

    def local_files_connection(self):
        # DuckDB reads local files itself: no second database needed.
        return self.connection

    def export(self, sql: str, path: str, file_format: str) -> None:
        # DuckDB writes the file itself, in parallel, without a trip through Python.
        from sqlglot import exp

        options = "format parquet" if file_format == "parquet" else "format csv, header true"
        target = exp.Literal.string(path).sql(dialect="duckdb")
        self.execute(f"copy ({sql}) to {target} ({options})")

    def upload_temp_table(self, name: str, table: "pa.Table") -> None:
        self.connection.register(name, table)

    def close(self) -> None:
        self.connection.close()


_SOURCE_COLUMN = r"(?: when casting from source column (?P<column>.+))?$"
_NOT_CONVERTED = (
    # 'abc' to INT32; "abc" to DECIMAL(18,3)
    re.compile(r"Could not convert string (['\"])(?P<value>.*)\1 to (?P<type>\S+?)" + _SOURCE_COLUMN),
    re.compile(r'invalid (?P<type>date|timestamp) field format: "(?P<value>.*?)", expected format is .*?' + _SOURCE_COLUMN),
    re.compile(r'(?P<type>date|timestamp) field value out of range: "(?P<value>.*?)"' + _SOURCE_COLUMN),
)
"""DuckDB's wordings (2.0) of a text value that does not convert to a number, date or timestamp."""

_PHYSICAL_TYPES = {
    "INT8": "TINYINT", "INT16": "SMALLINT", "INT32": "INTEGER", "INT64": "BIGINT", "INT128": "HUGEINT",
    "UINT8": "UTINYINT", "UINT16": "USMALLINT", "UINT32": "UINTEGER", "UINT64": "UBIGINT", "UINT128": "UHUGEINT",
}
"""DuckDB's conversion errors name integer types by their physical names, columns by SQL names."""


def _converted_kinds(type_name: str) -> frozenset[str]:
    """The kinds of a column whose type DuckDB's conversion error names: a timestamp error is
    the same for a column with a time zone and one without."""
    kind = duckdb_column_kind(_PHYSICAL_TYPES.get(type_name, type_name))
    return frozenset({"timestamp", "timestamptz"} if kind == "timestamp" else {kind})


def _local_file_source(
    path: Path, file_format: str, columns: "Sequence[str]"
) -> "tuple[exp.Expression, exp.Expression | None]":
    """DuckDB reads the file where it lies; a parquet file's own row numbers (DuckDB's
    file_row_number) give its exact order. A file with a column of that name (in any case:
    DuckDB's names are not case-sensitive) keeps it, and is numbered in the order it is
    scanned, as a CSV file is."""
    from sqlglot import exp

    numbered = file_format == "parquet" and ROW_NUMBER_COLUMN not in {c.lower() for c in columns}
    arguments: "list[exp.Expression]" = [exp.Literal.string(str(path))]
    if numbered:
        arguments.append(exp.EQ(this=exp.column(ROW_NUMBER_COLUMN), expression=exp.true()))
    source = exp.Table(this=exp.Anonymous(this=READERS[file_format], expressions=arguments))
    order = exp.column(exp.to_identifier(ROW_NUMBER_COLUMN, quoted=True)) if numbered else None
    return source, order


ROW_NUMBER_COLUMN = "file_row_number"
"""The column read_parquet(file_row_number = true) adds: each row's number in the file."""


def _resolve_credentials(credentials: dict[str, Any], project_root: Path | None) -> dict[str, Any]:
    # dbt resolves a relative path from the folder it runs in; fs runs dbt from the project
    # root, so both resolve it from there.
    path = credentials.get("path")
    if not path or path == ":memory:":
        return {**credentials, "path": ":memory:"}
    resolved = Path(str(path)).expanduser()
    if not resolved.is_absolute() and project_root is not None:
        resolved = project_root / resolved
    return {**credentials, "path": str(resolved)}


ENGINE = Engine(
    name="duckdb",
    adapters=("duckdb",),
    dialect="duckdb",
    as_of_join=AsOfJoin.NATIVE,
    materialized_cte=True,
    null_safe_hash_join=True,
    ttl_window_join=True,
    window_hops=True,
    window_pairs=True,
    local_file_source=_local_file_source,
    warehouse=DuckDBWarehouse,
    resolve_credentials=_resolve_credentials,
    tested="executed in tests",
    approx_distinct=True,
    # hash() of the row alias hashes the row as one struct value.
    row_hash="hash({row})",
    driver="duckdb",
    # dbt-ol: duckdb://<path as profiles.yml writes it>, not resolved to a folder.
    lineage_namespace=lambda profile: f"duckdb://{profile['path']}" if profile.get("path") else None,
)
