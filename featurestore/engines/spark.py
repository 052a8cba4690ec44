"""Spark (dbt-spark): no as-of join, so the portable form. fs prints its SQL; it does not
connect to Spark."""

from __future__ import annotations

from featurestore.engines.base import AsOfJoin, Engine

ENGINE = Engine(
    name="spark",
    adapters=("spark",),
    dialect="spark",
    as_of_join=AsOfJoin.PORTABLE,
    numeric_interval=True,
    # Spark's ROW_NUMBER() needs an ORDER BY; this one follows the scan.
    scan_order="monotonically_increasing_id()",
)
