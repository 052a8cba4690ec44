"""BigQuery (dbt-bigquery): no as-of join, so the portable form. fs prints its SQL; it does
not connect to BigQuery."""

from __future__ import annotations

from featurestore.engines.engine import AsOfJoin, Engine

ENGINE = Engine(
    name="bigquery",
    tested="printed and checked, not executed",
    adapters=("bigquery",),
    dialect="bigquery",
    as_of_join=AsOfJoin.PORTABLE,
    casts_times=True,
    numeric_interval=True,
    epoch_micros_sql="UNIX_MICROS(TIMESTAMP(__value))",
    approx_distinct=True,
)
