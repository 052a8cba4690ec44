#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite: unit tests, then integration tests against
# real dbt + DuckDB, PostgreSQL at 127.0.0.1:5432 and Redis at 127.0.0.1:6379.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
