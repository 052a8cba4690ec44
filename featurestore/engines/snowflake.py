"""Snowflake (dbt-snowflake): a native as-of join spelt `ASOF JOIN ... MATCH_CONDITION`. fs
prints its SQL; it does not connect to Snowflake."""

from __future__ import annotations

from featurestore.engines.base import AsOfJoin, Engine

ENGINE = Engine(
    name="snowflake",
    adapters=("snowflake",),
    dialect="snowflake",
    as_of_join=AsOfJoin.MATCH_CONDITION,
    # Snowflake's ROW_NUMBER() needs an ORDER BY; SEQ8() follows the scan.
    scan_order="SEQ8()",
)
