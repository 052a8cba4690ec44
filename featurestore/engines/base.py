"""A `Warehouse`: a connection to one dbt target's warehouse that runs SQL, streams Arrow and
translates the driver's errors; and `reading_views`, which names the feature view a missing
relation or column belongs to.

The facts about each engine are its `Engine` record (engine.py); engines fs runs queries on
subclass `Warehouse` in their own module (duckdb.py, postgres.py, ...).
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from featurestore.catalog.model import Relation
from featurestore.engines.engine import Engine, RelationIndex
from featurestore.engines.local_files import scratch_connection
from featurestore.errors import ColumnNotFound, RelationNotBuilt, ViewNotBuilt, WarehouseError, first_line

if TYPE_CHECKING:
    import pyarrow as pa

    from featurestore.catalog import FeatureView
    from featurestore.project.profiles import Target

BATCH_ROWS = 256_000


class Warehouse(ABC):
    """An open connection to the warehouse of one dbt target.

    Every driver error passes through `translated()`, which turns it into a WarehouseError
    (RelationNotBuilt and ColumnNotFound where the engine says so) with the driver's error as
    its cause.
    """

    def __init__(self, engine: Engine, target: "Target"):
        self.engine = engine
        self.target = target
        self._local_files = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect

    # -- what each engine implements --------------------------------------------------------
    @abstractmethod
    def driver_errors(self) -> tuple[type[BaseException], ...]:
        """The driver's exceptions for SQL that failed."""

    @abstractmethod
    def translate(self, error: BaseException) -> WarehouseError:
        """The user's view of a driver error: what failed, in one line."""

    @abstractmethod
    def _execute(self, sql: str, params: tuple | None) -> Any:
        """Run one statement; returns the driver's cursor or result."""

    @abstractmethod
    def _fetch_all(self, sql: str, params: tuple | None) -> list[tuple]: ...

    @abstractmethod
    def _open_arrow(self, sql: str, batch_rows: int) -> "pa.RecordBatchReader": ...

    @abstractmethod
    def upload_temp_table(self, name: str, table: "pa.Table") -> None:
        """Make an Arrow table queryable as a temporary table `name` for this connection."""

    @abstractmethod
    def close(self) -> None: ...

    # -- running SQL, with the driver's errors translated -----------------------------------
    @contextmanager
    def translated(self) -> Iterator[None]:
        """Driver errors raised inside become the engine's WarehouseErrors, cause kept."""
        # Arrow's errors only where pyarrow is loaded (none can be raised otherwise): importing
        # it (with numpy) costs a third of a CPU second, a command that never needs it (DuckDB
        # writing a parquet file itself) would pay.
        arrow = sys.modules.get("pyarrow")
        try:
            yield
        except (*self.driver_errors(), *((arrow.ArrowException,) if arrow is not None else ())) as error:
            raise self.translate(error) from error

    def execute(self, sql: str, params: tuple | None = None) -> None:
        with self.translated():
            self._execute(sql, params)

    def fetch_all(self, sql: str, params: tuple | None = None) -> list[tuple]:
        with self.translated():
            return self._fetch_all(sql, params)

    def stream_arrow(self, sql: str, batch_rows: int = BATCH_ROWS) -> "pa.RecordBatchReader":
        """The query's result as a stream of Arrow record batches; errors met while
        streaming are translated too."""
        import pyarrow as pa

        with self.translated():
            reader = self._open_arrow(sql, batch_rows)

        def batches() -> Iterator["pa.RecordBatch"]:
            with self.translated():
                yield from reader

        return pa.RecordBatchReader.from_batches(reader.schema, batches())

    def read_arrow(self, sql: str) -> "pa.Table":
        """The whole result of a query as one Arrow table."""
        return self.stream_arrow(sql).read_all()

    def column_kinds(self, sql: str) -> dict[str, str]:
        """Column name -> kind (timestamp, timestamptz, date, text, or the type's own name)
        of a query's result, without running it over the data."""
        schema = self.stream_arrow(f"select * from ({sql}) as q limit 0").schema
        return {field.name: arrow_column_kind(field.type) for field in schema}

    def latest_row_index(self, view: "FeatureView") -> RelationIndex | None:
        """Whether the view's relation has a btree index whose leading columns are its join
        keys (in any order) and then its timestamp, asked of the warehouse's catalog with the
        names as the warehouse stores them; None where the warehouse cannot say (engines
        without `Engine.top_one_lateral`). Nothing is cached: an index made between two runs
        counts on the next."""
        engine = self.engine
        if not engine.top_one_lateral:
            return None

        def stored(name: str) -> str:
            return engine.stored_name(name, quoted=name in view.quoted_columns)

        return self._latest_row_index(engine.stored_relation(view.relation), [stored(k) for k in view.join_keys], stored(view.timestamp))

    def _latest_row_index(self, relation: Relation, keys: Sequence[str], timestamp: str) -> RelationIndex | None:
        """`latest_row_index` with stored names: for engines with `Engine.top_one_lateral`."""
        return None

    def estimated_rows(self, sql: str) -> int | None:
        """The planner's estimate of how many rows `sql` returns, from its statistics and file
        metadata (EXPLAIN: no row is read); None where the engine gives none fs reads."""
        return None

    def memory_limit(self) -> int | None:
        """The most memory, in bytes, a query of this connection may hold before it spills to
        disk (or fails); None where the engine says nothing fs reads."""
        return None

    def keep_scan_order(self, keep: bool) -> None:
        """Whether results without ORDER BY must come in scan order (engines that can trade
        it for speed override this)."""

    def local_files_connection(self):
        """A DuckDB connection for reading the user's local files (see local_files)."""
        if self._local_files is None:
            self._local_files = scratch_connection()
        return self._local_files

    def export(self, sql: str, path: str, file_format: str) -> None:
        """Write a query's result to a parquet or CSV file, streaming batch by batch."""
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pq

        reader = self.stream_arrow(sql)
        writer_class = pq.ParquetWriter if file_format == "parquet" else pa_csv.CSVWriter
        with self.translated(), writer_class(path, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)

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


