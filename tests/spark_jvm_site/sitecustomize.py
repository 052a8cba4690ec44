"""Run at the start of a Python process that uses its parent's Spark JVM (tests/spark_jvm.py
puts this folder on its PYTHONPATH): when the process exits, the Spark context it made there is
stopped and its Derby metastore shut down, since a JVM runs one context at a time and the next
process (or the parent) starts its own. dbt-spark never stops its session itself."""

import atexit
import os
import sys


def _stop_own_context() -> None:
    if "pyspark" not in sys.modules:
        return
    from pyspark import SparkContext

    context = SparkContext._active_spark_context
    if context is None:
        return
    url = context.getConf().get("spark.hadoop.javax.jdo.option.ConnectionURL") or ""
    jvm = SparkContext._jvm
    context.stop()
    if url.startswith("jdbc:derby:"):
        try:  # Derby reports a completed shutdown as an error
            jvm.java.sql.DriverManager.getConnection(url.replace(";create=true", "") + ";shutdown=true")
        except Exception:  # noqa: BLE001
            pass


if "PYSPARK_GATEWAY_PORT" in os.environ:
    atexit.register(_stop_own_context)
