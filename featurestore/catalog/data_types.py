"""Families of SQL and Arrow type names: what a YAML data_type or a warehouse type is, so that
one can be compared with the other (sql/declared_columns.py) and a timestamp that is clearly
no time refused (catalog/meta.py)."""

from __future__ import annotations

import re

# Families of SQL and Arrow type names, by the first word of the name (parameters and
# array brackets dropped). Integers and other numbers are one family: dbt users declare
# `integer` on a column PostgreSQL sums into numeric, and both serve as numbers.
_FAMILIES = {
    "number": (
        "int tinyint smallint integer bigint hugeint int2 int4 int8 int16 int32 int64 int128 uint8 uint16 "
        "uint32 uint64 utinyint usmallint uinteger ubigint long short byte serial bigserial float float4 "
        "float8 float16 float32 float64 double real decimal numeric number decimal128 decimal256 halffloat"
    ),
    "text": "text varchar char character string nvarchar nchar bpchar large_string utf8 large_utf8 citext",
    "boolean": "bool boolean",
    "timestamp": "timestamp timestamptz timestamp_ns timestamp_ms timestamp_s timestamp_ntz timestamp_ltz timestamp_tz datetime",
    "date": "date date32 date64",
}
_FAMILY_OF = {word: family for family, words in _FAMILIES.items() for word in words.split()}


def type_family(type_name: str) -> str | None:
    """number, text, boolean, timestamp or date for a SQL or Arrow type name (`varchar(10)`,
    `character varying`, `bigint`, `int64`, `timestamp with time zone`); None for any other
    type (intervals, structs, ...), which is not compared."""
    name = type_name.strip().lower()
    if not name or name.endswith("[]") or name.startswith(("list", "struct", "map", "array")):
        return None
    word = re.split(r"[\s(<\[]", name, maxsplit=1)[0]
    return _FAMILY_OF.get(word)


TIME_FAMILIES = frozenset({"timestamp", "date"})
"""The families a view's timestamp and created_at may have."""


def is_clearly_not_time(data_type: str | None) -> bool:
    """True for a declared type of a family that holds no instant (a number, text, boolean);
    False for a time type, no type, or one fs does not know (`datetime2`, `time`, ...)."""
    family = type_family(data_type or "")
    return family is not None and family not in TIME_FAMILIES
