"""`fs sync`, `fs get` and `fs verify-online` on the demo project built by a real dbt run,
against the real Redis, compared value by value with the warehouse."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import duckdb
import pytest

from featurestore.errors import EXIT_MISMATCH, EXIT_USAGE
from tests.online_fixtures import online  # noqa: F401

pytestmark = pytest.mark.integration

NOW = datetime(2013, 12, 31, 0, 30)  # the demo's clock.now
PLANE = ("plane_daily@v1", "plane_daily@v2")  # the demo's versioned view: both versions are online
TTL = {"carrier_daily": timedelta(days=2), "route_daily": timedelta(days=7), "weather_hourly": timedelta(hours=3)} | dict.fromkeys(PLANE)
KEYS = {"carrier_daily": ["carrier"], "route_daily": ["origin", "dest"], "weather_hourly": ["origin"]} | dict.fromkeys(PLANE, ["tailnum"])
TIMESTAMP = {"carrier_daily": "as_of", "route_daily": "as_of", "weather_hourly": "observed_at"} | dict.fromkeys(PLANE, "as_of")
RELATION = {"plane_daily@v1": "plane_daily", "plane_daily@v2": "plane_daily_v2"}  # dbt's names for the versions


def latest_rows(project, view: str) -> list[dict]:
    """The latest row per entity at NOW, written by hand against DuckDB."""
    known = "known_at" if view == "route_daily" else TIMESTAMP[view]
    keys = ", ".join(KEYS[view])
    with duckdb.connect(str(project / "feature_store.duckdb"), read_only=True) as con:
        return con.sql(
            f"select * from main.{RELATION.get(view, view)} where {TIMESTAMP[view]} <= '{NOW}' and {known} <= '{NOW}' "
            f"qualify row_number() over (partition by {keys} order by {TIMESTAMP[view]} desc, {known} desc) = 1"
        ).to_arrow_table().to_pylist()


@pytest.fixture
def synced(built_project, cli, online):
    code, out, err = cli("sync", "--json", "--project-dir", str(built_project))
    assert (code, err) == (0, "")
    return json.loads(out)


def test_sync_copies_the_latest_row_of_every_entity(built_project, synced, online):
    views = {v["view"]: v for v in synced["views"]}
    assert sorted(views) == sorted(TTL)
    for name, ttl in TTL.items():
        rows = latest_rows(built_project, name)
        live = [r for r in rows if ttl is None or r[TIMESTAMP[name]] + ttl >= NOW]
        assert (views[name]["rows_read"], views[name]["keys_written"], views[name]["expired"]) == (
            len(rows),
            len(live),
            len(rows) - len(live),
        ), name
        assert len(online.entity_keys(name)) == len(live)
    assert views["route_daily"]["expired"] > 0  # some routes have not flown for a week
    assert synced["keys_written"] == sum(v["keys_written"] for v in views.values())
    route = {r["dest"]: r for r in latest_rows(built_project, "route_daily") if r["origin"] == "JFK"}["LAX"]
    assert online.entity("route_daily", "origin=JFK:dest=LAX") == {
        "as_of": route["as_of"].isoformat(timespec="microseconds"),
        "known_at": route["known_at"].isoformat(timespec="microseconds"),
        "route__flights__28d": str(route["route__flights__28d"]),
        "route__dep_delay_rate__28d": repr(route["route__dep_delay_rate__28d"]),
        "route__arr_delay_rate__28d": repr(route["route__arr_delay_rate__28d"]),
        "route__avg_arr_delay_min__28d": repr(route["route__avg_arr_delay_min__28d"]),
        "route__distance_mi": "2475",
    }
    # Incremental by default: nothing was written since.
    assert all(v["mode"] == "full" for v in views.values())


def test_second_sync_is_incremental_and_full_switches_generation(built_project, synced, cli, online):
    # Off a terminal (a log, cron) a sync without --json says what it did in one line.
    code, out, err = cli("sync", "--project-dir", str(built_project))
    assert (code, err) == (0, "")
    assert out == f"synced 5 views to {online.url} ({online.prefix}): 0 rows read, 0 keys written, 0 skipped as older, 0 expired, in {out.split(' in ')[-1]}"
    code, out, _ = cli("sync", "--json", "--project-dir", str(built_project))
    again = json.loads(out)
    assert code == 0 and again["rows_read"] == 0
    assert {v["mode"] for v in again["views"]} == {"incremental"}
    code, out, _ = cli("sync", "--full", "--view", "carrier_daily", "--json", "--project-dir", str(built_project))
    (carrier,) = json.loads(out)["views"]
    assert (carrier["generation"], carrier["keys_written"], carrier["removed_keys"]) == (2, 16, 16)
    assert all(":gen2:" in key for key in online.entity_keys("carrier_daily"))
    code, _, err = cli("sync", "--view", "no_such_view", "--project-dir", str(built_project))
    assert (code, err) == (EXIT_USAGE, "error: unknown feature view 'no_such_view'; valid: carrier_daily, origin_departures, plane_daily, plane_daily@v1, plane_daily@v2, route_daily, weather_hourly\n")


def test_get_reads_both_versions_of_plane_daily_each_from_its_own_key_space(built_project, synced, cli, online):
    """The demo's plane_daily: plain means the latest (v2, with plane__is_widebody);
    flight_delay_model's plane features come from v1, which it pins."""
    code, out, err = cli("get", "plane_daily:plane__is_widebody", "plane_daily@v1:plane__seats", "-e", "tailnum=N14228", "--project-dir", str(built_project))
    assert (code, err) == (0, "")
    (got,) = json.loads(out)
    v1 = {r["tailnum"]: r for r in latest_rows(built_project, "plane_daily@v1")}["N14228"]
    v2 = {r["tailnum"]: r for r in latest_rows(built_project, "plane_daily@v2")}["N14228"]
    assert got["values"] == {"plane_daily@v2:plane__is_widebody": v2["plane__is_widebody"], "plane_daily@v1:plane__seats": v1["plane__seats"]}
    assert online.entity("plane_daily@v1", "tailnum=N14228").keys() < online.entity("plane_daily@v2", "tailnum=N14228").keys()
    entity = {"origin": "JFK", "dest": "LAX", "carrier": "UA", "tailnum": "N14228", "scheduled_minutes": 373}
    code, out, err = cli("get", "flight_delay_model", *[f"-e{k}={v}" for k, v in entity.items()], "--project-dir", str(built_project))
    assert (code, err) == (0, "")
    assert {k for k in json.loads(out)[0]["values"] if k.startswith("plane")} == {
        "plane_daily@v1:plane__dep_delay_rate__28d", "plane_daily@v1:plane__flights__7d", "plane_daily@v1:plane__age_years"
    }


