"""The tree that fingerprints a table or query by its content: its row count and the sum of
a hash of every row, in the warehouse, whatever the rows' order (a training set's output, a
spine given as a relation or query). The hash is the engine's (`Engine.row_hash`): two
fingerprints compare only on one engine and version, which the record keeps beside them."""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from featurestore.engines.engine import Engine
from featurestore.sql.expressions import INTERNAL

ROW = f"{INTERNAL}hashed"


def content_hash_expression(source: exp.Expression, engine: Engine) -> exp.Select:
    """`SELECT COUNT(*), SUM(<row hash>) FROM source AS <row>`; `source` is a table or a
    query. Only for an engine with a `row_hash` spelling.

    >>> from featurestore.engines.registry import engine_for_dialect
    >>> content_hash_expression(exp.to_table("t"), engine_for_dialect("duckdb")).sql("duckdb")
    'SELECT COUNT(*), SUM(CAST(HASH(__fs_hashed) AS DECIMAL(38, 0))) FROM t AS __fs_hashed'
    """
    if engine.row_hash is None:
        raise ValueError(f"engine {engine.name} has no row hash")
    row_hash = sqlglot.parse_one(engine.row_hash.format(row=ROW), read=engine.dialect)
    # Summed as an exact decimal: a sum of 64-bit hashes overflows a BIGINT.
    total = exp.Sum(this=exp.cast(row_hash, exp.DataType.build("DECIMAL(38, 0)")))
    if isinstance(source, exp.Table):
        item = source.copy()
        item.set("alias", exp.TableAlias(this=exp.to_identifier(ROW)))
    else:
        item = exp.Subquery(this=source.copy(), alias=exp.TableAlias(this=exp.to_identifier(ROW)))
    return exp.select(exp.Count(this=exp.Star()), total).from_(item)


def row_count_expression(source: exp.Expression) -> exp.Select:
    """`SELECT COUNT(*) FROM source`, for an engine without a row hash."""
    item = source.copy() if isinstance(source, exp.Table) else exp.Subquery(this=source.copy(), alias=exp.TableAlias(this=exp.to_identifier(ROW)))
    return exp.select(exp.Count(this=exp.Star())).from_(item)


def rows_of_expression(source: exp.Expression) -> exp.Select:
    """`SELECT * FROM source`: a spine's FROM item (a table, a subquery) as a query."""
    return exp.select(exp.Star()).from_(source.copy())


def drop_table_expression(table: exp.Table) -> exp.Drop:
    """`DROP TABLE IF EXISTS table` (a reproduction's scratch table, once hashed)."""
    return exp.Drop(tables=[table.copy()], kind="TABLE", exists=True)
