"""Databricks (dbt-databricks): Spark SQL, so the portable form, spelt in sqlglot's databricks
dialect. fs prints its SQL; it does not connect to Databricks."""

from __future__ import annotations

from featurestore.engines.engine import AsOfJoin, Engine

ENGINE = Engine(
    name="databricks",
    adapters=("databricks",),
    dialect="databricks",
    as_of_join=AsOfJoin.PORTABLE,
    numeric_interval=True,
    # As on Spark: a row id that the final ORDER BY sorts on as it is, with no global window.
    scan_row_id="monotonically_increasing_id()",
    last_value_ignores_nulls=True,
    approx_distinct=True,
)
