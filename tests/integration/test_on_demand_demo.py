"""The demo's on-demand feature, flight_request:flight__scheduled_speed_mph, through the CLI:
`fs training-set` computes it in the warehouse from the spine's scheduled_minutes, `fs get`
in process from Redis and the entity's field, and both equal the same hand computation."""

from __future__ import annotations

import json

import duckdb
import pyarrow.parquet as pq
import pytest

from tests.online_fixtures import online  # noqa: F401

pytestmark = pytest.mark.integration

SPEED = "flight_request:flight__scheduled_speed_mph"


def test_training_set_and_get_return_the_scheduled_speed(built_project, cli, online, tmp_path):
    project = ["--project-dir", str(built_project)]
    out = tmp_path / "speed.parquet"
    code, _, err = cli("training-set", "--spine", "flight_delay_labels", "--features", f"{SPEED},route_daily:route__distance_mi", "-o", str(out), *project)
    assert code == 0, err
    frame = pq.read_table(out).to_pandas()
    assert list(frame.columns)[-2:] == ["route__distance_mi", "flight__scheduled_speed_mph"]
    known = frame.dropna(subset=["route__distance_mi", "scheduled_minutes"])
    assert len(known) > 300_000
    assert (known.flight__scheduled_speed_mph == known.route__distance_mi * 60 / known.scheduled_minutes).all()
    assert frame[frame.scheduled_minutes.isna()].flight__scheduled_speed_mph.isna().all()

    assert cli("sync", "--view", "route_daily", *project)[0] == 0
    code, out, err = cli("get", SPEED, "-e", "origin=JFK", "-e", "dest=LAX", "-e", "scheduled_minutes=373", *project)
    assert (code, err) == (0, "")
    (got,) = json.loads(out)
    with duckdb.connect(str(built_project / "feature_store.duckdb"), read_only=True) as con:
        (miles,) = con.execute("select distinct distance from main.stg_flights where origin = 'JFK' and dest = 'LAX'").fetchone()
    assert got["values"] == {SPEED: miles * 60 / 373} and got["statuses"] == {SPEED: "present"}
    assert list(got["event_timestamps"]) == ["route_daily"]  # the input's view, read though not returned

    # fs serve answers it too, through the same read path, in Feast's shape.
    from featurestore import FeatureStore
    from tests.integration.test_serve import post, serve_in_thread

    port, server, thread = serve_in_thread(FeatureStore(project_dir=built_project).feature_server())
    try:
        status, document = post(port, {"features": [SPEED], "entities": {"origin": ["JFK"], "dest": ["LAX"], "scheduled_minutes": [373]}})
    finally:
        server.should_exit = True
        thread.join(10)
    assert status == 200, document
    names = document["metadata"]["feature_names"]
    result = document["results"][names.index("flight__scheduled_speed_mph")]
    assert result["values"] == [miles * 60 / 373] and result["statuses"] == ["PRESENT"]


def test_request_fields_refuse_booleans_and_ints_past_64_bits_and_carry_their_inputs_timestamp(built_project, cli, online):
    project = ["--project-dir", str(built_project)]
    assert cli("sync", "--view", "route_daily", *project)[0] == 0
    code, out, err = cli("get", SPEED, "-e", "origin=JFK", "-e", "dest=LAX", "-e", f"scheduled_minutes={2**64}", *project)
    assert (code, out, err) == (2, "", f"error: entity row 1: request field 'scheduled_minutes' is '{2**64}', not a bigint\n")

    from featurestore import FeatureStore
    from tests.integration.test_serve import post, serve_in_thread

    store = FeatureStore(project_dir=built_project)
    (route,) = store.get_online_features([{"origin": "JFK", "dest": "LAX"}], ["route_daily:route__distance_mi"]).event_timestamps
    port, server, thread = serve_in_thread(store.feature_server())
    try:
        answers = {
            minutes: post(port, {"features": [SPEED], "entities": {"origin": ["JFK"], "dest": ["LAX"], "scheduled_minutes": [minutes]}})
            for minutes in (True, 2**64, -(2**63) - 1, 373)
        }
    finally:
        server.should_exit = True
        thread.join(10)
    for minutes in (True, 2**64, -(2**63) - 1):
        shown = repr(minutes)
        assert answers[minutes] == (400, {"detail": f"entity row 1: request field 'scheduled_minutes' is {shown}, not a bigint"})
    status, document = answers[373]
    assert status == 200 and route["route_daily"] is not None
    result = document["results"][document["metadata"]["feature_names"].index("flight__scheduled_speed_mph")]
    assert result["event_timestamps"] == [route["route_daily"].isoformat() + "Z"]


@pytest.mark.parametrize(
    "given, kind",
    [("373.7::double", "double"), ("'abc'", "text"), ("373.7::decimal(5, 1)", "decimal(5,1)")],
    ids=["double", "text", "decimal"],
)
def test_a_spine_column_whose_type_does_not_fit_the_request_field_is_refused_before_the_query(built_project, cli, tmp_path, given, kind):
    spine = f"select * replace ({given} as scheduled_minutes) from main.flight_delay_labels limit 3"
    code, out, err = cli("training-set", "--spine-sql", spine, "--features", SPEED, "-o", str(tmp_path / "x.parquet"), "--project-dir", str(built_project))
    assert (code, out) == (2, "")
    assert f"column 'scheduled_minutes' is {kind}, but request field 'scheduled_minutes' is a bigint" in err and err.count("\n") == 1, err
    assert not (tmp_path / "x.parquet").exists()
