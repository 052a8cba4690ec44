"""PostgreSQL (dbt-postgres, psycopg 3): no as-of join, so the portable form, or a top-one
LEFT JOIN LATERAL for a view whose table has the index on (join keys..., timestamp); results
stream from a server-side cursor, and a file's rows as CSV from COPY; local files and frames
travel as temporary tables."""

from __future__ import annotations

import io
import json
import re
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from featurestore.catalog.model import Relation
from featurestore.engines.base import BATCH_ROWS, Warehouse, arrow_column_kind, generic_error
from featurestore.engines.engine import AsOfJoin, Engine, IdentifierCase, RelationIndex
from featurestore.errors import ColumnNotFound, RelationNotBuilt, WarehouseError, first_line

if TYPE_CHECKING:
    import pyarrow as pa

    from featurestore.project.profiles import Target


LIBPQ_SETTINGS = ("sslmode", "sslcert", "sslkey", "sslrootcert", "connect_timeout", "keepalives_idle", "application_name")
"""The dbt-postgres profile keys that are libpq connection settings of the same name."""


class PostgresWarehouse(Warehouse):
    def __init__(self, engine: Engine, target: "Target", read_only: bool):
        super().__init__(engine, target)
        import psycopg

        c = target.credentials
        # The profile's libpq settings as dbt-postgres passes them: without them fs would
        # connect where dbt refuses to (`sslmode: require` against a server without TLS).
        settings = {key: c[key] for key in LIBPQ_SETTINGS if c.get(key) is not None}
        try:
            self.connection = psycopg.connect(
                host=c.get("host"),
                port=int(c.get("port", 5432)),
                user=c.get("user"),
                password=c.get("password") or None,
                dbname=c.get("dbname") or c.get("database"),
                autocommit=True,
                **settings,
            )
            if c.get("role"):  # dbt-postgres sets the profile's role on each connection
                self.connection.execute(psycopg.sql.SQL("set role {}").format(psycopg.sql.Identifier(c["role"])))
        except psycopg.OperationalError as error:
            raise WarehouseError(
                f"cannot connect to PostgreSQL at {c.get('host')}:{c.get('port')}: {first_line(error)}"
            ) from error
        self._cursors = 0
        # No read-only session even for reads: a file or frame spine travels as a temporary
        # table, which a read-only session refuses. (DuckDB's read_only is about its file
        # lock; PostgreSQL has none to respect.)
        self.connection.execute("set time zone 'UTC'")
        # fs reads every row of a cursor it opens (and WITH HOLD makes PostgreSQL run the query
        # to its end at once): plan for all of them, not for a fast first tenth, PostgreSQL's
        # default for a cursor. A training set of 8,000 spine rows over three views took 10 s
        # with nested loops chosen for the tenth, 1 s with the plan dbt's build of the same
        # query got.
        self.connection.execute("set cursor_tuple_fraction = 1")

    def driver_errors(self) -> tuple[type[BaseException], ...]:
        import psycopg

        return (psycopg.Error,)

    def translate(self, error: BaseException) -> WarehouseError:
        from psycopg import errors

        text = first_line(error)
        if isinstance(error, errors.UndefinedTable):
            missing = re.search(r'relation "(.+?)" does not exist', text)
            return RelationNotBuilt(missing.group(1) if missing else "", text)
        if isinstance(error, errors.UndefinedColumn):
            missing = re.search(r'column (?:\S+\.)?"?(.+?)"? does not exist', text)
            return ColumnNotFound(missing.group(1) if missing else "", text)
        return generic_error(error)

    def _execute(self, sql: str, params: tuple | None) -> Any:
        self.connection.execute(sql, params).close()

    def _fetch_all(self, sql: str, params: tuple | None) -> list[tuple]:
        cursor = self.connection.execute(sql, params)
        try:
            return cursor.fetchall()
        finally:
            cursor.close()

    def _open_arrow(self, sql: str, batch_rows: int) -> "pa.RecordBatchReader":
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
        except BaseException:
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

    def export(self, sql: str, path: str, file_format: str) -> None:
        """The query's rows as CSV from `COPY (...) TO STDOUT`, parsed by Arrow into the types
        the cursor would give (`_arrow_schema_of`) and written batch by batch. The rows never
        become Python objects: for 100,000 rows of a training set, 0.3 CPU s less than
        fetching them, and no pandas import (benchmarks/bench_training_set_postgres.py
        --whole-command)."""
        import pyarrow as pa
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pq

        with self.translated():
            schema = self._result_schema(sql)
            writer_class = pq.ParquetWriter if file_format == "parquet" else pa_csv.CSVWriter
            with self.connection.cursor().copy(f"copy ({sql}) to stdout with (format csv, encoding 'UTF8')") as copy:
                chunks = iter(copy)
                first = next(chunks, None)
                with writer_class(path, schema) as writer:
                    if first is None:  # no rows: Arrow's CSV reader refuses an empty stream
                        writer.write_table(schema.empty_table())
                        return
                    stream = io.BufferedReader(_CopyOut(first, chunks), buffer_size=1 << 20)
                    batches = pa_csv.open_csv(stream, **_csv_options(schema))
                    pending: list = []
                    for batch in batches:
                        pending.append(batch)
                        if sum(b.num_rows for b in pending) >= BATCH_ROWS:
                            writer.write_table(pa.Table.from_batches(pending, schema))
                            pending = []
                    if pending:
                        writer.write_table(pa.Table.from_batches(pending, schema))

    def _result_schema(self, sql: str) -> "pa.Schema":
        """The Arrow types of a query's columns, from a run that returns no rows."""
        cursor = self.connection.execute(f"select * from ({sql}) as q limit 0")
        try:
            return _arrow_schema_of(cursor.description)
        finally:
            cursor.close()

    def column_kinds(self, sql: str) -> dict[str, str]:
        with self.translated():
            schema = self._result_schema(sql)
        return {field.name: arrow_column_kind(field.type) for field in schema}

    def _latest_row_index(self, relation: Relation, keys: Sequence[str], timestamp: str) -> RelationIndex | None:
        # The relation's kind and, per usable btree index (valid, not partial), its key
        # columns in order (null for an expression). The relation's database is the
        # connection's own: PostgreSQL cannot read another's.
        rows = self.fetch_all(_INDEXES_SQL, (relation.schema, relation.identifier))
        if not rows:
            return RelationIndex.NOT_FOUND
        if rows[0][0] not in _HOLDS_INDEXES:
            return RelationIndex.NOT_A_TABLE
        wanted = sorted(keys)
        for _, columns in rows:
            leading = list(columns or [])[: len(keys) + 1]
            if len(leading) == len(keys) + 1 and sorted(leading[:-1], key=str) == wanted and leading[-1] == timestamp:
                return RelationIndex.INDEXED
        return RelationIndex.MISSING

    def estimated_rows(self, sql: str) -> int | None:
        # The planner's row estimate, from the tables' statistics (ANALYZE, autovacuum).
        plan = self.fetch_all(f"explain (format json) {sql}")[0][0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        return int(plan[0]["Plan"]["Plan Rows"])

    def upload_temp_table(self, name: str, table: "pa.Table") -> None:
        import pyarrow as pa
        import pyarrow.csv as pa_csv

        quoted = _quoted(name)
        columns = ", ".join(f"{_quoted(field.name)} {_postgres_type(field.type)}" for field in table.schema)
        self.execute(f"drop table if exists pg_temp.{quoted}")
        self.execute(f"create temporary table {quoted} ({columns})")
        # CSV through COPY: one stream instead of a round trip per row. pyarrow quotes every
        # string, so an empty string stays '' while a missing value (unquoted) becomes NULL.
        options = pa_csv.WriteOptions(include_header=False, quoting_style="all_valid")
        with self.translated(), self.connection.cursor().copy(f"copy {quoted} from stdin with (format csv)") as copy:
            for batch in table.to_batches(max_chunksize=100_000):
                buffer = pa.BufferOutputStream()
                pa_csv.write_csv(pa.Table.from_batches([batch]), buffer, options)
                copy.write(buffer.getvalue().to_pybytes())

    def close(self) -> None:
        self.connection.close()


class _CopyOut(io.RawIOBase):
    """The data of a `COPY ... TO STDOUT` as a readable stream (for Arrow's CSV reader)."""

    def __init__(self, first, chunks):
        self._chunks, self._pending = chunks, memoryview(first)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def _csv_options(schema: "pa.Schema") -> dict:
    """How Arrow reads PostgreSQL's CSV into `schema`: NULL unquoted and empty, an empty text
    quoted (""), booleans t/f, line breaks inside quoted texts; numbers and times in their
    text form, which Arrow reads as psycopg would."""
    import pyarrow.csv as pa_csv

    return {
        "read_options": pa_csv.ReadOptions(column_names=schema.names, block_size=4 << 20),
        # An empty line is a row: a one-column result's null (Arrow skips them by default).
        "parse_options": pa_csv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
        "convert_options": pa_csv.ConvertOptions(
            column_types=schema, true_values=["t"], false_values=["f"], null_values=[""],
            strings_can_be_null=True, quoted_strings_can_be_null=False,
        ),
    }


_HOLDS_INDEXES = {"r", "p", "m"}
"""pg_class.relkind of the relations that have indexes: tables, partitioned tables (theirs
cover every partition) and materialized views."""

_INDEXES_SQL = """
select c.relkind,
       array(select a.attname::text
             from unnest(i.indkey::int2[]) with ordinality as k(attnum, position)
             left join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum
             where k.position <= i.indnkeyatts
             order by k.position)
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
left join (pg_index i join pg_class ic on ic.oid = i.indexrelid join pg_am am on am.oid = ic.relam and am.amname = 'btree')
    on i.indrelid = c.oid and i.indisvalid and i.indpred is null
where n.nspname = %s and c.relname = %s
"""


def _quoted(name: str) -> str:
    from sqlglot import exp

    return exp.to_identifier(name, quoted=True).sql(dialect="postgres")


# Values psycopg returns that Arrow's type for the column cannot take as they are:
# numeric (avg, sum, round) arrives as Decimal and is carried as a double.
_FROM_POSTGRES = {1700: float}


def _arrow_schema_of(description) -> "pa.Schema":
    """PostgreSQL type OIDs -> Arrow types, for the types feature tables use."""
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


ENGINE = Engine(
    name="postgres",
    extra="postgres",
    adapters=("postgres",),
    dialect="postgres",
    as_of_join=AsOfJoin.PORTABLE,
    materialized_cte=True,
    warehouse=PostgresWarehouse,
    tested="executed in tests",
    # A model's `select x as Airport__AvgDelay__1d` makes a column airport__avgdelay__1d;
    # dbt-postgres quotes the database, schema and table names, so they keep their case.
    unquoted_case=IdentifierCase.LOWER,
    # An index scan per spine row: 0.93-1.08x the hand-written lateral join (1.24-1.63x
    # with the tie-break), where the portable form is 2.5-3.6x (benchmarks/bench_training_set_postgres.py).
    top_one_lateral=True,
    # EXTRACT(EPOCH ...) is an exact numeric of seconds with their microseconds.
    epoch_micros_sql="CAST(EXTRACT(EPOCH FROM __value) * 1000000 AS BIGINT)",
    # The row as its text form, hashed to 64 bits (PostgreSQL 11+).
    row_hash="hashtextextended(({row})::text, 0)",
    driver="psycopg",
    lineage_namespace=lambda profile: f"postgres://{profile.get('host')}:{profile.get('port', 5432)}",
)