@contextmanager
def reading_views(views: Sequence["FeatureView"], warehouse: "Warehouse | None" = None) -> Iterator[None]:
    """Name the feature view that is not built (or is older than its YAML) when the engine
    reports a missing relation or column while reading `views`, and say to build it. A
    column that several views declare (a join key, a timestamp) is looked for in each of
    them on `warehouse`, so that the view named is the one that lacks it."""
    try:
        yield
    except RelationNotBuilt as error:
        name = error.relation.split(".")[-1].strip('"`').lower()
        missing = next((v for v in views if v.relation.identifier.lower() == name), None)
        if missing is None:
            raise
        raise ViewNotBuilt(missing.name, str(missing.relation)) from error
    except ColumnNotFound as error:
        column = error.column.lower()
        candidates = [v for v in views if column in {c.lower() for c in v.columns}]
        if len(candidates) > 1 and warehouse is not None:
            candidates = [v for v in candidates if not _has_column(warehouse, v, column)] or candidates
        if not candidates:
            raise
        lacking = candidates[0]
        declared = next(c for c in lacking.columns if c.lower() == column)
        # Whether the SQL lacks the column or the relation is older than the SQL is told
        # before reading (sql/declared_columns.py); here, both are said.
        raise ViewNotBuilt(lacking.name, str(lacking.relation), [declared], unsure=True) from error


def _has_column(warehouse: "Warehouse", view: "FeatureView", column: str) -> bool:
    """Whether the view's relation has `column`, asked of the warehouse with a query that
    reads no rows."""
    from sqlglot import exp

    engine = warehouse.engine
    declared = next(c for c in view.columns if c.lower() == column)
    stored = engine.stored_relation(view.relation)
    relation = exp.Table(
        this=exp.to_identifier(stored.identifier, quoted=True),
        db=exp.to_identifier(stored.schema, quoted=True) if stored.schema else None,
        catalog=exp.to_identifier(stored.database, quoted=True) if stored.database else None,
    )
    stored_column = engine.stored_name(declared, quoted=declared in view.quoted_columns)
    probe = exp.select(exp.column(exp.to_identifier(stored_column, quoted=True))).from_(relation).limit(0)
    try:
        warehouse.fetch_all(probe.sql(dialect=warehouse.dialect))
    except WarehouseError:
        return False
    return True


def generic_error(error: BaseException) -> WarehouseError:
    """A driver error the engine does not classify: its first line."""
    return WarehouseError(first_line(error))


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
