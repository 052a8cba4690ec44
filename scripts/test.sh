#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite: unit tests, then integration tests against
# real dbt + DuckDB, Spark, PostgreSQL and Redis. The tests start throwaway PostgreSQL and Redis
# servers of their own (from wheels, so only Python is needed; tests/servers.py), unless
# FS_TEST_PG_DSN and FS_TEST_REDIS_URL point them at existing ones.
#
# pytest-xdist runs it on one worker more than the cores (at most 4); the demo is built once for all of
# them (tests/built_once.py). Arguments go to pytest and win: `scripts/test.sh -n 0` runs in one
# process, `scripts/test.sh -m "not integration"` is the fast tier.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Bytecode for fs and the tests, written once: where PYTHONDONTWRITEBYTECODE is set (as on CI's
# machine), every `fs` or loader child process the tests start would otherwise compile fs's
# modules again (about 0.1 s of CPU each; pip compiled the installed packages already).
.venv/bin/python -m compileall -q -j 0 featurestore tests benchmarks >/dev/null
# One worker more than the cores (at most 4): the suite's tests wait, too (a Redis Cluster's
# failover, a server's start, a dbt run's), and a core left idle by a waiting worker goes to
# the extra one. On 2 cores, 3 workers took 441 s against 482 s for 2, the same code right
# after each other; a second run with 3 took 493 s: the machine's variance is as large
# (docs/testing.md).
cores=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
workers=$((cores + 1 < 4 ? cores + 1 : 4))
# --dist loadscope: a module's tests run on one worker, so a module's fixtures (a Spark build,
# a PostgreSQL build, a served project) are made once; handed out in the order tests/conftest.py
# collects them (the longest first), not by their number of tests.
exec .venv/bin/python -m pytest -n "$workers" --dist loadscope --no-loadscope-reorder "$@"
