"""Spark (dbt-spark, `method: session`): no as-of join, so the portable form. fs runs its
queries in a Spark session of its own process, built from the same `server_side_parameters`
as dbt-spark's, so both see the same metastore and warehouse folder: locally (the demo's
`spark` target: an embedded Derby metastore in `.spark/`) or on a cluster (`spark.master`,
a shared metastore).

Embedded Derby lets one JVM at a time open its metastore, so a closed warehouse stops its
session and shuts its Derby database down: a dbt child process can open it afterwards.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from featurestore.engines.base import Warehouse, arrow_column_kind, generic_error

from featurestore.engines.engine import AsOfJoin, Engine
from featurestore.errors import ColumnNotFound, RelationNotBuilt, WarehouseError, first_line

if TYPE_CHECKING:
    import pyarrow as pa

    from featurestore.project.profiles import Target

WAREHOUSE_DIR = "spark.sql.warehouse.dir"
METASTORE_URL = "spark.hadoop.javax.jdo.option.ConnectionURL"
JAVA_OPTIONS = "spark.driver.extraJavaOptions"
LOG_CONFIG = Path(__file__).with_name("spark_log4j2.properties")

# What fs's queries rely on, whatever the profile says: naive timestamps read as UTC, and
# dbt-spark's own choice of non-ANSI semantics (it forces this on its session too, so the
# models and fs's queries behave alike).
REQUIRED_SETTINGS = {"spark.sql.session.timeZone": "UTC", "spark.sql.ansi.enabled": "false"}
# A command-line tool's defaults, which a profile may override: no console progress bars
# (fs draws its own) and no log lines for errors fs reports itself in one line.
QUIET_SETTINGS = {"spark.ui.showConsoleProgress": "false", "spark.log.level": "ERROR", "spark.ui.enabled": "false"}


class SparkWarehouse(Warehouse):
    def __init__(self, engine: Engine, target: "Target", read_only: bool):
        super().__init__(engine, target)
        method = target.credentials.get("method")
        if method != "session":
            raise WarehouseError(
                f"{target.described()} has method '{method}'; fs runs queries on Spark through "
                "`method: session` (a Spark session in the fs process, local or on a cluster via spark.master)"
            )
        self.settings = session_settings(target.credentials)
        self.session = _start_session(self.settings)

    def driver_errors(self) -> tuple[type[BaseException], ...]:
        from py4j.protocol import Py4JError
        from pyspark.errors import PySparkException

        return (PySparkException, Py4JError)

    def translate(self, error: BaseException) -> WarehouseError:
        from pyspark.errors import AnalysisException

        if isinstance(error, AnalysisException):
            condition = error.getCondition() or ""
            parameters = error.getMessageParameters() or {}
            if condition in {"TABLE_OR_VIEW_NOT_FOUND", "SCHEMA_NOT_FOUND"}:
                name = parameters.get("relationName") or parameters.get("schemaName") or ""
                return RelationNotBuilt(name.replace("`", ""), first_line(error))
            if condition.startswith("UNRESOLVED_COLUMN"):
                name = (parameters.get("objectName") or "").split("`.`")[-1].strip("`")
                return ColumnNotFound(name, first_line(error))
        java = getattr(error, "java_exception", None)
        if java is not None:
            # A Py4JJavaError's own text is "An error occurred while calling o42.sql".
            return WarehouseError(first_line(Exception(java.getMessage() or java.toString())))
        return generic_error(error)

    def _execute(self, sql: str, params: tuple | None) -> Any:
        return self.session.sql(sql, args=list(params) if params else None)

    def _fetch_all(self, sql: str, params: tuple | None) -> list[tuple]:
        return [tuple(row) for row in self._execute(sql, params).collect()]

    def _open_arrow(self, sql: str, batch_rows: int) -> "pa.RecordBatchReader":
        import pyarrow as pa

        frame = self.session.sql(sql)
        schema = self._arrow_schema(frame)
        return pa.RecordBatchReader.from_batches(schema, _streamed_batches(frame, schema, batch_rows))

    def read_arrow(self, sql: str) -> "pa.Table":
        # The caller wants every row in memory anyway: Spark's own collection is the fastest.
        with self.translated():
            frame = self.session.sql(sql)
            return frame.toArrow().cast(self._arrow_schema(frame))

    def column_kinds(self, sql: str) -> dict[str, str]:
        # Spark knows a query's schema from its plan: no job runs.
        with self.translated():
            schema = self._arrow_schema(self.session.sql(f"select * from ({sql}) as q limit 0"))
        return {field.name: arrow_column_kind(field.type) for field in schema}

    def _arrow_schema(self, frame) -> "pa.Schema":
        from pyspark.sql.pandas.types import to_arrow_schema

        return to_arrow_schema(frame.schema, timezone="UTC")

    def export(self, sql: str, path: str, file_format: str) -> None:
        """Spark writes the rows as parquet parts, in parallel and without the driver; the
        parts, in order, then become the one file fs promises."""
        import shutil

        parts = f"{path}.parts"
        try:
            with self.translated():
                frame = self.session.sql(sql)
                # Microsecond timestamps (not Spark's legacy INT96), as every other engine writes.
                self.session.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
                frame.write.mode("overwrite").parquet(parts)
            merge_parts(Path(parts), Path(path), file_format, self._arrow_schema(frame))
        finally:
            shutil.rmtree(parts, ignore_errors=True)

    def replace_table(self, qualified_name: str, sql: str) -> None:
        """Spark's Hive tables have no transactions: the new table is built under a name of
        its own and swapped in, so a failed query leaves the old table as it was; readers may
        find no table for the moment between the drop and the rename."""
        building = f"{qualified_name[:-1]}__fs_new`" if qualified_name.endswith("`") else f"{qualified_name}__fs_new"
        self.execute(f"drop table if exists {building}")
        self.execute(f"create table {building} as {sql}")
        self.execute(f"drop table if exists {qualified_name}")
        self.execute(f"alter table {building} rename to {qualified_name}")

    def upload_temp_table(self, name: str, table: "pa.Table") -> None:
        # Checkpointed: the rows then live in Spark's block store, and the plans that read
        # them refer to those blocks; otherwise every plan (and task) carries the whole
        # table, which exhausts the driver's memory on a spine of a few hundred thousand rows.
        # Coalesced: above `arrow.localRelationThreshold` (48 MB) pyspark makes one partition
        # per Arrow batch (10,000 rows), so a 10M-row spine became 1,058 tiny tasks in every
        # stage that reads it, 64 s of CPU of a 342 s training set at 10x (docs/benchmarks.md,
        # Spark at scale); a few per core suffice.
        with self.translated():
            frame = self.session.createDataFrame(table)
            frame.coalesce(upload_partitions(self.session)).localCheckpoint().createOrReplaceTempView(name)

    def close(self) -> None:
        self.session.stop()
        _shut_down_derby(self.settings.get(METASTORE_URL))


def upload_partitions(session) -> int:
    """How many partitions a table uploaded from Python gets: two per core Spark runs tasks on."""
    return max(1, 2 * session.sparkContext.defaultParallelism)


def _streamed_batches(frame, schema: "pa.Schema", batch_rows: int) -> Iterator["pa.RecordBatch"]:
    """The query's rows as Arrow batches, one partition at a time: each partition's batches
    are serialised where they are made (mapInArrow) and fetched in order by toLocalIterator,
    so the driver never holds more than a partition."""
    import pyarrow as pa

    def serialised(batches):
        # Defined here so that Spark pickles it by value: executors need pyarrow, not fs.
        import pyarrow as pa

        for batch in batches:
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, batch.schema) as writer:
                writer.write_batch(batch)
            yield pa.record_batch([pa.array([sink.getvalue().to_pybytes()], pa.binary())], names=["ipc"])

    frame.sparkSession.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch_rows))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pyspark's pandas version check, as above
        rows = frame.mapInArrow(serialised, "ipc binary").toLocalIterator(prefetchPartitions=True)
    for row in rows:
        for batch in pa.ipc.open_stream(row.ipc):
            yield batch.cast(schema)


def merge_parts(parts: Path, path: Path, file_format: str, schema: "pa.Schema") -> None:
    """Spark's part files, in partition order (their names number them), as one parquet or
    CSV file, a row group at a time."""
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    files = sorted(parts.glob("part-*.parquet"))
    writer_class = pq.ParquetWriter if file_format == "parquet" else pa_csv.CSVWriter
    with writer_class(str(path), schema) as writer:
        for part in files:
            source = pq.ParquetFile(part)
            for group in range(source.num_row_groups):
                table = source.read_row_group(group).cast(schema)
                for batch in table.to_batches():
                    writer.write_batch(batch)


def session_settings(credentials: dict[str, Any]) -> dict[str, str]:
    """The Spark settings of a session like dbt-spark's for this profile target, plus what
    fs needs (REQUIRED_SETTINGS) and a quiet console unless the profile says otherwise."""
    settings = {**QUIET_SETTINGS, **{str(k): str(v) for k, v in (credentials.get("server_side_parameters") or {}).items()}}
    options = settings.get(JAVA_OPTIONS, "")
    if "log4j" not in options:
        # Spark's default logging writes start-up warnings to the terminal before any
        # session setting applies; only a log configuration given to the JVM silences them.
        settings[JAVA_OPTIONS] = f"{options} -Dlog4j2.configurationFile=file:{LOG_CONFIG}".strip()
    return {**settings, **REQUIRED_SETTINGS}


def _start_session(settings: dict[str, str]):
    from pyspark.sql import SparkSession

    if settings.get("spark.master", "local").startswith("local"):
        # Local executors are Python processes started from PYSPARK_PYTHON ("python3" on the
        # PATH otherwise), and the Arrow streaming runs in them: they must have this
        # interpreter's packages.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.enableHiveSupport()
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        with warnings.catch_warnings():
            # pyspark warns about the pandas version on every start; fs does not use pandas with it.
            warnings.simplefilter("ignore", FutureWarning)
            session = builder.getOrCreate()
    except Exception as error:  # py4j and the JVM raise many kinds when a session cannot start
        raise WarehouseError(f"cannot start a Spark session: {first_line(error)}") from error
    for key, value in REQUIRED_SETTINGS.items():
        # A session already running in this process (getOrCreate returns it) gets them too.
        session.conf.set(key, value)
    _silence_query_error_logs()
    return session


def _silence_query_error_logs() -> None:
    """pyspark logs every failed query, stack trace and all, as JSON on stderr before raising
    it; fs reports the error itself, in one line (--debug shows the cause)."""
    from pyspark.logger import PySparkLogger

    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).disabled = True


def _shut_down_derby(url: str | None) -> None:
    """Release an embedded Derby metastore: stopping a session leaves it booted, and a
    booted Derby database refuses every other process (dbt's)."""
    if not url or not url.startswith("jdbc:derby:"):
        return
    from pyspark import SparkContext

    jvm = SparkContext._jvm
    if jvm is None:
        return
    shutdown = re.sub(r";create=true", "", url) + ";shutdown=true"
    try:
        jvm.java.sql.DriverManager.getConnection(shutdown)
    except Exception:  # noqa: BLE001 - Derby reports a completed shutdown as an error, and
        pass  # one for a database this JVM never booted; either way nothing is held.


def _absolute(path: str, root: Path) -> str:
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", path) or Path(path).is_absolute():
        return path  # a URI (hdfs://, s3a://, file:) or already absolute
    return str(root / path)


def _resolve_credentials(credentials: dict[str, Any], project_root: Path | None) -> dict[str, Any]:
    # dbt resolves relative folders from the folder it runs in; fs runs dbt from the project
    # root, so fs resolves them from there too, whatever folder fs itself runs in.
    if project_root is None:
        return credentials
    settings = {str(k): str(v) for k, v in (credentials.get("server_side_parameters") or {}).items()}
    if WAREHOUSE_DIR in settings:
        settings[WAREHOUSE_DIR] = _absolute(settings[WAREHOUSE_DIR], project_root)
    if METASTORE_URL in settings:
        settings[METASTORE_URL] = re.sub(
            r"(databaseName=)([^;]+)", lambda m: m.group(1) + _absolute(m.group(2), project_root), settings[METASTORE_URL]
        )
    if JAVA_OPTIONS in settings:
        settings[JAVA_OPTIONS] = re.sub(
            r"(-Dderby\.system\.home=)(\S+)", lambda m: m.group(1) + _absolute(m.group(2), project_root), settings[JAVA_OPTIONS]
        )
    return {**credentials, "server_side_parameters": settings}


def _lineage_namespace(profile: dict[str, Any]) -> str | None:
    """dbt-ol's namespace: spark://host:port for the thrift, http and odbc methods (its
    default port glued on without a colon, as dbt-ol does); dbt-ol names no relation of the
    session method, so fs names them spark://<host> (host `local` in the demo)."""
    host, method = profile.get("host", "localhost"), profile.get("method")
    if "port" in profile:
        return f"spark://{host}:{profile['port']}"
    default_port = {"http": "443", "odbc": "443", "thrift": "10001"}.get(str(method), "")
    return f"spark://{host}{default_port}"


ENGINE = Engine(
    name="spark",
    extra="spark",
    adapters=("spark",),
    dialect="spark",
    as_of_join=AsOfJoin.PORTABLE,
    numeric_interval=True,
    # Unique and increasing in scan order, so the final ORDER BY sorts on it as it is:
    # ROW_NUMBER() over it would move every spine row into one partition.
    scan_row_id="monotonically_increasing_id()",
    last_value_ignores_nulls=True,
    approx_distinct=True,
    values_hash="xxhash64",
    transactions=False,
    warehouse=SparkWarehouse,
    resolve_credentials=_resolve_credentials,
    tested="executed in tests",
    # Spark resolves names without regard to case (spark.sql.caseSensitive is off, as
    # dbt-spark leaves it), and dbt-spark writes them unquoted.
    dbt_quotes_relations=False,
    driver="pyspark",
    lineage_namespace=_lineage_namespace,
)
