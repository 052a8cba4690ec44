"""Table names given by the user (a spine relation, --output-table) are read as names only
(featurestore.sql.expressions.table_name)."""

from __future__ import annotations

import pytest

from featurestore.sql.expressions import PARSE_ERRORS, table_name


@pytest.mark.parametrize(
    "name, parts",
    [("t", (None, None, "t")), ("s.t", (None, "s", "t")), ('c."S".t', ("c", "S", "t")), ("a b", (None, None, "a b"))],
)
def test_a_name_of_up_to_three_parts_is_a_table(name, parts):
    table = table_name(name, "duckdb")
    assert (table.catalog or None, table.db or None, table.name) == parts


@pytest.mark.parametrize("name", ['x"; drop table y; --', '"unterminated', "x; y", "x(1)", "a.b.c.d", ""])
def test_anything_else_raises_a_parse_error(name):
    with pytest.raises(PARSE_ERRORS):
        table_name(name, "duckdb")
