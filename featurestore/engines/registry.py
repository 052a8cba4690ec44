"""Which engine serves a dbt adapter type or a sqlglot dialect: one row per engine.

To add an engine, write its module beside this one (an `Engine` record, and a `Warehouse`
subclass if fs is to run queries on it) and add its `ENGINE` to `ENGINES`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from featurestore.engines import bigquery, databricks, duckdb, postgres, snowflake, spark, trino
from featurestore.engines.engine import Engine
from featurestore.errors import ProjectError, UsageError, install_extra

if TYPE_CHECKING:
    from featurestore.project.dbt_project import Project
    from featurestore.project.profiles import Target

ENGINES: tuple[Engine, ...] = (
    duckdb.ENGINE,
    postgres.ENGINE,
    snowflake.ENGINE,
    bigquery.ENGINE,
    spark.ENGINE,
    databricks.ENGINE,
    trino.ENGINE,
)


def engine_for_adapter(adapter: str, where: str) -> Engine:
    """The engine of a dbt adapter type; `where` names the profile target for the error."""
    for engine in ENGINES:
        if adapter in engine.adapters:
            return engine
    supported = sorted(a for engine in ENGINES for a in engine.adapters)
    raise ProjectError(f"{where} has type '{adapter}'; supported: {', '.join(supported)}")


def engine_for_dialect(dialect: str) -> Engine:
    """The engine whose SQL `--dialect` asks for."""
    for engine in ENGINES:
        if engine.dialect == dialect:
            return engine
    raise UsageError(f"unknown dialect '{dialect}'; supported: {', '.join(sorted(dialects()))}")


def dialects() -> list[str]:
    """Every dialect fs renders SQL for, in registry order."""
    return [engine.dialect for engine in ENGINES]


def engine_and_target(project: "Project", target_name: str | None = None) -> "tuple[Engine, Target]":
    """The project's target (the profile's default, or `target_name`), with its credentials
    as the engine reads them, and the engine that serves it."""
    from dataclasses import replace

    # Imported here: `fs --help` lists the dialects without reading YAML.
    from featurestore.project.profiles import load_target

    target = load_target(project, target_name)
    engine = engine_for_adapter(target.adapter, target.described())
    return engine, replace(target, credentials=engine.resolve_credentials(target.credentials, project.root))


def install_advice(adapter: str) -> str:
    """What a project on dbt adapter `adapter` needs installed beside fs, in one line (fs init)."""
    engine = next((e for e in ENGINES if adapter in e.adapters), None)
    if engine is None:
        supported = sorted(a for e in ENGINES for a in e.adapters)
        return f"adapter '{adapter}': fs does not support it (supported: {', '.join(supported)})"
    if not engine.runs_queries:
        return (
            f"adapter '{adapter}': fs prints training-set SQL for {engine.name} "
            f"(fs training-set --sql --dialect {engine.dialect}) but does not run queries on it: "
            "training sets, sync and check need a target on DuckDB, PostgreSQL or Spark"
        )
    if engine.extra is None:
        return f"adapter '{adapter}': fs runs on {engine.name} with what it installs by default"
    return f"adapter '{adapter}': install fs with its '{engine.extra}' extra: {install_extra(engine.extra)}"
