#!/usr/bin/env bash
# Create .venv (if needed) and install the feature store with its test dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -m pip install --quiet -e '.[test]' 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -c "import featurestore, dbt.version, duckdb, sqlglot, redis" # fail loudly if the install did not
