"""What an engine is to the feature store, as data: one `Engine` record of facts per warehouse
(how it spells the as-of join, folds names, hashes rows, names lineage datasets).

Everything engine-specific lives in the engine's own module beside this one (duckdb.py,
postgres.py, ...), which fills in an `Engine` and, for engines fs runs queries on, subclasses
`Warehouse` (base.py). The registry (registry.py) maps dbt adapter types and sqlglot dialects to
them. Nothing above this package tests an engine's name: it asks the record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from featurestore.catalog.model import Relation
from featurestore.errors import ProjectError, UsageError, install_extra

if TYPE_CHECKING:
    from sqlglot import exp

    from featurestore.project.profiles import Target


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


LocalFileSource = Callable[[Path, str, Sequence[str]], "tuple[exp.Expression, exp.Expression | None]"]
"""(path, format, the file's columns) -> the FROM item that reads a local file in place, and
the column giving its exact row order (None: the order the file is scanned in)."""


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
    # Typed loosely: the Warehouse base class (base.py) imports this record.
    warehouse: "type | None" = None
    """The connection class, a base.Warehouse subclass; None for engines whose SQL fs prints but does not run."""
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
    null_safe_hash_join: bool = False
    """The engine hashes a join on `IS NOT DISTINCT FROM` as it does one on `=`: the latest
    row of a view without a uniqueness test is then ranked among each entity's newest rows
    only (sql/semantics.py `latest_values_expression(newest_first=True)`), not all of them."""
    top_one_lateral: bool = False
    """The engine answers `LEFT JOIN LATERAL (... WHERE keys = spine's AND ts <= spine's time
    ORDER BY ts DESC LIMIT 1)` with one index probe per spine row when the view's table has
    a btree index on (join keys..., timestamp): the training set joins such a view that way
    (sql/pit_joins.py), and fs hints at the index where it is missing (offline/indexes.py). Its
    `Warehouse` says whether a relation has the index (`latest_row_index`)."""
    ttl_window_join: bool = False
    """The engine hashes a join on keys with a range condition on the time (the spine row's
    ttl window) and ranks its few rows per spine row faster than its as-of form sorts every
    row the scan keeps: a view with a ttl whose windows hold few rows (offline/scans.py
    decides) is joined that way (sql/ttl_window.py)."""
    window_hops: bool = False
    """The engine computes an aggregation view's dense windows faster from per-hop partial
    aggregates and the raw events of each window's two edge hops (sql/window_hops.py) than by
    RANGE frames over every event: a view whose windows hold many events per entity
    (offline/scans.py `window_hops_pay` decides) is joined that way. Measured on DuckDB
    (docs/benchmarks.md); other engines keep frames until measured."""
    window_pairs: bool = False
    """The engine hash-joins the spine rows to their entities' events (time bounds filtering
    the matches) and groups the pairs per spine row faster than it sorts the events and spine
    rows for RANGE frames where an entity has few events (sql/window_pairs.py): a view with few
    events per entity (offline/scans.py `window_pairs_pay` decides) is joined that way.
    Measured on DuckDB (docs/benchmarks.md); other engines keep frames until measured."""
    row_hash: str | None = None
    """A SQL expression that hashes a whole row to an integer, `{row}` standing for the row's
    table alias: summed, it is an order-independent content hash of a training set's table
    or spine (offline/record.py); None where the engine has none (then `values_hash`)."""
    values_hash: str | None = None
    """A function that hashes any number of values of any type to a 64-bit integer and
    skips nulls (Spark's `xxhash64`), for an engine without a whole-row hash: a row is then
    hashed as its columns in order, each beside whether it is null (sql/fingerprint.py), so a
    null moved to another column changes the hash. Neither this nor `row_hash`: no content
    hash is recorded."""
    transactions: bool = True
    """DDL and DML in one transaction, and DELETE on the tables fs creates: a push's append
    to its landing table is one transaction (online/landing.py). False for Spark's tables
    (no Delta): a push appends with one INSERT, and one that replaces tied rows builds the
    landing table anew under another name and swaps it in."""
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
        # transform copies the template (parsed once per text and dialect) before changing it.
        template = _parsed_template(self.epoch_micros_sql, self.dialect)
        return template.transform(lambda node: value.copy() if isinstance(node, exp.Column) and node.name == "__value" else node)

    @property
    def hashes_rows(self) -> bool:
        """The engine computes a content hash of a table or query (`row_hash` or `values_hash`)."""
        return self.row_hash is not None or self.values_hash is not None

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

    def connect(self, target: "Target", read_only: bool = True) -> Any:
        """Open the warehouse of `target` (a base.Warehouse). Read-only unless the caller will create tables."""
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


@lru_cache(maxsize=None)
def _parsed_template(sql: str, dialect: str) -> "exp.Expression":
    """An engine's fixed SQL text (`Engine.epoch_micros_sql`), parsed once: callers copy it
    before they change it."""
    from sqlglot import exp

    return exp.maybe_parse(sql, dialect=dialect)
