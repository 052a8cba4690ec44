"""The tree that fingerprints a table or query by its content: its row count and the sum of
a hash of every row, in the warehouse, whatever the rows' order (a training set's output, a
spine given as a relation or query). The hash is the engine's (`Engine.row_hash`, `Engine.values_hash`): two
fingerprints compare only on one engine and version, which the record keeps beside them."""

from __future__ import annotations

from typing import Mapping

import sqlglot
from sqlglot import exp

from featurestore.engines.engine import Engine
from featurestore.sql.expressions import INTERNAL

ROW = f"{INTERNAL}hashed"


def content_hash_expression(source: exp.Expression, engine: Engine, columns: Mapping[str, str] | None = None) -> exp.Select:
    """`SELECT COUNT(*), SUM(<row hash>) FROM source AS <row>`; `source` is a table or a
    query. The row hash is the engine's `row_hash` of the whole row, or its `values_hash` of
    `columns` (the source's, name -> kind as `Warehouse.column_kinds` gives them) each beside
    whether it is null.

    >>> from featurestore.engines.registry import engine_for_dialect
    >>> content_hash_expression(exp.to_table("t"), engine_for_dialect("duckdb")).sql("duckdb")
    'SELECT COUNT(*), SUM(CAST(HASH(__fs_hashed) AS DECIMAL(38, 0))) FROM t AS __fs_hashed'
    >>> content_hash_expression(exp.to_table("t"), engine_for_dialect("spark"), {"k": "text", "m": "map<string, int64>"}).sql("spark")
    'SELECT COUNT(*), SUM(CAST(XXHASH64(__fs_hashed.`k`, __fs_hashed.`k` IS NULL, ARRAY_SORT(MAP_ENTRIES(__fs_hashed.`m`)), \
__fs_hashed.`m` IS NULL) AS DECIMAL(38, 0))) FROM t AS __fs_hashed'
    """
    # Summed as an exact decimal: a sum of 64-bit hashes overflows a BIGINT.
    total = exp.Sum(this=exp.cast(_row_hash(engine, columns), exp.DataType.build("DECIMAL(38, 0)")))
    if isinstance(source, exp.Table):
        item = source.copy()
        item.set("alias", exp.TableAlias(this=exp.to_identifier(ROW)))
    else:
        item = exp.Subquery(this=source.copy(), alias=exp.TableAlias(this=exp.to_identifier(ROW)))
    return exp.select(exp.Count(this=exp.Star()), total).from_(item)


def _row_hash(engine: Engine, columns: Mapping[str, str] | None) -> exp.Expression:
    if engine.row_hash is not None:
        return sqlglot.parse_one(engine.row_hash.format(row=ROW), read=engine.dialect)
    if engine.values_hash is None or columns is None:
        raise ValueError(f"engine {engine.name} has no row hash, or the columns to hash were not given")
    values: list[exp.Expression] = []
    for name, kind in columns.items():
        value = exp.column(exp.to_identifier(name, quoted=True), table=exp.to_identifier(ROW))
        is_null = exp.Is(this=value.copy(), expression=exp.Null())
        if kind.startswith("map<"):
            # A map's entries keep their order of insertion, and Spark refuses to hash a map:
            # its entries, sorted, hash the same for the same map.
            value = exp.ArraySort(this=exp.Anonymous(this="map_entries", expressions=[value]))
        values += [value, is_null]
    return exp.Anonymous(this=engine.values_hash, expressions=values)


def row_count_expression(source: exp.Expression) -> exp.Select:
    """`SELECT COUNT(*) FROM source`, for an engine without a row hash."""
    item = source.copy() if isinstance(source, exp.Table) else exp.Subquery(this=source.copy(), alias=exp.TableAlias(this=exp.to_identifier(ROW)))
    return exp.select(exp.Count(this=exp.Star())).from_(item)


def rows_of_expression(source: exp.Expression) -> exp.Select:
    """`SELECT * FROM source`: a spine's FROM item (a table, a subquery) as a query."""
    return exp.select(exp.Star()).from_(source.copy())


def as_query(source: exp.Expression) -> exp.Expression:
    """A table as `SELECT * FROM table`; a query as it is."""
    return rows_of_expression(source) if isinstance(source, exp.Table) else source


def drop_table_expression(table: exp.Table) -> exp.Drop:
    """`DROP TABLE IF EXISTS table` (a reproduction's scratch table, once hashed)."""
    return exp.Drop(tables=[table.copy()], kind="TABLE", exists=True)
