"""What an engine is to the feature store: one `Engine` record of facts per warehouse, and a
`Warehouse` connection that runs SQL, streams Arrow and translates the driver's errors.

Everything engine-specific lives in the engine's own module beside this one (duckdb.py,
postgres.py, ...), which fills in an `Engine` and, for engines fs runs queries on, subclasses
`Warehouse`. The registry (registry.py) maps dbt adapter types and sqlglot dialects to them.
Nothing above this package tests an engine's name: it asks the record.
"""

from __future__ import annotations

import re
import sys
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from featurestore.catalog.model import Relation
from featurestore.engines.local_files import scratch_connection
from featurestore.errors import ColumnNotFound, ProjectError, RelationNotBuilt, UsageError, ViewNotBuilt, WarehouseError, first_line, install_extra

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlglot import exp

    from featurestore.catalog import FeatureView
    from featurestore.project.profiles import Target

BATCH_ROWS = 256_000


class AsOfJoin(Enum):
    """How an engine spells the point-in-time join (featurestore.sql.pit_joins builds each)."""

    NATIVE = "ASOF LEFT JOIN ... ON keys AND spine.t >= view.t"  # DuckDB
    MATCH_CONDITION = "ASOF JOIN ... MATCH_CONDITION (spine.t >= view.t) ON keys"  # Snowflake
    PORTABLE = "window functions over the union of spine and feature rows"  # the rest


class RelationIndex(Enum):
    """What a relation offers a top-one lateral join (Engine.top_one_lateral)."""

    INDEXED = "a table with a btree index on (join keys..., timestamp)"
    MISSING = "a table without such an index"
    NOT_A_TABLE = "a view or another relation that holds no index"
    NOT_FOUND = "no relation of that name (not built)"


class IdentifierCase(Enum):
    """How a warehouse reads a name written without quotes (a quoted one keeps its case)."""

    LOWER = "folded to lower case"  # PostgreSQL
    UPPER = "folded to upper case"  # Snowflake
    INSENSITIVE = "compared without regard to case, quoted or not"  # DuckDB, Spark, Trino, BigQuery columns


PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
"""A name SQL can spell without quotes (if it is no reserved word)."""


LocalFileSource = Callable[[Path, str], "tuple[exp.Expression, exp.Expression | None]"]
"""(path, format) -> the FROM item that reads a local file in place, and the column giving
its exact row order (None when the file has none)."""


def _unchanged(credentials: dict[str, Any], project_root: Path | None) -> dict[str, Any]:
    return credentials


