"""Snowflake (dbt-snowflake): a native as-of join spelt `ASOF JOIN ... MATCH_CONDITION`. fs
prints its SQL; it does not connect to Snowflake.

dbt-snowflake creates its databases, schemas and tables unquoted, and a model's columns are
unquoted unless its SQL quotes them (the YAML then says `quote: true`): Snowflake stores all
of those in upper case, and a quoted lower-case name would not find them.
"""

from __future__ import annotations

from featurestore.engines.engine import AsOfJoin, Engine, IdentifierCase

# Snowflake's reserved keywords (its documentation, "Reserved & limited keywords"): a
# column with one of these names can only have been created quoted, so it keeps its case.
RESERVED_WORDS = frozenset(
    """
    account all alter and any as between by case cast check column connect connection
    constraint create cross current current_date current_time current_timestamp current_user
    database delete distinct drop else exists false following for from full grant group
    gscluster having ilike in increment inner insert intersect into is issue join lateral left
    like localtime localtimestamp minus natural not null of on or order organization qualify
    regexp revoke right rlike row rows sample schema select set some start table tablesample
    then to trigger true try_cast union unique update using values view when whenever where
    window with
    """.split()
)

ENGINE = Engine(
    name="snowflake",
    tested="printed and checked, not executed",
    adapters=("snowflake",),
    dialect="snowflake",
    as_of_join=AsOfJoin.MATCH_CONDITION,
    # Snowflake's ROW_NUMBER() needs an ORDER BY; SEQ8() follows the scan.
    scan_order="SEQ8()",
    unquoted_case=IdentifierCase.UPPER,
    dbt_quotes_relations=False,
    reserved_words=RESERVED_WORDS,
    epoch_micros_sql="DATE_PART(EPOCH_MICROSECOND, __value)",
    approx_distinct=True,
)
