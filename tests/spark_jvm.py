"""One Spark JVM for a test process and the Spark processes its tests start.

pyspark starts a JVM for each Python process that opens a session: for the Spark build (the
loader and `fs build`, dbt-spark's child), the tests' own sessions and dbt's compile, four JVMs
that each load and compile Spark and Hive anew (about 15 s of CPU each before a first query).
A Python process whose environment names a running JVM's gateway (PYSPARK_GATEWAY_PORT and
_SECRET, as the pyspark shell does) uses that JVM instead: `shared_jvm(folder)` starts this
process's JVM in `folder` and returns the environment that sends child processes to it.

A JVM runs one Spark context at a time: the parent has none open while a child runs (fs closes
its sessions, and the children run one at a time), and each child stops its own when it exits
(tests/spark_jvm_site/sitecustomize.py: dbt-spark never stops its session). The JVM's working
folder is `folder`, so that relative folders in a profile (the demo's `.spark/`) mean there what
they mean to dbt in a JVM of its own started from the project root.
"""

from __future__ import annotations

import os
from pathlib import Path

SITE = Path(__file__).with_name("spark_jvm_site")


def shared_jvm(folder: Path, driver_memory: str = "2g") -> dict[str, str]:
    """Start this process's Spark JVM with `folder` as its working folder, and return the
    environment variables that make a child process use it; none (each child starts a JVM of
    its own, as without this) when this process's JVM was started already, elsewhere."""
    from pyspark import SparkConf, SparkContext

    from featurestore.engines.spark import LOG_CONFIG

    if SparkContext._gateway is not None:
        return {}
    conf = SparkConf(loadDefaults=False).setAll(
        [
            # What takes effect when the JVM starts: the demo profile's memory, fs's quiet log.
            # No derby.system.home: Derby would take a relative metastore (the profile's
            # `.spark/metastore_db`) from it, where dbt's JVM takes it from its working folder.
            ("spark.driver.memory", driver_memory),
            # A code cache of 256 MB: with the client compiler alone (JAVA_TOOL_OPTIONS,
            # tests/conftest.py) the JVM reserves 48 MB, which the unit's Spark code (and the
            # classes Spark generates per query) fills; with less than 10 % of it free the JVM's
            # sweeper scans it on every compilation, 50 s of CPU in a run of the unit.
            (
                "spark.driver.extraJavaOptions",
                f"-XX:ReservedCodeCacheSize=256m -Dderby.stream.error.file={folder / '.spark' / 'derby.log'} -Dlog4j2.configurationFile=file:{LOG_CONFIG}",
            ),
        ]
    )
    (folder / ".spark").mkdir(parents=True, exist_ok=True)  # for derby.log
    here = os.getcwd()
    os.chdir(folder)
    try:
        SparkContext._ensure_initialized(conf=conf)
    finally:
        os.chdir(here)
    gateway = SparkContext._gateway
    parameters = getattr(gateway, "java_parameters", None) or gateway.gateway_parameters
    path = os.pathsep.join(p for p in [str(SITE), os.environ.get("PYTHONPATH", "")] if p)
    return {"PYSPARK_GATEWAY_PORT": str(parameters.port), "PYSPARK_GATEWAY_SECRET": parameters.auth_token, "PYTHONPATH": path}


SPARK_UNIT = "spark: tests/integration/test_spark.py and test_training_set_properties.py::test_spark_*"


def in_spark_unit(nodeid: str) -> bool:
    """The tests that run on Spark: test_spark.py's, and the Spark examples of the property
    tests (named test_spark_*), which then take a session in the JVM test_spark.py started."""
    path, _, name = nodeid.partition("::")
    module = path.rsplit("/", 1)[-1]
    return module == "test_spark.py" or (module == "test_training_set_properties.py" and name.startswith("test_spark_"))


def spark_together(config, log):
    """xdist's --dist loadscope (a module's tests on one worker), with every Spark test in one
    unit of work: one worker, one JVM for all of them, where two workers started one each."""
    from xdist.scheduler import LoadScopeScheduling

    class SparkTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return SPARK_UNIT if in_spark_unit(nodeid) else super()._split_scope(nodeid)

    return SparkTogether(config, log)