def test_get_prints_the_warehouse_values(built_project, synced, cli):
    args = ["weather_hourly:origin__temp_f", "carrier_daily:*", "--entity", "origin=JFK", "--entity", "carrier=UA,ZZ"]
    code, out, err = cli("get", *args, "--project-dir", str(built_project))
    assert (code, err) == (0, "")
    ua, zz = json.loads(out)
    weather = {r["origin"]: r for r in latest_rows(built_project, "weather_hourly")}["JFK"]
    carrier = {r["carrier"]: r for r in latest_rows(built_project, "carrier_daily")}["UA"]
    assert ua["entity"] == {"origin": "JFK", "carrier": "UA"}
    assert ua["values"] == {
        "weather_hourly:origin__temp_f": weather["origin__temp_f"],
        **{f"carrier_daily:{k}": v for k, v in carrier.items() if k.startswith("carrier__")},
    }
    assert set(ua["statuses"].values()) == {"present"}
    assert ua["event_timestamps"] == {"weather_hourly": weather["observed_at"].isoformat(), "carrier_daily": carrier["as_of"].isoformat()}
    assert zz["statuses"]["carrier_daily:carrier__flights__7d"] == "missing"
    assert zz["statuses"]["weather_hourly:origin__temp_f"] == "present"

    # A feature service reads every view it names: the entity must carry all their keys.
    code, _, err = cli("get", "flight_delay_model", "--entity", "origin=JFK", "--entity", "carrier=UA", "--project-dir", str(built_project))
    assert code == EXIT_USAGE
    assert err == (
        "error: entity row 1 (origin=JFK, carrier=UA) has no 'dest', which view 'route_daily' needs "
        "(its join keys: origin, dest)\n"
    )
    code, out, _ = cli(
        "get", "flight_delay_model", "-e", "origin=JFK", "-e", "carrier=UA", "-e", "dest=LAX", "-e", "tailnum=N14228",
        "-e", "scheduled_minutes=373", "--project-dir", str(built_project),
    )  # fmt: skip
    assert code == 0 and len(json.loads(out)[0]["values"]) == 18
    for bad, message in [
        (["carrier_daily:*", "--entity", "UA"], "--entity 'UA' is not key=value (for example --entity carrier=UA)"),
        (["carrier_daily:*", "-e", "carrier=UA,AA", "-e", "origin=JFK,LGA,EWR"], "--entity carrier has 2 values, others 3; give each key one value or 3"),
        (["carrier_daily:nope", "-e", "carrier=UA"], "view 'carrier_daily' has no feature 'nope'; valid: carrier__avg_dep_delay_min__7d, carrier__cancel_rate__7d, carrier__dep_delay_rate__28d, carrier__dep_delay_rate__7d, carrier__flights__7d"),
    ]:
        code, _, err = cli("get", *bad, "--project-dir", str(built_project))
        assert (code, err) == (EXIT_USAGE, f"error: {message}\n")


