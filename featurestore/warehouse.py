"""Running SQL on the user's warehouse and streaming results back as Arrow.

One class per engine, each small: how to connect, how to stream a query as Arrow batches, and
how to make a table appear atomically. Everything above this module speaks SQL text rendered
for `warehouse.dialect` and never imports an engine's driver itself.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Iterator

from featurestore.errors import WarehouseError, first_line as _first_line
from featurestore.profiles import Target

if TYPE_CHECKING:
    import pyarrow as pa

BATCH_ROWS = 256_000


class Warehouse(ABC):
    """An open connection to the warehouse of one dbt target."""

    dialect: str

    def __init__(self, target: Target):
        self.target = target
        self._local_files = None

    @abstractmethod
    def execute(self, sql: str, params: tuple | None = None) -> None: ...

    @abstractmethod
    def fetch_all(self, sql: str, params: tuple | None = None) -> list[tuple]: ...

    @abstractmethod
    def stream_arrow(self, sql: str, batch_rows: int = BATCH_ROWS) -> "pa.RecordBatchReader":
        """The query's result as a stream of Arrow record batches."""

    @abstractmethod
    def relation_columns(self, schema: str, name: str) -> dict[str, str] | None:
        """Column name -> type of a table or view, or None when it does not exist."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def upload_temp_table(self, name: str, table: "pa.Table") -> None:
        """Make an Arrow table queryable as a temporary table `name` for this connection."""

    def read_arrow(self, sql: str) -> "pa.Table":
        """The whole result of a query as one Arrow table (errors met while streaming, too,
        become WarehouseError)."""
        import pyarrow as pa

        try:
            return self.stream_arrow(sql).read_all()
        except (*self.driver_errors(), pa.ArrowException) as error:
            raise WarehouseError(_first_line(error)) from None

    @abstractmethod
    def driver_errors(self) -> tuple[type[BaseException], ...]:
        """The driver's exceptions for SQL that failed (shown to the user as one line)."""

    def column_kinds(self, sql: str) -> dict[str, str]:
        """Column name -> kind (timestamp, timestamptz, date, text, or the type's own name)
        of a query's result, without running it over the data."""
        schema = self.stream_arrow(f"select * from ({sql}) as q limit 0").schema
        return {field.name: arrow_column_kind(field.type) for field in schema}

    def keep_scan_order(self, keep: bool) -> None:
        """Whether results without ORDER BY must come in scan order (engines that can trade
        it for speed override this)."""

    def local_files_connection(self):
        """A DuckDB connection for reading the user's local files (see local_files)."""
        if self._local_files is None:
            import duckdb

            self._local_files = duckdb.connect()
            self._local_files.execute("set TimeZone = 'UTC'")
        return self._local_files

    def export(self, sql: str, path: str, file_format: str) -> None:
        """Write a query's result to a parquet or CSV file, streaming batch by batch."""
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pq

        import pyarrow as pa

        reader = self.stream_arrow(sql)
        writer_class = pq.ParquetWriter if file_format == "parquet" else pa_csv.CSVWriter
        try:
            with writer_class(path, reader.schema) as writer:
                for batch in reader:
                    writer.write_batch(batch)
        except (*self.driver_errors(), pa.ArrowException) as error:
            raise WarehouseError(_first_line(error)) from None

    def replace_table(self, qualified_name: str, sql: str) -> None:
        """Create or replace a table from a query in one transaction: readers see the old
        table or the new one, and a failure leaves the old one (or none) untouched."""
        self.execute("begin")
        try:
            self.execute(f"drop table if exists {qualified_name}")
            self.execute(f"create table {qualified_name} as {sql}")
            self.execute("commit")
        except BaseException:
            self.execute("rollback")
            raise

    def __enter__(self) -> "Warehouse":
        return self

    def __exit__(self, *exc) -> None:
        if self._local_files is not None and self._local_files is not getattr(self, "connection", None):
            self._local_files.close()
        self.close()


