"""Which declared data_types and warehouse types are one family (catalog/data_types.py):
the check refuses only a declared type of another family than the warehouse's."""

from __future__ import annotations

import pytest

from featurestore.catalog.data_types import type_family


@pytest.mark.parametrize(
    "names, family",
    [
        (["integer", "BIGINT", "int64", "int32", "numeric(10, 2)", "decimal128(18, 3)", "double precision", "double", "float64", "real", "NUMBER(38,0)", "hugeint"], "number"),
        (["varchar", "VARCHAR(10)", "character varying", "text", "string", "large_string", "char(3)"], "text"),
        (["boolean", "bool"], "boolean"),
        (["timestamp", "timestamp with time zone", "timestamptz", "TIMESTAMP_NTZ", "datetime", "timestamp[us]"], "timestamp"),
        (["date", "date32", "DATE"], "date"),
    ],
)
def test_families(names, family):
    assert {name: type_family(name) for name in names} == {name: family for name in names}


@pytest.mark.parametrize("name", ["interval", "struct<a: int64>", "list<item: int64>", "integer[]", "jsonb", "blob", ""])
def test_other_types_are_not_compared(name):
    assert type_family(name) is None
