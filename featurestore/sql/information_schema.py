"""Queries of the warehouse's own description of its tables (information_schema), as sqlglot
trees: what `fs new view` reads to write a model's columns and types as the warehouse has them."""

from __future__ import annotations

from sqlglot import exp

from featurestore.catalog.model import Relation


def column_types_query(relation: Relation) -> exp.Select:
    """`(column_name, data_type)` of each column of `relation` (named as the warehouse stores
    it), in the table's order; no rows when there is no such table.

    >>> column_types_query(Relation("db", "main", "orders")).sql()
    "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'main' AND table_name = 'orders' AND table_catalog = 'db' ORDER BY ordinal_position"
    """
    conditions = [
        exp.column("table_schema").eq(exp.Literal.string(relation.schema)),
        exp.column("table_name").eq(exp.Literal.string(relation.identifier)),
    ]
    if relation.database:
        conditions.append(exp.column("table_catalog").eq(exp.Literal.string(relation.database)))
    return (
        exp.select("column_name", "data_type")
        .from_(exp.table_("columns", db="information_schema"))
        .where(exp.and_(*conditions))
        .order_by("ordinal_position")
    )