class DuckDBWarehouse(Warehouse):
    dialect = "duckdb"

    def __init__(self, target: Target, read_only: bool):
        super().__init__(target)
        import duckdb

        self.path = target.credentials["path"]
        if read_only and self.path != ":memory:" and not os.path.exists(self.path):
            raise WarehouseError(
                f"the DuckDB file {self.path} does not exist yet: run `dbt build` (or `fs build`) first"
            )
        try:
            # One configuration for every connection: DuckDB refuses a second connection to
            # the same file with other settings, and the profile's `settings` (memory_limit,
            # threads, ...) are the ones dbt-duckdb applies too.
            settings = {k: str(v) for k, v in (target.credentials.get("settings") or {}).items()}
            self.connection = duckdb.connect(self.path, read_only=read_only, config=settings)
        except duckdb.IOException as error:
            holder = re.search(r"Conflicting lock is held in (.*?) \(PID (\d+)\)", str(error))
            if holder is None:
                raise WarehouseError(f"cannot open the DuckDB file {self.path}: {_first_line(error)}") from None
            raise WarehouseError(
                f"the DuckDB file {self.path} is locked by {holder.group(1)} (PID {holder.group(2)}), "
                "probably a running dbt command; DuckDB allows one writing process at a time: "
                "wait for it to finish and retry"
            ) from None
        # Feature timestamps are naive UTC; casts between time zones must agree.
        self.connection.execute("set TimeZone = 'UTC'")
        # DuckDB draws its own progress bar on stderr for long queries, even in cron.
        self.connection.execute("set enable_progress_bar = false")

    def execute(self, sql: str, params: tuple | None = None) -> None:
        self._run(sql, params)

    def fetch_all(self, sql: str, params: tuple | None = None) -> list[tuple]:
        return self._run(sql, params).fetchall()

    def stream_arrow(self, sql: str, batch_rows: int = BATCH_ROWS) -> "pa.RecordBatchReader":
        import duckdb

        try:
            # A relation streams Arrow without the extra copy a DB-API result makes.
            return self.connection.sql(sql).to_arrow_reader(batch_rows)
        except duckdb.Error as error:
            raise WarehouseError(_first_line(error)) from None

    def relation_columns(self, schema: str, name: str) -> dict[str, str] | None:
        rows = self.fetch_all(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            (schema, name),
        )
        return {column: dtype for column, dtype in rows} or None

    def driver_errors(self) -> tuple[type[BaseException], ...]:
        import duckdb

        return (duckdb.Error,)

    def column_kinds(self, sql: str) -> dict[str, str]:
        # DuckDB's own types: no trip through Arrow (and no pyarrow import) to learn them.
        try:
            relation = self.connection.sql(f"select * from ({sql}) as q limit 0")
        except Exception as error:
            raise WarehouseError(_first_line(error)) from None
        return {name: duckdb_column_kind(str(dtype)) for name, dtype in zip(relation.columns, relation.types)}

    def keep_scan_order(self, keep: bool) -> None:
        self.execute(f"set preserve_insertion_order = {'true' if keep else 'false'}")

    def local_files_connection(self):
        # DuckDB reads local files itself: no second database needed.
        return self.connection

    def export(self, sql: str, path: str, file_format: str) -> None:
        # DuckDB writes the file itself, in parallel, without a trip through Python.
        options = "format parquet" if file_format == "parquet" else "format csv, header true"
        self.execute(f"copy ({sql}) to '{_quote_literal(path)}' ({options})")

    def upload_temp_table(self, name: str, table: "pa.Table") -> None:
        self.connection.register(name, table)

    def _run(self, sql: str, params: tuple | None):
        import duckdb

        try:
            return self.connection.execute(sql, params) if params else self.connection.execute(sql)
        except duckdb.Error as error:  # SQL the user can fix: a missing table, a bad spine query
            raise WarehouseError(_first_line(error)) from None

    def close(self) -> None:
        self.connection.close()


