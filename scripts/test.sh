#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite: unit tests, then integration tests against
# real dbt + DuckDB, PostgreSQL and Redis. The tests start throwaway PostgreSQL and Redis
# servers of their own (from wheels, so only Python is needed; tests/servers.py), unless
# FS_TEST_PG_DSN and FS_TEST_REDIS_URL point them at existing ones, as .ci/run does.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
