"""The record table's trees (sql/record_table.py): any record text survives each engine's
string literal (Spark escapes backslashes, DuckDB and PostgreSQL double quotes), and the
table sits beside the output, quoted as the output is."""

from __future__ import annotations

import duckdb
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from featurestore.sql.expressions import render
from featurestore.sql.output import output_table_expression
from featurestore.sql.record_table import RECORD_COLUMNS, record_row_expression, record_table

RECORD = {
    "id": "ab12", "created_at": "2026-12-07T07:50:00", "versions": {"fs": "0.9.0"},
    "manifest": {"sha256": "f00d"}, "output": {"content_hash": None}, "rows": 2000,
}


CONNECTION = duckdb.connect()


@settings(max_examples=30, deadline=None)
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40))
def test_any_record_text_is_stored_as_it_is_on_every_engine(text):
    query = record_row_expression(RECORD, text)
    row = CONNECTION.execute(render(query, "duckdb")).fetchone()
    assert row[-1] == text and row[:-1][-1] == 2000 and row[4] is None
    for dialect in ("postgres", "spark"):
        parsed = sqlglot.parse_one(render(query, dialect), read=dialect)
        literal = parsed.expressions[-1].this.this
        assert isinstance(literal, exp.Literal) and literal.this == text, dialect


def test_the_columns_and_their_types_are_one_schema_on_every_engine():
    sql = {d: render(record_row_expression(RECORD, "{}"), d) for d in ("duckdb", "postgres", "spark")}
    assert [name for name, _ in RECORD_COLUMNS] == [
        "record_id", "created_at", "fs_version", "manifest_sha256", "output_content_hash", "row_count", "record",
    ]
    assert sql["spark"] == (
        "SELECT CAST('ab12' AS STRING) AS `record_id`, CAST('2026-12-07T07:50:00' AS TIMESTAMP) AS `created_at`, "
        "CAST('0.9.0' AS STRING) AS `fs_version`, CAST('f00d' AS STRING) AS `manifest_sha256`, "
        "CAST(NULL AS STRING) AS `output_content_hash`, CAST(2000 AS BIGINT) AS `row_count`, CAST('{}' AS STRING) AS `record`"
    )
    assert sql["postgres"] == sql["duckdb"]


def test_the_record_table_is_beside_the_output_quoted_as_it_is():
    for given, dialect, expected in [
        ("train", "duckdb", '"main".train__fs_record'),
        ("analytics.train", "postgres", "analytics.train__fs_record"),
        ('"My Train"', "postgres", '"main"."My Train__fs_record"'),
        ("db.sch.`t`", "spark", "db.sch.`t__fs_record`"),
    ]:
        assert record_table(output_table_expression(given, "main", dialect)).sql(dialect=dialect) == expected