class PostgresWarehouse(Warehouse):
    dialect = "postgres"

    def __init__(self, target: Target, read_only: bool):
        super().__init__(target)
        import psycopg

        c = target.credentials
        try:
            self.connection = psycopg.connect(
                host=c.get("host"),
                port=int(c.get("port", 5432)),
                user=c.get("user"),
                password=c.get("password") or None,
                dbname=c.get("dbname") or c.get("database"),
                autocommit=True,
            )
        except psycopg.OperationalError as error:
            raise WarehouseError(
                f"cannot connect to PostgreSQL at {c.get('host')}:{c.get('port')}: "
                f"{_first_line(error)}"
            ) from None
        self._cursors = 0
        # No read-only session even for reads: a file or frame spine travels as a temporary
        # table, which a read-only session refuses. (DuckDB's read_only is about its file
        # lock; PostgreSQL has none to respect.)
        self.connection.execute("set time zone 'UTC'")

    def execute(self, sql: str, params: tuple | None = None) -> None:
        self._run(sql, params).close()

    def fetch_all(self, sql: str, params: tuple | None = None) -> list[tuple]:
        cursor = self._run(sql, params)
        try:
            return cursor.fetchall()
        finally:
            cursor.close()

    def stream_arrow(self, sql: str, batch_rows: int = BATCH_ROWS) -> "pa.RecordBatchReader":
        import psycopg
        import pyarrow as pa

        # A server-side cursor sends rows in batches. WITH HOLD lets it live outside a
        # transaction, so the connection stays in autocommit whether or not the reader is
        # ever drained; the cursor closes when the reader is exhausted or dropped.
        self._cursors += 1
        cursor = self.connection.cursor(name=f"fs_stream_{self._cursors}", withhold=True)
        try:
            cursor.execute(sql)
            first = cursor.fetchmany(batch_rows)
            schema = _arrow_schema_of(cursor.description)
        except psycopg.Error as error:
            cursor.close()
            raise WarehouseError(_first_line(error)) from None
        except WarehouseError:
            cursor.close()
            raise
        convert = [_FROM_POSTGRES.get(column.type_code) for column in cursor.description]

        def batches() -> Iterator[pa.RecordBatch]:
            rows = first
            try:
                while rows:
                    columns = [
                        [None if v is None else to(v) for v in col] if to else col
                        for col, to in zip(zip(*rows), convert)
                    ]
                    yield pa.record_batch(
                        [pa.array(col, type=schema.field(i).type) for i, col in enumerate(columns)],
                        schema=schema,
                    )
                    rows = cursor.fetchmany(batch_rows)
            finally:
                cursor.close()

        return pa.RecordBatchReader.from_batches(schema, batches())

    def relation_columns(self, schema: str, name: str) -> dict[str, str] | None:
        rows = self.fetch_all(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = %s and table_name = %s order by ordinal_position",
            (schema, name),
        )
        return {column: dtype for column, dtype in rows} or None

    def driver_errors(self) -> tuple[type[BaseException], ...]:
        import psycopg

        return (psycopg.Error,)

    def column_kinds(self, sql: str) -> dict[str, str]:
        cursor = self._run(f"select * from ({sql}) as q limit 0", None)
        try:
            schema = _arrow_schema_of(cursor.description)
        finally:
            cursor.close()
        return {field.name: arrow_column_kind(field.type) for field in schema}

    def upload_temp_table(self, name: str, table: "pa.Table") -> None:
        import pyarrow as pa

        columns = ", ".join(f"{quote_identifier(field.name)} {_postgres_type(field.type)}" for field in table.schema)
        self.execute(f"drop table if exists pg_temp.{quote_identifier(name)}")
        self.execute(f"create temporary table {quote_identifier(name)} ({columns})")
        import pyarrow.csv as pa_csv

        # CSV through COPY: one stream instead of a round trip per row. pyarrow quotes every
        # string, so an empty string stays '' while a missing value (unquoted) becomes NULL.
        options = pa_csv.WriteOptions(include_header=False, quoting_style="all_valid")
        with self.connection.cursor().copy(f"copy {quote_identifier(name)} from stdin with (format csv)") as copy:
            for batch in table.to_batches(max_chunksize=100_000):
                buffer = pa.BufferOutputStream()
                pa_csv.write_csv(pa.Table.from_batches([batch]), buffer, options)
                copy.write(buffer.getvalue().to_pybytes())

    def _run(self, sql: str, params: tuple | None):
        import psycopg

        try:
            return self.connection.execute(sql, params)
        except psycopg.Error as error:
            raise WarehouseError(_first_line(error)) from None

    def close(self) -> None:
        self.connection.close()


