"""Trino (dbt-trino): no as-of join, so the portable form. fs prints its SQL; it does not
connect to Trino."""

from __future__ import annotations

from featurestore.engines.engine import AsOfJoin, Engine

ENGINE = Engine(
    name="trino",
    tested="printed and checked, not executed",
    adapters=("trino",),
    dialect="trino",
    as_of_join=AsOfJoin.PORTABLE,
    casts_times=True,
    # Seconds as a double hold microseconds of any date before 2255 to well under half a
    # microsecond, which the rounding takes back.
    epoch_micros_sql="CAST(ROUND(TO_UNIXTIME(WITH_TIMEZONE(__value, 'UTC')) * 1000000) AS BIGINT)",
    approx_distinct=True,
)
