"""The trees of a table output's record in the warehouse: the table `<output>__fs_record`
beside the output (same database and schema), one row holding the record's JSON text and its
key facts as columns, so that whoever reads the output table in the warehouse finds what made
it (docs/reproducibility.md). Built as a query of literals, for the engine's `replace_table`:
the record is replaced with the output, on every engine."""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from featurestore.sql.expressions import identifier

RECORD_TABLE_SUFFIX = "__fs_record"
RECORD_COLUMN = "record"

# (column, type): the facts a reader filters or joins on, and the record itself.
RECORD_COLUMNS = (
    ("record_id", "text"),
    ("created_at", "timestamp"),
    ("fs_version", "text"),
    ("manifest_sha256", "text"),
    ("output_content_hash", "text"),
    ("row_count", "bigint"),
    (RECORD_COLUMN, "text"),
)


def record_table(output: exp.Table) -> exp.Table:
    """`<output>__fs_record`, in the output table's database and schema, quoted as it is."""
    table = output.copy()
    name = table.this
    table.set("this", exp.to_identifier(f"{name.name}{RECORD_TABLE_SUFFIX}", quoted=name.args.get("quoted")))
    return table


def record_row_expression(record: dict[str, Any], text: str) -> exp.Select:
    """One row: the record's facts and `text` (its JSON, as written to .fs/records/), each
    cast to its column's type so the table has one schema whatever the values (a null hash on
    Spark included).

    >>> record_row_expression({"id": "a", "created_at": "2026-01-02T03:04:05", "versions": {"fs": "0.1"},
    ...     "manifest": {"sha256": None}, "output": {"content_hash": "12"}, "rows": 3}, "{}").sql("duckdb")
    'SELECT CAST(\\'a\\' AS TEXT) AS "record_id", CAST(\\'2026-01-02T03:04:05\\' AS TIMESTAMP) AS "created_at", \
CAST(\\'0.1\\' AS TEXT) AS "fs_version", CAST(NULL AS TEXT) AS "manifest_sha256", \
CAST(\\'12\\' AS TEXT) AS "output_content_hash", CAST(3 AS BIGINT) AS "row_count", CAST(\\'{}\\' AS TEXT) AS "record"'
    """
    values = {
        "record_id": record["id"],
        "created_at": record["created_at"],
        "fs_version": record["versions"]["fs"],
        "manifest_sha256": record["manifest"]["sha256"],
        "output_content_hash": record["output"]["content_hash"],
        "row_count": record["rows"],
        RECORD_COLUMN: text,
    }
    return exp.select(*(
        exp.alias_(exp.cast(_literal(values[name]), exp.DataType.build(kind)), identifier(name))
        for name, kind in RECORD_COLUMNS
    ))


def record_query_expression(table: exp.Table) -> exp.Select:
    """`SELECT record FROM <output>__fs_record`."""
    return exp.select(exp.column(identifier(RECORD_COLUMN))).from_(table.copy())


def _literal(value: Any) -> exp.Expression:
    if value is None:
        return exp.null()
    if isinstance(value, int):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))