# Values psycopg returns that Arrow's type for the column cannot take as they are:
# numeric (avg, sum, round) arrives as Decimal and is carried as a double.
_FROM_POSTGRES = {1700: float}

# PostgreSQL type OIDs -> Arrow types, for the types feature tables use.
def _arrow_schema_of(description) -> "pa.Schema":
    import pyarrow as pa

    by_oid = {
        16: pa.bool_(),
        20: pa.int64(),
        21: pa.int16(),
        23: pa.int32(),
        700: pa.float32(),
        701: pa.float64(),
        1700: pa.float64(),
        25: pa.string(),
        1043: pa.string(),
        1042: pa.string(),
        1082: pa.date32(),
        1114: pa.timestamp("us"),
        1184: pa.timestamp("us", tz="UTC"),
    }
    fields = []
    for column in description:
        if column.type_code not in by_oid:
            raise WarehouseError(
                f"column '{column.name}' has a PostgreSQL type (oid {column.type_code}) "
                "that the feature store cannot carry; cast it to a number, text, boolean or timestamp"
            )
        fields.append(pa.field(column.name, by_oid[column.type_code]))
    return pa.schema(fields)


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


def arrow_column_kind(arrow_type) -> str:
    """Kind of an Arrow type, as `Warehouse.column_kinds` reports it."""
    import pyarrow as pa

    if pa.types.is_timestamp(arrow_type):
        return "timestamptz" if arrow_type.tz else "timestamp"
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "text"
    return str(arrow_type)


def _postgres_type(arrow_type) -> str:
    import pyarrow as pa

    checks = [
        (pa.types.is_boolean, "boolean"),
        (pa.types.is_integer, "bigint"),
        (pa.types.is_floating, "double precision"),
        (pa.types.is_string, "text"),
        (pa.types.is_large_string, "text"),
        (pa.types.is_date, "date"),
    ]
    for check, name in checks:
        if check(arrow_type):
            return name
    if pa.types.is_timestamp(arrow_type):
        return "timestamptz" if arrow_type.tz else "timestamp"
    raise WarehouseError(f"cannot upload a column of Arrow type {arrow_type} to PostgreSQL")


def quote_identifier(name: str) -> str:
    """`name` as a double-quoted SQL identifier (DuckDB and PostgreSQL spell it alike)."""
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(text: str) -> str:
    return text.replace("'", "''")



_ENGINES = {"duckdb": DuckDBWarehouse, "postgres": PostgresWarehouse}


def can_run_queries(target: Target) -> bool:
    """Whether fs can connect to this target's warehouse (it can print SQL for more)."""
    return target.adapter in _ENGINES


def connect(target: Target, read_only: bool = True) -> Warehouse:
    """Open the warehouse of `target`. Read-only unless the caller will create tables."""
    engine = _ENGINES.get(target.adapter)
    if engine is None:
        raise WarehouseError(
            f"running queries on '{target.adapter}' is not supported yet; "
            f"supported: {', '.join(sorted(_ENGINES))} (fs training-set --sql prints the query "
            "for any dialect)"
        )
    return engine(target, read_only=read_only)