def test_verify_online_agrees_then_finds_each_kind_of_mismatch(built_project, synced, cli, online):
    code, out, err = cli("verify-online", "--project-dir", str(built_project))
    assert (code, err) == (0, "")
    checked = sum(v["rows_read"] for v in synced["views"])
    assert out == f"Redis agrees with the warehouse at 2013-12-31T00:30:00: {checked:,} entities of 5 views checked\n"

    generation = online.meta("carrier_daily")["generation"]
    base = f"{online.prefix}:carrier_daily:gen{generation}:"
    online.client.hset(base + "carrier=UA", "carrier__flights__7d", "1")
    online.client.delete(base + "carrier=AA")
    online.client.hset(base + "carrier=XX", mapping={"as_of": "2013-12-31T00:00:00.000000", "carrier__flights__7d": "3"})
    code, out, err = cli("verify-online", "--json", "--project-dir", str(built_project))
    assert code == EXIT_MISMATCH
    assert err == "error: 3 mismatches between Redis and the warehouse in carrier_daily; run fs sync (or fs sync --full) and check again\n"
    report = json.loads(out)
    found = sorted((m["entity"]["carrier"], m["problem"], m["feature"], m["online"]) for m in report["mismatches"])
    ua = {r["carrier"]: r for r in latest_rows(built_project, "carrier_daily")}["UA"]
    assert found == [
        ("AA", "missing online", None, None),
        ("UA", "different value", "carrier__flights__7d", 1),
        ("XX", "served online, but the warehouse has no row", None, "2013-12-31T00:00:00"),
    ]
    assert [m["warehouse"] for m in report["mismatches"] if m["entity"]["carrier"] == "UA"] == [ua["carrier__flights__7d"]]

    code, out, _ = cli("verify-online", "--project-dir", str(built_project))
    assert code == EXIT_MISMATCH and "3 mismatches at 2013-12-31T00:30:00" in out and "missing online" in out
    code, out, _ = cli("verify-online", "--sample", "5", "--json", "--project-dir", str(built_project))
    assert json.loads(out)["checked"] == {"carrier_daily": 5, "plane_daily@v1": 5, "plane_daily@v2": 5, "route_daily": 5, "weather_hourly": 3}