@dataclass(frozen=True)
class Engine:
    """The facts about one warehouse engine that the rest of fs needs, as data.

    Adding an engine is a module that fills in one of these (and a `Warehouse` subclass if fs
    is to run queries on it), plus one row in registry.ENGINES.
    """

    name: str
    """The engine's name, as users say it (`--dialect` takes it)."""
    adapters: tuple[str, ...]
    """The dbt adapter types (profiles.yml `type:`) that build models on this engine."""
    dialect: str
    """The sqlglot dialect that renders SQL for it."""
    as_of_join: AsOfJoin
    numeric_interval: bool = False
    """Interval literals take a bare number (`INTERVAL 3600 SECOND`); else a quoted one,
    which sqlglot adapts per dialect (`INTERVAL '3600 SECOND'` in PostgreSQL)."""
    scan_order: str | None = None
    """An expression that orders rows as they are scanned, for engines that refuse
    `ROW_NUMBER() OVER ()` (Snowflake); None where a window may have no ORDER BY."""
    scan_row_id: str | None = None
    """An expression unique per row and increasing in scan order (not consecutive), which
    serves as the row order itself: numbering rows with a window over it would move every
    row into one partition on engines that spread rows over many (Spark)."""
    local_file_source: LocalFileSource | None = None
    """How the engine reads the user's parquet/CSV files in place; None: they are uploaded
    as a temporary table."""
    warehouse: "type[Warehouse] | None" = None
    """The connection class; None for engines whose SQL fs prints but does not run."""
    resolve_credentials: Callable[[dict[str, Any], "Path | None"], dict[str, Any]] = field(
        default=_unchanged, repr=False
    )
    """The profile's credentials as fs must use them (a DuckDB path relative to the project)."""
    extra: str | None = None
    """The package extra that installs the engine's Python driver (`pip install
    'featurestore[<extra>]'`), for engines fs runs queries on."""
    tested: str = "printed only"
    """How far the test suite proves this engine: executed, emulated or printed only."""
    unquoted_case: IdentifierCase = IdentifierCase.INSENSITIVE
    """How the warehouse reads a name written without quotes: folded to one case, or
    compared without regard to case (then quoting changes nothing)."""
    dbt_quotes_relations: bool = True
    """Whether the engine's dbt adapter quotes the database, schema and table names it creates
    (its default quote policy): unquoted ones are stored folded."""
    last_value_ignores_nulls: bool = False
    """The engine has LAST_VALUE(...) IGNORE NULLS over structs: its portable as-of join
    takes each spine row's match in one window (sql/pit_joins.py), one sort fewer."""
    casts_times: bool = False
    """Both sides of the as-of join are cast to one naive timestamp type (the spine's time,
    and the views' timestamp and created_at as they are read): the warehouse has several
    timestamp types that do not mix (BigQuery's TIMESTAMP and DATETIME fail a UNION or a
    comparison) or mixes them through the session's time zone (Trino)."""
    reserved_words: frozenset[str] = frozenset()
    """Words (lower case) that can be a name only when quoted, where it matters: on an engine
    that folds to upper case, a model's column `order` must have been created as "order"."""
    materialized_cte: bool = False
    """`WITH x AS MATERIALIZED (...)` makes the engine compute x once for all the query's
    references to it. A spine numbered by its scan (a table or query: ROW_NUMBER over it)
    that several joins read must be numbered once, or a view's values could land on another
    spine row: fs marks it so where the engine allows, and elsewhere joins the as-of views in
    a chain that reads it once (sql/pit.py)."""
    top_one_lateral: bool = False
    """The engine answers `LEFT JOIN LATERAL (... WHERE keys = spine's AND ts <= spine's time
    ORDER BY ts DESC LIMIT 1)` with one index probe per spine row when the view's table has
    a btree index on (join keys..., timestamp): the training set joins such a view that way
    (sql/pit_joins.py), and fs hints at the index where it is missing (offline/indexes.py). Its
    `Warehouse` says whether a relation has the index (`latest_row_index`)."""
    row_hash: str | None = None
    """A SQL expression that hashes a whole row to an integer, `{row}` standing for the row's
    table alias: summed, it is an order-independent content hash of a training set's table
    or spine (offline/record.py); None where fs knows no cheap one (no hash is recorded)."""
    driver: str | None = None
    """The Python package fs speaks to the warehouse through, whose version a training set's
    record keeps (the engine's own, for an embedded one)."""
    lineage_namespace: Callable[[dict[str, Any]], str | None] = field(default=lambda profile: None, repr=False)
    """The OpenLineage dataset namespace of the target's relations, from its rendered
    profiles.yml output, as openlineage-dbt (dbt-ol) spells it so both graphs join; None
    where dbt-ol names none."""

    epoch_micros_sql: str | None = None
    """How the engine turns a naive UTC timestamp `__value` into integer microseconds since
    1970 (the order of an aggregation view's RANGE frames, sql/windows.py), in its dialect;
    None where sqlglot's UNIX_MICROS renders one (DuckDB's EPOCH_US, Spark's UNIX_MICROS)."""
    approx_distinct: bool = False
    """The engine has an approximate distinct count (an aggregation view may declare
    approx_count_distinct; fs computes it exactly, which any approximation allows)."""

    def epoch_micros(self, value: "exp.Expression") -> "exp.Expression":
        """`value` (a naive UTC timestamp) in integer microseconds since 1970."""
        from sqlglot import exp

        if self.epoch_micros_sql is None:
            return exp.UnixMicros(this=value)
        template = exp.maybe_parse(self.epoch_micros_sql, dialect=self.dialect)
        return template.transform(lambda node: value.copy() if isinstance(node, exp.Column) and node.name == "__value" else node)

    @property
    def runs_queries(self) -> bool:
        return self.warehouse is not None

    def stored_name(self, name: str, quoted: bool) -> str:
        """The name the warehouse stores for an object created under `name`: as written when
        it was created quoted (`quoted`, or a name that cannot be written unquoted: spaces,
        quote marks, a reserved word), else folded as the warehouse folds unquoted names.

        >>> from featurestore.engines.registry import engine_for_dialect
        >>> engine_for_dialect("postgres").stored_name("Airport__AvgDelay__1d", quoted=False)
        'airport__avgdelay__1d'
        >>> engine_for_dialect("snowflake").stored_name("customer_id", quoted=False)
        'CUSTOMER_ID'
        >>> engine_for_dialect("snowflake").stored_name("avg delay", quoted=False)
        'avg delay'
        """
        if quoted or self.unquoted_case is IdentifierCase.INSENSITIVE:
            return name
        if not PLAIN_NAME.match(name) or name.lower() in self.reserved_words:
            return name
        return name.upper() if self.unquoted_case is IdentifierCase.UPPER else name.lower()

    def stored_relation(self, relation: Relation) -> Relation:
        """A relation dbt built, named as the warehouse stores it (dbt's adapter quotes the
        parts or not: `dbt_quotes_relations`)."""

        def part(name: str | None) -> str | None:
            return None if name is None else self.stored_name(name, quoted=self.dbt_quotes_relations)

        return Relation(part(relation.database), part(relation.schema), part(relation.identifier))

    def interval_seconds(self, seconds: int) -> "exp.Interval":
        from sqlglot import exp

        if self.numeric_interval:
            literal = exp.Literal.number(seconds)
        else:
            literal = exp.Literal.string(str(seconds))
        return exp.Interval(this=literal, unit=exp.var("SECOND"))

    def scan_row_order(self) -> "exp.Expression":
        """A row order that follows the scan (for a spine with no order column of its own: a
        table or a query has no defined order beyond that): the engine's row id, or
        ROW_NUMBER() over the scan."""
        from sqlglot import exp

        if self.scan_row_id is not None:
            return exp.maybe_parse(self.scan_row_id, dialect=self.dialect)
        if self.scan_order is None:
            return exp.Window(this=exp.RowNumber())
        ordering = exp.Ordered(this=exp.maybe_parse(self.scan_order, dialect=self.dialect))
        return exp.Window(this=exp.RowNumber(), order=exp.Order(expressions=[ordering]))

    def connect(self, target: "Target", read_only: bool = True) -> "Warehouse":
        """Open the warehouse of `target`. Read-only unless the caller will create tables."""
        if self.warehouse is None:
            # The user asked for something this engine cannot do here: a usage error.
            raise UsageError(
                f"running queries on {self.name} is not supported yet (fs training-set --sql "
                "prints the query for it)"
            )
        try:
            return self.warehouse(self, target, read_only=read_only)
        except ImportError as error:
            # Only the driver is imported lazily; anything else missing is a broken install.
            if self.extra is None:
                raise
            raise ProjectError(
                f"target '{target.name}' runs on {self.name}, whose Python driver is not installed "
                f"(no module {error.name}): {install_extra(self.extra)}"
            ) from error


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
